/* jira.c - Jira webhooks and validator calls to the canonical ticket. */
#include "server/adapters/adapter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/adapters/fieldtext.h"
#include "server/adapters/gates.h"
#include "server/adapters/jsonfield.h"
#include "server/adapters/userid.h"
#include "server/auth/connect.h"
#include "server/auth/hubsig.h"
#include "server/util/strbuf.h"
#include "validators/errors.h"
#include "validators/identity.h"

/* The path the Connect qsh is computed over (ADAPTERS.md): fixed, so that a
 * proxy's prefix or a trailing slash cannot change what is signed. */
#define JIRA_PATH "/v1/webhooks/jira"
/* ADF deeper than this is not read further: real documents nest a handful
 * of levels, and the walk is recursive. */
#define ADF_MAX_DEPTH 48

int tg_jira_authenticate(const struct tg_config *c, const struct tg_http_req *r,
                         char **delivery_id)
{
    char *jti = NULL;
    int rc = tg_jira_authenticate_ids(c, r, delivery_id, &jti);

    if (rc == 0 && !*delivery_id) {
        *delivery_id = jti;
        jti = NULL;
    }
    free(jti);
    return rc;
}

int tg_jira_authenticate_ids(const struct tg_config *c,
                             const struct tg_http_req *r, char **delivery_id,
                             char **jti_out)
{
    const struct tg_jira_conf *j = &c->jira;
    const char *auth, *hook_id;
    char *jti = NULL, *id = NULL;
    int ok = 0, rc;

    /* Either configured credential is enough: an instance may move from
     * plain webhooks to a Connect app without a flag day. */
    auth = tg_req_header(r, "Authorization");
    if (j->connect_shared_secret && *j->connect_shared_secret && auth &&
        strncasecmp(auth, "JWT ", 4) == 0) {
        const char *tok = auth + 4;
        size_t len;
        while (*tok == ' ')
            tok++;
        len = strlen(tok);
        while (len && tok[len - 1] == ' ')
            len--;
        rc = tg_webhook_auth_connect(
            j->connect_shared_secret, tok, len, r->method ? r->method : "POST",
            JIRA_PATH, r->query, r->now, c->server.max_token_lifetime_s, &jti);
        if (rc == TG_ENOMEM)
            return rc;
        ok = rc == 0;
    }
    if (!ok && j->hmac_secret && *j->hmac_secret) {
        rc = tg_webhook_auth_hub_signature(
            j->hmac_secret, strlen(j->hmac_secret),
            tg_req_header(r, "X-Hub-Signature"), r->body, r->body_len);
        if (rc == TG_ENOMEM)
            return rc;
        ok = rc == 0;
    }
    if (!ok) {
        free(jti);
        return TG_EAUTH;
    }
    hook_id = tg_req_header(r, "X-Atlassian-Webhook-Identifier");
    if (hook_id && *hook_id) {
        id = strdup(hook_id);
        if (!id) {
            free(jti);
            return TG_ENOMEM;
        }
    }
    *delivery_id = id;
    *jti_out = jti;
    return 0;
}

/* ---- text building ---- */

/* The identity of a Jira user value (ADAPTERS.md "Identities"): a string is
 * one; a user object is matched by accountId (Cloud), key, name,
 * emailAddress (Data Center) in turn, the first that resolves winning, else
 * the first present; an option gives its value. Borrowed from v, or NULL. */
static const char *user_identity(const struct tg_directory *d, const json_t *v)
{
    /* Cloud first, then Data Center; an option's value last. */
    static const char *const keys[] = {"accountId", "key", "name",
                                       "emailAddress", "value"};
    return tg_userid_pick(d, v, keys, sizeof keys / sizeof keys[0]);
}

/* user_identity of v into *id, recording in names the displayName a Jira
 * user object carries (Cloud and Data Center alike). Returns 0 or
 * TG_ENOMEM. */
static int user_named(const struct tg_directory *d, const json_t *v,
                      json_t *names, const char **id)
{
    static const char *const keys[] = {"displayName"};

    *id = user_identity(d, v);
    return tg_userid_note(names, *id, tg_userid_display(v, keys, 1));
}

