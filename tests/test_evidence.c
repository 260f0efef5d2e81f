/* test_evidence.c - the evidence store: chain, tampering, crash, failures. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sqlite3.h>

#include "server/config/config.h"
#include "validators/errors.h"
#include "server/store/store.h"
/* tg_evidence_cause: this file also tests the SQLite backend itself */
#include "server/store/internal.h"

/* ------------------------------------------------------------ fixtures */

static char tmpdir[256];
static int store_no;

/* A fresh store path in the test's temporary directory. */
static void new_path(char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%s/store%d.db", tmpdir, ++store_no);

    assert_true(n > 0 && (size_t)n < cap);
}

static struct tg_config *conf(const char *path, const char *key)
{
    struct tg_config *c = calloc(1, sizeof *c);

    assert_non_null(c);
    c->store.path = (char *)path;
    c->store.sync = TG_SYNC_NORMAL;
    c->store.busy_timeout_ms = 2000;
    if (key) {
        c->store.hmac_key = (unsigned char *)key;
        c->store.hmac_key_len = strlen(key);
    }
    return c;
}

static struct tg_evidence *open_store(const char *path, const char *key)
{
    struct tg_config *c = conf(path, key);
    struct tg_evidence *e = NULL;

    assert_int_equal(tg_evidence_open(c, &e), 0);
    free(c);
    return e;
}

static void body_digest(const char *s, unsigned char out[32])
{
    unsigned int len = 0;

    assert_int_equal(EVP_Digest(s, strlen(s), out, &len, EVP_sha256(), NULL),
                     1);
}

/* A decision document and its record; strings live in the struct. */
struct rec {
    char id[64], ticket[64], delivery[64], json[2048], just[128];
    struct tg_evidence_record r;
};

static void make_rec(struct rec *x, const char *id, const char *ticket,
                     const char *delivery, const char *body,
                     const char *just, int64_t t)
{
    int n;

    memset(x, 0, sizeof *x);
    snprintf(x->id, sizeof x->id, "%s", id);
    snprintf(x->ticket, sizeof x->ticket, "%s", ticket);
    n = snprintf(x->json, sizeof x->json,
                 "{\"decision\":\"annotate\",\"decision_id\":\"%s\","
                 "\"ticket\":\"%s\",\"source\":\"jira\","
                 "\"evaluated_at\":\"2026-11-22T10:00:00Z\","
                 "\"policy\":\"sha256:abc\",\"dry_run\":false,"
                 "\"findings\":[],\"message\":\"\"}",
                 id, ticket);
    assert_true(n > 0 && (size_t)n < sizeof x->json);
    x->r.decision_id = x->id;
    x->r.ticket = x->ticket;
    x->r.source = "jira";
    if (delivery) {
        snprintf(x->delivery, sizeof x->delivery, "%s", delivery);
        x->r.delivery_id = x->delivery;
    }
    body_digest(body ? body : id, x->r.body_sha256);
    x->r.policy_digest = "sha256:abc";
    x->r.time = t;
    x->r.decision_json = x->json;
    x->r.decision_len = strlen(x->json);
    if (just) {
        snprintf(x->just, sizeof x->just, "%s", just);
        x->r.justification_norm = x->just;
    }
}

static int append(struct tg_evidence *e, const char *id, const char *ticket,
                  const char *delivery, const char *body, const char *just,
                  int64_t t)
{
    struct rec x;

    make_rec(&x, id, ticket, delivery, body, just, t);
    return tg_evidence_append(e, &x.r);
}

/* A store of n records d-1..d-n (tickets T-1, T-2, T-3 in turn). */
static void build_chain(const char *path, const char *key, int n)
{
    struct tg_evidence *e = open_store(path, key);

    for (int i = 1; i <= n; i++) {
        char id[32], ticket[32];

        snprintf(id, sizeof id, "d-%d", i);
        snprintf(ticket, sizeof ticket, "T-%d", (i - 1) % 3 + 1);
        assert_int_equal(append(e, id, ticket, NULL, NULL, NULL, 1000 + i),
                         0);
    }
    tg_evidence_close(e);
}

/* Runs text on the store at path, "@H" replaced by a forged hash. */
static void sql(const char *path, const char *text)
{
    static const char forged[] =
        "1111111111111111111111111111111111111111111111111111111111111111";
    sqlite3 *db = NULL;
    char buf[2048];
    char *err = NULL;
    const char *at = strstr(text, "@H");
    int n;

    if (at)
        n = snprintf(buf, sizeof buf, "%.*s%s%s", (int)(at - text), text,
                     forged, at + 2);
    else
        n = snprintf(buf, sizeof buf, "%s", text);
    assert_true(n > 0 && (size_t)n < sizeof buf);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    if (sqlite3_exec(db, buf, NULL, NULL, &err) != SQLITE_OK)
        fail_msg("%s: %s", buf, err);
    sqlite3_close(db);
}

static struct tg_evidence_verdict verify(const char *path, const char *key)
{
    struct tg_evidence_verdict v;

    assert_int_equal(tg_evidence_verify_file(path,
                                             (const unsigned char *)key,
                                             key ? strlen(key) : 0, &v),
                     0);
    return v;
}

/* ---------------------------------------- an independent chain hasher */

/*
 * Recomputes prev_hash, hash and mac of every record from seq `from` on,
 * the way a forger who knows the algorithm (docs/EVIDENCE.md) but not the
 * key would. Written from the documentation, not from evidence.c, so it also
 * checks that the two agree.
 */
static void field(EVP_MD_CTX *ctx, sqlite3_stmt *st, int col)
{
    char pre[32];
    int n;

    if (sqlite3_column_type(st, col) == SQLITE_NULL) {
        EVP_DigestUpdate(ctx, "-\n", 2);
        return;
    }
    {
        const unsigned char *p = sqlite3_column_text(st, col);
        int len = sqlite3_column_bytes(st, col);

        n = snprintf(pre, sizeof pre, "%d:", len);
        EVP_DigestUpdate(ctx, pre, (size_t)n);
        EVP_DigestUpdate(ctx, p, (size_t)len);
        EVP_DigestUpdate(ctx, "\n", 1);
    }
}

static void hexs(const unsigned char *in, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", in[i]);
}

static void rehash_range(const char *path, int64_t from, int64_t to,
                         const char *key)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    char prev[65];

    memset(prev, '0', 64);
    prev[64] = '\0';
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db,
        "SELECT seq, decision_id, ticket, source, delivery_id, body_sha256,"
        " policy, time, decision, just_norm, hash, kind, judged FROM records"
        " ORDER BY seq",
        -1, &st, NULL), SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
        int64_t seq = sqlite3_column_int64(st, 0);
        unsigned char d[32], m[32];
        unsigned int len = 0;
        char hash[65], mac[65];
        EVP_MD_CTX *ctx;
        char *upd;
        int v2;

        if (seq < from || seq > to) {
            snprintf(prev, sizeof prev, "%s", sqlite3_column_text(st, 10));
            continue;
        }
        ctx = EVP_MD_CTX_new();
        EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
        /* kind NULL: the first format (v1); else v2, which adds kind and
         * judged after prev_hash */
        v2 = sqlite3_column_type(st, 11) != SQLITE_NULL;
        EVP_DigestUpdate(ctx, v2 ? "ticketgate-evidence-v2\n"
                                 : "ticketgate-evidence-v1\n", 23);
        for (int i = 0; i < 10; i++)
            field(ctx, st, i);
        {
            char pre[8];
            int n = snprintf(pre, sizeof pre, "64:");

            EVP_DigestUpdate(ctx, pre, (size_t)n);
            EVP_DigestUpdate(ctx, prev, 64);
            EVP_DigestUpdate(ctx, "\n", 1);
        }
        if (v2) {
            field(ctx, st, 11);
            field(ctx, st, 12);
        }
        EVP_DigestFinal_ex(ctx, d, &len);
        EVP_MD_CTX_free(ctx);
        hexs(d, 32, hash);
        if (key) {
            HMAC(EVP_sha256(), key, (int)strlen(key), d, 32, m, &len);
            hexs(m, 32, mac);
        }
        upd = sqlite3_mprintf(
            "UPDATE records SET prev_hash = %Q, hash = %Q, mac = %Q"
            " WHERE seq = %lld", prev, hash, key ? mac : NULL,
            (long long)seq);
        assert_int_equal(sqlite3_exec(db, upd, NULL, NULL, NULL), SQLITE_OK);
        sqlite3_free(upd);
        snprintf(prev, sizeof prev, "%s", hash);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void rehash_from(const char *path, int64_t from, const char *key)
{
    rehash_range(path, from, INT64_MAX, key);
}

/* ------------------------------------------------------ fault injection */

/*
 * A VFS over the default one whose writes, syncs and truncations fail while
 * fault_on is set: a disk that filled up or went read-only under a running
 * server. (The tests run as root too, where chmod cannot make a file
 * unwritable.)
 */
static atomic_int fault_on;
static sqlite3_vfs *base_vfs;
static sqlite3_vfs fault_vfs;

struct fault_file {
    sqlite3_file base;
    sqlite3_file *real;
};

#define REAL(f) (((struct fault_file *)(f))->real)

static int f_close(sqlite3_file *f)
{
    return REAL(f)->pMethods->xClose(REAL(f));
}
static int f_read(sqlite3_file *f, void *b, int n, sqlite3_int64 off)
{
    return REAL(f)->pMethods->xRead(REAL(f), b, n, off);
}
static int f_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 off)
{
    if (atomic_load(&fault_on))
        return SQLITE_FULL;
    return REAL(f)->pMethods->xWrite(REAL(f), b, n, off);
}
static int f_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    if (atomic_load(&fault_on))
        return SQLITE_IOERR_TRUNCATE;
    return REAL(f)->pMethods->xTruncate(REAL(f), size);
}
static int f_sync(sqlite3_file *f, int flags)
{
    if (atomic_load(&fault_on))
        return SQLITE_IOERR_FSYNC;
    return REAL(f)->pMethods->xSync(REAL(f), flags);
}
static int f_size(sqlite3_file *f, sqlite3_int64 *size)
{
    return REAL(f)->pMethods->xFileSize(REAL(f), size);
}
static int f_lock(sqlite3_file *f, int l)
{
    return REAL(f)->pMethods->xLock(REAL(f), l);
}
static int f_unlock(sqlite3_file *f, int l)
{
    return REAL(f)->pMethods->xUnlock(REAL(f), l);
}
static int f_check(sqlite3_file *f, int *out)
{
    return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}
static int f_fcntl(sqlite3_file *f, int op, void *arg)
{
    return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}
static int f_sector(sqlite3_file *f)
{
    return REAL(f)->pMethods->xSectorSize(REAL(f));
}
static int f_devchar(sqlite3_file *f)
{
    return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}
static int f_shmmap(sqlite3_file *f, int pg, int sz, int ext, void volatile **p)
{
    return REAL(f)->pMethods->xShmMap(REAL(f), pg, sz, ext, p);
}
static int f_shmlock(sqlite3_file *f, int off, int n, int flags)
{
    return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}
static void f_shmbarrier(sqlite3_file *f)
{
    REAL(f)->pMethods->xShmBarrier(REAL(f));
}
static int f_shmunmap(sqlite3_file *f, int del)
{
    return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}
static int f_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **pp)
{
    return REAL(f)->pMethods->xFetch(REAL(f), off, n, pp);
}
static int f_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
    return REAL(f)->pMethods->xUnfetch(REAL(f), off, p);
}

