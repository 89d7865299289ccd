"""image/hail-profile.nix: the self-managing hail profile builds with real
nix-build, deploys through hail like any build, and its activate installs
the unit, writes the agents' configs to /etc/hail/profile.d (never the
bootstrap's /etc/hail/NAME.json) and (re)starts them, restarting its own
hail through systemd-run; image/hail-agent picks the bootstrap's config
first. systemd does not run here: systemctl and systemd-run on PATH record
their arguments (the QEMU image test runs them for real)."""
import json
import os
import subprocess

from harness import HAIL, REPO, run_tests

PROFILE_NIX = os.path.join(REPO, "image", "hail-profile.nix")
HAIL_AGENT = os.path.join(REPO, "image", "hail-agent")
FLEET_FILE = "/etc/hail/fleet.json"
# what hail-bootstrap writes for the profile it pulled (its own format)
BOOTSTRAP_CONFIG = ('{\n\t"job-uri":\t"https://user-data/job/ops/prod/hail",\n'
                    '\t"profile":\t"hail",\n\t"fleet-file":\t"/etc/hail/fleet.json"\n}\n')


def fake_systemd(w):
    bindir = os.path.join(w.root, "bin")
    os.makedirs(bindir)
    calls = os.path.join(w.root, "calls")
    for tool in ("systemctl", "systemd-run"):
        with open(os.path.join(bindir, tool), "w") as f:
            f.write(f'#!/bin/sh\necho "{tool} $*" >> {calls}\n')
        os.chmod(os.path.join(bindir, tool), 0o755)
    return bindir, calls


def build_profile(w, services):
    nix_args = ["--arg", "hail", HAIL,
                "--arg", "self", '{ job-uri = "%s"; poll-period = "1m"; }' % w.hydra.job_uri,
                "--arg", "services", services]
    return w.builder.build_file(PROFILE_NIX, nix_args)


def test_self_managing_profile_builds_deploys_and_activates(w):
    out = build_profile(w, '{ web = { job-uri = "https://h/job/ops/prod/web"; }; }')
    w.hydra.publish(out)
    bindir, calls = fake_systemd(w)
    # the bootstrap's files, there before the first activation
    with open("/etc/hail/hail.json", "w") as f:
        f.write(BOOTSTRAP_CONFIG)
    with open(FLEET_FILE, "w") as f:
        f.write('{"rollout-window": "2h"}\n')
    before = {p: os.stat(p) for p in ("/etc/hail/hail.json", FLEET_FILE)}
    units = os.path.join(w.root, "systemd")
    env = w.client.env(PATH=bindir + ":" + os.environ["PATH"], HAIL_SYSTEMD_DIR=units)
    rc, log = w.client.oneshot(env=env)
    assert rc == 0, log
    assert w.client.profile_target() == out
    with open(HAIL, "rb") as a, open(os.path.join(out, "bin/hail"), "rb") as b:
        assert a.read() == b.read()
    with open(os.path.join(units, "hail@.service")) as f, \
         open(os.path.join(REPO, "image", "hail@.service")) as g:
        assert f.read() == g.read()
    with open("/etc/hail/profile.d/web.json") as f:
        assert json.load(f) == {"profile": "web", "job-uri": "https://h/job/ops/prod/web",
                                "poll-period": "5m", "netrc-file": "/etc/nix/netrc",
                                "fleet-file": FLEET_FILE}
    assert os.stat("/etc/hail/profile.d/web.json").st_mode & 0o777 == 0o644
    with open("/etc/hail/profile.d/hail.json") as f:
        cfg = json.load(f)
    assert cfg["job-uri"] == w.hydra.job_uri and cfg["fleet-file"] == FLEET_FILE, cfg
    # the bootstrap's files are left alone; no /etc/hail/NAME.json is written
    assert not os.path.exists("/etc/hail/web.json")
    for p, st in before.items():
        now = os.stat(p)
        assert (now.st_ino, now.st_mtime_ns) == (st.st_ino, st.st_mtime_ns), p
    with open("/etc/hail/hail.json") as f:
        assert f.read() == BOOTSTRAP_CONFIG
    assert sorted(os.listdir("/etc/hail")) == ["fleet.json", "hail.json", "profile.d"]
    with open(calls) as f:
        first = f.read().splitlines()
    assert first[0] == "systemctl daemon-reload", first
    assert "systemctl enable hail@hail.service" in first
    assert any(c.startswith("systemd-run --no-block --unit hail-restart-hail-") and
               c.endswith("systemctl try-restart hail@hail.service") for c in first), first
    assert "systemctl --no-block restart hail@web.service" in first, first
    # again, unchanged: no reload, the service is only started
    os.unlink(calls)
    rc, log = w.client.oneshot(env=env)
    assert rc == 0, log
    with open(calls) as f:
        again = f.read().splitlines()
    assert "systemctl daemon-reload" not in again, again
    assert "systemctl --no-block start hail@web.service" in again, again
    assert not os.path.exists("/etc/hail/web.json")
    with open("/etc/hail/hail.json") as f:
        assert f.read() == BOOTSTRAP_CONFIG


