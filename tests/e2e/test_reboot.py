"""Reboots a build asks for (bin/reboot-required), in --reboot-window.

The reboot-command is a script that records each run. The window is put
around now or elsewhere in the day (UTC), and the instance id is chosen so
that this machine's moment in the window (the rollout rule's hash of the
instance id and the build id) has already come, or not."""
import hashlib
import json
import os
import shutil
import signal
import subprocess
import time

from harness import REPO, run_tests, wait_for

STATE = "/var/lib/hail/demo/state.json"


def state():
    with open(STATE) as f:
        return json.load(f)


def offset_s(identity, build_id, window_s):
    """agent/rollout.c's offset."""
    h = hashlib.sha256(f"{identity}\n{build_id}".encode()).digest()
    return int.from_bytes(h[:8], "big") % window_s


def hhmm(t):
    return time.strftime("%H:%M", time.gmtime(t))


def window_around_now(build_id):
    """A 4-hour window opened 2 hours ago, and an instance id whose moment
    in it is past."""
    now = int(time.time()) // 60 * 60
    for n in range(1000):
        iid = f"i-{n:017x}"
        if offset_s(iid, build_id, 4 * 3600) < 2 * 3600 - 120:
            return f"{hhmm(now - 2 * 3600)}-{hhmm(now + 2 * 3600)}", iid
    raise AssertionError("no instance id with an early offset")


def reboot_command(w):
    path = os.path.join(w.root, "reboot")
    with open(path, "w") as f:
        f.write(f"#!/bin/sh\necho \"$$\" >> {w.root}/reboots\n")
    os.chmod(path, 0o755)
    return path


def reboots(w):
    try:
        with open(os.path.join(w.root, "reboots")) as f:
            return len(f.read().split())
    except FileNotFoundError:
        return 0


def start(w, window, iid, *extra):
    return w.client.start("--poll-period", "1h", "--verbose", "--reboot-window", window,
                          "--instance-id", iid, "--reboot-command", reboot_command(w), *extra)


def poll(agent, n):
    """SIGHUP, then waits for the n-th poll that found the profile current."""
    agent.signal(signal.SIGHUP)
    agent.wait_log(r"is on the latest build", count=n)


def test_reboot_runs_once_in_the_window(w):
    p1 = w.build(1, rebootRequired="exit 0")
    id1 = w.hydra.publish(p1)
    window, iid = window_around_now(id1)
    agent = start(w, window, iid)
    agent.wait_log(r"takes full effect only after a reboot, and the reboot-window is open: "
                   r"rebooting: running ")
    wait_for(lambda: reboots(w) == 1, 10, "the reboot-command to run")
    s = state()
    assert s["reboot"]["requested"]["build-id"] == id1, s["reboot"]
    assert s["reboot"]["boot-id"] == open("/proc/sys/kernel/random/boot_id").read().strip()
    assert s["counters"]["reboots-requested"] == 1
    poll(agent, 2)
    assert reboots(w) == 1
    agent.stop()
    # the same boot: a restart does not ask again
    agent = start(w, window, iid)
    agent.wait_log(r"a reboot for build %d was requested in this boot: waiting for it" % id1)
    poll(agent, 2)
    assert reboots(w) == 1
    agent.stop()


def test_still_required_after_its_reboot_is_no_loop(w):
    p1 = w.build(1, rebootRequired="exit 0")
    id1 = w.hydra.publish(p1)
    window, iid = window_around_now(id1)
    agent = start(w, window, iid)
    wait_for(lambda: reboots(w) == 1, 20, "the reboot-command to run")
    agent.stop()
    # as after the reboot: another boot id in the record's place
    s = state()
    s["reboot"]["boot-id"] = "00000000-1111-2222-3333-444444444444"
    with open(STATE, "w") as f:
        json.dump(s, f)
    agent = start(w, window, iid)
    agent.wait_log(r"build %d still says a reboot is required after the reboot for it" % id1)
    poll(agent, 2)
    poll(agent, 3)
    assert reboots(w) == 1
    assert agent.text().count("still says a reboot is required") == 1, agent.text()
    agent.stop()


def test_no_script_no_reboot(w):
    p1 = w.publish(1)
    window, iid = window_around_now(1)
    metrics = os.path.join(w.root, "hail.prom")
    agent = start(w, window, iid, "--metrics-file", metrics)
    agent.wait_log(r"is on the latest build")
    poll(agent, 2)
    assert reboots(w) == 0
    assert "reboot" not in state()
    with open(metrics) as f:
        assert 'hail_reboot_required{profile="demo"} 0' in f.read()
    agent.stop()
    assert w.client.profile_target() == p1


def test_window_elsewhere_waits(w):
    p1 = w.build(1, rebootRequired="exit 0")
    w.hydra.publish(p1)
    now = int(time.time())
    window = f"{hhmm(now + 3 * 3600)}-{hhmm(now + 4 * 3600)}"
    metrics = os.path.join(w.root, "hail.prom")
    agent = start(w, window, "i-0", "--metrics-file", metrics)
    agent.wait_log(r"takes full effect only after a reboot: rebooting at ")
    poll(agent, 2)
    assert reboots(w) == 0
    with open(metrics) as f:
        assert 'hail_reboot_required{profile="demo"} 1' in f.read()
    agent.stop()


