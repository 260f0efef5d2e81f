/* test_log.c - server/log: JSON records, escaping, levels, no secrets. */
/* needs: ticketgate */
#include <fcntl.h>
#include <pthread.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "server/util/log.h"
#include "tests/support/tg_test.h"

/* ------------------------------------------------ capturing stderr */

static char capture_path[64];
static int saved_stderr = -1;

static void capture_start(void)
{
    int fd;

    snprintf(capture_path, sizeof(capture_path), "/tmp/tglog-XXXXXX");
    fd = mkstemp(capture_path);
    assert_true(fd >= 0);
    fflush(stderr);
    saved_stderr = dup(STDERR_FILENO);
    assert_true(saved_stderr >= 0);
    assert_true(dup2(fd, STDERR_FILENO) >= 0);
    close(fd);
}

/* Restores stderr; returns what was written (caller frees). */
static char *capture_end(void)
{
    char *text;

    fflush(stderr);
    assert_true(dup2(saved_stderr, STDERR_FILENO) >= 0);
    close(saved_stderr);
    saved_stderr = -1;
    text = tg_test_read_file(capture_path, NULL);
    unlink(capture_path);
    assert_non_null(text);
    return text;
}

/* Each line of text as a JSON object, checked for the common fields; the
 * caller frees the array with json_decref. */
static json_t *parse_lines(const char *text)
{
    static const char time_re[] =
        "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$";
    json_t *all = json_array();
    const char *p = text;
    regex_t re;

    assert_int_equal(regcomp(&re, time_re, REG_EXTENDED | REG_NOSUB), 0);
    while (*p) {
        const char *nl = strchr(p, '\n');
        json_error_t err;
        json_t *o;
        const char *lvl;

        assert_non_null(nl); /* every record ends its line */
        o = json_loadb(p, (size_t)(nl - p), 0, &err);
        if (!o || !json_is_object(o))
            fail_msg("not a JSON object (%s): %.*s", err.text, (int)(nl - p),
                     p);
        assert_true(json_is_string(json_object_get(o, "time")));
        assert_int_equal(regexec(&re,
                                 json_string_value(json_object_get(o, "time")),
                                 0, NULL, 0),
                         0);
        lvl = json_string_value(json_object_get(o, "level"));
        assert_non_null(lvl);
        assert_true(strcmp(lvl, "debug") == 0 || strcmp(lvl, "info") == 0 ||
                    strcmp(lvl, "warn") == 0 || strcmp(lvl, "error") == 0);
        assert_true(json_is_string(json_object_get(o, "event")));
        json_array_append_new(all, o);
        p = nl + 1;
    }
    regfree(&re);
    return all;
}

