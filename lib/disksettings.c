#include "disksettings.h"

#include <string.h>

#include "error.h"
#include "strutil.h"

static const char *const gc_names[] = { "off", "when-needed", "after-deploy" };

bool gc_mode_parse(const char *s, enum gc_mode *mode)
{
	for (size_t i = 0; i < sizeof(gc_names) / sizeof(gc_names[0]); i++)
		if (!strcmp(s, gc_names[i])) {
			*mode = (enum gc_mode)i;
			return true;
		}
	return false;
}

const char *gc_mode_name(enum gc_mode mode)
{
	return (unsigned)mode < sizeof(gc_names) / sizeof(gc_names[0]) ? gc_names[mode] : "?";
}

int size_parse(const char *text, unsigned long long *out)
{
	static const char units[] = "KMG";
	unsigned long long n, mult = 1;
	char digits[24];
	size_t len = strlen(text);
	const char *u;

	if (len == 0 || len >= sizeof(digits))
		return HAIL_E_USAGE;
	memcpy(digits, text, len + 1);
	u = strchr(units, digits[len - 1]);
	if (u && *u) {
		mult = 1ULL << (10 * (u - units + 1));
		digits[--len] = '\0';
	}
	if (str_to_u64(digits, 0, MIN_FREE_AFTER_MAX / mult, &n) < 0)
		return HAIL_E_USAGE;
	*out = n * mult;
	return 0;
}
