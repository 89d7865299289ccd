#include "storepath.h"

#include <string.h>

/* Nix's base-32 alphabet: digits and letters without e, o, u and t. */
static bool is_base32(char c)
{
	return (c >= '0' && c <= '9') ||
	       (c >= 'a' && c <= 'z' && c != 'e' && c != 'o' && c != 'u' && c != 't');
}

/* Nix (libstore/path.cc checkName): letters, digits and "+-._?=". */
static bool is_name_char(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z') || (c && strchr("+-._?=", c));
}

static bool fail(const char **why, const char *reason)
{
	if (why)
		*why = reason;
	return false;
}

bool storepath_valid(const char *s, size_t len, const char **why)
{
	static const char prefix[] = STORE_DIR "/";
	const size_t plen = sizeof(prefix) - 1;
	size_t i;

	if (len < plen || memcmp(s, prefix, plen) != 0)
		return fail(why, "does not start with " STORE_DIR "/");
	s += plen;
	len -= plen;
	if (len < STORE_HASH_LEN + 2)
		return fail(why, "too short");
	for (i = 0; i < STORE_HASH_LEN; i++)
		if (!is_base32(s[i]))
			return fail(why, "hash is not Nix base-32");
	if (s[STORE_HASH_LEN] != '-')
		return fail(why, "no '-' after the hash");
	s += STORE_HASH_LEN + 1;
	len -= STORE_HASH_LEN + 1;
	if (len > STORE_NAME_MAX)
		return fail(why, "name longer than 211 characters");
	if (s[0] == '.')
		return fail(why, "name starts with '.'");
	for (i = 0; i < len; i++)
		if (!is_name_char(s[i]))
			return fail(why, "name has a character Nix does not allow");
	return true;
}
