/* test_strbuf.c - the one growable buffer: strings with a maximum, and the
 * raw chunk buffers of check and replay. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/util/strbuf.h"
#include "validators/errors.h"

/* Appends up to max, refuses past it and keeps what it had. */
static void test_putn_max(void **state)
{
    struct tg_strbuf b = TG_STRBUF_INIT(8);
    (void)state;

    assert_int_equal(tg_strbuf_puts(&b, "abcd"), 0);
    assert_int_equal(tg_strbuf_putn(&b, "efgh", 4), 0);
    assert_string_equal(b.p, "abcdefgh");
    assert_int_equal(tg_strbuf_putn(&b, "i", 1), TG_ETOOBIG);
    assert_string_equal(b.p, "abcdefgh");
    assert_int_equal(b.n, 8);
    tg_strbuf_cleanup(&b);
    assert_null(b.p);
    assert_int_equal(b.max, 8);
}

/* From 4 KB, doubling to at least need; past max nothing changes. */
static void test_reserve(void **state)
{
    char *buf = NULL;
    size_t cap = 0;
    (void)state;

    assert_int_equal(tg_strbuf_reserve(&buf, &cap, 10, 1 << 20), 0);
    assert_non_null(buf);
    assert_int_equal(cap, 4096);
    memset(buf, 'x', cap);
    assert_int_equal(tg_strbuf_reserve(&buf, &cap, 4096, 1 << 20), 0);
    assert_int_equal(cap, 4096);
    assert_int_equal(tg_strbuf_reserve(&buf, &cap, 10000, 1 << 20), 0);
    assert_int_equal(cap, 16384);
    assert_int_equal(buf[4095], 'x'); /* kept what it held */
    assert_int_equal(tg_strbuf_reserve(&buf, &cap, (1 << 20) + 1, 1 << 20),
                     TG_ENOMEM);
    assert_int_equal(cap, 16384);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_putn_max),
        cmocka_unit_test(test_reserve),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
