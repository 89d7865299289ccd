/* Logging: one line per event on stderr.
 *
 * Under systemd (JOURNAL_STREAM names our stderr) each line starts with a
 * "<N>" syslog priority so the journal files it at the right level; on a
 * terminal lines start with "PROGRAM: " and, for warnings and errors, the level.
 * Text that came from a peer must go through str_escape() first. */
#ifndef HAIL_LOG_H
#define HAIL_LOG_H

#include <syslog.h>

/* progname is borrowed for the life of the program. */
void log_init(const char *progname);

/* Logs at prio (LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG) and returns ret, so
 * that callers can write "return log_msg(LOG_ERR, HAIL_E_HTTP, ...)". */
int log_msg(int prio, int ret, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_error(ret, ...) log_msg(LOG_ERR, (ret), __VA_ARGS__)
#define log_warning(...) ((void)log_msg(LOG_WARNING, 0, __VA_ARGS__))
#define log_info(...) ((void)log_msg(LOG_INFO, 0, __VA_ARGS__))

/* Starts every line with "<N>" whatever stderr is (hail's fetcher, whose
 * stderr is a pipe the root side reads and files again: fetch.h). */
void log_set_priority_prefixes(int on);

/* Debug lines are dropped unless enabled. */
void log_set_debug(int on);
int log_debug_enabled(void);
#define log_debug(...) \
	do { if (log_debug_enabled()) (void)log_msg(LOG_DEBUG, 0, __VA_ARGS__); } while (0)

#endif
