#!/usr/bin/python3
"""A fleet of hail agents against one Hydra stand-in, on loopback: requests per
second at the Hydra, the agents' memory, and the rollout curve (share of the
fleet on a new build over time) without and with a rollout window.

Usage (as root; bench/run calls bench() in its own namespace):
    BUILD=build python3 bench/fleet.py
    FLEET_AGENTS=200     how many agents (hail processes)
    FLEET_WINDOW=30s     the --rollout-window of the third phase (with a unit)
    FLEET_IDLE_S=10      length of the idle measurement, seconds

One Builder, one Hydra stand-in and one client machine of the end-to-end harness
(tests/e2e/harness.py: /nix and /etc/nix are private tmpfs mounts, the signed
cache is configured). The agents share that machine's Nix store, as the
issue asks, but each has its own profile /nix/var/nix/profiles/fleet/a-NNN,
state directory, --instance-id, HOME (so its own Nix narinfo cache) and
activation log. Each is a build/hail process polling every second, with
its fetcher (the child it forks at start, found by PPid): the fleet's CPU and
memory count both processes of every agent.
Their state directories are on the client's tmpfs (/var/lib/hail/fleet), as
the store is: on the host's disk, 200 agents' fsyncs (hail records a switch
durably before it runs nix-env) queued behind each other's journal commits,
and the fleet switched in bursts after stalls of most of a second, which
200 machines with a disk each would not do.

  0. v1 is published and the fleet started from empty profiles; it is up when
     every profile resolves to v1 and every agent has polled once after that.
  1. idle: requests at the stand-in over FLEET_IDLE_S seconds of idle polling,
     the stand-in's and the fleet's CPU, the agents' memory.
  2. rollout without a window: v2 is published at t0; every 0.25 s the share of
     profiles resolving to v2 is sampled, until all are on it or 60 s pass.
  3. rollout with a window: the fleet is restarted with --rollout-window, v3 is
     published, sampled the same way until all are on it or window + 60 s pass.

Writes the samples to BUILD/fleet-rollout.dat and draws bench/fleet-rollout.png
(gnuplot); prints Markdown tables. Every wait has a deadline; every agent is
stopped (SIGTERM, then SIGKILL) on the way out.
"""

import collections
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))
sys.path.insert(0, os.path.join(REPO, "bench"))
import harness  # noqa: E402  (these need the paths above)
from harness import ACTIVATE_LOGGING, Builder, Client, Hydra, Standin  # noqa: E402
from measure import CannotMeasure, children, tree_memory_kib  # noqa: E402

BUILD = os.environ.get("BUILD", "build")
HAIL = os.path.join(REPO, BUILD, "hail")
DAT = os.path.join(REPO, BUILD, "fleet-rollout.dat")
PNG = os.path.join(REPO, "bench", "fleet-rollout.png")
PROFILE_DIR = "/nix/var/nix/profiles/fleet"
# state, HOMEs and logs: on the client's tmpfs like /nix (one disk shared by
# 200 agents would not stand for 200 machines' disks: see the docstring)
FLEET_ROOT = "/var/lib/hail/fleet"

PERIOD_S = 1                  # every agent's poll period
SAMPLE_S = 0.25               # rollout sampling interval
ROLLOUT_DEADLINE_S = 60       # after the window, if any
STOP_TIMEOUT_S = 30           # SIGTERM to the whole fleet -> exited
MIB = 1024 * 1024


def env_int(name, default, low):
    v = os.environ.get(name, "")
    try:
        n = int(v) if v else default
    except ValueError:
        raise CannotMeasure(f"{name}={v!r} is not a number") from None
    if n < low:
        raise CannotMeasure(f"{name} must be at least {low}")
    return n


def window_seconds(text):
    """FLEET_WINDOW as hail reads a period, but with a unit required (hail
    takes a bare number as minutes, which is easy to get wrong here)."""
    m = re.fullmatch(r"(\d+)([smh])", text)
    if not m:
        raise CannotMeasure(f"FLEET_WINDOW={text!r}: give a period with a unit, e.g. 30s or 2m")
    return int(m.group(1)) * {"s": 1, "m": 60, "h": 3600}[m.group(2)]


