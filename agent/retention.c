#include "retention.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "child.h"
#include "log.h"
#include "strutil.h"

static int by_number_down(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return (x < y) - (x > y);
}

static int by_number_up(const void *a, const void *b)
{
	return -by_number_down(a, b);
}

static bool protected_path(const struct retention_keep *k, const char *path)
{
	for (size_t i = 0; path && i < k->n_paths; i++)
		if (k->paths[i] && !strcmp(k->paths[i], path))
			return true;
	return false;
}

size_t retention_choose(const struct generation *gens, size_t n, const struct retention_keep *k,
			long *doomed)
{
	long newest_kept = LONG_MIN;    /* the oldest of the newest keep */
	size_t m = 0;

	if (k->keep == 0)
		return 0;               /* keep all, as without the setting */
	if (n > k->keep) {
		long *numbers = malloc(n * sizeof(*numbers));

		if (!numbers)
			return 0;       /* deleting nothing is always safe */
		for (size_t i = 0; i < n; i++)
			numbers[i] = gens[i].number;
		qsort(numbers, n, sizeof(*numbers), by_number_down);
		newest_kept = numbers[k->keep - 1];
		free(numbers);
	}
	for (size_t i = 0; i < n; i++) {
		const struct generation *g = &gens[i];

		if (g->number >= newest_kept || g->number == k->current ||
		    protected_path(k, g->path))
			continue;
		doomed[m++] = g->number;
	}
	qsort(doomed, m, sizeof(*doomed), by_number_up);
	return m;
}

/* N when name is base-N-link, else 0. */
static long generation_number(const char *name, const char *base, size_t base_len)
{
	unsigned long long n;
	char digits[24];
	size_t len;

	if (strncmp(name, base, base_len) || name[base_len] != '-')
		return 0;
	name += base_len + 1;
	len = strlen(name);
	if (len <= 5 || strcmp(name + len - 5, "-link") || len - 5 >= sizeof(digits))
		return 0;
	memcpy(digits, name, len - 5);
	digits[len - 5] = '\0';
	return str_to_u64(digits, 1, LONG_MAX, &n) == 0 ? (long)n : 0;
}

struct listing {
	struct generation *gens;        /* owned, with their paths */
	size_t n;
};

static void listing_free(struct listing *l)
{
	for (size_t i = 0; i < l->n; i++)
		free((char *)l->gens[i].path);
	free(l->gens);
	memset(l, 0, sizeof(*l));
}

static int list_generations(const char *dir, const char *base, struct listing *l,
			    struct hail_errbuf *e)
{
	size_t base_len = strlen(base);
	struct dirent *d;
	DIR *dp;
	int ret = 0;

	memset(l, 0, sizeof(*l));
	l->gens = calloc(RETENTION_MAX, sizeof(*l->gens));
	dp = l->gens ? opendir(dir) : NULL;
	if (!dp) {
		ret = hail_fail(e, HAIL_E_INTERNAL, "cannot list %s: %s", dir,
				l->gens ? strerror(errno) : "out of memory");
		listing_free(l);
		return ret;
	}
	while (ret == 0 && (d = readdir(dp))) {
		long number = generation_number(d->d_name, base, base_len);
		char link[PATH_MAX + 1], target[PATH_MAX + 1];
		ssize_t n;

		if (!number)
			continue;
		if (l->n == RETENTION_MAX) {
			ret = hail_fail(e, HAIL_E_INTERNAL, "%s: more than %d generations", dir,
					RETENTION_MAX);
			break;
		}
		snprintf(link, sizeof(link), "%s/%s", dir, d->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = '\0';
		l->gens[l->n].number = number;
		l->gens[l->n].path = n > 0 ? strdup(target) : NULL;
		l->n++;
	}
	closedir(dp);
	if (ret < 0)
		listing_free(l);
	return ret;
}

int retention_doomed(const char *profile, const struct retention_keep *k, const char *next_path,
		     long **doomed, size_t *m, struct hail_errbuf *e)
{
	char *dir = strdup(profile), *slash;
	const char *base = strrchr(profile, '/');
	struct retention_keep after = *k;
	struct listing l = { 0 };
	long newest = 0;
	int ret;

	*doomed = NULL;
	*m = 0;
	if (!dir || !base) {
		free(dir);
		return hail_fail(e, HAIL_E_INTERNAL, "out of memory");
	}
	base++;
	slash = strrchr(dir, '/');
	*slash = '\0';
	ret = list_generations(*dir ? dir : "/", base, &l, e);
	free(dir);
	if (ret < 0)
		return ret;
	if (next_path) {
		/* nix-env --set makes the next number, and the profile goes there */
		for (size_t i = 0; i < l.n; i++)
			if (l.gens[i].number > newest)
				newest = l.gens[i].number;
		if (l.n < RETENTION_MAX) {
			l.gens[l.n].number = after.current = newest + 1;
			l.gens[l.n].path = strdup(next_path);
			l.n++;
		}
	}
	*doomed = malloc((l.n ? l.n : 1) * sizeof(**doomed));
	if (*doomed)
		*m = retention_choose(l.gens, l.n, &after, *doomed);
	else
		ret = hail_fail(e, HAIL_E_INTERNAL, "out of memory");
	listing_free(&l);
	return ret;
}

int retention_prune(const char *profile, const struct retention_keep *k, unsigned timeout_s,
		    size_t *deleted, struct hail_errbuf *e)
{
	const char **argv = NULL;
	char (*numbers)[24] = NULL;
	long *doomed = NULL;
	struct child_result res;
	size_t m = 0;
	int ret;

	*deleted = 0;
	ret = retention_doomed(profile, k, NULL, &doomed, &m, e);
	if (ret == 0 && m) {
		argv = calloc(m + 5, sizeof(*argv));
		numbers = calloc(m, sizeof(*numbers));
		if (!argv || !numbers)
			ret = hail_fail(e, HAIL_E_INTERNAL, "out of memory");
	}
	if (ret == 0 && m) {
		argv[0] = "nix-env";
		argv[1] = "--profile";
		argv[2] = profile;
		argv[3] = "--delete-generations";
		for (size_t i = 0; i < m; i++) {
			snprintf(numbers[i], sizeof(numbers[i]), "%ld", doomed[i]);
			argv[4 + i] = numbers[i];
		}
		if (child_run(argv, timeout_s, &res) < 0) {
			ret = hail_fail(e, HAIL_E_NIX, "cannot run nix-env: %s",
					strerror(res.spawn_errno));
		} else if (!child_succeeded(&res)) {
			char how[128];

			child_describe(&res, how, sizeof(how));
			ret = hail_fail(e, HAIL_E_NIX, "nix-env --profile %s --delete-generations %s",
					profile, how);
		} else {
			*deleted = m;
		}
	}
	free(numbers);
	free(argv);
	free(doomed);
	return ret;
}
