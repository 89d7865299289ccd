#include "agent.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "act.h"
#include "fetcher.h"
#include "fileio.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "observe.h"
#include "period.h"
#include "profile.h"
#include "rollout.h"
#include "signals.h"
#include "strutil.h"

#define SPLAY_MAX_S 60
#define BACKOFF_CAP_S (15 * 60)
#define BACKOFF_MAX_DOUBLINGS 3

static void note_state_file(struct agent *a)
{
	struct stat sb;

	if (stat(a->paths.state_path, &sb) < 0) {
		memset(&a->state_file, 0, sizeof(a->state_file));
		return;
	}
	a->state_file.dev = sb.st_dev;
	a->state_file.ino = sb.st_ino;
	a->state_file.mtime_ns = (long long)sb.st_mtim.tv_sec * 1000000000LL + sb.st_mtim.tv_nsec;
}

/* Another hail on this profile wrote the state since we did (every write
 * is a rename, so a new inode): one stat per poll. */
static bool state_file_changed(const struct agent *a)
{
	struct stat sb;

	if (stat(a->paths.state_path, &sb) < 0)
		return false;
	return sb.st_dev != a->state_file.dev || sb.st_ino != a->state_file.ino ||
		(long long)sb.st_mtim.tv_sec * 1000000000LL + sb.st_mtim.tv_nsec !=
		a->state_file.mtime_ns;
}

int agent_save_state(struct agent *a, bool durable, struct hail_errbuf *e)
{
	int ret = state_save(a->paths.state_path, &a->st, durable, e);

	if (ret == 0)
		note_state_file(a);
	return ret;
}

void agent_reload_state(struct agent *a)
{
	struct agent_state fresh, *st = &a->st;
	struct hail_errbuf why;

	if (access(a->paths.state_path, F_OK) < 0)
		return;                 /* gone: what is in memory is all there is */
	if (state_load(a->paths.state_path, &fresh, &why) < 0) {
		log_warning("%s; keeping the state in memory", why.msg);
		return;
	}
	/* what outside control said this poll is newer than the file */
	fresh.tags = st->tags;
	fresh.fleet = st->fleet;
	fresh.paused = st->paused;
	fresh.pause_until = st->pause_until;
	fresh.pin_id = st->pin_id;
	memcpy(fresh.control_source, st->control_source, sizeof(fresh.control_source));
	state_free(st);
	*st = fresh;
	note_state_file(a);
}

static int init_state(struct agent *a, struct hail_errbuf *e)
{
	struct agent_paths *p = &a->paths;
	struct hail_errbuf why;
	char *dir;
	int ret;

	p->name = profile_state_name(p->profile);
	p->label = strdup(str_has_prefix(p->profile, PROFILES_DIR "/") ?
			  p->profile + sizeof(PROFILES_DIR) : p->profile);
	dir = p->name ? str_concat(a->set->state_dir, "/", p->name) : NULL;
	p->state_path = dir ? str_concat(dir, "/state.json", NULL) : NULL;
	p->hold_path = dir ? str_concat(dir, "/hold", NULL) : NULL;
	if (!p->state_path || !p->hold_path || !p->label) {
		free(dir);
		return hail_fail(e, HAIL_E_INTERNAL, "out of memory");
	}
	ret = a->set->read_only ? 0 : mkdir_parents(p->state_path, 0755, e);
	free(dir);
	if (ret < 0)
		return ret;
	if (state_load(p->state_path, &a->st, &why) < 0)
		log_warning("%s; starting afresh", why.msg);
	note_state_file(a);
	if (a->set->contact_timeout_s && (a->st.journal.phase == PHASE_CONFIRMING ||
					  a->st.journal.phase == PHASE_CONFIRMING_ROLLBACK)) {
		/* a check that went on across a restart (or a reboot) gets a
		 * whole period from now: the network may come up after hail, and
		 * a deadline from a clock that stepped is no deadline */
		a->st.journal.until = time(NULL) + (time_t)a->set->contact_timeout_s;
	}
	if (a->set->retry_failed && a->st.n_failed) {
		log_info("--retry-failed: forgetting %u failed build(s)", a->st.n_failed);
		state_clear_failed(&a->st);
	}
	if (a->set->retry_failed && a->st.halted.path) {
		log_info("--retry-failed: forgetting that the halt alarm stopped build %" PRIu64,
			 a->st.halted.id);
		ref_clear(&a->st.halted);
	}
	return 0;
}

