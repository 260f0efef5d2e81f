/* replay.c - `ticketgate replay`: recorded decisions under a candidate policy. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/cli/cli.h"
#include "server/config/config.h"
#include "server/core/change.h"
#include "server/core/decide.h"
#include "server/core/decision.h"
#include "server/core/justnorm.h"
#include "server/core/sidecache.h"
#include "server/store/store.h"
#include "server/util/jarena.h"
#include "server/util/ordpool.h"
#include "server/util/strbuf.h"
#include "validators/errors.h"
#include "validators/timeparse.h"

/*
 * The main thread scans the store (tg_evidence_scan_file: one read-only
 * snapshot, decisions in seq order) and copies the rows into chunks; worker
 * threads (one per CPU, or TG_REPLAY_THREADS) decide each row's judged
 * ticket under the candidate through tg_decide, at the row's own time, and
 * compare the outcome with the recorded decision; the main thread retires
 * the chunks in seq order, adds up their counts and writes their changed
 * decisions out. This is the shape of `check`'s parallel path (a ring of
 * chunks, a JSON arena per worker, retirement in input order: both run on
 * server/util/ordpool.c), with rows of the store in place of lines of
 * input.
 *
 * All JSON is read by jansson in the workers, never on the scanning
 * thread. A worker takes a chunk in two passes: the first parses each
 * row's judged ticket (into its arena) and hashes its normalised
 * justification; then, when the chunk before it has done the same, it
 * counts its rows' copy-forward uses in the history (in seq order, chunk
 * after chunk: hash-table steps only); the second pass decides each row
 * on its parsed ticket.
 *
 * The changed decisions go to a temporary file while the scan runs, so
 * that the summary can come first.
 */

/* Rows a chunk holds at most, and bytes of row text: a few ms of work. */
#define CHUNK_ROWS 512
#define CHUNK_TEXT (1024 * 1024)
/* The JSON values of a chunk's judged tickets (kept from the first pass to
 * the second) take a few KB each, one row's decision documents a few KB
 * more; past this jansson falls back to malloc. Pages not touched cost
 * nothing. */
#define ARENA_BYTES (16 * 1024 * 1024)
#define MAX_THREADS 256
#define N_VERDICTS 4

enum format { FMT_TEXT, FMT_JSON };

/* One row of the store, its strings at offsets of its chunk's text. */
struct row {
    uint64_t seq;
    int64_t time;
    int history_only; /* before --since: feeds the copy-forward history */
    long cf_uses;     /* the copy-forward count from the store's history */
    size_t key, ticket, source; /* NUL-terminated */
    size_t json, json_len;
    size_t judged, judged_len;
    size_t facts, facts_len; /* facts_len 0: the record has no facts */
    /* Made by the first pass: the judged ticket (NULL: unreadable) and its
     * normalised justification's hashes (has_just 0: none). */
    json_t *canon;
    int has_just;
    uint64_t just_h1, just_h2, ticket_h;
};

/* What the replay found, added up chunk by chunk. */
struct tally {
    uint64_t replayed, unreadable, changed;
    uint64_t trans[N_VERDICTS][N_VERDICTS];
    uint64_t codes[TG_CODE_COUNT][N_VERDICTS][N_VERDICTS];
};

struct chunk {
    size_t id; /* its place in the scan: the history's turns go by it */
    struct row *rows;
    size_t n_rows;
    char *text;
    size_t text_len, text_cap;
    char *out; /* the changed decisions, formatted */
    size_t out_len, out_cap;
    int failed; /* out of memory: the run fails */
    struct tally t;
    /* The recorded sides this slot's rows have read: unchanged rows skip
     * their parse (server/core/sidecache.h). */
    struct tg_sidecache seen;
};

/* The chunks in flight (op says which slot is whose when) and what every
 * worker reads. */
struct pool {
    struct tg_ordpool op;
    struct chunk *slots; /* op.n_slots */
    const struct tg_config *cand;
    enum format fmt;
    struct history *h; /* NULL: the candidate's copy-forward is off */
    pthread_mutex_t turn_mu;
    pthread_cond_t turn_cv;
    size_t turn; /* the id of the chunk whose rows go into h next */
};

/* The run: the pool, where changes go, the totals. */
struct run {
    struct pool *p;
    FILE *changes; /* temporary: the changed decisions */
    int any_change_written;
    int open; /* the slot at the pool's tail is being filled */
    uint64_t scanned, no_judged;
    struct tally t;
    int failed;
    int64_t since; /* rows before it feed the history only */
};

/* ------------------------------------------------------------ buffers */

static int put(struct chunk *c, const char *s, size_t n)
{
    if (c->out_len + n < n ||
        tg_strbuf_reserve(&c->out, &c->out_cap, c->out_len + n, SIZE_MAX))
        return TG_ENOMEM;
    memcpy(c->out + c->out_len, s, n);
    c->out_len += n;
    return TG_OK;
}

static int puts_(struct chunk *c, const char *s)
{
    return put(c, s, strlen(s));
}

static int put_json(struct chunk *c, const json_t *v)
{
    size_t n = json_dumpb(v, NULL, 0, JSON_COMPACT);

    if (n == 0 || c->out_len + n < n ||
        tg_strbuf_reserve(&c->out, &c->out_cap, c->out_len + n, SIZE_MAX))
        return TG_ENOMEM;
    if (json_dumpb(v, c->out + c->out_len, n, JSON_COMPACT) != n)
        return TG_ENOMEM;
    c->out_len += n;
    return TG_OK;
}

/* --------------------------------------------------------- one change */

/* The line before a decision's findings: lead, then " no findings" when it
 * has none. Returns 0 or TG_ENOMEM. (|| keeps the appends in order, which
 * | would not.) */
