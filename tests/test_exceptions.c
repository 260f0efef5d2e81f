/* test_exceptions.c - policy.exceptions: apply, load, lint, check and serve. */
/* needs: ticketgate */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "server/config/config.h"
#include "server/core/decision.h"
#include "server/util/metrics.h"
#include "tests/support/tg_test.h"
#include "tests/vfixture.h"
#include "validators/exceptions.h"

#define DAY 86400

static int64_t at(const char *rfc3339)
{
    int64_t t = 0;
    assert_int_equal(tg_time_parse(rfc3339, strlen(rfc3339), &t), 0);
    return t;
}

/* One exception as the loader makes it. */
static void exc(struct tg_exception *e, const char *id, const char *until,
                const char *system, const char *env, const char *priv,
                const enum tg_code *codes, size_t n)
{
    memset(e, 0, sizeof(*e));
    e->id = strdup(id);
    e->ticket_ref = strdup("SEC-881");
    e->owner = strdup("carol.diaz");
    e->reason = strdup("accepted");
    for (size_t i = 0; i < n; i++)
        e->codes[codes[i]] = 1;
    e->match.system = system ? strdup(system) : NULL;
    e->match.environment = env ? strdup(env) : NULL;
    e->match.privilege = priv ? strdup(priv) : NULL;
    memcpy(e->until, until, 11);
    assert_int_equal(tg_time_parse(until, strlen(until), &e->until_end), 0);
}

/* The exceptions of the table below, in configuration order. */
static void exceptions(struct tg_exceptions *x)
{
    static const enum tg_code expiry[] = {TG_EXPIRY_TOO_LONG};
    static const enum tg_code two[] = {TG_EXPIRY_TOO_LONG,
                                       TG_JUSTIFICATION_COPY_FORWARD};
    static const enum tg_code shortj[] = {TG_JUSTIFICATION_TOO_SHORT};

    x->n = 4;
    x->v = calloc(x->n, sizeof(*x->v));
    /* Ended before VF_NOW: skipped for the next one. */
    exc(&x->v[0], "EXC-OLD", "2026-11-30", "payments-db", NULL, NULL, expiry,
        1);
    exc(&x->v[1], "EXC-12", "2026-12-31", "payments-db", "prod", NULL, two, 2);
    /* Its owner left: not applied. */
    exc(&x->v[2], "EXC-HR", "2027-06-30", "hr-portal", NULL, "read", expiry,
        1);
    x->v[2].owner_inactive = 1;
    exc(&x->v[3], "EXC-DEV", "2027-03-31", NULL, "dev", NULL, shortj, 1);
}

/* "CODE=action[@id]" of each finding, in order, comma-separated. */
static void describe(const struct tg_findings *f, char *out, size_t cap)
{
    size_t off = 0;
    out[0] = '\0';
    for (size_t i = 0; i < f->n; i++) {
        int n = snprintf(out + off, cap - off, "%s%s=%s%s%s", i ? "," : "",
                         tg_code_info(f->v[i].code)->name,
                         tg_action_name(f->v[i].action),
                         f->v[i].exception ? "@" : "",
                         f->v[i].exception ? f->v[i].exception->id : "");
        assert_true(n > 0 && (size_t)n < cap - off);
        off += (size_t)n;
    }
}

#define LONG_EXPIRY "\"expires_at\":\"2027-12-01\""

