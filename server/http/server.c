/* server.c - start, reload and stop: listeners, TLS options, config. */
#include "server/http/internal.h"
#include "server/http/tlsshim.h"

#include <civetweb.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <strings.h>

#include "server/actback/sender.h"
#include "server/config/config.h"
#include "server/http/shadow.h"
#include "server/util/clock.h"
#include "server/util/log.h"
#include "server/util/metrics.h"
#include "validators/errors.h"

/* Numbers the configurations put in force, across every server of the
 * process; 0 is none. */
static _Atomic uint64_t cfg_gen;

struct tg_cfgref *tg_http_current(struct tg_http *h, uint64_t *gen)
{
    struct tg_cfgref *r;
    pthread_mutex_lock(&h->lock);
    r = tg_cfgref_get(h->cur);
    *gen = h->gen;
    pthread_mutex_unlock(&h->lock);
    return r;
}

static int on_log_message(const struct mg_connection *conn, const char *message)
{
    char clean[512];
    (void)conn;
    tg_log_event(TG_LOG_WARN, "civetweb", "%s",
                 tg_log_clean(message, strlen(message), clean, sizeof(clean)));
    return 1;
}

/* The connections gauge: CivetWeb calls these from the worker that takes
 * a connection up and when it closes it (the latter under the context's
 * mutex: only an atomic add here). Tests wait on the gauge instead of
 * sleeping "long enough" for their connections to be taken. */
static struct tg_http *http_of(const struct mg_connection *conn)
{
    return mg_get_user_data(mg_get_context(conn));
}

static int on_init_connection(const struct mg_connection *conn, void **data)
{
    struct tg_http *h = http_of(conn);
    (void)data;
    if (h)
        tg_metrics_connection(h->metrics,
                              h->admin_ctx &&
                                  mg_get_context(conn) == h->admin_ctx,
                              1);
    return 0;
}

static void on_connection_closed(const struct mg_connection *conn)
{
    struct tg_http *h = http_of(conn);
    if (h)
        tg_metrics_connection(h->metrics,
                              h->admin_ctx &&
                                  mg_get_context(conn) == h->admin_ctx,
                              -1);
}

/* ---------------------------------------------------------- lifecycle */

/* Appends the comma-separated items of list to ports, adding "s" to each
 * when tls (CivetWeb's marker for a TLS port). Returns the number of items,
 * or -1 when it does not fit. */
static int add_ports(char *ports, size_t cap, const char *list, int tls)
{
    const char *p = list;
    int items = 0;

    while (*p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p), used = strlen(ports);
        int w;
        while (n > 0 && (*p == ' ' || *p == '\t')) {
            p++;
            n--;
        }
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if (n > 0) {
            int has_s = p[n - 1] == 's' || p[n - 1] == 'r';
            w = snprintf(ports + used, cap - used, "%s%.*s%s", used ? "," : "",
                         (int)n, p, tls && !has_s ? "s" : "");
            if (w < 0 || (size_t)w >= cap - used)
                return -1;
            items++;
        }
        if (!e)
            break;
        p = e + 1;
    }
    return items;
}

static int any_tls_port(const char *list)
{
    const char *p = list;
    while (p && *p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if (n > 0 && p[n - 1] == 's')
            return 1;
        if (!e)
            break;
        p = e + 1;
    }
    return 0;
}

/* The option strings of both CivetWeb servers, formatted once. */
struct listen_opts {
    char ports[1024], admin_ports[1024];
    int n_main, n_admin;
    char threads[16], timeout[16], admin_timeout[16], keepalive[16];
};

/* Checks server.listen and server.admin_listen and formats them into l.
 * Returns 0 or TG_EINVAL (logged). */
