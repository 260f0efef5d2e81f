/* change.h - whether a decision would change under another policy, and how. */
#ifndef TG_CHANGE_H
#define TG_CHANGE_H

#include <jansson.h>
#include <stddef.h>

#include "validators/codes.h"
#include "validators/evaluate.h"

/*
 * What a decision came to, reduced to what replay and the shadow policy
 * compare: the verdict and, for each reason code, the most severe action
 * of its findings. Two decisions differ when either differs; a finding's
 * wording (which names the configured limits) is not compared, so a
 * candidate that only rewords a message, or moves a limit that a ticket
 * breaks either way, changes nothing.
 */
struct tg_change_side {
    enum tg_verdict verdict;
    /* 0: no finding of the code; else 1 + its most severe enum tg_action */
    unsigned char act[TG_CODE_COUNT];
};

/* The side of a result tg_evaluate() made. */
void tg_change_from_result(const struct tg_result *r, struct tg_change_side *s);

/*
 * The side of a recorded decision document (API.md: "decision" and
 * "findings" [{"code", "action"}]). Returns 0, or TG_EINVAL when doc is no
 * decision document (no known verdict, a finding without a known code or
 * action); s is then unusable.
 */
int tg_change_from_doc(const json_t *doc, struct tg_change_side *s);

/* 1 when a and b differ (verdict or any code's action), else 0. */
int tg_change_differs(const struct tg_change_side *a,
                      const struct tg_change_side *b);

/*
 * The codes whose action differs between a and b, in code order, into
 * codes (room for TG_CODE_COUNT). Returns how many.
 */
size_t tg_change_codes(const struct tg_change_side *a,
                       const struct tg_change_side *b, enum tg_code *codes);

/* "off" when side s has no finding of code c, else its action's name. */
const char *tg_change_action_name(const struct tg_change_side *s,
                                  enum tg_code c);

/* The verdict named name ("allow", "annotate", "deny", "skip"): 0 or
 * TG_EINVAL. */
int tg_change_verdict_parse(const char *name, enum tg_verdict *out);

#endif
