#include "install.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "log.h"
#include "period.h"

#define NIX_CONF_MAX (256 * 1024)
#define RECORD_MAX (64 * 1024)
#define INCLUDE_LINE "!include hail.conf"
#define NETRC_MARK_KEY "netrc-written"
#define NETRC_MARK_MAX 96      /* three 64-bit numbers and nanoseconds */
/* The agents' --fleet-file; image/hail-profile.nix names the same path. */
#define FLEET_FILE "/etc/hail/fleet.json"

static int path_join(char *out, const char *root, const char *a, const char *b,
		     struct hail_errbuf *e)
{
	if (snprintf(out, PATH_MAX, "%s%s%s", root, a, b ? b : "") >= PATH_MAX)
		return hail_fail(e, HAIL_E_USAGE, "path under %s too long", root);
	return 0;
}

int install_paths_init(struct install_paths *p, const char *root, const char *profile,
		       struct hail_errbuf *e)
{
	char json[PROFILE_NAME_MAX + 8];
	int r = 0;

	snprintf(json, sizeof(json), "%s.json", profile);
	if (!r) r = path_join(p->netrc, root, "/etc/nix/netrc", NULL, e);
	if (!r) r = path_join(p->nix_conf, root, "/etc/nix/nix.conf", NULL, e);
	if (!r) r = path_join(p->hail_conf, root, "/etc/nix/hail.conf", NULL, e);
	if (!r) r = path_join(p->agent_config, root, "/etc/hail/", json, e);
	if (!r) r = path_join(p->fleet, root, FLEET_FILE, NULL, e);
	if (!r) r = path_join(p->record, root, "/var/lib/hail/bootstrap.json", NULL, e);
	if (!r) r = path_join(p->profile, root, "/nix/var/nix/profiles/", profile, e);
	if (!r) r = path_join(p->netrc_on_machine, "", "/etc/nix/netrc", NULL, e);
	if (!r) r = path_join(p->config_on_machine, "/etc/hail/", json, NULL, e);
	if (!r) r = path_join(p->fleet_on_machine, "", FLEET_FILE, NULL, e);
	return r;
}

/* Appends one "key = v1 v2" line when the list is not empty. */
static void conf_list(char *buf, size_t size, const char *key, char *const *list)
{
	size_t n = strlen(buf);

	if (!list[0])
		return;
	n += (size_t)snprintf(buf + n, size - n, "%s =", key);
	for (size_t i = 0; list[i] && n < size; i++)
		n += (size_t)snprintf(buf + n, size - n, " %s", list[i]);
	if (n < size)
		snprintf(buf + n, size - n, "\n");
}

static int write_hail_conf(const struct install_paths *p, const struct boot_settings *s,
			   bool netrc, bool *changed, struct hail_errbuf *e)
{
	/* at most 2 lists of BOOT_LIST_MAX entries, each bounded by USERDATA_MAX */
	size_t size = 64 * 1024;
	char *buf = calloc(1, size);
	int ret;

	if (!buf)
		return hail_fail(e, HAIL_E_INTERNAL, "out of memory");
	snprintf(buf, size, "# Written by hail-bootstrap from the instance's metadata at every "
		 "boot;\n# edits are lost. The image's own settings are in nix.conf.\n");
	/* extra-: added to what nix.conf says, not replacing it */
	conf_list(buf, size, "extra-substituters", s->substituters);
	conf_list(buf, size, "extra-trusted-public-keys", s->trusted_keys);
	if (netrc)
		snprintf(buf + strlen(buf), size - strlen(buf), "netrc-file = %s\n",
			 p->netrc_on_machine);
	if (strlen(buf) >= size - 1)
		ret = hail_fail(e, HAIL_E_USAGE, "Nix settings too long");
	else
		ret = file_write_atomic(p->hail_conf, buf, strlen(buf), 0644, changed, true, e);
	free(buf);
	return ret;
}