static const sqlite3_io_methods fault_io = {
    3, f_close, f_read, f_write, f_truncate, f_sync, f_size, f_lock,
    f_unlock, f_check, f_fcntl, f_sector, f_devchar, f_shmmap, f_shmlock,
    f_shmbarrier, f_shmunmap, f_fetch, f_unfetch};

static int f_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f,
                  int flags, int *outflags)
{
    struct fault_file *ff = (struct fault_file *)f;
    int rc;

    (void)vfs;
    ff->real = (sqlite3_file *)(ff + 1);
    rc = base_vfs->xOpen(base_vfs, name, ff->real, flags, outflags);
    f->pMethods = ff->real->pMethods ? &fault_io : NULL;
    return rc;
}

static void install_fault_vfs(void)
{
    base_vfs = sqlite3_vfs_find(NULL);
    assert_non_null(base_vfs);
    assert_true(base_vfs->iVersion >= 2);
    fault_vfs = *base_vfs;
    fault_vfs.zName = "tg-fault";
    fault_vfs.szOsFile = (int)sizeof(struct fault_file) + base_vfs->szOsFile;
    fault_vfs.xOpen = f_open;
    assert_int_equal(sqlite3_vfs_register(&fault_vfs, 1), SQLITE_OK);
}

/* ---------------------------------------------------------------- tests */

static void test_append_get_list(void **state)
{
    char path[300], *doc = NULL;
    struct tg_evidence *e;
    json_t *page = NULL, *next;
    const char *ids[] = {"d-1", "d-2", "d-3"};

    (void)state;
    new_path(path, sizeof path);
    e = open_store(path, NULL);
    assert_int_equal(tg_evidence_ready(e), 1);
    assert_int_equal(append(e, "d-1", "ACC-1", NULL, NULL, NULL, 10), 0);
    assert_int_equal(append(e, "x-1", "ACC-2", NULL, NULL, NULL, 11), 0);
    assert_int_equal(append(e, "d-2", "ACC-1", NULL, NULL, NULL, 12), 0);
    assert_int_equal(append(e, "d-3", "ACC-1", NULL, NULL, NULL, 13), 0);

    assert_int_equal(tg_evidence_get(e, "d-2", &doc), 0);
    assert_non_null(strstr(doc, "\"decision_id\":\"d-2\""));
    free(doc);
    assert_int_equal(tg_evidence_get(e, "d-9", &doc), TG_ENOTFOUND);

    /* newest first, two per page, then the rest */
    assert_int_equal(tg_evidence_list(e, "ACC-1", 2, 0, &page), 0);
    assert_int_equal(json_array_size(json_object_get(page, "decisions")), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(
                            json_object_get(page, "decisions"), 0),
                                                          "decision_id")),
                        ids[2]);
    next = json_object_get(page, "next");
    assert_true(json_is_integer(next));
    {
        uint64_t before = (uint64_t)json_integer_value(next);
        json_t *p2 = NULL;

        assert_int_equal(tg_evidence_list(e, "ACC-1", 2, before, &p2), 0);
        assert_int_equal(json_array_size(json_object_get(p2, "decisions")),
                         1);
        assert_string_equal(
            json_string_value(json_object_get(
                json_array_get(json_object_get(p2, "decisions"), 0),
                "decision_id")),
            ids[0]);
        assert_true(json_is_null(json_object_get(p2, "next")));
        json_decref(p2);
    }
    json_decref(page);
    assert_int_equal(tg_evidence_list(e, "NOPE-1", 0, 0, &page), 0);
    assert_int_equal(json_array_size(json_object_get(page, "decisions")), 0);
    assert_true(json_is_null(json_object_get(page, "next")));
    json_decref(page);
    tg_evidence_close(e);
    assert_int_equal(verify(path, NULL).count, 4);
}

static void test_find_delivery(void **state)
{
    char path[300], *doc = NULL;
    struct tg_evidence *e;
    struct rec x;
    unsigned char other[32];

    (void)state;
    new_path(path, sizeof path);
    e = open_store(path, NULL);
    make_rec(&x, "d-1", "ACC-1", "dlv-1", "body-1", NULL, 10);
    assert_int_equal(tg_evidence_append(e, &x.r), 0);

    assert_int_equal(tg_evidence_find_delivery(e, "jira", "dlv-1",
                                               x.r.body_sha256, &doc), 0);
    assert_string_equal(doc, x.json);
    free(doc);
    doc = NULL;
    body_digest("body-2", other);
    assert_int_equal(tg_evidence_find_delivery(e, "jira", "dlv-1", other,
                                               &doc), TG_ECONFLICT);
    assert_null(doc);
    assert_int_equal(tg_evidence_find_delivery(e, "jira", "dlv-2",
                                               x.r.body_sha256, &doc),
                     TG_ENOTFOUND);
    /* delivery ids are per source */
    assert_int_equal(tg_evidence_find_delivery(e, "servicenow", "dlv-1",
                                               x.r.body_sha256, &doc),
                     TG_ENOTFOUND);

    /* a second append of the delivery id writes nothing */
    assert_int_equal(append(e, "d-2", "ACC-1", "dlv-1", "body-2", NULL, 11),
                     TG_ECONFLICT);
    assert_int_equal(tg_evidence_get(e, "d-2", &doc), TG_ENOTFOUND);
    assert_int_equal(append(e, "d-3", "ACC-1", "dlv-3", "body-3", NULL, 12),
                     0);
    tg_evidence_close(e);
    {
        struct tg_evidence_verdict v = verify(path, NULL);

        assert_int_equal(v.intact, 1);
        assert_int_equal(v.count, 2);
        assert_int_equal(v.head_seq, 2);
    }
}

static void test_append_invalid(void **state)
{
    char path[300];
    struct tg_evidence *e;
    struct rec x;

    (void)state;
    new_path(path, sizeof path);
    e = open_store(path, NULL);
    make_rec(&x, "d-1", "ACC-1", NULL, NULL, NULL, 10);
    x.r.ticket = NULL;
    assert_int_equal(tg_evidence_append(e, &x.r), TG_EINVAL);
    make_rec(&x, "d-1", "ACC-1", NULL, NULL, NULL, 10);
    x.r.decision_json = "not json";
    x.r.decision_len = 8;
    assert_int_equal(tg_evidence_append(e, &x.r), TG_EINVAL);
    assert_int_equal(tg_evidence_append(e, NULL), TG_EINVAL);
    assert_int_equal(append(e, "d-1", "ACC-1", NULL, NULL, NULL, 10), 0);
    /* a duplicate decision id fails alone; the chain has no hole */
    assert_int_equal(append(e, "d-1", "ACC-2", NULL, NULL, NULL, 11),
                     TG_EINVAL);
    assert_int_equal(append(e, "d-2", "ACC-2", NULL, NULL, NULL, 12), 0);
    tg_evidence_close(e);
    assert_int_equal(verify(path, NULL).intact, 1);
    assert_int_equal(verify(path, NULL).count, 2);
    assert_int_equal(tg_evidence_open(NULL, &e), TG_EINVAL);
}

/* Each kind of tampering, on a fresh chain of 6, and the first record that
 * verification must name. */
static void test_tampering(void **state)
{
    static const struct {
        const char *name;
        const char *sql;     /* @H: a forged hash */
        int64_t rehash;      /* the forger hashes this seq right; 0: none */
        uint64_t broken;
        const char *id;
    } cases[] = {
        {"update decision",
         "UPDATE records SET decision = replace(decision, 'annotate',"
         " 'allow') WHERE seq = 3", 0, 3, "d-3"},
        {"update ticket", "UPDATE records SET ticket = 'X-1' WHERE seq = 5",
         0, 5, "d-5"},
        {"update time", "UPDATE records SET time = time + 1 WHERE seq = 1",
         0, 1, "d-1"},
        {"set delivery id",
         "UPDATE records SET delivery_id = 'x' WHERE seq = 2", 0, 2, "d-2"},
        {"update prev_hash",
         "UPDATE records SET prev_hash = '@H' WHERE seq = 4", 0, 4, "d-4"},
        {"update hash", "UPDATE records SET hash = '@H' WHERE seq = 6", 0, 6,
         "d-6"},
        {"altered and rehashed alone",
         "UPDATE records SET decision = replace(decision, 'annotate',"
         " 'allow') WHERE seq = 3", 3, 4, "d-4"},
        {"delete middle", "DELETE FROM records WHERE seq = 3", 0, 4, "d-4"},
        {"delete first", "DELETE FROM records WHERE seq = 1", 0, 2, "d-2"},
        {"insert forged at end",
         "INSERT INTO records SELECT 7, 'd-forged', ticket, source, NULL,"
         " body_sha256, policy, time, decision, NULL, hash, '@H', NULL,"
         " kind, judged, facts"
         " FROM records WHERE seq = 6", 0, 7, "d-forged"},
        {"insert forged in the middle",
         "UPDATE records SET seq = seq + 100 WHERE seq >= 3;"
         "UPDATE records SET seq = seq - 99 WHERE seq >= 100;"
         "INSERT INTO records SELECT 3, 'd-forged', ticket, source, NULL,"
         " body_sha256, policy, time, decision, NULL, hash, '@H', NULL,"
         " kind, judged, facts"
         " FROM records WHERE seq = 2", 0, 3, "d-forged"},
        {"insert forged in the middle, hashed right",
         "UPDATE records SET seq = seq + 100 WHERE seq >= 3;"
         "UPDATE records SET seq = seq - 99 WHERE seq >= 100;"
         "INSERT INTO records SELECT 3, 'd-forged', ticket, source, NULL,"
         " body_sha256, policy, time, decision, NULL, hash, '@H', NULL,"
         " kind, judged, facts"
         " FROM records WHERE seq = 2", 3, 4, "d-3"},
        {"swap two seqs",
         "UPDATE records SET seq = -2 WHERE seq = 2;"
         "UPDATE records SET seq = 2 WHERE seq = 5;"
         "UPDATE records SET seq = 5 WHERE seq = -2", 0, 2, "d-5"},
        {"renumber after a delete",
         "DELETE FROM records WHERE seq = 3;"
         "UPDATE records SET seq = seq - 1 WHERE seq > 3", 0, 3, "d-4"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[300];
        struct tg_evidence_verdict v;

        new_path(path, sizeof path);
        build_chain(path, NULL, 6);
        assert_int_equal(verify(path, NULL).intact, 1);
        sql(path, cases[i].sql);
        if (cases[i].rehash)
            rehash_range(path, cases[i].rehash, cases[i].rehash, NULL);
        v = verify(path, NULL);
        if (v.intact || v.broken_seq != cases[i].broken ||
            strcmp(v.broken_id, cases[i].id) != 0)
            fail_msg("%s: intact %d, broken at %" PRIu64 " (%s): %s",
                     cases[i].name, v.intact, v.broken_seq, v.broken_id,
                     v.reason);
    }
}

static void test_mac(void **state)
{
    static const char key[] = "evidence-link-key";
    char path[300];
    struct tg_evidence_verdict v;

    (void)state;
    new_path(path, sizeof path);
    build_chain(path, key, 5);
    v = verify(path, key);
    assert_int_equal(v.intact, 1);
    assert_int_equal(v.count, 5);
    assert_int_equal(verify(path, NULL).intact, 1);
    v = verify(path, "another key");
    assert_int_equal(v.intact, 0);
    assert_int_equal(v.broken_seq, 1);

    /* alter record 3 and rebuild the chain from it without the key: the
     * hashes check out, the MACs do not */
    sql(path, "UPDATE records SET decision = replace(decision, 'annotate',"
        " 'allow') WHERE seq = 3");
    rehash_from(path, 3, NULL);
    assert_int_equal(verify(path, NULL).intact, 1);
    v = verify(path, key);
    assert_int_equal(v.intact, 0);
    assert_int_equal(v.broken_seq, 3);
    assert_non_null(strstr(v.reason, "MAC"));

    /* a forger who guesses the wrong key fares no better */
    rehash_from(path, 3, "guessed");
    v = verify(path, key);
    assert_int_equal(v.intact, 0);
    assert_int_equal(v.broken_seq, 3);
    /* and with the key everything is whole again */
    rehash_from(path, 3, key);
    assert_int_equal(verify(path, key).intact, 1);
}

/* The test's independent hasher agrees with the store's: a chain rehashed
 * from genesis is unchanged. */
static void test_serialisation_documented(void **state)
{
    char path[300];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    char before[65 * 8] = "", after[65 * 8] = "";

    (void)state;
    new_path(path, sizeof path);
    {
        struct tg_evidence *e = open_store(path, "k");
        struct rec x;

        make_rec(&x, "d-1", "ACC-1", "dlv", "b", "same words here", -5);
        assert_int_equal(tg_evidence_append(e, &x.r), 0);
        make_rec(&x, "d-2", "", NULL, "b", "", 0);
        assert_int_equal(tg_evidence_append(e, &x.r), 0);
        tg_evidence_close(e);
    }
    for (int pass = 0; pass < 2; pass++) {
        char *out = pass ? after : before;

        if (pass)
            rehash_from(path, 1, "k");
        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db, "SELECT hash || mac FROM"
                                            " records ORDER BY seq", -1, &st,
                                            NULL), SQLITE_OK);
        while (sqlite3_step(st) == SQLITE_ROW) {
            size_t used = strlen(out);

            snprintf(out + used, 65 * 8 - used, "%s",
                     (const char *)sqlite3_column_text(st, 0));
        }
        sqlite3_finalize(st);
        sqlite3_close(db);
    }
    assert_int_equal(strlen(before), 256);
    assert_string_equal(before, after);
}

