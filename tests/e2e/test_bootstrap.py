"""hail-bootstrap on a simulated fresh instance: private empty /nix, /etc/nix
with only the image's base nix.conf, empty /etc/hail and /var/lib/hail; the
IMDS stand-in serves user-data and tags; real Nix substitutes the profile from
the Hydra stand-in's signed cache using only what the bootstrap wrote."""
import gzip
import hashlib
import json
import os
import signal
import time
from email.message import EmailMessage

from harness import HAIL, JOB, PASSWORD, STANDIN, USER, Hydra, Standin, run_tests, wait_for

FRESH = {"fresh_instance": True}
FLEET_FILE = "/etc/hail/fleet.json"
FLEET_KEYS = ("rollout-window", "control-ssm-parameter", "aws-endpoint-url", "imds-endpoint",
              "instance-id", "keep-generations", "gc", "min-free-after", "contact-timeout",
              "reboot-window", "reboot-command", "halt-alarm", "cloudwatch-metrics",
              "cloudwatch-period", "cloudwatch-namespace", "autoscaling-group")
WATCHED = ("/etc/nix", "/etc/hail", "/var/lib/hail", "/nix/var/nix/profiles")


def settings(w, **over):
    hail = {"job-uri": w.hydra.job_uri, "profile": "demo",
            "netrc": f"machine 127.0.0.1 login {USER} password {PASSWORD}\n",
            "substituters": [w.hydra.url], "trusted-public-keys": [w.builder.public_key]}
    hail.update(over)
    return json.dumps({"hail": {k: v for k, v in hail.items() if v is not None}})


def bootstrap(w, *extra, env=None):
    a = w.client.bootstrap("--imds-endpoint", w.imds.url, "--handoff", "none", "--wait", "10s",
                           "--hail", HAIL, *extra, env=env)
    rc = a.wait(60)
    return rc, a.text()


def snapshot():
    """Every file under the watched folders: mode, inode, mtime, content hash."""
    files = {}
    for top in WATCHED:
        for d, dirs, names in os.walk(top):
            for n in dirs + names:
                if n == "state.json":
                    continue    # the agent's: it records every poll
                p = os.path.join(d, n)
                st = os.lstat(p)
                digest = None
                if os.path.isfile(p) and not os.path.islink(p):
                    with open(p, "rb") as f:
                        digest = hashlib.sha256(f.read()).hexdigest()
                # a folder's mtime moves with the agent's state.json
                mtime = None if os.path.isdir(p) and not os.path.islink(p) else st.st_mtime_ns
                files[p] = (st.st_mode, st.st_ino, mtime, digest,
                            os.readlink(p) if os.path.islink(p) else None)
    return files


def bootstrap_requests(w):
    """The bootstrap's own IMDS requests (the agent it runs reads the tags too)."""
    return [r for r in w.imds.stats() if (r["user_agent"] or "").startswith("hail-bootstrap/")]


def check_deployed(w, out, log):
    assert w.client.profile_target() == out, log
    assert w.client.activation_log()[-1] == "1", log
    st = os.stat("/etc/nix/netrc")
    assert st.st_mode & 0o777 == 0o600 and st.st_uid == 0
    with open("/etc/nix/hail.conf") as f:
        conf = f.read()
    assert f"extra-substituters = {w.hydra.url}\n" in conf, conf
    assert f"extra-trusted-public-keys = {w.builder.public_key}\n" in conf, conf
    assert "netrc-file = /etc/nix/netrc\n" in conf, conf
    with open("/etc/nix/nix.conf") as f:
        nixconf = f.read()
    assert nixconf.startswith("build-users-group =\n") and nixconf.endswith("!include hail.conf\n")
    with open("/etc/hail/demo.json") as f:
        cfg = json.load(f)
    assert cfg == {"job-uri": w.hydra.job_uri, "profile": "demo",
                   "netrc-file": "/etc/nix/netrc", "fleet-file": FLEET_FILE}, cfg
    with open(FLEET_FILE) as f:
        fleet = json.load(f)
    assert fleet == {"imds-endpoint": w.imds.url, "instance-id": "i-0123456789abcdef0"}, fleet
    assert os.stat(FLEET_FILE).st_mode & 0o777 == 0o644
    with open("/var/lib/hail/bootstrap.json") as f:
        record = json.load(f)
    assert record["store-path"] == out and record["instance-id"].startswith("i-"), record
    for p in ("/etc/hail/demo.json", FLEET_FILE, "/var/lib/hail/bootstrap.json",
              "/etc/nix/hail.conf"):
        with open(p) as f:
            assert PASSWORD not in f.read(), p
    assert PASSWORD not in log