def test_a_config_an_older_activation_wrote_is_removed(w):
    """Activations before profile.d wrote /etc/hail/NAME.json, which would
    shadow profile.d/NAME.json: exactly that file goes and the agent
    restarts; anything else there (an operator's, the bootstrap's) stays."""
    out = build_profile(w, '{ web = { job-uri = "https://h/job/ops/prod/web"; }; '
                           'api = { job-uri = "https://h/job/ops/prod/api"; }; }')
    w.hydra.publish(out)
    bindir, calls = fake_systemd(w)
    with open("/etc/hail/web.json", "w") as f:      # as the old activate wrote it
        f.write('{"job-uri":"https://h/job/ops/prod/web","netrc-file":"/etc/nix/netrc",'
                '"poll-period":"5m","profile":"web"}\n')
    operators = '{"job-uri":"https://h/job/ops/prod/api","profile":"api","poll-period":"1h"}\n'
    with open("/etc/hail/api.json", "w") as f:
        f.write(operators)
    env = w.client.env(PATH=bindir + ":" + os.environ["PATH"],
                       HAIL_SYSTEMD_DIR=os.path.join(w.root, "systemd"))
    rc, log = w.client.oneshot(env=env)
    assert rc == 0, log
    assert not os.path.exists("/etc/hail/web.json")
    with open("/etc/hail/api.json") as f:
        assert f.read() == operators
    assert os.path.exists("/etc/hail/profile.d/web.json")
    os.unlink(calls)
    with open("/etc/hail/web.json", "w") as f:      # put back: gone again, and a restart
        f.write('{"job-uri":"https://h/job/ops/prod/web","netrc-file":"/etc/nix/netrc",'
                '"poll-period":"5m","profile":"web"}\n')
    rc, log = w.client.oneshot(env=env)
    assert rc == 0, log
    assert not os.path.exists("/etc/hail/web.json")
    with open(calls) as f:
        again = f.read().splitlines()
    assert "systemctl --no-block restart hail@web.service" in again, again
    assert "systemctl --no-block start hail@api.service" in again, again


def test_a_dropped_service_is_stopped_and_its_config_removed(w):
    """A profile with web and api, then one with web only: hail@api is
    stopped and disabled and its profile.d config goes; web is only
    started again; api's state stays."""
    both = build_profile(w, '{ web = { job-uri = "https://h/job/ops/prod/web"; }; '
                            'api = { job-uri = "https://h/job/ops/prod/api"; }; }')
    w.hydra.publish(both)
    bindir, calls = fake_systemd(w)
    env = w.client.env(PATH=bindir + ":" + os.environ["PATH"],
                       HAIL_SYSTEMD_DIR=os.path.join(w.root, "systemd"))
    rc, log = w.client.oneshot(env=env)
    assert rc == 0, log
    with open("/var/lib/hail/hail/managed-agents") as f:
        assert sorted(f.read().split()) == ["api", "hail", "web"]
    os.makedirs("/var/lib/hail/api", exist_ok=True)
    with open("/var/lib/hail/api/state.json", "w") as f:
        f.write("{}\n")
    w.hydra.publish(build_profile(w, '{ web = { job-uri = "https://h/job/ops/prod/web"; }; }'))
    os.unlink(calls)
    rc, log = w.client.oneshot(env=env)
    assert rc == 0, log
    with open(calls) as f:
        again = f.read().splitlines()
    assert "systemctl disable --now hail@api.service" in again, again
    assert "systemctl --no-block start hail@web.service" in again, again
    assert not any("hail@web" in c and ("disable" in c or "restart" in c) for c in again), again
    assert "hail@api is no longer in this profile" in log, log
    assert not os.path.exists("/etc/hail/profile.d/api.json")
    assert os.path.exists("/etc/hail/profile.d/web.json")
    assert os.path.exists("/var/lib/hail/api/state.json")
    with open("/var/lib/hail/hail/managed-agents") as f:
        assert sorted(f.read().split()) == ["hail", "web"]
    # once gone, it stays gone: the same profile again disables nothing
    os.unlink(calls)
    rc, log = w.client.oneshot(env=env)
    assert rc == 0, log
    with open(calls) as f:
        assert not any("disable" in c for c in f.read().splitlines())


def test_launcher_takes_the_bootstraps_config_first(w):
    """image/hail-agent: /etc/hail/NAME.json (the bootstrap's, from the
    user-data) when it exists, else /etc/hail/profile.d/NAME.json."""
    fake = "/nix/var/nix/profiles/hail/bin"
    os.makedirs(fake)
    with open(os.path.join(fake, "hail"), "w") as f:
        f.write('#!/bin/sh\necho "$@"\n')
    os.chmod(os.path.join(fake, "hail"), 0o755)
    os.makedirs("/etc/hail/profile.d")
    for name in ("hail", "web"):
        with open(f"/etc/hail/profile.d/{name}.json", "w") as f:
            f.write("{}\n")
    with open("/etc/hail/hail.json", "w") as f:
        f.write(BOOTSTRAP_CONFIG)

    def launch(profile):
        return subprocess.run(["sh", HAIL_AGENT, profile], stdout=subprocess.PIPE, text=True,
                              timeout=30, check=True).stdout.strip()
    assert launch("hail") == "--config /etc/hail/hail.json"
    assert launch("web") == "--config /etc/hail/profile.d/web.json"


if __name__ == "__main__":
    run_tests([v for k, v in list(globals().items()) if k.startswith("test_")])
