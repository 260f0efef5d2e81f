/* needs: ticketgate */
/* test_facts_http.c - decisions through HTTP keep their facts document:
 * the projection of the stored decision and judged ticket (issues 13/14). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <sqlite3.h>

#include "tests/support/factspaths.h"
#include "tests/support/tg_test.h"

static struct tg_server S;
static int seq; /* makes every delivery and ticket its own */

static int setup(void **state)
{
    (void)state;
    assert_int_equal(tg_test_server_prepare(&S), 0);
    assert_int_equal(tg_test_server_start(&S), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    assert_int_equal(tg_test_server_finish(&S), 0);
    return 0;
}

/* A facts member equals the record's. An {id, type} ticket beneficiary
 * is kept as {"id"}: the whole object is not compared. */
static void same_value(const json_t *src, const json_t *facts,
                       const char *whole)
{
    if (json_is_object(src) && !strcmp(whole, "ticket.beneficiary"))
        return;
    if (!json_equal((json_t *)src, (json_t *)facts))
        fail_msg("facts differ from the record at %s", whole);
}

/* The record's facts text is the projection of its decision and judged
 * texts: "recorded" first (the decision's members, "decision" first), then
 * the judged ticket's at their own paths. */
static void check_row(const char *decision, const char *judged,
                      const char *facts)
{
    json_t *d = json_loads(decision, 0, NULL);
    json_t *j = json_loads(judged, 0, NULL);
    json_t *f = json_loads(facts, 0, NULL), *rest, *view;
    const json_t *rec;
    char prefix[256] = "";

    assert_non_null(d);
    assert_non_null(j);
    assert_non_null(f);
    rec = json_object_get(f, "recorded");
    assert_true(json_is_object(rec));
    for (size_t i = 0; TG_FACTS_DECISION_PATHS[i]; i++)
        tg_facts_same_at(d, rec, TG_FACTS_DECISION_PATHS[i],
                         TG_FACTS_DECISION_PATHS[i], same_value);
    view = tg_facts_judged_view(j);
    for (size_t i = 0; TG_FACTS_JUDGED_PATHS[i]; i++)
        tg_facts_same_at(view, f, TG_FACTS_JUDGED_PATHS[i],
                         TG_FACTS_JUDGED_PATHS[i], same_value);
    json_decref(view);
    /* the decision's members only inside "recorded", the judged ticket's
     * only outside it */
    assert_null(json_object_get(rec, "ticket"));
    assert_null(json_object_get(rec, "identities"));
    tg_facts_only_paths(rec, prefix, 0);
    rest = json_copy(f);
    assert_non_null(rest);
    assert_int_equal(json_object_del(rest, "recorded"), 0);
    assert_null(json_object_get(rest, "decision"));
    assert_null(json_object_get(rest, "findings"));
    tg_facts_only_paths(rest, prefix, 0);
    json_decref(rest);
    if (strncmp(facts, "{\"recorded\":{\"decision\":\"", 25) != 0)
        fail_msg("facts do not begin with recorded, decision: %s", facts);
    json_decref(f);
    json_decref(j);
    json_decref(d);
}

/* POSTs the canonical ticket with patch merged over it to /v1/check;
 * returns the decision document. */
static json_t *check(const char *patch)
{
    json_t *t = json_load_file(
        TG_SOURCE_DIR "/example/payloads/canonical-ticket.json", 0, NULL);
    json_t *p = json_loads(patch, 0, NULL), *doc;
    char exp[32], id[32], just[200], *tok = tg_test_generic_token(NULL);
    char *auth = tg_test_bearer_header(tok), *body;
    struct tg_resp r;

    assert_non_null(t);
    assert_non_null(p);
    tg_test_rfc3339(3 * 86400, exp, sizeof(exp));
    json_object_set_new(t, "expires_at", json_string(exp));
    snprintf(just, sizeof(just),
             "Migrating the refunds schema to v7 requires DDL rights on the "
             "refunds database during the change window CHG%07d.", ++seq);
    json_object_set_new(t, "justification", json_string(just));
    snprintf(id, sizeof(id), "ACC-%d", 7000 + seq);
    json_object_set_new(t, "id", json_string(id));
    json_object_update(t, p);
    body = json_dumps(t, JSON_COMPACT);
    {
        const char *h[] = {"Content-Type: application/json", auth, NULL};

        assert_int_equal(tg_test_http(&S, "POST", "/v1/check", h, body,
                                      strlen(body), 0, &r), 0);
    }
    if (r.status != 200)
        fail_msg("status %ld: %s", r.status, r.body);
    doc = json_loads(r.body, 0, NULL);
    assert_non_null(doc);
    tg_test_resp_free(&r);
    free(body);
    free(auth);
    free(tok);
    json_decref(p);
    json_decref(t);
    return doc;
}

/* The stdout of `ticketgate audit show ID --format json`, parsed. */
static json_t *audit_show(const char *id)
{
    char cmd[1024], buf[65536];
    size_t n;
    FILE *p;
    json_t *v;

    snprintf(cmd, sizeof(cmd), "'%s' audit show %s -c '%s' --format json",
             TG_BINARY, id, S.config);
    p = popen(cmd, "r");
    assert_non_null(p);
    n = fread(buf, 1, sizeof(buf) - 1, p);
    buf[n] = '\0';
    assert_int_equal(pclose(p), 0);
    v = json_loads(buf, 0, NULL);
    if (!v)
        fail_msg("not JSON: %s", buf);
    return v;
}

/* An allow with its approver, a deny with two approvers and a service
 * beneficiary, a skip: every decision recorded carries its facts, which
 * are the projection of its stored decision and judged ticket, shown by
 * audit show --format json, and the chain verifies. */
static void test_http_records_facts(void **state)
{
    static const char *const patches[] = {
        "{}",
        "{\"approvers\":[\"erin@example.com\",\"bob@example.com\"],"
        "\"beneficiary\":{\"id\":\"svc-payments-etl\",\"type\":\"service\"},"
        "\"expires_at\":\"2099-01-01T00:00:00Z\"}",
        "{\"kind\":\"incident\"}",
    };
    const char *want[] = {"allow", "deny", "skip"};
    char path[400], cmd[1024];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rows = 0;
    (void)state;

    for (size_t i = 0; i < 3; i++) {
        json_t *doc = check(patches[i]);

        assert_string_equal(
            json_string_value(json_object_get(doc, "decision")), want[i]);
        json_decref(doc);
    }
    snprintf(path, sizeof(path), "%s/data/ticketgate.db", S.dir);
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db,
                         "SELECT decision_id, decision, judged, facts"
                         " FROM records WHERE kind = 'decision'"
                         " ORDER BY seq", -1, &st, NULL), SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(st, 0);
        const char *facts = (const char *)sqlite3_column_text(st, 3);
        json_t *shown, *stored;

        if (!facts)
            fail_msg("decision %s was recorded without facts", id);
        check_row((const char *)sqlite3_column_text(st, 1),
                  (const char *)sqlite3_column_text(st, 2), facts);
        shown = audit_show(id);
        stored = json_loads(facts, 0, NULL);
        assert_true(json_equal(json_object_get(shown, "facts"), stored));
        json_decref(stored);
        json_decref(shown);
        rows++;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    assert_int_equal(rows, 2); /* a skip records nothing */
    snprintf(cmd, sizeof(cmd), "'%s' audit verify -c '%s' >/dev/null",
             TG_BINARY, S.config);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_records_facts),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
