"""Fleet features that talk to AWS, on a simulated fresh instance: the netrc
from an SSM SecureString, the Auto Scaling launch lifecycle hook, the fleet's
pause and pin in an SSM parameter, and the instance role's credentials from
IMDS (refreshed when they expire). The AWS stand-in checks every signature
with botocore's own SigV4 signer."""
import json
import os
import signal
import time

from harness import HAIL, PASSWORD, USER, run_tests, wait_for
from test_bootstrap import FRESH, bootstrap, snapshot

NETRC = f"machine 127.0.0.1 login {USER} password {PASSWORD}\n"
IID = "i-0123456789abcdef0"
GROUP, HOOK = "web-asg", "hail-launch"
TAGS = ["--tags-enabled"]


def settings(w, **over):
    hail = {"job-uri": w.hydra.job_uri, "profile": "demo",
            "netrc-ssm-parameter": "/hail/netrc",
            "substituters": [w.hydra.url], "trusted-public-keys": [w.builder.public_key],
            "aws-endpoint-url": w.aws.url}
    hail.update(over)
    return json.dumps({"hail": {k: v for k, v in hail.items() if v is not None}})


def fleet(w, parameters=None, instance_state="Pending:Wait", **over):
    """A role, the netrc parameter, this instance waiting in its group."""
    creds = w.give_role()
    params = {"/hail/netrc": {"Type": "SecureString", "Value": NETRC}}
    params.update(parameters or {})
    w.aws.configure(parameters=params,
                    instances={IID: {"group": GROUP, "hook": HOOK, "state": instance_state}})
    w.imds.set_user_data(settings(w, **over))
    return creds


def no_secrets(text, creds):
    for secret in (PASSWORD, creds["SecretAccessKey"], creds["Token"]):
        assert secret not in text, "a secret in the log"


def events(w):
    return [e["action"] + ":" + e.get("result", e.get("health", "")) for e in
            w.aws.instances()[IID]["events"]]


def activation_stamp(w):
    """An activate that notes when it ran (the stand-in's clock is this one)."""
    return f'sleep 0.5; date +%s.%N > {w.root}/activated; echo 1 >> "$HAIL_TEST_ACTIVATIONS"'


# --- secrets from the instance role ------------------------------------------

def test_netrc_from_an_ssm_securestring(w):
    out = w.publish(1)
    creds = fleet(w)
    assert PASSWORD not in settings(w)
    rc, log = bootstrap(w)
    assert rc == 0, log
    assert w.client.profile_target() == out
    with open("/etc/nix/netrc") as f:
        assert f.read() == NETRC
    st = os.stat("/etc/nix/netrc")
    assert st.st_mode & 0o777 == 0o600
    assert "netrc read from SSM parameter /hail/netrc" in log, log
    no_secrets(log, creds)
    calls = [c for c in w.aws.calls() if c["service"] == "ssm"]
    assert len(calls) == 1 and calls[0]["auth"] == "ok", calls
    assert calls[0]["params"] == {"Name": "/hail/netrc", "WithDecryption": True}, calls
test_netrc_from_an_ssm_securestring.client_kw = FRESH
test_netrc_from_an_ssm_securestring.imds_args = []
test_netrc_from_an_ssm_securestring.aws_args = []


def test_rotating_the_parameter_rotates_the_netrc(w):
    w.publish(1)
    fleet(w)
    assert bootstrap(w)[0] == 0
    # the Hydra stand-in knows one password: the new text says it otherwise
    rotated = f"machine 127.0.0.1\n  login {USER}\n  password {PASSWORD}\n"
    w.aws.configure(parameters={"/hail/netrc": {"Type": "SecureString", "Value": rotated}})
    rc, log = bootstrap(w)                  # a reboot
    assert rc == 0, log
    with open("/etc/nix/netrc") as f:
        assert f.read() == rotated
test_rotating_the_parameter_rotates_the_netrc.client_kw = FRESH
test_rotating_the_parameter_rotates_the_netrc.imds_args = []
test_rotating_the_parameter_rotates_the_netrc.aws_args = []


def test_endpoint_from_aws_endpoint_url(w):
    out = w.publish(1)
    fleet(w, **{"aws-endpoint-url": None})
    rc, log = bootstrap(w, env=w.client.env(AWS_ENDPOINT_URL=w.aws.url))
    assert rc == 0, log
    assert w.client.profile_target() == out
