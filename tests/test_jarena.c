/* test_jarena.c - jansson values cut from a request's arena. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <pthread.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "server/util/jarena.h"

static _Alignas(16) char buf[16384];

static int inside(const void *p, const void *base, size_t cap)
{
    return (uintptr_t)p >= (uintptr_t)base &&
           (uintptr_t)p < (uintptr_t)base + cap;
}

static void test_values_come_from_the_arena(void **state)
{
    struct tg_jarena a;
    json_t *v;

    (void)state;
    tg_jarena_begin(&a, buf, sizeof(buf));
    v = json_loads("{\"key\":\"ACC-1\",\"scope\":[\"a\",\"b\"]}", 0, NULL);
    assert_non_null(v);
    assert_true(inside(v, buf, sizeof(buf)));
    assert_true(inside(json_object_get(v, "scope"), buf, sizeof(buf)));
    assert_true(a.used > 0 && a.used <= a.cap);
    assert_int_equal((uintptr_t)json_object_get(v, "scope") % 16, 0);
    json_decref(v);
    tg_jarena_end(&a);

    /* Outside the arena, values come from the heap again. */
    v = json_string("x");
    assert_false(inside(v, buf, sizeof(buf)));
    json_decref(v);
}

/* A full arena hands over to malloc; those values are freed as usual
 * (ASan and valgrind see a leak or a bad free otherwise). */
static void test_full_arena_falls_back(void **state)
{
    static _Alignas(16) char small[256];
    struct tg_jarena a;
    json_t *arr;
    size_t in = 0, out = 0;

    (void)state;
    tg_jarena_begin(&a, small, sizeof(small));
    arr = json_array();
    for (int i = 0; i < 100; i++)
        assert_int_equal(json_array_append_new(arr, json_integer(i)), 0);
    for (size_t i = 0; i < json_array_size(arr); i++) {
        if (inside(json_array_get(arr, i), small, sizeof(small)))
            in++;
        else
            out++;
    }
    assert_true(in > 0);
    assert_true(out > 0);
    assert_true(a.used <= a.cap);
    /* values went to malloc: they may not be dropped with the arena */
    assert_false(tg_jarena_whole(&a));
    json_decref(arr);
    tg_jarena_end(&a);
}

/* A document parsed whole into the arena may be dropped with the arena
 * unreleased (replay does so with its tickets); once one value did not
 * fit, nothing may be. */
static void test_whole(void **state)
{
    static _Alignas(16) char small[512];
    static const char doc[] = "{\"a\":\"x\",\"b\":[1,2]}";
    struct tg_jarena a;
    json_t *v;
    size_t mark;

    (void)state;
    tg_jarena_begin(&a, buf, sizeof(buf));
    mark = tg_jarena_mark(&a);
    v = json_loadb(doc, sizeof(doc) - 1, 0, NULL);
    assert_non_null(v);
    assert_true(tg_jarena_whole(&a));
    tg_jarena_rewind(&a, mark); /* dropped, not released */
    tg_jarena_end(&a);

    tg_jarena_begin(&a, small, sizeof(small));
    v = json_array();
    for (int i = 0; i < 64; i++)
        json_array_append_new(v, json_integer(i));
    assert_false(tg_jarena_whole(&a));
    json_decref(v);
    tg_jarena_end(&a);
    /* a new arena starts whole again */
    tg_jarena_begin(&a, buf, sizeof(buf));
    assert_true(tg_jarena_whole(&a));
    tg_jarena_end(&a);
}

/* A value made before the arena began is freed with free() inside it. */
static void test_heap_values_released_inside(void **state)
{
    struct tg_jarena a;
    json_t *before = json_pack("{s:s}", "ticket", "ACC-2");

    (void)state;
    assert_false(inside(before, buf, sizeof(buf)));
    tg_jarena_begin(&a, buf, sizeof(buf));
    json_decref(before);
    tg_jarena_end(&a);
}

