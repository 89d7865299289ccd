/* hail plan: one read-only poll. It observes and decides as a poll does
 * (agent_decide) and says what hail would do now and why: the action and its
 * reason from the deployment core, the build it would move to, what Nix
 * would download and unpack for it (nix-store --realise --dry-run), and the
 * generations --keep-generations would delete afterwards. It switches
 * nothing, activates nothing and writes no file: no generation, no state, no
 * hold, no metrics, no events. */
#ifndef HAIL_PLAN_H
#define HAIL_PLAN_H

#include <stdbool.h>

/* argv[0] is "plan"; the settings' flags and --config as for a poll, and
 * --json. Returns 0 or a HAIL_E_ code for main's exit status; *would_change
 * tells whether hail would switch, roll back or activate. */
int plan_main(int argc, char **argv, bool *would_change);

#endif
