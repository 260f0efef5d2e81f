/* test_events.c - events in: each form's parser, the mappings, the config. */
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

#include "server/config/config.h"
#include "server/events/events.h"
#include "tests/support/tg_test.h"
#include "validators/errors.h"

#define FIX TG_SOURCE_DIR "/tests/fixtures/events/"
#define HEX "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static struct tg_config *cfg;

static int setup(void **state)
{
    struct tg_diag d;
    int rc;

    (void)state;
    tg_diag_init(&d);
    rc = tg_config_load(FIX "ticketgate.yaml", &cfg, &d);
    for (size_t i = 0; i < d.n; i++)
        fprintf(stderr, "%s\n", d.msgs[i]);
    tg_diag_cleanup(&d);
    return rc;
}

static int teardown(void **state)
{
    (void)state;
    tg_config_free(cfg);
    return 0;
}

static json_t *load(const char *name)
{
    json_error_t err;
    char path[512];
    json_t *v;

    snprintf(path, sizeof(path), FIX "%s", name);
    v = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
    if (!v)
        fail_msg("%s: %s", name, err.text);
    return v;
}

/* Parses body as form (detected when form < 0); returns the rc. */
static int run(const json_t *body, int form, const char *group, const char *key,
               int64_t now, struct tg_events_out *out, char *err, size_t cap)
{
    struct tg_events_in in = {
        .cfg = cfg,
        .body = body,
        .body_hex = HEX,
        .now = now,
        .scim_group = group,
        .scim_key = key,
    };
    memset(out, 0, sizeof(*out));
    out->err = err;
    out->cap = cap;
    err[0] = '\0';
    return tg_events_parse(
        &in, form < 0 ? tg_events_detect(body) : (enum tg_event_form)form, out);
}

/* What one event document must say (NULL: absent). */
struct want {
    const char *source_id, *type, *identity, *system, *entitlement;
    int mapped;
    const char *reason_part; /* a piece of unmapped_reason */
    const char *time;
};

static void check_event(const json_t *ev, const struct want *w)
{
    const char *reason =
        json_string_value(json_object_get(ev, "unmapped_reason"));

    assert_string_equal(json_string_value(json_object_get(ev, "source_id")),
                        w->source_id);
    assert_string_equal(json_string_value(json_object_get(ev, "type")),
                        w->type);
    assert_string_equal(json_string_value(json_object_get(ev, "identity")),
                        w->identity);
    if (w->system)
        assert_string_equal(json_string_value(json_object_get(ev, "system")),
                            w->system);
    else
        assert_null(json_object_get(ev, "system"));
    if (w->entitlement)
        assert_string_equal(
            json_string_value(json_object_get(ev, "entitlement")),
            w->entitlement);
    assert_int_equal(json_is_true(json_object_get(ev, "mapped")), w->mapped);
    if (w->mapped) {
        assert_null(reason);
    } else {
        assert_non_null(reason);
        if (!strstr(reason, w->reason_part))
            fail_msg("%s: reason '%s' lacks '%s'", w->source_id, reason,
                     w->reason_part);
    }
    if (w->time)
        assert_string_equal(json_string_value(json_object_get(ev, "time")),
                            w->time);
    assert_non_null(json_string_value(json_object_get(ev, "raw_ref")));
}

static void check_all(const json_t *events, const struct want *w, size_t n)
{
    assert_int_equal(json_array_size(events), n);
    for (size_t i = 0; i < n; i++)
        check_event(json_array_get(events, i), &w[i]);
}

/* ------------------------------------------------------------- forms */

static void test_detect(void **state)
{
    static const struct {
        const char *file;
        enum tg_event_form form;
    } cases[] = {
        {"okta-event-hook.json", TG_EVFORM_OKTA},
        {"cloudtrail-mixed.json", TG_EVFORM_CLOUDTRAIL},
        {"scim-add.json", TG_EVFORM_SCIM},
        {"scim-remove-filter.json", TG_EVFORM_SCIM},
        {"canonical-grant.json", TG_EVFORM_CANONICAL},
        {"canonical-batch.json", TG_EVFORM_CANONICAL},
        {"cloudtrail-eventbridge.json", TG_EVFORM_CLOUDTRAIL},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *b = load(cases[i].file);
        assert_int_equal(tg_events_detect(b), cases[i].form);
        json_decref(b);
    }
}

