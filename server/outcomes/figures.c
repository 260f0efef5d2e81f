/* figures.c - the outcome figures of a period, the work list and the metric totals. */
#include "server/outcomes/internal.h"
#include "server/outcomes/sort.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "validators/errors.h"
#include "validators/timeparse.h"

/* ------------------------------------------------------------- helpers */

/* A JSON string of s; text that is not UTF-8 (never in a store jansson
 * wrote) shows as "?" rather than failing the report. */
static json_t *jstr(const char *s)
{
    json_t *j = json_string(s ? s : "");
    return j ? j : json_string("?");
}

static json_t *jtime(int64_t t)
{
    char buf[32];

    if (t == TG_OC_NONE || t == INT64_MAX || tg_time_format(t, buf, sizeof buf))
        return json_null();
    return json_string(buf);
}

static json_t *jname(const struct tg_oc_set *s, uint32_t id)
{
    return id ? jstr(tg_oc_name(s, id)) : json_null();
}

/* Sets key to v (stolen); remembers a failure in *bad. */
static void put(json_t *o, const char *key, json_t *v, int *bad)
{
    if (!v || json_object_set_new(o, key, v) != 0)
        *bad = 1;
}

static void push(json_t *a, json_t *v, int *bad)
{
    if (!v || json_array_append_new(a, v) != 0)
        *bad = 1;
}

static int i64_less(const int64_t *x, const int64_t *y)
{
    return *x < *y;
}

TG_OC_SORT(sort_i64, int64_t, i64_less)

/* The q-quantile (0..1) of sorted v[0..n) by the nearest-rank method. */
static int64_t quantile(const int64_t *v, size_t n, double q)
{
    size_t k;

    if (!n)
        return 0;
    k = (size_t)(q * (double)n + 0.999999);
    if (k < 1)
        k = 1;
    if (k > n)
        k = n;
    return v[k - 1];
}

static double ratio(size_t a, size_t b)
{
    return b ? (double)a / (double)b : 0.0;
}

static int in_period(int64_t t, const struct tg_oc_opts *o)
{
    return t >= o->since && t < o->until;
}

static const struct tg_oc_decision *last_allow(const struct tg_oc_set *s,
                                               uint32_t t)
{
    return tg_oc_allowed(s, t) ? &s->d[s->last_allow[t] - 1] : NULL;
}

/* The ticket of grant i whose access is lingering at T, or 0. */
static uint32_t lingering_at(const struct tg_oc_set *s, size_t i, int64_t T)
{
    const struct tg_oc_event *e = &s->ev[i];
    const struct tg_oc_decision *l;
    uint32_t t = s->link[i];

    if (e->type != TG_OC_GRANT || s->why[i] == TG_OC_L_UNMAPPED ||
        e->time > T || s->closed[i] <= T || !(l = last_allow(s, t)) ||
        l->expires == INT64_MAX || l->expires >= T)
        return 0;
    /* A renewal (another allowed ticket of the same access) covers it. */
    if (tg_oc_find_window(s, e->identity, e->system, e->entitlement, T, 1))
        return 0;
    return t;
}

static int unticketed(uint8_t why)
{
    return why == TG_OC_L_NO_TICKET || why == TG_OC_L_NOT_ALLOWED ||
           why == TG_OC_L_OUTSIDE || why == TG_OC_L_IDENTITY;
}

static const char *why_text(uint8_t why)
{
    switch (why) {
    case TG_OC_L_NO_TICKET:
        return "no_ticket";
    case TG_OC_L_NOT_ALLOWED:
        return "ticket_not_allowed";
    case TG_OC_L_OUTSIDE:
        return "outside_window";
    case TG_OC_L_WIDER:
        return "wider_than_ticket";
    case TG_OC_L_IDENTITY:
        return "ticket_for_another_identity";
    default:
        return "ok";
    }
}

static const int64_t lag_bounds[] = {TG_OC_LAG_BOUNDS};
static const char *const lag_labels[TG_OC_N_LAG] = {
    "before expiry", "within 1 h", "1 h - 1 day", "1 - 7 days",
    "7 - 30 days",   "over 30 days"};