static int listen_ports(struct tg_http *h, const struct tg_config *c, int tls,
                        struct listen_opts *l)
{
    if (!c->server.listen) {
        tg_log_event(TG_LOG_ERROR, "startup_error", "server.listen is not set");
        return TG_EINVAL;
    }
    if (!tls && any_tls_port(c->server.listen)) {
        tg_log_event(TG_LOG_ERROR, "startup_error",
                     "server.listen has a TLS port (\"s\") but "
                     "server.tls.certificate is not set");
        return TG_EINVAL;
    }
    l->n_main = add_ports(l->ports, sizeof(l->ports), c->server.listen, tls);
    if (c->server.admin_listen) {
        l->n_admin = add_ports(l->admin_ports, sizeof(l->admin_ports),
                               c->server.admin_listen, 0);
        h->has_admin = 1;
    }
    if (l->n_main <= 0 || l->n_admin < 0 ||
        l->n_main + l->n_admin > TG_MAX_LISTENERS) {
        tg_log_event(TG_LOG_ERROR, "startup_error",
                     "server.listen: no usable \"host:port\" "
                     "(at most %d listeners)",
                     TG_MAX_LISTENERS);
        return TG_EINVAL;
    }
    return 0;
}

/* Initialises CivetWeb, with its OpenSSL layer when tls. Returns 0 or
 * TG_EINVAL (logged; nothing to undo). */
static int library_start(int tls)
{
    /* TLS needs CivetWeb's OpenSSL layer initialised before mg_start, and
     * Debian's CivetWeb 1.15 can only find OpenSSL 3 through our shims. */
    if (tls) {
        char why[256];
        if (tg_tlsshim_load(why, sizeof(why)) != 0) {
            tg_log_event(TG_LOG_ERROR, "startup_error", "%s", why);
            return TG_EINVAL;
        }
    }
    if ((mg_init_library(tls ? MG_FEATURES_SSL : 0) &
         (tls ? MG_FEATURES_SSL : 0)) != (tls ? MG_FEATURES_SSL : 0u)) {
        tg_log_event(TG_LOG_ERROR, "startup_error",
                     "server.tls is set but CivetWeb could not "
                     "initialise OpenSSL");
        mg_exit_library();
        return TG_EINVAL;
    }
    return 0;
}

/* The API listener's CivetWeb options (NULL-ended) into opts (32). */
static void api_options(const struct tg_config *c, int tls,
                        struct listen_opts *l, const char **opts)
{
    size_t no = 0;

    /* One CivetWeb thread per open connection (CivetWeb 1.15 serves a
     * connection on one thread from accept to close); server.threads
     * bounds the requests processed at once (h->work). */
    snprintf(l->threads, sizeof(l->threads), "%d",
             c->server.connections > 0 ? c->server.connections : 256);
    snprintf(l->keepalive, sizeof(l->keepalive), "%d",
             c->server.keep_alive_timeout_ms);
    snprintf(l->timeout, sizeof(l->timeout), "%d",
             c->server.request_timeout_ms > 0 ? c->server.request_timeout_ms
                                              : 10000);
    /* A probe's request is a line and a few headers: the admin listener
     * gives idle or slow sockets at most TG_ADMIN_TIMEOUT_MS, so that a
     * few of them cannot hold its threads past a liveness probe's patience
     * (Kubernetes gives up after 1 s by default). */
    snprintf(l->admin_timeout, sizeof(l->admin_timeout), "%d",
             c->server.request_timeout_ms > 0 &&
                     c->server.request_timeout_ms < TG_ADMIN_TIMEOUT_MS
                 ? c->server.request_timeout_ms
                 : TG_ADMIN_TIMEOUT_MS);
    opts[no++] = "listening_ports";
    opts[no++] = l->ports;
    opts[no++] = "num_threads";
    opts[no++] = l->threads;
    opts[no++] = "request_timeout_ms";
    opts[no++] = l->timeout;
    /* Lets a 413 answered before the body was read reach the client. */
    opts[no++] = "linger_timeout_ms";
    opts[no++] = "1000";
    opts[no++] = "enable_keep_alive";
    opts[no++] = c->server.keep_alive_timeout_ms > 0 ? "yes" : "no";
    /* How long an open connection may wait for its next request. */
    opts[no++] = "keep_alive_timeout_ms";
    opts[no++] = l->keepalive;
    /* An answer over the stack buffer goes out in two writes; without
     * this, Nagle holds the second until the client's delayed ACK. */
    opts[no++] = "tcp_nodelay";
    opts[no++] = "1";
    if (tls) {
        opts[no++] = "ssl_certificate";
        opts[no++] = c->server.tls_certificate;
        opts[no++] = "ssl_protocol_version";
        opts[no++] = "4"; /* TLS 1.2 and later */
        /* TLS 1.2: forward-secret AEAD suites only (ECDHE with AES-GCM or
         * ChaCha20-Poly1305), as Mozilla's "intermediate" profile without
         * DHE: no static RSA key exchange, no CBC. TLS 1.3's suites (set
         * apart by OpenSSL) are all of that kind already. */
        opts[no++] = "ssl_cipher_list";
        opts[no++] = TG_TLS12_CIPHERS;
        if (c->server.tls_client_ca) {
            opts[no++] = "ssl_ca_file";
            opts[no++] = c->server.tls_client_ca;
            opts[no++] = "ssl_verify_peer";
            opts[no++] = "yes";
        }
    }
    opts[no] = NULL;
}

