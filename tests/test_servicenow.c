/* test_servicenow.c - the ServiceNow adapter: mapping and authentication. */
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
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "server/adapters/adapter.h"
#include "validators/errors.h"
#include "tests/support/tg_test.h"
#include "validators/timeparse.h"
#include "server/auth/stdwebhooks.h"

#define FIX TG_SOURCE_DIR "/tests/fixtures/servicenow/"
#define EXAMPLE TG_SOURCE_DIR "/example/"
/* Standard Webhooks secret: "whsec_" + base64 of SW_KEY. */
#define SW_KEY "ticketgate-standard-webhooks-key-0123"

static char *b64(const void *p, size_t n)
{
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)out, p, (int)n);
    return out;
}

static struct tg_config *cfg_new(void)
{
    static const char *const bob[] = {"5b10a2844c20165700ede21g", "bob",
                                      "bob.smith",
                                      "6816f79cc0a8016401c5a33be04be441"};
    static const char *const carol[] = {"carol", "carol.diaz"};
    static const char *const dave[] = {"dave", "dave.okafor"};
    static const char *const erin[] = {"5b10ac8d82e05b22cc7d4ef5", "erin",
                                       "erin.yu"};
    static const char *const judy[] = {"judy", "judy.chen",
                                       "a1b2c3d4e5f60718293a4b5c6d7e8f90"};
    static const char *const sn_to[] = {"approved"};
    static const char *const jira_to[] = {"Approved"};
    struct tg_config *c = calloc(1, sizeof *c);
    struct tg_field_map *V = &c->servicenow.variables;
    size_t len;
    char *sw;

    c->servicenow.set = 1;
    c->servicenow.jwt.set = 1;
    c->servicenow.jwt.alg = TG_JWT_RS256;
    c->servicenow.jwt.key = (unsigned char *)tg_test_read_file(
        EXAMPLE "keys/servicenow-public.pem", &len);
    assert_non_null(c->servicenow.jwt.key);
    c->servicenow.jwt.key_len = len;
    c->servicenow.jwt.issuer = strdup(TG_TEST_SN_ISS);
    c->servicenow.jwt.audience = strdup(TG_TEST_AUD);
    c->servicenow.jwt.leeway_s = 60;
    sw = b64(SW_KEY, strlen(SW_KEY));
    c->servicenow.standard_webhooks_secret = malloc(strlen(sw) + 7);
    snprintf(c->servicenow.standard_webhooks_secret, strlen(sw) + 7, "whsec_%s",
             sw);
    free(sw);
    V->justification = strdup("business_justification");
    V->owner = strdup("resource_owner");
    V->system = strdup("target_system");
    V->environment = strdup("environment");
    V->entitlement = strdup("entitlement");
    V->privilege = strdup("access_level");
    V->expires_at = strdup("access_expiry");
    V->emergency = strdup("emergency_access");
    c->gates = calloc(2, sizeof *c->gates);
    c->n_gates = 2;
    c->gates[0].source = strdup("jira");
    c->gates[0].to = tg_test_strv(jira_to, 1);
    c->gates[0].n_to = 1;
    c->gates[1].source = strdup("servicenow");
    c->gates[1].to = tg_test_strv(sn_to, 1);
    c->gates[1].n_to = 1;
    tg_directory_init(&c->directory);
    tg_test_person(&c->directory, "bob@example.com", "Bob Smith", bob, 4);
    tg_test_person(&c->directory, "carol@example.com", "Carol Diaz", carol, 2);
    tg_test_person(&c->directory, "dave@example.com", "Dave Okafor", dave, 2);
    tg_test_person(&c->directory, "erin@example.com", "Erin Yu", erin, 3);
    tg_test_person(&c->directory, "judy@example.com", "Judy Chen", judy, 3);
    assert_int_equal(tg_directory_index(&c->directory, NULL), 0);
    return c;
}

static void cfg_free(struct tg_config *c)
{
    struct tg_field_map *V = &c->servicenow.variables;
    char **fm[] = {&V->justification, &V->owner,       &V->expires_at,
                   &V->system,        &V->environment, &V->entitlement,
                   &V->privilege,     &V->beneficiary, &V->beneficiary_type,
                   &V->emergency,     &V->approvals,   &V->approver};

    for (size_t i = 0; i < sizeof fm / sizeof fm[0]; i++)
        free(*fm[i]);
    free(c->servicenow.jwt.key);
    free(c->servicenow.jwt.issuer);
    free(c->servicenow.jwt.audience);
    free(c->servicenow.standard_webhooks_secret);
    for (size_t g = 0; g < c->n_gates; g++) {
        free(c->gates[g].source);
        tg_test_freev(c->gates[g].projects, c->gates[g].n_projects);
        tg_test_freev(c->gates[g].to, c->gates[g].n_to);
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
        char *g =
            json_dumps(got, JSON_SORT_KEYS | JSON_INDENT(1) | JSON_ENCODE_ANY);
        char *w =
            json_dumps(want, JSON_SORT_KEYS | JSON_INDENT(1) | JSON_ENCODE_ANY);
        print_error("got:\n%s\nwant:\n%s\n", g ? g : "(none)",
                    w ? w : "(none)");
        free(g);
        free(w);
        fail();
    }
}

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

/* ---- mapping ---- */

