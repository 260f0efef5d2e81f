/* test_facts.c - the facts document: the members replay and the report read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/config/config.h"
#include "server/core/change.h"
#include "server/core/decide.h"
#include "server/core/facts.h"
#include "tests/support/factspaths.h"
#include "validators/timeparse.h"

#define EXAMPLE TG_SOURCE_DIR "/example/"

static json_t *parse(const char *s)
{
    json_t *v = json_loads(s, 0, NULL);

    assert_non_null(v);
    return v;
}

/* A facts member is the source's very value (borrowed, not copied). */
static void same_value(const json_t *src, const json_t *facts,
                       const char *whole)
{
    (void)whole;
    assert_ptr_equal(src, facts);
}

/* facts is the projection of doc and judged (judged may be NULL); strict:
 * and holds nothing else. */
static void is_projection(const json_t *facts, const json_t *doc,
                          const json_t *judged, int strict)
{
    char prefix[256] = "";
    const char *k;
    json_t *m, *rest, *view;
    const json_t *rec = json_object_get(facts, "recorded");

    assert_true(json_is_object(rec));
    for (size_t i = 0; TG_FACTS_DECISION_PATHS[i]; i++)
        tg_facts_same_at(doc, rec, TG_FACTS_DECISION_PATHS[i],
                         TG_FACTS_DECISION_PATHS[i], same_value);
    view = judged ? tg_facts_judged_view(judged) : NULL;
    for (size_t i = 0; view && TG_FACTS_JUDGED_PATHS[i]; i++) {
        /* the ticket's {id, type} beneficiary: its id alone */
        const json_t *b = json_object_get(json_object_get(view, "ticket"),
                                          "beneficiary");
        if (!json_is_object(b) ||
            strcmp(TG_FACTS_JUDGED_PATHS[i], "ticket.beneficiary") != 0)
            tg_facts_same_at(view, facts, TG_FACTS_JUDGED_PATHS[i],
                             TG_FACTS_JUDGED_PATHS[i], same_value);
    }
    json_decref(view);
    if (!judged) {
        assert_null(json_object_get(facts, "ticket"));
        assert_null(json_object_get(facts, "identities"));
    }
    /* the decision's members only inside "recorded", the judged
     * ticket's only outside it */
    assert_null(json_object_get(rec, "ticket"));
    assert_null(json_object_get(rec, "identities"));
    assert_null(json_object_get(facts, "decision"));
    assert_null(json_object_get(facts, "findings"));
    if (strict) {
        tg_facts_only_paths(rec, prefix, 0);
        rest = json_copy((json_t *)facts);
        assert_non_null(rest);
        assert_int_equal(json_object_del(rest, "recorded"), 0);
        tg_facts_only_paths(rest, prefix, 0);
        json_decref(rest);
    }
    /* "recorded" first, "decision" first in it: replay reads only it,
     * from the fixed start (cli/replay.c facts_side) */
    k = NULL;
    json_object_foreach((json_t *)facts, k, m) break;
    assert_string_equal(k, "recorded");
    k = NULL;
    json_object_foreach((json_t *)rec, k, m) break;
    if (json_object_get(doc, "decision"))
        assert_string_equal(k, "decision");
    {
        char *s = json_dumps(facts, JSON_COMPACT);

        assert_non_null(s);
        assert_true(!strncmp(s, "{\"recorded\":{", 13));
        free(s);
    }
}

static const char DENY_DOC[] =
    "{\"decision\":\"deny\",\"decision_id\":\"d-000000000007-abcdef\","
    "\"ticket\":\"ACC-9\",\"source\":\"jira\",\"transition\":{\"from\":\"A\","
    "\"to\":\"B\",\"actor\":\"erin\"},\"evaluated_at\":"
    "\"2026-12-01T00:00:00Z\",\"policy\":\"sha256:p\",\"dry_run\":false,"
    "\"findings\":[{\"code\":\"EXPIRY_TOO_LONG\",\"validator\":\"expiry\","
    "\"action\":\"warn\",\"field\":\"expires_at\",\"message\":\"too long\","
    "\"exception\":{\"id\":\"EXC-12\",\"until\":\"2027-03-31\","
    "\"ticket_ref\":\"SEC-881\"}},{\"code\":\"SOD_SELF_APPROVAL\","
    "\"validator\":\"separation\",\"action\":\"deny\",\"field\":\"approver\","
    "\"message\":\"self\"}],\"message\":\"denied\"}";

