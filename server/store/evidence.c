/* evidence.c - the evidence store: hash chain, group commit, reads, audits. */

/*
 * The chain (docs/EVIDENCE.md says the same for auditors, with a script).
 *
 * Table records(seq INTEGER PRIMARY KEY, decision_id, ticket, source,
 * delivery_id NULL, body_sha256 hex, policy, time INTEGER, decision TEXT,
 * just_norm NULL, prev_hash hex, hash hex, mac hex NULL). seq counts 1, 2, 3,
 * ... without holes; the first record's prev_hash is 64 zeros, every other
 * record's prev_hash is the hash of the record before it.
 *
 *   hash = SHA-256( "ticketgate-evidence-v1\n"
 *                   F(seq) F(decision_id) F(ticket) F(source) F(delivery_id)
 *                   F(body_sha256) F(policy) F(time) F(decision)
 *                   F(just_norm) F(prev_hash) )
 *
 *   F(NULL) = "-\n"
 *   F(v)    = <byte length of v in decimal ASCII> ":" <the bytes of v> "\n"
 *
 * v is the column as stored: seq and time in decimal ASCII ('-' first when
 * negative, no leading zeros or '+'), text columns as their UTF-8 bytes,
 * digests in lower-case hex. The length prefix makes the encoding injective
 * (no field value can imitate a separator) and "-" cannot begin a length, so
 * NULL differs from every string, the empty string ("0:\n") included.
 *
 *   mac = HMAC-SHA256(store.hmac_key, the 32 raw bytes of hash), in hex,
 *         NULL when no key is configured.
 *
 * Table checkpoints(seq, hash, mac, ...) holds one row per archive: the last
 * record moved out. Verification starts from the checkpoint with the highest
 * seq (or from genesis: seq 0, 64 zeros), so a store whose old records were
 * archived still verifies; the archive file itself is a store of the same
 * layout whose checkpoints row is the anchor its first record links to.
 *
 * Writes: one writer thread owns the write connection. tg_evidence_append
 * queues its record and sleeps; the writer takes every record waiting, writes
 * them in one transaction (one WAL sync), then wakes them all with their
 * result (group commit). prev_hash and hash are computed inside that
 * transaction from the head read in it, so a rolled-back batch leaves no hole
 * and a second process writing the same file cannot fork the chain. The WAL
 * is written through a VFS that hands each transaction to the kernel in one
 * write (WAL write combining, below); a maintenance thread checkpoints it and
 * keeps it from growing without bound.
 *
 * Reads use a small pool of read-only connections: WAL readers do not block
 * the writer. Copy-forward counts, one per gated request, come from an index
 * in memory that the writer keeps up to date (struct cf_index).
 */

#include "server/store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "server/util/digest.h"
#include "validators/errors.h"
#include "server/util/log.h"

#define ZERO_HASH \
    "0000000000000000000000000000000000000000000000000000000000000000"
#define SCHEMA_VERSION 1
#define MAX_BATCH 1024       /* records per transaction; bounds latency */
#define POOL_IDLE_MAX 16     /* idle read connections kept open */
#define LIST_DEFAULT 100
#define LIST_MAX 1000
#define DEFAULT_BUSY_MS 2000
/* Copy-forward counts stop here: the rule needs "at least max_reuse", and a
 * bound keeps the per-request cost constant. */
#define COPY_LIMIT 1000
/* WAL frames after which the maintenance thread copies them back (SQLite's
 * own default interval), and at which it restarts the WAL (16 MB: measured
 * on a 2-core VM, a larger WAL made each checkpoint's sync, and the stall
 * of the restart, longer; p99 latency grew from 5 to 10-28 ms). */
#define CKPT_FRAMES 1000
#define CK_RESTART_FRAMES 4096
/* The WAL's hard bound in frames (32 MB of pages): past it the writer
 * itself catches the checkpoint up, with the token held, before the next
 * commit (writer_main). The maintenance thread restarts the WAL at
 * CK_RESTART_FRAMES, but only as fast as it gets a core: on a loaded
 * machine the writer went on appending while it waited, and the WAL grew
 * to 45-64 MB. */
#define CK_HARD_FRAMES (2 * CK_RESTART_FRAMES)
#define CK_INTERVAL_MS 1000
/* Decision-id numbers reserved in meta.id_next per write of it. */
#define ID_BLOCK 1024
/* The copy-forward index (struct cf_index): digest bytes kept; groups
 * (justifications) held, a power of two; ticket slots beyond each group's
 * first; tickets per group; the gone filter (2 MiB, 4 probes); how recent
 * the last commit must be for the index to answer. At most about 5 MB of
 * groups, 6 MB of slots and the 2 MB filter. */
#define CF_DIGEST 16
#define CF_GROUPS_MAX 65536u
#define CF_BUCKETS CF_GROUPS_MAX
#define CF_USES_MAX 262144u
#define CF_GROUP_MAX (COPY_LIMIT + 1)
#define CF_GONE_BITS (1u << 24)
#define CF_GONE_K 4
#define CF_FRESH_MS 50

/* Single-use JWT ids (API.md): one row per (source, jti) with the body it
 * was first used with and the record it made (NULL: a skip, which records
 * nothing). Not part of the chain: it says which requests may still be
 * answered, not what was decided. Stores made before it get it at open. */
#define JTI_SCHEMA                                                         \
    "CREATE TABLE IF NOT EXISTS jti_use("                                   \
    " source TEXT NOT NULL,"                                                \
    " jti TEXT NOT NULL,"                                                   \
    " body_sha256 TEXT NOT NULL,"                                           \
    " decision_id TEXT,"                                                    \
    " time INTEGER NOT NULL,"                                               \
    " PRIMARY KEY(source, jti)) WITHOUT ROWID;"

static const char SCHEMA[] =
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
    " mac TEXT);"
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
     * the index in memory (struct cf_index) that this table fills at open;
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
    "PRAGMA user_version=1;";

#define RECORD_COLUMNS                                                     \
    "seq, decision_id, ticket, source, delivery_id, body_sha256, policy, " \
    "time, decision, just_norm, prev_hash, hash, mac"

/* ---------------------------------------------------------------- hashing */

/* The fields of one link, in preimage order. p == NULL is SQL NULL. */
enum { F_SEQ, F_ID, F_TICKET, F_SOURCE, F_DELIVERY, F_BODY, F_POLICY, F_TIME,
       F_DECISION, F_JUST, F_PREV, F_N };

struct field {
    const char *p;
    size_t n;
};

static const char PREIMAGE_TAG[] = "ticketgate-evidence-v1\n";

static void hex_encode(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static int hex_decode32(const char *hex, size_t n, unsigned char out[32])
{
    if (n != 64)
        return TG_EINVAL;
    for (size_t i = 0; i < 32; i++) {
        int v = 0;
        for (int k = 0; k < 2; k++) {
            char c = hex[2 * i + (size_t)k];
            v <<= 4;
            if (c >= '0' && c <= '9')
                v |= c - '0';
            else if (c >= 'a' && c <= 'f')
                v |= c - 'a' + 10;
            else
                return TG_EINVAL;
        }
        out[i] = (unsigned char)v;
    }
    return 0;
}

/* Decimal ASCII of v into buf (cap >= 21). Returns the length. */
static size_t int_text(int64_t v, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%" PRId64, v);

    return (n < 0 || (size_t)n >= cap) ? 0 : (size_t)n;
}

/* hash = SHA-256 of the preimage of f (see the top of this file). */
static int chain_hash(const struct field f[F_N], unsigned char out[32])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int len = 0;
    int rc = TG_EIO;

    if (!ctx)
        return TG_ENOMEM;
    if (EVP_DigestInit_ex(ctx, tg_digest_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(ctx, PREIMAGE_TAG, sizeof PREIMAGE_TAG - 1) != 1)
        goto out;
    for (int i = 0; i < F_N; i++) {
        char pre[24];
        int n;

        if (!f[i].p) {
            if (EVP_DigestUpdate(ctx, "-\n", 2) != 1)
                goto out;
            continue;
        }
        n = snprintf(pre, sizeof pre, "%zu:", f[i].n);
        if (n < 0 || (size_t)n >= sizeof pre)
            goto out;
        if (EVP_DigestUpdate(ctx, pre, (size_t)n) != 1 ||
            EVP_DigestUpdate(ctx, f[i].p, f[i].n) != 1 ||
            EVP_DigestUpdate(ctx, "\n", 1) != 1)
            goto out;
    }
    if (EVP_DigestFinal_ex(ctx, out, &len) != 1 || len != 32)
        goto out;
    rc = 0;
out:
    EVP_MD_CTX_free(ctx);
    return rc;
}

static int link_mac(const unsigned char *key, size_t keylen,
                    const unsigned char hash[32], unsigned char out[32])
{
    const void *parts[1] = {hash};
    const size_t lens[1] = {32};

    return tg_digest_hmac_sha256(key, keylen, parts, lens, 1, out);
}

/* --------------------------------------------------------------- sqlite */

/* The TG_E* of an SQLite failure: a lock held too long is TG_EBUSY (retry
 * soon); full disk, I/O, read-only, cannot-open, corruption are TG_EIO. */
static int map_sqlite(int rc)
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

const char *tg_evidence_cause(int code, int sys)
{
    int primary = code & 0xff;

    /* SQLite records errno only for these (sqlite3SystemError); for any
     * other code it may be stale. */
    if (primary == SQLITE_IOERR || primary == SQLITE_CANTOPEN) {
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
            break;
        }
    }
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
        break;
    }
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

/* Why a write failed: an SQLite code with its errno, or our own words. */
struct fail {
    int code;
    int sys;
    const char *what; /* static; when set, instead of code */
};

static const char *fail_words(const struct fail *f)
{
    if (f->what)
        return f->what;
    /* no SQLite error behind the failure: one of ours */
    if (f->code == SQLITE_OK)
        return "an internal error (out of memory or a hashing failure)";
    return tg_evidence_cause(f->code, f->sys);
}

/* Notes the last error of db in f (when both are there). */
static void fail_note(struct fail *f, sqlite3 *db)
{
    if (!f || !db)
        return;
    f->code = sqlite3_extended_errcode(db);
    f->sys = sqlite3_system_errno(db);
    f->what = NULL;
}

static int exec_sql(sqlite3 *db, const char *sql)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);

    return rc == SQLITE_OK ? 0 : map_sqlite(rc);
}

static void close_db(sqlite3 *db)
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
        fail_note(why, db);
        close_db(db);
        return map_sqlite(rc) == TG_ENOMEM ? TG_ENOMEM : TG_EIO;
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, busy_ms > 0 ? busy_ms : DEFAULT_BUSY_MS);
    *out = db;
    return 0;
}

static int open_db(const char *path, int flags, int busy_ms, sqlite3 **out)
{
    return open_db_vfs(path, flags, busy_ms, NULL, out, NULL);
}

static int user_version(sqlite3 *db, int *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);

    if (rc != SQLITE_OK)
        return map_sqlite(rc);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : map_sqlite(rc);
}

/* The anchor the chain of db starts from: the checkpoint with the highest
 * seq, or genesis (0, zeros, no mac). mac gets "" when NULL. Returns 0,
 * TG_EINVAL when that checkpoint's hash is malformed (*seq is set), or the
 * SQLite failure (no checkpoints table: not a store). */
static int read_anchor(sqlite3 *db, int64_t *seq, char hash[65], char mac[65])
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(
        db, "SELECT seq, hash, mac FROM checkpoints ORDER BY seq DESC LIMIT 1",
        -1, &st, NULL);

    if (rc != SQLITE_OK)
        return map_sqlite(rc);
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
        rc = rc == SQLITE_DONE ? 0 : map_sqlite(rc);
    }
out:
    sqlite3_finalize(st);
    return rc;
}

/* ------------------------------------------------- WAL write combining */

/*
 * SQLite writes each WAL frame as two pwrite calls (its 24-byte header,
 * then the page), so a commit of F frames costs 2F system calls, each
 * walking the page cache of the file. This VFS, used by the write
 * connection only, hands a whole transaction to the kernel in one write:
 * it holds the frames of the transaction in memory and writes them out
 * when the page of the commit frame arrives (the frame whose header has a
 * non-zero database size, docs/fileformat "WAL file format").
 *
 * Nothing it holds is ever visible or needed elsewhere: the held bytes are
 * written before any other call on the file (read, sync, truncate, size,
 * lock, close), before any write that does not continue them, and before
 * the write of the commit frame's page returns. So every frame is in the
 * kernel before sqlite3WalFrames() publishes the commit in the WAL index,
 * and a commit acknowledged survives the process being killed exactly as
 * before. Only these shapes are held: a header whose database size is 0,
 * the write that follows it contiguously (its page), and a commit header
 * that continues held frames; a commit header written alone (a checksum
 * rewrite, a one-page transaction) and anything else go straight through.
 */
#define WC_MAX (1u << 20) /* held bytes at most; written out past that */
#define WC_HDR 24         /* WAL frame header */
#define WC_CHUNK 65536u   /* bytes per write call */

enum { WC_NONE, WC_HDR_HELD, WC_PAGE_HELD, WC_COMMIT_HELD };

struct wc_file {
    sqlite3_file base;
    sqlite3_file *real;  /* the default VFS's file, right after this */
    int wal;             /* opened as a WAL file: combines */
    int state;
    unsigned char *buf;
    size_t len, cap;
    sqlite3_int64 off;   /* file offset of buf[0] */
};