/* nix.conf keeps whatever the image put there; it gains the include once. */
static int include_hail_conf(const struct install_paths *p, bool *changed, struct hail_errbuf *e)
{
	char *old = NULL, *new = NULL;
	size_t len = 0;
	struct stat st;
	mode_t mode = 0644;
	int ret;

	*changed = false;
	ret = file_read(p->nix_conf, NIX_CONF_MAX, &old, &len, e);
	if (ret == HAIL_E_NOT_FOUND)
		ret = 0;
	if (ret < 0)
		return ret;
	for (const char *l = old; l && *l; ) {
		const char *nl = strchr(l, '\n');
		size_t n = nl ? (size_t)(nl - l) : strlen(l);

		if (n == strlen(INCLUDE_LINE) && !memcmp(l, INCLUDE_LINE, n))
			goto out;       /* already there */
		l = nl ? nl + 1 : l + n;
	}
	if (old && stat(p->nix_conf, &st) == 0)
		mode = st.st_mode & 07777;
	new = malloc(len + sizeof(INCLUDE_LINE) + 2);
	if (!new) {
		ret = hail_fail(e, HAIL_E_INTERNAL, "out of memory");
		goto out;
	}
	memcpy(new, old ? old : "", len);
	if (len && new[len - 1] != '\n')
		new[len++] = '\n';
	memcpy(new + len, INCLUDE_LINE "\n", sizeof(INCLUDE_LINE) + 1);
	ret = file_write_atomic(p->nix_conf, new, strlen(new), mode, changed, true, e);
out:
	free(old);
	free(new);
	return ret;
}

/* Writes o as a JSON file (0644, atomically), creating its folder. */
static int write_json(const char *path, const cJSON *o, bool *changed, struct hail_errbuf *e)
{
	char *text = cJSON_Print(o);
	size_t n;
	int ret;

	if (!text)
		return hail_fail(e, HAIL_E_INTERNAL, "out of memory");
	n = strlen(text);
	text[n] = '\n';         /* cJSON leaves none; replaces the NUL */
	ret = mkdir_parents(path, 0755, e);
	if (ret == 0)
		ret = file_write_atomic(path, text, n + 1, 0644, changed, true, e);
	free(text);
	return ret;
}

/* The agent of the profile this bootstrap pulls: what to follow, and where
 * the fleet settings are (which every agent on the machine shares). */
static int write_agent_config(const struct install_paths *p, const struct boot_settings *s,
			      bool netrc, bool *changed, struct hail_errbuf *e)
{
	cJSON *o = cJSON_CreateObject();
	char period[32];
	int ret;

	if (!o)
		return hail_fail(e, HAIL_E_INTERNAL, "out of memory");
	cJSON_AddStringToObject(o, "job-uri", s->job_uri);
	cJSON_AddStringToObject(o, "profile", s->profile);
	if (netrc)
		cJSON_AddStringToObject(o, "netrc-file", p->netrc_on_machine);
	if (s->poll_period_s) {
		period_format(s->poll_period_s, period, sizeof(period));
		cJSON_AddStringToObject(o, "poll-period", period);
	}
	cJSON_AddStringToObject(o, "fleet-file", p->fleet_on_machine);
	ret = write_json(p->agent_config, o, changed, e);
	cJSON_Delete(o);
	return ret;
}

/* The fleet settings, for every hail agent on the machine (the bootstrap's
 * own and those a profile's activation sets up: each names this file with
 * fleet-file). Written even when empty: "{}" says "no fleet settings" as
 * surely as a missing file, and replaces whatever an earlier boot's
 * user-data put there, so no pause control outlives the user-data that
 * asked for it. */
