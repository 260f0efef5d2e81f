/* auditshow.c - `ticketgate audit show`: one decision record in words. */

#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/cli/cli.h"
#include "server/config/config.h"
#include "server/store/show.h"
#include "server/store/store.h"
#include "validators/errors.h"
#include "validators/timeparse.h"

#define SHOW_USAGE                                                         \
    "usage: ticketgate audit show DECISION_ID -c FILE "                    \
    "[--format text|json] (--store PATH instead of, or beside, -c FILE)"

struct show_args {
    const char *id;
    const char *config;
    const char *store;  /* --store: this file rather than store.path (an
                           archive; without -c, no MAC key) */
    const char *format; /* "text" or "json" */
    char how[600];      /* how to name the store again in hints: "-c FILE"
                           or "--store PATH" */
};

/* What the chain says of the record. */
struct chain_state {
    int read;      /* 0: the chain could not be verified (reason says why) */
    int verified;  /* 1: every link from the anchor up to the record holds */
    int keyed;     /* 1: a MAC key was given (-c FILE with store.hmac_key) */
    struct tg_evidence_verdict v;
    int policy_kept; /* 1: the store holds the files of the record's policy
                        (a "policy" entry keyed by its digest) */
};

/* The shared one-line usage error, for this command. */
static int usage_error(const char *what, const char *arg)
{
    return tg_cli_usage_error("audit show", SHOW_USAGE, what, arg);
}

static int parse_args(int argc, char **argv, struct show_args *a)
{
    memset(a, 0, sizeof(*a));
    a->format = "text";
    for (int i = 1; i < argc; i++) {
        int missing = 0;

        if (tg_cli_take_opt(argc, argv, &i, "-c", &a->config, &missing) ||
            tg_cli_take_opt(argc, argv, &i, "--config", &a->config,
                            &missing) ||
            tg_cli_take_opt(argc, argv, &i, "--store", &a->store, &missing) ||
            tg_cli_take_opt(argc, argv, &i, "--format", &a->format,
                            &missing)) {
            if (missing)
                return usage_error("a value is missing after", argv[i]);
            continue;
        }
        if (argv[i][0] == '-' || a->id)
            return usage_error("unknown argument", argv[i]);
        a->id = argv[i];
    }
    if (!a->id)
        return usage_error("the DECISION_ID is missing", NULL);
    if (!a->config && !a->store)
        return usage_error("-c FILE (or --store PATH) is required", NULL);
    if (strcmp(a->format, "text") && strcmp(a->format, "json"))
        return usage_error("--format takes text or json, not", a->format);
    return 0;
}

/* ------------------------------------------------------------ printing */

/* Writes s for a terminal: the store file may hold anything, so control
 * characters (C0, DEL, C1) and bidirectional controls become '?'; other
 * UTF-8 is kept (names). */
static void out_text(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    for (; *p; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            fputc('?', f);
        } else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
            fputc('?', f);
            p++;
        } else if (*p == 0xe2 && ((p[1] == 0x80 && p[2] >= 0xaa &&
                                   p[2] <= 0xae) ||
                                  (p[1] == 0x81 && p[2] >= 0xa6 &&
                                   p[2] <= 0xa9))) {
            /* bidirectional overrides and isolates (U+202A..E,
             * U+2066..9) could make a line read other than it is */
            fputc('?', f);
            p += 2;
        } else
            fputc(*p, f);
    }
}

/* printf, with every %s argument passed through out_text: the format is
 * ours, the arguments come from the store. Only %s is supported. */
static void say(FILE *f, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    for (const char *p = fmt; *p; p++) {
        if (p[0] == '%' && p[1] == 's') {
            const char *s = va_arg(ap, const char *);
            out_text(f, s ? s : "(none)");
            p++;
        } else
            fputc(*p, f);
    }
    va_end(ap);
}

static const char *str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* One identity of the judged ticket: "given", then who the directory
 * says it is. */
