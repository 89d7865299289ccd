#include "mode.h"

#include <string.h>

static const char *const mode_names[MODE_COUNT] = {
	[MODE_FOLLOWING] = "following",
	[MODE_PINNED] = "pinned",
	[MODE_PAUSED] = "paused",
	[MODE_HELD_MANUAL] = "held: manual switch",
	[MODE_HELD_FILE] = "held: hold file",
	[MODE_HELD_FAILED] = "held: failed build",
	[MODE_WAITING_ROLLOUT] = "waiting: rollout",
	[MODE_WAITING_DISK] = "waiting: disk space",
	[MODE_CONFIRMING] = "confirming: contact",
	[MODE_HALTED] = "halted: alarm",
};

static const char *const phase_names[PHASE_COUNT] = {
	[PHASE_IDLE] = "idle",
	[PHASE_SWITCHING] = "switching",
	[PHASE_ACTIVATING] = "activating",
	[PHASE_ROLLING_BACK] = "rolling-back",
	[PHASE_CONFIRMING] = "confirming",
	[PHASE_CONFIRMING_ROLLBACK] = "confirming-rollback",
};

const char *mode_name(enum agent_mode m)
{
	return (unsigned)m < MODE_COUNT ? mode_names[m] : "?";
}

enum agent_mode mode_from_name(const char *name)
{
	for (unsigned m = 0; m < MODE_COUNT; m++)
		if (!strcmp(name, mode_names[m]))
			return (enum agent_mode)m;
	return MODE_FOLLOWING;
}

bool mode_is_hold(enum agent_mode m)
{
	return m == MODE_HELD_MANUAL || m == MODE_HELD_FILE;
}

bool mode_is_held(enum agent_mode m)
{
	return mode_is_hold(m) || m == MODE_HELD_FAILED;
}

const char *phase_name(enum agent_phase p)
{
	return (unsigned)p < PHASE_COUNT ? phase_names[p] : "?";
}

enum agent_phase phase_from_name(const char *name)
{
	for (unsigned p = 0; p < PHASE_COUNT; p++)
		if (!strcmp(name, phase_names[p]))
			return (enum agent_phase)p;
	return PHASE_IDLE;
}