static sqlite3_vfs wc_vfs;
static sqlite3_vfs *wc_base;
static pthread_once_t wc_once = PTHREAD_ONCE_INIT;

#define WC_REAL(f) (((struct wc_file *)(f))->real)

/* Writes out what is held. Returns SQLITE_OK or the write's error. */
static int wc_flush(struct wc_file *w)
{
    int rc = SQLITE_OK;

    /* in pieces: the unix VFS writes at most 128 KiB per call */
    for (size_t at = 0; rc == SQLITE_OK && at < w->len; at += WC_CHUNK) {
        size_t n = w->len - at < WC_CHUNK ? w->len - at : WC_CHUNK;

        rc = w->real->pMethods->xWrite(w->real, w->buf + at, (int)n,
                                       w->off + (sqlite3_int64)at);
    }
    w->len = 0;
    w->state = WC_NONE;
    return rc;
}

static int wc_hold(struct wc_file *w, const void *p, int n,
                   sqlite3_int64 off)
{
    if (w->len + (size_t)n > w->cap) {
        size_t ncap = w->cap ? w->cap : 65536;
        unsigned char *nb;

        while (ncap < w->len + (size_t)n)
            ncap *= 2;
        if (!(nb = realloc(w->buf, ncap)))
            return SQLITE_NOMEM;
        w->buf = nb;
        w->cap = ncap;
    }
    if (!w->len)
        w->off = off;
    memcpy(w->buf + w->len, p, (size_t)n);
    w->len += (size_t)n;
    return SQLITE_OK;
}

static int wc_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off)
{
    struct wc_file *w = (struct wc_file *)f;
    int follows = w->len && off == w->off + (sqlite3_int64)w->len;
    int rc;

    if (!w->wal)
        return w->real->pMethods->xWrite(w->real, p, n, off);
    if (n == WC_HDR) {
        const unsigned char *h = p;
        int commit = h[4] | h[5] | h[6] | h[7];

        if (w->len && (!follows || w->state != WC_PAGE_HELD ||
                       w->len + (size_t)n > WC_MAX) &&
            (rc = wc_flush(w)))
            return rc;
        if ((!commit || w->len) && wc_hold(w, p, n, off) == SQLITE_OK) {
            w->state = commit ? WC_COMMIT_HELD : WC_HDR_HELD;
            return SQLITE_OK;
        }
    } else if (follows && (w->state == WC_HDR_HELD ||
                           w->state == WC_COMMIT_HELD) &&
               wc_hold(w, p, n, off) == SQLITE_OK) {
        int commit = w->state == WC_COMMIT_HELD;

        w->state = WC_PAGE_HELD;
        return commit ? wc_flush(w) : SQLITE_OK;
    }
    /* Anything else, or no memory to hold it: through, in order. */
    if ((rc = wc_flush(w)))
        return rc;
    return w->real->pMethods->xWrite(w->real, p, n, off);
}

/* Every other method writes out what is held first. */
#define WC_FLUSHED(f)                                                      \
    do {                                                                   \
        int frc_ = ((struct wc_file *)(f))->len                            \
                       ? wc_flush((struct wc_file *)(f))                   \
                       : SQLITE_OK;                                        \
        if (frc_ != SQLITE_OK)                                             \
            return frc_;                                                   \
    } while (0)

static int wc_close(sqlite3_file *f)
{
    struct wc_file *w = (struct wc_file *)f;
    int frc = w->len ? wc_flush(w) : SQLITE_OK;
    int rc = w->real->pMethods->xClose(w->real);

    free(w->buf);
    w->buf = NULL;
    w->cap = 0;
    return frc != SQLITE_OK ? frc : rc;
}
static int wc_read(sqlite3_file *f, void *b, int n, sqlite3_int64 off)
{
    WC_FLUSHED(f);
    return WC_REAL(f)->pMethods->xRead(WC_REAL(f), b, n, off);
}
static int wc_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    WC_FLUSHED(f);
    return WC_REAL(f)->pMethods->xTruncate(WC_REAL(f), size);
}
static int wc_sync(sqlite3_file *f, int flags)
{
    WC_FLUSHED(f);
    return WC_REAL(f)->pMethods->xSync(WC_REAL(f), flags);
}
static int wc_size(sqlite3_file *f, sqlite3_int64 *size)
{
    WC_FLUSHED(f);
    return WC_REAL(f)->pMethods->xFileSize(WC_REAL(f), size);
}
static int wc_lock(sqlite3_file *f, int l)
{
    WC_FLUSHED(f);
    return WC_REAL(f)->pMethods->xLock(WC_REAL(f), l);
}
static int wc_unlock(sqlite3_file *f, int l)
{
    WC_FLUSHED(f);
    return WC_REAL(f)->pMethods->xUnlock(WC_REAL(f), l);
}
static int wc_check(sqlite3_file *f, int *out)
{
    WC_FLUSHED(f);
    return WC_REAL(f)->pMethods->xCheckReservedLock(WC_REAL(f), out);
}
static int wc_fcntl(sqlite3_file *f, int op, void *arg)
{
    WC_FLUSHED(f);
    return WC_REAL(f)->pMethods->xFileControl(WC_REAL(f), op, arg);
}
static int wc_sector(sqlite3_file *f)
{
    return WC_REAL(f)->pMethods->xSectorSize(WC_REAL(f));
}
static int wc_devchar(sqlite3_file *f)
{
    return WC_REAL(f)->pMethods->xDeviceCharacteristics(WC_REAL(f));
}
static int wc_shmmap(sqlite3_file *f, int pg, int sz, int ext,
                     void volatile **p)
{
    return WC_REAL(f)->pMethods->xShmMap(WC_REAL(f), pg, sz, ext, p);
}
static int wc_shmlock(sqlite3_file *f, int off, int n, int flags)
{
    return WC_REAL(f)->pMethods->xShmLock(WC_REAL(f), off, n, flags);
}
static void wc_shmbarrier(sqlite3_file *f)
{
    WC_REAL(f)->pMethods->xShmBarrier(WC_REAL(f));
}
static int wc_shmunmap(sqlite3_file *f, int del)
{
    return WC_REAL(f)->pMethods->xShmUnmap(WC_REAL(f), del);
}
static int wc_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **pp)
{
    WC_FLUSHED(f);
    return WC_REAL(f)->pMethods->xFetch(WC_REAL(f), off, n, pp);
}
static int wc_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
    return WC_REAL(f)->pMethods->xUnfetch(WC_REAL(f), off, p);
}

/* One table per methods version: SQLite calls the shared-memory (2) and
 * mmap (3) methods only when the version says they exist, so ours must say
 * what the real file's do. */
#define WC_IO(v)                                                           \
    {v, wc_close, wc_read, wc_write, wc_truncate, wc_sync, wc_size,        \
     wc_lock, wc_unlock, wc_check, wc_fcntl, wc_sector, wc_devchar,        \
     wc_shmmap, wc_shmlock, wc_shmbarrier, wc_shmunmap, wc_fetch,          \
     wc_unfetch}
static const sqlite3_io_methods wc_io[3] = {WC_IO(1), WC_IO(2), WC_IO(3)};

static int wc_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *f,
                   int flags, int *outflags)
{
    struct wc_file *w = (struct wc_file *)f;
    int rc;

    (void)vfs;
    memset(w, 0, sizeof *w);
    w->real = (sqlite3_file *)(w + 1);
    rc = wc_base->xOpen(wc_base, name, w->real, flags, outflags);
    if (w->real->pMethods) {
        int v = w->real->pMethods->iVersion;

        f->pMethods = &wc_io[v < 1 ? 0 : v > 3 ? 2 : v - 1];
    } else {
        f->pMethods = NULL;
    }
    w->wal = (flags & SQLITE_OPEN_WAL) != 0;
    return rc;
}

static void wc_register(void)
{
    wc_base = sqlite3_vfs_find(NULL);
    if (!wc_base)
        return;
    wc_vfs = *wc_base;
    wc_vfs.zName = "tg-wal-combine";
    wc_vfs.szOsFile = (int)sizeof(struct wc_file) + wc_base->szOsFile;
    wc_vfs.xOpen = wc_open;
    wc_vfs.pNext = NULL;
    if (sqlite3_vfs_register(&wc_vfs, 0) != SQLITE_OK)
        wc_base = NULL;
}

/* The VFS name for the write connection, or NULL (the default) when the
 * combining VFS could not be set up. */
static const char *wc_vfs_name(void)
{
    pthread_once(&wc_once, wc_register);
    return wc_base ? wc_vfs.zName : NULL;
}

/* ------------------------------------------------------------- the store */

/* One append waiting for its batch; lives on the appender's stack. */
struct pending {
    const struct tg_evidence_record *r;
    /* Copy-forward digests of r's justification and ticket, computed by
     * the appender so that the writer does not. has_cf: r carries a
     * justification. */
    unsigned char jd[CF_DIGEST], td[CF_DIGEST];
    int has_cf;
    int jti_only; /* tg_evidence_bind_jti: no record, only r's jti */
    int rc;
    struct pending *next;
    /* Set (after rc) once the batch is committed or failed; p may be gone
     * right after. The appender sleeps on the store's wake word with its
     * wake bit (struct tg_evidence), not on a condition under the store's
     * mutex: a woken appender does not queue for the mutex that the writer
     * still holds (a second sleep and wake-up per append). */
    atomic_int done;
    uint32_t bit;
};

/* The write connection and its statements (token holder only). */
struct wconn {
    sqlite3 *db;
    sqlite3_stmt *head, *dup, *ins, *meta, *just, *since;
    sqlite3_stmt *jti_get, *jti_put; /* jti_use */
    /* prepared once: sqlite3_exec would parse them at every commit */
    sqlite3_stmt *begin, *commit, *rollback;
    /* The -wal and -shm files this connection opened (stat at open): one
     * found at their paths later is another file. */
    dev_t wal_dev, shm_dev;
    ino_t wal_ino, shm_ino;
};

enum { Q_DELIVERY, Q_COPY, Q_USES, Q_GET, Q_LIST, Q_JTI, Q_N };

static const char *const QUERIES[Q_N] = {
    [Q_DELIVERY] = "SELECT body_sha256, decision FROM records"
                   " WHERE source = ?1 AND delivery_id = ?2",
    [Q_COPY] = "SELECT COUNT(*) FROM (SELECT 1 FROM just_use"
               " WHERE just_norm = ?1 AND last_time >= ?2 AND ticket <> ?3"
               " LIMIT ?4)",
    [Q_USES] = "SELECT ticket, last_time FROM just_use WHERE just_norm = ?1"
               " ORDER BY last_time DESC LIMIT ?2",
    [Q_GET] = "SELECT decision FROM records WHERE decision_id = ?1",
    [Q_LIST] = "SELECT seq, decision FROM records"
               " WHERE ticket = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3",
    [Q_JTI] = "SELECT j.body_sha256, j.decision_id, r.decision"
              " FROM jti_use j LEFT JOIN records r"
              " ON r.decision_id = j.decision_id"
              " WHERE j.source = ?1 AND j.jti = ?2",
};

/* One pooled read connection with its statements, prepared on first use. */
struct rconn {
    sqlite3 *db;
    sqlite3_stmt *st[Q_N];
    struct rconn *next;
};

/*
 * The copy-forward index: just_use in memory, so that counting (once per
 * gated request) reads no SQLite page. One group per justification (by
 * digest) holding its tickets (by digest) with their latest use, exactly as
 * just_use has them, except:
 *
 * - A group keeps at most COPY_LIMIT + 1 tickets, the latest ones. That
 *   changes no answer: counts stop at COPY_LIMIT, and a ticket dropped for
 *   a later one can only matter when all COPY_LIMIT + 1 kept are in the
 *   window too (so the count is COPY_LIMIT anyway).
 * - Memory is bounded: at most CF_GROUPS_MAX groups and CF_USES_MAX ticket
 *   slots beyond each group's first. Past that, the group least recently
 *   used of a few sampled is dropped and its digest set in the `gone` Bloom
 *   filter; a justification that may be gone is counted by SQLite instead
 *   (so is any justification when the filter says so by mistake, which only
 *   costs the read), and that count reloads its uses from just_use, so
 *   that the next ones need no read again. A justification absent from the
 *   index and not gone was never recorded: its count is 0 without a read.
 * - It is exact for this process's records at once (updated after each
 *   commit, before the appenders are answered) and for other processes
 *   writing the same file from the next commit on (each transaction reads
 *   the records appended since the last). The index is used only while a
 *   commit happened within CF_FRESH_MS: an idle server counts by SQLite, so
 *   another process's records are seen at most CF_FRESH_MS late.
 *
 * Digests are the first 16 bytes of SHA-256: a collision is as unlikely as
 * one in the chain itself.
 */
struct cf_use {
    unsigned char td[CF_DIGEST];
    int64_t last;
};

struct cf_group {
    unsigned char jd[CF_DIGEST];
    int64_t newest;        /* latest use of any ticket: the eviction order */
    uint32_t next;         /* bucket chain: index + 1, 0 ends it */
    uint32_t n, cap;       /* cap 1: the one use is `one`, else `more` */
    /* Holds every use of the justification. Not when it was created for
     * one that had been dropped before (its older uses are only in
     * just_use) until a count reloads them (cf_reload). */
    int complete;
    struct cf_use one;
    struct cf_use *more;
};

