/* test_metrics.c - server/metrics: exposition format, counters, histograms. */
#include <pthread.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "validators/errors.h"
#include "server/util/metrics.h"

/* Prometheus text format 0.0.4: a sample is name, optional labels with
 * escaped values, one space, a float. */
#define NAME_RE "[a-zA-Z_:][a-zA-Z0-9_:]*"
#define LABEL_RE "[a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\\n]|\\\\[\\\\\"n])*\""
#define VALUE_RE "([-+]?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?|[-+]?Inf|NaN)"
static const char sample_re[] =
    "^" NAME_RE "(\\{" LABEL_RE "(," LABEL_RE ")*\\})? " VALUE_RE "$";
static const char meta_re[] = "^# (HELP " NAME_RE " .*|TYPE " NAME_RE
                              " (counter|gauge|histogram|summary|untyped))$";

/* Not inlined: GCC 12 at -O3 then takes pointers into the text for pointers
 * to the local that received it (-Wdangling-pointer, a false positive). */
__attribute__((noinline)) static char *render(struct tg_metrics *m)
{
    char *text = NULL;
    size_t len = 0;

    assert_int_equal(tg_metrics_render(m, &text, &len), 0);
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    return text;
}

/* The value of the sample line that starts with series (name{labels}),
 * or -1 when there is none. */
static double value_of(const char *text, const char *series)
{
    size_t n = strlen(series);
    const char *p = text;

    while ((p = strstr(p, series)) != NULL) {
        if ((p == text || p[-1] == '\n') && p[n] == ' ')
            return strtod(p + n + 1, NULL);
        p += n;
    }
    return -1;
}

/* Checks every line against the format and that each sample's family was
 * declared by a TYPE line before it. Returns the number of samples. */
static int check_format(const char *text)
{
    regex_t sre, mre;
    char *copy = strdup(text), *line, *next, types[8192] = "";
    int samples = 0;

    assert_non_null(copy);
    assert_int_equal(regcomp(&sre, sample_re, REG_EXTENDED | REG_NOSUB), 0);
    assert_int_equal(regcomp(&mre, meta_re, REG_EXTENDED | REG_NOSUB), 0);
    assert_true(text[0] != '\0' && text[strlen(text) - 1] == '\n');
    for (line = copy; *line; line = next) {
        next = strchr(line, '\n');
        assert_non_null(next);
        *next++ = '\0';
        if (line[0] == '#') {
            if (regexec(&mre, line, 0, NULL, 0) != 0)
                fail_msg("bad comment line: %s", line);
            if (strncmp(line, "# TYPE ", 7) == 0) {
                size_t k = strcspn(line + 7, " ");
                size_t used = strlen(types);
                assert_true(used + k + 3 < sizeof(types));
                types[used] = ' ';
                memcpy(types + used + 1, line + 7, k);
                types[used + 1 + k] = ' ';
                types[used + 2 + k] = '\0';
            }
            continue;
        }
        if (regexec(&sre, line, 0, NULL, 0) != 0)
            fail_msg("bad sample line: %s", line);
        {
            char fam[160];
            size_t k = strcspn(line, "{ ");
            static const char *const sfx[] = {"_bucket", "_sum", "_count"};
            size_t i;
            assert_true(k + 3 < sizeof(fam));
            fam[0] = ' ';
            memcpy(fam + 1, line, k);
            fam[k + 1] = ' ';
            fam[k + 2] = '\0';
            if (!strstr(types, fam)) {
                for (i = 0; i < 3; i++) {
                    size_t sl = strlen(sfx[i]);
                    if (k > sl && memcmp(line + k - sl, sfx[i], sl) == 0) {
                        fam[k + 1 - sl] = ' ';
                        fam[k + 2 - sl] = '\0';
                        break;
                    }
                }
                if (!strstr(types, fam))
                    fail_msg("sample without TYPE: %s", line);
            }
        }
        samples++;
    }
    regfree(&sre);
    regfree(&mre);
    free(copy);
    return samples;
}

/* The route labels a server passes (server/http/router.c's table). */
static const char *const test_routes[] = {
    "/v1/check", "/v1/webhooks/jira", "/v1/webhooks/servicenow",
    "/v1/decisions/{id}", "/metrics"};
#define N_TEST_ROUTES (sizeof(test_routes) / sizeof(test_routes[0]))

