/* authority.h - how an approver holds authority over a system, as judged. */
#ifndef TG_AUTHORITY_H
#define TG_AUTHORITY_H

#include <stddef.h>
#include <stdint.h>

#include "validators/directory.h"
#include "validators/policy.h"
#include "validators/ticket.h"

/* Where an approver's authority comes from (issue 13's evidence). */
enum tg_basis {
    TG_BASIS_NONE,     /* no grant at all */
    TG_BASIS_OWNER,    /* an owner of the system */
    TG_BASIS_APPROVER, /* listed by name among the system's approvers */
    TG_BASIS_GROUP,    /* listed through a group among its approvers */
    TG_BASIS_DELEGATE, /* an active delegate of someone who holds one */
};

/* What the authority validator concluded about one approver. */
enum tg_auth_status {
    TG_AUTH_HOLDS,   /* authority covers the requested privilege: no finding */
    TG_AUTH_TIER,    /* listed, below the requested privilege: AUTHORITY_TIER */
    TG_AUTH_NONE,    /* AUTHORITY_NONE */
    TG_AUTH_SKIPPED, /* not judged here (REASONS.md "skipped for ..."): why */
};

/*
 * One approver's authority as the validator judged it. Every index points
 * into the directory the judgement ran on; nothing is owned.
 */
struct tg_authority {
    enum tg_auth_status status;
    /* For NONE and SKIPPED, a static phrase saying why: "emergency",
     * "routine", "no system", "unknown system", "absent", "named twice",
     * "not an individual", "not in the directory", "inactive",
     * "no grant". NULL otherwise. */
    const char *why;
    enum tg_basis basis;  /* the grant that decided; NONE when none. The
                           * approver's own grant when it covers the
                           * request, a delegation only when it alone does */
    enum tg_basis via;    /* DELEGATE: how the delegator holds it */
    int has_tier;         /* APPROVER or GROUP (also via): a max_privilege */
    enum tg_privilege max_privilege;
    size_t group;         /* GROUP (also via): the group's index */
    size_t delegator;     /* DELEGATE: the delegator's person index */
    int64_t from, until;  /* DELEGATE: the delegation's first and last
                           * second (whole UTC days) */
    enum tg_privilege requested; /* the ticket's privilege (unknown: admin) */
    long system;          /* the system's index, -1 when none */
    int person;           /* 1 when the approver resolved to a person */
    size_t person_idx;
};

/*
 * Judges approver i of t (0 <= i < t->n_approvers) at now exactly as
 * tg_evaluate does, with the same code (tg_authority_check maps these
 * statuses to its findings), and fills *out. Pure: no I/O, no globals, no
 * allocation. Returns 0, or TG_EINVAL when i is out of range.
 */
int tg_authority_judge(const struct tg_ticket *t, const struct tg_policy *p,
                       const struct tg_directory *d, int64_t now, size_t i,
                       struct tg_authority *out);

/* "none", "owner", "approver", "group", "delegate". */
const char *tg_basis_name(enum tg_basis b);

#endif