def test_json_user_data_deploys(w):
    out = w.publish(1)
    w.imds.set_user_data(settings(w))
    rc, log = bootstrap(w)
    assert rc == 0, log
    check_deployed(w, out, log)
test_json_user_data_deploys.client_kw = FRESH
test_json_user_data_deploys.imds_args = []


def test_gzip_user_data_deploys(w):
    out = w.publish(1)
    w.imds.set_user_data(gzip.compress(settings(w).encode()))
    rc, log = bootstrap(w)
    assert rc == 0, log
    check_deployed(w, out, log)
test_gzip_user_data_deploys.client_kw = FRESH
test_gzip_user_data_deploys.imds_args = []


def mime(w):
    return ("Content-Type: multipart/mixed; boundary=\"==hail==\"\nMIME-Version: 1.0\n\n"
            "--==hail==\nContent-Type: text/cloud-config; charset=\"us-ascii\"\n\n"
            "#cloud-config\npackages: [htop]\n"
            "--==hail==\nContent-Type: text/x-shellscript\n\n#!/bin/sh\necho hello\n"
            "--==hail==\nContent-Type: application/json\n\n" + settings(w) + "\n"
            "--==hail==--\n")


def test_mime_user_data_deploys(w):
    out = w.publish(1)
    w.imds.set_user_data(gzip.compress(mime(w).encode()))
    rc, log = bootstrap(w)
    assert rc == 0, log
    check_deployed(w, out, log)
test_mime_user_data_deploys.client_kw = FRESH
test_mime_user_data_deploys.imds_args = []


def test_second_run_changes_nothing(w):
    w.publish(1)
    w.imds.set_user_data(settings(w))
    assert bootstrap(w)[0] == 0
    before = snapshot()
    rc, log = bootstrap(w)
    assert rc == 0, log
    assert "settings unchanged" in log, log
    assert snapshot() == before
test_second_run_changes_nothing.client_kw = FRESH
test_second_run_changes_nothing.imds_args = []


def test_new_metadata_updates_files(w):
    w.publish(1)
    w.imds.set_user_data(settings(w))
    assert bootstrap(w)[0] == 0
    w.imds.set_user_data(settings(w, **{"poll-period": "1h"}))
    rc, log = bootstrap(w)
    assert rc == 0, log
    with open("/etc/hail/demo.json") as f:
        assert json.load(f)["poll-period"] == "1h"
test_new_metadata_updates_files.client_kw = FRESH
test_new_metadata_updates_files.imds_args = []


def test_fleet_settings_go_to_the_fleet_file(w):
    """The fleet settings are for every agent on the machine: they go to
    /etc/hail/fleet.json, which the profile's config names; the agent the
    bootstrap runs reads them from there (its SSM parameter is asked)."""
    w.publish(1)
    w.give_role()
    w.aws.configure(parameters={"/hail/control": {"Type": "String", "Value": "{}"}})
    fleet_keys = {"rollout-window": "2h", "control-ssm-parameter": "/hail/control",
                  "aws-endpoint-url": w.aws.url, "keep-generations": 3, "gc": "after-deploy",
                  "contact-timeout": "2m", "reboot-window": "22:30-01:00",
                  "reboot-command": "/run/current-system/sw/bin/reboot",
                  "halt-alarm": "hail-activation-failures", "cloudwatch-metrics": True,
                  "cloudwatch-period": "10m", "cloudwatch-namespace": "hail/web"}
    w.imds.set_user_data(settings(w, **fleet_keys, **{"min-free-after": "512M"}))
    rc, log = bootstrap(w)
    assert rc == 0, log
    assert f"wrote {FLEET_FILE}" in log, log
    with open(FLEET_FILE) as f:
        fleet = json.load(f)
    assert fleet == {**fleet_keys, "imds-endpoint": w.imds.url, "min-free-after": 512 << 20,
                     "instance-id": "i-0123456789abcdef0"}, fleet
    with open("/etc/hail/demo.json") as f:
        cfg = json.load(f)
    assert cfg["fleet-file"] == FLEET_FILE and not set(FLEET_KEYS) & set(cfg), cfg
    asked = [c for c in w.aws.calls() if c["operation"] == "GetParameter"]
    assert asked, w.aws.calls()
    # again: nothing changes
    before = snapshot()
    rc, log = bootstrap(w)
    assert rc == 0 and "settings unchanged" in log, log
    assert snapshot() == before
    # the keys dropped from the user-data leave the fleet file too
    w.imds.set_user_data(settings(w))
    rc, log = bootstrap(w)
    assert rc == 0, log
    with open(FLEET_FILE) as f:
        fleet = json.load(f)
    assert fleet == {"imds-endpoint": w.imds.url, "instance-id": "i-0123456789abcdef0"}, fleet
    with open("/etc/hail/demo.json") as f:
        assert json.load(f) == cfg
