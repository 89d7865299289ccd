/* The deployment core's decision table: one row per situation, the facts of
 * a poll and the state in, the action, mode and target out. The table is the
 * specification (decide.h lists the rules these rows check). */
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "check.h"
#include "decide.h"
#include "rollout.h"

#define P1 "/nix/store/882hqh7rym3ckw2q575klshwn05hz688-demo-1"
#define P2 "/nix/store/icgvpk79x8aifqm4s82lvaij1jbix8fk-demo-2"
#define P3 "/nix/store/2f2a1xq7x5l7g1zj2w5s3m0b9rb6j1a3-demo-3"
#define WINDOW 3600
#define STOP 1800000000

enum turn { NO_WINDOW, BEFORE_TURN, AFTER_TURN };

struct row {
	const char *name;
	/* the state */
	enum agent_mode mode;
	const char *baseline;           /* its id comes from the generation records */
	const char *good;
	const char *failed;
	enum agent_phase phase;
	const char *journal_to;
	long journal_to_gen;
	const char *journal_from;       /* a rollback's: the build that failed */
	long journal_from_gen;
	int until_s;                    /* CONFIRMING*: the deadline, from now */
	/* the facts */
	const char *cur;
	long cur_gen;
	uint64_t latest;                /* 0: Hydra did not answer; its path is P<id> */
	uint64_t pin;
	bool pin_known;
	bool paused;
	bool via_reading;               /* the pause comes from the fleet source: */
	bool kept_pause;                /* its last word, in the state */
	enum reading_kind reading;      /* and how reading it went this poll */
	bool hold_file;
	uint64_t hold_until;
	enum turn turn;
	bool answered;                  /* Hydra sent an HTTP answer */
	enum halt_reading halt;         /* not asked: no halt alarm set */
	const char *outage;             /* a build let off after an outage */
	bool halt_set;                  /* a halt alarm is set though .halt is not asked */
	const char *halted;             /* a build the alarm stopped before */
	int halt_since;                 /* in ALARM since the build's stoptime + this; 0: not known */
	bool halt_target;
	bool contact_off;               /* contact-timeout turned off since */
	/* what is decided */
	enum action action;
	enum agent_mode want_mode;
	const char *target;             /* NULL: none */
	bool current;
	enum hold_change hold;
	bool drop_journal;
	bool adopt;                     /* checked only when set */
	bool lost_contact;
	uint64_t from_id;               /* SWITCH: the id recorded for the way back */
	const char *reason;             /* a part of the reason or event, or NULL */
};

static const char *path_of(uint64_t id)
{
	return id == 1 ? P1 : id == 2 ? P2 : id == 3 ? P3 : NULL;
}

