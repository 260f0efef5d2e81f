/* internal.h - what the event parsers share: one event document, built. */
#ifndef TG_EVENTS_INTERNAL_H
#define TG_EVENTS_INTERNAL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "server/events/events.h"

/* At most this many identity candidates per event. */
#define TG_EV_MAX_IDS 4

/* One event as a parser found it; every pointer borrowed for tg_ev_add. */
struct tg_ev_spec {
    enum tg_event_form form;
    const char *type; /* "grant", "revoke", "review" */
    int64_t time;     /* UTC seconds */
    /* The identity: candidates tried against the directory in turn, the
     * first naming a person winning; ids[0] is the identity as given. */
    const char *ids[TG_EV_MAX_IDS];
    size_t n_ids;
    /* Foreign forms: what events.mappings is searched for (id, else the
     * display name; account narrows AWS mappings). has_foreign 0:
     * canonical, whose system and entitlement are given below. */
    int has_foreign;
    enum tg_event_foreign kind;
    const char *foreign_id, *foreign_name, *account;
    const char *system, *entitlement, *environment; /* canonical only */
    const char *ticket;                             /* or NULL */
    const char *source_id;                          /* the chain key */
    const char *unmapped;     /* a reason known before mapping, or NULL */
    const char *source_event; /* the foreign event or call, or NULL */
    const char *actor;        /* who made the change, as given, or NULL */
    const char *note;         /* canonical: free text, or NULL */
    const char *cause;        /* why an event was derived (deactivation) */
    size_t index;             /* its place in the delivery, for raw_ref */
};

/* Appends the document of s to out->events: the identity resolved, the
 * mapping looked up, mapped / unmapped_reason set. 0 or TG_ENOMEM. */
int tg_ev_add(const struct tg_events_in *in, struct tg_events_out *out,
              const struct tg_ev_spec *s);

/* The mapping of kind for foreign id (or, failing that, display name) in
 * account (NULL: none known), or NULL. An exact id beats a name, and a
 * mapping naming the account beats one for any account. */
const struct tg_event_mapping *
tg_ev_find_mapping(const struct tg_config *c, enum tg_event_foreign kind,
                   const char *id, const char *name, const char *account);

/* Writes the sentence of a 422 into out->err; returns TG_EINVAL. */
int tg_ev_fail(struct tg_events_out *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The string member key of o, or NULL when absent, null or not a string;
 * an empty string is NULL too. */
const char *tg_ev_str(const json_t *o, const char *key);

/* Parses an RFC 3339 date-time (a plain date is no event time). 0 or
 * TG_EINVAL. */
int tg_ev_time(const char *s, int64_t *out);

/* "<prefix>:<id>" into buf (cap bytes); TG_EINVAL when it does not fit
 * TG_EVENTS_MAX_ID or id is empty. */
int tg_ev_key(char *buf, size_t cap, const char *prefix, const char *id);

#endif
