#include "act.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hold.h"
#include "log.h"
#include "profile.h"
#include "reboot.h"
#include "retention.h"
#include "rollout.h"
#include "storepath.h"

/* The journal, durably. Its own error buffer: a failed write must not
 * overwrite the reason of the step that is being recorded. */
static int save(struct agent *a, struct hail_errbuf *e)
{
	return agent_save_state(a, true, e);
}

static void save_or_warn(struct agent *a)
{
	struct hail_errbuf why;

	if (save(a, &why) < 0)
		log_warning("%s (the step is found again from the profile at the next poll)",
			    why.msg);
}

static int journal(struct agent *a, enum agent_phase phase, const struct build_ref *to,
		   const struct build_ref *from, struct hail_errbuf *e)
{
	if (journal_set(&a->st, phase, to, from) < 0)
		return hail_fail(e, HAIL_E_INTERNAL, "out of memory");
	return 0;
}

/* The profile as hail now left it: what it is on, and hail's own baseline. */
static int note_profile(struct agent *a, const struct build_ref *r, struct hail_errbuf *e)
{
	if (ref_set(&a->st.on, r->id, r->generation, r->path) < 0 ||
	    ref_set(&a->st.baseline, r->id, r->generation, r->path) < 0)
		return hail_fail(e, HAIL_E_INTERNAL, "out of memory");
	return 0;
}

/* After a successful activate: the build's own bin/health-check, when it
 * has one. Its failure counts as a failed activation. */
static int health_check(struct agent *a, const char *what, struct hail_errbuf *e)
{
	struct agent_state *st = &a->st;
	struct child_result res;
	int ret;

	ret = profile_health_check(a->paths.profile, a->set->health_check_timeout_s, &res, e);
	st->health_ms = res.duration_ms;
	st->health_exit = WIFEXITED(res.wait_status) && !res.timed_out ?
		WEXITSTATUS(res.wait_status) : -1;
	if (ret == HAIL_E_NOT_FOUND) {
		snprintf(st->health_result, sizeof(st->health_result), "none");
		st->health_exit = -1;
		return 0;
	}
	snprintf(st->health_result, sizeof(st->health_result), "%s",
		 ret == 0 ? "success" : res.timed_out ? "timeout" : "failure");
	if (ret < 0) {
		st->counters.health_checks_failed++;
		return hail_wrap(e, ret, "health check of %s", what);
	}
	log_info("health check of %s passed in %lld.%03llds", what, res.duration_ms / 1000,
		 res.duration_ms % 1000);
	return 0;
}

/* Runs bin/activate, then bin/health-check, and counts the result; after
 * a success, bin/reboot-required (reboot.h). path is the build's. */
static int run_activation(struct agent *a, uint64_t id, const char *path, const char *what,
			  struct hail_errbuf *e)
{
	struct agent_state *st = &a->st;
	struct child_result res;
	int ret;

	ret = profile_activate(a->paths.profile, a->set->activation_timeout_s, &res, e);
	st->activation_ms = res.duration_ms;
	st->activation_id = id;
	st->activation_time = time(NULL);
	st->health_result[0] = '\0';
	if (ret == 0)
		ret = health_check(a, what, e);
	if (ret == 0) {
		struct build_ref r = { id, profile_generation(a->paths.profile), (char *)path };

		st->counters.activations_ok++;
		snprintf(st->activation_result, sizeof(st->activation_result), "success");
		log_info("activated %s in %lld.%03llds", what, res.duration_ms / 1000,
			 res.duration_ms % 1000);
		reboot_check_required(st, a->paths.profile, &r);
	} else if (res.timed_out) {
		st->counters.activations_timed_out++;
		snprintf(st->activation_result, sizeof(st->activation_result), "timeout");
	} else {
		st->counters.activations_failed++;
		snprintf(st->activation_result, sizeof(st->activation_result), "failure");
	}
	return ret;
}

/* Nix's garbage collector, time-limited like a switch; max_freed 0: all of
 * it. What it freed is logged and counted. */
