/* needs: ticketgate */
/* test_auditshow.c - `ticketgate audit show` on a store the real server
 * wrote: the auditor's four answers, findings, policy, chain position. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <sqlite3.h>

#include "server/cli/cli.h"
#include "server/config/config.h"
#include "server/store/store.h"
#include "tests/support/cmdrun.h"
#include "tests/support/tg_test.h"

/* The server's store, with the decisions it made (setup). */
static struct tg_server S;
static char example_id[64], group_id[64], sn_id[64], ctl_id[64];
static char snw_id[64];

/* Runs tg_cmd_audit("audit", "show", id, "-c", config, extra...) with
 * stdout and stderr captured. */
static const char *config_path; /* NULL: S.config */

/* Runs tg_cmd_audit(argc, argv) with stdout and stderr captured. */
static struct tg_test_run capture(int argc, char **argv)
{
    return tg_test_capture(tg_cmd_audit, argc, argv);
}

static struct tg_test_run show(const char *id, const char *format)
{
    char *argv[8];
    int argc = 0;

    argv[argc++] = (char *)"audit";
    argv[argc++] = (char *)"show";
    argv[argc++] = (char *)id;
    argv[argc++] = (char *)"-c";
    argv[argc++] = config_path ? (char *)config_path : S.config;
    if (format) {
        argv[argc++] = (char *)"--format";
        argv[argc++] = (char *)format;
    }
    argv[argc] = NULL;
    return capture(argc, argv);
}

/* tg_cmd_audit("audit", args...) (NULL-terminated), captured. */
static struct tg_test_run audit(const char *const *args)
{
    return tg_test_run_cmd(tg_cmd_audit, "audit", args);
}

static void has(const struct tg_test_run *r, const char *needle)
{
    if (!strstr(r->out, needle))
        fail_msg("want \"%s\" in:\n%s\nstderr: %s", needle, r->out, r->err);
}

/* POSTs body to path with the request headers h; the answer's decision
 * id into id (the answer must be 200). */
static void post_for_id(const char *path, const char *const *h,
                        const char *body, char *id, size_t cap)
{
    struct tg_resp r;
    json_t *doc;

    assert_int_equal(
        tg_test_http(&S, "POST", path, h, body, strlen(body), 0, &r), 0);
    if (r.status != 200)
        fail_msg("status %ld: %s", r.status, r.body);
    doc = json_loads(r.body, 0, NULL);
    assert_non_null(doc);
    snprintf(id, cap, "%s",
             json_string_value(json_object_get(doc, "decision_id")));
    json_decref(doc);
    tg_test_resp_free(&r);
}

/* POSTs ticket (a JSON object text) to /v1/check; its decision id into
 * id. */
static void check(json_t *ticket, char *id, size_t cap)
{
    char *tok = tg_test_generic_token(NULL), *auth = tg_test_bearer_header(tok);
    const char *h[] = {"Content-Type: application/json", auth, NULL};
    char *body = json_dumps(ticket, JSON_COMPACT);

    post_for_id("/v1/check", h, body, id, cap);
    free(body);
    free(auth);
    free(tok);
}

