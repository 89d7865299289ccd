"""The idle poll as production sees it (issue 16): HTTPS, with the server
closing the connection between polls, as nginx's 75 s keep-alive does before a
5-minute poll. Part of bench/run, after the plain-HTTP rows, in the same run and
the same private mount namespace.

What is measured, side by side:
  - hail (this build) and the floor (bench/floor.c) in each CA mode: `default`
    (libcurl's built-in CA file and path), `capath-null` (CURLOPT_CAPATH NULL,
    the bundle file kept: libcurl's CA cache applies) and `blob` (the bundle
    read once, given as CURLOPT_CAINFO_BLOB), polling a TLS Hydra stand-in
    that closes connections idle for RECONNECT_IDLE_S, with a PERIOD_S poll
    period: every poll makes a new connection;
  - hail and the floor against a TLS stand-in that keeps connections
    (idle close KEPT_IDLE_S, longer than the period);
  - hail with the fleet control on: --imds-endpoint at an IMDS stand-in with
    an instance role (plain HTTP, as IMDS is) and --control-ssm-parameter at
    a TLS AWS stand-in (AWS_ENDPOINT_URL=https://...) that also closes idle
    connections, so that the Hydra and the SSM request both reconnect.

Trust: a throw-away CA (harness.make_test_ca) signs the stand-ins' RSA-2048
certificate for 127.0.0.1. Both programs get the host's whole CA bundle plus
the test CA where libcurl looks by default: a combined copy is bind-mounted
over /etc/ssl/certs/ca-certificates.crt in the bench's private mount namespace
only (refused outside one); the host's trust store is not touched.

Per poll, over two callgrind runs of POLLS polls (the difference cancels
start-up, the first connection's full handshake and shutdown): instructions,
TLS handshakes and resumed handshakes (the stand-ins count them: GET /tls),
SSM requests. The runs go RIGS at a time, each on its own set of stand-ins
(a "rig"), so that counters never mix; each rig has its own hail profile and
state folder, so concurrent hails never read each other's state.

hail's instructions are those of its root side and its fetcher together (one
callgrind file per process, summed; the split is printed under the table);
see bench/measure.py for how the fetcher's file is had.
"""

import collections
import json
import os
import ssl
import socket
import subprocess
import time

import harness
from harness import Aws, Hydra, Imds, make_test_ca, role_credentials
from measure import CannotMeasure, Poller, callgrind_tree, deadline_loop

PERIOD_S = 3                # poll period: RECONNECT_IDLE_S fits well before each poll
RECONNECT_IDLE_S = 1.0      # the reconnecting stand-ins' --idle-close
KEPT_IDLE_S = 60.0          # the kept-alive stand-in's: longer than the period
POLLS = (2, 5)              # the two callgrind runs (polls answered before SIGTERM)
RIGS = 4                    # callgrind runs at a time (most of a run is sleep)
SETTLE_S = 0.5              # no request for this long after the last counted
                            # poll: the poller has finished that poll (the
                            # server closes only after RECONNECT_IDLE_S)
BUNDLE = "/etc/ssl/certs/ca-certificates.crt"    # libcurl's default CA file on Debian
CONTROL_PARAMETER = "/hail/control"
MODES = ("default", "capath-null", "blob")

# program: "hail" or "floor"; stand_in: "reconnect" or "kept"; mode: the floor's
Config = collections.namedtuple("Config", "key program stand_in mode fleet")
CONFIGS = [
    Config("floor default", "floor", "reconnect", "default", False),
    Config("floor blob", "floor", "reconnect", "blob", False),
    Config("hail", "hail", "reconnect", None, False),
    Config("floor capath-null", "floor", "reconnect", "capath-null", False),
    Config("hail fleet", "hail", "reconnect", None, True),
    Config("hail kept", "hail", "kept", None, False),
    Config("floor kept", "floor", "kept", "default", False),
]
# HAIL_BEFORE=PATH: an older hail measured in the same run (a before/after
# figure for a change), reconnecting, as "hail".
HAIL_BEFORE = os.environ.get("HAIL_BEFORE")
if HAIL_BEFORE:
    CONFIGS.append(Config("hail before", "hail-before", "reconnect", None, False))



