/* replay_bench.c - makes a store of N real decisions for timing `replay`. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sqlite3.h>

#include "server/config/config.h"
#include "server/core/decide.h"
#include "server/store/store.h"
#include "validators/errors.h"
#include "validators/timeparse.h"

/*
 * usage: replay_bench CONFIG STORE N TICKETS.jsonl
 *
 * Decides each ticket of TICKETS.jsonl (one canonical ticket a line, at
 * most MAX_TEMPLATES) under CONFIG through tg_decide, one a minute from
 * 2026-12-01T00:00:00Z, and records it through the store API with its
 * judged ticket: real records, as serve writes them. Then, in one SQLite
 * transaction, copies those rows over and over until the store holds N
 * decisions (fresh decision ids and ticket ids; the decision documents and
 * judged tickets are the templates' own). Appending a million records one
 * by one through the API takes minutes; this takes seconds. The copies'
 * hash columns are left empty: the store is for timing replay, which
 * reads, and does not verify (`audit verify` would refuse it).
 *
 * Build: cmake --build build-rel --target replay_bench (bench/replay_bench.sh
 * does it and times the replay).
 */

#define MAX_TEMPLATES 4096
#define T0 "2026-12-01T00:00:00Z"

static int next_id(void *ctx, const struct tg_ticket *t, uint64_t *seq,
                   unsigned char rnd[3])
{
    (void)t;
    *seq = tg_evidence_next_seq(ctx);
    rnd[0] = (unsigned char)(*seq >> 16);
    rnd[1] = (unsigned char)(*seq >> 8);
    rnd[2] = (unsigned char)*seq;
    return 0;
}

/* Decides v at now under c and records it with its judged ticket. */
static int record(const struct tg_config *c, struct tg_evidence *e,
                  const json_t *v, int64_t now)
{
    const struct tg_decide d = {
        .cfg = c, .now = now, .gated = 1, .id = next_id, .ctx = e};
    struct tg_evidence_record r;
    struct tg_decided o;
    char err[256], *doc = NULL, *judged = NULL;
    int rc;

    tg_decided_init(&o, err, sizeof err);
    if ((rc = tg_decide(&d, v, &o)) != 0) {
        fprintf(stderr, "replay_bench: a ticket does not decide (%s)\n", err);
        goto out;
    }
    rc = TG_ENOMEM;
    if (o.result.verdict == TG_SKIP || !o.judged)
        goto out_skip;
    if (!(doc = json_dumps(o.doc, JSON_COMPACT)) ||
        !(judged = json_dumps(o.judged, JSON_COMPACT)))
        goto out;
    memset(&r, 0, sizeof r);
    r.decision_id = o.decision_id;
    r.ticket = o.ticket.id;
    r.source = "generic";
    memcpy(r.body_sha256, o.decision_id, 16);
    r.policy_digest = c->digest;
    r.time = now;
    r.decision_json = doc;
    r.decision_len = strlen(doc);
    r.judged_json = judged;
    r.judged_len = strlen(judged);
    rc = tg_evidence_append(e, &r);
    goto out;
out_skip:
    rc = 1; /* not recorded */
out:
    free(doc);
    free(judged);
    tg_decided_cleanup(&o);
    return rc;
}

/* Copies the template rows until the store holds n decisions. */
static int expand(const char *path, long n)
{
    static const char *const sql =
        "BEGIN;"
        "CREATE TEMP TABLE tpl AS SELECT row_number() OVER (ORDER BY seq) - 1"
        " AS i, * FROM records;"
        "WITH RECURSIVE cnt(k) AS (SELECT (SELECT count(*) FROM tpl)"
        " UNION ALL SELECT k + 1 FROM cnt WHERE k + 1 < ?1)"
        " INSERT INTO records(decision_id, ticket, source, delivery_id,"
        " body_sha256, policy, time, decision, just_norm, prev_hash, hash,"
        " mac, kind, judged)"
        " SELECT 'd-bench-' || k, tpl.ticket || '-' || k, tpl.source, NULL,"
        " tpl.body_sha256, tpl.policy, tpl.time, tpl.decision, NULL, '', '',"
        " NULL, tpl.kind, tpl.judged FROM cnt JOIN tpl"
        " ON tpl.i = k % (SELECT count(*) FROM tpl);"
        "COMMIT;";
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    const char *tail = sql;
    int rc = SQLITE_OK;

    if (sqlite3_open(path, &db) != SQLITE_OK)
        goto out;
    sqlite3_exec(db, "PRAGMA synchronous=OFF", NULL, NULL, NULL);
    while (rc == SQLITE_OK && tail && *tail) {
        if ((rc = sqlite3_prepare_v2(db, tail, -1, &st, &tail)) != SQLITE_OK)
            break;
        if (!st)
            break;
        if (sqlite3_bind_parameter_count(st) > 0)
            sqlite3_bind_int64(st, 1, n);
        rc = sqlite3_step(st);
        rc = rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
        sqlite3_finalize(st);
        st = NULL;
    }
out:
    if (rc != SQLITE_OK || !db)
        fprintf(stderr, "replay_bench: %s\n",
                db ? sqlite3_errmsg(db) : "cannot open the store");
    sqlite3_close(db);
    return rc == SQLITE_OK && db ? 0 : -1;
}

int main(int argc, char **argv)
{
    struct tg_config *c = NULL;
    struct tg_evidence *e = NULL;
    struct tg_diag d;
    FILE *f = NULL;
    char line[65536];
    long n, made = 0;
    int64_t t0;
    int code = 1;

    tg_diag_init(&d);
    if (argc != 5 || (n = strtol(argv[3], NULL, 10)) < 1) {
        fputs("usage: replay_bench CONFIG STORE N TICKETS.jsonl\n", stderr);
        return 2;
    }
    if (tg_config_load(argv[1], &c, &d) != 0) {
        fprintf(stderr, "%s\n", d.n ? d.msgs[0] : "config does not load");
        goto out;
    }
    free(c->store.path);
    if (!(c->store.path = strdup(argv[2])) || tg_evidence_open(c, &e) != 0 ||
        !(f = fopen(argv[4], "r")))
        goto out;
    tg_time_parse(T0, strlen(T0), &t0);
    while (made < MAX_TEMPLATES && made < n && fgets(line, sizeof line, f)) {
        json_t *v = json_loads(line, 0, NULL);
        int rc;
        if (!v)
            continue;
        rc = record(c, e, v, t0 + made * 60);
        json_decref(v);
        if (rc < 0) {
            fprintf(stderr, "replay_bench: cannot record a template\n");
            goto out;
        }
        made += rc == 0;
    }
    tg_evidence_close(e);
    e = NULL;
    if (made == 0 || expand(argv[2], n) != 0)
        goto out;
    printf("replay_bench: %ld decisions in %s (%ld distinct tickets)\n", n,
           argv[2], made);
    code = 0;
out:
    if (f)
        fclose(f);
    tg_evidence_close(e);
    tg_config_free(c);
    tg_diag_cleanup(&d);
    return code;
}
