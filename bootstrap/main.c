/* hail-bootstrap: first boot on EC2. Reads the instance's metadata, writes
 * the settings (install.h), installs the self-managing profile once with
 * "hail --oneshot" and hands over to the polling agent. Nothing is written
 * before every input has been read and validated. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "autoscaling.h"
#include "aws.h"
#include "child.h"
#include "http.h"
#include "imds.h"
#include "install.h"
#include "log.h"
#include "period.h"
#include "settings.h"
#include "signals.h"
#include "ssm.h"
#include "storepath.h"
#include "strutil.h"
#include "userdata.h"
#include "userdata_check.h"

#define BOOTSTRAP_VERSION "0.3.0"
#define USER_AGENT "hail-bootstrap/" BOOTSTRAP_VERSION
#define DEFAULT_WAIT_S (5 * 60)
#define INSTANCE_ID_MAX 64
#define TAG_LIST_MAX (16 * 1024)
#define TAG_VALUE_MAX 1024
#define DEFAULT_HEARTBEAT_S (5 * 60)
#define AGENT_EXIT_HELD 8       /* hail's exit status for a held profile */
#define LIFECYCLE_IMDS_WAIT_MS 30000

/* Exit statuses, one per kind of failure (README). */
enum {
	EXIT_OK = 0,
	EXIT_USAGE = 2,         /* a bad flag */
	EXIT_IMDS = 3,          /* IMDS disabled or did not answer in time */
	EXIT_METADATA = 4,      /* user-data or a tag is malformed: nothing written */
	EXIT_WRITE = 5,         /* a file could not be written */
	EXIT_AGENT = 6,         /* hail --oneshot failed */
	EXIT_HANDOFF = 7,       /* systemctl or exec failed */
	EXIT_AWS = 8,           /* an AWS API call (SSM, Auto Scaling) failed */
	EXIT_INTERNAL = 1
};

enum handoff { HANDOFF_SYSTEMD, HANDOFF_EXEC, HANDOFF_NONE };

struct boot_options {
	const char *imds_endpoint;
	const char *root;       /* "" for the machine itself */
	const char *hail;       /* the agent binary */
	const char *check;      /* --check FILE: read it, print, write nothing */
	unsigned wait_s;
	enum handoff handoff;
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: hail-bootstrap [--imds-endpoint URL] [--wait PERIOD] "
		"[--handoff systemd|exec|none]\n"
		"                      [--root DIR] [--hail PATH]\n"
		"       hail-bootstrap --check FILE\n\n"
		"Configures this EC2 instance from its metadata (user-data, tags), installs the\n"
		"self-managing hail profile once and hands over to the polling agent.\n\n"
		"  --imds-endpoint URL  IMDS base URL (default: AWS_EC2_METADATA_SERVICE_ENDPOINT,\n"
		"                       else http://169.254.169.254)\n"
		"  --wait PERIOD        how long to wait for IMDS at boot (default 5m)\n"
		"  --handoff MODE       systemd: systemctl enable --now hail@PROFILE (default);\n"
		"                       exec: become the polling agent; none: stop after install\n"
		"  --root DIR           write the files below DIR; no install, no hand-off\n"
		"  --hail PATH          the agent (default: hail beside this program, else PATH)\n"
		"  --check FILE         read FILE as user-data (JSON, gzip, MIME, #cloud-config)\n"
		"                       and print the settings it holds, secrets masked; 0 when\n"
		"                       good, 4 when not; writes nothing, asks no network\n"
		"  --help, --version\n");
}

