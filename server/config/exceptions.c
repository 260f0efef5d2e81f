/* exceptions.c - policy.exceptions: accepted risks with an owner, a ticket and an end. */
#include "server/config/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/util/log.h"
#include "validators/codes.h"
#include "validators/errors.h"
#include "validators/identity.h"
#include "validators/timeparse.h"

static const char every_key[] =
    "an exception names id, ticket_ref, owner, codes, match, until and reason";

/* 1 when s is a usable exception id: it is printed in messages and is a
 * metric label, so letters, digits and . _ : - only. */
static int id_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > TG_EXCEPTION_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' ||
              c == '-'))
            return 0;
    }
    return 1;
}

/* 1 when s has no control character: it goes into one-line messages. */
static int one_line(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    return 1;
}

/* 1 when s is exactly "YYYY-MM-DD" in digits and dashes. */
static int plain_date(const char *s)
{
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return 0;
    for (size_t i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return 0;
    return 1;
}

static void parse_id(struct ld *L, const yaml_node_t *n, const char *where,
                     const struct tg_exceptions *x, struct tg_exception *e)
{
    char nm[NAME_CAP], sh[SHOW_CAP];

    if (tg_cfg_get_str(L, n, tg_cfg_name_of(nm, sizeof(nm), "%s.id", where),
                       F_REQ, &e->id) != TG_OK)
        return;
    if (!id_ok(e->id)) {
        tg_cfg_problem(L, n,
                       "%s is '%s'; write at most %d letters, digits, '.', "
                       "'_', ':' or '-', such as EXC-12",
                       nm, tg_cfg_show(e->id, strlen(e->id), sh, sizeof(sh)),
                       TG_EXCEPTION_ID_MAX);
        return;
    }
    /* ticketgate_exception_uses_total counts ids past its 256th series
     * under id="other": an exception of that id would be counted with
     * them, and its uses could not be told apart. */
    if (strcmp(e->id, "other") == 0) {
        tg_cfg_problem(L, n,
                       "%s is 'other', which the metric "
                       "ticketgate_exception_uses_total keeps for the uses "
                       "of ids past its 256th; choose another id, such as "
                       "EXC-12",
                       nm);
        return;
    }
    for (size_t i = 0; i < x->n; i++)
        if (x->v[i].id && strcmp(x->v[i].id, e->id) == 0) {
            tg_cfg_problem(L, n,
                           "%s is %s, which the exception on line %d already "
                           "uses; give each exception its own id",
                           nm, e->id, x->v[i].line);
            return;
        }
}

static void parse_codes(struct ld *L, const yaml_node_t *n, const char *where,
                        struct tg_exception *e)
{
    char nm[NAME_CAP], sh[SHOW_CAP], **codes = NULL;
    size_t nc = 0;

    tg_cfg_name_of(nm, sizeof(nm), "%s.codes", where);
    if (tg_cfg_get_strlist(L, n, nm, 0, &codes, &nc) != TG_OK)
        return;
    if (nc == 0)
        tg_cfg_problem(L, n,
                       "%s is empty; list the reason codes the risk was "
                       "accepted for, such as [EXPIRY_TOO_LONG]",
                       nm);
    for (size_t i = 0; i < nc; i++) {
        enum tg_code c;
        if (tg_code_parse(codes[i], &c) != TG_OK)
            tg_cfg_problem(L, n,
                           "%s names '%s', which is no reason code; use a "
                           "code of REASONS.md in upper case, such as "
                           "EXPIRY_TOO_LONG",
                           nm,
                           tg_cfg_show(codes[i], strlen(codes[i]), sh,
                                       sizeof(sh)));
        else
            e->codes[c] = 1;
    }
    tg_cfg_free_strs(codes, nc);
}

/* The match rule: the keys and values of policy.routine rules. */
static void parse_match(struct ld *L, const yaml_node_t *n, const char *where,
                        struct tg_rule *r)
{
    static const char *const keys[] = {"environment", "privilege",
                                       "beneficiary_type", "system"};
    enum { ENV, PRIV, BTYPE, SYSTEM };
    static const char *const btypes[] = {"human", "service", "shared"};
    yaml_node_t *v[COUNT(keys)];
    char nm[NAME_CAP], mw[NAME_CAP], sh[SHOW_CAP], *priv = NULL;
    int bt;

    tg_cfg_name_of(mw, sizeof(mw), "%s.match", where);
    if (MAP_KEYS(L, n, mw, keys, v) != TG_OK)
        return;
    r->line = tg_cfg_line_of(n);
    tg_cfg_get_str(L, v[ENV],
                   tg_cfg_name_of(nm, sizeof(nm), "%s.environment", mw),
                   F_REQ | F_LOWER, &r->environment);
    if (tg_cfg_get_str(L, v[PRIV],
                       tg_cfg_name_of(nm, sizeof(nm), "%s.privilege", mw),
                       F_REQ, &priv) == TG_OK) {
        enum tg_privilege pv;
        if (tg_privilege_parse(priv, &pv) != TG_OK)
            tg_cfg_problem(L, v[PRIV], "%s is '%s'; write read, write or admin",
                           nm, tg_cfg_show(priv, strlen(priv), sh, sizeof(sh)));
        else if (!(r->privilege = strdup(tg_privilege_name(pv))))
            tg_cfg_nomem(L);
        free(priv);
    }
    if (tg_cfg_get_enum(L, v[BTYPE],
                        tg_cfg_name_of(nm, sizeof(nm), "%s.beneficiary_type",
                                       mw),
                        btypes, COUNT(btypes), &bt) == TG_OK &&
        !(r->beneficiary_type = strdup(btypes[bt])))
        tg_cfg_nomem(L);
    tg_cfg_get_str(L, v[SYSTEM],
                   tg_cfg_name_of(nm, sizeof(nm), "%s.system", mw), F_REQ,
                   &r->system);
    /* An exception for every ticket would be a policy change, which
     * belongs in policy.actions where replay and review see it. */
    if (!v[ENV] && !v[PRIV] && !v[BTYPE] && !v[SYSTEM])
        tg_cfg_problem(L, n,
                       "%s names none of environment, privilege, "
                       "beneficiary_type, system, so it would cover every "
                       "ticket; name what the risk was accepted for (or "
                       "change policy.actions instead)",
                       mw);
}

static void parse_until(struct ld *L, const yaml_node_t *n, const char *where,
                        int64_t latest, struct tg_exception *e)
{
    char nm[NAME_CAP], sh[SHOW_CAP], *s = NULL, last[32];

    tg_cfg_name_of(nm, sizeof(nm), "%s.until", where);
    if (tg_cfg_get_str(L, n, nm, F_REQ, &s) != TG_OK)
        return;
    if (!plain_date(s) || tg_time_parse(s, strlen(s), &e->until_end) != TG_OK) {
        tg_cfg_problem(L, n,
                       "%s is '%s', not a date; write YYYY-MM-DD (the "
                       "exception holds through that whole day, UTC)",
                       nm, tg_cfg_show(s, strlen(s), sh, sizeof(sh)));
    } else if (e->until_end > latest) {
        if (tg_time_format(latest, last, sizeof(last)) != TG_OK)
            snprintf(last, sizeof(last), "a year from today");
        last[10] = '\0';
        tg_cfg_problem(L, n,
                       "%s is %s, more than a year ahead; an accepted risk "
                       "is reviewed at least yearly: write %s or earlier, "
                       "and renew it under a new risk acceptance then",
                       nm, s, last);
    } else {
        memcpy(e->until, s, 11);
    }
    free(s);
}

static void parse_text(struct ld *L, const yaml_node_t *n, const char *where,
                       const char *key, size_t max, char **out)
{
    char nm[NAME_CAP];

    tg_cfg_name_of(nm, sizeof(nm), "%s.%s", where, key);
    if (tg_cfg_get_str(L, n, nm, F_REQ, out) != TG_OK || max == 0)
        return;
    if (strlen(*out) > max || !one_line(*out))
        tg_cfg_problem(L, n,
                       "%s is longer than %zu bytes or spans lines; it is "
                       "printed in every message the exception touches: "
                       "keep it to one short line (a ticket key such as "
                       "SEC-881, a directory id)",
                       nm, max);
}

int tg_cfg_parse_exceptions(struct ld *L, const yaml_node_t *n,
                            struct tg_config *c, int64_t now)
{
    static const char *const keys[] = {"id",    "ticket_ref", "owner", "codes",
                                       "match", "until",      "reason"};
    enum { ID, REF, OWNER, CODES, MATCH, UNTIL, REASON };
    struct tg_exceptions *x = &c->exceptions;
    int64_t latest = tg_exceptions_latest_until(now);
    size_t idx = 0;
    char where[NAME_CAP];

    if (!tg_cfg_want_list(L, n, "policy.exceptions"))
        return tg_cfg_status(L);
    x->v = calloc(tg_cfg_seq_len(n) + 1, sizeof(*x->v));
    if (!x->v)
        return tg_cfg_nomem(L);
    for (yaml_node_item_t *it = n->data.sequence.items.start;
         it < n->data.sequence.items.top && !L->oom; it++, idx++) {
        yaml_node_t *item = tg_cfg_node_at(L, *it);
        yaml_node_t *v[COUNT(keys)];
        /* Every entry read is kept, whole or not, so that one cleanup
         * frees it; a broken one fails the load anyway. */
        struct tg_exception *e = &x->v[x->n];

        tg_cfg_name_of(where, sizeof(where), "policy.exceptions[%zu]", idx);
        e->line = tg_cfg_line_of(item);
        if (!item || MAP_KEYS(L, item, where, keys, v) != TG_OK)
            continue;
        for (size_t k = 0; k < COUNT(keys); k++)
            if (!v[k])
                tg_cfg_problem(L, item, "%s has no %s; %s", where, keys[k],
                               every_key);
        if (v[ID])
            parse_id(L, v[ID], where, x, e);
        if (v[REF])
            parse_text(L, v[REF], where, "ticket_ref", TG_EXCEPTION_REF_MAX,
                       &e->ticket_ref);
        if (v[OWNER])
            parse_text(L, v[OWNER], where, "owner", TG_EXCEPTION_REF_MAX,
                       &e->owner);
        if (v[CODES])
            parse_codes(L, v[CODES], where, e);
        if (v[MATCH])
            parse_match(L, v[MATCH], where, &e->match);
        if (v[UNTIL])
            parse_until(L, v[UNTIL], where, latest, e);
        if (v[REASON])
            parse_text(L, v[REASON], where, "reason", 0, &e->reason);
        x->n++;
    }
    return tg_cfg_status(L);
}

int tg_cfg_check_exception_owners(struct ld *L, struct tg_config *c)
{
    char sh[SHOW_CAP];

    for (size_t i = 0; i < c->exceptions.n; i++) {
        struct tg_exception *e = &c->exceptions.v[i];
        struct tg_ident id;

        if (!e->owner)
            continue; /* already reported */
        id = tg_ident_classify(&c->directory, e->owner);
        if (id.cls == TG_ID_PERSON) {
            e->owner_inactive = c->directory.people[id.ent.idx].inactive;
            continue;
        }
        tg_cfg_problem_at(
            L, e->line,
            "policy.exceptions[%zu].owner is %s, %s; the owner is the one "
            "person accountable for the accepted risk: name an individual "
            "of the directory",
            i, tg_cfg_show(e->owner, strlen(e->owner), sh, sizeof(sh)),
            id.cls == TG_ID_NOT_INDIVIDUAL
                ? "which is not an individual (a group, a shared or "
                  "service account, or a generic name)"
                : "who is in no entry of the directory");
    }
    return tg_cfg_status(L);
}

size_t tg_config_exception_notes(const struct tg_config *c, int64_t now,
                                 struct tg_diag *notes)
{
    size_t added = 0;

    for (size_t i = 0; i < c->exceptions.n; i++) {
        const struct tg_exception *e = &c->exceptions.v[i];
        int64_t left = tg_exception_days_left(e, now);

        if (e->owner_inactive) {
            tg_diag_add(notes, c->path, e->line,
                        "note: exception %s is not applied: its owner %s is "
                        "inactive in the directory; name an active owner "
                        "who accepts the risk, or remove it",
                        e->id, e->owner);
            added++;
        }
        if (left < 0) {
            tg_diag_add(notes, c->path, e->line,
                        "note: exception %s ended on %s and no longer "
                        "applies; remove it",
                        e->id, e->until);
            added++;
        } else if (left <= TG_EXCEPTION_SOON_DAYS) {
            char when[32];
            if (left == 0)
                snprintf(when, sizeof(when), "today");
            else
                snprintf(when, sizeof(when), "in %lld day%s", (long long)left,
                         left == 1 ? "" : "s");
            tg_diag_add(notes, c->path, e->line,
                        "note: exception %s ends on %s (%s); after that day "
                        "its findings deny again: renew it under a new risk "
                        "acceptance or fix what it covers",
                        e->id, e->until, when);
            added++;
        }
    }
    return added;
}

void tg_config_log_exception_notes(const struct tg_config *c, int64_t now)
{
    struct tg_diag notes;

    tg_diag_init(&notes);
    tg_config_exception_notes(c, now, &notes);
    for (size_t i = 0; i < notes.n; i++)
        tg_log_event(TG_LOG_WARN, "exception", "%s", notes.msgs[i]);
    tg_diag_cleanup(&notes);
}
