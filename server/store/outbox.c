/* outbox.c - the act-back outbox: actions queued with their record, leased
 * to the sender, settled into the chain (issue 12, PLAN.md Interface 3). */

#include "server/store/internal.h"
#include "server/store/attempt.h"
#include "server/util/clock.h"

/*
 * One row per action. Not part of the chain: it says what is left to do,
 * while the chain says what was decided and (entries of kind "action")
 * what each attempt came to. next_at is when a pending action is due, or
 * when the lease of an inflight one runs out. attempts counts since the
 * action was queued or retried by hand; tries over its whole life (the
 * chain entries' keys, "<id>:<tries>", never repeat).
 */
const char tg_sq_outbox_schema[] =
    "CREATE TABLE IF NOT EXISTS outbox("
    " id INTEGER PRIMARY KEY,"
    " decision_id TEXT NOT NULL,"
    " ticket TEXT NOT NULL,"
    " system TEXT NOT NULL,"
    " action TEXT NOT NULL,"
    " params TEXT NOT NULL,"
    " state TEXT NOT NULL,"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " tries INTEGER NOT NULL DEFAULT 0,"
    " next_at INTEGER NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL,"
    " last_error TEXT);"
    "CREATE INDEX IF NOT EXISTS outbox_due ON outbox(state, next_at);"
    "CREATE INDEX IF NOT EXISTS outbox_ticket ON outbox(ticket, id);"
    /* The claim walks the open actions oldest first; over outbox_due
     * SQLite sorted every due row on each claim (3 ms at 20,000 due,
     * inside the writer's transaction: time taken from decisions after
     * an outage). Open rows only, so the index stays small. */
    "CREATE INDEX IF NOT EXISTS outbox_open ON outbox(id, next_at)"
    " WHERE state IN ('pending', 'inflight');";

#define OUTBOX_COLUMNS                                                     \
    "id, decision_id, ticket, system, action, params, state, attempts, "   \
    "next_at, created_at, last_error, tries"
#define OUTBOX_LIST_MAX 1000
#define OUTBOX_CLAIM_MAX 1000

#define TEXT(st, i) ((const char *)sqlite3_column_text((st), (i)))

static int sql_fail(int rc)
{
    return tg_sq_map(rc) == TG_EBUSY ? TG_EBUSY : TG_EIO;
}

/* 1 when actions_json is an array of tg_outbox_action_ok items
 * (tg_evidence_append checks before queueing). */
int tg_sq_outbox_valid(const char *actions_json)
{
    return tg_outbox_actions_valid(actions_json);
}

/*
 * Inserts the actions of r (r->actions_json, an array of action_ok items)
 * as pending, due now, inside the writer's open transaction on db. Called
 * by insert_one right after r's record. Returns 0 or TG_EIO (also for a
 * malformed array: the record must not commit without its actions).
 */
int tg_sq_outbox_insert(sqlite3 *db, const struct tg_evidence_record *r)
{
    sqlite3_stmt *st = NULL;
    json_t *v = NULL, *a;
    int64_t now = tg_clock_wall_ms();
    size_t i;
    int rc = TG_EIO;

    v = json_loads(r->actions_json, 0, NULL);
    if (!json_is_array(v))
        goto out;
    if (json_array_size(v) == 0) {
        rc = 0;
        goto out;
    }
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO outbox(decision_id, ticket, system,"
                           " action, params, state, next_at, created_at,"
                           " updated_at) VALUES (?1, ?2, ?3, ?4, ?5,"
                           " 'pending', ?6, ?6, ?6)",
                           -1, &st, NULL) != SQLITE_OK)
        goto out;
    json_array_foreach(v, i, a) {
        char *params;
        int src;

        if (!tg_outbox_action_ok(a))
            goto out;
        params = json_dumps(json_object_get(a, "params"),
                            JSON_COMPACT | JSON_SORT_KEYS);
        if (!params)
            goto out;
        sqlite3_bind_text(st, 1, r->decision_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, r->ticket, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, json_string_value(json_object_get(a, "system")),
                          -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, json_string_value(json_object_get(a, "action")),
                          -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, params, -1, free);
        sqlite3_bind_int64(st, 6, now);
        src = sqlite3_step(st);
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        if (src != SQLITE_DONE) {
            rc = sql_fail(src);
            goto out;
        }
    }
    rc = 0;