static int put_lead(struct chunk *c, const char *lead, size_t n)
{
    return puts_(c, lead) || puts_(c, n ? "\n" : " no findings\n")
               ? TG_ENOMEM
               : TG_OK;
}

/* A finding as a line "    - deny CODE: msg" (msg NULL: no ": msg").
 * Returns 0 or TG_ENOMEM. */
static int put_finding(struct chunk *c, const char *action, const char *code,
                       const char *msg)
{
    return puts_(c, "    - ") || puts_(c, action) || puts_(c, " ") ||
                   puts_(c, code) ||
                   (msg && (puts_(c, ": ") || puts_(c, msg))) ||
                   puts_(c, "\n")
               ? TG_ENOMEM
               : TG_OK;
}

/* The findings of a recorded decision document, as lines (put_finding). */
static int put_findings(struct chunk *c, const char *lead, const json_t *doc)
{
    const json_t *all = json_object_get(doc, "findings"), *f;
    size_t i;
    int rc = put_lead(c, lead, json_array_size(all));

    json_array_foreach(all, i, f) {
        const char *a = json_string_value(json_object_get(f, "action"));
        const char *code = json_string_value(json_object_get(f, "code"));
        rc |= put_finding(c, a ? a : "?", code ? code : "?",
                          json_string_value(json_object_get(f, "message")));
    }
    return rc ? TG_ENOMEM : TG_OK;
}

/* The candidate's findings, res's, as put_findings writes a decision
 * document's: in text its document is never built. */
static int put_result_findings(struct chunk *c, const char *lead,
                               const struct tg_result *res)
{
    const struct tg_findings *f = &res->findings;
    int rc = put_lead(c, lead, f->n);

    for (size_t i = 0; i < f->n; i++)
        rc |= put_finding(c, tg_action_name(f->v[i].action),
                          tg_code_info(f->v[i].code)->name, f->v[i].message);
    return rc ? TG_ENOMEM : TG_OK;
}

/* Formats one changed decision into c->out: the recorded findings are the
 * decision document old_doc's (its messages), the candidate's res's. */
static int put_change(const struct pool *p, struct chunk *c,
                      const struct row *r, const json_t *old_doc,
                      const struct tg_change_side *was,
                      const struct tg_result *res,
                      const struct tg_change_side *now)
{
    const char *t = c->text;
    enum tg_code codes[TG_CODE_COUNT];
    size_t n = tg_change_codes(was, now, codes);
    char when[32], line[512];
    int rc = 0;

    if (tg_time_format(r->time, when, sizeof(when)) != 0)
        snprintf(when, sizeof(when), "%" PRId64, r->time);
    if (p->fmt == FMT_TEXT) {
        snprintf(line, sizeof(line), "%s  %s  %s  %s -> %s\n", t + r->key,
                 t + r->ticket, when, tg_verdict_name(was->verdict),
                 tg_verdict_name(now->verdict));
        rc |= puts_(c, line);
        rc |= put_findings(c, "  recorded:", old_doc);
        rc |= put_result_findings(c, "  candidate:", res);
        return rc ? TG_ENOMEM : TG_OK;
    }
    json_t *codes_a = json_array(), *o, *found = tg_decision_findings(res);
    for (size_t i = 0; codes_a && i < n; i++)
        json_array_append_new(
            codes_a, json_pack("{s:s,s:s,s:s}", "code",
                               tg_code_info(codes[i])->name, "from",
                               tg_change_action_name(was, codes[i]), "to",
                               tg_change_action_name(now, codes[i])));
    o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:O,s:o}", "decision_id",
                  t + r->key, "ticket", t + r->ticket, "source",
                  t + r->source, "evaluated_at", when, "from",
                  tg_verdict_name(was->verdict), "to",
                  tg_verdict_name(now->verdict), "codes", codes_a,
                  "recorded_findings",
                  json_object_get(old_doc, "findings")
                      ? json_object_get(old_doc, "findings")
                      : json_null(),
                  "candidate_findings", found);
    rc = !o || puts_(c, ",\n") || put_json(c, o);
    json_decref(o);
    return rc ? TG_ENOMEM : TG_OK;
}

/* ------------------------------------------------------------ one row */

/* The copy-forward count the candidate sees (tg_decide's copy_forward
 * hook; ctx is the row): the store's own history, counted by the main
 * thread in seq order as the server counted it (see struct history). */
static int copy_forward(void *ctx, const struct tg_ticket *t, long *uses)
{
    const struct row *r = ctx;

    (void)t;
    *uses = r->cf_uses;
    return 0;
}

/* The canonical ticket of a judged document (PLAN.md Interface 2), a new
 * reference, or NULL when it does not read. The document begins
 * {"ticket":{...} as tg_decide writes it: then jansson parses the ticket
 * alone and stops at its end (JSON_DISABLE_EOF_CHECK), leaving the
 * identities after it unread; any other text is parsed whole. No
 * JSON_REJECT_DUPLICATES: the store's text is the server's own. */
static json_t *judged_ticket(const char *s, size_t len)
{
    static const char lead[] = "{\"ticket\":";
    const size_t k = sizeof(lead) - 1;
    json_t *doc, *t;

    if (len > k && memcmp(s, lead, k) == 0) {
        t = json_loadb(s + k, len - k, JSON_DISABLE_EOF_CHECK, NULL);
        if (json_is_object(t))
            return t;
        json_decref(t);
    }
    doc = json_loadb(s, len, 0, NULL);
    t = json_incref(json_object_get(doc, "ticket"));
    json_decref(doc);
    if (json_is_object(t))
        return t;
    json_decref(t);
    return NULL;
}

static uint64_t fnv(const char *s, uint64_t h);
#define FNV_A 1469598103934665603ULL
#define FNV_B 0x9e3779b97f4a7c15ULL

