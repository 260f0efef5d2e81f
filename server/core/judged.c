/* judged.c - the judged ticket: what was judged, who is who, and why an
 * approver could approve (issue 13: the auditor's four questions). */
#include "server/core/judged.h"

#include <string.h>

#include "server/core/canonical.h"
#include "validators/authority.h"
#include "validators/identity.h"
#include "validators/timeparse.h"

/* Sets o[k] = v, taking v's reference; -1 when v is NULL (ENOMEM). Keys
 * are our own ASCII literals. */
static int put(json_t *o, const char *k, json_t *v)
{
    return v ? json_object_set_new_nocheck(o, k, v) : -1;
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* What kind of identity e is, in the words of the evidence. */
static const char *kind_of(const struct tg_directory *d, const char *s,
                           struct tg_entity e)
{
    if (!tg_ident_present(s))
        return "absent";
    if (e.kind == TG_ENT_GROUP)
        return "group";
    if (e.kind == TG_ENT_PERSON) {
        switch (d->people[e.idx].type) {
        case TG_TYPE_SHARED:
            return "shared";
        case TG_TYPE_SERVICE:
            return "service";
        default:
            return "person";
        }
    }
    return tg_directory_is_generic(d, s, strlen(s)) ? "generic" : "unknown";
}

/* {"given", "resolved", "kind"?, "name"?, "inactive"?} of s (may be
 * NULL), resolved as the validators resolve it (tg_directory_resolve).
 * "kind" is left out for a person, the common case: a record then packs
 * two to a 4 KB SQLite page (issue 13's storage bound). */
static json_t *identity(const struct tg_directory *d, const char *s)
{
    struct tg_entity e = {TG_ENT_NONE, 0};
    const char *resolved = NULL, *name = NULL;
    json_t *o = json_object();
    int bad = !o;

    if (s)
        e = tg_directory_resolve(d, s, strlen(s));
    if (e.kind == TG_ENT_PERSON) {
        resolved = d->people[e.idx].id;
        name = d->people[e.idx].name;
    } else if (e.kind == TG_ENT_GROUP)
        resolved = d->groups[e.idx].id;
    bad = bad || put(o, "given", str_or_null(s)) ||
          put(o, "resolved", str_or_null(resolved)) ||
          (strcmp(kind_of(d, s, e), "person") &&
           put(o, "kind", json_string_nocheck(kind_of(d, s, e)))) ||
          (name && put(o, "name", json_string(name))) ||
          (e.kind == TG_ENT_PERSON && d->people[e.idx].inactive &&
           put(o, "inactive", json_true()));
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* "YYYY-MM-DD" of UTC second t into buf (11 bytes or more). */
static json_t *day(int64_t t)
{
    char buf[32];

    if (tg_time_format(t, buf, sizeof(buf)) != 0)
        return json_null();
    buf[10] = '\0';
    return json_string_nocheck(buf);
}

static const char *status_name(enum tg_auth_status s)
{
    switch (s) {
    case TG_AUTH_HOLDS:
        return "holds";
    case TG_AUTH_TIER:
        return "below_tier";
    case TG_AUTH_NONE:
        return "none";
    default:
        return "not_judged";
    }
}

/* The grant listing's details: its group and its max_privilege. */
static int listing(json_t *o, const struct tg_directory *d,
                   const struct tg_authority *a, enum tg_basis b)
{
    if (b == TG_BASIS_GROUP && put(o, "group", json_string(d->groups[a->group].id)))
        return -1;
    if (a->has_tier &&
        put(o, "max_privilege",
            json_string_nocheck(tg_privilege_name(a->max_privilege))))
        return -1;
    return 0;
}

/* {"basis", "result", "why"?, "system"?, "requested", ...details}. */
static json_t *authority(const struct tg_directory *d,
                         const struct tg_authority *a)
{
    json_t *o = json_object();
    int bad = !o;

    bad = bad || put(o, "basis", json_string_nocheck(tg_basis_name(a->basis))) ||
          put(o, "result", json_string_nocheck(status_name(a->status))) ||
          (a->why && put(o, "why", json_string_nocheck(a->why))) ||
          (a->system >= 0 &&
           put(o, "system", json_string(d->systems[a->system].id))) ||
          put(o, "requested",
              json_string_nocheck(tg_privilege_name(a->requested)));
    if (!bad && a->basis == TG_BASIS_DELEGATE)
        bad = put(o, "delegator",
                  json_string(d->people[a->delegator].id)) ||
              put(o, "from", day(a->from)) || put(o, "until", day(a->until)) ||
              put(o, "via", json_string_nocheck(tg_basis_name(a->via))) ||
              listing(o, d, a, a->via);
    else if (!bad)
        bad = listing(o, d, a, a->basis);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* Approver i with its authority; the first (who acted) carries the
 * ServiceNow assigned approver when another person acted for them. */
static json_t *approver(const struct tg_ticket *t, const struct tg_policy *p,
                        const struct tg_directory *d, int64_t now, size_t i,
                        const char *at)
{
    json_t *o = identity(d, t->approvers[i]);
    struct tg_authority a;
    int bad = !o;

    tg_authority_judge(t, p, d, now, i, &a);
    bad = bad || put(o, "at", json_string_nocheck(at)) ||
          (i == 0 && t->assigned_approver &&
           put(o, "assigned", identity(d, t->assigned_approver))) ||
          put(o, "authority", authority(d, &a));
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *identities(const struct tg_ticket *t, const struct tg_policy *p,
                          const struct tg_directory *d, int64_t now)
{
    json_t *o = json_object(), *ap = json_array(), *ben = NULL;
    char at[32];
    int bad = !o || !ap;

    if (tg_time_format(now, at, sizeof(at)) != 0)
        memcpy(at, "1970-01-01T00:00:00Z", 21);
    /* No beneficiary named: the requester receives the access. */
    ben = identity(d, t->beneficiary ? t->beneficiary : t->requester);
    bad = bad || !ben ||
          put(ben, "type",
              json_string_nocheck(tg_beneficiary_type(t, d))) ||
          (!t->beneficiary && put(ben, "from_requester", json_true()));
    for (size_t i = 0; !bad && i < t->n_approvers; i++)
        bad = json_array_append_new(ap, approver(t, p, d, now, i, at)) != 0;
    bad = bad || put(o, "requester", identity(d, t->requester)) ||
          put(o, "beneficiary", json_incref(ben)) ||
          put(o, "owner", identity(d, t->owner)) ||
          put(o, "approvers", json_incref(ap)) ||
          /* An assigned approver with nobody acting (a generic ticket may
           * say so): kept all the same. */
          (t->assigned_approver && !t->n_approvers &&
           put(o, "assigned_approver", identity(d, t->assigned_approver)));
    json_decref(ben);
    json_decref(ap);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *tg_judged_build(const struct tg_ticket *t, const struct tg_policy *p,
                        const struct tg_directory *d, int64_t now)
{
    json_t *o = json_object();

    if (!o || put(o, "ticket", tg_canonical_to_json(t)) ||
        put(o, "identities", identities(t, p, d, now))) {
        json_decref(o);
        return NULL;
    }
    return o;
}