struct cf_index {
    pthread_mutex_t mu;    /* held for a count or an update, both short */
    int valid;             /* 0: an allocation failed; SQLite counts */
    struct cf_group *g;
    uint32_t n, cap;       /* groups used and allocated */
    uint32_t *bucket;      /* CF_BUCKETS heads: group index + 1 */
    size_t n_more;         /* cf_use slots in every group's `more` */
    unsigned char *gone;   /* CF_GONE_BITS bits, allocated on first drop */
    uint64_t drops;        /* groups dropped so far */
    int64_t seq;           /* records up to this seq are in the index */
    int64_t synced_ms;     /* monotonic ms of the last commit (or load) */
    uint64_t rng;          /* eviction sampling */
};

/* Which file of the store vanished under the server (struct tg_evidence
 * gone). */
enum { GONE_NONE, GONE_DB, GONE_AUX };

struct tg_evidence {
    char *path;
    char *wal_path, *shm_path; /* path + "-wal", "-shm" */
    enum tg_sync sync;
    /* The store file, pinned at open: every later open and every commit
     * checks that path still names it (docs/EVIDENCE.md, "failure"). Set
     * before the threads start, read-only after. */
    dev_t dev;
    ino_t ino;
    /* The decision-id high-water file, path + ".ids" (-1: not open). */
    char *ids_path;
    int ids_fd;
    unsigned char *key;
    size_t keylen;
    int busy_ms;

    /*
     * Writes: whoever holds the write token owns the write connection:
     * the writer thread while it commits a batch, the maintenance thread
     * while it restarts the WAL or probes; close, once both are gone.
     * Appenders queue their record and sleep until the writer committed it.
     */
    pthread_mutex_t mu;     /* guards the queue, the token, stop, ready */
    pthread_cond_t work;    /* writer: records queued and the token free */
    pthread_cond_t token_cv; /* maintenance waits here for the token */
    struct pending *qhead, *qtail;
    int token;              /* 1 while a thread owns the write connection */
    int token_wanted;       /* maintenance waits: the writer defers */
    int stop;
    int ready;
    int inited;             /* the mutexes and conditions set up */
    _Atomic uint64_t next_id;
    /* Committed batches wake their appenders with one futex call: each
     * appender sleeps on wake_word (bumped by every batch) with one of 32
     * wake bits, handed out in turn (wake_bits), and the writer wakes the
     * bits of the batch at once (FUTEX_WAKE_BITSET). One syscall a batch
     * instead of one sem_post a record (7% of the server's time); an
     * appender of a later batch that shares a bit wakes, finds its record
     * not done and sleeps again. */
    atomic_uint wake_word;
    atomic_uint wake_bits;
    pthread_t writer;
    int writer_started;

    /* Token holder only. */
    struct wconn w;
    uint64_t id_reserved;   /* meta id_next as committed */
    int ck_frames;          /* WAL size when the checkpoint was last asked */
    int wal_frames;         /* WAL size after the last commit */
    int gone;               /* GONE_*: a file was deleted or replaced */
    struct fail err;        /* why the last write failed */
    const char *logged;     /* the failure last logged; NULL: none */
    int ids_warned;         /* a failed write of ids_path was logged */
    uint64_t ids_mark;      /* the number ids_path holds (never lowered) */
    _Atomic(const char *) failure; /* words of err while failing, or NULL */

    /*
     * The maintenance thread: checkpoints on its own connection, restarts
     * the WAL when it grew large, and probes a failing store. SQLite's
     * automatic checkpoint would copy the WAL into the database (and sync
     * it) inside a commit, stalling every appender behind it.
     */
    pthread_mutex_t mt_mu;
    pthread_cond_t mt_cv;
    int ck_due;             /* the WAL grew by CKPT_FRAMES frames */
    int mt_stop;
    int mt_started;
    pthread_t mt;

    struct cf_index cf;

    pthread_mutex_t pool_mu;
    int pool_inited;
    struct rconn *idle;
    size_t n_idle;
};

static void deadline_after(struct timespec *ts, long ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------ the copy-forward index */

/* The digest of s that the index keys on (see struct cf_index). */
static int cf_digest(const char *s, unsigned char out[CF_DIGEST])
{
    unsigned char full[TG_DIGEST_LEN];

    if (tg_digest_sha256_of(s, strlen(s), full) != 0)
        return TG_EIO;
    memcpy(out, full, CF_DIGEST);
    return 0;
}

static uint32_t cf_hash(const unsigned char d[CF_DIGEST])
{
    uint32_t h;

    memcpy(&h, d, sizeof h); /* a digest is uniform already */
    return h;
}

static int cf_init(struct cf_index *x)
{
    memset(x, 0, sizeof *x);
    if (pthread_mutex_init(&x->mu, NULL))
        return TG_ENOMEM;
    x->bucket = calloc(CF_BUCKETS, sizeof *x->bucket);
    if (!x->bucket) {
        pthread_mutex_destroy(&x->mu);
        return TG_ENOMEM;
    }
    x->rng = 0x9e3779b97f4a7c15ULL ^ (uint64_t)mono_ms();
    return 0;
}

static void cf_cleanup(struct cf_index *x)
{
    if (!x->bucket)
        return;
    for (uint32_t i = 0; i < x->n; i++)
        if (x->g[i].cap > 1)
            free(x->g[i].more);
    free(x->g);
    free(x->bucket);
    free(x->gone);
    pthread_mutex_destroy(&x->mu);
    memset(x, 0, sizeof *x);
}

/* Bit k (< CF_GONE_K) of d in the gone filter: 24 bits of the digest each,
 * from bytes 4..15 (the bucket hash uses 0..3). */
static uint32_t cf_gone_bit(const unsigned char d[CF_DIGEST], int k)
{
    const unsigned char *b = d + 4 + 3 * k;

    return ((uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16) &
           (CF_GONE_BITS - 1);
}

static int cf_is_gone(const struct cf_index *x,
                      const unsigned char d[CF_DIGEST])
{
    if (!x->gone)
        return 0;
    for (int k = 0; k < CF_GONE_K; k++) {
        uint32_t b = cf_gone_bit(d, k);

        if (!(x->gone[b >> 3] & (1u << (b & 7))))
            return 0;
    }
    return 1;
}

static struct cf_group *cf_find(struct cf_index *x,
                                const unsigned char jd[CF_DIGEST])
{
    uint32_t i = x->bucket[cf_hash(jd) & (CF_BUCKETS - 1)];

    while (i) {
        struct cf_group *g = &x->g[i - 1];

        if (memcmp(g->jd, jd, CF_DIGEST) == 0)
            return g;
        i = g->next;
    }
    return NULL;
}

/* The link (bucket head or a group's next) that points at group index i. */
static uint32_t *cf_link_to(struct cf_index *x, uint32_t i)
{
    uint32_t *l = &x->bucket[cf_hash(x->g[i].jd) & (CF_BUCKETS - 1)];

    while (*l != i + 1)
        l = &x->g[*l - 1].next;
    return l;
}

/* Drops group i and remembers its justification as gone. Returns 0, or
 * TG_ENOMEM when the filter cannot be allocated (the index is then
 * invalid). */
static int cf_drop(struct cf_index *x, uint32_t i)
{
    struct cf_group *g = &x->g[i];
    uint32_t last = x->n - 1;

    if (!x->gone && !(x->gone = calloc(CF_GONE_BITS / 8, 1))) {
        x->valid = 0;
        return TG_ENOMEM;
    }
    for (int k = 0; k < CF_GONE_K; k++) {
        uint32_t b = cf_gone_bit(g->jd, k);

        x->gone[b >> 3] |= (unsigned char)(1u << (b & 7));
    }
    x->drops++;
    *cf_link_to(x, i) = g->next;
    if (g->cap > 1) {
        free(g->more);
        x->n_more -= g->cap;
    }
    if (i != last) {
        /* the last group moves into the hole; its link follows it */
        *cf_link_to(x, last) = i + 1;
        x->g[i] = x->g[last];
    }
    x->n--;
    return 0;
}

/* Drops the least recently used of a few sampled groups other than keep
 * (an approximation of LRU that needs no list to maintain). */
static int cf_evict(struct cf_index *x, const struct cf_group *keep)
{
    uint32_t victim = UINT32_MAX;

    for (int s = 0; s < 5; s++) {
        uint32_t i;

        x->rng ^= x->rng << 13;
        x->rng ^= x->rng >> 7;
        x->rng ^= x->rng << 17;
        i = (uint32_t)(x->rng % x->n);
        if (&x->g[i] == keep)
            continue;
        if (victim == UINT32_MAX || x->g[i].newest < x->g[victim].newest)
            victim = i;
    }
    if (victim == UINT32_MAX)
        return 0; /* only keep sampled: nothing dropped this time */
    return cf_drop(x, victim);
}

static struct cf_use *cf_uses(struct cf_group *g)
{
    return g->cap > 1 ? g->more : &g->one;
}

/*
 * Records that ticket td used justification jd at time t, as the upsert
 * into just_use does (last = max). Returns 0 or TG_ENOMEM (the index is then
 * invalid: counts go to SQLite).
 */
static int cf_add(struct cf_index *x, const unsigned char jd[CF_DIGEST],
                  const unsigned char td[CF_DIGEST], int64_t t)
{
    struct cf_group *g = cf_find(x, jd);
    struct cf_use *u;

    if (!x->valid)
        return 0;
    if (!g) {
        while (x->n >= CF_GROUPS_MAX)
            if (cf_evict(x, NULL))
                return TG_ENOMEM;
        if (x->n == x->cap) {
            uint32_t ncap = x->cap ? x->cap * 2 : 1024;
            struct cf_group *ng;

            if (ncap > CF_GROUPS_MAX)
                ncap = CF_GROUPS_MAX;
            if (!(ng = realloc(x->g, ncap * sizeof *ng))) {
                x->valid = 0;
                return TG_ENOMEM;
            }
            x->g = ng;
            x->cap = ncap;
        }
        g = &x->g[x->n];
        memset(g, 0, sizeof *g);
        memcpy(g->jd, jd, CF_DIGEST);
        g->newest = t;
        g->n = g->cap = 1;
        g->complete = !cf_is_gone(x, jd);
        memcpy(g->one.td, td, CF_DIGEST);
        g->one.last = t;
        g->next = x->bucket[cf_hash(jd) & (CF_BUCKETS - 1)];
        x->bucket[cf_hash(jd) & (CF_BUCKETS - 1)] = ++x->n;
        return 0;
    }
    if (t > g->newest)
        g->newest = t;
    u = cf_uses(g);
    for (uint32_t i = 0; i < g->n; i++) {
        if (memcmp(u[i].td, td, CF_DIGEST) == 0) {
            if (t > u[i].last)
                u[i].last = t;
            return 0;
        }
    }
    if (g->n == CF_GROUP_MAX) {
        /* full: td replaces the oldest use if it is later (see above) */
        uint32_t min = 0;

        for (uint32_t i = 1; i < g->n; i++)
            if (u[i].last < u[min].last)
                min = i;
        if (t > u[min].last) {
            memcpy(u[min].td, td, CF_DIGEST);
            u[min].last = t;
        }
        return 0;
    }
    if (g->n == g->cap) {
        uint32_t ncap = g->cap < 4 ? 4 : g->cap * 2;
        uint32_t gi = (uint32_t)(g - x->g);
        struct cf_use *nu;

        if (ncap > CF_GROUP_MAX)
            ncap = CF_GROUP_MAX;
        while (x->n_more + ncap > CF_USES_MAX && x->n > 1) {
            /* eviction may move groups: find ours again by index */
            uint32_t before = x->n;

            if (cf_evict(x, &x->g[gi]))
                return TG_ENOMEM;
            if (x->n < before && gi >= x->n)
                gi = (uint32_t)(cf_find(x, jd) - x->g);
        }
        g = &x->g[gi];
        if (x->n_more + ncap > CF_USES_MAX ||
            !(nu = malloc(ncap * sizeof *nu))) {
            /* no room for this one group: forget it rather than lie */
            return cf_drop(x, gi);
        }
        memcpy(nu, cf_uses(g), g->n * sizeof *nu);
        if (g->cap > 1) {
            free(g->more);
            x->n_more -= g->cap;
        }
        g->more = nu;
        g->cap = ncap;
        x->n_more += ncap;
        u = nu;
    }
    memcpy(u[g->n].td, td, CF_DIGEST);
    u[g->n].last = t;
    g->n++;
    return 0;
}

/*
 * The count of tickets other than td that used jd at or after since, at
 * most COPY_LIMIT, from the index. Returns 1 with *out, or 0 when the index
 * cannot tell (stale, invalid, or the justification may have been dropped):
 * the caller asks SQLite, and with *reload set, hands the uses it reads to
 * cf_reload with *drops.
 */
static int cf_count(struct cf_index *x, const unsigned char jd[CF_DIGEST],
                    const unsigned char td[CF_DIGEST], int64_t since,
                    long *out, int *reload, uint64_t *drops)
{
    struct cf_group *g;
    int64_t now = mono_ms();
    long n = 0;
    int ok = 0;

    *reload = 0;
    pthread_mutex_lock(&x->mu);
    *drops = x->drops;
    if (!x->valid || now - x->synced_ms > CF_FRESH_MS)
        goto out;
    g = cf_find(x, jd);
    if (g ? !g->complete : cf_is_gone(x, jd)) {
        *reload = 1;
        goto out;
    }
    ok = 1;
    if (!g)
        goto out;
    {
        const struct cf_use *u = cf_uses(g);

        for (uint32_t i = 0; i < g->n && n < COPY_LIMIT; i++)
            if (u[i].last >= since && memcmp(u[i].td, td, CF_DIGEST) != 0)
                n++;
    }
out:
    pthread_mutex_unlock(&x->mu);
    if (ok)
        *out = n;
    return ok;
}

/*
 * Merges the latest uses of jd read from just_use (at most CF_GROUP_MAX,
 * newest first) into its group and marks it complete. Commits after that
 * read added their uses to the group themselves, and adding a use twice
 * changes nothing, so the group then holds every use; unless a group was
 * dropped since cf_count gave drops (it could have been this one, with a
 * use the read missed), and then it stays as it was: incomplete.
 */
static void cf_reload(struct cf_index *x, const unsigned char jd[CF_DIGEST],
                      const struct cf_use *u, size_t n, uint64_t drops)
{
    struct cf_group *g;

    pthread_mutex_lock(&x->mu);
    for (size_t i = 0; i < n && x->valid && x->drops == drops; i++)
        if (cf_add(x, jd, u[i].td, u[i].last))
            break;
    if (x->valid && n > 0 && x->drops == drops && (g = cf_find(x, jd)))
        g->complete = 1;
    pthread_mutex_unlock(&x->mu);
}

/* Adds one row (justification, ticket, time) read from the store. */
static int cf_add_text(struct cf_index *x, const char *just,
                       const char *ticket, int64_t t)
{
    unsigned char jd[CF_DIGEST], td[CF_DIGEST];

    if (!just || !ticket || cf_digest(just, jd) || cf_digest(ticket, td)) {
        x->valid = 0;
        return TG_EIO;
    }
    return cf_add(x, jd, td, t);
}

/*
 * Fills the index from just_use, and sets its seq to the last record, in
 * one snapshot of db (the write connection, before any thread starts).
 * Returns 0 or the SQLite failure; an index that does not fit is not one:
 * it only drops groups.
 */
static int cf_load(struct tg_evidence *e, sqlite3 *db)
{
    struct cf_index *x = &e->cf;
    sqlite3_stmt *st = NULL;
    int rc;

    if ((rc = exec_sql(db, "BEGIN")))
        return rc;
    rc = sqlite3_prepare_v2(db, "SELECT coalesce(max(seq), 0) FROM records",
                            -1, &st, NULL);
    if (rc != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) {
        rc = map_sqlite(rc == SQLITE_OK ? sqlite3_errcode(db) : rc);
        goto out;
    }
    x->seq = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    rc = sqlite3_prepare_v2(db, "SELECT just_norm, ticket, last_time"
                                " FROM just_use", -1, &st, NULL);
    if (rc != SQLITE_OK) {
        rc = map_sqlite(rc);
        goto out;
    }
    x->valid = 1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        cf_add_text(x, (const char *)sqlite3_column_text(st, 0),
                    (const char *)sqlite3_column_text(st, 1),
                    sqlite3_column_int64(st, 2));
    rc = rc == SQLITE_DONE ? 0 : map_sqlite(rc);
    x->synced_ms = mono_ms();
out:
    sqlite3_finalize(st);
    exec_sql(db, "COMMIT");
    if (rc)
        x->valid = 0;
    return rc;
}

/* ------------------------------------------------------------ write path */

/* After every commit of the write connection: asks the maintenance thread
 * for a checkpoint each time the WAL grew by CKPT_FRAMES (not on every
 * commit past it, which would be a wake-up per commit). */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
    struct tg_evidence *e = arg;
    (void)db;
    (void)name;
    e->wal_frames = frames;
    if (frames < e->ck_frames)
        e->ck_frames = 0; /* the WAL restarted */
    if (frames - e->ck_frames >= CKPT_FRAMES) {
        e->ck_frames = frames;
        pthread_mutex_lock(&e->mt_mu);
        e->ck_due = 1;
        pthread_cond_signal(&e->mt_cv);
        pthread_mutex_unlock(&e->mt_mu);
    }
    return SQLITE_OK;
}

static const char WHY_DELETED[] =
    "the database file was deleted under the running server";
static const char WHY_REPLACED[] =
    "the database file was replaced by another file under the running server";
static const char WHY_WAL[] =
    "its -wal file was deleted or replaced under the running server";
static const char WHY_SHM[] =
    "its -shm file was deleted or replaced under the running server";

/* 0 when path names the file (dev, ino); 1 when nothing is there; 2 when
 * another file is; -1 when stat fails otherwise (cannot tell: the write
 * itself will say). One stat(2): cheap enough for every group commit. */
static int file_moved(const char *path, dev_t dev, ino_t ino)
{
    struct stat st;

    if (stat(path, &st) != 0)
        return errno == ENOENT || errno == ENOTDIR ? 1 : -1;
    return st.st_dev == dev && st.st_ino == ino ? 0 : 2;
}

/* NULL while path still names the store file pinned at open, else why
 * not. Reads only what is set before the threads start. */
static const char *db_moved(const struct tg_evidence *e)
{
    switch (file_moved(e->path, e->dev, e->ino)) {
    case 1:
        return WHY_DELETED;
    case 2:
        return WHY_REPLACED;
    default:
        return NULL;
    }
}

/* NULL while the store file and the -wal and -shm files that w opened are
 * all still at their paths, else why not (token holder). SQLite itself
 * would go on writing into a file that no path names any more, and
 * acknowledge decisions that a restart cannot find. */
static const char *files_moved(const struct tg_evidence *e,
                               const struct wconn *w)
{
    const char *why = db_moved(e);

    if (why)
        return why;
    if (file_moved(e->wal_path, w->wal_dev, w->wal_ino) > 0)
        return WHY_WAL;
    if (file_moved(e->shm_path, w->shm_dev, w->shm_ino) > 0)
        return WHY_SHM;
    return NULL;
}

static void wconn_close(struct wconn *w)
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
    close_db(w->db);
    memset(w, 0, sizeof *w);
}

