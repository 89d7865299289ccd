#include "disk.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "child.h"
#include "log.h"
#include "storepath.h"
#include "strutil.h"

#define MIB (1024.0 * 1024.0)
#define SIZE_MAX_MIB 1e9        /* a petabyte: anything above is nonsense */

/* Finds needle in the first len bytes of text (which need not end in NUL). */
static const char *find(const char *text, size_t len, const char *needle)
{
	size_t n = strlen(needle);

	for (size_t i = 0; i + n <= len; i++)
		if (!memcmp(text + i, needle, n))
			return text + i;
	return NULL;
}

/* "12.34 MiB" (or KiB, GiB, bytes) at *p, as Nix's showBytes writes it. */
static bool read_size(const char **p, const char *end, uint64_t *bytes)
{
	char num[32], *stop;
	size_t k = 0;
	double v, unit;

	while (*p < end && k + 1 < sizeof(num) && ((**p >= '0' && **p <= '9') || **p == '.'))
		num[k++] = *(*p)++;
	num[k] = '\0';
	if (!k || *p >= end || **p != ' ')
		return false;
	(*p)++;
	v = strtod(num, &stop);
	if (*stop || !(v >= 0 && v <= SIZE_MAX_MIB * MIB))
		return false;      /* also NaN */
	if (end - *p >= 3 && !memcmp(*p, "MiB", 3))
		unit = MIB;
	else if (end - *p >= 3 && !memcmp(*p, "KiB", 3))
		unit = 1024.0;
	else if (end - *p >= 3 && !memcmp(*p, "GiB", 3))
		unit = MIB * 1024.0;
	else
		return false;
	*p += 3;
	v *= unit;
	if (v > SIZE_MAX_MIB * MIB)
		return false;
	*bytes = (uint64_t)v;
	if ((double)*bytes < v)
		(*bytes)++;     /* rounded up: the guard must not come out short */
	return true;
}

int disk_parse_dry_run(const char *text, size_t len, uint64_t *download, uint64_t *unpacked,
		       struct hail_errbuf *e)
{
	const char *end = text + len, *p = find(text, len, " will be fetched (");

	*download = *unpacked = 0;
	if (!p)
		return 0;               /* nothing to fetch */
	p += strlen(" will be fetched (");
	if (!read_size(&p, end, download) || end - p < 11 || memcmp(p, " download, ", 11))
		return hail_fail(e, HAIL_E_NIX, "nix-store --dry-run: cannot read the download size");
	p += 11;
	if (!read_size(&p, end, unpacked) || end - p < 10 || memcmp(p, " unpacked)", 10))
		return hail_fail(e, HAIL_E_NIX, "nix-store --dry-run: cannot read the unpacked size");
	return 0;
}

bool disk_parse_freed(const char *text, size_t len, uint64_t *freed)
{
	const char *end = text + len, *p = find(text, len, " store paths deleted, ");

	*freed = 0;
	if (!p)
		return false;
	p += strlen(" store paths deleted, ");
	return read_size(&p, end, freed) && end - p >= 6 && !memcmp(p, " freed", 6);
}

uint64_t disk_default_margin(uint64_t total)
{
	return total / 10 < DISK_MARGIN_CAP ? total / 10 : DISK_MARGIN_CAP;
}

bool disk_fits(uint64_t unpacked, uint64_t free, uint64_t margin)
{
	return unpacked <= free && margin <= free - unpacked;
}

int disk_space(uint64_t *free, uint64_t *total, struct hail_errbuf *e)
{
	struct statvfs st;

	if (statvfs(STORE_DIR, &st) < 0)
		return hail_fail(e, HAIL_E_INTERNAL, "statvfs %s: %s", STORE_DIR, strerror(errno));
	*free = (uint64_t)st.f_bavail * st.f_frsize;
	*total = (uint64_t)st.f_blocks * st.f_frsize;
	return 0;
}

/* Runs argv, its output in out; HAIL_E_NIX unless it succeeded. */
static int run_nix(const char *const argv[], const char *what, unsigned timeout_s, char *out,
		   size_t *len, struct hail_errbuf *e)
{
	struct child_result res;
	char how[128];

	if (child_run_output(argv, timeout_s, out, DISK_OUTPUT_MAX, len, &res) < 0)
		return hail_fail(e, HAIL_E_NIX, "cannot run %s: %s", argv[0],
				 strerror(res.spawn_errno));
	if (!child_succeeded(&res)) {
		char last[200] = "";
		size_t end = *len, start;

		/* its last line says why (Nix's "error: ..."), escaped */
		while (end && (out[end - 1] == '\n' || out[end - 1] == ' '))
			end--;
		for (start = end; start && out[start - 1] != '\n'; start--)
			;
		str_escape(last, sizeof(last), out + start, end - start);
		child_describe(&res, how, sizeof(how));
		return hail_fail(e, HAIL_E_NIX, "%s %s%s%s", what, how, last[0] ? ": " : "", last);
	}
	return 0;
}

int disk_check(const char *path, unsigned timeout_s, struct disk_need *n, struct hail_errbuf *e)
{
	const char *argv[] = { "nix-store", "--realise", "--dry-run", path, NULL };
	char *out = malloc(DISK_OUTPUT_MAX);
	size_t len = 0;
	int ret;

	memset(n, 0, sizeof(*n));
	if (!out)
		return hail_fail(e, HAIL_E_INTERNAL, "out of memory");
	ret = run_nix(argv, "nix-store --realise --dry-run", timeout_s, out, &len, e);
	if (ret == 0)
		ret = disk_parse_dry_run(out, len, &n->download, &n->unpacked, e);
	free(out);
	if (ret == 0)
		ret = disk_space(&n->free, &n->total, e);
	return ret;
}

int disk_collect(uint64_t max_freed, unsigned timeout_s, uint64_t *freed, struct hail_errbuf *e)
{
	char bytes[24];
	const char *argv[] = { "nix-store", "--gc", max_freed ? "--max-freed" : NULL, bytes, NULL };
	char *out = malloc(DISK_OUTPUT_MAX);
	size_t len = 0;
	int ret;

	*freed = 0;
	if (!out)
		return hail_fail(e, HAIL_E_INTERNAL, "out of memory");
	snprintf(bytes, sizeof(bytes), "%" PRIu64, max_freed);
	ret = run_nix(argv, "nix-store --gc", timeout_s, out, &len, e);
	if (ret == 0 && !disk_parse_freed(out, len, freed))
		log_debug("nix-store --gc did not say what it freed");
	free(out);
	return ret;
}
