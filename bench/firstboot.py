"""First boot (shared/anchors.md, last section): hail-bootstrap beside the
floor (curl: a token PUT, then user-data, instance-id and region) and
cloud-init 22.4's Ec2 datasource, all against one IMDS stand-in
(tests/standin/imds.py: IMDSv2 required, the same JSON user-data).

Each contender gets a warm-up run, then RUNS timed runs; the stand-in's
request log is reset before each timed run, so every run's requests are its
own. bench() returns the lines to print. It raises CannotMeasure only when
hail-bootstrap or the floor cannot be measured; cloud-init that cannot be run
is reported in its columns as "not measured: <why>" instead.
"""

import collections
import itertools
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile

from harness import Imds
from measure import CannotMeasure, Run, clean_env, run_measured

BENCH = os.path.dirname(os.path.abspath(__file__))
PYTHON = "/usr/bin/python3"
SANDBOX = os.path.join(BENCH, "cloudinit_sandbox.py")
DATASOURCE = os.path.join(BENCH, "ec2_datasource.py")

RUNS = 5                     # timed runs per contender (median reported)
TOKEN_TTL = "21600"          # what cloud-init and botocore ask for
CURL_MAX_TIME = "5"          # seconds, per curl
BOOTSTRAP_WAIT = "10s"       # hail-bootstrap's own deadline for the IMDS
RUN_TIMEOUT = 60             # seconds, any one timed program
SANDBOX_SLACK = 30           # on top of RUN_TIMEOUT: unshare, mounts, Python

# What cloud-init could leave on the host if the sandbox leaked; compared
# before and after its runs.
HOST_PATHS = ("/etc/cloud", "/var/lib/cloud", "/run/cloud-init", "/var/log/cloud-init.log",
              "/var/log/cloud-init-output.log", "/etc/hostname", "/etc/resolv.conf")

# anchors.md, "First boot", one cell per row
ANCHOR = {"requests": "72 (token, version probe, user-data, 64 meta-data, 5 identity); 4",
          "wall": "364 ms; 219 ms (imports 87 ms, crawl 82 ms); 13 ms",
          "rss": "40.6 MB; 32.3 MB; 11 MB"}
ANCHOR_CLOUD_INIT_REQUESTS = 72
FLOOR_X = 1.5                # hail-bootstrap within 1.5x of the floor's wall time
CLOUD_INIT_X = 20            # and at least 20x faster than `cloud-init init`
RSS_LIMIT = 12 * 1000 ** 2   # bytes: "under 12 MB"
MIB = 1024 * 1024

# One timed run: the Run, the stand-in's request log, contender-specific figures.
Sample = collections.namedtuple("Sample", "run requests extra")


def tail(path, lines=15):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError as e:
        return f"({e})"


# ---------------------------------------------------------------------------
# The stand-in

def user_data():
    """hail's settings as a fleet would launch them; nothing is fetched from
    these URLs (no Nix install in these runs)."""
    key = "hail-bench-1:" + "A" * 43 + "="
    return json.dumps({"hail": {
        "job-uri": "http://127.0.0.1:9/job/proj/main/demo", "profile": "demo",
        "netrc": "machine 127.0.0.1 login deploy password bench-pw\n",
        "substituters": ["http://127.0.0.1:9"], "trusted-public-keys": [key]}})


def start_imds(tmp):
    imds = Imds(tmp, "--quiet")       # --quiet: no log line per request to slow it
    imds.set_user_data(user_data())
    return imds


def timed_runs(imds, once):
    """A warm-up run (page cache, the stand-in's first connections), then RUNS
    timed runs of once(), which returns (Run, extra figures)."""
    once()
    samples = []
    for _ in range(RUNS):
        imds.control("POST", "/stats/reset")
        run, extra = once()
        samples.append(Sample(run, imds.stats(), extra))
    return samples


def check_read_user_data(name, samples, log):
    """A contender that never got the user-data with a valid token did not do
    the job (e.g. cloud-init falling back to IMDSv1 and giving up quickly):
    its figures would mean nothing."""
    for s in samples:
        if not any(r["path"].endswith("/user-data") and r["status"] == 200
                   and r["token"] == "valid" for r in s.requests):
            raise CannotMeasure(f"{name} did not read the user-data with a token\n"
                                f"its log ends:\n{tail(log)}")


# ---------------------------------------------------------------------------
# The contenders: each a function making one run's (Run, extra)

