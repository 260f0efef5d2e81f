/* test_judged.c - the judged ticket: identities and authority bases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "server/adapters/adapter.h"
#include "server/config/config.h"
#include "server/core/decide.h"
#include "server/core/judged.h"
#include "tests/vfixture.h"
#include "validators/authority.h"

#define EXAMPLE TG_SOURCE_DIR "/example/"

static int64_t at(const char *s)
{
    int64_t t = 0;
    assert_int_equal(tg_time_parse(s, strlen(s), &t), 0);
    return t;
}

/* The judged document of a vf_ticket patch at now (string). */
static json_t *judged_of(const char *patch, const char *now)
{
    struct tg_directory d;
    struct tg_policy p;
    struct tg_ticket t;
    json_t *j;

    vf_directory(&d);
    vf_policy(&p);
    assert_int_equal(vf_ticket(&t, patch), 0);
    j = tg_judged_build(&t, &p, &d, at(now));
    assert_non_null(j);
    tg_ticket_cleanup(&t);
    tg_policy_cleanup(&p);
    tg_directory_cleanup(&d);
    return j;
}

/* identities.approvers[i].authority */
static const json_t *auth_of(const json_t *j, size_t i)
{
    const json_t *a = json_array_get(
        json_object_get(json_object_get(j, "identities"), "approvers"), i);
    assert_non_null(a);
    return json_object_get(a, "authority");
}

