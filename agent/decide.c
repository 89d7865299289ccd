#include "decide.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "rfc3339.h"
#include "rollout.h"

static const char *const action_names[ACTION_COUNT] = {
	[ACTION_NONE] = "none",
	[ACTION_SWITCH] = "switch",
	[ACTION_ACTIVATE] = "activate",
	[ACTION_ROLL_BACK] = "roll back",
	[ACTION_WAIT] = "wait",
	[ACTION_CONFIRM] = "confirm",
	[ACTION_BLAME] = "blame",
	[ACTION_OUTAGE] = "outage",
	[ACTION_ASK_ALARM] = "ask the halt alarm",
};

const char *action_name(enum action a)
{
	return (unsigned)a < ACTION_COUNT ? action_names[a] : "?";
}

unsigned contact_poll_s(unsigned contact_timeout_s)
{
	unsigned s = contact_timeout_s / 5;

	return s < 1 ? 1 : s > 5 ? 5 : s;
}

static bool same(const char *a, const char *b)
{
	return a && b && !strcmp(a, b);
}

uint64_t known_id(const struct agent_state *st, const struct poll_facts *f)
{
	uint64_t id = state_generation_id(st, f->cur_generation, f->cur_path);

	if (id)
		return id;
	if (f->latest_known && same(f->cur_path, f->latest_path))
		return f->latest_id;
	if (f->pin_known && same(f->cur_path, f->pin_path))
		return f->ctl.pin;
	return 0;
}

/* Borrowed refs: the decision lives no longer than the facts and state. */
static struct build_ref ref_of(uint64_t id, long generation, const char *path)
{
	struct build_ref r = { id, generation, (char *)path };

	return r;
}

/* The mode of a profile that follows its target, pause and pin. */
static enum agent_mode following(const struct poll_facts *f)
{
	return f->ctl.paused ? MODE_PAUSED : f->ctl.pin ? MODE_PINNED : MODE_FOLLOWING;
}

static void say(struct decision *d, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void say(struct decision *d, int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->reason, sizeof(d->reason), fmt, ap);
	va_end(ap);
	d->level = level;
}

