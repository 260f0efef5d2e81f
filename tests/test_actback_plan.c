/* test_actback_plan.c - act_back configuration (config/actback.c) and the
 * planner: decision + act_back -> the outbox's actions (actback/plan.c). */
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

#include "server/actback/plan.h"
#include "server/cli/cli.h"
#include "server/config/config.h"
#include "tests/support/tg_test.h"
#include "validators/errors.h"

/* ------------------------------------------------------------- planner */

static const char DENY[] =
    "{\"decision\":\"deny\",\"decision_id\":\"d-000000000042-6f1c2a\","
    "\"ticket\":\"ACC-1042\",\"source\":\"jira\","
    "\"transition\":{\"from\":\"Waiting for approval\",\"to\":\"Approved\"},"
    "\"dry_run\":false,\"findings\":[{\"code\":\"SOD_SELF_APPROVAL\"}],"
    "\"message\":\"Access governance blocked this transition:\\n- The "
    "approver is also the requester.\\n- No expiry date.\"}";
static const char ANNOTATE[] =
    "{\"decision\":\"annotate\",\"decision_id\":\"d-000000000043-000001\","
    "\"ticket\":\"ACC-1043\",\"source\":\"jira\","
    "\"transition\":{\"from\":\"Waiting for approval\",\"to\":\"Approved\"},"
    "\"dry_run\":false,"
    "\"message\":\"Access governance notes on this transition:\\n- Long "
    "expiry.\"}";
static const char DRY[] =
    "{\"decision\":\"annotate\",\"decision_id\":\"d-000000000044-000002\","
    "\"ticket\":\"ACC-1044\",\"source\":\"jira\","
    "\"transition\":{\"from\":\"Waiting for approval\",\"to\":\"Approved\"},"
    "\"dry_run\":true,"
    "\"message\":\"Access governance would block this transition (dry run, "
    "not enforced):\\n- The approver is also the requester.\"}";
static const char ALLOW[] =
    "{\"decision\":\"allow\",\"decision_id\":\"d-000000000045-000003\","
    "\"ticket\":\"ACC-1045\",\"dry_run\":false,\"message\":\"\"}";
static const char SKIP[] =
    "{\"decision\":\"skip\",\"decision_id\":\"d-000000000046-000004\","
    "\"ticket\":\"ACC-1046\",\"dry_run\":false,\"message\":\"\"}";
static const char SN_PAYLOAD[] =
    "{\"approval\":{\"sys_id\":\"appr0001\",\"state\":\"approved\"},"
    "\"ritm\":{\"sys_id\":\"ritm0001\",\"number\":\"RITM0012345\"}}";

/* A configuration with act_back for both systems as the issue shows. */
static void conf_init(struct tg_config *c)
{
    static char to[] = "Waiting for approval", label[] = "access-governance-denied";

    memset(c, 0, sizeof *c);
    c->jira.act_back = (struct tg_actback_conf){
        .set = 1, .api_version = 3, .comment_internal = 1,
        .dryrun_comments = 1, .max_attempts = 10,
        .on_deny = {.comment = 1, .transition_to = to, .label = label},
        .on_annotate = {.comment = 1},
    };
    c->servicenow.act_back = (struct tg_actback_conf){
        .set = 1, .dryrun_comments = 1, .max_attempts = 10,
        .on_deny = {.reject_approval = 1, .work_note = 1},
        .on_annotate = {.work_note = 1},
    };
}

/* The planned actions as "system/action" joined with ',' into buf. */
static json_t *plan(const struct tg_config *c, const char *source,
                    const char *decision, const char *payload, char *buf,
                    size_t cap)
{
    json_t *d = json_loads(decision, 0, NULL), *p = NULL, *out = NULL, *a;
    size_t i, off = 0;

    assert_non_null(d);
    if (payload)
        assert_non_null(p = json_loads(payload, 0, NULL));
    assert_int_equal(tg_actback_plan(c, source, d, p, &out), 0);
    assert_true(json_is_array(out));
    buf[0] = '\0';
    json_array_foreach(out, i, a) {
        int n = snprintf(buf + off, cap - off, "%s%s/%s", i ? "," : "",
                         json_string_value(json_object_get(a, "system")),
                         json_string_value(json_object_get(a, "action")));
        assert_true(n > 0 && (size_t)n < cap - off);
        off += (size_t)n;
        assert_true(json_is_object(json_object_get(a, "params")));
    }
    json_decref(d);
    json_decref(p);
    return out;
}

