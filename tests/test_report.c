/* test_report.c - the walk-through through the real server: grant, expiry, lingering, revoke, lag. */
/* needs: ticketgate */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "tests/support/tg_test.h"

#define EV_SECRET "events-hmac-secret-for-report-tests-0123"

static struct tg_server S;
static char *auth;

static int setup(void **state)
{
    char *tok;
    (void)state;

    if (tg_test_server_prepare(&S) != 0 ||
        tg_test_config_replace(&S, "  generic:\n",
                               "  events:\n    hmac_secret: \"" EV_SECRET
                               "\"\n  generic:\n") != 0 ||
        tg_test_config_replace(&S, "  mode: enforce",
                               "  mode: enforce\n"
                               "  breakglass: {review_within_hours: 12}\n"
                               "  approvals: {rubber_stamp_seconds: 30}") != 0 ||
        tg_test_server_start(&S) != 0)
        return -1;
    tok = tg_test_generic_token(NULL);
    auth = tok ? tg_test_bearer_header(tok) : NULL;
    free(tok);
    return auth ? 0 : -1;
}

static int teardown(void **state)
{
    int rc;
    (void)state;

    /* A clean exit: no leak or sanitizer report from the server. */
    rc = tg_test_server_finish(&S);
    free(auth);
    return rc;
}

/* The example ticket as key id, ending `expires_in` seconds from now;
 * justification NULL removes it (a deny). */
static char *ticket(const char *id, int64_t expires_in, const char *just)
{
    json_t *t = json_load_file(
        TG_SOURCE_DIR "/example/payloads/canonical-ticket.json", 0, NULL);
    char when[32], *text;

    assert_non_null(t);
    json_object_set_new(t, "id", json_string(id));
    tg_test_rfc3339(expires_in, when, sizeof when);
    json_object_set_new(t, "expires_at", json_string(when));
    tg_test_rfc3339(-3600, when, sizeof when);
    json_object_set_new(t, "created_at", json_string(when));
    if (just)
        json_object_set_new(t, "justification", json_string(just));
    else
        json_object_del(t, "justification");
    text = json_dumps(t, JSON_COMPACT);
    json_decref(t);
    assert_non_null(text);
    return text;
}

static void check(const char *body, const char *want)
{
    const char *h[] = {"Content-Type: application/json", auth, NULL};
    struct tg_resp r;
    json_t *d;

    assert_int_equal(
        tg_test_http(&S, "POST", "/v1/check", h, body, strlen(body), 0, &r),
        0);
    assert_int_equal(r.status, 200);
    d = json_loads(r.body, 0, NULL);
    assert_non_null(d);
    if (strcmp(json_string_value(json_object_get(d, "decision")), want))
        fprintf(stderr, "%s\n", r.body);
    assert_string_equal(json_string_value(json_object_get(d, "decision")),
                        want);
    json_decref(d);
    tg_test_resp_free(&r);
}

/* How far the server's clock runs ahead of the system's (TG_CLOCK_OFFSET_S,
 * server/util/clock.h): the walk-through steps past an expiry this way
 * instead of sleeping through it; events and reports take the same time. */
static int64_t clock_off;

/* POSTs a canonical event, signed for sources.events, at the server's now. */
static void event(const char *type, const char *id, const char *ticket_id)
{
    char when[32], hex[65], sig[100], *body;
    const char *h[] = {"Content-Type: application/json", sig, NULL};
    struct tg_resp r;
    json_t *e;

    tg_test_rfc3339(clock_off, when, sizeof when);
    e = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "type", type, "time",
                  when, "identity", "bob@example.com", "system", "payments-db",
                  "entitlement", "role:refunds_ddl", "environment", "prod",
                  "source_id", id);
    assert_non_null(e);
    if (ticket_id)
        json_object_set_new(e, "ticket", json_string(ticket_id));
    body = json_dumps(e, JSON_COMPACT);
    json_decref(e);
    tg_test_hmac_sha256_hex(EV_SECRET, strlen(EV_SECRET), body, strlen(body),
                            hex);
    snprintf(sig, sizeof sig, "X-Hub-Signature: sha256=%s", hex);
    assert_int_equal(
        tg_test_http(&S, "POST", "/v1/events", h, body, strlen(body), 0, &r),
        0);
    if (r.status != 200 && r.status != 201 && r.status != 202)
        fprintf(stderr, "%ld %s\n", r.status, r.body);
    assert_true(r.status >= 200 && r.status < 300);
    tg_test_resp_free(&r);
    free(body);
}

