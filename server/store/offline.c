/* offline.c - offline operations on a store file: verify, export, archive. */

#include "server/store/internal.h"

/* Prepares "SELECT <every column> FROM records<tail>" on db, the columns
 * in COL_* order whatever the file's schema version (NULL for those it has
 * not). Returns 0 or the mapped SQLite error (no records table: an
 * error). */
static int prepare_records(sqlite3 *db, const char *tail, sqlite3_stmt **st)
{
    int version = 1;
    char *sql;
    int rc = tg_sq_records_version(db, &version);

    *st = NULL;
    if (rc)
        return rc;
    if (!(sql = sqlite3_mprintf("SELECT %s FROM records%s",
                                tg_sq_records_cols(version), tail)))
        return TG_ENOMEM;
    rc = sqlite3_prepare_v2(db, sql, -1, st, NULL);
    sqlite3_free(sql);
    return rc == SQLITE_OK ? 0 : tg_sq_map(rc);
}

/* --------------------------------------------------------------- verify */

/* Copies s into buf, truncated to cap (the verdict's fixed buffers). */
static void set_reason(char *buf, size_t cap, const char *s)
{
    if (snprintf(buf, cap, "%s", s) < 0)
        buf[0] = '\0';
}

static void set_broken(struct tg_evidence_verdict *v, int64_t seq,
                       const unsigned char *id, const char *why)
{
    v->intact = 0;
    v->broken_seq = seq > 0 ? (uint64_t)seq : 0;
    /* the id is untrusted data of any length: truncated to the buffer */
    set_reason(v->broken_id, sizeof v->broken_id,
               id ? (const char *)id : "");
    set_reason(v->reason, sizeof v->reason, why);
}

/* The stored fields of the row at st into f (all but F_SEQ and F_TIME):
 * 0 with *why set when a first-format row (kind NULL) carries what only
 * later formats have, outside any hash; or TG_ENOMEM. */
static int row_fields(sqlite3_stmt *st, struct tg_chain_field f[F_N],
                      const char **why)
{
    for (int i = F_ID; i < F_N; i++) {
        /* columns 1..10 are decision_id..prev_hash, in preimage order;
         * kind, judged and facts follow hash and mac */
        int col = i < F_N1 ? i : COL_KIND + (i - F_KIND);

        if (i == F_TIME)
            continue;
        if (sqlite3_column_type(st, col) == SQLITE_NULL) {
            f[i].p = NULL;
            f[i].n = 0;
        } else {
            f[i].p = (const char *)sqlite3_column_text(st, col);
            f[i].n = (size_t)sqlite3_column_bytes(st, col);
            if (!f[i].p)
                return TG_ENOMEM;
        }
    }
    /* A row of the first format (kind NULL) never had a judged ticket or
     * facts: one there was added afterwards, outside the hash. */
    if (!f[F_KIND].p && f[F_JUDGED].p)
        *why = "it carries a judged ticket but has no kind (altered)";
    else if (!f[F_KIND].p && f[F_FACTS].p)
        *why = "it carries a facts document but has no kind (altered)";
    return 0;
}

/* Checks one link against the expectations. Returns 0 and fills *why when it
 * does not check out (why stays NULL when it does), or an error. */
