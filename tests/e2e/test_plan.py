"""hail plan: one read-only poll against the Hydra stand-in and real Nix. It
says what hail would do and why, the target and Nix's sizes, and what
--keep-generations would delete; afterwards the profile's generations, the
state file, the hold file, the activation log and the store are
byte-for-byte as before."""
import hashlib
import json
import os
import subprocess

from harness import HAIL, HAIL_WRAPPER, SLOW, run_tests

PROFILES = "/nix/var/nix/profiles"
STATE_DIR = "/var/lib/hail"
HOLD = "/var/lib/hail/demo/hold"


def snapshot(w):
    """What a poll could change: every generation link and where it points,
    every file under the state folder (bytes, mode, inode, mtime), the
    activation log."""
    seen = {}
    for top in (PROFILES, STATE_DIR):
        for d, dirs, names in os.walk(top):
            for n in sorted(dirs + names):
                p = os.path.join(d, n)
                st = os.lstat(p)
                digest = None
                if os.path.isfile(p) and not os.path.islink(p):
                    with open(p, "rb") as f:
                        digest = hashlib.sha256(f.read()).hexdigest()
                seen[p] = (st.st_mode, st.st_ino, st.st_mtime_ns, digest,
                           os.readlink(p) if os.path.islink(p) else None)
    seen["activations"] = w.client.activation_log()
    return seen


def plan(w, *extra, profile="demo"):
    """Runs hail plan; returns (status, stdout, stderr)."""
    p = subprocess.run([*HAIL_WRAPPER, HAIL, "plan", *w.client.hail_args(profile, extra)],
                       env=w.client.env(), capture_output=True, text=True, timeout=120 * SLOW)
    return p.returncode, p.stdout, p.stderr


def deploy(w, version):
    out = w.publish(version)
    rc, log = w.client.oneshot("--keep-generations", "2")
    assert rc == 0, log
    return out


def test_plan_shows_a_switch_and_changes_nothing(w):
    deploy(w, 1)
    deploy(w, 2)
    v3 = deploy(w, 3)
    assert len(w.client.generations()) == 2         # 2 and 3
    v4 = w.publish(4, padMiB="8")        # 8 MiB unpacked, a small download (zeros)
    base = snapshot(w)
    rc, out, err = plan(w, "--keep-generations", "2")
    assert rc == 10, (rc, out, err)
    assert "decision: switch\n" in out, out
    assert f"now on: build 3, generation 3: {v3}\n" in out, out
    assert f"target: build 4: {v4}\n" in out, out
    assert " MiB, unpacked 8.0 MiB (nix-store --realise --dry-run)" in out, out
    assert "prune: generation 2 (keep-generations 2)\n" in out, out
    assert snapshot(w) == base
    assert not os.path.exists(v4), "plan fetched the build"
    rc, out, err = plan(w, "--keep-generations", "2", "--json")
    assert rc == 10, (rc, out, err)
    p = json.loads(out)
    assert p["action"] == "switch" and p["would-change"] is True, p
    assert p["target"] == {"id": 4, "path": v4}, p
    assert p["current"] == {"id": 3, "generation": 3, "path": v3}, p
    assert 8 << 20 <= p["unpacked-bytes"] < 9 << 20, p
    assert 0 <= p["download-bytes"] < p["unpacked-bytes"], p
    assert p["fits"] is True and p["prune-generations"] == [2], p
    assert p["mode"] == "following" and p["reason"], p
    assert snapshot(w) == base
    # and hail itself then does what the plan said
    rc, log = w.client.oneshot("--keep-generations", "2")
    assert rc == 0 and w.client.profile_target() == v4, log
    assert [g.split("-")[1] for g in w.client.generations()] == ["3", "4"]


def test_plan_on_a_current_profile_is_0(w):
    v1 = deploy(w, 1)
    base = snapshot(w)
    rc, out, err = plan(w)
    assert rc == 0, (rc, out, err)
    assert "decision: none (nothing changes)\n" in out and "target:" not in out, out
    rc, out, err = plan(w, "--json")
    p = json.loads(out)
    assert rc == 0 and p["action"] == "none" and p["would-change"] is False, p
    assert p["current"]["path"] == v1 and "target" not in p, p
    assert snapshot(w) == base


def test_plan_respects_a_hold_and_leaves_it(w):
    v1 = deploy(w, 1)
    with open(HOLD, "w") as f:
        f.write("")
    w.publish(2)
    base = snapshot(w)
    rc, out, err = plan(w, "--json")
    p = json.loads(out)
    assert rc == 0 and p["action"] == "none" and p["mode"].startswith("held"), p
    assert "hold" in p["reason"], p
    assert snapshot(w) == base and w.client.profile_target() == v1
    os.unlink(HOLD)
    base = snapshot(w)
    rc, out, err = plan(w)
    assert rc == 10 and "decision: switch" in out, (out, err)
    assert snapshot(w) == base


def test_plan_of_a_new_profile_creates_nothing(w):
    w.publish(1)
    rc, out, err = plan(w, "--json", profile="fresh")
    assert rc == 10, (rc, out, err)
    p = json.loads(out)
    assert p["action"] == "switch" and "current" not in p, p
    assert not os.path.lexists(os.path.join(PROFILES, "fresh"))
    assert not os.path.exists(os.path.join(STATE_DIR, "fresh")), os.listdir(STATE_DIR)


def test_plan_errors_are_the_usual_statuses(w):
    w.publish(1)
    rc, out, err = plan(w, "--bogus")
    assert rc == 2 and "--bogus" in err and "Try 'hail plan --help'" in err, err
    base = snapshot(w)
    w.hydra.stop()
    rc, out, err = plan(w, "--http-timeout", "5s")
    assert rc == 3, (rc, out, err)
    assert "error: " in out, out
    assert snapshot(w) == base


if __name__ == "__main__":
    run_tests([v for k, v in list(globals().items()) if k.startswith("test_")])
