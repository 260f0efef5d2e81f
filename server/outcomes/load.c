/* load.c - the decisions and events of a store read into a set: one thread reads, one parses. */
#include "server/outcomes/internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "server/store/store.h"
#include "server/util/jarena.h"
#include "validators/errors.h"

/* The JSON values of one row (its decision document and judged ticket, or
 * its event) take some 20 KB; past this jansson falls back to malloc. */
#define ARENA_BYTES (256 * 1024)

/* A thread's arena for the rows it parses: each row's values are cut from
 * it and given back after the row (jarena.h). buf NULL: plain malloc. */
struct rows_arena {
    struct tg_jarena a;
    char *buf;
    size_t mark;
};

static void rows_arena_begin(struct rows_arena *ra)
{
    if ((ra->buf = malloc(ARENA_BYTES))) {
        tg_jarena_begin(&ra->a, ra->buf, ARENA_BYTES);
        ra->mark = tg_jarena_mark(&ra->a);
    }
}

/* After each row: its values are released (tg_oc_add_row), their bytes
 * taken back. */
static void rows_arena_next(struct rows_arena *ra)
{
    if (ra->buf)
        tg_jarena_rewind(&ra->a, ra->mark);
}

static void rows_arena_end(struct rows_arena *ra)
{
    if (ra->buf)
        tg_jarena_end(&ra->a);
    free(ra->buf);
    ra->buf = NULL;
}

struct part {
    struct tg_evidence *e;
    const char *kind;
    struct tg_oc_set *s;
    struct rows_arena ra;
    int rc;
};

static int on_row(void *ctx, const struct tg_evidence_row *row)
{
    struct part *p = ctx;
    int rc = tg_oc_add_row(p->s, row);

    rows_arena_next(&p->ra);
    /* A positive value stops the scan and comes back from it. */
    return rc ? 1 : 0;
}

static void *scan_part(void *arg)
{
    struct part *p = arg;
    int rc;

    rows_arena_begin(&p->ra);
    p->s->arena = p->ra.buf ? &p->ra.a : NULL;
    rc = tg_evidence_scan(p->e, p->kind, INT64_MIN, INT64_MAX, on_row, p);
    p->s->arena = NULL;
    rows_arena_end(&p->ra);
    p->rc = rc == 1 ? TG_ENOMEM : rc;
    return NULL;
}

/*
 * The file is read once, in seq order, by the calling thread (SQLite and
 * the copy of each row's bytes into batches), and two parser threads take
 * the batches in turn, each into its own set; the sets are then merged
 * batch by batch, so the result is the set a single thread would have
 * made, rows in seq order. Reading is a fifth of the work and parsing
 * (jansson, in the parser threads only, each into its own arena) most of
 * the rest: three threads keep both cores busy. A row travels in a batch: its
 * header, then ticket, key (NUL-terminated), document, judged ticket and
 * facts. A row with facts is read from them alone, and the scan does not
 * even select its documents (tg_evidence_scan_file_facts): they were 1.5
 * KB of its 2 KB, copied twice (SQLite, then here) and never parsed. Its
 * facts not reading, it counts as unreadable.
 */
#define BATCH_BYTES (1u << 20)
#define N_BATCHES 6
#define N_PARSERS 2

struct hdr {
    int64_t time;
    uint32_t tlen, klen, jlen, glen, flen; /* ticket, key, json, judged, facts */
    uint8_t event, has_ticket, has_judged, has_facts;
};

struct batch {
    char *buf;
    size_t len, cap;
    size_t id; /* its number in scan order */
    int state; /* 0 free (the reader's), 1 full, 2 being parsed */
};

/* What one parser made of the batches it took: after batch `batch`, its
 * set held nd decisions and ne events. */
struct seg {
    size_t batch, nd, ne;
};

struct worker {
    struct pipe *p;
    struct tg_oc_set *s;
    struct seg *segs;
    size_t nseg, capseg;
    int rc;
};

