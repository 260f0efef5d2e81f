/* canonical.c - maps canonical ticket JSON (TICKET.md) to struct tg_ticket. */
#include "server/core/canonical.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "validators/errors.h"

/* The members of one JSON object that the mapping reads, found in one
 * pass over the object: json_object_get hashes its key on every call, and
 * twenty-five such lookups were a sixth of a ticket's mapping. Unknown
 * members are skipped, as before. */
static void collect(const json_t *obj, const char *const *names, size_t n,
                    const json_t **out)
{
    const char *k;
    json_t *v;

    memset(out, 0, n * sizeof(*out));
    json_object_foreach((json_t *)obj, k, v) {
        for (size_t i = 0; i < n; i++) {
            if (k[0] == names[i][0] && strcmp(k, names[i]) == 0) {
                out[i] = v;
                break;
            }
        }
    }
}

/* Copies v into *dst: a string, or absent/null (left NULL). Any other
 * type is the caller's 422, named by path. */
static int take_str(struct tg_ticket *t, const json_t *v, const char *path,
                    char **dst, char *err, size_t cap)
{
    if (!v || json_is_null(v))
        return TG_OK;
    if (!json_is_string(v)) {
        snprintf(err, cap, "%s must be a string", path);
        return TG_EINVAL;
    }
    *dst = tg_ticket_strdup(t, json_string_value(v));
    return *dst ? TG_OK : TG_ENOMEM;
}

/* An optional sub-object v (member key): absent/null gives NULL, anything
 * else but an object is an error. */
static int take_obj(const json_t *v, const char *key, const json_t **out,
                    char *err, size_t cap)
{
    *out = NULL;
    if (!v || json_is_null(v))
        return TG_OK;
    if (!json_is_object(v)) {
        snprintf(err, cap, "%s must be an object", key);
        return TG_EINVAL;
    }
    *out = v;
    return TG_OK;
}

static int take_beneficiary(const json_t *b, struct tg_ticket *t, char *err,
                            size_t cap)
{
    static const char *const names[] = {"id", "type"};
    const json_t *m[2];
    int rc;
    if (!b || json_is_null(b) || json_is_string(b))
        return take_str(t, b, "beneficiary", &t->beneficiary, err, cap);
    if (!json_is_object(b)) {
        snprintf(err, cap, "beneficiary must be a string or an object");
        return TG_EINVAL;
    }
    collect(b, names, 2, m);
    if ((rc = take_str(t, m[0], "beneficiary.id", &t->beneficiary, err, cap)))
        return rc;
    return take_str(t, m[1], "beneficiary.type", &t->beneficiary_type, err,
                    cap);
}

/* approver (one) and approvers (many, or one under the plural key). */
static int take_approvers(const json_t *one, const json_t *many,
                          struct tg_ticket *t, char *err, size_t cap)
{
    size_t i;
    const json_t *v;
    int rc;

    if (one && !json_is_null(one)) {
        if (!json_is_string(one)) {
            snprintf(err, cap, "approver must be a string");
            return TG_EINVAL;
        }
        if ((rc = tg_ticket_add_approver(t, json_string_value(one))))
            return rc;
    }
    if (!many || json_is_null(many))
        return TG_OK;
    if (json_is_string(many)) /* one approver given under the plural key */
        return tg_ticket_add_approver(t, json_string_value(many));
    if (!json_is_array(many)) {
        snprintf(err, cap, "approvers must be an array of strings");
        return TG_EINVAL;
    }
    json_array_foreach(many, i, v) {
        if (json_is_null(v))
            continue;
        if (!json_is_string(v)) {
            snprintf(err, cap, "approvers[%zu] must be a string", i);
            return TG_EINVAL;
        }
        if ((rc = tg_ticket_add_approver(t, json_string_value(v))))
            return rc;
    }
    return TG_OK;
}

/* names: {"<identity>": "<display name>", ...}, the display names an
 * adapter found in the payload (informational: messages name people by
 * them; nothing is resolved by them). A null name is skipped. */