static const struct row rows[] = {
	/* the profile: empty, on the latest, elsewhere */
	{ "fresh machine takes the latest", .latest = 1,
	  .action = ACTION_SWITCH, .want_mode = MODE_FOLLOWING, .target = P1 },
	{ "on the latest, activated: current", .baseline = P1, .good = P1, .cur = P1, .cur_gen = 1,
	  .latest = 1, .action = ACTION_NONE, .want_mode = MODE_FOLLOWING, .target = P1,
	  .current = true },
	{ "on the latest, never activated: activate it", .baseline = P1, .cur = P1, .cur_gen = 1,
	  .latest = 1, .action = ACTION_ACTIVATE, .want_mode = MODE_FOLLOWING, .target = P1 },
	{ "first deployment failed, nothing to roll back to: not current, not following",
	  .baseline = P1, .failed = P1, .cur = P1, .cur_gen = 1, .latest = 1,
	  .action = ACTION_NONE, .want_mode = MODE_HELD_FAILED, .target = P1,
	  .reason = "no earlier good generation" },
	{ "a new build: switch, the way back recorded with its own id", .baseline = P1, .good = P1,
	  .cur = P1, .cur_gen = 1, .latest = 2, .action = ACTION_SWITCH,
	  .want_mode = MODE_FOLLOWING, .target = P2, .from_id = 1 },
	{ "a failed build is not tried again", .baseline = P1, .good = P1, .failed = P2, .cur = P1,
	  .cur_gen = 1, .latest = 2, .action = ACTION_NONE, .want_mode = MODE_HELD_FAILED,
	  .reason = "failed to activate before" },
	{ "a newer build after a failed one is taken", .baseline = P1, .good = P1, .failed = P2,
	  .cur = P1, .cur_gen = 1, .latest = 3, .action = ACTION_SWITCH,
	  .want_mode = MODE_FOLLOWING, .target = P3 },
	{ "Hydra away: nothing adopted", .baseline = P1, .good = P1, .cur = P1, .cur_gen = 1,
	  .action = ACTION_NONE, .want_mode = MODE_FOLLOWING },
	{ "Hydra's latest older than the profile's build: a logged downgrade", .baseline = P3,
	  .good = P3, .cur = P3, .cur_gen = 3, .latest = 2, .action = ACTION_SWITCH,
	  .want_mode = MODE_FOLLOWING, .target = P2, .from_id = 3, .reason = "downgrading" },
	/* pause */
	{ "paused: the profile stays", .baseline = P1, .good = P1, .cur = P1, .cur_gen = 1,
	  .latest = 2, .paused = true, .action = ACTION_NONE, .want_mode = MODE_PAUSED },
	{ "paused, on the latest: current and paused", .baseline = P1, .good = P1, .cur = P1,
	  .cur_gen = 1, .latest = 1, .paused = true, .action = ACTION_NONE,
	  .want_mode = MODE_PAUSED, .target = P1, .current = true },
	{ "paused, fresh machine: takes the target", .latest = 2, .paused = true,
	  .action = ACTION_SWITCH, .want_mode = MODE_PAUSED, .target = P2 },
	{ "pause source unreadable, its last word a pause: still paused (fail closed)",
	  .baseline = P1, .good = P1, .cur = P1, .cur_gen = 1, .latest = 2, .via_reading = true,
	  .kept_pause = true, .reading = READING_UNREADABLE, .action = ACTION_NONE,
	  .want_mode = MODE_PAUSED },
	{ "pause source says ParameterNotFound: the pause is lifted", .baseline = P1, .good = P1,
	  .cur = P1, .cur_gen = 1, .latest = 2, .via_reading = true, .kept_pause = true,
	  .reading = READING_ABSENT, .action = ACTION_SWITCH, .want_mode = MODE_FOLLOWING,
	  .target = P2 },
	{ "pause source readable, no pause: lifted", .baseline = P1, .good = P1, .cur = P1,
	  .cur_gen = 1, .latest = 2, .via_reading = true, .kept_pause = true,
	  .reading = READING_VALUE, .action = ACTION_SWITCH, .want_mode = MODE_FOLLOWING,
	  .target = P2 },
	{ "pause source unreadable, never a pause: not paused", .baseline = P1, .good = P1,
	  .cur = P1, .cur_gen = 1, .latest = 2, .via_reading = true,
	  .reading = READING_UNREADABLE, .action = ACTION_SWITCH, .want_mode = MODE_FOLLOWING,
	  .target = P2 },
	/* pin */
	{ "pinned to the build it is on", .baseline = P1, .good = P1, .cur = P1, .cur_gen = 1,
	  .latest = 2, .pin = 1, .pin_known = true, .action = ACTION_NONE,
	  .want_mode = MODE_PINNED, .target = P1, .current = true },
	{ "pinned elsewhere: switch to the pin", .baseline = P2, .good = P2, .cur = P2, .cur_gen = 2,
	  .latest = 2, .pin = 1, .pin_known = true, .action = ACTION_SWITCH,
	  .want_mode = MODE_PINNED, .target = P1, .from_id = 2 },
	{ "pinned build unreadable: neither the pin nor the latest", .baseline = P1, .good = P1,
	  .cur = P1, .cur_gen = 1, .latest = 2, .pin = 3, .action = ACTION_NONE,
	  .want_mode = MODE_FOLLOWING },
	{ "pinned and paused: paused", .baseline = P2, .good = P2, .cur = P2, .cur_gen = 2,
	  .latest = 2, .pin = 1, .pin_known = true, .paused = true, .action = ACTION_NONE,
	  .want_mode = MODE_PAUSED },
	{ "pin to a build that failed: not tried again", .baseline = P2, .good = P2, .failed = P1,
	  .cur = P2, .cur_gen = 2, .latest = 2, .pin = 1, .pin_known = true,
	  .action = ACTION_NONE, .want_mode = MODE_HELD_FAILED },
	/* holds */
	{ "operator's hold file: held until removed", .mode = MODE_FOLLOWING, .baseline = P1,
	  .good = P1, .cur = P1, .cur_gen = 1, .latest = 2, .hold_file = true,
	  .action = ACTION_NONE, .want_mode = MODE_HELD_FILE, .reason = "is held" },
	{ "hold until 2, Hydra offers 2: held", .mode = MODE_HELD_MANUAL, .baseline = P2,
	  .good = P2, .cur = P1, .cur_gen = 1, .latest = 2, .hold_file = true, .hold_until = 2,
	  .action = ACTION_NONE, .want_mode = MODE_HELD_MANUAL },
	{ "hold until 2, Hydra offers 3: released, switch; the way back is build 1",
	  .mode = MODE_HELD_MANUAL, .baseline = P2, .good = P2, .cur = P1, .cur_gen = 1,
	  .latest = 3, .hold_file = true, .hold_until = 2, .action = ACTION_SWITCH,
	  .want_mode = MODE_FOLLOWING, .target = P3, .hold = HOLD_RELEASE, .from_id = 1,
	  .reason = "releasing the hold" },
	{ "switched by hand: a hold until a build newer than hail's", .baseline = P2, .good = P2,
	  .cur = P1, .cur_gen = 1, .latest = 2, .action = ACTION_NONE,
	  .want_mode = MODE_HELD_MANUAL, .hold = HOLD_WRITE, .reason = "switched by hand" },
	{ "switched by hand, Hydra already newer: no hold, switch", .baseline = P2, .good = P2,
	  .cur = P1, .cur_gen = 1, .latest = 3, .action = ACTION_SWITCH,
	  .want_mode = MODE_FOLLOWING, .target = P3, .hold = HOLD_KEEP },
	{ "switched by hand to the latest itself: no hold, activate it", .baseline = P1,
	  .good = P1, .cur = P2, .cur_gen = 2, .latest = 2, .action = ACTION_ACTIVATE,
	  .want_mode = MODE_FOLLOWING, .target = P2 },
	{ "hold file removed: following again from where it is", .mode = MODE_HELD_FILE,
	  .baseline = P2, .good = P2, .cur = P1, .cur_gen = 1, .latest = 2,
	  .action = ACTION_SWITCH, .want_mode = MODE_FOLLOWING, .target = P2,
	  .reason = "removed: following Hydra again" },
	{ "hold file removed, Hydra away: following, nothing adopted", .mode = MODE_HELD_MANUAL,
	  .baseline = P2, .good = P2, .cur = P1, .cur_gen = 1, .action = ACTION_NONE,
	  .want_mode = MODE_FOLLOWING },
	{ "held and paused: the hold", .baseline = P1, .good = P1, .cur = P1, .cur_gen = 1,
	  .latest = 2, .paused = true, .hold_file = true, .action = ACTION_NONE,
	  .want_mode = MODE_HELD_FILE },
	/* rollout */
	{ "before this machine's turn: wait", .baseline = P1, .good = P1, .cur = P1, .cur_gen = 1,
	  .latest = 2, .turn = BEFORE_TURN, .action = ACTION_WAIT,
	  .want_mode = MODE_WAITING_ROLLOUT, .reason = "waits for this machine's turn" },
	{ "at this machine's turn: switch", .baseline = P1, .good = P1, .cur = P1, .cur_gen = 1,
	  .latest = 2, .turn = AFTER_TURN, .action = ACTION_SWITCH, .want_mode = MODE_FOLLOWING,
	  .target = P2 },
	{ "rollout, fresh machine: at once", .latest = 2, .turn = BEFORE_TURN,
	  .action = ACTION_SWITCH, .want_mode = MODE_FOLLOWING, .target = P2 },
	{ "rollout, pinned: at once", .baseline = P2, .good = P2, .cur = P2, .cur_gen = 2,
	  .latest = 2, .pin = 1, .pin_known = true, .turn = BEFORE_TURN,
	  .action = ACTION_SWITCH, .want_mode = MODE_PINNED, .target = P1 },
	{ "rollout of a failed build: held, not waiting", .baseline = P1, .good = P1, .failed = P2,
	  .cur = P1, .cur_gen = 1, .latest = 2, .turn = BEFORE_TURN, .action = ACTION_NONE,
	  .want_mode = MODE_HELD_FAILED },
	/* an unfinished step */
	{ "switched, crashed before the activation: activate", .baseline = P1, .good = P1,
	  .phase = PHASE_SWITCHING, .journal_to = P2, .cur = P2, .cur_gen = 2, .latest = 2,
	  .action = ACTION_ACTIVATE, .want_mode = MODE_FOLLOWING, .target = P2 },
	{ "state write failed after the switch, Hydra away: activate all the same",
	  .baseline = P1, .good = P1, .phase = PHASE_SWITCHING, .journal_to = P2, .cur = P2,
	  .cur_gen = 2, .action = ACTION_ACTIVATE, .want_mode = MODE_FOLLOWING, .target = P2 },
	{ "the switch never happened: forget it, decide afresh", .baseline = P1, .good = P1,
	  .phase = PHASE_SWITCHING, .journal_to = P2, .cur = P1, .cur_gen = 1, .latest = 2,
	  .action = ACTION_SWITCH, .want_mode = MODE_FOLLOWING, .target = P2,
	  .drop_journal = true, .from_id = 1 },
	{ "killed during an activation, now paused: the activation first", .baseline = P2,
	  .good = P1, .phase = PHASE_ACTIVATING, .journal_to = P2, .cur = P2, .cur_gen = 2,
	  .latest = 2, .paused = true, .action = ACTION_ACTIVATE, .want_mode = MODE_PAUSED,
	  .target = P2 },
	{ "killed during an activation, held: the activation first", .baseline = P2, .good = P1,
	  .phase = PHASE_ACTIVATING, .journal_to = P2, .cur = P2, .cur_gen = 2, .latest = 3,
	  .hold_file = true, .action = ACTION_ACTIVATE, .want_mode = MODE_FOLLOWING,
	  .target = P2 },
	{ "moved by someone during the step: forget it, hold", .baseline = P2, .good = P1,
	  .phase = PHASE_ACTIVATING, .journal_to = P2, .cur = P3, .cur_gen = 3, .latest = 2,
	  .action = ACTION_NONE, .want_mode = MODE_HELD_MANUAL, .hold = HOLD_WRITE,
	  .drop_journal = true },
	{ "killed during a rollback's switch: roll back", .baseline = P2, .good = P1, .failed = P2,
	  .phase = PHASE_ROLLING_BACK, .journal_to = P1, .journal_to_gen = 1, .cur = P2,
	  .cur_gen = 2, .latest = 2, .action = ACTION_ROLL_BACK, .want_mode = MODE_HELD_FAILED,
	  .target = P1 },
	{ "killed during a rollback, then moved by someone else: forget it, hold",
	  .baseline = P2, .good = P1, .failed = P2, .phase = PHASE_ROLLING_BACK,
	  .journal_to = P1, .journal_to_gen = 1, .journal_from = P2, .cur = P3, .cur_gen = 3,
	  .latest = 2, .action = ACTION_NONE, .want_mode = MODE_HELD_MANUAL,
	  .hold = HOLD_WRITE, .drop_journal = true },
	{ "a hold released while paused: the profile as it is becomes the baseline",
	  .mode = MODE_HELD_MANUAL, .baseline = P2, .good = P1, .cur = P1, .cur_gen = 1,
	  .latest = 3, .hold_file = true, .hold_until = 2, .paused = true,
	  .action = ACTION_NONE, .want_mode = MODE_PAUSED, .hold = HOLD_RELEASE, .adopt = true },
	{ "killed during a rollback's activation: the rollback again (its switch is done)",
	  .baseline = P1, .good = P2, .failed = P2, .phase = PHASE_ROLLING_BACK,
	  .journal_to = P1, .journal_to_gen = 1, .cur = P1, .cur_gen = 1, .latest = 2,
	  .action = ACTION_ROLL_BACK, .want_mode = MODE_HELD_FAILED, .target = P1 },
	/* contact-timeout: after a switch, Hydra must answer */
	{ "confirming, Hydra answers (even a 401): the build is good", .baseline = P2, .good = P1,
	  .phase = PHASE_CONFIRMING, .journal_to = P2, .journal_to_gen = 2, .journal_from = P1,
	  .journal_from_gen = 1, .until_s = 10, .cur = P2, .cur_gen = 2, .answered = true,
	  .action = ACTION_CONFIRM, .want_mode = MODE_FOLLOWING, .target = P2,
	  .reason = "contact confirmed" },
	{ "confirming, no answer yet: ask again soon", .baseline = P2, .good = P1,
	  .phase = PHASE_CONFIRMING, .journal_to = P2, .journal_to_gen = 2, .journal_from = P1,
	  .journal_from_gen = 1, .until_s = 10, .cur = P2, .cur_gen = 2,
	  .action = ACTION_WAIT, .want_mode = MODE_CONFIRMING, .reason = "waiting for Hydra" },
	{ "confirming, no answer by the deadline: roll back", .baseline = P2, .good = P1,
	  .phase = PHASE_CONFIRMING, .journal_to = P2, .journal_to_gen = 2, .journal_from = P1,
	  .journal_from_gen = 1, .until_s = 0, .cur = P2, .cur_gen = 2,
	  .action = ACTION_ROLL_BACK, .want_mode = MODE_CONFIRMING, .target = P1,
	  .lost_contact = true, .reason = "rolling back" },
	{ "confirming, paused and held: the check goes on first", .baseline = P2, .good = P1,
	  .phase = PHASE_CONFIRMING, .journal_to = P2, .journal_to_gen = 2, .journal_from = P1,
	  .journal_from_gen = 1, .until_s = 0, .cur = P2, .cur_gen = 2, .paused = true,
	  .hold_file = true, .action = ACTION_ROLL_BACK, .want_mode = MODE_CONFIRMING,
	  .target = P1, .lost_contact = true },
	{ "confirming, moved by someone: forget it, hold", .baseline = P2, .good = P1,
	  .phase = PHASE_CONFIRMING, .journal_to = P2, .journal_to_gen = 2, .journal_from = P1,
	  .journal_from_gen = 1, .until_s = 0, .cur = P3, .cur_gen = 3, .latest = 2,
	  .action = ACTION_NONE, .want_mode = MODE_HELD_MANUAL, .hold = HOLD_WRITE,
	  .drop_journal = true },
	{ "confirming, no way back: keep it", .baseline = P2, .phase = PHASE_CONFIRMING,
	  .journal_to = P2, .journal_to_gen = 2, .until_s = 0, .cur = P2, .cur_gen = 2,
	  .action = ACTION_CONFIRM, .want_mode = MODE_FOLLOWING, .reason = "no earlier generation" },
	{ "after the rollback Hydra answers: the build is blamed", .baseline = P1, .good = P1,
	  .phase = PHASE_CONFIRMING_ROLLBACK, .journal_to = P1, .journal_to_gen = 1,
	  .journal_from = P2, .journal_from_gen = 2, .until_s = 10, .cur = P1, .cur_gen = 1,
	  .latest = 2, .answered = true, .action = ACTION_BLAME, .want_mode = MODE_HELD_FAILED,
	  .reason = "cut this machine off" },
	{ "after the rollback, no answer yet: ask again soon", .baseline = P1, .good = P1,
	  .phase = PHASE_CONFIRMING_ROLLBACK, .journal_to = P1, .journal_to_gen = 1,
	  .journal_from = P2, .journal_from_gen = 2, .until_s = 10, .cur = P1, .cur_gen = 1,
	  .action = ACTION_WAIT, .want_mode = MODE_CONFIRMING },
	{ "after the rollback, no answer by the deadline: an outage", .baseline = P1, .good = P1,
	  .phase = PHASE_CONFIRMING_ROLLBACK, .journal_to = P1, .journal_to_gen = 1,
	  .journal_from = P2, .journal_from_gen = 2, .until_s = 0, .cur = P1, .cur_gen = 1,
	  .action = ACTION_OUTAGE, .want_mode = MODE_FOLLOWING, .reason = "an outage, not build" },
	{ "killed during a rollback for lost contact: the rollback again, still for contact",
	  .baseline = P2, .good = P1, .phase = PHASE_ROLLING_BACK, .journal_to = P1,
	  .journal_to_gen = 1, .journal_from = P2, .journal_from_gen = 2, .until_s = -1,
	  .cur = P2, .cur_gen = 2, .action = ACTION_ROLL_BACK, .want_mode = MODE_HELD_FAILED,
	  .target = P1, .lost_contact = true },
	{ "after an outage verdict, Hydra back: the build is taken again", .baseline = P1,
	  .good = P1, .cur = P1, .cur_gen = 1, .latest = 2, .action = ACTION_SWITCH,
	  .want_mode = MODE_FOLLOWING, .target = P2 },
	/* the halt alarm */
	{ "halt alarm in ALARM: no new build", .baseline = P1, .good = P1, .cur = P1, .cur_gen = 1,
	  .latest = 2, .halt = HALT_ALARM, .action = ACTION_NONE, .want_mode = MODE_HALTED,
	  .reason = "is in ALARM" },
	{ "halt alarm unknown or unreadable: fail closed", .baseline = P1, .good = P1, .cur = P1,
	  .cur_gen = 1, .latest = 2, .halt = HALT_UNKNOWN, .action = ACTION_NONE,
	  .want_mode = MODE_HALTED, .reason = "does not exist" },
	{ "halt alarm OK: switch", .baseline = P1, .good = P1, .cur = P1, .cur_gen = 1, .latest = 2,
	  .halt = HALT_CLEAR, .action = ACTION_SWITCH, .want_mode = MODE_FOLLOWING, .target = P2 },
	{ "halt alarm in ALARM, a pin: the pin moves it", .baseline = P2, .good = P2, .cur = P2,
	  .cur_gen = 2, .latest = 2, .pin = 1, .pin_known = true, .halt = HALT_ALARM,
	  .action = ACTION_SWITCH, .want_mode = MODE_PINNED, .target = P1 },
	{ "halt alarm in ALARM, fresh machine: takes the build", .latest = 2, .halt = HALT_ALARM,
	  .action = ACTION_SWITCH, .want_mode = MODE_FOLLOWING, .target = P2 },
	{ "halt alarm in ALARM and paused: paused", .baseline = P1, .good = P1, .cur = P1,
	  .cur_gen = 1, .latest = 2, .paused = true, .halt = HALT_ALARM, .action = ACTION_NONE,
	  .want_mode = MODE_PAUSED },
	{ "halt alarm in ALARM, the latest failed: held", .baseline = P1, .good = P1, .failed = P2,
	  .cur = P1, .cur_gen = 1, .latest = 2, .halt = HALT_ALARM, .action = ACTION_NONE,
	  .want_mode = MODE_HELD_FAILED },
	{ "halt alarm in ALARM, on the latest: current", .baseline = P2, .good = P2, .cur = P2,
	  .cur_gen = 2, .latest = 2, .halt = HALT_ALARM, .action = ACTION_NONE,
	  .want_mode = MODE_FOLLOWING, .target = P2, .current = true },
	{ "halt alarm, before the rollout turn: waiting (the alarm is asked at the turn)",
	  .baseline = P1, .good = P1, .cur = P1, .cur_gen = 1, .latest = 2, .turn = BEFORE_TURN,
	  .halt = HALT_ALARM, .action = ACTION_WAIT, .want_mode = MODE_WAITING_ROLLOUT },
	{ "halt alarm, at the rollout turn: halted", .baseline = P1, .good = P1, .cur = P1,
	  .cur_gen = 1, .latest = 2, .turn = AFTER_TURN, .halt = HALT_ALARM,
	  .action = ACTION_NONE, .want_mode = MODE_HALTED },
	{ "in ALARM since after the build was out: the verdict on it is kept", .baseline = P1,
	  .good = P1, .cur = P1, .cur_gen = 1, .latest = 2, .halt = HALT_ALARM, .halt_since = 1,
	  .action = ACTION_NONE, .want_mode = MODE_HALTED, .halt_target = true },
	{ "in ALARM since before the build (a fix): no verdict, it waits", .baseline = P1,
	  .good = P1, .cur = P1, .cur_gen = 1, .latest = 2, .halt = HALT_ALARM, .halt_since = -1,
	  .action = ACTION_NONE, .want_mode = MODE_HALTED },
	{ "the alarm stopped the build before, now OK: still not taken", .baseline = P1, .good = P1,
	  .cur = P1, .cur_gen = 1, .latest = 2, .halt = HALT_CLEAR, .halted = P2,
	  .action = ACTION_NONE, .want_mode = MODE_HALTED, .reason = "until Hydra offers a newer" },
	{ "the alarm stopped build 2, build 3 and OK: taken", .baseline = P1, .good = P1,
	  .cur = P1, .cur_gen = 1, .latest = 3, .halt = HALT_CLEAR, .halted = P2,
	  .action = ACTION_SWITCH, .want_mode = MODE_FOLLOWING, .target = P3 },
	{ "halt alarm not asked yet, a switch due: ask it first", .baseline = P1, .good = P1,
	  .cur = P1, .cur_gen = 1, .latest = 2, .halt = HALT_NOT_ASKED, .halt_set = true,
	  .action = ACTION_ASK_ALARM, .want_mode = MODE_FOLLOWING },
	{ "halt alarm not asked, on the latest: nothing to ask", .baseline = P2, .good = P2,
	  .cur = P2, .cur_gen = 2, .latest = 2, .halt_set = true, .action = ACTION_NONE,
	  .want_mode = MODE_FOLLOWING, .current = true, .target = P2 },
	{ "a build let off after an outage, Hydra still away (a pin): not taken again",
	  .baseline = P1, .good = P1, .cur = P1, .cur_gen = 1, .latest = 0, .pin = 2,
	  .pin_known = true, .outage = P2, .action = ACTION_NONE, .want_mode = MODE_PINNED,
	  .reason = "once Hydra answers" },
	{ "a build let off after an outage, Hydra answers: taken again", .baseline = P1,
	  .good = P1, .cur = P1, .cur_gen = 1, .latest = 2, .outage = P2, .action = ACTION_SWITCH,
	  .want_mode = MODE_FOLLOWING, .target = P2 },
	{ "contact-timeout turned off during a check: it ends, confirmed", .baseline = P2,
	  .good = P1, .phase = PHASE_CONFIRMING, .journal_to = P2, .journal_to_gen = 2,
	  .journal_from = P1, .journal_from_gen = 1, .until_s = 0, .cur = P2, .cur_gen = 2,
	  .contact_off = true, .action = ACTION_CONFIRM, .want_mode = MODE_FOLLOWING },
	{ "contact-timeout turned off after the rollback: nobody blamed", .baseline = P1,
	  .good = P1, .phase = PHASE_CONFIRMING_ROLLBACK, .journal_to = P1, .journal_to_gen = 1,
	  .journal_from = P2, .journal_from_gen = 2, .until_s = 10, .cur = P1, .cur_gen = 1,
	  .contact_off = true, .action = ACTION_OUTAGE, .want_mode = MODE_FOLLOWING },
	{ "killed before a rollback for lost contact switched, Hydra answers now: checked afresh",
	  .baseline = P2, .good = P1, .phase = PHASE_ROLLING_BACK, .journal_to = P1,
	  .journal_to_gen = 1, .journal_from = P2, .journal_from_gen = 2, .until_s = -1,
	  .cur = P2, .cur_gen = 2, .latest = 2, .action = ACTION_ACTIVATE,
	  .want_mode = MODE_FOLLOWING, .target = P2, .drop_journal = true },
};