static int check_row(sqlite3_stmt *st, int64_t expect_seq,
                     const char prev[65], const unsigned char *key,
                     size_t keylen, const char **why, char hash_out[65])
{
    struct tg_chain_field f[F_N];
    char seqtxt[24], timetxt[24], calc[65];
    unsigned char digest[32], want[32], have[32];
    int64_t seq = sqlite3_column_int64(st, 0);
    const char *hash, *mac;
    int rc;

    *why = NULL;
    if (seq != expect_seq) {
        *why = seq > expect_seq
                   ? "the record(s) before it are missing (seq not contiguous)"
                   : "seq out of order";
        return 0;
    }
    if ((rc = row_fields(st, f, why)) || *why)
        return rc;
    f[F_SEQ].p = seqtxt;
    f[F_SEQ].n = tg_chain_int_text(seq, seqtxt, sizeof seqtxt);
    f[F_TIME].p = timetxt;
    f[F_TIME].n = tg_chain_int_text(sqlite3_column_int64(st, F_TIME), timetxt,
                           sizeof timetxt);
    if (!f[F_PREV].p || f[F_PREV].n != 64 ||
        memcmp(f[F_PREV].p, prev, 64) != 0) {
        *why = "prev_hash is not the hash of the record before it";
        return 0;
    }
    /* the kind column picks v1 or later, facts v2 or v3 (internal.h) */
    if ((rc = tg_chain_hash(f, f[F_KIND].p != NULL, digest)))
        return rc;
    tg_digest_hex(digest, 32, calc);
    hash = (const char *)sqlite3_column_text(st, 11);
    if (!hash || sqlite3_column_bytes(st, 11) != 64 ||
        memcmp(hash, calc, 64) != 0) {
        *why = "its content does not match its hash (altered)";
        return 0;
    }
    if (keylen) {
        mac = (const char *)sqlite3_column_text(st, 12);
        if (!mac) {
            *why = "its MAC is missing";
            return 0;
        }
        if ((rc = tg_chain_mac(key, keylen, digest, want)))
            return rc;
        if (tg_chain_hex32(mac, (size_t)sqlite3_column_bytes(st, 12), have) ||
            CRYPTO_memcmp(want, have, 32) != 0) {
            *why = "its MAC does not verify with the configured key";
            return 0;
        }
    }
    memcpy(hash_out, calc, 65);
    return 0;
}

/* Reads the checkpoint anchor of db into *aseq and prev (and v's anchor and
 * head), and with a key checks its MAC. Returns 0 (v->intact cleared when
 * the anchor is malformed or its MAC does not verify) or TG_EIO with
 * v->reason. */
static int verify_anchor(sqlite3 *db, const unsigned char *key, size_t keylen,
                         struct tg_evidence_verdict *v, int64_t *aseq,
                         char prev[65])
{
    char amac[65];
    int rc;

    rc = tg_sq_read_anchor(db, aseq, prev, amac);
    if (rc == TG_EINVAL) {
        set_broken(v, *aseq, (const unsigned char *)"(checkpoint)",
                   "the checkpoint anchor's hash is malformed");
        return 0;
    }
    if (rc) {
        set_reason(v->reason, sizeof v->reason,
                   "not a ticketgate evidence store (no checkpoints table)");
        return TG_EIO;
    }
    v->anchor_seq = *aseq > 0 ? (uint64_t)*aseq : 0;
    v->head_seq = v->anchor_seq;
    memcpy(v->head_hash, prev, 65);
    if (*aseq > 0 && keylen) {
        unsigned char hbin[32], want[32], have[32];
        int good = !tg_chain_hex32(prev, 64, hbin) &&
                   !tg_chain_mac(key, keylen, hbin, want) &&
                   !tg_chain_hex32(amac, strlen(amac), have) &&
                   CRYPTO_memcmp(want, have, 32) == 0;

        if (!good)
            set_broken(v, *aseq, (const unsigned char *)"(checkpoint)",
                       "the checkpoint anchor's MAC does not verify");
    }
    return 0;
}

/* Walks the records of db in seq order from the anchor aseq (whose hash is
 * prev), counting them into v until the first that does not check out
 * (v->intact cleared). Returns 0, or TG_EIO / another error with
 * v->reason. */
static int verify_records(sqlite3 *db, const unsigned char *key,
                          size_t keylen, int64_t aseq, char prev[65],
                          struct tg_evidence_verdict *v)
{
    sqlite3_stmt *st = NULL;
    int64_t expect;
    int rc;

