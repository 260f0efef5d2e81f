/* test_fastjson.c - the quick reader makes what json_loadb makes, or nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "server/util/fastjson.h"
#include "tests/support/tg_test.h"

/* Texts it reads: the same values as json_loadb. */
static const char *const same[] = {
    "{}",
    "[]",
    "{\"a\":1,\"b\":[true,false,null],\"c\":{\"d\":\"e\"}}",
    " { \"a\" : -42 , \"b\" : [ 0 , 9223372036854775807 ] } ",
    "[-9223372036854775808]",
    "\"plain\"",
    "{\"esc\":\"q\\\"b\\\\s\\/n\\nr\\rt\\tb\\bf\\f\"}",
    "{\"u\":\"\\u00e9\\u20ac\\ud83d\\ude00\"}",
    "{\"utf8\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}",
    "{\"dup\":1,\"dup\":2}",
    "{\"k\\u0041\":\"v\"} trailing bytes are not read",
    "[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]",
};

/* Texts it leaves to jansson: NULL, whatever jansson then says. */
static const char *const refused[] = {
    "",
    "{",
    "{\"a\":1,}",
    "[1 2]",
    "1.5",
    "[1e3]",
    "[01]",
    "[92233720368547758070]",
    "[-9223372036854775809]",
    "\"\\u0000\"",
    "\"\\udc00\"",
    "\"\\ud800x\"",
    "\"bad \xc0\xaf\"",
    "\"surrogate \xed\xa0\x80\"",
    "\"ctl \x01\"",
    "\"\\x\"",
    "{\"a\" 1}",
    "tru",
    "nul",
    "\"open",
};

static void test_same_values(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
        json_t *a = json_loadb(same[i], strlen(same[i]),
                               JSON_DISABLE_EOF_CHECK | JSON_DECODE_ANY,
                               NULL);
        json_t *b = tg_fastjson_load(same[i], strlen(same[i]));
        if (!a || !b || !json_equal(a, b))
            fail_msg("case %zu: %s", i, same[i]);
        json_decref(a);
        json_decref(b);
    }
}

static void test_refused(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        json_t *b = tg_fastjson_load(refused[i], strlen(refused[i]));
        if (b)
            fail_msg("case %zu read: %s", i, refused[i]);
    }
    assert_null(tg_fastjson_load(NULL, 0));
}

/* Deeper than 64: left to jansson. */
static void test_depth(void **state)
{
    char buf[300];
    size_t n = 0;

    (void)state;
    for (int i = 0; i < 100; i++)
        buf[n++] = '[';
    for (int i = 0; i < 100; i++)
        buf[n++] = ']';
    assert_null(tg_fastjson_load(buf, n));
}

/* The example ticket, as the store keeps it. */
static void test_example_ticket(void **state)
{
    char *text = tg_test_read_file(
        TG_SOURCE_DIR "/example/payloads/canonical-ticket.json", NULL);
    json_t *a, *b;

    (void)state;
    assert_non_null(text);
    a = json_loads(text, 0, NULL);
    b = tg_fastjson_load(text, strlen(text));
    assert_non_null(a);
    assert_non_null(b);
    assert_true(json_equal(a, b));
    json_decref(a);
    json_decref(b);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_values),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_example_ticket),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
