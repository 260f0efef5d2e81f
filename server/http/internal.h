/* internal.h - the server, a request in flight and the calls http shares. */
#ifndef TG_HTTP_INTERNAL_H
#define TG_HTTP_INTERNAL_H

#include <civetweb.h>
#include <jansson.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "server/config/cfgref.h"
#include "server/config/config.h"
#include "server/http/http.h"
#include "server/util/jarena.h"
#include "server/util/metrics.h"

/* jansson recurses per level; real tickets nest three or four deep. */
#define TG_JSON_MAX_DEPTH 64
/* First allocation for a body of unknown length (chunked). */
#define TG_BODY_CHUNK 16384
#define TG_MAX_LISTENERS 16
/* GET /v1/decisions page sizes (README: default 100, at most 1000). */
#define TG_DECISIONS_DEFAULT_LIMIT 100
#define TG_DECISIONS_MAX_LIMIT 1000
#define TG_RETRY_AFTER "5"
/* Random bytes for decision ids drawn from OpenSSL per worker thread at a
 * time (a multiple of the 3 an id takes). */
#define TG_RND_POOL 240
/* A decision document this long is dumped on the stack, not the heap. */
#define TG_DOC_STACK 4096
/* The JSON values of one request, in one allocation instead of hundreds:
 * a 3 KB Jira webhook takes 20 KB parsed and mapped, a 5 KB one 40 KB;
 * past this, allocations fall back to malloc. Not on the stack: Debian's
 * CivetWeb gives its workers 100 KB stacks. */
#define TG_ARENA_BYTES (64 * 1024)
/* Longest jti the Bearer memo keeps (jwtauth refuses longer ones). */
#define TG_MEMO_JTI 256
/* A body up to this size is read into its worker thread's buffer, kept
 * from one request to the next; a larger one gets its own allocation. */
#define TG_BODY_KEEP 65536
/* The TLS 1.2 suites offered (OpenSSL names; see tg_http_start). */
#define TG_TLS12_CIPHERS                                                       \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"               \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"               \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
/* CivetWeb threads of the admin listener's own server: probes and metrics
 * stay answered when the API's connections are all taken. */
/* The admin listener's own CivetWeb threads (one an open connection): more
 * than the idle sockets a scraper, two probes and an operator leave open. */
#define TG_ADMIN_THREADS 32
/* Its header deadline, below any liveness probe's retry period. */
#define TG_ADMIN_TIMEOUT_MS 2000
/* How often the watchdog looks for bodies past their deadline, ms. */
#define TG_WATCHDOG_TICK_MS 100
#define TG_STR_(x) #x
#define TG_STR(x) TG_STR_(x)

/* A worker thread while it reads a body: the watchdog ends its read once
 * deadline_ms (monotonic) has passed; 0 when it reads nothing. The
 * connection is known by its peer and local port (CivetWeb 1.15 does not
 * give out its socket). */
struct reader {
    pthread_mutex_t lock; /* held while arming, cutting and disarming */
    _Atomic int64_t deadline_ms;
    char remote[48]; /* mg_request_info.remote_addr */
    int remote_port, local_port;
    int cut; /* its socket was shut down for reading */
};

struct tg_http {
    struct mg_context *ctx;
    struct mg_context *admin_ctx; /* server.admin_listen's own, or NULL */
    struct tg_evidence *ev;
    int tls;

    pthread_mutex_t lock; /* guards cur and gen */
    struct tg_cfgref *cur;
    uint64_t gen; /* cur's number, unique in the process */

    /* Ports of server.admin_listen (its own CivetWeb server, admin_ctx):
     * only health, metrics and reload there. */
    int admin_ports[TG_MAX_LISTENERS];
    size_t n_admin_ports;
    int has_admin;

    struct tg_metrics *metrics;
    /* policy.shadow's candidate and its thread (shadow.h); never NULL once
     * started, with or without a candidate. */
    struct tg_shadow *shadow;
    /* The act-back sender (server/actback/sender.h), or NULL without
     * act_back. A handler that queued actions calls tg_sender_wake. */
    struct tg_sender *sender;
    pthread_mutex_t reload_lock; /* one reload at a time */

