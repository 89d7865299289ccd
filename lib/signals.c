#include "signals.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "error.h"

static sigset_t blocked;
static bool stop_taken;
static bool reload_taken;
static void (*tick_fn)(void);
static long tick_interval_ms;
static long long next_tick_ms;
static int stop_fd = -1;         /* readable while SIGTERM or SIGINT is pending */

int signals_setup(void)
{
	struct sigaction ign = { .sa_handler = SIG_IGN };

	sigemptyset(&blocked);
	sigaddset(&blocked, SIGTERM);
	sigaddset(&blocked, SIGINT);
	sigaddset(&blocked, SIGHUP);
	sigaddset(&blocked, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &blocked, NULL) < 0)
		return HAIL_E_INTERNAL;
	/* A peer closing a socket must be an error, not our death. */
	if (sigaction(SIGPIPE, &ign, NULL) < 0)
		return HAIL_E_INTERNAL;
	return 0;
}

long long monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void signals_set_tick(void (*tick)(void), long interval_ms)
{
	tick_fn = tick;
	tick_interval_ms = interval_ms;
	next_tick_ms = 0;
}

/* Feeds the tick when it is due; returns timeout_ms cut to the next one. */
static long tick_and_cut(long timeout_ms)
{
	if (tick_fn) {
		long long now = monotonic_ms();

		if (now >= next_tick_ms) {
			tick_fn();
			next_tick_ms = now + tick_interval_ms;
		}
		if (timeout_ms > next_tick_ms - now)
			timeout_ms = (long)(next_tick_ms - now);
	}
	return timeout_ms < 0 ? 0 : timeout_ms;
}

int signals_wait(long timeout_ms)
{
	struct timespec ts;
	int sig;

	timeout_ms = tick_and_cut(timeout_ms);
	ts.tv_sec = timeout_ms / 1000;
	ts.tv_nsec = (timeout_ms % 1000) * 1000000L;
	sig = sigtimedwait(&blocked, NULL, &ts);
	if (sig < 0)
		return 0;       /* EAGAIN: time is up; EINTR: a stop/continue */
	if (sig == SIGTERM || sig == SIGINT)
		stop_taken = true;
	else if (sig == SIGHUP)
		reload_taken = true;
	return sig;
}

bool signals_stop_requested(void)
{
	sigset_t pending;

	if (stop_taken)
		return true;
	if (sigpending(&pending) < 0)
		return false;
	return sigismember(&pending, SIGTERM) == 1 || sigismember(&pending, SIGINT) == 1;
}

bool signals_take_reload(void)
{
	bool r = reload_taken;

	reload_taken = false;
	return r;
}

int signals_wait_readable(const int *fds, int n, long timeout_ms)
{
	long long deadline = monotonic_ms() + timeout_ms;
	struct pollfd p[SIGNALS_WAIT_FDS_MAX + 1];

	if (n < 1 || n > SIGNALS_WAIT_FDS_MAX)
		return HAIL_E_INTERNAL;
	if (stop_fd < 0) {
		sigset_t stop;

		sigemptyset(&stop);
		sigaddset(&stop, SIGTERM);
		sigaddset(&stop, SIGINT);
		/* never read: the signal stays pending for signals_wait() */
		stop_fd = signalfd(-1, &stop, SFD_CLOEXEC | SFD_NONBLOCK);
		if (stop_fd < 0)
			return HAIL_E_INTERNAL;
	}
	for (int i = 0; i < n; i++)
		p[i] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
	p[n] = (struct pollfd){ .fd = stop_fd, .events = POLLIN };
	for (;;) {
		long long left = deadline - monotonic_ms();
		int ready;

		if (signals_stop_requested())
			return HAIL_E_INTERRUPTED;
		if (left <= 0)
			return 0;
		if (left > INT_MAX)
			left = INT_MAX;
		ready = poll(p, (nfds_t)n + 1, (int)tick_and_cut((long)left));
		if (ready < 0 && errno != EINTR)
			return HAIL_E_INTERNAL;
		/* a stop wins over a descriptor that is ready at the same time */
		if (signals_stop_requested())
			return HAIL_E_INTERRUPTED;
		for (int i = 0; ready > 0 && i < n; i++)
			if (p[i].revents)
				return i + 1;   /* readable, or hung up: the reader tells */
	}
}
