#include "settings.h"

#include <cJSON.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>

#include "autoscaling.h"
#include "cloudwatch.h"
#include "hydra.h"
#include "log.h"
#include "netrc_check.h"
#include "period.h"
#include "ssm.h"
#include "strutil.h"
#include "url.h"

#define ED25519_KEY_LEN 32

/* One segment of profilename.h's rule: the name is also a systemd
 * instance and a file name under /etc/hail. */
bool boot_profile_name_valid(const char *name)
{
	return profile_segment_valid(name, strlen(name));
}

static int set_job_uri(struct boot_settings *s, const char *src, const char *v,
		       const char *source, struct hail_errbuf *e)
{
	struct hail_errbuf why;
	struct hydra_job job;

	if (hydra_job_parse(v, &job, &why) < 0)
		return hail_fail(e, HAIL_E_USAGE, "%s: %s", src, why.msg);
	hydra_job_clear(&job);
	s->job_uri = strdup(v);
	s->job_uri_source = source;
	return s->job_uri ? 0 : hail_fail(e, HAIL_E_INTERNAL, "out of memory");
}

static int set_profile(struct boot_settings *s, const char *src, const char *v,
		       struct hail_errbuf *e)
{
	char shown[96];

	if (!boot_profile_name_valid(v)) {
		str_escape(shown, sizeof(shown), v, strlen(v));
		return hail_fail(e, HAIL_E_USAGE, "%s: '%s' is not a profile name (1-%d of "
				 "A-Z a-z 0-9 - _ ., not starting with . or -)", src, shown,
				 PROFILE_SEGMENT_MAX);
	}
	s->profile = strdup(v);
	return s->profile ? 0 : hail_fail(e, HAIL_E_INTERNAL, "out of memory");
}

static int set_period(struct boot_settings *s, const char *src, const char *v,
		      struct hail_errbuf *e)
{
	char shown[64];

	if (period_parse(v, &s->poll_period_s) < 0) {
		str_escape(shown, sizeof(shown), v, strlen(v));
		return hail_fail(e, HAIL_E_USAGE, "%s: '%s' is not a period (minutes, or a "
				 "number with s, m, h or d)", src, shown);
	}
	return 0;
}

static int check_substituter(const char *src, size_t i, const char *v, struct hail_errbuf *e)
{
	char shown[128];

	if (strchr(v, '@'))
		return hail_fail(e, HAIL_E_USAGE, "%s[%zu]: credentials in a substituter URL are not "
				 "allowed; use netrc", src, i);
	if (url_is_http(v))
		return 0;
	str_escape(shown, sizeof(shown), v, strlen(v));
	return hail_fail(e, HAIL_E_USAGE, "%s[%zu]: '%s' is not an http(s) URL", src, i, shown);
}

/* Nix's public keys: NAME:BASE64 of a 32-byte Ed25519 key. */
static int check_public_key(const char *src, size_t i, const char *v, struct hail_errbuf *e)
{
	const char *colon = strchr(v, ':');
	unsigned char raw[64];
	size_t b64len;
	int n;

	if (!colon || colon == v)
		return hail_fail(e, HAIL_E_USAGE, "%s[%zu]: not NAME:KEY", src, i);
	for (const char *p = v; p < colon; p++)
		if (*p <= ' ' || *p == 0x7f)
			return hail_fail(e, HAIL_E_USAGE, "%s[%zu]: bad key name", src, i);
	b64len = strlen(colon + 1);
	if (b64len != 44)
		return hail_fail(e, HAIL_E_USAGE, "%s[%zu]: key is not 44 characters of base64", src, i);
	n = EVP_DecodeBlock(raw, (const unsigned char *)colon + 1, (int)b64len);
	/* 44 characters decode to 33 bytes, the last being the '=' padding */
	if (n != 33 || colon[1 + 43] != '=' || colon[1 + 42] == '=')
		return hail_fail(e, HAIL_E_USAGE, "%s[%zu]: key is not base64 of %d bytes", src, i,
				 ED25519_KEY_LEN);
	return 0;
}

static int set_list(char **list, const char *src, const cJSON *v,
		    int (*check)(const char *, size_t, const char *, struct hail_errbuf *),
		    struct hail_errbuf *e)
{
	const cJSON *item;
	size_t n = 0;
	int ret;

	if (!cJSON_IsArray(v))
		return hail_fail(e, HAIL_E_USAGE, "%s: must be a list of strings", src);
	cJSON_ArrayForEach(item, v) {
		if (n == BOOT_LIST_MAX)
			return hail_fail(e, HAIL_E_USAGE, "%s: more than %d entries", src, BOOT_LIST_MAX);
		if (!cJSON_IsString(item))
			return hail_fail(e, HAIL_E_USAGE, "%s[%zu]: must be a string", src, n);
		ret = check(src, n, item->valuestring, e);
		if (ret < 0)
			return ret;
		list[n] = strdup(item->valuestring);
		if (!list[n])
			return hail_fail(e, HAIL_E_INTERNAL, "out of memory");
		n++;
	}
	return 0;
}

