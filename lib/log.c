#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *log_progname = "hail";
static int log_journal;
static int log_debug_on;

/* systemd sets JOURNAL_STREAM=DEV:INODE for the stream it connected; a child
 * whose stderr was redirected elsewhere must not use the prefixes. */
static int stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
		return 0;
	if (fstat(STDERR_FILENO, &st) < 0)
		return 0;
	return st.st_dev == (dev_t)dev && st.st_ino == (ino_t)ino;
}

void log_init(const char *progname)
{
	log_progname = progname;
	log_journal = stderr_is_journal();
}

void log_set_priority_prefixes(int on)
{
	log_journal = on;
}

void log_set_debug(int on)
{
	log_debug_on = on;
}

int log_debug_enabled(void)
{
	return log_debug_on;
}

static const char *level_word(int prio)
{
	switch (prio) {
	case LOG_EMERG: case LOG_ALERT: case LOG_CRIT: case LOG_ERR:
		return "error: ";
	case LOG_WARNING:
		return "warning: ";
	case LOG_DEBUG:
		return "debug: ";
	}
	return "";
}

int log_msg(int prio, int ret, const char *fmt, ...)
{
	char line[1024];
	int saved_errno = errno;
	size_t n;
	int r;
	va_list ap;

	if (log_journal)
		r = snprintf(line, sizeof(line), "<%d>", prio);
	else
		r = snprintf(line, sizeof(line), "%s: %s", log_progname, level_word(prio));
	if (r < 0 || (size_t)r >= sizeof(line))
		r = 0;
	n = (size_t)r;

	va_start(ap, fmt);
	r = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (r < 0)
		r = 0;
	n += (size_t)r;
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;     /* truncated: still one line */

	/* One event, one line: a stray newline must not forge a second entry. */
	for (size_t i = 0; i < n; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	line[n++] = '\n';

	/* A single write keeps lines whole when several processes share stderr. */
	(void)!write(STDERR_FILENO, line, n);
	errno = saved_errno;
	return ret;
}
