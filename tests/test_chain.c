/* test_chain.c - chain entries, the judged ticket, scans, old stores (13). */
#include <inttypes.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <sqlite3.h>

#include "server/config/config.h"
#include "server/store/store.h"
#include "validators/errors.h"
#include "tests/support/ocstore.h"

/* ------------------------------------------------------------ fixtures */

static char tmpdir[256];
static int store_no;

static void new_path(char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%s/chain%d.db", tmpdir, ++store_no);

    assert_true(n > 0 && (size_t)n < cap);
}

static void sql(const char *path, const char *text)
{
    sqlite3 *db = NULL;
    char *err = NULL;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    if (sqlite3_exec(db, text, NULL, NULL, &err) != SQLITE_OK)
        fail_msg("%s: %s", text, err);
    sqlite3_close(db);
}

/* One integer SELECT on the store at path. */
static int64_t sql_int(const char *path, const char *text)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t v;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, text, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static struct tg_evidence_verdict verify(const char *path)
{
    struct tg_evidence_verdict v;

    assert_int_equal(tg_evidence_verify_file(path, NULL, 0, &v), 0);
    return v;
}

static const char JUDGED[] =
    "{\"ticket\":{\"id\":\"T-1\",\"owner\":\"carol.diaz\"},"
    "\"identities\":{\"requester\":{\"given\":\"alice\","
    "\"resolved\":\"alice\"}}}";

/* A facts document (core/facts.h) as the server writes it. */
static const char FACTS[] =
    "{\"decision\":\"allow\",\"findings\":[],\"identities\":"
    "{\"requester\":{\"given\":\"alice\",\"resolved\":\"alice\"}}}";

/* Appends decision id of ticket at t, with the judged document and the
 * facts (or not). */
static int decide_facts(struct tg_evidence *e, const char *id,
                        const char *ticket, int64_t t, const char *judged,
                        const char *facts)
{
    struct tg_evidence_record r;
    char doc[256];
    unsigned int len = 0;

    memset(&r, 0, sizeof r);
    snprintf(doc, sizeof doc,
             "{\"decision\":\"allow\",\"decision_id\":\"%s\","
             "\"ticket\":\"%s\"}", id, ticket);
    r.decision_id = id;
    r.ticket = ticket;
    r.source = "jira";
    EVP_Digest(id, strlen(id), r.body_sha256, &len, EVP_sha256(), NULL);
    r.policy_digest = "sha256:abc";
    r.time = t;
    r.decision_json = doc;
    r.decision_len = strlen(doc);
    r.judged_json = judged;
    r.judged_len = judged ? strlen(judged) : 0;
    r.facts_json = facts;
    r.facts_len = facts ? strlen(facts) : 0;
    return tg_evidence_append(e, &r);
}

/* The same without facts (a record as written before them: v2). */
static int decide(struct tg_evidence *e, const char *id, const char *ticket,
                  int64_t t, const char *judged)
{
    return decide_facts(e, id, ticket, t, judged, NULL);
}

static int entry(struct tg_evidence *e, const char *kind, const char *key,
                 const char *ticket, int64_t t, const char *json)
{
    struct tg_evidence_entry en = {
        .kind = kind, .key = key, .ticket = ticket, .source = NULL,
        .time = t, .json = json, .len = json ? strlen(json) : 0};

    return tg_evidence_append_entry(e, &en);
}

/* ---------------------------------------- the v1 store, made by hand */

/* F(v) of docs/EVIDENCE.md into ctx. */
static void feed(EVP_MD_CTX *ctx, const char *v)
{
    char pre[32];

    if (!v) {
        EVP_DigestUpdate(ctx, "-\n", 2);
        return;
    }
    snprintf(pre, sizeof pre, "%zu:", strlen(v));
    EVP_DigestUpdate(ctx, pre, strlen(pre));
    EVP_DigestUpdate(ctx, v, strlen(v));
    EVP_DigestUpdate(ctx, "\n", 1);
}

/*
 * A store as ticketgate wrote it before issue 13 (schema version 1: no kind,
 * no judged), n decisions d-1..d-n at times 100, 200, ..., each hashed with
 * the v1 serialisation computed here from the documentation.
 */
