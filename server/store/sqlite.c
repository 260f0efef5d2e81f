/* sqlite.c - the SQLite backend: schema, statements, open and close. */

#include "server/store/internal.h"

const char tg_sq_schema[] =
    JTI_SCHEMA
    "CREATE TABLE IF NOT EXISTS records("
    " seq INTEGER PRIMARY KEY,"
    " decision_id TEXT NOT NULL UNIQUE,"
    " ticket TEXT NOT NULL,"
    " source TEXT NOT NULL,"
    " delivery_id TEXT,"
    " body_sha256 TEXT NOT NULL,"
    " policy TEXT NOT NULL,"
    " time INTEGER NOT NULL,"
    " decision TEXT NOT NULL,"
    " just_norm TEXT,"
    " prev_hash TEXT NOT NULL,"
    " hash TEXT NOT NULL,"
    " mac TEXT,"
    /* issue 13 (schema version 2): NULL kind is a decision of version 1 */
    " kind TEXT,"
    " judged TEXT,"
    /* issues 13/14 (schema version 3): the facts document of a decision */
    " facts TEXT);"
    "CREATE UNIQUE INDEX IF NOT EXISTS records_delivery"
    " ON records(source, delivery_id) WHERE delivery_id IS NOT NULL;"
    "CREATE INDEX IF NOT EXISTS records_ticket ON records(ticket, seq);"
    /* copy-forward counts read just_use (below); this index was theirs */
    "DROP INDEX IF EXISTS records_just;"
    "CREATE TABLE IF NOT EXISTS checkpoints("
    " seq INTEGER PRIMARY KEY,"
    " hash TEXT NOT NULL,"
    " mac TEXT,"
    " first_seq INTEGER NOT NULL,"
    " count INTEGER NOT NULL,"
    " archived_at INTEGER NOT NULL,"
    " archive TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY,"
    " value INTEGER NOT NULL);"
    /* Copy-forward uses, derived from records (so not part of the chain):
     * one row per justification and ticket with its latest use, however
     * often one ticket was re-evaluated. The counts themselves come from
     * the index in memory (struct tg_cf_index) that this table fills at open;
     * SQLite counts here only for what that index cannot answer. No
     * (just_norm, last_time) index: it cost a page write per record, for
     * reads that now seldom happen. */
    "CREATE TABLE IF NOT EXISTS just_use("
    " just_norm TEXT NOT NULL,"
    " ticket TEXT NOT NULL,"
    " last_time INTEGER NOT NULL,"
    " PRIMARY KEY(just_norm, ticket)) WITHOUT ROWID;"
    /* Stores made before just_use existed: fill it once. */
    "INSERT OR IGNORE INTO just_use(just_norm, ticket, last_time)"
    " SELECT just_norm, ticket, MAX(time) FROM records"
    " WHERE just_norm IS NOT NULL"
    " AND NOT EXISTS (SELECT 1 FROM just_use) GROUP BY just_norm, ticket;"
    "PRAGMA user_version=3;";

/* --------------------------------------------------------------- sqlite */

/* The TG_E* of an SQLite failure: a lock held too long is TG_EBUSY (retry
 * soon); full disk, I/O, read-only, cannot-open, corruption are TG_EIO. */
int tg_sq_map(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return TG_EBUSY;
    case SQLITE_NOMEM:
        return TG_ENOMEM;
    default:
        return TG_EIO;
    }
}

/* Words for an errno SQLite recorded, or NULL. */
static const char *errno_words(int sys)
{
    switch (sys) {
    case ENOSPC:
        return "disk full";
    case EDQUOT:
        return "disk quota exceeded";
    case EFBIG:
        return "file size limit reached";
    case EROFS:
        return "read-only file system";
    case EACCES:
    case EPERM:
        return "permission denied";
    case ENOENT:
        return "file or directory not found";
    case ENOTDIR:
        return "a part of the path is not a directory";
    case EIO:
        return "I/O error (the device reported a failure)";
    default:
        return NULL;
    }
}

