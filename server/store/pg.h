/* pg.h - what the PostgreSQL store's files share (not for outside use). */
#ifndef TG_STORE_PG_H
#define TG_STORE_PG_H

/*
 * The PostgreSQL store (store.driver: postgresql, issue 15). Same tables and
 * columns as the SQLite file (internal.h), the same chain serialisation
 * (chain.h): seq and time are BIGINT, hashed as their decimal text; text
 * columns are hashed as the bytes stored (the database's encoding must be
 * UTF8 or SQL_ASCII, checked at open, so that what comes back is what went
 * in).
 *
 * Many processes append to one chain. Each has one writer thread that
 * takes the chain's lock, pg_advisory_xact_lock(TG_PG_CHAIN_LOCK), in a
 * new transaction as soon as a record waits, and then every record waiting
 * by the time the lock is granted (group commit: those that came while
 * another process held it join the batch). Only with the lock does it read
 * the head (the record with the highest seq, or the
 * checkpoint anchor), hash and insert. So batches of all processes follow
 * one another: seq stays contiguous and every prev_hash is the hash of the
 * record before it. records.seq is the primary key and prev_hash UNIQUE:
 * a fork cannot commit even if the lock were bypassed. An appender is
 * answered only after its batch's COMMIT returned. BEGIN, the lock and the
 * head go in one round trip, the batch's INSERTs (prepared statements)
 * and COMMIT in another (libpq pipeline mode); a decision_id already taken
 * aborts the transaction and the batch is written again without that item.
 *
 * A COMMIT whose answer is lost (the connection dropped while it ran) may or
 * may not have committed: the writer reconnects once and looks the batch's
 * first link up (its seq and hash); found, the batch committed and is
 * answered as written;
 * not found (or no connection), every item fails (TG_EIO, 503), so nothing
 * uncommitted is ever acknowledged and nothing is written twice by us.
 */

#include "server/store/backend.h"
#include "server/store/cfindex.h"
#include "server/store/chain.h"
#include "server/util/strbuf.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>

/* The advisory lock of the chain's head and the one of schema creation
 * (two 64-bit keys ticketgate owns in the database: "tgchain1", "tgschem1"
 * in ASCII). */
#define TG_PG_CHAIN_LOCK INT64_C(0x7467636861696e31)
#define TG_PG_SCHEMA_LOCK INT64_C(0x74677363680d6d31)
#define TG_PG_MAX_BATCH 1024
#define TG_PG_POOL_MAX 16
#define TG_PG_ID_BLOCK 1024
#define TG_PG_BACKOFF_MIN_MS 100
#define TG_PG_BACKOFF_MAX_MS 2000

#define TG_PG_RECORD_COLUMNS                                                   \
    "seq, decision_id, ticket, source, delivery_id, body_sha256, policy, "     \
    "time, decision, just_norm, prev_hash, hash, mac, kind, judged, facts"
#define TG_PG_COL_HASH 11
#define TG_PG_COL_MAC 12
#define TG_PG_COL_KIND 13
#define TG_PG_COL_JUDGED 14
/* the facts document (schema version 3; NULL before, hashed v2) */
#define TG_PG_COL_FACTS 15
#define TG_PG_RECORD_NCOLS 16

/* One copy-forward count waiting for its batch (pgread.c); lives on the
 * reader's stack. */
struct tg_pg_read {
    const char *v[3]; /* just_norm, since, ticket */
    int64_t since;
    int64_t count;
    int rc;
    /* reload: read the justification's latest uses (tg_cf_reload) rather
     * than its count; they are in uses, which the reader clears */
    int reload;
    PGresult *uses;
    /* Set before sem is posted (once: done, or lead the next batch); the
     * post is made without rd_mu, so that the woken reader does not
     * wait for it at once; after it, the poster does not touch r. */
    int done, lead;
    sem_t sem;
    struct tg_pg_read *next;
};

