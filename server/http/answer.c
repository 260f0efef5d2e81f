/* answer.c - answers in one write, API.md error documents, CivetWeb errors. */
#include "server/http/internal.h"

#include <civetweb.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/util/log.h"
#include "validators/errors.h"

/* ------------------------------------------------------------ answers */

/* Set while force_close() calls into CivetWeb: tg_http_on_error then leaves
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

/* head and body in one write (one packet with TCP_NODELAY) when a buffer
 * of both can be had, else in two. */
static void send_joined(struct mg_connection *conn, const char *head,
                        size_t n, const char *body, size_t len)
{
    char *all = malloc(n + len);

    if (all) {
        memcpy(all, head, n);
        memcpy(all + n, body, len);
        mg_write(conn, all, n + len);
        free(all);
        return;
    }
    mg_write(conn, head, n);
    mg_write(conn, body, len);
}

/* Sends the whole answer with as few writes as it can: the status line and
 * headers are formatted here and go out with the body in one mg_write when
 * they fit the stack buffer. CivetWeb's mg_response_header_* API writes
 * every header with its own send(), which was about 15% of the server's
 * time under load. The Connection header says what CivetWeb will do
 * (keeps_alive); an answer that must close makes it close (force_close),
 * so that a body never read is never read after the answer either. */
void tg_http_send_body(struct rq *q, int status, const char *ctype,
                       const char *body, size_t len, const char *const *extra)
{
    /* A decision's answer fits (0.3-1.5 KB); a larger one is joined on the
     * heap. Not 8 KB here: every worker's stack stays resident as deep as
     * a request ever took it (issue 10's RSS). */
    char buf[2048];
    size_t n = 0, i;
    int w, keep,
        head =
            q->ri->request_method && strcmp(q->ri->request_method, "HEAD") == 0;

    /* Writing may wait on the client: the work is done. */
    tg_http_work_end(q);
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
                 status, mg_get_response_code_text(q->conn, status), ctype, len,
                 keep ? "keep-alive" : "close");
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
        send_joined(q->conn, buf, n, body, len);
    }
    if (!keep)
        force_close(q->conn);
}

void tg_http_send_json(struct rq *q, int status, const char *body, size_t len,
                       const char *const *extra)
{
    tg_http_send_body(q, status, "application/json", body, len, extra);
}

/*
 * The compact text of doc, NUL-terminated: in sbuf when it fits, else in
 * *heap (one allocation of the exact size, which the caller frees). Sets
 * *len; returns the text or NULL on ENOMEM. json_dumps would grow a buffer
 * by doubling and copy it once more, and inside a request's arena its text
 * could not be given to free() (jarena.h).
 */
