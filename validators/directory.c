/* directory.c - identity resolution over the directory, indexed at load. */
#include "validators/directory.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "validators/errors.h"
#include "validators/words.h"

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* FNV-1a over the lower-cased bytes, so lookups hash without copying. */
static uint64_t hash_lower(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)lower(s[i]);
        h *= 1099511628211ULL;
    }
    return h;
}

static int eq_lower(const char *key, size_t keylen, const char *s, size_t len)
{
    if (keylen != len)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (key[i] != lower(s[i]))
            return 0;
    return 1;
}

long tg_ident_normalise(const char *s, size_t len, char *out, size_t cap)
{
    tg_words_trim(&s, &len);
    if (len >= cap)
        return -1;
    for (size_t i = 0; i < len; i++)
        out[i] = lower(s[i]);
    out[len] = '\0';
    return (long)len;
}

void tg_directory_init(struct tg_directory *d)
{
    memset(d, 0, sizeof(*d));
}

void tg_directory_cleanup(struct tg_directory *d)
{
    for (size_t i = 0; i < d->n_people; i++) {
        struct tg_person *p = &d->people[i];
        free(p->id);
        free(p->name);
        for (size_t j = 0; j < p->n_aliases; j++)
            free(p->aliases[j]);
        free(p->aliases);
    }
    free(d->people);
    for (size_t i = 0; i < d->n_groups; i++) {
        free(d->groups[i].id);
        free(d->groups[i].members);
    }
    free(d->groups);
    for (size_t i = 0; i < d->n_systems; i++) {
        free(d->systems[i].id);
        free(d->systems[i].owners);
        free(d->systems[i].approvers);
    }
    free(d->systems);
    free(d->delegations);
    for (size_t i = 0; i < d->n_generic; i++)
        free(d->generic[i]);
    free(d->generic);
    free(d->names.slots);
    free(d->sysindex.slots);
    for (size_t i = 0; i < d->n_keys; i++)
        free(d->keys[i]);
    free(d->keys);
    tg_directory_init(d);
}

static int index_alloc(struct tg_index *ix, size_t n)
{
    size_t cap = 16;
    while (cap < n * 2)
        cap *= 2;
    ix->slots = calloc(cap, sizeof(*ix->slots));
    if (!ix->slots)
        return TG_ENOMEM;
    ix->cap = cap;
    ix->n = 0;
    return TG_OK;
}

static const struct tg_index_slot *index_find(const struct tg_index *ix,
                                              const char *s, size_t len)
{
    size_t mask, i;
    if (ix->cap == 0)
        return NULL;
    mask = ix->cap - 1;
    i = (size_t)hash_lower(s, len) & mask;
    while (ix->slots[i].key) {
        if (eq_lower(ix->slots[i].key, ix->slots[i].keylen, s, len))
            return &ix->slots[i];
        i = (i + 1) & mask;
    }
    return NULL;
}

/* Adds name -> ent unless the name is empty or taken (first wins). */
static int index_add(struct tg_directory *d, struct tg_index *ix,
                     const char *name, struct tg_entity ent, size_t *dups)
{
    size_t len, mask, i;
    char *key;
    const char *s = name;
    if (!name)
        return TG_OK;
    len = strlen(name);
    tg_words_trim(&s, &len);
    if (len == 0)
        return TG_OK;
    if (index_find(ix, s, len)) {
        (*dups)++;
        return TG_OK;
    }
    key = malloc(len + 1);
    if (!key)
        return TG_ENOMEM;
    tg_ident_normalise(s, len, key, len + 1);
    d->keys[d->n_keys++] = key;
    mask = ix->cap - 1;
    i = (size_t)hash_lower(key, len) & mask;
    while (ix->slots[i].key)
        i = (i + 1) & mask;
    ix->slots[i].key = key;
    ix->slots[i].keylen = len;
    ix->slots[i].ent = ent;
    ix->n++;
    return TG_OK;
}

