/* test_audit.c - the `ticketgate audit` commands, as an auditor runs them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <sqlite3.h>

#include "server/cli/cli.h"
#include "server/config/config.h"
#include "validators/errors.h"
#include "server/store/store.h"
#include "tests/support/cmdrun.h"
#include "tests/support/tg_test.h"

#define KEY "audit-link-key-0123456789"

/* Runs tg_cmd_audit("audit", args...) with stdout and stderr captured. */
static struct tg_test_run audit(const char *const *args)
{
    return tg_test_run_cmd(tg_cmd_audit, "audit", args);
}

static int lines(const char *s)
{
    int n = 0;

    for (; (s = strchr(s, '\n')); s++)
        n++;
    return n;
}

/* The example configuration in a temporary directory, with a store of n
 * records (d-1..d-n, time 1000+i) written through the loaded config. */
static struct tg_config *prepare(struct tg_server *s, int n, int with_key)
{
    struct tg_config *c = NULL;
    struct tg_evidence *e = NULL;
    struct tg_diag d;

    assert_int_equal(tg_test_server_prepare(s), 0);
    if (with_key)
        assert_int_equal(tg_test_config_replace(
                             s, "path: ./data/ticketgate.db",
                             "path: ./data/ticketgate.db\n  hmac_key: \""
                             KEY "\""), 0);
    tg_diag_init(&d);
    if (tg_config_load(s->config, &c, &d) != 0)
        fail_msg("%s", d.n ? d.msgs[0] : "config did not load");
    tg_diag_cleanup(&d);
    assert_int_equal((int)c->store.hmac_key_len,
                     with_key ? (int)strlen(KEY) : 0);
    if (n == 0)
        return c;
    assert_int_equal(tg_evidence_open(c, &e), 0);
    for (int i = 1; i <= n; i++) {
        struct tg_evidence_record r;
        char id[32], doc[256];
        unsigned int len = 0;

        memset(&r, 0, sizeof r);
        snprintf(id, sizeof id, "d-%d", i);
        snprintf(doc, sizeof doc, "{\"decision\":\"allow\","
                 "\"decision_id\":\"%s\",\"ticket\":\"ACC-%d\"}", id, i);
        r.decision_id = id;
        r.ticket = "ACC-1";
        r.source = "generic";
        EVP_Digest(id, strlen(id), r.body_sha256, &len, EVP_sha256(), NULL);
        r.policy_digest = c->digest;
        r.time = 1000 + i;
        r.decision_json = doc;
        r.decision_len = strlen(doc);
        assert_int_equal(tg_evidence_append(e, &r), 0);
    }
    tg_evidence_close(e);
    return c;
}

static void store_sql(const struct tg_config *c, const char *sql)
{
    sqlite3 *db = NULL;

    assert_int_equal(sqlite3_open(c->store.path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static void test_verify_intact_and_broken(void **state)
{
    struct tg_server s;
    struct tg_config *c;
    struct tg_evidence_verdict v;
    struct tg_test_run r;

    (void)state;
    c = prepare(&s, 5, 0);
    assert_int_equal(tg_evidence_verify_file(c->store.path, NULL, 0, &v), 0);
    r = audit((const char *[]){"verify", "-c", s.config, NULL});
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "ok: 5 records"));
    assert_non_null(strstr(r.out, v.head_hash));
    assert_string_equal(r.err, "");
    tg_test_run_free(&r);

    store_sql(c, "UPDATE records SET decision = replace(decision, 'allow',"
                 " 'deny') WHERE seq = 3");
    r = audit((const char *[]){"verify", "--config", s.config, NULL});
    assert_int_equal(r.rc, 1);
    assert_non_null(strstr(r.err, "seq 3 (decision d-3)"));
    assert_int_equal(lines(r.err), 1);
    assert_string_equal(r.out, "");
    tg_test_run_free(&r);

    store_sql(c, "DELETE FROM records WHERE seq = 3");
    r = audit((const char *[]){"verify", "-c", s.config, NULL});
    assert_int_equal(r.rc, 1);
    assert_non_null(strstr(r.err, "seq 4 (decision d-4)"));
    tg_test_run_free(&r);
    tg_config_free(c);
    tg_test_server_cleanup(&s);
}

static void test_verify_with_key(void **state)
{
    struct tg_server s;
    struct tg_config *c;
    struct tg_test_run r;

    (void)state;
    c = prepare(&s, 4, 1);
    r = audit((const char *[]){"verify", "-c", s.config, NULL});
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "MACs verified"));
    tg_test_run_free(&r);
    /* a link rewritten without the key: its MAC no longer fits */
    store_sql(c, "UPDATE records SET mac = NULL WHERE seq = 2");
    r = audit((const char *[]){"verify", "-c", s.config, NULL});
    assert_int_equal(r.rc, 1);
    assert_non_null(strstr(r.err, "seq 2"));
    assert_non_null(strstr(r.err, "MAC"));
    tg_test_run_free(&r);
    tg_config_free(c);
    tg_test_server_cleanup(&s);
}

