/* needs: ticketgate */
/* test_outbox.c - the act-back outbox (store/outbox.c): actions in their
 * record's transaction, claim/lease/settle into the chain, the offline
 * commands, and GET /v1/actions and the metrics through the real server. */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <sqlite3.h>

#include "server/cli/cli.h"
#include "server/config/config.h"
#include "server/store/store.h"
#include "tests/support/cmdrun.h"
#include "tests/support/ocstore.h"
#include "tests/support/tg_test.h"
#include "validators/errors.h"

#define EXAMPLE TG_SOURCE_DIR "/example/"

static char tmpdir[256];
static int store_no;

static int group_setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/tg-outbox-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
    char cmd[300];
    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void new_path(char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%s/store%d.db", tmpdir, ++store_no);
    assert_true(n > 0 && (size_t)n < cap);
}


static const char ACTIONS3[] =
    "[{\"system\":\"jira\",\"action\":\"comment\",\"params\":{\"text\":"
    "\"blocked\",\"marker\":\"m\"}},"
    "{\"system\":\"jira\",\"action\":\"transition\",\"params\":{\"to\":"
    "\"Waiting for approval\",\"from_status\":\"Approved\"}},"
    "{\"system\":\"jira\",\"action\":\"label\",\"params\":{\"label\":\"x\"}}]";

/* Appends decision id of ticket (delivery may be NULL) with actions (may
 * be NULL). */
static int append(struct tg_evidence *e, const char *id, const char *ticket,
                  const char *delivery, const char *actions)
{
    char doc[256];
    struct tg_evidence_record r;

    snprintf(doc, sizeof doc, "{\"decision\":\"deny\",\"decision_id\":\"%s\"}",
             id);
    memset(&r, 0, sizeof r);
    r.decision_id = id;
    r.ticket = ticket;
    r.source = "jira";
    r.delivery_id = delivery;
    r.policy_digest = "sha256:0";
    r.time = 1700000000;
    r.decision_json = doc;
    r.decision_len = strlen(doc);
    r.actions_json = actions;
    return tg_evidence_append(e, &r);
}

static json_t *list(struct tg_evidence *e, const char *ticket)
{
    json_t *out = NULL;

    assert_int_equal(tg_outbox_list(e, ticket, &out), 0);
    assert_true(json_is_array(json_object_get(out, "actions")));
    return out;
}

static json_t *nth(json_t *doc, size_t i)
{
    json_t *a = json_array_get(json_object_get(doc, "actions"), i);
    assert_non_null(a);
    return a;
}

