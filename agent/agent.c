#include "agent.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "hold.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "period.h"
#include "profile.h"
#include "rfc3339.h"
#include "rollout.h"
#include "signals.h"
#include "strutil.h"

#define USER_AGENT "hail/" HAIL_VERSION
#define CONNECT_TIMEOUT_S 10
#define SPLAY_MAX_S 60
#define BACKOFF_CAP_S (15 * 60)
#define BACKOFF_MAX_DOUBLINGS 3

static int init_state(struct agent *a, struct hail_errbuf *e)
{
	struct hail_errbuf why;
	char *dir;
	int ret;

	a->name = profile_state_name(a->profile);
	dir = a->name ? str_concat(a->set->state_dir, "/", a->name) : NULL;
	a->state_path = dir ? str_concat(dir, "/state.json", NULL) : NULL;
	a->hold_path = dir ? str_concat(dir, "/hold", NULL) : NULL;
	if (!a->state_path || !a->hold_path) {
		free(dir);
		return hail_fail(e, HAIL_E_INTERNAL, "out of memory");
	}
	ret = mkdir_parents(a->state_path, 0755, e);
	free(dir);
	if (ret < 0)
		return ret;
	if (state_load(a->state_path, &a->st, &why) < 0)
		log_warning("%s; starting afresh", why.msg);
	if (a->set->retry_failed && a->st.n_failed) {
		log_info("--retry-failed: forgetting %u failed build(s)", a->st.n_failed);
		state_clear_failed(&a->st);
	}
	return 0;
}

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
	if (set->wait_for_eval) {
		/* the newest build whose whole evaluation is done (protocols.md) */
		char *url = str_concat(a->job.uri, "/latest-finished", NULL);

		if (!url)
			return hail_fail(e, HAIL_E_INTERNAL, "out of memory");
		free(a->job.latest_url);
		a->job.latest_url = url;
	}
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
	if (set->rollout_window_s) {
		ret = rollout_identity(set->instance_id, &a->identity, e);
		if (ret < 0)
			return ret;
	}
	ret = mkdir_parents(a->profile, 0755, e);
	if (ret == 0)
		ret = init_state(a, e);
	if (ret == 0 && control_wanted(set)) {
		ret = control_open(&a->control, set, e);
		a->control_on = ret == 0;
	}
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
	free(a->name);
	free(a->state_path);
	free(a->hold_path);
	free(a->latest_out);
	free(a->pin_out);
	free(a->identity);
	if (a->control_on)
		control_close(&a->control);
	state_free(&a->st);
	memset(a, 0, sizeof(*a));
}

static int set_string(char **field, const char *v)
{
	char *copy = v ? strdup(v) : NULL;

	if (v && !copy)
		return HAIL_E_INTERNAL;
	free(*field);
	*field = copy;
	return 0;
}

/* Records what the profile now points to as hail's own doing. durable: a
 * switch happened, so it must survive a crash (else the next start would
 * take hail's own switch for a manual one). */
static int note_deployed(struct agent *a, const char *path, uint64_t id, bool durable,
			 struct hail_errbuf *e)
{
	if (set_string(&a->st.deployed_path, path) < 0 || set_string(&a->st.pending_path, NULL) < 0)
		return hail_fail(e, HAIL_E_INTERNAL, "out of memory");
	a->st.deployed_id = id;
	a->st.deployed_generation = profile_generation(a->profile);
	return state_save(a->state_path, &a->st, durable, e);
}

/* Before hail switches the profile: where to, durably, so that a crash
 * between the switch and note_deployed() is not taken for a manual switch. */
static int mark_pending(struct agent *a, const char *path, uint64_t id, struct hail_errbuf *e)
{
	if (set_string(&a->st.pending_path, path) < 0)
		return hail_fail(e, HAIL_E_INTERNAL, "out of memory");
	a->st.pending_id = id;
	return state_save(a->state_path, &a->st, true, e);
}

static void set_mode(struct agent *a, const char *mode)
{
	if (strcmp(a->st.mode, mode)) {
		if (!strcmp(mode, "following") && a->st.mode[0])
			log_info("%s: following %s again", a->profile, a->job.uri);
		snprintf(a->st.mode, sizeof(a->st.mode), "%s", mode);
	}
}

/* How long a oneshot run or a start-up activation waits for another hail
 * that holds the profile: long enough for its switch and activation. */
static unsigned lock_wait_s(const struct agent *a)
{
	return a->set->oneshot ? a->set->switch_timeout_s + a->set->activation_timeout_s : 0;
}

