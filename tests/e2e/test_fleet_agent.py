"""Fleet features of the agent: bin/health-check, the staged rollout window,
and pause and pin through instance tags read live from the IMDS stand-in."""
import hashlib
import json
import os
import signal
import subprocess
import time

from harness import HAIL, SLOW, wait_for, run_tests

STATE = "/var/lib/hail/demo/state.json"
TAGS = ["--tags-enabled"]


def state(path=STATE):
    with open(path) as f:
        return json.load(f)


def status(*args):
    return subprocess.run([HAIL, "status", *args], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=30).stdout


def offset(identity, build_id, window):
    """The rollout rule as the README states it (agent/rollout.h)."""
    h = hashlib.sha256(f"{identity}\n{build_id}".encode()).digest()
    return int.from_bytes(h[:8], "big") % window


# --- health check -----------------------------------------------------------

def test_health_check_runs_after_activate(w):
    w.publish(1, healthCheck='echo checked >> "$HAIL_TEST_ACTIVATIONS"')
    metrics = os.path.join(w.root, "hail.prom")
    rc, log = w.client.oneshot("--metrics-file", metrics)
    assert rc == 0, log
    assert w.client.activation_log() == ["1", "checked"], log
    assert "health check of build 1 passed" in log, log
    h = state()["last-activation"]["health-check"]
    assert h["result"] == "success" and h["exit-status"] == 0, h
    with open(metrics) as f:
        text = f.read()
    assert 'hail_health_check_exit_status{profile="demo"} 0\n' in text, text
    assert "last health check: success" in status("--profile", "demo")


def test_failed_health_check_rolls_back(w):
    v1 = w.publish(1)
    agent = w.client.start("--poll-period", "1s")
    agent.wait_log(r"activated build 1 ")
    w.publish(2, healthCheck="echo unhealthy; exit 7")
    agent.wait_log(r"health check of build 2: .*bin/health-check exited with status 7")
    agent.wait_log(r"activated generation 1 after the rollback")
    assert w.client.profile_target() == v1
    s = state()
    assert s["failed"][0]["build-id"] == 2, s
    assert s["counters"]["health-checks-failed"] == 1, s
    agent.wait_log(r"build 2 failed to activate before: not trying it again")
    assert agent.stop() == 0


def test_health_check_timeout_counts_as_failure(w):
    w.publish(1, healthCheck="sleep 60")
    rc, log = w.client.oneshot("--health-check-timeout", "1s")
    assert rc == 6, log
    assert "timed out after 1." in log, log
    h = state()["last-activation"]["health-check"]
    assert h["result"] == "timeout" and h["exit-status"] == -1, h


# --- rollout window ---------------------------------------------------------

def pick_instance(build_id, window, lo, hi):
    """An instance id whose offset for build_id lies in [lo, hi)."""
    for n in range(10000):
        iid = f"i-{n:017x}"
        if lo <= offset(iid, build_id, window) < hi:
            return iid
    raise AssertionError("no instance id found")


def test_rollout_window_waits_for_this_machines_turn(w):
    w.publish(1)
    window = 8
    iid = pick_instance(2, window, 4, 6)
    agent = w.client.start("--poll-period", "1s", "--rollout-window", f"{window}s",
                           "--instance-id", iid)
    agent.wait_log(r"activated build 1 ")     # no build yet: taken at once
    v2 = w.publish(2)
    stoptime = [b for b in w.hydra.control("GET", "/builds")["builds"] if b["id"] == 2][0]
    at = stoptime["timestamp"] + offset(iid, 2, window)
    agent.wait_log(r"build 2 waits for this machine's turn in the rollout")
    assert state()["mode"] == "waiting: rollout"
    assert state()["rollout"] == {"build-id": 2, "adopt-at": at}, state()
    assert "rollout: build 2 waits for this machine's turn" in status("--profile", "demo")
    wait_for(lambda: w.client.profile_target() == v2, window + 5, "build 2 after the turn")
    assert time.time() >= at, (time.time(), at)
    assert "rollout" not in state()
    assert agent.stop() == 0


