/* ocstore.h - builds evidence stores of decisions and events for the outcome tests. */
#ifndef TG_TEST_OCSTORE_H
#define TG_TEST_OCSTORE_H

#include <stdint.h>

struct tg_evidence;

/* Opens (creating) the store at path through the real store API. */
struct tg_evidence *tg_ocs_open(const char *path);

/* One approver of a ticket: who (as given; resolved the same when
 * resolved is NULL), at (TG_OCS_NOTIME: no time in the judged ticket). */
#define TG_OCS_NOTIME INT64_MIN
struct tg_ocs_approver {
    const char *who;
    int64_t at;
    int unresolved; /* identities: "resolved" left out (the given read) */
};

/* A decision on ticket as tg_decide records it: the decision document
 * (verdict "allow", "annotate", "deny"; findings_json a JSON array text,
 * NULL for none), the judged ticket (Interface 2) and their facts
 * document (core/facts.h). expires NULL: no
 * expires_at; created TG_OCS_NOTIME: no created_at. env may be NULL.
 * Asserts that the append succeeded. */
struct tg_ocs_decision {
    const char *ticket, *verdict, *findings_json;
    int64_t time, created;
    const char *beneficiary, *beneficiary_resolved;
    /* identities.beneficiary's "given" when not the ticket's beneficiary
     * (NULL: the same); a blank one names no one */
    const char *beneficiary_given;
    /* identities.requester's "given" (NULL: req@example.com, unresolved)
     * and the ticket's own requester (NULL: none) */
    const char *requester_given, *ticket_requester;
    const char *system, *environment, *entitlement;
    const char *expires; /* as the ticket gives it */
    int emergency;
    struct tg_ocs_approver approvers[4];
};
void tg_ocs_decision(struct tg_evidence *e, const struct tg_ocs_decision *d);

/* An event entry (Interface 4) of type "grant", "revoke" or "review";
 * ticket, environment may be NULL; mapped 0 leaves out system and
 * entitlement and marks it unmapped. */
struct tg_ocs_event {
    const char *type, *source_id;
    int64_t time;
    const char *identity, *system, *entitlement, *environment, *ticket;
    int unmapped;
};
void tg_ocs_event(struct tg_evidence *e, const struct tg_ocs_event *v);

/* Runs sql (one statement, ?1 bound to id when not NULL) on the store
 * file at path, failing the test when it does not run; returns the first
 * column of its row, else how many rows it changed. */
int tg_ocs_sql(const char *path, const char *sql, const char *id);
/* "YYYY-MM-DDTHH:MM:SSZ" of t into buf (32 bytes). */
const char *tg_ocs_time(int64_t t, char *buf);

#endif