static void test_okta(void **state)
{
    static const struct want w[] = {
        {"okta:14a42b00-74e5-11ee-8a5a-69d62fcd0f8b", "grant",
         "bob@example.com", "payments-db", "payments-read", 1, NULL,
         "2026-11-20T09:15:02Z"},
        {"okta:2b6c1f90-74e6-11ee-9d2b-5b3a1e7c0a44", "revoke",
         "carol@example.com", "payments-db", "payments-read", 1, NULL, NULL},
        /* The User target's id is no alias of Dave's; his login is. */
        {"okta:3c1d2e30-74e6-11ee-b1c4-7f0e2d9a6b18", "grant",
         "dave@example.com", "hr-portal", "hr-portal-user", 1, NULL, NULL},
        {"okta:4d8e9f10-74e6-11ee-a2f3-0c5b8e1d7a29", "grant",
         "bob@example.com", NULL, NULL, 0, "okta_group '00g9cOnTrAcToRs0x7'",
         NULL},
        /* The deactivation: one revoke per distinct Okta mapping. */
        {"okta:6f2a3b40-74e6-11ee-9e5f-4a1c7d2b8e63/payments-db/"
         "payments-read/prod",
         "revoke", "carol@example.com", "payments-db", "payments-read", 1, NULL,
         "2026-11-21T17:30:12Z"},
        {"okta:6f2a3b40-74e6-11ee-9e5f-4a1c7d2b8e63/hr-portal/hr-portal-user",
         "revoke", "carol@example.com", "hr-portal", "hr-portal-user", 1, NULL,
         NULL},
        {"okta:8b4c5d60-74e6-11ee-81b7-8d3f0a5e1b82", "grant",
         "00uN0b0dYkn0wn0x7", "payments-db", "payments-read", 0,
         "in no directory entry", NULL},
    };
    json_t *b = load("okta-event-hook.json");
    struct tg_events_out out;
    char err[256];
    const json_t *ev;

    (void)state;
    assert_int_equal(run(b, -1, NULL, NULL, 0, &out, err, sizeof(err)), 0);
    check_all(out.events, w, sizeof(w) / sizeof(w[0]));
    /* user.session.start and the FAILURE outcome change nothing. */
    assert_int_equal(out.ignored, 2);
    ev = json_array_get(out.events, 0);
    assert_string_equal(json_string_value(json_object_get(ev, "form")), "okta");
    assert_string_equal(json_string_value(json_object_get(ev, "environment")),
                        "prod");
    assert_string_equal(
        json_string_value(json_object_get(ev, "identity_given")),
        "00ub0oNGTSWTBKOLGLNR");
    assert_string_equal(json_string_value(json_object_get(ev, "actor")),
                        "admin@example.com");
    assert_string_equal(json_string_value(json_object_get(ev, "source_event")),
                        "group.user_membership.add");
    assert_string_equal(json_string_value(json_object_get(ev, "raw_ref")),
                        "sha256:" HEX "#0");
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(out.events, 4), "cause")),
                        "user.lifecycle.deactivate");
    json_decref(out.events);
    json_decref(b);
}

static void test_okta_malformed(void **state)
{
    static const struct {
        const char *body, *err_part;
    } cases[] = {
        {"{\"eventType\":\"com.okta.event_hook\",\"data\":{}}", "data.events"},
        {"{\"eventType\":\"com.okta.event_hook\",\"data\":{\"events\":[{"
         "\"eventType\":\"group.user_membership.add\",\"published\":"
         "\"2026-11-20T09:15:02.770Z\"}]}}",
         "data.events[0].uuid"},
        {"{\"eventType\":\"com.okta.event_hook\",\"data\":{\"events\":[{"
         "\"uuid\":\"u1\",\"eventType\":\"group.user_membership.add\","
         "\"published\":\"2026-11-20\"}]}}",
         "data.events[0].published"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *b = json_loads(cases[i].body, 0, NULL);
        struct tg_events_out out;
        char err[256];
        assert_non_null(b);
        assert_int_equal(
            run(b, TG_EVFORM_OKTA, NULL, NULL, 0, &out, err, sizeof(err)),
            TG_EINVAL);
        assert_null(out.events);
        if (!strstr(err, cases[i].err_part))
            fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].err_part);
        json_decref(b);
    }
}

