/* The agent: keeps one profile on the latest successful build of one job.
 *
 * One poll is observe (observe.c: gather the facts, no decision), decide
 * (decide.c: a pure function of the facts and the state) and act (act.c:
 * carry out the one action, journaled). This file holds the loop around it:
 * set-up, --oneshot, polling, and what is recorded after each poll. */
#ifndef HAIL_AGENT_H
#define HAIL_AGENT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "control.h"
#include "decide.h"
#include "disk.h"
#include "error.h"
#include "event.h"
#include "fetch.h"
#include "hydra.h"
#include "options.h"
#include "state.h"

/* Where this profile's things live. */
struct agent_paths {
	char *profile;                  /* owned: absolute path */
	char *name;                     /* owned: the profile's state name (profilename.h) */
	char *label;                    /* owned: its name as given, for metrics */
	char *state_path;               /* owned: STATE_DIR/NAME/state.json */
	char *hold_path;                /* owned: STATE_DIR/NAME/hold */
};

/* The peers the agent talks to, all through the fetcher (fetch.h). */
struct agent_clients {
	struct hydra_job job;           /* the job followed, for the root side's logs */
	struct fetch fetch;
	bool fetch_open;
	bool control_on;                /* pause and pin are read from outside */
};

/* What Hydra said, kept between polls so that an idle poll is one request:
 * a build's JSON is read only when its id is new. */
struct build_cache {
	uint64_t latest_id;             /* 0: none yet */
	char *latest_path;              /* owned */
	int64_t latest_stoptime;
	uint64_t pin_id;                /* the build a pin names, once fetched */
	char *pin_path;                 /* owned */
};

/* This poll's observation: the facts decide() reads, and the error that
 * kept a fact unknown (the poll's error when it is not 0). */
struct observation {
	struct poll_facts f;            /* borrows from cur_path and the build cache */
	char *cur_path;                 /* owned */
	bool profile_unreadable;        /* nothing can be decided this poll */
	char halt_why[400];             /* f.halt_why */
	int err;
	struct hail_errbuf why;
};

struct agent {
	const struct settings *set;     /* borrowed */
	struct agent_paths paths;
	struct agent_clients clients;
	struct build_cache builds;
	struct decide_rules rules;      /* borrows from set and identity */
	char *identity;                 /* owned: instance id or machine id, for rollouts */
	struct agent_state st;          /* persisted */
	struct observation obs;         /* this poll */
	struct decision last;           /* the last poll's decision, to log changes once */
	bool decided;                   /* last is set */
	struct {                        /* the state file as this process last left it */
		dev_t dev;
		ino_t ino;
		long long mtime_ns;
	} state_file;
	enum gc_mode gc;                /* --gc */
	bool netrc_warned;
	char reboot_said[256];          /* the reboot plan's reason last logged */
	struct event_runner events;     /* --event-command */
	bool metrics_warned;            /* a failed PutMetricData was said */
	uint64_t paused_out_id;         /* the build a pause kept out, said as an event */
	unsigned failures;              /* polls failed in a row */
};

/* What one poll did, besides its error status. */
struct poll_outcome {
	enum action action;             /* what was decided */
	bool switched;                  /* the profile now points elsewhere */
	bool activated;                 /* an activation ran (whatever its result) */
	bool current;                   /* on the target, and its activation succeeded */
	bool again;                     /* poll again at once: the profile moved meanwhile */
	time_t wake_at;                 /* ACTION_WAIT: when the turn comes */
};

/* Validates what settings_load() could not check alone (the job URI, the
 * profile name, the netrc file) and reads the state. HAIL_E_USAGE with the
 * reason in *e. */
int agent_init(struct agent *a, const struct settings *set, struct hail_errbuf *e);
void agent_free(struct agent *a);

/* A poll's first half: observe and decide, changing nothing but memory
 * (hail plan). *decided is false when the profile could not be read. Returns
 * the error that kept a fact unknown. */
int agent_decide(struct agent *a, struct decision *d, bool *decided, struct hail_errbuf *e);

/* One poll: observe, decide, act. */
int agent_update(struct agent *a, struct poll_outcome *out, struct hail_errbuf *e);

/* Writes the state (durable: fsync'd, around a step) and notes the file,
 * so that a change by another process is seen at the next poll. */
int agent_save_state(struct agent *a, bool durable, struct hail_errbuf *e);

/* Reads the state file again (another hail on this profile changed it),
 * keeping this poll's word of each control source; keeps the state in
 * memory when the file cannot be read. */
void agent_reload_state(struct agent *a);

/* --oneshot: one update; 0 when the profile is current and activated. */
int agent_run_oneshot(struct agent *a);

/* Polls until SIGTERM/SIGINT. Returns 0, or the error that made it stop. */
int agent_run_polling(struct agent *a);

#endif