static uint64_t id_of(const char *path)
{
	for (uint64_t id = 1; id <= 3; id++)
		if (!strcmp(path, path_of(id)))
			return id;
	return 0;
}

static void set_state(const struct row *r, struct agent_state *st)
{
	struct build_ref g1 = { 1, 1, P1 }, g2 = { 2, 2, P2 }, g3 = { 3, 3, P3 };
	struct build_ref jt = { 0, r->journal_to_gen, (char *)r->journal_to };
	struct build_ref jf = { 0, r->journal_from_gen, (char *)r->journal_from };

	memset(st, 0, sizeof(*st));
	st->mode = r->mode;
	state_add_generation(st, &g1);
	state_add_generation(st, &g2);
	state_add_generation(st, &g3);
	if (r->baseline)
		ref_set(&st->baseline, id_of(r->baseline), 0, r->baseline);
	if (r->good)
		ref_set(&st->good, 0, 0, r->good);
	if (r->failed)
		state_add_failed(st, 0, r->failed);
	if (r->phase)
		journal_set(st, r->phase, &jt, r->journal_from ? &jf : NULL);
	if (r->outage)
		ref_set(&st->outage, id_of(r->outage), 0, r->outage);
	if (r->halted)
		ref_set(&st->halted, id_of(r->halted), 0, r->halted);
	/* -1: a rollback for lost contact */
	st->journal.lost_contact = r->until_s < 0;
	if (r->until_s >= 0 && (r->phase == PHASE_CONFIRMING || r->phase == PHASE_CONFIRMING_ROLLBACK))
		st->journal.until = STOP + WINDOW * 2 + r->until_s;
	st->latest_id = 2;
}

