"""Crash safety: SIGKILL the polling agent at random moments during polls,
switches and activations. After each kill the profile is a complete
generation and state.json parses; a restarted agent converges to the latest
build. TORTURE_TRIALS (default 12; `make torture` runs 200) and
TORTURE_SEED set the run; every trial is bounded in time."""
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


def check_consistent(w):
    """The profile is a whole generation; the state file parses."""
    if os.path.lexists(PROFILE):
        link = os.readlink(PROFILE)
        assert link.startswith("demo-") and link.endswith("-link"), link
        target = os.path.realpath(PROFILE)
        assert target.startswith("/nix/store/") and os.path.isdir(target), target
        assert os.access(os.path.join(target, "bin/activate"), os.X_OK), target
    if os.path.exists(STATE):
        with open(STATE) as f:
            json.load(f)


def converged(w, latest):
    if w.client.profile_target() != latest or not os.path.exists(STATE):
        return False
    with open(STATE) as f:
        s = json.load(f)
    return s["store-path"] == latest and s["mode"] == "following"


def test_sigkill_at_random_moments(w):
    rng = random.Random(SEED)
    # stdout goes to the agent's own log: it tells where each kill landed
    act = 'echo activation-start; sleep 0.{v}; echo activation-end'
    builds = [w.build(v, activate=act.format(v=v)) for v in range(1, VERSIONS + 1)]
    w.hydra.publish(builds[0])
    latest = builds[0]
    kills = {"poll": 0, "switch": 0, "activation": 0}
    start = time.monotonic()
    for trial in range(TRIALS):
        agent = w.client.start("--poll-period", "1s")
        aim = rng.choice(("poll", "switch", "activation"))
        if aim != "poll" or rng.random() < 0.5:
            latest = builds[(builds.index(latest) + 1) % VERSIONS]
            w.hydra.publish(latest)
            # a SIGHUP before hail blocks it would end hail: wait for its start
            agent.wait_log(r"following ")
            agent.signal(signal.SIGHUP)
        # the random moment: after the event aimed at, plus a random delay
        # (sleeping here is the moment itself, not a wait for a condition)
        if aim == "poll":
            time.sleep(rng.uniform(0, 0.3))
        else:
            def reached():
                text = agent.text()
                at = text.find("switching")
                return at >= 0 and (aim == "switch" or text.find("activation-start", at) >= 0)
            # checked every 2 ms: nix-env from a local cache takes tens of ms
            deadline = time.monotonic() + 20
            while not reached():
                assert time.monotonic() < deadline, f"trial {trial}: the {aim} did not begin"
                time.sleep(0.002)
            time.sleep(rng.uniform(0, 0.02 if aim == "switch" else 0.3))
        text = agent.text()
        last_switch = text.rfind("switching")
        moment = ("activation" if text.count("activation-start") > text.count("activation-end")
                  else "switch" if last_switch >= 0 and "activation-start" not in text[last_switch:]
                  else "poll")
        kills[moment] += 1
        agent.proc.kill()
        agent.proc.wait(10)
        agent.log.close()
        check_consistent(w)
        survivor = w.client.start("--poll-period", "1s")
        wait_for(lambda: converged(w, latest), 20,
                 f"trial {trial} (seed {SEED}, killed in the {moment}) to converge")
        survivor.proc.kill()
        survivor.proc.wait(10)
        survivor.log.close()
        check_consistent(w)
    print(f"torture: {TRIALS} trials, seed {SEED}, kills {kills}, failures 0, "
          f"{time.monotonic() - start:.1f}s", flush=True)


if __name__ == "__main__":
    run_tests([test_sigkill_at_random_moments])