static size_t lag_bucket(int64_t lag)
{
    size_t b = 0;

    /* The first bucket is "before expiry": lag < 0. */
    if (lag < 0)
        return 0;
    for (b = 1; b < TG_OC_N_LAG - 1; b++)
        if (lag <= lag_bounds[b])
            return b;
    return TG_OC_N_LAG - 1;
}

/* ------------------------------------------------------------- figures */

struct approval {
    uint32_t who;
    uint8_t denied;
    int64_t seconds; /* INT64_MIN: not timed */
};

static int cmp_approval(const void *a, const void *b)
{
    const struct approval *x = a, *y = b;

    if (x->who != y->who)
        return x->who < y->who ? -1 : 1;
    return x->seconds < y->seconds ? -1 : x->seconds > y->seconds;
}

static int approval_less(const struct approval *x, const struct approval *y)
{
    return cmp_approval(x, y) < 0;
}

TG_OC_SORT(sort_approvals, struct approval, approval_less)

struct approver_row {
    uint32_t who;
    const char *name; /* ties are broken by name, not by intern order */
    size_t n, timed, fast, denied;
    int64_t median;
};

static int cmp_row(const void *a, const void *b)
{
    const struct approver_row *x = a, *y = b;

    if (x->n != y->n)
        return x->n > y->n ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Marks in lastd (index + 1, by ticket) each ticket's latest decision in
 * the period that has approvers. */
static void latest_decisions(const struct tg_oc_set *s,
                             const struct tg_oc_opts *o, uint32_t *lastd)
{
    size_t i;

    /* Each ticket once: its latest decision in the period with approvers. */
    for (i = 0; i < s->nd; i++) {
        const struct tg_oc_decision *d = &s->d[i];
        if (!in_period(d->time, o) || !d->n_approvals ||
            d->verdict == TG_OC_SKIP)
            continue;
        if (!lastd[d->ticket] || d->time >= s->d[lastd[d->ticket] - 1].time)
            lastd[d->ticket] = (uint32_t)i + 1;
    }
}

/* Groups ap (sorted by approver) into rows, one per approver; their count. */
static size_t group_rows(const struct tg_oc_set *s, const struct tg_oc_opts *o,
                         const struct approval *ap, size_t na,
                         struct approver_row *rows)
{
    size_t i, j, nr = 0;

    for (i = 0; i < na;) {
        struct approver_row r = {.who = ap[i].who,
                                 .name = tg_oc_name(s, ap[i].who)};
        size_t first_timed = SIZE_MAX;
        for (j = i; j < na && ap[j].who == r.who; j++) {
            r.n++;
            r.denied += ap[j].denied;
            if (ap[j].seconds != INT64_MIN) {
                if (first_timed == SIZE_MAX)
                    first_timed = j;
                r.timed++;
                if (ap[j].seconds < o->rubber_stamp_seconds)
                    r.fast++;
            }
        }
        /* Untimed sort first (INT64_MIN): the timed ones follow. */
        r.median = r.timed ? ap[first_timed + (r.timed - 1) / 2].seconds : -1;
        rows[nr++] = r;
        i = j;
    }
    return nr;
}

/* Appends the first list_max rows to table (failures set *bad). */
static void approver_table(const struct tg_oc_set *s,
                           const struct tg_oc_opts *o,
                           const struct approver_row *rows, size_t nr,
                           size_t na, json_t *table, int *bad)
{
    double days = (double)(o->until - o->since) / 86400.0;
    size_t i;

    for (i = 0; i < nr && i < o->list_max; i++) {
        const struct approver_row *r = &rows[i];
        json_t *row = json_object();
        if (!row) {
            *bad = 1;
            break;
        }
        put(row, "approver", jname(s, r->who), bad);
        put(row, "approvals", json_integer((json_int_t)r->n), bad);
        put(row, "per_day",
            json_real(days > 0 ? (double)r->n / days : 0.0), bad);
        put(row, "share", json_real(ratio(r->n, na)), bad);
        put(row, "median_seconds",
            r->timed ? json_integer(r->median) : json_null(), bad);
        put(row, "rubber_stamp_share", json_real(ratio(r->fast, r->timed)),
            bad);
        put(row, "denied_share", json_real(ratio(r->denied, r->n)), bad);
        push(table, row, bad);
    }
}

/* The approver signals of the period: json "approvals" figures and, when
 * table is not NULL, the table of approvers. */
static int approvers(const struct tg_oc_set *s, const struct tg_oc_opts *o,
                     json_t *fig, json_t *table, int *bad)
{
    uint32_t n = tg_oc_names_count(s->names);
    uint32_t *lastd = calloc(n, sizeof *lastd);
    struct approval *ap = NULL;
    struct approver_row *rows = NULL;
    size_t na = 0, nr = 0, timed = 0, fast = 0, j;
    int64_t *secs = NULL;
    json_t *f;

    if (!lastd)
        return TG_ENOMEM;
    latest_decisions(s, o, lastd);
    for (uint32_t t = 0; t < n; t++)
        if (lastd[t])
            na += s->d[lastd[t] - 1].n_approvals;
    ap = malloc((na ? na : 1) * sizeof *ap);
    secs = malloc((na ? na : 1) * sizeof *secs);
    rows = malloc((na ? na : 1) * sizeof *rows);
    if (!ap || !secs || !rows)
        goto nomem;
    na = 0;
    for (uint32_t t = 0; t < n; t++) {
        const struct tg_oc_decision *d;
        if (!lastd[t])
            continue;
        d = &s->d[lastd[t] - 1];
        for (j = 0; j < d->n_approvals; j++) {
            const struct tg_oc_approval *a = &s->ap[d->approvals + j];
            int64_t at = a->at != TG_OC_NONE ? a->at : d->time;
            struct approval x = {.who = a->who,
                                 .denied = d->verdict == TG_OC_DENY,
                                 .seconds = INT64_MIN};
            /* Approved before it was raised: clocks disagree; not timed. */
            if (d->created != TG_OC_NONE && at >= d->created) {
                x.seconds = at - d->created;
                secs[timed++] = x.seconds;
                if (x.seconds < o->rubber_stamp_seconds)
                    fast++;
            }
            ap[na++] = x;
        }
    }
    if (sort_approvals(ap, na) || sort_i64(secs, timed))
        goto nomem;
    nr = group_rows(s, o, ap, na, rows);
    qsort(rows, nr, sizeof *rows, cmp_row);

    f = json_object();
    if (!f)
        goto nomem;
    put(f, "count", json_integer((json_int_t)na), bad);
    put(f, "approvers", json_integer((json_int_t)nr), bad);
    put(f, "timed", json_integer((json_int_t)timed), bad);
    put(f, "median_seconds",
        timed ? json_integer(quantile(secs, timed, 0.5)) : json_null(), bad);
    put(f, "rubber_stamp_share", json_real(ratio(fast, timed)), bad);
    put(f, "top_approver", nr ? jname(s, rows[0].who) : json_null(), bad);
    put(f, "top_share", json_real(nr ? ratio(rows[0].n, na) : 0.0), bad);
    put(fig, "approvals", f, bad);
    if (table)
        approver_table(s, o, rows, nr, na, table, bad);
    free(lastd);
    free(ap);
    free(secs);
    free(rows);
    return 0;
nomem:
    free(lastd);
    free(ap);
    free(secs);
    free(rows);
    return TG_ENOMEM;
}

/* Break-glass: allowed emergency tickets first decided in the period. */
static int breakglass(const struct tg_oc_set *s, const struct tg_oc_opts *o,
                      json_t *fig, json_t *list, int *bad)
{
    uint32_t n = tg_oc_names_count(s->names);
    unsigned char *seen = calloc((size_t)n / 8 + 1, 1);
    size_t tickets = 0, unreviewed = 0, pending = 0, i;
    json_t *f;

    if (!seen)
        return TG_ENOMEM;
    for (i = 0; i < s->nd; i++) {
        const struct tg_oc_decision *d = &s->d[i];
        uint32_t t = d->ticket;
        int64_t first, due;

        if (!(d->flags & TG_OC_EMERGENCY) || !tg_oc_allowed(s, t) ||
            (seen[t / 8] & (1u << (t % 8))))
            continue;
        first = s->first_time[t];
        if (!in_period(first, o))
            continue;
        seen[t / 8] |= (unsigned char)(1u << (t % 8));
        tickets++;
        due = first > INT64_MAX - o->review_within_seconds
                  ? INT64_MAX
                  : first + o->review_within_seconds;
        if (s->second_time[t] <= due || s->review_at[t] <= due)
            continue;
        if (o->now < due) {
            pending++;
            continue;
        }
        unreviewed++;
        if (list && json_array_size(list) < o->list_max) {
            const struct tg_oc_decision *l = last_allow(s, t);
            json_t *row = json_object();
            if (!row) {
                *bad = 1;
                continue;
            }
            put(row, "ticket", jname(s, t), bad);
            put(row, "beneficiary", jname(s, l->beneficiary), bad);
            put(row, "system", jname(s, l->system), bad);
            put(row, "entitlement", jname(s, l->entitlement), bad);
            put(row, "decided_at", jtime(first), bad);
            put(row, "review_due", jtime(due), bad);
            push(list, row, bad);
        }
    }
    free(seen);
    f = json_object();
    put(f, "tickets", json_integer((json_int_t)tickets), bad);
    put(f, "unreviewed", json_integer((json_int_t)unreviewed), bad);
    put(f, "pending", json_integer((json_int_t)pending), bad);
    put(fig, "breakglass", f, bad);
    return 0;
}

/* Revocation lags of the period's revokes. */
static int lags(const struct tg_oc_set *s, const struct tg_oc_opts *o,
                json_t *fig, int *bad)
{
    int64_t *v = malloc((s->ne ? s->ne : 1) * sizeof *v);
    size_t n = 0, counts[TG_OC_N_LAG] = {0}, i;
    json_t *f, *b;

    if (!v)
        return TG_ENOMEM;
    for (i = 0; i < s->ne; i++) {
        const struct tg_oc_event *e = &s->ev[i];
        const struct tg_oc_decision *l;
        if (e->type != TG_OC_REVOKE || !in_period(e->time, o) ||
            s->why[i] == TG_OC_L_UNMAPPED || !(l = last_allow(s, s->link[i])) ||
            l->expires == INT64_MAX)
            continue;
        v[n] = e->time - l->expires;
        counts[lag_bucket(v[n])]++;
        n++;
    }
    if (sort_i64(v, n)) {
        free(v);
        return TG_ENOMEM;
    }
    f = json_object();
    b = json_array();
    put(f, "count", json_integer((json_int_t)n), bad);
    put(f, "median_seconds", n ? json_integer(quantile(v, n, 0.5)) : json_null(),
        bad);
    put(f, "p90_seconds", n ? json_integer(quantile(v, n, 0.9)) : json_null(),
        bad);
    put(f, "max_seconds", n ? json_integer(v[n - 1]) : json_null(), bad);
    for (i = 0; b && i < TG_OC_N_LAG; i++)
        push(b,
             json_pack("{s:s, s:o, s:I}", "label", lag_labels[i], "le_seconds",
                       i + 1 < TG_OC_N_LAG ? json_integer(lag_bounds[i])
                                           : json_null(),
                       "count", (json_int_t)counts[i]),
             bad);
    put(f, "buckets", b, bad);
    put(fig, "revocation_lag", f, bad);
    free(v);
    return 0;
}

struct ling {
    int64_t expires;
    size_t i;
    uint32_t t;
    const char *name; /* the ticket's: the work list's tie-break */
};

static int cmp_ling(const void *a, const void *b)
{
    const struct ling *x = a, *y = b;

    if (x->expires != y->expires)
        return x->expires < y->expires ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* Grants of the period, lingering access at T; lists when asked. */
/* Appends to list (unless full at o->list_max) the row of grant i, an
 * unticketed or wider one. */
static void grant_row(const struct tg_oc_set *s, const struct tg_oc_opts *o,
                      size_t i, json_t *list, int *bad)
{
    const struct tg_oc_event *e = &s->ev[i];
    json_t *row;

    if (!list || json_array_size(list) >= o->list_max)
        return;
    row = json_object();
    if (!row) {
        *bad = 1;
        return;
    }
    put(row, "time", jtime(e->time), bad);
    put(row, "identity", jname(s, e->identity), bad);
    put(row, "system", jname(s, e->system), bad);
    put(row, "entitlement", jname(s, e->entitlement), bad);
    put(row, "environment", jname(s, e->environment), bad);
    put(row, "ticket", jname(s, s->link[i]), bad);
    put(row, "reason", json_string(why_text(s->why[i])), bad);
    put(row, "source_id", jstr(tg_oc_source_id(s, e)), bad);
    push(list, row, bad);
}

/* The report's list of the nl lingering accesses l at T, longest overdue
 * first (l is sorted), at most o->list_max rows; NULL on ENOMEM. */
static json_t *lingering_list(const struct tg_oc_set *s,
                              const struct tg_oc_opts *o, int64_t T,
                              struct ling *l, size_t nl, int *bad)
{
    json_t *ll = json_array();

    qsort(l, nl, sizeof *l, cmp_ling);
    for (size_t i = 0; ll && i < nl && i < o->list_max; i++) {
        const struct tg_oc_event *e = &s->ev[l[i].i];
        json_t *row = json_object();
        if (!row) {
            *bad = 1;
            break;
        }
        put(row, "identity", jname(s, e->identity), bad);
        put(row, "system", jname(s, e->system), bad);
        put(row, "entitlement", jname(s, e->entitlement), bad);
        put(row, "ticket", jname(s, l[i].t), bad);
        put(row, "granted_at", jtime(e->time), bad);
        put(row, "expires_at", jtime(l[i].expires), bad);
        put(row, "days_overdue",
            json_real((double)(T - l[i].expires) / 86400.0), bad);
        put(row, "source_id", jstr(tg_oc_source_id(s, e)), bad);
        push(ll, row, bad);
    }
    return ll;
}

static int access_figures(const struct tg_oc_set *s,
                          const struct tg_oc_opts *o, int64_t T, json_t *fig,
                          json_t *rep, int *bad)
{
    size_t grants = 0, unt = 0, wider = 0, unmapped = 0, nl = 0, i;
    struct ling *l = malloc((s->ne ? s->ne : 1) * sizeof *l);
    json_t *ul = rep ? json_array() : NULL, *wl = rep ? json_array() : NULL;

    if (!l)
        return TG_ENOMEM;
    for (i = 0; i < s->ne; i++) {
        const struct tg_oc_event *e = &s->ev[i];
        uint32_t t;

        if ((t = lingering_at(s, i, T)) != 0)
            l[nl++] = (struct ling){
                .expires = s->d[s->last_allow[t] - 1].expires, .i = i, .t = t};
        if (!in_period(e->time, o))
            continue;
        if (s->why[i] == TG_OC_L_UNMAPPED) {
            unmapped++;
            continue;
        }
        if (e->type != TG_OC_GRANT)
            continue;
        grants++;
        if (s->why[i] == TG_OC_L_WIDER) {
            wider++;
            grant_row(s, o, i, wl, bad);
        } else if (unticketed(s->why[i])) {
            unt++;
            grant_row(s, o, i, ul, bad);
        }
    }
    put(fig, "grants", json_integer((json_int_t)grants), bad);
    put(fig, "unticketed_grants", json_integer((json_int_t)unt), bad);
    put(fig, "wider_grants", json_integer((json_int_t)wider), bad);
    put(fig, "unmapped_events", json_integer((json_int_t)unmapped), bad);
    put(fig, "lingering", json_integer((json_int_t)nl), bad);
    if (rep) {
        put(rep, "lingering", lingering_list(s, o, T, l, nl, bad), bad);
        put(rep, "unticketed", ul, bad);
        put(rep, "wider", wl, bad);
    }
    free(l);
    return 0;
}

/* Decision counts and rates of the period. */
static void decision_figures(const struct tg_oc_set *s,
                             const struct tg_oc_opts *o, json_t *fig, int *bad)
{
    size_t n = 0, allowed = 0, denied = 0, cf = 0, exc = 0, i;

    for (i = 0; i < s->nd; i++) {
        const struct tg_oc_decision *d = &s->d[i];
        if (!in_period(d->time, o) || d->verdict == TG_OC_SKIP)
            continue;
        n++;
        allowed += d->verdict == TG_OC_ALLOW || d->verdict == TG_OC_ANNOTATE;
        denied += d->verdict == TG_OC_DENY;
        cf += (d->flags & TG_OC_COPY_FORWARD) != 0;
        exc += (d->flags & TG_OC_EXCEPTION) != 0;
    }
    put(fig, "decisions", json_integer((json_int_t)n), bad);
    put(fig, "allowed", json_integer((json_int_t)allowed), bad);
    put(fig, "denied", json_integer((json_int_t)denied), bad);
    put(fig, "deny_rate", json_real(ratio(denied, n)), bad);
    put(fig, "copy_forward_rate", json_real(ratio(cf, n)), bad);
    put(fig, "exception_rate", json_real(ratio(exc, n)), bad);
}

struct code_total {
    const char *code;
    size_t n;
    size_t k; /* its bit in deny_codes */
};

static int cmp_code_total(const void *a, const void *b)
{
    const struct code_total *x = a, *y = b;

    if (x->n != y->n)
        return x->n > y->n ? -1 : 1;
    return strcmp(x->code, y->code);
}

/* Denies by reason over time, in buckets of a width that suits the
 * period (hours up to two days, days up to 92, weeks beyond). */
/* The codes of total (denies a code bit, "other" last bit) that have
 * any, most frequent first, then by name: the same whatever order the
 * parser threads first saw them in (load.c). Into ct; returns how many. */
static size_t rank_codes(const struct tg_oc_set *s, const size_t *total,
                         struct code_total *ct)
{
    size_t n = 0;

    for (size_t k = 0; k < TG_OC_MAX_CODES + 1; k++)
        if (total[k])
            ct[n++] = (struct code_total){
                k < s->n_codes ? s->codes[k] : "other", total[k], k};
    qsort(ct, n, sizeof *ct, cmp_code_total);
    return n;
}

static int denies(const struct tg_oc_set *s, const struct tg_oc_opts *o,
                  json_t *rep, int *bad)
{
    int64_t len = o->until - o->since, width = 3600;
    size_t nb, i, k, nc = TG_OC_MAX_CODES + 1;
    size_t *cnt, total[TG_OC_MAX_CODES + 1] = {0}, n;
    struct code_total ct[TG_OC_MAX_CODES + 1];
    json_t *out, *buckets, *codes;

    if (len > 2 * 86400)
        width = 86400;
    if (len > 92 * 86400)
        width = 7 * 86400;
    while (len / width > 400)
        width *= 2;
    nb = (size_t)((len + width - 1) / width);
    if (nb == 0)
        nb = 1;
    cnt = calloc(nb * nc, sizeof *cnt);
    if (!cnt)
        return TG_ENOMEM;
    for (i = 0; i < s->nd; i++) {
        const struct tg_oc_decision *d = &s->d[i];
        size_t b;
        if (d->verdict != TG_OC_DENY || !in_period(d->time, o))
            continue;
        b = (size_t)((d->time - o->since) / width);
        for (k = 0; k < nc; k++)
            if (d->deny_codes & (1ull << k)) {
                cnt[b * nc + k]++;
                total[k]++;
            }
    }
    out = json_object();
    buckets = json_array();
    codes = json_array();
    put(out, "bucket_seconds", json_integer(width), bad);
    /* Codes and each bucket's counts in one order, whatever order the
     * codes were first seen in. */
    n = rank_codes(s, total, ct);
    for (k = 0; codes && k < n; k++)
        push(codes,
             json_pack("{s:s, s:I}", "code", ct[k].code, "count",
                       (json_int_t)ct[k].n),
             bad);
    for (i = 0; buckets && i < nb; i++) {
        json_t *c = json_object(), *row;
        for (k = 0; c && k < n; k++)
            if (cnt[i * nc + ct[k].k])
                put(c, ct[k].code,
                    json_integer((json_int_t)cnt[i * nc + ct[k].k]), bad);
        row = json_object();
        if (row) {
            put(row, "start", jtime(o->since + (int64_t)i * width), bad);
            put(row, "counts", c, bad);
        }
        push(buckets, row, bad);
    }
    put(out, "codes", codes, bad);
    put(out, "buckets", buckets, bad);
    put(rep, "denies", out, bad);
    free(cnt);
    return 0;
}

/* The figures of one period into fig; lists into rep when not NULL. */
/* The second half of a period's figures (break-glass, approvers, denies),
 * into objects of its own, on a thread beside the first half: on a large
 * store the two halves each take a few hundred ms after the parse, with
 * one core idle. */
struct half {
    const struct tg_oc_set *s;
    const struct tg_oc_opts *o;
    json_t *fig, *rep, *table, *bg; /* rep, table, bg: NULL when no rep */
    int bad, rc;
};

static void *second_half(void *arg)
{
    struct half *h = arg;

    h->rc = TG_ENOMEM;
    if (!h->fig || (h->rep && (!h->table || !h->bg)))
        return NULL;
    if ((h->rc = breakglass(h->s, h->o, h->fig, h->bg, &h->bad)) == 0 &&
        (h->rc = approvers(h->s, h->o, h->fig, h->table, &h->bad)) == 0 &&
        h->rep)
        h->rc = denies(h->s, h->o, h->rep, &h->bad);
    return NULL;
}

/* The figures of the period o into fig and, when rep is not NULL, its
 * lists into rep: members in the same order whichever half ends first
 * (json_object_update appends in the other's order). */
static int period(const struct tg_oc_set *s, const struct tg_oc_opts *o,
                  json_t *fig, json_t *rep, int *bad)
{
    int64_t T = o->until < o->now ? o->until : o->now;
    struct half h = {.s = s, .o = o, .fig = json_object()};
    pthread_t th;
    int rc, threaded;

    if (rep) {
        h.rep = json_object();
        h.table = json_array();
        h.bg = json_array();
    }
    threaded = pthread_create(&th, NULL, second_half, &h) == 0;
    decision_figures(s, o, fig, bad);
    if ((rc = access_figures(s, o, T, fig, rep, bad)) == 0)
        rc = lags(s, o, fig, bad);
    if (threaded)
        pthread_join(th, NULL);
    else
        second_half(&h);
    if (!rc && !(rc = h.rc)) {
        if (json_object_update(fig, h.fig) ||
            (rep && json_object_update(rep, h.rep)))
            *bad = 1;
        if (rep) {
            put(rep, "approvers", h.table, bad);
            put(rep, "breakglass_unreviewed", h.bg, bad);
            h.table = h.bg = NULL;
        }
    }
    if (h.bad)
        *bad = 1;
    json_decref(h.fig);
    json_decref(h.rep);
    json_decref(h.table);
    json_decref(h.bg);
    return rc;
}

static json_t *period_json(const struct tg_oc_opts *o)
{
    int64_t T = o->until < o->now ? o->until : o->now;

    return json_pack("{s:o, s:o, s:o, s:o}", "since", jtime(o->since), "until",
                     jtime(o->until), "now", jtime(o->now), "as_of", jtime(T));
}

/* The previous period, computed on its own thread beside the current
 * one: the set is only read. */
struct prev {
    const struct tg_oc_set *s;
    struct tg_oc_opts o;
    json_t *fig;
    int bad, rc;
};

static void *prev_period(void *arg)
{
    struct prev *p = arg;

    p->fig = json_object();
    p->rc = p->fig ? period(p->s, &p->o, p->fig, NULL, &p->bad) : TG_ENOMEM;
    return NULL;
}

json_t *tg_oc_report(const struct tg_oc_set *s, const struct tg_oc_opts *o,
                     int previous)
{
    json_t *rep = json_object(), *fig = json_object();
    struct prev pv = {.s = s, .o = *o};
    pthread_t th;
    int bad = 0, threaded = 0, rc;

    if (!rep || !fig)
        goto fail;
    put(rep, "period", period_json(o), &bad);
    put(rep, "settings",
        json_pack("{s:I, s:I}", "rubber_stamp_seconds",
                  (json_int_t)o->rubber_stamp_seconds, "review_within_hours",
                  (json_int_t)(o->review_within_seconds / 3600)),
        &bad);
    put(rep, "store",
        json_pack("{s:I, s:I, s:I}", "decisions", (json_int_t)s->nd, "events",
                  (json_int_t)s->ne, "unreadable", (json_int_t)s->unreadable),
        &bad);
    if (previous) {
        pv.o.until = o->since;
        pv.o.since = o->since - (o->until - o->since);
        pv.o.now = o->now < pv.o.until ? o->now : pv.o.until;
        threaded = pthread_create(&th, NULL, prev_period, &pv) == 0;
    }
    rc = period(s, o, fig, rep, &bad);
    if (previous && threaded)
        pthread_join(th, NULL);
    else if (previous)
        prev_period(&pv);
    if (rc != 0 || (previous && pv.rc != 0))
        goto fail;
    put(rep, "figures", fig, &bad);
    fig = NULL;
    if (previous) {
        json_t *po = json_object();
        if (po) {
            put(po, "period", period_json(&pv.o), &bad);
            put(po, "figures", pv.fig, &bad);
            pv.fig = NULL;
        }
        put(rep, "previous", po, &bad);
    }
    if (bad || pv.bad)
        goto fail;
    return rep;
fail:
    json_decref(pv.fig);
    json_decref(fig);
    json_decref(rep);
    return NULL;
}

/* ------------------------------------------------------------ work list */

static int cmp_exp(const void *a, const void *b)
{
    const struct ling *x = a, *y = b;

    if (x->expires != y->expires)
        return x->expires < y->expires ? -1 : 1;
    return strcmp(x->name, y->name);
}

json_t *tg_oc_expirations(const struct tg_oc_set *s, int64_t due_before,
                          int64_t now, size_t max)
{
    uint32_t n = tg_oc_names_count(s->names);
    struct ling *v = malloc((s->nwin ? s->nwin : 1) * sizeof *v);
    json_t *out = NULL, *list = json_array();
    size_t nv = 0, i;
    int bad = 0;

    if (!v || !list)
        goto fail;
    for (uint32_t t = 0; t < n; t++) {
        const struct tg_oc_decision *l = last_allow(s, t);
        if (!l || l->expires == INT64_MAX || l->expires >= due_before ||
            (s->tflags[t] & TG_OC_T_REVOKED))
            continue;
        v[nv++] = (struct ling){
            .expires = l->expires, .t = t, .name = tg_oc_name(s, t)};
    }
    qsort(v, nv, sizeof *v, cmp_exp);
    for (i = 0; i < nv && (!max || i < max); i++) {
        const struct tg_oc_decision *l = last_allow(s, v[i].t);
        json_t *row = json_object();
        if (!row)
            goto fail;
        put(row, "ticket", jname(s, v[i].t), &bad);
        put(row, "beneficiary", jname(s, l->beneficiary), &bad);
        put(row, "system", jname(s, l->system), &bad);
        put(row, "environment", jname(s, l->environment), &bad);
        put(row, "entitlement", jname(s, l->entitlement), &bad);
        put(row, "expires_at", jtime(l->expires), &bad);
        put(row, "days_overdue",
            json_real(now > l->expires ? (double)(now - l->expires) / 86400.0
                                       : 0.0),
            &bad);
        put(row, "grant_seen",
            json_boolean(s->tflags[v[i].t] & TG_OC_T_GRANTED), &bad);
        push(list, row, &bad);
    }
    out = json_pack("{s:o, s:I, s:o}", "due_before", jtime(due_before),
                    "count", (json_int_t)nv, "expirations", list);
    list = NULL;
    if (!out || bad)
        goto fail;
    free(v);
    return out;
fail:
    free(v);
    json_decref(list);
    json_decref(out);
    return NULL;
}

void tg_oc_totals(const struct tg_oc_set *s, int64_t now, long *lingering,
                  long *unt, const double *bounds, size_t n,
                  uint64_t *lag_counts, double *lag_sum)
{
    size_t i, b;

    *lingering = *unt = 0;
    *lag_sum = 0;
    memset(lag_counts, 0, (n + 1) * sizeof *lag_counts);
    for (i = 0; i < s->ne; i++) {
        const struct tg_oc_event *e = &s->ev[i];
        const struct tg_oc_decision *l;
        double lag;

        if (lingering_at(s, i, now))
            ++*lingering;
        if (e->type == TG_OC_GRANT && unticketed(s->why[i]))
            ++*unt;
        if (e->type != TG_OC_REVOKE || s->why[i] == TG_OC_L_UNMAPPED ||
            !(l = last_allow(s, s->link[i])) || l->expires == INT64_MAX)
            continue;
        lag = (double)(e->time - l->expires);
        *lag_sum += lag;
        for (b = 0; b < n && lag > bounds[b]; b++)
            ;
        lag_counts[b]++;
    }
}
