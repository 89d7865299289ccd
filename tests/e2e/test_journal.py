"""The deployment core's journal: a crash, a full state disk or SIGTERM at
each step (between a switch and its activation, during an activation, during
a rollback) is finished at the next start, and hail never reports a build
current whose activation did not succeed.

The crashes are deterministic: a nix-env wrapper (first in PATH) or the
build's own bin/activate kills hail (its parent) with SIGKILL once, at the
step the test aims at."""
import json
import os
import signal
import subprocess

from harness import HAIL, run, run_tests, wait_for

STATE = "/var/lib/hail/demo/state.json"
PROFILE = "/nix/var/nix/profiles/demo"

# Runs the real nix-env, then, once (the marker), does what KILL_WHAT says
# after the operation named by KILL_AFTER (--set or --switch-generation).
NIX_ENV_WRAPPER = """#!/bin/sh
real=$(PATH=$REAL_PATH command -v nix-env)
"$real" "$@"; rc=$?
case " $* " in
*" $KILL_AFTER "*)
	if [ $rc -eq 0 ] && [ ! -e "$MARKER" ]; then
		: > "$MARKER"
		case $KILL_WHAT in
		kill) kill -9 $PPID ;;
		fill) dd if=/dev/zero of=/var/lib/hail/fill bs=4096 2>/dev/null ;;
		esac
	fi ;;
esac
exit $rc
"""


def state():
    with open(STATE) as f:
        return json.load(f)


def wrapped_env(w, after, what="kill"):
    d = os.path.join(w.root, "wrap")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "nix-env"), "w") as f:
        f.write(NIX_ENV_WRAPPER)
    os.chmod(os.path.join(d, "nix-env"), 0o755)
    env = w.client.env()
    return dict(env, PATH=d + ":" + env["PATH"], REAL_PATH=env["PATH"], KILL_AFTER=after,
                KILL_WHAT=what, MARKER=os.path.join(w.root, "killed"))


def killed_once(w, activate_rest, v):
    """An activate that kills hail the first time it runs, then does its
    work: a crash during the activation."""
    marker = os.path.join(w.root, f"killed-{v}")
    return (f'if [ ! -e {marker} ]; then : > {marker}; echo {v}-killed >> '
            f'"$HAIL_TEST_ACTIVATIONS"; kill -9 $PPID; sleep 5; fi; {activate_rest}')


def failing(v):
    return f'echo {v} >> "$HAIL_TEST_ACTIVATIONS"; exit 3'


def deploy(w, version, **args):
    out = w.publish(version, **args)
    rc, log = w.client.oneshot()
    assert rc == 0, log
    return out


def status():
    return subprocess.run([HAIL, "status", "--profile", "demo"], capture_output=True,
                          text=True).stdout


def converged_on(out):
    """The profile on out, and the state saying so; a state file read before
    the activation's save has no last good build yet: not converged."""
    s = state()
    return (os.path.realpath(PROFILE) == out and
            s.get("last-good", {}).get("store-path") == out and "journal" not in s and s)


def test_killed_between_switch_and_activation(w):
    v1 = deploy(w, 1)
    v2 = w.publish(2)
    rc, log = w.client.oneshot(env=wrapped_env(w, "--set"))
    assert rc == -signal.SIGKILL, log
    assert w.client.profile_target() == v2 and w.client.activation_log() == ["1"]
    s = state()
    assert s["journal"]["phase"] == "switching" and s["journal"]["to"]["store-path"] == v2, s
    assert s["last-good"]["store-path"] == v1, s
    assert "unfinished: switching " + v2 in status(), status()
    agent = w.client.start("--poll-period", "1h")
    agent.wait_log(r"switched to .*-hail-demo-2 by an interrupted switch but its activation "
                   r"did not finish: activating it now")
    agent.wait_log(r"activated build 2 ")
    wait_for(lambda: converged_on(v2), 10, "the state to say build 2 is good")
    assert w.client.activation_log() == ["1", "2"]
    assert state()["build-id"] == 2 and state()["mode"] == "following"
    assert agent.stop() == 0


def test_killed_during_the_activation(w):
    deploy(w, 1)
    v2 = w.publish(2, activate=killed_once(w, 'echo 2 >> "$HAIL_TEST_ACTIVATIONS"', 2))
    rc, log = w.client.oneshot()
    assert rc == -signal.SIGKILL, log
    assert state()["journal"]["phase"] == "activating", state()
    assert w.client.activation_log() == ["1", "2-killed"]
    rc, log = w.client.oneshot()
    assert rc == 0, log
    assert "its activation did not finish: activating it now" in log, log
    assert w.client.activation_log() == ["1", "2-killed", "2"]
    assert converged_on(v2)


def test_killed_during_a_rollback(w):
    v1 = deploy(w, 1)
    w.publish(2, activate=failing(2))
    rc, log = w.client.oneshot(env=wrapped_env(w, "--switch-generation"))
    assert rc == -signal.SIGKILL, log
    assert w.client.profile_target() == v1          # switched back, not activated
    s = state()
    assert s["journal"]["phase"] == "rolling-back" and s["journal"]["to"]["generation"] == 1, s
    assert w.client.activation_log() == ["1", "2"]
    agent = w.client.start("--poll-period", "1h")
    agent.wait_log(r"a rollback to generation 1 did not finish: finishing it")
    agent.wait_log(r"activated generation 1 after the rollback")
    wait_for(lambda: converged_on(v1), 10, "the rollback to be finished")
    assert w.client.activation_log() == ["1", "2", "1"]
    assert state()["mode"] == "held: failed build" and state()["build-id"] == 1
    assert agent.stop() == 0


