"""Deployment events (--event-command): the command sees each change of
outcome with the documented variables, and a failing or hanging command
never holds up or changes a deployment."""
import json
import os
import signal
import time

from harness import PASSWORD, run_tests, wait_for

STATE = "/var/lib/hail/demo/state.json"
VARS = ("HAIL_EVENT", "HAIL_PROFILE", "HAIL_BUILD_ID", "HAIL_STORE_PATH",
        "HAIL_PREVIOUS_STORE_PATH", "HAIL_JOB_URI", "HAIL_ERROR")


def recorder(w, then="", first=""):
    """An event command that appends its variables as one JSON line (after
    running first, before then)."""
    path = os.path.join(w.root, "on-event")
    out = os.path.join(w.root, "events.jsonl")
    with open(path, "w") as f:
        f.write("#!/usr/bin/python3\nimport json, os, sys\n" + first +
                f"line = json.dumps({{k: os.environ.get(k) for k in {VARS!r}}})\n"
                f"open({out!r}, 'a').write(line + '\\n')\n" + then)
    os.chmod(path, 0o755)
    return path


def events(w):
    try:
        with open(os.path.join(w.root, "events.jsonl")) as f:
            return [json.loads(line) for line in f]
    except FileNotFoundError:
        return []


def names(w):
    return [e["HAIL_EVENT"] for e in events(w)]


def failing(v):
    return f'echo {v} >> "$HAIL_TEST_ACTIVATIONS"; echo failing {v}; exit 3'


def test_activation_failure_and_rollback_events(w):
    p1 = w.publish(1)
    agent = w.client.start("--poll-period", "1h", "--event-command", recorder(w))
    wait_for(lambda: names(w) == ["activated"], 20, "the activated event")
    e = events(w)[0]
    assert e == {"HAIL_EVENT": "activated", "HAIL_PROFILE": "/nix/var/nix/profiles/demo",
                 "HAIL_BUILD_ID": "1", "HAIL_STORE_PATH": p1, "HAIL_PREVIOUS_STORE_PATH": "",
                 "HAIL_JOB_URI": w.hydra.job_uri, "HAIL_ERROR": ""}, e
    p2 = w.build(2, activate=failing(2))
    id2 = w.hydra.publish(p2)
    agent.signal(signal.SIGHUP)
    wait_for(lambda: names(w)[1:] == ["activation-failed", "rolled-back", "held"], 20,
             "the failure's events")
    failed, rolled, held = events(w)[1:]
    assert failed["HAIL_BUILD_ID"] == str(id2) and failed["HAIL_STORE_PATH"] == p2
    assert failed["HAIL_PREVIOUS_STORE_PATH"] == p1
    assert "bin/activate exited with status 3" in failed["HAIL_ERROR"], failed
    assert rolled["HAIL_STORE_PATH"] == p1 and rolled["HAIL_PREVIOUS_STORE_PATH"] == p2, rolled
    assert held["HAIL_BUILD_ID"] == str(id2), held
    assert all(PASSWORD not in json.dumps(x) for x in events(w))
    # no change, no event
    agent.signal(signal.SIGHUP)
    agent.wait_log(r"SIGHUP: polling now", count=2)
    wait_for(lambda: json.load(open(STATE))["last-poll"]["result"] == "ok", 10, "the poll")
    agent.stop()
    assert len(events(w)) == 4, names(w)


def test_health_check_failure_event(w):
    w.publish(1)
    assert w.client.oneshot()[0] == 0
    w.publish(2, healthCheck="exit 1")
    rc, log = w.client.oneshot("--event-command", recorder(w))
    assert rc != 0, log
    wait_for(lambda: "health-check-failed" in names(w), 10, "the event")
    assert names(w)[:2] == ["health-check-failed", "rolled-back"], names(w)


def test_hold_file_event(w):
    w.publish(1)
    agent = w.client.start("--poll-period", "1h", "--event-command", recorder(w))
    wait_for(lambda: names(w) == ["activated"], 20, "the activated event")
    open("/var/lib/hail/demo/hold", "w").close()
    p2 = w.publish(2)
    agent.signal(signal.SIGHUP)
    wait_for(lambda: names(w) == ["activated", "held"], 20, "the held event")
    assert events(w)[1]["HAIL_STORE_PATH"] == p2
    agent.stop()


