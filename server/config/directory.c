/* directory.c - the directory file: people, groups, systems, delegations. */
#include "server/config/internal.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <yaml.h>

#include "validators/codes.h"
#include "validators/errors.h"
#include "validators/timeparse.h"

/* ------------------------------------------------------- directory file */

/* Where each entry of the directory stands, for messages after indexing. */
struct dsrc {
    int *person_line;
    yaml_node_t **person_aliases;
    int *group_line;
    yaml_node_t **group_members;
    int *system_line;
    yaml_node_t **system_owners;
    yaml_node_t **system_approvers;
};

static void dsrc_free(struct dsrc *s)
{
    free(s->person_line);
    free(s->person_aliases);
    free(s->group_line);
    free(s->group_members);
    free(s->system_line);
    free(s->system_owners);
    free(s->system_approvers);
}

static int parse_people(struct ld *L, const yaml_node_t *n,
                        struct tg_directory *d, struct dsrc *s)
{
    static const char *const keys[] = {"id", "name", "aliases", "type",
                                       "status"};
    enum { ID, NAME, ALIASES, TYPE, STATUS };
    static const char *const types[] = {"human", "shared", "service"};
    static const char *const states[] = {"active", "inactive"};
    size_t idx = 0;
    char nm[NAME_CAP], where[NAME_CAP];

    if (!tg_cfg_want_list(L, n, "people"))
        return tg_cfg_status(L);
    d->people = calloc(tg_cfg_seq_len(n) + 1, sizeof(*d->people));
    s->person_line = calloc(tg_cfg_seq_len(n) + 1, sizeof(*s->person_line));
    s->person_aliases =
        calloc(tg_cfg_seq_len(n) + 1, sizeof(*s->person_aliases));
    if (!d->people || !s->person_line || !s->person_aliases)
        return tg_cfg_nomem(L);
    for (yaml_node_item_t *it = n->data.sequence.items.start;
         it < n->data.sequence.items.top && !L->oom; it++, idx++) {
        yaml_node_t *item = tg_cfg_node_at(L, *it);
        yaml_node_t *v[COUNT(keys)];
        struct tg_person *p = &d->people[d->n_people];
        int t;

        tg_cfg_name_of(where, sizeof(where), "people[%zu]", idx);
        if (!item || MAP_KEYS(L, item, where, keys, v) != TG_OK)
            continue;
        if (!v[ID]) {
            tg_cfg_problem(L, item,
                           "%s has no id; give every person a unique id "
                           "(e.g. the e-mail address)",
                           where);
            continue;
        }
        if (tg_cfg_get_str(L, v[ID],
                           tg_cfg_name_of(nm, sizeof(nm), "%s.id", where),
                           F_REQ, &p->id) != TG_OK)
            continue;
        /* Only now is the entry counted, so cleanup sees whole entries. */
        s->person_line[d->n_people] = tg_cfg_line_of(item);
        s->person_aliases[d->n_people++] = v[ALIASES];
        tg_cfg_get_str(L, v[NAME],
                       tg_cfg_name_of(nm, sizeof(nm), "%s.name", where), 0,
                       &p->name);
        tg_cfg_get_strlist(L, v[ALIASES],
                           tg_cfg_name_of(nm, sizeof(nm), "%s.aliases", where),
                           0, &p->aliases, &p->n_aliases);
        if (tg_cfg_get_enum(L, v[TYPE],
                            tg_cfg_name_of(nm, sizeof(nm), "%s.type", where),
                            types, COUNT(types), &t) == TG_OK)
            p->type = t == 0   ? TG_TYPE_HUMAN
                      : t == 1 ? TG_TYPE_SHARED
                               : TG_TYPE_SERVICE;
        if (tg_cfg_get_enum(L, v[STATUS],
                            tg_cfg_name_of(nm, sizeof(nm), "%s.status", where),
                            states, COUNT(states), &t) == TG_OK)
            p->inactive = t == 1;
    }
    return tg_cfg_status(L);
}

static int parse_group_ids(struct ld *L, const yaml_node_t *n,
                           struct tg_directory *d, struct dsrc *s)
{
    static const char *const keys[] = {"id", "members"};
    size_t idx = 0, cnt;
    char nm[NAME_CAP], where[NAME_CAP];