struct pipe {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct batch b[N_BATCHES];
    size_t head, tail; /* next to fill / next to parse, in scan order */
    int done, failed;  /* reader finished; a parser failed (ENOMEM) */
    size_t batch_bytes;
};

/* Waits for the reader's next slot to be free; -1 once a parser failed. */
static int wait_free(struct pipe *p, struct batch *b)
{
    int rc;

    pthread_mutex_lock(&p->lock);
    while (b->state != 0 && !p->failed)
        pthread_cond_wait(&p->cond, &p->lock);
    rc = p->failed ? -1 : 0;
    pthread_mutex_unlock(&p->lock);
    return rc;
}

static void hand_over(struct pipe *p)
{
    struct batch *b = &p->b[p->head % N_BATCHES];

    pthread_mutex_lock(&p->lock);
    b->state = 1;
    b->id = p->head++;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

static int on_row_copy(void *ctx, const struct tg_evidence_row *row)
{
    struct pipe *p = ctx;
    struct batch *b = &p->b[p->head % N_BATCHES];
    int event = row->kind && strcmp(row->kind, "event") == 0;
    struct hdr h;
    size_t need;

    if (!event && row->kind && strcmp(row->kind, "decision") != 0)
        return 0;
    h = (struct hdr){
        .time = row->time,
        .tlen = row->ticket ? (uint32_t)strlen(row->ticket) : 0,
        .klen = row->key ? (uint32_t)strlen(row->key) : 0,
        .jlen = row->json ? (uint32_t)row->json_len : 0,
        .glen = row->judged ? (uint32_t)row->judged_len : 0,
        .flen = row->facts ? (uint32_t)row->facts_len : 0,
        .event = (uint8_t)event,
        .has_ticket = row->ticket != NULL,
        .has_judged = row->judged != NULL,
        .has_facts = row->facts != NULL,
    };
    need = sizeof h + h.tlen + 1 + h.klen + 1 + h.jlen + h.glen + h.flen;
    if (b->len && b->len + need > p->batch_bytes) {
        hand_over(p);
        b = &p->b[p->head % N_BATCHES];
        if (wait_free(p, b) != 0)
            return 1;
        b->len = 0;
    }
    if (b->len + need > b->cap) { /* one row larger than a batch */
        size_t cap = b->len + need;
        char *q = realloc(b->buf, cap);
        if (!q)
            return 1;
        b->buf = q;
        b->cap = cap;
    }
    {
        char *q = b->buf + b->len;
        memcpy(q, &h, sizeof h);
        q += sizeof h;
        if (h.tlen)
            memcpy(q, row->ticket, h.tlen);
        q[h.tlen] = '\0';
        q += h.tlen + 1;
        if (h.klen)
            memcpy(q, row->key, h.klen);
        q[h.klen] = '\0';
        q += h.klen + 1;
        if (h.jlen)
            memcpy(q, row->json, h.jlen);
        q += h.jlen;
        if (h.glen)
            memcpy(q, row->judged, h.glen);
        q += h.glen;
        if (h.flen)
            memcpy(q, row->facts, h.flen);
    }
    b->len += need;
    return 0;
}

static int parse_batch(struct tg_oc_set *s, struct rows_arena *ra,
                       const struct batch *b)
{
    size_t off = 0;

    while (off < b->len) {
        struct hdr h;
        const char *q = b->buf + off;
        struct tg_evidence_row row;
        int rc;

        memcpy(&h, q, sizeof h);
        q += sizeof h;
        memset(&row, 0, sizeof row);
        row.kind = h.event ? "event" : "decision";
        row.time = h.time;
        row.ticket = h.has_ticket ? q : NULL;
        q += h.tlen + 1;
        row.key = q;
        q += h.klen + 1;
        row.json = q;
        row.json_len = h.jlen;
        q += h.jlen;
        row.judged = h.has_judged ? q : NULL;
        row.judged_len = h.glen;
        q += h.glen;
        row.facts = h.has_facts ? q : NULL;
        row.facts_len = h.flen;
        rc = tg_oc_add_row(s, &row);
        rows_arena_next(ra);
        if (rc != 0)
            return rc;
        off += sizeof h + h.tlen + 1 + h.klen + 1 + h.jlen + h.glen + h.flen;
    }
    return 0;
}

static void *parser(void *arg)
{
    struct worker *w = arg;
    struct pipe *p = w->p;
    struct rows_arena ra;

    rows_arena_begin(&ra);
    w->s->arena = ra.buf ? &ra.a : NULL;
    for (;;) {
        struct batch *b;
        int rc;

        pthread_mutex_lock(&p->lock);
        while (p->b[p->tail % N_BATCHES].state != 1 && !p->done &&
               !p->failed)
            pthread_cond_wait(&p->cond, &p->lock);
        b = &p->b[p->tail % N_BATCHES];
        if (b->state != 1 || p->failed) { /* done and drained, or failed */
            pthread_mutex_unlock(&p->lock);
            w->s->arena = NULL;
            rows_arena_end(&ra);
            return NULL;
        }
        b->state = 2;
        p->tail++;
        pthread_mutex_unlock(&p->lock);
        rc = parse_batch(w->s, &ra, b);
        if (!rc && w->nseg == w->capseg) {
            size_t cap = w->capseg ? w->capseg * 2 : 256;
            struct seg *g = realloc(w->segs, cap * sizeof *g);
            if (g) {
                w->segs = g;
                w->capseg = cap;
            } else {
                rc = TG_ENOMEM;
            }
        }
        if (!rc)
            w->segs[w->nseg++] =
                (struct seg){.batch = b->id, .nd = w->s->nd, .ne = w->s->ne};
        pthread_mutex_lock(&p->lock);
        b->state = 0;
        if (rc)
            p->failed = 1;
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->lock);
        if (rc) {
            w->rc = rc;
            w->s->arena = NULL;
            rows_arena_end(&ra);
            return NULL;
        }
    }
}

