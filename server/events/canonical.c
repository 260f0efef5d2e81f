/* canonical.c - ticketgate's own event form (schemas/event.schema.json). */
#include "server/events/internal.h"

#include <stdio.h>
#include <string.h>

#include "validators/errors.h"

/* The members an event may have; anything else is a typo to report. */
static const char *const allowed[] = {
    "type",        "time",   "identity",  "system", "entitlement",
    "environment", "ticket", "source_id", "note",   "actor",
};

/* The prefixes of the foreign forms' keys: a canonical source_id may not
 * take one, so that no client can claim (or block) an Okta event's key. */
static const char *const reserved[] = {"okta:", "cloudtrail:", "scim:"};

static int known_key(const char *k)
{
    for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
        if (strcmp(k, allowed[i]) == 0)
            return 1;
    return 0;
}

/* Member key of ev, a string when present: *out (NULL when absent).
 * Returns 0, or TG_EINVAL naming at.key. */
static int opt_str(struct tg_events_out *out, const json_t *ev, const char *at,
                   const char *key, const char **val)
{
    const json_t *v = json_object_get(ev, key);

    *val = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v) || json_string_length(v) == 0)
        return tg_ev_fail(out, "%s%s is not a non-empty string", at, key);
    *val = json_string_value(v);
    return 0;
}

static int req_str(struct tg_events_out *out, const json_t *ev, const char *at,
                   const char *key, const char *what, const char **val)
{
    int rc = opt_str(out, ev, at, key, val);

    if (rc == 0 && !*val)
        return tg_ev_fail(out, "%s%s is missing; %s", at, key, what);
    return rc;
}

/* One event at (a prefix for messages, "" or "events[3]."). */
static int one(const struct tg_events_in *in, struct tg_events_out *out,
               const json_t *ev, const char *at, size_t index)
{
    struct tg_ev_spec s = {.form = TG_EVFORM_CANONICAL, .index = index};
    const char *key, *time_s, *identity;
    json_t *v;
    int rc;

    if (!json_is_object(ev))
        return tg_ev_fail(out, "%sis not an event object", at);
    json_object_foreach(
        (json_t *)ev, key,
        v) if (!known_key(key)) return tg_ev_fail(out,
                                                  "%s'%s' is not a member of "
                                                  "an event; see "
                                                  "schemas/event.schema.json",
                                                  at, key);
    if ((rc = req_str(out, ev, at, "type", "write grant, revoke or review",
                      &s.type)) != 0)
        return rc;
    if (strcmp(s.type, "grant") != 0 && strcmp(s.type, "revoke") != 0 &&
        strcmp(s.type, "review") != 0)
        return tg_ev_fail(out, "%stype must be grant, revoke or review", at);
    if ((rc = req_str(out, ev, at, "time", "write when it happened (RFC 3339)",
                      &time_s)) != 0)
        return rc;
    if (tg_ev_time(time_s, &s.time) != 0)
        return tg_ev_fail(out,
                          "%stime is not an RFC 3339 date-time "
                          "(2026-11-22T10:00:00Z)",
                          at);
    if ((rc = req_str(out, ev, at, "identity",
                      "write whose access changed (or who reviewed)",
                      &identity)) != 0 ||
        (rc = req_str(out, ev, at, "source_id",
                      "give every event the sender's unique id (re-sent "
                      "events are recognised by it)",
                      &s.source_id)) != 0)
        return rc;
    if (strlen(s.source_id) > TG_EVENTS_MAX_ID)
        return tg_ev_fail(out, "%ssource_id is longer than %d bytes", at,
                          TG_EVENTS_MAX_ID);
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
        if (strncmp(s.source_id, reserved[i], strlen(reserved[i])) == 0)
            return tg_ev_fail(out,
                              "%ssource_id may not start with '%s' (the "
                              "keys of that form's events)",
                              at, reserved[i]);
    if (strcmp(s.type, "review") == 0) {
        rc = req_str(out, ev, at, "ticket",
                     "a review names the ticket it "
                     "reviewed",
                     &s.ticket);
        if (rc == 0)
            rc = opt_str(out, ev, at, "system", &s.system);
        if (rc == 0)
            rc = opt_str(out, ev, at, "entitlement", &s.entitlement);
    } else {
        rc = req_str(out, ev, at, "system",
                     "name the directory system the access is on", &s.system);
        if (rc == 0)
            rc = req_str(out, ev, at, "entitlement",
                         "name the entitlement granted or revoked",
                         &s.entitlement);
        if (rc == 0)
            rc = opt_str(out, ev, at, "ticket", &s.ticket);
    }
    if (rc == 0)
        rc = opt_str(out, ev, at, "environment", &s.environment);
    if (rc == 0)
        rc = opt_str(out, ev, at, "note", &s.note);
    if (rc == 0)
        rc = opt_str(out, ev, at, "actor", &s.actor);
    if (rc != 0)
        return rc;
    s.ids[0] = identity;
    s.n_ids = 1;
    return tg_ev_add(in, out, &s);
}

int tg_events_canonical(const struct tg_events_in *in,
                        struct tg_events_out *out)
{
    const json_t *list = json_object_get(in->body, "events");
    char at[48];
    size_t i;
    int rc;

    if (!list)
        return one(in, out, in->body, "", 0);
    if (!json_is_array(list) || json_object_size(in->body) != 1)
        return tg_ev_fail(out, "send one event object, or {\"events\": [...]} "
                               "and nothing else");
    for (i = 0; i < json_array_size(list); i++) {
        snprintf(at, sizeof(at), "events[%zu].", i);
        if (!json_is_object(json_array_get(list, i)))
            return tg_ev_fail(out, "events[%zu] is not an event object", i);
        if ((rc = one(in, out, json_array_get(list, i), at, i)) != 0)
            return rc;
    }
    return 0;
}