/* Words for an extended result code, or NULL. */
static const char *extended_words(int code)
{
    switch (code) {
    case SQLITE_READONLY_DBMOVED:
        return "the database file was deleted or replaced";
    case SQLITE_IOERR_WRITE:
        return "I/O error while writing";
    case SQLITE_IOERR_FSYNC:
    case SQLITE_IOERR_DIR_FSYNC:
        return "I/O error while syncing to disk";
    case SQLITE_IOERR_READ:
    case SQLITE_IOERR_SHORT_READ:
        return "I/O error while reading";
    case SQLITE_IOERR_TRUNCATE:
        return "I/O error while truncating";
    case SQLITE_IOERR_NOMEM:
        return "out of memory";
    case SQLITE_IOERR_LOCK:
    case SQLITE_IOERR_RDLOCK:
    case SQLITE_IOERR_UNLOCK:
    case SQLITE_IOERR_CHECKRESERVEDLOCK:
        return "I/O error while locking";
    case SQLITE_IOERR_SHMOPEN:
    case SQLITE_IOERR_SHMSIZE:
    case SQLITE_IOERR_SHMLOCK:
    case SQLITE_IOERR_SHMMAP:
        return "I/O error on the shared-memory (-shm) file";
    default:
        return NULL;
    }
}

/* Words for a primary result code. */
static const char *primary_words(int primary)
{
    switch (primary) {
    case SQLITE_FULL:
        return "disk full";
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return "locked by another connection past store.busy_timeout_ms";
    case SQLITE_READONLY:
        return "read-only (the file or its directory cannot be written)";
    case SQLITE_PERM:
        return "permission denied";
    case SQLITE_IOERR:
        return "I/O error";
    case SQLITE_NOMEM:
        return "out of memory";
    case SQLITE_CORRUPT:
        return "the database file is corrupt";
    case SQLITE_NOTADB:
        return "not a database file";
    case SQLITE_CANTOPEN:
        return "the file cannot be opened";
    case SQLITE_PROTOCOL:
        return "file locking protocol error";
    case SQLITE_OK:
        return "no error";
    default:
        return "unexpected SQLite error";
    }
}

const char *tg_evidence_cause(int code, int sys)
{
    int primary = code & 0xff;
    const char *w = NULL;

    /* SQLite records errno only for these (sqlite3SystemError); for any
     * other code it may be stale. */
    if (primary == SQLITE_IOERR || primary == SQLITE_CANTOPEN)
        w = errno_words(sys);
    if (!w)
        w = extended_words(code);
    return w ? w : primary_words(primary);
}

const char *tg_sq_fail_words(const struct fail *f)
{
    if (f->what)
        return f->what;
    /* no SQLite error behind the failure: one of ours */
    if (f->code == SQLITE_OK)
        return "an internal error (out of memory or a hashing failure)";
    return tg_evidence_cause(f->code, f->sys);
}

/* Notes the last error of db in f (when both are there). */
void tg_sq_fail_note(struct fail *f, sqlite3 *db)
{
    if (!f || !db)
        return;
    f->code = sqlite3_extended_errcode(db);
    f->sys = sqlite3_system_errno(db);
    f->what = NULL;
}

int tg_sq_exec(sqlite3 *db, const char *sql)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);

    return rc == SQLITE_OK ? 0 : tg_sq_map(rc);
}

void tg_sq_close_db(sqlite3 *db)
{
    /* close_v2: should an error path leave a statement unfinalized, the
     * handle is freed with it instead of leaking as sqlite3_close would. */
    if (db)
        sqlite3_close_v2(db);
}

/* Opens path with flags, extended codes and busy timeout, through vfs
 * (NULL: the default). why (may be NULL) gets the cause of a failure. */
static int open_db_vfs(const char *path, int flags, int busy_ms,
                       const char *vfs, sqlite3 **out, struct fail *why)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, flags, vfs);

    if (rc != SQLITE_OK) {
        tg_sq_fail_note(why, db);
        tg_sq_close_db(db);
        return tg_sq_map(rc) == TG_ENOMEM ? TG_ENOMEM : TG_EIO;
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, busy_ms > 0 ? busy_ms : DEFAULT_BUSY_MS);
    *out = db;
    return 0;
}

int tg_sq_open_db(const char *path, int flags, int busy_ms, sqlite3 **out)
{
    return open_db_vfs(path, flags, busy_ms, NULL, out, NULL);
}

static int user_version(sqlite3 *db, int *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);

    if (rc != SQLITE_OK)
        return tg_sq_map(rc);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : tg_sq_map(rc);
}

