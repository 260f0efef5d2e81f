/* plan.h - which act-back actions a decision calls for (issue 12). */
#ifndef TG_ACTBACK_PLAN_H
#define TG_ACTBACK_PLAN_H

#include <jansson.h>

#include "server/config/config.h"

/*
 * The actions that write decision (the decision document of API.md) back
 * to its ticket, per sources.<source>.act_back of c: a new JSON array in
 * *out of {"system", "action", "params"} (store.h, the outbox), empty when
 * there is nothing to do (no act_back, another source, allow, skip).
 *
 * deny: Jira comment, transition, label as on_deny says; ServiceNow
 * reject_approval and work_note. annotate: on_annotate. A dry-run decision
 * (dry_run true): one comment (ServiceNow: work note) saying it was not
 * enforced when dryrun_comments, else nothing. The text is the decision's
 * message (a lead line, then one "- reason" line each) and a marker line
 * naming the decision id.
 *
 * payload is the request body as received (may be NULL): ServiceNow's
 * approval.sys_id and ritm.sys_id come from it (the canonical ticket keeps
 * neither); an action whose sys_id is missing is left out. Pure: no I/O.
 * Returns 0 or TG_ENOMEM.
 */
int tg_actback_plan(const struct tg_config *c, const char *source,
                    const json_t *decision, const json_t *payload,
                    json_t **out);

/* The marker that names decision_id in a comment or work note ("ticketgate
 * decision <id>"), into buf: 0, or TG_EINVAL when it does not fit. */
int tg_actback_marker(const char *decision_id, char *buf, size_t cap);

#endif
