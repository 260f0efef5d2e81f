/* test_jarena_guard.c - whether a thread is inside an arena (jarena.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "server/util/jarena.h"

static _Alignas(16) char buf[4096];

static void test_active_between_begin_and_end(void **state)
{
    struct tg_jarena a, b;

    (void)state;
    assert_false(tg_jarena_active());
    tg_jarena_assert_outside(); /* returns outside any arena */
    tg_jarena_begin(&a, buf, 2048);
    assert_true(tg_jarena_active());
    tg_jarena_begin(&b, buf + 2048, 2048);
    assert_true(tg_jarena_active());
    tg_jarena_end(&b);
    assert_true(tg_jarena_active());
    tg_jarena_end(&a);
    assert_false(tg_jarena_active());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_active_between_begin_and_end),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
