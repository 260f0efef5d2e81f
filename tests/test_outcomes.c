/* test_outcomes.c - linking and each outcome figure on stores whose answers are known. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "server/outcomes/internal.h"
#include "server/outcomes/outcomes.h"
#include "server/outcomes/sort.h"
#include "server/store/store.h"
#include "server/util/jarena.h"
#include "tests/support/ocstore.h"

#include <sqlite3.h>

#define B 1800000000LL /* 2027-01-15T08:00:00Z */
#define H 3600LL
#define D 86400LL

static char tmpdir[] = "/tmp/tg-outcomes-XXXXXX";
static int store_no;

static void store_path(char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/s%d.db", tmpdir, ++store_no);
}

/* Closes e (flushing) and loads the store at path. */
static struct tg_oc_set *load(struct tg_evidence *e, const char *path)
{
    struct tg_oc_set *s = NULL;

    tg_evidence_close(e);
    assert_int_equal(tg_oc_load_file(path, &s), 0);
    return s;
}

static struct tg_oc_opts opts(int64_t since, int64_t until, int64_t now)
{
    return (struct tg_oc_opts){.since = since,
                               .until = until,
                               .now = now,
                               .rubber_stamp_seconds = 60,
                               .review_within_seconds = 24 * H,
                               .list_max = 100};
}

/* The number at dotted path of the report's figures. */
static double figure(const json_t *rep, const char *path)
{
    const json_t *v = json_object_get(rep, "figures");
    const char *dot = strchr(path, '.');
    char head[64];

    if (dot) {
        snprintf(head, sizeof head, "%.*s", (int)(dot - path), path);
        v = json_object_get(json_object_get(v, head), dot + 1);
    } else {
        v = json_object_get(v, path);
    }
    assert_true(json_is_number(v));
    return json_number_value(v);
}

static const char *why_of(const struct tg_oc_set *s, size_t i)
{
    static const char *const w[] = {"ok", "no_ticket", "not_allowed",
                                    "outside", "wider", "unmapped",
                                    "identity"};
    return w[s->why[i]];
}

/* alice's ticket: approved at B (raised B - 100), evaluated B + 5, ends
 * B + 10 days; scope db / prod / reader. */
static void alice_ticket(struct tg_evidence *e)
{
    char exp[32];

    tg_ocs_decision(e, &(struct tg_ocs_decision){
                           .ticket = "ACC-1",
                           .verdict = "allow",
                           .time = B + 5,
                           .created = B - 100,
                           .beneficiary = "alice@example.com",
                           .beneficiary_resolved = "u-alice",
                           .system = "db",
                           .environment = "prod",
                           .entitlement = "reader",
                           .expires = tg_ocs_time(B + 10 * D, exp),
                           .approvers = {{"dave@example.com", B}},
                       });
}

static void grant(struct tg_evidence *e, const char *id, int64_t t,
                  const char *who, const char *ent, const char *env,
                  const char *ticket)
{
    tg_ocs_event(e, &(struct tg_ocs_event){.type = "grant",
                                           .source_id = id,
                                           .time = t,
                                           .identity = who,
                                           .system = "db",
                                           .entitlement = ent,
                                           .environment = env,
                                           .ticket = ticket});
}

/* The edges of a window: start (the approval time) is in, one second
 * before is not; the last second before expires_at is in, expires_at is
 * not. Identities compare case-insensitively. */
static void test_link_window_edges(void **state)
{
    char path[256];
    struct tg_evidence *e;
    struct tg_oc_set *s;
    (void)state;

    store_path(path, sizeof path);
    e = tg_ocs_open(path);
    alice_ticket(e);
    grant(e, "g0", B - 1, "u-alice", "reader", "prod", NULL);
    grant(e, "g1", B, "U-Alice ", "reader", "prod", NULL);
    grant(e, "g2", B + 10 * D - 1, "u-alice", "reader", NULL, NULL);
    grant(e, "g3", B + 10 * D, "u-alice", "reader", "prod", NULL);
    grant(e, "g4", B + 60, "u-bob", "reader", "prod", NULL);
    s = load(e, path);
    assert_int_equal(s->ne, 5);
    assert_string_equal(why_of(s, 0), "no_ticket");
    assert_int_equal(s->link[0], 0);
    assert_string_equal(why_of(s, 1), "ok");
    assert_string_equal(tg_oc_name(s, s->link[1]), "ACC-1");
    assert_string_equal(why_of(s, 2), "ok");
    assert_string_equal(why_of(s, 3), "no_ticket");
    assert_string_equal(why_of(s, 4), "no_ticket");
    tg_oc_set_free(s);
}

/* Without an approval time the window starts at the evaluation. */
static void test_link_start_without_approval_time(void **state)
{
    char path[256];
    struct tg_evidence *e;
    struct tg_oc_set *s;
    (void)state;

    store_path(path, sizeof path);
    e = tg_ocs_open(path);
    tg_ocs_decision(e, &(struct tg_ocs_decision){
                           .ticket = "ACC-3",
                           .verdict = "annotate",
                           .time = B + 2000,
                           .created = TG_OCS_NOTIME,
                           .beneficiary = "carol",
                           .system = "db",
                           .entitlement = "reader",
                           .expires = "never",
                           .approvers = {{"dave", TG_OCS_NOTIME}},
                       });
    grant(e, "g0", B + 1999, "carol", "reader", NULL, NULL);
    grant(e, "g1", B + 2000, "carol", "reader", NULL, NULL);
    grant(e, "g2", B + 400 * D, "carol", "reader", NULL, NULL);
    s = load(e, path);
    assert_string_equal(why_of(s, 0), "no_ticket");
    assert_string_equal(why_of(s, 1), "ok");
    assert_string_equal(why_of(s, 2), "ok"); /* "never": no end */
    tg_oc_set_free(s);
}

/* A grant naming its ticket: for another identity; wider by entitlement,
 * by environment, by system; a denied ticket and an unknown one are not
 * allowing; a named ticket outside its window is unticketed. */