class Rig:
    """The stand-ins one callgrind run at a time uses: TLS Hydras closing idle
    connections after RECONNECT_IDLE_S and KEPT_IDLE_S, a TLS AWS stand-in
    (reconnecting too) with the control parameter, an IMDS stand-in with an
    instance role; and a hail profile of its own."""

    def __init__(self, root, cache, tls, outs, n):
        self.root = os.path.join(root, f"rig{n}")
        os.makedirs(self.root)
        self.profile = f"bench-tls-{n}"
        self.standins = []
        self.reconnect = self.add(Hydra(self.root, cache, tls=tls, idle_close=RECONNECT_IDLE_S,
                                        name="hydra-reconnect"))
        self.kept = self.add(Hydra(self.root, cache, tls=tls, idle_close=KEPT_IDLE_S,
                                   name="hydra-kept"))
        self.aws = self.add(Aws(self.root, tls=tls, idle_close=RECONNECT_IDLE_S))
        self.imds = self.add(Imds(self.root))
        for hydra in (self.reconnect, self.kept):
            for out in outs:                # the same ids as the plain stand-in's
                hydra.publish(out)
        creds = role_credentials(1)
        self.imds.configure(iam_role="hail-node", iam_credentials=creds)
        self.aws.configure(
            credentials=[{"AccessKeyId": creds["AccessKeyId"], "Token": creds["Token"],
                          "SecretAccessKey": creds["SecretAccessKey"], "expired": False}],
            parameters={CONTROL_PARAMETER: {"Type": "String",
                                            "Value": json.dumps({"pause": False, "pin": None})}})

    def add(self, standin):
        self.standins.append(standin)
        return standin

    def stop(self):
        for s in self.standins:
            s.stop()


def trust_test_ca(ca, tmp):
    """Bind-mounts the host's bundle plus the test CA over BUNDLE, in this
    private mount namespace only; returns (mounted file, certificates in it)."""
    if os.environ.get("HAIL_E2E_NS") != "1":
        raise CannotMeasure("not in the bench's private mount namespace: refusing to "
                            f"bind-mount over {BUNDLE}")
    with open(BUNDLE) as f:
        host = f.read()
    with open(ca) as f:
        test_ca = f.read()
    combined = os.path.join(tmp, "ca-certificates-with-test-ca.crt")
    with open(combined, "w") as f:
        f.write(host + ("" if host.endswith("\n") else "\n") + test_ca)
    harness.run(["mount", "--bind", combined, BUNDLE])
    return combined, (host + test_ca).count("-----BEGIN CERTIFICATE-----")


def tls_version(port):
    """The protocol a client with the system's (combined) bundle gets."""
    ctx = ssl.create_default_context(cafile=BUNDLE)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            return s.version()


class Bench:
    def __init__(self, hail, floor, client, tmp, cg_dir):
        self.hail, self.floor, self.client, self.tmp = hail, floor, client, tmp
        self.cg_dir = cg_dir        # callgrind files: writable by the fetcher's user

    def argv(self, config, rig):
        hydra = getattr(rig, config.stand_in)
        if config.program == "floor":
            return [self.floor, f"{hydra.job_uri}/latest", self.client.netrc, str(PERIOD_S),
                    config.mode]
        program = HAIL_BEFORE if config.program == "hail-before" else self.hail
        argv = [program, "--poll-period", f"{PERIOD_S}s", "--profile", rig.profile,
                "--job-uri", hydra.job_uri, "--netrc-file", self.client.netrc]
        if config.fleet:
            argv += ["--imds-endpoint", rig.imds.url,
                     "--control-ssm-parameter", CONTROL_PARAMETER]
        return argv

    def env(self, config, rig):
        return self.client.env(AWS_ENDPOINT_URL=rig.aws.url) if config.fleet else \
            self.client.env()

    def first_deployment(self, rig):
        """Puts the rig's profile on the latest build over HTTPS (the check
        that hail trusts the test CA), so that every measured poll is idle."""
        r = subprocess.run([self.hail, "--oneshot", "--profile", rig.profile,
                            "--job-uri", rig.reconnect.job_uri,
                            "--netrc-file", self.client.netrc],
                           env=self.client.env(), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=120)
        if r.returncode != 0:
            raise CannotMeasure(f"hail --oneshot over HTTPS failed ({r.returncode}):\n"
                                + r.stdout[-2000:])