static const json_t *params(const json_t *out, size_t i)
{
    return json_object_get(json_array_get(out, i), "params");
}

static const char *pstr(const json_t *out, size_t i, const char *k)
{
    return json_string_value(json_object_get(params(out, i), k));
}

static void test_plan_table(void **state)
{
    static const struct {
        const char *name, *source, *decision, *payload;
        int tweak; /* 0 none, 1 dryrun_comments off, 2 on_deny only a
                      comment, 3 no act_back, 4 on_annotate nothing */
        const char *want;
    } cases[] = {
        {"jira deny", "jira", DENY, NULL, 0,
         "jira/comment,jira/transition,jira/label"},
        {"jira deny, comment only", "jira", DENY, NULL, 2, "jira/comment"},
        {"jira annotate", "jira", ANNOTATE, NULL, 0, "jira/comment"},
        {"jira annotate, nothing asked", "jira", ANNOTATE, NULL, 4, ""},
        {"jira allow", "jira", ALLOW, NULL, 0, ""},
        {"jira skip", "jira", SKIP, NULL, 0, ""},
        {"jira dry run", "jira", DRY, NULL, 0, "jira/comment"},
        {"jira dry run, no comments", "jira", DRY, NULL, 1, ""},
        {"jira without act_back", "jira", DENY, NULL, 3, ""},
        {"generic never acts", "generic", DENY, NULL, 0, ""},
        {"servicenow deny", "servicenow", DENY, SN_PAYLOAD, 0,
         "servicenow/reject_approval,servicenow/work_note"},
        {"servicenow annotate", "servicenow", ANNOTATE, SN_PAYLOAD, 0,
         "servicenow/work_note"},
        {"servicenow dry run", "servicenow", DRY, SN_PAYLOAD, 0,
         "servicenow/work_note"},
        {"servicenow dry run, no notes", "servicenow", DRY, SN_PAYLOAD, 1,
         ""},
        {"servicenow allow", "servicenow", ALLOW, SN_PAYLOAD, 0, ""},
        /* no sys_ids in the payload: nothing can be addressed */
        {"servicenow without sys_ids", "servicenow", DENY, "{}", 0, ""},
        {"servicenow without payload", "servicenow", DENY, NULL, 0, ""},
        {"servicenow approval only", "servicenow", DENY,
         "{\"approval\":{\"sys_id\":\"a1\"},\"ritm\":{\"sys_id\":\"\"}}", 0,
         "servicenow/reject_approval"},
    };
    (void)state;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct tg_config c;
        char got[256];
        json_t *out;

        conf_init(&c);
        if (cases[i].tweak == 1) {
            c.jira.act_back.dryrun_comments = 0;
            c.servicenow.act_back.dryrun_comments = 0;
        } else if (cases[i].tweak == 2) {
            c.jira.act_back.on_deny.transition_to = NULL;
            c.jira.act_back.on_deny.label = NULL;
        } else if (cases[i].tweak == 3) {
            c.jira.act_back.set = 0;
        } else if (cases[i].tweak == 4) {
            c.jira.act_back.on_annotate.comment = 0;
        }
        out = plan(&c, cases[i].source, cases[i].decision, cases[i].payload,
                   got, sizeof got);
        if (strcmp(got, cases[i].want) != 0)
            fail_msg("%s: got [%s], want [%s]", cases[i].name, got,
                     cases[i].want);
        json_decref(out);
    }
}