/* The bit of code name in a's table (added when new; "other" when full). */
static int code_in(struct tg_oc_set *a, const char *name)
{
    unsigned i;

    for (i = 0; i < a->n_codes; i++)
        if (strcmp(a->codes[i], name) == 0)
            return (int)i;
    if (a->n_codes == TG_OC_MAX_CODES)
        return TG_OC_MAX_CODES;
    memcpy(a->codes[a->n_codes], name, strlen(name) + 1);
    return (int)a->n_codes++;
}

/* Maps every name of parser set s into a's names (*map, caller frees,
 * set even on failure) and its deny codes into a's (cmap). 0, TG_ENOMEM. */
static int map_names(struct tg_oc_set *a, const struct tg_oc_set *s,
                     uint32_t **map, int *cmap)
{
    uint32_t n = tg_oc_names_count(s->names);

    if (!(*map = malloc((size_t)n * sizeof **map)))
        return TG_ENOMEM;
    for (uint32_t id = 0; id < n; id++) {
        const char *t = tg_oc_names_text(s->names, id);
        if (tg_oc_names_intern(a->names, t, strlen(t), &(*map)[id]))
            return TG_ENOMEM;
    }
    for (unsigned c = 0; c < s->n_codes; c++)
        cmap[c] = code_in(a, s->codes[c]);
    return 0;
}

/* Decision i of s renamed through m (NULL: already in the merged names) and
 * cmap, its approvals appended to ap at *nap. */