static void test_map_fixtures(void **state)
{
    struct tg_config *c = cfg_new();
    json_t *body, *out = NULL, *want;
    char err[256] = "", *eid = NULL;
    int gated = -1;
    (void)state;

    /* reference variables, user objects in each identifier form, "Yes" */
    body = load(FIX "approval-references.json");
    want = load(FIX "approval-references.expected.json");
    assert_int_equal(
        tg_servicenow_map(c, body, &out, &gated, &eid, err, sizeof err), 0);
    assert_int_equal(gated, 1);
    assert_string_equal(eid, "9d1c0b7e1b6a4d10a8e5c7d2f4b19e60:7");
    assert_json_equal(out, want);
    free(eid);
    json_decref(out);
    json_decref(want);
    json_decref(body);

    /* a rejection is no gated transition */
    body = load(FIX "approval-rejected.json");
    out = NULL;
    eid = NULL;
    assert_int_equal(
        tg_servicenow_map(c, body, &out, &gated, &eid, err, sizeof err), 0);
    assert_int_equal(gated, 0);
    assert_non_null(out);
    free(eid);
    json_decref(out);
    json_decref(body);

    body = load(FIX "missing-number.json");
    out = NULL;
    eid = (char *)"untouched";
    assert_int_equal(
        tg_servicenow_map(c, body, &out, &gated, &eid, err, sizeof err),
        TG_EINVAL);
    assert_non_null(strstr(err, "ritm.number"));
    assert_null(out);
    assert_string_equal(eid, "untouched");
    json_decref(body);
    cfg_free(c);
}

