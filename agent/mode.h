/* The agent's modes (what it is doing with the profile, as status, metrics
 * and logs name it) and the phases of its journal (which step that changes
 * the machine is under way). Each is an enum with one name table. */
#ifndef HAIL_MODE_H
#define HAIL_MODE_H

#include <stdbool.h>

enum agent_mode {
	MODE_FOLLOWING,         /* on, or moving to, the latest build */
	MODE_PINNED,            /* on, or moving to, the build a pin names */
	MODE_PAUSED,            /* a pause keeps the profile where it is */
	MODE_HELD_MANUAL,       /* switched by hand: held until a newer build */
	MODE_HELD_FILE,         /* an operator's hold file: held until removed */
	MODE_HELD_FAILED,       /* the target failed to activate before */
	MODE_WAITING_ROLLOUT,   /* the target waits for this machine's turn */
	MODE_WAITING_DISK,      /* the target does not fit on the store's disk */
	MODE_CONFIRMING,        /* after a switch: waiting for Hydra to answer (contact-timeout) */
	MODE_HALTED,            /* the halt alarm is in ALARM, or cannot be read */
	MODE_COUNT
};

enum agent_phase {
	PHASE_IDLE,             /* no step under way */
	PHASE_SWITCHING,        /* nix-env --set to the journal's build is under way */
	PHASE_ACTIVATING,       /* the profile is on the build; its activation is due */
	PHASE_ROLLING_BACK,     /* back to the journal's generation, then its activation */
	PHASE_CONFIRMING,       /* the build is activated: Hydra must answer before the deadline */
	PHASE_CONFIRMING_ROLLBACK,      /* rolled back for lost contact: does Hydra answer now? */
	PHASE_COUNT
};

/* "following", "pinned", "paused", "held: manual switch", "held: hold file",
 * "held: failed build", "waiting: rollout", "waiting: disk space",
 * "confirming: contact", "halted: alarm". */
const char *mode_name(enum agent_mode m);

/* The mode a name stands for; MODE_FOLLOWING for an unknown one. */
enum agent_mode mode_from_name(const char *name);

/* Held by a hold file (written by hail or by an operator). */
bool mode_is_hold(enum agent_mode m);

/* Any "held: ..." mode: hail_held in the metrics. */
bool mode_is_held(enum agent_mode m);

/* "idle", "switching", "activating", "rolling-back", "confirming",
 * "confirming-rollback". */
const char *phase_name(enum agent_phase p);
enum agent_phase phase_from_name(const char *name);

#endif