static void store_sql(const char *sql)
{
    char path[512];
    sqlite3 *db = NULL;

    snprintf(path, sizeof(path), "%s/data/ticketgate.db", S.dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    sqlite3_close(db);
}

static int64_t store_int(const char *sql)
{
    char path[512];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t v;

    snprintf(path, sizeof(path), "%s/data/ticketgate.db", S.dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* The seq of decision id in the store (policy entries take seqs too). */
static int64_t seq_of(const char *id)
{
    char sql[256];

    snprintf(sql, sizeof(sql),
             "SELECT seq FROM records WHERE decision_id = '%s'", id);
    return store_int(sql);
}

/* Column col of decision id's row, as text (static buffer). */
static const char *store_text(const char *col, const char *id)
{
    static char out[256];
    char path[512], sql[256];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;

    snprintf(path, sizeof(path), "%s/data/ticketgate.db", S.dir);
    snprintf(sql, sizeof(sql),
             "SELECT %s FROM records WHERE decision_id = '%s'", col, id);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    snprintf(out, sizeof(out), "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
}

static int64_t head_seq(void)
{
    return store_int("SELECT max(seq) FROM records");
}

/* "seq A of B" as show writes it. */
static void has_seq(const struct tg_test_run *r, int64_t seq, int64_t head)
{
    char want[96];

    snprintf(want, sizeof(want), "Chain\n  seq %lld of %lld,", (long long)seq,
             (long long)head);
    has(r, want);
}

/* The contract's ServiceNow approval through /v1/webhooks/servicenow
 * (RS256 Bearer, as the business rule sends it): assigned to dave, erin
 * acted (approval.acted_by). Its decision id into id. */
static void servicenow_webhook(char *id, size_t cap)
{
    json_t *d = json_load_file(
        TG_SOURCE_DIR "/example/payloads/servicenow-approval.json", 0, NULL);
    json_t *ap = json_object_get(d, "approval");
    char claims[300], exp[32], *pem, *tok, *auth, *body;
    long now = (long)time(NULL);

    assert_non_null(d);
    json_object_set_new(ap, "approver",
                        json_pack("{s:s,s:s}", "user_name", "dave.okafor",
                                  "name", "Dave Okafor"));
    json_object_set_new(ap, "acted_by",
                        json_pack("{s:s,s:s}", "user_name", "erin.yu",
                                  "name", "Erin Yu"));
    tg_test_rfc3339(3 * 86400, exp, sizeof(exp));
    exp[10] = ' '; /* ServiceNow's "yyyy-MM-dd HH:mm:ss" */
    exp[19] = '\0';
    json_object_set_new(
        json_object_get(json_object_get(d, "ritm"), "variables"),
        "access_expiry", json_string(exp));
    snprintf(claims, sizeof(claims),
             "{\"iss\":\"%s\",\"aud\":\"%s\",\"iat\":%ld,\"exp\":%ld,"
             "\"jti\":\"auditshow-%ld\"}",
             TG_TEST_SN_ISS, TG_TEST_AUD, now, now + 120, now);
    pem = tg_test_read_file(
        TG_SOURCE_DIR "/example/keys/servicenow-private-TEST-ONLY.pem", NULL);
    assert_non_null(pem);
    tok = tg_test_jwt("RS256", pem, strlen(pem), claims);
    assert_non_null(tok);
    auth = tg_test_bearer_header(tok);
    body = json_dumps(d, JSON_COMPACT);
    {
        const char *h[] = {"Content-Type: application/json", auth, NULL};
        post_for_id("/v1/webhooks/servicenow", h, body, id, cap);
    }
    free(body);
    free(auth);
    free(tok);
    free(pem);
    json_decref(d);
}

/* The real server decides three tickets: the contract's example (erin,
 * carol's delegate), dave through his group, and a ServiceNow-style
 * approval where erin acted for dave. */
static int setup(void **state)
{
    char exp[32];
    json_t *t;
    (void)state;

    assert_int_equal(tg_test_server_prepare(&S), 0);
    assert_int_equal(tg_test_server_start(&S), 0);
    t = json_load_file(TG_SOURCE_DIR "/example/payloads/canonical-ticket.json",
                       0, NULL);
    assert_non_null(t);
    /* a week from now: within admin's 30 days whatever day the test runs */
    tg_test_rfc3339(7 * 86400, exp, sizeof(exp));
    json_object_set_new(t, "expires_at", json_string(exp));
    check(t, example_id, sizeof(example_id));
    json_object_set_new(t, "id", json_string("ACC-4411"));
    json_object_set_new(t, "approver", json_string("dave.okafor"));
    json_object_set_new(json_object_get(t, "scope"), "privilege",
                        json_string("write"));
    check(t, group_id, sizeof(group_id));
    json_object_set_new(t, "id", json_string("RITM0012345"));
    json_object_set_new(t, "source", json_string("servicenow"));
    json_object_set_new(t, "approver", json_string("erin.yu"));
    json_object_set_new(t, "assigned_approver", json_string("dave.okafor"));
    check(t, sn_id, sizeof(sn_id));
    /* a justification that would drive a terminal: escape sequence, a
     * right-to-left override */
    json_object_set_new(t, "id", json_string("ACC-4412"));
    json_object_set_new(t, "justification",
                        json_string("Quarterly \x1b[2J reconciliation "
                                    "\xe2\x80\xae of the ledger for audit "
                                    "PAY-77 in payments-db"));
    check(t, ctl_id, sizeof(ctl_id));
    json_decref(t);
    servicenow_webhook(snw_id, sizeof(snw_id));
    assert_int_equal(tg_test_server_stop(&S), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tg_test_server_cleanup(&S);
    return 0;
}

/* The four answers, the findings, the policy and the chain, in words. */
static void test_text(void **state)
{
    struct tg_test_run r = show(example_id, NULL);
    (void)state;

    if (r.rc != 0)
        fail_msg("exit %d: %s%s", r.rc, r.out, r.err);
    has(&r, "Decision d-");
    has(&r, "ticket ACC-4410 from generic");
    /* who asked */
    has(&r, "requester:   bob@example.com (Bob Smith)");
    has(&r, "beneficiary: bob@example.com (Bob Smith), type human");
    /* why */
    has(&r, "justification: Migrating the refunds schema to v7");
    has(&r, "admin access to payments-db (prod), entitlement "
            "role:refunds_ddl");
    /* who approved under which authority */
    has(&r, "erin@example.com (Erin Yu), judged at ");
    has(&r, "delegate of carol@example.com from 2025-01-01 until 2099-12-31 "
            "(whole UTC days), who is an owner of payments-db; covers the "
            "requested admin");
    /* until when */
    has(&r, "Until when\n  expires_at ");
    has(&r, "Findings\n");
    has(&r, "Policy\n  sha256:");
    has_seq(&r, seq_of(example_id), head_seq());
    has(&r, "verifies: every link up to the head holds");
    tg_test_run_free(&r);

    r = show(group_id, "text");
    assert_int_equal(r.rc, 0);
    has(&r, "dave.okafor = dave@example.com (Dave Okafor)");
    has(&r, "an approver of payments-db through the group "
            "payments-approvers, up to write; covers the requested write");
    has_seq(&r, seq_of(group_id), head_seq());
    tg_test_run_free(&r);

    r = show(sn_id, "text");
    assert_int_equal(r.rc, 0);
    has(&r, "erin.yu = erin@example.com (Erin Yu)");
    has(&r, "acted for the assigned approver dave.okafor = dave@example.com "
            "(Dave Okafor)");
    tg_test_run_free(&r);

    /* the same through ServiceNow's own webhook */
    r = show(snw_id, "text");
    if (r.rc != 0)
        fail_msg("exit %d: %s%s", r.rc, r.out, r.err);
    has(&r, "ticket RITM0012345 from servicenow");
    has(&r, "  erin.yu = erin@example.com (Erin Yu), judged at ");
    has(&r, "acted for the assigned approver dave.okafor = dave@example.com "
            "(Dave Okafor)");
    has(&r, "delegate of carol@example.com from 2025-01-01 until 2099-12-31");
    has(&r, "owner:       carol.diaz = carol@example.com (Carol Diaz)");
    tg_test_run_free(&r);
}

/* Text from the store cannot drive the auditor's terminal. */
static void test_terminal_safe(void **state)
{
    struct tg_test_run r = show(ctl_id, NULL);
    (void)state;

    assert_int_equal(r.rc, 0);
    has(&r, "justification: Quarterly ?[2J reconciliation ? of the ledger");
    assert_null(strchr(r.out, 0x1b));
    assert_null(strstr(r.out, "\xe2\x80\xae"));
    tg_test_run_free(&r);
}

/* --format json: the record, the decision and the judged ticket as
 * stored, and the chain's verdict, for tools. */
static void test_json(void **state)
{
    struct tg_test_run r = show(example_id, "json");
    json_t *o, *a;
    (void)state;

    assert_int_equal(r.rc, 0);
    o = json_loads(r.out, 0, NULL);
    if (!o)
        fail_msg("not JSON: %s", r.out);
    assert_int_equal(json_integer_value(json_object_get(o, "seq")),
                     seq_of(example_id));
    assert_string_equal(json_string_value(json_object_get(o, "decision_id")),
                        example_id);
    assert_true(json_is_true(json_object_get(o, "ticket_kept")));
    assert_true(json_is_true(
        json_object_get(json_object_get(o, "chain"), "verified")));
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(o, "chain"), "head_seq")),
                     head_seq());
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(o, "decision"),
                                          "decision_id")),
        example_id);
    a = json_object_get(
        json_array_get(json_object_get(json_object_get(json_object_get(
                                           o, "judged"),
                                                       "identities"),
                                       "approvers"),
                       0),
        "authority");
    assert_string_equal(json_string_value(json_object_get(a, "basis")),
                        "delegate");
    assert_string_equal(json_string_value(json_object_get(a, "delegator")),
                        "carol@example.com");
    json_decref(o);
    tg_test_run_free(&r);
}