test_fleet_settings_go_to_the_fleet_file.client_kw = FRESH
test_fleet_settings_go_to_the_fleet_file.imds_args = []
test_fleet_settings_go_to_the_fleet_file.aws_args = []


def test_handoff_exec_then_deploys_a_newer_build(w):
    w.publish(1)
    w.imds.set_user_data(settings(w, **{"poll-period": "1s"}))
    a = w.client.bootstrap("--imds-endpoint", w.imds.url, "--handoff", "exec", "--hail", HAIL)
    a.wait_log(r"activated build 1 ", timeout=30)
    a.wait_log(r"following .* every 1s")
    out2 = w.publish(2)
    a.wait_log(r"activated build 2 ", timeout=15)
    assert w.client.profile_target() == out2
    a.signal(signal.SIGTERM)
    assert a.wait(10) == 0
test_handoff_exec_then_deploys_a_newer_build.client_kw = FRESH
test_handoff_exec_then_deploys_a_newer_build.imds_args = []


def test_job_uri_from_a_tag(w):
    out = w.publish(1)
    w.imds.set_user_data(settings(w, **{"job-uri": None}))
    w.imds.set_tags({"hail:job-uri": w.hydra.job_uri, "Name": "web"})
    rc, log = bootstrap(w)
    assert rc == 0, log
    assert "(from tag)" in log, log
    check_deployed(w, out, log)
test_job_uri_from_a_tag.client_kw = FRESH
test_job_uri_from_a_tag.imds_args = []


def test_user_data_wins_over_tags(w):
    w.publish(1)
    w.imds.set_user_data(settings(w))
    w.imds.set_tags({"hail:job-uri": "https://elsewhere.invalid/job/a/b/c",
                     "hail:profile": "other"})
    rc, log = bootstrap(w)
    assert rc == 0, log
    assert os.path.exists("/etc/hail/demo.json") and not os.path.exists("/etc/hail/other.json")
test_user_data_wins_over_tags.client_kw = FRESH
test_user_data_wins_over_tags.imds_args = []


def test_boot_race_is_waited_out(w):
    out = w.publish(1)
    w.imds.set_user_data(settings(w))
    for mode in ("refuse", "503"):
        w.imds.configure(fail_first=3, fail_mode=mode)
        rc, log = bootstrap(w)
        assert rc == 0, (mode, log)
        assert w.client.profile_target() == out
test_boot_race_is_waited_out.client_kw = FRESH
test_boot_race_is_waited_out.imds_args = []


def test_every_get_carries_a_token_from_one_put(w):
    w.publish(1)
    w.imds.set_user_data(settings(w))
    assert bootstrap(w)[0] == 0
    reqs = bootstrap_requests(w)
    puts = [r for r in reqs if r["method"] == "PUT"]
    gets = [r for r in reqs if r["method"] == "GET"]
    assert len(puts) == 1 and puts[0]["status"] == 200, reqs
    assert gets and all(r["token"] == "valid" for r in gets), reqs
    assert len(reqs) <= 5, reqs
test_every_get_carries_a_token_from_one_put.client_kw = FRESH
test_every_get_carries_a_token_from_one_put.imds_args = []


def test_imds_that_never_answers(w):
    base = snapshot()
    w.imds.stop()
    start = time.monotonic()
    rc, log = bootstrap(w, "--wait", "2s")
    assert rc == 3, log
    assert time.monotonic() - start < 10
    assert "IMDS did not answer in time" in log, log
    assert snapshot() == base
test_imds_that_never_answers.client_kw = FRESH
test_imds_that_never_answers.imds_args = []


def test_imds_disabled(w):
    env = w.client.env(AWS_EC2_METADATA_DISABLED="true")
    rc, log = bootstrap(w, env=env)
    assert rc == 3 and "AWS_EC2_METADATA_DISABLED" in log, log
    assert w.imds.stats() == []