static json_t *expirations(const char *query, long want_status)
{
    const char *h[] = {auth, NULL};
    char path[200];
    struct tg_resp r;
    json_t *out = NULL;

    snprintf(path, sizeof path, "/v1/expirations%s", query);
    assert_int_equal(tg_test_http(&S, "GET", path, h, NULL, 0, 0, &r), 0);
    if (r.status != want_status)
        fprintf(stderr, "%ld %s\n", r.status, r.body);
    assert_int_equal(r.status, want_status);
    if (want_status == 200) {
        out = json_loads(r.body, 0, NULL);
        assert_non_null(out);
    }
    tg_test_resp_free(&r);
    return out;
}

/* Runs `ticketgate report` with args; returns its exit code, output in
 * file out. */
static int report(const char *args, const char *out)
{
    char cmd[1400], now[32];
    int st;

    tg_test_rfc3339(clock_off, now, sizeof now);
    snprintf(cmd, sizeof cmd,
             "%s report -c %s --now %s %s -o %s 2>%s/report.err", TG_BINARY,
             S.config, now, args, out, S.dir);
    st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static json_t *report_json(void)
{
    char out[400];
    json_t *j;

    snprintf(out, sizeof out, "%s/report.json", S.dir);
    assert_int_equal(report("--format json", out), 0);
    j = json_load_file(out, 0, NULL);
    assert_non_null(j);
    return j;
}

static double fig(const json_t *rep, const char *a, const char *b)
{
    const json_t *v = json_object_get(json_object_get(rep, "figures"), a);
    if (b)
        v = json_object_get(v, b);
    assert_true(json_is_number(v));
    return json_number_value(v);
}

static void test_walkthrough(void **state)
{
    char *t;
    json_t *w, *x, *rep;
    double v;
    char path[400], *html;
    (void)state;

    /* An allowed ticket ending in 3 s, a denied one, and the grant. */
    t = ticket("ACC-9001", 3,
               "Migrating the refunds schema to v7 requires DDL rights on "
               "the refunds database during the change window CHG0031337.");
    check(t, "allow");
    free(t);
    t = ticket("ACC-9002", 86400, NULL);
    check(t, "deny");
    free(t);
    event("grant", "prov-1", NULL);
    /* A grant naming a ticket that was never allowed, its id markup. */
    event("grant", "prov-2", "ACC-<b>&\"x\"");

    w = expirations("?due_before=2099-01-01", 200);
    assert_int_equal(json_integer_value(json_object_get(w, "count")), 1);
    x = json_array_get(json_object_get(w, "expirations"), 0);
    assert_string_equal(json_string_value(json_object_get(x, "ticket")),
                        "ACC-9001");
    assert_true(json_is_true(json_object_get(x, "grant_seen")));
    json_decref(w);
    /* Not due yet before its end. */
    w = expirations("", 200);
    assert_int_equal(json_integer_value(json_object_get(w, "count")), 0);
    json_decref(w);

    /* Let it expire: the same server and store, its clock 4 s ahead. */
    assert_int_equal(tg_test_server_stop(&S), 0);
    clock_off = 4;
    assert_int_equal(setenv("TG_CLOCK_OFFSET_S", "4", 1), 0);
    assert_int_equal(tg_test_server_start(&S), 0);
    assert_int_equal(unsetenv("TG_CLOCK_OFFSET_S"), 0);
    /* Lingering, in the metrics and the report. */
    v = tg_test_metric(&S, "ticketgate_access_lingering");
    assert_true(v == 1.0);
    assert_true(tg_test_metric(&S, "ticketgate_unticketed_grants_total") ==
                1.0);
    rep = report_json();
    assert_int_equal((int)fig(rep, "lingering", NULL), 1);
    assert_int_equal((int)fig(rep, "unticketed_grants", NULL), 1);
    assert_int_equal((int)fig(rep, "denied", NULL), 1);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(rep, "settings"),
                                           "review_within_hours")),
        12);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(rep, "settings"),
                                           "rubber_stamp_seconds")),
        30);
    json_decref(rep);

    /* The revoke: off the work list, a lag of a few seconds. */
    event("revoke", "prov-3", NULL);
    w = expirations("?due_before=2099-01-01", 200);
    assert_int_equal(json_integer_value(json_object_get(w, "count")), 0);
    json_decref(w);
    rep = report_json();
    assert_int_equal((int)fig(rep, "lingering", NULL), 0);
    assert_int_equal((int)fig(rep, "revocation_lag", "count"), 1);
    v = fig(rep, "revocation_lag", "median_seconds");
    assert_true(v >= 0 && v < 60);
    json_decref(rep);

    /* Text and HTML; every value from a ticket escaped. */
    snprintf(path, sizeof path, "%s/report.txt", S.dir);
    assert_int_equal(report("--format text", path), 0);
    snprintf(path, sizeof path, "%s/report.html", S.dir);
    assert_int_equal(report("--format html", path), 0);
    html = tg_test_read_file(path, NULL);
    assert_non_null(html);
    assert_non_null(strstr(html, "ACC-&lt;b&gt;&amp;&quot;x&quot;"));
    assert_null(strstr(html, "ACC-<b>"));
    assert_null(strstr(html, "<script"));
    assert_non_null(strstr(html, "id=\"chart-lag\""));
    assert_non_null(strstr(html, "id=\"chart-denies\""));
    /* Kept beside the binary for the Chromium check
     * (tests/report_chromium.py, ctest report_chromium). */
    {
        const char *slash = strrchr(TG_BINARY, '/');
        FILE *f;
        snprintf(path, sizeof path, "%.*s/report-walkthrough.html",
                 slash ? (int)(slash - TG_BINARY) : 1,
                 slash ? TG_BINARY : ".");
        f = fopen(path, "w");
        assert_non_null(f);
        fputs(html, f);
        fclose(f);
    }
    free(html);
}

