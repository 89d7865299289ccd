#include "event.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"
#include "log.h"
#include "signals.h"

static const char *const event_names[EVENT_COUNT] = {
	[EVENT_ACTIVATED] = "activated",
	[EVENT_ACTIVATION_FAILED] = "activation-failed",
	[EVENT_ROLLED_BACK] = "rolled-back",
	[EVENT_HELD] = "held",
	[EVENT_PAUSED] = "paused",
	[EVENT_HALTED] = "halted",
	[EVENT_REBOOT_REQUESTED] = "reboot-requested",
	[EVENT_HEALTH_CHECK_FAILED] = "health-check-failed",
};

const char *event_name(enum event_kind k)
{
	return (unsigned)k < EVENT_COUNT ? event_names[k] : "?";
}

/* In the forked runner: the environment, the command, its outcome logged. */
static void run(const struct event_runner *r, const struct event *ev)
{
	const char *argv[] = { r->command, NULL };
	const char *name = event_name(ev->kind);
	struct child_result res;
	char id[24], how[128];

	snprintf(id, sizeof(id), "%" PRIu64, ev->build_id);
	if (setenv("HAIL_EVENT", name, 1) < 0 ||
	    setenv("HAIL_PROFILE", r->profile ? r->profile : "", 1) < 0 ||
	    setenv("HAIL_BUILD_ID", id, 1) < 0 ||
	    setenv("HAIL_STORE_PATH", ev->store_path, 1) < 0 ||
	    setenv("HAIL_PREVIOUS_STORE_PATH", ev->previous_path, 1) < 0 ||
	    setenv("HAIL_JOB_URI", r->job_uri ? r->job_uri : "", 1) < 0 ||
	    setenv("HAIL_ERROR", ev->error, 1) < 0) {
		log_warning("event-command for %s: out of memory", name);
		return;
	}
	if (child_run(argv, EVENT_COMMAND_TIMEOUT_S, &res) < 0) {
		log_warning("event-command %s for %s: cannot run it: %s", r->command, name,
			    strerror(res.spawn_errno));
		return;
	}
	if (!child_succeeded(&res)) {
		child_describe(&res, how, sizeof(how));
		log_warning("event-command %s for %s %s (the deployment goes on)", r->command,
			    name, how);
	}
}

void event_emit(struct event_runner *r, enum event_kind k, uint64_t build_id,
		const char *store_path, const char *previous_path, const char *error)
{
	struct event *ev;

	if (!r->command)
		return;
	if (r->n_queued == EVENT_QUEUE_MAX) {
		log_warning("event-command: more than %d events in one poll: %s dropped",
			    EVENT_QUEUE_MAX, event_name(k));
		return;
	}
	ev = &r->queue[r->n_queued++];
	ev->kind = k;
	ev->build_id = build_id;
	snprintf(ev->store_path, sizeof(ev->store_path), "%s", store_path ? store_path : "");
	snprintf(ev->previous_path, sizeof(ev->previous_path), "%s",
		 previous_path ? previous_path : "");
	snprintf(ev->error, sizeof(ev->error), "%s", error ? error : "");
}

void event_runner_init(struct event_runner *r)
{
	memset(r, 0, sizeof(*r));
	r->turn_fd = -1;
}

/* Closes every descriptor above stderr but a and b (-1: none). */
static void close_all_but(int a, int b)
{
	int keep[2] = { a < b ? a : b, a < b ? b : a };
	unsigned from = STDERR_FILENO + 1;

	for (int i = 0; i < 2; i++) {
		if (keep[i] < (int)from)
			continue;
		if ((unsigned)keep[i] > from)
			close_range(from, (unsigned)keep[i] - 1, 0);
		from = (unsigned)keep[i] + 1;
	}
	close_range(from, ~0U, 0);
}

/* In the runner: until the run before it has ended, which closes the last
 * write end of the pipe behind fd (each of its commands has a time limit). */
static void wait_turn(int fd)
{
	char c;

	while (read(fd, &c, 1) < 0 && errno == EINTR)
		;
}

void event_flush(struct event_runner *r)
{
	int slot = -1, turn[2];
	pid_t pid;

	if (!r->n_queued)
		return;
	event_reap(r);
	for (int i = 0; i < EVENT_RUNNING_MAX && slot < 0; i++)
		if (!r->running[i])
			slot = i;
	if (slot < 0) {
		log_warning("event-command: %d runs still going: not running it for %u event(s)",
			    EVENT_RUNNING_MAX, r->n_queued);
		r->n_queued = 0;
		return;
	}
	/* close-on-exec: the commands never hold the write end */
	if (pipe2(turn, O_CLOEXEC) < 0) {
		log_warning("event-command: pipe: %s; these events may run beside the last ones",
			    strerror(errno));
		turn[0] = turn[1] = -1;
	}
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		log_warning("event-command: fork: %s", strerror(errno));
		if (turn[0] >= 0) {
			close(turn[0]);
			close(turn[1]);
		}
		r->n_queued = 0;
		return;
	}
	if (pid == 0) {
		/* the runner keeps stdio and its two ends of the turn pipes only
		 * (not the fetcher's channel, its log pipe or the signalfd), and
		 * neither it nor the command speaks to systemd in hail's name */
		close_all_but(r->turn_fd, turn[1]);
		signals_set_tick(NULL, 0);
		unsetenv("NOTIFY_SOCKET");
		unsetenv("WATCHDOG_PID");
		unsetenv("WATCHDOG_USEC");
		if (r->turn_fd >= 0)
			wait_turn(r->turn_fd);
		for (unsigned i = 0; i < r->n_queued && !signals_stop_requested(); i++)
			run(r, &r->queue[i]);
		_exit(0);
	}
	if (turn[1] >= 0)
		close(turn[1]);
	if (r->turn_fd >= 0)
		close(r->turn_fd);
	r->turn_fd = turn[0];
	r->running[slot] = pid;
	r->n_queued = 0;
}

void event_reap(struct event_runner *r)
{
	for (int i = 0; i < EVENT_RUNNING_MAX; i++) {
		pid_t got;
		int status;

		if (!r->running[i])
			continue;
		got = waitpid(r->running[i], &status, WNOHANG);
		if (got == r->running[i] || (got < 0 && errno == ECHILD))
			r->running[i] = 0;
	}
}

void event_finish(struct event_runner *r, long wait_ms)
{
	long long deadline = monotonic_ms() + wait_ms;

	event_flush(r);
	for (;;) {
		long long left = deadline - monotonic_ms();
		bool any = false;

		event_reap(r);
		for (int i = 0; i < EVENT_RUNNING_MAX; i++)
			any = any || r->running[i];
		if (!any && r->turn_fd >= 0) {
			close(r->turn_fd);
			r->turn_fd = -1;
		}
		if (!any || left <= 0)
			return;
		signals_wait(left < 100 ? (long)left : 100);
	}
}