static void set_facts(const struct row *r, struct poll_facts *f, const struct decide_rules *rules)
{
	memset(f, 0, sizeof(*f));
	f->now = STOP + WINDOW * 2;
	f->cur_path = r->cur;
	f->cur_generation = r->cur_gen;
	f->latest_known = r->latest != 0;
	f->latest_id = r->latest;
	f->latest_path = path_of(r->latest);
	f->latest_stoptime = STOP;
	f->ctl.pin = r->pin;
	f->pin_known = r->pin_known;
	f->pin_path = r->pin_known ? path_of(r->pin) : NULL;
	f->ctl.paused = r->paused;
	strcpy(f->ctl.pause_why, r->paused ? "tag hail:pause" : "");
	f->hold_file = r->hold_file;
	f->hold_until = r->hold_until;
	f->hydra_answered = r->answered || r->latest;
	f->halt = r->halt;
	f->halt_since = r->halt_since ? STOP + r->halt_since : 0;
	f->halt_why = r->halt == HALT_UNKNOWN ? "does not exist in CloudWatch" : "ALARM";
	if (r->via_reading) {
		/* as observe.c does: the reading settles the source's last word */
		struct control_value tags = { 0 }, fleet = { r->kept_pause, 0, 0 };
		struct control_reading reading = { r->reading, { false, 0, 0 } };

		control_settle(&fleet, &reading);
		control_combine(&tags, &fleet, "/fleet", f->now, &f->ctl);
	}
	if (r->turn != NO_WINDOW) {
		unsigned off = rollout_offset_s(rules->identity, r->latest, WINDOW);

		f->now = STOP + off + (r->turn == BEFORE_TURN ? -1 : 0);
	}
}