static int set_netrc(struct boot_settings *s, const char *src, const char *v,
		     struct hail_errbuf *e)
{
	struct hail_errbuf why;
	bool has_host;

	if (netrc_check(v, strlen(v), NULL, &has_host, &why) < 0)
		return hail_fail(e, HAIL_E_USAGE, "%s: malformed: %s", src, why.msg);
	s->netrc = strdup(v);
	return s->netrc ? 0 : hail_fail(e, HAIL_E_INTERNAL, "out of memory");
}

/* A string setting checked by valid(); *dst owned by s. */
static int set_string(char **dst, const char *src, const char *v, bool (*valid)(const char *),
		      const char *what, struct hail_errbuf *e)
{
	char shown[96];

	if (!valid(v)) {
		str_escape(shown, sizeof(shown), v, strlen(v));
		return hail_fail(e, HAIL_E_USAGE, "%s: '%s' is not %s", src, shown, what);
	}
	*dst = strdup(v);
	return *dst ? 0 : hail_fail(e, HAIL_E_INTERNAL, "out of memory");
}


/* The reboot-command: run without a shell, so a path, printable, no
 * spaces (an argument would have to be a script's). */
static bool command_path_valid(const char *v)
{
	size_t n = strlen(v);

	if (v[0] != '/' || n > 1024)
		return false;
	for (size_t i = 0; i < n; i++)
		if (v[i] <= ' ' || v[i] > '~')
			return false;
	return true;
}

/* keep-generations (1..10000) and min-free-after (bytes, or with K, M or
 * G): a JSON number or a string, as the agent takes them. */
static int set_disk_number(struct boot_settings *s, const cJSON *item, const char *src,
			   struct hail_errbuf *e)
{
	bool keep = !strcmp(item->string, "keep-generations");
	unsigned long long n;
	char text[32];

	if (cJSON_IsNumber(item)) {
		double d = item->valuedouble;

		if (d < 0 || d > 1e18 || d != (double)(unsigned long long)d)
			return hail_fail(e, HAIL_E_USAGE, "%s: not a whole number", src);
		snprintf(text, sizeof(text), "%llu", (unsigned long long)d);
	} else if (cJSON_IsString(item) && strlen(item->valuestring) < sizeof(text)) {
		snprintf(text, sizeof(text), "%s", item->valuestring);
	} else {
		return hail_fail(e, HAIL_E_USAGE, "%s: must be a number or a short string", src);
	}
	if (keep) {
		if (str_to_u64(text, 1, KEEP_GENERATIONS_MAX, &n) < 0)
			return hail_fail(e, HAIL_E_USAGE, "%s: not a whole number from 1 to %d", src,
					 KEEP_GENERATIONS_MAX);
		s->keep_generations = (unsigned)n;
		return 0;
	}
	if (size_parse(text, &s->min_free_after) < 0)
		return hail_fail(e, HAIL_E_USAGE, "%s: not a size (bytes, or a number with K, M "
				 "or G)", src);
	s->min_free_after_given = true;
	return 0;
}

static int set_fleet_key(struct boot_settings *s, const cJSON *item, const char *src,
			 struct hail_errbuf *e)
{
	const char *key = item->string, *v = item->valuestring;