def test_rollout_window_spreads_a_fleet(w):
    """Six machines (profiles, instance ids) take build 2 at their own turns."""
    w.publish(1)
    window = 6
    ids = [f"i-spread{n:09x}" for n in range(6)]
    agents = []
    for n, iid in enumerate(ids):
        agents.append(w.client.start("--poll-period", "1s", "--rollout-window", f"{window}s",
                                     "--instance-id", iid, "--state-dir", f"{w.root}/s{n}",
                                     profile=f"fleet/m{n}"))
    for a in agents:
        a.wait_log(r"activated build 1 ")
    v2 = w.publish(2)
    published = time.time()
    taken = {}

    def all_taken():
        for n in range(len(ids)):
            if n not in taken and w.client.profile_target(f"fleet/m{n}") == v2:
                taken[n] = time.time() - published
        return len(taken) == len(ids)
    wait_for(all_taken, window + 8, "every machine on build 2")
    offsets = [offset(iid, 2, window) for iid in ids]
    assert len(set(offsets)) > 2, offsets
    for n, off in enumerate(offsets):
        # integer finish times and 1 s polls: within 2.5 s of the rule
        assert off - 1.5 <= taken[n] <= off + 2.5 * SLOW, (n, off, taken)
    for a in agents:
        assert a.stop() == 0


# --- pause and pin by instance tags -----------------------------------------

def tagged_agent(w, *extra):
    return w.client.start("--poll-period", "1s", "--imds-endpoint", w.imds.url, *extra)


def test_tag_pause_stops_adoption_and_its_removal_resumes(w):
    w.publish(1)
    metrics = os.path.join(w.root, "hail.prom")
    agent = tagged_agent(w, "--metrics-file", metrics)
    agent.wait_log(r"activated build 1 ")
    w.imds.set_tags({"hail:pause": "true", "Name": "web"})
    agent.wait_log(r"paused by tag hail:pause: not adopting new builds")
    v1 = w.client.profile_target()
    w.publish(2)
    agent.wait_log(r"latest build of .* is 2")
    for n in (1, 2):
        agent.signal(signal.SIGHUP)
        agent.wait_log(r"SIGHUP: polling now", count=n)
    assert w.client.profile_target() == v1
    s = state()
    assert s["mode"] == "paused" and s["control"]["paused"] is True, s
    assert "paused by tag hail:pause" in status("--profile", "demo")
    with open(metrics) as f:
        assert 'hail_paused{profile="demo"} 1\n' in f.read()
    w.imds.set_tags({"Name": "web"})
    agent.wait_log(r"pause lifted")
    agent.wait_log(r"activated build 2 ")
    assert state()["mode"] == "following"
    assert agent.stop() == 0
test_tag_pause_stops_adoption_and_its_removal_resumes.imds_args = TAGS


def test_tag_pause_until_a_time_ends_by_itself(w):
    w.publish(1)
    agent = tagged_agent(w)
    agent.wait_log(r"activated build 1 ")
    until = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() + 3))
    w.imds.set_tags({"hail:pause": until})
    agent.wait_log(r"paused by tag hail:pause until ")
    w.publish(2)
    agent.wait_log(r"pause lifted", timeout=15)
    agent.wait_log(r"activated build 2 ")
    assert agent.stop() == 0
test_tag_pause_until_a_time_ends_by_itself.imds_args = TAGS


def test_tag_pin_holds_a_build(w):
    v1 = w.publish(1)
    agent = tagged_agent(w)
    agent.wait_log(r"activated build 1 ")
    w.imds.set_tags({"hail:pin": "1"})
    agent.wait_log(r"pinned to build 1 \(tag hail:pin\)")
    w.publish(2)
    agent.wait_log(r"latest build of .* is 2")
    agent.signal(signal.SIGHUP)
    agent.wait_log(r"SIGHUP: polling now")
    assert w.client.profile_target() == v1
    assert state()["mode"] == "pinned" and state()["control"]["pinned-build-id"] == 1
    w.imds.set_tags({"hail:pin": "2"})          # a pin moves the machine
    agent.wait_log(r"activated build 2 ")
    w.imds.set_tags({"hail:pin": "1"})          # back, as an operator's rollback
    agent.wait_log(r"activated build 1 ", count=2)
    assert w.client.profile_target() == v1
    w.imds.set_tags({})
    agent.wait_log(r"pin lifted")
    agent.wait_log(r"activated build 2 ", count=2)
    assert agent.stop() == 0
test_tag_pin_holds_a_build.imds_args = TAGS


