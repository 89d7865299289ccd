#!/usr/bin/python3
"""Runs one command (cloud-init, or bench/ec2_datasource.py) in a throw-away
copy of this host's cloud-init state, times it and prints its figures.

Usage (as root, always inside fresh mount and UTS namespaces; bench/run does):
  unshare --mount --uts --propagation private /usr/bin/python3 \\
      cloudinit_sandbox.py --timer TIMER --work DIR --imds-url URL --log FILE \
      --timeout S -- CMD...

Prints one JSON line {"wall": s, "rss_kib": n, "status": n} for CMD alone,
timed by TIMER (bench/timer.c): the sandbox is set up before the clock starts.

The sandbox, so that the host is not changed and cloud-init sees a first boot:
  - DIR becomes a tmpfs holding everything below.
  - /etc, /var/lib, /var/log, /var/tmp, /run and /sys get an overlay each: the
    host's files stay readable, every write lands in the tmpfs and vanishes
    with the namespace. So /var/lib/cloud, /run/cloud-init, /var/log/cloud-init.log
    and whatever else cloud-init writes never reach the host; each run starts
    from no state at all, i.e. a first boot.
  - /etc/cloud is a tmpfs with one cloud.cfg: the Ec2 datasource only, on the
    stand-in, no modules, no network configuration, hostname kept.
  - /sys/hypervisor/uuid says "ec2...": cloud-init 22.4 asks for an IMDSv2
    token only when DMI or this file identify AWS (DataSourceEc2._get_headers);
    elsewhere it speaks IMDSv1, which a "tokens required" IMDS answers 401,
    and it would wait out max_wait. strict_id: false alone does not help.
  - /etc/resolv.conf points at 127.0.0.1: cloud-init resolves three names that
    must not exist (util.is_resolvable, DNS-redirection check); nothing is to
    leave this machine.
The UTS namespace is a second guard for the hostname.
"""

import argparse
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from measure import CannotMeasure, clean_env, run_measured  # noqa: E402  (needs the path above)

OVERLAID = ("/etc", "/var/lib", "/var/log", "/var/tmp", "/run", "/sys")
EC2_UUID = "ec2e1916-9099-7caf-fd21-012345abcdef"   # a Xen-era EC2 instance's form

CLOUD_CFG = """\
# bench/cloudinit_sandbox.py: the network stage against the IMDS stand-in only.
datasource_list: [Ec2]
datasource:
  Ec2:
    metadata_urls: ["{url}"]
    strict_id: false
    # bounded waits; a working stand-in answers long before either
    timeout: 5
    max_wait: 10
system_info:
  distro: debian
network: {{config: disabled}}
preserve_hostname: true
cloud_init_modules: []
cloud_config_modules: []
cloud_final_modules: []
"""


def mount(*args):
    subprocess.run(["mount", *args], check=True, timeout=10)


def unescape(field):
    """mountinfo writes spaces and the like as octal escapes (\\040)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def submounts(path):
    """Mount points strictly below path, without those nested in another
    (a recursive bind brings those along)."""
    with open("/proc/self/mountinfo") as f:
        points = {unescape(line.split()[4]) for line in f}
    below = sorted((p for p in points if p.startswith(path + "/")), key=len)
    tops = []
    for p in below:
        if not any(p.startswith(t + "/") for t in tops):
            tops.append(p)
    return tops


def overlay(path, scratch):
    """Makes path writable without touching it: an overlay whose upper layer
    is in scratch. An overlay shows only the lower file system itself, so the
    mounts below path are bound back on top from a recursive bind kept aside."""
    name = path.strip("/").replace("/", "_")
    upper, work, kept = (os.path.join(scratch, d, name) for d in ("upper", "work", "kept"))
    for d in (upper, work, kept):
        os.makedirs(d)
    subs = submounts(path)
    if subs:
        mount("--rbind", path, kept)
    mount("-t", "overlay", "overlay", "-o",
          f"lowerdir={path},upperdir={upper},workdir={work}", path)
    for sub in subs:
        mount("--rbind", os.path.join(kept, os.path.relpath(sub, path)), sub)


def write(path, text):
    if os.path.lexists(path):
        os.remove(path)           # a symlink (resolv.conf often is) is replaced, not followed
    with open(path, "w") as f:
        f.write(text)


def check_outside(*paths):
    """The scratch tmpfs and the log must not be below an overlaid folder: an
    upper layer inside its own lower one is refused, and a log written there
    would vanish with the namespace."""
    for p in paths:
        real = os.path.realpath(p)
        for top in OVERLAID:
            if real == top or real.startswith(top + "/"):
                raise CannotMeasure(f"{p} is below {top}, which the sandbox overlays "
                                    "(set TMPDIR elsewhere)")


def build_sandbox(work, url):
    # unshare does this already; repeated so that no mount below can ever
    # propagate back to the namespace we came from
    mount("--make-rprivate", "/")
    mount("-t", "tmpfs", "-o", "mode=0700", "tmpfs", work)
    for path in OVERLAID:
        overlay(path, work)
    os.makedirs("/etc/cloud", exist_ok=True)      # inside the /etc overlay
    mount("-t", "tmpfs", "-o", "mode=0755", "tmpfs", "/etc/cloud")
    write("/etc/cloud/cloud.cfg", CLOUD_CFG.format(url=url))
    os.makedirs("/sys/hypervisor", exist_ok=True)
    write("/sys/hypervisor/uuid", EC2_UUID + "\n")
    write("/etc/resolv.conf", "nameserver 127.0.0.1\noptions attempts:1 timeout:1\n")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--timer", required=True, help="bench/timer.c, built")
    p.add_argument("--work", required=True, help="an empty directory; becomes a tmpfs")
    p.add_argument("--imds-url", required=True)
    p.add_argument("--log", required=True, help="the command's stdout and stderr")
    p.add_argument("--timeout", type=float, default=60)
    p.add_argument("command", nargs="+")
    return p.parse_args(argv)


def in_own_namespaces():
    """True when root and in mount and UTS namespaces other than our parent's
    (unshare execs us): the guard against mounting over the real /etc."""
    if os.geteuid() != 0:
        return False
    parent = os.getppid()
    try:
        return all(os.readlink(f"/proc/self/ns/{ns}") != os.readlink(f"/proc/{parent}/ns/{ns}")
                   for ns in ("mnt", "uts"))
    except OSError:
        return False


def main(argv):
    args = parse_args(argv)
    if not in_own_namespaces():
        sys.exit("cloudinit_sandbox.py: run it as root under `unshare --mount --uts "
                 "--propagation private` (it mounts over /etc and /run)")
    try:
        check_outside(args.work, args.log)
        build_sandbox(args.work, args.imds_url)
        run = run_measured(args.timer, args.command, clean_env(), args.log, args.timeout)
    except (CannotMeasure, subprocess.SubprocessError, OSError) as e:
        print(json.dumps({"error": str(e)}))
        return 1
    print(json.dumps({"wall": run.wall, "rss_kib": run.rss_kib, "status": run.status}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
