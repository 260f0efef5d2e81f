/* authority.c - the authority validator: the approver may approve this. */
#include <string.h>

#include "validators/errors.h"
#include "validators/evaluate.h"
#include "validators/identity.h"

/* The authority a person holds over a system: none, a tier, or all (owner). */
struct grant {
    int owner;
    int has_tier;
    enum tg_privilege tier;
};

static void direct_grant(const struct tg_directory *d,
                         const struct tg_system *s, size_t person,
                         struct grant *g)
{
    if (d->people[person].inactive)
        return;
    for (size_t i = 0; i < s->n_owners; i++)
        if (s->owners[i] == person)
            g->owner = 1;
    for (size_t i = 0; i < s->n_approvers; i++) {
        const struct tg_sys_approver *a = &s->approvers[i];
        int match = a->is_group ? tg_directory_in_group(d, a->idx, person)
                                : a->idx == person;
        if (match && (!g->has_tier || a->max_privilege > g->tier)) {
            g->has_tier = 1;
            g->tier = a->max_privilege;
        }
    }
}

/* Direct authority, plus that of every person who has delegated to this one
 * with a delegation active at now (one level: a delegate has the authority
 * of the delegator, never more, and cannot pass it on). */
static struct grant grant_of(const struct tg_directory *d,
                             const struct tg_system *s, size_t person,
                             int64_t now)
{
    struct grant g = {0, 0, TG_PRIV_READ};
    direct_grant(d, s, person, &g);
    for (size_t i = 0; i < d->n_delegations; i++) {
        const struct tg_delegation *dl = &d->delegations[i];
        if (dl->delegate == person && dl->from <= now && now <= dl->until)
            direct_grant(d, s, dl->delegator, &g);
    }
    return g;
}

int tg_authority_check(const struct tg_ticket *t, const struct tg_policy *p,
                       const struct tg_directory *d, int64_t now,
                       struct tg_findings *out)
{
    enum tg_privilege priv = tg_privilege_of(t->privilege);
    const struct tg_system *sys;
    long si;
    int rc = TG_OK;

    if (!tg_ident_present(t->system))
        return TG_OK;
    si = tg_directory_system(d, t->system, strlen(t->system));
    if (si < 0)
        return TG_OK;
    sys = &d->systems[si];
    for (size_t i = 0; i < t->n_approvers && rc == TG_OK; i++) {
        const char *a = t->approvers[i];
        struct tg_ident id = tg_ident_classify(d, a);
        char label[TG_IDENT_LABEL_MAX];
        const char *who = tg_ident_label(t, d, a, label, sizeof(label));
        struct grant g;
        /* Missing and not-individual approvers are separation's findings
         * (REASONS.md skips them here only once reported: with
         * APPROVER_NOT_INDIVIDUAL off, a group approver holds no authority
         * of its own); a person named twice is judged once. */
        if (id.cls == TG_ID_ABSENT || tg_ident_repeats(d, t->approvers, i) ||
            (id.cls == TG_ID_NOT_INDIVIDUAL &&
             p->action[TG_APPROVER_NOT_INDIVIDUAL] != TG_ACTION_OFF))
            continue;
        if (id.cls != TG_ID_PERSON || d->people[id.ent.idx].inactive) {
            const char *args[] = {who, sys->id};
            rc = tg_findings_add(out, TG_AUTHORITY_NONE,
                                 p->action[TG_AUTHORITY_NONE], NULL, args, 2);
            continue;
        }
        g = grant_of(d, sys, id.ent.idx, now);
        if (g.owner || (g.has_tier && g.tier >= priv))
            continue;
        if (g.has_tier) {
            const char *args[] = {who, tg_privilege_name(g.tier), sys->id,
                                  tg_privilege_name(priv)};
            rc = tg_findings_add(out, TG_AUTHORITY_TIER,
                                 p->action[TG_AUTHORITY_TIER], NULL, args, 4);
        } else {
            const char *args[] = {who, sys->id};
            rc = tg_findings_add(out, TG_AUTHORITY_NONE,
                                 p->action[TG_AUTHORITY_NONE], NULL, args, 2);
        }
    }
    return rc;
}
