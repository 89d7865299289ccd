"""A hostile or broken Hydra, cache or build: one clear line, a distinct exit
status, the profile left as it was, and a polling agent that keeps polling."""
import fcntl
import os
import re
import signal

from harness import PASSWORD, run_tests, wait_for

# (name, fault kind, target, fault value, extra flags, exit status, log pattern)
HYDRA_FAULTS = [
    ("401", "401", "latest", None, (), 3, r"/latest: HTTP 401 \(check the netrc"),
    ("403", "403", "latest", None, (), 3, r"/latest: HTTP 403"),
    ("404", "404", "latest", None, (), 3, r"/latest: HTTP 404 \(no successful build"),
    ("500", "500", "latest", None, (), 3, r"/latest: HTTP 500(?!\d)"),
    ("503 on build", "503", "build", None, (), 3, r"/build/2: HTTP 503(?!\d)"),
    ("non-JSON", "nonjson", "build", None, (), 4, r"/build/2: build 2: not JSON"),
    ("truncated", "truncated", "build", None, (), 3, r"/build/2: transfer closed"),
    ("no out", "no-out", "build", None, (), 4, r"no buildoutputs\.out\.path"),
    ("bad path", "bad-path", "build", None, (), 4,
     r"output '/nix/store/\.\./\.\./etc; touch /tmp/pwned' is not a store path"),
    ("bad path with newline", "bad-path", "build", "/nix/store/x\nhail: forged", (), 4,
     r"output '/nix/store/x\\x0ahail: forged' is not a store path"),
    ("huge", "huge", "build", None, (), 4, r"response body larger than 1048576 bytes"),
    ("null path", "null-path", "build", None, (), 4,
     r"/build/2: build 2: output path not known yet \(.*content-addressed derivation\?\)"),
    ("moved to another host", "moved", "latest",
     "http://example.invalid/job/proj/renamed/demo/latest", (), 4,
     r"/latest: HTTP 301 to 'http://example\.invalid/job/proj/renamed/demo/latest', not on "
     r"the job URI's scheme, host and port: not followed"),
    ("redirect loop", "redirect-loop", "latest", None, (), 4,
     r"/latest: HTTP 302: Location 'http://127\.0\.0\.1:\d+/job/proj/main/demo/latest' "
     r"is not a Hydra build URL"),
    ("bad location", "bad-location", "latest", None, (), 4, r"is not a Hydra build URL"),
    ("hang", "hang", "latest", 30, ("--http-timeout", "2s"), 3,
     r"/latest: Operation timed out after 2\d\d\d milliseconds"),
    ("reset", "reset", "latest", None, (), 3, r"/latest: (Recv failure|Empty reply)"),
]


def on_v1_with_v2_published(w):
    assert w.client.oneshot()[0] == 0 if w.publish(1) else False
    v1 = w.client.profile_target()
    w.publish(2)
    return v1


def check_fault(w, kind, target, value, extra, status, pattern):
    v1 = on_v1_with_v2_published(w)
    fault = {"value": value} if value is not None else {}
    w.hydra.fault(kind, target, **fault)
    rc, log = w.client.oneshot(*extra)
    assert rc == status, f"exit {rc}, not {status}:\n{log}"
    errors = [l for l in log.splitlines() if l.startswith("hail: error:")]
    assert len(errors) == 1, log
    assert re.search(pattern, errors[0]), f"/{pattern}/ not in {errors[0]!r}"
    assert w.client.profile_target() == v1
    assert w.client.generations() == ["demo-1-link"]
    assert PASSWORD not in log
    assert not os.path.exists("/tmp/pwned")


def make_fault_test(row):
    name, kind, target, value, extra, status, pattern = row

    def test(w):
        check_fault(w, kind, target, value, extra, status, pattern)
    test.__name__ = "test_hydra_fault_" + name.replace(" ", "_").replace("-", "_")
    return test


def test_wrong_password(w):
    w.publish(1)
    rc, log = w.client.oneshot()
    assert rc == 3, log
    assert "HTTP 401 (check the netrc credentials for this host)" in log, log
    assert "wrong-" not in log and PASSWORD not in log
    assert w.client.profile_target() is None
test_wrong_password.client_kw = {"password": "wrong-password"}


def test_connection_refused(w):
    w.publish(1)
    w.hydra.stop()          # the port is closed now
    rc, log = w.client.oneshot()
    assert rc == 3, log
    assert "/latest: Failed to connect to 127.0.0.1 port" in log, log


