/* servicenow.c - ServiceNow approval events to the canonical ticket. */
#include "adapter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../validators/errors.h"
#include "glob.h"
#include "jsonfield.h"
#include "jwtauth.h"
#include "strbuf.h"
#include "userid.h"
#include "webhook_auth.h"

/* Upper bound of one joined text value (a list variable). */
#define TEXT_MAX (4u << 20)

int tg_servicenow_authenticate(const struct tg_config *c,
                               const struct tg_http_req *r, char **delivery_id)
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
            *delivery_id = id;
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

/* Appends the text of a variable value: a string as it is; a reference its
 * display_value, else its value; a number its decimal form; a list the
 * texts joined with ", ". null and booleans give nothing. */
static int value_text(const json_t *v, struct tg_strbuf *b, int *present)
{
    char num[64];
    const json_t *e;
    const char *s;
    size_t i;
    int rc = 0, n;

    if (!v)
        return 0;
    switch (json_typeof(v)) {
    case JSON_STRING:
        *present = 1;
        return tg_strbuf_putn(b, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        n = snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT,
                     json_integer_value(v));
        if (n < 0 || (size_t)n >= sizeof num)
            return TG_EINVAL;
        *present = 1;
        return tg_strbuf_putn(b, num, (size_t)n);
    case JSON_REAL:
        n = snprintf(num, sizeof num, "%.15g", json_real_value(v));
        if (n < 0 || (size_t)n >= sizeof num)
            return TG_EINVAL;
        *present = 1;
        return tg_strbuf_putn(b, num, (size_t)n);
    case JSON_ARRAY:
        json_array_foreach(v, i, e)
        {
            struct tg_strbuf one = TG_STRBUF_INIT(TEXT_MAX);
            int p = 0;
            rc = value_text(e, &one, &p);
            if (!rc && p && one.n) {
                if (*present)
                    rc = tg_strbuf_putn(b, ", ", 2);
                if (!rc)
                    rc = tg_strbuf_putn(b, one.p, one.n);
                *present = 1;
            }
            free(one.p);
            if (rc)
                return rc;
        }
        return 0;
    case JSON_OBJECT:
        s = nonempty(tg_jsonfield_str(v, "display_value"));
        if (!s)
            s = tg_jsonfield_str(v, "value");
        if (!s)
            return 0;
        *present = 1;
        return tg_strbuf_putn(b, s, strlen(s));
    default:
        return 0;
    }
}

static int set_text(json_t *o, const char *k, const json_t *v)
{
    struct tg_strbuf b = TG_STRBUF_INIT(TEXT_MAX);
    int present = 0, rc = value_text(v, &b, &present);

    if (!rc && present)
        rc = tg_jsonfield_set_str(o, k, b.p ? b.p : "");
    free(b.p);
    return rc;
}

/* ADAPTERS.md: true, yes, 1 (any case) mean an emergency. */
static int emergency_of(const json_t *v)
{
    const char *s;

    if (json_is_true(v))
        return 1;
    if (json_is_integer(v))
        return json_integer_value(v) == 1;
    if (json_is_object(v)) {
        /* Not an identity: display_value, else value (ADAPTERS.md). */
        s = nonempty(tg_jsonfield_str(v, "display_value"));
        if (!s)
            s = tg_jsonfield_str(v, "value");
    } else {
        s = json_string_value(v);
    }
    return tg_jsonfield_says_yes(s);
}

/* A gate of source servicenow selects the approval when one of its project
 * globs matches the catalog item's name and the new state is in its `to`
 * (both case-insensitive). issue_types do not apply to ServiceNow. */
static int sn_gated(const struct tg_config *c, const char *project,
                    const char *to, int *gated)
{
    size_t g, i;

    *gated = 0;
    for (g = 0; g < c->n_gates; g++) {
        const struct tg_gate *gt = &c->gates[g];
        int pm = gt->n_projects == 0, tm = gt->n_to == 0;
        if (!gt->source || strcasecmp(gt->source, "servicenow") != 0)
            continue;
        for (i = 0; !pm && i < gt->n_projects; i++) {
            pm = project ? tg_glob_ci(gt->projects[i], project) : 0;
            if (pm < 0)
                return pm;
        }
        for (i = 0; !tm && i < gt->n_to; i++)
            tm = strcasecmp(gt->to[i], to) == 0;
        if (pm && tm) {
            *gated = 1;
            return 0;
        }
    }
    return 0;
}

/* The catalog item's name: {"name"}, a reference's display_value, or a
 * string. */
static const char *cat_item_name(const json_t *ci)
{
    const char *s;

    if (json_is_string(ci))
        return json_string_value(ci);
    s = nonempty(tg_jsonfield_str(ci, "name"));
    return s ? s : nonempty(tg_jsonfield_str(ci, "display_value"));
}