    /* a file of schema version 1 or 2 not opened by a server since: no
     * kind, or no facts (prepare_records reads NULL for them) */
    if ((rc = prepare_records(db, " ORDER BY seq", &st))) {
        set_reason(v->reason, sizeof v->reason,
                   "not a ticketgate evidence store (no records table)");
        return TG_EIO;
    }
    expect = aseq + 1;
    for (;;) {
        const char *why = NULL;
        int s = sqlite3_step(st);

        if (s == SQLITE_DONE)
            break;
        if (s != SQLITE_ROW) {
            rc = TG_EIO;
            set_reason(v->reason, sizeof v->reason,
                       "reading the records failed (file damaged?)");
            goto out;
        }
        if ((rc = check_row(st, expect, prev, key, keylen, &why, prev))) {
            set_reason(v->reason, sizeof v->reason, "hashing failed");
            goto out;
        }
        if (why) {
            set_broken(v, sqlite3_column_int64(st, 0),
                       sqlite3_column_text(st, 1), why);
            goto out;
        }
        v->count++;
        if (sqlite3_column_type(st, COL_KIND) != SQLITE_NULL &&
            strcmp((const char *)sqlite3_column_text(st, COL_KIND),
                   KIND_DECISION) != 0)
            v->entries++;
        v->head_seq = (uint64_t)expect;
        memcpy(v->head_hash, prev, 65);
        expect++;
    }
    rc = 0;
out:
    sqlite3_finalize(st);
    return rc;
}

int tg_sq_verify_file(const char *path, const unsigned char *key,
                            size_t keylen, struct tg_evidence_verdict *out)
{
    sqlite3 *db = NULL;
    struct tg_evidence_verdict v;
    char prev[65];
    int64_t aseq;
    int began = 0;
    int rc;

    if (!path || !out)
        return TG_EINVAL;
    memset(&v, 0, sizeof v);
    v.intact = 1;
    /* read-only: verification must not be able to change what it checks */
    rc = tg_sq_open_db(path, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
                 DEFAULT_BUSY_MS, &db);
    if (rc) {
        set_reason(v.reason, sizeof v.reason, "cannot open the store file");
        goto out;
    }
    /* one snapshot for the anchor and every record */
    if ((rc = tg_sq_exec(db, "BEGIN"))) {
        set_reason(v.reason, sizeof v.reason, "cannot read the store file");
        goto out;
    }
    began = 1;
    if ((rc = verify_anchor(db, key, keylen, &v, &aseq, prev)) || !v.intact)
        goto out;
    rc = verify_records(db, key, keylen, aseq, prev, &v);
out:
    if (began)
        tg_sq_exec(db, "COMMIT");
    tg_sq_close_db(db);
    if (rc == 0 || rc == TG_EIO || rc == TG_EBUSY) {
        rc = rc == TG_EBUSY ? TG_EIO : rc;
        *out = v;
    }
    return rc;
}

/* --------------------------------------------------------------- export */

/* A JSON string of n bytes at p; text that is not UTF-8 (the file was
 * edited) has its non-ASCII bytes replaced by '?' rather than stop the
 * export. */
static json_t *jstr(const char *p, size_t n)
{
    json_t *s;
    char *copy;

    if (!p)
        return json_null();
    if ((s = json_stringn(p, n)))
        return s;
    if (!(copy = malloc(n + 1)))
        return NULL;
    for (size_t i = 0; i < n; i++)
        copy[i] = (unsigned char)p[i] < 0x80 ? p[i] : '?';
    copy[n] = '\0';
    s = json_stringn(copy, n);
    free(copy);
    return s;
}

