/* link.c - linking events to tickets and grants to the revokes that end them. */
#include "server/outcomes/internal.h"
#include "server/outcomes/sort.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "validators/errors.h"

void tg_oc_link_free(struct tg_oc_set *s)
{
    free(s->first_allow);
    free(s->last_allow);
    free(s->start);
    free(s->tflags);
    free(s->first_time);
    free(s->second_time);
    free(s->review_at);
    free(s->link);
    free(s->why);
    free(s->closed);
    free(s->win);
    s->first_allow = s->last_allow = NULL;
    s->start = s->first_time = s->second_time = s->review_at = NULL;
    s->tflags = NULL;
    s->link = NULL;
    s->why = NULL;
    s->closed = NULL;
    s->win = NULL;
    s->nwin = 0;
    s->n_tickets_cap = 0;
}

static int is_allowing(const struct tg_oc_decision *d)
{
    return d->verdict == TG_OC_ALLOW || d->verdict == TG_OC_ANNOTATE;
}

static int cmp_key(uint32_t b1, uint32_t s1, uint32_t e1, uint32_t b2,
                   uint32_t s2, uint32_t e2)
{
    if (b1 != b2)
        return b1 < b2 ? -1 : 1;
    if (s1 != s2)
        return s1 < s2 ? -1 : 1;
    if (e1 != e2)
        return e1 < e2 ? -1 : 1;
    return 0;
}

static int cmp_win(const void *a, const void *b)
{
    const struct tg_oc_window *x = a, *y = b;
    int c = cmp_key(x->beneficiary, x->system, x->entitlement, y->beneficiary,
                    y->system, y->entitlement);

    if (c)
        return c;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return x->ticket < y->ticket ? -1 : x->ticket > y->ticket;
}

static int win_less(const struct tg_oc_window *x, const struct tg_oc_window *y)
{
    return cmp_win(x, y) < 0;
}

TG_OC_SORT(sort_windows, struct tg_oc_window, win_less)

uint32_t tg_oc_find_window(const struct tg_oc_set *s, uint32_t b, uint32_t sy,
                           uint32_t en, int64_t t, int need_end)
{
    size_t lo = 0, hi = s->nwin;

    /* The first window after (key, t): the candidates are before it. */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct tg_oc_window *w = &s->win[mid];
        int c = cmp_key(w->beneficiary, w->system, w->entitlement, b, sy, en);
        if (c < 0 || (c == 0 && w->start <= t))
            lo = mid + 1;
        else
            hi = mid;
    }
    while (lo > 0) {
        const struct tg_oc_window *w = &s->win[--lo];
        if (cmp_key(w->beneficiary, w->system, w->entitlement, b, sy, en))
            break;
        if (!need_end || t < w->end)
            return w->ticket;
    }
    return 0;
}

/* Per ticket: first and latest allowing decision, window, first two
 * decision times. */
static int index_tickets(struct tg_oc_set *s)
{
    size_t n = tg_oc_names_count(s->names), i, k = 0;

    s->n_tickets_cap = n;
    s->first_allow = calloc(n, sizeof *s->first_allow);
    s->last_allow = calloc(n, sizeof *s->last_allow);
    s->start = malloc(n * sizeof *s->start);
    s->tflags = calloc(n, sizeof *s->tflags);
    s->first_time = malloc(n * sizeof *s->first_time);
    s->second_time = malloc(n * sizeof *s->second_time);
    s->review_at = malloc(n * sizeof *s->review_at);
    if (!s->first_allow || !s->last_allow || !s->start || !s->tflags ||
        !s->first_time || !s->second_time || !s->review_at)
        return TG_ENOMEM;
    for (i = 0; i < n; i++)
        s->first_time[i] = s->second_time[i] = s->review_at[i] = INT64_MAX;
    for (i = 0; i < s->nd; i++) {
        const struct tg_oc_decision *d = &s->d[i];
        uint32_t t = d->ticket;

        if (d->time < s->first_time[t]) {
            s->second_time[t] = s->first_time[t];
            s->first_time[t] = d->time;
        } else if (d->time < s->second_time[t]) {
            s->second_time[t] = d->time;
        }
        if (!is_allowing(d) || !(d->flags & TG_OC_JUDGED))
            continue;
        if (!s->first_allow[t] || d->time < s->d[s->first_allow[t] - 1].time)
            s->first_allow[t] = (uint32_t)i + 1;
        if (!s->last_allow[t] || d->time >= s->d[s->last_allow[t] - 1].time)
            s->last_allow[t] = (uint32_t)i + 1;
    }
    for (i = 0; i < n; i++) {
        const struct tg_oc_decision *f;
        if (!s->first_allow[i])
            continue;
        f = &s->d[s->first_allow[i] - 1];
        s->start[i] = f->approved != TG_OC_NONE ? f->approved : f->time;
        k++;
    }
    s->win = malloc((k ? k : 1) * sizeof *s->win);
    if (!s->win)
        return TG_ENOMEM;
    for (i = 0; i < n; i++) {
        const struct tg_oc_decision *l;
        if (!s->first_allow[i])
            continue;
        l = &s->d[s->last_allow[i] - 1];
        s->win[s->nwin++] = (struct tg_oc_window){
            .beneficiary = l->beneficiary,
            .system = l->system,
            .entitlement = l->entitlement,
            .ticket = (uint32_t)i,
            .start = s->start[i],
            .end = l->expires,
        };
    }
    return sort_windows(s->win, s->nwin);
}

