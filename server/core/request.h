/* request.h - what the HTTP layer hands to authentication and adapters. */
#ifndef TG_REQUEST_H
#define TG_REQUEST_H

#include <stddef.h>
#include <stdint.h>

/* One request, with every pointer borrowed from the HTTP layer for the call.
 * The body is the raw bytes as received (signatures are over them). */
struct tg_http_req {
    const char *method;     /* "POST" */
    const char *path;       /* "/v1/webhooks/jira", without the query */
    const char *query;      /* the raw query string without '?', or NULL */
    const char *body;
    size_t body_len;
    /* Returns the value of header name (case-insensitive), or NULL. */
    const char *(*header)(void *ctx, const char *name);
    void *ctx;
    int64_t now;            /* UTC seconds */
};

static inline const char *tg_req_header(const struct tg_http_req *r,
                                        const char *name)
{
    return r->header ? r->header(r->ctx, name) : NULL;
}

#endif
