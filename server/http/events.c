/* events.c - POST /v1/events, its SCIM path and Okta's GET challenge. */
#include "server/http/internal.h"

#include <civetweb.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/auth/hubsig.h"
#include "server/auth/jwtauth.h"
#include "server/events/events.h"
#include "server/store/store.h"
#include "server/util/digest.h"
#include "server/util/jarena.h"
#include "server/util/log.h"
#include "validators/errors.h"
#include "validators/timeparse.h"

/* The namespace of the events source's jtis in the store. */
#define EVENTS_SOURCE "events"
/* A SCIM group id in the path: at most this long, unreserved characters. */
#define SCIM_GROUP_MAX 128

/*
 * Authenticates a request of sources.events: a Bearer JWT when the request
 * carries one and jwt is configured (the checks of sources.generic), else
 * X-Hub-Signature over the raw body when hmac_secret is (as sources.jira).
 * Either configured credential is enough. Returns 0 with *jti (the token's,
 * or NULL; caller frees), or -1 once 401 / 500 was answered.
 */
static int auth_events(struct rq *q, char **jti)
{
    const struct tg_events_conf *e = &q->cfg->events;
    const char *auth = mg_get_header(q->conn, "Authorization"), *tok;
    size_t len;
    int ok = 0, rc;

    *jti = NULL;
    if (e->set && e->jwt.set && auth &&
        tg_jwtauth_bearer(auth, &tok, &len) == 0) {
        tg_jarena_assert_outside(); /* libjwt: see jarena.h */
        rc = tg_jwtauth_verify(&e->jwt, tok, len, q->now, jti);
        if (rc == TG_ENOMEM) {
            tg_http_send_internal(q);
            return -1;
        }
        ok = rc == 0;
    }
    if (!ok && e->set && e->hmac_secret && *e->hmac_secret)
        ok = tg_webhook_auth_hub_signature(
                 e->hmac_secret, strlen(e->hmac_secret),
                 mg_get_header(q->conn, "X-Hub-Signature"), q->body,
                 q->body_len) == 0;
    if (!ok) {
        tg_http_send_unauthenticated(q, e->jwt.set);
        return -1;
    }
    return 0;
}

/* application/json, or SCIM's own application/scim+json (RFC 7644
 * section 3.1), parameters allowed. */
static int scim_type_ok(const char *v)
{
    static const char scim[] = "application/scim+json";

    if (tg_http_is_json_type(v))
        return 1;
    if (!v)
        return 0;
    while (*v == ' ' || *v == '\t')
        v++;
    if (strncasecmp(v, scim, sizeof(scim) - 1) != 0)
        return 0;
    v += sizeof(scim) - 1;
    while (*v == ' ' || *v == '\t')
        v++;
    return *v == '\0' || *v == ';';
}

/* 1 when an Idempotency-Key header value can be part of an event's key:
 * printable ASCII (RFC 9110 field values are ASCII; other bytes would make
 * no valid JSON string of the chain). Its length is checked with the key's
 * (tg_events_scim). */
static int plausible_key(const char *v)
{
    for (; *v; v++)
        if ((unsigned char)*v < 0x20 || (unsigned char)*v > 0x7e)
            return 0;
    return 1;
}

static void send_store_failed(struct rq *q, size_t stored)
{
    static const char *const retry[] = {"Retry-After", TG_RETRY_AFTER, NULL};
    char msg[256];

    snprintf(msg, sizeof(msg),
             "The evidence store could not record the events (%zu of them "
             "were stored and will count as duplicates); send the delivery "
             "again later.",
             stored);
    tg_http_send_error_x(q, 503, "store_unavailable", msg, NULL, retry);
}

/* The counts of one delivery. */
struct tally {
    size_t accepted, duplicates;
    json_t *unmapped;  /* [{"source_id", "reason"}] */
    json_t *conflicts; /* source_ids stored before with other content */
};

/* 1 when the entry stored under ev's source_id says something else than
 * ev (raw_ref aside: a re-delivery may batch events differently; and a
 * SCIM event's time, which is when its request came, not part of the
 * change: a client retrying under its Idempotency-Key a second later
 * sends the same change). A sender reusing an id for another event, or an
 * identity that resolves since a directory reload, is told so: the first
 * document stays. 0 when they agree or the stored one cannot be read. */
static int differs(struct rq *q, const json_t *ev, const char *key)
{
    char *json = NULL;
    json_t *old = NULL, *now = NULL;
    int rc = 0;

    if (tg_evidence_get_entry(q->h->ev, "event", key, &json) != 0)
        return 0;
    old = json_loads(json, 0, NULL);
    now = json_copy((json_t *)ev);
    if (old && now) {
        const char *form = json_string_value(json_object_get(now, "form"));
        json_object_del(old, "raw_ref");
        json_object_del(now, "raw_ref");
        if (form && strcmp(form, "scim") == 0) {
            json_object_del(old, "time");
            json_object_del(now, "time");
        }
        rc = !json_equal(old, now);
    }
    json_decref(old);
    json_decref(now);
    free(json);
    return rc;
}

