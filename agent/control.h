/* Pause and pin from outside the machine, read at every poll:
 *
 *   instance tags (IMDS, updated live by EC2):  hail:pause = true | RFC 3339 time
 *                                                hail:pin   = a Hydra build id
 *   the fleet's SSM parameter (one GetParameter per poll):
 *                                                {"pause": ..., "pin": ...}
 *
 * A pause holds the profile where it is, until the time given (or until the
 * value goes). A pin deploys that build and stays on it. The instance's tags
 * win over the fleet's parameter for the pin; either one pauses. When a
 * source cannot be read, or says something malformed, what it said last
 * stays in force (and the problem is logged once): a control that flickers
 * with the network would be worse than none. */
#ifndef HAIL_CONTROL_H
#define HAIL_CONTROL_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "aws.h"
#include "cloudwatch.h"
#include "error.h"
#include "imds.h"
#include "options.h"
#include "state.h"

/* How reading one source went. Absent means exactly that the source said
 * there is nothing: SSM's ParameterNotFound, or the tag missing from a tag
 * listing IMDS gave. Anything else that is not a value (no role, expired
 * credentials, 5xx, a timeout, a malformed value) is unreadable, and the
 * source's last word stays in force (decide.h, control_settle). */
enum reading_kind { READING_VALUE, READING_ABSENT, READING_UNREADABLE };

struct control_reading {
	enum reading_kind kind;
	struct control_value v;         /* READING_VALUE only */
};

/* One source and how reading it went. */
struct control_source {
	const char *name;       /* static: "instance tags", "SSM parameter" */
	char problem[256];      /* the last problem logged, "" when fine */
};

struct control {
	struct imds imds;
	bool imds_open;
	struct aws aws;
	bool aws_open;
	const char *ssm_name;           /* borrowed from the settings, or NULL */
	const char *aws_endpoint_url;   /* borrowed, or NULL */
	struct control_source tags, fleet;
};

/* True when the settings ask for any outside control. */
bool control_wanted(const struct settings *set);

int control_open(struct control *c, const struct settings *set, struct hail_errbuf *e);
void control_close(struct control *c);

/* Reads the instance tags, and the fleet's parameter when one is set (IMDS
 * is local; SSM once). Logs each change of a source's readability once. */
void control_read(struct control *c, struct control_reading *tags,
		  struct control_reading *fleet);

/* The state of the CloudWatch alarm name (cloudwatch.h), with the
 * instance role's credentials: 0, or the error that kept it unknown (the
 * caller fails closed). */
int control_read_alarm(struct control *c, const char *name, enum alarm_state *state,
		       time_t *since, struct hail_errbuf *e);

/* One PutMetricData of m (fleetmetrics.h) under the settings' namespace,
 * with the dimensions AutoScalingGroupName (when set) and Profile. */
int control_put_metrics(struct control *c, const struct settings *set,
			const struct fleet_metrics *m, struct hail_errbuf *e);

/* Parsers, for tests and fuzzing: 0, or HAIL_E_USAGE with the reason. */
int control_parse_pause(const char *text, struct control_value *v, struct hail_errbuf *e);
int control_parse_pin(const char *text, struct control_value *v, struct hail_errbuf *e);
int control_parse_fleet_json(const char *text, size_t len, struct control_value *v,
			     struct hail_errbuf *e);

#endif
