/* check.c - `ticketgate check`: evaluates canonical tickets offline. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "validators/errors.h"
#include "validators/evaluate.h"
#include "validators/timeparse.h"
#include "server/core/canonical.h"
#include "server/core/decide.h"
#include "server/cli/cli.h"
#include "server/config/config.h"
#include "server/core/decision.h"
#include "server/util/jarena.h"
#include "server/util/number.h"
#include "server/util/ordpool.h"
#include "server/util/strbuf.h"

/*
 * Two ways through the same steps. With one thread (TG_CHECK_THREADS=1, or
 * one CPU) the inputs are read value after value and each decision is
 * printed at once: the reference. Otherwise every input is cut into chunks
 * at line ends, N worker threads parse, map, evaluate and print whole
 * chunks into their own buffers (each with its own JSON arena), and the
 * main thread retires the chunks in input order: it numbers the tickets,
 * writes each decision id into its place, prints the stderr lines and
 * writes the chunk out. A chunk whose text does not parse on its own (a
 * document over several lines cut at a line end, or invalid JSON) hands the
 * rest of its input, from that value on, to the reference path, so the
 * output and the error lines are byte for byte the one-thread run's.
 */

/* One check run: the configuration in force and where output goes. */
struct run {
    const struct tg_config *cfg;
    int64_t now;
    uint64_t seq;   /* decision ids count up from 1 in input order */
    int any_deny;
    int any_error;
    FILE *out;
    char *buf; /* serialisation buffer, reused across tickets */
    size_t cap;
    struct tg_jarena arena; /* the JSON values of the input being read */
    char *arena_buf;
};

/* The parsed input and one ticket's decision at a time: a ticket and its
 * decision take a few KB; a large array spills over to malloc. */
#define CHECK_ARENA (1024 * 1024)

/* Bytes of input a chunk holds, cut at the next line end: some 400
 * tickets, a few ms of work, so the workers stay busy and the chunks in
 * flight (4 per worker) take a few MB. */
#define CHUNK_BYTES (256 * 1024)

/* Past this a read or an output buffer is refused: 16 GiB is past any sane
 * ticket folder. */
#define MAX_BUFFER ((size_t)1 << 34)

#define MAX_THREADS 256

/* The decision id of a ticket a worker prints: the main thread writes the
 * real one, of the same length, in its place. */
#define ID_PLACEHOLDER "d-000000000000-000000"
#define ID_LEN (sizeof(ID_PLACEHOLDER) - 1)

static void usage(void)
{
    fputs("usage: ticketgate check -c FILE [--now RFC3339] [FILE...|-]\n",
          stderr);
}

/* Reads all of f, starting with room for hint bytes; *len excludes the NUL
 * added for convenience. */
static char *slurp(FILE *f, size_t hint, size_t *len)
{
    size_t cap = hint + 1 > 65536 ? hint + 1 : 65536, n = 0, r;
    char *buf, *nb;
    if (cap > MAX_BUFFER)
        return NULL;
    if (!(buf = malloc(cap)))
        return NULL;
    while ((r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (cap - n - 1 == 0) {
            if (cap > MAX_BUFFER / 2)
                goto fail;
            nb = realloc(buf, cap * 2);
            if (!nb)
                goto fail;
            buf = nb;
            cap *= 2;
        }
    }
    if (ferror(f))
        goto fail;
    buf[n] = '\0';
    *len = n;
    return buf;
fail:
    free(buf);
    return NULL;
}

/* One input file (or stdin) read whole, or why it could not be. */
struct input {
    const char *path; /* as given: "-" is stdin */
    const char *name; /* as error lines name it */
    char *buf;
    size_t len;
    int open_errno; /* fopen's errno when it could not be opened */
    int rc;         /* TG_OK, or TG_EIO when it could not be read */
    int stopped;    /* a failure ended it: its later chunks print nothing */
};

/* Reads path into in; on failure in->rc says so and report_load tells. */
static void load_input(const char *path, struct input *in)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    struct stat st;
    size_t hint = 0;

    memset(in, 0, sizeof(*in));
    in->path = path;
    in->name = f == stdin ? "<stdin>" : path;
    if (!f) {
        in->open_errno = errno;
        in->rc = TG_EIO;
        return;
    }
    /* A regular file's size spares the doubling copies of a large one. */
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
        (unsigned long long)st.st_size < MAX_BUFFER / 2)
        hint = (size_t)st.st_size;
    in->buf = slurp(f, hint, &in->len);
    if (f != stdin)
        fclose(f);
    if (!in->buf)
        in->rc = TG_EIO;
}