def polls_answered(hydra):
    return sum(1 for e in hydra.stats()
               if e["path"].endswith("/latest") and e["status"] is not None)


class Run:
    """One callgrind run of a config on a rig, until its Hydra stand-in has
    answered `polls` polls."""

    def __init__(self, bench, config, polls, rig):
        self.config, self.polls, self.rig = config, polls, rig
        self.hydra = getattr(rig, config.stand_in)
        self.hydra.reset_stats()
        self.hydra.reset_tls()
        rig.aws.control("POST", "/calls/reset", {})
        rig.aws.reset_tls()
        name = config.key.replace(" ", "-")
        self.out = os.path.join(bench.cg_dir, f"callgrind.https.{name}.{polls}")
        self.poller = Poller(f"{config.key} (HTTPS) under callgrind",
                             ["valgrind", "--tool=callgrind",
                              f"--callgrind-out-file={self.out}.%p",
                              *bench.argv(config, rig)], bench.env(config, rig),
                             self.out + ".log")
        self.started = time.monotonic()
        # valgrind starts in seconds; the default CA mode parses the bundle
        # under callgrind for several seconds per connection
        self.timeout = 60 + polls * (PERIOD_S + 30)

    def ready_to_stop(self):
        """True once the Hydra stand-in has answered `polls` polls (and, with
        the fleet control on, the AWS stand-in as many GetParameter calls) and
        no stand-in of the rig has seen a request for SETTLE_S: the poll is
        over, whatever order its requests come in."""
        now = time.monotonic()
        self.poller.check_alive()
        answered = polls_answered(self.hydra)
        calls = self.rig.aws.calls() if self.config.fleet else []
        ssm = sum(1 for c in calls if c["operation"] == "GetParameter")
        activity = (len(self.hydra.stats()), len(calls))
        if activity != getattr(self, "activity", None):
            self.activity, self.active_at = activity, now
        if answered >= self.polls and (not self.config.fleet or ssm >= answered):
            return now - self.active_at >= SETTLE_S
        if now - self.started > self.timeout:
            raise CannotMeasure(f"{self.poller.name}: fewer than {self.polls} polls "
                                f"in {self.timeout} s:\n" + self.poller.text()[-2000:])
        return False

    def finish(self):
        """Stops the poller; the figures of the whole run (counted after the
        exit, so a poll that raced the SIGTERM is counted too)."""
        status, kids = self.poller.stop_tree(timeout=60)
        if status != 0:
            raise CannotMeasure(f"{self.poller.name} ended with {status}:\n"
                                + self.poller.text()[-2000:])
        tls = self.hydra.tls_stats()
        aws_tls = self.rig.aws.tls_stats()
        ssm = sum(1 for c in self.rig.aws.calls() if c["operation"] == "GetParameter")
        retries = self.poller.text().count("retried on a fresh connection")
        ir = callgrind_tree(self.out, self.poller.pid, kids, self.poller.text())
        return dict(ir=ir["root"] + ir["children"], ir_root=ir["root"],
                    ir_children=ir["children"], processes=ir["processes"],
                    polls=polls_answered(self.hydra),
                    handshakes=tls["handshakes"], resumed=tls["resumed"],
                    aws_handshakes=aws_tls["handshakes"], aws_resumed=aws_tls["resumed"],
                    ssm=ssm, retries=retries)