static void test_map_variants(void **state)
{
    static const struct {
        const char *name, *path, *val;
        int rc, gated;
        const char *key, *want;
    } cases[] = {
        {"approver by sys_id", "approval.approver",
         "{\"sys_id\":\"a1b2c3d4e5f60718293a4b5c6d7e8f90\","
         "\"user_name\":\"jchen\"}",
         0, 1, "approver", "\"a1b2c3d4e5f60718293a4b5c6d7e8f90\""},
        {"approver by email", "approval.approver",
         "{\"sys_id\":\"ffff\",\"user_name\":\"jchen\","
         "\"email\":\"judy@example.com\"}",
         0, 1, "approver", "\"judy@example.com\""},
        {"approver unknown: sys_id", "approval.approver",
         "{\"sys_id\":\"ffff\",\"user_name\":\"nobody\"}", 0, 1, "approver",
         "\"ffff\""},
        {"approver user_name only", "approval.approver",
         "{\"user_name\":\"nobody\",\"name\":\"No Body\"}", 0, 1, "approver",
         "\"nobody\""},
        {"approver string", "approval.approver", "\"erin.yu\"", 0, 1,
         "approver", "\"erin.yu\""},
        /* The Table API's reference shapes (sysparm_display_value=false,
         * =all): the value is the identity. */
        {"approver {link, value}", "approval.approver",
         "{\"link\":\"https://acme.service-now.com/api/now/table/sys_user/"
         "a1b2c3d4e5f60718293a4b5c6d7e8f90\","
         "\"value\":\"a1b2c3d4e5f60718293a4b5c6d7e8f90\"}",
         0, 1, "approver", "\"a1b2c3d4e5f60718293a4b5c6d7e8f90\""},
        {"approver {display_value, link, value}", "approval.approver",
         "{\"display_value\":\"Judy Chen\",\"link\":\"https://"
         "acme.service-now.com/api/now/table/sys_user/"
         "a1b2c3d4e5f60718293a4b5c6d7e8f90\","
         "\"value\":\"a1b2c3d4e5f60718293a4b5c6d7e8f90\"}",
         0, 1, "approver", "\"a1b2c3d4e5f60718293a4b5c6d7e8f90\""},
        {"requester {link, value}", "ritm.opened_by",
         "{\"link\":\"https://acme.service-now.com/api/now/table/sys_user/"
         "6816\",\"value\":\"6816\"}",
         0, 1, "requester", "\"6816\""},
        {"approver reference", "approval.approver",
         "{\"value\":\"ffff\",\"display_value\":\"Erin Yu\"}", 0, 1, "approver",
         "\"Erin Yu\""},
        {"no approver", "approval.approver", NULL, 0, 1, "approver", NULL},
        {"actor is the approver", "approval.approver", "\"erin.yu\"", 0, 1,
         "transition",
         "{\"from\":\"requested\",\"to\":\"approved\",\"actor\":\"erin.yu\"}"},
        {"owner value resolves", "ritm.variables.resource_owner",
         "{\"value\":\"carol.diaz\",\"display_value\":\"C. Diaz\"}", 0, 1,
         "owner", "\"carol.diaz\""},
        {"owner nothing resolves: value", "ritm.variables.resource_owner",
         "{\"value\":\"0011\",\"display_value\":\"Zed\"}", 0, 1, "owner",
         "\"0011\""},
        {"owner empty reference", "ritm.variables.resource_owner",
         "{\"value\":\"\",\"display_value\":\"\"}", 0, 1, "owner", NULL},
        /* A date's display_value is the viewer's local time: the value
         * (UTC) decides (issue 9). */
        {"date: value, not local display", "ritm.variables.access_expiry",
         "{\"value\":\"2027-01-31 09:00:00\","
         "\"display_value\":\"2027-01-31 01:00:00\"}",
         0, 1, "expires_at", "\"2027-01-31 09:00:00\""},
        /* A choice's display_value is its label: the value matches rules. */
        {"choice: value, not label", "ritm.variables.access_level",
         "{\"value\":\"admin\",\"display_value\":\"Admin (full)\"}", 0, 1,
         "scope",
         "{\"system\":\"payments-db\",\"environment\":\"prod\","
         "\"entitlement\":\"role:ledger_reader\",\"privilege\":\"admin\"}"},
        {"no value: display_value", "ritm.variables.access_level",
         "{\"display_value\":\"write\"}", 0, 1, "scope",
         "{\"system\":\"payments-db\",\"environment\":\"prod\","
         "\"entitlement\":\"role:ledger_reader\",\"privilege\":\"write\"}"},
        {"Table API reference {link, value}", "ritm.variables.target_system",
         "{\"link\":\"https://acme.service-now.com/api/now/table/cmdb_ci/"
         "9f0e\",\"value\":\"9f0e\"}",
         0, 1, "scope",
         "{\"system\":\"9f0e\",\"environment\":\"prod\","
         "\"entitlement\":\"role:ledger_reader\",\"privilege\":\"read\"}"},
        {"display_value empty: value", "ritm.variables.environment",
         "{\"value\":\"prod\",\"display_value\":\"\"}", 0, 1, "scope",
         "{\"system\":\"payments-db\",\"environment\":\"prod\","
         "\"entitlement\":\"role:ledger_reader\",\"privilege\":\"read\"}"},
        {"list variable", "ritm.variables.entitlement",
         "[\"role:a\",{\"value\":\"role:b\",\"display_value\":\"B\"}]", 0, 1,
         "scope",
         "{\"system\":\"payments-db\",\"environment\":\"prod\","
         "\"entitlement\":\"role:a, role:b\",\"privilege\":\"read\"}"},
        {"emergency true", "ritm.variables.emergency_access", "\"TRUE\"", 0, 1,
         "emergency", "true"},
        {"emergency 1", "ritm.variables.emergency_access", "\"1\"", 0, 1,
         "emergency", "true"},
        {"emergency bool", "ritm.variables.emergency_access", "true", 0, 1,
         "emergency", "true"},
        {"emergency no", "ritm.variables.emergency_access", "\"No\"", 0, 1,
         "emergency", "false"},
        {"emergency false", "ritm.variables.emergency_access", "\"false\"", 0,
         1, "emergency", "false"},
        {"emergency 0", "ritm.variables.emergency_access", "\"0\"", 0, 1,
         "emergency", "false"},
        {"emergency empty", "ritm.variables.emergency_access", "\"\"", 0, 1,
         "emergency", "false"},
        {"emergency reference", "ritm.variables.emergency_access",
         "{\"value\":\"true\",\"display_value\":\"Yes\"}", 0, 1, "emergency",
         "true"},
        /* Not an identity: value, else display_value (ADAPTERS.md). */
        {"emergency reference: value first", "ritm.variables.emergency_access",
         "{\"value\":\"no\",\"display_value\":\"Yes\"}", 0, 1, "emergency",
         "false"},
        {"emergency reference: display_value when no value",
         "ritm.variables.emergency_access",
         "{\"value\":\"\",\"display_value\":\"Yes\"}", 0, 1, "emergency",
         "true"},
        {"emergency reference: value when no display_value",
         "ritm.variables.emergency_access",
         "{\"value\":\"1\",\"display_value\":\"\"}", 0, 1, "emergency", "true"},
        {"other state", "approval.state", "\"requested\"", 0, 0, NULL, NULL},
        /* No status change is skip (ADAPTERS.md). */
        {"no status change", "approval.previous_state", "\"approved\"", 0, 0,
         NULL, NULL},
        {"no status change, any case", "approval.previous_state",
         "\"Approved\"", 0, 0, NULL, NULL},
        {"no previous state", "approval.previous_state", "\"\"", 0, 1, NULL,
         NULL},
        {"state any case", "approval.state", "\"Approved\"", 0, 1, NULL, NULL},
        {"no state", "approval.state", NULL, TG_EINVAL, 0, NULL,
         "approval.state"},
        {"no approval", "approval", NULL, TG_EINVAL, 0, NULL, "approval"},
        {"no ritm", "ritm", NULL, TG_EINVAL, 0, NULL, "ritm"},
        {"number not a string", "ritm.number", "12345", TG_EINVAL, 0, NULL,
         "ritm.number"},
        {"cat_item as string", "ritm.cat_item", "\"Vault access\"", 0, 1,
         "project", "\"Vault access\""},
        /* A reference's display_value is the item's name in the reader's
         * language: the value (sys_id) is the project (issue 9). */
        {"cat_item {display_value, link, value}", "ritm.cat_item",
         "{\"display_value\":\"Vault access\",\"link\":\"x\","
         "\"value\":\"04b7\"}",
         0, 1, "project", "\"04b7\""},
        {"cat_item {display_value} only", "ritm.cat_item",
         "{\"display_value\":\"Vault access\",\"value\":\"\"}", 0, 1, "project",
         "\"Vault access\""},
        {"cat_item {link, value}", "ritm.cat_item",
         "{\"link\":\"x\",\"value\":\"04b7\"}", 0, 1, "project", "\"04b7\""},
        /* A record read with sysparm_display_value=all: every field an
         * object, its value deciding. */
        {"number {display_value, value}", "ritm.number",
         "{\"display_value\":\"RITM0020417\",\"value\":\"RITM0020417\"}", 0, 1,
         "id", "\"RITM0020417\""},
        {"number with an empty value", "ritm.number",
         "{\"display_value\":\"\",\"value\":\"\"}", TG_EINVAL, 0, NULL,
         "ritm.number is missing"},
        {"state {display_value, value}", "approval.state",
         "{\"display_value\":\"Approved\",\"value\":\"approved\"}", 0, 1,
         "transition",
         "{\"from\":\"requested\",\"to\":\"approved\","
         "\"actor\":\"dave.okafor\"}"},
        {"previous_state {display_value, value}", "approval.previous_state",
         "{\"display_value\":\"Approved\",\"value\":\"approved\"}", 0, 0, NULL,
         NULL},
        {"opened_at {display_value, value}", "ritm.opened_at",
         "{\"display_value\":\"2026-11-28 06:03:22\","
         "\"value\":\"2026-11-28 14:03:22\"}",
         0, 1, "created_at", "\"2026-11-28 14:03:22\""},
        {"no cat_item", "ritm.cat_item", NULL, 0, 1, "project", NULL},
        {"no variables", "ritm.variables", NULL, 0, 1, "scope", "{}"},
        {"variables null", "ritm.variables", "null", 0, 1, "scope", "{}"},
        {"variables not an object", "ritm.variables", "[]", TG_EINVAL, 0, NULL,
         "ritm.variables must be an object"},
        {"variables a string", "ritm.variables", "\"x\"", TG_EINVAL, 0, NULL,
         "ritm.variables must be an object"},
    };
    struct tg_config *c = cfg_new();
    (void)state;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[256] = "", *eid = NULL;
        json_t *body = load(FIX "approval-references.json"), *out = NULL;
        int gated = -1, rc;

        patch(body, cases[i].path, cases[i].val);
        rc = tg_servicenow_map(c, body, &out, &gated, &eid, err, sizeof err);
        print_message("%s: rc %d gated %d err '%s'\n", cases[i].name, rc, gated,
                      err);
        assert_int_equal(rc, cases[i].rc);
        if (rc) {
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
                assert_json_equal(got, want);
                json_decref(want);
            }
        }
        free(eid);
        json_decref(out);
        json_decref(body);
    }
    cfg_free(c);
}

