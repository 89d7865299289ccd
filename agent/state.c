#include "state.h"

#include <cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "storepath.h"

void state_free(struct agent_state *s)
{
	free(s->deployed_path);
	free(s->pending_path);
	free(s->latest_path);
	state_clear_failed(s);
	memset(s, 0, sizeof(*s));
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
	"activation", "busy", "interrupted", "held"
};

#define N_KINDS (sizeof(err_kinds) / sizeof(err_kinds[0]))

/* The state is written after every poll, so it is printed by hand: cJSON's
 * printer (a sprintf and an sscanf per number) cost more than the poll's
 * HTTP request. A growing buffer; oom is sticky. */
struct jw {
	char *buf;
	size_t len, cap;
	bool oom;
};

static void jw_printf(struct jw *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void jw_printf(struct jw *w, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (int tries = 0; tries < 2 && !w->oom; tries++) {
		va_start(ap, fmt);
		n = vsnprintf(w->buf ? w->buf + w->len : NULL, w->buf ? w->cap - w->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			w->oom = true;
		} else if (w->buf && (size_t)n < w->cap - w->len) {
			w->len += (size_t)n;
			return;
		} else {
			size_t cap = (w->cap ? w->cap : 1024) * 2 + (size_t)n;
			char *p = realloc(w->buf, cap);

			if (!p)
				w->oom = true;
			w->buf = p ? p : w->buf;
			w->cap = p ? cap : w->cap;
		}
	}
}

/* A JSON string: quotes, backslashes and control characters escaped. */
static void jw_string(struct jw *w, const char *s)
{
	jw_printf(w, "\"");
	for (const char *p = s; *p; ) {
		size_t run = strcspn(p, "\"\\\x01\x02\x03\x04\x05\x06\x07\x08\t\n\x0b\x0c\r"
				     "\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a"
				     "\x1b\x1c\x1d\x1e\x1f");

		jw_printf(w, "%.*s", (int)run, p);
		p += run;
		if (*p)
			jw_printf(w, *p == '"' || *p == '\\' ? "\\%c" : "\\u%04x",
				  *p == '"' || *p == '\\' ? *p : (unsigned char)*p);
		if (*p)
			p++;
	}
	jw_printf(w, "\"");
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

char *state_to_json(const struct agent_state *s)
{
	const struct state_counters *c = &s->counters;
	struct jw w = { 0 };
	int r = s->last_poll_result;

	jw_printf(&w, "{\n");
	jw_key_string(&w, "\t", "mode", s->mode[0] ? s->mode : "following");
	jw_key_string(&w, "\t", "store-path", s->deployed_path);
	jw_printf(&w, "\t\"build-id\": %llu,\n\t\"generation\": %ld,\n",
		  (unsigned long long)s->deployed_id, s->deployed_generation);
	if (s->pending_path) {
		jw_printf(&w, "\t\"switching-to\": {\"store-path\": ");
		jw_string(&w, s->pending_path);
		jw_printf(&w, ", \"build-id\": %llu},\n", (unsigned long long)s->pending_id);
	}
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
	if (s->rollout_id)
		jw_printf(&w, "\t\"rollout\": {\"build-id\": %llu, \"adopt-at\": %lld},\n",
			  (unsigned long long)s->rollout_id, (long long)s->rollout_at);
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
		  "\"activations-timed-out\": %lu, \"rollbacks\": %lu, \"health-checks-failed\": %lu}"
		  "\n}", c->activations_ok, c->activations_failed, c->activations_timed_out,
		  c->rollbacks, c->health_checks_failed);
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

/* The pause or pin in force, and the build waiting for its rollout turn. */
static void read_control(const cJSON *o, struct agent_state *s)
{
	const cJSON *ctl = cJSON_GetObjectItemCaseSensitive(o, "control");
	const cJSON *r = cJSON_GetObjectItemCaseSensitive(o, "rollout");

	s->paused = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ctl, "paused"));
	s->pause_until = (time_t)num(ctl, "pause-until");
	s->pin_id = (uint64_t)num(ctl, "pinned-build-id");
	copy_string(s->control_source, sizeof(s->control_source), ctl, "source");
	s->rollout_id = (uint64_t)num(r, "build-id");
	s->rollout_at = (time_t)num(r, "adopt-at");
}

int state_from_json(const char *text, size_t len, struct agent_state *s, struct hail_errbuf *e)
{
	const cJSON *poll, *act, *failed, *f, *c, *errs, *result;
	cJSON *o = cJSON_ParseWithLength(text, len);

	memset(s, 0, sizeof(*s));
	if (!cJSON_IsObject(o)) {
		cJSON_Delete(o);
		return hail_fail(e, HAIL_E_PROTOCOL, "not a JSON object");
	}
	copy_string(s->mode, sizeof(s->mode), o, "mode");
	s->deployed_path = path_or_null(o, "store-path");
	s->deployed_id = (uint64_t)num(o, "build-id");
	s->deployed_generation = (long)num(o, "generation");
	s->pending_path = path_or_null(cJSON_GetObjectItemCaseSensitive(o, "switching-to"),
				       "store-path");
	s->pending_id = (uint64_t)num(cJSON_GetObjectItemCaseSensitive(o, "switching-to"), "build-id");
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
	failed = cJSON_GetObjectItemCaseSensitive(o, "failed");
	cJSON_ArrayForEach(f, failed) {
		char *p = path_or_null(f, "store-path");

		if (p && state_add_failed(s, (uint64_t)num(f, "build-id"), p) < 0) {
			free(p);
			break;
		}
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
	cJSON_Delete(o);
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