static void test_link_named(void **state)
{
    char path[256];
    struct tg_evidence *e;
    struct tg_oc_set *s;
    (void)state;

    store_path(path, sizeof path);
    e = tg_ocs_open(path);
    alice_ticket(e);
    tg_ocs_decision(e, &(struct tg_ocs_decision){
                           .ticket = "ACC-2",
                           .verdict = "deny",
                           .time = B,
                           .created = B - 50,
                           .beneficiary = "alice@example.com",
                           .system = "db",
                           .entitlement = "admin",
                           .expires = "2027-02-01",
                           .findings_json =
                               "[{\"code\":\"SCOPE_WILDCARD\",\"action\":"
                               "\"deny\"}]",
                       });
    grant(e, "n0", B + 60, "someone-else", "reader", "prod", "ACC-1");
    grant(e, "n1", B + 60, "u-alice", "admin", "prod", "ACC-1");
    grant(e, "n2", B + 60, "u-alice", "reader", "staging", "ACC-1");
    grant(e, "n3", B + 60, "u-alice", "admin", "prod", "ACC-2");
    grant(e, "n4", B + 60, "u-alice", "reader", "prod", "ACC-404");
    grant(e, "n5", B - 60, "u-alice", "reader", "prod", "ACC-1");
    tg_ocs_event(e, &(struct tg_ocs_event){.type = "grant",
                                           .source_id = "n6",
                                           .time = B + 60,
                                           .identity = "u-alice",
                                           .system = "warehouse",
                                           .entitlement = "reader",
                                           .ticket = "ACC-1"});
    grant(e, "n7", B + 10 * D, "u-alice", "reader", "prod", "ACC-1");
    grant(e, "n8", B, "u-alice", "reader", "prod", "ACC-1");
    s = load(e, path);
    assert_string_equal(why_of(s, 7), "outside"); /* at expires_at */
    assert_string_equal(why_of(s, 8), "ok");      /* at the approval */
    assert_string_equal(why_of(s, 0), "identity");
    assert_string_equal(why_of(s, 1), "wider");
    assert_string_equal(why_of(s, 2), "wider");
    assert_string_equal(why_of(s, 3), "not_allowed");
    assert_string_equal(why_of(s, 4), "not_allowed");
    assert_string_equal(why_of(s, 5), "outside");
    assert_string_equal(why_of(s, 6), "wider");
    tg_oc_set_free(s);
}

/* Lingering at the period's end, days overdue, then the revoke and its
 * lag; a renewal covers access granted under the expired ticket. */
static void test_lingering_and_lag(void **state)
{
    char path[256], exp[32];
    struct tg_evidence *e;
    struct tg_oc_set *s;
    struct tg_oc_opts o;
    json_t *rep, *l;
    (void)state;

    store_path(path, sizeof path);
    e = tg_ocs_open(path);
    alice_ticket(e); /* ends B + 10 d */
    grant(e, "a1", B + H, "u-alice", "reader", "prod", NULL);
    /* carol: ACC-5 ends B + 5 d, renewed by ACC-6 from B + 4 d to B + 30 d */
    tg_ocs_decision(e, &(struct tg_ocs_decision){
                           .ticket = "ACC-5", .verdict = "allow", .time = B,
                           .created = B - 10, .beneficiary = "carol",
                           .system = "db", .entitlement = "reader",
                           .expires = tg_ocs_time(B + 5 * D, exp)});
    tg_ocs_decision(e, &(struct tg_ocs_decision){
                           .ticket = "ACC-6", .verdict = "allow",
                           .time = B + 4 * D, .created = B + 4 * D - 10,
                           .beneficiary = "carol", .system = "db",
                           .entitlement = "reader",
                           .expires = tg_ocs_time(B + 30 * D, exp)});
    grant(e, "c1", B + H, "carol", "reader", NULL, NULL);
    /* alice's access is revoked 5 h after expiry */
    tg_ocs_event(e, &(struct tg_ocs_event){.type = "revoke",
                                           .source_id = "a2",
                                           .time = B + 10 * D + 5 * H,
                                           .identity = "u-alice",
                                           .system = "db",
                                           .entitlement = "reader"});
    s = load(e, path);
    assert_string_equal(tg_oc_name(s, s->link[2]), "ACC-1");

    /* As of B + 10 d + 3 h: alice lingering 3 h; carol covered. */
    o = opts(B, B + 10 * D + 3 * H, B + 40 * D);
    rep = tg_oc_report(s, &o, 1);
    assert_non_null(rep);
    assert_int_equal((int)figure(rep, "lingering"), 1);
    l = json_array_get(json_object_get(rep, "lingering"), 0);
    assert_string_equal(json_string_value(json_object_get(l, "ticket")),
                        "ACC-1");
    assert_string_equal(json_string_value(json_object_get(l, "identity")),
                        "u-alice");
    assert_true(json_real_value(json_object_get(l, "days_overdue")) > 0.124 &&
                json_real_value(json_object_get(l, "days_overdue")) < 0.126);
    assert_int_equal((int)figure(rep, "revocation_lag.count"), 0);
    assert_int_equal((int)figure(rep, "grants"), 2);
    assert_int_equal((int)figure(rep, "unticketed_grants"), 0);
    json_decref(rep);

    /* Exactly at expiry nothing lingers yet. */
    o = opts(B, B + 10 * D, B + 40 * D);
    rep = tg_oc_report(s, &o, 0);
    assert_int_equal((int)figure(rep, "lingering"), 0);
    json_decref(rep);

    /* After the revoke: nothing lingers, one lag of 5 h. */
    o = opts(B, B + 20 * D, B + 40 * D);
    rep = tg_oc_report(s, &o, 1);
    assert_int_equal((int)figure(rep, "lingering"), 0);
    assert_int_equal((int)figure(rep, "revocation_lag.count"), 1);
    assert_int_equal((int)figure(rep, "revocation_lag.median_seconds"),
                     5 * H);
    /* bucket "1 h - 1 day" */
    assert_int_equal(
        json_integer_value(json_object_get(
            json_array_get(json_object_get(json_object_get(
                               json_object_get(rep, "figures"),
                               "revocation_lag"),
                                           "buckets"),
                           2),
            "count")),
        1);
    /* carol, once ACC-6 ended too, lingers: as of B + 31 d */
    json_decref(rep);
    o = opts(B, B + 31 * D, B + 40 * D);
    rep = tg_oc_report(s, &o, 0);
    assert_int_equal((int)figure(rep, "lingering"), 1);
    json_decref(rep);
    tg_oc_set_free(s);
}

/* Unticketed and wider grants counted in the period only, with the
 * previous period alongside. */
static void test_unticketed_in_period(void **state)
{
    char path[256];
    struct tg_evidence *e;
    struct tg_oc_set *s;
    struct tg_oc_opts o;
    json_t *rep, *p;
    (void)state;

    store_path(path, sizeof path);
    e = tg_ocs_open(path);
    alice_ticket(e);
    grant(e, "p0", B - 2 * D, "u-x", "reader", NULL, NULL); /* previous */
    grant(e, "p1", B + D, "u-y", "reader", NULL, NULL);
    grant(e, "p2", B + D, "u-z", "reader", NULL, NULL);
    grant(e, "p3", B + D, "u-alice", "reader", "dev", "ACC-1");
    tg_ocs_event(e, &(struct tg_ocs_event){.type = "grant",
                                           .source_id = "p4",
                                           .time = B + D,
                                           .identity = "u-q",
                                           .unmapped = 1});
    s = load(e, path);
    o = opts(B, B + 7 * D, B + 7 * D);
    rep = tg_oc_report(s, &o, 1);
    assert_int_equal((int)figure(rep, "unticketed_grants"), 2);
    assert_int_equal((int)figure(rep, "wider_grants"), 1);
    assert_int_equal((int)figure(rep, "unmapped_events"), 1);
    assert_int_equal((int)figure(rep, "grants"), 3);
    assert_int_equal(json_array_size(json_object_get(rep, "unticketed")), 2);
    p = json_object_get(rep, "previous");
    assert_int_equal(figure(p, "unticketed_grants"), 1);
    tg_oc_set_free(s);
    json_decref(rep);
}