test_endpoint_from_aws_endpoint_url.client_kw = FRESH
test_endpoint_from_aws_endpoint_url.imds_args = []
test_endpoint_from_aws_endpoint_url.aws_args = []


def test_unknown_parameter_writes_nothing(w):
    w.publish(1)
    fleet(w, **{"netrc-ssm-parameter": "/hail/missing"})
    base = snapshot()
    rc, log = bootstrap(w)
    assert rc == 8, log
    assert "SSM parameter /hail/missing: not found" in log, log
    assert snapshot() == base
test_unknown_parameter_writes_nothing.client_kw = FRESH
test_unknown_parameter_writes_nothing.imds_args = []
test_unknown_parameter_writes_nothing.aws_args = []


def test_malformed_netrc_in_the_parameter(w):
    w.publish(1)
    fleet(w, parameters={"/hail/netrc": {"Type": "SecureString",
                                         "Value": f"machine 127.0.0.1 login {USER} password"}},
          **{"lifecycle-hook": HOOK})
    w.imds.set_tags({"aws:autoscaling:groupName": GROUP})
    base = snapshot()
    rc, log = bootstrap(w)
    assert rc == 4, log
    assert "SSM parameter /hail/netrc: malformed" in log, log
    assert USER not in log.split("malformed")[1], log
    assert snapshot() == base
    assert events(w) == ["CompleteLifecycleAction:ABANDON"], events(w)
test_malformed_netrc_in_the_parameter.client_kw = FRESH
test_malformed_netrc_in_the_parameter.imds_args = TAGS
test_malformed_netrc_in_the_parameter.aws_args = []


def test_wrong_secret_is_refused_and_not_shown(w):
    w.publish(1)
    creds = fleet(w)
    bad = dict(creds, SecretAccessKey=creds["SecretAccessKey"][::-1])
    w.imds.configure(iam_credentials=bad)
    base = snapshot()
    rc, log = bootstrap(w)
    assert rc == 8, log
    assert "ssm GetParameter: InvalidSignatureException (HTTP 400)" in log, log
    no_secrets(log, bad)
    no_secrets(log, creds)
    assert snapshot() == base
test_wrong_secret_is_refused_and_not_shown.client_kw = FRESH
test_wrong_secret_is_refused_and_not_shown.imds_args = []
test_wrong_secret_is_refused_and_not_shown.aws_args = []


def test_unknown_key_is_refused(w):
    w.publish(1)
    creds = fleet(w)
    w.imds.configure(iam_credentials=dict(creds, AccessKeyId="ASIAUNKNOWNKEY000001"))
    rc, log = bootstrap(w)
    assert rc == 8, log
    assert "ssm GetParameter: UnrecognizedClientException (HTTP 400)" in log, log
    no_secrets(log, creds)
test_unknown_key_is_refused.client_kw = FRESH
test_unknown_key_is_refused.imds_args = []
test_unknown_key_is_refused.aws_args = []


def test_throttling_is_retried_with_backoff(w):
    out = w.publish(1)
    fleet(w)
    w.aws.fault("GetParameter", "throttle", count=2)
    rc, log = bootstrap(w)
    assert rc == 0, log
    assert w.client.profile_target() == out
    errors = [c["error"] for c in w.aws.calls() if c["operation"] == "GetParameter"]
    assert errors == ["ThrottlingException", "ThrottlingException", None], errors
test_throttling_is_retried_with_backoff.client_kw = FRESH
test_throttling_is_retried_with_backoff.imds_args = []
test_throttling_is_retried_with_backoff.aws_args = []


def test_no_role_is_a_clear_error(w):
    w.publish(1)
    w.aws.configure(parameters={"/hail/netrc": {"Type": "SecureString", "Value": NETRC}})
    w.imds.set_user_data(settings(w))
    rc, log = bootstrap(w)
    assert rc == 8, log
    assert "this instance has no IAM role" in log, log
test_no_role_is_a_clear_error.client_kw = FRESH
test_no_role_is_a_clear_error.imds_args = []
test_no_role_is_a_clear_error.aws_args = []


# --- the launch lifecycle hook ------------------------------------------------

