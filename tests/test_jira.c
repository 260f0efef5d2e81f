/* test_jira.c - the Jira adapter: mapping (ADAPTERS.md) and authentication. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>

#include "server/adapters/adapter.h"
#include "validators/errors.h"
#include "tests/support/tg_test.h"
#include "validators/timeparse.h"
#include "server/auth/connect.h"

#define FIX TG_SOURCE_DIR "/tests/fixtures/jira/"
#define EXAMPLE TG_SOURCE_DIR "/example/"
#define SECRET "jira-webhook-secret-for-tests"
#define CONNECT_SECRET "connect-shared-secret-0123456789"

/* ---- a configuration as contract/example/ticketgate.yaml, by hand ---- */

/* The people of contract/example/directory.yaml these tests name. */
static void example_directory(struct tg_directory *d)
{
    static const char *const bob[] = {"5b10a2844c20165700ede21g", "bob",
                                      "bob.smith",
                                      "6816f79cc0a8016401c5a33be04be441"};
    static const char *const carol[] = {
        "557058:f58131cb-b67d-43c7-b30d-6b58d40bd077", "carol", "carol.diaz"};
    static const char *const dave[] = {"5b109f2e9729b51b54dc274d", "dave",
                                       "dave.okafor"};
    static const char *const erin[] = {"5b10ac8d82e05b22cc7d4ef5", "erin",
                                       "erin.yu"};
    static const char *const grace[] = {"5c2f8a1b3d4e5f6a7b8c9d0e", "grace",
                                        "grace.hopkins"};
    static const char *const heidi[] = {"heidi", "heidi.lang"};
    static const char *const judy[] = {"judy", "judy.chen"};
    static const char *const none[] = {NULL};

    tg_directory_init(d);
    tg_test_person(d, "bob@example.com", "Bob Smith", bob, 4);
    tg_test_person(d, "carol@example.com", "Carol Diaz", carol, 3);
    tg_test_person(d, "dave@example.com", "Dave Okafor", dave, 3);
    tg_test_person(d, "erin@example.com", "Erin Yu", erin, 3);
    tg_test_person(d, "grace@example.com", "Grace Hopkins", grace, 3);
    tg_test_person(d, "heidi@example.com", "Heidi Lang", heidi, 2);
    tg_test_person(d, "judy@example.com", "Judy Chen", judy, 2);
    tg_test_person(d, "svc-payments-etl", "Payments settlement ETL", none, 0);
    d->people[d->n_people - 1].type = TG_TYPE_SERVICE;
    d->strict = 1;
    assert_int_equal(tg_directory_index(d, NULL), 0);
}

static struct tg_config *cfg_new(void)
{
    static const char *const types[] = {"Access Request"};
    /* as the load leaves them: lower-cased (gates.c) */
    static const char *const projects[] = {"acc", "sec"};
    static const char *const to[] = {"Approved", "Ready for fulfilment"};
    static const char *const sn_to[] = {"approved"};
    struct tg_config *c = calloc(1, sizeof *c);
    struct tg_field_map *F = &c->jira.fields;

    c->jira.set = 1;
    c->jira.hmac_secret = strdup(SECRET);
    c->jira.access_issue_types = tg_test_strv(types, 1);
    c->jira.n_access_issue_types = 1;
    F->justification = strdup("customfield_10050");
    F->owner = strdup("customfield_10051");
    F->expires_at = strdup("customfield_10052");
    F->system = strdup("customfield_10053");
    F->environment = strdup("customfield_10054");
    F->entitlement = strdup("customfield_10055");
    F->privilege = strdup("customfield_10056");
    F->beneficiary = strdup("customfield_10057");
    F->beneficiary_type = strdup("customfield_10058");
    F->emergency = strdup("customfield_10060");
    F->approvals = strdup("customfield_10027");
    F->approver = strdup("customfield_10059");
    c->gates = calloc(2, sizeof *c->gates);
    c->n_gates = 2;
    c->gates[0].source = strdup("jira");
    c->gates[0].projects = tg_test_strv(projects, 2);
    c->gates[0].n_projects = 2;
    c->gates[0].to = tg_test_strv(to, 2);
    c->gates[0].n_to = 2;
    c->gates[1].source = strdup("servicenow");
    c->gates[1].to = tg_test_strv(sn_to, 1);
    c->gates[1].n_to = 1;
    example_directory(&c->directory);
    return c;
}

static void cfg_free(struct tg_config *c)
{
    struct tg_field_map *F = &c->jira.fields;
    char **fm[] = {&F->justification, &F->owner,       &F->expires_at,
                   &F->system,        &F->environment, &F->entitlement,
                   &F->privilege,     &F->beneficiary, &F->beneficiary_type,
                   &F->emergency,     &F->approvals,   &F->approver};

    for (size_t i = 0; i < sizeof fm / sizeof fm[0]; i++)
        free(*fm[i]);
    free(c->jira.hmac_secret);
    free(c->jira.connect_shared_secret);
    tg_test_freev(c->jira.access_issue_types, c->jira.n_access_issue_types);
    for (size_t g = 0; g < c->n_gates; g++) {
        free(c->gates[g].source);
        tg_test_freev(c->gates[g].projects, c->gates[g].n_projects);
        tg_test_freev(c->gates[g].to, c->gates[g].n_to);
        tg_test_freev(c->gates[g].issue_types, c->gates[g].n_issue_types);
    }
    free(c->gates);
    tg_directory_cleanup(&c->directory);
    free(c);
}

static json_t *load(const char *path)
{
    json_error_t e;
    json_t *j = json_load_file(path, 0, &e);
    if (!j)
        fail_msg("%s:%d: %s", path, e.line, e.text);
    return j;
}