	if (!strcmp(key, "report-health") || !strcmp(key, "cloudwatch-metrics")) {
		if (!cJSON_IsBool(item))
			return hail_fail(e, HAIL_E_USAGE, "%s: must be true or false", src);
		*(!strcmp(key, "report-health") ? &s->report_health : &s->cloudwatch_metrics) =
			cJSON_IsTrue(item);
		return 0;
	}
	if (!strcmp(key, "keep-generations") || !strcmp(key, "min-free-after"))
		return set_disk_number(s, item, src, e);
	if (!cJSON_IsString(item))
		return hail_fail(e, HAIL_E_USAGE, "%s: must be a string", src);
	if (!strcmp(key, "netrc-ssm-parameter"))
		return set_string(&s->netrc_ssm_parameter, src, v, ssm_name_valid,
				  "an SSM parameter name", e);
	if (!strcmp(key, "control-ssm-parameter"))
		return set_string(&s->control_ssm_parameter, src, v, ssm_name_valid,
				  "an SSM parameter name", e);
	if (!strcmp(key, "lifecycle-hook"))
		return set_string(&s->lifecycle_hook, src, v, asg_name_valid,
				  "a lifecycle hook name", e);
	if (!strcmp(key, "autoscaling-group"))
		return set_string(&s->autoscaling_group, src, v, asg_name_valid,
				  "an Auto Scaling group name", e);
	if (!strcmp(key, "aws-endpoint-url"))
		return set_string(&s->aws_endpoint_url, src, v, url_is_secure_endpoint,
				  "an https URL (http only to this machine) without credentials", e);
	if (!strcmp(key, "gc")) {
		if (!gc_mode_parse(v, &s->gc))
			return hail_fail(e, HAIL_E_USAGE, "%s: not off, when-needed or after-deploy", src);
		s->gc_given = true;
		return 0;
	}
	if (!strcmp(key, "lifecycle-heartbeat"))
		return period_parse(v, &s->lifecycle_heartbeat_s) < 0 ?
			hail_fail(e, HAIL_E_USAGE, "%s: not a period", src) : 0;
	if (!strcmp(key, "contact-timeout"))
		return period_parse(v, &s->contact_timeout_s) < 0 ?
			hail_fail(e, HAIL_E_USAGE, "%s: not a period", src) : 0;
	if (!strcmp(key, "reboot-window")) {
		if (window_parse(v, &s->reboot_window) < 0)
			return hail_fail(e, HAIL_E_USAGE, "%s: not a daily window HH:MM-HH:MM (UTC; "
					 "its ends differ)", src);
		s->reboot_window_given = true;
		return 0;
	}
	if (!strcmp(key, "cloudwatch-period"))
		return period_parse(v, &s->cloudwatch_period_s) < 0 ?
			hail_fail(e, HAIL_E_USAGE, "%s: not a period", src) : 0;
	if (!strcmp(key, "cloudwatch-namespace"))
		return set_string(&s->cloudwatch_namespace, src, v, metric_namespace_valid,
				  "a CloudWatch namespace (1 to 255 printable characters, not AWS/...)",
				  e);
	if (!strcmp(key, "halt-alarm"))
		return set_string(&s->halt_alarm, src, v, alarm_name_valid,
				  "a CloudWatch alarm name (1 to 255 printable characters)", e);
	if (!strcmp(key, "reboot-command"))
		return set_string(&s->reboot_command, src, v, command_path_valid,
				  "an absolute path", e);
	return period_parse(v, &s->rollout_window_s) < 0 ?
		hail_fail(e, HAIL_E_USAGE, "%s: not a period", src) : 0;
}

static bool is_fleet_key(const char *key)
{
	static const char *const keys[] = {
		"autoscaling-group", "aws-endpoint-url", "cloudwatch-metrics", "cloudwatch-namespace",
		"cloudwatch-period", "contact-timeout", "control-ssm-parameter",
		"gc", "halt-alarm", "keep-generations", "lifecycle-heartbeat", "lifecycle-hook",
		"min-free-after",
		"netrc-ssm-parameter", "reboot-command", "reboot-window", "report-health",
		"rollout-window", NULL
	};

	for (const char *const *k = keys; *k; k++)
		if (!strcmp(key, *k))
			return true;
	return false;
}

static int set_key(struct boot_settings *s, const cJSON *item, struct hail_errbuf *e)
{
	const char *key = item->string;
	char src[96], shown[48];

	str_escape(shown, sizeof(shown), key, strlen(key));
	snprintf(src, sizeof(src), "user-data: hail.%s", shown);
	if (!strcmp(key, "substituters"))
		return set_list(s->substituters, src, item, check_substituter, e);
	if (!strcmp(key, "trusted-public-keys"))
		return set_list(s->trusted_keys, src, item, check_public_key, e);
	if (!strcmp(key, "poll-period") && cJSON_IsNumber(item)) {
		double d = item->valuedouble;

		if (d < 1 || d > PERIOD_MAX_SECONDS / 60 || d != (double)(unsigned)d)
			return hail_fail(e, HAIL_E_USAGE, "%s: not a whole number of minutes in range", src);
		s->poll_period_s = (unsigned)d * 60;
		return 0;
	}
	if (is_fleet_key(key))
		return set_fleet_key(s, item, src, e);
	if (strcmp(key, "job-uri") && strcmp(key, "profile") && strcmp(key, "netrc") &&
	    strcmp(key, "poll-period")) {
		log_warning("%s: unknown setting ignored", src);
		return 0;
	}
	if (!cJSON_IsString(item))
		return hail_fail(e, HAIL_E_USAGE, "%s: must be a string", src);
	if (!strcmp(key, "job-uri"))
		return set_job_uri(s, src, item->valuestring, "user-data", e);
	if (!strcmp(key, "profile"))
		return set_profile(s, src, item->valuestring, e);
	if (!strcmp(key, "netrc"))
		return set_netrc(s, src, item->valuestring, e);
	return set_period(s, src, item->valuestring, e);
}

int boot_settings_from_json(struct boot_settings *s, const char *json, size_t len,
			    struct hail_errbuf *e)
{
	const cJSON *hail, *item;
	const char *end = NULL;
	cJSON *root;
	int ret = 0;

