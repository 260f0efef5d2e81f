/* http.c - the CivetWeb server: routes, request order and answers (API.md). */
#include "server/http/http.h"
#include "server/http/tlsshim.h"

#include <civetweb.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "validators/errors.h"
#include "validators/evaluate.h"
#include "validators/ticket.h"
#include "server/adapters/adapter.h"
#include "server/core/canonical.h"
#include "server/config/config.h"
#include "server/core/decision.h"
#include "server/util/digest.h"
#include "server/util/jarena.h"
#include "server/core/justnorm.h"
#include "server/auth/jwtauth.h"
#include "server/util/log.h"
#include "server/util/metrics.h"
#include "server/core/request.h"

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
#define TG_TLS12_CIPHERS                                                  \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"          \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"          \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
/* CivetWeb threads of the admin listener's own server: probes and metrics
 * stay answered when the API's connections are all taken. */
#define TG_ADMIN_THREADS 4
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
    char remote[48];      /* mg_request_info.remote_addr */
    int remote_port, local_port;
    int cut;              /* its socket was shut down for reading */
};

struct tg_http {
    struct mg_context *ctx;
    struct mg_context *admin_ctx; /* server.admin_listen's own, or NULL */
    struct tg_evidence *ev;
    int tls;

    pthread_mutex_t lock; /* guards cur and gen */
    struct tg_cfgref *cur;
    uint64_t gen;         /* cur's number, unique in the process */

    /* Ports of server.admin_listen (its own CivetWeb server, admin_ctx):
     * only health, metrics and reload there. */
    int admin_ports[TG_MAX_LISTENERS];
    size_t n_admin_ports;
    int has_admin;

    struct tg_metrics *metrics;
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
    int wd_stop;
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
    const char *note; /* extra word for the access log */
    int has_body;     /* Content-Length > 0 or Transfer-Encoding */
    int body_done;    /* the whole body was read */
    int close;        /* the connection must close after this answer */
    int timed_out;    /* the body missed its deadline */
    int working;      /* holds one of h->work */
    int64_t deadline_ms; /* monotonic: the body must be in by then */
    /* For the access log only: identifiers, never credentials. */
    char ticket[128];
    char delivery[128];
    const char *codes[TG_CODE_COUNT];
    size_t n_codes;
    struct tg_jarena arena; /* see arena_begin */
    char *arena_buf;
};

static struct tg_cfgref *current(struct tg_http *h, uint64_t *gen);

/* Numbers the configurations put in force, across every server of the
 * process; 0 is none. */
static _Atomic uint64_t cfg_gen;

/* Three random bytes for a decision id. A RAND_bytes call per request cost
 * about 2% of the server's time (a DRBG lookup and lock each); the thread's
 * pool amortises that over TG_RND_POOL / 3 ids. Returns 0 or -1. */
static int id_random(unsigned char out[3])
{
    static _Thread_local unsigned char pool[TG_RND_POOL];
    static _Thread_local size_t left;

    if (left < 3) {
        if (RAND_bytes(pool, sizeof(pool)) != 1)
            return -1;
        left = sizeof(pool);
    }
    memcpy(out, pool + sizeof(pool) - left, 3);
    left -= 3;
    return 0;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------- work and deadlines */

/* Takes one of the server.threads request slots (once per request). */
static void work_begin(struct rq *q)
{
    int rc;

    if (q->working || !q->h->work_init)
        return;
    while ((rc = sem_wait(&q->h->work)) != 0 && errno == EINTR)
        ;
    q->working = rc == 0;
}

static void work_end(struct rq *q)
{
    if (!q->working)
        return;
    sem_post(&q->h->work);
    q->working = 0;
}

/* The reader of this worker thread, given out on first use. */
static _Thread_local struct reader *thread_reader;

static struct reader *reader_of(struct tg_http *h)
{
    if (!thread_reader && h->readers) {
        size_t i = atomic_fetch_add(&h->next_reader, 1);
        if (i < h->n_readers)
            thread_reader = &h->readers[i];
    }
    return thread_reader;
}

static void reader_arm(struct tg_http *h, const struct mg_request_info *ri,
                       int64_t deadline_ms)
{
    struct reader *r = reader_of(h);
    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    snprintf(r->remote, sizeof(r->remote), "%s", ri->remote_addr);
    r->remote_port = ri->remote_port;
    r->local_port = ri->server_port;
    r->cut = 0;
    atomic_store(&r->deadline_ms, deadline_ms);
    pthread_mutex_unlock(&r->lock);
}

/* After this returns the watchdog leaves this connection alone. */
static void reader_disarm(struct tg_http *h)
{
    struct reader *r = reader_of(h);
    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    atomic_store(&r->deadline_ms, 0);
    pthread_mutex_unlock(&r->lock);
}

static int port_of(const struct sockaddr_storage *a)
{
    if (a->ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)a)->sin_port);
    if (a->ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)a)->sin6_port);
    return -1;
}

/*
 * Shuts r's connection down for reading: the worker's poll() inside
 * mg_read wakes, its recv() sees the end of the stream, mg_read returns
 * what it has, and read_body sees the deadline passed (the answer, 408,
 * can still be written). The socket is found among the process's open
 * files by its peer address and port and its local port: a TCP connection
 * is unique by these, and it stays open while r is armed (r->lock is held).
 * Returns 1 when it was found.
 */
static int cut_reader(const struct reader *r)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int found = 0;

    if (!d)
        return 0;
    while (!found && (e = readdir(d)) != NULL) {
        struct sockaddr_storage peer, local;
        socklen_t pl = sizeof(peer), ll = sizeof(local);
        char host[INET6_ADDRSTRLEN];
        const void *addr;
        char *end;
        long fd = strtol(e->d_name, &end, 10);

        if (*end || end == e->d_name || fd < 0 || fd > INT32_MAX ||
            fd == dirfd(d))
            continue;
        if (getpeername((int)fd, (struct sockaddr *)&peer, &pl) != 0 ||
            port_of(&peer) != r->remote_port ||
            getsockname((int)fd, (struct sockaddr *)&local, &ll) != 0 ||
            port_of(&local) != r->local_port)
            continue;
        addr = peer.ss_family == AF_INET
                   ? (const void *)&((struct sockaddr_in *)&peer)->sin_addr
                   : (const void *)&((struct sockaddr_in6 *)&peer)->sin6_addr;
        if (!inet_ntop(peer.ss_family, addr, host, sizeof(host)) ||
            strcmp(host, r->remote) != 0)
            continue;
        found = shutdown((int)fd, SHUT_RD) == 0;
    }
    closedir(d);
    return found;
}

/*
 * CivetWeb 1.15 gives a whole deadline to the request headers
 * (request_timeout_ms counts from when the worker starts waiting), but a
 * body read (mg_read) only times out after request_timeout_ms of silence:
 * one byte every few seconds holds the thread for hours. Every tick this
 * thread cuts the connections whose body is past its deadline
 * (cut_reader), so a body is in by its deadline or not at all. (Waking the
 * worker with a signal instead made CivetWeb read poll()'s revents after
 * EINTR, uninitialised.)
 */
static void *watchdog_run(void *arg)
{
    struct tg_http *h = arg;

    pthread_mutex_lock(&h->wd_lock);
    while (!h->wd_stop) {
        struct timespec ts;
        int64_t now = mono_ms();
        size_t i, n = atomic_load(&h->next_reader);

        if (n > h->n_readers)
            n = h->n_readers;
        for (i = 0; i < n; i++) {
            struct reader *r = &h->readers[i];
            int64_t d = atomic_load(&r->deadline_ms);
            if (d == 0 || now < d)
                continue;
            pthread_mutex_lock(&r->lock);
            d = atomic_load(&r->deadline_ms);
            if (d != 0 && now >= d && !r->cut)
                r->cut = cut_reader(r);
            pthread_mutex_unlock(&r->lock);
        }
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += TG_WATCHDOG_TICK_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&h->wd_cond, &h->wd_lock, &ts);
    }
    pthread_mutex_unlock(&h->wd_lock);
    return NULL;
}

/* ------------------------------------------------------------ answers */

/* Set while force_close() calls into CivetWeb: on_http_error then leaves
 * the answer already sent alone. */
static _Thread_local int closing;

/*
 * Makes CivetWeb close the connection after the answer already sent,
 * instead of reading and discarding the rest of the body and waiting for
 * the next request. CivetWeb 1.15 has no call for this; its error path
 * sets the flag it checks (must_close), and writes nothing once an answer
 * went out by mg_write (its header calls refuse, and a 304 has no body).
 */
