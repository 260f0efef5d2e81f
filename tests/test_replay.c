/* test_replay.c - `ticketgate replay`: a store's decisions under a candidate. */
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
#include <sqlite3.h>

#include "server/cli/cli.h"
#include "server/config/config.h"
#include "server/core/decide.h"
#include "server/core/justnorm.h"
#include "server/store/store.h"
#include "server/util/jarena.h"
#include "tests/support/cmdrun.h"
#include "tests/support/ocstore.h"
#include "tests/support/tg_test.h"
#include "validators/errors.h"
#include "validators/timeparse.h"

/* The decisions were made long ago: replay must judge each at its own
 * time, or every one of them would have expired since (EXPIRY_PAST). */
#define T0 "2025-06-01T00:00:00Z"
#define DAY 86400
#define N_TICKETS 12

/* Runs tg_cmd_replay("replay", args...) with stdout and stderr captured. */
static struct tg_test_run replay(const char *const *args)
{
    char *argv[20];
    int argc = 0;

    argv[argc++] = (char *)"replay";
    for (; args[argc - 1] && argc < 19; argc++)
        argv[argc] = (char *)args[argc - 1];
    argv[argc] = NULL;
    return tg_test_capture(tg_cmd_replay, argc, argv);
}

/* The example ticket with privilege write (max_days 90 in the example)
 * lasting `days` from its creation at t; with the example's justification
 * when shared, else one of its own. */
static json_t *ticket(int i, int64_t t, int days, int shared)
{
    char created[32], expires[32], id[32];
    json_error_t e;
    json_t *v;
    char *text = tg_test_read_file(TG_SOURCE_DIR
                                   "/example/payloads/canonical-ticket.json",
                                   NULL);

    assert_non_null(text);
    v = json_loads(text, 0, &e);
    free(text);
    assert_non_null(v);
    assert_int_equal(tg_time_format(t, created, sizeof created), 0);
    assert_int_equal(tg_time_format(t + (int64_t)days * DAY, expires,
                                    sizeof expires),
                     0);
    snprintf(id, sizeof id, "ACC-%d", 100 + i);
    json_object_set_new(v, "id", json_string(id));
    json_object_set_new(v, "created_at", json_string(created));
    json_object_set_new(v, "expires_at", json_string(expires));
    json_object_set_new(json_object_get(v, "scope"), "privilege",
                        json_string("write"));
    if (!shared) {
        char just[512];
        snprintf(just, sizeof just, "%s Batch %d of the migration.",
                 json_string_value(json_object_get(v, "justification")), i);
        json_object_set_new(v, "justification", json_string(just));
    }
    return v;
}

/* What the server's copy_forward hook does (http/handlers.c): the store's
 * count, and the normalised justification recorded with the decision. */
struct cf {
    struct tg_evidence *e;
    const struct tg_config *c;
    int64_t now;
    char *norm;
};

static int count_uses(void *ctx, const struct tg_ticket *t, long *uses)
{
    struct cf *cf = ctx;

    *uses = -1;
    assert_int_equal(tg_justnorm_make(t->justification,
                                      strlen(t->justification), &cf->norm),
                     0);
    return tg_evidence_copy_forward_count(
        cf->e, cf->norm, t->id,
        cf->now - (int64_t)cf->c->policy.copy_window_days * 86400, uses);
}

static int next_id(void *ctx, const struct tg_ticket *t, uint64_t *seq,
                   unsigned char rnd[3])
{
    (void)t;
    *seq = tg_evidence_next_seq(((struct cf *)ctx)->e);
    rnd[0] = rnd[1] = rnd[2] = 0xab;
    return 0;
}

