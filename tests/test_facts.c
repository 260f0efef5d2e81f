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
#include "validators/timeparse.h"

#define EXAMPLE TG_SOURCE_DIR "/example/"

/* The paths replay (cli/replay.c, core/change.c) and the report
 * (outcomes/set.c, read_decision and read_judged) read, "[]" for each
 * element of an array: the facts hold exactly these. */
static const char *const DECISION_PATHS[] = {
    "decision", "findings[].code", "findings[].action",
    "findings[].exception", "exception", "exceptions", NULL};
static const char *const JUDGED_PATHS[] = {
    "ticket.requester", "ticket.beneficiary", "ticket.beneficiary.id",
    "ticket.scope.system",
    "ticket.scope.entitlement", "ticket.scope.environment",
    "ticket.created_at", "ticket.expires_at", "ticket.emergency",
    "identities.requester.given", "identities.requester.resolved",
    "identities.beneficiary.given", "identities.beneficiary.resolved",
    "identities.approvers[].given", "identities.approvers[].resolved",
    "identities.approvers[].at", NULL};

static json_t *parse(const char *s)
{
    json_t *v = json_loads(s, 0, NULL);

    assert_non_null(v);
    return v;
}

/* Follows path (from its segment at p) in src and in facts alike: where
 * src has the member facts has the very same value (borrowed), where src
 * has none facts has none. */
static void same_at(const json_t *src, const json_t *facts, const char *p)
{
    char seg[64];
    size_t n = strcspn(p, ".[");

    if (!*p) {
        assert_ptr_equal(src, facts);
        return;
    }
    if (p[0] == '[') { /* "[]": every element */
        const char *rest = p[2] == '.' ? p + 3 : p + 2;
        size_t i;
        const json_t *e;

        if (!json_is_array(src)) { /* carried as it is */
            assert_ptr_equal(src, facts);
            return;
        }
        assert_true(json_is_array(facts));
        assert_int_equal(json_array_size(src), json_array_size(facts));
        json_array_foreach(src, i, e)
            same_at(e, json_array_get(facts, i), rest);
        return;
    }
    assert_true(n < sizeof seg);
    memcpy(seg, p, n);
    seg[n] = '\0';
    p += n;
    if (*p == '.')
        p++;
    src = json_object_get(src, seg);
    facts = json_object_get(facts, seg);
    if (!src) {
        assert_null(facts);
        return;
    }
    assert_non_null(facts);
    same_at(src, facts, p);
}

/* 1 when prefix is one of paths or leads to one. */
static int allowed(const char *prefix, const char *const paths[])
{
    size_t n = strlen(prefix);

    for (size_t i = 0; paths[i]; i++)
        if (!strncmp(paths[i], prefix, n) &&
            (!paths[i][n] || paths[i][n] == '.' || paths[i][n] == '['))
            return 1;
    return 0;
}

/* Every member of facts lies on a path of the lists (nothing else kept),
 * a path's end taken whole (an exception object). */
static void only_paths(const json_t *v, char *prefix, size_t len)
{
    const char *k;
    const json_t *m;
    size_t i;

    for (size_t j = 0; DECISION_PATHS[j]; j++)
        if (!strcmp(prefix, DECISION_PATHS[j]))
            return;
    if (json_is_array(v)) {
        strcat(prefix, "[]");
        json_array_foreach(v, i, m)
            only_paths(m, prefix, len + 2);
        prefix[len] = '\0';
        return;
    }
    json_object_foreach((json_t *)v, k, m) {
        snprintf(prefix + len, 256 - len, "%s%s", len ? "." : "", k);
        if (!allowed(prefix, DECISION_PATHS) &&
            !allowed(prefix, JUDGED_PATHS))
            fail_msg("facts hold %s, which no reader reads", prefix);
        only_paths(m, prefix, strlen(prefix));
        prefix[len] = '\0';
    }
}

/* facts is the projection of doc and judged (judged may be NULL); strict:
 * and holds nothing else. */
static void is_projection(const json_t *facts, const json_t *doc,
                          const json_t *judged, int strict)
{
    char prefix[256] = "";
    const char *k;
    json_t *m, *rest;
    const json_t *rec = json_object_get(facts, "recorded");

    assert_true(json_is_object(rec));
    for (size_t i = 0; DECISION_PATHS[i]; i++)
        same_at(doc, rec, DECISION_PATHS[i]);
    for (size_t i = 0; judged && JUDGED_PATHS[i]; i++) {
        /* the ticket's {id, type} beneficiary: its id alone */
        const json_t *b = json_object_get(json_object_get(judged, "ticket"),
                                          "beneficiary");
        if (!json_is_object(b) ||
            strcmp(JUDGED_PATHS[i], "ticket.beneficiary") != 0)
            same_at(judged, facts, JUDGED_PATHS[i]);
    }
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
        only_paths(rec, prefix, 0);
        rest = json_copy((json_t *)facts);
        assert_non_null(rest);
        assert_int_equal(json_object_del(rest, "recorded"), 0);
        only_paths(rest, prefix, 0);
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
        "{\"requester\":\"bob\",\"beneficiary\":{\"id\":\"svc-etl\"},"
        "\"scope\":{\"system\":\"legacy-erp\",\"entitlement\":\"role:x\","
        "\"environment\":\"prod\"},\"created_at\":\"2026-11-30T00:00:00Z\","
        "\"expires_at\":\"2027-12-01T00:00:00Z\",\"emergency\":false},"
        "\"identities\":{\"requester\":{\"given\":\"bob\",\"resolved\":"
        "\"bob@example.com\"},\"beneficiary\":{\"given\":\"svc-etl\","
        "\"resolved\":null},\"approvers\":[{\"given\":\"bob\",\"resolved\":"
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
        cmocka_unit_test(test_skip),
        cmocka_unit_test(test_decide_allow_with_approvers),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
