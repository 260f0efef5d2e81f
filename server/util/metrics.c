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

/* The whole exposition is a few hundred lines; a cap keeps a bug from
 * eating memory. */
#define RENDER_MAX (4u * 1024u * 1024u)
#define STATUS_MIN 100
#define STATUS_MAX 599
#define N_STATUS (STATUS_MAX - STATUS_MIN + 2) /* the last slot: "other" */
#define DIGEST_CAP 128

static const char *const sources[] = {"jira", "servicenow", "generic", "other"};
#define N_SOURCES (sizeof(sources) / sizeof(sources[0]))
#define N_VERDICTS 4


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

    pthread_mutex_t lock; /* guards digest */
    char digest[DIGEST_CAP];
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

void tg_metrics_set_ready(struct tg_metrics *m, int ready)
{
    if (m)
        atomic_store(&m->ready, ready ? 1 : 0);
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

int tg_metrics_render(struct tg_metrics *m, char **out, size_t *len)
{
    struct sb b = {NULL, 0, 4096, 0};
    char digest[DIGEST_CAP], esc[DIGEST_CAP * 2 + 1];
    size_t i, j;

    b.p = malloc(b.cap);
    if (!b.p)
        return TG_ENOMEM;
    b.p[0] = '\0';

    header(&b, "ticketgate_decisions_total", "counter",
           "Decisions given, by source and decision.");
    for (i = 0; i < N_SOURCES; i++)
        for (j = 0; j < N_VERDICTS; j++)
            sb_printf(&b,
                      "ticketgate_decisions_total{source=\"%s\","
                      "decision=\"%s\"} %llu\n",
                      sources[i], tg_verdict_name((enum tg_verdict)j),
                      load(&m->decisions[i][j]));

    header(&b, "ticketgate_findings_total", "counter",
           "Findings in the decisions given, by reason code.");
    for (i = 0; i < TG_CODE_COUNT; i++)
        sb_printf(&b, "ticketgate_findings_total{code=\"%s\"} %llu\n",
                  tg_code_info((enum tg_code)i)->name, load(&m->findings[i]));

    header(&b, "ticketgate_retries_answered_total", "counter",
           "Deliveries answered with the decision already recorded.");
    sb_printf(&b, "ticketgate_retries_answered_total %llu\n",
              load(&m->retries));

    header(&b, "ticketgate_http_requests_total", "counter",
           "HTTP requests answered, by route and status.");
    for (i = 0; i < m->n_routes; i++)
        for (j = 0; j < N_STATUS; j++) {
            unsigned long long v = load(&m->requests[i][j]);
            if (!v)
                continue;
            if (j == N_STATUS - 1)
                sb_printf(&b,
                          "ticketgate_http_requests_total{route=\"%s\","
                          "status=\"other\"} %llu\n",
                          m->routes[i], v);
            else
                sb_printf(&b,
                          "ticketgate_http_requests_total{route=\"%s\","
                          "status=\"%d\"} %llu\n",
                          m->routes[i], (int)j + STATUS_MIN, v);
        }

    header(&b, "ticketgate_request_duration_seconds", "histogram",
           "Time from the start of a request's handler to its answer.");
    render_histogram(&b, "ticketgate_request_duration_seconds",
                     &m->request_duration);

    header(&b, "ticketgate_evidence_write_duration_seconds", "histogram",
           "Time to make one evidence record durable.");
    render_histogram(&b, "ticketgate_evidence_write_duration_seconds",
                     &m->evidence_duration);

    header(&b, "ticketgate_evidence_write_failures_total", "counter",
           "Evidence records that could not be made durable (answered 503).");
    sb_printf(&b, "ticketgate_evidence_write_failures_total %llu\n",
              load(&m->evidence_failures));

    header(&b, "ticketgate_config_reloads_total", "counter",
           "Configuration reloads (SIGHUP, POST /v1/admin/reload).");
    sb_printf(&b,
              "ticketgate_config_reloads_total{result=\"success\"} %llu\n"
              "ticketgate_config_reloads_total{result=\"failure\"} %llu\n",
              load(&m->reloads[1]), load(&m->reloads[0]));

    header(&b, "ticketgate_ready", "gauge",
           "1 when the evidence store takes writes.");
    sb_printf(&b, "ticketgate_ready %d\n", atomic_load(&m->ready));

    pthread_mutex_lock(&m->lock);
    memcpy(digest, m->digest, sizeof(digest));
    pthread_mutex_unlock(&m->lock);
    if (digest[0] && tg_metrics_escape_label(digest, esc, sizeof(esc)) >= 0) {
        header(&b, "ticketgate_policy_info", "gauge",
               "The digest of the configuration in force.");
        sb_printf(&b, "ticketgate_policy_info{digest=\"%s\"} 1\n", esc);
    }

    if (b.failed) {
        free(b.p);
        return TG_ENOMEM;
    }
    *out = b.p;
    *len = b.n;
    return 0;
}
