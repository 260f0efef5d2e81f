/* test_webhooks.c - the Jira and ServiceNow webhooks on the real server, with
 * the requests the shipped integrations send (integrations/). */
/* needs: ticketgate */
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
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "tests/support/tg_test.h"

#define EXAMPLE TG_SOURCE_DIR "/example/"
#define FIX TG_SOURCE_DIR "/tests/fixtures/"
#define FORGE_REQUEST TG_SOURCE_DIR "/integrations/jira-forge/src/request.js"
#define CONNECT_SECRET "connect-shared-secret-for-tests-0123"
#define SW_KEY "ticketgate-standard-webhooks-key-0123"

static struct tg_server S;
static char sw_secret[128];
static int have_node;
static const char *const ctype = "Content-Type: application/json";

static char *b64(const void *p, size_t n)
{
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    assert_non_null(out);
    EVP_EncodeBlock((unsigned char *)out, p, (int)n);
    return out;
}

static int setup(void **state)
{
    char *k = b64(SW_KEY, strlen(SW_KEY));
    char line[200];
    (void)state;

    snprintf(sw_secret, sizeof sw_secret, "whsec_%s", k);
    free(k);
    if (tg_test_server_prepare(&S) != 0)
        return -1;
    /* Both Jira credentials and both ServiceNow credentials: every form. */
    snprintf(line, sizeof line, "connect_shared_secret: \"%s\"",
             CONNECT_SECRET);
    if (tg_test_config_replace(&S, "# connect_shared_secret: \"...\"", line))
        return -1;
    snprintf(line, sizeof line, "standard_webhooks_secret: \"%s\"", sw_secret);
    if (tg_test_config_replace(&S, "# standard_webhooks_secret: \"whsec_...\"",
                               line))
        return -1;
    if (tg_test_server_start(&S) != 0)
        return -1;
    have_node = system("node --version >/dev/null 2>&1") == 0;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    /* A clean exit: a sanitizer report in the server fails the group. */
    return tg_test_server_finish(&S);
}

/* ---- helpers ---- */

static json_t *load(const char *path)
{
    json_error_t e;
    json_t *j = json_load_file(path, 0, &e);
    if (!j)
        fail_msg("%s:%d: %s", path, e.line, e.text);
    return j;
}

enum { JIRA_TIME, SN_TIME };

/* now + off seconds, UTC, as Jira ("2026-12-04T00:00:00.000+0000") or
 * ServiceNow ("2026-12-04 00:00:00") writes it. */
static json_t *when(long off, int style)
{
    char buf[64];
    time_t t = time(NULL) + off;
    struct tm tm;
    size_t n;
    gmtime_r(&t, &tm);
    if (style == JIRA_TIME)
        n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S.000+0000", &tm);
    else
        n = strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
    assert_true(n > 0);
    return json_string(buf);
}

static void post(const char *path, const char *const *hdrs, const char *body,
                 struct tg_resp *r)
{
    assert_int_equal(
        tg_test_http(&S, "POST", path, hdrs, body, strlen(body), 0, r), 0);
    if (r->status == 0)
        tg_test_server_dump_log(&S);
}

/* "X-Hub-Signature: sha256=<hex>" of body under the example's secret. */
static void hub_sig(const char *body, const char *secret, char *out, size_t cap)
{
    char hex[65];
    tg_test_hmac_sha256_hex(secret, strlen(secret), body, strlen(body), hex);
    snprintf(out, cap, "X-Hub-Signature: sha256=%s", hex);
}

static json_t *answer(const struct tg_resp *r, long status)
{
    json_t *d;
    if (r->status != status) {
        fprintf(stderr, "want %ld, got %ld: %s\n", status, r->status, r->body);
        tg_test_server_dump_log(&S);
    }
    assert_int_equal(r->status, status);
    d = json_loadb(r->body, r->body_len, 0, NULL);
    assert_non_null(d);
    return d;
}

static const char *str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    assert_non_null(s);
    return s;
}