static int parse_flags(int argc, char **argv, struct boot_options *o, struct hail_errbuf *e)
{
	static const struct option longopts[] = {
		{ "imds-endpoint", required_argument, NULL, 'i' },
		{ "wait", required_argument, NULL, 'w' },
		{ "handoff", required_argument, NULL, 'H' },
		{ "root", required_argument, NULL, 'r' },
		{ "hail", required_argument, NULL, 'a' },
		{ "check", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'i': o->imds_endpoint = optarg; break;
		case 'r': o->root = optarg; break;
		case 'a': o->hail = optarg; break;
		case 'c': o->check = optarg; break;
		case 'w':
			if (period_parse(optarg, &o->wait_s) < 0)
				return hail_fail(e, HAIL_E_USAGE, "--wait '%s': not a period", optarg);
			break;
		case 'H':
			if (!strcmp(optarg, "systemd")) o->handoff = HANDOFF_SYSTEMD;
			else if (!strcmp(optarg, "exec")) o->handoff = HANDOFF_EXEC;
			else if (!strcmp(optarg, "none")) o->handoff = HANDOFF_NONE;
			else return hail_fail(e, HAIL_E_USAGE, "--handoff '%s': systemd, exec or none",
					      optarg);
			break;
		case 'h': usage(stdout); exit(EXIT_OK);
		case 'V': printf("hail-bootstrap %s\n", BOOTSTRAP_VERSION); exit(EXIT_OK);
		default:
			return hail_fail(e, HAIL_E_USAGE, "unknown or incomplete option '%s'",
					 argv[optind - 1]);
		}
	}
	if (optind < argc)
		return hail_fail(e, HAIL_E_USAGE, "unexpected argument '%s'", argv[optind]);
	if (o->root[0] && o->root[0] != '/')
		return hail_fail(e, HAIL_E_USAGE, "--root '%s': must be an absolute path", o->root);
	return 0;
}

/* User-data first, then tags for what user-data left unset. */
static int read_settings(struct imds *m, struct boot_settings *s, struct hail_errbuf *e)
{
	static const char *const tags[] = { "hail:job-uri", "hail:profile", "hail:poll-period" };
	char *body = NULL, *json = NULL;
	size_t len, json_len;
	int ret;

	ret = imds_get(m, "user-data", USERDATA_MAX, &body, &len, e);
	if (ret == HAIL_E_PROTOCOL)
		return hail_fail(e, HAIL_E_USAGE, "user-data: larger than %d bytes", USERDATA_MAX);
	if (ret < 0 && ret != HAIL_E_NOT_FOUND)
		return ret;
	if (ret == 0) {
		ret = userdata_extract(body, len, &json, &json_len, e);
		if (ret == 0 && json)
			ret = boot_settings_from_json(s, json, json_len, e);
		else if (ret == 0)
			log_info("user-data holds no hail settings");
		free(json);
		free(body);
		body = NULL;
		if (ret < 0)
			return ret;
	}
	ret = imds_get(m, "meta-data/tags/instance/", TAG_LIST_MAX, &body, &len, e);
	if (ret == HAIL_E_NOT_FOUND)
		return 0;       /* tags in metadata are off for this instance */
	if (ret < 0)
		return ret;
	for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]) && ret == 0; i++) {
		char path[128], *value = NULL;
		size_t vlen;

		if (!imds_listing_has(body, tags[i]))
			continue;
		snprintf(path, sizeof(path), "meta-data/tags/instance/%s", tags[i]);
		ret = imds_get(m, path, TAG_VALUE_MAX, &value, &vlen, e);
		if (ret == 0 && strlen(value) != vlen)
			ret = hail_fail(e, HAIL_E_USAGE, "instance tag %s: holds a NUL byte", tags[i]);
		if (ret == 0)
			ret = boot_settings_from_tag(s, tags[i], value, e);
		if (ret == HAIL_E_NOT_FOUND)
			ret = 0;        /* removed since the listing */
		free(value);
	}
	free(body);
	return ret;
}

static int read_instance_id(struct imds *m, char **id, struct hail_errbuf *e)
{
	size_t len;
	int ret = imds_get(m, "meta-data/instance-id", INSTANCE_ID_MAX, id, &len, e);

	if (ret < 0)
		return ret;
	for (size_t i = 0; i < len; i++)
		if (!((*id)[i] >= 'a' && (*id)[i] <= 'z') && !((*id)[i] >= '0' && (*id)[i] <= '9') &&
		    (*id)[i] != '-') {
			free(*id);
			*id = NULL;
			return hail_fail(e, HAIL_E_USAGE, "meta-data/instance-id: not an instance id");
		}
	return 0;
}