static void test_export(void **state)
{
    struct tg_server s;
    struct tg_config *c;
    struct tg_test_run r;
    char *line, *nl;
    int n = 0;

    (void)state;
    c = prepare(&s, 3, 0);
    r = audit((const char *[]){"export", "-c", s.config, NULL});
    assert_int_equal(r.rc, 0);
    assert_int_equal(lines(r.out), 3);
    for (line = r.out; (nl = strchr(line, '\n')); line = nl + 1) {
        json_t *o;

        *nl = '\0';
        o = json_loads(line, 0, NULL);
        assert_non_null(o);
        n++;
        assert_int_equal(json_integer_value(json_object_get(o, "seq")), n);
        assert_true(json_is_object(json_object_get(o, "decision")));
        assert_string_equal(json_string_value(json_object_get(
                                json_object_get(o, "decision"), "decision")),
                            "allow");
        assert_int_equal(json_integer_value(json_object_get(o, "time")),
                         1000 + n);
        json_decref(o);
    }
    tg_test_run_free(&r);

    /* 1970-01-01T00:16:42Z is time 1002 */
    r = audit((const char *[]){"export", "-c", s.config, "--since",
                               "1970-01-01T00:16:42Z", NULL});
    assert_int_equal(r.rc, 0);
    assert_int_equal(lines(r.out), 2);
    tg_test_run_free(&r);
    r = audit((const char *[]){"export", "-c", s.config,
                               "--since=2030-01-01", NULL});
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.out, "");
    tg_test_run_free(&r);
    r = audit((const char *[]){"export", "-c", s.config, "--since",
                               "last week", NULL});
    assert_int_equal(r.rc, 2);
    assert_int_equal(lines(r.err), 1);
    assert_non_null(strstr(r.err, "RFC 3339"));
    tg_test_run_free(&r);
    tg_config_free(c);
    tg_test_server_cleanup(&s);
}

static void test_archive(void **state)
{
    struct tg_server s;
    struct tg_config *c;
    struct tg_test_run r;
    char to[400];

    (void)state;
    c = prepare(&s, 6, 1);
    snprintf(to, sizeof to, "%s/archive-1.db", s.dir);
    r = audit((const char *[]){"archive", "-c", s.config, "--before", "4",
                               "--to", to, NULL});
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "archived 3 records"));
    tg_test_run_free(&r);
    r = audit((const char *[]){"verify", "-c", s.config, NULL});
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "ok: 3 records intact after checkpoint "
                                  "seq 3, head seq 6"));
    tg_test_run_free(&r);
    r = audit((const char *[]){"archive", "-c", s.config, "--before", "6",
                               "--to", to, NULL});
    assert_int_equal(r.rc, 2);
    assert_non_null(strstr(r.err, "already exists"));
    tg_test_run_free(&r);
    /* --before is a seq: digits only, no sign or space, within int64 */
    static const char *const bad[] = {"-1", "+4", " 4", "4x", "", "0x4",
                                      "9223372036854775808",
                                      "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = audit((const char *[]){"archive", "-c", s.config, "--before",
                                   bad[i], "--to", to, NULL});
        assert_int_equal(r.rc, 2);
        assert_non_null(strstr(r.err, "takes a record seq"));
        tg_test_run_free(&r);
    }
    tg_config_free(c);
    tg_test_server_cleanup(&s);
}

static void test_errors(void **state)
{
    static const struct {
        const char *args[8];
        const char *needle;
    } cases[] = {
        {{NULL}, "missing the action"},
        {{"frobnicate", "-c", "x.yaml", NULL}, "unknown action"},
        {{"verify", NULL}, "-c FILE (or --store PATH) is required"},
        {{"verify", "-c", NULL}, "a value is missing"},
        {{"verify", "-c", "x.yaml", "--bogus", NULL}, "unknown argument"},
        {{"verify", "-c", "x.yaml", "--since", "2026-01-01", NULL},
         "export only"},
        {{"archive", "-c", "x.yaml", "--before", "3", NULL}, "--to PATH"},
        {{"verify", "-c", "/nonexistent/ticketgate.yaml", NULL},
         "/nonexistent/ticketgate.yaml"},
    };
    struct tg_server s;
    struct tg_config *c;
    struct tg_test_run r;

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        r = audit(cases[i].args);
        if (r.rc != 2 || !strstr(r.err, cases[i].needle) ||
            lines(r.err) != 1)
            fail_msg("case %zu: rc %d, stderr: %s", i, r.rc, r.err);
        tg_test_run_free(&r);
    }
    /* a store that was never written */
    c = prepare(&s, 0, 0);
    r = audit((const char *[]){"verify", "-c", s.config, NULL});
    assert_int_equal(r.rc, 2);
    assert_non_null(strstr(r.err, c->store.path));
    assert_int_equal(lines(r.err), 1);
    tg_test_run_free(&r);
    r = audit((const char *[]){"export", "-c", s.config, NULL});
    assert_int_equal(r.rc, 2);
    tg_test_run_free(&r);
    tg_config_free(c);
    tg_test_server_cleanup(&s);
}

