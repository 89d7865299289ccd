"""Privilege separation (README, "Privilege separation"): the process that
holds the connection to Hydra is unprivileged and confined, the one that runs
nix-env and bin/activate is root; a fetcher that is killed, stopped or sends a
record the root side refuses is logged once and started again, and nothing is
switched meanwhile."""
import os
import re
import signal
import subprocess

from harness import HAIL_WRAPPER, run_tests, wait_for

# bin/activate records its own uid and its parent's (hail's root side)
WHO_ACTIVATES = ('echo "$(id -u):$(awk \'/^Uid:/{print $3}\' /proc/$PPID/status)" '
                 '>> "$HAIL_TEST_ACTIVATIONS"')


def status(pid):
    """/proc/PID/status as a dict of its fields."""
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            fields[k] = v.strip()
    return fields


def children(pid):
    found = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if status(d).get("PPid") == str(pid):
                    found.append(int(d))
            except (FileNotFoundError, ProcessLookupError):
                pass
    return found


def fetcher_of(agent):
    """The agent's fetcher, once it has one (valgrind runs hail in-process,
    so its pid is hail's either way)."""
    found = []

    def one():
        found[:] = children(agent.proc.pid)
        return len(found) == 1
    wait_for(one, 10, "the agent's fetcher")
    return found[0]