def test_malformed_tag_keeps_what_was_said_before(w):
    w.publish(1)
    agent = tagged_agent(w)
    agent.wait_log(r"activated build 1 ")
    w.imds.set_tags({"hail:pause": "true"})
    agent.wait_log(r"paused by tag hail:pause")
    w.imds.set_tags({"hail:pause": "maybe; rm -rf /"})
    agent.wait_log(r"instance tags: tag hail:pause: pause 'maybe; rm -rf /': not true, false "
                   r"or an RFC 3339 time; keeping what it said before")
    w.publish(2)
    agent.wait_log(r"latest build of .* is 2")
    agent.signal(signal.SIGHUP)
    agent.wait_log(r"SIGHUP: polling now")
    assert state()["mode"] == "paused"
    assert agent.text().count("keeping what it said before") == 1   # logged once
    w.imds.set_tags({"hail:pause": "false"})
    agent.wait_log(r"instance tags: readable again")
    agent.wait_log(r"activated build 2 ")
    assert agent.stop() == 0
test_malformed_tag_keeps_what_was_said_before.imds_args = TAGS


def test_pin_to_a_build_that_does_not_exist(w):
    v1 = w.publish(1)
    agent = tagged_agent(w)
    agent.wait_log(r"activated build 1 ")
    w.imds.set_tags({"hail:pin": "99"})
    agent.wait_log(r"pin \(tag hail:pin\): GET .*/build/99: HTTP 404")
    assert w.client.profile_target() == v1
    w.imds.set_tags({})
    agent.wait_log(r"pin lifted")
    assert agent.stop() == 0
test_pin_to_a_build_that_does_not_exist.imds_args = TAGS


def test_oneshot_while_paused_activates_what_is_there(w):
    """At boot the service must be set up even when the fleet is paused."""
    v1 = w.publish(1)
    assert w.client.oneshot()[0] == 0
    w.publish(2)
    w.imds.set_tags({"hail:pause": "true"})
    rc, log = w.client.oneshot("--imds-endpoint", w.imds.url)
    assert rc == 8 and "is paused: not on build 2" in log, log
    assert w.client.profile_target() == v1
    assert w.client.activation_log() == ["1", "1"], log
test_oneshot_while_paused_activates_what_is_there.imds_args = TAGS


def test_pin_to_another_jobs_build_is_refused(w):
    w.publish(1)
    other = w.build(9)
    w.hydra.control("POST", "/publish", {"job": "proj/main/other", "out": other})
    agent = tagged_agent(w)
    agent.wait_log(r"activated build 1 ")
    w.imds.set_tags({"hail:pin": "2"})
    agent.wait_log(r"pinned build 2 is of job proj/main/other")
    assert w.client.profile_target() != other
    assert agent.stop() == 0
test_pin_to_another_jobs_build_is_refused.imds_args = TAGS


def test_fresh_machine_takes_a_build_while_paused(w):
    """A pause keeps machines where they are; one with nothing takes the
    target, so that scaling out during a pause does not leave it empty."""
    v1 = w.publish(1)
    w.publish(2)
    w.imds.set_tags({"hail:pause": "true", "hail:pin": "1"})
    rc, log = w.client.oneshot("--imds-endpoint", w.imds.url)
    assert rc == 0, log
    assert w.client.profile_target() == v1
    rc, log = w.client.oneshot("--imds-endpoint", w.imds.url)
    assert rc == 0, log                     # current: the pinned build
test_fresh_machine_takes_a_build_while_paused.imds_args = TAGS


def test_a_restart_while_imds_fails_keeps_the_pin(w):
    """A pin by tag survives a restart while IMDS answers 503: the tags'
    last word is kept in state.json, and nothing is deployed past it."""
    v1 = w.publish(1)
    agent = tagged_agent(w)
    agent.wait_log(r"activated build 1 ")
    w.imds.set_tags({"hail:pin": "1"})
    agent.wait_log(r"pinned to build 1 \(tag hail:pin\)")
    assert agent.stop() == 0
    w.publish(2)
    w.imds.configure(fail_first=100000, fail_mode="503")
    agent = tagged_agent(w)
    agent.wait_log(r"instance tags: .*503.*; keeping what it said before")
    agent.wait_log(r"latest build of .* is 2")
    for n in (1, 2):
        agent.signal(signal.SIGHUP)
        agent.wait_log(r"SIGHUP: polling now", count=n)
    assert "pin lifted" not in agent.text() and "activated build 2" not in agent.text()
    assert w.client.profile_target() == v1
    assert state()["mode"] == "pinned" and state()["control"]["pinned-build-id"] == 1
    w.imds.configure(fail_first=0)
    w.imds.set_tags({})
    agent.wait_log(r"pin lifted")
    agent.wait_log(r"activated build 2 ")
    assert agent.stop() == 0
