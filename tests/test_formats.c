/* test_formats.c - the digit-by-digit time and decision id formats. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "server/core/decision.h"
#include "validators/errors.h"
#include "validators/timeparse.h"

/* Every formatted time reads back as itself (the parser checks each
 * field's digits and range on its own), across the whole range, and the
 * text has the fixed RFC 3339 shape. */
static void test_time_format_round_trip(void **state)
{
    char buf[32];
    (void)state;
    for (int64_t t = 0; t <= 253402300799LL; t += 2718281 + t / 977) {
        int64_t back = -1;
        assert_int_equal(tg_time_format(t, buf, sizeof(buf)), TG_OK);
        assert_int_equal(strlen(buf), 20);
        assert_int_equal(buf[4], '-');
        assert_int_equal(buf[10], 'T');
        assert_int_equal(buf[19], 'Z');
        assert_int_equal(tg_time_parse(buf, strlen(buf), &back), TG_OK);
        assert_int_equal(back, t);
    }
}

static void test_time_format_fixed(void **state)
{
    static const struct {
        int64_t t;
        const char *want;
    } rows[] = {
        {0, "1970-01-01T00:00:00Z"},
        {951782400, "2000-02-29T00:00:00Z"},
        {1796083199, "2026-11-30T23:59:59Z"},
        {1798761599, "2026-12-31T23:59:59Z"},
        {4107542400, "2100-03-01T00:00:00Z"},
        {253402300799LL, "9999-12-31T23:59:59Z"},
    };
    char buf[21];
    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        assert_int_equal(tg_time_format(rows[i].t, buf, sizeof(buf)), TG_OK);
        assert_string_equal(buf, rows[i].want);
    }
    /* Out of range, or no room for the text and its NUL. */
    assert_int_equal(tg_time_format(-1, buf, sizeof(buf)), TG_EINVAL);
    assert_int_equal(tg_time_format(253402300800LL, buf, sizeof(buf)),
                     TG_EINVAL);
    assert_int_equal(tg_time_format(0, buf, 20), TG_EINVAL);
}

/* The id is what snprintf("d-%012llu-%02x%02x%02x") made, including the
 * counter taken modulo 10^12 and a buffer too short for it (cut, still
 * NUL-terminated). */
static void test_decision_id_format(void **state)
{
    static const uint64_t seqs[] = {0, 1, 42, 999999999999ULL,
                                    1000000000000ULL, 1234567890123ULL,
                                    UINT64_MAX};
    static const unsigned char rnds[][3] = {
        {0, 0, 0}, {0x6f, 0x1c, 0x2a}, {0xff, 0x0a, 0xa0}};
    (void)state;
    for (size_t i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++) {
        for (size_t j = 0; j < sizeof(rnds) / sizeof(rnds[0]); j++) {
            char want[32], got[32];
            const unsigned char *r = rnds[j];
            snprintf(want, sizeof(want), "d-%012llu-%02x%02x%02x",
                     (unsigned long long)(seqs[i] % 1000000000000ULL), r[0],
                     r[1], r[2]);
            for (size_t cap = 1; cap <= sizeof(got); cap++) {
                memset(got, '#', sizeof(got));
                tg_decision_id_format(got, cap, seqs[i], r);
                assert_int_equal(strlen(got), cap - 1 < 21 ? cap - 1 : 21);
                assert_memory_equal(got, want, strlen(got));
                if (cap < sizeof(got))
                    assert_int_equal(got[cap], '#'); /* nothing past cap */
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time_format_round_trip),
        cmocka_unit_test(test_time_format_fixed),
        cmocka_unit_test(test_decision_id_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