/* Gate projects are globs over the catalog item name, case-insensitive. */
static void test_gate_projects(void **state)
{
    /* as the load leaves them: lower-cased (gates.c) */
    static const char *const globs[] = {"database *", "vault*"};
    struct tg_config *c = cfg_new();
    json_t *body = load(FIX "approval-references.json"), *out = NULL;
    char err[128], *eid = NULL;
    int gated = -1;
    (void)state;

    c->gates[1].projects = tg_test_strv(globs, 2);
    c->gates[1].n_projects = 2;
    assert_int_equal(
        tg_servicenow_map(c, body, &out, &gated, &eid, err, sizeof err), 0);
    assert_int_equal(gated, 1);
    json_decref(out);
    free(eid);
    patch(body, "ritm.cat_item.name", "\"Laptop refresh\"");
    assert_int_equal(
        tg_servicenow_map(c, body, &out, &gated, &eid, err, sizeof err), 0);
    assert_int_equal(gated, 0);
    json_decref(out);
    free(eid);
    patch(body, "ritm.cat_item", NULL);
    assert_int_equal(
        tg_servicenow_map(c, body, &out, &gated, &eid, err, sizeof err), 0);
    assert_int_equal(gated, 0);
    json_decref(out);
    free(eid);
    json_decref(body);
    cfg_free(c);
}

/* A gate names an item by name or by sys_id, and whatever form the payload
 * gives the item in, the gate that names it selects it: the business rule
 * sends {sys_id, name} for an item its CATALOG_ITEMS names by sys_id, a
 * Table API read gives {display_value, link, value} with the name
 * translated. Before, a gate naming the sys_id answered skip to the rule's
 * {sys_id, name}, and the rule let the approval through unjudged. */