static void test_apply_table(void **state)
{
    static const struct {
        const char *name, *patch, *now;
        int dryrun;
        long uses;
        enum tg_verdict verdict;
        const char *want;
    } cases[] = {
        {"the day before until", "{" LONG_EXPIRY "}", "2026-12-30T12:00:00Z",
         0, -1, TG_ANNOTATE, "EXPIRY_TOO_LONG=warn@EXC-12"},
        {"the last second of the until day", "{" LONG_EXPIRY "}",
         "2026-12-31T23:59:59Z", 0, -1, TG_ANNOTATE,
         "EXPIRY_TOO_LONG=warn@EXC-12"},
        {"the first second after it", "{" LONG_EXPIRY "}",
         "2027-01-01T00:00:00Z", 0, -1, TG_DENY, "EXPIRY_TOO_LONG=deny"},
        {"the day after until", "{" LONG_EXPIRY "}", "2027-01-01T12:00:00Z",
         0, -1, TG_DENY, "EXPIRY_TOO_LONG=deny"},
        {"an ended exception gives way to the next", "{" LONG_EXPIRY "}",
         "2026-12-01T00:00:00Z", 0, -1, TG_ANNOTATE,
         "EXPIRY_TOO_LONG=warn@EXC-12"},
        {"match: another environment",
         "{" LONG_EXPIRY ",\"scope\":{\"environment\":\"staging\"}}",
         "2026-12-01T00:00:00Z", 0, -1, TG_DENY, "EXPIRY_TOO_LONG=deny"},
        {"match: environment compared ignoring case",
         "{" LONG_EXPIRY ",\"scope\":{\"environment\":\" PROD \"}}",
         "2026-12-01T00:00:00Z", 0, -1, TG_ANNOTATE,
         "EXPIRY_TOO_LONG=warn@EXC-12"},
        {"match: a missing value matches nothing",
         "{" LONG_EXPIRY ",\"scope\":{\"environment\":null}}",
         "2026-12-01T00:00:00Z", 0, -1, TG_DENY,
         "SCOPE_ENVIRONMENT_MISSING=deny,EXPIRY_TOO_LONG=deny"},
        {"a code not covered still denies",
         "{" LONG_EXPIRY ",\"justification\":\"ledger read PAY-2291\"}",
         "2026-12-01T00:00:00Z", 0, -1, TG_DENY,
         "JUSTIFICATION_TOO_SHORT=deny,EXPIRY_TOO_LONG=warn@EXC-12"},
        {"an inactive owner's exception is not applied",
         "{" LONG_EXPIRY ",\"approver\":\"heidi@example.com\","
         "\"scope\":{\"system\":\"hr-portal\"}}",
         "2026-12-01T00:00:00Z", 0, -1, TG_DENY, "EXPIRY_TOO_LONG=deny"},
        {"match without system: every system in dev",
         "{\"justification\":\"ledger read PAY-2291\","
         "\"scope\":{\"environment\":\"dev\"}}",
         "2026-12-01T00:00:00Z", 0, -1, TG_ANNOTATE,
         "JUSTIFICATION_TOO_SHORT=warn@EXC-DEV"},
        {"a warning needs no exception", "{}", "2026-12-01T00:00:00Z", 0, 5,
         TG_ANNOTATE, "JUSTIFICATION_COPY_FORWARD=warn"},
        {"dry run: covered", "{" LONG_EXPIRY "}", "2026-12-30T12:00:00Z", 1,
         -1, TG_ANNOTATE, "EXPIRY_TOO_LONG=warn@EXC-12"},
        {"dry run: after until the finding would deny",
         "{" LONG_EXPIRY "}", "2027-01-01T00:00:00Z", 1, -1, TG_ANNOTATE,
         "EXPIRY_TOO_LONG=deny"},
        {"no finding: allow", "{}", "2026-12-01T00:00:00Z", 0, -1, TG_ALLOW,
         ""},
        {"not an access request: skip", "{\"kind\":\"incident\"}",
         "2026-12-01T00:00:00Z", 0, -1, TG_SKIP, ""},
    };
    struct tg_directory d;
    struct tg_policy p;
    struct tg_exceptions x;
    char got[512];
    (void)state;

    vf_directory(&d);
    vf_policy(&p);
    tg_exceptions_init(&x);
    exceptions(&x);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tg_context ctx = {.now = at(cases[i].now),
                                 .copy_forward_uses = cases[i].uses};
        struct tg_ticket t;
        struct tg_result r;

        p.dryrun = cases[i].dryrun;
        assert_int_equal(vf_ticket(&t, cases[i].patch), 0);
        tg_result_init(&r);
        assert_int_equal(tg_evaluate(&t, &p, &d, &ctx, &r), 0);
        assert_int_equal(tg_exceptions_apply(&x, &t, &d, ctx.now, &r), 0);
        describe(&r.findings, got, sizeof(got));
        if (strcmp(got, cases[i].want) != 0 || r.verdict != cases[i].verdict)
            fail_msg("%s: got %s [%s], want %s [%s]", cases[i].name,
                     tg_verdict_name(r.verdict), got,
                     tg_verdict_name(cases[i].verdict), cases[i].want);
        tg_result_cleanup(&r);
        tg_ticket_cleanup(&t);
    }
    tg_exceptions_cleanup(&x);
    tg_policy_cleanup(&p);
    tg_directory_cleanup(&d);
}

/* The finding names the exception in its message and in the document; a
 * finding without one has no "exception" key. */
static void test_message_and_document(void **state)
{
    struct tg_directory d;
    struct tg_policy p;
    struct tg_exceptions x;
    struct tg_ticket t;
    struct tg_result r;
    struct tg_context ctx = {.now = at("2026-12-30T12:00:00Z"),
                             .copy_forward_uses = -1};
    json_t *doc, *f, *e;
    const char *msg;
    (void)state;

    vf_directory(&d);
    vf_policy(&p);
    tg_exceptions_init(&x);
    exceptions(&x);
    assert_int_equal(
        vf_ticket(&t, "{" LONG_EXPIRY ",\"justification\":\"ledger read "
                      "PAY-2291\"}"),
        0);
    tg_result_init(&r);
    assert_int_equal(tg_evaluate(&t, &p, &d, &ctx, &r), 0);
    assert_int_equal(tg_exceptions_apply(&x, &t, &d, ctx.now, &r), 0);
    /* Applying twice lets nothing through twice. */
    assert_int_equal(tg_exceptions_apply(&x, &t, &d, ctx.now, &r), 0);
    assert_int_equal(r.findings.n, 2);
    msg = r.findings.v[1].message;
    assert_non_null(strstr(msg, "The end date (2027-12-01) is too far away"));
    assert_non_null(strstr(msg, " Allowed anyway under policy exception "
                                "EXC-12 (risk accepted in SEC-881, owner "
                                "carol.diaz), valid through 2026-12-31 UTC."));
    assert_null(strstr(strstr(msg, "EXC-12") + 1, "EXC-12"));

    doc = tg_decision_build(&t, NULL, &r, "d-000000000001-000000", ctx.now,
                            "sha256:00");
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "decision")),
                        "deny");
    f = json_object_get(doc, "findings");
    assert_null(json_object_get(json_array_get(f, 0), "exception"));
    e = json_object_get(json_array_get(f, 1), "exception");
    assert_non_null(e);
    assert_int_equal(json_object_size(e), 3);
    assert_string_equal(json_string_value(json_object_get(e, "id")), "EXC-12");
    assert_string_equal(json_string_value(json_object_get(e, "until")),
                        "2026-12-31");
    assert_string_equal(json_string_value(json_object_get(e, "ticket_ref")),
                        "SEC-881");
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(f, 1), "action")),
        "warn");
    assert_non_null(strstr(json_string_value(json_object_get(doc, "message")),
                           "policy exception EXC-12"));
    json_decref(doc);
    tg_result_cleanup(&r);
    tg_ticket_cleanup(&t);
    tg_exceptions_cleanup(&x);
    tg_policy_cleanup(&p);
    tg_directory_cleanup(&d);
}