static int is_user_object(const json_t *v)
{
    return json_is_object(v) &&
           (json_object_get(v, "accountId") || json_object_get(v, "key") ||
            json_object_get(v, "emailAddress") ||
            (json_object_get(v, "name") && !json_object_get(v, "value")));
}

static int is_inline_adf(const char *type)
{
    static const char *const inl[] = {"text",   "hardBreak",   "mention",
                                      "emoji",  "inlineCard",  "date",
                                      "status", "placeholder", "mediaInline"};
    size_t i;

    for (i = 0; type && i < sizeof inl / sizeof inl[0]; i++)
        if (strcmp(type, inl[i]) == 0)
            return 1;
    return 0;
}

/* Appends the text of an Atlassian Document Format node: text nodes as they
 * are, block nodes (paragraphs, headings, list items, ...) on lines of their
 * own, so the words of two paragraphs never run together. */
static int adf_text(const json_t *node, struct tg_strbuf *b, int depth)
{
    const char *type = tg_jsonfield_str(node, "type");
    const json_t *attrs = json_object_get(node, "attrs");
    const json_t *content, *child;
    size_t i;
    int rc = 0;

    if (depth > ADF_MAX_DEPTH || !json_is_object(node))
        return 0;
    if (type && strcmp(type, "text") == 0 && tg_jsonfield_str(node, "text"))
        rc = tg_strbuf_puts(b, tg_jsonfield_str(node, "text"));
    else if (type && strcmp(type, "hardBreak") == 0)
        rc = tg_strbuf_puts(b, "\n");
    else if (type &&
             (strcmp(type, "mention") == 0 || strcmp(type, "emoji") == 0 ||
              strcmp(type, "status") == 0) &&
             tg_jsonfield_str(attrs, "text"))
        rc = tg_strbuf_puts(b, tg_jsonfield_str(attrs, "text"));
    else if (type && strcmp(type, "inlineCard") == 0 &&
             tg_jsonfield_str(attrs, "url"))
        rc = tg_strbuf_puts(b, tg_jsonfield_str(attrs, "url"));
    if (rc)
        return rc;
    content = json_object_get(node, "content");
    json_array_foreach(content, i, child)
    {
        if (!is_inline_adf(tg_jsonfield_str(child, "type")) && b->n &&
            b->p[b->n - 1] != '\n' && (rc = tg_strbuf_puts(b, "\n")))
            return rc;
        if ((rc = adf_text(child, b, depth + 1)))
            return rc;
    }
    return 0;
}

static int is_adf(const json_t *v)
{
    const char *t = tg_jsonfield_str(v, "type");
    return t && strcmp(t, "doc") == 0 &&
           json_is_array(json_object_get(v, "content"));
}

/* The text of a Jira object value (ADAPTERS.md "Field values", the
 * tg_fieldtext hook): an ADF document its text; an option its value; a user
 * its identity. Other objects give nothing. */
static int object_text(const struct tg_fieldtext *how, const json_t *v,
                       struct tg_strbuf *b, int *present)
{
    int rc;

    if (is_adf(v)) {
        size_t start = b->n;
        *present = 1;
        rc = adf_text(v, b, 0);
        /* Trailing line breaks are layout, not content. */
        while (!rc && b->n > start &&
               (b->p[b->n - 1] == '\n' || b->p[b->n - 1] == ' '))
            b->p[--b->n] = '\0';
        return rc;
    }
    if (json_object_get(v, "value"))
        return tg_fieldtext_append(how, json_object_get(v, "value"), b,
                                   present);
    if (is_user_object(v)) {
        const char *s = user_identity(how->dir, v);
        if (!s)
            return 0;
        *present = 1;
        return tg_strbuf_puts(b, s);
    }
    return 0;
}

/* The text of v as a new string (caller frees), or NULL when absent. */
static int text_of(const struct tg_directory *d, const json_t *v, char **out)
{
    const struct tg_fieldtext how = {.object = object_text, .dir = d};

    return tg_fieldtext_dup(&how, v, out);
}