static int collect_garbage(struct agent *a, uint64_t max_freed)
{
	struct hail_errbuf why;
	uint64_t freed;
	int ret;

	ret = disk_collect(max_freed, a->set->switch_timeout_s, &freed, &why);
	if (ret < 0) {
		log_warning("garbage collection: %s", why.msg);
		return ret;
	}
	a->st.counters.gc_freed_bytes += freed;
	log_info("garbage collection freed %.2f MiB", freed / (1024.0 * 1024.0));
	return 0;
}

/* Before a switch: does the build fit on the store's disk with the margin
 * to spare? If not, garbage is collected first when --gc allows; if it
 * still does not fit, HAIL_E_NO_SPACE, and the download does not start. A
 * dry run that fails is the switch's failure (HAIL_E_NIX): nix-env would
 * fail the same way. */
static int guard_disk(struct agent *a, const struct build_ref *to, struct hail_errbuf *e)
{
	struct agent_state *st = &a->st;
	struct disk_need n;
	uint64_t margin, needed;
	bool again;
	int ret;

	ret = disk_check(to->path, a->set->switch_timeout_s, &n, e);
	if (ret < 0)
		return hail_wrap(e, ret, "not switching to build %" PRIu64, to->id);
	margin = act_disk_margin(a, n.total);
	needed = n.unpacked + margin;
	if (!disk_fits(n.unpacked, n.free, margin) && a->gc != GC_OFF &&
	    collect_garbage(a, needed - n.free) == 0) {
		ret = disk_space(&n.free, &n.total, e);
		if (ret < 0)
			return ret;
	}
	if (disk_fits(n.unpacked, n.free, margin)) {
		st->disk_wait_id = 0;
		return 0;
	}
	/* one line when it starts waiting, or for another build */
	again = st->disk_wait_id == to->id;
	st->disk_wait_id = to->id;
	st->disk_needed = needed;
	st->disk_free = n.free;
	hail_fail(e, HAIL_E_NO_SPACE, "not switching to build %" PRIu64 ": it needs %.1f MiB "
		  "unpacked and %.1f MiB must stay free, but %s has %.1f MiB free; waiting: "
		  "disk space (retried at every poll)", to->id, n.unpacked / 1048576.0,
		  margin / 1048576.0, STORE_DIR, n.free / 1048576.0);
	if (!again)
		log_warning("%s", e->msg);
	return HAIL_E_NO_SPACE;
}

/* --keep-generations: after a successful activation the profile's old
 * generations go, but never the current one, the last known good build's,
 * the baseline's or the pinned build's (retention.h). A failure costs only
 * disk space: it is logged, and tried again after the next activation. */
uint64_t act_disk_margin(const struct agent *a, uint64_t total)
{
	return a->set->given & OPT_BIT(OPT_MIN_FREE_AFTER) ? a->set->min_free_after :
		disk_default_margin(total);
}

void act_retention_keep(const struct agent *a, const char *paths[ACT_KEEP_PATHS],
			struct retention_keep *k)
{
	paths[0] = a->st.good.path;
	paths[1] = a->st.baseline.path;
	paths[2] = a->st.pin_id && a->st.pin_id == a->builds.pin_id ? a->builds.pin_path : NULL;
	*k = (struct retention_keep){
		.keep = a->set->keep_generations,
		.current = profile_generation(a->paths.profile),
		.paths = paths,
		.n_paths = ACT_KEEP_PATHS,
	};
}

static void prune_generations(struct agent *a)
{
	const char *paths[ACT_KEEP_PATHS];
	struct retention_keep k;
	struct hail_errbuf why;

	act_retention_keep(a, paths, &k);
	size_t n;

	if (!k.keep)
		return;
	if (retention_prune(a->paths.profile, &k, a->set->switch_timeout_s, &n, &why) < 0) {
		log_warning("%s; the old generations stay for now", why.msg);
		return;
	}
	if (n)
		log_info("deleted %zu old generation(s) of %s (keep-generations %u)", n,
			 a->paths.profile, k.keep);
	if (n && a->gc == GC_AFTER_DEPLOY)
		collect_garbage(a, 0);
}

/* A failed activation of the last known good build: it is good no more. */
static void lose_good(struct agent *a, const char *path)
{
	if (ref_is(&a->st.good, path)) {
		log_warning("%s, the last known good build, failed to activate: it is good no "
			    "more", path);
		ref_clear(&a->st.good);
	}
}