def bootstrap_runner(timer, binary, imds, tmp):
    runs = itertools.count()

    def once():
        root = os.path.join(tmp, f"bootstrap-root-{next(runs)}")   # fresh: a first boot
        log = root + ".log"
        run = run_measured(timer, [binary, "--imds-endpoint", imds.url, "--handoff", "none",
                            "--root", root, "--wait", BOOTSTRAP_WAIT],
                           clean_env(), log, RUN_TIMEOUT)
        if run.status != 0 or not os.path.exists(os.path.join(root, "etc/hail/demo.json")):
            raise CannotMeasure(f"hail-bootstrap exited {run.status} without writing "
                                f"etc/hail/demo.json\n{tail(log)}")
        return run, {"log": log}
    return once


def curl(timer, args, log):
    """One curl process: no proxy, bounded, failing on HTTP errors."""
    argv = [shutil.which("curl") or "/usr/bin/curl", "-sS", "--fail", "--noproxy", "*",
            "--max-time", CURL_MAX_TIME, *args]
    run = run_measured(timer, argv, clean_env(), log, RUN_TIMEOUT)
    if run.status != 0:
        raise CannotMeasure(f"the floor's curl exited {run.status}\n{tail(log)}")
    return run


def floor_runner(timer, imds, tmp):
    """anchors.md's floor: `curl` PUTs for a token, then one more curl GETs
    user-data, instance-id and region on one connection: 4 requests, 2
    processes. Its wall time is the sum of both; its peak RSS the larger."""
    d = os.path.join(tmp, "floor")
    os.makedirs(d)
    log = os.path.join(d, "curl.log")
    out = {name: os.path.join(d, name) for name in ("token", "user-data", "instance-id", "region")}
    paths = {"user-data": "latest/user-data", "instance-id": "latest/meta-data/instance-id",
             "region": "latest/meta-data/placement/region"}

    def once():
        put = curl(timer, ["-X", "PUT", "-H", f"X-aws-ec2-metadata-token-ttl-seconds: {TOKEN_TTL}",
                           "-o", out["token"], f"{imds.url}/latest/api/token"], log)
        with open(out["token"]) as f:
            token = f.read().strip()
        gets = [a for name, p in paths.items() for a in ("-o", out[name], f"{imds.url}/{p}")]
        get = curl(timer, ["-H", f"X-aws-ec2-metadata-token: {token}", *gets], log)
        return Run(put.wall + get.wall, max(put.rss_kib, get.rss_kib), 0), {"log": log}
    return once


def sandboxed_runner(timer, imds, tmp, name, command):
    """Runs command in bench/cloudinit_sandbox.py's throw-away sandbox; the
    sandbox times the command alone, not its own set-up."""
    runs = itertools.count()
    slug = name.replace(" ", "-")

    def once():
        work = os.path.join(tmp, f"{slug}-{next(runs)}")
        os.makedirs(work)
        log = work + ".log"
        argv = ["unshare", "--mount", "--uts", "--propagation", "private", PYTHON, SANDBOX,
                "--timer", timer, "--work", work, "--imds-url", imds.url, "--log", log,
                "--timeout", str(RUN_TIMEOUT), "--", *command]
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=RUN_TIMEOUT + SANDBOX_SLACK)
        result = last_json(r.stdout)
        if result is None or "error" in result:
            raise CannotMeasure(f"the sandbox failed ({r.returncode}): "
                                f"{(result or {}).get('error') or r.stdout.strip()[-500:]}")
        run = Run(result["wall"], result["rss_kib"], result["status"])
        if run.status != 0:
            raise CannotMeasure(f"{name} exited {run.status}\nits log ends:\n{tail(log)}")
        return run, {"log": log, **result_line(log)}
    return once


def last_json(text):
    lines = text.strip().splitlines()
    try:
        return json.loads(lines[-1]) if lines else None
    except ValueError:
        return None


def result_line(log):
    """ec2_datasource.py's own timings ("RESULT {json}"); {} for cloud-init."""
    with open(log, errors="replace") as f:
        found = [line[len("RESULT "):] for line in f if line.startswith("RESULT ")]
    return json.loads(found[-1]) if found else {}


# ---------------------------------------------------------------------------
# cloud-init: installed on demand, run only in the sandbox, host checked