static void assert_json_equal(const json_t *got, const json_t *want)
{
    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_SORT_KEYS | JSON_INDENT(1));
        char *w = json_dumps(want, JSON_SORT_KEYS | JSON_INDENT(1));
        print_error("got:\n%s\nwant:\n%s\n", g, w);
        free(g);
        free(w);
        fail();
    }
}

/* ---- mapping of the composed fixtures ---- */

static void test_map_fixtures(void **state)
{
    static const struct {
        const char *fixture, *expected;
        int rc, gated;
        const char *err;
    } cases[] = {
        /* Cloud: accountIds, ADF, multi-select, JSM approvals with mixed
         * decisions, +0200, emergency checkbox, typed beneficiary. */
        {"cloud-webhook.json", "cloud-webhook.expected.json", 0, 1, NULL},
        /* Data Center: key/name/emailAddress users, `field` without
         * fieldId, approver field, service beneficiary, option "No". */
        {"dc-webhook.json", "dc-webhook.expected.json", 0, 1, NULL},
        /* Validator call: pending approvals only, no approver field: the
         * user who transitions; case-insensitive gate match. */
        {"validator-call.json", "validator-call.expected.json", 0, 1, NULL},
        {"other-event.json", NULL, 0, 0, NULL},
        {"no-status-change.json", NULL, 0, 0, NULL},
        {"missing-key.json", NULL, TG_EINVAL, 0, "issue.key"},
    };
    struct tg_config *c = cfg_new();
    (void)state;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[512], err[256] = "";
        json_t *body, *out = NULL;
        int gated = -1, rc;

        snprintf(path, sizeof path, "%s%s", FIX, cases[i].fixture);
        body = load(path);
        rc = tg_jira_map(c, body, &out, &gated, err, sizeof err);
        print_message("%s: rc %d gated %d err '%s'\n", cases[i].fixture, rc,
                      gated, err);
        assert_int_equal(rc, cases[i].rc);
        if (cases[i].err)
            assert_non_null(strstr(err, cases[i].err));
        if (rc == 0)
            assert_int_equal(gated, cases[i].gated);
        if (cases[i].expected) {
            json_t *want;
            snprintf(path, sizeof path, "%s%s", FIX, cases[i].expected);
            want = load(path);
            assert_json_equal(out, want);
            json_decref(want);
        } else {
            assert_null(out);
        }
        json_decref(out);
        json_decref(body);
    }
    cfg_free(c);
}

/* Sets the member at a dotted path of o (creating objects on the way) to
 * the JSON text v, or removes it when v is NULL. */
static void patch(json_t *o, const char *path, const char *v)
{
    char buf[256], *dot, *p = buf;
    json_t *cur = o;

    snprintf(buf, sizeof buf, "%s", path);
    while ((dot = strchr(p, '.'))) {
        json_t *next;
        *dot = '\0';
        next = json_object_get(cur, p);
        if (!json_is_object(next)) {
            next = json_object();
            json_object_set_new(cur, p, next);
        }
        cur = next;
        p = dot + 1;
    }
    if (!v) {
        json_object_del(cur, p);
        return;
    }
    json_t *val = json_loads(v, JSON_DECODE_ANY, NULL);
    assert_non_null(val);
    json_object_set_new(cur, p, val);
}

/* Each case patches validator-call.json (or the Cloud webhook) and checks
 * one member of the result. */