struct writer_arg {
    struct tg_evidence *e;
    int t;
    int failures;
};

static void *writer_thread(void *p)
{
    struct writer_arg *a = p;

    for (int i = 0; i < 200; i++) {
        char id[32], ticket[32];

        snprintf(id, sizeof id, "d-%d-%d", a->t, i);
        snprintf(ticket, sizeof ticket, "T-%d", a->t);
        if (append(a->e, id, ticket, NULL, NULL, "shared words", 100 + i))
            a->failures++;
    }
    return NULL;
}

static void test_concurrent_appends(void **state)
{
    char path[300];
    struct tg_evidence *e;
    pthread_t th[8];
    struct writer_arg args[8];
    long n = -1;

    (void)state;
    new_path(path, sizeof path);
    e = open_store(path, NULL);
    for (int t = 0; t < 8; t++) {
        args[t] = (struct writer_arg){.e = e, .t = t};
        assert_int_equal(pthread_create(&th[t], NULL, writer_thread,
                                        &args[t]), 0);
    }
    for (int t = 0; t < 8; t++) {
        pthread_join(th[t], NULL);
        assert_int_equal(args[t].failures, 0);
    }
    for (int t = 0; t < 8; t++) {
        for (int i = 0; i < 200; i += 37) {
            char id[32], *doc = NULL;

            snprintf(id, sizeof id, "d-%d-%d", t, i);
            assert_int_equal(tg_evidence_get(e, id, &doc), 0);
            free(doc);
        }
    }
    assert_int_equal(tg_evidence_copy_forward_count(e, "shared words", "T-0",
                                                    0, &n), 0);
    assert_int_equal(n, 7);
    tg_evidence_close(e);
    {
        struct tg_evidence_verdict v = verify(path, NULL);

        assert_int_equal(v.intact, 1);
        assert_int_equal(v.count, 1600);
    }
}

/* The child appends from 4 threads and reports each acknowledged id, with
 * the decision-id number it drew for it; it is killed mid-burst. Every
 * acknowledged id must be there afterwards, and no number drawn handed out
 * again. */
static int crash_pipe;

static void *crash_thread(void *p)
{
    struct tg_evidence *e = p;
    static atomic_int counter;

    for (;;) {
        char id[48], line[96];
        int i = atomic_fetch_add(&counter, 1), n;
        uint64_t num;

        /* two numbers skipped (decisions not recorded), one recorded */
        tg_evidence_next_seq(e);
        tg_evidence_next_seq(e);
        num = tg_evidence_next_seq(e);

        snprintf(id, sizeof id, "crash-%d", i);
        if (append(e, id, "T-crash", NULL, NULL, NULL, i) != 0)
            _exit(3);
        n = snprintf(line, sizeof line, "%s %" PRIu64 "\n", id, num);
        /* one write of < PIPE_BUF bytes: lines never interleave */
        if (write(crash_pipe, line, (size_t)n) != n)
            _exit(4);
    }
    return NULL;
}

static void test_crash_safety(void **state)
{
    char path[300], buf[65536];
    int fds[2];
    pid_t pid;
    size_t len = 0;
    int status, acked = 0;
    uint64_t max_num = 0;

    (void)state;
    new_path(path, sizeof path);
    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct tg_config *c = conf(path, NULL);
        struct tg_evidence *e = NULL;
        pthread_t th[4];

        close(fds[0]);
        crash_pipe = fds[1];
        if (tg_evidence_open(c, &e))
            _exit(2);
        for (int t = 0; t < 4; t++)
            pthread_create(&th[t], NULL, crash_thread, e);
        for (;;)
            pause();
    }
    close(fds[1]);
    /* let it get well into the burst, then kill it without warning */
    while (len < 4000) {
        ssize_t n = read(fds[0], buf + len, sizeof buf - 1 - len);

        assert_true(n > 0);
        len += (size_t)n;
    }
    kill(pid, SIGKILL);
    for (;;) {
        ssize_t n = read(fds[0], buf + len, sizeof buf - 1 - len);

        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fds[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    buf[len] = '\0';
    for (const char *q = buf; (q = strchr(q, '\n')); q++)
        acked++;
    /* an auditor may verify the crashed store before anyone reopens it */
    {
        struct tg_evidence_verdict v = verify(path, NULL);

        assert_int_equal(v.intact, 1);
        assert_true(v.count >= (uint64_t)acked);
    }
    acked = 0;
    {
        struct tg_evidence *e = open_store(path, NULL);
        char *line = buf;

        for (char *nl; (nl = strchr(line, '\n')); line = nl + 1) {
            char *doc = NULL, *sp = strchr(line, ' ');
            uint64_t num;

            *nl = '\0';
            assert_non_null(sp);
            *sp = '\0';
            num = strtoull(sp + 1, NULL, 10);
            if (num > max_num)
                max_num = num;
            if (tg_evidence_get(e, line, &doc) != 0)
                fail_msg("acknowledged %s is missing after the crash", line);
            free(doc);
            acked++;
        }
        /* numbers are reserved ahead of use: none drawn comes again */
        assert_true(tg_evidence_next_seq(e) > max_num);
        /* the store still takes writes, linked to the last record */
        assert_int_equal(append(e, "after-crash", "T-crash", NULL, NULL,
                                NULL, 1), 0);
        tg_evidence_close(e);
    }
    assert_true(acked > 100);
    {
        struct tg_evidence_verdict v = verify(path, NULL);

        assert_int_equal(v.intact, 1);
        assert_true(v.count >= (uint64_t)acked + 1);
        print_message("crash: %d acknowledged, %" PRIu64 " recorded\n",
                      acked, v.count - 1);
    }
}

static int wait_ready(struct tg_evidence *e, int want, int ms)
{
    for (int waited = 0; waited < ms; waited += 50) {
        if (tg_evidence_ready(e) == want)
            return 1;
        usleep(50 * 1000);
    }
    return tg_evidence_ready(e) == want;
}

/* The disk fills up (every write fails) under a running store, and later
 * frees up again. */
static void test_write_failure_and_recovery(void **state)
{
    char path[300], *doc = NULL;
    struct tg_evidence *e;
    int rc;

    (void)state;
    new_path(path, sizeof path);
    e = open_store(path, NULL);
    assert_int_equal(append(e, "d-1", "ACC-1", NULL, NULL, NULL, 1), 0);

    atomic_store(&fault_on, 1);
    rc = append(e, "d-2", "ACC-1", NULL, NULL, NULL, 2);
    assert_true(rc == TG_EIO || rc == TG_EBUSY);
    assert_int_equal(tg_evidence_ready(e), 0);
    rc = append(e, "d-3", "ACC-1", NULL, NULL, NULL, 3);
    assert_true(rc == TG_EIO || rc == TG_EBUSY);
    /* reads keep working */
    assert_int_equal(tg_evidence_get(e, "d-1", &doc), 0);
    free(doc);
    assert_int_equal(tg_evidence_get(e, "d-2", &doc), TG_ENOTFOUND);
    /* still broken a probe later */
    usleep((TG_EVIDENCE_PROBE_MS + 300) * 1000);
    assert_int_equal(tg_evidence_ready(e), 0);

    atomic_store(&fault_on, 0);
    /* the writer's probe finds out by itself */
    assert_true(wait_ready(e, 1, 3 * TG_EVIDENCE_PROBE_MS + 2000));
    assert_int_equal(append(e, "d-4", "ACC-1", NULL, NULL, NULL, 4), 0);

    /* and a later append alone is enough too */
    atomic_store(&fault_on, 1);
    assert_int_not_equal(append(e, "d-5", "ACC-1", NULL, NULL, NULL, 5), 0);
    atomic_store(&fault_on, 0);
    assert_int_equal(append(e, "d-6", "ACC-1", NULL, NULL, NULL, 6), 0);
    assert_int_equal(tg_evidence_ready(e), 1);
    tg_evidence_close(e);
    {
        struct tg_evidence_verdict v = verify(path, NULL);

        assert_int_equal(v.intact, 1);
        assert_int_equal(v.count, 3); /* d-1, d-4, d-6: no hole */
    }
}

/* Another process holds the write lock beyond busy_timeout_ms. */
static void test_busy(void **state)
{
    char path[300];
    struct tg_config *c;
    struct tg_evidence *e = NULL;
    sqlite3 *db = NULL;

    (void)state;
    new_path(path, sizeof path);
    c = conf(path, NULL);
    c->store.busy_timeout_ms = 100;
    assert_int_equal(tg_evidence_open(c, &e), 0);
    free(c);
    assert_int_equal(append(e, "d-1", "ACC-1", NULL, NULL, NULL, 1), 0);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(append(e, "d-2", "ACC-1", NULL, NULL, NULL, 2),
                     TG_EBUSY);
    assert_int_equal(tg_evidence_ready(e), 0);
    assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_true(wait_ready(e, 1, 3 * TG_EVIDENCE_PROBE_MS + 2000));
    assert_int_equal(append(e, "d-3", "ACC-1", NULL, NULL, NULL, 3), 0);
    tg_evidence_close(e);
    assert_int_equal(verify(path, NULL).count, 2);
}

/* A store whose directory is missing is created with it (the example's
 * ./data/ does not exist in a fresh clone); one that cannot be created
 * fails to open, and opens once the obstacle is gone. */
static void test_unwritable_path(void **state)
{
    char dir[300], path[320], blocked[320], file[300];
    struct tg_config *c, *cb;
    struct tg_evidence *e = NULL;
    FILE *f;

    (void)state;
    snprintf(dir, sizeof dir, "%s/new/deeper", tmpdir);
    snprintf(path, sizeof path, "%s/store.db", dir);
    c = conf(path, NULL);
    assert_int_equal(tg_evidence_open(c, &e), 0);
    assert_int_equal(tg_evidence_ready(e), 1);
    tg_evidence_close(e);
    e = NULL;

    /* A regular file where a directory must go: no root bypasses that. */
    snprintf(file, sizeof file, "%s/plainfile", tmpdir);
    f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    snprintf(blocked, sizeof blocked, "%s/sub/store.db", file);
    cb = conf(blocked, NULL);
    assert_int_equal(tg_evidence_open(cb, &e), TG_EIO);
    assert_null(e);
    assert_int_equal(unlink(file), 0);
    assert_int_equal(tg_evidence_open(cb, &e), 0);
    tg_evidence_close(e);
    free(cb);
    free(c);
}

static void test_copy_forward(void **state)
{
    static const struct {
        const char *just, *ticket;
        int64_t since;
        long want;
    } cases[] = {
        {"grant for quarterly close", "A", 100, 1},  /* B only; C too old */
        {"grant for quarterly close", "E", 0, 3},    /* A, B, C */
        {"grant for quarterly close", "B", 0, 2},    /* A, C: not B itself */
        {"grant for quarterly close", "E", 301, 0},  /* window after all */
        {"grant for quarterly close", "E", 300, 1},  /* B at 300: inclusive */
        {"another reason entirely", "A", 0, 1},
        {"unseen", "A", 0, 0},
    };
    char path[300];
    struct tg_evidence *e;
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long n = -1;
    int covered = 0;

    (void)state;
    new_path(path, sizeof path);
    e = open_store(path, NULL);
    assert_int_equal(append(e, "d-1", "A", NULL, NULL,
                            "grant for quarterly close", 100), 0);
    assert_int_equal(append(e, "d-2", "B", NULL, NULL,
                            "grant for quarterly close", 200), 0);
    assert_int_equal(append(e, "d-3", "B", NULL, NULL,
                            "grant for quarterly close", 300), 0);
    assert_int_equal(append(e, "d-4", "C", NULL, NULL,
                            "grant for quarterly close", 50), 0);
    assert_int_equal(append(e, "d-5", "D", NULL, NULL,
                            "another reason entirely", 300), 0);
    assert_int_equal(append(e, "d-6", "D", NULL, NULL, NULL, 300), 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(tg_evidence_copy_forward_count(e, cases[i].just,
                                                        cases[i].ticket,
                                                        cases[i].since, &n),
                         0);
        if (n != cases[i].want)
            fail_msg("case %zu: %ld, want %ld", i, n, cases[i].want);
    }
    assert_int_equal(tg_evidence_copy_forward_count(e, NULL, "A", 0, &n), 0);
    assert_int_equal(n, 0);
    tg_evidence_close(e);

    /* an index lookup in just_use, never a scan of the records */
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db,
        "EXPLAIN QUERY PLAN SELECT COUNT(*) FROM (SELECT 1 FROM just_use"
        " WHERE just_norm = ?1 AND last_time >= ?2 AND ticket <> ?3"
        " LIMIT ?4)",
        -1, &st, NULL), SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *d = (const char *)sqlite3_column_text(st, 3);

        if (strstr(d, "USING INDEX just_use_time") ||
            strstr(d, "USING COVERING INDEX just_use_time") ||
            strstr(d, "USING PRIMARY KEY"))
            covered = 1;
        assert_null(strstr(d, "SCAN just_use"));
        assert_null(strstr(d, "SCAN records"));
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    assert_true(covered);
}