def test_without_a_window_only_reports(w):
    w.publish(1, rebootRequired="exit 0")
    rc, log = w.client.oneshot("--reboot-command", reboot_command(w))
    assert rc == 0, log
    agent = w.client.start("--poll-period", "1h", "--reboot-command", reboot_command(w))
    agent.wait_log(r"no reboot-window is set: not rebooting")
    agent.stop()
    assert reboots(w) == 0
    assert state()["reboot"]["required"]["build-id"] == 1


def test_script_saying_no_clears_it(w):
    w.publish(1, rebootRequired="exit 0")
    assert w.client.oneshot()[0] == 0
    assert state()["reboot"]["required"]["build-id"] == 1
    w.publish(2, rebootRequired="exit 1")
    assert w.client.oneshot()[0] == 0
    assert "reboot" not in state() or state()["reboot"]["required"] is None


def test_paused_does_not_reboot(w):
    """A hold file: the operator's hands-off, which covers reboots."""
    p1 = w.build(1, rebootRequired="exit 0")
    id1 = w.hydra.publish(p1)
    window, iid = window_around_now(id1)
    assert w.client.oneshot()[0] == 0
    with open("/var/lib/hail/demo/hold", "w") as f:
        f.write("")
    agent = start(w, window, iid)
    agent.wait_log(r"not rebooting while paused, held")
    agent.stop()
    assert reboots(w) == 0


def test_nixos_example_script(w):
    """image/nixos-reboot-required.sh compares the booted system's kernel,
    initrd and modules with its own build's."""
    def system(name, kernel):
        d = os.path.join(w.root, name)
        os.makedirs(os.path.join(d, "bin"))
        for part, target in (("kernel", kernel), ("initrd", "initrd-1"),
                             ("kernel-modules", "modules-1")):
            os.symlink(os.path.join(w.root, target), os.path.join(d, part))
        shutil.copy(os.path.join(REPO, "image", "nixos-reboot-required.sh"),
                    os.path.join(d, "bin", "reboot-required"))
        return d

    for f in ("bzImage-1", "bzImage-2", "initrd-1", "modules-1"):
        open(os.path.join(w.root, f), "w").close()
    booted = system("booted", "bzImage-1")
    same, newer = system("same", "bzImage-1"), system("newer", "bzImage-2")
    link = os.path.join(w.root, "profile")      # as hail runs it: through the profile
    env = dict(os.environ, BOOTED_SYSTEM=booted)
    for build, want in ((same, 1), (newer, 0)):
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(build, link)
        r = subprocess.run([os.path.join(link, "bin", "reboot-required")], env=env,
                           capture_output=True, text=True, stdin=subprocess.DEVNULL)
        assert r.returncode == want, (build, r)
    assert "kernel differs" in r.stdout, r.stdout
    r = subprocess.run([os.path.join(newer, "bin", "reboot-required")],
                       env=dict(env, BOOTED_SYSTEM="/nonexistent"))
    assert r.returncode == 1, "not a NixOS machine: no reboot"


def test_reboot_window_is_checked(w):
    for value in ("25:00-01:00", "02:00-02:00", "2-4"):
        rc, log = w.client.oneshot("--reboot-window", value)
        assert rc == 2, log
        assert f"--reboot-window '{value}': not a daily window HH:MM-HH:MM" in log, log
    for value in ("systemctl reboot", "reboot"):
        rc, log = w.client.oneshot("--reboot-command", value)
        assert rc == 2, log
        assert f"reboot-command '{value}': not an absolute path" in log, log


def test_missing_reboot_command_waits(w):
    """A reboot-command that is not there (yet) is no request: said once,
    asked again, and run once it is there."""
    p1 = w.build(1, rebootRequired="exit 0")
    id1 = w.hydra.publish(p1)
    window, iid = window_around_now(id1)
    later = os.path.join(w.root, "later-reboot")
    agent = w.client.start("--poll-period", "1h", "--verbose", "--reboot-window", window,
                           "--instance-id", iid, "--reboot-command", later)
    agent.wait_log(r"reboot-command %s cannot be run" % later)
    poll(agent, 2)
    assert agent.text().count("cannot be run") == 1
    shutil.copy(reboot_command(w), later)
    poll(agent, 3)
    wait_for(lambda: reboots(w) == 1, 10, "the reboot-command to run")
    agent.stop()


if __name__ == "__main__":
    run_tests([test_reboot_runs_once_in_the_window, test_still_required_after_its_reboot_is_no_loop,
               test_no_script_no_reboot, test_window_elsewhere_waits,
               test_without_a_window_only_reports, test_script_saying_no_clears_it,
               test_paused_does_not_reboot, test_nixos_example_script,
               test_reboot_window_is_checked, test_missing_reboot_command_waits])