static void test_dates(void **state)
{
    static const struct {
        const char *now, *latest;
    } year[] = {
        {"2026-12-04T10:00:00Z", "2027-12-04T23:59:59Z"},
        {"2026-12-04T00:00:00Z", "2027-12-04T23:59:59Z"},
        {"2026-12-31T23:59:59Z", "2027-12-31T23:59:59Z"},
        {"2028-02-29T12:00:00Z", "2029-02-28T23:59:59Z"},
        {"2027-02-28T12:00:00Z", "2028-02-28T23:59:59Z"},
    };
    static const struct {
        const char *until, *now;
        int64_t left;
        int active;
    } days[] = {
        {"2026-12-31", "2026-12-31T23:59:59Z", 0, 1},
        {"2026-12-31", "2027-01-01T00:00:00Z", -1, 0},
        {"2026-12-31", "2026-12-17T00:00:00Z", 14, 1},
        {"2026-12-31", "2026-12-16T23:59:59Z", 15, 1},
        {"1969-12-31", "1969-12-30T01:00:00Z", 1, 1},
    };
    (void)state;

    for (size_t i = 0; i < sizeof(year) / sizeof(year[0]); i++)
        assert_int_equal(tg_exceptions_latest_until(at(year[i].now)),
                         at(year[i].latest));
    for (size_t i = 0; i < sizeof(days) / sizeof(days[0]); i++) {
        struct tg_exception e;
        memset(&e, 0, sizeof(e));
        assert_int_equal(
            tg_time_parse(days[i].until, strlen(days[i].until), &e.until_end),
            0);
        assert_int_equal(tg_exception_days_left(&e, at(days[i].now)),
                         days[i].left);
        assert_int_equal(tg_exception_active(&e, at(days[i].now)),
                         days[i].active);
    }
}

/* ticketgate_exception_uses_total: one use per finding let through, by
 * id; ids past the table's 256 count under "other". */
static void test_metrics_uses(void **state)
{
    static const enum tg_code expiry[] = {TG_EXPIRY_TOO_LONG};
    struct tg_metrics *m = NULL;
    struct tg_exception e[300];
    struct tg_result r;
    char *text, id[16];
    size_t len;
    (void)state;

    assert_int_equal(tg_metrics_new(NULL, 0, &m), 0);
    tg_result_init(&r);
    for (int i = 0; i < 300; i++) {
        snprintf(id, sizeof(id), "EXC-%d", i);
        exc(&e[i], id, "2026-12-31", "payments-db", NULL, NULL, expiry, 1);
    }
    /* Two findings of one decision let through by EXC-0, one not at all. */
    assert_int_equal(tg_findings_add(&r.findings, TG_EXPIRY_TOO_LONG,
                                     TG_ACTION_WARN, NULL, NULL, 0), 0);
    assert_int_equal(tg_findings_add(&r.findings, TG_AUTHORITY_TIER,
                                     TG_ACTION_WARN, NULL, NULL, 0), 0);
    assert_int_equal(tg_findings_add(&r.findings, TG_OWNER_MISSING,
                                     TG_ACTION_DENY, NULL, NULL, 0), 0);
    r.findings.v[0].exception = &e[0];
    r.findings.v[1].exception = &e[0];
    tg_metrics_exception_uses(m, &r);
    r.findings.v[1].exception = NULL;
    for (int i = 1; i < 300; i++) {
        r.findings.v[0].exception = &e[i];
        tg_metrics_exception_uses(m, &r);
    }
    tg_metrics_exception_uses(NULL, &r); /* no set: nothing */
    assert_int_equal(tg_metrics_render(m, &text, &len), 0);
    assert_non_null(strstr(text, "# TYPE ticketgate_exception_uses_total "
                                 "counter\n"));
    assert_non_null(
        strstr(text, "\nticketgate_exception_uses_total{id=\"EXC-0\"} 2\n"));
    assert_non_null(
        strstr(text, "\nticketgate_exception_uses_total{id=\"EXC-1\"} 1\n"));
    assert_non_null(strstr(
        text, "\nticketgate_exception_uses_total{id=\"EXC-255\"} 1\n"));
    assert_null(strstr(text, "{id=\"EXC-256\"}"));
    assert_non_null(strstr(
        text, "\nticketgate_exception_uses_total{id=\"other\"} 44\n"));
    free(text);
    for (int i = 0; i < 300; i++)
        tg_exception_cleanup(&e[i]);
    tg_result_cleanup(&r);
    tg_metrics_free(m);
}

/* ------------------------------------------------ loading the section */

static struct tg_server S;
static char *example_cfg; /* the copied example configuration's text */

/* YYYY-MM-DD of today (UTC) + days. */
static void day(int days, char out[11])
{
    char buf[32];
    tg_test_rfc3339((int64_t)days * DAY, buf, sizeof(buf));
    memcpy(out, buf, 10);
    out[10] = '\0';
}