static void test_table(void)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		struct decide_rules rules = { 0, "i-0123456789abcdef0", "/nix/var/nix/profiles/demo",
					      "/var/lib/hail/demo/hold", 30, NULL };
		struct agent_state st;
		struct poll_facts f;
		struct decision d;
		bool target_ok, reason_ok;

		if (r->turn != NO_WINDOW)
			rules.rollout_window_s = WINDOW;
		if (r->halt != HALT_NOT_ASKED || r->halt_set)
			rules.halt_alarm = "hail-halt";
		if (r->contact_off)
			rules.contact_timeout_s = 0;
		set_state(r, &st);
		set_facts(r, &f, &rules);
		decide(&rules, &st, &f, &d);
		target_ok = !r->target || (d.target.path && !strcmp(d.target.path, r->target));
		reason_ok = !r->reason || strstr(d.reason, r->reason) || strstr(d.event, r->reason);
		CHECK(d.action == r->action && d.mode == r->want_mode && target_ok &&
		      d.current == r->current && d.hold == r->hold &&
		      d.drop_journal == r->drop_journal && (!r->adopt || d.adopt) &&
		      d.lost_contact == r->lost_contact && d.halt_target == r->halt_target &&
		      (!r->from_id || d.from.id == r->from_id) && reason_ok,
		      "decide: %s (got %s, %s, %s%s%s)", r->name, action_name(d.action),
		      mode_name(d.mode), d.target.path ? d.target.path + 44 : "no target",
		      d.reason[0] ? "; " : "", d.reason);
		state_free(&st);
	}
}

