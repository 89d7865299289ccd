/* The fetcher: the process of hail that speaks to the network (README,
 * "Privilege separation").
 *
 * The root side forks it at start and again after it dies. Before it opens
 * any connection it closes every descriptor but its end of the channel and
 * stdio, loads --ca-file, and confines itself (sandbox.h); it then asks the
 * kernel to kill it when the root side dies. It does every request of the
 * agent (Hydra, IMDS tags, role credentials, SSM) and all parsing of the
 * answers, and answers each question of the root side with one record
 * (record.h). Role credentials live only here.
 *
 * The netrc stays root's: the root side opens it for each Hydra question and
 * passes the open descriptor along (SCM_RIGHTS). The fetcher reads at most
 * FETCHER_NETRC_MAX bytes from it into a memfd of its own, which libcurl
 * reads through /proc/self/fd; it never learns the netrc's path. */
#ifndef HAIL_FETCHER_H
#define HAIL_FETCHER_H

#include <sys/types.h>

#include "error.h"
#include "hydra.h"
#include "options.h"
#include "sandbox.h"

#define FETCHER_NETRC_MAX (64 * 1024)

/* The exit statuses of a fetcher that gives up by itself. */
enum fetcher_exit {
	FETCHER_EXIT_SETUP = 71,        /* could not set up or confine itself */
	FETCHER_EXIT_CHANNEL = 72,      /* a malformed question, or the channel broke */
};

/* Forks the fetcher. The child never returns; the parent gets its pid, its
 * end of the channel and the read end of the pipe that is the fetcher's
 * stdout and stderr (non-blocking; all close-on-exec, so that no activation
 * inherits them). */
int fetcher_spawn(const struct settings *set, const struct sandbox_user *user, pid_t *pid,
		  int *fd, int *log_fd, struct hail_errbuf *e);

/* The job the settings follow, with the URL the agent asks for its latest
 * build (…/latest, or …/latest-finished with wait-for-eval): the same on
 * both sides. */
int fetcher_job(const struct settings *set, struct hydra_job *job, struct hail_errbuf *e);

#endif
