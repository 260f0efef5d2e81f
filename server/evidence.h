/* evidence.h - the tamper-evident evidence store (SQLite, hash chain). */
#ifndef TG_EVIDENCE_H
#define TG_EVIDENCE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

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
};

/*
 * Opens (creating if absent) the store of c->store. Returns 0, TG_EIO or
 * TG_ENOMEM; on success *out is freed with tg_evidence_close().
 */
int tg_evidence_open(const struct tg_config *c, struct tg_evidence **out);
/* Flushes pending writes and closes. NULL is a no-op. */
void tg_evidence_close(struct tg_evidence *e);

/* The next sequence number for a decision id (thread-safe, never reused). */
uint64_t tg_evidence_next_seq(struct tg_evidence *e);

/*
 * Appends r and returns only once it is durable (store.sync). Returns 0;
 * TG_ECONFLICT when r->delivery_id is already recorded for that source (the
 * caller looks it up again); TG_EBUSY or TG_EIO when it could not be made
 * durable (the caller answers 503).
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

/* How many records of tickets other than ticket carry justification_norm at
 * or after since. Returns 0 and *out, or TG_EIO. */
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
 * (new reference), or TG_EIO / TG_ENOMEM. */
int tg_evidence_list(struct tg_evidence *e, const char *ticket, int limit,
                     uint64_t before, json_t **out);

/* 1 when the store currently takes writes (for /readyz). */
int tg_evidence_ready(struct tg_evidence *e);

#endif
