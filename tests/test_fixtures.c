/* test_fixtures.c - real payload shapes, mapped and judged by the example. */
/* needs: ticketgate */
/*
 * Every tests/fixtures/{jira,servicenow}/<name>.expected.json that holds a
 * "decision" describes what <name>.json, a payload in a shape the vendor
 * documents, must give under example/ticketgate.yaml at the fixed clock
 * "now":
 *
 *   { "shape": "where the payload's shape comes from",
 *     "now": "2026-12-01T00:00:00Z",
 *     "gated": true,
 *     "canonical": { ...the whole canonical ticket the adapter makes... },
 *     "decision": "deny",
 *     "codes": ["SOD_SELF_APPROVAL", ...],
 *     "assigned_approver": "dave.okafor" }      (only when a delegate acted)
 *
 * The files without "decision" are the adapters' own mapping fixtures
 * (test_jira.c, test_servicenow.c).
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>

#include "server/adapters/adapter.h"
#include "server/core/canonical.h"
#include "validators/codes.h"
#include "server/config/config.h"
#include "server/core/decision.h"
#include "validators/errors.h"
#include "validators/evaluate.h"
#include "tests/support/tg_test.h"
#include "validators/timeparse.h"

#define FIX TG_SOURCE_DIR "/tests/fixtures/"
#define EXAMPLE TG_SOURCE_DIR "/example/ticketgate.yaml"
#define SUFFIX ".expected.json"
/* The policy digest is no part of what a fixture decides. */
#define POLICY                                                                 \
    "sha256:0000000000000000000000000000000000000000000000000000000000000000"

static json_t *load(const char *path)
{
    json_error_t e;
    json_t *j = json_load_file(path, 0, &e);
    if (!j)
        fail_msg("%s:%d: %s", path, e.line, e.text);
    return j;
}

