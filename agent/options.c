#include "options.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fleetmetrics.h"
#include "log.h"
#include "disksettings.h"
#include "period.h"
#include "strutil.h"

enum arg_type {
	ARG_NONE,       /* a switch; in a config file, a JSON boolean */
	ARG_STRING,
	ARG_PERIOD,     /* see period.h; in a config file also a number of minutes */
	ARG_COUNT,      /* a whole number in 1..COUNT_MAX; in a config file also a string */
	ARG_SIZE,       /* bytes, or with a K, M or G suffix; in a config file also a number */
	ARG_WINDOW,     /* HH:MM-HH:MM, UTC (window.h) */
	ARG_ACTION      /* --help, --version: command line only */
};

#define COUNT_MAX KEEP_GENERATIONS_MAX

_Static_assert(OPT_COUNT <= 64, "settings.given has a bit per option");

struct opt_def {
	const char *name;
	enum arg_type type;
	enum opt_id id;
	const char *metavar;
	const char *help;
};

/* Sorted by name: looked up with bsearch (a unit test checks the order). */
static const struct opt_def opt_table[] = {
	{ "activation-timeout", ARG_PERIOD, OPT_ACTIVATION_TIMEOUT, "PERIOD",
	  "kill bin/activate (its whole process group) after PERIOD; default 15m" },
	{ "autoscaling-group", ARG_STRING, OPT_AUTOSCALING_GROUP, "NAME",
	  "this machine's Auto Scaling group, a dimension of the fleet metrics" },
	{ "aws-endpoint-url", ARG_STRING, OPT_AWS_ENDPOINT_URL, "URL",
	  "AWS API endpoint for SSM (default: AWS_ENDPOINT_URL, else AWS's own)" },
	{ "ca-file", ARG_STRING, OPT_CA_FILE, "FILE",
	  "also trust the CAs in FILE (PEM) for Hydra, beside the system's" },
	{ "cloudwatch-metrics", ARG_NONE, OPT_CLOUDWATCH_METRICS, NULL,
	  "send the fleet metrics to CloudWatch (PutMetricData) after polls that change them" },
	{ "cloudwatch-namespace", ARG_STRING, OPT_CLOUDWATCH_NAMESPACE, "NAME",
	  "the fleet metrics' namespace; default hail" },
	{ "cloudwatch-period", ARG_PERIOD, OPT_CLOUDWATCH_PERIOD, "PERIOD",
	  "send the fleet metrics at least this often; default 5m" },
	{ "config", ARG_STRING, OPT_CONFIG, "FILE",
	  "read settings from a JSON object whose keys are these long flags" },
	{ "contact-timeout", ARG_PERIOD, OPT_CONTACT_TIMEOUT, "PERIOD",
	  "after a switch, roll back unless Hydra answers within PERIOD; default off" },
	{ "control-ssm-parameter", ARG_STRING, OPT_CONTROL_SSM_PARAMETER, "NAME",
	  "read the fleet's pause and pin from this SSM parameter every poll" },
	{ "event-command", ARG_STRING, OPT_EVENT_COMMAND, "PATH",
	  "run PATH (no shell, HAIL_EVENT etc. set) after each change of outcome" },
	{ "fetcher-user", ARG_STRING, OPT_FETCHER_USER, "USER",
	  "the user the network side runs as; default hail (nobody if there is none)" },
	{ "fleet-file", ARG_STRING, OPT_FLEET_FILE, "FILE",
	  "fleet settings shared by this machine's agents, when FILE exists" },
	{ "gc", ARG_STRING, OPT_GC, "MODE",
	  "collect Nix's garbage: off (default), when-needed (before a switch that does not fit), after-deploy" },
	{ "halt-alarm", ARG_STRING, OPT_HALT_ALARM, "NAME",
	  "adopt no new build while this CloudWatch alarm is in ALARM (or unreadable)" },
	{ "health-check-timeout", ARG_PERIOD, OPT_HEALTH_CHECK_TIMEOUT, "PERIOD",
	  "kill bin/health-check after PERIOD; default 5m" },
	{ "help", ARG_ACTION, OPT_HELP, NULL, "show this help and exit" },
	{ "http-timeout", ARG_PERIOD, OPT_HTTP_TIMEOUT, "PERIOD",
	  "give up on a Hydra request after PERIOD; default 60s" },
	{ "imds-endpoint", ARG_STRING, OPT_IMDS_ENDPOINT, "URL",
	  "read the hail:pause and hail:pin instance tags from this IMDS every poll" },
	{ "instance-id", ARG_STRING, OPT_INSTANCE_ID, "ID",
	  "this machine's identity for the rollout window; default /etc/machine-id" },
	{ "job-uri", ARG_STRING, OPT_JOB_URI, "URI",
	  "the Hydra job to follow: https://HOST/job/PROJECT/JOBSET/JOB" },
	{ "keep-generations", ARG_COUNT, OPT_KEEP_GENERATIONS, "N",
	  "after a successful activation, delete the generations beyond the newest N" },
	{ "metrics-file", ARG_STRING, OPT_METRICS_FILE, "FILE",
	  "write Prometheus metrics to FILE after every poll" },
	{ "min-free-after", ARG_SIZE, OPT_MIN_FREE_AFTER, "SIZE",
	  "switch only when the store keeps SIZE free after the download; default min(1G, 10%)" },
	{ "netrc-file", ARG_STRING, OPT_NETRC_FILE, "FILE",
	  "credentials for Hydra; default /etc/netrc when it exists" },
	{ "oneshot", ARG_NONE, OPT_ONESHOT, NULL,
	  "update once and exit: 0 when the profile is current and activated" },
	{ "poll-period", ARG_PERIOD, OPT_POLL_PERIOD, "PERIOD",
	  "time between polls: minutes, or 30s, 5m, 1h; default 5" },
	{ "profile", ARG_STRING, OPT_PROFILE, "PROFILE",
	  "a name under /nix/var/nix/profiles, or an absolute path" },
	{ "reboot-command", ARG_STRING, OPT_REBOOT_COMMAND, "PATH",
	  "run PATH (no arguments) to reboot; default systemctl reboot" },
	{ "reboot-window", ARG_WINDOW, OPT_REBOOT_WINDOW, "HH:MM-HH:MM",
	  "reboot in this daily UTC window when a build's bin/reboot-required says so" },
	{ "retry-failed", ARG_NONE, OPT_RETRY_FAILED, NULL,
	  "forget the builds whose activation failed, and try them again" },
	{ "rollout-window", ARG_PERIOD, OPT_ROLLOUT_WINDOW, "PERIOD",
	  "adopt a new build at its finish time plus this machine's offset in PERIOD" },
	{ "state-dir", ARG_STRING, OPT_STATE_DIR, "DIR",
	  "where state.json and the hold file live; default /var/lib/hail" },
	{ "switch-timeout", ARG_PERIOD, OPT_SWITCH_TIMEOUT, "PERIOD",
	  "kill nix-env --set after PERIOD; default 1h" },
	{ "verbose", ARG_NONE, OPT_VERBOSE, NULL, "log every poll, not only changes" },
	{ "version", ARG_ACTION, OPT_VERSION, NULL, "show the version and exit" },
	{ "wait-for-eval", ARG_NONE, OPT_WAIT_FOR_EVAL, NULL,
	  "deploy a build only once its whole evaluation has finished" },
};