static int take_names(const json_t *names, struct tg_ticket *t, char *err,
                      size_t cap)
{
    const json_t *v;
    const char *id;
    int rc;

    if (!names || json_is_null(names))
        return TG_OK;
    if (!json_is_object(names)) {
        snprintf(err, cap, "names must be an object of display names");
        return TG_EINVAL;
    }
    json_object_foreach((json_t *)names, id, v) {
        if (json_is_null(v))
            continue;
        if (!json_is_string(v)) {
            snprintf(err, cap,
                     "names must map each identity to a display name (a "
                     "string)");
            return TG_EINVAL;
        }
        if ((rc = tg_ticket_add_name(t, id, json_string_value(v))))
            return rc;
    }
    return TG_OK;
}

/* The ticket's top-level members, in the order collect fills m[]. */
enum member {
    M_ID, M_SOURCE, M_KIND, M_PROJECT, M_REQUESTER, M_BENEFICIARY, M_OWNER,
    M_APPROVER, M_APPROVERS, M_ASSIGNED, M_NAMES, M_JUSTIFICATION,
    M_EXPIRES, M_CREATED, M_TRANSITION, M_SCOPE, M_EMERGENCY, M_COUNT
};

static const char *const top_names[M_COUNT] = {
    "id", "source", "kind", "project", "requester", "beneficiary", "owner",
    "approver", "approvers", "assigned_approver", "names", "justification",
    "expires_at", "created_at", "transition", "scope", "emergency"};

/* transition and scope, each an optional object. */
static int take_transition_scope(const json_t *const *m, struct tg_ticket *t,
                                 char *err, size_t cap)
{
    static const char *const tr_names[] = {"from", "to", "actor"};
    static const char *const sc_names[] = {"system", "environment",
                                           "entitlement", "privilege"};
    const json_t *tr, *sc, *v[4];
    int rc;

    if ((rc = take_obj(m[M_TRANSITION], "transition", &tr, err, cap)))
        return rc;
    if (tr) {
        collect(tr, tr_names, 3, v);
        if ((rc = take_str(t, v[0], "transition.from", &t->from, err, cap)) ||
            (rc = take_str(t, v[1], "transition.to", &t->to, err, cap)) ||
            (rc = take_str(t, v[2], "transition.actor", &t->actor, err, cap)))
            return rc;
    }
    if ((rc = take_obj(m[M_SCOPE], "scope", &sc, err, cap)) || !sc)
        return rc;
    collect(sc, sc_names, 4, v);
    if ((rc = take_str(t, v[0], "scope.system", &t->system, err, cap)) ||
        (rc = take_str(t, v[1], "scope.environment", &t->environment, err,
                       cap)) ||
        (rc = take_str(t, v[2], "scope.entitlement", &t->entitlement, err,
                       cap)))
        return rc;
    return take_str(t, v[3], "scope.privilege", &t->privilege, err, cap);
}

/* Every member after the id checks, in the order their errors are told. */
static int take_members(const json_t *const *m, struct tg_ticket *t,
                        char *err, size_t cap)
{
    const json_t *em = m[M_EMERGENCY];
    int rc;

    /* Into t's block when its owner gave it one (tg_ticket_reserve). */
    if ((rc = take_str(t, m[M_ID], "id", &t->id, err, cap)) ||
        (rc = take_str(t, m[M_SOURCE], "source", &t->source, err, cap)) ||
        (rc = take_str(t, m[M_KIND], "kind", &t->kind, err, cap)) ||
        (rc = take_str(t, m[M_PROJECT], "project", &t->project, err, cap)) ||
        (rc = take_str(t, m[M_REQUESTER], "requester", &t->requester, err,
                       cap)) ||
        (rc = take_beneficiary(m[M_BENEFICIARY], t, err, cap)) ||
        (rc = take_str(t, m[M_OWNER], "owner", &t->owner, err, cap)) ||
        (rc = take_approvers(m[M_APPROVER], m[M_APPROVERS], t, err, cap)) ||
        (rc = take_str(t, m[M_ASSIGNED], "assigned_approver",
                       &t->assigned_approver, err, cap)) ||
        (rc = take_names(m[M_NAMES], t, err, cap)) ||
        (rc = take_str(t, m[M_JUSTIFICATION], "justification",
                       &t->justification, err, cap)) ||
        (rc = take_str(t, m[M_EXPIRES], "expires_at", &t->expires_at, err,
                       cap)) ||
        (rc = take_str(t, m[M_CREATED], "created_at", &t->created_at, err,
                       cap)) ||
        (rc = take_transition_scope(m, t, err, cap)))
        return rc;
    if (em && !json_is_null(em)) {
        if (!json_is_boolean(em)) {
            snprintf(err, cap, "emergency must be true or false");
            return TG_EINVAL;
        }
        t->emergency = json_is_true(em);
    }
    return TG_OK;
}