static void assert_json_equal(const char *what, const json_t *got,
                              const json_t *want)
{
    if (!json_equal(got, want)) {
        char *g =
            json_dumps(got, JSON_SORT_KEYS | JSON_INDENT(1) | JSON_ENCODE_ANY);
        char *w =
            json_dumps(want, JSON_SORT_KEYS | JSON_INDENT(1) | JSON_ENCODE_ANY);
        print_error("%s: got:\n%s\nwant:\n%s\n", what, g ? g : "(none)",
                    w ? w : "(none)");
        free(g);
        free(w);
        fail();
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The codes of r, sorted, as a JSON array. */
static json_t *codes_of(const struct tg_result *r)
{
    const char *v[64];
    size_t n = r->findings.n < 64 ? r->findings.n : 64;
    json_t *a = json_array();

    for (size_t i = 0; i < n; i++)
        v[i] = tg_code_info(r->findings.v[i].code)->name;
    qsort(v, n, sizeof v[0], cmp_str);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

/* The expected codes, sorted. */
static json_t *sorted_codes(const json_t *codes)
{
    const char *v[64];
    size_t n = json_array_size(codes), i;
    json_t *a = json_array();

    assert_true(json_is_array(codes) && n < 64);
    for (i = 0; i < n; i++) {
        v[i] = json_string_value(json_array_get(codes, i));
        assert_non_null(v[i]);
    }
    qsort(v, n, sizeof v[0], cmp_str);
    for (i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

/* Maps, evaluates and documents one fixture; returns 1 when it ran. */
static int run_fixture(const struct tg_config *c, const char *dir,
                       const char *name)
{
    char path[512], err[256] = "", *eid = NULL;
    json_t *want = NULL, *body, *canon = NULL, *got, *wc, *doc;
    const char *now_s, *want_assigned;
    struct tg_ticket t;
    struct tg_result r;
    struct tg_context ctx;
    int64_t now;
    int gated = -1, rc;
    size_t base = strlen(name) - strlen(SUFFIX);

    snprintf(path, sizeof path, "%s%s/%s", FIX, dir, name);
    want = load(path);
    if (!json_object_get(want, "decision")) {
        json_decref(want); /* a mapping fixture of test_jira/servicenow */
        return 0;
    }
    print_message("%s/%.*s\n", dir, (int)base, name);
    assert_non_null(json_string_value(json_object_get(want, "shape")));
    snprintf(path, sizeof path, "%s%s/%.*s.json", FIX, dir, (int)base, name);
    body = load(path);
    if (strcmp(dir, "jira") == 0)
        rc = tg_jira_map(c, body, &canon, &gated, err, sizeof err);
    else
        rc = tg_servicenow_map(c, body, &canon, &gated, &eid, err, sizeof err);
    if (rc != 0)
        fail_msg("%s: mapping failed (%d): %s", name, rc, err);
    assert_int_equal(gated, json_is_true(json_object_get(want, "gated")));
    assert_json_equal("canonical", canon, json_object_get(want, "canonical"));

    /* The decision, as the server reaches it: canonical JSON to ticket,
     * evaluated at the fixture's clock, copy-forward unknown (no store). */
    now_s = json_string_value(json_object_get(want, "now"));
    assert_non_null(now_s);
    assert_int_equal(tg_time_parse(now_s, strlen(now_s), &now), 0);
    tg_ticket_init(&t);
    tg_result_init(&r);
    assert_int_equal(tg_canonical_from_json(canon, &t, err, sizeof err), 0);
    ctx.now = now;
    ctx.copy_forward_uses = -1;
    if (gated)
        assert_int_equal(tg_evaluate(&t, &c->policy, &c->directory, &ctx, &r),
                         0);
    else
        r.verdict = TG_SKIP;
    doc = tg_decision_build(&t, dir, &r, "d-000000000001-000000", now, POLICY);
    assert_non_null(doc);
    for (size_t i = 0; i < r.findings.n; i++)
        print_message("  %s: %s\n", tg_code_info(r.findings.v[i].code)->name,
                      r.findings.v[i].message);
    assert_string_equal(json_string_value(json_object_get(doc, "decision")),
                        json_string_value(json_object_get(want, "decision")));
    got = codes_of(&r);
    wc = sorted_codes(json_object_get(want, "codes"));
    assert_json_equal("codes", got, wc);
    json_decref(got);
    json_decref(wc);
    /* ADAPTERS.md: the evidence (the decision document as sent) keeps the
     * assigned approver beside the one who acted. */
    want_assigned =
        json_string_value(json_object_get(want, "assigned_approver"));
    if (want_assigned) {
        assert_string_equal(
            json_string_value(json_object_get(doc, "assigned_approver")),
            want_assigned);
        /* ...and names who acted: the record keeps both people. */
        assert_string_equal(
            json_string_value(
                json_object_get(json_object_get(doc, "transition"), "actor")),
            json_string_value(json_object_get(
                json_object_get(json_object_get(want, "canonical"),
                                "transition"),
                "actor")));
    } else {
        assert_null(json_object_get(doc, "assigned_approver"));
        assert_null(
            json_object_get(json_object_get(doc, "transition"), "actor"));
    }

    json_decref(doc);
    tg_result_cleanup(&r);
    tg_ticket_cleanup(&t);
    free(eid);
    json_decref(canon);
    json_decref(body);
    json_decref(want);
    return 1;
}

static int has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n > m && strcmp(s + n - m, suf) == 0;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs every decision fixture of dir, in name order; returns how many. */
static int run_dir(const struct tg_config *c, const char *dir)
{
    char path[512], *names[256];
    struct dirent *e;
    size_t n = 0;
    int ran = 0;
    DIR *dp;

    snprintf(path, sizeof path, "%s%s", FIX, dir);
    dp = opendir(path);
    assert_non_null(dp);
    while ((e = readdir(dp)) && n < 256)
        if (has_suffix(e->d_name, SUFFIX))
            names[n++] = strdup(e->d_name);
    closedir(dp);
    qsort(names, n, sizeof names[0], cmp_name);
    for (size_t i = 0; i < n; i++) {
        ran += run_fixture(c, dir, names[i]);
        free(names[i]);
    }
    return ran;
}

static void test_fixtures(void **state)
{
    struct tg_config *c = NULL;
    struct tg_diag d;
    (void)state;

    tg_diag_init(&d);
    assert_int_equal(tg_config_load(EXAMPLE, &c, &d), 0);
    tg_diag_cleanup(&d);
    /* At least the shapes issue 9 names: Cloud and Data Center webhooks,
     * JSM approvals, the Forge validator's request; ServiceNow records. */
    assert_true(run_dir(c, "jira") >= 4);
    assert_true(run_dir(c, "servicenow") >= 3);
    tg_config_free(c);
}

/* ADAPTERS.md: "the assigned approver is kept in the evidence beside
 * them". The delegate fixture through the real server: the answer and the
 * record read back carry assigned_approver; the findings judge who acted. */
static void test_evidence_keeps_assigned_approver(void **state)
{
    struct tg_server s;
    struct tg_resp r, g;
    char claims[256], path[128], *pem, *tok, *auth, *gauth, *body;
    const char *id;
    json_t *doc, *rec, *f;
    size_t i;
    int sod = 0;
    long now = (long)time(NULL);
    (void)state;

    body = tg_test_read_file(FIX "servicenow/link-value-delegate.json", NULL);
    pem = tg_test_read_file(
        TG_SOURCE_DIR "/example/keys/servicenow-private-TEST-ONLY.pem", NULL);
    assert_non_null(body);
    assert_non_null(pem);
    snprintf(claims, sizeof claims,
             "{\"iss\":\"%s\",\"aud\":\"%s\",\"iat\":%ld,\"exp\":%ld,"
             "\"jti\":\"fixture-delegate-%ld\"}",
             TG_TEST_SN_ISS, TG_TEST_AUD, now, now + 120, now);
    tok = tg_test_jwt("RS256", pem, strlen(pem), claims);
    assert_non_null(tok);
    auth = tg_test_bearer_header(tok);
    free(tok);
    tok = tg_test_generic_token(NULL);
    gauth = tg_test_bearer_header(tok);
    free(tok);

    assert_int_equal(tg_test_server_prepare(&s), 0);
    assert_int_equal(tg_test_server_start(&s), 0);
    {
        const char *h[] = {"Content-Type: application/json", auth, NULL};
        assert_int_equal(tg_test_http(&s, "POST", "/v1/webhooks/servicenow", h,
                                      body, strlen(body), 0, &r),
                         0);
    }
    if (r.status != 200)
        tg_test_server_dump_log(&s);
    assert_int_equal(r.status, 200);
    doc = json_loads(r.body, 0, NULL);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "decision")),
                        "deny");
    assert_string_equal(
        json_string_value(json_object_get(doc, "assigned_approver")),
        "a1b2c3d4e5f60718293a4b5c6d7e8f90");
    /* who acted (the delegate, here the requester), beside the assigned */
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(doc, "transition"), "actor")),
                        "6816f79cc0a8016401c5a33be04be441");
    json_array_foreach(json_object_get(doc, "findings"), i, f) sod |=
        strcmp(json_string_value(json_object_get(f, "code")),
               "SOD_SELF_APPROVAL") == 0;
    assert_true(sod); /* the delegate (the requester) was judged */

    id = json_string_value(json_object_get(doc, "decision_id"));
    assert_non_null(id);
    snprintf(path, sizeof path, "/v1/decisions/%s", id);
    {
        const char *h[] = {gauth, NULL};
        assert_int_equal(tg_test_http(&s, "GET", path, h, NULL, 0, 0, &g), 0);
    }
    assert_int_equal(g.status, 200);
    rec = json_loads(g.body, 0, NULL);
    assert_non_null(rec);
    assert_true(json_equal(rec, doc));

    json_decref(rec);
    json_decref(doc);
    tg_test_resp_free(&g);
    tg_test_resp_free(&r);
    assert_int_equal(tg_test_server_stop(&s), 0);
    tg_test_server_cleanup(&s);
    free(auth);
    free(gauth);
    free(pem);
    free(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_evidence_keeps_assigned_approver),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
