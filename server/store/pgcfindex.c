/* pgcfindex.c - the PostgreSQL store's copy-forward index: filled from
 * just_use at open, fed by the writer with the records of every replica,
 * asked before the database. */

#include "server/store/pg.h"

#include <stdlib.h>
#include <string.h>

#include "validators/errors.h"

/*
 * Why a replica keeps one (cfindex.h says what it holds). Every gated
 * request needs its justification's count; read from the database, that
 * was a round trip the request slept through, 20 us of the replica's CPU a
 * request in its wakeups and 5 us of the server's (bench/pg_bench.sh).
 * From the index it is a lookup. Another replica's records reach it the
 * way SQLite's index learns another process's: each write transaction,
 * once it holds the chain's lock (so nothing is appended meanwhile), reads
 * the records appended since the index's seq (tg_pg_cf_foreign_sql, in the
 * round trip that takes the lock), and after COMMIT they go in with the
 * batch's own. So a replica that committed within CF_FRESH_MS counts every
 * record up to its commit; an idle one asks the database. Past
 * TG_PG_CF_FOREIGN_MAX records behind (a replica that was idle while
 * another wrote), it catches up by that many a transaction and asks the
 * database until it has.
 */
#define CF_STR_(x) #x
#define CF_STR(x) CF_STR_(x)
/* A range of seq, not ORDER BY seq LIMIT: prepared while the table was
 * empty (every new store), that one's generic plan was a scan of the whole
 * table and a sort, kept until autovacuum's next ANALYZE of it (up to a
 * minute under load: 1,218 scans of the table in a 10 s bench run, the
 * server's CPU a record tripled). A bounded range of the primary key is
 * an index scan whatever the table's statistics (test_pgstore checks the
 * plan on an empty store). */
#define CF_SPAN CF_STR(TG_PG_CF_FOREIGN_MAX)
const char tg_pg_cf_foreign_sql[] =
    "SELECT seq, just_norm, ticket, time FROM records WHERE seq > $1"
    " AND seq <= $1 + " CF_SPAN " AND just_norm IS NOT NULL";

atomic_int tg_pg_test_db_counts;

/* Row callback of tg_pg_cf_load: one just_use row into the index. */
static int load_row(void *ctx, const PGresult *res, int row)
{
    struct cf_index *x = ctx;

    if (PQgetisnull(res, row, 0) || PQgetisnull(res, row, 1))
        return 0;
    if (tg_cf_add_text(x, PQgetvalue(res, row, 0), PQgetvalue(res, row, 1),
                       tg_pg_i64(res, row, 2)) &&
        !atomic_load(&x->valid))
        return TG_ENOMEM;
    return 0;
}

/*
 * Fills e's index from just_use and sets its seq to the last record, in one
 * snapshot (REPEATABLE READ) of db, before any thread starts. Returns 0, or
 * TG_EIO with the index left invalid (the database counts); an index that
 * does not fit only drops groups.
 */
int tg_pg_cf_load(struct tg_pg *e, PGconn *db)
{
    struct cf_index *x = &e->cf;
    PGresult *res;
    int64_t seq;
    int rc = TG_EIO;

    atomic_store(&x->valid, 0);
    if (tg_pg_exec(db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"))
        return TG_EIO;
    res = PQexec(db, "SELECT coalesce(max(seq), 0) FROM records");
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        PQclear(res);
        goto out;
    }
    seq = tg_pg_i64(res, 0, 0);
    PQclear(res);
    atomic_store(&x->valid, 1);
    rc = tg_pg_each_row(db, "SELECT just_norm, ticket, last_time FROM just_use",
                        0, NULL, load_row, x);
    if (rc == 0)
        tg_cf_synced(x, seq);
out:
    if (tg_pg_exec(db, "COMMIT") && rc == 0)
        rc = TG_EIO;
    if (rc)
        atomic_store(&x->valid, 0);
    return rc ? TG_EIO : 0;
}

/* Empties f for a new read of records after seq from. */
void tg_pg_cf_foreign_reset(struct tg_pg_foreign *f, int64_t from)
{
    f->n = 0;
    f->from = from;
    f->upto = from;
    f->read = 0;
    f->whole = 0;
}

/*
 * Takes the rows of tg_pg_cf_foreign_sql (res) into f, as digests, read
 * with the chain's head at seq head. f->upto is then the last seq the read
 * covered, and f->whole says whether that is the head. Returns 0 or
 * TG_ENOMEM (f then says nothing was read: the index is not advanced).
 */
int tg_pg_cf_foreign(struct tg_pg_foreign *f, const PGresult *res, int64_t head)
{
    int rows = PQntuples(res);

    if ((size_t)rows > f->cap) {
        struct cf_row *v = realloc(f->v, (size_t)rows * sizeof *v);

        if (!v)
            return TG_ENOMEM;
        f->v = v;
        f->cap = (size_t)rows;
    }
    for (int i = 0; i < rows; i++) {
        struct cf_row *r = &f->v[f->n];

        if (tg_cf_digest(PQgetvalue(res, i, 1), r->jd) ||
            tg_cf_digest(PQgetvalue(res, i, 2), r->td)) {
            tg_pg_cf_foreign_reset(f, f->from);
            return TG_ENOMEM;
        }
        r->t = tg_pg_i64(res, i, 3);
        f->n++;
    }
    f->read = 1;
    f->whole = head - f->from <= TG_PG_CF_FOREIGN_MAX;
    f->upto = f->whole ? head : f->from + TG_PG_CF_FOREIGN_MAX;
    return 0;
}

/*
 * After a COMMIT that wrote batch as the links up to seq: the other
 * replicas' records read under the lock (f) and the batch's own go into
 * the index, which is complete up to seq when f reached the head; else
 * only up to what f read (the next transaction reads on from there, the
 * batch's records again among them: a use added twice changes nothing).
 */
void tg_pg_cf_index(struct tg_pg *e, const struct tg_pg_foreign *f,
                    const struct tg_pg_item *batch, int64_t seq)
{
    struct cf_index *x = &e->cf;

    if (!f->read || !atomic_load(&x->valid))
        return;
    pthread_mutex_lock(&x->mu);
    for (size_t i = 0; i < f->n; i++)
        tg_cf_add(x, f->v[i].jd, f->v[i].td, f->v[i].t);
    for (const struct tg_pg_item *p = batch; p; p = p->next)
        if (p->rc == 0 && p->has_cf && !p->jti_only)
            tg_cf_add(x, p->jd, p->td, p->r->time);
    if (f->whole)
        tg_cf_synced(x, seq);
    else
        tg_cf_behind(x, f->upto);
    pthread_mutex_unlock(&x->mu);
}

/* The count from the index: 1 with *out, or 0 when the database must
 * answer (the index stale, invalid, or the justification dropped). */
int tg_pg_cf_count(struct tg_pg *e, const char *justification_norm,
                   const char *ticket, int64_t since, long *out)
{
    unsigned char jd[CF_DIGEST], td[CF_DIGEST];
    uint64_t drops;
    int reload;

    return tg_cf_digest(justification_norm, jd) == 0 &&
           tg_cf_digest(ticket, td) == 0 &&
           tg_cf_count(&e->cf, jd, td, since, out, &reload, &drops);
}
