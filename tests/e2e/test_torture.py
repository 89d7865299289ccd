"""Crash safety: SIGKILL the polling agent at random moments during polls,
switches, activations and rollbacks. After each kill the profile is a
complete generation, state.json parses, and the journal accounts for the
profile: either a step is recorded as unfinished, or the profile is on the
last known good build (or on a build that failed with nothing to roll back
to). A restarted agent finishes the step and converges: on the latest build,
activated, or back on the last good one after a failed build.
TORTURE_TRIALS (default 12; `make torture` runs 200) and TORTURE_SEED set the
run; every trial is bounded in time."""
import json
import os
import random
import signal
import time

from harness import run_tests, wait_for

TRIALS = int(os.environ.get("TORTURE_TRIALS", "12"))
SEED = int(os.environ.get("TORTURE_SEED", "20261125"))
VERSIONS = 6
STATE = "/var/lib/hail/demo/state.json"
PROFILE = "/nix/var/nix/profiles/demo"


def read_state():
    with open(STATE) as f:
        return json.load(f)


def check_consistent(w):
    """The profile is a whole generation; the state file parses, and says
    either that a step is unfinished or that the profile is on its last
    known good (or failed) build."""
    if os.path.lexists(PROFILE):
        link = os.readlink(PROFILE)
        assert link.startswith("demo-") and link.endswith("-link"), link
        target = os.path.realpath(PROFILE)
        assert target.startswith("/nix/store/") and os.path.isdir(target), target
        assert os.access(os.path.join(target, "bin/activate"), os.X_OK), target
        if os.path.exists(STATE):
            s = read_state()
            failed = [f["store-path"] for f in s["failed"]]
            assert ("journal" in s or s.get("last-good", {}).get("store-path") == target or
                    target in failed), (target, s)


def converged(w, goal, mode):
    if w.client.profile_target() != goal or not os.path.exists(STATE):
        return False
    s = read_state()
    return (s["store-path"] == goal and s["mode"] == mode and "journal" not in s and
            s.get("last-good", {}).get("store-path") == goal)


def test_sigkill_at_random_moments(w):
    rng = random.Random(SEED)
    # stdout goes to the agent's own log: it tells where each kill landed
    act = 'echo activation-start; sleep 0.{v}; echo activation-end'
    bad = 'echo activation-start; sleep 0.{v}; echo activation-end; exit 1'
    builds = [w.build(v, activate=act.format(v=v)) for v in range(1, VERSIONS + 1)]
    w.hydra.publish(builds[0])
    good = builds[0]
    kills = {"poll": 0, "switch": 0, "activation": 0, "rollback": 0}
    mode = "following"
    start = time.monotonic()
    for trial in range(TRIALS):
        agent = w.client.start("--poll-period", "1s")
        aim = rng.choice(("poll", "switch", "activation", "rollback"))
        published = True
        if aim == "rollback":
            # a build that fails to activate: hail rolls back to the good one
            w.hydra.publish(w.build(100 + trial, activate=bad.format(v=trial % 3)))
            mode = "held: failed build"
        elif aim != "poll" or rng.random() < 0.5:
            good = builds[(builds.index(good) + 1) % VERSIONS]
            w.hydra.publish(good)
            mode = "following"
        else:
            published = False
        goal = good
        if published:
            # a SIGHUP before hail blocks it would end hail: wait for its start
            agent.wait_log(r"following ")
            agent.signal(signal.SIGHUP)
        # the random moment: after the event aimed at, plus a random delay
        # (sleeping here is the moment itself, not a wait for a condition)
        if aim == "poll":
            time.sleep(rng.uniform(0, 0.3))
        else:
            word = "hail: warning: rolling" if aim == "rollback" else "hail: switching"

            def reached():
                text = agent.text()
                at = text.find(word)
                return at >= 0 and (aim != "activation" or
                                    text.find("activation-start", at) >= 0)
            # checked every 2 ms: nix-env from a local cache takes tens of ms
            deadline = time.monotonic() + 20
            while not reached():
                assert time.monotonic() < deadline, f"trial {trial}: the {aim} did not begin"
                time.sleep(0.002)
            time.sleep(rng.uniform(0, 0.02 if aim == "switch" else 0.3))
        text = agent.text()
        # hail's own lines: nix-env says "switching profile" too
        last_switch = text.rfind("hail: switching")
        moment = ("rollback" if text.rfind("hail: warning: rolling") > last_switch >= 0 else
                  "activation" if text.count("activation-start") > text.count("activation-end")
                  else "switch" if last_switch >= 0 and "activation-start" not in text[last_switch:]
                  else "poll")
        kills[moment] += 1
        agent.proc.kill()
        agent.proc.wait(10)
        agent.log.close()
        check_consistent(w)
        survivor = w.client.start("--poll-period", "1s")
        wait_for(lambda: converged(w, goal, mode), 20,
                 f"trial {trial} (seed {SEED}, killed in the {moment}) to converge")
        survivor.proc.kill()
        survivor.proc.wait(10)
        survivor.log.close()
        check_consistent(w)
    print(f"torture: {TRIALS} trials, seed {SEED}, kills {kills}, failures 0, "
          f"{time.monotonic() - start:.1f}s", flush=True)


if __name__ == "__main__":
    run_tests([test_sigkill_at_random_moments])
