/* internal.h - what the SQLite store's files share (not for outside use). */
#ifndef TG_STORE_INTERNAL_H
#define TG_STORE_INTERNAL_H

/*
 * The chain (docs/EVIDENCE.md says the same for auditors, with a script).
 *
 * Table records(seq INTEGER PRIMARY KEY, decision_id, ticket, source,
 * delivery_id NULL, body_sha256 hex, policy, time INTEGER, decision TEXT,
 * just_norm NULL, prev_hash hex, hash hex, mac hex NULL, kind NULL,
 * judged NULL, facts NULL). seq counts 1, 2, 3, ... without holes; the
 * first record's prev_hash is 64 zeros, every other record's prev_hash is
 * the hash of the record before it.
 *
 * Two serialisations. A row whose kind is NULL (every row written before
 * issue 13; such a row has judged NULL too) is a decision hashed as v1:
 *
 *   hash = SHA-256( "ticketgate-evidence-v1\n"
 *                   F(seq) F(decision_id) F(ticket) F(source) F(delivery_id)
 *                   F(body_sha256) F(policy) F(time) F(decision)
 *                   F(just_norm) F(prev_hash) )
 *
 * A row whose kind is not NULL (every row written since: decisions carry
 * kind "decision") is hashed as v2, every v1 field in the same order, then
 * kind and judged:
 *
 *   hash = SHA-256( "ticketgate-evidence-v2\n"
 *                   F(seq) F(decision_id) F(ticket) F(source) F(delivery_id)
 *                   F(body_sha256) F(policy) F(time) F(decision)
 *                   F(just_norm) F(prev_hash) F(kind) F(judged) )
 *
 * A decision row whose facts column is not NULL (schema version 3: every
 * decision written since the facts document, core/facts.h) is hashed as
 * v3, every v2 field in the same order, then facts:
 *
 *   hash = SHA-256( "ticketgate-evidence-v3\n"
 *                   F(seq) ... F(prev_hash) F(kind) F(judged) F(facts) )
 *
 * The kind column picks v1 or the later serialisations, so an altered kind
 * changes the preimage (another tag) and the hash no longer matches; among
 * the later ones facts NULL is v2, any other facts v3 (a facts column set
 * on a v2 row, or cleared on a v3 row, changes the tag likewise). A v1 row
 * (kind NULL) with facts is reported altered, as one with judged is.
 *
 * Entries (kind other than "decision", tg_evidence_append_entry) use the
 * same columns: decision_id = kind ":" key (so the column's UNIQUE makes
 * (kind, key) unique and keeps entries apart from decision ids), ticket,
 * source and policy '' when absent (the columns are NOT NULL in stores
 * made before), delivery_id NULL, body_sha256 = SHA-256 of the entry's
 * document, decision = the document, just_norm NULL, judged NULL,
 * facts NULL.
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
 * write (WAL write combining, walvfs.c); a maintenance thread checkpoints it
 * and keeps it from growing without bound.
 *
 * Reads use a small pool of read-only connections: WAL readers do not block
 * the writer. Copy-forward counts, one per gated request, come from an index
 * in memory that the writer keeps up to date (struct tg_cf_index).
 */

#include "server/store/backend.h"
#include "server/store/chain.h"
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

#include "server/store/cfindex.h"
#include "server/util/digest.h"
#include "validators/errors.h"
#include "server/util/log.h"

#define SCHEMA_VERSION 3 /* 2: records.kind, records.judged; 3: facts */
#define MAX_BATCH 1024       /* records per transaction; bounds latency */
#define POOL_IDLE_MAX 16     /* idle read connections kept open */
#define DEFAULT_BUSY_MS 2000
/* WAL frames after which the maintenance thread copies them back (4 MB,
 * SQLite's own default interval in bytes), and at which it restarts the
 * WAL (16 MB: measured on a 2-core VM, a larger WAL made each checkpoint's
 * sync, and the stall of the restart, longer; p99 latency grew from 5 to
 * 10-28 ms). A frame is a page: 8 KB in stores made now (sqlite.c), 4 KB
 * in older ones, whose WAL these counts keep at half the bytes. */
#define CKPT_FRAMES 500
#define CK_RESTART_FRAMES 2048
/* The WAL's hard bound in frames (32 MB of 8 KB pages): past it the writer
 * itself catches the checkpoint up, with the token held, before the next
 * commit (tg_sq_writer_main). The maintenance thread restarts the WAL at
 * CK_RESTART_FRAMES, but only as fast as it gets a core: on a loaded
 * machine the writer went on appending while it waited, and the WAL grew
 * to 45-64 MB. */
#define CK_HARD_FRAMES (2 * CK_RESTART_FRAMES)
#define CK_INTERVAL_MS 1000
/* Decision-id numbers reserved in meta.id_next per write of it. */
#define ID_BLOCK 1024

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

#define RECORD_COLUMNS_V1                                                  \
    "seq, decision_id, ticket, source, delivery_id, body_sha256, policy, " \
    "time, decision, just_norm, prev_hash, hash, mac"
/* Column 13 is kind, 14 judged (schema version 2). A file of version 1
 * that was not migrated is read with RECORD_COLUMNS_OLD (both NULL). */
#define RECORD_COLUMNS RECORD_COLUMNS_V1 ", kind, judged"
#define RECORD_COLUMNS_OLD RECORD_COLUMNS_V1 ", NULL, NULL"
#define COL_KIND 13
#define COL_JUDGED 14
/* Column 15 is facts (schema version 3). RECORD_COLUMNS stays the fifteen
 * columns every version-2 file has (pgmigrate.c reads them); a reader of
 * every column takes tg_sq_records_cols(), which names facts, or NULL in
 * its place in a file that has none. */