/* Break-glass: unreviewed, reviewed by an event, by a later decision,
 * still within its review time. */
static void test_breakglass(void **state)
{
    char path[256];
    struct tg_evidence *e;
    struct tg_oc_set *s;
    struct tg_oc_opts o;
    json_t *rep;
    const char *tk[] = {"BG-1", "BG-2", "BG-3", "BG-4", "BG-5"};
    int64_t at[] = {B, B, B, B + 10 * D - H, B + 2 * D};
    (void)state;

    store_path(path, sizeof path);
    e = tg_ocs_open(path);
    for (int i = 0; i < 5; i++)
        tg_ocs_decision(e, &(struct tg_ocs_decision){
                               .ticket = tk[i], .verdict = "allow",
                               .time = at[i], .created = at[i] - 60,
                               .beneficiary = "ops", .system = "db",
                               .entitlement = "root", .expires = "never",
                               .emergency = 1});
    /* BG-2: a review event naming it 2 h later */
    tg_ocs_event(e, &(struct tg_ocs_event){.type = "review",
                                           .source_id = "r1",
                                           .time = B + 2 * H,
                                           .identity = "sec-lead",
                                           .ticket = "BG-2"});
    /* BG-3: a later decision 1 h later */
    tg_ocs_decision(e, &(struct tg_ocs_decision){
                           .ticket = "BG-3", .verdict = "allow",
                           .time = B + H, .created = B - 60,
                           .beneficiary = "ops", .system = "db",
                           .entitlement = "root", .expires = "never",
                           .emergency = 1});
    /* BG-5: reviewed, but 25 h later: too late */
    tg_ocs_event(e, &(struct tg_ocs_event){.type = "review",
                                           .source_id = "r2",
                                           .time = B + 2 * D + 25 * H,
                                           .identity = "sec-lead",
                                           .ticket = "BG-5"});
    s = load(e, path);
    o = opts(B, B + 10 * D, B + 10 * D);
    rep = tg_oc_report(s, &o, 0);
    assert_int_equal((int)figure(rep, "breakglass.tickets"), 5);
    assert_int_equal((int)figure(rep, "breakglass.unreviewed"), 2);
    assert_int_equal((int)figure(rep, "breakglass.pending"), 1);
    assert_int_equal(
        json_array_size(json_object_get(rep, "breakglass_unreviewed")), 2);
    json_decref(rep);
    tg_oc_set_free(s);
}

/* Approver signals: seconds from request to approval, the share under
 * the rubber-stamp time, volume per approver, the top approver's share. */
static void test_approvers(void **state)
{
    char path[256], id[16];
    struct tg_evidence *e;
    struct tg_oc_set *s;
    struct tg_oc_opts o;
    json_t *rep, *row;
    int64_t secs[] = {10, 20, 600};
    (void)state;

    store_path(path, sizeof path);
    e = tg_ocs_open(path);
    for (int i = 0; i < 3; i++) {
        snprintf(id, sizeof id, "AP-%d", i);
        tg_ocs_decision(e, &(struct tg_ocs_decision){
                               .ticket = id,
                               .verdict = i == 2 ? "deny" : "allow",
                               .time = B + secs[i] + 1,
                               .created = B,
                               .beneficiary = "x",
                               .system = "db",
                               .entitlement = "reader",
                               .expires = "2027-03-01",
                               .approvers = {{"Dave", B + secs[i]}}});
    }
    tg_ocs_decision(e, &(struct tg_ocs_decision){
                           .ticket = "AP-9", .verdict = "allow",
                           .time = B + H + 1, .created = B,
                           .beneficiary = "x", .system = "db",
                           .entitlement = "reader", .expires = "2027-03-01",
                           .approvers = {{"erin", B + H}}});
    /* AP-0 decided again: counted once */
    tg_ocs_decision(e, &(struct tg_ocs_decision){
                           .ticket = "AP-0", .verdict = "allow",
                           .time = B + 100, .created = B,
                           .beneficiary = "x", .system = "db",
                           .entitlement = "reader", .expires = "2027-03-01",
                           .approvers = {{"dave", B + 10}}});
    s = load(e, path);
    o = opts(B, B + 2 * D, B + 2 * D);
    rep = tg_oc_report(s, &o, 0);
    assert_int_equal((int)figure(rep, "approvals.count"), 4);
    assert_int_equal((int)figure(rep, "approvals.approvers"), 2);
    assert_int_equal((int)figure(rep, "approvals.median_seconds"), 20);
    assert_true(figure(rep, "approvals.rubber_stamp_share") == 0.5);
    assert_true(figure(rep, "approvals.top_share") == 0.75);
    row = json_array_get(json_object_get(rep, "approvers"), 0);
    assert_string_equal(json_string_value(json_object_get(row, "approver")),
                        "dave");
    assert_int_equal(json_integer_value(json_object_get(row, "approvals")), 3);
    assert_true(json_real_value(json_object_get(row, "per_day")) == 1.5);
    assert_true(json_real_value(json_object_get(row, "denied_share")) >
                    0.333 &&
                json_real_value(json_object_get(row, "denied_share")) < 0.334);
    json_decref(rep);
    tg_oc_set_free(s);
}

/* Copy-forward and exception rates; denies by reason in day buckets. */
static void test_rates_and_denies(void **state)
{
    char path[256];
    struct tg_evidence *e;
    struct tg_oc_set *s;
    struct tg_oc_opts o;
    json_t *rep, *d, *b1;
    static const char cf[] =
        "[{\"code\":\"JUSTIFICATION_COPY_FORWARD\",\"action\":\"warn\"}]";
    static const char ex[] =
        "[{\"code\":\"OWNER_UNKNOWN\",\"action\":\"warn\",\"exception\":"
        "{\"id\":\"EX-1\",\"until\":\"2027-06-30\"}}]";
    static const char den[] =
        "[{\"code\":\"OWNER_MISSING\",\"action\":\"deny\"},"
        "{\"code\":\"EXPIRY_TOO_LONG\",\"action\":\"deny\"},"
        "{\"code\":\"JUSTIFICATION_COPY_FORWARD\",\"action\":\"warn\"}]";
    (void)state;

    store_path(path, sizeof path);
    e = tg_ocs_open(path);
    struct tg_ocs_decision base = {.ticket = "R-1", .verdict = "annotate",
                                   .time = B + H, .created = B,
                                   .beneficiary = "x", .system = "db",
                                   .entitlement = "reader",
                                   .expires = "2027-03-01"};
    base.findings_json = cf;
    tg_ocs_decision(e, &base);
    base.ticket = "R-2";
    base.findings_json = ex;
    tg_ocs_decision(e, &base);
    base.ticket = "R-3";
    base.verdict = "deny";
    base.findings_json = den;
    base.time = B + D + H;
    tg_ocs_decision(e, &base);
    base.ticket = "R-4";
    base.findings_json = "[{\"code\":\"OWNER_MISSING\",\"action\":\"deny\"}]";
    tg_ocs_decision(e, &base);
    s = load(e, path);
    o = opts(B, B + 4 * D, B + 4 * D);
    rep = tg_oc_report(s, &o, 0);
    assert_int_equal((int)figure(rep, "decisions"), 4);
    assert_true(figure(rep, "copy_forward_rate") == 0.5);
    assert_true(figure(rep, "exception_rate") == 0.25);
    assert_true(figure(rep, "deny_rate") == 0.5);
    d = json_object_get(rep, "denies");
    assert_int_equal(json_integer_value(json_object_get(d, "bucket_seconds")),
                     86400);
    assert_int_equal(json_array_size(json_object_get(d, "buckets")), 4);
    b1 = json_object_get(json_array_get(json_object_get(d, "buckets"), 1),
                         "counts");
    assert_int_equal(json_integer_value(json_object_get(b1, "OWNER_MISSING")),
                     2);
    assert_int_equal(
        json_integer_value(json_object_get(b1, "EXPIRY_TOO_LONG")), 1);
    assert_null(json_object_get(b1, "JUSTIFICATION_COPY_FORWARD"));
    json_decref(rep);
    tg_oc_set_free(s);
}