static const char DENY_JUDGED[] =
    "{\"ticket\":{\"id\":\"ACC-9\",\"requester\":\"bob\","
    "\"beneficiary\":{\"id\":\"svc-etl\",\"type\":\"service\"},"
    "\"owner\":\"carol\",\"justification\":\"long words\","
    "\"scope\":{\"system\":\"legacy-erp\",\"environment\":\"prod\","
    "\"entitlement\":\"role:x\",\"privilege\":\"admin\"},"
    "\"expires_at\":\"2027-12-01T00:00:00Z\",\"emergency\":false,"
    "\"created_at\":\"2026-11-30T00:00:00Z\"},"
    "\"identities\":{\"requester\":{\"given\":\"bob\",\"resolved\":"
    "\"bob@example.com\",\"name\":\"Bob\"},\"beneficiary\":{\"given\":"
    "\"svc-etl\",\"resolved\":null,\"kind\":\"service\",\"type\":"
    "\"service\"},\"owner\":{\"given\":\"carol\",\"resolved\":"
    "\"carol@example.com\"},\"approvers\":[{\"given\":\"bob\",\"resolved\":"
    "\"bob@example.com\",\"at\":\"2026-12-01T00:00:00Z\",\"authority\":"
    "{\"basis\":\"none\"}}]}}";

/* A deny whose other finding an exception let through: the codes, their
 * actions and the exception at their paths; no message, no authority. */
static void test_deny_with_exception(void **state)
{
    json_t *doc = parse(DENY_DOC), *judged = parse(DENY_JUDGED), *facts;
    char *s;
    (void)state;

    facts = tg_facts_build(doc, judged);
    assert_non_null(facts);
    is_projection(facts, doc, judged, 1);
    s = json_dumps(facts, JSON_COMPACT);
    assert_string_equal(
        s,
        "{\"recorded\":{\"decision\":\"deny\",\"findings\":[{\"code\":\"EXPIRY_TOO_LONG\","
        "\"action\":\"warn\",\"exception\":{\"id\":\"EXC-12\",\"until\":"
        "\"2027-03-31\",\"ticket_ref\":\"SEC-881\"}},{\"code\":"
        "\"SOD_SELF_APPROVAL\",\"action\":\"deny\"}]},\"ticket\":"
        "{\"scope\":{\"system\":\"legacy-erp\",\"entitlement\":\"role:x\","
        "\"environment\":\"prod\"},\"created_at\":\"2026-11-30T00:00:00Z\","
        "\"expires_at\":\"2027-12-01T00:00:00Z\",\"emergency\":false},"
        "\"identities\":{\"requester\":{\"resolved\":"
        "\"bob@example.com\"},\"beneficiary\":{\"given\":\"svc-etl\","
        "\"resolved\":null},\"approvers\":[{\"resolved\":"
        "\"bob@example.com\",\"at\":\"2026-12-01T00:00:00Z\"}]}}");
    free(s);
    {
        /* replay's extraction reads the same from either */
        struct tg_change_side a, b;

        assert_int_equal(tg_change_from_doc(doc, &a), 0);
        assert_int_equal(
            tg_change_from_doc(json_object_get(facts, "recorded"), &b), 0);
        assert_int_equal(tg_change_differs(&a, &b), 0);
        assert_int_equal(b.verdict, TG_DENY);
    }
    json_decref(facts);
    json_decref(judged);
    json_decref(doc);
}

/* A decision-level exception list and odd values are carried as they
 * are: the readers then meet what they would in the source. */
static void test_odd_values_carried(void **state)
{
    json_t *doc = parse("{\"decision\":7,\"findings\":[\"x\",{\"code\":1}],"
                        "\"exceptions\":[{\"id\":\"EXC-1\"}],"
                        "\"message\":\"m\"}");
    json_t *judged = parse("{\"ticket\":\"flat\",\"identities\":"
                           "{\"approvers\":{\"given\":\"a\"},"
                           "\"requester\":\"bob\"}}");
    json_t *facts = tg_facts_build(doc, judged);
    (void)state;

    assert_non_null(facts);
    is_projection(facts, doc, judged, 0);
    assert_ptr_equal(json_object_get(facts, "ticket"),
                     json_object_get(judged, "ticket"));
    assert_ptr_equal(json_array_get(json_object_get(json_object_get(facts,
                                                                    "recorded"),
                                                    "findings"),
                                    0),
                     json_array_get(json_object_get(doc, "findings"), 0));
    json_decref(facts);
    /* not a document at all */
    assert_null(tg_facts_build(NULL, judged));
    assert_null(tg_facts_build(json_object_get(doc, "exceptions"), NULL));
    json_decref(judged);
    json_decref(doc);
}

/* The ticket's own requester and beneficiary stay where the identities
 * name no one for them (the report's last resort: outcomes/set.c
 * read_judged); an unresolved identity keeps what was given. */
