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

/* Decision documents: the scan reads them as the parse does. */
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

/* Not readable by the scan (the parse decides, or refuses). */
static const char *const unscannable[] = {
    "",
    "[]",
    "{\"findings\":[]}",
    "{\"decision\":\"maybe\"}",
    "{\"decision\":\"allow\",\"findings\":[{\"code\":\"NO_SUCH\","
    "\"action\":\"deny\"}]}",
    "{\"decision\":\"allow\",\"findings\":[{\"code\":\"EXPIRY\\u005fPAST\","
    "\"action\":\"deny\"}]}",
    "{\"decision\":\"allow\"} extra",
    "{\"decision\":\"allow\",\"message\":\"open}",
};

static void test_scan_equals_parse(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        struct tg_change_side a, b;
        json_t *v = json_loads(docs[i], 0, NULL);
        assert_non_null(v);
        assert_int_equal(tg_change_from_doc(v, &a), 0);
        if (tg_change_from_text(docs[i], strlen(docs[i]), &b) != 0)
            fail_msg("case %zu not scanned", i);
        assert_false(tg_change_differs(&a, &b));
        json_decref(v);
    }
}

static void test_unscannable(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(unscannable) / sizeof(unscannable[0]);
         i++) {
        struct tg_change_side s;
        if (tg_change_from_text(unscannable[i], strlen(unscannable[i]), &s) !=
            TG_EINVAL)
            fail_msg("case %zu scanned: %s", i, unscannable[i]);
    }
}

static void test_differences(void **state)
{
    struct tg_change_side a, b;
    enum tg_code codes[TG_CODE_COUNT];

    (void)state;
    assert_int_equal(tg_change_from_text(docs[1], strlen(docs[1]), &a), 0);
    assert_int_equal(a.verdict, TG_DENY);
    assert_string_equal(tg_change_action_name(&a, TG_EXPIRY_TOO_LONG), "deny");
    assert_string_equal(tg_change_action_name(&a, TG_OWNER_UNKNOWN), "warn");
    assert_string_equal(tg_change_action_name(&a, TG_OWNER_MISSING), "off");
    assert_int_equal(tg_change_from_text(docs[0], strlen(docs[0]), &b), 0);
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
    assert_int_equal(tg_change_from_text(docs[2], strlen(docs[2]), &a), 0);
    assert_string_equal(tg_change_action_name(&a, TG_SCOPE_WILDCARD), "deny");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scan_equals_parse),
        cmocka_unit_test(test_unscannable),
        cmocka_unit_test(test_differences),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
