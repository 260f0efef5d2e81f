/* set.c - the decisions and events of a store in compact arrays, names interned. */
#include "server/outcomes/outcomes.h"
#include "server/outcomes/internal.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/outcomes/jfield.h"
#include "server/store/store.h"
#include "validators/errors.h"
#include "validators/timeparse.h"

/* ---------------------------------------------------------------- names */

struct tg_oc_names {
    char *pool;        /* NUL-terminated texts */
    size_t len, cap;
    uint32_t *off;     /* id -> offset in pool */
    uint32_t n, offcap;
    uint32_t *len_of;  /* id -> length */
    struct slot {
        uint32_t id1;  /* id + 1, 0 empty */
        uint32_t hash; /* the text's hash, compared before its bytes */
    } *slot;
    uint32_t nslot;    /* power of two */
};

/* Eight bytes at a time (a name is hashed at every row that carries it:
 * ten million times for a large report), then mixed. */
static uint64_t hash(const char *s, size_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ull ^ n, w;

    for (; n >= 8; s += 8, n -= 8) {
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
        h ^= h >> 29;
    }
    if (n) {
        w = 0;
        memcpy(&w, s, n);
        h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
    }
    h ^= h >> 32;
    h *= 0x94d049bb133111ebull;
    return h ^ (h >> 29);
}

struct tg_oc_names *tg_oc_names_new(void)
{
    struct tg_oc_names *t = calloc(1, sizeof *t);

    if (!t)
        return NULL;
    t->nslot = 1024;
    t->slot = calloc(t->nslot, sizeof *t->slot);
    t->pool = malloc(4096);
    t->cap = 4096;
    t->off = malloc(256 * sizeof *t->off);
    t->len_of = malloc(256 * sizeof *t->len_of);
    t->offcap = 256;
    if (!t->slot || !t->pool || !t->off || !t->len_of) {
        tg_oc_names_free(t);
        return NULL;
    }
    /* id 0: the empty name. */
    t->pool[0] = '\0';
    t->len = 1;
    t->off[0] = 0;
    t->len_of[0] = 0;
    t->n = 1;
    return t;
}

void tg_oc_names_free(struct tg_oc_names *t)
{
    if (!t)
        return;
    free(t->pool);
    free(t->off);
    free(t->len_of);
    free(t->slot);
    free(t);
}

uint32_t tg_oc_names_count(const struct tg_oc_names *t)
{
    return t->n;
}

const char *tg_oc_names_text(const struct tg_oc_names *t, uint32_t id)
{
    return id < t->n ? t->pool + t->off[id] : "";
}

static int grow_slots(struct tg_oc_names *t)
{
    uint32_t n = t->nslot * 2;
    struct slot *s;

    if (n < t->nslot)
        return TG_ENOMEM;
    s = calloc(n, sizeof *s);
    if (!s)
        return TG_ENOMEM;
    for (uint32_t i = 0; i < t->nslot; i++) {
        uint32_t k;
        if (!t->slot[i].id1)
            continue;
        for (k = t->slot[i].hash & (n - 1); s[k].id1; k = (k + 1) & (n - 1))
            ;
        s[k] = t->slot[i];
    }
    free(t->slot);
    t->slot = s;
    t->nslot = n;
    return 0;
}

/* The slot of the n bytes at s with hash h: where they are, or the empty
 * slot where they would go. */
static uint32_t find_slot(const struct tg_oc_names *t, const char *s,
                          size_t n, uint32_t h)
{
    uint32_t i = h & (t->nslot - 1);

    for (; t->slot[i].id1; i = (i + 1) & (t->nslot - 1)) {
        uint32_t id = t->slot[i].id1 - 1;
        if (t->slot[i].hash == h && t->len_of[id] == n &&
            memcmp(t->pool + t->off[id], s, n) == 0)
            return i;
    }
    return i;
}

int tg_oc_names_lookup(const struct tg_oc_names *t, const char *s, size_t n,
                       uint32_t *id)
{
    uint32_t i = find_slot(t, s, n, (uint32_t)hash(s, n));

    if (!t->slot[i].id1)
        return 0;
    *id = t->slot[i].id1 - 1;
    return 1;
}