static void make_v1_store(const char *path, int n)
{
    sqlite3 *db = NULL;
    char prev[65];

    memset(prev, '0', 64);
    prev[64] = '\0';
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
        "PRAGMA journal_mode=WAL;"
        "CREATE TABLE jti_use(source TEXT NOT NULL, jti TEXT NOT NULL,"
        " body_sha256 TEXT NOT NULL, decision_id TEXT, time INTEGER NOT NULL,"
        " PRIMARY KEY(source, jti)) WITHOUT ROWID;"
        "CREATE TABLE records(seq INTEGER PRIMARY KEY,"
        " decision_id TEXT NOT NULL UNIQUE, ticket TEXT NOT NULL,"
        " source TEXT NOT NULL, delivery_id TEXT, body_sha256 TEXT NOT NULL,"
        " policy TEXT NOT NULL, time INTEGER NOT NULL, decision TEXT NOT NULL,"
        " just_norm TEXT, prev_hash TEXT NOT NULL, hash TEXT NOT NULL,"
        " mac TEXT);"
        "CREATE UNIQUE INDEX records_delivery ON records(source, delivery_id)"
        " WHERE delivery_id IS NOT NULL;"
        "CREATE INDEX records_ticket ON records(ticket, seq);"
        "CREATE TABLE checkpoints(seq INTEGER PRIMARY KEY, hash TEXT NOT NULL,"
        " mac TEXT, first_seq INTEGER NOT NULL, count INTEGER NOT NULL,"
        " archived_at INTEGER NOT NULL, archive TEXT NOT NULL);"
        "CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
        "CREATE TABLE just_use(just_norm TEXT NOT NULL, ticket TEXT NOT NULL,"
        " last_time INTEGER NOT NULL, PRIMARY KEY(just_norm, ticket))"
        " WITHOUT ROWID;"
        "PRAGMA user_version=1;", NULL, NULL, NULL), SQLITE_OK);
    for (int i = 1; i <= n; i++) {
        char seq[24], id[32], tm[24], body[65], doc[160], hash[65];
        unsigned char d[32];
        unsigned int len = 0;
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        char *ins;

        snprintf(seq, sizeof seq, "%d", i);
        snprintf(id, sizeof id, "d-%d", i);
        snprintf(tm, sizeof tm, "%d", 100 * i);
        memset(body, 'a' + i % 6, 64);
        body[64] = '\0';
        snprintf(doc, sizeof doc, "{\"decision\":\"deny\",\"decision_id\":"
                 "\"%s\",\"ticket\":\"OLD-%d\"}", id, i);
        EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
        EVP_DigestUpdate(ctx, "ticketgate-evidence-v1\n", 23);
        feed(ctx, seq);
        feed(ctx, id);
        snprintf(hash, sizeof hash, "OLD-%d", i); /* ticket, for a moment */
        feed(ctx, hash);
        feed(ctx, "jira");
        feed(ctx, NULL); /* delivery_id */
        feed(ctx, body);
        feed(ctx, "sha256:old");
        feed(ctx, tm);
        feed(ctx, doc);
        feed(ctx, NULL); /* just_norm */
        feed(ctx, prev);
        EVP_DigestFinal_ex(ctx, d, &len);
        EVP_MD_CTX_free(ctx);
        for (int k = 0; k < 32; k++)
            snprintf(hash + 2 * k, 3, "%02x", d[k]);
        ins = sqlite3_mprintf(
            "INSERT INTO records VALUES (%d, %Q, 'OLD-%d', 'jira', NULL, %Q,"
            " 'sha256:old', %d, %Q, NULL, %Q, %Q, NULL)",
            i, id, i, body, 100 * i, doc, prev, hash);
        assert_int_equal(sqlite3_exec(db, ins, NULL, NULL, NULL), SQLITE_OK);
        sqlite3_free(ins);
        memcpy(prev, hash, 65);
    }
    sqlite3_close(db);
    assert_int_equal(chmod(path, 0600), 0); /* as the server makes it */
}

/* ------------------------------------------------------------- scans */

struct seen {
    int n;
    int stop_at; /* return 7 at this row (1-based); 0: never */
    char kinds[16][16], keys[16][48];
    uint64_t seq[16];
    int64_t time[16];
    int has_ticket[16], has_policy[16], has_judged[16], has_facts[16];
};

static int collect(void *ctx, const struct tg_evidence_row *row)
{
    struct seen *s = ctx;
    int i = s->n;

    assert_true(i < 16);
    assert_non_null(row->json);
    assert_int_equal(strlen(row->json), row->json_len);
    snprintf(s->kinds[i], sizeof s->kinds[i], "%s", row->kind);
    snprintf(s->keys[i], sizeof s->keys[i], "%s", row->key);
    s->seq[i] = row->seq;
    s->time[i] = row->time;
    s->has_ticket[i] = row->ticket != NULL;
    s->has_policy[i] = row->policy != NULL;
    s->has_judged[i] = row->judged != NULL;
    if (row->judged)
        assert_memory_equal(row->judged, JUDGED, row->judged_len);
    s->has_facts[i] = row->facts != NULL;
    if (row->facts) {
        assert_int_equal(row->facts_len, strlen(FACTS));
        assert_memory_equal(row->facts, FACTS, row->facts_len);
    }
    s->n++;
    return s->n == s->stop_at ? 7 : 0;
}

static struct seen scan_file(const char *path, const char *kind,
                             int64_t since, int64_t until)
{
    struct seen s;

    memset(&s, 0, sizeof s);
    assert_int_equal(tg_evidence_scan_file(path, kind, since, until, collect,
                                           &s), 0);
    return s;
}

/* ------------------------------------------------------------- tests */

/* Entries append, are unique by (kind, key) and stay out of the decision
 * reads; the chain of decisions and entries verifies. */