static void test_gate_item_forms(void **state)
{
    static const struct {
        const char *glob, *cat_item;
        int gated;
        const char *project;
    } cases[] = {
        {"04b7e94b4f7b4200086eeed18110c7fd",
         "{\"sys_id\":\"04b7e94b4f7b4200086eeed18110c7fd\","
         "\"name\":\"Database access\"}",
         1, "Database access"},
        {"database access",
         "{\"display_value\":\"Database access\",\"link\":\"x\","
         "\"value\":\"04b7e94b4f7b4200086eeed18110c7fd\"}",
         1, "04b7e94b4f7b4200086eeed18110c7fd"},
        {"04b7e94b4f7b4200086eeed18110c7fd",
         "{\"display_value\":\"Acc\u00e8s base de donn\u00e9es\","
         "\"link\":\"x\",\"value\":\"04b7e94b4f7b4200086eeed18110c7fd\"}",
         1, "04b7e94b4f7b4200086eeed18110c7fd"},
        {"04b7e94b4f7b4200086eeed18110c7fd",
         "{\"link\":\"x\",\"value\":\"04b7e94b4f7b4200086eeed18110c7fd\"}", 1,
         "04b7e94b4f7b4200086eeed18110c7fd"},
        {"database access",
         "{\"sys_id\":\"04b7e94b4f7b4200086eeed18110c7fd\","
         "\"name\":\"Laptop refresh\"}",
         0, "Laptop refresh"},
        {"04b7e94b4f7b4200086eeed18110c7fd",
         "{\"sys_id\":\"ffff\",\"name\":\"Laptop refresh\"}", 0,
         "Laptop refresh"},
        /* the rule could not read the item's name: its sys_id */
        {"04b7e94b4f7b4200086eeed18110c7fd",
         "{\"sys_id\":\"04b7e94b4f7b4200086eeed18110c7fd\",\"name\":\"\"}", 1,
         "04b7e94b4f7b4200086eeed18110c7fd"},
    };
    (void)state;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct tg_config *c = cfg_new();
        json_t *body = load(FIX "approval-references.json"), *out = NULL;
        char err[128] = "", *eid = NULL;
        int gated = -1;

        c->gates[1].projects = tg_test_strv(&cases[i].glob, 1);
        c->gates[1].n_projects = 1;
        patch(body, "ritm.cat_item", cases[i].cat_item);
        print_message("case %zu: %s\n", i, cases[i].cat_item);
        assert_int_equal(
            tg_servicenow_map(c, body, &out, &gated, &eid, err, sizeof err), 0);
        assert_int_equal(gated, cases[i].gated);
        assert_string_equal(json_string_value(json_object_get(out, "project")),
                            cases[i].project);
        json_decref(out);
        free(eid);
        json_decref(body);
        cfg_free(c);
    }
}

/* The beneficiary: a mapped variable (typed), else requested_for. */
static void test_beneficiary_variable(void **state)
{
    struct tg_config *c = cfg_new();
    json_t *body = load(FIX "approval-references.json"), *out = NULL, *want;
    char err[128], *eid = NULL;
    int gated;
    (void)state;

    c->servicenow.variables.beneficiary = strdup("service_account");
    c->servicenow.variables.beneficiary_type = strdup("identity_type");
    patch(body, "ritm.variables.service_account",
          "{\"value\":\"svc-payments-etl\",\"display_value\":\"ETL\"}");
    /* A choice's value as ServiceNow stores it. */
    patch(body, "ritm.variables.identity_type",
          "{\"value\":\"service_account\","
          "\"display_value\":\"Service account\"}");
    assert_int_equal(
        tg_servicenow_map(c, body, &out, &gated, &eid, err, sizeof err), 0);
    want = json_loads("{\"id\":\"svc-payments-etl\",\"type\":\"service\"}", 0,
                      NULL);
    assert_json_equal(json_object_get(out, "beneficiary"), want);
    json_decref(want);
    json_decref(out);
    free(eid);

    /* The value decides, not the label (ADAPTERS.md). */
    patch(body, "ritm.variables.identity_type",
          "{\"value\":\"human\",\"display_value\":\"Service account\"}");
    assert_int_equal(
        tg_servicenow_map(c, body, &out, &gated, &eid, err, sizeof err), 0);
    want =
        json_loads("{\"id\":\"svc-payments-etl\",\"type\":\"human\"}", 0, NULL);
    assert_json_equal(json_object_get(out, "beneficiary"), want);
    json_decref(want);
    json_decref(out);
    free(eid);
    json_decref(body);
    cfg_free(c);
}

/* approval.acted_by (ADAPTERS.md): the person who acted is judged; the
 * assigned approver is kept beside them when that is someone else. */
