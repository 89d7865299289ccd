"""hail deploys real Nix builds from the Hydra stand-in into fresh clients."""
import os
import signal

from harness import PASSWORD, run_tests


def test_oneshot_deploys_into_a_fresh_client(w):
    out = w.publish(1)
    rc, log = w.client.oneshot()
    assert rc == 0, log
    assert w.client.profile_target() == out, log
    assert w.client.activation_log() == ["1"], log
    assert PASSWORD not in log


def test_oneshot_when_current_activates_and_exits(w):
    out = w.publish(1)
    assert w.client.oneshot()[0] == 0
    rc, log = w.client.oneshot()
    assert rc == 0, log
    assert w.client.profile_target() == out
    assert w.client.activation_log() == ["1", "1"]
    assert w.client.generations() == ["demo-1-link"]


def test_polling_agent_picks_up_a_newer_build(w):
    w.publish(1)
    agent = w.client.start("--poll-period", "1s")
    agent.wait_log(r"activated build 1 ")
    out2 = w.publish(2)
    agent.wait_log(r"activated build 2 ", timeout=15)
    assert w.client.profile_target() == out2
    assert w.client.activation_log() == ["1", "2"]
    assert agent.stop() == 0


def test_idle_poll_is_one_small_request(w):
    w.publish(1)
    agent = w.client.start("--poll-period", "1s", "--verbose")
    agent.wait_log(r"activated build 1 ")
    w.hydra.reset_stats()
    agent.wait_log(r"is on the latest build 1", count=2, timeout=15)
    agent.stop()
    reqs = [r for r in w.hydra.stats() if r["status"] is not None]
    assert reqs and all(r["path"].endswith("/latest") for r in reqs), reqs
    assert all(r["body_bytes"] < 64 for r in reqs), reqs


def test_startup_activation_of_an_existing_profile(w):
    w.publish(1)
    assert w.client.oneshot()[0] == 0
    agent = w.client.start("--poll-period", "1h")
    agent.wait_log(r"activated /nix/store/")
    assert agent.stop() == 0
    assert w.client.activation_log() == ["1", "1"]


def test_sighup_polls_now(w):
    w.publish(1)
    agent = w.client.start("--poll-period", "1h")
    agent.wait_log(r"activated build 1 ")
    w.publish(2)
    agent.signal(signal.SIGHUP)
    agent.wait_log(r"activated build 2 ")
    assert agent.stop() == 0


def test_sigterm_lets_activation_finish(w):
    slow = ('echo started >> "$HAIL_TEST_ACTIVATIONS"; sleep 1; '
            'echo finished >> "$HAIL_TEST_ACTIVATIONS"')
    w.publish(1, activate=slow)
    agent = w.client.start("--poll-period", "1h")
    from harness import wait_for
    wait_for(lambda: "started" in w.client.activation_log(), 10, "activation to start")
    agent.signal(signal.SIGTERM)
    assert agent.wait(10) == 0
    assert w.client.activation_log() == ["started", "finished"]


def test_profile_by_absolute_path_with_missing_parents(w):
    out = w.publish(1)
    rc, log = w.client.oneshot(profile="/nix/var/nix/profiles/per-host/a/b/demo")
    assert rc == 0, log
    assert os.path.realpath("/nix/var/nix/profiles/per-host/a/b/demo") == out


def test_config_file_and_flags(w):
    out = w.publish(1)
    cfg = os.path.join(w.root, "demo.json")
    with open(cfg, "w") as f:
        f.write('{"job-uri": "%s", "profile": "wrong", "netrc-file": "%s", '
                '"poll-period": "5m", "future-setting": 1}' % (w.hydra.job_uri, w.client.netrc))
    a = w.client.start(raw_args=["--oneshot", "--config", cfg, "--profile", "demo"])
    assert a.wait() == 0, a.text()
    assert w.client.profile_target() == out
    assert "unknown key 'future-setting'" in a.text()


def test_journal_priority_prefixes(w):
    w.publish(1)
    a = w.client.start("--oneshot", journal=True)
    assert a.wait() == 0
    log = a.text()
    assert "<6>activated build 1 in" in log, log
    assert "hail:" not in log, log


def test_prefixes_only_when_stderr_is_the_journal(w):
    w.publish(1)
    a = w.client.start("--oneshot", env=w.client.env(JOURNAL_STREAM="1:2"))
    assert a.wait() == 0
    assert "hail: activated build 1 in" in a.text()


if __name__ == "__main__":
    run_tests([v for k, v in list(globals().items()) if k.startswith("test_")])
