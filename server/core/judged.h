/* judged.h - the judged ticket document kept in every evidence record. */
#ifndef TG_JUDGED_H
#define TG_JUDGED_H

#include <jansson.h>
#include <stdint.h>

#include "validators/directory.h"
#include "validators/policy.h"
#include "validators/ticket.h"

/*
 * The judged ticket of PLAN.md's interface 2 (schemas/judged.schema.json):
 * {"ticket": the canonical ticket as the validators saw it,
 *  "identities": {"requester", "beneficiary" (with "type"), "owner",
 *                 "approvers": [{..., "at", "assigned"?, "authority"}]}}.
 * Each identity is {"given", "resolved"} plus "kind" when it is not a
 * person, and the directory's "name" and "inactive" when it has them. The authority basis of each
 * approver comes from tg_authority_judge, the code behind the findings,
 * at now (evaluated_at). Returns a new reference, or NULL on ENOMEM.
 */
json_t *tg_judged_build(const struct tg_ticket *t, const struct tg_policy *p,
                        const struct tg_directory *d, int64_t now);

#endif
