#include "state.h"

#include <cJSON.h>
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

static void add_path(cJSON *o, const char *key, const char *v)
{
	if (v)
		cJSON_AddStringToObject(o, key, v);
	else
		cJSON_AddNullToObject(o, key);
}

char *state_to_json(const struct agent_state *s)
{
	cJSON *o = cJSON_CreateObject(), *failed, *c, *errs, *poll, *act;
	char *text;

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "mode", s->mode[0] ? s->mode : "following");
	add_path(o, "store-path", s->deployed_path);
	cJSON_AddNumberToObject(o, "build-id", (double)s->deployed_id);
	cJSON_AddNumberToObject(o, "generation", (double)s->deployed_generation);
	if (s->pending_path) {
		cJSON *p = cJSON_AddObjectToObject(o, "switching-to");

		if (p) {
			cJSON_AddStringToObject(p, "store-path", s->pending_path);
			cJSON_AddNumberToObject(p, "build-id", (double)s->pending_id);
		}
	}
	cJSON_AddNumberToObject(o, "latest-build-id", (double)s->latest_id);
	add_path(o, "latest-store-path", s->latest_path);
	poll = cJSON_AddObjectToObject(o, "last-poll");
	if (poll) {
		cJSON_AddNumberToObject(poll, "time", (double)s->last_poll);
		cJSON_AddStringToObject(poll, "result",
					-s->last_poll_result < (int)N_KINDS ? err_kinds[-s->last_poll_result] : "?");
		if (s->last_poll_result)
			cJSON_AddStringToObject(poll, "error", s->last_poll_error);
	}
	cJSON_AddNumberToObject(o, "last-success", (double)s->last_success);
	act = cJSON_AddObjectToObject(o, "last-activation");
	if (act) {
		cJSON_AddStringToObject(act, "result", s->activation_result);
		cJSON_AddNumberToObject(act, "duration-ms", (double)s->activation_ms);
		cJSON_AddNumberToObject(act, "build-id", (double)s->activation_id);
		cJSON_AddNumberToObject(act, "time", (double)s->activation_time);
	}
	failed = cJSON_AddArrayToObject(o, "failed");
	for (unsigned i = 0; failed && i < s->n_failed; i++) {
		cJSON *f = cJSON_CreateObject();

		if (!f)
			break;
		cJSON_AddNumberToObject(f, "build-id", (double)s->failed[i].id);
		cJSON_AddStringToObject(f, "store-path", s->failed[i].path);
		cJSON_AddItemToArray(failed, f);
	}
	c = cJSON_AddObjectToObject(o, "counters");
	if (c) {
		errs = cJSON_AddObjectToObject(c, "poll-errors");
		for (unsigned k = 1; errs && k < N_KINDS; k++)
			if (s->counters.poll_errors[k])
				cJSON_AddNumberToObject(errs, err_kinds[k], (double)s->counters.poll_errors[k]);
		cJSON_AddNumberToObject(c, "activations-ok", (double)s->counters.activations_ok);
		cJSON_AddNumberToObject(c, "activations-failed", (double)s->counters.activations_failed);
		cJSON_AddNumberToObject(c, "activations-timed-out",
					(double)s->counters.activations_timed_out);
		cJSON_AddNumberToObject(c, "rollbacks", (double)s->counters.rollbacks);
	}
	text = cJSON_Print(o);
	cJSON_Delete(o);
	return text;
}

static double num(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) && v->valuedouble >= 0 ? v->valuedouble : 0;
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
