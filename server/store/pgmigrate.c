/* pgmigrate.c - chains moved between the backends: migrate, archive. */

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
    {"records", NULL, /* tg_sq_records_cols, by the file's version */
     "INSERT INTO records(" TG_PG_RECORD_COLUMNS ") VALUES ($1, $2, $3, $4,"
     " $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
     TG_PG_RECORD_NCOLS, 0},
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

#define MAX_COLS TG_PG_RECORD_NCOLS

/* Copies table t of src into dst (inside dst's transaction). */
static int copy_table(sqlite3 *src, PGconn *dst, int t, int version,
                      uint64_t *rows, const char **why)
{
    const char *sel = TABLES[t].select;
    sqlite3_stmt *st = NULL;
    char rsel[400];
    int rc = TG_EIO, s;

    if (!sel) {
        /* every column of the file's version, NULL for those it has not
         * (kind, judged before version 2; facts before 3) */
        int n = snprintf(rsel, sizeof rsel,
                         "SELECT %s FROM records ORDER BY seq",
                         tg_sq_records_cols(version));

        if (n < 0 || (size_t)n >= sizeof rsel)
            return TG_EIO;
        sel = rsel;
    }
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

/* The source opened for the copy: its chain verified first (what arrives
 * then verifies, or the copy is wrong), one read transaction, the schema
 * version of its records table. Returns 0 or an error with *why. */
static int migrate_source(const char *from_path, const unsigned char *key,
                          size_t keylen, struct tg_evidence_migration *out,
                          sqlite3 **src, int *version, const char **why)
{
    int rc;

    if ((rc = tg_sq_verify_file(from_path, key, keylen, &out->source))) {
        *why = "the SQLite store cannot be read";
        return rc;
    }
    if (!out->source.intact) {
        *why = "the SQLite store does not verify; nothing was copied";
        return TG_ECONFLICT;
    }
    if (tg_sq_open_db(from_path, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
                      DEFAULT_BUSY_MS, src) ||
        tg_sq_exec(*src, "BEGIN") || tg_sq_records_version(*src, version)) {
        *why = "the SQLite store cannot be read";
        return TG_EIO;
    }
    return 0;
}

/* The target: connected, its tables made, a transaction holding the
 * chain's lock (*began), and empty. Returns 0 or an error with *why. */
static int migrate_target(const char *to_url, PGconn **dst, int *began,
                          const char **why)
{
    char lock[80];
    int n = snprintf(lock, sizeof lock,
                     "SELECT pg_advisory_xact_lock(%" PRId64 ")",
                     TG_PG_CHAIN_LOCK);

    if (n < 0 || (size_t)n >= sizeof lock)
        return TG_EIO;
    if (tg_pg_connect(to_url, 0, dst, why))
        return TG_EIO;
    if (tg_pg_schema(*dst)) {
        *why = "the tables cannot be created in the database";
        return TG_EIO;
    }
    if (tg_pg_exec(*dst, "BEGIN")) {
        *why = "PostgreSQL refused the transaction";
        return TG_EIO;
    }
    *began = 1;
    if (tg_pg_exec(*dst, lock)) {
        *why = "the chain's lock was not granted";
        return TG_EIO;
    }
    if (!target_empty(*dst)) {
        *why = "the PostgreSQL store is not empty; migrate into a new database";
        return TG_EINVAL;
    }
    return 0;
}

/* Copies every table of src into dst and commits (*began cleared). */
static int migrate_copy(sqlite3 *src, PGconn *dst, int version,
                        struct tg_evidence_migration *out, int *began,
                        const char **why)
{
    int rc;

    for (int t = 0; t < (int)(sizeof TABLES / sizeof TABLES[0]); t++) {
        uint64_t *count = t == 1   ? &out->records
                          : t == 2 ? &out->jti
                          : t == 4 ? &out->actions
                                   : &out->other;

        if ((rc = copy_table(src, dst, t, version, count, why)))
            return rc;
    }
    /* the outbox's ids go on after the copied ones */
    if (carry_ids(src, dst) ||
        tg_pg_exec(dst, "SELECT setval(pg_get_serial_sequence('outbox',"
                        " 'id'), coalesce(max(id), 0) + 1, false)"
                        " FROM outbox") ||
        tg_pg_exec(dst, "COMMIT")) {
        *why = "PostgreSQL refused the commit";
        return TG_EIO;
    }
    *began = 0;
    return 0;
}

int tg_evidence_migrate(const char *from_path, const char *to_url,
                        const unsigned char *key, size_t keylen,
                        struct tg_evidence_migration *out, const char **why)
{
    sqlite3 *src = NULL;
    PGconn *dst = NULL;
    const char *w = NULL;
    int version = 1, began = 0, rc;

    if (!from_path || !to_url || !out || tg_store_is_pg_url(from_path) ||
        !tg_store_is_pg_url(to_url))
        return TG_EINVAL;
    memset(out, 0, sizeof *out);
    if ((rc = migrate_source(from_path, key, keylen, out, &src, &version,
                             &w)) ||
        (rc = migrate_target(to_url, &dst, &began, &w)) ||
        (rc = migrate_copy(src, dst, version, out, &began, &w)))
        goto out;
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

/* -------------------------------------------------------------- archive */

/*
 * `audit archive` on PostgreSQL: the records older than a seq go to a new
 * SQLite file (the same archive format as the SQLite store's: its
 * checkpoints row is the anchor its first record links to), then one
 * transaction of the database, under the chain's lock, records the last
 * moved record as the new anchor and deletes the moved records.
 */

/* Copies row i of res (TG_PG_RECORD_COLUMNS) into the archive's records
 * (st prepared on it). */
static int archive_row(void *arg, const PGresult *res, int i)
{
    sqlite3_stmt *st = arg;
    int rc;

    for (int k = 0; k < TG_PG_RECORD_NCOLS; k++) {
        if (PQgetisnull(res, i, k))
            sqlite3_bind_null(st, k + 1);
        else if (k == 0 || k == 7)
            sqlite3_bind_int64(st, k + 1, tg_pg_i64(res, i, k));
        else
            sqlite3_bind_text(st, k + 1, PQgetvalue(res, i, k),
                              PQgetlength(res, i, k), SQLITE_STATIC);
    }
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? 0 : TG_EIO;
}

/* Writes the records up to last (and the anchor aseq they link to) of db
 * into a new SQLite file at path, created with O_EXCL. */
static int archive_write(PGconn *db, const char *path, int64_t last,
                         int64_t aseq)
{
    sqlite3 *a = NULL;
    sqlite3_stmt *st = NULL;
    char l[24], s[24];
    const char *v[1] = {l}, *va[1] = {s};
    PGresult *res = NULL;
    int fd, rc = TG_EIO;

    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0)
        return errno == EEXIST ? TG_EINVAL : TG_EIO;
    close(fd);
    if (!tg_chain_int_text(last, l, sizeof l) ||
        !tg_chain_int_text(aseq, s, sizeof s) ||
        tg_sq_open_db(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                      DEFAULT_BUSY_MS, &a) ||
        tg_sq_exec(a, "PRAGMA synchronous=FULL") ||
        tg_sq_exec(a, tg_sq_schema) || tg_sq_exec(a, "BEGIN") ||
        sqlite3_prepare_v2(a,
                           "INSERT INTO records(" RECORD_COLUMNS_V3
                           ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,"
                           " ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
                           -1, &st, NULL) != SQLITE_OK)
        goto out;
    if (tg_pg_exec(db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"))
        goto out;
    rc = tg_pg_each_row(db,
                        "SELECT " TG_PG_RECORD_COLUMNS " FROM records"
                        " WHERE seq <= $1 ORDER BY seq",
                        1, v, archive_row, st);
    if (!rc && aseq > 0) {
        PGresult *r = PQexecParams(db,
                                   "SELECT seq, hash, mac, first_seq, count,"
                                   " archived_at, archive FROM checkpoints"
                                   " WHERE seq = $1",
                                   1, NULL, va, NULL, NULL, 0);
        sqlite3_stmt *ck = NULL;

        rc = TG_EIO;
        if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
            sqlite3_prepare_v2(a,
                               "INSERT INTO checkpoints(seq, hash, mac,"
                               " first_seq, count, archived_at, archive)"
                               " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                               -1, &ck, NULL) == SQLITE_OK) {
            for (int k = 0; k < 7; k++) {
                if (PQgetisnull(r, 0, k))
                    sqlite3_bind_null(ck, k + 1);
                else if (k == 1 || k == 2 || k == 6)
                    sqlite3_bind_text(ck, k + 1, PQgetvalue(r, 0, k), -1,
                                      SQLITE_STATIC);
                else
                    sqlite3_bind_int64(ck, k + 1, tg_pg_i64(r, 0, k));
            }
            rc = sqlite3_step(ck) == SQLITE_DONE ? 0 : TG_EIO;
        }
        sqlite3_finalize(ck);
        PQclear(r);
    }
    tg_pg_exec(db, "COMMIT");
    if (!rc)
        rc = tg_sq_exec(a, "COMMIT") ? TG_EIO : 0;
out:
    PQclear(res);
    sqlite3_finalize(st);
    tg_sq_close_db(a);
    if (rc)
        unlink(path); /* ours: made above with O_EXCL */
    return rc;
}

/* The anchor: last (still with hash head) recorded as the checkpoint of the
 * archive [first, last], the moved records deleted; one transaction. */
static int archive_anchor(PGconn *db, int64_t first, int64_t last,
                          const char *path, const char *head)
{
    char f[24], l[24], n[24], t[24], lock[80];
    const char *v[5] = {l, f, n, t, path}, *vh[2] = {l, head};
    PGresult *res = NULL;
    int rc = TG_EIO, k;

    k = snprintf(lock, sizeof lock, "SELECT pg_advisory_xact_lock(%" PRId64 ")",
                 TG_PG_CHAIN_LOCK);
    if (k < 0 || (size_t)k >= sizeof lock ||
        !tg_chain_int_text(first, f, sizeof f) ||
        !tg_chain_int_text(last, l, sizeof l) ||
        !tg_chain_int_text(last - first + 1, n, sizeof n) ||
        !tg_chain_int_text((int64_t)time(NULL), t, sizeof t))
        return TG_EIO;
    if (tg_pg_exec(db, "BEGIN"))
        return TG_EIO;
    if ((rc = tg_pg_exec(db, lock)))
        goto out;
    res = PQexecParams(db, "SELECT 1 FROM records WHERE seq = $1 AND hash = $2",
                       2, NULL, vh, NULL, NULL, 0);
    rc = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1
             ? 0
             : TG_EIO; /* the record changed since the copy */
    PQclear(res);
    if (rc)
        goto out;
    res = PQexecParams(db,
                       "INSERT INTO checkpoints(seq, hash, mac, first_seq,"
                       " count, archived_at, archive) SELECT seq, hash, mac,"
                       " $2, $3, $4, $5 FROM records WHERE seq = $1",
                       5, NULL, v, NULL, NULL, 0);
    rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : tg_pg_fail(res);
    PQclear(res);
    if (rc)
        goto out;
    res = PQexecParams(db, "DELETE FROM records WHERE seq <= $1", 1, NULL, v,
                       NULL, NULL, 0);
    rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : tg_pg_fail(res);
    PQclear(res);
    if (!rc)
        rc = tg_pg_exec(db, "COMMIT");
out:
    if (rc)
        tg_pg_exec(db, "ROLLBACK");
    return rc;
}

int tg_pg_archive_file(const char *url, uint64_t before,
                       const char *archive_path, const unsigned char *key,
                       size_t keylen, int busy_ms, uint64_t *moved)
{
    struct tg_evidence_verdict v;
    PGconn *db = NULL;
    PGresult *res = NULL;
    char b[24];
    const char *vb[1] = {b}, *why;
    int64_t aseq, last, first;
    int rc, written = 0;

    if (!url || !archive_path || !moved || before > INT64_MAX)
        return TG_EINVAL;
    *moved = 0;
    if (access(archive_path, F_OK) == 0)
        return TG_EINVAL;
    if ((rc = tg_pg_verify_file(url, key, keylen, &v)))
        return rc;
    if (!v.intact)
        return TG_ECONFLICT; /* archiving would anchor the tampering */
    aseq = (int64_t)v.anchor_seq;
    if (!tg_chain_int_text((int64_t)before, b, sizeof b) ||
        tg_pg_connect(url, busy_ms, &db, &why))
        return TG_EIO;
    res = PQexecParams(db,
                       "SELECT max(seq), min(seq) FROM records"
                       " WHERE seq < $1",
                       1, NULL, vb, NULL, NULL, 0);
    rc = TG_EIO;
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        goto out;
    rc = 0;
    if (PQgetisnull(res, 0, 0))
        goto out; /* nothing older than before */
    last = tg_pg_i64(res, 0, 0);
    first = tg_pg_i64(res, 0, 1);
    if (last <= aseq)
        goto out;
    if ((rc = archive_write(db, archive_path, last, aseq)))
        goto out;
    written = 1;
    /* the archive stands on its own before anything leaves the database */
    if ((rc = tg_sq_verify_file(archive_path, key, keylen, &v)) || !v.intact ||
        v.count != (uint64_t)(last - first + 1) ||
        v.head_seq != (uint64_t)last) {
        rc = TG_EIO;
        goto out;
    }
    if ((rc = archive_anchor(db, first, last, archive_path, v.head_hash)))
        goto out;
    written = 0; /* the archive holds the only copy now: kept */
    *moved = (uint64_t)(last - first + 1);
out:
    PQclear(res);
    PQfinish(db);
    if (written)
        unlink(archive_path);
    return rc == 0 || rc == TG_EINVAL || rc == TG_ECONFLICT || rc == TG_EBUSY ||
                   rc == TG_ENOMEM
               ? rc
               : TG_EIO;
}