static void event(struct decision *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void event(struct decision *d, const char *fmt, ...)
{
	size_t n = strlen(d->event);
	va_list ap;

	if (n && n + 2 < sizeof(d->event)) {
		memcpy(d->event + n, "; ", 3);
		n += 2;
	}
	va_start(ap, fmt);
	vsnprintf(d->event + n, sizeof(d->event) - n, fmt, ap);
	va_end(ap);
}

/* Rule 1, after a switch with contact-timeout: the build is on the profile
 * and activated, and Hydra must answer before the deadline. Any answer
 * confirms it; none rolls it back, and then the answers tell whether it was
 * the build (they come back) or an outage (they do not). */
static void confirm_contact(const struct decide_rules *rules, const struct poll_facts *f,
			    const struct journal *j, struct decision *d)
{
	bool after_rollback = j->phase == PHASE_CONFIRMING_ROLLBACK;
	const struct build_ref *suspect = after_rollback ? &j->from : &j->to;
	time_t next = f->now + (time_t)contact_poll_s(rules->contact_timeout_s);
	char when[32];

	d->target = ref_of(j->to.id, f->cur_generation, f->cur_path);
	d->from = j->from;
	d->mode = following(f);
	if (!rules->contact_timeout_s) {
		/* turned off during a check: it ends, and blames nobody */
		d->action = after_rollback ? ACTION_OUTAGE : ACTION_CONFIRM;
		say(d, LOG_INFO, "contact-timeout is off now: the check of build %" PRIu64 " ends",
		    suspect->id);
	} else if (f->hydra_answered) {
		if (!after_rollback) {
			d->action = ACTION_CONFIRM;
			say(d, LOG_INFO, "Hydra answered after build %" PRIu64 " was activated: "
			    "contact confirmed", suspect->id);
		} else {
			d->action = ACTION_BLAME;
			d->mode = MODE_HELD_FAILED;
			say(d, LOG_ERR, "Hydra answered again after the rollback from build %"
			    PRIu64 " to generation %ld: build %" PRIu64 " cut this machine off, "
			    "and it is not tried again until Hydra offers another build (or "
			    "--retry-failed)", suspect->id, j->to.generation, suspect->id);
		}
	} else if (f->now >= j->until && !after_rollback && j->from.path && j->from.generation > 0) {
		d->action = ACTION_ROLL_BACK;
		d->lost_contact = true;
		d->target = j->from;
		d->from = j->to;
		d->mode = MODE_CONFIRMING;
		say(d, LOG_ERR, "no answer from Hydra since build %" PRIu64 " was activated "
		    "(contact-timeout %us): rolling back to generation %ld", suspect->id,
		    rules->contact_timeout_s, j->from.generation);
	} else if (f->now >= j->until && after_rollback) {
		d->action = ACTION_OUTAGE;
		say(d, LOG_WARNING, "no answer from Hydra after the rollback either: an outage, "
		    "not build %" PRIu64 "; it is taken again once Hydra answers", suspect->id);
	} else if (f->now >= j->until) {
		/* nothing to go back to: what it has is as good as it gets */
		d->action = ACTION_CONFIRM;
		say(d, LOG_WARNING, "no answer from Hydra since build %" PRIu64 " was activated, "
		    "and no earlier generation to go back to: keeping it", suspect->id);
	} else {
		d->action = ACTION_WAIT;
		d->mode = MODE_CONFIRMING;
		d->wake_at = next < j->until ? next : j->until;
		rfc3339_format(j->until, when, sizeof(when));
		say(d, LOG_INFO, "waiting for Hydra to answer %s build %" PRIu64 " (until %s)",
		    after_rollback ? "after the rollback from" : "since the activation of",
		    suspect->id, when);
	}
}

/* Rule 1: an unfinished step. Returns true when it decided. */
static bool resume_journal(const struct decide_rules *rules, const struct agent_state *st,
			   const struct poll_facts *f, struct decision *d)
{
	const struct journal *j = &st->journal;

	switch (j->phase) {
	case PHASE_IDLE:
	case PHASE_COUNT:
		return false;
	case PHASE_SWITCHING:
	case PHASE_ACTIVATING:
		if (!same(f->cur_path, j->to.path)) {
			/* the switch never happened, or someone moved the profile since */
			d->drop_journal = true;
			return false;
		}
		d->action = ACTION_ACTIVATE;
		d->target = ref_of(j->to.id, f->cur_generation, f->cur_path);
		d->from = j->from;
		d->mode = following(f);
		say(d, LOG_WARNING, "the profile was switched to %s%s but its activation did not "
		    "finish: activating it now", j->to.path, j->phase == PHASE_SWITCHING ?
		    " by an interrupted switch" : "");
		break;
	case PHASE_ROLLING_BACK:
		/* the rollback again, whether its switch happened or not (it
		 * skips a switch already made): a failure of its activation
		 * must not mark the last good build as failed. On neither the
		 * failed build nor the way back: someone moved the profile since */
		if (!same(f->cur_path, j->to.path) && j->from.path &&
		    !same(f->cur_path, j->from.path)) {
			d->drop_journal = true;
			return false;
		}
		if (j->lost_contact && f->hydra_answered && same(f->cur_path, j->from.path)) {
			/* its switch never happened, and Hydra answers the build
			 * after all: no rollback, the build is checked afresh */
			d->drop_journal = true;
			return false;
		}
		d->target = j->to;
		d->mode = MODE_HELD_FAILED;
		d->action = ACTION_ROLL_BACK;
		say(d, LOG_WARNING, "a rollback to generation %ld did not finish: finishing it",
		    j->to.generation);
		d->lost_contact = j->lost_contact;
		break;
	case PHASE_CONFIRMING:
	case PHASE_CONFIRMING_ROLLBACK:
		if (!same(f->cur_path, j->to.path)) {
			/* someone moved the profile since: theirs to answer for */
			d->drop_journal = true;
			return false;
		}
		confirm_contact(rules, f, j, d);
		break;
	}
	d->resume = true;
	return true;
}

/* Rule 2: hold files. Returns true when the profile is held. */
static bool check_hold(const struct decide_rules *rules, const struct agent_state *st,
		       const struct poll_facts *f, const char *target, struct decision *d)
{
	const char *hold_path_name = rules->hold_path ? rules->hold_path : "the hold file";
	const char *base = st->baseline.path;
	bool held = f->hold_file;
	uint64_t until = f->hold_until;

	if (!held && mode_is_hold(st->mode)) {
		event(d, "%s removed: following Hydra again", hold_path_name);
		d->adopt = true;        /* what the operator left is the new baseline */
		base = f->cur_path;
	}
	if (!held && f->cur_path && base && !same(f->cur_path, base) && !same(f->cur_path, target)) {
		/* released by a build newer than the one hail deployed; when that
		 * one's id is unknown, newer than what Hydra offered */
		until = st->baseline.id ? st->baseline.id : st->latest_id;
		held = true;
		d->hold = HOLD_WRITE;
		d->hold_until = until;
		event(d, "%s was switched by hand from %s to %s: holding until Hydra "
		      "offers a build newer than %" PRIu64 ", or %s is removed", rules->profile, base,
		      f->cur_path,
		      until, hold_path_name);
	}
	if (held && until && f->latest_known && f->latest_id > until) {
		event(d, "build %" PRIu64 " is newer than %" PRIu64 ": releasing the hold",
		      f->latest_id, until);
		d->hold = d->hold == HOLD_WRITE ? HOLD_KEEP : HOLD_RELEASE;
		/* the profile as it is is the baseline: if the switch does not
		 * happen this poll, it is not found "switched by hand" again */
		d->adopt = true;
		return false;
	}
	if (!held)
		return false;
	d->mode = until ? MODE_HELD_MANUAL : MODE_HELD_FILE;
	d->current = same(f->cur_path, target) && same(st->good.path, f->cur_path);
	say(d, LOG_INFO, "%s is held (%s): not switching to build %" PRIu64, rules->profile,
	    hold_path_name, f->ctl.pin ? f->ctl.pin : f->latest_id);
	return true;
}

void decide(const struct decide_rules *rules, const struct agent_state *st,
	    const struct poll_facts *f, struct decision *d)
{
	const char *target_path = f->ctl.pin ? (f->pin_known ? f->pin_path : NULL) :
		(f->latest_known ? f->latest_path : NULL);
	uint64_t target_id = f->ctl.pin ? f->ctl.pin : f->latest_id;
	uint64_t cur_id = known_id(st, f);
	char when[32];

	memset(d, 0, sizeof(*d));
	d->action = ACTION_NONE;
	d->mode = st->mode;
	d->level = LOG_INFO;
	if (resume_journal(rules, st, f, d))
		return;
	if (target_path)
		d->target = ref_of(target_id, 0, target_path);
	if (check_hold(rules, st, f, target_path, d))
		return;
	if (!target_path) {
		/* rule 3: no answer this poll; a released hold follows again */
		if (mode_is_hold(d->mode) || d->adopt)
			d->mode = following(f);
		say(d, LOG_DEBUG, "no %s build known this poll: not adopting anything",
		    f->ctl.pin ? "pinned" : "latest");
		return;
	}
	d->target = ref_of(target_id, 0, target_path);
	if (same(f->cur_path, target_path)) {
		/* rule 4 */
		d->target.generation = f->cur_generation;
		if (same(st->good.path, f->cur_path)) {
			d->current = true;
			d->mode = following(f);
			say(d, LOG_DEBUG, "%s is on the %s build %" PRIu64, rules->profile,
			    f->ctl.pin ? "pinned" : "latest", target_id);
		} else if (state_failed(st, target_path)) {
			d->mode = MODE_HELD_FAILED;
			say(d, LOG_WARNING, "the profile is on build %" PRIu64 ", which failed to "
			    "activate, and has no earlier good generation to roll back to; it is not "
			    "tried again until Hydra offers another build (or --retry-failed)",
			    target_id);
		} else {
			d->action = ACTION_ACTIVATE;
			d->mode = following(f);
			if (st->good.generation > 0 && !same(st->good.path, f->cur_path))
				d->from = st->good;
			say(d, LOG_INFO, "the profile is on build %" PRIu64 " but hail has not seen "
			    "it activated: activating it", target_id);
		}
		return;
	}
	if (f->ctl.paused && f->cur_path) {
		/* rule 5: a machine with no build yet takes one: pin the fleet to
		 * keep new machines off a bad build */
		d->mode = MODE_PAUSED;
		say(d, LOG_DEBUG, "paused by %s: not adopting build %" PRIu64, f->ctl.pause_why,
		    target_id);
		return;
	}
	if (state_failed(st, target_path)) {
		d->mode = MODE_HELD_FAILED;
		say(d, LOG_WARNING, "build %" PRIu64 " failed to activate before: not trying it "
		    "again until Hydra offers another build (or --retry-failed)", target_id);
		return;
	}
	if (st->outage.path && same(st->outage.path, target_path) && !f->hydra_answered &&
	    f->cur_path) {
		/* rule 6a: a build let off after an outage waits for an answer */
		d->mode = following(f);
		say(d, LOG_INFO, "build %" PRIu64 " was rolled back in an outage: taking it "
		    "again once Hydra answers", target_id);
		return;
	}
	if (rules->rollout_window_s && f->cur_path && !f->ctl.pin) {
		/* rule 7: a machine that has no build yet takes it at once */
		time_t at = (time_t)f->latest_stoptime +
			rollout_offset_s(rules->identity, target_id, rules->rollout_window_s);

		if (f->now < at) {
			d->action = ACTION_WAIT;
			d->mode = MODE_WAITING_ROLLOUT;
			d->wake_at = at;
			rfc3339_format(at, when, sizeof(when));
			say(d, LOG_INFO, "build %" PRIu64 " waits for this machine's turn in the "
			    "rollout: adopting it at %s", target_id, when);
			return;
		}
	}
	if (rules->halt_alarm && f->cur_path && !f->ctl.pin && same(st->halted.path, target_path)) {
		/* the alarm fired for this build: the fleet's verdict on it stays */
		d->mode = MODE_HALTED;
		say(d, LOG_WARNING, "halted: alarm %s stopped build %" PRIu64 ": it is not taken "
		    "until Hydra offers a newer build (or --retry-failed)", rules->halt_alarm,
		    target_id);
		return;
	}
	if (rules->halt_alarm && f->cur_path && !f->ctl.pin && f->halt != HALT_CLEAR) {
		/* rule 8a, right before a switch: as the pause, a machine with no
		 * build takes one; not asked yet, it is asked first */
		if (f->halt == HALT_NOT_ASKED) {
			d->action = ACTION_ASK_ALARM;
			say(d, LOG_DEBUG, "build %" PRIu64 " is due: asking alarm %s first", target_id,
			    rules->halt_alarm);
			return;
		}
		d->mode = MODE_HALTED;
		/* the verdict stays only on a build that was out when the alarm
		 * went off (both in whole seconds: the same second counts as out,
		 * the safe side): it may have caused it; a fix published
		 * meanwhile merely waits for the alarm to clear */
		d->halt_target = f->halt == HALT_ALARM && f->halt_since &&
			f->latest_stoptime <= (int64_t)f->halt_since;
		say(d, LOG_WARNING, "halted: alarm %s %s: not adopting build %" PRIu64,
		    rules->halt_alarm, f->halt == HALT_ALARM ? "is in ALARM" : f->halt_why &&
		    f->halt_why[0] ? f->halt_why : "cannot be read", target_id);
		return;
	}
	d->action = ACTION_SWITCH;
	d->mode = following(f);
	d->from = ref_of(cur_id, f->cur_generation, f->cur_path);
	if (!f->ctl.pin && cur_id && target_id < cur_id) {
		d->downgrade = true;
		say(d, LOG_WARNING, "latest build %" PRIu64 " is older than build %" PRIu64 " on the "
		    "profile (a newer build deleted on Hydra, or the job moved?): downgrading",
		    target_id, cur_id);
	} else {
		say(d, LOG_INFO, "switching to build %" PRIu64, target_id);
	}
}

void control_settle(struct control_value *kept, const struct control_reading *r)
{
	static const struct control_value none;

	if (r->kind == READING_VALUE)
		*kept = r->v;
	else if (r->kind == READING_ABSENT)
		*kept = none;
}

static bool pausing(const struct control_value *v, time_t now)
{
	return v->pause && (v->pause_until == 0 || now < v->pause_until);
}

void control_combine(const struct control_value *tags, const struct control_value *fleet,
		     const char *ssm_name, time_t now, struct control_decision *d)
{
	memset(d, 0, sizeof(*d));
	if (pausing(tags, now)) {
		d->paused = true;
		d->pause_until = tags->pause_until;
		snprintf(d->pause_why, sizeof(d->pause_why), "tag hail:pause");
	} else if (pausing(fleet, now)) {
		d->paused = true;
		d->pause_until = fleet->pause_until;
		snprintf(d->pause_why, sizeof(d->pause_why), "SSM parameter %.120s",
			 ssm_name ? ssm_name : "");
	}
	if (tags->pin) {
		d->pin = tags->pin;
		snprintf(d->pin_why, sizeof(d->pin_why), "tag hail:pin");
	} else if (fleet->pin) {
		d->pin = fleet->pin;
		snprintf(d->pin_why, sizeof(d->pin_why), "SSM parameter %.120s",
			 ssm_name ? ssm_name : "");
	}
}
