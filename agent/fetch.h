/* The root side's end of the fetcher (fetcher.h): asks it questions, reads
 * its records (record.h) and keeps it running.
 *
 * A fetcher that dies, hangs past its deadline, or sends a record that does
 * not pass the reader is killed and reaped, logged once with what became of
 * it, counted, and started again at the next question: at once the first
 * time, then after 1, 2, 4 ... up to 60 seconds while it keeps failing. The
 * question it did not answer fails the poll, which leaves the profile as it
 * is.
 *
 * The fetcher's stdout and stderr are a pipe the root side reads while it
 * waits: each line is filed again as "fetcher: LINE", escaped, at the
 * priority its "<N>" asks for but never above error. A compromised fetcher
 * can thus add lines of its own, but none that pass for the root side's. */
#ifndef HAIL_FETCH_H
#define HAIL_FETCH_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "control.h"
#include "error.h"
#include "options.h"
#include "record.h"
#include "sandbox.h"

struct fetch {
	const struct settings *set;     /* borrowed */
	struct sandbox_user user;
	pid_t pid;                      /* 0: not running */
	int fd;                         /* the channel, -1 when not running */
	int log_fd;                     /* the fetcher's stdout and stderr, -1 */
	char log[1024];                 /* a line it has not finished */
	size_t log_len;
	uint32_t seq;                   /* the last question's */
	unsigned failures;              /* in a row, for the backoff */
	long long restart_at_ms;        /* monotonic; no start before */
	unsigned long *restarts;        /* borrowed counter, or NULL */
};

/* Finds the fetcher's user and starts it; a setting it refuses (a bad
 * --ca-file, say) is its error (HAIL_E_USAGE). restarts, when not NULL, is
 * counted up at every restart after a failure. */
int fetch_open(struct fetch *f, const struct settings *set, unsigned long *restarts,
	       struct hail_errbuf *e);
void fetch_close(struct fetch *f);

/* Stops the fetcher; the next question starts a new one, with no
 * connection, TLS session, resolver cache or CA store of the old one's (a
 * contact check must prove the way to Hydra as the new build left it). */
void fetch_renew(struct fetch *f);

/* The latest build of the job. When it is still known_id, *same is set and
 * *b untouched. */
int fetch_latest(struct fetch *f, uint64_t known_id, struct record_build *b, bool *same,
		 struct hail_errbuf *e);

/* Build id, of the job followed. */
int fetch_build(struct fetch *f, uint64_t id, struct record_build *b, struct hail_errbuf *e);

/* Both control sources. A fetcher that cannot answer leaves both
 * unreadable, which keeps what they said last. */
void fetch_control(struct fetch *f, struct control_reading *tags, struct control_reading *fleet);

/* Sends the fleet metrics (--cloudwatch-metrics): 0, or why not. */
int fetch_metrics(struct fetch *f, const struct fleet_metrics *m, struct hail_errbuf *e);

/* The state of --halt-alarm: 0, or the error that kept it unknown. */
int fetch_alarm(struct fetch *f, enum alarm_state *state, time_t *since,
		struct hail_errbuf *e);

#endif
