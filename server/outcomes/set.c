/* set.c - the decisions and events of a store in compact arrays, names interned. */
#include "server/outcomes/outcomes.h"
#include "server/outcomes/internal.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>

#include <jansson.h>

#include "server/store/store.h"
#include "server/util/jarena.h"
#include "validators/errors.h"
#include "validators/timeparse.h"

/* ---------------------------------------------------------------- names */

struct tg_oc_names {
    char *pool;        /* NUL-terminated texts */
    size_t len, cap;
    uint32_t *off;     /* id -> offset in pool */
    uint32_t n, offcap;
    /* A slot holds what a lookup compares, so that a probe touches the
     * slot and the text only: a million ticket ids make the table far
     * larger than the caches, and every array read per probe was a miss
     * (interning was 7% of a large report's CPU). */
    struct slot {
        uint32_t id1;  /* id + 1, 0 empty */
        uint32_t hash; /* the text's hash, compared before its bytes */
        uint32_t off;  /* the text's offset in pool */
        uint32_t len;  /* its length */
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
    t->offcap = 256;
    if (!t->slot || !t->pool || !t->off) {
        tg_oc_names_free(t);
        return NULL;
    }
    /* id 0: the empty name. */
    t->pool[0] = '\0';
    t->len = 1;
    t->off[0] = 0;
    t->n = 1;
    return t;
}

void tg_oc_names_free(struct tg_oc_names *t)
{
    if (!t)
        return;
    free(t->pool);
    free(t->off);
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

/* Where transparent huge pages are had by asking (madvise mode). */
#define HUGE_PAGE (2u << 20)

/* n zeroed slots. A table of a million ticket ids is tens of MB probed at
 * random, and in 4 KB pages nearly every probe also missed the TLB (in a
 * virtual machine a two-level page walk): 88% of interning's time was the
 * load of the slot. In 2 MB pages the table's translations stay cached. */
static struct slot *slots_new(uint32_t n)
{
    size_t bytes = (size_t)n * sizeof(struct slot);
    void *p = NULL;

    if (bytes < HUGE_PAGE)
        return calloc(n, sizeof(struct slot));
    if (posix_memalign(&p, HUGE_PAGE, bytes) != 0)
        return NULL;
#ifdef MADV_HUGEPAGE
    (void)madvise(p, bytes, MADV_HUGEPAGE); /* a hint: 4 KB pages else */
#endif
    memset(p, 0, bytes);
    return p;
}

static int grow_slots(struct tg_oc_names *t)
{
    uint32_t n = t->nslot * 2;
    struct slot *s;

    if (n < t->nslot)
        return TG_ENOMEM;
    s = slots_new(n);
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
        const struct slot *k = &t->slot[i];
        if (k->hash == h && k->len == n &&
            memcmp(t->pool + k->off, s, n) == 0)
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

/* The hash of the n bytes at s, their first slot asked into the cache:
 * a row's ticket id is new or rare, and its probe a miss (most of
 * interning's time); asked before the row's JSON is parsed, it is there
 * when names_intern_hashed comes to it. */
static uint32_t names_prefetch(const struct tg_oc_names *t, const char *s,
                               size_t n)
{
    uint32_t h = (uint32_t)hash(s, n);

    __builtin_prefetch(&t->slot[h & (t->nslot - 1)]);
    return h;
}

/* tg_oc_names_intern of the n bytes at s whose hash is h. */
static int names_intern_hashed(struct tg_oc_names *t, const char *s, size_t n,
                               uint32_t h, uint32_t *id)
{
    uint32_t slot;

    if (n == 0) {
        *id = 0;
        return 0;
    }
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
        t->offcap *= 2;
    }
    memcpy(t->pool + t->len, s, n);
    t->pool[t->len + n] = '\0';
    t->off[t->n] = (uint32_t)t->len;
    t->slot[slot] = (struct slot){.id1 = t->n + 1, .hash = h,
                                  .off = (uint32_t)t->len, .len = (uint32_t)n};
    t->len += n + 1;
    *id = t->n++;
    /* Kept under half full: probes stay short. */
    if ((uint64_t)t->n * 2 > t->nslot)
        return grow_slots(t);
    return 0;
}

int tg_oc_names_intern(struct tg_oc_names *t, const char *s, size_t n,
                       uint32_t *id)
{
    return names_intern_hashed(t, s, n, (uint32_t)hash(s, n), id);
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

/* Keeps the first n bytes of s in buf (cap bytes, NUL-terminated), cut
 * back to a whole UTF-8 character when s does not fit. */
static size_t keep(char *buf, size_t cap, const char *s, size_t n)
{
    if (n >= cap) {
        n = cap - 1;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    return n;
}

/* The string v into buf (cap bytes; longer strings are cut). Returns its
 * length, or -1 when v is no string (absent or null included). */
static long str_val(const json_t *v, char *buf, size_t cap)
{
    if (!json_is_string(v) || !cap)
        return -1;
    return (long)keep(buf, cap, json_string_value(v), json_string_length(v));
}

/* Interns the string value v (folded or not); 0 with *id (0 when v is not
 * a string), or TG_ENOMEM. */
static int intern_val(struct tg_oc_names *t, const json_t *v, int fold,
                      uint32_t *id)
{
    char buf[TG_OC_TEXT_CAP];
    long n = str_val(v, buf, sizeof buf);

    *id = 0;
    if (n <= 0)
        return 0;
    return fold ? intern_folded(t, buf, (size_t)n, id)
                : tg_oc_names_intern(t, buf, (size_t)n, id);
}

static int64_t time_val(const json_t *v)
{
    char buf[64];
    long n = str_val(v, buf, sizeof buf);
    int64_t t;

    if (n <= 0 || tg_time_parse(buf, (size_t)n, &t) != 0)
        return TG_OC_NONE;
    return t;
}

/* TICKET.md: these words (and empty) mean the access has no end. */
static int64_t expires_val(const json_t *v)
{
    static const char *const never[] = {"never", "permanent", "none", "n/a"};
    char buf[64];
    long n = str_val(v, buf, sizeof buf);
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

/* A stored document (the decision, judged ticket or event the store holds)
 * parsed by jansson: a JSON object, else NULL. No JSON_REJECT_DUPLICATES:
 * the text is the server's own. The caller's arena, if any, takes the
 * values (load.c). */
static json_t *doc_load(const char *p, size_t len)
{
    json_t *v = json_loadb(p, len, 0, NULL);

    if (json_is_object(v))
        return v;
    json_decref(v);
    return NULL;
}

/* A row's parsed value v given up: released, or, while every value of
 * the row lives in s's arena (tg_jarena_whole), left for the rewind after
 * the row (load.c), which gives its bytes back at once; json_decref would
 * walk each of the row's some sixty values first. */
static void drop(const struct tg_oc_set *s, json_t *v)
{
    if (!s->arena || !tg_jarena_whole(s->arena))
        json_decref(v);
}

/* ---- decisions */

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

/* An exception member that names something: not null, "", [] or {}. */
static int names_exception(const json_t *v)
{
    if (!v || json_is_null(v))
        return 0;
    if (json_is_array(v))
        return json_array_size(v) != 0;
    if (json_is_object(v))
        return json_object_size(v) != 0;
    if (json_is_string(v))
        return json_string_length(v) != 0;
    return 1;
}

/* The decision document doc into d: the verdict, and from the findings
 * the deny codes, copy-forward and exceptions. 0, or -1 when a finding is
 * no object (the record is unreadable). */
static int read_decision(struct tg_oc_set *s, const json_t *doc,
                         struct tg_oc_decision *d)
{
    const json_t *findings = json_object_get(doc, "findings"), *f;
    char buf[16];
    size_t i;

    if (str_val(json_object_get(doc, "decision"), buf, sizeof buf) < 0)
        buf[0] = '\0';
    d->verdict = strcmp(buf, "allow") == 0      ? TG_OC_ALLOW
                 : strcmp(buf, "annotate") == 0 ? TG_OC_ANNOTATE
                 : strcmp(buf, "deny") == 0     ? TG_OC_DENY
                 : strcmp(buf, "skip") == 0     ? TG_OC_SKIP
                                                : TG_OC_OTHER;
    /* A decision-level exception list. */
    if (names_exception(json_object_get(doc, "exception")) ||
        names_exception(json_object_get(doc, "exceptions")))
        d->flags |= TG_OC_EXCEPTION;
    json_array_foreach(findings, i, f) {
        char code[48] = "", action[16] = "";
        const json_t *x;

        if (!json_is_object(f))
            return -1;
        str_val(json_object_get(f, "code"), code, sizeof code);
        str_val(json_object_get(f, "action"), action, sizeof action);
        x = json_object_get(f, "exception");
        if (x && !json_is_null(x))
            d->flags |= TG_OC_EXCEPTION;
        if (strcmp(code, "JUSTIFICATION_COPY_FORWARD") == 0)
            d->flags |= TG_OC_COPY_FORWARD;
        if (code[0] && strcmp(action, "deny") == 0)
            d->deny_codes |= 1ull << code_bit(s, code);
    }
    return 0;
}

/* identities.X: the resolved directory id, else the name as given. */
static int identity(struct tg_oc_names *t, const json_t *v, uint32_t *id)
{
    const json_t *r = json_object_get(v, "resolved");

    *id = 0;
    if (r && !json_is_null(r))
        return intern_val(t, r, 1, id);
    if ((r = json_object_get(v, "given")))
        return intern_val(t, r, 1, id);
    return 0;
}

/* The approvers of the identities block into s->ap, d->approvals. 0 or
 * TG_ENOMEM. */
static int read_approvers(struct tg_oc_set *s, const json_t *approvers,
                          struct tg_oc_decision *d)
{
    const json_t *v;
    size_t i;
    int rc;

    json_array_foreach(approvers, i, v) {
        struct tg_oc_approval *a;

        if (d->n_approvals == UINT16_MAX)
            return 0;
        if (reserve((void **)&s->ap, &s->capap, s->nap, sizeof *s->ap))
            return TG_ENOMEM;
        a = &s->ap[s->nap];
        a->at = time_val(json_object_get(v, "at"));
        if ((rc = identity(s->names, v, &a->who)) != 0)
            return rc;
        if (!a->who)
            continue;
        if (d->n_approvals == 0)
            d->approvals = (uint32_t)s->nap;
        d->n_approvals++;
        s->nap++;
        if (a->at != TG_OC_NONE &&
            (d->approved == TG_OC_NONE || a->at > d->approved))
            d->approved = a->at;
    }
    return 0;
}

/* The judged document (PLAN.md Interface 2) into d: the ticket's scope,
 * times and emergency flag, the identities, the approvals. 0 or
 * TG_ENOMEM. */
static int read_judged(struct tg_oc_set *s, const json_t *judged,
                       struct tg_oc_decision *d)
{
    const json_t *t = json_object_get(judged, "ticket");
    const json_t *ids = json_object_get(judged, "identities");
    const json_t *scope, *b, *ticket_beneficiary = NULL;
    uint32_t requester = 0, id;
    int rc;

    if (json_is_object(t)) {
        scope = json_object_get(t, "scope");
        if ((rc = intern_val(s->names, json_object_get(scope, "system"), 0,
                             &d->system)) ||
            (rc = intern_val(s->names, json_object_get(scope, "entitlement"),
                             0, &d->entitlement)) ||
            (rc = intern_val(s->names, json_object_get(scope, "environment"),
                             1, &d->environment)))
            return rc;
        d->expires = expires_val(json_object_get(t, "expires_at"));
        d->created = time_val(json_object_get(t, "created_at"));
        if (json_is_true(json_object_get(t, "emergency")))
            d->flags |= TG_OC_EMERGENCY;
        b = json_object_get(t, "beneficiary");
        ticket_beneficiary = json_is_object(b) ? json_object_get(b, "id") : b;
    }
    if (json_is_object(ids)) {
        if ((rc = identity(s->names, json_object_get(ids, "requester"),
                           &requester)) ||
            (rc = identity(s->names, json_object_get(ids, "beneficiary"),
                           &id)))
            return rc;
        /* The directory's id wins over the ticket's own text. */
        if (id)
            d->beneficiary = id;
        if ((rc = read_approvers(s, json_object_get(ids, "approvers"), d)))
            return rc;
    }
    /* The ticket's own beneficiary, interned only when the identities
     * block resolves none (it usually does); no beneficiary means the
     * requester (TICKET.md). */
    if (!d->beneficiary && ticket_beneficiary &&
        (rc = intern_val(s->names, ticket_beneficiary, 1, &d->beneficiary)))
        return rc;
    if (!d->beneficiary)
        d->beneficiary = requester;
    if (!d->beneficiary && json_is_object(t) &&
        (rc = intern_val(s->names, json_object_get(t, "requester"), 1,
                         &d->beneficiary)))
        return rc;
    d->flags |= TG_OC_JUDGED;
    return 0;
}

/* The decision document of row r (a new reference, NULL when it does not
 * read) and, in *judged, its judged ticket: a row with a facts document
 * (tg_facts_build: its "recorded" holds the decision document's members,
 * the rest the judged ticket's, each at its own path) is read from it
 * alone, one parse instead of two; otherwise, or when its facts do not
 * read, from its decision document, *judged left NULL (the caller parses
 * the judged ticket). */
static json_t *decision_doc(const struct tg_evidence_row *r, json_t **judged)
{
    json_t *doc;

    *judged = NULL;
    if (r->facts && (doc = doc_load(r->facts, r->facts_len))) {
        json_t *rec = json_object_get(doc, "recorded");

        if (json_is_object(rec)) {
            json_incref(rec);
            if (r->judged)
                *judged = doc;
            else
                json_decref(doc);
            return rec;
        }
        json_decref(doc);
    }
    return r->json ? doc_load(r->json, r->json_len) : NULL;
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
    json_t *doc = NULL, *judged = NULL;
    size_t nap = s->nap, tlen = r->ticket ? strlen(r->ticket) : 0;
    uint32_t th = r->ticket ? names_prefetch(s->names, r->ticket, tlen) : 0;
    int rc = 0;

    if (!r->ticket || !(doc = decision_doc(r, &judged)) ||
        read_decision(s, doc, &d) != 0)
        goto bad;
    if (r->judged) {
        if (!judged && !(judged = doc_load(r->judged, r->judged_len)))
            goto bad;
        if ((rc = read_judged(s, judged, &d)) != 0)
            goto out;
    }
    if ((rc = names_intern_hashed(s->names, r->ticket, tlen, th,
                                  &d.ticket)) != 0)
        goto out;
    if (reserve((void **)&s->d, &s->capd, s->nd, sizeof *s->d)) {
        rc = TG_ENOMEM;
        goto out;
    }
    s->d[s->nd++] = d;
    goto out;
bad:
    s->nap = nap;
    s->unreadable++;
out:
    drop(s, judged);
    drop(s, doc);
    return rc;
}

/* ---- events */

static int add_event(struct tg_oc_set *s, const struct tg_evidence_row *r)
{
    struct tg_oc_event e = {.time = r->time, .type = TG_OC_UNKNOWN,
                            .mapped = 1};
    struct tg_oc_names *t = s->names;
    size_t klen = r->key ? strlen(r->key) : 0;
    size_t tlen = r->ticket ? strlen(r->ticket) : 0;
    uint32_t th = r->ticket ? names_prefetch(t, r->ticket, tlen) : 0;
    json_t *doc = NULL;
    char buf[16];
    int rc = 0;

    if (!r->json || !(doc = doc_load(r->json, r->json_len))) {
        s->unreadable++;
        return 0;
    }
    if (str_val(json_object_get(doc, "type"), buf, sizeof buf) < 0)
        buf[0] = '\0';
    e.type = strcmp(buf, "grant") == 0    ? TG_OC_GRANT
             : strcmp(buf, "revoke") == 0 ? TG_OC_REVOKE
             : strcmp(buf, "review") == 0 ? TG_OC_REVIEW
                                          : TG_OC_UNKNOWN;
    /* mapped: absent or anything but false is true */
    e.mapped = !json_is_false(json_object_get(doc, "mapped"));
    if ((rc = intern_val(t, json_object_get(doc, "identity"), 1,
                         &e.identity)) ||
        (rc = intern_val(t, json_object_get(doc, "system"), 0, &e.system)) ||
        (rc = intern_val(t, json_object_get(doc, "entitlement"), 0,
                         &e.entitlement)) ||
        (rc = intern_val(t, json_object_get(doc, "environment"), 1,
                         &e.environment)))
        goto out;
    if (r->ticket &&
        (rc = names_intern_hashed(t, r->ticket, tlen, th, &e.ticket)) != 0)
        goto out;
    if (klen > TG_OC_TEXT_CAP - 1)
        klen = TG_OC_TEXT_CAP - 1;
    if (s->pool_len + klen + 1 > s->pool_cap) {
        size_t cap = s->pool_cap ? s->pool_cap * 2 : 65536;
        char *p;
        while (cap < s->pool_len + klen + 1)
            cap *= 2;
        if (cap > UINT32_MAX) {
            rc = TG_ENOMEM;
            goto out;
        }
        if (!(p = realloc(s->pool, cap))) {
            rc = TG_ENOMEM;
            goto out;
        }
        s->pool = p;
        s->pool_cap = cap;
    }
    e.source_id = (uint32_t)s->pool_len;
    if (klen)
        memcpy(s->pool + s->pool_len, r->key, klen);
    s->pool[s->pool_len + klen] = '\0';
    s->pool_len += klen + 1;
    if (reserve((void **)&s->ev, &s->cape, s->ne, sizeof *s->ev))
        rc = TG_ENOMEM;
    else
        s->ev[s->ne++] = e;
out:
    drop(s, doc);
    return rc;
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