static void test_entries(void **state)
{
    char path[300], *doc = NULL;
    struct tg_evidence *e;
    json_t *list;

    (void)state;
    new_path(path, sizeof path);
    e = tg_ocs_open(path);
    assert_int_equal(decide(e, "d-1", "T-1", 100, JUDGED), 0);
    assert_int_equal(entry(e, "event", "ev-1", "T-1", 110, "{\"a\":1}"), 0);
    assert_int_equal(entry(e, "action", "7:1", "T-1", 120, "{\"b\":2}"), 0);
    /* a shadow entry's key is its decision's id: no clash with it */
    assert_int_equal(entry(e, "shadow", "d-1", "T-1", 130, "{\"c\":3}"), 0);
    assert_int_equal(entry(e, "policy", "sha256:x", NULL, 90, "{\"d\":4}"),
                     0);
    /* (kind, key) once; the same key under another kind is another entry */
    assert_int_equal(entry(e, "event", "ev-1", "T-9", 140, "{\"a\":9}"),
                     TG_ECONFLICT);
    assert_int_equal(entry(e, "policy", "sha256:x", NULL, 91, "{\"d\":4}"),
                     TG_ECONFLICT);
    assert_int_equal(entry(e, "event", "d-1", NULL, 150, "{\"e\":5}"), 0);
    /* nor does an entry take a decision id */
    assert_int_equal(decide(e, "event:ev-1", "T-1", 160, NULL), TG_EINVAL);
    /* refused: the decisions' kind, other characters, no key, not an
     * object */
    assert_int_equal(entry(e, "decision", "k", NULL, 1, "{}"), TG_EINVAL);
    assert_int_equal(entry(e, "Event", "k", NULL, 1, "{}"), TG_EINVAL);
    assert_int_equal(entry(e, "", "k", NULL, 1, "{}"), TG_EINVAL);
    assert_int_equal(entry(e, "event", "", NULL, 1, "{}"), TG_EINVAL);
    assert_int_equal(entry(e, "event", "k", NULL, 1, "[1]"), TG_EINVAL);
    assert_int_equal(entry(e, "event", "k", NULL, 1, NULL), TG_EINVAL);

    /* the decision reads see the decision only */
    assert_int_equal(tg_evidence_get(e, "d-1", &doc), 0);
    assert_non_null(strstr(doc, "\"allow\""));
    free(doc);
    doc = NULL;
    assert_int_equal(tg_evidence_get(e, "shadow:d-1", &doc), TG_ENOTFOUND);
    assert_int_equal(tg_evidence_get(e, "event:ev-1", &doc), TG_ENOTFOUND);
    assert_int_equal(tg_evidence_list(e, "T-1", 10, 0, &list), 0);
    assert_int_equal(json_array_size(json_object_get(list, "decisions")), 1);
    json_decref(list);

    /* entries by (kind, key), live and offline */
    assert_int_equal(tg_evidence_get_entry(e, "event", "ev-1", &doc), 0);
    assert_string_equal(doc, "{\"a\":1}");
    free(doc);
    assert_int_equal(tg_evidence_get_entry(e, "event", "ev-2", &doc),
                     TG_ENOTFOUND);
    assert_int_equal(tg_evidence_get_entry(e, "shadow", "ev-1", &doc),
                     TG_ENOTFOUND);
    tg_evidence_close(e);
    assert_int_equal(tg_evidence_get_entry_file(path, "shadow", "d-1", &doc),
                     0);
    assert_string_equal(doc, "{\"c\":3}");
    free(doc);
    assert_int_equal(tg_evidence_get_entry_file(path, "policy", "sha256:y",
                                                &doc), TG_ENOTFOUND);

    {
        struct tg_evidence_verdict v = verify(path);

        assert_int_equal(v.intact, 1);
        assert_int_equal(v.count, 6);
        assert_int_equal(v.entries, 5);
    }
    /* every new row is kind-tagged (v2); the judged ticket is stored */
    assert_int_equal(sql_int(path, "SELECT count(*) FROM records"
                                   " WHERE kind IS NULL"), 0);
    assert_int_equal(sql_int(path, "SELECT count(*) FROM records WHERE"
                                   " kind = 'decision' AND judged IS NOT"
                                   " NULL"), 1);
    assert_int_equal(sql_int(path, "PRAGMA user_version"), 3);
}

struct racer {
    struct tg_evidence *e;
    int t;
    int ok, conflict, other;
};

static void *race(void *p)
{
    struct racer *r = p;

    for (int i = 0; i < 60; i++) {
        char key[32], id[32];
        int rc;

        /* every thread tries the same event keys, and its own decisions */
        snprintf(key, sizeof key, "ev-%d", i);
        rc = entry(r->e, "event", key, "T-1", 1000 + i, "{\"x\":true}");
        if (rc == 0)
            r->ok++;
        else if (rc == TG_ECONFLICT)
            r->conflict++;
        else
            r->other++;
        snprintf(id, sizeof id, "d-%d-%d", r->t, i);
        if (decide(r->e, id, "T-2", 1000 + i, i % 2 ? JUDGED : NULL))
            r->other++;
    }
    return NULL;
}

/* Entries commit in the writer's batches with the decisions: under
 * concurrent appends each key lands once and the chain stays whole. */