    if (!tg_cfg_want_list(L, n, "groups"))
        return tg_cfg_status(L);
    cnt = tg_cfg_seq_len(n) + 1;
    d->groups = calloc(cnt, sizeof(*d->groups));
    s->group_line = calloc(cnt, sizeof(*s->group_line));
    s->group_members = calloc(cnt, sizeof(*s->group_members));
    if (!d->groups || !s->group_line || !s->group_members)
        return tg_cfg_nomem(L);
    for (yaml_node_item_t *it = n->data.sequence.items.start;
         it < n->data.sequence.items.top && !L->oom; it++, idx++) {
        yaml_node_t *item = tg_cfg_node_at(L, *it);
        yaml_node_t *v[COUNT(keys)];
        struct tg_group *g = &d->groups[d->n_groups];

        tg_cfg_name_of(where, sizeof(where), "groups[%zu]", idx);
        if (!item || MAP_KEYS(L, item, where, keys, v) != TG_OK)
            continue;
        if (!v[0]) {
            tg_cfg_problem(L, item,
                           "%s has no id; give every group a unique id", where);
            continue;
        }
        if (tg_cfg_get_str(L, v[0],
                           tg_cfg_name_of(nm, sizeof(nm), "%s.id", where),
                           F_REQ, &g->id) != TG_OK)
            continue;
        s->group_line[d->n_groups] = tg_cfg_line_of(item);
        s->group_members[d->n_groups] = v[1];
        d->n_groups++;
    }
    return tg_cfg_status(L);
}

static int parse_system_ids(struct ld *L, const yaml_node_t *n,
                            struct tg_directory *d, struct dsrc *s)
{
    static const char *const keys[] = {"id", "owners", "approvers"};
    size_t idx = 0, cnt;
    char nm[NAME_CAP], where[NAME_CAP];

    if (!tg_cfg_want_list(L, n, "systems"))
        return tg_cfg_status(L);
    cnt = tg_cfg_seq_len(n) + 1;
    d->systems = calloc(cnt, sizeof(*d->systems));
    s->system_line = calloc(cnt, sizeof(*s->system_line));
    s->system_owners = calloc(cnt, sizeof(*s->system_owners));
    s->system_approvers = calloc(cnt, sizeof(*s->system_approvers));
    if (!d->systems || !s->system_line || !s->system_owners ||
        !s->system_approvers)
        return tg_cfg_nomem(L);
    for (yaml_node_item_t *it = n->data.sequence.items.start;
         it < n->data.sequence.items.top && !L->oom; it++, idx++) {
        yaml_node_t *item = tg_cfg_node_at(L, *it);
        yaml_node_t *v[COUNT(keys)];
        struct tg_system *sy = &d->systems[d->n_systems];

        tg_cfg_name_of(where, sizeof(where), "systems[%zu]", idx);
        if (!item || MAP_KEYS(L, item, where, keys, v) != TG_OK)
            continue;
        if (!v[0]) {
            tg_cfg_problem(
                L, item, "%s has no id; give every system a unique id", where);
            continue;
        }
        if (tg_cfg_get_str(L, v[0],
                           tg_cfg_name_of(nm, sizeof(nm), "%s.id", where),
                           F_REQ, &sy->id) != TG_OK)
            continue;
        s->system_line[d->n_systems] = tg_cfg_line_of(item);
        s->system_owners[d->n_systems] = v[1];
        s->system_approvers[d->n_systems] = v[2];
        d->n_systems++;
    }
    return tg_cfg_status(L);
}

/* One normalised name and the entry it names, to find names given twice. */
struct dname {
    char *key;
    int line;
    int kind; /* 0 person, 1 group, 2 system */
    size_t idx;
};

static int dname_cmp(const void *a, const void *b)
{
    const struct dname *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    if (c)
        return c;
    return x->line < y->line ? -1 : x->line > y->line;
}

