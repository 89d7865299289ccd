/* The "act" step of a poll: carries out one decision (decide.h) on the
 * machine, journaling each step in the state file before it is taken:
 *
 *   switch:    journal "switching to X from G"  -> nix-env --set X
 *              journal "activating X"           -> bin/activate, bin/health-check
 *   failure:   journal "rolling back to G"      -> --switch-generation G, activate
 *   done:      journal idle; X (or G) is the last known good
 *
 * The journal write before a switch must succeed (else nothing is switched);
 * later writes that fail are logged, and the step they would have recorded is
 * found again from the journal and the profile at the next poll. */
#ifndef HAIL_ACT_H
#define HAIL_ACT_H

#include <stdint.h>

#include "agent.h"
#include "retention.h"

/* Carries out d for the facts in a->obs. The profile's lock is held for any
 * action that touches it; when the profile moved since it was observed,
 * nothing is done and out->again asks for a new poll. */
int act(struct agent *a, const struct decision *d, struct poll_outcome *out,
	struct hail_errbuf *e);

/* Activates the build the profile is on (start-up and --oneshot: the
 * machine may have booted into a state the service is not set up for),
 * under the lock, waiting up to wait_s for it. Its result is recorded; a
 * success makes that build the last known good (it is one, now). */
int act_activate_current(struct agent *a, unsigned wait_s, struct hail_errbuf *e);

/* After a poll that changed nothing: reboots when the build the profile
 * is on asked for one and its moment in --reboot-window has come (reboot.h);
 * else reports, or sets out->wake_at to that moment. */
void act_consider_reboot(struct agent *a, struct poll_outcome *out);

/* The room a switch must leave free: --min-free-after, else the default
 * for a file system of total bytes (disk.h). */
uint64_t act_disk_margin(const struct agent *a, uint64_t total);

/* What --keep-generations keeps besides the newest N: the current
 * generation, the last known good, the baseline and the pinned build
 * (retention.h). k borrows paths, which it fills. */
#define ACT_KEEP_PATHS 3
void act_retention_keep(const struct agent *a, const char *paths[ACT_KEEP_PATHS],
			struct retention_keep *k);

#endif