/* What SQLite says the copy-forward count is: the reference the index in
 * memory must equal. */
static long sql_copy_count(const char *path, const char *just,
                           const char *ticket, int64_t since)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long n = -1;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db,
        "SELECT COUNT(*) FROM (SELECT 1 FROM just_use WHERE just_norm = ?1"
        " AND last_time >= ?2 AND ticket <> ?3 LIMIT 1000)", -1, &st, NULL),
        SQLITE_OK);
    sqlite3_bind_text(st, 1, just, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, since);
    sqlite3_bind_text(st, 3, ticket, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    n = (long)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

static const char *const JUSTS[] = {"alpha reason", "beta reason",
                                    "gamma reason", "delta reason", ""};
static const char *const TICKETS[] = {"T-1", "T-2", "T-3", "T-4",
                                      "T-5", "T-6", "T-7", ""};
static const int64_t SINCES[] = {INT64_MIN, 0, 250, 500, 999, 1000, 5000};

/* Every justification, ticket and window against SQLite. */
static void compare_all(struct tg_evidence *e, const char *path,
                        const char *extra_just)
{
    size_t nj = sizeof JUSTS / sizeof JUSTS[0];

    for (size_t j = 0; j <= nj; j++) {
        const char *just = j < nj ? JUSTS[j] : extra_just;

        if (!just)
            continue;
        for (size_t t = 0; t < sizeof TICKETS / sizeof TICKETS[0]; t++) {
            for (size_t s = 0; s < sizeof SINCES / sizeof SINCES[0]; s++) {
                long have = -1, want;

                assert_int_equal(tg_evidence_copy_forward_count(
                                     e, just, TICKETS[t], SINCES[s], &have),
                                 0);
                want = sql_copy_count(path, just, TICKETS[t], SINCES[s]);
                if (have != want)
                    fail_msg("'%s' / %s since %" PRId64 ": %ld, SQLite %ld",
                             just, TICKETS[t], SINCES[s], have, want);
            }
        }
    }
}

/* The index in memory answers exactly as just_use does: after each commit,
 * out-of-order times, re-used tickets, the empty justification and ticket;
 * and another process's records, late by at most its freshness bound, then
 * from its own next commit on. */
static void test_copy_forward_index(void **state)
{
    char path[300];
    struct tg_evidence *a, *b;
    unsigned seed = 12345;
    int id = 0;

    (void)state;
    new_path(path, sizeof path);
    a = open_store(path, NULL);
    for (int round = 0; round < 6; round++) {
        for (int i = 0; i < 40; i++) {
            char did[32];

            seed = seed * 1103515245u + 12345u;
            snprintf(did, sizeof did, "d-%d", ++id);
            assert_int_equal(
                append(a, did, TICKETS[(seed >> 8) % 8], NULL, NULL,
                       JUSTS[(seed >> 16) % 5], (int64_t)((seed >> 4) % 1200)),
                0);
        }
        compare_all(a, path, NULL);
    }

    /* A second store on the same file: another process, to this one. */
    b = open_store(path, NULL);
    assert_int_equal(append(b, "b-1", "T-other", NULL, NULL, "alpha reason",
                            900), 0);
    assert_int_equal(append(b, "b-2", "T-other2", NULL, NULL,
                            "only the other wrote this", 10), 0);
    usleep(200 * 1000); /* a's index is stale: SQLite answers */
    compare_all(a, path, "only the other wrote this");
    /* a's next commit reads b's records into its index */
    assert_int_equal(append(a, "d-last", "T-1", NULL, NULL, "beta reason",
                            1), 0);
    compare_all(a, path, "only the other wrote this");
    tg_evidence_close(b);
    tg_evidence_close(a);
    /* and a reopened store loads the same from just_use */
    a = open_store(path, NULL);
    assert_int_equal(append(a, "d-after", "T-2", NULL, NULL, NULL, 1), 0);
    compare_all(a, path, "only the other wrote this");
    tg_evidence_close(a);
}

/* Uses written into just_use of the store at path directly, as a larger or
 * older store holds them: uses_begin opens the transaction, uses_put adds
 * one, uses_end commits. */
static sqlite3 *uses_begin(const char *path, sqlite3_stmt **st)
{
    sqlite3 *db = NULL;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO just_use VALUES"
                                        " (?1, ?2, ?3)", -1, st, NULL),
                     SQLITE_OK);
    return db;
}

static void uses_put(sqlite3_stmt *st, const char *just, const char *ticket,
                     int64_t t)
{
    sqlite3_bind_text(st, 1, just, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, ticket, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, t);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_reset(st);
}

