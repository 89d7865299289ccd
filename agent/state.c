#include "state.h"

#include <cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "mode.h"
#include "storepath.h"

void ref_clear(struct build_ref *r)
{
	free(r->path);
	memset(r, 0, sizeof(*r));
}

int ref_set(struct build_ref *dst, uint64_t id, long generation, const char *path)
{
	char *copy = path ? strdup(path) : NULL;

	if (path && !copy)
		return HAIL_E_INTERNAL;
	free(dst->path);
	dst->path = copy;
	dst->id = id;
	dst->generation = generation;
	return 0;
}

bool ref_is(const struct build_ref *r, const char *path)
{
	return r->path && path && !strcmp(r->path, path);
}

static int ref_copy(struct build_ref *dst, const struct build_ref *src)
{
	return src == dst ? 0 : ref_set(dst, src->id, src->generation, src->path);
}

void state_free(struct agent_state *s)
{
	ref_clear(&s->journal.to);
	ref_clear(&s->journal.from);
	ref_clear(&s->on);
	ref_clear(&s->baseline);
	ref_clear(&s->good);
	ref_clear(&s->reboot.required);
	ref_clear(&s->reboot.requested);
	ref_clear(&s->outage);
	ref_clear(&s->halted);
	for (unsigned i = 0; i < s->n_gens; i++)
		ref_clear(&s->gens[i]);
	free(s->latest_path);
	state_clear_failed(s);
	memset(s, 0, sizeof(*s));
}

int journal_set(struct agent_state *s, enum agent_phase phase, const struct build_ref *to,
		const struct build_ref *from)
{
	if ((to && ref_copy(&s->journal.to, to) < 0) ||
	    (from && ref_copy(&s->journal.from, from) < 0))
		return HAIL_E_INTERNAL;
	s->journal.phase = phase;
	if (phase == PHASE_IDLE) {
		ref_clear(&s->journal.to);
		ref_clear(&s->journal.from);
		s->journal.lost_contact = false;
		s->journal.until = 0;
	}
	return 0;
}

int state_add_generation(struct agent_state *s, const struct build_ref *ref)
{
	struct build_ref copy = { 0 };

	if (ref->generation <= 0 || !ref->path)
		return 0;
	if (ref_copy(&copy, ref) < 0)
		return HAIL_E_INTERNAL;
	for (unsigned i = 0; i < s->n_gens; i++)
		if (s->gens[i].generation == ref->generation) {
			/* a number Nix gave again (generations deleted meanwhile) */
			ref_clear(&s->gens[i]);
			s->gens[i] = copy;
			return 0;
		}
	if (s->n_gens == STATE_GENERATIONS_MAX) {
		ref_clear(&s->gens[0]);
		memmove(s->gens, s->gens + 1, (STATE_GENERATIONS_MAX - 1) * sizeof(s->gens[0]));
		s->n_gens--;
	}
	s->gens[s->n_gens++] = copy;
	return 0;
}

uint64_t state_generation_id(const struct agent_state *s, long gen, const char *path)
{
	for (unsigned i = 0; i < s->n_gens; i++)
		if (s->gens[i].generation == gen && ref_is(&s->gens[i], path))
			return s->gens[i].id;
	return 0;
}

void state_clear_failed(struct agent_state *s)
{
	for (unsigned i = 0; i < s->n_failed; i++)
		free(s->failed[i].path);
	s->n_failed = 0;
}

bool state_failed(const struct agent_state *s, const char *path)
{
	for (unsigned i = 0; i < s->n_failed; i++)
		if (!strcmp(s->failed[i].path, path))
			return true;
	return false;
}

int state_add_failed(struct agent_state *s, uint64_t id, const char *path)
{
	char *copy;

	if (state_failed(s, path))
		return 0;
	copy = strdup(path);
	if (!copy)
		return HAIL_E_INTERNAL;
	if (s->n_failed == STATE_FAILED_MAX) {
		/* the oldest goes: Hydra has long moved past it */
		free(s->failed[0].path);
		memmove(s->failed, s->failed + 1, (STATE_FAILED_MAX - 1) * sizeof(s->failed[0]));
		s->n_failed--;
	}
	s->failed[s->n_failed].id = id;
	s->failed[s->n_failed].path = copy;
	s->n_failed++;
	return 0;
}