/* After a nix-env that failed: did the profile move to path all the same
 * (killed by its time limit after the switch)? Then the step goes on. */
static bool profile_is_on(struct agent *a, const char *path)
{
	struct hail_errbuf why;
	char *cur = NULL;
	bool on;

	on = profile_current(a->paths.profile, &cur, &why) == 0 && cur && !strcmp(cur, path);
	free(cur);
	return on;
}

/* Back to generation g, and its activation. failed: the build whose
 * activation failed, for the journal (NULL: a resumed rollback, whose
 * journal has it). HAIL_E_ACTIVATE when the rollback's own activation
 * failed; the caller that rolled back after a failure reports that one. */
static int roll_back(struct agent *a, const struct build_ref *g, const struct build_ref *failed,
		     bool lost_contact, struct poll_outcome *out, struct hail_errbuf *e)
{
	char *cur = NULL, what[64];
	int ret;

	log_warning("rolling %s back to generation %ld: %s", a->paths.profile, g->generation, g->path);
	ret = journal(a, PHASE_ROLLING_BACK, g, failed, e);
	a->st.journal.lost_contact = lost_contact;
	a->st.journal.until = 0;
	if (ret == 0) {
		save_or_warn(a);
		ret = profile_current(a->paths.profile, &cur, e);
	}
	if (ret == 0 && !(cur && !strcmp(cur, g->path))) {
		/* else a rollback resumed after its switch: counted then */
		ret = profile_switch_generation(a->paths.profile, g->generation,
						a->set->switch_timeout_s, e);
		if (ret < 0 && profile_is_on(a, g->path))
			ret = 0;
		if (ret == 0) {
			out->switched = true;
			a->st.counters.rollbacks++;
			if (lost_contact)
				a->st.counters.contact_rollbacks++;
		}
	}
	free(cur);
	if (ret == 0)
		ret = note_profile(a, g, e);
	if (ret == 0) {
		snprintf(what, sizeof(what), "generation %ld after the rollback", g->generation);
		out->activated = true;
		ret = run_activation(a, g->id, g->path, what, e);
		if (ret < 0)
			lose_good(a, g->path);
	}
	if (ret == 0)
		event_emit(&a->events, EVENT_ROLLED_BACK, g->id, g->path, a->st.journal.from.path,
			   lost_contact ? "Hydra did not answer after the switch" : NULL);
	if (ret == 0 && ref_set(&a->st.good, g->id, g->generation, g->path) < 0)
		ret = hail_fail(e, HAIL_E_INTERNAL, "out of memory");
	if (ret < 0)
		hail_wrap(e, ret, "rollback");
	if (ret == 0 && lost_contact) {
		/* was it the build? the answers coming back will tell */
		a->st.journal.phase = PHASE_CONFIRMING_ROLLBACK;
		a->st.journal.lost_contact = false;
		a->st.journal.until = time(NULL) + (time_t)a->set->contact_timeout_s;
		save_or_warn(a);
		fetch_renew(&a->clients.fetch);
		return 0;
	}
	if (journal(a, PHASE_IDLE, NULL, NULL, NULL) == 0)
		save_or_warn(a);
	if (ret == 0)
		prune_generations(a);
	return ret;
}

/* contact-timeout: a build the profile was not on, with a way back, is
 * good only once Hydra answers after its activation. */
static bool must_confirm(const struct agent *a, const struct build_ref *to,
			 const struct build_ref *from)
{
	return a->set->contact_timeout_s && from->path && from->generation > 0 &&
		from->generation != to->generation && strcmp(from->path, to->path);
}

/* The end of a contact check (decide.c, confirm_contact): the build
 * confirmed good, blamed (it cut the machine off), or let off (an outage). */