def test_location_on_another_host_is_read_not_followed(w):
    """Behind a reverse proxy Location may name another base (protocols.md):
    hail takes the build id from it and asks its own job URI's host."""
    out = w.publish(1)
    w.hydra.fault("foreign-location", "latest")
    rc, log = w.client.oneshot()
    assert rc == 0, log
    assert w.client.profile_target() == out
    assert all("example.invalid" not in r["path"] for r in w.hydra.stats())


RENAMED = "proj/renamed/demo"


def publish_as(w, job, version):
    out = w.build(version)
    w.hydra.control("POST", "/publish", {"job": job, "out": out})
    return out


def job_requests(w):
    return [(r["path"], r["status"]) for r in w.hydra.stats() if r["path"].startswith("/job/")]


def test_renamed_jobset_is_followed_and_warned_about_once(w):
    """Hydra answers 301 to a renamed jobset's new name (Controller/Job.pm):
    hail follows it on the same host, once per request, and warns once."""
    publish_as(w, "proj/main/demo", 1)
    assert w.client.oneshot()[0] == 0
    v2 = publish_as(w, RENAMED, 2)
    w.hydra.fault("moved", "latest", value=RENAMED)
    w.hydra.reset_stats()
    agent = w.client.start("--poll-period", "1h", "--verbose")
    agent.wait_log(r"activated build 2 ")
    assert w.client.profile_target() == v2
    new_uri = w.hydra.url + "/job/" + RENAMED
    warning = (r"warning: fetcher: job %s moved to %s \(Hydra answered 301 Moved Permanently.*update "
               r"job-uri" % (re.escape(w.hydra.job_uri), re.escape(new_uri)))
    agent.wait_log(warning)
    agent.wait_log(r"is on the latest build 2")     # the poll right after a switch
    for n in range(2, 4):               # idle polls: no second warning
        agent.signal(signal.SIGHUP)
        agent.wait_log(r"is on the latest build 2", count=n)
    assert len(re.findall(warning, agent.text())) == 1, agent.text()
    old = ("/job/proj/main/demo/latest", 301)
    new = ("/job/%s/latest" % RENAMED, 302)
    assert job_requests(w) == [old, new] * 4        # 4 polls, one hop each
    assert agent.stop() == 0


def test_renamed_jobset_with_wait_for_eval(w):
    v1 = publish_as(w, RENAMED, 1)
    w.hydra.fault("moved", "latest", value=RENAMED)
    rc, log = w.client.oneshot("--wait-for-eval")
    assert rc == 0, log
    assert w.client.profile_target() == v1
    assert job_requests(w) == [("/job/proj/main/demo/latest-finished", 301),
                               ("/job/%s/latest-finished" % RENAMED, 302)]
    assert log.count("moved to %s/job/%s " % (w.hydra.url, RENAMED)) == 1, log


def test_moved_twice_or_elsewhere_is_an_error(w):
    v1 = on_v1_with_v2_published(w)
    # main -> b (newest fault), then b -> a: a second move is not followed
    w.hydra.fault("moved", "latest", value="proj/a/demo")
    w.hydra.fault("moved", "latest", value="proj/b/demo")
    w.hydra.reset_stats()
    rc, log = w.client.oneshot()
    assert rc == 4, log
    assert re.search(r"/job/proj/b/demo/latest: HTTP 301: .*moved again after one move: not "
                     r"followed", log), log
    assert job_requests(w) == [("/job/proj/main/demo/latest", 301),
                               ("/job/proj/b/demo/latest", 301)]
    # same host, but not a job
    w.hydra.clear_faults()
    w.hydra.fault("moved", "latest", value=w.hydra.url + "/project/proj")
    w.hydra.reset_stats()
    rc, log = w.client.oneshot()
    assert rc == 4, log
    assert "HTTP 301 to '%s/project/proj', which is not a job's latest URL" % w.hydra.url in log
    assert len(job_requests(w)) == 1
    assert w.client.profile_target() == v1


def test_slow_hydra_within_the_limit(w):
    out = w.publish(1)
    w.hydra.fault("slow", "latest", value=1, count=1)
    rc, log = w.client.oneshot("--http-timeout", "10s")
    assert rc == 0, log
    assert w.client.profile_target() == out


def test_cache_fault_fails_the_switch(w):
    v1 = on_v1_with_v2_published(w)
    w.hydra.fault("500", "cache")
    rc, log = w.client.oneshot()
    assert rc == 5, log
    # the disk guard's dry run meets the fault first, and says what Nix said
    assert re.search(r"hail: error: not switching to build 2: nix-store --realise --dry-run "
                     r"exited with status 1: .*500", log), log
    assert w.client.profile_target() == v1