/* The work list: allowed, ended before due_before, no revoke linked. */
static void test_expirations(void **state)
{
    char path[256], exp[32];
    struct tg_evidence *e;
    struct tg_oc_set *s;
    json_t *w, *x;
    (void)state;

    store_path(path, sizeof path);
    e = tg_ocs_open(path);
    alice_ticket(e); /* ACC-1 ends B + 10 d, revoked below */
    tg_ocs_decision(e, &(struct tg_ocs_decision){
                           .ticket = "ACC-7", .verdict = "allow", .time = B,
                           .created = B - 1, .beneficiary = "erin",
                           .system = "db", .entitlement = "writer",
                           .expires = tg_ocs_time(B + 3 * D, exp)});
    tg_ocs_decision(e, &(struct tg_ocs_decision){
                           .ticket = "ACC-8", .verdict = "allow", .time = B,
                           .created = B - 1, .beneficiary = "frank",
                           .system = "db", .entitlement = "writer",
                           .expires = tg_ocs_time(B + 2 * D, exp)});
    tg_ocs_decision(e, &(struct tg_ocs_decision){
                           .ticket = "ACC-9", .verdict = "deny", .time = B,
                           .created = B - 1, .beneficiary = "gina",
                           .system = "db", .entitlement = "writer",
                           .expires = tg_ocs_time(B + D, exp)});
    grant(e, "w1", B + 60, "erin", "writer", NULL, NULL);
    tg_ocs_event(e, &(struct tg_ocs_event){.type = "revoke",
                                           .source_id = "w2",
                                           .time = B + 11 * D,
                                           .identity = "u-alice",
                                           .system = "db",
                                           .entitlement = "reader",
                                           .ticket = "ACC-1"});
    s = load(e, path);
    w = tg_oc_expirations(s, B + 20 * D, B + 4 * D, 0);
    assert_non_null(w);
    assert_int_equal(json_integer_value(json_object_get(w, "count")), 2);
    x = json_array_get(json_object_get(w, "expirations"), 0);
    assert_string_equal(json_string_value(json_object_get(x, "ticket")),
                        "ACC-8");
    assert_true(json_is_false(json_object_get(x, "grant_seen")));
    assert_true(json_real_value(json_object_get(x, "days_overdue")) == 2.0);
    x = json_array_get(json_object_get(w, "expirations"), 1);
    assert_string_equal(json_string_value(json_object_get(x, "ticket")),
                        "ACC-7");
    assert_true(json_is_true(json_object_get(x, "grant_seen")));
    json_decref(w);
    /* due_before at the expiry itself: not yet due */
    w = tg_oc_expirations(s, B + 2 * D, B, 0);
    assert_int_equal(json_integer_value(json_object_get(w, "count")), 0);
    json_decref(w);
    tg_oc_set_free(s);
}

/* The metric totals agree with the report. */
static void test_totals(void **state)
{
    char path[256];
    struct tg_evidence *e;
    struct tg_oc_set *s;
    static const double bounds[] = {0, 3600, 86400};
    uint64_t counts[4];
    long ling, unt;
    double sum;
    (void)state;

    store_path(path, sizeof path);
    e = tg_ocs_open(path);
    alice_ticket(e);
    grant(e, "t1", B + H, "u-alice", "reader", NULL, NULL);
    grant(e, "t2", B + H, "u-nobody", "reader", NULL, NULL);
    s = load(e, path);
    tg_oc_totals(s, B + 12 * D, &ling, &unt, bounds, 3, counts, &sum);
    assert_int_equal(ling, 1);
    assert_int_equal(unt, 1);
    assert_int_equal(counts[0] + counts[1] + counts[2] + counts[3], 0);
    tg_oc_set_free(s);
}

/* The stored documents as jansson reads them: escaped strings decoded,
 * long names cut at a character boundary, exceptions on a finding or the
 * decision (an empty list is none), mapped false only when false; a
 * document that is no JSON object, or a finding that is no object, is
 * counted unreadable and skipped. */