static const char *const err_kinds[] = {
	"ok", "internal", "usage", "network", "http", "protocol", "not-found", "nix",
	"activation", "busy", "interrupted", "held", "no-space"
};

#define N_KINDS (sizeof(err_kinds) / sizeof(err_kinds[0]))

/* The state is written after every poll, so it is printed by hand: cJSON's
 * printer (a sprintf and an sscanf per number) cost more than the poll's
 * HTTP request, and so did vsnprintf() for each piece: jw_printf() copies
 * literal runs and formats the few conversions the state uses (%s, %d, %ld,
 * %lld, %lu, %llu) itself. A growing buffer; oom is sticky. */
struct jw {
	char *buf;
	size_t len, cap;
	bool oom;
};

static bool jw_room(struct jw *w, size_t n)
{
	size_t cap;
	char *p;

	if (w->oom)
		return false;
	if (w->cap - w->len > n)
		return true;
	cap = (w->cap ? w->cap : 2048) * 2 + n;
	p = realloc(w->buf, cap);
	if (!p) {
		w->oom = true;
		return false;
	}
	w->buf = p;
	w->cap = cap;
	return true;
}

static void jw_put(struct jw *w, const char *s, size_t n)
{
	if (jw_room(w, n)) {
		memcpy(w->buf + w->len, s, n);
		w->len += n;
		w->buf[w->len] = '\0';
	}
}

static void jw_unsigned(struct jw *w, unsigned long long v, bool negative)
{
	char digits[24], *p = digits + sizeof(digits);

	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	if (negative)
		*--p = '-';
	jw_put(w, p, (size_t)(digits + sizeof(digits) - p));
}

static void jw_signed(struct jw *w, long long v)
{
	/* the magnitude of LLONG_MIN does not fit a long long: negate unsigned */
	jw_unsigned(w, v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v, v < 0);
}