static int dname_add(struct ld *L, struct dname *v, size_t *n, const char *s,
                     int line, int kind, size_t idx)
{
    size_t len = strlen(s);
    char *k = malloc(len + 1);
    if (!k)
        return tg_cfg_nomem(L);
    if (tg_ident_normalise(s, len, k, len + 1) < 0) {
        free(k);
        return tg_cfg_nomem(L);
    }
    v[*n].key = k;
    v[*n].line = line;
    v[*n].kind = kind;
    v[*n].idx = idx;
    (*n)++;
    return TG_OK;
}

static const char *entry_id(const struct tg_directory *d, const struct dname *e)
{
    return e->kind == 0   ? d->people[e->idx].id
           : e->kind == 1 ? d->groups[e->idx].id
                          : d->systems[e->idx].id;
}

static const char *const kind_names[] = {"person", "group", "system"};

/* The line of alias a in list n (an alias names its own line in messages),
 * else fallback. */
static int alias_line(const struct ld *L, const yaml_node_t *n, const char *a,
                      int fallback)
{
    if (!n || n->type != YAML_SEQUENCE_NODE)
        return fallback;
    for (yaml_node_item_t *it = n->data.sequence.items.start;
         it < n->data.sequence.items.top; it++) {
        const yaml_node_t *x = tg_cfg_node_at(L, *it);
        if (x && x->type == YAML_SCALAR_NODE &&
            x->data.scalar.length == strlen(a) &&
            memcmp(x->data.scalar.value, a, x->data.scalar.length) == 0)
            return tg_cfg_line_of(x);
    }
    return fallback;
}

/*
 * An id or alias that names two entries makes identities ambiguous: the
 * index would silently keep the first. Display names may repeat (people
 * share names); the index puts them last.
 */
static int check_names(struct ld *L, const struct tg_directory *d,
                       const struct dsrc *s)
{
    size_t cap = d->n_groups + d->n_systems + 1, n = 0;
    struct dname *v;
    char sh[SHOW_CAP];
    int rc = TG_OK;

    for (size_t i = 0; i < d->n_people; i++)
        cap += 1 + d->people[i].n_aliases;
    v = calloc(cap, sizeof(*v));
    if (!v)
        return tg_cfg_nomem(L);
    for (size_t i = 0; i < d->n_people && rc == TG_OK; i++) {
        const struct tg_person *p = &d->people[i];
        rc = dname_add(L, v, &n, p->id, s->person_line[i], 0, i);
        for (size_t j = 0; j < p->n_aliases && rc == TG_OK; j++)
            rc = dname_add(L, v, &n, p->aliases[j],
                           alias_line(L, s->person_aliases[i], p->aliases[j],
                                      s->person_line[i]),
                           0, i);
    }
    for (size_t i = 0; i < d->n_groups && rc == TG_OK; i++)
        rc = dname_add(L, v, &n, d->groups[i].id, s->group_line[i], 1, i);
    if (rc != TG_OK)
        goto out;
    qsort(v, n, sizeof(*v), dname_cmp);
    for (size_t i = 1; i < n; i++) {
        const struct dname *a = &v[i - 1], *b = &v[i];
        if (strcmp(a->key, b->key) != 0 ||
            (a->kind == b->kind && a->idx == b->idx))
            continue;
        tg_cfg_problem_at(L, b->line,
                          "'%s' names both %s %s (line %d) and %s %s; an id or "
                          "alias must name one entry: remove or rename one",
                          tg_cfg_show(b->key, strlen(b->key), sh, sizeof(sh)),
                          kind_names[a->kind], entry_id(d, a), a->line,
                          kind_names[b->kind], entry_id(d, b));
    }
    /* Systems have their own index. */
    for (size_t i = 0; i < n; i++)
        free(v[i].key);
    n = 0;
    for (size_t i = 0; i < d->n_systems && rc == TG_OK; i++)
        rc = dname_add(L, v, &n, d->systems[i].id, s->system_line[i], 2, i);
    if (rc != TG_OK)
        goto out;
    qsort(v, n, sizeof(*v), dname_cmp);
    for (size_t i = 1; i < n; i++)
        if (strcmp(v[i - 1].key, v[i].key) == 0)
            tg_cfg_problem_at(
                L, v[i].line,
                "system %s is listed twice (first at line %d); merge "
                "the two entries",
                d->systems[v[i].idx].id, v[i - 1].line);
out:
    for (size_t i = 0; i < n; i++)
        free(v[i].key);
    free(v);
    return tg_cfg_status(L);
}