def test_lifecycle_continue_only_after_activation(w):
    out = w.publish(1, activate=activation_stamp(w))
    creds = fleet(w, **{"lifecycle-hook": HOOK})
    w.imds.set_tags({"aws:autoscaling:groupName": GROUP})
    rc, log = bootstrap(w)
    assert rc == 0, log
    assert w.client.profile_target() == out
    inst = w.aws.instances()[IID]
    assert inst["state"] == "InService", inst
    assert events(w) == ["CompleteLifecycleAction:CONTINUE"], inst
    with open(f"{w.root}/activated") as f:
        activated = float(f.read())
    assert inst["events"][-1]["time"] > activated, (inst, activated)
    assert "lifecycle action completed: CONTINUE (group web-asg, hook hail-launch)" in log
    # the group came from the instance tag: no DescribeAutoScalingInstances
    assert "DescribeAutoScalingInstances" not in [c["operation"] for c in w.aws.calls()]
    no_secrets(log, creds)
test_lifecycle_continue_only_after_activation.client_kw = FRESH
test_lifecycle_continue_only_after_activation.imds_args = TAGS
test_lifecycle_continue_only_after_activation.aws_args = []


def test_lifecycle_abandon_when_activate_fails(w):
    w.publish(1, activate="echo broken; exit 3")
    fleet(w, **{"lifecycle-hook": HOOK, "autoscaling-group": GROUP})
    rc, log = bootstrap(w)
    assert rc == 6, log
    assert events(w) == ["CompleteLifecycleAction:ABANDON"], events(w)
    assert w.aws.instances()[IID]["state"] == "Terminating"
test_lifecycle_abandon_when_activate_fails.client_kw = FRESH
test_lifecycle_abandon_when_activate_fails.imds_args = []
test_lifecycle_abandon_when_activate_fails.aws_args = []


def test_lifecycle_abandon_when_the_health_check_fails(w):
    w.publish(1, healthCheck="exit 1")
    fleet(w, **{"lifecycle-hook": HOOK})
    rc, log = bootstrap(w)
    assert rc == 6, log
    assert events(w) == ["CompleteLifecycleAction:ABANDON"], events(w)
    # no tags: the group came from the API
    ops = [c["operation"] for c in w.aws.calls()]
    assert ops[0:2] == ["DescribeAutoScalingInstances", "GetParameter"], ops
test_lifecycle_abandon_when_the_health_check_fails.client_kw = FRESH
test_lifecycle_abandon_when_the_health_check_fails.imds_args = []
test_lifecycle_abandon_when_the_health_check_fails.aws_args = []


def test_heartbeats_while_the_first_pull_is_slow(w):
    w.publish(1, activate="sleep 2.6")
    fleet(w, **{"lifecycle-hook": HOOK, "autoscaling-group": GROUP, "lifecycle-heartbeat": "1s"})
    rc, log = bootstrap(w)
    assert rc == 0, log
    ev = events(w)
    assert ev[-1] == "CompleteLifecycleAction:CONTINUE", ev
    assert 2 <= ev.count("RecordLifecycleActionHeartbeat:") <= 3, ev
test_heartbeats_while_the_first_pull_is_slow.client_kw = FRESH
test_heartbeats_while_the_first_pull_is_slow.imds_args = []
test_heartbeats_while_the_first_pull_is_slow.aws_args = []


def test_no_continue_when_the_agent_unit_cannot_start(w):
    """The systemd hand-off comes before CONTINUE: an instance whose agent
    does not run is not put in service."""
    w.publish(1)
    fleet(w, **{"lifecycle-hook": HOOK, "autoscaling-group": GROUP})
    bindir = os.path.join(w.root, "bin")
    os.makedirs(bindir)
    with open(os.path.join(bindir, "systemctl"), "w") as f:
        f.write("#!/bin/sh\necho 'Failed to enable unit' >&2\nexit 1\n")
    os.chmod(os.path.join(bindir, "systemctl"), 0o755)
    env = w.client.env(PATH=bindir + ":" + os.environ["PATH"])
    a = w.client.bootstrap("--imds-endpoint", w.imds.url, "--wait", "10s", "--hail", HAIL,
                           env=env)
    rc = a.wait(60)
    assert rc == 7, a.text()
    assert events(w) == ["CompleteLifecycleAction:ABANDON"], events(w)
test_no_continue_when_the_agent_unit_cannot_start.client_kw = FRESH
test_no_continue_when_the_agent_unit_cannot_start.imds_args = []
test_no_continue_when_the_agent_unit_cannot_start.aws_args = []


