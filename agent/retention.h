/* Generation retention (--keep-generations N): after a successful
 * activation, the profile's generations beyond the newest N are deleted, so
 * that their closures are no longer roots and Nix's garbage collector may
 * take them. Never deleted: the current generation, the last known good
 * build's, hail's baseline, and any generation on the build a pin names or
 * the hold file holds. */
#ifndef HAIL_RETENTION_H
#define HAIL_RETENTION_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

#define RETENTION_MAX 4096      /* generations looked at; more is refused */

struct generation {
	long number;
	const char *path;       /* the store path it points to, or NULL: borrowed */
};

/* What must stay, besides the newest keep. */
struct retention_keep {
	unsigned keep;                  /* N >= 1 */
	long current;                   /* the generation the profile is on */
	const char *const *paths;       /* builds that must keep their generations */
	size_t n_paths;
};

/* The pure rule: fills doomed (room for n) with the numbers of gens (any
 * order) to delete, ascending; returns how many. */
size_t retention_choose(const struct generation *gens, size_t n, const struct retention_keep *k,
			long *doomed);

/* The generations retention_prune() would delete now, or, when next_path
 * is not NULL, after a switch to it adds the next generation (which becomes
 * the current one). *doomed: malloc'd, ascending, *m of them. */
int retention_doomed(const char *profile, const struct retention_keep *k, const char *next_path,
		     long **doomed, size_t *m, struct hail_errbuf *e);

/* Lists profile's generations (P-N-link next to P) and deletes the doomed
 * ones with one nix-env --delete-generations. *deleted says how many went. */
int retention_prune(const char *profile, const struct retention_keep *k, unsigned timeout_s,
		    size_t *deleted, struct hail_errbuf *e);

#endif