static const char *get(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* ------------------------------------------------------ unit tests */

static void test_event_record(void **state)
{
    json_t *lines, *o;
    char *text;

    (void)state;
    tg_log_set_level("info");
    capture_start();
    tg_log_event(TG_LOG_INFO, "reload", "configuration reloaded: policy %s",
                 "sha256:ab");
    tg_log_write(TG_LOG_ERROR, "plain %d", 7);
    tg_log_event(TG_LOG_DEBUG, "noise", "not written at info");
    text = capture_end();
    lines = parse_lines(text);
    assert_int_equal(json_array_size(lines), 2);
    o = json_array_get(lines, 0);
    assert_string_equal(get(o, "level"), "info");
    assert_string_equal(get(o, "event"), "reload");
    assert_string_equal(get(o, "msg"), "configuration reloaded: policy "
                                       "sha256:ab");
    o = json_array_get(lines, 1);
    assert_string_equal(get(o, "level"), "error");
    assert_string_equal(get(o, "event"), "message");
    assert_string_equal(get(o, "msg"), "plain 7");
    json_decref(lines);
    free(text);
}

static void test_levels(void **state)
{
    static const struct {
        const char *name;
        int debug, info, warn, error;
    } cases[] = {
        {"debug", 1, 1, 1, 1}, {"info", 0, 1, 1, 1}, {"warn", 0, 0, 1, 1},
        {"error", 0, 0, 0, 1}, {"loud", 0, 1, 1, 1}, {NULL, 0, 1, 1, 1},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *lines;
        char *text;
        size_t want = (size_t)(cases[i].debug + cases[i].info + cases[i].warn +
                               cases[i].error);

        tg_log_set_level(cases[i].name);
        assert_int_equal(tg_log_enabled(TG_LOG_DEBUG), cases[i].debug);
        assert_int_equal(tg_log_enabled(TG_LOG_INFO), cases[i].info);
        assert_int_equal(tg_log_enabled(TG_LOG_WARN), cases[i].warn);
        assert_int_equal(tg_log_enabled(TG_LOG_ERROR), cases[i].error);
        capture_start();
        tg_log_event(TG_LOG_DEBUG, "e", "d");
        tg_log_event(TG_LOG_INFO, "e", "i");
        tg_log_event(TG_LOG_WARN, "e", "w");
        tg_log_event(TG_LOG_ERROR, "e", "x");
        text = capture_end();
        lines = parse_lines(text);
        assert_int_equal(json_array_size(lines), want);
        json_decref(lines);
        free(text);
    }
    tg_log_set_level("info");
}

/* Untrusted bytes in a field: the record stays one valid JSON line (jansson
 * refuses invalid UTF-8, so parsing is the check) and says what it can. */
static void test_escaping(void **state)
{
    static const struct {
        const char *in;
        const char *want; /* the decoded value; NULL: only "it parses" */
    } cases[] = {
        {"plain", "plain"},
        {"quote\" backslash\\ slash/", "quote\" backslash\\ slash/"},
        {"new\nline\r\tand\x01 ctl\x7f", "new\nline\r\tand\x01 ctl\x7f"},
        {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91",
         "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91"},
        {"bad \xff byte", "bad \xef\xbf\xbd byte"},
        {"overlong \xc0\xaf", "overlong \xef\xbf\xbd\xef\xbf\xbd"},
        {"surrogate \xed\xa0\x80", NULL},
        {"cut \xe2\x82", "cut \xef\xbf\xbd\xef\xbf\xbd"},
        {"{\"event\":\"forged\"}\n{\"x\":1}",
         "{\"event\":\"forged\"}\n{\"x\":1}"},
    };
    size_t i;

    (void)state;
    tg_log_set_level("info");
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tg_log_request r = {0};
        json_t *lines, *o;
        char *text;

        r.path = cases[i].in;
        r.ticket = cases[i].in;
        r.status = 200;
        capture_start();
        tg_log_request(TG_LOG_INFO, &r);
        tg_log_event(TG_LOG_INFO, "e", "%s", cases[i].in);
        text = capture_end();
        lines = parse_lines(text);
        assert_int_equal(json_array_size(lines), 2);
        o = json_array_get(lines, 0);
        assert_string_equal(get(o, "event"), "request");
        if (cases[i].want) {
            assert_string_equal(get(o, "path"), cases[i].want);
            assert_string_equal(get(o, "ticket"), cases[i].want);
            assert_string_equal(get(json_array_get(lines, 1), "msg"),
                                cases[i].want);
        }
        json_decref(lines);
        free(text);
    }
}

static void test_request_record(void **state)
{
    static const char *const codes[] = {"SOD_SELF_APPROVAL", "EXPIRY_PAST"};
    struct tg_log_request r = {
        .remote = "10.1.2.3",
        .method = "POST",
        .path = "/v1/webhooks/jira",
        .status = 200,
        .ticket = "ACC-1",
        .decision = "deny",
        .codes = codes,
        .n_codes = 2,
        .decision_id = "d-000000000001-abcdef",
        .delivery_id = "wh-1",
        .note = NULL,
        .duration_ms = 1.25,
    };
    struct tg_log_request bare = {
        .method = "GET", .path = "/x", .status = 404, .duration_ms = -3};
    json_t *lines, *o, *c;
    char *text;

    (void)state;
    tg_log_set_level("info");
    capture_start();
    tg_log_request(TG_LOG_INFO, &r);
    tg_log_request(TG_LOG_WARN, &bare);
    text = capture_end();
    lines = parse_lines(text);
    assert_int_equal(json_array_size(lines), 2);
    o = json_array_get(lines, 0);
    assert_string_equal(get(o, "remote"), "10.1.2.3");
    assert_string_equal(get(o, "method"), "POST");
    assert_string_equal(get(o, "path"), "/v1/webhooks/jira");
    assert_int_equal(json_integer_value(json_object_get(o, "status")), 200);
    assert_string_equal(get(o, "ticket"), "ACC-1");
    assert_string_equal(get(o, "decision"), "deny");
    assert_string_equal(get(o, "decision_id"), "d-000000000001-abcdef");
    assert_string_equal(get(o, "delivery_id"), "wh-1");
    assert_null(json_object_get(o, "note"));
    c = json_object_get(o, "codes");
    assert_int_equal(json_array_size(c), 2);
    assert_string_equal(json_string_value(json_array_get(c, 1)), "EXPIRY_PAST");
    assert_true(json_real_value(json_object_get(o, "duration_ms")) == 1.25);
    o = json_array_get(lines, 1);
    assert_string_equal(get(o, "level"), "warn");
    assert_null(json_object_get(o, "ticket"));
    assert_null(json_object_get(o, "codes"));
    assert_null(json_object_get(o, "remote"));
    assert_true(json_number_value(json_object_get(o, "duration_ms")) == 0);
    json_decref(lines);
    free(text);
}

