/* writer.c - the writer: group commit, wakes, store-loss checks, ids file. */

#include "server/store/internal.h"

#include "server/store/batch.h"
#include "server/util/thread.h"

static void deadline_after(struct timespec *ts, long ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

int64_t tg_sq_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------ write path */

/* After every commit of the write connection: asks the maintenance thread
 * for a checkpoint each time the WAL grew by CKPT_FRAMES (not on every
 * commit past it, which would be a wake-up per commit). */
int tg_sq_wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
    struct tg_sq *e = arg;
    (void)db;
    (void)name;
    e->wal_frames = frames;
    if (frames < e->ck_frames)
        e->ck_frames = 0; /* the WAL restarted */
    if (frames - e->ck_frames >= CKPT_FRAMES) {
        e->ck_frames = frames;
        pthread_mutex_lock(&e->mt_mu);
        e->ck_due = 1;
        pthread_cond_signal(&e->mt_cv);
        pthread_mutex_unlock(&e->mt_mu);
    }
    return SQLITE_OK;
}

static const char WHY_DELETED[] =
    "the database file was deleted under the running server";
static const char WHY_REPLACED[] =
    "the database file was replaced by another file under the running server";
static const char WHY_WAL[] =
    "its -wal file was deleted or replaced under the running server";
static const char WHY_SHM[] =
    "its -shm file was deleted or replaced under the running server";

/* 0 when path names the file (dev, ino); 1 when nothing is there; 2 when
 * another file is; -1 when stat fails otherwise (cannot tell: the write
 * itself will say). One stat(2): cheap enough for every group commit. */
static int file_moved(const char *path, dev_t dev, ino_t ino)
{
    struct stat st;

    if (stat(path, &st) != 0)
        return errno == ENOENT || errno == ENOTDIR ? 1 : -1;
    return st.st_dev == dev && st.st_ino == ino ? 0 : 2;
}

/* NULL while path still names the store file pinned at open, else why
 * not. Reads only what is set before the threads start. */
const char *tg_sq_db_moved(const struct tg_sq *e)
{
    switch (file_moved(e->path, e->dev, e->ino)) {
    case 1:
        return WHY_DELETED;
    case 2:
        return WHY_REPLACED;
    default:
        return NULL;
    }
}

/* NULL while the store file and the -wal and -shm files that w opened are
 * all still at their paths, else why not (token holder). SQLite itself
 * would go on writing into a file that no path names any more, and
 * acknowledge decisions that a restart cannot find. */
static const char *files_moved(const struct tg_sq *e,
                               const struct wconn *w)
{
    const char *why = tg_sq_db_moved(e);

    if (why)
        return why;
    if (file_moved(e->wal_path, w->wal_dev, w->wal_ino) > 0)
        return WHY_WAL;
    if (file_moved(e->shm_path, w->shm_dev, w->shm_ino) > 0)
        return WHY_SHM;
    return NULL;
}

int tg_sq_wconn_pin(struct tg_sq *e, struct wconn *w, int create)
{
    struct stat st;
    const char *why = NULL;
    int moved = 0;

    if (create) {
        if (stat(e->path, &st) != 0) {
            why = WHY_DELETED;
            goto out;
        }
        e->dev = st.st_dev;
        e->ino = st.st_ino;
    } else if ((why = tg_sq_db_moved(e))) {
        goto out;
    }
    /* SQLite compares the inode of its open file with the path's: the file
     * it opened is the one just pinned or checked, not one moved into its
     * place in between. */
    if (sqlite3_file_control(w->db, "main", SQLITE_FCNTL_HAS_MOVED,
                             &moved) == SQLITE_OK && moved) {
        why = WHY_REPLACED;
        goto out;
    }
    /* In WAL mode both are open once the schema was read. */
    if (stat(e->wal_path, &st) != 0) {
        why = WHY_WAL;
        goto out;
    }
    w->wal_dev = st.st_dev;
    w->wal_ino = st.st_ino;
    if (stat(e->shm_path, &st) != 0) {
        why = WHY_SHM;
        goto out;
    }
    w->shm_dev = st.st_dev;
    w->shm_ino = st.st_ino;
out:
    if (!why)
        return 0;
    e->err = (struct fail){.what = why};
    e->gone = why == WHY_DELETED || why == WHY_REPLACED ? GONE_DB : GONE_AUX;
    return TG_EIO;
}

/*
 * Opens the write connection. create: the first open, which may create the
 * file and the schema. A reopen after a failure never creates: a store file
 * that vanished must not silently restart the chain at genesis; nor does
 * it open another file found at the path (tg_sq_wconn_pin). On failure e->err
 * says why.
 */
static int step_stmt(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);

    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : tg_sq_map(rc);
}

/* The head the next record links to: the last record, else the anchor. */
static int read_head(struct wconn *w, int64_t *seq, char hash[65])
{
    char mac[65];
    int rc = sqlite3_step(w->head);

    if (rc == SQLITE_ROW) {
        const char *h = (const char *)sqlite3_column_text(w->head, 1);

        *seq = sqlite3_column_int64(w->head, 0);
        rc = (h && sqlite3_column_bytes(w->head, 1) == 64) ? 0 : TG_EIO;
        if (!rc)
            memcpy(hash, h, 65);
        sqlite3_reset(w->head);
        return rc;
    }
    sqlite3_reset(w->head);
    if (rc != SQLITE_DONE)
        return tg_sq_map(rc);
    return tg_sq_read_anchor(w->db, seq, hash, mac);
}

