/* test_canonical.c - canonical ticket JSON to struct, and its 422 errors. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "server/core/canonical.h"
#include "validators/errors.h"

static void test_canonical_errors(void **state)
{
    static const struct {
        const char *json;
        const char *err_has; /* NULL: maps */
    } rows[] = {
        {"{\"id\":\"A-1\"}", NULL},
        {"{}", "id is missing"},
        {"{\"id\":null}", "id is missing"},
        {"{\"id\":42}", "id must be"},
        {"{\"id\":\"\"}", "id must be"},
        {"{\"id\":\"A\",\"owner\":7}", "owner must be a string"},
        {"{\"id\":\"A\",\"scope\":\"db\"}", "scope must be an object"},
        {"{\"id\":\"A\",\"scope\":{\"system\":[1]}}", "scope.system"},
        {"{\"id\":\"A\",\"transition\":{\"to\":1}}", "transition.to"},
        {"{\"id\":\"A\",\"approvers\":[\"a\",2]}", "approvers[1]"},
        {"{\"id\":\"A\",\"approvers\":{}}", "approvers must be"},
        {"{\"id\":\"A\",\"beneficiary\":3}", "beneficiary must be"},
        {"{\"id\":\"A\",\"beneficiary\":{\"id\":\"x\",\"type\":1}}",
         "beneficiary.type"},
        {"{\"id\":\"A\",\"emergency\":\"yes\"}", "emergency must be"},
        {"{\"id\":\"A\",\"unknown\":{\"deep\":[1,2]},\"owner\":null}", NULL},
        {"{\"id\":\"A\",\"assigned_approver\":3}",
         "assigned_approver must be a string"},
        {"{\"id\":\"A\",\"names\":[\"x\"]}", "names must be an object"},
        {"{\"id\":\"A\",\"names\":{\"x\":1}}", "names must map"},
        {"{\"id\":\"A\",\"names\":null,\"assigned_approver\":null}", NULL},
        {"{\"id\":\"A\",\"names\":{\"x\":null}}", NULL},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct tg_ticket t;
        char err[200];
        json_t *v = json_loads(rows[i].json, 0, NULL);
        int rc;
        assert_non_null(v);
        tg_ticket_init(&t);
        rc = tg_canonical_from_json(v, &t, err, sizeof(err));
        if (rows[i].err_has) {
            assert_int_equal(rc, TG_EINVAL);
            if (!strstr(err, rows[i].err_has))
                fail_msg("%s: error \"%s\" lacks \"%s\"", rows[i].json, err,
                         rows[i].err_has);
            assert_null(t.id); /* cleaned up on failure */
        } else {
            assert_int_equal(rc, TG_OK);
        }
        tg_ticket_cleanup(&t);
        json_decref(v);
    }
}

/* Members are found in one pass over each object (canonical.c collect):
 * every member lands in its own field whatever the order, look-alike names
 * are ignored, and when two members are wrong the first in the mapping's
 * order is the one told, as with a lookup a member. */
static void test_canonical_member_pass(void **state)
{
    const char *json =
        "{\"scope\":{\"privilege\":\"admin\",\"system\":\"db\","
        "\"environment\":\"prod\",\"entitlement\":\"role:x\","
        "\"systems\":1},\"transition\":{\"actor\":\"ann\",\"to\":\"A\","
        "\"from\":\"W\",\"t\":2},\"created_at\":\"2026-01-01\","
        "\"expires_at\":\"2027-01-01\",\"justification\":\"why\","
        "\"assigned_approver\":\"bea\",\"approvers\":[\"cy\"],"
        "\"approver\":\"bo\",\"owner\":\"ola\",\"beneficiary\":{\"type\":"
        "\"human\",\"id\":\"ben\"},\"requester\":\"rey\",\"project\":"
        "\"P\",\"kind\":\"access_request\",\"source\":\"jira\",\"i\":0,"
        "\"idx\":\"no\",\"emergencyx\":\"no\",\"id\":\"Z-9\"}";
    struct tg_ticket t;
    char err[200];
    json_t *v = json_loads(json, 0, NULL);
    (void)state;
    assert_non_null(v);
    tg_ticket_init(&t);
    assert_int_equal(tg_canonical_from_json(v, &t, err, sizeof(err)), TG_OK);
    assert_string_equal(t.id, "Z-9");
    assert_string_equal(t.source, "jira");
    assert_string_equal(t.kind, "access_request");
    assert_string_equal(t.project, "P");
    assert_string_equal(t.requester, "rey");
    assert_string_equal(t.beneficiary, "ben");
    assert_string_equal(t.beneficiary_type, "human");
    assert_string_equal(t.owner, "ola");
    assert_int_equal(t.n_approvers, 2);
    assert_string_equal(t.approvers[0], "bo");
    assert_string_equal(t.approvers[1], "cy");
    assert_string_equal(t.assigned_approver, "bea");
    assert_string_equal(t.justification, "why");
    assert_string_equal(t.expires_at, "2027-01-01");
    assert_string_equal(t.created_at, "2026-01-01");
    assert_string_equal(t.from, "W");
    assert_string_equal(t.to, "A");
    assert_string_equal(t.actor, "ann");
    assert_string_equal(t.system, "db");
    assert_string_equal(t.environment, "prod");
    assert_string_equal(t.entitlement, "role:x");
    assert_string_equal(t.privilege, "admin");
    assert_int_equal(t.emergency, 0);
    tg_ticket_cleanup(&t);
    json_decref(v);
    /* Two wrong members, written in the other order: owner is told. */
    v = json_loads("{\"scope\":{\"system\":1},\"owner\":2,\"id\":\"A\"}", 0,
                   NULL);
    assert_non_null(v);
    tg_ticket_init(&t);
    assert_int_equal(tg_canonical_from_json(v, &t, err, sizeof(err)),
                     TG_EINVAL);
    assert_string_equal(err, "owner must be a string");
    json_decref(v);
}

