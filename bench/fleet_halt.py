#!/usr/bin/python3
"""A bad build (its bin/activate fails) published to a fleet of hail agents
with a rollout window, once without a halt alarm and once with one: how many
machines ran the bad build's activate in each case, and when.

Usage (as root; bench/run calls bench() in its own namespace):
    BUILD=build python3 bench/fleet_halt.py
    FLEET_AGENTS=200     how many agents (hail processes)
    HALT_WINDOW=60s      their --rollout-window

The fleet of bench/fleet.py (one client machine, one shared Nix store, every
agent its own profile, state, instance id and activation log, polling every
second), with the IMDS stand-in handing out one instance role and the AWS
stand-in (tests/standin/aws.py) taking the agents' PutMetricData
(--cloudwatch-metrics, dimensions AutoScalingGroupName and Profile) and
answering DescribeAlarms. The alarm is evaluated as CloudWatch would:
ALARM while the Sum of ActivationFailures put in the last 10 s is >= 1.

  0. a good build v1 is published and the fleet started (with the window);
     it is up when every profile is on v1.
  1. without the alarm: bad build 1 is published; every 0.25 s the share of
     the fleet whose activation log shows it is sampled, for the window + 30 s.
  2. with the alarm: the fleet is restarted with --halt-alarm, the metrics
     forgotten, bad build 2 published and sampled the same way.

Writes the samples to BUILD/fleet-halt.dat, draws bench/fleet-halt.png and
prints a Markdown table. Every wait has a deadline; every agent is stopped.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))
sys.path.insert(0, os.path.join(REPO, "bench"))
import harness  # noqa: E402
from harness import ACTIVATE_LOGGING, Aws, Builder, Client, Imds, role_credentials  # noqa: E402
from fleet import FLEET_ROOT, Fleet, QuietHydra, deadline_loop, env_int, window_seconds  # noqa: E402
from measure import CannotMeasure  # noqa: E402

BUILD = os.environ.get("BUILD", "build")
DAT = os.path.join(REPO, BUILD, "fleet-halt.dat")
PNG = os.path.join(REPO, "bench", "fleet-halt.png")
ALARM = "hail-fleet-activation-failures"
ALARM_PERIOD_S = 10
SAMPLE_S = 0.25
AFTER_WINDOW_S = 30
FAILING = 'echo {v} >> "$HAIL_TEST_ACTIVATIONS"; echo "bad build {v}"; exit 1'


def ran(fleet, version):
    """How many agents' activation logs show version."""
    n = 0
    for name in fleet.names:
        try:
            with open(os.path.join(fleet.root, "home", name, "activations")) as f:
                n += version in f.read().split()
        except FileNotFoundError:
            pass
    return n


def halted(fleet):
    """How many agents' state says halted (as hail_halted, the dashboards' panel)."""
    n = 0
    for i in range(fleet.n):
        path = fleet.state_file(i)
        try:
            with open(path) as f:
                n += '"mode": "halted: alarm"' in f.read()
        except (OSError, TypeError):
            pass
    return n


def alarm_state(aws, now):
    """ALARM or OK as the stand-in evaluates it (the same rule)."""
    puts = aws.control("GET", "/metrics")["puts"]
    total = sum(m["Value"] for p in puts if p["time"] >= now - ALARM_PERIOD_S
                for m in p["metrics"] if m["MetricName"] == "ActivationFailures")
    return 1 if total >= 1 else 0


def bad_rollout(fleet, hydra, aws, out, version, seconds):
    """Publishes out and samples (t, share that ran its activate, alarm,
    share halted)."""
    t0 = time.monotonic()
    hydra.publish(out)
    samples = []
    tick = 0
    while True:
        t = time.monotonic() - t0
        fleet.check_alive()
        samples.append((t, ran(fleet, version) / fleet.n, alarm_state(aws, time.time()),
                        halted(fleet) / fleet.n))
        if t >= seconds:
            break
        tick = max(tick + 1, int(t / SAMPLE_S) + 1)
        delay = t0 + tick * SAMPLE_S - time.monotonic()
        if delay > 0:
            time.sleep(delay)       # the sampling interval
    return samples


def start_fleet(fleet, extra, v1):
    since = time.time()
    fleet.start(extra)
    for _ in deadline_loop(120 + fleet.n, "the fleet on v1", step=SAMPLE_S):
        fleet.check_alive()
        if fleet.share_on(v1) == 1.0:
            break
    fleet.wait_polled_since(since, 60 + fleet.n * 0.2, "the fleet to poll")


def write_dat(runs, n):
    os.makedirs(os.path.dirname(DAT), exist_ok=True)
    with open(DAT, "w") as f:
        f.write(f"# hail: a bad build over {n} agents (bench/fleet_halt.py)\n"
                "# columns: seconds since publish, % of the fleet that ran its activate, "
                "halt alarm (1: ALARM), % of the fleet halted\n")
        for label, samples in runs:
            f.write(f"\n\n# {label}\n")
            for t, share, alarm, held in samples:
                f.write(f"{t:.3f} {100 * share:.2f} {alarm} {100 * held:.2f}\n")


