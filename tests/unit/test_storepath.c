#include <string.h>

#include "check.h"
#include "storepath.h"

#define H "882hqh7rym3ckw2q575klshwn05hz688"

static const struct { const char *path; int ok; } rows[] = {
	{ "/nix/store/" H "-demo-2", 1 },
	{ "/nix/store/" H "-a", 1 },
	{ "/nix/store/" H "-A+b-c.d_e?f=g", 1 },
	{ "/nix/store/" H "-", 0 },
	{ "/nix/store/" H "-.hidden", 0 },
	{ "/nix/store/" H "-x/bin", 0 },
	{ "/nix/store/" H "-x y", 0 },
	{ "/nix/store/" H "-x;touch", 0 },
	{ "/nix/store/" H "-x$(id)", 0 },
	{ "/nix/store/" H "-x\n", 0 },
	{ "/nix/store/" H "x", 0 },
	{ "/nix/store/882hqh7rym3ckw2q575klshwn05hz68e-x", 0 },   /* e not base-32 */
	{ "/nix/store/882hqh7rym3ckw2q575klshwn05hz68-x", 0 },    /* 31 chars */
	{ "/nix/store/882HQH7rym3ckw2q575klshwn05hz688-x", 0 },
	{ "/nix/store/../../etc; touch /tmp/pwned", 0 },
	{ "/nix/store/", 0 },
	{ "/nix/store", 0 },
	{ "", 0 },
	{ "nix/store/" H "-x", 0 },
	{ "/nix/storex/" H "-x", 0 },
	{ "/gnu/store/" H "-x", 0 },
	{ "//nix/store/" H "-x", 0 },
};

int main(void)
{
	char longname[300];
	const char *why;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		CHECK(storepath_valid(rows[i].path, strlen(rows[i].path), &why) == rows[i].ok,
		      "storepath row %zu", i);

	/* the name may have 211 characters, not 212 */
	memset(longname, 'a', sizeof(longname));
	memcpy(longname, "/nix/store/" H "-", 44);
	CHECK(storepath_valid(longname, 44 + 211, NULL), "storepath name of 211");
	CHECK(!storepath_valid(longname, 44 + 212, NULL), "storepath name of 212");
	/* the length given is the length checked: an embedded NUL is refused */
	CHECK(!storepath_valid("/nix/store/" H "-a\0b", 46, NULL), "storepath embedded NUL");
	CHECK(!storepath_valid("/nix/store/" H "-x/", 46, &why) && why, "storepath says why");
	return check_exit();
}
