#include "period.h"

#include <stdio.h>

#include "error.h"

static int unit_seconds(char c)
{
	switch (c) {
	case 's': return 1;
	case 'm': return 60;
	case 'h': return 3600;
	case 'd': return 86400;
	}
	return 0;
}

int period_parse(const char *s, unsigned *seconds)
{
	unsigned long long total = 0;
	const char *p = s;

	if (!s || !*s)
		return HAIL_E_USAGE;
	while (*p) {
		unsigned long long n = 0;
		int digits = 0, unit;

		for (; *p >= '0' && *p <= '9'; p++, digits++) {
			n = n * 10 + (unsigned)(*p - '0');
			if (n > PERIOD_MAX_SECONDS)
				return HAIL_E_USAGE;
		}
		if (digits == 0)
			return HAIL_E_USAGE;
		if (*p == '\0' && p - s == digits) {
			unit = 60;      /* a bare number: minutes, as hail 0.2 */
		} else {
			unit = unit_seconds(*p);
			if (!unit)
				return HAIL_E_USAGE;
			p++;
		}
		total += n * (unsigned)unit;
		if (total > PERIOD_MAX_SECONDS)
			return HAIL_E_USAGE;
	}
	if (total == 0)
		return HAIL_E_USAGE;
	*seconds = (unsigned)total;
	return 0;
}

void period_format(unsigned seconds, char *buf, unsigned size)
{
	if (seconds % 3600 == 0)
		snprintf(buf, size, "%uh", seconds / 3600);
	else if (seconds % 60 == 0)
		snprintf(buf, size, "%um", seconds / 60);
	else
		snprintf(buf, size, "%us", seconds);
}