static void test_expirations_refusals(void **state)
{
    const char *none[] = {NULL};
    struct tg_resp r;
    json_t *w;
    (void)state;

    assert_int_equal(
        tg_test_http(&S, "GET", "/v1/expirations", none, NULL, 0, 0, &r), 0);
    assert_int_equal(r.status, 401);
    tg_test_resp_free(&r);
    assert_null(expirations("?due_before=yesterday", 400));
    assert_null(expirations("?due_before=", 400));
    assert_null(expirations("?limit=0", 400));
    assert_null(expirations("?limit=10001", 400));
    w = expirations("?due_before=2099-01-01T00:00:00Z&limit=1", 200);
    assert_non_null(json_object_get(w, "expirations"));
    json_decref(w);
}

static void test_report_usage(void **state)
{
    char out[400];
    (void)state;

    snprintf(out, sizeof out, "%s/x", S.dir);
    assert_int_equal(report("", out), 2);
    assert_int_equal(report("--format pdf", out), 2);
    assert_int_equal(report("--format json --since tomorrow", out), 2);
    assert_int_equal(
        report("--format json --since 2026-02-01 --until 2026-01-01", out),
        2);
    assert_int_equal(report("--format json", "/nonexistent/dir/x"), 2);
    assert_int_equal(report("--format json --limit 0", out), 2);
    assert_int_equal(report("--format json --limit x", out), 2);
    assert_int_equal(report("--format json --limit 1", out), 0);
    {
        /* a store that is not there: exit 2, nothing created */
        char cfg[400], cmd[1600], missing[400], *text;
        FILE *f;
        int st;
        snprintf(cfg, sizeof cfg, "%s/missing.yaml", S.dir);
        snprintf(missing, sizeof missing, "%s/no-such-store.db", S.dir);
        text = tg_test_read_file(S.config, NULL);
        assert_non_null(text);
        f = fopen(cfg, "w");
        assert_non_null(f);
        {
            char *p = strstr(text, "./data/ticketgate.db");
            assert_non_null(p);
            fprintf(f, "%.*s%s%s", (int)(p - text), text, missing,
                    p + strlen("./data/ticketgate.db"));
        }
        fclose(f);
        free(text);
        snprintf(cmd, sizeof cmd,
                 "%s report -c %s --format json -o %s 2>/dev/null", TG_BINARY,
                 cfg, out);
        st = system(cmd);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 2);
        assert_int_equal(access(missing, F_OK), -1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_walkthrough),
        cmocka_unit_test(test_expirations_refusals),
        cmocka_unit_test(test_report_usage),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