def test_unsigned_build_is_refused_by_nix(w):
    w.publish(1)
    with open("/etc/nix/nix.conf") as f:
        conf = f.read()
    with open("/etc/nix/nix.conf", "w") as f:    # trust another key only
        f.write(conf.replace("trusted-public-keys = hail-test-1:",
                             "trusted-public-keys = other-1:"))
    rc, log = w.client.oneshot()
    assert rc == 5, log
    assert w.client.profile_target() is None


def test_activation_failure(w):
    w.publish(1, activate="echo failing; exit 3")
    rc, log = w.client.oneshot()
    assert rc == 6, log
    assert "/nix/var/nix/profiles/demo/bin/activate exited with status 3" in log, log


def test_activation_timeout_kills_its_process_group(w):
    hang = 'sleep 60 & echo $$ >> "$HAIL_TEST_ACTIVATIONS"; sleep 60'
    w.publish(1, activate=hang)
    rc, log = w.client.oneshot("--activation-timeout", "1s")
    assert rc == 6, log
    assert "activate timed out after 1." in log, log
    pgid = int(w.client.activation_log()[0])

    def group_gone():
        try:
            os.killpg(pgid, 0)
            return False
        except ProcessLookupError:
            return True
    wait_for(group_gone, 5, "the activation's process group to be gone")


def test_missing_activate(w):
    w.publish(1, hasActivate=False)
    rc, log = w.client.oneshot()
    assert rc == 6, log
    assert "bin/activate: No such file or directory" in log, log


def test_activate_not_executable(w):
    w.publish(1, executable=False)
    rc, log = w.client.oneshot()
    assert rc == 6, log
    assert "bin/activate: not executable" in log, log