static void say_identity(FILE *f, const json_t *id)
{
    const char *given = str(id, "given"), *res = str(id, "resolved");
    const char *name = str(id, "name"), *kind = str(id, "kind");

    if (!given) {
        say(f, "(not named)");
        return;
    }
    say(f, "%s", given);
    if (res && strcmp(res, given) && name)
        say(f, " = %s (%s)", res, name);
    else if (res && strcmp(res, given))
        say(f, " = %s", res);
    else if (name)
        say(f, " (%s)", name);
    if (!res)
        say(f, ", %s", kind && !strcmp(kind, "generic")
                           ? "a generic name, in no directory entry"
                           : "not in the directory");
    else if (kind && strcmp(kind, "person"))
        say(f, ", a %s identity", kind);
    if (json_is_true(json_object_get(id, "inactive")))
        say(f, ", inactive");
}

/* How a listed approver holds it: "... up to write". */
static void say_listing(FILE *f, const json_t *a, const char *basis,
                        const char *sys)
{
    const char *max = str(a, "max_privilege");

    if (!strcmp(basis, "owner"))
        say(f, "an owner of %s", sys);
    else if (!strcmp(basis, "approver"))
        say(f, "listed by name as an approver of %s up to %s", sys, max);
    else if (!strcmp(basis, "group"))
        say(f, "an approver of %s through the group %s, up to %s", sys,
            str(a, "group"), max);
}

static void say_authority(FILE *f, const json_t *a)
{
    const char *basis = str(a, "basis"), *result = str(a, "result");
    const char *sys = str(a, "system"), *why = str(a, "why");
    const char *req = str(a, "requested");

    if (!basis || !result) {
        say(f, "      authority: not recorded\n");
        return;
    }
    say(f, "      authority: ");
    /* Not judged: no basis was looked for, so none is named ("none over
     * payments-db; not judged" read as if one had been sought). */
    if (!strcmp(result, "not_judged") && !strcmp(basis, "none")) {
        say(f, "not judged (%s): the authority check did not apply\n", why);
        return;
    }
    if (!strcmp(basis, "delegate")) {
        say(f, "delegate of %s from %s until %s (whole UTC days), who is ",
            str(a, "delegator"), str(a, "from"), str(a, "until"));
        say_listing(f, a, str(a, "via") ? str(a, "via") : "", sys);
    } else if (!strcmp(basis, "none"))
        say(f, sys ? "none over %s" : "none%s", sys ? sys : "");
    else
        say_listing(f, a, basis, sys);
    if (!strcmp(result, "holds"))
        say(f, "; covers the requested %s\n", req);
    else if (!strcmp(result, "below_tier"))
        say(f, "; does NOT cover the requested %s (AUTHORITY_TIER)\n", req);
    else if (!strcmp(result, "none"))
        say(f, " (%s; AUTHORITY_NONE)\n", why);
    else
        say(f, "; not judged: %s\n", why);
}

static void say_approvers(FILE *f, const json_t *ids, const json_t *ticket)
{
    const json_t *ap = json_object_get(ids, "approvers"), *one;
    size_t i;

    say(f, "Who approved, under which authority\n");
    if (!json_array_size(ap))
        say(f, "  nobody is named as approver%s\n",
            json_is_true(json_object_get(ticket, "emergency"))
                ? " (an emergency: break-glass)"
                : "");
    json_array_foreach(ap, i, one) {
        const json_t *as = json_object_get(one, "assigned");

        say(f, "  ");
        say_identity(f, one);
        say(f, ", judged at %s\n", str(one, "at"));
        if (as) {
            say(f, "      acted for the assigned approver ");
            say_identity(f, as);
            say(f, "\n");
        }
        say_authority(f, json_object_get(one, "authority"));
    }
    if (json_object_get(ids, "assigned_approver")) {
        say(f, "  assigned approver: ");
        say_identity(f, json_object_get(ids, "assigned_approver"));
        say(f, "\n");
    }
}

static void say_expiry(FILE *f, const char *exp)
{
    int64_t t;
    char utc[32];

    say(f, "Until when\n");
    if (!exp || !*exp) {
        say(f, "  no end given\n");
        return;
    }
    say(f, "  expires_at %s", exp);
    if (tg_time_parse(exp, strlen(exp), &t) == 0 &&
        tg_time_format(t, utc, sizeof(utc)) == 0 && strcmp(utc, exp))
        say(f, " (%s)", utc);
    say(f, "\n");
}

