/* servicenow.c - ServiceNow approval events to the canonical ticket. */
#include "server/adapters/adapter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/adapters/fieldtext.h"
#include "server/adapters/gates.h"
#include "server/adapters/jsonfield.h"
#include "server/adapters/userid.h"
#include "server/auth/jwtauth.h"
#include "server/auth/stdwebhooks.h"
#include "server/util/strbuf.h"
#include "validators/errors.h"
#include "validators/identity.h"

int tg_servicenow_authenticate(const struct tg_config *c,
                               const struct tg_http_req *r, char **delivery_id)
{
    char *jti = NULL;
    int rc = tg_servicenow_authenticate_ids(c, r, delivery_id, &jti);

    if (rc == 0 && !*delivery_id) {
        *delivery_id = jti;
        jti = NULL;
    }
    free(jti);
    return rc;
}

int tg_servicenow_authenticate_ids(const struct tg_config *c,
                                   const struct tg_http_req *r,
                                   char **delivery_id, char **jti)
{
    const struct tg_servicenow_conf *sn = &c->servicenow;
    const char *auth = tg_req_header(r, "Authorization");
    const char *tok, *hook_id;
    size_t len;
    char *id = NULL;
    int rc;

    /* Either configured credential is enough (a Bearer JWT from the
     * business rule, or Standard Webhooks from a Flow or a relay). */
    if (sn->jwt.set && auth && tg_jwtauth_bearer(auth, &tok, &len) == 0) {
        rc = tg_jwtauth_verify(&sn->jwt, tok, len, r->now, &id);
        if (rc == 0) {
            /* A signed jti, not a delivery id: the body's event_id names
             * the delivery (http.c). */
            *delivery_id = NULL;
            *jti = id;
            return 0;
        }
        if (rc == TG_ENOMEM)
            return rc;
    }
    if (sn->standard_webhooks_secret && *sn->standard_webhooks_secret) {
        hook_id = tg_req_header(r, "webhook-id");
        rc = tg_webhook_auth_standard(sn->standard_webhooks_secret, hook_id,
                                      tg_req_header(r, "webhook-timestamp"),
                                      tg_req_header(r, "webhook-signature"),
                                      r->body, r->body_len, r->now);
        if (rc == TG_ENOMEM)
            return rc;
        if (rc == 0) {
            id = strdup(hook_id);
            if (!id)
                return TG_ENOMEM;
            *delivery_id = id;
            *jti = NULL;
            return 0;
        }
    }
    return TG_EAUTH;
}

/* ---- mapping ---- */

static const char *nonempty(const char *s)
{
    return s && *s ? s : NULL;
}

/* The identity of a ServiceNow user value (ADAPTERS.md "Identities"): a
 * string is one; a user object is matched by sys_id, user_name, email, and a
 * reference variable by value, display_value, the first that resolves
 * winning, else the first present. Borrowed from v, or NULL. */
static const char *sn_identity(const struct tg_directory *d, const json_t *v)
{
    /* User objects, then reference variables. */
    static const char *const keys[] = {"sys_id", "user_name", "email", "value",
                                       "display_value"};
    return tg_userid_pick(d, v, keys, sizeof keys / sizeof keys[0]);
}

/* sn_identity of v into *id, recording in names the display name v carries:
 * a user object's name, a reference's display_value. Returns 0 or
 * TG_ENOMEM. */
static int sn_person(const struct tg_directory *d, const json_t *v,
                     json_t *names, const char **id)
{
    static const char *const keys[] = {"name", "display_value"};

    *id = sn_identity(d, v);
    return tg_userid_note(
        names, *id, tg_userid_display(v, keys, sizeof keys / sizeof keys[0]));
}

/* The string a ServiceNow field value holds: a string as it is; an object
 * ({value, display_value}, {link, value}) its value when non-empty, else
 * its display_value, else its (empty) value. ADAPTERS.md: a display value
 * is the viewer's local time for a date and the label for a choice, so it
 * decides only when no value is given. Borrowed from v, or NULL. */
static const char *sn_value(const json_t *v)
{
    const char *s;

    if (json_is_string(v))
        return json_string_value(v);
    s = nonempty(tg_jsonfield_str(v, "value"));
    if (!s)
        s = tg_jsonfield_str(v, "display_value");
    return s ? s : tg_jsonfield_str(v, "value");
}

/* The text of a ServiceNow object value (the tg_fieldtext hook): its value,
 * else its display_value (sn_value). */
