/* client.c - the act-back HTTP client (libcurl): one request, its answer. */
#include "server/actback/deliver.h"

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "server/util/strbuf.h"
#include "validators/errors.h"

#ifndef TG_VERSION
#define TG_VERSION "0"
#endif

struct tg_actback_http {
    CURL *curl;
    long timeout_ms;
    int64_t deadline_ms; /* monotonic; 0: none */
    const atomic_int *stop;
};

int64_t tg_actback_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void tg_actback_http_deadline(struct tg_actback_http *h, int64_t deadline_ms)
{
    h->deadline_ms = deadline_ms;
}

struct tg_actback_http *tg_actback_http_new(long timeout_ms,
                                            const atomic_int *stop)
{
    struct tg_actback_http *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->curl = curl_easy_init();
    if (!h->curl) {
        free(h);
        return NULL;
    }
    h->timeout_ms = timeout_ms > 0 ? timeout_ms : 15000;
    h->stop = stop;
    return h;
}

void tg_actback_http_free(struct tg_actback_http *h)
{
    if (!h)
        return;
    curl_easy_cleanup(h->curl);
    free(h);
}

void tg_actback_resp_cleanup(struct tg_actback_resp *r)
{
    free(r->body);
    r->body = NULL;
    r->len = 0;
}

/* What a transfer gathers as it goes: the body in body (moved into r at
 * the end), the headers into r. */
struct xfer {
    struct tg_actback_resp *r;
    struct tg_strbuf body;
    int too_big;
    const atomic_int *stop;
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct xfer *x = ud;
    size_t add = size * n;
    int rc = tg_strbuf_putn(&x->body, p, add);

    if (rc == TG_ETOOBIG)
        x->too_big = 1;
    /* 0 fails the transfer with CURLE_WRITE_ERROR */
    return rc == 0 ? add : 0;
}

/* Keeps the last Retry-After header of the answer (a redirect or 100
 * Continue may come first; a later header set starts afresh). */
static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct xfer *x = ud;
    size_t len = size * n;
    static const char name[] = "retry-after:";

    if (len >= 5 && strncmp(p, "HTTP/", 5) == 0)
        x->r->retry_after_ms = -1;
    if (len > sizeof(name) - 1 && strncasecmp(p, name, sizeof(name) - 1) == 0) {
        int64_t ms;
        const char *v = p + sizeof(name) - 1;
        size_t vlen = len - (sizeof(name) - 1);
        if (tg_actback_retry_after_parse(v, vlen, (int64_t)time(NULL), &ms) ==
            0)
            x->r->retry_after_ms = ms;
    }
    return len;
}

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut,
                       curl_off_t un)
{
    struct xfer *x = ud;
    (void)dt;
    (void)dn;
    (void)ut;
    (void)un;
    return x->stop && atomic_load(x->stop) ? 1 : 0;
}

/* "Authorization: Basic base64(user:secret)" or "Bearer token" into *out
 * (caller cleanses and frees). 0 or TG_ENOMEM; *out NULL without auth. */
static int auth_header(const struct tg_actback_target *t, char **out)
{
    *out = NULL;
    if (t->bearer) {
        size_t n = strlen(t->bearer) + sizeof("Authorization: Bearer ");
        char *h = malloc(n);
        if (!h)
            return TG_ENOMEM;
        snprintf(h, n, "Authorization: Bearer %s", t->bearer);
        *out = h;
        return 0;
    }
    if (t->user && t->secret) {
        size_t ul = strlen(t->user), sl = strlen(t->secret);
        size_t raw_n = ul + 1 + sl, enc_n = 4 * ((raw_n + 2) / 3) + 1;
        size_t n = enc_n + sizeof("Authorization: Basic ");
        unsigned char *raw = malloc(raw_n + 1);
        char *h = malloc(n);
        int w;
        if (!raw || !h) {
            free(raw);
            free(h);
            return TG_ENOMEM;
        }
        memcpy(raw, t->user, ul);
        raw[ul] = ':';
        memcpy(raw + ul + 1, t->secret, sl);
        w = snprintf(h, n, "Authorization: Basic ");
        EVP_EncodeBlock((unsigned char *)h + w, raw, (int)raw_n);
        OPENSSL_cleanse(raw, raw_n);
        free(raw);
        *out = h;
    }
    return 0;
}

/* The timeout of h's next request: its own, cut to what is left of h's
 * deadline. 0 when the deadline has passed (r->error says so). */
static long time_left(const struct tg_actback_http *h,
                      struct tg_actback_resp *r)
{
    long timeout = h->timeout_ms;

    if (h->deadline_ms > 0) {
        int64_t left = h->deadline_ms - tg_actback_mono_ms();
        if (left <= 0) {
            snprintf(r->error, sizeof(r->error),
                     "not sent: the attempt ran out of time (its lease)");
            return 0;
        }
        if (left < timeout)
            timeout = (long)left;
    }
    return timeout;
}

/* The request's header list into *hdrs (with auth, the credentials' line,
 * when there is one): 0 or TG_ENOMEM (the caller frees *hdrs either way). */