int tg_directory_index(struct tg_directory *d, size_t *dup_out)
{
    size_t names = 0, dups = 0;
    int rc;
    for (size_t i = 0; i < d->n_people; i++)
        names += 2 + d->people[i].n_aliases;
    names += d->n_groups;
    d->keys = calloc(names + d->n_systems + 1, sizeof(*d->keys));
    if (!d->keys)
        return TG_ENOMEM;
    if ((rc = index_alloc(&d->names, names)) != TG_OK)
        return rc;
    if ((rc = index_alloc(&d->sysindex, d->n_systems)) != TG_OK)
        return rc;
    /* Ids first, so that an id always names its own entry even when another
     * entry lists it as an alias or a name. */
    for (size_t i = 0; i < d->n_people; i++) {
        struct tg_entity e = {TG_ENT_PERSON, i};
        if ((rc = index_add(d, &d->names, d->people[i].id, e, &dups)))
            return rc;
    }
    for (size_t i = 0; i < d->n_groups; i++) {
        struct tg_entity e = {TG_ENT_GROUP, i};
        if ((rc = index_add(d, &d->names, d->groups[i].id, e, &dups)))
            return rc;
    }
    for (size_t i = 0; i < d->n_people; i++) {
        struct tg_person *p = &d->people[i];
        struct tg_entity e = {TG_ENT_PERSON, i};
        for (size_t j = 0; j < p->n_aliases; j++)
            if ((rc = index_add(d, &d->names, p->aliases[j], e, &dups)))
                return rc;
    }
    /* Display names last: ServiceNow sends them as reference display values,
     * but they are the least unique names a person has. */
    for (size_t i = 0; i < d->n_people; i++) {
        struct tg_entity e = {TG_ENT_PERSON, i};
        if ((rc = index_add(d, &d->names, d->people[i].name, e, &dups)))
            return rc;
    }
    for (size_t i = 0; i < d->n_systems; i++) {
        struct tg_entity e = {TG_ENT_PERSON, i};
        size_t sysdups = 0;
        if ((rc = index_add(d, &d->sysindex, d->systems[i].id, e, &sysdups)))
            return rc;
        dups += sysdups;
    }
    if (dup_out)
        *dup_out = dups;
    return TG_OK;
}

struct tg_entity tg_directory_resolve(const struct tg_directory *d,
                                      const char *s, size_t len)
{
    struct tg_entity none = {TG_ENT_NONE, 0};
    const struct tg_index_slot *slot;
    if (!s)
        return none;
    tg_words_trim(&s, &len);
    if (len == 0)
        return none;
    slot = index_find(&d->names, s, len);
    return slot ? slot->ent : none;
}

long tg_directory_system(const struct tg_directory *d, const char *s,
                         size_t len)
{
    const struct tg_index_slot *slot;
    if (!s)
        return -1;
    tg_words_trim(&s, &len);
    if (len == 0)
        return -1;
    slot = index_find(&d->sysindex, s, len);
    return slot ? (long)slot->ent.idx : -1;
}

int tg_directory_is_generic(const struct tg_directory *d, const char *s,
                            size_t len)
{
    char *name;
    int hit = 0;
    if (!s || d->n_generic == 0)
        return 0;
    tg_words_trim(&s, &len);
    name = malloc(len + 1);
    if (!name)
        return 0;
    tg_ident_normalise(s, len, name, len + 1);
    /* A NUL inside the name would cut it short for fnmatch; such a name is
     * not a generic one (nor anyone's). */
    if (strlen(name) == len) {
        for (size_t i = 0; i < d->n_generic && !hit; i++)
            hit = fnmatch(d->generic[i], name, 0) == 0;
    }
    free(name);
    return hit;
}

int tg_directory_in_group(const struct tg_directory *d, size_t g, size_t p)
{
    const struct tg_group *grp = &d->groups[g];
    for (size_t i = 0; i < grp->n_members; i++)
        if (grp->members[i] == p)
            return 1;
    return 0;
}