test_imds_disabled.client_kw = FRESH
test_imds_disabled.imds_args = []


def test_root_writes_below_a_folder(w):
    base = snapshot()
    w.imds.set_user_data(settings(w))
    root = os.path.join(w.root, "image")
    rc, log = bootstrap(w, "--root", root)
    assert rc == 0, log
    with open(os.path.join(root, "etc/hail/demo.json")) as f:
        assert json.load(f)["fleet-file"] == FLEET_FILE    # as the machine sees it
    with open(os.path.join(root, "etc/hail/fleet.json")) as f:
        assert json.load(f)["imds-endpoint"] == w.imds.url
    assert os.stat(os.path.join(root, "etc/nix/netrc")).st_mode & 0o777 == 0o600
    assert snapshot() == base
test_root_writes_below_a_folder.client_kw = FRESH
test_root_writes_below_a_folder.imds_args = []


def malformed(w):
    """(name, user-data, text the error line must hold)"""
    return [
        ("broken JSON", '{"hail": {"job-uri": ', "user-data: looks like JSON but does not parse"),
        ("hail not an object", '{"hail": []}', "hail: must be a JSON object"),
        ("job-uri wrong type", settings(w, **{"job-uri": 42}), "hail.job-uri: must be a string"),
        ("job-uri bad", settings(w, **{"job-uri": "ftp://x/job/a/b/c"}), "hail.job-uri"),
        ("no job-uri", settings(w, **{"job-uri": None}), "no job-uri"),
        ("profile bad", settings(w, profile="../../etc"), "hail.profile"),
        ("poll-period bad", settings(w, **{"poll-period": "often"}), "hail.poll-period"),
        ("netrc malformed", settings(w, netrc=f"machine 127.0.0.1 login {USER} {PASSWORD}"),
         "hail.netrc: malformed"),
        ("netrc wrong type", settings(w, netrc=["x"]), "hail.netrc: must be a string"),
        ("substituters not a list", settings(w, substituters="http://x"), "hail.substituters"),
        ("substituter bad", settings(w, substituters=["file:///tmp"]), "hail.substituters[0]"),
        ("key bad", settings(w, **{"trusted-public-keys": ["k:abc"]}),
         "hail.trusted-public-keys[0]"),
        ("corrupt gzip", b"\x1f\x8b\x08\x00\x00\x00\x00\x00garbage", "corrupt or truncated gzip"),
        ("gzip bomb", gzip.compress(b" " * (1 << 20)), "larger than 16384 bytes after gzip"),
        ("MIME without end", mime(w).replace("--==hail==--\n", ""), "no closing boundary"),
        ("MIME without boundary", "Content-Type: multipart/mixed\n\n--x\n", "without a multipart"),
    ]


def refused_writing_nothing(w, cases):
    """Each (name, user-data, message): exit 4, one error line holding the
    message, no password in the log, nothing written."""
    w.publish(1)
    base = snapshot()
    for name, data, message in cases:
        w.imds.set_user_data(data)
        rc, log = bootstrap(w)
        assert rc == 4, (name, rc, log)
        errors = [l for l in log.splitlines() if "error:" in l]
        assert len(errors) == 1 and message in errors[0], (name, message, log)
        assert PASSWORD not in log, name
        assert snapshot() == base, (name, snapshot())


def test_malformed_user_data_writes_nothing(w):
    refused_writing_nothing(w, malformed(w))
test_malformed_user_data_writes_nothing.client_kw = FRESH
test_malformed_user_data_writes_nothing.imds_args = []


def test_malformed_tag_writes_nothing(w):
    base = snapshot()
    w.imds.set_user_data(settings(w, **{"job-uri": None}))
    w.imds.set_tags({"hail:job-uri": "not a uri"})
    rc, log = bootstrap(w)
    assert rc == 4 and "instance tag hail:job-uri" in log, log
    assert snapshot() == base
test_malformed_tag_writes_nothing.client_kw = FRESH
test_malformed_tag_writes_nothing.imds_args = []


def test_imdsv1_fallback_when_the_token_put_times_out(w):
    """An extra network hop eats the PUT (hop limit 1): botocore carries on
    without a token where tokens are optional (protocols.md)."""
    out = w.publish(1)
    w.imds.set_user_data(settings(w))
    w.imds.configure(tokens="optional", fail_first=1, fail_mode="timeout")
    rc, log = bootstrap(w)
    assert rc == 0, log
    assert w.client.profile_target() == out
    reqs = bootstrap_requests(w)
    assert reqs[0]["method"] == "PUT" and reqs[0]["status"] is None, reqs
    assert all(r["token"] == "none" for r in reqs[1:]), reqs