/* A huge value is cut to its field's maximum, the record stays one line. */
static void test_long_values(void **state)
{
    size_t n = 100000;
    char *big = malloc(n + 1);
    const char *codes[64];
    struct tg_log_request r = {0};
    json_t *lines, *o;
    char *text;
    size_t i;

    (void)state;
    assert_non_null(big);
    memset(big, 'a', n);
    big[n] = '\0';
    /* A multi-byte character straddling the cut must not leave half of it. */
    memcpy(big + TG_LOG_FIELD_MAX - 1, "\xc3\xa9", 2);
    for (i = 0; i < 64; i++)
        codes[i] = "JUSTIFICATION_COPY_FORWARD";
    r.path = big;
    r.ticket = big;
    r.delivery_id = big;
    r.codes = codes;
    r.n_codes = 64;
    r.status = 200;
    tg_log_set_level("info");
    capture_start();
    tg_log_request(TG_LOG_INFO, &r);
    tg_log_event(TG_LOG_ERROR, "e", "%s", big);
    text = capture_end();
    lines = parse_lines(text);
    assert_int_equal(json_array_size(lines), 2);
    o = json_array_get(lines, 0);
    assert_true(strlen(get(o, "path")) <= TG_LOG_FIELD_MAX + 2);
    assert_int_equal(json_array_size(json_object_get(o, "codes")), 64);
    assert_true(strlen(get(json_array_get(lines, 1), "msg")) < 4096);
    assert_true(strlen(text) < 16384);
    json_decref(lines);
    free(text);
    free(big);
}

#define WRITERS 4
#define RECORDS 500

static void *writer(void *arg)
{
    static const char *const codes[] = {"OWNER_UNKNOWN"};
    struct tg_log_request r = {.method = "POST",
                               .path = "/v1/check",
                               .status = 200,
                               .ticket = arg,
                               .codes = codes,
                               .n_codes = 1};
    int i;

    for (i = 0; i < RECORDS; i++) {
        tg_log_request(TG_LOG_INFO, &r);
        tg_log_event(TG_LOG_WARN, "e", "%s %d", (const char *)arg, i);
    }
    return NULL;
}

/* Records from threads never interleave. */
static void test_threads(void **state)
{
    static const char *const names[WRITERS] = {"T-1", "T-2", "T-3", "T-4"};
    pthread_t th[WRITERS];
    json_t *lines;
    char *text;
    int i;

    (void)state;
    tg_log_set_level("info");
    capture_start();
    for (i = 0; i < WRITERS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, writer, (void *)names[i]),
                         0);
    for (i = 0; i < WRITERS; i++)
        pthread_join(th[i], NULL);
    text = capture_end();
    lines = parse_lines(text);
    assert_int_equal(json_array_size(lines), WRITERS * RECORDS * 2);
    json_decref(lines);
    free(text);
}

/* --------------------------------------------------- the real server */

/* The server's log: every line a JSON record; the requests carry ticket,
 * decision, codes, ids and duration; no credential or body appears. */
