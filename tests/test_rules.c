/* test_rules.c - the policy validator: forbidden and break-glass. */
#include "tests/vfixture.h"

static int run_rules(const struct tg_ticket *t, const struct tg_policy *p,
                     const struct tg_directory *d, int64_t now,
                     struct tg_findings *out)
{
    return tg_rules_check(t, p, d, now, out);
}

static void test_rules_table(void **state)
{
    static const struct vf_case cases[] = {
        {"ordinary", NULL, ""},
        {"forbidden: prod admin service",
         "{\"beneficiary\":{\"id\":\"x\",\"type\":\"service\"},"
         "\"scope\":{\"privilege\":\"admin\"}}",
         "POLICY_FORBIDDEN"},
        {"forbidden: type from directory, env any case",
         "{\"beneficiary\":\"svc-payments-etl\",\"scope\":{\"privilege\":"
         "\"ADMIN\",\"environment\":\"Prod\"}}",
         "POLICY_FORBIDDEN"},
        {"forbidden: missing privilege is admin",
         "{\"beneficiary\":\"svc-payments-etl\",\"scope\":{\"privilege\":"
         "null}}",
         "POLICY_FORBIDDEN"},
        {"not forbidden: human",
         "{\"scope\":{\"privilege\":\"admin\"}}", ""},
        {"not forbidden: missing environment matches nothing",
         "{\"beneficiary\":\"svc-payments-etl\",\"scope\":{\"privilege\":"
         "\"admin\",\"environment\":null}}",
         ""},
        {"emergency", "{\"emergency\":true}", "BREAKGLASS_REVIEW_REQUIRED"},
        {"forbidden applies to emergencies",
         "{\"emergency\":true,\"beneficiary\":\"svc-payments-etl\","
         "\"scope\":{\"privilege\":\"admin\"}}",
         "BREAKGLASS_REVIEW_REQUIRED,POLICY_FORBIDDEN"},
    };
    (void)state;
    vf_run(cases, sizeof(cases) / sizeof(cases[0]), run_rules, NULL);
}

/* A forbidden rule's reason is the message, whole however long; every
 * rule that forbids the ticket gives its reason, each reason once. */
static void test_rules_forbidden_reasons(void **state)
{
    static const char long_reason[] =
        "Standing admin rights in production are never granted to a service "
        "identity; request a just-in-time elevation through PAM.";
    struct tg_directory d;
    struct tg_policy p;
    struct tg_ticket t;
    struct tg_findings f;
    struct tg_rule *r;
    (void)state;

    vf_directory(&d);
    vf_policy(&p);
    free(p.forbidden[0].reason);
    p.forbidden[0].reason = strdup(long_reason);
    /* a second rule, another reason; a third repeating the first's */
    p.forbidden = realloc(p.forbidden, 3 * sizeof(*p.forbidden));
    r = &p.forbidden[1];
    memset(r, 0, sizeof(*r));
    r->system = strdup("payments-db");
    r->privilege = strdup("admin");
    r->reason = strdup("Admin on payments-db goes through the DBA team.");
    r = &p.forbidden[2];
    memset(r, 0, sizeof(*r));
    r->privilege = strdup("admin");
    r->beneficiary_type = strdup("service");
    r->reason = strdup(long_reason);
    p.n_forbidden = 3;

    assert_int_equal(vf_ticket(&t, "{\"beneficiary\":\"svc-payments-etl\","
                                   "\"scope\":{\"privilege\":\"admin\"}}"),
                     0);
    tg_findings_init(&f);
    assert_int_equal(tg_rules_check(&t, &p, &d, VF_NOW, &f), 0);
    assert_int_equal(f.n, 2);
    assert_int_equal(f.v[0].code, TG_POLICY_FORBIDDEN);
    assert_string_equal(f.v[0].message, long_reason);
    assert_int_equal(f.v[1].code, TG_POLICY_FORBIDDEN);
    assert_string_equal(f.v[1].message,
                        "Admin on payments-db goes through the DBA team.");
    tg_findings_cleanup(&f);
    tg_ticket_cleanup(&t);
    tg_policy_cleanup(&p);
    tg_directory_cleanup(&d);
}