static void test_okta_challenge(void **state)
{
    char *out = NULL;

    (void)state;
    assert_int_equal(tg_events_okta_challenge("sWfNgB_2qSw1zu9ZQ", 17, &out),
                     0);
    assert_string_equal(out, "{\"verification\":\"sWfNgB_2qSw1zu9ZQ\"}");
    free(out);
    assert_int_equal(tg_events_okta_challenge("", 0, &out), TG_EINVAL);
    assert_int_equal(tg_events_okta_challenge("a\"b c", 5, &out), TG_EINVAL);
    assert_int_equal(tg_events_okta_challenge("ab\ncd", 5, &out), TG_EINVAL);
}

static void test_cloudtrail(void **state)
{
    static const struct want w[] = {
        {"cloudtrail:7c3b1a2e-9d4f-4c5b-8e6a-222222222222", "grant",
         "bob@example.com", "aws-prod", "iam-admins", 1, NULL,
         "2026-11-20T11:00:00Z"},
        {"cloudtrail:1e2d3c4b-5a69-4788-97a6-333333333333", "grant",
         "carol@example.com", "aws-prod", "read-only", 1, NULL, NULL},
        {"cloudtrail:3a4b5c6d-7e8f-4091-b2c3-555555555555", "grant",
         "bob@example.com", "aws-prod", "PowerUserAccess", 1, NULL, NULL},
        {"cloudtrail:4b5c6d7e-8f90-41a2-b3c4-666666666666", "revoke",
         "906767ed4c-aaaa1111-2222-3333-4444-555566667777", "aws-prod",
         "PowerUserAccess", 0, "principalType GROUP", NULL},
        {"cloudtrail:6d7e8f90-1234-45c6-d7e8-888888888888", "revoke",
         "dave@example.com", NULL, NULL, 0, "aws_group 'Developers'", NULL},
        /* The permission set is mapped for another account only. */
        {"cloudtrail:7e8f9012-3456-47d8-e9f0-999999999999", "grant",
         "bob@example.com", NULL, NULL, 0, "(account 444455556666)", NULL},
        {"cloudtrail:8f901234-5678-49fa-8b0c-aaaaaaaaaaaa", "revoke",
         "carol@example.com", "aws-prod", "read-only", 1, NULL,
         "2026-11-22T09:00:00Z"},
    };
    json_t *b = load("cloudtrail-mixed.json");
    struct tg_events_out out;
    char err[256];

    (void)state;
    assert_int_equal(run(b, -1, NULL, NULL, 0, &out, err, sizeof(err)), 0);
    check_all(out.events, w, sizeof(w) / sizeof(w[0]));
    /* ConsoleLogin, the AccessDenied detach, DescribeInstances. */
    assert_int_equal(out.ignored, 3);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(out.events, 0), "identity_given")),
                        "arn:aws:iam::111122223333:user/bob");
    json_decref(out.events);
    json_decref(b);
}

/* The record an EventBridge rule delivers (the event's detail), keyed by
 * its eventID as in a log file; a console sign-in routed the same way is
 * no access change. */
static void test_cloudtrail_eventbridge(void **state)
{
    static const struct want w[] = {
        {"cloudtrail:9a0b1c2d-3e4f-4a5b-8c6d-bbbbbbbbbbbb", "grant",
         "carol@example.com", "aws-prod", "iam-admins", 1, NULL,
         "2026-11-23T08:30:00Z"},
    };
    json_t *b = load("cloudtrail-eventbridge.json");
    struct tg_events_out out;
    char err[256];

    (void)state;
    assert_int_equal(run(b, -1, NULL, NULL, 0, &out, err, sizeof(err)), 0);
    check_all(out.events, w, 1);
    assert_int_equal(out.ignored, 0);
    json_decref(out.events);

    json_object_set_new(b, "detail-type",
                        json_string("AWS Console Sign In via CloudTrail"));
    json_object_set_new(json_object_get(b, "detail"), "eventName",
                        json_string("ConsoleLogin"));
    json_object_set_new(json_object_get(b, "detail"), "eventSource",
                        json_string("signin.amazonaws.com"));
    assert_int_equal(tg_events_detect(b), TG_EVFORM_CLOUDTRAIL);
    assert_int_equal(run(b, -1, NULL, NULL, 0, &out, err, sizeof(err)), 0);
    assert_int_equal(json_array_size(out.events), 0);
    assert_int_equal(out.ignored, 1);
    json_decref(out.events);

    /* A detail without eventID is refused, named as such. */
    json_object_set_new(json_object_get(b, "detail"), "eventName",
                        json_string("AddUserToGroup"));
    json_object_set_new(json_object_get(b, "detail"), "eventSource",
                        json_string("iam.amazonaws.com"));
    json_object_del(json_object_get(b, "detail"), "eventID");
    assert_int_equal(run(b, -1, NULL, NULL, 0, &out, err, sizeof(err)),
                     TG_EINVAL);
    assert_non_null(strstr(err, "detail.eventID"));
    json_decref(b);
}