out:
    sqlite3_finalize(st);
    json_decref(v);
    return rc;
}

/* The row st is on (OUTBOX_COLUMNS) as an action object, or NULL. */
static json_t *row_json(sqlite3_stmt *st)
{
    const char *params = (const char *)sqlite3_column_text(st, 5);
    const char *err = (const char *)sqlite3_column_text(st, 10);
    json_t *o = json_object();

    /* set_new takes its value's reference even when it fails, so one
     * failure anywhere leaves nothing to free but o. */
    if (!o ||
        json_object_set_new(o, "id",
                            json_integer(sqlite3_column_int64(st, 0))) ||
        json_object_set_new(o, "decision_id", json_string(TEXT(st, 1))) ||
        json_object_set_new(o, "ticket", json_string(TEXT(st, 2))) ||
        json_object_set_new(o, "system", json_string(TEXT(st, 3))) ||
        json_object_set_new(o, "action", json_string(TEXT(st, 4))) ||
        json_object_set_new(o, "params",
                            params ? json_loads(params, 0, NULL) : NULL) ||
        json_object_set_new(o, "state", json_string(TEXT(st, 6))) ||
        json_object_set_new(o, "attempts",
                            json_integer(sqlite3_column_int64(st, 7))) ||
        json_object_set_new(o, "next_at",
                            json_integer(sqlite3_column_int64(st, 8))) ||
        json_object_set_new(o, "created_at",
                            json_integer(sqlite3_column_int64(st, 9))) ||
        json_object_set_new(o, "last_error",
                            err ? json_string(err) : json_null())) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* ----------------------------------------------------------------- claim */

struct claim_arg {
    int64_t now, lease_end;
    int max;
    json_t *out;
};

/* In the writer's transaction: leases the due actions into a->out. */
static int claim_tx(struct tg_sq *e, sqlite3 *db, void *arg)
{
    struct claim_arg *a = arg;
    sqlite3_stmt *sel = NULL, *upd = NULL;
    int rc = TG_EIO, src;

    (void)e;
    if (sqlite3_prepare_v2(db,
                           "SELECT " OUTBOX_COLUMNS
                           " FROM outbox INDEXED BY outbox_open"
                           " WHERE state IN ('pending', 'inflight')"
                           " AND next_at <= ?1 ORDER BY id LIMIT ?2",
                           -1, &sel, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "UPDATE outbox SET state = 'inflight',"
                           " next_at = ?2, attempts = attempts + 1,"
                           " tries = tries + 1, updated_at = ?3"
                           " WHERE id = ?1",
                           -1, &upd, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_int64(sel, 1, a->now);
    sqlite3_bind_int(sel, 2, a->max);
    while ((src = sqlite3_step(sel)) == SQLITE_ROW) {
        json_t *o = row_json(sel);

        if (!o || json_array_append_new(a->out, o))
            goto out;
        /* What the update below makes of the row. */
        if (json_object_set_new(o, "state", json_string("inflight")) ||
            json_object_set_new(o, "next_at", json_integer(a->lease_end)) ||
            json_object_set_new(
                o, "attempts",
                json_integer(sqlite3_column_int64(sel, 7) + 1)) ||
            json_object_set_new(
                o, "try", json_integer(sqlite3_column_int64(sel, 11) + 1)))
            goto out;
    }
    if (src != SQLITE_DONE) {
        rc = sql_fail(src);
        goto out;
    }
    /* Updated after the select is done with its rows. */
    for (size_t i = 0; i < json_array_size(a->out); i++) {
        json_t *o = json_array_get(a->out, i);

        sqlite3_bind_int64(upd, 1,
                           json_integer_value(json_object_get(o, "id")));
        sqlite3_bind_int64(upd, 2, a->lease_end);
        sqlite3_bind_int64(upd, 3, a->now);
        src = sqlite3_step(upd);
        sqlite3_reset(upd);
        if (src != SQLITE_DONE) {
            rc = sql_fail(src);
            goto out;
        }
    }
    rc = 0;
out:
    sqlite3_finalize(sel);
    sqlite3_finalize(upd);
    return rc;
}

int tg_sq_outbox_claim(struct tg_sq *e, int64_t now_ms, int max,
                    int64_t lease_ms, json_t **out)
{
    struct claim_arg a = {.now = now_ms, .max = max};
    struct pending p;
    int rc;

    if (!e || !out || max <= 0 || lease_ms < 0 || now_ms > INT64_MAX - lease_ms)
        return TG_EINVAL;
    if (a.max > OUTBOX_CLAIM_MAX)
        a.max = OUTBOX_CLAIM_MAX;
    a.lease_end = now_ms + lease_ms;
    if (!(a.out = json_array()))
        return TG_ENOMEM;
    memset(&p, 0, sizeof p);
    p.tx = claim_tx;
    p.tx_arg = &a;
    rc = tg_sq_enqueue(e, &p);
    if (rc) {
        json_decref(a.out);
        return rc == TG_EBUSY ? TG_EBUSY : TG_EIO;
    }
    *out = a.out;
    return 0;
}

/* ---------------------------------------------------------------- settle */

/* In the writer's transaction (after the chain entry of the attempt, when
 * there is one): the row takes the outcome while it is still the attempt
 * in flight. */
static int settle_tx(struct tg_sq *e, sqlite3 *db, void *arg)
{
    struct tg_outbox_settle *a = arg;
    sqlite3_stmt *st = NULL;
    const char *state = strcmp(a->outcome, "retry") == 0 ? "pending"
                                                          : a->outcome;
    int rc = TG_EIO, src;

    (void)e;
    if (sqlite3_prepare_v2(db,
                           "UPDATE outbox SET state = ?2, next_at = ?3,"
                           " last_error = ?4, updated_at = ?5"
                           " WHERE id = ?1 AND state = 'inflight'"
                           " AND tries = ?6",
                           -1, &st, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_int64(st, 1, a->id);
    sqlite3_bind_text(st, 2, state, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, strcmp(a->outcome, "retry") == 0 ? a->next_at
                                                               : a->now);
    if (a->error)
        sqlite3_bind_text(st, 4, a->error, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 4);
    sqlite3_bind_int64(st, 5, a->now);
    sqlite3_bind_int64(st, 6, a->tries);
    src = sqlite3_step(st);
    rc = src == SQLITE_DONE ? 0 : sql_fail(src);
out:
    sqlite3_finalize(st);
    return rc;
}

/* The row of action id read on its own connection: 0 with *row (caller
 * frees), TG_ENOTFOUND, TG_EIO. */
static int read_action(struct tg_sq *e, int64_t id, json_t **row)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc, src;

    if ((rc = tg_sq_open_db(e->path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                      e->busy_ms, &db)) ||
        (rc = tg_sq_exec(db, "PRAGMA query_only=1")))
        goto out;
    rc = TG_EIO;
    if (sqlite3_prepare_v2(db,
                           "SELECT " OUTBOX_COLUMNS " FROM outbox"
                           " WHERE id = ?1",
                           -1, &st, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_int64(st, 1, id);
    src = sqlite3_step(st);
    if (src == SQLITE_DONE) {
        rc = TG_ENOTFOUND;
    } else if (src == SQLITE_ROW) {
        json_t *o = row_json(st);

        if (o && !json_object_set_new(
                     o, "try", json_integer(sqlite3_column_int64(st, 11)))) {
            *row = o;
            rc = 0;
        } else {
            json_decref(o);
            rc = TG_ENOMEM;
        }
    } else {
        rc = sql_fail(src);
    }
out:
    sqlite3_finalize(st);
    tg_sq_close_db(db);
    return rc == TG_ENOTFOUND || rc == TG_ENOMEM || rc == TG_EBUSY ? rc
           : rc                                                     ? TG_EIO
                                                                    : 0;
}

static int read_row(void *e, int64_t id, json_t **row)
{
    return read_action(e, id, row);
}

/* The attempt's entry and its row in one transaction of the writer
 * (PLAN.md Interface 3). */
static int enqueue_settle(void *e, struct tg_outbox_settle *a)
{
    struct pending p;

    memset(&p, 0, sizeof p);
    p.tx = settle_tx;
    p.tx_arg = a;
    memcpy(p.en_sha, a->en_sha, sizeof p.en_sha);
    p.en = &a->en;
    p.en_id = a->en_id;
    return tg_sq_enqueue(e, &p);
}

int tg_sq_outbox_settle(struct tg_sq *e, int64_t id, const char *outcome,
                     int64_t next_at_ms, const char *error)
{
    if (!e)
        return TG_EINVAL;
    return tg_outbox_settle_run(e, id, outcome, next_at_ms, error, read_row,
                                enqueue_settle);
}

/* ------------------------------------------------------------------ reads */

/* 1 when db has the outbox table (a store made before issue 12 may not,
 * offline), 0 when not, or an error. */
static int has_outbox(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (sqlite3_prepare_v2(db,
                           "SELECT 1 FROM sqlite_master WHERE type = 'table'"
                           " AND name = 'outbox'",
                           -1, &st, NULL) != SQLITE_OK)
        return TG_EIO;
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW)
        return 1;
    return rc == SQLITE_DONE ? 0 : sql_fail(rc);
}

static int list_db(sqlite3 *db, const char *ticket, json_t **out)
{
    sqlite3_stmt *st = NULL;
    json_t *doc = json_object(), *v = json_array();
    int rc = TG_ENOMEM, src, have;

    if (!doc || !v || json_object_set(doc, "actions", v))
        goto out;
    if ((have = has_outbox(db)) < 0) {
        rc = have;
        goto out;
    }
    if (have) {
        rc = TG_EIO;
        if (sqlite3_prepare_v2(db,
                               ticket ? "SELECT " OUTBOX_COLUMNS
                                        " FROM outbox WHERE ticket = ?1"
                                        " ORDER BY id LIMIT ?2"
                                      : "SELECT " OUTBOX_COLUMNS
                                        " FROM outbox WHERE ?1 IS NULL"
                                        " ORDER BY id LIMIT ?2",
                               -1, &st, NULL) != SQLITE_OK)
            goto out;
        if (ticket)
            sqlite3_bind_text(st, 1, ticket, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, OUTBOX_LIST_MAX);
        while ((src = sqlite3_step(st)) == SQLITE_ROW) {
            json_t *o = row_json(st);

            if (!o || json_array_append_new(v, o)) {
                rc = TG_ENOMEM;
                goto out;
            }
        }
        if (src != SQLITE_DONE) {
            rc = TG_EIO;
            goto out;
        }
    }
    *out = doc;
    doc = NULL;
    rc = 0;
out:
    sqlite3_finalize(st);
    json_decref(v);
    json_decref(doc);
    return rc;
}

/* A read connection to path (never creating it): 0 or TG_EIO. */
static int open_reader(const char *path, int busy_ms, sqlite3 **db)
{
    int rc = tg_sq_open_db(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                     busy_ms, db);

    /* query_only: this connection never writes, whatever it runs. */
    if (!rc && (rc = tg_sq_exec(*db, "PRAGMA query_only=1"))) {
        tg_sq_close_db(*db);
        *db = NULL;
    }
    return rc == TG_ENOMEM ? rc : rc ? TG_EIO : 0;
}

int tg_sq_outbox_list(struct tg_sq *e, const char *ticket, json_t **out)
{
    sqlite3 *db = NULL;
    int rc;

    if (!e || !out)
        return TG_EINVAL;
    if ((rc = open_reader(e->path, e->busy_ms, &db)))
        return rc;
    rc = list_db(db, ticket, out);
    tg_sq_close_db(db);
    return rc;
}

int tg_sq_outbox_list_file(const char *path, const char *ticket, json_t **out)
{
    sqlite3 *db = NULL;
    int rc;

    if (!path || !out)
        return TG_EINVAL;
    if ((rc = open_reader(path, DEFAULT_BUSY_MS, &db)))
        return rc;
    rc = list_db(db, ticket, out);
    tg_sq_close_db(db);
    return rc;
}

int tg_sq_outbox_stats(struct tg_sq *e, long *pending,
                    int64_t *oldest_created_ms)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc, src;

    if (!e || !pending || !oldest_created_ms)
        return TG_EINVAL;
    if ((rc = open_reader(e->path, e->busy_ms, &db)))
        return rc;
    rc = TG_EIO;
    if (sqlite3_prepare_v2(db,
                           "SELECT count(*), coalesce(min(created_at), 0)"
                           " FROM outbox"
                           " WHERE state IN ('pending', 'inflight')",
                           -1, &st, NULL) != SQLITE_OK)
        goto out;
    src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        *pending = (long)sqlite3_column_int64(st, 0);
        *oldest_created_ms = sqlite3_column_int64(st, 1);
        rc = 0;
    }
out:
    sqlite3_finalize(st);
    tg_sq_close_db(db);
    return rc;
}

/* ---------------------------------------------------------------- offline */

/* Sets action id of the store at path to state `to` when its state is one
 * of `from` (a SQL list), in one transaction. retry: due now, attempts 0.
 * 0, TG_ENOTFOUND, TG_EINVAL (in another state), TG_EBUSY, TG_EIO. */
static int change_file(const char *path, int64_t id, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc, src, began = 0, have;

    if (!path)
        return TG_EINVAL;
    if ((rc = tg_sq_open_db(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                      DEFAULT_BUSY_MS, &db)))
        return rc == TG_ENOMEM ? rc : TG_EIO;
    if ((rc = tg_sq_exec(db, "BEGIN IMMEDIATE")))
        goto out;
    began = 1;
    if ((have = has_outbox(db)) <= 0) {
        rc = have < 0 ? have : TG_ENOTFOUND;
        goto out;
    }
    rc = TG_EIO;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM outbox WHERE id = ?1", -1, &st,
                           NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_int64(st, 1, id);
    src = sqlite3_step(st);
    sqlite3_finalize(st);
    st = NULL;
    if (src != SQLITE_ROW) {
        rc = src == SQLITE_DONE ? TG_ENOTFOUND : sql_fail(src);
        goto out;
    }
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, tg_clock_wall_ms());
    src = sqlite3_step(st);
    if (src != SQLITE_DONE) {
        rc = sql_fail(src);
        goto out;
    }
    if (sqlite3_changes(db) == 0) {
        rc = TG_EINVAL;
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    if ((rc = tg_sq_exec(db, "COMMIT")))
        goto out;
    began = 0;
out:
    sqlite3_finalize(st);
    if (began)
        tg_sq_exec(db, "ROLLBACK");
    tg_sq_close_db(db);
    return rc == 0 || rc == TG_ENOTFOUND || rc == TG_EINVAL ||
                   rc == TG_EBUSY || rc == TG_ENOMEM
               ? rc
               : TG_EIO;
}

int tg_sq_outbox_retry_file(const char *path, int64_t id)
{
    return change_file(path, id,
                       "UPDATE outbox SET state = 'pending', next_at = ?2,"
                       " attempts = 0, updated_at = ?2 WHERE id = ?1"
                       " AND state IN ('dead', 'dropped', 'pending')");
}

int tg_sq_outbox_drop_file(const char *path, int64_t id)
{
    return change_file(path, id,
                       "UPDATE outbox SET state = 'dropped', updated_at = ?2"
                       " WHERE id = ?1"
                       " AND state IN ('pending', 'inflight', 'dead')");
}