/* Sets key k of o to the text of field value v, when there is one. */
static int set_text(const struct tg_directory *d, json_t *o, const char *k,
                    const json_t *v)
{
    const struct tg_fieldtext how = {.object = object_text, .dir = d};

    return tg_fieldtext_set(&how, o, k, v);
}

/* ADAPTERS.md: a checkbox list with anything ticked, or an option other
 * than no/false, means an emergency. Beyond it, for Automation bodies and
 * boolean custom fields: true, a non-zero number, or the strings
 * yes/true/1. */
static int emergency_of(const json_t *v)
{
    const char *s;

    if (json_is_array(v))
        return json_array_size(v) > 0;
    if (json_is_true(v))
        return 1;
    if (json_is_integer(v))
        return json_integer_value(v) != 0;
    if (json_is_object(v)) {
        s = tg_jsonfield_str(v, "value");
        return s && *s && !tg_jsonfield_is_word(s, "no") &&
               !tg_jsonfield_is_word(s, "false");
    }
    s = json_string_value(v);
    return tg_jsonfield_says_yes(s);
}

/* Appends identity s to array a unless already there. */
static int add_identity(json_t *a, const char *s)
{
    const json_t *e;
    size_t i;

    if (!s || !*s)
        return 0;
    json_array_foreach(a, i,
                       e) if (strcmp(json_string_value(e), s) == 0) return 0;
    return json_array_append_new(a, json_string(s)) ? TG_ENOMEM : 0;
}

/* Appends the identity of user value v to a (add_identity), recording its
 * display name in names. */
static int add_user(const struct tg_directory *d, json_t *a, json_t *names,
                    const json_t *v)
{
    const char *id;
    int rc = user_named(d, v, names, &id);

    return rc ? rc : add_identity(a, id);
}

/* ADAPTERS.md approver(s): JSM approvers who approved; else the approver
 * field (one user or several); else the user who made the transition. */
static int collect_approvers(const struct tg_config *c, const json_t *fields,
                             const json_t *user, json_t *a, json_t *names)
{
    const struct tg_directory *d = &c->directory;
    const json_t *approvals =
        tg_jsonfield_mapped(fields, c->jira.fields.approvals);
    const json_t *ap, *v, *e;
    size_t i, k;
    int rc;

    json_array_foreach(approvals, i, ap)
    {
        json_array_foreach(json_object_get(ap, "approvers"), k, e)
        {
            if (!tg_jsonfield_is_word(tg_jsonfield_str(e, "approverDecision"),
                                      "approved"))
                continue;
            if ((rc = add_user(d, a, names, json_object_get(e, "approver"))))
                return rc;
        }
    }
    if (json_array_size(a))
        return 0;
    v = tg_jsonfield_mapped(fields, c->jira.fields.approver);
    if (json_is_array(v)) {
        json_array_foreach(v, i,
                           e) if ((rc = add_user(d, a, names, e))) return rc;
    } else if ((rc = add_user(d, a, names, v))) {
        return rc;
    }
    if (json_array_size(a))
        return 0;
    return add_user(d, a, names, user);
}

/* An identity-valued field (owner, beneficiary): a user, a string, an
 * option; a list of users gives their identities joined with ", ", which
 * resolves to nobody and so is reported, not silently narrowed to one. */
static int identity_text(const struct tg_directory *d, const json_t *v,
                         json_t *names, char **out)
{
    const char *s;
    int rc;

    /* An empty string (an Automation smart value that was empty) names no
     * one, so that the mapping's fallback applies. */
    *out = NULL;
    if (json_is_string(v) && !tg_ident_present(json_string_value(v)))
        return 0;
    if (!json_is_array(v)) {
        if ((rc = user_named(d, v, names, &s)))
            return rc;
        if (!s)
            return text_of(d, v, out);
        *out = strdup(s);
        return *out ? 0 : TG_ENOMEM;
    }
    return text_of(d, v, out);
}

/* The status name of a validator call's transition.from / .to: a string or
 * an object with a name. */
