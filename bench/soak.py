#!/usr/bin/python3
"""A machine that runs for years, compressed (issue 13): one polling agent
with --keep-generations 3 and --gc after-deploy takes N consecutive builds
(default 100, each 1 MiB unpacked) from the Hydra stand-in. After each deployment: the store's
size, the profile's generation count, and the agent's RSS, private memory
and open descriptors (root side and fetcher together). They should stay
flat: retention keeps the store from growing, and nothing leaks.

Usage (as root):  BUILD=build bench/soak.py [N]

Runs in a private mount namespace with the end-to-end harness (a fresh
/nix on tmpfs). Every wait has a deadline; prints a Markdown table every
tenth deployment and a summary line."""

import os
import shutil
import sys
import tempfile
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))
sys.path.insert(0, os.path.join(REPO, "bench"))
import harness  # noqa: E402  (needs the path above)
import measure  # noqa: E402

DEPLOY_DEADLINE_S = 60
PAD_MIB = "1"           # each build 1 MiB unpacked: the store's growth shows


def store_bytes():
    total = 0
    for dirpath, _dirs, files in os.walk("/nix/store"):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_size
            except FileNotFoundError:
                pass
    return total


def tree(pid):
    return [pid] + measure.children(pid)


def agent_figures(pid):
    rss = anon = fds = 0
    for p in tree(pid):
        with open(f"/proc/{p}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1])
                elif line.startswith("RssAnon:"):
                    anon += int(line.split()[1])
        fds += len(os.listdir(f"/proc/{p}/fd"))
    return rss, anon, fds


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    harness.enter_namespace()
    root = tempfile.mkdtemp(prefix="hail-soak-")
    w = harness.World(root)
    started = time.monotonic()
    rows = []
    try:
        w.publish(1, padMiB=PAD_MIB)
        agent = w.client.start("--poll-period", "1s", "--keep-generations", "3",
                               "--gc", "after-deploy")
        for v in range(1, n + 1):
            if v > 1:
                w.publish(v, padMiB=PAD_MIB)
            agent.wait_log(r"activated build %d " % v, timeout=DEPLOY_DEADLINE_S)
            # the pruning and the collection follow the activation
            # from the fourth on, each deployment prunes one generation and
            # then collects; sampled once that is over (the fetcher the only
            # child left)
            if v > 3:
                agent.wait_log(r"garbage collection freed", count=v - 3, timeout=30)
            harness.wait_for(lambda: len(measure.children(agent.proc.pid)) == 1, 30,
                             "the agent to be idle")
            rss, anon, fds = agent_figures(agent.proc.pid)
            rows.append((v, store_bytes(), len(w.client.generations()), rss, anon, fds))
        agent.stop()
    finally:
        w.close()
        shutil.rmtree(root, ignore_errors=True)
    print(f"{n} consecutive deployments, --keep-generations 3 --gc after-deploy, "
          f"1 s poll period ({time.monotonic() - started:.0f} s)\n")
    print("| deployment | store (KiB) | generations | RSS, root side + fetcher (KiB) "
          "| RssAnon (KiB) | open fds |")
    print("|---|---|---|---|---|---|")
    for v, store, gens, rss, anon, fds in rows:
        if v in (1, 2, 3, 4, 5) or v % 10 == 0:
            print(f"| {v} | {store // 1024} | {gens} | {rss} | {anon} | {fds} |")
    later = rows[len(rows) // 10:]     # after the first tenth: warmed up
    for name, k in (("store", 1), ("RSS", 3), ("RssAnon", 4), ("fds", 5)):
        vals = [r[k] for r in later]
        print(f"\n{name}: min {min(vals)}, max {max(vals)} over deployments "
              f"{later[0][0]}-{later[-1][0]}", end="")
    print()


if __name__ == "__main__":
    main()
