/* pgoutbox.c - the outbox of act-back actions on PostgreSQL (outbox.c's). */

#include "server/store/pg.h"

#include <stdlib.h>
#include <string.h>

#include "server/store/attempt.h"
#include "server/util/clock.h"
#include "validators/errors.h"

#define OUTBOX_COLUMNS                                                         \
    "id, decision_id, ticket, system, action, params, state, attempts, "       \
    "next_at, created_at, last_error, tries"
#define OUTBOX_LIST_MAX "1000"
#define OUTBOX_CLAIM_MAX 1000

int tg_pg_outbox_valid(const char *actions_json)
{
    return tg_outbox_actions_valid(actions_json);
}

/* Runs sql with parameters v: 0 with *res (may be NULL: cleared), or
 * TG_EBUSY / TG_EIO. */
static int run(PGconn *db, const char *sql, int n, const char *const *v,
               PGresult **res)
{
    PGresult *r = PQexecParams(db, sql, n, NULL, v, NULL, NULL, 0);
    int rc;

    if (PQresultStatus(r) == PGRES_COMMAND_OK ||
        PQresultStatus(r) == PGRES_TUPLES_OK) {
        if (res)
            *res = r;
        else
            PQclear(r);
        return 0;
    }
    rc = tg_pg_fail(r);
    PQclear(r);
    return rc;
}

int tg_pg_outbox_insert(PGconn *db, const struct tg_evidence_record *r)
{
    json_t *v = json_loads(r->actions_json, 0, NULL), *a;
    char now[24];
    size_t i;
    int rc = TG_EIO;

    if (!json_is_array(v) || !tg_chain_int_text(tg_clock_wall_ms(), now, sizeof now))
        goto out;
    json_array_foreach(v, i, a)
    {
        const char *p[6];
        char *params;

        if (!tg_outbox_action_ok(a))
            goto out;
        if (!(params = json_dumps(json_object_get(a, "params"),
                                  JSON_COMPACT | JSON_SORT_KEYS)))
            goto out;
        p[0] = r->decision_id;
        p[1] = r->ticket;
        p[2] = json_string_value(json_object_get(a, "system"));
        p[3] = json_string_value(json_object_get(a, "action"));
        p[4] = params;
        p[5] = now;
        rc = run(db,
                 "INSERT INTO outbox(decision_id, ticket, system, action,"
                 " params, state, next_at, created_at, updated_at) VALUES"
                 " ($1, $2, $3, $4, $5, 'pending', $6, $6, $6)",
                 6, p, NULL);
        free(params);
        if (rc)
            goto out;
    }
    rc = 0;
out:
    json_decref(v);
    return rc;
}

/* Row i of res (OUTBOX_COLUMNS) as an action object with its "try", or
 * NULL. */