static void force_close(struct mg_connection *conn)
{
    closing = 1;
    mg_send_http_error(conn, 304, "%s", "");
    closing = 0;
}

/* s (a Connection header) lists token, case-insensitive. */
static int has_token(const char *s, const char *token)
{
    size_t tl = strlen(token);

    while (*s) {
        const char *e;
        while (*s == ' ' || *s == '\t' || *s == ',')
            s++;
        e = s;
        while (*e && *e != ',')
            e++;
        {
            const char *t = e;
            while (t > s && (t[-1] == ' ' || t[-1] == '\t'))
                t--;
            if ((size_t)(t - s) == tl && strncasecmp(s, token, tl) == 0)
                return 1;
        }
        s = e;
    }
    return 0;
}

/* Whether the connection stays open after this answer, as CivetWeb decides
 * it (should_keep_alive): never after an answer given before the body was
 * read or one that asked to close; else the client's Connection header,
 * else HTTP/1.1 keeps it. */
static int keeps_alive(const struct rq *q)
{
    const char *c;

    if (q->close || (q->has_body && !q->body_done) || !q->h ||
        !q->h->keep_alive)
        return 0;
    c = mg_get_header(q->conn, "Connection");
    if (c)
        return has_token(c, "keep-alive");
    return q->ri->http_version && strcmp(q->ri->http_version, "1.1") == 0;
}

static void work_end(struct rq *q);

/* Sends the whole answer with as few writes as it can: the status line and
 * headers are formatted here and go out with the body in one mg_write when
 * they fit the stack buffer. CivetWeb's mg_response_header_* API writes
 * every header with its own send(), which was about 15% of the server's
 * time under load. The Connection header says what CivetWeb will do
 * (keeps_alive); an answer that must close makes it close (force_close),
 * so that a body never read is never read after the answer either. */
static void send_body(struct rq *q, int status, const char *ctype,
                      const char *body, size_t len, const char *const *extra)
{
    char buf[8192];
    size_t n = 0, i;
    int w, keep, head = q->ri->request_method &&
                        strcmp(q->ri->request_method, "HEAD") == 0;

    /* Writing may wait on the client: the work is done. */
    work_end(q);
    q->status = status;
    /* Only a 200 carries a decision; any other answer names none (a
     * decision id formatted before a failed append is in no store). */
    if (status != 200) {
        q->decision_id[0] = '\0';
        q->verdict = NULL;
    }
    keep = keeps_alive(q);
    if (!keep)
        q->close = 1;
    w = snprintf(buf, sizeof(buf),
                 "HTTP/1.1 %d %s\r\n"
                 "Content-Type: %s\r\n"
                 "Content-Length: %zu\r\n"
                 "Cache-Control: no-store\r\n"
                 "X-Content-Type-Options: nosniff\r\n"
                 "Connection: %s\r\n",
                 status, mg_get_response_code_text(q->conn, status), ctype,
                 len, keep ? "keep-alive" : "close");
    if (w < 0 || (size_t)w >= sizeof(buf))
        return;
    n = (size_t)w;
    for (i = 0; extra && extra[i]; i += 2) {
        w = snprintf(buf + n, sizeof(buf) - n, "%s: %s\r\n", extra[i],
                     extra[i + 1]);
        if (w < 0 || (size_t)w >= sizeof(buf) - n)
            return;
        n += (size_t)w;
    }
    if (n + 2 > sizeof(buf))
        return;
    memcpy(buf + n, "\r\n", 2);
    n += 2;
    if (head || len == 0) {
        mg_write(q->conn, buf, n);
    } else if (len <= sizeof(buf) - n) {
        memcpy(buf + n, body, len);
        mg_write(q->conn, buf, n + len);
    } else {
        mg_write(q->conn, buf, n);
        mg_write(q->conn, body, len);
    }
    if (!keep)
        force_close(q->conn);
}

static void send_json(struct rq *q, int status, const char *body, size_t len,
                      const char *const *extra)
{
    send_body(q, status, "application/json", body, len, extra);
}

/*
 * The compact text of doc, NUL-terminated: in sbuf when it fits, else in
 * *heap (one allocation of the exact size, which the caller frees). Sets
 * *len; returns the text or NULL on ENOMEM. json_dumps would grow a buffer
 * by doubling and copy it once more, and inside a request's arena its text
 * could not be given to free() (jarena.h).
 */
static const char *dump_doc(const json_t *doc, char *sbuf, size_t cap,
                            char **heap, size_t *len)
{
    size_t n = json_dumpb(doc, sbuf, cap, JSON_COMPACT);

    *heap = NULL;
    if (n == 0)
        return NULL;
    *len = n;
    if (n < cap) {
        sbuf[n] = '\0';
        return sbuf;
    }
    if (!(*heap = malloc(n + 1)) ||
        json_dumpb(doc, *heap, n, JSON_COMPACT) != n) {
        free(*heap);
        *heap = NULL;
        return NULL;
    }
    (*heap)[n] = '\0';
    return *heap;
}

/*
 * The error document of API.md. message is ours, or comes from a mapping
 * error that may quote the payload: if it is not valid UTF-8, fallback is
 * said instead.
 */
static void send_error_x(struct rq *q, int status, const char *code,
                         const char *message, const char *fallback,
                         const char *const *extra)
{
    json_t *doc = json_object(), *msg = json_string(message);
    char sbuf[TG_DOC_STACK], *heap = NULL;
    const char *text = NULL;
    size_t len = 0;

    if (!msg && fallback)
        msg = json_string(fallback);
    if (doc && msg &&
        json_object_set_new(doc, "error", json_string(code)) == 0 &&
        json_object_set(doc, "message", msg) == 0)
        text = dump_doc(doc, sbuf, sizeof(sbuf), &heap, &len);
    if (text) {
        send_json(q, status, text, len, extra);
    } else {
        static const char oom[] =
            "{\"error\":\"internal\",\"message\":\"The server is out of "
            "memory; retry later.\"}";
        send_json(q, 500, oom, sizeof(oom) - 1, NULL);
    }
    free(heap);
    json_decref(msg);
    json_decref(doc);
}

static void send_error(struct rq *q, int status, const char *code,
                       const char *message)
{
    send_error_x(q, status, code, message, NULL, NULL);
}

static void send_internal(struct rq *q)
{
    send_error(q, 500, "internal",
               "The server could not complete the request; retry later.");
}

static void send_unauthenticated(struct rq *q, int bearer)
{
    static const char *const www[] = {"WWW-Authenticate",
                                      "Bearer realm=\"ticketgate\"", NULL};
    /* One answer for every failure: which part was wrong stays unsaid. */
    send_error_x(q, 401, "unauthenticated",
                 "The request could not be authenticated; check the "
                 "credentials configured for this source.",
                 NULL, bearer ? www : NULL);
}

static void send_store_unavailable(struct rq *q)
{
    static const char *const retry[] = {"Retry-After", TG_RETRY_AFTER, NULL};
    send_error_x(q, 503, "store_unavailable",
                 "The evidence store could not record the decision, so no "
                 "decision is given; retry later.",
                 NULL, retry);
}

/* A store call failed with rc: out of memory is ours (500), anything else
 * the store's (503, retry later). */
static void send_store_failure(struct rq *q, int rc)
{
    if (rc == TG_ENOMEM)
        send_internal(q);
    else
        send_store_unavailable(q);
}

static void send_not_found(struct rq *q)
{
    send_error(q, 404, "not_found",
               "No such endpoint; see the API documentation for the paths "
               "ticketgate serves.");
}

/* ------------------------------------------------------- input checks */

/* The quote that ends the string whose text starts at p (after its opening
 * quote), or NULL. memchr finds each candidate quote; it is escaped when an
 * odd run of backslashes stands before it. Most of a body is string text,
 * and this is where the scan spends its time. */
static const char *string_end(const char *p, const char *end)
{
    const char *q = p;

    while ((q = memchr(q, '"', (size_t)(end - q))) != NULL) {
        const char *b = q;
        while (b > p && b[-1] == '\\')
            b--;
        if ((q - b) % 2 == 0)
            return q;
        q++;
    }
    return NULL;
}