/* The first pass over row w: its judged ticket parsed into w->canon and,
 * when the history is kept, its normalised justification hashed (the
 * ticket's "justification", TICKET.md). Returns 0 or TG_ENOMEM; a ticket
 * that does not read leaves w->canon NULL. */
static int first_pass(const struct pool *p, const struct chunk *c,
                      struct row *w)
{
    const char *t = c->text;
    const char *just;
    char *norm = NULL;
    int rc;

    w->has_just = 0;
    w->canon = judged_ticket(t + w->judged, w->judged_len);
    if (!p->h || !w->canon)
        return TG_OK;
    just = json_string_value(json_object_get(w->canon, "justification"));
    if (!just || !just[0])
        return TG_OK;
    if ((rc = tg_justnorm_make(just, strlen(just), &norm)) != TG_OK)
        return rc;
    if (norm[0]) {
        w->has_just = 1;
        w->just_h1 = fnv(norm, FNV_A);
        w->just_h2 = fnv(norm, FNV_B);
        w->ticket_h = fnv(t + w->ticket, FNV_A);
    }
    free(norm);
    return TG_OK;
}

/* How a facts document starts as tg_facts_build writes it: its
 * "recorded" value comes first. */
static const char facts_lead[] = "{\"recorded\":";
#define FACTS_LEAD (sizeof(facts_lead) - 1)

/* 1 when the facts document s (len bytes) starts with its "recorded"
 * value. */
static int facts_led(const char *s, size_t len)
{
    return len > FACTS_LEAD && memcmp(s, facts_lead, FACTS_LEAD) == 0;
}

/* The recorded side of a facts document (tg_facts_build: first
 * "recorded", the decision document's members at their own paths, then
 * the ticket's and the identities' few members, which replay does not
 * read) into *was, read by the same extraction as the decision document
 * (tg_change_from_doc). Only "recorded" is parsed when the document starts
 * as tg_facts_build writes it (jansson stops after that value:
 * JSON_DISABLE_EOF_CHECK), as the judged ticket's "ticket" is
 * (judged_ticket), and the bytes it took are remembered in seen; any other
 * layout is parsed whole. Returns 0, or TG_EINVAL when the facts do not
 * read. */
static int facts_side(struct tg_sidecache *seen, const char *s, size_t len,
                      struct tg_change_side *was)
{
    json_t *rec = NULL, *doc;
    json_error_t err;
    size_t used = 0;
    int rc;

    if (facts_led(s, len)) {
        rec = json_loadb(s + FACTS_LEAD, len - FACTS_LEAD,
                         JSON_DISABLE_EOF_CHECK, &err);
        /* jansson reports how many bytes it read, also on success. */
        if (rec && err.position > 0)
            used = (size_t)err.position;
    }
    if (!json_is_object(rec)) {
        json_decref(rec);
        used = 0;
        doc = json_loadb(s, len, 0, NULL);
        rec = json_incref(json_object_get(doc, "recorded"));
        json_decref(doc);
    }
    rc = json_is_object(rec) ? tg_change_from_doc(rec, was) : TG_EINVAL;
    json_decref(rec);
    /* Remembering is only a speed-up: a value it has no memory for is
     * parsed again next time. */
    if (rc == TG_OK && used && used <= len - FACTS_LEAD)
        (void)tg_sidecache_put(seen, s + FACTS_LEAD, used, was);
    return rc;
}

/* The recorded side of row r into *was: from its facts document when it
 * has one that reads, else from its decision document, which *doc then
 * holds (a new reference; else NULL). Returns 0, or TG_EINVAL when
 * neither reads. */
static int recorded_side(struct chunk *c, const struct row *r,
                         json_t **doc, struct tg_change_side *was)
{
    const char *t = c->text;

    *doc = NULL;
    if (r->facts_len &&
        facts_side(&c->seen, t + r->facts, r->facts_len, was) == TG_OK)
        return TG_OK;
    if (!(*doc = json_loadb(t + r->json, r->json_len, 0, NULL)))
        return TG_EINVAL;
    return tg_change_from_doc(*doc, was);
}

/* Counts the change of row r from was to o's result (now) and formats it
 * into c->out: the recorded findings are the decision document old_doc's
 * (its messages), the candidate's o's. */
static int put_changed(const struct pool *p, struct chunk *c,
                       const struct row *r, const json_t *old_doc,
                       const struct tg_change_side *was,
                       const struct tg_decided *o,
                       const struct tg_change_side *now)
{
    enum tg_code codes[TG_CODE_COUNT];
    size_t n = tg_change_codes(was, now, codes);

    c->t.replayed++;
    c->t.changed++;
    c->t.trans[was->verdict][now->verdict]++;
    for (size_t i = 0; i < n; i++)
        c->t.codes[codes[i]][was->verdict][now->verdict]++;
    return put_change(p, c, r, old_doc, was, &o->result, now);
}

/* 1 when row r's facts begin with a recorded side the slot has read
 * before and it is the candidate's, now: the decision is unchanged,
 * known without parsing the facts again (server/core/sidecache.h). */
static int unchanged_as_seen(const struct chunk *c, const struct row *r,
                             const struct tg_change_side *now)
{
    const char *f = c->text + r->facts;

    return r->facts_len && facts_led(f, r->facts_len) &&
           tg_sidecache_match(&c->seen, f + FACTS_LEAD,
                              r->facts_len - FACTS_LEAD, now);
}

/* Decides row r under the candidate and compares. The recorded side comes
 * from the row's facts (else its decision document): a side the slot has
 * seen before is matched by its bytes, any other parsed by jansson into
 * the worker's arena. The decision document is read for a decision that
 * changes (its findings' messages are printed): most do not change. The
 * candidate's findings are printed from its result. A row whose facts read
 * but whose decision document does not counts as unreadable when it
 * changes. */