/* Issue 13: record + judged ticket under 4 KB for the example ticket. */
static void test_size(void **state)
{
    char sql[512];
    int64_t judged, total;
    (void)state;

    snprintf(sql, sizeof(sql),
             "SELECT length(judged) FROM records WHERE decision_id = '%s'",
             example_id);
    judged = store_int(sql);
    snprintf(sql, sizeof(sql),
             "SELECT length(decision_id) + length(ticket) + length(source)"
             " + ifnull(length(delivery_id), 0) + length(body_sha256)"
             " + length(policy) + 8 + length(decision)"
             " + ifnull(length(just_norm), 0) + length(prev_hash)"
             " + length(hash) + ifnull(length(mac), 0) + length(kind)"
             " + length(judged) FROM records WHERE decision_id = '%s'",
             example_id);
    total = store_int(sql);
    print_message("example ticket: judged %lld bytes, record with it %lld "
                  "bytes\n",
                  (long long)judged, (long long)total);
    assert_true(judged > 0);
    /* Stores take 8 KB pages (server/store/sqlite.c): three rows fit a
     * page while each stays under about 2 700 bytes of columns; past that
     * two do, 4 KB each on disk, at the bound (test_basis_http measures
     * the Jira and ServiceNow forms on disk). */
    if (total >= 2700)
        fail_msg("the example ticket's record is %lld bytes: it no longer "
                 "fits three to an 8 KB page (4 KB each on disk)",
                 (long long)total);
}