/* The anchor the chain of db starts from: the checkpoint with the highest
 * seq, or genesis (0, zeros, no mac). mac gets "" when NULL. Returns 0,
 * TG_EINVAL when that checkpoint's hash is malformed (*seq is set), or the
 * SQLite failure (no checkpoints table: not a store). */
int tg_sq_read_anchor(sqlite3 *db, int64_t *seq, char hash[65], char mac[65])
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(
        db, "SELECT seq, hash, mac FROM checkpoints ORDER BY seq DESC LIMIT 1",
        -1, &st, NULL);

    if (rc != SQLITE_OK)
        return tg_sq_map(rc);
    *seq = 0;
    memcpy(hash, ZERO_HASH, 65);
    mac[0] = '\0';
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *h = (const char *)sqlite3_column_text(st, 1);
        const char *m = (const char *)sqlite3_column_text(st, 2);

        *seq = sqlite3_column_int64(st, 0);
        if (!h || sqlite3_column_bytes(st, 1) != 64) {
            rc = TG_EINVAL;
            goto out;
        }
        memcpy(hash, h, 65);
        if (m && sqlite3_column_bytes(st, 2) == 64)
            memcpy(mac, m, 65);
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? 0 : tg_sq_map(rc);
    }
out:
    sqlite3_finalize(st);
    return rc;
}

/* *out = the schema version of the records table of db by its columns: 3
 * (kind, judged and facts), 2 (kind and judged), else 1. Returns 0 or the
 * mapped SQLite error. */
int tg_sq_records_version(sqlite3 *db, int *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT"
                                " count(CASE WHEN name IN ('kind', 'judged')"
                                " THEN 1 END),"
                                " count(CASE WHEN name = 'facts' THEN 1 END)"
                                " FROM pragma_table_info('records')",
                                -1, &st, NULL);

    if (rc != SQLITE_OK)
        return tg_sq_map(rc);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        int v2 = sqlite3_column_int(st, 0) == 2;

        *out = v2 && sqlite3_column_int(st, 1) == 1 ? 3 : v2 ? 2 : 1;
        rc = 0;
    } else {
        rc = tg_sq_map(rc);
    }
    sqlite3_finalize(st);
    return rc;
}

/* *out = 1 when the records table of db has the kind and judged columns
 * (schema version 2 or later), else 0. Returns 0 or the mapped SQLite
 * error. */
int tg_sq_records_migrated(sqlite3 *db, int *out)
{
    int v = 1;
    int rc = tg_sq_records_version(db, &v);

    *out = v >= 2;
    return rc;
}

/* Every column of records in order (COL_*: sixteen), for a table of
 * schema version (tg_sq_records_version): NULL for the columns it has
 * not. A static string. */
const char *tg_sq_records_cols(int version)
{
    return version >= 3   ? RECORD_COLUMNS_V3
           : version == 2 ? RECORD_COLUMNS_V2
                          : RECORD_COLUMNS_V1_3;
}

/* Brings the records table of an older store to version 3: adds the kind
 * and judged columns (version 1) and the facts column (NULL in every
 * existing row, which keeps them hashed as v1 or v2). O(1) in SQLite: no
 * row is rewritten. One transaction; a no-op when already done. Returns 0
 * or the mapped error. */
int tg_sq_records_migrate(sqlite3 *db)
{
    int version = 1;
    int rc;

    if ((rc = tg_sq_exec(db, "BEGIN IMMEDIATE")))
        return rc;
    if ((rc = tg_sq_records_version(db, &version)))
        goto out;
    if (version < 2 &&
        (rc = tg_sq_exec(db, "ALTER TABLE records ADD COLUMN kind TEXT;"
                           "ALTER TABLE records ADD COLUMN judged TEXT;")))
        goto out;
    if (version < 3 &&
        (rc = tg_sq_exec(db, "ALTER TABLE records ADD COLUMN facts TEXT;"
                           "PRAGMA user_version=3;")))
        goto out;
    rc = tg_sq_exec(db, "COMMIT");
out:
    if (rc)
        tg_sq_exec(db, "ROLLBACK");
    return rc;
}

void tg_sq_wconn_close(struct wconn *w)
{
    sqlite3_finalize(w->head);
    sqlite3_finalize(w->dup);
    sqlite3_finalize(w->ins);
    sqlite3_finalize(w->meta);
    sqlite3_finalize(w->just);
    sqlite3_finalize(w->since);
    sqlite3_finalize(w->jti_get);
    sqlite3_finalize(w->jti_put);
    sqlite3_finalize(w->begin);
    sqlite3_finalize(w->commit);
    sqlite3_finalize(w->rollback);
    tg_sq_close_db(w->db);
    memset(w, 0, sizeof *w);
}

