#include "agent.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "log.h"
#include "period.h"
#include "profile.h"
#include "signals.h"
#include "strutil.h"

#define USER_AGENT "hail/" HAIL_VERSION
#define CONNECT_TIMEOUT_S 10
#define SPLAY_MAX_S 60
#define BACKOFF_CAP_S (15 * 60)
#define BACKOFF_MAX_DOUBLINGS 3

int agent_init(struct agent *a, const struct settings *set, struct hail_errbuf *e)
{
	struct http_options ho = {
		.user_agent = USER_AGENT,
		.netrc_file = set->netrc_file,
		.connect_timeout_s = CONNECT_TIMEOUT_S,
		.total_timeout_s = set->http_timeout_s,
		.should_abort = signals_stop_requested,
	};
	int ret;

	memset(a, 0, sizeof(*a));
	a->set = set;
	ret = hydra_job_parse(set->job_uri, &a->job, e);
	if (ret < 0)
		return ret;
	ret = profile_path(set->profile, &a->profile, e);
	if (ret < 0)
		return ret;
	if (set->netrc_file && access(set->netrc_file, R_OK) < 0) {
		char shown[128];

		str_escape(shown, sizeof(shown), set->netrc_file, strlen(set->netrc_file));
		return hail_fail(e, HAIL_E_USAGE, "netrc-file %s: %s", shown, strerror(errno));
	}
	if (ho.connect_timeout_s > ho.total_timeout_s)
		ho.connect_timeout_s = ho.total_timeout_s;
	ret = mkdir_parents(a->profile, 0755, e);
	if (ret < 0)
		return ret;
	a->http = http_client_new(&ho);
	if (!a->http)
		return hail_fail(e, HAIL_E_INTERNAL, "cannot set up libcurl");
	return 0;
}

void agent_free(struct agent *a)
{
	hydra_job_clear(&a->job);
	http_client_free(a->http);
	free(a->profile);
	free(a->seen_out);
	memset(a, 0, sizeof(*a));
}

/* How long a oneshot run or a start-up activation waits for another hail
 * that holds the profile: long enough for its switch and activation. */
static unsigned lock_wait_s(const struct agent *a)
{
	return a->set->oneshot ? a->set->switch_timeout_s + a->set->activation_timeout_s : 0;
}

static int activate(struct agent *a, const char *what, struct hail_errbuf *e)
{
	struct child_result res;
	int ret;

	ret = profile_activate(a->profile, a->set->activation_timeout_s, &res, e);
	if (ret == 0)
		log_info("activated %s in %lld.%03llds", what, res.duration_ms / 1000,
			 res.duration_ms % 1000);
	return ret;
}

/* Asks Hydra for its latest build; reads the build's JSON only when the id
 * changed, so an idle poll is one request. */
static int refresh_latest(struct agent *a, struct hail_errbuf *e)
{
	struct hydra_build b;
	uint64_t id;
	int ret;

	ret = hydra_latest(a->http, &a->job, &id, e);
	if (ret < 0 || id == a->seen_id)
		return ret;
	ret = hydra_build(a->http, &a->job, id, &b, e);
	if (ret < 0)
		return ret;
	free(a->seen_out);
	a->seen_out = b.out_path;       /* taken over */
	a->seen_id = id;
	log_info("latest build of %s is %" PRIu64 ": %s", a->job.uri, id, a->seen_out);
	return 0;
}

/* Under the lock: switch unless someone else did already, then activate. */
static int switch_and_activate(struct agent *a, bool *switched, struct hail_errbuf *e)
{
	char *cur = NULL, what[64];
	int ret;

	ret = profile_current(a->profile, &cur, e);
	if (ret < 0 || (cur && !strcmp(cur, a->seen_out)))
		goto out;
	log_info("switching %s from %s to build %" PRIu64 ": %s", a->profile,
		 cur ? cur : "(nothing)", a->seen_id, a->seen_out);
	ret = profile_set(a->profile, a->seen_out, a->set->switch_timeout_s, e);
	if (ret < 0)
		goto out;
	*switched = true;
	snprintf(what, sizeof(what), "build %" PRIu64, a->seen_id);
	ret = activate(a, what, e);
out:
	free(cur);
	return ret;
}

