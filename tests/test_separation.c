/* test_separation.c - the separation validator (REASONS.md "separation"). */
#include "tests/vfixture.h"

static int run_sep(const struct tg_ticket *t, const struct tg_policy *p,
                   const struct tg_directory *d, int64_t now,
                   struct tg_findings *out)
{
    (void)now;
    return tg_separation_check(t, p, d, out);
}

static void test_separation_table(void **state)
{
    static const struct vf_case cases[] = {
        {"second person", NULL, ""},
        {"no approver", "{\"approver\":null}", "APPROVER_MISSING"},
        {"blank approver", "{\"approver\":\"  \"}", "APPROVER_MISSING"},
        {"empty approvers array", "{\"approver\":null,\"approvers\":[]}",
         "APPROVER_MISSING"},
        {"self by same string", "{\"approver\":\"bob@example.com\"}",
         "SOD_SELF_APPROVAL"},
        {"self by accountId alias",
         "{\"approver\":\"5b10a2844c20165700ede21g\"}", "SOD_SELF_APPROVAL"},
        {"self by case", "{\"approver\":\" BOB@Example.com \"}",
         "SOD_SELF_APPROVAL"},
        {"self, both unknown names",
         "{\"requester\":\"Zed\",\"approver\":\"zed \"}",
         "SOD_SELF_APPROVAL"},
        {"requester unknown, approver known", "{\"requester\":\"zed\"}", ""},
        {"beneficiary approves",
         "{\"beneficiary\":\"dave@example.com\",\"approver\":\"dave\"}",
         "SOD_BENEFICIARY_APPROVAL"},
        {"beneficiary is requester: it is self approval",
         "{\"beneficiary\":\"bob\",\"approver\":\"bob.smith\"}",
         "SOD_SELF_APPROVAL"},
        {"service beneficiary is not a person",
         "{\"beneficiary\":{\"id\":\"dave@example.com\",\"type\":\"service\"},"
         "\"approver\":\"dave\"}",
         ""},
        {"group approver", "{\"approver\":\"security-leads\"}",
         "APPROVER_NOT_INDIVIDUAL"},
        {"shared approver", "{\"approver\":\"ops-shared@example.com\"}",
         "APPROVER_NOT_INDIVIDUAL"},
        {"generic approver", "{\"approver\":\"helpdesk\"}",
         "APPROVER_NOT_INDIVIDUAL"},
        {"every approver checked",
         "{\"approver\":null,\"approvers\":[\"dave\",\"bob\",\"platform-"
         "team\"]}",
         "APPROVER_NOT_INDIVIDUAL,SOD_SELF_APPROVAL"},
        /* One person under two names is one approver: one finding. */
        {"requester named twice among approvers",
         "{\"approver\":null,\"approvers\":[\"bob\",\"bob@example.com\"]}",
         "SOD_SELF_APPROVAL"},
        {"approver and approvers name one person",
         "{\"approver\":\"bob\",\"approvers\":[\"BOB@example.com \"]}",
         "SOD_SELF_APPROVAL"},
        {"owner may approve", "{\"approver\":\"carol\"}", ""},
        {"requester may be the owner",
         "{\"owner\":\"bob@example.com\"}", ""},
    };
    (void)state;
    vf_run(cases, sizeof(cases) / sizeof(cases[0]), run_sep, NULL);
}

/* People are named as a desk agent knows them (issue 9). */
static void test_separation_messages(void **state)
{
    static const struct vf_msg_case cases[] = {
        {"self, the payload names the accountId",
         "{\"approver\":\"5b10a2844c20165700ede21g\"}",
         "{\"5b10a2844c20165700ede21g\":\"Bob Smith\"}", 0,
         "SOD_SELF_APPROVAL",
         "The approver Bob Smith (5b10a2\xe2\x80\xa6) is also the requester; "
         "a second person must approve."},
        {"self, the directory names the e-mail",
         "{\"approver\":\"bob@example.com\"}", NULL, 0, "SOD_SELF_APPROVAL",
         "The approver Bob Smith (bob@example.com) is also the requester; a "
         "second person must approve."},
        {"self, no name known",
         "{\"requester\":\"Zed\",\"approver\":\"zed\"}", NULL, 0,
         "SOD_SELF_APPROVAL",
         "The approver zed is also the requester; a second person must "
         "approve."},
        {"beneficiary", "{\"beneficiary\":\"dave@example.com\","
                        "\"approver\":\"dave\"}",
         NULL, 0, "SOD_BENEFICIARY_APPROVAL",
         "The approver Dave Okafor (dave) is the person who receives the "
         "access; someone else must approve."},
        {"a group the payload named", "{\"approver\":\"security-leads\"}",
         "{\"security-leads\":\"Security leads\"}", 0,
         "APPROVER_NOT_INDIVIDUAL",
         "The approver Security leads (security-leads) is not an individual; "
         "a named person must approve, not a team, group or shared account."},
    };
    (void)state;
    vf_run_messages(cases, sizeof(cases) / sizeof(cases[0]), run_sep,
                    NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_separation_table),
        cmocka_unit_test(test_separation_messages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
