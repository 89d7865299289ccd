"""Rollback when the new build cuts the machine off (--contact-timeout).

A build's own bin/activate cuts the way to Hydra (it lays a standing "reset"
fault on the stand-in's job requests through its control API, as a build
that breaks the network or the firewall would) and the earlier build's
activate mends it, so the outcome follows from which build the profile is
on. The outage test cuts once and mends only when the test says so."""
import json
import os
import signal

from harness import SLOW, run_tests, wait_for

STATE = "/var/lib/hail/demo/state.json"
CONTACT_S = max(4, 2 * SLOW)            # valgrind: every step is slower

CUT = ('curl -sf -X POST -H "Content-Type: application/json" '
       '-d \'{"kind": "reset", "target": "latest"}\' "$HAIL_TEST_HYDRA_CONTROL/fault" >/dev/null')
REFUSE = ('curl -sf -X POST -H "Content-Type: application/json" '
          '-d \'{"kind": "401", "target": "latest"}\' "$HAIL_TEST_HYDRA_CONTROL/fault" >/dev/null')
FIREWALL = ('curl -sf -X POST -d \'{"new_connections": "%s"}\' '
            '"$HAIL_TEST_HYDRA_CONTROL/firewall" >/dev/null')
MEND = 'curl -sf -X POST -d "{}" "$HAIL_TEST_HYDRA_CONTROL/fault/clear" >/dev/null'


def logging(v, then=""):
    return f'echo "activated {v}"; echo {v} >> "$HAIL_TEST_ACTIVATIONS"; {then}'


def cut_once(v):
    """Cuts the way to Hydra the first time it activates, not after."""
    return (f'grep -qx {v} "$HAIL_TEST_ACTIVATIONS" 2>/dev/null || {{ {CUT}; }}; '
            + logging(v))


def state():
    with open(STATE) as f:
        return json.load(f)


def env(w):
    return w.client.env(HAIL_TEST_HYDRA_CONTROL=f"http://127.0.0.1:{w.hydra.control_port}")


def start(w, *extra):
    return w.client.start("--poll-period", "1h", "--contact-timeout", f"{CONTACT_S}s",
                          *extra, env=env(w))


def deploy_a_build_that_cuts(w):
    """Build 1 (which mends the way to Hydra) deployed, then build 2 (which
    cuts it) switched to: returns the agent, build 1's path and build 2's id."""
    p1 = w.publish(1, activate=logging(1, MEND))
    agent = start(w)
    agent.wait_log(r"activated build \d+ in")
    id2 = w.hydra.publish(w.build(2, activate=logging(2, CUT)))
    agent.signal(signal.SIGHUP)
    agent.wait_log(r"Hydra must answer within %ds" % CONTACT_S)
    return agent, p1, id2


def test_build_that_cuts_contact_is_rolled_back_and_blamed(w):
    agent, p1, id2 = deploy_a_build_that_cuts(w)
    agent.wait_log(r"no answer from Hydra since build %d was activated" % id2,
                   timeout=CONTACT_S + 20)
    agent.wait_log(r"build %d cut this machine off" % id2, timeout=CONTACT_S + 20)
    # the decision is logged before its step is saved
    wait_for(lambda: "journal" not in state(), 10, "the check's end saved")
    assert w.client.profile_target() == p1
    assert w.client.activation_log() == ["1", "2", "1"], w.client.activation_log()
    s = state()
    assert s["mode"] == "held: failed build", s["mode"]
    assert [f["build-id"] for f in s["failed"]] == [id2], s["failed"]
    assert s["counters"]["contact-rollbacks"] == 1, s["counters"]
    assert "journal" not in s, s["journal"]
    assert s["last-good"]["store-path"] == p1
    # not retried: another poll leaves it on build 1
    agent.signal(signal.SIGHUP)
    agent.wait_log(r"SIGHUP: polling now", count=2)
    wait_for(lambda: state()["last-poll"]["result"] == "ok", 10, "a successful poll")
    assert w.client.activation_log() == ["1", "2", "1"], w.client.activation_log()
    agent.stop()


