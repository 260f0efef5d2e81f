/* test_events_server.c - POST /v1/events through the real server. */
/* needs: ticketgate */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <sqlite3.h>

#include "server/store/store.h"
#include "tests/support/tg_test.h"

#define FIX TG_SOURCE_DIR "/tests/fixtures/events/"
#define HMAC_SECRET "events-hmac-secret-for-tests-0123456789"
#define JWT_SECRET "events-client-secret-for-tests-0123456789"
#define JWT_ISS "okta-hook"
#define SCIM_GROUP "7f3a1c52-0b7e-4d2b-9c1e-2a5f8d6e4b31"
#define PS                                                                     \
    "arn:aws:sso:::permissionSet/ssoins-7223e4fa26e7c5e6/ps-0c2f5a9e3b1d4e7f"

/* sources.events with both credentials, and the mappings, added to the
 * example configuration; the store gives up on a lock after 200 ms. */
static const char *const sources_events =
    "  events:\n"
    "    hmac_secret: \"" HMAC_SECRET "\"\n"
    "    jwt:\n"
    "      algorithm: HS256\n"
    "      secret: \"" JWT_SECRET "\"\n"
    "      issuer: \"" JWT_ISS "\"\n"
    "      audience: \"ticketgate\"\n"
    "  generic:\n";

static const char *const mappings =
    "\nevents:\n"
    "  mappings:\n"
    "    - {okta_group: 00g1emaKYZTWRYYRRTSK, system: payments-db, "
    "entitlement: payments-read, environment: prod}\n"
    "    - {okta_app: 0oa1gjh63g214q0Hq0g4, system: hr-portal, entitlement: "
    "hr-portal-user}\n"
    "    - {aws_group: Admins, account: \"111122223333\", system: vault, "
    "entitlement: iam-admins}\n"
    "    - {aws_policy_arn: \"arn:aws:iam::aws:policy/ReadOnlyAccess\", "
    "system: vault, entitlement: read-only}\n"
    "    - {aws_permission_set: \"" PS "\", account: \"111122223333\", "
    "system: vault, entitlement: PowerUserAccess}\n"
    "    - {scim_group: " SCIM_GROUP ", system: payments-db, entitlement: "
    "payments-write}\n";

static struct tg_server S;
static char store_path[400];

/* Adds the SCIM and IAM Identity Center user ids of Carol and Bob to the
 * copied directory's aliases (the example has neither). */
static int add_aliases(void)
{
    char path[400], *text, *out;
    const char *carol = "\"carol\", \"carol.diaz\"]";
    const char *carol_new = "\"carol\", \"carol.diaz\", "
                            "\"2819c223-7f76-453a-919d-413861904646\"]";
    const char *bob = "\"bob\", \"bob.smith\",";
    const char *bob_new =
        "\"bob\", \"bob.smith\", "
        "\"906767ed4c-3b5e8a11-6b0f-4d2a-9c4e-5f1a2b3c4d5e\",";
    char *p;
    size_t n;
    int rc = -1;

    snprintf(path, sizeof(path), "%s/directory.yaml", S.dir);
    text = tg_test_read_file(path, &n);
    if (!text)
        return -1;
    out = malloc(n + 512);
    if (!out || !(p = strstr(text, carol)))
        goto done;
    snprintf(out, n + 512, "%.*s%s%s", (int)(p - text), text, carol_new,
             p + strlen(carol));
    free(text);
    text = out;
    out = malloc(strlen(text) + 512);
    if (!out || !(p = strstr(text, bob)))
        goto done;
    snprintf(out, strlen(text) + 512, "%.*s%s%s", (int)(p - text), text,
             bob_new, p + strlen(bob));
    rc = tg_test_write_file(&S, "directory.yaml", out);
done:
    free(out);
    free(text);
    return rc;
}

