/* hail's settings: command-line flags, the --config file and the fleet file.
 *
 * All go through one table of options (options.c), so a config key is
 * exactly a long flag's name and --help cannot drift from what is accepted.
 * Flags given on the command line win over the config file, and both win
 * over the fleet file (--fleet-file), which hail-bootstrap writes once per
 * machine for every agent on it and which may hold the fleet keys only. */
#ifndef HAIL_OPTIONS_H
#define HAIL_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "window.h"

#define HAIL_VERSION "0.3.0"

#define DEFAULT_POLL_PERIOD_S (5 * 60)
#define DEFAULT_ACTIVATION_TIMEOUT_S (15 * 60)
#define DEFAULT_SWITCH_TIMEOUT_S (60 * 60)
#define DEFAULT_HTTP_TIMEOUT_S 60
#define DEFAULT_HEALTH_CHECK_TIMEOUT_S (5 * 60)
#define DEFAULT_NETRC_FILE "/etc/netrc"
#define DEFAULT_STATE_DIR "/var/lib/hail"
#define CONFIG_FILE_MAX (64 * 1024)

enum opt_id {
	OPT_ACTIVATION_TIMEOUT,
	OPT_AUTOSCALING_GROUP,
	OPT_AWS_ENDPOINT_URL,
	OPT_CA_FILE,
	OPT_CLOUDWATCH_METRICS,
	OPT_CLOUDWATCH_NAMESPACE,
	OPT_CLOUDWATCH_PERIOD,
	OPT_CONFIG,
	OPT_CONTACT_TIMEOUT,
	OPT_CONTROL_SSM_PARAMETER,
	OPT_EVENT_COMMAND,
	OPT_FETCHER_USER,
	OPT_FLEET_FILE,
	OPT_GC,
	OPT_HALT_ALARM,
	OPT_HEALTH_CHECK_TIMEOUT,
	OPT_HELP,
	OPT_HTTP_TIMEOUT,
	OPT_IMDS_ENDPOINT,
	OPT_INSTANCE_ID,
	OPT_JOB_URI,
	OPT_KEEP_GENERATIONS,
	OPT_METRICS_FILE,
	OPT_MIN_FREE_AFTER,
	OPT_NETRC_FILE,
	OPT_ONESHOT,
	OPT_POLL_PERIOD,
	OPT_PROFILE,
	OPT_REBOOT_COMMAND,
	OPT_REBOOT_WINDOW,
	OPT_RETRY_FAILED,
	OPT_ROLLOUT_WINDOW,
	OPT_STATE_DIR,
	OPT_SWITCH_TIMEOUT,
	OPT_VERBOSE,
	OPT_VERSION,
	OPT_WAIT_FOR_EVAL,
	OPT_COUNT
};

#define OPT_BIT(id) ((uint64_t)1 << (id))

struct settings {
	char *profile;          /* owned; a name or an absolute path */
	char *job_uri;          /* owned; not yet validated */
	char *netrc_file;       /* owned, or NULL */
	char *config_file;      /* owned, or NULL */
	char *fleet_file;       /* owned, or NULL */
	char *metrics_file;     /* owned, or NULL */
	char *state_dir;        /* owned */
	char *aws_endpoint_url; /* owned, or NULL */
	char *ca_file;          /* owned, or NULL: the system's trust store only */
	char *control_ssm_parameter;    /* owned, or NULL */
	char *imds_endpoint;    /* owned, or NULL: no instance tags */
	char *instance_id;      /* owned, or NULL: /etc/machine-id */
	char *fetcher_user;     /* owned, or NULL: "hail", else "nobody" (sandbox.h) */
	unsigned poll_period_s;
	unsigned activation_timeout_s;
	unsigned switch_timeout_s;
	unsigned http_timeout_s;
	unsigned health_check_timeout_s;
	unsigned rollout_window_s;      /* 0: adopt at once */
	unsigned keep_generations;      /* 0: keep all */
	unsigned long long min_free_after;      /* bytes; see given for the default */
	char *gc;               /* owned, or NULL: "off" (disk.h) */
	unsigned contact_timeout_s;     /* 0: no check that Hydra answers after a switch */
	struct daily_window reboot_window;      /* when given: reboot in it when a build asks */
	char *reboot_command;   /* owned, or NULL: systemctl reboot */
	char *event_command;    /* owned, or NULL: no deployment events (event.h) */
	char *halt_alarm;       /* owned, or NULL: no CloudWatch alarm halts adoption */
	bool cloudwatch_metrics;        /* send the fleet metrics (fleetmetrics.h) */
	unsigned cloudwatch_period_s;   /* at least this often; 0: the default */
	char *cloudwatch_namespace;     /* owned, or NULL: "hail" */
	char *autoscaling_group;        /* owned, or NULL: the metrics' dimension unknown */
	bool oneshot;
	bool verbose;
	bool retry_failed;
	bool wait_for_eval;
	bool help;
	bool version;
	bool read_only;         /* hail plan: create nothing (not a flag) */
	uint64_t given;         /* OPT_BIT(opt_id) for each setting given */
};

/* Reads argv, then the config file it names (when any), then the fleet file
 * either names (when any, and when it exists), then fills defaults. On a bad
 * flag, config or fleet file returns HAIL_E_USAGE with the reason in *e. */
int settings_load(struct settings *s, int argc, char **argv, struct hail_errbuf *e);

/* Reads a config file's JSON text into s, leaving settings already given
 * alone. Exposed for tests and fuzzing; name is used in messages only. */
int settings_read_config_json(struct settings *s, const char *name, const char *text,
			      unsigned long len, struct hail_errbuf *e);

/* Reads a fleet file's JSON text into s, leaving settings already given
 * alone. Only the fleet keys (rollout-window, control-ssm-parameter,
 * aws-endpoint-url, imds-endpoint, instance-id, keep-generations, gc,
 * min-free-after, contact-timeout, reboot-window, reboot-command, halt-alarm,
 * cloudwatch-metrics, cloudwatch-period, cloudwatch-namespace, autoscaling-group) are
 * accepted: any other
 * setting there is HAIL_E_USAGE, so that the machine-wide file cannot move
 * an agent to another job or profile. Unknown keys are warned about and
 * ignored, as in a config file. Exposed for tests and fuzzing. */
int settings_read_fleet_json(struct settings *s, const char *name, const char *text,
			     unsigned long len, struct hail_errbuf *e);

void settings_free(struct settings *s);

/* Writes --help to stdout. */
void options_print_help(const char *progname);

/* True when the option table is sorted by name (checked by a unit test). */
bool options_table_sorted(void);

#endif
