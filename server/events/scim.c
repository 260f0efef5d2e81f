/* scim.c - SCIM 2.0 PatchOp on a group's members (RFC 7644 section 3.5.2). */
#include "server/events/internal.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "validators/errors.h"

/* A member filter names at most this many members ("value eq ... or ..."). */
#define SCIM_FILTER_MAX 1000

/* Appends to vals the members a path filter "members[value eq "x" or
 * value eq "y"]" names (f: the text between the brackets, n bytes).
 * Only equality on value, joined by or, is a membership filter; anything
 * else is TG_EINVAL. TG_ENOMEM. */
static int parse_filter(const char *f, size_t n, json_t *vals)
{
    size_t i = 0;

    for (;;) {
        char buf[TG_EVENTS_MAX_ID + 1];
        size_t len = 0;

        while (i < n && f[i] == ' ')
            i++;
        if (n - i < 5 || strncasecmp(f + i, "value", 5) != 0)
            return TG_EINVAL;
        i += 5;
        if (i >= n || f[i] != ' ')
            return TG_EINVAL;
        while (i < n && f[i] == ' ')
            i++;
        if (n - i < 3 || strncasecmp(f + i, "eq", 2) != 0 || f[i + 2] != ' ')
            return TG_EINVAL;
        i += 2;
        while (i < n && f[i] == ' ')
            i++;
        if (i >= n || f[i] != '"')
            return TG_EINVAL;
        for (i++; i < n && f[i] != '"'; i++) {
            if (f[i] == '\\' && i + 1 < n)
                i++; /* \" and \\ stand for the character */
            if (len == sizeof(buf) - 1)
                return TG_EINVAL;
            buf[len++] = f[i];
        }
        if (i >= n || len == 0)
            return TG_EINVAL;
        i++;
        if (json_array_size(vals) >= SCIM_FILTER_MAX)
            return TG_EINVAL;
        if (json_array_append_new(vals, json_stringn(buf, len)) != 0)
            return TG_ENOMEM;
        while (i < n && f[i] == ' ')
            i++;
        if (i == n)
            return 0;
        if (n - i < 3 || strncasecmp(f + i, "or", 2) != 0 || f[i + 2] != ' ')
            return TG_EINVAL;
        i += 3;
    }
}

/* Appends the value of each member object of list (Operations[op].at) to
 * vals. 0, TG_EINVAL (message written), TG_ENOMEM. */
static int members_of(struct tg_events_out *out, const json_t *list, size_t op,
                      const char *at, json_t *vals)
{
    if (!json_is_array(list))
        return tg_ev_fail(out, "Operations[%zu].%s is not a list of members",
                          op, at);
    for (size_t j = 0; j < json_array_size(list); j++) {
        const char *v = tg_ev_str(json_array_get(list, j), "value");
        if (!v)
            return tg_ev_fail(out,
                              "Operations[%zu].%s[%zu].value is missing; a "
                              "member is {\"value\": \"<user id>\"}",
                              op, at, j);
        if (json_array_append_new(vals, json_string(v)) != 0)
            return TG_ENOMEM;
    }
    return 0;
}

/* One event a member of vals each. */
static int emit(const struct tg_events_in *in, struct tg_events_out *out,
                const char *type, const char *base, size_t op,
                const char *opname, const json_t *vals)
{
    char key[TG_EVENTS_MAX_ID + 64];
    int rc;

    for (size_t j = 0; j < json_array_size(vals); j++) {
        struct tg_ev_spec s = {
            .form = TG_EVFORM_SCIM,
            .type = type,
            .time = in->now,
            .has_foreign = 1,
            .kind = TG_EVMAP_SCIM_GROUP,
            .foreign_id = in->scim_group,
            .source_event = opname,
            .index = op,
        };
        const char *member = json_string_value(json_array_get(vals, j));
        int n = snprintf(key, sizeof(key), "scim:%s:%s:%zu:%s", in->scim_group,
                         base, op, member);

        if (n < 0 || (size_t)n >= sizeof(key) || n > TG_EVENTS_MAX_ID)
            return tg_ev_fail(out,
                              "an event key (group, request key, member) is "
                              "longer than %d bytes",
                              TG_EVENTS_MAX_ID);
        s.source_id = key;
        s.ids[0] = member;
        s.n_ids = 1;
        if ((rc = tg_ev_add(in, out, &s)) != 0)
            return rc;
    }
    return 0;
}

/* RFC 7644 section 3.10: an attribute path may be qualified by its
 * schema's URI; a group's members are this schema's. */
#define SCIM_GROUP_URN "urn:ietf:params:scim:schemas:core:2.0:Group:"

/* The event type and SCIM op name of Operations[i].op (case-insensitive,
 * RFC 7644 3.5.2: Azure sends "Add"): 0, or TG_EINVAL (message written). */
static int op_kind(struct tg_events_out *out, const char *op, size_t i,
                   const char **type, const char **opname)
{
    if (strcasecmp(op, "add") == 0) {
        *type = "grant", *opname = "add";
    } else if (strcasecmp(op, "replace") == 0) {
        *type = "grant", *opname = "replace";
    } else if (strcasecmp(op, "remove") == 0) {
        *type = "revoke", *opname = "remove";
    } else {
        return tg_ev_fail(out,
                          "Operations[%zu].op must be add, remove or "
                          "replace",
                          i);
    }
    return 0;
}

