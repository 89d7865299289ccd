#include "userdata_check.h"

#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "netrc_check.h"
#include "period.h"
#include "userdata.h"

int userdata_check_read(const char *path, struct boot_settings *s, struct hail_errbuf *e)
{
	char *data = NULL, *json = NULL;
	size_t len = 0, json_len = 0;
	int ret;

	ret = file_read(path, USERDATA_MAX, &data, &len, e);
	if (ret == HAIL_E_PROTOCOL)
		return hail_fail(e, HAIL_E_USAGE, "user-data: larger than %d bytes", USERDATA_MAX);
	if (ret == HAIL_E_NOT_FOUND)
		return hail_fail(e, HAIL_E_NOT_FOUND, "%s: no such file", path);
	if (ret < 0)
		return HAIL_E_NOT_FOUND;        /* e names the file and why */
	ret = userdata_extract(data, len, &json, &json_len, e);
	if (ret == 0 && !json)
		ret = hail_fail(e, HAIL_E_USAGE, "user-data: no hail settings (no JSON object with "
				"a \"hail\" key, no #cloud-config with a hail: mapping)");
	if (ret == 0)
		ret = boot_settings_from_json(s, json, json_len, e);
	/* the job may come from the instance tag hail:job-uri, which only the
	 * instance has: everything else is checked */
	if (ret == 0 && s->job_uri)
		ret = boot_settings_finish(s, e);
	if (json) {
		explicit_bzero(json, json_len);
		free(json);
	}
	if (data) {
		explicit_bzero(data, len);
		free(data);
	}
	return ret < 0 && ret != HAIL_E_INTERNAL ? HAIL_E_USAGE : ret;
}

static void line(FILE *out, const char *key, const char *value)
{
	if (value)
		fprintf(out, "%-22s %s\n", key, value);
}

static void period_line(FILE *out, const char *key, unsigned seconds)
{
	char buf[32];

	if (!seconds)
		return;
	period_format(seconds, buf, sizeof(buf));
	line(out, key, buf);
}

static void list(FILE *out, const char *key, char *const *items)
{
	for (size_t i = 0; items[i]; i++)
		line(out, i ? "" : key, items[i]);
}

void userdata_check_print(const struct boot_settings *s, FILE *out)
{
	char buf[64];

	line(out, "job-uri:", s->job_uri ? s->job_uri :
	     "(none: the instance tag hail:job-uri must give it)");
	line(out, "profile:", s->profile ? s->profile : DEFAULT_PROFILE " (the default)");
	period_line(out, "poll-period:", s->poll_period_s);
	if (s->netrc) {
		fprintf(out, "netrc:\n");
		netrc_print_masked(s->netrc, strlen(s->netrc), "  ", out);
	}
	line(out, "netrc-ssm-parameter:", s->netrc_ssm_parameter);
	list(out, "substituters:", s->substituters);
	list(out, "trusted-public-keys:", s->trusted_keys);
	line(out, "lifecycle-hook:", s->lifecycle_hook);
	line(out, "autoscaling-group:", s->autoscaling_group);
	period_line(out, "lifecycle-heartbeat:", s->lifecycle_heartbeat_s);
	if (s->report_health)
		line(out, "report-health:", "true");
	line(out, "aws-endpoint-url:", s->aws_endpoint_url);
	period_line(out, "rollout-window:", s->rollout_window_s);
	line(out, "control-ssm-parameter:", s->control_ssm_parameter);
	if (s->keep_generations) {
		snprintf(buf, sizeof(buf), "%u", s->keep_generations);
		line(out, "keep-generations:", buf);
	}
	if (s->gc_given)
		line(out, "gc:", gc_mode_name(s->gc));
	if (s->min_free_after_given) {
		snprintf(buf, sizeof(buf), "%llu bytes", s->min_free_after);
		line(out, "min-free-after:", buf);
	}
	period_line(out, "contact-timeout:", s->contact_timeout_s);
	if (s->reboot_window_given) {
		window_format(&s->reboot_window, buf, sizeof(buf));
		line(out, "reboot-window:", buf);
	}
	line(out, "reboot-command:", s->reboot_command);
	line(out, "halt-alarm:", s->halt_alarm);
	if (s->cloudwatch_metrics)
		line(out, "cloudwatch-metrics:", "true");
	period_line(out, "cloudwatch-period:", s->cloudwatch_period_s);
	line(out, "cloudwatch-namespace:", s->cloudwatch_namespace);
}
