/* test_registry.c - the one table of webhook adapters (adapters/registry.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "server/adapters/adapter.h"

static void test_find(void **state)
{
    const struct tg_adapter *j = tg_adapter_find("jira");
    const struct tg_adapter *s = tg_adapter_find("servicenow");

    (void)state;
    assert_non_null(j);
    assert_string_equal(j->source, "jira");
    assert_ptr_equal(j->authenticate, tg_jira_authenticate_ids);
    assert_int_equal(j->bearer, 0);
    assert_non_null(s);
    assert_string_equal(s->source, "servicenow");
    assert_ptr_equal(s->authenticate, tg_servicenow_authenticate_ids);
    assert_ptr_equal(s->map, tg_servicenow_map);
    assert_int_equal(s->bearer, 1);
}

static void test_unknown(void **state)
{
    (void)state;
    assert_null(tg_adapter_find("generic"));
    assert_null(tg_adapter_find("Jira"));
    assert_null(tg_adapter_find(""));
    assert_null(tg_adapter_find(NULL));
}

/* Jira bodies carry no delivery id: its map leaves none, even when the
 * caller's pointer held something. */
static void test_jira_map_no_event_id(void **state)
{
    const struct tg_adapter *j = tg_adapter_find("jira");
    struct tg_config c;
    json_t *body = json_object(), *canon = NULL;
    char *event_id = (char *)"x", err[256] = "";
    int gated = -1;

    (void)state;
    memset(&c, 0, sizeof(c));
    assert_non_null(body);
    j->map(&c, body, &canon, &gated, &event_id, err, sizeof(err));
    assert_null(event_id);
    json_decref(canon);
    json_decref(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_unknown),
        cmocka_unit_test(test_jira_map_no_event_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