static void test_acted_by(void **state)
{
    static const struct {
        const char *name, *approver, *acted_by;
        const char *want_approver, *want_assigned; /* NULL: absent */
    } cases[] = {
        {"a delegate acted",
         "{\"sys_id\":\"62826b\",\"user_name\":"
         "\"dave.okafor\",\"name\":\"Dave Okafor\"}",
         "{\"sys_id\":\"a1b2c3d4e5f60718293a4b5c6d7e8f90\",\"user_name\":"
         "\"judy.chen\",\"name\":\"Judy Chen\"}",
         "a1b2c3d4e5f60718293a4b5c6d7e8f90", "dave.okafor"},
        {"the assigned approver acted", "{\"user_name\":\"dave.okafor\"}",
         "{\"user_name\":\"dave.okafor\"}", "dave.okafor", NULL},
        /* One person under two of their names is no one else. */
        {"same person, other alias", "{\"user_name\":\"dave.okafor\"}",
         "{\"email\":\"dave@example.com\"}", "dave@example.com", NULL},
        {"two unknown users", "{\"sys_id\":\"aaaa\"}", "{\"sys_id\":\"bbbb\"}",
         "bbbb", "aaaa"},
        {"same unknown user, other case", "{\"sys_id\":\"aaaa\"}",
         "{\"sys_id\":\"AAAA\"}", "AAAA", NULL},
        {"acted_by null", "{\"user_name\":\"dave.okafor\"}", "null",
         "dave.okafor", NULL},
        {"acted_by empty", "{\"user_name\":\"dave.okafor\"}", "{}",
         "dave.okafor", NULL},
        {"acted_by absent", "{\"user_name\":\"dave.okafor\"}", NULL,
         "dave.okafor", NULL},
        {"no assigned approver", "null", "{\"user_name\":\"erin.yu\"}",
         "erin.yu", NULL},
        {"acted_by a {link, value} reference",
         "{\"link\":\"x\",\"value\":\"dave.okafor\"}",
         "{\"link\":\"y\",\"value\":\"erin.yu\"}", "erin.yu", "dave.okafor"},
    };
    struct tg_config *c = cfg_new();
    (void)state;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *body = load(FIX "approval-references.json"), *out = NULL;
        const json_t *tr;
        char err[128] = "", *eid = NULL;
        int gated = -1;

        print_message("%s\n", cases[i].name);
        patch(body, "approval.approver", cases[i].approver);
        patch(body, "approval.acted_by", cases[i].acted_by);
        assert_int_equal(
            tg_servicenow_map(c, body, &out, &gated, &eid, err, sizeof err), 0);
        assert_int_equal(gated, 1);
        assert_string_equal(json_string_value(json_object_get(out, "approver")),
                            cases[i].want_approver);
        /* The session user moved the approval. */
        tr = json_object_get(out, "transition");
        assert_string_equal(json_string_value(json_object_get(tr, "actor")),
                            cases[i].want_approver);
        if (cases[i].want_assigned)
            assert_string_equal(
                json_string_value(json_object_get(out, "assigned_approver")),
                cases[i].want_assigned);
        else
            assert_null(json_object_get(out, "assigned_approver"));
        free(eid);
        json_decref(out);
        json_decref(body);
    }
    cfg_free(c);
}

/* Display names the payload carries are recorded beside the identities:
 * a user object's name, a reference's display_value. */
static void test_names(void **state)
{
    struct tg_config *c = cfg_new();
    json_t *body = load(FIX "approval-references.json"), *out = NULL, *want;
    char err[128] = "", *eid = NULL;
    int gated = -1;
    (void)state;

    patch(body, "approval.acted_by",
          "{\"sys_id\":\"a1b2c3d4e5f60718293a4b5c6d7e8f90\","
          "\"name\":\"Judy Chen\"}");
    /* A reference whose value resolves: its display_value names it. */
    patch(body, "ritm.variables.resource_owner",
          "{\"value\":\"carol.diaz\",\"display_value\":\"Carol Diaz\"}");
    /* A user object without a name but with a display_value. */
    patch(body, "ritm.opened_by",
          "{\"sys_id\":\"6816f79cc0a8016401c5a33be04be441\","
          "\"display_value\":\"Bob S.\"}");
    /* No name: nothing recorded for requested_for. */
    patch(body, "ritm.requested_for", "{\"user_name\":\"bob.smith\"}");
    assert_int_equal(
        tg_servicenow_map(c, body, &out, &gated, &eid, err, sizeof err), 0);
    want = json_loads("{\"a1b2c3d4e5f60718293a4b5c6d7e8f90\":\"Judy Chen\","
                      "\"dave.okafor\":\"Dave Okafor\","
                      "\"carol.diaz\":\"Carol Diaz\","
                      "\"6816f79cc0a8016401c5a33be04be441\":\"Bob S.\"}",
                      0, NULL);
    assert_json_equal(json_object_get(out, "names"), want);
    json_decref(want);
    json_decref(out);
    free(eid);

    /* Nobody named: no names member. A display_value that is the identity
     * itself (it resolved) adds nothing. */
    patch(body, "approval.acted_by", NULL);
    patch(body, "approval.approver", "\"dave.okafor\"");
    patch(body, "ritm.opened_by", "{\"user_name\":\"bob.smith\"}");
    patch(body, "ritm.variables.resource_owner",
          "{\"value\":\"0000\",\"display_value\":\"Carol Diaz\"}");
    assert_int_equal(
        tg_servicenow_map(c, body, &out, &gated, &eid, err, sizeof err), 0);
    assert_string_equal(json_string_value(json_object_get(out, "owner")),
                        "Carol Diaz");
    assert_null(json_object_get(out, "names"));
    json_decref(out);
    free(eid);
    json_decref(body);
    cfg_free(c);
}

