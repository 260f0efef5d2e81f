/* show.c - one decision record read whole from a store file (audit show). */
#include "server/store/show.h"

#include "server/store/internal.h"

/* A copy of column i of st (NULL stays NULL); *len gets its length. Returns
 * 0 or TG_ENOMEM. */
static int column_dup(sqlite3_stmt *st, int i, char **out, size_t *len)
{
    const unsigned char *p = sqlite3_column_text(st, i);
    size_t n = (size_t)sqlite3_column_bytes(st, i);

    *out = NULL;
    if (len)
        *len = 0;
    if (sqlite3_column_type(st, i) == SQLITE_NULL)
        return 0;
    if (!p || !(*out = malloc(n + 1)))
        return TG_ENOMEM;
    memcpy(*out, p, n);
    (*out)[n] = '\0';
    if (len)
        *len = n;
    return 0;
}

void tg_evidence_shown_free(struct tg_evidence_shown *s)
{
    free(s->decision_id);
    free(s->ticket);
    free(s->source);
    free(s->delivery_id);
    free(s->policy);
    free(s->decision);
    free(s->judged);
    free(s->facts);
    free(s->hash);
    memset(s, 0, sizeof(*s));
}

static int fill(sqlite3_stmt *st, struct tg_evidence_shown *o)
{
    int rc;

    o->seq = (uint64_t)sqlite3_column_int64(st, 0);
    o->time = sqlite3_column_int64(st, 6);
    o->has_mac = sqlite3_column_type(st, 9) != SQLITE_NULL;
    if ((rc = column_dup(st, 1, &o->decision_id, NULL)) ||
        (rc = column_dup(st, 2, &o->ticket, NULL)) ||
        (rc = column_dup(st, 3, &o->source, NULL)) ||
        (rc = column_dup(st, 4, &o->delivery_id, NULL)) ||
        (rc = column_dup(st, 5, &o->policy, NULL)) ||
        (rc = column_dup(st, 7, &o->decision, &o->decision_len)) ||
        (rc = column_dup(st, 8, &o->hash, NULL)) ||
        (rc = column_dup(st, 10, &o->judged, &o->judged_len)) ||
        (rc = column_dup(st, 11, &o->facts, &o->facts_len)))
        return rc;
    return 0;
}

int tg_evidence_show_file(const char *path, const char *decision_id,
                          struct tg_evidence_shown *out)
{
    /* A file of version 1 has neither kind nor judged: every row is a
     * decision there; one of version 2 has no facts. */
#define SHOW_COLS                                                          \
    "SELECT seq, decision_id, ticket, source, delivery_id, policy, time,"   \
    " decision, hash, mac, "
    static const char sql_v3[] =
        SHOW_COLS "judged, facts FROM records WHERE decision_id = ?1"
        " AND " IS_DECISION;
    static const char sql_v2[] =
        SHOW_COLS "judged, NULL FROM records WHERE decision_id = ?1"
        " AND " IS_DECISION;
    static const char sql_v1[] =
        SHOW_COLS "NULL, NULL FROM records WHERE decision_id = ?1";
#undef SHOW_COLS
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int version = 1, rc;

    if (!path || !decision_id || !out)
        return TG_EINVAL;
    if (tg_store_is_pg_url(path)) /* store.driver postgresql: pgread.c */
        return tg_pg_show_file(path, decision_id, out);
    memset(out, 0, sizeof(*out));
    if ((rc = tg_sq_open_db(path, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
                      DEFAULT_BUSY_MS, &db)))
        goto out;
    if ((rc = tg_sq_records_version(db, &version)))
        goto out;
    if (sqlite3_prepare_v2(db,
                           version >= 3   ? sql_v3
                           : version == 2 ? sql_v2
                                          : sql_v1,
                           -1, &st, NULL) != SQLITE_OK ||
        sqlite3_bind_text(st, 1, decision_id, -1, SQLITE_STATIC) !=
            SQLITE_OK) {
        rc = TG_EIO;
        goto out;
    }
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        rc = fill(st, out);
    else
        rc = rc == SQLITE_DONE ? TG_ENOTFOUND : tg_sq_map(rc);
out:
    sqlite3_finalize(st);
    tg_sq_close_db(db);
    if (rc) {
        tg_evidence_shown_free(out);
        /* a file that is not a store reads as one that cannot be read */
        if (rc != TG_ENOTFOUND && rc != TG_ENOMEM)
            rc = TG_EIO;
    }
    return rc;
}