static void test_documents_read(void **state)
{
    char doc[700], longname[400];
    struct tg_oc_set *s = tg_oc_set_new();
    struct tg_evidence_row r = {.kind = "decision", .key = "d-1",
                                .ticket = "J-1", .time = B};
    size_t n;
    (void)state;

    assert_non_null(s);
    /* 254 'a', then a two-byte character across the 255-byte cut */
    memset(longname, 'a', 254);
    memcpy(longname + 254, "\\u00e9", 6);
    longname[260] = '\0';
    snprintf(doc, sizeof doc,
             "{\"findings\":[{\"code\":\"EXPIRY\\u005fTOO_LONG\","
             "\"action\":\"deny\",\"exception\":{\"id\":\"EXC-1\"}},"
             "{\"code\":\"JUSTIFICATION_COPY_FORWARD\",\"action\":\"warn\"}],"
             "\"exceptions\":[],\"decision\":\"d\\u0065ny\"}");
    r.json = doc;
    r.json_len = strlen(doc);
    r.judged = "{\"identities\":{\"beneficiary\":{\"given\":\"x\","
               "\"resolved\":\"Caf\\u00e9 \\\"Q\\\"\"}},"
               "\"ticket\":{\"scope\":{\"system\":\"d\\/b\"}}}";
    r.judged_len = strlen(r.judged);
    assert_int_equal(tg_oc_add_row(s, &r), 0);
    assert_int_equal(s->nd, 1);
    assert_int_equal(s->d[0].verdict, TG_OC_DENY);
    assert_true(s->d[0].flags & TG_OC_EXCEPTION);
    assert_true(s->d[0].flags & TG_OC_COPY_FORWARD);
    assert_true(s->d[0].flags & TG_OC_JUDGED);
    assert_int_equal(s->n_codes, 1);
    assert_string_equal(s->codes[0], "EXPIRY_TOO_LONG");
    assert_int_equal(s->d[0].deny_codes, 1);
    assert_string_equal(tg_oc_name(s, s->d[0].beneficiary),
                        "caf\xc3\xa9 \"q\"");
    assert_string_equal(tg_oc_name(s, s->d[0].system), "d/b");

    /* A decision-level exception that names one. */
    r.ticket = "J-2";
    r.json = "{\"decision\":\"allow\",\"exception\":{\"id\":\"EXC-2\"}}";
    r.json_len = strlen(r.json);
    r.judged = NULL;
    r.judged_len = 0;
    assert_int_equal(tg_oc_add_row(s, &r), 0);
    assert_int_equal(s->nd, 2);
    assert_true(s->d[1].flags & TG_OC_EXCEPTION);
    assert_false(s->d[1].flags & TG_OC_JUDGED);

    /* Unreadable: not an object, a finding not an object, cut short,
     * a judged ticket cut short. */
    r.json = "[\"decision\",\"allow\"]";
    r.json_len = strlen(r.json);
    assert_int_equal(tg_oc_add_row(s, &r), 0);
    r.json = "{\"decision\":\"deny\",\"findings\":[\"EXPIRY_PAST\"]}";
    r.json_len = strlen(r.json);
    assert_int_equal(tg_oc_add_row(s, &r), 0);
    r.json = "{\"decision\":\"allow\",\"findings\":[]";
    r.json_len = strlen(r.json);
    assert_int_equal(tg_oc_add_row(s, &r), 0);
    r.json = "{\"decision\":\"allow\"}";
    r.json_len = strlen(r.json);
    r.judged = "{\"ticket\":{\"scope\":";
    r.judged_len = strlen(r.judged);
    assert_int_equal(tg_oc_add_row(s, &r), 0);
    assert_int_equal(s->nd, 2);
    assert_int_equal(s->unreadable, 4);

    /* Events: the identity cut at 255 bytes, back to a whole character;
     * mapped false; an escaped type; one that is no object. */
    snprintf(doc, sizeof doc,
             "{\"type\":\"gr\\u0061nt\",\"identity\":\"%s\",\"system\":\"db\","
             "\"mapped\":false}",
             longname);
    r = (struct tg_evidence_row){.kind = "event", .key = "e-1", .time = B,
                                 .json = doc, .json_len = strlen(doc)};
    assert_int_equal(tg_oc_add_row(s, &r), 0);
    r.key = "e-2";
    r.json = "{\"type\":\"revoke\",\"identity\":\"u1\",\"mapped\":null}";
    r.json_len = strlen(r.json);
    assert_int_equal(tg_oc_add_row(s, &r), 0);
    r.json = "{\"type\":\"revoke\"";
    r.json_len = strlen(r.json);
    assert_int_equal(tg_oc_add_row(s, &r), 0);
    assert_int_equal(s->ne, 2);
    assert_int_equal(s->unreadable, 5);
    assert_int_equal(s->ev[0].type, TG_OC_GRANT);
    assert_int_equal(s->ev[0].mapped, 0);
    n = strlen(tg_oc_name(s, s->ev[0].identity));
    assert_int_equal(n, 254); /* the 'é' did not fit whole */
    assert_int_equal(s->ev[1].type, TG_OC_REVOKE);
    assert_int_equal(s->ev[1].mapped, 1);
    assert_string_equal(tg_oc_source_id(s, &s->ev[1]), "e-2");
    tg_oc_set_free(s);
}

/* Rows added one by one (the pure path): a judged ticket without an
 * identities block keeps the ticket's own beneficiary; a row that is not
 * JSON is counted and skipped; other kinds are ignored. */
static void test_add_row(void **state)
{
    static const char doc[] = "{\"decision\":\"allow\",\"findings\":[]}";
    static const char judged[] =
        "{\"ticket\":{\"beneficiary\":{\"id\":\" Zed \",\"type\":"
        "\"human\"},\"scope\":{\"system\":\"db\",\"entitlement\":\"r\"},"
        "\"expires_at\":\"2027-01-31\",\"emergency\":true}}";
    struct tg_oc_set *s = tg_oc_set_new();
    struct tg_evidence_row r = {.kind = "decision", .key = "d-1",
                                .ticket = "Z-1", .time = B,
                                .json = doc, .json_len = sizeof doc - 1,
                                .judged = judged,
                                .judged_len = sizeof judged - 1};
    (void)state;

    assert_non_null(s);
    assert_int_equal(tg_oc_add_row(s, &r), 0);
    /* no beneficiary: the requester (identities first, else the ticket's) */
    r.ticket = "Z-2";
    r.judged = "{\"ticket\":{\"requester\":\"Yan\"},\"identities\":"
               "{\"requester\":{\"given\":\"Yan\",\"resolved\":\"u-yan\"}}}";
    r.judged_len = strlen(r.judged);
    assert_int_equal(tg_oc_add_row(s, &r), 0);
    r.ticket = "Z-3";
    r.judged = "{\"ticket\":{\"requester\":\"Yan\"}}";
    r.judged_len = strlen(r.judged);
    assert_int_equal(tg_oc_add_row(s, &r), 0);
    r.json = "{\"decision\": [";
    r.json_len = strlen(r.json);
    assert_int_equal(tg_oc_add_row(s, &r), 0);
    r.kind = "policy";
    assert_int_equal(tg_oc_add_row(s, &r), 0);
    assert_int_equal(s->nd, 3);
    assert_int_equal(s->unreadable, 1);
    assert_string_equal(tg_oc_name(s, s->d[1].beneficiary), "u-yan");
    assert_string_equal(tg_oc_name(s, s->d[2].beneficiary), "yan");
    assert_string_equal(tg_oc_name(s, s->d[0].beneficiary), "zed");
    assert_string_equal(tg_oc_name(s, s->d[0].system), "db");
    assert_true(s->d[0].flags & TG_OC_EMERGENCY);
    /* a date: the last second of that day */
    assert_int_equal(s->d[0].expires, 1801439999LL);
    tg_oc_set_free(s);
}

/* A decision row with a facts document is read from the facts alone
 * (they win where they and the documents differ: here the system, the
 * verdict and a finding's code); a row whose facts do not read is read
 * from its decision document and judged ticket; a row with facts but no
 * judged ticket takes only the decision's members from them. */