static void link_grant(struct tg_oc_set *s, size_t i)
{
    const struct tg_oc_event *e = &s->ev[i];
    const struct tg_oc_decision *l;
    uint32_t t = e->ticket;

    if (!t)
        t = tg_oc_find_window(s, e->identity, e->system, e->entitlement,
                              e->time, 1);
    s->link[i] = t;
    if (!t) {
        s->why[i] = TG_OC_L_NO_TICKET;
        return;
    }
    s->tflags[t] |= TG_OC_T_GRANTED;
    if (!tg_oc_allowed(s, t)) {
        s->why[i] = TG_OC_L_NOT_ALLOWED;
        return;
    }
    l = &s->d[s->last_allow[t] - 1];
    if (e->identity != l->beneficiary)
        s->why[i] = TG_OC_L_IDENTITY;
    else if (e->time < s->start[t] || e->time >= l->expires)
        s->why[i] = TG_OC_L_OUTSIDE;
    else if (e->system != l->system || e->entitlement != l->entitlement ||
             (e->environment && e->environment != l->environment))
        s->why[i] = TG_OC_L_WIDER;
    else
        s->why[i] = TG_OC_L_OK;
}

/* An access event to sort: its key, time and index. */
struct acc {
    uint32_t identity, system, entitlement, i;
    int64_t time;
};

static int cmp_access(const void *a, const void *b)
{
    const struct acc *x = a, *y = b;
    int c = cmp_key(x->identity, x->system, x->entitlement, y->identity,
                    y->system, y->entitlement);

    if (c)
        return c;
    if (x->time != y->time)
        return x->time < y->time ? -1 : 1;
    /* Same second: in the order they were stored. */
    return x->i < y->i ? -1 : 1;
}

static int access_less(const struct acc *x, const struct acc *y)
{
    return cmp_access(x, y) < 0;
}

TG_OC_SORT(sort_access, struct acc, access_less)

/* Grants open at once under one key beyond this are closed oldest first
 * (a pathological feed cannot make the walk quadratic). */
#define MAX_OPEN 64

/* The mapped grants and revokes in (key, time, store) order: made on a
 * thread of their own while tickets are indexed and grants linked (the
 * sort is a third of linking a large store). */
struct accesses {
    const struct tg_oc_set *s;
    struct acc *ix;
    size_t n;
    int rc;
};

/* An event that linking counts as unmapped never enters the walk. */
static int mapped(const struct tg_oc_event *e)
{
    return e->mapped && e->system && e->entitlement && e->identity;
}

static void *sort_accesses(void *arg)
{
    struct accesses *a = arg;
    const struct tg_oc_set *s = a->s;

    a->n = 0;
    a->rc = TG_ENOMEM;
    if (!(a->ix = malloc((s->ne ? s->ne : 1) * sizeof *a->ix)))
        return NULL;
    for (size_t i = 0; i < s->ne; i++)
        if (mapped(&s->ev[i]) && (s->ev[i].type == TG_OC_GRANT ||
                                  s->ev[i].type == TG_OC_REVOKE))
            a->ix[a->n++] = (struct acc){.identity = s->ev[i].identity,
                                         .system = s->ev[i].system,
                                         .entitlement = s->ev[i].entitlement,
                                         .i = (uint32_t)i,
                                         .time = s->ev[i].time};
    a->rc = sort_access(a->ix, a->n);
    return NULL;
}