static void test_plan_params(void **state)
{
    struct tg_config c;
    char got[256];
    json_t *out;
    const char *text;
    (void)state;

    conf_init(&c);
    /* Jira deny: the message as a list, the decision id as the marker,
     * back to the status it came from, only while still in the gated one */
    out = plan(&c, "jira", DENY, NULL, got, sizeof got);
    text = pstr(out, 0, "text");
    assert_non_null(text);
    assert_non_null(strstr(text, "Access governance blocked this "
                                 "transition:\n- The approver is also the "
                                 "requester.\n- No expiry date."));
    assert_string_equal(pstr(out, 0, "marker"),
                        "ticketgate decision d-000000000042-6f1c2a");
    assert_non_null(strstr(text, "ticketgate decision d-000000000042-6f1c2a"));
    assert_string_equal(pstr(out, 0, "visibility"), "internal");
    assert_null(json_object_get(params(out, 0), "dry_run"));
    assert_string_equal(pstr(out, 1, "to"), "Waiting for approval");
    assert_string_equal(pstr(out, 1, "from_status"), "Approved");
    assert_string_equal(pstr(out, 2, "label"), "access-governance-denied");
    json_decref(out);

    /* public comments when configured */
    c.jira.act_back.comment_internal = 0;
    out = plan(&c, "jira", ANNOTATE, NULL, got, sizeof got);
    assert_string_equal(pstr(out, 0, "visibility"), "public");
    json_decref(out);

    /* a dry run says it was not enforced, and is marked so */
    out = plan(&c, "jira", DRY, NULL, got, sizeof got);
    assert_non_null(strstr(pstr(out, 0, "text"), "not enforced"));
    assert_true(json_is_true(json_object_get(params(out, 0), "dry_run")));
    json_decref(out);

    /* ServiceNow: the sys_ids from the payload, the same text */
    out = plan(&c, "servicenow", DENY, SN_PAYLOAD, got, sizeof got);
    assert_string_equal(pstr(out, 0, "approval_sys_id"), "appr0001");
    assert_non_null(strstr(pstr(out, 0, "text"), "- No expiry date."));
    assert_string_equal(pstr(out, 1, "ritm_sys_id"), "ritm0001");
    assert_non_null(strstr(pstr(out, 1, "text"),
                           "ticketgate decision d-000000000042-6f1c2a"));
    json_decref(out);

    /* a dry run's work note on ServiceNow, never a rejection */
    out = plan(&c, "servicenow", DRY, SN_PAYLOAD, got, sizeof got);
    assert_string_equal(got, "servicenow/work_note");
    assert_non_null(strstr(pstr(out, 0, "text"), "not enforced"));
    json_decref(out);
}

/* A decision of a dry-run policy whose findings only warn still says
 * nothing was enforced. */
static void test_plan_dry_warn_only(void **state)
{
    static const char warn[] =
        "{\"decision\":\"annotate\",\"decision_id\":\"d-1-000000\","
        "\"dry_run\":true,\"message\":\"Access governance notes on this "
        "transition:\\n- Long expiry.\"}";
    struct tg_config c;
    char got[64];
    json_t *out;
    (void)state;

    conf_init(&c);
    out = plan(&c, "jira", warn, NULL, got, sizeof got);
    assert_string_equal(got, "jira/comment");
    assert_non_null(strstr(pstr(out, 0, "text"), "not enforced"));
    assert_non_null(strstr(pstr(out, 0, "text"), "- Long expiry."));
    json_decref(out);
}

/* ------------------------------------------------------- configuration */

#define JIRA_AB                                                              \
    "    act_back:\n"                                                        \
    "      base_url: https://acme.atlassian.net/\n"                          \
    "      auth: { email: bot@acme.com, api_token: \"${TG_T_JIRA_TOKEN}\" }\n" \
    "      on_deny: { comment: true, transition_to: \"Waiting for "          \
    "approval\", label: access-governance-denied }\n"                        \
    "      on_annotate: { comment: true }\n"                                 \
    "      comment_visibility: internal\n"
