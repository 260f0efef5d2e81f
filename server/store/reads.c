/* reads.c - reads: get, list, delivery and jti lookups, copy-forward count. */

#include "server/store/internal.h"

#include "server/store/page.h"

static const char *const QUERIES[Q_N] = {
    [Q_DELIVERY] = "SELECT body_sha256, decision FROM records"
                   " WHERE source = ?1 AND delivery_id = ?2",
    [Q_COPY] = "SELECT COUNT(*) FROM (SELECT 1 FROM just_use"
               " WHERE just_norm = ?1 AND last_time >= ?2 AND ticket <> ?3"
               " LIMIT ?4)",
    [Q_USES] = "SELECT ticket, last_time FROM just_use WHERE just_norm = ?1"
               " ORDER BY last_time DESC LIMIT ?2",
    /* Decisions only: an entry's decision_id is "kind:key" (internal.h) */
    [Q_GET] = "SELECT decision FROM records WHERE decision_id = ?1"
              " AND " IS_DECISION,
    [Q_LIST] = "SELECT seq, decision FROM records"
               " WHERE ticket = ?1 AND seq < ?2 AND " IS_DECISION
               " ORDER BY seq DESC LIMIT ?3",
    [Q_JTI] = "SELECT j.body_sha256, j.decision_id, r.decision"
              " FROM jti_use j LEFT JOIN records r"
              " ON r.decision_id = j.decision_id"
              " WHERE j.source = ?1 AND j.jti = ?2",
};
/* ----------------------------------------------------------------- reads */

static int rconn_get(struct tg_sq *e, struct rconn **out)
{
    struct rconn *c;
    int rc;

    pthread_mutex_lock(&e->pool_mu);
    c = e->idle;
    if (c) {
        e->idle = c->next;
        e->n_idle--;
    }
    pthread_mutex_unlock(&e->pool_mu);
    if (c) {
        *out = c;
        return 0;
    }
    if (!(c = calloc(1, sizeof *c)))
        return TG_ENOMEM;
    rc = tg_sq_open_db(e->path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                 e->busy_ms, &c->db);
    /* query_only: this connection must never write, whatever it runs */
    if (!rc && (rc = tg_sq_exec(c->db, "PRAGMA query_only=1")))
        tg_sq_close_db(c->db);
    if (rc) {
        free(c);
        return rc == TG_ENOMEM ? rc : TG_EIO;
    }
    *out = c;
    return 0;
}

/* Returns c to the pool; after an error it is closed instead, so that a
 * broken handle is not reused. */
static void rconn_put(struct tg_sq *e, struct rconn *c, int ok)
{
    if (ok) {
        pthread_mutex_lock(&e->pool_mu);
        if (e->n_idle < POOL_IDLE_MAX) {
            c->next = e->idle;
            e->idle = c;
            e->n_idle++;
            c = NULL;
        }
        pthread_mutex_unlock(&e->pool_mu);
    }
    if (c) {
        for (int i = 0; i < Q_N; i++)
            sqlite3_finalize(c->st[i]);
        tg_sq_close_db(c->db);
        free(c);
    }
}

static int rconn_stmt(struct rconn *c, int q, sqlite3_stmt **out)
{
    int rc;

    if (!c->st[q]) {
        rc = sqlite3_prepare_v3(c->db, QUERIES[q], -1,
                                SQLITE_PREPARE_PERSISTENT, &c->st[q], NULL);
        if (rc != SQLITE_OK)
            return tg_sq_map(rc) == TG_ENOMEM ? TG_ENOMEM : TG_EIO;
    }
    *out = c->st[q];
    return 0;
}

static void stmt_done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