static const char *sget(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static json_int_t iget(const json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ----------------------------------------------------- with the record */

static void test_actions_with_record(void **state)
{
    char path[300];
    struct tg_evidence *e;
    json_t *doc;
    long pending = -1;
    int64_t oldest = -1, t0 = now_ms();
    (void)state;

    new_path(path, sizeof path);
    e = tg_ocs_open(path);
    assert_int_equal(append(e, "d-1", "ACC-1", "dl-1", ACTIONS3), 0);
    assert_int_equal(append(e, "d-2", "ACC-2", NULL, NULL), 0);
    doc = list(e, "ACC-1");
    assert_int_equal(json_array_size(json_object_get(doc, "actions")), 3);
    assert_string_equal(sget(nth(doc, 0), "action"), "comment");
    assert_string_equal(sget(nth(doc, 1), "action"), "transition");
    assert_string_equal(sget(nth(doc, 2), "action"), "label");
    for (size_t i = 0; i < 3; i++) {
        json_t *a = nth(doc, i);
        assert_string_equal(sget(a, "decision_id"), "d-1");
        assert_string_equal(sget(a, "ticket"), "ACC-1");
        assert_string_equal(sget(a, "system"), "jira");
        assert_string_equal(sget(a, "state"), "pending");
        assert_int_equal(iget(a, "attempts"), 0);
        assert_true(json_is_null(json_object_get(a, "last_error")));
        assert_true(iget(a, "created_at") >= t0 - 1000);
        assert_true(iget(a, "next_at") == iget(a, "created_at"));
    }
    assert_string_equal(
        sget(json_object_get(nth(doc, 1), "params"), "from_status"),
        "Approved");
    json_decref(doc);

    /* a retried delivery makes no record, so no second set of actions */
    assert_int_equal(append(e, "d-3", "ACC-1", "dl-1", ACTIONS3),
                     TG_ECONFLICT);
    /* nor does a decision id recorded already */
    assert_int_not_equal(append(e, "d-1", "ACC-1", NULL, ACTIONS3), 0);
    doc = list(e, "ACC-1");
    assert_int_equal(json_array_size(json_object_get(doc, "actions")), 3);
    json_decref(doc);
    /* a record without actions queues none */
    doc = list(e, "ACC-2");
    assert_int_equal(json_array_size(json_object_get(doc, "actions")), 0);
    json_decref(doc);
    /* every ticket */
    doc = list(e, NULL);
    assert_int_equal(json_array_size(json_object_get(doc, "actions")), 3);
    json_decref(doc);
    /* an empty array queues nothing */
    assert_int_equal(append(e, "d-4", "ACC-4", NULL, "[]"), 0);
    doc = list(e, "ACC-4");
    assert_int_equal(json_array_size(json_object_get(doc, "actions")), 0);
    json_decref(doc);

    assert_int_equal(tg_outbox_stats(e, &pending, &oldest), 0);
    assert_int_equal(pending, 3);
    assert_true(oldest >= t0 - 1000 && oldest <= now_ms());
    tg_evidence_close(e);
}

/* The batch that writes a record fails while inserting its actions: the
 * record is not there either, and the store goes on. */
static void test_failed_batch_leaves_neither(void **state)
{
    char path[300], *got = NULL;
    struct tg_evidence *e;
    sqlite3 *db = NULL;
    json_t *doc;
    (void)state;

    new_path(path, sizeof path);
    e = tg_ocs_open(path);
    assert_int_equal(append(e, "d-1", "ACC-1", NULL, NULL), 0);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db,
                     "CREATE TRIGGER no_actions BEFORE INSERT ON outbox"
                     " BEGIN SELECT RAISE(ABORT, 'refused'); END;",
                     NULL, NULL, NULL),
        SQLITE_OK);
    assert_int_equal(append(e, "d-2", "ACC-2", NULL, ACTIONS3), TG_EIO);
    assert_int_equal(tg_evidence_get(e, "d-2", &got), TG_ENOTFOUND);
    doc = list(e, "ACC-2");
    assert_int_equal(json_array_size(json_object_get(doc, "actions")), 0);
    json_decref(doc);
    /* malformed actions are refused before the batch: no record either */
    assert_int_equal(append(e, "d-3", "ACC-3", NULL, "{\"not\":1}"),
                     TG_EINVAL);
    assert_int_equal(append(e, "d-3", "ACC-3", NULL,
                            "[{\"system\":\"jira\",\"action\":\"erase\","
                            "\"params\":{}}]"),
                     TG_EINVAL);
    assert_int_equal(append(e, "d-3", "ACC-3", NULL, "not json"), TG_EINVAL);
    assert_int_equal(tg_evidence_get(e, "d-3", &got), TG_ENOTFOUND);
    assert_int_equal(
        sqlite3_exec(db, "DROP TRIGGER no_actions", NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(append(e, "d-2", "ACC-2", NULL, ACTIONS3), 0);
    assert_int_equal(tg_evidence_get(e, "d-2", &got), 0);
    free(got);
    doc = list(e, "ACC-2");
    assert_int_equal(json_array_size(json_object_get(doc, "actions")), 3);
    json_decref(doc);
    tg_evidence_close(e);
    {
        struct tg_evidence_verdict v;
        assert_int_equal(tg_evidence_verify_file(path, NULL, 0, &v), 0);
        assert_true(v.intact);
    }
}

/* --------------------------------------------------- claim and settle */

static json_t *claim(struct tg_evidence *e, int64_t now, int max,
                     size_t want)
{
    json_t *out = NULL;

    assert_int_equal(tg_outbox_claim(e, now, max, 1000, &out), 0);
    if (json_array_size(out) != want)
        fail_msg("claimed %zu, want %zu", json_array_size(out), want);
    return out;
}

static json_t *find(struct tg_evidence *e, json_int_t id)
{
    json_t *doc = list(e, NULL), *a, *copy = NULL;
    size_t i;

    json_array_foreach(json_object_get(doc, "actions"), i, a) if (
        iget(a, "id") == id) copy = json_deep_copy(a);
    json_decref(doc);
    assert_non_null(copy);
    return copy;
}

static void expect_state(struct tg_evidence *e, json_int_t id,
                         const char *state, json_int_t attempts,
                         const char *error)
{
    json_t *a = find(e, id);

    if (strcmp(sget(a, "state"), state) != 0)
        fail_msg("action %lld: %s, want %s", (long long)id, sget(a, "state"),
                 state);
    assert_int_equal(iget(a, "attempts"), attempts);
    if (error)
        assert_string_equal(sget(a, "last_error"), error);
    else
        assert_true(json_is_null(json_object_get(a, "last_error")));
    json_decref(a);
}

static void test_claim_lease_settle(void **state)
{
    char path[300], key[64], *entry = NULL;
    struct tg_evidence *e;
    json_t *c, *ent;
    json_int_t id1, id2, id3;
    int64_t now = now_ms() + 1000;
    long pending;
    int64_t oldest;
    (void)state;

    new_path(path, sizeof path);
    e = tg_ocs_open(path);
    assert_int_equal(append(e, "d-1", "ACC-1", NULL, ACTIONS3), 0);

    /* oldest first, at most max, leased */
    c = claim(e, now, 2, 2);
    id1 = iget(json_array_get(c, 0), "id");
    id2 = iget(json_array_get(c, 1), "id");
    assert_true(id1 < id2);
    assert_string_equal(sget(json_array_get(c, 0), "state"), "inflight");
    assert_int_equal(iget(json_array_get(c, 0), "attempts"), 1);
    assert_int_equal(iget(json_array_get(c, 0), "next_at"), now + 1000);
    assert_string_equal(sget(json_array_get(c, 0), "action"), "comment");
    assert_string_equal(
        sget(json_object_get(json_array_get(c, 0), "params"), "text"),
        "blocked");
    json_decref(c);
    c = claim(e, now, 10, 1);
    id3 = iget(json_array_get(c, 0), "id");
    json_decref(c);
    json_decref(claim(e, now, 10, 0)); /* all leased */
    expect_state(e, id1, "inflight", 1, NULL);
    /* not yet due: nothing */
    json_decref(claim(e, now - 5000, 10, 0));

    /* the lease runs out (a crash mid-send): due again, attempt 2 */
    c = claim(e, now + 1000, 10, 3);
    assert_int_equal(iget(json_array_get(c, 0), "attempts"), 2);
    json_decref(c);

    /* delivered: the row and the chain entry of the attempt */
    assert_int_equal(tg_outbox_settle(e, id1, "delivered", 0, NULL), 0);
    expect_state(e, id1, "delivered", 2, NULL);
    snprintf(key, sizeof key, "%lld:2", (long long)id1);
    assert_int_equal(tg_evidence_get_entry(e, "action", key, &entry), 0);
    ent = json_loads(entry, 0, NULL);
    assert_non_null(ent);
    assert_string_equal(sget(ent, "outcome"), "delivered");
    assert_string_equal(sget(ent, "decision_id"), "d-1");
    assert_string_equal(sget(ent, "ticket"), "ACC-1");
    assert_string_equal(sget(ent, "action"), "comment");
    assert_int_equal(iget(ent, "attempt"), 2);
    assert_int_equal(iget(ent, "action_id"), id1);
    json_decref(ent);
    free(entry);
    /* the first attempt ran out its lease: it settled nothing */
    snprintf(key, sizeof key, "%lld:1", (long long)id1);
    assert_int_equal(tg_evidence_get_entry(e, "action", key, &entry),
                     TG_ENOTFOUND);

    /* dead at once (401): kept, with why */
    assert_int_equal(tg_outbox_settle(e, id3, "dead", 0, "HTTP 401"), 0);
    expect_state(e, id3, "dead", 2, "HTTP 401");

    /* a retry waits for its time */
    assert_int_equal(
        tg_outbox_settle(e, id2, "retry", now + 5000, "HTTP 500"), 0);
    expect_state(e, id2, "pending", 2, "HTTP 500");
    json_decref(claim(e, now + 4999, 10, 0));
    c = claim(e, now + 5000, 10, 1);
    assert_int_equal(iget(json_array_get(c, 0), "id"), id2);
    assert_int_equal(iget(json_array_get(c, 0), "attempts"), 3);
    assert_string_equal(sget(json_array_get(c, 0), "last_error"), "HTTP 500");
    json_decref(c);
    snprintf(key, sizeof key, "%lld:2", (long long)id2);
    assert_int_equal(tg_evidence_get_entry(e, "action", key, &entry), 0);
    ent = json_loads(entry, 0, NULL);
    assert_string_equal(sget(ent, "outcome"), "retry");
    assert_string_equal(sget(ent, "error"), "HTTP 500");
    assert_int_equal(iget(ent, "next_at"), now + 5000);
    json_decref(ent);
    free(entry);

    assert_int_equal(tg_outbox_stats(e, &pending, &oldest), 0);
    assert_int_equal(pending, 1); /* id2 in flight; the others settled */

    /* a settle repeated for the same attempt changes nothing */
    assert_int_equal(tg_outbox_settle(e, id1, "dead", 0, "late"), 0);
    expect_state(e, id1, "delivered", 2, NULL);
    /* errors */
    assert_int_equal(tg_outbox_settle(e, 999999, "delivered", 0, NULL),
                     TG_ENOTFOUND);
    assert_int_equal(tg_outbox_settle(e, id2, "sent", 0, NULL), TG_EINVAL);
    assert_int_equal(tg_outbox_claim(e, now, 0, 1000, &c), TG_EINVAL);
    {
        /* a long error is cut, on a character boundary */
        char big[2000];
        json_t *a;

        memset(big, 'x', sizeof big - 1);
        big[sizeof big - 1] = '\0';
        memcpy(big + 511, "\xc3\xa9", 2); /* across the 512-byte cut */
        assert_int_equal(tg_outbox_settle(e, id2, "retry", now, big), 0);
        a = find(e, id2);
        assert_int_equal(strlen(sget(a, "last_error")), 511);
        json_decref(a);
    }
    tg_evidence_close(e);
    {
        struct tg_evidence_verdict v;
        assert_int_equal(tg_evidence_verify_file(path, NULL, 0, &v), 0);
        assert_true(v.intact);
    }
}

/* ------------------------------------------------------------ offline */

static void test_offline(void **state)
{
    char path[300];
    struct tg_evidence *e;
    json_t *c, *doc;
    json_int_t id1, id2, id3;
    int64_t now;
    (void)state;

    new_path(path, sizeof path);
    e = tg_ocs_open(path);
    assert_int_equal(append(e, "d-1", "ACC-1", NULL, ACTIONS3), 0);
    now = now_ms() + 1000; /* after the actions were queued */
    c = claim(e, now, 10, 3);
    id1 = iget(json_array_get(c, 0), "id");
    id2 = iget(json_array_get(c, 1), "id");
    id3 = iget(json_array_get(c, 2), "id");
    json_decref(c);
    assert_int_equal(tg_outbox_settle(e, id1, "delivered", 0, NULL), 0);
    assert_int_equal(tg_outbox_settle(e, id2, "retry", now + 60000, "5xx"),
                     0);
    assert_int_equal(tg_outbox_settle(e, id3, "dead", 0, "HTTP 401"), 0);
    /* while the store is open (a running server's file) */
    assert_int_equal(tg_outbox_list_file(path, "ACC-1", &doc), 0);
    assert_int_equal(json_array_size(json_object_get(doc, "actions")), 3);
    json_decref(doc);

    assert_int_equal(tg_outbox_retry_file(path, id3), 0);
    expect_state(e, id3, "pending", 0, "HTTP 401");
    /* due now: claimed at once */
    c = claim(e, now_ms(), 10, 1);
    assert_int_equal(iget(json_array_get(c, 0), "id"), id3);
    json_decref(c);
    assert_int_equal(tg_outbox_retry_file(path, id1), TG_EINVAL);
    assert_int_equal(tg_outbox_drop_file(path, id1), TG_EINVAL);
    assert_int_equal(tg_outbox_drop_file(path, id2), 0);
    expect_state(e, id2, "dropped", 1, "5xx");
    assert_int_equal(tg_outbox_drop_file(path, id2), TG_EINVAL);
    /* a dropped action is never claimed, even when due */
    json_decref(claim(e, now + 120000, 10, 1)); /* id3's lease ran out */
    assert_int_equal(tg_outbox_retry_file(path, id2), 0);
    expect_state(e, id2, "pending", 0, "5xx");
    assert_int_equal(tg_outbox_retry_file(path, 424242), TG_ENOTFOUND);
    assert_int_equal(tg_outbox_drop_file(path, 424242), TG_ENOTFOUND);
    tg_evidence_close(e);

    /* a SQLite file without the table (a store made before): empty */
    {
        char other[300];
        sqlite3 *db = NULL;

        new_path(other, sizeof other);
        assert_int_equal(sqlite3_open(other, &db), SQLITE_OK);
        assert_int_equal(
            sqlite3_exec(db, "CREATE TABLE t(x)", NULL, NULL, NULL),
            SQLITE_OK);
        sqlite3_close(db);
        assert_int_equal(tg_outbox_list_file(other, NULL, &doc), 0);
        assert_int_equal(json_array_size(json_object_get(doc, "actions")), 0);
        json_decref(doc);
        assert_int_equal(tg_outbox_retry_file(other, 1), TG_ENOTFOUND);
    }
    /* no file: an error, and none is created */
    {
        char none[300];

        snprintf(none, sizeof none, "%s/absent.db", tmpdir);
        assert_int_equal(tg_outbox_list_file(none, NULL, &doc), TG_EIO);
        assert_int_not_equal(access(none, F_OK), 0);
    }
}

/* ---------------------------------------------------------------- CLI */

/* tg_cmd_outbox("outbox", args...) with stdout and stderr captured. */
static struct tg_test_run outbox(const char *const *args)
{
    return tg_test_run_cmd(tg_cmd_outbox, "outbox", args);
}

static void expect_run(const char *const *args, int rc, const char *in_out,
                       const char *in_err)
{
    struct tg_test_run r = outbox(args);

    if (r.rc != rc || (in_out && !strstr(r.out, in_out)) ||
        (in_err && !strstr(r.err, in_err)))
        fail_msg("outbox %s %s: rc %d (want %d)\nstdout: %s\nstderr: %s",
                 args[0] ? args[0] : "", args[0] && args[1] ? args[1] : "",
                 r.rc, rc, r.out, r.err);
    tg_test_run_free(&r);
}

static void test_cli(void **state)
{
    struct tg_server s;
    struct tg_config *c = NULL;
    struct tg_evidence *e = NULL;
    struct tg_diag d;
    struct tg_test_run r;
    const char *cfg;
    char id[32];
    json_t *cl;
    (void)state;

    assert_int_equal(tg_test_server_prepare(&s), 0);
    cfg = s.config;
    tg_diag_init(&d);
    assert_int_equal(tg_config_load(cfg, &c, &d), 0);
    tg_diag_cleanup(&d);
    assert_int_equal(tg_evidence_open(c, &e), 0);
    assert_int_equal(append(e, "d-1", "ACC-7", NULL, ACTIONS3), 0);
    assert_int_equal(append(e, "d-2", "ACC-8", NULL, ACTIONS3), 0);
    cl = claim(e, now_ms(), 1, 1);
    snprintf(id, sizeof id, "%lld", (long long)iget(json_array_get(cl, 0),
                                                     "id"));
    json_decref(cl);
    assert_int_equal(tg_outbox_settle(e, atoll(id), "dead", 0,
                                      "HTTP 401\nUnauthorized"),
                     0);
    tg_evidence_close(e);
    tg_config_free(c);

    {
        const char *a[] = {"list", "-c", cfg, NULL};
        r = outbox(a);
        assert_int_equal(r.rc, 0);
        assert_non_null(strstr(r.out, "ID"));
        assert_non_null(strstr(r.out, "LAST ERROR"));
        assert_non_null(strstr(r.out, "dead"));
        assert_non_null(strstr(r.out, "HTTP 401?Unauthorized")); /* no \n */
        assert_non_null(strstr(r.out, "ACC-8"));
        /* a header and six actions */
        {
            int n = 0;
            for (const char *p = r.out; (p = strchr(p, '\n')); p++)
                n++;
            assert_int_equal(n, 7);
        }
        tg_test_run_free(&r);
    }
    {
        const char *a[] = {"list", "-c", cfg, "--ticket", "ACC-8", "--json",
                           NULL};
        json_t *line;
        r = outbox(a);
        assert_int_equal(r.rc, 0);
        assert_null(strstr(r.out, "ACC-7"));
        line = json_loadb(r.out, strcspn(r.out, "\n"), 0, NULL);
        assert_non_null(line);
        assert_string_equal(sget(line, "ticket"), "ACC-8");
        assert_string_equal(sget(line, "state"), "pending");
        json_decref(line);
        tg_test_run_free(&r);
    }
    {
        const char *a[] = {"retry", id, "-c", cfg, NULL};
        expect_run(a, 0, "is due now", NULL);
    }
    {
        const char *a[] = {"retry", id, "-c", cfg, NULL};
        expect_run(a, 0, "is due now", NULL); /* pending: due now again */
    }
    {
        const char *a[] = {"drop", id, "-c", cfg, NULL};
        expect_run(a, 0, "is dropped", NULL);
    }
    {
        const char *a[] = {"drop", id, "-c", cfg, NULL};
        expect_run(a, 1, NULL, "cannot be dropped");
    }
    {
        const char *a[] = {"retry", "999", "-c", cfg, NULL};
        expect_run(a, 1, NULL, "no action 999");
    }
    {
        const char *a[] = {"retry", "x1", "-c", cfg, NULL};
        expect_run(a, 2, NULL, "not an action id");
    }
    {
        const char *a[] = {"retry", "-c", cfg, NULL};
        expect_run(a, 2, NULL, "ID is missing");
    }
    {
        const char *a[] = {"list", NULL};
        expect_run(a, 2, NULL, "-c FILE is required");
    }
    {
        const char *a[] = {"purge", "-c", cfg, NULL};
        expect_run(a, 2, NULL, "unknown action");
    }
    {
        const char *a[] = {"drop", "1", "-c", cfg, "--json", NULL};
        expect_run(a, 2, NULL, "apply to list only");
    }
    tg_test_server_cleanup(&s);
}

/* ------------------------------------------------ through the server */

static const char *const ctype = "Content-Type: application/json";

/* The example's Cloud webhook, due in 3 days, approved by its requester
 * (a deny), as text. */
static char *deny_body(void)
{
    json_error_t err;
    json_t *b = json_load_file(EXAMPLE "payloads/jira-cloud-webhook.json", 0,
                               &err);
    json_t *fields, *ap, *first;
    char when[64];
    time_t t = time(NULL) + 3 * 86400;
    struct tm tm;
    char *s;

    assert_non_null(b);
    fields = json_object_get(json_object_get(b, "issue"), "fields");
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S.000+0000", &tm);
    json_object_set_new(fields, "customfield_10052", json_string(when));
    ap = json_array_get(json_object_get(fields, "customfield_10027"), 0);
    first = json_array_get(json_object_get(ap, "approvers"), 0);
    json_object_set_new(json_object_get(first, "approver"), "accountId",
                        json_string("5b10a2844c20165700ede21g"));
    s = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    assert_non_null(s);
    return s;
}

static json_t *get_actions(struct tg_server *s, const char *query,
                           const char *auth, long status)
{
    const char *h[] = {auth, NULL};
    struct tg_resp r;
    char path[200];
    json_t *doc;

    snprintf(path, sizeof path, "/v1/actions%s", query);
    assert_int_equal(tg_test_http(s, "GET", path, auth ? h : NULL, NULL, 0, 0,
                                  &r),
                     0);
    if (r.status != status) {
        tg_test_server_dump_log(s);
        fail_msg("GET %s: %ld, want %ld: %s", path, r.status, status, r.body);
    }
    doc = json_loadb(r.body, r.body_len, 0, NULL);
    assert_non_null(doc);
    tg_test_resp_free(&r);
    return doc;
}

/* A server with Jira's act-back pointed at a port nothing listens on
 * (1): the actions stay queued, retried an hour later. */
static void start_unreachable(struct tg_server *s)
{
    setenv("TG_T_OUTBOX_TOKEN", "outbox-token", 1);
    assert_int_equal(tg_test_server_prepare(s), 0);
    assert_int_equal(
        tg_test_config_replace(
            s, "    access_issue_types:",
            "    act_back:\n"
            "      base_url: http://127.0.0.1:1\n"
            "      auth: { email: bot@acme.com, api_token: "
            "\"${TG_T_OUTBOX_TOKEN}\" }\n"
            "      on_deny: { comment: true, transition_to: \"Waiting for "
            "approval\", label: access-governance-denied }\n"
            "      retry_base_ms: 3600000\n"
            "      retry_max_ms: 3600000\n"
            "    access_issue_types:"),
        0);
    assert_int_equal(tg_test_server_start(s), 0);
}

/* Posts body (deny_body) under delivery id `delivery` `times` times; the
 * decision id (the same each time) into decision. */
static void post_deny(struct tg_server *s, const char *body,
                      const char *delivery, int times, char *decision,
                      size_t cap)
{
    char sig[120], hex[65], idh[120];
    struct tg_resp r;
    json_t *d;

    tg_test_hmac_sha256_hex(TG_TEST_JIRA_SECRET, strlen(TG_TEST_JIRA_SECRET),
                            body, strlen(body), hex);
    snprintf(sig, sizeof sig, "X-Hub-Signature: sha256=%s", hex);
    snprintf(idh, sizeof idh, "X-Atlassian-Webhook-Identifier: %s", delivery);
    {
        const char *h[] = {ctype, sig, idh, NULL};
        for (int round = 0; round < times; round++) {
            assert_int_equal(tg_test_http(s, "POST", "/v1/webhooks/jira", h,
                                          body, strlen(body), 0, &r),
                             0);
            assert_int_equal(r.status, 200);
            d = json_loadb(r.body, r.body_len, 0, NULL);
            assert_string_equal(sget(d, "decision"), "deny");
            /* a retried delivery answers the same decision */
            if (round == 0)
                snprintf(decision, cap, "%s", sget(d, "decision_id"));
            else
                assert_string_equal(sget(d, "decision_id"), decision);
            json_decref(d);
            tg_test_resp_free(&r);
        }
    }
}

static void test_server_actions(void **state)
{
    struct tg_server s;
    char *tok, *auth, decision[64], *body = deny_body();
    json_t *doc;
    size_t n, i;
    long live = 0;
    (void)state;

    start_unreachable(&s);
    post_deny(&s, body, "ob-1", 2, decision, sizeof decision);
    free(body);

    tok = tg_test_generic_token(NULL);
    auth = tg_test_bearer_header(tok);
    doc = get_actions(&s, "?ticket=ACC-4410", auth, 200);
    n = json_array_size(json_object_get(doc, "actions"));
    assert_int_equal(n, 3); /* one set, though delivered twice */
    assert_string_equal(sget(nth(doc, 0), "action"), "comment");
    assert_string_equal(sget(nth(doc, 1), "action"), "transition");
    assert_string_equal(sget(nth(doc, 2), "action"), "label");
    for (i = 0; i < n; i++) {
        const char *st = sget(nth(doc, i), "state");
        assert_string_equal(sget(nth(doc, i), "decision_id"), decision);
        assert_true(json_is_integer(json_object_get(nth(doc, i), "attempts")));
        assert_true(json_object_get(nth(doc, i), "last_error") != NULL);
        live += strcmp(st, "pending") == 0 || strcmp(st, "inflight") == 0;
    }
    assert_non_null(strstr(
        sget(json_object_get(nth(doc, 0), "params"), "text"), decision));
    json_decref(doc);

    /* the metrics read the outbox at the scrape */
    assert_true(tg_test_metric(&s, "ticketgate_outbox_pending") ==
                (double)live);
    assert_true(tg_test_metric(&s, "ticketgate_outbox_oldest_seconds") >= 0);

    /* another ticket: none */
    doc = get_actions(&s, "?ticket=ACC-9999", auth, 200);
    assert_int_equal(json_array_size(json_object_get(doc, "actions")), 0);
    json_decref(doc);
    /* the decision reads' rules */
    doc = get_actions(&s, "", auth, 400);
    assert_string_equal(sget(doc, "error"), "bad_request");
    json_decref(doc);
    doc = get_actions(&s, "?ticket=A%00B", auth, 400);
    json_decref(doc);
    doc = get_actions(&s, "?ticket=ACC-4410", NULL, 401);
    assert_string_equal(sget(doc, "error"), "unauthenticated");
    json_decref(doc);

    free(auth);
    free(tok);
    assert_int_equal(tg_test_server_stop(&s), 0);
    tg_test_server_cleanup(&s);
}

/* An acknowledged deny keeps its actions across kill -9: they were
 * committed with its record, before the answer. */
static void test_kill9_keeps_actions(void **state)
{
    struct tg_server s;
    struct tg_config *c = NULL;
    struct tg_diag dg;
    char decision[64], *tok, *auth, *body = deny_body();
    json_t *doc;
    (void)state;

    start_unreachable(&s);
    post_deny(&s, body, "ob-k9", 1, decision, sizeof decision);
    assert_int_equal(tg_test_server_signal(&s, SIGKILL), 0);
    waitpid(s.pid, NULL, 0);
    s.pid = 0;

    tg_diag_init(&dg);
    assert_int_equal(tg_config_load(s.config, &c, &dg), 0);
    tg_diag_cleanup(&dg);
    assert_int_equal(tg_outbox_list_file(c->store.path, "ACC-4410", &doc), 0);
    assert_int_equal(json_array_size(json_object_get(doc, "actions")), 3);
    for (size_t i = 0; i < 3; i++)
        assert_string_equal(sget(nth(doc, i), "decision_id"), decision);
    json_decref(doc);
    tg_config_free(c);

    /* after the restart: the same three, still to be delivered, and the
     * delivery retried once more still queues nothing new */
    assert_int_equal(tg_test_server_start(&s), 0);
    {
        char again[64];
        post_deny(&s, body, "ob-k9", 1, again, sizeof again);
        assert_string_equal(again, decision);
    }
    free(body);
    tok = tg_test_generic_token(NULL);
    auth = tg_test_bearer_header(tok);
    doc = get_actions(&s, "?ticket=ACC-4410", auth, 200);
    assert_int_equal(json_array_size(json_object_get(doc, "actions")), 3);
    for (size_t i = 0; i < 3; i++) {
        const char *st = sget(nth(doc, i), "state");
        assert_true(strcmp(st, "pending") == 0 || strcmp(st, "inflight") == 0);
    }
    json_decref(doc);
    free(auth);
    free(tok);
    assert_int_equal(tg_test_server_stop(&s), 0);
    tg_test_server_cleanup(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_actions_with_record),
        cmocka_unit_test(test_failed_batch_leaves_neither),
        cmocka_unit_test(test_claim_lease_settle),
        cmocka_unit_test(test_offline),
        cmocka_unit_test(test_cli),
        cmocka_unit_test(test_server_actions),
        cmocka_unit_test(test_kill9_keeps_actions),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
