"""image/hail-profile.nix: the self-managing hail profile builds with real
nix-build, deploys through hail like any build, and its activate installs
the unit, writes the agents' configs and (re)starts them, restarting its own
hail through systemd-run. systemd does not run here: systemctl and
systemd-run on PATH record their arguments (the QEMU image test runs them
for real)."""
import json
import os

from harness import HAIL, REPO, run_tests

PROFILE_NIX = os.path.join(REPO, "image", "hail-profile.nix")


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
    with open("/etc/hail/web.json") as f:
        assert json.load(f) == {"profile": "web", "job-uri": "https://h/job/ops/prod/web",
                                "poll-period": "5m", "netrc-file": "/etc/nix/netrc"}
    with open("/etc/hail/hail.json") as f:
        assert json.load(f)["job-uri"] == w.hydra.job_uri
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


if __name__ == "__main__":
    run_tests([test_self_managing_profile_builds_deploys_and_activates])