/* The whole of a file (NUL-terminated) and its length. */
static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *s;
    long n;

    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    s = calloc(1, (size_t)n + 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return s;
}

/* Counts the policy entries of the store at path. */
static int count_row(void *ctx, const struct tg_evidence_row *row)
{
    (void)row;
    (*(int *)ctx)++;
    return 0;
}

/* `audit policy` prints the exact files of a policy kept in the store,
 * after the files on disk changed; it says so when the digest is unknown
 * or the kept text was altered, and `audit verify` finds that too. */
static void test_policy(void **state)
{
    struct tg_server s;
    struct tg_config *c;
    struct tg_evidence *e = NULL;
    struct tg_test_run r;
    char digest[72], dirpath[400], *cfg_text, *dir_text;
    size_t cfg_len, dir_len;
    int n = 0;

    (void)state;
    c = prepare(&s, 2, 0);
    snprintf(digest, sizeof digest, "%s", c->digest);
    cfg_text = read_all(s.config, &cfg_len);
    snprintf(dirpath, sizeof dirpath, "%s/directory.yaml", s.dir);
    dir_text = read_all(dirpath, &dir_len);
    assert_int_equal(tg_evidence_open(c, &e), 0);
    assert_int_equal(tg_evidence_keep_policy(e, c, 5000), 0);
    /* once per digest: a second start or reload keeps nothing new */
    assert_int_equal(tg_evidence_keep_policy(e, c, 6000), 0);
    tg_evidence_close(e);
    assert_int_equal(tg_evidence_scan_file(c->store.path, "policy",
                                           INT64_MIN, INT64_MAX, count_row,
                                           &n), 0);
    assert_int_equal(n, 1);

    /* the files on disk change: the kept ones are still the old bytes */
    assert_int_equal(tg_test_config_replace(&s, "# Example configuration",
                                            "# Changed configuration"), 0);
    r = audit((const char *[]){"verify", "-c", s.config, NULL});
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "ok: 3 records intact (2 decisions, 1 "
                                  "other entries"));
    tg_test_run_free(&r);
    r = audit((const char *[]){"policy", digest, "-c", s.config, NULL});
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, digest));
    assert_non_null(strstr(r.out, "# Example configuration"));
    assert_null(strstr(r.out, "# Changed configuration"));
    assert_non_null(strstr(r.out, dir_text));
    assert_string_equal(r.err, "");
    tg_test_run_free(&r);
    r = audit((const char *[]){"policy", digest, "-c", s.config, "--file",
                               "config", NULL});
    assert_int_equal(r.rc, 0);
    assert_int_equal(strlen(r.out), cfg_len);
    assert_memory_equal(r.out, cfg_text, cfg_len);
    tg_test_run_free(&r);
    /* --store alone: the configuration may be gone by then */
    r = audit((const char *[]){"policy", digest, "--store", c->store.path,
                               "--file=directory", NULL});
    assert_int_equal(r.rc, 0);
    assert_int_equal(strlen(r.out), dir_len);
    assert_memory_equal(r.out, dir_text, dir_len);
    tg_test_run_free(&r);
    r = audit((const char *[]){"policy", "--format", "json", "--store",
                               c->store.path, digest, NULL});
    assert_int_equal(r.rc, 0);
    {
        json_t *o = json_loads(r.out, 0, NULL);

        assert_non_null(o);
        assert_string_equal(json_string_value(json_object_get(o, "digest")),
                            digest);
        assert_string_equal(json_string_value(json_object_get(o, "config")),
                            cfg_text);
        json_decref(o);
    }
    tg_test_run_free(&r);
    /* the digest the changed files have now was never in force */
    {
        struct tg_config *now = NULL;

        assert_int_equal(tg_config_load(s.config, &now, NULL), 0);
        assert_string_not_equal(now->digest, digest);
        r = audit((const char *[]){"policy", now->digest, "-c", s.config,
                                   NULL});
        assert_int_equal(r.rc, 1);
        assert_non_null(strstr(r.err, "no policy"));
        assert_int_equal(lines(r.err), 1);
        assert_string_equal(r.out, "");
        tg_test_run_free(&r);
        tg_config_free(now);
    }
    r = audit((const char *[]){"policy", "sha256:abc", "-c", s.config, NULL});
    assert_int_equal(r.rc, 2);
    assert_non_null(strstr(r.err, "64 lower-case hex"));
    tg_test_run_free(&r);
    r = audit((const char *[]){"policy", "-c", s.config, NULL});
    assert_int_equal(r.rc, 2);
    tg_test_run_free(&r);
    r = audit((const char *[]){"policy", digest, "-c", s.config, "--file",
                               "secrets", NULL});
    assert_int_equal(r.rc, 2);
    tg_test_run_free(&r);

    /* the kept text altered: both commands say so */
    store_sql(c, "UPDATE records SET decision = replace(decision,"
                 " '# Example configuration', '# Example configuratiom')"
                 " WHERE kind = 'policy'");
    r = audit((const char *[]){"policy", digest, "-c", s.config, NULL});
    assert_int_equal(r.rc, 1);
    assert_non_null(strstr(r.err, "altered"));
    tg_test_run_free(&r);
    r = audit((const char *[]){"verify", "-c", s.config, NULL});
    assert_int_equal(r.rc, 1);
    assert_non_null(strstr(r.err, "seq 3"));
    tg_test_run_free(&r);
    free(cfg_text);
    free(dir_text);
    tg_config_free(c);
    tg_test_server_cleanup(&s);
}