/* "errorCode": null (how CloudTrail Lake and SIEM exports write a call
 * that did not fail) is no failure; an error code string is. */
static void test_cloudtrail_error_null(void **state)
{
    json_t *b = load("cloudtrail-eventbridge.json");
    json_t *rec = json_copy(json_object_get(b, "detail"));
    json_t *body = json_pack("{s:[O]}", "Records", rec);
    struct tg_events_out out;
    char err[256];

    (void)state;
    json_object_set_new(rec, "errorCode", json_null());
    assert_int_equal(run(body, -1, NULL, NULL, 0, &out, err, sizeof(err)), 0);
    assert_int_equal(json_array_size(out.events), 1);
    assert_int_equal(out.ignored, 0);
    json_decref(out.events);
    json_object_set_new(rec, "errorCode", json_string("NoSuchEntity"));
    assert_int_equal(run(body, -1, NULL, NULL, 0, &out, err, sizeof(err)), 0);
    assert_int_equal(json_array_size(out.events), 0);
    assert_int_equal(out.ignored, 1);
    json_decref(out.events);
    json_decref(body);
    json_decref(rec);
    json_decref(b);
}

/* An IAM user's ARN is in the record's partition (aws-us-gov, aws-cn):
 * the caller's ARN names it. */
static void test_cloudtrail_partition(void **state)
{
    json_t *b = load("cloudtrail-eventbridge.json");
    json_t *rec = json_copy(json_object_get(b, "detail"));
    json_t *body = json_pack("{s:[O]}", "Records", rec);
    struct tg_events_out out;
    char err[256];

    (void)state;
    json_object_set_new(json_object_get(rec, "userIdentity"), "arn",
                        json_string("arn:aws-us-gov:iam::111122223333:user/"
                                    "admin"));
    assert_int_equal(run(body, -1, NULL, NULL, 0, &out, err, sizeof(err)), 0);
    assert_int_equal(json_array_size(out.events), 1);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(out.events, 0), "identity_given")),
                        "arn:aws-us-gov:iam::111122223333:user/carol");
    json_decref(out.events);
    /* No caller ARN: the commercial partition. */
    json_object_del(rec, "userIdentity");
    assert_int_equal(run(body, -1, NULL, NULL, 0, &out, err, sizeof(err)), 0);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(out.events, 0), "identity_given")),
                        "arn:aws:iam::111122223333:user/carol");
    json_decref(out.events);
    json_decref(body);
    json_decref(rec);
    json_decref(b);
}