static int end_contact_check(struct agent *a, enum action action, struct hail_errbuf *e)
{
	struct agent_state *st = &a->st;
	const struct build_ref *to = &st->journal.to, *suspect = &st->journal.from;
	int ret = 0;

	if (action == ACTION_CONFIRM)
		ret = ref_set(&st->good, to->id, to->generation, to->path);
	else if (action == ACTION_BLAME && suspect->path)
		ret = state_add_failed(st, suspect->id, suspect->path);
	else if (action == ACTION_OUTAGE && suspect->path)
		/* not taken again before Hydra answers (decide.c): no flapping */
		ret = ref_set(&st->outage, suspect->id, suspect->generation, suspect->path);
	if (ret < 0 || journal(a, PHASE_IDLE, NULL, NULL, e) < 0)
		return hail_fail(e, HAIL_E_INTERNAL, "out of memory");
	save_or_warn(a);
	if (action == ACTION_CONFIRM)
		prune_generations(a);
	return 0;
}

/* Activates to, the build the profile is on; when that fails, back to from
 * (when there is a generation to go back to). */
static int activate(struct agent *a, const struct build_ref *to, const struct build_ref *from,
		    struct poll_outcome *out, struct hail_errbuf *e)
{
	struct agent_state *st = &a->st;
	char what[64];
	int ret;

	if (st->journal.phase != PHASE_ACTIVATING || !ref_is(&st->journal.to, to->path)) {
		ret = journal(a, PHASE_ACTIVATING, to, from, e);
		if (ret < 0)
			return ret;
		save_or_warn(a);
	}
	/* a switch resumed from the journal was not recorded yet */
	if (to->id && !state_generation_id(st, to->generation, to->path) &&
	    state_add_generation(st, to) < 0)
		return hail_fail(e, HAIL_E_INTERNAL, "out of memory");
	if (to->id)
		snprintf(what, sizeof(what), "build %" PRIu64, to->id);
	else
		snprintf(what, sizeof(what), "generation %ld (build id unknown)", to->generation);
	out->activated = true;
	ret = run_activation(a, to->id, to->path, what, e);
	if (ret == 0)
		event_emit(&a->events, EVENT_ACTIVATED, to->id, to->path, from->path, NULL);
	if (ret == 0 && must_confirm(a, to, from)) {
		/* good once Hydra answers: until then the way back stays the
		 * last known good, and no generation is pruned */
		if (ref_set(&st->baseline, to->id, to->generation, to->path) < 0)
			return hail_fail(e, HAIL_E_INTERNAL, "out of memory");
		st->journal.phase = PHASE_CONFIRMING;
		st->journal.until = time(NULL) + (time_t)a->set->contact_timeout_s;
		save_or_warn(a);
		fetch_renew(&a->clients.fetch);
		log_info("%s activated: Hydra must answer within %us (contact-timeout), else "
			 "it is rolled back to generation %ld", what, a->set->contact_timeout_s,
			 from->generation);
		return 0;
	}
	if (ret == 0) {
		if (ref_set(&st->good, to->id, to->generation, to->path) < 0 ||
		    ref_set(&st->baseline, to->id, to->generation, to->path) < 0 ||
		    journal(a, PHASE_IDLE, NULL, NULL, e) < 0)
			return hail_fail(e, HAIL_E_INTERNAL, "out of memory");
		save_or_warn(a);
		prune_generations(a);
		return 0;
	}
	/* one line for the failure, then the rollback's own */
	log_error(0, "%s", e->msg);
	event_emit(&a->events, !strcmp(st->health_result, "failure") ||
		   !strcmp(st->health_result, "timeout") ? EVENT_HEALTH_CHECK_FAILED :
		   EVENT_ACTIVATION_FAILED, to->id, to->path, from->path, e->msg);
	lose_good(a, to->path);
	if (state_add_failed(st, to->id, to->path) < 0)
		log_error(0, "out of memory");
	if (from->path && from->generation > 0 && from->generation != to->generation) {
		struct hail_errbuf why;

		if (roll_back(a, from, to, false, out, &why) < 0)
			log_error(0, "%s", why.msg);
	} else {
		log_warning("%s: no earlier generation to roll back to; it stays on %s, "
			    "which is not counted as deployed", a->paths.profile, what);
		if (journal(a, PHASE_IDLE, NULL, NULL, e) == 0)
			save_or_warn(a);
	}
	return hail_fail(e, HAIL_E_ACTIVATE, "%s failed to activate; it is not tried again until "
			 "Hydra offers another build (or --retry-failed)", what);
}