/* Asserts the decision (and that a deny names code in its findings). */
static void expect_decision(const struct tg_resp *r, const char *decision,
                            const char *ticket, const char *code)
{
    json_t *d = answer(r, 200);
    if (strcmp(str(d, "decision"), decision) != 0) {
        fprintf(stderr, "decision: %s\n", r->body);
        tg_test_server_dump_log(&S);
    }
    assert_string_equal(str(d, "decision"), decision);
    if (ticket)
        assert_string_equal(str(d, "ticket"), ticket);
    if (code)
        assert_non_null(strstr(r->body, code));
    json_decref(d);
}

static void expect_error(const struct tg_resp *r, long status, const char *code,
                         const char *in_message)
{
    json_t *e = answer(r, status);
    assert_string_equal(str(e, "error"), code);
    if (in_message)
        assert_non_null(strstr(str(e, "message"), in_message));
    json_decref(e);
}

static char *dump(const json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    assert_non_null(s);
    return s;
}

/* ---- Jira webhooks (Cloud, Data Center) with X-Hub-Signature ---- */

/* The example Cloud webhook, due in 3 days: allow. */
static json_t *cloud_example(void)
{
    json_t *b = load(EXAMPLE "payloads/jira-cloud-webhook.json");
    json_object_set_new(json_object_get(json_object_get(b, "issue"), "fields"),
                        "customfield_10052", when(3 * 86400, JIRA_TIME));
    return b;
}

static void test_jira_cloud_webhook(void **state)
{
    json_t *b = cloud_example();
    char *body = dump(b), sig[120], bad[120];
    struct tg_resp r;
    (void)state;

    hub_sig(body, TG_TEST_JIRA_SECRET, sig, sizeof sig);
    {
        const char *h[] = {ctype, sig,
                           "X-Atlassian-Webhook-Identifier: cloud-1", NULL};
        post("/v1/webhooks/jira", h, body, &r);
        expect_decision(&r, "allow", "ACC-4410", NULL);
        tg_test_resp_free(&r);
    }
    /* every authentication failure is 401 */
    hub_sig(body, "not-the-secret", bad, sizeof bad);
    {
        const char *wrong[] = {ctype, bad, NULL};
        const char *none[] = {ctype, NULL};
        const char *garbled[] = {ctype, "X-Hub-Signature: sha256=zz", NULL};
        const char *const *cases[] = {wrong, none, garbled};
        for (size_t i = 0; i < 3; i++) {
            post("/v1/webhooks/jira", cases[i], body, &r);
            expect_error(&r, 401, "unauthenticated", NULL);
            tg_test_resp_free(&r);
        }
    }
    /* signed, then altered in transit */
    body[strlen(body) - 2] = ' ';
    {
        const char *h[] = {ctype, sig, NULL};
        post("/v1/webhooks/jira", h, body, &r);
        expect_error(&r, 401, "unauthenticated", NULL);
        tg_test_resp_free(&r);
    }
    free(body);
    json_decref(b);
}

/* Self-approval through JSM: the webhook is recorded as deny. */
static void test_jira_cloud_webhook_deny(void **state)
{
    json_t *b = cloud_example();
    json_t *ap = json_array_get(
        json_object_get(json_object_get(json_object_get(b, "issue"), "fields"),
                        "customfield_10027"),
        0);
    json_t *first = json_array_get(json_object_get(ap, "approvers"), 0);
    char *body, sig[120];
    struct tg_resp r;
    (void)state;

    json_object_set_new(json_object_get(first, "approver"), "accountId",
                        json_string("5b10a2844c20165700ede21g"));
    body = dump(b);
    hub_sig(body, TG_TEST_JIRA_SECRET, sig, sizeof sig);
    const char *h[] = {ctype, sig, NULL};
    post("/v1/webhooks/jira", h, body, &r);
    expect_decision(&r, "deny", "ACC-4410", "SOD_SELF_APPROVAL");
    tg_test_resp_free(&r);
    free(body);
    json_decref(b);
}

static void test_jira_datacenter_webhook(void **state)
{
    json_t *b = load(FIX "jira/dc-webhook.json");
    char *body, sig[120];
    struct tg_resp r;
    (void)state;

    json_object_set_new(json_object_get(json_object_get(b, "issue"), "fields"),
                        "customfield_10052", when(30 * 86400, JIRA_TIME));
    body = dump(b);
    hub_sig(body, TG_TEST_JIRA_SECRET, sig, sizeof sig);
    const char *h[] = {ctype, sig, "x-atlassian-webhook-identifier: dc-1",
                       NULL};
    post("/v1/webhooks/jira", h, body, &r);
    expect_decision(&r, "allow", "ACC-981", NULL);
    tg_test_resp_free(&r);
    free(body);
    json_decref(b);
}

