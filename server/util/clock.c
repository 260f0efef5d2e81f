/* clock.c - the server's wall clock, and the offset a test injects into it. */
#include "server/util/clock.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/util/number.h"
#include "validators/errors.h"

/* Set once at start, before the threads that read it exist; atomic so that
 * a read from any thread is defined whatever the order of starts. */
static _Atomic int64_t offset_ms;

int tg_clock_init_from_env(void)
{
    const char *v = getenv("TG_CLOCK_OFFSET_S");
    const int64_t bound = 100LL * 366 * 86400;
    int64_t s;

    if (!v)
        return 0;
    if (tg_number_parse_i64(v, strlen(v), -bound, bound, &s) != 0)
        return TG_EINVAL;
    atomic_store(&offset_ms, s * 1000);
    return 0;
}

int64_t tg_clock_offset_s(void)
{
    return atomic_load_explicit(&offset_ms, memory_order_relaxed) / 1000;
}

int64_t tg_clock_wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 +
           atomic_load_explicit(&offset_ms, memory_order_relaxed);
}

int64_t tg_clock_wall_s(void)
{
    return tg_clock_wall_ms() / 1000;
}