static void test_facts_read(void **state)
{
    static const char doc[] = "{\"decision\":\"allow\",\"findings\":[]}";
    static const char judged[] =
        "{\"ticket\":{\"beneficiary\":\"amy\",\"scope\":{\"system\":\"db\","
        "\"entitlement\":\"r\"},\"expires_at\":\"2027-01-31\"},"
        "\"identities\":{\"approvers\":[{\"given\":\"Bo\",\"resolved\":"
        "\"u-bo\",\"at\":\"2027-01-15T08:00:00Z\"}]}}";
    static const char facts[] =
        "{\"recorded\":{\"decision\":\"deny\",\"findings\":[{\"code\":"
        "\"OWNER_MISSING\",\"action\":\"deny\"}]},\"ticket\":{\"beneficiary\":{\"id\":\"Amy\"},"
        "\"scope\":{\"system\":\"fx\",\"entitlement\":\"r\"},"
        "\"expires_at\":\"2027-01-31\"},\"identities\":{\"approvers\":"
        "[{\"given\":\"Bo\",\"resolved\":\"u-bo\","
        "\"at\":\"2027-01-15T08:00:00Z\"}]}}";
    struct tg_oc_set *s = tg_oc_set_new();
    struct tg_evidence_row r = {.kind = "decision", .key = "d-1",
                                .ticket = "F-1", .time = B,
                                .json = doc, .json_len = sizeof doc - 1,
                                .judged = judged,
                                .judged_len = sizeof judged - 1,
                                .facts = facts,
                                .facts_len = sizeof facts - 1};
    (void)state;

    assert_non_null(s);
    assert_int_equal(tg_oc_add_row(s, &r), 0);
    r.ticket = "F-2";
    r.facts = "{\"recorded\":{\"decision\":\"deny\",\"findings\":[";
    /* cut short */
    r.facts_len = strlen(r.facts);
    assert_int_equal(tg_oc_add_row(s, &r), 0);
    r.ticket = "F-3";
    r.facts = facts;
    r.facts_len = sizeof facts - 1;
    r.judged = NULL;
    r.judged_len = 0;
    assert_int_equal(tg_oc_add_row(s, &r), 0);
    assert_int_equal(s->nd, 3);
    assert_int_equal(s->unreadable, 0);
    assert_int_equal(s->d[0].verdict, TG_OC_DENY);
    assert_string_equal(tg_oc_name(s, s->d[0].system), "fx");
    assert_string_equal(tg_oc_name(s, s->d[0].beneficiary), "amy");
    assert_int_equal(s->d[0].n_approvals, 1);
    assert_true(s->d[0].deny_codes != 0);
    assert_string_equal(s->codes[0], "OWNER_MISSING");
    assert_int_equal(s->d[1].verdict, TG_OC_ALLOW);
    assert_string_equal(tg_oc_name(s, s->d[1].system), "db");
    assert_int_equal(s->d[1].deny_codes, 0);
    assert_int_equal(s->d[2].verdict, TG_OC_DENY);
    assert_int_equal(s->d[2].system, 0);
    assert_false(s->d[2].flags & TG_OC_JUDGED);
    assert_true(s->d[0].flags & TG_OC_JUDGED);
    tg_oc_set_free(s);
}

/* A store of 120 decisions (a fifth denied, with codes) and their grants
 * and revokes, at path. */
static void mixed_store(const char *path)
{
    static const char *const codes[] = {"OWNER_MISSING", "EXPIRY_TOO_LONG",
                                        "SCOPE_WILDCARD", "SOD_SELF_APPROVAL"};
    char exp[32], id[32], sid[32], f[128];
    struct tg_evidence *e = tg_ocs_open(path);

    for (int i = 0; i < 120; i++) {
        char who[16], rwho[32];
        snprintf(id, sizeof id, "M-%d", i);
        snprintf(who, sizeof who, "user%d", i % 17);
        snprintf(rwho, sizeof rwho, "User%d@Example.com", i % 17);
        snprintf(f, sizeof f, "[{\"code\":\"%s\",\"action\":\"deny\"}]",
                 codes[(i / 7) % 4]);
        tg_ocs_decision(e, &(struct tg_ocs_decision){
                               .ticket = id,
                               .verdict = i % 5 == 0 ? "deny" : "allow",
                               .findings_json = i % 5 == 0 ? f : NULL,
                               .time = B + i * H, .created = B + i * H - 30 * i,
                               .beneficiary = who, .system = "db",
                               /* resolved (the identity's "given" then
                                * not read), or named by no identity (the
                                * ticket's own beneficiary read) */
                               .beneficiary_resolved = i % 3 == 1 ? rwho
                                                                  : NULL,
                               .beneficiary_given = i % 7 == 3 ? " \t" : NULL,
                               .entitlement = i % 3 ? "reader" : "writer",
                               .expires = tg_ocs_time(B + i * H + 5 * D, exp),
                               .emergency = i % 11 == 0,
                               .approvers = {{i % 4 ? "dave" : "erin",
                                              B + i * H - 10 * i}}});
        snprintf(sid, sizeof sid, "g-%d", i);
        grant(e, sid, B + i * H + 60, who, i % 3 ? "reader" : "writer", NULL,
              i % 2 ? id : NULL);
        if (i % 4) {
            snprintf(sid, sizeof sid, "r-%d", i);
            tg_ocs_event(e, &(struct tg_ocs_event){
                                .type = "revoke", .source_id = sid,
                                .time = B + i * H + 5 * D + i * 600,
                                .identity = who, .system = "db",
                                .entitlement = i % 3 ? "reader" : "writer"});
        }
    }
    tg_evidence_close(e);
}

/* Rows spread over many small batches and both parser threads make the
 * same set, in the same order, as one batch: the same report, work list
 * and event order (deny codes first seen by either parser included). */
static void test_batched_load_same(void **state)
{
    char path[256];
    struct tg_oc_set *one, *many;
    struct tg_oc_opts o = opts(B, B + 40 * D, B + 40 * D);
    json_t *r1, *r2;
    (void)state;

    store_path(path, sizeof path);
    mixed_store(path);
    assert_int_equal(tg_oc_load_file(path, &one), 0);
    assert_int_equal(tg_oc_load_file_batched(path, 600, &many), 0);
    assert_int_equal(one->nd, 120);
    assert_int_equal(many->nd, one->nd);
    assert_int_equal(many->ne, one->ne);
    for (size_t i = 0; i < one->ne; i++)
        assert_string_equal(tg_oc_source_id(many, &many->ev[i]),
                            tg_oc_source_id(one, &one->ev[i]));
    r1 = tg_oc_report(one, &o, 1);
    r2 = tg_oc_report(many, &o, 1);
    assert_non_null(r1);
    assert_true(json_equal(r1, r2));
    assert_true(json_array_size(json_object_get(
                    json_object_get(r1, "denies"), "codes")) == 4);
    json_decref(r1);
    json_decref(r2);
    r1 = tg_oc_expirations(one, B + 40 * D, B + 40 * D, 0);
    r2 = tg_oc_expirations(many, B + 40 * D, B + 40 * D, 0);
    assert_true(json_equal(r1, r2));
    json_decref(r1);
    json_decref(r2);
    tg_oc_set_free(one);
    tg_oc_set_free(many);
}

/* The report's denies by reason come out in one order, the same text
 * whichever code a set met first (the parser threads meet them in any
 * order): codes, and each bucket's counts, most frequent first, then by
 * name. */
