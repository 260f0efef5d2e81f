/* backoff.c - when an act-back action is tried again: full-jitter
 * exponential backoff and the server's Retry-After. */
#include "server/actback/deliver.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#include "server/util/number.h"
#include "validators/errors.h"

int64_t tg_actback_backoff_window_ms(int attempt, int64_t base_ms,
                                     int64_t cap_ms)
{
    int64_t w = base_ms > 0 ? base_ms : 1;
    int i;

    if (cap_ms < w)
        return cap_ms > 0 ? cap_ms : 0;
    for (i = 1; i < attempt; i++) {
        if (w > cap_ms / 2)
            return cap_ms;
        w *= 2;
    }
    return w;
}

int64_t tg_actback_backoff_ms(int attempt, int64_t base_ms, int64_t cap_ms,
                              uint64_t rnd)
{
    int64_t w = tg_actback_backoff_window_ms(attempt, base_ms, cap_ms);
    /* Uniform in [0, w]; the modulo bias of a 64-bit draw over a window
     * below 2^40 ms is negligible. */
    return w > 0 ? (int64_t)(rnd % ((uint64_t)w + 1)) : 0;
}

int64_t tg_actback_schedule(struct tg_actback_result *res, int attempt,
                            int max_attempts, int64_t base_ms, int64_t cap_ms,
                            uint64_t rnd)
{
    char prev[sizeof(res->error)];

    if (res->outcome != TG_ACTBACK_RETRY)
        return 0;
    if (res->stopped)
        return 0;
    if (attempt >= max_attempts) {
        memcpy(prev, res->error, sizeof(prev));
        snprintf(res->error, sizeof(res->error),
                 "gave up after %d attempts: %.250s", attempt, prev);
        res->outcome = TG_ACTBACK_DEAD;
        return 0;
    }
    if (res->retry_after_ms >= 0)
        return res->retry_after_ms;
    return tg_actback_backoff_ms(attempt, base_ms, cap_ms, rnd);
}

int tg_actback_retry_after_parse(const char *v, size_t len, int64_t now_s,
                                 int64_t *ms)
{
    char buf[64];
    int64_t secs;
    time_t when;

    while (len > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        len--;
    }
    while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t' ||
                       v[len - 1] == '\r' || v[len - 1] == '\n'))
        len--;
    if (len == 0 || len >= sizeof(buf))
        return TG_EINVAL;
    if (v[0] >= '0' && v[0] <= '9') {
        /* delay-seconds; a number too large for us is still "much later". */
        if (tg_number_parse_i64(v, len, 0, INT64_MAX, &secs) != 0) {
            size_t i;
            for (i = 0; i < len; i++)
                if (v[i] < '0' || v[i] > '9')
                    return TG_EINVAL;
            secs = INT64_MAX;
        }
        *ms = secs > TG_ACTBACK_RETRY_AFTER_MAX_MS / 1000
                  ? TG_ACTBACK_RETRY_AFTER_MAX_MS
                  : secs * 1000;
        return 0;
    }
    /* An HTTP-date: a weekday name first, in each of the three forms. */
    if (!((v[0] >= 'A' && v[0] <= 'Z') || (v[0] >= 'a' && v[0] <= 'z')))
        return TG_EINVAL;
    memcpy(buf, v, len);
    buf[len] = '\0';
    when = curl_getdate(buf, NULL);
    if (when == (time_t)-1)
        return TG_EINVAL;
    if ((int64_t)when <= now_s)
        *ms = 0;
    else if ((int64_t)when - now_s > TG_ACTBACK_RETRY_AFTER_MAX_MS / 1000)
        *ms = TG_ACTBACK_RETRY_AFTER_MAX_MS;
    else
        *ms = ((int64_t)when - now_s) * 1000;
    return 0;
}
