/* policy.c - the policy section: validators, actions, overrides, rules. */
#include "server/config/internal.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <yaml.h>

#include "validators/codes.h"
#include "validators/errors.h"
#include "validators/timeparse.h"

/* ---------------------------------------------------------------- policy */

/* What the policy section says about actions, resolved once it is read. */
struct actions {
    int vset[TG_V_COUNT];
    enum tg_action vact[TG_V_COUNT];
    int cfset;
    enum tg_action cfact;
    int ovset[TG_CODE_COUNT];
    enum tg_action ov[TG_CODE_COUNT];
};

/* REASONS.md: a validator's action applies to each of its codes, except
 * copy-forward (its own action, default warn) and the policy validator's
 * codes (no section of their own); policy.actions names codes directly. */
static void resolve_actions(const struct actions *a, struct tg_policy *p)
{
    for (size_t c = 0; c < TG_CODE_COUNT; c++) {
        const struct tg_code_info *ci = tg_code_info((enum tg_code)c);
        p->action[c] = ci->default_action;
        if (c == TG_JUSTIFICATION_COPY_FORWARD)
            p->action[c] = a->cfset ? a->cfact : TG_ACTION_WARN;
        else if (ci->validator != TG_V_POLICY && a->vset[ci->validator])
            p->action[c] = a->vact[ci->validator];
        if (a->ovset[c])
            p->action[c] = a->ov[c];
    }
}

static void validator_action(struct ld *L, yaml_node_t *n, const char *where,
                             enum tg_validator v, struct actions *a)
{
    char nm[NAME_CAP];
    if (tg_cfg_get_action(L, n,
                          tg_cfg_name_of(nm, sizeof(nm), "%s.action", where),
                          &a->vact[v]) == TG_OK)
        a->vset[v] = 1;
}

/* Replaces ws with the words of list n. */
static int parse_words(struct ld *L, const yaml_node_t *n, const char *name,
                       struct tg_wordset *ws)
{
    char **words = NULL;
    size_t nw = 0;
    struct tg_wordset tmp;
    int rc = tg_cfg_get_strlist(L, n, name, F_WORD, &words, &nw);

    if (rc == TG_OK) {
        if (tg_wordset_build(&tmp, (const char *const *)words, nw) != TG_OK) {
            rc = tg_cfg_nomem(L);
        } else {
            tg_wordset_cleanup(ws);
            *ws = tmp;
        }
    }
    tg_cfg_free_strs(words, nw);
    return rc;
}

static int parse_simple(struct ld *L, const yaml_node_t *n, const char *where,
                        enum tg_validator v, struct actions *a)
{
    static const char *const keys[] = {"action"};
    yaml_node_t *vals[COUNT(keys)];
    if (MAP_KEYS(L, n, where, keys, vals) == TG_OK && vals[0])
        validator_action(L, vals[0], where, v, a);
    return tg_cfg_status(L);
}

static int parse_copy_forward(struct ld *L, const yaml_node_t *n,
                              struct tg_policy *p, struct actions *a)
{
    static const char *const keys[] = {"action", "max_reuse", "window_days"};
    yaml_node_t *v[COUNT(keys)];
    const char *where = "policy.justification.copy_forward";

    if (MAP_KEYS(L, n, where, keys, v) != TG_OK)
        return tg_cfg_status(L);
    if (v[0] &&
        tg_cfg_get_action(L, v[0], "policy.justification.copy_forward.action",
                          &a->cfact) == TG_OK)
        a->cfset = 1;
    tg_cfg_get_uint(L, v[1], "policy.justification.copy_forward.max_reuse", 1,
                    1000000, &p->copy_max_reuse);
    tg_cfg_get_uint(L, v[2], "policy.justification.copy_forward.window_days", 1,
                    36500, &p->copy_window_days);
    return tg_cfg_status(L);
}

static int parse_justification(struct ld *L, const yaml_node_t *n,
                               struct tg_policy *p, struct actions *a)
{
    static const char *const keys[] = {"action", "min_words",
                                       "min_specific_words", "generic_words",
                                       "copy_forward"};
    enum { ACTION, MINW, MINSPEC, GENERIC, COPY };
    yaml_node_t *v[COUNT(keys)];

    if (MAP_KEYS(L, n, "policy.justification", keys, v) != TG_OK)
        return tg_cfg_status(L);
    if (v[ACTION])
        validator_action(L, v[ACTION], "policy.justification",
                         TG_V_JUSTIFICATION, a);
    tg_cfg_get_uint(L, v[MINW], "policy.justification.min_words", 0, 10000,
                    &p->min_words);
    tg_cfg_get_uint(L, v[MINSPEC], "policy.justification.min_specific_words", 0,
                    10000, &p->min_specific_words);
    if (v[GENERIC])
        parse_words(L, v[GENERIC], "policy.justification.generic_words",
                    &p->generic_words);
    if (v[COPY])
        parse_copy_forward(L, v[COPY], p, a);
    return tg_cfg_status(L);
}

static int parse_scope(struct ld *L, const yaml_node_t *n, struct tg_policy *p,
                       struct actions *a)
{
    static const char *const keys[] = {"action", "wildcard_words"};
    yaml_node_t *v[COUNT(keys)];

