/* The bootstrap's settings: one schema for user-data and instance tags.
 *
 *   {"hail": {"job-uri": "...", "profile": "hail", "netrc": "machine ...",
 *             "poll-period": "5m", "substituters": ["https://..."],
 *             "trusted-public-keys": ["name-1:BASE64"]}}
 *
 * Fleet settings (README, "Fleets"): "netrc-ssm-parameter" (instead of
 * "netrc"), "lifecycle-hook", "autoscaling-group", "lifecycle-heartbeat",
 * "report-health", "aws-endpoint-url", and for the agent "rollout-window",
 * "control-ssm-parameter", "keep-generations", "gc", "min-free-after",
 * "contact-timeout", "reboot-window", "reboot-command", "halt-alarm",
 * "cloudwatch-metrics", "cloudwatch-period", "cloudwatch-namespace".
 *
 * Everything is validated here, before anything is written; errors name the
 * field ("user-data: hail.poll-period: ...") and never hold the netrc text. */
#ifndef HAIL_BOOT_SETTINGS_H
#define HAIL_BOOT_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>

#include "disksettings.h"
#include "error.h"
#include "profilename.h"
#include "window.h"

#define BOOT_LIST_MAX 16
#define DEFAULT_PROFILE "hail"

struct boot_settings {
	char *job_uri;                          /* owned */
	char *profile;                          /* owned */
	char *netrc;                            /* owned; a secret */
	unsigned poll_period_s;                 /* 0: the agent's default */
	char *substituters[BOOT_LIST_MAX + 1];  /* owned, NULL-terminated */
	char *trusted_keys[BOOT_LIST_MAX + 1];  /* owned, NULL-terminated */
	const char *job_uri_source;             /* static: "user-data" or "tag" */
	char *netrc_ssm_parameter;              /* owned; read with the instance role */
	char *lifecycle_hook;                   /* owned */
	char *autoscaling_group;                /* owned; else from a tag or the API */
	unsigned lifecycle_heartbeat_s;         /* 0: the default */
	bool report_health;
	char *aws_endpoint_url;                 /* owned */
	unsigned rollout_window_s;              /* 0: none */
	char *control_ssm_parameter;            /* owned */
	unsigned keep_generations;              /* 0: not given */
	bool gc_given;
	enum gc_mode gc;
	bool min_free_after_given;
	unsigned long long min_free_after;      /* bytes */
	unsigned contact_timeout_s;             /* 0: not given */
	bool reboot_window_given;
	struct daily_window reboot_window;
	char *reboot_command;                   /* owned; an absolute path */
	char *halt_alarm;                       /* owned; a CloudWatch alarm name */
	bool cloudwatch_metrics;
	unsigned cloudwatch_period_s;           /* 0: the agent's default */
	char *cloudwatch_namespace;             /* owned */
};

/* Does a fleet setting need AWS API calls at boot? */
bool boot_settings_use_aws(const struct boot_settings *s);

/* Reads a {"hail": {...}} document (from user-data). */
int boot_settings_from_json(struct boot_settings *s, const char *json, size_t len,
			    struct hail_errbuf *e);

/* Applies instance tag key=value when it is a hail: tag and the setting is
 * not set yet (user-data wins). Tags carry no secrets. */
int boot_settings_from_tag(struct boot_settings *s, const char *key, const char *value,
			   struct hail_errbuf *e);

/* Takes the netrc text read from the SSM parameter the settings name. */
int boot_settings_netrc_from_ssm(struct boot_settings *s, const char *text,
				 struct hail_errbuf *e);

/* Checks what is required and fills defaults. */
int boot_settings_finish(struct boot_settings *s, struct hail_errbuf *e);

void boot_settings_free(struct boot_settings *s);

/* Is name safe as a profile name, a file name and a systemd instance? */
bool boot_profile_name_valid(const char *name);

#endif
