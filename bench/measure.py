"""Timing one program run (wall time and peak RSS) with a deadline, through
bench/timer.c; a polling process with its log, bounded waits, callgrind's
totals, and the memory of a process with its children. Shared by bench/run,
bench/httpsbench.py, bench/fleet.py, bench/firstboot.py and
bench/cloudinit_sandbox.py.

hail is two processes: the root side forks its fetcher (no exec) at start, so
hail's figures are sums over the root side and its children (found by PPid in
/proc/*/status). Under valgrind the fetcher stays instrumented (valgrind
follows a fork without exec); with a %p in --callgrind-out-file each process
writes its own file, and callgrind_tree sums them. Two things make the
fetcher's file take care:
  - the root side ends its fetcher with SIGKILL when it stops, and a process
    killed so writes no file: Poller.stop_tree stops the root side (SIGSTOP),
    ends each child with SIGTERM (the fetcher keeps SIGTERM's default action,
    on which valgrind writes the file), waits for them, then SIGTERM and
    SIGCONT to the root side;
  - the fetcher runs as the unprivileged user hail: callgrind_dir makes a
    folder anybody may write into (not list), under folders anybody may pass.
    valgrind 3.19 does not know Landlock's calls (the fetcher finds no
    Landlock under it); a valgrind that does would keep the fetcher from
    writing its file, which callgrind_tree reports.
A forked child's file counts the parent's work before the fork too (callgrind
copies its counters with the process): start-up counted twice, which the
difference of two runs of different lengths cancels like all start-up.
After writing its file, valgrind 3.19 in the fetcher ends with an assertion
failure in its signal handling (m_signals.c, "tst->status == VgTs_WaitSys"),
printed to the log: most likely a call of its own exit path that the seccomp
filter refuses. Harmless: the file is complete (callgrind_total wants its
totals line, written last).
"""

import collections
import glob
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

    def stop_tree(self, timeout):
        """Stops the poller so that each of its processes ends by itself
        (under valgrind: writes its callgrind file): with no children, as
        stop(); otherwise the root side is stopped (SIGSTOP) while each child
        gets SIGTERM and is waited for (a pidfd, one deadline), then the root
        side gets SIGTERM and SIGCONT and is waited for. A child still there
        at the deadline is killed (its file is then missing, which
        callgrind_tree reports). Returns (exit status or None, the children's
        pids)."""
        kids = children(self.pid) if self.proc.poll() is None else []
        pidfds = {}
        for k in kids:
            try:
                pidfds[k] = os.pidfd_open(k)
            except ProcessLookupError:
                pass                        # gone already: nothing to wait for
        if not pidfds:
            return self.stop(timeout), kids
        end = time.monotonic() + timeout
        os.kill(self.pid, signal.SIGSTOP)
        try:
            for fd in pidfds.values():
                signal.pidfd_send_signal(fd, signal.SIGTERM)
            for fd in pidfds.values():
                if not select.select([fd], [], [], max(0.0, end - time.monotonic()))[0]:
                    signal.pidfd_send_signal(fd, signal.SIGKILL)
        finally:
            for fd in pidfds.values():
                os.close(fd)
            # SIGTERM before SIGCONT: the root side never runs on without
            # its stop pending (it would find its fetcher gone and start
            # another)
            if self.proc.poll() is None:
                self.proc.terminate()
                os.kill(self.pid, signal.SIGCONT)
        return self.stop(max(10.0, end - time.monotonic())), kids


def children(pid):
    """The pids whose parent is pid (PPid in /proc/*/status): hail's fetcher;
    none for a one-process poller."""
    found = []
    want = str(pid)
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/status") as f:
                for line in f:
                    if line.startswith("PPid:"):
                        if line.split()[1] == want:
                            found.append(int(d))
                        break
        except OSError:
            pass                            # ended meanwhile
    return sorted(found)


MEMORY_FIELDS = (("status", ("VmHWM", "VmRSS", "RssAnon")),
                 ("smaps_rollup", ("Pss", "Pss_Anon")))


def memory_kib(pid):
    """VmHWM, VmRSS, RssAnon (/proc/PID/status), Pss and Pss_Anon
    (smaps_rollup: shared pages divided among the processes that map them;
    Pss_Anon is None on a kernel without it) of pid, in KiB, as a dict.
    RssAnon counts an anonymous page a forked child still shares with its
    parent (copy on write) in both; Pss_Anon, half in each."""
    fields = {"Pss_Anon": None}
    for name, keys in MEMORY_FIELDS:
        with open(f"/proc/{pid}/{name}") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in keys:
                    fields[key] = int(value.split()[0])
    return fields


def tree_memory_kib(pid, max_children=1):
    """memory_kib of pid and of each of its children: a list of dicts, pid's
    first. More than max_children children is an error (hail has one: its
    fetcher; an idle poll runs nothing else)."""
    kids = children(pid)
    if len(kids) > max_children:
        raise CannotMeasure(f"pid {pid} has {len(kids)} children {kids}; expected at most "
                            f"{max_children} (its fetcher)")
    return [memory_kib(p) for p in (pid, *kids)]


def callgrind_dir(path):
    """Makes path for callgrind files that processes of any user write (hail's
    fetcher is the user hail's): mode 1733, writable and passable by all,
    listable by root only; every folder above it must be passable by all."""
    os.makedirs(path, exist_ok=True)
    os.chmod(path, 0o1733)
    d = os.path.dirname(os.path.abspath(path))
    while d != "/":
        if not os.stat(d).st_mode & 0o001:
            raise CannotMeasure(f"{d} cannot be passed by other users: hail's fetcher "
                                f"could not write its callgrind file under {path}")
        d = os.path.dirname(d)
    return path


def callgrind_total(path):
    """Total Ir of a callgrind output ("totals:", or "summary:" in older ones)."""
    found = {}
    with open(path) as f:
        for line in f:
            m = re.match(r"(totals|summary):\s*(\d+)", line)
            if m:
                found[m.group(1)] = int(m.group(2))
    if not found:
        raise CannotMeasure(f"no totals in {path} (cut short?)")
    return found.get("totals", found.get("summary"))


def callgrind_tree(prefix, root, kids, log=""):
    """Total Ir of a process tree whose callgrind files are prefix.PID
    (--callgrind-out-file=prefix.%p): root's file and one for each of kids
    (the children stop_tree found), and no other (another pid would be a
    fetcher started again during the run, whose file a SIGKILL cut).
    Returns {"root": Ir, "children": Ir, "processes": n}."""
    files = {}
    for path in glob.glob(glob.escape(prefix) + ".*"):
        suffix = path[len(prefix) + 1:]
        if suffix.isdigit():
            files[int(suffix)] = path
    want = {root, *kids}
    if set(files) != want:
        missing = sorted(want - set(files))
        extra = sorted(set(files) - want)
        raise CannotMeasure(
            f"callgrind files {prefix}.PID: expected pids {sorted(want)} (root side "
            f"{root}, children {list(kids)}), " + (f"missing {missing} " if missing else "")
            + (f"unexpected {extra} (a process started during the run?)" if extra else "")
            + ("\n" + log[-2000:] if log else ""))
    return {"root": callgrind_total(files[root]),
            "children": sum(callgrind_total(files[k]) for k in kids),
            "processes": len(files)}
