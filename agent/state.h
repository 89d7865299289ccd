/* What the agent remembers between polls and across restarts, kept in
 * STATE_DIR/NAME/state.json (written atomically; durably when a deployment
 * changed it) and read by "hail status". */
#ifndef HAIL_STATE_H
#define HAIL_STATE_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "error.h"

#define STATE_FAILED_MAX 16
#define STATE_FILE_MAX (256 * 1024)

struct failed_build {
	uint64_t id;
	char *path;             /* owned */
};

/* Counted since the state file was created; metrics report them. */
struct state_counters {
	unsigned long poll_errors[16];  /* by -hail_err */
	unsigned long activations_ok;
	unsigned long activations_failed;
	unsigned long activations_timed_out;
	unsigned long rollbacks;
	unsigned long health_checks_failed;
};

struct agent_state {
	char *deployed_path;            /* owned: what hail last switched to, or NULL */
	uint64_t deployed_id;
	long deployed_generation;       /* 0: unknown */
	char *pending_path;             /* owned: what hail is switching to, or NULL */
	uint64_t pending_id;
	uint64_t latest_id;             /* the latest build Hydra offered */
	char *latest_path;              /* owned, or NULL */
	time_t last_poll;
	int last_poll_result;           /* a hail_err */
	char last_poll_error[256];      /* one line, no secrets */
	time_t last_success;
	char activation_result[16];     /* "", "success", "failure", "timeout" */
	long long activation_ms;
	uint64_t activation_id;
	time_t activation_time;
	char health_result[16];         /* "", "success", "failure", "timeout", "none" */
	long long health_ms;
	int health_exit;                /* bin/health-check's exit status, -1: none */
	bool paused;                    /* by a tag or the fleet's parameter */
	time_t pause_until;             /* 0: until lifted */
	uint64_t pin_id;                /* 0: not pinned */
	char control_source[160];       /* which tag or parameter, "" when none */
	uint64_t rollout_id;            /* a build waiting for this machine's turn */
	time_t rollout_at;              /* when this machine takes it */
	struct failed_build failed[STATE_FAILED_MAX];
	unsigned n_failed;
	char mode[24];                  /* "following", "held: manual switch", "paused",
					 * "pinned", "waiting: rollout", ... */
	struct state_counters counters;
};

/* Reads path into s (zeroed first). A missing file gives an empty state;
 * a corrupt one is reported in *e and also gives an empty state (HAIL_E_PROTOCOL). */
int state_load(const char *path, struct agent_state *s, struct hail_errbuf *e);

/* Writes s to path atomically; durable: fsync too (after a switch). */
int state_save(const char *path, const struct agent_state *s, bool durable,
	       struct hail_errbuf *e);

void state_free(struct agent_state *s);

bool state_failed(const struct agent_state *s, const char *path);
int state_add_failed(struct agent_state *s, uint64_t id, const char *path);
void state_clear_failed(struct agent_state *s);

/* The JSON text of s (malloc'd), as state_save writes it. */
char *state_to_json(const struct agent_state *s);
int state_from_json(const char *text, size_t len, struct agent_state *s, struct hail_errbuf *e);

#endif