test_imdsv1_fallback_when_the_token_put_times_out.client_kw = FRESH
test_imdsv1_fallback_when_the_token_put_times_out.imds_args = []


def test_endpoint_from_the_sdk_environment_variable(w):
    out = w.publish(1)
    w.imds.set_user_data(settings(w))
    env = w.client.env(AWS_EC2_METADATA_SERVICE_ENDPOINT=w.imds.url + "/")
    a = w.client.bootstrap("--handoff", "none", "--hail", HAIL, env=env)
    assert a.wait(60) == 0, a.text()
    assert w.client.profile_target() == out
test_endpoint_from_the_sdk_environment_variable.client_kw = FRESH
test_endpoint_from_the_sdk_environment_variable.imds_args = []


def test_systemd_handoff_enables_the_agent_unit(w):
    """systemd cannot run here (the image test boots it for real): a
    systemctl on PATH that records its arguments shows the call."""
    w.publish(1)
    w.imds.set_user_data(settings(w))
    bindir = os.path.join(w.root, "bin")
    os.makedirs(bindir)
    calls = os.path.join(w.root, "systemctl.calls")
    with open(os.path.join(bindir, "systemctl"), "w") as f:
        f.write(f'#!/bin/sh\necho "$@" >> {calls}\n')
    os.chmod(os.path.join(bindir, "systemctl"), 0o755)
    env = w.client.env(PATH=bindir + ":" + os.environ["PATH"])
    a = w.client.bootstrap("--imds-endpoint", w.imds.url, "--hail", HAIL, env=env)
    assert a.wait(60) == 0, a.text()
    with open(calls) as f:
        assert f.read() == "enable --now --no-block hail@demo.service\n"
test_systemd_handoff_enables_the_agent_unit.client_kw = FRESH
test_systemd_handoff_enables_the_agent_unit.imds_args = []


def test_a_401_fetches_a_new_token(w):
    """A token that stops working (expired, revoked) is replaced at once."""
    out = w.publish(1)
    w.imds.set_user_data(settings(w))
    w.imds.configure(token_max_uses=2)
    rc, log = bootstrap(w)
    assert rc == 0, log
    reqs = bootstrap_requests(w)
    assert [r["method"] for r in reqs].count("PUT") == 2, reqs
    assert [r["status"] for r in reqs].count(401) == 1, reqs
    assert w.client.profile_target() == out
test_a_401_fetches_a_new_token.client_kw = FRESH
test_a_401_fetches_a_new_token.imds_args = []


def hydra_with_password(w, password):
    """Replaces the world's Hydra stand-in by one whose basic auth wants password."""
    h = Hydra.__new__(Hydra)
    Standin.__init__(h, w.root, "hydra-pw", [STANDIN, "--cache-dir", w.builder.cache,
                                             "--user", USER, "--password", password])
    h.job_uri = f"{h.url}/job/{JOB}"
    w.hydra.stop()
    w.hydra = h


def test_quoted_printable_part_from_pythons_email_package(w):
    """User-data as a tool writes it with Python's email package: the JSON part
    is one long line, so set_content() picks quoted-printable, and every "="
    of the password and the key turns into "=3D"."""
    password = "pa=ss==w0rd="
    hydra_with_password(w, password)
    out = w.publish(1)
    netrc = f"machine 127.0.0.1 login {USER} password {password}\n"
    msg = EmailMessage()
    msg.make_mixed()
    cloud = EmailMessage()
    cloud.set_content("#cloud-config\npackages: [htop]\n", subtype="cloud-config")
    msg.attach(cloud)
    part = EmailMessage()
    part.set_content(settings(w, netrc=netrc), subtype="json")
    msg.attach(part)
    data = msg.as_bytes()
    # the encoder's own choice, not ours: make sure it is the case under test
    assert part["Content-Transfer-Encoding"] == "quoted-printable", part.as_string()
    assert b"=3D" in data and b"=\n" in data, data
    w.imds.set_user_data(data)
    rc, log = bootstrap(w)
    assert rc == 0, log
    assert w.client.profile_target() == out, log
    with open("/etc/nix/netrc") as f:
        assert f.read() == netrc
    assert password not in log
test_quoted_printable_part_from_pythons_email_package.client_kw = FRESH
test_quoted_printable_part_from_pythons_email_package.imds_args = []


