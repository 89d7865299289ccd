/* CloudWatch's query API (shared/protocols.md, "CloudWatch"): the state of
 * one alarm (DescribeAlarms) and a fleet's metrics (PutMetricData), signed
 * and sent through aws.h. */
#ifndef HAIL_CLOUDWATCH_H
#define HAIL_CLOUDWATCH_H

#include <stdbool.h>
#include <time.h>

#include "aws.h"

#define ALARM_NAME_MAX 255
#define METRIC_NAMESPACE_MAX 255
#define METRIC_DIMENSION_MAX 255        /* a dimension's value, as hail sends them */
#define METRICS_PER_CALL_MAX 16         /* hail sends 7; CloudWatch takes 1000 */

struct metric_dimension {
	const char *name;
	const char *value;
};

struct metric_datum {
	const char *name;
	double value;
	const char *unit;               /* "Count", "None" */
};

enum alarm_state {
	ALARM_STATE_OK,
	ALARM_STATE_ALARM,
	ALARM_STATE_INSUFFICIENT_DATA,
	ALARM_STATE_MISSING,            /* CloudWatch has no alarm of that name */
	ALARM_STATE_COUNT
};

/* "OK", "ALARM", "INSUFFICIENT_DATA", "missing". */
const char *alarm_state_name(enum alarm_state s);

/* 1 to 255 printable ASCII characters, as CloudWatch takes alarm names. */
bool alarm_name_valid(const char *name);

/* The alarm's state (a metric or a composite alarm), and since when
 * (StateUpdatedTimestamp; 0 when not given). The answer is read with a
 * bound and must name the alarm asked for; an unknown name is
 * ALARM_STATE_MISSING (CloudWatch leaves it out of the list, it is no
 * error). HAIL_E_HTTP with the code, or HAIL_E_NETWORK, HAIL_E_PROTOCOL, as
 * aws_call. */
int cloudwatch_alarm_state(struct aws *a, const char *name, enum alarm_state *state,
			   time_t *since, struct hail_errbuf *e);

/* A namespace CloudWatch takes for custom metrics: 1 to 255 printable
 * characters, not starting with "AWS/". */
bool metric_namespace_valid(const char *ns);

/* One PutMetricData of n data with the same dimensions (n_dims of them, at
 * most 30). 0, or as aws_call. */
int cloudwatch_put_metrics(struct aws *a, const char *ns, const struct metric_dimension *dims,
			   size_t n_dims, const struct metric_datum *data, size_t n,
			   struct hail_errbuf *e);

/* The state in a DescribeAlarms answer, for tests and fuzzing. */
int cloudwatch_parse_alarm(const char *xml, size_t len, const char *name,
			   enum alarm_state *state, time_t *since, struct hail_errbuf *e);

/* A dimension's value as hail sends one (the Auto Scaling group's name):
 * 1 to 255 bytes, no control characters (UTF-8 is fine). */
bool metric_dimension_valid(const char *v);

#endif