static void test_denies_order(void **state)
{
    static const char *const docs[] = {
        "{\"decision\":\"deny\",\"findings\":[{\"code\":\"SCOPE_WILDCARD\","
        "\"action\":\"deny\"}]}",
        "{\"decision\":\"deny\",\"findings\":[{\"code\":\"OWNER_MISSING\","
        "\"action\":\"deny\"}]}",
    };
    struct tg_oc_set *set[2] = {tg_oc_set_new(), tg_oc_set_new()};
    struct tg_oc_opts o = opts(B - D, B + D, B + D);
    char *text[2];
    (void)state;

    for (int k = 0; k < 2; k++) {
        assert_non_null(set[k]);
        for (int i = 0; i < 2; i++) {
            const char *doc = docs[(i + k) % 2];
            struct tg_evidence_row r = {.kind = "decision", .key = "d",
                                        .ticket = i ? "T-2" : "T-1",
                                        .time = B + i, .json = doc,
                                        .json_len = strlen(doc)};
            assert_int_equal(tg_oc_add_row(set[k], &r), 0);
        }
        json_t *rep = tg_oc_report(set[k], &o, 1);
        assert_non_null(rep);
        text[k] = json_dumps(json_object_get(rep, "denies"), JSON_COMPACT);
        assert_non_null(text[k]);
        json_decref(rep);
    }
    assert_string_equal(set[0]->codes[0], "SCOPE_WILDCARD");
    assert_string_equal(set[1]->codes[0], "OWNER_MISSING");
    assert_string_equal(text[0], text[1]);
    assert_non_null(strstr(text[0], "{\"OWNER_MISSING\":1,\"SCOPE_WILDCARD\":1}"));
    for (int k = 0; k < 2; k++) {
        free(text[k]);
        tg_oc_set_free(set[k]);
    }
}

/* Decisions recorded with facts make the same report and work list as the
 * same store with the facts NULLed (read from the decision documents and
 * judged tickets), through the batched load of both parser threads. */
static void test_facts_same_report(void **state)
{
    char path[256], bare[300], sql[400];
    struct tg_oc_set *a, *b;
    struct tg_oc_opts o = opts(B, B + 40 * D, B + 40 * D);
    json_t *r1, *r2;
    (void)state;

    store_path(path, sizeof path);
    mixed_store(path);
    snprintf(bare, sizeof bare, "%s.bare", path);
    snprintf(sql, sizeof sql, "VACUUM INTO '%s'", bare);
    tg_ocs_sql(path, sql, NULL);
    assert_int_equal(
        tg_ocs_sql(path, "SELECT count(*) FROM records WHERE facts IS NOT NULL",
                   NULL),
        120);
    assert_int_equal(
        tg_ocs_sql(bare,
                   "UPDATE records SET facts = NULL WHERE facts IS NOT NULL",
                   NULL),
        120);
    assert_int_equal(tg_oc_load_file_batched(path, 600, &a), 0);
    assert_int_equal(tg_oc_load_file_batched(bare, 600, &b), 0);
    assert_int_equal(a->nd, 120);
    assert_int_equal(b->nd, a->nd);
    assert_int_equal(b->unreadable, 0);
    assert_int_equal(a->unreadable, 0);
    r1 = tg_oc_report(a, &o, 1);
    r2 = tg_oc_report(b, &o, 1);
    assert_non_null(r1);
    assert_true(json_equal(r1, r2));
    json_decref(r1);
    json_decref(r2);
    r1 = tg_oc_expirations(a, B + 40 * D, B + 40 * D, 0);
    r2 = tg_oc_expirations(b, B + 40 * D, B + 40 * D, 0);
    assert_true(json_equal(r1, r2));
    json_decref(r1);
    json_decref(r2);
    tg_oc_set_free(a);
    tg_oc_set_free(b);
}

/* The store at path read twice: *with_facts as it is, *bare from a copy
 * whose facts are NULLed (read from the full documents). */
static void load_both(const char *path, struct tg_oc_set **with_facts,
                      struct tg_oc_set **bare)
{
    char copy[300], sql[400];

    snprintf(copy, sizeof copy, "%s.bare", path);
    snprintf(sql, sizeof sql, "VACUUM INTO '%s'", copy);
    tg_ocs_sql(path, sql, NULL);
    tg_ocs_sql(copy, "UPDATE records SET facts = NULL", NULL);
    assert_int_equal(tg_oc_load_file(path, with_facts), 0);
    assert_int_equal(tg_oc_load_file(copy, bare), 0);
}

/* A resolved name whose first 255 bytes are blanks names no one for the
 * report (it reads a name's first 255 bytes): the ticket's own beneficiary
 * is then read, from the facts as from the full documents. */
static void test_facts_blank_prefix(void **state)
{
    char path[256], res[300];
    struct tg_evidence *e;
    struct tg_oc_set *a, *b;
    (void)state;

    memset(res, ' ', 255);
    memcpy(res + 255, "x", 2);
    store_path(path, sizeof path);
    e = tg_ocs_open(path);
    tg_ocs_decision(e, &(struct tg_ocs_decision){
                           .ticket = "P-1", .verdict = "allow", .time = B,
                           .created = B, .beneficiary = "alice",
                           .beneficiary_resolved = res, .system = "db",
                           .entitlement = "reader"});
    tg_evidence_close(e);
    load_both(path, &a, &b);
    assert_string_equal(tg_oc_name(b, b->d[0].beneficiary), "alice");
    assert_string_equal(tg_oc_name(a, a->d[0].beneficiary), "alice");
    tg_oc_set_free(a);
    tg_oc_set_free(b);
}

/* The report's fallbacks read the same from the facts as from the full
 * documents: an unresolved approver's given name, the ticket's own
 * beneficiary when the identity names no one, and the ticket's own
 * requester when neither the beneficiary nor the requester identity
 * names anyone. */
static void test_facts_fallbacks(void **state)
{
    char path[256];
    struct tg_evidence *e;
    struct tg_oc_set *s[2];
    static const char *const want[] = {"alice", "bob", "carol"};
    (void)state;

    store_path(path, sizeof path);
    e = tg_ocs_open(path);
    /* 0: resolved beneficiary; one approver unresolved, one resolved */
    tg_ocs_decision(e, &(struct tg_ocs_decision){
                           .ticket = "F-0", .verdict = "allow", .time = B,
                           .created = B, .beneficiary = "alice",
                           .beneficiary_resolved = "alice", .system = "db",
                           .entitlement = "reader",
                           .approvers = {{"dave", B, 1}, {"erin", B, 0}}});
    /* 1: the beneficiary identity names no one: the ticket's "bob" */
    tg_ocs_decision(e, &(struct tg_ocs_decision){
                           .ticket = "F-1", .verdict = "allow", .time = B + 1,
                           .created = B, .beneficiary = "bob",
                           .beneficiary_given = " ", .system = "db",
                           .entitlement = "reader"});
    /* 2: no one named at all but the ticket's requester "carol" */
    tg_ocs_decision(e, &(struct tg_ocs_decision){
                           .ticket = "F-2", .verdict = "allow", .time = B + 2,
                           .created = B, .beneficiary = "",
                           .beneficiary_given = "\t", .requester_given = " ",
                           .ticket_requester = "carol", .system = "db",
                           .entitlement = "reader"});
    tg_evidence_close(e);
    load_both(path, &s[0], &s[1]);
    for (int k = 0; k < 2; k++) {
        struct tg_oc_set *x = s[k];
        const struct tg_oc_decision *d0 = &x->d[0];

        assert_int_equal(x->nd, 3);
        assert_int_equal(x->unreadable, 0);
        for (int i = 0; i < 3; i++)
            assert_string_equal(tg_oc_name(x, x->d[i].beneficiary), want[i]);
        assert_int_equal(d0->n_approvals, 2);
        assert_string_equal(tg_oc_name(x, x->ap[d0->approvals].who), "dave");
        assert_string_equal(tg_oc_name(x, x->ap[d0->approvals + 1].who),
                            "erin");
    }
    tg_oc_set_free(s[0]);
    tg_oc_set_free(s[1]);
}