static json_t *export_row(sqlite3_stmt *st)
{
    static const char *const names[] = {
        "seq", "decision_id", "ticket", "source", "delivery_id",
        "body_sha256", "policy", "time", "decision", "just_norm",
        "prev_hash", "hash", "mac", "kind", "judged", "facts"};
    json_t *o = json_object();

    if (!o)
        return NULL;
    for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++) {
        const char *p = (const char *)sqlite3_column_text(st, i);
        size_t n = (size_t)sqlite3_column_bytes(st, i);
        json_t *v;

        if (i == 0 || i == 7)
            v = json_integer(sqlite3_column_int64(st, i));
        else if (sqlite3_column_type(st, i) == SQLITE_NULL)
            v = json_null();
        else if ((i == 8 || i == COL_JUDGED || i == COL_FACTS) &&
                 (v = json_loadb(p, n, 0, NULL)))
            ; /* the decision (or entry) document, the judged ticket, the
               * facts: embedded as objects */
        else
            v = jstr(p, n);
        if (!v || json_object_set_new(o, names[i], v)) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

int tg_sq_export_file(const char *path, int64_t since, FILE *out,
                            const char **why)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    const char *w = NULL;
    int began = 0;
    int rc;

    if (!path || !out)
        return TG_EINVAL;
    if ((rc = tg_sq_open_db(path, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
                      DEFAULT_BUSY_MS, &db))) {
        w = "cannot open the store file";
        goto out;
    }
    if ((rc = tg_sq_exec(db, "BEGIN"))) {
        w = "cannot read the store file";
        goto out;
    }
    began = 1;
    if ((rc = prepare_records(db, " WHERE time >= ?1 ORDER BY seq", &st))) {
        rc = TG_EIO;
        w = "not a ticketgate evidence store (no records table)";
        goto out;
    }
    sqlite3_bind_int64(st, 1, since);
    for (;;) {
        json_t *o;
        int s = sqlite3_step(st), bad;

        if (s == SQLITE_DONE)
            break;
        if (s != SQLITE_ROW) {
            rc = TG_EIO;
            w = "reading the records failed (file damaged?)";
            goto out;
        }
        if (!(o = export_row(st))) {
            rc = TG_ENOMEM;
            goto out;
        }
        bad = json_dumpf(o, out, JSON_COMPACT) != 0 || fputc('\n', out) == EOF;
        json_decref(o);
        if (bad) {
            rc = TG_EIO;
            w = "writing the output failed";
            goto out;
        }
    }
    if (fflush(out) != 0 || ferror(out)) {
        rc = TG_EIO;
        w = "writing the output failed";
        goto out;
    }
    rc = 0;
out:
    sqlite3_finalize(st);
    if (began)
        tg_sq_exec(db, "COMMIT");
    tg_sq_close_db(db);
    if (why)
        *why = w;
    return rc == TG_EBUSY ? TG_EIO : rc;
}

/* -------------------------------------------------------------- archive */

static int step_done(sqlite3 *db, const char *sql, int64_t a, int64_t b)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

    if (rc != SQLITE_OK)
        return tg_sq_map(rc);
    if (sqlite3_bind_parameter_count(st) >= 1)
        sqlite3_bind_int64(st, 1, a);
    if (sqlite3_bind_parameter_count(st) >= 2)
        sqlite3_bind_int64(st, 2, b);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : tg_sq_map(rc);
}

static int query_int(sqlite3 *db, const char *sql, int64_t a, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

    if (rc != SQLITE_OK)
        return tg_sq_map(rc);
    if (sqlite3_bind_parameter_count(st) >= 1)
        sqlite3_bind_int64(st, 1, a);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? TG_ENOTFOUND : tg_sq_map(rc);
    }
    sqlite3_finalize(st);
    return rc;
}

