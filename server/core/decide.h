/* decide.h - the one pipeline: ticket -> evaluation -> decision id -> doc. */
#ifndef TG_DECIDE_H
#define TG_DECIDE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "server/config/config.h"
#include "validators/evaluate.h"
#include "validators/ticket.h"

/* The step tg_decide() stopped at when it failed. */
enum tg_decide_step {
    TG_DECIDE_MAP,          /* the canonical JSON is no ticket */
    TG_DECIDE_COPY_FORWARD, /* the copy_forward hook failed */
    TG_DECIDE_EVALUATE,
    TG_DECIDE_ID, /* the id hook failed */
    TG_DECIDE_DOCUMENT,
};

/* How one ticket is decided. Both the server and `check` decide through
 * this, so that they cannot decide one ticket two ways; what only the
 * server has (the store) comes in through the hooks. */
struct tg_decide {
    const struct tg_config *cfg; /* policy, directory and digest */
    int64_t now;                 /* UTC seconds: evaluated_at */
    /* 0: the event is outside every gate. The answer is skip, nothing is
     * evaluated, and a payload that makes no ticket is no error. */
    int gated;
    /* The document's source; NULL: the ticket's own, else "generic". */
    const char *source;
    /* The copy-forward count of t (REASONS.md) in *uses, -1 when unknown;
     * returns 0 or an error (TG_EIO, TG_ENOMEM). NULL: -1, as offline. */
    int (*copy_forward)(void *ctx, const struct tg_ticket *t, long *uses);
    /* The decision id's sequence number and 3 random bytes for t; returns
     * 0 or an error. NULL: sequence 0 and zero bytes. */
    int (*id)(void *ctx, const struct tg_ticket *t, uint64_t *seq,
              unsigned char rnd[3]);
    void *ctx; /* handed to the hooks */
    /* 1: leave o->judged NULL (a caller that records nothing, such as
     * replay, need not build it). */
    int no_judged;
    /* 1: leave o->doc NULL (replay compares results, and builds the
     * document, with tg_decision_build, of a decision that changes). */
    int no_doc;
};

/* What tg_decide() made: the caller owns it (tg_decided_cleanup). */
struct tg_decided {
    struct tg_ticket ticket; /* its id is "" when the payload named none */
    struct tg_result result;
    char decision_id[32];
    json_t *doc;              /* the decision document (new reference) */
    /* The judged ticket (core/judged.h, PLAN.md interface 2) of a decision
     * that is not skip, for the evidence record; else NULL. */
    json_t *judged;
    /* Its facts document (core/facts.h), built with it from doc and
     * judged, whose values it borrows: dump it before they change. NULL
     * when judged is. */
    json_t *facts;
    enum tg_decide_step step; /* where it failed, when it did */
    char *err;                /* caller's buffer: why the map failed */
    size_t err_cap;
};

/* Prepares o, with a block for its ticket's strings; err (cap bytes,
 * cap > 0) receives a mapping failure. */
void tg_decided_init(struct tg_decided *o, char *err, size_t cap);

/* Frees what tg_decide() put in o. */
void tg_decided_cleanup(struct tg_decided *o);

/*
 * Maps canonical (may be NULL when not gated) to a ticket, evaluates it
 * (or answers skip when not gated), formats its decision id and builds
 * its document into o. Returns 0, or an error with o->step: TG_EINVAL at
 * TG_DECIDE_MAP with o->err set (no ticket in the payload), TG_ENOMEM, or
 * what a hook returned.
 */
int tg_decide(const struct tg_decide *d, const json_t *canonical,
              struct tg_decided *o);

#endif
