/* test_storeloss.c - the store deleted, replaced or full under the real
 * server: 503 and /readyz 503, the log names the path and the cause, ids
 * go on above every one handed out, and every file made is 0600. */
/* needs: ticketgate */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "tests/support/tg_test.h"

static json_t *tmpl; /* example/payloads/canonical-ticket.json */
static char mounted[400]; /* a tmpfs to unmount at the end, or "" */

/* A ticket the example policy decides (a record is written). */
static char *ticket(int n)
{
    json_t *t = json_deep_copy(tmpl);
    char when[32], id[32], *text;

    assert_non_null(t);
    tg_test_rfc3339(3 * 86400, when, sizeof(when));
    json_object_set_new(t, "expires_at", json_string(when));
    tg_test_rfc3339(-86400, when, sizeof(when));
    json_object_set_new(t, "created_at", json_string(when));
    snprintf(id, sizeof(id), "LOSS-%d", n);
    json_object_set_new(t, "id", json_string(id));
    text = json_dumps(t, JSON_COMPACT);
    json_decref(t);
    assert_non_null(text);
    return text;
}

/* POST /v1/check of ticket n; fills r. */
static void check(const struct tg_server *s, int n, struct tg_resp *r)
{
    char *tok = tg_test_generic_token(NULL);
    char *auth = tg_test_bearer_header(tok);
    const char *h[] = {"Content-Type: application/json", auth, NULL};
    char *body = ticket(n);

    assert_int_equal(tg_test_http(s, "POST", "/v1/check", h, body,
                                  strlen(body), 0, r), 0);
    free(body);
    free(auth);
    free(tok);
}

/* The number in the decision id of a 200 answer. */
static unsigned long long decided(const struct tg_server *s,
                                  struct tg_resp *r)
{
    json_t *d;
    const char *id;
    unsigned long long n;

    if (r->status != 200) {
        fprintf(stderr, "status %ld: %s\n", r->status, r->body);
        tg_test_server_dump_log(s);
    }
    assert_int_equal(r->status, 200);
    d = json_loadb(r->body, r->body_len, 0, NULL);
    assert_non_null(d);
    id = json_string_value(json_object_get(d, "decision_id"));
    assert_non_null(id);
    assert_true(strncmp(id, "d-", 2) == 0);
    n = strtoull(id + 2, NULL, 10);
    json_decref(d);
    tg_test_resp_free(r);
    return n;
}

static void expect_503(const struct tg_server *s, struct tg_resp *r)
{
    char *retry;

    if (r->status != 503) {
        fprintf(stderr, "status %ld: %s\n", r->status, r->body);
        tg_test_server_dump_log(s);
    }
    assert_int_equal(r->status, 503);
    assert_non_null(strstr(r->body, "store_unavailable"));
    retry = tg_test_resp_header(r, "Retry-After");
    assert_non_null(retry);
    assert_true(strtol(retry, NULL, 10) > 0);
    free(retry);
    tg_test_resp_free(r);
}

/* GET /readyz until it answers want (at most ms). */
static long readyz_until(const struct tg_server *s, long want, int ms)
{
    long status = 0;

    for (int waited = 0; waited <= ms; waited += 100) {
        struct tg_resp r;

        assert_int_equal(tg_test_http(s, "GET", "/readyz", NULL, NULL, 0, 0,
                                      &r), 0);
        status = r.status;
        tg_test_resp_free(&r);
        if (status == want)
            break;
        usleep(100 * 1000);
    }
    return status;
}

/* An error record of the log that names path and holds words. */
static void expect_logged(const struct tg_server *s, const char *path,
                          const char *words)
{
    char *log = tg_test_read_file(s->log, NULL);
    int found = 0;

    assert_non_null(log);
    for (char *line = log, *nl; line && *line; line = nl) {
        nl = strchr(line, '\n');
        if (nl)
            *nl++ = '\0';
        if (strstr(line, "\"level\":\"error\"") && strstr(line, path) &&
            strstr(line, words))
            found = 1;
    }
    if (!found) {
        fprintf(stderr, "no error line naming %s with '%s'\n", path, words);
        tg_test_server_dump_log(s);
    }
    free(log);
    assert_true(found);
}

static void store_path(const struct tg_server *s, char *buf, size_t cap,
                       const char *rel)
{
    int n = snprintf(buf, cap, "%s/%s", s->dir, rel);

    assert_true(n > 0 && (size_t)n < cap);
}

/* rm of the store file, or mv of another file into its place. */
static void store_lost(int replace)
{
    struct tg_server s;
    struct tg_resp r;
    char path[400], other[420];
    unsigned long long first, after;

    assert_int_equal(tg_test_server_prepare(&s), 0);
    assert_int_equal(tg_test_server_start(&s), 0);
    store_path(&s, path, sizeof(path), "data/ticketgate.db");
    check(&s, 1, &r);
    first = decided(&s, &r);

    if (replace) {
        int fd;

        snprintf(other, sizeof(other), "%s.new", path);
        fd = open(other, O_WRONLY | O_CREAT | O_EXCL, 0600);
        assert_true(fd >= 0);
        close(fd);
        assert_int_equal(rename(other, path), 0);
        /* an idle server notices by itself */
        assert_int_equal(readyz_until(&s, 503, 3000), 503);
    } else {
        assert_int_equal(unlink(path), 0);
    }
    check(&s, 2, &r);
    expect_503(&s, &r);
    assert_int_equal(readyz_until(&s, 503, 0), 503);
    /* still refused a probe later: the file is not coming back */
    usleep(1300 * 1000);
    check(&s, 3, &r);
    expect_503(&s, &r);
    assert_int_equal(readyz_until(&s, 503, 0), 503);
    expect_logged(&s, path, replace ? "replaced" : "deleted");
    assert_int_equal(tg_test_server_stop(&s), 0);

    /* the restart: a new store, ids above every one handed out */
    assert_int_equal(tg_test_server_start(&s), 0);
    assert_int_equal(readyz_until(&s, 200, 0), 200);
    check(&s, 4, &r);
    after = decided(&s, &r);
    if (after <= first + 2)
        fail_msg("decision id %llu after the restart, %llu before", after,
                 first);
    assert_int_equal(tg_test_server_stop(&s), 0);
    tg_test_server_cleanup(&s);
}