def ensure_cloud_init():
    """(version, None), or (None, why not) when it is missing and cannot be
    installed. Installs Debian's package when missing."""
    if shutil.which("cloud-init") is None:
        print("bench: cloud-init is missing; installing it: "
              "apt-get install -y --no-install-recommends cloud-init", file=sys.stderr, flush=True)
        try:
            r = subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "cloud-init"],
                               env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               timeout=300)
        except (subprocess.SubprocessError, OSError) as e:
            return None, f"apt-get install cloud-init: {e}"
        if r.returncode != 0 or shutil.which("cloud-init") is None:
            return None, "apt-get install cloud-init failed: " + r.stdout.strip()[-300:]
    r = subprocess.run([shutil.which("cloud-init"), "--version"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=30)
    words = r.stdout.split()
    return (words[-1] if words else "?"), None


def entry(path):
    st = os.lstat(path)
    return (path, st.st_mode, st.st_size, st.st_mtime_ns)


def host_state():
    """Every file under HOST_PATHS (mode, size, mtime) and the hostname."""
    state = {"hostname": socket.gethostname()}
    for top in HOST_PATHS:
        if not os.path.lexists(top):
            state[top] = None
            continue
        found = [entry(top)]
        for d, dirs, files in os.walk(top):
            found += [entry(os.path.join(d, n)) for n in sorted(dirs + files)]
        state[top] = found
    return state


def bench_cloud_init(timer, imds, tmp):
    """{"version", "init", "datasource", "host_changed"}: the two results are
    sample lists, or a "not measured: why" string."""
    version, why = ensure_cloud_init()
    res = {"version": version, "host_changed": []}
    if why:
        res["init"] = res["datasource"] = f"not measured: {why}"
        return res
    before = host_state()
    for key, name, command in (("init", "cloud-init init", [shutil.which("cloud-init"), "init"]),
                               ("datasource", "the Ec2 datasource", [PYTHON, DATASOURCE, imds.url])):
        res[key] = cloud_init_samples(timer, imds, tmp, name, command)
    after = host_state()
    res["host_changed"] = [k for k in before if before[k] != after[k]]
    return res


def cloud_init_samples(timer, imds, tmp, name, command):
    """The timed runs of command in the sandbox, or "not measured: why"."""
    try:
        samples = timed_runs(imds, sandboxed_runner(timer, imds, tmp, name, command))
        check_read_user_data(name, samples, samples[-1].extra["log"])
        return samples
    except (CannotMeasure, subprocess.SubprocessError, OSError, ValueError, KeyError) as e:
        print(f"bench: {name}: {e}", file=sys.stderr)
        return "not measured: " + str(e).splitlines()[0]


# ---------------------------------------------------------------------------
# The table

def summary(samples):
    walls = sorted(s.run.wall for s in samples)
    counts = sorted({len(s.requests) for s in samples})
    missing = collections.Counter(r["path"] for s in samples for r in s.requests
                                  if r["status"] == 404)
    extra = {k: statistics.median(s.extra[k] for s in samples)
             for k in ("imports", "crawl") if k in samples[0].extra}
    return {"wall": statistics.median(walls), "wall_range": (walls[0], walls[-1]),
            "rss_kib": statistics.median(s.run.rss_kib for s in samples),
            "requests": statistics.median(len(s.requests) for s in samples),
            "request_counts": counts, "missing": missing, **extra}


def ms(seconds):
    return f"{seconds * 1000:.0f} ms" if seconds >= 0.1 else f"{seconds * 1000:.1f} ms"


def mib(kib):
    return f"{kib * 1024 / MIB:.1f} MiB"


def met(ok):
    return "met" if ok else "NOT met"


def cells(res, row):
    """One row's cell for a summary, or its "not measured" text."""
    if isinstance(res, str):
        return res
    if row == "requests":
        counts = res["request_counts"]
        return (str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}")
    if row == "missing":
        n = sum(res["missing"].values())
        return str(n) if not n else f"{n}: " + ", ".join(
            f"{c}x {p}" for p, c in res["missing"].most_common(3))
    if row == "wall":
        lo, hi = res["wall_range"]
        text = f"{ms(res['wall'])} ({ms(lo)}-{ms(hi)})"
        if "crawl" in res:
            text += f"; in-process: imports {ms(res['imports'])}, crawl {ms(res['crawl'])}"
        return text
    return mib(res["rss_kib"])


def ratio_rows(hail, floor, init):
    to_floor = hail["wall"] / floor["wall"]
    rows = [("hail-bootstrap / the floor, wall time", f"{to_floor:.2f}x",
             f"within {FLOOR_X}x: {met(to_floor <= FLOOR_X)}")]
    if isinstance(init, str):
        rows.append(("`cloud-init init` / hail-bootstrap, wall time", "n/a (cloud-init "
                     "not measured)", f"at least {CLOUD_INIT_X}x"))
    else:
        speedup = init["wall"] / hail["wall"]
        rows.append(("`cloud-init init` / hail-bootstrap, wall time", f"{speedup:.1f}x",
                     f"at least {CLOUD_INIT_X}x: {met(speedup >= CLOUD_INIT_X)}"))
    return rows


def table(hail, floor, cloud):
    init, ds = cloud["init"], cloud["datasource"]
    rss_ok = hail["rss_kib"] * 1024 < RSS_LIMIT
    head = ("", "hail-bootstrap (this build)", "the floor (curl, 2 processes)",
            "`cloud-init init` (network stage)", "cloud-init's Ec2 datasource alone",
            "anchors.md (`init`; datasource; floor)", "target (anchors.md)")
    rows = [
        ("IMDS requests per run", "requests", ""),
        (f"of which answered 404, all {RUNS} runs (cloud-init retries a missing path "
         "5 times, 1 s apart)", "missing", ""),
        (f"wall time, median of {RUNS} (min-max)", "wall", ""),
        ("peak RSS (ru_maxrss), median", "rss",
         f"hail-bootstrap under 12 MB ({RSS_LIMIT / MIB:.1f} MiB): {met(rss_ok)}"),
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, row, target in rows:
        anchor = ANCHOR.get(row, "")
        lines.append("| " + " | ".join([label, *(cells(r, row) for r in (hail, floor, init, ds)),
                                        anchor, target]) + " |")
    for label, value, target in ratio_rows(hail, floor, init):
        lines.append("| " + " | ".join([label, value, "", "", "", "", target]) + " |")
    return "\n".join(lines)


def notes(cloud):
    out = []
    if cloud["version"] and not cloud["version"].startswith("22.4"):
        out.append(f"cloud-init here is {cloud['version']}; anchors.md measured 22.4")
    init = cloud["init"]
    if not isinstance(init, str) and init["requests"] != ANCHOR_CLOUD_INIT_REQUESTS:
        out.append(f"`cloud-init init` made {init['requests']:.0f} requests here, anchors.md "
                   f"{ANCHOR_CLOUD_INIT_REQUESTS}: cloud-init crawls every folder the stand-in "
                   "lists, so a different tree (here without iam/ or tags/) gives a different "
                   f"count; {sum(init['missing'].values())} were answered 404")
    if cloud["host_changed"]:
        out.append("the host changed during the cloud-init runs: "
                   + ", ".join(cloud["host_changed"]))
    return out


def header(cloud):
    version = cloud["version"] or "not installed"
    return (f"First boot against the IMDS stand-in on 127.0.0.1 (IMDSv2 required, "
            f"{len(user_data())}-byte JSON user-data): {RUNS} timed runs each after a warm-up; "
            "wall time from fork to exit and peak RSS (ru_maxrss) by bench/timer.c. hail-bootstrap: "
            "`--handoff none --root DIR` (settings written, Nix excluded). "
            f"cloud-init {version}: each run a first boot in a throw-away sandbox "
            "(bench/cloudinit_sandbox.py); the host's /etc/cloud, /var/lib/cloud, "
            "/run/cloud-init " + ("changed!" if cloud["host_changed"] else "unchanged") + ".")


# ---------------------------------------------------------------------------

def bench(bootstrap_binary, timer):
    """Measures all contenders, each run timed by timer (bench/timer.c,
    built); returns the lines to print."""
    tmp = tempfile.mkdtemp(prefix="hail-bench-firstboot-")
    imds = None
    try:
        imds = start_imds(tmp)
        hail = timed_runs(imds, bootstrap_runner(timer, bootstrap_binary, imds, tmp))
        check_read_user_data("hail-bootstrap", hail, hail[-1].extra["log"])
        floor = timed_runs(imds, floor_runner(timer, imds, tmp))
        check_read_user_data("the floor", floor, floor[-1].extra["log"])
        cloud = bench_cloud_init(timer, imds, tmp)
    finally:
        if imds:
            imds.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    for key in ("init", "datasource"):
        if not isinstance(cloud[key], str):
            cloud[key] = summary(cloud[key])
    return [header(cloud), "", table(summary(hail), summary(floor), cloud),
            *(f"\nnote: {n}" for n in notes(cloud))]
