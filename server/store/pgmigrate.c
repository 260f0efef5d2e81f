/* pgmigrate.c - an SQLite store copied row for row into PostgreSQL. */

#include "server/store/internal.h"
#include "server/store/pg.h"

/*
 * The chain moves as it is: every column of every record (seq, hashes,
 * MACs, kinds, judged tickets), the checkpoint anchors, and beside the
 * chain the single-use jti, the copy-forward uses and the outbox, so that a
 * server on the new store answers replays and acts back as the old one
 * would have. Nothing is rehashed: the target then verifies on its own.
 */

/* The tables copied, in order: the statement read from SQLite and the
 * insert into PostgreSQL ($1.. in the same column order). n: columns. An
 * optional table absent from an old file is skipped (opt). */
static const struct {
    const char *name, *select, *insert;
    int n, opt;
} TABLES[] = {
    {"checkpoints",
     "SELECT seq, hash, mac, first_seq, count, archived_at, archive"
     " FROM checkpoints ORDER BY seq",
     "INSERT INTO checkpoints(seq, hash, mac, first_seq, count, archived_at,"
     " archive) VALUES ($1, $2, $3, $4, $5, $6, $7)",
     7, 0},
    {"records", NULL, /* RECORD_COLUMNS or _OLD, by the file's version */
     "INSERT INTO records(" TG_PG_RECORD_COLUMNS ") VALUES ($1, $2, $3, $4,"
     " $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
     15, 0},
    {"jti_use",
     "SELECT source, jti, body_sha256, decision_id, time FROM jti_use",
     "INSERT INTO jti_use(source, jti, body_sha256, decision_id, time)"
     " VALUES ($1, $2, $3, $4, $5)",
     5, 1},
    {"just_use", "SELECT just_norm, ticket, last_time FROM just_use",
     "INSERT INTO just_use(just_norm, ticket, last_time) VALUES ($1, $2,"
     " $3)",
     3, 1},
    {"outbox",
     "SELECT id, decision_id, ticket, system, action, params, state,"
     " attempts, tries, next_at, created_at, updated_at, last_error"
     " FROM outbox ORDER BY id",
     "INSERT INTO outbox(id, decision_id, ticket, system, action, params,"
     " state, attempts, tries, next_at, created_at, updated_at, last_error)"
     " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
     13, 1},
};

#define MAX_COLS 15

/* Copies table t of src into dst (inside dst's transaction). */
static int copy_table(sqlite3 *src, PGconn *dst, int t, int migrated,
                      uint64_t *rows, const char **why)
{
    const char *sel = TABLES[t].select;
    sqlite3_stmt *st = NULL;
    int rc = TG_EIO, s;

    if (!sel)
        sel = migrated ? "SELECT " RECORD_COLUMNS " FROM records ORDER BY seq"
                       : "SELECT " RECORD_COLUMNS_OLD
                         " FROM records ORDER BY seq";
    if (sqlite3_prepare_v2(src, sel, -1, &st, NULL) != SQLITE_OK) {
        *why = "the SQLite file is not a ticketgate store";
        return TABLES[t].opt ? 0 : TG_EIO;
    }
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        const char *v[MAX_COLS];
        int len[MAX_COLS], fmt[MAX_COLS];
        char num[MAX_COLS][24];
        PGresult *res;

        for (int i = 0; i < TABLES[t].n; i++) {
            int type = sqlite3_column_type(st, i);

            fmt[i] = 0;
            if (type == SQLITE_NULL) {
                v[i] = NULL;
                len[i] = 0;
            } else if (type == SQLITE_INTEGER) {
                len[i] = (int)tg_chain_int_text(sqlite3_column_int64(st, i),
                                                num[i], sizeof num[i]);
                v[i] = num[i];
            } else {
                /* text as the bytes stored: the hash covers them */
                v[i] = (const char *)sqlite3_column_text(st, i);
                len[i] = sqlite3_column_bytes(st, i);
                if (!v[i]) {
                    rc = TG_ENOMEM;
                    goto out;
                }
            }
        }
        res = PQexecParams(dst, TABLES[t].insert, TABLES[t].n, NULL, v, len,
                           fmt, 0);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            tg_log_event(TG_LOG_ERROR, "audit_migrate", "%s: %s",
                         TABLES[t].name, PQerrorMessage(dst));
            PQclear(res);
            *why = "PostgreSQL refused a row (its message is logged)";
            goto out;
        }
        PQclear(res);
        (*rows)++;
    }
    if (s != SQLITE_DONE) {
        *why = "reading the SQLite file failed";
        goto out;
    }
    rc = 0;
out:
    sqlite3_finalize(st);
    return rc;
}

