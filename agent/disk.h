/* The disk-space guard (--min-free-after) and Nix's garbage collector, as
 * hail starts it (--gc).
 *
 * Before a switch hail asks Nix what it would fetch (nix-store --realise
 * --dry-run PATH: "these N paths will be fetched (X MiB download, Y MiB
 * unpacked)") and compares the unpacked size plus a margin with the free
 * space of the store's file system (statvfs). When it does not fit, and --gc
 * allows, it collects garbage first (nix-store --gc --max-freed BYTES); when
 * it still does not fit, the download does not start: the running service's
 * disk never fills because of hail. */
#ifndef HAIL_DISK_H
#define HAIL_DISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "disksettings.h"
#include "error.h"

#define DISK_OUTPUT_MAX (64 * 1024)     /* of nix-store's output, read */
#define DISK_MARGIN_CAP (1024ULL * 1024 * 1024)

struct disk_need {
	uint64_t download;      /* bytes Nix would download */
	uint64_t unpacked;      /* bytes the paths take once unpacked */
	uint64_t free;          /* available to hail in the store's file system */
	uint64_t total;         /* its size */
};

/* Pure parsers, for tests and fuzzing. The dry run's sizes: 0 and 0 when it
 * says nothing will be fetched. HAIL_E_NIX with the reason when a size line
 * is there but cannot be read. */
int disk_parse_dry_run(const char *text, size_t len, uint64_t *download, uint64_t *unpacked,
		       struct hail_errbuf *e);
/* nix-store --gc's "N store paths deleted, X MiB freed"; false when absent. */
bool disk_parse_freed(const char *text, size_t len, uint64_t *freed);

/* The margin when --min-free-after is not given: the smaller of 1 GiB and a
 * tenth of the file system. */
uint64_t disk_default_margin(uint64_t total);

/* True when unpacked bytes plus margin fit in free. */
bool disk_fits(uint64_t unpacked, uint64_t free, uint64_t margin);

/* Sizes path's download (dry run, time-limited) and the store's free space. */
int disk_check(const char *path, unsigned timeout_s, struct disk_need *n, struct hail_errbuf *e);

/* The store's free and total bytes. */
int disk_space(uint64_t *free, uint64_t *total, struct hail_errbuf *e);

/* nix-store --gc, with --max-freed max_freed unless it is 0 (collect all),
 * time-limited. *freed: the bytes it says it freed. */
int disk_collect(uint64_t max_freed, unsigned timeout_s, uint64_t *freed, struct hail_errbuf *e);

#endif
