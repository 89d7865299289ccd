/* Deployment events for --event-command (README, "Deployment events").
 *
 * After each change of outcome hail runs the operator's executable, without
 * a shell, with the event in its environment:
 *
 *   HAIL_EVENT                activated, activation-failed, rolled-back, held,
 *                             paused, halted, reboot-requested,
 *                             health-check-failed
 *   HAIL_PROFILE              the profile's path
 *   HAIL_BUILD_ID             the build the event is about (0: unknown)
 *   HAIL_STORE_PATH           its store path ("" when none)
 *   HAIL_PREVIOUS_STORE_PATH  what the profile was on before ("" when none)
 *   HAIL_JOB_URI              the job followed (never holds credentials)
 *   HAIL_ERROR                the reason, for the failures ("" otherwise)
 *
 * stdin is /dev/null, the command gets EVENT_COMMAND_TIMEOUT_S. The events
 * of one poll run one after another, in order, in a process of their own
 * started once the poll's state is saved, so that a slow or hanging command
 * never holds up a poll; what it does (its exit status, a time-out) is only
 * logged: an event never changes a deployment. A poll's process waits for
 * the previous poll's to end before it runs a command, so that the events
 * of back-to-back polls (an activation, then the reboot it asks for) reach
 * the command in the order they happened, never two at once. */
#ifndef HAIL_EVENT_H
#define HAIL_EVENT_H

#include <stdint.h>
#include <sys/types.h>

#include "storepath.h"

#define EVENT_COMMAND_TIMEOUT_S 30
#define EVENT_RUNNING_MAX 4     /* more at once are dropped, with a warning */

enum event_kind {
	EVENT_ACTIVATED,
	EVENT_ACTIVATION_FAILED,
	EVENT_ROLLED_BACK,
	EVENT_HELD,
	EVENT_PAUSED,
	EVENT_HALTED,
	EVENT_REBOOT_REQUESTED,
	EVENT_HEALTH_CHECK_FAILED,
	EVENT_COUNT
};

#define EVENT_QUEUE_MAX 8       /* events of one poll; more are dropped, with a warning */

struct event {
	enum event_kind kind;
	uint64_t build_id;
	char store_path[STORE_PATH_MAX + 1];
	char previous_path[STORE_PATH_MAX + 1];
	char error[512];
};

struct event_runner {
	const char *command;            /* borrowed: --event-command, or NULL: off */
	const char *profile;            /* borrowed */
	const char *job_uri;            /* borrowed */
	struct event queue[EVENT_QUEUE_MAX];    /* this poll's, in order */
	unsigned n_queued;
	pid_t running[EVENT_RUNNING_MAX];       /* 0: a free slot */
	int turn_fd;    /* read end of a pipe only the newest run holds open
			 * (EOF: it has ended), or -1 */
};

/* Before any other call: no command, nothing queued or running. */
void event_runner_init(struct event_runner *r);

/* "activated", "activation-failed", ... */
const char *event_name(enum event_kind k);

/* Notes one event of this poll (copied); nothing when no command is set.
 * Strings may be NULL. */
void event_emit(struct event_runner *r, enum event_kind k, uint64_t build_id,
		const char *store_path, const char *previous_path, const char *error);

/* After the poll (its state saved): starts one process that runs the
 * command for each noted event, in order, once the run started before it
 * has ended, and returns at once. */
void event_flush(struct event_runner *r);

/* Reaps the runs that have ended; called at every poll. */
void event_reap(struct event_runner *r);

/* At exit: flushes, then waits up to wait_ms for the runs still going, then
 * leaves them (each command has its own time limit). */
void event_finish(struct event_runner *r, long wait_ms);

#endif