#define SN_AB                                                                \
    "    act_back:\n"                                                        \
    "      instance_url: https://acme.service-now.com\n"                     \
    "      auth: { user: ticketgate.integration, password: "                 \
    "\"${TG_T_SN_PASSWORD}\" }\n"                                            \
    "      on_deny: { reject_approval: true, work_note: true }\n"            \
    "      on_annotate: { work_note: true }\n"

/* Loads the example with jira_ab inserted under sources.jira and sn_ab
 * under sources.servicenow (either may be ""). Returns the load's result;
 * *c (on success) and the first problem in why. */
static int load_with(const char *jira_ab, const char *sn_ab,
                     struct tg_config **c, char *why, size_t cap)
{
    struct tg_server s;
    struct tg_diag d;
    char *j, *n;
    int rc;
    size_t lj = strlen(jira_ab), ls = strlen(sn_ab);

    assert_int_equal(tg_test_server_prepare(&s), 0);
    j = malloc(lj + 64);
    n = malloc(ls + 64);
    assert_non_null(j);
    assert_non_null(n);
    snprintf(j, lj + 64, "  jira:\n%s", jira_ab);
    snprintf(n, ls + 64, "  servicenow:\n%s", sn_ab);
    assert_int_equal(tg_test_config_replace(&s, "  jira:\n", j), 0);
    assert_int_equal(tg_test_config_replace(&s, "  servicenow:\n", n), 0);
    free(j);
    free(n);
    tg_diag_init(&d);
    *c = NULL;
    rc = tg_config_load(s.config, c, &d);
    why[0] = '\0';
    if (d.n)
        snprintf(why, cap, "%s", d.msgs[0]);
    tg_diag_cleanup(&d);
    tg_test_server_cleanup(&s);
    return rc;
}

static void test_config_example(void **state)
{
    struct tg_config *c;
    char why[512];
    (void)state;

    setenv("TG_T_JIRA_TOKEN", "jira-token-value", 1);
    setenv("TG_T_SN_PASSWORD", "sn-password-value", 1);
    if (load_with(JIRA_AB, SN_AB, &c, why, sizeof why) != 0)
        fail_msg("did not load: %s", why);
    assert_true(c->jira.act_back.set);
    assert_string_equal(c->jira.act_back.base_url,
                        "https://acme.atlassian.net");
    assert_string_equal(c->jira.act_back.user, "bot@acme.com");
    assert_string_equal(c->jira.act_back.secret, "jira-token-value");
    assert_null(c->jira.act_back.bearer);
    assert_int_equal(c->jira.act_back.api_version, 3);
    assert_int_equal(c->jira.act_back.comment_internal, 1);
    assert_int_equal(c->jira.act_back.dryrun_comments, 1);
    assert_int_equal(c->jira.act_back.max_attempts, 10);
    assert_int_equal(c->jira.act_back.on_deny.comment, 1);
    assert_string_equal(c->jira.act_back.on_deny.transition_to,
                        "Waiting for approval");
    assert_string_equal(c->jira.act_back.on_deny.label,
                        "access-governance-denied");
    assert_int_equal(c->jira.act_back.on_annotate.comment, 1);
    assert_null(c->jira.act_back.on_annotate.label);
    assert_true(c->servicenow.act_back.set);
    assert_string_equal(c->servicenow.act_back.base_url,
                        "https://acme.service-now.com");
    assert_string_equal(c->servicenow.act_back.user, "ticketgate.integration");
    assert_string_equal(c->servicenow.act_back.secret, "sn-password-value");
    assert_int_equal(c->servicenow.act_back.on_deny.reject_approval, 1);
    assert_int_equal(c->servicenow.act_back.on_deny.work_note, 1);
    assert_int_equal(c->servicenow.act_back.on_annotate.work_note, 1);
    assert_int_equal(c->servicenow.act_back.on_annotate.reject_approval, 0);
    tg_config_free(c);

    /* absent act_back: nothing set, as before */
    assert_int_equal(load_with("", "", &c, why, sizeof why), 0);
    assert_false(c->jira.act_back.set);
    assert_false(c->servicenow.act_back.set);
    tg_config_free(c);

    /* Data Center: a bearer PAT, v2, public comments, dry runs silent,
     * loopback http allowed; defaults for on_* */
    setenv("TG_T_PAT", "pat-value", 1);
    assert_int_equal(
        load_with("    act_back:\n"
                  "      base_url: http://127.0.0.1:8081/jira\n"
                  "      auth: { bearer: \"${TG_T_PAT}\" }\n"
                  "      api_version: 2\n"
                  "      comment_visibility: public\n"
                  "      dryrun_comments: false\n"
                  "      max_attempts: 3\n",
                  "", &c, why, sizeof why),
        0);
    assert_string_equal(c->jira.act_back.bearer, "pat-value");
    assert_null(c->jira.act_back.user);
    assert_int_equal(c->jira.act_back.api_version, 2);
    assert_int_equal(c->jira.act_back.comment_internal, 0);
    assert_int_equal(c->jira.act_back.dryrun_comments, 0);
    assert_int_equal(c->jira.act_back.max_attempts, 3);
    assert_int_equal(c->jira.act_back.on_deny.comment, 1);
    assert_null(c->jira.act_back.on_deny.transition_to);
    tg_config_free(c);
}