static int object_text(const struct tg_fieldtext *how, const json_t *v,
                       struct tg_strbuf *b, int *present)
{
    const char *s = sn_value(v);

    (void)how;
    if (!s)
        return 0;
    *present = 1;
    return tg_strbuf_putn(b, s, strlen(s));
}

/* How a variable value reads as text: a string as it is; an object its
 * value, else its display_value; a number its decimal form; a list the texts
 * joined with ", ". null and booleans give nothing. */
static const struct tg_fieldtext sn_text = {.object = object_text};

static int set_text(json_t *o, const char *k, const json_t *v)
{
    return tg_fieldtext_set(&sn_text, o, k, v);
}

/* ADAPTERS.md: true, yes, 1 (any case) mean an emergency. */
static int emergency_of(const json_t *v)
{
    const char *s;

    if (json_is_true(v))
        return 1;
    if (json_is_integer(v))
        return json_integer_value(v) == 1;
    /* Not an identity: value, else display_value (ADAPTERS.md). */
    s = sn_value(v);
    return tg_jsonfield_says_yes(s);
}

/* A gate of source servicenow selects the approval when one of its project
 * globs matches one of the catalog item's n names (see cat_item_names) and
 * the new state is in its `to` (both case-insensitive). issue_types do not
 * apply to ServiceNow. */
static int sn_gated(const struct tg_config *c, const char *const *item,
                    size_t n, const char *to, int *gated)
{
    const struct tg_gate_subject subject = {
        .source = "servicenow",
        .projects = item,
        .n_projects = n,
        .to = to,
        .issue_type = NULL,
    };

    return tg_gates_match(c, &subject, gated);
}

/* The catalog item's project (ADAPTERS.md `ritm.cat_item.name`): a string;
 * the business rule's {"name", "sys_id"}: its name, else (the item record
 * could not be read) its sys_id; a Table API reference
 * ({display_value, link, value}, {link, value}): its value (the sys_id),
 * else its display_value, which is the item's name translated into the
 * reader's language and so decides nothing while a value is there. */
static const char *cat_item_name(const json_t *ci)
{
    const char *s;

    if (json_is_string(ci))
        return json_string_value(ci);
    s = nonempty(tg_jsonfield_str(ci, "name"));
    if (!s)
        s = nonempty(tg_jsonfield_str(ci, "sys_id"));
    if (!s)
        s = nonempty(tg_jsonfield_str(ci, "value"));
    return s ? s : nonempty(tg_jsonfield_str(ci, "display_value"));
}

/* Every non-empty name the catalog item goes by, into item[0..3]: the
 * project first, then its name, sys_id, value and display_value. A gate may
 * name an item by name or by sys_id (the business rule's CATALOG_ITEMS takes
 * either and sends both), and a reader's translated display name only adds
 * a match: a gate never lets an item it names through unjudged because the
 * payload named it in another form. Returns the count. */
static size_t cat_item_names(const json_t *ci, const char *item[5])
{
    static const char *const keys[] = {"name", "sys_id", "value",
                                       "display_value"};
    size_t n = 0, k;
    const char *s = cat_item_name(ci);

    if (s)
        item[n++] = s;
    for (k = 0; json_is_object(ci) && k < sizeof keys / sizeof keys[0]; k++) {
        s = nonempty(tg_jsonfield_str(ci, keys[k]));
        if (s && s != item[0])
            item[n++] = s;
    }
    return n;
}

/* The non-empty string of member k of o, a plain string or a Table API
 * field ({value, display_value}: sn_value), or NULL. */
static const char *sn_str(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);

    return json_is_string(v) || json_is_object(v) ? nonempty(sn_value(v))
                                                  : NULL;
}

/* sn_str, or NULL with err naming path (tg_jsonfield_wrong). */
static const char *sn_need_str(const json_t *o, const char *k, const char *path,
                               char *err, size_t cap)
{
    const json_t *v = json_object_get(o, k);
    const char *s = sn_str(o, k);

    if (s)
        return s;
    /* A Table API field with an empty value is as absent as "". */
    if (json_is_object(v))
        tg_jsonfield_missing(err, cap, path);
    else
        tg_jsonfield_wrong(err, cap, v, path, "a string");
    return NULL;
}

/* Reads ritm, ritm.number, approval, approval.state and ritm.variables (an
 * object, or absent or null). Returns 0; TG_EINVAL with err naming the
 * path. */
