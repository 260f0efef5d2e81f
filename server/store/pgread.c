/* pgread.c - the PostgreSQL store's reads: lookups, lists, scans, verify. */

#include "server/store/pg.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/crypto.h>

#include "server/store/page.h"
#include "server/store/show.h"
#include "server/util/digest.h"
#include "validators/errors.h"

#define KIND_DECISION "decision"
#define IS_DECISION "(kind IS NULL OR kind = 'decision')"
#define FETCH_ROWS "500"

/* One parameterised query's result on db: 0 with *res (caller clears),
 * TG_EIO. */
static int query(PGconn *db, const char *sql, int n, const char *const *v,
                 PGresult **res)
{
    PGresult *r = PQexecParams(db, sql, n, NULL, v, NULL, NULL, 0);

    if (PQresultStatus(r) == PGRES_TUPLES_OK ||
        PQresultStatus(r) == PGRES_COMMAND_OK) {
        *res = r;
        return 0;
    }
    PQclear(r);
    return TG_EIO;
}

/* sql prepared on db as name, at its first use on that connection: a
 * request's reads are planned once a connection, not once a request.
 * Outside a transaction only (the first use fails, then prepares). 0
 * with *res, TG_EIO. */
static int query_named(PGconn *db, const char *name, const char *sql, int n,
                       const char *const *v, PGresult **res)
{
    PGresult *r = PQexecPrepared(db, name, n, v, NULL, NULL, 0);
    const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);

    /* 26000 invalid_sql_statement_name: not prepared here yet */
    if (st && strcmp(st, "26000") == 0) {
        PQclear(r);
        r = PQprepare(db, name, sql, n, NULL);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            PQclear(r);
            return TG_EIO;
        }
        PQclear(r);
        r = PQexecPrepared(db, name, n, v, NULL, NULL, 0);
    }
    if (PQresultStatus(r) == PGRES_TUPLES_OK ||
        PQresultStatus(r) == PGRES_COMMAND_OK) {
        *res = r;
        return 0;
    }
    PQclear(r);
    return TG_EIO;
}

/* A live store's pooled query (prepared as name, unless NULL): 0 with
 * *res, TG_EIO. */
static int pooled(struct tg_pg *e, const char *name, const char *sql, int n,
                  const char *const *v, PGresult **res)
{
    PGconn *db = NULL;
    int rc;

    if (tg_pg_conn_get(e, &db))
        return TG_EIO;
    rc = name ? query_named(db, name, sql, n, v, res)
              : query(db, sql, n, v, res);
    /* An idle connection of the pool that the server dropped meanwhile (a
     * restart, a failover) fails at its first use: these reads change
     * nothing, so once more on a new connection. */
    if (rc && PQstatus(db) == CONNECTION_BAD) {
        const char *why;

        PQfinish(db);
        db = NULL;
        if (tg_pg_connect(e->url, e->busy_ms, &db, &why)) {
            tg_pg_note_down(e);
            return TG_EIO;
        }
        rc = name ? query_named(db, name, sql, n, v, res)
                  : query(db, sql, n, v, res);
    }
    tg_pg_conn_put(e, db, rc == 0);
    return rc;
}

/* Calls fn for each row of sql (parameters v), fetched through a cursor
 * FETCH_ROWS at a time inside the caller's transaction. Returns 0, TG_EIO,
 * or fn's nonzero value. */
int tg_pg_each_row(PGconn *db, const char *sql, int n, const char *const *v,
                   tg_pg_row_fn fn, void *ctx)
{
    static const char decl[] = "DECLARE tg_rows NO SCROLL CURSOR FOR ";
    size_t len = strlen(sql);
    char *q = malloc(sizeof decl + len);
    PGresult *res = NULL;
    int rc;

    if (!q)
        return TG_ENOMEM;
    memcpy(q, decl, sizeof decl - 1);
    memcpy(q + sizeof decl - 1, sql, len + 1);
    rc = query(db, q, n, v, &res);
    free(q);
    if (rc)
        return rc;
    PQclear(res);
    for (;;) {
        int rows;

        if ((rc =
                 query(db, "FETCH " FETCH_ROWS " FROM tg_rows", 0, NULL, &res)))
            return rc;
        rows = PQntuples(res);
        for (int i = 0; i < rows && rc == 0; i++)
            rc = fn(ctx, res, i);
        PQclear(res);
        if (rc || rows == 0)
            break;
    }
    if (tg_pg_exec(db, "CLOSE tg_rows") && rc == 0)
        rc = TG_EIO;
    return rc;
}

