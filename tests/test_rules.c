/* test_rules.c - the policy validator: forbidden and break-glass. */
/* deps: canonical */
#include "vfixture.h"

static int run_rules(const struct tg_ticket *t, const struct tg_policy *p,
                     const struct tg_directory *d, int64_t now,
                     struct tg_findings *out)
{
    (void)now;
    return tg_rules_check(t, p, d, out);
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
    assert_int_equal(tg_rules_check(&t, &p, &d, &f), 0);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rules_table),
        cmocka_unit_test(test_rules_forbidden_reasons),
        cmocka_unit_test(test_rules_routine),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
