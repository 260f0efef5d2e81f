/* decision.c - the decision document of API.md and its inline message. */
#include "server/core/decision.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "validators/exceptions.h"
#include "validators/timeparse.h"

char *tg_decision_message(const struct tg_result *r)
{
    const struct tg_findings *f = &r->findings;
    const char *lead;
    size_t need, off;
    char *msg;

    if (r->verdict == TG_ALLOW || r->verdict == TG_SKIP || f->n == 0)
        return strdup("");
    if (r->verdict == TG_DENY)
        lead = "Access governance blocked this transition:";
    else if (r->dry_run && r->verdict == TG_ANNOTATE) {
        int would_deny = 0;
        for (size_t i = 0; i < f->n; i++)
            would_deny |= f->v[i].action == TG_ACTION_DENY;
        lead = would_deny ? "Access governance would block this transition "
                            "(dry run, not enforced):"
                          : "Access governance notes on this transition:";
    } else
        lead = "Access governance notes on this transition:";
    need = strlen(lead) + 1;
    for (size_t i = 0; i < f->n; i++)
        need += 3 + strlen(f->v[i].message);
    msg = malloc(need);
    if (!msg)
        return NULL;
    off = strlen(lead);
    memcpy(msg, lead, off);
    for (size_t i = 0; i < f->n; i++) {
        size_t n = strlen(f->v[i].message);
        memcpy(msg + off, "\n- ", 3);
        memcpy(msg + off + 3, f->v[i].message, n);
        off += 3 + n;
    }
    msg[off] = '\0';
    return msg;
}

/* Digit by digit rather than snprintf: check formats two ids a ticket (a
 * worker's placeholder, then the real one in input order), and snprintf's
 * format parsing was most of their cost. A short buffer gets the id cut
 * short, as snprintf did. */
void tg_decision_id_format(char *buf, size_t cap, uint64_t seq,
                           const unsigned char rnd[3])
{
    static const char hex[] = "0123456789abcdef";
    char id[sizeof("d-000000000000-000000")];
    uint64_t v = seq % 1000000000000ULL;

    if (cap == 0)
        return;
    id[0] = 'd';
    id[1] = '-';
    for (int i = 13; i >= 2; i--) {
        id[i] = (char)('0' + v % 10);
        v /= 10;
    }
    id[14] = '-';
    for (int i = 0; i < 3; i++) {
        id[15 + 2 * i] = hex[rnd[i] >> 4];
        id[16 + 2 * i] = hex[rnd[i] & 15];
    }
    id[sizeof(id) - 1] = '\0';
    if (cap > sizeof(id))
        cap = sizeof(id);
    memcpy(buf, id, cap - 1);
    buf[cap - 1] = '\0';
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* Sets o[k] = v, taking v's reference; keys are our own ASCII literals, so
 * jansson's UTF-8 check of them is skipped. */
static int put(json_t *o, const char *k, json_t *v)
{
    return v ? json_object_set_new_nocheck(o, k, v) : -1;
}

/* The approver who acted and was judged: the first approver (the ServiceNow
 * adapter's approval.acted_by), else the transition's actor, or NULL. */
static const char *acted_by(const struct tg_ticket *t)
{
    if (t->n_approvers && t->approvers[0] && *t->approvers[0])
        return t->approvers[0];
    return t->actor && *t->actor ? t->actor : NULL;
}

/* The policy exception that let a finding through (schemas/
 * decision.schema.json): which, until when, and where it was accepted. */
static json_t *exception_json(const struct tg_exception *e)
{
    json_t *o = json_object();
    if (!o || put(o, "id", json_string(e->id)) ||
        put(o, "until", json_string(e->until)) ||
        put(o, "ticket_ref", json_string(e->ticket_ref))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *tg_decision_findings(const struct tg_result *r)
{
    json_t *findings = json_array();
    const struct tg_findings *f = &r->findings;
    int bad = !findings;

    for (size_t i = 0; i < f->n && !bad; i++) {
        const struct tg_code_info *ci = tg_code_info(f->v[i].code);
        json_t *o = json_object();
        /* Messages are built from valid UTF-8 input cut at character
         * boundaries, and the rest are our own ASCII literals. */
        if (!o || put(o, "code", json_string_nocheck(ci->name)) ||
            put(o, "validator",
                json_string_nocheck(tg_validator_name(ci->validator))) ||
            put(o, "action",
                json_string_nocheck(tg_action_name(f->v[i].action))) ||
            put(o, "field", json_string_nocheck(f->v[i].field)) ||
            put(o, "message", json_string_nocheck(f->v[i].message)) ||
            (f->v[i].exception &&
             put(o, "exception", exception_json(f->v[i].exception)))) {
            json_decref(o);
            bad = 1;
        } else {
            bad = json_array_append_new(findings, o) != 0;
        }
    }
    if (bad) {
        json_decref(findings);
        return NULL;
    }
    return findings;
}

json_t *tg_decision_build(const struct tg_ticket *t, const char *source,
                          const struct tg_result *r, const char *decision_id,
                          int64_t evaluated_at, const char *policy_digest)
{
    json_t *doc = json_object(), *findings = tg_decision_findings(r),
           *tr = json_object();
    char when[32], *msg = tg_decision_message(r);
    int bad = !doc || !findings || !tr || !msg;

    if (!source)
        source = t->source ? t->source : "generic";
    if (tg_time_format(evaluated_at, when, sizeof(when)) != 0)
        snprintf(when, sizeof(when), "1970-01-01T00:00:00Z");
    bad = bad || put(tr, "from", str_or_null(t->from)) ||
          put(tr, "to", str_or_null(t->to)) ||
          /* A delegate acted for the assigned approver: the record names
           * both, the one who acted (and was judged) as the actor. */
          (t->assigned_approver && acted_by(t) &&
           put(tr, "actor", json_string(acted_by(t)))) ||
          put(doc, "decision",
              json_string_nocheck(tg_verdict_name(r->verdict))) ||
          put(doc, "decision_id", json_string(decision_id)) ||
          put(doc, "ticket", json_string(t->id)) ||
          put(doc, "source", json_string(source)) ||
          put(doc, "transition", json_incref(tr)) ||
          put(doc, "evaluated_at", json_string_nocheck(when)) ||
          put(doc, "policy", json_string(policy_digest)) ||
          put(doc, "dry_run", json_boolean(r->dry_run)) ||
          put(doc, "findings", json_incref(findings)) ||
          put(doc, "message", json_string_nocheck(msg));
    /* ServiceNow: a delegate approved for the assigned approver. The
     * evidence stores this document as sent, so it keeps both people. */
    if (!bad && t->assigned_approver)
        bad = put(doc, "assigned_approver", json_string(t->assigned_approver));
    json_decref(findings);
    json_decref(tr);
    free(msg);
    if (bad) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}