/*
 * Whether r's jti may be bound to r inside the open transaction: 0 when it
 * is unused, or was bound to the same body by a decision that made no record
 * (jti_only: by any decision); TG_ECONFLICT when it was used otherwise; a
 * fatal TG_EIO / TG_EBUSY.
 */
static int jti_free(struct wconn *w, const struct tg_evidence_record *r,
                    int jti_only)
{
    char body[65];
    int rc;

    sqlite3_bind_text(w->jti_get, 1, r->source, -1, SQLITE_STATIC);
    sqlite3_bind_text(w->jti_get, 2, r->jti, -1, SQLITE_STATIC);
    rc = sqlite3_step(w->jti_get);
    if (rc == SQLITE_ROW) {
        const char *have = (const char *)sqlite3_column_text(w->jti_get, 0);
        int recorded = sqlite3_column_type(w->jti_get, 1) != SQLITE_NULL;

        tg_digest_hex(r->body_sha256, 32, body);
        rc = have && strcmp(have, body) == 0 && (jti_only || !recorded)
                 ? 0
                 : TG_ECONFLICT;
    } else if (rc == SQLITE_DONE) {
        rc = 0;
    } else {
        rc = tg_sq_map(rc) == TG_EBUSY ? TG_EBUSY : TG_EIO;
    }
    sqlite3_reset(w->jti_get);
    sqlite3_clear_bindings(w->jti_get);
    return rc;
}

/* Binds r's jti to r's body and decision (decision_id NULL: none) inside
 * the open transaction, jti_free having said yes. Returns 0, TG_EIO or
 * TG_EBUSY. */
