/* codes.c - the one table of reason codes (contract/REASONS.md). */
#include "validators/codes.h"

#include <string.h>

#include "validators/errors.h"

/* Messages are worded for a service-desk agent who sees them inline: what is
 * wrong, naming the value at fault, and what to do about it. */
static const struct tg_code_info codes[TG_CODE_COUNT] = {
    {TG_OWNER_MISSING, "OWNER_MISSING", TG_V_OWNER, TG_ACTION_DENY, "owner",
     "No owner is named; name the person accountable for this access."},
    {TG_OWNER_NOT_INDIVIDUAL, "OWNER_NOT_INDIVIDUAL", TG_V_OWNER,
     TG_ACTION_DENY, "owner",
     "The owner {1} is not an individual; name one accountable person, not "
     "a team, group, shared or service account."},
    {TG_OWNER_UNKNOWN, "OWNER_UNKNOWN", TG_V_OWNER, TG_ACTION_DENY, "owner",
     "The owner {1} is not in the directory; name a person the directory "
     "knows."},
    {TG_OWNER_INACTIVE, "OWNER_INACTIVE", TG_V_OWNER, TG_ACTION_DENY, "owner",
     "The owner {1} is no longer active; name a current owner."},
    {TG_JUSTIFICATION_MISSING, "JUSTIFICATION_MISSING", TG_V_JUSTIFICATION,
     TG_ACTION_DENY, "justification",
     "No justification is given; explain the business reason for this "
     "access."},
    {TG_JUSTIFICATION_TOO_SHORT, "JUSTIFICATION_TOO_SHORT",
     TG_V_JUSTIFICATION, TG_ACTION_DENY, "justification",
     "The justification (\"{1}\") has only {2} of the {3} words needed; "
     "explain why this access is needed."},
    {TG_JUSTIFICATION_GENERIC, "JUSTIFICATION_GENERIC", TG_V_JUSTIFICATION,
     TG_ACTION_DENY, "justification",
     "The justification (\"{1}\") is too generic; say which task, change or "
     "system needs this access."},
    {TG_JUSTIFICATION_COPY_FORWARD, "JUSTIFICATION_COPY_FORWARD",
     TG_V_JUSTIFICATION, TG_ACTION_WARN, "justification",
     "The same justification (\"{1}\") was already used on {2} other "
     "tickets; write one specific to this request."},
    {TG_SCOPE_MISSING, "SCOPE_MISSING", TG_V_SCOPE, TG_ACTION_DENY,
     "scope.system",
     "The scope does not name the {1}; state the exact system and the "
     "entitlement (role, group or account) granted."},
    {TG_SCOPE_ENVIRONMENT_MISSING, "SCOPE_ENVIRONMENT_MISSING", TG_V_SCOPE,
     TG_ACTION_DENY, "scope.environment",
     "The scope does not name the environment; state where the access "
     "applies (prod, staging, dev, ...)."},
    {TG_SCOPE_WILDCARD, "SCOPE_WILDCARD", TG_V_SCOPE, TG_ACTION_DENY,
     "scope.entitlement",
     "The {1} (\"{2}\") is a wildcard; name exactly what is granted."},
    {TG_SCOPE_UNKNOWN_SYSTEM, "SCOPE_UNKNOWN_SYSTEM", TG_V_SCOPE,
     TG_ACTION_DENY, "scope.system",
     "The system ({1}) is not in the directory; choose a registered system."},
    {TG_EXPIRY_MISSING, "EXPIRY_MISSING", TG_V_EXPIRY, TG_ACTION_DENY,
     "expires_at",
     "No end date is set{1}; access must end: {2}."},
    {TG_EXPIRY_INVALID, "EXPIRY_INVALID", TG_V_EXPIRY, TG_ACTION_DENY,
     "expires_at",
     "The end date (\"{1}\") is not a date; use YYYY-MM-DD or an ISO 8601 "
     "date-time."},
    {TG_EXPIRY_PAST, "EXPIRY_PAST", TG_V_EXPIRY, TG_ACTION_DENY, "expires_at",
     "The end date ({1}) is already past; {2}."},
    {TG_EXPIRY_TOO_LONG, "EXPIRY_TOO_LONG", TG_V_EXPIRY, TG_ACTION_DENY,
     "expires_at",
     "The end date ({1}) is too far away; {2} may be granted for at most "
     "{3}: {4}."},
    {TG_APPROVER_MISSING, "APPROVER_MISSING", TG_V_SEPARATION,
     TG_ACTION_DENY, "approver",
     "No approver is recorded; a named person other than the requester must "
     "approve."},
    {TG_APPROVER_NOT_INDIVIDUAL, "APPROVER_NOT_INDIVIDUAL", TG_V_SEPARATION,
     TG_ACTION_DENY, "approver",
     "The approver {1} is not an individual; a named person must approve, "
     "not a team, group or shared account."},
    {TG_SOD_SELF_APPROVAL, "SOD_SELF_APPROVAL", TG_V_SEPARATION,
     TG_ACTION_DENY, "approver",
     "The approver {1} is also the requester; a second person must "
     "approve."},
    {TG_SOD_BENEFICIARY_APPROVAL, "SOD_BENEFICIARY_APPROVAL",
     TG_V_SEPARATION, TG_ACTION_DENY, "approver",
     "The approver {1} is the person who receives the access; someone else "
     "must approve."},
    {TG_AUTHORITY_NONE, "AUTHORITY_NONE", TG_V_AUTHORITY, TG_ACTION_DENY,
     "approver",
     "The approver {1} has no authority over {2}; ask its owner or one of "
     "its listed approvers to approve."},
    {TG_AUTHORITY_TIER, "AUTHORITY_TIER", TG_V_AUTHORITY, TG_ACTION_DENY,
     "approver",
     "The approver {1} may approve {2} access to {3} at most, and this "
     "request is for {4}; ask the system's owner or a higher approver."},
    {TG_POLICY_FORBIDDEN, "POLICY_FORBIDDEN", TG_V_POLICY, TG_ACTION_DENY,
     "scope", "{1}"},
    {TG_BREAKGLASS_REVIEW_REQUIRED, "BREAKGLASS_REVIEW_REQUIRED", TG_V_POLICY,
     TG_ACTION_WARN, "emergency",
     "This is an emergency (break-glass) request: it must be reviewed after "
     "the event, and it may last at most {1} hours{2}."},
};