/* How a record's texts are stored (test_texts_read_by_jansson). */
enum texts {
    TEXTS_AS_SERVER,  /* compact, as the server writes them */
    TEXTS_BARE,       /* no judged ticket (a record from before issue 13) */
    TEXTS_REORDERED,  /* judged: identities first, indented, ASCII escapes */
    /* The store refuses these: written by damage() after the fact. */
    TEXTS_BAD_DOC,    /* the decision document cut short */
    TEXTS_BAD_JUDGED, /* the judged ticket cut short */
    TEXTS_NO_TICKET,  /* the judged "ticket" not an object */
};

/* Overwrites the stored texts of decision id in the store file at path as
 * mode says (damage the store API would refuse to write). */
static void damage(const char *path, const char *id, enum texts mode)
{
    static const char *const sql[] = {
        /* without its facts: the cut document is all there is */
        [TEXTS_BAD_DOC] = "UPDATE records SET decision = "
                          "substr(decision, 1, length(decision) / 2), "
                          "facts = NULL WHERE decision_id = ?1",
        [TEXTS_BAD_JUDGED] = "UPDATE records SET judged = "
                             "'{\"ticket\":{\"id\":\"ACC-1\",' "
                             "WHERE decision_id = ?1",
        [TEXTS_NO_TICKET] = "UPDATE records SET judged = "
                            "'{\"ticket\":[1,2],\"identities\":{}}' "
                            "WHERE decision_id = ?1",
    };
    sqlite3 *db;
    sqlite3_stmt *st;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql[mode], -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    assert_int_equal(sqlite3_changes(db), 1);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* The judged document of mode (caller frees). */
static char *judged_text(const json_t *judged, enum texts mode)
{
    json_t *re;
    char *out;

    switch (mode) {
    case TEXTS_REORDERED:
        re = json_pack("{s:O,s:O}", "identities",
                       json_object_get(judged, "identities"), "ticket",
                       json_object_get(judged, "ticket"));
        assert_non_null(re);
        out = json_dumps(re, JSON_INDENT(2) | JSON_ENSURE_ASCII);
        json_decref(re);
        return out;
    default:
        return json_dumps(judged, JSON_COMPACT);
    }
}

/* Decides ticket v at now under c as the server does and records it, its
 * texts stored as mode says. The decision id goes to id. */
static void record_as(const struct tg_config *c, struct tg_evidence *e,
                      const json_t *v, int64_t now, enum texts mode,
                      char id[32])
{
    struct cf cf = {.e = e, .c = c, .now = now};
    const struct tg_decide d = {.cfg = c,
                                .now = now,
                                .gated = 1,
                                .copy_forward = count_uses,
                                .id = next_id,
                                .ctx = &cf};
    struct tg_evidence_record r;
    struct tg_decided o;
    char err[256], *doc, *judged, *facts;

    tg_decided_init(&o, err, sizeof err);
    assert_int_equal(tg_decide(&d, v, &o), 0);
    assert_non_null(o.judged);
    assert_non_null(o.facts);
    doc = json_dumps(o.doc, JSON_COMPACT);
    judged = judged_text(o.judged, mode);
    facts = json_dumps(o.facts, JSON_COMPACT);
    memset(&r, 0, sizeof r);
    r.decision_id = o.decision_id;
    r.ticket = o.ticket.id;
    r.source = "generic";
    memcpy(r.body_sha256, o.decision_id, 16);
    r.policy_digest = c->digest;
    r.time = now;
    r.decision_json = doc;
    r.decision_len = strlen(doc);
    r.justification_norm = cf.norm;
    /* A record without its judged ticket is one from before issue 13:
     * it has no facts either. */
    if (mode != TEXTS_BARE) {
        r.judged_json = judged;
        r.judged_len = strlen(judged);
        r.facts_json = facts;
        r.facts_len = strlen(facts);
    }
    assert_int_equal(tg_evidence_append(e, &r), 0);
    snprintf(id, 32, "%s", o.decision_id);
    free(doc);
    free(judged);
    free(facts);
    free(cf.norm);
    tg_decided_cleanup(&o);
}

static void record(const struct tg_config *c, struct tg_evidence *e,
                   const json_t *v, int64_t now, int bare, char id[32])
{
    record_as(c, e, v, now, bare ? TEXTS_BARE : TEXTS_AS_SERVER, id);
}

/* The example configuration and a store of N_TICKETS decisions, one a
 * day from T0, decided and recorded as the server does (copy-forward
 * counted from the store): every third lasts 9 days (allowed under 30 or
 * 90), every third 50 (allowed under 90 only), every third 109 (denied
 * under both); and one more, recorded without its judged ticket. Their
 * justifications are all the example's when shared, else each its own.
 * ids[i] is ticket i's decision id. */
static struct tg_config *prepare(struct tg_server *s,
                                 char ids[N_TICKETS + 1][32], int shared)
{
    static const int days[3] = {9, 50, 109};
    struct tg_config *c = NULL;
    struct tg_evidence *e = NULL;
    struct tg_diag d;
    int64_t t0;
    char *text;

    assert_int_equal(tg_time_parse(T0, strlen(T0), &t0), 0);
    assert_int_equal(tg_test_server_prepare(s), 0);
    tg_diag_init(&d);
    if (tg_config_load(s->config, &c, &d) != 0)
        fail_msg("%s", d.n ? d.msgs[0] : "config did not load");
    tg_diag_cleanup(&d);
    assert_int_equal(tg_evidence_open(c, &e), 0);
    for (int i = 0; i <= N_TICKETS; i++) {
        int64_t t = t0 + (int64_t)i * DAY;
        json_t *v = ticket(i, t, days[i % 3], shared);
        record(c, e, v, t, i == N_TICKETS, ids[i]);
        json_decref(v);
    }
    tg_evidence_close(e);
    /* The candidate: write access for 30 days at most, not 90. */
    text = tg_test_read_file(s->config, NULL);
    assert_non_null(text);
    assert_non_null(strstr(text, "write: 90"));
    memcpy(strstr(text, "write: 90"), "write: 30", 9);
    assert_int_equal(tg_test_write_file(s, "candidate.yaml", text), 0);
    free(text);
    return c;
}

static json_t *parse(const char *out)
{
    json_error_t e;
    json_t *v = json_loads(out, 0, &e);

    if (!v)
        fail_msg("replay --format json printed no JSON (%s): %s", e.text, out);
    return v;
}

/* Asserts that replay's JSON v found exactly one change, of decision id,
 * and returns it (borrowed from v). */
static json_t *the_one_change(const json_t *v, const char *id)
{
    json_t *x;

    assert_int_equal(json_integer_value(json_object_get(v, "changed")), 1);
    x = json_array_get(json_object_get(v, "changes"), 0);
    assert_non_null(x);
    assert_string_equal(json_string_value(json_object_get(x, "decision_id")),
                        id);
    return x;
}

static void test_tightened_max_days(void **state)
{
    struct tg_server s;
    char ids[N_TICKETS + 1][32], cand[400];
    struct tg_config *c;
    struct tg_test_run r;
    json_t *v, *ch, *x;
    size_t i;
    int want = 0;
    char *msg = NULL;

    (void)state;
    c = prepare(&s, ids, 0);
    snprintf(cand, sizeof cand, "%s/candidate.yaml", s.dir);
    r = replay((const char *[]){"-c", cand, "--store", c->store.path,
                                "--format", "json", NULL});
    assert_int_equal(r.rc, 0);
    v = parse(r.out);
    assert_int_equal(json_integer_value(json_object_get(v, "decisions")),
                     N_TICKETS + 1);
    assert_int_equal(json_integer_value(json_object_get(v, "replayed")),
                     N_TICKETS);
    assert_int_equal(
        json_integer_value(json_object_get(v, "without_judged_ticket")), 1);
    assert_int_equal(json_integer_value(json_object_get(v, "changed")),
                     N_TICKETS / 3);
    /* Exactly the 50-day tickets, in store order, allow -> deny for
     * EXPIRY_TOO_LONG; the 109-day ones were denied for it already. */
    ch = json_object_get(v, "changes");
    assert_int_equal(json_array_size(ch), N_TICKETS / 3);
    json_array_foreach(ch, i, x) {
        while (want % 3 != 1)
            want++;
        assert_string_equal(
            json_string_value(json_object_get(x, "decision_id")), ids[want]);
        assert_string_equal(json_string_value(json_object_get(x, "from")),
                            "allow");
        assert_string_equal(json_string_value(json_object_get(x, "to")),
                            "deny");
        assert_string_equal(
            json_string_value(json_object_get(
                json_array_get(json_object_get(x, "codes"), 0), "code")),
            "EXPIRY_TOO_LONG");
        assert_int_equal(json_array_size(json_object_get(x, "codes")), 1);
        assert_int_equal(
            json_array_size(json_object_get(x, "recorded_findings")), 0);
        assert_string_equal(
            json_string_value(json_object_get(
                json_array_get(json_object_get(x, "candidate_findings"), 0),
                "code")),
            "EXPIRY_TOO_LONG");
        if (!msg)
            msg = strdup(json_string_value(json_object_get(
                json_array_get(json_object_get(x, "candidate_findings"), 0),
                "message")));
        want++;
    }
    x = json_array_get(json_object_get(v, "transitions"), 0);
    assert_int_equal(json_array_size(json_object_get(v, "transitions")), 1);
    assert_string_equal(json_string_value(json_object_get(x, "from")),
                        "allow");
    assert_int_equal(json_integer_value(json_object_get(x, "count")),
                     N_TICKETS / 3);
    x = json_array_get(json_object_get(v, "codes"), 0);
    assert_int_equal(json_array_size(json_object_get(v, "codes")), 1);
    assert_string_equal(json_string_value(json_object_get(x, "code")),
                        "EXPIRY_TOO_LONG");
    json_decref(v);
    tg_test_run_free(&r);

    /* The text form: the same count, each changed ticket with both sets
     * of findings. */
    r = replay((const char *[]){"-c", cand, "--store", c->store.path, NULL});
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "4 decisions would change."));
    assert_non_null(strstr(r.out, "1 decision cannot be replayed"));
    assert_non_null(strstr(r.out, ids[1]));
    assert_non_null(strstr(r.out, ids[10]));
    assert_null(strstr(r.out, ids[2]));
    /* the candidate's message in text is the one of its JSON findings */
    assert_non_null(msg);
    snprintf(cand, sizeof cand, "- deny EXPIRY_TOO_LONG: %s\n", msg);
    assert_non_null(strstr(r.out, cand));
    free(msg);
    tg_test_run_free(&r);
    tg_config_free(c);
    tg_test_server_cleanup(&s);
}