/* The UTC day one calendar year from today, + extra days. */
static void year_ahead(int extra, char out[11])
{
    char buf[32];
    int64_t t = tg_exceptions_latest_until((int64_t)time(NULL)) +
                (int64_t)extra * DAY;
    assert_int_equal(tg_time_format(t, buf, sizeof(buf)), 0);
    memcpy(out, buf, 10);
    out[10] = '\0';
}

/* Writes S's configuration as the example with block under policy. */
static void write_config(const char *block)
{
    const char *at_ = strstr(example_cfg, "  forbidden:\n");
    size_t head, need;
    char *text;

    assert_non_null(at_);
    head = (size_t)(at_ - example_cfg);
    need = strlen(example_cfg) + strlen(block) + 1;
    text = malloc(need);
    memcpy(text, example_cfg, head);
    snprintf(text + head, need - head, "%s%s", block, at_);
    assert_int_equal(tg_test_write_file(&S, "ticketgate.yaml", text), 0);
    free(text);
}

/* An exceptions block of one entry; NULL fields are left out. */
static void one(char *out, size_t cap, const char *id, const char *owner,
                const char *until, const char *reason, const char *codes,
                const char *match)
{
    int n = snprintf(out, cap, "  exceptions:\n    - ticket_ref: SEC-881\n");
    if (id)
        n += snprintf(out + n, cap - (size_t)n, "      id: %s\n", id);
    if (owner)
        n += snprintf(out + n, cap - (size_t)n, "      owner: %s\n", owner);
    if (codes)
        n += snprintf(out + n, cap - (size_t)n, "      codes: %s\n", codes);
    if (match)
        n += snprintf(out + n, cap - (size_t)n, "      match: %s\n", match);
    if (until)
        n += snprintf(out + n, cap - (size_t)n, "      until: %s\n", until);
    if (reason)
        n += snprintf(out + n, cap - (size_t)n, "      reason: \"%s\"\n",
                      reason);
    assert_true(n > 0 && (size_t)n < cap);
}

#define MATCH "{ system: payments-db, environment: prod }"

static int load_setup(void **state)
{
    (void)state;
    if (tg_test_server_prepare(&S) != 0)
        return -1;
    example_cfg = tg_test_read_file(S.config, NULL);
    if (!example_cfg)
        return -1;
    /* What tg_test_server_start would write, so that a reload rewriting
     * the file keeps the port the server has. */
    {
        char *p = strstr(example_cfg, "127.0.0.1:8080\"");
        if (!p)
            return -1;
        memmove(p + strlen("127.0.0.1:0\""), p + strlen("127.0.0.1:8080\""),
                strlen(p + strlen("127.0.0.1:8080\"")) + 1);
        memcpy(p, "127.0.0.1:0\"", strlen("127.0.0.1:0\""));
    }
    return 0;
}

static int load_teardown(void **state)
{
    (void)state;
    tg_test_server_cleanup(&S);
    free(example_cfg);
    return 0;
}