/* After a successful activate: the build's own bin/health-check, when it
 * has one. Its failure counts as a failed activation. */
static int health_check(struct agent *a, const char *what, struct hail_errbuf *e)
{
	struct child_result res;
	int ret;

	ret = profile_health_check(a->profile, a->set->health_check_timeout_s, &res, e);
	a->st.health_ms = res.duration_ms;
	a->st.health_exit = WIFEXITED(res.wait_status) && !res.timed_out ?
		WEXITSTATUS(res.wait_status) : -1;
	if (ret == HAIL_E_NOT_FOUND) {
		snprintf(a->st.health_result, sizeof(a->st.health_result), "none");
		a->st.health_exit = -1;
		return 0;
	}
	snprintf(a->st.health_result, sizeof(a->st.health_result), "%s",
		 ret == 0 ? "success" : res.timed_out ? "timeout" : "failure");
	if (ret < 0) {
		a->st.counters.health_checks_failed++;
		return hail_wrap(e, ret, "health check of %s", what);
	}
	log_info("health check of %s passed in %lld.%03llds", what, res.duration_ms / 1000,
		 res.duration_ms % 1000);
	return 0;
}

/* Runs bin/activate, then bin/health-check, and counts the result. */
static int activate(struct agent *a, uint64_t id, const char *what, struct hail_errbuf *e)
{
	struct child_result res;
	int ret;

	ret = profile_activate(a->profile, a->set->activation_timeout_s, &res, e);
	a->st.activation_ms = res.duration_ms;
	a->st.activation_id = id;
	a->st.activation_time = time(NULL);
	a->st.health_result[0] = '\0';
	if (ret == 0)
		ret = health_check(a, what, e);
	if (ret == 0) {
		a->st.counters.activations_ok++;
		snprintf(a->st.activation_result, sizeof(a->st.activation_result), "success");
		log_info("activated %s in %lld.%03llds", what, res.duration_ms / 1000,
			 res.duration_ms % 1000);
	} else if (res.timed_out) {
		a->st.counters.activations_timed_out++;
		snprintf(a->st.activation_result, sizeof(a->st.activation_result), "timeout");
	} else {
		a->st.counters.activations_failed++;
		snprintf(a->st.activation_result, sizeof(a->st.activation_result), "failure");
	}
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
	if (ret < 0 || id == a->latest_id)
		return ret;
	ret = hydra_build(a->http, &a->job, id, &b, e);
	if (ret < 0)
		return ret;
	free(a->latest_out);
	a->latest_out = b.out_path;       /* taken over */
	b.out_path = NULL;
	a->latest_id = id;
	/* a build's finish time starts its rollout; without one, now */
	a->latest_stoptime = b.stoptime ? b.stoptime : (int64_t)time(NULL);
	hydra_build_clear(&b);
	a->st.latest_id = id;
	if (set_string(&a->st.latest_path, a->latest_out) < 0)
		return hail_fail(e, HAIL_E_INTERNAL, "out of memory");
	log_info("latest build of %s is %" PRIu64 ": %s", a->job.uri, id, a->latest_out);
	return 0;
}

/* The rule for manual changes (README, "Rollbacks and holds"). Sets *held
 * when hail must leave the profile alone this poll. */
static int check_hold(struct agent *a, const char *cur, bool *held, struct hail_errbuf *e)
{
	bool file;
	uint64_t until;
	int ret;

	*held = false;
	if (cur && a->st.pending_path && !strcmp(cur, a->st.pending_path)) {
		/* our own switch, cut short by a crash before it was noted */
		ret = note_deployed(a, cur, a->st.pending_id, true, e);
		if (ret < 0)
			return ret;
	}
	ret = hold_read(a->hold_path, &file, &until, e);
	if (ret < 0)
		return ret;
	if (!file && !strncmp(a->st.mode, "held", 4) && strcmp(a->st.mode, "held: failed build")) {
		log_info("%s removed: following Hydra again", a->hold_path);
		set_mode(a, "following");
		/* what the operator left is the new baseline */
		return cur ? note_deployed(a, cur, strcmp(cur, a->target_out) ? 0 : a->target_id,
					   false, e) : 0;
	}
	if (!file && cur && a->st.deployed_path && strcmp(cur, a->st.deployed_path) &&
	    strcmp(cur, a->target_out)) {
		/* released by a build newer than the one hail deployed; when that
		 * one's id is unknown, newer than what Hydra offers now */
		until = a->st.deployed_id ? a->st.deployed_id : a->latest_id;
		ret = hold_write(a->hold_path, until, a->st.deployed_path, cur, e);
		if (ret < 0)
			return ret;
		log_warning("%s was switched by hand from %s to %s: holding until Hydra offers a "
			    "build newer than %" PRIu64 ", or %s is removed", a->profile,
			    a->st.deployed_path, cur, until, a->hold_path);
		file = true;
	}
	if (!file)
		return 0;
	if (until && a->latest_id > until) {
		log_info("build %" PRIu64 " is newer than %" PRIu64 ": releasing the hold",
			 a->latest_id, until);
		set_mode(a, "following");
		return hold_remove(a->hold_path, e);
	}
	if (strcmp(a->st.mode, until ? "held: manual switch" : "held: hold file"))
		log_info("%s is held (%s): not switching to build %" PRIu64, a->profile,
			 a->hold_path, a->target_id);
	set_mode(a, until ? "held: manual switch" : "held: hold file");
	*held = true;
	return 0;
}

