/* test_server.c - the real server over HTTP: every status code of API.md. */
/* needs: ticketgate */
#include <setjmp.h>
#include <signal.h>
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
#include <pthread.h>
#include <sqlite3.h>

#include "tests/support/tg_test.h"

static struct tg_server S;
static json_t *tmpl; /* example/payloads/canonical-ticket.json */
static char *auth;   /* a valid Authorization header for sources.generic */
static const char *const ctype = "Content-Type: application/json";

/* Every 200 decision and every error body seen, checked against schemas/
 * at the end. */
static FILE *decisions_log, *errors_log;

static int setup(void **state)
{
    json_error_t err;
    char path[512], *tok;
    (void)state;

    tmpl = json_load_file(
        TG_SOURCE_DIR "/example/payloads/canonical-ticket.json", 0, &err);
    if (!tmpl || tg_test_server_prepare(&S) != 0 ||
        tg_test_server_start(&S) != 0)
        return -1;
    tok = tg_test_generic_token(NULL);
    auth = tok ? tg_test_bearer_header(tok) : NULL;
    free(tok);
    snprintf(path, sizeof(path), "%s/decisions.jsonl", S.dir);
    decisions_log = fopen(path, "w");
    snprintf(path, sizeof(path), "%s/errors.jsonl", S.dir);
    errors_log = fopen(path, "w");
    return auth && decisions_log && errors_log ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    if (decisions_log)
        fclose(decisions_log);
    if (errors_log)
        fclose(errors_log);
    tg_test_server_cleanup(&S);
    json_decref(tmpl);
    free(auth);
    return 0;
}

/* The example ticket, due in 3 days and raised yesterday (it must be allow
 * against the live clock), with the given keys set: pairs of key and a new
 * json_t reference (NULL removes the key), ended by a NULL key. */
static char *ticket_with(const char *key, ...)
{
    json_t *t = json_deep_copy(tmpl);
    char when[32];
    char *text;
    va_list ap;

    assert_non_null(t);
    tg_test_rfc3339(3 * 86400, when, sizeof(when));
    json_object_set_new(t, "expires_at", json_string(when));
    tg_test_rfc3339(-86400, when, sizeof(when));
    json_object_set_new(t, "created_at", json_string(when));
    va_start(ap, key);
    while (key) {
        json_t *v = va_arg(ap, json_t *);
        if (v)
            json_object_set_new(t, key, v);
        else
            json_object_del(t, key);
        key = va_arg(ap, const char *);
    }
    va_end(ap);
    text = json_dumps(t, JSON_COMPACT);
    json_decref(t);
    assert_non_null(text);
    return text;
}

static void log_body(FILE *f, const struct tg_resp *r)
{
    fwrite(r->body, 1, r->body_len, f);
    fputc('\n', f);
    fflush(f);
}

/* POST /v1/check with the given Authorization header line (NULL: none) and
 * Content-Type line (NULL: none). */
static void post(const char *path, const char *authz, const char *ct,
                 const char *body, size_t len, int flags, struct tg_resp *r)
{
    const char *h[4];
    size_t n = 0;
    if (ct)
        h[n++] = ct;
    if (authz)
        h[n++] = authz;
    h[n] = NULL;
    assert_int_equal(tg_test_http(&S, "POST", path, h, body, len, flags, r), 0);
}

static void check(const char *body, struct tg_resp *r)
{
    post("/v1/check", auth, ctype, body, strlen(body), 0, r);
}

/* The decision document of a 200 answer. */
static json_t *decision_of(const struct tg_resp *r)
{
    json_error_t err;
    json_t *d;
    if (r->status != 200) {
        fprintf(stderr, "status %ld body %s\n", r->status, r->body);
        tg_test_server_dump_log(&S);
    }
    assert_int_equal(r->status, 200);
    d = json_loadb(r->body, r->body_len, 0, &err);
    assert_non_null(d);
    log_body(decisions_log, r);
    return d;
}

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    assert_non_null(s);
    return s;
}

/* An error answer: the status, the code, a message, JSON content type. */
static void expect_error(const struct tg_resp *r, long status, const char *code)
{
    json_error_t err;
    json_t *e;
    char *ct;

    if (r->status != status) {
        fprintf(stderr, "want %ld %s, got %ld: %s\n", status, code, r->status,
                r->body);
        tg_test_server_dump_log(&S);
    }
    assert_int_equal(r->status, status);
    ct = tg_test_resp_header(r, "Content-Type");
    assert_non_null(ct);
    assert_string_equal(ct, "application/json");
    free(ct);
    e = json_loadb(r->body, r->body_len, 0, &err);
    assert_non_null(e);
    assert_string_equal(str(e, "error"), code);
    assert_true(strlen(str(e, "message")) > 10);
    json_decref(e);
    log_body(errors_log, r);
}

/* ------------------------------------------------------------- probes */

static void test_healthz_readyz(void **state)
{
    struct tg_resp r;
    (void)state;

    assert_int_equal(tg_test_http(&S, "GET", "/healthz", NULL, NULL, 0, 0, &r),
                     0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"status\":\"ok\"}");
    tg_test_resp_free(&r);
    assert_int_equal(tg_test_http(&S, "GET", "/readyz", NULL, NULL, 0, 0, &r),
                     0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"status\":\"ready\"}");
    tg_test_resp_free(&r);
    assert_int_equal(tg_test_http(&S, "GET", "/metrics", NULL, NULL, 0, 0, &r),
                     0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "ticketgate_http_requests_total"));
    assert_non_null(strstr(r.body, "ticketgate_ready 1"));
    tg_test_resp_free(&r);
}

/* ---------------------------------------------------------- decisions */

