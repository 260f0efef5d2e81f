/* sender.c - the act-back sender thread and its workers: claim due actions
 * from the outbox, deliver them, settle every attempt. */
#include "server/actback/sender.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/actback/deliver.h"
#include "server/util/clock.h"
#include "server/util/log.h"
#include "server/util/metrics.h"
#include "server/util/thread.h"
#include "validators/errors.h"

/* Worker threads at most (each a curl handle and its connections). */
#define TG_SENDER_MAX_WORKERS 8
/* How often the outbox is looked at without a wake: a retry's next_at is
 * met within this. */
#define TG_SENDER_POLL_MS 500
/* An attempt may take TG_SENDER_ATTEMPT_REQUESTS request timeouts (its
 * requests' timeouts are cut to fit: a transition takes three requests, a
 * retried comment a page of comments or more, then the post); its lease is
 * one timeout and TG_SENDER_LEASE_SLACK_MS longer, so a lease never runs
 * out under a live attempt, and an attempt cut by a crash is due again
 * soon (50 s with the default 10 s timeout). */
#define TG_SENDER_ATTEMPT_REQUESTS 3
#define TG_SENDER_LEASE_SLACK_MS 10000

struct host {
    char *name; /* scheme://host[:port] */
    int cap, inflight;
};

struct worker {
    struct tg_sender *s;
    pthread_t thread;
    int started;
    struct tg_actback_http *http;
};

struct tg_sender {
    struct tg_evidence *e;
    struct tg_metrics *m;
    struct tg_actback_target targets[2];
    int target_host[2]; /* index into hosts */
    int max_attempts[2];
    int64_t base_ms[2], max_ms[2];
    size_t n_targets;
    struct host hosts[2];
    size_t n_hosts;
    int64_t lease_ms;   /* of a claim */
    int64_t attempt_ms; /* the longest an attempt may take (< lease_ms) */

    pthread_mutex_t lock;
    pthread_cond_t cond;      /* the claiming thread waits here */
    pthread_cond_t work_cond; /* workers wait here */
    atomic_int stop;
    int woken;
    json_t *queue[TG_SENDER_MAX_WORKERS]; /* claimed, not yet started */
    size_t n_queued;
    const char *busy[TG_SENDER_MAX_WORKERS]; /* tickets being delivered */
    int64_t running_ids[TG_SENDER_MAX_WORKERS]; /* their action ids */
    size_t n_running;

    pthread_t thread;
    int thread_started;
    struct worker workers[TG_SENDER_MAX_WORKERS];
    size_t n_workers;
};

