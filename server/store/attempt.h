/* attempt.h - what both store backends share of the outbox: the actions
 * they accept and the record of one act-back attempt. */
#ifndef TG_STORE_ATTEMPT_H
#define TG_STORE_ATTEMPT_H

#include <jansson.h>
#include <stdint.h>

#include "server/store/store.h"

/* The last error kept with an action: the sender's words, a status line
 * and the start of a body, bounded whatever the peer sent. */
#define TG_OUTBOX_ERROR_MAX 512

/* 1 when a is an action as the planner makes it: {"system", "action",
 * "params": {...}} with known names. */
int tg_outbox_action_ok(const json_t *a);

/* 1 when actions_json is an array of tg_outbox_action_ok items (the store
 * checks before queueing: one parse per decision that acts back). */
int tg_outbox_actions_valid(const char *actions_json);

/* Copies error into out, cut to TG_OUTBOX_ERROR_MAX bytes on a UTF-8
 * character boundary. */
void tg_outbox_bound_error(const char *error, char out[TG_OUTBOX_ERROR_MAX + 1]);

/* The chain entry of one attempt on the action row (its decision_id,
 * ticket, system, action, params): what was tried and what came of it,
 * with next_at when outcome is "retry". A new string, or NULL. */
char *tg_outbox_attempt_doc(const json_t *row, int64_t id, int64_t tries,
                            const char *outcome, const char *error,
                            int64_t next_at);

/* What a settle asks of its backend, made ready by tg_outbox_settle_prepare
 * (the same for both): the outcome to write on the row and the chain entry
 * ("action", key "<id>:<tries>") that records the attempt. */
struct tg_outbox_settle {
    int64_t id, next_at, now, tries;
    const char *outcome; /* "delivered", "retry", "dead" */
    const char *error;   /* bounded (err below), or NULL */
    char err[TG_OUTBOX_ERROR_MAX + 1];
    char key[48];
    char *doc;   /* the entry's document */
    char *en_id; /* "action:" key */
    struct tg_evidence_entry en;
    unsigned char en_sha[32];
};

/* 1 when outcome is one a settle takes: "delivered", "retry", "dead". */
int tg_outbox_outcome_ok(const char *outcome);

/* Readies *st for settling the attempt now (UTC ms) of action row (as the
 * backend read it, with its "try") with outcome (tg_outbox_outcome_ok),
 * next_at_ms and error (or NULL). *st must not move until its backend is
 * done with it (st->en points into it). 0, TG_ENOMEM or TG_EIO; free it
 * with tg_outbox_settle_clear either way. */
int tg_outbox_settle_prepare(struct tg_outbox_settle *st, const json_t *row,
                             int64_t id, const char *outcome,
                             int64_t next_at_ms, const char *error,
                             int64_t now);
void tg_outbox_settle_clear(struct tg_outbox_settle *st);

/* A settle on backend be (never NULL): outcome checked, the action's row
 * read by read_row (0 with *row the caller frees, TG_ENOTFOUND, ...), the
 * attempt made ready as of now and handed to enqueue, which writes the
 * chain entry st->en and the row's outcome in one transaction. An entry
 * already in the chain (enqueue's TG_ECONFLICT: a settle repeated after
 * a lost answer) is success: the row was settled with it. Returns 0,
 * TG_EINVAL, or what read_row, the preparation or enqueue returned. */
int tg_outbox_settle_run(void *be, int64_t id, const char *outcome,
                         int64_t next_at_ms, const char *error,
                         int (*read_row)(void *be, int64_t id, json_t **row),
                         int (*enqueue)(void *be, struct tg_outbox_settle *st));

#endif
