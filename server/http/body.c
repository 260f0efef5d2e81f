/* body.c - a POST body: framing, size, media type, deadline, depth, JSON. */
#include "server/http/internal.h"

#include <civetweb.h>
#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/util/digest.h"
#include "server/util/jarena.h"
#include "validators/errors.h"

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

/*
 * The worker thread's body buffer (TG_BODY_KEEP + 1 bytes once allocated):
 * a malloc and free of a few kilobytes per request went through glibc's
 * slow path (consolidating its fast bins), 3% of the server's time for a
 * Jira webhook. Freed by tg_http_thread_exit when CivetWeb ends the thread.
 */
static _Thread_local char *thread_body;

void tg_http_thread_exit(const struct mg_context *ctx, int type, void *user)
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
        if (q->deadline_ms && tg_http_mono_ms() >= q->deadline_ms) {
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

    q->deadline_ms = tg_http_mono_ms() + q->h->body_timeout_ms;
    tg_http_reader_arm(q->h, q->ri, q->deadline_ms);
    rc = read_body_raw(q, max);
    tg_http_reader_disarm(q->h);
    return rc;
}

/*
 * The checks every POST gets before authentication, in the order of
 * API.md: the declared size (before reading a byte), the media type, then
 * the body read under the cap. Returns 0, or -1 when an answer was sent.
 */
int tg_http_post_prelude(struct rq *q)
{
    return tg_http_post_prelude_as(q, tg_http_is_json_type);
}

int tg_http_post_prelude_as(struct rq *q, int (*type_ok)(const char *))
{
    size_t max = q->cfg->server.max_body_bytes;
    long long cl = q->ri->content_length;
    char msg[160];
    int rc;

    if (cl > 0 && (unsigned long long)cl > max)
        goto too_large;
    if (!type_ok(mg_get_header(q->conn, "Content-Type"))) {
        tg_http_send_error(q, 415, "unsupported_media_type",
                           "Send the body as JSON with Content-Type: "
                           "application/json.");
        return -1;
    }
    rc = read_body(q, max);
    if (rc == TG_ETOOBIG)
        goto too_large;
    if (rc == TG_ENOMEM) {
        tg_http_send_internal(q);
        return -1;
    }
    if (rc != 0 && q->timed_out) {
        snprintf(msg, sizeof(msg),
                 "The request body did not arrive within %lld ms "
                 "(server.request_timeout_ms); send it at once.",
                 (long long)q->h->body_timeout_ms);
        q->note = "body_timeout";
        tg_http_send_error(q, 408, "bad_request", msg);
        return -1;
    }
    if (rc != 0) {
        tg_http_send_error(q, 400, "bad_request",
                           "The request body could not be read completely.");
        return -1;
    }
    /* The body is in: from here the request holds a worker slot. */
    tg_http_work_begin(q);
    if (tg_digest_sha256_of(q->body, q->body_len, q->sha) != 0) {
        tg_http_send_internal(q);
        return -1;
    }
    return 0;
too_large:
    snprintf(msg, sizeof(msg),
             "The body is larger than the %zu bytes this server accepts "
             "(server.max_body_bytes).",
             max);
    tg_http_send_error(q, 413, "too_large", msg);
    return -1;
}

/* ------------------------------------------------------- JSON bodies */

/*
 * Arena buffers are kept for the next request, last in first out, instead
 * of a malloc and free of 64 KB a request: that made glibc give the top of
 * its heap back to the kernel and fault it in again, 3.4% of /v1/check's
 * CPU (issue 10). A shared stack rather than one per worker thread: it
 * holds as many buffers as requests were in flight at once (a request
 * keeps its arena through the commit wait), not one per thread that ever
 * served a POST, and the last one given back, still in the cache, is the
 * next one taken. (No link inside an idle buffer: the sanitizer build
 * poisons it until its next tg_jarena_begin.)
 */
#define ARENA_POOL_MAX 64
static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static char *pool[ARENA_POOL_MAX];
static size_t pool_n;

static char *arena_take(void)
{
    char *buf = NULL;

    pthread_mutex_lock(&pool_mu);
    if (pool_n > 0)
        buf = pool[--pool_n];
    pthread_mutex_unlock(&pool_mu);
    return buf ? buf : malloc(TG_ARENA_BYTES);
}

/* Keeps buf for a next request, or frees it past ARENA_POOL_MAX. */
static void arena_give_back(char *buf)
{
    pthread_mutex_lock(&pool_mu);
    if (pool_n < ARENA_POOL_MAX) {
        pool[pool_n++] = buf;
        buf = NULL;
    }
    pthread_mutex_unlock(&pool_mu);
    free(buf);
}

size_t tg_http_arena_pool_drain(void)
{
    size_t n;

    pthread_mutex_lock(&pool_mu);
    n = pool_n;
    while (pool_n > 0)
        free(pool[--pool_n]);
    pthread_mutex_unlock(&pool_mu);
    return n;
}

/* Past authentication, the JSON values of a POST live and die in one
 * arena (jarena.h): one allocation instead of hundreds. tg_http_handle() ends
 * it once the handler has returned, every value released, whatever path the
 * handler took. */
void tg_http_arena_begin(struct rq *q)
{
    if ((q->arena_buf = arena_take()))
        tg_jarena_begin(&q->arena, q->arena_buf, TG_ARENA_BYTES);
}

void tg_http_arena_end(struct rq *q)
{
    if (!q->arena_buf)
        return;
    tg_jarena_end(&q->arena);
    arena_give_back(q->arena_buf);
    q->arena_buf = NULL;
}

void *tg_http_scratch(struct rq *q, size_t n)
{
    return q->arena_buf ? tg_jarena_tail(&q->arena, n) : NULL;
}

/* Parses the raw body (already authenticated) into a JSON object, or
 * answers 400 and returns NULL. */
json_t *tg_http_parse_object(struct rq *q)
{
    json_error_t err;
    json_t *v;
    char msg[160];

    if (tg_http_too_deep(q->body, q->body_len, TG_JSON_MAX_DEPTH)) {
        snprintf(msg, sizeof(msg),
                 "The body nests arrays or objects deeper than %d levels; "
                 "send a ticket object.",
                 TG_JSON_MAX_DEPTH);
        tg_http_send_error(q, 400, "bad_json", msg);
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
        tg_http_send_error(q, 400, "bad_json", msg);
        return NULL;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        tg_http_send_error(q, 400, "bad_json",
                           "The body is valid JSON but not an object; send one "
                           "ticket as a JSON object.");
        return NULL;
    }
    return v;
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
const char *tg_http_framing_problem(const struct mg_request_info *ri)
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