/* The live configuration replayed over its own decisions changes none:
 * each is judged at its own time (else they would all have expired). */
static void test_same_policy_changes_nothing(void **state)
{
    struct tg_server s;
    char ids[N_TICKETS + 1][32];
    struct tg_config *c;
    struct tg_test_run r;
    json_t *v;

    (void)state;
    c = prepare(&s, ids, 0);
    r = replay((const char *[]){"-c", s.config, "--store", c->store.path,
                                "--format", "json", NULL});
    assert_int_equal(r.rc, 0);
    v = parse(r.out);
    assert_int_equal(json_integer_value(json_object_get(v, "replayed")),
                     N_TICKETS);
    assert_int_equal(json_integer_value(json_object_get(v, "changed")), 0);
    assert_int_equal(json_array_size(json_object_get(v, "changes")), 0);
    json_decref(v);
    tg_test_run_free(&r);
    tg_config_free(c);
    tg_test_server_cleanup(&s);
}

/* --since and --until bound the decisions by their time (since
 * inclusive, until exclusive). */
static void test_since_until(void **state)
{
    struct tg_server s;
    char ids[N_TICKETS + 1][32], cand[400];
    struct tg_config *c;
    struct tg_test_run r;
    json_t *v;

    (void)state;
    c = prepare(&s, ids, 0);
    snprintf(cand, sizeof cand, "%s/candidate.yaml", s.dir);
    /* Days 1..3 of the store: tickets 1, 2, 3, of which 1 changes. */
    r = replay((const char *[]){"-c", cand, "--store", c->store.path,
                                "--since", "2025-06-02T00:00:00Z", "--until",
                                "2025-06-05T00:00:00Z", "--format", "json",
                                NULL});
    assert_int_equal(r.rc, 0);
    v = parse(r.out);
    assert_int_equal(json_integer_value(json_object_get(v, "decisions")), 3);
    the_one_change(v, ids[1]);
    json_decref(v);
    tg_test_run_free(&r);
    tg_config_free(c);
    tg_test_server_cleanup(&s);
}