/* What tg_evidence_scan_file_facts handed out, by ticket (event: "ev"). */
struct scanned {
    char ticket[8][16];
    int json[8], judged[8], judged_len[8], facts[8];
    int n;
};

static int on_scanned(void *ctx, const struct tg_evidence_row *r)
{
    struct scanned *c = ctx;

    assert_true(c->n < 8);
    snprintf(c->ticket[c->n], sizeof c->ticket[0], "%s",
             r->ticket ? r->ticket : "ev");
    c->json[c->n] = r->json != NULL;
    c->judged[c->n] = r->judged != NULL;
    c->judged_len[c->n] = (int)r->judged_len;
    c->facts[c->n] = r->facts != NULL;
    c->n++;
    return 0;
}

/* The report's scan selects no document of a row that has facts (only
 * whether it has a judged ticket), rows without facts whole; a row whose
 * facts do not read is then unreadable, one without a judged ticket is
 * not judged. */
static void test_scan_facts(void **state)
{
    static const char *const tickets[] = {"S-1", "S-2", "S-3", "S-4"};
    char path[256];
    struct tg_evidence *e;
    struct tg_oc_set *s = NULL;
    struct scanned c = {.n = 0};
    (void)state;

    store_path(path, sizeof path);
    e = tg_ocs_open(path);
    for (int i = 0; i < 4; i++)
        tg_ocs_decision(e, &(struct tg_ocs_decision){
                               .ticket = tickets[i],
                               .verdict = "allow",
                               .time = B + i,
                               .created = B - 100,
                               .beneficiary = "amy",
                               .system = "db",
                               .entitlement = "reader",
                               .expires = "never",
                               .approvers = {{"bo", B}},
                           });
    grant(e, "g-s", B + 10, "amy", "reader", NULL, NULL);
    tg_evidence_close(e);
    /* S-2: no facts (before v3); S-3: facts cut short; S-4: no judged. */
    assert_int_equal(tg_ocs_sql(path, "UPDATE records SET facts = NULL"
                                      " WHERE ticket = ?1", "S-2"), 1);
    assert_int_equal(tg_ocs_sql(path, "UPDATE records SET facts ="
                                      " '{\"recorded\":{' WHERE ticket = ?1",
                                "S-3"), 1);
    assert_int_equal(tg_ocs_sql(path, "UPDATE records SET judged = NULL"
                                      " WHERE ticket = ?1", "S-4"), 1);
    assert_int_equal(tg_evidence_scan_file_facts(path, INT64_MIN, INT64_MAX,
                                                 on_scanned, &c), 0);
    assert_int_equal(c.n, 5);
    for (int i = 0; i < 5; i++) {
        int whole = strcmp(c.ticket[i], "S-2") == 0 ||
                    strcmp(c.ticket[i], "ev") == 0;
        assert_int_equal(c.json[i], whole);
        assert_int_equal(c.facts[i], !whole);
        if (strcmp(c.ticket[i], "S-4") == 0)
            assert_false(c.judged[i]);
        else if (strcmp(c.ticket[i], "ev") != 0)
            assert_true(c.judged[i] && (c.judged_len[i] > 0) == whole);
    }
    assert_int_equal(tg_oc_load_file(path, &s), 0);
    assert_int_equal(s->nd, 3);
    assert_int_equal(s->unreadable, 1);
    for (size_t i = 0; i < s->nd; i++) {
        const char *t = tg_oc_name(s, s->d[i].ticket);
        assert_true(strcmp(t, "S-3") != 0);
        assert_int_equal(!!(s->d[i].flags & TG_OC_JUDGED),
                         strcmp(t, "S-4") != 0);
        assert_string_equal(tg_oc_name(s, s->d[i].system),
                            strcmp(t, "S-4") ? "db" : "");
    }
    tg_oc_set_free(s);
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[300];
    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

struct keyed {
    unsigned key, at; /* at: its place before sorting */
};

static int keyed_less(const struct keyed *x, const struct keyed *y)
{
    return x->key < y->key;
}

TG_OC_SORT(sort_keyed, struct keyed, keyed_less)

/* The outcomes' sort (link.c, figures.c) is stable, as glibc's qsort is
 * for these arrays: equal keys keep their order, so the report is the
 * same text as with qsort. Sizes around the insertion runs and merges. */
static void test_sort_stable(void **state)
{
    static const size_t sizes[] = {0, 1, 2, 15, 16, 17, 31, 32, 33, 100,
                                   1000, 4099};
    unsigned seed = 12345;
    (void)state;

    for (size_t c = 0; c < sizeof sizes / sizeof sizes[0]; c++) {
        size_t n = sizes[c];
        struct keyed *v = malloc((n ? n : 1) * sizeof *v);

        assert_non_null(v);
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            /* few keys: many ties; descending runs too */
            v[i].key = c % 2 ? (seed >> 16) % 7 : (unsigned)(n - i) / 3;
            v[i].at = (unsigned)i;
        }
        assert_int_equal(sort_keyed(v, n), 0);
        for (size_t i = 1; i < n; i++) {
            assert_true(v[i - 1].key <= v[i].key);
            if (v[i - 1].key == v[i].key)
                assert_true(v[i - 1].at < v[i].at);
        }
        for (size_t i = 0; i < n; i++) { /* a permutation */
            size_t seen = 0;
            for (size_t j = 0; j < n && n <= 1000; j++)
                seen += v[j].at == i;
            assert_true(n > 1000 || seen == 1);
        }
        free(v);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_documents_read),
        cmocka_unit_test(test_add_row),
        cmocka_unit_test(test_facts_read),
        cmocka_unit_test(test_link_window_edges),
        cmocka_unit_test(test_link_start_without_approval_time),
        cmocka_unit_test(test_link_named),
        cmocka_unit_test(test_lingering_and_lag),
        cmocka_unit_test(test_unticketed_in_period),
        cmocka_unit_test(test_breakglass),
        cmocka_unit_test(test_approvers),
        cmocka_unit_test(test_rates_and_denies),
        cmocka_unit_test(test_expirations),
        cmocka_unit_test(test_totals),
        cmocka_unit_test(test_batched_load_same),
        cmocka_unit_test(test_facts_same_report),
        cmocka_unit_test(test_facts_blank_prefix),
        cmocka_unit_test(test_facts_fallbacks),
        cmocka_unit_test(test_denies_order),
        cmocka_unit_test(test_sort_stable),
        cmocka_unit_test(test_scan_facts),
    };
    /* As main.c does: the parser threads' arenas are then whole, and
     * their rows' values are dropped at the rewind, not released (the
     * sanitizer build poisons what is rewound). */
    tg_jarena_install();
    return cmocka_run_group_tests(tests, setup, teardown);
}
