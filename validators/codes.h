/* codes.h - the reason codes of contract/REASONS.md: the one table of them. */
#ifndef TG_CODES_H
#define TG_CODES_H

enum tg_validator {
    TG_V_OWNER,
    TG_V_JUSTIFICATION,
    TG_V_SCOPE,
    TG_V_EXPIRY,
    TG_V_SEPARATION,
    TG_V_AUTHORITY,
    TG_V_POLICY,
    TG_V_COUNT
};

enum tg_code {
    TG_OWNER_MISSING,
    TG_OWNER_NOT_INDIVIDUAL,
    TG_OWNER_UNKNOWN,
    TG_OWNER_INACTIVE,
    TG_JUSTIFICATION_MISSING,
    TG_JUSTIFICATION_TOO_SHORT,
    TG_JUSTIFICATION_GENERIC,
    TG_JUSTIFICATION_COPY_FORWARD,
    TG_SCOPE_MISSING,
    TG_SCOPE_ENVIRONMENT_MISSING,
    TG_SCOPE_WILDCARD,
    TG_SCOPE_UNKNOWN_SYSTEM,
    TG_EXPIRY_MISSING,
    TG_EXPIRY_INVALID,
    TG_EXPIRY_PAST,
    TG_EXPIRY_TOO_LONG,
    TG_APPROVER_MISSING,
    TG_APPROVER_NOT_INDIVIDUAL,
    TG_SOD_SELF_APPROVAL,
    TG_SOD_BENEFICIARY_APPROVAL,
    TG_AUTHORITY_NONE,
    TG_AUTHORITY_TIER,
    TG_POLICY_FORBIDDEN,
    TG_BREAKGLASS_REVIEW_REQUIRED,
    TG_CODE_COUNT
};

enum tg_action { TG_ACTION_OFF = 0, TG_ACTION_WARN = 1, TG_ACTION_DENY = 2 };

struct tg_code_info {
    enum tg_code code;
    const char *name;        /* "OWNER_MISSING" */
    enum tg_validator validator;
    enum tg_action default_action;
    const char *field;       /* canonical field at fault, default */
    /* Message for the service desk. "{1}".."{4}" are replaced by the
     * finding's arguments (see tg_findings_add). */
    const char *message;
};

/* The row of code c; c must be < TG_CODE_COUNT. */
const struct tg_code_info *tg_code_info(enum tg_code c);
/* The code named name (exact, upper case). Returns 0 or TG_ENOTFOUND. */
int tg_code_parse(const char *name, enum tg_code *out);
/* "owner", "justification", ... */
const char *tg_validator_name(enum tg_validator v);
/* The validator named name. Returns 0 or TG_ENOTFOUND. */
int tg_validator_parse(const char *name, enum tg_validator *out);
/* "off", "warn", "deny" */
const char *tg_action_name(enum tg_action a);
/* Parses "off", "warn", "deny". Returns 0 or TG_EINVAL. */
int tg_action_parse(const char *s, enum tg_action *out);

#endif