static int switch_to(struct agent *a, const struct build_ref *to, const struct build_ref *from,
		     struct poll_outcome *out, struct hail_errbuf *e)
{
	struct build_ref now = { 0 };
	int ret;

	ret = guard_disk(a, to, e);
	if (ret < 0)
		return ret;
	log_info("switching %s from %s to build %" PRIu64 ": %s", a->paths.profile,
		 from->path ? from->path : "(nothing)", to->id, to->path);
	ret = journal(a, PHASE_SWITCHING, to, from, e);
	if (ret == 0)
		ret = save(a, e);
	if (ret < 0) {
		/* without the journal a crash after the switch would go unnoticed */
		hail_wrap(e, ret, "not switching to build %" PRIu64, to->id);
		journal(a, PHASE_IDLE, NULL, NULL, NULL);
		return ret;
	}
	ret = profile_set(a->paths.profile, to->path, a->set->switch_timeout_s, e);
	if (ret < 0 && profile_is_on(a, to->path)) {
		/* nix-env failed after it switched (killed by its time limit):
		 * the switch happened, so its activation is due */
		log_warning("%s; the profile is on build %" PRIu64 " all the same: activating it",
			    e->msg, to->id);
		ret = 0;
	}
	if (ret < 0) {
		if (journal(a, PHASE_IDLE, NULL, NULL, NULL) == 0)
			save_or_warn(a);
		return ret;
	}
	out->switched = true;
	now.id = to->id;
	now.generation = profile_generation(a->paths.profile);
	now.path = to->path;    /* borrowed */
	if (state_add_generation(&a->st, &now) < 0 || note_profile(a, &now, e) < 0)
		return hail_fail(e, HAIL_E_INTERNAL, "out of memory");
	return activate(a, &now, from, out, e);
}

static int apply_hold(struct agent *a, const struct decision *d, struct hail_errbuf *e)
{
	const char *cur = a->obs.f.cur_path;
	int ret = 0;

	if (d->hold == HOLD_WRITE)
		ret = hold_write(a->paths.hold_path, d->hold_until,
				 a->st.baseline.path ? a->st.baseline.path : "", cur ? cur : "", e);
	else if (d->hold == HOLD_RELEASE)
		ret = hold_remove(a->paths.hold_path, e);
	/* logged once it is true */
	if (ret == 0 && d->event[0])
		log_msg(d->hold == HOLD_WRITE ? LOG_WARNING : LOG_INFO, 0, "%s", d->event);
	if (ret == 0 && d->adopt && cur &&
	    ref_set(&a->st.baseline, a->st.on.id, a->obs.f.cur_generation, cur) < 0)
		ret = hail_fail(e, HAIL_E_INTERNAL, "out of memory");
	return ret;
}

/* How long a oneshot run waits for another hail that holds the profile:
 * long enough for its switch and activation. */
static unsigned lock_wait_s(const struct agent *a)
{
	return a->set->oneshot ? a->set->switch_timeout_s + a->set->activation_timeout_s : 0;
}

/* The build the poll aims at: the pinned one, else the latest. */
static const char *goal_path(const struct poll_facts *f)
{
	if (f->ctl.pin)
		return f->pin_known ? f->pin_path : NULL;
	return f->latest_known ? f->latest_path : NULL;
}

/* Under the lock: is the profile still where it was observed? */
static int profile_unmoved(struct agent *a, bool *unmoved, struct hail_errbuf *e)
{
	const char *seen = a->obs.f.cur_path;
	char *cur = NULL;
	int ret;

	ret = profile_current(a->paths.profile, &cur, e);
	*unmoved = ret == 0 && ((!cur && !seen) || (cur && seen && !strcmp(cur, seen)));
	free(cur);
	return ret;
}

int act(struct agent *a, const struct decision *d, struct poll_outcome *out,
	struct hail_errbuf *e)
{
	struct build_ref to = { 0 }, from = { 0 };
	const char *goal;
	int lock_fd = -1, ret;
	bool unmoved = false;