static void test_canonical_fields(void **state)
{
    const char *json =
        "{\"id\":\"ACC-1\",\"kind\":\"access_request\",\"approver\":\"a\","
        "\"approvers\":[\"b\",null,\"c\"],\"beneficiary\":{\"id\":\"svc\","
        "\"type\":\"service\"},\"scope\":{\"system\":\"s\",\"privilege\":"
        "\"read\"},\"transition\":{\"from\":\"W\",\"to\":\"A\",\"actor\":"
        "\"d\"},\"emergency\":true,\"expires_at\":\"2027-01-01\"}";
    struct tg_ticket t;
    char err[100];
    json_t *v = json_loads(json, 0, NULL), *back;
    (void)state;
    tg_ticket_init(&t);
    assert_int_equal(tg_canonical_from_json(v, &t, err, sizeof(err)), 0);
    assert_string_equal(t.id, "ACC-1");
    assert_int_equal(t.n_approvers, 3);
    assert_string_equal(t.approvers[0], "a");
    assert_string_equal(t.approvers[2], "c");
    assert_string_equal(t.beneficiary, "svc");
    assert_string_equal(t.beneficiary_type, "service");
    assert_string_equal(t.system, "s");
    assert_null(t.environment);
    assert_string_equal(t.to, "A");
    assert_string_equal(t.actor, "d");
    assert_int_equal(t.emergency, 1);
    assert_true(tg_ticket_is_access_request(&t));
    back = tg_canonical_to_json(&t);
    assert_non_null(back);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(back, "beneficiary"), "type")),
                        "service");
    assert_int_equal(json_array_size(json_object_get(back, "approvers")), 3);
    json_decref(back);
    tg_ticket_cleanup(&t);
    json_decref(v);
}

/* The adapters' extensions: who a delegate acted for, display names. */
static void test_canonical_names(void **state)
{
    const char *json =
        "{\"id\":\"RITM1\",\"approver\":\"erin.yu\","
        "\"assigned_approver\":\"dave.okafor\",\"names\":{"
        "\"erin.yu\":\"Erin Yu\",\"dave.okafor\":\"Dave Okafor\","
        "\"x\":null}}";
    struct tg_ticket t;
    char err[100];
    json_t *v = json_loads(json, 0, NULL), *back, *want;
    (void)state;
    tg_ticket_init(&t);
    assert_int_equal(tg_canonical_from_json(v, &t, err, sizeof(err)), 0);
    assert_string_equal(t.assigned_approver, "dave.okafor");
    assert_int_equal(t.n_names, 2);
    assert_string_equal(tg_ticket_name_of(&t, "Erin.Yu"), "Erin Yu");
    assert_string_equal(tg_ticket_name_of(&t, "dave.okafor"), "Dave Okafor");
    assert_null(tg_ticket_name_of(&t, "x"));
    back = tg_canonical_to_json(&t);
    assert_non_null(back);
    assert_string_equal(
        json_string_value(json_object_get(back, "assigned_approver")),
        "dave.okafor");
    want = json_loads("{\"erin.yu\":\"Erin Yu\",\"dave.okafor\":\"Dave "
                      "Okafor\"}",
                      0, NULL);
    assert_true(json_equal(json_object_get(back, "names"), want));
    json_decref(want);
    json_decref(back);
    tg_ticket_cleanup(&t);
    json_decref(v);

    /* Neither: no member. */
    v = json_loads("{\"id\":\"A\"}", 0, NULL);
    tg_ticket_init(&t);
    assert_int_equal(tg_canonical_from_json(v, &t, err, sizeof(err)), 0);
    back = tg_canonical_to_json(&t);
    assert_null(json_object_get(back, "assigned_approver"));
    assert_null(json_object_get(back, "names"));
    json_decref(back);
    tg_ticket_cleanup(&t);
    json_decref(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_canonical_errors),
        cmocka_unit_test(test_canonical_member_pass),
        cmocka_unit_test(test_canonical_fields),
        cmocka_unit_test(test_canonical_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