static void test_entries_group_commit(void **state)
{
    char path[300];
    struct tg_evidence *e;
    pthread_t th[4];
    struct racer r[4];
    int ok = 0, conflict = 0;

    (void)state;
    new_path(path, sizeof path);
    e = tg_ocs_open(path);
    for (int i = 0; i < 4; i++) {
        memset(&r[i], 0, sizeof r[i]);
        r[i].e = e;
        r[i].t = i;
        assert_int_equal(pthread_create(&th[i], NULL, race, &r[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(r[i].other, 0);
        ok += r[i].ok;
        conflict += r[i].conflict;
    }
    tg_evidence_close(e);
    assert_int_equal(ok, 60);
    assert_int_equal(conflict, 3 * 60);
    {
        struct tg_evidence_verdict v = verify(path);

        assert_int_equal(v.intact, 1);
        assert_int_equal(v.count, 60 + 4 * 60);
    }
}

/* Scans by kind and time, on a file and on a live store, in seq order. */
static void test_scan(void **state)
{
    char path[300];
    struct tg_evidence *e;
    struct seen s;

    (void)state;
    new_path(path, sizeof path);
    e = tg_ocs_open(path);
    assert_int_equal(entry(e, "policy", "sha256:p", NULL, 5, "{}"), 0);
    assert_int_equal(decide(e, "d-1", "T-1", 10, JUDGED), 0);
    assert_int_equal(entry(e, "event", "ev-1", "T-1", 15, "{\"n\":1}"), 0);
    assert_int_equal(decide(e, "d-2", "T-2", 20, NULL), 0);
    assert_int_equal(entry(e, "event", "ev-2", NULL, 25, "{\"n\":2}"), 0);
    assert_int_equal(decide(e, "d-3", "T-1", 30, JUDGED), 0);

    for (int live = 0; live < 2; live++) {
        if (live) {
            memset(&s, 0, sizeof s);
            assert_int_equal(tg_evidence_scan(e, NULL, INT64_MIN, INT64_MAX,
                                              collect, &s), 0);
        } else {
            s = scan_file(path, NULL, INT64_MIN, INT64_MAX);
        }
        assert_int_equal(s.n, 6);
        for (int i = 0; i < 6; i++)
            assert_int_equal(s.seq[i], (uint64_t)i + 1);
        assert_string_equal(s.kinds[0], "policy");
        assert_string_equal(s.keys[0], "sha256:p");
        assert_int_equal(s.has_ticket[0], 0);
        assert_int_equal(s.has_policy[0], 0);
        assert_string_equal(s.kinds[1], "decision");
        assert_string_equal(s.keys[1], "d-1");
        assert_int_equal(s.has_policy[1], 1);
        assert_int_equal(s.has_judged[1], 1);
        assert_int_equal(s.has_judged[3], 0);
        assert_string_equal(s.keys[2], "ev-1");
        assert_int_equal(s.has_ticket[2], 1);
        assert_int_equal(s.has_ticket[4], 0);
    }
    /* kind and [since, until) */
    s = scan_file(path, "decision", INT64_MIN, INT64_MAX);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.keys[2], "d-3");
    s = scan_file(path, "event", 15, 25);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.keys[0], "ev-1");
    assert_int_equal(s.time[0], 15);
    s = scan_file(path, "decision", 11, INT64_MAX);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.keys[0], "d-2");
    s = scan_file(path, "action", INT64_MIN, INT64_MAX);
    assert_int_equal(s.n, 0);
    memset(&s, 0, sizeof s);
    assert_int_equal(tg_evidence_scan(e, "event", INT64_MIN, 16, collect, &s),
                     0);
    assert_int_equal(s.n, 1);
    /* the callback stops the scan with its value */
    memset(&s, 0, sizeof s);
    s.stop_at = 2;
    assert_int_equal(tg_evidence_scan_file(path, NULL, INT64_MIN, INT64_MAX,
                                           collect, &s), 7);
    assert_int_equal(s.n, 2);
    memset(&s, 0, sizeof s);
    s.stop_at = 1;
    assert_int_equal(tg_evidence_scan(e, "decision", INT64_MIN, INT64_MAX,
                                      collect, &s), 7);
    tg_evidence_close(e);
    {
        char absent[320];

        snprintf(absent, sizeof absent, "%s/absent.db", tmpdir);
        memset(&s, 0, sizeof s);
        assert_int_equal(tg_evidence_scan_file(absent, NULL, INT64_MIN,
                                               INT64_MAX, collect, &s),
                         TG_EIO);
        assert_int_not_equal(access(absent, F_OK), 0);
    }
}

/* A store written before issue 13 verifies as it is, is read by the scans,
 * migrates at open without a row rewritten, and verifies with new rows
 * after its old ones. */
