/* test_clock.c - the server's wall clock and the offset a test injects. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <cmocka.h>

#include "server/util/clock.h"
#include "validators/errors.h"

static int64_t real_s(void)
{
    return (int64_t)time(NULL);
}

/* No variable: the system's time. */
static void test_no_offset(void **state)
{
    (void)state;
    assert_int_equal(unsetenv("TG_CLOCK_OFFSET_S"), 0);
    assert_int_equal(tg_clock_init_from_env(), 0);
    assert_int_equal(tg_clock_offset_s(), 0);
    assert_true(llabs(tg_clock_wall_s() - real_s()) <= 1);
    assert_true(llabs(tg_clock_wall_ms() / 1000 - tg_clock_wall_s()) <= 1);
}

/* Ahead and behind by whole seconds. */
static void test_offsets(void **state)
{
    (void)state;
    assert_int_equal(setenv("TG_CLOCK_OFFSET_S", "86400", 1), 0);
    assert_int_equal(tg_clock_init_from_env(), 0);
    assert_int_equal(tg_clock_offset_s(), 86400);
    assert_true(llabs(tg_clock_wall_s() - (real_s() + 86400)) <= 1);
    assert_int_equal(setenv("TG_CLOCK_OFFSET_S", "-30", 1), 0);
    assert_int_equal(tg_clock_init_from_env(), 0);
    assert_true(llabs(tg_clock_wall_s() - (real_s() - 30)) <= 1);
}

/* Anything but a whole number within a hundred years is refused and leaves
 * the offset as it was. */
static void test_refused(void **state)
{
    static const char *const bad[] = {"", "4s", " 4", "+4", "1.5", "0x10",
                                      "99999999999", "-99999999999"};
    (void)state;
    assert_int_equal(setenv("TG_CLOCK_OFFSET_S", "7", 1), 0);
    assert_int_equal(tg_clock_init_from_env(), 0);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(setenv("TG_CLOCK_OFFSET_S", bad[i], 1), 0);
        assert_int_equal(tg_clock_init_from_env(), TG_EINVAL);
        assert_int_equal(tg_clock_offset_s(), 7);
    }
    assert_int_equal(unsetenv("TG_CLOCK_OFFSET_S"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_offset),
        cmocka_unit_test(test_offsets),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