int agent_update(struct agent *a, bool *switched, struct hail_errbuf *e)
{
	char *cur = NULL;
	int lock_fd = -1, ret;

	*switched = false;
	ret = refresh_latest(a, e);
	if (ret < 0)
		return ret;
	ret = profile_current(a->profile, &cur, e);
	if (ret < 0 || (cur && !strcmp(cur, a->seen_out))) {
		if (ret == 0 && a->set->verbose)
			log_info("%s is on the latest build %" PRIu64, a->profile, a->seen_id);
		goto out;
	}
	ret = profile_lock(a->profile, lock_wait_s(a), &lock_fd, e);
	if (ret < 0)
		goto out;
	ret = switch_and_activate(a, switched, e);
out:
	if (lock_fd >= 0)
		close(lock_fd);
	free(cur);
	return ret;
}

int agent_run_oneshot(struct agent *a)
{
	struct hail_errbuf e = { "" };
	bool switched;
	int lock_fd = -1, ret;

	ret = agent_update(a, &switched, &e);
	if (ret < 0)
		return log_error(ret, "%s", e.msg);
	if (switched)
		return 0;
	/* Already current: activate anyway, so that a oneshot run at boot
	 * leaves the service set up, as hail 0.2's start-up activation does. */
	ret = profile_lock(a->profile, lock_wait_s(a), &lock_fd, &e);
	if (ret == 0) {
		ret = activate(a, "the current build", &e);
		close(lock_fd);
	}
	if (ret < 0)
		return log_error(ret, "%s", e.msg);
	return 0;
}

/* The time to the next poll: the period plus a random splay so that a fleet
 * does not poll in lockstep; after failures, doubling up to a cap. */
static unsigned next_delay_s(const struct agent *a)
{
	unsigned period = a->set->poll_period_s, delay = period, splay;

	if (a->failures > 0) {
		unsigned cap = period > BACKOFF_CAP_S ? period : BACKOFF_CAP_S;
		unsigned n = a->failures - 1;

		if (n > BACKOFF_MAX_DOUBLINGS)
			n = BACKOFF_MAX_DOUBLINGS;
		delay = period << n;
		if (delay > cap)
			delay = cap;
	}
	splay = delay / 10 < SPLAY_MAX_S ? delay / 10 : SPLAY_MAX_S;
	return delay + (splay ? arc4random_uniform(splay + 1) : 0);
}

/* Sleeps until the deadline, SIGTERM/SIGINT or SIGHUP. */
static void sleep_until(long long deadline_ms)
{
	for (;;) {
		long long left = deadline_ms - monotonic_ms();

		if (left <= 0 || signals_stop_requested())
			return;
		if (signals_take_reload()) {
			log_info("SIGHUP: polling now");
			return;
		}
		signals_wait(left);
	}
}

static void startup_activation(struct agent *a)
{
	struct hail_errbuf e = { "" };
	char *cur = NULL;
	int lock_fd = -1;

	if (profile_current(a->profile, &cur, &e) < 0 || !cur)
		goto out;
	if (profile_lock(a->profile, 0, &lock_fd, &e) < 0)
		goto out;
	/* hail 0.2 does this too: the machine may have booted into a state
	 * the service is not set up for. Its failure does not stop us. */
	activate(a, cur, &e);
out:
	if (e.msg[0])
		log_warning("start-up activation: %s", e.msg);
	if (lock_fd >= 0)
		close(lock_fd);
	free(cur);
}

int agent_run_polling(struct agent *a)
{
	char period[32];

	period_format(a->set->poll_period_s, period, sizeof(period));
	log_info("following %s into %s every %s", a->job.uri, a->profile, period);
	startup_activation(a);
	while (!signals_stop_requested()) {
		struct hail_errbuf e = { "" };
		bool switched;
		unsigned delay;
		int ret;

		(void)signals_take_reload();
		ret = agent_update(a, &switched, &e);
		if (ret == HAIL_E_INTERRUPTED || signals_stop_requested())
			break;
		if (ret == 0 && switched)
			continue;       /* a newer build may be waiting: ask at once */
		if (ret < 0 && ret != HAIL_E_BUSY)
			a->failures++;
		else
			a->failures = 0;
		delay = next_delay_s(a);
		if (ret < 0) {
			period_format(delay, period, sizeof(period));
			log_msg(ret == HAIL_E_BUSY ? LOG_INFO : LOG_ERR, 0, "%s; next poll in %s",
				e.msg, period);
		}
		sleep_until(monotonic_ms() + (long long)delay * 1000);
	}
	log_info("stopping");
	return 0;
}