/* Writes the example configuration with old replaced by new_text as name
 * in s's directory; its path into path. */
static void variant(struct tg_server *s, const char *name, const char *old,
                    const char *new_text, char *path, size_t cap)
{
    char *text = tg_test_read_file(s->config, NULL), *at, *out;
    size_t n;

    assert_non_null(text);
    assert_non_null(at = strstr(text, old));
    n = strlen(text) + strlen(new_text) + 1;
    out = malloc(n);
    assert_non_null(out);
    snprintf(out, n, "%.*s%s%s", (int)(at - text), text, new_text,
             at + strlen(old));
    assert_int_equal(tg_test_write_file(s, name, out), 0);
    snprintf(path, cap, "%s/%s", s->dir, name);
    free(out);
    free(text);
}

static json_t *replay_json(const char *cand, const char *store,
                           const char *since)
{
    struct tg_test_run r =
        since ? replay((const char *[]){"-c", cand, "--store", store, "--since",
                                        since, "--format", "json", NULL})
              : replay((const char *[]){"-c", cand, "--store", store,
                                        "--format", "json", NULL});
    json_t *v;

    assert_int_equal(r.rc, 0);
    v = parse(r.out);
    tg_test_run_free(&r);
    return v;
}

/* Every ticket carries one justification: the server found it copied
 * forward from the third ticket on (max_reuse 2). Replay counts the uses
 * from the store's own history as the server did, so the live policy
 * changes nothing, also from --since on (the window before it is read);
 * a candidate with max_reuse 1 finds the second ticket too, and only it. */