static int setup(void **state)
{
    (void)state;
    if (tg_test_server_prepare(&S) != 0 ||
        tg_test_config_replace(&S, "  generic:\n", sources_events) != 0 ||
        tg_test_config_replace(&S, "path: ./data/ticketgate.db",
                               "path: ./data/ticketgate.db\n"
                               "  busy_timeout_ms: 200") != 0 ||
        tg_test_config_replace(&S, "max_body_bytes: 1048576",
                               "max_body_bytes: 65536") != 0 ||
        add_aliases() != 0)
        return -1;
    {
        /* The mappings go at the end of the file. */
        char path[400], *text, *all;
        size_t n;
        int rc;
        snprintf(path, sizeof(path), "%s/ticketgate.yaml", S.dir);
        text = tg_test_read_file(path, &n);
        if (!text)
            return -1;
        all = malloc(n + strlen(mappings) + 1);
        if (!all) {
            free(text);
            return -1;
        }
        snprintf(all, n + strlen(mappings) + 1, "%s%s", text, mappings);
        rc = tg_test_write_file(&S, "ticketgate.yaml", all);
        free(all);
        free(text);
        if (rc != 0)
            return -1;
    }
    snprintf(store_path, sizeof(store_path), "%s/data/ticketgate.db", S.dir);
    if (tg_test_server_start(&S) != 0) {
        tg_test_server_dump_log(&S);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return tg_test_server_finish(&S);
}

/* ------------------------------------------------------------- helpers */

/* A token of sources.events valid for an hour, with jti when not NULL. */
static char *events_token(const char *jti)
{
    return tg_test_hs256_token(JWT_ISS, JWT_SECRET, jti);
}

static char *fixture(const char *name, size_t *len)
{
    char path[512];
    char *t;

    snprintf(path, sizeof(path), FIX "%s", name);
    t = tg_test_read_file(path, len);
    assert_non_null(t);
    return t;
}

/* "X-Hub-Signature: sha256=<hex>" of body under the events secret. */
static void hub_header(const char *body, size_t len, char *out, size_t cap)
{
    char hex[65];

    tg_test_hmac_sha256_hex(HMAC_SECRET, strlen(HMAC_SECRET), body, len, hex);
    snprintf(out, cap, "X-Hub-Signature: sha256=%s", hex);
}

/* POSTs body to path signed with X-Hub-Signature (ctype NULL: JSON). */
static void send_signed(const char *method, const char *path,
                        const char *ctype, const char *body, size_t len,
                        const char *extra, struct tg_resp *r)
{
    char sig[128], ct[96];
    const char *h[] = {ct, sig, extra, NULL};

    snprintf(ct, sizeof(ct), "Content-Type: %s",
             ctype ? ctype : "application/json");
    hub_header(body, len, sig, sizeof(sig));
    assert_int_equal(tg_test_http(&S, method, path, h, body, len, 0, r), 0);
}

static void post_signed(const char *path, const char *ctype, const char *body,
                        size_t len, const char *extra, struct tg_resp *r)
{
    send_signed("POST", path, ctype, body, len, extra, r);
}

/* The summary answer's numbers; unmapped: the length of its list. */
static void check_summary(const struct tg_resp *r, long accepted,
                          long duplicates, long ignored, long unmapped)
{
    json_t *doc = json_loads(r->body, 0, NULL);

    if (r->status != 200 || !doc)
        fail_msg("status %ld: %s", r->status, r->body);
    if (json_integer_value(json_object_get(doc, "accepted")) != accepted ||
        json_integer_value(json_object_get(doc, "duplicates")) != duplicates ||
        json_integer_value(json_object_get(doc, "ignored")) != ignored ||
        (long)json_array_size(json_object_get(doc, "unmapped")) != unmapped)
        fail_msg("want accepted %ld duplicates %ld ignored %ld unmapped %ld: "
                 "%s",
                 accepted, duplicates, ignored, unmapped, r->body);
    json_decref(doc);
}

/* The error code of an error answer. */
static void check_error(const struct tg_resp *r, long status, const char *code)
{
    json_t *doc = json_loads(r->body, 0, NULL);
    const char *c = json_string_value(json_object_get(doc, "error"));

    if (r->status != status || !c || strcmp(c, code) != 0)
        fail_msg("want %ld %s, got %ld: %s", status, code, r->status, r->body);
    json_decref(doc);
}

/* The stored event entries, read from the store file as an auditor would. */
struct found {
    json_t *by_key; /* source_id -> document */
};

static int collect(void *ctx, const struct tg_evidence_row *row)
{
    struct found *f = ctx;
    json_t *doc = json_loadb(row->json, row->json_len, 0, NULL);

    assert_non_null(doc);
    assert_string_equal(row->kind, "event");
    assert_string_equal(row->key,
                        json_string_value(json_object_get(doc, "source_id")));
    json_object_set_new(f->by_key, row->key, doc);
    return 0;
}

static json_t *stored_events(void)
{
    struct found f = {.by_key = json_object()};

    assert_int_equal(tg_evidence_scan_file(store_path, "event", INT64_MIN,
                                           INT64_MAX, collect, &f),
                     0);
    return f.by_key;
}

/* --------------------------------------------------------------- tests */

static void test_okta_verification(void **state)
{
    char *tok = events_token(NULL), *auth = tg_test_bearer_header(tok);
    const char *ok[] = {auth,
                        "X-Okta-Verification-Challenge: "
                        "cUlC0x8fwb2lyVVSXQ7fkNuigUpb1IcPcfyZGkSE",
                        NULL};
    const char *no_auth[] = {"X-Okta-Verification-Challenge: abc", NULL};
    const char *bad_auth[] = {"Authorization: Bearer abc.def.ghi",
                              "X-Okta-Verification-Challenge: abc", NULL};
    const char *no_challenge[] = {auth, NULL};
    struct tg_resp r;

    (void)state;
    assert_int_equal(tg_test_http(&S, "GET", "/v1/events", ok, NULL, 0, 0, &r),
                     0);
    assert_int_equal(r.status, 200);
    assert_string_equal(
        r.body,
        "{\"verification\":\"cUlC0x8fwb2lyVVSXQ7fkNuigUpb1IcPcfyZGkSE\"}");
    tg_test_resp_free(&r);
    assert_int_equal(
        tg_test_http(&S, "GET", "/v1/events", no_auth, NULL, 0, 0, &r), 0);
    check_error(&r, 401, "unauthenticated");
    tg_test_resp_free(&r);
    assert_int_equal(
        tg_test_http(&S, "GET", "/v1/events", bad_auth, NULL, 0, 0, &r), 0);
    check_error(&r, 401, "unauthenticated");
    tg_test_resp_free(&r);
    assert_int_equal(
        tg_test_http(&S, "GET", "/v1/events", no_challenge, NULL, 0, 0, &r), 0);
    check_error(&r, 400, "bad_request");
    tg_test_resp_free(&r);
    assert_int_equal(tg_test_http(&S, "PUT", "/v1/events", ok, NULL, 0, 0, &r),
                     0);
    check_error(&r, 405, "method_not_allowed");
    tg_test_resp_free(&r);
    free(auth);
    free(tok);
}

/* Okta's delivery with the hook's static Authorization header (a token
 * without jti), delivered twice: stored once, the second time all
 * duplicates, the unmappable events kept. */
static void test_okta_delivery(void **state)
{
    char *tok = events_token(NULL), *auth = tg_test_bearer_header(tok);
    const char *h[] = {"Content-Type: application/json", auth, NULL};
    size_t len;
    char *body = fixture("okta-event-hook.json", &len);
    struct tg_resp r;
    json_t *all, *ev;

    (void)state;
    assert_int_equal(
        tg_test_http(&S, "POST", "/v1/events", h, body, len, 0, &r), 0);
    /* 8 events: 2 change nothing, the deactivation is 2 revokes; the
     * Contractors group and the unknown user do not map. */
    check_summary(&r, 7, 0, 2, 2);
    tg_test_resp_free(&r);
    assert_int_equal(
        tg_test_http(&S, "POST", "/v1/events", h, body, len, 0, &r), 0);
    check_summary(&r, 0, 7, 2, 2);
    tg_test_resp_free(&r);

    all = stored_events();
    ev = json_object_get(all, "okta:14a42b00-74e5-11ee-8a5a-69d62fcd0f8b");
    assert_non_null(ev);
    assert_string_equal(json_string_value(json_object_get(ev, "identity")),
                        "bob@example.com");
    assert_string_equal(json_string_value(json_object_get(ev, "system")),
                        "payments-db");
    assert_true(json_is_true(json_object_get(ev, "mapped")));
    ev = json_object_get(all, "okta:8b4c5d60-74e6-11ee-81b7-8d3f0a5e1b82");
    assert_non_null(ev);
    assert_true(json_is_false(json_object_get(ev, "mapped")));
    assert_non_null(
        strstr(json_string_value(json_object_get(ev, "unmapped_reason")),
               "in no directory entry"));
    assert_non_null(json_object_get(
        all, "okta:6f2a3b40-74e6-11ee-9e5f-4a1c7d2b8e63/hr-portal/"
             "hr-portal-user"));
    json_decref(all);
    free(body);
    free(auth);
    free(tok);
}

static void test_cloudtrail_signed(void **state)
{
    size_t len;
    char *body = fixture("cloudtrail-mixed.json", &len);
    const char *h[] = {"Content-Type: application/json",
                       "X-Hub-Signature: sha256="
                       "0000000000000000000000000000000000000000000000000000"
                       "000000000000",
                       NULL};
    struct tg_resp r;
    json_t *all, *ev;

    (void)state;
    assert_int_equal(
        tg_test_http(&S, "POST", "/v1/events", h, body, len, 0, &r), 0);
    check_error(&r, 401, "unauthenticated");
    tg_test_resp_free(&r);
    post_signed("/v1/events", NULL, body, len, NULL, &r);
    /* 10 records: ConsoleLogin, a denied call and DescribeInstances are no
     * change; the group assignment, Developers and the other account do
     * not map. */
    check_summary(&r, 7, 0, 3, 3);
    tg_test_resp_free(&r);
    all = stored_events();
    ev =
        json_object_get(all, "cloudtrail:3a4b5c6d-7e8f-4091-b2c3-555555555555");
    assert_non_null(ev);
    assert_string_equal(json_string_value(json_object_get(ev, "identity")),
                        "bob@example.com");
    assert_string_equal(json_string_value(json_object_get(ev, "entitlement")),
                        "PowerUserAccess");
    assert_string_equal(json_string_value(json_object_get(ev, "form")),
                        "cloudtrail");
    json_decref(all);
    free(body);
}

/* The conflicts list of an answer, as text ("[]" when empty). */
static char *conflicts_of(const struct tg_resp *r)
{
    json_t *doc = json_loads(r->body, 0, NULL);
    char *s;

    assert_non_null(doc);
    s = json_dumps(json_object_get(doc, "conflicts"), JSON_COMPACT);
    json_decref(doc);
    assert_non_null(s);
    return s;
}

/* An EventBridge rule's API destination sends each record in its own
 * event, authenticated by the connection's static header (a token without
 * jti); the same record in a log file later is a duplicate, no conflict. */
static void test_cloudtrail_eventbridge(void **state)
{
    char *tok = events_token(NULL), *auth = tg_test_bearer_header(tok);
    const char *h[] = {"Content-Type: application/json; charset=utf-8", auth,
                       NULL};
    size_t len;
    char *body = fixture("cloudtrail-eventbridge.json", &len), *text, *c;
    json_t *eb = json_loads(body, 0, NULL), *file, *all, *ev;
    struct tg_resp r;

    (void)state;
    assert_non_null(eb);
    assert_int_equal(
        tg_test_http(&S, "POST", "/v1/events", h, body, len, 0, &r), 0);
    check_summary(&r, 1, 0, 0, 0);
    tg_test_resp_free(&r);
    all = stored_events();
    ev =
        json_object_get(all, "cloudtrail:9a0b1c2d-3e4f-4a5b-8c6d-bbbbbbbbbbbb");
    assert_non_null(ev);
    assert_string_equal(json_string_value(json_object_get(ev, "identity")),
                        "carol@example.com");
    assert_string_equal(json_string_value(json_object_get(ev, "entitlement")),
                        "iam-admins");
    json_decref(all);

    file = json_pack("{s:[O]}", "Records", json_object_get(eb, "detail"));
    text = json_dumps(file, JSON_COMPACT);
    assert_non_null(text);
    post_signed("/v1/events", NULL, text, strlen(text), NULL, &r);
    check_summary(&r, 0, 1, 0, 0);
    c = conflicts_of(&r);
    assert_string_equal(c, "[]");
    free(c);
    tg_test_resp_free(&r);
    free(text);
    json_decref(file);
    json_decref(eb);
    free(body);
    free(auth);
    free(tok);
}

static void test_scim(void **state)
{
    size_t len;
    char *add = fixture("scim-add.json", &len), *rm;
    const char *path = "/v1/events/scim/Groups/" SCIM_GROUP;
    struct tg_resp r;
    json_t *all, *ev;

    (void)state;
    post_signed(path, "application/scim+json", add, len,
                "Idempotency-Key: scim-req-1", &r);
    /* Dave's SCIM id is no alias: kept, unmapped. */
    check_summary(&r, 2, 0, 0, 1);
    tg_test_resp_free(&r);
    post_signed(path, "application/scim+json", add, len,
                "Idempotency-Key: scim-req-1", &r);
    check_summary(&r, 0, 2, 0, 1);
    tg_test_resp_free(&r);
    free(add);

    rm = fixture("scim-remove-filter.json", &len);
    post_signed(path, "application/scim+json; charset=utf-8", rm, len,
                "Idempotency-Key: scim-req-2", &r);
    check_summary(&r, 1, 0, 0, 0);
    tg_test_resp_free(&r);
    all = stored_events();
    ev = json_object_get(all, "scim:" SCIM_GROUP
                              ":scim-req-2:0:2819c223-7f76-453a-919d-"
                              "413861904646");
    assert_non_null(ev);
    assert_string_equal(json_string_value(json_object_get(ev, "type")),
                        "revoke");
    assert_string_equal(json_string_value(json_object_get(ev, "identity")),
                        "carol@example.com");
    assert_string_equal(json_string_value(json_object_get(ev, "entitlement")),
                        "payments-write");
    json_decref(all);

    /* A PatchOp without its group, a group id no path carries, another
     * media type. */
    post_signed("/v1/events", NULL, rm, len, NULL, &r);
    check_error(&r, 422, "unmappable");
    tg_test_resp_free(&r);
    post_signed("/v1/events/scim/Groups/a%2Fb", "application/scim+json", rm,
                len, NULL, &r);
    check_error(&r, 404, "not_found");
    tg_test_resp_free(&r);
    post_signed(path, "text/plain", rm, len, NULL, &r);
    check_error(&r, 415, "unsupported_media_type");
    tg_test_resp_free(&r);
    free(rm);

    /* A SCIM client PATCHes the group itself (RFC 7644 3.5.2): the same
     * PatchOp by PATCH is the same change, here a re-delivery. */
    add = fixture("scim-add.json", &len);
    send_signed("PATCH", path, "application/scim+json", add, len,
                "Idempotency-Key: scim-req-1", &r);
    check_summary(&r, 0, 2, 0, 1);
    tg_test_resp_free(&r);
    free(add);
}

/* A SCIM client retrying under its Idempotency-Key a second or more
 * later: duplicates, and no conflict (the events' time is when the request
 * came, not part of the change). */
static void test_scim_retry_later(void **state)
{
    size_t len;
    char *add = fixture("scim-add.json", &len), *c;
    const char *path = "/v1/events/scim/Groups/" SCIM_GROUP;
    time_t t0 = time(NULL);
    struct tg_resp r;

    (void)state;
    post_signed(path, "application/scim+json", add, len,
                "Idempotency-Key: scim-retry-1", &r);
    check_summary(&r, 2, 0, 0, 1);
    tg_test_resp_free(&r);
    while (time(NULL) == t0) /* the next second: another receive time */
        usleep(50 * 1000);
    post_signed(path, "application/scim+json", add, len,
                "Idempotency-Key: scim-retry-1", &r);
    check_summary(&r, 0, 2, 0, 1);
    c = conflicts_of(&r);
    assert_string_equal(c, "[]");
    free(c);
    tg_test_resp_free(&r);
    free(add);
}

/* An Idempotency-Key that is not printable ASCII (RFC 9110 field values
 * are ASCII; this one would be no key of the chain) is refused with 400
 * before anything is stored. */
static void test_scim_bad_key(void **state)
{
    size_t len;
    char *add = fixture("scim-add.json", &len);
    const char *path = "/v1/events/scim/Groups/" SCIM_GROUP;
    struct tg_resp r;

    (void)state;
    post_signed(path, "application/scim+json", add, len,
                "Idempotency-Key: k\xff\xfe", &r);
    check_error(&r, 400, "bad_request");
    assert_non_null(strstr(r.body, "Idempotency-Key"));
    tg_test_resp_free(&r);
    free(add);
}

/* A token with a jti carries one body: the same again is a re-delivery,
 * another body a replay. */
static void test_canonical_jti(void **state)
{
    char *tok = events_token("evt-jti-1"), *auth = tg_test_bearer_header(tok);
    const char *h[] = {"Content-Type: application/json", auth, NULL};
    size_t len;
    char *body = fixture("canonical-batch.json", &len);
    const char *other = "{\"type\":\"grant\",\"time\":\"2026-11-20T08:00:00Z\","
                        "\"identity\":\"bob\",\"system\":\"vault\","
                        "\"entitlement\":\"kv-read\",\"source_id\":\"x-1\"}";
    struct tg_resp r;

    (void)state;
    assert_int_equal(
        tg_test_http(&S, "POST", "/v1/events", h, body, len, 0, &r), 0);
    /* nobody@elsewhere.test and the mainframe do not map. */
    check_summary(&r, 5, 0, 0, 2);
    tg_test_resp_free(&r);
    assert_int_equal(
        tg_test_http(&S, "POST", "/v1/events", h, body, len, 0, &r), 0);
    check_summary(&r, 0, 5, 0, 2);
    tg_test_resp_free(&r);
    assert_int_equal(
        tg_test_http(&S, "POST", "/v1/events", h, other, strlen(other), 0, &r),
        0);
    check_error(&r, 409, "replay");
    tg_test_resp_free(&r);
    free(body);
    free(auth);
    free(tok);
}

/* A source_id sent again with another event is a duplicate all the same
 * (the first stays), and named in conflicts; the same event is not. */
static void test_conflict(void **state)
{
    static const char a[] =
        "{\"type\":\"grant\",\"time\":\"2026-11-20T08:00:00Z\","
        "\"identity\":\"dave\",\"system\":\"vault\",\"entitlement\":"
        "\"kv-read\",\"source_id\":\"c-1\"}";
    static const char b[] =
        "{\"type\":\"grant\",\"time\":\"2026-11-20T08:00:00Z\","
        "\"identity\":\"dave\",\"system\":\"vault\",\"entitlement\":"
        "\"kv-admin\",\"source_id\":\"c-1\"}";
    static const char a_in_batch[] =
        "{\"events\":[{\"type\":\"grant\",\"time\":\"2026-11-20T08:00:00Z\","
        "\"identity\":\"dave\",\"system\":\"vault\",\"entitlement\":"
        "\"kv-read\",\"source_id\":\"c-1\"}]}";
    struct tg_resp r;
    char *c;
    json_t *all;

    (void)state;
    post_signed("/v1/events", NULL, a, strlen(a), NULL, &r);
    check_summary(&r, 1, 0, 0, 0);
    tg_test_resp_free(&r);
    post_signed("/v1/events", NULL, b, strlen(b), NULL, &r);
    check_summary(&r, 0, 1, 0, 0);
    c = conflicts_of(&r);
    assert_string_equal(c, "[\"c-1\"]");
    free(c);
    tg_test_resp_free(&r);
    /* The same event in another delivery (another raw_ref): no conflict. */
    post_signed("/v1/events", NULL, a_in_batch, strlen(a_in_batch), NULL, &r);
    check_summary(&r, 0, 1, 0, 0);
    c = conflicts_of(&r);
    assert_string_equal(c, "[]");
    free(c);
    tg_test_resp_free(&r);
    all = stored_events();
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(all, "c-1"), "entitlement")),
                        "kv-read");
    json_decref(all);
}

