/* libFuzzer: the store path validator, checked against a plain restatement
 * of the rule in protocols.md. */
#include <stdint.h>
#include <string.h>

#include "storepath.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int reference(const char *s, size_t n)
{
	const char *b32 = "0123456789abcdfghijklmnpqrsvwxyz";
	const char *name = "+-._?=";

	if (n < 11 + 32 + 2 || n > 11 + 32 + 1 + 211 || memcmp(s, "/nix/store/", 11))
		return 0;
	for (size_t i = 11; i < 43; i++)
		if (!s[i] || !strchr(b32, s[i]))
			return 0;
	if (s[43] != '-' || s[44] == '.')
		return 0;
	for (size_t i = 44; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || (c && strchr(name, c))))
			return 0;
	}
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (storepath_valid((const char *)data, size, NULL) != reference((const char *)data, size))
		__builtin_trap();
	return 0;
}