static void test_copy_forward_from_history(void **state)
{
    struct tg_server s;
    char ids[N_TICKETS + 1][32], cand[400];
    struct tg_config *c;
    json_t *v, *x;

    (void)state;
    c = prepare(&s, ids, 1);
    v = replay_json(s.config, c->store.path, NULL);
    assert_int_equal(json_integer_value(json_object_get(v, "changed")), 0);
    json_decref(v);
    v = replay_json(s.config, c->store.path, "2025-06-05T00:00:00Z");
    assert_int_equal(json_integer_value(json_object_get(v, "decisions")),
                     N_TICKETS + 1 - 4);
    assert_int_equal(json_integer_value(json_object_get(v, "changed")), 0);
    json_decref(v);

    variant(&s, "reuse1.yaml", "max_reuse: 2", "max_reuse: 1", cand,
            sizeof cand);
    v = replay_json(cand, c->store.path, NULL);
    x = the_one_change(v, ids[1]);
    assert_string_equal(json_string_value(json_object_get(x, "from")),
                        "allow");
    assert_string_equal(json_string_value(json_object_get(x, "to")),
                        "annotate");
    assert_string_equal(
        json_string_value(json_object_get(
            json_array_get(json_object_get(x, "codes"), 0), "code")),
        "JUSTIFICATION_COPY_FORWARD");
    json_decref(v);

    /* A one-day window: each ticket sees only the day before's, once. */
    variant(&s, "window1.yaml", "window_days: 90", "window_days: 1", cand,
            sizeof cand);
    v = replay_json(cand, c->store.path, NULL);
    /* tickets 2..11 lose their finding; ticket 12 has no judged ticket */
    assert_int_equal(json_integer_value(json_object_get(v, "changed")),
                     N_TICKETS - 2);
    json_decref(v);
    tg_config_free(c);
    tg_test_server_cleanup(&s);
}

