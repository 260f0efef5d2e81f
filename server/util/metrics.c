/* metrics.c - the server's counters and histograms, rendered for Prometheus. */
#include "server/util/metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "validators/errors.h"
#include "validators/exceptions.h"

/* The whole exposition is a few hundred lines; a cap keeps a bug from
 * eating memory. */
#define RENDER_MAX (4u * 1024u * 1024u)
#define STATUS_MIN 100
#define STATUS_MAX 599
#define N_STATUS (STATUS_MAX - STATUS_MIN + 2) /* the last slot: "other" */
#define DIGEST_CAP 128
#define EXC_IDS_MAX 256

static const char *const sources[] = {"jira", "servicenow", "generic", "other"};
#define N_SOURCES (sizeof(sources) / sizeof(sources[0]))
#define N_VERDICTS 4
/* ticketgate_actions_total{system,action,outcome} (act-back, issue 12). */
static const char *const act_systems[] = {"jira", "servicenow", "other"};
static const char *const act_actions[] = {"comment", "transition", "label",
                                          "reject_approval", "work_note",
                                          "other"};
static const char *const act_outcomes[] = {"delivered", "skipped", "retry",
                                           "dead", "other"};
#define N_ACT_SYSTEMS (sizeof(act_systems) / sizeof(act_systems[0]))
#define N_ACT_ACTIONS (sizeof(act_actions) / sizeof(act_actions[0]))
#define N_ACT_OUTCOMES (sizeof(act_outcomes) / sizeof(act_outcomes[0]))


static const double bounds[] = {TG_METRICS_BUCKETS};
#define N_BOUNDS (sizeof(bounds) / sizeof(bounds[0]))

struct histogram {
    atomic_ullong bucket[N_BOUNDS + 1]; /* not cumulative; last is +Inf */
    atomic_ullong sum_ns;
};

struct tg_metrics {
    atomic_ullong decisions[N_SOURCES][N_VERDICTS];
    atomic_ullong findings[TG_CODE_COUNT];
    atomic_ullong retries;
    /* Every status a handler can send has a slot, so no status is lost;
     * only the ones seen are rendered. */
    atomic_ullong requests[TG_METRICS_ROUTES_MAX + 1][N_STATUS];
    const char *routes[TG_METRICS_ROUTES_MAX + 1]; /* the last: "other" */
    size_t n_routes;                               /* with "other" */
    struct histogram request_duration;
    struct histogram evidence_duration;
    atomic_ullong evidence_failures;
    atomic_ullong reloads[2]; /* [0] failure, [1] success */
    atomic_int ready;
    atomic_llong outbox_pending, outbox_oldest_ms; /* at the last scrape */
    /* issue 14: the access outcomes as of their last refresh. */
    atomic_long oc_lingering;
    atomic_ullong oc_unticketed;
    atomic_ullong oc_lag[TG_METRICS_LAG_N + 1];
    atomic_llong oc_lag_sum;
    atomic_llong oc_next_ms; /* the next refresh is due then */
    atomic_int oc_busy;
    /* [from][to][code], the last code slot: no code differed. */
    atomic_ullong shadow_changes[N_VERDICTS][N_VERDICTS][TG_CODE_COUNT + 1];
    atomic_ullong shadow_done[2]; /* [0] dropped, [1] evaluated */
    atomic_ullong actions[N_ACT_SYSTEMS][N_ACT_ACTIONS][N_ACT_OUTCOMES];
    atomic_long connections[2]; /* [0] API listener, [1] admin */
    atomic_long in_progress;

    pthread_mutex_t lock; /* guards digest and the exception uses */
    char digest[DIGEST_CAP];
    /* ticketgate_exception_uses_total{id}: ids are the configuration's
     * (copied: a reload frees them), the first EXC_IDS_MAX seen get a
     * series, the rest count under "other". */
    char exc_ids[EXC_IDS_MAX][TG_EXCEPTION_ID_MAX + 1];
    unsigned long long exc_uses[EXC_IDS_MAX + 1];
    size_t n_exc;
};

int tg_metrics_new(const char *const *routes, size_t n,
                   struct tg_metrics **out)
{
    struct tg_metrics *m;
    size_t i;