/*
 * Resolves scalar n to a directory entry of kind want. Reports a value that
 * names nothing, or the wrong kind of entry. Returns TG_OK and *idx, or
 * TG_EINVAL / TG_ENOMEM.
 */
static int ref(struct ld *L, const struct tg_directory *d, const yaml_node_t *n,
               const char *name, enum tg_entity_kind want, size_t *idx)
{
    char *v = NULL;
    char sh[SHOW_CAP];
    struct tg_entity e;
    int rc;

    if ((rc = tg_cfg_get_str(L, n, name, F_REQ, &v)) != TG_OK)
        return rc == TG_ENOTFOUND ? TG_EINVAL : rc;
    e = tg_directory_resolve(d, v, strlen(v));
    tg_cfg_show(v, strlen(v), sh, sizeof(sh));
    free(v);
    if (e.kind == TG_ENT_NONE) {
        tg_cfg_problem(L, n,
                       "%s '%s' is in no people or groups entry; add it to "
                       "the directory or fix the name",
                       name, sh);
        return TG_EINVAL;
    }
    if (e.kind != want) {
        tg_cfg_problem(L, n, "%s '%s' is a %s; name a %s", name, sh,
                       e.kind == TG_ENT_GROUP ? "group" : "person",
                       want == TG_ENT_GROUP ? "group" : "person");
        return TG_EINVAL;
    }
    *idx = e.idx;
    return TG_OK;
}

/* Direct membership of each group, before flattening. */
struct gdirect {
    size_t *people, np;
    size_t *groups, ng;
    int *group_line; /* where each sub-group membership is written */
};

static int read_members(struct ld *L, const struct tg_directory *d,
                        const struct dsrc *s, struct gdirect *gd)
{
    char nm[NAME_CAP];

    for (size_t g = 0; g < d->n_groups && !L->oom; g++) {
        const yaml_node_t *m = s->group_members[g];
        size_t cnt, idx = 0;
        tg_cfg_name_of(nm, sizeof(nm), "members of group %s", d->groups[g].id);
        if (!m || !tg_cfg_want_list(L, m, nm))
            continue;
        cnt = tg_cfg_seq_len(m) + 1;
        gd[g].people = calloc(cnt, sizeof(size_t));
        gd[g].groups = calloc(cnt, sizeof(size_t));
        gd[g].group_line = calloc(cnt, sizeof(int));
        if (!gd[g].people || !gd[g].groups || !gd[g].group_line)
            return tg_cfg_nomem(L);
        for (yaml_node_item_t *it = m->data.sequence.items.start;
             it < m->data.sequence.items.top; it++, idx++) {
            yaml_node_t *item = tg_cfg_node_at(L, *it);
            char *v = NULL;
            char sh[SHOW_CAP];
            struct tg_entity e;
            int rc;
            tg_cfg_name_of(nm, sizeof(nm), "groups.%s.members[%zu]",
                           d->groups[g].id, idx);
            if ((rc = tg_cfg_get_str(L, item, nm, F_REQ, &v)) != TG_OK) {
                if (rc == TG_ENOMEM)
                    return rc;
                continue;
            }
            e = tg_directory_resolve(d, v, strlen(v));
            if (e.kind == TG_ENT_PERSON)
                gd[g].people[gd[g].np++] = e.idx;
            else if (e.kind == TG_ENT_GROUP) {
                gd[g].group_line[gd[g].ng] = tg_cfg_line_of(item);
                gd[g].groups[gd[g].ng++] = e.idx;
            } else
                tg_cfg_problem(L, item,
                               "group %s: member '%s' is in no people or "
                               "groups entry; add it or fix the name",
                               d->groups[g].id,
                               tg_cfg_show(v, strlen(v), sh, sizeof(sh)));
            free(v);
        }
    }
    return tg_cfg_status(L);
}

