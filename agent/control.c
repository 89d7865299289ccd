#include "control.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rfc3339.h"
#include "ssm.h"
#include "fleetmetrics.h"
#include "profilename.h"
#include "strutil.h"
#include "url.h"

#define IMDS_WAIT_MS 2000       /* per poll: IMDS is local or it is down */
#define TAG_LIST_MAX (16 * 1024)
#define TAG_VALUE_MAX 256
#define CONTROL_JSON_MAX 4096
#define PIN_MAX (1ull << 53)    /* ids stay exact in JSON numbers */
#define CONTROL_USER_AGENT "hail/" HAIL_VERSION
#define NO_TAGS "not in this instance's metadata (InstanceMetadataTags is off): " \
	"a hail:pause or hail:pin they set before stays in force"

bool control_wanted(const struct settings *set)
{
	return set->imds_endpoint || set->control_ssm_parameter || set->halt_alarm ||
		set->cloudwatch_metrics;
}

int control_open(struct control *c, const struct settings *set, struct hail_errbuf *e)
{
	int ret;

	memset(c, 0, sizeof(*c));
	c->tags.name = "instance tags";
	c->fleet.name = "SSM parameter";
	c->ssm_name = set->control_ssm_parameter;
	c->aws_endpoint_url = set->aws_endpoint_url;
	if (c->ssm_name && !ssm_name_valid(c->ssm_name))
		return hail_fail(e, HAIL_E_USAGE, "control-ssm-parameter: not an SSM parameter name");
	if (set->cloudwatch_namespace && !metric_namespace_valid(set->cloudwatch_namespace))
		return hail_fail(e, HAIL_E_USAGE, "cloudwatch-namespace: not a CloudWatch namespace "
				 "(1 to 255 printable characters, not AWS/...)");
	if (set->autoscaling_group && !metric_dimension_valid(set->autoscaling_group))
		return hail_fail(e, HAIL_E_USAGE, "autoscaling-group: not a group name (1 to 255 "
				 "bytes, no control characters)");
	if (set->halt_alarm && !alarm_name_valid(set->halt_alarm))
		return hail_fail(e, HAIL_E_USAGE, "halt-alarm: not a CloudWatch alarm name (1 to "
				 "255 printable characters)");
	if (c->aws_endpoint_url && !url_is_secure_endpoint(c->aws_endpoint_url))
		return hail_fail(e, HAIL_E_USAGE, "aws-endpoint-url: not an https URL (http only "
				 "to this machine), or it holds a user, query or fragment");
	/* the role's credentials come from IMDS too */
	ret = imds_open(&c->imds, set->imds_endpoint, 0, CONTROL_USER_AGENT, e);
	if (ret < 0)
		return hail_wrap(e, ret, "imds-endpoint");
	c->imds_open = true;
	return 0;
}

void control_close(struct control *c)
{
	if (c->aws_open)
		aws_close(&c->aws);
	if (c->imds_open)
		imds_close(&c->imds);
	memset(c, 0, sizeof(*c));
}

static void trim(char *s)
{
	size_t n = strlen(s);

	while (n && (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == '\t'))
		s[--n] = '\0';
	memmove(s, s + strspn(s, " \t\r\n"), strlen(s + strspn(s, " \t\r\n")) + 1);
}

int control_parse_pause(const char *text, struct control_value *v, struct hail_errbuf *e)
{
	char buf[TAG_VALUE_MAX], shown[64];
	time_t until;

	snprintf(buf, sizeof(buf), "%s", text);
	trim(buf);
	if (!strcasecmp(buf, "true")) {
		v->pause = true;
		v->pause_until = 0;
		return 0;
	}
	if (!buf[0] || !strcasecmp(buf, "false")) {
		v->pause = false;
		v->pause_until = 0;
		return 0;
	}
	if (rfc3339_parse(buf, &until) == 0) {
		v->pause = true;
		v->pause_until = until;
		return 0;
	}
	str_escape(shown, sizeof(shown), text, strlen(text));
	return hail_fail(e, HAIL_E_USAGE, "pause '%s': not true, false or an RFC 3339 time", shown);
}