def test_profile_lock_held_by_another_process(w):
    w.publish(1)
    os.makedirs("/nix/var/nix/profiles", exist_ok=True)
    with open("/nix/var/nix/profiles/demo.hail.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        rc, log = w.client.oneshot("--switch-timeout", "1s", "--activation-timeout", "1s")
    assert rc == 7, log
    assert "profile /nix/var/nix/profiles/demo is locked by another process" in log, log
    assert w.client.profile_target() is None


def test_stop_while_waiting_for_the_lock(w):
    """SIGTERM during the lock wait is a stop (130), not "locked" (7)."""
    w.publish(1)
    os.makedirs("/nix/var/nix/profiles", exist_ok=True)
    with open("/nix/var/nix/profiles/demo.hail.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        a = w.client.start("--oneshot")
        a.wait_log(r"is locked by another process: waiting up to ")
        a.signal(signal.SIGTERM)
        rc = a.wait()
    assert rc == 130, a.text()
    assert "stopped while waiting for the lock" in a.text(), a.text()
    assert w.client.profile_target() is None


def test_latest_of_another_job_is_refused(w):
    """A latest that redirects to another job's build is not deployed."""
    v1 = w.publish(1)
    assert w.client.oneshot()[0] == 0
    other = w.hydra.control("POST", "/publish", {"job": "proj/main/other",
                                                 "out": w.build(9)})["id"]
    w.hydra.fault("foreign-location", "latest", value=f"{w.hydra.url}/build/{other}")
    rc, log = w.client.oneshot()
    assert rc == 4, log
    assert f"latest build {other} is of job proj/main/other, not of " in log, log
    assert w.client.profile_target() == v1
    assert w.client.activation_log() == ["1", "1"]      # what is there, activated


def test_pin_to_another_jobs_build_is_not_a_usage_error(w):
    """A pin is what an operator wrote, data: a pin to another job's build
    is exit 4 (an answer that makes no sense), never 2 (a bad flag)."""
    v1 = w.publish(1)
    assert w.client.oneshot()[0] == 0
    w.hydra.control("POST", "/publish", {"job": "proj/main/other", "out": w.build(9)})
    w.imds.set_tags({"hail:pin": "2"})
    rc, log = w.client.oneshot("--imds-endpoint", w.imds.url)
    assert rc == 4 and "pinned build 2 is of job proj/main/other" in log, log
    assert w.client.profile_target() == v1
test_pin_to_another_jobs_build_is_not_a_usage_error.imds_args = ["--tags-enabled"]


def test_a_deleted_newer_build_is_a_logged_downgrade(w):
    v1 = w.publish(1)
    w.publish(2)
    assert w.client.oneshot()[0] == 0
    w.hydra.control("POST", "/unpublish", {"id": 2})
    rc, log = w.client.oneshot()
    assert rc == 0, log
    assert re.search(r"warning: latest build 1 is older than build 2 on the profile .*: "
                     r"downgrading", log), log
    assert w.client.profile_target() == v1


def test_oneshot_without_hydra_activates_what_is_there(w):
    w.publish(1)
    assert w.client.oneshot()[0] == 0
    w.hydra.stop()
    rc, log = w.client.oneshot()
    assert rc == 3, log
    assert w.client.activation_log() == ["1", "1"], log


def test_netrc_deleted_while_polling_is_named(w):
    w.publish(1)
    agent = w.client.start("--poll-period", "1s")
    agent.wait_log(r"activated build 1 ")
    os.unlink(w.client.netrc)
    agent.wait_log(r"error: netrc-file /etc/nix/netrc: No such file or directory")
    assert "HTTP 401" not in agent.text()
    assert agent.stop() == 0


def test_netrc_readable_by_others_is_warned_about_once(w):
    w.publish(1)
    os.chmod(w.client.netrc, 0o644)
    agent = w.client.start("--poll-period", "1s")
    agent.wait_log(r"activated build 1 ")
    for n in (1, 2):
        agent.signal(signal.SIGHUP)
        agent.wait_log(r"SIGHUP: polling now", count=n)
    assert agent.text().count("can be read by others (mode 0644)") == 1, agent.text()
    assert agent.stop() == 0


def test_usage_errors_change_nothing(w):
    cases = [
        (["--job-uri", "htp://x/job/a/b/c"], "job-uri 'htp://x/job/a/b/c': scheme must be"),
        (["--job-uri", w.hydra.url + "/jobs/a"], "expected http(s)://HOST/job/PROJECT"),
        (["--job-uri", w.hydra.job_uri, "--netrc-file", "/nonexistent"],
         "netrc-file /nonexistent: No such file"),
        (["--job-uri", w.hydra.job_uri, "--poll-period", "0"], "--poll-period '0'"),
        (["--job-uri", w.hydra.job_uri, "--config", "/nonexistent.json"],
         "config file /nonexistent.json: No such file"),
    ]
    for args, message in cases:
        a = w.client.start(raw_args=["--oneshot", "--profile", "sub/demo", *args])
        assert a.wait() == 2, a.text()
        assert message in a.text(), (message, a.text())
    assert not os.path.exists("/nix/var/nix/profiles/sub")
    assert w.hydra.stats() == []


def test_polling_agent_survives_every_fault(w):
    w.publish(1)
    # a long period: only SIGHUP polls, so no poll slips in between faults
    agent = w.client.start("--poll-period", "1h", "--http-timeout", "2s", "--verbose")
    agent.wait_log(r"activated build 1 ")
    # the poll right after the switch must not find build 2 yet: the faults
    # on its JSON would then never be asked for
    agent.wait_log(r"is on the latest build 1")
    w.publish(2)
    for _, kind, target, value, _, _, pattern in HYDRA_FAULTS:
        seen = len(re.findall(pattern, agent.text(), re.M))
        w.hydra.fault(kind, target, **({"value": value} if value is not None else {}))
        agent.signal(signal.SIGHUP)     # poll now, whatever the backoff
        agent.wait_log(pattern + r".*; next poll in \d+", count=seen + 1, timeout=15)
        w.hydra.clear_faults()
    agent.signal(signal.SIGHUP)
    agent.wait_log(r"activated build 2 ", timeout=15)
    assert agent.proc.poll() is None
    assert agent.stop() == 0
    assert PASSWORD not in agent.text()

def test_polling_agent_survives_activation_faults(w):
    """Each bad build is rolled back to the good one and the agent polls on."""
    good = w.publish(1)
    agent = w.client.start("--poll-period", "1h", "--activation-timeout", "1s")
    agent.wait_log(r"activated build 1 ")
    faults = [
        (dict(activate="exit 3"), r"bin/activate exited with status 3"),
        (dict(activate="sleep 30"), r"bin/activate timed out after 1\."),
        (dict(hasActivate=False), r"bin/activate: No such file or directory"),
        (dict(executable=False), r"bin/activate: not executable"),
    ]
    for n, (args, pattern) in enumerate(faults, start=2):
        w.publish(n, **args)
        agent.signal(signal.SIGHUP)
        agent.wait_log(pattern, timeout=20)
        agent.wait_log(r"activated generation 1 after the rollback", count=n - 1, timeout=20)
        assert w.client.profile_target() == good
    last = w.publish(len(faults) + 2)
    agent.signal(signal.SIGHUP)
    agent.wait_log(r"activated build %d " % (len(faults) + 2), timeout=20)
    assert w.client.profile_target() == last
    assert agent.stop() == 0

if __name__ == "__main__":
    tests = [make_fault_test(r) for r in HYDRA_FAULTS]
    tests += [v for k, v in list(globals().items()) if k.startswith("test_")]
    run_tests(tests)