def deadline_loop(timeout, what, step):
    """Yields until timeout seconds have passed, then raises CannotMeasure.
    The caller returns from inside the loop when its condition holds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        yield
        time.sleep(step)          # a poll interval, not synchronisation
    raise CannotMeasure(f"timed out after {timeout:.0f}s waiting for {what}")


# ---------------------------------------------------------------------------
# /proc

def cpu_ns(pid):
    """CPU time (user and kernel) of pid's live threads, in ns, as the
    scheduler counts it (exact, where /proc/PID/stat rounds to clock ticks:
    10 ms each, too coarse for 200 processes using a few ms each); None when
    pid is gone. For single-threaded processes like hail."""
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
    except OSError:
        return None
    return total


def cpu_ns_ticks(pid):
    """utime + stime of pid in ns, from clock ticks: counts threads that have
    exited too (the stand-in starts one per connection)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) * 1e9 / os.sysconf("SC_CLK_TCK")


def machine_ticks():
    """(busy, total) jiffies of all CPUs from /proc/stat."""
    with open("/proc/stat") as f:
        vals = [int(x) for x in f.readline().split()[1:]]
    idle = vals[3] + vals[4]                     # idle + iowait
    total = sum(vals[:8])                        # guest time is inside user
    return total - idle, total


class CpuMeter:
    """CPU used by some processes and by the whole machine between start()
    and stop(), as a share of one core and of the machine."""

    def __init__(self, pids, reader=cpu_ns):
        self.pids = list(pids)
        self.reader = reader

    def start(self):
        self.t0 = time.monotonic()
        self.p0 = {p: self.reader(p) for p in self.pids}
        self.m0 = machine_ticks()

    def stop(self):
        wall = time.monotonic() - self.t0
        used = 0
        for p, before in self.p0.items():
            after = self.reader(p)
            if before is not None and after is not None:
                used += after - before
        m1 = machine_ticks()
        busy, total = m1[0] - self.m0[0], m1[1] - self.m0[1]
        return dict(procs_core=used / 1e9 / wall,
                    machine=busy / total if total else 0.0)


def memory_kib(pid):
    """VmRSS, RssAnon and Pss (shared pages divided among their users) of an
    agent in KiB, each summed over its processes (the root side and its
    fetcher; VmRSS so counts the pages they share twice, Pss once)."""
    procs = tree_memory_kib(pid)
    return tuple(sum(m[k] for m in procs) for k in ("VmRSS", "RssAnon", "Pss"))


# ---------------------------------------------------------------------------
# The stand-in and the fleet

class QuietHydra(Hydra):
    """The Hydra stand-in without its per-request log line on stderr: at a few
    hundred requests a second that line would be a good part of its work."""

    def __init__(self, root, cache):
        os.makedirs(cache, exist_ok=True)
        Standin.__init__(self, root, "hydra", [
            harness.STANDIN, "--cache-dir", cache, "--user", harness.USER,
            "--password", harness.PASSWORD, "--quiet"])
        self.job_uri = f"{self.url}/job/{harness.JOB}"


def request_kind(entry):
    path = entry["path"]
    if path.endswith("/latest"):
        return "poll"
    if path.startswith("/build/"):
        return "build JSON"
    return "cache"            # nix-cache-info, narinfo, nar


