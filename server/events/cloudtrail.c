/* cloudtrail.c - AWS CloudTrail records: IAM groups and policies, SSO. */
#include "server/events/internal.h"

#include <stdio.h>
#include <string.h>

#include "validators/errors.h"

/* The calls that change a person's access, and what each is. */
static const struct call {
    const char *source; /* eventSource */
    const char *name;   /* eventName */
    const char *type;   /* grant or revoke */
    enum tg_event_foreign kind;
    const char *param; /* requestParameters member naming the foreign id */
} calls[] = {
    {"iam.amazonaws.com", "AddUserToGroup", "grant", TG_EVMAP_AWS_GROUP,
     "groupName"},
    {"iam.amazonaws.com", "RemoveUserFromGroup", "revoke", TG_EVMAP_AWS_GROUP,
     "groupName"},
    {"iam.amazonaws.com", "AttachUserPolicy", "grant", TG_EVMAP_AWS_POLICY_ARN,
     "policyArn"},
    {"iam.amazonaws.com", "DetachUserPolicy", "revoke", TG_EVMAP_AWS_POLICY_ARN,
     "policyArn"},
    {"sso.amazonaws.com", "CreateAccountAssignment", "grant",
     TG_EVMAP_AWS_PERMISSION_SET, "permissionSetArn"},
    {"sso.amazonaws.com", "DeleteAccountAssignment", "revoke",
     TG_EVMAP_AWS_PERMISSION_SET, "permissionSetArn"},
};

static const struct call *find_call(const char *source, const char *name)
{
    for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++)
        if (strcmp(calls[i].name, name) == 0 &&
            strcmp(calls[i].source, source) == 0)
            return &calls[i];
    return NULL;
}

/* The partition of the record ("aws", "aws-cn", "aws-us-gov", ...): the
 * one of the caller's ARN, IAM being partitioned; "aws" when it names
 * none. Written into buf (cap bytes). */
static const char *partition(const json_t *r, char *buf, size_t cap)
{
    const char *arn = tg_ev_str(json_object_get(r, "userIdentity"), "arn");
    size_t n = 0;

    if (arn && strncmp(arn, "arn:", 4) == 0) {
        arn += 4;
        while (n + 1 < cap &&
               ((arn[n] >= 'a' && arn[n] <= 'z') ||
                (arn[n] >= '0' && arn[n] <= '9') || arn[n] == '-'))
            n++;
        if (n > 0 && arn[n] == ':') {
            memcpy(buf, arn, n);
            buf[n] = '\0';
            return buf;
        }
    }
    return "aws";
}

/* Record i of the delivery; at names it in messages ("Records[3]",
 * "detail"). */
static int one(const struct tg_events_in *in, struct tg_events_out *out,
               const json_t *r, size_t i, const char *at)
{
    struct tg_ev_spec s = {.form = TG_EVFORM_CLOUDTRAIL, .index = i};
    const char *name = tg_ev_str(r, "eventName");
    const char *source = tg_ev_str(r, "eventSource");
    const json_t *rp = json_object_get(r, "requestParameters");
    const struct call *c;
    char key[TG_EVENTS_MAX_ID + 1], arn[512], part[32];
    const char *user, *account;

    if (!json_is_object(r))
        return tg_ev_fail(out, "%s is not a record object", at);
    /* A failed call (AccessDenied, NoSuchEntity) changed nothing. A log
     * file leaves errorCode out when the call succeeded; CloudTrail Lake
     * and SIEM exports write it null: only a code makes a failure. */
    if (!name || !source || !(c = find_call(source, name)) ||
        tg_ev_str(r, "errorCode")) {
        out->ignored++;
        return 0;
    }
    if (tg_ev_key(key, sizeof(key), "cloudtrail", tg_ev_str(r, "eventID")) != 0)
        return tg_ev_fail(out,
                          "%s.eventID is missing or too long; it is the "
                          "event's key",
                          at);
    if (tg_ev_time(tg_ev_str(r, "eventTime"), &s.time) != 0)
        return tg_ev_fail(out,
                          "%s.eventTime is missing or not an RFC 3339 "
                          "date-time",
                          at);
    s.type = c->type;
    s.source_id = key;
    s.source_event = name;
    s.actor = tg_ev_str(json_object_get(r, "userIdentity"), "arn");
    s.has_foreign = 1;
    s.kind = c->kind;
    s.foreign_id = tg_ev_str(rp, c->param);
    if (!s.foreign_id) {
        s.foreign_name = "";
        s.unmapped = "the record's requestParameters name no group, policy "
                     "or permission set";
    }
    if (c->kind == TG_EVMAP_AWS_PERMISSION_SET) {
        const char *ptype = tg_ev_str(rp, "principalType");
        account = tg_ev_str(rp, "targetId");
        user = tg_ev_str(rp, "principalId");
        if (user)
            s.ids[s.n_ids++] = user;
        if (ptype && strcmp(ptype, "USER") != 0 && !s.unmapped)
            s.unmapped = "the assignment is to an IAM Identity Center group "
                         "(principalType GROUP): its members are not known "
                         "here; send their memberships as events";
    } else {
        account = tg_ev_str(r, "recipientAccountId");
        user = tg_ev_str(rp, "userName");
        /* The user's ARN first (unique across accounts), then the name.
         * A user with a path has another ARN: list that as an alias. */
        if (user && account &&
            snprintf(arn, sizeof(arn), "arn:%s:iam::%s:user/%s",
                     partition(r, part, sizeof(part)), account,
                     user) < (int)sizeof(arn))
            s.ids[s.n_ids++] = arn;
        if (user)
            s.ids[s.n_ids++] = user;
    }
    s.account = account;
    if (s.n_ids == 0 && !s.unmapped)
        s.unmapped = "the record names no user or principal";
    return tg_ev_add(in, out, &s);
}

int tg_events_cloudtrail(const struct tg_events_in *in,
                         struct tg_events_out *out)
{
    const json_t *list = json_object_get(in->body, "Records");
    char at[48];
    int rc;

    /* An EventBridge event ("detail-type": "AWS API Call via CloudTrail")
     * carries one record as its detail: what a rule's API destination
     * sends. Its key is the record's eventID, so the same call arriving
     * in a log file too is a duplicate. */
    if (!list && json_is_object(json_object_get(in->body, "detail")))
        return one(in, out, json_object_get(in->body, "detail"), 0, "detail");
    if (!json_is_array(list))
        return tg_ev_fail(out, "Records is not a list");
    for (size_t i = 0; i < json_array_size(list); i++) {
        snprintf(at, sizeof(at), "Records[%zu]", i);
        if ((rc = one(in, out, json_array_get(list, i), i, at)) != 0)
            return rc;
    }
    return 0;
}
