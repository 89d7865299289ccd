/* The disk-space guard's pure parts (disk.h): Nix's dry-run and gc lines as
 * Nix 2.8 prints them (src/libmain/shared.cc, printMissing and printFreed),
 * and the fit rule. */
#include <string.h>

#include "check.h"
#include "disk.h"

#define MIB (1024ULL * 1024)

struct dry_row {
	const char *name;
	const char *text;
	int ret;
	unsigned long long download, unpacked;
};

static const struct dry_row dry_rows[] = {
	{ "nothing to fetch", "", 0, 0, 0 },
	{ "one path",
	  "this path will be fetched (0.01 MiB download, 40.00 MiB unpacked):\n"
	  "  /nix/store/n5iw3wammirbfcc7c81x8r3fjm9pdryf-hail-demo-3\n", 0, 10486, 40 * MIB },
	{ "several paths, after the derivations to build",
	  "these 2 derivations will be built:\n  /nix/store/x.drv\n"
	  "these 12 paths will be fetched (3.50 MiB download, 10.25 MiB unpacked):\n", 0,
	  3670016, 10747904 },
	{ "GiB and KiB", "these 3 paths will be fetched (512.00 KiB download, 1.50 GiB unpacked):\n",
	  0, 524288, 1610612736 },
	{ "a size that cannot be read",
	  "this path will be fetched (lots download, 40.00 MiB unpacked):\n", -7, 0, 0 },
	{ "a unit Nix does not print", "this path will be fetched (1 TiB download, 1 TiB unpacked):\n",
	  -7, 0, 0 },
	{ "a size past a petabyte",
	  "this path will be fetched (1.00 MiB download, 99999999999.00 MiB unpacked):\n", -7, 0, 0 },
	{ "cut short", "this path will be fetched (1.00 MiB download, 40.0", -7, 0, 0 },
};

int main(void)
{
	for (size_t i = 0; i < sizeof(dry_rows) / sizeof(dry_rows[0]); i++) {
		const struct dry_row *r = &dry_rows[i];
		struct hail_errbuf e;
		uint64_t d = 1, u = 1;
		int ret = disk_parse_dry_run(r->text, strlen(r->text), &d, &u, &e);

		CHECK(ret == r->ret && (ret < 0 || (d == r->download && u == r->unpacked)),
		      "dry run: %s", r->name);
	}
	{
		const char *out = "deleting '/nix/store/x'\n3 store paths deleted, 30.02 MiB freed\n";
		uint64_t freed;

		CHECK(disk_parse_freed(out, strlen(out), &freed) && freed == 31478252,
		      "gc: the freed line");
		CHECK(!disk_parse_freed("nothing", 7, &freed) && freed == 0, "gc: no freed line");
	}
	CHECK(disk_fits(40 * MIB, 42 * MIB, MIB) && !disk_fits(40 * MIB, 41 * MIB - 1, MIB) &&
	      !disk_fits(50 * MIB, 40 * MIB, 0) && disk_fits(0, 0, 0) &&
	      !disk_fits(1, UINT64_MAX, UINT64_MAX), "fit: needed plus margin within free");
	CHECK(disk_default_margin(4ULL << 30) == 429496729 &&
	      disk_default_margin(100ULL << 30) == 1ULL << 30, "margin: min(1 GiB, 10%%)");
	{
		enum gc_mode m;

		CHECK(gc_mode_parse("when-needed", &m) && m == GC_WHEN_NEEDED &&
		      gc_mode_parse("off", &m) && m == GC_OFF &&
		      !gc_mode_parse("After-deploy", &m), "gc modes");
	}
	return check_exit();
}