/* A command hail runs without a shell or arguments: an absolute path (and,
 * when no_space, one that cannot be mistaken for a command line). */
static int check_command_path(const char *key, const char *path, bool no_space,
			      struct hail_errbuf *e)
{
	char shown[128];

	if (!path || (path[0] == '/' && !(no_space && strpbrk(path, " \t\n"))))
		return 0;
	str_escape(shown, sizeof(shown), path, strlen(path));
	return hail_fail(e, HAIL_E_USAGE, "%s '%s': not an absolute path (it runs without a "
			 "shell or arguments)", key, shown);
}

int agent_init(struct agent *a, const struct settings *set, struct hail_errbuf *e)
{
	int ret;

	memset(a, 0, sizeof(*a));
	event_runner_init(&a->events);
	a->set = set;
	ret = fetcher_job(set, &a->clients.job, e);
	if (ret < 0)
		return ret;
	if (set->gc && !gc_mode_parse(set->gc, &a->gc)) {
		char shown[64];

		str_escape(shown, sizeof(shown), set->gc, strlen(set->gc));
		return hail_fail(e, HAIL_E_USAGE, "gc '%s': not off, when-needed or after-deploy",
				 shown);
	}
	ret = profile_path(set->profile, &a->paths.profile, e);
	if (ret < 0)
		return ret;
	if (set->netrc_file && access(set->netrc_file, R_OK) < 0) {
		char shown[128];

		str_escape(shown, sizeof(shown), set->netrc_file, strlen(set->netrc_file));
		return hail_fail(e, HAIL_E_USAGE, "netrc-file %s: %s", shown, strerror(errno));
	}
	/* whether they are there is asked when they are needed: they may come
	 * with the profile hail is about to deploy */
	ret = check_command_path("reboot-command", set->reboot_command, true, e);
	if (ret == 0)
		ret = check_command_path("event-command", set->event_command, false, e);
	if (ret < 0)
		return ret;
	if (set->rollout_window_s || (set->given & OPT_BIT(OPT_REBOOT_WINDOW))) {
		ret = rollout_identity(set->instance_id, &a->identity, e);
		if (ret < 0)
			return ret;
	}
	a->rules.rollout_window_s = set->rollout_window_s;
	a->rules.contact_timeout_s = set->contact_timeout_s;
	a->rules.halt_alarm = set->halt_alarm;
	a->rules.identity = a->identity;
	ret = set->read_only ? 0 : mkdir_parents(a->paths.profile, 0755, e);
	if (ret == 0)
		ret = init_state(a, e);
	a->rules.profile = a->paths.profile;
	a->rules.hold_path = a->paths.hold_path;
	if (ret < 0)
		return ret;
	/* last, so that it inherits as little of this process as can be */
	a->events.command = set->event_command;
	a->events.profile = a->paths.profile;
	a->events.job_uri = a->clients.job.uri;
	a->clients.control_on = control_wanted(set);
	ret = fetch_open(&a->clients.fetch, set, &a->st.counters.fetcher_restarts, e);
	a->clients.fetch_open = ret == 0;
	return ret;
}