static struct tg_oc_decision merge_decision(const struct tg_oc_set *s,
                                            size_t i, const uint32_t *m,
                                            const int *cmap,
                                            struct tg_oc_approval *ap,
                                            size_t *nap)
{
    struct tg_oc_decision x = s->d[i];
    uint32_t first = (uint32_t)*nap;

    for (uint32_t j = 0; j < x.n_approvals; j++) {
        ap[*nap] = s->ap[x.approvals + j];
        if (m)
            ap[*nap].who = m[ap[*nap].who];
        (*nap)++;
    }
    x.approvals = first;
    if (m) {
        uint64_t codes = 0;
        x.ticket = m[x.ticket];
        x.beneficiary = m[x.beneficiary];
        x.system = m[x.system];
        x.entitlement = m[x.entitlement];
        x.environment = m[x.environment];
        for (unsigned c = 0; c <= TG_OC_MAX_CODES; c++)
            if (x.deny_codes & (1ull << c))
                codes |= 1ull << (c < s->n_codes ? cmap[c] : TG_OC_MAX_CODES);
        x.deny_codes = codes;
    }
    return x;
}

/* Event i of s renamed through m (NULL: already merged), its source id
 * moved by off into the merged pool. */
static struct tg_oc_event merge_event(const struct tg_oc_set *s, size_t i,
                                      const uint32_t *m, uint32_t off)
{
    struct tg_oc_event x = s->ev[i];

    x.source_id += off;
    if (m) {
        x.identity = m[x.identity];
        x.system = m[x.system];
        x.entitlement = m[x.entitlement];
        x.environment = m[x.environment];
        x.ticket = m[x.ticket];
    }
    return x;
}

/* a gives up its own arrays and takes over the merged ones (exact size). */
static void adopt(struct tg_oc_set *a, struct tg_oc_decision *d, size_t nd,
                  struct tg_oc_event *ev, size_t ne, struct tg_oc_approval *ap,
                  size_t nap, char *pl, size_t pool)
{
    free(a->d);
    free(a->ev);
    free(a->ap);
    free(a->pool);
    a->d = d;
    a->nd = a->capd = nd;
    a->ev = ev;
    a->ne = a->cape = ne;
    a->ap = ap;
    a->nap = a->capap = nap;
    a->pool = pl;
    a->pool_len = a->pool_cap = pool;
}

/* The workers' sets made into one, batch by batch in scan order, in
 * w[0]'s set (whose names and codes keep their ids; the others' are
 * mapped). 0 or TG_ENOMEM. */
static int merge(struct worker *w, size_t nw)
{
    struct tg_oc_set *a = w[0].s;
    size_t nd = 0, ne = 0, nap = 0, pool = 0, k, at[N_PARSERS] = {0};
    size_t pd[N_PARSERS] = {0}, pe[N_PARSERS] = {0}, off[N_PARSERS] = {0};
    uint32_t *map[N_PARSERS] = {NULL};
    int cmap[N_PARSERS][TG_OC_MAX_CODES + 1];
    struct tg_oc_decision *d = NULL;
    struct tg_oc_event *ev = NULL;
    struct tg_oc_approval *ap = NULL;
    char *pl = NULL;
    int rc = TG_ENOMEM;

    for (k = 0; k < nw; k++) {
        nd += w[k].s->nd;
        ne += w[k].s->ne;
        nap += w[k].s->nap;
        off[k] = pool;
        pool += w[k].s->pool_len;
    }
    for (k = 1; k < nw; k++)
        if (map_names(a, w[k].s, &map[k], cmap[k]))
            goto out;
    d = malloc((nd ? nd : 1) * sizeof *d);
    ev = malloc((ne ? ne : 1) * sizeof *ev);
    ap = malloc((nap ? nap : 1) * sizeof *ap);
    pl = malloc(pool ? pool : 1);
    if (!d || !ev || !ap || !pl)
        goto out;
    for (k = 0; k < nw; k++)
        if (w[k].s->pool_len)
            memcpy(pl + off[k], w[k].s->pool, w[k].s->pool_len);
    nd = ne = nap = 0;
    for (size_t b = 0;; b++) {
        const struct seg *g = NULL;
        struct tg_oc_set *s;
        uint32_t *m;

        for (k = 0; k < nw; k++)
            if (at[k] < w[k].nseg && w[k].segs[at[k]].batch == b) {
                g = &w[k].segs[at[k]++];
                break;
            }
        if (!g)
            break;
        s = w[k].s;
        m = map[k];
        for (size_t i = pd[k]; i < g->nd; i++) {
            d[nd++] = merge_decision(s, i, m, cmap[k], ap, &nap);
        }
        for (size_t i = pe[k]; i < g->ne; i++) {
            ev[ne++] = merge_event(s, i, m, (uint32_t)off[k]);
        }
        pd[k] = g->nd;
        pe[k] = g->ne;
    }
    for (k = 1; k < nw; k++)
        a->unreadable += w[k].s->unreadable;
    adopt(a, d, nd, ev, ne, ap, nap, pl, pool);
    d = NULL;
    ev = NULL;
    ap = NULL;
    pl = NULL;
    rc = 0;
out:
    for (k = 0; k < nw; k++)
        free(map[k]);
    free(d);
    free(ev);
    free(ap);
    free(pl);
    return rc;
}

