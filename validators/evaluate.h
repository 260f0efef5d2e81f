/* evaluate.h - runs every validator on one ticket and reaches the decision. */
#ifndef TG_EVALUATE_H
#define TG_EVALUATE_H

#include <stdint.h>

#include "validators/directory.h"
#include "validators/findings.h"
#include "validators/policy.h"
#include "validators/ticket.h"

enum tg_verdict { TG_ALLOW, TG_ANNOTATE, TG_DENY, TG_SKIP };

/* What the caller knows beyond the ticket: the clock and, where an evidence
 * store exists, the copy-forward count. */
struct tg_context {
    int64_t now; /* UTC seconds */
    /* Earlier tickets with other ids in the window carrying the same
     * normalised justification; -1 when unknown (offline check): then
     * JUSTIFICATION_COPY_FORWARD is not evaluated. */
    long copy_forward_uses;
};

struct tg_result {
    enum tg_verdict verdict;
    int dry_run;
    struct tg_findings findings;
};

void tg_result_init(struct tg_result *r);
void tg_result_cleanup(struct tg_result *r);

/*
 * Evaluates t against policy p and directory d (REASONS.md). A ticket whose
 * kind is not access_request is TG_SKIP with no findings. Pure: no I/O, no
 * globals. r must be initialised; findings are appended to it. Returns 0 or
 * TG_ENOMEM.
 */
int tg_evaluate(const struct tg_ticket *t, const struct tg_policy *p,
                const struct tg_directory *d, const struct tg_context *ctx,
                struct tg_result *r);

const char *tg_verdict_name(enum tg_verdict v);

/* Why t skips the approval path (separation and authority), as tg_evaluate
 * decides it: "emergency", "routine" (and no forbidden rule matches), or
 * NULL when that path is judged. Pure. */
const char *tg_evaluate_exempt(const struct tg_ticket *t,
                               const struct tg_policy *p,
                               const struct tg_directory *d);

/* Individual validators; each appends its findings to out. Same contract as
 * tg_evaluate. */
int tg_owner_check(const struct tg_ticket *t, const struct tg_policy *p,
                   const struct tg_directory *d, struct tg_findings *out);
int tg_justification_check(const struct tg_ticket *t, const struct tg_policy *p,
                           long copy_forward_uses, struct tg_findings *out);
int tg_scope_check(const struct tg_ticket *t, const struct tg_policy *p,
                   const struct tg_directory *d, struct tg_findings *out);
int tg_expiry_check(const struct tg_ticket *t, const struct tg_policy *p,
                    const struct tg_directory *d, int64_t now,
                    struct tg_findings *out);
int tg_separation_check(const struct tg_ticket *t, const struct tg_policy *p,
                        const struct tg_directory *d, struct tg_findings *out);
int tg_authority_check(const struct tg_ticket *t, const struct tg_policy *p,
                       const struct tg_directory *d, int64_t now,
                       struct tg_findings *out);
int tg_rules_check(const struct tg_ticket *t, const struct tg_policy *p,
                   const struct tg_directory *d, int64_t now,
                   struct tg_findings *out);

/* Which limit of REASONS.md "expiry" bounds a ticket. */
enum tg_expiry_limit {
    TG_LIMIT_PRIVILEGE,
    TG_LIMIT_SERVICE,
    TG_LIMIT_EMERGENCY
};
/* The longest t may last from now, in seconds: the tightest of its
 * privilege's max_days, service_max_days for a service beneficiary and
 * emergency_max_hours for an emergency; *by (if not NULL) says which. */
int64_t tg_expiry_allowed(const struct tg_ticket *t, const struct tg_policy *p,
                          const struct tg_directory *d,
                          enum tg_expiry_limit *by);
/* The end dates a date picker can hold for access granted at now that may
 * last allowed seconds. A plain date D means D 23:59:59 UTC (TICKET.md). */
struct tg_expiry_days {
    char first[11]; /* "YYYY-MM-DD": the first day ending after now */
    char last[11];  /* the last day ending at or before now + allowed */
    char exact[24]; /* now + allowed, down to the minute: "... HH:MM UTC" */
    int fits;       /* 1 when last is not before first; else only an end
                     * time can be short enough (last then equals first) */
};
/* Fills *out. Returns 0, or TG_EINVAL when a date is out of 0000..9999 or
 * allowed is negative (out is then unusable). */
int tg_expiry_days(int64_t now, int64_t allowed, struct tg_expiry_days *out);

/* Rule matching shared by the validators (REASONS.md "policy"). */
/* 1 when every key r names equals t's value (a missing value matches
 * nothing); also policy.exceptions' match rules. */
int tg_rules_match(const struct tg_rule *r, const struct tg_ticket *t,
                   const struct tg_directory *d);
int tg_rules_is_routine(const struct tg_ticket *t, const struct tg_policy *p,
                        const struct tg_directory *d);
int tg_rules_is_forbidden(const struct tg_ticket *t, const struct tg_policy *p,
                          const struct tg_directory *d, size_t *rule_out);

#endif