static int replay_row(const struct pool *p, struct chunk *c,
                      const struct row *r)
{
    const char *t = c->text;
    struct tg_change_side was, now;
    const struct tg_decide d = {
        .cfg = p->cand,
        .now = r->time,
        .gated = 1,
        .source = t + r->source,
        .copy_forward = copy_forward,
        .ctx = (void *)r,
        .no_judged = 1, /* nothing is recorded */
        .no_doc = 1,
    };
    struct tg_decided o;
    json_t *old_doc = NULL;
    char err[256];
    int rc = TG_OK;

    tg_decided_init(&o, err, sizeof(err));
    if (!r->canon) {
        c->t.unreadable++;
        goto out;
    }
    rc = tg_decide(&d, r->canon, &o);
    if (rc == TG_EINVAL && o.step == TG_DECIDE_MAP) {
        c->t.unreadable++;
        rc = TG_OK;
        goto out;
    }
    if (rc != TG_OK)
        goto out;
    tg_change_from_result(&o.result, &now);
    if (unchanged_as_seen(c, r, &now)) {
        c->t.replayed++;
        goto out;
    }
    if (recorded_side(c, r, &old_doc, &was) != TG_OK) {
        c->t.unreadable++;
        goto out;
    }
    if (!tg_change_differs(&was, &now)) {
        c->t.replayed++;
        goto out;
    }
    if (!old_doc &&
        !(old_doc = json_loadb(t + r->json, r->json_len, 0, NULL))) {
        c->t.unreadable++;
        goto out;
    }
    rc = put_changed(p, c, r, old_doc, &was, &o, &now);
out:
    tg_decided_cleanup(&o);
    json_decref(old_doc);
    return rc;
}

static int history_count(struct history *h, const struct row *row, long *uses);

/* Waits for chunk c's turn at the history, counts its rows' copy-forward
 * uses and adds their own, in seq order, and passes the turn on (also
 * when c failed: the chunks after it wait for it). */
static void history_turn(struct pool *p, struct chunk *c)
{
    pthread_mutex_lock(&p->turn_mu);
    while (p->turn != c->id)
        pthread_cond_wait(&p->turn_cv, &p->turn_mu);
    pthread_mutex_unlock(&p->turn_mu);
    for (size_t i = 0; i < c->n_rows && !c->failed; i++) {
        struct row *w = &c->rows[i];
        if (w->has_just &&
            history_count(p->h, w, w->history_only ? NULL : &w->cf_uses) !=
                TG_OK)
            c->failed = 1;
    }
    pthread_mutex_lock(&p->turn_mu);
    p->turn++;
    pthread_cond_broadcast(&p->turn_cv);
    pthread_mutex_unlock(&p->turn_mu);
}

/* A worker's chunk (tg_ordpool_run_fn): slot seq of the scan. */
static void run_chunk(void *ctx, size_t slot, size_t seq,
                      struct tg_jarena *arena, char *abuf)
{
    struct pool *p = ctx;
    struct chunk *c = &p->slots[slot];
    size_t mark = 0;
    int drop = 0;

    c->id = seq;
    c->out_len = 0;
    c->failed = 0;
    memset(&c->t, 0, sizeof(c->t));
    if (abuf)
        tg_jarena_begin(arena, abuf, ARENA_BYTES);
    for (size_t i = 0; i < c->n_rows; i++) {
        c->rows[i].canon = NULL;
        if (!c->failed && first_pass(p, c, &c->rows[i]) != TG_OK)
            c->failed = 1;
    }
    if (p->h)
        history_turn(p, c);
    /* The tickets stay below the mark; each row's decision above it. When
     * every ticket fitted in the arena, they are dropped with it at the
     * end instead of released one value at a time (tg_jarena_whole). */
    if (abuf) {
        mark = tg_jarena_mark(arena);
        drop = tg_jarena_whole(arena);
    }
    for (size_t i = 0; i < c->n_rows; i++) {
        struct row *w = &c->rows[i];
        if (!c->failed && !w->history_only && replay_row(p, c, w) != TG_OK)
            c->failed = 1;
        if (abuf)
            tg_jarena_rewind(arena, mark);
    }
    for (size_t i = 0; i < c->n_rows && !drop; i++)
        json_decref(c->rows[i].canon);
    if (abuf)
        tg_jarena_end(arena);
}

/* ------------------------------------------------------- main thread */

static void tally_add(struct tally *a, const struct tally *b)
{
    a->replayed += b->replayed;
    a->unreadable += b->unreadable;
    a->changed += b->changed;
    for (size_t i = 0; i < N_VERDICTS; i++)
        for (size_t j = 0; j < N_VERDICTS; j++) {
            a->trans[i][j] += b->trans[i][j];
            for (size_t k = 0; k < TG_CODE_COUNT; k++)
                a->codes[k][i][j] += b->codes[k][i][j];
        }
}

/* Waits for the oldest chunk in flight and takes in what it found. */
static void retire(struct run *r)
{
    struct pool *p = r->p;
    struct chunk *c = &p->slots[tg_ordpool_oldest(&p->op)];
    size_t skip = 0;

    if (c->failed)
        r->failed = 1;
    tally_add(&r->t, &c->t);
    /* JSON changes each start with ",\n": the first one of the run does
     * not. */
    if (p->fmt == FMT_JSON && c->out_len && !r->any_change_written)
        skip = 2;
    if (c->out_len > skip) {
        if (fwrite(c->out + skip, 1, c->out_len - skip, r->changes) !=
            c->out_len - skip)
            r->failed = 1;
        r->any_change_written = 1;
    }
    tg_ordpool_pop(&p->op);
}

/* The chunk being filled: the slot at tail, once it is free. */
static struct chunk *filling(struct run *r)
{
    struct pool *p = r->p;
    struct chunk *c;