def test_failing_or_hanging_command_changes_nothing(w):
    w.publish(1)
    marker = os.path.join(w.root, "hanging")
    hang = (f"open({marker!r}, 'a').write(str(os.getpid()))\n"
            "import time; time.sleep(600)\n")
    t0 = time.monotonic()
    rc, log = w.client.oneshot("--event-command", recorder(w, hang))
    took = time.monotonic() - t0
    assert rc == 0, log
    assert os.path.exists(marker)        # it ran, and still hangs
    assert took < 25, took               # far below the command's 30 s limit
    # the hanging command goes now, not at its 30 s limit: its environment
    # names a store path, and Nix's collector takes that for a root
    os.kill(int(open(marker).read()), signal.SIGKILL)
    w.publish(2)
    rc, log = w.client.oneshot("--event-command", recorder(w, "sys.exit(7)\n"))
    assert rc == 0, log
    assert w.client.profile_target() == w.build(2)
    wait_for(lambda: "exited with status 7 (the deployment goes on)" in
             w.client.agents[-1].text(), 10, "the failure logged")
    missing = os.path.join(w.root, "no-such-command")
    w.publish(3)
    rc, log = w.client.oneshot("--event-command", missing)
    assert rc == 0, log
    # posix_spawn says ENOENT; under valgrind (fork and exec) the child exits 127
    assert "cannot run it" in log or "exited with status 127" in log, log


def test_paused_and_reboot_requested_events(w):
    from test_reboot import reboot_command, window_around_now
    p1 = w.build(1, rebootRequired="exit 0")
    id1 = w.hydra.publish(p1)
    window, iid = window_around_now(id1)
    agent = w.client.start("--poll-period", "1s", "--imds-endpoint", w.imds.url,
                           "--reboot-window", window, "--instance-id", iid,
                           "--reboot-command", reboot_command(w),
                           "--event-command", recorder(w))
    wait_for(lambda: names(w) == ["activated", "reboot-requested"], 20, "the reboot's event")
    e = events(w)[1]
    assert e["HAIL_BUILD_ID"] == str(id1) and e["HAIL_STORE_PATH"] == p1, e
    w.imds.set_tags({"hail:pause": "true"})
    agent.wait_log(r"paused by tag hail:pause")
    p2 = w.publish(2)
    wait_for(lambda: "paused" in names(w), 20, "the paused event")
    e = events(w)[-1]
    assert e["HAIL_EVENT"] == "paused" and e["HAIL_STORE_PATH"] == p2, e
    assert e["HAIL_PREVIOUS_STORE_PATH"] == p1 and "tag hail:pause" in e["HAIL_ERROR"], e
    agent.stop()
    assert names(w).count("paused") == 1, names(w)
test_paused_and_reboot_requested_events.imds_args = ["--tags-enabled"]


def test_events_of_back_to_back_polls_keep_their_order(w):
    """The activation's event is slow to record; the reboot it asks for is
    the very next poll's event. The second run waits for the first."""
    from test_reboot import reboot_command, window_around_now
    p1 = w.build(1, rebootRequired="exit 0")
    id1 = w.hydra.publish(p1)
    window, iid = window_around_now(id1)
    fds = os.path.join(w.root, "fds")
    slow = ("import time\n"
            f"open({fds!r}, 'a').write(' '.join(os.listdir('/proc/self/fd')) + '\\n')\n"
            "if os.environ['HAIL_EVENT'] == 'activated': time.sleep(2)\n")
    agent = w.client.start("--poll-period", "1h", "--reboot-window", window,
                           "--instance-id", iid, "--reboot-command", reboot_command(w),
                           "--event-command", recorder(w, first=slow))
    agent.wait_log(r"reboot-window is open: rebooting")
    wait_for(lambda: len(names(w)) == 2, 20, "both events")
    assert names(w) == ["activated", "reboot-requested"], names(w)
    # stdio, and the descriptor of the listing and the file written (not
    # the pipes that keep the runs in order)
    for line in open(fds):
        assert sorted(map(int, line.split())) == [0, 1, 2, 3, 4], line
    agent.stop()


def test_event_command_is_checked(w):
    rc, log = w.client.oneshot("--event-command", "notify-slack")
    assert rc == 2, log
    assert "event-command 'notify-slack': not an absolute path" in log, log


if __name__ == "__main__":
    run_tests([test_activation_failure_and_rollback_events, test_health_check_failure_event,
               test_hold_file_event, test_failing_or_hanging_command_changes_nothing,
               test_paused_and_reboot_requested_events,
               test_events_of_back_to_back_polls_keep_their_order, test_event_command_is_checked])
