/* test_jprint.c - tg_jprint writes what json_dumpb(JSON_COMPACT) writes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "server/util/jprint.h"

/* Both printers on v, into buffers of cap bytes: the same length, and the
 * same bytes whenever they fit. */
static void same_as_jansson_cap(const json_t *v, size_t cap)
{
    char *a = malloc(cap + 1), *b = malloc(cap + 1);
    size_t na, nb;

    assert_non_null(a);
    assert_non_null(b);
    na = json_dumpb(v, a, cap, JSON_COMPACT);
    nb = tg_jprint(v, b, cap);
    assert_int_equal(nb, na);
    if (na > 0 && na <= cap)
        assert_memory_equal(b, a, na);
    free(a);
    free(b);
}

static void same_as_jansson(const json_t *v)
{
    same_as_jansson_cap(v, 65536);
}

static json_t *parse(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, JSON_ALLOW_NUL, &e);

    if (!v)
        fail_msg("%s: %s", text, e.text);
    return v;
}

static void test_documents(void **state)
{
    static const char *const docs[] = {
        "{}", "[]", "[[],{},[{}]]", "{\"a\":{\"b\":{\"c\":[1,2,3]}}}",
        "{\"decision\":\"deny\",\"findings\":[{\"code\":\"X\",\"action\":"
        "\"deny\"}],\"n\":-42,\"t\":true,\"f\":false,\"z\":null}",
        "[0,-1,9223372036854775807,-9223372036854775808,10,100,1234567890]",
        "[0.5,1e300,-0.0,3.0,1.5e-7,123456789.125,2.5e+20]",
        "{\"q\\\"uo\\\\te\":\"a\\\"b\\\\c/d\"}",
        "[\"\\b\\f\\n\\r\\t\\u0001\\u001f\\u007f\\u0000x\"]",
        "[\"caf\\u00e9 \\u20ac \\ud83d\\ude00 \\u0800 \\uffff\"]",
        "{\"b\":1,\"a\":2,\"c\":{\"z\":1,\"y\":2}}",
        "[\"\",\"a\",\" \"]",
    };

    json_t *nul = json_object();

    (void)state;
    /* a member name holding NUL (json_object_setn): \u0000 in its text */
    json_object_setn_new(nul, "a\0b\n", 4, json_stringn("\0", 1));
    same_as_jansson(nul);
    json_decref(nul);
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        json_t *v = parse(docs[i]);

        same_as_jansson(v);
        json_decref(v);
    }
}

/* Every single byte, and every pair of bytes, as a string: escapes, the
 * ASCII run, and each lead or stray byte UTF-8 refuses. */
static void test_bytes(void **state)
{
    char s[2];

    (void)state;
    for (int c = 0; c < 256; c++) {
        json_t *v = json_pack("[o]", json_stringn_nocheck((char[]){(char)c}, 1));

        same_as_jansson(v);
        json_decref(v);
        for (int d = 0; d < 256; d++) {
            s[0] = (char)c;
            s[1] = (char)d;
            v = json_pack("{so}", "k", json_stringn_nocheck(s, 2));
            same_as_jansson(v);
            json_decref(v);
        }
    }
}

/* UTF-8 forms: valid ones of every length, overlong forms, surrogates,
 * past U+10FFFF, cut short; in values and in keys. */
static void test_utf8(void **state)
{
    static const char *const forms[] = {
        "\xc2\x80", "\xdf\xbf", "\xe0\xa0\x80", "\xef\xbf\xbf",
        "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf", "\xc0\x80", "\xc1\xbf",
        "\xe0\x80\x80", "\xe0\x9f\xbf", "\xed\xa0\x80", "\xed\xbf\xbf",
        "\xf0\x80\x80\x80", "\xf0\x8f\xbf\xbf", "\xf4\x90\x80\x80",
        "\xf5\x80\x80\x80", "\xe2\x82", "\xf0\x9f\x98", "\x80", "\xbf",
        "a\xe2\x82\xac\"b", "\xff", "\xfe",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        json_t *v = json_array(), *o = json_object();

        json_array_append_new(v, json_string_nocheck(forms[i]));
        same_as_jansson(v);
        json_object_set_new_nocheck(o, forms[i], json_true());
        if (json_dumpb(v, NULL, 0, JSON_COMPACT) > 0) {
            same_as_jansson(o);
        } else {
            /* jansson writes `{":true}` for a bad member name (it ignores
             * the key's error): refused here instead */
            char buf[64];

            assert_int_equal(tg_jprint(o, buf, sizeof(buf)), 0);
        }
        json_decref(v);
        json_decref(o);
    }
}

/* Random documents of random strings: the same text at every size of
 * buffer around the exact length (json_dumpb's length when it does not
 * fit). */
static void test_random(void **state)
{
    unsigned seed = 12345;

    (void)state;
    for (int round = 0; round < 300; round++) {
        json_t *v = json_object(), *a = json_array();
        char s[24], k[8];

        for (int m = 0; m < 8; m++) {
            size_t n = (seed = seed * 1103515245u + 12345u) >> 16 & 15;

            for (size_t i = 0; i < n; i++)
                s[i] = (char)((seed = seed * 1103515245u + 12345u) >> 16 &
                              (round % 2 ? 0x7f : 0xff));
            snprintf(k, sizeof(k), "k%d", m);
            json_object_set_new_nocheck(v, k, json_stringn_nocheck(s, n));
            json_array_append_new(a, json_integer((json_int_t)seed - 40000));
        }
        json_object_set_new_nocheck(v, "a", a);
        same_as_jansson(v);
        {
            char *text = json_dumps(v, JSON_COMPACT);
            size_t len = text ? strlen(text) : 0;

            for (size_t cap = len > 3 ? len - 3 : 0; text && cap < len + 3;
                 cap++)
                same_as_jansson_cap(v, cap);
            free(text);
        }
        json_decref(v);
    }
}

/* What jansson refuses, refused: no value, no container, a cycle; a
 * document deeper than the printer's own walk printed all the same. */
static void test_refusals_and_depth(void **state)
{
    char buf[64];
    json_t *s = json_string("x"), *a = json_array(), *b = json_array();
    json_t *deep = json_object(), *cur = deep;

    (void)state;
    assert_int_equal(tg_jprint(NULL, buf, sizeof(buf)), 0);
    assert_int_equal(tg_jprint(s, buf, sizeof(buf)), 0);
    json_array_append(a, b);
    json_array_append(b, a); /* a contains itself */
    assert_int_equal(json_dumpb(a, buf, sizeof(buf), JSON_COMPACT), 0);
    assert_int_equal(tg_jprint(a, buf, sizeof(buf)), 0);
    json_array_clear(b);
    for (int i = 0; i < 200; i++) {
        json_t *next = json_object();

        json_object_set_new(cur, "d", next);
        cur = next;
    }
    same_as_jansson(deep);
    json_decref(deep);
    json_decref(a);
    json_decref(b);
    json_decref(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_documents),
        cmocka_unit_test(test_bytes),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_random),
        cmocka_unit_test(test_refusals_and_depth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