/* members_named's answer for an operation on other attributes. */
#define SCIM_NOT_MEMBERS 1

/* The members an operation opname with no path names (value holds
 * attributes; only members concern us) into vals: 0, SCIM_NOT_MEMBERS,
 * TG_EINVAL (message written), TG_ENOMEM. */
static int members_unpathed(struct tg_events_out *out, const char *opname,
                            const json_t *value, size_t i, json_t *vals)
{
    if (strcmp(opname, "remove") == 0)
        return tg_ev_fail(out,
                          "Operations[%zu] removes without a path; "
                          "name the members: members[value eq "
                          "\"<id>\"]",
                          i);
    if (!json_is_object(value))
        return tg_ev_fail(out,
                          "Operations[%zu].value is not an object of "
                          "attributes",
                          i);
    if (!json_object_get(value, "members"))
        return SCIM_NOT_MEMBERS;
    return members_of(out, json_object_get(value, "members"), i,
                      "value.members", vals);
}

/* The members operation opname on path (its schema's URI taken off) names
 * into vals: 0, SCIM_NOT_MEMBERS (displayName, externalId, ...),
 * TG_EINVAL (message written), TG_ENOMEM. */
static int members_named(struct tg_events_out *out, const char *opname,
                         const char *path, const json_t *value, size_t i,
                         json_t *vals)
{
    int rc;

    if (!path)
        return members_unpathed(out, opname, value, i, vals);
    if (strcasecmp(path, "members") == 0) {
        /* A remove with a value list is how Azure AD removes members. */
        if (strcmp(opname, "remove") == 0 && !value)
            return tg_ev_fail(out,
                              "Operations[%zu] removes every member "
                              "without naming one; name them: "
                              "members[value eq \"<id>\"]",
                              i);
        return members_of(out, value, i, "value", vals);
    }
    if (strncasecmp(path, "members[", 8) == 0) {
        size_t n = strlen(path);
        if (strcmp(opname, "remove") != 0 || path[n - 1] != ']')
            return tg_ev_fail(out,
                              "Operations[%zu].path: a member filter is "
                              "only read on remove, as members[value eq "
                              "\"<id>\"]",
                              i);
        rc = parse_filter(path + 8, n - 9, vals);
        if (rc == TG_EINVAL)
            rc = tg_ev_fail(out,
                            "Operations[%zu].path is not a member "
                            "filter of the form members[value eq "
                            "\"<id>\" or value eq \"<id>\"]",
                            i);
        return rc;
    }
    return SCIM_NOT_MEMBERS;
}

/* Operation i. */
static int operation(const struct tg_events_in *in, struct tg_events_out *out,
                     const char *base, const json_t *o, size_t i)
{
    const char *op = tg_ev_str(o, "op"), *path = tg_ev_str(o, "path");
    const json_t *value = json_object_get(o, "value");
    json_t *vals = json_array();
    const char *type = NULL, *opname = NULL;
    int rc = TG_ENOMEM;

    if (!vals)
        return TG_ENOMEM;
    if (path &&
        strncasecmp(path, SCIM_GROUP_URN, sizeof(SCIM_GROUP_URN) - 1) == 0)
        path += sizeof(SCIM_GROUP_URN) - 1;
    if (!json_is_object(o) || !op) {
        rc = tg_ev_fail(out, "Operations[%zu] has no op", i);
        goto out;
    }
    if ((rc = op_kind(out, op, i, &type, &opname)) != 0)
        goto out;
    rc = members_named(out, opname, path, value, i, vals);
    if (rc == SCIM_NOT_MEMBERS) {
        out->ignored++;
        rc = 0;
    } else if (rc == 0) {
        rc = emit(in, out, type, base, i, opname, vals);
    }
out:
    json_decref(vals);
    return rc;
}

int tg_events_scim(const struct tg_events_in *in, struct tg_events_out *out)
{
    const json_t *ops = json_object_get(in->body, "Operations");
    char base[TG_EVENTS_MAX_ID + 1];
    int rc;

    if (!in->scim_group || !in->scim_group[0])
        return tg_ev_fail(out, "a SCIM PatchOp names no group; send it to "
                               "/v1/events/scim/Groups/<group id>");
    if (!json_is_array(ops))
        return tg_ev_fail(out, "Operations is missing or not a list");
    /* The request's own key when it has one; else its digest and the
     * second it came in: a re-sent PatchOp within that second is a
     * duplicate, a later identical one is a new change (re-adding someone
     * removed meanwhile must not be lost). */
    if (in->scim_key)
        rc = snprintf(base, sizeof(base), "%s", in->scim_key);
    else
        rc = snprintf(base, sizeof(base), "%.16s@%lld",
                      in->body_hex ? in->body_hex : "", (long long)in->now);
    if (rc < 0 || (size_t)rc >= sizeof(base))
        return tg_ev_fail(out, "the request's key is longer than %d bytes",
                          TG_EVENTS_MAX_ID);
    for (size_t i = 0; i < json_array_size(ops); i++)
        if ((rc = operation(in, out, base, json_array_get(ops, i), i)) != 0)
            return rc;
    return 0;
}
