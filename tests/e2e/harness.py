"""End-to-end harness for hail: real Nix, a real signed binary cache behind the
Hydra stand-in, and fresh client machines in private mount namespaces
(shared/testing.md).

Layout of one run:
  - The test process re-executes itself in a private mount namespace
    (unshare --mount), so every mount it makes vanishes with it.
  - Builder: builds demo.nix versions in a throw-away store (a nested
    namespace with a tmpfs on /nix) and copies them, signed, into a file://
    binary cache directory.
  - Hydra: tests/standin/hydra.py serves that cache and the Hydra API on
    127.0.0.1 behind basic auth.
  - Client: a fresh tmpfs on /nix and on /etc/nix (nix.conf with the cache as
    substituter, its public key, a netrc); hail runs there with default paths.

Every wait is on a condition with a deadline; every loop is bounded.
"""

import contextlib
import fcntl
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("BUILD", "build")
HAIL = os.path.join(REPO, BUILD, "hail")
# e.g. HAIL_WRAPPER="valgrind --error-exitcode=99 --leak-check=full"
HAIL_WRAPPER = shlex.split(os.environ.get("HAIL_WRAPPER", ""))
SLOW = 10 if HAIL_WRAPPER else 1    # valgrind runs hail ~10-50x slower
VALGRIND_ERROR_EXIT = 99            # the wrapper's --error-exitcode
DEMO_NIX = os.path.join(REPO, "tests", "e2e", "demo.nix")
STANDIN = os.path.join(REPO, "tests", "standin", "hydra.py")
PYTHON = "/usr/bin/python3"
USER, PASSWORD = "deploy", "s3cret-pw-XYZ"
JOB = "proj/main/demo"

MOUNT_POINTS = ("/nix", "/etc/nix", "/etc/hail", "/var/lib/hail")
IMDS_STANDIN = os.path.join(REPO, "tests", "standin", "imds.py")
AWS_STANDIN = os.path.join(REPO, "tests", "standin", "aws.py")
BOOTSTRAP = os.path.join(REPO, BUILD, "hail-bootstrap")

BASE_NIX_CONF = """build-users-group =
sandbox = false
experimental-features = nix-command
"""


def enter_namespace():
    """Re-runs this script in a private mount namespace (once)."""
    if os.environ.get("HAIL_E2E_NS") == "1":
        return
    if os.geteuid() != 0:
        sys.exit("the end-to-end tests need root (mount namespaces, /nix)")
    for d in MOUNT_POINTS:
        os.makedirs(d, exist_ok=True)     # mount points; left empty on the host
    env = dict(os.environ, HAIL_E2E_NS="1")
    os.execvpe("unshare", ["unshare", "--mount", "--propagation", "private",
                           PYTHON, *sys.argv], env)


def run(argv, **kw):
    kw.setdefault("check", True)
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 120)
    return subprocess.run(argv, **kw)


def wait_for(cond, timeout, what):
    """Waits until cond() is truthy; fails after timeout seconds."""
    deadline = time.monotonic() + timeout * SLOW
    delay = 0.005
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout * SLOW}s waiting for {what}")
        time.sleep(delay)                 # a poll interval, not synchronisation
        delay = min(delay * 2, 0.05)