/* The agent that comes with this program, else whatever "hail" PATH finds. */
static const char *default_hail(char *buf, size_t size)
{
	ssize_t n = readlink("/proc/self/exe", buf, size - 6);
	char *slash;

	if (n > 0) {
		buf[n] = '\0';
		slash = strrchr(buf, '/');
		if (slash) {
			memcpy(slash + 1, "hail", 5);   /* fits: size - 6 above */
			if (access(buf, X_OK) == 0)
				return buf;
		}
	}
	return "hail";
}

/* The Auto Scaling side of the first boot: which group waits for us, and
 * the heartbeats that keep it waiting while the first pull runs. */
struct lifecycle {
	struct aws *aws;                /* borrowed; NULL: no AWS calls */
	const char *hook;               /* borrowed; NULL: no launch hook */
	const char *instance_id;        /* borrowed */
	char *group;                    /* owned */
	unsigned heartbeat_s;
	long long last_heartbeat_ms;
};

static struct lifecycle *heartbeat_target;      /* for the signals tick */

/* EC2 tags the group's instances; IMDS shows it when tags are on. 0 with
 * lc->group set, or why not (lc->group NULL). */
static int group_from_tag(struct lifecycle *lc, struct imds *m, struct hail_errbuf *e)
{
	size_t len;
	int ret;

	ret = imds_get(m, "meta-data/tags/instance/aws:autoscaling:groupName", ASG_NAME_MAX,
		       &lc->group, &len, e);
	if (ret == 0 && asg_name_valid(lc->group))
		return 0;
	free(lc->group);
	lc->group = NULL;
	return ret < 0 ? ret : HAIL_E_PROTOCOL;
}

static int find_group(struct lifecycle *lc, struct imds *m, const char *configured,
		      struct hail_errbuf *e)
{
	int ret;

	if (configured) {
		lc->group = strdup(configured);
		return lc->group ? 0 : hail_fail(e, HAIL_E_INTERNAL, "out of memory");
	}
	ret = group_from_tag(lc, m, e);
	if (ret == 0 || (ret != HAIL_E_NOT_FOUND && ret != HAIL_E_PROTOCOL))
		return ret;
	return asg_group_of(lc->aws, lc->instance_id, &lc->group, e);
}

/* The group for the fleet metrics' dimension: the lifecycle's, the one
 * configured, else EC2's tag. Not knowing it is no error: the metrics then
 * go with the Profile dimension alone. */
static const char *metrics_group(struct lifecycle *lc, struct imds *m,
				 const struct boot_settings *s)
{
	struct hail_errbuf e;

	if (lc->group)
		return lc->group;
	if (s->autoscaling_group)
		return s->autoscaling_group;
	if (group_from_tag(lc, m, &e) == 0)
		return lc->group;
	log_info("no Auto Scaling group known (no autoscaling-group, no aws:autoscaling:groupName "
		 "tag): the fleet metrics go with the Profile dimension alone");
	return NULL;
}

static void send_heartbeat(void)
{
	struct lifecycle *lc = heartbeat_target;
	struct hail_errbuf e;
	long long now = monotonic_ms();

	if (!lc || now - lc->last_heartbeat_ms < (long long)lc->heartbeat_s * 1000)
		return;
	lc->last_heartbeat_ms = now;
	imds_set_wait(lc->aws->imds, LIFECYCLE_IMDS_WAIT_MS);   /* --wait ran out long ago */
	if (asg_heartbeat(lc->aws, lc->group, lc->hook, lc->instance_id, &e) < 0)
		log_warning("lifecycle heartbeat: %s", e.msg);
	else
		log_info("lifecycle heartbeat sent to %s (hook %s)", lc->group, lc->hook);
}