int tg_http_too_deep(const char *p, size_t len, int max)
{
    const char *end = p + len;
    size_t opening = 0;
    int depth = 0;

    /* The depth never exceeds the number of opening brackets, those in
     * strings included. Counting them is a branch-free loop the compiler
     * vectorises, and most bodies are settled by it. */
    for (size_t i = 0; i < len; i++)
        opening += (p[i] == '[') | (p[i] == '{');
    if (opening <= (size_t)max)
        return 0;
    for (; p < end; p++) {
        switch (*p) {
        case '"':
            p = string_end(p + 1, end);
            if (!p)
                return 0; /* unterminated: the parser says so */
            break;
        case '[':
        case '{':
            if (++depth > max)
                return 1;
            break;
        case ']':
        case '}':
            if (depth > 0)
                depth--;
            break;
        default:
            break;
        }
    }
    return 0;
}

int tg_http_is_json_type(const char *v)
{
    static const char want[] = "application/json";

    if (!v)
        return 0;
    while (*v == ' ' || *v == '\t')
        v++;
    if (strncasecmp(v, want, sizeof(want) - 1) != 0)
        return 0;
    v += sizeof(want) - 1;
    while (*v == ' ' || *v == '\t')
        v++;
    return *v == '\0' || *v == ';';
}