/* A snapshot of the database at url for an offline read. */
static int snapshot_begin(const char *url, PGconn **db)
{
    const char *why;

    if (tg_pg_connect(url, 0, db, &why))
        return TG_EIO;
    if (tg_pg_exec(*db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")) {
        PQfinish(*db);
        *db = NULL;
        return TG_EIO;
    }
    return 0;
}

static void snapshot_end(PGconn *db)
{
    if (db) {
        tg_pg_exec(db, "COMMIT");
        PQfinish(db);
    }
}

/* ------------------------------------------------- delivery ids and jti */

int tg_pg_find_delivery(struct tg_pg *e, const char *source,
                        const char *delivery_id,
                        const unsigned char body_sha256[32],
                        char **decision_json)
{
    const char *v[2] = {source, delivery_id};
    PGresult *res = NULL;
    char want[65];
    int rc, oom = 0;

    if (!e || !source || !delivery_id || !decision_json)
        return TG_EINVAL;
    if (pooled(e, "tg_find_delivery",
               "SELECT body_sha256, decision FROM records"
               " WHERE source = $1 AND delivery_id = $2",
               2, v, &res))
        return TG_EIO;
    tg_digest_hex(body_sha256, 32, want);
    if (PQntuples(res) == 0)
        rc = TG_ENOTFOUND;
    else if (strcmp(PQgetvalue(res, 0, 0), want) != 0)
        rc = TG_ECONFLICT;
    else
        rc = (*decision_json = tg_pg_dup(res, 0, 1, &oom)) ? 0
             : oom                                         ? TG_ENOMEM
                                                           : TG_EIO;
    PQclear(res);
    return rc;
}

int tg_pg_find_jti(struct tg_pg *e, const char *source, const char *jti,
                   const unsigned char body_sha256[32], char **decision_json)
{
    const char *v[2] = {source, jti};
    PGresult *res = NULL;
    char want[65];
    int rc, oom = 0;

    if (!e || !source || !jti || !decision_json)
        return TG_EINVAL;
    if (pooled(e, "tg_find_jti",
               "SELECT j.body_sha256, j.decision_id, r.decision"
               " FROM jti_use j LEFT JOIN records r"
               " ON r.decision_id = j.decision_id"
               " WHERE j.source = $1 AND j.jti = $2",
               2, v, &res))
        return TG_EIO;
    tg_digest_hex(body_sha256, 32, want);
    if (PQntuples(res) == 0) {
        rc = TG_ENOTFOUND;
    } else if (strcmp(PQgetvalue(res, 0, 0), want) != 0 ||
               (!PQgetisnull(res, 0, 1) && PQgetisnull(res, 0, 2))) {
        rc = TG_ECONFLICT; /* another body, or its record is gone */
    } else if (PQgetisnull(res, 0, 1)) {
        *decision_json = NULL; /* a skip: no record */
        rc = 0;
    } else {
        rc = (*decision_json = tg_pg_dup(res, 0, 2, &oom)) ? 0
             : oom                                         ? TG_ENOMEM
                                                           : TG_EIO;
    }
    PQclear(res);
    return rc;
}

/* ------------------------------------------------ copy-forward, get, list */

/*
 * Copy-forward counts, read together. Every request asks one (its
 * justification's other tickets); read one by one, each woke a backend
 * of its own for an autocommit transaction, ~40% of PostgreSQL's CPU
 * under load. The first request that finds no batch being read leads
 * one: it takes every count waiting (up to RD_MAX), sends them on the
 * leader's connection in one pipeline (one round trip, one backend
 * wakeup; the counts one statement, each reload one, each statement its
 * own transaction, rd_pipeline) and answers each; a request that arrived
 * meanwhile leads the next batch. Every process's records count, from
 * the one table all of them write. Only the counts the replica's
 * copy-forward index cannot answer come here (pgcfindex.c): a replica
 * idle for TG_CF_FRESH_MS, a justification dropped from the index, a
 * window reaching before the load's horizon. The last two read the
 * justification's latest uses instead (RD_SQL_USES), count them here and
 * hand them to the index (tg_cf_reload), as SQLite's reads do: the next
 * counts need no read.
 */
#define RD_MAX 64
#define RD_STMT "tg_copy_forward"
static const char RD_SQL[] =
    "SELECT COUNT(*) FROM (SELECT 1 FROM just_use"
    " WHERE just_norm = $1 AND last_time >= $2 AND ticket <> $3"
    " LIMIT 1000) u";
/* A batch of two counts or more as one statement: the reads' parameters
 * as binary arrays, unnested; each row its read's position (from 1) and
 * count. One executor start and end for the batch instead of one a
 * count (most of a count's cost: each is one index probe). */
#define RD_STMT_N "tg_copy_forward_n"
static const char RD_SQL_N[] =
    "SELECT u.i, (SELECT COUNT(*) FROM (SELECT 1 FROM just_use"
    " WHERE just_norm = u.j AND last_time >= u.s AND ticket <> u.t"
    " LIMIT 1000) c) FROM unnest($1::text[], $2::bigint[], $3::text[])"
    " WITH ORDINALITY u(j, s, t, i)";
/* The latest uses of a justification, at most a group's
 * (TG_CF_GROUP_MAX): enough for its count too (rd_count_uses). By the
 * primary key's prefix, then a top-N sort of that justification's rows. */
#define RD_STMT_USES "tg_copy_forward_uses"
#define RD_STR_(x) #x
#define RD_STR(x) RD_STR_(x)
static const char RD_SQL_USES[] =
    "SELECT ticket, last_time FROM just_use WHERE just_norm = $1"
    " ORDER BY last_time DESC LIMIT " RD_STR(TG_CF_GROUP_MAX);

atomic_int tg_pg_test_db_reloads;
atomic_int tg_pg_test_rd_connects;

/* Prepares sql as name on db unless it is there (42P05). 0 or TG_EIO. */
static int rd_prepare(PGconn *db, const char *name, const char *sql)
{
    PGresult *r = PQprepare(db, name, sql, 0, NULL);
    const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK ||
             (st && strcmp(st, "42P05") == 0);

    PQclear(r);
    return ok ? 0 : TG_EIO;
}

/* The leader's connection, its statement prepared: 0 or TG_EIO (the
 * server unreachable: the store turned not ready by tg_pg_conn_get). */
static int rd_conn(struct tg_pg *e)
{
    if (e->rd_db && PQstatus(e->rd_db) == CONNECTION_OK)
        return 0;
    if (e->rd_db) {
        PQfinish(e->rd_db);
        e->rd_db = NULL;
    }
    if (tg_pg_conn_get(e, &e->rd_db))
        return TG_EIO;
    atomic_fetch_add(&tg_pg_test_rd_connects, 1);
    /* a pool connection may have them already */
    if (rd_prepare(e->rd_db, RD_STMT, RD_SQL) ||
        rd_prepare(e->rd_db, RD_STMT_N, RD_SQL_N) ||
        rd_prepare(e->rd_db, RD_STMT_USES, RD_SQL_USES)) {
        tg_pg_conn_put(e, e->rd_db, 0);
        e->rd_db = NULL;
        return TG_EIO;
    }
    return 0;
}

/* The n reads of batch as one tg_copy_forward_n statement (the pipeline
 * is open). 0 or TG_EIO. */
static int rd_send_n(PGconn *db, struct tg_pg_read **batch, int n)
{
    struct tg_strbuf a[3];
    const char *v[3];
    int len[3], fmt[3] = {1, 1, 1}, rc = 0;

    for (int c = 0; c < 3; c++) {
        a[c] = (struct tg_strbuf)TG_STRBUF_INIT(INT_MAX / 2);
        if (rc == 0)
            rc = tg_pg_array_begin(&a[c], c == 1, n);
        for (int i = 0; i < n && rc == 0; i++)
            rc = c == 1 ? tg_pg_array_i64(&a[c], batch[i]->since)
                        : tg_pg_array_text(&a[c], batch[i]->v[c],
                                           (int)strlen(batch[i]->v[c]));
        v[c] = a[c].p;
        len[c] = (int)a[c].n;
    }
    if (rc == 0 &&
        PQsendQueryPrepared(db, RD_STMT_N, 3, v, len, fmt, 0) != 1)
        rc = TG_EIO;
    for (int c = 0; c < 3; c++)
        tg_strbuf_cleanup(&a[c]);
    return rc ? TG_EIO : 0;
}

/* Sets the counts of batch (n) from r, tg_copy_forward_n's rows: 0, or
 * TG_EIO when r is not one row a read. */
static int rd_take_n(const PGresult *r, struct tg_pg_read **batch, int n)
{
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != n)
        return TG_EIO;
    for (int k = 0; k < n; k++) {
        int64_t i = tg_pg_i64(r, k, 0);

        if (i < 1 || i > n)
            return TG_EIO;
        batch[i - 1]->count = tg_pg_i64(r, k, 1);
        batch[i - 1]->rc = 0;
    }
    return 0;
}