/* Tells the group how the first boot went: CONTINUE puts the instance in
 * service, ABANDON has it replaced. Without a hook, "report-health" marks a
 * failed instance Unhealthy. */
static int report_outcome(struct lifecycle *lc, bool ok, bool report_health,
			  struct hail_errbuf *e)
{
	int ret;

	if (!lc->aws)
		return 0;
	imds_set_wait(lc->aws->imds, LIFECYCLE_IMDS_WAIT_MS);   /* for fresh credentials */
	if (lc->hook && lc->group) {
		ret = asg_complete(lc->aws, lc->group, lc->hook, lc->instance_id, ok, e);
		if (ret == HAIL_E_NOT_FOUND) {
			log_info("no lifecycle action of %s waits for this instance (a later boot, "
				 "or the hook's time ran out)", lc->group);
			return 0;
		}
		if (ret == 0)
			log_info("lifecycle action completed: %s (group %s, hook %s)",
				 ok ? "CONTINUE" : "ABANDON", lc->group, lc->hook);
		return ret;
	}
	if (!ok && report_health) {
		ret = asg_set_unhealthy(lc->aws, lc->instance_id, e);
		if (ret == 0)
			log_info("reported this instance Unhealthy to Auto Scaling");
		return ret;
	}
	return 0;
}

/* The AWS calls before anything is written: the netrc from SSM, the group
 * whose launch hook waits. Returns an exit status. */
static int fleet_setup(struct imds *m, struct aws *aws, struct lifecycle *lc,
		       struct boot_settings *s, const char *instance_id, bool lifecycle,
		       struct hail_errbuf *e)
{
	char *netrc = NULL;
	size_t len;
	int ret;

	ret = aws_open(aws, m, s->aws_endpoint_url, USER_AGENT, e);
	if (ret < 0)
		goto out;
	if (lifecycle) {
		lc->aws = aws;
		lc->hook = s->lifecycle_hook;
		lc->instance_id = instance_id;
		lc->heartbeat_s = s->lifecycle_heartbeat_s ? s->lifecycle_heartbeat_s :
			DEFAULT_HEARTBEAT_S;
	}
	if (lc->hook) {
		ret = find_group(lc, m, s->autoscaling_group, e);
		if (ret < 0)
			goto out;
		log_info("Auto Scaling group %s waits on lifecycle hook %s", lc->group, lc->hook);
	}
	if (s->netrc_ssm_parameter) {
		ret = ssm_get_parameter(aws, s->netrc_ssm_parameter, &netrc, &len, e);
		if (ret == 0)
			ret = boot_settings_netrc_from_ssm(s, netrc, e);
		if (ret == 0)
			ret = boot_settings_finish(s, e);   /* checks the netrc's host */
		if (ret == 0)
			log_info("netrc read from SSM parameter %s", s->netrc_ssm_parameter);
	}
out:
	if (netrc) {
		explicit_bzero(netrc, len);
		free(netrc);
	}
	if (ret == 0)
		return EXIT_OK;
	log_error(0, "%s", e->msg);
	return ret == HAIL_E_USAGE ? EXIT_METADATA : ret == HAIL_E_INTERNAL ? EXIT_INTERNAL :
		EXIT_AWS;
}

static int run_oneshot(const struct boot_options *o, const struct install_paths *p,
		       struct hail_errbuf *e)
{
	const char *argv[] = { o->hail, "--oneshot", "--config", p->config_on_machine, NULL };
	struct child_result res;
	char how[128];

	log_info("installing: %s --oneshot --config %s", o->hail, p->config_on_machine);
	if (child_run(argv, 0, &res) < 0)
		return hail_fail(e, HAIL_E_NIX, "cannot run %s: %s", o->hail, strerror(res.spawn_errno));
	if (!res.timed_out && WIFEXITED(res.wait_status) &&
	    WEXITSTATUS(res.wait_status) == AGENT_EXIT_HELD) {
		/* a later boot: a hold, a pause or the rollout keeps the build */
		log_info("the profile is held where it is; the agent decides from here");
		return 0;
	}
	if (!child_succeeded(&res)) {
		child_describe(&res, how, sizeof(how));
		return hail_fail(e, HAIL_E_NIX, "%s --oneshot %s", o->hail, how);
	}
	return 0;
}