/* A record without a judged ticket (as the store writes one given none)
 * shows what it has and says the ticket was not kept. */
static void test_without_judged(void **state)
{
    struct tg_config *c = NULL;
    struct tg_evidence *e = NULL;
    struct tg_evidence_record rec;
    struct tg_diag d;
    const char *doc = "{\"decision\":\"allow\",\"decision_id\":"
                      "\"d-000000009999-abcdef\",\"ticket\":\"OLD-1\","
                      "\"source\":\"generic\",\"transition\":{\"from\":"
                      "null,\"to\":null,\"actor\":\"dave\"},\"findings\":[],"
                      "\"evaluated_at\":\"2026-01-01T00:00:00Z\"}";
    struct tg_test_run r;
    (void)state;

    tg_diag_init(&d);
    assert_int_equal(tg_config_load(S.config, &c, &d), 0);
    tg_diag_cleanup(&d);
    assert_int_equal(tg_evidence_open(c, &e), 0);
    memset(&rec, 0, sizeof(rec));
    rec.decision_id = "d-000000009999-abcdef";
    rec.ticket = "OLD-1";
    rec.source = "generic";
    rec.policy_digest = c->digest;
    rec.time = 1767225600;
    rec.decision_json = doc;
    rec.decision_len = strlen(doc);
    assert_int_equal(tg_evidence_append(e, &rec), 0);
    tg_evidence_close(e);
    tg_config_free(c);

    r = show("d-000000009999-abcdef", NULL);
    if (r.rc != 0)
        fail_msg("exit %d: %s%s", r.rc, r.out, r.err);
    has(&r, "The judged ticket was not kept");
    has(&r, "the transition's actor: dave");
    has(&r, "Findings\n  none\n");
    has_seq(&r, head_seq(), head_seq());
    tg_test_run_free(&r);
    r = show("d-000000009999-abcdef", "json");
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "\"ticket_kept\":false"));
    assert_non_null(strstr(r.out, "\"judged\":null"));
    tg_test_run_free(&r);
}

/* A store file of the first format (schema version 1: no kind, no judged
 * column), as an old server or an old archive left it: show reads it with
 * what it has. This one has no checkpoints table, so its chain cannot be
 * verified, and show says so. */