    if (n > TG_METRICS_ROUTES_MAX || (n && !routes))
        return TG_EINVAL;
    /* calloc's zero bytes are a valid zero for lock-free atomics, which
     * every atomic integer is on the platforms we build for. */
    m = calloc(1, sizeof(*m));
    if (!m)
        return TG_ENOMEM;
    for (i = 0; i < n; i++)
        m->routes[i] = routes[i];
    m->routes[n] = "other";
    m->n_routes = n + 1;
    if (pthread_mutex_init(&m->lock, NULL) != 0) {
        free(m);
        return TG_ENOMEM;
    }
    *out = m;
    return 0;
}

void tg_metrics_free(struct tg_metrics *m)
{
    if (!m)
        return;
    pthread_mutex_destroy(&m->lock);
    free(m);
}

static size_t index_of(const char *const *table, size_t n, const char *s)
{
    size_t i;

    /* The last entry of every table is the catch-all "other". */
    for (i = 0; s && i + 1 < n; i++)
        if (strcmp(table[i], s) == 0)
            return i;
    return n - 1;
}

void tg_metrics_decision(struct tg_metrics *m, const char *source,
                         enum tg_verdict verdict)
{
    if (!m || (unsigned)verdict >= N_VERDICTS)
        return;
    atomic_fetch_add_explicit(
        &m->decisions[index_of(sources, N_SOURCES, source)][verdict], 1,
        memory_order_relaxed);
}

void tg_metrics_finding(struct tg_metrics *m, enum tg_code code)
{
    if (!m || (unsigned)code >= TG_CODE_COUNT)
        return;
    atomic_fetch_add_explicit(&m->findings[code], 1, memory_order_relaxed);
}

void tg_metrics_retry(struct tg_metrics *m)
{
    if (m)
        atomic_fetch_add_explicit(&m->retries, 1, memory_order_relaxed);
}

