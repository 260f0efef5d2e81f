/* handlers.c - the endpoints: check, webhooks, reads, probes, reload. */
#include "server/http/internal.h"

#include <civetweb.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "server/actback/plan.h"
#include "server/actback/sender.h"
#include "server/adapters/adapter.h"
#include "server/auth/jwtauth.h"
#include "server/core/canonical.h"
#include "server/core/decide.h"
#include "server/core/decision.h"
#include "server/core/justnorm.h"
#include "server/core/request.h"
#include "server/http/shadow.h"
#include "server/util/clock.h"
#include "server/util/digest.h"
#include "server/util/jarena.h"
#include "server/util/log.h"
#include "server/util/metrics.h"
#include "server/util/number.h"
#include "validators/errors.h"
#include "validators/evaluate.h"
#include "validators/ticket.h"

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

static const char *header_cb(void *ctx, const char *name)
{
    return mg_get_header(ctx, name);
}

static void fill_req(struct rq *q, struct tg_http_req *r)
{
    *r = (struct tg_http_req){
        .method = q->ri->request_method,
        .path = q->path,
        .query = q->ri->query_string,
        .body = q->body,
        .body_len = q->body_len,
        .header = header_cb,
        .ctx = q->conn,
        .now = q->now,
    };
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
    uint64_t gen; /* 0: empty */
    int64_t now;
    unsigned char digest[32]; /* SHA-256 of the token */
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
        tg_http_send_unauthenticated(q, 1);
        return -1;
    }
    memo = tg_digest_sha256_of(tok, len, digest) == 0;
    if (memo && m->gen == q->gen && m->now == q->now &&
        CRYPTO_memcmp(m->digest, digest, sizeof(digest)) == 0) {
        if (m->has_jti && !(*jti = strdup(m->jti))) {
            tg_http_send_internal(q);
            return -1;
        }
        return 0;
    }
    tg_jarena_assert_outside(); /* libjwt: see jarena.h */
    rc = tg_jwtauth_verify(&g->jwt, tok, len, q->now, jti);
    if (rc == TG_ENOMEM) {
        tg_http_send_internal(q);
        return -1;
    }
    if (rc != 0) {
        tg_http_send_unauthenticated(q, 1);
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
    tg_http_send_json(q, 200, json, strlen(json), NULL);
}

static void send_jti_replay(struct rq *q)
{
    tg_http_send_error(q, 409, "replay",
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
        tg_http_send_store_failure(q, rc);
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
        tg_http_send_error(q, 409, "replay",
                           "This delivery id was already used with a different "
                           "body; send a new id for a new request.");
    } else {
        tg_http_send_store_unavailable(q);
    }
    free(json);
    return 1;
}

/* What tg_decide's hooks need of the request. */
struct decide_ctx {
    struct rq *q;
    char *norm; /* the normalised justification, recorded with the decision */
    long uses;  /* the copy-forward count the decision saw (-1: none) */
};

/* The copy-forward count of REASONS.md, or -1 when the code is off or the
 * ticket has no justification (tg_decide's copy_forward hook). Returns 0
 * or TG_EIO / TG_ENOMEM. */
static int copy_forward(void *ctx, const struct tg_ticket *t, long *uses)
{
    struct decide_ctx *dc = ctx;
    struct rq *q = dc->q;
    const struct tg_policy *p = &q->cfg->policy;
    int64_t since;
    int rc;

    *uses = -1;
    if (!t->justification || !t->justification[0])
        return 0;
    rc =
        tg_justnorm_make(t->justification, strlen(t->justification), &dc->norm);
    if (rc != 0)
        return rc;
    /* The normalised text is recorded even when the check is off, so that
     * turning it on later finds the history. */
    if (!dc->norm[0] ||
        p->action[TG_JUSTIFICATION_COPY_FORWARD] == TG_ACTION_OFF)
        return 0;
    since = q->now - (int64_t)p->copy_window_days * 86400;
    rc = tg_evidence_copy_forward_count(q->h->ev, dc->norm, t->id, since,
                                        uses);
    dc->uses = rc == 0 ? *uses : -1; /* the shadow judges the same count */
    return rc;
}

/* The store's next sequence number and random bytes (tg_decide's id
 * hook). */