/*
 * Identifies the files w writes: pins the store file (create: the first
 * open) or checks that it is still the one pinned, and notes the -wal and
 * -shm files it opened. Returns 0, or TG_EIO with e->err (and e->gone).
 */
/* Sets the write connection's journal and sync modes, refusing a file it
 * may not write. Returns 0, or an error with *why when it has words for it
 * (else the connection's error says why). */
static int wconn_setup(struct tg_sq *e, struct wconn *w,
                       const char **why)
{
    const char *sync = e->sync == TG_SYNC_FULL ? "PRAGMA synchronous=FULL"
                                               : "PRAGMA synchronous=NORMAL";
    sqlite3_stmt *st = NULL;
    int rc;

    /* SQLite falls back to read-only on a file it may not write: for the
     * writer that is a failure, found now rather than at the first commit */
    if (sqlite3_db_readonly(w->db, "main") != 0) {
        *why = "read-only (the file or its directory cannot be written)";
        return TG_EIO;
    }
    /* Only take effect on a new file: auto_vacuum lets archive give pages
     * back; 8 KB pages hold three records with their judged tickets where
     * 4 KB pages held one once a record passed 2 KB (a Jira or ServiceNow
     * decision does): 2.8 KB of file a record instead of 4.7. */
    if ((rc = tg_sq_exec(w->db, "PRAGMA page_size=8192;"
                                "PRAGMA auto_vacuum=INCREMENTAL")))
        return rc;
    rc = sqlite3_prepare_v2(w->db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
    if (rc != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW ||
        sqlite3_stricmp((const char *)sqlite3_column_text(st, 0), "wal")) {
        /* a read-only file answers "delete": it cannot take our writes */
        if (rc == SQLITE_OK)
            *why = "read-only (the file or its directory cannot be written)";
        sqlite3_finalize(st);
        return TG_EIO;
    }
    sqlite3_finalize(st);
    if ((rc = tg_sq_exec(w->db, sync)) ||
        (rc = tg_sq_exec(w->db, "PRAGMA journal_size_limit=67108864")))
        return rc;
    return 0;
}

/* Creates the tables of a new store (create) or brings an older one's up
 * to date. Returns 0, or an error with *why when it has words for it. */
static int wconn_schema(struct wconn *w, int create, const char **why)
{
    int version = 0;
    int rc;

    if ((rc = user_version(w->db, &version)))
        return rc;
    if (version > SCHEMA_VERSION || (!create && version != SCHEMA_VERSION)) {
        *why = "not a ticketgate store of this version (schema version)";
        return TG_EIO;
    }
    /* A store of version 1 or 2: its records take the kind and judged
     * columns (issue 13) and the facts column (issues 13/14); its rows stay
     * as they are and verify as v1 or v2. */
    if ((version == 1 || version == 2) &&
        (rc = tg_sq_records_migrate(w->db)))
        return rc;
    if (version == 0) {
        if ((rc = tg_sq_exec(w->db, "BEGIN IMMEDIATE")))
            return rc;
        if ((rc = tg_sq_exec(w->db, tg_sq_schema)) ||
            (rc = tg_sq_exec(w->db, "COMMIT"))) {
            tg_sq_exec(w->db, "ROLLBACK");
            return rc;
        }
    } else if (create) {
        /* Stores made before the copy-forward index moved into memory:
         * their (just_norm, last_time) index only costs a page per write
         * now. Best effort: another writer may hold the lock. */
        tg_sq_exec(w->db, "DROP INDEX IF EXISTS just_use_time");
    }
    /* Stores made before single-use jti: not best effort, the statements
     * below need the table. A no-op once it exists. */
    if ((rc = tg_sq_exec(w->db, JTI_SCHEMA)))
        return rc;
    /* The act-back outbox (outbox.c), likewise for older stores. */
    return tg_sq_exec(w->db, tg_sq_outbox_schema);
}

/* Prepares the write connection's statements. Returns 0 or the mapped
 * SQLite error. */
static int wconn_prepare(struct wconn *w)
{
    int rc = 0;

#define PREP(stmt, sql)                                                    \
    do {                                                                   \
        int prc_ = sqlite3_prepare_v3(w->db, sql, -1,                      \
                                      SQLITE_PREPARE_PERSISTENT, &(stmt),  \
                                      NULL);                               \
        if (prc_ != SQLITE_OK) {                                           \
            rc = tg_sq_map(prc_);                                         \
            goto out;                                                      \
        }                                                                  \
    } while (0)
    PREP(w->head, "SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1");
    PREP(w->dup,
         "SELECT 1 FROM records WHERE source = ?1 AND delivery_id = ?2");
    PREP(w->ins, "INSERT INTO records(" RECORD_COLUMNS_V3 ") VALUES"
                 " (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,"
                 " ?14, ?15, ?16)");
    PREP(w->meta, "INSERT INTO meta(key, value) VALUES ('id_next', ?1)"
                  " ON CONFLICT(key) DO UPDATE SET value = max(value, ?1)");
    PREP(w->just, "INSERT INTO just_use(just_norm, ticket, last_time)"
                  " VALUES (?1, ?2, ?3) ON CONFLICT(just_norm, ticket)"
                  " DO UPDATE SET last_time = max(last_time, ?3)");
    PREP(w->since, "SELECT just_norm, ticket, time FROM records"
                   " WHERE seq > ?1 AND seq <= ?2 AND just_norm IS NOT NULL");
    PREP(w->jti_get, "SELECT body_sha256, decision_id FROM jti_use"
                     " WHERE source = ?1 AND jti = ?2");
    /* A jti bound by a skip (decision_id NULL) takes the record the same
     * body makes later (a gate added by a reload); nothing else changes. */
    PREP(w->jti_put, "INSERT INTO jti_use(source, jti, body_sha256,"
                     " decision_id, time) VALUES (?1, ?2, ?3, ?4, ?5)"
                     " ON CONFLICT(source, jti) DO UPDATE SET"
                     " decision_id = excluded.decision_id"
                     " WHERE decision_id IS NULL");
    PREP(w->begin, "BEGIN IMMEDIATE");
    PREP(w->commit, "COMMIT");
    PREP(w->rollback, "ROLLBACK");
#undef PREP
out:
    return rc;
}

int tg_sq_wconn_open(struct tg_sq *e, struct wconn *w, int create)
{
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
                (create ? SQLITE_OPEN_CREATE : 0);
    const char *why = NULL;
    int rc;

    memset(w, 0, sizeof *w);
    /* Never open another file found at the path: it would share this
     * process's -shm with ours. */
    if (!create && (why = tg_sq_db_moved(e))) {
        e->err = (struct fail){.what = why};
        e->gone = GONE_DB;
        return TG_EIO;
    }
    rc = open_db_vfs(e->path, flags, e->busy_ms, tg_sq_vfs_name(), &w->db,
                     &e->err);
    if (rc)
        return rc;
    /* Replaces SQLite's automatic checkpoint (see struct tg_sq). */
    sqlite3_wal_hook(w->db, tg_sq_wal_hook, e);
    if ((rc = wconn_setup(e, w, &why)) ||
        (rc = wconn_schema(w, create, &why)) || (rc = wconn_prepare(w)))
        goto out;
    rc = tg_sq_wconn_pin(e, w, create);
    if (rc)
        why = e->err.what;
out:
    if (rc) {
        if (why)
            e->err = (struct fail){.what = why};
        else
            tg_sq_fail_note(&e->err, w->db);
        tg_sq_wconn_close(w);
    }
    return rc;
}

/* Runs a prepared statement that returns no row. */
static int load_next_id(struct tg_sq *e)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(
        e->w.db,
        "SELECT max("
        " coalesce((SELECT value FROM meta WHERE key = 'id_next'), 1),"
        " coalesce((SELECT max(seq) FROM records), 0) + 1,"
        " coalesce((SELECT max(seq) FROM checkpoints), 0) + 1)",
        -1, &st, NULL);

    if (rc != SQLITE_OK)
        return tg_sq_map(rc);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        int64_t v = sqlite3_column_int64(st, 0);

        atomic_store(&e->next_id, v > 0 ? (uint64_t)v : 1);
        e->id_reserved = atomic_load(&e->next_id);
        rc = 0;
    } else {
        rc = tg_sq_map(rc);
    }
    sqlite3_finalize(st);
    return rc;
}

