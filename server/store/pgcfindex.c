/* pgcfindex.c - the PostgreSQL store's copy-forward index: filled from
 * just_use at open, fed by the writer with the records of every replica,
 * asked before the database. */

#include "server/store/pg.h"

#include <stdlib.h>
#include <string.h>

#include "server/util/log.h"
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
 * batch's own. So a replica that committed within TG_CF_FRESH_MS counts every
 * record up to its commit; an idle one asks the database. Past
 * TG_PG_CF_FOREIGN_MAX records behind (a replica that was idle while
 * another wrote), it catches up by that many a transaction and asks the
 * database until it has.
 */
#define CF_STR_(x) #x
#define CF_STR(x) CF_STR_(x)
#define CF_SPAN CF_STR(TG_PG_CF_FOREIGN_MAX)
#define CF_LOAD_ROWS CF_STR(TG_CF_LOAD_ROWS)
/*
 * The records from the index's seq on (that one included, its hash to be
 * checked: the chain must still be the one the index learnt), at most
 * TG_PG_CF_FOREIGN_MAX after it, and the checkpoint anchor at that seq (a
 * replica whose last record was archived since). A range of seq, not
 * ORDER BY seq LIMIT: prepared while the table was empty (every new
 * store), that one's generic plan was a scan of the whole table and a
 * sort, kept until autovacuum's next ANALYZE of it (up to a minute under
 * load: 1,218 scans of the table in a 10 s bench run, the server's CPU a
 * record tripled). A bounded range of the primary key is an index scan
 * whatever the table's statistics (test_pgstore checks the plan on an
 * empty store).
 */
const char tg_pg_cf_foreign_sql[] =
    "SELECT seq, hash, just_norm, ticket, time FROM records WHERE seq >= $1"
    " AND seq <= $1 + " CF_SPAN " UNION ALL SELECT seq, hash, NULL, NULL,"
    " NULL FROM checkpoints WHERE seq = $1";

atomic_int tg_pg_test_db_counts;

/* Row callback of tg_pg_cf_load: one just_use row into the index. */
static int load_row(void *ctx, const PGresult *res, int row)
{
    struct tg_cf_index *x = ctx;

    if (PQgetisnull(res, row, 0) || PQgetisnull(res, row, 1))
        return 0;
    if (tg_cf_add_text(x, PQgetvalue(res, row, 0), PQgetvalue(res, row, 1),
                       tg_pg_i64(res, row, 2)) &&
        !atomic_load(&x->valid))
        return TG_ENOMEM;
    return 0;
}

/*
 * Fills e's index from just_use and sets its seq and hash to the chain's
 * head (the last record, else the checkpoint anchor), in one snapshot
 * (REPEATABLE READ) of db, before any thread starts. Returns 0, or TG_EIO
 * with the index left invalid (the database counts); an index that does
 * not fit only drops groups.
 */
int tg_pg_cf_load(struct tg_pg *e, PGconn *db)
{
    struct tg_cf_index *x = &e->cf;
    /* no record appended after the snapshot is in it: the clock before */
    int64_t at = tg_cf_clock(), seq = 0;
    char horizon[24];
    const char *v[1] = {horizon};
    PGresult *res;
    int rc = TG_EIO;

    atomic_store(&x->valid, 0);
    e->cf_hash[0] = '\0';
    /* Not under the writer's statement_timeout (store.busy_timeout_ms, 2 s
     * by default): on a store of millions of uses the horizon's sort
     * alone takes about that (4,000,000 rows: 1.1 s here), and a load cut
     * off left the replica counting by the database for good. A read-only
     * snapshot before serving: it holds up no writer. */
    if (tg_pg_exec(db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY") ||
        tg_pg_exec(db, "SET LOCAL statement_timeout = 0")) {
        tg_pg_exec(db, "ROLLBACK");
        return TG_EIO;
    }
    res = PQexec(db, tg_pg_head_sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK ||
        (PQntuples(res) == 1 && PQgetlength(res, 0, 1) != 64)) {
        PQclear(res);
        goto out;
    }
    if (PQntuples(res) == 1) {
        seq = tg_pg_i64(res, 0, 0);
        memcpy(e->cf_hash, PQgetvalue(res, 0, 1), 65);
    }
    PQclear(res);
    /* the horizon (struct tg_cf_index): PostgreSQL finds the latest time
     * the TG_CF_LOAD_ROWS latest uses leave out, none in a smaller store */
    res = PQexec(db, "SELECT last_time FROM just_use ORDER BY last_time DESC"
                     " OFFSET " CF_LOAD_ROWS " LIMIT 1");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        PQclear(res);
        goto out;
    }
    x->horizon = PQntuples(res) == 1 ? tg_pg_i64(res, 0, 0) : INT64_MIN;
    PQclear(res);
    if (!tg_chain_int_text(x->horizon, horizon, sizeof horizon))
        goto out;
    atomic_store(&x->valid, 1);
    rc = tg_pg_each_row(db,
                        "SELECT just_norm, ticket, last_time FROM just_use"
                        " WHERE last_time > $1::bigint",
                        1, v, load_row, x);
    if (rc == 0)
        tg_cf_synced(x, seq, at);
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
    f->broken = 0;
}