static json_t *row_json(const PGresult *res, int i)
{
    const char *params = PQgetvalue(res, i, 5);
    json_t *o = json_object();

    if (!o ||
        json_object_set_new(o, "id", json_integer(tg_pg_i64(res, i, 0))) ||
        json_object_set_new(o, "decision_id",
                            json_string(PQgetvalue(res, i, 1))) ||
        json_object_set_new(o, "ticket", json_string(PQgetvalue(res, i, 2))) ||
        json_object_set_new(o, "system", json_string(PQgetvalue(res, i, 3))) ||
        json_object_set_new(o, "action", json_string(PQgetvalue(res, i, 4))) ||
        json_object_set_new(o, "params", json_loads(params, 0, NULL)) ||
        json_object_set_new(o, "state", json_string(PQgetvalue(res, i, 6))) ||
        json_object_set_new(o, "attempts",
                            json_integer(tg_pg_i64(res, i, 7))) ||
        json_object_set_new(o, "next_at", json_integer(tg_pg_i64(res, i, 8))) ||
        json_object_set_new(o, "created_at",
                            json_integer(tg_pg_i64(res, i, 9))) ||
        json_object_set_new(o, "last_error",
                            PQgetisnull(res, i, 10)
                                ? json_null()
                                : json_string(PQgetvalue(res, i, 10)))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* Every row of res as an array in *out (with "try" when tries). */
static int rows_json(const PGresult *res, int tries, json_t **out)
{
    json_t *arr = json_array();

    if (!arr)
        return TG_ENOMEM;
    for (int i = 0; i < PQntuples(res); i++) {
        json_t *o = row_json(res, i);

        if (!o || json_array_append_new(arr, o) ||
            (tries && json_object_set_new(
                          o, "try", json_integer(tg_pg_i64(res, i, 11))))) {
            json_decref(arr);
            return TG_ENOMEM;
        }
    }
    *out = arr;
    return 0;
}

int tg_pg_outbox_claim(struct tg_pg *e, int64_t now_ms, int max,
                       int64_t lease_ms, json_t **out)
{
    char now[24], end[24], lim[24];
    const char *v[3] = {now, end, lim};
    PGresult *res = NULL;
    PGconn *db = NULL;
    int rc;

    if (!e || !out || max <= 0 || lease_ms < 0 || now_ms > INT64_MAX - lease_ms)
        return TG_EINVAL;
    if (max > OUTBOX_CLAIM_MAX)
        max = OUTBOX_CLAIM_MAX;
    if (!tg_chain_int_text(now_ms, now, sizeof now) ||
        !tg_chain_int_text(now_ms + lease_ms, end, sizeof end) ||
        !tg_chain_int_text(max, lim, sizeof lim))
        return TG_EINVAL;
    if (tg_pg_conn_get(e, &db))
        return TG_EIO;
    /* SKIP LOCKED: replicas claiming at once take different actions; one
     * statement, so the lease is taken atomically */
    rc = run(db,
             "WITH due AS (SELECT id FROM outbox"
             " WHERE state IN ('pending', 'inflight') AND next_at <= $1"
             " ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED),"
             " taken AS (UPDATE outbox o SET state = 'inflight',"
             " next_at = $2, attempts = attempts + 1, tries = tries + 1,"
             " updated_at = $1 FROM due WHERE o.id = due.id"
             " RETURNING o.id, o.decision_id, o.ticket, o.system, o.action,"
             " o.params, o.state, o.attempts, o.next_at, o.created_at,"
             " o.last_error, o.tries)"
             " SELECT * FROM taken ORDER BY id",
             3, v, &res);
    tg_pg_conn_put(e, db, rc == 0);
    if (rc)
        return rc == TG_EBUSY ? TG_EBUSY : TG_EIO;
    rc = rows_json(res, 1, out);
    PQclear(res);
    return rc;
}

/* In the writer's transaction, after the attempt's chain entry. */
static int settle_tx(struct tg_pg *e, PGconn *db, void *arg)
{
    struct tg_outbox_settle *a = arg;
    char id[24], next[24], now[24], tries[24];
    const char *state =
        strcmp(a->outcome, "retry") == 0 ? "pending" : a->outcome;
    const char *v[6] = {id, state, next, a->error, now, tries};

    (void)e;
    if (!tg_chain_int_text(a->id, id, sizeof id) ||
        !tg_chain_int_text(strcmp(a->outcome, "retry") == 0 ? a->next_at
                                                            : a->now,
                           next, sizeof next) ||
        !tg_chain_int_text(a->now, now, sizeof now) ||
        !tg_chain_int_text(a->tries, tries, sizeof tries))
        return TG_EIO;
    return run(db,
               "UPDATE outbox SET state = $2, next_at = $3, last_error = $4,"
               " updated_at = $5 WHERE id = $1 AND state = 'inflight'"
               " AND tries = $6",
               6, v, NULL);
}

/* The row of action id (with "try"): 0, TG_ENOTFOUND, TG_EIO. */
static int read_action(struct tg_pg *e, int64_t id, json_t **row)
{
    char s[24];
    const char *v[1] = {s};
    PGresult *res = NULL;
    PGconn *db = NULL;
    json_t *arr = NULL;
    int rc;

    if (!tg_chain_int_text(id, s, sizeof s) || tg_pg_conn_get(e, &db))
        return TG_EIO;
    rc = run(db, "SELECT " OUTBOX_COLUMNS " FROM outbox WHERE id = $1", 1, v,
             &res);
    tg_pg_conn_put(e, db, rc == 0);
    if (rc)
        return TG_EIO;
    if (PQntuples(res) == 0)
        rc = TG_ENOTFOUND;
    else if ((rc = rows_json(res, 1, &arr)) == 0)
        *row = json_incref(json_array_get(arr, 0));
    json_decref(arr);
    PQclear(res);
    return rc;
}

static int read_row(void *e, int64_t id, json_t **row)
{
    return read_action(e, id, row);
}

/* The attempt's entry and its row in one transaction of the writer. */
static int enqueue_settle(void *e, struct tg_outbox_settle *a)
{
    struct tg_pg_item it;

    memset(&it, 0, sizeof it);
    memcpy(it.en_sha, a->en_sha, sizeof it.en_sha);
    it.en = &a->en;
    it.en_id = a->en_id;
    it.tx = settle_tx;
    it.tx_arg = a;
    return tg_pg_enqueue(e, &it);
}

int tg_pg_outbox_settle(struct tg_pg *e, int64_t id, const char *outcome,
                        int64_t next_at_ms, const char *error)
{
    if (!e)
        return TG_EINVAL;
    return tg_outbox_settle_run(e, id, outcome, next_at_ms, error, read_row,
                                enqueue_settle);
}

static int list_db(PGconn *db, const char *ticket, json_t **out)
{
    PGresult *res = NULL;
    json_t *doc, *arr = NULL;
    int rc;

    rc = ticket ? run(db,
                      "SELECT " OUTBOX_COLUMNS " FROM outbox WHERE ticket = $1"
                      " ORDER BY id LIMIT " OUTBOX_LIST_MAX,
                      1, &ticket, &res)
                : run(db,
                      "SELECT " OUTBOX_COLUMNS " FROM outbox ORDER BY id"
                      " LIMIT " OUTBOX_LIST_MAX,
                      0, NULL, &res);
    if (rc)
        return TG_EIO;
    rc = rows_json(res, 0, &arr);
    PQclear(res);
    if (rc)
        return rc;
    if (!(doc = json_object()) || json_object_set_new(doc, "actions", arr)) {
        json_decref(doc);
        return TG_ENOMEM;
    }
    *out = doc;
    return 0;
}

int tg_pg_outbox_list(struct tg_pg *e, const char *ticket, json_t **out)
{
    PGconn *db = NULL;
    int rc;

    if (!e || !out)
        return TG_EINVAL;
    if (tg_pg_conn_get(e, &db))
        return TG_EIO;
    rc = list_db(db, ticket, out);
    tg_pg_conn_put(e, db, rc != TG_EIO);
    return rc;
}

int tg_pg_outbox_list_file(const char *url, const char *ticket, json_t **out)
{
    PGconn *db = NULL;
    const char *why;
    int rc;

    if (!url || !out)
        return TG_EINVAL;
    if (tg_pg_connect(url, 0, &db, &why))
        return TG_EIO;
    rc = list_db(db, ticket, out);
    PQfinish(db);
    return rc;
}

int tg_pg_outbox_stats(struct tg_pg *e, long *pending,
                       int64_t *oldest_created_ms)
{
    PGresult *res = NULL;
    PGconn *db = NULL;
    int rc;

    if (!e || !pending || !oldest_created_ms)
        return TG_EINVAL;
    if (tg_pg_conn_get(e, &db))
        return TG_EIO;
    rc = run(db,
             "SELECT count(*), coalesce(min(created_at), 0) FROM outbox"
             " WHERE state IN ('pending', 'inflight')",
             0, NULL, &res);
    tg_pg_conn_put(e, db, rc == 0);
    if (rc)
        return TG_EIO;
    *pending = (long)tg_pg_i64(res, 0, 0);
    *oldest_created_ms = tg_pg_i64(res, 0, 1);
    PQclear(res);
    return 0;
}

/* Changes action id by sql ($1 id, $2 now): 0, TG_ENOTFOUND, TG_EINVAL
 * (in another state), TG_EBUSY, TG_EIO. */
static int change_file(const char *url, int64_t id, const char *sql)
{
    char s[24], now[24];
    const char *v[2] = {s, now};
    PGresult *res = NULL;
    PGconn *db = NULL;
    const char *why;
    int rc;

    if (!url || !tg_chain_int_text(id, s, sizeof s) ||
        !tg_chain_int_text(tg_clock_wall_ms(), now, sizeof now))
        return TG_EINVAL;
    if (tg_pg_connect(url, 0, &db, &why))
        return TG_EIO;
    if ((rc = run(db, "SELECT 1 FROM outbox WHERE id = $1", 1, v, &res)))
        goto out;
    rc = PQntuples(res) ? 0 : TG_ENOTFOUND;
    PQclear(res);
    res = NULL;
    if (rc || (rc = run(db, sql, 2, v, &res)))
        goto out;
    rc = strcmp(PQcmdTuples(res), "0") == 0 ? TG_EINVAL : 0;
out:
    PQclear(res);
    PQfinish(db);
    return rc;
}

int tg_pg_outbox_retry_file(const char *url, int64_t id)
{
    return change_file(url, id,
                       "UPDATE outbox SET state = 'pending', next_at = $2,"
                       " attempts = 0, updated_at = $2 WHERE id = $1"
                       " AND state IN ('dead', 'dropped', 'pending')");
}

int tg_pg_outbox_drop_file(const char *url, int64_t id)
{
    return change_file(url, id,
                       "UPDATE outbox SET state = 'dropped', updated_at = $2"
                       " WHERE id = $1"
                       " AND state IN ('pending', 'inflight', 'dead')");
}
