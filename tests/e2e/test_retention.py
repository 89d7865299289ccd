"""Machines that run for years: generation retention (--keep-generations),
Nix's garbage collector as hail starts it (--gc) and the disk-space guard
(--min-free-after)."""
import json
import os
import subprocess

from harness import run, run_tests, wait_for

STATE = "/var/lib/hail/demo/state.json"
MIB = 1024 * 1024


def nix_free():
    st = os.statvfs("/nix")
    return st.f_bavail * st.f_frsize


def shrink_nix(free_mib):
    """Remounts the client's /nix (a tmpfs) so that free_mib MiB are free."""
    st = os.statvfs("/nix")
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    run(["mount", "-o", f"remount,size={used // MIB + free_mib}m", "/nix"])


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


def test_gc_after_deploy_collects_the_pruned(w):
    paths = {}
    for v in range(1, 4):
        paths[v] = w.publish(v)
        rc, log = w.client.oneshot("--keep-generations", "1", "--gc", "after-deploy")
        assert rc == 0, log
    assert "garbage collection freed" in log, log
    assert not os.path.exists(paths[1]) and not os.path.exists(paths[2])
    assert os.path.exists(paths[3])


def test_disk_guard_waits_for_space(w):
    w.publish(1)
    assert w.client.oneshot()[0] == 0
    metrics = os.path.join(w.root, "hail.prom")
    w.publish(2, padMiB="40")
    shrink_nix(30)
    before = nix_free()
    agent = w.client.start("--poll-period", "1s", "--min-free-after", "1M",
                           "--metrics-file", metrics)
    agent.wait_log(r"not switching to build 2: it needs 40\.0 MiB unpacked and 1\.0 MiB must "
                   r"stay free, but /nix/store has \d+\.\d MiB free; waiting: disk space")
    lowest = [before]

    def polls_went_by():
        lowest[0] = min(lowest[0], nix_free())
        return len([r for r in w.hydra.stats() if r["path"].endswith("/latest")]) >= 4
    wait_for(polls_went_by, 20, "three more polls")
    assert before - lowest[0] < MIB, (before, lowest[0])     # no download started
    assert agent.text().count("not switching to build 2") == 1, agent.text()
    assert w.client.generations() == ["demo-1-link"]
    with open(STATE) as f:
        st = json.load(f)
    assert st["mode"] == "waiting: disk space", st
    assert st["disk"]["build-id"] == 2 and st["disk"]["needed"] >= 41 * MIB, st
    with open(metrics) as f:
        assert "hail_disk_needed_bytes{profile=\"demo\"} 0\n" not in f.read()
    shrink_nix(200)
    agent.wait_log(r"activated build 2 ", timeout=30)
    assert agent.stop() == 0


def test_oneshot_without_space_exits_9(w):
    w.publish(1)
    assert w.client.oneshot()[0] == 0
    w.publish(2, padMiB="40")
    shrink_nix(30)
    rc, log = w.client.oneshot("--min-free-after", "1M")
    assert rc == 9, log
    assert "waiting: disk space" in log, log
    assert w.client.generations() == ["demo-1-link"]


def test_gc_when_needed_makes_room(w):
    big = w.publish(1, padMiB="30")
    assert w.client.oneshot()[0] == 0
    w.publish(2)
    # the generation of build 1 goes; its 30 MiB stay until collected
    assert w.client.oneshot("--keep-generations", "1")[0] == 0
    assert os.path.exists(big)
    w.publish(3, padMiB="31")
    shrink_nix(20)                      # 31 MiB do not fit; with the garbage gone they do
    rc, log = w.client.oneshot("--min-free-after", "1M")
    assert rc == 9, log                 # without --gc it waits
    rc, log = w.client.oneshot("--min-free-after", "1M", "--gc", "when-needed")
    assert rc == 0, log
    assert "garbage collection freed" in log, log
    assert not os.path.exists(big)


def test_disk_settings_are_checked(w):
    for args, want in ((("--gc", "sometimes"), "gc 'sometimes': not off, when-needed or "
                        "after-deploy"),
                       (("--min-free-after", "1T"), "--min-free-after '1T': not a size")):
        rc, log = w.client.oneshot(*args)
        assert rc == 2, log
        assert want in log, log


if __name__ == "__main__":
    run_tests([test_keep_generations_after_six_deployments,
               test_keep_generations_keeps_all_by_default, test_keep_generations_is_checked,
               test_gc_after_deploy_collects_the_pruned, test_disk_guard_waits_for_space,
               test_oneshot_without_space_exits_9, test_gc_when_needed_makes_room,
               test_disk_settings_are_checked])