static void uses_end(sqlite3 *db, sqlite3_stmt *st)
{
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

/* More justifications than the index holds, and a justification on more
 * tickets than a count reads: what the index dropped is counted by SQLite,
 * what it kept by itself, and both agree with SQLite. */
static void test_copy_forward_bounded(void **state)
{
    char path[300], just[64];
    struct tg_evidence *e;
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long have = -1;

    (void)state;
    new_path(path, sizeof path);
    tg_evidence_close(open_store(path, NULL));
    db = uses_begin(path, &st);
    /* 80 000 justifications of two tickets each: beyond the 65 536 kept */
    for (int i = 0; i < 80000; i++) {
        snprintf(just, sizeof just, "reason number %d", i);
        for (int t = 0; t < 2; t++)
            uses_put(st, just, t ? "T-B" : "T-A", i + t);
    }
    /* one justification on 1 500 tickets: counts stop at 1 000 */
    for (int t = 0; t < 1500; t++) {
        char ticket[32];

        snprintf(ticket, sizeof ticket, "W-%d", t);
        uses_put(st, "widely shared", ticket, t);
    }
    uses_end(db, st);

    e = open_store(path, NULL);
    /* a commit makes the index fresh */
    assert_int_equal(append(e, "d-1", "W-0", NULL, NULL, "widely shared",
                            2000), 0);
    for (int i = 0; i < 80000; i += 997) {
        for (int64_t since = i - 1; since <= i + 2; since++) {
            snprintf(just, sizeof just, "reason number %d", i);
            assert_int_equal(tg_evidence_copy_forward_count(e, just, "T-A",
                                                            since, &have), 0);
            assert_int_equal(have, sql_copy_count(path, just, "T-A", since));
        }
    }
    for (int64_t since = 0; since <= 1600; since += 100) {
        assert_int_equal(tg_evidence_copy_forward_count(
                             e, "widely shared", "W-7", since, &have), 0);
        assert_int_equal(have, sql_copy_count(path, "widely shared", "W-7",
                                              since));
    }
    assert_int_equal(tg_evidence_copy_forward_count(e, "never recorded",
                                                    "T-A", 0, &have), 0);
    assert_int_equal(have, 0);
    /* Justifications used again, dropped or not: the first count after a
     * commit, and the next (from uses read back into the index), agree
     * with SQLite. */
    for (int i = 0; i < 80000; i += 4999) {
        char id[32];
        long again = -1;

        snprintf(just, sizeof just, "reason number %d", i);
        snprintf(id, sizeof id, "d-again-%d", i);
        assert_int_equal(append(e, id, "T-C", NULL, NULL, just, i + 5), 0);
        assert_int_equal(tg_evidence_copy_forward_count(e, just, "T-A", i,
                                                        &have), 0);
        assert_int_equal(tg_evidence_copy_forward_count(e, just, "T-B", i,
                                                        &again), 0);
        assert_int_equal(have, sql_copy_count(path, just, "T-A", i));
        assert_int_equal(again, sql_copy_count(path, just, "T-B", i));
    }
    tg_evidence_close(e);
}

/* The copy-forward count of just for ticket since, with the number of
 * those SQLite answered (the index could not) added to *db_counts. */
static long count_noting(struct tg_evidence *e, const char *just,
                         const char *ticket, int64_t since, int *db_counts)
{
    int before = atomic_load(&tg_sq_test_db_counts);
    long have = -1;

    assert_int_equal(
        tg_evidence_copy_forward_count(e, just, ticket, since, &have), 0);
    *db_counts += atomic_load(&tg_sq_test_db_counts) - before;
    return have;
}

/* A commit of e's (always the same words and ticket: no group is added
 * or grown), so that its index is fresh for the next TG_CF_FRESH_MS. */
static void refresh(struct tg_evidence *e, int *no)
{
    char id[32];

    snprintf(id, sizeof id, "own-%d", ++*no);
    assert_int_equal(append(e, id, "T-own", NULL, NULL, "words of its own", 1),
                     0);
}

/* The count as the index answers it, right after a commit (again, up to
 * 5 times, should this thread have slept past TG_CF_FRESH_MS). */
static long index_count(struct tg_evidence *e, const char *just,
                        const char *ticket, int64_t since, int *no)
{
    long n = -1;
    int dbs = 1;

    for (int i = 0; i < 5 && dbs; i++) {
        dbs = 0;
        refresh(e, no);
        n = count_noting(e, just, ticket, since, &dbs);
    }
    assert_int_equal(dbs, 0);
    return n;
}

/* The count as SQLite answers it: the index could not. */
static long db_count(struct tg_evidence *e, const char *just,
                     const char *ticket, int64_t since)
{
    int dbs = 0;
    long n = count_noting(e, just, ticket, since, &dbs);

    assert_int_equal(dbs, 1);
    return n;
}

/* A store with more uses than a load reads (TG_CF_LOAD_ROWS): the index
 * holds the latest, and the older ones lie before its horizon. Every
 * count agrees with SQLite's. A window after the horizon is the index's,
 * a justification never recorded included: the load no longer fills the
 * gone filter with every use it cannot hold (two million of them made it
 * answer "maybe gone" for about half of all justifications). A window
 * reaching before the horizon is SQLite's until the justification's uses
 * are reloaded whole; a reload into the full index takes (it never did:
 * its own adds dropped other groups, and it gave up). */
static void test_copy_forward_horizon(void **state)
{
    const int rows = 2000000;
    /* times 0 .. rows - 1, and one more use at rows - 1 (below): the
     * latest left out is this one */
    const int64_t horizon = rows - TG_CF_LOAD_ROWS;
    char path[300], just[64];
    struct tg_evidence *e;
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int db_counts = 0, no = 0;

    (void)state;
    new_path(path, sizeof path);
    tg_evidence_close(open_store(path, NULL));
    db = uses_begin(path, &st);
    for (int i = 0; i < rows; i++) {
        snprintf(just, sizeof just, "reason number %d", i);
        uses_put(st, just, "T-A", i);
    }
    /* a justification with a use long before the horizon and one among
     * the latest: its group is loaded with only the latter */
    uses_put(st, "split words", "T-A", 5);
    uses_put(st, "split words", "T-C", rows - 1);
    uses_end(db, st);

    e = open_store(path, NULL);
    /* Never recorded, a window after the horizon: the index's. 0.15% of
     * them are in the gone filter by mistake; with every use loaded,
     * about 500 were. A commit every 20 keeps the index fresh; a count
     * SQLite answered is asked again after a commit, so that only the
     * filter's answers count here, not an index gone stale while this
     * thread was not running. */
    for (int i = 0; i < 1000; i++) {
        int dbs = 0;

        if (i % 20 == 0)
            refresh(e, &no);
        snprintf(just, sizeof just, "never recorded %d", i);
        assert_int_equal(count_noting(e, just, "T-B", horizon + 1, &dbs), 0);
        if (dbs) {
            dbs = 0;
            refresh(e, &no);
            assert_int_equal(count_noting(e, just, "T-B", horizon + 1, &dbs),
                             0);
        }
        db_counts += dbs;
    }
    assert_true(db_counts <= 10);

    /* the group loaded partly: a window after the horizon is the
     * index's, one before it SQLite's (its complete group does not hold
     * the use left out), then the index's with the uses reloaded */
    assert_int_equal(index_count(e, "split words", "T-B", horizon + 1, &no), 1);
    refresh(e, &no);
    assert_int_equal(db_count(e, "split words", "T-B", 0), 2);
    assert_int_equal(index_count(e, "split words", "T-B", 0, &no), 2);
    assert_int_equal(sql_copy_count(path, "split words", "T-B", 0), 2);

    /* never recorded, a window before the horizon: SQLite's once, then
     * the index's (an empty group says so; before, SQLite's every time,
     * and again for the next count after its first record); recorded,
     * the index counts it */
    refresh(e, &no);
    assert_int_equal(db_count(e, "new words", "T-B", 0), 0);
    assert_int_equal(index_count(e, "new words", "T-B", 0, &no), 0);
    assert_int_equal(append(e, "d-nw", "T-C", NULL, NULL, "new words", rows),
                     0);
    assert_int_equal(index_count(e, "new words", "T-B", 0, &no), 1);
    assert_int_equal(index_count(e, "new words", "T-C", 0, &no), 0);
    assert_int_equal(sql_copy_count(path, "new words", "T-B", 0), 1);

    /* the horizon exactly: the use at it was left out (SQLite counts it),
     * the one just after it was loaded (the index does) */
    snprintf(just, sizeof just, "reason number %" PRId64, horizon);
    assert_int_equal(db_count(e, just, "T-B", horizon), 1);
    snprintf(just, sizeof just, "reason number %" PRId64, horizon + 1);
    assert_int_equal(index_count(e, just, "T-B", horizon + 1, &no), 1);

    /* old and new justifications, windows on both sides of the horizon */
    for (int i = 7; i < rows; i += 99991) {
        const int64_t sinces[] = {i - 1, i, i + 1, horizon, horizon + 1};

        snprintf(just, sizeof just, "reason number %d", i);
        for (size_t k = 0; k < sizeof sinces / sizeof *sinces; k++)
            assert_int_equal(
                count_noting(e, just, "T-B", sinces[k], &db_counts),
                sql_copy_count(path, just, "T-B", sinces[k]));
    }

    /* A window before the horizon: SQLite's, then the index's from the
     * next count on, the uses reloaded whole. For one left out by the
     * load, into the full index: the reload's first add drops another
     * group to make room, after which it used to give up, and the next
     * count read SQLite again. Tried on a few, should this thread sleep
     * past TG_CF_FRESH_MS between the two counts. */
    {
        int took = 0;

        for (int k = 0; k < 5 && !took; k++) {
            int dbs = 0;

            snprintf(just, sizeof just, "reason number %d", 10 + k);
            refresh(e, &no);
            assert_int_equal(db_count(e, just, "T-B", 0), 1);
            assert_int_equal(count_noting(e, just, "T-B", 0, &dbs), 1);
            took = dbs == 0;
        }
        assert_true(took);
    }
    /* one loaded, whose group held only what came after the horizon */
    snprintf(just, sizeof just, "reason number %" PRId64, horizon + 5);
    assert_int_equal(db_count(e, just, "T-B", 0), 1);
    assert_int_equal(index_count(e, just, "T-B", 0, &no), 1);
    assert_int_equal(index_count(e, just, "T-A", 0, &no), 0);
    assert_int_equal(index_count(e, "reason number 10", "T-A", 0, &no), 0);
    /* a use recorded now is counted with the old ones */
    assert_int_equal(
        append(e, "d-2", "T-C", NULL, NULL, "reason number 10", rows + 1), 0);
    assert_int_equal(index_count(e, "reason number 10", "T-B", 0, &no), 2);
    assert_int_equal(sql_copy_count(path, "reason number 10", "T-B", 0), 2);
    tg_evidence_close(e);
}

struct burst_arg {
    struct tg_evidence *e;
    int t, n;
    int failures;
};

static void *burst_thread(void *p)
{
    struct burst_arg *a = p;

    for (int i = 0; i < a->n; i++) {
        char id[48], ticket[32], just[64];

        snprintf(id, sizeof id, "w-%d-%d", a->t, i);
        snprintf(ticket, sizeof ticket, "T-%d-%d", a->t, i);
        snprintf(just, sizeof just, "reason %d of thread %d", i, a->t);
        if (append(a->e, id, ticket, NULL, NULL, just, i))
            a->failures++;
    }
    return NULL;
}

static off_t file_size(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 ? st.st_size : 0;
}

/* Under steady appends the WAL is checkpointed into the database and starts
 * over: it stays small while the database grows. (A checkpoint connection
 * that never learnt the file was in WAL mode once left every record in an
 * ever-growing WAL.) The bound is the store's, whatever the load: the
 * maintenance thread restarts the WAL at 4096 frames when it gets a core,
 * and the writer itself stops at 8192 (CK_HARD_FRAMES, 8192 x (4096 + 24)
 * bytes = 33.8 MB) until the checkpoint caught up, plus the last batch's
 * frames (8 appenders here: a few pages). Without the writer's stop the
 * WAL reached 45-64 MB when the machine was loaded (ctest -j2 beside
 * other builds): the maintenance thread waited for a core while the
 * writer appended. */
static void test_wal_bounded(void **state)
{
    char path[300], wal[320];
    struct tg_evidence *e;
    pthread_t th[8];
    struct burst_arg args[8];
    off_t db_size = 0;

    (void)state;
    new_path(path, sizeof path);
    snprintf(wal, sizeof wal, "%s-wal", path);
    e = open_store(path, NULL);
    for (int t = 0; t < 8; t++) {
        args[t] = (struct burst_arg){.e = e, .t = t, .n = 3000};
        assert_int_equal(pthread_create(&th[t], NULL, burst_thread,
                                        &args[t]), 0);
    }
    for (int t = 0; t < 8; t++) {
        pthread_join(th[t], NULL);
        assert_int_equal(args[t].failures, 0);
    }
    /* 24 000 records of ~1 KB: far more than one WAL's worth */
    for (int waited = 0; waited < 5000; waited += 100) {
        db_size = file_size(path);
        if (db_size > 8 * 1024 * 1024)
            break;
        usleep(100 * 1000);
    }
    print_message("wal: database %lld bytes, WAL %lld bytes\n",
                  (long long)db_size, (long long)file_size(wal));
    assert_true(db_size > 8 * 1024 * 1024);
    assert_true(file_size(wal) < 40 * 1024 * 1024);
    tg_evidence_close(e);
    assert_int_equal(verify(path, NULL).count, 24000);
}

/* Many appenders at once, each reading its record back through a
 * connection of its own the moment its append returns: a committed batch
 * wakes all of its appenders together (one futex call for the batch, each
 * appender on one of 32 wake bits), so an appender answered before its
 * batch committed would find nothing, and one whose wake was lost (a bit
 * left out of the batch's mask, the word bumped before a record was marked
 * done) would never return: the join below has a deadline. */
struct wake_arg {
    struct tg_evidence *e;
    const char *path;
    int t, n;
    int failures, unseen;
    atomic_int finished;
};

static void *wake_thread(void *p)
{
    struct wake_arg *a = p;
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;

    if (sqlite3_open_v2(a->path, &db, SQLITE_OPEN_READONLY, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT count(*) FROM records"
                               " WHERE decision_id = ?1",
                           -1, &st, NULL) != SQLITE_OK) {
        a->failures = a->n;
        goto out;
    }
    sqlite3_busy_timeout(db, 2000);
    for (int i = 0; i < a->n; i++) {
        char id[48], ticket[32];

        snprintf(id, sizeof id, "wake-%d-%d", a->t, i);
        snprintf(ticket, sizeof ticket, "W-%d-%d", a->t, i);
        if (append(a->e, id, ticket, NULL, NULL, NULL, i)) {
            a->failures++;
            continue;
        }
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st) != SQLITE_ROW || sqlite3_column_int(st, 0) != 1)
            a->unseen++;
        sqlite3_reset(st);
    }
