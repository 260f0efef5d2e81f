/* test_sidecache.c - recorded sides remembered by their text. */
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
#include "server/core/sidecache.h"
#include "validators/errors.h"

/* A facts document's "recorded" value and what follows it, as replay
 * meets them after `{"recorded":`. */
static const struct {
    const char *value, *after;
} texts[] = {
    {"{\"decision\":\"allow\",\"findings\":[]}",
     ",\"ticket\":{\"scope\":{\"system\":\"payments-db\"}}}"},
    {"{\"decision\":\"deny\",\"findings\":[{\"code\":\"EXPIRY_TOO_LONG\","
     "\"action\":\"deny\"}]}",
     "}"},
    /* braces and quotes inside strings, an exception, blanks */
    {"{ \"decision\" : \"annotate\", \"findings\" : [ {\"code\":"
     "\"OWNER_UNKNOWN\",\"action\":\"warn\",\"exception\":{\"id\":"
     "\"EXC-}1\\\"\",\"until\":\"2027-01-01\"}} ] }",
     ",\"identities\":{}}"},
    /* multi-byte UTF-8 inside, a byte that is no UTF-8 after: jansson
     * counts bytes and reads nothing past the brace */
    {"{\"decision\":\"deny\",\"findings\":[{\"code\":\"SCOPE_WILDCARD\","
     "\"action\":\"deny\",\"exception\":{\"id\":\"caf\xc3\xa9 "
     "\xe2\x82\xac\"}}]}",
     "\xff"},
};

/* Reads value+after as replay does: jansson from the value's start with
 * JSON_DISABLE_EOF_CHECK; *used gets the bytes it read. */
static void read_side(const char *text, struct tg_change_side *s, size_t *used)
{
    json_error_t e;
    json_t *v = json_loadb(text, strlen(text), JSON_DISABLE_EOF_CHECK, &e);

    assert_non_null(v);
    assert_int_equal(tg_change_from_doc(v, s), TG_OK);
    assert_true(e.position > 0);
    *used = (size_t)e.position;
    json_decref(v);
}

static char *joined(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    char *s = malloc(na + nb + 1);

    assert_non_null(s);
    memcpy(s, a, na);
    memcpy(s + na, b, nb + 1);
    return s;
}

/* What replay relies on: jansson reads exactly the value, nothing after
 * it, so a remembered value matches any text that begins with it. */
static void test_jansson_reads_the_value_only(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        char *s = joined(texts[i].value, texts[i].after);
        struct tg_change_side side;
        size_t used;

        read_side(s, &side, &used);
        assert_int_equal(used, strlen(texts[i].value));
        free(s);
    }
}

static void test_match_needs_text_and_side(void **state)
{
    struct tg_sidecache c;
    enum { N = sizeof(texts) / sizeof(texts[0]) };
    struct tg_change_side side[N], other;

    (void)state;
    tg_sidecache_init(&c);
    for (size_t i = 0; i < N; i++) {
        char *s = joined(texts[i].value, texts[i].after);
        size_t used;

        read_side(s, &side[i], &used);
        assert_false(tg_sidecache_match(&c, s, strlen(s), &side[i]));
        assert_int_equal(tg_sidecache_put(&c, s, used, &side[i]), TG_OK);
        assert_true(tg_sidecache_match(&c, s, strlen(s), &side[i]));
        free(s);
    }
    for (size_t i = 0; i < N; i++) {
        const char *v = texts[i].value;
        size_t n = strlen(v);
        char *s = joined(v, "");

        /* another text begins with it: the same value */
        assert_true(tg_sidecache_match(&c, s, n, &side[i]));
        /* the side asked for is another one's: no */
        assert_false(tg_sidecache_match(&c, s, n, &side[(i + 1) % N]));
        /* cut short: no */
        assert_false(tg_sidecache_match(&c, s, n - 1, &side[i]));
        /* one byte changed: no */
        s[n / 2] ^= 1;
        assert_false(tg_sidecache_match(&c, s, n, &side[i]));
        free(s);
    }
    /* the same verdict, the code's action another */
    other = side[1];
    other.act[TG_EXPIRY_TOO_LONG] = 1 + TG_ACTION_WARN;
    assert_false(
        tg_sidecache_match(&c, texts[1].value, strlen(texts[1].value), &other));
    tg_sidecache_cleanup(&c);
    assert_false(tg_sidecache_match(&c, texts[0].value, strlen(texts[0].value),
                                    &side[0]));
}

/* Entries that hold a text. */
static size_t remembered(const struct tg_sidecache *c)
{
    size_t n = 0;

    for (size_t i = 0; i < TG_SIDECACHE_SLOTS; i++)
        n += c->e[i].text != NULL;
    return n;
}

/* Many texts of one side (findings in other orders, exceptions): the
 * newest is remembered, in place of an older one once its slots are
 * full; putting a text again stores it once. Bounded in size. */
static void test_bounded(void **state)
{
    struct tg_sidecache c;
    struct tg_change_side side;
    char text[64], *big;

    (void)state;
    memset(&side, 0, sizeof side);
    side.verdict = TG_DENY;
    tg_sidecache_init(&c);
    assert_int_equal(tg_sidecache_put(&c, "{}", 2, &side), TG_OK);
    assert_int_equal(tg_sidecache_put(&c, "{}", 2, &side), TG_OK);
    assert_int_equal(remembered(&c), 1);
    assert_int_equal(tg_sidecache_put(&c, "{}", 0, &side), TG_OK);
    assert_int_equal(remembered(&c), 1);
    tg_sidecache_cleanup(&c);
    for (int i = 0; i < 20; i++) {
        int n =
            snprintf(text, sizeof text, "{\"decision\":\"deny\",\"n\":%d}", i);
        assert_int_equal(tg_sidecache_put(&c, text, (size_t)n, &side), TG_OK);
        assert_int_equal(tg_sidecache_put(&c, text, (size_t)n, &side), TG_OK);
        assert_true(tg_sidecache_match(&c, text, (size_t)n, &side));
    }
    assert_true(remembered(&c) >= 1 && remembered(&c) <= 4);
    tg_sidecache_cleanup(&c);

    big = malloc(TG_SIDECACHE_TEXT + 2);
    assert_non_null(big);
    memset(big, ' ', TG_SIDECACHE_TEXT + 1);
    big[0] = '{';
    big[TG_SIDECACHE_TEXT] = '}';
    big[TG_SIDECACHE_TEXT + 1] = '\0';
    assert_int_equal(tg_sidecache_put(&c, big, TG_SIDECACHE_TEXT + 1, &side),
                     TG_OK);
    assert_false(tg_sidecache_match(&c, big, TG_SIDECACHE_TEXT + 1, &side));
    assert_int_equal(remembered(&c), 0);
    /* exactly TG_SIDECACHE_TEXT bytes: remembered */
    big[TG_SIDECACHE_TEXT - 1] = '}';
    assert_int_equal(tg_sidecache_put(&c, big, TG_SIDECACHE_TEXT, &side),
                     TG_OK);
    assert_true(tg_sidecache_match(&c, big, TG_SIDECACHE_TEXT + 1, &side));
    free(big);
    tg_sidecache_cleanup(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jansson_reads_the_value_only),
        cmocka_unit_test(test_match_needs_text_and_side),
        cmocka_unit_test(test_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