/* Sets the count of each of the n counts of cnt from r, their
 * statement's result (one row for one count, else tg_copy_forward_n's). */
static void rd_take(const PGresult *r, struct tg_pg_read **cnt, int n)
{
    if (n >= 2) {
        /* a statement's failure fails its reads, not the connection nor
         * the pipeline's other statements (rd_pipeline) */
        if (rd_take_n(r, cnt, n))
            for (int k = 0; k < n; k++)
                cnt[k]->rc = TG_EIO;
        return;
    }
    cnt[0]->rc =
        PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) ? 0 : TG_EIO;
    if (cnt[0]->rc == 0)
        cnt[0]->count = tg_pg_i64(r, 0, 0);
}

/* Reads the n reads of batch in one pipeline: the counts as one
 * statement (tg_copy_forward_n for two or more), each reload as its own
 * (its rows left in its uses); sets each one's rc. A sync after each
 * statement makes it a transaction of its own: one that fails (its
 * statement_timeout) fails only its reads; in one implicit transaction,
 * every statement after it was aborted too. Each sync is also a send
 * (libpq before 17 flushes at each): a few more in a batch with
 * reloads, which only a start or a dropped justification asks for.
 * Returns 0, or TG_EIO when the connection failed (a reload's rows may
 * be set: the reader clears them). */
static int rd_pipeline(PGconn *db, struct tg_pg_read **batch, int n)
{
    struct tg_pg_read *cnt[RD_MAX], *rel[RD_MAX];
    PGresult *r;
    int rc = 0, nc = 0, nr = 0;

    for (int i = 0; i < n; i++) {
        /* a retry on a new connection reads them again */
        PQclear(batch[i]->uses);
        batch[i]->uses = NULL;
        if (batch[i]->reload)
            rel[nr++] = batch[i];
        else
            cnt[nc++] = batch[i];
    }
    if (PQenterPipelineMode(db) != 1)
        return TG_EIO;
    if (nc >= 2)
        rc = rd_send_n(db, cnt, nc);
    else if (nc == 1 &&
             PQsendQueryPrepared(db, RD_STMT, 3, cnt[0]->v, NULL, NULL, 0) != 1)
        rc = TG_EIO;
    if (rc == 0 && nc && PQpipelineSync(db) != 1)
        rc = TG_EIO;
    for (int i = 0; i < nr && rc == 0; i++)
        if (PQsendQueryPrepared(db, RD_STMT_USES, 1, rel[i]->v, NULL, NULL,
                                0) != 1 ||
            PQpipelineSync(db) != 1)
            rc = TG_EIO;
    if (rc)
        goto broken;
    /* each statement: its result, the NULL that ends it, its sync */
    for (int i = nc ? -1 : 0; i < nr; i++) {
        if (!(r = PQgetResult(db)))
            goto broken;
        if (i < 0) {
            rd_take(r, cnt, nc);
        } else if (PQresultStatus(r) == PGRES_TUPLES_OK) {
            rel[i]->uses = r;
            rel[i]->rc = 0;
            r = NULL;
        } else {
            rel[i]->rc = TG_EIO;
        }
        PQclear(r);
        while ((r = PQgetResult(db)))
            PQclear(r);
        r = PQgetResult(db);
        rc = PQresultStatus(r) == PGRES_PIPELINE_SYNC ? 0 : TG_EIO;
        PQclear(r);
        if (rc || PQstatus(db) != CONNECTION_OK)
            goto broken;
    }
    if (PQexitPipelineMode(db) == 1)
        return 0;
broken:
    /* out of step with the server: this connection is done */
    if (PQstatus(db) == CONNECTION_OK) {
        shutdown(PQsocket(db), SHUT_RDWR);
        PQconsumeInput(db);
    }
    return TG_EIO;
}