class Builder:
    """The Hydra's builder: builds demo outputs, signs them into a cache dir."""

    def __init__(self, root):
        self.root = root
        self.cache = os.path.join(root, "cache")
        self.conf = os.path.join(root, "builder-conf")
        os.makedirs(self.conf)
        with open(os.path.join(self.conf, "nix.conf"), "w") as f:
            f.write(BASE_NIX_CONF + "substituters =\n")
        self.secret = os.path.join(root, "cache.sec")
        pub = os.path.join(root, "cache.pub")
        run(["nix-store", "--generate-binary-cache-key", "hail-test-1", self.secret, pub],
            env=self.env())
        with open(pub) as f:
            self.public_key = f.read().strip()

    def env(self):
        return dict(os.environ, NIX_CONF_DIR=self.conf, HOME=self.root,
                    XDG_CACHE_HOME=os.path.join(self.root, "xdg"))

    def build(self, version, **args):
        """Builds demo.nix with version and args (see demo.nix) into the cache;
        returns the store path."""
        nix_args = ["--argstr", "version", str(version)]
        for k, v in args.items():
            if isinstance(v, bool):
                nix_args += ["--arg", k, "true" if v else "false"]
            else:
                nix_args += ["--argstr", k, v]
        return self.build_file(DEMO_NIX, nix_args)

    def build_file(self, nix_file, nix_args):
        """nix-build nix_file with nix_args in a throw-away store, then signs
        the closure into the cache; returns the store path."""
        script = ('set -e; mount -t tmpfs -o mode=0755 tmpfs /nix; '
                  'p=$(nix-build --no-out-link "$@"); '
                  'nix copy --to "file://$CACHE?secret-key=$SECRET&compression=zstd" "$p"; '
                  'echo "$p"')
        env = dict(self.env(), CACHE=self.cache, SECRET=self.secret)
        r = run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script,
                 "build", nix_file, *nix_args], env=env)
        return r.stdout.strip().splitlines()[-1]