    /* server.threads: requests processed at once (authentication,
     * evaluation, evidence). A connection takes one only once its body is
     * in, so slow clients never hold one. */
    sem_t work;
    int work_init;

    /* Body deadlines: one reader per CivetWeb thread, checked by the
     * watchdog thread every TG_WATCHDOG_TICK_MS. */
    struct reader *readers;
    size_t n_readers;
    _Atomic size_t next_reader;
    int64_t body_timeout_ms;
    int keep_alive; /* server.keep_alive_timeout_ms > 0 */
    pthread_t watchdog;
    int watchdog_on;
    pthread_mutex_t wd_lock;
    pthread_cond_t wd_cond;
    atomic_int wd_stop; /* read by the watchdog thread */
};

/* One request in flight. */
struct rq {
    struct mg_connection *conn;
    const struct mg_request_info *ri;
    struct tg_http *h;
    struct tg_cfgref *ref;
    const struct tg_config *cfg;
    uint64_t gen; /* of cfg: see struct tg_http */
    const char *path;
    int64_t now;
    char *body;
    size_t body_len;
    int body_heap; /* body is its own allocation, freed with the request */
    unsigned char sha[32];
    int status;
    const char *verdict;
    char decision_id[32];
    const char *note;    /* extra word for the access log */
    int has_body;        /* Content-Length > 0 or Transfer-Encoding */
    int body_done;       /* the whole body was read */
    int close;           /* the connection must close after this answer */
    int timed_out;       /* the body missed its deadline */
    int working;         /* holds one of h->work */
    int64_t deadline_ms; /* monotonic: the body must be in by then */
    /* For the access log only: identifiers, never credentials. */
    char ticket[128];
    char delivery[128];
    const char *codes[TG_CODE_COUNT];
    size_t n_codes;
    struct tg_jarena arena; /* see tg_http_arena_begin */
    char *arena_buf;
};

/* ---- server.c */

/* A new reference to the configuration in force, *gen its number. */
struct tg_cfgref *tg_http_current(struct tg_http *h, uint64_t *gen);

/* ---- router.c */

/* CivetWeb's request handler for both listeners (cbdata is the server). */
int tg_http_handle(struct mg_connection *conn, void *cbdata);
/* The metrics label of every route in the table, in its order (the path,
 * or its template when it takes an argument), into out (at most cap);
 * returns how many routes there are. */
size_t tg_http_route_labels(const char **out, size_t cap);

/* ---- deadlines.c */

double tg_http_mono_s(void);
int64_t tg_http_mono_ms(void);
/* Takes one of the server.threads request slots (once per request). */
void tg_http_work_begin(struct rq *q);
/* Gives the slot back, if q holds one. */
void tg_http_work_end(struct rq *q);
/* Arms this thread's reader: the watchdog cuts the connection of ri once
 * deadline_ms (monotonic) has passed. */
void tg_http_reader_arm(struct tg_http *h, const struct mg_request_info *ri,
                        int64_t deadline_ms);
/* After this returns the watchdog leaves this connection alone. */
void tg_http_reader_disarm(struct tg_http *h);
/* The worker slots, the readers and the watchdog thread. 0 or TG_ENOMEM. */
int tg_http_deadlines_start(struct tg_http *h, const struct tg_config *c);
/* Undoes tg_http_deadlines_start; safe on a partial start. */
void tg_http_deadlines_stop(struct tg_http *h);

/* ---- answer.c */

/* Sends status, headers (extra: name, value pairs, NULL-ended) and body. */
void tg_http_send_body(struct rq *q, int status, const char *ctype,
                       const char *body, size_t len, const char *const *extra);
void tg_http_send_json(struct rq *q, int status, const char *body, size_t len,
                       const char *const *extra);
/* The compact text of doc in sbuf or *heap (the caller frees); NULL on
 * ENOMEM. */
const char *tg_http_dump_doc(const json_t *doc, char *sbuf, size_t cap,
                             char **heap, size_t *len);