static int sn_read(const json_t *body, const json_t **ritm,
                   const json_t **approval, const json_t **vars,
                   const char **number, const char **state, char *err,
                   size_t cap)
{
    *ritm = json_object_get(body, "ritm");
    if (!json_is_object(*ritm))
        return tg_jsonfield_missing(err, cap, "ritm");
    if (!(*number = sn_need_str(*ritm, "number", "ritm.number", err, cap)))
        return TG_EINVAL;
    *approval = json_object_get(body, "approval");
    if (!json_is_object(*approval))
        return tg_jsonfield_missing(err, cap, "approval");
    if (!(*state = sn_need_str(*approval, "state", "approval.state", err, cap)))
        return TG_EINVAL;
    *vars = json_object_get(*ritm, "variables");
    if (*vars && !json_is_null(*vars) && !json_is_object(*vars)) {
        if (err && cap)
            snprintf(err, cap, "ritm.variables must be an object");
        return TG_EINVAL;
    }
    return 0;
}

/* What the steps of one mapping share. */
struct sn_map {
    const struct tg_directory *d;
    const struct tg_field_map *V;
    const json_t *ritm, *approval, *vars;
    json_t *o;     /* the canonical ticket being built */
    json_t *names; /* identity -> display name */
};

/* transition {from, to, actor}, assigned_approver, requester and approver.
 * Returns 0, TG_ENOMEM or TG_ETOOBIG. */
static int map_people(const struct sn_map *m, const char *state)
{
    const struct tg_directory *d = m->d;
    const char *approver, *assigned, *s;
    json_t *o = m->o, *t = json_object();
    int rc = TG_ENOMEM;

    if (!t)
        return rc;
    /* ADAPTERS.md: the person judged is who acted (a delegate may approve
     * for the assigned approver); the assigned approver is kept beside them
     * when that is someone else. */
    if ((rc = sn_person(d, json_object_get(m->approval, "approver"), m->names,
                        &assigned)) ||
        (rc = sn_person(d, json_object_get(m->approval, "acted_by"), m->names,
                        &approver)))
        goto out;
    if (!approver) {
        approver = assigned;
        assigned = NULL;
    } else if (assigned && tg_ident_same(d, approver, assigned)) {
        assigned = NULL;
    }
    if (!approver &&
        (rc = sn_person(d, tg_jsonfield_mapped(m->vars, m->V->approver),
                        m->names, &approver)))
        goto out;
    if ((rc = tg_jsonfield_set_str(o, "assigned_approver", assigned)) ||
        (rc = tg_jsonfield_set_str(t, "from",
                                   sn_str(m->approval, "previous_state"))) ||
        (rc = tg_jsonfield_set_str(t, "to", state)) ||
        (rc = tg_jsonfield_set_str(t, "actor", approver)))
        goto out;
    rc = TG_ENOMEM;
    if (json_object_set(o, "transition", t))
        goto out;

    if ((rc = sn_person(d, json_object_get(m->ritm, "opened_by"), m->names,
                        &s)) ||
        (rc = tg_jsonfield_set_str(o, "requester", s)) ||
        (rc = tg_jsonfield_set_str(o, "approver", approver)))
        goto out;
    rc = 0;
out:
    json_decref(t);
    return rc;
}

/* beneficiary: a beneficiary variable when mapped (a service account
 * picked in the form), else requested_for; typed when a type is set. */
static int map_beneficiary(const struct sn_map *m)
{
    const char *s;
    char *btype = NULL;
    int rc;

    if ((rc = sn_person(m->d, tg_jsonfield_mapped(m->vars, m->V->beneficiary),
                        m->names, &s)))
        goto out;
    if ((!s || !*s) &&
        (rc = sn_person(m->d, json_object_get(m->ritm, "requested_for"),
                        m->names, &s)))
        goto out;
    if ((rc = tg_fieldtext_dup(
             &sn_text, tg_jsonfield_mapped(m->vars, m->V->beneficiary_type),
             &btype)))
        goto out;
    if (s && btype && *btype) {
        rc = TG_ENOMEM;
        if (json_object_set_new(m->o, "beneficiary",
                                json_pack("{s:s,s:s}", "id", s, "type",
                                          tg_userid_type_word(btype))))
            goto out;
        rc = 0;
    } else {
        rc = tg_jsonfield_set_str(m->o, "beneficiary", s);
    }
out:
    free(btype);
    return rc;
}