/* After a failed activation: back to the generation that was active before
 * (by number: --rollback would take the next lower one), and its activate
 * again. */
static void roll_back(struct agent *a, long generation, const char *path, uint64_t id)
{
	struct hail_errbuf e = { "" };
	char what[64];

	if (generation <= 0 || !path) {
		log_warning("%s: no earlier generation to roll back to", a->profile);
		return;
	}
	log_warning("rolling %s back to generation %ld: %s", a->profile, generation, path);
	if (mark_pending(a, path, id, &e) < 0 ||
	    profile_switch_generation(a->profile, generation, a->set->switch_timeout_s, &e) < 0 ||
	    note_deployed(a, path, id, true, &e) < 0) {
		log_error(0, "rollback: %s", e.msg);
		return;
	}
	a->st.counters.rollbacks++;
	snprintf(what, sizeof(what), "generation %ld after the rollback", generation);
	if (activate(a, id, what, &e) < 0)
		log_error(0, "rollback: %s", e.msg);
}

/* Under the lock: switch unless someone else did already, then activate;
 * roll back when the activation fails. */
static int switch_and_activate(struct agent *a, struct poll_outcome *out, struct hail_errbuf *e)
{
	uint64_t prev_id = a->st.deployed_id;
	char *cur = NULL, what[64];
	long prev_gen;
	int ret;

	ret = profile_current(a->profile, &cur, e);
	if (ret < 0 || (cur && !strcmp(cur, a->target_out)))
		goto out;
	prev_gen = profile_generation(a->profile);
	log_info("switching %s from %s to build %" PRIu64 ": %s", a->profile,
		 cur ? cur : "(nothing)", a->target_id, a->target_out);
	ret = mark_pending(a, a->target_out, a->target_id, e);
	if (ret == 0)
		ret = profile_set(a->profile, a->target_out, a->set->switch_timeout_s, e);
	if (ret < 0)
		goto out;
	out->switched = true;
	ret = note_deployed(a, a->target_out, a->target_id, true, e);
	if (ret < 0)
		goto out;
	snprintf(what, sizeof(what), "build %" PRIu64, a->target_id);
	ret = activate(a, a->target_id, what, e);
	if (ret < 0) {
		/* one line for the failure, then the rollback's own */
		log_error(0, "%s", e->msg);
		if (state_add_failed(&a->st, a->target_id, a->target_out) < 0)
			log_error(0, "out of memory");
		roll_back(a, prev_gen, cur, prev_id);
		hail_fail(e, HAIL_E_ACTIVATE, "build %" PRIu64 " failed to activate; it is not "
			  "tried again until Hydra offers another build (or --retry-failed)",
			  a->target_id);
	}
out:
	free(cur);
	return ret;
}

/* Reads the pause and pin from outside, and logs every change of mode. */
static void read_control(struct agent *a)
{
	struct control_decision *d = &a->ctl;
	bool was_paused = a->st.paused;
	uint64_t was_pin = a->st.pin_id;
	char until[32] = "";

	control_read(&a->control, time(NULL), d);
	a->st.paused = d->paused;
	a->st.pause_until = d->pause_until;
	a->st.pin_id = d->pin;
	snprintf(a->st.control_source, sizeof(a->st.control_source), "%s",
		 d->paused ? d->pause_why : d->pin_why);
	if (d->paused && d->pause_until)
		rfc3339_format(d->pause_until, until, sizeof(until));
	if (d->paused && !was_paused)
		log_info("paused by %s%s%s: not adopting new builds", d->pause_why,
			 until[0] ? " until " : "", until);
	else if (!d->paused && was_paused)
		log_info("pause lifted");
	if (d->pin != was_pin) {
		if (d->pin)
			log_info("pinned to build %" PRIu64 " (%s)", d->pin, d->pin_why);
		else
			log_info("pin lifted: following the latest build again");
	}
}

