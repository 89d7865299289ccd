#include "child.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"
#include "signals.h"

extern char **environ;

#define CHILD_KILL_GRACE_MS 5000

/* out_fd >= 0: the child's stdout and stderr go there. */
static int start_child(const char *const argv[], int out_fd, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, defaults;
	int r;

	sigemptyset(&none);
	sigemptyset(&defaults);
	sigaddset(&defaults, SIGTERM);
	sigaddset(&defaults, SIGINT);
	sigaddset(&defaults, SIGHUP);
	sigaddset(&defaults, SIGCHLD);
	sigaddset(&defaults, SIGPIPE);

	r = posix_spawnattr_init(&attr);
	if (r)
		return r;
	r = posix_spawn_file_actions_init(&fa);
	if (r) {
		posix_spawnattr_destroy(&attr);
		return r;
	}
	/* Own process group: a timeout can kill everything the child
	 * started, and a terminal's Ctrl-C reaches only us. */
	if (!r) r = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP |
					     POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	if (!r) r = posix_spawnattr_setpgroup(&attr, 0);
	if (!r) r = posix_spawnattr_setsigmask(&attr, &none);
	if (!r) r = posix_spawnattr_setsigdefault(&attr, &defaults);
	if (!r) r = posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	if (!r && out_fd >= 0) r = posix_spawn_file_actions_adddup2(&fa, out_fd, STDOUT_FILENO);
	if (!r && out_fd >= 0) r = posix_spawn_file_actions_adddup2(&fa, out_fd, STDERR_FILENO);
	/* libcurl's sockets and our lock are not the child's business */
	if (!r) r = posix_spawn_file_actions_addclosefrom_np(&fa, STDERR_FILENO + 1);
	if (!r) r = posix_spawnp(pid, argv[0], &fa, &attr, (char *const *)argv, environ);

	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	return r;
}

/* Waits until pid has exited (without reaping it) or deadline_ms passes.
 * Returns true when it exited. */
static bool wait_exit_until(pid_t pid, long long deadline_ms)
{
	for (;;) {
		siginfo_t si = { 0 };
		long long left;

		if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid)
			return true;
		left = deadline_ms - monotonic_ms();
		if (deadline_ms >= 0 && left <= 0)
			return false;
		signals_wait(deadline_ms >= 0 ? left : 60000);
	}
}

static int run_child(const char *const argv[], int out_fd, unsigned timeout_s,
		     struct child_result *res)
{
	long long start = monotonic_ms();
	pid_t pid;
	int r;

	memset(res, 0, sizeof(*res));
	r = start_child(argv, out_fd, &pid);
	if (r) {
		res->spawn_errno = r;
		return HAIL_E_INTERNAL;
	}

	if (!wait_exit_until(pid, timeout_s ? start + (long long)timeout_s * 1000 : -1)) {
		res->timed_out = true;
		kill(-pid, SIGTERM);
		wait_exit_until(pid, monotonic_ms() + CHILD_KILL_GRACE_MS);
	}
	/* The leader is a zombie or dead: its group id cannot be reused yet,
	 * so this reaches only what it left behind. */
	if (res->timed_out)
		kill(-pid, SIGKILL);
	while (waitpid(pid, &res->wait_status, 0) < 0 && errno == EINTR)
		;
	res->duration_ms = monotonic_ms() - start;
	return 0;
}

int child_run(const char *const argv[], unsigned timeout_s, struct child_result *res)
{
	return run_child(argv, -1, timeout_s, res);
}

int child_run_output(const char *const argv[], unsigned timeout_s, char *out, size_t size,
		     size_t *len, struct child_result *res)
{
	int fd = memfd_create("child-output", MFD_CLOEXEC);
	ssize_t n = 0;
	int ret;

	*len = 0;
	out[0] = '\0';
	if (fd < 0) {
		memset(res, 0, sizeof(*res));
		res->spawn_errno = errno;
		return HAIL_E_INTERNAL;
	}
	ret = run_child(argv, fd, timeout_s, res);
	while (ret == 0 && *len + 1 < size &&
	       (n = pread(fd, out + *len, size - 1 - *len, (off_t)*len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		*len += (size_t)n;
	}
	out[*len] = '\0';
	close(fd);
	return ret;
}

/* Sets FD_CLOEXEC on every descriptor above stderr. close_range() does it in
 * one call from Linux 5.11; before that, the walk over /proc/self/fd. */
static int cloexec_from_3(void)
{
	struct dirent *d;
	DIR *dir;

	if (close_range(STDERR_FILENO + 1, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
		return 0;
	dir = opendir("/proc/self/fd");
	if (!dir)
		return -1;
	while ((d = readdir(dir))) {
		int fd = atoi(d->d_name);
		int flags = fd > STDERR_FILENO && fd != dirfd(dir) ? fcntl(fd, F_GETFD) : -1;

		if (flags >= 0)
			(void)fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
	}
	closedir(dir);
	return 0;
}

int child_exec(char *const argv[])
{
	if (cloexec_from_3() < 0)
		return HAIL_E_INTERNAL;
	/* no sigprocmask() here: unblocking would deliver a pending SIGHUP or
	 * SIGTERM now, with its default action, and kill us */
	execvp(argv[0], argv);
	return HAIL_E_INTERNAL;
}

bool child_succeeded(const struct child_result *res)
{
	return !res->timed_out && WIFEXITED(res->wait_status) && WEXITSTATUS(res->wait_status) == 0;
}

void child_describe(const struct child_result *res, char *buf, unsigned size)
{
	if (res->timed_out)
		snprintf(buf, size, "timed out after %lld.%03llds and was killed",
			 res->duration_ms / 1000, res->duration_ms % 1000);
	else if (WIFEXITED(res->wait_status))
		snprintf(buf, size, "exited with status %d", WEXITSTATUS(res->wait_status));
	else if (WIFSIGNALED(res->wait_status))
		snprintf(buf, size, "was killed by signal %d (SIG%s)", WTERMSIG(res->wait_status),
			 sigabbrev_np(WTERMSIG(res->wait_status)) ? sigabbrev_np(WTERMSIG(res->wait_status)) : "?");
	else
		snprintf(buf, size, "ended with wait status %#x", (unsigned)res->wait_status);
}
