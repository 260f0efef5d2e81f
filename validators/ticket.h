/* ticket.h - the canonical access ticket of contract/TICKET.md, as C. */
#ifndef TG_TICKET_H
#define TG_TICKET_H

#include <stddef.h>

/*
 * Every string is NUL-terminated, heap-owned by the ticket, and NULL when the
 * key was absent or null in the input. Empty strings are kept as "" so that
 * validators can tell "absent" from "empty" where REASONS.md cares (it rarely
 * does: both count as missing).
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
};

/* Zeroes t. */
void tg_ticket_init(struct tg_ticket *t);
/* Frees every string t owns and zeroes it; safe on an initialised ticket. */
void tg_ticket_cleanup(struct tg_ticket *t);
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