/* The stored texts are read by jansson whatever their layout: a judged
 * document with its identities first, indented and with its non-ASCII
 * justification escaped replays as the server's compact one, and its
 * justification (decoded) is the same justification in the copy-forward
 * history; a decision document or judged ticket that does not read is
 * counted unreadable, not replayed. */
static void test_texts_read_by_jansson(void **state)
{
    static const enum texts modes[] = {
        TEXTS_AS_SERVER, TEXTS_REORDERED, TEXTS_AS_SERVER, TEXTS_REORDERED,
        TEXTS_BAD_DOC,   TEXTS_BAD_JUDGED, TEXTS_NO_TICKET,
    };
    const size_t n = sizeof(modes) / sizeof(modes[0]);
    struct tg_server s;
    struct tg_config *c = NULL;
    struct tg_evidence *e = NULL;
    struct tg_diag d;
    char ids[8][32], cand[400];
    int64_t t0;
    json_t *v, *x;

    (void)state;
    assert_int_equal(tg_time_parse(T0, strlen(T0), &t0), 0);
    assert_int_equal(tg_test_server_prepare(&s), 0);
    tg_diag_init(&d);
    if (tg_config_load(s.config, &c, &d) != 0)
        fail_msg("%s", d.n ? d.msgs[0] : "config did not load");
    tg_diag_cleanup(&d);
    assert_int_equal(tg_evidence_open(c, &e), 0);
    for (size_t i = 0; i < n; i++) {
        int64_t t = t0 + (int64_t)i * DAY;
        json_t *tk = ticket((int)i, t, 9, 1);
        char just[600];
        snprintf(just, sizeof just,
                 "%s Caf\xc3\xa9 \"north\" wing, \xe2\x82\xac budget.",
                 json_string_value(json_object_get(tk, "justification")));
        json_object_set_new(tk, "justification", json_string(just));
        record_as(c, e, tk, t, modes[i], ids[i]);
        json_decref(tk);
    }
    tg_evidence_close(e);
    for (size_t i = 0; i < n; i++)
        if (modes[i] >= TEXTS_BAD_DOC)
            damage(c->store.path, ids[i], modes[i]);

    /* The live policy: nothing changes; 4 replayed, 3 unreadable. */
    v = replay_json(s.config, c->store.path, NULL);
    assert_int_equal(json_integer_value(json_object_get(v, "decisions")),
                     (json_int_t)n);
    assert_int_equal(json_integer_value(json_object_get(v, "replayed")), 4);
    assert_int_equal(json_integer_value(json_object_get(v, "unreadable")), 3);
    assert_int_equal(json_integer_value(json_object_get(v, "changed")), 0);
    json_decref(v);

    /* max_reuse 1: the second ticket (reordered, escaped) now counts the
     * first's use of its justification, and only it changes. */
    variant(&s, "reuse1.yaml", "max_reuse: 2", "max_reuse: 1", cand,
            sizeof cand);
    v = replay_json(cand, c->store.path, NULL);
    x = the_one_change(v, ids[1]);
    assert_string_equal(json_string_value(json_object_get(x, "to")),
                        "annotate");
    json_decref(v);
    tg_config_free(c);
    tg_test_server_cleanup(&s);
}

/* The text output without its first line (it names the store file). */
static const char *after_store(const char *out)
{
    const char *nl = strchr(out, '\n');

    assert_non_null(nl);
    return nl + 1;
}

/* Replays store under cfg in both formats and compares with the other
 * store's output: the same, but for the store's name. */