/* The build to be on: the pinned one, else the latest. A pinned build is
 * fetched once, and must be a successful build of the same job. */
static int choose_target(struct agent *a, struct hail_errbuf *e)
{
	struct hydra_build b = { 0 };
	int ret = 0;

	a->target_id = a->latest_id;
	a->target_out = a->latest_out;
	if (!a->ctl.pin)
		return 0;
	if (a->ctl.pin != a->pin_id) {
		ret = hydra_build(a->http, &a->job, a->ctl.pin, &b, e);
		if (ret == 0 && !hydra_build_of_job(&b, &a->job))
			ret = hail_fail(e, HAIL_E_USAGE, "pinned build %" PRIu64 " is of job %s, "
					"not of %s", a->ctl.pin, b.job_name ? b.job_name : "(not given)",
					a->job.uri);
		if (ret < 0) {
			hail_wrap(e, ret, "pin (%s)", a->ctl.pin_why);
			goto out;
		}
		free(a->pin_out);
		a->pin_out = b.out_path;        /* taken over */
		b.out_path = NULL;
		a->pin_id = a->ctl.pin;
	}
	a->target_id = a->pin_id;
	a->target_out = a->pin_out;
out:
	hydra_build_clear(&b);
	return ret;
}

/* Is it this machine's turn for the target build? A machine that has no
 * build yet takes it at once: waiting would leave it unconfigured. */
static bool rollout_turn(struct agent *a, const char *cur)
{
	time_t at;
	char when[32];

	if (!a->set->rollout_window_s || !cur || a->ctl.pin) {
		a->st.rollout_id = 0;
		return true;
	}
	at = (time_t)a->latest_stoptime +
		rollout_offset_s(a->identity, a->target_id, a->set->rollout_window_s);
	if (time(NULL) >= at) {
		a->st.rollout_id = 0;
		return true;
	}
	if (a->st.rollout_id != a->target_id) {
		rfc3339_format(at, when, sizeof(when));
		log_info("build %" PRIu64 " waits for this machine's turn in the rollout: "
			 "adopting it at %s", a->target_id, when);
	}
	a->st.rollout_id = a->target_id;
	a->st.rollout_at = at;
	return false;
}

int agent_update(struct agent *a, struct poll_outcome *out, struct hail_errbuf *e)
{
	char *cur = NULL;
	int lock_fd = -1, ret;
	bool held = false;

	memset(out, 0, sizeof(*out));
	ret = refresh_latest(a, e);
	if (ret < 0)
		return ret;
	if (a->control_on)
		read_control(a);
	ret = choose_target(a, e);
	if (ret < 0)
		return ret;
	ret = profile_current(a->profile, &cur, e);
	if (ret == 0)
		ret = check_hold(a, cur, &held, e);
	if (ret < 0)
		goto out;
	if (held) {
		out->held = true;
		goto out;
	}
	if (cur && !strcmp(cur, a->target_out)) {
		out->current = true;
		a->st.rollout_id = 0;
		set_mode(a, a->ctl.paused ? "paused" : a->ctl.pin ? "pinned" : "following");
		if (!a->st.deployed_path || strcmp(a->st.deployed_path, cur) ||
		    a->st.deployed_id != a->target_id)
			ret = note_deployed(a, cur, a->target_id, false, e);
		if (a->set->verbose)
			log_info("%s is on the %s build %" PRIu64, a->profile,
				 a->ctl.pin ? "pinned" : "latest", a->target_id);
		goto out;
	}
	if (a->ctl.paused && cur) {
		/* a machine with no build yet takes one: pin the fleet to keep
		 * new machines off a bad build */
		set_mode(a, "paused");
		out->held = true;
		goto out;
	}
	if (state_failed(&a->st, a->target_out)) {
		if (strcmp(a->st.mode, "held: failed build"))
			log_warning("build %" PRIu64 " failed to activate before: not trying it again "
				    "until Hydra offers another build (or --retry-failed)", a->target_id);
		set_mode(a, "held: failed build");
		out->held = true;
		goto out;
	}
	if (!rollout_turn(a, cur)) {
		set_mode(a, "waiting: rollout");
		out->waiting = true;
		goto out;
	}
	set_mode(a, a->ctl.pin ? "pinned" : "following");
	ret = profile_lock(a->profile, lock_wait_s(a), &lock_fd, e);
	if (ret == 0)
		ret = switch_and_activate(a, out, e);
	out->current = ret == 0;
out:
	if (lock_fd >= 0)
		close(lock_fd);
	free(cur);
	return ret;
}

