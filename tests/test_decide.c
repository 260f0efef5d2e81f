/* test_decide.c - the one decision pipeline (server/core/decide.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "server/core/decide.h"
#include "validators/errors.h"

static struct tg_config cfg;

static int calls;

static int cf_fails(void *ctx, const struct tg_ticket *t, long *uses)
{
    (void)ctx;
    (void)t;
    calls++;
    *uses = -1;
    return TG_EIO;
}

static int id_fixed(void *ctx, const struct tg_ticket *t, uint64_t *seq,
                    unsigned char rnd[3])
{
    (void)t;
    calls++;
    *seq = *(const uint64_t *)ctx;
    rnd[0] = 0xab;
    rnd[1] = 0xcd;
    rnd[2] = 0xef;
    return 0;
}

static int setup(void **state)
{
    (void)state;
    memset(&cfg, 0, sizeof(cfg));
    memcpy(cfg.digest, "sha256:test", sizeof("sha256:test"));
    calls = 0;
    return 0;
}

/* Outside every gate: skip, no ticket needed, nothing evaluated, and the
 * id comes from the hook. */
static void test_ungated_is_skip(void **state)
{
    uint64_t seq = 7;
    const struct tg_decide d = {.cfg = &cfg,
                                .now = 1700000000,
                                .gated = 0,
                                .copy_forward = cf_fails,
                                .id = id_fixed,
                                .ctx = &seq};
    struct tg_decided o;
    char err[64];

    (void)state;
    tg_decided_init(&o, err, sizeof(err));
    assert_int_equal(tg_decide(&d, NULL, &o), 0);
    assert_int_equal(o.result.verdict, TG_SKIP);
    assert_string_equal(o.ticket.id, "");
    assert_string_equal(o.decision_id, "d-000000000007-abcdef");
    assert_int_equal(calls, 1); /* the id hook, not copy_forward */
    assert_string_equal(
        json_string_value(json_object_get(o.doc, "decision_id")),
        "d-000000000007-abcdef");
    assert_string_equal(json_string_value(json_object_get(o.doc, "source")),
                        "generic");
    tg_decided_cleanup(&o);
}

/* Gated without a payload that maps: TG_EINVAL at the map step, with the
 * sentence the 422 gives. */
static void test_gated_needs_a_ticket(void **state)
{
    const struct tg_decide d = {.cfg = &cfg, .now = 1, .gated = 1};
    struct tg_decided o;
    char err[128];
    json_t *bad = json_pack("{s:i}", "id", 5);

    (void)state;
    tg_decided_init(&o, err, sizeof(err));
    assert_int_equal(tg_decide(&d, NULL, &o), TG_EINVAL);
    assert_int_equal(o.step, TG_DECIDE_MAP);
    assert_string_equal(err, "The payload cannot be mapped to a ticket.");
    tg_decided_cleanup(&o);

    tg_decided_init(&o, err, sizeof(err));
    assert_int_equal(tg_decide(&d, bad, &o), TG_EINVAL);
    assert_int_equal(o.step, TG_DECIDE_MAP);
    assert_true(err[0] != '\0');
    assert_null(o.doc);
    tg_decided_cleanup(&o);
    json_decref(bad);
}

/* A failing store hook stops the pipeline before evaluation, and says
 * where. */
static void test_hook_failure_stops(void **state)
{
    const struct tg_decide d = {
        .cfg = &cfg, .now = 1, .gated = 1, .copy_forward = cf_fails};
    struct tg_decided o;
    char err[128];
    json_t *t = json_pack("{s:s,s:s}", "id", "A-1", "justification", "x");

    (void)state;
    tg_decided_init(&o, err, sizeof(err));
    assert_int_equal(tg_decide(&d, t, &o), TG_EIO);
    assert_int_equal(o.step, TG_DECIDE_COPY_FORWARD);
    assert_int_equal(calls, 1);
    assert_null(o.doc);
    tg_decided_cleanup(&o);
    json_decref(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_ungated_is_skip, setup),
        cmocka_unit_test_setup(test_gated_needs_a_ticket, setup),
        cmocka_unit_test_setup(test_hook_failure_stops, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