def test_outage_for_both_builds_is_not_blamed(w):
    w.publish(1)
    agent = start(w)
    agent.wait_log(r"activated build \d+ in")
    p2 = w.build(2, activate=cut_once(2))
    id2 = w.hydra.publish(p2)
    agent.signal(signal.SIGHUP)
    agent.wait_log(r"no answer from Hydra since build %d" % id2, timeout=CONTACT_S + 20)
    agent.wait_log(r"an outage, not build %d" % id2, timeout=2 * CONTACT_S + 30)
    wait_for(lambda: "journal" not in state(), 10, "the check's end saved")
    s = state()
    assert s["failed"] == [], s["failed"]
    assert w.client.activation_log() == ["1", "2", "1"], w.client.activation_log()
    w.hydra.clear_faults()              # Hydra is back
    agent.signal(signal.SIGHUP)
    agent.wait_log(r"Hydra answered after build %d was activated: contact confirmed" % id2,
                   timeout=CONTACT_S + 20)
    wait_for(lambda: "journal" not in state(), 10, "the check's end saved")
    assert w.client.profile_target() == p2
    assert w.client.activation_log() == ["1", "2", "1", "2"], w.client.activation_log()
    s = state()
    assert s["last-good"]["store-path"] == p2 and s["failed"] == [], s
    assert s["mode"] == "following", s["mode"]
    agent.stop()


def test_answered_build_is_confirmed_and_prunes_after(w):
    """Any answer confirms (here a 401: the build broke the password), and
    the old generations are pruned only once the build is confirmed."""
    w.publish(1)
    agent = start(w, "--keep-generations", "1")
    agent.wait_log(r"activated build \d+ in")
    p2 = w.build(2, activate=logging(2, REFUSE))
    w.hydra.publish(p2)
    agent.signal(signal.SIGHUP)
    agent.wait_log(r"contact confirmed", timeout=CONTACT_S + 20)
    agent.wait_log(r"deleted 1 old generation")
    wait_for(lambda: state()["last-good"]["store-path"] == p2, 10, "the confirmation saved")
    log = agent.text()
    assert log.index("contact confirmed") < log.index("deleted 1 old generation"), log
    assert "rolling" not in log, log
    assert state()["last-good"]["store-path"] == p2
    assert len(w.client.generations()) == 1
    agent.stop()


def test_oneshot_runs_the_check_to_its_end(w):
    p1 = w.publish(1, activate=logging(1, MEND))
    rc, log = w.client.oneshot(env=env(w))
    assert rc == 0, log
    p2 = w.build(2, activate=logging(2, CUT))
    id2 = w.hydra.publish(p2)
    rc, log = w.client.oneshot("--contact-timeout", f"{CONTACT_S}s", env=env(w),
                               timeout=3 * CONTACT_S + 60)
    assert rc != 0, log
    assert "build %d cut this machine off" % id2 in log, log
    assert w.client.profile_target() == p1
    assert w.client.activation_log() == ["1", "2", "1"], w.client.activation_log()


def test_killed_during_the_check_goes_on_after_a_restart(w):
    """The check is journaled: a restart during it keeps its deadline, and
    the start-up activation does not make the unconfirmed build good."""
    agent, p1, id2 = deploy_a_build_that_cuts(w)
    agent.proc.kill()
    agent.wait()
    s = state()
    assert s["journal"]["phase"] == "confirming", s.get("journal")
    assert s["last-good"]["store-path"] == p1
    agent = start(w)
    agent.wait_log(r"build %d cut this machine off" % id2, timeout=CONTACT_S + 30)
    assert w.client.profile_target() == p1
    agent.stop()
    assert os.path.exists(STATE)


def test_firewall_that_keeps_established_connections(w):
    """The build refuses new connections to Hydra but the one hail kept alive
    still works (a stateful firewall): the check asks through a new fetcher,
    so it sees the machine as the build left it."""
    p1 = w.publish(1, activate=logging(1, FIREWALL % "accept"))
    agent = start(w)
    agent.wait_log(r"activated build \d+ in")
    id2 = w.hydra.publish(w.build(2, activate=logging(2, FIREWALL % "refuse")))
    agent.signal(signal.SIGHUP)
    agent.wait_log(r"build %d cut this machine off" % id2, timeout=CONTACT_S + 30)
    assert w.client.profile_target() == p1
    agent.stop()


def test_contact_timeout_is_checked(w):
    rc, log = w.client.oneshot("--contact-timeout", "soon")
    assert rc == 2, log
    assert "--contact-timeout 'soon': not a period" in log, log


if __name__ == "__main__":
    run_tests([test_build_that_cuts_contact_is_rolled_back_and_blamed,
               test_outage_for_both_builds_is_not_blamed,
               test_answered_build_is_confirmed_and_prunes_after,
               test_oneshot_runs_the_check_to_its_end,
               test_killed_during_the_check_goes_on_after_a_restart,
               test_firewall_that_keeps_established_connections,
               test_contact_timeout_is_checked])
