"""The Debian package (tests/static/package; README.md, "The AMI"): built
from BUILD's binaries as make deb does, checked by lintian (no errors; what
it says is printed), installed with dpkg into a fresh Debian 12 root (the
QEMU test's cached debootstrap root), looked at in a chroot, reinstalled,
removed and purged: a purge leaves nothing of the package's behind. As root.
"""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rootfs  # noqa: E402
from rootfs import REPO, STEP_TIMEOUT_S, chroot  # noqa: E402

WANTS = "etc/systemd/system/multi-user.target.wants/hail-bootstrap.service"
# Changed by the install and purge but not the package's files: dpkg's own
# database and logs, man-db's index (its trigger), and useradd's backups of
# the user database (the user hail stays, as Debian does)
IGNORED = ("var/lib/dpkg/", "var/log/", "var/cache/man/")
IGNORED_FILES = ("etc/passwd-", "etc/group-", "etc/shadow-", "etc/gshadow-")


def listing(root):
    """Every path in ROOT with its type, mode, owner and link target."""
    out = {}
    for top, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(top, name)
            rel = os.path.relpath(path, root)
            if (rel + "/").startswith(IGNORED) or rel in IGNORED_FILES:
                continue
            st = os.lstat(path)
            link = os.readlink(path) if os.path.islink(path) else ""
            out[rel] = (st.st_mode, st.st_uid, st.st_gid, link)
    return out


FAILED = []


def check(name, ok, why=""):
    print(f"PASS package: {name}" if ok else f"FAIL package: {name}: {why}", flush=True)
    if not ok:
        FAILED.append(name)
    return ok


def run(argv):
    return subprocess.run(argv, capture_output=True, text=True, timeout=STEP_TIMEOUT_S)


def main():
    if os.geteuid() != 0:
        check("the package test", False, "needs root (chroot, unshare)")
        return 1
    work = tempfile.mkdtemp(prefix="hail-package-")
    try:
        return test(work)
    except (AssertionError, subprocess.SubprocessError, OSError) as e:
        check("the package test", False, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test(work):
    deb = rootfs.build_deb()
    version = open(os.path.join(REPO, "agent", "options.h")).read().split(
        '#define HAIL_VERSION "', 1)[1].split('"', 1)[0]
    arch = run(["dpkg", "--print-architecture"]).stdout.strip()
    check("make deb builds hail_VERSION_ARCH.deb",
          os.path.basename(deb) == f"hail_{version}_{arch}.deb", deb)
    fields = run(["dpkg-deb", "-f", deb, "Installed-Size", "Depends"]).stdout
    print("# " + fields.strip().replace("\n", "\n# "), flush=True)
    check("Depends names nix-bin and the libraries' packages",
          "nix-bin" in fields and "libc6" in fields and "libcurl4" in fields, fields)

    lint = run(["lintian", "--fail-on", "error", "-I", "-E", "--pedantic", deb])
    said = [line for line in (lint.stdout + lint.stderr).splitlines()
            if line and "running with root privileges" not in line]
    for line in said:
        print(f"# lintian: {line}", flush=True)
    errors = [line for line in said if line.startswith("E:")]
    check("lintian finds no errors", lint.returncode == 0 and not errors,
          "; ".join(errors) or f"exit {lint.returncode}")

    root = os.path.join(work, "root")
    rootfs.unpack(root)
    before = listing(root)
    out = rootfs.install_deb(root, deb)
    said = (out.stdout + out.stderr).strip()
    print("# dpkg -i said: " + said.replace("\n", " | "), flush=True)
    check("dpkg -i installs it into a fresh Debian 12 root (its Depends present), "
          "its scripts and triggers without an error", "error" not in said.lower(), said[-300:])

    got = chroot(root, ["hail", "--version"], check=False).stdout.strip()
    check("hail --version", got == f"hail {version}", got)
    got = chroot(root, ["hail-bootstrap", "--version"], check=False).stdout.strip()
    check("hail-bootstrap --version", got == f"hail-bootstrap {version}", got)
    pages = {"hail": "/usr/share/man/man8/hail.8.gz",
             "hail-bootstrap": "/usr/share/man/man8/hail-bootstrap.8.gz",
             "hail.json": "/usr/share/man/man5/hail.json.5.gz"}
    for page, path in pages.items():
        got = chroot(root, ["man", "-w", page], check=False).stdout.strip()
        check(f"man -w {page}", got == path, got or "not found")
    units = [u for u in ("hail@.service", "hail-bootstrap.service")
             if os.path.isfile(os.path.join(root, "lib/systemd/system", u))]
    check("the units are in /lib/systemd/system", len(units) == 2, units)
    link = os.path.join(root, WANTS)
    check("hail-bootstrap.service is enabled (multi-user.target.wants)",
          os.path.islink(link) and os.readlink(link) == "/lib/systemd/system/hail-bootstrap.service",
          os.path.islink(link) and os.readlink(link) or "no link")
    got = run(["systemctl", f"--root={root}", "is-enabled", "hail-bootstrap.service"]).stdout.strip()
    check("systemctl is-enabled hail-bootstrap.service", got == "enabled", got)
    got = chroot(root, ["getent", "passwd", "hail"], check=False).stdout.strip()
    check("the system user hail: no home, no shell",
          got.startswith("hail:x:") and got.endswith(":/nonexistent:/usr/sbin/nologin"), got)
    check("the package leaves /etc/nix to the image (image/setup)",
          not os.path.exists(os.path.join(root, "etc/nix")), "etc/nix exists")

    # an operator's "systemctl disable" survives a reinstall (an upgrade)
    run(["systemctl", f"--root={root}", "disable", "hail-bootstrap.service"])
    rootfs.install_deb(root, deb)
    disabled = not os.path.lexists(link)
    run(["systemctl", f"--root={root}", "enable", "hail-bootstrap.service"])
    rootfs.install_deb(root, deb)
    check("a reinstall keeps an operator's disable, and an enable",
          disabled and os.path.islink(link), f"disabled kept: {disabled}")

    # what the programs write when they run: purge takes it too
    for path in ("etc/hail/web.json", "etc/hail/profile.d/web.json", "var/lib/hail/web/state.json"):
        os.makedirs(os.path.dirname(os.path.join(root, path)), exist_ok=True)
        with open(os.path.join(root, path), "w") as f:
            f.write("{}\n")
    chroot(root, ["dpkg", "--remove", "hail"])
    check("dpkg --remove: the programs and units go, hail's settings and state stay",
          not os.path.exists(os.path.join(root, "usr/bin/hail")) and
          not os.path.exists(os.path.join(root, "lib/systemd/system/hail@.service")) and
          os.path.exists(os.path.join(root, "var/lib/hail/web/state.json")),
          "left or removed the wrong files")
    chroot(root, ["dpkg", "--purge", "hail"])
    after = listing(root)
    left = sorted(p for p in after if p not in before)
    gone = sorted(p for p in before if p not in after)
    changed = sorted(p for p in before if p in after and before[p] != after[p])
    check("dpkg --purge leaves nothing of the package's", not left and not gone and not changed,
          f"left {left[:8]}, gone {gone[:8]}, changed {changed[:8]}")
    got = chroot(root, ["getent", "passwd", "hail"], check=False).stdout.strip()
    check("the system user hail stays after the purge (Debian practice)", got.startswith("hail:"), got)
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