static int decision_id(void *ctx, const struct tg_ticket *t, uint64_t *seq,
                       unsigned char rnd[3])
{
    struct decide_ctx *dc = ctx;

    (void)t;
    if (id_random(rnd) != 0)
        return TG_EIO;
    *seq = tg_evidence_next_seq(dc->q->h->ev);
    return 0;
}

/* Answers the failure rc of tg_decide at o->step. */
static void decide_failed(struct rq *q, int rc, const struct tg_decided *o)
{
    if (o->step == TG_DECIDE_MAP && rc != TG_ENOMEM)
        tg_http_send_error_x(q, 422, "unmappable", o->err,
                             "The payload cannot be mapped to a ticket.", NULL);
    else if (o->step == TG_DECIDE_COPY_FORWARD)
        tg_http_send_store_failure(q, rc);
    else
        tg_http_send_internal(q);
}

/*
 * A skip records nothing, but its token is used up all the same: else a
 * token seen on an event outside the gates could carry a gated ticket
 * later. Returns 0 to answer the skip, -1 when answered otherwise.
 */
static int bind_skip_jti(struct rq *q, const char *endpoint, const char *jti)
{
    int rc;

    /* Waiting for the store is no work: the slot goes to another
     * request meanwhile (see record). */
    tg_http_work_end(q);
    rc = tg_evidence_bind_jti(q->h->ev, endpoint, jti, q->sha, q->now);
    if (rc == TG_ECONFLICT) {
        q->verdict = NULL;
        tg_http_work_begin(q); /* the store reads below are work again */
        if (!answer_known_jti(q, endpoint, jti))
            send_jti_replay(q);
        return -1;
    }
    if (rc != 0) {
        q->verdict = NULL;
        tg_http_send_store_failure(q, rc);
        return -1;
    }
    return 0;
}

/*
 * Appends the decision (text, text_len) of ticket to the evidence store.
 * Returns 0 to answer it, -1 when answered otherwise (a lost race, the
 * store failed).
 */
static int record(struct rq *q, const char *endpoint, const char *delivery,
                  const char *jti, const char *ticket, const char *norm,
                  const char *text, size_t text_len, const char *judged,
                  size_t judged_len, const char *facts, size_t facts_len,
                  const char *actions)
{
    struct tg_evidence_record rec = {
        .decision_id = q->decision_id,
        .ticket = ticket,
        .source = endpoint,
        .delivery_id = delivery,
        .policy_digest = q->cfg->digest,
        .time = q->now,
        .decision_json = text,
        .decision_len = text_len,
        .justification_norm = norm,
        .jti = jti,
        /* the judged ticket (core/judged.h), kept inside the chain */
        .judged_json = judged,
        .judged_len = judged_len,
        /* what replay and the report read of both (core/facts.h) */
        .facts_json = facts,
        .facts_len = facts_len,
        /* act-back (actback/plan.h), queued in the record's transaction */
        .actions_json = actions,
    };
    double t0;
    int rc;

    memcpy(rec.body_sha256, q->sha, sizeof(rec.body_sha256));
    t0 = tg_http_mono_s();
    /* The request sleeps until the writer thread committed its batch:
     * it gives its server.threads slot back first, so that another
     * request evaluates meanwhile (holding it through the wait made
     * every request sleep a second time, for a slot, under load). What
     * is left after the append (metrics, the answer) needs no slot:
     * tg_http_send_body gives it back anyway. */
    tg_http_work_end(q);
    rc = tg_evidence_append(q->h->ev, &rec);
    /* A lost race is no store failure. */
    tg_metrics_evidence_write(q->h->metrics, tg_http_mono_s() - t0,
                              rc == 0 || rc == TG_ECONFLICT);
    if (rc == TG_ECONFLICT && (delivery || jti)) {
        /* Another worker recorded this delivery or used this jti
         * between our lookup and our append: its record is the answer,
         * or a replay. */
        q->verdict = NULL;
        tg_http_work_begin(q); /* the store reads below are work again */
        if (!answer_known_jti(q, endpoint, jti) &&
            !answer_known_delivery(q, endpoint, delivery, NULL))
            tg_http_send_store_unavailable(q);
        return -1;
    }
    if (rc != 0) {
        const char *why = tg_evidence_failure(q->h->ev);

        /* The ticket, not the decision id: that decision exists
         * nowhere. The cause in words (the store logged it with its
         * path when it first failed). */
        tg_log_event(TG_LOG_ERROR, "evidence_error",
                     "evidence append failed for ticket %s: %s", ticket,
                     why              ? why
                     : rc == TG_EBUSY ? "the store stayed locked"
                                      : "the store failed the write");
        tg_http_send_store_unavailable(q);
        return -1;
    }
    return 0;
}