/* Every refusal: the load fails with a line that says what to do. */
static void test_load_refusals(void **state)
{
    char soon[11], late[11], block[1024];
    struct {
        const char *name;
        const char *id, *owner, *until, *reason, *codes, *match;
        const char *says;
    } cases[] = {
        {"no owner", "EXC-1", NULL, soon, "r", "[EXPIRY_TOO_LONG]", MATCH,
         "policy.exceptions[0] has no owner"},
        {"no reason", "EXC-1", "carol.diaz", soon, NULL, "[EXPIRY_TOO_LONG]",
         MATCH, "policy.exceptions[0] has no reason"},
        {"empty reason", "EXC-1", "carol.diaz", soon, "  ",
         "[EXPIRY_TOO_LONG]", MATCH, "policy.exceptions[0].reason"},
        {"no until", "EXC-1", "carol.diaz", NULL, "r", "[EXPIRY_TOO_LONG]",
         MATCH, "has no until"},
        {"until a day past a year", "EXC-1", "carol.diaz", late, "r",
         "[EXPIRY_TOO_LONG]", MATCH, "more than a year ahead"},
        {"until not a date", "EXC-1", "carol.diaz", "2027-02-30", "r",
         "[EXPIRY_TOO_LONG]", MATCH, "not a date; write YYYY-MM-DD"},
        {"until a date-time", "EXC-1", "carol.diaz", "2027-01-01T00:00:00Z",
         "r", "[EXPIRY_TOO_LONG]", MATCH, "not a date"},
        {"owner a group", "EXC-1", "payments-approvers", soon, "r",
         "[EXPIRY_TOO_LONG]", MATCH, "which is not an individual"},
        {"owner a service account", "EXC-1", "svc-payments-etl", soon, "r",
         "[EXPIRY_TOO_LONG]", MATCH, "which is not an individual"},
        {"owner a generic name", "EXC-1", "helpdesk", soon, "r",
         "[EXPIRY_TOO_LONG]", MATCH, "which is not an individual"},
        {"owner unknown", "EXC-1", "nobody.here", soon, "r",
         "[EXPIRY_TOO_LONG]", MATCH, "in no entry of the directory"},
        {"unknown code", "EXC-1", "carol.diaz", soon, "r", "[EXPIRY_LONG]",
         MATCH, "names 'EXPIRY_LONG', which is no reason code"},
        {"no codes", "EXC-1", "carol.diaz", soon, "r", "[]", MATCH,
         "codes is empty"},
        {"match names nothing", "EXC-1", "carol.diaz", soon, "r",
         "[EXPIRY_TOO_LONG]", "{}", "would cover every ticket"},
        {"match with an unknown key", "EXC-1", "carol.diaz", soon, "r",
         "[EXPIRY_TOO_LONG]", "{ system: payments-db, team: x }",
         "unknown key 'team'"},
        {"bad id", "\"EXC 1\"", "carol.diaz", soon, "r", "[EXPIRY_TOO_LONG]",
         MATCH, "policy.exceptions[0].id is 'EXC 1'"},
        {"id other", "other", "carol.diaz", soon, "r", "[EXPIRY_TOO_LONG]",
         MATCH, "policy.exceptions[0].id is 'other', which "},
    };
    (void)state;

    day(10, soon);
    year_ahead(1, late);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tg_config *c = NULL;
        struct tg_diag dg;
        int found = 0;

        one(block, sizeof(block), cases[i].id, cases[i].owner, cases[i].until,
            cases[i].reason, cases[i].codes, cases[i].match);
        write_config(block);
        tg_diag_init(&dg);
        assert_int_equal(tg_config_load(S.config, &c, &dg), TG_EINVAL);
        assert_null(c);
        for (size_t k = 0; k < dg.n; k++)
            found |= strstr(dg.msgs[k], cases[i].says) != NULL &&
                     strstr(dg.msgs[k], "ticketgate.yaml:") != NULL;
        if (!found)
            fail_msg("%s: no diagnostic saying '%s' (%zu: %s)", cases[i].name,
                     cases[i].says, dg.n, dg.n ? dg.msgs[0] : "");
        tg_diag_cleanup(&dg);
    }

    /* A duplicate id. */
    snprintf(block, sizeof(block),
             "  exceptions:\n"
             "    - { id: EXC-1, ticket_ref: A-1, owner: carol, codes: "
             "[EXPIRY_TOO_LONG], match: { system: x }, until: %s, reason: r }\n"
             "    - { id: EXC-1, ticket_ref: A-2, owner: carol, codes: "
             "[EXPIRY_TOO_LONG], match: { system: y }, until: %s, reason: r }\n",
             soon, soon);
    write_config(block);
    {
        struct tg_config *c = NULL;
        struct tg_diag dg;
        tg_diag_init(&dg);
        assert_int_equal(tg_config_load(S.config, &c, &dg), TG_EINVAL);
        assert_int_equal(dg.n, 1);
        assert_non_null(strstr(dg.msgs[0], "already uses"));
        tg_diag_cleanup(&dg);
    }
}

/* What loads: the latest until allowed, one that has ended, an inactive
 * owner; and the notes lint prints for them. */
static void test_load_and_notes(void **state)
{
    char latest[11], past[11], today[11], d14[11], d15[11], block[2048];
    struct tg_config *c = NULL;
    struct tg_diag dg, notes;
    int64_t now = (int64_t)time(NULL);
    (void)state;

    year_ahead(0, latest);
    day(-1, past);
    day(0, today);
    day(14, d14);
    day(15, d15);
    snprintf(block, sizeof(block),
             "  exceptions:\n"
             "    - id: EXC-12\n"
             "      ticket_ref: SEC-881\n"
             "      owner: carol.diaz\n"
             "      codes: [EXPIRY_TOO_LONG, AUTHORITY_TIER]\n"
             "      match: { system: payments-db, environment: Prod, "
             "privilege: ADMIN, beneficiary_type: human }\n"
             "      until: %s\n"
             "      reason: \"Vendor contract renewal needs a 12-month "
             "service token\"\n"
             "    - { id: EXC-PAST, ticket_ref: A-1, owner: bob, codes: "
             "[OWNER_MISSING], match: { system: x }, until: %s, reason: r }\n"
             "    - { id: EXC-GONE, ticket_ref: A-2, owner: frank.muller, "
             "codes: [OWNER_MISSING], match: { system: x }, until: %s, "
             "reason: r }\n"
             "    - { id: EXC-TODAY, ticket_ref: A-3, owner: erin, codes: "
             "[OWNER_MISSING], match: { system: x }, until: %s, reason: r }\n"
             "    - { id: EXC-14, ticket_ref: A-4, owner: erin, codes: "
             "[OWNER_MISSING], match: { system: x }, until: %s, reason: r }\n"
             "    - { id: EXC-15, ticket_ref: A-5, owner: erin, codes: "
             "[OWNER_MISSING], match: { system: x }, until: %s, reason: r }\n",
             latest, past, latest, today, d14, d15);
    write_config(block);
    tg_diag_init(&dg);
    assert_int_equal(tg_config_load(S.config, &c, &dg), 0);
    assert_int_equal(dg.n, 0);
    assert_int_equal(c->exceptions.n, 6);
    {
        const struct tg_exception *e = &c->exceptions.v[0];
        assert_string_equal(e->id, "EXC-12");
        assert_string_equal(e->ticket_ref, "SEC-881");
        assert_string_equal(e->owner, "carol.diaz");
        assert_string_equal(e->until, latest);
        assert_true(e->codes[TG_EXPIRY_TOO_LONG] && e->codes[TG_AUTHORITY_TIER]);
        assert_false(e->codes[TG_OWNER_MISSING]);
        assert_string_equal(e->match.environment, "prod");
        assert_string_equal(e->match.privilege, "admin");
        assert_string_equal(e->match.beneficiary_type, "human");
        assert_string_equal(e->match.system, "payments-db");
        assert_false(e->owner_inactive);
        assert_true(tg_exception_active(e, now));
        assert_true(c->exceptions.v[2].owner_inactive);
        assert_false(tg_exception_active(&c->exceptions.v[2], now));
        assert_false(tg_exception_active(&c->exceptions.v[1], now));
    }
    tg_diag_init(&notes);
    assert_int_equal(tg_config_exception_notes(c, now, &notes), 4);
    assert_non_null(strstr(notes.msgs[0], "EXC-PAST ended on"));
    assert_non_null(strstr(notes.msgs[1], "EXC-GONE is not applied: its "
                                          "owner frank.muller is inactive"));
    assert_non_null(strstr(notes.msgs[2], "EXC-TODAY ends on"));
    assert_non_null(strstr(notes.msgs[2], "(today)"));
    assert_non_null(strstr(notes.msgs[3], "EXC-14 ends on"));
    assert_non_null(strstr(notes.msgs[3], "(in 14 days)"));
    for (size_t i = 0; i < notes.n; i++) {
        assert_non_null(strstr(notes.msgs[i], "ticketgate.yaml:"));
        assert_null(strstr(notes.msgs[i], "EXC-15"));
        assert_null(strstr(notes.msgs[i], "EXC-12"));
    }
    tg_diag_cleanup(&notes);
    tg_diag_cleanup(&dg);
    tg_config_free(c);
}