/*
 * Identifies the files w writes: pins the store file (create: the first
 * open) or checks that it is still the one pinned, and notes the -wal and
 * -shm files it opened. Returns 0, or TG_EIO with e->err (and e->gone).
 */
static int wconn_pin(struct tg_evidence *e, struct wconn *w, int create)
{
    struct stat st;
    const char *why = NULL;
    int moved = 0;

    if (create) {
        if (stat(e->path, &st) != 0) {
            why = WHY_DELETED;
            goto out;
        }
        e->dev = st.st_dev;
        e->ino = st.st_ino;
    } else if ((why = db_moved(e))) {
        goto out;
    }
    /* SQLite compares the inode of its open file with the path's: the file
     * it opened is the one just pinned or checked, not one moved into its
     * place in between. */
    if (sqlite3_file_control(w->db, "main", SQLITE_FCNTL_HAS_MOVED,
                             &moved) == SQLITE_OK && moved) {
        why = WHY_REPLACED;
        goto out;
    }
    /* In WAL mode both are open once the schema was read. */
    if (stat(e->wal_path, &st) != 0) {
        why = WHY_WAL;
        goto out;
    }
    w->wal_dev = st.st_dev;
    w->wal_ino = st.st_ino;
    if (stat(e->shm_path, &st) != 0) {
        why = WHY_SHM;
        goto out;
    }
    w->shm_dev = st.st_dev;
    w->shm_ino = st.st_ino;
out:
    if (!why)
        return 0;
    e->err = (struct fail){0, 0, why};
    e->gone = why == WHY_DELETED || why == WHY_REPLACED ? GONE_DB : GONE_AUX;
    return TG_EIO;
}

/*
 * Opens the write connection. create: the first open, which may create the
 * file and the schema. A reopen after a failure never creates: a store file
 * that vanished must not silently restart the chain at genesis; nor does
 * it open another file found at the path (wconn_pin). On failure e->err
 * says why.
 */