/* The act-back actions of the decision doc of endpoint (actback/plan.h;
 * payload: the request body) as JSON text in *out (caller frees), or NULL
 * when there are none. Returns 0 or TG_ENOMEM. */
static int plan_actions(struct rq *q, const char *endpoint, const json_t *doc,
                        const json_t *payload, char **out)
{
    json_t *v = NULL;
    size_t n;
    int rc;

    *out = NULL;
    if ((rc = tg_actback_plan(q->cfg, endpoint, doc, payload, &v)) != 0)
        return rc;
    /* json_dumpb into our own buffer: text jansson allocates inside the
     * request's arena must not reach free() (jarena.h). */
    n = json_array_size(v) > 0 ? json_dumpb(v, NULL, 0, JSON_COMPACT) : 0;
    if (n > 0 && (!(*out = malloc(n + 1)) ||
                  json_dumpb(v, *out, n, JSON_COMPACT) != n)) {
        free(*out);
        *out = NULL;
        rc = TG_ENOMEM;
    } else if (n > 0) {
        (*out)[n] = '\0';
    }
    json_decref(v);
    return rc;
}

/* Counts the decision and its findings, and sends it. */
static void answer_decision(struct rq *q, const char *endpoint,
                            const struct tg_result *res, const char *text,
                            size_t text_len)
{
    tg_metrics_decision(q->h->metrics, endpoint, res->verdict);
    tg_metrics_exception_uses(q->h->metrics, res);
    for (size_t i = 0; i < res->findings.n; i++) {
        tg_metrics_finding(q->h->metrics, res->findings.v[i].code);
        if (q->n_codes < TG_CODE_COUNT)
            q->codes[q->n_codes++] =
                tg_code_info(res->findings.v[i].code)->name;
    }
    tg_http_send_json(q, 200, text, text_len, NULL);
}

/* The decision, its judged ticket and its facts as text: in the request's
 * scratch (its arena's tail) when they fit, else each on the heap. Not on
 * the stack: a worker's stack stays resident as deep as any request took
 * it, on each of server.connections threads. */
struct texts {
    const char *doc, *judged, *facts;
    size_t doc_len, judged_len, facts_len;
    char *heap[3];
};

/* All three one after the other in one piece of scratch (2-4.5 KB
 * together): the fewer pages a pooled arena buffer has touched, the less
 * of it stays resident. */
#define TEXTS_SCRATCH 8192

/* Prints doc after the *used bytes of the scratch s (cap bytes; NULL:
 * none) or on the heap (*heap). Returns the text or NULL (ENOMEM). */
static const char *dump_next(const json_t *doc, char *s, size_t cap,
                             size_t *used, char **heap, size_t *len)
{
    const char *text;
    int in = s && *used < cap;

    text = tg_http_dump_doc(doc, in ? s + *used : NULL, in ? cap - *used : 0,
                            heap, len);
    if (text && !*heap)
        *used += *len + 1;
    return text;
}

/* Returns 0, or -1 (ENOMEM) with what was made in t->heap to free. */
static int dump_texts(struct rq *q, const struct tg_decided *o,
                      struct texts *t)
{
    char *s = tg_http_scratch(q, TEXTS_SCRATCH);
    size_t used = 0;

    *t = (struct texts){0};
    t->doc = dump_next(o->doc, s, TEXTS_SCRATCH, &used, &t->heap[0],
                       &t->doc_len);
    if (o->judged &&
        !(t->judged = dump_next(o->judged, s, TEXTS_SCRATCH, &used,
                                &t->heap[1], &t->judged_len)))
        return -1;
    if (o->facts &&
        !(t->facts = dump_next(o->facts, s, TEXTS_SCRATCH, &used, &t->heap[2],
                               &t->facts_len)))
        return -1;
    return t->doc ? 0 : -1;
}