/* The four answers from the judged ticket. */
static void say_judged(FILE *f, const json_t *j)
{
    const json_t *t = json_object_get(j, "ticket");
    const json_t *ids = json_object_get(j, "identities");
    const json_t *ben = json_object_get(ids, "beneficiary");
    const json_t *sc = json_object_get(t, "scope");

    say(f, "Who asked\n  requester:   ");
    say_identity(f, json_object_get(ids, "requester"));
    say(f, "\n  beneficiary: ");
    say_identity(f, ben);
    say(f, ", type %s%s\n", str(ben, "type"),
        json_is_true(json_object_get(ben, "from_requester"))
            ? " (none named: the requester)"
            : "");
    say(f, "  owner:       ");
    say_identity(f, json_object_get(ids, "owner"));
    say(f, "\nWhy\n  justification: %s\n", str(t, "justification"));
    say(f, "  scope: %s access to %s", str(sc, "privilege"), str(sc, "system"));
    say(f, " (%s), entitlement %s%s\n", str(sc, "environment"),
        str(sc, "entitlement"),
        json_is_true(json_object_get(t, "emergency")) ? "; an emergency"
                                                      : "");
    say_approvers(f, ids, t);
    say_expiry(f, str(t, "expires_at"));
}

/* What an old record still says without its judged ticket. */
static void say_unjudged(FILE *f, const json_t *doc)
{
    const json_t *tr = json_object_get(doc, "transition");

    say(f, "The judged ticket was not kept: this record was written before "
           "records kept it. Who asked, why, the approver's authority and "
           "the expiry are not in the evidence; the ITSM ticket itself may "
           "still say.\n");
    if (str(tr, "actor"))
        say(f, "  the transition's actor: %s\n", str(tr, "actor"));
    if (str(doc, "assigned_approver"))
        say(f, "  the assigned approver: %s\n", str(doc, "assigned_approver"));
}

static void say_findings(FILE *f, const json_t *doc)
{
    const json_t *fs = json_object_get(doc, "findings"), *one;
    size_t i;

    say(f, "Findings\n");
    if (!json_array_size(fs))
        say(f, "  none\n");
    json_array_foreach(fs, i, one) {
        const json_t *ex = json_object_get(one, "exception");

        say(f, "  - %s %s: %s", str(one, "action"), str(one, "code"),
            str(one, "message"));
        if (ex)
            say(f, " [exception %s until %s, %s]", str(ex, "id"),
                str(ex, "until"), str(ex, "ticket_ref"));
        say(f, "\n");
    }
}

/* how names the store in the commands hinted at: "-c FILE" or
 * "--store PATH". */
static void say_chain(FILE *f, const struct tg_evidence_shown *r,
                      const struct chain_state *c, const char *how)
{
    say(f, "Chain\n");
    fprintf(f, "  seq %llu", (unsigned long long)r->seq);
    /* the head is known only when the walk reached it */
    if (c->read && c->v.intact)
        fprintf(f, " of %llu", (unsigned long long)c->v.head_seq);
    say(f, ", link hash %s\n", r->hash);
    if (!c->read)
        say(f, "  could NOT be verified: %s\n", c->v.reason);
    else if (c->verified && c->v.intact)
        say(f, "  verifies: every link up to the head holds%s\n",
            !r->has_mac ? ""
            : c->keyed  ? ", MACs included"
                        : " (hashes only: the records carry MACs, which "
                          "only store.hmac_key can check: give -c FILE "
                          "with that key)");
    else if (c->verified)
        fprintf(f, "  verifies up to this record; broken later, at seq "
                   "%llu: run `ticketgate audit verify %s`\n",
                (unsigned long long)c->v.broken_seq, how);
    else {
        fprintf(f, "  does NOT verify: broken at seq %llu",
                (unsigned long long)c->v.broken_seq);
        say(f, " (%s); this record cannot be trusted as shown\n",
            c->v.reason);
    }
}

