/* expirations.c - GET /v1/expirations?due_before=T, and the outcome metrics kept current. */
#include "server/http/internal.h"

#include <civetweb.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/outcomes/outcomes.h"
#include "server/util/log.h"
#include "server/util/metrics.h"
#include "server/util/number.h"
#include "validators/errors.h"
#include "validators/timeparse.h"

/* The outcome metrics are refreshed at a scrape at most this often, and
 * never more often than OUTCOMES_DUTY times the last refresh took: a
 * store whose refresh takes 4 s is read at most every 2 minutes, so the
 * metrics cost at most 1/30 of one core. */
#define OUTCOMES_MIN_MS 60000
#define OUTCOMES_DUTY 30
/* Rows of one answer of GET /v1/expirations (limit). */
#define EXPIRATIONS_DEFAULT_LIMIT 1000
#define EXPIRATIONS_MAX_LIMIT 10000

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sets the outcome metrics from s at now (UTC seconds). */
static void set_metrics(struct tg_metrics *m, const struct tg_oc_set *s,
                        int64_t now)
{
    static const double bounds[] = {TG_METRICS_LAG_BUCKETS};
    uint64_t counts[TG_METRICS_LAG_N + 1];
    unsigned long long c[TG_METRICS_LAG_N + 1];
    long lingering, unticketed;
    double sum;

    tg_oc_totals(s, now, &lingering, &unticketed, bounds, TG_METRICS_LAG_N,
                 counts, &sum);
    for (size_t i = 0; i <= TG_METRICS_LAG_N; i++)
        c[i] = counts[i];
    tg_metrics_set_outcomes(m, lingering, (unsigned long long)unticketed, c,
                            (long long)sum);
}

void tg_http_outcomes_refresh(struct rq *q)
{
    int64_t t0 = now_ms(), took, next;
    struct tg_oc_set *s = NULL;
    int rc;

    if (!tg_metrics_outcomes_claim(q->h->metrics, t0))
        return;
    rc = tg_oc_load(q->h->ev, &s);
    if (rc == 0)
        set_metrics(q->h->metrics, s, q->now);
    else
        tg_log_event(TG_LOG_WARN, "outcomes_error",
                     "the access outcome metrics could not be refreshed (the "
                     "evidence store could not be read); the last values "
                     "stay");
    tg_oc_set_free(s);
    took = now_ms() - t0;
    next = took > OUTCOMES_MIN_MS / OUTCOMES_DUTY
               ? t0 + took * OUTCOMES_DUTY
               : t0 + OUTCOMES_MIN_MS;
    tg_metrics_outcomes_done(q->h->metrics, next);
}

/* mg_get_var, or -3 when the decoded value holds a NUL byte. */
static int query_var(const char *qs, const char *name, char *dst, size_t cap)
{
    int rc = mg_get_var(qs, strlen(qs), name, dst, cap);

    if (rc > 0 && strlen(dst) != (size_t)rc)
        return -3;
    return rc;
}

/*
 * GET /v1/expirations?due_before=T[&limit=N]: allowed tickets whose
 * expires_at is before T (default: now) and to which no revoke event
 * links, oldest first; what provisioning or an IGA should remove. The
 * decision reads' authentication. {"due_before", "count",
 * "expirations": [{"ticket", "beneficiary", "system", "environment",
 * "entitlement", "expires_at", "days_overdue", "grant_seen"}]}; count is
 * all of them, the list at most limit (default 1000, at most 10000).
 */
void tg_http_on_expirations(struct rq *q)
{
    const char *qs = q->ri->query_string ? q->ri->query_string : "";
    char val[64], *jti = NULL;
    int64_t due = q->now;
    uint64_t limit = EXPIRATIONS_DEFAULT_LIMIT;
    struct tg_oc_set *s = NULL;
    json_t *out = NULL;
    int rc;

    tg_http_work_begin(q);
    if (tg_http_auth_generic(q, &jti) != 0)
        goto out;
    rc = query_var(qs, "due_before", val, sizeof val);
    if (rc != -1 && (rc <= 0 || tg_time_parse(val, strlen(val), &due) != 0)) {
        tg_http_send_error(q, 400, "bad_request",
                           "due_before must be a time: RFC 3339 in UTC "
                           "(2026-12-01T00:00:00Z) or a date (2026-12-01).");
        goto out;
    }
    rc = query_var(qs, "limit", val, sizeof val);
    if (rc != -1 &&
        (rc <= 0 || tg_number_parse_u64(val, strlen(val),
                                        EXPIRATIONS_MAX_LIMIT, &limit) != 0 ||
         limit == 0)) {
        tg_http_send_error(q, 400, "bad_request",
                           "limit must be a whole number from 1 to 10000.");
        goto out;
    }
    rc = tg_oc_load(q->h->ev, &s);
    if (rc != 0) {
        tg_http_send_store_failure(q, rc);
        goto out;
    }
    /* The set is at hand: the metrics get its figures for free. */
    set_metrics(q->h->metrics, s, q->now);
    out = tg_oc_expirations(s, due, q->now, (size_t)limit);
    tg_http_send_doc(q, 200, out);
out:
    json_decref(out);
    tg_oc_set_free(s);
    free(jti);
}