static void same_output(const char *cfg, const char *a, const char *b)
{
    static const char *const since = "2025-06-04T00:00:00Z";
    struct tg_test_run ra, rb;
    json_t *va, *vb;

    ra = replay((const char *[]){"-c", cfg, "--store", a, NULL});
    rb = replay((const char *[]){"-c", cfg, "--store", b, NULL});
    assert_int_equal(ra.rc, 0);
    assert_int_equal(rb.rc, 0);
    assert_string_equal(after_store(ra.out), after_store(rb.out));
    tg_test_run_free(&ra);
    tg_test_run_free(&rb);
    va = replay_json(cfg, a, since);
    vb = replay_json(cfg, b, since);
    json_object_del(va, "store");
    json_object_del(vb, "store");
    assert_true(json_equal(va, vb));
    json_decref(va);
    json_decref(vb);
}

/* Records with facts replay exactly as the same records without them (the
 * facts column NULLed: read from the decision documents), under the live
 * policy and a tightened one, in text and JSON. And the facts are what is
 * read: a record whose facts say another verdict than its decision
 * document replays from the facts (also facts whose members come in
 * another order); the copy without facts sees no change. */
static void test_facts_or_documents(void **state)
{
    struct tg_server s;
    char ids[N_TICKETS + 1][32], cand[400], bare[400], sql[440];
    struct tg_config *c;
    struct tg_test_run r;
    json_t *v, *x;

    (void)state;
    c = prepare(&s, ids, 0);
    snprintf(cand, sizeof cand, "%s/candidate.yaml", s.dir);
    snprintf(bare, sizeof bare, "%s/nofacts.db", s.dir);
    assert_int_equal(tg_ocs_sql(c->store.path,
                                "SELECT count(*) FROM records "
                                "WHERE facts IS NOT NULL",
                                NULL),
                     N_TICKETS);
    snprintf(sql, sizeof sql, "VACUUM INTO '%s'", bare);
    tg_ocs_sql(c->store.path, sql, NULL);
    assert_int_equal(tg_ocs_sql(bare,
                                "UPDATE records SET facts = NULL "
                                "WHERE facts IS NOT NULL",
                                NULL),
                     N_TICKETS);
    same_output(cand, c->store.path, bare);
    same_output(s.config, c->store.path, bare);

    /* ids[0] allowed: its facts say deny; ids[3] allowed: facts in
     * another order saying annotate. */
    assert_int_equal(tg_ocs_sql(c->store.path,
                                "UPDATE records SET facts = replace(facts, "
                                "'{\"recorded\":{\"decision\":\"allow\",', "
                                "'{\"recorded\":{\"decision\":\"deny\",') "
                                "WHERE decision_id = ?1",
                                ids[0]),
                     1);
    assert_int_equal(
        tg_ocs_sql(c->store.path,
                   "UPDATE records SET facts = '{\"identities\":{},"
                   "\"recorded\":{\"findings\":[],"
                   "\"decision\":\"annotate\"}}' WHERE decision_id = ?1",
                   ids[3]),
        1);
    v = replay_json(s.config, c->store.path, NULL);
    assert_int_equal(json_integer_value(json_object_get(v, "changed")), 2);
    x = json_array_get(json_object_get(v, "changes"), 0);
    assert_string_equal(json_string_value(json_object_get(x, "decision_id")),
                        ids[0]);
    assert_string_equal(json_string_value(json_object_get(x, "from")),
                        "deny");
    assert_string_equal(json_string_value(json_object_get(x, "to")),
                        "allow");
    x = json_array_get(json_object_get(v, "changes"), 1);
    assert_string_equal(json_string_value(json_object_get(x, "decision_id")),
                        ids[3]);
    assert_string_equal(json_string_value(json_object_get(x, "from")),
                        "annotate");
    json_decref(v);
    /* In text, the candidate's findings come from its result, not from a
     * document: an allow has none. */
    r = replay((const char *[]){"-c", s.config, "--store", c->store.path,
                                NULL});
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "  deny -> allow\n  recorded: no findings\n"
                                  "  candidate: no findings\n"));
    tg_test_run_free(&r);
    v = replay_json(s.config, bare, NULL);
    assert_int_equal(json_integer_value(json_object_get(v, "changed")), 0);
    json_decref(v);
    tg_config_free(c);
    tg_test_server_cleanup(&s);
}

