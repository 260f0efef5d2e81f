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
    /* issue 13: the judged ticket document (PLAN.md Interface 2), or NULL.
     * Stored in the record, inside the chain (the v2 serialisation). */
    const char *judged_json;
    size_t judged_len;
    /* issues 13/14: the facts document (core/facts.h: the members of the
     * decision and of the judged ticket that replay and the report read),
     * or NULL. Inside the chain: a record with facts is hashed as v3. */
    const char *facts_json;
    size_t facts_len;
    /* issue 12: a JSON array of act-back actions (tg_actback_plan: each
     * {"system", "action", "params"}), or NULL: written to the outbox in
     * this record's own transaction, so an acknowledged decision always
     * gets its act-back. Not part of the chain (the outcomes are). */
    const char *actions_json;
};

/* A chain entry that is not a decision (docs/EVIDENCE.md, "Kinds"). Every
 * pointer is borrowed for the call. */
struct tg_evidence_entry {
    const char *kind;    /* "action", "event", "shadow", "policy" */
    const char *key;     /* unique within kind (event source_id, policy
                            digest, "<action id>:<attempt>", decision id
                            for shadow) */
    const char *ticket;  /* or NULL */
    const char *source;  /* or NULL */
    int64_t time;        /* UTC seconds */
    const char *json;    /* the entry's document (a JSON object) */
    size_t len;
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
 * Appends the entry en to the chain, durably (group commit with the
 * decisions, in the writer thread). kind is 1..32 bytes of [a-z_] and not
 * "decision"; key is non-empty. Returns 0; TG_ECONFLICT when (kind, key) is
 * already in the chain (archived entries are not looked at); TG_EINVAL;
 * TG_EBUSY; TG_EIO.
 */
int tg_evidence_append_entry(struct tg_evidence *e,
                             const struct tg_evidence_entry *en);

/* One row of the chain as a scan hands it out (borrowed for the callback). */
struct tg_evidence_row {
    uint64_t seq;
    const char *kind;     /* "decision" for decisions */
    const char *key;      /* decision id, or the entry's key */
    const char *ticket, *source, *policy; /* may be NULL */
    int64_t time;
    const char *json; size_t json_len;     /* decision document / entry */
    const char *judged; size_t judged_len; /* NULL on old records */
    const char *facts; size_t facts_len; /* NULL before v3 */
};

/* Return nonzero to stop the scan (that value is returned). */
typedef int (*tg_evidence_row_fn)(void *ctx,
                                  const struct tg_evidence_row *row);

/*
 * Every row of kind (NULL: all kinds; "decision": decisions, old and new)
 * with since <= time < until (INT64_MIN / INT64_MAX for open ends), in seq
 * order, from the store file at path (own read-only connection, one
 * snapshot) or from a live store (a pooled read connection, one snapshot).
 * Rows are borrowed for the callback. 0, TG_EIO, or fn's value.
 */
int tg_evidence_scan_file(const char *path, const char *kind,
                          int64_t since, int64_t until,
                          tg_evidence_row_fn fn, void *ctx);
int tg_evidence_scan(struct tg_evidence *e, const char *kind,
                     int64_t since, int64_t until,
                     tg_evidence_row_fn fn, void *ctx);
/*
 * tg_evidence_scan_file of every kind for a reader of the facts document
 * (the report): a row that has facts comes without its decision document
 * (json NULL, json_len 0), and with judged "" (judged_len 0) when it has
 * a judged ticket, NULL when not; rows without facts (events, records
 * before v3) come whole. PostgreSQL rows come whole.
 */
int tg_evidence_scan_file_facts(const char *path, int64_t since,
                                int64_t until, tg_evidence_row_fn fn,
                                void *ctx);

/* The entry (kind, key) in *json (caller frees, NUL-terminated): 0,
 * TG_ENOTFOUND, TG_EIO, TG_ENOMEM. Offline form on a file; live form on a
 * running store. */
int tg_evidence_get_entry_file(const char *path, const char *kind,
                               const char *key, char **json);
int tg_evidence_get_entry(struct tg_evidence *e, const char *kind,
                          const char *key, char **json);

/*
 * The rules that judged (issue 13; docs/EVIDENCE.md, "The policies"):
 * appends a chain entry of kind "policy", key c->digest, holding the exact
 * bytes that digest covers (c->text, c->dir_text) with their paths. Called
 * at server start and on every reload. Logs what it did (policy_kept) or
 * why not (policy_not_kept). Returns 0 (kept now, or kept before),
 * TG_EINVAL (c has no text, or holds store.hmac_key literally: the store
 * must not hold the key that signs it), TG_ENOMEM, TG_EBUSY or TG_EIO.
 */
int tg_evidence_keep_policy(struct tg_evidence *e, const struct tg_config *c,
                            int64_t now);

/* A policy entry's files, decoded (tg_evidence_policy_files). */
struct tg_policy_files {
    char *config;           /* the configuration file's bytes */
    size_t config_len;
    char *directory;        /* the directory file's, or NULL */
    size_t directory_len;
    char *config_path;      /* as loaded; may be NULL */
    char *directory_path;   /* may be NULL */
    char digest[72];        /* "sha256:..." recomputed from the bytes */
};

/* Decodes the document of a policy entry into *out (freed with
 * tg_evidence_policy_files_free) and recomputes its digest over the files.
 * Returns 0, TG_EINVAL (not a policy document) or TG_ENOMEM. */
int tg_evidence_policy_files(const char *json, size_t len,
                             struct tg_policy_files *out);
void tg_evidence_policy_files_free(struct tg_policy_files *f);

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
    uint64_t entries;       /* of them, entries (kind other than decision) */
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

/*
 * --- The outbox (issue 12, PLAN.md Interface 3; server/store/outbox.c). ---
 * Act-back actions waiting for delivery to Jira or ServiceNow. One action
 * as JSON: {"id", "decision_id", "ticket", "system": "jira"|"servicenow",
 * "action": "comment"|"transition"|"label"|"reject_approval"|"work_note",
 * "params": {...}, "attempts", "state": "pending"|"inflight"|"delivered"|
 * "dead"|"dropped", "next_at", "created_at", "last_error"}; times in UTC
 * milliseconds. attempts counts the attempts since the action was queued
 * (or retried by hand); a claim starts one, so a claimed action's attempts
 * is the number of the attempt being made.
 */

/* Due actions (state pending, or inflight with a lease that ran out, and
 * next_at <= now_ms), at most max, oldest first, leased for lease_ms (state
 * "inflight", next_at the lease's end; a lease that runs out makes them due
 * again, so a crash mid-send retries), their attempts counted. 0 with *out
 * a new array (empty when none is due); TG_EINVAL; TG_EBUSY; TG_EIO. */
int tg_outbox_claim(struct tg_evidence *e, int64_t now_ms, int max,
                    int64_t lease_ms, json_t **out);
/* Settles the attempt in flight of action id: outcome "delivered" | "retry"
 * (due again at next_at_ms) | "dead"; error: what went wrong, or NULL.
 * Writes the action's row and a chain entry of kind "action" (key
 * "<id>:<attempt number, counted over the action's life>") in one
 * transaction. An action no longer inflight (dropped meanwhile) keeps its
 * state; the attempt is recorded all the same. 0, TG_ENOTFOUND, TG_EINVAL,
 * TG_EBUSY, TG_EIO. */
int tg_outbox_settle(struct tg_evidence *e, int64_t id, const char *outcome,
                     int64_t next_at_ms, const char *error);
/* The actions of ticket (NULL: every action), oldest first, at most 1000:
 * 0 with *out = {"actions": [...]} (new reference); TG_EIO; TG_ENOMEM. */
int tg_outbox_list(struct tg_evidence *e, const char *ticket, json_t **out);
/* Actions not yet settled for good (pending or inflight) and the creation
 * time of the oldest (0 when none). 0 or TG_EIO. */
int tg_outbox_stats(struct tg_evidence *e, long *pending,
                    int64_t *oldest_created_ms);
/* Offline, on the store file at path (`ticketgate outbox`); safe against a
 * running server's file. list as tg_outbox_list. retry: a dead, dropped or
 * pending action is due now with its attempts back to 0; drop: a pending,
 * inflight or dead action is never sent. Both: 0, TG_ENOTFOUND, TG_EINVAL
 * (the action was delivered, or already in that state), TG_EBUSY, TG_EIO. */
int tg_outbox_list_file(const char *path, const char *ticket, json_t **out);
int tg_outbox_retry_file(const char *path, int64_t id);
int tg_outbox_drop_file(const char *path, int64_t id);

/*
 * --- Moving a store (issue 15, `ticketgate audit migrate`). ---
 * Copies the SQLite store at from_path into the PostgreSQL database at
 * to_url (a postgresql:// URL) row for row: every record with its seq,
 * hashes, MACs, kinds and judged tickets, the checkpoint anchors, the used
 * jti, the copy-forward uses and the outbox; then verifies the copy on its
 * own. The source is verified first (with key when keylen > 0) and nothing
 * is copied when it does not verify. Returns 0 (copied, and the copy
 * verifies to the same head); TG_EINVAL (not a file and a URL, or the
 * target already holds a chain: migrate into a new database); TG_ECONFLICT
 * (the source or the copy does not verify; the copy is not kept when it
 * failed before its commit); TG_EIO or TG_ENOMEM. *why (static, may be
 * NULL) says what failed.
 */
struct tg_evidence_migration {
    struct tg_evidence_verdict source, target;
    uint64_t records;  /* chain rows copied */
    uint64_t jti;      /* used jti */
    uint64_t actions;  /* outbox actions */
    uint64_t other;    /* checkpoints and copy-forward uses */
};
int tg_evidence_migrate(const char *from_path, const char *to_url,
                        const unsigned char *key, size_t keylen,
                        struct tg_evidence_migration *out, const char **why);

#endif