/* Parses a decimal in [0, max] from the NUL-terminated s; 0 or TG_EINVAL. */
static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;

    if (!s || !*s)
        return TG_EINVAL;
    for (; *s; s++) {
        unsigned d;
        if (*s < '0' || *s > '9')
            return TG_EINVAL;
        d = (unsigned)(*s - '0');
        if (v > (max - d) / 10)
            return TG_EINVAL;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/*
 * The worker thread's body buffer (TG_BODY_KEEP + 1 bytes once allocated):
 * a malloc and free of a few kilobytes per request went through glibc's
 * slow path (consolidating its fast bins), 3% of the server's time for a
 * Jira webhook. Freed by thread_exit when CivetWeb ends the thread.
 */
static _Thread_local char *thread_body;

static void thread_exit(const struct mg_context *ctx, int type, void *user)
{
    (void)ctx;
    (void)type;
    (void)user;
    free(thread_body);
    thread_body = NULL;
}

/* A buffer of cap + 1 bytes for a body: the thread's when it fits
 * (*heap = 0), else a new one (*heap = 1). NULL on ENOMEM. */
static char *body_buffer(size_t cap, int *heap)
{
    *heap = cap + 1 > TG_BODY_KEEP + 1;
    if (*heap)
        return malloc(cap + 1);
    if (!thread_body)
        thread_body = malloc(TG_BODY_KEEP + 1);
    return thread_body;
}

/*
 * Reads the body with a running cap: at most max bytes are kept, and one
 * byte more means 413 whatever the framing (Content-Length was already
 * checked; a chunked body is only known by reading it).
 */
static int read_body_raw(struct rq *q, size_t max)
{
    long long cl = q->ri->content_length;
    size_t cap, len = 0;
    char *buf;
    int heap;

    cap = cl >= 0 ? (size_t)cl + 1
                  : (max < TG_BODY_CHUNK ? max + 1 : TG_BODY_CHUNK);
    buf = body_buffer(cap, &heap);
    if (!buf)
        return TG_ENOMEM;
    if (!heap)
        cap = TG_BODY_KEEP < max + 1 ? TG_BODY_KEEP : max + 1;
    for (;;) {
        int n;
        size_t want;
        if (len == cap) {
            size_t ncap = cap * 2;
            char *nb;
            if (cap > max) /* already holds max + 1 bytes */
                break;
            if (ncap > max + 1)
                ncap = max + 1;
            /* the thread's buffer is left as it is: copied out */
            nb = heap ? realloc(buf, ncap + 1) : malloc(ncap + 1);
            if (!nb) {
                if (heap)
                    free(buf);
                return TG_ENOMEM;
            }
            if (!heap)
                memcpy(nb, buf, len);
            heap = 1;
            buf = nb;
            cap = ncap;
        }
        want = cap - len;
        if (want > INT32_MAX)
            want = INT32_MAX;
        n = mg_read(q->conn, buf + len, want);
        if (q->deadline_ms && mono_ms() >= q->deadline_ms) {
            if (heap)
                free(buf);
            q->timed_out = 1;
            return TG_EIO;
        }
        if (n < 0) {
            if (heap)
                free(buf);
            return TG_EIO;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > max)
            break;
    }
    if (len > max || (cl >= 0 && len != (size_t)cl)) {
        if (heap)
            free(buf);
        /* CivetWeb reports a read timeout as the end of the body: a body
         * shorter than declared was cut off, and its signature would only
         * fail confusingly. */
        return len > max ? TG_ETOOBIG : TG_EIO;
    }
    buf[len] = '\0';
    q->body = buf;
    q->body_len = len;
    q->body_heap = heap;
    q->body_done = 1;
    return 0;
}

/* read_body_raw under the body's deadline (watchdog_run). */
static int read_body(struct rq *q, size_t max)
{
    int rc;

    q->deadline_ms = mono_ms() + q->h->body_timeout_ms;
    reader_arm(q->h, q->ri, q->deadline_ms);
    rc = read_body_raw(q, max);
    reader_disarm(q->h);
    return rc;
}

/*
 * The checks every POST gets before authentication, in the order of
 * API.md: the declared size (before reading a byte), the media type, then
 * the body read under the cap. Returns 0, or -1 when an answer was sent.
 */
static int post_prelude(struct rq *q)
{
    size_t max = q->cfg->server.max_body_bytes;
    long long cl = q->ri->content_length;
    char msg[160];
    int rc;

    if (cl > 0 && (unsigned long long)cl > max)
        goto too_large;
    if (!tg_http_is_json_type(mg_get_header(q->conn, "Content-Type"))) {
        send_error(q, 415, "unsupported_media_type",
                   "Send the body as JSON with Content-Type: "
                   "application/json.");
        return -1;
    }
    rc = read_body(q, max);
    if (rc == TG_ETOOBIG)
        goto too_large;
    if (rc == TG_ENOMEM) {
        send_internal(q);
        return -1;
    }
    if (rc != 0 && q->timed_out) {
        snprintf(msg, sizeof(msg),
                 "The request body did not arrive within %lld ms "
                 "(server.request_timeout_ms); send it at once.",
                 (long long)q->h->body_timeout_ms);
        q->note = "body_timeout";
        send_error(q, 408, "bad_request", msg);
        return -1;
    }
    if (rc != 0) {
        send_error(q, 400, "bad_request",
                   "The request body could not be read completely.");
        return -1;
    }
    /* The body is in: from here the request holds a worker slot. */
    work_begin(q);
    if (tg_digest_sha256_of(q->body, q->body_len, q->sha) != 0) {
        send_internal(q);
        return -1;
    }
    return 0;
too_large:
    snprintf(msg, sizeof(msg),
             "The body is larger than the %zu bytes this server accepts "
             "(server.max_body_bytes).",
             max);
    send_error(q, 413, "too_large", msg);
    return -1;
}

/* ------------------------------------------------------- JSON bodies */

/* Past authentication, the JSON values of a POST live and die in one
 * arena (jarena.h): one allocation instead of hundreds. handle() ends it
 * once the handler has returned, every value released, whatever path the
 * handler took. */
static void arena_begin(struct rq *q)
{
    if ((q->arena_buf = malloc(TG_ARENA_BYTES)))
        tg_jarena_begin(&q->arena, q->arena_buf, TG_ARENA_BYTES);
}

static void arena_end(struct rq *q)
{
    if (!q->arena_buf)
        return;
    tg_jarena_end(&q->arena);
    free(q->arena_buf);
    q->arena_buf = NULL;
}

/* Parses the raw body (already authenticated) into a JSON object, or
 * answers 400 and returns NULL. */
static json_t *parse_object(struct rq *q)
{
    json_error_t err;
    json_t *v;
    char msg[160];

    if (tg_http_too_deep(q->body, q->body_len, TG_JSON_MAX_DEPTH)) {
        snprintf(msg, sizeof(msg),
                 "The body nests arrays or objects deeper than %d levels; "
                 "send a ticket object.",
                 TG_JSON_MAX_DEPTH);
        send_error(q, 400, "bad_json", msg);
        return NULL;
    }
    /* A repeated key would let two readers of the same evidence see two
     * different tickets. */
    v = json_loadb(q->body, q->body_len, JSON_REJECT_DUPLICATES, &err);
    if (!v) {
        if (json_error_code(&err) == json_error_duplicate_key)
            snprintf(msg, sizeof(msg),
                     "The body repeats a key within one object (line %d); "
                     "send each key once.",
                     err.line);
        else if (json_error_code(&err) == json_error_invalid_utf8)
            snprintf(msg, sizeof(msg),
                     "The body is not valid UTF-8; send JSON text in "
                     "UTF-8.");
        else
            snprintf(msg, sizeof(msg),
                     "The body is not valid JSON (line %d, column %d); "
                     "send one JSON object.",
                     err.line, err.column);
        send_error(q, 400, "bad_json", msg);
        return NULL;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        send_error(q, 400, "bad_json",
                   "The body is valid JSON but not an object; send one "
                   "ticket as a JSON object.");
        return NULL;
    }
    return v;
}

static const char *header_cb(void *ctx, const char *name)
{
    return mg_get_header(ctx, name);
}

static void fill_req(struct rq *q, struct tg_http_req *r)
{
    memset(r, 0, sizeof(*r));
    r->method = q->ri->request_method;
    r->path = q->path;
    r->query = q->ri->query_string;
    r->body = q->body;
    r->body_len = q->body_len;
    r->header = header_cb;
    r->ctx = q->conn;
    r->now = q->now;
}

/*
 * The last Bearer token a worker thread verified. tg_jwtauth_verify is a
 * function of the configuration, the token and the second `now` alone, and
 * a client sends one token with many requests: within the same second and
 * configuration, the same token verifies the same way, so its result is
 * reused. That saves the signature check and three JSON parses, 10% of the
 * server's time for /v1/check. Only successes are kept; the token itself is
 * not (its digest is), nor anything on the heap (thread-local storage is not
 * freed when CivetWeb ends its threads). The memo hands back the token's jti
 * like a verification would (a token whose jti it cannot hold is not
 * memoised), so a reused token still meets the single-use check of the
 * store (answer_known_jti).
 */
struct bearer_memo {
    uint64_t gen;               /* 0: empty */
    int64_t now;
    unsigned char digest[32];   /* SHA-256 of the token */
    int has_jti;
    char jti[TG_MEMO_JTI + 1];
};

static _Thread_local struct bearer_memo bearer_memo;

/* The Bearer JWT of sources.generic (/v1/check and the decision reads).
 * Returns 0 with *jti (may be NULL), or -1 when an answer was sent. */
static int auth_generic(struct rq *q, char **jti)
{
    const struct tg_generic_conf *g = &q->cfg->generic;
    struct bearer_memo *m = &bearer_memo;
    unsigned char digest[32];
    const char *tok;
    size_t len;
    int memo, rc;

    *jti = NULL;
    if (!g->set || !g->jwt.set ||
        tg_jwtauth_bearer(mg_get_header(q->conn, "Authorization"), &tok,
                          &len) != 0) {
        send_unauthenticated(q, 1);
        return -1;
    }
    memo = tg_digest_sha256_of(tok, len, digest) == 0;
    if (memo && m->gen == q->gen && m->now == q->now &&
        CRYPTO_memcmp(m->digest, digest, sizeof(digest)) == 0) {
        if (m->has_jti && !(*jti = strdup(m->jti))) {
            send_internal(q);
            return -1;
        }
        return 0;
    }
    rc = tg_jwtauth_verify(&g->jwt, tok, len, q->now, jti);
    if (rc == TG_ENOMEM) {
        send_internal(q);
        return -1;
    }
    if (rc != 0) {
        send_unauthenticated(q, 1);
        return -1;
    }
    m->gen = 0;
    if (memo && (!*jti || strlen(*jti) <= TG_MEMO_JTI)) {
        m->has_jti = *jti != NULL;
        if (*jti)
            memcpy(m->jti, *jti, strlen(*jti) + 1);
        memcpy(m->digest, digest, sizeof(digest));
        m->now = q->now;
        m->gen = q->gen;
    }
    return 0;
}

/* --------------------------------------------------------- decisions */

static void send_recorded(struct rq *q, char *json)
{
    json_t *doc;
    json_error_t err;

    /* For the access log only; the bytes go out exactly as recorded. */
    doc = json_loads(json, 0, &err);
    if (doc) {
        const char *id = json_string_value(json_object_get(doc, "decision_id"));
        const char *tk = json_string_value(json_object_get(doc, "ticket"));
        if (id)
            snprintf(q->decision_id, sizeof(q->decision_id), "%s", id);
        if (tk)
            snprintf(q->ticket, sizeof(q->ticket), "%s", tk);
        json_decref(doc);
    }
    q->note = "retry";
    tg_metrics_retry(q->h->metrics);
    send_json(q, 200, json, strlen(json), NULL);
}

static void send_jti_replay(struct rq *q)
{
    send_error(q, 409, "replay",
               "This token (its jti) was already used with a different "
               "body; sign a new token for each request.");
}

/*
 * A JWT jti seen before (API.md: single-use whatever delivery id the body or
 * an unsigned header names): the same body gets the decision recorded under
 * it, another body is a replay. Checked before the delivery id, which the
 * token does not sign. Returns 1 when answered, 0 to go on (jti unused, or
 * used with this same body by a skip, which recorded nothing: the request
 * is decided again, and skips again unless a reload gated it since).
 */
static int answer_known_jti(struct rq *q, const char *source, const char *jti)
{
    char *json = NULL;
    int rc;

    if (!jti)
        return 0;
    rc = tg_evidence_find_jti(q->h->ev, source, jti, q->sha, &json);
    if (rc == TG_ENOTFOUND || (rc == 0 && !json))
        return 0;
    if (rc == 0)
        send_recorded(q, json);
    else if (rc == TG_ECONFLICT)
        send_jti_replay(q);
    else
        send_store_failure(q, rc);
    free(json);
    return 1;
}

/*
 * A delivery id seen before: the same body gets the recorded decision (ITSMs
 * retry), another body is a replay (API.md). A retry may come with a new
 * token (jti not NULL): that jti is used up by it too, so that it cannot
 * carry another body later. Returns 1 when answered, 0 to go on and decide.
 */
static int answer_known_delivery(struct rq *q, const char *source,
                                 const char *delivery, const char *jti)
{
    char *json = NULL;
    int rc;

    if (!delivery)
        return 0;
    snprintf(q->delivery, sizeof(q->delivery), "%s", delivery);
    rc = tg_evidence_find_delivery(q->h->ev, source, delivery, q->sha, &json);
    if (rc == TG_ENOTFOUND)
        return 0;
    if (rc == 0 && jti && strcmp(jti, delivery) != 0)
        rc = tg_evidence_bind_jti(q->h->ev, source, jti, q->sha, q->now);
    if (rc == 0) {
        send_recorded(q, json);
    } else if (rc == TG_ECONFLICT && json) {
        send_jti_replay(q);
    } else if (rc == TG_ECONFLICT) {
        send_error(q, 409, "replay",
                   "This delivery id was already used with a different "
                   "body; send a new id for a new request.");
    } else {
        send_store_unavailable(q);
    }
    free(json);
    return 1;
}

/* The copy-forward count of REASONS.md, or -1 when the code is off or the
 * ticket has no justification. Returns 0 or TG_EIO / TG_ENOMEM. */
static int copy_forward(struct rq *q, const struct tg_ticket *t, char **norm,
                        long *uses)
{
    const struct tg_policy *p = &q->cfg->policy;
    int64_t since;
    int rc;

    *uses = -1;
    *norm = NULL;
    if (!t->justification || !t->justification[0])
        return 0;
    rc = tg_justnorm_make(t->justification, strlen(t->justification), norm);
    if (rc != 0)
        return rc;
    /* The normalised text is recorded even when the check is off, so that
     * turning it on later finds the history. */
    if (!(*norm)[0] ||
        p->action[TG_JUSTIFICATION_COPY_FORWARD] == TG_ACTION_OFF)
        return 0;
    since = q->now - (int64_t)p->copy_window_days * 86400;
    return tg_evidence_copy_forward_count(q->h->ev, *norm, t->id, since, uses);
}

/*
 * Evaluates the canonical ticket, records the decision (unless skip) and
 * answers. endpoint names the source whose delivery ids and jtis these are;
 * doc_source overrides the ticket's source in the document (NULL: the
 * ticket's own, else "generic"). gated 0 answers skip. jti (may be NULL) is
 * used up with the record, or on its own by a skip.
 */
static void decide(struct rq *q, const char *endpoint, const char *doc_source,
                   const char *delivery, const char *jti,
                   const json_t *canonical, int gated)
{
    struct tg_ticket t;
    struct tg_result res;
    struct tg_context ctx;
    struct tg_evidence_record rec;
    unsigned char rnd[3];
    char err[512], *norm = NULL, *heap = NULL, sbuf[TG_DOC_STACK];
    const char *text = NULL;
    size_t text_len = 0;
    json_t *doc = NULL;
    double t0;
    int rc;

    tg_ticket_init(&t);
    tg_result_init(&res);
    if (canonical) {
        rc = tg_canonical_from_json(canonical, &t, err, sizeof(err));
        if (rc == TG_ENOMEM) {
            send_internal(q);
            goto out;
        }
        /* An event that is not gated is answered skip even when it does
         * not make a ticket. */
        if (rc != 0 && gated) {
            err[sizeof(err) - 1] = '\0';
            send_error_x(q, 422, "unmappable", err,
                         "The payload cannot be mapped to a ticket.", NULL);
            goto out;
        }
        if (rc != 0)
            tg_ticket_init(&t);
    }
    if (t.id)
        snprintf(q->ticket, sizeof(q->ticket), "%s", t.id);
    if (delivery)
        snprintf(q->delivery, sizeof(q->delivery), "%s", delivery);
    if (gated && !canonical) {
        send_error(q, 422, "unmappable",
                   "The payload cannot be mapped to a ticket.");
        goto out;
    }
    /* A delivery that is not gated may not name a ticket (a comment
     * event): the skip answer then names none. */
    if (!t.id && !(t.id = strdup(""))) {
        send_internal(q);
        goto out;
    }
    if (!doc_source)
        doc_source = t.source ? t.source : "generic";

    if (!gated) {
        res.verdict = TG_SKIP;
    } else {
        rc = copy_forward(q, &t, &norm, &ctx.copy_forward_uses);
        if (rc != 0) {
            send_store_failure(q, rc);
            goto out;
        }
        ctx.now = q->now;
        rc = tg_evaluate(&t, &q->cfg->policy, &q->cfg->directory, &ctx, &res);
        if (rc != 0) {
            send_internal(q);
            goto out;
        }
    }

    if (id_random(rnd) != 0) {
        send_internal(q);
        goto out;
    }
    tg_decision_id_format(q->decision_id, sizeof(q->decision_id),
                          tg_evidence_next_seq(q->h->ev), rnd);
    doc = tg_decision_build(&t, doc_source, &res, q->decision_id, q->now,
                            q->cfg->digest);
    if (doc)
        text = dump_doc(doc, sbuf, sizeof(sbuf), &heap, &text_len);
    if (!text) {
        send_internal(q);
        goto out;
    }
    q->verdict = tg_verdict_name(res.verdict);

    /* A skip records nothing, but its token is used up all the same: else
     * a token seen on an event outside the gates could carry a gated
     * ticket later. */
    if (res.verdict == TG_SKIP && jti) {
        /* Waiting for the store is no work: the slot goes to another
         * request meanwhile (see the append below). */
        work_end(q);
        rc = tg_evidence_bind_jti(q->h->ev, endpoint, jti, q->sha, q->now);
        if (rc == TG_ECONFLICT) {
            q->verdict = NULL;
            work_begin(q); /* the store reads below are work again */
            if (!answer_known_jti(q, endpoint, jti))
                send_jti_replay(q);
            goto out;
        }
        if (rc != 0) {
            q->verdict = NULL;
            send_store_failure(q, rc);
            goto out;
        }
    }
    if (res.verdict != TG_SKIP) {
        memset(&rec, 0, sizeof(rec));
        rec.decision_id = q->decision_id;
        rec.ticket = t.id ? t.id : "";
        rec.source = endpoint;
        rec.delivery_id = delivery;
        memcpy(rec.body_sha256, q->sha, sizeof(rec.body_sha256));
        rec.policy_digest = q->cfg->digest;
        rec.time = q->now;
        rec.decision_json = text;
        rec.decision_len = text_len;
        rec.justification_norm = norm;
        rec.jti = jti;
        t0 = mono_s();
        /* The request sleeps until the writer thread committed its batch:
         * it gives its server.threads slot back first, so that another
         * request evaluates meanwhile (holding it through the wait made
         * every request sleep a second time, for a slot, under load). What
         * is left after the append (metrics, the answer) needs no slot:
         * send_body gives it back anyway. */
        work_end(q);
        rc = tg_evidence_append(q->h->ev, &rec);
        /* A lost race is no store failure. */
        tg_metrics_evidence_write(q->h->metrics, mono_s() - t0,
                                  rc == 0 || rc == TG_ECONFLICT);
        if (rc == TG_ECONFLICT && (delivery || jti)) {
            /* Another worker recorded this delivery or used this jti
             * between our lookup and our append: its record is the answer,
             * or a replay. */
            q->verdict = NULL;
            work_begin(q); /* the store reads below are work again */
            if (!answer_known_jti(q, endpoint, jti) &&
                !answer_known_delivery(q, endpoint, delivery, NULL))
                send_store_unavailable(q);
            goto out;
        }
        if (rc != 0) {
            const char *why = tg_evidence_failure(q->h->ev);

            /* The ticket, not the decision id: that decision exists
             * nowhere. The cause in words (the store logged it with its
             * path when it first failed). */
            tg_log_event(TG_LOG_ERROR, "evidence_error",
                         "evidence append failed for ticket %s: %s",
                         t.id ? t.id : "",
                         why ? why
                             : rc == TG_EBUSY ? "the store stayed locked"
                                              : "the store failed the write");
            send_store_unavailable(q);
            goto out;
        }
    }
    tg_metrics_decision(q->h->metrics, endpoint, res.verdict);
    for (size_t i = 0; i < res.findings.n; i++) {
        tg_metrics_finding(q->h->metrics, res.findings.v[i].code);
        if (q->n_codes < TG_CODE_COUNT)
            q->codes[q->n_codes++] = tg_code_info(res.findings.v[i].code)->name;
    }
    send_json(q, 200, text, text_len, NULL);
out:
    free(heap);
    free(norm);
    json_decref(doc);
    tg_result_cleanup(&res);
    tg_ticket_cleanup(&t);
}

/* ---------------------------------------------------------- endpoints */

static void on_check(struct rq *q)
{
    char *jti = NULL;
    json_t *body = NULL;

    if (post_prelude(q) != 0 || auth_generic(q, &jti) != 0)
        goto out;
    arena_begin(q);
    body = parse_object(q);
    if (!body)
        goto out;
    /* The token's jti is also the delivery id here. */
    if (answer_known_jti(q, "generic", jti))
        goto out;
    decide(q, "generic", NULL, jti, jti, body, 1);
out:
    json_decref(body);
    free(jti);
}

static void map_failed(struct rq *q, int rc, const char *err)
{
    char msg[700];

    if (rc == TG_ENOMEM) {
        send_internal(q);
        return;
    }
    /* The adapters name the missing path ("issue.key"); a sentence is
     * passed on as it is. */
    if (!err[0])
        snprintf(msg, sizeof(msg), "The payload cannot be mapped to a ticket.");
    else if (strchr(err, ' '))
        snprintf(msg, sizeof(msg), "%s", err);
    else
        snprintf(msg, sizeof(msg),
                 "The payload cannot be mapped to a ticket: %s is missing "
                 "or has the wrong type.",
                 err);
    send_error_x(q, 422, "unmappable", msg,
                 "The payload cannot be mapped to a ticket.", NULL);
}

/* A webhook endpoint of ADAPTERS.md: its source (the endpoint's name and
 * the namespace of its delivery ids), how it authenticates and maps, and
 * whether its 401 names the Bearer scheme. map sets *event_id to a
 * delivery id found in the body, or leaves it NULL. */
struct webhook {
    const char *source;
    int (*authenticate)(const struct tg_config *c,
                        const struct tg_http_req *r, char **delivery_id,
                        char **jti);
    int (*map)(const struct tg_config *c, const json_t *body,
               json_t **canonical, int *gated, char **event_id, char *err,
               size_t cap);
    int bearer;
};

/* Jira bodies carry no delivery id (it is a header or the JWT's jti). */
static int jira_map(const struct tg_config *c, const json_t *body,
                    json_t **canonical, int *gated, char **event_id,
                    char *err, size_t cap)
{
    *event_id = NULL;
    return tg_jira_map(c, body, canonical, gated, err, cap);
}

static const struct webhook jira_hook = {"jira", tg_jira_authenticate_ids,
                                         jira_map, 0};
static const struct webhook servicenow_hook = {
    "servicenow", tg_servicenow_authenticate_ids, tg_servicenow_map, 1};

static void on_webhook(struct rq *q, const struct webhook *w)
{
    struct tg_http_req r;
    char *delivery = NULL, *jti = NULL, *event_id = NULL, err[512];
    const char *id;
    json_t *body = NULL, *canon = NULL;
    int gated = 0, rc;

    if (post_prelude(q) != 0)
        goto out;
    fill_req(q, &r);
    rc = w->authenticate(q->cfg, &r, &delivery, &jti);
    if (rc == TG_ENOMEM) {
        send_internal(q);
        goto out;
    }
    if (rc != 0) {
        send_unauthenticated(q, w->bearer);
        goto out;
    }
    arena_begin(q);
    body = parse_object(q);
    if (!body)
        goto out;
    err[0] = '\0';
    rc = w->map(q->cfg, body, &canon, &gated, &event_id, err, sizeof(err));
    err[sizeof(err) - 1] = '\0';
    if (rc != 0) {
        map_failed(q, rc, err);
        goto out;
    }
    /* ADAPTERS.md: ServiceNow's event_id before the JWT jti or webhook-id;
     * Jira's header or jti. Neither the body's id nor a header is signed
     * by a Bearer or Connect token, so the jti is checked first, whatever
     * id they name (API.md). */
    id = event_id ? event_id : delivery ? delivery : jti;
    if (answer_known_jti(q, w->source, jti) ||
        answer_known_delivery(q, w->source, id, jti))
        goto out;
    decide(q, w->source, w->source, id, jti, canon, gated);
out:
    json_decref(canon);
    json_decref(body);
    free(event_id);
    free(jti);
    free(delivery);
}

static void on_jira(struct rq *q)
{
    on_webhook(q, &jira_hook);
}

static void on_servicenow(struct rq *q)
{
    on_webhook(q, &servicenow_hook);
}

/* mg_get_var (the decoded length, -1 absent, -2 too long), or -3 when the
 * decoded value holds a NUL byte (%00), which C strings would cut short:
 * "A%00B" must not read as "A". */
static int query_var(const char *qs, size_t qlen, const char *name, char *dst,
                     size_t cap)
{
    int rc = mg_get_var(qs, qlen, name, dst, cap);

    if (rc > 0 && strlen(dst) != (size_t)rc)
        return -3;
    return rc;
}

/* GET /v1/decisions?ticket=KEY[&limit=N][&before=CURSOR] */
static void on_list(struct rq *q)
{
    const char *qs = q->ri->query_string;
    char ticket[512], num[32], *jti = NULL, *text = NULL;
    uint64_t limit = TG_DECISIONS_DEFAULT_LIMIT, before = 0;
    json_t *out = NULL;
    size_t qlen = qs ? strlen(qs) : 0;
    int rc;

    work_begin(q);
    if (auth_generic(q, &jti) != 0)
        goto out;
    rc = qs ? query_var(qs, qlen, "ticket", ticket, sizeof(ticket)) : -1;
    if (rc == -3) {
        send_error(q, 400, "bad_request",
                   "The ticket id holds a NUL byte (%00); no ticket id "
                   "does.");
        goto out;
    }
    if (rc <= 0) {
        send_error(q, 400, "bad_request",
                   "Name the ticket: GET /v1/decisions?ticket=KEY.");
        goto out;
    }
    rc = query_var(qs, qlen, "limit", num, sizeof(num));
    if (rc != -1 &&
        (rc < 0 || parse_u64(num, TG_DECISIONS_MAX_LIMIT, &limit) != 0 ||
         limit == 0)) {
        char msg[96];
        snprintf(msg, sizeof(msg),
                 "limit must be a whole number from 1 to %d.",
                 TG_DECISIONS_MAX_LIMIT);
        send_error(q, 400, "bad_request", msg);
        goto out;
    }
    rc = query_var(qs, qlen, "before", num, sizeof(num));
    if (rc != -1 && (rc < 0 || parse_u64(num, UINT64_MAX, &before) != 0)) {
        send_error(q, 400, "bad_request",
                   "before must be the cursor a previous page returned as "
                   "next.");
        goto out;
    }
    rc = tg_evidence_list(q->h->ev, ticket, (int)limit, before, &out);
    if (rc != 0) {
        send_store_failure(q, rc);
        goto out;
    }
    text = json_dumps(out, JSON_COMPACT);
    if (!text) {
        send_internal(q);
        goto out;
    }
    send_json(q, 200, text, strlen(text), NULL);
out:
    free(text);
    json_decref(out);
    free(jti);
}

/* Decision ids are "d-<digits>-<hex>"; anything else cannot be one. */
static int plausible_id(const char *s)
{
    size_t n = strlen(s), i;

    if (n == 0 || n > 64)
        return 0;
    for (i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return 0;
    }
    return 1;
}

/* GET /v1/decisions/{decision_id} */
static void on_get(struct rq *q, const char *id)
{
    char *jti = NULL, *json = NULL;
    int rc;

    work_begin(q);
    if (auth_generic(q, &jti) != 0)
        goto out;
    rc = plausible_id(id) ? tg_evidence_get(q->h->ev, id, &json) : TG_ENOTFOUND;
    if (rc == TG_ENOTFOUND) {
        send_error(q, 404, "not_found", "No decision has this id.");
        goto out;
    }
    if (rc != 0) {
        send_store_failure(q, rc);
        goto out;
    }
    send_json(q, 200, json, strlen(json), NULL);
out:
    free(json);
    free(jti);
}

static void on_healthz(struct rq *q)
{
    static const char ok[] = "{\"status\":\"ok\"}";
    send_json(q, 200, ok, sizeof(ok) - 1, NULL);
}

static void on_readyz(struct rq *q)
{
    static const char ok[] = "{\"status\":\"ready\"}";

    if (q->cfg && tg_evidence_ready(q->h->ev)) {
        send_json(q, 200, ok, sizeof(ok) - 1, NULL);
        return;
    }
    send_error(q, 503, "store_unavailable",
               "The evidence store does not take writes; see the server "
               "log.");
}

/* Prometheus text exposition format 0.0.4 (server/metrics.c). */
static void on_metrics(struct rq *q)
{
    char *text = NULL;
    size_t len = 0;

    tg_metrics_set_ready(q->h->metrics, tg_evidence_ready(q->h->ev));
    if (tg_metrics_render(q->h->metrics, &text, &len) != 0) {
        send_internal(q);
        return;
    }
    send_body(q, 200, "text/plain; version=0.0.4", text, len, NULL);
    free(text);
}

/* POST /v1/admin/reload: what SIGHUP does, for orchestrators that cannot
 * send signals. Only on the admin listener. */
static void on_reload(struct rq *q)
{
    char why[512], *text = NULL;
    struct tg_cfgref *now;
    uint64_t gen;
    json_t *doc;

    if (tg_http_reload_file(q->h, q->cfg->path, why, sizeof(why)) != 0) {
        send_error_x(q, 422, "invalid_config", why,
                     "The configuration does not load; the previous one "
                     "stays in force.",
                     NULL);
        return;
    }
    now = current(q->h, &gen);
    doc = json_pack("{s:s,s:s}", "status", "reloaded", "policy",
                    tg_cfgref_config(now)->digest);
    tg_cfgref_put(now);
    text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    if (text)
        send_json(q, 200, text, strlen(text), NULL);
    else
        send_internal(q);
    free(text);
    json_decref(doc);
}

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
    {"/v1/check", NULL, 0, "POST", API_ONLY, on_check, NULL},
    {"/v1/webhooks/jira", NULL, 0, "POST", API_ONLY, on_jira, NULL},
    {"/v1/webhooks/servicenow", NULL, 0, "POST", API_ONLY, on_servicenow, NULL},
    {"/v1/decisions", NULL, 0, "GET", API_ONLY, on_list, NULL},
    {"/v1/decisions/", "/v1/decisions/{id}", 1, "GET", API_ONLY, NULL, on_get},
    {"/healthz", NULL, 0, "GET", ANY, on_healthz, NULL},
    {"/readyz", NULL, 0, "GET", ANY, on_readyz, NULL},
    {"/metrics", NULL, 0, "GET", ADMIN_ONLY, on_metrics, NULL},
    {"/v1/admin/reload", NULL, 0, "POST", ADMIN_REQUIRED, on_reload, NULL},
};