int tg_oc_names_intern(struct tg_oc_names *t, const char *s, size_t n,
                       uint32_t *id)
{
    uint32_t h, slot;

    if (n == 0) {
        *id = 0;
        return 0;
    }
    h = (uint32_t)hash(s, n);
    slot = find_slot(t, s, n, h);
    if (t->slot[slot].id1) {
        *id = t->slot[slot].id1 - 1;
        return 0;
    }
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap * 2 + n + 1;
        char *p;
        if (cap > UINT32_MAX)
            return TG_ENOMEM;
        p = realloc(t->pool, cap);
        if (!p)
            return TG_ENOMEM;
        t->pool = p;
        t->cap = cap;
    }
    if (t->n == t->offcap) {
        uint32_t *o = realloc(t->off, (size_t)t->offcap * 2 * sizeof *o);
        if (!o)
            return TG_ENOMEM;
        t->off = o;
        o = realloc(t->len_of, (size_t)t->offcap * 2 * sizeof *o);
        if (!o)
            return TG_ENOMEM;
        t->len_of = o;
        t->offcap *= 2;
    }
    memcpy(t->pool + t->len, s, n);
    t->pool[t->len + n] = '\0';
    t->off[t->n] = (uint32_t)t->len;
    t->len_of[t->n] = (uint32_t)n;
    t->len += n + 1;
    t->slot[slot].id1 = t->n + 1;
    t->slot[slot].hash = h;
    *id = t->n++;
    /* Kept under half full: probes stay short. */
    if ((uint64_t)t->n * 2 > t->nslot)
        return grow_slots(t);
    return 0;
}

/* ------------------------------------------------------------------ set */

struct tg_oc_set *tg_oc_set_new(void)
{
    struct tg_oc_set *s = calloc(1, sizeof *s);

    if (!s)
        return NULL;
    s->names = tg_oc_names_new();
    if (!s->names) {
        free(s);
        return NULL;
    }
    return s;
}

void tg_oc_set_free(struct tg_oc_set *s)
{
    if (!s)
        return;
    free(s->d);
    free(s->ap);
    free(s->ev);
    free(s->pool);
    tg_oc_names_free(s->names);
    tg_oc_link_free(s);
    free(s);
}

const char *tg_oc_name(const struct tg_oc_set *s, uint32_t id)
{
    return tg_oc_names_text(s->names, id);
}

uint32_t tg_oc_name_find(const struct tg_oc_set *s, const char *text)
{
    uint32_t id;

    return tg_oc_names_lookup(s->names, text, strlen(text), &id) ? id : 0;
}

/* Grows *p (of *cap elements of size sz) to hold one more than n. */
static int reserve(void **p, size_t *cap, size_t n, size_t sz)
{
    size_t c;
    void *q;

    if (n < *cap)
        return 0;
    c = *cap ? *cap * 2 : 1024;
    if (c > SIZE_MAX / sz)
        return TG_ENOMEM;
    q = realloc(*p, c * sz);
    if (!q)
        return TG_ENOMEM;
    *p = q;
    *cap = c;
    return 0;
}

/* Identities and environments compare case-insensitively, ignoring
 * surrounding white space (TICKET.md); systems, entitlements and ticket
 * ids as they are. */
static int intern_folded(struct tg_oc_names *t, const char *s, size_t n,
                         uint32_t *id)
{
    char buf[TG_OC_TEXT_CAP];
    size_t i, k = 0;

    while (n && (*s == ' ' || *s == '\t'))
        s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n >= sizeof buf)
        n = sizeof buf - 1;
    for (i = 0; i < n; i++) {
        char c = s[i];
        buf[k++] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
    }
    return tg_oc_names_intern(t, buf, k, id);
}

/* Interns the string value v (folded or not); 0 with *id (0 when v is not
 * a string), or TG_ENOMEM. */
static int intern_val(struct tg_oc_names *t, struct tg_jval v, int fold,
                      uint32_t *id)
{
    char buf[TG_OC_TEXT_CAP];
    long n = v.p ? tg_jfield_str(v, buf, sizeof buf) : -1;

    *id = 0;
    if (n <= 0)
        return 0;
    return fold ? intern_folded(t, buf, (size_t)n, id)
                : tg_oc_names_intern(t, buf, (size_t)n, id);
}

static int64_t time_val(struct tg_jval v)
{
    char buf[64];
    long n = v.p ? tg_jfield_str(v, buf, sizeof buf) : -1;
    int64_t t;

    if (n <= 0 || tg_time_parse(buf, (size_t)n, &t) != 0)
        return TG_OC_NONE;
    return t;
}

/* TICKET.md: these words (and empty) mean the access has no end. */
static int64_t expires_val(struct tg_jval v)
{
    static const char *const never[] = {"never", "permanent", "none", "n/a"};
    char buf[64];
    long n = v.p ? tg_jfield_str(v, buf, sizeof buf) : -1;
    int64_t t;

    if (n < 0)
        return INT64_MAX;
    for (size_t i = 0; i < sizeof never / sizeof never[0]; i++)
        if (strcasecmp(buf, never[i]) == 0)
            return INT64_MAX;
    if (n == 0 || tg_time_parse(buf, (size_t)n, &t) != 0)
        return INT64_MAX;
    return t;
}

