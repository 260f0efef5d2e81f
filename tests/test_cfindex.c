/* test_cfindex.c - the copy-forward index alone (server/store/cfindex.c):
 * which reloads it keeps, and what an empty group costs it. */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
/* cmocka.h needs the three above first */
#include <cmocka.h>

#include "server/store/cfindex.h"

/* Uses at or before this time may be missing (a load that left some
 * out): a count whose window starts there needs a reload. */
#define HORIZON 100

/* A valid, fresh index with a horizon, as after a load of a big store. */
static void index_init(struct tg_cf_index *x)
{
    assert_int_equal(tg_cf_init(x), 0);
    atomic_store(&x->valid, 1);
    x->horizon = HORIZON;
    tg_cf_synced(x, 0, tg_cf_clock());
}

/* Group k's digest: in jd's drop slot (tg_cf_drop_slot) when same, in
 * another otherwise; k in the bits below the slot's, so that the groups
 * spread over the buckets. */
static void digest_near(const unsigned char jd[TG_CF_DIGEST], uint32_t k,
                        int same, unsigned char out[TG_CF_DIGEST])
{
    const uint32_t low = (1u << (32 - TG_CF_DROP_BITS)) - 1;
    uint32_t h;

    assert_true(k <= low);
    memcpy(out, jd, TG_CF_DIGEST);
    memcpy(&h, out, sizeof h); /* the bytes cfindex.c hashes */
    h = (h & ~low) | k;
    if (!same)
        h ^= 0x80000000u;
    memcpy(out, &h, sizeof h);
    out[15] ^= 0x5a; /* never jd itself */
    assert_true((tg_cf_drop_slot(out) == tg_cf_drop_slot(jd)) == !!same);
}

/* Fills x with n groups of one use each (ticket T-fill, times after the
 * horizon), digest_near jd; past TG_CF_GROUPS_MAX each drops one. */
static void fill(struct tg_cf_index *x, const unsigned char jd[TG_CF_DIGEST],
                 uint32_t n, int same)
{
    unsigned char d[TG_CF_DIGEST], td[TG_CF_DIGEST];

    assert_int_equal(tg_cf_digest("T-fill", td), 0);
    for (uint32_t k = 0; k < n; k++) {
        digest_near(jd, k, same, d);
        assert_int_equal(tg_cf_add(x, d, td, HORIZON + 1 + k), 0);
    }
}

/* A count of words for T-x since since; 1 with *n when the index
 * answered, else 0 with *reload and *drops for a reload. */
static int count_since(struct tg_cf_index *x, const char *words,
                       int64_t since, long *n, int *reload, uint32_t *drops)
{
    unsigned char jd[TG_CF_DIGEST];

    tg_cf_synced(x, 0, tg_cf_clock()); /* fresh: a commit just now */
    return tg_cf_count(x, words, "T-x", since, n, jd, reload, drops);
}

/* count_since 0, before the horizon */
static int count(struct tg_cf_index *x, const char *words, long *n,
                 int *reload, uint32_t *drops)
{
    return count_since(x, words, 0, n, reload, drops);
}

/* The uses a reload of "reason" reads: T-a at time 50 (before the
 * horizon, so only a reload can give it). */
static void reload_one(struct tg_cf_index *x, uint32_t drops)
{
    unsigned char jd[TG_CF_DIGEST];
    struct tg_cf_use u;

    assert_int_equal(tg_cf_digest("reason", jd), 0);
    assert_int_equal(tg_cf_digest("T-a", u.td), 0);
    u.last = 50;
    tg_cf_reload(x, jd, &u, 1, drops, 0);
}

/* The drops of every slot so far. */
static uint64_t drops_all(const struct tg_cf_index *x)
{
    uint64_t n = 0;

    for (uint32_t i = 0; i < TG_CF_DROP_SLOTS; i++)
        n += x->drops[i];
    return n;
}

/*
 * A full index drops a group for each new one. A reload is kept when
 * none of its own slot was dropped while it read: the next count of that
 * justification is the index's. With one drop count for the whole index,
 * these other drops threw it away, and the justification was read from
 * the database again, count after count (review of 092df24).
 */