static void test_check_allow_and_read_back(void **state)
{
    struct tg_resp r, g;
    char *body = ticket_with(NULL), path[128], *h[2];
    json_t *d, *got, *list;
    size_t i;
    int found = 0;
    (void)state;

    check(body, &r);
    d = decision_of(&r);
    assert_string_equal(str(d, "decision"), "allow");
    assert_string_equal(str(d, "ticket"), "ACC-4410");
    assert_string_equal(str(d, "source"), "generic");
    assert_string_equal(str(d, "message"), "");
    assert_int_equal(json_array_size(json_object_get(d, "findings")), 0);
    assert_true(json_is_false(json_object_get(d, "dry_run")));
    assert_int_equal(strncmp(str(d, "policy"), "sha256:", 7), 0);
    assert_int_equal(strncmp(str(d, "decision_id"), "d-", 2), 0);

    /* The record is readable by id, as it was sent. */
    h[0] = auth;
    h[1] = NULL;
    snprintf(path, sizeof(path), "/v1/decisions/%s", str(d, "decision_id"));
    assert_int_equal(
        tg_test_http(&S, "GET", path, (const char *const *)h, NULL, 0, 0, &g),
        0);
    assert_int_equal(g.status, 200);
    got = json_loads(g.body, 0, NULL);
    assert_true(json_equal(got, d));
    json_decref(got);
    tg_test_resp_free(&g);

    /* And listed under its ticket. */
    assert_int_equal(tg_test_http(&S, "GET", "/v1/decisions?ticket=ACC-4410",
                                  (const char *const *)h, NULL, 0, 0, &g),
                     0);
    assert_int_equal(g.status, 200);
    list = json_loads(g.body, 0, NULL);
    assert_non_null(list);
    for (i = 0; i < json_array_size(json_object_get(list, "decisions")); i++) {
        json_t *e = json_array_get(json_object_get(list, "decisions"), i);
        const char *id = json_string_value(json_object_get(e, "decision_id"));
        if (id && strcmp(id, str(d, "decision_id")) == 0)
            found = 1;
    }
    assert_true(found);
    json_decref(list);
    tg_test_resp_free(&g);

    /* An unknown id and a malformed one are 404. */
    assert_int_equal(tg_test_http(&S, "GET",
                                  "/v1/decisions/d-999999999999-abcdef",
                                  (const char *const *)h, NULL, 0, 0, &g),
                     0);
    expect_error(&g, 404, "not_found");
    tg_test_resp_free(&g);
    assert_int_equal(tg_test_http(&S, "GET", "/v1/decisions/%27%22%3B",
                                  (const char *const *)h, NULL, 0, 0, &g),
                     0);
    expect_error(&g, 404, "not_found");
    tg_test_resp_free(&g);
    /* Reading decisions needs the same credential as /v1/check. */
    assert_int_equal(tg_test_http(&S, "GET", path, NULL, NULL, 0, 0, &g), 0);
    expect_error(&g, 401, "unauthenticated");
    tg_test_resp_free(&g);

    json_decref(d);
    tg_test_resp_free(&r);
    free(body);
}

static void test_check_deny(void **state)
{
    struct tg_resp r;
    /* bob approving his own request. */
    char *body = ticket_with("approver", json_string("bob@example.com"), NULL);
    json_t *d, *f;
    size_t i;
    int self = 0;
    (void)state;

    check(body, &r);
    d = decision_of(&r);
    assert_string_equal(str(d, "decision"), "deny");
    f = json_object_get(d, "findings");
    for (i = 0; i < json_array_size(f); i++)
        if (strcmp(str(json_array_get(f, i), "code"), "SOD_SELF_APPROVAL") == 0)
            self = 1;
    assert_true(self);
    assert_true(strlen(str(d, "message")) > 0);
    json_decref(d);
    tg_test_resp_free(&r);
    free(body);
}

static void test_check_skip_not_recorded(void **state)
{
    struct tg_resp r, g;
    char *body = ticket_with("kind", json_string("incident"), NULL), path[96];
    const char *h[] = {auth, NULL};
    json_t *d;
    (void)state;

    check(body, &r);
    d = decision_of(&r);
    assert_string_equal(str(d, "decision"), "skip");
    snprintf(path, sizeof(path), "/v1/decisions/%s", str(d, "decision_id"));
    assert_int_equal(tg_test_http(&S, "GET", path, h, NULL, 0, 0, &g), 0);
    expect_error(&g, 404, "not_found");
    tg_test_resp_free(&g);
    json_decref(d);
    tg_test_resp_free(&r);
    free(body);
}

/* The same justification on earlier tickets with other ids (REASONS.md). */
static void test_check_copy_forward(void **state)
{
    static const char *const ids[] = {"CF-1", "CF-2", "CF-3"};
    const char *just =
        "Quarterly ledger reconciliation for audit finding AF-8812 needs "
        "read access to the settlement tables.";
    size_t i;
    (void)state;

    for (i = 0; i < 3; i++) {
        struct tg_resp r;
        char *body = ticket_with("id", json_string(ids[i]), "justification",
                                 json_string(just), NULL);
        json_t *d, *f;
        check(body, &r);
        d = decision_of(&r);
        f = json_object_get(d, "findings");
        if (i < 2) {
            assert_string_equal(str(d, "decision"), "allow");
        } else {
            assert_string_equal(str(d, "decision"), "annotate");
            assert_int_equal(json_array_size(f), 1);
            assert_string_equal(str(json_array_get(f, 0), "code"),
                                "JUSTIFICATION_COPY_FORWARD");
        }
        json_decref(d);
        tg_test_resp_free(&r);
        free(body);
    }
}

static void test_check_charset_param(void **state)
{
    struct tg_resp r;
    char *body = ticket_with(NULL);
    json_t *d;
    (void)state;

    post("/v1/check", auth, "Content-Type: Application/JSON; charset=utf-8",
         body, strlen(body), 0, &r);
    d = decision_of(&r);
    json_decref(d);
    tg_test_resp_free(&r);
    free(body);
}

/* ---------------------------------------------------- delivery ids */

static void test_replay(void **state)
{
    struct tg_resp r1, r2, r3;
    char *tok = tg_test_generic_token("delivery-42"), *hdr;
    char *a = ticket_with(NULL);
    char *b = ticket_with("owner", json_string("dave@example.com"), NULL);
    json_t *d1, *d2;
    (void)state;

    hdr = tg_test_bearer_header(tok);
    post("/v1/check", hdr, ctype, a, strlen(a), 0, &r1);
    d1 = decision_of(&r1);
    /* A retry: the same decision, not a second one. */
    post("/v1/check", hdr, ctype, a, strlen(a), 0, &r2);
    d2 = decision_of(&r2);
    assert_string_equal(str(d1, "decision_id"), str(d2, "decision_id"));
    assert_memory_equal(r1.body, r2.body, r1.body_len);
    /* The same id with another body is a replay. */
    post("/v1/check", hdr, ctype, b, strlen(b), 0, &r3);
    expect_error(&r3, 409, "replay");

    json_decref(d1);
    json_decref(d2);
    tg_test_resp_free(&r1);
    tg_test_resp_free(&r2);
    tg_test_resp_free(&r3);
    free(tok);
    free(hdr);
    free(a);
    free(b);
}

/* ---------------------------------------------------------------- 400 */