/* The stderr line of a failed load, as check has always printed it. */
static void report_load(const struct input *in)
{
    if (in->open_errno)
        fprintf(stderr, "%s: cannot open: %s\n", in->path,
                strerror(in->open_errno));
    else
        fprintf(stderr, "%s: cannot read\n", in->name);
}

/* The 3 id bytes of a decision: FNV-1a of the ticket id and its position,
 * so a re-run of the same folder gives the same ids (check has no store to
 * number them) at no cost beside the evaluation. */
static void id_bytes(const char *id, uint64_t seq, unsigned char out[3])
{
    uint64_t h = 1469598103934665603ULL ^ seq;
    for (const char *p = id; p && *p; p++) {
        h ^= (unsigned char)*p;
        h *= 1099511628211ULL;
    }
    out[0] = (unsigned char)(h >> 16);
    out[1] = (unsigned char)(h >> 8);
    out[2] = (unsigned char)h;
}

/* The id of the decision at position seq (tg_decide's id hook; ctx points
 * to seq): seq 0 is ID_PLACEHOLDER's, all zero. */
static int id_of(void *ctx, const struct tg_ticket *t, uint64_t *seq,
                 unsigned char rnd[3])
{
    *seq = *(const uint64_t *)ctx;
    if (*seq)
        id_bytes(t->id, *seq, rnd);
    return TG_OK;
}

/* Maps and evaluates ticket value v and builds its decision in o, with the
 * id of position seq (seq 0: ID_PLACEHOLDER), as the server does
 * (tg_decide) but without a store: no copy-forward count. TG_EINVAL with
 * o->err set: v cannot be mapped. The caller inits and cleans up o. */
static int decide(const struct tg_config *cfg, int64_t now, const json_t *v,
                  uint64_t seq, struct tg_decided *o)
{
    /* no_judged: check records nothing, so the judged ticket the server
     * keeps as evidence would be built for nobody (4 us a ticket). */
    const struct tg_decide d = {.cfg = cfg,
                                .now = now,
                                .gated = 1,
                                .id = id_of,
                                .ctx = &seq,
                                .no_judged = 1};

    return tg_decide(&d, v, o);
}

/* ---- the reference path: one value after another ---------------------- */

/* Appends doc and a newline to out through r->buf, one fwrite per line
 * (jansson's json_dumpf writes token by token). */
static int emit(struct run *r, const json_t *doc)
{
    size_t n = json_dumpb(doc, r->buf, r->cap, JSON_COMPACT);
    if (n == 0)
        return TG_ENOMEM;
    if (n + 1 > r->cap) {
        char *nb = realloc(r->buf, n + 1024);
        if (!nb)
            return TG_ENOMEM;
        r->buf = nb;
        r->cap = n + 1024;
        n = json_dumpb(doc, r->buf, r->cap, JSON_COMPACT);
    }
    r->buf[n] = '\n';
    return fwrite(r->buf, 1, n + 1, r->out) == n + 1 ? TG_OK : TG_EIO;
}

static void print_error(struct run *r, const char *code, const char *msg)
{
    json_t *e = json_pack("{s:s,s:s}", "error", code, "message", msg);
    if (e) {
        emit(r, e);
        json_decref(e);
    }
    r->any_error = 1;
}

/* Evaluates one ticket value and prints its decision line. */
static int check_one(struct run *r, const char *file, const json_t *v)
{
    struct tg_decided o;
    char err[256];
    int rc;

    tg_decided_init(&o, err, sizeof(err));
    r->seq++;
    rc = decide(r->cfg, r->now, v, r->seq, &o);
    if (rc == TG_EINVAL) {
        fprintf(stderr, "%s: ticket %llu: %s\n", file,
                (unsigned long long)r->seq, err);
        print_error(r, "unmappable", err);
        rc = TG_OK;
        goto out;
    }
    if (rc != TG_OK)
        goto out;
    rc = emit(r, o.doc);
    r->any_deny |= o.result.verdict == TG_DENY;
out:
    tg_decided_cleanup(&o);
    return rc;
}