/* ---- decisions */

struct dctx {
    struct tg_oc_set *s;
    struct tg_oc_decision *d;
    int rc;
    /* The ticket's own beneficiary, interned only when the identities
     * block resolves none (it usually does). */
    struct tg_jval ticket_beneficiary;
    /* TICKET.md: no beneficiary means the requester. */
    struct tg_jval ticket_requester;
    uint32_t requester;
};

static int is_key(const char *k, size_t n, const char *want)
{
    return strlen(want) == n && memcmp(k, want, n) == 0;
}

static int code_bit(struct tg_oc_set *s, const char *code)
{
    unsigned i;

    for (i = 0; i < s->n_codes; i++)
        if (strcmp(s->codes[i], code) == 0)
            return (int)i;
    if (s->n_codes == TG_OC_MAX_CODES || strlen(code) >= sizeof s->codes[0])
        return TG_OC_MAX_CODES;
    memcpy(s->codes[s->n_codes], code, strlen(code) + 1);
    return (int)s->n_codes++;
}

struct finding {
    char code[48], action[16];
    int exception;
};

static int on_finding_member(void *ctx, const char *k, size_t n,
                             struct tg_jval v)
{
    struct finding *f = ctx;

    if (is_key(k, n, "code"))
        tg_jfield_str(v, f->code, sizeof f->code);
    else if (is_key(k, n, "action"))
        tg_jfield_str(v, f->action, sizeof f->action);
    else if (is_key(k, n, "exception") && !tg_jfield_is_null(v))
        f->exception = 1;
    return 0;
}

static int on_finding(void *ctx, const char *k, size_t n, struct tg_jval v)
{
    struct dctx *c = ctx;
    struct finding f = {.exception = 0};

    (void)k;
    (void)n;
    if (tg_jfield_each(v, on_finding_member, &f) < 0)
        return -1;
    if (f.exception)
        c->d->flags |= TG_OC_EXCEPTION;
    if (strcmp(f.code, "JUSTIFICATION_COPY_FORWARD") == 0)
        c->d->flags |= TG_OC_COPY_FORWARD;
    if (f.code[0] && strcmp(f.action, "deny") == 0)
        c->d->deny_codes |= 1ull << code_bit(c->s, f.code);
    return 0;
}

static int on_decision_member(void *ctx, const char *k, size_t n,
                              struct tg_jval v)
{
    struct dctx *c = ctx;
    char buf[16];

    if (is_key(k, n, "decision")) {
        tg_jfield_str(v, buf, sizeof buf);
        c->d->verdict = strcmp(buf, "allow") == 0      ? TG_OC_ALLOW
                        : strcmp(buf, "annotate") == 0 ? TG_OC_ANNOTATE
                        : strcmp(buf, "deny") == 0     ? TG_OC_DENY
                        : strcmp(buf, "skip") == 0     ? TG_OC_SKIP
                                                       : TG_OC_OTHER;
    } else if (is_key(k, n, "findings") && v.p[0] == '[') {
        return tg_jfield_items(v, on_finding, c) < 0 ? -1 : 0;
    } else if ((is_key(k, n, "exception") || is_key(k, n, "exceptions")) &&
               !tg_jfield_is_null(v) && !(v.end - v.p == 2)) {
        /* A decision-level exception list ("[]" and "{}" are none). */
        c->d->flags |= TG_OC_EXCEPTION;
    }
    return 0;
}

static int on_scope(void *ctx, const char *k, size_t n, struct tg_jval v)
{
    struct dctx *c = ctx;
    struct tg_oc_names *t = c->s->names;

    if (is_key(k, n, "system"))
        c->rc = intern_val(t, v, 0, &c->d->system);
    else if (is_key(k, n, "entitlement"))
        c->rc = intern_val(t, v, 0, &c->d->entitlement);
    else if (is_key(k, n, "environment"))
        c->rc = intern_val(t, v, 1, &c->d->environment);
    return c->rc ? -2 : 0;
}