static int write_fleet(const struct install_paths *p, const struct boot_settings *s,
		       const struct install_instance *in, bool *changed, struct hail_errbuf *e)
{
	cJSON *o = cJSON_CreateObject();
	char period[32];
	int ret;

	if (!o)
		return hail_fail(e, HAIL_E_INTERNAL, "out of memory");
	if (s->rollout_window_s) {
		period_format(s->rollout_window_s, period, sizeof(period));
		cJSON_AddStringToObject(o, "rollout-window", period);
	}
	if (s->control_ssm_parameter)
		cJSON_AddStringToObject(o, "control-ssm-parameter", s->control_ssm_parameter);
	/* the machine's disk is every agent's: retention and the guard too */
	if (s->keep_generations)
		cJSON_AddNumberToObject(o, "keep-generations", s->keep_generations);
	if (s->gc_given)
		cJSON_AddStringToObject(o, "gc", gc_mode_name(s->gc));
	if (s->min_free_after_given)
		cJSON_AddNumberToObject(o, "min-free-after", (double)s->min_free_after);
	/* and so are its link to Hydra and its reboots */
	if (s->contact_timeout_s) {
		period_format(s->contact_timeout_s, period, sizeof(period));
		cJSON_AddStringToObject(o, "contact-timeout", period);
	}
	if (s->reboot_window_given) {
		window_format(&s->reboot_window, period, sizeof(period));
		cJSON_AddStringToObject(o, "reboot-window", period);
	}
	if (s->reboot_command)
		cJSON_AddStringToObject(o, "reboot-command", s->reboot_command);
	if (s->halt_alarm)
		cJSON_AddStringToObject(o, "halt-alarm", s->halt_alarm);
	if (s->cloudwatch_metrics)
		cJSON_AddBoolToObject(o, "cloudwatch-metrics", 1);
	if (s->cloudwatch_period_s) {
		period_format(s->cloudwatch_period_s, period, sizeof(period));
		cJSON_AddStringToObject(o, "cloudwatch-period", period);
	}
	if (s->cloudwatch_namespace)
		cJSON_AddStringToObject(o, "cloudwatch-namespace", s->cloudwatch_namespace);
	if (s->cloudwatch_metrics && in->autoscaling_group)
		cJSON_AddStringToObject(o, "autoscaling-group", in->autoscaling_group);
	if (s->aws_endpoint_url)
		cJSON_AddStringToObject(o, "aws-endpoint-url", s->aws_endpoint_url);
	/* the agent reads the pause and pin tags from the same IMDS */
	if (in->imds_endpoint)
		cJSON_AddStringToObject(o, "imds-endpoint", in->imds_endpoint);
	if (in->instance_id)
		cJSON_AddStringToObject(o, "instance-id", in->instance_id);
	ret = write_json(p->fleet, o, changed, e);
	cJSON_Delete(o);
	return ret;
}

/* The record of the last run; NULL when there is none or it is damaged. */
static cJSON *read_record(const struct install_paths *p)
{
	struct hail_errbuf e;
	char *text = NULL;
	size_t len;
	cJSON *o = NULL;

	if (file_read(p->record, RECORD_MAX, &text, &len, &e) == 0)
		o = cJSON_ParseWithLength(text, len);
	free(text);
	if (o && !cJSON_IsObject(o)) {
		cJSON_Delete(o);
		o = NULL;
	}
	return o;
}

/* Which file the bootstrap wrote as the netrc, kept in the record: its inode,
 * size and change time. Anything done to the file since (an edit, a chmod, a
 * file put in its place) changes one of them, and the file is then the
 * operator's, never removed. No hash of the content: the record is
 * world-readable, and a hash of a short password can be searched for. */
static bool netrc_mark(const char *path, char mark[NETRC_MARK_MAX])
{
	struct stat st;

	if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return false;
	snprintf(mark, NETRC_MARK_MAX, "%llu:%lld:%lld.%09ld", (unsigned long long)st.st_ino,
		 (long long)st.st_size, (long long)st.st_ctim.tv_sec, (long)st.st_ctim.tv_nsec);
	return true;
}

static const char *record_mark(const cJSON *record)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(record, NETRC_MARK_KEY);

	return cJSON_IsString(m) ? m->valuestring : NULL;
}

/* Puts the mark of the netrc the bootstrap owns now ("" for none) in the
 * record, rewriting it only when that changes. Owns record. */
static int record_netrc(const struct install_paths *p, cJSON *record, const char *mark,
			struct hail_errbuf *e)
{
	const char *prev = record_mark(record);
	int ret = 0;

	if (prev ? !strcmp(prev, mark) : !mark[0])
		goto out;
	if (!record)
		record = cJSON_CreateObject();
	cJSON_DeleteItemFromObjectCaseSensitive(record, NETRC_MARK_KEY);
	if (!record || (mark[0] && !cJSON_AddStringToObject(record, NETRC_MARK_KEY, mark))) {
		ret = hail_fail(e, HAIL_E_INTERNAL, "out of memory");
		goto out;
	}
	ret = write_json(p->record, record, NULL, e);
out:
	cJSON_Delete(record);
	return ret;
}

/* The user-data carries no netrc (any more): the one the bootstrap wrote
 * goes, so that a credential is revoked by changing the user-data. A netrc
 * the bootstrap did not write, or that was changed since, stays. */
static int drop_netrc(const struct install_paths *p, const char *prev, bool *removed,
		      struct hail_errbuf *e)
{
	char mark[NETRC_MARK_MAX];
	int ret;

	*removed = false;
	if (!netrc_mark(p->netrc, mark))
		return 0;
	if (!prev || strcmp(prev, mark)) {
		log_info("kept %s: the user-data carries no netrc, but hail-bootstrap did not "
			 "write this one (or it was changed since)", p->netrc);
		return 0;
	}
	ret = file_remove(p->netrc, true, e);
	if (ret == HAIL_E_NOT_FOUND)
		return 0;
	if (ret < 0)
		return ret;
	*removed = true;
	log_info("removed %s: hail-bootstrap wrote it and the user-data no longer carries a "
		 "netrc", p->netrc);
	return 0;
}