static void test_map_variants(void **state)
{
    static const struct {
        const char *name, *base;
        const char *path1, *val1, *path2, *val2;
        int rc, gated;
        const char *key, *want; /* key of the canonical ticket, its JSON */
    } cases[] = {
        {"other project", "validator-call.json", "issue.fields.project.key",
         "\"OPS\"", NULL, NULL, 0, 0, "project", "\"OPS\""},
        {"project glob", "validator-call.json", "issue.fields.project.key",
         "\"SEC\"", NULL, NULL, 0, 1, "project", "\"SEC\""},
        {"other status", "validator-call.json", "transition.to",
         "\"In Progress\"", NULL, NULL, 0, 0, "transition",
         "{\"from\":\"Waiting for approval\",\"to\":\"In Progress\","
         "\"actor\":\"heidi@example.com\"}"},
        {"to as object", "validator-call.json", "transition.to",
         "{\"id\":\"31\",\"name\":\"Ready for fulfilment\"}", NULL, NULL, 0, 1,
         "transition",
         "{\"from\":\"Waiting for approval\",\"to\":\"Ready for fulfilment\","
         "\"actor\":\"heidi@example.com\"}"},
        {"other issue type", "validator-call.json",
         "issue.fields.issuetype.name", "\"Task\"", NULL, NULL, 0, 0, "kind",
         "\"other\""},
        {"no transition", "validator-call.json", "transition", NULL, NULL, NULL,
         TG_EINVAL, 0, NULL, "transition"},
        /* The 422 names the path that is wrong, and how. */
        {"to object without a name", "validator-call.json", "transition.to",
         "{\"id\":\"10045\"}", NULL, NULL, TG_EINVAL, 0, NULL,
         "transition.to.name is missing"},
        {"to empty", "validator-call.json", "transition.to", "\"\"", NULL, NULL,
         TG_EINVAL, 0, NULL, "transition.to is missing"},
        {"to a number", "validator-call.json", "transition.to", "10045", NULL,
         NULL, TG_EINVAL, 0, NULL, "transition.to must be"},
        {"transition a string", "validator-call.json", "transition",
         "\"Approved\"", NULL, NULL, TG_EINVAL, 0, NULL,
         "transition must be an object"},
        {"no transition.to", "validator-call.json", "transition.to", NULL, NULL,
         NULL, TG_EINVAL, 0, NULL, "transition.to"},
        {"no project key", "validator-call.json", "issue.fields.project", NULL,
         NULL, NULL, TG_EINVAL, 0, NULL, "issue.fields.project.key"},
        {"no issue type", "validator-call.json", "issue.fields.issuetype", NULL,
         NULL, NULL, TG_EINVAL, 0, NULL, "issue.fields.issuetype.name"},
        {"empty key", "validator-call.json", "issue.key", "\"\"", NULL, NULL,
         TG_EINVAL, 0, NULL, "issue.key"},
        {"key not a string", "validator-call.json", "issue.key", "4410", NULL,
         NULL, TG_EINVAL, 0, NULL, "issue.key"},
        {"no fields", "validator-call.json", "issue.fields", NULL, NULL, NULL,
         TG_EINVAL, 0, NULL, "issue.fields"},
        /* approver chain */
        {"JSM approved wins over field", "validator-call.json",
         "issue.fields.customfield_10027",
         "[{\"approvers\":[{\"approver\":{\"accountId\":"
         "\"5c2f8a1b3d4e5f6a7b8c9d0e\"},\"approverDecision\":\"approved\"},"
         "{\"approver\":{\"accountId\":\"5b10ac8d82e05b22cc7d4ef5\"},"
         "\"approverDecision\":\"declined\"}]}]",
         "issue.fields.customfield_10059", "{\"accountId\":\"x\"}", 0, 1,
         "approver", "\"5c2f8a1b3d4e5f6a7b8c9d0e\""},
        {"field when no JSM approval", "validator-call.json",
         "issue.fields.customfield_10059",
         "{\"accountId\":\"5b109f2e9729b51b54dc274d\"}", NULL, NULL, 0, 1,
         "approver", "\"5b109f2e9729b51b54dc274d\""},
        {"multi-user approver field", "validator-call.json",
         "issue.fields.customfield_10059",
         "[{\"accountId\":\"5b109f2e9729b51b54dc274d\"},"
         "{\"name\":\"judy.chen\",\"key\":\"JIRAUSER1\"}]",
         NULL, NULL, 0, 1, "approvers",
         "[\"5b109f2e9729b51b54dc274d\",\"judy.chen\"]"},
        {"no approver at all", "validator-call.json", "user", NULL, NULL, NULL,
         0, 1, "approver", NULL},
        /* identities */
        {"nothing resolves: first present", "validator-call.json", "user",
         "{\"key\":\"JIRAUSER999\",\"name\":\"zz\",\"emailAddress\":"
         "\"zz@nowhere\"}",
         NULL, NULL, 0, 1, "approver", "\"JIRAUSER999\""},
        {"user as plain string", "validator-call.json", "user",
         "\"someone@example.com\"", NULL, NULL, 0, 1, "approver",
         "\"someone@example.com\""},
        {"owner as option", "validator-call.json",
         "issue.fields.customfield_10051", "{\"value\":\"carol\"}", NULL, NULL,
         0, 1, "owner", "\"carol\""},
        {"owner of several users", "validator-call.json",
         "issue.fields.customfield_10051",
         "[{\"accountId\":\"557058:f58131cb-b67d-43c7-b30d-6b58d40bd077\"},"
         "{\"accountId\":\"5b109f2e9729b51b54dc274d\"}]",
         NULL, NULL, 0, 1, "owner",
         "\"557058:f58131cb-b67d-43c7-b30d-6b58d40bd077, "
         "5b109f2e9729b51b54dc274d\""},
        {"owner null", "validator-call.json", "issue.fields.customfield_10051",
         "null", NULL, NULL, 0, 1, "owner", NULL},
        {"beneficiary user with type", "validator-call.json",
         "issue.fields.customfield_10057", "\"svc-payments-etl\"",
         "issue.fields.customfield_10058", "{\"value\":\"Service\"}", 0, 1,
         "beneficiary", "{\"id\":\"svc-payments-etl\",\"type\":\"service\"}"},
        /* An empty string names no one: the reporter, as when absent. */
        {"beneficiary empty string", "validator-call.json",
         "issue.fields.customfield_10057", "\"\"", NULL, NULL, 0, 1,
         "beneficiary", "\"5b10ac8d82e05b22cc7d4ef5\""},
        {"owner empty string", "validator-call.json",
         "issue.fields.customfield_10051", "\"\"", NULL, NULL, 0, 1, "owner",
         NULL},
        {"beneficiary empty string, typed: the reporter", "validator-call.json",
         "issue.fields.customfield_10057", "\" \"",
         "issue.fields.customfield_10058", "{\"value\":\"workload\"}", 0, 1,
         "beneficiary",
         "{\"id\":\"5b10ac8d82e05b22cc7d4ef5\",\"type\":\"service\"}"},
        {"reporter typed", "validator-call.json",
         "issue.fields.customfield_10058", "{\"value\":\"workload\"}", NULL,
         NULL, 0, 1, "beneficiary",
         "{\"id\":\"5b10ac8d82e05b22cc7d4ef5\",\"type\":\"service\"}"},
        /* field values */
        {"number field", "validator-call.json",
         "issue.fields.customfield_10053", "42", NULL, NULL, 0, 1, "scope",
         "{\"system\":\"42\",\"environment\":\"prod\",\"privilege\":\"read\"}"},
        {"null system", "validator-call.json", "issue.fields.customfield_10053",
         "null", NULL, NULL, 0, 1, "scope",
         "{\"environment\":\"prod\",\"privilege\":\"read\"}"},
        {"empty ADF", "validator-call.json", "issue.fields.customfield_10050",
         "{\"type\":\"doc\",\"version\":1,\"content\":[]}", NULL, NULL, 0, 1,
         "justification", "\"\""},
        {"ADF heading and code", "validator-call.json",
         "issue.fields.customfield_10050",
         "{\"type\":\"doc\",\"version\":1,\"content\":[{\"type\":\"heading\","
         "\"attrs\":{\"level\":2},\"content\":[{\"type\":\"text\",\"text\":"
         "\"Why\"}]},{\"type\":\"codeBlock\",\"content\":[{\"type\":\"text\","
         "\"text\":\"GRANT SELECT\"}]},{\"type\":\"paragraph\"}]}",
         NULL, NULL, 0, 1, "justification", "\"Why\\nGRANT SELECT\""},
        {"option list with empty", "validator-call.json",
         "issue.fields.customfield_10055",
         "[{\"value\":\"a\"},null,{\"value\":\"b\"}]", NULL, NULL, 0, 1,
         "scope",
         "{\"system\":\"hr-portal\",\"environment\":\"prod\","
         "\"entitlement\":\"a, b\",\"privilege\":\"read\"}"},
        {"fields not mapped", "validator-call.json",
         "issue.fields.customfield_10050", "\"x\"", NULL, NULL, 0, 1,
         "justification", "\"x\""},
        /* emergency */
        {"emergency checkbox", "validator-call.json",
         "issue.fields.customfield_10060", "[{\"value\":\"Yes\"}]", NULL, NULL,
         0, 1, "emergency", "true"},
        {"emergency option No", "validator-call.json",
         "issue.fields.customfield_10060", "{\"value\":\"No\"}", NULL, NULL, 0,
         1, "emergency", "false"},
        {"emergency option FALSE", "validator-call.json",
         "issue.fields.customfield_10060", "{\"value\":\"FALSE\"}", NULL, NULL,
         0, 1, "emergency", "false"},
        {"emergency option Break-glass", "validator-call.json",
         "issue.fields.customfield_10060", "{\"value\":\"Break-glass\"}", NULL,
         NULL, 0, 1, "emergency", "true"},
        {"emergency boolean", "validator-call.json",
         "issue.fields.customfield_10060", "true", NULL, NULL, 0, 1,
         "emergency", "true"},
        {"emergency string yes", "validator-call.json",
         "issue.fields.customfield_10060", "\"YES\"", NULL, NULL, 0, 1,
         "emergency", "true"},
        {"emergency string no", "validator-call.json",
         "issue.fields.customfield_10060", "\"no\"", NULL, NULL, 0, 1,
         "emergency", "false"},
        {"emergency null", "validator-call.json",
         "issue.fields.customfield_10060", "null", NULL, NULL, 0, 1,
         "emergency", "false"},
        /* webhooks */
        {"created event", "cloud-webhook.json", "webhookEvent",
         "\"jira:issue_created\"", NULL, NULL, 0, 0, NULL, NULL},
        {"webhook without key", "cloud-webhook.json", "issue.key", NULL, NULL,
         NULL, TG_EINVAL, 0, NULL, "issue.key"},
        {"webhook other status", "dc-webhook.json", "changelog.items",
         "[{\"field\":\"status\",\"fromString\":\"Open\","
         "\"toString\":\"In Progress\"}]",
         NULL, NULL, 0, 0, "transition",
         "{\"from\":\"Open\",\"to\":\"In Progress\",\"actor\":"
         "\"dave.okafor\"}"},
        /* A custom field named "Status" is no status change; the real
         * status item after it is the transition. */
        {"webhook custom field named Status", "dc-webhook.json",
         "changelog.items",
         "[{\"field\":\"Status\",\"fieldtype\":\"custom\","
         "\"fromString\":\"Open\",\"toString\":\"Closed\"},"
         "{\"field\":\"status\",\"fieldtype\":\"jira\","
         "\"fromString\":\"Open\",\"toString\":\"In Progress\"}]",
         NULL, NULL, 0, 0, "transition",
         "{\"from\":\"Open\",\"to\":\"In Progress\",\"actor\":"
         "\"dave.okafor\"}"},
        {"webhook only a custom status field", "dc-webhook.json",
         "changelog.items",
         "[{\"field\":\"status\",\"fieldtype\":\"custom\","
         "\"fromString\":\"Open\",\"toString\":\"Approved\"}]",
         NULL, NULL, 0, 0, NULL, NULL},
        {"webhook fieldId null: field", "dc-webhook.json", "changelog.items",
         "[{\"fieldId\":null,\"field\":\"status\",\"fromString\":\"Open\","
         "\"toString\":\"In Progress\"}]",
         NULL, NULL, 0, 0, "transition",
         "{\"from\":\"Open\",\"to\":\"In Progress\",\"actor\":"
         "\"dave.okafor\"}"},
        {"webhook status without toString", "dc-webhook.json",
         "changelog.items", "[{\"field\":\"status\",\"fromString\":\"Open\"}]",
         NULL, NULL, TG_EINVAL, 0, NULL, "toString"},
        {"webhook other project", "cloud-webhook.json",
         "issue.fields.project.key", "\"HR\"", NULL, NULL, 0, 0, "project",
         "\"HR\""},
    };
    struct tg_config *c = cfg_new();
    (void)state;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[512], err[256] = "";
        json_t *body, *out = NULL;
        int gated = -1, rc;

        snprintf(path, sizeof path, "%s%s", FIX, cases[i].base);
        body = load(path);
        patch(body, cases[i].path1, cases[i].val1);
        if (cases[i].path2)
            patch(body, cases[i].path2, cases[i].val2);
        rc = tg_jira_map(c, body, &out, &gated, err, sizeof err);
        print_message("%s: rc %d gated %d err '%s'\n", cases[i].name, rc, gated,
                      err);
        assert_int_equal(rc, cases[i].rc);
        if (rc != 0) {
            assert_non_null(strstr(err, cases[i].want));
            assert_null(out);
        } else {
            assert_int_equal(gated, cases[i].gated);
        }
        if (rc == 0 && cases[i].key) {
            json_t *got = json_object_get(out, cases[i].key);
            if (!cases[i].want) {
                assert_null(got);
            } else {
                json_t *want = json_loads(cases[i].want, JSON_DECODE_ANY, NULL);
                assert_non_null(want);
                assert_json_equal(got, want);
                json_decref(want);
            }
        }
        json_decref(out);
        json_decref(body);
    }
    cfg_free(c);
}