static void test_server_log(void **state)
{
    struct tg_server s;
    struct tg_resp r;
    char *tok, *auth, *text, *log, exp[32], created[32], sig[128];
    char hex[65], *jbody;
    const char *hdrs[3], *jh[4];
    json_t *lines, *o, *check = NULL, *jira = NULL;
    size_t i, jlen;

    (void)state;
    assert_int_equal(tg_test_server_prepare(&s), 0);
    assert_int_equal(tg_test_server_start(&s), 0);

    /* A ticket the requester approved: deny with SOD codes. */
    {
        json_error_t err;
        json_t *t = json_load_file(
            TG_SOURCE_DIR "/example/payloads/canonical-ticket.json", 0, &err);
        assert_non_null(t);
        tg_test_rfc3339(2 * 86400, exp, sizeof(exp));
        tg_test_rfc3339(-3600, created, sizeof(created));
        json_object_set_new(t, "expires_at", json_string(exp));
        json_object_set_new(t, "created_at", json_string(created));
        json_object_set_new(t, "approver", json_string("bob@example.com"));
        text = json_dumps(t, JSON_COMPACT);
        json_decref(t);
        assert_non_null(text);
    }

    tok = tg_test_generic_token("jti-log-test-1");
    auth = tg_test_bearer_header(tok);
    hdrs[0] = "Content-Type: application/json";
    hdrs[1] = auth;
    hdrs[2] = NULL;
    assert_int_equal(
        tg_test_http(&s, "POST", "/v1/check", hdrs, text, strlen(text), 0, &r),
        0);
    assert_int_equal(r.status, 200);
    tg_test_resp_free(&r);

    jbody = tg_test_read_file(
        TG_SOURCE_DIR "/example/payloads/jira-cloud-webhook.json", &jlen);
    assert_non_null(jbody);
    tg_test_hmac_sha256_hex(TG_TEST_JIRA_SECRET, strlen(TG_TEST_JIRA_SECRET),
                            jbody, jlen, hex);
    snprintf(sig, sizeof(sig), "X-Hub-Signature: sha256=%s", hex);
    jh[0] = "Content-Type: application/json";
    jh[1] = sig;
    jh[2] = "X-Atlassian-Webhook-Identifier: wh-log-test-1";
    jh[3] = NULL;
    assert_int_equal(
        tg_test_http(&s, "POST", "/v1/webhooks/jira", jh, jbody, jlen, 0, &r),
        0);
    assert_int_equal(r.status, 200);
    tg_test_resp_free(&r);
    /* A refused credential is logged without it. */
    jh[1] = "X-Hub-Signature: sha256=00";
    assert_int_equal(
        tg_test_http(&s, "POST", "/v1/webhooks/jira", jh, jbody, jlen, 0, &r),
        0);
    assert_int_equal(r.status, 401);
    tg_test_resp_free(&r);
    assert_int_equal(tg_test_server_stop(&s), 0);

    log = tg_test_read_file(s.log, NULL);
    assert_non_null(log);
    lines = parse_lines(log);
    for (i = 0; i < json_array_size(lines); i++) {
        o = json_array_get(lines, i);
        if (strcmp(get(o, "event"), "request") != 0 || !get(o, "path"))
            continue;
        if (strcmp(get(o, "path"), "/v1/check") == 0)
            check = o;
        else if (strcmp(get(o, "path"), "/v1/webhooks/jira") == 0 &&
                 json_integer_value(json_object_get(o, "status")) == 200)
            jira = o;
    }
    if (!check || !jira) {
        tg_test_server_dump_log(&s);
        fail_msg("request records missing");
    }
    assert_string_equal(get(check, "ticket"), "ACC-4410");
    assert_string_equal(get(check, "decision"), "deny");
    assert_string_equal(get(check, "delivery_id"), "jti-log-test-1");
    assert_string_equal(get(check, "remote"), "127.0.0.1");
    assert_non_null(get(check, "decision_id"));
    assert_true(json_array_size(json_object_get(check, "codes")) >= 1);
    assert_true(json_is_number(json_object_get(check, "duration_ms")));
    assert_string_equal(get(jira, "delivery_id"), "wh-log-test-1");
    assert_non_null(get(jira, "decision"));
    assert_string_equal(get(json_array_get(lines, 0), "event"), "listen");

    /* Never a credential, a secret or a body. */
    assert_null(strstr(log, tok));
    assert_null(strstr(log, strchr(tok, '.') + 1));
    assert_null(strstr(log, TG_TEST_GENERIC_SECRET));
    assert_null(strstr(log, TG_TEST_JIRA_SECRET));
    assert_null(strstr(log, hex));
    assert_null(strstr(log, "Migrating the refunds schema"));
    assert_null(strstr(log, "Bearer"));

    json_decref(lines);
    free(log);
    free(jbody);
    free(text);
    free(auth);
    free(tok);
    tg_test_server_cleanup(&s);
}

/* server.log_level: warn keeps successful requests out of the log. */
static void test_server_log_level(void **state)
{
    struct tg_server s;
    struct tg_resp r;
    char *log;

    (void)state;
    assert_int_equal(tg_test_server_prepare(&s), 0);
    assert_int_equal(tg_test_config_replace(&s, "  threads: 16",
                                            "  threads: 16\n"
                                            "  log_level: warn"),
                     0);
    assert_int_equal(tg_test_server_start(&s), 0);
    assert_int_equal(
        tg_test_http(&s, "GET", "/v1/nothing", NULL, NULL, 0, 0, &r), 0);
    assert_int_equal(r.status, 404);
    tg_test_resp_free(&r);
    assert_int_equal(tg_test_server_stop(&s), 0);
    log = tg_test_read_file(s.log, NULL);
    assert_non_null(log);
    assert_null(strstr(log, "\"level\":\"info\""));
    assert_null(strstr(log, "/v1/nothing"));
    free(log);
    tg_test_server_cleanup(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_record),
        cmocka_unit_test(test_levels),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_request_record),
        cmocka_unit_test(test_long_values),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_server_log),
        cmocka_unit_test(test_server_log_level),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