static int on_ticket(void *ctx, const char *k, size_t n, struct tg_jval v)
{
    struct dctx *c = ctx;

    if (is_key(k, n, "scope"))
        return tg_jfield_each(v, on_scope, c) == -1 ? 0 : c->rc ? -2 : 0;
    if (is_key(k, n, "expires_at"))
        c->d->expires = expires_val(v);
    else if (is_key(k, n, "created_at"))
        c->d->created = time_val(v);
    else if (is_key(k, n, "emergency") && tg_jfield_bool(v) == 1)
        c->d->flags |= TG_OC_EMERGENCY;
    else if (is_key(k, n, "beneficiary")) {
        struct tg_jval id = v;
        if (v.p[0] == '{' && tg_jfield_get(v, "id", &id) != 0)
            return 0;
        c->ticket_beneficiary = id;
    } else if (is_key(k, n, "requester")) {
        c->ticket_requester = v;
    }
    return c->rc ? -2 : 0;
}

/* identities.X: the resolved directory id, else the name as given. */
static int identity(struct tg_oc_names *t, struct tg_jval v, uint32_t *id)
{
    struct tg_jval r;

    *id = 0;
    if (tg_jfield_get(v, "resolved", &r) == 0 && !tg_jfield_is_null(r))
        return intern_val(t, r, 1, id);
    if (tg_jfield_get(v, "given", &r) == 0)
        return intern_val(t, r, 1, id);
    return 0;
}

static int on_approver(void *ctx, const char *k, size_t n, struct tg_jval v)
{
    struct dctx *c = ctx;
    struct tg_oc_set *s = c->s;
    struct tg_oc_approval *a;
    struct tg_jval at;

    (void)k;
    (void)n;
    if (c->d->n_approvals == UINT16_MAX)
        return 0;
    if (reserve((void **)&s->ap, &s->capap, s->nap, sizeof *s->ap)) {
        c->rc = TG_ENOMEM;
        return -2;
    }
    a = &s->ap[s->nap];
    a->at = tg_jfield_get(v, "at", &at) == 0 ? time_val(at) : TG_OC_NONE;
    if ((c->rc = identity(s->names, v, &a->who)) != 0)
        return -2;
    if (!a->who)
        return 0;
    if (c->d->n_approvals == 0)
        c->d->approvals = (uint32_t)s->nap;
    c->d->n_approvals++;
    s->nap++;
    if (a->at != TG_OC_NONE &&
        (c->d->approved == TG_OC_NONE || a->at > c->d->approved))
        c->d->approved = a->at;
    return 0;
}

static int on_identities(void *ctx, const char *k, size_t n, struct tg_jval v)
{
    struct dctx *c = ctx;

    if (is_key(k, n, "requester")) {
        if ((c->rc = identity(c->s->names, v, &c->requester)) != 0)
            return -2;
    } else if (is_key(k, n, "beneficiary")) {
        uint32_t id;
        if ((c->rc = identity(c->s->names, v, &id)) != 0)
            return -2;
        /* The directory's id wins over the ticket's own text. */
        if (id)
            c->d->beneficiary = id;
    } else if (is_key(k, n, "approvers") && v.p[0] == '[') {
        return tg_jfield_items(v, on_approver, c) == -2 ? -2 : 0;
    }
    return 0;
}

static int on_judged(void *ctx, const char *k, size_t n, struct tg_jval v)
{
    struct dctx *c = ctx;

    /* The identities block's beneficiary wins over the ticket's own text,
     * whatever their order in the document. */
    if (is_key(k, n, "ticket") && v.p[0] == '{')
        return tg_jfield_each(v, on_ticket, c) == -2 ? -2 : 0;
    if (is_key(k, n, "identities") && v.p[0] == '{')
        return tg_jfield_each(v, on_identities, c) == -2 ? -2 : 0;
    return 0;
}

static int add_decision(struct tg_oc_set *s, const struct tg_evidence_row *r)
{
    struct tg_oc_decision d = {
        .time = r->time,
        .created = TG_OC_NONE,
        .approved = TG_OC_NONE,
        .expires = INT64_MAX,
        .verdict = TG_OC_OTHER,
    };
    struct dctx c = {.s = s, .d = &d};
    size_t nap = s->nap;
    int rc;

    if (!r->ticket || !r->json)
        goto bad;
    if (tg_jfield_each(tg_jfield_doc(r->json, r->json_len), on_decision_member,
                       &c) != 0)
        goto bad;
    if (r->judged) {
        /* An identity already set by the ticket stays unless the
         * identities block resolves one: beneficiary is read twice. */
        rc = tg_jfield_each(tg_jfield_doc(r->judged, r->judged_len), on_judged,
                            &c);
        if (c.rc)
            return c.rc;
        if (rc != 0) {
            s->nap = nap;
            goto bad;
        }
        if (!d.beneficiary && c.ticket_beneficiary.p &&
            (rc = intern_val(s->names, c.ticket_beneficiary, 1,
                             &d.beneficiary)) != 0)
            return rc;
        if (!d.beneficiary)
            d.beneficiary = c.requester;
        if (!d.beneficiary && c.ticket_requester.p &&
            (rc = intern_val(s->names, c.ticket_requester, 1,
                             &d.beneficiary)) != 0)
            return rc;
        d.flags |= TG_OC_JUDGED;
    }
    if ((rc = tg_oc_names_intern(s->names, r->ticket, strlen(r->ticket),
                                 &d.ticket)) != 0)
        return rc;
    if (reserve((void **)&s->d, &s->capd, s->nd, sizeof *s->d))
        return TG_ENOMEM;
    s->d[s->nd++] = d;
    return 0;
bad:
    s->unreadable++;
    return 0;
}

