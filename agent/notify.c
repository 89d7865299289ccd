#include "notify.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <systemd/sd-daemon.h>

void notify_status(bool ready, const char *fmt, ...)
{
	char status[512];
	va_list ap;

	if (!getenv("NOTIFY_SOCKET"))
		return;         /* not under systemd: spare the formatting */
	va_start(ap, fmt);
	vsnprintf(status, sizeof(status), fmt, ap);
	va_end(ap);
	sd_notifyf(0, "%sSTATUS=%s", ready ? "READY=1\n" : "", status);
}

void notify_stopping(void)
{
	sd_notify(0, "STOPPING=1");
}

long notify_watchdog_interval_ms(void)
{
	uint64_t usec = 0;

	if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
		return 0;
	return (long)(usec / 2000);
}

void notify_watchdog(void)
{
	sd_notify(0, "WATCHDOG=1");
}