def run_all(bench, rigs):
    """Every config's two runs, len(rigs) at a time; returns {key: [run a, run b]}."""
    pending = [(c, n) for c in CONFIGS for n in POLLS]
    free, running, results = list(rigs), [], collections.defaultdict(dict)
    total = sum(60 + n * (PERIOD_S + 30) for _, n in pending)
    try:
        for _ in deadline_loop(total, "the HTTPS callgrind runs", step=0.05):
            while pending and free:
                config, n = pending.pop(0)
                running.append(Run(bench, config, n, free.pop(0)))
            for r in list(running):
                if r.ready_to_stop():
                    running.remove(r)
                    results[r.config.key][r.polls] = r.finish()
                    free.append(r.rig)
            if not pending and not running:
                return {k: [v[n] for n in POLLS] for k, v in results.items()}
    finally:
        for r in running:
            r.poller.stop(timeout=10)


def per_poll(key, a, b):
    """Steady-state figures per poll: the difference of the two runs."""
    polls = b["polls"] - a["polls"]
    if polls <= 0:
        raise CannotMeasure(f"{key}: the callgrind runs made {a['polls']} and {b['polls']} polls")
    if a["processes"] != b["processes"]:
        raise CannotMeasure(f"{key}: the callgrind runs had {a['processes']} and "
                            f"{b['processes']} processes")
    per = {k: (b[k] - a[k]) / polls for k in a if k not in ("polls", "processes")}
    per["polls"] = (a["polls"], b["polls"])
    per["processes"] = b["processes"]
    return per


def split(v):
    """A run's instructions per poll by process: root side / fetcher."""
    if v["processes"] == 1:
        return "one process"
    return (f"{fmt_instr(v['ir_root'])} root side + {fmt_instr(v['ir_children'])} "
            f"fetcher" + (f" ({v['processes'] - 1} children)" if v["processes"] > 2 else ""))


# ---------------------------------------------------------------------------
# The table

def fmt_instr(n):
    return f"{n / 1e6:.2f} million" if n >= 1e6 else f"{n / 1e3:.0f} thousand"


def met(ok):
    return "met" if ok else "NOT met"


def handshakes(r, prefix=""):
    return f"{r[prefix + 'handshakes']:.2f} ({r[prefix + 'resumed']:.2f})"


