/* okta.c - Okta event hook deliveries: memberships and deactivations. */
#include "server/events/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "validators/errors.h"

/* The verification challenge Okta sends is a short random token; anything
 * long or unprintable is not one. */
#define OKTA_CHALLENGE_MAX 256

int tg_events_okta_challenge(const char *challenge, size_t len, char **out)
{
    json_t *doc;
    size_t i;

    if (!challenge || len == 0 || len > OKTA_CHALLENGE_MAX)
        return TG_EINVAL;
    for (i = 0; i < len; i++)
        if (challenge[i] < 0x21 || challenge[i] > 0x7e)
            return TG_EINVAL;
    doc = json_object();
    if (!doc || json_object_set_new(doc, "verification",
                                    json_stringn(challenge, len)) != 0) {
        json_decref(doc);
        return TG_ENOMEM;
    }
    *out = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return *out ? 0 : TG_ENOMEM;
}

/* The first target of ev whose type is type, or NULL. */
static const json_t *target(const json_t *ev, const char *type)
{
    const json_t *ts = json_object_get(ev, "target");

    for (size_t i = 0; i < json_array_size(ts); i++) {
        const json_t *t = json_array_get(ts, i);
        const char *ty = tg_ev_str(t, "type");
        if (ty && strcmp(ty, type) == 0)
            return t;
    }
    return NULL;
}

/* The person an event is about: the User target (Okta id, then login),
 * else an AppUser's login. */
static void identity(const json_t *ev, struct tg_ev_spec *s)
{
    const json_t *u = target(ev, "User");

    s->n_ids = 0;
    if (u) {
        if (tg_ev_str(u, "id"))
            s->ids[s->n_ids++] = tg_ev_str(u, "id");
        if (tg_ev_str(u, "alternateId"))
            s->ids[s->n_ids++] = tg_ev_str(u, "alternateId");
    }
    u = target(ev, "AppUser");
    if (s->n_ids == 0 && u && tg_ev_str(u, "alternateId"))
        s->ids[s->n_ids++] = tg_ev_str(u, "alternateId");
    if (s->n_ids == 0)
        s->unmapped = "the event has no User target: whose access changed "
                      "is not known";
}

/* A deactivation ends everything the person holds through Okta: one
 * revoke for each distinct system, entitlement and environment that an
 * Okta mapping names, each with its own key. */
static int deactivation(const struct tg_events_in *in,
                        struct tg_events_out *out, struct tg_ev_spec *s)
{
    const struct tg_events_conf *e = &in->cfg->events;
    const char *base = s->source_id;
    char key[TG_EVENTS_MAX_ID + 64];
    size_t made = 0;
    int rc;

    s->type = "revoke";
    s->cause = "user.lifecycle.deactivate";
    for (size_t i = 0; i < e->n_mappings; i++) {
        const struct tg_event_mapping *m = &e->mappings[i];
        int seen = 0;

        if (m->kind != TG_EVMAP_OKTA_GROUP && m->kind != TG_EVMAP_OKTA_APP)
            continue;
        for (size_t j = 0; j < i && !seen; j++) {
            const struct tg_event_mapping *p = &e->mappings[j];
            seen = (p->kind == TG_EVMAP_OKTA_GROUP ||
                    p->kind == TG_EVMAP_OKTA_APP) &&
                   strcmp(p->system, m->system) == 0 &&
                   strcmp(p->entitlement, m->entitlement) == 0 &&
                   (p->environment && m->environment
                        ? strcmp(p->environment, m->environment) == 0
                        : p->environment == m->environment);
        }
        if (seen)
            continue;
        if (snprintf(key, sizeof(key), "%s/%s/%s%s%s", base, m->system,
                     m->entitlement, m->environment ? "/" : "",
                     m->environment ? m->environment : "") >=
                (int)sizeof(key) ||
            strlen(key) > TG_EVENTS_MAX_ID)
            return tg_ev_fail(out,
                              "the keys of a deactivation's revokes are "
                              "longer than %d bytes; shorten the mappings' "
                              "system or entitlement",
                              TG_EVENTS_MAX_ID);
        s->source_id = key;
        s->has_foreign = 1;
        s->kind = m->kind;
        s->foreign_id = m->foreign;
        s->foreign_name = NULL;
        if ((rc = tg_ev_add(in, out, s)) != 0)
            return rc;
        made++;
    }
    s->source_id = base;
    if (made)
        return 0;
    /* Nothing maps: the deactivation is kept all the same. */
    s->has_foreign = 0;
    if (!s->unmapped)
        s->unmapped = "the user was deactivated in Okta, but no "
                      "events.mappings entry maps an Okta group or "
                      "application";
    return tg_ev_add(in, out, s);
}