def draw_png(runs, n, window_s):
    colours = ("#d62728", "#2ca02c")
    plots = [f"'{DAT}' index {i} using 1:2 with steps lw 2.5 lc rgb '{c}' title '{label}'"
             for i, ((label, _), c) in enumerate(zip(runs, colours))]
    plots.append(f"'{DAT}' index 1 using 1:($3 * 100) with filledcurves y1=0 fs transparent "
                 "solid 0.12 noborder lc rgb '#2ca02c' title 'the halt alarm in ALARM'")
    plots.append(f"'{DAT}' index 1 using 1:4 with steps lw 1.5 dt 2 lc rgb '#2ca02c' "
                 "title 'halted machines (with --halt-alarm)'")
    script = f"""
set terminal pngcairo size 960,540 enhanced font 'Sans,11'
set output '{PNG}'
set title "hail: a bad build published to {n} agents with a {window_s} s rollout window\\n\
alarm: Sum of ActivationFailures over the last {ALARM_PERIOD_S} s >= 1 (evaluated as CloudWatch would)"
set xlabel 'seconds since the bad build was published'
set ylabel '% of the fleet that ran the bad build''s activate'
set yrange [0:105]
set ytics 0,10,100
set grid xtics ytics lc rgb '#d8d8d8'
set key left top box opaque
set border 3
set xtics nomirror
set ytics nomirror
set arrow from {window_s},0 to {window_s},100 nohead dt 2 lc rgb '#808080'
plot {", ".join(plots)}
"""
    try:
        r = subprocess.run(["gnuplot"], input=script, text=True, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60)
    except (OSError, subprocess.SubprocessError) as e:
        return str(e)
    return None if r.returncode == 0 and not r.stdout.strip() else (r.stdout or "failed")


def bench(n=None, window=None):
    n = n or env_int("FLEET_AGENTS", 200, 1)
    window = window or os.environ.get("HALT_WINDOW", "60s")
    window_s = window_seconds(window)
    tmp = tempfile.mkdtemp(prefix="hail-fleet-halt-")
    hydra = imds = aws = client = fleet = None
    started = time.monotonic()
    try:
        builder = Builder(os.path.join(tmp, "builder-root"))
        v1 = builder.build("halt-1", activate=ACTIVATE_LOGGING.format(v="halt-1"))
        bad = [builder.build(f"halt-bad-{k}", activate=FAILING.format(v=f"halt-bad-{k}"))
               for k in (1, 2)]
        hydra = QuietHydra(tmp, builder.cache)
        imds = Imds(tmp)
        aws = Aws(tmp, "--quiet")
        creds = role_credentials(1)
        imds.configure(iam_role="hail-node", iam_credentials=creds)
        aws.configure(credentials=[{"AccessKeyId": creds["AccessKeyId"], "Token": creds["Token"],
                                    "SecretAccessKey": creds["SecretAccessKey"]}],
                      alarms={ALARM: {"sum-of": "ActivationFailures",
                                      "period": ALARM_PERIOD_S, "threshold": 1}})
        client = Client(tmp, hydra, builder.public_key)
        plain_env = client.env
        client.env = lambda **kw: plain_env(AWS_ENDPOINT_URL=aws.url, **kw)
        fleet = Fleet(client, FLEET_ROOT, n)
        common = ["--imds-endpoint", imds.url, "--cloudwatch-metrics", "--cloudwatch-period",
                  "1h", "--autoscaling-group", "fleet", "--rollout-window", window]
        hydra.publish(v1)
        start_fleet(fleet, common, v1)
        without = bad_rollout(fleet, hydra, aws, bad[0], "halt-bad-1", window_s + AFTER_WINDOW_S)
        fleet.stop()
        aws.control("POST", "/metrics/reset", {})
        start_fleet(fleet, common + ["--halt-alarm", ALARM], v1)
        with_alarm = bad_rollout(fleet, hydra, aws, bad[1], "halt-bad-2",
                                 window_s + AFTER_WINDOW_S)
        halted = sum(1 for i in range(n) if '"halted: alarm"' in open(fleet.state_file(i)).read())
        describes = sum(1 for c in aws.calls() if c["operation"] == "DescribeAlarms")
        puts = len(aws.control("GET", "/metrics")["puts"])
        fleet.stop()
    finally:
        if fleet:
            fleet.kill()
        if client:
            client.close()
        for s in (hydra, imds, aws):
            if s:
                s.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    runs = [("no halt alarm", without), ("with --halt-alarm", with_alarm)]
    write_dat(runs, n)
    why = draw_png(runs, n, window_s)
    count = [round(s[-1][1] * n) for _, s in runs]
    lines = [f"Halt: a bad build over {n} agents, --rollout-window {window}, 1 s poll period "
             f"(samples: {os.path.relpath(DAT, REPO)}, curves: {os.path.relpath(PNG, REPO)}).",
             "", "| a bad build | no halt alarm | with --halt-alarm |", "|---|---|---|",
             f"| machines that ran its activate (of {n}) | {count[0]} | {count[1]} |",
             f"| machines halted at the end | - | {halted} |",
             f"| DescribeAlarms calls / PutMetricData calls (with the alarm) | - | "
             f"{describes} / {puts} |",
             f"| seconds the alarm was in ALARM (of {with_alarm[-1][0]:.0f}) | - | "
             f"{sum(SAMPLE_S for s in with_alarm if s[2]):.1f} |"]
    if why:
        lines.append(f"\nnote: gnuplot could not draw {PNG}: {why}")
    lines.append(f"\n(halt simulation took {time.monotonic() - started:.0f} s)")
    return lines


def main():
    harness.enter_namespace()
    try:
        lines = bench()
    except (CannotMeasure, subprocess.SubprocessError, OSError, AssertionError) as e:
        print(f"fleet halt: cannot measure: {e}", file=sys.stderr)
        return 1
    print("\n".join(lines), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