static void observe(struct histogram *h, double seconds)
{
    size_t i;
    unsigned long long ns;

    /* NaN and negative durations (a clock step) count as zero. */
    if (!(seconds > 0))
        seconds = 0;
    /* A day is far past any bucket; clamping keeps the conversion
     * defined. */
    if (seconds > 86400.0)
        seconds = 86400.0;
    ns = (unsigned long long)(seconds * 1e9);
    for (i = 0; i < N_BOUNDS; i++)
        if (seconds <= bounds[i])
            break;
    atomic_fetch_add_explicit(&h->bucket[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_ns, ns, memory_order_relaxed);
}

void tg_metrics_http_request(struct tg_metrics *m, const char *route,
                             int status, double seconds)
{
    size_t r, s;

    if (!m)
        return;
    r = index_of(m->routes, m->n_routes, route);
    s = status >= STATUS_MIN && status <= STATUS_MAX
            ? (size_t)(status - STATUS_MIN)
            : N_STATUS - 1;
    atomic_fetch_add_explicit(&m->requests[r][s], 1, memory_order_relaxed);
    observe(&m->request_duration, seconds);
}

void tg_metrics_evidence_write(struct tg_metrics *m, double seconds, int ok)
{
    if (!m)
        return;
    observe(&m->evidence_duration, seconds);
    if (!ok)
        atomic_fetch_add_explicit(&m->evidence_failures, 1,
                                  memory_order_relaxed);
}

void tg_metrics_config_reload(struct tg_metrics *m, int ok)
{
    if (m)
        atomic_fetch_add_explicit(&m->reloads[ok ? 1 : 0], 1,
                                  memory_order_relaxed);
}

int tg_metrics_set_policy(struct tg_metrics *m, const char *digest)
{
    size_t n;

    if (!m || !digest)
        return TG_EINVAL;
    n = strlen(digest);
    if (n >= DIGEST_CAP)
        return TG_EINVAL;
    pthread_mutex_lock(&m->lock);
    memcpy(m->digest, digest, n + 1);
    pthread_mutex_unlock(&m->lock);
    return 0;
}

void tg_metrics_exception_uses(struct tg_metrics *m, const struct tg_result *r)
{
    if (!m || !r)
        return;
    for (size_t i = 0; i < r->findings.n; i++) {
        const struct tg_exception *e = r->findings.v[i].exception;
        size_t k;

        if (!e || !e->id)
            continue;
        pthread_mutex_lock(&m->lock);
        for (k = 0; k < m->n_exc && strcmp(m->exc_ids[k], e->id) != 0; k++)
            ;
        if (k == m->n_exc && k < EXC_IDS_MAX &&
            strlen(e->id) <= TG_EXCEPTION_ID_MAX) {
            memcpy(m->exc_ids[k], e->id, strlen(e->id) + 1);
            m->n_exc++;
        }
        m->exc_uses[k < m->n_exc ? k : EXC_IDS_MAX]++;
        pthread_mutex_unlock(&m->lock);
    }
}

void tg_metrics_set_outcomes(struct tg_metrics *m, long lingering,
                             unsigned long long unticketed,
                             const unsigned long long *lag_counts,
                             long long lag_sum)
{
    atomic_store(&m->oc_lingering, lingering);
    atomic_store(&m->oc_unticketed, unticketed);
    for (size_t i = 0; i <= TG_METRICS_LAG_N; i++)
        atomic_store(&m->oc_lag[i], lag_counts[i]);
    atomic_store(&m->oc_lag_sum, lag_sum);
}

int tg_metrics_outcomes_claim(struct tg_metrics *m, int64_t now_ms)
{
    int idle = 0;

    if (now_ms < atomic_load(&m->oc_next_ms))
        return 0;
    return atomic_compare_exchange_strong(&m->oc_busy, &idle, 1);
}

void tg_metrics_outcomes_done(struct tg_metrics *m, int64_t next_ms)
{
    atomic_store(&m->oc_next_ms, next_ms);
    atomic_store(&m->oc_busy, 0);
}

void tg_metrics_set_outbox(struct tg_metrics *m, long pending,
                           long long oldest_ms)
{
    if (!m)
        return;
    atomic_store(&m->outbox_pending, pending > 0 ? pending : 0);
    atomic_store(&m->outbox_oldest_ms, oldest_ms > 0 ? oldest_ms : 0);
}

void tg_metrics_connection(struct tg_metrics *m, int admin, int delta)
{
    if (m)
        atomic_fetch_add_explicit(&m->connections[admin ? 1 : 0], delta,
                                  memory_order_relaxed);
}

void tg_metrics_in_progress(struct tg_metrics *m, int delta)
{
    if (m)
        atomic_fetch_add_explicit(&m->in_progress, delta,
                                  memory_order_relaxed);
}

void tg_metrics_set_ready(struct tg_metrics *m, int ready)
{
    if (m)
        atomic_store(&m->ready, ready ? 1 : 0);
}

void tg_metrics_shadow_change(struct tg_metrics *m, enum tg_verdict from,
                              enum tg_verdict to, int code)
{
    size_t c = code >= 0 && code < TG_CODE_COUNT ? (size_t)code
                                                 : TG_CODE_COUNT;

    if (!m || (unsigned)from >= N_VERDICTS || (unsigned)to >= N_VERDICTS)
        return;
    atomic_fetch_add_explicit(&m->shadow_changes[from][to][c], 1,
                              memory_order_relaxed);
}

void tg_metrics_shadow_evaluated(struct tg_metrics *m, int ok)
{
    if (m)
        atomic_fetch_add_explicit(&m->shadow_done[ok ? 1 : 0], 1,
                                  memory_order_relaxed);
}

void tg_metrics_action(struct tg_metrics *m, const char *system,
                       const char *action, const char *outcome)
{
    if (!m)
        return;
    atomic_fetch_add_explicit(
        &m->actions[index_of(act_systems, N_ACT_SYSTEMS, system)]
                   [index_of(act_actions, N_ACT_ACTIONS, action)]
                   [index_of(act_outcomes, N_ACT_OUTCOMES, outcome)],
        1, memory_order_relaxed);
}

int tg_metrics_escape_label(const char *v, char *out, size_t cap)
{
    size_t n = 0;

    for (; *v; v++) {
        const char *rep = NULL;
        char one[2] = {*v, '\0'};
        size_t k;

        if (*v == '\\')
            rep = "\\\\";
        else if (*v == '"')
            rep = "\\\"";
        else if (*v == '\n')
            rep = "\\n";
        else
            rep = one;
        k = strlen(rep);
        if (cap - n <= k) /* room for rep and the final NUL */
            return -1;
        memcpy(out + n, rep, k);
        n += k;
    }
    if (cap == 0)
        return -1;
    out[n] = '\0';
    return (int)n;
}

/* ------------------------------------------------------------ render */

struct sb {
    char *p;
    size_t n, cap;
    int failed;
};

static void sb_printf(struct sb *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void sb_printf(struct sb *b, const char *fmt, ...)
{
    va_list ap;
    int w;

    if (b->failed)
        return;
    for (;;) {
        va_start(ap, fmt);
        w = vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
        va_end(ap);
        if (w < 0) {
            b->failed = 1;
            return;
        }
        if ((size_t)w < b->cap - b->n) {
            b->n += (size_t)w;
            return;
        }
        {
            size_t ncap = b->cap * 2;
            char *np;
            while (ncap - b->n <= (size_t)w)
                ncap *= 2;
            if (ncap > RENDER_MAX) {
                b->failed = 1;
                return;
            }
            np = realloc(b->p, ncap);
            if (!np) {
                b->failed = 1;
                return;
            }
            b->p = np;
            b->cap = ncap;
        }
    }
}

static unsigned long long load(atomic_ullong *a)
{
    return atomic_load_explicit(a, memory_order_relaxed);
}

static void header(struct sb *b, const char *name, const char *type,
                   const char *help)
{
    sb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The cumulative buckets, _sum and _count of h. Count is the sum of the
 * buckets read here, so +Inf and _count always agree within a scrape. */
static void render_histogram(struct sb *b, const char *name,
                             struct histogram *h)
{
    unsigned long long cum = 0;
    size_t i;

    for (i = 0; i < N_BOUNDS; i++) {
        cum += load(&h->bucket[i]);
        sb_printf(b, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[i], cum);
    }
    cum += load(&h->bucket[N_BOUNDS]);
    sb_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n", name, cum);
    sb_printf(b, "%s_sum %.9f\n", name, (double)load(&h->sum_ns) / 1e9);
    sb_printf(b, "%s_count %llu\n", name, cum);
}

/* ticketgate_exception_uses_total: one series per exception id used. */
static void render_exceptions(struct sb *b, struct tg_metrics *m)
{
    char esc[2 * TG_EXCEPTION_ID_MAX + 8];

    header(b, "ticketgate_exception_uses_total", "counter",
           "Findings a policy exception let through as warnings, by "
           "exception id.");
    pthread_mutex_lock(&m->lock);
    for (size_t k = 0; k <= m->n_exc; k++) {
        const char *id = k < m->n_exc ? m->exc_ids[k] : "other";
        if (k == m->n_exc && !m->exc_uses[EXC_IDS_MAX])
            break;
        if (tg_metrics_escape_label(id, esc, sizeof(esc)) < 0)
            continue;
        sb_printf(b, "ticketgate_exception_uses_total{id=\"%s\"} %llu\n", esc,
                  m->exc_uses[k < m->n_exc ? k : EXC_IDS_MAX]);
    }
    pthread_mutex_unlock(&m->lock);
}

/* Decisions given and their findings, retried deliveries answered. */
static void render_decisions(struct sb *b, struct tg_metrics *m)
{
    size_t i, j;

    header(b, "ticketgate_decisions_total", "counter",
           "Decisions given, by source and decision.");
    for (i = 0; i < N_SOURCES; i++)
        for (j = 0; j < N_VERDICTS; j++)
            sb_printf(b,
                      "ticketgate_decisions_total{source=\"%s\","
                      "decision=\"%s\"} %llu\n",
                      sources[i], tg_verdict_name((enum tg_verdict)j),
                      load(&m->decisions[i][j]));

    header(b, "ticketgate_findings_total", "counter",
           "Findings in the decisions given, by reason code.");
    for (i = 0; i < TG_CODE_COUNT; i++)
        sb_printf(b, "ticketgate_findings_total{code=\"%s\"} %llu\n",
                  tg_code_info((enum tg_code)i)->name, load(&m->findings[i]));

    header(b, "ticketgate_retries_answered_total", "counter",
           "Deliveries answered with the decision already recorded.");
    sb_printf(b, "ticketgate_retries_answered_total %llu\n",
              load(&m->retries));
}

/* The HTTP side: requests by route and status, their durations, the
 * connections and requests in progress. */
static void render_http(struct sb *b, struct tg_metrics *m)
{
    size_t i, j;

    header(b, "ticketgate_http_requests_total", "counter",
           "HTTP requests answered, by route and status.");
    for (i = 0; i < m->n_routes; i++)
        for (j = 0; j < N_STATUS; j++) {
            unsigned long long v = load(&m->requests[i][j]);
            if (!v)
                continue;
            if (j == N_STATUS - 1)
                sb_printf(b,
                          "ticketgate_http_requests_total{route=\"%s\","
                          "status=\"other\"} %llu\n",
                          m->routes[i], v);
            else
                sb_printf(b,
                          "ticketgate_http_requests_total{route=\"%s\","
                          "status=\"%d\"} %llu\n",
                          m->routes[i], (int)j + STATUS_MIN, v);
        }

    header(b, "ticketgate_request_duration_seconds", "histogram",
           "Time from the start of a request's handler to its answer.");
    render_histogram(b, "ticketgate_request_duration_seconds",
                     &m->request_duration);

    header(b, "ticketgate_http_connections", "gauge",
           "Connections a worker holds, by listener (open, not yet closed).");
    sb_printf(b, "ticketgate_http_connections{listener=\"api\"} %ld\n",
              atomic_load(&m->connections[0]));
    sb_printf(b, "ticketgate_http_connections{listener=\"admin\"} %ld\n",
              atomic_load(&m->connections[1]));
    header(b, "ticketgate_http_requests_in_progress", "gauge",
           "Requests inside their handler now (reading, deciding, answering).");
    sb_printf(b, "ticketgate_http_requests_in_progress %ld\n",
              atomic_load(&m->in_progress));
}

/* The evidence store, reloads and readiness. */
static void render_store(struct sb *b, struct tg_metrics *m)
{
    header(b, "ticketgate_evidence_write_duration_seconds", "histogram",
           "Time to make one evidence record durable.");
    render_histogram(b, "ticketgate_evidence_write_duration_seconds",
                     &m->evidence_duration);

    header(b, "ticketgate_evidence_write_failures_total", "counter",
           "Evidence records that could not be made durable (answered 503).");
    sb_printf(b, "ticketgate_evidence_write_failures_total %llu\n",
              load(&m->evidence_failures));

    header(b, "ticketgate_config_reloads_total", "counter",
           "Configuration reloads (SIGHUP, POST /v1/admin/reload).");
    sb_printf(b,
              "ticketgate_config_reloads_total{result=\"success\"} %llu\n"
              "ticketgate_config_reloads_total{result=\"failure\"} %llu\n",
              load(&m->reloads[1]), load(&m->reloads[0]));

    header(b, "ticketgate_ready", "gauge",
           "1 when the evidence store takes writes.");
    sb_printf(b, "ticketgate_ready %d\n", atomic_load(&m->ready));
}

/* Act-back: the outbox and the attempts. */
static void render_actback(struct sb *b, struct tg_metrics *m)
{
    size_t i, j;

    header(b, "ticketgate_outbox_pending", "gauge",
           "Act-back actions not yet delivered, dead or dropped.");
    sb_printf(b, "ticketgate_outbox_pending %lld\n",
              (long long)atomic_load(&m->outbox_pending));
    header(b, "ticketgate_outbox_oldest_seconds", "gauge",
           "How long the oldest pending act-back action has waited.");
    sb_printf(b, "ticketgate_outbox_oldest_seconds %.3f\n",
              (double)atomic_load(&m->outbox_oldest_ms) / 1000.0);

    header(b, "ticketgate_actions_total", "counter",
           "Act-back attempts, by system, action and outcome (delivered, "
           "skipped, retry, dead).");
    for (i = 0; i < N_ACT_SYSTEMS; i++)
        for (j = 0; j < N_ACT_ACTIONS; j++)
            for (size_t k = 0; k < N_ACT_OUTCOMES; k++) {
                unsigned long long v = load(&m->actions[i][j][k]);
                if (v)
                    sb_printf(b,
                              "ticketgate_actions_total{system=\"%s\","
                              "action=\"%s\",outcome=\"%s\"} %llu\n",
                              act_systems[i], act_actions[j],
                              act_outcomes[k], v);
            }
}

/* Access outcomes, as of their last refresh. */
static void render_outcomes(struct sb *b, struct tg_metrics *m)
{
    size_t i;

    header(b, "ticketgate_access_lingering", "gauge",
           "Accesses held past their ticket's expires_at (grant events with "
           "no revoke), as of the last refresh of the outcomes.");
    sb_printf(b, "ticketgate_access_lingering %ld\n",
              (long)atomic_load(&m->oc_lingering));
    header(b, "ticketgate_unticketed_grants_total", "counter",
           "Grant events in the store with no allowing ticket.");
    sb_printf(b, "ticketgate_unticketed_grants_total %llu\n",
              load(&m->oc_unticketed));
    header(b, "ticketgate_revocation_lag_seconds", "histogram",
           "Revoke time minus the linked ticket's expires_at, every revoke "
           "in the store.");
    {
        static const double lb[] = {TG_METRICS_LAG_BUCKETS};
        unsigned long long cum = 0;
        for (i = 0; i < TG_METRICS_LAG_N; i++) {
            cum += load(&m->oc_lag[i]);
            sb_printf(b,
                      "ticketgate_revocation_lag_seconds_bucket{le=\"%g\"} "
                      "%llu\n",
                      lb[i], cum);
        }
        cum += load(&m->oc_lag[TG_METRICS_LAG_N]);
        sb_printf(b,
                  "ticketgate_revocation_lag_seconds_bucket{le=\"+Inf\"} "
                  "%llu\nticketgate_revocation_lag_seconds_sum %lld\n"
                  "ticketgate_revocation_lag_seconds_count %llu\n",
                  cum, (long long)atomic_load(&m->oc_lag_sum), cum);
    }
}

/* The shadow policy's differences and evaluations. */
static void render_shadow(struct sb *b, struct tg_metrics *m)
{
    size_t i, j;

    header(b, "ticketgate_shadow_changes_total", "counter",
           "Live decisions the shadow policy decides otherwise, by live and "
           "shadow decision and by reason code whose finding differs.");
    for (i = 0; i < N_VERDICTS; i++)
        for (j = 0; j < N_VERDICTS; j++)
            for (size_t k = 0; k <= TG_CODE_COUNT; k++) {
                unsigned long long v = load(&m->shadow_changes[i][j][k]);
                if (!v)
                    continue;
                sb_printf(b,
                          "ticketgate_shadow_changes_total{from=\"%s\","
                          "to=\"%s\",code=\"%s\"} %llu\n",
                          tg_verdict_name((enum tg_verdict)i),
                          tg_verdict_name((enum tg_verdict)j),
                          k < TG_CODE_COUNT
                              ? tg_code_info((enum tg_code)k)->name
                              : "none",
                          v);
            }
    header(b, "ticketgate_shadow_evaluations_total", "counter",
           "Live decisions evaluated under the shadow policy, or dropped "
           "(queue full, or the candidate failed on them).");
    sb_printf(b,
              "ticketgate_shadow_evaluations_total{result=\"evaluated\"} "
              "%llu\n"
              "ticketgate_shadow_evaluations_total{result=\"dropped\"} "
              "%llu\n",
              load(&m->shadow_done[1]), load(&m->shadow_done[0]));
}

int tg_metrics_render(struct tg_metrics *m, char **out, size_t *len)
{
    struct sb b = {NULL, 0, 4096, 0};
    char digest[DIGEST_CAP], esc[DIGEST_CAP * 2 + 1];

    b.p = malloc(b.cap);
    if (!b.p)
        return TG_ENOMEM;
    b.p[0] = '\0';

    render_decisions(&b, m);
    render_http(&b, m);
    render_store(&b, m);
    render_actback(&b, m);
    render_outcomes(&b, m);
    render_shadow(&b, m);

    pthread_mutex_lock(&m->lock);
    memcpy(digest, m->digest, sizeof(digest));
    pthread_mutex_unlock(&m->lock);
    if (digest[0] && tg_metrics_escape_label(digest, esc, sizeof(esc)) >= 0) {
        header(&b, "ticketgate_policy_info", "gauge",
               "The digest of the configuration in force.");
        sb_printf(&b, "ticketgate_policy_info{digest=\"%s\"} 1\n", esc);
    }

    render_exceptions(&b, m);

    if (b.failed) {
        free(b.p);
        return TG_ENOMEM;
    }
    *out = b.p;
    *len = b.n;
    return 0;
}