/* One event of data.events (index i). */
static int one(const struct tg_events_in *in, struct tg_events_out *out,
               const json_t *ev, size_t i)
{
    struct tg_ev_spec s = {.form = TG_EVFORM_OKTA, .index = i};
    const char *et = tg_ev_str(ev, "eventType"), *uuid, *res;
    const json_t *t;
    char key[TG_EVENTS_MAX_ID + 1];
    int deact = 0;

    if (!json_is_object(ev))
        return tg_ev_fail(out, "data.events[%zu] is not an event object", i);
    res = tg_ev_str(json_object_get(ev, "outcome"), "result");
    if (!et || (res && strcmp(res, "SUCCESS") != 0)) {
        out->ignored++; /* a failed attempt changed nothing */
        return 0;
    }
    if (strcmp(et, "group.user_membership.add") == 0 ||
        strcmp(et, "group.user_membership.remove") == 0) {
        s.kind = TG_EVMAP_OKTA_GROUP;
        t = target(ev, "UserGroup");
    } else if (strcmp(et, "application.user_membership.add") == 0 ||
               strcmp(et, "application.user_membership.remove") == 0) {
        s.kind = TG_EVMAP_OKTA_APP;
        t = target(ev, "AppInstance");
    } else if (strcmp(et, "user.lifecycle.deactivate") == 0) {
        deact = 1;
        t = NULL;
    } else {
        out->ignored++;
        return 0;
    }
    uuid = tg_ev_str(ev, "uuid");
    if (tg_ev_key(key, sizeof(key), "okta", uuid) != 0)
        return tg_ev_fail(out,
                          "data.events[%zu].uuid is missing or longer than "
                          "%d bytes; it is the event's key",
                          i, TG_EVENTS_MAX_ID - 5);
    if (tg_ev_time(tg_ev_str(ev, "published"), &s.time) != 0)
        return tg_ev_fail(out,
                          "data.events[%zu].published is missing or not an "
                          "RFC 3339 date-time",
                          i);
    s.source_id = key;
    s.source_event = et;
    s.actor = tg_ev_str(json_object_get(ev, "actor"), "alternateId");
    identity(ev, &s);
    if (deact)
        return deactivation(in, out, &s);
    s.type = strstr(et, ".add") ? "grant" : "revoke";
    s.has_foreign = 1;
    s.foreign_id = tg_ev_str(t, "id");
    s.foreign_name = tg_ev_str(t, "displayName");
    if (!s.foreign_id && !s.foreign_name) {
        s.foreign_name = "";
        if (!s.unmapped)
            s.unmapped = s.kind == TG_EVMAP_OKTA_GROUP
                             ? "the event has no UserGroup target"
                             : "the event has no AppInstance target";
    }
    return tg_ev_add(in, out, &s);
}

int tg_events_okta(const struct tg_events_in *in, struct tg_events_out *out)
{
    const json_t *list =
        json_object_get(json_object_get(in->body, "data"), "events");
    int rc;

    if (!json_is_array(list))
        return tg_ev_fail(out, "data.events is missing or not a list; send "
                               "the event hook's delivery as Okta sends it");
    for (size_t i = 0; i < json_array_size(list); i++)
        if ((rc = one(in, out, json_array_get(list, i), i)) != 0)
            return rc;
    return 0;
}