out:
    sqlite3_finalize(st);
    sqlite3_close(db);
    atomic_store(&a->finished, 1);
    return NULL;
}

static void test_batch_wake_all_durable(void **state)
{
    enum { THREADS = 48, EACH = 150 };
    char path[300];
    struct tg_evidence *e;
    pthread_t th[THREADS];
    static struct wake_arg args[THREADS];
    time_t deadline;
    int done = 0;

    (void)state;
    new_path(path, sizeof path);
    e = open_store(path, NULL);
    for (int t = 0; t < THREADS; t++) {
        args[t] = (struct wake_arg){.e = e, .path = path, .t = t, .n = EACH};
        atomic_init(&args[t].finished, 0);
        assert_int_equal(pthread_create(&th[t], NULL, wake_thread, &args[t]),
                         0);
    }
    /* A lost wake-up hangs its appender for good: fail instead. */
    deadline = time(NULL) + 60;
    while (done < THREADS && time(NULL) < deadline) {
        done = 0;
        for (int t = 0; t < THREADS; t++)
            done += atomic_load(&args[t].finished);
        if (done < THREADS)
            usleep(20 * 1000);
    }
    assert_int_equal(done, THREADS);
    for (int t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
        assert_int_equal(args[t].failures, 0);
        assert_int_equal(args[t].unseen, 0);
    }
    tg_evidence_close(e);
    assert_int_equal(verify(path, NULL).count, THREADS * EACH);
}

static void test_next_seq(void **state)
{
    char path[300];
    struct tg_evidence *e;
    uint64_t a, b, c;

    (void)state;
    new_path(path, sizeof path);
    e = open_store(path, NULL);
    a = tg_evidence_next_seq(e);
    b = tg_evidence_next_seq(e);
    assert_true(b == a + 1);
    for (int i = 0; i < 50; i++)
        tg_evidence_next_seq(e); /* skips: handed out, never recorded */
    tg_evidence_close(e);
    e = open_store(path, NULL);
    c = tg_evidence_next_seq(e);
    assert_true(c > b + 50);
    tg_evidence_close(e);
}

