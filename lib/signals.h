/* Signals for a daemon without handlers.
 *
 * SIGTERM, SIGINT, SIGHUP and SIGCHLD stay blocked for the whole life of the
 * process and are taken synchronously with sigtimedwait() wherever the program
 * waits (between polls, for a child): nothing can arrive between a check and a
 * sleep. Children get a clean mask and default dispositions (see spawn.c). */
#ifndef HAIL_SIGNALS_H
#define HAIL_SIGNALS_H

#include <stdbool.h>

/* Blocks the signals above and ignores SIGPIPE. Call before starting threads
 * or children. A signal already pending (hail-bootstrap execs the agent with
 * them blocked, child.h) stays pending and is taken by the first wait: a
 * SIGHUP then is a poll-now, a SIGTERM a stop, never a death. */
int signals_setup(void);

/* Waits up to timeout_ms for one of the signals. Returns the signal taken, or
 * 0 when the time ran out. SIGTERM and SIGINT are remembered as a stop request,
 * SIGHUP as a reload request. */
int signals_wait(long timeout_ms);

/* True once SIGTERM or SIGINT was taken, or while one is pending. Cheap enough
 * to call from a transfer's progress callback. */
bool signals_stop_requested(void);

#define SIGNALS_WAIT_FDS_MAX 4

/* Waits up to timeout_ms for one of fds (n of them) to be readable (or hung
 * up), feeding the tick meanwhile. Returns 1 + the index of one that is, 0
 * when the time ran out, HAIL_E_INTERRUPTED when SIGTERM or SIGINT asks to
 * stop (the signal stays pending; it wins over a ready descriptor), or
 * HAIL_E_INTERNAL. SIGHUP does not cut the wait short. */
int signals_wait_readable(const int *fds, int n, long timeout_ms);

/* True (once) when SIGHUP was taken since the last call. */
bool signals_take_reload(void);

/* Calls tick() at least every interval_ms from within signals_wait(), which
 * then never sleeps past the next tick: systemd's watchdog keeps being fed
 * during an activation or a lock wait, not only between polls. */
void signals_set_tick(void (*tick)(void), long interval_ms);

/* Milliseconds on the monotonic clock, for deadlines. */
long long monotonic_ms(void);

#endif