#define OPT_TABLE_LEN (sizeof(opt_table) / sizeof(opt_table[0]))

bool options_table_sorted(void)
{
	for (size_t i = 1; i < OPT_TABLE_LEN; i++)
		if (strcmp(opt_table[i - 1].name, opt_table[i].name) >= 0)
			return false;
	return OPT_TABLE_LEN == OPT_COUNT;
}

static int cmp_name(const void *key, const void *elem)
{
	return strcmp(key, ((const struct opt_def *)elem)->name);
}

static const struct opt_def *opt_find(const char *name)
{
	return bsearch(name, opt_table, OPT_TABLE_LEN, sizeof(opt_table[0]), cmp_name);
}

void options_print_help(const char *progname)
{
	printf("Usage: %s --profile PROFILE --job-uri URI [--netrc-file FILE]\n"
	       "       %*s [--poll-period PERIOD | --oneshot] [--config FILE]\n"
	       "       %s status [--profile PROFILE] [--json] [--state-dir DIR]\n"
	       "       %s plan [settings...] [--json]   (what a poll would do; changes nothing)\n\n"
	       "Keeps a Nix profile on the latest successful build of a Hydra job and runs\n"
	       "its bin/activate after every switch.\n\nOptions:\n",
	       progname, (int)strlen(progname), "", progname, progname);
	for (size_t i = 0; i < OPT_TABLE_LEN; i++) {
		const struct opt_def *o = &opt_table[i];
		char left[48];

		snprintf(left, sizeof(left), "--%s%s%s", o->name, o->metavar ? " " : "",
			 o->metavar ? o->metavar : "");
		printf("  %-30s %s\n", left, o->help);
	}
	printf("\nSignals: SIGTERM/SIGINT stop between polls, SIGHUP polls now.\n");
}