static void pool_drain(struct tg_sq *e)
{
    while (e->idle) {
        struct rconn *c = e->idle;

        e->idle = c->next;
        for (int i = 0; i < Q_N; i++)
            sqlite3_finalize(c->st[i]);
        tg_sq_close_db(c->db);
        free(c);
    }
    e->n_idle = 0;
}

static void evidence_free(struct tg_sq *e)
{
    tg_sq_wconn_close(&e->w);
    if (e->ids_fd >= 0)
        close(e->ids_fd);
    if (e->pool_inited) {
        pool_drain(e);
        pthread_mutex_destroy(&e->pool_mu);
    }
    if (e->inited) {
        tg_cf_cleanup(&e->cf);
        pthread_cond_destroy(&e->mt_cv);
        pthread_mutex_destroy(&e->mt_mu);
        pthread_cond_destroy(&e->token_cv);
        pthread_cond_destroy(&e->work);
        pthread_mutex_destroy(&e->mu);
    }
    if (e->key) {
        OPENSSL_cleanse(e->key, e->keylen);
        free(e->key);
    }
    free(e->path);
    free(e->wal_path);
    free(e->shm_path);
    free(e->ids_path);
    free(e);
}

static int init_sync(struct tg_sq *e)
{
    pthread_condattr_t ca;
    int stage = 0;

    if (pthread_condattr_init(&ca))
        return TG_ENOMEM;
    /* timed waits measure intervals, so a wall-clock step must not matter */
    if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC))
        goto out;
    if (pthread_mutex_init(&e->mu, NULL))
        goto out;
    stage = 1;
    if (pthread_cond_init(&e->work, NULL))
        goto out;
    stage = 2;
    if (pthread_cond_init(&e->token_cv, NULL))
        goto out;
    stage = 3;
    if (pthread_mutex_init(&e->mt_mu, NULL))
        goto out;
    stage = 4;
    if (pthread_cond_init(&e->mt_cv, &ca))
        goto out;
    stage = 5;
    if (tg_cf_init(&e->cf))
        goto out;
    stage = 6;