	out->action = d->action;
	out->current = d->current;
	/* our own copies first: the journal's and baseline's refs change
	 * under the steps */
	if (ref_set(&to, d->target.id, d->target.generation, d->target.path) < 0 ||
	    ref_set(&from, d->from.id, d->from.generation, d->from.path) < 0) {
		ret = hail_fail(e, HAIL_E_INTERNAL, "out of memory");
		goto out;
	}
	ret = apply_hold(a, d, e);
	if (ret == 0 && d->drop_journal) {
		ret = journal(a, PHASE_IDLE, NULL, NULL, e);
		if (ret == 0)
			save_or_warn(a);
	}
	if (ret < 0 || d->action == ACTION_NONE || d->action == ACTION_WAIT ||
	    d->action == ACTION_ASK_ALARM)
		goto out;
	ret = profile_lock(a->paths.profile, lock_wait_s(a), &lock_fd, e);
	if (ret == 0)
		ret = profile_unmoved(a, &unmoved, e);
	if (ret < 0)
		goto out;
	if (!unmoved) {
		/* another hail (or an operator) moved it while we waited: its
		 * state is the one to go on from */
		log_info("%s changed while hail waited for its lock: looking again",
			 a->paths.profile);
		agent_reload_state(a);
		out->again = true;
		goto out;
	}
	switch (d->action) {
	case ACTION_SWITCH:
		ret = switch_to(a, &to, &from, out, e);
		break;
	case ACTION_ACTIVATE:
		ret = activate(a, &to, &from, out, e);
		break;
	case ACTION_ROLL_BACK:
		ret = roll_back(a, &to, from.path ? &from : NULL, d->lost_contact, out, e);
		break;
	case ACTION_CONFIRM:
	case ACTION_BLAME:
	case ACTION_OUTAGE:
		ret = end_contact_check(a, d->action, e);
		out->again = d->action == ACTION_CONFIRM;       /* a newer build may wait */
		break;
	default:
		break;
	}
	goal = goal_path(&a->obs.f);
	out->current = ret == 0 && a->st.good.path && goal && !strcmp(a->st.good.path, goal) &&
		a->st.on.path && !strcmp(a->st.on.path, goal);
out:
	if (lock_fd >= 0)
		close(lock_fd);
	ref_clear(&to);
	ref_clear(&from);
	return ret;
}

int act_activate_current(struct agent *a, unsigned wait_s, struct hail_errbuf *e)
{
	char *cur = NULL;
	uint64_t id;
	int lock_fd = -1, ret;

	ret = profile_lock(a->paths.profile, wait_s, &lock_fd, e);
	if (ret == 0)
		ret = profile_current(a->paths.profile, &cur, e);
	if (ret < 0 || !cur)
		goto out;
	id = ref_is(&a->st.on, cur) ? a->st.on.id : 0;
	ret = run_activation(a, id, cur, cur, e);
	/* it is an activation of what is there, as good or bad as any other;
	 * but one under a contact check is good only once Hydra answers */
	if (ret < 0 && a->st.journal.phase == PHASE_CONFIRMING) {
		/* the build under the check failed to activate: that step again
		 * (its failure rolls back and marks it, act() above) */
		a->st.journal.phase = PHASE_ACTIVATING;
		a->st.journal.until = 0;
	} else if (ret < 0) {
		lose_good(a, cur);
	} else if (a->st.journal.phase != PHASE_CONFIRMING &&
		   ref_set(&a->st.good, id, profile_generation(a->paths.profile), cur) < 0) {
		ret = hail_fail(e, HAIL_E_INTERNAL, "out of memory");
	}
	save_or_warn(a);
out:
	if (lock_fd >= 0)
		close(lock_fd);
	free(cur);
	return ret;
}

/* A reason about the reboot, logged when it differs from the last one. */
static void say_reboot_once(struct agent *a, int level, const char *reason)
{
	if (reason[0] && strcmp(reason, a->reboot_said))
		log_msg(level, 0, "%s", reason);
	snprintf(a->reboot_said, sizeof(a->reboot_said), "%s", reason);
}

/* The reboot a build asked for (reboot.h), after a poll that changed
 * nothing. The boot id is read only when one is asked for: the idle poll
 * stays as it was. */