static void test_reload_kept_past_other_drops(void **state)
{
    struct tg_cf_index x;
    unsigned char jd[TG_CF_DIGEST];
    uint32_t drops;
    long n = -1;
    int reload;
    (void)state;

    index_init(&x);
    assert_int_equal(tg_cf_digest("reason", jd), 0);
    assert_int_equal(count(&x, "reason", &n, &reload, &drops), 0);
    assert_true(reload);
    /* while it reads: groups of other slots come and others go */
    fill(&x, jd, TG_CF_GROUPS_MAX + 200, 0);
    assert_int_equal(x.n, TG_CF_GROUPS_MAX);
    assert_int_equal(drops_all(&x), 200);
    assert_int_equal(x.drops[tg_cf_drop_slot(jd)], drops);
    reload_one(&x, drops);
    assert_int_equal(count(&x, "reason", &n, &reload, &drops), 1);
    assert_int_equal(n, 1);
    tg_cf_cleanup(&x);
}

/*
 * The reload the guard is for: a use committed after the read (T-late)
 * went into the group, and the group was dropped before the reload
 * merged, so that the read alone would miss T-late. It is thrown away;
 * the next count reads again and counts both.
 */
static void test_reload_missing_a_use(void **state)
{
    unsigned char jd[TG_CF_DIGEST], td[TG_CF_DIGEST], d[TG_CF_DIGEST];
    struct tg_cf_index x;
    uint32_t drops, k = 0;
    long n = -1;
    int reload, gone = 0;
    (void)state;

    index_init(&x);
    assert_int_equal(tg_cf_digest("reason", jd), 0);
    assert_int_equal(tg_cf_digest("T-late", td), 0);
    fill(&x, jd, TG_CF_GROUPS_MAX, 1);
    assert_int_equal(count(&x, "reason", &n, &reload, &drops), 0);
    assert_true(reload);
    /* after the read: T-late's commit, then new groups of its slot until
     * its group is dropped (a window after the horizon then needs the
     * database: the justification is gone) */
    assert_int_equal(tg_cf_add(&x, jd, td, 1000000), 0);
    while (!gone && k < 500000) {
        long m;
        uint32_t dr;

        digest_near(jd, TG_CF_GROUPS_MAX + k++, 1, d);
        assert_int_equal(tg_cf_add(&x, d, td, 2000000 + k), 0);
        gone = !count_since(&x, "reason", HORIZON + 1, &m, &reload, &dr);
    }
    assert_true(gone);
    reload_one(&x, drops); /* T-a only: thrown away */
    assert_int_equal(count(&x, "reason", &n, &reload, &drops), 0);
    assert_true(reload);
    tg_cf_cleanup(&x);
}

/*
 * A justification never recorded: its reload (no use) leaves an empty
 * group that answers 0 from then on. In a full index it takes one
 * group's place, as any new one; the record after the count adds its use
 * to that group and takes no second place, so a justification new to the
 * index drops one group either way (none with the empty group dropped).
 */
static void test_empty_group_then_record(void **state)
{
    struct tg_cf_index x;
    unsigned char jd[TG_CF_DIGEST], td[TG_CF_DIGEST];
    uint32_t drops;
    uint64_t before;
    long n = -1;
    int reload;
    (void)state;

    index_init(&x);
    assert_int_equal(tg_cf_digest("never", jd), 0);
    assert_int_equal(tg_cf_digest("T-x", td), 0);
    fill(&x, jd, TG_CF_GROUPS_MAX, 0);
    before = drops_all(&x);
    assert_int_equal(before, 0);
    assert_int_equal(count(&x, "never", &n, &reload, &drops), 0);
    assert_true(reload);
    tg_cf_reload(&x, jd, NULL, 0, drops, 0);
    assert_int_equal(count(&x, "never", &n, &reload, &drops), 1);
    assert_int_equal(n, 0);
    assert_int_equal(drops_all(&x), 1);
    /* its record (T-x's own use): into the same group */
    assert_int_equal(tg_cf_add(&x, jd, td, HORIZON + 1), 0);
    assert_int_equal(drops_all(&x), 1);
    assert_int_equal(x.n, TG_CF_GROUPS_MAX);
    assert_int_equal(count(&x, "never", &n, &reload, &drops), 1);
    assert_int_equal(n, 0); /* T-x's own use is not counted */
    tg_cf_cleanup(&x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reload_kept_past_other_drops),
        cmocka_unit_test(test_reload_missing_a_use),
        cmocka_unit_test(test_empty_group_then_record),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