/* Reports the cycle stack[k..top) -> stack[k] at line. */
static void cycle_problem(struct ld *L, const struct tg_directory *d,
                          const size_t *stack, size_t k, size_t top, int line)
{
    struct tg_strbuf b = TG_STRBUF_INIT(4096);
    size_t shown = 0;
    int err = 0;

    for (size_t i = k; i < top; i++) {
        const char *id = d->groups[stack[i]].id;
        if (shown++ == CYCLE_SHOW) {
            tg_cfg_put(&b, &err, "... -> ", 7);
            break;
        }
        tg_cfg_put(&b, &err, id, strlen(id));
        tg_cfg_put(&b, &err, " -> ", 4);
    }
    tg_cfg_put(&b, &err, d->groups[stack[k]].id,
               strlen(d->groups[stack[k]].id));
    if (err == TG_ENOMEM) {
        tg_cfg_nomem(L);
    } else {
        tg_cfg_problem_at(L, line,
                          "groups %s form a cycle; remove one of these "
                          "memberships",
                          b.p ? b.p : "");
    }
    tg_strbuf_cleanup(&b);
}

/* Every sub-group of group g (direct membership gd) is done: g's people
 * become its own plus theirs, each once (seen[p] == g once p is taken).
 * Returns TG_OK or TG_ENOMEM (reported). */
static int merge_members(struct ld *L, struct tg_directory *d,
                         const struct gdirect *gd, size_t g, size_t *seen)
{
    size_t cap = gd->np, n = 0;
    size_t *m;

    for (size_t j = 0; j < gd->ng; j++)
        if (gd->groups[j] != SIZE_MAX)
            cap += d->groups[gd->groups[j]].n_members;
    m = malloc((cap + 1) * sizeof(size_t));
    if (!m)
        return tg_cfg_nomem(L);
    for (size_t j = 0; j < gd->np; j++) {
        size_t p = gd->people[j];
        if (seen[p] != g) {
            seen[p] = g;
            m[n++] = p;
        }
    }
    for (size_t j = 0; j < gd->ng; j++) {
        const struct tg_group *sub;
        if (gd->groups[j] == SIZE_MAX)
            continue;
        sub = &d->groups[gd->groups[j]];
        for (size_t q = 0; q < sub->n_members; q++) {
            size_t p = sub->members[q];
            if (seen[p] != g) {
                seen[p] = g;
                m[n++] = p;
            }
        }
    }
    free(d->groups[g].members);
    d->groups[g].members = m;
    d->groups[g].n_members = n;
    return TG_OK;
}

/*
 * Flattens nested groups into person indexes: a depth-first walk (with an
 * explicit stack, so a long chain of groups cannot exhaust the C stack) that
 * reports each cycle it closes and skips that membership.
 */
static int flatten_groups(struct ld *L, struct tg_directory *d,
                          struct gdirect *gd)
{
    enum { WHITE, GRAY, BLACK };
    size_t ng = d->n_groups, np = d->n_people;
    unsigned char *color = calloc(ng + 1, 1);
    size_t *stack = calloc(ng + 1, sizeof(size_t));
    size_t *next = calloc(ng + 1, sizeof(size_t));
    size_t *seen = malloc((np + 1) * sizeof(size_t));
    int rc = TG_OK;

    if (!color || !stack || !next || !seen) {
        rc = tg_cfg_nomem(L);
        goto out;
    }
    for (size_t i = 0; i < np; i++)
        seen[i] = SIZE_MAX;
    for (size_t root = 0; root < ng; root++) {
        size_t sp = 0;
        if (color[root] != WHITE)
            continue;
        color[root] = GRAY;
        stack[sp] = root;
        next[sp++] = 0;
        while (sp > 0) {
            size_t g = stack[sp - 1];
            if (next[sp - 1] < gd[g].ng) {
                size_t j = next[sp - 1]++, c = gd[g].groups[j];
                if (color[c] == GRAY) {
                    size_t k = 0;
                    while (stack[k] != c)
                        k++;
                    cycle_problem(L, d, stack, k, sp, gd[g].group_line[j]);
                    /* Not followed: the walk must end. */
                    gd[g].groups[j] = SIZE_MAX;
                } else if (color[c] == WHITE) {
                    color[c] = GRAY;
                    stack[sp] = c;
                    next[sp++] = 0;
                }
                continue;
            }
            if ((rc = merge_members(L, d, &gd[g], g, seen)) != TG_OK)
                goto out;
            color[g] = BLACK;
            sp--;
        }
    }
out:
    free(color);
    free(stack);
    free(next);
    free(seen);
    return rc;
}