static void jw_printf(struct jw *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void jw_printf(struct jw *w, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	while (*fmt) {
		const char *pct = strchrnul(fmt, '%'), *s;

		jw_put(w, fmt, (size_t)(pct - fmt));
		fmt = pct;
		if (!*fmt)
			break;
		if (!strncmp(fmt, "%s", 2)) {
			s = va_arg(ap, const char *);
			jw_put(w, s, strlen(s));
			fmt += 2;
		} else if (!strncmp(fmt, "%d", 2)) {
			jw_signed(w, va_arg(ap, int));
			fmt += 2;
		} else if (!strncmp(fmt, "%ld", 3)) {
			jw_signed(w, va_arg(ap, long));
			fmt += 3;
		} else if (!strncmp(fmt, "%lld", 4)) {
			jw_signed(w, va_arg(ap, long long));
			fmt += 4;
		} else if (!strncmp(fmt, "%lu", 3)) {
			jw_unsigned(w, va_arg(ap, unsigned long), false);
			fmt += 3;
		} else if (!strncmp(fmt, "%llu", 4)) {
			jw_unsigned(w, va_arg(ap, unsigned long long), false);
			fmt += 4;
		} else {
			/* only the conversions above are used here */
			w->oom = true;
			break;
		}
	}
	va_end(ap);
}

/* A JSON string: quotes, backslashes and control characters escaped. */
static void jw_string(struct jw *w, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	jw_put(w, "\"", 1);
	for (const char *p = s; *p; ) {
		size_t run = strcspn(p, "\"\\\x01\x02\x03\x04\x05\x06\x07\x08\t\n\x0b\x0c\r"
				     "\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a"
				     "\x1b\x1c\x1d\x1e\x1f");

		jw_put(w, p, run);
		p += run;
		if (*p == '"' || *p == '\\') {
			char esc[2] = { '\\', *p };

			jw_put(w, esc, 2);
		} else if (*p) {
			char esc[6] = { '\\', 'u', '0', '0', hex[(unsigned char)*p >> 4],
					hex[(unsigned char)*p & 15] };

			jw_put(w, esc, 6);
		}
		if (*p)
			p++;
	}
	jw_put(w, "\"", 1);
}

static void jw_key_string(struct jw *w, const char *indent, const char *key, const char *v)
{
	jw_printf(w, "%s\"%s\": ", indent, key);
	if (v)
		jw_string(w, v);
	else
		jw_printf(w, "null");
	jw_printf(w, ",\n");
}

/* {"store-path": ..., "build-id": N, "generation": N} */
static void jw_ref(struct jw *w, const struct build_ref *r)
{
	jw_printf(w, "{\"store-path\": ");
	if (r->path)
		jw_string(w, r->path);
	else
		jw_printf(w, "null");
	jw_printf(w, ", \"build-id\": %llu, \"generation\": %ld}", (unsigned long long)r->id,
		  r->generation);
}

static void jw_control_value(struct jw *w, const char *key, const struct control_value *v)
{
	jw_printf(w, "\"%s\": {\"pause\": %s, \"pause-until\": %lld, \"pin\": %llu}", key,
		  v->pause ? "true" : "false", (long long)v->pause_until,
		  (unsigned long long)v->pin);
}

static bool control_value_set(const struct control_value *v)
{
	return v->pause || v->pause_until || v->pin;
}

char *state_to_json(const struct agent_state *s)
{
	const struct state_counters *c = &s->counters;
	struct jw w = { 0 };
	int r = s->last_poll_result;

	jw_printf(&w, "{\n");
	jw_key_string(&w, "\t", "mode", mode_name(s->mode));
	jw_key_string(&w, "\t", "store-path", s->on.path);
	jw_printf(&w, "\t\"build-id\": %llu,\n\t\"generation\": %ld,\n",
		  (unsigned long long)s->on.id, s->on.generation);
	if (s->good.path) {
		jw_printf(&w, "\t\"last-good\": ");
		jw_ref(&w, &s->good);
		jw_printf(&w, ",\n");
	}
	if (s->baseline.path) {
		jw_printf(&w, "\t\"baseline\": ");
		jw_ref(&w, &s->baseline);
		jw_printf(&w, ",\n");
	}
	if (s->journal.phase != PHASE_IDLE) {
		jw_printf(&w, "\t\"journal\": {\"phase\": \"%s\", \"to\": ", phase_name(s->journal.phase));
		jw_ref(&w, &s->journal.to);
		jw_printf(&w, ", \"from\": ");
		jw_ref(&w, &s->journal.from);
		if (s->journal.lost_contact)
			jw_printf(&w, ", \"cause\": \"lost-contact\"");
		if (s->journal.until)
			jw_printf(&w, ", \"until\": %lld", (long long)s->journal.until);
		jw_printf(&w, "},\n");
	}
	jw_printf(&w, "\t\"generations\": [");
	for (unsigned i = 0; i < s->n_gens; i++) {
		jw_printf(&w, "%s", i ? ", " : "");
		jw_ref(&w, &s->gens[i]);
	}
	jw_printf(&w, "],\n");
	jw_printf(&w, "\t\"latest-build-id\": %llu,\n", (unsigned long long)s->latest_id);
	jw_key_string(&w, "\t", "latest-store-path", s->latest_path);
	jw_printf(&w, "\t\"last-poll\": {\"time\": %lld, \"result\": \"%s\"",
		  (long long)s->last_poll, -r < (int)N_KINDS && r <= 0 ? err_kinds[-r] : "?");
	if (r) {
		jw_printf(&w, ", \"error\": ");
		jw_string(&w, s->last_poll_error);
	}
	jw_printf(&w, "},\n\t\"last-success\": %lld,\n", (long long)s->last_success);
	jw_printf(&w, "\t\"last-activation\": {\"result\": ");
	jw_string(&w, s->activation_result);
	jw_printf(&w, ", \"duration-ms\": %lld, \"build-id\": %llu, \"time\": %lld",
		  s->activation_ms, (unsigned long long)s->activation_id,
		  (long long)s->activation_time);
	if (s->health_result[0]) {
		jw_printf(&w, ", \"health-check\": {\"result\": ");
		jw_string(&w, s->health_result);
		jw_printf(&w, ", \"duration-ms\": %lld, \"exit-status\": %d}", s->health_ms,
			  s->health_exit);
	}
	jw_printf(&w, "},\n");
	if (s->paused || s->pin_id) {
		jw_printf(&w, "\t\"control\": {\"paused\": %s, \"pause-until\": %lld, "
			  "\"pinned-build-id\": %llu, \"source\": ", s->paused ? "true" : "false",
			  (long long)s->pause_until, (unsigned long long)s->pin_id);
		jw_string(&w, s->control_source);
		jw_printf(&w, "},\n");
	}
	if (control_value_set(&s->tags) || control_value_set(&s->fleet)) {
		/* each source's last readable word: an unreadable source keeps it,
		 * across restarts too */
		jw_printf(&w, "\t\"control-sources\": {");
		jw_control_value(&w, "tags", &s->tags);
		jw_printf(&w, ", ");
		jw_control_value(&w, "fleet", &s->fleet);
		jw_printf(&w, "},\n");
	}
	if (s->rollout_id)
		jw_printf(&w, "\t\"rollout\": {\"build-id\": %llu, \"adopt-at\": %lld},\n",
			  (unsigned long long)s->rollout_id, (long long)s->rollout_at);
	if (s->disk_wait_id)
		jw_printf(&w, "\t\"disk\": {\"build-id\": %llu, \"needed\": %llu, \"free\": %llu},\n",
			  (unsigned long long)s->disk_wait_id, (unsigned long long)s->disk_needed,
			  (unsigned long long)s->disk_free);
	if (s->cw_sent.at) {
		const struct fleet_metrics *m = &s->cw_sent.values;

		jw_printf(&w, "\t\"cloudwatch-sent\": {\"time\": %lld, \"build-id\": %llu, "
			  "\"latest-build-id\": %llu, \"behind\": %d, \"held\": %d, \"paused\": %d, "
			  "\"activations-failed\": %lu, \"health-checks-failed\": %lu},\n",
			  (long long)s->cw_sent.at, (unsigned long long)m->build_id,
			  (unsigned long long)m->latest_id, m->behind, m->held, m->paused,
			  s->cw_sent.activations_failed, s->cw_sent.health_checks_failed);
	}
	if (s->halted.path) {
		jw_printf(&w, "\t\"halted\": ");
		jw_ref(&w, &s->halted);
		jw_printf(&w, ",\n");
	}
	if (s->outage.path) {
		jw_printf(&w, "\t\"outage\": ");
		jw_ref(&w, &s->outage);
		jw_printf(&w, ",\n");
	}
	if (s->halt_reason[0]) {
		jw_printf(&w, "\t\"halt\": ");
		jw_string(&w, s->halt_reason);
		jw_printf(&w, ",\n\t\"halt-alarm\": ");
		jw_string(&w, s->halt_alarm);
		jw_printf(&w, ",\n");
	}
	if (s->reboot.required.path || s->reboot.requested.path) {
		jw_printf(&w, "\t\"reboot\": {\"required\": ");
		if (s->reboot.required.path)
			jw_ref(&w, &s->reboot.required);
		else
			jw_printf(&w, "null");
		jw_printf(&w, ", \"requested\": ");
		if (s->reboot.requested.path)
			jw_ref(&w, &s->reboot.requested);
		else
			jw_printf(&w, "null");
		jw_printf(&w, ", \"boot-id\": ");
		jw_string(&w, s->reboot.boot_id);
		jw_printf(&w, ", \"requested-at\": %lld, \"loop-warned\": %s},\n",
			  (long long)s->reboot.requested_at, s->reboot.loop_warned ? "true" : "false");
	}
	jw_printf(&w, "\t\"failed\": [");
	for (unsigned i = 0; i < s->n_failed; i++) {
		jw_printf(&w, "%s{\"build-id\": %llu, \"store-path\": ", i ? ", " : "",
			  (unsigned long long)s->failed[i].id);
		jw_string(&w, s->failed[i].path);
		jw_printf(&w, "}");
	}
	jw_printf(&w, "],\n\t\"counters\": {\"poll-errors\": {");
	for (unsigned k = 1, first = 1; k < N_KINDS; k++)
		if (c->poll_errors[k]) {
			jw_printf(&w, "%s\"%s\": %lu", first ? "" : ", ", err_kinds[k], c->poll_errors[k]);
			first = 0;
		}
	jw_printf(&w, "}, \"activations-ok\": %lu, \"activations-failed\": %lu, "
		  "\"activations-timed-out\": %lu, \"rollbacks\": %lu, \"health-checks-failed\": %lu, "
		  "\"fetcher-restarts\": %lu, \"gc-freed-bytes\": %llu, \"contact-rollbacks\": %lu, "
		  "\"reboots-requested\": %lu}\n}", c->activations_ok,
		  c->activations_failed, c->activations_timed_out, c->rollbacks,
		  c->health_checks_failed, c->fetcher_restarts, c->gc_freed_bytes,
		  c->contact_rollbacks, c->reboots_requested);
	if (w.oom) {
		free(w.buf);
		return NULL;
	}
	return w.buf;
}

/* A count, id or time from our own file, which may be old or damaged: in
 * range before any cast (an out-of-range cast is undefined). */
static double num(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= 9007199254740992.0 ?
		v->valuedouble : 0;
}

/* A store path from our own file is still checked: the file may be old. */
static char *path_or_null(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (!cJSON_IsString(v) || !storepath_valid(v->valuestring, strlen(v->valuestring), NULL))
		return NULL;
	return strdup(v->valuestring);
}

static void copy_string(char *dst, size_t size, const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (cJSON_IsString(v))
		snprintf(dst, size, "%s", v->valuestring);
}

static void read_health_check(const cJSON *h, struct agent_state *s)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(h, "exit-status");

	copy_string(s->health_result, sizeof(s->health_result), h, "result");
	s->health_ms = (long long)num(h, "duration-ms");
	s->health_exit = cJSON_IsNumber(x) && x->valuedouble >= -1 && x->valuedouble <= 255 ?
		(int)x->valuedouble : -1;
}