int install_write(const struct install_paths *p, const struct boot_settings *s,
		  const struct install_instance *in, bool *changed, struct hail_errbuf *e)
{
	bool c[5] = { false, false, false, false, false }, removed = false, netrc;
	char mark[NETRC_MARK_MAX] = "";
	cJSON *record = read_record(p);
	const char *prev = record_mark(record);
	int ret;

	ret = mkdir_parents(p->netrc, 0755, e);
	if (ret == 0 && s->netrc) {
		char now[NETRC_MARK_MAX];

		ret = file_write_atomic(p->netrc, s->netrc, strlen(s->netrc), 0600, &c[0], true, e);
		/* ours when just written, or when still the file we wrote before */
		if (ret == 0 && netrc_mark(p->netrc, now) && (c[0] || (prev && !strcmp(prev, now))))
			memcpy(mark, now, sizeof(mark));
	} else if (ret == 0) {
		ret = drop_netrc(p, prev, &removed, e);
	}
	/* at once: a crash before the record would leave our netrc unowned */
	if (ret == 0)
		ret = record_netrc(p, record, mark, e);
	else
		cJSON_Delete(record);
	record = NULL;
	/* an operator's own netrc is still used */
	netrc = s->netrc || access(p->netrc, F_OK) == 0;
	if (ret == 0)
		ret = write_hail_conf(p, s, netrc, &c[1], e);
	if (ret == 0)
		ret = include_hail_conf(p, &c[2], e);
	/* the fleet file first: the config that names it must not come
	 * before it (an agent started between the two would go without) */
	if (ret == 0)
		ret = write_fleet(p, s, in, &c[4], e);
	if (ret == 0)
		ret = write_agent_config(p, s, netrc, &c[3], e);
	*changed = c[0] || removed || c[1] || c[2] || c[3] || c[4];
	if (c[0])
		log_info("wrote %s", p->netrc);
	if (c[1])
		log_info("wrote %s", p->hail_conf);
	if (c[2])
		log_info("added '" INCLUDE_LINE "' to %s", p->nix_conf);
	if (c[4])
		log_info("wrote %s", p->fleet);
	if (c[3])
		log_info("wrote %s", p->agent_config);
	return ret;
}

static bool same_string(const cJSON *o, const char *key, const char *v)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(o, key);

	if (!v)
		return item == NULL;
	return cJSON_IsString(item) && !strcmp(item->valuestring, v);
}

int install_record(const struct install_paths *p, const struct boot_settings *s,
		   const char *instance_id, const char *store_path, struct hail_errbuf *e)
{
	char *old = NULL, now[32];
	cJSON *prev = NULL, *o = NULL;
	time_t t = time(NULL);
	struct tm tm;
	size_t len;
	int ret;

	if (file_read(p->record, RECORD_MAX, &old, &len, e) == 0)
		prev = cJSON_ParseWithLength(old, len);
	if (prev && same_string(prev, "instance-id", instance_id) &&
	    same_string(prev, "job-uri", s->job_uri) && same_string(prev, "profile", s->profile) &&
	    same_string(prev, "store-path", store_path)) {
		ret = 0;        /* nothing new: keep the time of the last change */
		goto out;
	}
	gmtime_r(&t, &tm);
	strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm);
	o = cJSON_CreateObject();
	if (!o) {
		ret = hail_fail(e, HAIL_E_INTERNAL, "out of memory");
		goto out;
	}
	cJSON_AddStringToObject(o, "instance-id", instance_id);
	cJSON_AddStringToObject(o, "job-uri", s->job_uri);
	cJSON_AddStringToObject(o, "job-uri-from", s->job_uri_source);
	cJSON_AddStringToObject(o, "profile", s->profile);
	if (store_path)
		cJSON_AddStringToObject(o, "store-path", store_path);
	if (record_mark(prev))  /* install_write's */
		cJSON_AddStringToObject(o, NETRC_MARK_KEY, record_mark(prev));
	cJSON_AddStringToObject(o, "updated", now);
	ret = write_json(p->record, o, NULL, e);
	if (ret == 0)
		log_info("wrote %s", p->record);
out:
	free(old);
	cJSON_Delete(prev);
	cJSON_Delete(o);
	return ret;
}