/* 1 when the database's chain tables hold no row. */
static int target_empty(PGconn *db)
{
    PGresult *res = PQexec(db, "SELECT (SELECT count(*) FROM records) +"
                               " (SELECT count(*) FROM checkpoints) +"
                               " (SELECT count(*) FROM outbox) +"
                               " (SELECT count(*) FROM jti_use)");
    int empty = PQresultStatus(res) == PGRES_TUPLES_OK &&
                strcmp(PQgetvalue(res, 0, 0), "0") == 0;

    PQclear(res);
    return empty;
}

/* The next decision-id block after the file's (meta id_next). */
static int carry_ids(sqlite3 *src, PGconn *dst)
{
    sqlite3_stmt *st = NULL;
    char sql[96];
    int64_t next = 1;
    int n;

    if (sqlite3_prepare_v2(src, "SELECT value FROM meta WHERE key = 'id_next'",
                           -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        next = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (next < 1)
        next = 1;
    n = snprintf(sql, sizeof sql, "SELECT setval('decision_ids', %" PRId64 ")",
                 next);
    if (n < 0 || (size_t)n >= sizeof sql)
        return TG_EIO;
    return tg_pg_exec(dst, sql);
}

int tg_evidence_migrate(const char *from_path, const char *to_url,
                        const unsigned char *key, size_t keylen,
                        struct tg_evidence_migration *out, const char **why)
{
    sqlite3 *src = NULL;
    PGconn *dst = NULL;
    const char *w = NULL, *cw;
    int migrated = 0, began = 0, rc;

    if (!from_path || !to_url || !out || tg_store_is_pg_url(from_path) ||
        !tg_store_is_pg_url(to_url))
        return TG_EINVAL;
    memset(out, 0, sizeof *out);
    /* the chain must hold before it is moved: what arrives then verifies
     * or the copy is wrong */
    if ((rc = tg_sq_verify_file(from_path, key, keylen, &out->source))) {
        w = "the SQLite store cannot be read";
        goto out;
    }
    if (!out->source.intact) {
        w = "the SQLite store does not verify; nothing was copied";
        rc = TG_ECONFLICT;
        goto out;
    }
    rc = TG_EIO;
    if (tg_sq_open_db(from_path, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
                      DEFAULT_BUSY_MS, &src) ||
        tg_sq_exec(src, "BEGIN") || tg_sq_records_migrated(src, &migrated)) {
        w = "the SQLite store cannot be read";
        goto out;
    }
    if (tg_pg_connect(to_url, 0, &dst, &cw)) {
        w = cw;
        goto out;
    }
    if (tg_pg_schema(dst)) {
        w = "the tables cannot be created in the database";
        goto out;
    }
    if (tg_pg_exec(dst, "BEGIN")) {
        w = "PostgreSQL refused the transaction";
        goto out;
    }
    began = 1;
    {
        char lock[80];
        int n = snprintf(lock, sizeof lock,
                         "SELECT pg_advisory_xact_lock(%" PRId64 ")",
                         TG_PG_CHAIN_LOCK);

        if (n < 0 || (size_t)n >= sizeof lock || tg_pg_exec(dst, lock)) {
            w = "the chain's lock was not granted";
            goto out;
        }
    }
    if (!target_empty(dst)) {
        w = "the PostgreSQL store is not empty; migrate into a new database";
        rc = TG_EINVAL;
        goto out;
    }
    for (int t = 0; t < (int)(sizeof TABLES / sizeof TABLES[0]); t++) {
        uint64_t *count = t == 1   ? &out->records
                          : t == 2 ? &out->jti
                          : t == 4 ? &out->actions
                                   : &out->other;

        if ((rc = copy_table(src, dst, t, migrated, count, &w)))
            goto out;
    }
    /* the outbox's ids go on after the copied ones */
    if (carry_ids(src, dst) ||
        tg_pg_exec(dst, "SELECT setval(pg_get_serial_sequence('outbox',"
                        " 'id'), coalesce(max(id), 0) + 1, false)"
                        " FROM outbox") ||
        tg_pg_exec(dst, "COMMIT")) {
        w = "PostgreSQL refused the commit";
        rc = TG_EIO;
        goto out;
    }
    began = 0;
    /* and on the other side, on its own */
    if ((rc = tg_pg_verify_file(to_url, key, keylen, &out->target))) {
        w = "the copy cannot be read back";
        goto out;
    }
    if (!out->target.intact || out->target.count != out->source.count ||
        strcmp(out->target.head_hash, out->source.head_hash) != 0) {
        w = "the copy does not verify as the original did";
        rc = TG_ECONFLICT;
        goto out;
    }
    rc = 0;
out:
    if (began)
        tg_pg_exec(dst, "ROLLBACK");
    if (dst)
        PQfinish(dst);
    if (src) {
        tg_sq_exec(src, "COMMIT");
        tg_sq_close_db(src);
    }
    if (why)
        *why = w;
    return rc;
}
