/* The deployment core's decision: a pure function of what one poll observed
 * (struct poll_facts, gathered by observe.c) and what the agent remembers
 * (struct agent_state), returning one action for act.c to carry out.
 *
 * No I/O, no globals, no clock: tests/unit/test_decide.c holds the table of
 * situations and what each one decides. The rules, in order (README,
 * "Rollbacks, holds and failed builds"):
 *   1. an unfinished step in the journal is finished first; after a switch
 *      with contact-timeout, Hydra must answer before a deadline, else the
 *      switch is rolled back (and the build blamed only when the rollback
 *      brings the answers back);
 *   2. a hold file holds, until removed or released by a newer build; a
 *      profile found switched by someone else gets one;
 *   3. without an answer from Hydra (or for the pin) nothing is adopted;
 *   4. a profile on its target is current once that build's activation
 *      succeeded; else it is activated (unless it failed before);
 *   5. a pause keeps a profile where it is (a fresh one takes the target);
 *   6. a build that failed to activate is not tried again;
 *   6a. a build rolled back in an outage is taken again only once Hydra
 *      answers (no flapping while it is away);
 *   7. a new build waits for this machine's rollout turn;
 *   8. else: switch to the target, unless the halt alarm is in ALARM or
 *      cannot be read (asked only then; a machine with no build, or a pin,
 *      goes on); a build the alarm stopped once is not taken after it
 *      clears: a newer build is (or --retry-failed). */
#ifndef HAIL_DECIDE_H
#define HAIL_DECIDE_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "control.h"
#include "mode.h"
#include "state.h"

/* What outside control adds up to this poll. */
struct control_decision {
	bool paused;
	time_t pause_until;             /* 0: indefinitely */
	uint64_t pin;
	char pause_why[160];            /* "tag hail:pause", "SSM parameter /p", "" */
	char pin_why[160];              /* "tag hail:pin", "SSM parameter /p", "" */
};

/* The halt alarm, when the poll asked it (only before adopting a build). */
enum halt_reading {
	HALT_NOT_ASKED,
	HALT_CLEAR,                     /* OK or INSUFFICIENT_DATA */
	HALT_ALARM,
	HALT_UNKNOWN,                   /* no such alarm, or unreadable: fail closed */
};

/* What one poll observed. Strings are borrowed from whoever gathered them. */
struct poll_facts {
	time_t now;
	const char *cur_path;           /* where the profile points; NULL: no profile */
	long cur_generation;            /* 0: unknown */
	bool latest_known;              /* Hydra told the latest build this poll */
	bool hydra_answered;            /* Hydra sent any HTTP answer (even 401 or 404) */
	uint64_t latest_id;
	const char *latest_path;
	int64_t latest_stoptime;        /* when it finished; else when hail saw it */
	struct control_decision ctl;
	bool pin_known;                 /* the pinned build's output was read */
	const char *pin_path;
	enum halt_reading halt;
	time_t halt_since;              /* HALT_ALARM: in ALARM since (0: not known) */
	const char *halt_why;           /* the alarm's state, or why it is unknown */
	bool hold_file;                 /* STATE_DIR/NAME/hold exists */
	uint64_t hold_until;            /* the build id in it, 0: none */
};

/* Settings the decision depends on. */
struct decide_rules {
	unsigned rollout_window_s;      /* 0: adopt at once */
	const char *identity;           /* for the rollout offset */
	const char *profile;            /* for the reasons */
	const char *hold_path;
	unsigned contact_timeout_s;     /* 0: no contact check after a switch */
	const char *halt_alarm;         /* NULL: none */
};

enum action {
	ACTION_NONE,                    /* leave the profile as it is */
	ACTION_SWITCH,                  /* nix-env --set to the target, then activate */
	ACTION_ACTIVATE,                /* activate the build the profile is on */
	ACTION_ROLL_BACK,               /* to the target generation, then activate */
	ACTION_WAIT,                    /* as NONE, waking at wake_at */
	ACTION_CONFIRM,                 /* Hydra answered after the switch: the build is good */
	ACTION_BLAME,                   /* it answered after the rollback: the build cut it off */
	ACTION_OUTAGE,                  /* no answer after the rollback either: not the build */
	ACTION_ASK_ALARM,               /* ask the halt alarm, then decide again (never acted) */
	ACTION_COUNT
};

enum hold_change { HOLD_KEEP, HOLD_WRITE, HOLD_RELEASE };

struct decision {
	enum action action;
	enum agent_mode mode;
	struct build_ref target;        /* path borrowed from the facts or the state */
	struct build_ref from;          /* SWITCH/ACTIVATE: the way back if it fails */
	bool current;                   /* on the target, and its activation succeeded */
	bool resume;                    /* the action finishes the journal's step */
	bool drop_journal;              /* the journal's step never happened: forget it */
	bool adopt;                     /* the profile as it is becomes the baseline */
	bool downgrade;                 /* the target is older than the profile's build */
	bool lost_contact;              /* ROLL_BACK: Hydra did not answer the new build */
	bool halt_target;               /* the alarm stopped the target: remember it */
	enum hold_change hold;
	uint64_t hold_until;            /* HOLD_WRITE */
	time_t wake_at;                 /* ACTION_WAIT */
	int level;                      /* LOG_INFO or LOG_WARNING for the reason */
	char event[400];                /* logged when not "": a hold written, released... */
	char reason[400];               /* why; logged when the decision changes */
};

/* The decision for this poll. Never fails. */
void decide(const struct decide_rules *rules, const struct agent_state *st,
	    const struct poll_facts *f, struct decision *d);

const char *action_name(enum action a);

/* How often hail asks Hydra while it waits for an answer after a switch:
 * a fifth of the period, at least every second, at most every 5 s. */
unsigned contact_poll_s(unsigned contact_timeout_s);

/* The id hail knows for the profile's current path: from its generation
 * records, else Hydra's latest or the pin when the path is theirs; 0 when
 * unknown (never a guess). */
uint64_t known_id(const struct agent_state *st, const struct poll_facts *f);

/* The rule for outside control: a value replaces a source's word, absent
 * clears it, unreadable keeps it (fail closed). */
void control_settle(struct control_value *kept, const struct control_reading *r);

/* What the sources add up to at now: either one pauses; the tags' pin wins
 * over the fleet's. ssm_name names the fleet's source in the reasons. */
void control_combine(const struct control_value *tags, const struct control_value *fleet,
		     const char *ssm_name, time_t now, struct control_decision *d);

#endif