int control_parse_pin(const char *text, struct control_value *v, struct hail_errbuf *e)
{
	char buf[TAG_VALUE_MAX], shown[64];
	unsigned long long id;

	snprintf(buf, sizeof(buf), "%s", text);
	trim(buf);
	if (!buf[0]) {
		v->pin = 0;
		return 0;
	}
	if (str_to_u64(buf, 1, PIN_MAX, &id) == 0) {
		v->pin = id;
		return 0;
	}
	str_escape(shown, sizeof(shown), text, strlen(text));
	return hail_fail(e, HAIL_E_USAGE, "pin '%s': not a Hydra build id", shown);
}

int control_parse_fleet_json(const char *text, size_t len, struct control_value *v,
			     struct hail_errbuf *e)
{
	struct control_value next = { 0 };
	cJSON *doc = len <= CONTROL_JSON_MAX ? cJSON_ParseWithLength(text, len) : NULL;
	const cJSON *pause = cJSON_GetObjectItemCaseSensitive(doc, "pause");
	const cJSON *pin = cJSON_GetObjectItemCaseSensitive(doc, "pin");
	char num[32];
	int ret = 0;

	if (len > CONTROL_JSON_MAX) {
		ret = hail_fail(e, HAIL_E_USAGE, "larger than %d bytes", CONTROL_JSON_MAX);
		goto out;
	}
	if (!cJSON_IsObject(doc)) {
		ret = hail_fail(e, HAIL_E_USAGE, "not a JSON object");
		goto out;
	}
	if (cJSON_IsBool(pause))
		next.pause = cJSON_IsTrue(pause);
	else if (cJSON_IsString(pause))
		ret = control_parse_pause(pause->valuestring, &next, e);
	else if (pause && !cJSON_IsNull(pause))
		ret = hail_fail(e, HAIL_E_USAGE, "pause: not true, false, a time or null");
	if (ret < 0)
		goto out;
	if (cJSON_IsNumber(pin)) {
		double d = pin->valuedouble;

		snprintf(num, sizeof(num), "%.0f", d);
		/* range first: a cast of an out-of-range double is undefined */
		if (!(d >= 1 && d <= (double)PIN_MAX) || d != (double)(unsigned long long)d ||
		    control_parse_pin(num, &next, e) < 0)
			ret = hail_fail(e, HAIL_E_USAGE, "pin: not a Hydra build id");
	} else if (cJSON_IsString(pin)) {
		ret = control_parse_pin(pin->valuestring, &next, e);
	} else if (pin && !cJSON_IsNull(pin)) {
		ret = hail_fail(e, HAIL_E_USAGE, "pin: not a build id or null");
	}
	if (ret == 0)
		*v = next;
out:
	cJSON_Delete(doc);
	return ret;
}

/* Logs a source's problem once, and its recovery. */
static void note_problem(struct control_source *s, const char *problem)
{
	if (!strcmp(s->problem, problem))
		return;
	if (!strcmp(problem, NO_TAGS))
		log_info("%s: %s", s->name, problem);
	else if (problem[0])
		log_warning("%s: %s; keeping what it said before", s->name, problem);
	else
		log_info("%s: readable again", s->name);
	snprintf(s->problem, sizeof(s->problem), "%s", problem);
}

/* One tag: its parser runs on the value, or on "" when the tag is gone
 * from a listing IMDS gave. */
static int read_tag(struct control *c, const char *list, const char *key,
		    int (*parse)(const char *, struct control_value *, struct hail_errbuf *),
		    struct control_value *v, struct hail_errbuf *e)
{
	char path[96], *value = NULL;
	size_t len;
	int ret;

	if (!imds_listing_has(list, key))
		return parse("", v, e);
	snprintf(path, sizeof(path), "meta-data/tags/instance/%s", key);
	ret = imds_get(&c->imds, path, TAG_VALUE_MAX, &value, &len, e);
	if (ret == HAIL_E_NOT_FOUND)
		ret = parse("", v, e);          /* removed since the listing */
	else if (ret == 0)
		ret = parse(value, v, e);
	if (ret == HAIL_E_USAGE)
		hail_wrap(e, ret, "tag %s", key);
	free(value);
	return ret;
}