def test_byte_order_mark_before_the_json(w):
    out = w.publish(1)
    w.imds.set_user_data(b"\xef\xbb\xbf" + settings(w).encode())
    rc, log = bootstrap(w)
    assert rc == 0, log
    check_deployed(w, out, log)
test_byte_order_mark_before_the_json.client_kw = FRESH
test_byte_order_mark_before_the_json.imds_args = []


def test_malformed_quoted_printable_names_the_part(w):
    base = snapshot()
    data = ("Content-Type: multipart/mixed; boundary=B\n\n--B\n"
            "Content-Type: text/cloud-config\n\n#cloud-config\n--B\n"
            "Content-Transfer-Encoding: quoted-printable\n\n"
            + settings(w).replace("s3cret", "s3=cret") + "\n--B--\n")
    w.imds.set_user_data(data)
    rc, log = bootstrap(w)
    assert rc == 4, log
    errors = [l for l in log.splitlines() if "error:" in l]
    assert len(errors) == 1 and "MIME part 2: malformed quoted-printable on line 1" in errors[0], log
    assert "s3=cret" not in log and PASSWORD[2:] not in log, log
    assert snapshot() == base
test_malformed_quoted_printable_names_the_part.client_kw = FRESH
test_malformed_quoted_printable_names_the_part.imds_args = []


WRAPPER = """#!/usr/bin/python3
# Stands in for hail: the bootstrap runs it for --oneshot and then execs it.
import json, os, signal, sys
REAL, REPORT = {real!r}, {report!r}
if "--oneshot" in sys.argv:
    # the bootstrap is waiting for us: a SIGHUP to it must not kill it
    os.kill(os.getppid(), signal.SIGHUP)
else:
    # we are the bootstrap, exec'd: what did it hand over?
    fds = {{}}
    for fd in os.listdir("/proc/self/fd"):
        try:
            fds[fd] = os.readlink("/proc/self/fd/" + fd)
        except OSError:
            pass        # the listing's own descriptor, closed by now
    def status():
        with open("/proc/self/status") as f:
            return dict(l.split(":", 1) for l in f if ":" in l)
    blocked = int(status()["SigBlk"], 16)
    # a SIGHUP at the moment of the exec: it must wait, pending, for hail
    os.kill(os.getpid(), signal.SIGHUP)
    st = status()
    pending = int(st["SigPnd"], 16) | int(st["ShdPnd"], 16)
    with open(REPORT + ".tmp", "w") as f:
        json.dump({{"fds": fds, "blocked": blocked, "pending": pending}}, f)
    os.rename(REPORT + ".tmp", REPORT)
os.execv(REAL, [REAL] + sys.argv[1:])
"""


def test_handoff_exec_hands_over_no_descriptor_and_keeps_signals_blocked(w):
    """The exec'd program starts with nothing open above stderr (no libcurl
    socket to IMDS) and with SIGHUP and SIGTERM blocked, so a SIGHUP sent at
    the exec waits for hail, which takes it as a poll instead of dying."""
    w.publish(1)
    w.imds.set_user_data(settings(w, **{"poll-period": "1h"}))
    report = os.path.join(w.root, "handoff.json")
    wrapper = os.path.join(w.root, "hail-wrapper")
    with open(wrapper, "w") as f:
        f.write(WRAPPER.format(real=HAIL, report=report))
    os.chmod(wrapper, 0o755)
    a = w.client.bootstrap("--imds-endpoint", w.imds.url, "--handoff", "exec", "--hail", wrapper)
    wait_for(lambda: os.path.exists(report) or a.proc.poll() is not None, 60, "the hand-off")
    assert a.proc.poll() is None, (a.proc.returncode, a.text())
    with open(report) as f:
        got = json.load(f)
    assert set(got["fds"]) == {"0", "1", "2"}, got["fds"]
    hup, term = 1 << (signal.SIGHUP - 1), 1 << (signal.SIGTERM - 1)
    assert got["blocked"] & hup and got["blocked"] & term, hex(got["blocked"])
    assert got["pending"] & hup, hex(got["pending"])
    a.wait_log(r"following .* every 1h")
    out2 = w.publish(2)
    a.signal(signal.SIGHUP)
    a.wait_log(r"activated build 2 ", timeout=15)
    assert w.client.profile_target() == out2
    assert a.proc.poll() is None, a.text()
    a.signal(signal.SIGTERM)
    assert a.wait(10) == 0, a.text()