static void test_example_payload(void **state)
{
    static const char *const idents[] = {"requester", "beneficiary", "owner",
                                         "approver"};
    static const char *const equal[] = {"kind", "justification", "scope",
                                        "emergency"};
    struct tg_config *c = cfg_new();
    json_t *body = load(EXAMPLE "payloads/servicenow-approval.json");
    json_t *want = load(EXAMPLE "payloads/canonical-ticket.json");
    json_t *out = NULL;
    char err[128] = "", *eid = NULL;
    int gated = -1;
    int64_t t1, t2;
    (void)state;

    assert_int_equal(
        tg_servicenow_map(c, body, &out, &gated, &eid, err, sizeof err), 0);
    assert_int_equal(gated, 1);
    assert_string_equal(eid, "aa8b230f3b05e392a6ea1c0d2f8b9e9d:12345");
    for (size_t i = 0; i < sizeof idents / sizeof idents[0]; i++) {
        const char *x = json_string_value(json_object_get(out, idents[i]));
        const char *y = json_string_value(json_object_get(want, idents[i]));
        struct tg_entity ex, ey;
        assert_non_null(x);
        assert_non_null(y);
        ex = tg_directory_resolve(&c->directory, x, strlen(x));
        ey = tg_directory_resolve(&c->directory, y, strlen(y));
        print_message("%s: %s / %s\n", idents[i], x, y);
        assert_int_equal(ex.kind, TG_ENT_PERSON);
        assert_int_equal(ex.kind, ey.kind);
        assert_int_equal(ex.idx, ey.idx);
    }
    for (size_t i = 0; i < sizeof equal / sizeof equal[0]; i++)
        assert_json_equal(json_object_get(out, equal[i]),
                          json_object_get(want, equal[i]));
    {
        const char *a = json_string_value(json_object_get(out, "expires_at"));
        const char *b = json_string_value(json_object_get(want, "expires_at"));
        assert_int_equal(tg_time_parse(a, strlen(a), &t1), 0);
        assert_int_equal(tg_time_parse(b, strlen(b), &t2), 0);
        assert_int_equal(t1, t2);
    }
    free(eid);
    json_decref(out);
    json_decref(want);
    json_decref(body);
    cfg_free(c);
}

/* ---- authentication ---- */

struct hdrs {
    const char *kv[16];
};

static const char *hdr_get(void *ctx, const char *name)
{
    const struct hdrs *h = ctx;
    for (size_t i = 0; h->kv[i]; i += 2)
        if (strcasecmp(h->kv[i], name) == 0)
            return h->kv[i + 1];
    return NULL;
}

/* "v1,<base64 HMAC-SHA256(key, id.ts.body)>" */
static void sw_sign(const char *key, const char *id, const char *ts,
                    const char *body, char *out, size_t cap)
{
    unsigned char mac[32];
    unsigned int len = 32;
    char *msg, *enc;
    size_t n = strlen(id) + strlen(ts) + strlen(body) + 3;

    msg = malloc(n);
    snprintf(msg, n, "%s.%s.%s", id, ts, body);
    HMAC(EVP_sha256(), key, (int)strlen(key), (unsigned char *)msg, strlen(msg),
         mac, &len);
    enc = b64(mac, 32);
    snprintf(out, cap, "v1,%s", enc);
    free(enc);
    free(msg);
}

static char *sn_token(const char *aud, long exp_off, const char *jti)
{
    char claims[512], *pem, *tok;
    long now = (long)time(NULL);

    snprintf(claims, sizeof claims,
             "{\"iss\":\"%s\",\"aud\":\"%s\",\"iat\":%ld,\"exp\":%ld,"
             "\"jti\":\"%s\"}",
             TG_TEST_SN_ISS, aud, now - 5, now + exp_off, jti);
    pem = tg_test_read_file(EXAMPLE "keys/servicenow-private-TEST-ONLY.pem",
                            NULL);
    assert_non_null(pem);
    tok = tg_test_jwt("RS256", pem, strlen(pem), claims);
    free(pem);
    return tok;
}

