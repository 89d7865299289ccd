/* Generation retention (retention.h): which generations go. One row per
 * situation: the generations, what must stay, and what is deleted. */
#include <string.h>

#include "check.h"
#include "retention.h"

#define A "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-a"
#define B "/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-b"
#define C "/nix/store/cccccccccccccccccccccccccccccccc-c"

struct row {
	const char *name;
	unsigned keep;
	long current;
	const char *protect;            /* one build that must stay, or NULL */
	struct generation gens[8];
	size_t n;
	long want[8];
	size_t n_want;
};

static const struct row rows[] = {
	{ "keep 0 keeps all", 0, 6, NULL,
	  { { 1, A }, { 2, B }, { 3, C } }, 3, { 0 }, 0 },
	{ "fewer than keep: none go", 5, 3, NULL,
	  { { 1, A }, { 2, B }, { 3, C } }, 3, { 0 }, 0 },
	{ "the newest 2 stay", 2, 6, NULL,
	  { { 6, C }, { 1, A }, { 5, B }, { 3, A }, { 4, B }, { 2, C } }, 6, { 1, 2, 3, 4 }, 4 },
	{ "the current one stays though old (rolled back)", 2, 2, NULL,
	  { { 1, A }, { 2, B }, { 3, C }, { 4, A } }, 4, { 1 }, 1 },
	{ "the last good build's generations stay", 1, 4, B,
	  { { 1, A }, { 2, B }, { 3, C }, { 4, A } }, 4, { 1, 3 }, 2 },
	{ "keep 1 on the newest", 1, 9, NULL,
	  { { 7, A }, { 8, B }, { 9, C } }, 3, { 7, 8 }, 2 },
	{ "a generation whose link could not be read is judged by number", 1, 3, A,
	  { { 1, NULL }, { 2, A }, { 3, C } }, 3, { 1 }, 1 },
	{ "gaps in the numbers", 2, 40, NULL,
	  { { 3, A }, { 17, B }, { 40, C }, { 12, A } }, 4, { 3, 12 }, 2 },
};

int main(void)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		const char *paths[] = { r->protect };
		struct retention_keep k = { r->keep, r->current, paths, r->protect ? 1 : 0 };
		long doomed[8] = { 0 };
		size_t m = retention_choose(r->gens, r->n, &k, doomed);

		CHECK(m == r->n_want && !memcmp(doomed, r->want, m * sizeof(long)), "%s", r->name);
	}
	return check_exit();
}
