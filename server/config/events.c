/* events.c - sources.events and events.mappings (issue 14, events in). */
#include "server/config/internal.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <yaml.h>

#include "validators/errors.h"

/* The foreign key of each mapping kind, in enum tg_event_foreign order. */
static const char *const foreign_keys[TG_EVMAP_COUNT] = {
    "okta_group",     "okta_app",           "aws_group",
    "aws_policy_arn", "aws_permission_set", "scim_group",
};

const char *tg_config_event_kind_name(enum tg_event_foreign k)
{
    return (unsigned)k < TG_EVMAP_COUNT ? foreign_keys[k] : "?";
}

int tg_cfg_parse_events_source(struct ld *L, const yaml_node_t *n,
                               struct tg_config *c)
{
    static const char *const keys[] = {"jwt", "hmac_secret"};
    enum { JWT, HMAC };
    yaml_node_t *v[COUNT(keys)];
    struct tg_events_conf *e = &c->events;

    e->set = 1;
    if (MAP_KEYS(L, n, "sources.events", keys, v) != TG_OK)
        return tg_cfg_status(L);
    /* The same settings, checks and verifier as sources.generic.jwt. */
    if (v[JWT])
        tg_cfg_parse_jwt(L, v[JWT], "sources.events.jwt", &e->jwt);
    tg_cfg_get_str(L, v[HMAC], "sources.events.hmac_secret", F_SECRET,
                   &e->hmac_secret);
    if (!v[JWT] && !v[HMAC])
        tg_cfg_problem(L, n,
                       "sources.events has no credential; set jwt (Bearer "
                       "tokens, as sources.generic) or hmac_secret "
                       "(X-Hub-Signature, as sources.jira)");
    return tg_cfg_status(L);
}

/* Which foreign key the mapping item names (v: its values in keys order,
 * the foreign keys first), or -1 after saying what is wrong. */
static int mapping_kind(struct ld *L, const yaml_node_t *item,
                        const char *where, yaml_node_t *const *v)
{
    int kind = -1;

    for (int k = 0; k < TG_EVMAP_COUNT; k++) {
        if (!v[k])
            continue;
        if (kind >= 0) {
            tg_cfg_problem(L, v[k],
                           "%s names both %s and %s; one mapping maps one "
                           "foreign id: split it in two",
                           where, foreign_keys[kind], foreign_keys[k]);
            return -1;
        }
        kind = k;
    }
    if (kind < 0)
        tg_cfg_problem(L, item,
                       "%s names no foreign id; write one of okta_group, "
                       "okta_app, aws_group, aws_policy_arn, "
                       "aws_permission_set or scim_group",
                       where);
    return kind;
}

static int is_aws(enum tg_event_foreign k)
{
    return k == TG_EVMAP_AWS_GROUP || k == TG_EVMAP_AWS_POLICY_ARN ||
           k == TG_EVMAP_AWS_PERMISSION_SET;
}

/* 1 when a and b match the same events (same kind, id and account). IAM
 * group names are unique without regard to case; other ids are exact. */
static int same_target(const struct tg_event_mapping *a,
                       const struct tg_event_mapping *b)
{
    int same_id = a->kind == TG_EVMAP_AWS_GROUP
                      ? strcasecmp(a->foreign, b->foreign) == 0
                      : strcmp(a->foreign, b->foreign) == 0;
    if (a->kind != b->kind || !same_id)
        return 0;
    if (!a->account || !b->account)
        return !a->account && !b->account;
    return strcmp(a->account, b->account) == 0;
}

/* The keys of a mapping: the foreign keys first, in enum order
 * (mapping_kind reads them). */
static const char *const mapping_keys[] = {
    "okta_group",         "okta_app",   "aws_group", "aws_policy_arn",
    "aws_permission_set", "scim_group", "system",    "entitlement",
    "environment",        "account",
};
enum { SYSTEM = TG_EVMAP_COUNT, ENTITLEMENT, ENVIRONMENT, ACCOUNT };

/* What mapping m (node item, its values v) maps to: system, entitlement,
 * environment and (AWS only) account. */
static void parse_target(struct ld *L, const yaml_node_t *item,
                         const char *where, yaml_node_t *const *v,
                         struct tg_event_mapping *m)
{
    char nm[NAME_CAP];

    if (!v[SYSTEM] || !v[ENTITLEMENT])
        tg_cfg_problem(L, item,
                       "%s needs system and entitlement: the directory "
                       "system and the entitlement that %s stands for",
                       where, foreign_keys[m->kind]);
    tg_cfg_get_str(L, v[SYSTEM],
                   tg_cfg_name_of(nm, sizeof(nm), "%s.system", where), F_REQ,
                   &m->system);
    tg_cfg_get_str(L, v[ENTITLEMENT],
                   tg_cfg_name_of(nm, sizeof(nm), "%s.entitlement", where),
                   F_REQ, &m->entitlement);
    tg_cfg_get_str(L, v[ENVIRONMENT],
                   tg_cfg_name_of(nm, sizeof(nm), "%s.environment", where),
                   F_REQ, &m->environment);
    if (v[ACCOUNT] && !is_aws(m->kind))
        tg_cfg_problem(L, v[ACCOUNT],
                       "%s.account only narrows AWS mappings (aws_group, "
                       "aws_policy_arn, aws_permission_set); remove it",
                       where);
    else
        tg_cfg_get_str(L, v[ACCOUNT],
                       tg_cfg_name_of(nm, sizeof(nm), "%s.account", where),
                       F_REQ, &m->account);
}

