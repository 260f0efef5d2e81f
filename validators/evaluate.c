/* evaluate.c - runs the validators on a ticket and reaches the decision. */
#include "validators/evaluate.h"

#include "validators/errors.h"

void tg_result_init(struct tg_result *r)
{
    r->verdict = TG_ALLOW;
    r->dry_run = 0;
    tg_findings_init(&r->findings);
}

void tg_result_cleanup(struct tg_result *r)
{
    tg_findings_cleanup(&r->findings);
    tg_result_init(r);
}

const char *tg_verdict_name(enum tg_verdict v)
{
    switch (v) {
    case TG_ALLOW:
        return "allow";
    case TG_ANNOTATE:
        return "annotate";
    case TG_DENY:
        return "deny";
    default:
        return "skip";
    }
}

const char *tg_evaluate_exempt(const struct tg_ticket *t,
                               const struct tg_policy *p,
                               const struct tg_directory *d)
{
    /* Emergencies skip the approval path; so do routine tickets, unless a
     * forbidden rule also matches (REASONS.md: then it is forbidden, and
     * nothing about it is routine). */
    if (t->emergency)
        return "emergency";
    if (tg_rules_is_routine(t, p, d) && !tg_rules_is_forbidden(t, p, d, NULL))
        return "routine";
    return NULL;
}

int tg_evaluate(const struct tg_ticket *t, const struct tg_policy *p,
                const struct tg_directory *d, const struct tg_context *ctx,
                struct tg_result *r)
{
    struct tg_findings *f = &r->findings;
    int rc, exempt, deny = 0;

    r->dry_run = p->dryrun;
    if (!tg_ticket_is_access_request(t)) {
        r->verdict = TG_SKIP;
        return TG_OK;
    }
    exempt = tg_evaluate_exempt(t, p, d) != NULL;
    if ((rc = tg_owner_check(t, p, d, f)) ||
        (rc = tg_justification_check(t, p, ctx->copy_forward_uses, f)) ||
        (rc = tg_scope_check(t, p, d, f)) ||
        (rc = tg_expiry_check(t, p, d, ctx->now, f)))
        return rc;
    if (!exempt && ((rc = tg_separation_check(t, p, d, f)) ||
                    (rc = tg_authority_check(t, p, d, ctx->now, f))))
        return rc;
    if ((rc = tg_rules_check(t, p, d, ctx->now, f)))
        return rc;
    for (size_t i = 0; i < f->n; i++)
        deny |= f->v[i].action == TG_ACTION_DENY;
    if (deny)
        r->verdict = p->dryrun ? TG_ANNOTATE : TG_DENY;
    else
        r->verdict = f->n ? TG_ANNOTATE : TG_ALLOW;
    return TG_OK;
}