/* owner, justification, scope, expires_at, emergency and created_at. */
static int map_request(const struct sn_map *m)
{
    const struct tg_field_map *V = m->V;
    const json_t *vars = m->vars, *bv;
    const char *s;
    json_t *o = m->o, *scope = json_object();
    int rc = TG_ENOMEM;

    if (!scope)
        return rc;
    bv = tg_jsonfield_mapped(vars, V->owner);
    if (json_is_object(bv) || json_is_string(bv)) {
        if (!(rc = sn_person(m->d, bv, m->names, &s)))
            rc = tg_jsonfield_set_str(o, "owner", s);
    } else
        rc = set_text(o, "owner", bv);
    if (rc)
        goto out;

    if ((rc = set_text(o, "justification",
                       tg_jsonfield_mapped(vars, V->justification))) ||
        (rc =
             set_text(scope, "system", tg_jsonfield_mapped(vars, V->system))) ||
        (rc = set_text(scope, "environment",
                       tg_jsonfield_mapped(vars, V->environment))) ||
        (rc = set_text(scope, "entitlement",
                       tg_jsonfield_mapped(vars, V->entitlement))) ||
        (rc = set_text(scope, "privilege",
                       tg_jsonfield_mapped(vars, V->privilege))) ||
        (rc = set_text(o, "expires_at",
                       tg_jsonfield_mapped(vars, V->expires_at))))
        goto out;
    rc = TG_ENOMEM;
    if (json_object_set(o, "scope", scope) ||
        json_object_set_new(o, "emergency",
                            json_boolean(emergency_of(
                                tg_jsonfield_mapped(vars, V->emergency)))))
        goto out;
    s = sn_str(m->ritm, "opened_at");
    rc = tg_jsonfield_set_str(o, "created_at",
                              s ? s : sn_str(m->ritm, "sys_created_on"));
out:
    json_decref(scope);
    return rc;
}

int tg_servicenow_map(const struct tg_config *c, const json_t *body,
                      json_t **canonical, int *gated, char **event_id,
                      char *err, size_t cap)
{
    const json_t *approval = NULL, *ritm = NULL, *vars = NULL;
    const char *number = NULL, *state = NULL, *project, *s;
    const char *item[5];
    size_t n_item;
    json_t *o = NULL, *names = NULL;
    char *eid = NULL;
    int g, rc = TG_ENOMEM;

    if (!json_is_object(body)) {
        if (err && cap)
            snprintf(err, cap, "the body is not a JSON object");
        return TG_EINVAL;
    }
    if ((rc =
             sn_read(body, &ritm, &approval, &vars, &number, &state, err, cap)))
        return rc;
    project = cat_item_name(json_object_get(ritm, "cat_item"));
    n_item = cat_item_names(json_object_get(ritm, "cat_item"), item);

    rc = TG_ENOMEM;
    o = json_object();
    names = json_object();
    if (!o || !names)
        goto out;
    /* A requested item reaching an approval is an access request: which
     * catalog items are gated is the gates' projects. */
    if ((rc = tg_jsonfield_set_str(o, "id", number)) ||
        (rc = tg_jsonfield_set_str(o, "source", "servicenow")) ||
        (rc = tg_jsonfield_set_str(o, "kind", "access_request")) ||
        (rc = tg_jsonfield_set_str(o, "project", project)))
        goto out;
    {
        const struct sn_map m = {
            .d = &c->directory,
            .V = &c->servicenow.variables,
            .ritm = ritm,
            .approval = approval,
            .vars = vars,
            .o = o,
            .names = names,
        };
        if ((rc = map_people(&m, state)) || (rc = map_beneficiary(&m)) ||
            (rc = map_request(&m)))
            goto out;
    }
    rc = TG_ENOMEM;
    if (json_object_size(names) && json_object_set(o, "names", names))
        goto out;

    if ((rc = sn_gated(c, item, n_item, state, &g)))
        goto out;
    /* ADAPTERS.md: no status change is answered skip. */
    s = sn_str(approval, "previous_state");
    if (s && strcasecmp(s, state) == 0)
        g = 0;
    s = nonempty(tg_jsonfield_str(body, "event_id"));
    if (s && !(eid = strdup(s))) {
        rc = TG_ENOMEM;
        goto out;
    }
    *gated = g;
    *canonical = o;
    o = NULL;
    *event_id = eid;
    rc = 0;
out:
    if (rc == TG_ETOOBIG) {
        if (err && cap)
            snprintf(err, cap, "a variable of %s is too long", number);
        rc = TG_EINVAL;
    }
    json_decref(o);
    json_decref(names);
    return rc;
}
