/* shadow.c - the shadow policy: live decisions decided under a candidate too. */
#include "server/http/shadow.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/config/cfgref.h"
#include "server/core/change.h"
#include "server/core/decide.h"
#include "server/core/justnorm.h"
#include "server/util/log.h"
#include "server/util/thread.h"
#include "validators/errors.h"

/* One live decision waiting for the candidate. */
struct item {
    char decision_id[32];
    char *ticket; /* ticket and source share one allocation */
    char *source;
    int64_t now;
    long uses; /* the copy-forward count live judged, or -1 */
    struct tg_change_side live;
    char *canon; /* the canonical ticket's JSON text */
    size_t canon_len;
};

struct tg_shadow {
    struct tg_metrics *metrics;
    struct tg_evidence *ev;

    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t work;  /* an item was queued, or stop */
    struct item *ring[TG_SHADOW_QUEUE];
    size_t head, tail;    /* counters; slot = n % TG_SHADOW_QUEUE */
    int stop;
    struct tg_cfgref *cand; /* the candidate in force, or NULL */
    char *path;             /* policy.shadow as configured, or NULL */
    char *error;            /* why the candidate does not load, or NULL */

    pthread_mutex_t cfg_lock; /* one configure at a time */
    pthread_t thread;
};

static void item_free(struct item *it)
{
    if (!it)
        return;
    free(it->ticket);
    free(it->canon);
    free(it);
}

/* ---------------------------------------------------------- deciding */

/* The candidate's copy-forward count (tg_decide's copy_forward hook): the
 * count live judged (tg_shadow_submit says why), else, when live did not
 * count, the store's with the candidate's window. */
struct hook_ctx {
    struct tg_evidence *ev;
    const struct tg_config *cfg;
    int64_t now;
    long live_uses;
};

static int copy_forward(void *ctx, const struct tg_ticket *t, long *uses)
{
    const struct hook_ctx *h = ctx;
    const struct tg_policy *p = &h->cfg->policy;
    char *norm = NULL;
    int rc;

    *uses = -1;
    if (h->live_uses >= 0) {
        *uses = h->live_uses;
        return 0;
    }
    if (!t->justification || !t->justification[0] || !h->ev ||
        p->action[TG_JUSTIFICATION_COPY_FORWARD] == TG_ACTION_OFF)
        return 0;
    rc = tg_justnorm_make(t->justification, strlen(t->justification), &norm);
    if (rc == 0 && norm[0])
        rc = tg_evidence_copy_forward_count(
            h->ev, norm, t->id, h->now - (int64_t)p->copy_window_days * 86400,
            uses);
    free(norm);
    return rc;
}

/* The chain entry of a difference: what live decided, what the candidate
 * would have, and the candidate's whole decision document. */
static char *entry_json(const struct item *it, const struct tg_config *cand,
                        const struct tg_change_side *shadow, json_t *doc)
{
    enum tg_code codes[TG_CODE_COUNT];
    size_t n = tg_change_codes(&it->live, shadow, codes);
    json_t *e, *arr = json_array();
    char *text = NULL;

    for (size_t i = 0; arr && i < n; i++)
        if (json_array_append_new(
                arr, json_pack("{s:s,s:s,s:s}", "code",
                               tg_code_info(codes[i])->name, "from",
                               tg_change_action_name(&it->live, codes[i]),
                               "to",
                               tg_change_action_name(shadow, codes[i]))) != 0)
            break;
    e = json_pack("{s:s,s:s,s:s,s:s,s:s,s:o,s:O}", "decision_id",
                  it->decision_id, "config", cand->path, "policy",
                  cand->digest, "from", tg_verdict_name(it->live.verdict),
                  "to", tg_verdict_name(shadow->verdict), "codes", arr,
                  "decision", doc);
    if (e)
        text = json_dumps(e, JSON_COMPACT);
    json_decref(e);
    return text;
}

