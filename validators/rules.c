/* rules.c - the policy validator: routine, forbidden and break-glass paths. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "validators/errors.h"
#include "validators/evaluate.h"
#include "validators/identity.h"
#include "validators/words.h"

/* Equal ignoring case and surrounding white space; absent matches nothing. */
static int same_value(const char *rule, const char *v)
{
    size_t len;
    if (!tg_ident_present(v))
        return 0;
    len = strlen(v);
    tg_words_trim(&v, &len);
    return strlen(rule) == len && strncasecmp(rule, v, len) == 0;
}

static int rule_matches(const struct tg_rule *r, const struct tg_ticket *t,
                        const struct tg_directory *d)
{
    if (r->environment && !same_value(r->environment, t->environment))
        return 0;
    /* An absent or unknown privilege counts as admin everywhere. */
    if (r->privilege &&
        !same_value(r->privilege,
                    tg_privilege_name(tg_privilege_of(t->privilege))))
        return 0;
    if (r->beneficiary_type &&
        !same_value(r->beneficiary_type, tg_beneficiary_type(t, d)))
        return 0;
    if (r->system && !same_value(r->system, t->system))
        return 0;
    return 1;
}

int tg_rules_match(const struct tg_rule *r, const struct tg_ticket *t,
                   const struct tg_directory *d)
{
    return rule_matches(r, t, d);
}

int tg_rules_is_routine(const struct tg_ticket *t, const struct tg_policy *p,
                        const struct tg_directory *d)
{
    for (size_t i = 0; i < p->n_routine; i++)
        if (rule_matches(&p->routine[i], t, d))
            return 1;
    return 0;
}

int tg_rules_is_forbidden(const struct tg_ticket *t, const struct tg_policy *p,
                          const struct tg_directory *d, size_t *rule_out)
{
    for (size_t i = 0; i < p->n_forbidden; i++) {
        if (rule_matches(&p->forbidden[i], t, d)) {
            if (rule_out)
                *rule_out = i;
            return 1;
        }
    }
    return 0;
}

static const char *forbidden_reason(const struct tg_rule *r)
{
    return r->reason && *r->reason ? r->reason
                                   : "This access is forbidden by policy.";
}

/* The break-glass message's end: in days a date picker can hold, or the
 * end time when even today's date ends too late. */
static void breakglass_end(const struct tg_ticket *t,
                           const struct tg_policy *p,
                           const struct tg_directory *d, int64_t now,
                           char *buf, size_t cap)
{
    struct tg_expiry_days days;
    buf[0] = '\0';
    if (tg_expiry_days(now, tg_expiry_allowed(t, p, d, NULL), &days) != TG_OK)
        return;
    if (days.fits)
        snprintf(buf, cap, ": an end date of %s at the latest", days.last);
    else
        snprintf(buf, cap,
                 ": an end time no later than %s (any end date is too late)",
                 days.exact);
}

int tg_rules_check(const struct tg_ticket *t, const struct tg_policy *p,
                   const struct tg_directory *d, int64_t now,
                   struct tg_findings *out)
{
    int rc = TG_OK;
    char hours[24], end[96];
    /* Every rule that forbids the ticket gives its reason, whole (it is
     * the configuration's sentence, not ticket text to be cut); a reason
     * already given is not repeated. */
    for (size_t i = 0; i < p->n_forbidden && rc == TG_OK; i++) {
        const char *why = forbidden_reason(&p->forbidden[i]);
        int said = 0;

        if (!rule_matches(&p->forbidden[i], t, d))
            continue;
        for (size_t j = 0; j < i && !said; j++)
            said = rule_matches(&p->forbidden[j], t, d) &&
                   strcmp(forbidden_reason(&p->forbidden[j]), why) == 0;
        if (!said)
            rc = tg_findings_add_text(out, TG_POLICY_FORBIDDEN,
                                      p->action[TG_POLICY_FORBIDDEN], NULL,
                                      why);
    }
    if (rc == TG_OK && t->emergency) {
        const char *args[] = {hours, end};
        snprintf(hours, sizeof(hours), "%u", p->emergency_max_hours);
        breakglass_end(t, p, d, now, end, sizeof(end));
        rc = tg_findings_add(out, TG_BREAKGLASS_REVIEW_REQUIRED,
                             p->action[TG_BREAKGLASS_REVIEW_REQUIRED], NULL,
                             args, 2);
    }
    return rc;
}