/* Creates the archive file (it must not exist) with the store's tables. */
static int archive_create(const char *archive_path, int busy_ms)
{
    sqlite3 *db = NULL;
    /* O_EXCL: never write into a file that someone else holds; an empty file
     * is an empty SQLite database. */
    int fd = open(archive_path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    int rc;

    if (fd < 0)
        return errno == EEXIST ? TG_EINVAL : TG_EIO;
    (void)fchmod(fd, 0600); /* whatever the umask; its journal gets it too */
    close(fd);
    rc = tg_sq_open_db(archive_path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                 busy_ms, &db);
    if (rc)
        goto out;
    rc = tg_sq_exec(db, "PRAGMA synchronous=FULL;BEGIN IMMEDIATE");
    if (!rc && (rc = tg_sq_exec(db, tg_sq_schema)))
        tg_sq_exec(db, "ROLLBACK");
    else if (!rc)
        rc = tg_sq_exec(db, "COMMIT");
out:
    tg_sq_close_db(db);
    if (rc)
        unlink(archive_path); /* ours: created above with O_EXCL */
    return rc;
}

/* Attaches the new archive file to db as "arch". Returns 0, TG_ENOMEM or
 * an SQLite error mapped. */
static int archive_attach(sqlite3 *db, const char *archive_path)
{
    char *sql = sqlite3_mprintf("ATTACH %Q AS arch", archive_path);
    int rc;

    if (!sql)
        return TG_ENOMEM;
    rc = tg_sq_exec(db, sql);
    sqlite3_free(sql);
    return rc;
}

/* Phase 1: copies the records up to last, and the checkpoint aseq they
 * link to, into the attached archive, in one transaction (rolled back on
 * failure). Returns 0 or the mapped error. */
static int archive_fill(sqlite3 *db, int64_t last, int64_t aseq)
{
    int rc;

    /* Phase 1: fill the archive. The store is only read here; a crash
     * leaves a complete or empty archive and the store untouched. */
    if ((rc = tg_sq_exec(db, "PRAGMA arch.synchronous=FULL;BEGIN")))
        return rc;
    /* both have every column: the store was migrated first */
    if ((rc = step_done(db, "INSERT INTO arch.records(" RECORD_COLUMNS_V3 ")"
                        " SELECT " RECORD_COLUMNS_V3 " FROM main.records"
                        " WHERE seq <= ?1", last, 0)) ||
        (rc = step_done(db, "INSERT INTO arch.checkpoints"
                        " SELECT * FROM main.checkpoints WHERE seq = ?1",
                        aseq, 0)) ||
        (rc = tg_sq_exec(db, "COMMIT")))
        tg_sq_exec(db, "ROLLBACK");
    return rc;
}

/* Phase 2: in one transaction of the store (rolled back on failure),
 * records last (whose hash must still be head_hash) in checkpoints as the
 * anchor of the archive [first, last] made at now, and deletes the
 * archived records.
 * Returns 0, TG_EIO (the record changed) or the mapped error. */
static int archive_anchor(sqlite3 *db, int64_t first, int64_t last,
                          int64_t now, const char *archive_path,
                          const char *head_hash)
{
    int64_t count = last - first + 1;
    sqlite3_stmt *st = NULL;
    int rc;

    /* Phase 2: one transaction of the store records the anchor and drops
     * the archived records, so verification never sees one without the
     * other. */
    if ((rc = tg_sq_exec(db, "BEGIN IMMEDIATE")))
        return rc;
    rc = sqlite3_prepare_v2(
        db,
        "INSERT INTO main.checkpoints(seq, hash, mac, first_seq, count,"
        " archived_at, archive) SELECT seq, hash, mac, ?2, ?3, ?4, ?5"
        " FROM main.records WHERE seq = ?1 AND hash = ?6",
        -1, &st, NULL);
    if (rc != SQLITE_OK) {
        rc = tg_sq_map(rc);
        goto out;
    }
    sqlite3_bind_int64(st, 1, last);
    sqlite3_bind_int64(st, 2, first);
    sqlite3_bind_int64(st, 3, count);
    sqlite3_bind_int64(st, 4, now);
    sqlite3_bind_text(st, 5, archive_path, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, head_hash, 64, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc != SQLITE_DONE || sqlite3_changes(db) != 1) {
        /* the record changed between the copy and now */
        rc = rc == SQLITE_DONE ? TG_EIO : tg_sq_map(rc);
        goto out;
    }
    if ((rc = step_done(db, "DELETE FROM main.records WHERE seq <= ?1", last,
                        0)) ||
        (rc = tg_sq_exec(db, "COMMIT")))
        goto out;
out:
    sqlite3_finalize(st);
    if (rc)
        tg_sq_exec(db, "ROLLBACK");
    return rc;
}

int tg_sq_archive_file(const char *path, uint64_t before,
                             const char *archive_path,
                             const unsigned char *key, size_t keylen,
                             int busy_ms, uint64_t *moved)
{
    struct tg_evidence_verdict v;
    sqlite3 *db = NULL;
    char ahash[65], amac[65];
    int64_t aseq, last = 0, count = 0, first = 0, now = (int64_t)time(NULL);
    int attached = 0, created = 0;
    int rc;

    if (!path || !archive_path || !moved || before > INT64_MAX)
        return TG_EINVAL;
    *moved = 0;
    if (access(archive_path, F_OK) == 0)
        return TG_EINVAL;
    /* Archiving a broken chain would launder it: anchor the tampering. */
    if ((rc = tg_sq_verify_file(path, key, keylen, &v)))
        return rc;
    if (!v.intact)
        return TG_ECONFLICT;
    if ((rc = tg_sq_open_db(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                      busy_ms, &db)))
        return rc;
    /* A store of version 1 or 2 that no server opened since: the archive
     * has the columns of version 3, so the store takes them first. */
    if ((rc = tg_sq_records_migrate(db)))
        goto out;
    if (tg_sq_read_anchor(db, &aseq, ahash, amac)) {
        rc = TG_EIO;
        goto out;
    }
    rc = query_int(db, "SELECT max(seq) FROM records WHERE seq < ?1",
                   (int64_t)before, &last);
    if (rc == TG_ENOTFOUND || (!rc && last <= aseq)) {
        rc = 0; /* nothing older than before: nothing to do */
        goto out;
    }
    if (rc || (rc = query_int(db, "SELECT min(seq) FROM records", 0, &first)))
        goto out;
    count = last - first + 1;

    if ((rc = archive_create(archive_path, busy_ms)))
        goto out;
    created = 1;
    if ((rc = archive_attach(db, archive_path)))
        goto out;
    attached = 1;
    if ((rc = archive_fill(db, last, aseq)))
        goto out;
    /* The archive must stand on its own before anything leaves the store. */
    if ((rc = tg_sq_verify_file(archive_path, key, keylen, &v)))
        goto out;
    if (!v.intact || v.count != (uint64_t)count ||
        v.head_seq != (uint64_t)last) {
        rc = TG_EIO;
        goto out;
    }
    if ((rc = archive_anchor(db, first, last, now, archive_path,
                              v.head_hash)))
        goto out;
    created = 0; /* the archive now holds the only copy: keep it */
    *moved = (uint64_t)count;
    /* give the freed pages back to the file system (best effort) */
    tg_sq_exec(db, "PRAGMA main.incremental_vacuum");
    rc = 0;
out:
    if (attached)
        tg_sq_exec(db, "DETACH arch");
    tg_sq_close_db(db);
    /* The store still holds every record: an incomplete archive would only
     * block the retry. */
    if (created)
        unlink(archive_path);
    return rc == TG_ENOMEM || rc == TG_EBUSY || rc == TG_EINVAL ||
                   rc == TG_ECONFLICT || rc == 0
               ? rc
               : TG_EIO;
}

/* ------------------------------------------------- scans and entries */

/* The scan's statement for kind: every kind (NULL), decisions, or one
 * entry kind (?3), on a file of schema version (tg_sq_records_version),
 * in *sql (sqlite3_free). A file of schema version 1 has decisions only
 * (*sql NULL for an entry kind), one of version 2 no facts. Returns 0 or
 * TG_ENOMEM. */
/* lean (tg_evidence_scan_file_facts): a row with facts selects neither
 * document, only whether it has a judged ticket ('' for yes); SQLite
 * copies every selected text, and the facts reader needs 0.6 KB of a
 * row's 2 KB. IS NULL inside CASE reads a column's type, not its text. */
static int scan_sql(int version, const char *kind, int lean, char **sql)
{
    int entry = kind && strcmp(kind, KIND_DECISION) != 0;

    *sql = NULL;
    if (version < 2 && entry)
        return 0;
    lean = lean && version >= 3;
    *sql = sqlite3_mprintf(
        "SELECT seq, %s, decision_id, ticket, source, policy, time,"
        " %s, %s, %s FROM records WHERE time >= ?1 AND"
        " (?2 = 9223372036854775807 OR time < ?2)%s ORDER BY seq",
        version >= 2 ? "kind" : "NULL",
        lean ? "CASE WHEN facts IS NULL THEN decision END" : "decision",
        lean ? "CASE WHEN facts IS NULL THEN judged WHEN judged IS NULL"
               " THEN NULL ELSE '' END"
        : version >= 2 ? "judged"
                       : "NULL",
        version >= 3 ? "facts" : "NULL",
        !kind || version < 2 ? ""
        : entry              ? " AND kind = ?3"
                             : " AND " IS_DECISION);
    return *sql ? 0 : TG_ENOMEM;
}

/* Text of column col, NULL for SQL NULL (and, with empty_null, for ''). */
static const char *col_text(sqlite3_stmt *st, int col, int empty_null)
{
    const char *p;

    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        return NULL;
    p = (const char *)sqlite3_column_text(st, col);
    return p && empty_null && !p[0] ? NULL : p;
}

/* The rows of db (inside the caller's snapshot) as tg_evidence_scan says.
 * Returns 0, TG_EIO, TG_ENOMEM or fn's value. */
static int scan_rows(sqlite3 *db, const char *kind, int lean, int64_t since,
                     int64_t until, tg_evidence_row_fn fn, void *ctx)
{
    sqlite3_stmt *st = NULL;
    char *sql = NULL;
    int version = 1;
    int rc;

    if (tg_sq_records_version(db, &version))
        return TG_EIO;
    if ((rc = scan_sql(version, kind, lean, &sql)))
        return rc;
    if (!sql)
        return 0; /* an old file holds no entry */
    rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    sqlite3_free(sql);
    if (rc != SQLITE_OK)
        return tg_sq_map(rc) == TG_ENOMEM ? TG_ENOMEM : TG_EIO;
    sqlite3_bind_int64(st, 1, since);
    sqlite3_bind_int64(st, 2, until);
    if (sqlite3_bind_parameter_count(st) >= 3)
        sqlite3_bind_text(st, 3, kind, -1, SQLITE_STATIC);
    for (;;) {
        struct tg_evidence_row row;
        const char *id;
        int s = sqlite3_step(st), entry;

        if (s == SQLITE_DONE) {
            rc = 0;
            break;
        }
        if (s != SQLITE_ROW) {
            rc = tg_sq_map(s) == TG_ENOMEM ? TG_ENOMEM : TG_EIO;
            break;
        }
        memset(&row, 0, sizeof row);
        row.seq = (uint64_t)sqlite3_column_int64(st, 0);
        row.kind = col_text(st, 1, 0);
        entry = row.kind && strcmp(row.kind, KIND_DECISION) != 0;
        if (!row.kind)
            row.kind = KIND_DECISION;
        id = col_text(st, 2, 0);
        if (!id) {
            rc = TG_EIO; /* NOT NULL column: not a store's row */
            break;
        }
        row.key = id;
        if (entry) {
            size_t kn = strlen(row.kind);

            /* decision_id is kind ":" key (internal.h) */
            if (strncmp(id, row.kind, kn) == 0 && id[kn] == ':')
                row.key = id + kn + 1;
        }
        row.ticket = col_text(st, 3, entry);
        row.source = col_text(st, 4, entry);
        row.policy = col_text(st, 5, entry);
        row.time = sqlite3_column_int64(st, 6);
        row.json = col_text(st, 7, 0);
        row.json_len = (size_t)sqlite3_column_bytes(st, 7);
        row.judged = col_text(st, 8, 0);
        row.judged_len = row.judged ? (size_t)sqlite3_column_bytes(st, 8) : 0;
        row.facts = col_text(st, 9, 0);
        row.facts_len = row.facts ? (size_t)sqlite3_column_bytes(st, 9) : 0;
        if (!row.json && !(lean && row.facts)) {
            rc = TG_EIO;
            break;
        }
        if ((rc = fn(ctx, &row)))
            break;
    }
    sqlite3_finalize(st);
    return rc;
}

int tg_sq_scan_db(sqlite3 *db, const char *kind, int64_t since, int64_t until,
            tg_evidence_row_fn fn, void *ctx)
{
    return scan_rows(db, kind, 0, since, until, fn, ctx);
}

int tg_sq_get_entry_db(sqlite3 *db, const char *kind, const char *key,
                 char **json)
{
    sqlite3_stmt *st = NULL;
    int migrated = 0;
    int rc;

    if (tg_sq_records_migrated(db, &migrated))
        return TG_EIO;
    if (!migrated)
        return TG_ENOTFOUND; /* a file of version 1 holds decisions only */
    /* decision_id = kind ":" key: the UNIQUE index finds it */
    rc = sqlite3_prepare_v2(db, "SELECT decision FROM records"
                            " WHERE decision_id = ?1 || ':' || ?2"
                            " AND kind = ?1", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return tg_sq_map(rc) == TG_ENOMEM ? TG_ENOMEM : TG_EIO;
    sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        rc = TG_ENOTFOUND;
    } else if (rc != SQLITE_ROW) {
        rc = TG_EIO;
    } else {
        const char *p = (const char *)sqlite3_column_text(st, 0);
        size_t n = (size_t)sqlite3_column_bytes(st, 0);
        char *doc = p ? malloc(n + 1) : NULL;

        if (!doc) {
            rc = p ? TG_ENOMEM : TG_EIO;
        } else {
            memcpy(doc, p, n);
            doc[n] = '\0';
            *json = doc;
            rc = 0;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

/* Opens the store file at path read-only inside one snapshot (*db; the
 * caller ends it with snapshot_end). Returns 0 or TG_EIO. */
static int snapshot_begin(const char *path, sqlite3 **db)
{
    *db = NULL;
    if (tg_sq_open_db(path, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
                DEFAULT_BUSY_MS, db))
        return TG_EIO;
    if (tg_sq_exec(*db, "BEGIN")) {
        tg_sq_close_db(*db);
        *db = NULL;
        return TG_EIO;
    }
    return 0;
}

static void snapshot_end(sqlite3 *db)
{
    tg_sq_exec(db, "COMMIT");
    tg_sq_close_db(db);
}

/* scan_rows over the file at path, in one read snapshot. */
static int scan_file(const char *path, const char *kind, int lean,
                     int64_t since, int64_t until, tg_evidence_row_fn fn,
                     void *ctx)
{
    sqlite3 *db = NULL;
    int rc;

    if (!path || !fn)
        return TG_EINVAL;
    if ((rc = snapshot_begin(path, &db)))
        return rc;
    rc = scan_rows(db, kind, lean, since, until, fn, ctx);
    snapshot_end(db);
    return rc;
}

int tg_sq_scan_file(const char *path, const char *kind, int64_t since,
                          int64_t until, tg_evidence_row_fn fn, void *ctx)
{
    return scan_file(path, kind, 0, since, until, fn, ctx);
}

int tg_sq_scan_file_facts(const char *path, int64_t since, int64_t until,
                          tg_evidence_row_fn fn, void *ctx)
{
    return scan_file(path, NULL, 1, since, until, fn, ctx);
}

int tg_sq_get_entry_file(const char *path, const char *kind,
                               const char *key, char **json)
{
    sqlite3 *db = NULL;
    int rc;

    if (!path || !kind || !key || !json)
        return TG_EINVAL;
    if ((rc = snapshot_begin(path, &db)))
        return rc;
    rc = tg_sq_get_entry_db(db, kind, key, json);
    snapshot_end(db);
    return rc;
}