/* The leader's work: reads batch (n), once more on a new connection when
 * the one it had was dropped (an idle connection after a restart: these
 * reads change nothing). */
static void rd_lead(struct tg_pg *e, struct tg_pg_read **batch, int n)
{
    int rc = rd_conn(e);

    if (rc == 0 && (rc = rd_pipeline(e->rd_db, batch, n)) &&
        PQstatus(e->rd_db) != CONNECTION_OK) {
        PQfinish(e->rd_db);
        e->rd_db = NULL;
        if ((rc = rd_conn(e)) == 0)
            rc = rd_pipeline(e->rd_db, batch, n);
    }
    if (rc) {
        if (e->rd_db && PQstatus(e->rd_db) != CONNECTION_OK)
            tg_pg_note_down(e);
        for (int i = 0; i < n; i++)
            batch[i]->rc = TG_EIO;
    }
}

/* Waits for r's count (reading a batch when it leads one). Returns r's
 * rc. */
static int rd_wait(struct tg_pg *e, struct tg_pg_read *r)
{
    struct tg_pg_read *batch[RD_MAX], *next;
    int n = 0, rc, lead;

    if (sem_init(&r->sem, 0, 0))
        return TG_EIO;
    pthread_mutex_lock(&e->rd_mu);
    if (e->rd_tail)
        e->rd_tail->next = r;
    else
        e->rd_head = r;
    e->rd_tail = r;
    if (!e->rd_leading) {
        e->rd_leading = 1;
        r->lead = 1;
    }
    lead = r->lead;
    pthread_mutex_unlock(&e->rd_mu);
    /* posted once: answered (done), or to lead the next batch (lead) */
    while (!lead && sem_wait(&r->sem) != 0)
        ; /* EINTR */
    if (!r->done) {
        /* leading: every read waiting, this one first among them */
        pthread_mutex_lock(&e->rd_mu);
        while (e->rd_head && n < RD_MAX) {
            batch[n++] = e->rd_head;
            e->rd_head = e->rd_head->next;
        }
        if (!e->rd_head)
            e->rd_tail = NULL;
        pthread_mutex_unlock(&e->rd_mu);
        rd_lead(e, batch, n);
        /* the next batch: led by the first that waits, or none */
        pthread_mutex_lock(&e->rd_mu);
        if ((next = e->rd_head))
            next->lead = 1;
        else
            e->rd_leading = 0;
        pthread_mutex_unlock(&e->rd_mu);
        /* woken without rd_mu held (a signal under it woke each reader
         * only to wait for rd_mu); a read posted may be gone at once */
        for (int i = 0; i < n; i++) {
            batch[i]->done = 1;
            if (batch[i] != r)
                sem_post(&batch[i]->sem);
        }
        if (next)
            sem_post(&next->sem);
    }
    rc = r->rc;
    sem_destroy(&r->sem);
    return rc;
}

/*
 * The count of r (a reload) from its latest uses, newest first, which go
 * into the index. They are at most TG_CF_GROUP_MAX, and that is enough:
 * a count reaching past the oldest of them finds TG_CF_GROUP_MAX uses, at
 * most one of them r's own ticket, so TG_CF_COPY_LIMIT (as the index
 * keeps a group). Out of memory, only the reload is left out.
 */
static void rd_count_uses(struct tg_pg *e, struct tg_pg_read *r,
                          const unsigned char jd[TG_CF_DIGEST], uint32_t drops)
{
    int rows = PQntuples(r->uses), n = 0;
    struct tg_cf_use *u = malloc((size_t)(rows ? rows : 1) * sizeof *u);

    r->count = 0;
    for (int i = 0; i < rows; i++) {
        const char *t = PQgetvalue(r->uses, i, 0);
        int64_t last = tg_pg_i64(r->uses, i, 1);

        if (last >= r->since && strcmp(t, r->v[2]) != 0 &&
            r->count < TG_CF_COPY_LIMIT)
            r->count++;
        if (u && tg_cf_digest(t, u[n].td) == 0)
            u[n++].last = last;
    }
    if (u && n == rows && rows <= (int)TG_CF_GROUP_MAX)
        tg_cf_reload(&e->cf, jd, u, (size_t)n, drops, r->since);
    free(u);
}