static int wconn_open(struct tg_evidence *e, struct wconn *w, int create)
{
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
                (create ? SQLITE_OPEN_CREATE : 0);
    const char *sync = e->sync == TG_SYNC_FULL ? "PRAGMA synchronous=FULL"
                                               : "PRAGMA synchronous=NORMAL";
    sqlite3_stmt *st = NULL;
    const char *why = NULL;
    int version = 0;
    int rc;

    memset(w, 0, sizeof *w);
    /* Never open another file found at the path: it would share this
     * process's -shm with ours. */
    if (!create && (why = db_moved(e))) {
        e->err = (struct fail){0, 0, why};
        e->gone = GONE_DB;
        return TG_EIO;
    }
    rc = open_db_vfs(e->path, flags, e->busy_ms, wc_vfs_name(), &w->db,
                     &e->err);
    if (rc)
        return rc;
    /* Replaces SQLite's automatic checkpoint (see struct tg_evidence). */
    sqlite3_wal_hook(w->db, wal_hook, e);
    /* SQLite falls back to read-only on a file it may not write: for the
     * writer that is a failure, found now rather than at the first commit */
    if (sqlite3_db_readonly(w->db, "main") != 0) {
        why = "read-only (the file or its directory cannot be written)";
        rc = TG_EIO;
        goto out;
    }
    /* Only takes effect on a new file: lets archive give pages back. */
    if ((rc = exec_sql(w->db, "PRAGMA auto_vacuum=INCREMENTAL")))
        goto out;
    rc = sqlite3_prepare_v2(w->db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
    if (rc != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW ||
        sqlite3_stricmp((const char *)sqlite3_column_text(st, 0), "wal")) {
        /* a read-only file answers "delete": it cannot take our writes */
        if (rc == SQLITE_OK)
            why = "read-only (the file or its directory cannot be written)";
        rc = TG_EIO;
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    if ((rc = exec_sql(w->db, sync)) ||
        (rc = exec_sql(w->db, "PRAGMA journal_size_limit=67108864")) ||
        (rc = user_version(w->db, &version)))
        goto out;
    if (version > SCHEMA_VERSION || (!create && version != SCHEMA_VERSION)) {
        why = "not a ticketgate store of this version (schema version)";
        rc = TG_EIO;
        goto out;
    }
    if (version == 0) {
        if ((rc = exec_sql(w->db, "BEGIN IMMEDIATE")))
            goto out;
        if ((rc = exec_sql(w->db, SCHEMA)) ||
            (rc = exec_sql(w->db, "COMMIT"))) {
            exec_sql(w->db, "ROLLBACK");
            goto out;
        }
    } else if (create) {
        /* Stores made before the copy-forward index moved into memory:
         * their (just_norm, last_time) index only costs a page per write
         * now. Best effort: another writer may hold the lock. */
        exec_sql(w->db, "DROP INDEX IF EXISTS just_use_time");
    }
    /* Stores made before single-use jti: not best effort, the statements
     * below need the table. A no-op once it exists. */
    if ((rc = exec_sql(w->db, JTI_SCHEMA)))
        goto out;
#define PREP(stmt, sql)                                                    \
    do {                                                                   \
        int prc_ = sqlite3_prepare_v3(w->db, sql, -1,                      \
                                      SQLITE_PREPARE_PERSISTENT, &(stmt),  \
                                      NULL);                               \
        if (prc_ != SQLITE_OK) {                                           \
            rc = map_sqlite(prc_);                                         \
            goto out;                                                      \
        }                                                                  \
    } while (0)
    PREP(w->head, "SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1");
    PREP(w->dup,
         "SELECT 1 FROM records WHERE source = ?1 AND delivery_id = ?2");
    PREP(w->ins, "INSERT INTO records(" RECORD_COLUMNS ") VALUES"
                 " (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)");
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
    rc = wconn_pin(e, w, create);
    if (rc)
        why = e->err.what;
out:
    sqlite3_finalize(st);
    if (rc) {
        if (why)
            e->err = (struct fail){0, 0, why};
        else
            fail_note(&e->err, w->db);
        wconn_close(w);
    }
    return rc;
}

/* Runs a prepared statement that returns no row. */
static int step_stmt(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);

    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : map_sqlite(rc);
}

/* The head the next record links to: the last record, else the anchor. */
static int read_head(struct wconn *w, int64_t *seq, char hash[65])
{
    char mac[65];
    int rc = sqlite3_step(w->head);

    if (rc == SQLITE_ROW) {
        const char *h = (const char *)sqlite3_column_text(w->head, 1);

        *seq = sqlite3_column_int64(w->head, 0);
        rc = (h && sqlite3_column_bytes(w->head, 1) == 64) ? 0 : TG_EIO;
        if (!rc)
            memcpy(hash, h, 65);
        sqlite3_reset(w->head);
        return rc;
    }
    sqlite3_reset(w->head);
    if (rc != SQLITE_DONE)
        return map_sqlite(rc);
    return read_anchor(w->db, seq, hash, mac);
}

/*
 * Whether r's jti may be bound to r inside the open transaction: 0 when it
 * is unused, or was bound to the same body by a decision that made no record
 * (jti_only: by any decision); TG_ECONFLICT when it was used otherwise; a
 * fatal TG_EIO / TG_EBUSY.
 */
static int jti_free(struct wconn *w, const struct tg_evidence_record *r,
                    int jti_only)
{
    char body[65];
    int rc;

    sqlite3_bind_text(w->jti_get, 1, r->source, -1, SQLITE_STATIC);
    sqlite3_bind_text(w->jti_get, 2, r->jti, -1, SQLITE_STATIC);
    rc = sqlite3_step(w->jti_get);
    if (rc == SQLITE_ROW) {
        const char *have = (const char *)sqlite3_column_text(w->jti_get, 0);
        int recorded = sqlite3_column_type(w->jti_get, 1) != SQLITE_NULL;

        hex_encode(r->body_sha256, 32, body);
        rc = have && strcmp(have, body) == 0 && (jti_only || !recorded)
                 ? 0
                 : TG_ECONFLICT;
    } else if (rc == SQLITE_DONE) {
        rc = 0;
    } else {
        rc = map_sqlite(rc) == TG_EBUSY ? TG_EBUSY : TG_EIO;
    }
    sqlite3_reset(w->jti_get);
    sqlite3_clear_bindings(w->jti_get);
    return rc;
}

/* Binds r's jti to r's body and decision (decision_id NULL: none) inside
 * the open transaction, jti_free having said yes. Returns 0, TG_EIO or
 * TG_EBUSY. */
static int jti_bind(struct wconn *w, const struct tg_evidence_record *r,
                    const char *decision_id)
{
    char body[65];
    int rc;

    hex_encode(r->body_sha256, 32, body);
    sqlite3_bind_text(w->jti_put, 1, r->source, -1, SQLITE_STATIC);
    sqlite3_bind_text(w->jti_put, 2, r->jti, -1, SQLITE_STATIC);
    sqlite3_bind_text(w->jti_put, 3, body, 64, SQLITE_STATIC);
    if (decision_id)
        sqlite3_bind_text(w->jti_put, 4, decision_id, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(w->jti_put, 4);
    sqlite3_bind_int64(w->jti_put, 5, r->time);
    rc = sqlite3_step(w->jti_put);
    sqlite3_reset(w->jti_put);
    sqlite3_clear_bindings(w->jti_put);
    if (rc == SQLITE_DONE)
        return 0;
    return map_sqlite(rc) == TG_EBUSY ? TG_EBUSY : TG_EIO;
}

static int record_valid(const struct tg_evidence_record *r)
{
    return r->decision_id && r->ticket && r->source && r->policy_digest &&
           r->decision_json && r->decision_len > 0;
}

/*
 * Writes r as the link after (*seq, hash) inside the open transaction and
 * advances them, binding r's jti to it. Returns 0, TG_ECONFLICT (delivery id
 * of the source already recorded, or its jti already used), TG_EINVAL
 * (decision id already recorded), or a fatal TG_EIO / TG_EBUSY after which
 * the transaction must be rolled back.
 */
static int insert_one(struct tg_evidence *e, int64_t *seq, char hash[65],
                      const struct tg_evidence_record *r)
{
    struct wconn *w = &e->w;
    struct field f[F_N];
    char seqtxt[24], timetxt[24], body[65], newhash[65], mac[65];
    unsigned char digest[32], macbin[32];
    int64_t next;
    int rc;

    if (r->delivery_id) {
        sqlite3_bind_text(w->dup, 1, r->source, -1, SQLITE_STATIC);
        sqlite3_bind_text(w->dup, 2, r->delivery_id, -1, SQLITE_STATIC);
        rc = sqlite3_step(w->dup);
        sqlite3_reset(w->dup);
        sqlite3_clear_bindings(w->dup);
        if (rc == SQLITE_ROW)
            return TG_ECONFLICT;
        if (rc != SQLITE_DONE)
            return map_sqlite(rc) == TG_EBUSY ? TG_EBUSY : TG_EIO;
    }
    /* Checked before anything is written: the jti row comes after the
     * record, and a conflict then would leave the record in the batch. */
    if (r->jti && (rc = jti_free(w, r, 0)))
        return rc;
    if (*seq == INT64_MAX)
        return TG_EIO;
    next = *seq + 1;
    hex_encode(r->body_sha256, 32, body);
    f[F_SEQ].p = seqtxt;
    f[F_SEQ].n = int_text(next, seqtxt, sizeof seqtxt);
    f[F_ID] = (struct field){r->decision_id, strlen(r->decision_id)};
    f[F_TICKET] = (struct field){r->ticket, strlen(r->ticket)};
    f[F_SOURCE] = (struct field){r->source, strlen(r->source)};
    f[F_DELIVERY] = (struct field){r->delivery_id,
                                   r->delivery_id ? strlen(r->delivery_id) : 0};
    f[F_BODY] = (struct field){body, 64};
    f[F_POLICY] = (struct field){r->policy_digest, strlen(r->policy_digest)};
    f[F_TIME].p = timetxt;
    f[F_TIME].n = int_text(r->time, timetxt, sizeof timetxt);
    f[F_DECISION] = (struct field){r->decision_json, r->decision_len};
    f[F_JUST] = (struct field){r->justification_norm,
                               r->justification_norm
                                   ? strlen(r->justification_norm) : 0};
    f[F_PREV] = (struct field){hash, 64};
    if (r->decision_len > INT32_MAX)
        return TG_EINVAL;
    if ((rc = chain_hash(f, digest)))
        return rc == TG_ENOMEM ? TG_EIO : rc;
    hex_encode(digest, 32, newhash);
    if (e->keylen) {
        if (link_mac(e->key, e->keylen, digest, macbin))
            return TG_EIO;
        hex_encode(macbin, 32, mac);
        OPENSSL_cleanse(macbin, sizeof macbin);
    }

    sqlite3_bind_int64(w->ins, 1, next);
    for (int i = F_ID; i <= F_POLICY; i++) {
        if (f[i].p)
            sqlite3_bind_text(w->ins, i + 1, f[i].p, (int)f[i].n,
                              SQLITE_STATIC);
        else
            sqlite3_bind_null(w->ins, i + 1);
    }
    sqlite3_bind_int64(w->ins, 8, r->time);
    sqlite3_bind_text(w->ins, 9, r->decision_json, (int)r->decision_len,
                      SQLITE_STATIC);
    if (r->justification_norm)
        sqlite3_bind_text(w->ins, 10, r->justification_norm, -1,
                          SQLITE_STATIC);
    else
        sqlite3_bind_null(w->ins, 10);
    sqlite3_bind_text(w->ins, 11, hash, 64, SQLITE_STATIC);
    sqlite3_bind_text(w->ins, 12, newhash, 64, SQLITE_STATIC);
    if (e->keylen)
        sqlite3_bind_text(w->ins, 13, mac, 64, SQLITE_STATIC);
    else
        sqlite3_bind_null(w->ins, 13);
    rc = sqlite3_step(w->ins);
    sqlite3_reset(w->ins);
    sqlite3_clear_bindings(w->ins);
    if (rc == SQLITE_DONE && r->justification_norm) {
        sqlite3_bind_text(w->just, 1, r->justification_norm, -1,
                          SQLITE_STATIC);
        sqlite3_bind_text(w->just, 2, r->ticket, -1, SQLITE_STATIC);
        sqlite3_bind_int64(w->just, 3, r->time);
        rc = sqlite3_step(w->just);
        sqlite3_reset(w->just);
        sqlite3_clear_bindings(w->just);
    }
    if (rc == SQLITE_DONE && r->jti) {
        /* A failure here is fatal (the record is in): rolled back whole. */
        int jrc = jti_bind(w, r, r->decision_id);
        if (jrc)
            return jrc;
    }
    if (rc == SQLITE_DONE) {
        *seq = next;
        memcpy(hash, newhash, 65);
        return 0;
    }
    /* A constraint failure undoes only this statement; the batch goes on.
     * The delivery id was checked above, so it is the decision id. */
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        return TG_EINVAL;
    return map_sqlite(rc) == TG_EBUSY ? TG_EBUSY : TG_EIO;
}

static int write_id_next(struct wconn *w, uint64_t id_next)
{
    int rc;

    sqlite3_bind_int64(w->meta, 1,
                       id_next > INT64_MAX ? INT64_MAX : (int64_t)id_next);
    rc = sqlite3_step(w->meta);
    sqlite3_reset(w->meta);
    sqlite3_clear_bindings(w->meta);
    return rc == SQLITE_DONE ? 0 : map_sqlite(rc);
}

/*
 * Another process's records (seq in (from, to]) for the copy-forward index,
 * read inside the open transaction. Returns 0 with *out (NULL when none;
 * the caller frees) and *n, or the failure.
 */
struct cf_row {
    unsigned char jd[CF_DIGEST], td[CF_DIGEST];
    int64_t t;
};

static int read_foreign(struct wconn *w, int64_t from, int64_t to,
                        struct cf_row **out, size_t *n)
{
    struct cf_row *v = NULL;
    size_t cap = 0;
    int rc;

    *out = NULL;
    *n = 0;
    sqlite3_bind_int64(w->since, 1, from);
    sqlite3_bind_int64(w->since, 2, to);
    while ((rc = sqlite3_step(w->since)) == SQLITE_ROW) {
        const char *j = (const char *)sqlite3_column_text(w->since, 0);
        const char *t = (const char *)sqlite3_column_text(w->since, 1);

        if (*n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            struct cf_row *nv = realloc(v, ncap * sizeof *nv);

            if (!nv) {
                rc = SQLITE_NOMEM;
                break;
            }
            v = nv;
            cap = ncap;
        }
        if (!j || !t || cf_digest(j, v[*n].jd) || cf_digest(t, v[*n].td)) {
            rc = SQLITE_NOMEM;
            break;
        }
        v[*n].t = sqlite3_column_int64(w->since, 2);
        (*n)++;
    }
    sqlite3_reset(w->since);
    sqlite3_clear_bindings(w->since);
    if (rc != SQLITE_DONE) {
        free(v);
        *n = 0;
        return map_sqlite(rc);
    }
    *out = v;
    return 0;
}

/*
 * The decision-id high-water file (path + ".ids"): one line, the number
 * above every decision id handed out (reserved ahead, as meta id_next).
 * It outlives a store file deleted or replaced, so that the store created
 * next does not hand out those numbers again (docs/EVIDENCE.md). 0600.
 */
static void ids_load(struct tg_evidence *e)
{
    char buf[32];
    uint64_t mark = 0, have = atomic_load(&e->next_id);
    ssize_t n;
    ssize_t i;

    e->ids_fd = open(e->ids_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC |
                                      O_NOFOLLOW, 0600);
    if (e->ids_fd >= 0) {
        (void)fchmod(e->ids_fd, 0600); /* whatever the umask */
        return;
    }
    if (errno == EEXIST)
        e->ids_fd = open(e->ids_path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (e->ids_fd < 0) {
        tg_log_event(TG_LOG_WARN, "evidence_ids",
                     "%s: cannot be opened (%s); decision ids rest on the "
                     "store alone",
                     e->ids_path, tg_evidence_cause(SQLITE_CANTOPEN, errno));
        e->ids_warned = 1;
        return;
    }
    n = pread(e->ids_fd, buf, sizeof buf - 1, 0);
    for (i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; i++) {
        unsigned d = (unsigned)(buf[i] - '0');

        if (mark > (UINT64_MAX - d) / 10)
            break;
        mark = mark * 10 + d;
    }
    if (n <= 0 || i == 0 || i >= n || buf[i] != '\n') {
        tg_log_event(TG_LOG_WARN, "evidence_ids",
                     "%s holds no decision-id number; it is rewritten",
                     e->ids_path);
        return;
    }
    e->ids_mark = mark;
    if (mark > have) {
        tg_log_event(TG_LOG_WARN, "evidence_ids",
                     "evidence store %s would number decision ids from %"
                     PRIu64 ", but %s says numbers below %" PRIu64
                     " were reserved for ids before: the store was "
                     "deleted, replaced or recreated since; ids go on from %"
                     PRIu64,
                     e->path, have, e->ids_path, mark, mark);
        atomic_store(&e->next_id, mark);
        e->id_reserved = mark;
    }
}

/* Records v (token holder, or close) as the high-water mark when it is
 * above the one recorded. */
static void ids_store(struct tg_evidence *e, uint64_t v)
{
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%020" PRIu64 "\n", v);

    if (e->ids_fd < 0 || v <= e->ids_mark || n <= 0 ||
        (size_t)n >= sizeof buf)
        return;
    /* One write of 21 bytes at offset 0: a reader never sees half. */
    if (pwrite(e->ids_fd, buf, (size_t)n, 0) == n &&
        (e->sync != TG_SYNC_FULL || fdatasync(e->ids_fd) == 0)) {
        e->ids_mark = v;
        return;
    }
    if (!e->ids_warned)
        tg_log_event(TG_LOG_WARN, "evidence_ids",
                     "%s: cannot be written (%s); decision ids rest on the "
                     "store alone",
                     e->ids_path, tg_evidence_cause(SQLITE_IOERR, errno));
    e->ids_warned = 1;
}

/* Logs a failed write (token holder): once per cause, not once per batch
 * or probe, so that a failing store under load does not flood the log. */
static void report_failure(struct tg_evidence *e)
{
    const char *words = fail_words(&e->err);

    atomic_store(&e->failure, words);
    if (words == e->logged)
        return;
    e->logged = words;
    if (e->gone)
        tg_log_event(TG_LOG_ERROR, "evidence_error",
                     "evidence store %s: %s; no decision is given (503) "
                     "until %s",
                     e->path, words,
                     e->gone == GONE_DB
                         ? "that file is back at its path, or ticketgate "
                           "restarts"
                         : "ticketgate restarts");
    else
        tg_log_event(TG_LOG_ERROR, "evidence_error",
                     "evidence store %s: a write failed: %s; no decision is "
                     "given (503) until a write succeeds (retried every "
                     "second)",
                     e->path, words);
}

/* After a commit (token holder): says so when writes failed before. */
static void report_success(struct tg_evidence *e)
{
    if (!e->logged)
        return;
    e->logged = NULL;
    atomic_store(&e->failure, NULL);
    tg_log_event(TG_LOG_INFO, "evidence_recovered",
                 "evidence store %s: writes succeed again", e->path);
}

/*
 * Writes batch (may be NULL: a probe, or the last write of close) in one
 * transaction and sets each item's rc; the caller holds the token.
 * Decision-id numbers are reserved ahead in meta.id_next, ID_BLOCK at a
 * time and again when fewer than half are left, so a restart never hands
 * out a number again while most commits leave the meta page alone; force
 * writes the row in any case (a probe must write something). Returns 0 when
 * the transaction committed, else the fatal error given to every item.
 */
static int commit_batch(struct tg_evidence *e, struct pending *batch,
                        int force)
{
    struct wconn *w = &e->w;
    struct cf_row *foreign = NULL;
    size_t n_foreign = 0;
    uint64_t ids = atomic_load(&e->next_id), reserve = 0;
    const char *why;
    char hash[65];
    int64_t seq;
    int missed = 0;
    int rc;

    /* A store file that went away comes back only as itself (moved back to
     * its path); a -wal or -shm that went away, only with a restart. */
    if (e->gone && (e->gone != GONE_DB || db_moved(e))) {
        rc = TG_EIO;
        goto fail;
    }
    e->gone = GONE_NONE;
    if (!w->db && (rc = wconn_open(e, w, 0)))
        goto fail;
    if ((why = files_moved(e, w))) {
        e->err = (struct fail){0, 0, why};
        e->gone = why == WHY_WAL || why == WHY_SHM ? GONE_AUX : GONE_DB;
        /* Copies what the WAL holds into the database file through the
         * files this connection still has open, and empties the WAL: a
         * -wal left at the path must not be replayed onto whatever store
         * the path names at the next start, and a WAL that went away
         * keeps no acknowledged record out of the database. Best effort:
         * a reader can make it wait, then fail. */
        sqlite3_wal_checkpoint_v2(w->db, NULL, SQLITE_CHECKPOINT_TRUNCATE,
                                  NULL, NULL);
        rc = TG_EIO;
        goto fail;
    }
    if ((rc = step_stmt(w->begin))) {
        fail_note(&e->err, w->db);
        goto fail;
    }
    if ((rc = read_head(w, &seq, hash)))
        goto rollback;
    /* Records another process appended since our last commit; without
     * them the index would miss uses (see struct cf_index). */
    if (e->cf.valid && seq > e->cf.seq &&
        read_foreign(w, e->cf.seq, seq, &foreign, &n_foreign))
        missed = 1;
    for (struct pending *p = batch; p; p = p->next) {
        if (p->jti_only) {
            p->rc = jti_free(w, p->r, 1);
            if (!p->rc)
                p->rc = jti_bind(w, p->r, NULL);
        } else {
            p->rc = insert_one(e, &seq, hash, p->r);
        }
        if (p->rc == TG_EIO || p->rc == TG_EBUSY) {
            rc = p->rc;
            goto rollback;
        }
    }
    if (force)
        reserve = ids;
    else if (ids > UINT64_MAX - 2 * ID_BLOCK ||
             ids + ID_BLOCK / 2 > e->id_reserved)
        reserve = ids + ID_BLOCK;
    if (reserve && (rc = write_id_next(w, reserve)))
        goto rollback;
    if ((rc = step_stmt(w->commit)))
        goto rollback;
    if (reserve) {
        e->id_reserved = reserve;
        ids_store(e, reserve);
    }
    report_success(e);

    pthread_mutex_lock(&e->cf.mu);
    for (size_t i = 0; i < n_foreign; i++)
        cf_add(&e->cf, foreign[i].jd, foreign[i].td, foreign[i].t);
    for (struct pending *p = batch; p; p = p->next)
        if (p->rc == 0 && p->has_cf)
            cf_add(&e->cf, p->jd, p->td, p->r->time);
    /* Had the other records not been read, the next commit reads them
     * again (adding a use twice changes nothing); until then the index is
     * not fresh and SQLite counts. */
    if (!missed) {
        e->cf.seq = seq;
        e->cf.synced_ms = mono_ms();
    }
    pthread_mutex_unlock(&e->cf.mu);
    free(foreign);
    return 0;
rollback:
    fail_note(&e->err, w->db); /* before the rollback's own result */
    /* Nothing of the batch is durable: the head is re-read from the file by
     * the next transaction, so the chain has no hole. */
    step_stmt(w->rollback);
fail:
    free(foreign);
    if (rc != TG_EBUSY)
        rc = TG_EIO;
    for (struct pending *p = batch; p; p = p->next)
        p->rc = rc;
    /* Reconnect next time: a file that was remounted or made writable
     * again is seen afresh. */
    wconn_close(w);
    report_failure(e);
    return rc;
}

/* Passes the token on (mu held): to maintenance when it waits for it, else
 * back to the writer when records are queued. */
static void token_release(struct tg_evidence *e)
{
    e->token = 0;
    if (e->token_wanted)
        pthread_cond_broadcast(&e->token_cv);
    else if (e->qhead)
        pthread_cond_signal(&e->work);
}

/* Takes the token for maintenance, ahead of the writer. */
static void token_take(struct tg_evidence *e)
{
    pthread_mutex_lock(&e->mu);
    e->token_wanted++;
    while (e->token)
        pthread_cond_wait(&e->token_cv, &e->mu);
    e->token_wanted--;
    e->token = 1;
    pthread_mutex_unlock(&e->mu);
}

/* Gives the token back; with set_ready, rc (a commit's result) says
 * whether the store takes writes. */
static void token_give_back(struct tg_evidence *e, int set_ready, int rc)
{
    pthread_mutex_lock(&e->mu);
    if (set_ready)
        e->ready = rc == 0;
    token_release(e);
    pthread_mutex_unlock(&e->mu);
}

/* The WAL reached CK_HARD_FRAMES (the writer, token held): copies it back
 * into the database on the write connection, so that the next transaction
 * starts it over. A checkpoint that the maintenance thread runs meanwhile
 * makes ours SQLITE_BUSY: it is waited for (it never waits for the token)
 * and ours copies what it left. Best effort: a reader still on an old
 * snapshot may keep the WAL from restarting; the next commit tries again. */
static void wal_catch_up(struct tg_evidence *e)
{
    for (int waited = 0; e->w.db; waited++) {
        int rc = sqlite3_wal_checkpoint_v2(
            e->w.db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);

        if (rc != SQLITE_BUSY ||
            waited >= (e->busy_ms > 0 ? e->busy_ms : DEFAULT_BUSY_MS))
            break;
        usleep(1000);
    }
}

/* Tells every appender of batch that its rc is set: marks each done, then
 * wakes their bits in one call (struct tg_evidence, wake_word). */
static void batch_wake(struct tg_evidence *e, struct pending *batch)
{
    uint32_t mask = 0;

    for (struct pending *p = batch, *nx; p; p = nx) {
        nx = p->next; /* p is gone once done is set */
        mask |= p->bit;
        atomic_store(&p->done, 1);
    }
    /* After every done: an appender that read the word before this bump
     * and found its record not done sleeps only while the word is
     * unchanged, so it cannot miss this wake. */
    atomic_fetch_add(&e->wake_word, 1);
    syscall(SYS_futex, &e->wake_word, FUTEX_WAKE_BITSET_PRIVATE, INT_MAX, NULL,
            NULL, mask);
}

/*
 * The writer thread: commits the queued records, up to MAX_BATCH a
 * transaction, and wakes their appenders. A thread of its own rather than
 * the first appender committing for the others (leader-based group
 * commit): measured with the HTTP benchmark on 2 cores, the appender that
 * commits at once makes batches of 1.5 records where the writer, woken a
 * little later, finds 3 or more, and the extra commits cost more than the
 * hand-off saves (13.3k against 13.9k requests/s).
 */
static void *writer_main(void *arg)
{
    struct tg_evidence *e = arg;

    pthread_mutex_lock(&e->mu);
    for (;;) {
        struct pending *batch, *last;
        size_t n = 1;
        int rc, full;

        while ((!e->qhead || e->token || e->token_wanted) &&
               !(e->stop && !e->qhead))
            pthread_cond_wait(&e->work, &e->mu);
        if (!e->qhead)
            break; /* stopping, and every append has been answered */
        e->token = 1;
        batch = last = e->qhead;
        while (last->next && n < MAX_BATCH) {
            last = last->next;
            n++;
        }
        e->qhead = last->next;
        if (!e->qhead)
            e->qtail = NULL;
        last->next = NULL;
        pthread_mutex_unlock(&e->mu);

        rc = commit_batch(e, batch, 0);
        full = rc == 0 && e->wal_frames >= CK_HARD_FRAMES;

        pthread_mutex_lock(&e->mu);
        e->ready = rc == 0; /* before any appender hears of the result */
        if (!full)
            token_release(e);
        pthread_mutex_unlock(&e->mu);
        batch_wake(e, batch);
        if (full) {
            /* Still holding the token: no commit until the WAL is copied
             * back, so that the next one starts it over. */
            wal_catch_up(e);
            pthread_mutex_lock(&e->mu);
            token_release(e);
            pthread_mutex_unlock(&e->mu);
        }
        pthread_mutex_lock(&e->mu);
    }
    pthread_mutex_unlock(&e->mu);
    return NULL;
}

/*
 * The maintenance thread. Once a second, and whenever the WAL grew by
 * CKPT_FRAMES:
 * - a PASSIVE checkpoint on its own connection, which never waits for the
 *   writer or readers;
 * - when the WAL holds CK_RESTART_FRAMES frames, a second PASSIVE one with
 *   the write token held. It copies the few frames committed since the
 *   first, and with no commit in between, the next transaction starts the
 *   WAL over from its beginning. Without it, under steady load a checkpoint
 *   never catches up with the writer and the WAL grows without bound, every
 *   frame extending the file (1.4 GB in a 10 s benchmark);
 * - while the store fails writes, a probe every TG_EVIDENCE_PROBE_MS: an
 *   empty commit that tells when it takes writes again.
 */
static void *maintenance_main(void *arg)
{
    struct tg_evidence *e = arg;
    sqlite3 *db = NULL;
    int64_t probed = mono_ms();

    pthread_mutex_lock(&e->mt_mu);
    while (!e->mt_stop) {
        struct timespec ts;
        int ready, nlog = 0;

        deadline_after(&ts, CK_INTERVAL_MS);
        if (!e->ck_due)
            pthread_cond_timedwait(&e->mt_cv, &e->mt_mu, &ts);
        if (e->mt_stop)
            break;
        e->ck_due = 0;
        pthread_mutex_unlock(&e->mt_mu);

        pthread_mutex_lock(&e->mu);
        ready = e->ready;
        pthread_mutex_unlock(&e->mu);
        if (!ready && mono_ms() - probed >= TG_EVIDENCE_PROBE_MS) {
            int rc;

            token_take(e);
            rc = commit_batch(e, NULL, 1);
            token_give_back(e, 1, rc);
            probed = mono_ms();
        } else if (ready && db_moved(e)) {
            /* An idle server finds a store file that went away too (one
             * stat a second), so /readyz says so before a request fails:
             * the commit checks again, fails and logs. */
            int rc;

            token_take(e);
            rc = commit_batch(e, NULL, 1);
            token_give_back(e, 1, rc);
            probed = mono_ms();
        }

        /* Never creates the file: a store that vanished is the writer's
         * failure to report, not ours to paper over. A new connection
         * learns that the file is in WAL mode only from its first read;
         * until then its checkpoints do nothing at all. */
        if (!db && (open_db(e->path, SQLITE_OPEN_READWRITE |
                                         SQLITE_OPEN_NOMUTEX,
                            e->busy_ms, &db) != 0 ||
                    exec_sql(db, "PRAGMA journal_mode") != 0)) {
            close_db(db);
            db = NULL;
        }
        if (db && sqlite3_wal_checkpoint_v2(db, NULL,
                                            SQLITE_CHECKPOINT_PASSIVE, &nlog,
                                            NULL) != SQLITE_OK) {
            close_db(db); /* reopened on the next round */
            db = NULL;
        }
        if (db && nlog >= CK_RESTART_FRAMES) {
            int rc;

            token_take(e);
            rc = sqlite3_wal_checkpoint_v2(db, NULL,
                                           SQLITE_CHECKPOINT_PASSIVE, NULL,
                                           NULL);
            token_give_back(e, 0, 0);
            if (rc != SQLITE_OK) {
                close_db(db);
                db = NULL;
            }
        }
        pthread_mutex_lock(&e->mt_mu);
    }
    pthread_mutex_unlock(&e->mt_mu);
    close_db(db);
    return NULL;
}

/* The first decision-id number of this run: above every number a previous
 * run may have handed out (meta id_next, reserved ahead) and above every
 * seq recorded or archived. */
static int load_next_id(struct tg_evidence *e)
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
        return map_sqlite(rc);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        int64_t v = sqlite3_column_int64(st, 0);

        atomic_store(&e->next_id, v > 0 ? (uint64_t)v : 1);
        e->id_reserved = atomic_load(&e->next_id);
        rc = 0;
    } else {
        rc = map_sqlite(rc);
    }
    sqlite3_finalize(st);
    return rc;
}

static void pool_drain(struct tg_evidence *e)
{
    while (e->idle) {
        struct rconn *c = e->idle;

        e->idle = c->next;
        for (int i = 0; i < Q_N; i++)
            sqlite3_finalize(c->st[i]);
        close_db(c->db);
        free(c);
    }
    e->n_idle = 0;
}

static void evidence_free(struct tg_evidence *e)
{
    wconn_close(&e->w);
    if (e->ids_fd >= 0)
        close(e->ids_fd);
    if (e->pool_inited) {
        pool_drain(e);
        pthread_mutex_destroy(&e->pool_mu);
    }
    if (e->inited) {
        cf_cleanup(&e->cf);
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

static int init_sync(struct tg_evidence *e)
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
    if (cf_init(&e->cf))
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
static void stop_threads(struct tg_evidence *e)
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

int tg_evidence_open(const struct tg_config *c, struct tg_evidence **out)
{
    struct tg_evidence *e = NULL;
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
    if ((rc = wconn_open(e, &e->w, 1)) || (rc = load_next_id(e)) ||
        (rc = cf_load(e, e->w.db))) {
        tg_log_event(TG_LOG_ERROR, "evidence_error",
                     "evidence store %s: cannot open: %s", e->path,
                     fail_words(&e->err));
        rc = rc == TG_ENOMEM ? TG_ENOMEM : TG_EIO;
        goto out;
    }
    ids_load(e);
    e->ready = 1;
    rc = TG_ENOMEM;
    if (pthread_create(&e->writer, NULL, writer_main, e))
        goto out;
    e->writer_started = 1;
    if (pthread_create(&e->mt, NULL, maintenance_main, e))
        goto out;
    e->mt_started = 1;
    *out = e;
    return 0;
out:
    stop_threads(e);
    evidence_free(e);
    return rc;
}

void tg_evidence_close(struct tg_evidence *e)
{
    if (!e)
        return;
    stop_threads(e);
    /* Remember the id counter for the next start (both threads are gone:
     * the write connection is ours), in the store and beside it. */
    if (e->w.db || e->gone)
        commit_batch(e, NULL, 1);
    ids_store(e, atomic_load(&e->next_id));
    evidence_free(e);
}

uint64_t tg_evidence_next_seq(struct tg_evidence *e)
{
    if (!e)
        return 0;
    return atomic_fetch_add(&e->next_id, 1);
}

const char *tg_evidence_failure(struct tg_evidence *e)
{
    return e ? atomic_load(&e->failure) : NULL;
}

int tg_evidence_ready(struct tg_evidence *e)
{
    int v;

    if (!e)
        return 0;
    pthread_mutex_lock(&e->mu);
    v = e->ready && !e->stop;
    pthread_mutex_unlock(&e->mu);
    return v;
}

/* 1 when the n bytes at p are braced like a JSON object. */
static int looks_like_object(const char *p, size_t n)
{
    while (n > 0 && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) {
        p++;
        n--;
    }
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\n' ||
                     p[n - 1] == '\r' || p[n - 1] == '\t'))
        n--;
    return n >= 2 && p[0] == '{' && p[n - 1] == '}';
}

static int enqueue_wait(struct tg_evidence *e, struct pending *p);

int tg_evidence_append(struct tg_evidence *e,
                       const struct tg_evidence_record *r)
{
    struct pending p;

    if (!e || !r || !record_valid(r))
        return TG_EINVAL;
    /* The decision comes from tg_decision_build through json_dumpb, so a
     * full parse here would only repeat jansson's work on every request;
     * the shape check catches a caller passing something else. */
    if (!looks_like_object(r->decision_json, r->decision_len))
        return TG_EINVAL;
    memset(&p, 0, sizeof p);
    p.r = r;
    if (r->justification_norm) {
        if (cf_digest(r->justification_norm, p.jd) ||
            cf_digest(r->ticket, p.td))
            return TG_EIO;
        p.has_cf = 1;
    }
    return enqueue_wait(e, &p);
}

int tg_evidence_bind_jti(struct tg_evidence *e, const char *source,
                         const char *jti, const unsigned char body_sha256[32],
                         int64_t time)
{
    struct tg_evidence_record r;
    struct pending p;

    if (!e || !source || !jti || !body_sha256)
        return TG_EINVAL;
    memset(&r, 0, sizeof r);
    r.source = source;
    r.jti = jti;
    memcpy(r.body_sha256, body_sha256, 32);
    r.time = time;
    memset(&p, 0, sizeof p);
    p.r = &r;
    p.jti_only = 1;
    return enqueue_wait(e, &p);
}

/* Queues p for the writer and sleeps until its batch is committed (or
 * failed). Returns p's result. */
static int enqueue_wait(struct tg_evidence *e, struct pending *p)
{
    atomic_init(&p->done, 0);
    p->bit = 1u << (atomic_fetch_add(&e->wake_bits, 1) & 31);

    pthread_mutex_lock(&e->mu);
    if (e->stop) {
        pthread_mutex_unlock(&e->mu);
        return TG_EIO;
    }
    if (e->qtail)
        e->qtail->next = p;
    else
        e->qhead = p;
    e->qtail = p;
    pthread_mutex_unlock(&e->mu);
    /* After the unlock, so that the writer does not wake into our mutex;
     * it checks the queue under the mutex, so the signal is not lost. */
    pthread_cond_signal(&e->work);
    for (;;) {
        unsigned int word = atomic_load(&e->wake_word);

        if (atomic_load(&p->done))
            break;
        /* Returns at once when the word moved on since it was read (a
         * batch was woken in between), on EINTR, or when another batch
         * shared our bit: the loop looks again. */
        syscall(SYS_futex, &e->wake_word, FUTEX_WAIT_BITSET_PRIVATE, word, NULL,
                NULL, p->bit);
    }
    return p->rc;
}

/* ----------------------------------------------------------------- reads */

static int rconn_get(struct tg_evidence *e, struct rconn **out)
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
    rc = open_db(e->path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                 e->busy_ms, &c->db);
    /* query_only: this connection must never write, whatever it runs */
    if (!rc && (rc = exec_sql(c->db, "PRAGMA query_only=1")))
        close_db(c->db);
    if (rc) {
        free(c);
        return rc == TG_ENOMEM ? rc : TG_EIO;
    }
    *out = c;
    return 0;
}