const char *tg_http_dump_doc(const json_t *doc, char *sbuf, size_t cap,
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

void tg_http_send_doc(struct rq *q, int status, const json_t *doc)
{
    char sbuf[4096], *heap = NULL;
    size_t len = 0;
    const char *text =
        doc ? tg_http_dump_doc(doc, sbuf, sizeof(sbuf), &heap, &len) : NULL;

    if (text)
        tg_http_send_json(q, status, text, len, NULL);
    else
        tg_http_send_internal(q);
    free(heap);
}

/*
 * The error document of API.md. message is ours, or comes from a mapping
 * error that may quote the payload: if it is not valid UTF-8, fallback is
 * said instead.
 */
void tg_http_send_error_x(struct rq *q, int status, const char *code,
                          const char *message, const char *fallback,
                          const char *const *extra)
{
    json_t *doc = json_object(), *msg = json_string(message);
    char sbuf[1024], *heap = NULL; /* longer messages go to the heap */
    const char *text = NULL;
    size_t len = 0;

    if (!msg && fallback)
        msg = json_string(fallback);
    if (doc && msg &&
        json_object_set_new(doc, "error", json_string(code)) == 0 &&
        json_object_set(doc, "message", msg) == 0)
        text = tg_http_dump_doc(doc, sbuf, sizeof(sbuf), &heap, &len);
    if (text) {
        tg_http_send_json(q, status, text, len, extra);
    } else {
        static const char oom[] =
            "{\"error\":\"internal\",\"message\":\"The server is out of "
            "memory; retry later.\"}";
        tg_http_send_json(q, 500, oom, sizeof(oom) - 1, NULL);
    }
    free(heap);
    json_decref(msg);
    json_decref(doc);
}

void tg_http_send_error(struct rq *q, int status, const char *code,
                        const char *message)
{
    tg_http_send_error_x(q, status, code, message, NULL, NULL);
}

void tg_http_send_internal(struct rq *q)
{
    tg_http_send_error(
        q, 500, "internal",
        "The server could not complete the request; retry later.");
}

void tg_http_send_unauthenticated(struct rq *q, int bearer)
{
    static const char *const www[] = {"WWW-Authenticate",
                                      "Bearer realm=\"ticketgate\"", NULL};
    /* One answer for every failure: which part was wrong stays unsaid. */
    tg_http_send_error_x(q, 401, "unauthenticated",
                         "The request could not be authenticated; check the "
                         "credentials configured for this source.",
                         NULL, bearer ? www : NULL);
}

void tg_http_send_store_unavailable(struct rq *q)
{
    static const char *const retry[] = {"Retry-After", TG_RETRY_AFTER, NULL};
    tg_http_send_error_x(
        q, 503, "store_unavailable",
        "The evidence store could not record the decision, so no "
        "decision is given; retry later.",
        NULL, retry);
}

/* A store call failed with rc: out of memory is ours (500), anything else
 * the store's (503, retry later). */
void tg_http_send_store_failure(struct rq *q, int rc)
{
    if (rc == TG_ENOMEM)
        tg_http_send_internal(q);
    else
        tg_http_send_store_unavailable(q);
}

void tg_http_send_not_found(struct rq *q)
{
    tg_http_send_error(
        q, 404, "not_found",
        "No such endpoint; see the API documentation for the paths "
        "ticketgate serves.");
}

/*
 * CivetWeb's own answers: a request it could not parse (bad method or
 * request line, headers over its buffer, a negative Content-Length, a
 * header phase past request_timeout_ms) never reaches tg_http_handle(). It is
 * answered here in the contract's JSON error form and logged like any
 * request; CivetWeb closes the connection after it. Returns 0 (answered),
 * or 1 inside force_close(), where nothing more may be written.
 */
int tg_http_on_error(struct mg_connection *conn, int status, const char *msg)
{
    const struct mg_request_info *ri = mg_get_request_info(conn);
    struct rq q = {.conn = conn, .ri = ri, .close = 1};
    char text[256], note[128], path[256] = "";
    int code = status;

    if (closing)
        return 1;
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
    if (ri && ri->request_uri) {
        size_t n = strcspn(ri->request_uri, "?");
        if (n >= sizeof(path))
            n = sizeof(path) - 1;
        memcpy(path, ri->request_uri, n);
        path[n] = '\0';
    }
    tg_http_send_error(&q, code,
                       code == 413   ? "too_large"
                       : code == 500 ? "internal"
                                     : "bad_request",
                       text);
    {
        struct tg_log_request lr = {
            .remote = ri ? ri->remote_addr : NULL,
            .method = ri ? ri->request_method : NULL,
            /* Not local_uri_raw: CivetWeb 1.15 does not reset it between
             * requests, so after a request line it could not parse it
             * points at the previous request's bytes in the reused buffer
             * (another client's, once the thread serves another
             * connection). request_uri is set per request; the query is
             * cut off, as for every other logged path. */
            .path = path[0] ? path : NULL,
            .status = code,
            .note = tg_log_clean(msg, strlen(msg), note, sizeof(note)),
        };
        tg_log_request(TG_LOG_WARN, &lr);
    }
    return 0;
}