static int parse_groups_members(struct ld *L, struct tg_directory *d,
                                const struct dsrc *s)
{
    struct gdirect *gd = calloc(d->n_groups + 1, sizeof(*gd));

    if (!gd)
        return tg_cfg_nomem(L);
    if (read_members(L, d, s, gd) == TG_OK)
        flatten_groups(L, d, gd);
    for (size_t g = 0; g < d->n_groups; g++) {
        free(gd[g].people);
        free(gd[g].groups);
        free(gd[g].group_line);
    }
    free(gd);
    return tg_cfg_status(L);
}

static int parse_approvers(struct ld *L, struct tg_directory *d,
                           struct tg_system *sy, const yaml_node_t *n)
{
    static const char *const keys[] = {"person", "group", "max_privilege"};
    enum { PERSON, GROUP, MAXPRIV };
    size_t idx = 0;
    char nm[NAME_CAP], where[NAME_CAP], sh[SHOW_CAP];

    tg_cfg_name_of(where, sizeof(where), "approvers of system %s", sy->id);
    if (!tg_cfg_want_list(L, n, where))
        return tg_cfg_status(L);
    sy->approvers = calloc(tg_cfg_seq_len(n) + 1, sizeof(*sy->approvers));
    if (!sy->approvers)
        return tg_cfg_nomem(L);
    for (yaml_node_item_t *it = n->data.sequence.items.start;
         it < n->data.sequence.items.top && !L->oom; it++, idx++) {
        yaml_node_t *item = tg_cfg_node_at(L, *it);
        yaml_node_t *v[COUNT(keys)];
        struct tg_sys_approver a;
        char *priv = NULL;
        int ok = 1;

        tg_cfg_name_of(where, sizeof(where), "systems.%s.approvers[%zu]",
                       sy->id, idx);
        if (!item || MAP_KEYS(L, item, where, keys, v) != TG_OK)
            continue;
        memset(&a, 0, sizeof(a));
        if ((v[PERSON] != NULL) == (v[GROUP] != NULL)) {
            tg_cfg_problem(L, item,
                           "%s must name exactly one of person or group; "
                           "write one approver per entry",
                           where);
            ok = 0;
        } else if (v[PERSON]) {
            ok = ref(L, d, v[PERSON],
                     tg_cfg_name_of(nm, sizeof(nm), "%s.person", where),
                     TG_ENT_PERSON, &a.idx) == TG_OK;
        } else {
            a.is_group = 1;
            ok = ref(L, d, v[GROUP],
                     tg_cfg_name_of(nm, sizeof(nm), "%s.group", where),
                     TG_ENT_GROUP, &a.idx) == TG_OK;
        }
        if (!v[MAXPRIV]) {
            tg_cfg_problem(L, item,
                           "%s has no max_privilege; write read, write or "
                           "admin",
                           where);
            ok = 0;
        } else if (tg_cfg_get_str(L, v[MAXPRIV],
                                  tg_cfg_name_of(nm, sizeof(nm),
                                                 "%s.max_privilege", where),
                                  F_REQ, &priv) == TG_OK) {
            if (tg_privilege_parse(priv, &a.max_privilege) != TG_OK) {
                tg_cfg_problem(L, v[MAXPRIV],
                               "%s is '%s'; write read, write or "
                               "admin",
                               nm,
                               tg_cfg_show(priv, strlen(priv), sh, sizeof(sh)));
                ok = 0;
            }
            free(priv);
        } else {
            ok = 0;
        }
        if (ok)
            sy->approvers[sy->n_approvers++] = a;
    }
    return tg_cfg_status(L);
}

