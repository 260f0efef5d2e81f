/* store.h - the evidence store: the only way into storage (SQLite today). */
#ifndef TG_STORE_H
#define TG_STORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "server/config/config.h"

struct tg_evidence; /* opaque; one per server, thread-safe */

/* One decision to record. Every pointer is borrowed for the call. */
struct tg_evidence_record {
    const char *decision_id;    /* the key; also inside decision_json */
    const char *ticket;         /* ticket id */
    const char *source;         /* "jira", "servicenow", "generic" */
    const char *delivery_id;    /* NULL when the request carried none */
    unsigned char body_sha256[32]; /* of the raw request body */
    const char *policy_digest;  /* "sha256:..." */
    int64_t time;               /* evaluated_at, UTC seconds */
    const char *decision_json;  /* the decision document as sent */
    size_t decision_len;
    /* Normalised justification (REASONS.md copy-forward), or NULL. */
    const char *justification_norm;
    /* The request's JWT jti, or NULL: bound to this record in the same
     * transaction (API.md: a jti is single-use). Not part of the chain. */
    const char *jti;
};

/*
 * Opens (creating if absent) the store of c->store. Returns 0, TG_EIO or
 * TG_ENOMEM; on success *out is freed with tg_evidence_close().
 */
int tg_evidence_open(const struct tg_config *c, struct tg_evidence **out);
/* Flushes pending writes and closes. NULL is a no-op. */
void tg_evidence_close(struct tg_evidence *e);

/* The next sequence number for a decision id (thread-safe, lock-free, never
 * handed out again after a restart: numbers are reserved in the store ahead
 * of use, and in the high-water file beside it, store.path + ".ids", which
 * outlives a store deleted or replaced; docs/EVIDENCE.md). */
uint64_t tg_evidence_next_seq(struct tg_evidence *e);

/*
 * Appends r and returns only once it is durable (store.sync). Returns 0;
 * TG_ECONFLICT when r->delivery_id is already recorded for that source, or
 * r->jti was already used by that source (with another body, or with this
 * one by a record: the caller looks both up again); TG_EBUSY or TG_EIO when
 * it could not be made durable (the caller answers 503). The jti is written
 * in the record's transaction: of two appends with one jti, one fails.
 */
int tg_evidence_append(struct tg_evidence *e,
                       const struct tg_evidence_record *r);

/*
 * Looks up a delivery id of source. Returns 0 with *decision_json (caller
 * frees) when recorded with the same body digest; TG_ECONFLICT when recorded
 * with another body; TG_ENOTFOUND; TG_EIO.
 */
int tg_evidence_find_delivery(struct tg_evidence *e, const char *source,
                              const char *delivery_id,
                              const unsigned char body_sha256[32],
                              char **decision_json);

/*
 * Looks up the jti of source (single-use, API.md). Returns 0 when it was
 * used with the same body digest, with *decision_json the decision recorded
 * under it (caller frees), or NULL when the decision made no record (skip);
 * TG_ECONFLICT when used with another body (or its record was archived);
 * TG_ENOTFOUND; TG_EIO; TG_ENOMEM.
 */
int tg_evidence_find_jti(struct tg_evidence *e, const char *source,
                         const char *jti, const unsigned char body_sha256[32],
                         char **decision_json);

/*
 * Marks the jti of source used by body_sha256 without a record (a skip
 * answer), durably, at time (UTC seconds). Returns 0 (bound now, or already
 * bound to this body), TG_ECONFLICT (bound to another body), TG_EBUSY or
 * TG_EIO.
 */
int tg_evidence_bind_jti(struct tg_evidence *e, const char *source,
                         const char *jti, const unsigned char body_sha256[32],
                         int64_t time);

/* How many tickets other than ticket have a record carrying
 * justification_norm at or after since, at most 1000. Answered from an index
 * in memory when it can be (no read; docs/EVIDENCE.md says when), else by
 * SQLite. Returns 0 and *out, or TG_EIO. */
int tg_evidence_copy_forward_count(struct tg_evidence *e,
                                   const char *justification_norm,
                                   const char *ticket, int64_t since,
                                   long *out);