static char *dup_column(sqlite3_stmt *st, int col)
{
    const char *p = (const char *)sqlite3_column_text(st, col);
    size_t n = (size_t)sqlite3_column_bytes(st, col);
    char *s;

    if (!p)
        return NULL;
    if (!(s = malloc(n + 1)))
        return NULL;
    memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

/* What a row found by a delivery id or a jti answers: its body digest
 * (column 0) against the request's (same_body), and the rest of the row.
 * Returns 0 with *decision_json (NULL: nothing recorded to answer with),
 * TG_ECONFLICT or TG_ENOMEM. */
typedef int (*row_answer)(sqlite3_stmt *st, int same_body,
                          char **decision_json);

/* Looks up (source, key) with statement q and lets answer judge the row.
 * The one lookup of tg_evidence_find_delivery and tg_evidence_find_jti:
 * TG_ENOTFOUND without a row, TG_EIO when the read fails. */
static int find_by_key(struct tg_sq *e, int q, const char *source,
                       const char *key, const unsigned char body_sha256[32],
                       row_answer answer, char **decision_json)
{
    struct rconn *c = NULL;
    sqlite3_stmt *st;
    char want[65];
    int rc;

    if (!e || !source || !key || !decision_json)
        return TG_EINVAL;
    if ((rc = rconn_get(e, &c)))
        return rc == TG_ENOMEM ? rc : TG_EIO;
    if ((rc = rconn_stmt(c, q, &st)))
        goto out;
    sqlite3_bind_text(st, 1, source, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        rc = TG_ENOTFOUND;
    } else if (rc != SQLITE_ROW) {
        rc = TG_EIO;
    } else {
        const char *have = (const char *)sqlite3_column_text(st, 0);

        tg_digest_hex(body_sha256, 32, want);
        rc = answer(st, have && strcmp(have, want) == 0, decision_json);
    }
    stmt_done(st);
out:
    rconn_put(e, c, rc != TG_EIO);
    return rc;
}

/* A delivery's row: (body digest, decision document). */
static int delivery_answer(sqlite3_stmt *st, int same_body,
                           char **decision_json)
{
    char *doc;

    if (!same_body)
        return TG_ECONFLICT;
    if (!(doc = dup_column(st, 1)))
        return TG_ENOMEM;
    *decision_json = doc;
    return 0;
}

/* A jti's row: (body digest, decision id or NULL for a skip, the decision
 * document still in the store or NULL). */
static int jti_answer(sqlite3_stmt *st, int same_body, char **decision_json)
{
    int recorded = sqlite3_column_type(st, 1) != SQLITE_NULL;
    int kept = sqlite3_column_type(st, 2) != SQLITE_NULL;

    /* A record moved out by `audit archive` cannot be answered again:
     * the jti counts as used. */
    if (!same_body || (recorded && !kept))
        return TG_ECONFLICT;
    if (!recorded) {
        *decision_json = NULL;
        return 0;
    }
    if (!(*decision_json = dup_column(st, 2)))
        return TG_ENOMEM;
    return 0;
}

int tg_sq_find_delivery(struct tg_sq *e, const char *source,
                              const char *delivery_id,
                              const unsigned char body_sha256[32],
                              char **decision_json)
{
    return find_by_key(e, Q_DELIVERY, source, delivery_id, body_sha256,
                       delivery_answer, decision_json);
}

int tg_sq_find_jti(struct tg_sq *e, const char *source,
                         const char *jti, const unsigned char body_sha256[32],
                         char **decision_json)
{
    return find_by_key(e, Q_JTI, source, jti, body_sha256, jti_answer,
                       decision_json);
}

/* Reads the latest uses of justification_norm on c for tg_cf_reload, the
 * count's window starting at since (a failure only leaves the index as it
 * was). */
static void reload_uses(struct tg_sq *e, struct rconn *c,
                        const char *justification_norm,
                        const unsigned char jd[TG_CF_DIGEST], uint32_t drops,
                        int64_t since)
{
    struct tg_cf_use *u = NULL;
    sqlite3_stmt *st;
    size_t n = 0;
    int rc = SQLITE_DONE;

    if (rconn_stmt(c, Q_USES, &st) ||
        !(u = malloc(TG_CF_GROUP_MAX * sizeof *u)))
        goto out;
    sqlite3_bind_text(st, 1, justification_norm, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, TG_CF_GROUP_MAX);
    while (n < TG_CF_GROUP_MAX && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(st, 0);

        if (!t || tg_cf_digest(t, u[n].td))
            break;
        u[n++].last = sqlite3_column_int64(st, 1);
    }
    if (rc == SQLITE_DONE || n == TG_CF_GROUP_MAX)
        tg_cf_reload(&e->cf, jd, u, n, drops, since);
    stmt_done(st);
out:
    free(u);
}

atomic_int tg_sq_test_db_counts;

int tg_sq_copy_forward_count(struct tg_sq *e,
                                   const char *justification_norm,
                                   const char *ticket, int64_t since,
                                   long *out)
{
    unsigned char jd[TG_CF_DIGEST];
    struct rconn *c = NULL;
    sqlite3_stmt *st;
    uint32_t drops = 0;
    int reload = 0, rc;

    if (!e || !out)
        return TG_EINVAL;
    if (!justification_norm) {
        *out = 0;
        return 0;
    }
    if (!ticket)
        ticket = "";
    /* The index answers without a read whenever it can (struct tg_cf_index);
     * SQLite's answer is the same, only dearer. */
    if (tg_cf_count(&e->cf, justification_norm, ticket, since, out, jd,
                    &reload, &drops))
        return 0;
    atomic_fetch_add(&tg_sq_test_db_counts, 1);
    if ((rc = rconn_get(e, &c)))
        return TG_EIO;
    if ((rc = rconn_stmt(c, Q_COPY, &st)))
        goto out;
    sqlite3_bind_text(st, 1, justification_norm, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, since);
    sqlite3_bind_text(st, 3, ticket, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, TG_CF_COPY_LIMIT);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        int64_t n = sqlite3_column_int64(st, 0);

        *out = n > LONG_MAX ? LONG_MAX : (long)n;
        rc = 0;
    } else {
        rc = TG_EIO;
    }
    stmt_done(st);
    /* A justification used again after the index dropped it, or a window
     * reaching before the load's horizon: its uses (or that it has none)
     * go into the index, so that the next counts need no read. */
    if (rc == 0 && reload)
        reload_uses(e, c, justification_norm, jd, drops, since);
out:
    rconn_put(e, c, rc == 0);
    return rc ? TG_EIO : 0;
}