int tg_canonical_from_json(const json_t *obj, struct tg_ticket *t, char *err,
                           size_t cap)
{
    const json_t *m[M_COUNT], *id;
    int rc;

    err[0] = '\0';
    if (!json_is_object(obj)) {
        snprintf(err, cap, "the ticket must be a JSON object");
        return TG_EINVAL;
    }
    collect(obj, top_names, M_COUNT, m);
    id = m[M_ID];
    if (!id || json_is_null(id)) {
        snprintf(err, cap, "id is missing: every ticket needs its key");
        return TG_EINVAL;
    }
    if (!json_is_string(id) || json_string_length(id) == 0) {
        snprintf(err, cap, "id must be a non-empty string");
        return TG_EINVAL;
    }
    if ((rc = take_members(m, t, err, cap)) == TG_OK)
        return TG_OK;
    if (rc == TG_ENOMEM)
        snprintf(err, cap, "out of memory");
    tg_ticket_cleanup(t);
    return rc;
}

static int set_str(json_t *o, const char *k, const char *v)
{
    return v ? json_object_set_new(o, k, json_string(v)) : 0;
}

json_t *tg_canonical_to_json(const struct tg_ticket *t)
{
    json_t *o = json_object(), *tr = json_object(), *sc = json_object();
    json_t *ap = json_array();
    int bad = !o || !tr || !sc || !ap;
    if (bad)
        goto fail;
    bad |= set_str(o, "id", t->id) | set_str(o, "source", t->source) |
           set_str(o, "kind", t->kind) | set_str(o, "project", t->project);
    bad |= set_str(tr, "from", t->from) | set_str(tr, "to", t->to) |
           set_str(tr, "actor", t->actor);
    bad |= json_object_set(o, "transition", tr);
    bad |= set_str(o, "requester", t->requester);
    if (t->beneficiary_type && t->beneficiary) {
        json_t *b = json_pack("{s:s,s:s}", "id", t->beneficiary, "type",
                              t->beneficiary_type);
        bad |= !b || json_object_set_new(o, "beneficiary", b);
    } else {
        bad |= set_str(o, "beneficiary", t->beneficiary);
    }
    bad |= set_str(o, "owner", t->owner);
    for (size_t i = 0; i < t->n_approvers; i++)
        bad |= json_array_append_new(ap, json_string(t->approvers[i]));
    bad |= json_object_set(o, "approvers", ap);
    bad |= set_str(o, "justification", t->justification);
    bad |= set_str(sc, "system", t->system) |
           set_str(sc, "environment", t->environment) |
           set_str(sc, "entitlement", t->entitlement) |
           set_str(sc, "privilege", t->privilege);
    bad |= json_object_set(o, "scope", sc);
    bad |= set_str(o, "expires_at", t->expires_at);
    bad |= json_object_set_new(o, "emergency", json_boolean(t->emergency));
    bad |= set_str(o, "created_at", t->created_at);
    bad |= set_str(o, "assigned_approver", t->assigned_approver);
    if (t->n_names) {
        json_t *nm = json_object();
        for (size_t i = 0; nm && i < t->n_names; i++)
            bad |= json_object_set_new(nm, t->names[i].id,
                                       json_string(t->names[i].name));
        bad |= !nm || json_object_set_new(o, "names", nm);
    }
    if (bad)
        goto fail;
    json_decref(tr);
    json_decref(sc);
    json_decref(ap);
    return o;
fail:
    json_decref(o);
    json_decref(tr);
    json_decref(sc);
    json_decref(ap);
    return NULL;
}