out:
    pthread_condattr_destroy(&ca);
    switch (stage) {
    case 6:
        e->inited = 1;
        if (pthread_mutex_init(&e->pool_mu, NULL))
            return TG_ENOMEM;
        e->pool_inited = 1;
        return 0;
    case 5:
        pthread_cond_destroy(&e->mt_cv);
        /* fall through */
    case 4:
        pthread_mutex_destroy(&e->mt_mu);
        /* fall through */
    case 3:
        pthread_cond_destroy(&e->token_cv);
        /* fall through */
    case 2:
        pthread_cond_destroy(&e->work);
        /* fall through */
    case 1:
        pthread_mutex_destroy(&e->mu);
        /* fall through */
    default:
        return TG_ENOMEM;
    }
}

/* Creates every missing directory above the store file, as `mkdir -p`
 * would: the example's ./data/ does not exist in a fresh clone, and the
 * configuration promises the store is created if absent. Mode 0700
 * whatever the umask: the decisions are nobody else's to read. Returns 0,
 * TG_ENOMEM, or TG_EIO with *sys the errno. */
static int make_parent_dirs(const char *path, int *sys)
{
    char *dir = strdup(path);
    int rc = TG_OK;
    if (!dir)
        return TG_ENOMEM;
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(dir, 0700) == 0) {
            (void)chmod(dir, 0700);
        } else if (errno != EEXIST) {
            *sys = errno;
            rc = TG_EIO;
            break;
        }
        *p = '/';
    }
    free(dir);
    return rc;
}

/* Creates the store file, when absent, with mode 0600 whatever the umask;
 * SQLite gives its -wal and -shm the mode of the database file. An
 * existing file keeps its mode (a warning says when others may read it).
 * Failures are left to SQLite's open, which says why. */
static void create_store_file(const char *path)
{
    struct stat st;
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                  0600);

    if (fd >= 0) {
        (void)fchmod(fd, 0600);
        close(fd);
        return;
    }
    if (errno == EEXIST && stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
        (st.st_mode & 077))
        tg_log_event(TG_LOG_WARN, "evidence_permissions",
                     "evidence store %s has mode %03o: other users may read "
                     "the decisions; chmod 600 it (and its -wal and -shm)",
                     path, (unsigned)(st.st_mode & 0777));
}