class Standin:
    """A stand-in server process started by the tests: it writes its ports to
    a file once it listens, and answers a JSON control API."""

    def __init__(self, root, name, argv):
        self.port_file = os.path.join(root, f"{name}.ports")
        self.log_path = os.path.join(root, f"{name}.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([PYTHON, *argv, "--port-file", self.port_file],
                                     stdout=self.log, stderr=self.log)
        wait_for(lambda: os.path.exists(self.port_file) or self.proc.poll() is not None,
                 10, f"the {name} stand-in to listen")
        if self.proc.poll() is not None:
            raise AssertionError(f"the {name} stand-in died: " + open(self.log_path).read())
        with open(self.port_file) as f:
            ports = json.load(f)
        self.port, self.control_port = ports["port"], ports["control_port"]
        self.tls = bool(ports.get("tls"))
        self.url = f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def control(self, method, path, body=None, raw=None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(f"http://127.0.0.1:{self.control_port}{path}",
                                     data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read() or b"null")

    def stats(self):
        return self.control("GET", "/stats")["requests"]

    def reset_stats(self):
        self.control("POST", "/stats/reset", {})

    def tls_stats(self):
        """{"handshakes", "resumed", "idle_closes"} of the main server."""
        return self.control("GET", "/tls")

    def reset_tls(self):
        self.control("POST", "/tls/reset", {})

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()


class Hydra(Standin):
    """The Hydra stand-in (tests/standin/hydra.py) serving a binary cache."""

    def __init__(self, root, cache, location_base=None, tls=None, idle_close=None,
                 name="hydra"):
        os.makedirs(cache, exist_ok=True)
        argv = [STANDIN, "--cache-dir", cache, "--user", USER, "--password", PASSWORD]
        if location_base:
            argv += ["--location-base", location_base]
        super().__init__(root, name, argv + tls_args(tls, idle_close))
        self.job_uri = f"{self.url}/job/{JOB}"

    def publish(self, out, **kw):
        return self.control("POST", "/publish", dict(job=JOB, out=out, **kw))["id"]

    def fault(self, kind, target="any", **kw):
        return self.control("POST", "/fault", dict(kind=kind, target=target, **kw))

    def clear_faults(self):
        self.control("POST", "/fault/clear", {})


class Imds(Standin):
    """The instance metadata service stand-in (tests/standin/imds.py)."""

    def __init__(self, root, *args):
        super().__init__(root, "imds", [IMDS_STANDIN, *args])

    def set_user_data(self, data):
        self.control("POST", "/user-data", raw=data if isinstance(data, bytes) else data.encode())

    def set_tags(self, tags, enabled=True):
        self.control("POST", "/tags", {"enabled": enabled, "tags": tags})

    def configure(self, **kw):
        self.control("POST", "/config", kw)


class Aws(Standin):
    """The AWS API stand-in (tests/standin/aws.py): SSM and Auto Scaling,
    checking every SigV4 signature with botocore's signer."""

    def __init__(self, root, *args, tls=None, idle_close=None, name="aws"):
        super().__init__(root, name, [AWS_STANDIN, *args, *tls_args(tls, idle_close)])

    def configure(self, **kw):
        return self.control("POST", "/config", kw)

    def calls(self):
        return self.control("GET", "/calls")["calls"]

    def instances(self):
        return self.control("GET", "/instances")["instances"]

    def fault(self, operation, code, count=1):
        return self.control("POST", "/fault", {"operation": operation, "code": code,
                                               "count": count})


def tls_args(tls, idle_close):
    """Stand-in flags: tls = (cert_pem, key_pem) or None; idle_close = seconds or None."""
    argv = []
    if tls:
        argv += ["--tls-cert", tls[0], "--tls-key", tls[1]]
    if idle_close is not None:
        argv += ["--idle-close", str(idle_close)]
    return argv


def make_test_ca(directory):
    """A throw-away CA and a leaf for 127.0.0.1 and localhost (RSA-2048,
    subjectAltName IP:127.0.0.1 and DNS:localhost, 2 days), made with the
    openssl command; returns (ca_pem, cert_pem, key_pem), files in directory.
    Give ca_pem to clients (curl --cacert, hail --ca-file, a bundle) and
    (cert_pem, key_pem) to a stand-in as tls=."""
    os.makedirs(directory, exist_ok=True)
    ca_key, ca_pem = os.path.join(directory, "ca.key"), os.path.join(directory, "ca.pem")
    key, csr = os.path.join(directory, "leaf.key"), os.path.join(directory, "leaf.csr")
    cert, ext = os.path.join(directory, "leaf.pem"), os.path.join(directory, "leaf.ext")
    with open(ext, "w") as f:
        f.write("basicConstraints = critical, CA:FALSE\n"
                "keyUsage = critical, digitalSignature, keyEncipherment\n"
                "extendedKeyUsage = serverAuth\n"
                "subjectAltName = IP:127.0.0.1, DNS:localhost\n"
                "subjectKeyIdentifier = hash\n"
                "authorityKeyIdentifier = keyid:always\n")
    run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "2",
         "-keyout", ca_key, "-out", ca_pem, "-subj", "/CN=hail test CA (throw-away)",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
    run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-sha256", "-keyout", key,
         "-out", csr, "-subj", "/CN=127.0.0.1"])
    run(["openssl", "x509", "-req", "-in", csr, "-CA", ca_pem, "-CAkey", ca_key,
         "-set_serial", str(int.from_bytes(os.urandom(8), "big")), "-sha256", "-days", "2",
         "-extfile", ext, "-out", cert])
    return ca_pem, cert, key


def role_credentials(n=1, hours=6):
    """Temporary credentials as IMDS hands them out for an instance role."""
    return {"Code": "Success", "LastUpdated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "Type": "AWS-HMAC", "AccessKeyId": f"ASIAHAILTEST{n:08d}",
            "SecretAccessKey": f"hail/test+secret{n:04d}/" + "x" * 20,
            "Token": f"IQoJb3JpZ2luX2VjEHail{n:04d}" + "T" * 40 + "==",
            "Expiration": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                        time.gmtime(time.time() + hours * 3600))}