static int parse_systems_refs(struct ld *L, struct tg_directory *d,
                              const struct dsrc *s)
{
    char nm[NAME_CAP];

    for (size_t i = 0; i < d->n_systems && !L->oom; i++) {
        struct tg_system *sy = &d->systems[i];
        const yaml_node_t *o = s->system_owners[i];
        size_t idx = 0;

        if (o &&
            tg_cfg_want_list(L, o,
                             tg_cfg_name_of(nm, sizeof(nm),
                                            "owners of system %s", sy->id))) {
            sy->owners = calloc(tg_cfg_seq_len(o) + 1, sizeof(size_t));
            if (!sy->owners)
                return tg_cfg_nomem(L);
            for (yaml_node_item_t *it = o->data.sequence.items.start;
                 it < o->data.sequence.items.top; it++, idx++) {
                size_t p;
                if (ref(L, d, tg_cfg_node_at(L, *it),
                        tg_cfg_name_of(nm, sizeof(nm), "systems.%s.owners[%zu]",
                                       sy->id, idx),
                        TG_ENT_PERSON, &p) == TG_OK)
                    sy->owners[sy->n_owners++] = p;
            }
            if (idx == 0)
                tg_cfg_problem(L, o,
                               "system %s has no owner; name at least one "
                               "person under owners",
                               sy->id);
        } else if (!o || tg_cfg_is_null(o)) {
            tg_cfg_problem_at(L, s->system_line[i],
                              "system %s has no owner; name "
                              "at least one person under "
                              "owners",
                              sy->id);
        }
        if (s->system_approvers[i])
            parse_approvers(L, d, sy, s->system_approvers[i]);
    }
    return tg_cfg_status(L);
}

static int get_date(struct ld *L, const yaml_node_t *n, const char *name,
                    int day_start, int64_t *out)
{
    char *v = NULL;
    char sh[SHOW_CAP];
    int rc;

    if ((rc = tg_cfg_get_str(L, n, name, F_REQ, &v)) != TG_OK)
        return rc;
    rc = day_start ? tg_time_parse_day_start(v, strlen(v), out)
                   : tg_time_parse(v, strlen(v), out);
    if (rc != TG_OK) {
        tg_cfg_problem(L, n, "%s is '%s', not a date; write YYYY-MM-DD", name,
                       tg_cfg_show(v, strlen(v), sh, sizeof(sh)));
        rc = TG_EINVAL;
    }
    free(v);
    return rc;
}

static int parse_delegations(struct ld *L, const yaml_node_t *n,
                             struct tg_directory *d)
{
    static const char *const keys[] = {"delegator", "delegate", "from",
                                       "until"};
    enum { DELEGATOR, DELEGATE, FROM, UNTIL };
    size_t idx = 0;
    char nm[NAME_CAP], where[NAME_CAP];

    if (!tg_cfg_want_list(L, n, "delegations"))
        return tg_cfg_status(L);
    d->delegations = calloc(tg_cfg_seq_len(n) + 1, sizeof(*d->delegations));
    if (!d->delegations)
        return tg_cfg_nomem(L);
    for (yaml_node_item_t *it = n->data.sequence.items.start;
         it < n->data.sequence.items.top && !L->oom; it++, idx++) {
        yaml_node_t *item = tg_cfg_node_at(L, *it);
        yaml_node_t *v[COUNT(keys)];
        struct tg_delegation g;
        int ok = 1;

        tg_cfg_name_of(where, sizeof(where), "delegations[%zu]", idx);
        if (!item || MAP_KEYS(L, item, where, keys, v) != TG_OK)
            continue;
        memset(&g, 0, sizeof(g));
        for (size_t k = 0; k < COUNT(keys); k++) {
            if (!v[k]) {
                tg_cfg_problem(L, item,
                               "%s has no %s; a delegation names delegator, "
                               "delegate, from and until",
                               where, keys[k]);
                ok = 0;
            }
        }
        if (!ok)
            continue;
        ok &= ref(L, d, v[DELEGATOR],
                  tg_cfg_name_of(nm, sizeof(nm), "%s.delegator", where),
                  TG_ENT_PERSON, &g.delegator) == TG_OK;
        ok &= ref(L, d, v[DELEGATE],
                  tg_cfg_name_of(nm, sizeof(nm), "%s.delegate", where),
                  TG_ENT_PERSON, &g.delegate) == TG_OK;
        ok &= get_date(L, v[FROM],
                       tg_cfg_name_of(nm, sizeof(nm), "%s.from", where), 1,
                       &g.from) == TG_OK;
        ok &= get_date(L, v[UNTIL],
                       tg_cfg_name_of(nm, sizeof(nm), "%s.until", where), 0,
                       &g.until) == TG_OK;
        if (!ok)
            continue;
        if (g.delegator == g.delegate) {
            tg_cfg_problem(L, item,
                           "%s delegates from %s to the same person; name "
                           "another delegate",
                           where, d->people[g.delegator].id);
            continue;
        }
        if (g.until < g.from) {
            tg_cfg_problem(L, item,
                           "%s ends (until) before it starts (from); fix "
                           "the dates",
                           where);
            continue;
        }
        d->delegations[d->n_delegations++] = g;
    }
    return tg_cfg_status(L);
}