static const struct route *find_route(const struct tg_http *h,
                                      const struct rq *q, const char **arg)
{
    /* The admin listener is its own server (tg_http_start). */
    int admin = h->admin_ctx && mg_get_context(q->conn) == h->admin_ctx;
    size_t i;

    for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
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

static struct tg_cfgref *current(struct tg_http *h, uint64_t *gen)
{
    struct tg_cfgref *r;
    pthread_mutex_lock(&h->lock);
    r = tg_cfgref_get(h->cur);
    *gen = h->gen;
    pthread_mutex_unlock(&h->lock);
    return r;
}

static int64_t now_utc(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec;
}

/* v (a header value, trailing blanks allowed) is 1*DIGIT; *len gets the
 * digits' length without leading zeros, *start where they begin. */
static int plain_digits(const char *v, const char **start, size_t *len)
{
    size_t n = strlen(v), i;

    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    if (n == 0)
        return 0;
    for (i = 0; i < n; i++)
        if (v[i] < '0' || v[i] > '9')
            return 0;
    while (n > 1 && *v == '0') {
        v++;
        n--;
    }
    *start = v;
    *len = n;
    return 1;
}

/*
 * The reason a request's length could be read two ways, or NULL (RFC 9112
 * section 6.3): then a proxy in front and this server could disagree on
 * where the next request starts (request smuggling). CivetWeb 1.15 reads
 * the first Content-Length with strtoll ("5abc" and "+5" are 5) and lets
 * chunked win over a Content-Length, so the header lines are checked here,
 * every one of them (a repeated header is a line of its own in
 * http_headers).
 */
static const char *framing_problem(const struct mg_request_info *ri)
{
    const char *cl = NULL, *te = NULL;
    size_t cl_len = 0;
    int n_te = 0, i;

    for (i = 0; i < ri->num_headers && i < MG_MAX_HEADERS; i++) {
        const char *name = ri->http_headers[i].name;
        const char *v = ri->http_headers[i].value;
        const char *d;
        size_t dl;

        if (!name || !v)
            continue;
        if (strcasecmp(name, "Content-Length") == 0) {
            if (!plain_digits(v, &d, &dl))
                return "Content-Length must be digits only";
            if (cl && (dl != cl_len || memcmp(cl, d, dl) != 0))
                return "the request has two different Content-Lengths";
            cl = d;
            cl_len = dl;
        } else if (strcasecmp(name, "Transfer-Encoding") == 0) {
            te = v;
            n_te++;
        }
    }
    if (te && (n_te > 1 || strcasecmp(te, "chunked") != 0))
        return "Transfer-Encoding may only be chunked, once";
    if (te && cl)
        return "the request has both Content-Length and Transfer-Encoding";
    return NULL;
}

static int handle(struct mg_connection *conn, void *cbdata)
{
    struct tg_http *h = cbdata;
    struct rq q;
    const struct route *r;
    const char *arg = NULL, *bad_framing;
    double t0, elapsed;

    memset(&q, 0, sizeof(q));
    q.conn = conn;
    q.ri = mg_get_request_info(conn);
    q.h = h;
    q.now = now_utc();
    q.ref = current(h, &q.gen);
    q.cfg = tg_cfgref_config(q.ref);
    /* Routing on the decoded path as sent, not a cleaned-up one: a path
     * that needs cleaning is no path of ours. */
    q.path = q.ri->local_uri_raw ? q.ri->local_uri_raw : "";
    q.has_body = q.ri->content_length > 0 ||
                 mg_get_header(conn, "Transfer-Encoding") != NULL;
    t0 = mono_s();

    r = find_route(h, &q, &arg);
    bad_framing = framing_problem(q.ri);
    if (bad_framing) {
        char msg[200];
        snprintf(msg, sizeof(msg),
                 "The request's length is ambiguous (%s); send one "
                 "Content-Length of digits, or Transfer-Encoding: chunked "
                 "alone.",
                 bad_framing);
        q.close = 1;
        q.note = "framing";
        send_error(&q, 400, "bad_request", msg);
    } else if (!r) {
        send_not_found(&q);
    } else if (strcmp(q.ri->request_method, r->method) != 0) {
        const char *const allow[] = {"Allow", r->method, NULL};
        char msg[96];
        snprintf(msg, sizeof(msg), "This endpoint only takes %s.", r->method);
        send_error_x(&q, 405, "method_not_allowed", msg, NULL, allow);
    } else if (r->fn) {
        r->fn(&q);
    } else {
        r->fn_arg(&q, arg);
    }
    arena_end(&q);
    elapsed = mono_s() - t0;
    tg_metrics_http_request(h->metrics,
                            !r         ? "other"
                            : r->label ? r->label
                                       : r->path,
                            q.status, elapsed);

    /* Probes are not logged: they would drown the requests. */
    if (strcmp(q.path, "/healthz") != 0 && strcmp(q.path, "/readyz") != 0 &&
        strcmp(q.path, "/metrics") != 0) {
        struct tg_log_request lr = {
            .remote = q.ri->remote_addr,
            .method = q.ri->request_method,
            .path = q.path,
            .status = q.status,
            .ticket = q.ticket[0] ? q.ticket : NULL,
            .decision = q.verdict,
            .codes = q.codes,
            .n_codes = q.n_codes,
            .decision_id = q.decision_id[0] ? q.decision_id : NULL,
            .delivery_id = q.delivery[0] ? q.delivery : NULL,
            .note = q.note,
            .duration_ms = elapsed * 1000.0,
        };
        tg_log_request(q.status >= 500 ? TG_LOG_WARN : TG_LOG_INFO, &lr);
    }

    work_end(&q);
    if (q.body_heap)
        free(q.body);
    tg_cfgref_put(q.ref);
    return q.status ? q.status : 500;
}

/*
 * CivetWeb's own answers: a request it could not parse (bad method or
 * request line, headers over its buffer, a negative Content-Length, a
 * header phase past request_timeout_ms) never reaches handle(). It is
 * answered here in the contract's JSON error form and logged like any
 * request; CivetWeb closes the connection after it. Returns 0 (answered),
 * or 1 inside force_close(), where nothing more may be written.
 */
static int on_http_error(struct mg_connection *conn, int status,
                         const char *msg)
{
    const struct mg_request_info *ri = mg_get_request_info(conn);
    struct rq q;
    char text[256], note[128];
    int code = status;

    if (closing)
        return 1;
    memset(&q, 0, sizeof(q));
    q.conn = conn;
    q.ri = ri;
    q.close = 1;
    /* 411 is CivetWeb's answer to a Content-Length it cannot read. */
    if (code == 411 || code < 400 || code > 599)
        code = 400;
    if (code == 413)
        snprintf(text, sizeof(text),
                 "The request line and headers are larger than this server "
                 "accepts; send shorter headers.");
    else if (code == 500)
        snprintf(text, sizeof(text),
                 "The server could not read the request (%s); retry later.",
                 tg_log_clean(msg, strlen(msg), note, sizeof(note)));
    else
        snprintf(text, sizeof(text),
                 "The request could not be parsed as HTTP/1.1 (%s); check "
                 "the method, request line and headers.",
                 tg_log_clean(msg, strlen(msg), note, sizeof(note)));
    send_error(&q, code, code == 413   ? "too_large"
                         : code == 500 ? "internal"
                                       : "bad_request",
               text);
    {
        struct tg_log_request lr = {
            .remote = ri ? ri->remote_addr : NULL,
            .method = ri ? ri->request_method : NULL,
            .path = ri && ri->local_uri_raw ? ri->local_uri_raw : NULL,
            .status = code,
            .note = tg_log_clean(msg, strlen(msg), note, sizeof(note)),
        };
        tg_log_request(TG_LOG_WARN, &lr);
    }
    return 0;
}

static int on_log_message(const struct mg_connection *conn, const char *message)
{
    char clean[512];
    (void)conn;
    tg_log_event(TG_LOG_WARN, "civetweb", "%s",
                 tg_log_clean(message, strlen(message), clean, sizeof(clean)));
    return 1;
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

/* Stops the watchdog and frees what deadlines_start made; safe on a
 * partial start. Called once no worker runs. */
static void deadlines_stop(struct tg_http *h)
{
    size_t i;

    if (h->watchdog_on) {
        pthread_mutex_lock(&h->wd_lock);
        h->wd_stop = 1;
        pthread_cond_signal(&h->wd_cond);
        pthread_mutex_unlock(&h->wd_lock);
        pthread_join(h->watchdog, NULL);
        pthread_cond_destroy(&h->wd_cond);
        pthread_mutex_destroy(&h->wd_lock);
        h->watchdog_on = 0;
    }
    for (i = 0; h->readers && i < h->n_readers; i++)
        pthread_mutex_destroy(&h->readers[i].lock);
    free(h->readers);
    h->readers = NULL;
    if (h->work_init)
        sem_destroy(&h->work);
    h->work_init = 0;
}

/* The worker slots, one reader per CivetWeb thread of both servers and the
 * watchdog thread. 0 or TG_ENOMEM. */
static int deadlines_start(struct tg_http *h, const struct tg_config *c)
{
    size_t i;

    h->body_timeout_ms = c->server.request_timeout_ms > 0
                             ? c->server.request_timeout_ms
                             : 10000;
    h->keep_alive = c->server.keep_alive_timeout_ms > 0;
    if (sem_init(&h->work, 0,
                 (unsigned)(c->server.threads > 0 ? c->server.threads
                                                  : 16)) != 0)
        return TG_ENOMEM;
    h->work_init = 1;
    h->n_readers = (size_t)(c->server.connections > 0 ? c->server.connections
                                                      : 256) +
                   TG_ADMIN_THREADS;
    h->readers = calloc(h->n_readers, sizeof(*h->readers));
    if (!h->readers)
        goto fail;
    for (i = 0; i < h->n_readers; i++) {
        if (pthread_mutex_init(&h->readers[i].lock, NULL) != 0) {
            h->n_readers = i;
            goto fail;
        }
    }
    if (pthread_mutex_init(&h->wd_lock, NULL) != 0)
        goto fail;
    if (pthread_cond_init(&h->wd_cond, NULL) != 0) {
        pthread_mutex_destroy(&h->wd_lock);
        goto fail;
    }
    if (pthread_create(&h->watchdog, NULL, watchdog_run, h) != 0) {
        pthread_cond_destroy(&h->wd_cond);
        pthread_mutex_destroy(&h->wd_lock);
        goto fail;
    }
    h->watchdog_on = 1;
    return 0;
fail:
    deadlines_stop(h);
    return TG_ENOMEM;
}

int tg_http_start(struct tg_cfgref *cfg, struct tg_evidence *ev,
                  struct tg_http **out)
{
    const struct tg_config *c = tg_cfgref_config(cfg);
    struct mg_callbacks cb;
    struct mg_server_port sp[TG_MAX_LISTENERS];
    struct tg_http *h;
    const char *opts[32];
    char ports[1024] = "", admin_ports[1024] = "", threads[16], timeout[16];
    char keepalive[16];
    size_t no = 0;
    int n_main, n_admin = 0, n_sp, i, rc = TG_ENOMEM;
    int tls = c->server.tls_certificate != NULL;

    h = calloc(1, sizeof(*h));
    if (!h)
        return TG_ENOMEM;
    if (tg_metrics_new(&h->metrics) != 0)
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
    if (deadlines_start(h, c) != 0)
        goto fail_lib;
    rc = TG_EINVAL;

    if (!c->server.listen) {
        tg_log_event(TG_LOG_ERROR, "startup_error", "server.listen is not set");
        goto fail_lib;
    }
    if (!tls && any_tls_port(c->server.listen)) {
        tg_log_event(TG_LOG_ERROR, "startup_error",
                     "server.listen has a TLS port (\"s\") but "
                     "server.tls.certificate is not set");
        goto fail_lib;
    }
    n_main = add_ports(ports, sizeof(ports), c->server.listen, tls);
    if (c->server.admin_listen) {
        n_admin = add_ports(admin_ports, sizeof(admin_ports),
                            c->server.admin_listen, 0);
        h->has_admin = 1;
    }
    if (n_main <= 0 || n_admin < 0 || n_main + n_admin > TG_MAX_LISTENERS) {
        tg_log_event(TG_LOG_ERROR, "startup_error",
                     "server.listen: no usable \"host:port\" "
                     "(at most %d listeners)",
                     TG_MAX_LISTENERS);
        goto fail_lib;
    }

    /* TLS needs CivetWeb's OpenSSL layer initialised before mg_start, and
     * Debian's CivetWeb 1.15 can only find OpenSSL 3 through our shims. */
    if (tls) {
        char why[256];
        if (tg_tlsshim_load(why, sizeof(why)) != 0) {
            tg_log_event(TG_LOG_ERROR, "startup_error", "%s", why);
            goto fail_lib;
        }
    }
    if ((mg_init_library(tls ? MG_FEATURES_SSL : 0) &
         (tls ? MG_FEATURES_SSL : 0)) != (tls ? MG_FEATURES_SSL : 0u)) {
        tg_log_event(TG_LOG_ERROR, "startup_error",
                     "server.tls is set but CivetWeb could not "
                     "initialise OpenSSL");
        mg_exit_library();
        goto fail_lib;
    }

    /* One CivetWeb thread per open connection (CivetWeb 1.15 serves a
     * connection on one thread from accept to close); server.threads
     * bounds the requests processed at once (h->work). */
    snprintf(threads, sizeof(threads), "%d",
             c->server.connections > 0 ? c->server.connections : 256);
    snprintf(keepalive, sizeof(keepalive), "%d",
             c->server.keep_alive_timeout_ms);
    snprintf(timeout, sizeof(timeout), "%d",
             c->server.request_timeout_ms > 0 ? c->server.request_timeout_ms
                                              : 10000);
    opts[no++] = "listening_ports";
    opts[no++] = ports;
    opts[no++] = "num_threads";
    opts[no++] = threads;
    opts[no++] = "request_timeout_ms";
    opts[no++] = timeout;
    /* Lets a 413 answered before the body was read reach the client. */
    opts[no++] = "linger_timeout_ms";
    opts[no++] = "1000";
    opts[no++] = "enable_keep_alive";
    opts[no++] = c->server.keep_alive_timeout_ms > 0 ? "yes" : "no";
    /* How long an open connection may wait for its next request. */
    opts[no++] = "keep_alive_timeout_ms";
    opts[no++] = keepalive;
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

    memset(&cb, 0, sizeof(cb));
    cb.log_message = on_log_message;
    cb.exit_thread = thread_exit;
    cb.http_error = on_http_error;
    h->ctx = mg_start(&cb, h, opts);
    if (!h->ctx) {
        tg_log_event(TG_LOG_ERROR, "startup_error",
                     "cannot listen on %s (in use, not an address of this "
                     "host, or with TLS a certificate or CA file that does "
                     "not load: see the civetweb records before this one)",
                     ports);
        goto fail_start;
    }
    mg_set_request_handler(h->ctx, "/", handle, h);

    /* The admin listener is a server of its own, with its own few
     * threads: probes and metrics are answered however many connections
     * the API listener holds. */
    if (n_admin > 0) {
        const char *aopts[] = {
            "listening_ports",
            admin_ports,
            "num_threads",
            TG_STR(TG_ADMIN_THREADS),
            "request_timeout_ms",
            timeout,
            "linger_timeout_ms",
            "1000",
            "enable_keep_alive",
            c->server.keep_alive_timeout_ms > 0 ? "yes" : "no",
            "keep_alive_timeout_ms",
            keepalive,
            "tcp_nodelay",
            "1",
            NULL,
        };
        h->admin_ctx = mg_start(&cb, h, aopts);
        if (!h->admin_ctx) {
            tg_log_event(TG_LOG_ERROR, "startup_error",
                         "cannot listen on %s (server.admin_listen: in use, "
                         "or not an address of this host)",
                         admin_ports);
            mg_stop(h->ctx);
            goto fail_start;
        }
        mg_set_request_handler(h->admin_ctx, "/", handle, h);
        memset(sp, 0, sizeof(sp));
        n_sp = mg_get_server_ports(h->admin_ctx, TG_MAX_LISTENERS, sp);
        for (i = 0; i < n_sp && h->n_admin_ports < TG_MAX_LISTENERS; i++)
            h->admin_ports[h->n_admin_ports++] = sp[i].port;
    }
    if (tg_log_enabled(TG_LOG_INFO)) {
        memset(sp, 0, sizeof(sp));
        n_sp = mg_get_server_ports(h->ctx, TG_MAX_LISTENERS, sp);
        for (i = 0; i < n_sp; i++)
            tg_log_event(TG_LOG_INFO, "listen", "listening on port %d%s",
                         sp[i].port, sp[i].is_ssl ? " (TLS)" : "");
        for (i = 0; (size_t)i < h->n_admin_ports; i++)
            tg_log_event(TG_LOG_INFO, "listen",
                         "listening on port %d (admin)", h->admin_ports[i]);
    }
    *out = h;
    return 0;

fail_start:
    mg_exit_library();
fail_lib:
    deadlines_stop(h);
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
    tg_log_set_level(n->server.log_level);
    tg_metrics_set_policy(h->metrics, n->digest);
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
    mg_exit_library();
    deadlines_stop(h);
    tg_cfgref_put(h->cur);
    pthread_mutex_destroy(&h->reload_lock);
    pthread_mutex_destroy(&h->lock);
    tg_metrics_free(h->metrics);
    free(h);
}