static void test_old_store(void **state)
{
    char path[300], *doc = NULL;
    char before[3][65];
    struct tg_evidence *e;
    struct seen s;
    struct tg_evidence_verdict v;

    (void)state;
    new_path(path, sizeof path);
    make_v1_store(path, 3);
    v = verify(path);
    assert_int_equal(v.intact, 1);
    assert_int_equal(v.count, 3);
    s = scan_file(path, "decision", INT64_MIN, INT64_MAX);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.keys[1], "d-2");
    assert_string_equal(s.kinds[1], "decision");
    assert_int_equal(s.has_judged[1], 0);
    s = scan_file(path, "event", INT64_MIN, INT64_MAX);
    assert_int_equal(s.n, 0);
    assert_int_equal(tg_evidence_get_entry_file(path, "policy", "x", &doc),
                     TG_ENOTFOUND);
    {
        /* export reads it as it is too: three lines, kind null */
        char out[320], line[1024];
        FILE *f;
        int lines = 0;

        snprintf(out, sizeof out, "%s/old-export.jsonl", tmpdir);
        f = fopen(out, "w+");
        assert_non_null(f);
        assert_int_equal(tg_evidence_export_file(path, INT64_MIN, f, NULL),
                         0);
        rewind(f);
        while (fgets(line, sizeof line, f)) {
            assert_non_null(strstr(line, "\"kind\":null"));
            lines++;
        }
        fclose(f);
        assert_int_equal(lines, 3);
    }
    /* nothing above wrote to it: still version 1 */
    assert_int_equal(sql_int(path, "PRAGMA user_version"), 1);
    for (int i = 0; i < 3; i++) {
        char q[80];
        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL;

        snprintf(q, sizeof q, "SELECT hash FROM records WHERE seq = %d",
                 i + 1);
        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db, q, -1, &st, NULL),
                         SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        snprintf(before[i], 65, "%s", sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
        sqlite3_close(db);
    }

    e = tg_ocs_open(path);
    assert_int_equal(decide(e, "d-4", "T-1", 400, JUDGED), 0);
    assert_int_equal(entry(e, "event", "ev-1", "T-1", 410, "{\"n\":1}"), 0);
    /* the old decisions are still found, and only they */
    assert_int_equal(tg_evidence_get(e, "d-2", &doc), 0);
    free(doc);
    tg_evidence_close(e);

    assert_int_equal(sql_int(path, "PRAGMA user_version"), 3);
    assert_int_equal(sql_int(path, "SELECT count(*) FROM records WHERE"
                                   " kind IS NULL AND judged IS NULL"), 3);
    for (int i = 0; i < 3; i++) {
        char q[320];

        snprintf(q, sizeof q, "SELECT count(*) FROM records WHERE seq = %d"
                 " AND hash = '%s'", i + 1, before[i]);
        assert_int_equal(sql_int(path, q), 1);
    }
    v = verify(path);
    assert_int_equal(v.intact, 1);
    assert_int_equal(v.count, 5);
    s = scan_file(path, "decision", INT64_MIN, INT64_MAX);
    assert_int_equal(s.n, 4);
    assert_int_equal(s.has_judged[2], 0);
    assert_int_equal(s.has_judged[3], 1);
}

/* Any change to what v2 adds is found: the judged ticket, an entry's
 * document, a policy's text, the kind (and with it the serialisation). */