static void test_verify_errors(void **state)
{
    char path[300];
    struct tg_evidence_verdict v;
    FILE *f;

    (void)state;
    snprintf(path, sizeof path, "%s/absent.db", tmpdir);
    assert_int_equal(tg_evidence_verify_file(path, NULL, 0, &v), TG_EIO);
    assert_true(v.reason[0] != '\0');
    snprintf(path, sizeof path, "%s/not-a-store.db", tmpdir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("hello, I am not SQLite\n", f);
    fclose(f);
    assert_int_equal(tg_evidence_verify_file(path, NULL, 0, &v), TG_EIO);
    /* an empty store is intact and starts at genesis */
    new_path(path, sizeof path);
    tg_evidence_close(open_store(path, NULL));
    v = verify(path, NULL);
    assert_int_equal(v.intact, 1);
    assert_int_equal(v.count, 0);
    assert_string_equal(v.head_hash, "0000000000000000000000000000000000000"
                                     "000000000000000000000000000");
}

static void test_export(void **state)
{
    char path[300], *text = NULL;
    size_t len = 0;
    FILE *out;
    const char *why = NULL;
    int lines = 0;

    (void)state;
    new_path(path, sizeof path);
    {
        struct tg_evidence *e = open_store(path, NULL);

        assert_int_equal(append(e, "d-1", "A", "dlv", NULL, "why", 100), 0);
        assert_int_equal(append(e, "d-2", "B", NULL, NULL, NULL, 200), 0);
        assert_int_equal(append(e, "d-3", "C", NULL, NULL, NULL, 300), 0);
        tg_evidence_close(e);
    }
    out = open_memstream(&text, &len);
    assert_non_null(out);
    assert_int_equal(tg_evidence_export_file(path, 200, out, &why), 0);
    fclose(out);
    for (char *line = text, *nl; (nl = strchr(line, '\n')); line = nl + 1) {
        json_t *o;

        *nl = '\0';
        o = json_loads(line, 0, NULL);
        assert_non_null(o);
        assert_true(json_is_object(json_object_get(o, "decision")));
        assert_int_equal(json_integer_value(json_object_get(o, "seq")),
                         lines + 2);
        assert_true(json_is_null(json_object_get(o, "delivery_id")));
        assert_true(json_is_null(json_object_get(o, "mac")));
        assert_int_equal(strlen(json_string_value(json_object_get(o,
                                                                  "hash"))),
                         64);
        assert_non_null(json_object_get(o, "prev_hash"));
        assert_non_null(json_object_get(o, "body_sha256"));
        assert_non_null(json_object_get(o, "policy"));
        assert_non_null(json_object_get(o, "just_norm"));
        json_decref(o);
        lines++;
    }
    free(text);
    assert_int_equal(lines, 2);
    snprintf(path, sizeof path, "%s/absent.db", tmpdir);
    out = open_memstream(&text, &len);
    assert_int_equal(tg_evidence_export_file(path, 0, out, &why), TG_EIO);
    assert_non_null(why);
    fclose(out);
    free(text);
}

static void test_archive(void **state)
{
    static const char key[] = "k";
    char path[300], a1[340], a2[340];
    struct tg_evidence_verdict v, va1, va2;
    struct tg_evidence *e;
    uint64_t moved = 99;

    (void)state;
    new_path(path, sizeof path);
    snprintf(a1, sizeof a1, "%s.archive1", path);
    snprintf(a2, sizeof a2, "%s.archive2", path);
    build_chain(path, key, 10);

    /* the server keeps running while records are archived */
    e = open_store(path, key);
    assert_int_equal(tg_evidence_archive_file(path, 5, a1,
                                              (const unsigned char *)key, 1,
                                              2000, &moved), 0);
    assert_int_equal(moved, 4);
    v = verify(path, key);
    assert_int_equal(v.intact, 1);
    assert_int_equal(v.anchor_seq, 4);
    assert_int_equal(v.count, 6);
    va1 = verify(a1, key);
    assert_int_equal(va1.intact, 1);
    assert_int_equal(va1.anchor_seq, 0);
    assert_int_equal(va1.count, 4);
    assert_int_equal(va1.head_seq, 4);

    /* appends after the archive link on as before */
    assert_int_equal(append(e, "d-11", "T-1", NULL, NULL, NULL, 2000), 0);
    assert_int_equal(tg_evidence_archive_file(path, 9, a2,
                                              (const unsigned char *)key, 1,
                                              2000, &moved), 0);
    assert_int_equal(moved, 4);
    va2 = verify(a2, key);
    assert_int_equal(va2.intact, 1);
    assert_int_equal(va2.anchor_seq, 4);
    assert_int_equal(va2.head_seq, 8);
    v = verify(path, key);
    assert_int_equal(v.intact, 1);
    assert_int_equal(v.anchor_seq, 8);
    assert_int_equal(v.count, 3);
    assert_int_equal(v.head_seq, 11);

    /* nothing older: no file */
    snprintf(a2, sizeof a2, "%s.archive3", path);
    assert_int_equal(tg_evidence_archive_file(path, 3, a2, NULL, 0, 2000,
                                              &moved), 0);
    assert_int_equal(moved, 0);
    assert_int_not_equal(access(a2, F_OK), 0);
    /* an existing target is refused */
    assert_int_equal(tg_evidence_archive_file(path, 11, a1, NULL, 0, 2000,
                                              &moved), TG_EINVAL);

    /* archive everything: new records link to the checkpoint */
    assert_int_equal(tg_evidence_archive_file(path, 100, a2,
                                              (const unsigned char *)key, 1,
                                              2000, &moved), 0);
    assert_int_equal(moved, 3);
    v = verify(path, key);
    assert_int_equal(v.intact, 1);
    assert_int_equal(v.count, 0);
    assert_int_equal(v.head_seq, 11);
    assert_int_equal(append(e, "d-12", "T-1", NULL, NULL, NULL, 3000), 0);
    tg_evidence_close(e);
    v = verify(path, key);
    assert_int_equal(v.intact, 1);
    assert_int_equal(v.count, 1);
    assert_int_equal(v.head_seq, 12);

    /* a forged anchor does not carry the key's MAC */
    sql(path, "UPDATE checkpoints SET hash = CASE WHEN substr(hash, 1, 1)"
        " = '0' THEN '1' ELSE '0' END || substr(hash, 2) WHERE seq = 11");
    v = verify(path, key);
    assert_int_equal(v.intact, 0);
    assert_int_equal(v.broken_seq, 11);
    /* and a broken chain is not archived */
    assert_int_equal(tg_evidence_archive_file(path, 100, a2,
                                              (const unsigned char *)key, 1,
                                              2000, &moved), TG_EINVAL);
    snprintf(a2, sizeof a2, "%s.archive4", path);
    assert_int_equal(tg_evidence_archive_file(path, 100, a2,
                                              (const unsigned char *)key, 1,
                                              2000, &moved), TG_ECONFLICT);
    assert_int_not_equal(access(a2, F_OK), 0);
}

/* docs/EVIDENCE.md's Python verifier agrees with ours, key and all. */
static void test_python_verifier(void **state)
{
    char md[300], script[320], path[300], keyfile[320], cmd[2400];
    FILE *f;
    char *text = NULL, *start, *end;
    long size;

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

    new_path(path, sizeof path);
    build_chain(path, "py-key", 7);
    snprintf(keyfile, sizeof keyfile, "%s/key", tmpdir);
    f = fopen(keyfile, "wb");
    fputs("py-key", f);
    fclose(f);
    {
        struct tg_evidence_verdict v = verify(path, "py-key");
        char out[256] = "";
        FILE *p;

        snprintf(cmd, sizeof cmd, "python3 %s %s %s", script, path, keyfile);
        p = popen(cmd, "r");
        assert_non_null(p);
        assert_non_null(fgets(out, sizeof out, p));
        assert_int_equal(pclose(p), 0);
        assert_non_null(strstr(out, v.head_hash));
    }
    snprintf(cmd, sizeof cmd, "python3 %s %s >/dev/null", script, path);
    assert_int_equal(system(cmd), 0);
    /* after an archive too */
    {
        char a[320];
        uint64_t moved;

        snprintf(a, sizeof a, "%s.arch", path);
        assert_int_equal(tg_evidence_archive_file(path, 4, a,
                                                  (const unsigned char *)
                                                  "py-key", 6, 2000, &moved),
                         0);
        snprintf(cmd, sizeof cmd, "python3 %s %s %s >/dev/null && "
                 "python3 %s %s %s >/dev/null", script, path, keyfile,
                 script, a, keyfile);
        assert_int_equal(system(cmd), 0);
    }
    sql(path, "UPDATE records SET decision = decision || ' ' WHERE seq = 5");
    snprintf(cmd, sizeof cmd, "python3 %s %s 2>/dev/null", script, path);
    assert_int_equal(WEXITSTATUS(system(cmd)), 1);
    rehash_from(path, 5, NULL);
    snprintf(cmd, sizeof cmd, "python3 %s %s %s 2>/dev/null", script, path,
             keyfile);
    assert_int_equal(WEXITSTATUS(system(cmd)), 1);
}

/* ------------------------------------- store files deleted or replaced */

static void path_suffix(char *buf, size_t cap, const char *path,
                        const char *suffix)
{
    int n = snprintf(buf, cap, "%s%s", path, suffix);

    assert_true(n > 0 && (size_t)n < cap);
}

static void expect_failure(struct tg_evidence *e, const char *words)
{
    const char *why = tg_evidence_failure(e);

    if (!why || !strstr(why, words))
        fail_msg("failure '%s', want '%s'", why ? why : "(none)", words);
}

/* The store file is deleted under a running store: the next append fails
 * (SQLite alone would write on into the unlinked file and succeed), and so
 * does every one after, probe or not; a restart creates a new store whose
 * decision ids continue above every one handed out. */
static void test_store_deleted(void **state)
{
    char path[300], wal[320];
    struct tg_evidence *e;
    uint64_t last = 0;

    (void)state;
    new_path(path, sizeof path);
    path_suffix(wal, sizeof wal, path, "-wal");
    e = open_store(path, NULL);
    for (int i = 0; i < 5; i++)
        last = tg_evidence_next_seq(e);
    assert_int_equal(append(e, "d-1", "ACC-1", NULL, NULL, NULL, 1), 0);
    assert_null(tg_evidence_failure(e));

    assert_int_equal(unlink(path), 0);
    assert_int_equal(append(e, "d-2", "ACC-1", NULL, NULL, NULL, 2), TG_EIO);
    assert_int_equal(tg_evidence_ready(e), 0);
    expect_failure(e, "deleted");
    /* the WAL left at the path was emptied: a new store at the path does
     * not replay the old one's pages */
    assert_true(file_size(wal) == 0);
    usleep((TG_EVIDENCE_PROBE_MS + 300) * 1000);
    assert_int_equal(tg_evidence_ready(e), 0);
    assert_int_equal(append(e, "d-3", "ACC-1", NULL, NULL, NULL, 3), TG_EIO);
    last = tg_evidence_next_seq(e);
    tg_evidence_close(e);

    /* the restart: a new, empty store */
    e = open_store(path, NULL);
    assert_true(tg_evidence_next_seq(e) > last);
    assert_int_equal(append(e, "d-4", "ACC-1", NULL, NULL, NULL, 4), 0);
    tg_evidence_close(e);
    {
        struct tg_evidence_verdict v = verify(path, NULL);

        assert_int_equal(v.intact, 1);
        assert_int_equal(v.count, 1); /* d-4 alone: a new chain */
    }
}

/* Moved away and back: the same file, so the probe takes it again. */
static void test_store_moved_back(void **state)
{
    char path[300], away[320];
    struct tg_evidence *e;

    (void)state;
    new_path(path, sizeof path);
    path_suffix(away, sizeof away, path, ".away");
    e = open_store(path, NULL);
    assert_int_equal(append(e, "d-1", "ACC-1", NULL, NULL, NULL, 1), 0);
    assert_int_equal(rename(path, away), 0);
    assert_int_equal(append(e, "d-2", "ACC-1", NULL, NULL, NULL, 2), TG_EIO);
    expect_failure(e, "deleted");
    assert_int_equal(rename(away, path), 0);
    assert_true(wait_ready(e, 1, 3 * TG_EVIDENCE_PROBE_MS + 2000));
    assert_null(tg_evidence_failure(e));
    assert_int_equal(append(e, "d-3", "ACC-1", NULL, NULL, NULL, 3), 0);
    tg_evidence_close(e);
    {
        struct tg_evidence_verdict v = verify(path, NULL);

        assert_int_equal(v.intact, 1);
        assert_int_equal(v.count, 2); /* d-1, d-3 */
    }
}

/* Another file moved into the store's place: an empty one, and another
 * store with a chain of its own. Neither takes a write, an idle server
 * notices by itself, and ids after the restart stay above ours. */
static void test_store_replaced(void **state)
{
    char path[300], other[300], empty[320];
    struct tg_evidence *e, *o;
    uint64_t last = 0;
    int fd;

    (void)state;
    new_path(path, sizeof path);
    path_suffix(empty, sizeof empty, path, ".empty");
    e = open_store(path, NULL);
    assert_int_equal(append(e, "d-1", "ACC-1", NULL, NULL, NULL, 1), 0);
    fd = open(empty, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(rename(empty, path), 0);
    /* no append: the maintenance thread's check finds it */
    assert_true(wait_ready(e, 0, 3 * TG_EVIDENCE_PROBE_MS + 2000));
    expect_failure(e, "replaced");
    assert_int_equal(append(e, "d-2", "ACC-1", NULL, NULL, NULL, 2), TG_EIO);
    for (int i = 0; i < 2000; i++) /* past the block reserved at open */
        last = tg_evidence_next_seq(e);
    tg_evidence_close(e);
    e = open_store(path, NULL); /* the empty file becomes a new store */
    assert_true(tg_evidence_next_seq(e) > last);
    tg_evidence_close(e);

    /* a store of its own, with more records than ours */
    new_path(path, sizeof path);
    new_path(other, sizeof other);
    e = open_store(path, NULL);
    o = open_store(other, NULL);
    assert_int_equal(append(e, "d-1", "ACC-1", NULL, NULL, NULL, 1), 0);
    assert_int_equal(append(o, "o-1", "ACC-9", NULL, NULL, NULL, 1), 0);
    assert_int_equal(append(o, "o-2", "ACC-9", NULL, NULL, NULL, 1), 0);
    tg_evidence_close(o);
    for (int i = 0; i < 3000; i++)
        last = tg_evidence_next_seq(e);
    assert_int_equal(rename(other, path), 0);
    assert_int_equal(append(e, "d-2", "ACC-1", NULL, NULL, NULL, 2), TG_EIO);
    expect_failure(e, "replaced");
    /* a probe does not adopt it either */
    usleep((TG_EVIDENCE_PROBE_MS + 300) * 1000);
    assert_int_equal(tg_evidence_ready(e), 0);
    tg_evidence_close(e);
    {
        struct tg_evidence_verdict v = verify(path, NULL);

        assert_int_equal(v.intact, 1);
        assert_int_equal(v.count, 2); /* o-1, o-2: nothing of ours */
    }
    e = open_store(path, NULL);
    assert_true(tg_evidence_next_seq(e) > last);
    assert_int_equal(append(e, "d-3", "ACC-1", NULL, NULL, NULL, 3), 0);
    tg_evidence_close(e);
    assert_int_equal(verify(path, NULL).count, 3);
}

/* The -wal or the -shm deleted: no write until a restart, and what was
 * acknowledged is still there after it. */
static void test_wal_shm_deleted(void **state)
{
    static const char *const which[] = {"-wal", "-shm"};

    (void)state;
    for (size_t k = 0; k < 2; k++) {
        char path[300], aux[320], *doc = NULL;
        struct tg_evidence *e;

        new_path(path, sizeof path);
        path_suffix(aux, sizeof aux, path, which[k]);
        e = open_store(path, NULL);
        assert_int_equal(append(e, "d-1", "ACC-1", NULL, NULL, NULL, 1), 0);
        assert_int_equal(unlink(aux), 0);
        assert_int_equal(append(e, "d-2", "ACC-1", NULL, NULL, NULL, 2),
                         TG_EIO);
        expect_failure(e, which[k]);
        usleep((TG_EVIDENCE_PROBE_MS + 300) * 1000);
        assert_int_equal(tg_evidence_ready(e), 0);
        tg_evidence_close(e);
        e = open_store(path, NULL);
        assert_int_equal(tg_evidence_get(e, "d-1", &doc), 0);
        free(doc);
        assert_int_equal(tg_evidence_get(e, "d-2", &doc), TG_ENOTFOUND);
        assert_int_equal(append(e, "d-3", "ACC-1", NULL, NULL, NULL, 3), 0);
        tg_evidence_close(e);
        assert_int_equal(verify(path, NULL).count, 2);
    }
}

/* Every record archived, then the store deleted: the new store's ids stay
 * above the archive's (the high-water file beside the store). */
static void test_ids_after_archive(void **state)
{
    char path[300], archive[320], aux[320];
    struct tg_evidence *e;
    uint64_t last = 0, moved = 0;

    (void)state;
    new_path(path, sizeof path);
    path_suffix(archive, sizeof archive, path, ".archive");
    e = open_store(path, NULL);
    for (int i = 0; i < 1500; i++)
        last = tg_evidence_next_seq(e);
    assert_int_equal(append(e, "d-1", "ACC-1", NULL, NULL, NULL, 1), 0);
    tg_evidence_close(e);
    assert_int_equal(tg_evidence_archive_file(path, 2, archive, NULL, 0,
                                              2000, &moved), 0);
    assert_int_equal(moved, 1);
    assert_int_equal(unlink(path), 0);
    path_suffix(aux, sizeof aux, path, "-wal");
    unlink(aux);
    path_suffix(aux, sizeof aux, path, "-shm");
    unlink(aux);
    e = open_store(path, NULL);
    assert_true(tg_evidence_next_seq(e) > last);
    tg_evidence_close(e);
}

/* The cause of a failed write is words, never a number. */
static void test_cause_words(void **state)
{
    static const struct {
        int code, sys;
        const char *want;
    } cases[] = {
        {SQLITE_FULL, 0, "disk full"},
        {SQLITE_IOERR_WRITE, ENOSPC, "disk full"},
        {SQLITE_IOERR_WRITE, EDQUOT, "disk quota exceeded"},
        {SQLITE_IOERR_WRITE, EFBIG, "file size limit reached"},
        {SQLITE_IOERR_WRITE, EIO, "I/O error"},
        {SQLITE_IOERR_WRITE, 0, "I/O error while writing"},
        {SQLITE_IOERR_FSYNC, 0, "I/O error while syncing"},
        {SQLITE_IOERR_SHORT_READ, 0, "I/O error while reading"},
        {SQLITE_IOERR_SHMMAP, 0, "-shm"},
        {SQLITE_IOERR, 0, "I/O error"},
        {SQLITE_BUSY, 0, "locked"},
        {SQLITE_BUSY_SNAPSHOT, 0, "locked"},
        {SQLITE_LOCKED, 0, "locked"},
        {SQLITE_BUSY, ENOSPC, "locked"}, /* a stale errno is not read */
        {SQLITE_READONLY, 0, "read-only"},
        {SQLITE_READONLY_CANTLOCK, 0, "read-only"},
        {SQLITE_READONLY_DBMOVED, 0, "deleted or replaced"},
        {SQLITE_CANTOPEN, EACCES, "permission denied"},
        {SQLITE_CANTOPEN, EROFS, "read-only file system"},
        {SQLITE_CANTOPEN, ENOENT, "not found"},
        {SQLITE_CANTOPEN, 0, "cannot be opened"},
        {SQLITE_CORRUPT, 0, "corrupt"},
        {SQLITE_NOTADB, 0, "not a database"},
        {SQLITE_NOMEM, 0, "out of memory"},
        {SQLITE_IOERR_NOMEM, 0, "out of memory"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *w = tg_evidence_cause(cases[i].code, cases[i].sys);

        if (!w || !strstr(w, cases[i].want))
            fail_msg("case %zu (%d, %d): '%s', want '%s'", i, cases[i].code,
                     cases[i].sys, w ? w : "(null)", cases[i].want);
        if (strpbrk(w, "0123456789"))
            fail_msg("case %zu: '%s' holds a number", i, w);
    }
}

/* A write that fails says why in words until a write succeeds again. */
static void test_failure_words(void **state)
{
    char path[300];
    struct tg_evidence *e;

    (void)state;
    new_path(path, sizeof path);
    e = open_store(path, NULL);
    assert_null(tg_evidence_failure(e));
    atomic_store(&fault_on, 1); /* every write: SQLITE_FULL */
    assert_int_equal(append(e, "d-1", "ACC-1", NULL, NULL, NULL, 1), TG_EIO);
    expect_failure(e, "disk full");
    atomic_store(&fault_on, 0);
    assert_int_equal(append(e, "d-2", "ACC-1", NULL, NULL, NULL, 2), 0);
    assert_null(tg_evidence_failure(e));
    tg_evidence_close(e);
}

static void expect_mode(const char *path, unsigned want)
{
    struct stat st;

    if (stat(path, &st) != 0)
        fail_msg("%s: %s", path, strerror(errno));
    if ((st.st_mode & 0777) != want)
        fail_msg("%s: mode %03o, want %03o", path,
                 (unsigned)(st.st_mode & 0777), want);
}

/* Whatever the umask, the store, its -wal and -shm, the ids file and an
 * archive are 0600, the directories made for the store 0700. */
static void test_permissions(void **state)
{
    static const char *const files[] = {"", "-wal", "-shm", ".ids"};
    char top[300], mid[310], dir[320], path[340], f[360], archive[320];
    struct tg_evidence *e;
    uint64_t moved = 0;
    mode_t old = umask(0);

    (void)state;
    snprintf(top, sizeof top, "%s/perm", tmpdir);
    snprintf(mid, sizeof mid, "%s/a", top);
    snprintf(dir, sizeof dir, "%s/b", mid);
    snprintf(path, sizeof path, "%s/store.db", dir);
    snprintf(archive, sizeof archive, "%s/archive.db", top);
    e = open_store(path, NULL);
    assert_int_equal(append(e, "d-1", "ACC-1", NULL, NULL, NULL, 1), 0);
    assert_int_equal(append(e, "d-2", "ACC-1", NULL, NULL, NULL, 2), 0);
    expect_mode(top, 0700);
    expect_mode(mid, 0700);
    expect_mode(dir, 0700);
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        path_suffix(f, sizeof f, path, files[i]);
        expect_mode(f, 0600);
    }
    assert_int_equal(tg_evidence_archive_file(path, 2, archive, NULL, 0,
                                              2000, &moved), 0);
    assert_int_equal(moved, 1);
    expect_mode(archive, 0600);
    tg_evidence_close(e);
    umask(old);
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/tg-evidence-XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    install_fault_vfs();
    return 0;
}

static int group_teardown(void **state)
{
    char cmd[300];

    (void)state;
    sqlite3_vfs_unregister(&fault_vfs);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ------------------------------------------------ single-use jti (API.md) */

/* A jti is bound with its record: another body under it is a conflict
 * whatever delivery id it names, the same body finds the record; a skip
 * binds it without a record; binding is per source and survives a
 * reopen. */
static void test_jti_single_use(void **state)
{
    char path[300], *doc = NULL;
    struct tg_evidence *e;
    struct rec x, y;
    unsigned char b1[32], b2[32], b3[32];

    (void)state;
    new_path(path, sizeof path);
    e = open_store(path, NULL);
    body_digest("body-1", b1);
    body_digest("body-2", b2);
    body_digest("body-3", b3);

    assert_int_equal(tg_evidence_find_jti(e, "servicenow", "j-1", b1, &doc),
                     TG_ENOTFOUND);
    make_rec(&x, "d-1", "ACC-1", "evt-1", "body-1", NULL, 10);
    x.r.source = "servicenow";
    x.r.jti = "j-1";
    assert_int_equal(tg_evidence_append(e, &x.r), 0);

    /* same body: the record */
    assert_int_equal(tg_evidence_find_jti(e, "servicenow", "j-1", b1, &doc),
                     0);
    assert_non_null(doc);
    assert_string_equal(doc, x.json);
    free(doc);
    doc = NULL;
    /* another body: used */
    assert_int_equal(tg_evidence_find_jti(e, "servicenow", "j-1", b2, &doc),
                     TG_ECONFLICT);
    assert_null(doc);
    /* per source */
    assert_int_equal(tg_evidence_find_jti(e, "generic", "j-1", b2, &doc),
                     TG_ENOTFOUND);

    /* a new delivery id and another body under the same jti: refused, and
     * nothing of it is written */
    make_rec(&y, "d-2", "ACC-2", "evt-2", "body-2", NULL, 11);
    y.r.source = "servicenow";
    y.r.jti = "j-1";
    assert_int_equal(tg_evidence_append(e, &y.r), TG_ECONFLICT);
    assert_int_equal(tg_evidence_get(e, "d-2", &doc), TG_ENOTFOUND);
    assert_int_equal(tg_evidence_find_delivery(e, "servicenow", "evt-2", b2,
                                               &doc),
                     TG_ENOTFOUND);
    /* the same body again makes no second record either */
    make_rec(&y, "d-3", "ACC-1", "evt-3", "body-1", NULL, 12);
    y.r.source = "servicenow";
    y.r.jti = "j-1";
    assert_int_equal(tg_evidence_append(e, &y.r), TG_ECONFLICT);
    assert_int_equal(tg_evidence_get(e, "d-3", &doc), TG_ENOTFOUND);

    /* a skip: bound without a record; the same body may bind it again, and
     * then record under it (a reload gated it); another body may not */
    assert_int_equal(tg_evidence_bind_jti(e, "servicenow", "j-2", b3, 13), 0);
    assert_int_equal(tg_evidence_find_jti(e, "servicenow", "j-2", b3, &doc),
                     0);
    assert_null(doc);
    assert_int_equal(tg_evidence_find_jti(e, "servicenow", "j-2", b2, &doc),
                     TG_ECONFLICT);
    assert_int_equal(tg_evidence_bind_jti(e, "servicenow", "j-2", b3, 14), 0);
    assert_int_equal(tg_evidence_bind_jti(e, "servicenow", "j-2", b2, 14),
                     TG_ECONFLICT);
    make_rec(&y, "d-4", "ACC-4", NULL, "body-2", NULL, 15);
    y.r.source = "servicenow";
    y.r.jti = "j-2";
    assert_int_equal(tg_evidence_append(e, &y.r), TG_ECONFLICT);
    make_rec(&y, "d-5", "ACC-3", NULL, "body-3", NULL, 15);
    y.r.source = "servicenow";
    y.r.jti = "j-2";
    assert_int_equal(tg_evidence_append(e, &y.r), 0);
    assert_int_equal(tg_evidence_find_jti(e, "servicenow", "j-2", b3, &doc),
                     0);
    assert_non_null(doc);
    assert_string_equal(doc, y.json);
    free(doc);
    doc = NULL;
    /* a jti already bound by a record: a bind with its body is a no-op */
    assert_int_equal(tg_evidence_bind_jti(e, "servicenow", "j-1", b1, 16), 0);
    assert_int_equal(tg_evidence_bind_jti(e, "servicenow", "j-1", b2, 16),
                     TG_ECONFLICT);
    tg_evidence_close(e);

    /* durable, and the chain holds d-1 and d-5 only */
    e = open_store(path, NULL);
    assert_int_equal(tg_evidence_find_jti(e, "servicenow", "j-1", b2, &doc),
                     TG_ECONFLICT);
    assert_int_equal(tg_evidence_find_jti(e, "servicenow", "j-2", b3, &doc),
                     0);
    free(doc);
    tg_evidence_close(e);
    {
        struct tg_evidence_verdict v = verify(path, NULL);

        assert_int_equal(v.intact, 1);
        assert_int_equal(v.count, 2);
    }
}

/* Of many appends racing with one jti and different bodies (and delivery
 * ids), exactly one is recorded. */
struct jti_racer {
    struct tg_evidence *e;
    int n;
    int rc;
    pthread_barrier_t *go;
};

static void *jti_race_thread(void *p)
{
    struct jti_racer *a = p;
    struct rec x;
    char id[32], body[32], dlv[32];

    snprintf(id, sizeof id, "race-%d", a->n);
    snprintf(body, sizeof body, "race-body-%d", a->n);
    snprintf(dlv, sizeof dlv, "race-evt-%d", a->n);
    make_rec(&x, id, "ACC-9", dlv, body, NULL, 20);
    x.r.jti = "race-jti";
    pthread_barrier_wait(a->go);
    a->rc = tg_evidence_append(a->e, &x.r);
    return NULL;
}

static void test_jti_race(void **state)
{
    enum { N = 8 };
    char path[300];
    struct tg_evidence *e;
    pthread_t th[N];
    struct jti_racer a[N];
    pthread_barrier_t go;
    int ok = 0, conflict = 0;

    (void)state;
    new_path(path, sizeof path);
    e = open_store(path, NULL);
    assert_int_equal(pthread_barrier_init(&go, NULL, N), 0);
    for (int i = 0; i < N; i++) {
        a[i] = (struct jti_racer){.e = e, .n = i, .rc = 1, .go = &go};
        assert_int_equal(pthread_create(&th[i], NULL, jti_race_thread, &a[i]),
                         0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        ok += a[i].rc == 0;
        conflict += a[i].rc == TG_ECONFLICT;
    }
    pthread_barrier_destroy(&go);
    assert_int_equal(ok, 1);
    assert_int_equal(conflict, N - 1);
    tg_evidence_close(e);
    assert_int_equal(verify(path, NULL).count, 1);
}

/* A store made before jti_use existed gets the table at open. */
static void test_jti_old_store(void **state)
{
    char path[300], *doc = NULL;
    struct tg_evidence *e;
    struct rec x;
    unsigned char b[32];

    (void)state;
    new_path(path, sizeof path);
    build_chain(path, NULL, 2);
    sql(path, "DROP TABLE jti_use");
    e = open_store(path, NULL);
    make_rec(&x, "d-3", "ACC-1", NULL, "body-1", NULL, 10);
    x.r.jti = "old-1";
    assert_int_equal(tg_evidence_append(e, &x.r), 0);
    body_digest("body-2", b);
    assert_int_equal(tg_evidence_find_jti(e, "jira", "old-1", b, &doc),
                     TG_ECONFLICT);
    tg_evidence_close(e);
    assert_int_equal(verify(path, NULL).count, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_get_list),
        cmocka_unit_test(test_find_delivery),
        cmocka_unit_test(test_append_invalid),
        cmocka_unit_test(test_tampering),
        cmocka_unit_test(test_mac),
        cmocka_unit_test(test_serialisation_documented),
        cmocka_unit_test(test_concurrent_appends),
        cmocka_unit_test(test_crash_safety),
        cmocka_unit_test(test_write_failure_and_recovery),
        cmocka_unit_test(test_busy),
        cmocka_unit_test(test_unwritable_path),
        cmocka_unit_test(test_copy_forward),
        cmocka_unit_test(test_copy_forward_index),
        cmocka_unit_test(test_copy_forward_bounded),
        cmocka_unit_test(test_copy_forward_horizon),
        cmocka_unit_test(test_wal_bounded),
        cmocka_unit_test(test_batch_wake_all_durable),
        cmocka_unit_test(test_next_seq),
        cmocka_unit_test(test_verify_errors),
        cmocka_unit_test(test_export),
        cmocka_unit_test(test_archive),
        cmocka_unit_test(test_python_verifier),
        cmocka_unit_test(test_store_deleted),
        cmocka_unit_test(test_store_moved_back),
        cmocka_unit_test(test_store_replaced),
        cmocka_unit_test(test_wal_shm_deleted),
        cmocka_unit_test(test_ids_after_archive),
        cmocka_unit_test(test_cause_words),
        cmocka_unit_test(test_failure_words),
        cmocka_unit_test(test_permissions),
        cmocka_unit_test(test_jti_single_use),
        cmocka_unit_test(test_jti_race),
        cmocka_unit_test(test_jti_old_store),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
