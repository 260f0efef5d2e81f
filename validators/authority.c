/* authority.c - the authority validator: the approver may approve this. */
#include "validators/authority.h"

#include <string.h>

#include "validators/errors.h"
#include "validators/evaluate.h"
#include "validators/identity.h"

/* Where one grant came from: a listing of the system, held in person or
 * through a delegation (dl not NULL). */
struct source {
    enum tg_basis basis; /* OWNER, APPROVER or GROUP */
    const struct tg_sys_approver *listing; /* APPROVER, GROUP */
    const struct tg_delegation *dl;
};

/* The authority a person holds over a system, in their own right or
 * through delegations: none, a tier, or all (owner), and the grant each
 * came from (the first that gave it). */
struct grant {
    int owner;
    int has_tier;
    enum tg_privilege tier;
    struct source owner_src, tier_src;
};

static void direct_grant(const struct tg_directory *d,
                         const struct tg_system *s, size_t person,
                         const struct tg_delegation *dl, struct grant *g)
{
    if (d->people[person].inactive)
        return;
    for (size_t i = 0; i < s->n_owners; i++)
        if (s->owners[i] == person && !g->owner) {
            g->owner = 1;
            g->owner_src = (struct source){TG_BASIS_OWNER, NULL, dl};
        }
    for (size_t i = 0; i < s->n_approvers; i++) {
        const struct tg_sys_approver *a = &s->approvers[i];
        int match = a->is_group ? tg_directory_in_group(d, a->idx, person)
                                : a->idx == person;
        if (match && (!g->has_tier || a->max_privilege > g->tier)) {
            g->has_tier = 1;
            g->tier = a->max_privilege;
            g->tier_src = (struct source){
                a->is_group ? TG_BASIS_GROUP : TG_BASIS_APPROVER, a, dl};
        }
    }
}

/* The person's own authority (delegated 0), or that of every person who
 * has delegated to them with a delegation active at now (delegated 1; one
 * level: a delegate has the authority of the delegator, never more, and
 * cannot pass it on). */
static struct grant grant_of(const struct tg_directory *d,
                             const struct tg_system *s, size_t person,
                             int64_t now, int delegated)
{
    struct grant g;

    memset(&g, 0, sizeof(g));
    g.tier = TG_PRIV_READ;
    if (!delegated) {
        direct_grant(d, s, person, NULL, &g);
        return g;
    }
    for (size_t i = 0; i < d->n_delegations; i++) {
        const struct tg_delegation *dl = &d->delegations[i];
        if (dl->delegate == person && dl->from <= now && now <= dl->until)
            direct_grant(d, s, dl->delegator, dl, &g);
    }
    return g;
}

/* Names in out the grant src (the one that decided). */
static void set_basis(struct tg_authority *out, const struct source *src)
{
    enum tg_basis b = src->basis;

    if (src->listing) {
        out->has_tier = 1;
        out->max_privilege = src->listing->max_privilege;
        if (src->listing->is_group)
            out->group = src->listing->idx;
    }
    if (src->dl) {
        out->basis = TG_BASIS_DELEGATE;
        out->via = b;
        out->delegator = src->dl->delegator;
        out->from = src->dl->from;
        out->until = src->dl->until;
    } else
        out->basis = b;
}

/* Judges approver i over system sys (index si) and fills *out. The one
 * judgement behind both the findings and the evidence's basis. */