static void test_scim(void **state)
{
    static const struct want add[] = {
        {"scim:7f3a1c52-0b7e-4d2b-9c1e-2a5f8d6e4b31:req-1:0:2819c223-7f76-"
         "453a-919d-413861904646",
         "grant", "carol@example.com", "payments-db", "payments-write", 1, NULL,
         "2026-11-20T14:00:00Z"},
        {"scim:7f3a1c52-0b7e-4d2b-9c1e-2a5f8d6e4b31:req-1:0:902c246b-6245-"
         "4190-8e05-00816be7344a",
         "grant", "dave@example.com", "payments-db", "payments-write", 1, NULL,
         NULL},
    };
    static const struct want rm[] = {
        {"scim:7f3a1c52-0b7e-4d2b-9c1e-2a5f8d6e4b31:0123456789abcdef@"
         "1795183200:0:2819c223-7f76-453a-919d-413861904646",
         "revoke", "carol@example.com", "payments-db", "payments-write", 1,
         NULL, "2026-11-20T14:00:00Z"},
    };
    static const struct want other_group[] = {
        {"scim:g-unknown:req-2:0:2819c223-7f76-453a-919d-413861904646",
         "revoke", "carol@example.com", NULL, NULL, 0, "scim_group 'g-unknown'",
         NULL},
    };
    const char *group = "7f3a1c52-0b7e-4d2b-9c1e-2a5f8d6e4b31";
    int64_t now = 1795183200; /* 2026-11-20T14:00:00Z */
    json_t *b = load("scim-add.json");
    struct tg_events_out out;
    char err[256];

    (void)state;
    assert_int_equal(run(b, -1, group, "req-1", now, &out, err, sizeof(err)),
                     0);
    check_all(out.events, add, 2);
    json_decref(out.events);
    json_decref(b);

    b = load("scim-remove-filter.json");
    assert_int_equal(run(b, -1, group, NULL, now, &out, err, sizeof(err)), 0);
    check_all(out.events, rm, 1);
    json_decref(out.events);
    assert_int_equal(
        run(b, -1, "g-unknown", "req-2", now, &out, err, sizeof(err)), 0);
    check_all(out.events, other_group, 1);
    json_decref(out.events);
    json_decref(b);
}

/* Operations other than the fixtures': Azure's remove with a value list,
 * replace, a path-less add, an or-filter, other attributes; and the
 * malformed ones, refused whole. */
static void test_scim_operations(void **state)
{
    static const struct {
        const char *ops;
        int rc;
        size_t events, ignored;
        const char *type0, *part; /* first event's type; error part */
    } cases[] = {
        {"[{\"op\":\"Remove\",\"path\":\"members\",\"value\":[{\"value\":"
         "\"dave\"}]}]",
         0, 1, 0, "revoke", NULL},
        {"[{\"op\":\"replace\",\"path\":\"members\",\"value\":[{\"value\":"
         "\"dave\"},{\"value\":\"carol\"}]}]",
         0, 2, 0, "grant", NULL},
        {"[{\"op\":\"add\",\"value\":{\"members\":[{\"value\":\"dave\"}]}}]", 0,
         1, 0, "grant", NULL},
        {"[{\"op\":\"remove\",\"path\":\"members[value eq \\\"dave\\\" or "
         "value eq \\\"carol\\\"]\"}]",
         0, 2, 0, "revoke", NULL},
        {"[{\"op\":\"replace\",\"path\":\"displayName\",\"value\":\"X\"}]", 0,
         0, 1, NULL, NULL},
        {"[{\"op\":\"replace\",\"value\":{\"displayName\":\"X\"}}]", 0, 0, 1,
         NULL, NULL},
        {"[{\"op\":\"remove\",\"path\":\"members\"}]", TG_EINVAL, 0, 0, NULL,
         "removes every member"},
        {"[{\"op\":\"remove\",\"path\":\"members[display eq \\\"D\\\"]\"}]",
         TG_EINVAL, 0, 0, NULL, "member filter"},
        {"[{\"op\":\"remove\",\"path\":\"members[value co \\\"d\\\"]\"}]",
         TG_EINVAL, 0, 0, NULL, "member filter"},
        {"[{\"op\":\"add\",\"path\":\"members[value eq \\\"d\\\"]\"}]",
         TG_EINVAL, 0, 0, NULL, "only read on remove"},
        {"[{\"op\":\"move\",\"path\":\"members\"}]", TG_EINVAL, 0, 0, NULL,
         "add, remove or replace"},
        {"[{\"op\":\"add\",\"path\":\"members\",\"value\":[{\"display\":"
         "\"D\"}]}]",
         TG_EINVAL, 0, 0, NULL, "value[0].value is missing"},
        {"[{\"op\":\"remove\"}]", TG_EINVAL, 0, 0, NULL, "without a path"},
        /* RFC 7644 3.10: an attribute path may name its schema URI. */
        {"[{\"op\":\"remove\",\"path\":\"urn:ietf:params:scim:schemas:core:"
         "2.0:Group:members[value eq \\\"dave\\\"]\"}]",
         0, 1, 0, "revoke", NULL},
        {"[{\"op\":\"add\",\"path\":\"urn:ietf:params:scim:schemas:core:2.0:"
         "Group:members\",\"value\":[{\"value\":\"dave\"}]}]",
         0, 1, 0, "grant", NULL},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[1024];
        json_t *b;
        struct tg_events_out out;
        char err[256];
        int rc;

        snprintf(text, sizeof(text),
                 "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:"
                 "PatchOp\"],\"Operations\":%s}",
                 cases[i].ops);
        b = json_loads(text, 0, NULL);
        assert_non_null(b);
        rc = run(b, -1, "7f3a1c52-0b7e-4d2b-9c1e-2a5f8d6e4b31", "k", 1000, &out,
                 err, sizeof(err));
        if (rc != cases[i].rc)
            fail_msg("case %zu: rc %d, want %d (%s)", i, rc, cases[i].rc, err);
        if (rc == 0) {
            assert_int_equal(json_array_size(out.events), cases[i].events);
            assert_int_equal(out.ignored, cases[i].ignored);
            if (cases[i].type0)
                assert_string_equal(json_string_value(json_object_get(
                                        json_array_get(out.events, 0), "type")),
                                    cases[i].type0);
            json_decref(out.events);
        } else if (!strstr(err, cases[i].part)) {
            fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].part);
        }
        json_decref(b);
    }
}