class Fleet:
    """N hail processes on one client machine, each with its own profile,
    state directory, instance id, HOME and activation log."""

    def __init__(self, client, root, n):
        self.client = client
        self.root = root
        self.n = n
        self.names = [f"a-{i:03d}" for i in range(n)]
        self.profiles = [os.path.join(PROFILE_DIR, name) for name in self.names]
        self.procs = []
        self.starts = 0
        self.state_files = {}
        os.makedirs(PROFILE_DIR, exist_ok=True)      # nix-env needs the parent
        for name in self.names:
            for d in ("state", "home", "logs"):
                os.makedirs(os.path.join(root, d, name), exist_ok=True)

    def state_file(self, i):
        """The agent's state.json: hail keeps it in a directory named after
        the profile under --state-dir, so it is looked up once it exists."""
        path = self.state_files.get(i)
        if path is None:
            top = os.path.join(self.root, "state", self.names[i])
            for sub in sorted(os.listdir(top)):
                if os.path.exists(os.path.join(top, sub, "state.json")):
                    path = self.state_files[i] = os.path.join(top, sub, "state.json")
                    break
        return path

    def log_path(self, i):
        return os.path.join(self.root, "logs", self.names[i], f"hail-{self.starts}.log")

    def start(self, extra=()):
        """Starts every agent (stdout and stderr to a file each)."""
        assert not self.procs
        self.starts += 1
        for i, name in enumerate(self.names):
            home = os.path.join(self.root, "home", name)
            env = self.client.env(HOME=home, XDG_CACHE_HOME=os.path.join(home, ".cache"),
                                  HAIL_TEST_ACTIVATIONS=os.path.join(home, "activations"))
            argv = [HAIL, "--poll-period", f"{PERIOD_S}s",
                    *self.client.hail_args(self.profiles[i]),
                    "--state-dir", os.path.join(self.root, "state", name),
                    "--instance-id", f"i-fleet{i:03d}", *extra]
            with open(self.log_path(i), "w") as log:
                self.procs.append(subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                                   stdout=log, stderr=log))

    def pids(self):
        """The agents' root sides."""
        return [p.pid for p in self.procs]

    def all_pids(self):
        """Every process of the fleet: each agent's root side and its
        children (its fetcher)."""
        return [q for p in self.pids() for q in (p, *children(p))]

    def check_alive(self):
        for i, p in enumerate(self.procs):
            if p.poll() is not None:
                with open(self.log_path(i), errors="replace") as f:
                    tail = f.read()[-2000:]
                raise CannotMeasure(f"agent {self.names[i]} exited ({p.returncode}):\n{tail}")

    def targets(self):
        """Where each profile points (a store path), or None."""
        return [os.path.realpath(p) if os.path.lexists(p) else None for p in self.profiles]

    def share_on(self, out):
        return sum(1 for t in self.targets() if t == out) / self.n

    def polled_since(self, wall_time):
        """How many agents have written state.json (every poll does) after
        wall_time (time.time())."""
        n = 0
        for i in range(self.n):
            path = self.state_file(i)
            if path and os.stat(path).st_mtime > wall_time:
                n += 1
        return n

    def wait_polled_since(self, wall_time, timeout, what):
        for _ in deadline_loop(timeout, f"{what} (every agent to poll)", step=0.1):
            self.check_alive()
            if self.polled_since(wall_time) == self.n:
                return

    def stop(self):
        """SIGTERM to all, one shared deadline, then SIGKILL to the rest.
        Returns (exit statuses other than 0 as {status: count}, killed)."""
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        end = time.monotonic() + STOP_TIMEOUT_S
        statuses = collections.Counter()
        killed = 0
        for p in self.procs:
            try:
                rc = p.wait(max(0.0, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)
                killed += 1
                continue
            if rc != 0:
                statuses[rc] += 1
        self.procs = []
        return statuses, killed

    def kill(self):
        """The last resort, in finally: SIGKILL to whatever still runs."""
        for p in self.procs:
            if p.poll() is None:
                p.kill()
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                pass
        self.procs = []


# ---------------------------------------------------------------------------
# Phases

def bring_up(fleet, hydra, v1):
    """Publishes v1 and starts the fleet from empty profiles; returns the
    seconds until every profile was on v1."""
    hydra.publish(v1)
    t0 = time.monotonic()
    fleet.start()
    for _ in deadline_loop(120 + fleet.n, "the fleet to reach v1", step=SAMPLE_S):
        fleet.check_alive()
        if fleet.share_on(v1) == 1.0:
            break
    took = time.monotonic() - t0
    fleet.wait_polled_since(time.time(), 30, "the fleet to settle on v1")
    return took


def measure_idle(fleet, hydra, seconds):
    """Requests at the stand-in, CPU, and the agents' memory during idle polling."""
    procs = CpuMeter(fleet.all_pids())
    standin = CpuMeter([hydra.proc.pid], cpu_ns_ticks)
    hydra.reset_stats()
    t0 = time.monotonic()
    procs.start()
    standin.start()
    time.sleep(seconds)          # the measurement window itself
    entries = hydra.stats()
    wall = time.monotonic() - t0
    fleet_cpu, standin_cpu = procs.stop(), standin.stop()
    fleet.check_alive()
    mem = [memory_kib(pid) for pid in fleet.pids()]
    kinds = collections.Counter(request_kind(e) for e in entries)
    rps = len(entries) / wall
    return dict(
        wall=wall, requests=len(entries), rps=rps, kinds=kinds,
        per_agent_poll=rps * PERIOD_S / fleet.n,
        statuses=collections.Counter(e["status"] for e in entries),
        fleet_cpu=fleet_cpu["procs_core"], standin_cpu=standin_cpu["procs_core"],
        machine=fleet_cpu["machine"],
        rss_median=statistics.median(m[0] for m in mem) / 1024,
        anon_median=statistics.median(m[1] for m in mem) / 1024,
        rss_total=sum(m[0] for m in mem) / 1024,
        anon_total=sum(m[1] for m in mem) / 1024,
        pss_total=sum(m[2] for m in mem) / 1024)


def rollout(fleet, hydra, out, deadline_s):
    """Publishes out and samples the share of the fleet on it every SAMPLE_S
    seconds until all are on it or deadline_s passes (a late sample skips the
    ticks it missed). Returns the samples [(seconds since publish, share)],
    each agent's switch time (seconds since publish, from the profile
    symlink's mtime: nix-env makes it anew and renames it over the profile
    at the switch), and the stand-in's figures. Runs at a raised priority,
    so that 200 nix-env runs on 2 cores do not delay the samples."""
    standin = CpuMeter([hydra.proc.pid], cpu_ns_ticks)
    hydra.reset_stats()
    niceness = os.getpriority(os.PRIO_PROCESS, 0)
    os.setpriority(os.PRIO_PROCESS, 0, -10)
    try:
        standin.start()
        wall0, t0 = time.time(), time.monotonic()
        hydra.publish(out)
        samples = [(0.0, fleet.share_on(out))]
        tick = 0
        while samples[-1][1] < 1.0 and samples[-1][0] < deadline_s:
            tick = max(tick + 1, int((time.monotonic() - t0) / SAMPLE_S) + 1)
            delay = t0 + tick * SAMPLE_S - time.monotonic()
            if delay > 0:
                time.sleep(delay)    # the sampling interval
            fleet.check_alive()
            samples.append((time.monotonic() - t0, fleet.share_on(out)))
        entries = hydra.stats()
        wall = time.monotonic() - t0
        cpu = standin.stop()
    finally:
        os.setpriority(os.PRIO_PROCESS, 0, niceness)
    switched = sorted(os.lstat(p).st_mtime - wall0
                      for p, t in zip(fleet.profiles, fleet.targets()) if t == out)
    return dict(samples=samples, switched=switched, wall=wall, requests=len(entries),
                rps=len(entries) / wall,
                kinds=collections.Counter(request_kind(e) for e in entries),
                statuses=collections.Counter(e["status"] for e in entries),
                standin_cpu=cpu["procs_core"], machine=cpu["machine"],
                done=samples[-1][1] >= 1.0)


def time_to(run, n, share):
    """Seconds from publish until share of the n agents had switched (their
    switch times), or None."""
    k = max(1, -(-round(share * n * 1000) // 1000))      # ceil, without float noise
    return run["switched"][k - 1] if len(run["switched"]) >= k else None


# ---------------------------------------------------------------------------
# Output

def write_dat(runs, n):
    """Blocks 0 and 1: each agent's switch time as a step curve (seconds since
    publish, % of the fleet switched by then); blocks 2 and 3: the samples."""
    os.makedirs(os.path.dirname(DAT), exist_ok=True)
    with open(DAT, "w") as f:
        f.write(f"# hail fleet rollout: {n} agents, {PERIOD_S} s poll period (bench/fleet.py)\n"
                "# columns: seconds since publish, % of the fleet on the new build\n"
                "# index 0, 1: every agent's switch (mtime of its profile symlink)\n"
                f"# index 2, 3: the share sampled every {SAMPLE_S} s\n")
        for label, r in runs:
            f.write(f"\n\n# {label}: switch times\n0.000 0.00\n")
            for i, t in enumerate(r["switched"], 1):
                f.write(f"{t:.3f} {100 * i / n:.2f}\n")
        for label, r in runs:
            f.write(f"\n\n# {label}: samples\n")
            for t, share in r["samples"]:
                f.write(f"{t:.3f} {100 * share:.2f}\n")


def draw_png(runs, n, window_s):
    """Draws DAT with gnuplot; returns None or the reason it could not."""
    colours = ("#1f77b4", "#d62728")
    plots = [f"'{DAT}' index {i} using 1:2 with steps lw 2.5 lc rgb '{c}' title '{label}'"
             for i, ((label, _), c) in enumerate(zip(runs, colours))]
    plots += [f"'{DAT}' index {i + len(runs)} using 1:2 with points pt 7 ps 0.45 "
              f"lc rgb '{c}' " + (f"title 'sampled every {SAMPLE_S} s'" if i == 0 else "notitle")
              for i, c in enumerate(colours[:len(runs)])]
    xmax = max(window_s, *(r["samples"][-1][0] for _, r in runs))
    subtitle = (f"{PERIOD_S} s poll period, one Hydra stand-in and one Nix store on "
                f"loopback, {os.cpu_count()} cores")
    script = f"""
set terminal pngcairo size 960,540 enhanced font 'Sans,11'
set output '{PNG}'
set title "hail: rollout of a new build over a fleet of {n} agents\\n{subtitle}"
set xlabel 'seconds since the build was published'
set ylabel '% of the fleet on the new build'
set xrange [0:{xmax * 1.04 + 0.5:.1f}]
set yrange [0:105]
set ytics 0,10,100
set mxtics 5
set grid xtics ytics lc rgb '#d8d8d8' lw 1 dt 1
set key right center box opaque spacing 1.3
set border 3
set xtics nomirror
set ytics nomirror
set arrow from {window_s},0 to {window_s},100 nohead dt 2 lw 1.5 lc rgb '#808080'
set label 'end of the window ' at {window_s},103 right tc rgb '#606060'
plot {", ".join(plots)}
"""
    try:
        r = subprocess.run(["gnuplot"], input=script, text=True, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60)
    except (OSError, subprocess.SubprocessError) as e:
        return str(e)
    if r.returncode != 0 or r.stdout.strip():
        return r.stdout.strip() or f"exit status {r.returncode}"
    return None


def fmt_s(t):
    return "not reached" if t is None else f"{t:.2f} s"


def fmt_kinds(kinds):
    order = ("poll", "build JSON", "cache")
    return ", ".join(f"{kinds[k]} {k}" for k in order if kinds.get(k))


def tables(n, up_s, restart, idle, runs):
    head = ["| fleet, idle | |", "|---|---|"]
    rows = [
        ("agents (each a hail root side and its fetcher; own profiles, one shared Nix "
         "store)", str(n)),
        ("poll period", f"{PERIOD_S} s"),
        ("first deployment from empty profiles, all at once (v1), to 100%", f"{up_s:.1f} s"),
        ("restart: SIGTERM to all exited / started to all polled once",
         f"{restart['stop']:.2f} s / {restart['start']:.2f} s"),
        (f"idle: requests/s at the Hydra (over {idle['wall']:.1f} s)",
         f"{idle['rps']:.1f} ({fmt_kinds(idle['kinds'])})"),
        ("idle: requests per agent per poll period", f"{idle['per_agent_poll']:.3f}"),
        ("idle: CPU of the Hydra stand-in (Python, one process)",
         f"{100 * idle['standin_cpu']:.0f}% of a core"),
        ("idle: CPU of the whole fleet (root sides and fetchers)",
         f"{100 * idle['fleet_cpu']:.1f}% of a core "
         f"({1e6 * idle['fleet_cpu'] / (idle['rps'] or 1):.0f} µs per poll)"),
        ("idle: RSS (VmRSS, root side + fetcher: their shared pages twice) per agent, "
         "median / sum over the fleet",
         f"{idle['rss_median']:.2f} MiB / {idle['rss_total']:.0f} MiB"),
        ("idle: private memory (RssAnon, root side + fetcher) per agent, median / sum "
         "over the fleet",
         f"{idle['anon_median']:.2f} MiB / {idle['anon_total']:.0f} MiB"),
        ("idle: the fleet's memory, shared pages counted once (sum of Pss)",
         f"{idle['pss_total']:.0f} MiB"),
    ]
    out = head + [f"| {a} | {b} |" for a, b in rows]
    labels = [label for label, _ in runs]
    out += ["", "| rollout (seconds since publish) | " + " | ".join(labels) + " |",
            "|---|" + "---|" * len(runs)]
    rrows = [
        ("first agent on the new build", [fmt_s(time_to(r, n, 1 / n)) for _, r in runs]),
        ("50% of the fleet", [fmt_s(time_to(r, n, 0.5)) for _, r in runs]),
        ("90% of the fleet", [fmt_s(time_to(r, n, 0.9)) for _, r in runs]),
        ("100% of the fleet", [fmt_s(time_to(r, n, 1.0)) if r["done"] else
                               f"not reached in {r['wall']:.0f} s "
                               f"({100 * r['samples'][-1][1]:.0f}%)" for _, r in runs]),
        ("requests/s at the Hydra, publish to 100% (or to the deadline)",
         [f"{r['rps']:.1f} ({fmt_kinds(r['kinds'])})" for _, r in runs]),
        ("CPU of the Hydra stand-in", [f"{100 * r['standin_cpu']:.0f}% of a core"
                                       for _, r in runs]),
        ("machine busy, publish to 100% (both cores; nix-env and activations included)",
         [f"{100 * r['machine']:.0f}%" for _, r in runs]),
    ]
    out += [f"| {a} | " + " | ".join(v) + " |" for a, v in rrows]
    return out


def status_notes(name, statuses):
    # None: a request still under way when the log was read
    odd = {s: c for s, c in statuses.items() if s not in (200, 302, None)}
    if odd:
        return [f"{name}: answers other than 200 and 302 at the stand-in: "
                + ", ".join(f"{c} x {s}" for s, c in sorted(odd.items(), key=str))]
    return []


# ---------------------------------------------------------------------------

def bench(n=None, window=None, idle_s=None):
    """Runs the fleet simulation (inside the harness's namespace); returns the
    lines to print. Raises CannotMeasure (or a subprocess/OS error)."""
    n = n or env_int("FLEET_AGENTS", 200, 1)
    window = window or os.environ.get("FLEET_WINDOW", "30s")
    window_s = window_seconds(window)
    idle_s = idle_s or env_int("FLEET_IDLE_S", 10, 2)
    if not os.access(HAIL, os.X_OK):
        raise CannotMeasure(f"{HAIL} not found: run make first")
    tmp = tempfile.mkdtemp(prefix="hail-fleet-")
    hydra = client = fleet = None
    notes = []
    started = time.monotonic()
    try:
        builder = Builder(os.path.join(tmp, "builder-root"))
        outs = [builder.build(f"fleet-{v}", activate=ACTIVATE_LOGGING.format(v=v))
                for v in (1, 2, 3)]
        hydra = QuietHydra(tmp, builder.cache)
        client = Client(tmp, hydra, builder.public_key)
        fleet = Fleet(client, FLEET_ROOT, n)

        up_s = bring_up(fleet, hydra, outs[0])
        idle = measure_idle(fleet, hydra, idle_s)
        notes += status_notes("idle", idle["statuses"])
        plain = rollout(fleet, hydra, outs[1], ROLLOUT_DEADLINE_S)
        notes += status_notes("rollout without a window", plain["statuses"])

        t = time.monotonic()
        statuses, killed = fleet.stop()
        restart = dict(stop=time.monotonic() - t)
        if statuses or killed:
            notes.append(f"stopping the fleet: exit statuses {dict(statuses)}, "
                         f"{killed} killed after {STOP_TIMEOUT_S} s")
        t, since = time.monotonic(), time.time()
        fleet.start(["--rollout-window", window])
        fleet.wait_polled_since(since, 60 + n * 0.2, "the restarted fleet")
        restart["start"] = time.monotonic() - t
        windowed = rollout(fleet, hydra, outs[2], window_s + ROLLOUT_DEADLINE_S)
        notes += status_notes(f"rollout with --rollout-window {window}", windowed["statuses"])
        sw = windowed["switched"]
        if windowed["done"] and sw[-1] - sw[0] < min(2.0, window_s / 4):
            notes.append(f"with --rollout-window {window} the whole fleet switched within "
                         f"{sw[-1] - sw[0]:.2f} s: a step, not a ramp over the window "
                         "(is the window implemented?)")
        statuses, killed = fleet.stop()
        if statuses or killed:
            notes.append(f"stopping the fleet: exit statuses {dict(statuses)}, "
                         f"{killed} killed after {STOP_TIMEOUT_S} s")
    finally:
        if fleet:
            fleet.kill()
        if client:
            client.close()
        if hydra:
            hydra.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    runs = [("no window", plain), (f"rollout-window {window}", windowed)]
    write_dat(runs, n)
    why = draw_png(runs, n, window_s)
    if why:
        notes.append(f"gnuplot could not draw {PNG}: {why}")
    lines = [f"Fleet: {n} hail agents, {PERIOD_S} s poll period, one Hydra stand-in "
             f"on 127.0.0.1, {os.cpu_count()} cores; rollout sampled every {SAMPLE_S} s "
             f"(samples: {os.path.relpath(DAT, REPO)}, curve: "
             f"{os.path.relpath(PNG, REPO)}).", ""]
    lines += tables(n, up_s, restart, idle, runs)
    lines += [f"\nnote: {x}" for x in notes]
    lines.append(f"\n(fleet simulation took {time.monotonic() - started:.0f} s)")
    return lines


def main():
    harness.enter_namespace()     # /nix and /etc/nix mounts vanish with us
    try:
        lines = bench()
    except (CannotMeasure, subprocess.SubprocessError, OSError, AssertionError) as e:
        print(f"fleet: cannot measure: {e}", file=sys.stderr)
        return 1
    print("\n".join(lines), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