static unsigned *period_field(struct settings *s, enum opt_id id)
{
	switch (id) {
	case OPT_ACTIVATION_TIMEOUT: return &s->activation_timeout_s;
	case OPT_HTTP_TIMEOUT: return &s->http_timeout_s;
	case OPT_POLL_PERIOD: return &s->poll_period_s;
	case OPT_SWITCH_TIMEOUT: return &s->switch_timeout_s;
	case OPT_HEALTH_CHECK_TIMEOUT: return &s->health_check_timeout_s;
	case OPT_ROLLOUT_WINDOW: return &s->rollout_window_s;
	case OPT_CONTACT_TIMEOUT: return &s->contact_timeout_s;
	case OPT_CLOUDWATCH_PERIOD: return &s->cloudwatch_period_s;
	default: return NULL;
	}
}

static unsigned *count_field(struct settings *s, enum opt_id id)
{
	switch (id) {
	case OPT_KEEP_GENERATIONS: return &s->keep_generations;
	default: return NULL;
	}
}

static char **string_field(struct settings *s, enum opt_id id)
{
	switch (id) {
	case OPT_CONFIG: return &s->config_file;
	case OPT_FLEET_FILE: return &s->fleet_file;
	case OPT_METRICS_FILE: return &s->metrics_file;
	case OPT_STATE_DIR: return &s->state_dir;
	case OPT_JOB_URI: return &s->job_uri;
	case OPT_NETRC_FILE: return &s->netrc_file;
	case OPT_PROFILE: return &s->profile;
	case OPT_AWS_ENDPOINT_URL: return &s->aws_endpoint_url;
	case OPT_CA_FILE: return &s->ca_file;
	case OPT_CONTROL_SSM_PARAMETER: return &s->control_ssm_parameter;
	case OPT_IMDS_ENDPOINT: return &s->imds_endpoint;
	case OPT_INSTANCE_ID: return &s->instance_id;
	case OPT_FETCHER_USER: return &s->fetcher_user;
	case OPT_GC: return &s->gc;
	case OPT_REBOOT_COMMAND: return &s->reboot_command;
	case OPT_EVENT_COMMAND: return &s->event_command;
	case OPT_HALT_ALARM: return &s->halt_alarm;
	case OPT_CLOUDWATCH_NAMESPACE: return &s->cloudwatch_namespace;
	case OPT_AUTOSCALING_GROUP: return &s->autoscaling_group;
	default: return NULL;
	}
}

static bool *bool_field(struct settings *s, enum opt_id id)
{
	switch (id) {
	case OPT_ONESHOT: return &s->oneshot;
	case OPT_VERBOSE: return &s->verbose;
	case OPT_RETRY_FAILED: return &s->retry_failed;
	case OPT_WAIT_FOR_EVAL: return &s->wait_for_eval;
	case OPT_CLOUDWATCH_METRICS: return &s->cloudwatch_metrics;
	case OPT_HELP: return &s->help;
	case OPT_VERSION: return &s->version;
	default: return NULL;
	}
}

