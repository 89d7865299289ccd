#include "observe.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "hold.h"
#include "log.h"
#include "profile.h"
#include "rfc3339.h"
#include "strutil.h"

void observation_clear(struct observation *o)
{
	free(o->cur_path);
	memset(o, 0, sizeof(*o));
}

static int replace(char **field, char *v)
{
	free(*field);
	*field = v;
	return 0;
}

/* A netrc deleted while polling would otherwise show as Hydra's 401; one
 * that others can read is used, with a warning (once), as ssh does. */
static int check_netrc(struct agent *a, struct hail_errbuf *e)
{
	const char *path = a->set->netrc_file;
	char shown[128];
	struct stat st;

	if (!path)
		return 0;
	if (stat(path, &st) == 0 && (!(st.st_mode & 0077) || a->netrc_warned))
		return 0;       /* the idle poll's way: no formatting */
	str_escape(shown, sizeof(shown), path, strlen(path));
	if (stat(path, &st) < 0)
		return hail_fail(e, errno == ENOENT ? HAIL_E_NOT_FOUND : HAIL_E_INTERNAL,
				 "netrc-file %s: %s", shown, strerror(errno));
	if (st.st_mode & 0077) {
		log_warning("netrc-file %s can be read by others (mode %04o): it holds "
			    "credentials; chmod 600 it", shown, (unsigned)(st.st_mode & 07777));
		a->netrc_warned = true;
	}
	return 0;
}

/* Hydra's latest build, its JSON read only when the id is new. */
static int observe_latest(struct agent *a, struct hail_errbuf *e)
{
	struct build_cache *c = &a->builds;
	struct record_build b;
	char *path;
	bool same;
	int ret;

	ret = fetch_latest(&a->clients.fetch, c->latest_id, &b, &same, e);
	if (ret < 0 || same)
		return ret;
	path = strdup(b.path);
	if (!path)
		return hail_fail(e, HAIL_E_INTERNAL, "out of memory");
	replace(&c->latest_path, path);
	c->latest_id = b.id;
	/* a build's finish time starts its rollout; without one, now */
	c->latest_stoptime = b.stoptime ? b.stoptime : (int64_t)time(NULL);
	log_info("latest build of %s is %" PRIu64 ": %s", a->clients.job.uri, b.id, c->latest_path);
	return 0;
}

/* Logs every change of what outside control adds up to. */
static void log_control_change(const struct agent_state *was, const struct control_decision *d)
{
	char until[32] = "";

	if (d->paused && d->pause_until)
		rfc3339_format(d->pause_until, until, sizeof(until));
	if (d->paused && !was->paused)
		log_info("paused by %s%s%s: not adopting new builds", d->pause_why,
			 until[0] ? " until " : "", until);
	else if (!d->paused && was->paused)
		log_info("pause lifted");
	if (d->pin != was->pin_id) {
		if (d->pin)
			log_info("pinned to build %" PRIu64 " (%s)", d->pin, d->pin_why);
		else
			log_info("pin lifted: following the latest build again");
	}
}

static void observe_control(struct agent *a, time_t now, struct control_decision *d)
{
	struct control_reading tags, fleet;
	struct agent_state *st = &a->st;

	memset(d, 0, sizeof(*d));
	if (!a->clients.control_on)
		return;
	fetch_control(&a->clients.fetch, &tags, &fleet);
	control_settle(&st->tags, &tags);
	control_settle(&st->fleet, &fleet);
	control_combine(&st->tags, &st->fleet, a->set->control_ssm_parameter, now, d);
	log_control_change(st, d);
	st->paused = d->paused;
	st->pause_until = d->pause_until;
	st->pin_id = d->pin;
	snprintf(st->control_source, sizeof(st->control_source), "%s",
		 d->paused ? d->pause_why : d->pin_why);
}

/* The pinned build, fetched once: a successful build of the same job. A
 * pin to another job's build is the operator's data being wrong, not a
 * usage error of hail's. */
static int observe_pin(struct agent *a, const struct control_decision *d, struct hail_errbuf *e)
{
	struct build_cache *c = &a->builds;
	struct record_build b;
	char *path;
	int ret;

	if (!d->pin || d->pin == c->pin_id)
		return 0;
	ret = fetch_build(&a->clients.fetch, d->pin, &b, e);
	if (ret < 0)
		return hail_wrap(e, ret, "pin (%s)", d->pin_why);
	path = strdup(b.path);
	if (!path)
		return hail_fail(e, HAIL_E_INTERNAL, "out of memory");
	replace(&c->pin_path, path);
	c->pin_id = d->pin;
	return 0;
}

void observe_halt(struct agent *a)
{
	struct observation *o = &a->obs;
	struct poll_facts *f = &o->f;
	enum alarm_state state;
	struct hail_errbuf why;

	if (fetch_alarm(&a->clients.fetch, &state, &f->halt_since, &why) < 0) {
		f->halt = HALT_UNKNOWN;
		snprintf(o->halt_why, sizeof(o->halt_why), "cannot be read (%.300s)", why.msg);
		return;
	}
	f->halt = state == ALARM_STATE_ALARM ? HALT_ALARM : state == ALARM_STATE_MISSING ?
		HALT_UNKNOWN : HALT_CLEAR;
	snprintf(o->halt_why, sizeof(o->halt_why), "%s", state == ALARM_STATE_MISSING ?
		 "does not exist in CloudWatch" : alarm_state_name(state));
}

/* Keeps the first error of the poll: it is what the poll reports. */
static void note_error(struct observation *o, int ret, const struct hail_errbuf *e)
{
	if (ret < 0 && !o->err) {
		o->err = ret;
		o->why = *e;
	}
}

int observe(struct agent *a, struct hail_errbuf *e)
{
	struct observation *o = &a->obs;
	struct poll_facts *f = &o->f;
	struct hail_errbuf why = { "" };
	bool held;
	int ret;

	observation_clear(o);
	f->now = time(NULL);
	ret = check_netrc(a, &why);
	if (ret == 0) {
		ret = observe_latest(a, &why);
		/* an answer, even a refusal, proves the way to Hydra works */
		f->hydra_answered = ret == 0 || ret == HAIL_E_HTTP || ret == HAIL_E_PROTOCOL ||
			ret == HAIL_E_NOT_FOUND;
	}
	note_error(o, ret, &why);
	if (ret == 0) {
		f->latest_known = true;
		f->latest_id = a->builds.latest_id;
		f->latest_path = a->builds.latest_path;
		f->latest_stoptime = a->builds.latest_stoptime;
	}
	observe_control(a, f->now, &f->ctl);
	ret = observe_pin(a, &f->ctl, &why);
	note_error(o, ret, &why);
	if (f->ctl.pin && f->ctl.pin == a->builds.pin_id) {
		f->pin_known = true;
		f->pin_path = a->builds.pin_path;
	}
	ret = profile_current(a->paths.profile, &o->cur_path, &why);
	if (ret < 0) {
		o->profile_unreadable = true;
		o->err = ret;
		o->why = why;
		return hail_fail(e, ret, "%s", why.msg);
	}
	f->cur_path = o->cur_path;
	f->cur_generation = o->cur_path ? profile_generation(a->paths.profile) : 0;
	ret = hold_read(a->paths.hold_path, &held, &f->hold_until, &why);
	if (ret < 0) {
		/* cannot tell: holding is the closed way */
		log_warning("%s", why.msg);
		held = true;
		f->hold_until = 0;
	}
	f->hold_file = held;
	f->halt_why = o->halt_why;
	if (o->err)
		return hail_fail(e, o->err, "%s", o->why.msg);
	return 0;
}
