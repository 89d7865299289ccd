"""The boot test (make image-test): the hail package (make deb), installed
with dpkg into a Debian 12 root file system and set up by image/setup, as
packer does on the AMI's build instance, booted with systemd as PID 1
under QEMU (TCG, direct kernel boot; shared/qemu.md). User networking with
restrict=on: the guest reaches only 169.254.169.254:80 (the IMDS stand-in)
and 169.254.169.250:80 (the Hydra stand-in with its signed cache), both on
the host's 127.0.0.1. Proof comes from the serial console: the bootstrap read
user-data, the self-managing profile was substituted and activated,
hail@hail.service is active, and a build published afterwards is activated.
Then, under the real systemd: a profile that lists the services web and api,
then one with web only (hail@api stopped and disabled, its config removed);
that last build's bin/reboot-required asks for a reboot, which hail does in
the reboot-window the user-data sets around now, once: the guest comes back
with the agent running and the reboot not repeated.
"""
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import harness  # noqa: E402
from harness import BUILD, PASSWORD, REPO, USER, Hydra, Imds, Builder, wait_for  # noqa: E402
import rootfs  # noqa: E402  (tests/image/rootfs.py)

HYDRA_ADDR = "169.254.169.250"
BOOT_DEADLINE_S = 300
PUBLISH_DEADLINE_S = 120
REBOOT_DEADLINE_S = 300
SERVICE_JOB = f"http://{HYDRA_ADDR}/job/proj/main/service"   # none: its agents just poll
# v3's bin/reboot-required: a reboot is required in the boot that first ran it
V3_REBOOT_REQUIRED = ('f=/var/lib/hail-test-v3-boot; b=$(cat /proc/sys/kernel/random/boot_id); '
                      '[ -e $f ] || echo "$b" > $f; [ "$(cat $f)" = "$b" ]')

PROBE = """#!/bin/sh
# test only: tells the serial console when hail@hail is active
for i in $(seq 1 600); do
	state=$(systemctl is-active hail@hail.service || true)
	[ "$state" = active ] && break
	sleep 0.5
done
echo "HAILTEST hail@hail.service $state at $(cut -d' ' -f1 /proc/uptime)" >/dev/console
# the fleet file the bootstrap wrote, and the config hail@hail runs with
echo "HAILTEST fleet $(tr -d ' \\t\\n' </etc/hail/fleet.json)" >/dev/console
echo "HAILTEST config $(tr -d ' \\t\\n' </etc/hail/hail.json)" >/dev/console
# who the agent's fetcher runs as, and its seccomp mode (2: a filter)
main=$(systemctl show -p MainPID --value hail@hail.service)
for p in $(pgrep -P "$main"); do
	echo "HAILTEST child of hail: $(ps -o user= -p "$p") seccomp $(awk '/^Seccomp:/{print $2}' /proc/"$p"/status)" >/dev/console
done
# after a reboot hail asked for: its status once the start-up activation
# has run bin/reboot-required again
if [ -e /var/lib/hail-test-v3-boot ]; then
	for i in $(seq 1 240); do
		st=$(hail status --profile hail 2>&1 || true)
		case $st in *"reboot required"*) sleep 0.5 ;; *) break ;; esac
	done
	echo "HAILTEST status after reboot: $(echo "$st" | tr '\n' '|') $(grep -o '"reboots-requested": [0-9]*' /var/lib/hail/hail/state.json)" >/dev/console
fi
"""

PROBE_UNIT = """[Unit]
Description=hail image test probe
After=hail-bootstrap.service
[Service]
Type=oneshot
ExecStart=/usr/local/bin/hail-test-probe
[Install]
WantedBy=multi-user.target
"""

# test only: the units' output also on the serial console
CONSOLE_DROPIN = "[Service]\nStandardOutput=journal+console\nStandardError=journal+console\n"


def log(msg):
    print(f"# {msg}", flush=True)


def newest(folder, prefix):
    return os.path.join(folder, sorted(f for f in os.listdir(folder) if f.startswith(prefix))[-1])


def make_image(work):
    """Unpacks the cached root, installs the hail package into it and runs
    image/setup (the AMI's path), adds the test's probe, and makes an ext4
    image; returns (raw, kernel, initrd)."""
    root = os.path.join(work, "root")
    rootfs.unpack(root)
    rootfs.install_deb(root, rootfs.build_deb())
    rootfs.setup_image(root)
    for unit in ("hail-bootstrap.service", "hail@.service"):
        d = os.path.join(root, "etc/systemd/system", unit + ".d")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "console.conf"), "w") as f:
            f.write(CONSOLE_DROPIN)
    with open(os.path.join(root, "usr/local/bin/hail-test-probe"), "w") as f:
        f.write(PROBE)
    os.chmod(os.path.join(root, "usr/local/bin/hail-test-probe"), 0o755)
    with open(os.path.join(root, "etc/systemd/system/hail-test-probe.service"), "w") as f:
        f.write(PROBE_UNIT)
    os.symlink("../hail-test-probe.service",
               os.path.join(root, "etc/systemd/system/multi-user.target.wants/hail-test-probe.service"))
    boot = os.path.join(root, "boot")
    kernel = os.path.join(work, "vmlinuz")
    initrd = os.path.join(work, "initrd.img")
    shutil.copy(newest(boot, "vmlinuz-"), kernel)
    shutil.copy(newest(boot, "initrd.img-"), initrd)
    # the real units in the real image, not copies with paths pointed here
    verify = subprocess.run(["systemd-analyze", "verify", "--man=no", f"--root={root}",
                             "hail-bootstrap.service", "hail@hail.service"],
                            capture_output=True, text=True)
    assert verify.returncode == 0 and not verify.stdout + verify.stderr, \
        verify.stdout + verify.stderr
    print("PASS image boot: the units pass systemd-analyze verify in the image", flush=True)
    raw = os.path.join(work, "rootfs.raw")
    subprocess.run(["mkfs.ext4", "-q", "-d", root, raw, "2G"], check=True)
    shutil.rmtree(root)
    return raw, kernel, initrd