static int is_space(char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

/* An input holds one object, an array of them, or JSON Lines (any run of
 * whitespace-separated values): values are read one after another. buf
 * holds the input from its byte base on (error lines count from the
 * input's start). */
static int check_input(struct run *r, const char *file, const char *buf,
                       size_t len, size_t base)
{
    size_t off = 0;
    while (off < len) {
        json_error_t jerr;
        json_t *v;
        size_t i, mark;
        json_t *el;
        int rc = TG_OK;
        while (off < len && is_space(buf[off]))
            off++;
        if (off >= len)
            break;
        tg_jarena_begin(&r->arena, r->arena_buf, CHECK_ARENA);
        v = json_loadb(buf + off, len - off, JSON_DISABLE_EOF_CHECK, &jerr);
        if (!v) {
            tg_jarena_end(&r->arena);
            fprintf(stderr, "%s: invalid JSON near byte %zu: %s\n", file,
                    base + off + (size_t)jerr.position, jerr.text);
            return TG_EINVAL;
        }
        off += (size_t)jerr.position;
        /* Each ticket's decision is released before the next one, so its
         * space is reused. */
        mark = tg_jarena_mark(&r->arena);
        if (json_is_array(v)) {
            json_array_foreach(v, i, el) {
                rc = check_one(r, file, el);
                tg_jarena_rewind(&r->arena, mark);
                if (rc != TG_OK)
                    break;
            }
        } else {
            rc = check_one(r, file, v);
        }
        json_decref(v);
        tg_jarena_end(&r->arena);
        if (rc != TG_OK)
            return rc;
    }
    return TG_OK;
}

static int check_file(struct run *r, const char *path)
{
    struct input in;
    int rc;

    load_input(path, &in);
    if (in.rc != TG_OK) {
        report_load(&in);
        return in.rc;
    }
    rc = check_input(r, in.name, in.buf, in.len, 0);
    free(in.buf);
    return rc;
}

/* ---- the parallel path ------------------------------------------------- */

/* What a worker made of one ticket, for the main thread to finish. */
struct event {
    int unmappable; /* else a decision */
    int deny;
    size_t pos; /* where its id (a decision) or its line (unmappable)
                   starts in the chunk's out */
    size_t aux; /* the ticket id (decision) or the message (unmappable),
                   NUL-terminated in the chunk's aux */
};

/* An input being read by the main thread in chunks. */
struct stream {
    struct input in; /* name and outcome; buf and len unused */
    FILE *f;         /* NULL once read to its end */
    int eof;
    uint64_t off;    /* input offset of the next chunk */
    char *carry;     /* a line begun at the end of the last read */
    size_t carry_len, carry_cap;
    int refs;        /* the reader's and each chunk's in flight */
};

/* Bytes of a cache line on the machines check runs on. */
#define CACHE_LINE 64

/* Whole lines of an input (text, len bytes from input offset off), or a
 * report of why the input could not be read; and what a worker made of
 * them: the decision lines in out, one event per ticket. Each chunk has
 * cache lines of its own: a worker updates its chunk's counters a ticket
 * at a time, and two workers on neighbouring chunks would otherwise pass
 * a shared line back and forth (false sharing). */
struct chunk {
    _Alignas(CACHE_LINE) struct stream *s;
    int report; /* no text: report_load when retired */
    char *text;
    size_t len, text_cap;
    uint64_t off;
    char *out;
    size_t out_len, out_cap;
    char *aux;
    size_t aux_len, aux_cap;
    struct event *ev;
    size_t n_ev, ev_cap;
    int rc;         /* a ticket failed (TG_ENOMEM): the input stops there */
    int bad;        /* a value did not parse on its own at bad_off */
    size_t bad_off;
};

/* The chunks in flight: a ring of slots run by the ordered worker pool
 * (server/util/ordpool.c), retired in queue order by the main thread.
 * Workers touch only the chunk they took; everything else is the main
 * thread's. */
struct pool {
    struct tg_ordpool op;
    struct chunk *slots; /* op.n_slots of them */
    const struct tg_config *cfg;
    int64_t now;
};

/* Appends doc and a newline to c->out. */
static int put_line(struct chunk *c, const json_t *doc)
{
    size_t n = json_dumpb(doc, c->out + c->out_len, c->out_cap - c->out_len,
                          JSON_COMPACT);
    if (n == 0)
        return TG_ENOMEM;
    if (n + 1 > c->out_cap - c->out_len) {
        if (c->out_len + n + 1 < n ||
            tg_strbuf_reserve(&c->out, &c->out_cap, c->out_len + n + 1,
                              MAX_BUFFER) != TG_OK)
            return TG_ENOMEM;
        n = json_dumpb(doc, c->out + c->out_len, c->out_cap - c->out_len,
                       JSON_COMPACT);
    }
    c->out[c->out_len + n] = '\n';
    c->out_len += n + 1;
    return TG_OK;
}

/* Appends an event with text s (copied into c->aux). */
static int put_event(struct chunk *c, int unmappable, int deny, size_t pos,
                     const char *s)
{
    size_t n = strlen(s ? s : "") + 1;
    if (c->n_ev == c->ev_cap) {
        size_t cap = c->ev_cap ? c->ev_cap * 2 : 512;
        struct event *nv = realloc(c->ev, cap * sizeof(*nv));
        if (!nv)
            return TG_ENOMEM;
        c->ev = nv;
        c->ev_cap = cap;
    }
    if (c->aux_len + n < n ||
        tg_strbuf_reserve(&c->aux, &c->aux_cap, c->aux_len + n, MAX_BUFFER) !=
            TG_OK)
        return TG_ENOMEM;
    memcpy(c->aux + c->aux_len, s ? s : "", n);
    c->ev[c->n_ev++] = (struct event){unmappable, deny, pos, c->aux_len};
    c->aux_len += n;
    return TG_OK;
}

/* Where the decision id starts in line p (n bytes) that tg_decision_build
 * made: {"decision":"<verdict>","decision_id":"d-... (the verdict is one of
 * our words, so the first such key is the document's own). */
static int find_id(const char *p, size_t n, size_t *pos)
{
    static const char lead[] = "{\"decision\":\"";
    static const char key[] = "\",\"decision_id\":\"";
    size_t i = sizeof(lead) - 1;

    if (n < i || memcmp(p, lead, i) != 0)
        return TG_EINVAL;
    while (i < n && p[i] != '"')
        i++;
    if (n - i < sizeof(key) - 1 + ID_LEN ||
        memcmp(p + i, key, sizeof(key) - 1) != 0 ||
        memcmp(p + i + sizeof(key) - 1, ID_PLACEHOLDER, ID_LEN) != 0)
        return TG_EINVAL;
    *pos = i + sizeof(key) - 1;
    return TG_OK;
}

/* check_one for a worker: the decision line goes to c->out with the
 * placeholder id, and an event tells the main thread the rest. */
static int chunk_one(const struct pool *p, struct chunk *c, const json_t *v)
{
    struct tg_decided o;
    char err[256];
    size_t line = c->out_len, pos = 0;
    int rc;

    tg_decided_init(&o, err, sizeof(err));
    rc = decide(p->cfg, p->now, v, 0, &o);
    if (rc == TG_EINVAL) {
        json_t *e = json_pack("{s:s,s:s}", "error", "unmappable", "message",
                              err);
        if (e) {
            if (put_line(c, e) != TG_OK)
                c->out_len = line;
            json_decref(e);
        }
        rc = put_event(c, 1, 0, line, err);
        goto out;
    }
    if (rc != TG_OK)
        goto out;
    if ((rc = put_line(c, o.doc)) != TG_OK)
        goto out;
    /* Our own document without its id is a bug, not an input problem. */
    if ((rc = find_id(c->out + line, c->out_len - line, &pos)) != TG_OK) {
        rc = TG_ENOMEM;
        goto out;
    }
    rc = put_event(c, 0, o.result.verdict == TG_DENY, line + pos,
                   o.ticket.id);
out:
    if (rc != TG_OK)
        c->out_len = line;
    tg_decided_cleanup(&o);
    return rc;
}

/* A worker's whole chunk: check_input's loop over its text. A value that
 * does not parse within the chunk stops it at bad_off. abuf NULL: no arena,
 * jansson allocates with malloc. */
static void run_chunk(const struct pool *p, struct tg_jarena *arena,
                      char *abuf, struct chunk *c)
{
    const char *buf = c->text;
    size_t off = 0, end = c->len;

    c->out_len = c->aux_len = c->n_ev = 0;
    c->rc = TG_OK;
    c->bad = 0;
    if (c->report)
        return;
    while (off < end) {
        json_error_t jerr;
        json_t *v, *el;
        size_t i, mark = 0;
        int rc = TG_OK;
        while (off < end && is_space(buf[off]))
            off++;
        if (off >= end)
            break;
        if (abuf)
            tg_jarena_begin(arena, abuf, CHECK_ARENA);
        v = json_loadb(buf + off, end - off, JSON_DISABLE_EOF_CHECK, &jerr);
        if (!v) {
            if (abuf)
                tg_jarena_end(arena);
            c->bad = 1;
            c->bad_off = off;
            return;
        }
        off += (size_t)jerr.position;
        if (abuf)
            mark = tg_jarena_mark(arena);
        if (json_is_array(v)) {
            json_array_foreach(v, i, el) {
                rc = chunk_one(p, c, el);
                if (abuf)
                    tg_jarena_rewind(arena, mark);
                if (rc != TG_OK)
                    break;
            }
        } else {
            rc = chunk_one(p, c, v);
        }
        json_decref(v);
        if (abuf)
            tg_jarena_end(arena);
        if (rc != TG_OK) {
            c->rc = rc;
            return;
        }
    }
}

/* The pool's run hook: slot's chunk, on a worker. */
static void run_slot(void *ctx, size_t slot, size_t seq,
                     struct tg_jarena *arena, char *abuf)
{
    struct pool *p = ctx;

    (void)seq;
    run_chunk(p, arena, abuf, &p->slots[slot]);
}

static void stream_release(struct stream *s)
{
    if (--s->refs > 0)
        return;
    if (s->f && s->f != stdin)
        fclose(s->f);
    free(s->carry);
    free(s);
}

/* Appends k bytes at src to *buf (n bytes used, capacity *cap), keeping
 * room for a NUL. */
static int append(char **buf, size_t *n, size_t *cap, const char *src,
                  size_t k)
{
    int rc;
    if (*n + k + 1 <= k ||
        (rc = tg_strbuf_reserve(buf, cap, *n + k + 1, MAX_BUFFER)) != TG_OK)
        return TG_ENOMEM;
    if (k)
        memcpy(*buf + *n, src, k);
    *n += k;
    return TG_OK;
}

/* The rest of s from byte bad_off of chunk c (the oldest in flight) on:
 * that chunk's text, the later chunks of s in flight, the carry and what
 * is still unread. Leaves s read to its end. */
static char *rest_of(struct pool *p, struct chunk *c, struct stream *s,
                     size_t *len)
{
    size_t n = 0, cap = 0;
    char *buf = NULL;

    if (append(&buf, &n, &cap, c->text + c->bad_off, c->len - c->bad_off) !=
        TG_OK)
        goto fail;
    for (size_t i = p->op.head + 1; i != p->op.tail; i++) {
        const struct chunk *d = &p->slots[i % p->op.n_slots];
        if (d->s == s && !d->report &&
            append(&buf, &n, &cap, d->text, d->len) != TG_OK)
            goto fail;
    }
    if (append(&buf, &n, &cap, s->carry, s->carry_len) != TG_OK)
        goto fail;
    s->carry_len = 0;
    while (s->f && !s->eof) {
        size_t r;
        if (tg_strbuf_reserve(&buf, &cap, n + 65536 + 1, MAX_BUFFER) != TG_OK)
            goto fail;
        r = fread(buf + n, 1, cap - n - 1, s->f);
        n += r;
        if (r == 0) {
            s->eof = 1;
            if (ferror(s->f))
                goto fail;
        }
    }
    s->eof = 1;
    *len = n;
    return buf;
fail:
    s->eof = 1;
    free(buf);
    return NULL;
}

/* The main thread's part of chunk c, the oldest in flight: number its
 * tickets, write their ids, print their stderr lines and the chunk; a
 * value that did not parse on its own goes to the reference path with the
 * rest of the input. Returns what check_file would for this part. */
static int finish_chunk(struct run *r, struct pool *p, struct chunk *c)
{
    struct stream *s = c->s;
    char id[32], *rest;
    size_t done = 0, n;
    int rc = c->rc;

    for (size_t i = 0; i < c->n_ev; i++) {
        const struct event *e = &c->ev[i];
        const char *txt = c->aux + e->aux;
        r->seq++;
        if (e->unmappable) {
            /* The lines before it go first, as the reference path's do
             * (on a terminal stdout and stderr interleave line by line). */
            if (e->pos > done &&
                fwrite(c->out + done, 1, e->pos - done, r->out) !=
                    e->pos - done)
                return TG_EIO;
            done = e->pos;
            fprintf(stderr, "%s: ticket %llu: %s\n", s->in.name,
                    (unsigned long long)r->seq, txt);
            r->any_error = 1;
        } else {
            unsigned char rnd[3];
            id_bytes(txt, r->seq, rnd);
            tg_decision_id_format(id, sizeof(id), r->seq, rnd);
            memcpy(c->out + e->pos, id, ID_LEN);
            r->any_deny |= e->deny;
        }
    }
    if (rc != TG_OK)
        r->seq++; /* the ticket that failed had its number */
    if (c->out_len > done &&
        fwrite(c->out + done, 1, c->out_len - done, r->out) !=
            c->out_len - done)
        return TG_EIO;
    if (rc != TG_OK || !c->bad)
        return rc;
    if (!(rest = rest_of(p, c, s, &n))) {
        report_load(&s->in);
        return TG_EIO;
    }
    rc = check_input(r, s->in.name, rest, n, (size_t)(c->off + c->bad_off));
    free(rest);
    return rc;
}

/* Retires the oldest chunk in flight; returns its input's outcome so far
 * (TG_ENOMEM stops the run, as in the reference path). */
static int retire(struct run *r, struct pool *p)
{
    struct chunk *c = &p->slots[tg_ordpool_oldest(&p->op)];
    struct stream *s = c->s;
    int rc = TG_OK;

    if (!s->in.stopped) {
        if (c->report) {
            report_load(&s->in);
            rc = s->in.rc;
        } else {
            rc = finish_chunk(r, p, c);
            /* The reference path read the rest of the input. */
            if (c->bad)
                s->in.stopped = 1;
        }
        if (rc != TG_OK) {
            s->in.stopped = 1;
            r->any_error = 1;
        }
    }
    c->s = NULL;
    tg_ordpool_pop(&p->op);
    stream_release(s);
    return rc;
}

/* Hands slot c, filled for s, to the workers. */
static void queue(struct pool *p, struct chunk *c, struct stream *s)
{
    c->s = s;
    s->refs++;
    tg_ordpool_queue(&p->op);
}

/* Reads the next chunk of s into c: the carry, then whole lines to about
 * CHUNK_BYTES; a line still open at the end of the read goes back to the
 * carry. c->len 0 at the end of s. */
static int fill_chunk(struct stream *s, struct chunk *c)
{
    size_t n = s->carry_len, cut;
    int rc;

    if ((rc = tg_strbuf_reserve(&c->text, &c->text_cap,
                                n > CHUNK_BYTES ? n : CHUNK_BYTES,
                                MAX_BUFFER)) != TG_OK)
        return rc;
    if (n)
        memcpy(c->text, s->carry, n);
    s->carry_len = 0;
    c->off = s->off;
    c->report = 0;
    for (;;) {
        if (!s->eof && n < c->text_cap) {
            n += fread(c->text + n, 1, c->text_cap - n, s->f);
            if (n < c->text_cap) {
                s->eof = 1;
                if (ferror(s->f))
                    return TG_EIO;
            }
        }
        if (s->eof) {
            cut = n;
            break;
        }
        for (cut = n; cut > 0 && c->text[cut - 1] != '\n'; cut--)
            ;
        if (cut > 0)
            break;
        /* One line longer than the buffer. */
        if (c->text_cap > MAX_BUFFER / 2 ||
            (rc = tg_strbuf_reserve(&c->text, &c->text_cap, c->text_cap * 2,
                                    MAX_BUFFER)) != TG_OK)
            return TG_ENOMEM;
    }
    if ((rc = tg_strbuf_reserve(&s->carry, &s->carry_cap, n - cut,
                                MAX_BUFFER)) != TG_OK)
        return rc;
    if (n > cut)
        memcpy(s->carry, c->text + cut, n - cut);
    s->carry_len = n - cut;
    c->len = cut;
    s->off += cut;
    return TG_OK;
}

/* Reads path chunk by chunk into the ring, retiring the oldest chunk when
 * every slot is in flight. Returns TG_ENOMEM if the run must stop. */
static int push_input(struct run *r, struct pool *p, const char *path)
{
    struct stream *s = calloc(1, sizeof(*s));
    int rc = TG_OK, read_rc = TG_OK;

    if (!s)
        return TG_ENOMEM;
    s->refs = 1;
    s->in.path = path;
    s->in.name = strcmp(path, "-") == 0 ? "<stdin>" : path;
    s->f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!s->f) {
        s->in.open_errno = errno;
        read_rc = TG_EIO;
    }
    for (;;) {
        struct chunk *c;
        if (tg_ordpool_in_flight(&p->op) == p->op.n_slots &&
            (rc = retire(r, p)) == TG_ENOMEM)
            break;
        c = &p->slots[tg_ordpool_next(&p->op)];
        if (read_rc != TG_OK) {
            /* Reported in its place among the other inputs' lines. */
            s->in.rc = TG_EIO; /* the reference path's "cannot read" */
            c->report = 1;
            c->len = 0;
            queue(p, c, s);
            break;
        }
        if (s->in.stopped || (s->eof && s->carry_len == 0))
            break;
        if ((read_rc = fill_chunk(s, c)) != TG_OK) {
            s->eof = 1;
            continue;
        }
        if (c->len > 0)
            queue(p, c, s);
    }
    stream_release(s);
    return rc;
}