test_handoff_exec_hands_over_no_descriptor_and_keeps_signals_blocked.client_kw = FRESH
test_handoff_exec_hands_over_no_descriptor_and_keeps_signals_blocked.imds_args = []


def record():
    with open("/var/lib/hail/bootstrap.json") as f:
        return json.load(f)


def netrc_in_settings():
    with open("/etc/nix/hail.conf") as f:
        conf = f.read()
    with open("/etc/hail/demo.json") as f:
        cfg = json.load(f)
    return "netrc-file = /etc/nix/netrc\n" in conf, cfg.get("netrc-file")


def test_a_netrc_dropped_from_user_data_is_removed_but_not_an_operators(w):
    w.publish(1)
    mine = f"machine 127.0.0.1\n  login {USER}\n  password {PASSWORD}\n"

    def operator_writes(text):
        with open("/etc/nix/netrc", "w") as f:    # in place: the same inode
            os.fchmod(f.fileno(), 0o600)
            f.write(text)

    def read_netrc():
        with open("/etc/nix/netrc") as f:
            return f.read()

    # an operator's netrc, no record at all: kept and used
    operator_writes(mine)
    w.imds.set_user_data(settings(w, netrc=None))
    rc, log = bootstrap(w)
    assert rc == 0, log
    assert read_netrc() == mine and "kept /etc/nix/netrc" in log, log
    assert netrc_in_settings() == (True, "/etc/nix/netrc")
    # the user-data's netrc replaces it and is the bootstrap's now
    w.imds.set_user_data(settings(w))
    rc, log = bootstrap(w)
    assert rc == 0, log
    assert "netrc-written" in record(), record()
    # dropped from the user-data: removed, and nothing points to it
    w.imds.set_user_data(settings(w, netrc=None))
    rc, log = bootstrap(w)
    assert rc == 6, log     # the Hydra wants the credential just revoked
    assert not os.path.lexists("/etc/nix/netrc"), log
    removed = [l for l in log.splitlines() if "/etc/nix/netrc" in l]
    assert len(removed) == 1 and "removed /etc/nix/netrc" in removed[0], log
    assert netrc_in_settings() == (False, None)
    assert "netrc-written" not in record(), record()
    # written again, then changed by an operator: theirs, kept
    w.imds.set_user_data(settings(w))
    assert bootstrap(w)[0] == 0
    operator_writes(mine)
    w.imds.set_user_data(settings(w, netrc=None))
    rc, log = bootstrap(w)
    assert rc == 0, log
    assert read_netrc() == mine and "kept /etc/nix/netrc" in log, log
    assert netrc_in_settings() == (True, "/etc/nix/netrc")
    assert PASSWORD not in log
test_a_netrc_dropped_from_user_data_is_removed_but_not_an_operators.client_kw = FRESH
test_a_netrc_dropped_from_user_data_is_removed_but_not_an_operators.imds_args = []


def cloud_config(w, extra=""):
    """The settings of settings(w) as cloud-init users write them, beside
    cloud-init's own keys."""
    return ("#cloud-config\npackages: [htop]\nruncmd:\n  - echo hello\n"
            f"hail:\n  job-uri: {w.hydra.job_uri}\n  profile: demo\n"
            f"  netrc: |\n    machine 127.0.0.1 login {USER} password {PASSWORD}\n"
            f"  substituters:\n    - {w.hydra.url}\n"
            f"  trusted-public-keys: ['{w.builder.public_key}']\n" + extra)


def deploys_from(w, user_data):
    out = w.publish(1)
    w.imds.set_user_data(user_data)
    rc, log = bootstrap(w)
    assert rc == 0, log
    check_deployed(w, out, log)


def test_cloud_config_user_data_deploys(w):
    deploys_from(w, cloud_config(w))
test_cloud_config_user_data_deploys.client_kw = FRESH
test_cloud_config_user_data_deploys.imds_args = []


def test_cloud_config_in_mime_beside_a_script_deploys(w):
    msg = EmailMessage()
    msg.make_mixed()
    script = EmailMessage()
    script.set_content("#!/bin/sh\necho hello\n", subtype="x-shellscript")
    msg.attach(script)
    cloud = EmailMessage()
    cloud.set_content(cloud_config(w), subtype="cloud-config")
    msg.attach(cloud)
    deploys_from(w, msg.as_bytes())
test_cloud_config_in_mime_beside_a_script_deploys.client_kw = FRESH
test_cloud_config_in_mime_beside_a_script_deploys.imds_args = []