/* Beyond the rows: every combination of the dimensions that matter, checked
 * against the rules that must hold whatever else is true. */
static void test_cross_product(void)
{
	static const char *const curs[] = { NULL, P2, P1 };        /* empty, on latest, elsewhere */
	static const enum agent_phase phases[] = { PHASE_IDLE, PHASE_SWITCHING, PHASE_ACTIVATING,
						   PHASE_ROLLING_BACK, PHASE_CONFIRMING,
						   PHASE_CONFIRMING_ROLLBACK };
	unsigned combos = 0, broken = 0;

	for (unsigned c = 0; c < 3; c++)
	for (unsigned latest = 0; latest < 4; latest++)        /* none, new, failed, pinned */
	for (unsigned paused = 0; paused < 2; paused++)
	for (unsigned hold = 0; hold < 3; hold++)              /* none, file, until 1 */
	for (unsigned turn = 0; turn < 2; turn++)
	for (unsigned good = 0; good < 2; good++)
	for (unsigned ph = 0; ph < 6; ph++)
	for (unsigned answered = 0; answered < 2; answered++)
	for (unsigned late = 0; late < 2; late++) {
		struct decide_rules rules = { turn ? WINDOW : 0, "i-0123456789abcdef0", "/p", "/h", 30,
					      NULL };
		bool confirming = phases[ph] == PHASE_CONFIRMING ||
			phases[ph] == PHASE_CONFIRMING_ROLLBACK;
		struct build_ref g1 = { 1, 1, P1 }, g2 = { 2, 2, P2 };
		struct build_ref jt = { 2, 2, P2 }, jf = { 1, 1, P1 };
		struct agent_state st = { 0 };
		struct poll_facts f = { 0 };
		struct decision d;
		const char *cur = curs[c];
		bool ok = true;

		state_add_generation(&st, &g1);
		state_add_generation(&st, &g2);
		if (cur)
			ref_set(&st.baseline, c == 2 ? 1 : 2, 0, cur);
		if (good && cur)
			ref_set(&st.good, 0, 0, cur);
		if (latest == 2)
			state_add_failed(&st, 2, P2);
		if (phases[ph] == PHASE_ROLLING_BACK)
			journal_set(&st, PHASE_ROLLING_BACK, &jf, NULL);
		else if (phases[ph] == PHASE_CONFIRMING_ROLLBACK)
			journal_set(&st, phases[ph], &jf, &jt);
		else if (phases[ph] != PHASE_IDLE)
			journal_set(&st, phases[ph], &jt, &jf);
		f.now = STOP + (turn ? 1 : 2 * WINDOW);
		st.journal.until = f.now + (late ? 0 : 10);
		f.hydra_answered = answered || latest;
		f.cur_path = cur;
		f.cur_generation = c == 2 ? 1 : c == 1 ? 2 : 0;
		f.latest_known = latest != 0;
		f.latest_id = latest ? 2 : 0;
		f.latest_path = latest ? P2 : NULL;
		f.latest_stoptime = STOP;
		if (latest == 3) {
			f.ctl.pin = 1;
			f.pin_known = true;
			f.pin_path = P1;
		}
		f.ctl.paused = paused;
		f.hold_file = hold != 0;
		f.hold_until = hold == 2 ? 1 : 0;
		decide(&rules, &st, &f, &d);
		combos++;
		/* an unfinished step whose switch happened is finished first; a
		 * rollback always is */
		if (phases[ph] == PHASE_ROLLING_BACK)
			ok = ok && d.action == ACTION_ROLL_BACK && d.resume;
		else if (confirming && cur && ref_is(&st.journal.to, cur))
			/* a contact check: an answer ends it, else the deadline */
			ok = ok && d.resume && (f.hydra_answered ?
				d.action == (phases[ph] == PHASE_CONFIRMING ? ACTION_CONFIRM :
					     ACTION_BLAME) :
				late ? d.action == (phases[ph] == PHASE_CONFIRMING ?
						    ACTION_ROLL_BACK : ACTION_OUTAGE) :
				d.action == ACTION_WAIT && d.wake_at > f.now &&
				d.wake_at <= st.journal.until);
		else if (phases[ph] != PHASE_IDLE && cur && ref_is(&st.journal.to, cur))
			ok = ok && d.action == ACTION_ACTIVATE && d.resume;
		/* a failed build is never switched to; a hold, a pause on a
		 * machine with a build, an unknown target never switch */
		if (d.action == ACTION_SWITCH)
			ok = ok && !state_failed(&st, d.target.path) && d.target.path &&
				!(paused && cur) && !(hold == 1) &&
				!(hold == 2 && f.latest_id <= 1 && !f.ctl.pin);
		/* current only on the target, activated */
		if (d.current)
			ok = ok && cur && ref_is(&st.good, cur) && d.target.path &&
				!strcmp(d.target.path, cur);
		/* a rollout wait only for a machine with a build, and not pinned */
		if (d.action == ACTION_WAIT && d.mode == MODE_WAITING_ROLLOUT)
			ok = ok && cur && !f.ctl.pin && turn;
		/* a wait of another kind only in a contact check */
		if (d.action == ACTION_WAIT && d.mode != MODE_WAITING_ROLLOUT)
			ok = ok && confirming && !f.hydra_answered;
		if (!ok && broken++ < 5)
			printf("FAIL decide cross product: cur %s, latest %u, paused %u, hold %u, "
			       "turn %u, good %u, phase %s, answered %u, late %u: %s, %s\n",
			       cur ? cur + 44 : "none", latest, paused, hold, turn, good,
			       phase_name(phases[ph]), answered, late, action_name(d.action),
			       mode_name(d.mode));
		state_free(&st);
	}
	CHECK(broken == 0, "decide: the rules hold in all %u combinations", combos);
}