/* Counts, logs and records one difference. */
static void report(struct tg_shadow *s, const struct item *it,
                   const struct tg_config *cand,
                   const struct tg_change_side *shadow, json_t *doc)
{
    enum tg_code codes[TG_CODE_COUNT];
    size_t n = tg_change_codes(&it->live, shadow, codes), off = 0;
    char names[512], *text;
    int rc;

    names[0] = '\0';
    if (n == 0)
        tg_metrics_shadow_change(s->metrics, it->live.verdict, shadow->verdict,
                                 -1);
    for (size_t i = 0; i < n; i++) {
        int w;
        tg_metrics_shadow_change(s->metrics, it->live.verdict, shadow->verdict,
                                 (int)codes[i]);
        w = snprintf(names + off, sizeof(names) - off, "%s%s %s->%s",
                     off ? ", " : "", tg_code_info(codes[i])->name,
                     tg_change_action_name(&it->live, codes[i]),
                     tg_change_action_name(shadow, codes[i]));
        if (w > 0 && (size_t)w < sizeof(names) - off)
            off += (size_t)w;
    }
    tg_log_event(TG_LOG_INFO, "shadow_change",
                 "decision %s of ticket %s: %s under the live policy, %s "
                 "under the shadow policy %s%s%s%s",
                 it->decision_id, it->ticket, tg_verdict_name(it->live.verdict),
                 tg_verdict_name(shadow->verdict), cand->digest,
                 n ? " (" : "", names, n ? ")" : "");
    /* The candidate's document names the decision it shadows. */
    json_object_set_new(doc, "decision_id", json_string(it->decision_id));
    text = entry_json(it, cand, shadow, doc);
    if (!text) {
        tg_log_event(TG_LOG_WARN, "shadow_error",
                     "decision %s: out of memory recording its shadow",
                     it->decision_id);
        return;
    }
    const struct tg_evidence_entry en = {
        .kind = "shadow",
        .key = it->decision_id,
        .ticket = it->ticket,
        .source = it->source,
        .time = it->now,
        .json = text,
        .len = strlen(text),
    };
    rc = s->ev ? tg_evidence_append_entry(s->ev, &en) : 0;
    if (rc != 0 && rc != TG_ECONFLICT)
        tg_log_event(TG_LOG_WARN, "shadow_error",
                     "decision %s: its shadow entry could not be recorded "
                     "(%s)",
                     it->decision_id,
                     rc == TG_EBUSY ? "the store stayed locked"
                                    : "the store failed the write");
    free(text);
}

/* Decides it under cand and reports a difference. */
static void decide_one(struct tg_shadow *s, const struct item *it,
                       const struct tg_config *cand)
{
    struct hook_ctx hc = {
        .ev = s->ev, .cfg = cand, .now = it->now, .live_uses = it->uses};
    const struct tg_decide d = {
        .cfg = cand,
        .now = it->now,
        .gated = 1,
        .source = it->source,
        .copy_forward = copy_forward,
        .ctx = &hc,
        .no_judged = 1, /* the live record holds it */
    };
    struct tg_change_side shadow;
    struct tg_decided o;
    json_error_t jerr;
    json_t *canon = json_loadb(it->canon, it->canon_len, 0, &jerr);
    char err[256];
    int rc;

    tg_decided_init(&o, err, sizeof(err));
    rc = canon ? tg_decide(&d, canon, &o) : TG_ENOMEM;
    if (rc != 0) {
        tg_log_event(TG_LOG_WARN, "shadow_error",
                     "decision %s: the shadow policy could not decide it "
                     "(%s)",
                     it->decision_id,
                     o.step == TG_DECIDE_MAP && canon ? err
                     : o.step == TG_DECIDE_COPY_FORWARD
                         ? "the store could not count copy-forward uses"
                         : "out of memory");
        tg_metrics_shadow_evaluated(s->metrics, 0);
        goto out;
    }
    tg_change_from_result(&o.result, &shadow);
    if (tg_change_differs(&it->live, &shadow))
        report(s, it, cand, &shadow, o.doc);
    /* Counted once done: a difference is logged and recorded by then. */
    tg_metrics_shadow_evaluated(s->metrics, 1);
out:
    tg_decided_cleanup(&o);
    json_decref(canon);
}

