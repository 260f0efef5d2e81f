/* policy.h - the `policy:` section of the configuration, resolved for speed. */
#ifndef TG_POLICY_H
#define TG_POLICY_H

#include <stddef.h>

#include "validators/codes.h"

enum tg_privilege { TG_PRIV_READ = 0, TG_PRIV_WRITE = 1, TG_PRIV_ADMIN = 2 };

/* A sorted set of lower-case words, searched with bsearch. */
struct tg_wordset {
    char **v;
    size_t n;
    size_t maxlen; /* longest word: longer input cannot be in the set */
};

/* A routine or forbidden rule: NULL members are not named by the rule. */
struct tg_rule {
    char *environment;
    char *privilege;
    char *beneficiary_type;
    char *system;
    char *reason; /* forbidden rules: the message */
    int line;     /* where it stands in the configuration, for diagnostics */
};

struct tg_policy {
    int dryrun; /* policy.mode: dryrun */
    /* The action of every code, resolved at load time from the validator
     * actions, copy_forward.action and policy.actions (REASONS.md). */
    enum tg_action action[TG_CODE_COUNT];
    unsigned min_words;          /* default 6 */
    unsigned min_specific_words; /* default 3 */
    struct tg_wordset generic_words;
    struct tg_wordset wildcard_words;
    unsigned copy_max_reuse;   /* default 2 */
    unsigned copy_window_days; /* default 90 */
    unsigned max_days[3];      /* by tg_privilege: 180, 90, 30 */
    unsigned service_max_days; /* default 90 */
    unsigned emergency_max_hours; /* default 24 */
    struct tg_rule *routine;
    size_t n_routine;
    struct tg_rule *forbidden;
    size_t n_forbidden;
};

/* Fills p with the defaults of REASONS.md. Returns 0 or TG_ENOMEM. */
int tg_policy_init_defaults(struct tg_policy *p);
/* Frees everything p owns. */
void tg_policy_cleanup(struct tg_policy *p);

/* Builds a word set from n words (copied, lower-cased, sorted, deduplicated).
 * Returns 0 or TG_ENOMEM; ws is left untouched on failure. */
int tg_wordset_build(struct tg_wordset *ws, const char *const *words, size_t n);
void tg_wordset_cleanup(struct tg_wordset *ws);
/* 1 when the len bytes at w (already lower case) are in ws. */
int tg_wordset_has(const struct tg_wordset *ws, const char *w, size_t len);

/* read/write/admin, any case; anything else (and NULL) is admin (REASONS.md:
 * "counts as admin everywhere"). */
enum tg_privilege tg_privilege_of(const char *s);
const char *tg_privilege_name(enum tg_privilege p);
/* Strict parse for configuration: returns 0 or TG_EINVAL. */
int tg_privilege_parse(const char *s, enum tg_privilege *out);

#endif