static void test_bad_json(void **state)
{
    static const struct {
        const char *name;
        const char *body;
        size_t len;
    } cases[] = {
        {"not json", "this is not json", 16},
        {"array", "[{\"id\":\"ACC-1\"}]", 16},
        {"string", "\"ACC-1\"", 7},
        {"invalid utf-8", "{\"id\":\"ACC-\xff\xfe\"}", 15},
        {"duplicate key", "{\"id\":\"A\",\"id\":\"B\"}", 19},
        {"trailing garbage", "{\"id\":\"A\"} x", 12},
        {"empty", "", 0},
        {"nul byte", "{\"id\":\"A\0\"}", 11},
    };
    size_t i;
    (void)state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tg_resp r;
        post("/v1/check", auth, ctype, cases[i].body, cases[i].len, 0, &r);
        if (r.status != 400)
            fail_msg("%s: status %ld", cases[i].name, r.status);
        expect_error(&r, 400, "bad_json");
        tg_test_resp_free(&r);
    }
}

static void test_deep_nesting(void **state)
{
    size_t depth = 10000, i;
    char *body = malloc(2 * depth + 16);
    struct tg_resp r;
    (void)state;

    assert_non_null(body);
    for (i = 0; i < depth; i++)
        body[i] = '[';
    for (i = 0; i < depth; i++)
        body[depth + i] = ']';
    post("/v1/check", auth, ctype, body, 2 * depth, 0, &r);
    expect_error(&r, 400, "bad_json");
    tg_test_resp_free(&r);
    /* Deep inside an object, too, and with brackets hidden in strings. */
    memcpy(body, "{\"a\":\"[[[[\",\"b\":", 16);
    for (i = 16; i < depth; i++)
        body[i] = '{';
    post("/v1/check", auth, ctype, body, depth, 0, &r);
    expect_error(&r, 400, "bad_json");
    tg_test_resp_free(&r);
    free(body);
}

/* ---------------------------------------------------------------- 401 */

static void test_unauthenticated(void **state)
{
    long now = (long)time(NULL);
    char claims[512], *tok, *body = ticket_with(NULL);
    char *first_msg = NULL;
    struct {
        const char *name;
        char *header; /* malloc'd, NULL: no Authorization */
    } cases[8];
    size_t n = 0, i;
    (void)state;

    cases[n].name = "missing";
    cases[n++].header = NULL;

    snprintf(claims, sizeof(claims),
             "{\"iss\":\"%s\",\"aud\":\"%s\",\"exp\":%ld}", TG_TEST_GENERIC_ISS,
             TG_TEST_AUD, now + 600);
    tok = tg_test_jwt("HS256", "wrong-secret", 12, claims);
    cases[n].name = "wrong secret";
    cases[n++].header = tg_test_bearer_header(tok);
    free(tok);

    tok = tg_test_jwt_raw("{\"alg\":\"none\",\"typ\":\"JWT\"}", claims, "");
    cases[n].name = "alg none";
    cases[n++].header = tg_test_bearer_header(tok);
    free(tok);

    snprintf(claims, sizeof(claims),
             "{\"iss\":\"%s\",\"aud\":\"%s\",\"exp\":%ld}", TG_TEST_GENERIC_ISS,
             TG_TEST_AUD, now - 3600);
    tok = tg_test_jwt("HS256", TG_TEST_GENERIC_SECRET,
                      strlen(TG_TEST_GENERIC_SECRET), claims);
    cases[n].name = "expired";
    cases[n++].header = tg_test_bearer_header(tok);
    free(tok);

    snprintf(claims, sizeof(claims),
             "{\"iss\":\"%s\",\"aud\":\"someone-else\",\"exp\":%ld}",
             TG_TEST_GENERIC_ISS, now + 600);
    tok = tg_test_jwt("HS256", TG_TEST_GENERIC_SECRET,
                      strlen(TG_TEST_GENERIC_SECRET), claims);
    cases[n].name = "wrong aud";
    cases[n++].header = tg_test_bearer_header(tok);
    free(tok);

    cases[n].name = "basic scheme";
    cases[n++].header = strdup("Authorization: Basic dXNlcjpwYXNz");
    cases[n].name = "garbage token";
    cases[n++].header = strdup("Authorization: Bearer x.y.z");

    for (i = 0; i < n; i++) {
        struct tg_resp r;
        json_t *e;
        char *www;
        post("/v1/check", cases[i].header, ctype, body, strlen(body), 0, &r);
        if (r.status != 401)
            fail_msg("%s: status %ld", cases[i].name, r.status);
        expect_error(&r, 401, "unauthenticated");
        www = tg_test_resp_header(&r, "WWW-Authenticate");
        assert_non_null(www);
        free(www);
        /* Never says which part of the credential was wrong. */
        e = json_loads(r.body, 0, NULL);
        if (!first_msg)
            first_msg = strdup(str(e, "message"));
        else
            assert_string_equal(first_msg, str(e, "message"));
        json_decref(e);
        tg_test_resp_free(&r);
        free(cases[i].header);
    }
    free(first_msg);
    free(body);
}

/* ------------------------------------------------------------ 404 405 */

static void test_not_found_and_method(void **state)
{
    struct tg_resp r;
    char *allow;
    const char *h[] = {ctype, NULL};
    (void)state;

    assert_int_equal(tg_test_http(&S, "GET", "/nope", NULL, NULL, 0, 0, &r), 0);
    expect_error(&r, 404, "not_found");
    tg_test_resp_free(&r);
    assert_int_equal(
        tg_test_http(&S, "POST", "/v1/check/extra", h, "{}", 2, 0, &r), 0);
    expect_error(&r, 404, "not_found");
    tg_test_resp_free(&r);
    assert_int_equal(
        tg_test_http(&S, "GET", "/v1/../v1/check", NULL, NULL, 0, 0, &r), 0);
    assert_true(r.status == 404 || r.status == 405 || r.status == 400);
    tg_test_resp_free(&r);

    assert_int_equal(tg_test_http(&S, "GET", "/v1/check", NULL, NULL, 0, 0, &r),
                     0);
    expect_error(&r, 405, "method_not_allowed");
    allow = tg_test_resp_header(&r, "Allow");
    assert_non_null(allow);
    assert_string_equal(allow, "POST");
    free(allow);
    tg_test_resp_free(&r);

    assert_int_equal(
        tg_test_http(&S, "DELETE", "/healthz", NULL, NULL, 0, 0, &r), 0);
    expect_error(&r, 405, "method_not_allowed");
    allow = tg_test_resp_header(&r, "Allow");
    assert_string_equal(allow, "GET");
    free(allow);
    tg_test_resp_free(&r);
}