static void test_render_format(void **state)
{
    struct tg_metrics *m = NULL;
    char *text;

    (void)state;
    assert_int_equal(tg_metrics_new(test_routes, N_TEST_ROUTES, &m), 0);
    /* Empty: every family still renders and parses. */
    text = render(m);
    assert_true(check_format(text) > 40);
    assert_null(strstr(text, "ticketgate_policy_info"));
    free(text);

    tg_metrics_decision(m, "jira", TG_DENY);
    tg_metrics_finding(m, TG_SOD_SELF_APPROVAL);
    tg_metrics_http_request(m, "/v1/check", 200, 0.0012);
    tg_metrics_http_request(m, "/nope", 404, 0.0001);
    tg_metrics_http_request(m, "/v1/check", 999, 0.0001);
    tg_metrics_evidence_write(m, 0.003, 1);
    tg_metrics_config_reload(m, 1);
    assert_int_equal(tg_metrics_set_policy(m, "sha256:0123abcd"), 0);
    tg_metrics_set_ready(m, 1);
    text = render(m);
    check_format(text);
    assert_true(value_of(text, "ticketgate_policy_info{digest=\"sha256:"
                               "0123abcd\"}") == 1);
    assert_true(value_of(text, "ticketgate_http_requests_total{route=\""
                               "other\",status=\"404\"}") == 1);
    assert_true(value_of(text, "ticketgate_http_requests_total{route=\""
                               "/v1/check\",status=\"other\"}") == 1);
    assert_true(value_of(text, "ticketgate_ready") == 1);
    free(text);
    tg_metrics_free(m);
}

static void test_counters_move(void **state)
{
    static const struct {
        const char *series;
        double before, after;
    } cases[] = {
        {"ticketgate_decisions_total{source=\"generic\",decision=\"allow\"}", 0,
         2},
        {"ticketgate_decisions_total{source=\"jira\",decision=\"deny\"}", 0, 1},
        {"ticketgate_decisions_total{source=\"other\",decision=\"skip\"}", 0,
         1},
        {"ticketgate_findings_total{code=\"EXPIRY_PAST\"}", 0, 3},
        {"ticketgate_retries_answered_total", 0, 1},
        {"ticketgate_http_requests_total{route=\"/v1/check\","
         "status=\"200\"}",
         -1, 2},
        {"ticketgate_http_requests_total{route=\"/v1/check\","
         "status=\"503\"}",
         -1, 1},
        {"ticketgate_evidence_write_failures_total", 0, 1},
        {"ticketgate_config_reloads_total{result=\"success\"}", 0, 2},
        {"ticketgate_config_reloads_total{result=\"failure\"}", 0, 1},
        {"ticketgate_request_duration_seconds_count", 0, 3},
        {"ticketgate_request_duration_seconds_bucket{le=\"0.001\"}", 0, 1},
        {"ticketgate_request_duration_seconds_bucket{le=\"0.005\"}", 0, 2},
        {"ticketgate_request_duration_seconds_bucket{le=\"+Inf\"}", 0, 3},
        {"ticketgate_evidence_write_duration_seconds_count", 0, 2},
        /* 0.0001 and the clamped -1 */
        {"ticketgate_evidence_write_duration_seconds_bucket{le=\"0.0005\"}", 0,
         2},
        {"ticketgate_ready", 0, 0},
    };
    struct tg_metrics *m = NULL;
    char *before, *after;
    size_t i;

    (void)state;
    assert_int_equal(tg_metrics_new(test_routes, N_TEST_ROUTES, &m), 0);
    before = render(m);

    tg_metrics_decision(m, "generic", TG_ALLOW);
    tg_metrics_decision(m, "generic", TG_ALLOW);
    tg_metrics_decision(m, "jira", TG_DENY);
    tg_metrics_decision(m, "made-up", TG_SKIP);
    tg_metrics_decision(m, NULL, (enum tg_verdict)7); /* ignored */
    for (i = 0; i < 3; i++)
        tg_metrics_finding(m, TG_EXPIRY_PAST);
    tg_metrics_finding(m, TG_CODE_COUNT); /* ignored */
    tg_metrics_retry(m);
    tg_metrics_http_request(m, "/v1/check", 200, 0.0008);
    tg_metrics_http_request(m, "/v1/check", 200, 0.004);
    tg_metrics_http_request(m, "/v1/check", 503, 30.0);
    tg_metrics_evidence_write(m, 0.0001, 1);
    tg_metrics_evidence_write(m, -1.0, 0); /* a clock step counts as 0 */
    tg_metrics_config_reload(m, 1);
    tg_metrics_config_reload(m, 1);
    tg_metrics_config_reload(m, 0);

    after = render(m);
    check_format(after);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        double b = value_of(before, cases[i].series);
        double a = value_of(after, cases[i].series);
        if (b != cases[i].before || a != cases[i].after)
            fail_msg("%s: before %g (want %g), after %g (want %g)",
                     cases[i].series, b, cases[i].before, a, cases[i].after);
    }
    /* 0.0008 + 0.004 + 30 s */
    {
        double sum = value_of(after, "ticketgate_request_duration_seconds_sum");
        assert_true(sum > 30.0047 && sum < 30.0049);
    }
    free(before);
    free(after);
    tg_metrics_free(m);
}

