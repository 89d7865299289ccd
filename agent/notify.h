/* systemd service notification (Type=notify), through libsystemd's
 * sd_notify: READY=1 after the first poll, STATUS= with the current build,
 * WATCHDOG=1 when the unit sets WatchdogSec=. Does nothing outside systemd. */
#ifndef HAIL_NOTIFY_H
#define HAIL_NOTIFY_H

#include <stdbool.h>

void notify_status(bool ready, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void notify_stopping(void);

/* Milliseconds between WATCHDOG=1 pings (half the unit's WatchdogSec), or 0
 * when there is no watchdog. The pings come from signals_wait()'s tick, so
 * they go on while hail waits for an activation; a Hydra request blocks
 * them for at most --http-timeout, which WatchdogSec must exceed. */
long notify_watchdog_interval_ms(void);
void notify_watchdog(void);

#endif