static void judge(const struct tg_ticket *t, const struct tg_policy *p,
                  const struct tg_directory *d, int64_t now, long si,
                  size_t i, struct tg_authority *out)
{
    const char *a = t->approvers[i];
    struct tg_ident id = tg_ident_classify(d, a);
    struct grant own, del;

    out->system = si;
    if (id.cls == TG_ID_PERSON) {
        out->person = 1;
        out->person_idx = id.ent.idx;
    }
    /* Missing and not-individual approvers are separation's findings
     * (REASONS.md skips them here only once reported: with
     * APPROVER_NOT_INDIVIDUAL off, a group approver holds no authority
     * of its own); a person named twice is judged once. */
    if (id.cls == TG_ID_ABSENT) {
        out->status = TG_AUTH_SKIPPED;
        out->why = "absent";
        return;
    }
    if (tg_ident_repeats(d, t->approvers, i)) {
        out->status = TG_AUTH_SKIPPED;
        out->why = "named twice";
        return;
    }
    if (id.cls == TG_ID_NOT_INDIVIDUAL &&
        p->action[TG_APPROVER_NOT_INDIVIDUAL] != TG_ACTION_OFF) {
        out->status = TG_AUTH_SKIPPED;
        out->why = "not an individual";
        return;
    }
    if (id.cls != TG_ID_PERSON || d->people[id.ent.idx].inactive) {
        out->status = TG_AUTH_NONE;
        out->why = id.cls == TG_ID_NOT_INDIVIDUAL ? "not an individual"
                   : id.cls == TG_ID_UNKNOWN      ? "not in the directory"
                                                  : "inactive";
        return;
    }
    own = grant_of(d, &d->systems[si], id.ent.idx, now, 0);
    del = grant_of(d, &d->systems[si], id.ent.idx, now, 1);
    /* Whether it holds is the best of both; the basis named is the
     * approver's own grant whenever that covers the request: the approval
     * did not rest on a delegation then. */
    if (own.owner || (own.has_tier && own.tier >= out->requested)) {
        out->status = TG_AUTH_HOLDS;
        set_basis(out, own.owner ? &own.owner_src : &own.tier_src);
    } else if (del.owner || (del.has_tier && del.tier >= out->requested)) {
        out->status = TG_AUTH_HOLDS;
        set_basis(out, del.owner ? &del.owner_src : &del.tier_src);
    } else if (own.has_tier || del.has_tier) {
        /* below the tier: the highest grant, the own one on a tie */
        out->status = TG_AUTH_TIER;
        set_basis(out, own.has_tier && (!del.has_tier || own.tier >= del.tier)
                           ? &own.tier_src
                           : &del.tier_src);
    } else {
        out->status = TG_AUTH_NONE;
        out->why = "no grant";
    }
}

/* The system t names, or -1 with *why: authority is skipped without one. */
static long system_of(const struct tg_ticket *t, const struct tg_directory *d,
                      const char **why)
{
    long si;

    if (!tg_ident_present(t->system)) {
        *why = "no system";
        return -1;
    }
    si = tg_directory_system(d, t->system, strlen(t->system));
    if (si < 0)
        *why = "unknown system";
    return si;
}

static void authority_init(const struct tg_ticket *t, struct tg_authority *o)
{
    memset(o, 0, sizeof(*o));
    o->basis = o->via = TG_BASIS_NONE;
    o->requested = tg_privilege_of(t->privilege);
    o->system = -1;
}

int tg_authority_judge(const struct tg_ticket *t, const struct tg_policy *p,
                       const struct tg_directory *d, int64_t now, size_t i,
                       struct tg_authority *out)
{
    const char *why = NULL;
    long si;

    authority_init(t, out);
    if (i >= t->n_approvers)
        return TG_EINVAL;
    /* tg_evaluate runs the approval path's validators only when this says
     * nothing. */
    if ((why = tg_evaluate_exempt(t, p, d)) != NULL ||
        (si = system_of(t, d, &why)) < 0) {
        struct tg_ident id = tg_ident_classify(d, t->approvers[i]);
        if (id.cls == TG_ID_PERSON) {
            out->person = 1;
            out->person_idx = id.ent.idx;
        }
        out->status = TG_AUTH_SKIPPED;
        out->why = why;
        return TG_OK;
    }
    judge(t, p, d, now, si, i, out);
    return TG_OK;
}

const char *tg_basis_name(enum tg_basis b)
{
    switch (b) {
    case TG_BASIS_OWNER:
        return "owner";
    case TG_BASIS_APPROVER:
        return "approver";
    case TG_BASIS_GROUP:
        return "group";
    case TG_BASIS_DELEGATE:
        return "delegate";
    default:
        return "none";
    }
}

int tg_authority_check(const struct tg_ticket *t, const struct tg_policy *p,
                       const struct tg_directory *d, int64_t now,
                       struct tg_findings *out)
{
    const char *why = NULL;
    const struct tg_system *sys;
    long si = system_of(t, d, &why);
    int rc = TG_OK;

    if (si < 0)
        return TG_OK;
    sys = &d->systems[si];
    for (size_t i = 0; i < t->n_approvers && rc == TG_OK; i++) {
        struct tg_authority a;
        char label[TG_IDENT_LABEL_MAX];
        const char *who;

        authority_init(t, &a);
        judge(t, p, d, now, si, i, &a);
        if (a.status == TG_AUTH_HOLDS || a.status == TG_AUTH_SKIPPED)
            continue;
        who = tg_ident_label(t, d, t->approvers[i], label, sizeof(label));
        if (a.status == TG_AUTH_TIER) {
            const char *args[] = {who, tg_privilege_name(a.max_privilege),
                                  sys->id, tg_privilege_name(a.requested)};
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