static void test_rules_routine(void **state)
{
    static const struct {
        const char *patch;
        int routine;
    } rows[] = {
        {"{\"scope\":{\"environment\":\"dev\"}}", 1},
        {"{\"scope\":{\"environment\":\"DEV\",\"privilege\":\"Read\"}}", 1},
        {"{\"scope\":{\"environment\":\"dev\",\"privilege\":\"write\"}}", 0},
        {"{\"scope\":{\"environment\":\"dev\",\"privilege\":null}}", 0},
        {"{\"scope\":{\"environment\":null}}", 0},
        {NULL, 0},
    };
    struct tg_directory d;
    struct tg_policy p;
    (void)state;
    vf_directory(&d);
    vf_policy(&p);
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct tg_ticket t;
        assert_int_equal(vf_ticket(&t, rows[i].patch), 0);
        assert_int_equal(tg_rules_is_routine(&t, &p, &d), rows[i].routine);
        tg_ticket_cleanup(&t);
    }
    tg_policy_cleanup(&p);
    tg_directory_cleanup(&d);
}

/* The break-glass note says how late the access may end in a form the
 * ticket's end field can hold: a date when one fits (issue 9). And the
 * policy's messages are one line each, a forbidden reason's too. */
static void test_rules_breakglass_message(void **state)
{
    static const struct vf_msg_case day[] = {
        {"24 hours: today's date", "{\"emergency\":true,"
                                   "\"expires_at\":\"2026-12-01\"}",
         NULL, VF_NOW + 36000, "BREAKGLASS_REVIEW_REQUIRED",
         "This is an emergency (break-glass) request: it must be reviewed "
         "after the event, and it may last at most 24 hours: an end date of "
         "2026-12-01 at the latest."},
        {"24 hours at 23:59:59: tomorrow's date",
         "{\"emergency\":true,\"expires_at\":\"2026-12-02\"}", NULL,
         VF_NOW + 86399, "BREAKGLASS_REVIEW_REQUIRED",
         "This is an emergency (break-glass) request: it must be reviewed "
         "after the event, and it may last at most 24 hours: an end date of "
         "2026-12-02 at the latest."},
    };
    static const struct vf_msg_case time[] = {
        {"4 hours at 10:00: no date fits",
         "{\"emergency\":true,\"expires_at\":\"2026-12-01T13:00:00Z\"}",
         NULL, VF_NOW + 36000, "BREAKGLASS_REVIEW_REQUIRED",
         "This is an emergency (break-glass) request: it must be reviewed "
         "after the event, and it may last at most 4 hours: an end time no "
         "later than 2026-12-01 14:00 UTC (any end date is too late)."},
    };
    static const struct vf_msg_case reason[] = {
        {"a forbidden reason's newlines become spaces",
         "{\"scope\":{\"privilege\":\"admin\"}}", NULL, 0,
         "POLICY_FORBIDDEN", "Admin on payments-db is never granted. Use PAM. "},
    };
    struct tg_policy p;
    (void)state;
    vf_run_messages(day, sizeof(day) / sizeof(day[0]), run_rules, NULL);
    vf_policy(&p);
    free(p.forbidden[0].reason);
    free(p.forbidden[0].beneficiary_type);
    p.forbidden[0].beneficiary_type = NULL;
    p.forbidden[0].reason = strdup("Admin on payments-db is never granted.\n"
                                   "Use PAM.\n");
    vf_run_messages(reason, 1, run_rules, &p);
    tg_policy_cleanup(&p);
    vf_policy(&p);
    p.emergency_max_hours = 4;
    vf_run_messages(time, sizeof(time) / sizeof(time[0]), run_rules, &p);
    tg_policy_cleanup(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rules_table),
        cmocka_unit_test(test_rules_breakglass_message),
        cmocka_unit_test(test_rules_forbidden_reasons),
        cmocka_unit_test(test_rules_routine),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