int tg_sq_get(struct tg_sq *e, const char *decision_id,
                    char **json)
{
    struct rconn *c = NULL;
    sqlite3_stmt *st;
    int rc;

    if (!e || !decision_id || !json)
        return TG_EINVAL;
    if ((rc = rconn_get(e, &c)))
        return rc == TG_ENOMEM ? rc : TG_EIO;
    if ((rc = rconn_stmt(c, Q_GET, &st)))
        goto out;
    sqlite3_bind_text(st, 1, decision_id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        rc = TG_ENOTFOUND;
    } else if (rc != SQLITE_ROW) {
        rc = TG_EIO;
    } else {
        char *doc = dup_column(st, 0);

        rc = doc ? 0 : TG_ENOMEM;
        if (doc)
            *json = doc;
    }
    stmt_done(st);
out:
    rconn_put(e, c, rc != TG_EIO);
    return rc;
}

int tg_sq_list(struct tg_sq *e, const char *ticket, int limit,
                     uint64_t before, json_t **out)
{
    struct rconn *c = NULL;
    sqlite3_stmt *st = NULL;
    json_t *arr = NULL, *next = NULL;
    int64_t last = 0;
    int n = 0;
    int rc;

    if (!e || !ticket || !out)
        return TG_EINVAL;
    limit = tg_store_page_limit(limit);
    if ((rc = rconn_get(e, &c)))
        return rc == TG_ENOMEM ? rc : TG_EIO;
    if ((rc = rconn_stmt(c, Q_LIST, &st)))
        goto out;
    rc = TG_ENOMEM;
    if (!(arr = json_array()))
        goto out;
    sqlite3_bind_text(st, 1, ticket, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, tg_store_page_before(before));
    /* one more than asked tells whether there is a next page */
    sqlite3_bind_int(st, 3, limit + 1);
    for (;;) {
        json_t *doc;
        int s = sqlite3_step(st);

        if (s == SQLITE_DONE)
            break;
        if (s != SQLITE_ROW) {
            rc = TG_EIO;
            goto out;
        }
        if (n == limit) {
            if (!(next = json_integer(last)))
                goto out;
            break;
        }
        doc = json_loadb((const char *)sqlite3_column_text(st, 1),
                         (size_t)sqlite3_column_bytes(st, 1), 0, NULL);
        if (!doc) {
            rc = TG_EIO; /* append refuses non-JSON: the file was edited */
            goto out;
        }
        if (json_array_append_new(arr, doc))
            goto out;
        last = sqlite3_column_int64(st, 0);
        n++;
    }
    rc = tg_store_page(arr, next ? next : json_null(), out);
    arr = next = NULL;
out:
    if (st)
        stmt_done(st);
    if (c)
        rconn_put(e, c, rc != TG_EIO);
    json_decref(arr);
    json_decref(next);
    return rc;
}


/* ------------------------------------------------- scans and entries */

