/* test_evaluate.c - decisions from findings: deny, annotate, allow, skip. */
#include "server/core/decision.h"
#include "tests/vfixture.h"

struct ev_case {
    const char *name;
    const char *patch;
    enum tg_verdict verdict;
    const char *codes;
};

static void eval_rows(const struct ev_case *rows, size_t n,
                      const struct tg_policy *p)
{
    struct tg_directory d;
    struct tg_context ctx = {VF_NOW, -1};
    vf_directory(&d);
    for (size_t i = 0; i < n; i++) {
        struct tg_ticket t;
        struct tg_result r;
        char got[512];
        tg_result_init(&r);
        assert_int_equal(vf_ticket(&t, rows[i].patch), 0);
        assert_int_equal(tg_evaluate(&t, p, &d, &ctx, &r), 0);
        vf_codes(&r.findings, got, sizeof(got));
        if (r.verdict != rows[i].verdict || strcmp(got, rows[i].codes) != 0)
            fail_msg("case %s: want %s [%s] got %s [%s]", rows[i].name,
                     tg_verdict_name(rows[i].verdict), rows[i].codes,
                     tg_verdict_name(r.verdict), got);
        tg_result_cleanup(&r);
        tg_ticket_cleanup(&t);
    }
    tg_directory_cleanup(&d);
}

static void test_evaluate_enforce(void **state)
{
    static const struct ev_case rows[] = {
        {"valid", NULL, TG_ALLOW, ""},
        {"other kind", "{\"kind\":\"incident\",\"owner\":null}", TG_SKIP, ""},
        {"emergency skips approval path",
         "{\"emergency\":true,\"approver\":null,"
         "\"expires_at\":\"2026-12-01T12:00:00Z\"}",
         TG_ANNOTATE, "BREAKGLASS_REVIEW_REQUIRED"},
        {"routine skips approval path",
         "{\"approver\":\"bob\",\"scope\":{\"environment\":\"dev\"}}",
         TG_ALLOW, ""},
        {"routine with a service beneficiary",
         "{\"approver\":null,\"beneficiary\":\"svc-payments-etl\","
         "\"scope\":{\"environment\":\"dev\",\"privilege\":\"read\"}}",
         TG_ALLOW, ""},
        {"everything wrong",
         "{\"owner\":null,\"justification\":\"for work\",\"scope\":null,"
         "\"expires_at\":null,\"approver\":null}",
         TG_DENY,
         "APPROVER_MISSING,EXPIRY_MISSING,JUSTIFICATION_TOO_SHORT,"
         "OWNER_MISSING,SCOPE_ENVIRONMENT_MISSING,SCOPE_MISSING,"
         "SCOPE_MISSING"},
    };
    struct tg_policy p;
    (void)state;
    vf_policy(&p);
    eval_rows(rows, sizeof(rows) / sizeof(rows[0]), &p);
    tg_policy_cleanup(&p);
}

static void test_evaluate_actions_and_dryrun(void **state)
{
    static const struct ev_case warn_rows[] = {
        {"owner warn only", "{\"owner\":\"frank\"}", TG_ANNOTATE,
         "OWNER_INACTIVE"},
        {"off code gone", "{\"approver\":\"mallory\"}", TG_ALLOW, ""},
        {"deny still denies", "{\"owner\":null}", TG_DENY, "OWNER_MISSING"},
    };
    static const struct ev_case dry_rows[] = {
        {"would deny", "{\"owner\":null}", TG_ANNOTATE, "OWNER_MISSING"},
        {"allow stays", NULL, TG_ALLOW, ""},
    };
    struct tg_policy p;
    (void)state;
    vf_policy(&p);
    p.action[TG_OWNER_INACTIVE] = TG_ACTION_WARN;
    p.action[TG_AUTHORITY_NONE] = TG_ACTION_OFF;
    eval_rows(warn_rows, sizeof(warn_rows) / sizeof(warn_rows[0]), &p);
    tg_policy_cleanup(&p);

    vf_policy(&p);
    p.dryrun = 1;
    eval_rows(dry_rows, sizeof(dry_rows) / sizeof(dry_rows[0]), &p);
    tg_policy_cleanup(&p);
}

static void test_decision_document(void **state)
{
    struct tg_directory d;
    struct tg_policy p;
    struct tg_ticket t;
    struct tg_result r;
    struct tg_context ctx = {VF_NOW, -1};
    unsigned char rnd[3] = {0x6f, 0x1c, 0x2a};
    char id[32];
    json_t *doc, *f0;
    (void)state;
    vf_directory(&d);
    vf_policy(&p);
    p.dryrun = 1;
    tg_result_init(&r);
    assert_int_equal(vf_ticket(&t, "{\"approver\":\"bob\",\"transition\":"
                                   "{\"from\":\"A\",\"to\":\"B\"}}"),
                     0);
    assert_int_equal(tg_evaluate(&t, &p, &d, &ctx, &r), 0);
    tg_decision_id_format(id, sizeof(id), 42, rnd);
    assert_string_equal(id, "d-000000000042-6f1c2a");
    doc = tg_decision_build(&t, "jira", &r, id, VF_NOW, "sha256:ab");
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "decision")),
                        "annotate");
    assert_true(json_is_true(json_object_get(doc, "dry_run")));
    assert_string_equal(json_string_value(json_object_get(doc, "source")),
                        "jira");
    assert_string_equal(
        json_string_value(json_object_get(doc, "evaluated_at")),
        "2026-12-01T00:00:00Z");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(doc, "transition"), "to")),
                        "B");
    f0 = json_array_get(json_object_get(doc, "findings"), 0);
    assert_string_equal(json_string_value(json_object_get(f0, "code")),
                        "SOD_SELF_APPROVAL");
    assert_string_equal(json_string_value(json_object_get(f0, "action")),
                        "deny");
    assert_string_equal(json_string_value(json_object_get(f0, "validator")),
                        "separation");
    assert_string_equal(
        json_string_value(json_object_get(f0, "message")),
        "The approver Bob Smith (bob) is also the requester; a second "
        "person must approve.");
    assert_non_null(
        strstr(json_string_value(json_object_get(doc, "message")),
               "\n- The approver Bob Smith (bob) is also the requester"));
    json_decref(doc);
    tg_result_cleanup(&r);
    tg_ticket_cleanup(&t);
    tg_policy_cleanup(&p);
    tg_directory_cleanup(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_evaluate_enforce),
        cmocka_unit_test(test_evaluate_actions_and_dryrun),
        cmocka_unit_test(test_decision_document),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
