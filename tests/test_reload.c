/* test_reload.c - hot reload: in-flight requests, directory, under load. */
/* needs: ticketgate */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "tests/support/tg_test.h"

/* The server under test and a copy of it that points at its admin port. */
static struct tg_server S, A;
static char *auth;

/* The example ticket due in two days; approver as given ("erin..." is
 * allow, "bob..." the requester himself, deny under enforce). */
static char *ticket(const char *approver)
{
    json_error_t err;
    json_t *t = json_load_file(
        TG_SOURCE_DIR "/example/payloads/canonical-ticket.json", 0, &err);
    char when[32], *text;

    assert_non_null(t);
    tg_test_rfc3339(2 * 86400, when, sizeof(when));
    json_object_set_new(t, "expires_at", json_string(when));
    tg_test_rfc3339(-3600, when, sizeof(when));
    json_object_set_new(t, "created_at", json_string(when));
    json_object_set_new(t, "approver", json_string(approver));
    text = json_dumps(t, JSON_COMPACT);
    json_decref(t);
    assert_non_null(text);
    return text;
}

/* POST /v1/check; returns the decision document (caller decrefs) or NULL
 * with *status set. */
static json_t *check(const char *body, long *status)
{
    const char *hdrs[] = {"Content-Type: application/json", auth, NULL};
    struct tg_resp r;
    json_error_t err;
    json_t *d = NULL;

    if (tg_test_http(&S, "POST", "/v1/check", hdrs, body, strlen(body), 0,
                     &r) != 0) {
        *status = 0;
        return NULL;
    }
    *status = r.status;
    if (r.status == 200)
        d = json_loadb(r.body, r.body_len, 0, &err);
    tg_test_resp_free(&r);
    return d;
}

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    assert_non_null(s);
    return s;
}

/* POST /v1/admin/reload; returns the policy now in force (malloc'd), or
 * NULL when the reload was refused. */
static char *admin_reload(void)
{
    struct tg_resp r;
    json_error_t err;
    json_t *d;
    char *policy = NULL;

    assert_int_equal(
        tg_test_http(&A, "POST", "/v1/admin/reload", NULL, NULL, 0, 0, &r), 0);
    if (r.status == 200) {
        d = json_loadb(r.body, r.body_len, 0, &err);
        assert_non_null(d);
        policy = strdup(str(d, "policy"));
        json_decref(d);
    }
    tg_test_resp_free(&r);
    return policy;
}

/* The value of one sample of the admin listener's /metrics, or -1. */
static double metric(const char *series)
{
    return tg_test_metric(&A, series);
}

#define RELOAD_OK "ticketgate_config_reloads_total{result=\"success\"}"
#define RELOAD_FAIL "ticketgate_config_reloads_total{result=\"failure\"}"

/* SIGHUP, then waits until /metrics counts one more reload of either kind. */
static void sighup_and_wait(void)
{
    double ok = metric(RELOAD_OK), bad = metric(RELOAD_FAIL);
    int i;

    assert_int_equal(tg_test_server_signal(&S, SIGHUP), 0);
    for (i = 0; i < 400; i++) {
        if (metric(RELOAD_OK) > ok || metric(RELOAD_FAIL) > bad)
            return;
        tg_test_sleep_ms(25);
    }
    fail_msg("SIGHUP: no reload within 10 s");
}

static int setup(void **state)
{
    char *tok;
    (void)state;

    if (tg_test_server_prepare(&S) != 0)
        return -1;
    if (tg_test_config_replace(&S, "max_body_bytes: 1048576",
                               "max_body_bytes: 1048576\n"
                               "  admin_listen: \"127.0.0.1:0\"") != 0 ||
        tg_test_server_start(&S) != 0 || S.admin_port <= 0)
        return -1;
    A = S;
    A.port = S.admin_port;
    snprintf(A.url, sizeof(A.url), "http://127.0.0.1:%d", A.port);
    tok = tg_test_generic_token(NULL);
    auth = tok ? tg_test_bearer_header(tok) : NULL;
    free(tok);
    return auth ? 0 : -1;
}

static int teardown(void **state)
{
    int rc;
    (void)state;
    rc = tg_test_server_finish(&S);
    free(auth);
    return rc;
}

/* ------------------------------------------------- in-flight request */

static int connect_port(int port)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

static void send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        assert_true(w > 0);
        p += w;
        n -= (size_t)w;
    }
}