#define RECORD_COLUMNS_V3 RECORD_COLUMNS ", facts"
#define RECORD_COLUMNS_V2 RECORD_COLUMNS ", NULL"
#define RECORD_COLUMNS_V1_3 RECORD_COLUMNS_OLD ", NULL"
#define COL_FACTS 15
/* Decisions only (old rows have kind NULL); for the decision reads. */
#define IS_DECISION "(kind IS NULL OR kind = 'decision')"
#define KIND_DECISION "decision"
#define KIND_MAX 32

/* ---------------------------------------------------------------- hashing */


/* Why a write failed: an SQLite code with its errno, or our own words. */
struct fail {
    int code;
    int sys;
    const char *what; /* static; when set, instead of code */
};

/* ------------------------------------------------------------- the store */

/* One append waiting for its batch; lives on the appender's stack. */
struct pending {
    const struct tg_evidence_record *r;
    /* tg_evidence_append_entry: the entry (r NULL), its decision_id column
     * (kind ":" key, the appender's) and its document's digest. */
    const struct tg_evidence_entry *en;
    const char *en_id;
    unsigned char en_sha[32];
    /* Copy-forward digests of r's justification and ticket, computed by
     * the appender so that the writer does not. has_cf: r carries a
     * justification. */
    unsigned char jd[TG_CF_DIGEST], td[TG_CF_DIGEST];
    int has_cf;
    int jti_only; /* tg_evidence_bind_jti: no record, only r's jti */
    /* outbox.c: run inside the batch's transaction, after the item's own
     * record or entry (if any) was written, or alone (r and en NULL). It
     * returns the item's rc; TG_EIO / TG_EBUSY roll the batch back. */
    int (*tx)(struct tg_sq *e, sqlite3 *db, void *arg);
    void *tx_arg;
    int rc;
    struct pending *next;
    /* Set (after rc) once the batch is committed or failed; p may be gone
     * right after. The appender sleeps on the store's wake word with its
     * wake bit (struct tg_sq), not on a condition under the store's
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


/* One pooled read connection with its statements, prepared on first use. */
struct rconn {
    sqlite3 *db;
    sqlite3_stmt *st[Q_N];
    struct rconn *next;
};

/* Which file of the store vanished under the server (struct tg_sq
 * gone). */
enum { GONE_NONE, GONE_DB, GONE_AUX };

struct tg_sq {
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

    struct tg_cf_index cf;

    pthread_mutex_t pool_mu;
    int pool_inited;
    struct rconn *idle;
    size_t n_idle;
};

/*
 * What each file gives the others. The SQLite backend is these files; a
 * second backend (issue 15) is another file behind store.h, not these.
 */


/* ---- sqlite.c (each contract is at its definition) */
/* Words for an SQLite (extended) result code and the errno of the system
 * call that failed (0: none; used only with SQLITE_IOERR_* and
 * SQLITE_CANTOPEN, for which SQLite records it). A static string. */
const char *tg_evidence_cause(int sqlite_code, int sys_errno);
extern const char tg_sq_schema[];
int tg_sq_map(int rc);
const char *tg_sq_fail_words(const struct fail *f);
void tg_sq_fail_note(struct fail *f, sqlite3 *db);
int tg_sq_exec(sqlite3 *db, const char *sql);
void tg_sq_close_db(sqlite3 *db);
int tg_sq_open_db(const char *path, int flags, int busy_ms, sqlite3 **out);
int tg_sq_read_anchor(sqlite3 *db, int64_t *seq, char hash[65], char mac[65]);
int tg_sq_records_migrated(sqlite3 *db, int *out);
int tg_sq_records_version(sqlite3 *db, int *out);
const char *tg_sq_records_cols(int version);
/* ---- offline.c: the scan and entry lookup both forms share */
int tg_sq_scan_db(sqlite3 *db, const char *kind, int64_t since, int64_t until,
            tg_evidence_row_fn fn, void *ctx);
int tg_sq_get_entry_db(sqlite3 *db, const char *kind, const char *key,
                 char **json);
int tg_sq_records_migrate(sqlite3 *db);
void tg_sq_wconn_close(struct wconn *w);
int tg_sq_wconn_open(struct tg_sq *e, struct wconn *w, int create);

/* ---- walvfs.c (each contract is at its definition) */
const char *tg_sq_vfs_name(void);

/* ---- reads.c: the copy-forward index filled from just_use at open */
int tg_sq_cf_load(struct tg_sq *e, sqlite3 *db);
/* Tests only: copy-forward counts the index could not answer (SQLite's). */
extern atomic_int tg_sq_test_db_counts;

/* ---- writer.c (each contract is at its definition) */
int64_t tg_sq_mono_ms(void);
int tg_sq_wal_hook(void *arg, sqlite3 *db, const char *name, int frames);
const char *tg_sq_db_moved(const struct tg_sq *e);
int tg_sq_wconn_pin(struct tg_sq *e, struct wconn *w, int create);
void tg_sq_ids_load(struct tg_sq *e);
void tg_sq_ids_store(struct tg_sq *e, uint64_t v);
int tg_sq_commit_batch(struct tg_sq *e, struct pending *batch,
                 int force);
void *tg_sq_writer_main(void *arg);
void *tg_sq_maintenance_main(void *arg);
int tg_sq_enqueue(struct tg_sq *e, struct pending *p);

/* ---- outbox.c (each contract is at its definition) */
extern const char tg_sq_outbox_schema[];
int tg_sq_outbox_insert(sqlite3 *db, const struct tg_evidence_record *r);
int tg_sq_outbox_valid(const char *actions_json);

#endif