def table(r):
    floors = {m: r[f"floor {m}"] for m in MODES}
    best_mode = min(MODES, key=lambda m: floors[m]["ir"])
    best = floors[best_mode]["ir"]
    hail, kept, fleet = r["hail"], r["hail kept"], r["hail fleet"]
    x = hail["ir"] / best
    kept_x = kept["ir"] / r["floor kept"]["ir"]
    resumed_all = all(v["resumed"] >= v["handshakes"] > 0
                      for v in (hail, fleet, *floors.values()))
    rows = [
        (f"instructions per reconnecting HTTPS idle poll (server closes idle connections "
         f"after {RECONNECT_IDLE_S:g} s, {PERIOD_S} s period)",
         fmt_instr(hail["ir"]), *(fmt_instr(floors[m]["ir"]) for m in MODES),
         f"within 1.1x the best libcurl floor (`{best_mode}`) and under 5 million: "
         f"{x:.2f}x, {met(x <= 1.1 and hail['ir'] < 5e6)}"),
        ("TLS handshakes per reconnecting poll (of which resumed)",
         handshakes(hail), *(handshakes(floors[m]) for m in MODES),
         f"every reconnect resumed: {met(resumed_all)}"),
        ("with fleet control on: instructions per reconnecting idle poll, Hydra and SSM "
         "requests together (IMDS plain HTTP)",
         fmt_instr(fleet["ir"]), "n/a", "n/a", "n/a",
         f"under 10 million: {met(fleet['ir'] < 10e6)}"),
        ("with fleet control on: TLS handshakes per poll at Hydra / at SSM (of which resumed); "
         "SSM requests per poll",
         f"{handshakes(fleet)} / {handshakes(fleet, 'aws_')}; {fleet['ssm']:.2f}",
         "n/a", "n/a", "n/a", ""),
        (f"instructions per kept-alive HTTPS idle poll (server keeps connections "
         f"{KEPT_IDLE_S:g} s)",
         fmt_instr(kept["ir"]), fmt_instr(r["floor kept"]["ir"]), "", "",
         f"within 1.5x the floor: {kept_x:.2f}x, {met(kept_x <= 1.5)}"),
        ("TLS handshakes per kept-alive poll (of which resumed)",
         handshakes(kept), handshakes(r["floor kept"]), "", "", "0"),
    ]
    head = ("", "hail (this build: root side + fetcher)",
            "the floor, `default` (libcurl's CA file and path)",
            "the floor, `capath-null` (CA file kept)", "the floor, `blob` (CAINFO_BLOB)",
            "target (issue 16)")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    lines += ["", "hail's instructions per poll are summed over its processes; by process: "
              f"reconnecting {split(hail)}; with fleet control {split(fleet)}; "
              f"kept alive {split(kept)}. The floor is one process."]
    if "hail before" in r:
        before = r["hail before"]
        lines += ["", f"In the same run, hail before (HAIL_BEFORE={HAIL_BEFORE}): "
                  f"{fmt_instr(before['ir'])} per reconnecting HTTPS idle poll "
                  f"({split(before)}), handshakes {handshakes(before)}; "
                  f"this build: {fmt_instr(hail['ir'])} ({split(hail)})."]
    return "\n".join(lines)


def bench(hail, floor, client, plain_hydra, cache, tmp, cg_dir):
    """The HTTPS rows: returns the lines to print; callgrind's files go to
    cg_dir (measure.callgrind_dir). Raises CannotMeasure."""
    root = os.path.join(tmp, "https")
    os.makedirs(root)
    ca, cert, key = make_test_ca(os.path.join(root, "ca"))
    outs = [b["out"] for b in plain_hydra.control("GET", "/builds")["builds"]]
    rigs, mounted = [], False
    try:
        _, certs = trust_test_ca(ca, root)
        mounted = True
        for n in range(RIGS):
            rigs.append(Rig(root, cache, (cert, key), outs, n))
        b = Bench(hail, floor, client, root, cg_dir)
        for rig in rigs:
            b.first_deployment(rig)
        version = tls_version(rigs[0].reconnect.port)
        runs = run_all(b, rigs)
    finally:
        for rig in rigs:
            rig.stop()
        if mounted:
            subprocess.run(["umount", BUNDLE], check=False)
    r = {k: per_poll(k, *v) for k, v in runs.items()}
    lines = [
        f"HTTPS idle polls: TLS stand-ins on 127.0.0.1 ({version}, RSA-2048 certificate from "
        f"a throw-away CA), {certs} CAs in {BUNDLE} (the host's bundle plus the test CA, "
        f"bind-mounted in the bench's mount namespace), {PERIOD_S} s poll period. Per poll: "
        f"the callgrind Ir difference of two runs of {POLLS[0]} and {POLLS[1]} polls over "
        "their difference in polls, the same for the stand-ins' handshake counts.",
        "",
        table(r),
    ]
    for key, v in r.items():
        if v["retries"]:
            lines.append(f"\nnote: {key} retried {v['retries']:.2f} requests per poll on a "
                         "fresh connection (curl issue 18926: close_notify taken for a live "
                         "connection)")
        if v["polls"] != POLLS:
            lines.append(f"\nnote: {key}: the callgrind runs counted {v['polls'][0]} and "
                         f"{v['polls'][1]} polls")
    return lines
