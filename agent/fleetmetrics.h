/* Fleet metrics (--cloudwatch-metrics, README "Fleet view and automatic
 * halt"): what one agent tells CloudWatch, with the dimensions
 * AutoScalingGroupName (when known) and Profile only, never the instance,
 * so that a fleet's machines add up in one metric per name:
 *
 *   BuildId, LatestBuildId, Behind (1 when not on the latest),
 *   ActivationFailures and HealthCheckFailures (since the last send),
 *   Held, Paused
 *
 * A fleet has converged when Minimum and Maximum of BuildId agree and the
 * Sum of Behind is 0. Sent after each poll that changed one of them, and at
 * least once per --cloudwatch-period otherwise; never more than once a
 * poll. */
#ifndef HAIL_FLEETMETRICS_H
#define HAIL_FLEETMETRICS_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct agent_state;

#define DEFAULT_CLOUDWATCH_PERIOD_S (5 * 60)
#define DEFAULT_CLOUDWATCH_NAMESPACE "hail"

struct fleet_metrics {
	uint64_t build_id;
	uint64_t latest_id;
	bool behind;
	uint32_t activation_failures;   /* since the last send */
	uint32_t health_check_failures;
	bool held;
	bool paused;
};

/* What was last sent, kept in the state so that a restart neither sends
 * the counts again nor forgets them. */
struct fleet_metrics_sent {
	time_t at;                      /* 0: never */
	struct fleet_metrics values;
	unsigned long activations_failed;       /* the counters then */
	unsigned long health_checks_failed;
};

/* This poll's values from the state; the counts since sent. */
void fleet_metrics_of(const struct agent_state *st, const struct fleet_metrics_sent *sent,
		      struct fleet_metrics *m);

/* Pure: is a send due now? */
bool fleet_metrics_due(const struct fleet_metrics_sent *sent, const struct fleet_metrics *m,
		       time_t now, unsigned period_s);

#endif