static int request_headers(const char *body, const char *auth,
                           struct curl_slist **hdrs)
{
    struct curl_slist *nh;

#define ADD(s)                                                                 \
    do {                                                                       \
        nh = curl_slist_append(*hdrs, (s));                                    \
        if (!nh)                                                               \
            return TG_ENOMEM;                                                  \
        *hdrs = nh;                                                            \
    } while (0)
    ADD("Accept: application/json");
    if (body)
        ADD("Content-Type: application/json");
    else
        ADD("Content-Type:"); /* none: curl would add its form type */
    ADD("Expect:");           /* no 100-continue round trip */
    if (auth)
        ADD(auth);
#undef ADD
    return 0;
}

/* Sets up c for one request of method to url with hdrs and body, its
 * answer gathered into x. */
static void request_options(CURL *c, const char *url, long timeout,
                            struct curl_slist *hdrs, const char *method,
                            const char *body, struct xfer *x)
{
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     timeout < 10000 ? timeout : 10000L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "ticketgate/" TG_VERSION);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, x);
    if (strcmp(method, "GET") != 0)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)strlen(body));
    }
}

/* Fills r from a transfer that brought no answer (cc, what x saw):
 * TG_ENOMEM or TG_EIO. */
static int transfer_failed(CURLcode cc, const struct xfer *x,
                           struct tg_actback_resp *r)
{
    r->status = 0;
    /* The request may have reached the server unless curl failed before
     * sending it (resolving, connecting, the TLS handshake). */
    r->maybe_sent = !(cc == CURLE_COULDNT_RESOLVE_HOST ||
                      cc == CURLE_COULDNT_CONNECT ||
                      cc == CURLE_SSL_CONNECT_ERROR ||
                      cc == CURLE_PEER_FAILED_VERIFICATION ||
                      cc == CURLE_UNSUPPORTED_PROTOCOL ||
                      cc == CURLE_URL_MALFORMAT);
    r->stopped = cc == CURLE_ABORTED_BY_CALLBACK;
    snprintf(r->error, sizeof(r->error), "%s",
             x->too_big ? "answer over the size limit"
             : r->stopped ? "interrupted: the server is stopping"
                          : curl_easy_strerror(cc));
    return cc == CURLE_OUT_OF_MEMORY ? TG_ENOMEM : TG_EIO;
}

int tg_actback_http_do(struct tg_actback_http *h,
                       const struct tg_actback_target *t, const char *method,
                       const char *path, const char *body,
                       struct tg_actback_resp *r)
{
    struct curl_slist *hdrs = NULL;
    struct xfer x = {.r = r,
                     .body = TG_STRBUF_INIT(TG_ACTBACK_MAX_BODY),
                     .too_big = 0,
                     .stop = h->stop};
    char *url = NULL, *auth = NULL;
    size_t ulen;
    CURLcode cc;
    int rc = TG_ENOMEM;
    CURL *c = h->curl;
    long timeout;

    memset(r, 0, sizeof(*r));
    r->retry_after_ms = -1;
    if ((timeout = time_left(h, r)) == 0)
        return TG_EIO;
    ulen = strlen(t->base_url) + strlen(path) + 1;
    url = malloc(ulen);
    if (!url)
        goto out;
    snprintf(url, ulen, "%s%s", t->base_url, path);
    if (auth_header(t, &auth) != 0 || request_headers(body, auth, &hdrs) != 0)
        goto out;
    request_options(c, url, timeout, hdrs, method, body, &x);
    cc = curl_easy_perform(c);
    if (cc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
        rc = 0;
        goto out;
    }
    rc = transfer_failed(cc, &x, r);
out:
    r->body = x.body.p;
    r->len = x.body.n;
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hdrs);
    if (auth) {
        OPENSSL_cleanse(auth, strlen(auth));
        free(auth);
    }
    free(url);
    return rc;
}

enum tg_actback_outcome tg_actback_classify(long status)
{
    if (status >= 200 && status <= 299)
        return TG_ACTBACK_DELIVERED;
    if (status == 0 || status == 408 || status == 409 || status == 429 ||
        (status >= 500 && status <= 599))
        return TG_ACTBACK_RETRY;
    return TG_ACTBACK_DEAD;
}

void tg_actback_fail(struct tg_actback_result *res, const char *step, int rc,
                     const struct tg_actback_resp *r)
{
    char snip[121];
    size_t i, n = 0;

    res->retry_after_ms = -1;
    res->stopped = 0;
    if (rc != 0) {
        res->outcome = TG_ACTBACK_RETRY;
        res->stopped = r->stopped;
        snprintf(res->error, sizeof(res->error), "%s: %s", step,
                 rc == TG_ENOMEM ? "out of memory" : r->error);
        return;
    }
    res->outcome = tg_actback_classify(r->status);
    if (res->outcome == TG_ACTBACK_DELIVERED) /* not a failure: caller bug */
        res->outcome = TG_ACTBACK_DEAD;
    if (r->status == 429 || r->status == 503)
        res->retry_after_ms = r->retry_after_ms;
    /* The start of the answer, printable ASCII only: the vendor's reason
     * ("errorMessages", "error.message") without flooding the log. */
    for (i = 0; r->body && i < r->len && n < sizeof(snip) - 1; i++)
        snip[n++] = r->body[i] >= 0x20 && r->body[i] < 0x7f ? r->body[i] : ' ';
    snip[n] = '\0';
    snprintf(res->error, sizeof(res->error), "%s: HTTP %ld%s%s", step,
             r->status, n ? ": " : "", snip);
}

char *tg_actback_dump(const json_t *body)
{
    return json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
}