    if (tg_ordpool_in_flight(&p->op) == p->op.n_slots)
        retire(r);
    c = &p->slots[tg_ordpool_next(&p->op)];
    return c;
}

static void queue(struct pool *p)
{
    tg_ordpool_queue(&p->op);
}

/* Copies s (n bytes) and a NUL into c's text; *at gets its offset. */
static int text_put(struct chunk *c, const char *s, size_t n, size_t *at)
{
    if (c->text_len + n + 1 < n ||
        tg_strbuf_reserve(&c->text, &c->text_cap, c->text_len + n + 1,
                          SIZE_MAX) != TG_OK)
        return TG_ENOMEM;
    *at = c->text_len;
    if (n)
        memcpy(c->text + c->text_len, s, n);
    c->text[c->text_len + n] = '\0';
    c->text_len += n + 1;
    return TG_OK;
}

static int opt_put(struct chunk *c, const char *s, size_t *at)
{
    return text_put(c, s ? s : "", s ? strlen(s) : 0, at);
}

/* ---------------------------------------------- copy-forward history */

/*
 * The copy-forward count of REASONS.md as the server took it for each
 * decision (tg_evidence_copy_forward_count): how many tickets other than
 * the decision's own have a record carrying its normalised justification
 * at or after time - window, counted over the records before it. The
 * history keeps, per justification, its uses (ticket, time) in seq order;
 * the workers hash each row's normalised justification, then, chunk by
 * chunk in seq order (history_turn), count each row's uses before adding
 * its own, and decide the row on that count. The candidate's window and
 * max_reuse apply, so a change of either replays. The count is taken up to
 * the candidate's max_reuse: enough to decide (the finding is "uses >=
 * max_reuse"), and it keeps a justification pasted into thousands of
 * tickets from costing thousands of steps a row; a changed decision's
 * message then names at least that many uses. Records without a judged
 * ticket (before issue 13) carry no justification here and are not
 * counted.
 */
#define HIST_MIN 1024
/* The store counts to 1000 at most (store.h). */
#define CF_MAX 1000
/* Uses a little older than the window are still looked past: the store's
 * seq order is its commit order, and evaluation times of concurrent
 * requests interleave by a second or so. */
#define HIST_SLACK 3600

/* Justifications and tickets are kept as two 64-bit hashes and one: a
 * million of them in a few tens of MB, and two distinct ones would
 * collide once in 10^19 (justifications) or 10^13 (tickets) runs. */
struct use {
    uint64_t ticket;
    int64_t time;
};

struct norm {
    uint64_t h1, h2;
    int64_t newest;   /* the time of its latest use */
    struct use *uses; /* [head, n) in seq order; NULL: empty slot */
    uint32_t head, n, cap;
};

struct history {
    struct norm *slots;
    size_t cap, used; /* cap a power of two */
    int64_t window;   /* seconds */
    long want;        /* count up to this: the candidate's max_reuse */
};

static uint64_t fnv(const char *s, uint64_t h)
{
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    /* murmur3's finaliser: FNV's low bits index the table. */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static void history_free(struct history *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->cap; i++)
        free(h->slots[i].uses);
    free(h->slots);
    free(h);
}

/* The slot of (h1, h2) in slots (cap a power of two): its own, or the
 * empty one where it goes. */