    if (MAP_KEYS(L, n, "policy.scope", keys, v) != TG_OK)
        return tg_cfg_status(L);
    if (v[0])
        validator_action(L, v[0], "policy.scope", TG_V_SCOPE, a);
    if (v[1])
        parse_words(L, v[1], "policy.scope.wildcard_words", &p->wildcard_words);
    return tg_cfg_status(L);
}

static int parse_expiry(struct ld *L, const yaml_node_t *n, struct tg_policy *p,
                        struct actions *a)
{
    static const char *const keys[] = {"action", "max_days", "service_max_days",
                                       "emergency_max_hours"};
    enum { ACTION, MAXDAYS, SERVICE, EMERGENCY };
    static const char *const tiers[] = {"read", "write", "admin"};
    yaml_node_t *v[COUNT(keys)], *t[COUNT(tiers)];
    char nm[NAME_CAP];

    if (MAP_KEYS(L, n, "policy.expiry", keys, v) != TG_OK)
        return tg_cfg_status(L);
    if (v[ACTION])
        validator_action(L, v[ACTION], "policy.expiry", TG_V_EXPIRY, a);
    if (v[MAXDAYS] &&
        MAP_KEYS(L, v[MAXDAYS], "policy.expiry.max_days", tiers, t) == TG_OK)
        for (size_t i = 0; i < COUNT(tiers); i++)
            tg_cfg_get_uint(L, t[i],
                            tg_cfg_name_of(nm, sizeof(nm),
                                           "policy.expiry.max_days.%s",
                                           tiers[i]),
                            1, 36500, &p->max_days[i]);
    tg_cfg_get_uint(L, v[SERVICE], "policy.expiry.service_max_days", 1, 36500,
                    &p->service_max_days);
    tg_cfg_get_uint(L, v[EMERGENCY], "policy.expiry.emergency_max_hours", 1,
                    8760, &p->emergency_max_hours);
    return tg_cfg_status(L);
}

static int parse_overrides(struct ld *L, const yaml_node_t *n,
                           struct actions *a)
{
    char nm[NAME_CAP], sh[SHOW_CAP];

    if (tg_cfg_is_null(n))
        return tg_cfg_status(L);
    if (n->type != YAML_MAPPING_NODE) {
        tg_cfg_problem(L, n,
                       "policy.actions is %s; write a mapping such as "
                       "{ OWNER_UNKNOWN: warn }",
                       tg_cfg_kind_name(n));
        return tg_cfg_status(L);
    }
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
         p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = tg_cfg_node_at(L, p->key),
                    *v = tg_cfg_node_at(L, p->value);
        char *code = NULL;
        enum tg_code c;
        enum tg_action act;
        if (!k || tg_cfg_get_str(L, k, "a key of policy.actions", F_REQ,
                                 &code) != TG_OK)
            continue;
        if (tg_code_parse(code, &c) != TG_OK) {
            tg_cfg_problem(L, k,
                           "policy.actions names '%s', which is no reason "
                           "code; use a code of REASONS.md in upper case, "
                           "such as OWNER_UNKNOWN",
                           tg_cfg_show(code, strlen(code), sh, sizeof(sh)));
        } else if (a->ovset[c]) {
            tg_cfg_problem(L, k, "policy.actions names %s twice; keep one",
                           code);
        } else if (tg_cfg_get_action(L, v,
                                     tg_cfg_name_of(nm, sizeof(nm),
                                                    "policy.actions.%s", code),
                                     &act) == TG_OK) {
            a->ov[c] = act;
            a->ovset[c] = 1;
        }
        free(code);
    }
    return tg_cfg_status(L);
}