/* The admin listener is a server of its own, with its own few threads:
 * probes and metrics are answered however many connections the API
 * listener holds. Returns 0 or TG_EINVAL (logged). */
static int admin_start(struct tg_http *h, const struct tg_config *c,
                       const struct mg_callbacks *cb,
                       const struct listen_opts *l)
{
    struct mg_server_port sp[TG_MAX_LISTENERS];
    const char *aopts[] = {
        "listening_ports",
        l->admin_ports,
        "num_threads",
        TG_STR(TG_ADMIN_THREADS),
        "request_timeout_ms",
        l->admin_timeout,
        "linger_timeout_ms",
        "1000",
        "enable_keep_alive",
        c->server.keep_alive_timeout_ms > 0 ? "yes" : "no",
        "keep_alive_timeout_ms",
        l->keepalive,
        "tcp_nodelay",
        "1",
        NULL,
    };
    int n_sp, i;

    h->admin_ctx = mg_start(cb, h, aopts);
    if (!h->admin_ctx) {
        tg_log_event(TG_LOG_ERROR, "startup_error",
                     "cannot listen on %s (server.admin_listen: in use, "
                     "or not an address of this host)",
                     l->admin_ports);
        return TG_EINVAL;
    }
    mg_set_request_handler(h->admin_ctx, "/", tg_http_handle, h);
    memset(sp, 0, sizeof(sp));
    n_sp = mg_get_server_ports(h->admin_ctx, TG_MAX_LISTENERS, sp);
    for (i = 0; i < n_sp && h->n_admin_ports < TG_MAX_LISTENERS; i++)
        h->admin_ports[h->n_admin_ports++] = sp[i].port;
    return 0;
}

/* Logs the ports both servers listen on. */
static void log_listeners(const struct tg_http *h)
{
    struct mg_server_port sp[TG_MAX_LISTENERS];
    int n_sp, i;

    if (!tg_log_enabled(TG_LOG_INFO))
        return;
    memset(sp, 0, sizeof(sp));
    n_sp = mg_get_server_ports(h->ctx, TG_MAX_LISTENERS, sp);
    for (i = 0; i < n_sp; i++)
        tg_log_event(TG_LOG_INFO, "listen", "listening on port %d%s",
                     sp[i].port, sp[i].is_ssl ? " (TLS)" : "");
    for (i = 0; (size_t)i < h->n_admin_ports; i++)
        tg_log_event(TG_LOG_INFO, "listen", "listening on port %d (admin)",
                     h->admin_ports[i]);
}

/* Starts both CivetWeb servers of h. Returns 0 or TG_EINVAL (logged;
 * the library is left initialised for the caller to exit). */
static int servers_start(struct tg_http *h, const struct tg_config *c, int tls,
                         struct listen_opts *l)
{
    const struct mg_callbacks cb = {
        .log_message = on_log_message,
        .exit_thread = tg_http_thread_exit,
        .http_error = tg_http_on_error,
        .init_connection = on_init_connection,
        .connection_closed = on_connection_closed,
    };
    const char *opts[32];