/* After every poll: the state file, the metrics, systemd's status. */
static void record_poll(struct agent *a, int ret, const struct poll_outcome *out,
			const struct hail_errbuf *e)
{
	struct hail_errbuf why;
	time_t now = time(NULL);

	a->st.last_poll = now;
	a->st.last_poll_result = ret;
	snprintf(a->st.last_poll_error, sizeof(a->st.last_poll_error), "%.255s", ret ? e->msg : "");
	if (ret < 0 && -ret < (int)(sizeof(a->st.counters.poll_errors) /
				    sizeof(a->st.counters.poll_errors[0])))
		a->st.counters.poll_errors[-ret]++;
	if (ret == 0 && out->current)
		a->st.last_success = now;
	if (state_save(a->state_path, &a->st, false, &why) < 0)
		log_warning("%s", why.msg);
	if (a->set->metrics_file && metrics_write(a->set->metrics_file, a->name, &a->st, &why) < 0)
		log_warning("metrics: %s", why.msg);
	notify_status(!a->ready_sent, "%s build %" PRIu64 " (%s); latest %" PRIu64 "%s%s",
		      a->st.mode[0] ? a->st.mode : "following", a->st.deployed_id,
		      a->st.deployed_path ? a->st.deployed_path : "nothing", a->latest_id,
		      ret ? "; last poll failed: " : "", ret ? hail_err_str(ret) : "");
	a->ready_sent = true;
}

int agent_run_oneshot(struct agent *a)
{
	struct hail_errbuf e = { "" };
	struct poll_outcome out;
	int lock_fd = -1, ret;

	ret = agent_update(a, &out, &e);
	record_poll(a, ret, &out, &e);
	if (ret < 0)
		return log_error(ret, "%s", e.msg);
	if (out.switched)
		return 0;
	/* Not switched (current, or held where it is): activate what is there
	 * anyway, so that a oneshot run at boot leaves the service set up, as
	 * hail 0.2's start-up activation does. */
	if ((out.held || out.waiting) && access(a->profile, F_OK) < 0)
		goto held;      /* nothing there to activate */
	ret = profile_lock(a->profile, lock_wait_s(a), &lock_fd, &e);
	if (ret == 0) {
		ret = activate(a, a->st.deployed_id, "the current build", &e);
		close(lock_fd);
		state_save(a->state_path, &a->st, false, &e);
	}
	if (ret < 0)
		return log_error(ret, "%s", e.msg);
held:
	if (out.held || out.waiting)
		return log_error(HAIL_E_HELD, "%s is %s: not on build %" PRIu64, a->profile,
				 a->st.mode, a->target_id);
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

/* Sleeps until the deadline, SIGTERM/SIGINT or SIGHUP, pinging systemd's
 * watchdog on the way. */
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
	activate(a, a->st.deployed_id, cur, &e);
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
	if (notify_watchdog_interval_ms())
		signals_set_tick(notify_watchdog, notify_watchdog_interval_ms());
	startup_activation(a);
	while (!signals_stop_requested()) {
		struct hail_errbuf e = { "" };
		struct poll_outcome out;
		unsigned delay;
		int ret;

		(void)signals_take_reload();
		ret = agent_update(a, &out, &e);
		if (ret == HAIL_E_INTERRUPTED || signals_stop_requested())
			break;
		record_poll(a, ret, &out, &e);
		if (ret == 0 && out.switched)
			continue;       /* a newer build may be waiting: ask at once */
		if (ret < 0 && ret != HAIL_E_BUSY)
			a->failures++;
		else
			a->failures = 0;
		delay = next_delay_s(a);
		if (ret == 0 && out.waiting && a->st.rollout_at > time(NULL) &&
		    a->st.rollout_at - time(NULL) < (time_t)delay)
			delay = (unsigned)(a->st.rollout_at - time(NULL));  /* wake for the turn */
		if (ret < 0) {
			period_format(delay, period, sizeof(period));
			log_msg(ret == HAIL_E_BUSY ? LOG_INFO : LOG_ERR, 0, "%s; next poll in %s",
				e.msg, period);
		}
		sleep_until(monotonic_ms() + (long long)delay * 1000);
	}
	notify_stopping();
	log_info("stopping");
	return 0;
}