/* Appends event document ev to the chain. Returns 0 (stored, or already
 * there), or the store's error. */
static int store_one(struct rq *q, const json_t *ev, struct tally *t)
{
    char sbuf[TG_DOC_STACK], *heap = NULL;
    const char *text, *time_s = json_string_value(json_object_get(ev, "time"));
    struct tg_evidence_entry en = {
        .kind = "event",
        .key = json_string_value(json_object_get(ev, "source_id")),
        .ticket = json_string_value(json_object_get(ev, "ticket")),
        .source = json_string_value(json_object_get(ev, "form")),
    };
    size_t len = 0;
    int rc;

    if (!time_s || tg_time_parse(time_s, strlen(time_s), &en.time) != 0)
        return TG_EINVAL; /* the parsers wrote it: cannot happen */
    text = tg_http_dump_doc(ev, sbuf, sizeof(sbuf), &heap, &len);
    if (!text)
        return TG_ENOMEM;
    en.json = text;
    en.len = len;
    rc = tg_evidence_append_entry(q->h->ev, &en);
    free(heap);
    if (rc == TG_ECONFLICT) {
        /* Okta and CloudTrail deliver at least once: a re-sent event is
         * answered as it was the first time, and stored once. */
        t->duplicates++;
        if (differs(q, ev, en.key) &&
            json_array_append_new(t->conflicts, json_string(en.key)) != 0)
            return TG_ENOMEM;
        return 0;
    }
    if (rc == 0)
        t->accepted++;
    return rc;
}

/* The summary answer: {"accepted", "duplicates", "ignored", "unmapped",
 * "conflicts"}. */
static void send_summary(struct rq *q, const struct tally *t, size_t ignored)
{
    char sbuf[TG_DOC_STACK], *heap = NULL;
    const char *text;
    size_t len = 0;
    json_t *doc = json_pack(
        "{s:I,s:I,s:I,s:O,s:O}", "accepted", (json_int_t)t->accepted,
        "duplicates", (json_int_t)t->duplicates, "ignored", (json_int_t)ignored,
        "unmapped", t->unmapped, "conflicts", t->conflicts);

    text = doc ? tg_http_dump_doc(doc, sbuf, sizeof(sbuf), &heap, &len) : NULL;
    if (text)
        tg_http_send_json(q, 200, text, len, NULL);
    else
        tg_http_send_internal(q);
    free(heap);
    json_decref(doc);
}

/* Stores every event of out and answers. */
static void store_all(struct rq *q, const struct tg_events_out *out)
{
    struct tally t = {.unmapped = json_array(), .conflicts = json_array()};
    size_t i;
    int rc = 0;

    if (!t.unmapped || !t.conflicts) {
        tg_http_send_internal(q);
        goto out;
    }
    for (i = 0; i < json_array_size(out->events); i++) {
        const json_t *ev = json_array_get(out->events, i);
        if (!json_is_true(json_object_get(ev, "mapped")) &&
            json_array_append_new(
                t.unmapped,
                json_pack("{s:O,s:O}", "source_id",
                          json_object_get(ev, "source_id"), "reason",
                          json_object_get(ev, "unmapped_reason"))) != 0) {
            rc = TG_ENOMEM;
            break;
        }
    }
    /* Waiting for the store is no work (as a decision's record). */
    tg_http_work_end(q);
    for (i = 0; rc == 0 && i < json_array_size(out->events); i++)
        rc = store_one(q, json_array_get(out->events, i), &t);
    if (rc == TG_ENOMEM || rc == TG_EINVAL) {
        tg_http_send_internal(q);
    } else if (rc != 0) {
        const char *why = tg_evidence_failure(q->h->ev);
        tg_log_event(TG_LOG_ERROR, "evidence_error",
                     "evidence append failed for an event: %s",
                     why              ? why
                     : rc == TG_EBUSY ? "the store stayed locked"
                                      : "the store failed the write");
        send_store_failed(q, t.accepted);
    } else {
        send_summary(q, &t, out->ignored);
    }
out:
    json_decref(t.unmapped);
    json_decref(t.conflicts);
}

/*
 * POST /v1/events and POST /v1/events/scim/Groups/{group}: size, media
 * type, authentication, JSON, the jti used up (single-use, as
 * /v1/check), the body to events, each event appended to the chain.
 */