void agent_free(struct agent *a)
{
	/* a command started for the last events gets a moment to finish */
	event_finish(&a->events, 2000);
	if (a->clients.fetch_open)
		fetch_close(&a->clients.fetch);
	hydra_job_clear(&a->clients.job);
	free(a->paths.profile);
	free(a->paths.name);
	free(a->paths.label);
	free(a->paths.state_path);
	free(a->paths.hold_path);
	free(a->builds.latest_path);
	free(a->builds.pin_path);
	free(a->identity);
	observation_clear(&a->obs);
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

/* The mode the decision d gives. Entering a held, paused (or halted)
 * mode is a deployment event: the build it keeps out, and why. */
static void set_mode(struct agent *a, enum agent_mode mode, const struct decision *d)
{
	enum agent_mode was = a->st.mode;
	const char *cur = a->obs.f.cur_path;
	bool kept_out = d && d->target.path && cur && strcmp(d->target.path, cur);

	if (was != mode && mode == MODE_FOLLOWING && a->decided)
		log_info("%s: following %s again", a->paths.profile, a->clients.job.uri);
	a->st.mode = mode;
	if (!d)
		return;
	/* a pause is an event once it keeps a build out, once per build */
	if (mode != MODE_PAUSED)
		a->paused_out_id = 0;
	else if (kept_out && d->target.id != a->paused_out_id) {
		a->paused_out_id = d->target.id;
		event_emit(&a->events, EVENT_PAUSED, d->target.id, d->target.path, cur, d->reason);
	}
	if (was == mode)
		return;
	if (mode_is_held(mode) && !mode_is_held(was))
		event_emit(&a->events, EVENT_HELD, d->target.id, d->target.path, cur, d->reason);
	else if (mode == MODE_HALTED)
		event_emit(&a->events, EVENT_HALTED, d->target.id, d->target.path, cur, d->reason);
}

/* A decision that leaves the profile alone is logged when it differs from
 * the last poll's: a held profile says so once, not every poll. */
static void log_decision(struct agent *a, const struct decision *d)
{
	const struct decision *l = &a->last;
	bool changed = !a->decided || l->mode != d->mode || l->action != d->action ||
		l->target.id != d->target.id || strcmp(l->reason, d->reason);

	if (d->action == ACTION_SWITCH) {
		if (d->downgrade)
			log_warning("%s", d->reason);
		return;         /* else the switch logs itself */
	}
	if (d->action == ACTION_ACTIVATE || d->action == ACTION_ROLL_BACK) {
		log_msg(d->level, 0, "%s", d->reason);      /* rare, and worth a line */
		return;
	}
	if (d->level == LOG_DEBUG && a->set->verbose)
		log_info("%s", d->reason);      /* --verbose: every poll says where it is */
	else if (changed && d->level != LOG_DEBUG)
		log_msg(d->level, 0, "%s", d->reason);
}

/* After a step the mode is what the decision says of the machine as the
 * step left it: a failed activation is "held: failed build", a success
 * current. Only the mode and "current" are taken: acting again is for the
 * next poll. */
static void settle_after_act(struct agent *a, struct poll_outcome *out)
{
	struct poll_facts *f = &a->obs.f;
	struct hail_errbuf why;
	struct decision d;
	char *cur = NULL;

	if (profile_current(a->paths.profile, &cur, &why) < 0) {
		free(cur);
		return;
	}
	free(a->obs.cur_path);
	a->obs.cur_path = cur;
	f->cur_path = cur;
	f->cur_generation = cur ? profile_generation(a->paths.profile) : 0;
	f->hold_file = false;   /* a step was taken: no hold was in force */
	f->hydra_answered = false;      /* an answer from before the step proves nothing */
	decide(&a->rules, &a->st, f, &d);
	set_mode(a, d.mode, &d);
	out->current = d.current;
}

static bool confirming(const struct agent *a)
{
	return a->st.journal.phase == PHASE_CONFIRMING ||
		a->st.journal.phase == PHASE_CONFIRMING_ROLLBACK;
}

int agent_decide(struct agent *a, struct decision *d, bool *decided, struct hail_errbuf *e)
{
	struct poll_facts *f = &a->obs.f;
	int poll_err;

	*decided = false;
	poll_err = observe(a, e);
	if (a->obs.profile_unreadable)
		return poll_err;        /* no profile to decide about */
	if (f->latest_known) {
		a->st.latest_id = f->latest_id;
		if (set_string(&a->st.latest_path, f->latest_path) < 0)
			return hail_fail(e, HAIL_E_INTERNAL, "out of memory");
	}
	if (f->hydra_answered && a->st.outage.path)
		ref_clear(&a->st.outage);       /* the outage is over */
	if (ref_set(&a->st.on, known_id(&a->st, f), f->cur_generation, f->cur_path) < 0)
		return hail_fail(e, HAIL_E_INTERNAL, "out of memory");
	decide(&a->rules, &a->st, f, d);
	if (d->action == ACTION_ASK_ALARM) {
		observe_halt(a);
		decide(&a->rules, &a->st, f, d);
	}
	*decided = true;
	return poll_err;
}

int agent_update(struct agent *a, struct poll_outcome *out, struct hail_errbuf *e)
{
	struct decision d;
	bool decided;
	int ret, poll_err;

	memset(out, 0, sizeof(*out));
	event_reap(&a->events);
	if (state_file_changed(a)) {
		log_info("%s was written by another process: reading it again",
			 a->paths.state_path);
		agent_reload_state(a);
	}
	poll_err = agent_decide(a, &d, &decided, e);
	if (!decided)
		return poll_err;
	log_decision(a, &d);
	set_mode(a, d.mode, &d);
	if (d.mode != MODE_HALTED) {
		a->st.halt_reason[0] = '\0';
		a->st.halt_alarm[0] = '\0';
	} else if (str_has_prefix(d.reason, "halted: ")) {
		snprintf(a->st.halt_reason, sizeof(a->st.halt_reason), "%s", d.reason);
		snprintf(a->st.halt_alarm, sizeof(a->st.halt_alarm), "%s", a->set->halt_alarm);
	}
	if (d.halt_target &&
	    ref_set(&a->st.halted, d.target.id, 0, d.target.path) < 0)
		return hail_fail(e, HAIL_E_INTERNAL, "out of memory");
	if (d.action == ACTION_WAIT && d.mode == MODE_WAITING_ROLLOUT) {
		a->st.rollout_id = d.target.id;
		a->st.rollout_at = d.wake_at;
		out->wake_at = d.wake_at;
	} else {
		a->st.rollout_id = 0;
		a->st.rollout_at = 0;
		out->wake_at = d.action == ACTION_WAIT ? d.wake_at : 0;
	}
	a->last = d;
	a->last.target.path = a->last.from.path = NULL;         /* not kept past the poll */
	a->decided = true;
	ret = act(a, &d, out, e);
	if (out->switched || out->activated)
		settle_after_act(a, out);
	else if (ret == HAIL_E_NO_SPACE)
		set_mode(a, MODE_WAITING_DISK, NULL);   /* the switch did not start */
	if (confirming(a) && d.action != ACTION_WAIT) {
		/* a check began (or went on to the rollback): ask again soon */
		time_t next = time(NULL) + (time_t)contact_poll_s(a->set->contact_timeout_s);

		out->wake_at = next < a->st.journal.until ? next : a->st.journal.until;
	}
	if ((d.action == ACTION_NONE || d.action == ACTION_WAIT) && !out->switched &&
	    !out->activated && !a->set->oneshot)
		act_consider_reboot(a, out);
	if (ret != HAIL_E_NO_SPACE && !out->switched && a->st.disk_wait_id &&
	    d.target.id != a->st.disk_wait_id)
		a->st.disk_wait_id = 0;         /* it waits for another build no more */
	/* the poll's error is what kept a fact unknown, unless acting failed */
	if (ret == 0 && poll_err < 0)
		return hail_fail(e, poll_err, "%s", a->obs.why.msg);
	return ret;
}

/* Under the lock: a hail in the middle of a step on this profile owns the
 * state file, and its journal must not be overwritten. */
static void save_state_unless_busy(struct agent *a)
{
	struct hail_errbuf why;
	int lock_fd = -1;

	if (profile_lock(a->paths.profile, 0, &lock_fd, &why) == 0) {
		if (agent_save_state(a, false, &why) < 0)
			log_warning("%s", why.msg);
		close(lock_fd);
	}
}

/* --cloudwatch-metrics: after a poll that changed them, or when the period
 * is up (fleetmetrics.h). A failure is said once and tried again at the
 * next poll; the counts since the last send wait for it. */
static void send_fleet_metrics(struct agent *a)
{
	struct agent_state *st = &a->st;
	struct fleet_metrics m;
	struct hail_errbuf why;
	time_t now = time(NULL);

	if (!a->set->cloudwatch_metrics)
		return;
	fleet_metrics_of(st, &st->cw_sent, &m);
	if (!fleet_metrics_due(&st->cw_sent, &m, now, a->set->cloudwatch_period_s))
		return;
	if (fetch_metrics(&a->clients.fetch, &m, &why) < 0) {
		if (!a->metrics_warned)
			log_warning("cloudwatch-metrics: %s; sent at the next poll", why.msg);
		a->metrics_warned = true;
		return;
	}
	if (a->metrics_warned)
		log_info("cloudwatch-metrics: sent again");
	a->metrics_warned = false;
	st->cw_sent.at = now;
	st->cw_sent.values = m;
	st->cw_sent.activations_failed = st->counters.activations_failed +
		st->counters.activations_timed_out;
	st->cw_sent.health_checks_failed = st->counters.health_checks_failed;
	save_state_unless_busy(a);      /* a restart must not send the counts again */
}

/* After every poll: the state file, the metrics, systemd's status. */
static void record_poll(struct agent *a, int ret, const struct poll_outcome *out,
			const struct hail_errbuf *e)
{
	struct agent_state *st = &a->st;
	struct hail_errbuf why;
	time_t now = time(NULL);

	st->last_poll = now;
	st->last_poll_result = ret;
	snprintf(st->last_poll_error, sizeof(st->last_poll_error), "%.255s", ret ? e->msg : "");
	if (ret < 0 && -ret < (int)(sizeof(st->counters.poll_errors) /
				    sizeof(st->counters.poll_errors[0])))
		st->counters.poll_errors[-ret]++;
	if (ret == 0 && out->current)
		st->last_success = now;
	save_state_unless_busy(a);
	if (a->set->metrics_file &&
	    metrics_write(a->set->metrics_file, a->paths.label, st, &why) < 0)
		log_warning("metrics: %s", why.msg);
	notify_status(false, "%s build %" PRIu64 " (%s); latest %" PRIu64 "%s%s",
		      mode_name(st->mode), st->on.id, st->on.path ? st->on.path : "nothing",
		      st->latest_id, ret ? "; last poll failed: " : "", ret ? hail_err_str(ret) : "");
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

int agent_run_oneshot(struct agent *a)
{
	struct hail_errbuf e = { "" }, why = { "" };
	struct poll_outcome out;
	int ret, act_ret = 0;
	bool activated;
	time_t wake, limit;

	ret = agent_update(a, &out, &e);
	activated = out.activated;
	/* a contact check runs to its end: one update leaves the profile on a
	 * build Hydra answered, or rolled back (bounded by the deadlines) */
	/* bounded whatever the journal says: two periods, a rollback's switch
	 * and activation, and a minute */
	limit = time(NULL) + 2 * (time_t)a->set->contact_timeout_s + a->set->switch_timeout_s +
		a->set->activation_timeout_s + 60;
	while (confirming(a) && ret != HAIL_E_INTERRUPTED && !signals_stop_requested() &&
	       time(NULL) < limit) {
		record_poll(a, ret, &out, &e);
		event_flush(&a->events);
		wake = out.wake_at ? out.wake_at :
			time(NULL) + (time_t)contact_poll_s(a->set->contact_timeout_s);
		sleep_until(monotonic_ms() + 1000LL * (wake > time(NULL) ? wake - time(NULL) : 0));
		e.msg[0] = '\0';
		ret = agent_update(a, &out, &e);
		activated = activated || out.activated;
	}
	/* Whenever it did not activate anything (current, held, paused, Hydra
	 * away), the build the profile is on is activated: a oneshot run at
	 * boot leaves the service set up, as the polling agent's start does. */
	if (!activated && ret != HAIL_E_NIX && ret != HAIL_E_INTERRUPTED &&
	    ret != HAIL_E_BUSY && access(a->paths.profile, F_OK) == 0)
		act_ret = act_activate_current(a, a->set->switch_timeout_s +
					       a->set->activation_timeout_s, &why);
	if (ret == 0 && act_ret < 0) {
		ret = act_ret;
		e = why;
	} else if (act_ret < 0) {
		log_error(0, "%s", why.msg);
	}
	record_poll(a, ret, &out, &e);
	event_flush(&a->events);
	send_fleet_metrics(a);
	if (ret < 0)
		return log_error(ret, "%s", e.msg);
	if (!out.current)
		return log_error(HAIL_E_HELD, "%s is %s: not on build %" PRIu64, a->paths.profile,
				 mode_name(a->st.mode), a->obs.f.ctl.pin ? a->obs.f.ctl.pin :
				 a->obs.f.latest_id);
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

/* hail 0.2 does this too: the machine may have booted into a state the
 * service is not set up for. Its failure does not stop us. An unfinished
 * step in the journal is left to the first poll, which finishes it. */
static void startup_activation(struct agent *a)
{
	struct hail_errbuf e = { "" };

	/* a build under a contact check was activated: once more is as for
	 * any other (act_activate_current does not make it good) */
	if ((a->st.journal.phase != PHASE_IDLE && !confirming(a)) ||
	    access(a->paths.profile, F_OK) < 0)
		return;
	notify_status(false, "activating the build the profile is on");
	if (act_activate_current(a, 0, &e) < 0)
		log_warning("start-up activation: %s", e.msg);
}

int agent_run_polling(struct agent *a)
{
	char period[32];

	period_format(a->set->poll_period_s, period, sizeof(period));
	log_info("following %s into %s every %s", a->clients.job.uri, a->paths.profile, period);
	if (notify_watchdog_interval_ms())
		signals_set_tick(notify_watchdog, notify_watchdog_interval_ms());
	/* ready once set up: the start-up activation and the first poll may
	 * switch and download for longer than any start timeout (README) */
	notify_status(true, "starting: %s build %" PRIu64, mode_name(a->st.mode), a->st.on.id);
	startup_activation(a);
	while (!signals_stop_requested()) {
		struct hail_errbuf e = { "" };
		struct poll_outcome out;
		unsigned delay;
		int ret;

		(void)signals_take_reload();
		notify_status(false, "polling %s", a->clients.job.uri);
		ret = agent_update(a, &out, &e);
		/* recorded even when a stop request came during the poll: an
		 * activation that finished must not be forgotten */
		record_poll(a, ret, &out, &e);
		event_flush(&a->events);
		send_fleet_metrics(a);
		if (ret == HAIL_E_INTERRUPTED || signals_stop_requested())
			break;
		if (ret == 0 && (out.switched || out.again))
			continue;       /* a newer build may be waiting: ask at once */
		if (ret < 0 && ret != HAIL_E_BUSY && ret != HAIL_E_NO_SPACE && !confirming(a))
			a->failures++;  /* nor a wait for space, the lock or an answer */
		else
			a->failures = 0;
		delay = next_delay_s(a);
		if (out.wake_at) {
			/* wake for the rollout's turn, or to ask Hydra again
			 * while a contact check runs (whatever this poll's error) */
			time_t left = out.wake_at - time(NULL);

			if (left < (time_t)delay)
				delay = left > 0 ? (unsigned)left : 0;
		}
		if (ret < 0 && ret != HAIL_E_NO_SPACE) {   /* that one says so once */
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
