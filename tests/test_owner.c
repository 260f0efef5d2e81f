/* test_owner.c - the owner validator (REASONS.md "owner"). */
#include "tests/vfixture.h"

static int run_owner(const struct tg_ticket *t, const struct tg_policy *p,
                     const struct tg_directory *d, int64_t now,
                     struct tg_findings *out)
{
    (void)now;
    return tg_owner_check(t, p, d, out);
}

static void test_owner_table(void **state)
{
    static const struct vf_case cases[] = {
        {"named person", NULL, ""},
        {"alias any case", "{\"owner\":\"  CAROL.Diaz \"}", ""},
        {"display name", "{\"owner\":\"carol diaz\"}", ""},
        {"absent", "{\"owner\":null}", "OWNER_MISSING"},
        {"empty", "{\"owner\":\"\"}", "OWNER_MISSING"},
        {"blank", "{\"owner\":\" \\t\"}", "OWNER_MISSING"},
        {"group", "{\"owner\":\"payments-approvers\"}",
         "OWNER_NOT_INDIVIDUAL"},
        {"shared account", "{\"owner\":\"ops-shared@example.com\"}",
         "OWNER_NOT_INDIVIDUAL"},
        {"service account", "{\"owner\":\"svc-payments-etl\"}",
         "OWNER_NOT_INDIVIDUAL"},
        {"generic glob", "{\"owner\":\"it-operations\"}",
         "OWNER_NOT_INDIVIDUAL"},
        {"generic exact any case", "{\"owner\":\"Admin\"}",
         "OWNER_NOT_INDIVIDUAL"},
        {"generic infix", "{\"owner\":\"the-DB-team-lead\"}",
         "OWNER_NOT_INDIVIDUAL"},
        {"unknown", "{\"owner\":\"zoe@example.com\"}", "OWNER_UNKNOWN"},
        {"inactive", "{\"owner\":\"frank\"}", "OWNER_INACTIVE"},
    };
    (void)state;
    vf_run(cases, sizeof(cases) / sizeof(cases[0]), run_owner, NULL);
}

static void test_owner_not_strict(void **state)
{
    struct tg_directory d;
    struct tg_policy p;
    struct tg_ticket t;
    struct tg_findings f;
    (void)state;
    vf_directory(&d);
    vf_policy(&p);
    d.strict = 0;
    tg_findings_init(&f);
    assert_int_equal(vf_ticket(&t, "{\"owner\":\"zoe@example.com\"}"), 0);
    assert_int_equal(tg_owner_check(&t, &p, &d, &f), 0);
    assert_int_equal(f.n, 0);
    tg_ticket_cleanup(&t);
    tg_findings_cleanup(&f);
    tg_policy_cleanup(&p);
    tg_directory_cleanup(&d);
}

static void test_owner_message_names_value(void **state)
{
    struct tg_directory d;
    struct tg_policy p;
    struct tg_ticket t;
    struct tg_findings f;
    (void)state;
    vf_directory(&d);
    vf_policy(&p);
    p.action[TG_OWNER_INACTIVE] = TG_ACTION_WARN;
    tg_findings_init(&f);
    assert_int_equal(vf_ticket(&t, "{\"owner\":\"frank\"}"), 0);
    assert_int_equal(tg_owner_check(&t, &p, &d, &f), 0);
    assert_int_equal(f.n, 1);
    assert_int_equal(f.v[0].action, TG_ACTION_WARN);
    assert_string_equal(f.v[0].field, "owner");
    assert_non_null(strstr(f.v[0].message, "(frank)"));
    tg_findings_cleanup(&f);
    /* off: no finding at all */
    p.action[TG_OWNER_INACTIVE] = TG_ACTION_OFF;
    assert_int_equal(tg_owner_check(&t, &p, &d, &f), 0);
    assert_int_equal(f.n, 0);
    tg_ticket_cleanup(&t);
    tg_findings_cleanup(&f);
    tg_policy_cleanup(&p);
    tg_directory_cleanup(&d);
}

/* A desk agent reads people by name, with the id in brackets (issue 9). */
static void test_owner_messages(void **state)
{
    static const struct vf_msg_case cases[] = {
        {"name from the directory", "{\"owner\":\"frank\"}", NULL, 0,
         "OWNER_INACTIVE",
         "The owner Frank Muller (frank) is no longer active; name a current "
         "owner."},
        {"the payload's name comes first", "{\"owner\":\" frank \"}",
         "{\"FRANK\":\"Franz M\u00fcller\"}", 0, "OWNER_INACTIVE",
         "The owner Franz M\xc3\xbcller (frank) is no longer active; name a "
         "current owner."},
        {"the directory's name is the string itself",
         "{\"owner\":\"frank muller\"}", NULL, 0, "OWNER_INACTIVE",
         "The owner frank muller is no longer active; name a current owner."},
        {"unknown, no name known", "{\"owner\":\"zoe@example.com\"}", NULL,
         0, "OWNER_UNKNOWN",
         "The owner zoe@example.com is not in the directory; name a person "
         "the directory knows."},
        {"unknown, named by the payload", "{\"owner\":\"zoe@example.com\"}",
         "{\"zoe@example.com\":\"Zoe Park\"}", 0, "OWNER_UNKNOWN",
         "The owner Zoe Park (zoe@example.com) is not in the directory; name "
         "a person the directory knows."},
        {"an accountId is shortened",
         "{\"owner\":\"5c5f8812a4b9e3001a2b3c4d\"}",
         "{\"5c5f8812a4b9e3001a2b3c4d\":\"Dave Okafor\"}", 0,
         "OWNER_UNKNOWN",
         "The owner Dave Okafor (5c5f88\xe2\x80\xa6) is not in the directory; "
         "name a person the directory knows."},
        {"a group the payload named",
         "{\"owner\":\"payments-approvers\"}",
         "{\"payments-approvers\":\"Payments approvers\"}", 0,
         "OWNER_NOT_INDIVIDUAL",
         "The owner Payments approvers (payments-approvers) is not an "
         "individual; name one accountable person, not a team, group, shared "
         "or service account."},
        {"a name equal to the id adds nothing", "{\"owner\":\"Admin\"}",
         "{\"admin\":\"ADMIN\"}", 0, "OWNER_NOT_INDIVIDUAL",
         "The owner Admin is not an individual; name one accountable person, "
         "not a team, group, shared or service account."},
        {"a person without a name in the directory",
         "{\"owner\":\"ops-shared@example.com\"}", NULL, 0,
         "OWNER_NOT_INDIVIDUAL",
         "The owner ops-shared@example.com is not an individual; name one "
         "accountable person, not a team, group, shared or service account."},
        {"a control character in a bare id is a space",
         "{\"owner\":\"zed\\nx\"}", NULL, 0, "OWNER_UNKNOWN",
         "The owner zed x is not in the directory; name a person the "
         "directory knows."},
        {"a valid owner, named or not", NULL,
         "{\"carol@example.com\":\"Carol Diaz\"}", 0, NULL, NULL},
    };
    (void)state;
    vf_run_messages(cases, sizeof(cases) / sizeof(cases[0]), run_owner,
                    NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_owner_table),
        cmocka_unit_test(test_owner_not_strict),
        cmocka_unit_test(test_owner_message_names_value),
        cmocka_unit_test(test_owner_messages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