def test_a_later_boot_finds_no_action_waiting(w):
    w.publish(1)
    fleet(w, instance_state="InService", **{"lifecycle-hook": HOOK, "autoscaling-group": GROUP})
    rc, log = bootstrap(w)
    assert rc == 0, log
    assert "no lifecycle action of web-asg waits for this instance" in log, log
test_a_later_boot_finds_no_action_waiting.client_kw = FRESH
test_a_later_boot_finds_no_action_waiting.imds_args = []
test_a_later_boot_finds_no_action_waiting.aws_args = []


def test_report_health_without_a_hook(w):
    w.publish(1, activate="exit 3")
    fleet(w, instance_state="InService", **{"report-health": True})
    rc, log = bootstrap(w)
    assert rc == 6, log
    assert events(w) == ["SetInstanceHealth:Unhealthy"], events(w)
    assert "reported this instance Unhealthy" in log, log
test_report_health_without_a_hook.client_kw = FRESH
test_report_health_without_a_hook.imds_args = []
test_report_health_without_a_hook.aws_args = []


# --- the fleet's pause and pin, and credentials that expire -------------------

def control_agent(w, *extra):
    return w.client.start("--poll-period", "1s", "--imds-endpoint", w.imds.url,
                          "--control-ssm-parameter", "/hail/control", *extra,
                          env=w.client.env(AWS_ENDPOINT_URL=w.aws.url))


def set_control(w, value):
    w.aws.configure(parameters={"/hail/control": {"Type": "String", "Value": json.dumps(value)}})


def test_fleet_pause_and_pin_from_ssm(w):
    v1 = w.publish(1)
    creds = w.give_role()
    set_control(w, {"pause": False, "pin": None})
    metrics = os.path.join(w.root, "hail.prom")
    agent = control_agent(w, "--metrics-file", metrics)
    agent.wait_log(r"activated build 1 ")
    set_control(w, {"pause": True})
    agent.wait_log(r"paused by SSM parameter /hail/control: not adopting new builds")
    w.publish(2)
    agent.wait_log(r"latest build of .* is 2")
    agent.signal(signal.SIGHUP)
    agent.wait_log(r"SIGHUP: polling now")
    assert w.client.profile_target() == v1
    set_control(w, {"pause": False, "pin": 1})
    agent.wait_log(r"pause lifted")
    agent.wait_log(r"pinned to build 1 \(SSM parameter /hail/control\)")
    wait_for(lambda: 'hail_pinned_build_id{profile="demo"} 1\n' in open(metrics).read(),
             5, "the pin in the metrics")
    assert w.client.profile_target() == v1
    set_control(w, {})
    agent.wait_log(r"pin lifted")
    agent.wait_log(r"activated build 2 ")
    assert agent.stop() == 0
    # at most one GetParameter per poll (each poll asks Hydra for /latest once)
    ssm = len([c for c in w.aws.calls() if c["operation"] == "GetParameter"])
    polls = len([r for r in w.hydra.stats() if r["path"].endswith("/latest")])
    assert 0 < ssm <= polls, (ssm, polls)
    no_secrets(agent.text(), creds)
test_fleet_pause_and_pin_from_ssm.imds_args = []
test_fleet_pause_and_pin_from_ssm.aws_args = []


def test_instance_tag_pin_wins_over_the_fleet_pin(w):
    w.publish(1)
    v2 = w.publish(2)
    w.give_role()
    set_control(w, {"pin": 1})
    w.imds.set_tags({"hail:pin": "2"})
    rc, log = w.client.oneshot("--imds-endpoint", w.imds.url, "--control-ssm-parameter",
                               "/hail/control", env=w.client.env(AWS_ENDPOINT_URL=w.aws.url))
    assert rc == 0, log
    assert w.client.profile_target() == v2
test_instance_tag_pin_wins_over_the_fleet_pin.imds_args = TAGS
test_instance_tag_pin_wins_over_the_fleet_pin.aws_args = []


