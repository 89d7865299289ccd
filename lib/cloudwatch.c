#include "cloudwatch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rfc3339.h"
#include "strutil.h"
#include "xmltext.h"

#define DESCRIBE_ALARMS_MAX (64 * 1024)

static const char *const state_names[ALARM_STATE_COUNT] = {
	[ALARM_STATE_OK] = "OK",
	[ALARM_STATE_ALARM] = "ALARM",
	[ALARM_STATE_INSUFFICIENT_DATA] = "INSUFFICIENT_DATA",
	[ALARM_STATE_MISSING] = "missing",
};

const char *alarm_state_name(enum alarm_state s)
{
	return (unsigned)s < ALARM_STATE_COUNT ? state_names[s] : "?";
}

bool alarm_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > ALARM_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (name[i] < ' ' || name[i] > '~')
			return false;
	return true;
}

int cloudwatch_parse_alarm(const char *xml, size_t len, const char *name,
			   enum alarm_state *state, time_t *since, struct hail_errbuf *e)
{
	char got[ALARM_NAME_MAX + 1], value[32], shown[64], when[64];
	int ret;

	*since = 0;
	ret = xml_element_text(xml, len, "AlarmName", got, sizeof(got));
	if (ret == HAIL_E_NOT_FOUND) {
		/* neither a metric nor a composite alarm of that name */
		*state = ALARM_STATE_MISSING;
		return 0;
	}
	if (ret < 0)
		return hail_fail(e, HAIL_E_PROTOCOL, "DescribeAlarms: a malformed answer");
	if (strcmp(got, name))
		return hail_fail(e, HAIL_E_PROTOCOL, "DescribeAlarms: the answer is of another alarm");
	ret = xml_element_text(xml, len, "StateValue", value, sizeof(value));
	if (ret < 0)
		return hail_fail(e, HAIL_E_PROTOCOL, "DescribeAlarms: no StateValue for the alarm");
	/* since when: a missing or odd one is 0, "not known" */
	if (xml_element_text(xml, len, "StateUpdatedTimestamp", when, sizeof(when)) == 0 &&
	    (rfc3339_parse(when, since) < 0 || *since < 0))
		*since = 0;
	for (unsigned s = 0; s < ALARM_STATE_MISSING; s++)
		if (!strcmp(value, state_names[s])) {
			*state = (enum alarm_state)s;
			return 0;
		}
	str_escape(shown, sizeof(shown), value, strlen(value));
	return hail_fail(e, HAIL_E_PROTOCOL, "DescribeAlarms: unknown StateValue '%s'", shown);
}

int cloudwatch_alarm_state(struct aws *a, const char *name, enum alarm_state *state,
			   time_t *since, struct hail_errbuf *e)
{
	/* without AlarmTypes CloudWatch lists metric alarms only */
	const char *params[] = { "AlarmNames.member.1", name, "AlarmTypes.member.1", "MetricAlarm",
				 "AlarmTypes.member.2", "CompositeAlarm", NULL };
	char form[1024], code[AWS_CODE_MAX], *answer = NULL;
	int ret;

	ret = aws_form(form, sizeof(form), params);
	if (ret < 0)
		return hail_fail(e, ret, "DescribeAlarms: the alarm name does not fit");
	ret = aws_call(a, &aws_cloudwatch, "DescribeAlarms", form, DESCRIBE_ALARMS_MAX, &answer,
		       code, e);
	if (ret == 0)
		ret = cloudwatch_parse_alarm(answer, strlen(answer), name, state, since, e);
	free(answer);
	return ret;
}

bool metric_dimension_valid(const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || n > METRIC_DIMENSION_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] < ' ' || v[i] == 0x7f)
			return false;
	return true;
}

bool metric_namespace_valid(const char *ns)
{
	size_t n = strlen(ns);

	if (n == 0 || n > METRIC_NAMESPACE_MAX || !strncmp(ns, "AWS/", 4))
		return false;
	for (size_t i = 0; i < n; i++)
		if (ns[i] < ' ' || ns[i] > '~')
			return false;
	return true;
}

int cloudwatch_put_metrics(struct aws *a, const char *ns, const struct metric_dimension *dims,
			   size_t n_dims, const struct metric_datum *data, size_t n,
			   struct hail_errbuf *e)
{
	/* names and values of: the namespace, per datum name, value, unit and
	 * two per dimension; NULL at the end */
	enum { KEY = 64, PAIRS = 1 + METRICS_PER_CALL_MAX * (3 + 2 * 4) };
	char keys[PAIRS][KEY], values[METRICS_PER_CALL_MAX][32], code[AWS_CODE_MAX];
	const char *params[2 * PAIRS + 1];
	char *form = NULL, *answer = NULL;
	size_t k = 0, size = 16384;
	int ret;

	if (n == 0 || n > METRICS_PER_CALL_MAX || n_dims > 4)
		return hail_fail(e, HAIL_E_INTERNAL, "PutMetricData: %zu metrics, %zu dimensions",
				 n, n_dims);
	params[k++] = "Namespace";
	params[k++] = ns;
	for (size_t i = 0; i < n; i++) {
		size_t base = 1 + i * (3 + 2 * n_dims);

		snprintf(keys[base], KEY, "MetricData.member.%zu.MetricName", i + 1);
		snprintf(keys[base + 1], KEY, "MetricData.member.%zu.Value", i + 1);
		snprintf(keys[base + 2], KEY, "MetricData.member.%zu.Unit", i + 1);
		snprintf(values[i], sizeof(values[i]), "%.17g", data[i].value);
		params[k++] = keys[base];
		params[k++] = data[i].name;
		params[k++] = keys[base + 1];
		params[k++] = values[i];
		params[k++] = keys[base + 2];
		params[k++] = data[i].unit;
		for (size_t d = 0; d < n_dims; d++) {
			char *kn = keys[base + 3 + 2 * d], *kv = keys[base + 4 + 2 * d];

			snprintf(kn, KEY, "MetricData.member.%zu.Dimensions.member.%zu.Name", i + 1,
				 d + 1);
			snprintf(kv, KEY, "MetricData.member.%zu.Dimensions.member.%zu.Value", i + 1,
				 d + 1);
			params[k++] = kn;
			params[k++] = dims[d].name;
			params[k++] = kv;
			params[k++] = dims[d].value;
		}
	}
	params[k] = NULL;
	form = malloc(size);
	if (!form)
		return hail_fail(e, HAIL_E_INTERNAL, "out of memory");
	ret = aws_form(form, size, params);
	if (ret < 0)
		ret = hail_fail(e, ret, "PutMetricData: the parameters do not fit");
	else
		ret = aws_call(a, &aws_cloudwatch, "PutMetricData", form, 4096, &answer, code, e);
	free(answer);
	free(form);
	return ret;
}
