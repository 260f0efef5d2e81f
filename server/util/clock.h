/* clock.h - the server's wall clock, and the offset a test injects into it. */
#ifndef TG_CLOCK_H
#define TG_CLOCK_H

#include <stdint.h>

/*
 * The wall clock every time the server decides or records by reads (a
 * request's evaluation time, the outbox's due times and leases, an
 * exception's days left): the system's real time plus an offset. The
 * offset is 0 unless `ticketgate serve` started with TG_CLOCK_OFFSET_S in
 * its environment (whole seconds, may be negative), which it logs as a
 * warning; the integration tests use it to step past an expiry or a lease
 * by restarting the server instead of sleeping through it. Timed waits
 * (pthread_cond_timedwait), durations and log lines keep the real clock.
 */

/* Takes the offset from TG_CLOCK_OFFSET_S. Call once, before any thread
 * reads the clock. Returns 0, or TG_EINVAL when the variable is set but is
 * not a whole number of seconds within 100 years (the offset stays 0). */
int tg_clock_init_from_env(void);
/* The offset in effect, in seconds. */
int64_t tg_clock_offset_s(void);
/* The wall clock in milliseconds / seconds since 1970 UTC. */
int64_t tg_clock_wall_ms(void);
int64_t tg_clock_wall_s(void);

#endif