static void test_tampering_v2(void **state)
{
    static const struct {
        const char *name, *sql;
        uint64_t broken;
        const char *why; /* in the reason, or NULL */
    } cases[] = {
        {"judged ticket altered",
         "UPDATE records SET judged = replace(judged, 'carol.diaz',"
         " 'mallory') WHERE seq = 4", 4, "altered"},
        {"judged ticket removed",
         "UPDATE records SET judged = NULL WHERE seq = 4", 4, NULL},
        {"judged ticket added to an old record",
         "UPDATE records SET judged = '{}' WHERE seq = 2", 2, "judged"},
        {"entry document altered",
         "UPDATE records SET decision = '{\"n\":2}' WHERE seq = 5", 5, NULL},
        {"policy text altered",
         "UPDATE records SET decision = replace(decision, 'max_days: 30',"
         " 'max_days: 365') WHERE kind = 'policy'", 6, NULL},
        {"kind changed", "UPDATE records SET kind = 'action' WHERE seq = 5",
         5, NULL},
        {"kind removed (posing as a v1 record)",
         "UPDATE records SET kind = NULL WHERE seq = 4", 4, NULL},
        {"entry key changed",
         "UPDATE records SET decision_id = 'event:ev-9' WHERE seq = 5", 5,
         NULL},
        {"facts altered",
         "UPDATE records SET facts = replace(facts, 'allow', 'deny')"
         " WHERE seq = 7", 7, "altered"},
        {"facts removed (posing as a v2 record)",
         "UPDATE records SET facts = NULL WHERE seq = 7", 7, "altered"},
        {"facts added to a v2 record",
         "UPDATE records SET facts = '{}' WHERE seq = 4", 4, "altered"},
        {"facts added to an old record",
         "UPDATE records SET facts = '{}' WHERE seq = 2", 2, "facts"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[300];
        struct tg_evidence *e;
        struct tg_evidence_verdict v;

        new_path(path, sizeof path);
        make_v1_store(path, 3);
        e = tg_ocs_open(path);
        assert_int_equal(decide(e, "d-4", "T-1", 400, JUDGED), 0);
        assert_int_equal(entry(e, "event", "ev-1", "T-1", 410, "{\"n\":1}"),
                         0);
        assert_int_equal(entry(e, "policy", "sha256:p", NULL, 420,
                               "{\"config\":\"policy:\\n  max_days: 30\\n\"}"),
                         0);
        assert_int_equal(decide_facts(e, "d-7", "T-1", 430, JUDGED, FACTS), 0);
        tg_evidence_close(e);
        assert_int_equal(verify(path).intact, 1);
        sql(path, cases[i].sql);
        v = verify(path);
        if (v.intact || v.broken_seq != cases[i].broken ||
            (cases[i].why && !strstr(v.reason, cases[i].why)))
            fail_msg("%s: intact %d, broken at %" PRIu64 ": %s",
                     cases[i].name, v.intact, v.broken_seq, v.reason);
    }
}

/* docs/EVIDENCE.md's Python verifier on a store of both serialisations. */
static void test_python_verifier_v2(void **state)
{
    char md[300], script[320], path[300], cmd[1200];
    FILE *f;
    char *text, *start, *end;
    long size;
    struct tg_evidence *e;

    (void)state;
    if (system("python3 -c 'import sqlite3, hmac' >/dev/null 2>&1") != 0)
        skip();
    snprintf(md, sizeof md, "%s/docs/EVIDENCE.md", TG_SOURCE_DIR);
    f = fopen(md, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, 0, SEEK_SET);
    text = calloc(1, (size_t)size + 1);
    assert_non_null(text);
    assert_int_equal(fread(text, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    start = strstr(text, "```python\n");
    assert_non_null(start);
    start += strlen("```python\n");
    end = strstr(start, "```");
    assert_non_null(end);
    snprintf(script, sizeof script, "%s/verify_evidence.py", tmpdir);
    f = fopen(script, "wb");
    assert_non_null(f);
    fwrite(start, 1, (size_t)(end - start), f);
    fclose(f);
    free(text);

    /* an old file no server opened since: no kind column at all */
    new_path(path, sizeof path);
    make_v1_store(path, 2);
    snprintf(cmd, sizeof cmd, "python3 %s %s >/dev/null", script, path);
    assert_int_equal(system(cmd), 0);
    e = tg_ocs_open(path);
    assert_int_equal(decide(e, "d-3", "T-1", 300, JUDGED), 0);
    assert_int_equal(entry(e, "policy", "sha256:p", NULL, 310, "{}"), 0);
    assert_int_equal(decide_facts(e, "d-5", "T-1", 320, JUDGED, FACTS), 0);
    tg_evidence_close(e);
    {
        struct tg_evidence_verdict v = verify(path);
        char out[256] = "";
        FILE *p;

        snprintf(cmd, sizeof cmd, "python3 %s %s", script, path);
        p = popen(cmd, "r");
        assert_non_null(p);
        assert_non_null(fgets(out, sizeof out, p));
        assert_int_equal(pclose(p), 0);
        assert_non_null(strstr(out, "ok: 5 records"));
        assert_non_null(strstr(out, v.head_hash));
    }
    /* a facts byte changed in the v3 row: caught by the script too */
    sql(path, "UPDATE records SET facts = replace(facts, 'alice', 'alicf')"
              " WHERE seq = 5");
    snprintf(cmd, sizeof cmd, "python3 %s %s 2>/dev/null", script, path);
    assert_int_equal(WEXITSTATUS(system(cmd)), 1);
    sql(path, "UPDATE records SET facts = replace(facts, 'alicf', 'alice')"
              " WHERE seq = 5");
    snprintf(cmd, sizeof cmd, "python3 %s %s >/dev/null", script, path);
    assert_int_equal(system(cmd), 0);
    sql(path, "UPDATE records SET judged = replace(judged, 'alice', 'bob')"
              " WHERE seq = 3");
    snprintf(cmd, sizeof cmd, "python3 %s %s 2>/dev/null", script, path);
    assert_int_equal(WEXITSTATUS(system(cmd)), 1);
}

/* Export carries every kind, with kind and judged. */
static void test_export_kinds(void **state)
{
    char path[300], out[320], line[4096];
    struct tg_evidence *e;
    FILE *f;
    int n = 0;

    (void)state;
    new_path(path, sizeof path);
    make_v1_store(path, 1);
    e = tg_ocs_open(path);
    assert_int_equal(decide(e, "d-2", "T-1", 300, JUDGED), 0);
    assert_int_equal(entry(e, "event", "ev-1", "T-1", 310, "{\"n\":1}"), 0);
    tg_evidence_close(e);
    snprintf(out, sizeof out, "%s/export.jsonl", tmpdir);
    f = fopen(out, "w+");
    assert_non_null(f);
    assert_int_equal(tg_evidence_export_file(path, INT64_MIN, f, NULL), 0);
    rewind(f);
    while (fgets(line, sizeof line, f)) {
        json_t *o = json_loads(line, 0, NULL);

        assert_non_null(o);
        n++;
        if (n == 1) {
            assert_true(json_is_null(json_object_get(o, "kind")));
            assert_true(json_is_null(json_object_get(o, "judged")));
        } else if (n == 2) {
            assert_string_equal(json_string_value(json_object_get(o, "kind")),
                                "decision");
            assert_string_equal(json_string_value(json_object_get(
                                    json_object_get(json_object_get(
                                        o, "judged"), "ticket"), "owner")),
                                "carol.diaz");
        } else {
            assert_string_equal(json_string_value(json_object_get(o, "kind")),
                                "event");
            assert_int_equal(json_integer_value(json_object_get(
                                 json_object_get(o, "decision"), "n")), 1);
        }
        json_decref(o);
    }
    fclose(f);
    assert_int_equal(n, 3);
}

/* Archive moves entries too; both halves verify. */
static void test_archive_kinds(void **state)
{
    char path[300], arch[320];
    struct tg_evidence *e;
    uint64_t moved = 0;

    (void)state;
    new_path(path, sizeof path);
    make_v1_store(path, 2);
    e = tg_ocs_open(path);
    assert_int_equal(entry(e, "event", "ev-1", NULL, 300, "{}"), 0);
    assert_int_equal(decide(e, "d-3", "T-1", 310, JUDGED), 0);
    assert_int_equal(entry(e, "event", "ev-2", NULL, 320, "{}"), 0);
    tg_evidence_close(e);
    snprintf(arch, sizeof arch, "%s.arch", path);
    assert_int_equal(tg_evidence_archive_file(path, 4, arch, NULL, 0, 2000,
                                              &moved), 0);
    assert_int_equal(moved, 3);
    assert_int_equal(verify(path).count, 2);
    assert_int_equal(verify(path).intact, 1);
    assert_int_equal(verify(arch).intact, 1);
    assert_int_equal(verify(arch).count, 3);
    assert_int_equal(scan_file(arch, "event", INT64_MIN, INT64_MAX).n, 1);
    assert_int_equal(scan_file(path, "event", INT64_MIN, INT64_MAX).n, 1);
}

/* An archive of an old store that no server opened since: the store is
 * brought to version 2 first. */
static void test_archive_old_store(void **state)
{
    char path[300], arch[320];
    uint64_t moved = 0;

    (void)state;
    new_path(path, sizeof path);
    make_v1_store(path, 4);
    snprintf(arch, sizeof arch, "%s.arch", path);
    assert_int_equal(tg_evidence_archive_file(path, 3, arch, NULL, 0, 2000,
                                              &moved), 0);
    assert_int_equal(moved, 2);
    assert_int_equal(verify(path).intact, 1);
    assert_int_equal(verify(path).count, 2);
    assert_int_equal(verify(arch).intact, 1);
    assert_int_equal(verify(arch).count, 2);
}

/* The hash of row seq of the store at path recomputed here from
 * docs/EVIDENCE.md (v1, v2 or v3 by its kind and facts) into out. */
static void hash_by_hand(const char *path, int seq, char out[65])
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char d[32];
    unsigned int len = 0;
    int v;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    /* a file of version 2 has no facts column: NULL in its place */
    if (sqlite3_prepare_v2(db,
        "SELECT seq, decision_id, ticket, source, delivery_id, body_sha256,"
        " policy, time, decision, just_norm, prev_hash, kind, judged, facts"
        " FROM records WHERE seq = ?1", -1, &st, NULL) != SQLITE_OK)
        assert_int_equal(sqlite3_prepare_v2(db,
            "SELECT seq, decision_id, ticket, source, delivery_id,"
            " body_sha256, policy, time, decision, just_norm, prev_hash,"
            " kind, judged, NULL FROM records WHERE seq = ?1", -1, &st,
            NULL), SQLITE_OK);
    sqlite3_bind_int(st, 1, seq);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    v = sqlite3_column_type(st, 11) == SQLITE_NULL   ? 1
        : sqlite3_column_type(st, 13) == SQLITE_NULL ? 2
                                                     : 3;
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    EVP_DigestUpdate(ctx, v == 1   ? "ticketgate-evidence-v1\n"
                          : v == 2 ? "ticketgate-evidence-v2\n"
                                   : "ticketgate-evidence-v3\n", 23);
    for (int i = 0; i < (v == 1 ? 11 : v == 2 ? 13 : 14); i++)
        feed(ctx, (const char *)sqlite3_column_text(st, i));
    EVP_DigestFinal_ex(ctx, d, &len);
    EVP_MD_CTX_free(ctx);
    for (int k = 0; k < 32; k++)
        snprintf(out + 2 * k, 3, "%02x", d[k]);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* v1, v2 and v3 rows in one chain: each hashed as docs/EVIDENCE.md says
 * (recomputed here), all verify, the scans hand the facts out with the
 * v3 row only. */
static void test_v3_chain(void **state)
{
    char path[300], q[320], calc[65];
    struct tg_evidence *e;
    struct tg_evidence_verdict v;
    struct seen s;

    (void)state;
    new_path(path, sizeof path);
    make_v1_store(path, 2);
    e = tg_ocs_open(path);
    assert_int_equal(decide(e, "d-3", "T-1", 300, JUDGED), 0);
    assert_int_equal(decide_facts(e, "d-4", "T-1", 400, JUDGED, FACTS), 0);
    assert_int_equal(entry(e, "event", "ev-1", "T-1", 410, "{\"n\":1}"), 0);
    /* a record with facts and no judged ticket: v3 all the same */
    assert_int_equal(decide_facts(e, "d-6", "T-2", 420, NULL, FACTS), 0);
    s.n = 0;
    memset(&s, 0, sizeof s);
    assert_int_equal(tg_evidence_scan(e, "decision", INT64_MIN, INT64_MAX,
                                      collect, &s), 0);
    assert_int_equal(s.n, 5);
    assert_int_equal(s.has_facts[2], 0);
    assert_int_equal(s.has_facts[3], 1);
    assert_int_equal(s.has_facts[4], 1);
    tg_evidence_close(e);
    for (int i = 1; i <= 6; i++) {
        hash_by_hand(path, i, calc);
        snprintf(q, sizeof q, "SELECT count(*) FROM records WHERE seq = %d"
                 " AND hash = '%s'", i, calc);
        if (sql_int(path, q) != 1)
            fail_msg("row %d is not hashed as docs/EVIDENCE.md says", i);
    }
    v = verify(path);
    assert_int_equal(v.intact, 1);
    assert_int_equal(v.count, 6);
    s = scan_file(path, NULL, INT64_MIN, INT64_MAX);
    assert_int_equal(s.n, 6);
    assert_int_equal(s.has_facts[1] + s.has_facts[2] + s.has_facts[4], 0);
    assert_int_equal(s.has_facts[3] + s.has_facts[5], 2);
    assert_int_equal(sql_int(path, "SELECT count(*) FROM records WHERE"
                                   " facts IS NOT NULL"), 2);
}

/* A store made before the facts (schema version 2: no facts column) is
 * read as it is, gets the column at its next open without a row
 * rewritten, keeps verifying, and its new rows carry facts; export and
 * archive carry them, and both halves of an archive verify. */
static void test_v2_store_gets_facts(void **state)
{
    char path[300], arch[320], arch2[320], out[320], line[4096];
    char before[3][65], q[320];
    struct tg_evidence *e;
    struct tg_evidence_verdict v;
    struct seen s;
    uint64_t moved = 0;
    FILE *f;
    int n = 0;

    (void)state;
    new_path(path, sizeof path);
    e = tg_ocs_open(path);
    assert_int_equal(decide(e, "d-1", "T-1", 100, JUDGED), 0);
    assert_int_equal(entry(e, "event", "ev-1", "T-1", 110, "{}"), 0);
    assert_int_equal(decide(e, "d-3", "T-1", 120, JUDGED), 0);
    tg_evidence_close(e);
    sql(path, "ALTER TABLE records DROP COLUMN facts; PRAGMA user_version=2");
    for (int i = 0; i < 3; i++) {
        hash_by_hand(path, i + 1, before[i]); /* v2 all three */
        snprintf(q, sizeof q, "SELECT count(*) FROM records WHERE seq = %d"
                 " AND hash = '%s'", i + 1, before[i]);
        assert_int_equal(sql_int(path, q), 1);
    }
    v = verify(path);
    assert_int_equal(v.intact, 1);
    assert_int_equal(v.count, 3);
    s = scan_file(path, "decision", INT64_MIN, INT64_MAX);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.has_facts[0] + s.has_facts[1], 0);
    assert_int_equal(sql_int(path, "PRAGMA user_version"), 2);

    e = tg_ocs_open(path);
    assert_int_equal(decide_facts(e, "d-4", "T-1", 130, JUDGED, FACTS), 0);
    tg_evidence_close(e);
    assert_int_equal(sql_int(path, "PRAGMA user_version"), 3);
    for (int i = 0; i < 3; i++) {
        snprintf(q, sizeof q, "SELECT count(*) FROM records WHERE seq = %d"
                 " AND hash = '%s' AND facts IS NULL", i + 1, before[i]);
        assert_int_equal(sql_int(path, q), 1);
    }
    v = verify(path);
    assert_int_equal(v.intact, 1);
    assert_int_equal(v.count, 4);
    s = scan_file(path, "decision", INT64_MIN, INT64_MAX);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.has_facts[2], 1);

    /* export: the facts embedded as an object, null before */
    snprintf(out, sizeof out, "%s/facts-export.jsonl", tmpdir);
    f = fopen(out, "w+");
    assert_non_null(f);
    assert_int_equal(tg_evidence_export_file(path, INT64_MIN, f, NULL), 0);
    rewind(f);
    while (fgets(line, sizeof line, f)) {
        json_t *o = json_loads(line, 0, NULL), *want = json_loads(FACTS, 0,
                                                                  NULL);

        assert_non_null(o);
        n++;
        if (n < 4)
            assert_true(json_is_null(json_object_get(o, "facts")));
        else
            assert_true(json_equal(json_object_get(o, "facts"), want));
        json_decref(want);
        json_decref(o);
    }
    fclose(f);
    assert_int_equal(n, 4);

    /* archive the v2 rows, then the v3 one: every file verifies */
    snprintf(arch, sizeof arch, "%s.arch", path);
    snprintf(arch2, sizeof arch2, "%s.arch2", path);
    assert_int_equal(tg_evidence_archive_file(path, 4, arch, NULL, 0, 2000,
                                              &moved), 0);
    assert_int_equal(moved, 3);
    assert_int_equal(verify(arch).intact, 1);
    assert_int_equal(verify(path).intact, 1);
    assert_int_equal(tg_evidence_archive_file(path, 5, arch2, NULL, 0, 2000,
                                              &moved), 0);
    assert_int_equal(moved, 1);
    v = verify(arch2);
    assert_int_equal(v.intact, 1);
    assert_int_equal(v.count, 1);
    s = scan_file(arch2, "decision", INT64_MIN, INT64_MAX);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.has_facts[0], 1);
    /* a changed facts byte in the archive is caught there */
    sql(arch2, "UPDATE records SET facts = replace(facts, '[]', '[ ]')");
    v = verify(arch2);
    assert_int_equal(v.intact, 0);
    assert_int_equal(v.broken_seq, 4);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/tg-chain-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[300];

    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_entries),
        cmocka_unit_test(test_entries_group_commit),
        cmocka_unit_test(test_scan),
        cmocka_unit_test(test_old_store),
        cmocka_unit_test(test_tampering_v2),
        cmocka_unit_test(test_python_verifier_v2),
        cmocka_unit_test(test_export_kinds),
        cmocka_unit_test(test_archive_kinds),
        cmocka_unit_test(test_archive_old_store),
        cmocka_unit_test(test_v3_chain),
        cmocka_unit_test(test_v2_store_gets_facts),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
