/* attempt.h - what both store backends record of one act-back attempt. */
#ifndef TG_STORE_ATTEMPT_H
#define TG_STORE_ATTEMPT_H

#include <jansson.h>
#include <stdint.h>

/* The last error kept with an action: the sender's words, a status line
 * and the start of a body, bounded whatever the peer sent. */
#define TG_OUTBOX_ERROR_MAX 512

/* Copies error into out, cut to TG_OUTBOX_ERROR_MAX bytes on a UTF-8
 * character boundary. */
void tg_outbox_bound_error(const char *error, char out[TG_OUTBOX_ERROR_MAX + 1]);

/* The chain entry of one attempt on the action row (its decision_id,
 * ticket, system, action, params): what was tried and what came of it,
 * with next_at when outcome is "retry". A new string, or NULL. */
char *tg_outbox_attempt_doc(const json_t *row, int64_t id, int64_t tries,
                            const char *outcome, const char *error,
                            int64_t next_at);

#endif