int tg_pg_copy_forward_count(struct tg_pg *e, const char *justification_norm,
                             const char *ticket, int64_t since, long *out)
{
    unsigned char jd[TG_CF_DIGEST];
    uint32_t drops;
    char s[24];
    struct tg_pg_read r;
    int reload, rc;

    if (!e || !out)
        return TG_EINVAL;
    if (!justification_norm) {
        *out = 0;
        return 0;
    }
    if (!tg_chain_int_text(since, s, sizeof s))
        return TG_EIO;
    memset(&r, 0, sizeof r);
    r.v[0] = justification_norm;
    r.v[1] = s;
    r.since = since;
    r.v[2] = ticket ? ticket : "";
    /* the replica's index first (pgcfindex.c) */
    if (tg_cf_count(&e->cf, justification_norm, r.v[2], since, out, jd,
                    &reload, &drops))
        return 0;
    atomic_fetch_add(&tg_pg_test_db_counts, 1);
    if (reload)
        atomic_fetch_add(&tg_pg_test_db_reloads, 1);
    r.reload = reload;
    rc = rd_wait(e, &r);
    if (rc == 0 && r.uses)
        rd_count_uses(e, &r, jd, drops);
    PQclear(r.uses);
    if (rc)
        return TG_EIO;
    *out = r.count > LONG_MAX ? LONG_MAX : (long)r.count;
    return 0;
}

int tg_pg_get(struct tg_pg *e, const char *decision_id, char **json)
{
    PGresult *res = NULL;
    int rc, oom = 0;

    if (!e || !decision_id || !json)
        return TG_EINVAL;
    if (pooled(e, NULL,
               "SELECT decision FROM records WHERE decision_id = $1 "
               "AND " IS_DECISION,
               1, &decision_id, &res))
        return TG_EIO;
    if (PQntuples(res) == 0)
        rc = TG_ENOTFOUND;
    else
        rc = (*json = tg_pg_dup(res, 0, 0, &oom)) ? 0
             : oom                                ? TG_ENOMEM
                                                  : TG_EIO;
    PQclear(res);
    return rc;
}

int tg_pg_list(struct tg_pg *e, const char *ticket, int limit, uint64_t before,
               json_t **out)
{
    char b[24], l[24];
    const char *v[3] = {ticket, b, l};
    PGresult *res = NULL;
    json_t *arr = NULL;
    int rows, rc = TG_ENOMEM;

    if (!e || !ticket || !out)
        return TG_EINVAL;
    limit = tg_store_page_limit(limit);
    if (!tg_chain_int_text(tg_store_page_before(before), b, sizeof b) ||
        !tg_chain_int_text(limit + 1, l, sizeof l))
        return TG_EIO;
    if (pooled(e, NULL,
               "SELECT seq, decision FROM records WHERE ticket = $1 AND"
               " seq < $2 AND " IS_DECISION " ORDER BY seq DESC LIMIT $3",
               3, v, &res))
        return TG_EIO;
    rows = PQntuples(res);
    if (!(arr = json_array()))
        goto out;
    for (int i = 0; i < rows && i < limit; i++) {
        json_t *doc = json_loadb(PQgetvalue(res, i, 1),
                                 (size_t)PQgetlength(res, i, 1), 0, NULL);

        if (!doc) {
            rc = TG_EIO;
            goto out;
        }
        if (json_array_append_new(arr, doc))
            goto out;
    }
    rc = tg_store_page(arr, rows > limit
                                ? json_integer(tg_pg_i64(res, limit - 1, 0))
                                : json_null(),
                       out);
    arr = NULL;
out:
    PQclear(res);
    json_decref(arr);
    return rc;
}

/* ------------------------------------------------------ scans, entries */

struct scan_ctx {
    tg_evidence_row_fn fn;
    void *ctx;
};

/* Text of column col, NULL for NULL (and, with empty_null, for ''). */
static const char *col_text(const PGresult *res, int row, int col,
                            int empty_null)
{
    const char *p;

    if (PQgetisnull(res, row, col))
        return NULL;
    p = PQgetvalue(res, row, col);
    return empty_null && !p[0] ? NULL : p;
}

static int scan_row(void *arg, const PGresult *res, int i)
{
    struct scan_ctx *s = arg;
    struct tg_evidence_row row;
    int entry;

    memset(&row, 0, sizeof row);
    row.seq = (uint64_t)tg_pg_i64(res, i, 0);
    row.kind = col_text(res, i, 1, 0);
    entry = row.kind && strcmp(row.kind, KIND_DECISION) != 0;
    if (!row.kind)
        row.kind = KIND_DECISION;
    row.key = PQgetvalue(res, i, 2);
    if (entry) {
        size_t kn = strlen(row.kind);

        if (strncmp(row.key, row.kind, kn) == 0 && row.key[kn] == ':')
            row.key += kn + 1;
    }
    row.ticket = col_text(res, i, 3, entry);
    row.source = col_text(res, i, 4, entry);
    row.policy = col_text(res, i, 5, entry);
    row.time = tg_pg_i64(res, i, 6);
    row.json = PQgetvalue(res, i, 7);
    row.json_len = (size_t)PQgetlength(res, i, 7);
    row.judged = col_text(res, i, 8, 0);
    row.judged_len = row.judged ? (size_t)PQgetlength(res, i, 8) : 0;
    row.facts = col_text(res, i, 9, 0);
    row.facts_len = row.facts ? (size_t)PQgetlength(res, i, 9) : 0;
    return s->fn(s->ctx, &row);
}