static void test_rewind_reuses_space(void **state)
{
    struct tg_jarena a;
    size_t mark;
    json_t *v, *w;

    (void)state;
    tg_jarena_begin(&a, buf, sizeof(buf));
    mark = tg_jarena_mark(&a);
    v = json_string("first ticket's decision");
    json_decref(v);
    assert_true(a.used > mark);
    tg_jarena_rewind(&a, mark);
    assert_int_equal(a.used, mark);
    w = json_string("second ticket's decision");
    assert_ptr_equal(v, w);
    json_decref(w);
    tg_jarena_end(&a);
}

/* Freeing an outer arena's value inside an inner one must not reach
 * free(). */
static void test_nested(void **state)
{
    static _Alignas(16) char inner_buf[1024];
    struct tg_jarena outer, inner;
    json_t *v, *w;

    (void)state;
    tg_jarena_begin(&outer, buf, sizeof(buf));
    v = json_string("outer");
    tg_jarena_begin(&inner, inner_buf, sizeof(inner_buf));
    w = json_string("inner");
    assert_true(inside(w, inner_buf, sizeof(inner_buf)));
    json_decref(v);
    json_decref(w);
    tg_jarena_end(&inner);
    w = json_string("outer again");
    assert_true(inside(w, buf, sizeof(buf)));
    json_decref(w);
    tg_jarena_end(&outer);
}

static void *other_thread(void *arg)
{
    json_t *v = json_string("elsewhere");
    int in = inside(v, buf, sizeof(buf));

    (void)arg;
    json_decref(v);
    return (void *)(intptr_t)in;
}

/* An arena belongs to the thread that began it. */
static void test_other_threads_use_the_heap(void **state)
{
    struct tg_jarena a;
    pthread_t t;
    void *in = NULL;

    (void)state;
    tg_jarena_begin(&a, buf, sizeof(buf));
    assert_int_equal(pthread_create(&t, NULL, other_thread, NULL), 0);
    assert_int_equal(pthread_join(t, &in), 0);
    assert_int_equal((intptr_t)in, 0);
    tg_jarena_end(&a);
}

/* tg_jarena_tail: cut from the end, aligned, never where jansson's values
 * are; NULL when it does not fit; the whole buffer is the arena's again at
 * the next begin. */
static void test_tail_cut_from_the_end(void **state)
{
    struct tg_jarena a;
    char *t1, *t2;
    json_t *v;

    (void)state;
    tg_jarena_begin(&a, buf, sizeof(buf));
    t1 = tg_jarena_tail(&a, 1000);
    assert_non_null(t1);
    assert_true(t1 + 1000 <= buf + sizeof(buf));
    assert_true(t1 >= buf + sizeof(buf) - 1024);
    assert_int_equal((uintptr_t)t1 % 16, 0);
    memset(t1, 'x', 1000);
    v = json_loads("{\"key\":\"ACC-1\",\"scope\":[\"a\",\"b\"]}", 0, NULL);
    assert_non_null(v);
    assert_true(inside(v, buf, sizeof(buf)));
    assert_true((char *)v < t1);
    t2 = tg_jarena_tail(&a, 5);
    assert_non_null(t2);
    assert_true(t2 + 16 <= t1);
    assert_null(tg_jarena_tail(&a, sizeof(buf)));
    assert_int_equal(t1[999], 'x'); /* jansson did not write there */
    json_decref(v);
    tg_jarena_end(&a);
    tg_jarena_begin(&a, buf, sizeof(buf));
    assert_int_equal(a.cap, sizeof(buf));
    assert_int_equal(a.tail, 0);
    tg_jarena_end(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tail_cut_from_the_end),
        cmocka_unit_test(test_values_come_from_the_arena),
        cmocka_unit_test(test_full_arena_falls_back),
        cmocka_unit_test(test_whole),
        cmocka_unit_test(test_heap_values_released_inside),
        cmocka_unit_test(test_rewind_reuses_space),
        cmocka_unit_test(test_nested),
        cmocka_unit_test(test_other_threads_use_the_heap),
    };

    tg_jarena_install();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