def build_profile(builder, version, services=(), reboot_required=""):
    """The self-managing profile, its activation telling the console when it
    ran and how the service agents' units are."""
    marker = f'echo "HAILTEST activated v{version} at $(cut -d" " -f1 /proc/uptime)" >/dev/console'
    units = " ".join(f"{n}=$(systemctl is-active hail@{n}.service || true)/"
                     f"$(systemctl is-enabled hail@{n}.service || true)/"
                     f"$(test -e /etc/hail/profile.d/{n}.json && echo config || echo no-config)"
                     for n in ("web", "api"))
    marker += f'\necho "HAILTEST v{version} units {units}" >/dev/console'
    nix_services = "{ " + " ".join(f'{n} = {{ job-uri = "{SERVICE_JOB}"; }};' for n in services) + " }"
    return builder.build_file(os.path.join(REPO, "image", "hail-profile.nix"), [
        "--arg", "hail", os.path.join(REPO, BUILD, "hail"),
        "--arg", "services", nix_services,
        "--argstr", "rebootRequired", reboot_required,
        "--argstr", "extraActivate", marker])


def reboot_window(instance_id, build_id):
    """A window around now in which this machine's moment (agent/rollout.c's
    offset) has just passed: the guest reboots as soon as the build asks."""
    now = int(time.time())
    for length in range(7200, 7200 + 3600, 60):
        offset = int.from_bytes(hashlib.sha256(f"{instance_id}\n{build_id}".encode()).digest()[:8],
                                "big") % length
        start = (now - offset - 120) // 60 * 60
        if start + length > now + 600:
            hhmm = lambda t: time.strftime("%H:%M", time.gmtime(t))  # noqa: E731
            return f"{hhmm(start)}-{hhmm(start + length)}"
    raise AssertionError("no reboot window fits")


def boot(work, raw, kernel, initrd, imds, hydra):
    overlay = os.path.join(work, "overlay.qcow2")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", raw, overlay],
                   check=True)
    serial = os.path.join(work, "serial.log")
    socat_log = os.path.join(work, "socat.log")
    net = ("user,id=n0,net=169.254.0.0/16,restrict=on,"
           f"guestfwd=tcp:169.254.169.254:80-cmd:socat -lf {socat_log} STDIO TCP4:127.0.0.1:{imds.port},"
           f"guestfwd=tcp:{HYDRA_ADDR}:80-cmd:socat -lf {socat_log} STDIO TCP4:127.0.0.1:{hydra.port}")
    # no -no-reboot: the test reboots the guest (a reboot hail asks for)
    argv = ["qemu-system-x86_64", "-accel", "tcg", "-smp", "2", "-m", "768", "-nodefaults",
            "-display", "none", "-serial", f"file:{serial}",
            "-kernel", kernel, "-initrd", initrd,
            "-append", "root=/dev/vda rw console=ttyS0 panic=-1",
            "-drive", f"file={overlay},if=virtio,format=qcow2",
            "-netdev", net, "-device", "virtio-net-pci,netdev=n0"]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), serial