static const char *status_name(const json_t *v)
{
    if (json_is_string(v))
        return json_string_value(v);
    return tg_jsonfield_str(v, "name");
}

/* A gate selects the delivery when its source is jira, one of its project
 * globs matches (case-insensitive), the target status is one of its `to`
 * (case-insensitive, as Jira status names are unique regardless of case),
 * and the issue is an access request of one of its issue_types, if any. */
static int jira_gated(const struct tg_config *c, const char *project,
                      const char *to, const char *itype, int access, int *gated)
{
    const struct tg_gate_subject subject = {
        .source = "jira",
        .projects = &project,
        .n_projects = project ? 1 : 0,
        .to = to,
        .issue_type = itype,
    };

    *gated = 0;
    if (!access)
        return 0;
    return tg_gates_match(c, &subject, gated);
}

/* Finds the status item of a webhook's changelog: fieldId "status" (Cloud),
 * or, where fieldId is absent or null (Data Center), field "status" of
 * fieldtype "jira" when a type is given: a custom field that its admins
 * named "Status" (fieldtype "custom") is no status change. */
static const json_t *status_item(const json_t *body)
{
    const json_t *items =
        json_object_get(json_object_get(body, "changelog"), "items");
    const json_t *it;
    size_t i;

    json_array_foreach(items, i, it)
    {
        const json_t *fid = json_object_get(it, "fieldId");
        const char *field = tg_jsonfield_str(it, "field");
        const json_t *ftype = json_object_get(it, "fieldtype");

        if (fid && !json_is_null(fid)) {
            if (json_is_string(fid) &&
                strcmp(json_string_value(fid), "status") == 0)
                return it;
        } else if (field && strcmp(field, "status") == 0 &&
                   (!ftype || json_is_null(ftype) ||
                    tg_jsonfield_is_word(json_string_value(ftype), "jira"))) {
            return it;
        }
    }
    return NULL;
}

/* Reads the transition: a webhook's changelog status item, or a validator
 * call's transition.from / .to. *skip is set (and nothing else) for a
 * webhook that is no status change of an issue. Returns 0; TG_EINVAL with
 * err naming the missing path. */
static int jira_transition(const json_t *body, const char **from,
                           const char **to, int *skip, char *err, size_t cap)
{
    const json_t *item, *tr, *v;

    *skip = 0;
    if (json_object_get(body, "webhookEvent")) {
        /* Only a status change of an issue is a transition to gate; every
         * other delivery is answered skip, and needs no mapping. */
        if (!tg_jsonfield_is_word(tg_jsonfield_str(body, "webhookEvent"),
                                  "jira:issue_updated") ||
            !(item = status_item(body))) {
            *skip = 1;
            return 0;
        }
        *from = tg_jsonfield_str(item, "fromString");
        *to = tg_jsonfield_str(item, "toString");
        if (!*to)
            return tg_jsonfield_missing(err, cap,
                                        "changelog.items[status].toString");
        return 0;
    }
    tr = json_object_get(body, "transition");
    if (!json_is_object(tr))
        return tg_jsonfield_wrong(err, cap, tr, "transition", "an object");
    *from = status_name(json_object_get(tr, "from"));
    v = json_object_get(tr, "to");
    *to = status_name(v);
    if (!*to || !**to)
        return json_is_object(v)
                   ? tg_jsonfield_missing(err, cap, "transition.to.name")
                   : tg_jsonfield_wrong(
                         err, cap, v, "transition.to",
                         "a status name or an object with a name");
    return 0;
}

/* Reads issue.key, issue.fields and its project key and issue type name.
 * Returns 0; TG_EINVAL with err naming the missing path. */