static void test_config_problems(void **state)
{
    static const struct {
        const char *name, *jira, *sn, *want;
    } cases[] = {
        {"plain http to a remote host",
         "    act_back:\n      base_url: http://acme.atlassian.net\n"
         "      auth: { bearer: \"${TG_T_PAT}\" }\n",
         "", "use https://"},
        {"credentials in the URL",
         "    act_back:\n      base_url: https://u:p@acme.atlassian.net\n"
         "      auth: { bearer: \"${TG_T_PAT}\" }\n",
         "", "no user:password@"},
        {"not a URL",
         "    act_back:\n      base_url: acme.atlassian.net\n"
         "      auth: { bearer: \"${TG_T_PAT}\" }\n",
         "", "write an https:// URL"},
        {"secret in the file",
         "    act_back:\n      base_url: https://acme.atlassian.net\n"
         "      auth: { email: bot@acme.com, api_token: literal-token }\n",
         "", "api_token is written in the file"},
        {"ServiceNow password in the file", "",
         "    act_back:\n      instance_url: https://acme.service-now.com\n"
         "      auth: { user: u, password: hunter2 }\n",
         "password is written in the file"},
        {"both kinds of auth",
         "    act_back:\n      base_url: https://acme.atlassian.net\n"
         "      auth: { email: bot@acme.com, api_token: \"${TG_T_PAT}\", "
         "bearer: \"${TG_T_PAT}\" }\n",
         "", "has both bearer and email/api_token"},
        {"no auth",
         "    act_back:\n      base_url: https://acme.atlassian.net\n", "",
         "auth is missing"},
        {"no URL", "    act_back:\n      auth: { bearer: \"${TG_T_PAT}\" }\n",
         "", "base_url is missing"},
        {"transition back into a gate",
         "    act_back:\n      base_url: https://acme.atlassian.net\n"
         "      auth: { bearer: \"${TG_T_PAT}\" }\n"
         "      on_deny: { transition_to: approved }\n",
         "", "a status a jira gate watches"},
        {"empty transition target",
         "    act_back:\n      base_url: https://acme.atlassian.net\n"
         "      auth: { bearer: \"${TG_T_PAT}\" }\n"
         "      on_deny: { transition_to: \"\" }\n",
         "", "transition_to is empty"},
        {"a transition on annotate",
         "    act_back:\n      base_url: https://acme.atlassian.net\n"
         "      auth: { bearer: \"${TG_T_PAT}\" }\n"
         "      on_annotate: { transition_to: Open }\n",
         "", "transition_to"},
        {"a label with a space",
         "    act_back:\n      base_url: https://acme.atlassian.net\n"
         "      auth: { bearer: \"${TG_T_PAT}\" }\n"
         "      on_deny: { label: not one word }\n",
         "", "labels are one word"},
        {"a Jira key on ServiceNow", "",
         "    act_back:\n      instance_url: https://acme.service-now.com\n"
         "      auth: { user: u, password: \"${TG_T_PAT}\" }\n"
         "      api_version: 2\n",
         "a setting of Jira's act_back"},
        {"rejection on annotate", "",
         "    act_back:\n      instance_url: https://acme.service-now.com\n"
         "      auth: { user: u, password: \"${TG_T_PAT}\" }\n"
         "      on_annotate: { reject_approval: true }\n",
         "reject_approval"},
        {"api_version 4",
         "    act_back:\n      base_url: https://acme.atlassian.net\n"
         "      auth: { bearer: \"${TG_T_PAT}\" }\n      api_version: 4\n",
         "", "api_version"},
        {"unset variable",
         "    act_back:\n      base_url: https://acme.atlassian.net\n"
         "      auth: { bearer: \"${TG_T_UNSET_VAR}\" }\n",
         "", "TG_T_UNSET_VAR, which is not set"},
    };
    (void)state;

    setenv("TG_T_PAT", "pat-value", 1);
    unsetenv("TG_T_UNSET_VAR");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct tg_config *c = NULL;
        char why[512];
        int rc = load_with(cases[i].jira, cases[i].sn, &c, why, sizeof why);

        if (rc == 0 || !strstr(why, cases[i].want))
            fail_msg("%s: rc %d, first problem: %s (want %s)", cases[i].name,
                     rc, why, cases[i].want);
        tg_config_free(c);
    }
}