static void test_histogram_cumulative(void **state)
{
    static const double obs[] = {0.0001, 0.0005, 0.0006, 0.002, 0.007,
                                 0.2,    1.5,    11.0,   0.0};
    struct tg_metrics *m = NULL;
    char *text, *p;
    double prev = -1, v;
    int buckets = 0;
    size_t i;

    (void)state;
    assert_int_equal(tg_metrics_new(test_routes, N_TEST_ROUTES, &m), 0);
    for (i = 0; i < sizeof(obs) / sizeof(obs[0]); i++)
        tg_metrics_evidence_write(m, obs[i], 1);
    text = render(m);
    for (p = strstr(text, "ticketgate_evidence_write_duration_seconds_bucket");
         p; p = strstr(p + 1,
                       "ticketgate_evidence_write_duration_seconds_bucket")) {
        v = strtod(strchr(p, ' ') + 1, NULL);
        assert_true(v >= prev);
        prev = v;
        buckets++;
    }
    assert_int_equal(buckets, 15);
    assert_true(prev == 9);
    /* A bound is inclusive (le). */
    assert_true(value_of(text, "ticketgate_evidence_write_duration_seconds_"
                               "bucket{le=\"0.0005\"}") == 3);
    assert_true(value_of(text, "ticketgate_evidence_write_duration_seconds_"
                               "bucket{le=\"10\"}") == 8);
    assert_true(value_of(text, "ticketgate_evidence_write_failures_total") ==
                0);
    free(text);
    tg_metrics_free(m);
}

static void test_escape_label(void **state)
{
    static const struct {
        const char *in;
        size_t cap;
        const char *want; /* NULL: does not fit */
    } cases[] = {
        {"sha256:ab", 64, "sha256:ab"},
        {"a\"b", 64, "a\\\"b"},
        {"a\\b", 64, "a\\\\b"},
        {"a\nb", 64, "a\\nb"},
        {"", 1, ""},
        {"", 0, NULL},
        {"abc", 3, NULL},
        {"abc", 4, "abc"},
        {"\"", 2, NULL},
        {"\"", 3, "\\\""},
    };
    char out[64];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int n = tg_metrics_escape_label(cases[i].in, out, cases[i].cap);
        if (!cases[i].want) {
            assert_int_equal(n, -1);
            continue;
        }
        assert_int_equal(n, (int)strlen(cases[i].want));
        assert_string_equal(out, cases[i].want);
    }
}

static void test_policy_digest(void **state)
{
    struct tg_metrics *m = NULL;
    char *text, big[200];

    (void)state;
    assert_int_equal(tg_metrics_new(test_routes, N_TEST_ROUTES, &m), 0);
    /* A digest is ours, but escaping must hold whatever it holds. */
    assert_int_equal(tg_metrics_set_policy(m, "x\"y\\z\nw"), 0);
    text = render(m);
    check_format(text);
    assert_non_null(strstr(text, "ticketgate_policy_info{digest=\"x\\\"y\\\\z"
                                 "\\nw\"} 1\n"));
    free(text);

    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(tg_metrics_set_policy(m, big), TG_EINVAL);
    assert_int_equal(tg_metrics_set_policy(m, NULL), TG_EINVAL);
    assert_int_equal(tg_metrics_set_policy(m, "sha256:01"), 0);
    text = render(m);
    assert_true(
        value_of(text, "ticketgate_policy_info{digest=\"sha256:01\"}") == 1);
    /* Only the one in force is exposed. */
    assert_null(strstr(text, "x\\\"y"));
    free(text);
    tg_metrics_free(m);
    tg_metrics_free(NULL);
}