static void test_unnamed_identities_keep_ticket(void **state)
{
    json_t *doc = parse("{\"decision\":\"allow\",\"findings\":[]}");
    json_t *judged = parse(
        "{\"ticket\":{\"requester\":\"bob\",\"beneficiary\":"
        "{\"id\":\"svc-etl\",\"type\":\"service\"}},\"identities\":"
        "{\"requester\":{\"given\":\" \\t\",\"resolved\":null},"
        "\"beneficiary\":{\"given\":\"svc-etl\",\"resolved\":\"\"},"
        "\"approvers\":[{\"given\":\"dave\",\"resolved\":null,"
        "\"at\":\"2026-12-01T00:00:00Z\"},{\"given\":\"erin\","
        "\"resolved\":\"erin@example.com\"}]}}");
    json_t *facts = tg_facts_build(doc, judged);
    char *s;
    (void)state;

    assert_non_null(facts);
    is_projection(facts, doc, judged, 1);
    s = json_dumps(facts, JSON_COMPACT);
    assert_non_null(s);
    /* a blank given and an empty resolved name no one: the ticket's
     * names stay; "given" only beside a null "resolved" */
    assert_string_equal(
        s, "{\"recorded\":{\"decision\":\"allow\",\"findings\":[]},"
           "\"ticket\":{\"requester\":\"bob\",\"beneficiary\":{\"id\":"
           "\"svc-etl\"}},\"identities\":{\"requester\":{\"given\":"
           "\" \\t\",\"resolved\":null},\"beneficiary\":{\"resolved\":"
           "\"\"},\"approvers\":[{\"given\":\"dave\",\"resolved\":null,"
           "\"at\":\"2026-12-01T00:00:00Z\"},{\"resolved\":"
           "\"erin@example.com\"}]}}");
    free(s);
    json_decref(facts);
    json_decref(judged);
    json_decref(doc);
}

/* A skip has no judged ticket: the decision's members only. */
static void test_skip(void **state)
{
    json_t *doc = parse("{\"decision\":\"skip\",\"decision_id\":\"d-1\","
                        "\"ticket\":\"\",\"findings\":[],\"message\":"
                        "\"not gated\"}");
    json_t *facts = tg_facts_build(doc, NULL);
    char *s;
    (void)state;

    assert_non_null(facts);
    is_projection(facts, doc, NULL, 1);
    s = json_dumps(facts, JSON_COMPACT);
    assert_string_equal(s, "{\"recorded\":{\"decision\":\"skip\","
                           "\"findings\":[]}}");
    free(s);
    json_decref(facts);
    json_decref(doc);
}

static int64_t at(const char *s)
{
    int64_t t = 0;

    assert_int_equal(tg_time_parse(s, strlen(s), &t), 0);
    return t;
}

/* tg_decide builds the facts with the judged ticket: an allow with its
 * approver from the example configuration, projected at every path; none
 * for a skip or without the judged ticket (check, replay). */
static void test_decide_allow_with_approvers(void **state)
{
    struct tg_config *c = NULL;
    struct tg_diag dg;
    struct tg_decided o;
    struct tg_decide d = {.now = at("2026-12-01T00:00:00Z"), .gated = 1};
    char err[256];
    json_t *t;
    (void)state;

    tg_diag_init(&dg);
    assert_int_equal(tg_config_load(EXAMPLE "ticketgate.yaml", &c, &dg), 0);
    tg_diag_cleanup(&dg);
    d.cfg = c;
    t = json_load_file(EXAMPLE "payloads/canonical-ticket.json", 0, NULL);
    assert_non_null(t);
    tg_decided_init(&o, err, sizeof(err));
    assert_int_equal(tg_decide(&d, t, &o), 0);
    assert_int_equal(o.result.verdict, TG_ALLOW);
    assert_non_null(o.facts);
    is_projection(o.facts, o.doc, o.judged, 1);
    assert_int_equal(json_array_size(json_object_get(
                         json_object_get(o.facts, "identities"), "approvers")),
                     1);
    assert_string_equal(
        json_string_value(json_object_get(
            json_array_get(json_object_get(json_object_get(o.facts,
                                                           "identities"),
                                           "approvers"),
                           0),
            "resolved")),
        "erin@example.com");
    tg_decided_cleanup(&o);

    d.no_judged = 1;
    tg_decided_init(&o, err, sizeof(err));
    assert_int_equal(tg_decide(&d, t, &o), 0);
    assert_null(o.facts);
    tg_decided_cleanup(&o);

    d.no_judged = 0;
    json_object_set_new(t, "kind", json_string("incident"));
    tg_decided_init(&o, err, sizeof(err));
    assert_int_equal(tg_decide(&d, t, &o), 0);
    assert_int_equal(o.result.verdict, TG_SKIP);
    assert_null(o.facts); /* nothing is recorded of a skip */
    tg_decided_cleanup(&o);
    json_decref(t);
    tg_config_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deny_with_exception),
        cmocka_unit_test(test_odd_values_carried),
        cmocka_unit_test(test_unnamed_identities_keep_ticket),
        cmocka_unit_test(test_skip),
        cmocka_unit_test(test_decide_allow_with_approvers),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
