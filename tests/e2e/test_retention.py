"""Machines that run for years: generation retention (--keep-generations)."""
import subprocess

from harness import run_tests


def failing(v):
    return f'echo {v} >> "$HAIL_TEST_ACTIVATIONS"; echo failing {v}; exit 3'


def dead_paths(w):
    r = subprocess.run(["nix-store", "--gc", "--print-dead"], env=w.client.env(),
                       capture_output=True, text=True, check=True)
    return set(r.stdout.split())


def test_keep_generations_after_six_deployments(w):
    paths = {}
    for v in range(1, 6):
        paths[v] = w.publish(v)
        rc, log = w.client.oneshot("--keep-generations", "2")
        assert rc == 0, log
        assert len(w.client.generations()) <= 2, w.client.generations()
    assert "deleted 1 old generation(s)" in log, log
    w.publish(6, activate=failing(6))
    rc, log = w.client.oneshot("--keep-generations", "2")
    assert rc != 0, log
    assert w.client.profile_target() == paths[5], log
    gens = w.client.generations()
    assert len(gens) <= 3, gens
    dead = dead_paths(w)
    assert {paths[1], paths[2], paths[3]} <= dead, (dead, paths)
    assert paths[5] not in dead


def test_keep_generations_keeps_all_by_default(w):
    for v in range(1, 4):
        w.publish(v)
        assert w.client.oneshot()[0] == 0
    assert len(w.client.generations()) == 3


def test_keep_generations_is_checked(w):
    for bad in ("0", "-1", "two", "10001"):
        rc, log = w.client.oneshot("--keep-generations", bad)
        assert rc == 2, log
        assert "--keep-generations" in log and "not a whole number from 1 to 10000" in log, log


if __name__ == "__main__":
    run_tests([test_keep_generations_after_six_deployments,
               test_keep_generations_keeps_all_by_default, test_keep_generations_is_checked])