static const char *s_of(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static void expect(const json_t *a, const char *key, const char *want)
{
    const char *got = s_of(a, key);
    if (!want) {
        if (json_object_get(a, key))
            fail_msg("%s: want absent, got %s", key, got ? got : "?");
        return;
    }
    if (!got || strcmp(got, want)) {
        char *dump = json_dumps(a, JSON_COMPACT);
        fail_msg("%s: want %s in %s", key, want, dump);
    }
}

/* Every basis of REASONS.md "authority", as the record names it. */
static void test_basis_kinds(void **state)
{
    static const struct {
        const char *name, *patch;
        const char *basis, *result, *group, *max, *delegator, *via;
    } cases[] = {
        {"owner, any privilege",
         "{\"approver\":\"carol\",\"scope\":{\"privilege\":\"admin\"}}",
         "owner", "holds", NULL, NULL, NULL, NULL},
        {"listed by name",
         "{\"approver\":\"heidi\",\"scope\":{\"system\":\"hr-portal\"}}",
         "approver", "holds", NULL, "read", NULL, NULL},
        {"listed by name, below the tier",
         "{\"approver\":\"heidi\",\"scope\":{\"system\":\"hr-portal\","
         "\"privilege\":\"write\"}}",
         "approver", "below_tier", NULL, "read", NULL, NULL},
        {"through a group", NULL, "group", "holds", "payments-approvers",
         "write", NULL, NULL},
        {"through a group, below the tier",
         "{\"scope\":{\"privilege\":\"admin\"}}", "group", "below_tier",
         "payments-approvers", "write", NULL, NULL},
        {"delegate of the owner",
         "{\"approver\":\"erin\",\"scope\":{\"privilege\":\"admin\"}}",
         "delegate", "holds", NULL, NULL, "carol@example.com", "owner"},
        {"no grant", "{\"approver\":\"mallory\"}", "none", "none", NULL,
         NULL, NULL, NULL},
        {"expired delegation", "{\"approver\":\"ivan\"}", "none", "none",
         NULL, NULL, NULL, NULL},
        {"inactive", "{\"approver\":\"frank\"}", "none", "none", NULL, NULL,
         NULL, NULL},
        {"emergency: not judged",
         "{\"approver\":\"mallory\",\"emergency\":true}", "none",
         "not_judged", NULL, NULL, NULL, NULL},
        {"unknown system: not judged",
         "{\"approver\":\"mallory\",\"scope\":{\"system\":\"zeta\"}}", "none",
         "not_judged", NULL, NULL, NULL, NULL},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *j = judged_of(cases[i].patch, "2026-12-01T00:00:00Z");
        const json_t *a = auth_of(j, 0);

        print_message("%s\n", cases[i].name);
        expect(a, "basis", cases[i].basis);
        expect(a, "result", cases[i].result);
        expect(a, "group", cases[i].group);
        expect(a, "max_privilege", cases[i].max);
        expect(a, "delegator", cases[i].delegator);
        expect(a, "via", cases[i].via);
        json_decref(j);
    }
}

/* grace -> mallory until 2026-12-01: the whole last day, not the next. */
static void test_delegate_last_day(void **state)
{
    const char *patch =
        "{\"approver\":\"mallory\",\"scope\":{\"system\":\"hr-portal\"}}";
    json_t *j = judged_of(patch, "2026-12-01T23:59:59Z");
    const json_t *a = auth_of(j, 0);
    (void)state;

    expect(a, "basis", "delegate");
    expect(a, "result", "holds");
    expect(a, "delegator", "grace@example.com");
    expect(a, "from", "2026-11-01");
    expect(a, "until", "2026-12-01");
    expect(a, "via", "owner");
    expect(a, "system", "hr-portal");
    json_decref(j);

    j = judged_of(patch, "2026-12-02T00:00:00Z");
    a = auth_of(j, 0);
    expect(a, "basis", "none");
    expect(a, "result", "none");
    expect(a, "why", "no grant");
    expect(a, "delegator", NULL);
    json_decref(j);
}

/* An approver who holds the authority in their own right and also as a
 * delegate: the record names their own grant whenever it covers the
 * request (the delegation is not what the approval rested on), and the
 * delegation only when it alone covers it. */
static void test_own_grant_before_delegation(void **state)
{
    static const struct {
        const char *patch, *basis, *group, *via, *result;
    } cases[] = {
        /* dave: payments-approvers up to write, and carol's delegate */
        {"{\"approver\":\"dave\",\"scope\":{\"privilege\":\"write\"}}",
         "group", "payments-approvers", NULL, "holds"},
        {"{\"approver\":\"dave\",\"scope\":{\"privilege\":\"read\"}}",
         "group", "payments-approvers", NULL, "holds"},
        {"{\"approver\":\"dave\",\"scope\":{\"privilege\":\"admin\"}}",
         "delegate", NULL, "owner", "holds"},
        /* heidi: listed on hr-portal up to read, and grace's delegate */
        {"{\"approver\":\"heidi\",\"scope\":{\"system\":\"hr-portal\","
         "\"privilege\":\"read\"}}",
         "approver", NULL, NULL, "holds"},
        {"{\"approver\":\"heidi\",\"scope\":{\"system\":\"hr-portal\","
         "\"privilege\":\"admin\"}}",
         "delegate", NULL, "owner", "holds"},
    };
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tg_directory d;
        struct tg_policy p;
        struct tg_ticket t;
        struct tg_findings f;
        json_t *j;
        const json_t *a;

        vf_directory(&d);
        vf_delegation(&d, CAROL, DAVE, "2025-01-01", "2099-12-31");
        vf_delegation(&d, GRACE, HEIDI, "2025-01-01", "2099-12-31");
        vf_policy(&p);
        assert_int_equal(vf_ticket(&t, cases[i].patch), 0);
        j = tg_judged_build(&t, &p, &d, at("2026-12-01T00:00:00Z"));
        assert_non_null(j);
        a = auth_of(j, 0);
        print_message("%s\n", cases[i].patch);
        expect(a, "basis", cases[i].basis);
        expect(a, "result", cases[i].result);
        expect(a, "group", cases[i].group);
        expect(a, "via", cases[i].via);
        /* the findings are those of the one judgement: none here */
        tg_findings_init(&f);
        assert_int_equal(tg_authority_check(&t, &p, &d,
                                            at("2026-12-01T00:00:00Z"), &f),
                         0);
        assert_int_equal(f.n, 0);
        tg_findings_cleanup(&f);
        json_decref(j);
        tg_ticket_cleanup(&t);
        tg_policy_cleanup(&p);
        tg_directory_cleanup(&d);
    }
}

/* The basis and the findings come from one judgement: for every approver,
 * a result of none or below_tier is exactly one AUTHORITY_* finding. */
