"""The fleet as one system, with CloudWatch (the AWS stand-in's query API,
every signature checked with botocore's signer): the fleet metrics
(--cloudwatch-metrics) with the documented dimensions and values, and the
halt alarm (--halt-alarm), which stops the adoption of a new build while it
is in ALARM, and fails closed when it is missing or cannot be read."""
import json
import os
import signal
import subprocess
import time

from harness import HAIL, run_tests, wait_for

STATE = "/var/lib/hail/demo/state.json"
ALARM = "hail-activation-failures"


def state():
    with open(STATE) as f:
        return json.load(f)


def agent(w, *extra, env=None):
    return w.client.start("--poll-period", "1s", "--imds-endpoint", w.imds.url,
                          "--halt-alarm", ALARM, *extra,
                          env=env or w.client.env(AWS_ENDPOINT_URL=w.aws.url))


def set_alarm(w, value):
    w.aws.configure(alarms={ALARM: value})


def describe_calls(w):
    return [c for c in w.aws.calls() if c["operation"] == "DescribeAlarms"]


def test_alarm_stops_adoption_and_ok_lets_it_in(w):
    """A build published while the alarm is in ALARM (a fix, say) waits for
    the alarm to clear, then goes in."""
    w.give_role()
    set_alarm(w, "OK")
    p1 = w.publish(1)
    metrics = os.path.join(w.root, "hail.prom")
    a = agent(w, "--metrics-file", metrics)
    a.wait_log(r"activated build 1 ")
    assert describe_calls(w) == [], "a fresh machine takes its first build without asking"
    set_alarm(w, "ALARM")
    t = time.time()         # the fix comes a second after (times are whole seconds)
    wait_for(lambda: time.time() >= int(t) + 1, 5, "the next second")
    w.publish(2)
    a.wait_log(r"halted: alarm %s is in ALARM: not adopting build 2" % ALARM)
    wait_for(lambda: len(describe_calls(w)) >= 3, 20, "a few polls")
    assert w.client.profile_target() == p1
    assert a.text().count("is in ALARM: not adopting") == 1, "said once"
    s = state()
    assert s["mode"] == "halted: alarm" and ALARM in s["halt"] and "halted" not in s, s
    with open(metrics) as f:
        assert 'hail_halted{profile="demo",alarm="%s"} 1' % ALARM in f.read()
    calls = describe_calls(w)
    assert all(c["auth"] == "ok" and c["params"] == {
        "AlarmNames.member.1": ALARM, "AlarmTypes.member.1": "MetricAlarm",
        "AlarmTypes.member.2": "CompositeAlarm"} for c in calls), calls
    set_alarm(w, "INSUFFICIENT_DATA")          # as OK: no data is no alarm
    a.wait_log(r"activated build 2 ")
    assert state()["mode"] == "following"
    # on the latest: the idle poll asks CloudWatch nothing
    n = len(describe_calls(w))
    a.signal(signal.SIGHUP)
    a.wait_log(r"SIGHUP: polling now")
    wait_for(lambda: state()["last-poll"]["result"] == "ok", 10, "a poll")
    assert len(describe_calls(w)) == n
    a.stop()
test_alarm_stops_adoption_and_ok_lets_it_in.imds_args = []
test_alarm_stops_adoption_and_ok_lets_it_in.aws_args = []


def test_a_build_out_before_the_alarm_stays_out(w):
    """A build that was out when the alarm went off may have set it off: the
    verdict stays after the alarm clears; a newer build goes in."""
    w.give_role()
    set_alarm(w, "OK")
    p1 = w.publish(1)
    a = agent(w)
    a.wait_log(r"activated build 1 ")
    hold = "/var/lib/hail/demo/hold"
    open(hold, "w").close()                     # keeps build 2 out while the alarm goes off
    w.publish(2)
    a.wait_log(r"is held .*not switching to build 2")
    set_alarm(w, "ALARM")
    os.unlink(hold)
    a.wait_log(r"halted: alarm %s is in ALARM: not adopting build 2" % ALARM)
    a.wait_log(r"alarm %s stopped build 2: it is not taken until Hydra offers a newer "
               r"build" % ALARM)
    n = len(describe_calls(w))
    set_alarm(w, "OK")
    a.signal(signal.SIGHUP)
    a.wait_log(r"SIGHUP: polling now")
    wait_for(lambda: state()["last-poll"]["result"] == "ok", 10, "a poll")
    assert w.client.profile_target() == p1
    assert len(describe_calls(w)) == n, "the verdict is not asked again"
    assert state()["halted"]["build-id"] == 2
    w.publish(3)
    a.wait_log(r"activated build 3 ")
    a.stop()