/*
 * Takes the rows of tg_pg_cf_foreign_sql (res) into f, as digests, read
 * with the chain's head at seq head; hash is the record's at f->from as the
 * index learnt it ("" for none: a new, empty chain). f->upto is then the
 * last seq the read covered (its hash in f->upto_hash) and f->whole says
 * whether that is the head. f->broken when the chain is not the one the
 * index learnt: the record at from is gone or another (a failover to a
 * standby that lost commits, records archived before this replica read
 * them), the head is behind it, or records are missing in the range.
 * Returns 0 or TG_ENOMEM (f then says nothing was read).
 */
int tg_pg_cf_foreign(struct tg_pg_foreign *f, const PGresult *res, int64_t head,
                     const char *hash)
{
    int rows = PQntuples(res), seen_from = f->from == 0 && !hash[0];
    int64_t records = 0;

    f->whole = head - f->from <= TG_PG_CF_FOREIGN_MAX;
    f->upto = f->whole ? head : f->from + TG_PG_CF_FOREIGN_MAX;
    f->upto_hash[0] = '\0';
    if ((size_t)rows > f->cap) {
        struct tg_cf_row *v = realloc(f->v, (size_t)rows * sizeof *v);

        if (!v)
            return TG_ENOMEM;
        f->v = v;
        f->cap = (size_t)rows;
    }
    for (int i = 0; i < rows; i++) {
        int64_t seq = tg_pg_i64(res, i, 0);
        const char *h = PQgetvalue(res, i, 1);
        struct tg_cf_row *r = &f->v[f->n];

        if (PQgetlength(res, i, 1) != 64)
            f->broken = 1;
        else if (seq == f->from)
            seen_from |= strcmp(h, hash) == 0;
        if (seq == f->upto)
            memcpy(f->upto_hash, h, 65);
        if (seq <= f->from || seq > f->upto)
            continue;
        records++;
        if (PQgetisnull(res, i, 2) || PQgetisnull(res, i, 3))
            continue;
        if (tg_cf_digest(PQgetvalue(res, i, 2), r->jd) ||
            tg_cf_digest(PQgetvalue(res, i, 3), r->td)) {
            tg_pg_cf_foreign_reset(f, f->from);
            return TG_ENOMEM;
        }
        r->t = tg_pg_i64(res, i, 4);
        f->n++;
    }
    if (!seen_from || head < f->from || records != f->upto - f->from ||
        (f->upto > f->from && !f->upto_hash[0]))
        f->broken = 1;
    f->read = 1;
    return 0;
}

/*
 * After a COMMIT that wrote batch as the links up to seq (hash its last
 * link's), sent at at_ms: the other replicas' records read under the lock
 * (f) and the batch's own go into the index, which is complete up to seq
 * when f reached the head; else only up to what f read, and stale until it
 * has caught up (the next transaction reads on from there, the batch's
 * records again among them: a use added twice changes nothing). A chain
 * that is not the one the index learnt (f->broken) ends the index: the
 * database counts from then on.
 */
void tg_pg_cf_index(struct tg_pg *e, const struct tg_pg_foreign *f,
                    const struct tg_pg_item *batch, int64_t seq,
                    const char *hash, int64_t at_ms)
{
    struct tg_cf_index *x = &e->cf;

    if (!atomic_load(&x->valid))
        return;
    pthread_mutex_lock(&x->mu);
    if (f->broken) {
        atomic_store(&x->valid, 0);
        pthread_mutex_unlock(&x->mu);
        tg_log_event(TG_LOG_WARN, "evidence_pg_cf_index",
                     "the chain is not the one the copy-forward index read "
                     "(records after seq %lld gone: a failover that lost "
                     "commits, or an archive); the database counts from now "
                     "on",
                     (long long)f->from);
        return;
    }
    for (size_t i = 0; i < f->n; i++)
        tg_cf_add(x, f->v[i].jd, f->v[i].td, f->v[i].t);
    for (const struct tg_pg_item *p = batch; p; p = p->next)
        if (p->rc == 0 && p->has_cf && !p->jti_only)
            tg_cf_add(x, p->jd, p->td, p->r->time);
    if (!f->read) {
        /* not read (out of memory): the batch's own are in, the others'
         * are not; stale until a read succeeds */
        tg_cf_behind(x, x->seq);
    } else if (f->whole) {
        tg_cf_synced(x, seq, at_ms);
        memcpy(e->cf_hash, hash, 65);
    } else {
        tg_cf_behind(x, f->upto);
        memcpy(e->cf_hash, f->upto_hash, 65);
    }
    pthread_mutex_unlock(&x->mu);
}
