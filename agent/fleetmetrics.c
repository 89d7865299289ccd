#include "fleetmetrics.h"

#include <string.h>

#include "mode.h"
#include "state.h"

static uint32_t since(unsigned long now, unsigned long then)
{
	unsigned long d = now >= then ? now - then : now;   /* a reset state: all of now */

	return d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
}

void fleet_metrics_of(const struct agent_state *st, const struct fleet_metrics_sent *sent,
		      struct fleet_metrics *m)
{
	memset(m, 0, sizeof(*m));
	m->build_id = st->on.id;
	m->latest_id = st->latest_id;
	m->behind = st->latest_id && (st->on.id != st->latest_id || !st->good.path ||
				      strcmp(st->good.path, st->on.path ? st->on.path : ""));
	m->activation_failures = since(st->counters.activations_failed +
				       st->counters.activations_timed_out,
				       sent->activations_failed);
	m->health_check_failures = since(st->counters.health_checks_failed,
					 sent->health_checks_failed);
	m->held = mode_is_held(st->mode) || st->mode == MODE_HALTED;
	m->paused = st->paused;
}

bool fleet_metrics_due(const struct fleet_metrics_sent *sent, const struct fleet_metrics *m,
		       time_t now, unsigned period_s)
{
	const struct fleet_metrics *s = &sent->values;

	if (!sent->at || now < sent->at || now - sent->at >= (time_t)period_s)
		return true;
	return m->activation_failures || m->health_check_failures ||
		m->build_id != s->build_id || m->latest_id != s->latest_id ||
		m->behind != s->behind || m->held != s->held || m->paused != s->paused;
}
