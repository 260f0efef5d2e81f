/* directory.h - people, groups, systems and delegations, indexed at load. */
#ifndef TG_DIRECTORY_H
#define TG_DIRECTORY_H

#include <stddef.h>
#include <stdint.h>

#include "validators/policy.h"

enum tg_person_type { TG_TYPE_HUMAN, TG_TYPE_SHARED, TG_TYPE_SERVICE };

struct tg_person {
    char *id;
    char *name;
    char **aliases;
    size_t n_aliases;
    enum tg_person_type type;
    int inactive; /* status: inactive */
};

struct tg_group {
    char *id;
    size_t *members; /* person indexes, nested groups flattened at load */
    size_t n_members;
};

struct tg_sys_approver {
    int is_group;            /* idx is a group index, else a person index */
    size_t idx;
    enum tg_privilege max_privilege;
};

struct tg_system {
    char *id;
    size_t *owners; /* person indexes */
    size_t n_owners;
    struct tg_sys_approver *approvers;
    size_t n_approvers;
};

struct tg_delegation {
    size_t delegator, delegate; /* person indexes */
    int64_t from;  /* UTC seconds of the first second of the `from` day */
    int64_t until; /* UTC seconds of the last second of the `until` day */
};

/* What an identity string resolves to. */
enum tg_entity_kind { TG_ENT_NONE, TG_ENT_PERSON, TG_ENT_GROUP };
struct tg_entity {
    enum tg_entity_kind kind;
    size_t idx;
};

/* One slot of an open-addressing hash index keyed by a normalised string. */
struct tg_index_slot {
    const char *key; /* normalised (trimmed, lower case); NULL: empty slot */
    size_t keylen;
    struct tg_entity ent;
};

struct tg_index {
    struct tg_index_slot *slots;
    size_t cap; /* power of two */
    size_t n;
};

struct tg_directory {
    struct tg_person *people;
    size_t n_people;
    struct tg_group *groups;
    size_t n_groups;
    struct tg_system *systems;
    size_t n_systems;
    struct tg_delegation *delegations;
    size_t n_delegations;
    char **generic; /* directory.generic_identities, lower case globs */
    size_t n_generic;
    int strict;
    struct tg_index names;    /* every id, name and alias -> person/group */
    struct tg_index sysindex; /* system id -> system (kind PERSON unused) */
    char **keys;              /* normalised keys the indexes point into */
    size_t n_keys;
};

void tg_directory_init(struct tg_directory *d);
void tg_directory_cleanup(struct tg_directory *d);

/*
 * Builds the indexes from the arrays already filled in d (people, groups,
 * systems). Call once after loading. A name already taken keeps its first
 * entity; *dup_out (if not NULL) receives the number of such collisions.
 * Returns 0 or TG_ENOMEM.
 */
int tg_directory_index(struct tg_directory *d, size_t *dup_out);

/*
 * Resolves an identity (len bytes at s, untrusted) case-insensitively,
 * ignoring surrounding white space (TICKET.md). Returns the entity, kind
 * TG_ENT_NONE when it is in no entry. No allocation.
 */
struct tg_entity tg_directory_resolve(const struct tg_directory *d,
                                      const char *s, size_t len);
/* The index of system s (same normalisation), or -1. */
long tg_directory_system(const struct tg_directory *d, const char *s,
                         size_t len);
/* 1 when the (unresolved) name matches a generic_identities glob. */
int tg_directory_is_generic(const struct tg_directory *d, const char *s,
                            size_t len);
/* 1 when person p is a member of group g (after flattening). */
int tg_directory_in_group(const struct tg_directory *d, size_t g, size_t p);

/* Normalises an identity key: trims ASCII white space and lower-cases ASCII.
 * Writes to out (capacity cap); returns the length, or -1 when it does not
 * fit. Used at load time and by lint. */
long tg_ident_normalise(const char *s, size_t len, char *out, size_t cap);

#endif