static struct norm *slot_of(struct norm *slots, size_t cap, uint64_t h1,
                            uint64_t h2)
{
    size_t i = (size_t)h1 & (cap - 1);

    while (slots[i].uses && (slots[i].h1 != h1 || slots[i].h2 != h2))
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

/* Makes room for one more justification at time now: drops those whose
 * latest use is past every later row's window (rows come in time order,
 * give or take HIST_SLACK), then doubles the table if it is still more
 * than half full. */
static int history_grow(struct history *h, int64_t now)
{
    int64_t stale = now > INT64_MIN + h->window + 2 * HIST_SLACK
                        ? now - h->window - 2 * HIST_SLACK
                        : INT64_MIN;
    size_t live = 0, cap;
    struct norm *slots;

    for (size_t i = 0; i < h->cap; i++)
        live += h->slots[i].uses && h->slots[i].newest >= stale;
    cap = h->cap < HIST_MIN ? HIST_MIN : live * 2 > h->cap ? h->cap * 2
                                                          : h->cap;
    if (!(slots = calloc(cap, sizeof(*slots))))
        return TG_ENOMEM;
    for (size_t i = 0; i < h->cap; i++) {
        struct norm *e = &h->slots[i];
        if (!e->uses)
            continue;
        if (e->newest < stale) {
            free(e->uses);
            continue;
        }
        *slot_of(slots, cap, e->h1, e->h2) = *e;
    }
    free(h->slots);
    h->slots = slots;
    h->cap = cap;
    h->used = live;
    return TG_OK;
}

/* The entry of the justification hashed (h1, h2) at time now (a new, empty
 * one when it is new), or NULL on ENOMEM. */
static struct norm *history_entry(struct history *h, uint64_t h1,
                                  uint64_t h2, int64_t now)
{
    struct norm *e;

    if ((h->used + 1) * 4 > h->cap * 3 && history_grow(h, now) != TG_OK)
        return NULL;
    e = slot_of(h->slots, h->cap, h1, h2);
    if (!e->uses) {
        /* Most justifications are used once. */
        if (!(e->uses = malloc(sizeof(*e->uses))))
            return NULL;
        e->h1 = h1;
        e->h2 = h2;
        e->head = e->n = 0;
        e->cap = 1;
        e->newest = now;
        h->used++;
    }
    return e;
}

/* Counts the copy-forward uses of row (its justification hashed by
 * first_pass) into *uses (NULL: only adds it), then adds its own use.
 * Returns 0 or TG_ENOMEM. */
static int history_count(struct history *h, const struct row *row,
                         long *uses)
{
    uint64_t ticket = row->ticket_h;
    uint64_t seen[CF_MAX];
    struct norm *e;
    int64_t since, horizon;
    long count = 0, want = h->want;

    if (!(e = history_entry(h, row->just_h1, row->just_h2, row->time)))
        return TG_ENOMEM;
    since = row->time > INT64_MIN + h->window ? row->time - h->window
                                              : INT64_MIN;
    horizon = since > INT64_MIN + HIST_SLACK ? since - HIST_SLACK : INT64_MIN;
    /* Newest first, each other ticket once, up to want. */
    for (uint32_t i = e->n; i > e->head && count < want; i--) {
        const struct use *u = &e->uses[i - 1];
        long k;
        if (u->time < horizon)
            break;
        if (u->time < since || u->ticket == ticket)
            continue;
        for (k = 0; k < count && seen[k] != u->ticket; k++)
            ;
        if (k == count)
            seen[count++] = u->ticket;
    }
    if (uses)
        *uses = count;
    /* Uses past the horizon of this row are past every later row's. */
    while (e->head < e->n && e->uses[e->head].time < horizon)
        e->head++;
    if (e->head == e->n)
        e->head = e->n = 0;
    if (e->n == e->cap) {
        if (e->head > 0) { /* room at the front: move down */
            memmove(e->uses, e->uses + e->head,
                    (e->n - e->head) * sizeof(*e->uses));
            e->n -= e->head;
            e->head = 0;
        } else {
            struct use *nu;
            if (e->cap > UINT32_MAX / 2 ||
                !(nu = realloc(e->uses, 2 * (size_t)e->cap * sizeof(*nu))))
                return TG_ENOMEM;
            e->uses = nu;
            e->cap *= 2;
        }
    }
    e->uses[e->n].ticket = ticket;
    e->uses[e->n++].time = row->time;
    if (row->time > e->newest)
        e->newest = row->time;
    return TG_OK;
}

/* tg_evidence_scan_file's callback: one decision row into the chunk being
 * filled; a full chunk goes to the workers. */
static int on_row(void *ctx, const struct tg_evidence_row *row)
{
    struct run *r = ctx;
    struct pool *p = r->p;
    struct chunk *c = &p->slots[tg_ordpool_next(&p->op)];
    struct row *w;
    int history_only = row->time < r->since;

    /* The window before --since is read for the copy-forward history. */
    if (history_only) {
        if (!p->h || !row->judged || row->judged_len == 0)
            return 0;
    } else {
        r->scanned++;
        if (!row->judged || row->judged_len == 0) {
            r->no_judged++;
            return 0;
        }
    }
    if (!r->open) {
        c = filling(r);
        c->n_rows = 0;
        c->text_len = 0;
        r->open = 1;
    }
    w = &c->rows[c->n_rows];
    w->seq = row->seq;
    w->time = row->time;
    w->history_only = history_only;
    w->cf_uses = -1; /* counted by history_turn when p->h */
    w->json_len = row->json_len;
    w->judged_len = row->judged_len;
    w->facts_len = row->facts ? row->facts_len : 0;
    if (opt_put(c, row->key, &w->key) || opt_put(c, row->ticket, &w->ticket) ||
        opt_put(c, row->source, &w->source) ||
        text_put(c, row->json, row->json_len, &w->json) ||
        text_put(c, row->judged, row->judged_len, &w->judged) ||
        text_put(c, row->facts, w->facts_len, &w->facts))
        return TG_ENOMEM;
    if (++c->n_rows == CHUNK_ROWS || c->text_len >= CHUNK_TEXT) {
        queue(p);
        r->open = 0;
    }
    return 0;
}

/* ------------------------------------------------------------ output */

static const enum tg_verdict verdicts[N_VERDICTS] = {TG_ALLOW, TG_ANNOTATE,
                                                     TG_DENY, TG_SKIP};

/* Copies the changes file to out. */
static int copy_changes(FILE *from, FILE *out)
{
    char buf[65536];
    size_t n;

    if (fflush(from) != 0 || fseek(from, 0, SEEK_SET) != 0)
        return TG_EIO;
    while ((n = fread(buf, 1, sizeof(buf), from)) > 0)
        if (fwrite(buf, 1, n, out) != n)
            return TG_EIO;
    return ferror(from) ? TG_EIO : TG_OK;
}

static void print_text(const struct run *r, const char *store,
                       const struct tg_config *cand, FILE *out)
{
    const struct tally *t = &r->t;

    fprintf(out,
            "Replayed %" PRIu64 " of %" PRIu64 " recorded decisions from %s\n"
            "under the candidate %s (%s),\n"
            "each at its own evaluation time.\n",
            t->replayed, r->scanned, store, cand->path, cand->digest);
    if (r->no_judged)
        fprintf(out,
                "%" PRIu64 " decision%s cannot be replayed: recorded "
                "without a judged ticket (before issue 13).\n",
                r->no_judged, r->no_judged == 1 ? "" : "s");
    if (t->unreadable)
        fprintf(out,
                "%" PRIu64 " decision%s cannot be replayed: the recorded "
                "document or ticket does not read.\n",
                t->unreadable, t->unreadable == 1 ? "" : "s");
    fprintf(out, "\n%" PRIu64 " decision%s would change.\n", t->changed,
            t->changed == 1 ? "" : "s");
    if (!t->changed)
        return;
    fputs("\nFrom -> to:\n", out);
    for (size_t i = 0; i < N_VERDICTS; i++)
        for (size_t j = 0; j < N_VERDICTS; j++)
            if (t->trans[i][j])
                fprintf(out, "  %-8s -> %-8s %10" PRIu64 "\n",
                        tg_verdict_name(verdicts[i]),
                        tg_verdict_name(verdicts[j]), t->trans[i][j]);
    fputs("\nBy reason code (decisions whose finding of the code "
          "changes):\n",
          out);
    for (size_t k = 0; k < TG_CODE_COUNT; k++)
        for (size_t i = 0; i < N_VERDICTS; i++)
            for (size_t j = 0; j < N_VERDICTS; j++)
                if (t->codes[k][i][j])
                    fprintf(out, "  %-30s %-8s -> %-8s %10" PRIu64 "\n",
                            tg_code_info((enum tg_code)k)->name,
                            tg_verdict_name(verdicts[i]),
                            tg_verdict_name(verdicts[j]), t->codes[k][i][j]);
    fputs("\nChanged decisions (decision id, ticket, evaluated at, from -> "
          "to):\n",
          out);
}

/* The summary as JSON, without its closing brace: the changes follow. */
static int print_json_head(const struct run *r, const char *store,
                           const char *since, const char *until,
                           const struct tg_config *cand, FILE *out)
{
    const struct tally *t = &r->t;
    json_t *trans = json_array(), *codes = json_array(), *o;
    char *text;
    size_t n;

    for (size_t i = 0; i < N_VERDICTS; i++)
        for (size_t j = 0; j < N_VERDICTS; j++) {
            if (t->trans[i][j])
                json_array_append_new(
                    trans, json_pack("{s:s,s:s,s:I}", "from",
                                     tg_verdict_name(verdicts[i]), "to",
                                     tg_verdict_name(verdicts[j]), "count",
                                     (json_int_t)t->trans[i][j]));
            for (size_t k = 0; k < TG_CODE_COUNT; k++)
                if (t->codes[k][i][j])
                    json_array_append_new(
                        codes,
                        json_pack("{s:s,s:s,s:s,s:I}", "code",
                                  tg_code_info((enum tg_code)k)->name, "from",
                                  tg_verdict_name(verdicts[i]), "to",
                                  tg_verdict_name(verdicts[j]), "count",
                                  (json_int_t)t->codes[k][i][j]));
        }
    o = json_pack("{s:s,s:{s:s,s:s},s:s?,s:s?,s:I,s:I,s:I,s:I,s:I,s:s,s:o,"
                  "s:o}",
                  "store", store, "candidate", "config", cand->path, "policy",
                  cand->digest, "since", since, "until", until, "decisions",
                  (json_int_t)r->scanned, "replayed", (json_int_t)t->replayed,
                  "without_judged_ticket", (json_int_t)r->no_judged,
                  "unreadable", (json_int_t)t->unreadable, "changed",
                  (json_int_t)t->changed, "copy_forward", "from the store's history",
                  "transitions", trans, "codes", codes);
    text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!text)
        return TG_ENOMEM;
    n = strlen(text);
    /* Drop the closing brace: "changes" is appended. */
    fwrite(text, 1, n - 1, out);
    fputs(",\"changes\":[\n", out);
    free(text);
    return TG_OK;
}