test_a_build_out_before_the_alarm_stays_out.imds_args = []
test_a_build_out_before_the_alarm_stays_out.aws_args = []


def test_missing_or_unreadable_alarm_fails_closed(w):
    w.give_role()
    set_alarm(w, "OK")
    p1 = w.publish(1)
    w.aws.configure(alarms={})                  # no alarm of that name
    a = agent(w)
    a.wait_log(r"activated build 1 ")
    w.publish(2)
    a.wait_log(r"halted: alarm %s does not exist in CloudWatch: not adopting build 2" % ALARM)
    assert w.client.profile_target() == p1
    w.aws.fault("DescribeAlarms", "500", count=1000)
    set_alarm(w, "OK")
    a.wait_log(r"halted: alarm %s cannot be read \(.*InternalServiceError.*\)" % ALARM)
    assert w.client.profile_target() == p1
    w.aws.control("POST", "/fault/clear", {})
    a.wait_log(r"activated build 2 ")
    a.stop()
test_missing_or_unreadable_alarm_fails_closed.imds_args = []
test_missing_or_unreadable_alarm_fails_closed.aws_args = []


def test_no_role_fails_closed(w):
    w.publish(1)
    a = agent(w)
    a.wait_log(r"activated build 1 ")
    w.publish(2)
    a.wait_log(r"halted: alarm %s cannot be read" % ALARM)
    a.stop()
    assert len(w.client.generations()) == 1
test_no_role_fails_closed.imds_args = []
test_no_role_fails_closed.aws_args = []


def test_oneshot_exits_8_and_status_says_why(w):
    w.give_role()
    set_alarm(w, "ALARM")
    w.publish(1)
    env = w.client.env(AWS_ENDPOINT_URL=w.aws.url)
    args = ("--imds-endpoint", w.imds.url, "--halt-alarm", ALARM)
    rc, log = w.client.oneshot(*args, env=env)
    assert rc == 0, log                          # a fresh machine takes its first build
    w.publish(2)
    rc, log = w.client.oneshot(*args, env=env)
    assert rc == 8, log
    assert "is halted: alarm: not on build 2" in log, log
    r = subprocess.run([HAIL, "status", "--profile", "demo"], capture_output=True, text=True)
    assert f"demo: halted: alarm {ALARM}\n" in r.stdout and f"alarm {ALARM} is in ALARM" in \
        r.stdout, r.stdout
test_oneshot_exits_8_and_status_says_why.imds_args = []
test_oneshot_exits_8_and_status_says_why.aws_args = []


def test_halted_event(w):
    w.give_role()
    set_alarm(w, "ALARM")
    w.publish(1)
    out = os.path.join(w.root, "events")
    cmd = os.path.join(w.root, "on-event")
    with open(cmd, "w") as f:
        f.write(f'#!/bin/sh\necho "$HAIL_EVENT $HAIL_BUILD_ID" >> {out}\n')
    os.chmod(cmd, 0o755)
    a = agent(w, "--event-command", cmd)
    a.wait_log(r"activated build 1 ")
    w.publish(2)
    a.wait_log(r"is in ALARM: not adopting build 2")
    wait_for(lambda: os.path.exists(out) and "halted 2" in open(out).read(), 10,
             "the halted event")
    a.stop()
    assert open(out).read().split("\n").count("halted 2") == 1
test_halted_event.imds_args = []
test_halted_event.aws_args = []


def puts(w):
    return w.aws.control("GET", "/metrics")["puts"]


def values(put):
    return {m["MetricName"]: m["Value"] for m in put["metrics"]}


def failing(v):
    return f'echo {v} >> "$HAIL_TEST_ACTIVATIONS"; echo failing {v}; exit 3'