/* ---------------------------------------------------------------- 413 */

static void test_too_large(void **state)
{
    size_t max = 1048576;
    char *big = malloc(max + 2), *reply = NULL;
    struct tg_resp r;
    const char raw[] = "POST /v1/check HTTP/1.1\r\n"
                       "Host: 127.0.0.1\r\n"
                       "Content-Type: application/json\r\n"
                       "Content-Length: 99999999999\r\n"
                       "\r\n"
                       "{\"id\":";
    (void)state;

    assert_non_null(big);
    /* A JSON object one byte over server.max_body_bytes. */
    memset(big, ' ', max + 1);
    big[0] = '{';
    big[max] = '}';
    post("/v1/check", auth, ctype, big, max + 1, 0, &r);
    expect_error(&r, 413, "too_large");
    tg_test_resp_free(&r);
    /* The same without a declared length. */
    post("/v1/check", auth, ctype, big, max + 1, TG_HTTP_CHUNKED, &r);
    expect_error(&r, 413, "too_large");
    tg_test_resp_free(&r);
    /* Exactly at the limit is read (and is then a bad ticket, not 413). */
    post("/v1/check", auth, ctype, big, max, TG_HTTP_CHUNKED, &r);
    assert_int_not_equal(r.status, 413);
    tg_test_resp_free(&r);
    /* A huge declared length is refused before a byte is read. */
    assert_int_equal(tg_test_raw(&S, raw, sizeof(raw) - 1, 1500, &reply, NULL),
                     0);
    assert_non_null(strstr(reply, " 413 "));
    free(reply);
    free(big);
}

/* ---------------------------------------------------------------- 415 */

static void test_media_type(void **state)
{
    static const char *const types[] = {
        "Content-Type: text/plain", "Content-Type: application/jsonx",
        "Content-Type: application/x-www-form-urlencoded",
        NULL, /* none at all */
    };
    char *body = ticket_with(NULL);
    size_t i;
    (void)state;

    for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        struct tg_resp r;
        post("/v1/check", auth, types[i], body, strlen(body), 0, &r);
        expect_error(&r, 415, "unsupported_media_type");
        tg_test_resp_free(&r);
    }
    free(body);
}

/* ---------------------------------------------------------------- 422 */

static void test_unmappable(void **state)
{
    struct tg_resp r;
    char *no_id = ticket_with("id", NULL, NULL);
    char *num_id = ticket_with("id", json_integer(4410), NULL);
    json_t *e;
    (void)state;

    check(no_id, &r);
    expect_error(&r, 422, "unmappable");
    e = json_loads(r.body, 0, NULL);
    assert_non_null(strstr(str(e, "message"), "id"));
    json_decref(e);
    tg_test_resp_free(&r);
    check(num_id, &r);
    expect_error(&r, 422, "unmappable");
    e = json_loads(r.body, 0, NULL);
    assert_non_null(strstr(str(e, "message"), "id"));
    json_decref(e);
    tg_test_resp_free(&r);
    free(no_id);
    free(num_id);
}

/* ------------------------------------------------------------ webhooks */

static void test_webhooks_need_credentials(void **state)
{
    struct tg_resp r;
    char *jira = tg_test_read_file(
        TG_SOURCE_DIR "/example/payloads/jira-cloud-webhook.json", NULL);
    char *sn = tg_test_read_file(
        TG_SOURCE_DIR "/example/payloads/servicenow-approval.json", NULL);
    const char *bad_sig[] = {ctype, "X-Hub-Signature: sha256=00", NULL};
    (void)state;

    assert_non_null(jira);
    assert_non_null(sn);
    post("/v1/webhooks/jira", NULL, ctype, jira, strlen(jira), 0, &r);
    expect_error(&r, 401, "unauthenticated");
    tg_test_resp_free(&r);
    assert_int_equal(tg_test_http(&S, "POST", "/v1/webhooks/jira", bad_sig,
                                  jira, strlen(jira), 0, &r),
                     0);
    expect_error(&r, 401, "unauthenticated");
    tg_test_resp_free(&r);
    /* The generic source's token is no credential for ServiceNow. */
    post("/v1/webhooks/servicenow", auth, ctype, sn, strlen(sn), 0, &r);
    expect_error(&r, 401, "unauthenticated");
    tg_test_resp_free(&r);
    free(jira);
    free(sn);
}

static void test_webhook_jira_signed(void **state)
{
    struct tg_resp r, r2;
    char *jira = tg_test_read_file(
        TG_SOURCE_DIR "/example/payloads/jira-cloud-webhook.json", NULL);
    char hex[65], sig[96];
    const char *h[] = {ctype, sig, "X-Atlassian-Webhook-Identifier: wh-77",
                       NULL};
    json_t *d;
    (void)state;

    assert_non_null(jira);
    tg_test_hmac_sha256_hex(TG_TEST_JIRA_SECRET, strlen(TG_TEST_JIRA_SECRET),
                            jira, strlen(jira), hex);
    snprintf(sig, sizeof(sig), "X-Hub-Signature: sha256=%s", hex);
    assert_int_equal(tg_test_http(&S, "POST", "/v1/webhooks/jira", h, jira,
                                  strlen(jira), 0, &r),
                     0);
    d = decision_of(&r);
    assert_string_equal(str(d, "source"), "jira");
    assert_string_equal(str(d, "ticket"), "ACC-4410");
    /* Jira retries with the same identifier: the same answer. */
    assert_int_equal(tg_test_http(&S, "POST", "/v1/webhooks/jira", h, jira,
                                  strlen(jira), 0, &r2),
                     0);
    assert_int_equal(r2.status, 200);
    assert_string_equal(r.body, r2.body);
    json_decref(d);
    tg_test_resp_free(&r);
    tg_test_resp_free(&r2);
    free(jira);
}