/* A configuration that writes store.hmac_key literally is not kept: the
 * store must not hold the key that signs its links. */
static void test_policy_not_kept_with_literal_key(void **state)
{
    struct tg_server s;
    struct tg_config *c;
    struct tg_evidence *e = NULL;
    int n = 0;

    (void)state;
    c = prepare(&s, 1, 1);
    assert_int_equal(tg_evidence_open(c, &e), 0);
    assert_int_equal(tg_evidence_keep_policy(e, c, 5000), TG_EINVAL);
    tg_evidence_close(e);
    assert_int_equal(tg_evidence_scan_file(c->store.path, "policy",
                                           INT64_MIN, INT64_MAX, count_row,
                                           &n), 0);
    assert_int_equal(n, 0);
    tg_config_free(c);
    tg_test_server_cleanup(&s);
}

/* `audit verify` finds a judged ticket altered in a record; with --store
 * alone it checks the hashes (no key to check MACs with). */
static void test_verify_judged(void **state)
{
    static const char judged[] =
        "{\"ticket\":{\"id\":\"ACC-9\",\"owner\":\"carol.diaz\"}}";
    struct tg_server s;
    struct tg_config *c;
    struct tg_evidence *e = NULL;
    struct tg_evidence_record rec;
    struct tg_test_run r;
    unsigned int len = 0;

    (void)state;
    c = prepare(&s, 2, 0);
    assert_int_equal(tg_evidence_open(c, &e), 0);
    memset(&rec, 0, sizeof rec);
    rec.decision_id = "d-judged";
    rec.ticket = "ACC-9";
    rec.source = "jira";
    EVP_Digest("x", 1, rec.body_sha256, &len, EVP_sha256(), NULL);
    rec.policy_digest = c->digest;
    rec.time = 2000;
    rec.decision_json = "{\"decision\":\"allow\"}";
    rec.decision_len = strlen(rec.decision_json);
    rec.judged_json = judged;
    rec.judged_len = strlen(judged);
    assert_int_equal(tg_evidence_append(e, &rec), 0);
    tg_evidence_close(e);
    r = audit((const char *[]){"verify", "--store", c->store.path, NULL});
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "ok: 3 records"));
    assert_null(strstr(r.out, "entries")); /* decisions only */
    tg_test_run_free(&r);
    store_sql(c, "UPDATE records SET judged = replace(judged, 'carol.diaz',"
                 " 'mallory') WHERE decision_id = 'd-judged'");
    r = audit((const char *[]){"verify", "-c", s.config, NULL});
    assert_int_equal(r.rc, 1);
    assert_non_null(strstr(r.err, "seq 3 (decision d-judged)"));
    tg_test_run_free(&r);
    tg_config_free(c);
    tg_test_server_cleanup(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verify_intact_and_broken),
        cmocka_unit_test(test_verify_with_key),
        cmocka_unit_test(test_export),
        cmocka_unit_test(test_archive),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_policy),
        cmocka_unit_test(test_policy_not_kept_with_literal_key),
        cmocka_unit_test(test_verify_judged),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