def serial_text(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def main():
    harness.enter_namespace()
    work = tempfile.mkdtemp(prefix="hail-image-")
    builder = hydra = imds = qemu = None
    try:
        builder = Builder(os.path.join(work, "builder"))
        t0 = time.monotonic()
        raw, kernel, initrd = make_image(work)
        log(f"image ready in {time.monotonic() - t0:.1f}s")
        hydra = Hydra(work, builder.cache, location_base=f"http://{HYDRA_ADDR}")
        job_uri = f"http://{HYDRA_ADDR}/job/{harness.JOB}"
        v1 = build_profile(builder, 1)
        v2 = build_profile(builder, 2, services=("web", "api"))
        v3 = build_profile(builder, 3, services=("web",), reboot_required=V3_REBOOT_REQUIRED)
        hydra.publish(v1)
        imds = Imds(work)
        instance_id = imds.control("GET", "/config")["instance_id"]
        imds.set_user_data(json.dumps({"hail": {
            "job-uri": job_uri, "profile": "hail", "poll-period": "2s",
            "reboot-window": reboot_window(instance_id, 3),
            "netrc": f"machine {HYDRA_ADDR} login {USER} password {PASSWORD}\n",
            "substituters": [f"http://{HYDRA_ADDR}"],
            "trusted-public-keys": [builder.public_key]}}))
        booted = time.monotonic()
        qemu, serial = boot(work, raw, kernel, initrd, imds, hydra)

        def seen(pattern):
            if qemu.poll() is not None:
                raise AssertionError("QEMU exited:\n" + serial_text(serial)[-3000:])
            return re.search(pattern, serial_text(serial))

        checks = [
            ("bootstrap read user-data", r"follows http://169\.254\.169\.250/job/\S+ \(from user-data\)"),
            ("profile substituted and activated", r"HAILTEST activated v1 at [\d.]+"),
            ("hail@hail.service active under systemd", r"HAILTEST hail@hail\.service active at [\d.]+"),
            ("the fleet file holds the reboot window and the instance's IMDS and id",
             r'HAILTEST fleet \{"reboot-window":"\d\d:\d\d-\d\d:\d\d",'
             r'"imds-endpoint":"http://169\.254\.169\.254","instance-id":"i-[0-9a-f]+"\}'),
            ("the agent's config names the fleet file",
             r'HAILTEST config \{.*"fleet-file":"/etc/hail/fleet\.json".*\}'),
            ("the agent's fetcher runs as hail under a seccomp filter",
             r"HAILTEST child of hail: hail seccomp 2"),
        ]
        for name, pattern in checks:
            wait_for(lambda: seen(pattern), BOOT_DEADLINE_S, name)
            print(f"PASS image boot: {name}", flush=True)
        text = serial_text(serial)
        errors = [l for l in text.splitlines() if re.search(r"hail(-bootstrap)?(\[\d+\])?: .*error", l)]
        assert not errors, errors
        print("PASS image boot: no error from hail-bootstrap or hail", flush=True)
        v1_at = float(re.search(r"HAILTEST activated v1 at ([\d.]+)", text)[1])
        active_at = float(re.search(r"HAILTEST hail@hail\.service active at ([\d.]+)", text)[1])
        published = time.monotonic()
        hydra.publish(v2)
        wait_for(lambda: seen(r"HAILTEST activated v2 at [\d.]+"), PUBLISH_DEADLINE_S,
                 "build 2 to be activated in the guest")
        publish_to_activation = time.monotonic() - published
        print("PASS image boot: a build published afterwards is activated", flush=True)
        wait_for(lambda: seen(r"HAILTEST v2 units web=\w+/enabled/config api=\w+/enabled/config"),
                 PUBLISH_DEADLINE_S, "hail@web and hail@api enabled by build 2")
        print("PASS image boot: a profile's services get their agents (hail@web, hail@api)",
              flush=True)
        v3_published = time.monotonic()
        assert hydra.publish(v3) == 3
        wait_for(lambda: seen(r"HAILTEST v3 units web=\w+/enabled/config "
                              r"api=(inactive|failed)/disabled/no-config"),
                 PUBLISH_DEADLINE_S, "hail@api stopped, disabled and its config removed")
        print("PASS image boot: a service dropped from the profile is stopped and disabled, "
              "its config removed, the other untouched", flush=True)
        wait_for(lambda: len(re.findall(r"HAILTEST hail@hail\.service active",
                                        serial_text(serial))) >= 2,
                 REBOOT_DEADLINE_S, "the guest to reboot and hail@hail to be active again")
        back = time.monotonic()
        print("PASS image boot: build 3's reboot is done in the window, the agent runs again",
              flush=True)
        wait_for(lambda: seen(r"HAILTEST status after reboot: .*"), REBOOT_DEADLINE_S,
                 "hail's status after the reboot")
        status = seen(r"HAILTEST status after reboot: (.*)")[1]
        text = serial_text(serial)
        assert "reboot required" not in status and '"reboots-requested": 1' in status, status
        asked = re.findall(r"reboot-window is open: rebooting: running systemctl reboot", text)
        assert len(asked) == 1, asked
        assert len(re.findall(r"HAILTEST hail@hail\.service active", text)) == 2
        print("PASS image boot: after the reboot nothing asks for another", flush=True)
        log(f"build 3 published to hail@hail active again after its reboot: "
            f"{back - v3_published:.1f}s (host clock, TCG); status after it: {status}")
        log(f"guest uptime at the first activation: {v1_at:.1f}s, at hail@hail active: "
            f"{active_at:.1f}s; QEMU start to hail@hail active: {published - booted:.1f}s (host); "
            f"publish to activation: {publish_to_activation:.1f}s (host clock, 2 s poll period)")
    except Exception as e:
        print(f"FAIL image boot: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}",
              flush=True)
        if qemu:
            sys.stderr.write(serial_text(os.path.join(work, "serial.log"))[-6000:])
        sys.exit(1)
    finally:
        if qemu and qemu.poll() is None:
            qemu.kill()
            qemu.wait(10)
        for s in (hydra, imds):
            if s:
                s.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