static void read_control_value(const cJSON *o, struct control_value *v)
{
	v->pause = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "pause"));
	v->pause_until = (time_t)num(o, "pause-until");
	v->pin = (uint64_t)num(o, "pin");
}

/* The pause or pin in force, each source's word, and the build waiting for
 * its rollout turn. */
static void read_control(const cJSON *o, struct agent_state *s)
{
	const cJSON *ctl = cJSON_GetObjectItemCaseSensitive(o, "control");
	const cJSON *src = cJSON_GetObjectItemCaseSensitive(o, "control-sources");
	const cJSON *r = cJSON_GetObjectItemCaseSensitive(o, "rollout");

	s->paused = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ctl, "paused"));
	s->pause_until = (time_t)num(ctl, "pause-until");
	s->pin_id = (uint64_t)num(ctl, "pinned-build-id");
	copy_string(s->control_source, sizeof(s->control_source), ctl, "source");
	read_control_value(cJSON_GetObjectItemCaseSensitive(src, "tags"), &s->tags);
	read_control_value(cJSON_GetObjectItemCaseSensitive(src, "fleet"), &s->fleet);
	s->rollout_id = (uint64_t)num(r, "build-id");
	s->rollout_at = (time_t)num(r, "adopt-at");
	r = cJSON_GetObjectItemCaseSensitive(o, "disk");
	s->disk_wait_id = (uint64_t)num(r, "build-id");
	s->disk_needed = (uint64_t)num(r, "needed");
	s->disk_free = (uint64_t)num(r, "free");
}