	root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
	if (!root)
		return hail_fail(e, HAIL_E_USAGE, "user-data: not valid JSON (at byte %ld)",
				 end ? (long)(end - json) : 0L);
	hail = cJSON_GetObjectItemCaseSensitive(root, "hail");
	if (!cJSON_IsObject(root) || !cJSON_IsObject(hail)) {
		ret = hail_fail(e, HAIL_E_USAGE, "user-data: hail: must be a JSON object");
		goto out;
	}
	cJSON_ArrayForEach(item, hail) {
		/* cJSON keeps duplicate keys; which one wins would be a guess */
		for (const cJSON *prev = hail->child; prev != item; prev = prev->next)
			if (!strcmp(prev->string, item->string)) {
				char shown[48];

				str_escape(shown, sizeof(shown), item->string, strlen(item->string));
				ret = hail_fail(e, HAIL_E_USAGE, "user-data: hail.%s: given twice", shown);
				goto out;
			}
		ret = set_key(s, item, e);
		if (ret < 0)
			goto out;
	}
	if (s->netrc && s->netrc_ssm_parameter)
		ret = hail_fail(e, HAIL_E_USAGE, "user-data: give hail.netrc or "
				"hail.netrc-ssm-parameter, not both");
out:
	cJSON_Delete(root);
	return ret;
}

int boot_settings_netrc_from_ssm(struct boot_settings *s, const char *text,
				 struct hail_errbuf *e)
{
	char src[SSM_NAME_MAX + 32];

	snprintf(src, sizeof(src), "SSM parameter %s", s->netrc_ssm_parameter);
	return set_netrc(s, src, text, e);
}

int boot_settings_from_tag(struct boot_settings *s, const char *key, const char *value,
			   struct hail_errbuf *e)
{
	char src[96];

	snprintf(src, sizeof(src), "instance tag %s", key);
	if (!strcmp(key, "hail:job-uri"))
		return s->job_uri ? 0 : set_job_uri(s, src, value, "tag", e);
	if (!strcmp(key, "hail:profile"))
		return s->profile ? 0 : set_profile(s, src, value, e);
	if (!strcmp(key, "hail:poll-period"))
		return s->poll_period_s ? 0 : set_period(s, src, value, e);
	return 0;
}

int boot_settings_finish(struct boot_settings *s, struct hail_errbuf *e)
{
	if (!s->job_uri)
		return hail_fail(e, HAIL_E_USAGE, "no job-uri: set hail.job-uri in user-data or "
				 "the instance tag hail:job-uri");
	if (!s->lifecycle_hook && (s->autoscaling_group || s->lifecycle_heartbeat_s))
		return hail_fail(e, HAIL_E_USAGE, "user-data: hail.%s without hail.lifecycle-hook",
				 s->autoscaling_group ? "autoscaling-group" : "lifecycle-heartbeat");
	if (!s->profile) {
		s->profile = strdup(DEFAULT_PROFILE);
		if (!s->profile)
			return hail_fail(e, HAIL_E_INTERNAL, "out of memory");
	}
	if (s->netrc) {
		struct hydra_job job;
		struct hail_errbuf why;
		bool has_host = false;
		char *host = NULL;
		CURLU *u = curl_url();

		if (u && hydra_job_parse(s->job_uri, &job, &why) == 0) {
			if (curl_url_set(u, CURLUPART_URL, job.uri, 0) == CURLUE_OK &&
			    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
				netrc_check(s->netrc, strlen(s->netrc), host, &has_host, &why);
			hydra_job_clear(&job);
		}
		if (host && !has_host)
			log_warning("%s: no entry for %s, the job-uri's host", s->netrc_ssm_parameter ?
				    s->netrc_ssm_parameter : "user-data: hail.netrc", host);
		curl_free(host);
		curl_url_cleanup(u);
	}
	return 0;
}

bool boot_settings_use_aws(const struct boot_settings *s)
{
	return s->netrc_ssm_parameter || s->lifecycle_hook || s->report_health;
}

void boot_settings_free(struct boot_settings *s)
{
	free(s->netrc_ssm_parameter);
	free(s->lifecycle_hook);
	free(s->autoscaling_group);
	free(s->aws_endpoint_url);
	free(s->control_ssm_parameter);
	free(s->reboot_command);
	free(s->halt_alarm);
	free(s->cloudwatch_namespace);
	free(s->job_uri);
	free(s->profile);
	if (s->netrc) {
		explicit_bzero(s->netrc, strlen(s->netrc));
		free(s->netrc);
	}
	for (size_t i = 0; s->substituters[i]; i++)
		free(s->substituters[i]);
	for (size_t i = 0; s->trusted_keys[i]; i++)
		free(s->trusted_keys[i]);
	memset(s, 0, sizeof(*s));
}