def test_gzip_cloud_config_deploys(w):
    deploys_from(w, gzip.compress(cloud_config(w).encode()))
test_gzip_cloud_config_deploys.client_kw = FRESH
test_gzip_cloud_config_deploys.imds_args = []


def alias_bomb():
    """Billion laughs: nine anchors of nine aliases each, 9^9 nodes expanded."""
    doc = "#cloud-config\nl0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    for i in range(1, 10):
        doc += f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]\n"
    return doc + "hail: {profile: *l9}\n"


def malformed_cloud_config(w):
    """(name, user-data, text the error line must hold)"""
    return [
        ("YAML error", cloud_config(w, "  poll-period: [5m\n"),
         "user-data: cloud-config line 14 column 1: did not find expected"),
        ("alias bomb", alias_bomb(), "aliases expand to more than 10000 nodes"),
        ("over 16 KiB", cloud_config(w, "# padding\n" * 1700), "larger than 16384 bytes"),
        ("hail a list", "#cloud-config\nhail: [a, b]\n", "hail: must be a mapping"),
        ("wrong type", cloud_config(w, "  report-health: maybe\n"),
         "user-data: hail.report-health: must be true or false"),
        ("same schema", cloud_config(w).replace("profile: demo", "profile: ../etc"),
         "user-data: hail.profile"),
        ("in MIME", "Content-Type: multipart/mixed; boundary=B\n\n--B\n"
         "Content-Type: text/cloud-config\n\n#cloud-config\nhail: {\n--B--\n",
         "user-data: MIME part 1: cloud-config line "),
    ]


def test_malformed_cloud_config_writes_nothing(w):
    refused_writing_nothing(w, malformed_cloud_config(w))
test_malformed_cloud_config_writes_nothing.client_kw = FRESH
test_malformed_cloud_config_writes_nothing.imds_args = []


def check_file(w, data):
    path = os.path.join(w.root, "user-data")
    with open(path, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)
    a = w.client.bootstrap("--check", path)
    return a.wait(30), a.text()


def test_check_reads_a_user_data_file_offline(w):
    """--check: every form the first boot takes, the settings it would write,
    the netrc's password masked; nothing written, nothing asked of IMDS."""
    base = snapshot()
    forms = {"JSON": settings(w), "gzip": gzip.compress(settings(w).encode()),
             "MIME": mime(w), "cloud-config": cloud_config(w),
             "gzip'd MIME of cloud-config": gzip.compress(
                 ("Content-Type: multipart/mixed; boundary=B\n\n--B\n"
                  "Content-Type: text/x-shellscript\n\n#!/bin/sh\n--B\n"
                  "Content-Type: text/cloud-config\n\n" + cloud_config(w) + "--B--\n").encode())}
    for name, data in forms.items():
        rc, out = check_file(w, data)
        assert rc == 0, (name, out)
        assert f"job-uri:               {w.hydra.job_uri}\n" in out, (name, out)
        assert "profile:               demo\n" in out, (name, out)
        assert f"  machine 127.0.0.1 login {USER} password ********\n" in out, (name, out)
        assert f"trusted-public-keys:   {w.builder.public_key}\n" in out, (name, out)
        assert PASSWORD not in out, name
    rc, out = check_file(w, cloud_config(w).replace(f"  job-uri: {w.hydra.job_uri}\n", ""))
    assert rc == 0 and "job-uri:               (none: the instance tag" in out, out
    for name, data, message in malformed(w)[:4] + malformed_cloud_config(w):
        if name == "no job-uri":
            continue
        rc, out = check_file(w, data)
        errors = [l for l in out.splitlines() if "error:" in l]
        assert rc == 4 and len(errors) == 1 and message in errors[0], (name, rc, out)
        assert PASSWORD not in out, name
    rc, out = check_file(w, "#cloud-config\npackages: [htop]\n")
    assert rc == 4 and "no hail settings" in out, out
    a = w.client.bootstrap("--check", os.path.join(w.root, "nowhere"))
    rc, out = a.wait(30), a.text()
    assert rc == 2 and "nowhere: no such file" in out, out
    assert snapshot() == base
    assert not bootstrap_requests(w), w.imds.stats()
test_check_reads_a_user_data_file_offline.client_kw = FRESH
test_check_reads_a_user_data_file_offline.imds_args = []


if __name__ == "__main__":
    run_tests([v for k, v in list(globals().items()) if k.startswith("test_")])