/* ------------------------------------------------------------ command */

static void usage(void)
{
    fputs("usage: ticketgate replay -c CANDIDATE.yaml --store PATH "
          "[--since T] [--until T] [--format text|json]\n",
          stderr);
}

/* TG_REPLAY_THREADS (1..256) if set, else one worker per online CPU; -1 if
 * the variable is no such number. */
static int workers_wanted(void)
{
    const char *s = getenv("TG_REPLAY_THREADS");
    char *end;
    long n;

    if (!s || !*s) {
        n = sysconf(_SC_NPROCESSORS_ONLN);
        return n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : (int)n;
    }
    errno = 0;
    n = strtol(s, &end, 10);
    if (errno || *end || n < 1 || n > MAX_THREADS || s[0] == '+' ||
        s[0] == '-' || s[0] == ' ')
        return -1;
    return (int)n;
}

static int parse_time(const char *opt, const char *s, int64_t *out)
{
    if (tg_time_parse(s, strlen(s), out) == TG_OK)
        return TG_OK;
    fprintf(stderr,
            "replay: %s %s is not an RFC 3339 time; write it as "
            "2026-12-01T00:00:00Z\n",
            opt, s);
    return TG_EINVAL;
}

static void pool_cleanup(struct pool *p)
{
    tg_ordpool_stop(&p->op);
    for (size_t i = 0; p->slots && i < p->op.n_slots; i++) {
        free(p->slots[i].rows);
        free(p->slots[i].text);
        free(p->slots[i].out);
        tg_sidecache_cleanup(&p->slots[i].seen);
    }
    free(p->slots);
    pthread_cond_destroy(&p->turn_cv);
    pthread_mutex_destroy(&p->turn_mu);
}

/* Scans store through n workers into r. Returns 0, TG_EIO (the store does
 * not read) or TG_ENOMEM. */
static int replay(struct run *r, const char *store, int64_t since,
                  int64_t until, int n)
{
    struct pool *p = r->p;
    int rc = TG_ENOMEM;

    pthread_mutex_init(&p->turn_mu, NULL);
    pthread_cond_init(&p->turn_cv, NULL);
    /* The workers take nothing before the first chunk is queued. */
    if (tg_ordpool_start(&p->op, (size_t)n * 4, n, ARENA_BYTES, run_chunk,
                         p) != TG_OK ||
        !(p->slots = calloc(p->op.n_slots, sizeof(*p->slots))))
        goto out;
    for (size_t i = 0; i < p->op.n_slots; i++)
        tg_sidecache_init(&p->slots[i].seen);
    for (size_t i = 0; i < p->op.n_slots; i++)
        if (!(p->slots[i].rows =
                  malloc(CHUNK_ROWS * sizeof(*p->slots[i].rows))))
            goto out;
    /* The window before since feeds the copy-forward history. */
    if (p->h && since != INT64_MIN)
        since = since > INT64_MIN + p->h->window + HIST_SLACK
                    ? since - p->h->window - HIST_SLACK
                    : INT64_MIN;
    rc = tg_evidence_scan_file(store, "decision", since, until, on_row, r);
    /* The last chunk, partly filled. */
    if (r->open && rc == TG_OK)
        queue(p);
    r->open = 0;
    while (tg_ordpool_in_flight(&p->op))
        retire(r);
    if (rc == TG_OK && r->failed)
        rc = TG_ENOMEM;
out:
    pool_cleanup(p);
    return rc;
}