def holders_of_connection_to(port):
    """The pids with an established TCP connection to 127.0.0.1:port."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in list(f)[1:]:
                cols = line.split()
                remote_port = int(cols[2].rsplit(":", 1)[1], 16)
                if remote_port == port and cols[3] == "01":
                    inodes.add(cols[9])
    pids = set()
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            for fd in os.listdir(f"/proc/{d}/fd"):
                link = os.readlink(f"/proc/{d}/fd/{fd}")
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    pids.add(int(d))
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            pass
    return pids


def metric(path, name):
    with open(path) as f:
        m = re.search(rf"^{name}{{[^}}]*}} (\d+)$", f.read(), re.M)
    return int(m.group(1)) if m else None


def test_network_side_unprivileged_and_root_acts(w):
    w.publish(1, activate=WHO_ACTIVATES)
    agent = w.client.start("--poll-period", "1s")
    agent.wait_log(r"activated build 1 ")
    holders = []

    def connected():
        holders[:] = holders_of_connection_to(w.hydra.port)
        return holders
    wait_for(connected, 10, "a connection to the Hydra stand-in")
    assert holders == [fetcher_of(agent)], holders
    s = status(holders[0])
    assert s["Uid"].split()[1] != "0", s["Uid"]
    assert s["Uid"].split() == [s["Uid"].split()[0]] * 4, s["Uid"]
    assert int(s["CapEff"], 16) == 0 and int(s["CapPrm"], 16) == 0, s
    assert int(s["CapBnd"], 16) == 0, s["CapBnd"]
    assert s["NoNewPrivs"] == "1" and s["Seccomp"] == "2", s
    assert s["Groups"] == "", s["Groups"]
    root = status(agent.proc.pid)
    assert root["Uid"].split()[1] == "0" and root["Seccomp"] == "0", root
    # bin/activate ran as root, started by root; nix-env made the profile's
    # links, which are root's
    assert w.client.activation_log() == ["0:0"], w.client.activation_log()
    link = os.path.join("/nix/var/nix/profiles", w.client.generations()[0])
    assert os.lstat(link).st_uid == 0
    assert agent.stop() == 0


def test_fetcher_user(w):
    w.publish(1)
    agent = w.client.start("--poll-period", "1s", "--fetcher-user", "nobody")
    agent.wait_log(r"activated build 1 ")
    assert status(fetcher_of(agent))["Uid"].split()[1] == "65534"
    assert agent.stop() == 0
    for user, why in (("no-such-user", "no such user"), ("root", "is root")):
        rc, log = w.client.oneshot("--fetcher-user", user)
        assert rc == 2, log
        assert f"hail: error: fetcher-user {user}: {why}" in log, log
    assert w.client.generations() == ["demo-1-link"]


def test_fetcher_killed_during_a_poll(w):
    metrics = os.path.join(w.root, "hail.prom")
    w.publish(1)
    agent = w.client.start("--poll-period", "1s", "--metrics-file", metrics)
    agent.wait_log(r"activated build 1 ")
    first = fetcher_of(agent)
    w.hydra.fault("hang", "latest", value=30, count=1)
    w.hydra.reset_stats()
    # an entry appears when a request arrives, its status when it ends
    wait_for(lambda: any(r["path"].endswith("/latest") and r["status"] is None
                         for r in w.hydra.stats()), 10, "a poll to hang")
    os.kill(first, signal.SIGKILL)
    agent.wait_log(r"fetcher \(pid %d\) closed the channel, and was killed by signal 9 "
                   r"\(SIGKILL\); starting another at the next poll" % first)
    w.hydra.clear_faults()
    w.publish(2)
    agent.wait_log(r"activated build 2 ", timeout=20)
    assert fetcher_of(agent) != first
    assert len(re.findall(r"fetcher \(pid", agent.text())) == 1, agent.text()
    wait_for(lambda: metric(metrics, "hail_fetcher_restarts_total") == 1, 10,
             "the restart in the metrics")
    assert agent.stop() == 0


def test_hung_fetcher_is_replaced(w):
    w.publish(1)
    agent = w.client.start("--poll-period", "1s", "--http-timeout", "1s")
    agent.wait_log(r"activated build 1 ")
    first = fetcher_of(agent)
    os.kill(first, signal.SIGSTOP)
    # the deadline of a question is 8 HTTP timeouts and 5 seconds
    agent.wait_log(r"fetcher \(pid %d\) did not answer in time, and was killed by signal 9"
                   % first, timeout=30)
    w.publish(2)
    agent.wait_log(r"activated build 2 ", timeout=20)
    assert agent.stop() == 0


# An LD_PRELOAD shim standing in for a compromised fetcher: it breaks the store
# path of every BUILD record the fetcher sends (send(2); the root side uses
# sendmsg). A fresh fetcher is forked from the root side, so it has the shim too.
CORRUPT_SHIM = r"""
#define _GNU_SOURCE
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	unsigned char copy[2048];
	if (len >= 40 && len <= sizeof(copy) && ((const unsigned char *)buf)[1] == 16) {
		memcpy(copy, buf, len);
		copy[26 + 11] = 'e';    /* not a Nix base-32 character */
		buf = copy;
	}
	return syscall(SYS_sendto, fd, buf, len, flags, NULL, 0);
}
"""


def test_malformed_record_switches_nothing(w):
    if HAIL_WRAPPER:
        print("# under valgrind the shim would be valgrind's: left to the plain run")
        return
    src = os.path.join(w.root, "corrupt.c")
    lib = os.path.join(w.root, "corrupt.so")
    with open(src, "w") as f:
        f.write(CORRUPT_SHIM)
    subprocess.run(["cc", "-shared", "-fPIC", "-o", lib, src], check=True)
    metrics = os.path.join(w.root, "hail.prom")
    w.publish(1)
    # an ASan build wants its runtime first; the shim does not mind
    asan = os.environ.get("ASAN_OPTIONS", "")
    env = w.client.env(LD_PRELOAD=lib,
                       ASAN_OPTIONS=(asan + ":" if asan else "") + "verify_asan_link_order=0")
    agent = w.client.start("--poll-period", "1s", "--metrics-file", metrics, env=env)
    agent.wait_log(r"fetcher \(pid \d+\) sent a record the root side refuses "
                   r"\(not a store path\)", count=2, timeout=20)
    assert agent.proc.poll() is None
    assert w.client.profile_target() is None
    assert w.client.generations() == []
    assert w.client.activation_log() == []
    assert metric(metrics, "hail_fetcher_restarts_total") >= 2
    assert agent.stop() == 0


if __name__ == "__main__":
    run_tests([test_network_side_unprivileged_and_root_acts, test_fetcher_user,
               test_fetcher_killed_during_a_poll, test_hung_fetcher_is_replaced,
               test_malformed_record_switches_nothing])