static void read_tags(struct control *c, struct control_reading *r)
{
	struct hail_errbuf e = { "" };
	char *list = NULL;
	size_t len;
	int ret;

	memset(r, 0, sizeof(*r));
	imds_set_wait(&c->imds, IMDS_WAIT_MS);
	/* a 404 here (tags not in this instance's metadata) is no listing:
	 * unreadable, like a 503, so that a pause in force stays */
	ret = imds_get(&c->imds, "meta-data/tags/instance/", TAG_LIST_MAX, &list, &len, &e);
	if (ret == HAIL_E_NOT_FOUND)
		hail_fail(&e, ret, NO_TAGS);
	if (ret == 0)
		ret = read_tag(c, list, "hail:pause", control_parse_pause, &r->v, &e);
	if (ret == 0)
		ret = read_tag(c, list, "hail:pin", control_parse_pin, &r->v, &e);
	free(list);
	r->kind = ret == 0 ? READING_VALUE : READING_UNREADABLE;
	note_problem(&c->tags, ret == 0 ? "" : e.msg);
}

/* The role's AWS client, opened when first needed. */
static int need_aws(struct control *c, struct hail_errbuf *e)
{
	int ret = 0;

	imds_set_wait(&c->imds, IMDS_WAIT_MS);
	if (!c->aws_open) {
		ret = aws_open(&c->aws, &c->imds, c->aws_endpoint_url, CONTROL_USER_AGENT, e);
		c->aws_open = ret == 0;
	}
	return ret;
}

static void read_fleet(struct control *c, struct control_reading *r)
{
	struct hail_errbuf e = { "" };
	char *text = NULL;
	size_t len = 0;
	int ret = 0;

	memset(r, 0, sizeof(*r));
	ret = need_aws(c, &e);
	if (ret < 0) {
		/* no credentials or region (IMDS's 404 among them): unreadable */
		r->kind = READING_UNREADABLE;
		note_problem(&c->fleet, e.msg);
		return;
	}
	ret = ssm_get_parameter(&c->aws, c->ssm_name, &text, &len, &e);
	if (ret == HAIL_E_NOT_FOUND) {
		/* SSM said ParameterNotFound (ssm.h): no fleet-wide pause or pin */
		r->kind = READING_ABSENT;
		ret = 0;
	} else if (ret == 0) {
		ret = control_parse_fleet_json(text, len, &r->v, &e);
		if (ret < 0)
			hail_wrap(&e, ret, "%s", c->ssm_name);
		r->kind = ret == 0 ? READING_VALUE : READING_UNREADABLE;
	} else {
		r->kind = READING_UNREADABLE;
	}
	free(text);
	note_problem(&c->fleet, ret == 0 ? "" : e.msg);
}

int control_read_alarm(struct control *c, const char *name, enum alarm_state *state,
		       time_t *since, struct hail_errbuf *e)
{
	int ret = need_aws(c, e);

	if (ret == 0)
		ret = cloudwatch_alarm_state(&c->aws, name, state, since, e);
	return ret;
}

int control_put_metrics(struct control *c, const struct settings *set,
			const struct fleet_metrics *m, struct hail_errbuf *e)
{
	const char *profile = set->profile;
	struct metric_dimension dims[2];
	struct metric_datum data[] = {
		{ "BuildId", (double)m->build_id, "None" },
		{ "LatestBuildId", (double)m->latest_id, "None" },
		{ "Behind", m->behind, "Count" },
		{ "ActivationFailures", m->activation_failures, "Count" },
		{ "HealthCheckFailures", m->health_check_failures, "Count" },
		{ "Held", m->held, "Count" },
		{ "Paused", m->paused, "Count" },
	};
	size_t n_dims = 0;
	int ret;

	/* the profile's name as given, as the metrics file labels it */
	if (str_has_prefix(profile, PROFILES_DIR "/"))
		profile += sizeof(PROFILES_DIR);
	if (set->autoscaling_group)
		dims[n_dims++] = (struct metric_dimension){ "AutoScalingGroupName",
							    set->autoscaling_group };
	dims[n_dims++] = (struct metric_dimension){ "Profile", profile };
	ret = need_aws(c, e);
	if (ret == 0)
		ret = cloudwatch_put_metrics(&c->aws, set->cloudwatch_namespace ?
					     set->cloudwatch_namespace : DEFAULT_CLOUDWATCH_NAMESPACE,
					     dims, n_dims, data, sizeof(data) / sizeof(data[0]), e);
	return ret;
}

void control_read(struct control *c, struct control_reading *tags,
		  struct control_reading *fleet)
{
	read_tags(c, tags);
	if (c->ssm_name) {
		read_fleet(c, fleet);
	} else {
		memset(fleet, 0, sizeof(*fleet));
		fleet->kind = READING_ABSENT;   /* no parameter named: nothing from it */
	}
}