/* Fills d (whose generic and strict the configuration already set) from the
 * directory document of D. */
static int parse_directory(struct ld *D, const yaml_node_t *root,
                           struct tg_directory *d)
{
    static const char *const keys[] = {"people", "groups", "systems",
                                       "delegations"};
    enum { PEOPLE, GROUPS, SYSTEMS, DELEGATIONS };
    yaml_node_t *v[COUNT(keys)];
    struct dsrc s = {0};

    if (MAP_KEYS(D, root, "the directory", keys, v) != TG_OK)
        return tg_cfg_status(D);
    if (v[PEOPLE])
        parse_people(D, v[PEOPLE], d, &s);
    if (v[GROUPS] && !D->oom)
        parse_group_ids(D, v[GROUPS], d, &s);
    if (v[SYSTEMS] && !D->oom)
        parse_system_ids(D, v[SYSTEMS], d, &s);
    if (!D->oom)
        check_names(D, d, &s);
    if (!D->oom && tg_directory_index(d, NULL) != TG_OK)
        tg_cfg_nomem(D);
    if (!D->oom)
        parse_groups_members(D, d, &s);
    if (!D->oom)
        parse_systems_refs(D, d, &s);
    if (v[DELEGATIONS] && !D->oom)
        parse_delegations(D, v[DELEGATIONS], d);
    dsrc_free(&s);
    return tg_cfg_status(D);
}

/* Reads and parses the directory file; its bytes (for the digest) go to
 * *text. Problems are reported in the directory file, or, when it cannot be
 * read, at directory.file of the configuration (C). */
int tg_cfg_load_directory(struct ld *C, struct tg_config *c,
                          const yaml_node_t *file_node, char **text,
                          size_t *len)
{
    yaml_document_t doc;
    struct ld D = {
        .diag = C->diag,
        .file = c->directory_path,
        .doc = &doc,
        .basedir = C->basedir,
        .subst = 0, /* the directory is data: no ${NAME} */
        .keys = C->keys,
        .rank = 1,
    };
    int have = 0, err, rc;

    rc = tg_cfg_read_file(c->directory_path, DIRECTORY_MAX_BYTES, text, len,
                          &err);
    if (rc == TG_ENOMEM)
        return tg_cfg_nomem(C);
    if (rc != TG_OK) {
        tg_cfg_unreadable(C, file_node, "directory.file", c->directory_path, rc,
                          err);
        return TG_OK;
    }
    if (tg_cfg_yaml_load(&D, *text, *len, &doc, &have) == TG_OK)
        parse_directory(&D, yaml_document_get_root_node(&doc), &c->directory);
    else if (!D.oom && D.errors == 0)
        tg_cfg_problem_at(&D, 1, "the directory could not be read as YAML");
    /* Even a broken directory gets its index, so that the structure is
     * consistent for whoever frees it. */
    if (!D.oom && !c->directory.names.slots &&
        tg_directory_index(&c->directory, NULL) != TG_OK)
        tg_cfg_nomem(&D);
    if (have)
        yaml_document_delete(&doc);
    C->errors += D.errors;
    if (D.oom)
        return tg_cfg_nomem(C);
    return TG_OK;
}