/* Gate issue_types narrow the access types; they never widen them. */
/* Display names: every user the mapping takes an identity from gives its
 * displayName (issue 9); users it does not use, and names that are the
 * identity itself, give none. */
static void test_names(void **state)
{
    struct tg_config *c = cfg_new();
    json_t *body = load(FIX "validator-call.json"), *out = NULL, *want;
    char err[128] = "";
    int gated = -1;
    (void)state;

    /* An approver field of two users (one without a name), a Data Center
     * owner, a user whose displayName is its own identity. */
    patch(body, "issue.fields.customfield_10027", NULL);
    patch(body, "issue.fields.customfield_10059",
          "[{\"accountId\":\"5b109f2e9729b51b54dc274d\","
          "\"displayName\":\"Dave Okafor\"},"
          "{\"accountId\":\"5c2f8a1b3d4e5f6a7b8c9d0e\"}]");
    patch(body, "issue.fields.customfield_10051",
          "{\"name\":\"carol.diaz\",\"key\":\"JIRAUSER10102\","
          "\"emailAddress\":\"carol@example.com\","
          "\"displayName\":\"Carol Diaz\"}");
    patch(body, "user", "{\"accountId\":\"heidi\",\"displayName\":\"HEIDI\"}");
    assert_int_equal(tg_jira_map(c, body, &out, &gated, err, sizeof err), 0);
    want = json_loads("{\"5b109f2e9729b51b54dc274d\":\"Dave Okafor\","
                      "\"5b10ac8d82e05b22cc7d4ef5\":\"Erin Yu\","
                      "\"carol.diaz\":\"Carol Diaz\"}",
                      0, NULL);
    assert_json_equal(json_object_get(out, "names"), want);
    json_decref(want);
    json_decref(out);

    /* No user carries a name: no names member. */
    patch(body, "issue.fields.reporter", "\"erin@example.com\"");
    patch(body, "issue.fields.customfield_10059", NULL);
    patch(body, "issue.fields.customfield_10051", "\"grace@example.com\"");
    assert_int_equal(tg_jira_map(c, body, &out, &gated, err, sizeof err), 0);
    assert_null(json_object_get(out, "names"));
    json_decref(out);
    json_decref(body);
    cfg_free(c);
}

