/* What the agent remembers between polls and across restarts, kept in
 * STATE_DIR/NAME/state.json (written atomically; durably before and after
 * every step that changes the machine) and read by "hail status".
 *
 * Three records of a build are kept apart: what the profile pointed to at the
 * last poll ("on"), what hail itself last put there or adopted ("baseline": a
 * profile found elsewhere was switched by someone else), and the last known
 * good build (its activation and health check succeeded). The journal says
 * which step that changes the machine is under way, so that a crash, a full
 * disk or SIGTERM between a switch and its activation is finished at the next
 * start. An id is kept next to a path only when it is known to be that
 * path's id; 0 means unknown. */
#ifndef HAIL_STATE_H
#define HAIL_STATE_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "error.h"
#include "fleetmetrics.h"
#include "mode.h"

#define STATE_FAILED_MAX 16
#define STATE_GENERATIONS_MAX 16     /* written every poll: kept short */
#define STATE_FILE_MAX (256 * 1024)

/* A store path, the Hydra build it is (0: unknown) and the profile
 * generation that holds it (0: none or unknown). */
struct build_ref {
	uint64_t id;
	long generation;
	char *path;             /* owned by the struct holding the ref, or NULL */
};

struct journal {
	enum agent_phase phase;
	struct build_ref to;    /* switching to, activating, rolling back to, or confirming */
	struct build_ref from;  /* what the profile was on before: the way back (the
				 * build under suspicion, after a rollback for lost contact) */
	bool lost_contact;      /* ROLLING_BACK: because Hydra stopped answering */
	time_t until;           /* CONFIRMING*: Hydra must answer before this time */
};

/* Reboots a build asks for (bin/reboot-required), and the one hail asked
 * for, kept so that it never asks twice for one build. */
struct reboot_record {
	struct build_ref required;      /* its bin/reboot-required said 0; path NULL: none */
	struct build_ref requested;     /* the reboot-command was run for it ... */
	char boot_id[40];               /* ... in this boot */
	time_t requested_at;
	bool loop_warned;               /* "still required after its reboot" was said */
};

/* What one source of outside control said last (instance tags, the fleet's
 * SSM parameter). */
struct control_value {
	bool pause;
	time_t pause_until;     /* 0: until the pause is lifted */
	uint64_t pin;           /* 0: none */
};

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
	unsigned long fetcher_restarts;
	unsigned long contact_rollbacks;        /* rollbacks because Hydra stopped answering */
	unsigned long reboots_requested;
	unsigned long long gc_freed_bytes;      /* by the garbage collection hail started */
};

struct agent_state {
	enum agent_mode mode;
	struct journal journal;
	struct build_ref on;            /* the profile at the last poll */
	struct build_ref baseline;      /* hail's own last switch, or what it adopted */
	struct build_ref good;          /* last known good */
	struct build_ref gens[STATE_GENERATIONS_MAX];   /* generations hail made, oldest first */
	unsigned n_gens;
	uint64_t latest_id;             /* the latest build Hydra offered */
	char *latest_path;              /* owned, or NULL */
	time_t last_poll;
	int last_poll_result;           /* a hail_err */
	char last_poll_error[256];      /* one line, no secrets */
	time_t last_success;            /* last poll that ended on the target, activated */
	char activation_result[16];     /* "", "success", "failure", "timeout" */
	long long activation_ms;
	uint64_t activation_id;
	time_t activation_time;
	char health_result[16];         /* "", "success", "failure", "timeout", "none" */
	long long health_ms;
	int health_exit;                /* bin/health-check's exit status, -1: none */
	struct control_value tags;      /* each source's last readable word */
	struct control_value fleet;
	bool paused;                    /* what they add up to, for status */
	time_t pause_until;
	uint64_t pin_id;
	char control_source[160];       /* which tag or parameter, "" when none */
	uint64_t rollout_id;            /* a build waiting for this machine's turn */
	time_t rollout_at;              /* when this machine takes it */
	uint64_t disk_wait_id;          /* a build that does not fit on the disk, 0: none */
	uint64_t disk_needed;           /* its unpacked size plus the margin, bytes */
	uint64_t disk_free;             /* what the store's file system had free */
	struct failed_build failed[STATE_FAILED_MAX];
	unsigned n_failed;
	struct reboot_record reboot;
	char halt_reason[400];          /* MODE_HALTED: which alarm, and its state */
	char halt_alarm[256];           /* MODE_HALTED: the alarm's name */
	struct fleet_metrics_sent cw_sent;      /* what CloudWatch was told last */
	struct build_ref halted;        /* the build the halt alarm stopped: not taken
					 * even after the alarm clears (a newer one is) */
	struct build_ref outage;        /* let off after an outage: taken again only
					 * once Hydra answers (contact-timeout) */
	struct state_counters counters;
};

/* Reads path into s (zeroed first). A missing file gives an empty state;
 * a corrupt one is reported in *e and also gives an empty state (HAIL_E_PROTOCOL). */
int state_load(const char *path, struct agent_state *s, struct hail_errbuf *e);

/* Writes s to path atomically; durable: fsync too (around a step). */
int state_save(const char *path, const struct agent_state *s, bool durable,
	       struct hail_errbuf *e);

void state_free(struct agent_state *s);

/* dst becomes a copy of {id, generation, path}; HAIL_E_INTERNAL on OOM, dst
 * unchanged. path may be NULL (an empty ref). */
int ref_set(struct build_ref *dst, uint64_t id, long generation, const char *path);
void ref_clear(struct build_ref *r);
bool ref_is(const struct build_ref *r, const char *path);

/* Moves the journal to phase; to/from are copied (NULL: keep). Idle
 * clears it all, lost_contact and until too. */
int journal_set(struct agent_state *s, enum agent_phase phase, const struct build_ref *to,
		const struct build_ref *from);

/* Records that hail made generation ref->generation holding ref (the
 * oldest record goes when full). */
int state_add_generation(struct agent_state *s, const struct build_ref *ref);

/* The build id hail recorded for generation gen holding path, 0 if none. */
uint64_t state_generation_id(const struct agent_state *s, long gen, const char *path);

bool state_failed(const struct agent_state *s, const char *path);
int state_add_failed(struct agent_state *s, uint64_t id, const char *path);
void state_clear_failed(struct agent_state *s);

/* The JSON text of s (malloc'd), as state_save writes it. */
char *state_to_json(const struct agent_state *s);
int state_from_json(const char *text, size_t len, struct agent_state *s, struct hail_errbuf *e);

#endif
