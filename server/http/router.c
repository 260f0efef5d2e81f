/* router.c - the one route table and each request's way through it. */
#include "server/http/internal.h"

#include <civetweb.h>
#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/util/clock.h"
#include "server/util/log.h"
#include "server/util/metrics.h"

/* ------------------------------------------------------------- routing */

/* ADMIN_ONLY moves to the admin listener when there is one; ADMIN_REQUIRED
 * exists only there. */
enum where { ANY, API_ONLY, ADMIN_ONLY, ADMIN_REQUIRED };

static const struct route {
    const char *path;
    const char *label; /* for metrics: the path template of the route */
    int prefix;        /* path ends with '/' and takes one more segment */
    const char *method;
    enum where where;
    void (*fn)(struct rq *q);
    void (*fn_arg)(struct rq *q, const char *arg);
} routes[] = {
    {"/v1/check", NULL, 0, "POST", API_ONLY, tg_http_on_check, NULL},
    {"/v1/webhooks/jira", NULL, 0, "POST", API_ONLY, tg_http_on_jira, NULL},
    {"/v1/webhooks/servicenow", NULL, 0, "POST", API_ONLY,
     tg_http_on_servicenow, NULL},
    {"/v1/decisions", NULL, 0, "GET", API_ONLY, tg_http_on_list, NULL},
    {"/v1/decisions/", "/v1/decisions/{id}", 1, "GET", API_ONLY, NULL,
     tg_http_on_get},
    {"/v1/actions", NULL, 0, "GET", API_ONLY, tg_http_on_actions, NULL},
    {"/v1/expirations", NULL, 0, "GET", API_ONLY, tg_http_on_expirations,
     NULL},
    /* GET: Okta's one-time verification of an event hook (same URI). */
    {"/v1/events", NULL, 0, "GET, POST", API_ONLY, tg_http_on_events, NULL},
    /* PATCH is how a SCIM client changes a group (RFC 7644 3.5.2); POST
     * is how a relay forwards it. */
    {"/v1/events/scim/Groups/", "/v1/events/scim/Groups/{id}", 1,
     "POST, PATCH", API_ONLY, NULL, tg_http_on_events_scim},
    {"/healthz", NULL, 0, "GET", ANY, tg_http_on_healthz, NULL},
    {"/readyz", NULL, 0, "GET", ANY, tg_http_on_readyz, NULL},
    {"/metrics", NULL, 0, "GET", ADMIN_ONLY, tg_http_on_metrics, NULL},
    {"/v1/admin/reload", NULL, 0, "POST", ADMIN_REQUIRED, tg_http_on_reload,
     NULL},
};

#define N_ROUTES (sizeof(routes) / sizeof(routes[0]))

size_t tg_http_route_labels(const char **out, size_t cap)
{
    size_t i;

    for (i = 0; i < N_ROUTES && i < cap; i++)
        out[i] = routes[i].label ? routes[i].label : routes[i].path;
    return N_ROUTES;
}

static const struct route *find_route(const struct tg_http *h,
                                      const struct rq *q, const char **arg)
{
    /* The admin listener is its own server (tg_http_start). */
    int admin = h->admin_ctx && mg_get_context(q->conn) == h->admin_ctx;
    size_t i;

    for (i = 0; i < N_ROUTES; i++) {
        const struct route *r = &routes[i];
        size_t n = strlen(r->path);
        if (r->prefix) {
            if (strncmp(q->path, r->path, n) != 0 || !q->path[n] ||
                strchr(q->path + n, '/'))
                continue;
            *arg = q->path + n;
        } else if (strcmp(q->path, r->path) != 0) {
            continue;
        }
        /* Without an admin listener everything is served on the API one. */
        if (r->where == API_ONLY && admin)
            continue;
        if (r->where == ADMIN_ONLY && h->has_admin && !admin)
            continue;
        if (r->where == ADMIN_REQUIRED && !admin)
            continue;
        return r;
    }
    return NULL;
}