static void show_text(const struct tg_evidence_shown *r, const json_t *doc,
                      const json_t *judged, const struct chain_state *c,
                      const char *how)
{
    FILE *f = stdout;

    say(f, "Decision %s: %s", r->decision_id, str(doc, "decision"));
    if (json_is_true(json_object_get(doc, "dry_run")))
        say(f, " (dry run)");
    say(f, "\n  ticket %s from %s, evaluated at %s\n", r->ticket, r->source,
        str(doc, "evaluated_at"));
    if (r->delivery_id)
        say(f, "  delivery %s\n", r->delivery_id);
    if (judged)
        say_judged(f, judged);
    else
        say_unjudged(f, doc);
    say_findings(f, doc);
    if (c->policy_kept)
        say(f, "Policy\n  %s (the files: ticketgate audit policy %s %s)\n",
            r->policy, r->policy, how);
    else
        say(f, "Policy\n  %s (its files are NOT kept in this store: the "
               "decision was made before policies were kept, or they were "
               "archived: try ticketgate audit policy %s --store ARCHIVE)\n",
            r->policy, r->policy);
    say_chain(f, r, c, how);
}

/* A JSON string of s, or null; text that is not UTF-8 (the file was
 * edited) has its non-ASCII bytes replaced by '?' rather than fail. */
