/* The agent: keeps one profile on the latest successful build of one job. */
#ifndef HAIL_AGENT_H
#define HAIL_AGENT_H

#include <stdbool.h>
#include <stdint.h>

#include "control.h"
#include "error.h"
#include "http.h"
#include "hydra.h"
#include "options.h"
#include "state.h"

struct agent {
	const struct settings *set;     /* borrowed */
	struct hydra_job job;
	struct http_client *http;       /* owned */
	char *profile;                  /* owned: absolute path */
	char *name;                     /* owned: the profile's name for state and metrics */
	char *state_path;               /* owned: STATE_DIR/NAME/state.json */
	char *hold_path;                /* owned: STATE_DIR/NAME/hold */
	uint64_t latest_id;             /* last build Hydra offered, 0: none yet */
	char *latest_out;               /* owned: that build's output */
	int64_t latest_stoptime;        /* when it finished; else when hail saw it */
	uint64_t pin_id;                /* the build a pin names, once fetched */
	char *pin_out;                  /* owned: its output */
	uint64_t target_id;             /* the build to be on this poll: latest or pinned */
	const char *target_out;         /* borrowed: latest_out or pin_out */
	char *identity;                 /* owned: instance id or machine id, for rollouts */
	struct control control;         /* pause and pin from outside */
	bool control_on;
	struct control_decision ctl;    /* what control said this poll */
	unsigned failures;              /* polls failed in a row */
	bool ready_sent;                /* READY=1 went to systemd */
	struct agent_state st;
};

/* What one poll did, besides its error status. */
struct poll_outcome {
	bool switched;                  /* the profile now points elsewhere */
	bool held;                      /* a hold or a failed build kept it as it was */
	bool current;                   /* the profile is on the latest build */
	bool waiting;                   /* a new build waits for this machine's rollout turn */
};

/* Validates what settings_load() could not check alone (the job URI, the
 * profile name, the netrc file) and reads the state. HAIL_E_USAGE with the
 * reason in *e. */
int agent_init(struct agent *a, const struct settings *set, struct hail_errbuf *e);
void agent_free(struct agent *a);

/* One poll: ask Hydra, and when the profile is not on the latest build (and
 * not held), switch it and activate; roll back when activation fails. */
int agent_update(struct agent *a, struct poll_outcome *out, struct hail_errbuf *e);

/* --oneshot: one update; 0 when the profile is current and activated. */
int agent_run_oneshot(struct agent *a);

/* Polls until SIGTERM/SIGINT. Returns 0, or the error that made it stop. */
int agent_run_polling(struct agent *a);

#endif