static int parse_rules(struct ld *L, const yaml_node_t *n, const char *where,
                       int forbidden, struct tg_rule **out, size_t *nout)
{
    static const char *const keys[] = {"environment", "privilege",
                                       "beneficiary_type", "system", "reason"};
    enum { ENV, PRIV, BTYPE, SYSTEM, REASON };
    static const char *const btypes[] = {"human", "service", "shared"};
    size_t idx = 0;
    char nm[NAME_CAP], rw[NAME_CAP], sh[SHOW_CAP];

    if (!tg_cfg_want_list(L, n, where))
        return tg_cfg_status(L);
    *out = calloc(tg_cfg_seq_len(n) + 1, sizeof(**out));
    if (!*out)
        return tg_cfg_nomem(L);
    for (yaml_node_item_t *it = n->data.sequence.items.start;
         it < n->data.sequence.items.top && !L->oom; it++, idx++) {
        yaml_node_t *item = tg_cfg_node_at(L, *it);
        struct tg_rule *r = &(*out)[(*nout)++];
        yaml_node_t *v[COUNT(keys)];
        char *priv = NULL;
        int bt;

        r->line = tg_cfg_line_of(item);
        tg_cfg_name_of(rw, sizeof(rw), "%s[%zu]", where, idx);
        if (!item || MAP_KEYS(L, item, rw, keys, v) != TG_OK)
            continue;
        tg_cfg_get_str(L, v[ENV],
                       tg_cfg_name_of(nm, sizeof(nm), "%s.environment", rw),
                       F_REQ | F_LOWER, &r->environment);
        if (tg_cfg_get_str(L, v[PRIV],
                           tg_cfg_name_of(nm, sizeof(nm), "%s.privilege", rw),
                           F_REQ, &priv) == TG_OK) {
            enum tg_privilege pv;
            if (tg_privilege_parse(priv, &pv) != TG_OK)
                tg_cfg_problem(L, v[PRIV],
                               "%s is '%s'; write read, write or admin", nm,
                               tg_cfg_show(priv, strlen(priv), sh, sizeof(sh)));
            else if (!(r->privilege = strdup(tg_privilege_name(pv))))
                tg_cfg_nomem(L);
            free(priv);
        }
        if (tg_cfg_get_enum(
                L, v[BTYPE],
                tg_cfg_name_of(nm, sizeof(nm), "%s.beneficiary_type", rw),
                btypes, COUNT(btypes), &bt) == TG_OK &&
            !(r->beneficiary_type = strdup(btypes[bt])))
            tg_cfg_nomem(L);
        tg_cfg_get_str(L, v[SYSTEM],
                       tg_cfg_name_of(nm, sizeof(nm), "%s.system", rw), F_REQ,
                       &r->system);
        tg_cfg_get_str(L, v[REASON],
                       tg_cfg_name_of(nm, sizeof(nm), "%s.reason", rw), F_REQ,
                       &r->reason);
        if (!v[ENV] && !v[PRIV] && !v[BTYPE] && !v[SYSTEM])
            tg_cfg_problem(L, item,
                           "%s names none of environment, privilege, "
                           "beneficiary_type, system, so it would match "
                           "every ticket; add the keys it is about",
                           rw);
        if (forbidden && !v[REASON])
            tg_cfg_problem(L, item,
                           "%s has no reason; write the sentence the "
                           "service desk will see when it denies",
                           rw);
    }
    return tg_cfg_status(L);
}

int tg_cfg_parse_policy(struct ld *L, const yaml_node_t *n, struct tg_config *c)
{
    static const char *const keys[] = {
        "mode",       "owner",     "justification", "scope",   "expiry",
        "separation", "authority", "actions",       "routine", "forbidden",
        "shadow",     "exceptions", "breakglass", "approvals",
    };
    enum {
        MODE,
        OWNER,
        JUST,
        SCOPE,
        EXPIRY,
        SEP,
        AUTH,
        ACTIONS,
        ROUTINE,
        FORBIDDEN,
        SHADOW,
        EXCEPTIONS,
        BREAKGLASS,
        APPROVALS
    };
    static const char *const modes[] = {"enforce", "dryrun"};
    yaml_node_t *v[COUNT(keys)];
    struct tg_policy *p = &c->policy;
    struct actions a = {0};
    int mode;

    if (MAP_KEYS(L, n, "policy", keys, v) != TG_OK)
        return tg_cfg_status(L);
    if (tg_cfg_get_enum(L, v[MODE], "policy.mode", modes, COUNT(modes),
                        &mode) == TG_OK)
        p->dryrun = mode == 1;
    if (v[OWNER])
        parse_simple(L, v[OWNER], "policy.owner", TG_V_OWNER, &a);
    if (v[JUST])
        parse_justification(L, v[JUST], p, &a);
    if (v[SCOPE])
        parse_scope(L, v[SCOPE], p, &a);
    if (v[EXPIRY])
        parse_expiry(L, v[EXPIRY], p, &a);
    if (v[BREAKGLASS])
        tg_cfg_parse_breakglass(L, v[BREAKGLASS], c);
    if (v[APPROVALS])
        tg_cfg_parse_approvals(L, v[APPROVALS], c);
    if (v[SEP])
        parse_simple(L, v[SEP], "policy.separation", TG_V_SEPARATION, &a);
    if (v[AUTH])
        parse_simple(L, v[AUTH], "policy.authority", TG_V_AUTHORITY, &a);
    if (v[ACTIONS])
        parse_overrides(L, v[ACTIONS], &a);
    if (v[ROUTINE])
        parse_rules(L, v[ROUTINE], "policy.routine", 0, &p->routine,
                    &p->n_routine);
    if (v[FORBIDDEN])
        parse_rules(L, v[FORBIDDEN], "policy.forbidden", 1, &p->forbidden,
                    &p->n_forbidden);
    /* A candidate configuration evaluated beside this one (issue 13): only
     * its path here; the server loads it, so that a candidate that does not
     * load never keeps the live policy from loading. */
    if (v[SHADOW])
        tg_cfg_get_path(L, v[SHADOW], "policy.shadow", &c->shadow_path);
    /* Accepted risks (issue 13): until is judged against the clock of the
     * load, so a configuration that loads keeps loading. */
    if (v[EXCEPTIONS])
        tg_cfg_parse_exceptions(L, v[EXCEPTIONS], c, (int64_t)time(NULL));
    resolve_actions(&a, p);
    return tg_cfg_status(L);
}