def test_state_disk_full_after_the_switch(w):
    """The state write after nix-env --set fails: the activation still runs,
    and once there is space again the state says so; the build is never
    taken as current without it."""
    deploy(w, 1)
    run(["mount", "-o", "remount,size=256k", "/var/lib/hail"])
    v2 = w.publish(2)
    rc, log = w.client.oneshot(env=wrapped_env(w, "--set", "fill"))
    assert "No space left on device" in log, log
    assert w.client.activation_log() == ["1", "2"], log
    assert state()["journal"]["phase"] == "switching", state()     # the last write that fit
    os.unlink("/var/lib/hail/fill")
    rc, log = w.client.oneshot()
    assert rc == 0, log
    # the journal's switch is activated again (activations are idempotent)
    assert "its activation did not finish" in log, log
    assert w.client.activation_log() == ["1", "2", "2"], log
    assert converged_on(v2) and state()["build-id"] == 2


def test_a_failed_state_write_keeps_the_activations_error(w):
    """The full disk's error is a warning; the poll's error stays the
    activation's, and the rollback still happens."""
    v1 = deploy(w, 1)
    run(["mount", "-o", "remount,size=256k", "/var/lib/hail"])
    w.publish(2, activate=failing(2))
    rc, log = w.client.oneshot(env=wrapped_env(w, "--set", "fill"))
    assert rc == 6, log
    errors = [l for l in log.splitlines() if l.startswith("hail: error:")]
    assert errors[-1].startswith("hail: error: build 2 failed to activate"), log
    assert "No space left on device" in log and w.client.profile_target() == v1, log
    os.unlink("/var/lib/hail/fill")


def test_state_disk_full_before_the_switch(w):
    """Without the journal's record a switch is not started."""
    v1 = deploy(w, 1)
    run(["mount", "-o", "remount,size=256k", "/var/lib/hail"])
    w.publish(2)
    subprocess.run(["dd", "if=/dev/zero", "of=/var/lib/hail/fill", "bs=4096"],
                   capture_output=True)
    rc, log = w.client.oneshot()
    assert rc == 1 and "not switching to build 2" in log, log
    assert w.client.profile_target() == v1 and w.client.generations() == ["demo-1-link"]
    os.unlink("/var/lib/hail/fill")


def test_first_deployment_that_fails_is_not_current(w):
    w.publish(1, activate=failing(1))
    metrics = os.path.join(w.root, "hail.prom")
    rc, log = w.client.oneshot("--metrics-file", metrics)
    assert rc == 6, log
    assert "no earlier generation to roll back to" in log, log
    s = state()
    assert s["mode"] == "held: failed build" and s["last-success"] == 0, s
    assert "last-good" not in s, s
    agent = w.client.start("--poll-period", "1s", "--metrics-file", metrics)
    agent.wait_log(r"the profile is on build 1, which failed to activate, and has no "
                   r"earlier good generation")
    for n in (1, 2):
        agent.signal(signal.SIGHUP)
        agent.wait_log(r"SIGHUP: polling now", count=n)
    s = state()
    assert s["mode"] == "held: failed build" and s["last-success"] == 0, s
    assert "following" not in agent.text().replace("following http", ""), agent.text()
    with open(metrics) as f:
        text = f.read()
    assert 'hail_last_success_timestamp_seconds{profile="demo"} 0\n' in text, text
    assert 'hail_held{profile="demo"} 1\n' in text, text
    assert "last known good: none" in status(), status()
    v2 = w.publish(2)
    agent.wait_log(r"activated build 2 ")
    wait_for(lambda: converged_on(v2), 10, "build 2 to be good")
    assert agent.stop() == 0


def test_sigterm_during_an_activation_is_recorded(w):
    deploy(w, 1)
    v2 = w.publish(2, activate='kill -TERM $PPID; echo 2 >> "$HAIL_TEST_ACTIVATIONS"')
    agent = w.client.start("--poll-period", "1h")
    assert agent.wait(30) == 0, agent.text()
    assert "activated build 2 " in agent.text(), agent.text()
    s = state()
    assert s["build-id"] == 2 and s["last-good"]["store-path"] == v2, s
    assert s["last-activation"]["build-id"] == 2 and s["last-success"] > 0, s


def test_rollback_records_the_build_it_went_back_to(w):
    """After a manual rollback, a newer build releases the hold and fails:
    the rollback names build 1 (its own id), not build 2."""
    v1 = deploy(w, 1)
    deploy(w, 2)
    run(["nix-env", "--profile", PROFILE, "--rollback"])
    rc, log = w.client.oneshot()
    assert rc == 8, log
    w.publish(3, activate=failing(3))
    metrics = os.path.join(w.root, "hail.prom")
    rc, log = w.client.oneshot("--metrics-file", metrics)
    assert rc == 6 and "back to generation 1" in log, log
    s = state()
    assert s["store-path"] == v1 and s["build-id"] == 1, s
    assert s["last-good"] == {"store-path": v1, "build-id": 1, "generation": 1}, s
    with open(metrics) as f:
        assert 'hail_build_id{profile="demo"} 1\n' in f.read()
    # the next hold, if any, names build 1's own id too
    assert "on build 1, generation 1: " + v1 in status(), status()


if __name__ == "__main__":
    run_tests([v for k, v in list(globals().items()) if k.startswith("test_")])