/* Events that are no gated transition are answered skip; a payload without
 * issue.key is 422 naming it. */
static void test_jira_skip_and_unmappable(void **state)
{
    static const char *const skips[] = {"jira/other-event.json",
                                        "jira/no-status-change.json"};
    struct tg_resp r;
    char path[512], sig[120], *body;
    (void)state;

    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s%s", FIX, skips[i]);
        body = tg_test_read_file(path, NULL);
        assert_non_null(body);
        hub_sig(body, TG_TEST_JIRA_SECRET, sig, sizeof sig);
        const char *h[] = {ctype, sig, NULL};
        post("/v1/webhooks/jira", h, body, &r);
        expect_decision(&r, "skip", NULL, NULL);
        tg_test_resp_free(&r);
        free(body);
    }
    body = tg_test_read_file(FIX "jira/missing-key.json", NULL);
    assert_non_null(body);
    hub_sig(body, TG_TEST_JIRA_SECRET, sig, sizeof sig);
    {
        const char *h[] = {ctype, sig, NULL};
        post("/v1/webhooks/jira", h, body, &r);
        expect_error(&r, 422, "unmappable", "issue.key");
        tg_test_resp_free(&r);
    }
    free(body);
}

/* ---- the Forge validator's request (integrations/jira-forge) ---- */

/* Builds the validator call as src/request.js does (run with node when it
 * is installed, so the shipped code itself is exercised; else the same
 * composition in C). *sig is the X-Hub-Signature header line. */
static void forge_request(const json_t *issue, const char *from, const char *to,
                          const json_t *user, char **body, char *sig,
                          size_t cap)
{
    if (have_node) {
        char in[400], cmd[1200], *out;
        size_t len;
        json_t *a =
            json_pack("{s:O,s:s,s:s,s:O,s:s}", "issue", issue, "from", from,
                      "to", to, "user", user, "secret", TG_TEST_JIRA_SECRET);
        FILE *p;
        snprintf(in, sizeof in, "%s/forge-in.json", S.dir);
        assert_int_equal(json_dump_file(a, in, 0), 0);
        json_decref(a);
        snprintf(cmd, sizeof cmd,
                 "node -e 'const r=require(process.argv[1]);"
                 "const a=JSON.parse(require(\"fs\").readFileSync("
                 "process.argv[2],\"utf8\"));"
                 "const o=r.buildValidatorRequest(a.issue,a.from,a.to,a.user,"
                 "a.secret);"
                 "process.stdout.write(o.headers[\"X-Hub-Signature\"]+"
                 "\"\\n\"+o.body)' %s %s",
                 FORGE_REQUEST, in);
        p = popen(cmd, "r");
        assert_non_null(p);
        out = calloc(1, 1 << 20);
        len = fread(out, 1, (1 << 20) - 1, p);
        assert_int_equal(pclose(p), 0);
        out[len] = '\0';
        char *nl = strchr(out, '\n');
        assert_non_null(nl);
        *nl = '\0';
        snprintf(sig, cap, "X-Hub-Signature: %s", out);
        *body = strdup(nl + 1);
        free(out);
    } else {
        json_t *d =
            json_pack("{s:O,s:{s:s,s:s},s:O}", "issue", issue, "transition",
                      "from", from, "to", to, "user", user);
        *body = dump(d);
        json_decref(d);
        hub_sig(*body, TG_TEST_JIRA_SECRET, sig, cap);
    }
}

/* What src/request.js's verdict() makes of an answer: {result,
 * errorMessage} as Jira receives it. NULL without node. */