/* ---- events */

struct ectx {
    struct tg_oc_set *s;
    struct tg_oc_event *e;
    int rc;
};

static int on_event_member(void *ctx, const char *k, size_t n,
                           struct tg_jval v)
{
    struct ectx *c = ctx;
    struct tg_oc_names *t = c->s->names;
    char buf[16];

    if (is_key(k, n, "type")) {
        tg_jfield_str(v, buf, sizeof buf);
        c->e->type = strcmp(buf, "grant") == 0    ? TG_OC_GRANT
                     : strcmp(buf, "revoke") == 0 ? TG_OC_REVOKE
                     : strcmp(buf, "review") == 0 ? TG_OC_REVIEW
                                                  : TG_OC_UNKNOWN;
    } else if (is_key(k, n, "identity")) {
        c->rc = intern_val(t, v, 1, &c->e->identity);
    } else if (is_key(k, n, "system")) {
        c->rc = intern_val(t, v, 0, &c->e->system);
    } else if (is_key(k, n, "entitlement")) {
        c->rc = intern_val(t, v, 0, &c->e->entitlement);
    } else if (is_key(k, n, "environment")) {
        c->rc = intern_val(t, v, 1, &c->e->environment);
    } else if (is_key(k, n, "mapped")) {
        c->e->mapped = tg_jfield_bool(v) != 0;
    }
    return c->rc ? -2 : 0;
}

static int add_event(struct tg_oc_set *s, const struct tg_evidence_row *r)
{
    struct tg_oc_event e = {.time = r->time, .type = TG_OC_UNKNOWN,
                            .mapped = 1};
    struct ectx c = {.s = s, .e = &e};
    size_t klen = r->key ? strlen(r->key) : 0;
    int rc;

    if (!r->json)
        goto bad;
    rc = tg_jfield_each(tg_jfield_doc(r->json, r->json_len), on_event_member,
                        &c);
    if (c.rc)
        return c.rc;
    if (rc != 0)
        goto bad;
    if (r->ticket &&
        (rc = tg_oc_names_intern(s->names, r->ticket, strlen(r->ticket),
                                 &e.ticket)) != 0)
        return rc;
    if (klen > TG_OC_TEXT_CAP - 1)
        klen = TG_OC_TEXT_CAP - 1;
    if (s->pool_len + klen + 1 > s->pool_cap) {
        size_t cap = s->pool_cap ? s->pool_cap * 2 : 65536;
        char *p;
        while (cap < s->pool_len + klen + 1)
            cap *= 2;
        if (cap > UINT32_MAX)
            return TG_ENOMEM;
        p = realloc(s->pool, cap);
        if (!p)
            return TG_ENOMEM;
        s->pool = p;
        s->pool_cap = cap;
    }
    e.source_id = (uint32_t)s->pool_len;
    if (klen)
        memcpy(s->pool + s->pool_len, r->key, klen);
    s->pool[s->pool_len + klen] = '\0';
    s->pool_len += klen + 1;
    if (reserve((void **)&s->ev, &s->cape, s->ne, sizeof *s->ev))
        return TG_ENOMEM;
    s->ev[s->ne++] = e;
    return 0;
bad:
    s->unreadable++;
    return 0;
}

int tg_oc_add_row(struct tg_oc_set *s, const struct tg_evidence_row *row)
{
    if (!row->kind || strcmp(row->kind, "decision") == 0)
        return add_decision(s, row);
    if (strcmp(row->kind, "event") == 0)
        return add_event(s, row);
    return 0;
}

const char *tg_oc_source_id(const struct tg_oc_set *s,
                            const struct tg_oc_event *e)
{
    return s->pool ? s->pool + e->source_id : "";
}