/* The PatchOps Microsoft Entra ID and Okta document sending for a group's
 * members (tests/fixtures/events/README.md names the pages), each on the
 * group of its own example. */
static void test_scim_vendors(void **state)
{
    static const struct want entra_add[] = {
        {"scim:a99962b9f99d4c4fac67:k:0:f648f8d5ea4e4cd38e9c", "grant",
         "bob@example.com", "hr-portal", "hr-portal-admin", 1, NULL,
         "2026-11-20T14:00:00Z"},
    };
    static const struct want entra_rm[] = {
        {"scim:a99962b9f99d4c4fac67:k:0:f648f8d5ea4e4cd38e9c", "revoke",
         "bob@example.com", "hr-portal", "hr-portal-admin", 1, NULL, NULL},
    };
    static const struct want okta_push[] = {
        {"scim:abf4dd94-a4c0-4f67-89c9-76b03340cb9b:k:0:89bb1940-b905-4575-"
         "9e7f-6f887cfb368e",
         "revoke", "dave@example.com", "payments-db", "payments-admin", 1, NULL,
         NULL},
        {"scim:abf4dd94-a4c0-4f67-89c9-76b03340cb9b:k:1:23a35c27-23d3-4c03-"
         "b4c5-6443c09e7173",
         "grant", "carol@example.com", "payments-db", "payments-admin", 1,
         NULL, NULL},
    };
    static const struct {
        const char *file, *group;
        const struct want *w;
        size_t n, ignored;
    } cases[] = {
        {"scim-entra-add.json", "a99962b9f99d4c4fac67", entra_add, 1, 0},
        {"scim-entra-remove.json", "a99962b9f99d4c4fac67", entra_rm, 1, 0},
        {"scim-okta-push.json", "abf4dd94-a4c0-4f67-89c9-76b03340cb9b",
         okta_push, 2, 0},
        /* Okta renames the group with each membership push: no change. */
        {"scim-okta-rename.json", "abf4dd94-a4c0-4f67-89c9-76b03340cb9b",
         NULL, 0, 1},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *b = load(cases[i].file);
        struct tg_events_out out;
        char err[256];

        assert_int_equal(tg_events_detect(b), TG_EVFORM_SCIM);
        if (run(b, -1, cases[i].group, "k", 1795183200, &out, err,
                sizeof(err)) != 0)
            fail_msg("%s: %s", cases[i].file, err);
        check_all(out.events, cases[i].w, cases[i].n);
        assert_int_equal(out.ignored, cases[i].ignored);
        json_decref(out.events);
        json_decref(b);
    }
}

static void test_scim_needs_group(void **state)
{
    json_t *b = load("scim-add.json");
    struct tg_events_out out;
    char err[256];

    (void)state;
    assert_int_equal(run(b, -1, NULL, NULL, 0, &out, err, sizeof(err)),
                     TG_EINVAL);
    assert_non_null(strstr(err, "/v1/events/scim/Groups/"));
    json_decref(b);
}