int tg_pg_scan_db(PGconn *db, const char *kind, int64_t since, int64_t until,
                  tg_evidence_row_fn fn, void *ctx)
{
#define SCAN                                                                   \
    "SELECT seq, kind, decision_id, ticket, source, policy, time,"             \
    " decision, judged, facts FROM records WHERE time >= $1 AND time < $2"
    struct scan_ctx s = {fn, ctx};
    char a[24], b[24];
    const char *v[3] = {a, b, kind};
    const char *sql;

    if (!tg_chain_int_text(since, a, sizeof a) ||
        !tg_chain_int_text(until, b, sizeof b))
        return TG_EIO;
    /* until INT64_MAX is open: "time < max" would drop a row of time max,
     * which no real record has */
    if (!kind)
        sql = SCAN " ORDER BY seq";
    else if (strcmp(kind, KIND_DECISION) == 0)
        sql = SCAN " AND " IS_DECISION " ORDER BY seq";
    else
        sql = SCAN " AND kind = $3 ORDER BY seq";
#undef SCAN
    return tg_pg_each_row(db, sql, kind && strcmp(kind, KIND_DECISION) ? 3 : 2,
                          v, scan_row, &s);
}

int tg_pg_get_entry_db(PGconn *db, const char *kind, const char *key,
                       char **json)
{
    const char *v[2] = {kind, key};
    PGresult *res = NULL;
    int rc, oom = 0;

    if (query(db,
              "SELECT decision FROM records WHERE decision_id = $1 || ':' ||"
              " $2 AND kind = $1",
              2, v, &res))
        return TG_EIO;
    if (PQntuples(res) == 0)
        rc = TG_ENOTFOUND;
    else
        rc = (*json = tg_pg_dup(res, 0, 0, &oom)) ? 0
             : oom                                ? TG_ENOMEM
                                                  : TG_EIO;
    PQclear(res);
    return rc;
}