/* --------------------------------------------- the binary: lint, check */

/* Runs cmd through the shell; returns its exit code, stdout in *out and
 * stderr in *err (both malloc'd). */
static int run(const char *cmd, char **out, char **err)
{
    char full[2048], errpath[300];
    FILE *p;
    size_t cap = 1 << 16, n = 0, r;
    char *buf = malloc(cap);
    int status;

    snprintf(errpath, sizeof(errpath), "%s/stderr.txt", S.dir);
    snprintf(full, sizeof(full), "%s 2>%s", cmd, errpath);
    p = popen(full, "r");
    assert_non_null(p);
    while ((r = fread(buf + n, 1, cap - n - 1, p)) > 0) {
        n += r;
        if (n + 1 >= cap)
            buf = realloc(buf, cap *= 2);
    }
    buf[n] = '\0';
    status = pclose(p);
    *out = buf;
    *err = tg_test_read_file(errpath, NULL);
    assert_non_null(*err);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_lint(void **state)
{
    char soon[11], late[11], block[1024], cmd[600], *out, *err;
    (void)state;

    day(10, soon);
    year_ahead(1, late);
    snprintf(cmd, sizeof(cmd), TG_BINARY " lint -c %s", S.config);

    one(block, sizeof(block), "EXC-12", "carol.diaz", soon, "Vendor renewal",
        "[EXPIRY_TOO_LONG]", MATCH);
    write_config(block);
    assert_int_equal(run(cmd, &out, &err), 0);
    assert_non_null(strstr(out, ": OK: "));
    assert_non_null(strstr(err, "note: exception EXC-12 ends on"));
    assert_non_null(strstr(err, "(in 10 days)"));
    free(out);
    free(err);

    one(block, sizeof(block), "EXC-12", NULL, late, NULL, "[EXPIRY_TOO_LONG]",
        MATCH);
    write_config(block);
    assert_int_equal(run(cmd, &out, &err), 2);
    assert_null(strstr(out, ": OK: "));
    assert_non_null(strstr(err, "has no owner"));
    assert_non_null(strstr(err, "has no reason"));
    assert_non_null(strstr(err, "more than a year ahead"));
    free(out);
    free(err);
}

/* The example ticket ending `ends`, as one JSON line in dir/name. */
static void write_ticket(const char *name, const char *ends)
{
    json_error_t je;
    json_t *t = json_load_file(
        TG_SOURCE_DIR "/example/payloads/canonical-ticket.json", 0, &je);
    char *text;

    assert_non_null(t);
    json_object_set_new(t, "expires_at", json_string(ends));
    text = json_dumps(t, JSON_COMPACT);
    assert_non_null(text);
    assert_int_equal(tg_test_write_file(&S, name, text), 0);
    free(text);
    json_decref(t);
}

/* `check --now` on the day before until and the day after it: the same
 * ticket is let through, then denied. */
static void test_check_around_until(void **state)
{
    char until[11], block[1024], cmd[800], before[32], after[32], ends[32];
    char *out, *err;
    json_t *d, *f;
    json_error_t je;
    int64_t u;
    (void)state;

    day(20, until);
    one(block, sizeof(block), "EXC-12", "carol.diaz", until, "renewal",
        "[EXPIRY_TOO_LONG]", MATCH);
    write_config(block);
    assert_int_equal(tg_time_parse(until, 10, &u), 0); /* its last second */
    assert_int_equal(tg_time_format(u - DAY - 12 * 3600 + 1, before,
                                    sizeof(before)), 0); /* noon the day before */
    assert_int_equal(tg_time_format(u + 12 * 3600 + 1, after, sizeof(after)),
                     0); /* noon the day after */
    /* admin: 30 days at most; 60 days after until is too long either day */
    assert_int_equal(tg_time_format(u + 60 * DAY, ends, sizeof(ends)), 0);
    write_ticket("t.json", ends);

    snprintf(cmd, sizeof(cmd), TG_BINARY " check -c %s --now %s %s/t.json",
             S.config, before, S.dir);
    assert_int_equal(run(cmd, &out, &err), 0);
    d = json_loads(out, 0, &je);
    assert_non_null(d);
    assert_string_equal(json_string_value(json_object_get(d, "decision")),
                        "annotate");
    f = json_array_get(json_object_get(d, "findings"), 0);
    assert_string_equal(json_string_value(json_object_get(f, "code")),
                        "EXPIRY_TOO_LONG");
    assert_string_equal(json_string_value(json_object_get(f, "action")),
                        "warn");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(f, "exception"), "until")),
                        until);
    assert_non_null(strstr(json_string_value(json_object_get(d, "message")),
                           "policy exception EXC-12"));
    json_decref(d);
    free(out);
    free(err);

    snprintf(cmd, sizeof(cmd), TG_BINARY " check -c %s --now %s %s/t.json",
             S.config, after, S.dir);
    assert_int_equal(run(cmd, &out, &err), 1);
    d = json_loads(out, 0, &je);
    assert_non_null(d);
    assert_string_equal(json_string_value(json_object_get(d, "decision")),
                        "deny");
    f = json_array_get(json_object_get(d, "findings"), 0);
    assert_string_equal(json_string_value(json_object_get(f, "code")),
                        "EXPIRY_TOO_LONG");
    assert_string_equal(json_string_value(json_object_get(f, "action")),
                        "deny");
    assert_null(json_object_get(f, "exception"));
    assert_null(strstr(out, "EXC-12"));
    json_decref(d);
    free(out);
    free(err);
}