static void test_authenticate(void **state)
{
    static const char body[] = "{\"event_id\":\"e-1\"}";
    struct tg_config *c = cfg_new();
    char now_s[32], old_s[32], future_s[32], sig[128], sig_old[128],
        sig_future[128], wrong[128], multi[400], other_body_sig[128];
    char b_ok[2048], b_exp[2048], b_aud[2048], b_hs[2048], b_other[2048];
    long now = (long)time(NULL);
    char *priv = NULL, *pub = NULL, *t;
    (void)state;

    snprintf(now_s, sizeof now_s, "%ld", now);
    snprintf(old_s, sizeof old_s, "%ld", now - 301);
    snprintf(future_s, sizeof future_s, "%ld", now + 301);
    sw_sign(SW_KEY, "msg_1", now_s, body, sig, sizeof sig);
    sw_sign(SW_KEY, "msg_1", old_s, body, sig_old, sizeof sig_old);
    sw_sign(SW_KEY, "msg_1", future_s, body, sig_future, sizeof sig_future);
    sw_sign("another-key", "msg_1", now_s, body, wrong, sizeof wrong);
    sw_sign(SW_KEY, "msg_1", now_s, "{}", other_body_sig,
            sizeof other_body_sig);
    snprintf(multi, sizeof multi, "v1a,AAAA %s %s", wrong, sig);

    t = sn_token(TG_TEST_AUD, 300, "jti-1");
    snprintf(b_ok, sizeof b_ok, "Bearer %s", t);
    free(t);
    t = sn_token(TG_TEST_AUD, -600, "jti-2");
    snprintf(b_exp, sizeof b_exp, "Bearer %s", t);
    free(t);
    t = sn_token("someone-else", 300, "jti-3");
    snprintf(b_aud, sizeof b_aud, "Bearer %s", t);
    free(t);
    {
        /* HS256 keyed with the public key: algorithm confusion */
        char claims[256];
        snprintf(claims, sizeof claims,
                 "{\"iss\":\"%s\",\"aud\":\"%s\",\"exp\":%ld}", TG_TEST_SN_ISS,
                 TG_TEST_AUD, now + 300);
        t = tg_test_jwt("HS256", c->servicenow.jwt.key,
                        c->servicenow.jwt.key_len, claims);
        snprintf(b_hs, sizeof b_hs, "Bearer %s", t);
        free(t);
        assert_int_equal(tg_test_keypair("RSA", &priv, &pub), 0);
        t = tg_test_jwt("RS256", priv, strlen(priv), claims);
        snprintf(b_other, sizeof b_other, "Bearer %s", t);
        free(t);
        free(priv);
        free(pub);
    }

    struct {
        const char *name, *auth, *id, *ts, *sig;
        int rc;
        const char *delivery;
    } cases[] = {
        {"bearer RS256", b_ok, NULL, NULL, NULL, 0, "jti-1"},
        {"bearer expired", b_exp, NULL, NULL, NULL, TG_EAUTH, NULL},
        {"bearer other audience", b_aud, NULL, NULL, NULL, TG_EAUTH, NULL},
        {"bearer HS256 with public key", b_hs, NULL, NULL, NULL, TG_EAUTH,
         NULL},
        {"bearer other key", b_other, NULL, NULL, NULL, TG_EAUTH, NULL},
        {"bearer garbage", "Bearer abc", NULL, NULL, NULL, TG_EAUTH, NULL},
        {"nothing", NULL, NULL, NULL, NULL, TG_EAUTH, NULL},
        {"SW valid", NULL, "msg_1", now_s, sig, 0, "msg_1"},
        {"SW several signatures", NULL, "msg_1", now_s, multi, 0, "msg_1"},
        {"SW bad v1 signature", NULL, "msg_1", now_s, wrong, TG_EAUTH, NULL},
        {"SW signature of another body", NULL, "msg_1", now_s, other_body_sig,
         TG_EAUTH, NULL},
        {"SW other id", NULL, "msg_2", now_s, sig, TG_EAUTH, NULL},
        {"SW too old", NULL, "msg_1", old_s, sig_old, TG_EAUTH, NULL},
        {"SW in the future", NULL, "msg_1", future_s, sig_future, TG_EAUTH,
         NULL},
        {"SW timestamp not a number", NULL, "msg_1", "12a", sig, TG_EAUTH,
         NULL},
        {"SW no id", NULL, NULL, now_s, sig, TG_EAUTH, NULL},
        {"SW no timestamp", NULL, "msg_1", NULL, sig, TG_EAUTH, NULL},
        {"SW no signature", NULL, "msg_1", now_s, NULL, TG_EAUTH, NULL},
        {"SW not v1", NULL, "msg_1", now_s, sig + 1, TG_EAUTH, NULL},
        {"SW bad base64", NULL, "msg_1", now_s, "v1,!!!!", TG_EAUTH, NULL},
        /* both configured: either credential is accepted */
        {"bad bearer, good SW", b_exp, "msg_1", now_s, sig, 0, "msg_1"},
        {"good bearer, bad SW", b_ok, "msg_1", now_s, wrong, 0, "jti-1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct hdrs h = {.kv = {NULL}};
        struct tg_http_req r;
        size_t n = 0;
        char *id = NULL;
        int rc;

        if (cases[i].auth) {
            h.kv[n++] = "Authorization";
            h.kv[n++] = cases[i].auth;
        }
        if (cases[i].id) {
            h.kv[n++] = "Webhook-Id";
            h.kv[n++] = cases[i].id;
        }
        if (cases[i].ts) {
            h.kv[n++] = "webhook-timestamp";
            h.kv[n++] = cases[i].ts;
        }
        if (cases[i].sig) {
            h.kv[n++] = "WEBHOOK-SIGNATURE";
            h.kv[n++] = cases[i].sig;
        }
        r = (struct tg_http_req){
            .method = "POST",
            .path = "/v1/webhooks/servicenow",
            .body = body,
            .body_len = strlen(body),
            .header = hdr_get,
            .ctx = &h,
            .now = now,
        };
        rc = tg_servicenow_authenticate(c, &r, &id);
        print_message("%s: %d\n", cases[i].name, rc);
        assert_int_equal(rc, cases[i].rc);
        if (rc == 0)
            assert_string_equal(id, cases[i].delivery);
        free(id);
    }
    cfg_free(c);
}

/* The Standard Webhooks example of the specification's reference
 * libraries: a known secret, id, timestamp, body and signature. */
static void test_standard_webhooks_vector(void **state)
{
    static const char secret[] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    static const char id[] = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    static const char ts[] = "1614265330";
    static const char body[] = "{\"test\": 2432232314}";
    static const char sig[] = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    (void)state;

    assert_int_equal(tg_webhook_auth_standard(secret, id, ts, sig, body,
                                              strlen(body), 1614265330),
                     0);
    assert_int_equal(tg_webhook_auth_standard(secret, id, ts, sig, body,
                                              strlen(body), 1614265330 + 301),
                     TG_EAUTH);
    /* no key: a secret that does not decode is no credential */
    assert_int_equal(tg_webhook_auth_standard("whsec_", id, ts, sig, body,
                                              strlen(body), 1614265330),
                     TG_EAUTH);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_map_fixtures),
        cmocka_unit_test(test_map_variants),
        cmocka_unit_test(test_gate_projects),
        cmocka_unit_test(test_gate_item_forms),
        cmocka_unit_test(test_beneficiary_variable),
        cmocka_unit_test(test_acted_by),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_example_payload),
        cmocka_unit_test(test_authenticate),
        cmocka_unit_test(test_standard_webhooks_vector),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