/* A ref from our own file; a path that is not a store path drops it all. */
static int read_ref(const cJSON *o, struct build_ref *r)
{
	char *path = path_or_null(o, "store-path");
	int ret = 0;

	if (path)
		ret = ref_set(r, (uint64_t)num(o, "build-id"), (long)num(o, "generation"), path);
	free(path);
	return ret;
}

/* The journal, and what hail 0.3 wrote before there was one: its
 * "switching-to" was a switch under way, its "store-path" hail's own
 * deployment, and a successful activation of that build its last good. */
static int read_journal(const cJSON *o, struct agent_state *s)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, "journal");
	const cJSON *old = cJSON_GetObjectItemCaseSensitive(o, "switching-to");
	const cJSON *phase = cJSON_GetObjectItemCaseSensitive(j, "phase");
	int ret = 0;

	if (cJSON_IsString(phase)) {
		s->journal.phase = phase_from_name(phase->valuestring);
		ret = read_ref(cJSON_GetObjectItemCaseSensitive(j, "to"), &s->journal.to);
		if (ret == 0)
			ret = read_ref(cJSON_GetObjectItemCaseSensitive(j, "from"), &s->journal.from);
		s->journal.lost_contact = cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "cause"));
		s->journal.until = (time_t)num(j, "until");
		if (!s->journal.to.path ||
		    (s->journal.phase == PHASE_CONFIRMING_ROLLBACK && !s->journal.from.path))
			s->journal.phase = PHASE_IDLE;      /* nothing to finish */
	} else if (old) {
		ret = read_ref(old, &s->journal.to);
		s->journal.phase = s->journal.to.path ? PHASE_SWITCHING : PHASE_IDLE;
	}
	/* a file without "generations" is hail 0.3's (this one always writes it) */
	if (cJSON_HasObjectItem(o, "generations"))
		return ret;
	if (ret == 0)
		ret = ref_copy(&s->baseline, &s->on);
	if (ret == 0 && s->on.path && s->on.id && !strcmp(s->activation_result, "success") &&
	    s->activation_id == s->on.id)
		ret = ref_copy(&s->good, &s->on);
	/* no generation record from it: hail 0.3 could note a wrong id after
	 * a rollback, and an id is kept only where it is known */
	return ret;
}