/* Stores one value; src says where it came from ("--poll-period", or
 * "config file F: key poll-period") for the error message. */
static int set_string(struct settings *s, const struct opt_def *o, const char *value,
		      const char *src, struct hail_errbuf *e)
{
	char escaped[160];

	if (o->type == ARG_PERIOD) {
		if (period_parse(value, period_field(s, o->id)) < 0) {
			str_escape(escaped, sizeof(escaped), value, strlen(value));
			return hail_fail(e, HAIL_E_USAGE, "%s '%s': not a period "
					 "(minutes, or a number with s, m, h or d)", src, escaped);
		}
	} else if (o->type == ARG_SIZE) {
		if (size_parse(value, &s->min_free_after) < 0) {
			str_escape(escaped, sizeof(escaped), value, strlen(value));
			return hail_fail(e, HAIL_E_USAGE, "%s '%s': not a size (bytes, or a number "
					 "with K, M or G)", src, escaped);
		}
	} else if (o->type == ARG_WINDOW) {
		if (window_parse(value, &s->reboot_window) < 0) {
			str_escape(escaped, sizeof(escaped), value, strlen(value));
			return hail_fail(e, HAIL_E_USAGE, "%s '%s': not a daily window HH:MM-HH:MM "
					 "(UTC; its ends differ)", src, escaped);
		}
	} else if (o->type == ARG_COUNT) {
		unsigned long long n;

		if (str_to_u64(value, 1, COUNT_MAX, &n) < 0) {
			str_escape(escaped, sizeof(escaped), value, strlen(value));
			return hail_fail(e, HAIL_E_USAGE, "%s '%s': not a whole number from 1 to %d",
					 src, escaped, COUNT_MAX);
		}
		*count_field(s, o->id) = (unsigned)n;
	} else {
		char **field = string_field(s, o->id);
		char *copy;

		if (!*value)
			return hail_fail(e, HAIL_E_USAGE, "%s: empty value", src);
		copy = strdup(value);
		if (!copy)
			return hail_fail(e, HAIL_E_INTERNAL, "out of memory");
		free(*field);
		*field = copy;
	}
	s->given |= OPT_BIT(o->id);
	return 0;
}

static int parse_argv(struct settings *s, int argc, char **argv, struct hail_errbuf *e)
{
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *value = NULL;
		char name[64], src[80];
		const struct opt_def *o;
		const char *eq;
		size_t len;

		if (!strcmp(arg, "-h"))
			arg = "--help";
		else if (!strcmp(arg, "-V"))
			arg = "--version";
		if (strncmp(arg, "--", 2) != 0) {
			str_escape(name, sizeof(name), arg, strlen(arg));
			return hail_fail(e, HAIL_E_USAGE, "unexpected argument '%s'", name);
		}
		arg += 2;
		eq = strchr(arg, '=');
		len = eq ? (size_t)(eq - arg) : strlen(arg);
		if (len >= sizeof(name))
			len = sizeof(name) - 1;
		memcpy(name, arg, len);
		name[len] = '\0';
		o = opt_find(name);
		if (!o) {
			char escaped[80];

			str_escape(escaped, sizeof(escaped), name, len);
			return hail_fail(e, HAIL_E_USAGE, "unknown option '--%s' (see --help)", escaped);
		}
		snprintf(src, sizeof(src), "--%s", o->name);
		if (o->type == ARG_NONE || o->type == ARG_ACTION) {
			if (eq)
				return hail_fail(e, HAIL_E_USAGE, "%s takes no value", src);
			*bool_field(s, o->id) = true;
			s->given |= OPT_BIT(o->id);
			continue;
		}
		if (eq)
			value = eq + 1;
		else if (i + 1 < argc)
			value = argv[++i];
		else
			return hail_fail(e, HAIL_E_USAGE, "%s needs a value", src);
		if (set_string(s, o, value, src, e) < 0)
			return HAIL_E_USAGE;
	}
	return 0;
}

