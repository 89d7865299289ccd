#include "rfc3339.h"

#include <stdio.h>
#include <string.h>

#include "error.h"

/* Reads exactly n digits. */
static int digits(const char **p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if ((*p)[i] < '0' || (*p)[i] > '9')
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

static int expect(const char **p, const char *chars)
{
	if (!**p || !strchr(chars, **p))
		return -1;
	(*p)++;
	return 0;
}

int rfc3339_parse(const char *s, time_t *out)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	struct tm tm = { 0 };
	int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
	const char *p = s;
	time_t t;

	if (digits(&p, 4, &y) || expect(&p, "-") || digits(&p, 2, &mo) || expect(&p, "-") ||
	    digits(&p, 2, &d) || expect(&p, "Tt ") || digits(&p, 2, &h) || expect(&p, ":") ||
	    digits(&p, 2, &mi) || expect(&p, ":") || digits(&p, 2, &sec))
		return HAIL_E_PROTOCOL;
	if (*p == '.') {
		int n = 0;

		for (p++; *p >= '0' && *p <= '9' && n < 9; p++)
			n++;
		if (n == 0)
			return HAIL_E_PROTOCOL;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else {
		sign = *p == '+' ? 1 : *p == '-' ? -1 : 0;
		if (!sign)
			return HAIL_E_PROTOCOL;
		p++;
		if (digits(&p, 2, &oh) || expect(&p, ":") || digits(&p, 2, &om) || oh > 23 || om > 59)
			return HAIL_E_PROTOCOL;
	}
	if (*p || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 ||
	    mi > 59 || sec > 60)
		return HAIL_E_PROTOCOL;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec == 60 ? 59 : sec;   /* a leap second: near enough */
	t = timegm(&tm);
	if (t == (time_t)-1 || tm.tm_mday != d)    /* 29 February of a common year */
		return HAIL_E_PROTOCOL;
	*out = t - sign * (oh * 3600 + om * 60);
	return 0;
}

void rfc3339_format(time_t t, char *buf, size_t size)
{
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, size, "@%lld", (long long)t);
}
