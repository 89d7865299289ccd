"""What the image tests share: the cached Debian 12 root file system
(tests/image/build-rootfs, keyed on its recipe), the hail package built from
BUILD's binaries (image/deb/build, as make deb does), and installing it into
an unpacked root the way the AMI does (dpkg in a chroot, then image/setup).
As root; every step is time-limited, and the chroot's /proc and /dev are
mounted in a mount namespace of its own, so nothing stays mounted."""
import hashlib
import os
import re
import subprocess

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BUILD = os.environ.get("BUILD", "build")
CACHE_DIR = os.path.join(REPO, "build", "image-cache")
BUILD_ROOTFS = os.path.join(REPO, "tests", "image", "build-rootfs")
ROOTFS_TIMEOUT_S = 900
STEP_TIMEOUT_S = 300

# runs "$@" chrooted in $1, with /proc and /dev there for dpkg and its scripts
IN_CHROOT = """root=$1; shift
mount -t proc proc "$root/proc"
mount --bind /dev "$root/dev"
exec chroot "$root" "$@"
"""


def log(msg):
    print(f"# {msg}", flush=True)


def rootfs_tarball():
    """The cached root file system, built when its recipe changed."""
    with open(BUILD_ROOTFS, "rb") as f:
        key = hashlib.sha256(f.read()).hexdigest()[:16]
    path = os.path.join(CACHE_DIR, f"rootfs-{key}.tar.zst")
    if not os.path.exists(path):
        os.makedirs(CACHE_DIR, exist_ok=True)
        log("building the root file system (debootstrap, about a minute)")
        subprocess.run([BUILD_ROOTFS, path], check=True, timeout=ROOTFS_TIMEOUT_S)
    return path


def unpack(root):
    """A fresh copy of the cached root in ROOT (which must not exist)."""
    os.makedirs(root)
    subprocess.run(f"zstd -dc '{rootfs_tarball()}' | tar -C '{root}' -xf -", shell=True,
                   check=True, timeout=STEP_TIMEOUT_S)


def build_deb():
    """BUILD/hail_VERSION_ARCH.deb from BUILD's binaries (what make deb runs
    after make); returns its path."""
    out = subprocess.run([os.path.join(REPO, "image", "deb", "build")], cwd=REPO,
                         env=dict(os.environ, BUILD=os.path.join(REPO, BUILD)),
                         capture_output=True, text=True, timeout=STEP_TIMEOUT_S)
    if out.returncode != 0:
        raise AssertionError(f"image/deb/build failed: {out.stderr.strip()}")
    m = re.search(r"^image/deb/build: (\S+\.deb) ", out.stdout, re.M)
    if not m:
        raise AssertionError(f"image/deb/build said: {out.stdout.strip()}")
    return m[1]


def chroot(root, argv, check=True):
    """Runs ARGV in ROOT; returns the CompletedProcess (text)."""
    out = subprocess.run(["unshare", "--mount", "--propagation", "private",
                          "sh", "-euc", IN_CHROOT, "chroot", root] + list(argv),
                         env=dict(os.environ, DEBIAN_FRONTEND="noninteractive", LC_ALL="C.UTF-8"),
                         capture_output=True, text=True, timeout=STEP_TIMEOUT_S)
    if check and out.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} in the root: exit {out.returncode}: "
                             f"{(out.stderr or out.stdout).strip()[-500:]}")
    return out


def install_deb(root, deb):
    """dpkg -i DEB in ROOT (its Depends must be in the root already:
    build-rootfs's PACKAGES)."""
    inside = "/tmp/" + os.path.basename(deb)
    with open(deb, "rb") as src, open(root + inside, "wb") as dst:
        dst.write(src.read())
    try:
        return chroot(root, ["dpkg", "-i", inside])
    finally:
        os.unlink(root + inside)


def setup_image(root):
    """image/setup into ROOT: the image's step after the package (packer runs
    the same on the build instance)."""
    subprocess.run([os.path.join(REPO, "image", "setup")], check=True, stdout=subprocess.DEVNULL,
                   env=dict(os.environ, DESTDIR=root), timeout=STEP_TIMEOUT_S)