static int set_from_json(struct settings *s, const struct opt_def *o, const cJSON *v,
			 const char *src, struct hail_errbuf *e)
{
	switch (o->type) {
	case ARG_NONE:
		if (!cJSON_IsBool(v))
			return hail_fail(e, HAIL_E_USAGE, "%s: must be true or false", src);
		*bool_field(s, o->id) = cJSON_IsTrue(v);
		s->given |= OPT_BIT(o->id);
		return 0;
	case ARG_PERIOD:
		if (cJSON_IsNumber(v)) {
			double d = v->valuedouble;

			/* a number is minutes, as on the command line */
			if (d < 1 || d > PERIOD_MAX_SECONDS / 60 || d != (double)(unsigned)d)
				return hail_fail(e, HAIL_E_USAGE, "%s: %g is not a whole number of minutes "
						 "in range", src, d);
			*period_field(s, o->id) = (unsigned)d * 60;
			s->given |= OPT_BIT(o->id);
			return 0;
		}
		/* fall through */
	case ARG_STRING:
	case ARG_SIZE:
	case ARG_WINDOW:
	case ARG_COUNT:
		if (o->type == ARG_SIZE && cJSON_IsNumber(v)) {
			double d = v->valuedouble;

			if (d < 0 || d > 1e18 || d != (double)(unsigned long long)d)
				return hail_fail(e, HAIL_E_USAGE, "%s: %g is not a whole number of bytes",
						 src, d);
			s->min_free_after = (unsigned long long)d;
			s->given |= OPT_BIT(o->id);
			return 0;
		}
		if (o->type == ARG_COUNT && cJSON_IsNumber(v)) {
			double d = v->valuedouble;

			if (d < 1 || d > COUNT_MAX || d != (double)(unsigned)d)
				return hail_fail(e, HAIL_E_USAGE, "%s: %g is not a whole number from "
						 "1 to %d", src, d, COUNT_MAX);
			*count_field(s, o->id) = (unsigned)d;
			s->given |= OPT_BIT(o->id);
			return 0;
		}
		if (!cJSON_IsString(v))
			return hail_fail(e, HAIL_E_USAGE, "%s: must be a string", src);
		return set_string(s, o, v->valuestring, src, e);
	case ARG_ACTION:
		break;
	}
	return hail_fail(e, HAIL_E_USAGE, "%s: not allowed in a config file", src);
}

/* What a fleet file may set: what all agents on one machine share, and
 * nothing that chooses what an agent deploys. */
#define FLEET_KEYS (OPT_BIT(OPT_AWS_ENDPOINT_URL) | OPT_BIT(OPT_CONTROL_SSM_PARAMETER) | \
		    OPT_BIT(OPT_IMDS_ENDPOINT) | OPT_BIT(OPT_INSTANCE_ID) | \
		    OPT_BIT(OPT_ROLLOUT_WINDOW) | OPT_BIT(OPT_KEEP_GENERATIONS) | \
		    OPT_BIT(OPT_GC) | OPT_BIT(OPT_MIN_FREE_AFTER) | \
		    OPT_BIT(OPT_CONTACT_TIMEOUT) | OPT_BIT(OPT_REBOOT_WINDOW) | \
		    OPT_BIT(OPT_REBOOT_COMMAND) | OPT_BIT(OPT_HALT_ALARM) | \
		    OPT_BIT(OPT_CLOUDWATCH_METRICS) | OPT_BIT(OPT_CLOUDWATCH_NAMESPACE) | \
		    OPT_BIT(OPT_CLOUDWATCH_PERIOD) | OPT_BIT(OPT_AUTOSCALING_GROUP))