static int jira_issue(const json_t *body, const char **key,
                      const json_t **fields, const char **project,
                      const char **itype, char *err, size_t cap)
{
    const json_t *issue = json_object_get(body, "issue");

    if (!json_is_object(issue))
        return tg_jsonfield_missing(err, cap, "issue");
    if (!(*key = tg_jsonfield_need_str(issue, "key", "issue.key", err, cap)))
        return TG_EINVAL;
    *fields = json_object_get(issue, "fields");
    if (!json_is_object(*fields))
        return tg_jsonfield_missing(err, cap, "issue.fields");
    if (!(*project =
              tg_jsonfield_need_str(json_object_get(*fields, "project"), "key",
                                    "issue.fields.project.key", err, cap)))
        return TG_EINVAL;
    if (!(*itype = tg_jsonfield_need_str(json_object_get(*fields, "issuetype"),
                                         "name", "issue.fields.issuetype.name",
                                         err, cap)))
        return TG_EINVAL;
    return 0;
}

/* What the steps of one mapping share. */
struct jira_map {
    const struct tg_config *c;
    const struct tg_directory *d;
    const struct tg_field_map *F;
    const json_t *fields; /* issue.fields */
    const json_t *user;   /* who made the transition */
    json_t *o;            /* the canonical ticket being built */
    json_t *names;        /* identity -> display name */
};

/* transition {from, to, actor} and requester. Returns 0, TG_ENOMEM or
 * TG_ETOOBIG. */
static int map_transition(const struct jira_map *m, const char *from,
                          const char *to)
{
    json_t *t = json_object();
    const char *id;
    int rc = TG_ENOMEM;

    if (!t)
        return rc;
    if ((rc = user_named(m->d, m->user, m->names, &id)) ||
        (rc = tg_jsonfield_set_str(t, "from", from)) ||
        (rc = tg_jsonfield_set_str(t, "to", to)) ||
        (rc = tg_jsonfield_set_str(t, "actor", id)))
        goto out;
    rc = TG_ENOMEM;
    if (json_object_set(m->o, "transition", t))
        goto out;

    if ((rc = user_named(m->d, json_object_get(m->fields, "reporter"), m->names,
                         &id)) ||
        (rc = tg_jsonfield_set_str(m->o, "requester", id)))
        goto out;
    rc = 0;
out:
    json_decref(t);
    return rc;
}

/* beneficiary: the field, else the reporter; typed when a type is set. */
static int map_beneficiary(const struct jira_map *m)
{
    const struct tg_directory *d = m->d;
    char *s = NULL, *btype = NULL;
    int rc;

    if ((rc = text_of(d, tg_jsonfield_mapped(m->fields, m->F->beneficiary_type),
                      &btype)))
        goto out;
    if ((rc =
             identity_text(d, tg_jsonfield_mapped(m->fields, m->F->beneficiary),
                           m->names, &s)))
        goto out;
    if (!s) {
        const char *rep =
            user_identity(d, json_object_get(m->fields, "reporter"));
        if (rep && !(s = strdup(rep))) {
            rc = TG_ENOMEM;
            goto out;
        }
    }
    if (s && btype && *btype) {
        rc = TG_ENOMEM;
        if (json_object_set_new(m->o, "beneficiary",
                                json_pack("{s:s,s:s}", "id", s, "type",
                                          tg_userid_type_word(btype))))
            goto out;
        rc = 0;
    } else if ((rc = tg_jsonfield_set_str(m->o, "beneficiary", s))) {
        goto out;
    }
out:
    free(s);
    free(btype);
    return rc;
}

/* owner, and approver (one) or approvers (several). */
static int map_owner_approvers(const struct jira_map *m)
{
    json_t *apv = json_array();
    char *s = NULL;
    int rc = TG_ENOMEM;

    if (!apv)
        return rc;
    if ((rc = identity_text(m->d, tg_jsonfield_mapped(m->fields, m->F->owner),
                            m->names, &s)) ||
        (rc = tg_jsonfield_set_str(m->o, "owner", s)))
        goto out;

    if ((rc = collect_approvers(m->c, m->fields, m->user, apv, m->names)))
        goto out;
    rc = TG_ENOMEM;
    if (json_array_size(apv) == 1) {
        if (json_object_set(m->o, "approver", json_array_get(apv, 0)))
            goto out;
    } else if (json_array_size(apv) > 1) {
        if (json_object_set(m->o, "approvers", apv))
            goto out;
    }
    rc = 0;
out:
    free(s);
    json_decref(apv);
    return rc;
}