static json_t *forge_verdict(long status, const char *answer_body)
{
    char in[400], cmd[1000], out[8192];
    json_t *a, *ans;
    size_t len;
    FILE *p;

    if (!have_node)
        return NULL;
    ans = json_loads(answer_body, 0, NULL);
    a = json_pack("{s:I,s:o,s:s}", "status", (json_int_t)status, "answer",
                  ans ? ans : json_null(), "mode", "closed");
    snprintf(in, sizeof in, "%s/forge-verdict.json", S.dir);
    assert_int_equal(json_dump_file(a, in, 0), 0);
    json_decref(a);
    snprintf(cmd, sizeof cmd,
             "node -e 'const r=require(process.argv[1]);"
             "const a=JSON.parse(require(\"fs\").readFileSync(process.argv[2],"
             "\"utf8\"));"
             "process.stdout.write(JSON.stringify(r.verdict(a.status,a.answer,"
             "a.mode)))' %s %s",
             FORGE_REQUEST, in);
    p = popen(cmd, "r");
    assert_non_null(p);
    len = fread(out, 1, sizeof out - 1, p);
    assert_int_equal(pclose(p), 0);
    out[len] = '\0';
    return json_loads(out, 0, NULL);
}

static void test_forge_validator(void **state)
{
    json_t *call = load(EXAMPLE "payloads/jira-validator-call.json");
    json_t *issue = json_object_get(call, "issue");
    json_t *fields = json_object_get(issue, "fields");
    json_t *user = json_object_get(call, "user");
    json_t *v;
    char *body, sig[120];
    struct tg_resp r;
    (void)state;

    json_object_set_new(fields, "customfield_10052",
                        when(3 * 86400, JIRA_TIME));
    /* allow: the transition goes on */
    forge_request(issue, "Waiting for approval", "Approved", user, &body, sig,
                  sizeof sig);
    {
        const char *h[] = {ctype, "Accept: application/json", sig, NULL};
        post("/v1/webhooks/jira", h, body, &r);
        expect_decision(&r, "allow", "ACC-4410", NULL);
        v = forge_verdict(r.status, r.body);
        if (v) {
            assert_true(json_is_true(json_object_get(v, "result")));
            json_decref(v);
        }
        tg_test_resp_free(&r);
    }
    free(body);

    /* deny: the reporter approves his own request; Jira shows message */
    json_object_set_new(
        fields, "customfield_10059",
        json_pack("{s:s}", "accountId", "5b10a2844c20165700ede21g"));
    forge_request(issue, "Waiting for approval", "Approved", user, &body, sig,
                  sizeof sig);
    {
        const char *h[] = {ctype, "Accept: application/json", sig, NULL};
        json_t *d;
        post("/v1/webhooks/jira", h, body, &r);
        expect_decision(&r, "deny", "ACC-4410", "SOD_SELF_APPROVAL");
        d = answer(&r, 200);
        v = forge_verdict(r.status, r.body);
        if (v) {
            assert_true(json_is_false(json_object_get(v, "result")));
            assert_string_equal(str(v, "errorMessage"), str(d, "message"));
            json_decref(v);
        }
        json_decref(d);
        tg_test_resp_free(&r);
    }
    /* signed with another secret: 401, and the validator blocks */
    {
        char bad[120];
        hub_sig(body, "wrong", bad, sizeof bad);
        const char *h[] = {ctype, bad, NULL};
        post("/v1/webhooks/jira", h, body, &r);
        expect_error(&r, 401, "unauthenticated", NULL);
        v = forge_verdict(r.status, r.body);
        if (v) {
            assert_true(json_is_false(json_object_get(v, "result")));
            json_decref(v);
        }
        tg_test_resp_free(&r);
    }
    free(body);
    json_decref(call);
}

/* ---- Connect JWT ---- */

