"""Operating hail: rollback of a failed activation, manual switches and
holds, --wait-for-eval, the state file, hail status, metrics, sd_notify, and
two agents on one profile."""
import json
import os
import signal
import socket
import subprocess

from harness import HAIL, run, wait_for, run_tests

STATE = "/var/lib/hail/demo/state.json"
HOLD = "/var/lib/hail/demo/hold"
PROFILE = "/nix/var/nix/profiles/demo"


def failing(v):
    return f'echo {v} >> "$HAIL_TEST_ACTIVATIONS"; echo failing {v}; exit 3'


def state():
    with open(STATE) as f:
        return json.load(f)


def nix_env(*args):
    run(["nix-env", "--profile", PROFILE, *args])


def deploy(w, version, **args):
    out = w.publish(version, **args)
    rc, log = w.client.oneshot()
    assert rc == 0, log
    return out


def test_failed_activation_rolls_back_and_is_not_retried(w):
    v1 = w.publish(1)
    agent = w.client.start("--poll-period", "1s")
    agent.wait_log(r"activated build 1 ")
    v2 = w.publish(2, activate=failing(2))
    agent.wait_log(r"rolling /nix/var/nix/profiles/demo back to generation 1")
    agent.wait_log(r"activated generation 1 after the rollback")
    assert w.client.profile_target() == v1
    assert w.client.activation_log() == ["1", "2", "1"]
    agent.wait_log(r"build 2 failed to activate before: not trying it again")
    for n in (1, 2):                        # more polls: still not retried
        agent.signal(signal.SIGHUP)
        agent.wait_log(r"SIGHUP: polling now", count=n)
    assert agent.text().count("switching /nix/var/nix/profiles/demo") == 2
    s = state()
    assert s["failed"] == [{"build-id": 2, "store-path": v2}], s
    assert s["counters"]["rollbacks"] == 1 and s["mode"] == "held: failed build", s
    v3 = w.publish(3)
    agent.wait_log(r"activated build 3 ")
    assert w.client.profile_target() == v3
    assert state()["mode"] == "following"
    assert agent.stop() == 0


def test_retry_failed_tries_it_again(w):
    deploy(w, 1)
    w.publish(2, activate=failing(2))
    assert w.client.oneshot()[0] == 6
    rc, log = w.client.oneshot()
    assert rc == 8 and "held: failed build" in log, log    # build 1 activated again
    rc, log = w.client.oneshot("--retry-failed")
    assert rc == 6 and "forgetting 1 failed build" in log, log
    assert w.client.activation_log() == ["1", "2", "1", "1", "2", "1"]


def test_rollback_goes_to_the_generation_that_was_active(w):
    v1 = deploy(w, 1)
    deploy(w, 2)
    deploy(w, 3)
    nix_env("--switch-generation", "1")     # an operator goes back to 1
    rc, log = w.client.oneshot()
    assert rc == 8 and "switched by hand" in log, log
    w.publish(4, activate=failing(4))       # newer than 3: releases the hold
    rc, log = w.client.oneshot()
    assert rc == 6, log
    assert "releasing the hold" in log and "back to generation 1" in log, log
    # nix-env --rollback would have gone to generation 3
    assert w.client.profile_target() == v1


def test_manual_rollback_is_held_until_the_hold_file_goes(w):
    v1 = w.publish(1)
    agent = w.client.start("--poll-period", "1h")
    agent.wait_log(r"activated build 1 ")
    v2 = w.publish(2)
    agent.signal(signal.SIGHUP)
    agent.wait_log(r"activated build 2 ")
    nix_env("--rollback")
    agent.signal(signal.SIGHUP)
    agent.wait_log(r"was switched by hand from .*-hail-demo-2 to .*-hail-demo-1: holding")
    assert w.client.profile_target() == v1
    assert os.path.exists(HOLD)
    r = subprocess.run([HAIL, "status", "--profile", "demo"], capture_output=True, text=True)
    assert r.returncode == 0 and "demo: held: manual switch" in r.stdout, r.stdout
    assert "released by a build newer than 2" in r.stdout, r.stdout
    agent.signal(signal.SIGHUP)
    agent.wait_log(r"SIGHUP", count=2)
    agent.wait_log(r"is held", count=1)
    assert w.client.profile_target() == v1
    os.unlink(HOLD)
    agent.signal(signal.SIGHUP)
    agent.wait_log(r"removed: following Hydra again")
    agent.wait_log(r"activated build 2 ", count=2)
    assert w.client.profile_target() == v2
    assert agent.stop() == 0


def test_manual_pin_is_released_by_a_newer_build(w):
    v1 = deploy(w, 1)
    deploy(w, 2)
    nix_env("--rollback")
    rc, log = w.client.oneshot()
    assert rc == 8 and w.client.profile_target() == v1, log
    v3 = w.publish(3)
    rc, log = w.client.oneshot()
    assert rc == 0 and "build 3 is newer than 2: releasing the hold" in log, log
    assert w.client.profile_target() == v3 and not os.path.exists(HOLD)


def test_operator_hold_file_pins_until_removed(w):
    v1 = deploy(w, 1)
    with open(HOLD, "w"):
        pass
    w.publish(2)
    rc, log = w.client.oneshot()
    assert rc == 8 and "is held" in log, log
    assert w.client.profile_target() == v1
    os.unlink(HOLD)
    assert w.client.oneshot()[0] == 0


def test_wait_for_eval_deploys_only_finished_evaluations(w):
    v1 = deploy(w, 1)
    out2 = w.build(2)
    build2 = w.hydra.publish(out2, eval_finished=False)
    rc, log = w.client.oneshot("--wait-for-eval")
    assert rc == 0 and w.client.profile_target() == v1, log
    assert all(r["path"].endswith(("/latest-finished", "/build/1")) or
               not r["path"].startswith("/job") for r in w.hydra.stats()[-3:])
    w.hydra.control("POST", "/eval-finished", {"id": build2})
    rc, log = w.client.oneshot("--wait-for-eval")
    assert rc == 0 and w.client.profile_target() == out2, log