/* justification, scope, expires_at, emergency and created_at. */
static int map_request(const struct jira_map *m)
{
    const struct tg_directory *d = m->d;
    const struct tg_field_map *F = m->F;
    const json_t *fields = m->fields;
    json_t *o = m->o, *scope = json_object();
    int rc = TG_ENOMEM;

    if (!scope)
        return rc;
    if ((rc = set_text(d, o, "justification",
                       tg_jsonfield_mapped(fields, F->justification))) ||
        (rc = set_text(d, scope, "system",
                       tg_jsonfield_mapped(fields, F->system))) ||
        (rc = set_text(d, scope, "environment",
                       tg_jsonfield_mapped(fields, F->environment))) ||
        (rc = set_text(d, scope, "entitlement",
                       tg_jsonfield_mapped(fields, F->entitlement))) ||
        (rc = set_text(d, scope, "privilege",
                       tg_jsonfield_mapped(fields, F->privilege))) ||
        (rc = set_text(d, o, "expires_at",
                       tg_jsonfield_mapped(fields, F->expires_at))))
        goto out;
    rc = TG_ENOMEM;
    if (json_object_set(o, "scope", scope))
        goto out;

    if (json_object_set_new(o, "emergency",
                            json_boolean(emergency_of(
                                tg_jsonfield_mapped(fields, F->emergency)))))
        goto out;
    rc = tg_jsonfield_set_str(o, "created_at",
                              tg_jsonfield_str(fields, "created"));
out:
    json_decref(scope);
    return rc;
}

int tg_jira_map(const struct tg_config *c, const json_t *body,
                json_t **canonical, int *gated, char *err, size_t cap)
{
    const json_t *fields = NULL;
    const char *key = NULL, *project = NULL, *itype = NULL, *from = NULL,
               *to = NULL;
    json_t *o = NULL, *names = NULL;
    int access, g, skip, rc = TG_ENOMEM;

    if (!json_is_object(body)) {
        if (err && cap)
            snprintf(err, cap, "the body is not a JSON object");
        return TG_EINVAL;
    }
    if ((rc = jira_transition(body, &from, &to, &skip, err, cap)))
        return rc;
    if (skip) {
        *canonical = NULL;
        *gated = 0;
        return 0;
    }
    if ((rc = jira_issue(body, &key, &fields, &project, &itype, err, cap)))
        return rc;
    access = tg_gates_in_list(c->jira.access_issue_types,
                              c->jira.n_access_issue_types, itype);

    rc = TG_ENOMEM;
    o = json_object();
    names = json_object();
    if (!o || !names)
        goto out;
    if ((rc = tg_jsonfield_set_str(o, "id", key)) ||
        (rc = tg_jsonfield_set_str(o, "source", "jira")) ||
        (rc = tg_jsonfield_set_str(o, "kind",
                                   access ? "access_request" : "other")) ||
        (rc = tg_jsonfield_set_str(o, "project", project)))
        goto out;
    {
        const struct jira_map m = {
            .c = c,
            .d = &c->directory,
            .F = &c->jira.fields,
            .fields = fields,
            .user = json_object_get(body, "user"),
            .o = o,
            .names = names,
        };
        if ((rc = map_transition(&m, from, to)) || (rc = map_beneficiary(&m)) ||
            (rc = map_owner_approvers(&m)) || (rc = map_request(&m)))
            goto out;
    }
    rc = TG_ENOMEM;
    if (json_object_size(names) && json_object_set(o, "names", names))
        goto out;

    if ((rc = jira_gated(c, project, to, itype, access, &g)))
        goto out;
    *gated = g;
    *canonical = o;
    o = NULL;
    rc = 0;
out:
    if (rc == TG_ETOOBIG) {
        if (err && cap)
            snprintf(err, cap, "a field of issue %s is too long", key);
        rc = TG_EINVAL;
    }
    json_decref(o);
    json_decref(names);
    return rc;
}