/* n zeroed chunks, aligned as struct chunk asks. */
static struct chunk *alloc_slots(size_t n)
{
    struct chunk *v;
    /* sizeof(*v) is a multiple of CACHE_LINE, as aligned_alloc needs. */
    if (n == 0 || n > SIZE_MAX / sizeof(*v) ||
        !(v = aligned_alloc(CACHE_LINE, n * sizeof(*v))))
        return NULL;
    memset(v, 0, n * sizeof(*v));
    return v;
}

/* Runs the inputs through n_threads workers. */
static int check_parallel(struct run *r, const char **inputs, size_t n_inputs,
                          int n_threads)
{
    struct pool p = {.cfg = r->cfg, .now = r->now};
    size_t n_slots = (size_t)n_threads * 4;
    int rc = TG_OK, started = 0;

    if (!(p.slots = alloc_slots(n_slots))) {
        rc = TG_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n_slots; i++) {
        if (tg_strbuf_reserve(&p.slots[i].out, &p.slots[i].out_cap, CHUNK_BYTES,
                              MAX_BUFFER) != TG_OK) {
            rc = TG_ENOMEM;
            goto out;
        }
    }
    started = 1; /* tg_ordpool_stop after any start */
    if ((rc = tg_ordpool_start(&p.op, n_slots, n_threads, CHECK_ARENA,
                               run_slot, &p)) != TG_OK)
        goto out;
    for (size_t i = 0; i < n_inputs && rc != TG_ENOMEM; i++)
        rc = push_input(r, &p, inputs[i]);
    while (tg_ordpool_in_flight(&p.op) > 0) {
        /* After a TG_ENOMEM nothing more is printed. */
        if (rc == TG_ENOMEM)
            p.slots[p.op.head % n_slots].s->in.stopped = 1;
        if (retire(r, &p) == TG_ENOMEM)
            rc = TG_ENOMEM;
    }
out:
    if (started)
        tg_ordpool_stop(&p.op);
    for (size_t i = 0; p.slots && i < n_slots; i++) {
        free(p.slots[i].text);
        free(p.slots[i].out);
        free(p.slots[i].aux);
        free(p.slots[i].ev);
    }
    free(p.slots);
    if (rc == TG_ENOMEM)
        r->any_error = 1;
    return rc;
}