static void test_v1_file(void **state)
{
    char path[512], cfg[512], *text, *p;
    sqlite3 *db = NULL;
    struct tg_test_run r;
    FILE *f;
    (void)state;

    snprintf(path, sizeof(path), "%s/data/v1.db", S.dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db,
                     "CREATE TABLE records(seq INTEGER PRIMARY KEY,"
                     " decision_id TEXT NOT NULL UNIQUE, ticket TEXT NOT NULL,"
                     " source TEXT NOT NULL, delivery_id TEXT, body_sha256"
                     " TEXT NOT NULL, policy TEXT NOT NULL, time INTEGER NOT"
                     " NULL, decision TEXT NOT NULL, just_norm TEXT,"
                     " prev_hash TEXT NOT NULL, hash TEXT NOT NULL, mac TEXT);"
                     "INSERT INTO records VALUES(1, 'd-000000000001-00aa11',"
                     " 'ACC-7', 'jira', 'del-1', 'ab', 'sha256:00', 1700000000,"
                     " '{\"decision\":\"deny\",\"findings\":[{\"code\":"
                     "\"AUTHORITY_NONE\",\"action\":\"deny\",\"message\":"
                     "\"The approver mallory has no authority.\"}],"
                     "\"evaluated_at\":\"2023-11-14T22:13:20Z\"}', NULL,"
                     " 'zz', 'yy', NULL);"
                     "PRAGMA user_version=1;",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    /* the same configuration with store.path naming the old file */
    text = tg_test_read_file(S.config, NULL);
    assert_non_null(text);
    p = strstr(text, "path: ./data/ticketgate.db");
    assert_non_null(p);
    snprintf(cfg, sizeof(cfg), "%s/v1.yaml", S.dir);
    f = fopen(cfg, "w");
    assert_non_null(f);
    fprintf(f, "%.*spath: ./data/v1.db%s", (int)(p - text), text,
            p + strlen("path: ./data/ticketgate.db"));
    fclose(f);
    free(text);

    config_path = cfg;
    r = show("d-000000000001-00aa11", NULL);
    config_path = NULL;
    assert_int_equal(r.rc, 1);
    has(&r, "Decision d-000000000001-00aa11: deny");
    has(&r, "ticket ACC-7 from jira");
    has(&r, "delivery del-1");
    has(&r, "The judged ticket was not kept");
    has(&r, "- deny AUTHORITY_NONE: The approver mallory has no authority.");
    has(&r, "(its files are NOT kept in this store");
    has(&r, "could NOT be verified");
    tg_test_run_free(&r);
}

/* --store PATH, beside or instead of -c: a record moved to an archive is
 * shown from the archive (the message for a missing record sends the
 * auditor there), and a store is shown when its configuration is gone;
 * without a key, records that carry MACs are said to be checked by their
 * hashes only. */
static void test_store_option(void **state)
{
    char copy[512], arch[512], sql[700], before[32], want[1100];
    struct tg_test_run r;
    (void)state;

    /* a copy, so that the archive leaves the server's store as it is */
    snprintf(copy, sizeof(copy), "%s/data/copy.db", S.dir);
    snprintf(arch, sizeof(arch), "%s/data/archive.db", S.dir);
    snprintf(sql, sizeof(sql), "VACUUM INTO '%s'", copy);
    store_sql(sql);
    snprintf(before, sizeof(before), "%lld", (long long)seq_of(group_id));

    r = audit((const char *[]){"show", example_id, "--store", copy, NULL});
    if (r.rc != 0)
        fail_msg("exit %d: %s%s", r.rc, r.out, r.err);
    has(&r, "Who asked\n");
    has(&r, "delegate of carol@example.com");
    has(&r, "verifies: every link up to the head holds\n");
    snprintf(want, sizeof(want), "(the files: ticketgate audit policy %s "
             "--store %s)", store_text("policy", example_id), copy);
    has(&r, want);
    tg_test_run_free(&r);

    r = audit((const char *[]){"archive", "--store", copy, "--before", before,
                               "--to", arch, NULL});
    if (r.rc != 0)
        fail_msg("archive: exit %d: %s%s", r.rc, r.out, r.err);
    tg_test_run_free(&r);
    r = audit((const char *[]){"show", example_id, "--store", copy, NULL});
    assert_int_equal(r.rc, 1);
    assert_non_null(strstr(r.err, "look in its archives"));
    tg_test_run_free(&r);
    r = audit((const char *[]){"show", example_id, "-c", S.config, "--store",
                               arch, "--format", "json", NULL});
    if (r.rc != 0)
        fail_msg("exit %d: %s%s", r.rc, r.out, r.err);
    assert_non_null(strstr(r.out, "\"ticket_kept\":true"));
    assert_non_null(strstr(r.out, "\"verified\":true"));
    assert_non_null(strstr(r.out, "\"policy_kept\":true"));
    tg_test_run_free(&r);
    /* the policy's files went to the archive with the first records: a
     * record left in the store says where they are not */
    r = audit((const char *[]){"show", group_id, "--store", copy, NULL});
    if (r.rc != 0)
        fail_msg("exit %d: %s%s", r.rc, r.out, r.err);
    has(&r, "(its files are NOT kept in this store");
    has(&r, "--store ARCHIVE)");
    tg_test_run_free(&r);
    r = audit((const char *[]){"show", group_id, "--store", copy, "--format",
                               "json", NULL});
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "\"policy_kept\":false"));
    tg_test_run_free(&r);

    /* records with MACs and no key to check them: said, not hidden */
    snprintf(sql, sizeof(sql), "UPDATE records SET mac = hash");
    {
        sqlite3 *db = NULL;

        assert_int_equal(sqlite3_open(arch, &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
    }
    r = audit((const char *[]){"show", example_id, "--store", arch, NULL});
    assert_int_equal(r.rc, 0);
    has(&r, "(hashes only: the records carry MACs");
    tg_test_run_free(&r);
    r = audit((const char *[]){"show", example_id, "--store", arch,
                               "--format", "json", NULL});
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "\"macs_checked\":false"));
    tg_test_run_free(&r);

    r = audit((const char *[]){"show", example_id, NULL});
    assert_int_equal(r.rc, 2);
    assert_non_null(strstr(r.err, "-c FILE (or --store PATH) is required"));
    tg_test_run_free(&r);
}