/* One append waiting for its batch; lives on the appender's stack. */
struct tg_pg_item {
    const struct tg_evidence_record *r;
    const struct tg_evidence_entry *en;
    const char *en_id; /* kind ":" key */
    unsigned char en_sha[32];
    int jti_only; /* tg_evidence_bind_jti */
    /* r's justification and ticket digests, computed by the appender (the
     * copy-forward index's, after COMMIT); has_cf: r has a justification */
    unsigned char jd[TG_CF_DIGEST], td[TG_CF_DIGEST];
    int has_cf;
    /* run inside the batch's transaction (pgoutbox.c), after the item's
     * record, or alone; returns the item's rc (TG_EIO/TG_EBUSY: the batch
     * rolls back) */
    int (*tx)(struct tg_pg *e, PGconn *db, void *arg);
    void *tx_arg;
    int rc;
    int settled; /* writer: answered by a conflict in an earlier attempt
                  * at its batch (rc kept; not written again) */
    /* posted once the writer settled it (rc set), without mu held: the
     * woken appender does not wait for mu at once; after the post the
     * writer does not touch the item */
    sem_t done_sem;
    struct tg_pg_item *next;
};

struct tg_pg {
    char *url;
    unsigned char *key;
    size_t keylen;
    int busy_ms;

    pthread_mutex_t mu;     /* queue, stop, done flags */
    pthread_cond_t work;    /* the writer: items queued, or stop */
    struct tg_pg_item *qhead, *qtail;
    int stop;
    pthread_t writer;
    int writer_started;

    /* Writer thread only. */
    PGconn *w;
    int backoff_ms;
    int64_t retry_at_ms; /* no connection attempt before this */
    const char *logged;  /* the failure last logged */

    atomic_int ready;
    _Atomic(const char *) failure;

    pthread_mutex_t id_mu;
    uint64_t id_next, id_end;

    pthread_mutex_t pool_mu;
    PGconn *idle[TG_PG_POOL_MAX];
    int n_idle;

    /* The requests' copy-forward counts, read together (pgread.c): the
     * first waiting request leads a batch on rd_db (its statement
     * prepared), the others wait for their answer. */
    pthread_mutex_t rd_mu;
    struct tg_pg_read *rd_head, *rd_tail;
    int rd_leading; /* a batch is being read */
    PGconn *rd_db;  /* the leader's only */

    /* Counts answered without the database while fresh (pgcfindex.c);
     * the hash of the record at cf.seq (writer only, after the load). */
    struct tg_cf_index cf;
    char cf_hash[65];
};

/* The records other replicas appended since the index's seq, read by the
 * writer under the chain's lock (pgcfindex.c): at most
 * TG_PG_CF_FOREIGN_MAX a transaction. */
#define TG_PG_CF_FOREIGN_MAX 512
struct tg_pg_foreign {
    struct tg_cf_row *v;
    size_t n, cap;
    int64_t from, upto; /* read after seq from, up to seq upto */
    char upto_hash[65]; /* the record's at upto */
    int read;           /* the read was made and taken */
    int whole;          /* it reached the head */
    int broken;         /* the chain is not the one the index learnt */
};

/* ---- pg.c */
/* Tests only: the next COMMIT loses its answer (1) or never reaches the
 * server (2), as a failover mid-commit would. */
extern atomic_int tg_pg_test_fault;
/* Tests only: the writer's next batch waits until this many items are
 * queued (then it is reset to 0), so that they are written together. */
extern atomic_int tg_pg_test_gather;
/* Tests only: the items queued and not yet taken by a writer (of every
 * store the process opened). */
extern atomic_int tg_pg_test_queued;
/* The chain's head: seq, hash of the last record, else of the checkpoint
 * anchor; no row for an empty chain. */
extern const char tg_pg_head_sql[];
/* Connects to url. timeouts: set lock_timeout and statement_timeout to
 * busy_ms (> 0). Returns 0 with *out, or TG_EIO with *why (static words;
 * the server's own message is logged at debug). */
int tg_pg_connect(const char *url, int busy_ms, PGconn **out, const char **why);
/* Runs sql (no parameters): 0, TG_EBUSY (a lock or statement timeout) or
 * TG_EIO. */