static const char *const validator_names[TG_V_COUNT] = {
    "owner", "justification", "scope", "expiry", "separation", "authority",
    "policy",
};

const struct tg_code_info *tg_code_info(enum tg_code c)
{
    return &codes[c];
}

int tg_code_parse(const char *name, enum tg_code *out)
{
    for (size_t i = 0; i < TG_CODE_COUNT; i++) {
        if (strcmp(codes[i].name, name) == 0) {
            *out = codes[i].code;
            return TG_OK;
        }
    }
    return TG_ENOTFOUND;
}

const char *tg_validator_name(enum tg_validator v)
{
    return v < TG_V_COUNT ? validator_names[v] : "unknown";
}

int tg_validator_parse(const char *name, enum tg_validator *out)
{
    for (size_t i = 0; i < TG_V_COUNT; i++) {
        if (strcmp(validator_names[i], name) == 0) {
            *out = (enum tg_validator)i;
            return TG_OK;
        }
    }
    return TG_ENOTFOUND;
}

const char *tg_action_name(enum tg_action a)
{
    switch (a) {
    case TG_ACTION_DENY:
        return "deny";
    case TG_ACTION_WARN:
        return "warn";
    default:
        return "off";
    }
}

int tg_action_parse(const char *s, enum tg_action *out)
{
    if (strcmp(s, "deny") == 0)
        *out = TG_ACTION_DENY;
    else if (strcmp(s, "warn") == 0)
        *out = TG_ACTION_WARN;
    else if (strcmp(s, "off") == 0)
        *out = TG_ACTION_OFF;
    else
        return TG_EINVAL;
    return TG_OK;
}