int tg_sq_scan(struct tg_sq *e, const char *kind, int64_t since,
                     int64_t until, tg_evidence_row_fn fn, void *ctx)
{
    struct rconn *c = NULL;
    int rc;

    if (!e || !fn)
        return TG_EINVAL;
    if ((rc = rconn_get(e, &c)))
        return rc == TG_ENOMEM ? rc : TG_EIO;
    /* BEGIN: one snapshot for the whole scan; the writer goes on (WAL) */
    if (tg_sq_exec(c->db, "BEGIN")) {
        rconn_put(e, c, 0);
        return TG_EIO;
    }
    rc = tg_sq_scan_db(c->db, kind, since, until, fn, ctx);
    if (tg_sq_exec(c->db, "COMMIT") && rc == 0)
        rc = TG_EIO;
    rconn_put(e, c, rc == 0);
    return rc;
}

int tg_sq_get_entry(struct tg_sq *e, const char *kind,
                          const char *key, char **json)
{
    struct rconn *c = NULL;
    int rc;

    if (!e || !kind || !key || !json)
        return TG_EINVAL;
    if ((rc = rconn_get(e, &c)))
        return rc == TG_ENOMEM ? rc : TG_EIO;
    rc = tg_sq_get_entry_db(c->db, kind, key, json);
    rconn_put(e, c, rc != TG_EIO);
    return rc;
}

/* The horizon of a load from just_use on db (in the caller's snapshot):
 * one pass over the times, the latest TG_CF_LOAD_ROWS + 1 kept
 * (tg_cf_top; not an ORDER BY, whose sorter would hold them in SQLite's
 * memory). Returns 0 or the SQLite failure (TG_ENOMEM: no room). */
static int load_horizon(sqlite3 *db, int64_t *out)
{
    struct tg_cf_top top = {0};
    sqlite3_stmt *st = NULL;
    int rc =
        sqlite3_prepare_v2(db, "SELECT last_time FROM just_use", -1, &st, NULL);

    if (rc != SQLITE_OK)
        return tg_sq_map(rc);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (tg_cf_top_push(&top, sqlite3_column_int64(st, 0))) {
            rc = SQLITE_NOMEM;
            break;
        }
    rc = rc == SQLITE_DONE ? 0 : tg_sq_map(rc);
    *out = tg_cf_top_horizon(&top);
    tg_cf_top_free(&top);
    sqlite3_finalize(st);
    return rc;
}

/*
 * Fills the index from just_use, and sets its seq to the last record, in
 * one snapshot of db (the write connection, before any thread starts):
 * the TG_CF_LOAD_ROWS latest uses at most, the horizon set before them.
 * Returns 0 or the SQLite failure; an index that does not fit is not one:
 * it only drops groups.
 */
int tg_sq_cf_load(struct tg_sq *e, sqlite3 *db)
{
    struct tg_cf_index *x = &e->cf;
    /* no record appended after the snapshot is in it: the clock before */
    int64_t at = tg_cf_clock();
    sqlite3_stmt *st = NULL;
    int rc;

    if ((rc = tg_sq_exec(db, "BEGIN")))
        return rc;
    rc = sqlite3_prepare_v2(db, "SELECT coalesce(max(seq), 0) FROM records",
                            -1, &st, NULL);
    if (rc != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) {
        rc = tg_sq_map(rc == SQLITE_OK ? sqlite3_errcode(db) : rc);
        goto out;
    }
    x->seq = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    st = NULL;
    if ((rc = load_horizon(db, &x->horizon)))
        goto out;
    rc = sqlite3_prepare_v2(db,
                            "SELECT just_norm, ticket, last_time"
                            " FROM just_use WHERE last_time > ?1",
                            -1, &st, NULL);
    if (rc != SQLITE_OK) {
        rc = tg_sq_map(rc);
        goto out;
    }
    sqlite3_bind_int64(st, 1, x->horizon);
    x->valid = 1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        tg_cf_add_text(x, (const char *)sqlite3_column_text(st, 0),
                       (const char *)sqlite3_column_text(st, 1),
                       sqlite3_column_int64(st, 2));
    rc = rc == SQLITE_DONE ? 0 : tg_sq_map(rc);
    tg_cf_synced(x, x->seq, at);
out:
    sqlite3_finalize(st);
    tg_sq_exec(db, "COMMIT");
    if (rc)
        x->valid = 0;
    return rc;
}