/* path with suffix appended, or NULL (out of memory). */
static char *path_with(const char *path, const char *suffix)
{
    size_t a = strlen(path), b = strlen(suffix);
    char *s = malloc(a + b + 1);

    if (s) {
        memcpy(s, path, a);
        memcpy(s + a, suffix, b + 1);
    }
    return s;
}

/* Stops the maintenance thread, then the writer once every queued append
 * is answered; appends from now on fail. */
static void stop_threads(struct tg_sq *e)
{
    if (!e->inited)
        return;
    pthread_mutex_lock(&e->mu);
    e->stop = 1;
    pthread_mutex_unlock(&e->mu);
    if (e->mt_started) {
        pthread_mutex_lock(&e->mt_mu);
        e->mt_stop = 1;
        pthread_cond_signal(&e->mt_cv);
        pthread_mutex_unlock(&e->mt_mu);
        pthread_join(e->mt, NULL);
        e->mt_started = 0;
    }
    if (e->writer_started) {
        pthread_mutex_lock(&e->mu);
        pthread_cond_signal(&e->work);
        pthread_mutex_unlock(&e->mu);
        pthread_join(e->writer, NULL);
        e->writer_started = 0;
    }
}

int tg_sq_open(const struct tg_config *c, struct tg_sq **out)
{
    struct tg_sq *e = NULL;
    int rc;

    if (!c || !c->store.path || !out)
        return TG_EINVAL;
    if (!sqlite3_threadsafe())
        return TG_EIO;
    e = calloc(1, sizeof *e);
    if (!e)
        return TG_ENOMEM;
    e->sync = c->store.sync;
    e->ids_fd = -1;
    e->busy_ms = c->store.busy_timeout_ms > 0 ? c->store.busy_timeout_ms
                                              : DEFAULT_BUSY_MS;
    rc = TG_ENOMEM;
    if (!(e->path = strdup(c->store.path)) ||
        !(e->wal_path = path_with(c->store.path, "-wal")) ||
        !(e->shm_path = path_with(c->store.path, "-shm")) ||
        !(e->ids_path = path_with(c->store.path, ".ids")))
        goto out;
    if (c->store.hmac_key && c->store.hmac_key_len) {
        if (!(e->key = malloc(c->store.hmac_key_len)))
            goto out;
        memcpy(e->key, c->store.hmac_key, c->store.hmac_key_len);
        e->keylen = c->store.hmac_key_len;
    }
    if ((rc = init_sync(e)))
        goto out;
    if ((rc = make_parent_dirs(e->path, &e->err.sys))) {
        if (rc == TG_EIO)
            tg_log_event(TG_LOG_ERROR, "evidence_error",
                         "evidence store %s: cannot create its directory: "
                         "%s",
                         e->path,
                         tg_evidence_cause(SQLITE_CANTOPEN, e->err.sys));
        goto out;
    }
    create_store_file(e->path);
    if ((rc = tg_sq_wconn_open(e, &e->w, 1)) || (rc = load_next_id(e)) ||
        (rc = tg_sq_cf_load(e, e->w.db))) {
        tg_log_event(TG_LOG_ERROR, "evidence_error",
                     "evidence store %s: cannot open: %s", e->path,
                     tg_sq_fail_words(&e->err));
        rc = rc == TG_ENOMEM ? TG_ENOMEM : TG_EIO;
        goto out;
    }
    tg_sq_ids_load(e);
    e->ready = 1;
    rc = TG_ENOMEM;
    if (pthread_create(&e->writer, NULL, tg_sq_writer_main, e))
        goto out;
    e->writer_started = 1;
    if (pthread_create(&e->mt, NULL, tg_sq_maintenance_main, e))
        goto out;
    e->mt_started = 1;
    *out = e;
    return 0;
out:
    stop_threads(e);
    evidence_free(e);
    return rc;
}

void tg_sq_close(struct tg_sq *e)
{
    if (!e)
        return;
    stop_threads(e);
    /* Remember the id counter for the next start (both threads are gone:
     * the write connection is ours), in the store and beside it. */
    if (e->w.db || e->gone)
        tg_sq_commit_batch(e, NULL, 1);
    tg_sq_ids_store(e, atomic_load(&e->next_id));
    evidence_free(e);
}

