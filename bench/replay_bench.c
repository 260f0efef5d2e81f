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
 * Makes N decisions of the tickets of TICKETS.jsonl (one canonical ticket a
 * line, taken in turn), each a ticket of its own: id BENCH-<k> and the
 * template's justification followed by " Ref <k>." (so that no two share
 * one: a store of copied justifications would replay as copy-forward
 * findings the recorded decisions never had), decided under CONFIG through
 * tg_decide one second apart from 2026-12-01T00:00:00Z, with their judged
 * tickets and facts documents: real decisions, as serve makes them. The first is recorded
 * through the store API (which creates the store); the rest are inserted
 * in one SQLite transaction, because appending a million records one by
 * one through the API takes minutes. Their hash columns are left empty:
 * the store is for timing replay, which reads and does not verify (`audit
 * verify` would refuse it).
 *
 * Build: cmake --build build-rel --target replay_bench (bench/replay_bench.sh
 * does it and times the replay).
 */

#define MAX_TEMPLATES 4096
#define T0 "2026-12-01T00:00:00Z"

/* One decision, its texts malloc'd. */
struct made {
    char id[32];
    char *ticket, *doc, *judged, *facts;
};

static void made_free(struct made *m)
{
    free(m->ticket);
    free(m->doc);
    free(m->judged);
    free(m->facts);
    memset(m, 0, sizeof(*m));
}

/* Ticket k from template t (its justification just, as read), decided at
 * now under c into m. Returns 0, 1 (skip: nothing to record) or -1. */
static int make(const struct tg_config *c, json_t *t, const char *just,
                long k, int64_t now, struct made *m)
{
    const struct tg_decide d = {.cfg = c, .now = now, .gated = 1};
    char id[32], *j2 = NULL, err[256];
    struct tg_decided o;
    size_t n;
    int rc = -1;

    snprintf(id, sizeof id, "BENCH-%ld", k);
    n = strlen(just) + 32;
    if (!(j2 = malloc(n)))
        return -1;
    snprintf(j2, n, "%s Ref %ld.", just, k);
    json_object_set_new(t, "id", json_string(id));
    json_object_set_new(t, "justification", json_string(j2));
    tg_decided_init(&o, err, sizeof err);
    if (tg_decide(&d, t, &o) != 0) {
        fprintf(stderr, "replay_bench: a ticket does not decide (%s)\n", err);
        goto out;
    }
    rc = 1;
    if (o.result.verdict == TG_SKIP || !o.judged)
        goto out;
    rc = -1;
    snprintf(m->id, sizeof m->id, "d-%012ld-bench", k);
    json_object_set_new(o.doc, "decision_id", json_string(m->id));
    if (!(m->ticket = strdup(id)) ||
        !(m->doc = json_dumps(o.doc, JSON_COMPACT)) ||
        !(m->judged = json_dumps(o.judged, JSON_COMPACT)) ||
        !o.facts || !(m->facts = json_dumps(o.facts, JSON_COMPACT)))
        goto out;
    rc = 0;
out:
    if (rc != 0)
        made_free(m);
    free(j2);
    tg_decided_cleanup(&o);
    return rc;
}

/* The first decision, through the API: the store and its schema. */
static int first(const struct tg_config *c, const struct made *m,
                 int64_t now)
{
    struct tg_evidence *e = NULL;
    struct tg_evidence_record r;
    int rc;

    if (tg_evidence_open(c, &e) != 0)
        return -1;
    memset(&r, 0, sizeof r);
    r.decision_id = m->id;
    r.ticket = m->ticket;
    r.source = "generic";
    memcpy(r.body_sha256, m->id, 16);
    r.policy_digest = c->digest;
    r.time = now;
    r.decision_json = m->doc;
    r.decision_len = strlen(m->doc);
    r.judged_json = m->judged;
    r.judged_len = strlen(m->judged);
    r.facts_json = m->facts;
    r.facts_len = strlen(m->facts);
    rc = tg_evidence_append(e, &r);
    tg_evidence_close(e);
    return rc == 0 ? 0 : -1;
}

/* The tickets to decide: the templates of TICKETS.jsonl and their
 * justifications as read. */