int tg_oc_load_file_batched(const char *path, size_t batch_bytes,
                            struct tg_oc_set **out)
{
    struct pipe p = {.batch_bytes = batch_bytes};
    struct worker w[N_PARSERS];
    pthread_t th[N_PARSERS];
    size_t started = 0, k;
    int rc = TG_ENOMEM, i;

    memset(w, 0, sizeof w);
    if (pthread_mutex_init(&p.lock, NULL) != 0)
        return TG_ENOMEM;
    if (pthread_cond_init(&p.cond, NULL) != 0) {
        pthread_mutex_destroy(&p.lock);
        return TG_ENOMEM;
    }
    for (i = 0; i < N_BATCHES; i++) {
        p.b[i].cap = batch_bytes;
        if (!(p.b[i].buf = malloc(batch_bytes)))
            goto out;
    }
    for (k = 0; k < N_PARSERS; k++) {
        w[k].p = &p;
        if (!(w[k].s = tg_oc_set_new()))
            goto out;
    }
    for (k = 0; k < N_PARSERS; k++) {
        if (pthread_create(&th[k], NULL, parser, &w[k]) != 0)
            break;
        started++;
    }
    if (!started)
        goto out;
    rc = tg_evidence_scan_file_facts(path, INT64_MIN, INT64_MAX, on_row_copy,
                                     &p);
    if (p.b[p.head % N_BATCHES].len && !p.failed && rc == 0)
        hand_over(&p);
    pthread_mutex_lock(&p.lock);
    p.done = 1;
    pthread_cond_broadcast(&p.cond);
    pthread_mutex_unlock(&p.lock);
    for (k = 0; k < started; k++)
        pthread_join(th[k], NULL);
    if (rc == 1 || p.failed)
        rc = TG_ENOMEM;
    if (!rc)
        rc = merge(w, N_PARSERS);
    if (!rc)
        rc = tg_oc_link(w[0].s);
out:
    for (i = 0; i < N_BATCHES; i++)
        free(p.b[i].buf);
    for (k = 0; k < N_PARSERS; k++) {
        free(w[k].segs);
        if (k > 0 || rc)
            tg_oc_set_free(w[k].s);
    }
    pthread_cond_destroy(&p.cond);
    pthread_mutex_destroy(&p.lock);
    if (rc)
        return rc;
    *out = w[0].s;
    return 0;
}

int tg_oc_load_file(const char *path, struct tg_oc_set **out)
{
    return tg_oc_load_file_batched(path, BATCH_BYTES, out);
}

int tg_oc_load(struct tg_evidence *e, struct tg_oc_set **out)
{
    struct part p = {.e = e, .kind = NULL};
    int rc;

    p.s = tg_oc_set_new();
    if (!p.s)
        return TG_ENOMEM;
    scan_part(&p);
    rc = p.rc;
    if (!rc)
        rc = tg_oc_link(p.s);
    if (rc) {
        tg_oc_set_free(p.s);
        return rc;
    }
    *out = p.s;
    return 0;
}