static void *run(void *arg)
{
    struct tg_shadow *s = arg;

    tg_thread_name("tg-shadow");
    pthread_mutex_lock(&s->lock);
    for (;;) {
        struct item *it;
        struct tg_cfgref *cand;
        while (s->head == s->tail && !s->stop)
            pthread_cond_wait(&s->work, &s->lock);
        if (s->stop)
            break;
        it = s->ring[s->head % TG_SHADOW_QUEUE];
        s->head++;
        cand = s->cand ? tg_cfgref_get(s->cand) : NULL;
        pthread_mutex_unlock(&s->lock);
        /* A candidate removed since the item was queued decides nothing. */
        if (cand)
            decide_one(s, it, tg_cfgref_config(cand));
        tg_cfgref_put(cand);
        item_free(it);
        pthread_mutex_lock(&s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* ---------------------------------------------------------- interface */

int tg_shadow_new(struct tg_metrics *m, struct tg_evidence *ev,
                  struct tg_shadow **out)
{
    struct tg_shadow *s = calloc(1, sizeof(*s));

    if (!s)
        return TG_ENOMEM;
    s->metrics = m;
    s->ev = ev;
    if (pthread_mutex_init(&s->lock, NULL) != 0)
        goto fail_lock;
    if (pthread_mutex_init(&s->cfg_lock, NULL) != 0)
        goto fail_cfg_lock;
    if (pthread_cond_init(&s->work, NULL) != 0)
        goto fail_work;
    if (pthread_create(&s->thread, NULL, run, s) != 0)
        goto fail_thread;
    *out = s;
    return 0;

fail_thread:
    pthread_cond_destroy(&s->work);
fail_work:
    pthread_mutex_destroy(&s->cfg_lock);
fail_cfg_lock:
    pthread_mutex_destroy(&s->lock);
fail_lock:
    free(s);
    return TG_ENOMEM;
}

void tg_shadow_free(struct tg_shadow *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    s->stop = 1;
    pthread_cond_broadcast(&s->work);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    for (; s->head != s->tail; s->head++)
        item_free(s->ring[s->head % TG_SHADOW_QUEUE]);
    tg_cfgref_put(s->cand);
    free(s->path);
    free(s->error);
    pthread_cond_destroy(&s->work);
    pthread_mutex_destroy(&s->cfg_lock);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* Why path does not load, in one sentence (caller frees), or NULL. */
static char *load_failure(const char *path, int rc, const struct tg_diag *d)
{
    char buf[1024];

    snprintf(buf, sizeof(buf),
             "The shadow policy %s does not load (%s); the live policy is "
             "unaffected, and no request is shadowed until it loads.",
             path,
             d->n             ? d->msgs[0]
             : rc == TG_ENOMEM ? "out of memory"
                               : "unreadable");
    return strdup(buf);
}

void tg_shadow_configure(struct tg_shadow *s, const struct tg_config *live)
{
    struct tg_config *c = NULL;
    struct tg_cfgref *ref = NULL, *old;
    struct tg_diag d;
    char *path = NULL, *error = NULL;
    int rc;

    if (!s)
        return;
    pthread_mutex_lock(&s->cfg_lock);
    tg_diag_init(&d);
    if (live->shadow_path) {
        path = strdup(live->shadow_path);
        rc = tg_config_load(live->shadow_path, &c, &d);
        for (size_t i = 0; i < d.n; i++)
            tg_log_event(TG_LOG_ERROR, "shadow_problem", "%s", d.msgs[i]);
        if (rc == 0 && !(ref = tg_cfgref_new(c)))
            rc = TG_ENOMEM;
        if (rc != 0) {
            error = load_failure(live->shadow_path, rc, &d);
            tg_log_event(TG_LOG_ERROR, "shadow_failed", "%s",
                         error ? error : "the shadow policy does not load");
        } else {
            tg_log_event(TG_LOG_INFO, "shadow",
                         "shadow policy %s in force: %s",
                         tg_cfgref_config(ref)->digest, live->shadow_path);
        }
    }
    pthread_mutex_lock(&s->lock);
    old = s->cand;
    s->cand = ref;
    free(s->path);
    free(s->error);
    s->path = path;
    s->error = error;
    pthread_mutex_unlock(&s->lock);
    tg_cfgref_put(old);
    tg_diag_cleanup(&d);
    pthread_mutex_unlock(&s->cfg_lock);
}

void tg_shadow_submit(struct tg_shadow *s, const char *decision_id,
                      const char *ticket, const char *source, int64_t now,
                      const json_t *canonical, const struct tg_result *live,
                      long copy_forward_uses)
{
    struct item *it;
    size_t tl, sl, n;
    int full;

    if (!s || !canonical)
        return;
    pthread_mutex_lock(&s->lock);
    full = s->tail - s->head >= TG_SHADOW_QUEUE;
    if (!s->cand) {
        pthread_mutex_unlock(&s->lock);
        return;
    }
    pthread_mutex_unlock(&s->lock);
    if (full)
        goto drop;
    if (!ticket)
        ticket = "";
    if (!source)
        source = "";
    tl = strlen(ticket);
    sl = strlen(source);
    n = json_dumpb(canonical, NULL, 0, JSON_COMPACT);
    if (n == 0 || !(it = calloc(1, sizeof(*it))))
        goto drop;
    snprintf(it->decision_id, sizeof(it->decision_id), "%s", decision_id);
    it->now = now;
    it->uses = copy_forward_uses;
    tg_change_from_result(live, &it->live);
    it->ticket = malloc(tl + sl + 2);
    it->canon = malloc(n);
    if (!it->ticket || !it->canon ||
        json_dumpb(canonical, it->canon, n, JSON_COMPACT) != n) {
        item_free(it);
        goto drop;
    }
    it->canon_len = n;
    memcpy(it->ticket, ticket, tl + 1);
    it->source = it->ticket + tl + 1;
    memcpy(it->source, source, sl + 1);
    pthread_mutex_lock(&s->lock);
    if (s->tail - s->head >= TG_SHADOW_QUEUE || s->stop) {
        pthread_mutex_unlock(&s->lock);
        item_free(it);
        goto drop;
    }
    s->ring[s->tail % TG_SHADOW_QUEUE] = it;
    s->tail++;
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->lock);
    return;
drop:
    tg_metrics_shadow_evaluated(s->metrics, 0);
}

json_t *tg_shadow_status(struct tg_shadow *s)
{
    json_t *o = NULL;

    if (!s)
        return NULL;
    pthread_mutex_lock(&s->lock);
    if (s->path && s->cand)
        o = json_pack("{s:s,s:s}", "config", s->path, "policy",
                      tg_cfgref_config(s->cand)->digest);
    else if (s->path)
        o = json_pack("{s:s,s:s}", "config", s->path, "error",
                      s->error ? s->error : "the shadow policy does not load");
    pthread_mutex_unlock(&s->lock);
    return o;
}