struct templates {
    json_t *tpl[MAX_TEMPLATES];
    char *just[MAX_TEMPLATES];
    size_t n;
};

/* Reads up to MAX_TEMPLATES tickets of f into t (lines that are no JSON
 * skipped). 0, or -1 when out of memory. */
static int read_templates(FILE *f, struct templates *t)
{
    static char line[65536];

    while (t->n < MAX_TEMPLATES && fgets(line, sizeof line, f)) {
        const char *j;
        if (!(t->tpl[t->n] = json_loads(line, 0, NULL)))
            continue;
        j = json_string_value(json_object_get(t->tpl[t->n], "justification"));
        if (!(t->just[t->n] = strdup(j ? j : ""))) {
            json_decref(t->tpl[t->n]);
            return -1;
        }
        t->n++;
    }
    return 0;
}

/* Decisions k on (one a second from t0) into the store at path, in one
 * transaction, each a copy of its first record with its own texts, until
 * *made reaches n. 0, 1 (a ticket does not decide) or -1 (SQLite; said). */
static int insert_rest(const struct tg_config *c, const struct templates *t,
                       const char *path, long n, long k, int64_t t0,
                       long *made)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc = -1;

    if (sqlite3_open(path, &db) != SQLITE_OK ||
        sqlite3_exec(db, "PRAGMA synchronous=OFF; BEGIN", NULL, NULL,
                     NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(
            db,
            "INSERT INTO records(decision_id, ticket, source, delivery_id,"
            " body_sha256, policy, time, decision, just_norm, prev_hash, hash,"
            " mac, kind, judged, facts) SELECT ?1, ?2, source, NULL,"
            " body_sha256, policy, ?3, ?4, NULL, '', '', NULL, kind, ?5, ?6"
            " FROM records"
            " ORDER BY seq LIMIT 1",
            -1, &st, NULL) != SQLITE_OK)
        goto sql_fail;
    for (; *made < n; k++) {
        struct made m = {{0}, NULL, NULL, NULL, NULL};
        int r = make(c, t->tpl[k % t->n], t->just[k % t->n], k, t0 + k, &m);
        if (r < 0) {
            rc = 1;
            goto out;
        }
        if (r > 0)
            continue;
        sqlite3_bind_text(st, 1, m.id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, m.ticket, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, t0 + k);
        sqlite3_bind_text(st, 4, m.doc, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, m.judged, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 6, m.facts, -1, SQLITE_STATIC);
        r = sqlite3_step(st);
        sqlite3_reset(st);
        made_free(&m);
        if (r != SQLITE_DONE)
            goto sql_fail;
        (*made)++;
    }
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        goto sql_fail;
    rc = 0;
    goto out;
sql_fail:
    fprintf(stderr, "replay_bench: %s\n",
            db ? sqlite3_errmsg(db) : "cannot open the store");
out:
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

int main(int argc, char **argv)
{
    struct tg_config *c = NULL;
    static struct templates t;
    struct tg_diag d;
    FILE *f = NULL;
    long n, made = 0, k = 0;
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
    if (!(c->store.path = strdup(argv[2])) || !(f = fopen(argv[4], "r")) ||
        read_templates(f, &t) != 0)
        goto out;
    tg_time_parse(T0, strlen(T0), &t0);
    for (; made == 0 && k < n * 2 && t.n; k++) {
        struct made m = {{0}, NULL, NULL, NULL, NULL};
        int rc = make(c, t.tpl[k % t.n], t.just[k % t.n], k, t0 + k, &m);
        if (rc < 0 || (rc == 0 && first(c, &m, t0 + k) != 0))
            goto out;
        made += rc == 0;
        made_free(&m);
    }
    if (made == 0) {
        fputs("replay_bench: no ticket makes a decision to record\n", stderr);
        goto out;
    }
    if (insert_rest(c, &t, argv[2], n, k, t0, &made) != 0)
        goto out;
    printf("replay_bench: %ld decisions in %s (%zu templates)\n", made,
           argv[2], t.n);
    code = 0;
out:
    if (f)
        fclose(f);
    for (size_t i = 0; i < t.n; i++) {
        json_decref(t.tpl[i]);
        free(t.just[i]);
    }
    tg_config_free(c);
    tg_diag_cleanup(&d);
    return code;
}