#define THREADS 4
#define PER_THREAD 20000

static void *hammer(void *arg)
{
    struct tg_metrics *m = arg;
    int i;

    for (i = 0; i < PER_THREAD; i++) {
        tg_metrics_decision(m, "servicenow", TG_ANNOTATE);
        tg_metrics_http_request(m, "/v1/webhooks/servicenow", 200, 0.001);
        if (i % 1000 == 0) {
            char *t = NULL;
            size_t n;
            /* Scrapes run concurrently with recording. */
            if (tg_metrics_render(m, &t, &n) == 0)
                free(t);
            tg_metrics_set_policy(m, i % 2000 ? "sha256:aa" : "sha256:bb");
        }
    }
    return NULL;
}

static void test_threads(void **state)
{
    struct tg_metrics *m = NULL;
    pthread_t th[THREADS];
    char *text;
    int i;

    (void)state;
    assert_int_equal(tg_metrics_new(test_routes, N_TEST_ROUTES, &m), 0);
    for (i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, hammer, m), 0);
    for (i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    text = render(m);
    check_format(text);
    assert_true(value_of(text, "ticketgate_decisions_total{source=\""
                               "servicenow\",decision=\"annotate\"}") ==
                THREADS * PER_THREAD);
    assert_true(value_of(text, "ticketgate_http_requests_total{route=\"/v1/"
                               "webhooks/servicenow\",status=\"200\"}") ==
                THREADS * PER_THREAD);
    assert_true(value_of(text, "ticketgate_request_duration_seconds_count") ==
                THREADS * PER_THREAD);
    free(text);
    tg_metrics_free(m);
}

/* The labels counted are the ones given, not a list inside metrics: a
 * route the server adds is counted under its own label, one not given is
 * "other", and too many labels are refused rather than cut. */
static void test_route_labels(void **state)
{
    static const char *const mine[] = {"/v1/events", "/v1/actions"};
    const char *many[TG_METRICS_ROUTES_MAX + 1];
    struct tg_metrics *m = NULL;
    char *text;
    size_t i;

    (void)state;
    for (i = 0; i < TG_METRICS_ROUTES_MAX + 1; i++)
        many[i] = "/x";
    assert_int_equal(tg_metrics_new(many, TG_METRICS_ROUTES_MAX + 1, &m),
                     TG_EINVAL);
    assert_int_equal(tg_metrics_new(mine, 2, &m), 0);
    tg_metrics_http_request(m, "/v1/actions", 200, 0.001);
    tg_metrics_http_request(m, "/v1/check", 200, 0.001);
    text = render(m);
    check_format(text);
    assert_true(value_of(text, "ticketgate_http_requests_total{route=\""
                               "/v1/actions\",status=\"200\"}") == 1);
    assert_true(value_of(text, "ticketgate_http_requests_total{route=\""
                               "other\",status=\"200\"}") == 1);
    assert_null(strstr(text, "route=\"/v1/check\""));
    free(text);
    tg_metrics_free(m);
}

/* The gauges tests and operators wait on: connections per listener and
 * requests in a handler go up and back down. */
static void test_gauges(void **state)
{
    struct tg_metrics *m = NULL;
    char *text;

    (void)state;
    assert_int_equal(tg_metrics_new(test_routes, N_TEST_ROUTES, &m), 0);
    tg_metrics_connection(m, 0, 1);
    tg_metrics_connection(m, 0, 1);
    tg_metrics_connection(m, 1, 1);
    tg_metrics_connection(m, 0, -1);
    tg_metrics_in_progress(m, 1);
    text = render(m);
    check_format(text);
    assert_true(value_of(text, "ticketgate_http_connections{listener=\"api\"}") == 1);
    assert_true(value_of(text, "ticketgate_http_connections{listener=\"admin\"}") == 1);
    assert_true(value_of(text, "ticketgate_http_requests_in_progress") == 1);
    free(text);
    tg_metrics_in_progress(m, -1);
    text = render(m);
    assert_true(value_of(text, "ticketgate_http_requests_in_progress") == 0);
    free(text);
    tg_metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_format),
        cmocka_unit_test(test_counters_move),
        cmocka_unit_test(test_histogram_cumulative),
        cmocka_unit_test(test_escape_label),
        cmocka_unit_test(test_policy_digest),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_route_labels),
        cmocka_unit_test(test_gauges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