static void test_webhook_servicenow_signed(void **state)
{
    struct tg_resp r;
    char *sn = tg_test_read_file(
        TG_SOURCE_DIR "/example/payloads/servicenow-approval.json", NULL);
    char *key = tg_test_read_file(
        TG_SOURCE_DIR "/example/keys/servicenow-private-TEST-ONLY.pem", NULL);
    char claims[256], *tok, *hdr;
    long now = (long)time(NULL);
    json_t *d;
    (void)state;

    assert_non_null(sn);
    assert_non_null(key);
    snprintf(claims, sizeof(claims),
             "{\"iss\":\"%s\",\"aud\":\"%s\",\"iat\":%ld,\"exp\":%ld,"
             "\"jti\":\"sn-1\"}",
             TG_TEST_SN_ISS, TG_TEST_AUD, now, now + 300);
    tok = tg_test_jwt("RS256", key, strlen(key), claims);
    hdr = tg_test_bearer_header(tok);
    post("/v1/webhooks/servicenow", hdr, ctype, sn, strlen(sn), 0, &r);
    d = decision_of(&r);
    assert_string_equal(str(d, "source"), "servicenow");
    json_decref(d);
    tg_test_resp_free(&r);
    free(tok);
    free(hdr);
    free(key);
    free(sn);
}

/* ---------------------------------------------------------- robustness */

static void test_garbage_requests(void **state)
{
    static const char *const raws[] = {
        "GARBAGE\r\n\r\n",
        "POST /v1/check HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
        "POST /v1/check HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
        "Content-Type: application/json\r\n\r\nzzzz\r\n",
        "GET /v1/decisions?ticket=%00%ff&limit=999999999999999999999 "
        "HTTP/1.1\r\nAuthorization: Bearer \r\n\r\n",
        "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        "POST /v1/check HTTP/1.1\r\nContent-Type: application/json\r\n"
        "Content-Length: 10\r\n\r\n{",
    };
    struct tg_resp r;
    size_t i;
    (void)state;

    for (i = 0; i < sizeof(raws) / sizeof(raws[0]); i++) {
        char *reply = NULL;
        assert_int_equal(
            tg_test_raw(&S, raws[i], strlen(raws[i]), 1000, &reply, NULL), 0);
        free(reply);
    }
    assert_int_equal(tg_test_http(&S, "GET", "/healthz", NULL, NULL, 0, 0, &r),
                     0);
    assert_int_equal(r.status, 200);
    tg_test_resp_free(&r);
}

static void test_decisions_query(void **state)
{
    static const struct {
        const char *path;
        long status;
    } cases[] = {
        {"/v1/decisions", 400},
        {"/v1/decisions?ticket=", 400},
        {"/v1/decisions?ticket=ACC-4410&limit=0", 400},
        {"/v1/decisions?ticket=ACC-4410&limit=abc", 400},
        {"/v1/decisions?ticket=ACC-4410&before=-1", 400},
        {"/v1/decisions?ticket=ACC-4410&limit=1", 200},
        {"/v1/decisions?ticket=NO-SUCH", 200},
    };
    const char *h[] = {auth, NULL};
    struct tg_resp p1, p2;
    json_t *o1, *o2, *next;
    char path[128];
    size_t i;
    (void)state;

    /* Pages: the cursor of one page leads to older records. */
    assert_int_equal(tg_test_http(&S, "GET",
                                  "/v1/decisions?ticket=ACC-4410&limit=1", h,
                                  NULL, 0, 0, &p1),
                     0);
    assert_int_equal(p1.status, 200);
    o1 = json_loads(p1.body, 0, NULL);
    next = json_object_get(o1, "next");
    assert_true(json_is_integer(next));
    snprintf(path, sizeof(path),
             "/v1/decisions?ticket=ACC-4410&limit=1&before=%lld",
             (long long)json_integer_value(next));
    assert_int_equal(tg_test_http(&S, "GET", path, h, NULL, 0, 0, &p2), 0);
    assert_int_equal(p2.status, 200);
    o2 = json_loads(p2.body, 0, NULL);
    assert_int_equal(json_array_size(json_object_get(o2, "decisions")), 1);
    assert_string_not_equal(
        str(json_array_get(json_object_get(o1, "decisions"), 0), "decision_id"),
        str(json_array_get(json_object_get(o2, "decisions"), 0),
            "decision_id"));
    json_decref(o1);
    json_decref(o2);
    tg_test_resp_free(&p1);
    tg_test_resp_free(&p2);

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tg_resp r;
        assert_int_equal(
            tg_test_http(&S, "GET", cases[i].path, h, NULL, 0, 0, &r), 0);
        if (r.status != cases[i].status)
            fail_msg("%s: status %ld: %s", cases[i].path, r.status, r.body);
        if (r.status == 200) {
            json_t *o = json_loads(r.body, 0, NULL);
            assert_true(json_is_array(json_object_get(o, "decisions")));
            if (strstr(cases[i].path, "limit=1"))
                assert_int_equal(
                    json_array_size(json_object_get(o, "decisions")), 1);
            json_decref(o);
        }
        tg_test_resp_free(&r);
    }
}

/* Retries racing each other: one evaluation, one record, one answer. */
struct racer {
    const char *hdr;
    const char *body;
    struct tg_resp r;
    int rc;
};

static void *race(void *p)
{
    struct racer *x = p;
    const char *h[] = {ctype, x->hdr, NULL};
    x->rc = tg_test_http(&S, "POST", "/v1/check", h, x->body, strlen(x->body),
                         0, &x->r);
    return NULL;
}