int tg_servicenow_map(const struct tg_config *c, const json_t *body,
                      json_t **canonical, int *gated, char **event_id,
                      char *err, size_t cap)
{
    const struct tg_directory *d = &c->directory;
    const struct tg_field_map *V = &c->servicenow.variables;
    const json_t *approval, *ritm, *vars, *bv;
    const char *number, *state, *project, *approver, *s;
    json_t *o = NULL, *t = NULL, *scope = NULL;
    char *eid = NULL;
    struct tg_strbuf bt = TG_STRBUF_INIT(TEXT_MAX);
    int g, present = 0, rc = TG_ENOMEM;

    if (!json_is_object(body)) {
        if (err && cap)
            snprintf(err, cap, "the body is not a JSON object");
        return TG_EINVAL;
    }
    ritm = json_object_get(body, "ritm");
    if (!json_is_object(ritm))
        return tg_jsonfield_missing(err, cap, "ritm");
    if (!(number =
              tg_jsonfield_need_str(ritm, "number", "ritm.number", err, cap)))
        return TG_EINVAL;
    approval = json_object_get(body, "approval");
    if (!json_is_object(approval))
        return tg_jsonfield_missing(err, cap, "approval");
    if (!(state = tg_jsonfield_need_str(approval, "state", "approval.state",
                                        err, cap)))
        return TG_EINVAL;
    project = cat_item_name(json_object_get(ritm, "cat_item"));
    vars = json_object_get(ritm, "variables");
    if (vars && !json_is_null(vars) && !json_is_object(vars)) {
        if (err && cap)
            snprintf(err, cap, "ritm.variables must be an object");
        return TG_EINVAL;
    }

    o = json_object();
    t = json_object();
    scope = json_object();
    if (!o || !t || !scope)
        goto out;
    /* A requested item reaching an approval is an access request: which
     * catalog items are gated is the gates' projects. */
    if ((rc = tg_jsonfield_set_str(o, "id", number)) ||
        (rc = tg_jsonfield_set_str(o, "source", "servicenow")) ||
        (rc = tg_jsonfield_set_str(o, "kind", "access_request")) ||
        (rc = tg_jsonfield_set_str(o, "project", project)))
        goto out;

    approver = sn_identity(d, json_object_get(approval, "approver"));
    if (!approver)
        approver = sn_identity(d, tg_jsonfield_mapped(vars, V->approver));
    if ((rc = tg_jsonfield_set_str(
             t, "from", tg_jsonfield_str(approval, "previous_state"))) ||
        (rc = tg_jsonfield_set_str(t, "to", state)) ||
        (rc = tg_jsonfield_set_str(t, "actor", approver)))
        goto out;
    rc = TG_ENOMEM;
    if (json_object_set(o, "transition", t))
        goto out;

    if ((rc = tg_jsonfield_set_str(
             o, "requester",
             sn_identity(d, json_object_get(ritm, "opened_by")))) ||
        (rc = tg_jsonfield_set_str(o, "approver", approver)))
        goto out;

    /* beneficiary: a beneficiary variable when mapped (a service account
     * picked in the form), else requested_for; typed when a type is set. */
    s = sn_identity(d, tg_jsonfield_mapped(vars, V->beneficiary));
    if (!s || !*s)
        s = sn_identity(d, json_object_get(ritm, "requested_for"));
    if ((rc = value_text(tg_jsonfield_mapped(vars, V->beneficiary_type), &bt,
                         &present)))
        goto out;
    if (s && present && bt.p && *bt.p) {
        rc = TG_ENOMEM;
        if (json_object_set_new(o, "beneficiary",
                                json_pack("{s:s,s:s}", "id", s, "type",
                                          tg_userid_type_word(bt.p))))
            goto out;
    } else if ((rc = tg_jsonfield_set_str(o, "beneficiary", s))) {
        goto out;
    }

    bv = tg_jsonfield_mapped(vars, V->owner);
    if (json_is_object(bv) || json_is_string(bv))
        rc = tg_jsonfield_set_str(o, "owner", sn_identity(d, bv));
    else
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
    s = nonempty(tg_jsonfield_str(ritm, "opened_at"));
    if ((rc = tg_jsonfield_set_str(
             o, "created_at",
             s ? s : nonempty(tg_jsonfield_str(ritm, "sys_created_on")))))
        goto out;

    if ((rc = sn_gated(c, project, state, &g)))
        goto out;
    /* ADAPTERS.md: no status change is answered skip. */
    s = nonempty(tg_jsonfield_str(approval, "previous_state"));
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
    json_decref(t);
    json_decref(scope);
    free(bt.p);
    return rc;
}