/* Walks each (identity, system, entitlement) in time order (ix, n). A
 * grant opens access under its ticket (a grant under the same ticket
 * again replaces the open one); a revoke closes every open grant of the
 * key, marks their tickets revoked and links to the ticket it names, else
 * to the latest open grant's allowed ticket, else the latest open grant's
 * ticket, else the allowed ticket of the key with the latest start before
 * it. */
static void walk_access(struct tg_oc_set *s, const struct acc *ix, size_t n)
{
    uint32_t op[MAX_OPEN];
    size_t nop = 0, i, k;

    for (i = 0; i < n; i++) {
        const struct tg_oc_event *e = &s->ev[ix[i].i];
        uint32_t t = 0;

        if (i > 0 && cmp_key(ix[i - 1].identity, ix[i - 1].system,
                             ix[i - 1].entitlement, e->identity, e->system,
                             e->entitlement))
            nop = 0;
        if (e->type == TG_OC_GRANT) {
            for (k = 0; k < nop; k++)
                if (s->link[op[k]] == s->link[ix[i].i])
                    break;
            if (k == nop && nop == MAX_OPEN)
                k = 0;
            if (k < nop) { /* replaced, not revoked */
                s->closed[op[k]] = e->time;
                memmove(&op[k], &op[k + 1], (nop - k - 1) * sizeof *op);
                nop--;
            }
            op[nop++] = ix[i].i;
            continue;
        }
        if (e->ticket)
            t = e->ticket;
        for (k = nop; !t && k > 0; k--)
            if (tg_oc_allowed(s, s->link[op[k - 1]]))
                t = s->link[op[k - 1]];
        if (!t && nop)
            t = s->link[op[nop - 1]];
        if (!t)
            t = tg_oc_find_window(s, e->identity, e->system, e->entitlement,
                                  e->time, 0);
        s->link[ix[i].i] = t;
        s->why[ix[i].i] = t ? TG_OC_L_OK : TG_OC_L_NO_TICKET;
        if (t)
            s->tflags[t] |= TG_OC_T_REVOKED;
        for (k = 0; k < nop; k++) {
            s->closed[op[k]] = e->time;
            if (s->link[op[k]])
                s->tflags[s->link[op[k]]] |= TG_OC_T_REVOKED;
        }
        nop = 0;
    }
}

/* Indexes the tickets and links every grant and review of s. */
static int link_events(struct tg_oc_set *s)
{
    size_t i;
    int rc;

    if ((rc = index_tickets(s)) != 0)
        return rc;
    s->link = calloc(s->ne ? s->ne : 1, sizeof *s->link);
    s->why = calloc(s->ne ? s->ne : 1, sizeof *s->why);
    s->closed = malloc((s->ne ? s->ne : 1) * sizeof *s->closed);
    if (!s->link || !s->why || !s->closed)
        return TG_ENOMEM;
    for (i = 0; i < s->ne; i++) {
        const struct tg_oc_event *e = &s->ev[i];
        uint32_t t;

        s->closed[i] = INT64_MAX;
        if (!mapped(e)) {
            /* A review need only name its ticket. */
            if (!(e->type == TG_OC_REVIEW && e->ticket)) {
                s->why[i] = TG_OC_L_UNMAPPED;
                continue;
            }
        }
        switch (e->type) {
        case TG_OC_GRANT:
            link_grant(s, i);
            break;
        case TG_OC_REVIEW:
            t = e->ticket ? e->ticket
                          : tg_oc_find_window(s, e->identity, e->system,
                                              e->entitlement, e->time, 0);
            s->link[i] = t;
            if (t && e->time >= s->first_time[t] && e->time < s->review_at[t])
                s->review_at[t] = e->time;
            if (t)
                s->tflags[t] |= TG_OC_T_REVIEWED;
            break;
        default:
            break;
        }
    }
    return 0;
}

int tg_oc_link(struct tg_oc_set *s)
{
    struct accesses a = {.s = s};
    pthread_t th;
    int threaded, rc;

    tg_oc_link_free(s);
    threaded = pthread_create(&th, NULL, sort_accesses, &a) == 0;
    rc = link_events(s);
    if (threaded)
        pthread_join(th, NULL);
    else
        sort_accesses(&a);
    if (!rc)
        rc = a.rc;
    if (!rc)
        walk_access(s, a.ix, a.n);
    free(a.ix);
    return rc;
}