static void test_concurrent_same_delivery(void **state)
{
    enum { N = 8 };
    struct racer x[N];
    pthread_t th[N];
    char *tok = tg_test_generic_token("race-1"), *hdr;
    char *body = ticket_with("id", json_string("RACE-1"), NULL);
    json_t *d0 = NULL;
    int i;
    (void)state;

    hdr = tg_test_bearer_header(tok);
    for (i = 0; i < N; i++) {
        memset(&x[i], 0, sizeof(x[i]));
        x[i].hdr = hdr;
        x[i].body = body;
        assert_int_equal(pthread_create(&th[i], NULL, race, &x[i]), 0);
    }
    for (i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    for (i = 0; i < N; i++) {
        json_t *d;
        assert_int_equal(x[i].rc, 0);
        d = decision_of(&x[i].r);
        if (!d0)
            d0 = json_incref(d);
        else
            assert_string_equal(str(d, "decision_id"), str(d0, "decision_id"));
        json_decref(d);
        tg_test_resp_free(&x[i].r);
    }
    json_decref(d0);
    free(tok);
    free(hdr);
    free(body);
}

/* server.admin_listen: health and metrics there, the API only on listen. */
static void test_admin_listener(void **state)
{
    struct tg_server a, admin;
    struct tg_resp r;
    (void)state;

    assert_int_equal(tg_test_server_prepare(&a), 0);
    assert_int_equal(tg_test_config_replace(&a, "max_body_bytes: 1048576",
                                            "max_body_bytes: 1048576\n"
                                            "  admin_listen: \"127.0.0.1:0\""),
                     0);
    assert_int_equal(tg_test_server_start(&a), 0);
    assert_true(a.admin_port > 0 && a.admin_port != a.port);
    admin = a;
    admin.port = a.admin_port;
    snprintf(admin.url, sizeof(admin.url), "http://127.0.0.1:%d", admin.port);

    assert_int_equal(
        tg_test_http(&admin, "GET", "/metrics", NULL, NULL, 0, 0, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "ticketgate_http_requests_total"));
    tg_test_resp_free(&r);
    assert_int_equal(
        tg_test_http(&admin, "GET", "/readyz", NULL, NULL, 0, 0, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"status\":\"ready\"}");
    tg_test_resp_free(&r);
    assert_int_equal(
        tg_test_http(&admin, "POST", "/v1/check", NULL, "{}", 2, 0, &r), 0);
    expect_error(&r, 404, "not_found");
    tg_test_resp_free(&r);
    assert_int_equal(tg_test_http(&a, "GET", "/metrics", NULL, NULL, 0, 0, &r),
                     0);
    expect_error(&r, 404, "not_found");
    tg_test_resp_free(&r);
    assert_int_equal(tg_test_http(&a, "GET", "/healthz", NULL, NULL, 0, 0, &r),
                     0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"status\":\"ok\"}");
    tg_test_resp_free(&r);

    /* The reload endpoint lives on the admin listener only. */
    assert_int_equal(
        tg_test_http(&a, "POST", "/v1/admin/reload", NULL, NULL, 0, 0, &r), 0);
    expect_error(&r, 404, "not_found");
    tg_test_resp_free(&r);
    assert_int_equal(
        tg_test_http(&admin, "POST", "/v1/admin/reload", NULL, NULL, 0, 0, &r),
        0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"status\":\"reloaded\""));
    tg_test_resp_free(&r);
    assert_int_equal(tg_test_config_replace(&a, "mode: enforce", "mode: ["), 0);
    assert_int_equal(
        tg_test_http(&admin, "POST", "/v1/admin/reload", NULL, NULL, 0, 0, &r),
        0);
    expect_error(&r, 422, "invalid_config");
    /* The answer says where the configuration is wrong. */
    assert_non_null(strstr(r.body, "ticketgate.yaml:"));
    tg_test_resp_free(&r);
    assert_int_equal(
        tg_test_http(&admin, "GET", "/metrics", NULL, NULL, 0, 0, &r), 0);
    assert_non_null(strstr(
        r.body, "ticketgate_config_reloads_total{result=\"success\"} 1"));
    assert_non_null(strstr(
        r.body, "ticketgate_config_reloads_total{result=\"failure\"} 1"));
    tg_test_resp_free(&r);
    /* The API still answers with the configuration in force. */
    assert_int_equal(tg_test_http(&a, "GET", "/readyz", NULL, NULL, 0, 0, &r),
                     0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"status\":\"ready\"}");
    tg_test_resp_free(&r);

    assert_int_equal(tg_test_server_stop(&a), 0);
    tg_test_server_cleanup(&a);
}

/* A store that takes no writes: no decision without evidence (503), and
 * /readyz says so until the store recovers. */
static void test_store_unavailable(void **state)
{
    char path[512], *retry;
    sqlite3 *db = NULL;
    struct tg_resp r;
    char *body = ticket_with("id", json_string("LOCK-1"), NULL);
    int i;
    (void)state;

    snprintf(path, sizeof(path), "%s/data/ticketgate.db", S.dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL, NULL),
                     SQLITE_OK);
    check(body, &r);
    expect_error(&r, 503, "store_unavailable");
    retry = tg_test_resp_header(&r, "Retry-After");
    assert_non_null(retry);
    assert_string_equal(retry, "5");
    free(retry);
    tg_test_resp_free(&r);
    assert_int_equal(tg_test_http(&S, "GET", "/readyz", NULL, NULL, 0, 0, &r),
                     0);
    expect_error(&r, 503, "store_unavailable");
    tg_test_resp_free(&r);

    assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    for (i = 0; i < 100; i++) {
        assert_int_equal(
            tg_test_http(&S, "GET", "/readyz", NULL, NULL, 0, 0, &r), 0);
        if (r.status == 200)
            break;
        tg_test_resp_free(&r);
        usleep(50000);
    }
    assert_int_equal(r.status, 200);
    tg_test_resp_free(&r);
    check(body, &r);
    json_decref(decision_of(&r));
    tg_test_resp_free(&r);
    free(body);
}

/* ------------------------------------------------------------- reload */

static void wait_reload(void)
{
    /* SIGHUP is handled asynchronously; the log says when it is done. */
    for (int i = 0; i < 400; i++) {
        char *log = tg_test_read_file(S.log, NULL);
        int done = log && (strstr(log, "configuration reloaded") ||
                           strstr(log, "reload failed"));
        free(log);
        if (done)
            return;
        usleep(25000);
    }
    fail_msg("no reload within 10 s");
}

static void truncate_log(void)
{
    FILE *f = fopen(S.log, "w");
    if (f)
        fclose(f);
}

static void test_sighup_reload(void **state)
{
    struct tg_resp r;
    char *deny = ticket_with("approver", json_string("bob@example.com"), NULL);
    json_t *d;
    (void)state;

    /* dryrun: the would-be deny becomes annotate. */
    assert_int_equal(
        tg_test_config_replace(&S, "mode: enforce", "mode: dryrun"), 0);
    truncate_log();
    assert_int_equal(tg_test_server_signal(&S, SIGHUP), 0);
    wait_reload();
    check(deny, &r);
    d = decision_of(&r);
    assert_string_equal(str(d, "decision"), "annotate");
    assert_true(json_is_true(json_object_get(d, "dry_run")));
    json_decref(d);
    tg_test_resp_free(&r);

    /* A configuration that does not load leaves the old one in force. */
    assert_int_equal(
        tg_test_config_replace(&S, "mode: dryrun", "mode: [broken"), 0);
    truncate_log();
    assert_int_equal(tg_test_server_signal(&S, SIGHUP), 0);
    wait_reload();
    check(deny, &r);
    d = decision_of(&r);
    assert_string_equal(str(d, "decision"), "annotate");
    json_decref(d);
    tg_test_resp_free(&r);

    /* And a good one again. */
    assert_int_equal(
        tg_test_config_replace(&S, "mode: [broken", "mode: enforce"), 0);
    truncate_log();
    assert_int_equal(tg_test_server_signal(&S, SIGHUP), 0);
    wait_reload();
    check(deny, &r);
    d = decision_of(&r);
    assert_string_equal(str(d, "decision"), "deny");
    json_decref(d);
    tg_test_resp_free(&r);
    free(deny);
}

