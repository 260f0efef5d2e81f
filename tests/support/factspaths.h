/* factspaths.h - the paths a facts document holds, and walkers that check a facts document against them. */
#ifndef TG_TEST_FACTSPATHS_H
#define TG_TEST_FACTSPATHS_H

#include <jansson.h>
#include <stddef.h>

/* The members replay (cli/replay.c, core/change.c) and the report
 * (outcomes/set.c) read, "[]" for each element of an array: a facts
 * document holds exactly these (server/core/facts.c). The decision
 * document's paths lie under "recorded", the judged ticket's at their own
 * paths. */
extern const char *const TG_FACTS_DECISION_PATHS[];
extern const char *const TG_FACTS_JUDGED_PATHS[];

/*
 * The judged document as a facts document carries it, the test's own
 * statement of the rule (docs/EVIDENCE.md): an identity's "given" only
 * where its "resolved" is absent or null (the report reads "given" only
 * then), and the ticket's "requester" / "beneficiary" only where the
 * identity of that name may name no one (its resolved, or its given when
 * unresolved, is no string with a character other than space and tab
 * among the bytes the report reads of a name: the first 255, at least 252
 * of a longer one).
 * A new reference; its leaves are judged's own values (shallow copies
 * where a member is left out), so pointer comparisons still hold.
 */
json_t *tg_facts_judged_view(const json_t *judged);

/* How a leaf of the source compares to the facts' member at the same path
 * (whole names the path for a failure message). */
typedef void (*tg_facts_leaf_fn)(const json_t *src, const json_t *facts,
                                 const char *whole);

/*
 * Follows path p in src and in facts alike: where src has the member,
 * facts has one that leaf accepts; where src has none, facts has none
 * (a cmocka failure naming whole otherwise). "[]" walks every element of
 * an array; a value that is not an array there is given to leaf as it is.
 */
void tg_facts_same_at(const json_t *src, const json_t *facts, const char *p,
                      const char *whole, tg_facts_leaf_fn leaf);

/* Fails unless every member of v lies on one of the paths above (a
 * decision path's end taken whole: an exception object). prefix holds
 * len bytes of v's own path and room for 256 in all. */
void tg_facts_only_paths(const json_t *v, char *prefix, size_t len);

#endif