/* ------------------------------------------------------------ settings */

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void wipe_free(char *s)
{
    if (s) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

/* scheme://host[:port] of url into a new string; NULL on ENOMEM. */
static char *host_of(const char *url)
{
    const char *p = strstr(url, "://"), *e;
    p = p ? p + 3 : url;
    e = strchr(p, '/');
    return strndup(url, e ? (size_t)(e - url) : strlen(url));
}

static int add_target(struct tg_sender *s, const char *system,
                      const struct tg_actback_conf *ac)
{
    struct tg_actback_target *t = &s->targets[s->n_targets];
    size_t i, n;
    char *host;

    if (!ac->set || !ac->base_url)
        return 0;
    snprintf(t->system, sizeof(t->system), "%s", system);
    t->base_url = strdup(ac->base_url);
    if (!t->base_url)
        return TG_ENOMEM;
    n = strlen(t->base_url);
    while (n > 0 && t->base_url[n - 1] == '/')
        t->base_url[--n] = '\0';
    t->host = host_of(t->base_url);
    t->user = dup_or_null(ac->user);
    t->secret = dup_or_null(ac->secret);
    t->bearer = dup_or_null(ac->bearer);
    t->api_version = ac->api_version == 2 ? 2 : 3;
    t->internal = ac->comment_internal;
    s->max_attempts[s->n_targets] = ac->max_attempts > 0 ? ac->max_attempts
                                                         : 10;
    s->base_ms[s->n_targets] = ac->retry_base_ms > 0 ? ac->retry_base_ms
                                                     : 300000;
    s->max_ms[s->n_targets] = ac->retry_max_ms > 0 ? ac->retry_max_ms
                                                   : 21600000;
    s->n_targets++;
    if (!t->host || (ac->user && !t->user) || (ac->secret && !t->secret) ||
        (ac->bearer && !t->bearer))
        return TG_ENOMEM;
    /* One cap per host: two systems behind one host share it (the
     * smaller of their settings). */
    host = t->host;
    for (i = 0; i < s->n_hosts; i++)
        if (strcmp(s->hosts[i].name, host) == 0)
            break;
    if (i == s->n_hosts) {
        s->hosts[i].name = strdup(host);
        if (!s->hosts[i].name)
            return TG_ENOMEM;
        s->hosts[i].cap = ac->max_per_host > 0 ? ac->max_per_host : 4;
        s->n_hosts++;
    } else if (ac->max_per_host > 0 && ac->max_per_host < s->hosts[i].cap) {
        s->hosts[i].cap = ac->max_per_host;
    }
    s->target_host[s->n_targets - 1] = (int)i;
    {
        int64_t to = ac->timeout_ms > 0 ? ac->timeout_ms : 10000;
        int64_t attempt = to * TG_SENDER_ATTEMPT_REQUESTS;
        if (attempt > s->attempt_ms)
            s->attempt_ms = attempt;
        if (attempt + to + TG_SENDER_LEASE_SLACK_MS > s->lease_ms)
            s->lease_ms = attempt + to + TG_SENDER_LEASE_SLACK_MS;
    }
    return 0;
}

static void free_settings(struct tg_sender *s)
{
    size_t i;
    for (i = 0; i < s->n_targets; i++) {
        struct tg_actback_target *t = &s->targets[i];
        free(t->base_url);
        free(t->host);
        free(t->user);
        wipe_free(t->secret);
        wipe_free(t->bearer);
    }
    for (i = 0; i < s->n_hosts; i++)
        free(s->hosts[i].name);
}

static long timeout_of(const struct tg_config *c)
{
    int a = c->jira.act_back.set ? c->jira.act_back.timeout_ms : 0;
    int b = c->servicenow.act_back.set ? c->servicenow.act_back.timeout_ms : 0;
    int t = a > b ? a : b;
    return t > 0 ? t : 10000;
}

static int str_differ(const char *a, const char *b)
{
    if (!a || !b)
        return a != b;
    return strcmp(a, b) != 0;
}

static int conf_differ(const struct tg_actback_conf *a,
                       const struct tg_actback_conf *b)
{
    return a->set != b->set || str_differ(a->base_url, b->base_url) ||
           str_differ(a->user, b->user) || str_differ(a->secret, b->secret) ||
           str_differ(a->bearer, b->bearer) ||
           a->api_version != b->api_version ||
           a->comment_internal != b->comment_internal ||
           a->max_attempts != b->max_attempts ||
           a->timeout_ms != b->timeout_ms ||
           a->max_per_host != b->max_per_host ||
           a->retry_base_ms != b->retry_base_ms ||
           a->retry_max_ms != b->retry_max_ms;
}

int tg_sender_settings_differ(const struct tg_config *a,
                              const struct tg_config *b)
{
    return conf_differ(&a->jira.act_back, &b->jira.act_back) ||
           conf_differ(&a->servicenow.act_back, &b->servicenow.act_back);
}

/* ------------------------------------------------------------ delivery */

static const char *sget(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static int target_of(const struct tg_sender *s, const char *system)
{
    size_t i;
    for (i = 0; system && i < s->n_targets; i++)
        if (strcmp(s->targets[i].system, system) == 0)
            return (int)i;
    return -1;
}

static uint64_t random64(void)
{
    uint64_t r = 0;
    if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
        r = (uint64_t)tg_clock_wall_ms() * 6364136223846793005ULL;
    return r;
}

static const char *outcome_label(enum tg_actback_outcome o)
{
    switch (o) {
    case TG_ACTBACK_DELIVERED:
        return "delivered";
    case TG_ACTBACK_SKIPPED:
        return "skipped";
    case TG_ACTBACK_RETRY:
        return "retry";
    default:
        return "dead";
    }
}

/* Settles one attempt of action a (its result res) and says so in the log
 * and the metrics. */
static void settle(struct tg_sender *s, const json_t *a, int ti,
                   struct tg_actback_result *res)
{
    int64_t id = json_integer_value(json_object_get(a, "id"));
    int attempt = (int)json_integer_value(json_object_get(a, "attempts"));
    const char *system = sget(a, "system"), *action = sget(a, "action");
    const char *ticket = sget(a, "ticket"), *dec = sget(a, "decision_id");
    const char *outcome, *err = res->error[0] ? res->error : NULL;
    int64_t now = tg_clock_wall_ms(), next_at = now;
    int rc;

    if (ti >= 0)
        next_at += tg_actback_schedule(res, attempt, s->max_attempts[ti],
                                       s->base_ms[ti], s->max_ms[ti],
                                       random64());
    else if (res->outcome == TG_ACTBACK_RETRY)
        res->outcome = TG_ACTBACK_DEAD; /* cannot happen: no target, dead */
    switch (res->outcome) {
    case TG_ACTBACK_DELIVERED:
    case TG_ACTBACK_SKIPPED:
        outcome = "delivered";
        break;
    case TG_ACTBACK_RETRY:
        outcome = "retry";
        break;
    default:
        outcome = "dead";
        break;
    }
    rc = tg_outbox_settle(s->e, id, outcome, next_at, err);
    if (rc != 0)
        tg_log_event(TG_LOG_WARN, "actback_settle_failed",
                     "action %" PRId64 " (%s %s of %s): the outcome \"%s\" "
                     "could not be recorded (store error %d); the action is "
                     "due again when its lease runs out",
                     id, system ? system : "?", action ? action : "?",
                     ticket ? ticket : "?", outcome, rc);
    if (s->m)
        tg_metrics_action(s->m, system, action, outcome_label(res->outcome));
    if (res->outcome == TG_ACTBACK_DEAD)
        tg_log_event(TG_LOG_ERROR, "actback_dead",
                     "action %" PRId64 " (%s %s of %s, decision %s) is a dead "
                     "letter after attempt %d: %s; `ticketgate outbox retry "
                     "%" PRId64 "` sends it again",
                     id, system ? system : "?", action ? action : "?",
                     ticket ? ticket : "?", dec ? dec : "?", attempt,
                     res->error, id);
    else if (res->outcome == TG_ACTBACK_RETRY && !res->stopped)
        tg_log_event(TG_LOG_WARN, "actback_retry",
                     "action %" PRId64 " (%s %s of %s) attempt %d failed: %s; "
                     "next in %.1f s",
                     id, system ? system : "?", action ? action : "?",
                     ticket ? ticket : "?", attempt, res->error,
                     (double)(next_at - now) / 1000.0);
    else if (tg_log_enabled(TG_LOG_DEBUG))
        tg_log_event(TG_LOG_DEBUG, "actback_delivered",
                     "action %" PRId64 " (%s %s of %s) %s%s%s", id,
                     system ? system : "?", action ? action : "?",
                     ticket ? ticket : "?", outcome_label(res->outcome),
                     err ? ": " : "", err ? err : "");
}

static void deliver(struct worker *w, const json_t *a)
{
    struct tg_sender *s = w->s;
    struct tg_actback_result res = {.outcome = TG_ACTBACK_DEAD,
                                    .retry_after_ms = -1};
    const char *system = sget(a, "system"), *action = sget(a, "action");
    const json_t *params = json_object_get(a, "params");
    int ti = target_of(s, system);
    int attempt = (int)json_integer_value(json_object_get(a, "attempts"));
    /* An earlier attempt (this life or one cut by a crash: the claim
     * counted it) may have landed. */
    int retried = attempt > 1 || json_is_string(json_object_get(a,
                                                                "last_error"));

    /* The lease began at the claim, not now (it may have waited its
     * turn behind another action of its ticket or host). */
    tg_actback_http_deadline(
        w->http, json_integer_value(json_object_get(a, "claimed_mono")) +
                     s->attempt_ms);
    if (ti < 0 || !action) {
        snprintf(res.error, sizeof(res.error),
                 "sources.%.20s.act_back is not configured (any more)",
                 system ? system : "?");
    } else if (strcmp(system, "jira") == 0) {
        tg_actback_jira_deliver(w->http, &s->targets[ti], action,
                                sget(a, "ticket"), params, retried, &res);
    } else {
        tg_actback_sn_deliver(w->http, &s->targets[ti], action, params,
                              retried, &res);
    }
    settle(s, a, ti, &res);
}

/* --------------------------------------------------------------- threads */

static int ticket_busy(const struct tg_sender *s, const char *ticket)
{
    size_t i;
    for (i = 0; ticket && i < s->n_running; i++)
        if (s->busy[i] && strcmp(s->busy[i], ticket) == 0)
            return 1;
    return 0;
}

/* The first queued action whose host has room and whose ticket has no
 * action in flight (a ticket's actions go in order: comment, then
 * transition, then label), or -1. Caller holds the lock. */
static int eligible(const struct tg_sender *s)
{
    size_t i;
    for (i = 0; i < s->n_queued; i++) {
        const json_t *a = s->queue[i];
        int ti = target_of(s, sget(a, "system"));
        if (ticket_busy(s, sget(a, "ticket")))
            continue;
        if (ti >= 0) {
            const struct host *h = &s->hosts[s->target_host[ti]];
            if (h->inflight >= h->cap)
                continue;
        }
        return (int)i;
    }
    return -1;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct tg_sender *s = w->s;

    tg_thread_name("tg-actback-send");
    pthread_mutex_lock(&s->lock);
    for (;;) {
        json_t *a;
        int i = -1, ti;
        size_t k;

        while (!atomic_load(&s->stop) && (i = eligible(s)) < 0)
            pthread_cond_wait(&s->work_cond, &s->lock);
        if (atomic_load(&s->stop))
            break;
        a = s->queue[i];
        memmove(&s->queue[i], &s->queue[i + 1],
                (s->n_queued - (size_t)i - 1) * sizeof(s->queue[0]));
        s->n_queued--;
        ti = target_of(s, sget(a, "system"));
        if (ti >= 0)
            s->hosts[s->target_host[ti]].inflight++;
        s->running_ids[s->n_running] =
            json_integer_value(json_object_get(a, "id"));
        s->busy[s->n_running++] = sget(a, "ticket");
        pthread_mutex_unlock(&s->lock);

        deliver(w, a);

        pthread_mutex_lock(&s->lock);
        if (ti >= 0)
            s->hosts[s->target_host[ti]].inflight--;
        for (k = 0; k < s->n_running; k++)
            if (s->running_ids[k] ==
                json_integer_value(json_object_get(a, "id"))) {
                s->n_running--;
                s->busy[k] = s->busy[s->n_running];
                s->running_ids[k] = s->running_ids[s->n_running];
                break;
            }
        json_decref(a);
        pthread_cond_broadcast(&s->work_cond);
        pthread_cond_signal(&s->cond);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* 1 when action id is queued or being delivered. Caller holds the lock. */
static int held(const struct tg_sender *s, int64_t id)
{
    size_t i;
    for (i = 0; i < s->n_queued; i++)
        if (json_integer_value(json_object_get(s->queue[i], "id")) == id)
            return 1;
    for (i = 0; i < s->n_running; i++)
        if (s->running_ids[i] == id)
            return 1;
    return 0;
}

static void *sender_main(void *arg)
{
    struct tg_sender *s = arg;
    int warned = 0;

    tg_thread_name("tg-actback");
    pthread_mutex_lock(&s->lock);
    while (!atomic_load(&s->stop)) {
        size_t room = s->n_workers - s->n_queued - s->n_running;
        s->woken = 0;
        if (room > 0) {
            json_t *got = NULL, *a;
            size_t i, n = 0;
            int rc;

            pthread_mutex_unlock(&s->lock);
            rc = tg_outbox_claim(s->e, tg_clock_wall_ms(), (int)room, s->lease_ms,
                                 &got);
            pthread_mutex_lock(&s->lock);
            if (rc != 0 && !warned++)
                tg_log_event(TG_LOG_WARN, "actback_claim_failed",
                             "the outbox could not be read (store error "
                             "%d); act-back waits for the store",
                             rc);
            if (rc == 0) {
                warned = 0;
                int64_t mono = tg_actback_mono_ms();
                json_array_foreach(got, i, a)
                {
                    if (s->n_queued + s->n_running >= s->n_workers)
                        break; /* cannot happen: claimed at most room */
                    /* A lease that ran out under us (it should not: an
                     * attempt ends before it) must not send twice. */
                    if (held(s, json_integer_value(json_object_get(a, "id"))))
                        continue;
                    if (json_object_set_new(a, "claimed_mono",
                                            json_integer(mono)) != 0)
                        continue; /* ENOMEM: due again after the lease */
                    s->queue[s->n_queued++] = json_incref(a);
                    n++;
                }
            }
            json_decref(got);
            if (n > 0) {
                pthread_cond_broadcast(&s->work_cond);
                if (n == room)
                    continue; /* more may be due: claim once a slot frees */
            }
        }
        if (atomic_load(&s->stop))
            break;
        if (!s->woken) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += (long)TG_SENDER_POLL_MS * 1000000L;
            ts.tv_sec += ts.tv_nsec / 1000000000L;
            ts.tv_nsec %= 1000000000L;
            pthread_cond_timedwait(&s->cond, &s->lock, &ts);
        }
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* ------------------------------------------------------------ lifecycle */

struct tg_sender *tg_sender_start_metrics(const struct tg_config *c,
                                          struct tg_evidence *e,
                                          struct tg_metrics *m)
{
    struct tg_sender *s;
    size_t i, n = 0;
    long timeout = timeout_of(c);

    if (!(c->jira.act_back.set && c->jira.act_back.base_url) &&
        !(c->servicenow.act_back.set && c->servicenow.act_back.base_url))
        return NULL;
    s = calloc(1, sizeof(*s));
    if (!s)
        goto enomem;
    s->e = e;
    s->m = m;
    atomic_init(&s->stop, 0);
    if (add_target(s, "jira", &c->jira.act_back) != 0 ||
        add_target(s, "servicenow", &c->servicenow.act_back) != 0)
        goto fail_settings;
    for (i = 0; i < s->n_hosts; i++)
        n += (size_t)s->hosts[i].cap;
    s->n_workers = n < TG_SENDER_MAX_WORKERS ? n : TG_SENDER_MAX_WORKERS;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        goto fail_settings;
    if (pthread_mutex_init(&s->lock, NULL) != 0)
        goto fail_curl;
    if (pthread_cond_init(&s->cond, NULL) != 0)
        goto fail_lock;
    if (pthread_cond_init(&s->work_cond, NULL) != 0)
        goto fail_cond;
    for (i = 0; i < s->n_workers; i++) {
        struct worker *w = &s->workers[i];
        w->s = s;
        w->http = tg_actback_http_new(timeout, &s->stop);
        if (!w->http || pthread_create(&w->thread, NULL, worker_main, w) != 0)
            goto fail_threads;
        w->started = 1;
    }
    if (pthread_create(&s->thread, NULL, sender_main, s) != 0)
        goto fail_threads;
    s->thread_started = 1;
    tg_log_event(TG_LOG_INFO, "actback_start",
                 "act-back sender started: %zu target(s), %zu worker(s)",
                 s->n_targets, s->n_workers);
    return s;

fail_threads:
    tg_sender_stop(s);
    goto enomem;
fail_cond:
    pthread_cond_destroy(&s->cond);
fail_lock:
    pthread_mutex_destroy(&s->lock);
fail_curl:
    curl_global_cleanup();
fail_settings:
    free_settings(s);
    free(s);
enomem:
    tg_log_event(TG_LOG_ERROR, "actback_error",
                 "the act-back sender could not start (out of memory or "
                 "threads); decisions are recorded and their actions wait "
                 "in the outbox");
    return NULL;
}

struct tg_sender *tg_sender_start(const struct tg_config *c,
                                  struct tg_evidence *e)
{
    return tg_sender_start_metrics(c, e, NULL);
}

void tg_sender_wake(struct tg_sender *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    s->woken = 1;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

void tg_sender_stop(struct tg_sender *s)
{
    size_t i;

    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    atomic_store(&s->stop, 1);
    pthread_cond_broadcast(&s->cond);
    pthread_cond_broadcast(&s->work_cond);
    pthread_mutex_unlock(&s->lock);
    if (s->thread_started)
        pthread_join(s->thread, NULL);
    for (i = 0; i < s->n_workers; i++) {
        if (s->workers[i].started)
            pthread_join(s->workers[i].thread, NULL);
        tg_actback_http_free(s->workers[i].http);
    }
    /* Claimed but never started: due again at once on the next start,
     * not after their lease. */
    for (i = 0; i < s->n_queued; i++) {
        int64_t id = json_integer_value(json_object_get(s->queue[i], "id"));
        if (tg_outbox_settle(s->e, id, "retry", tg_clock_wall_ms(),
                             "not sent: the server stopped first") != 0)
            tg_log_event(TG_LOG_WARN, "actback_settle_failed",
                         "action %" PRId64 " was claimed but not sent before "
                         "the stop; it is due again when its lease runs out",
                         id);
        json_decref(s->queue[i]);
    }
    pthread_cond_destroy(&s->work_cond);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    curl_global_cleanup();
    free_settings(s);
    free(s);
}