def test_fleet_metrics_after_a_deployment_and_a_failure(w):
    w.give_role()
    w.publish(1)
    a = w.client.start("--poll-period", "1h", "--imds-endpoint", w.imds.url,
                       "--cloudwatch-metrics", "--cloudwatch-period", "1h",
                       "--autoscaling-group", "web",
                       env=w.client.env(AWS_ENDPOINT_URL=w.aws.url))
    wait_for(lambda: puts(w), 20, "a PutMetricData")
    first = puts(w)[0]
    assert first["namespace"] == "hail", first
    assert all(m["Dimensions"] == {"AutoScalingGroupName": "web", "Profile": "demo"}
               for m in first["metrics"]), first
    assert values(first) == {"BuildId": 1, "LatestBuildId": 1, "Behind": 0,
                             "ActivationFailures": 0, "HealthCheckFailures": 0, "Held": 0,
                             "Paused": 0}, first
    assert {m["Unit"] for m in first["metrics"]} <= {"None", "Count"}
    # nothing changed: no more sends within the period, however many polls
    for n in (1, 2):
        a.signal(signal.SIGHUP)
        a.wait_log(r"SIGHUP: polling now", count=n)
    wait_for(lambda: state()["last-poll"]["result"] == "ok", 10, "the polls")
    assert len(puts(w)) == 1, puts(w)
    id2 = w.hydra.publish(w.build(2, activate=failing(2)))
    a.signal(signal.SIGHUP)
    wait_for(lambda: len(puts(w)) >= 2, 20, "the failure's PutMetricData")
    failed = values(puts(w)[1])
    assert failed == {"BuildId": 1, "LatestBuildId": id2, "Behind": 1, "ActivationFailures": 1,
                      "HealthCheckFailures": 0, "Held": 1, "Paused": 0}, failed
    a.signal(signal.SIGHUP)
    a.wait_log(r"SIGHUP: polling now", count=4)
    wait_for(lambda: state()["last-poll"]["result"] == "ok", 10, "the poll")
    assert len(puts(w)) == 2, "the failure was counted once, and nothing else changed"
    calls = [c for c in w.aws.calls() if c["operation"] == "PutMetricData"]
    assert len(calls) == 2 and all(c["auth"] == "ok" for c in calls), calls
    assert "i-0" not in json.dumps(calls), "never the instance id"
    a.stop()
    # a restart does not send the failure again
    a = w.client.start("--oneshot", "--imds-endpoint", w.imds.url, "--cloudwatch-metrics",
                       "--cloudwatch-period", "1h", "--autoscaling-group", "web",
                       env=w.client.env(AWS_ENDPOINT_URL=w.aws.url))
    a.wait()
    assert all(values(p)["ActivationFailures"] == 0 for p in puts(w)[2:]), puts(w)
test_fleet_metrics_after_a_deployment_and_a_failure.imds_args = []
test_fleet_metrics_after_a_deployment_and_a_failure.aws_args = []


def test_fleet_metrics_at_most_one_per_poll(w):
    w.give_role()
    w.publish(1)
    a = w.client.start("--poll-period", "1s", "--imds-endpoint", w.imds.url,
                       "--cloudwatch-metrics", "--cloudwatch-period", "1s",
                       env=w.client.env(AWS_ENDPOINT_URL=w.aws.url))
    wait_for(lambda: len(puts(w)) >= 4, 30, "a few sends")
    a.stop()
    polls = [c for c in w.hydra.stats() if c["path"].endswith("/latest")]
    assert len(puts(w)) <= len(polls), (len(puts(w)), len(polls))
    # no group known: the Profile dimension alone
    assert all(set(m["Dimensions"]) == {"Profile"} for p in puts(w) for m in p["metrics"])
test_fleet_metrics_at_most_one_per_poll.imds_args = []
test_fleet_metrics_at_most_one_per_poll.aws_args = []


def test_unsendable_metrics_change_nothing(w):
    w.publish(1)                                # no role: PutMetricData cannot be signed
    rc, log = w.client.oneshot("--imds-endpoint", w.imds.url, "--cloudwatch-metrics",
                               env=w.client.env(AWS_ENDPOINT_URL=w.aws.url))
    assert rc == 0, log
    assert log.count("cloudwatch-metrics: ") == 1, log
test_unsendable_metrics_change_nothing.imds_args = []
test_unsendable_metrics_change_nothing.aws_args = []


def test_no_reboot_while_halted(w):
    """A build that asks for a reboot: not while the halt alarm is in ALARM;
    once it clears, the reboot goes ahead."""
    from test_reboot import reboot_command, reboots, window_around_now
    w.give_role()
    set_alarm(w, "ALARM")
    id1 = w.hydra.publish(w.build(1, rebootRequired="exit 0"))
    window, iid = window_around_now(id1)
    a = agent(w, "--reboot-window", window, "--instance-id", iid,
              "--reboot-command", reboot_command(w))
    a.wait_log(r"not rebooting for build 1 while alarm %s is in ALARM" % ALARM)
    assert reboots(w) == 0
    set_alarm(w, "OK")
    wait_for(lambda: reboots(w) == 1, 20, "the reboot once the alarm is OK")
    a.stop()
test_no_reboot_while_halted.imds_args = []
test_no_reboot_while_halted.aws_args = []


def test_bad_alarm_name_is_a_usage_error(w):
    rc, log = w.client.oneshot("--halt-alarm", "x" * 300)
    assert rc == 2, log
    assert "halt-alarm: not a CloudWatch alarm name" in log, log


if __name__ == "__main__":
    run_tests([v for k, v in list(globals().items()) if k.startswith("test_")])