class Agent:
    """A hail process started by a Client; its stderr goes to a file."""

    def __init__(self, client, args, env, journal=False, program=None):
        self.log_path = os.path.join(client.root, f"hail-{len(client.agents)}.log")
        self.log = open(self.log_path, "w")
        if journal:     # as systemd does when stderr is the journal
            st = os.fstat(self.log.fileno())
            env = dict(env, JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}")
        self.proc = subprocess.Popen([*HAIL_WRAPPER, program or HAIL, *args], env=env,
                                     stdout=self.log, stderr=self.log)

    def text(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def wait_log(self, pattern, timeout=10, count=1):
        rx = re.compile(pattern)

        def found():
            if len(rx.findall(self.text())) >= count:
                return True
            if self.proc.poll() is not None:
                raise AssertionError(f"hail exited ({self.proc.returncode}) before "
                                     f"logging /{pattern}/:\n{self.text()}")
        wait_for(found, timeout, f"hail to log /{pattern}/")

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout=30):
        try:
            return self.proc.wait(timeout * SLOW)
        finally:
            self.log.close()

    def stop(self, timeout=10):
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            return self.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise AssertionError("hail did not stop within %ss of SIGTERM" % timeout)


class Client:
    """A fresh machine: empty /nix, its own /etc/nix, HOME and caches."""

    def __init__(self, root, hydra, public_key, password=PASSWORD, netrc_host="127.0.0.1",
                 fresh_instance=False):
        self.root = root
        self.agents = []
        self.hydra = hydra
        self.mounts = []
        for m in MOUNT_POINTS:
            run(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", m])
            self.mounts.append(m)
        self.netrc = "/etc/nix/netrc"
        self.home = os.path.join(root, "home")
        os.makedirs(self.home)
        self.activations = os.path.join(root, "activations")
        if fresh_instance:
            # what the image carries: Nix's base settings and nothing else;
            # the bootstrap adds the cache, its key and the netrc
            with open("/etc/nix/nix.conf", "w") as f:
                f.write(BASE_NIX_CONF + "substituters =\n" "download-attempts = 1\n"
                        "narinfo-cache-negative-ttl = 0\n")
            return
        with open(self.netrc, "w") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write(f"machine {netrc_host} login {USER} password {password}\n")
        with open("/etc/nix/nix.conf", "w") as f:
            f.write(BASE_NIX_CONF + f"substituters = {hydra.url}\n"
                    f"trusted-public-keys = {public_key}\n"
                    "netrc-file = /etc/nix/netrc\n"
                    "download-attempts = 1\n"
                    "narinfo-cache-negative-ttl = 0\n")

    def env(self, **extra):
        env = {k: v for k, v in os.environ.items()
               if k in ("PATH", "LANG", "TERM", "ASAN_OPTIONS", "UBSAN_OPTIONS")}
        env.update(HOME=self.home, XDG_CACHE_HOME=os.path.join(self.home, ".cache"),
                   HAIL_TEST_ACTIVATIONS=self.activations)
        env.update(extra)
        return env

    def hail_args(self, profile="demo", extra=()):
        return ["--profile", profile, "--job-uri", self.hydra.job_uri,
                "--netrc-file", self.netrc, *extra]

    def start(self, *extra, profile="demo", env=None, raw_args=None, journal=False):
        args = raw_args if raw_args is not None else self.hail_args(profile, extra)
        a = Agent(self, args, env or self.env(), journal)
        self.agents.append(a)
        return a

    def bootstrap(self, *args, env=None):
        """Starts hail-bootstrap with args; returns its Agent."""
        a = Agent(self, list(args), env or self.env(), program=BOOTSTRAP)
        self.agents.append(a)
        return a

    def oneshot(self, *extra, profile="demo", env=None, timeout=60):
        a = self.start("--oneshot", *extra, profile=profile, env=env)
        rc = a.wait(timeout)
        return rc, a.text()

    def profile_target(self, profile="demo"):
        """The store path the profile points to, or None."""
        p = os.path.join("/nix/var/nix/profiles", profile)
        if not os.path.lexists(p):
            return None
        return os.path.realpath(p)

    def generations(self, profile="demo"):
        d = os.path.dirname(os.path.join("/nix/var/nix/profiles", profile))
        base = os.path.basename(profile)
        return sorted(f for f in os.listdir(d) if re.fullmatch(re.escape(base) + r"-\d+-link", f))

    def activation_log(self):
        try:
            with open(self.activations) as f:
                return f.read().split()
        except FileNotFoundError:
            return []

    def close(self):
        for a in self.agents:
            if a.proc.poll() is None:
                a.proc.kill()
                a.proc.wait(10)
        for m in reversed(self.mounts):
            subprocess.run(["umount", "-l", m], check=False)


ACTIVATE_LOGGING = 'echo "activated {v}"; echo {v} >> "$HAIL_TEST_ACTIVATIONS"'


class World:
    """One test's world: a builder, a Hydra stand-in and one fresh client."""

    _builder = None
    _built = {}

    def __init__(self, root, imds=None, aws=None, **client_kw):
        self.root = root
        self.imds = Imds(root, *imds) if imds is not None else None
        self.aws = Aws(root, *aws) if aws is not None else None
        if World._builder is None:
            World._builder = Builder(tempfile.mkdtemp(prefix="hail-builder-"))
        self.builder = World._builder
        self.hydra = Hydra(root, self.builder.cache)
        self.client = Client(root, self.hydra, self.builder.public_key, **client_kw)

    def build(self, version, **args):
        """Builds (once per process) a demo output whose activate logs its
        version to the client's activation log."""
        args.setdefault("activate", ACTIVATE_LOGGING.format(v=version))
        key = (str(version), tuple(sorted(args.items())))
        if key not in World._built:
            World._built[key] = self.builder.build(version, **args)
        return World._built[key]

    def give_role(self, n=1, **kw):
        """An instance role: IMDS hands out credentials that the AWS
        stand-in knows (with kw such as expired=True); returns them."""
        creds = role_credentials(n)
        self.imds.configure(iam_role="hail-node", iam_credentials=creds)
        known = self.aws.control("GET", "/config")["credentials"]
        known.append({"AccessKeyId": creds["AccessKeyId"], "Token": creds["Token"],
                      "SecretAccessKey": creds["SecretAccessKey"], "expired": False, **kw})
        self.aws.configure(credentials=known)
        return creds

    def publish(self, version, **args):
        out = self.build(version, **args)
        self.hydra.publish(out)
        return out

    def close(self):
        self.client.close()
        self.hydra.stop()
        if self.imds:
            self.imds.stop()
        if self.aws:
            self.aws.stop()


def run_tests(tests, only=None):
    """Runs each test(world) with a fresh world and prints PASS/FAIL lines."""
    enter_namespace()
    failed = 0
    only = only or os.environ.get("E2E_ONLY")
    for t in tests:
        name = t.__name__
        if only and only not in name:
            continue
        root = tempfile.mkdtemp(prefix="hail-e2e-")
        world = None
        start = time.monotonic()
        try:
            world = World(root, imds=getattr(t, "imds_args", None),
                          aws=getattr(t, "aws_args", None),
                          **getattr(t, "client_kw", {}))
            t(world)
            for a in world.client.agents:
                if a.proc.poll() == VALGRIND_ERROR_EXIT:
                    raise AssertionError(f"valgrind found errors in hail: {a.log_path}")
            print(f"PASS {name} ({time.monotonic() - start:.2f}s)", flush=True)
        except Exception as e:
            failed += 1
            print(f"FAIL {name}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}",
                  flush=True)
            traceback.print_exc(file=sys.stderr)
            if world:
                for a in world.client.agents:
                    sys.stderr.write(f"--- hail log {a.log_path}:\n{a.text()[-4000:]}\n")
        finally:
            if world:
                world.close()
            shutil.rmtree(root, ignore_errors=True)
    if World._builder:
        shutil.rmtree(World._builder.root, ignore_errors=True)
    sys.exit(1 if failed else 0)