/* Returns c to the pool; after an error it is closed instead, so that a
 * broken handle is not reused. */
static void rconn_put(struct tg_evidence *e, struct rconn *c, int ok)
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
        close_db(c->db);
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
            return map_sqlite(rc) == TG_ENOMEM ? TG_ENOMEM : TG_EIO;
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

int tg_evidence_find_delivery(struct tg_evidence *e, const char *source,
                              const char *delivery_id,
                              const unsigned char body_sha256[32],
                              char **decision_json)
{
    struct rconn *c = NULL;
    sqlite3_stmt *st;
    char want[65];
    int rc;

    if (!e || !source || !delivery_id || !decision_json)
        return TG_EINVAL;
    if ((rc = rconn_get(e, &c)))
        return rc == TG_ENOMEM ? rc : TG_EIO;
    if ((rc = rconn_stmt(c, Q_DELIVERY, &st)))
        goto out;
    sqlite3_bind_text(st, 1, source, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, delivery_id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        rc = TG_ENOTFOUND;
    } else if (rc != SQLITE_ROW) {
        rc = TG_EIO;
    } else {
        const char *have = (const char *)sqlite3_column_text(st, 0);
        char *doc;

        hex_encode(body_sha256, 32, want);
        if (!have || strcmp(have, want) != 0) {
            rc = TG_ECONFLICT;
        } else if (!(doc = dup_column(st, 1))) {
            rc = TG_ENOMEM;
        } else {
            *decision_json = doc;
            rc = 0;
        }
    }
    stmt_done(st);
out:
    rconn_put(e, c, rc != TG_EIO);
    return rc;
}