/* Says so when m, the last of e's mappings, maps a foreign id that an
 * earlier one maps already. */
static void check_repeated(struct ld *L, const yaml_node_t *item,
                           const char *where, const struct tg_events_conf *e,
                           const struct tg_event_mapping *m)
{
    char nm[NAME_CAP];

    for (size_t j = 0; j + 1 < e->n_mappings; j++)
        if (e->mappings[j].foreign && same_target(&e->mappings[j], m)) {
            tg_cfg_problem(
                L, item,
                "%s maps %s %s again (first at line %d); one "
                "foreign id maps to one entitlement: remove "
                "one",
                where, foreign_keys[m->kind],
                tg_cfg_show(m->foreign, strlen(m->foreign), nm, SHOW_CAP),
                e->mappings[j].line);
            break;
        }
}

/* Mapping item (events.mappings[idx]) appended to e's. */
static void parse_mapping(struct ld *L, yaml_node_t *item, size_t idx,
                          struct tg_events_conf *e)
{
    yaml_node_t *v[COUNT(mapping_keys)];
    struct tg_event_mapping *m = &e->mappings[e->n_mappings];
    char nm[NAME_CAP], where[NAME_CAP];
    int kind;

    tg_cfg_name_of(where, sizeof(where), "events.mappings[%zu]", idx);
    if (!item || MAP_KEYS(L, item, where, mapping_keys, v) != TG_OK)
        return;
    if ((kind = mapping_kind(L, item, where, v)) < 0)
        return;
    m->kind = (enum tg_event_foreign)kind;
    m->line = tg_cfg_line_of(item);
    /* Counted from here on, so that cleanup sees every string set. */
    e->n_mappings++;
    tg_cfg_get_str(
        L, v[kind],
        tg_cfg_name_of(nm, sizeof(nm), "%s.%s", where, foreign_keys[kind]),
        F_REQ, &m->foreign);
    parse_target(L, item, where, v, m);
    if (m->foreign)
        check_repeated(L, item, where, e, m);
}

int tg_cfg_parse_events(struct ld *L, const yaml_node_t *n, struct tg_config *c)
{
    static const char *const top[] = {"mappings"};
    struct tg_events_conf *e = &c->events;
    yaml_node_t *t[COUNT(top)], *list;
    size_t idx = 0;

    if (MAP_KEYS(L, n, "events", top, t) != TG_OK || !t[0])
        return tg_cfg_status(L);
    list = t[0];
    if (!tg_cfg_want_list(L, list, "events.mappings"))
        return tg_cfg_status(L);
    e->mappings = calloc(tg_cfg_seq_len(list) + 1, sizeof(*e->mappings));
    if (!e->mappings)
        return tg_cfg_nomem(L);
    for (yaml_node_item_t *it = list->data.sequence.items.start;
         it < list->data.sequence.items.top && !L->oom; it++, idx++)
        parse_mapping(L, tg_cfg_node_at(L, *it), idx, e);
    return tg_cfg_status(L);
}

void tg_cfg_check_events(struct ld *L, struct tg_config *c)
{
    const struct tg_directory *d = &c->directory;
    char sh[SHOW_CAP];

    c->events.jwt.max_lifetime_s = c->server.max_token_lifetime_s;
    /* Without a directory file there are no systems to check against. */
    if (!c->directory_path)
        return;
    for (size_t i = 0; i < c->events.n_mappings; i++) {
        const struct tg_event_mapping *m = &c->events.mappings[i];
        if (m->system &&
            tg_directory_system(d, m->system, strlen(m->system)) < 0)
            tg_cfg_problem_at(
                L, m->line,
                "events.mappings[%zu].system '%s' is not a "
                "system of the directory; add it there or fix "
                "the name",
                i, tg_cfg_show(m->system, strlen(m->system), sh, sizeof(sh)));
    }
}

void tg_cfg_free_events(struct tg_events_conf *e)
{
    if (e->jwt.key)
        OPENSSL_cleanse(e->jwt.key, e->jwt.key_len);
    free(e->jwt.key);
    free(e->jwt.issuer);
    free(e->jwt.audience);
    tg_cfg_free_secret(e->hmac_secret);
    for (size_t i = 0; i < e->n_mappings; i++) {
        struct tg_event_mapping *m = &e->mappings[i];
        free(m->foreign);
        free(m->account);
        free(m->system);
        free(m->entitlement);
        free(m->environment);
    }
    free(e->mappings);
}
