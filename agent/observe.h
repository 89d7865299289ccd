/* The "observe" step of a poll: gathers the facts decide() reads (the
 * profile, Hydra's latest build, the pin's build, outside control, the hold
 * file, the clock) into a->obs. It decides nothing, with one exception kept
 * as small as a rule can be: each control source's reading is settled into
 * its last word right away (control_settle: unreadable keeps it), because
 * the pin it yields says which build to fetch. */
#ifndef HAIL_OBSERVE_H
#define HAIL_OBSERVE_H

#include "agent.h"

/* Fills a->obs (freeing the last poll's). Returns 0, or the error that kept
 * a fact unknown (also in a->obs.err and .why); a profile that cannot be read
 * is an error after which nothing may be decided (a->obs.profile_unreadable). */
int observe(struct agent *a, struct hail_errbuf *e);

void observation_clear(struct observation *o);

/* The halt alarm, when decide() asks for it (ACTION_ASK_ALARM: right
 * before a switch; one DescribeAlarms then, none on an idle poll or while
 * a build waits for its rollout turn). Sets a->obs.f.halt. */
void observe_halt(struct agent *a);

#endif