/* Becomes the polling agent. Called with every libcurl handle closed, and
 * with the signals still blocked: a SIGHUP or SIGTERM from now on waits for
 * the agent, which takes it as a poll-now or a stop (signals.h). */
static int exec_agent(const struct boot_options *o, const struct install_paths *p,
		      struct hail_errbuf *e)
{
	char *const argv[] = { (char *)o->hail, "--config", (char *)p->config_on_machine, NULL };

	log_info("handing over: exec %s --config %s", o->hail, p->config_on_machine);
	child_exec(argv);
	return hail_fail(e, HAIL_E_INTERNAL, "exec %s: %s", o->hail, strerror(errno));
}

/* The systemd hand-off, or none; exec_agent() is the third kind. */
static int handoff(const struct boot_options *o, const char *profile, struct hail_errbuf *e)
{
	char unit[PROFILE_NAME_MAX + 32];
	struct child_result res;
	char how[128];

	switch (o->handoff) {
	case HANDOFF_NONE:
	case HANDOFF_EXEC:
		return 0;
	case HANDOFF_SYSTEMD: {
		/* --no-block: hail@ is ordered after this unit, which is still
		 * starting: waiting for its start job here would deadlock */
		const char *argv[] = { "systemctl", "enable", "--now", "--no-block", unit, NULL };

		snprintf(unit, sizeof(unit), "hail@%s.service", profile);
		log_info("handing over: systemctl enable --now --no-block %s", unit);
		if (child_run(argv, 120, &res) < 0)
			return hail_fail(e, HAIL_E_INTERNAL, "cannot run systemctl: %s",
					 strerror(res.spawn_errno));
		if (!child_succeeded(&res)) {
			child_describe(&res, how, sizeof(how));
			return hail_fail(e, HAIL_E_INTERNAL, "systemctl enable --now --no-block %s %s", unit, how);
		}
		return 0;
	}
	}
	return 0;
}

/* The store path the profile points to, for the record; NULL when none. */
static char *profile_target(const char *profile)
{
	char buf[PATH_MAX];
	char *real = realpath(profile, buf);

	return real && storepath_valid(real, strlen(real), NULL) ? strdup(real) : NULL;
}

/* --check FILE: an exit status. */
static int check_main(const char *path)
{
	struct boot_settings s = { 0 };
	struct hail_errbuf e = { "" };
	int ret = userdata_check_read(path, &s, &e);

	if (ret == 0) {
		printf("%s: good user-data; hail-bootstrap would write:\n", path);
		userdata_check_print(&s, stdout);
	} else {
		log_error(0, "%s", e.msg);
	}
	boot_settings_free(&s);
	return ret == 0 ? EXIT_OK : ret == HAIL_E_NOT_FOUND ? EXIT_USAGE :
		ret == HAIL_E_INTERNAL ? EXIT_INTERNAL : EXIT_METADATA;
}