static void test_canonical(void **state)
{
    static const struct want one[] = {
        {"prov-42-0001", "grant", "bob@example.com", "payments-db",
         "payments-read", 1, NULL, "2026-11-20T08:00:00Z"},
    };
    static const struct want batch[] = {
        {"prov-42-0002", "grant", "carol@example.com", "hr-portal",
         "hr-portal-user", 1, NULL, NULL},
        {"prov-42-0003", "revoke", "bob@example.com", "payments-db",
         "payments-read", 1, NULL, "2026-11-25T08:00:00Z"},
        /* An offset is turned to UTC. */
        {"review-sec-7", "review", "dave@example.com", NULL, NULL, 1, NULL,
         "2026-11-21T08:00:00Z"},
        {"prov-42-0004", "grant", "nobody@elsewhere.test", "payments-db",
         "payments-read", 0, "'nobody@elsewhere.test' is in no directory",
         NULL},
        {"prov-42-0005", "grant", "bob@example.com", "mainframe", "tso", 0,
         "system 'mainframe' is not in the directory", NULL},
    };
    struct tg_events_out out;
    char err[256];
    json_t *b = load("canonical-grant.json");

    (void)state;
    assert_int_equal(run(b, -1, NULL, NULL, 0, &out, err, sizeof(err)), 0);
    check_all(out.events, one, 1);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(out.events, 0), "ticket")),
                        "ACC-1042");
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(out.events, 0), "form")),
                        "canonical");
    json_decref(out.events);
    json_decref(b);

    b = load("canonical-batch.json");
    assert_int_equal(run(b, -1, NULL, NULL, 0, &out, err, sizeof(err)), 0);
    check_all(out.events, batch, 5);
    assert_int_equal(out.ignored, 0);
    json_decref(out.events);
    json_decref(b);
}

static void test_canonical_malformed(void **state)
{
    static const struct {
        const char *body, *part;
    } cases[] = {
        {"{\"type\":\"grant\",\"identity\":\"bob\",\"system\":\"s\","
         "\"entitlement\":\"e\",\"source_id\":\"x\"}",
         "time is missing"},
        {"{\"type\":\"grant\",\"time\":\"2026-11-20\",\"identity\":\"bob\","
         "\"system\":\"s\",\"entitlement\":\"e\",\"source_id\":\"x\"}",
         "time is not an RFC 3339"},
        {"{\"type\":\"granted\",\"time\":\"2026-11-20T00:00:00Z\","
         "\"identity\":\"bob\",\"system\":\"s\",\"entitlement\":\"e\","
         "\"source_id\":\"x\"}",
         "type must be"},
        {"{\"type\":\"grant\",\"time\":\"2026-11-20T00:00:00Z\","
         "\"identity\":\"bob\",\"system\":\"s\",\"entitlment\":\"e\","
         "\"source_id\":\"x\"}",
         "'entitlment' is not a member"},
        {"{\"type\":\"grant\",\"time\":\"2026-11-20T00:00:00Z\","
         "\"identity\":\"bob\",\"system\":\"s\",\"entitlement\":\"e\"}",
         "source_id is missing"},
        {"{\"type\":\"grant\",\"time\":\"2026-11-20T00:00:00Z\","
         "\"identity\":\"bob\",\"system\":\"s\",\"entitlement\":\"e\","
         "\"source_id\":\"okta:abc\"}",
         "may not start with 'okta:'"},
        {"{\"type\":\"revoke\",\"time\":\"2026-11-20T00:00:00Z\","
         "\"identity\":\"bob\",\"entitlement\":\"e\",\"source_id\":\"x\"}",
         "system is missing"},
        {"{\"type\":\"review\",\"time\":\"2026-11-20T00:00:00Z\","
         "\"identity\":\"bob\",\"source_id\":\"x\"}",
         "ticket is missing"},
        {"{\"type\":\"grant\",\"time\":\"2026-11-20T00:00:00Z\","
         "\"identity\":7,\"system\":\"s\",\"entitlement\":\"e\","
         "\"source_id\":\"x\"}",
         "identity is not a non-empty string"},
        {"{\"events\":[{\"type\":\"grant\",\"time\":\"2026-11-20T00:00:00Z\","
         "\"identity\":\"bob\",\"system\":\"s\",\"entitlement\":\"e\","
         "\"source_id\":\"x\"},3]}",
         "events[1] is not an event object"},
        {"{\"events\":[],\"extra\":1}", "and nothing else"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *b = json_loads(cases[i].body, 0, NULL);
        struct tg_events_out out;
        char err[256];
        assert_non_null(b);
        assert_int_equal(run(b, -1, NULL, NULL, 0, &out, err, sizeof(err)),
                         TG_EINVAL);
        if (!strstr(err, cases[i].part))
            fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].part);
        json_decref(b);
    }
}