/* Worker threads: TG_CHECK_THREADS if set (1 = the reference path), else
 * one per online CPU. -1 if the variable is not a number from 1 to 256. */
static int thread_count(void)
{
    const char *s = getenv("TG_CHECK_THREADS");
    int64_t n;

    if (s && *s)
        return tg_number_parse_i64(s, strlen(s), 1, MAX_THREADS, &n) == TG_OK
                   ? (int)n
                   : -1;
    n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : (int)n;
}

/* What the command line asked for. */
struct check_args {
    const char *cfgpath, *now_s;
    const char **inputs; /* n_inputs of them; "-" when none was named */
    size_t n_inputs;
};

/* Reads argv into a (a->inputs has room for argc names). Returns 0, or -1
 * after printing why (and the usage). */
static int parse_args(int argc, char **argv, struct check_args *a)
{
    for (int i = 1; i < argc; i++) {
        if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0)
            && i + 1 < argc)
            a->cfgpath = argv[++i];
        else if (strcmp(argv[i], "--now") == 0 && i + 1 < argc)
            a->now_s = argv[++i];
        else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "check: unknown option %s\n", argv[i]);
            usage();
            return -1;
        } else
            a->inputs[a->n_inputs++] = argv[i];
    }
    if (!a->cfgpath) {
        usage();
        return -1;
    }
    if (a->n_inputs == 0)
        a->inputs[a->n_inputs++] = "-";
    return 0;
}

