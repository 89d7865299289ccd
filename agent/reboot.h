/* Reboots a build asks for: its bin/reboot-required (exit 0: this build
 * takes full effect only after a reboot) is run after each successful
 * activation and health check, and hail reboots inside --reboot-window, at
 * this machine's offset in it (rollout.h's hash of the identity and the
 * build id), by running --reboot-command.
 *
 * The request (build, boot id) is journaled before the command runs, and a
 * reboot is never requested twice for one build: not again in the same
 * boot, and not after a reboot for it (a bin/reboot-required that keeps
 * saying 0 is a warning, never a reboot loop). Without a window hail only
 * reports; paused, held or in the middle of a step it does not reboot. */
#ifndef HAIL_REBOOT_H
#define HAIL_REBOOT_H

#include <stdbool.h>
#include <time.h>

#include "state.h"
#include "window.h"

#define REBOOT_COMMAND_TIMEOUT_S 120
#define REBOOT_REQUIRED_TIMEOUT_S 60
#define BOOT_ID_FILE "/proc/sys/kernel/random/boot_id"

/* What the reboot decision reads, besides the record. */
struct reboot_facts {
	time_t now;
	const char *cur_path;           /* the profile's build; NULL: none */
	const char *good_path;          /* the last known good */
	bool step_under_way;            /* the journal is not idle */
	bool holding;                   /* paused, held or waiting for a contact check */
	const char *boot_id;            /* "": unknown */
	const struct daily_window *window;      /* NULL: report only */
	unsigned offset_s;              /* this machine's moment in the window */
};

enum reboot_action {
	REBOOT_NONE,            /* nothing asks for a reboot */
	REBOOT_REPORT,          /* one is required, but hail does not reboot now (reason) */
	REBOOT_WAIT,            /* in the window, at .at */
	REBOOT_NOW,             /* record the request, then run the reboot-command */
	REBOOT_REQUESTED,       /* requested in this boot already: waiting for it */
	REBOOT_LOOP,            /* still required after the reboot for it: never again */
	REBOOT_ACTION_COUNT
};

struct reboot_plan {
	enum reboot_action action;
	time_t at;              /* REBOOT_WAIT */
	char reason[256];
};

/* Pure: what to do about the reboot the record asks for. */
void reboot_decide(const struct reboot_record *r, const struct reboot_facts *f,
		   struct reboot_plan *p);

/* Reads this boot's id into buf ("" when it cannot be read). */
void reboot_boot_id(char *buf, unsigned size);

/* After a successful activation of build ref (id may be 0): runs its
 * bin/reboot-required and records the answer in st. Its failure to run, a
 * timeout or a kill means "not required" (hail does not reboot on a guess),
 * with a warning. */
void reboot_check_required(struct agent_state *st, const char *profile,
			   const struct build_ref *ref);

/* Runs argv (NULL: systemctl reboot) with a time limit: 0, or
 * HAIL_E_ACTIVATE with the reason in *e. */
int reboot_run_command(const char *command, struct hail_errbuf *e);

#endif
