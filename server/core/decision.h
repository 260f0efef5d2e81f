/* decision.h - the decision document of API.md. */
#ifndef TG_DECISION_H
#define TG_DECISION_H

#include <jansson.h>
#include <stdint.h>

#include "validators/evaluate.h"

/*
 * Builds the decision document for ticket t and result r: decision,
 * decision_id, ticket, source, transition, evaluated_at, policy, dry_run,
 * findings[] and message, and assigned_approver when t has one (the
 * approver a delegate acted for; the findings judge who acted). source
 * overrides t->source when not NULL (the endpoint that received it).
 * Returns a new reference or NULL on ENOMEM.
 */
json_t *tg_decision_build(const struct tg_ticket *t, const char *source,
                          const struct tg_result *r, const char *decision_id,
                          int64_t evaluated_at, const char *policy_digest);

/* The findings[] of r's decision document (code, validator, action, field,
 * message, and exception when one let it through), in r's order. Returns a
 * new reference or NULL on ENOMEM. */
json_t *tg_decision_findings(const struct tg_result *r);

/* The inline message of API.md for r: empty for allow and skip; otherwise a
 * lead line and one "- reason" line per finding. Caller frees. */
char *tg_decision_message(const struct tg_result *r);

/* Formats a decision id "d-<12 digits seq>-<6 hex>" into buf (cap >= 24). */
void tg_decision_id_format(char *buf, size_t cap, uint64_t seq,
                           const unsigned char rnd[3]);

#endif