static void test_store_deleted(void **state)
{
    (void)state;
    store_lost(0);
}

static void test_store_replaced(void **state)
{
    (void)state;
    store_lost(1);
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

/* With umask 000, every file ticketgate makes is 0600, every directory
 * 0700: the store's, its -wal, -shm and ids file, and an archive. */
static void test_permissions(void **state)
{
    static const char *const files[] = {
        "state/sub/ticketgate.db", "state/sub/ticketgate.db-wal",
        "state/sub/ticketgate.db-shm", "state/sub/ticketgate.db.ids",
        "state/archive.db"};
    struct tg_server s;
    struct tg_resp r;
    char path[400], cmd[1400];
    mode_t old = umask(0);
    int st;

    (void)state;
    assert_int_equal(tg_test_server_prepare(&s), 0);
    assert_int_equal(tg_test_config_replace(&s, "./data/ticketgate.db",
                                            "./state/sub/ticketgate.db"),
                     0);
    assert_int_equal(tg_test_server_start(&s), 0);
    check(&s, 1, &r);
    decided(&s, &r);
    check(&s, 2, &r);
    decided(&s, &r);
    snprintf(cmd, sizeof(cmd),
             "%s audit archive -c %s --before 2 --to %s/state/archive.db "
             ">/dev/null",
             TG_BINARY, s.config, s.dir);
    st = system(cmd);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    store_path(&s, path, sizeof(path), "state");
    expect_mode(path, 0700);
    store_path(&s, path, sizeof(path), "state/sub");
    expect_mode(path, 0700);
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        store_path(&s, path, sizeof(path), files[i]);
        expect_mode(path, 0600);
    }
    assert_int_equal(tg_test_server_stop(&s), 0);
    tg_test_server_cleanup(&s);
    umask(old);
}

/* A real full disk: a small tmpfs (root only; skipped elsewhere). The log
 * says "disk full"; freeing space brings the store back by itself. */
static void test_disk_full(void **state)
{
    struct tg_server s;
    struct tg_resp r;
    char dir[400], path[400], filler[420];
    static char block[65536];
    int fd, got503 = 0;

    (void)state;
    assert_int_equal(tg_test_server_prepare(&s), 0);
    store_path(&s, dir, sizeof(dir), "full");
    assert_int_equal(mkdir(dir, 0700), 0);
    if (mount("tmpfs", dir, "tmpfs", 0, "size=1m,mode=0700") != 0) {
        tg_test_server_cleanup(&s);
        skip(); /* not root: the code-to-words mapping is unit-tested */
    }
    snprintf(mounted, sizeof(mounted), "%s", dir);
    assert_int_equal(tg_test_config_replace(&s, "./data/ticketgate.db",
                                            "./full/ticketgate.db"),
                     0);
    assert_int_equal(tg_test_server_start(&s), 0);
    check(&s, 1, &r);
    decided(&s, &r);

    snprintf(filler, sizeof(filler), "%s/filler", dir);
    fd = open(filler, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    memset(block, 'x', sizeof(block));
    for (size_t cut = sizeof(block); cut > 0; cut /= 2)
        while (write(fd, block, cut) == (ssize_t)cut)
            ;
    close(fd);
    /* A commit may still fit in WAL space a checkpoint freed; the next
     * ones cannot. */
    for (int n = 2; n < 60 && !got503; n++) {
        check(&s, n, &r);
        if (r.status == 503) {
            expect_503(&s, &r);
            got503 = 1;
        } else {
            decided(&s, &r);
        }
    }
    assert_true(got503);
    assert_int_equal(readyz_until(&s, 503, 0), 503);
    store_path(&s, path, sizeof(path), "full/ticketgate.db");
    expect_logged(&s, path, "disk full");

    assert_int_equal(unlink(filler), 0);
    assert_int_equal(readyz_until(&s, 200, 5000), 200);
    check(&s, 100, &r);
    decided(&s, &r);
    assert_int_equal(tg_test_server_stop(&s), 0);
    assert_int_equal(umount(dir), 0);
    mounted[0] = '\0';
    tg_test_server_cleanup(&s);
}

static int setup(void **state)
{
    json_error_t err;

    (void)state;
    tmpl = json_load_file(
        TG_SOURCE_DIR "/example/payloads/canonical-ticket.json", 0, &err);
    return tmpl ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    if (mounted[0])
        umount2(mounted, MNT_DETACH);
    json_decref(tmpl);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_deleted),
        cmocka_unit_test(test_store_replaced),
        cmocka_unit_test(test_permissions),
        cmocka_unit_test(test_disk_full),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