/* Sends doc as compact JSON with status, or 500 when it cannot be written
 * (NULL doc, out of memory). doc stays the caller's. */
void tg_http_send_doc(struct rq *q, int status, const json_t *doc);
/* The error document of API.md; fallback when message is not UTF-8. */
void tg_http_send_error_x(struct rq *q, int status, const char *code,
                          const char *message, const char *fallback,
                          const char *const *extra);
void tg_http_send_error(struct rq *q, int status, const char *code,
                        const char *message);
void tg_http_send_internal(struct rq *q);
void tg_http_send_unauthenticated(struct rq *q, int bearer);
void tg_http_send_store_unavailable(struct rq *q);
/* A store call failed with rc: 500 for TG_ENOMEM, else 503. */
void tg_http_send_store_failure(struct rq *q, int rc);
void tg_http_send_not_found(struct rq *q);
/* CivetWeb's http_error callback. */
int tg_http_on_error(struct mg_connection *conn, int status, const char *msg);

/* ---- body.c */

/* CivetWeb's exit_thread callback: frees the thread's body buffer. */
void tg_http_thread_exit(const struct mg_context *ctx, int type, void *user);
/* Size, media type and body read of every POST; 0, or -1 when answered. */
int tg_http_post_prelude(struct rq *q);
/* The same with another test of the Content-Type (SCIM's own type). */
int tg_http_post_prelude_as(struct rq *q, int (*type_ok)(const char *));
/* The request's JSON arena: begun past authentication, ended by
 * tg_http_handle once the handler has returned. */
void tg_http_arena_begin(struct rq *q);
void tg_http_arena_end(struct rq *q);
/* Frees the arena buffers kept idle for the next requests (all servers of
 * the process share them); returns how many. */
size_t tg_http_arena_pool_drain(void);
/* n bytes for the request's own use until its arena ends (cut from the
 * arena's tail), or NULL without an arena or room in it. */
void *tg_http_scratch(struct rq *q, size_t n);
/* The body as a JSON object, or NULL once 400 was answered. */
json_t *tg_http_parse_object(struct rq *q);
/* Why the request's length could be read two ways, or NULL. */
const char *tg_http_framing_problem(const struct mg_request_info *ri);

/* ---- handlers.c (one per route) */

void tg_http_on_check(struct rq *q);
void tg_http_on_jira(struct rq *q);
void tg_http_on_servicenow(struct rq *q);
void tg_http_on_list(struct rq *q);
void tg_http_on_get(struct rq *q, const char *id);
void tg_http_on_healthz(struct rq *q);
void tg_http_on_readyz(struct rq *q);
void tg_http_on_metrics(struct rq *q);
void tg_http_on_reload(struct rq *q);
/* The Bearer JWT of sources.generic, as the decision reads check it:
 * 0 with *jti (caller frees; may be NULL), or -1 once answered. */
int tg_http_auth_generic(struct rq *q, char **jti);
/* Reads the required ?ticket= of q into dst (cap bytes). A missing one or
 * one holding a NUL byte answers 400 (the hint names route, such as
 * "/v1/actions") and returns -1; 0 when dst holds the ticket. */
int tg_http_query_ticket(struct rq *q, const char *route, char *dst,
                         size_t cap);

/* ---- actions.c: GET /v1/actions?ticket=KEY (issue 12) */
void tg_http_on_actions(struct rq *q);

/* ---- expirations.c (issue 14) */
/* GET /v1/expirations?due_before=T: the work list of expired access. */
void tg_http_on_expirations(struct rq *q);
/* At a scrape: recomputes the outcome metrics from the store when due
 * (tg_metrics_outcomes_claim), in the scraping thread. */
void tg_http_outcomes_refresh(struct rq *q);

/* ---- events.c: POST /v1/events, GET (Okta's verification), and POST
 * /v1/events/scim/Groups/{group} (issue 14) */
void tg_http_on_events(struct rq *q);
void tg_http_on_events_scim(struct rq *q, const char *group);

#endif
