/* pg.c - the PostgreSQL store: connections, schema, the chain's writer. */

#include "server/store/pg.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <openssl/crypto.h>

#include "server/store/batch.h"
#include "server/util/digest.h"
#include "server/util/log.h"
#include "server/util/number.h"
#include "server/util/strbuf.h"
#include "server/util/thread.h"
#include "validators/errors.h"

#define KIND_DECISION "decision"

static const char WHY_DOWN[] =
    "the PostgreSQL server cannot be reached (connection refused or lost)";
static const char WHY_REFUSED[] =
    "PostgreSQL refused the write (see the log for its message)";
static const char WHY_BUSY[] =
    "the chain's lock or a statement waited longer than "
    "store.busy_timeout_ms";
static const char WHY_LOST[] =
    "the connection to PostgreSQL was lost during a COMMIT (a failover?) "
    "and the batch was not found committed: it was answered as failed";
static const char WHY_ENCODING[] =
    "the database's encoding is not UTF8 (or SQL_ASCII): stored text would "
    "not come back as the bytes hashed";

static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS records("
    " seq BIGINT PRIMARY KEY,"
    " decision_id TEXT NOT NULL UNIQUE,"
    " ticket TEXT NOT NULL,"
    " source TEXT NOT NULL,"
    " delivery_id TEXT,"
    " body_sha256 TEXT NOT NULL,"
    " policy TEXT NOT NULL,"
    " time BIGINT NOT NULL,"
    " decision TEXT NOT NULL,"
    " just_norm TEXT,"
    " prev_hash TEXT NOT NULL UNIQUE,"
    " hash TEXT NOT NULL,"
    " mac TEXT,"
    " kind TEXT,"
    " judged TEXT,"
    " facts TEXT);"
    /* schema version 3 (issues 13/14): a store made before gets the facts
     * column (NULL in its rows: they stay hashed as v1 or v2); checked
     * first, as ADD COLUMN IF NOT EXISTS would lock the table anyway */
    "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE"
    " attrelid = 'records'::regclass AND attname = 'facts'"
    " AND NOT attisdropped) THEN"
    " ALTER TABLE records ADD COLUMN facts TEXT; END IF; END $$;"
    "CREATE UNIQUE INDEX IF NOT EXISTS records_delivery"
    " ON records(source, delivery_id) WHERE delivery_id IS NOT NULL;"
    "CREATE INDEX IF NOT EXISTS records_ticket ON records(ticket, seq);"
    "CREATE INDEX IF NOT EXISTS records_time ON records(time);"
    "CREATE TABLE IF NOT EXISTS checkpoints("
    " seq BIGINT PRIMARY KEY,"
    " hash TEXT NOT NULL,"
    " mac TEXT,"
    " first_seq BIGINT NOT NULL,"
    " count BIGINT NOT NULL,"
    " archived_at BIGINT NOT NULL,"
    " archive TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY,"
    " value BIGINT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS just_use("
    " just_norm TEXT NOT NULL,"
    " ticket TEXT NOT NULL,"
    " last_time BIGINT NOT NULL,"
    " PRIMARY KEY(just_norm, ticket));"
    /* no (just_norm, last_time) index since the replicas count in memory
     * (pgcfindex.c): the database counts only for an idle replica, by the
     * primary key, and that index cost an insert a record. A store made
     * before keeps it (a DROP under running replicas would queue their
     * writes behind it): README, "Many replicas". Dropping an index
     * changes nothing older replicas rely on, so the version stays 3. */
    "CREATE TABLE IF NOT EXISTS jti_use("
    " source TEXT NOT NULL,"
    " jti TEXT NOT NULL,"
    " body_sha256 TEXT NOT NULL,"
    " decision_id TEXT,"
    " time BIGINT NOT NULL,"
    " PRIMARY KEY(source, jti));"
    "CREATE TABLE IF NOT EXISTS outbox("
    " id BIGSERIAL PRIMARY KEY,"
    " decision_id TEXT NOT NULL,"
    " ticket TEXT NOT NULL,"
    " system TEXT NOT NULL,"
    " action TEXT NOT NULL,"
    " params TEXT NOT NULL,"
    " state TEXT NOT NULL,"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " tries INTEGER NOT NULL DEFAULT 0,"
    " next_at BIGINT NOT NULL,"
    " created_at BIGINT NOT NULL,"
    " updated_at BIGINT NOT NULL,"
    " last_error TEXT);"
    "CREATE INDEX IF NOT EXISTS outbox_due ON outbox(state, next_at);"
    "CREATE INDEX IF NOT EXISTS outbox_ticket ON outbox(ticket, id);"
    "CREATE SEQUENCE IF NOT EXISTS decision_ids INCREMENT BY 1024;"
    "INSERT INTO meta VALUES ('schema_version', 3) ON CONFLICT (key)"
    " DO UPDATE SET value = 3 WHERE meta.value < 3;";

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* libpq prints NOTICEs ("relation already exists, skipping") to stderr. */
static void quiet(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

int tg_pg_fail(const PGresult *res)
{
    const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

    /* 55P03 lock_not_available (lock_timeout), 57014 query_canceled
     * (statement_timeout) */
    if (st && (strcmp(st, "55P03") == 0 || strcmp(st, "57014") == 0))
        return TG_EBUSY;
    return TG_EIO;
}

int tg_pg_exec(PGconn *db, const char *sql)
{
    PGresult *res = PQexec(db, sql);
    int rc = 0;

    if (PQresultStatus(res) != PGRES_COMMAND_OK &&
        PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = tg_pg_fail(res);
        tg_log_event(TG_LOG_DEBUG, "evidence_pg", "%s", PQerrorMessage(db));
    }
    PQclear(res);
    return rc;
}

int tg_pg_connect(const char *url, int busy_ms, PGconn **out, const char **why)
{
    /* Over TCP, a peer that vanished without a reset (a partition, a
     * host gone) would hold a query for the kernel's retransmission time:
     * keepalives and tcp_user_timeout (10 s of unacknowledged data) end
     * it, so the writer fails closed and reconnects. Unix sockets ignore
     * them. */
    static const char *const keys[] = {
        "dbname",           "connect_timeout",  "application_name",
        "keepalives",       "keepalives_idle",  "keepalives_interval",
        "keepalives_count", "tcp_user_timeout", NULL};
    const char *vals[] = {url, "5", "ticketgate", "1", "5",
                          "2", "3", "10000",      NULL};
    char sql[160];
    PGconn *db;
    const char *enc;
    int n;

    *out = NULL;
    *why = WHY_DOWN;
    db = PQconnectdbParams(keys, vals, 1);
    if (!db)
        return TG_EIO;
    if (PQstatus(db) != CONNECTION_OK) {
        tg_log_event(TG_LOG_DEBUG, "evidence_pg", "connect: %s",
                     PQerrorMessage(db));
        PQfinish(db);
        return TG_EIO;
    }
    PQsetNoticeProcessor(db, quiet, NULL);
    enc = PQparameterStatus(db, "server_encoding");
    if (!enc || (strcmp(enc, "UTF8") != 0 && strcmp(enc, "SQL_ASCII") != 0)) {
        *why = WHY_ENCODING;
        PQfinish(db);
        return TG_EIO;
    }
    if (PQsetClientEncoding(db, "UTF8") != 0 && strcmp(enc, "UTF8") == 0) {
        PQfinish(db);
        return TG_EIO;
    }
    /* The statements ticketgate prepares (the writer's, the hot reads)
     * are planned once: with custom plans (the default for their first
     * runs, and for good when the generic plan looks no cheaper, as for
     * the record's INSERT) planning was a tenth of the server's CPU.
     * Unnamed statements are planned each time whatever this says. */
    n = busy_ms > 0
            ? snprintf(sql, sizeof sql,
                       "SET plan_cache_mode = force_generic_plan;"
                       " SET lock_timeout = %d; SET statement_timeout = %d",
                       busy_ms, busy_ms)
            : snprintf(sql, sizeof sql,
                       "SET plan_cache_mode = force_generic_plan");
    if (n < 0 || (size_t)n >= sizeof sql || tg_pg_exec(db, sql)) {
        PQfinish(db);
        return TG_EIO;
    }
    *out = db;
    return 0;
}

/* Whether the store on db is at this schema version (3) already. A change
 * to SCHEMA that a store made before must get raises the version it
 * writes, and this check with it. */
static int schema_current(PGconn *db)
{
    PGresult *r = PQexec(db, "SELECT to_regclass('meta') IS NOT NULL");
    int yes = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
              strcmp(PQgetvalue(r, 0, 0), "t") == 0;

    PQclear(r);
    if (!yes)
        return 0;
    r = PQexec(db, "SELECT 1 FROM meta WHERE key = 'schema_version'"
                   " AND value >= 3");
    yes = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    PQclear(r);
    return yes;
}

int tg_pg_schema(PGconn *db)
{
    char sql[96];
    int n =
        snprintf(sql, sizeof sql, "SELECT pg_advisory_xact_lock(%" PRId64 ")",
                 TG_PG_SCHEMA_LOCK);

    /* N replicas starting at once: CREATE ... IF NOT EXISTS is not safe
     * against itself, so one at a time */
    if (n < 0 || (size_t)n >= sizeof sql || tg_pg_exec(db, "BEGIN"))
        return TG_EIO;
    if (tg_pg_exec(db, sql)) {
        tg_pg_exec(db, "ROLLBACK");
        return TG_EIO;
    }
    /* A store already at this version (meta's row is written last, in the
     * same transaction) is left alone: CREATE INDEX IF NOT EXISTS locks
     * its table even when the index exists, and another replica's writer
     * preparing or running its statements (just_use locked, then
     * records) would deadlock with it. */
    if (schema_current(db))
        return tg_pg_exec(db, "COMMIT") ? TG_EIO : 0;
    if (tg_pg_exec(db, SCHEMA) || tg_pg_exec(db, "COMMIT")) {
        tg_pg_exec(db, "ROLLBACK");
        return TG_EIO;
    }
    return 0;
}

char *tg_pg_dup(const PGresult *res, int row, int col, int *oom)
{
    size_t n;
    char *s;

    if (PQgetisnull(res, row, col))
        return NULL;
    n = (size_t)PQgetlength(res, row, col);
    if (!(s = malloc(n + 1))) {
        *oom = 1;
        return NULL;
    }
    memcpy(s, PQgetvalue(res, row, col), n);
    s[n] = '\0';
    return s;
}

int64_t tg_pg_i64(const PGresult *res, int row, int col)
{
    int64_t v = 0;
    const char *p = PQgetvalue(res, row, col);

    if (p)
        tg_number_parse_i64(p, strlen(p), INT64_MIN, INT64_MAX, &v);
    return v;
}

/* ------------------------------------------------------- binary arrays */

static int put_be(struct tg_strbuf *a, uint64_t v, int bytes)
{
    char b[8];

    for (int k = 0; k < bytes; k++)
        b[k] = (char)(v >> (8 * (bytes - 1 - k)));
    return tg_strbuf_putn(a, b, (size_t)bytes);
}

int tg_pg_array_begin(struct tg_strbuf *a, int bigint, int n)
{
    /* ndim 1, flags 1 (may hold NULLs), element type (int8 20, text 25),
     * n elements from index 1 */
    const uint32_t head[5] = {1, 1, bigint ? 20 : 25, (uint32_t)n, 1};
    int rc = 0;

    for (int i = 0; i < 5 && rc == 0; i++)
        rc = put_be(a, head[i], 4);
    return rc;
}

int tg_pg_array_text(struct tg_strbuf *a, const char *v, int len)
{
    int rc = put_be(a, v ? (uint32_t)len : UINT32_MAX, 4); /* -1: NULL */

    if (rc == 0 && v && len > 0)
        rc = tg_strbuf_putn(a, v, (size_t)len);
    return rc;
}

int tg_pg_array_i64(struct tg_strbuf *a, int64_t v)
{
    int rc = put_be(a, 8, 4);

    return rc ? rc : put_be(a, (uint64_t)v, 8);
}

/* ---------------------------------------------------------------- pool */

int tg_pg_conn_get(struct tg_pg *e, PGconn **out)
{
    const char *why;

    pthread_mutex_lock(&e->pool_mu);
    /* The writer found the server unreachable: reads fail at once rather
     * than each wait for a connection attempt (up to connect_timeout), until
     * the writer's probe reaches it again. */
    if (e->n_idle == 0 && atomic_load(&e->failure) == WHY_DOWN) {
        pthread_mutex_unlock(&e->pool_mu);
        *out = NULL;
        return TG_EIO;
    }
    if (e->n_idle > 0) {
        *out = e->idle[--e->n_idle];
        pthread_mutex_unlock(&e->pool_mu);
        if (PQstatus(*out) == CONNECTION_OK)
            return 0;
        PQfinish(*out);
    } else {
        pthread_mutex_unlock(&e->pool_mu);
    }
    if (tg_pg_connect(e->url, e->busy_ms, out, &why) == 0)
        return 0;
    tg_pg_note_down(e);
    return TG_EIO;
}

void tg_pg_note_down(struct tg_pg *e)
{
    pthread_mutex_lock(&e->mu);
    if (atomic_load(&e->ready)) {
        atomic_store(&e->failure, WHY_DOWN);
        atomic_store(&e->ready, 0);
        /* the writer leaves its idle wait for the probe loop */
        pthread_cond_signal(&e->work);
    }
    pthread_mutex_unlock(&e->mu);
}

void tg_pg_conn_put(struct tg_pg *e, PGconn *db, int ok)
{
    if (!db)
        return;
    /* a failed read may have left the connection in an aborted
     * transaction or broken: not reused */
    if (ok && PQstatus(db) == CONNECTION_OK &&
        PQtransactionStatus(db) == PQTRANS_IDLE) {
        pthread_mutex_lock(&e->pool_mu);
        if (e->n_idle < TG_PG_POOL_MAX) {
            e->idle[e->n_idle++] = db;
            db = NULL;
        }
        pthread_mutex_unlock(&e->pool_mu);
    }
    if (db)
        PQfinish(db);
}

/* ------------------------------------------------------------- writing */

/*
 * The writer's statements, prepared once a connection (writer_prepare): a
 * record (a decision's with its copy-forward use and its jti binding, as
 * data-modifying CTEs of the same statement; one variant for each of the
 * four cases, so that no statement opens a table it does not write), the
 * chain's lock and its head. Parsing and planning them for every record
 * was about 40% of PostgreSQL's CPU under load.
 *
 * The records INSERT has no ON CONFLICT: a decision_id taken fails the
 * statement (unique_violation; its side rows with it), which aborts the
 * transaction, and the batch is written again without that item
 * (attempt_batch). So the records of a batch can be hashed one after the
 * other up front and sent together (pipeline mode: one round trip), each
 * hashed on the assumption that the one before it goes in, which the
 * transaction makes true or undoes whole.
 */
#define STMT_LOCK "tg_lock"
#define STMT_HEAD "tg_head"
#define STMT_FOREIGN "tg_foreign"
#define REC_PARAMS (TG_PG_RECORD_NCOLS + 1)
#define REC_INSERT                                                             \
    "INSERT INTO records(" TG_PG_RECORD_COLUMNS ") VALUES ($1, $2, $3, $4,"   \
    " $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
/* the copy-forward use of just_norm $10 by ticket $3 at time $8 */
#define REC_JUST                                                               \
    "ju AS (INSERT INTO just_use(just_norm, ticket, last_time)"               \
    " SELECT $10, $3, $8 ON CONFLICT (just_norm, ticket) DO UPDATE SET"       \
    " last_time = GREATEST(just_use.last_time, EXCLUDED.last_time))"
/* jti $17 bound to the decision (a skip may have bound it before: kept) */
#define REC_JTI                                                                \
    "jt AS (INSERT INTO jti_use(source, jti, body_sha256, decision_id,"       \
    " time) VALUES ($4, $17, $6, $2, $8) ON CONFLICT (source, jti)"           \
    " DO NOTHING)"
/* [with a just_norm][with a jti]: name, statement, parameters */
static const struct {
    const char *name, *sql;
    int n;
} REC_STMT[2][2] = {
    {{"tg_rec", REC_INSERT, REC_PARAMS - 1},
     {"tg_rec_t", "WITH " REC_JTI " " REC_INSERT, REC_PARAMS}},
    {{"tg_rec_j", "WITH " REC_JUST " " REC_INSERT, REC_PARAMS - 1},
     {"tg_rec_jt", "WITH " REC_JUST ", " REC_JTI " " REC_INSERT,
      REC_PARAMS}}};
/*
 * Every link of a flush in one statement (pend_flush, 2 links or more):
 * each parameter an array of one column (binary: no quoting of the
 * documents, no parsing of text arrays), unnested into rows. One
 * statement instead of one a link saves the executor's start and end,
 * the protocol messages and the index opening of every link. The side
 * rows as above: a copy-forward use once a (just_norm, ticket), at its
 * latest time (ON CONFLICT DO UPDATE may not touch a row twice in one
 * statement), and the jtis (a batch never binds one twice: jti_free
 * sees the links before it).
 */
#define STMT_RECS "tg_recs"
#define RECS_T(n) "$" #n "::text[]"
#define RECS_I(n) "$" #n "::bigint[]"
static const char SQL_RECS[] =
    "WITH ju AS (INSERT INTO just_use(just_norm, ticket, last_time)"
    " SELECT j, t, max(tm) FROM unnest(" RECS_T(10) ", " RECS_T(3) ", "
    RECS_I(8) ") u(j, t, tm) WHERE j IS NOT NULL GROUP BY j, t"
    " ON CONFLICT (just_norm, ticket) DO UPDATE SET"
    " last_time = GREATEST(just_use.last_time, EXCLUDED.last_time)),"
    " jt AS (INSERT INTO jti_use(source, jti, body_sha256, decision_id, time)"
    " SELECT s, j, b, d, tm FROM unnest(" RECS_T(4) ", " RECS_T(17) ", "
    RECS_T(6) ", " RECS_T(2) ", " RECS_I(8) ") u(s, j, b, d, tm)"
    " WHERE j IS NOT NULL ON CONFLICT (source, jti) DO NOTHING)"
    " INSERT INTO records(" TG_PG_RECORD_COLUMNS ") SELECT * FROM unnest("
    RECS_I(1) ", " RECS_T(2) ", " RECS_T(3) ", " RECS_T(4) ", " RECS_T(5)
    ", " RECS_T(6) ", " RECS_T(7) ", " RECS_I(8) ", " RECS_T(9) ", "
    RECS_T(10) ", " RECS_T(11) ", " RECS_T(12) ", " RECS_T(13) ", "
    RECS_T(14) ", " RECS_T(15) ", " RECS_T(16) ")";
static const char SQL_LOCK[] = "SELECT pg_advisory_xact_lock($1::bigint)";
/* the last record, else the checkpoint anchor (o orders them) */
const char tg_pg_head_sql[] =
    "SELECT seq, hash FROM ((SELECT seq, hash, 0 AS o FROM records"
    " ORDER BY seq DESC LIMIT 1) UNION ALL (SELECT seq, hash, 1 AS o"
    " FROM checkpoints ORDER BY seq DESC LIMIT 1)) h ORDER BY o LIMIT 1";
/* the unique constraint a taken decision_id violates */
#define DECISION_ID_KEY "records_decision_id_key"

/* Links hashed and waiting to be sent at most (then sent, their answers
 * read: the results of a pipeline stay small in the socket's buffer). */
#define PEND_MAX 64
/* attempt_batch: a conflict took an item out; the batch goes again (or
 * the links of one statement were refused: again, a link a statement) */
#define RETRY 1
/* the connection failed once COMMIT may have been sent: did it commit?
 * (commit_outcome) */
#define UNKNOWN 2

/* A link hashed and waiting to be sent: its parameters and their text. */
struct pend {
    struct tg_pg_item *it;
    int rec;  /* a decision record, else an entry */
    int just, jti; /* REC_STMT[just][jti] */
    char seq[24], time[24], prev[65], hash[65], mac[65], body[65];
    int64_t seqv, timev; /* seq, time as numbers (tg_recs) */
    const char *v[REC_PARAMS];
    int len[REC_PARAMS];
};

/* One batch's statements (the writer's connection, its transaction). */
struct batch {
    struct tg_pg *e;
    PGconn *db;
    int64_t seq;
    char hash[65];
    /* the attempt's first link (first_seq 0: none yet): what
     * commit_outcome looks for */
    int64_t first_seq;
    char first_hash[65];
    int per_row; /* a link of one statement each (to find a refused one) */
    int committed;    /* the attempt's COMMIT went through */
    int64_t commit_ms; /* tg_cf_clock() when COMMIT was sent */
    /* the other replicas' records read with the lock (pgcfindex.c) */
    struct tg_pg_foreign fr;
    int n;
    struct pend pend[PEND_MAX];
};

/* Prepares sql as name on db. 0 or TG_EIO. */
static int prepare_one(PGconn *db, const char *name, const char *sql, int n)
{
    PGresult *r = PQprepare(db, name, sql, n, NULL);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;

    if (!ok)
        tg_log_event(TG_LOG_DEBUG, "evidence_pg", "prepare %s: %s", name,
                     PQerrorMessage(db));
    PQclear(r);
    return ok ? 0 : TG_EIO;
}

/* Prepares the writer's statements on db (the schema exists). 0 or
 * TG_EIO. */
static int writer_prepare(PGconn *db)
{
    /* The documents of a record (~3 KB) are compressed when stored: lz4
     * (PostgreSQL 14+ built with it) does it several times faster than
     * the default pglz, which was ~5% of the server's CPU. Where it is
     * not available, the default stays. */
    PQclear(PQexec(db, "SET default_toast_compression = lz4"));
    if (prepare_one(db, STMT_LOCK, SQL_LOCK, 1) ||
        prepare_one(db, STMT_HEAD, tg_pg_head_sql, 0) ||
        prepare_one(db, STMT_FOREIGN, tg_pg_cf_foreign_sql, 1) ||
        prepare_one(db, STMT_RECS, SQL_RECS, REC_PARAMS))
        return TG_EIO;
    for (int j = 0; j < 2; j++)
        for (int t = 0; t < 2; t++)
            if (prepare_one(db, REC_STMT[j][t].name, REC_STMT[j][t].sql,
                            REC_STMT[j][t].n))
                return TG_EIO;
    return 0;
}

/* Runs a parameterised statement; *res is the result on success (caller
 * clears). Returns 0, TG_EBUSY or TG_EIO. */
static int run(PGconn *db, const char *sql, int n, const char *const *v,
               const int *len, PGresult **res)
{
    PGresult *r = PQexecParams(db, sql, n, NULL, v, len, NULL, 0);
    ExecStatusType s = PQresultStatus(r);
    int rc;

    if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK) {
        if (res)
            *res = r;
        else
            PQclear(r);
        return 0;
    }
    rc = tg_pg_fail(r);
    tg_log_event(TG_LOG_DEBUG, "evidence_pg", "%s", PQerrorMessage(db));
    PQclear(r);
    return rc;
}

/*
 * Reads the n results of a pipeline and its sync point into res[] (caller
 * clears each; NULL where none came) and leaves pipeline mode. Returns 0
 * when every answer came (failed statements included), TG_EIO when the
 * connection failed (it is then left unusable: the writer reconnects).
 */
static int pipe_collect(PGconn *db, int n, PGresult **res)
{
    PGresult *r;
    int rc = 0;

    for (int i = 0; i < n; i++) {
        res[i] = NULL;
        if (rc == 0 && !(res[i] = PQgetResult(db)))
            rc = TG_EIO;
        /* the end of this statement's results */
        while (rc == 0 && (r = PQgetResult(db))) {
            PQclear(r);
            if (PQstatus(db) != CONNECTION_OK)
                rc = TG_EIO;
        }
    }
    if (rc == 0) {
        r = PQgetResult(db);
        if (PQresultStatus(r) != PGRES_PIPELINE_SYNC)
            rc = TG_EIO;
        PQclear(r);
    }
    if ((rc || PQexitPipelineMode(db) != 1) &&
        PQstatus(db) == CONNECTION_OK) {
        /* out of step with the server: this connection is done */
        shutdown(PQsocket(db), SHUT_RDWR);
        PQconsumeInput(db);
        rc = TG_EIO;
    }
    return rc;
}

/* What a failed result of a pipeline means (TG_EBUSY or TG_EIO). */
static int pipe_fail(PGconn *db, const PGresult *r)
{
    if (!r || PQresultStatus(r) == PGRES_PIPELINE_ABORTED)
        return TG_EIO;
    tg_log_event(TG_LOG_DEBUG, "evidence_pg", "%s",
                 PQresultErrorMessage(r)[0] ? PQresultErrorMessage(r)
                                            : PQerrorMessage(db));
    return tg_pg_fail(r);
}

/* BEGIN, the chain's lock and its head (the last record, or the checkpoint
 * anchor, or genesis) in one round trip, with the records appended since
 * the copy-forward index's seq (b->fr; not when the index is invalid).
 * Returns 0, TG_EBUSY (the lock waited longer than store.busy_timeout_ms)
 * or TG_EIO; the transaction is open unless the connection failed. */
static int begin_locked(struct batch *b)
{
    char key[24], from[24];
    const char *v[1] = {key}, *vf[1] = {from};
    PGresult *res[4] = {NULL, NULL, NULL, NULL};
    int rc, n = 3;

    tg_pg_cf_foreign_reset(&b->fr, b->e->cf.seq);
    if (atomic_load(&b->e->cf.valid) &&
        tg_chain_int_text(b->fr.from, from, sizeof from))
        n = 4;
    if (!tg_chain_int_text(TG_PG_CHAIN_LOCK, key, sizeof key) ||
        PQenterPipelineMode(b->db) != 1)
        return TG_EIO;
    if (PQsendQueryParams(b->db, "BEGIN", 0, NULL, NULL, NULL, NULL, 0) != 1 ||
        PQsendQueryPrepared(b->db, STMT_LOCK, 1, v, NULL, NULL, 0) != 1 ||
        PQsendQueryPrepared(b->db, STMT_HEAD, 0, NULL, NULL, NULL, 0) != 1 ||
        (n == 4 &&
         PQsendQueryPrepared(b->db, STMT_FOREIGN, 1, vf, NULL, NULL, 0) != 1) ||
        PQpipelineSync(b->db) != 1) {
        shutdown(PQsocket(b->db), SHUT_RDWR);
        PQconsumeInput(b->db);
        return TG_EIO;
    }
    rc = pipe_collect(b->db, n, res);
    for (int i = 0; i < n && rc == 0; i++)
        if (PQresultStatus(res[i]) != PGRES_COMMAND_OK &&
            PQresultStatus(res[i]) != PGRES_TUPLES_OK)
            rc = pipe_fail(b->db, res[i]);
    if (rc == 0 && PQntuples(res[2]) == 0) {
        b->seq = 0;
        memcpy(b->hash, ZERO_HASH, 65);
    } else if (rc == 0 && PQgetlength(res[2], 0, 1) != 64) {
        rc = TG_EIO;
    } else if (rc == 0) {
        b->seq = tg_pg_i64(res[2], 0, 0);
        memcpy(b->hash, PQgetvalue(res[2], 0, 1), 64);
        b->hash[64] = '\0';
    }
    /* out of memory for them: the index is not advanced, nothing else */
    if (rc == 0 && n == 4)
        tg_pg_cf_foreign(&b->fr, res[3], b->seq, b->e->cf_hash);
    for (int i = 0; i < n; i++)
        PQclear(res[i]);
    return rc;
}

/* Whether r's jti may be bound (as jti_free of writer.c). */
static int jti_free(struct batch *b, const struct tg_evidence_record *r,
                    int jti_only)
{
    const char *v[2] = {r->source, r->jti};
    PGresult *res = NULL;
    char body[65];
    int rc;

    if ((rc = run(b->db,
                  "SELECT body_sha256, decision_id FROM jti_use"
                  " WHERE source = $1 AND jti = $2",
                  2, v, NULL, &res)))
        return rc;
    if (PQntuples(res) > 0) {
        tg_digest_hex(r->body_sha256, 32, body);
        rc = strcmp(PQgetvalue(res, 0, 0), body) == 0 &&
                     (jti_only || PQgetisnull(res, 0, 1))
                 ? 0
                 : TG_ECONFLICT;
    }
    PQclear(res);
    return rc;
}

static int jti_bind(struct batch *b, const struct tg_evidence_record *r,
                    const char *decision_id)
{
    char body[65], t[24];
    const char *v[5] = {r->source, r->jti, body, decision_id, t};

    tg_digest_hex(r->body_sha256, 32, body);
    if (!tg_chain_int_text(r->time, t, sizeof t))
        return TG_EIO;
    return run(b->db,
               "INSERT INTO jti_use(source, jti, body_sha256, decision_id,"
               " time) VALUES ($1, $2, $3, $4, $5)"
               " ON CONFLICT (source, jti) DO NOTHING",
               5, v, NULL, NULL);
}

/* Whether r may be written: its delivery id not recorded for its source,
 * its jti unused. 0, TG_ECONFLICT, or a fatal TG_EIO / TG_EBUSY. */
static int insert_free(struct batch *b, const struct tg_evidence_record *r)
{
    int rc;

    if (r->delivery_id) {
        const char *v[2] = {r->source, r->delivery_id};
        PGresult *res = NULL;

        if ((rc = run(b->db,
                      "SELECT 1 FROM records WHERE source = $1 AND"
                      " delivery_id = $2",
                      2, v, NULL, &res)))
            return rc;
        rc = PQntuples(res) > 0 ? TG_ECONFLICT : 0;
        PQclear(res);
        if (rc)
            return rc;
    }
    if (r->jti)
        return jti_free(b, r, 0);
    return 0;
}

/* The link's fields for r or the entry of it (writer.c's link_fields and
 * entry_fields: the same bytes, so both stores hash alike). */
static void record_fields(struct tg_chain_field f[F_N],
                          const struct tg_evidence_record *r, char body[65])
{
    tg_digest_hex(r->body_sha256, 32, body);
    f[F_ID] = (struct tg_chain_field){r->decision_id, strlen(r->decision_id)};
    f[F_TICKET] = (struct tg_chain_field){r->ticket, strlen(r->ticket)};
    f[F_SOURCE] = (struct tg_chain_field){r->source, strlen(r->source)};
    f[F_DELIVERY] = (struct tg_chain_field){
        r->delivery_id, r->delivery_id ? strlen(r->delivery_id) : 0};
    f[F_BODY] = (struct tg_chain_field){body, 64};
    f[F_POLICY] =
        (struct tg_chain_field){r->policy_digest, strlen(r->policy_digest)};
    f[F_DECISION] = (struct tg_chain_field){r->decision_json, r->decision_len};
    f[F_JUST] = (struct tg_chain_field){
        r->justification_norm,
        r->justification_norm ? strlen(r->justification_norm) : 0};
    f[F_KIND] =
        (struct tg_chain_field){KIND_DECISION, sizeof KIND_DECISION - 1};
    f[F_JUDGED] = (struct tg_chain_field){r->judged_json,
                                          r->judged_json ? r->judged_len : 0};
    /* with a facts document the link is hashed as v3 (internal.h) */
    f[F_FACTS] = (struct tg_chain_field){r->facts_json,
                                         r->facts_json ? r->facts_len : 0};
}

static void entry_fields(struct tg_chain_field f[F_N],
                         const struct tg_pg_item *it, char body[65])
{
    const struct tg_evidence_entry *en = it->en;

    tg_digest_hex(it->en_sha, 32, body);
    f[F_ID] = (struct tg_chain_field){it->en_id, strlen(it->en_id)};
    f[F_TICKET] = (struct tg_chain_field){en->ticket ? en->ticket : "",
                                          en->ticket ? strlen(en->ticket) : 0};
    f[F_SOURCE] = (struct tg_chain_field){en->source ? en->source : "",
                                          en->source ? strlen(en->source) : 0};
    f[F_DELIVERY] = (struct tg_chain_field){NULL, 0};
    f[F_BODY] = (struct tg_chain_field){body, 64};
    f[F_POLICY] = (struct tg_chain_field){"", 0};
    f[F_DECISION] = (struct tg_chain_field){en->json, en->len};
    f[F_JUST] = (struct tg_chain_field){NULL, 0};
    f[F_KIND] = (struct tg_chain_field){en->kind, strlen(en->kind)};
    f[F_JUDGED] = (struct tg_chain_field){NULL, 0};
    f[F_FACTS] = (struct tg_chain_field){NULL, 0};
}

/* The parameters of p's statement from its fields f ($1..$16 in column
 * order, then a record's jti): text with explicit lengths, so the bytes
 * stored are the bytes hashed. */
static void pend_params(struct pend *p, const struct tg_chain_field f[F_N],
                        int keyed, const char *jti)
{
    for (int i = 0; i < F_N1; i++) {
        p->v[i] = f[i].p;
        p->len[i] = (int)f[i].n;
    }
    p->v[11] = p->hash;
    p->len[11] = 64;
    p->v[12] = keyed ? p->mac : NULL;
    p->len[12] = keyed ? 64 : 0;
    p->v[13] = f[F_KIND].p;
    p->len[13] = (int)f[F_KIND].n;
    p->v[14] = f[F_JUDGED].p;
    p->len[14] = (int)f[F_JUDGED].n;
    p->v[TG_PG_COL_FACTS] = f[F_FACTS].p;
    p->len[TG_PG_COL_FACTS] = (int)f[F_FACTS].n;
    p->v[TG_PG_RECORD_NCOLS] = jti;
    p->len[TG_PG_RECORD_NCOLS] = jti ? (int)strlen(jti) : 0;
}

/* Whether r is the refusal of a decision id already taken. */
static int id_taken(const PGresult *r)
{
    const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    const char *key = PQresultErrorField(r, PG_DIAG_CONSTRAINT_NAME);

    return st && key && strcmp(st, "23505") == 0 &&
           strcmp(key, DECISION_ID_KEY) == 0;
}

/* What a failed INSERT of p means: a taken decision id answers its item
 * (TG_EINVAL for a decision, TG_ECONFLICT for an entry: settled before)
 * and the batch goes again without it (RETRY); anything else is fatal
 * (TG_EIO / TG_EBUSY). */
static int pend_failed(PGconn *db, struct pend *p, const PGresult *r)
{
    if (id_taken(r)) {
        p->it->rc = p->rec ? TG_EINVAL : TG_ECONFLICT;
        p->it->settled = 1;
        return RETRY;
    }
    return pipe_fail(db, r);
}

/* The column c (0..REC_PARAMS-1) of b's n links as a binary array:
 * bigint (seq, time) or text. 0, or TG_ENOMEM / TG_ETOOBIG (too big for
 * one parameter: sent a link a statement instead). */
static int recs_column(const struct batch *b, int n, int c,
                       struct tg_strbuf *a)
{
    int big = c == 0 || c == 7, rc;

    rc = tg_pg_array_begin(a, big, n);
    for (int i = 0; i < n && rc == 0; i++) {
        const struct pend *p = &b->pend[i];

        rc = big ? tg_pg_array_i64(a, c == 0 ? p->seqv : p->timev)
                 : tg_pg_array_text(a, p->v[c], p->len[c]);
    }
    return rc;
}

/* Queues b's n links as one tg_recs statement (the pipeline is open).
 * Returns 1 (queued), 0 (too big for one: nothing queued, send them a
 * link a statement) or TG_EIO. */
static int recs_send(struct batch *b, int n)
{
    struct tg_strbuf a[REC_PARAMS];
    const char *v[REC_PARAMS];
    int len[REC_PARAMS], fmt[REC_PARAMS], rc = 0, sent;

    for (int c = 0; c < REC_PARAMS; c++) {
        a[c] = (struct tg_strbuf)TG_STRBUF_INIT(INT_MAX / 2);
        if (rc == 0)
            rc = recs_column(b, n, c, &a[c]);
        v[c] = a[c].p;
        len[c] = (int)a[c].n;
        fmt[c] = 1;
    }
    sent = rc == 0 ? PQsendQueryPrepared(b->db, STMT_RECS, REC_PARAMS, v,
                                         len, fmt, 0) == 1
                   : 0;
    for (int c = 0; c < REC_PARAMS; c++)
        tg_strbuf_cleanup(&a[c]);
    return rc == TG_ETOOBIG ? 0 : sent ? 1 : TG_EIO;
}

atomic_int tg_pg_test_fault;

/* Sends the links waiting in b in one round trip (pipeline mode) and reads
 * their answers; with commit, COMMIT goes in the same pipeline, after them
 * (one round trip less a batch, and the chain's lock is held that much
 * shorter). Returns 0 (with commit: committed), RETRY (one was taken out:
 * the transaction is aborted), UNKNOWN (commit: the connection failed once
 * COMMIT may have reached the server) or a fatal TG_EIO / TG_EBUSY. With
 * tg_pg_test_fault set (tests), a commit's connection is cut before
 * anything is sent (2) or right after all is sent, before any answer is
 * read (1): a failover mid-commit. */
static int pend_flush(struct batch *b, int commit)
{
    PGresult *res[PEND_MAX + 1];
    int rc = 0, n = b->n, fault = 0, m = n; /* m statements for the links */

    if (n == 0 && !commit)
        return 0;
    b->n = 0;
    if (commit && (fault = atomic_exchange(&tg_pg_test_fault, 0)) == 2)
        shutdown(PQsocket(b->db), SHUT_RDWR);
    if (PQenterPipelineMode(b->db) != 1)
        return commit ? UNKNOWN : TG_EIO;
    /* two links or more: one statement, unless it was refused (per_row) */
    if (n >= 2 && !b->per_row) {
        if ((rc = recs_send(b, n)) == 1)
            m = 1;
        else if (rc == TG_EIO)
            m = 0;
        rc = rc == 1 ? 0 : rc;
    }
    for (int i = 0; i < n && m == n && rc == 0; i++) {
        struct pend *p = &b->pend[i];

        if (PQsendQueryPrepared(b->db, REC_STMT[p->just][p->jti].name,
                                REC_STMT[p->just][p->jti].n, p->v, p->len,
                                NULL, 0) != 1) {
            rc = TG_EIO;
            break;
        }
    }
    if (rc == 0 && commit &&
        PQsendQueryParams(b->db, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) != 1)
        rc = TG_EIO;
    if (rc || PQpipelineSync(b->db) != 1) {
        /* part of it may have reached the server, COMMIT too */
        shutdown(PQsocket(b->db), SHUT_RDWR);
        PQconsumeInput(b->db);
        return commit ? UNKNOWN : TG_EIO;
    }
    if (fault == 1) {
        /* every answer lost, also those already in the socket's buffer:
         * reading them made the test depend on whether the server had
         * answered before the cut (a refusal read there answered the
         * refused record alone, 4 runs in 20 under load) */
        shutdown(PQsocket(b->db), SHUT_RDWR);
        PQconsumeInput(b->db);
        return UNKNOWN;
    }
    rc = pipe_collect(b->db, m + (commit != 0), res);
    for (int i = 0; i < m; i++) {
        ExecStatusType s = PQresultStatus(res[i]);

        /* a link refused: the transaction is aborted, whatever came
         * after (COMMIT included) was skipped */
        if (res[i] && s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK &&
            s != PGRES_PIPELINE_ABORTED) {
            if (m == n) {
                rc = pend_failed(b->db, &b->pend[i], res[i]);
            } else if (id_taken(res[i])) {
                /* which link's id was taken? The batch goes again, a link
                 * a statement, which finds it */
                b->per_row = 1;
                rc = RETRY;
            } else {
                rc = pipe_fail(b->db, res[i]);
            }
            break;
        }
    }
    if (commit && rc == TG_EIO && PQstatus(b->db) != CONNECTION_OK)
        rc = UNKNOWN; /* no refusal came: COMMIT's outcome is unknown */
    else if (commit && rc == 0 &&
             PQresultStatus(res[m]) != PGRES_COMMAND_OK)
        rc = pipe_fail(b->db, res[m]);
    for (int i = 0; i < m + (commit != 0); i++)
        PQclear(res[i]);
    return rc;
}

/*
 * Hashes f as the link after the batch's head (time t) and queues its
 * INSERT (a decision's, rec: with its copy-forward use and its jti, NULL
 * for none), advancing the head: the INSERTs are sent together by
 * pend_flush. Returns 0, RETRY or a fatal TG_EIO / TG_EBUSY.
 */
static int link_queue(struct batch *b, struct tg_pg_item *it,
                      struct tg_chain_field f[F_N], int64_t t, int rec,
                      const char *jti)
{
    struct tg_pg *e = b->e;
    struct pend *p;
    unsigned char digest[32], macbin[32];
    int rc;

    if (b->n == PEND_MAX && (rc = pend_flush(b, 0)))
        return rc;
    p = &b->pend[b->n];
    if (b->seq == INT64_MAX || f[F_DECISION].n > INT32_MAX ||
        f[F_JUDGED].n > INT32_MAX || f[F_FACTS].n > INT32_MAX)
        return TG_EIO;
    memcpy(p->body, f[F_BODY].p, 65);
    f[F_BODY].p = p->body;
    f[F_SEQ].p = p->seq;
    f[F_SEQ].n = tg_chain_int_text(b->seq + 1, p->seq, sizeof p->seq);
    f[F_TIME].p = p->time;
    f[F_TIME].n = tg_chain_int_text(t, p->time, sizeof p->time);
    memcpy(p->prev, b->hash, 65);
    f[F_PREV] = (struct tg_chain_field){p->prev, 64};
    if (tg_chain_hash(f, 1, digest))
        return TG_EIO;
    tg_digest_hex(digest, 32, p->hash);
    if (e->keylen) {
        if (tg_chain_mac(e->key, e->keylen, digest, macbin))
            return TG_EIO;
        tg_digest_hex(macbin, 32, p->mac);
        OPENSSL_cleanse(macbin, sizeof macbin);
    }
    pend_params(p, f, e->keylen > 0, jti);
    p->seqv = b->seq + 1;
    p->timev = t;
    if (b->first_seq == 0) {
        b->first_seq = b->seq + 1;
        memcpy(b->first_hash, p->hash, 65);
    }
    p->it = it;
    p->rec = rec;
    p->just = rec && f[F_JUST].p != NULL;
    p->jti = rec && jti != NULL;
    b->n++;
    b->seq++;
    memcpy(b->hash, p->hash, 65);
    return 0;
}

/* r (of item it) as the next link, with its copy-forward use, jti and
 * actions. Returns 0, TG_ECONFLICT (delivery id or jti taken), RETRY, or a
 * fatal TG_EIO / TG_EBUSY. */
static int insert_record(struct batch *b, struct tg_pg_item *it)
{
    const struct tg_evidence_record *r = it->r;
    struct tg_chain_field f[F_N];
    char body[65];
    int rc;

    /* the 409 checks must see the links queued before this one */
    if ((r->delivery_id || r->jti) &&
        ((rc = pend_flush(b, 0)) || (rc = insert_free(b, r))))
        return rc;
    record_fields(f, r, body);
    if ((rc = link_queue(b, it, f, r->time, 1, r->jti)))
        return rc;
    /* the actions in the same transaction (no constraint ties them to the
     * record's row: they need not wait for it to be sent) */
    if (r->actions_json && (rc = tg_pg_outbox_insert(b->db, r)))
        return rc == TG_EBUSY ? TG_EBUSY : TG_EIO;
    return 0;
}

static int insert_entry(struct batch *b, struct tg_pg_item *it)
{
    struct tg_chain_field f[F_N];
    char body[65];

    entry_fields(f, it, body);
    return link_queue(b, it, f, it->en->time, 0, NULL);
}

/* One item's own work inside the open, locked transaction: 0, an answer
 * of its own (TG_ECONFLICT), RETRY or a fatal TG_EIO / TG_EBUSY. */
static int batch_item(struct batch *b, struct tg_pg_item *p)
{
    int rc = 0;

    if (p->jti_only) {
        /* jti_free must see the jti of the records queued before it */
        if (!(rc = pend_flush(b, 0)) && !(rc = jti_free(b, p->r, 1)))
            rc = jti_bind(b, p->r, NULL);
    } else if (p->en) {
        rc = insert_entry(b, p);
    } else if (p->r) {
        rc = insert_record(b, p);
    }
    /* its own statements run after its record is in */
    if (rc == 0 && p->tx && !(rc = pend_flush(b, 0)))
        rc = p->tx(b->e, b->db, p->tx_arg);
    return rc;
}

/* The items' own work inside the open, locked transaction (each item's
 * rc set); the last links are left for COMMIT's pipeline. Returns 0,
 * RETRY or a fatal TG_EIO / TG_EBUSY. */
static int batch_items(struct batch *b, struct tg_pg_item *batch)
{
    for (struct tg_pg_item *p = batch; p; p = p->next) {
        int rc;

        if (p->settled)
            continue;
        rc = batch_item(b, p);
        if (rc == RETRY)
            return RETRY;
        if (rc == TG_EIO || rc == TG_EBUSY || rc == TG_ENOMEM)
            return rc == TG_EBUSY ? TG_EBUSY : TG_EIO;
        p->rc = rc;
    }
    return 0;
}

/*
 * COMMIT's answer was lost with the connection: did it commit? Reconnects
 * once and looks the attempt's first link up by its seq and hash (not by
 * its decision id: a link refused for a taken id, whose refusal was lost
 * too, would find the row that took it). Returns 0 (it did: the batch
 * stands as written), TG_EIO (it did not, or it cannot be known: the batch
 * is not acknowledged).
 */
static int commit_outcome(struct tg_pg *e, const struct batch *b)
{
    char seq[24], lock[80];
    const char *v[2] = {seq, b->first_hash}, *why;
    PGresult *res = NULL;
    PGconn *db = NULL;
    int rc = TG_EIO, n;

    n = snprintf(lock, sizeof lock, "SELECT pg_advisory_xact_lock(%" PRId64 ")",
                 TG_PG_CHAIN_LOCK);
    if (b->first_seq == 0 || n < 0 || (size_t)n >= sizeof lock ||
        !tg_chain_int_text(b->first_seq, seq, sizeof seq) ||
        tg_pg_connect(e->url, e->busy_ms, &db, &why))
        goto out;
    /* The lost transaction holds the chain's lock until its COMMIT ends
     * (either way): taking the lock first makes the lookup decisive. A lock
     * not granted within store.busy_timeout_ms leaves it unknown: failed. */
    if (tg_pg_exec(db, "BEGIN") == 0) {
        if (tg_pg_exec(db, lock) == 0 &&
            run(db, "SELECT 1 FROM records WHERE seq = $1 AND hash = $2", 2,
                v, NULL, &res) == 0) {
            rc = PQntuples(res) > 0 ? 0 : TG_EIO;
            PQclear(res);
        }
        tg_pg_exec(db, "ROLLBACK");
    }
    tg_log_event(TG_LOG_WARN, "evidence_pg_commit_unknown",
                 "the connection was lost during COMMIT; the batch %s",
                 rc == 0 ? "was found committed and is acknowledged"
                         : "is not in the store and is answered as failed");
out:
    /* the writer goes on with this connection, once it has its statements
     * (else writer_conn makes a new one) */
    if (db && writer_prepare(db)) {
        PQfinish(db);
        db = NULL;
    }
    if (db) {
        if (e->w)
            PQfinish(e->w);
        e->w = db;
    }
    return rc;
}

static void set_failed(struct tg_pg *e, const char *why, PGconn *db)
{
    atomic_store(&e->failure, why);
    atomic_store(&e->ready, 0);
    if (e->logged != why) {
        tg_log_event(TG_LOG_ERROR, "evidence_error",
                     "evidence store (postgresql): %s%s%s", why, db ? ": " : "",
                     db ? PQerrorMessage(db) : "");
        e->logged = why;
    }
}

static void set_ok(struct tg_pg *e)
{
    if (e->logged)
        tg_log_event(TG_LOG_INFO, "evidence_recovered",
                     "evidence store (postgresql): takes writes again");
    e->logged = NULL;
    e->backoff_ms = 0;
    atomic_store(&e->failure, NULL);
    atomic_store(&e->ready, 1);
}

/* A writer's connection (re)made when the backoff allows. 0 or TG_EIO. */
static int writer_conn(struct tg_pg *e)
{
    const char *why;
    int64_t now = mono_ms();

    if (e->w && PQstatus(e->w) == CONNECTION_OK)
        return 0;
    if (e->w) {
        PQfinish(e->w);
        e->w = NULL;
    }
    if (now < e->retry_at_ms)
        return TG_EIO;
    if (tg_pg_connect(e->url, e->busy_ms, &e->w, &why) == 0) {
        if (writer_prepare(e->w) == 0)
            return 0;
        why = WHY_REFUSED;
        PQfinish(e->w);
        e->w = NULL;
    }
    /* 100 ms, doubling to 2 s: a restarting server is not hammered, and
     * the store is back within 2 s of it */
    e->backoff_ms = e->backoff_ms ? e->backoff_ms * 2 : TG_PG_BACKOFF_MIN_MS;
    if (e->backoff_ms > TG_PG_BACKOFF_MAX_MS)
        e->backoff_ms = TG_PG_BACKOFF_MAX_MS;
    e->retry_at_ms = now + e->backoff_ms;
    set_failed(e, why, NULL);
    return TG_EIO;
}

/* BEGIN, the chain's lock and its head on the writer's connection, into b
 * (emptied). Returns 0 (the transaction is open and holds the lock),
 * TG_EBUSY or TG_EIO; b->db is NULL when there is no connection. */
static int take_lock(struct tg_pg *e, struct batch *b)
{
    int rc;

    b->db = NULL;
    b->n = 0;
    b->first_seq = 0;
    b->committed = 0;
    if (writer_conn(e))
        return TG_EIO;
    b->db = e->w;
    if ((rc = begin_locked(b)) && PQstatus(b->db) == CONNECTION_BAD) {
        /* the server dropped the idle connection (a restart, a failover):
         * nothing was written yet, so once more on a new connection */
        PQfinish(e->w);
        e->w = NULL;
        b->db = NULL;
        e->retry_at_ms = 0;
        if (writer_conn(e))
            return TG_EIO;
        b->db = e->w;
        rc = begin_locked(b);
    }
    return rc;
}

/* One attempt at writing batch in the transaction take_lock opened (rc:
 * what it returned); sets the rc of every item it answers. Returns RETRY
 * when a conflict took an item out (the transaction rolled back: the batch
 * goes again without it), else 0. */
static int attempt_batch(struct tg_pg *e, struct batch *b,
                         struct tg_pg_item *batch, int rc)
{
    if (!b->db)
        goto fail;
    if (rc || (rc = batch_items(b, batch)))
        goto rollback;
    /* the last links and COMMIT: one round trip (the other replicas may
     * append once it has released the lock) */
    b->commit_ms = tg_cf_clock();
    if ((rc = pend_flush(b, 1)) == 0) {
        b->committed = 1;
        set_ok(e);
        return 0;
    }
    if (rc == UNKNOWN) {
        /* the outcome is unknown: look it up (commit_outcome) */
        if ((rc = commit_outcome(e, b)) == 0) {
            b->committed = 1;
            set_ok(e);
            return 0;
        }
        for (struct tg_pg_item *p = batch; p; p = p->next)
            if (!p->settled)
                p->rc = TG_EIO;
        set_failed(e, WHY_LOST, NULL);
        return 0;
    }
rollback:
    if (PQstatus(b->db) == CONNECTION_OK)
        tg_pg_exec(b->db, "ROLLBACK");
    if (rc == RETRY)
        return RETRY;
fail:
    if (rc != TG_EBUSY)
        rc = TG_EIO;
    /* an item a conflict answered in an earlier attempt keeps its answer */
    for (struct tg_pg_item *p = batch; p; p = p->next)
        if (!p->settled)
            p->rc = rc;
    if (e->w && PQstatus(e->w) != CONNECTION_OK)
        set_failed(e, WHY_DOWN, e->w);
    else if (rc == TG_EBUSY)
        set_failed(e, WHY_BUSY, NULL);
    else if (e->w)
        set_failed(e, WHY_REFUSED, e->w);
    return 0;
}

/* Writes batch in the transaction take_lock opened into b (rc: what it
 * returned); sets every item's rc. */
static void commit_batch(struct tg_pg *e, struct batch *b,
                         struct tg_pg_item *batch, int rc)
{
    for (struct tg_pg_item *p = batch; p; p = p->next)
        p->settled = 0;
    /* each RETRY settles one more item: at most one attempt an item */
    while (attempt_batch(e, b, batch, rc) == RETRY)
        rc = take_lock(e, b);
}

atomic_int tg_pg_test_gather;
atomic_int tg_pg_test_queued;

/* Whether the writer has a batch to take (under mu): any item, or with
 * tg_pg_test_gather set, that many. */
static int batch_waiting(const struct tg_pg *e)
{
    int want = atomic_load(&tg_pg_test_gather), n = 0;

    if (!e->qhead || e->stop || want <= 0)
        return e->qhead != NULL;
    for (const struct tg_pg_item *p = e->qhead; p && n < want; p = p->next)
        n++;
    return n >= want;
}

/* Takes the writer's batch off e's queue (under mu; one item at least):
 * every item waiting, up to TG_PG_MAX_BATCH. When taking the chain's lock
 * failed (rc: busy_timeout_ms, a lost server), only the items up to last,
 * the queue's tail when the wait began: those that waited for the lock all
 * along are answered so, the later ones get a wait of their own. */
static struct tg_pg_item *take_batch(struct tg_pg *e,
                                     const struct tg_pg_item *last, int rc)
{
    struct tg_pg_item *batch = e->qhead, *p;
    int n = 1;

    atomic_store(&tg_pg_test_gather, 0);
    for (p = batch; p->next && n < TG_PG_MAX_BATCH && (rc == 0 || p != last);
         p = p->next)
        n++;
    atomic_fetch_sub(&tg_pg_test_queued, n);
    e->qhead = p->next;
    if (!e->qhead)
        e->qtail = NULL;
    p->next = NULL;
    return batch;
}

static void *writer_main(void *arg)
{
    struct tg_pg *e = arg;
    /* ~40 KB of links waiting to be sent: the writer thread's stack */
    struct batch b = {.e = e};

    tg_thread_name("tg-pg-writer");
    pthread_mutex_lock(&e->mu);
    for (;;) {
        struct tg_pg_item *batch, *p, *last;
        int rc;

        while (!e->stop && !batch_waiting(e)) {
            struct timespec ts;

            if (atomic_load(&e->ready))
                pthread_cond_wait(&e->work, &e->mu);
            else {
                /* failing: probe (reconnect) every TG_EVIDENCE_PROBE_MS
                 * so that /readyz comes back without a write */
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_sec += TG_EVIDENCE_PROBE_MS / 1000;
                ts.tv_nsec += (TG_EVIDENCE_PROBE_MS % 1000) * 1000000L;
                if (ts.tv_nsec >= 1000000000L) {
                    ts.tv_sec++;
                    ts.tv_nsec -= 1000000000L;
                }
                if (pthread_cond_timedwait(&e->work, &e->mu, &ts) != 0 &&
                    !batch_waiting(e) && !e->stop) {
                    pthread_mutex_unlock(&e->mu);
                    if (writer_conn(e) == 0 &&
                        tg_pg_exec(e->w, "SELECT 1") == 0)
                        set_ok(e);
                    pthread_mutex_lock(&e->mu);
                }
            }
        }
        if (!e->qhead && e->stop)
            break;
        /* The chain's lock first, the batch after: while another replica
         * holds the lock through its COMMIT, the requests that arrive join
         * this batch instead of waiting for the next one, so that a
         * transaction (and its WAL flush) carries more records (bench/
         * pg_bench.sh: 5.8-6.2 -> 6.7-7.8 records a transaction). */
        last = e->qtail;
        pthread_mutex_unlock(&e->mu);
        b.per_row = 0;
        rc = take_lock(e, &b);
        pthread_mutex_lock(&e->mu);
        batch = take_batch(e, last, rc);
        pthread_mutex_unlock(&e->mu);
        commit_batch(e, &b, batch, rc);
        b.db = NULL; /* e->w may be replaced before the next batch */
        /* the copy-forward index learns the batch before its appenders
         * are answered (their next requests count it) */
        if (b.committed)
            tg_pg_cf_index(e, &b.fr, batch, b.seq, b.hash, b.commit_ms);
        /* each appender woken alone (a broadcast woke the ones still
         * waiting for the next batch too, only to sleep again), and
         * without mu held (a signal under it woke each appender only to
         * wait for mu); an item posted may be gone at once */
        for (p = batch; p;) {
            struct tg_pg_item *next = p->next;

            sem_post(&p->done_sem);
            p = next;
        }
        pthread_mutex_lock(&e->mu);
    }
    pthread_mutex_unlock(&e->mu);
    free(b.fr.v);
    return NULL;
}

int tg_pg_enqueue(struct tg_pg *e, struct tg_pg_item *it)
{
    int rc;

    it->next = NULL;
    if (sem_init(&it->done_sem, 0, 0))
        return TG_EIO;
    pthread_mutex_lock(&e->mu);
    if (e->stop) {
        pthread_mutex_unlock(&e->mu);
        sem_destroy(&it->done_sem);
        return TG_EIO;
    }
    if (e->qtail)
        e->qtail->next = it;
    else
        e->qhead = it;
    e->qtail = it;
    atomic_fetch_add(&tg_pg_test_queued, 1);
    pthread_cond_signal(&e->work);
    pthread_mutex_unlock(&e->mu);
    while (sem_wait(&it->done_sem) != 0)
        ; /* EINTR */
    rc = it->rc;
    sem_destroy(&it->done_sem);
    return rc;
}

/* ------------------------------------------------------ open and close */

static void pg_free(struct tg_pg *e)
{
    if (!e)
        return;
    if (e->w)
        PQfinish(e->w);
    for (int i = 0; i < e->n_idle; i++)
        PQfinish(e->idle[i]);
    if (e->url) {
        OPENSSL_cleanse(e->url, strlen(e->url));
        free(e->url);
    }
    if (e->key) {
        OPENSSL_cleanse(e->key, e->keylen);
        free(e->key);
    }
    pthread_mutex_destroy(&e->mu);
    pthread_mutex_destroy(&e->id_mu);
    pthread_mutex_destroy(&e->pool_mu);
    if (e->rd_db)
        PQfinish(e->rd_db);
    pthread_mutex_destroy(&e->rd_mu);
    pthread_cond_destroy(&e->work);
    tg_cf_cleanup(&e->cf);
    free(e);
}

int tg_pg_open(const struct tg_config *c, struct tg_pg **out)
{
    struct tg_pg *e;
    const char *why = NULL;
    int rc = TG_ENOMEM;

    if (!c || !c->store.url || !out)
        return TG_EINVAL;
    if (!(e = calloc(1, sizeof *e)))
        return TG_ENOMEM;
    pthread_mutex_init(&e->mu, NULL);
    pthread_mutex_init(&e->id_mu, NULL);
    pthread_mutex_init(&e->pool_mu, NULL);
    pthread_mutex_init(&e->rd_mu, NULL);
    pthread_cond_init(&e->work, NULL);
    if (tg_cf_init(&e->cf))
        goto out;
    e->busy_ms = c->store.busy_timeout_ms > 0 ? c->store.busy_timeout_ms : 2000;
    if (!(e->url = strdup(c->store.url)))
        goto out;
    if (c->store.hmac_key && c->store.hmac_key_len) {
        if (!(e->key = malloc(c->store.hmac_key_len)))
            goto out;
        memcpy(e->key, c->store.hmac_key, c->store.hmac_key_len);
        e->keylen = c->store.hmac_key_len;
    }
    rc = TG_EIO;
    if (tg_pg_connect(e->url, e->busy_ms, &e->w, &why) ||
        (why = WHY_REFUSED, tg_pg_schema(e->w)) || writer_prepare(e->w)) {
        tg_log_event(TG_LOG_ERROR, "evidence_error",
                     "evidence store (postgresql): cannot open: %s%s%s", why,
                     e->w ? ": " : "", e->w ? PQerrorMessage(e->w) : "");
        goto out;
    }
    /* without it (out of memory, a read that failed) the database counts */
    if (tg_pg_cf_load(e, e->w))
        tg_log_event(TG_LOG_WARN, "evidence_pg_cf_index",
                     "copy-forward index not loaded: the database counts");
    atomic_store(&e->ready, 1);
    rc = TG_ENOMEM;
    if (pthread_create(&e->writer, NULL, writer_main, e))
        goto out;
    e->writer_started = 1;
    *out = e;
    return 0;
out:
    pg_free(e);
    return rc;
}

void tg_pg_close(struct tg_pg *e)
{
    if (!e)
        return;
    if (e->writer_started) {
        pthread_mutex_lock(&e->mu);
        e->stop = 1;
        pthread_cond_signal(&e->work);
        pthread_mutex_unlock(&e->mu);
        pthread_join(e->writer, NULL);
    }
    pg_free(e);
}

/* ---------------------------------------------------------- the API */

uint64_t tg_pg_next_seq(struct tg_pg *e)
{
    uint64_t v;

    pthread_mutex_lock(&e->id_mu);
    if (e->id_next >= e->id_end) {
        PGconn *db = NULL;
        PGresult *res = NULL;

        /* a block of TG_PG_ID_BLOCK numbers no other process gets (the
         * sequence counts in blocks); without the server, numbers go on
         * from the last block: the id's random bytes keep it apart */
        if (tg_pg_conn_get(e, &db) == 0 &&
            run(db, "SELECT nextval('decision_ids')", 0, NULL, NULL, &res) ==
                0) {
            int64_t b = tg_pg_i64(res, 0, 0);

            if (b > 0) {
                e->id_next = (uint64_t)b;
                e->id_end = (uint64_t)b + TG_PG_ID_BLOCK;
            }
            PQclear(res);
            tg_pg_conn_put(e, db, 1);
        } else {
            tg_pg_conn_put(e, db, 0);
        }
        /* without the server: this process goes on for a block of its
         * own (asked again only a block later, so an outage does not cost
         * every request a connection attempt) */
        if (e->id_next >= e->id_end)
            e->id_end = e->id_next + TG_PG_ID_BLOCK;
    }
    v = e->id_next++;
    pthread_mutex_unlock(&e->id_mu);
    return v;
}

int tg_pg_ready(struct tg_pg *e)
{
    return e ? atomic_load(&e->ready) : 0;
}

const char *tg_pg_failure(struct tg_pg *e)
{
    return e ? atomic_load(&e->failure) : NULL;
}

int tg_pg_append(struct tg_pg *e, const struct tg_evidence_record *r)
{
    struct tg_pg_item it;

    if (!e || !tg_store_record_valid(r))
        return TG_EINVAL;
    if (r->actions_json && !tg_pg_outbox_valid(r->actions_json))
        return TG_EINVAL;
    memset(&it, 0, sizeof it);
    it.r = r;
    if (r->justification_norm) {
        if (tg_cf_digest(r->justification_norm, it.jd) ||
            tg_cf_digest(r->ticket, it.td))
            return TG_EIO;
        it.has_cf = 1;
    }
    return tg_pg_enqueue(e, &it);
}

int tg_pg_append_entry(struct tg_pg *e, const struct tg_evidence_entry *en)
{
    struct tg_pg_item it;
    char *id;
    int rc;

    if (!e)
        return TG_EINVAL;
    memset(&it, 0, sizeof it);
    if ((rc = tg_store_entry_prepare(en, &id, it.en_sha)))
        return rc;
    it.en = en;
    it.en_id = id;
    rc = tg_pg_enqueue(e, &it);
    free(id);
    return rc;
}

int tg_pg_bind_jti(struct tg_pg *e, const char *source, const char *jti,
                   const unsigned char body_sha256[32], int64_t time)
{
    struct tg_evidence_record r;
    struct tg_pg_item it;

    if (!e || !source || !jti || !body_sha256)
        return TG_EINVAL;
    memset(&r, 0, sizeof r);
    r.source = source;
    r.jti = jti;
    memcpy(r.body_sha256, body_sha256, 32);
    r.time = time;
    memset(&it, 0, sizeof it);
    it.r = &r;
    it.jti_only = 1;
    return tg_pg_enqueue(e, &it);
}