/* ------------------------------------------------- the server: serve */

static char *auth;

static json_t *post_check(const char *body)
{
    const char *h[] = {"Content-Type: application/json", auth, NULL};
    struct tg_resp r;
    json_error_t je;
    json_t *d;

    assert_int_equal(
        tg_test_http(&S, "POST", "/v1/check", h, body, strlen(body), 0, &r), 0);
    if (r.status != 200)
        tg_test_server_dump_log(&S);
    assert_int_equal(r.status, 200);
    d = json_loadb(r.body, r.body_len, 0, &je);
    assert_non_null(d);
    tg_test_resp_free(&r);
    return d;
}

/* One sample of /metrics, or -1 when absent. */
static double metric(const char *series)
{
    struct tg_resp r;
    double v = -1;
    size_t n = strlen(series);

    assert_int_equal(tg_test_http(&S, "GET", "/metrics", NULL, NULL, 0, 0, &r),
                     0);
    assert_int_equal(r.status, 200);
    for (const char *p = r.body; (p = strstr(p, series)) != NULL; p += n)
        if ((p == r.body || p[-1] == '\n') && p[n] == ' ') {
            v = strtod(p + n + 1, NULL);
            break;
        }
    tg_test_resp_free(&r);
    return v;
}

#define USES "ticketgate_exception_uses_total{id=\"EXC-12\"}"
#define RELOADED "ticketgate_config_reloads_total{result=\"success\"}"

/* `replay` of S's store under the configuration with until today + days:
 * exactly decision id changes, from -> to, its EXPIRY_TOO_LONG finding
 * carrying the exception exactly when it is let through. */
static void replay_one(int days, const char *id, const char *from,
                       const char *to)
{
    char until[11], block[1024], cmd[900], *out, *err;
    json_t *r, *c, *f;

    day(days, until);
    one(block, sizeof(block), "EXC-12", "carol.diaz", until, "renewal",
        "[EXPIRY_TOO_LONG]", MATCH);
    write_config(block);
    snprintf(cmd, sizeof(cmd),
             TG_BINARY " replay -c %s --store %s/data/ticketgate.db "
                       "--format json",
             S.config, S.dir);
    assert_int_equal(run(cmd, &out, &err), 0);
    r = json_loads(out, 0, NULL);
    if (!r)
        fail_msg("replay: %s %s", out, err);
    assert_int_equal(json_integer_value(json_object_get(r, "replayed")), 2);
    assert_int_equal(json_integer_value(json_object_get(r, "changed")), 1);
    c = json_array_get(json_object_get(r, "changes"), 0);
    assert_string_equal(json_string_value(json_object_get(c, "decision_id")),
                        id);
    assert_string_equal(json_string_value(json_object_get(c, "from")), from);
    assert_string_equal(json_string_value(json_object_get(c, "to")), to);
    f = json_array_get(json_object_get(c, "candidate_findings"), 0);
    assert_string_equal(json_string_value(json_object_get(f, "code")),
                        "EXPIRY_TOO_LONG");
    if (strcmp(to, "annotate") == 0)
        assert_non_null(json_object_get(f, "exception"));
    else
        assert_null(json_object_get(f, "exception"));
    json_decref(r);
    free(out);
    free(err);
}

/* serve: with until tomorrow (today is the day before) the finding is let
 * through, recorded with its exception and counted; after a reload with
 * until yesterday (today is the day after) it denies again. */