/* The decision document recorded under decision_id. Returns 0 with *json
 * (caller frees), TG_ENOTFOUND or TG_EIO. */
int tg_evidence_get(struct tg_evidence *e, const char *decision_id,
                    char **json);

/* Decisions of ticket, newest first: at most limit, starting after the
 * record whose sequence is below `before` (0: from the newest). Returns 0
 * with *out a JSON object {"decisions": [...], "next": <cursor or null>}
 * (new reference), or TG_EIO / TG_ENOMEM. limit is clamped to 1..1000 (<= 0
 * means 100); next is an integer to pass back as `before`, null on the last
 * page. */
int tg_evidence_list(struct tg_evidence *e, const char *ticket, int limit,
                     uint64_t before, json_t **out);

/* 1 when the store currently takes writes (for /readyz). After a failed
 * write it stays 0 until a later append or the periodic probe (every
 * TG_EVIDENCE_PROBE_MS) commits again. */
int tg_evidence_ready(struct tg_evidence *e);

#define TG_EVIDENCE_PROBE_MS 1000

/* Words for why the store failed, for the log: NULL while it takes writes,
 * else a static sentence ("disk full", "the database file was deleted
 * under the running server", ...). Thread-safe. */
const char *tg_evidence_failure(struct tg_evidence *e);

/*
 * --- Offline operations on a store file (the `audit` commands). ---
 * They open their own connection, so they may run against the file of a
 * running server; each reads one consistent snapshot.
 */

/* What tg_evidence_verify_file found. */
struct tg_evidence_verdict {
    int intact;             /* 1: every link checked out */
    uint64_t count;         /* records checked */
    uint64_t anchor_seq;    /* 0: the chain starts at genesis; else the seq of
                             * the last archived record (checkpoints table) */
    uint64_t head_seq;      /* seq of the last record (anchor when none) */
    char head_hash[65];     /* its hash, lower-case hex */
    /* When !intact: the first record that does not check out. */
    uint64_t broken_seq;
    char broken_id[128];    /* its decision_id, truncated to fit */
    char reason[160];       /* what is wrong with it; on TG_EIO, why */
};

/*
 * Recomputes the whole chain of the store (or archive) at path, from its
 * latest checkpoint anchor or from genesis, and with key (keylen > 0) every
 * link's MAC as well. Returns 0 with *out filled (intact or not), TG_EIO when
 * the file cannot be read as a ticketgate store (out->reason says why), or
 * TG_ENOMEM. The serialisation is documented in server/store/internal.h and in
 * docs/EVIDENCE.md.
 */
int tg_evidence_verify_file(const char *path, const unsigned char *key,
                            size_t keylen, struct tg_evidence_verdict *out);

/*
 * Writes the records of the store at path with time >= since as JSON Lines
 * to out, oldest first: every column, the decision as an embedded JSON
 * object. Returns 0, TG_EIO (store unreadable, or writing out failed; *why,
 * when not NULL, points to a static description) or TG_ENOMEM.
 */
int tg_evidence_export_file(const char *path, int64_t since, FILE *out,
                            const char **why);

/*
 * Retention: moves every record with seq < before from the store at path
 * into a new SQLite file archive_path (same tables; its checkpoints row is
 * the anchor its first record links to), then, in one transaction of the
 * store, records the last moved record (seq, hash, mac) in the checkpoints
 * table as the new anchor and deletes the moved records. The chain is
 * verified first (with key when keylen > 0) and nothing is moved if it is
 * broken. archive_path must not exist (O_EXCL). Returns 0 with *moved
 * (0, and no file written, when no record is older than before), TG_EINVAL
 * (archive_path exists), TG_ECONFLICT (the chain does not verify), TG_EBUSY
 * or TG_EIO; on an error the store is unchanged and no archive is left. The
 * store's write lock is held while the moved records are deleted: move a
 * slice at a time (say 100 000 records) on a busy server.
 */
int tg_evidence_archive_file(const char *path, uint64_t before,
                             const char *archive_path,
                             const unsigned char *key, size_t keylen,
                             int busy_timeout_ms, uint64_t *moved);

#endif