void act_consider_reboot(struct agent *a, struct poll_outcome *out)
{
	struct agent_state *st = &a->st;
	const struct daily_window *w = a->set->given & OPT_BIT(OPT_REBOOT_WINDOW) ?
		&a->set->reboot_window : NULL;
	struct reboot_facts f = { 0 };
	struct reboot_plan p;
	struct hail_errbuf why;
	char boot[40];
	int lock_fd = -1;

	if (!st->reboot.required.path)
		return;
	reboot_boot_id(boot, sizeof(boot));
	f.now = time(NULL);
	f.cur_path = st->on.path;
	f.good_path = st->good.path;
	f.step_under_way = st->journal.phase != PHASE_IDLE;
	f.holding = st->paused || mode_is_hold(st->mode) || st->mode == MODE_CONFIRMING ||
		st->mode == MODE_HALTED;
	f.boot_id = boot;
	f.window = w;
	f.offset_s = w && a->identity ? rollout_offset_s(a->identity, st->reboot.required.id,
							 w->length_min * 60) : 0;
	reboot_decide(&st->reboot, &f, &p);
	if (p.action == REBOOT_LOOP) {
		if (!st->reboot.loop_warned)
			log_warning("%s", p.reason);
		st->reboot.loop_warned = true;
		return;
	}
	if (p.action != REBOOT_NOW) {
		say_reboot_once(a, LOG_INFO, p.reason);        /* "" for REBOOT_NONE */
		if (p.action == REBOOT_WAIT && (!out->wake_at || p.at < out->wake_at))
			out->wake_at = p.at;
		return;
	}
	if (a->set->reboot_command && access(a->set->reboot_command, X_OK) < 0) {
		/* not recorded: asked again at the next poll, said once */
		snprintf(p.reason, sizeof(p.reason), "not rebooting for build %" PRIu64 ": "
			 "reboot-command %.160s cannot be run: %s", st->reboot.required.id,
			 a->set->reboot_command, strerror(errno));
		say_reboot_once(a, LOG_WARNING, p.reason);
		return;
	}
	if (a->set->halt_alarm) {
		/* a fleet that is halted does not reboot either */
		enum alarm_state state = ALARM_STATE_MISSING;
		time_t since;

		if (fetch_alarm(&a->clients.fetch, &state, &since, &why) < 0 ||
		    state == ALARM_STATE_ALARM || state == ALARM_STATE_MISSING) {
			snprintf(p.reason, sizeof(p.reason), "not rebooting for build %" PRIu64
				 " while alarm %.100s %s", st->reboot.required.id, a->set->halt_alarm,
				 state == ALARM_STATE_ALARM ? "is in ALARM" : "cannot be read");
			say_reboot_once(a, LOG_WARNING, p.reason);
			return;
		}
	}
	/* the request is durable before the command runs: never twice */
	if (profile_lock(a->paths.profile, 0, &lock_fd, &why) < 0) {
		log_info("%s; the reboot waits for the next poll", why.msg);
		return;
	}
	if (ref_set(&st->reboot.requested, st->reboot.required.id, st->reboot.required.generation,
		    st->reboot.required.path) < 0) {
		log_error(0, "out of memory");
		goto out;
	}
	snprintf(st->reboot.boot_id, sizeof(st->reboot.boot_id), "%s", boot);
	st->reboot.requested_at = f.now;
	st->reboot.loop_warned = false;
	st->counters.reboots_requested++;
	if (agent_save_state(a, true, &why) < 0) {
		log_error(0, "not rebooting: the request cannot be recorded: %s", why.msg);
		ref_clear(&st->reboot.requested);
		st->counters.reboots_requested--;
		goto out;
	}
	log_warning("%s: running %s", p.reason, a->set->reboot_command ? a->set->reboot_command :
		    "systemctl reboot");
	/* its event runs before the reboot: after it, systemd stops it */
	event_emit(&a->events, EVENT_REBOOT_REQUESTED, st->reboot.required.id,
		   st->reboot.required.path, NULL, NULL);
	event_finish(&a->events, EVENT_COMMAND_TIMEOUT_S * 1000L);
	if (reboot_run_command(a->set->reboot_command, &why) < 0)
		log_error(0, "reboot-command: %s; not run again for build %" PRIu64 " in this boot",
			  why.msg, st->reboot.required.id);
out:
	close(lock_fd);
}