int main(int argc, char **argv)
{
	struct boot_options o = { .root = "", .wait_s = DEFAULT_WAIT_S,
				  .handoff = HANDOFF_SYSTEMD };
	struct hail_errbuf e = { "" };
	struct boot_settings s = { 0 };
	struct install_paths paths;
	struct imds m = { 0 };
	struct aws aws = { 0 };
	struct lifecycle lc = { 0 };
	struct install_instance instance = { 0 };
	char *instance_id = NULL, *store_path = NULL, hail_buf[PATH_MAX];
	bool changed = false, installed = false;
	int status = EXIT_OK, ret;

	log_init("hail-bootstrap");
	o.hail = default_hail(hail_buf, sizeof(hail_buf));
	if (parse_flags(argc, argv, &o, &e) < 0) {
		log_error(0, "%s", e.msg);
		fprintf(stderr, "Try 'hail-bootstrap --help'.\n");
		return EXIT_USAGE;
	}
	if (o.check)
		return check_main(o.check);
	if (signals_setup() < 0 || http_global_init() < 0) {
		log_error(0, "cannot initialise");
		return EXIT_INTERNAL;
	}
	if (imds_open(&m, o.imds_endpoint, o.wait_s, USER_AGENT, &e) < 0) {
		log_error(0, "%s", e.msg);
		status = EXIT_IMDS;
		goto out;
	}
	ret = read_instance_id(&m, &instance_id, &e);
	if (ret == 0)
		ret = read_settings(&m, &s, &e);
	if (ret == 0)
		ret = boot_settings_finish(&s, &e);
	if (ret == 0)
		ret = install_paths_init(&paths, o.root, s.profile, &e);
	if (ret < 0) {
		log_error(0, "%s", e.msg);
		status = ret == HAIL_E_USAGE ? EXIT_METADATA :
			ret == HAIL_E_INTERNAL ? EXIT_INTERNAL : EXIT_IMDS;
		goto out;
	}
	log_info("instance %s follows %s (from %s) into profile %s after %u IMDS requests",
		 instance_id, s.job_uri, s.job_uri_source, s.profile, m.requests);

	/* --root writes the files only: SSM for the netrc, no lifecycle calls */
	if (s.netrc_ssm_parameter || (boot_settings_use_aws(&s) && !o.root[0])) {
		status = fleet_setup(&m, &aws, &lc, &s, instance_id, !o.root[0], &e);
		if (status != EXIT_OK)
			goto report;
	}
	instance.instance_id = instance_id;
	instance.imds_endpoint = m.endpoint;
	if (s.cloudwatch_metrics)
		instance.autoscaling_group = metrics_group(&lc, &m, &s);
	ret = install_write(&paths, &s, &instance, &changed, &e);
	if (ret < 0) {
		log_error(0, "%s", e.msg);
		status = EXIT_WRITE;
		goto report;
	}
	if (!changed)
		log_info("settings unchanged");
	if (o.root[0]) {
		log_info("--root %s: files written; not installing or handing over", o.root);
		goto out;
	}
	if (lc.hook && lc.group) {
		heartbeat_target = &lc;
		lc.last_heartbeat_ms = monotonic_ms();
		signals_set_tick(send_heartbeat, 1000);
	}
	ret = run_oneshot(&o, &paths, &e);
	signals_set_tick(NULL, 0);
	heartbeat_target = NULL;
	if (ret < 0) {
		/* still hand over: the agent keeps trying until Hydra is back */
		log_error(0, "%s", e.msg);
		status = EXIT_AGENT;
	}
	installed = true;
	store_path = profile_target(paths.profile);
	if (install_record(&paths, &s, instance_id, store_path, &e) < 0) {
		log_error(0, "%s", e.msg);
		status = EXIT_WRITE;
	}
	/* the agent runs before the group puts the instance in service; an
	 * exec hand-off can only come last */
	if (handoff(&o, s.profile, &e) < 0) {
		log_error(0, "%s", e.msg);
		status = EXIT_HANDOFF;
	}
report:
	/* after the record: a replaced instance leaves its reason behind */
	if (report_outcome(&lc, status == EXIT_OK, s.report_health, &e) < 0) {
		log_error(0, "%s", e.msg);
		if (status == EXIT_OK)
			status = EXIT_AWS;
	}
out:
	free(lc.group);
	aws_close(&aws);
	free(store_path);
	free(instance_id);
	boot_settings_free(&s);
	imds_close(&m);
	http_global_cleanup();
	/* after the clean-up: exec keeps what is open, and libcurl's kept-alive
	 * connections to IMDS and AWS are no business of the agent's */
	if (installed && o.handoff == HANDOFF_EXEC && exec_agent(&o, &paths, &e) < 0) {
		log_error(0, "%s", e.msg);
		status = EXIT_HANDOFF;
	}
	return status;
}