/* A rejection that a servicenow gate would judge again is refused. */
static void test_config_reject_into_gate(void **state)
{
    struct tg_server s;
    struct tg_config *c = NULL;
    struct tg_diag d;
    (void)state;

    setenv("TG_T_PAT", "pat-value", 1);
    assert_int_equal(tg_test_server_prepare(&s), 0);
    assert_int_equal(
        tg_test_config_replace(&s, "  servicenow:\n",
                               "  servicenow:\n" SN_AB), 0);
    assert_int_equal(tg_test_config_replace(&s, "to: [\"approved\"]",
                                            "to: [\"approved\", \"rejected\"]"),
                     0);
    setenv("TG_T_SN_PASSWORD", "x", 1);
    tg_diag_init(&d);
    assert_int_not_equal(tg_config_load(s.config, &c, &d), 0);
    assert_true(d.n > 0);
    assert_non_null(strstr(d.msgs[0], "the rejection would be judged again"));
    /* with a line to point at */
    assert_non_null(strstr(d.msgs[0], "ticketgate.yaml:"));
    tg_diag_cleanup(&d);
    tg_test_server_cleanup(&s);
}

/* lint's summary line names where decisions are written back. */
static void test_lint_summary(void **state)
{
    struct tg_server s;
    char *argv[] = {(char *)"lint", (char *)"-c", NULL, NULL};
    FILE *fo = tmpfile();
    char out[2048];
    size_t n;
    int so, rc;
    (void)state;

    setenv("TG_T_JIRA_TOKEN", "jira-token-value", 1);
    assert_int_equal(tg_test_server_prepare(&s), 0);
    assert_int_equal(
        tg_test_config_replace(&s, "  jira:\n", "  jira:\n" JIRA_AB), 0);
    argv[2] = s.config;
    assert_non_null(fo);
    fflush(stdout);
    so = dup(1);
    dup2(fileno(fo), 1);
    rc = tg_cmd_lint(3, argv);
    fflush(stdout);
    dup2(so, 1);
    close(so);
    rewind(fo);
    n = fread(out, 1, sizeof out - 1, fo);
    out[n] = '\0';
    fclose(fo);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, ": OK: "));
    assert_non_null(strstr(out, "; act-back to jira\n"));
    tg_test_server_cleanup(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan_table),
        cmocka_unit_test(test_plan_params),
        cmocka_unit_test(test_plan_dry_warn_only),
        cmocka_unit_test(test_config_example),
        cmocka_unit_test(test_config_problems),
        cmocka_unit_test(test_config_reject_into_gate),
        cmocka_unit_test(test_lint_summary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