/* The config and the fleet file's reader; fleet limits it to FLEET_KEYS. */
static int read_json(struct settings *s, bool fleet, const char *name, const char *text,
		     unsigned long len, struct hail_errbuf *e)
{
	const char *kind = fleet ? "fleet file" : "config file";
	char fname[128];
	cJSON *root, *item;
	const char *end = NULL;
	int ret = 0;

	str_escape(fname, sizeof(fname), name, strlen(name));
	root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	if (!root)
		return hail_fail(e, HAIL_E_USAGE, "%s %s: not valid JSON (at byte %ld)",
				 kind, fname, end ? (long)(end - text) : 0L);
	if (!cJSON_IsObject(root)) {
		ret = hail_fail(e, HAIL_E_USAGE, "%s %s: must hold a JSON object", kind, fname);
		goto out;
	}
	cJSON_ArrayForEach(item, root) {
		const struct opt_def *o = opt_find(item->string);
		char key[64], src[256];

		str_escape(key, sizeof(key), item->string, strlen(item->string));
		if (o && fleet && !(FLEET_KEYS & (OPT_BIT(o->id)))) {
			/* refused even when given elsewhere: a file that tries
			 * to set a job or a profile is not the bootstrap's */
			ret = hail_fail(e, HAIL_E_USAGE, "fleet file %s: key %s: not a fleet setting "
					"(only rollout-window, control-ssm-parameter, aws-endpoint-url, "
					"imds-endpoint, instance-id, keep-generations, gc, min-free-after, "
					"contact-timeout, reboot-window, reboot-command, halt-alarm, cloudwatch-metrics, "
					"cloudwatch-namespace, cloudwatch-period and autoscaling-group)",
					fname, key);
			goto out;
		}
		if (!o || o->type == ARG_ACTION || o->id == OPT_CONFIG) {
			/* newer settings must not break an older hail */
			log_warning("%s %s: unknown key '%s' ignored", kind, fname, key);
			continue;
		}
		if (s->given & (OPT_BIT(o->id)))
			continue;       /* the command line (and the config file) win */
		snprintf(src, sizeof(src), "%s %s: key %s", kind, fname, key);
		ret = set_from_json(s, o, item, src, e);
		if (ret < 0)
			goto out;
	}
out:
	cJSON_Delete(root);
	return ret;
}

int settings_read_config_json(struct settings *s, const char *name, const char *text,
			      unsigned long len, struct hail_errbuf *e)
{
	return read_json(s, false, name, text, len, e);
}

int settings_read_fleet_json(struct settings *s, const char *name, const char *text,
			     unsigned long len, struct hail_errbuf *e)
{
	return read_json(s, true, name, text, len, e);
}

/* Reads the config file, or (fleet) the fleet file. A fleet file that does
 * not exist holds nothing (a machine outside EC2); one that exists but
 * cannot be read is an error: it may hold a pause, which must not be lost
 * quietly. */
static int read_settings_file(struct settings *s, const char *path, bool fleet,
			      struct hail_errbuf *e)
{
	const char *kind = fleet ? "fleet file" : "config file";
	char *buf = NULL, fname[128];
	size_t len = 0;
	ssize_t n;
	int fd, ret;