static void test_basis_agrees_with_findings(void **state)
{
    static const char *const patches[] = {
        NULL,
        "{\"scope\":{\"privilege\":\"admin\"}}",
        "{\"approver\":\"carol\",\"scope\":{\"privilege\":\"admin\"}}",
        "{\"approver\":\"heidi\",\"scope\":{\"system\":\"hr-portal\","
        "\"privilege\":\"write\"}}",
        "{\"approver\":\"mallory\"}",
        "{\"approver\":\"zed@example.com\"}",
        "{\"approver\":\"frank\"}",
        "{\"approver\":\"erin\"}",
        "{\"approver\":\"ivan\"}",
        "{\"approver\":\"mallory\",\"scope\":{\"system\":\"hr-portal\"}}",
        "{\"approver\":\"security-leads\"}",
        "{\"approver\":null,\"approvers\":[\"dave\",\"mallory\",\"carol\","
        "\"mallory\",\" \",\"helpdesk\"]}",
        "{\"approver\":\"mallory\",\"emergency\":true}",
        "{\"approver\":\"mallory\",\"scope\":{\"environment\":\"dev\"}}",
        "{\"approver\":\"mallory\",\"scope\":{\"system\":null}}",
    };
    static const char *const nows[] = {"2026-11-30T12:00:00Z",
                                       "2026-12-01T23:59:59Z",
                                       "2026-12-02T00:00:00Z"};
    struct tg_directory d;
    struct tg_policy p;
    (void)state;

    vf_directory(&d);
    vf_policy(&p);
    for (size_t k = 0; k < 2; k++) {
        /* and with APPROVER_NOT_INDIVIDUAL off: groups judged here */
        if (k == 1)
            p.action[TG_APPROVER_NOT_INDIVIDUAL] = TG_ACTION_OFF;
        for (size_t i = 0; i < sizeof(patches) / sizeof(patches[0]); i++)
            for (size_t n = 0; n < 3; n++) {
                struct tg_ticket t;
                struct tg_result r;
                struct tg_context ctx = {.now = at(nows[n]),
                                         .copy_forward_uses = -1};
                size_t want = 0, got = 0;

                assert_int_equal(vf_ticket(&t, patches[i]), 0);
                tg_result_init(&r);
                assert_int_equal(tg_evaluate(&t, &p, &d, &ctx, &r), 0);
                for (size_t f = 0; f < r.findings.n; f++)
                    got += r.findings.v[f].code == TG_AUTHORITY_NONE ||
                           r.findings.v[f].code == TG_AUTHORITY_TIER;
                for (size_t a = 0; a < t.n_approvers; a++) {
                    struct tg_authority au;
                    assert_int_equal(
                        tg_authority_judge(&t, &p, &d, ctx.now, a, &au), 0);
                    want += au.status == TG_AUTH_NONE ||
                            au.status == TG_AUTH_TIER;
                }
                if (want != got)
                    fail_msg("%s at %s (pass %zu): %zu from the basis, %zu "
                             "findings",
                             patches[i] ? patches[i] : "{}", nows[n], k, want,
                             got);
                tg_result_cleanup(&r);
                tg_ticket_cleanup(&t);
            }
    }
    tg_policy_cleanup(&p);
    tg_directory_cleanup(&d);
}

/* Identities as given and as resolved, with the beneficiary's type. */
static void test_identities(void **state)
{
    json_t *j = judged_of("{\"requester\":\"bob.smith\",\"owner\":\"carol\","
                          "\"beneficiary\":{\"id\":\"svc-payments-etl\","
                          "\"type\":\"service\"},\"approver\":\"5b109f2e97"
                          "29b51b54dc274d\"}",
                          "2026-12-01T00:00:00Z");
    const json_t *ids = json_object_get(j, "identities");
    const json_t *rq = json_object_get(ids, "requester");
    const json_t *bn = json_object_get(ids, "beneficiary");
    const json_t *ap = json_array_get(json_object_get(ids, "approvers"), 0);
    (void)state;

    expect(rq, "given", "bob.smith");
    expect(rq, "resolved", "bob@example.com");
    expect(rq, "name", "Bob Smith");
    expect(rq, "kind", NULL); /* a person: left out */
    expect(bn, "given", "svc-payments-etl");
    expect(bn, "kind", "service");
    expect(bn, "type", "service");
    expect(json_object_get(ids, "owner"), "resolved", "carol@example.com");
    expect(ap, "given", "5b109f2e9729b51b54dc274d");
    expect(ap, "resolved", "dave@example.com");
    expect(ap, "at", "2026-12-01T00:00:00Z");
    /* the ticket as the validators saw it */
    expect(json_object_get(j, "ticket"), "requester", "bob.smith");
    assert_string_equal(
        s_of(json_object_get(json_object_get(j, "ticket"), "scope"), "system"),
        "payments-db");
    json_decref(j);

    /* no beneficiary named: the requester, said so; unknown: not resolved */
    j = judged_of("{\"approver\":\"zed@example.com\"}",
                  "2026-12-01T00:00:00Z");
    ids = json_object_get(j, "identities");
    bn = json_object_get(ids, "beneficiary");
    expect(bn, "given", "bob@example.com");
    expect(bn, "type", "human");
    assert_true(json_is_true(json_object_get(bn, "from_requester")));
    ap = json_array_get(json_object_get(ids, "approvers"), 0);
    assert_true(json_is_null(json_object_get(ap, "resolved")));
    expect(ap, "kind", "unknown");
    expect(json_object_get(ap, "authority"), "why", "not in the directory");
    json_decref(j);
}

/* ServiceNow: a delegate (erin) acted on an approval assigned to dave.
 * The record names both; erin is judged, as carol's delegate. Through the
 * real adapter and the one pipeline. */