int tg_pg_exec(PGconn *db, const char *sql);
/* What a failed result means: TG_EBUSY for a lock or statement timeout,
 * else TG_EIO. */
int tg_pg_fail(const PGresult *res);
/* Creates the tables when absent (under TG_PG_SCHEMA_LOCK). 0 or TG_EIO. */
int tg_pg_schema(PGconn *db);
/* A read connection of the pool (or a new one) and giving it back (ok 0:
 * it failed, closed instead). */
int tg_pg_conn_get(struct tg_pg *e, PGconn **out);
void tg_pg_conn_put(struct tg_pg *e, PGconn *db, int ok);
/* A read found the server unreachable: the store turns not ready (503 on
 * /readyz) and the writer probes until it is back, as after a failed
 * write; a replica that only read while the database was down must not
 * say it is ready. */
void tg_pg_note_down(struct tg_pg *e);
int tg_pg_enqueue(struct tg_pg *e, struct tg_pg_item *it);
/* A NUL-terminated copy of column col of row (NULL when SQL NULL or out of
 * memory: *oom set then). */
char *tg_pg_dup(const PGresult *res, int row, int col, int *oom);
/* Column col of row as int64 (0 when not a number). */
int64_t tg_pg_i64(const PGresult *res, int row, int col);
/* A one-dimension array parameter in binary format (PostgreSQL's
 * array_recv: no quoting, no parsing of text arrays): its head (n
 * elements of bigint, else text), then each element (text: v NULL for
 * SQL NULL). 0, TG_ENOMEM, or TG_ETOOBIG past a's maximum. */
int tg_pg_array_begin(struct tg_strbuf *a, int bigint, int n);
int tg_pg_array_text(struct tg_strbuf *a, const char *v, int len);
int tg_pg_array_i64(struct tg_strbuf *a, int64_t v);

/* ---- pgread.c */
/* Calls fn for each row of sql (parameters v), fetched through a cursor
 * inside the caller's transaction. Returns 0, TG_EIO, TG_ENOMEM or fn's
 * nonzero value. */
typedef int (*tg_pg_row_fn)(void *ctx, const PGresult *res, int row);
int tg_pg_each_row(PGconn *db, const char *sql, int n, const char *const *v,
                   tg_pg_row_fn fn, void *ctx);
/* Scans db (inside the caller's transaction) as tg_evidence_scan. */
int tg_pg_scan_db(PGconn *db, const char *kind, int64_t since, int64_t until,
                  tg_evidence_row_fn fn, void *ctx);
int tg_pg_get_entry_db(PGconn *db, const char *kind, const char *key,
                       char **json);

/* ---- pgcfindex.c */
/* The writer's read of the records from seq $1 (bigint) to
 * TG_PG_CF_FOREIGN_MAX seqs on, and the checkpoint at $1: seq, hash,
 * just_norm, ticket, time. */
extern const char tg_pg_cf_foreign_sql[];
/* Tests only: the copy-forward counts the database answered; those of
 * them that read the justification's uses (reloads, pgread.c); the
 * connections the batched reads took (pgread.c: one kept while it works). */
extern atomic_int tg_pg_test_db_counts;
extern atomic_int tg_pg_test_db_reloads;
extern atomic_int tg_pg_test_rd_connects;
int tg_pg_cf_load(struct tg_pg *e, PGconn *db);
void tg_pg_cf_foreign_reset(struct tg_pg_foreign *f, int64_t from);
int tg_pg_cf_foreign(struct tg_pg_foreign *f, const PGresult *res,
                     int64_t head, const char *hash);
void tg_pg_cf_index(struct tg_pg *e, const struct tg_pg_foreign *f,
                    const struct tg_pg_item *batch, int64_t seq,
                    const char *hash, int64_t at_ms);

/* ---- pgoutbox.c */
int tg_pg_outbox_insert(PGconn *db, const struct tg_evidence_record *r);
int tg_pg_outbox_valid(const char *actions_json);

#endif