static json_t *jtext(const char *s)
{
    json_t *v;
    char *copy;
    size_t n;

    if (!s)
        return json_null();
    if ((v = json_string(s)))
        return v;
    n = strlen(s);
    if (!(copy = malloc(n + 1)))
        return NULL;
    for (size_t i = 0; i <= n; i++)
        copy[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
    v = json_string(copy);
    free(copy);
    return v;
}

/* Sets o[k] = v (taking v); nonzero when v is NULL or the set fails. */
static int put(json_t *o, const char *k, json_t *v)
{
    return !v || json_object_set_new(o, k, v);
}

/* {"verified", "intact", "head_seq" | "broken_seq" + "reason" | "error"} */
static json_t *chain_json(const struct chain_state *c)
{
    json_t *ch = json_object();
    int bad = !ch;

    bad = bad || put(ch, "verified", json_boolean(c->read && c->verified)) ||
          put(ch, "intact", json_boolean(c->read && c->v.intact)) ||
          put(ch, "macs_checked", json_boolean(c->read && c->keyed));
    if (!bad && c->read && c->v.intact)
        bad = put(ch, "head_seq", json_integer((json_int_t)c->v.head_seq));
    else if (!bad && c->read)
        bad = put(ch, "broken_seq",
                  json_integer((json_int_t)c->v.broken_seq)) ||
              put(ch, "reason", jtext(c->v.reason));
    else if (!bad)
        bad = put(ch, "error", jtext(c->v.reason));
    if (bad) {
        json_decref(ch);
        return NULL;
    }
    return ch;
}

/* The stored facts document of r (core/facts.h) as JSON: null before
 * v3, its text as a string when it is not JSON (an edited row: the chain
 * says so). NULL on ENOMEM. */
static json_t *facts_json(const struct tg_evidence_shown *r)
{
    json_t *v;

    if (!r->facts)
        return json_null();
    v = json_loadb(r->facts, r->facts_len, 0, NULL);
    return v ? v : jtext(r->facts);
}

/* The record as one JSON object for tools. */
static int show_json(const struct tg_evidence_shown *r, json_t *doc,
                     json_t *judged, const struct chain_state *c)
{
    json_t *o = json_object();
    int bad = !o;

    bad = bad || put(o, "seq", json_integer((json_int_t)r->seq)) ||
          put(o, "decision_id", jtext(r->decision_id)) ||
          put(o, "ticket", jtext(r->ticket)) ||
          put(o, "source", jtext(r->source)) ||
          put(o, "delivery_id", jtext(r->delivery_id)) ||
          put(o, "policy", jtext(r->policy)) ||
          put(o, "policy_kept", json_boolean(c->policy_kept)) ||
          put(o, "time", json_integer((json_int_t)r->time)) ||
          put(o, "hash", jtext(r->hash)) ||
          put(o, "ticket_kept", json_boolean(judged != NULL)) ||
          put(o, "decision", json_incref(doc)) ||
          put(o, "judged", judged ? json_incref(judged) : json_null()) ||
          put(o, "facts", facts_json(r)) || put(o, "chain", chain_json(c));
    if (!bad)
        bad = json_dumpf(o, stdout, JSON_COMPACT) || fputc('\n', stdout) < 0;
    json_decref(o);
    if (bad)
        fprintf(stderr, "ticketgate audit show: the record could not be "
                "written as JSON (out of memory, or stdout failed)\n");
    return bad ? -1 : 0;
}

/* ------------------------------------------------------------- command */

static void verify_chain(const struct tg_config *c,
                         const struct tg_evidence_shown *r,
                         struct chain_state *out)
{
    int rc;

    memset(out, 0, sizeof(*out));
    rc = tg_evidence_verify_file(c->store.path, c->store.hmac_key,
                                 c->store.hmac_key_len, &out->v);
    if (rc) {
        if (rc != TG_EIO)
            snprintf(out->v.reason, sizeof(out->v.reason), "out of memory");
        return;
    }
    out->read = 1;
    out->keyed = c->store.hmac_key_len > 0;
    /* A break after the record leaves every link up to it holding. */
    out->verified = out->v.intact || out->v.broken_seq > r->seq;
}

static int show(const struct tg_config *c, const struct show_args *a)
{
    struct tg_evidence_shown r;
    struct chain_state ch;
    json_t *doc = NULL, *judged = NULL;
    int rc = tg_evidence_show_file(c->store.path, a->id, &r);

    if (rc == TG_ENOTFOUND) {
        fprintf(stderr, "%s: no decision ", c->store.path);
        out_text(stderr, a->id);
        fprintf(stderr, " in this store; check the id (d-<12 digits>-<6 "
                "hex>), or look in its archives\n");
        return 1;
    }
    if (rc) {
        fprintf(stderr, "%s: %s; check %s%s\n", c->store.path,
                rc == TG_ENOMEM ? "out of memory"
                                : "cannot be read as a ticketgate store",
                a->store ? "the --store path" : "store.path in ",
                a->store ? "" : c->path);
        return 2;
    }
    doc = json_loadb(r.decision ? r.decision : "", r.decision_len, 0, NULL);
    if (r.judged)
        judged = json_loadb(r.judged, r.judged_len, 0, NULL);
    verify_chain(c, &r, &ch);
    if (r.policy) {
        char *kept = NULL;

        ch.policy_kept = tg_evidence_get_entry_file(c->store.path, "policy",
                                                    r.policy, &kept) == 0;
        free(kept);
    }
    if (!doc || (r.judged && !judged)) {
        /* An edited row: the chain says so; show what can be read. */
        fprintf(stderr, "%s: the record's %s is not JSON\n", c->store.path,
                doc ? "judged ticket" : "decision document");
        if (!doc && !(doc = json_object())) {
            rc = 2;
            goto out;
        }
    }
    if (!strcmp(a->format, "json"))
        rc = show_json(&r, doc, judged, &ch) ? 2 : 0;
    else {
        show_text(&r, doc, judged, &ch, a->how);
        rc = fflush(stdout) == 0 ? 0 : 2;
    }
    if (rc == 0 && !(ch.read && ch.verified))
        rc = 1;
out:
    json_decref(doc);
    json_decref(judged);
    tg_evidence_shown_free(&r);
    return rc;
}

int tg_cmd_audit_show(int argc, char **argv)
{
    struct show_args a;
    struct tg_config *c = NULL;
    int rc;

    struct tg_config bare;

    if ((rc = parse_args(argc, argv, &a)))
        return rc;
    /* --store alone: years later the configuration may be gone, and an
     * archive is a file of its own; there is no MAC key then, so the chain
     * is checked by its hashes only (say_chain says so). */
    memset(&bare, 0, sizeof(bare));
    bare.store.path = (char *)a.store;
    if (a.store)
        rc = snprintf(a.how, sizeof(a.how), "--store %s", a.store);
    else
        rc = snprintf(a.how, sizeof(a.how), "-c %s", a.config);
    if (rc < 0 || (size_t)rc >= sizeof(a.how))
        return usage_error("the path is too long:",
                           a.store ? a.store : a.config);
    if (a.config && (rc = tg_cli_load_config(a.config, &c)))
        return rc;
    if (c && a.store) {
        free(c->store.path);
        if (!(c->store.path = strdup(a.store))) {
            fprintf(stderr, "ticketgate audit show: out of memory\n");
            tg_config_free(c);
            return 2;
        }
    }
    if (c && !c->store.path) {
        fprintf(stderr, "%s: store.path is not set; set it to the evidence "
                "store file\n", a.config);
        rc = 2;
    } else
        rc = show(c ? c : &bare, &a);
    tg_config_free(c);
    return rc;
}