/*
 * Decides the canonical ticket (tg_decide, as `check` does), records the
 * decision (unless skip) and answers. endpoint names the source whose
 * delivery ids and jtis these are; doc_source overrides the ticket's
 * source in the document (NULL: the ticket's own, else "generic"). gated 0
 * answers skip. jti (may be NULL) is used up with the record, or on its
 * own by a skip.
 */
static void decide(struct rq *q, const char *endpoint, const char *doc_source,
                   const char *delivery, const char *jti,
                   const json_t *canonical, int gated, const json_t *payload)
{
    struct decide_ctx dc = {.q = q, .norm = NULL, .uses = -1};
    const struct tg_decide d = {
        .cfg = q->cfg,
        .now = q->now,
        .gated = gated,
        .source = doc_source,
        .copy_forward = copy_forward,
        .id = decision_id,
        .ctx = &dc,
    };
    struct tg_decided o;
    struct texts t = {0};
    char err[512], *actions = NULL;
    int rc;

    tg_decided_init(&o, err, sizeof(err));
    rc = tg_decide(&d, canonical, &o);
    if (o.ticket.id && o.ticket.id[0])
        snprintf(q->ticket, sizeof(q->ticket), "%s", o.ticket.id);
    /* Only a failed map goes unlogged with its delivery (as before the
     * pipeline moved to core/decide.c). */
    if (delivery && (rc == 0 || o.step != TG_DECIDE_MAP || !canonical))
        snprintf(q->delivery, sizeof(q->delivery), "%s", delivery);
    if (rc != 0) {
        decide_failed(q, rc, &o);
        goto out;
    }
    snprintf(q->decision_id, sizeof(q->decision_id), "%s", o.decision_id);
    if (dump_texts(q, &o, &t) != 0) {
        tg_http_send_internal(q);
        goto out;
    }
    q->verdict = tg_verdict_name(o.result.verdict);
    if (o.result.verdict == TG_SKIP && jti &&
        bind_skip_jti(q, endpoint, jti) != 0)
        goto out;
    if ((o.result.verdict == TG_DENY || o.result.verdict == TG_ANNOTATE) &&
        plan_actions(q, endpoint, o.doc, payload, &actions) != 0) {
        tg_http_send_internal(q);
        goto out;
    }
    if (o.result.verdict != TG_SKIP &&
        record(q, endpoint, delivery, jti, o.ticket.id, dc.norm, t.doc,
               t.doc_len, t.judged, t.judged_len, t.facts, t.facts_len,
               actions) != 0)
        goto out;
    if (actions)
        tg_sender_wake(q->h->sender); /* after the commit: they are there */
    answer_decision(q, endpoint, &o.result, t.doc, t.doc_len);
    /* The answer is out: the candidate of policy.shadow may judge it now
     * (shadow.h; a no-op without one, and it never waits for the work). */
    if (o.result.verdict != TG_SKIP)
        tg_shadow_submit(q->h->shadow, q->decision_id, o.ticket.id, endpoint,
                         q->now, canonical, &o.result, dc.uses);
out:
    for (int i = 0; i < 3; i++)
        free(t.heap[i]);
    free(actions);
    free(dc.norm);
    tg_decided_cleanup(&o);
}

int tg_http_auth_generic(struct rq *q, char **jti)
{
    return auth_generic(q, jti);
}

/* ---------------------------------------------------------- endpoints */

void tg_http_on_check(struct rq *q)
{
    char *jti = NULL;
    json_t *body = NULL;

    if (tg_http_post_prelude(q) != 0 || auth_generic(q, &jti) != 0)
        goto out;
    tg_http_arena_begin(q);
    body = tg_http_parse_object(q);
    if (!body)
        goto out;
    /* The token's jti is also the delivery id here. */
    if (answer_known_jti(q, "generic", jti))
        goto out;
    decide(q, "generic", NULL, jti, jti, body, 1, NULL);
out:
    json_decref(body);
    free(jti);
}