/* What the command line asks for. */
struct opts {
    const char *cfgpath, *store, *since_s, *until_s, *fmt_s;
    int64_t since, until;
    enum format fmt;
    int workers;
};

/* The arguments into o; -1 (said why on stderr) when they do not do. */
static int parse_args(int argc, char **argv, struct opts *o)
{
    *o = (struct opts){.fmt_s = "text", .since = INT64_MIN,
                       .until = INT64_MAX};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **dst = strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0
                               ? &o->cfgpath
                           : strcmp(a, "--store") == 0  ? &o->store
                           : strcmp(a, "--since") == 0  ? &o->since_s
                           : strcmp(a, "--until") == 0  ? &o->until_s
                           : strcmp(a, "--format") == 0 ? &o->fmt_s
                                                        : NULL;
        if (!dst || i + 1 >= argc) {
            fprintf(stderr, "replay: %s %s\n",
                    dst ? "a value must follow" : "unknown argument", a);
            usage();
            return -1;
        }
        *dst = argv[++i];
    }
    if (!o->cfgpath || !o->store) {
        usage();
        return -1;
    }
    if (strcmp(o->fmt_s, "text") == 0)
        o->fmt = FMT_TEXT;
    else if (strcmp(o->fmt_s, "json") == 0)
        o->fmt = FMT_JSON;
    else {
        fprintf(stderr, "replay: --format is text or json, not %s\n",
                o->fmt_s);
        return -1;
    }
    if ((o->since_s && parse_time("--since", o->since_s, &o->since)) ||
        (o->until_s && parse_time("--until", o->until_s, &o->until)))
        return -1;
    if ((o->workers = workers_wanted()) < 0) {
        fprintf(stderr, "replay: TG_REPLAY_THREADS must be a number of "
                        "threads from 1 to %d\n",
                MAX_THREADS);
        return -1;
    }
    return 0;
}

/* The candidate of o into *cand and, when its copy-forward finding is on,
 * an empty history with its window and max_reuse into *h. -1 (said why on
 * stderr) when it does not load. */
static int candidate_load(const struct opts *o, struct tg_config **cand,
                          struct history **h)
{
    struct tg_diag diag;
    int rc;

    tg_diag_init(&diag);
    rc = tg_config_load(o->cfgpath, cand, &diag);
    if (rc != TG_OK) {
        for (size_t i = 0; i < diag.n; i++)
            fprintf(stderr, "%s\n", diag.msgs[i]);
        if (diag.n == 0)
            fprintf(stderr, "%s: cannot load the candidate configuration\n",
                    o->cfgpath);
    }
    tg_diag_cleanup(&diag);
    if (rc != TG_OK)
        return -1;
    if ((*cand)->policy.action[TG_JUSTIFICATION_COPY_FORWARD] ==
        TG_ACTION_OFF)
        return 0;
    if (!(*h = calloc(1, sizeof(**h)))) {
        fprintf(stderr, "replay: out of memory\n");
        return -1;
    }
    (*h)->window = (int64_t)(*cand)->policy.copy_window_days * 86400;
    (*h)->want = (*cand)->policy.copy_max_reuse < CF_MAX
                     ? (long)(*cand)->policy.copy_max_reuse
                     : CF_MAX;
    return 0;
}

/* The summary, then the changes, to standard output. 0, or -1. */
static int print_all(struct run *r, const struct opts *o,
                     const struct tg_config *cand)
{
    if (o->fmt == FMT_TEXT) {
        print_text(r, o->store, cand, stdout);
        return copy_changes(r->changes, stdout) == TG_OK ? 0 : -1;
    }
    if (print_json_head(r, o->store, o->since_s, o->until_s, cand, stdout) !=
            TG_OK ||
        copy_changes(r->changes, stdout) != TG_OK)
        return -1;
    fputs("\n]}\n", stdout);
    return 0;
}

int tg_cmd_replay(int argc, char **argv)
{
    struct tg_config *cand = NULL;
    struct opts o;
    struct pool pool;
    struct run r;
    int code = 2, rc;

    memset(&pool, 0, sizeof(pool));
    memset(&r, 0, sizeof(r));
    r.p = &pool;
    if (parse_args(argc, argv, &o) != 0 ||
        candidate_load(&o, &cand, &pool.h) != 0)
        goto out;
    pool.fmt = o.fmt;
    pool.cand = cand;
    r.since = o.since;
    if (!(r.changes = tmpfile())) {
        fprintf(stderr, "replay: cannot make a temporary file: %s\n",
                strerror(errno));
        goto out;
    }
    rc = replay(&r, o.store, o.since, o.until, o.workers);
    if (rc != TG_OK) {
        fprintf(stderr, "replay: %s\n",
                rc == TG_EIO ? "the store cannot be read (is --store a "
                               "ticketgate store?)"
                             : "out of memory");
        goto out;
    }
    if (print_all(&r, &o, cand) == 0)
        code = fflush(stdout) == 0 ? 0 : 2;
out:
    if (r.changes)
        fclose(r.changes);
    history_free(pool.h);
    tg_config_free(cand);
    return code;
}
