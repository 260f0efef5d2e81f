/* ticket.h - the canonical access ticket of contract/TICKET.md, as C. */
#ifndef TG_TICKET_H
#define TG_TICKET_H

#include <stddef.h>

/*
 * Every string is NUL-terminated, heap-owned by the ticket, and NULL when the
 * key was absent or null in the input. Empty strings are kept as "" so that
 * validators can tell "absent" from "empty" where REASONS.md cares (it rarely
 * does: both count as missing). A ticket given a block by tg_ticket_reserve
 * (check does, for speed) may hold its strings there: then only
 * tg_ticket_cleanup releases them, never free() one by one.
 */
struct tg_ticket {
    char *id;
    char *source;           /* "jira", "servicenow", "generic" */
    char *kind;             /* "access_request" or anything else */
    char *project;
    char *from, *to, *actor; /* transition */
    char *requester;
    char *beneficiary;      /* NULL: the requester */
    char *beneficiary_type; /* given type ("human", "service"), or NULL */
    char *owner;
    char **approvers;       /* approver and approvers[], in input order */
    size_t n_approvers;
    char *justification;
    char *system, *environment, *entitlement, *privilege; /* scope */
    char *expires_at;
    int emergency;          /* 0 or 1 */
    char *created_at;
    /* ServiceNow: the approver the approval was assigned to, when someone
     * else (a delegate) acted on it; the approvers above are who acted.
     * Kept for the evidence; not judged. */
    char *assigned_approver;
    /* Display names the payload carried for its identities ("Dave Okafor"
     * for accountId 5c5f88...), so that messages name people as a desk
     * agent knows them. Informational: never used to resolve anyone. */
    struct tg_ticket_name {
        char *id, *name;
    } *names;
    size_t n_names;
    /* One block the ticket's strings may be copied into (tg_ticket_strdup)
     * instead of a malloc each: check maps a ticket in a few us, and its
     * twenty strdup and free pairs were a good part of that. A string in
     * the block is released with it; NULL (the default): every string is
     * its own allocation. */
    char *pool;
    size_t pool_cap, pool_used;
};

/* Zeroes t. */
void tg_ticket_init(struct tg_ticket *t);
/* Frees every string t owns and zeroes it; safe on an initialised ticket. */
void tg_ticket_cleanup(struct tg_ticket *t);
/* Gives t a block of cap bytes for the copies tg_ticket_strdup makes (t has
 * none yet). Returns 0 or TG_ENOMEM. */
int tg_ticket_reserve(struct tg_ticket *t, size_t cap);
/* A copy of s that t owns (released by tg_ticket_cleanup): in t's block
 * while it has room, else its own allocation. NULL on ENOMEM. */
char *tg_ticket_strdup(struct tg_ticket *t, const char *s);
/* Appends a copy of s to t->approvers. Returns 0 or TG_ENOMEM. */
int tg_ticket_add_approver(struct tg_ticket *t, const char *s);
/* Records name as the display name of identity id (both copied). An id
 * already named keeps its first name; an empty id or name is ignored.
 * Returns 0 or TG_ENOMEM. */
int tg_ticket_add_name(struct tg_ticket *t, const char *id, const char *name);
/* The display name the payload gave for id (compared case-insensitively,
 * surrounding white space ignored), or NULL. */
const char *tg_ticket_name_of(const struct tg_ticket *t, const char *id);
/* 1 when kind is absent or "access_request" (TICKET.md default), else 0. */
int tg_ticket_is_access_request(const struct tg_ticket *t);

#endif