	str_escape(fname, sizeof(fname), path, strlen(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && fleet && errno == ENOENT) {
		log_info("fleet file %s: not there; no fleet settings", fname);
		return 0;
	}
	if (fd < 0)
		return hail_fail(e, HAIL_E_USAGE, "%s %s: %s", kind, fname, strerror(errno));
	buf = malloc(CONFIG_FILE_MAX + 1);
	if (!buf) {
		ret = hail_fail(e, HAIL_E_INTERNAL, "out of memory");
		goto out;
	}
	/* read one byte past the limit to tell "full" from "too big" */
	while ((n = read(fd, buf + len, CONFIG_FILE_MAX + 1 - len)) > 0)
		len += (size_t)n;
	if (n < 0) {
		ret = hail_fail(e, HAIL_E_USAGE, "%s %s: %s", kind, fname, strerror(errno));
		goto out;
	}
	if (len > CONFIG_FILE_MAX) {
		ret = hail_fail(e, HAIL_E_USAGE, "%s %s: larger than %d bytes",
				kind, fname, CONFIG_FILE_MAX);
		goto out;
	}
	ret = read_json(s, fleet, path, buf, len, e);
out:
	free(buf);
	close(fd);
	return ret;
}

static int fill_defaults(struct settings *s, struct hail_errbuf *e)
{
	if (!(s->given & OPT_BIT(OPT_POLL_PERIOD)))
		s->poll_period_s = DEFAULT_POLL_PERIOD_S;
	if (!(s->given & OPT_BIT(OPT_ACTIVATION_TIMEOUT)))
		s->activation_timeout_s = DEFAULT_ACTIVATION_TIMEOUT_S;
	if (!(s->given & OPT_BIT(OPT_SWITCH_TIMEOUT)))
		s->switch_timeout_s = DEFAULT_SWITCH_TIMEOUT_S;
	if (!(s->given & OPT_BIT(OPT_HTTP_TIMEOUT)))
		s->http_timeout_s = DEFAULT_HTTP_TIMEOUT_S;
	if (!(s->given & OPT_BIT(OPT_HEALTH_CHECK_TIMEOUT)))
		s->health_check_timeout_s = DEFAULT_HEALTH_CHECK_TIMEOUT_S;
	if (!(s->given & OPT_BIT(OPT_CLOUDWATCH_PERIOD)))
		s->cloudwatch_period_s = DEFAULT_CLOUDWATCH_PERIOD_S;
	if (!s->state_dir) {
		s->state_dir = strdup(DEFAULT_STATE_DIR);
		if (!s->state_dir)
			return hail_fail(e, HAIL_E_INTERNAL, "out of memory");
	}
	if (!s->netrc_file && access(DEFAULT_NETRC_FILE, F_OK) == 0) {
		s->netrc_file = strdup(DEFAULT_NETRC_FILE);
		if (!s->netrc_file)
			return hail_fail(e, HAIL_E_INTERNAL, "out of memory");
	}
	return 0;
}

int settings_load(struct settings *s, int argc, char **argv, struct hail_errbuf *e)
{
	bool cli_oneshot, cli_period;
	int ret;

	memset(s, 0, sizeof(*s));
	ret = parse_argv(s, argc, argv, e);
	if (ret < 0 || s->help || s->version)
		return ret;
	cli_oneshot = s->given & OPT_BIT(OPT_ONESHOT);
	cli_period = s->given & OPT_BIT(OPT_POLL_PERIOD);
	if (cli_oneshot && cli_period)
		return hail_fail(e, HAIL_E_USAGE, "--oneshot and --poll-period exclude each other");
	/* The bootstrap runs "--oneshot --config F" with a poll-period in F:
	 * a mode chosen on the command line overrides the file's. */
	if (cli_oneshot)
		s->given |= OPT_BIT(OPT_POLL_PERIOD);
	if (cli_period)
		s->given |= OPT_BIT(OPT_ONESHOT);
	if (s->config_file) {
		ret = read_settings_file(s, s->config_file, false, e);
		if (ret < 0)
			return ret;
		if (!cli_oneshot && !cli_period && s->oneshot &&
		    (s->given & OPT_BIT(OPT_POLL_PERIOD)))
			return hail_fail(e, HAIL_E_USAGE, "config file: oneshot and poll-period "
					 "exclude each other");
	}
	/* last, so that what this agent's own flags and config say wins */
	if (s->fleet_file) {
		ret = read_settings_file(s, s->fleet_file, true, e);
		if (ret < 0)
			return ret;
	}
	if (cli_oneshot)
		s->given &= ~OPT_BIT(OPT_POLL_PERIOD);
	if (cli_period)
		s->given &= ~OPT_BIT(OPT_ONESHOT);
	if (!s->profile)
		return hail_fail(e, HAIL_E_USAGE, "--profile is required");
	if (!s->job_uri)
		return hail_fail(e, HAIL_E_USAGE, "--job-uri is required");
	return fill_defaults(s, e);
}

void settings_free(struct settings *s)
{
	free(s->profile);
	free(s->job_uri);
	free(s->netrc_file);
	free(s->config_file);
	free(s->fleet_file);
	free(s->metrics_file);
	free(s->state_dir);
	free(s->aws_endpoint_url);
	free(s->ca_file);
	free(s->control_ssm_parameter);
	free(s->imds_endpoint);
	free(s->fetcher_user);
	free(s->gc);
	free(s->reboot_command);
	free(s->event_command);
	free(s->halt_alarm);
	free(s->cloudwatch_namespace);
	free(s->autoscaling_group);
	free(s->instance_id);
	memset(s, 0, sizeof(*s));
}