static void test_gate_issue_types(void **state)
{
    static const char *const types[] = {"Access Request"};
    static const char *const other[] = {"Elevated Access"};
    struct tg_config *c = cfg_new();
    json_t *body, *out = NULL;
    char err[128];
    int gated = -1;
    (void)state;

    body = load(FIX "validator-call.json");
    c->gates[0].issue_types = tg_test_strv(other, 1);
    c->gates[0].n_issue_types = 1;
    assert_int_equal(tg_jira_map(c, body, &out, &gated, err, sizeof err), 0);
    assert_int_equal(gated, 0);
    json_decref(out);
    tg_test_freev(c->gates[0].issue_types, 1);
    c->gates[0].issue_types = tg_test_strv(types, 1);
    assert_int_equal(tg_jira_map(c, body, &out, &gated, err, sizeof err), 0);
    assert_int_equal(gated, 1);
    json_decref(out);
    /* no jira gate at all: nothing is gated */
    c->gates[0].source[0] = 'x';
    assert_int_equal(tg_jira_map(c, body, &out, &gated, err, sizeof err), 0);
    assert_int_equal(gated, 0);
    json_decref(out);
    json_decref(body);
    cfg_free(c);
}

static void test_not_an_object(void **state)
{
    struct tg_config *c = cfg_new();
    json_t *body = json_array(), *out = NULL;
    char err[128] = "";
    int gated = -1;
    (void)state;

    assert_int_equal(tg_jira_map(c, body, &out, &gated, err, sizeof err),
                     TG_EINVAL);
    assert_null(out);
    assert_true(err[0] != '\0');
    json_decref(body);
    cfg_free(c);
}

/* With no field mapped, only the standard fields are read. */
static void test_fields_not_configured(void **state)
{
    struct tg_config *c = cfg_new();
    struct tg_field_map *F = &c->jira.fields;
    char **fm[] = {&F->justification, &F->owner,       &F->expires_at,
                   &F->system,        &F->environment, &F->entitlement,
                   &F->privilege,     &F->beneficiary, &F->beneficiary_type,
                   &F->emergency,     &F->approvals,   &F->approver};
    json_t *body = load(FIX "cloud-webhook.json"), *out = NULL, *want;
    char err[128] = "";
    int gated = -1;
    (void)state;

    for (size_t i = 0; i < sizeof fm / sizeof fm[0]; i++) {
        free(*fm[i]);
        *fm[i] = NULL;
    }
    assert_int_equal(tg_jira_map(c, body, &out, &gated, err, sizeof err), 0);
    assert_int_equal(gated, 1);
    want = json_loads(
        "{\"id\":\"SEC-77\",\"source\":\"jira\",\"kind\":\"access_request\","
        "\"project\":\"SEC\",\"transition\":{\"from\":\"Waiting for approval\","
        "\"to\":\"Approved\",\"actor\":\"5b109f2e9729b51b54dc274d\"},"
        "\"requester\":\"5b10a2844c20165700ede21g\","
        "\"beneficiary\":\"5b10a2844c20165700ede21g\","
        "\"approver\":\"5b109f2e9729b51b54dc274d\",\"scope\":{},"
        "\"emergency\":false,\"created_at\":\"2026-11-29T09:14:03.120+0100\","
        "\"names\":{\"5b109f2e9729b51b54dc274d\":\"Dave Okafor\","
        "\"5b10a2844c20165700ede21g\":\"Bob Smith\"}}",
        0, NULL);
    assert_non_null(want);
    assert_json_equal(out, want);
    json_decref(want);
    json_decref(out);
    json_decref(body);
    cfg_free(c);
}

/* ---- the contract's example payloads: the same ticket ---- */