    api_options(c, tls, l, opts);
    h->ctx = mg_start(&cb, h, opts);
    if (!h->ctx) {
        tg_log_event(TG_LOG_ERROR, "startup_error",
                     "cannot listen on %s (in use, not an address of this "
                     "host, or with TLS a certificate or CA file that does "
                     "not load: see the civetweb records before this one)",
                     l->ports);
        return TG_EINVAL;
    }
    mg_set_request_handler(h->ctx, "/", tg_http_handle, h);
    if (l->n_admin > 0 && admin_start(h, c, &cb, l) != 0) {
        mg_stop(h->ctx);
        return TG_EINVAL;
    }
    return 0;
}

/* Keeps the files of c's policy digest in the evidence store (a "policy"
 * chain entry, once per digest), so that `ticketgate audit policy` prints
 * the exact rules behind any decision after the files changed. A failure
 * does not stop the server: the store logs it, and the next start or
 * reload tries again. */
static void keep_policy(struct tg_http *h, const struct tg_config *c)
{
    if (h->ev)
        (void)tg_evidence_keep_policy(h->ev, c, tg_clock_wall_s());
}

int tg_http_start(struct tg_cfgref *cfg, struct tg_evidence *ev,
                  struct tg_http **out)
{
    const struct tg_config *c = tg_cfgref_config(cfg);
    struct listen_opts l = {.n_admin = 0};
    struct tg_http *h;
    int rc = TG_ENOMEM;
    int tls = c->server.tls_certificate != NULL;
    const char *labels[TG_METRICS_ROUTES_MAX];
    size_t n_labels = tg_http_route_labels(labels, TG_METRICS_ROUTES_MAX);

    if (n_labels > TG_METRICS_ROUTES_MAX)
        return TG_EINVAL;
    h = calloc(1, sizeof(*h));
    if (!h)
        return TG_ENOMEM;
    if (tg_metrics_new(labels, n_labels, &h->metrics) != 0)
        goto fail_alloc;
    if (pthread_mutex_init(&h->lock, NULL) != 0)
        goto fail_lock;
    if (pthread_mutex_init(&h->reload_lock, NULL) != 0)
        goto fail_reload_lock;
    tg_metrics_set_policy(h->metrics, c->digest);
    h->ev = ev;
    h->cur = tg_cfgref_get(cfg);
    h->gen = atomic_fetch_add(&cfg_gen, 1) + 1;
    h->tls = tls;
    if (tg_http_deadlines_start(h, c) != 0)
        goto fail_lib;
    rc = TG_EINVAL;
    if (listen_ports(h, c, tls, &l) != 0 || library_start(tls) != 0)
        goto fail_lib;
    /* Act-back (NULL without act_back) before the listeners: a request
     * may wake it. */
    h->sender = tg_sender_start_metrics(c, ev, h->metrics);
    /* policy.shadow: a candidate that does not load is only reported. */
    if (tg_shadow_new(h->metrics, ev, &h->shadow) != 0) {
        rc = TG_ENOMEM;
        goto fail_shadow;
    }
    tg_shadow_configure(h->shadow, c);
    tg_config_log_exception_notes(c, tg_clock_wall_s());
    if (servers_start(h, c, tls, &l) != 0)
        goto fail_start;
    log_listeners(h);
    /* The rules in force, kept in the chain (issue 13); after the listen
     * lines, which come first in the log. */
    keep_policy(h, c);
    *out = h;
    return 0;

fail_start:
    tg_shadow_free(h->shadow);
fail_shadow:
    tg_sender_stop(h->sender);
    mg_exit_library();
fail_lib:
    tg_http_deadlines_stop(h);
    tg_cfgref_put(h->cur);
    pthread_mutex_destroy(&h->reload_lock);
fail_reload_lock:
    pthread_mutex_destroy(&h->lock);
fail_lock:
    tg_metrics_free(h->metrics);
fail_alloc:
    free(h);
    return rc;
}

static int differs(const char *a, const char *b)
{
    if (!a || !b)
        return a != b;
    return strcmp(a, b) != 0;
}