def test_expired_credentials_are_fetched_again(w):
    w.publish(1)
    old = w.give_role(1)
    set_control(w, {"pause": True})
    agent = control_agent(w)
    agent.wait_log(r"activated build 1 ")
    agent.wait_log(r"paused by SSM parameter")
    new = w.give_role(2)                    # IMDS now hands out the next set
    w.aws.control("POST", "/credentials/expire", {"AccessKeyId": old["AccessKeyId"]})
    agent.wait_log(r"ssm GetParameter: ExpiredTokenException; fetching new credentials from IMDS")
    set_control(w, {"pause": False})
    agent.wait_log(r"pause lifted")
    calls = [c for c in w.aws.calls() if c["operation"] == "GetParameter"]
    i = [c["error"] for c in calls].index("ExpiredTokenException")
    assert calls[i + 1]["auth"] == "ok" and calls[i + 1]["error"] is None, calls
    assert "keeping what it said before" not in agent.text()
    assert agent.stop() == 0
    no_secrets(agent.text(), old)
    no_secrets(agent.text(), new)
test_expired_credentials_are_fetched_again.imds_args = []
test_expired_credentials_are_fetched_again.aws_args = []


def test_unreadable_control_keeps_the_last_word(w):
    w.publish(1)
    w.give_role()
    set_control(w, {"pause": True})
    agent = control_agent(w)
    agent.wait_log(r"paused by SSM parameter")
    w.aws.fault("GetParameter", "denied", count=1000)
    agent.wait_log(r"SSM parameter: ssm GetParameter: AccessDeniedException .*; keeping what "
                   r"it said before")
    w.publish(2)
    agent.wait_log(r"latest build of .* is 2")
    agent.signal(signal.SIGHUP)
    agent.wait_log(r"SIGHUP: polling now")
    assert "activated build 2" not in agent.text()
    w.aws.control("POST", "/fault/clear", {})
    set_control(w, {"pause": False})
    agent.wait_log(r"SSM parameter: readable again")
    agent.wait_log(r"activated build 2 ")
    assert agent.stop() == 0
test_unreadable_control_keeps_the_last_word.imds_args = []
test_unreadable_control_keeps_the_last_word.aws_args = []


def still_paused(w, agent):
    """Build 2 is published and polled for twice: the pause keeps build 1."""
    w.publish(2)
    agent.wait_log(r"latest build of .* is 2")
    for n in (1, 2):
        agent.signal(signal.SIGHUP)
        agent.wait_log(r"SIGHUP: polling now", count=n)
    assert "activated build 2" not in agent.text() and "pause lifted" not in agent.text()
    with open("/var/lib/hail/demo/state.json") as f:
        assert json.load(f)["mode"] == "paused"


def test_a_detached_role_keeps_the_pause(w):
    """Credentials that expire with no role to renew them make the parameter
    unreadable, not absent: the pause stays."""
    w.publish(1)
    old = w.give_role(1)
    set_control(w, {"pause": True})
    agent = control_agent(w)
    agent.wait_log(r"paused by SSM parameter")
    w.imds.configure(iam_role=None)
    w.aws.control("POST", "/credentials/expire", {"AccessKeyId": old["AccessKeyId"]})
    agent.wait_log(r"SSM parameter: .*no IAM role.*; keeping what it said before")
    still_paused(w, agent)
    assert agent.text().count("keeping what it said before") == 1, agent.text()
    assert agent.stop() == 0
test_a_detached_role_keeps_the_pause.imds_args = []
test_a_detached_role_keeps_the_pause.aws_args = []


def test_a_restart_while_ssm_fails_keeps_the_pause(w):
    """The fleet's last word is in state.json: a restart does not forget it."""
    w.publish(1)
    w.give_role()
    set_control(w, {"pause": True})
    agent = control_agent(w)
    agent.wait_log(r"paused by SSM parameter")
    assert agent.stop() == 0
    w.aws.fault("GetParameter", "500", count=1000)
    agent = control_agent(w)
    agent.wait_log(r"SSM parameter: .*InternalServerError.*; keeping what it said before")
    still_paused(w, agent)
    w.aws.control("POST", "/fault/clear", {})
    set_control(w, {"pause": False})
    agent.wait_log(r"pause lifted")
    agent.wait_log(r"activated build 2 ")
    assert agent.stop() == 0
test_a_restart_while_ssm_fails_keeps_the_pause.imds_args = []
test_a_restart_while_ssm_fails_keeps_the_pause.aws_args = []


if __name__ == "__main__":
    run_tests([v for k, v in list(globals().items()) if k.startswith("test_")])