/* Two identities are the same when they resolve to the same directory
 * entry (TICKET.md: comparison never trusts the raw strings alone). */
static void assert_same_identity(const struct tg_directory *d, const char *what,
                                 const json_t *a, const json_t *b)
{
    const char *x, *y;
    struct tg_entity ex, ey;

    if (json_is_object(a))
        a = json_object_get(a, "id");
    if (json_is_object(b))
        b = json_object_get(b, "id");
    x = json_string_value(a);
    y = json_string_value(b);
    if (!x || !y)
        fail_msg("%s: %s vs %s", what, x ? x : "(none)", y ? y : "(none)");
    ex = tg_directory_resolve(d, x, strlen(x));
    ey = tg_directory_resolve(d, y, strlen(y));
    if (ex.kind == TG_ENT_NONE || ex.kind != ey.kind || ex.idx != ey.idx)
        fail_msg("%s: %s and %s are not the same person", what, x, y);
}

static void assert_same_ticket(const struct tg_directory *d, const json_t *got,
                               const json_t *want, int same_id)
{
    static const char *const idents[] = {"requester", "beneficiary", "owner",
                                         "approver"};
    static const char *const equal[] = {"kind", "justification", "scope",
                                        "emergency"};
    int64_t t1, t2;
    const char *e1, *e2;

    for (size_t i = 0; i < sizeof idents / sizeof idents[0]; i++)
        assert_same_identity(d, idents[i], json_object_get(got, idents[i]),
                             json_object_get(want, idents[i]));
    for (size_t i = 0; i < sizeof equal / sizeof equal[0]; i++)
        assert_json_equal(json_object_get(got, equal[i]),
                          json_object_get(want, equal[i]));
    e1 = json_string_value(json_object_get(got, "expires_at"));
    e2 = json_string_value(json_object_get(want, "expires_at"));
    assert_non_null(e1);
    assert_non_null(e2);
    assert_int_equal(tg_time_parse(e1, strlen(e1), &t1), 0);
    assert_int_equal(tg_time_parse(e2, strlen(e2), &t2), 0);
    assert_int_equal(t1, t2);
    if (same_id) {
        const json_t *tg = json_object_get(got, "transition");
        const json_t *tw = json_object_get(want, "transition");
        assert_json_equal(json_object_get(got, "id"),
                          json_object_get(want, "id"));
        assert_json_equal(json_object_get(got, "project"),
                          json_object_get(want, "project"));
        assert_json_equal(json_object_get(tg, "from"),
                          json_object_get(tw, "from"));
        assert_json_equal(json_object_get(tg, "to"), json_object_get(tw, "to"));
    }
}

static void test_example_payloads(void **state)
{
    static const char *const files[] = {"jira-cloud-webhook.json",
                                        "jira-validator-call.json"};
    struct tg_config *c = cfg_new();
    json_t *want = load(EXAMPLE "payloads/canonical-ticket.json");
    (void)state;

    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[512], err[256] = "";
        json_t *body, *out = NULL;
        int gated = -1;

        snprintf(path, sizeof path, "%spayloads/%s", EXAMPLE, files[i]);
        body = load(path);
        assert_int_equal(tg_jira_map(c, body, &out, &gated, err, sizeof err),
                         0);
        assert_int_equal(gated, 1);
        assert_string_equal(json_string_value(json_object_get(out, "source")),
                            "jira");
        assert_same_ticket(&c->directory, out, want, 1);
        json_decref(out);
        json_decref(body);
    }
    json_decref(want);
    cfg_free(c);
}

/* ---- authentication ---- */

struct hdrs {
    const char *kv[16]; /* name, value, ..., NULL */
};

static const char *hdr_get(void *ctx, const char *name)
{
    const struct hdrs *h = ctx;
    for (size_t i = 0; h->kv[i]; i += 2)
        if (strcasecmp(h->kv[i], name) == 0)
            return h->kv[i + 1];
    return NULL;
}

static struct tg_http_req req(struct hdrs *h, const char *body,
                              const char *query)
{
    struct tg_http_req r = {
        .method = "POST",
        .path = "/v1/webhooks/jira",
        .query = query,
        .body = body,
        .body_len = strlen(body),
        .header = hdr_get,
        .ctx = h,
        .now = (int64_t)time(NULL),
    };
    return r;
}

