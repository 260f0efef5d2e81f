/* test_ordpool.c - slots done by worker threads, retired in the order queued. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>

#include "server/util/ordpool.h"
#include "validators/errors.h"

#define N_SLOTS 8
#define N_ITEMS 2000
#define ARENA 65536

/* One slot: the item it holds and what a worker made of it. */
struct slot {
    long item;
    long result;
    size_t seq;
    int in_arena; /* the worker's JSON came from its arena */
};

struct ctx {
    struct slot slots[N_SLOTS];
};

/* Slow for some items, so that later slots finish before earlier ones. */
static void run(void *c, size_t slot, size_t seq, struct tg_jarena *arena,
                char *abuf)
{
    struct ctx *x = c;
    struct slot *s = &x->slots[slot];
    json_t *v;

    if (abuf)
        tg_jarena_begin(arena, abuf, ARENA);
    v = json_integer(s->item * 3);
    s->in_arena = abuf && tg_jarena_active();
    s->result = (long)json_integer_value(v) + 1;
    s->seq = seq;
    json_decref(v);
    if (s->item % 7 == 0) {
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
    }
    if (abuf)
        tg_jarena_end(arena);
}

/* Retires the oldest slot: its item must be the next one in queue order. */
static void retire(struct tg_ordpool *p, struct ctx *x, long *want)
{
    struct slot *s = &x->slots[tg_ordpool_oldest(p)];

    assert_int_equal(s->item, *want);
    assert_int_equal(s->result, *want * 3 + 1);
    assert_int_equal(s->seq, (size_t)*want);
    assert_true(s->in_arena);
    (*want)++;
    tg_ordpool_pop(p);
}

static void run_items(int threads)
{
    struct tg_ordpool p;
    struct ctx x;
    long want = 0;

    memset(&x, 0, sizeof x);
    assert_int_equal(
        tg_ordpool_start(&p, N_SLOTS, threads, ARENA, run, &x), TG_OK);
    for (long i = 0; i < N_ITEMS; i++) {
        if (tg_ordpool_in_flight(&p) == N_SLOTS)
            retire(&p, &x, &want);
        x.slots[tg_ordpool_next(&p)].item = i;
        assert_int_equal(tg_ordpool_queue(&p), (size_t)i);
    }
    while (tg_ordpool_in_flight(&p))
        retire(&p, &x, &want);
    assert_int_equal(want, N_ITEMS);
    tg_ordpool_stop(&p);
}

/* Items come back in queue order, each done once, with one worker and
 * with more workers than cores (slots finishing out of order). */
static void test_in_order(void **state)
{
    (void)state;
    run_items(1);
    run_items(4);
}

/* A pool stopped with nothing queued, or one that could not start,
 * stops cleanly. */
static void test_stop_idle(void **state)
{
    struct tg_ordpool p;
    struct ctx x;
    (void)state;

    assert_int_equal(tg_ordpool_start(&p, N_SLOTS, 2, ARENA, run, &x),
                     TG_OK);
    assert_int_equal(tg_ordpool_in_flight(&p), 0);
    tg_ordpool_stop(&p);
    assert_int_equal(tg_ordpool_start(&p, 0, 2, ARENA, run, &x), TG_ENOMEM);
    tg_ordpool_stop(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_order),
        cmocka_unit_test(test_stop_idle),
    };

    tg_jarena_install();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