/* ------------------------------------------------------------- schemas */

/* Runs python3 with jsonschema over every body logged; skipped when the
 * tool is not installed (scripts/install-deps.sh installs it). */
static void test_schemas(void **state)
{
    char cmd[2048];
    int st;
    (void)state;

    fflush(decisions_log);
    fflush(errors_log);
    snprintf(cmd, sizeof(cmd),
             "python3 - '%s' '%s/decisions.jsonl' '%s/errors.jsonl' <<'EOF'\n"
             "import json, sys\n"
             "try:\n"
             "    import jsonschema\n"
             "except ImportError:\n"
             "    sys.exit(77)\n"
             "src, dec, err = sys.argv[1:4]\n"
             "n = 0\n"
             "for schema, path in (('decision', dec), ('error', err)):\n"
             "    s = json.load(open(f'{src}/schemas/{schema}.schema.json'))\n"
             "    for line in open(path):\n"
             "        if line.strip():\n"
             "            jsonschema.validate(json.loads(line), s)\n"
             "            n += 1\n"
             "print(f'{n} bodies valid')\n"
             "EOF",
             TG_SOURCE_DIR, S.dir, S.dir);
    st = system(cmd);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 77)
        skip();
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* ------------------------------------------------------------ shutdown */

static void test_sigterm_exits_0(void **state)
{
    (void)state;
    assert_int_equal(tg_test_server_stop(&S), 0);
}

/* ------------------------------------------ single-use jti (API.md) */

/* "Authorization: Bearer <RS256 token>" for sources.servicenow with jti and
 * exp now + exp_off. */
static char *sn_bearer(const char *jti, long exp_off)
{
    char *key = tg_test_read_file(
        TG_SOURCE_DIR "/example/keys/servicenow-private-TEST-ONLY.pem", NULL);
    char claims[256], *tok, *hdr;
    long now = (long)time(NULL);

    assert_non_null(key);
    snprintf(claims, sizeof(claims),
             "{\"iss\":\"%s\",\"aud\":\"%s\",\"iat\":%ld,\"exp\":%ld,"
             "\"jti\":\"%s\"}",
             TG_TEST_SN_ISS, TG_TEST_AUD, now, now + exp_off, jti);
    tok = tg_test_jwt("RS256", key, strlen(key), claims);
    assert_non_null(tok);
    hdr = tg_test_bearer_header(tok);
    assert_non_null(hdr);
    free(tok);
    free(key);
    return hdr;
}

/* The example ServiceNow approval with event_id and the RITM number set. */
static char *sn_body(const char *event_id, const char *number)
{
    json_error_t err;
    json_t *b = json_load_file(
        TG_SOURCE_DIR "/example/payloads/servicenow-approval.json", 0, &err);
    char *text;

    assert_non_null(b);
    json_object_set_new(b, "event_id", json_string(event_id));
    json_object_set_new(json_object_get(b, "ritm"), "number",
                        json_string(number));
    text = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    assert_non_null(text);
    return text;
}

/* Issue 9 item 7: a Bearer token's jti is single-use whatever event_id the
 * body names; the same token with the same body is a retry. */
static void test_jti_single_use_servicenow(void **state)
{
    struct tg_resp r1, r2, r3, r4;
    char *hdr = sn_bearer("jti-sn-once", 300);
    char *a = sn_body("evt-jti-1", "RITM0070001");
    char *b = sn_body("evt-jti-2", "RITM0070002");
    char *a2 = sn_body("evt-jti-3", "RITM0070001");
    json_t *d1, *d2;
    (void)state;

    post("/v1/webhooks/servicenow", hdr, ctype, a, strlen(a), 0, &r1);
    d1 = decision_of(&r1);
    /* a new event_id and another ticket under the same token */
    post("/v1/webhooks/servicenow", hdr, ctype, b, strlen(b), 0, &r2);
    expect_error(&r2, 409, "replay");
    assert_non_null(strstr(r2.body, "jti"));
    /* only a new event_id: still another body */
    post("/v1/webhooks/servicenow", hdr, ctype, a2, strlen(a2), 0, &r3);
    expect_error(&r3, 409, "replay");
    /* the same body: the recorded decision, byte for byte */
    post("/v1/webhooks/servicenow", hdr, ctype, a, strlen(a), 0, &r4);
    d2 = decision_of(&r4);
    assert_string_equal(str(d1, "decision_id"), str(d2, "decision_id"));
    assert_int_equal(r1.body_len, r4.body_len);
    assert_memory_equal(r1.body, r4.body, r1.body_len);

    json_decref(d1);
    json_decref(d2);
    tg_test_resp_free(&r1);
    tg_test_resp_free(&r2);
    tg_test_resp_free(&r3);
    tg_test_resp_free(&r4);
    free(hdr);
    free(a);
    free(b);
    free(a2);
}

/* The same for /v1/check, where the worker's Bearer memo answers the
 * second verification of one token within a second: it must still meet
 * the jti check. A skip uses the jti up too. */
static void test_jti_single_use_check(void **state)
{
    struct tg_resp r[5];
    char *tok = tg_test_generic_token("jti-check-once"), *hdr;
    char *tok2 = tg_test_generic_token("jti-check-skip"), *hdr2;
    char *a = ticket_with("id", json_string("JTI-1"), NULL);
    char *b = ticket_with("id", json_string("JTI-2"), NULL);
    char *skip = ticket_with("id", json_string("JTI-3"), "kind",
                             json_string("incident"), NULL);
    json_t *d;
    (void)state;

    hdr = tg_test_bearer_header(tok);
    hdr2 = tg_test_bearer_header(tok2);
    post("/v1/check", hdr, ctype, a, strlen(a), 0, &r[0]);
    d = decision_of(&r[0]);
    json_decref(d);
    post("/v1/check", hdr, ctype, b, strlen(b), 0, &r[1]);
    expect_error(&r[1], 409, "replay");

    post("/v1/check", hdr2, ctype, skip, strlen(skip), 0, &r[2]);
    d = decision_of(&r[2]);
    assert_string_equal(str(d, "decision"), "skip");
    json_decref(d);
    /* the same skip again: skip again */
    post("/v1/check", hdr2, ctype, skip, strlen(skip), 0, &r[3]);
    d = decision_of(&r[3]);
    assert_string_equal(str(d, "decision"), "skip");
    json_decref(d);
    /* a gated ticket under the token a skip used: refused */
    post("/v1/check", hdr2, ctype, b, strlen(b), 0, &r[4]);
    expect_error(&r[4], 409, "replay");
    for (int i = 0; i < 5; i++)
        tg_test_resp_free(&r[i]);
    free(tok);
    free(tok2);
    free(hdr);
    free(hdr2);
    free(a);
    free(b);
    free(skip);
}