static void test_hub_signature(void **state)
{
    static const char body[] = "{\"webhookEvent\":\"jira:issue_updated\"}";
    char hex[65], upper[65], good[80], up[80], wrong[80], bad[80], other[80];
    struct tg_config *c = cfg_new();
    (void)state;

    tg_test_hmac_sha256_hex(SECRET, strlen(SECRET), body, strlen(body), hex);
    for (size_t i = 0; i < 65; i++)
        upper[i] =
            (char)(hex[i] >= 'a' && hex[i] <= 'f' ? hex[i] - 32 : hex[i]);
    snprintf(good, sizeof good, "sha256=%s", hex);
    snprintf(up, sizeof up, "SHA256=%s", upper);
    tg_test_hmac_sha256_hex("another-secret", 14, body, strlen(body), hex);
    snprintf(wrong, sizeof wrong, "sha256=%s", hex);
    snprintf(bad, sizeof bad, "%s", good);
    bad[7] = 'g';
    snprintf(other, sizeof other, "sha1=%s", good + 7);

    struct {
        const char *name, *sig, *hook_id, *body;
        int rc;
        const char *delivery;
    } cases[] = {
        {"valid", good, "wh-1", body, 0, "wh-1"},
        {"upper-case hex and prefix", up, NULL, body, 0, NULL},
        {"wrong secret", wrong, NULL, body, TG_EAUTH, NULL},
        {"bad hex", bad, NULL, body, TG_EAUTH, NULL},
        {"truncated", "sha256=abcdef", NULL, body, TG_EAUTH, NULL},
        {"too long",
         "sha256=0000000000000000000000000000000000000000000000"
         "00000000000000000000",
         NULL, body, TG_EAUTH, NULL},
        {"sha1 prefix", other, NULL, body, TG_EAUTH, NULL},
        {"empty", "", NULL, body, TG_EAUTH, NULL},
        {"missing header", NULL, NULL, body, TG_EAUTH, NULL},
        {"body changed", good, NULL, "{\"webhookEvent\":\"x\"}", TG_EAUTH,
         NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct hdrs h = {.kv = {NULL}};
        size_t n = 0;
        char *id = (char *)"untouched";
        struct tg_http_req r;
        int rc;

        if (cases[i].sig) {
            h.kv[n++] = "x-hub-signature";
            h.kv[n++] = cases[i].sig;
        }
        if (cases[i].hook_id) {
            h.kv[n++] = "X-Atlassian-Webhook-Identifier";
            h.kv[n++] = cases[i].hook_id;
        }
        r = req(&h, cases[i].body, NULL);
        rc = tg_jira_authenticate(c, &r, &id);
        print_message("%s: %d\n", cases[i].name, rc);
        assert_int_equal(rc, cases[i].rc);
        if (rc == 0) {
            if (cases[i].delivery)
                assert_string_equal(id, cases[i].delivery);
            else
                assert_null(id);
            free(id);
        } else {
            assert_string_equal(id, "untouched");
        }
    }
    /* no credential configured: nothing is accepted */
    free(c->jira.hmac_secret);
    c->jira.hmac_secret = NULL;
    {
        struct hdrs h = {{"X-Hub-Signature", good, NULL}};
        struct tg_http_req r = req(&h, body, NULL);
        char *id = NULL;
        assert_int_equal(tg_jira_authenticate(c, &r, &id), TG_EAUTH);
    }
    cfg_free(c);
}

static void test_qsh(void **state)
{
    char out[65];
    (void)state;

    assert_int_equal(
        tg_webhook_auth_qsh("POST", "/v1/webhooks/jira", NULL, out), 0);
    assert_string_equal(out, "f207c66cfd189679efac372c1ba083d1c3e2ec783baef20a"
                             "d83a6f9afbec5711");
    assert_int_equal(tg_webhook_auth_qsh("post", "/v1/webhooks/jira/", "", out),
                     0);
    assert_string_equal(out, "f207c66cfd189679efac372c1ba083d1c3e2ec783baef20a"
                             "d83a6f9afbec5711");
    /* sorted names, repeated values sorted and joined with ',', jwt left
     * out, '+' a space, RFC 3986 re-encoding (%20, %2A, ~ kept). */
    assert_int_equal(
        tg_webhook_auth_qsh("POST", "/v1/webhooks/jira",
                            "b=2&a=1&jwt=abc.def.ghi&a=0&c=hello%20world+x"
                            "&d=*%7E&e&z%26=%c3%a9",
                            out),
        0);
    assert_string_equal(out, "00497f0022c00a2e0daa21d5ab8e072e4760a5aa9e11380f"
                             "39df54e64a1e5103");
    assert_int_equal(tg_webhook_auth_qsh("POST", "/", "a=%zz", out), TG_EINVAL);
    assert_int_equal(tg_webhook_auth_qsh("POST", "/", "a=%4", out), TG_EINVAL);
}

static char *connect_token(const char *secret, const char *qsh, long exp_off,
                           const char *extra)
{
    char claims[512];
    long now = (long)time(NULL);
    snprintf(claims, sizeof claims,
             "{\"iss\":\"jira:8f2c9b1e-0000-4000-8000-0123456789ab\","
             "\"iat\":%ld,\"exp\":%ld,\"qsh\":\"%s\"%s}",
             now - 5, now + exp_off, qsh, extra ? extra : "");
    return tg_test_jwt("HS256", secret, strlen(secret), claims);
}

static void test_connect_jwt(void **state)
{
    static const char body[] = "{\"webhookEvent\":\"jira:issue_updated\"}";
    char qsh[65], qsh_q[65], sig[80], hex[65];
    struct tg_config *c = cfg_new();
    (void)state;

    c->jira.connect_shared_secret = strdup(CONNECT_SECRET);
    assert_int_equal(
        tg_webhook_auth_qsh("POST", "/v1/webhooks/jira", NULL, qsh), 0);
    assert_int_equal(tg_webhook_auth_qsh("POST", "/v1/webhooks/jira",
                                         "user_id=bob&issue=ACC-1", qsh_q),
                     0);
    tg_test_hmac_sha256_hex(SECRET, strlen(SECRET), body, strlen(body), hex);
    snprintf(sig, sizeof sig, "sha256=%s", hex);

    char *ok = connect_token(CONNECT_SECRET, qsh, 180, ",\"jti\":\"j-1\"");
    char *ok_q = connect_token(CONNECT_SECRET, qsh_q, 180, NULL);
    char *expired = connect_token(CONNECT_SECRET, qsh, -600, NULL);
    char *wrong_key = connect_token("not-the-secret", qsh, 180, NULL);
    char *context = connect_token(CONNECT_SECRET, "context-qsh", 180, NULL);
    char *future_iat =
        tg_test_jwt("HS256", CONNECT_SECRET, strlen(CONNECT_SECRET),
                    "{\"iss\":\"x\",\"iat\":9999999999,"
                    "\"exp\":9999999999,\"qsh\":\"q\"}");
    char claims[256];
    snprintf(claims, sizeof claims, "{\"exp\":%ld,\"qsh\":\"%s\"}",
             (long)time(NULL) + 100, qsh);
    char *no_iss =
        tg_test_jwt("HS256", CONNECT_SECRET, strlen(CONNECT_SECRET), claims);
    snprintf(claims, sizeof claims, "{\"iss\":\"x\",\"qsh\":\"%s\"}", qsh);
    char *no_exp =
        tg_test_jwt("HS256", CONNECT_SECRET, strlen(CONNECT_SECRET), claims);
    snprintf(claims, sizeof claims,
             "{\"iss\":\"x\",\"exp\":%ld,\"qsh\":\"%s\"}",
             (long)time(NULL) + 100, qsh);
    char *none =
        tg_test_jwt_raw("{\"alg\":\"none\",\"typ\":\"JWT\"}", claims, "");
    char *hs512 =
        tg_test_jwt_raw("{\"alg\":\"HS512\",\"typ\":\"JWT\"}", claims, "AAAA");
    char a_ok[1024], a_ok_q[1024], a_exp[1024], a_wrong[1024], a_ctx[1024],
        a_iat[1024], a_noiss[1024], a_noexp[1024], a_none[1024], a_hs512[1024],
        a_bearer[1024], a_trunc[1024];
    snprintf(a_ok, sizeof a_ok, "JWT %s", ok);
    snprintf(a_ok_q, sizeof a_ok_q, "JWT %s", ok_q);
    snprintf(a_exp, sizeof a_exp, "JWT %s", expired);
    snprintf(a_wrong, sizeof a_wrong, "JWT %s", wrong_key);
    snprintf(a_ctx, sizeof a_ctx, "JWT %s", context);
    snprintf(a_iat, sizeof a_iat, "JWT %s", future_iat);
    snprintf(a_noiss, sizeof a_noiss, "JWT %s", no_iss);
    snprintf(a_noexp, sizeof a_noexp, "JWT %s", no_exp);
    snprintf(a_none, sizeof a_none, "JWT %s", none);
    snprintf(a_hs512, sizeof a_hs512, "JWT %s", hs512);
    snprintf(a_bearer, sizeof a_bearer, "Bearer %s", ok);
    snprintf(a_trunc, sizeof a_trunc, "JWT %s", ok);
    a_trunc[strlen(a_trunc) - 3] = '\0';

    struct {
        const char *name, *auth, *sig, *hook_id, *query;
        int rc;
        const char *delivery;
    } cases[] = {
        {"valid, jti is the delivery id", a_ok, NULL, NULL, NULL, 0, "j-1"},
        {"hook id wins over jti", a_ok, NULL, "wh-7", NULL, 0, "wh-7"},
        {"valid with query", a_ok_q, NULL, NULL, "issue=ACC-1&user_id=bob", 0,
         NULL},
        {"qsh mismatch: other query", a_ok_q, NULL, NULL,
         "issue=ACC-2&user_id=bob", TG_EAUTH, NULL},
        {"qsh mismatch: query added", a_ok, NULL, NULL, "x=1", TG_EAUTH, NULL},
        {"expired", a_exp, NULL, NULL, NULL, TG_EAUTH, NULL},
        {"wrong secret", a_wrong, NULL, NULL, NULL, TG_EAUTH, NULL},
        {"context qsh", a_ctx, NULL, NULL, NULL, TG_EAUTH, NULL},
        {"iat in the future", a_iat, NULL, NULL, NULL, TG_EAUTH, NULL},
        {"no iss", a_noiss, NULL, NULL, NULL, TG_EAUTH, NULL},
        {"no exp", a_noexp, NULL, NULL, NULL, TG_EAUTH, NULL},
        {"alg none", a_none, NULL, NULL, NULL, TG_EAUTH, NULL},
        {"alg HS512", a_hs512, NULL, NULL, NULL, TG_EAUTH, NULL},
        {"Bearer scheme", a_bearer, NULL, NULL, NULL, TG_EAUTH, NULL},
        {"truncated signature", a_trunc, NULL, NULL, NULL, TG_EAUTH, NULL},
        {"garbage", "JWT a.b", NULL, NULL, NULL, TG_EAUTH, NULL},
        {"missing", NULL, NULL, NULL, NULL, TG_EAUTH, NULL},
        /* both secrets configured: either credential is accepted */
        {"HMAC alone", NULL, sig, NULL, NULL, 0, NULL},
        {"bad JWT, good HMAC", a_exp, sig, NULL, NULL, 0, NULL},
        {"good JWT, bad HMAC", a_ok, "sha256=00", NULL, NULL, 0, "j-1"},
        {"bad JWT, bad HMAC", a_wrong, "sha256=00", NULL, NULL, TG_EAUTH, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct hdrs h = {.kv = {NULL}};
        size_t n = 0;
        char *id = NULL;
        struct tg_http_req r;
        int rc;

        if (cases[i].auth) {
            h.kv[n++] = "authorization";
            h.kv[n++] = cases[i].auth;
        }
        if (cases[i].sig) {
            h.kv[n++] = "X-Hub-Signature";
            h.kv[n++] = cases[i].sig;
        }
        if (cases[i].hook_id) {
            h.kv[n++] = "x-atlassian-webhook-identifier";
            h.kv[n++] = cases[i].hook_id;
        }
        r = req(&h, body, cases[i].query);
        rc = tg_jira_authenticate(c, &r, &id);
        print_message("%s: %d\n", cases[i].name, rc);
        assert_int_equal(rc, cases[i].rc);
        if (rc == 0 && cases[i].delivery)
            assert_string_equal(id, cases[i].delivery);
        else if (rc == 0)
            assert_null(id);
        free(id);
    }
    free(ok);
    free(ok_q);
    free(expired);
    free(wrong_key);
    free(context);
    free(future_iat);
    free(no_iss);
    free(no_exp);
    free(none);
    free(hs512);
    cfg_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_map_fixtures),
        cmocka_unit_test(test_map_variants),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_gate_issue_types),
        cmocka_unit_test(test_not_an_object),
        cmocka_unit_test(test_fields_not_configured),
        cmocka_unit_test(test_example_payloads),
        cmocka_unit_test(test_hub_signature),
        cmocka_unit_test(test_qsh),
        cmocka_unit_test(test_connect_jwt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
