/* test_number.c - the checked decimal parser (server/util/number.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "server/util/digest.h"
#include "server/util/number.h"
#include "validators/errors.h"

static void test_i64(void **state)
{
    static const struct {
        const char *in;
        int64_t min, max;
        int rc;
        int64_t want;
    } cases[] = {
        {"0", 0, 10, 0, 0},
        {"10", 0, 10, 0, 10},
        {"11", 0, 10, TG_EINVAL, 0},
        {"-1", -5, 5, 0, -1},
        {"-1", 0, 5, TG_EINVAL, 0},
        {"-0", -5, 5, 0, 0},
        {"-", -5, 5, TG_EINVAL, 0},
        {"", 0, 5, TG_EINVAL, 0},
        {"+5", 0, 10, TG_EINVAL, 0},
        {" 5", 0, 10, TG_EINVAL, 0},
        {"5 ", 0, 10, TG_EINVAL, 0},
        {"5abc", 0, 10, TG_EINVAL, 0},
        {"0x5", 0, 10, TG_EINVAL, 0},
        {"9223372036854775807", INT64_MIN, INT64_MAX, 0, INT64_MAX},
        {"9223372036854775808", INT64_MIN, INT64_MAX, TG_EINVAL, 0},
        {"-9223372036854775808", INT64_MIN, INT64_MAX, 0, INT64_MIN},
        {"-9223372036854775809", INT64_MIN, INT64_MAX, TG_EINVAL, 0},
        {"99999999999999999999999", INT64_MIN, INT64_MAX, TG_EINVAL, 0},
        {"4", 5, 10, TG_EINVAL, 0},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t v = 42;
        int rc = tg_number_parse_i64(cases[i].in, strlen(cases[i].in),
                                     cases[i].min, cases[i].max, &v);
        assert_int_equal(rc, cases[i].rc);
        assert_int_equal(v, rc == 0 ? cases[i].want : 42);
    }
}

static void test_u64(void **state)
{
    uint64_t v = 7;
    (void)state;
    assert_int_equal(tg_number_parse_u64("18446744073709551615", 20,
                                         UINT64_MAX, &v), 0);
    assert_true(v == UINT64_MAX);
    assert_int_equal(tg_number_parse_u64("18446744073709551616", 20,
                                         UINT64_MAX, &v), TG_EINVAL);
    /* A NUL inside the span is not a digit (a query's %00). */
    assert_int_equal(tg_number_parse_u64("1\0002", 3, 1000, &v), TG_EINVAL);
}

static void test_hex(void **state)
{
    const unsigned char in[] = {0x00, 0x9f, 0xa0, 0xff};
    char out[9];
    (void)state;
    tg_digest_hex(in, sizeof(in), out);
    assert_string_equal(out, "009fa0ff");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_i64),
        cmocka_unit_test(test_u64),
        cmocka_unit_test(test_hex),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