static void test_servicenow_assigned_vs_acted(void **state)
{
    struct tg_config *c = NULL;
    struct tg_diag dg;
    json_t *body, *canon = NULL, *ap, *as;
    char err[256], *eid = NULL;
    int gated = -1;
    struct tg_decided o;
    (void)state;

    tg_diag_init(&dg);
    assert_int_equal(tg_config_load(EXAMPLE "ticketgate.yaml", &c, &dg), 0);
    tg_diag_cleanup(&dg);
    body = json_load_file(EXAMPLE "payloads/servicenow-approval.json", 0,
                          NULL);
    assert_non_null(body);
    json_object_set_new(json_object_get(body, "approval"), "approver",
                        json_pack("{s:s}", "user_name", "dave.okafor"));
    json_object_set_new(json_object_get(body, "approval"), "acted_by",
                        json_pack("{s:s,s:s}", "user_name", "erin.yu",
                                  "name", "Erin Yu"));
    assert_int_equal(tg_servicenow_map(c, body, &canon, &gated, &eid, err,
                                       sizeof(err)),
                     0);
    assert_int_equal(gated, 1);
    {
        const struct tg_decide d = {.cfg = c,
                                    .now = at("2026-12-01T00:00:00Z"),
                                    .gated = 1};
        tg_decided_init(&o, err, sizeof(err));
        assert_int_equal(tg_decide(&d, canon, &o), 0);
    }
    assert_non_null(o.judged);
    ap = json_array_get(json_object_get(json_object_get(o.judged,
                                                        "identities"),
                                        "approvers"),
                        0);
    expect(ap, "given", "erin.yu");
    expect(ap, "resolved", "erin@example.com");
    as = json_object_get(ap, "assigned");
    expect(as, "given", "dave.okafor");
    expect(as, "resolved", "dave@example.com");
    expect(json_object_get(ap, "authority"), "basis", "delegate");
    expect(json_object_get(ap, "authority"), "delegator",
           "carol@example.com");
    expect(json_object_get(o.judged, "ticket"), "assigned_approver",
           "dave.okafor");
    /* exactly one approver judged: who acted */
    assert_int_equal(
        json_array_size(json_object_get(
            json_object_get(o.judged, "identities"), "approvers")),
        1);
    tg_decided_cleanup(&o);
    json_decref(canon);
    json_decref(body);
    free(eid);
    tg_config_free(c);
}

/* tg_decide keeps a judged ticket for what it records, and none for a
 * skip or when asked not to. */
static void test_decide_fills_judged(void **state)
{
    struct tg_config *c = NULL;
    struct tg_diag dg;
    json_t *t;
    char err[256];
    struct tg_decided o;
    struct tg_decide d = {.now = at("2026-12-01T00:00:00Z"), .gated = 1};
    (void)state;

    tg_diag_init(&dg);
    assert_int_equal(tg_config_load(EXAMPLE "ticketgate.yaml", &c, &dg), 0);
    tg_diag_cleanup(&dg);
    d.cfg = c;
    t = json_load_file(EXAMPLE "payloads/canonical-ticket.json", 0, NULL);
    assert_non_null(t);
    tg_decided_init(&o, err, sizeof(err));
    assert_int_equal(tg_decide(&d, t, &o), 0);
    assert_non_null(o.judged);
    expect(json_object_get(o.judged, "ticket"), "id", "ACC-4410");
    {
        /* the kept ticket decides as the request did (what replay needs) */
        struct tg_decided o2;
        char err2[256];
        tg_decided_init(&o2, err2, sizeof(err2));
        assert_int_equal(
            tg_decide(&d, json_object_get(o.judged, "ticket"), &o2), 0);
        assert_true(json_equal(o.doc, o2.doc));
        assert_true(json_equal(o.judged, o2.judged));
        tg_decided_cleanup(&o2);
    }
    tg_decided_cleanup(&o);

    d.no_judged = 1;
    tg_decided_init(&o, err, sizeof(err));
    assert_int_equal(tg_decide(&d, t, &o), 0);
    assert_null(o.judged);
    tg_decided_cleanup(&o);

    d.no_judged = 0;
    json_object_set_new(t, "kind", json_string("incident"));
    tg_decided_init(&o, err, sizeof(err));
    assert_int_equal(tg_decide(&d, t, &o), 0);
    assert_int_equal(o.result.verdict, TG_SKIP);
    assert_null(o.judged);
    tg_decided_cleanup(&o);
    json_decref(t);
    tg_config_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basis_kinds),
        cmocka_unit_test(test_delegate_last_day),
        cmocka_unit_test(test_own_grant_before_delegation),
        cmocka_unit_test(test_basis_agrees_with_findings),
        cmocka_unit_test(test_identities),
        cmocka_unit_test(test_servicenow_assigned_vs_acted),
        cmocka_unit_test(test_decide_fills_judged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