int tg_evidence_find_jti(struct tg_evidence *e, const char *source,
                         const char *jti, const unsigned char body_sha256[32],
                         char **decision_json)
{
    struct rconn *c = NULL;
    sqlite3_stmt *st;
    char want[65];
    int rc;

    if (!e || !source || !jti || !decision_json)
        return TG_EINVAL;
    if ((rc = rconn_get(e, &c)))
        return rc == TG_ENOMEM ? rc : TG_EIO;
    if ((rc = rconn_stmt(c, Q_JTI, &st)))
        goto out;
    sqlite3_bind_text(st, 1, source, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, jti, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        rc = TG_ENOTFOUND;
    } else if (rc != SQLITE_ROW) {
        rc = TG_EIO;
    } else {
        const char *have = (const char *)sqlite3_column_text(st, 0);
        int recorded = sqlite3_column_type(st, 1) != SQLITE_NULL;
        int kept = sqlite3_column_type(st, 2) != SQLITE_NULL;

        hex_encode(body_sha256, 32, want);
        /* A record moved out by `audit archive` cannot be answered again:
         * the jti counts as used. */
        if (!have || strcmp(have, want) != 0 || (recorded && !kept)) {
            rc = TG_ECONFLICT;
        } else if (!recorded) {
            *decision_json = NULL;
            rc = 0;
        } else if (!(*decision_json = dup_column(st, 2))) {
            rc = TG_ENOMEM;
        } else {
            rc = 0;
        }
    }
    stmt_done(st);
out:
    rconn_put(e, c, rc != TG_EIO);
    return rc;
}

/* Reads the latest uses of justification_norm on c for cf_reload (a
 * failure only leaves the index as it was). */
static void reload_uses(struct tg_evidence *e, struct rconn *c,
                        const char *justification_norm,
                        const unsigned char jd[CF_DIGEST], uint64_t drops)
{
    struct cf_use *u = NULL;
    sqlite3_stmt *st;
    size_t n = 0;
    int rc = SQLITE_DONE;

    if (rconn_stmt(c, Q_USES, &st) ||
        !(u = malloc(CF_GROUP_MAX * sizeof *u)))
        goto out;
    sqlite3_bind_text(st, 1, justification_norm, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, CF_GROUP_MAX);
    while (n < CF_GROUP_MAX && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(st, 0);

        if (!t || cf_digest(t, u[n].td))
            break;
        u[n++].last = sqlite3_column_int64(st, 1);
    }
    if (rc == SQLITE_DONE || n == CF_GROUP_MAX)
        cf_reload(&e->cf, jd, u, n, drops);
    stmt_done(st);
out:
    free(u);
}

int tg_evidence_copy_forward_count(struct tg_evidence *e,
                                   const char *justification_norm,
                                   const char *ticket, int64_t since,
                                   long *out)
{
    unsigned char jd[CF_DIGEST], td[CF_DIGEST];
    struct rconn *c = NULL;
    sqlite3_stmt *st;
    uint64_t drops = 0;
    int reload = 0, rc;

    if (!e || !out)
        return TG_EINVAL;
    if (!justification_norm) {
        *out = 0;
        return 0;
    }
    if (!ticket)
        ticket = "";
    /* The index answers without a read whenever it can (struct cf_index);
     * SQLite's answer is the same, only dearer. */
    if (cf_digest(justification_norm, jd) == 0 &&
        cf_digest(ticket, td) == 0 &&
        cf_count(&e->cf, jd, td, since, out, &reload, &drops))
        return 0;
    if ((rc = rconn_get(e, &c)))
        return TG_EIO;
    if ((rc = rconn_stmt(c, Q_COPY, &st)))
        goto out;
    sqlite3_bind_text(st, 1, justification_norm, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, since);
    sqlite3_bind_text(st, 3, ticket, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, COPY_LIMIT);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        int64_t n = sqlite3_column_int64(st, 0);

        *out = n > LONG_MAX ? LONG_MAX : (long)n;
        rc = 0;
    } else {
        rc = TG_EIO;
    }
    stmt_done(st);
    /* A justification used again after the index dropped it: its uses go
     * back into the index, so that the next counts need no read. */
    if (rc == 0 && reload)
        reload_uses(e, c, justification_norm, jd, drops);
out:
    rconn_put(e, c, rc == 0);
    return rc ? TG_EIO : 0;
}

