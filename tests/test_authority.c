/* test_authority.c - the authority validator, tiers and delegations. */
#include "tests/vfixture.h"

static int run_auth(const struct tg_ticket *t, const struct tg_policy *p,
                    const struct tg_directory *d, int64_t now,
                    struct tg_findings *out)
{
    return tg_authority_check(t, p, d, now, out);
}

/* payments-db: owner carol, payments-approvers (dave) up to write;
 * hr-portal: owner grace, heidi up to read; vault: owner judy.
 * erin is carol's delegate until 2099, ivan's delegation ended 2025-01-31,
 * mallory is grace's delegate until 2026-12-01 (the test's today). */
static void test_authority_table(void **state)
{
    static const struct vf_case cases[] = {
        {"group approver within tier", NULL, ""},
        {"group approver at tier",
         "{\"scope\":{\"privilege\":\"write\"}}", ""},
        {"group approver above tier",
         "{\"scope\":{\"privilege\":\"admin\"}}", "AUTHORITY_TIER"},
        {"unknown privilege is admin",
         "{\"scope\":{\"privilege\":\"superuser\"}}", "AUTHORITY_TIER"},
        {"owner any privilege",
         "{\"approver\":\"carol\",\"scope\":{\"privilege\":\"admin\"}}", ""},
        {"person approver tier",
         "{\"approver\":\"heidi\",\"scope\":{\"system\":\"hr-portal\","
         "\"privilege\":\"write\"}}",
         "AUTHORITY_TIER"},
        {"nobody", "{\"approver\":\"mallory\"}", "AUTHORITY_NONE"},
        {"unknown approver", "{\"approver\":\"zed@example.com\"}",
         "AUTHORITY_NONE"},
        {"inactive approver", "{\"approver\":\"frank\"}", "AUTHORITY_NONE"},
        {"active delegate of owner",
         "{\"approver\":\"erin\",\"scope\":{\"privilege\":\"admin\"}}", ""},
        {"expired delegate", "{\"approver\":\"ivan\"}", "AUTHORITY_NONE"},
        {"delegate on the last day",
         "{\"approver\":\"mallory\",\"scope\":{\"system\":\"hr-portal\"}}",
         ""},
        {"unknown system: skipped",
         "{\"approver\":\"mallory\",\"scope\":{\"system\":\"zeta\"}}", ""},
        {"missing system: skipped",
         "{\"approver\":\"mallory\",\"scope\":{\"system\":null}}", ""},
        {"group approver: separation's finding",
         "{\"approver\":\"security-leads\"}", ""},
        {"self approver still needs authority",
         "{\"approver\":\"bob\"}", "AUTHORITY_NONE"},
        {"every approver",
         "{\"approver\":null,\"approvers\":[\"dave\",\"mallory\"]}",
         "AUTHORITY_NONE"},
        /* One person under two names is judged once. */
        {"one person named twice",
         "{\"approver\":\"mallory\",\"approvers\":[\"mallory\"]}",
         "AUTHORITY_NONE"},
    };
    (void)state;
    vf_run(cases, sizeof(cases) / sizeof(cases[0]), run_auth, NULL);
}

/* With APPROVER_NOT_INDIVIDUAL off nobody reports a group approver, so
 * authority does: a group holds no authority of its own. */
static void test_authority_not_individual_off(void **state)
{
    static const struct vf_case cases[] = {
        {"group approver", "{\"approver\":\"security-leads\"}",
         "AUTHORITY_NONE"},
        {"generic approver", "{\"approver\":\"helpdesk\"}",
         "AUTHORITY_NONE"},
        {"a person still judged as one", "{\"approver\":\"carol\"}", ""},
    };
    struct tg_policy p;
    (void)state;
    vf_policy(&p);
    p.action[TG_APPROVER_NOT_INDIVIDUAL] = TG_ACTION_OFF;
    vf_run(cases, sizeof(cases) / sizeof(cases[0]), run_auth, &p);
    tg_policy_cleanup(&p);
}

static void test_authority_delegation_window(void **state)
{
    /* grace -> mallory, from 2026-11-01 until 2026-12-01 (whole days). */
    static const struct {
        const char *now;
        size_t want;
    } rows[] = {
        {"2026-10-31T23:59:59Z", 1}, {"2026-11-01T00:00:00Z", 0},
        {"2026-12-01T23:59:59Z", 0}, {"2026-12-02T00:00:00Z", 1},
    };
    struct tg_directory d;
    struct tg_policy p;
    struct tg_ticket t;
    (void)state;
    vf_directory(&d);
    vf_policy(&p);
    assert_int_equal(vf_ticket(&t, "{\"approver\":\"mallory\",\"scope\":"
                                   "{\"system\":\"hr-portal\"}}"),
                     0);
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct tg_findings f;
        int64_t now;
        tg_findings_init(&f);
        assert_int_equal(tg_time_parse(rows[i].now, strlen(rows[i].now),
                                       &now), 0);
        assert_int_equal(tg_authority_check(&t, &p, &d, now, &f), 0);
        if (f.n != rows[i].want)
            fail_msg("at %s want %zu findings, got %zu", rows[i].now,
                     rows[i].want, f.n);
        tg_findings_cleanup(&f);
    }
    tg_ticket_cleanup(&t);
    tg_policy_cleanup(&p);
    tg_directory_cleanup(&d);
}

/* People are named as a desk agent knows them (issue 9). */
static void test_authority_messages(void **state)
{
    static const struct vf_msg_case cases[] = {
        {"tier, the directory's name", "{\"scope\":{\"privilege\":\"admin\"}}",
         NULL, 0, "AUTHORITY_TIER",
         "The approver Dave Okafor (dave@example.com) may approve write "
         "access to payments-db at most, and this request is for admin; ask "
         "the system's owner or a higher approver."},
        {"none, no name known", "{\"approver\":\"mallory\"}", NULL, 0,
         "AUTHORITY_NONE",
         "The approver mallory has no authority over payments-db; ask its "
         "owner or one of its listed approvers to approve."},
        {"none, the payload's name", "{\"approver\":\"mallory\"}",
         "{\"mallory\":\"Mallory Jones\"}", 0, "AUTHORITY_NONE",
         "The approver Mallory Jones (mallory) has no authority over "
         "payments-db; ask its owner or one of its listed approvers to "
         "approve."},
        {"none, unknown but named",
         "{\"approver\":\"712020:0e1f2a3b-4c5d-6e7f-8091-a2b3c4d5e6f7\"}",
         "{\"712020:0e1f2a3b-4c5d-6e7f-8091-a2b3c4d5e6f7\":\"Zoe Park\"}", 0,
         "AUTHORITY_NONE",
         "The approver Zoe Park (712020:0e1f2a\xe2\x80\xa6) has no authority "
         "over payments-db; ask its owner or one of its listed approvers to "
         "approve."},
    };
    (void)state;
    vf_run_messages(cases, sizeof(cases) / sizeof(cases[0]), run_auth,
                    NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_authority_table),
        cmocka_unit_test(test_authority_messages),
        cmocka_unit_test(test_authority_not_individual_off),
        cmocka_unit_test(test_authority_delegation_window),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