int tg_pg_scan(struct tg_pg *e, const char *kind, int64_t since, int64_t until,
               tg_evidence_row_fn fn, void *ctx)
{
    PGconn *db = NULL;
    int rc;

    if (!e || !fn)
        return TG_EINVAL;
    if (tg_pg_conn_get(e, &db))
        return TG_EIO;
    /* one snapshot; a long scan is not a request's statement */
    if (tg_pg_exec(db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY") ||
        tg_pg_exec(db, "SET LOCAL statement_timeout = 0")) {
        tg_pg_conn_put(e, db, 0);
        return TG_EIO;
    }
    rc = tg_pg_scan_db(db, kind, since, until, fn, ctx);
    if (tg_pg_exec(db, rc ? "ROLLBACK" : "COMMIT") && rc == 0)
        rc = TG_EIO;
    tg_pg_conn_put(e, db, 1);
    return rc;
}

int tg_pg_get_entry(struct tg_pg *e, const char *kind, const char *key,
                    char **json)
{
    PGconn *db = NULL;
    int rc;

    if (!e || !kind || !key || !json)
        return TG_EINVAL;
    if (tg_pg_conn_get(e, &db))
        return TG_EIO;
    rc = tg_pg_get_entry_db(db, kind, key, json);
    tg_pg_conn_put(e, db, rc != TG_EIO);
    return rc;
}

int tg_pg_scan_file(const char *url, const char *kind, int64_t since,
                    int64_t until, tg_evidence_row_fn fn, void *ctx)
{
    PGconn *db = NULL;
    int rc;

    if (!url || !fn)
        return TG_EINVAL;
    if (snapshot_begin(url, &db))
        return TG_EIO;
    rc = tg_pg_scan_db(db, kind, since, until, fn, ctx);
    snapshot_end(db);
    return rc;
}

int tg_pg_get_entry_file(const char *url, const char *kind, const char *key,
                         char **json)
{
    PGconn *db = NULL;
    int rc;

    if (!url || !kind || !key || !json)
        return TG_EINVAL;
    if (snapshot_begin(url, &db))
        return TG_EIO;
    rc = tg_pg_get_entry_db(db, kind, key, json);
    snapshot_end(db);
    return rc;
}

/* --------------------------------------------------------------- verify */

struct verify_ctx {
    struct tg_evidence_verdict *v;
    const unsigned char *key;
    size_t keylen;
    int64_t expect;
    char prev[65];
    int stopped; /* a broken link was found */
};

static void put(char *buf, size_t cap, const char *s)
{
    if (snprintf(buf, cap, "%s", s) < 0)
        buf[0] = '\0';
}

static int broken(struct verify_ctx *c, int64_t seq, const char *id,
                  const char *why)
{
    c->v->intact = 0;
    c->v->broken_seq = seq > 0 ? (uint64_t)seq : 0;
    put(c->v->broken_id, sizeof c->v->broken_id, id ? id : "");
    put(c->v->reason, sizeof c->v->reason, why);
    c->stopped = 1;
    return 1;
}

/* Checks one row as offline.c's check_row does (the same words). */
static int verify_row(void *arg, const PGresult *res, int i)
{
    struct verify_ctx *c = arg;
    struct tg_chain_field f[F_N];
    char seqtxt[24], calc[65];
    unsigned char digest[32], want[32], have[32];
    int64_t seq = tg_pg_i64(res, i, 0);
    const char *id = PQgetvalue(res, i, 1);

    if (seq != c->expect)
        return broken(c, seq, id,
                      seq > c->expect ? "the record(s) before it are "
                                        "missing (seq not contiguous)"
                                      : "seq out of order");
    /* kind, judged and facts follow hash and mac */
    for (int k = F_ID; k < F_N; k++) {
        int col = k < F_N1 ? k : TG_PG_COL_KIND + (k - F_KIND);

        f[k].p = PQgetisnull(res, i, col) ? NULL : PQgetvalue(res, i, col);
        f[k].n = f[k].p ? (size_t)PQgetlength(res, i, col) : 0;
    }
    if (!f[F_KIND].p && f[F_JUDGED].p)
        return broken(c, seq, id,
                      "it carries a judged ticket but has no kind (altered)");
    /* likewise a facts document: v1 would hash without it */
    if (!f[F_KIND].p && f[F_FACTS].p)
        return broken(c, seq, id,
                      "it carries a facts document but has no kind (altered)");
    f[F_SEQ].p = seqtxt;
    f[F_SEQ].n = tg_chain_int_text(seq, seqtxt, sizeof seqtxt);
    if (!f[F_PREV].p || f[F_PREV].n != 64 ||
        memcmp(f[F_PREV].p, c->prev, 64) != 0)
        return broken(c, seq, id,
                      "prev_hash is not the hash of the record before it");
    /* the kind column picks v1 or later, facts v2 or v3 (internal.h) */
    if (tg_chain_hash(f, f[F_KIND].p != NULL, digest))
        return TG_EIO;
    tg_digest_hex(digest, 32, calc);
    if (PQgetlength(res, i, TG_PG_COL_HASH) != 64 ||
        memcmp(PQgetvalue(res, i, TG_PG_COL_HASH), calc, 64) != 0)
        return broken(c, seq, id,
                      "its content does not match its hash (altered)");
    if (c->keylen) {
        if (PQgetisnull(res, i, TG_PG_COL_MAC))
            return broken(c, seq, id, "its MAC is missing");
        if (tg_chain_mac(c->key, c->keylen, digest, want))
            return TG_EIO;
        if (tg_chain_hex32(PQgetvalue(res, i, TG_PG_COL_MAC),
                           (size_t)PQgetlength(res, i, TG_PG_COL_MAC), have) ||
            CRYPTO_memcmp(want, have, 32) != 0)
            return broken(c, seq, id,
                          "its MAC does not verify with the configured key");
    }
    memcpy(c->prev, calc, 65);
    c->v->count++;
    if (f[F_KIND].p && strcmp(f[F_KIND].p, KIND_DECISION) != 0)
        c->v->entries++;
    c->v->head_seq = (uint64_t)seq;
    memcpy(c->v->head_hash, calc, 65);
    c->expect++;
    return 0;
}

/* The checkpoint anchor (the highest), or genesis. */
static int verify_anchor(PGconn *db, struct verify_ctx *c)
{
    PGresult *res = NULL;
    int64_t aseq = 0;

    memcpy(c->prev, ZERO_HASH, 65);
    if (query(db,
              "SELECT seq, hash, mac FROM checkpoints ORDER BY seq DESC"
              " LIMIT 1",
              0, NULL, &res)) {
        put(c->v->reason, sizeof c->v->reason,
            "not a ticketgate evidence store (no checkpoints table)");
        return TG_EIO;
    }
    if (PQntuples(res) > 0) {
        unsigned char hbin[32], want[32], have[32];

        aseq = tg_pg_i64(res, 0, 0);
        if (PQgetlength(res, 0, 1) != 64 ||
            tg_chain_hex32(PQgetvalue(res, 0, 1), 64, hbin)) {
            PQclear(res);
            broken(c, aseq, "(checkpoint)",
                   "the checkpoint anchor's hash is malformed");
            return 0;
        }
        memcpy(c->prev, PQgetvalue(res, 0, 1), 64);
        c->prev[64] = '\0';
        if (c->keylen &&
            (PQgetisnull(res, 0, 2) ||
             tg_chain_mac(c->key, c->keylen, hbin, want) ||
             tg_chain_hex32(PQgetvalue(res, 0, 2),
                            (size_t)PQgetlength(res, 0, 2), have) ||
             CRYPTO_memcmp(want, have, 32) != 0)) {
            PQclear(res);
            broken(c, aseq, "(checkpoint)",
                   "the checkpoint anchor's MAC does not verify");
            return 0;
        }
    }
    PQclear(res);
    c->expect = aseq + 1;
    c->v->anchor_seq = (uint64_t)aseq;
    c->v->head_seq = (uint64_t)aseq;
    memcpy(c->v->head_hash, c->prev, 65);
    return 0;
}

int tg_pg_verify_file(const char *url, const unsigned char *key, size_t keylen,
                      struct tg_evidence_verdict *out)
{
    struct tg_evidence_verdict v;
    struct verify_ctx c;
    PGconn *db = NULL;
    int rc;

    if (!url || !out)
        return TG_EINVAL;
    memset(&v, 0, sizeof v);
    memset(&c, 0, sizeof c);
    v.intact = 1;
    c.v = &v;
    c.key = key;
    c.keylen = keylen;
    if (snapshot_begin(url, &db)) {
        put(v.reason, sizeof v.reason, "cannot connect to the database");
        *out = v;
        return TG_EIO;
    }
    if ((rc = verify_anchor(db, &c)) || c.stopped)
        goto out;
    rc = tg_pg_each_row(
        db, "SELECT " TG_PG_RECORD_COLUMNS " FROM records ORDER BY seq", 0,
        NULL, verify_row, &c);
    if (rc == 1 && c.stopped)
        rc = 0;
    else if (rc)
        put(v.reason, sizeof v.reason,
            "reading the records failed (not a ticketgate store?)");
out:
    snapshot_end(db);
    if (rc == TG_ENOMEM)
        return rc;
    *out = v;
    return rc ? TG_EIO : 0;
}

/* --------------------------------------------------------------- export */

struct export_ctx {
    FILE *out;
    int failed_write;
};

static int export_row(void *arg, const PGresult *res, int i)
{
    static const char *const names[] = {
        "seq",         "decision_id", "ticket", "source",   "delivery_id",
        "body_sha256", "policy",      "time",   "decision", "just_norm",
        "prev_hash",   "hash",        "mac",    "kind",     "judged",
        "facts"};
    struct export_ctx *x = arg;
    json_t *o = json_object();
    int bad;

    if (!o)
        return TG_ENOMEM;
    for (int k = 0; k < (int)(sizeof names / sizeof names[0]); k++) {
        const char *p = PQgetvalue(res, i, k);
        size_t n = (size_t)PQgetlength(res, i, k);
        json_t *v;

        if (k == 0 || k == 7)
            v = json_integer(tg_pg_i64(res, i, k));
        else if (PQgetisnull(res, i, k))
            v = json_null();
        else if ((k == 8 || k == TG_PG_COL_JUDGED || k == TG_PG_COL_FACTS) &&
                 (v = json_loadb(p, n, 0, NULL)))
            ; /* the documents embedded as objects, as SQLite's export */
        else
            v = json_stringn(p, n);
        if (!v || json_object_set_new(o, names[k], v)) {
            json_decref(o);
            return TG_ENOMEM;
        }
    }
    bad =
        json_dumpf(o, x->out, JSON_COMPACT) != 0 || fputc('\n', x->out) == EOF;
    json_decref(o);
    if (bad) {
        x->failed_write = 1;
        return TG_EIO;
    }
    return 0;
}

int tg_pg_export_file(const char *url, int64_t since, FILE *out,
                      const char **why)
{
    struct export_ctx x = {out, 0};
    char s[24];
    const char *v[1] = {s};
    PGconn *db = NULL;
    int rc;

    if (!url || !out)
        return TG_EINVAL;
    if (!tg_chain_int_text(since, s, sizeof s))
        return TG_EINVAL;
    if (snapshot_begin(url, &db)) {
        if (why)
            *why = "cannot connect to the database";
        return TG_EIO;
    }
    rc = tg_pg_each_row(db,
                        "SELECT " TG_PG_RECORD_COLUMNS
                        " FROM records WHERE time >= $1 ORDER BY seq",
                        1, v, export_row, &x);
    snapshot_end(db);
    if (rc == 0 && (fflush(out) != 0 || ferror(out))) {
        x.failed_write = 1;
        rc = TG_EIO;
    }
    if (rc && why)
        *why = x.failed_write ? "writing the output failed"
                              : "reading the records failed";
    return rc == TG_ENOMEM ? rc : rc ? TG_EIO : 0;
}

/* ----------------------------------------------------------- audit show */

int tg_pg_show_file(const char *url, const char *decision_id,
                    struct tg_evidence_shown *out)
{
    PGresult *res = NULL;
    PGconn *db = NULL;
    int rc = 0, oom = 0;

    memset(out, 0, sizeof *out);
    if (snapshot_begin(url, &db))
        return TG_EIO;
    if (query(db,
              "SELECT seq, decision_id, ticket, source, delivery_id, policy,"
              " time, decision, hash, mac, judged, facts FROM records"
              " WHERE decision_id = $1 AND " IS_DECISION,
              1, &decision_id, &res)) {
        snapshot_end(db);
        return TG_EIO;
    }
    if (PQntuples(res) == 0) {
        rc = TG_ENOTFOUND;
    } else {
        out->seq = (uint64_t)tg_pg_i64(res, 0, 0);
        out->time = tg_pg_i64(res, 0, 6);
        out->has_mac = !PQgetisnull(res, 0, 9);
        out->decision_id = tg_pg_dup(res, 0, 1, &oom);
        out->ticket = tg_pg_dup(res, 0, 2, &oom);
        out->source = tg_pg_dup(res, 0, 3, &oom);
        out->delivery_id = tg_pg_dup(res, 0, 4, &oom);
        out->policy = tg_pg_dup(res, 0, 5, &oom);
        out->decision = tg_pg_dup(res, 0, 7, &oom);
        out->decision_len = (size_t)PQgetlength(res, 0, 7);
        out->hash = tg_pg_dup(res, 0, 8, &oom);
        out->judged = tg_pg_dup(res, 0, 10, &oom);
        out->judged_len = out->judged ? (size_t)PQgetlength(res, 0, 10) : 0;
        out->facts = tg_pg_dup(res, 0, 11, &oom);
        out->facts_len = out->facts ? (size_t)PQgetlength(res, 0, 11) : 0;
        if (oom || !out->decision)
            rc = oom ? TG_ENOMEM : TG_EIO;
    }
    PQclear(res);
    snapshot_end(db);
    if (rc)
        tg_evidence_shown_free(out);
    return rc;
}
