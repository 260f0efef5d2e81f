/* load.c - the decisions and events of a store read into a set: one thread reads, one parses. */
#include "server/outcomes/internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "server/store/store.h"
#include "validators/errors.h"

struct part {
    struct tg_evidence *e;
    const char *kind;
    struct tg_oc_set *s;
    int rc;
};

static int on_row(void *ctx, const struct tg_evidence_row *row)
{
    struct part *p = ctx;
    int rc = tg_oc_add_row(p->s, row);

    /* A positive value stops the scan and comes back from it. */
    return rc ? 1 : 0;
}

static void *scan_part(void *arg)
{
    struct part *p = arg;
    int rc;

    rc = tg_evidence_scan(p->e, p->kind, INT64_MIN, INT64_MAX, on_row, p);
    p->rc = rc == 1 ? TG_ENOMEM : rc;
    return NULL;
}

/*
 * The file is read once, in seq order, by the calling thread (SQLite and
 * the copy of each row's bytes), while a second thread parses the rows
 * read before: the two halves of the work run on two cores. A row travels
 * in a batch: its header, then ticket, key (NUL-terminated), document and
 * judged ticket.
 */
#define BATCH_BYTES (1u << 20)
#define N_BATCHES 4

struct hdr {
    int64_t time;
    uint32_t tlen, klen, jlen, glen; /* ticket, key, json, judged */
    uint8_t event, has_ticket, has_judged;
};

struct batch {
    char *buf;
    size_t len, cap;
};

struct pipe {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct batch b[N_BATCHES];
    int full[N_BATCHES]; /* handed to the parser, in order */
    size_t head, tail;   /* next to fill / next to parse */
    int done, failed;    /* reader finished; parser failed (ENOMEM) */
    struct tg_oc_set *s;
};

/* Waits for batch slot i to be free; -1 once the parser failed. */
static int wait_free(struct pipe *p, size_t i)
{
    int rc;

    pthread_mutex_lock(&p->lock);
    while (p->full[i] && !p->failed)
        pthread_cond_wait(&p->cond, &p->lock);
    rc = p->failed ? -1 : 0;
    pthread_mutex_unlock(&p->lock);
    return rc;
}

static void hand_over(struct pipe *p)
{
    size_t i = p->head % N_BATCHES;

    pthread_mutex_lock(&p->lock);
    p->full[i] = 1;
    p->head++;
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
        .event = (uint8_t)event,
        .has_ticket = row->ticket != NULL,
        .has_judged = row->judged != NULL,
    };
    need = sizeof h + h.tlen + 1 + h.klen + 1 + h.jlen + h.glen;
    if (b->len && b->len + need > b->cap) {
        hand_over(p);
        b = &p->b[p->head % N_BATCHES];
        if (wait_free(p, p->head % N_BATCHES) != 0)
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
    }
    b->len += need;
    return 0;
}

static int parse_batch(struct tg_oc_set *s, const struct batch *b)
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
        if ((rc = tg_oc_add_row(s, &row)) != 0)
            return rc;
        off += sizeof h + h.tlen + 1 + h.klen + 1 + h.jlen + h.glen;
    }
    return 0;
}

static void *parser(void *arg)
{
    struct pipe *p = arg;

    for (;;) {
        size_t i;
        int rc;

        pthread_mutex_lock(&p->lock);
        while (!p->full[p->tail % N_BATCHES] && !p->done)
            pthread_cond_wait(&p->cond, &p->lock);
        i = p->tail % N_BATCHES;
        if (!p->full[i]) { /* done and drained */
            pthread_mutex_unlock(&p->lock);
            return NULL;
        }
        pthread_mutex_unlock(&p->lock);
        rc = parse_batch(p->s, &p->b[i]);
        pthread_mutex_lock(&p->lock);
        p->full[i] = 0;
        p->tail++;
        if (rc)
            p->failed = 1;
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->lock);
        if (rc)
            return NULL;
    }
}

int tg_oc_load_file(const char *path, struct tg_oc_set **out)
{
    struct pipe p = {.s = tg_oc_set_new()};
    pthread_t th;
    int threaded = 0, rc = TG_ENOMEM, i;

    if (pthread_mutex_init(&p.lock, NULL) != 0)
        goto nolock;
    if (pthread_cond_init(&p.cond, NULL) != 0)
        goto nocond;
    for (i = 0; i < N_BATCHES; i++) {
        p.b[i].buf = malloc(BATCH_BYTES);
        p.b[i].cap = BATCH_BYTES;
        if (!p.b[i].buf)
            goto out;
    }
    if (!p.s)
        goto out;
    threaded = pthread_create(&th, NULL, parser, &p) == 0;
    if (!threaded)
        goto out;
    rc = tg_evidence_scan_file(path, NULL, INT64_MIN, INT64_MAX, on_row_copy,
                               &p);
    if (p.b[p.head % N_BATCHES].len && !p.failed && rc == 0)
        hand_over(&p);
    pthread_mutex_lock(&p.lock);
    p.done = 1;
    pthread_cond_broadcast(&p.cond);
    pthread_mutex_unlock(&p.lock);
    pthread_join(th, NULL);
    if (rc == 1 || p.failed)
        rc = TG_ENOMEM;
    if (!rc)
        rc = tg_oc_link(p.s);
out:
    for (i = 0; i < N_BATCHES; i++)
        free(p.b[i].buf);
    pthread_cond_destroy(&p.cond);
nocond:
    pthread_mutex_destroy(&p.lock);
nolock:
    if (!rc) {
        *out = p.s;
        return 0;
    }
    tg_oc_set_free(p.s);
    return rc;
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
