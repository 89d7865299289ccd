/* The disk settings both programs read (hail's flags and config keys, and
 * hail-bootstrap's user-data, which passes them on in the fleet file):
 * keep-generations N, gc MODE and min-free-after SIZE. One parser each, so
 * that the bootstrap refuses exactly what the agent would. */
#ifndef HAIL_DISKSETTINGS_H
#define HAIL_DISKSETTINGS_H

#include <stdbool.h>

#define KEEP_GENERATIONS_MAX 10000
#define MIN_FREE_AFTER_MAX (1ULL << 60)

enum gc_mode {
	GC_OFF,                 /* hail never collects (the default) */
	GC_WHEN_NEEDED,         /* before a switch that does not fit */
	GC_AFTER_DEPLOY,        /* that, and after each pruning of generations */
};

/* "off", "when-needed", "after-deploy"; false for anything else. */
bool gc_mode_parse(const char *s, enum gc_mode *mode);
const char *gc_mode_name(enum gc_mode mode);

/* "N", "NK", "NM", "NG" (powers of 1024) into bytes, at most
 * MIN_FREE_AFTER_MAX. 0, or HAIL_E_USAGE. */
int size_parse(const char *text, unsigned long long *out);

#endif