/* Not found; a judged ticket altered in the file. Last: it breaks the
 * store's chain. */
static void test_missing_and_altered(void **state)
{
    struct tg_test_run r = show("d-999999999999-000000", NULL);
    char sql[256], want[96];
    (void)state;

    assert_int_equal(r.rc, 1);
    assert_non_null(strstr(r.err, "no decision d-999999999999-000000"));
    tg_test_run_free(&r);

    /* the approver's basis rewritten: the chain no longer holds there */
    snprintf(sql, sizeof(sql),
             "UPDATE records SET judged = replace(judged, 'payments-approvers',"
             " 'security-leads') WHERE decision_id = '%s'",
             group_id);
    store_sql(sql);
    r = show(group_id, NULL);
    assert_int_equal(r.rc, 1);
    has(&r, "through the group security-leads");
    snprintf(want, sizeof(want), "does NOT verify: broken at seq %lld",
             (long long)seq_of(group_id));
    has(&r, want);
    tg_test_run_free(&r);
    /* a record before the break verifies up to itself; one after not */
    r = show(example_id, NULL);
    assert_int_equal(r.rc, 0);
    snprintf(want, sizeof(want),
             "verifies up to this record; broken later, at seq %lld",
             (long long)seq_of(group_id));
    has(&r, want);
    tg_test_run_free(&r);
    r = show(sn_id, "json");
    assert_int_equal(r.rc, 1);
    assert_non_null(strstr(r.out, "\"verified\":false"));
    tg_test_run_free(&r);
}

static void test_usage(void **state)
{
    struct tg_test_run r = show(example_id, "yaml");
    (void)state;

    assert_int_equal(r.rc, 2);
    assert_non_null(strstr(r.err, "--format takes text or json"));
    tg_test_run_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_terminal_safe),
        cmocka_unit_test(test_size),
        cmocka_unit_test(test_usage),
        cmocka_unit_test(test_without_judged),
        cmocka_unit_test(test_v1_file),
        cmocka_unit_test(test_store_option),
        cmocka_unit_test(test_missing_and_altered),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