/* The evaluation time: --now, else the clock. Returns 0, or -1 after
 * printing why. */
static int evaluation_time(const char *now_s, int64_t *now)
{
    if (!now_s) {
        *now = (int64_t)time(NULL);
        return 0;
    }
    if (tg_time_parse(now_s, strlen(now_s), now) != TG_OK) {
        fprintf(stderr, "check: --now %s is not an RFC 3339 time; write "
                        "it as 2026-12-01T00:00:00Z\n", now_s);
        return -1;
    }
    return 0;
}

/* Loads the configuration at path, printing every problem. NULL when it
 * does not load. */
static struct tg_config *load_config(const char *path)
{
    struct tg_config *cfg = NULL;
    struct tg_diag diag;

    tg_diag_init(&diag);
    if (tg_config_load(path, &cfg, &diag) != TG_OK) {
        for (size_t i = 0; i < diag.n; i++)
            fprintf(stderr, "%s\n", diag.msgs[i]);
        if (diag.n == 0)
            fprintf(stderr, "%s: cannot load the configuration\n", path);
        cfg = NULL;
    }
    tg_diag_cleanup(&diag);
    return cfg;
}

/* Decides every input into r->out, in order: on threads workers, or on
 * this thread (the reference path) when threads is 1. */
static void check_inputs(struct run *r, const struct check_args *a,
                         int threads)
{
    int rc;

    if (threads > 1) {
        check_parallel(r, a->inputs, a->n_inputs, threads);
        return;
    }
    for (size_t i = 0; i < a->n_inputs; i++) {
        if ((rc = check_file(r, a->inputs[i])) != TG_OK) {
            r->any_error = 1;
            if (rc == TG_ENOMEM)
                break;
        }
    }
}

int tg_cmd_check(int argc, char **argv)
{
    struct check_args a = {
        .inputs = calloc((size_t)argc + 1, sizeof(*a.inputs)),
    };
    struct tg_config *cfg = NULL;
    struct run r;
    int code = 2, threads;

    memset(&r, 0, sizeof(r));
    if (!a.inputs || parse_args(argc, argv, &a) != 0)
        goto out;
    if ((threads = thread_count()) < 0) {
        fprintf(stderr, "check: TG_CHECK_THREADS must be a number of "
                        "threads from 1 to %d\n", MAX_THREADS);
        goto out;
    }
    r.out = stdout;
    if (!(r.arena_buf = malloc(CHECK_ARENA)) ||
        evaluation_time(a.now_s, &r.now) != 0 ||
        !(cfg = load_config(a.cfgpath)))
        goto out;
    r.cfg = cfg;
    check_inputs(&r, &a, threads);
    if (fflush(stdout) != 0)
        r.any_error = 1;
    code = r.any_error ? 2 : r.any_deny ? 1 : 0;
out:
    free(r.buf);
    free(r.arena_buf);
    tg_config_free(cfg);
    free(a.inputs);
    return code;
}