static void map_failed(struct rq *q, int rc, const char *err)
{
    char msg[700];

    if (rc == TG_ENOMEM) {
        tg_http_send_internal(q);
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
    tg_http_send_error_x(q, 422, "unmappable", msg,
                         "The payload cannot be mapped to a ticket.", NULL);
}

static void on_webhook(struct rq *q, const struct tg_adapter *w)
{
    struct tg_http_req r;
    char *delivery = NULL, *jti = NULL, *event_id = NULL, err[512];
    const char *id;
    json_t *body = NULL, *canon = NULL;
    int gated = 0, rc;

    if (tg_http_post_prelude(q) != 0)
        goto out;
    fill_req(q, &r);
    tg_jarena_assert_outside(); /* libjwt: see jarena.h */
    rc = w->authenticate(q->cfg, &r, &delivery, &jti);
    if (rc == TG_ENOMEM) {
        tg_http_send_internal(q);
        goto out;
    }
    if (rc != 0) {
        tg_http_send_unauthenticated(q, w->bearer);
        goto out;
    }
    tg_http_arena_begin(q);
    body = tg_http_parse_object(q);
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
    decide(q, w->source, w->source, id, jti, canon, gated, body);
out:
    json_decref(canon);
    json_decref(body);
    free(event_id);
    free(jti);
    free(delivery);
}

void tg_http_on_jira(struct rq *q)
{
    on_webhook(q, tg_adapter_find("jira"));
}

void tg_http_on_servicenow(struct rq *q)
{
    on_webhook(q, tg_adapter_find("servicenow"));
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

int tg_http_query_ticket(struct rq *q, const char *route, char *dst,
                         size_t cap)
{
    const char *qs = q->ri->query_string;
    char msg[128];
    int rc = qs ? query_var(qs, strlen(qs), "ticket", dst, cap) : -1;

    if (rc == -3) {
        tg_http_send_error(q, 400, "bad_request",
                           "The ticket id holds a NUL byte (%00); no ticket id "
                           "does.");
        return -1;
    }
    if (rc <= 0) {
        int n = snprintf(msg, sizeof(msg),
                         "Name the ticket: GET %s?ticket=KEY.", route);

        tg_http_send_error(q, 400, "bad_request",
                           n > 0 && (size_t)n < sizeof(msg)
                               ? msg
                               : "Name the ticket: ?ticket=KEY.");
        return -1;
    }
    return 0;
}

/* GET /v1/decisions?ticket=KEY[&limit=N][&before=CURSOR] */
void tg_http_on_list(struct rq *q)
{
    const char *qs = q->ri->query_string;
    char ticket[512], num[32], *jti = NULL, *text = NULL;
    uint64_t limit = TG_DECISIONS_DEFAULT_LIMIT, before = 0;
    json_t *out = NULL;
    size_t qlen = qs ? strlen(qs) : 0;
    int rc;

    tg_http_work_begin(q);
    if (auth_generic(q, &jti) != 0)
        goto out;
    if (tg_http_query_ticket(q, "/v1/decisions", ticket, sizeof(ticket)))
        goto out;
    rc = query_var(qs, qlen, "limit", num, sizeof(num));
    if (rc != -1 && (rc < 0 ||
                     tg_number_parse_u64(num, strlen(num),
                                         TG_DECISIONS_MAX_LIMIT, &limit) != 0 ||
                     limit == 0)) {
        char msg[96];
        snprintf(msg, sizeof(msg), "limit must be a whole number from 1 to %d.",
                 TG_DECISIONS_MAX_LIMIT);
        tg_http_send_error(q, 400, "bad_request", msg);
        goto out;
    }
    rc = query_var(qs, qlen, "before", num, sizeof(num));
    if (rc != -1 && (rc < 0 || tg_number_parse_u64(num, strlen(num), UINT64_MAX,
                                                   &before) != 0)) {
        tg_http_send_error(
            q, 400, "bad_request",
            "before must be the cursor a previous page returned as "
            "next.");
        goto out;
    }
    rc = tg_evidence_list(q->h->ev, ticket, (int)limit, before, &out);
    if (rc != 0) {
        tg_http_send_store_failure(q, rc);
        goto out;
    }
    text = json_dumps(out, JSON_COMPACT);
    if (!text) {
        tg_http_send_internal(q);
        goto out;
    }
    tg_http_send_json(q, 200, text, strlen(text), NULL);
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
void tg_http_on_get(struct rq *q, const char *id)
{
    char *jti = NULL, *json = NULL;
    int rc;

    tg_http_work_begin(q);
    if (auth_generic(q, &jti) != 0)
        goto out;
    rc = plausible_id(id) ? tg_evidence_get(q->h->ev, id, &json) : TG_ENOTFOUND;
    if (rc == TG_ENOTFOUND) {
        tg_http_send_error(q, 404, "not_found", "No decision has this id.");
        goto out;
    }
    if (rc != 0) {
        tg_http_send_store_failure(q, rc);
        goto out;
    }
    tg_http_send_json(q, 200, json, strlen(json), NULL);
out:
    free(json);
    free(jti);
}

void tg_http_on_healthz(struct rq *q)
{
    static const char ok[] = "{\"status\":\"ok\"}";
    tg_http_send_json(q, 200, ok, sizeof(ok) - 1, NULL);
}

void tg_http_on_readyz(struct rq *q)
{
    static const char ok[] = "{\"status\":\"ready\"}";

    if (q->cfg && tg_evidence_ready(q->h->ev)) {
        /* policy.shadow: its state too, a candidate that does not load
         * with the reason; still 200, the live policy is fine. */
        json_t *sh = tg_shadow_status(q->h->shadow), *doc = NULL;
        char *text = NULL;
        if (sh && (doc = json_pack("{s:s,s:o}", "status", "ready", "shadow",
                                   sh)) &&
            (text = json_dumps(doc, JSON_COMPACT)))
            tg_http_send_json(q, 200, text, strlen(text), NULL);
        else
            tg_http_send_json(q, 200, ok, sizeof(ok) - 1, NULL);
        free(text);
        json_decref(doc);
        return;
    }
    tg_http_send_error(
        q, 503, "store_unavailable",
        "The evidence store does not take writes; see the server "
        "log.");
}

/* The outbox gauges, read from the store at each scrape (a count over an
 * index: cheap at scrape rates). A failed read keeps the last values. */
static void outbox_gauges(struct rq *q)
{
    int64_t oldest = 0, now;
    long pending = 0;

    if (tg_outbox_stats(q->h->ev, &pending, &oldest) != 0)
        return;
    now = tg_clock_wall_ms();
    tg_metrics_set_outbox(q->h->metrics, pending,
                          pending > 0 && oldest > 0 && now > oldest
                              ? (long long)(now - oldest)
                              : 0);
}

/* Prometheus text exposition format 0.0.4 (server/metrics.c). */
void tg_http_on_metrics(struct rq *q)
{
    char *text = NULL;
    size_t len = 0;

    tg_metrics_set_ready(q->h->metrics, tg_evidence_ready(q->h->ev));
    outbox_gauges(q);
    tg_http_outcomes_refresh(q);
    if (tg_metrics_render(q->h->metrics, &text, &len) != 0) {
        tg_http_send_internal(q);
        return;
    }
    tg_http_send_body(q, 200, "text/plain; version=0.0.4", text, len, NULL);
    free(text);
}

/* POST /v1/admin/reload: what SIGHUP does, for orchestrators that cannot
 * send signals. Only on the admin listener. */
void tg_http_on_reload(struct rq *q)
{
    char why[512], *text = NULL;
    struct tg_cfgref *now;
    uint64_t gen;
    json_t *doc;

    if (tg_http_reload_file(q->h, q->cfg->path, why, sizeof(why)) != 0) {
        tg_http_send_error_x(
            q, 422, "invalid_config", why,
            "The configuration does not load; the previous one "
            "stays in force.",
            NULL);
        return;
    }
    now = tg_http_current(q->h, &gen);
    doc = json_pack("{s:s,s:s}", "status", "reloaded", "policy",
                    tg_cfgref_config(now)->digest);
    tg_cfgref_put(now);
    text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    if (text)
        tg_http_send_json(q, 200, text, strlen(text), NULL);
    else
        tg_http_send_internal(q);
    free(text);
    json_decref(doc);
}
