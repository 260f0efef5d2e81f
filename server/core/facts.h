/* facts.h - the facts document: what replay and the report read of a record. */
#ifndef TG_FACTS_H
#define TG_FACTS_H

#include <jansson.h>

/*
 * The facts document of a decision (issues 13 and 14; docs/EVIDENCE.md,
 * "The facts document"): the projection of the decision document and the
 * judged ticket onto exactly the members that replay (cli/replay.c) and
 * the report (outcomes/set.c) read, at the same paths, so that the same
 * extraction code reads either:
 *
 *   {"recorded":{"decision",
 *                "findings":[{"code","action","exception"}],
 *                "exception", "exceptions"},
 *    "ticket":{"requester","beneficiary"(or {"id"}),
 *              "scope":{"system","entitlement","environment"},
 *              "created_at","expires_at","emergency"},
 *    "identities":{"requester":{"given","resolved"},
 *                  "beneficiary":{"given","resolved"},
 *                  "approvers":[{"given","resolved","at"}]}}
 *
 * Two members are left out where the report never reads them: an
 * identity's "given" when its "resolved" is present and not null, and the
 * ticket's "requester" / "beneficiary" when that identity surely names
 * someone (its resolved, or its given when unresolved, is a string with a
 * character other than a blank among the bytes the report reads of a
 * name). They were a quarter of the facts' bytes, which the report parses
 * for every decision (outcomes/set.c identity, read_judged).
 *
 * "recorded" comes first, "decision" first in it, "findings" second
 * (readers may parse the findings after that fixed lead). A member absent
 * in its source is absent here; a value whose type is not the one expected
 * (a finding that is no object, ...) is carried as it is. judged NULL (a
 * skip has none): the decision's members only. The values are the
 * sources' own (borrowed, reference counted), so the result must be dumped
 * or freed before they change. Returns a new reference, or NULL on ENOMEM
 * or when decision is not an object.
 */
json_t *tg_facts_build(const json_t *decision, const json_t *judged);

#endif