def test_state_file_and_status(w):
    v1 = deploy(w, 1)
    s = state()
    assert s["store-path"] == v1 and s["build-id"] == 1 and s["generation"] == 1, s
    assert s["last-poll"]["result"] == "ok" and s["last-activation"]["result"] == "success", s
    r = subprocess.run([HAIL, "status"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("demo: following\n  on build 1, generation 1: " + v1), r.stdout
    r = subprocess.run([HAIL, "status", "--json"], capture_output=True, text=True)
    assert json.loads(r.stdout)["demo"]["store-path"] == v1
    r = subprocess.run([HAIL, "status", "--profile", "nope"], capture_output=True, text=True)
    assert r.returncode == 1 and "no hail state for nope" in r.stderr


def test_profiles_a_slash_b_and_a_dash_b_keep_apart(w):
    w.publish(1)
    for profile in ("a/b", "a-b"):
        rc, log = w.client.oneshot(profile=profile)
        assert rc == 0, log
    assert sorted(os.listdir("/var/lib/hail")) == ["a%2Fb", "a-b"], os.listdir("/var/lib/hail")
    with open("/var/lib/hail/a-b/hold", "w"):
        pass                                    # holds a-b only
    w.publish(2)
    assert w.client.oneshot(profile="a/b")[0] == 0
    assert w.client.oneshot(profile="a-b")[0] == 8
    r = subprocess.run([HAIL, "status", "--json"], capture_output=True, text=True)
    assert set(json.loads(r.stdout)) == {"a/b", "a-b"}, r.stdout
    r = subprocess.run([HAIL, "status", "--profile", "a/b"], capture_output=True, text=True)
    assert r.stdout.startswith("a/b: following\n"), r.stdout


def test_status_json_escapes_names(w):
    w.publish(1)
    profile = '/nix/var/nix/profiles/we"b'
    rc, log = w.client.start("--oneshot", profile=profile).wait(), None
    assert rc == 0
    r = subprocess.run([HAIL, "status", "--json"], capture_output=True, text=True)
    assert json.loads(r.stdout)['we"b']["build-id"] == 1, r.stdout


def test_metrics_file(w):
    w.publish(1)
    metrics = os.path.join(w.root, "hail.prom")
    agent = w.client.start("--poll-period", "1s", "--metrics-file", metrics)
    agent.wait_log(r"activated build 1 ")
    w.hydra.fault("500", "latest", count=1)

    def has_error():
        try:
            with open(metrics) as f:
                text = f.read()
        except FileNotFoundError:
            return False
        return 'hail_poll_errors_total{profile="demo",kind="http"} 1' in text and text
    text = wait_for(has_error, 15, "a poll error in the metrics")
    assert 'hail_build_id{profile="demo"} 1\n' in text, text
    assert 'hail_activations_total{profile="demo",result="success"} 1\n' in text, text
    assert "# TYPE hail_last_poll_timestamp_seconds gauge" in text
    assert agent.stop() == 0


def test_systemd_notify(w):
    w.publish(1)
    path = os.path.join(w.root, "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(10)
    env = w.client.env(NOTIFY_SOCKET=path, WATCHDOG_USEC="400000")
    agent = w.client.start("--poll-period", "1h", env=env)
    messages = []

    def seen(prefix):
        return [m for m in messages if m.startswith(prefix)]
    # ready once set up, before the first poll's switch and activation (a
    # slow one must not hit the unit's start timeout); STATUS says what it
    # does, and the watchdog is fed meanwhile
    while not (seen("STATUS=following build 1") and seen("WATCHDOG=1")) and len(messages) < 50:
        messages.append(sock.recv(4096).decode())
    assert messages[0].startswith("READY=1\nSTATUS=starting"), messages
    assert seen("STATUS=polling "), messages
    assert seen("STATUS=following build 1"), messages
    assert agent.stop() == 0
    sock.close()


def test_ready_before_a_slow_first_activation(w):
    """A start whose first switch and activation outlast a start timeout is
    still ready at once: READY=1 comes before the first poll."""
    w.publish(1, activate='sleep 2; echo 1 >> "$HAIL_TEST_ACTIVATIONS"')
    path = os.path.join(w.root, "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(10)
    agent = w.client.start("--poll-period", "1h", env=w.client.env(NOTIFY_SOCKET=path))
    first = sock.recv(4096).decode()
    assert first.startswith("READY=1\nSTATUS=starting"), first
    assert "activated" not in agent.text(), agent.text()
    agent.wait_log(r"activated build 1 ")
    assert agent.stop() == 0
    sock.close()


def test_two_agents_never_interleave_a_switch(w):
    slow = ('echo start-{v} >> "$HAIL_TEST_ACTIVATIONS"; sleep 0.3; '
            'echo end-{v} >> "$HAIL_TEST_ACTIVATIONS"')
    w.publish(1, activate=slow.format(v=1))
    a = w.client.start("--poll-period", "1s")
    b = w.client.start("--poll-period", "1s")
    for v in range(2, 5):
        w.publish(v, activate=slow.format(v=v))
        wait_for(lambda: f"end-{v}" in w.client.activation_log(), 20, f"build {v}")
    log = w.client.activation_log()
    for i in range(0, len(log), 2):
        assert log[i].startswith("start-") and log[i + 1] == "end-" + log[i][6:], log
    assert a.stop() == 0 and b.stop() == 0


if __name__ == "__main__":
    run_tests([v for k, v in list(globals().items()) if k.startswith("test_")])