static void test_refusals(void **state)
{
    static const char bad_json[] = "{\"type\": \"grant\",";
    static const char bad_event[] =
        "{\"type\":\"grant\",\"time\":\"yesterday\",\"identity\":\"bob\","
        "\"system\":\"vault\",\"entitlement\":\"kv\",\"source_id\":\"r-1\"}";
    char *big = malloc(70000);
    struct tg_resp r;

    (void)state;
    assert_non_null(big);
    post_signed("/v1/events", NULL, bad_json, strlen(bad_json), NULL, &r);
    check_error(&r, 400, "bad_json");
    tg_test_resp_free(&r);
    post_signed("/v1/events", NULL, bad_event, strlen(bad_event), NULL, &r);
    check_error(&r, 422, "unmappable");
    assert_non_null(strstr(r.body, "time is not an RFC 3339"));
    tg_test_resp_free(&r);
    memset(big, ' ', 70000);
    big[0] = '{';
    big[69999] = '}';
    post_signed("/v1/events", NULL, big, 70000, NULL, &r);
    check_error(&r, 413, "too_large");
    tg_test_resp_free(&r);
    free(big);
}

/* Last: the store locked past its busy timeout answers 503, and the
 * delivery sent again once it is free is stored. */
static void test_store_unavailable(void **state)
{
    static const char ev[] =
        "{\"type\":\"revoke\",\"time\":\"2026-11-26T08:00:00Z\","
        "\"identity\":\"carol\",\"system\":\"hr-portal\","
        "\"entitlement\":\"hr-portal-user\",\"source_id\":\"lock-1\"}";
    sqlite3 *db = NULL;
    struct tg_resp r;
    char *retry;
    int i;

    (void)state;
    assert_int_equal(sqlite3_open(store_path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL, NULL),
                     SQLITE_OK);
    post_signed("/v1/events", NULL, ev, strlen(ev), NULL, &r);
    assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    check_error(&r, 503, "store_unavailable");
    retry = tg_test_resp_header(&r, "Retry-After");
    assert_non_null(retry);
    free(retry);
    tg_test_resp_free(&r);
    /* The store takes writes again within its probe period. */
    for (i = 0; i < 50; i++) {
        post_signed("/v1/events", NULL, ev, strlen(ev), NULL, &r);
        if (r.status == 200)
            break;
        tg_test_resp_free(&r);
        nanosleep(&(struct timespec){.tv_nsec = 100000000}, NULL);
    }
    check_summary(&r, 1, 0, 0, 0);
    tg_test_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_okta_verification),
        cmocka_unit_test(test_okta_delivery),
        cmocka_unit_test(test_cloudtrail_signed),
        cmocka_unit_test(test_cloudtrail_eventbridge),
        cmocka_unit_test(test_scim),
        cmocka_unit_test(test_scim_retry_later),
        cmocka_unit_test(test_scim_bad_key),
        cmocka_unit_test(test_canonical_jti),
        cmocka_unit_test(test_conflict),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_store_unavailable),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