/* ------------------------------------------------------ configuration */

/* Loads a configuration of text (with the fixtures' directory); returns
 * the rc and the first diagnostic in msg. */
static int load_text(const char *text, char *msg, size_t cap)
{
    char path[] = "/tmp/tg-events-XXXXXX";
    struct tg_config *c = NULL;
    struct tg_diag d;
    FILE *f;
    int fd = mkstemp(path), rc;

    assert_true(fd >= 0);
    f = fdopen(fd, "w");
    assert_non_null(f);
    fprintf(f, "directory:\n  file: %sdirectory.yaml\n%s", FIX, text);
    fclose(f);
    tg_diag_init(&d);
    rc = tg_config_load(path, &c, &d);
    snprintf(msg, cap, "%s", d.n ? d.msgs[0] : "");
    tg_diag_cleanup(&d);
    tg_config_free(c);
    unlink(path);
    return rc;
}

static void test_config(void **state)
{
    static const struct {
        const char *text;
        int rc;
        const char *part;
    } cases[] = {
        {"sources:\n  events:\n    hmac_secret: \"s3cret\"\n"
         "events:\n  mappings:\n    - {okta_group: g1, system: aws-prod, "
         "entitlement: e}\n",
         0, ""},
        {"sources:\n  events: {}\n", TG_EINVAL, "has no credential"},
        {"sources:\n  events:\n    jwt: {algorithm: HS256, secret: short, "
         "issuer: i, audience: a}\n",
         TG_EINVAL, "HS256 needs at least"},
        {"events:\n  mappings:\n    - {okta_group: g1, okta_app: a1, system: "
         "aws-prod, entitlement: e}\n",
         TG_EINVAL, "names both okta_group and okta_app"},
        {"events:\n  mappings:\n    - {system: aws-prod, entitlement: e}\n",
         TG_EINVAL, "names no foreign id"},
        {"events:\n  mappings:\n    - {okta_group: g1, system: aws-prod}\n",
         TG_EINVAL, "needs system and entitlement"},
        {"events:\n  mappings:\n    - {okta_group: g1, account: \"1\", "
         "system: aws-prod, entitlement: e}\n",
         TG_EINVAL, "account only narrows AWS mappings"},
        {"events:\n  mappings:\n    - {okta_group: g1, system: nowhere, "
         "entitlement: e}\n",
         TG_EINVAL, "'nowhere' is not a system of the directory"},
        {"events:\n  mappings:\n    - {aws_group: Admins, system: aws-prod, "
         "entitlement: e}\n    - {aws_group: admins, system: aws-prod, "
         "entitlement: f}\n",
         TG_EINVAL, "maps aws_group admins again"},
        {"events:\n  mappings:\n    - {aws_group: Admins, account: \"1\", "
         "system: aws-prod, entitlement: e}\n    - {aws_group: Admins, "
         "account: \"2\", system: aws-prod, entitlement: f}\n",
         0, ""},
        {"events:\n  mapping: []\n", TG_EINVAL, "mapping"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char msg[512];
        int rc = load_text(cases[i].text, msg, sizeof(msg));
        if (rc != cases[i].rc || !strstr(msg, cases[i].part))
            fail_msg("case %zu: rc %d (want %d), '%s' lacks '%s'", i, rc,
                     cases[i].rc, msg, cases[i].part);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detect),
        cmocka_unit_test(test_okta),
        cmocka_unit_test(test_okta_malformed),
        cmocka_unit_test(test_okta_challenge),
        cmocka_unit_test(test_cloudtrail),
        cmocka_unit_test(test_cloudtrail_eventbridge),
        cmocka_unit_test(test_cloudtrail_error_null),
        cmocka_unit_test(test_cloudtrail_partition),
        cmocka_unit_test(test_scim),
        cmocka_unit_test(test_scim_operations),
        cmocka_unit_test(test_scim_vendors),
        cmocka_unit_test(test_scim_needs_group),
        cmocka_unit_test(test_canonical),
        cmocka_unit_test(test_canonical_malformed),
        cmocka_unit_test(test_config),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