/* The id next to a path is only ever the one known for it. */
static void test_known_id(void)
{
	struct agent_state st = { 0 };
	struct build_ref g = { 7, 4, P1 };
	struct poll_facts f = { .cur_path = P1, .cur_generation = 4 };

	state_add_generation(&st, &g);
	CHECK(known_id(&st, &f) == 7, "id from hail's record of the generation");
	f.cur_generation = 5;
	CHECK(known_id(&st, &f) == 0, "the same path in another generation: unknown");
	f.latest_known = true;
	f.latest_id = 9;
	f.latest_path = P1;
	CHECK(known_id(&st, &f) == 9, "the path Hydra gives for its latest: its id");
	f.latest_path = P2;
	CHECK(known_id(&st, &f) == 0, "no guess from another build's id");
	state_free(&st);
}

static void test_control(void)
{
	struct control_value kept = { true, 0, 5 };
	struct control_reading unreadable = { READING_UNREADABLE, { false, 0, 0 } };
	struct control_reading absent = { READING_ABSENT, { true, 0, 9 } };
	struct control_reading value = { READING_VALUE, { false, 0, 3 } };
	struct control_value tags = { 0 }, fleet = { true, 0, 4 };
	struct control_decision d;

	control_settle(&kept, &unreadable);
	CHECK(kept.pause && kept.pin == 5, "control: unreadable keeps the last word (fail closed)");
	control_settle(&kept, &value);
	CHECK(!kept.pause && kept.pin == 3, "control: a value replaces it");
	control_settle(&kept, &absent);
	CHECK(!kept.pause && kept.pin == 0, "control: absent clears it");
	control_combine(&tags, &fleet, "/fleet", 100, &d);
	CHECK(d.paused && d.pin == 4 && !strcmp(d.pause_why, "SSM parameter /fleet"),
	      "control: the fleet's pause and pin");
	tags.pin = 2;
	tags.pause = true;
	tags.pause_until = 100;
	control_combine(&tags, &fleet, "/fleet", 100, &d);
	CHECK(d.paused && d.pin == 2 && !strcmp(d.pause_why, "SSM parameter /fleet") &&
	      !strcmp(d.pin_why, "tag hail:pin"),
	      "control: an expired tag pause; the tag's pin wins over the fleet's");
	fleet.pause = false;
	control_combine(&tags, &fleet, "/fleet", 99, &d);
	CHECK(d.paused && d.pause_until == 100 && !strcmp(d.pause_why, "tag hail:pause"),
	      "control: a tag pause until a time");
}

int main(void)
{
	test_table();
	test_cross_product();
	test_known_id();
	test_control();
	printf("decision table: %zu rows\n", sizeof(rows) / sizeof(rows[0]));
	return check_exit();
}
