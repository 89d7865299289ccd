/* A daily window of time in UTC, as operators write it: "HH:MM-HH:MM".
 *
 * The end may be before the start: "22:00-02:00" crosses midnight. Equal
 * ends are refused (an empty window, or the whole day: say which you mean
 * with "00:00-23:59"). The start is in the window, the end is not. */
#ifndef HAIL_WINDOW_H
#define HAIL_WINDOW_H

#include <stdbool.h>
#include <time.h>

struct daily_window {
	unsigned start_min;     /* minutes after 00:00 UTC */
	unsigned length_min;    /* 1 .. 24 * 60 - 1 */
};

/* 0, or HAIL_E_USAGE with *w unchanged. */
int window_parse(const char *s, struct daily_window *w);

/* Writes "HH:MM-HH:MM". */
void window_format(const struct daily_window *w, char *buf, unsigned size);

/* The opening of the window that now is in, or else of the next one. */
time_t window_open_at(const struct daily_window *w, time_t now);

/* The moment offset_s after the window's opening that now is in (or of
 * the next window): when it has passed but the window is still open, now. */
time_t window_moment(const struct daily_window *w, unsigned offset_s, time_t now);

#endif