static int jti_bind(struct wconn *w, const struct tg_evidence_record *r,
                    const char *decision_id)
{
    char body[65];
    int rc;

    tg_digest_hex(r->body_sha256, 32, body);
    sqlite3_bind_text(w->jti_put, 1, r->source, -1, SQLITE_STATIC);
    sqlite3_bind_text(w->jti_put, 2, r->jti, -1, SQLITE_STATIC);
    sqlite3_bind_text(w->jti_put, 3, body, 64, SQLITE_STATIC);
    if (decision_id)
        sqlite3_bind_text(w->jti_put, 4, decision_id, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(w->jti_put, 4);
    sqlite3_bind_int64(w->jti_put, 5, r->time);
    rc = sqlite3_step(w->jti_put);
    sqlite3_reset(w->jti_put);
    sqlite3_clear_bindings(w->jti_put);
    if (rc == SQLITE_DONE)
        return 0;
    return tg_sq_map(rc) == TG_EBUSY ? TG_EBUSY : TG_EIO;
}

/* Whether r may be written: its delivery id not yet recorded for its
 * source, its jti not yet used. Returns 0, TG_ECONFLICT, or a fatal
 * TG_EIO / TG_EBUSY. */
static int insert_free(struct wconn *w, const struct tg_evidence_record *r)
{
    int rc;

    if (r->delivery_id) {
        sqlite3_bind_text(w->dup, 1, r->source, -1, SQLITE_STATIC);
        sqlite3_bind_text(w->dup, 2, r->delivery_id, -1, SQLITE_STATIC);
        rc = sqlite3_step(w->dup);
        sqlite3_reset(w->dup);
        sqlite3_clear_bindings(w->dup);
        if (rc == SQLITE_ROW)
            return TG_ECONFLICT;
        if (rc != SQLITE_DONE)
            return tg_sq_map(rc) == TG_EBUSY ? TG_EBUSY : TG_EIO;
    }
    /* Checked before anything is written: the jti row comes after the
     * record, and a conflict then would leave the record in the batch. */
    if (r->jti && (rc = jti_free(w, r, 0)))
        return rc;
    return 0;
}

/* Fills f with the fields of r's link as record next after the record
 * whose hash is prev; seqtxt, timetxt and body hold their text. */
static void link_fields(struct tg_chain_field f[F_N],
                        const struct tg_evidence_record *r, int64_t next,
                        const char prev[65], char seqtxt[24], char timetxt[24],
                        char body[65])
{
    tg_digest_hex(r->body_sha256, 32, body);
    f[F_SEQ].p = seqtxt;
    f[F_SEQ].n = tg_chain_int_text(next, seqtxt, 24);
    f[F_ID] = (struct tg_chain_field){.p = r->decision_id, .n = strlen(r->decision_id)};
    f[F_TICKET] = (struct tg_chain_field){.p = r->ticket, .n = strlen(r->ticket)};
    f[F_SOURCE] = (struct tg_chain_field){.p = r->source, .n = strlen(r->source)};
    f[F_DELIVERY] = (struct tg_chain_field){
        .p = r->delivery_id,
        .n = r->delivery_id ? strlen(r->delivery_id) : 0};
    f[F_BODY] = (struct tg_chain_field){.p = body, .n = 64};
    f[F_POLICY] = (struct tg_chain_field){.p = r->policy_digest,
                                 .n = strlen(r->policy_digest)};
    f[F_TIME].p = timetxt;
    f[F_TIME].n = tg_chain_int_text(r->time, timetxt, 24);
    f[F_DECISION] = (struct tg_chain_field){.p = r->decision_json,
                                   .n = r->decision_len};
    f[F_JUST] = (struct tg_chain_field){
        .p = r->justification_norm,
        .n = r->justification_norm ? strlen(r->justification_norm) : 0};
    f[F_PREV] = (struct tg_chain_field){.p = prev, .n = 64};
    f[F_KIND] = (struct tg_chain_field){.p = KIND_DECISION,
                               .n = sizeof KIND_DECISION - 1};
    f[F_JUDGED] = (struct tg_chain_field){.p = r->judged_json,
                                 .n = r->judged_json ? r->judged_len : 0};
    /* with facts the link is hashed as v3 (internal.h) */
    f[F_FACTS] = (struct tg_chain_field){.p = r->facts_json,
                                .n = r->facts_json ? r->facts_len : 0};
}

/* The same for the entry of p (internal.h: how an entry fills the
 * columns). */
static void entry_fields(struct tg_chain_field f[F_N], const struct pending *p,
                         int64_t next, const char prev[65], char seqtxt[24],
                         char timetxt[24], char body[65])
{
    const struct tg_evidence_entry *en = p->en;

    tg_digest_hex(p->en_sha, 32, body);
    f[F_SEQ].p = seqtxt;
    f[F_SEQ].n = tg_chain_int_text(next, seqtxt, 24);
    f[F_ID] = (struct tg_chain_field){.p = p->en_id, .n = strlen(p->en_id)};
    f[F_TICKET] = (struct tg_chain_field){.p = en->ticket ? en->ticket : "",
                                 .n = en->ticket ? strlen(en->ticket) : 0};
    f[F_SOURCE] = (struct tg_chain_field){.p = en->source ? en->source : "",
                                 .n = en->source ? strlen(en->source) : 0};
    f[F_DELIVERY] = (struct tg_chain_field){.p = NULL, .n = 0};
    f[F_BODY] = (struct tg_chain_field){.p = body, .n = 64};
    f[F_POLICY] = (struct tg_chain_field){.p = "", .n = 0};
    f[F_TIME].p = timetxt;
    f[F_TIME].n = tg_chain_int_text(en->time, timetxt, 24);
    f[F_DECISION] = (struct tg_chain_field){.p = en->json, .n = en->len};
    f[F_JUST] = (struct tg_chain_field){.p = NULL, .n = 0};
    f[F_PREV] = (struct tg_chain_field){.p = prev, .n = 64};
    f[F_KIND] = (struct tg_chain_field){.p = en->kind, .n = strlen(en->kind)};
    f[F_JUDGED] = (struct tg_chain_field){.p = NULL, .n = 0};
    f[F_FACTS] = (struct tg_chain_field){.p = NULL, .n = 0};
}

/* Binds column col (1-based) of st to f (NULL: SQL NULL). */
static void bind_field(sqlite3_stmt *st, int col, const struct tg_chain_field *f)
{
    if (f->p)
        sqlite3_bind_text(st, col, f->p, (int)f->n, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, col);
}

/*
 * Hashes the link f (record next, time t) as v2 (v3 with facts), MACs it with the store's
 * key and inserts it inside the open transaction, its hash in newhash.
 * Returns the SQLite result of the insert (SQLITE_DONE when written), or
 * -1 with *ours our error.
 */
static int link_insert(struct tg_sq *e, const struct tg_chain_field f[F_N],
                       int64_t next, int64_t t, char newhash[65], int *ours)
{
    struct wconn *w = &e->w;
    char mac[65];
    unsigned char digest[32], macbin[32];
    int rc;

    if (f[F_DECISION].n > INT32_MAX || f[F_JUDGED].n > INT32_MAX ||
        f[F_FACTS].n > INT32_MAX) {
        *ours = TG_EINVAL;
        return -1;
    }
    if ((rc = tg_chain_hash(f, 1, digest))) {
        *ours = rc == TG_ENOMEM ? TG_EIO : rc;
        return -1;
    }
    tg_digest_hex(digest, 32, newhash);
    if (e->keylen) {
        if (tg_chain_mac(e->key, e->keylen, digest, macbin)) {
            *ours = TG_EIO;
            return -1;
        }
        tg_digest_hex(macbin, 32, mac);
        OPENSSL_cleanse(macbin, sizeof macbin);
    }
    sqlite3_bind_int64(w->ins, 1, next);
    for (int i = F_ID; i <= F_POLICY; i++)
        bind_field(w->ins, i + 1, &f[i]);
    sqlite3_bind_int64(w->ins, 8, t);
    bind_field(w->ins, 9, &f[F_DECISION]);
    bind_field(w->ins, 10, &f[F_JUST]);
    sqlite3_bind_text(w->ins, 11, f[F_PREV].p, 64, SQLITE_STATIC);
    sqlite3_bind_text(w->ins, 12, newhash, 64, SQLITE_STATIC);
    if (e->keylen)
        sqlite3_bind_text(w->ins, 13, mac, 64, SQLITE_STATIC);
    else
        sqlite3_bind_null(w->ins, 13);
    bind_field(w->ins, 14, &f[F_KIND]);
    bind_field(w->ins, 15, &f[F_JUDGED]);
    bind_field(w->ins, 16, &f[F_FACTS]);
    rc = sqlite3_step(w->ins);
    sqlite3_reset(w->ins);
    sqlite3_clear_bindings(w->ins);
    return rc;
}

/*
 * Writes r as the link after (*seq, hash) inside the open transaction and
 * advances them, binding r's jti to it. Returns 0, TG_ECONFLICT (delivery id
 * of the source already recorded, or its jti already used), TG_EINVAL
 * (decision id already recorded), or a fatal TG_EIO / TG_EBUSY after which
 * the transaction must be rolled back.
 */
static int insert_one(struct tg_sq *e, int64_t *seq, char hash[65],
                      const struct tg_evidence_record *r)
{
    struct wconn *w = &e->w;
    struct tg_chain_field f[F_N];
    char seqtxt[24], timetxt[24], body[65], newhash[65];
    int64_t next;
    int rc, ours = 0;

    if ((rc = insert_free(w, r)))
        return rc;
    if (*seq == INT64_MAX)
        return TG_EIO;
    next = *seq + 1;
    link_fields(f, r, next, hash, seqtxt, timetxt, body);
    if ((rc = link_insert(e, f, next, r->time, newhash, &ours)) == -1)
        return ours;
    if (rc == SQLITE_DONE && r->justification_norm) {
        sqlite3_bind_text(w->just, 1, r->justification_norm, -1,
                          SQLITE_STATIC);
        sqlite3_bind_text(w->just, 2, r->ticket, -1, SQLITE_STATIC);
        sqlite3_bind_int64(w->just, 3, r->time);
        rc = sqlite3_step(w->just);
        sqlite3_reset(w->just);
        sqlite3_clear_bindings(w->just);
    }
    if (rc == SQLITE_DONE && r->jti) {
        /* A failure here is fatal (the record is in): rolled back whole. */
        int jrc = jti_bind(w, r, r->decision_id);
        if (jrc)
            return jrc;
    }
    if (rc == SQLITE_DONE && r->actions_json) {
        /* The act-back of the record, in its transaction (outbox.c):
         * fatal too, so a record never commits without its actions. */
        int arc = tg_sq_outbox_insert(w->db, r);
        if (arc)
            return arc;
    }
    if (rc == SQLITE_DONE) {
        *seq = next;
        memcpy(hash, newhash, 65);
        return 0;
    }
    /* A constraint failure undoes only this statement; the batch goes on.
     * The delivery id was checked above, so it is the decision id. */
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        return TG_EINVAL;
    return tg_sq_map(rc) == TG_EBUSY ? TG_EBUSY : TG_EIO;
}

/* Writes the entry of p as the link after (*seq, hash), as insert_one.
 * Returns 0, TG_ECONFLICT ((kind, key) already in the chain), TG_EINVAL,
 * or a fatal TG_EIO / TG_EBUSY. */
static int insert_entry(struct tg_sq *e, int64_t *seq, char hash[65],
                        const struct pending *p)
{
    struct tg_chain_field f[F_N];
    char seqtxt[24], timetxt[24], body[65], newhash[65];
    int64_t next;
    int rc, ours = 0;

    if (*seq == INT64_MAX)
        return TG_EIO;
    next = *seq + 1;
    entry_fields(f, p, next, hash, seqtxt, timetxt, body);
    if ((rc = link_insert(e, f, next, p->en->time, newhash, &ours)) == -1)
        return ours;
    if (rc == SQLITE_DONE) {
        *seq = next;
        memcpy(hash, newhash, 65);
        return 0;
    }
    /* decision_id is kind ":" key and UNIQUE: this (kind, key) is in. */
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        return TG_ECONFLICT;
    return tg_sq_map(rc) == TG_EBUSY ? TG_EBUSY : TG_EIO;
}

static int write_id_next(struct wconn *w, uint64_t id_next)
{
    int rc;

    sqlite3_bind_int64(w->meta, 1,
                       id_next > INT64_MAX ? INT64_MAX : (int64_t)id_next);
    rc = sqlite3_step(w->meta);
    sqlite3_reset(w->meta);
    sqlite3_clear_bindings(w->meta);
    return rc == SQLITE_DONE ? 0 : tg_sq_map(rc);
}

/*
 * Another process's records (seq in (from, to]) for the copy-forward index,
 * read inside the open transaction. Returns 0 with *out (NULL when none;
 * the caller frees) and *n, or the failure.
 */
static int read_foreign(struct wconn *w, int64_t from, int64_t to,
                        struct tg_cf_row **out, size_t *n)
{
    struct tg_cf_row *v = NULL;
    size_t cap = 0;
    int rc;

    *out = NULL;
    *n = 0;
    sqlite3_bind_int64(w->since, 1, from);
    sqlite3_bind_int64(w->since, 2, to);
    while ((rc = sqlite3_step(w->since)) == SQLITE_ROW) {
        const char *j = (const char *)sqlite3_column_text(w->since, 0);
        const char *t = (const char *)sqlite3_column_text(w->since, 1);

        if (*n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            struct tg_cf_row *nv = realloc(v, ncap * sizeof *nv);

            if (!nv) {
                rc = SQLITE_NOMEM;
                break;
            }
            v = nv;
            cap = ncap;
        }
        if (!j || !t || tg_cf_digest(j, v[*n].jd) ||
            tg_cf_digest(t, v[*n].td)) {
            rc = SQLITE_NOMEM;
            break;
        }
        v[*n].t = sqlite3_column_int64(w->since, 2);
        (*n)++;
    }
    sqlite3_reset(w->since);
    sqlite3_clear_bindings(w->since);
    if (rc != SQLITE_DONE) {
        free(v);
        *n = 0;
        return tg_sq_map(rc);
    }
    *out = v;
    return 0;
}

/*
 * The decision-id high-water file (path + ".ids"): one line, the number
 * above every decision id handed out (reserved ahead, as meta id_next).
 * It outlives a store file deleted or replaced, so that the store created
 * next does not hand out those numbers again (docs/EVIDENCE.md). 0600.
 */
void tg_sq_ids_load(struct tg_sq *e)
{
    char buf[32];
    uint64_t mark = 0, have = atomic_load(&e->next_id);
    ssize_t n;
    ssize_t i;

    e->ids_fd = open(e->ids_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC |
                                      O_NOFOLLOW, 0600);
    if (e->ids_fd >= 0) {
        (void)fchmod(e->ids_fd, 0600); /* whatever the umask */
        return;
    }
    if (errno == EEXIST)
        e->ids_fd = open(e->ids_path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (e->ids_fd < 0) {
        tg_log_event(TG_LOG_WARN, "evidence_ids",
                     "%s: cannot be opened (%s); decision ids rest on the "
                     "store alone",
                     e->ids_path, tg_evidence_cause(SQLITE_CANTOPEN, errno));
        e->ids_warned = 1;
        return;
    }
    n = pread(e->ids_fd, buf, sizeof buf - 1, 0);
    for (i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; i++) {
        unsigned d = (unsigned)(buf[i] - '0');

        if (mark > (UINT64_MAX - d) / 10)
            break;
        mark = mark * 10 + d;
    }
    if (n <= 0 || i == 0 || i >= n || buf[i] != '\n') {
        tg_log_event(TG_LOG_WARN, "evidence_ids",
                     "%s holds no decision-id number; it is rewritten",
                     e->ids_path);
        return;
    }
    e->ids_mark = mark;
    if (mark > have) {
        tg_log_event(TG_LOG_WARN, "evidence_ids",
                     "evidence store %s would number decision ids from %"
                     PRIu64 ", but %s says numbers below %" PRIu64
                     " were reserved for ids before: the store was "
                     "deleted, replaced or recreated since; ids go on from %"
                     PRIu64,
                     e->path, have, e->ids_path, mark, mark);
        atomic_store(&e->next_id, mark);
        e->id_reserved = mark;
    }
}

/* Records v (token holder, or close) as the high-water mark when it is
 * above the one recorded. */
void tg_sq_ids_store(struct tg_sq *e, uint64_t v)
{
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%020" PRIu64 "\n", v);

    if (e->ids_fd < 0 || v <= e->ids_mark || n <= 0 ||
        (size_t)n >= sizeof buf)
        return;
    /* One write of 21 bytes at offset 0: a reader never sees half. */
    if (pwrite(e->ids_fd, buf, (size_t)n, 0) == n &&
        (e->sync != TG_SYNC_FULL || fdatasync(e->ids_fd) == 0)) {
        e->ids_mark = v;
        return;
    }
    if (!e->ids_warned)
        tg_log_event(TG_LOG_WARN, "evidence_ids",
                     "%s: cannot be written (%s); decision ids rest on the "
                     "store alone",
                     e->ids_path, tg_evidence_cause(SQLITE_IOERR, errno));
    e->ids_warned = 1;
}

/* Logs a failed write (token holder): once per cause, not once per batch
 * or probe, so that a failing store under load does not flood the log. */
static void report_failure(struct tg_sq *e)
{
    const char *words = tg_sq_fail_words(&e->err);

    atomic_store(&e->failure, words);
    if (words == e->logged)
        return;
    e->logged = words;
    if (e->gone)
        tg_log_event(TG_LOG_ERROR, "evidence_error",
                     "evidence store %s: %s; no decision is given (503) "
                     "until %s",
                     e->path, words,
                     e->gone == GONE_DB
                         ? "that file is back at its path, or ticketgate "
                           "restarts"
                         : "ticketgate restarts");
    else
        tg_log_event(TG_LOG_ERROR, "evidence_error",
                     "evidence store %s: a write failed: %s; no decision is "
                     "given (503) until a write succeeds (retried every "
                     "second)",
                     e->path, words);
}

/* After a commit (token holder): says so when writes failed before. */
static void report_success(struct tg_sq *e)
{
    if (!e->logged)
        return;
    e->logged = NULL;
    atomic_store(&e->failure, NULL);
    tg_log_event(TG_LOG_INFO, "evidence_recovered",
                 "evidence store %s: writes succeed again", e->path);
}

/*
 * Writes batch (may be NULL: a probe, or the last write of close) in one
 * transaction and sets each item's rc; the caller holds the token.
 * Decision-id numbers are reserved ahead in meta.id_next, ID_BLOCK at a
 * time and again when fewer than half are left, so a restart never hands
 * out a number again while most commits leave the meta page alone; force
 * writes the row in any case (a probe must write something). Returns 0 when
 * the transaction committed, else the fatal error given to every item.
 */
/* Before a batch: the write connection open and its files still the ones
 * at the store's paths. Returns 0 or TG_EIO (e->err says why), or the
 * error of reopening. */
static int batch_files(struct tg_sq *e, struct wconn *w)
{
    const char *why;
    int rc;

    /* A store file that went away comes back only as itself (moved back to
     * its path); a -wal or -shm that went away, only with a restart. */
    if (e->gone && (e->gone != GONE_DB || tg_sq_db_moved(e)))
        return TG_EIO;
    e->gone = GONE_NONE;
    if (!w->db && (rc = tg_sq_wconn_open(e, w, 0)))
        return rc;
    if ((why = files_moved(e, w))) {
        e->err = (struct fail){.what = why};
        e->gone = why == WHY_WAL || why == WHY_SHM ? GONE_AUX : GONE_DB;
        /* Copies what the WAL holds into the database file through the
         * files this connection still has open, and empties the WAL: a
         * -wal left at the path must not be replayed onto whatever store
         * the path names at the next start, and a WAL that went away
         * keeps no acknowledged record out of the database. Best effort:
         * a reader can make it wait, then fail. */
        sqlite3_wal_checkpoint_v2(w->db, NULL, SQLITE_CHECKPOINT_TRUNCATE,
                                  NULL, NULL);
        return TG_EIO;
    }
    return 0;
}

/* After a commit: the records of other processes (foreign) and of the
 * batch go into the copy-forward index, which is fresh up to seq unless
 * some were missed. */
static void batch_index(struct tg_sq *e, struct pending *batch,
                        const struct tg_cf_row *foreign, size_t n_foreign,
                        int missed, int64_t seq, int64_t at_ms)
{
    pthread_mutex_lock(&e->cf.mu);
    for (size_t i = 0; i < n_foreign; i++)
        tg_cf_add(&e->cf, foreign[i].jd, foreign[i].td, foreign[i].t);
    for (struct pending *p = batch; p; p = p->next)
        if (p->rc == 0 && p->has_cf && p->r)
            tg_cf_add(&e->cf, p->jd, p->td, p->r->time);
    /* Had the other records not been read, the next commit reads them
     * again (adding a use twice changes nothing); until then the index is
     * not fresh and SQLite counts. */
    if (!missed)
        tg_cf_synced(&e->cf, seq, at_ms);
    pthread_mutex_unlock(&e->cf.mu);
}

int tg_sq_commit_batch(struct tg_sq *e, struct pending *batch,
                 int force)
{
    struct wconn *w = &e->w;
    struct tg_cf_row *foreign = NULL;
    size_t n_foreign = 0;
    uint64_t ids = atomic_load(&e->next_id), reserve = 0;
    char hash[65];
    int64_t seq, at_ms;
    int missed = 0;
    int rc;

    if ((rc = batch_files(e, w)))
        goto fail;
    if ((rc = step_stmt(w->begin))) {
        tg_sq_fail_note(&e->err, w->db);
        goto fail;
    }
    if ((rc = read_head(w, &seq, hash)))
        goto rollback;
    /* Records another process appended since our last commit; without
     * them the index would miss uses (see struct tg_cf_index). */
    if (e->cf.valid && seq > e->cf.seq &&
        read_foreign(w, e->cf.seq, seq, &foreign, &n_foreign))
        missed = 1;
    for (struct pending *p = batch; p; p = p->next) {
        if (!p->r && !p->en) {
            p->rc = 0; /* only its tx (outbox.c), below */
        } else if (p->jti_only) {
            p->rc = jti_free(w, p->r, 1);
            if (!p->rc)
                p->rc = jti_bind(w, p->r, NULL);
        } else if (p->en) {
            p->rc = insert_entry(e, &seq, hash, p);
        } else {
            p->rc = insert_one(e, &seq, hash, p->r);
        }
        if (p->rc == 0 && p->tx)
            p->rc = p->tx(e, w->db, p->tx_arg);
        if (p->rc == TG_EIO || p->rc == TG_EBUSY) {
            rc = p->rc;
            goto rollback;
        }
    }
    if (force)
        reserve = ids;
    else if (ids > UINT64_MAX - 2 * ID_BLOCK ||
             ids + ID_BLOCK / 2 > e->id_reserved)
        reserve = ids + ID_BLOCK;
    if (reserve && (rc = write_id_next(w, reserve)))
        goto rollback;
    /* the index is complete up to here: others may append once COMMIT
     * has released the file's lock */
    at_ms = tg_cf_clock();
    if ((rc = step_stmt(w->commit)))
        goto rollback;
    if (reserve) {
        e->id_reserved = reserve;
        tg_sq_ids_store(e, reserve);
    }
    report_success(e);
    batch_index(e, batch, foreign, n_foreign, missed, seq, at_ms);
    free(foreign);
    return 0;
rollback:
    tg_sq_fail_note(&e->err, w->db); /* before the rollback's own result */
    /* Nothing of the batch is durable: the head is re-read from the file by
     * the next transaction, so the chain has no hole. */
    step_stmt(w->rollback);
fail:
    free(foreign);
    if (rc != TG_EBUSY)
        rc = TG_EIO;
    for (struct pending *p = batch; p; p = p->next)
        p->rc = rc;
    /* Reconnect next time: a file that was remounted or made writable
     * again is seen afresh. */
    tg_sq_wconn_close(w);
    report_failure(e);
    return rc;
}

/* Passes the token on (mu held): to maintenance when it waits for it, else
 * back to the writer when records are queued. */
static void token_release(struct tg_sq *e)
{
    e->token = 0;
    if (e->token_wanted)
        pthread_cond_broadcast(&e->token_cv);
    else if (e->qhead)
        pthread_cond_signal(&e->work);
}

/* Takes the token for maintenance, ahead of the writer. */
static void token_take(struct tg_sq *e)
{
    pthread_mutex_lock(&e->mu);
    e->token_wanted++;
    while (e->token)
        pthread_cond_wait(&e->token_cv, &e->mu);
    e->token_wanted--;
    e->token = 1;
    pthread_mutex_unlock(&e->mu);
}

/* Gives the token back; with set_ready, rc (a commit's result) says
 * whether the store takes writes. */
static void token_give_back(struct tg_sq *e, int set_ready, int rc)
{
    pthread_mutex_lock(&e->mu);
    if (set_ready)
        e->ready = rc == 0;
    token_release(e);
    pthread_mutex_unlock(&e->mu);
}

/* The WAL reached CK_HARD_FRAMES (the writer, token held): copies it back
 * into the database on the write connection, so that the next transaction
 * starts it over. A checkpoint that the maintenance thread runs meanwhile
 * makes ours SQLITE_BUSY: it is waited for (it never waits for the token)
 * and ours copies what it left. Best effort: a reader still on an old
 * snapshot may keep the WAL from restarting; the next commit tries again. */
static void wal_catch_up(struct tg_sq *e)
{
    for (int waited = 0; e->w.db; waited++) {
        int rc = sqlite3_wal_checkpoint_v2(
            e->w.db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);

        if (rc != SQLITE_BUSY ||
            waited >= (e->busy_ms > 0 ? e->busy_ms : DEFAULT_BUSY_MS))
            break;
        usleep(1000);
    }
}

/* Tells every appender of batch that its rc is set: marks each done, then
 * wakes their bits in one call (struct tg_sq, wake_word). */
static void batch_wake(struct tg_sq *e, struct pending *batch)
{
    uint32_t mask = 0;

    for (struct pending *p = batch, *nx; p; p = nx) {
        nx = p->next; /* p is gone once done is set */
        mask |= p->bit;
        atomic_store(&p->done, 1);
    }
    /* After every done: an appender that read the word before this bump
     * and found its record not done sleeps only while the word is
     * unchanged, so it cannot miss this wake. */
    atomic_fetch_add(&e->wake_word, 1);
    syscall(SYS_futex, &e->wake_word, FUTEX_WAKE_BITSET_PRIVATE, INT_MAX, NULL,
            NULL, mask);
}

/*
 * The writer thread: commits the queued records, up to MAX_BATCH a
 * transaction, and wakes their appenders. A thread of its own rather than
 * the first appender committing for the others (leader-based group
 * commit): measured with the HTTP benchmark on 2 cores, the appender that
 * commits at once makes batches of 1.5 records where the writer, woken a
 * little later, finds 3 or more, and the extra commits cost more than the
 * hand-off saves (13.3k against 13.9k requests/s).
 */
void *tg_sq_writer_main(void *arg)
{
    struct tg_sq *e = arg;

    tg_thread_name("tg-sq-writer");
    pthread_mutex_lock(&e->mu);
    for (;;) {
        struct pending *batch, *last;
        size_t n = 1;
        int rc, full;

        while ((!e->qhead || e->token || e->token_wanted) &&
               !(e->stop && !e->qhead))
            pthread_cond_wait(&e->work, &e->mu);
        if (!e->qhead)
            break; /* stopping, and every append has been answered */
        e->token = 1;
        batch = last = e->qhead;
        while (last->next && n < MAX_BATCH) {
            last = last->next;
            n++;
        }
        e->qhead = last->next;
        if (!e->qhead)
            e->qtail = NULL;
        last->next = NULL;
        pthread_mutex_unlock(&e->mu);

        rc = tg_sq_commit_batch(e, batch, 0);
        full = rc == 0 && e->wal_frames >= CK_HARD_FRAMES;

        pthread_mutex_lock(&e->mu);
        e->ready = rc == 0; /* before any appender hears of the result */
        if (!full)
            token_release(e);
        pthread_mutex_unlock(&e->mu);
        batch_wake(e, batch);
        if (full) {
            /* Still holding the token: no commit until the WAL is copied
             * back, so that the next one starts it over. */
            wal_catch_up(e);
            pthread_mutex_lock(&e->mu);
            token_release(e);
            pthread_mutex_unlock(&e->mu);
        }
        pthread_mutex_lock(&e->mu);
    }
    pthread_mutex_unlock(&e->mu);
    return NULL;
}

/*
 * The maintenance thread. Once a second, and whenever the WAL grew by
 * CKPT_FRAMES:
 * - a PASSIVE checkpoint on its own connection, which never waits for the
 *   writer or readers;
 * - when the WAL holds CK_RESTART_FRAMES frames, a second PASSIVE one with
 *   the write token held. It copies the few frames committed since the
 *   first, and with no commit in between, the next transaction starts the
 *   WAL over from its beginning. Without it, under steady load a checkpoint
 *   never catches up with the writer and the WAL grows without bound, every
 *   frame extending the file (1.4 GB in a 10 s benchmark);
 * - while the store fails writes, a probe every TG_EVIDENCE_PROBE_MS: an
 *   empty commit that tells when it takes writes again.
 */
void *tg_sq_maintenance_main(void *arg)
{
    struct tg_sq *e = arg;
    sqlite3 *db = NULL;
    int64_t probed = tg_sq_mono_ms();

    tg_thread_name("tg-sq-maint");
    pthread_mutex_lock(&e->mt_mu);
    while (!e->mt_stop) {
        struct timespec ts;
        int ready, nlog = 0;

        deadline_after(&ts, CK_INTERVAL_MS);
        if (!e->ck_due)
            pthread_cond_timedwait(&e->mt_cv, &e->mt_mu, &ts);
        if (e->mt_stop)
            break;
        e->ck_due = 0;
        pthread_mutex_unlock(&e->mt_mu);

        pthread_mutex_lock(&e->mu);
        ready = e->ready;
        pthread_mutex_unlock(&e->mu);
        if (!ready && tg_sq_mono_ms() - probed >= TG_EVIDENCE_PROBE_MS) {
            int rc;

            token_take(e);
            rc = tg_sq_commit_batch(e, NULL, 1);
            token_give_back(e, 1, rc);
            probed = tg_sq_mono_ms();
        } else if (ready && tg_sq_db_moved(e)) {
            /* An idle server finds a store file that went away too (one
             * stat a second), so /readyz says so before a request fails:
             * the commit checks again, fails and logs. */
            int rc;

            token_take(e);
            rc = tg_sq_commit_batch(e, NULL, 1);
            token_give_back(e, 1, rc);
            probed = tg_sq_mono_ms();
        }

        /* Never creates the file: a store that vanished is the writer's
         * failure to report, not ours to paper over. A new connection
         * learns that the file is in WAL mode only from its first read;
         * until then its checkpoints do nothing at all. */
        if (!db && (tg_sq_open_db(e->path, SQLITE_OPEN_READWRITE |
                                         SQLITE_OPEN_NOMUTEX,
                            e->busy_ms, &db) != 0 ||
                    tg_sq_exec(db, "PRAGMA journal_mode") != 0)) {
            tg_sq_close_db(db);
            db = NULL;
        }
        if (db && sqlite3_wal_checkpoint_v2(db, NULL,
                                            SQLITE_CHECKPOINT_PASSIVE, &nlog,
                                            NULL) != SQLITE_OK) {
            tg_sq_close_db(db); /* reopened on the next round */
            db = NULL;
        }
        if (db && nlog >= CK_RESTART_FRAMES) {
            int rc;

            token_take(e);
            rc = sqlite3_wal_checkpoint_v2(db, NULL,
                                           SQLITE_CHECKPOINT_PASSIVE, NULL,
                                           NULL);
            token_give_back(e, 0, 0);
            if (rc != SQLITE_OK) {
                tg_sq_close_db(db);
                db = NULL;
            }
        }
        pthread_mutex_lock(&e->mt_mu);
    }
    pthread_mutex_unlock(&e->mt_mu);
    tg_sq_close_db(db);
    return NULL;
}

/* The first decision-id number of this run: above every number a previous
 * run may have handed out (meta id_next, reserved ahead) and above every
 * seq recorded or archived. */
uint64_t tg_sq_next_seq(struct tg_sq *e)
{
    if (!e)
        return 0;
    return atomic_fetch_add(&e->next_id, 1);
}

const char *tg_sq_failure(struct tg_sq *e)
{
    return e ? atomic_load(&e->failure) : NULL;
}

int tg_sq_ready(struct tg_sq *e)
{
    int v;

    if (!e)
        return 0;
    pthread_mutex_lock(&e->mu);
    v = e->ready && !e->stop;
    pthread_mutex_unlock(&e->mu);
    return v;
}

static int enqueue_wait(struct tg_sq *e, struct pending *p);

int tg_sq_append(struct tg_sq *e,
                       const struct tg_evidence_record *r)
{
    struct pending p;

    /* The decision's shape only (batch.c): a full parse would repeat
     * jansson's work on every request. */
    if (!e || !tg_store_record_valid(r))
        return TG_EINVAL;
    /* Malformed actions are the caller's error, refused here rather than
     * failing the whole batch in the writer (outbox.c). */
    if (r->actions_json && !tg_sq_outbox_valid(r->actions_json))
        return TG_EINVAL;
    memset(&p, 0, sizeof p);
    p.r = r;
    if (r->justification_norm) {
        if (tg_cf_digest(r->justification_norm, p.jd) ||
            tg_cf_digest(r->ticket, p.td))
            return TG_EIO;
        p.has_cf = 1;
    }
    return enqueue_wait(e, &p);
}

int tg_sq_append_entry(struct tg_sq *e,
                             const struct tg_evidence_entry *en)
{
    struct pending p;
    char *id;
    int rc;

    if (!e)
        return TG_EINVAL;
    memset(&p, 0, sizeof p);
    if ((rc = tg_store_entry_prepare(en, &id, p.en_sha)))
        return rc;
    p.en = en;
    p.en_id = id;
    rc = enqueue_wait(e, &p);
    free(id);
    return rc;
}

int tg_sq_bind_jti(struct tg_sq *e, const char *source,
                         const char *jti, const unsigned char body_sha256[32],
                         int64_t time)
{
    struct tg_evidence_record r;
    struct pending p;

    if (!e || !source || !jti || !body_sha256)
        return TG_EINVAL;
    memset(&r, 0, sizeof r);
    r.source = source;
    r.jti = jti;
    memcpy(r.body_sha256, body_sha256, 32);
    r.time = time;
    memset(&p, 0, sizeof p);
    p.r = &r;
    p.jti_only = 1;
    return enqueue_wait(e, &p);
}

/* Queues p (zeroed but for what it carries) for the writer and sleeps
 * until its batch is committed or failed: p's result (outbox.c). */
int tg_sq_enqueue(struct tg_sq *e, struct pending *p)
{
    return enqueue_wait(e, p);
}

/* Queues p for the writer and sleeps until its batch is committed (or
 * failed). Returns p's result. */
static int enqueue_wait(struct tg_sq *e, struct pending *p)
{
    atomic_init(&p->done, 0);
    p->bit = 1u << (atomic_fetch_add(&e->wake_bits, 1) & 31);

    pthread_mutex_lock(&e->mu);
    if (e->stop) {
        pthread_mutex_unlock(&e->mu);
        return TG_EIO;
    }
    if (e->qtail)
        e->qtail->next = p;
    else
        e->qhead = p;
    e->qtail = p;
    pthread_mutex_unlock(&e->mu);
    /* After the unlock, so that the writer does not wake into our mutex;
     * it checks the queue under the mutex, so the signal is not lost. */
    pthread_cond_signal(&e->work);
    for (;;) {
        unsigned int word = atomic_load(&e->wake_word);

        if (atomic_load(&p->done))
            break;
        /* Returns at once when the word moved on since it was read (a
         * batch was woken in between), on EINTR, or when another batch
         * shared our bit: the loop looks again. */
        syscall(SYS_futex, &e->wake_word, FUTEX_WAIT_BITSET_PRIVATE, word, NULL,
                NULL, p->bit);
    }
    return p->rc;
}