test_a_restart_while_imds_fails_keeps_the_pin.imds_args = TAGS


def test_tags_off_keep_what_they_said(w):
    """Tags taken out of the metadata (404) are not "no tags": a pause they
    set stays, with one line saying why."""
    w.publish(1)
    agent = tagged_agent(w)
    agent.wait_log(r"activated build 1 ")
    w.imds.set_tags({"hail:pause": "true"})
    agent.wait_log(r"paused by tag hail:pause")
    w.imds.set_tags({}, enabled=False)
    agent.wait_log(r"instance tags: not in this instance's metadata")
    w.publish(2)
    agent.wait_log(r"latest build of .* is 2")
    agent.signal(signal.SIGHUP)
    agent.wait_log(r"SIGHUP: polling now")
    assert "pause lifted" not in agent.text() and state()["mode"] == "paused"
    assert agent.stop() == 0
test_tags_off_keep_what_they_said.imds_args = TAGS



# --- fleet settings from the fleet file -------------------------------------

def test_fleet_file_gives_an_agent_the_rollout_and_the_tags(w):
    """An agent set up by a profile's activation has only its profile.d
    config, which names the fleet file hail-bootstrap wrote: it waits for its
    turn in that file's rollout window and obeys the tags of its IMDS."""
    w.publish(1)
    window = 8
    iid = pick_instance(2, window, 4, 6)
    fleet = os.path.join(w.root, "fleet.json")
    with open(fleet, "w") as f:
        json.dump({"rollout-window": f"{window}s", "instance-id": iid,
                   "imds-endpoint": w.imds.url}, f)
    config = os.path.join(w.root, "demo.json")
    with open(config, "w") as f:
        json.dump({"profile": "demo", "job-uri": w.hydra.job_uri, "poll-period": "1s",
                   "netrc-file": w.client.netrc, "fleet-file": fleet}, f)
    agent = w.client.start(raw_args=["--config", config])
    agent.wait_log(r"activated build 1 ")     # no build yet: taken at once
    v2 = w.publish(2)
    stoptime = [b for b in w.hydra.control("GET", "/builds")["builds"] if b["id"] == 2][0]
    at = stoptime["timestamp"] + offset(iid, 2, window)
    agent.wait_log(r"build 2 waits for this machine's turn in the rollout")
    assert state()["rollout"] == {"build-id": 2, "adopt-at": at}, state()
    wait_for(lambda: w.client.profile_target() == v2, window + 5, "build 2 after the turn")
    assert time.time() >= at, (time.time(), at)
    w.imds.set_tags({"hail:pause": "true"})
    agent.wait_log(r"paused by tag hail:pause: not adopting new builds")
    w.publish(3)
    agent.wait_log(r"latest build of .* is 3")
    agent.signal(signal.SIGHUP)
    agent.wait_log(r"SIGHUP: polling now")
    assert w.client.profile_target() == v2 and state()["mode"] == "paused", state()
    assert agent.stop() == 0
test_fleet_file_gives_an_agent_the_rollout_and_the_tags.imds_args = TAGS


def test_a_broken_fleet_file_stops_the_agent(w):
    """A fleet file that cannot be parsed, or that names a job, is exit 2:
    its pause must never be dropped quietly, nor a job taken from it."""
    w.publish(1)
    fleet = os.path.join(w.root, "fleet.json")
    for text, message in (('{"rollout-window": ', "not valid JSON"),
                          ('{"job-uri": "http://127.0.0.1:1/job/a/b/c"}',
                           "key job-uri: not a fleet setting")):
        with open(fleet, "w") as f:
            f.write(text)
        rc, log = w.client.oneshot("--fleet-file", fleet)
        assert rc == 2 and f"fleet file {fleet}: " in log and message in log, log
    assert w.client.profile_target() is None
    os.unlink(fleet)          # none at all: a machine outside EC2
    rc, log = w.client.oneshot("--fleet-file", fleet)
    assert rc == 0 and "no fleet settings" in log, log


if __name__ == "__main__":
    run_tests([v for k, v in list(globals().items()) if k.startswith("test_")])
