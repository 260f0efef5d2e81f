/* test_ticketpool.c - a ticket's strings in one block, and those past it. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "server/core/canonical.h"
#include "validators/errors.h"
#include "validators/ticket.h"

static int in_block(const struct tg_ticket *t, const char *s)
{
    return t->pool && s >= t->pool && s < t->pool + t->pool_cap;
}

/* Given a block, a usual ticket's strings all land in it: one allocation,
 * not one a string. */
static void test_mapped_strings_share_a_block(void **state)
{
    struct tg_ticket t;
    char err[128];
    json_t *v = json_loads(
        "{\"id\":\"A-1\",\"owner\":\"carol\",\"approver\":\"dave\","
        "\"approvers\":[\"erin\"],\"names\":{\"dave\":\"Dave O\"},"
        "\"transition\":{\"from\":\"W\",\"to\":\"A\",\"actor\":\"dave\"},"
        "\"scope\":{\"system\":\"db\",\"privilege\":\"read\"}}",
        0, NULL);
    (void)state;
    assert_non_null(v);
    tg_ticket_init(&t);
    assert_int_equal(tg_ticket_reserve(&t, 1024), TG_OK);
    assert_int_equal(tg_canonical_from_json(v, &t, err, sizeof(err)), TG_OK);
    assert_string_equal(t.id, "A-1");
    assert_string_equal(t.actor, "dave");
    assert_string_equal(t.system, "db");
    assert_int_equal(t.n_approvers, 2);
    assert_string_equal(t.approvers[1], "erin");
    assert_string_equal(tg_ticket_name_of(&t, "dave"), "Dave O");
    assert_true(in_block(&t, t.id));
    assert_true(in_block(&t, t.owner));
    assert_true(in_block(&t, t.privilege));
    assert_true(in_block(&t, t.approvers[0]));
    assert_true(in_block(&t, t.names[0].name));
    tg_ticket_cleanup(&t);
    assert_null(t.pool);
    json_decref(v);
}

/* Strings past the block's room get their own allocation, keep their
 * text, and are freed by the cleanup (the sanitizer run sees a leak or a
 * bad free otherwise). */
static void test_long_strings_spill(void **state)
{
    struct tg_ticket t;
    char err[128], *big = malloc(3000);
    json_t *v = json_object(), *ap = json_array();
    (void)state;
    assert_non_null(big);
    memset(big, 'j', 2999);
    big[2999] = '\0';
    json_object_set_new(v, "id", json_string("B-2"));
    json_object_set_new(v, "justification", json_string(big));
    for (int i = 0; i < 200; i++)
        json_array_append_new(ap, json_string("approver-with-a-long-name"));
    json_object_set_new(v, "approvers", ap);
    json_object_set_new(v, "owner", json_string("olivia"));
    tg_ticket_init(&t);
    assert_int_equal(tg_ticket_reserve(&t, 1024), TG_OK);
    assert_int_equal(tg_canonical_from_json(v, &t, err, sizeof(err)), TG_OK);
    assert_string_equal(t.justification, big);
    assert_false(in_block(&t, t.justification));
    assert_true(in_block(&t, t.id));
    assert_int_equal(t.n_approvers, 200);
    assert_string_equal(t.approvers[199], "approver-with-a-long-name");
    assert_false(in_block(&t, t.approvers[199]));
    assert_string_equal(t.owner, "olivia");
    tg_ticket_cleanup(&t);
    json_decref(v);
    free(big);
}

/* Without a block (every caller but check) each string is its own, and a
 * caller may still free and replace one. */
static void test_no_block_by_default(void **state)
{
    struct tg_ticket t;
    char err[128];
    json_t *v = json_loads("{\"id\":\"C-3\",\"expires_at\":\"2027-01-01\"}",
                           0, NULL);
    (void)state;
    assert_non_null(v);
    tg_ticket_init(&t);
    assert_int_equal(tg_canonical_from_json(v, &t, err, sizeof(err)), TG_OK);
    assert_null(t.pool);
    free(t.expires_at);
    t.expires_at = strdup("2099-01-01");
    assert_non_null(t.expires_at);
    tg_ticket_cleanup(&t);
    json_decref(v);
}

/* The block by hand: copies fill it, the next one that does not fit is its
 * own, and a ticket without a block copies as before. */
static void test_strdup_and_reserve(void **state)
{
    struct tg_ticket t;
    char *a, *b, *c;
    (void)state;
    tg_ticket_init(&t);
    a = tg_ticket_strdup(&t, "no block");
    assert_string_equal(a, "no block");
    assert_false(in_block(&t, a));
    free(a);
    assert_int_equal(tg_ticket_reserve(&t, 8), TG_OK);
    assert_int_equal(tg_ticket_reserve(&t, 64), TG_OK); /* keeps the first */
    assert_int_equal(t.pool_cap, 8);
    b = tg_ticket_strdup(&t, "abcdef"); /* 7 bytes: fits */
    c = tg_ticket_strdup(&t, "xy");     /* 3 more: does not */
    assert_true(in_block(&t, b));
    assert_false(in_block(&t, c));
    assert_string_equal(b, "abcdef");
    assert_string_equal(c, "xy");
    t.id = b;
    t.owner = c;
    tg_ticket_cleanup(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mapped_strings_share_a_block),
        cmocka_unit_test(test_long_strings_spill),
        cmocka_unit_test(test_no_block_by_default),
        cmocka_unit_test(test_strdup_and_reserve),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