void tg_http_reload(struct tg_http *h, struct tg_cfgref *cfg)
{
    const struct tg_config *o, *n = tg_cfgref_config(cfg);
    struct tg_cfgref *old;

    pthread_mutex_lock(&h->lock);
    old = h->cur;
    h->cur = tg_cfgref_get(cfg);
    h->gen = atomic_fetch_add(&cfg_gen, 1) + 1;
    pthread_mutex_unlock(&h->lock);

    o = tg_cfgref_config(old);
    if (differs(o->server.listen, n->server.listen) ||
        differs(o->server.admin_listen, n->server.admin_listen) ||
        o->server.threads != n->server.threads ||
        o->server.connections != n->server.connections ||
        o->server.keep_alive_timeout_ms != n->server.keep_alive_timeout_ms ||
        differs(o->server.tls_certificate, n->server.tls_certificate) ||
        o->server.request_timeout_ms != n->server.request_timeout_ms)
        tg_log_event(TG_LOG_WARN, "reload",
                     "server settings changed; they apply on "
                     "restart");
    if (differs(o->store.path, n->store.path))
        tg_log_event(TG_LOG_WARN, "reload",
                     "store.path changed; the store in use is "
                     "kept until restart");
    if (tg_sender_settings_differ(o, n))
        tg_log_event(TG_LOG_WARN, "reload",
                     "act_back delivery settings changed (base_url, auth, "
                     "retries, timeouts); the sender keeps the previous ones "
                     "until restart (on_deny and on_annotate apply now)");
    tg_log_set_level(n->server.log_level);
    /* The shadow's candidate is read again with the configuration. */
    tg_shadow_configure(h->shadow, n);
    tg_metrics_set_policy(h->metrics, n->digest);
    keep_policy(h, n);
    tg_config_log_exception_notes(n, tg_clock_wall_s());
    tg_metrics_config_reload(h->metrics, 1);
    tg_log_event(TG_LOG_INFO, "reload", "configuration reloaded: policy %s",
                 n->digest);
    tg_cfgref_put(old);
}

int tg_http_reload_file(struct tg_http *h, const char *path, char *why,
                        size_t cap)
{
    struct tg_config *c = NULL;
    struct tg_cfgref *r;
    struct tg_diag d;
    size_t i;
    int rc;

    if (cap)
        why[0] = '\0';
    pthread_mutex_lock(&h->reload_lock);
    tg_diag_init(&d);
    rc = tg_config_load(path, &c, &d);
    for (i = 0; i < d.n; i++)
        tg_log_event(TG_LOG_ERROR, "config_problem", "%s", d.msgs[i]);
    if (rc != 0) {
        if (cap)
            snprintf(why, cap,
                     "The configuration does not load (%s); the previous "
                     "one stays in force.",
                     d.n ? d.msgs[0] : path);
        tg_log_event(TG_LOG_ERROR, "reload_failed",
                     "%s: reload failed; the previous "
                     "configuration stays in force",
                     path);
        tg_metrics_config_reload(h->metrics, 0);
        goto out;
    }
    r = tg_cfgref_new(c);
    if (!r) {
        rc = TG_ENOMEM;
        if (cap)
            snprintf(why, cap,
                     "Out of memory; the previous configuration "
                     "stays in force.");
        tg_metrics_config_reload(h->metrics, 0);
        goto out;
    }
    tg_http_reload(h, r);
    tg_cfgref_put(r);
out:
    tg_diag_cleanup(&d);
    pthread_mutex_unlock(&h->reload_lock);
    return rc;
}

void tg_http_stop(struct tg_http *h)
{
    if (!h)
        return;
    /* mg_stop closes the listeners and joins the workers, so every
     * request in flight has finished (and released its reference). */
    if (h->admin_ctx)
        mg_stop(h->admin_ctx);
    mg_stop(h->ctx);
    /* After the workers: no request wakes it any more. Cuts transfers in
     * flight within about a second. */
    tg_sender_stop(h->sender);
    tg_shadow_free(h->shadow);
    mg_exit_library();
    tg_http_deadlines_stop(h);
    tg_cfgref_put(h->cur);
    pthread_mutex_destroy(&h->reload_lock);
    pthread_mutex_destroy(&h->lock);
    tg_metrics_free(h->metrics);
    free(h);
    /* the workers are gone: the arena buffers they kept idle go too */
    tg_http_arena_pool_drain();
}