int tg_evidence_get(struct tg_evidence *e, const char *decision_id,
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

int tg_evidence_list(struct tg_evidence *e, const char *ticket, int limit,
                     uint64_t before, json_t **out)
{
    struct rconn *c = NULL;
    sqlite3_stmt *st = NULL;
    json_t *res = NULL, *arr = NULL, *next = NULL;
    int64_t last = 0;
    int n = 0, bad;
    int rc;

    if (!e || !ticket || !out)
        return TG_EINVAL;
    if (limit <= 0)
        limit = LIST_DEFAULT;
    if (limit > LIST_MAX)
        limit = LIST_MAX;
    if ((rc = rconn_get(e, &c)))
        return rc == TG_ENOMEM ? rc : TG_EIO;
    if ((rc = rconn_stmt(c, Q_LIST, &st)))
        goto out;
    rc = TG_ENOMEM;
    if (!(arr = json_array()))
        goto out;
    sqlite3_bind_text(st, 1, ticket, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (before == 0 || before > INT64_MAX)
                                  ? INT64_MAX : (int64_t)before);
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
    if (!next && !(next = json_null()))
        goto out;
    if (!(res = json_object()))
        goto out;
    /* set_new takes the reference even when it fails */
    bad = json_object_set_new(res, "decisions", arr);
    arr = NULL;
    bad = bad || json_object_set_new(res, "next", next);
    next = NULL;
    if (bad)
        goto out;
    *out = res;
    res = NULL;
    rc = 0;
out:
    if (st)
        stmt_done(st);
    if (c)
        rconn_put(e, c, rc != TG_EIO);
    json_decref(arr);
    json_decref(next);
    json_decref(res);
    return rc;
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

/* Checks one link against the expectations. Returns 0 and fills *why when it
 * does not check out (why stays NULL when it does), or an error. */
static int check_row(sqlite3_stmt *st, int64_t expect_seq,
                     const char prev[65], const unsigned char *key,
                     size_t keylen, const char **why, char hash_out[65])
{
    struct field f[F_N];
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
    for (int i = F_ID; i < F_N; i++) {
        /* columns 1..11 are decision_id..prev_hash, in preimage order */
        if (i == F_TIME)
            continue;
        if (sqlite3_column_type(st, i) == SQLITE_NULL) {
            f[i].p = NULL;
            f[i].n = 0;
        } else {
            f[i].p = (const char *)sqlite3_column_text(st, i);
            f[i].n = (size_t)sqlite3_column_bytes(st, i);
            if (!f[i].p)
                return TG_ENOMEM;
        }
    }
    f[F_SEQ].p = seqtxt;
    f[F_SEQ].n = int_text(seq, seqtxt, sizeof seqtxt);
    f[F_TIME].p = timetxt;
    f[F_TIME].n = int_text(sqlite3_column_int64(st, F_TIME), timetxt,
                           sizeof timetxt);
    if (!f[F_PREV].p || f[F_PREV].n != 64 ||
        memcmp(f[F_PREV].p, prev, 64) != 0) {
        *why = "prev_hash is not the hash of the record before it";
        return 0;
    }
    if ((rc = chain_hash(f, digest)))
        return rc;
    hex_encode(digest, 32, calc);
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
        if ((rc = link_mac(key, keylen, digest, want)))
            return rc;
        if (hex_decode32(mac, (size_t)sqlite3_column_bytes(st, 12), have) ||
            CRYPTO_memcmp(want, have, 32) != 0) {
            *why = "its MAC does not verify with the configured key";
            return 0;
        }
    }
    memcpy(hash_out, calc, 65);
    return 0;
}

int tg_evidence_verify_file(const char *path, const unsigned char *key,
                            size_t keylen, struct tg_evidence_verdict *out)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    struct tg_evidence_verdict v;
    char prev[65], amac[65];
    int64_t aseq, expect;
    int began = 0;
    int rc;

    if (!path || !out)
        return TG_EINVAL;
    memset(&v, 0, sizeof v);
    v.intact = 1;
    /* read-only: verification must not be able to change what it checks */
    rc = open_db(path, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
                 DEFAULT_BUSY_MS, &db);
    if (rc) {
        set_reason(v.reason, sizeof v.reason, "cannot open the store file");
        goto out;
    }
    /* one snapshot for the anchor and every record */
    if ((rc = exec_sql(db, "BEGIN"))) {
        set_reason(v.reason, sizeof v.reason, "cannot read the store file");
        goto out;
    }
    began = 1;
    rc = read_anchor(db, &aseq, prev, amac);
    if (rc == TG_EINVAL) {
        set_broken(&v, aseq, (const unsigned char *)"(checkpoint)",
                   "the checkpoint anchor's hash is malformed");
        rc = 0;
        goto out;
    }
    if (rc) {
        rc = TG_EIO;
        set_reason(v.reason, sizeof v.reason,
                   "not a ticketgate evidence store (no checkpoints table)");
        goto out;
    }
    v.anchor_seq = aseq > 0 ? (uint64_t)aseq : 0;
    v.head_seq = v.anchor_seq;
    memcpy(v.head_hash, prev, 65);
    if (aseq > 0 && keylen) {
        unsigned char hbin[32], want[32], have[32];
        int good = !hex_decode32(prev, 64, hbin) &&
                   !link_mac(key, keylen, hbin, want) &&
                   !hex_decode32(amac, strlen(amac), have) &&
                   CRYPTO_memcmp(want, have, 32) == 0;

        if (!good) {
            set_broken(&v, aseq, (const unsigned char *)"(checkpoint)",
                       "the checkpoint anchor's MAC does not verify");
            goto out;
        }
    }
    rc = sqlite3_prepare_v2(db, "SELECT " RECORD_COLUMNS
                            " FROM records ORDER BY seq", -1, &st, NULL);
    if (rc != SQLITE_OK) {
        rc = TG_EIO;
        set_reason(v.reason, sizeof v.reason,
                   "not a ticketgate evidence store (no records table)");
        goto out;
    }
    expect = aseq + 1;
    for (;;) {
        const char *why = NULL;
        int s = sqlite3_step(st);

        if (s == SQLITE_DONE)
            break;
        if (s != SQLITE_ROW) {
            rc = TG_EIO;
            set_reason(v.reason, sizeof v.reason,
                       "reading the records failed (file damaged?)");
            goto out;
        }
        if ((rc = check_row(st, expect, prev, key, keylen, &why, prev))) {
            set_reason(v.reason, sizeof v.reason, "hashing failed");
            goto out;
        }
        if (why) {
            set_broken(&v, sqlite3_column_int64(st, 0),
                       sqlite3_column_text(st, 1), why);
            goto out;
        }
        v.count++;
        v.head_seq = (uint64_t)expect;
        memcpy(v.head_hash, prev, 65);
        expect++;
    }
    rc = 0;
out:
    sqlite3_finalize(st);
    if (began)
        exec_sql(db, "COMMIT");
    close_db(db);
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
        "prev_hash", "hash", "mac"};
    json_t *o = json_object();

    if (!o)
        return NULL;
    for (int i = 0; i < 13; i++) {
        const char *p = (const char *)sqlite3_column_text(st, i);
        size_t n = (size_t)sqlite3_column_bytes(st, i);
        json_t *v;

        if (i == 0 || i == 7)
            v = json_integer(sqlite3_column_int64(st, i));
        else if (sqlite3_column_type(st, i) == SQLITE_NULL)
            v = json_null();
        else if (i == 8 && (v = json_loadb(p, n, 0, NULL)))
            ; /* the decision document, embedded as an object */
        else
            v = jstr(p, n);
        if (!v || json_object_set_new(o, names[i], v)) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

int tg_evidence_export_file(const char *path, int64_t since, FILE *out,
                            const char **why)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    const char *w = NULL;
    int began = 0;
    int rc;

    if (!path || !out)
        return TG_EINVAL;
    if ((rc = open_db(path, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
                      DEFAULT_BUSY_MS, &db))) {
        w = "cannot open the store file";
        goto out;
    }
    if ((rc = exec_sql(db, "BEGIN"))) {
        w = "cannot read the store file";
        goto out;
    }
    began = 1;
    rc = sqlite3_prepare_v2(db, "SELECT " RECORD_COLUMNS " FROM records"
                            " WHERE time >= ?1 ORDER BY seq", -1, &st, NULL);
    if (rc != SQLITE_OK) {
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
        exec_sql(db, "COMMIT");
    close_db(db);
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
        return map_sqlite(rc);
    if (sqlite3_bind_parameter_count(st) >= 1)
        sqlite3_bind_int64(st, 1, a);
    if (sqlite3_bind_parameter_count(st) >= 2)
        sqlite3_bind_int64(st, 2, b);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : map_sqlite(rc);
}

static int query_int(sqlite3 *db, const char *sql, int64_t a, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

    if (rc != SQLITE_OK)
        return map_sqlite(rc);
    if (sqlite3_bind_parameter_count(st) >= 1)
        sqlite3_bind_int64(st, 1, a);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? TG_ENOTFOUND : map_sqlite(rc);
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
    rc = open_db(archive_path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                 busy_ms, &db);
    if (rc)
        goto out;
    rc = exec_sql(db, "PRAGMA synchronous=FULL;BEGIN IMMEDIATE");
    if (!rc && (rc = exec_sql(db, SCHEMA)))
        exec_sql(db, "ROLLBACK");
    else if (!rc)
        rc = exec_sql(db, "COMMIT");
out:
    close_db(db);
    if (rc)
        unlink(archive_path); /* ours: created above with O_EXCL */
    return rc;
}

int tg_evidence_archive_file(const char *path, uint64_t before,
                             const char *archive_path,
                             const unsigned char *key, size_t keylen,
                             int busy_ms, uint64_t *moved)
{
    struct tg_evidence_verdict v;
    sqlite3 *db = NULL;
    char ahash[65], amac[65];
    int64_t aseq, last = 0, count = 0, first = 0, now = (int64_t)time(NULL);
    int attached = 0, in_txn = 0, created = 0;
    sqlite3_stmt *st = NULL;
    int rc;

    if (!path || !archive_path || !moved || before > INT64_MAX)
        return TG_EINVAL;
    *moved = 0;
    if (access(archive_path, F_OK) == 0)
        return TG_EINVAL;
    /* Archiving a broken chain would launder it: anchor the tampering. */
    if ((rc = tg_evidence_verify_file(path, key, keylen, &v)))
        return rc;
    if (!v.intact)
        return TG_ECONFLICT;
    if ((rc = open_db(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                      busy_ms, &db)))
        return rc;
    if (read_anchor(db, &aseq, ahash, amac)) {
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
    {
        char *sql = sqlite3_mprintf("ATTACH %Q AS arch", archive_path);

        if (!sql) {
            rc = TG_ENOMEM;
            goto out;
        }
        rc = exec_sql(db, sql);
        sqlite3_free(sql);
        if (rc)
            goto out;
        attached = 1;
    }
    /* Phase 1: fill the archive. The store is only read here; a crash
     * leaves a complete or empty archive and the store untouched. */
    if ((rc = exec_sql(db, "PRAGMA arch.synchronous=FULL;BEGIN")))
        goto out;
    in_txn = 1;
    if ((rc = step_done(db, "INSERT INTO arch.records(" RECORD_COLUMNS ")"
                        " SELECT " RECORD_COLUMNS " FROM main.records"
                        " WHERE seq <= ?1", last, 0)) ||
        (rc = step_done(db, "INSERT INTO arch.checkpoints"
                        " SELECT * FROM main.checkpoints WHERE seq = ?1",
                        aseq, 0)) ||
        (rc = exec_sql(db, "COMMIT")))
        goto out;
    in_txn = 0;
    /* The archive must stand on its own before anything leaves the store. */
    if ((rc = tg_evidence_verify_file(archive_path, key, keylen, &v)))
        goto out;
    if (!v.intact || v.count != (uint64_t)count ||
        v.head_seq != (uint64_t)last) {
        rc = TG_EIO;
        goto out;
    }
    /* Phase 2: one transaction of the store records the anchor and drops
     * the archived records, so verification never sees one without the
     * other. */
    if ((rc = exec_sql(db, "BEGIN IMMEDIATE")))
        goto out;
    in_txn = 1;
    rc = sqlite3_prepare_v2(
        db,
        "INSERT INTO main.checkpoints(seq, hash, mac, first_seq, count,"
        " archived_at, archive) SELECT seq, hash, mac, ?2, ?3, ?4, ?5"
        " FROM main.records WHERE seq = ?1 AND hash = ?6",
        -1, &st, NULL);
    if (rc != SQLITE_OK) {
        rc = map_sqlite(rc);
        goto out;
    }
    sqlite3_bind_int64(st, 1, last);
    sqlite3_bind_int64(st, 2, first);
    sqlite3_bind_int64(st, 3, count);
    sqlite3_bind_int64(st, 4, now);
    sqlite3_bind_text(st, 5, archive_path, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, v.head_hash, 64, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc != SQLITE_DONE || sqlite3_changes(db) != 1) {
        /* the record changed between the copy and now */
        rc = rc == SQLITE_DONE ? TG_EIO : map_sqlite(rc);
        goto out;
    }
    if ((rc = step_done(db, "DELETE FROM main.records WHERE seq <= ?1", last,
                        0)) ||
        (rc = exec_sql(db, "COMMIT")))
        goto out;
    in_txn = 0;
    created = 0; /* the archive now holds the only copy: keep it */
    *moved = (uint64_t)count;
    /* give the freed pages back to the file system (best effort) */
    exec_sql(db, "PRAGMA main.incremental_vacuum");
    rc = 0;
out:
    sqlite3_finalize(st);
    if (in_txn)
        exec_sql(db, "ROLLBACK");
    if (attached)
        exec_sql(db, "DETACH arch");
    close_db(db);
    /* The store still holds every record: an incomplete archive would only
     * block the retry. */
    if (created)
        unlink(archive_path);
    return rc == TG_ENOMEM || rc == TG_EBUSY || rc == TG_EINVAL ||
                   rc == TG_ECONFLICT || rc == 0
               ? rc
               : TG_EIO;
}