/* Reads the whole reply (the server closes: Connection: close). */
static char *recv_all(int fd)
{
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    struct pollfd pfd = {fd, POLLIN, 0};

    assert_non_null(buf);
    for (;;) {
        ssize_t r;
        assert_true(poll(&pfd, 1, 10000) == 1);
        r = recv(fd, buf + n, cap - n - 1, 0);
        if (r <= 0)
            break;
        n += (size_t)r;
        assert_true(n < cap - 1);
    }
    buf[n] = '\0';
    return buf;
}

/*
 * A request whose body is still arriving when the configuration changes is
 * judged by the configuration it started with: the policy digest in its
 * decision is the old one, and enforce still denies. The next request gets
 * the new one (dryrun: annotate).
 */
static void test_in_flight_keeps_old(void **state)
{
    char *body = ticket("bob@example.com"), head[1024], *reply, *json;
    char *old_policy, *new_policy;
    size_t half = strlen(body) / 2;
    json_error_t err;
    json_t *d;
    long st;
    int fd, n;
    (void)state;

    old_policy = admin_reload();
    assert_non_null(old_policy);

    fd = connect_port(S.port);
    n = snprintf(head, sizeof(head),
                 "POST /v1/check HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 "Content-Type: application/json\r\n%s\r\n"
                 "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                 auth, strlen(body));
    assert_true(n > 0 && (size_t)n < sizeof(head));
    send_all(fd, head, (size_t)n);
    send_all(fd, body, half);
    /* The handler has started (and taken its configuration) once the
     * headers are in: wait until the server counts it in its handler
     * (beside the /metrics request that asks, which counts itself). */
    assert_int_equal(tg_test_metric_wait(
                         &A, "ticketgate_http_requests_in_progress", 2, 10000),
                     0);

    assert_int_equal(
        tg_test_config_replace(&S, "mode: enforce", "mode: dryrun"), 0);
    new_policy = admin_reload();
    assert_non_null(new_policy);
    assert_string_not_equal(old_policy, new_policy);

    send_all(fd, body + half, strlen(body) - half);
    reply = recv_all(fd);
    close(fd);
    assert_non_null(strstr(reply, "HTTP/1.1 200"));
    json = strstr(reply, "\r\n\r\n");
    assert_non_null(json);
    d = json_loads(json + 4, 0, &err);
    assert_non_null(d);
    assert_string_equal(str(d, "policy"), old_policy);
    assert_string_equal(str(d, "decision"), "deny");
    assert_true(json_is_false(json_object_get(d, "dry_run")));
    json_decref(d);
    free(reply);

    d = check(body, &st);
    assert_int_equal(st, 200);
    assert_string_equal(str(d, "policy"), new_policy);
    assert_string_equal(str(d, "decision"), "annotate");
    json_decref(d);

    assert_int_equal(
        tg_test_config_replace(&S, "mode: dryrun", "mode: enforce"), 0);
    free(new_policy);
    new_policy = admin_reload();
    assert_string_equal(new_policy, old_policy);
    free(new_policy);
    free(old_policy);
    free(body);
}

/* ------------------------------------------------------ the directory */

/* SIGHUP reloads the directory the configuration names, not only the
 * configuration: an owner made inactive there is inactive at once. */
static void test_directory_reload(void **state)
{
    char *body = ticket("erin@example.com");
    json_t *d, *f;
    long st;
    size_t i;
    int seen = 0;
    (void)state;

    d = check(body, &st);
    assert_int_equal(st, 200);
    assert_string_equal(str(d, "decision"), "allow");
    json_decref(d);

    {
        /* tg_test_config_replace edits the configuration file; point it at
         * the directory for one edit. */
        struct tg_server dir = S;
        snprintf(dir.config, sizeof(dir.config), "%s/directory.yaml", S.dir);
        assert_int_equal(tg_test_config_replace(&dir, "    name: Carol Diaz\n",
                                                "    name: Carol Diaz\n"
                                                "    status: inactive\n"),
                         0);
        sighup_and_wait();
        d = check(body, &st);
        assert_int_equal(st, 200);
        assert_string_equal(str(d, "decision"), "deny");
        f = json_object_get(d, "findings");
        for (i = 0; i < json_array_size(f); i++)
            if (strcmp(str(json_array_get(f, i), "code"), "OWNER_INACTIVE") ==
                0)
                seen = 1;
        assert_true(seen);
        json_decref(d);

        /* A directory that does not load keeps the last good one. */
        assert_int_equal(tg_test_config_replace(&dir, "people:", "people: ["),
                         0);
        sighup_and_wait();
        d = check(body, &st);
        assert_int_equal(st, 200);
        assert_string_equal(str(d, "decision"), "deny");
        json_decref(d);

        assert_int_equal(tg_test_config_replace(&dir, "people: [", "people:"),
                         0);
        assert_int_equal(tg_test_config_replace(&dir,
                                                "    name: Carol Diaz\n"
                                                "    status: inactive\n",
                                                "    name: Carol Diaz\n"),
                         0);
        sighup_and_wait();
        d = check(body, &st);
        assert_int_equal(st, 200);
        assert_string_equal(str(d, "decision"), "allow");
        json_decref(d);
    }
    free(body);
}

/* ------------------------------------------------------------ load */

#define CLIENTS 4

struct load {
    atomic_int stop;
    atomic_long ok, bad;
    const char *policies[2];
    char *body;
    char first_bad[256];
    pthread_mutex_t mu;
};

static void *client(void *arg)
{
    struct load *l = arg;

    while (!atomic_load(&l->stop)) {
        long st;
        json_t *d = check(l->body, &st);
        const char *pol =
            d ? json_string_value(json_object_get(d, "policy")) : NULL;
        const char *dec =
            d ? json_string_value(json_object_get(d, "decision")) : NULL;

        if (st == 200 && pol && dec && strcmp(dec, "allow") == 0 &&
            (strcmp(pol, l->policies[0]) == 0 ||
             strcmp(pol, l->policies[1]) == 0)) {
            atomic_fetch_add(&l->ok, 1);
        } else {
            pthread_mutex_lock(&l->mu);
            if (!l->first_bad[0])
                snprintf(l->first_bad, sizeof(l->first_bad),
                         "status %ld decision %s policy %s", st,
                         dec ? dec : "-", pol ? pol : "-");
            pthread_mutex_unlock(&l->mu);
            atomic_fetch_add(&l->bad, 1);
        }
        json_decref(d);
    }
    return NULL;
}

/*
 * Reloads, alternately by SIGHUP and by the admin endpoint and between two
 * configurations, while clients keep deciding: every answer is a decision
 * under one of the two, none fails, and every reload is counted.
 */
static void test_reload_under_load(void **state)
{
    struct load l;
    pthread_t th[CLIENTS];
    char *pa, *pb;
    double before;
    int i;
    (void)state;

    memset(&l, 0, sizeof(l));
    pthread_mutex_init(&l.mu, NULL);
    l.body = ticket("erin@example.com");
    pa = admin_reload();
    assert_int_equal(tg_test_config_replace(&S, "min_words: 6", "min_words: 5"),
                     0);
    pb = admin_reload();
    assert_non_null(pa);
    assert_non_null(pb);
    assert_string_not_equal(pa, pb);
    l.policies[0] = pa;
    l.policies[1] = pb;
    before = metric(RELOAD_OK);

    for (i = 0; i < CLIENTS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, client, &l), 0);
    for (i = 0; i < 10; i++) {
        assert_int_equal(
            tg_test_config_replace(&S, i % 2 ? "min_words: 6" : "min_words: 5",
                                   i % 2 ? "min_words: 5" : "min_words: 6"),
            0);
        if (i % 2) {
            char *p = admin_reload();
            assert_non_null(p);
            free(p);
        } else {
            sighup_and_wait();
        }
        tg_test_sleep_ms(50);
    }
    atomic_store(&l.stop, 1);
    for (i = 0; i < CLIENTS; i++)
        pthread_join(th[i], NULL);

    if (atomic_load(&l.bad) != 0) {
        tg_test_server_dump_log(&S);
        fail_msg("%ld of %ld answers wrong, first: %s", atomic_load(&l.bad),
                 atomic_load(&l.ok) + atomic_load(&l.bad), l.first_bad);
    }
    assert_true(atomic_load(&l.ok) > 20);
    assert_true(metric(RELOAD_OK) == before + 10);

    pthread_mutex_destroy(&l.mu);
    free(l.body);
    free(pa);
    free(pb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_flight_keeps_old),
        cmocka_unit_test(test_directory_reload),
        cmocka_unit_test(test_reload_under_load),
    };
    int rc;

    /* Before any thread: libcurl's global state is not thread-safe. */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
