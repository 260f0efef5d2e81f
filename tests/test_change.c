/* test_change.c - a recorded and a candidate outcome, and how they differ. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "server/core/change.h"
#include "validators/errors.h"

/* Decision documents, as recorded: jansson parses them, tg_change_from_doc
 * reads the verdict and each finding's code and action. */
static const char *const docs[] = {
    "{\"decision\":\"allow\",\"decision_id\":\"d-1\",\"findings\":[],"
    "\"message\":\"\"}",
    "{\"decision\":\"deny\",\"transition\":{\"from\":\"a\",\"to\":\"b\"},"
    "\"findings\":[{\"code\":\"EXPIRY_TOO_LONG\",\"validator\":\"expiry\","
    "\"action\":\"deny\",\"field\":\"expires_at\",\"message\":\"a \\\"quoted\\\""
    " {bracket] \\\\\"},{\"code\":\"OWNER_UNKNOWN\",\"action\":\"warn\","
    "\"exception\":{\"id\":\"EXC-1\",\"until\":\"2027-01-01\"}}],"
    "\"dry_run\":false,\"n\":-1.5e3,\"x\":[null,true,[1,{}]]}",
    /* the same code twice: the most severe action counts */
    " { \"findings\" : [ {\"action\":\"warn\",\"code\":\"SCOPE_WILDCARD\"} ,"
    " {\"code\":\"SCOPE_WILDCARD\",\"action\":\"deny\"} ] ,"
    " \"decision\" : \"annotate\" } ",
    "{\"decision\":\"skip\"}",
};

/* JSON, but no decision document: refused. */
static const char *const not_decisions[] = {
    "[]",
    "{\"findings\":[]}",
    "{\"decision\":\"allow\",\"findings\":{}}",
    "{\"decision\":\"allow\",\"findings\":[{\"code\":\"OWNER_UNKNOWN\"}]}",
    "{\"decision\":1}",
    "{\"decision\":\"maybe\"}",
    "{\"decision\":\"allow\",\"findings\":[{\"code\":\"NO_SUCH\","
    "\"action\":\"deny\"}]}",
};

/* The side of decision document text (jansson, as replay reads it). */
static int side(const char *text, struct tg_change_side *s)
{
    json_t *v = json_loadb(text, strlen(text), 0, NULL);
    int rc;

    assert_non_null(v);
    rc = tg_change_from_doc(v, s);
    json_decref(v);
    return rc;
}

static void test_documents_read(void **state)
{
    struct tg_change_side s;

    (void)state;
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++)
        if (side(docs[i], &s) != 0)
            fail_msg("case %zu not read: %s", i, docs[i]);
    /* An escaped code reads as its code. */
    assert_int_equal(side("{\"decision\":\"allow\",\"findings\":[{\"code\":"
                          "\"EXPIRY\\u005fPAST\",\"action\":\"d\\u0065ny\"}]}",
                          &s),
                     0);
    assert_string_equal(tg_change_action_name(&s, TG_EXPIRY_PAST), "deny");
}

static void test_not_decisions(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(not_decisions) / sizeof(not_decisions[0]);
         i++) {
        struct tg_change_side s;
        if (side(not_decisions[i], &s) != TG_EINVAL)
            fail_msg("case %zu read: %s", i, not_decisions[i]);
    }
}

static void test_differences(void **state)
{
    struct tg_change_side a, b;
    enum tg_code codes[TG_CODE_COUNT];

    (void)state;
    assert_int_equal(side(docs[1], &a), 0);
    assert_int_equal(a.verdict, TG_DENY);
    assert_string_equal(tg_change_action_name(&a, TG_EXPIRY_TOO_LONG), "deny");
    assert_string_equal(tg_change_action_name(&a, TG_OWNER_UNKNOWN), "warn");
    assert_string_equal(tg_change_action_name(&a, TG_OWNER_MISSING), "off");
    assert_int_equal(side(docs[0], &b), 0);
    assert_true(tg_change_differs(&a, &b));
    assert_int_equal(tg_change_codes(&b, &a, codes), 2);
    assert_int_equal(codes[0], TG_OWNER_UNKNOWN); /* in code order */
    assert_int_equal(codes[1], TG_EXPIRY_TOO_LONG);
    /* The verdict alone. */
    b = a;
    b.verdict = TG_ANNOTATE;
    assert_true(tg_change_differs(&a, &b));
    assert_int_equal(tg_change_codes(&a, &b, codes), 0);
    /* The most severe action of a code seen twice. */
    assert_int_equal(side(docs[2], &a), 0);
    assert_string_equal(tg_change_action_name(&a, TG_SCOPE_WILDCARD), "deny");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_documents_read),
        cmocka_unit_test(test_not_decisions),
        cmocka_unit_test(test_differences),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