/* A recorded value that begins with the bytes of one the slot has read,
 * all but its closing brace, is another value: the cache must not take it
 * for the one it remembers. ids[3]'s facts say allow then deny (the last
 * "decision" wins): it changes deny -> allow under the live policy. */
static void test_remembered_value_is_whole(void **state)
{
    static const char allow[] =
        "{\"recorded\":{\"decision\":\"allow\",\"findings\":[]}";
    struct tg_server s;
    char ids[N_TICKETS + 1][32], sql[512];
    struct tg_config *c;
    json_t *v, *x;

    (void)state;
    c = prepare(&s, ids, 0);
    snprintf(sql, sizeof sql,
             "UPDATE records SET facts = replace(facts, '%s', "
             "'{\"recorded\":{\"decision\":\"allow\",\"findings\":[],"
             "\"decision\":\"deny\"}') "
             "WHERE decision_id = ?1 AND instr(facts, '%s') = 1",
             allow, allow);
    assert_int_equal(tg_ocs_sql(c->store.path, sql, ids[3]), 1);
    v = replay_json(s.config, c->store.path, NULL);
    x = the_one_change(v, ids[3]);
    assert_string_equal(json_string_value(json_object_get(x, "from")),
                        "deny");
    json_decref(v);
    tg_config_free(c);
    tg_test_server_cleanup(&s);
}

static void test_usage_errors(void **state)
{
    struct tg_server s;
    char ids[N_TICKETS + 1][32], cand[400], bad[400];
    struct tg_config *c;
    struct tg_test_run r;

    (void)state;
    c = prepare(&s, ids, 0);
    snprintf(cand, sizeof cand, "%s/candidate.yaml", s.dir);
    snprintf(bad, sizeof bad, "%s/no-such-store.db", s.dir);
    r = replay((const char *[]){"-c", cand, NULL});
    assert_int_equal(r.rc, 2);
    assert_non_null(strstr(r.err, "usage:"));
    tg_test_run_free(&r);
    r = replay((const char *[]){"-c", cand, "--store", c->store.path,
                                "--since", "yesterday", NULL});
    assert_int_equal(r.rc, 2);
    assert_non_null(strstr(r.err, "--since yesterday is not an RFC 3339"));
    tg_test_run_free(&r);
    r = replay((const char *[]){"-c", cand, "--store", c->store.path,
                                "--format", "xml", NULL});
    assert_int_equal(r.rc, 2);
    tg_test_run_free(&r);
    r = replay((const char *[]){"-c", cand, "--store", bad, NULL});
    assert_int_equal(r.rc, 2);
    assert_non_null(strstr(r.err, "the store cannot be read"));
    assert_int_equal(access(bad, F_OK), -1); /* not created by a read */
    tg_test_run_free(&r);
    tg_config_free(c);
    tg_test_server_cleanup(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tightened_max_days),
        cmocka_unit_test(test_same_policy_changes_nothing),
        cmocka_unit_test(test_since_until),
        cmocka_unit_test(test_copy_forward_from_history),
        cmocka_unit_test(test_texts_read_by_jansson),
        cmocka_unit_test(test_facts_or_documents),
        cmocka_unit_test(test_remembered_value_is_whole),
        cmocka_unit_test(test_usage_errors),
    };
    /* as main.c does: replay's tickets live in its workers' arenas and are
     * dropped with them (tg_jarena_whole), which the sanitizer build then
     * checks for leaks and use after the drop */
    tg_jarena_install();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