static char *connect_header(const char *query, long exp_off, const char *key)
{
    char qsh[65], claims[400], *tok, *h;
    char canon[600];
    unsigned char md[32];
    unsigned int mdlen;
    long now = (long)time(NULL);

    /* Atlassian's canonical request for a query already in canonical form */
    snprintf(canon, sizeof canon, "POST&/v1/webhooks/jira&%s",
             query ? query : "");
    EVP_Digest(canon, strlen(canon), md, &mdlen, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(qsh + 2 * i, 3, "%02x", md[i]);
    snprintf(claims, sizeof claims,
             "{\"iss\":\"jira:4b1c7d0e-1111-4222-8333-444455556666\","
             "\"iat\":%ld,\"exp\":%ld,\"qsh\":\"%s\",\"jti\":\"c-%ld\"}",
             now - 2, now + exp_off, qsh, now);
    tok = tg_test_jwt("HS256", key, strlen(key), claims);
    assert_non_null(tok);
    h = malloc(strlen(tok) + 32);
    snprintf(h, strlen(tok) + 32, "Authorization: JWT %s", tok);
    free(tok);
    return h;
}

static void test_jira_connect_jwt(void **state)
{
    json_t *b = cloud_example();
    char *body = dump(b);
    struct {
        const char *name, *path, *query;
        long exp_off;
        const char *key;
        long status;
    } cases[] = {
        {"valid", "/v1/webhooks/jira", NULL, 120, CONNECT_SECRET, 200},
        {"valid with query", "/v1/webhooks/jira?a=1&b=x%20y", "a=1&b=x%20y",
         120, CONNECT_SECRET, 200},
        {"qsh mismatch", "/v1/webhooks/jira?a=2", "a=1", 120, CONNECT_SECRET,
         401},
        {"expired", "/v1/webhooks/jira", NULL, -600, CONNECT_SECRET, 401},
        {"wrong secret", "/v1/webhooks/jira", NULL, 120, "nope", 401},
    };
    (void)state;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct tg_resp r;
        char *a =
            connect_header(cases[i].query, cases[i].exp_off, cases[i].key);
        const char *h[] = {ctype, a, NULL};
        print_message("%s\n", cases[i].name);
        post(cases[i].path, h, body, &r);
        if (cases[i].status == 200)
            expect_decision(&r, "allow", "ACC-4410", NULL);
        else
            expect_error(&r, cases[i].status, "unauthenticated", NULL);
        tg_test_resp_free(&r);
        free(a);
    }
    free(body);
    json_decref(b);
}

/* "Authorization: JWT <Connect token>" for POST /v1/webhooks/jira without
 * a query, with the given jti, nbf and exp offsets from now (nbf_off 0:
 * no nbf). */
