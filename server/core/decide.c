/* decide.c - the one pipeline: ticket -> evaluation -> decision id -> doc. */
#include "server/core/decide.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/core/canonical.h"
#include "server/core/decision.h"
#include "server/core/facts.h"
#include "server/core/judged.h"
#include "validators/errors.h"

static const char unmappable[] = "The payload cannot be mapped to a ticket.";

/* The block a ticket's strings are copied into (tg_ticket_reserve): a usual
 * ticket's take a few hundred bytes, a longer one's get their own. One
 * allocation instead of twenty strdup and free pairs (1.3% of a ticket's
 * instructions in check, about as much of a replayed record). */
#define TICKET_BLOCK 1024

void tg_decided_init(struct tg_decided *o, char *err, size_t cap)
{
    memset(o, 0, sizeof(*o));
    tg_ticket_init(&o->ticket);
    /* Without the block each string is its own allocation: still right. */
    (void)tg_ticket_reserve(&o->ticket, TICKET_BLOCK);
    tg_result_init(&o->result);
    o->err = err;
    o->err_cap = cap;
    if (cap)
        err[0] = '\0';
}

void tg_decided_cleanup(struct tg_decided *o)
{
    json_decref(o->doc);
    o->doc = NULL;
    json_decref(o->facts); /* before what it borrows */
    o->facts = NULL;
    json_decref(o->judged);
    o->judged = NULL;
    tg_result_cleanup(&o->result);
    tg_ticket_cleanup(&o->ticket);
}

/* The ticket of canonical. An event that is not gated is answered skip
 * even when it does not make a ticket, and then may name none. */
static int map(const struct tg_decide *d, const json_t *canonical,
               struct tg_decided *o)
{
    struct tg_ticket *t = &o->ticket;
    int rc;

    o->step = TG_DECIDE_MAP;
    if (canonical) {
        rc = tg_canonical_from_json(canonical, t, o->err, o->err_cap);
        if (rc == TG_ENOMEM)
            return rc;
        if (rc != 0 && d->gated) {
            o->err[o->err_cap - 1] = '\0';
            return rc;
        }
        if (rc != 0)
            tg_ticket_init(t);
    }
    if (d->gated && !canonical) {
        snprintf(o->err, o->err_cap, "%s", unmappable);
        return TG_EINVAL;
    }
    /* A delivery that is not gated may not name a ticket (a comment
     * event): the skip answer then names none. */
    if (!t->id && !(t->id = strdup("")))
        return TG_ENOMEM;
    return 0;
}

static int evaluate(const struct tg_decide *d, struct tg_decided *o)
{
    struct tg_context ctx = {.now = d->now, .copy_forward_uses = -1};
    int rc;

    if (!d->gated) {
        o->result.verdict = TG_SKIP;
        return 0;
    }
    o->step = TG_DECIDE_COPY_FORWARD;
    if (d->copy_forward &&
        (rc = d->copy_forward(d->ctx, &o->ticket, &ctx.copy_forward_uses)) != 0)
        return rc;
    o->step = TG_DECIDE_EVALUATE;
    if ((rc = tg_evaluate(&o->ticket, &d->cfg->policy, &d->cfg->directory,
                          &ctx, &o->result)) != 0)
        return rc;
    /* policy.exceptions, here so that serve, check, replay and shadow let
     * the same findings through at the same evaluation time. */
    return tg_exceptions_apply(&d->cfg->exceptions, &o->ticket,
                               &d->cfg->directory, d->now, &o->result);
}

static int document(const struct tg_decide *d, struct tg_decided *o)
{
    unsigned char rnd[3] = {0, 0, 0};
    uint64_t seq = 0;
    int rc;

    o->step = TG_DECIDE_ID;
    if (d->id && (rc = d->id(d->ctx, &o->ticket, &seq, rnd)) != 0)
        return rc;
    tg_decision_id_format(o->decision_id, sizeof(o->decision_id), seq, rnd);
    o->step = TG_DECIDE_DOCUMENT;
    if (!d->no_doc &&
        !(o->doc = tg_decision_build(&o->ticket, d->source, &o->result,
                                     o->decision_id, d->now, d->cfg->digest)))
        return TG_ENOMEM;
    /* What a record keeps beside the decision: a skip records nothing. */
    if (d->no_judged || o->result.verdict == TG_SKIP)
        return 0;
    o->judged = tg_judged_build(&o->ticket, &d->cfg->policy,
                                &d->cfg->directory, d->now);
    /* What replay and the report read of it, recorded beside it (issues
     * 13/14): they need not parse both documents of every record. */
    if (o->judged && o->doc)
        o->facts = tg_facts_build(o->doc, o->judged);
    return o->judged && (o->facts || !o->doc) ? 0 : TG_ENOMEM;
}

int tg_decide(const struct tg_decide *d, const json_t *canonical,
              struct tg_decided *o)
{
    int rc;

    if ((rc = map(d, canonical, o)) != 0 || (rc = evaluate(d, o)) != 0)
        return rc;
    return document(d, o);
}
