#include "window.h"

#include <stdio.h>

#include "error.h"

#define DAY_S (24 * 60 * 60)

static int two_digits(const char *s, unsigned max, unsigned *v)
{
	if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
		return -1;
	*v = (unsigned)(s[0] - '0') * 10 + (unsigned)(s[1] - '0');
	return *v <= max ? 0 : -1;
}

/* "HH:MM" at s: minutes after midnight. */
static int clock_time(const char *s, unsigned *minutes)
{
	unsigned h, m;

	if (two_digits(s, 23, &h) < 0 || s[2] != ':' || two_digits(s + 3, 59, &m) < 0)
		return -1;
	*minutes = h * 60 + m;
	return 0;
}

int window_parse(const char *s, struct daily_window *w)
{
	unsigned start, end;

	if (!s || clock_time(s, &start) < 0 || s[5] != '-' || clock_time(s + 6, &end) < 0 ||
	    s[11] != '\0' || start == end)
		return HAIL_E_USAGE;
	w->start_min = start;
	w->length_min = (end + 24 * 60 - start) % (24 * 60);
	return 0;
}

void window_format(const struct daily_window *w, char *buf, unsigned size)
{
	unsigned end = (w->start_min + w->length_min) % (24 * 60);

	snprintf(buf, size, "%02u:%02u-%02u:%02u", w->start_min / 60, w->start_min % 60,
		 end / 60, end % 60);
}

time_t window_open_at(const struct daily_window *w, time_t now)
{
	time_t midnight = now - (now % DAY_S + DAY_S) % DAY_S;
	time_t open = midnight + (time_t)w->start_min * 60;

	if (open > now)
		open -= DAY_S;          /* yesterday's, which may still be open */
	if (now >= open + (time_t)w->length_min * 60)
		open += DAY_S;          /* closed: the next one */
	return open;
}

time_t window_moment(const struct daily_window *w, unsigned offset_s, time_t now)
{
	time_t open = window_open_at(w, now);
	time_t len = (time_t)w->length_min * 60;
	time_t at = open + (offset_s < len ? (time_t)offset_s : len - 1);

	return at < now ? now : at;
}