static void test_serve_around_until(void **state)
{
    char until[11], block[1024], ends[32], path[400], *body, *tok;
    char *first = NULL, *second = NULL, *logtext;
    size_t logoff = 0;
    json_t *d, *f, *got;
    struct tg_resp r;
    double reloads;
    const char *h[2];
    (void)state;

    day(1, until);
    one(block, sizeof(block), "EXC-12", "carol.diaz", until, "renewal",
        "[EXPIRY_TOO_LONG]", MATCH);
    write_config(block);
    tok = tg_test_generic_token(NULL);
    auth = tg_test_bearer_header(tok);
    free(tok);
    assert_int_equal(tg_test_server_start(&S), 0);
    /* The server's log says what lint says: it ends tomorrow. */
    logtext = tg_test_server_log_wait(&S, &logoff, "(in 1 day)", 1, 5000);
    assert_non_null(logtext);
    assert_non_null(strstr(logtext, "note: exception EXC-12 ends on"));
    free(logtext);

    tg_test_rfc3339(60 * DAY, ends, sizeof(ends));
    write_ticket("t.json", ends);
    snprintf(path, sizeof(path), "%s/t.json", S.dir);
    body = tg_test_read_file(path, NULL);
    assert_non_null(body);

    assert_true(metric(USES) < 0);
    d = post_check(body);
    first = strdup(json_string_value(json_object_get(d, "decision_id")));
    assert_string_equal(json_string_value(json_object_get(d, "decision")),
                        "annotate");
    f = json_array_get(json_object_get(d, "findings"), 0);
    assert_string_equal(json_string_value(json_object_get(f, "code")),
                        "EXPIRY_TOO_LONG");
    assert_string_equal(json_string_value(json_object_get(f, "action")),
                        "warn");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(f, "exception"), "id")),
                        "EXC-12");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(f, "exception"), "ticket_ref")),
                        "SEC-881");
    assert_non_null(strstr(json_string_value(json_object_get(d, "message")),
                           "policy exception EXC-12"));
    assert_true(metric(USES) == 1);

    /* The record keeps the finding as it was answered. */
    h[0] = auth;
    h[1] = NULL;
    snprintf(path, sizeof(path), "/v1/decisions/%s",
             json_string_value(json_object_get(d, "decision_id")));
    assert_int_equal(tg_test_http(&S, "GET", path, h, NULL, 0, 0, &r), 0);
    assert_int_equal(r.status, 200);
    got = json_loadb(r.body, r.body_len, 0, NULL);
    assert_true(json_equal(got, d));
    json_decref(got);
    tg_test_resp_free(&r);
    json_decref(d);

    /* The day after until. */
    day(-1, until);
    one(block, sizeof(block), "EXC-12", "carol.diaz", until, "renewal",
        "[EXPIRY_TOO_LONG]", MATCH);
    write_config(block);
    reloads = metric(RELOADED);
    assert_int_equal(tg_test_server_signal(&S, SIGHUP), 0);
    for (int i = 0; i < 400 && metric(RELOADED) <= reloads; i++)
        usleep(25000);
    assert_true(metric(RELOADED) > reloads);
    logtext = tg_test_server_log_wait(&S, &logoff, "EXC-12 ended on", 1, 5000);
    assert_non_null(logtext);
    assert_non_null(strstr(logtext, "EXC-12 ended on"));
    free(logtext);

    d = post_check(body);
    second = strdup(json_string_value(json_object_get(d, "decision_id")));
    assert_string_equal(json_string_value(json_object_get(d, "decision")),
                        "deny");
    f = json_array_get(json_object_get(d, "findings"), 0);
    assert_string_equal(json_string_value(json_object_get(f, "code")),
                        "EXPIRY_TOO_LONG");
    assert_string_equal(json_string_value(json_object_get(f, "action")),
                        "deny");
    assert_null(json_object_get(f, "exception"));
    json_decref(d);
    assert_true(metric(USES) == 1);

    /* A configuration whose exception is refused does not replace the one
     * in force. */
    one(block, sizeof(block), "EXC-12", "payments-approvers", until,
        "renewal", "[EXPIRY_TOO_LONG]", MATCH);
    write_config(block);
    reloads = metric("ticketgate_config_reloads_total{result=\"failure\"}");
    assert_int_equal(tg_test_server_signal(&S, SIGHUP), 0);
    for (int i = 0; i < 400 &&
                    metric("ticketgate_config_reloads_total{result=\"failure\"}") <=
                        reloads;
         i++)
        usleep(25000);
    assert_true(metric("ticketgate_config_reloads_total{result=\"failure\"}") >
                reloads);

    free(body);
    free(auth);
    auth = NULL;
    assert_int_equal(tg_test_server_stop(&S), 0);

    /* replay decides both records at their own time as serve did: under
     * until tomorrow only the second changes (deny -> annotate), under
     * until yesterday only the first (annotate -> deny). */
    replay_one(1, second, "deny", "annotate");
    replay_one(-1, first, "annotate", "deny");
    free(first);
    free(second);
}

int main(void)
{
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(test_apply_table),
        cmocka_unit_test(test_message_and_document),
        cmocka_unit_test(test_dates),
        cmocka_unit_test(test_metrics_uses),
    };
    const struct CMUnitTest loaded[] = {
        cmocka_unit_test(test_load_refusals),
        cmocka_unit_test(test_load_and_notes),
        cmocka_unit_test(test_lint),
        cmocka_unit_test(test_check_around_until),
        cmocka_unit_test(test_serve_around_until),
    };
    int failed = cmocka_run_group_tests(pure, NULL, NULL);
    return failed +
           cmocka_run_group_tests(loaded, load_setup, load_teardown);
}
