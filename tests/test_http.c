/* test_http.c - the HTTP layer's checks of a body before it is parsed. */
/* deps: http jarena jwtauth evidence metrics log canonical decision justnorm jira servicenow webhook_auth strbuf userid glob cfgref config tlsshim lint digest jsonfield */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "http.h"

static void test_too_deep(void **state)
{
    static const struct {
        const char *body;
        int max;
        int want;
    } cases[] = {
        {"{}", 1, 0},
        {"{\"a\":{}}", 1, 1},
        {"{\"a\":{}}", 2, 0},
        {"[[[]]]", 2, 1},
        {"[[[]]]", 3, 0},
        /* Closing brackets give depth back. */
        {"[[]][[]][[]]", 2, 0},
        /* Brackets inside strings do not count. */
        {"{\"a\":\"[[[[{{{{\"}", 1, 0},
        /* An escaped quote does not end a string ... */
        {"{\"a\":\"x\\\"[[[[\"}", 1, 0},
        /* ... but a quote after an escaped backslash does. */
        {"{\"a\":\"x\\\\\",\"b\":[[]]}", 2, 1},
        {"{\"a\":\"x\\\\\\\"[[[\"}", 1, 0},
        {"{\"\\\\\":[1]}", 1, 1},
        /* An unterminated string hides the rest; the parser reports it. */
        {"{\"a\":\"[[[[", 1, 0},
        {"", 1, 0},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int got = tg_http_too_deep(cases[i].body, strlen(cases[i].body),
                                   cases[i].max);
        if (got != cases[i].want)
            fail_msg("case %zu (%s, max %d): got %d", i, cases[i].body,
                     cases[i].max, got);
    }
}

/* Bodies with more opening brackets than the limit, so that the count of
 * brackets alone cannot settle them: the scan must follow the nesting. */
static void test_too_deep_many_brackets(void **state)
{
    char body[512];
    size_t n = 0;

    (void)state;
    /* 40 siblings of depth 2: 81 openings, depth 2. */
    body[n++] = '[';
    for (int i = 0; i < 40; i++) {
        memcpy(body + n, i ? ",[1]" : "[1]", i ? 4 : 3);
        n += i ? 4 : 3;
    }
    body[n++] = ']';
    assert_int_equal(tg_http_too_deep(body, n, 2), 0);
    assert_int_equal(tg_http_too_deep(body, n, 1), 1);
    /* 70 opening brackets inside a string, one object: depth 1. */
    n = 0;
    memcpy(body + n, "{\"a\":\"", 6);
    n += 6;
    memset(body + n, '[', 70);
    n += 70;
    memcpy(body + n, "\"}", 2);
    n += 2;
    assert_int_equal(tg_http_too_deep(body, n, 1), 0);
    assert_int_equal(tg_http_too_deep(body, n, 0), 1);
}

/* The length bounds the scan: bytes past it are not read. */
static void test_too_deep_length(void **state)
{
    const char body[] = "[[[[[[";

    (void)state;
    assert_int_equal(tg_http_too_deep(body, 2, 2), 0);
    assert_int_equal(tg_http_too_deep(body, 3, 2), 1);
}

static void test_json_type(void **state)
{
    static const struct {
        const char *v;
        int want;
    } cases[] = {
        {"application/json", 1},
        {"Application/JSON", 1},
        {"application/json; charset=utf-8", 1},
        {"  application/json  ", 1},
        {"application/jsonx", 0},
        {"text/plain", 0},
        {"", 0},
    };

    (void)state;
    assert_int_equal(tg_http_is_json_type(NULL), 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (tg_http_is_json_type(cases[i].v) != cases[i].want)
            fail_msg("case %zu (%s)", i, cases[i].v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_too_deep),
        cmocka_unit_test(test_too_deep_many_brackets),
        cmocka_unit_test(test_too_deep_length),
        cmocka_unit_test(test_json_type),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