/* 1 when method is one of the route's methods ("GET, POST"). */
static int takes(const char *methods, const char *method)
{
    size_t n = strlen(method);

    for (const char *p = methods; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && strncmp(p, method, n) == 0)
            return 1;
        if (!e)
            break;
        p = e + 1;
        while (*p == ' ')
            p++;
    }
    return 0;
}

/* Answers q by its route r (NULL: none), or refuses it first: an
 * ambiguous length, no such path, another method. */
static void dispatch(struct rq *q, const struct route *r, const char *arg)
{
    const char *bad_framing = tg_http_framing_problem(q->ri);

    if (bad_framing) {
        char msg[200];
        snprintf(msg, sizeof(msg),
                 "The request's length is ambiguous (%s); send one "
                 "Content-Length of digits, or Transfer-Encoding: chunked "
                 "alone.",
                 bad_framing);
        q->close = 1;
        q->note = "framing";
        tg_http_send_error(q, 400, "bad_request", msg);
    } else if (!r) {
        tg_http_send_not_found(q);
    } else if (!takes(r->method, q->ri->request_method)) {
        const char *const allow[] = {"Allow", r->method, NULL};
        char msg[96];
        snprintf(msg, sizeof(msg), "This endpoint only takes %s.", r->method);
        tg_http_send_error_x(q, 405, "method_not_allowed", msg, NULL, allow);
    } else if (r->fn) {
        r->fn(q);
    } else {
        r->fn_arg(q, arg);
    }
}

/* The access log line of q, answered in elapsed seconds. */
static void log_request(const struct rq *q, double elapsed)
{
    /* Probes are not logged: they would drown the requests. */
    if (strcmp(q->path, "/healthz") != 0 && strcmp(q->path, "/readyz") != 0 &&
        strcmp(q->path, "/metrics") != 0) {
        struct tg_log_request lr = {
            .remote = q->ri->remote_addr,
            .method = q->ri->request_method,
            .path = q->path,
            .status = q->status,
            .ticket = q->ticket[0] ? q->ticket : NULL,
            .decision = q->verdict,
            .codes = q->codes,
            .n_codes = q->n_codes,
            .decision_id = q->decision_id[0] ? q->decision_id : NULL,
            .delivery_id = q->delivery[0] ? q->delivery : NULL,
            .note = q->note,
            .duration_ms = elapsed * 1000.0,
        };
        tg_log_request(q->status >= 500 ? TG_LOG_WARN : TG_LOG_INFO, &lr);
    }
}

int tg_http_handle(struct mg_connection *conn, void *cbdata)
{
    struct tg_http *h = cbdata;
    struct rq q = {
        .conn = conn,
        .ri = mg_get_request_info(conn),
        .h = h,
        .now = tg_clock_wall_s(),
    };
    const struct route *r;
    const char *arg = NULL;
    double t0, elapsed;

    q.ref = tg_http_current(h, &q.gen);
    q.cfg = tg_cfgref_config(q.ref);
    /* Routing on the decoded path as sent, not a cleaned-up one: a path
     * that needs cleaning is no path of ours. */
    q.path = q.ri->local_uri_raw ? q.ri->local_uri_raw : "";
    q.has_body = q.ri->content_length > 0 ||
                 mg_get_header(conn, "Transfer-Encoding") != NULL;
    t0 = tg_http_mono_s();
    tg_metrics_in_progress(h->metrics, 1);

    r = find_route(h, &q, &arg);
    dispatch(&q, r, arg);
    tg_http_arena_end(&q);
    elapsed = tg_http_mono_s() - t0;
    tg_metrics_http_request(h->metrics,
                            !r         ? "other"
                            : r->label ? r->label
                                       : r->path,
                            q.status, elapsed);
    log_request(&q, elapsed);
    tg_metrics_in_progress(h->metrics, -1);

    tg_http_work_end(&q);
    if (q.body_heap)
        free(q.body);
    tg_cfgref_put(q.ref);
    return q.status ? q.status : 500;
}