static void on_post(struct rq *q, const char *scim_group)
{
    char *jti = NULL, hex[2 * TG_DIGEST_LEN + 1], err[512];
    struct tg_events_out out = {.err = err, .cap = sizeof(err)};
    json_t *body = NULL;
    enum tg_event_form form;
    int rc;

    if (tg_http_post_prelude_as(q, scim_group ? scim_type_ok
                                              : tg_http_is_json_type) != 0 ||
        auth_events(q, &jti) != 0)
        goto out;
    if (scim_group && mg_get_header(q->conn, "Idempotency-Key") &&
        !plausible_key(mg_get_header(q->conn, "Idempotency-Key"))) {
        tg_http_send_error(q, 400, "bad_request",
                           "Idempotency-Key is not printable ASCII; send "
                           "the request's key as plain text.");
        goto out;
    }
    tg_http_arena_begin(q);
    body = tg_http_parse_object(q);
    if (!body)
        goto out;
    /* A token carries one body: the same body again is a re-delivery
     * (its events are duplicates), another one a replay (API.md). */
    if (jti) {
        rc = tg_evidence_bind_jti(q->h->ev, EVENTS_SOURCE, jti, q->sha, q->now);
        if (rc == TG_ECONFLICT) {
            tg_http_send_error(q, 409, "replay",
                               "This token (its jti) was already used with a "
                               "different body; sign a new token for each "
                               "request.");
            goto out;
        }
        if (rc != 0) {
            tg_http_send_store_failure(q, rc);
            goto out;
        }
    }
    tg_digest_hex(q->sha, sizeof(q->sha), hex);
    form = scim_group ? TG_EVFORM_SCIM : tg_events_detect(body);
    q->note = tg_events_form_name(form);
    {
        const char *ikey = mg_get_header(q->conn, "Idempotency-Key");
        const struct tg_events_in in = {
            .cfg = q->cfg,
            .body = body,
            .body_hex = hex,
            .now = q->now,
            .scim_group = scim_group,
            .scim_key = ikey && *ikey ? ikey : jti,
        };
        err[0] = '\0';
        rc = tg_events_parse(&in, form, &out);
    }
    if (rc == TG_EINVAL) {
        tg_http_send_error_x(q, 422, "unmappable", err,
                             "The body is not a delivery of events.", NULL);
        goto out;
    }
    if (rc != 0) {
        tg_http_send_internal(q);
        goto out;
    }
    store_all(q, &out);
out:
    json_decref(out.events);
    json_decref(body);
    free(jti);
}

/*
 * GET /v1/events: Okta's one-time verification of an event hook. Okta
 * sends the hook's Authorization header here as with every delivery, so a
 * configured jwt is checked; with hmac_secret alone there is nothing to
 * check (a GET has no body to sign), and the answer only echoes the
 * challenge.
 */
static void on_challenge(struct rq *q)
{
    const struct tg_events_conf *e = &q->cfg->events;
    const char *ch = mg_get_header(q->conn, "X-Okta-Verification-Challenge");
    char *jti = NULL, *text = NULL;
    const char *tok;
    size_t len;
    int rc;

    tg_http_work_begin(q);
    if (!e->set) {
        tg_http_send_unauthenticated(q, 0);
        return;
    }
    if (e->jwt.set) {
        if (tg_jwtauth_bearer(mg_get_header(q->conn, "Authorization"), &tok,
                              &len) != 0) {
            tg_http_send_unauthenticated(q, 1);
            return;
        }
        tg_jarena_assert_outside(); /* libjwt: see jarena.h */
        rc = tg_jwtauth_verify(&e->jwt, tok, len, q->now, &jti);
        free(jti);
        if (rc == TG_ENOMEM) {
            tg_http_send_internal(q);
            return;
        }
        if (rc != 0) {
            tg_http_send_unauthenticated(q, 1);
            return;
        }
    }
    if (!ch) {
        tg_http_send_error(q, 400, "bad_request",
                           "GET /v1/events only answers Okta's verification "
                           "(X-Okta-Verification-Challenge); send events "
                           "with POST.");
        return;
    }
    rc = tg_events_okta_challenge(ch, strlen(ch), &text);
    if (rc == TG_EINVAL) {
        tg_http_send_error(q, 400, "bad_request",
                           "X-Okta-Verification-Challenge is empty, longer "
                           "than 256 bytes or not printable ASCII.");
        return;
    }
    if (rc != 0) {
        tg_http_send_internal(q);
        return;
    }
    q->note = "okta_verification";
    tg_http_send_json(q, 200, text, strlen(text), NULL);
    free(text);
}

void tg_http_on_events(struct rq *q)
{
    if (strcmp(q->ri->request_method, "GET") == 0)
        on_challenge(q);
    else
        on_post(q, NULL);
}

/* A SCIM group id as a path segment carries: unreserved characters only
 * (RFC 3986), so that it needs no decoding and makes a plain key. */
static int plausible_group(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > SCIM_GROUP_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
              c == '~'))
            return 0;
    }
    return 1;
}

void tg_http_on_events_scim(struct rq *q, const char *group)
{
    if (!plausible_group(group)) {
        tg_http_send_error(q, 404, "not_found",
                           "No such SCIM group path; the group id is one "
                           "path segment of letters, digits, '-', '_', '.' "
                           "or '~'.");
        return;
    }
    on_post(q, group);
}
