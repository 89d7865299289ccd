/* Running a child program with a time limit.
 *
 * The child is the leader of a new process group, starts with default signal
 * dispositions, an empty signal mask, stdin from /dev/null and no descriptor
 * above stderr; it gets the caller's environment. When the time limit passes,
 * the whole group gets SIGTERM, then SIGKILL after a grace period. Signals that
 * arrive meanwhile are recorded (signals.h) and do not cut the wait short: an
 * activation in progress is allowed to finish. */
#ifndef HAIL_CHILD_H
#define HAIL_CHILD_H

#include <stdbool.h>
#include <stddef.h>

struct child_result {
	int wait_status;     /* as from waitpid() */
	bool timed_out;
	long long duration_ms;
	int spawn_errno;     /* when child_run failed to start the child */
};

/* argv[0] is a path, or a bare name looked up in PATH. timeout_s 0 means no
 * limit. Returns 0 when the child ran (see res for how it ended), or
 * HAIL_E_INTERNAL with res->spawn_errno set when it could not start. */
int child_run(const char *const argv[], unsigned timeout_s, struct child_result *res);

/* As child_run, with the child's stdout and stderr (both, in the order
 * written) kept in a memfd, of which the first size - 1 bytes end up in out,
 * NUL-terminated, *len long: nothing the child writes can block it or fill
 * hail's log. */
int child_run_output(const char *const argv[], unsigned timeout_s, char *out, size_t size,
		     size_t *len, struct child_result *res);

/* Replaces this process with argv (a path, or a name looked up in PATH):
 * every descriptor above stderr is closed on exec, so connections the caller
 * forgot do not leak into the new program, and the signal mask is kept, so a
 * signal that arrives meanwhile waits, pending, until the new program takes
 * it (signals.h: hail blocks the same set first thing). Returns only on
 * failure: HAIL_E_INTERNAL with errno set. */
int child_exec(char *const argv[]);

/* True when the child exited with status 0 within its time. */
bool child_succeeded(const struct child_result *res);

/* "exited with status 1", "killed by signal 9", "timed out after 30s". */
void child_describe(const struct child_result *res, char *buf, unsigned size);

#endif