static void read_cw_sent(const cJSON *o, struct fleet_metrics_sent *c)
{
	if (!o)
		return;
	c->at = (time_t)num(o, "time");
	c->values.build_id = (uint64_t)num(o, "build-id");
	c->values.latest_id = (uint64_t)num(o, "latest-build-id");
	c->values.behind = num(o, "behind") != 0;
	c->values.held = num(o, "held") != 0;
	c->values.paused = num(o, "paused") != 0;
	c->activations_failed = (unsigned long)num(o, "activations-failed");
	c->health_checks_failed = (unsigned long)num(o, "health-checks-failed");
}

static int read_reboot(const cJSON *o, struct agent_state *s)
{
	int ret;

	if (!o)
		return 0;
	ret = read_ref(cJSON_GetObjectItemCaseSensitive(o, "required"), &s->reboot.required);
	if (ret == 0)
		ret = read_ref(cJSON_GetObjectItemCaseSensitive(o, "requested"), &s->reboot.requested);
	copy_string(s->reboot.boot_id, sizeof(s->reboot.boot_id), o, "boot-id");
	s->reboot.requested_at = (time_t)num(o, "requested-at");
	s->reboot.loop_warned = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "loop-warned"));
	return ret;
}

int state_from_json(const char *text, size_t len, struct agent_state *s, struct hail_errbuf *e)
{
	const cJSON *poll, *act, *failed, *f, *c, *errs, *result, *mode;
	cJSON *o = cJSON_ParseWithLength(text, len);
	int ret = 0;

	memset(s, 0, sizeof(*s));
	if (!cJSON_IsObject(o)) {
		cJSON_Delete(o);
		return hail_fail(e, HAIL_E_PROTOCOL, "not a JSON object");
	}
	mode = cJSON_GetObjectItemCaseSensitive(o, "mode");
	s->mode = cJSON_IsString(mode) ? mode_from_name(mode->valuestring) : MODE_FOLLOWING;
	ret = read_ref(o, &s->on);
	if (ret == 0)
		ret = read_ref(cJSON_GetObjectItemCaseSensitive(o, "last-good"), &s->good);
	if (ret == 0)
		ret = read_ref(cJSON_GetObjectItemCaseSensitive(o, "baseline"), &s->baseline);
	cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(o, "generations")) {
		struct build_ref g = { 0 };

		if (ret == 0)
			ret = read_ref(f, &g);
		if (ret == 0)
			ret = state_add_generation(s, &g);
		ref_clear(&g);
	}
	s->latest_id = (uint64_t)num(o, "latest-build-id");
	s->latest_path = path_or_null(o, "latest-store-path");
	s->last_success = (time_t)num(o, "last-success");
	poll = cJSON_GetObjectItemCaseSensitive(o, "last-poll");
	s->last_poll = (time_t)num(poll, "time");
	result = cJSON_GetObjectItemCaseSensitive(poll, "result");
	for (unsigned k = 0; cJSON_IsString(result) && k < N_KINDS; k++)
		if (!strcmp(result->valuestring, err_kinds[k]))
			s->last_poll_result = -(int)k;
	copy_string(s->last_poll_error, sizeof(s->last_poll_error), poll, "error");
	act = cJSON_GetObjectItemCaseSensitive(o, "last-activation");
	copy_string(s->activation_result, sizeof(s->activation_result), act, "result");
	s->activation_ms = (long long)num(act, "duration-ms");
	s->activation_id = (uint64_t)num(act, "build-id");
	s->activation_time = (time_t)num(act, "time");
	read_health_check(cJSON_GetObjectItemCaseSensitive(act, "health-check"), s);
	read_control(o, s);
	copy_string(s->halt_reason, sizeof(s->halt_reason), o, "halt");
	copy_string(s->halt_alarm, sizeof(s->halt_alarm), o, "halt-alarm");
	read_cw_sent(cJSON_GetObjectItemCaseSensitive(o, "cloudwatch-sent"), &s->cw_sent);
	if (ret == 0)
		ret = read_ref(cJSON_GetObjectItemCaseSensitive(o, "outage"), &s->outage);
	if (ret == 0)
		ret = read_ref(cJSON_GetObjectItemCaseSensitive(o, "halted"), &s->halted);
	if (ret == 0)
		ret = read_journal(o, s);
	if (ret == 0)
		ret = read_reboot(cJSON_GetObjectItemCaseSensitive(o, "reboot"), s);
	failed = cJSON_GetObjectItemCaseSensitive(o, "failed");
	cJSON_ArrayForEach(f, failed) {
		char *p = path_or_null(f, "store-path");

		if (p && ret == 0)
			ret = state_add_failed(s, (uint64_t)num(f, "build-id"), p);
		free(p);
	}
	c = cJSON_GetObjectItemCaseSensitive(o, "counters");
	errs = cJSON_GetObjectItemCaseSensitive(c, "poll-errors");
	for (unsigned k = 1; k < N_KINDS; k++)
		s->counters.poll_errors[k] = (unsigned long)num(errs, err_kinds[k]);
	s->counters.activations_ok = (unsigned long)num(c, "activations-ok");
	s->counters.activations_failed = (unsigned long)num(c, "activations-failed");
	s->counters.activations_timed_out = (unsigned long)num(c, "activations-timed-out");
	s->counters.rollbacks = (unsigned long)num(c, "rollbacks");
	s->counters.health_checks_failed = (unsigned long)num(c, "health-checks-failed");
	s->counters.fetcher_restarts = (unsigned long)num(c, "fetcher-restarts");
	s->counters.gc_freed_bytes = (unsigned long long)num(c, "gc-freed-bytes");
	s->counters.contact_rollbacks = (unsigned long)num(c, "contact-rollbacks");
	s->counters.reboots_requested = (unsigned long)num(c, "reboots-requested");
	cJSON_Delete(o);
	if (ret < 0) {
		state_free(s);
		return hail_fail(e, HAIL_E_INTERNAL, "out of memory");
	}
	return 0;
}

int state_load(const char *path, struct agent_state *s, struct hail_errbuf *e)
{
	struct hail_errbuf why;
	char *text = NULL;
	size_t len;
	int ret;

	memset(s, 0, sizeof(*s));
	ret = file_read(path, STATE_FILE_MAX, &text, &len, &why);
	if (ret == HAIL_E_NOT_FOUND)
		return 0;
	if (ret == 0)
		ret = state_from_json(text, len, s, &why);
	free(text);
	if (ret < 0)
		return hail_fail(e, HAIL_E_PROTOCOL, "state file %s: %s", path, why.msg);
	return 0;
}

int state_save(const char *path, const struct agent_state *s, bool durable,
	       struct hail_errbuf *e)
{
	char *text = state_to_json(s);
	size_t n;
	int ret;

	if (!text)
		return hail_fail(e, HAIL_E_INTERNAL, "out of memory");
	n = strlen(text);
	text[n] = '\n';
	ret = file_write_atomic(path, text, n + 1, 0644, NULL, durable, e);
	free(text);
	return ret;
}
