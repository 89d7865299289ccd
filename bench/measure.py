"""Timing one program run (wall time and peak RSS) with a deadline, through
bench/timer.c; a polling process with its log, bounded waits and callgrind's
totals. Shared by bench/run, bench/httpsbench.py, bench/firstboot.py and
bench/cloudinit_sandbox.py."""

import collections
import os
import re
import select
import signal
import subprocess
import time

TIMER_SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "timer.c")


class CannotMeasure(Exception):
    pass


# wall: seconds from fork to reaped; rss_kib: the program's ru_maxrss (KiB);
# status: exit code, 128 + N for signal N
Run = collections.namedtuple("Run", "wall rss_kib status")


def clean_env():
    """A boot's environment: nothing of the caller's leaks in (proxies above all)."""
    return {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "HOME": "/root"}


def build_timer(path):
    """Compiles bench/timer.c to path (plain cc -O2, warnings on)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    r = subprocess.run(["cc", "-O2", "-Wall", "-Wextra", "-o", path, TIMER_SRC],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
    if r.returncode != 0:
        raise CannotMeasure("cannot build bench/timer.c:\n" + r.stdout)


def spawn(argv, env, log_path):
    """Starts argv with stdin /dev/null and stdout and stderr to log_path,
    leading a new session so that a timeout can kill all it started."""
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        return os.posix_spawn(argv[0], argv, env, setsid=True, file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
            (os.POSIX_SPAWN_DUP2, fd, 1),
            (os.POSIX_SPAWN_DUP2, fd, 2)])
    finally:
        os.close(fd)


def exits_within(pid, timeout):
    """Whether pid exits within timeout seconds (waits on a pidfd: no polling).
    The caller still has to reap pid."""
    pidfd = os.pidfd_open(pid)
    try:
        exited, _, _ = select.select([pidfd], [], [], timeout)
    finally:
        os.close(pidfd)
    return bool(exited)


def run_measured(timer, argv, env, log_path, timeout):
    """Runs argv (an absolute path first) under the timer; returns a Run.
    Raises CannotMeasure when it outlives timeout seconds or the timer fails."""
    result_path = log_path + ".timer"
    pid = spawn([timer, result_path, *argv], env, log_path)
    if not exits_within(pid, timeout):
        os.killpg(pid, signal.SIGKILL)      # the timer's session: the program too
        os.waitpid(pid, 0)
        raise CannotMeasure(f"{argv[0]} still running after {timeout}s (killed)")
    _, status = os.waitpid(pid, 0)
    try:
        with open(result_path) as f:
            wall_ns, rss_kib, code = (int(x) for x in f.read().split())
    except (OSError, ValueError):
        raise CannotMeasure(f"the timer failed ({status}) on {argv[0]}; see {log_path}") from None
    return Run(wall_ns / 1e9, rss_kib, code)


def deadline_loop(timeout, what, step=0.01):
    """Yields until timeout seconds have passed, then raises CannotMeasure.
    The caller returns from inside the loop when its condition holds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        yield
        time.sleep(step)          # a poll interval, not synchronisation
    raise CannotMeasure(f"timed out after {timeout}s waiting for {what}")


class Poller:
    """A polling process (hail or the floor, maybe under valgrind) whose
    stdout and stderr go to a file."""

    def __init__(self, name, argv, env, log_path):
        self.name = name
        self.log_path = log_path
        with open(log_path, "w") as log:
            self.proc = subprocess.Popen(argv, env=env, stdout=log, stderr=log)

    @property
    def pid(self):
        return self.proc.pid

    def text(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def check_alive(self):
        if self.proc.poll() is not None:
            raise CannotMeasure(f"{self.name} exited ({self.proc.returncode}):\n"
                                + self.text()[-2000:])

    def stop(self, timeout):
        """SIGTERM, then wait; returns the exit status, or None when it had
        to be killed (reported as a note, not a failure)."""
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            return None


def callgrind_total(path):
    """Total Ir of a callgrind output ("totals:", or "summary:" in older ones)."""
    found = {}
    with open(path) as f:
        for line in f:
            m = re.match(r"(totals|summary):\s*(\d+)", line)
            if m:
                found[m.group(1)] = int(m.group(2))
    if not found:
        raise CannotMeasure(f"no totals in {path}")
    return found.get("totals", found.get("summary"))
