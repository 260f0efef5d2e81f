/* test_scope.c - the scope validator (REASONS.md "scope"). */
#include "tests/vfixture.h"

static int run_scope(const struct tg_ticket *t, const struct tg_policy *p,
                     const struct tg_directory *d, int64_t now,
                     struct tg_findings *out)
{
    (void)now;
    return tg_scope_check(t, p, d, out);
}

static void test_scope_table(void **state)
{
    static const struct vf_case cases[] = {
        {"exact", NULL, ""},
        {"system case and space", "{\"scope\":{\"system\":\" Payments-DB \"}}",
         ""},
        {"no system", "{\"scope\":{\"system\":null}}", "SCOPE_MISSING"},
        {"empty entitlement", "{\"scope\":{\"entitlement\":\"\"}}",
         "SCOPE_MISSING"},
        {"both missing",
         "{\"scope\":{\"system\":null,\"entitlement\":\" \"}}",
         "SCOPE_MISSING,SCOPE_MISSING"},
        {"no environment", "{\"scope\":{\"environment\":null}}",
         "SCOPE_ENVIRONMENT_MISSING"},
        {"no scope at all", "{\"scope\":null}",
         "SCOPE_ENVIRONMENT_MISSING,SCOPE_MISSING,SCOPE_MISSING"},
        {"star", "{\"scope\":{\"entitlement\":\"role:*\"}}", "SCOPE_WILDCARD"},
        {"full access", "{\"scope\":{\"entitlement\":\"full access\"}}",
         "SCOPE_WILDCARD"},
        {"All groups", "{\"scope\":{\"entitlement\":\"All groups\"}}",
         "SCOPE_WILDCARD"},
        {"env any", "{\"scope\":{\"environment\":\"any\"}}", "SCOPE_WILDCARD"},
        {"word inside a word is not a word",
         "{\"scope\":{\"entitlement\":\"role:fullstack_dev\"}}", ""},
        {"underscore splits words",
         "{\"scope\":{\"entitlement\":\"role:full_admin\"}}",
         "SCOPE_WILDCARD"},
        {"unknown system", "{\"scope\":{\"system\":\"zeta-crm\"}}",
         "SCOPE_UNKNOWN_SYSTEM"},
        {"star system is wildcard and unknown",
         "{\"scope\":{\"system\":\"*\"}}",
         "SCOPE_UNKNOWN_SYSTEM,SCOPE_WILDCARD"},
    };
    (void)state;
    vf_run(cases, sizeof(cases) / sizeof(cases[0]), run_scope, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scope_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