/* One token, racing bodies with their own event_ids: one decision, every
 * other request a replay. */
struct jti_racer {
    const char *hdr;
    char *body;
    struct tg_resp r;
    int rc;
    pthread_barrier_t *go;
};

static void *jti_race(void *p)
{
    struct jti_racer *x = p;
    const char *h[] = {ctype, x->hdr, NULL};

    pthread_barrier_wait(x->go);
    x->rc = tg_test_http(&S, "POST", "/v1/webhooks/servicenow", h, x->body,
                         strlen(x->body), 0, &x->r);
    return NULL;
}

static void test_jti_concurrent_bodies(void **state)
{
    enum { N = 6 };
    struct jti_racer x[N];
    pthread_t th[N];
    pthread_barrier_t go;
    char *hdr = sn_bearer("jti-sn-race", 300);
    int ok = 0, replay = 0;
    (void)state;

    assert_int_equal(pthread_barrier_init(&go, NULL, N), 0);
    for (int i = 0; i < N; i++) {
        char evt[32], num[32];

        snprintf(evt, sizeof evt, "evt-race-%d", i);
        snprintf(num, sizeof num, "RITM00800%02d", i);
        memset(&x[i], 0, sizeof(x[i]));
        x[i].hdr = hdr;
        x[i].body = sn_body(evt, num);
        x[i].go = &go;
        assert_int_equal(pthread_create(&th[i], NULL, jti_race, &x[i]), 0);
    }
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&go);
    for (int i = 0; i < N; i++) {
        assert_int_equal(x[i].rc, 0);
        if (x[i].r.status == 200) {
            json_decref(decision_of(&x[i].r));
            ok++;
        } else {
            expect_error(&x[i].r, 409, "replay");
            replay++;
        }
        tg_test_resp_free(&x[i].r);
        free(x[i].body);
    }
    assert_int_equal(ok, 1);
    assert_int_equal(replay, N - 1);
    free(hdr);
}

/* Issue 10 item 5 over HTTP: a token valid for longer than
 * server.max_token_lifetime_s, or whose claims name a member twice, is 401;
 * the key's value is read from the configuration. */
static void test_token_lifetime_and_duplicates(void **state)
{
    struct tg_resp r;
    char *body = ticket_with("id", json_string("LIFE-1"), NULL);
    char claims[512], *tok, *hdr;
    long now = (long)time(NULL);
    (void)state;

    /* two days: over the default day */
    snprintf(claims, sizeof(claims),
             "{\"iss\":\"%s\",\"aud\":\"%s\",\"iat\":%ld,\"exp\":%ld}",
             TG_TEST_GENERIC_ISS, TG_TEST_AUD, now, now + 2 * 86400);
    tok = tg_test_jwt("HS256", TG_TEST_GENERIC_SECRET,
                      strlen(TG_TEST_GENERIC_SECRET), claims);
    hdr = tg_test_bearer_header(tok);
    post("/v1/check", hdr, ctype, body, strlen(body), 0, &r);
    expect_error(&r, 401, "unauthenticated");
    tg_test_resp_free(&r);
    free(tok);
    free(hdr);

    /* 23 hours: inside it */
    snprintf(claims, sizeof(claims),
             "{\"iss\":\"%s\",\"aud\":\"%s\",\"iat\":%ld,\"exp\":%ld}",
             TG_TEST_GENERIC_ISS, TG_TEST_AUD, now, now + 23 * 3600);
    tok = tg_test_jwt("HS256", TG_TEST_GENERIC_SECRET,
                      strlen(TG_TEST_GENERIC_SECRET), claims);
    hdr = tg_test_bearer_header(tok);
    post("/v1/check", hdr, ctype, body, strlen(body), 0, &r);
    json_decref(decision_of(&r));
    tg_test_resp_free(&r);
    free(tok);
    free(hdr);

    /* aud twice (a signed token, the duplicate inside the claims) */
    snprintf(claims, sizeof(claims),
             "{\"iss\":\"%s\",\"aud\":\"elsewhere\",\"aud\":\"%s\","
             "\"exp\":%ld}",
             TG_TEST_GENERIC_ISS, TG_TEST_AUD, now + 600);
    tok = tg_test_jwt("HS256", TG_TEST_GENERIC_SECRET,
                      strlen(TG_TEST_GENERIC_SECRET), claims);
    hdr = tg_test_bearer_header(tok);
    post("/v1/check", hdr, ctype, body, strlen(body), 0, &r);
    expect_error(&r, 401, "unauthenticated");
    tg_test_resp_free(&r);
    free(tok);
    free(hdr);
    free(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_healthz_readyz),
        cmocka_unit_test(test_check_allow_and_read_back),
        cmocka_unit_test(test_check_deny),
        cmocka_unit_test(test_check_skip_not_recorded),
        cmocka_unit_test(test_check_copy_forward),
        cmocka_unit_test(test_check_charset_param),
        cmocka_unit_test(test_replay),
        cmocka_unit_test(test_bad_json),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_unauthenticated),
        cmocka_unit_test(test_not_found_and_method),
        cmocka_unit_test(test_too_large),
        cmocka_unit_test(test_media_type),
        cmocka_unit_test(test_unmappable),
        cmocka_unit_test(test_webhooks_need_credentials),
        cmocka_unit_test(test_webhook_jira_signed),
        cmocka_unit_test(test_webhook_servicenow_signed),
        cmocka_unit_test(test_garbage_requests),
        cmocka_unit_test(test_decisions_query),
        cmocka_unit_test(test_concurrent_same_delivery),
        cmocka_unit_test(test_admin_listener),
        cmocka_unit_test(test_store_unavailable),
        cmocka_unit_test(test_sighup_reload),
        cmocka_unit_test(test_jti_single_use_servicenow),
        cmocka_unit_test(test_jti_single_use_check),
        cmocka_unit_test(test_jti_concurrent_bodies),
        cmocka_unit_test(test_token_lifetime_and_duplicates),
        cmocka_unit_test(test_schemas),
        cmocka_unit_test(test_sigterm_exits_0),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