static char *connect_jti_header(const char *jti, long nbf_off, long exp_off)
{
    char qsh[65], claims[512], nbf[40] = "", *tok, *h;
    const char canon[] = "POST&/v1/webhooks/jira&";
    unsigned char md[32];
    unsigned int mdlen;
    long now = (long)time(NULL);

    EVP_Digest(canon, strlen(canon), md, &mdlen, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(qsh + 2 * i, 3, "%02x", md[i]);
    if (nbf_off)
        snprintf(nbf, sizeof nbf, ",\"nbf\":%ld", now + nbf_off);
    snprintf(claims, sizeof claims,
             "{\"iss\":\"jira:4b1c7d0e-1111-4222-8333-444455556666\","
             "\"iat\":%ld,\"exp\":%ld,\"qsh\":\"%s\",\"jti\":\"%s\"%s}",
             now - 2, now + exp_off, qsh, jti, nbf);
    tok = tg_test_jwt("HS256", CONNECT_SECRET, strlen(CONNECT_SECRET), claims);
    assert_non_null(tok);
    h = malloc(strlen(tok) + 32);
    assert_non_null(h);
    snprintf(h, strlen(tok) + 32, "Authorization: JWT %s", tok);
    free(tok);
    return h;
}

/* Issue 9 item 7: a Connect token's jti is single-use whatever
 * X-Atlassian-Webhook-Identifier (unsigned) names; the same token and body
 * under a new identifier is a retry. A future nbf, or an exp beyond
 * server.max_token_lifetime_s, is 401. */
static void test_jira_connect_jti_single_use(void **state)
{
    json_t *b = cloud_example(), *other = cloud_example(), *d1, *d2;
    char *body, *body2, *a = connect_jti_header("cj-once-1", 0, 120), *late,
                        *long_lived;
    struct tg_resp r1, r2, r3, r4;
    (void)state;

    json_object_set_new(json_object_get(other, "issue"), "key",
                        json_string("ACC-4499"));
    body = dump(b);
    body2 = dump(other);
    {
        const char *h[] = {ctype, a, "X-Atlassian-Webhook-Identifier: cj-w-1",
                           NULL};
        post("/v1/webhooks/jira", h, body, &r1);
        d1 = answer(&r1, 200);
    }
    {
        const char *h[] = {ctype, a, "X-Atlassian-Webhook-Identifier: cj-w-2",
                           NULL};
        post("/v1/webhooks/jira", h, body2, &r2);
        expect_error(&r2, 409, "replay", "jti");
    }
    {
        const char *h[] = {ctype, a, "X-Atlassian-Webhook-Identifier: cj-w-3",
                           NULL};
        post("/v1/webhooks/jira", h, body, &r3);
        d2 = answer(&r3, 200);
        assert_string_equal(str(d1, "decision_id"), str(d2, "decision_id"));
        assert_string_equal(r1.body, r3.body);
    }
    /* a token not valid for ten minutes yet; one valid for two days */
    late = connect_jti_header("cj-late-1", 600, 1200);
    long_lived = connect_jti_header("cj-long-1", 0, 2 * 86400);
    {
        const char *h1[] = {ctype, late, NULL};
        const char *h2[] = {ctype, long_lived, NULL};
        post("/v1/webhooks/jira", h1, body2, &r4);
        expect_error(&r4, 401, "unauthenticated", NULL);
        tg_test_resp_free(&r4);
        post("/v1/webhooks/jira", h2, body2, &r4);
        expect_error(&r4, 401, "unauthenticated", NULL);
        tg_test_resp_free(&r4);
    }
    json_decref(d1);
    json_decref(d2);
    tg_test_resp_free(&r1);
    tg_test_resp_free(&r2);
    tg_test_resp_free(&r3);
    free(a);
    free(late);
    free(long_lived);
    free(body);
    free(body2);
    json_decref(b);
    json_decref(other);
}

/* ---- ServiceNow: the business rule's request ---- */

/* The document integrations/servicenow/ticketgate_approval_gate.js posts:
 * the approval with its approver user, the requested item with users and
 * every catalog variable (references as {value, display_value}, dates
 * "yyyy-MM-dd HH:mm:ss"), and event_id "<approval sys_id>:<mod count>:<16
 * hex of the SHA-256 of the rest>". */
static json_t *sn_document(const char *approver_user_name, int mod_count)
{
    json_t *d = load(EXAMPLE "payloads/servicenow-approval.json");
    json_t *ap = json_object_get(d, "approval");
    json_t *ritm = json_object_get(d, "ritm");
    json_t *vars = json_object_get(ritm, "variables");
    unsigned char md[32];
    unsigned int mdlen = 0;
    char eid[100], *text;
    int n;

    json_object_del(d, "event_id");
    json_object_set_new(ap, "approver",
                        json_pack("{s:s,s:s,s:s,s:s}", "sys_id",
                                  "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
                                  "user_name", approver_user_name, "email", "",
                                  "name", approver_user_name));
    json_object_set_new(ritm, "opened_at", when(-86400, SN_TIME));
    json_object_set_new(json_object_get(ritm, "cat_item"), "sys_id",
                        json_string("04b7e94b4f7b4200086eeed18110c7fd"));
    json_object_set_new(vars, "access_expiry", when(3 * 86400, SN_TIME));
    /* The value decides, not the label (ADAPTERS.md). */
    json_object_set_new(vars, "target_system",
                        json_pack("{s:s,s:s}", "value", "payments-db",
                                  "display_value",
                                  "Payments ledger (PostgreSQL)"));
    text = json_dumps(d, JSON_COMPACT);
    assert_non_null(text);
    assert_int_equal(EVP_Digest(text, strlen(text), md, &mdlen, EVP_sha256(),
                                NULL), 1);
    free(text);
    n = snprintf(eid, sizeof eid, "cd502d42af1ffe0de8d79f49af6d114c:%d:",
                 mod_count);
    for (int i = 0; i < 8; i++)
        n += snprintf(eid + n, sizeof eid - (size_t)n, "%02x", md[i]);
    json_object_set_new(d, "event_id", json_string(eid));
    return d;
}

/* The RS256 Bearer token the rule has sn_auth.GlideJWTAPI sign. */
static char *sn_bearer(long exp_off, const char *aud, const char *pem_path)
{
    /* A new jti each token, as the business rule's GUID: a jti is
     * single-use (API.md), so two tokens minted in one second must not
     * share one. */
    static int minted;
    char claims[400], *pem, *tok, *h;
    long now = (long)time(NULL);

    snprintf(claims, sizeof claims,
             "{\"iss\":\"%s\",\"aud\":\"%s\",\"iat\":%ld,\"exp\":%ld,"
             "\"jti\":\"guid-%ld-%ld-%d\"}",
             TG_TEST_SN_ISS, aud, now, now + exp_off, now, exp_off, ++minted);
    pem = tg_test_read_file(pem_path, NULL);
    assert_non_null(pem);
    tok = tg_test_jwt("RS256", pem, strlen(pem), claims);
    free(pem);
    assert_non_null(tok);
    h = tg_test_bearer_header(tok);
    free(tok);
    return h;
}

static void test_servicenow_business_rule(void **state)
{
    const char *priv = EXAMPLE "keys/servicenow-private-TEST-ONLY.pem";
    struct tg_resp r;
    json_t *d;
    char *body, *a;
    (void)state;

    /* allow: the approval goes through */
    d = sn_document("erin.yu", 4);
    body = dump(d);
    a = sn_bearer(120, TG_TEST_AUD, priv);
    {
        const char *h[] = {ctype, "Accept: application/json", a, NULL};
        post("/v1/webhooks/servicenow", h, body, &r);
        expect_decision(&r, "allow", "RITM0012345", NULL);
        tg_test_resp_free(&r);
        /* the rule's retry of the same update: the recorded decision */
        free(a);
        a = sn_bearer(120, TG_TEST_AUD, priv);
        h[2] = a;
        post("/v1/webhooks/servicenow", h, body, &r);
        expect_decision(&r, "allow", "RITM0012345", NULL);
        tg_test_resp_free(&r);
    }
    free(a);
    free(body);
    json_decref(d);

    /* deny: the requester approves; the rule shows message and aborts */
    d = sn_document("bob.smith", 5);
    body = dump(d);
    a = sn_bearer(120, TG_TEST_AUD, priv);
    {
        const char *h[] = {ctype, "Accept: application/json", a, NULL};
        json_t *ans;
        post("/v1/webhooks/servicenow", h, body, &r);
        expect_decision(&r, "deny", "RITM0012345", "SOD_SELF_APPROVAL");
        ans = answer(&r, 200);
        assert_true(strlen(str(ans, "message")) > 10);
        json_decref(ans);
        tg_test_resp_free(&r);
    }
    free(a);
    /* The deny aborted the update, so sys_mod_count is still 5; corrected
     * (another approver), the next approval sends other content: a new
     * delivery, evaluated anew, not 409 replay. */
    {
        json_t *fixed = sn_document("erin.yu", 5);
        char *fbody = dump(fixed);

        assert_string_not_equal(str(fixed, "event_id"), str(d, "event_id"));
        a = sn_bearer(120, TG_TEST_AUD, priv);
        const char *h[] = {ctype, "Accept: application/json", a, NULL};
        post("/v1/webhooks/servicenow", h, fbody, &r);
        expect_decision(&r, "allow", "RITM0012345", NULL);
        tg_test_resp_free(&r);
        free(a);
        free(fbody);
        json_decref(fixed);
    }

    /* every authentication failure is 401 */
    {
        char *priv2 = NULL, *pub2 = NULL, keyfile[400];
        assert_int_equal(tg_test_keypair("RSA", &priv2, &pub2), 0);
        assert_int_equal(tg_test_write_file(&S, "other-private.pem", priv2), 0);
        snprintf(keyfile, sizeof keyfile, "%s/other-private.pem", S.dir);
        char *expired = sn_bearer(-600, TG_TEST_AUD, priv);
        char *aud = sn_bearer(120, "someone-else", priv);
        char *other = sn_bearer(120, TG_TEST_AUD, keyfile);
        const char *cases[] = {expired, aud, other,
                               "Authorization: Bearer abc.def.ghi", NULL};
        for (size_t i = 0; i < 5; i++) {
            const char *h[] = {ctype, cases[i], NULL};
            post("/v1/webhooks/servicenow", h, body, &r);
            expect_error(&r, 401, "unauthenticated", NULL);
            tg_test_resp_free(&r);
        }
        free(expired);
        free(aud);
        free(other);
        free(priv2);
        free(pub2);
    }
    free(body);
    json_decref(d);

    /* no RITM number: 422 naming it */
    d = sn_document("erin.yu", 6);
    json_object_del(json_object_get(d, "ritm"), "number");
    body = dump(d);
    a = sn_bearer(120, TG_TEST_AUD, priv);
    {
        const char *h[] = {ctype, a, NULL};
        post("/v1/webhooks/servicenow", h, body, &r);
        expect_error(&r, 422, "unmappable", "ritm.number");
        tg_test_resp_free(&r);
    }
    free(a);
    free(body);
    json_decref(d);
}

/* ---- ServiceNow with Standard Webhooks ---- */

static void sw_headers(const char *id, long ts, const char *key,
                       const char *body, char *hid, char *hts, char *hsig,
                       size_t cap)
{
    unsigned char mac[32];
    unsigned int len = 32;
    char tss[32], *msg, *enc;
    size_t n;

    snprintf(tss, sizeof tss, "%ld", ts);
    n = strlen(id) + strlen(tss) + strlen(body) + 3;
    msg = malloc(n);
    snprintf(msg, n, "%s.%s.%s", id, tss, body);
    HMAC(EVP_sha256(), key, (int)strlen(key), (unsigned char *)msg, strlen(msg),
         mac, &len);
    enc = b64(mac, 32);
    snprintf(hid, cap, "webhook-id: %s", id);
    snprintf(hts, cap, "webhook-timestamp: %s", tss);
    snprintf(hsig, cap, "webhook-signature: v1,%s", enc);
    free(enc);
    free(msg);
}

static void test_servicenow_standard_webhooks(void **state)
{
    json_t *d = sn_document("erin.yu", 9);
    char *body, hid[160], hts[160], hsig[160];
    long now = (long)time(NULL);
    struct tg_resp r;
    (void)state;

    /* without event_id the delivery id is webhook-id */
    json_object_del(d, "event_id");
    body = dump(d);
    sw_headers("msg_2Yc8", now, SW_KEY, body, hid, hts, hsig, sizeof hid);
    {
        const char *h[] = {ctype, hid, hts, hsig, NULL};
        post("/v1/webhooks/servicenow", h, body, &r);
        expect_decision(&r, "allow", "RITM0012345", NULL);
        tg_test_resp_free(&r);
    }
    struct {
        const char *name;
        long ts;
        const char *key;
    } bad[] = {
        {"too old", now - 400, SW_KEY},
        {"in the future", now + 400, SW_KEY},
        {"wrong key", now, "another-key"},
    };
    for (size_t i = 0; i < 3; i++) {
        sw_headers("msg_2Yc9", bad[i].ts, bad[i].key, body, hid, hts, hsig,
                   sizeof hid);
        const char *h[] = {ctype, hid, hts, hsig, NULL};
        print_message("%s\n", bad[i].name);
        post("/v1/webhooks/servicenow", h, body, &r);
        expect_error(&r, 401, "unauthenticated", NULL);
        tg_test_resp_free(&r);
    }
    {
        const char *h[] = {ctype, hid, hts, "webhook-signature: v1,AAAA", NULL};
        post("/v1/webhooks/servicenow", h, body, &r);
        expect_error(&r, 401, "unauthenticated", NULL);
        tg_test_resp_free(&r);
    }
    free(body);
    json_decref(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jira_cloud_webhook),
        cmocka_unit_test(test_jira_cloud_webhook_deny),
        cmocka_unit_test(test_jira_datacenter_webhook),
        cmocka_unit_test(test_jira_skip_and_unmappable),
        cmocka_unit_test(test_forge_validator),
        cmocka_unit_test(test_jira_connect_jwt),
        cmocka_unit_test(test_jira_connect_jti_single_use),
        cmocka_unit_test(test_servicenow_business_rule),
        cmocka_unit_test(test_servicenow_standard_webhooks),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
