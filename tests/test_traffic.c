/* test_traffic.c - real connections: keep-alive, pipelining, slow clients. */
/* needs: ticketgate */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
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

#include <netinet/in.h>
#include <arpa/inet.h>

#include <cmocka.h>
#include <jansson.h>
#include <sqlite3.h>

#include "tests/support/tg_test.h"

/*
 * One server for the whole file, configured small so that every bound is
 * reached quickly: 4 request workers (so 16 slow connections are 4x the
 * workers), a 2 s request deadline, a 1 s keep-alive idle timeout, and a
 * store that gives up on a lock after 200 ms.
 */
#define THREADS 4
#define SLOW_N (4 * THREADS)
#define REQUEST_TIMEOUT_MS 2000
#define KEEP_ALIVE_MS 1000
/* A legitimate request must be answered within this while slow clients
 * hold connections (issue 10). */
#define ANSWER_MS 1000
/* How long each slow-client run lasts: past one request deadline, so that
 * the slow connections are cut and come back. */
#define SLOW_RUN_MS 3000

static struct tg_server S;
static json_t *tmpl;
static char *auth; /* Authorization header line, a token without jti */
static const char *const ctype = "Content-Type: application/json";

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Timing claims mean nothing under valgrind (TG_TEST_WRAPPER). */
static int wrapped(void)
{
    const char *w = getenv("TG_TEST_WRAPPER");
    return w && *w;
}

static int setup(void **state)
{
    json_error_t err;
    char *tok;
    (void)state;

    tmpl = json_load_file(
        TG_SOURCE_DIR "/example/payloads/canonical-ticket.json", 0, &err);
    if (!tmpl || tg_test_server_prepare(&S) != 0 ||
        tg_test_config_replace(&S, "  threads: 16",
                               "  threads: 4\n"
                               "  keep_alive_timeout_ms: 1000") != 0 ||
        tg_test_config_replace(&S, "  request_timeout_ms: 10000",
                               "  request_timeout_ms: 2000") != 0 ||
        tg_test_config_replace(&S, "  path: ./data/ticketgate.db",
                               "  busy_timeout_ms: 200\n"
                               "  path: ./data/ticketgate.db") != 0 ||
        tg_test_server_start(&S) != 0)
        return -1;
    tok = tg_test_generic_token(NULL);
    auth = tok ? tg_test_bearer_header(tok) : NULL;
    free(tok);
    return auth ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    if (S.pid && tg_test_server_stop(&S) != 0)
        fprintf(stderr, "test_traffic: the server did not stop cleanly\n");
    tg_test_server_cleanup(&S);
    json_decref(tmpl);
    free(auth);
    return 0;
}

/* The example ticket as id, due in 3 days (malloc'd JSON text). */
static char *ticket(const char *id)
{
    json_t *t = json_deep_copy(tmpl);
    char when[32], *text;

    assert_non_null(t);
    tg_test_rfc3339(3 * 86400, when, sizeof(when));
    json_object_set_new(t, "expires_at", json_string(when));
    tg_test_rfc3339(-86400, when, sizeof(when));
    json_object_set_new(t, "created_at", json_string(when));
    json_object_set_new(t, "id", json_string(id));
    text = json_dumps(t, JSON_COMPACT);
    json_decref(t);
    assert_non_null(text);
    return text;
}

/* A raw POST /v1/check request for ticket id, authenticated (malloc'd). */
static char *check_request(const char *id, const char *extra_headers)
{
    char *body = ticket(id), *req;
    size_t cap = strlen(body) + strlen(auth) + 512;
    int n;

    req = malloc(cap);
    assert_non_null(req);
    n = snprintf(req, cap,
                 "POST /v1/check HTTP/1.1\r\nHost: t\r\n%s\r\n%s\r\n%s"
                 "Content-Length: %zu\r\n\r\n%s",
                 auth, ctype, extra_headers ? extra_headers : "",
                 strlen(body), body);
    assert_true(n > 0 && (size_t)n < cap);
    free(body);
    return req;
}

static char *header_of(const struct tg_resp *r, const char *name)
{
    char *v = tg_test_resp_header(r, name);
    assert_non_null(v);
    return v;
}

static void expect_connection(const struct tg_resp *r, const char *want)
{
    char *v = header_of(r, "Connection");
    if (strcmp(v, want) != 0)
        fail_msg("Connection: %s, want %s (status %ld)", v, want, r->status);
    free(v);
}

/* The string member key of the JSON body of r (malloc'd). */
static char *body_member(const struct tg_resp *r, const char *key)
{
    json_error_t err;
    json_t *d = json_loads(r->body, 0, &err);
    const char *v;
    char *out;

    if (!d)
        fail_msg("not JSON: %s", r->body);
    v = json_string_value(json_object_get(d, key));
    out = v ? strdup(v) : NULL;
    json_decref(d);
    return out;
}

/* ------------------------------------------------------------ keep-alive */

/*
 * One connection carries many requests: 101 decisions for one ticket, then
 * its pages. That also settles the limits of GET /v1/decisions that the
 * README gives (default 100, at most 1000).
 */
static void test_keep_alive_reuse(void **state)
{
    struct tg_conn c;
    struct tg_resp r;
    char get[512], *req, *next;
    json_t *d;
    json_error_t err;
    int i;
    (void)state;

    assert_int_equal(tg_test_conn_open(S.port, &c), 0);
    req = check_request("NET-KA-1", NULL);
    for (i = 0; i < 101; i++) {
        assert_int_equal(tg_test_conn_send(&c, req, strlen(req)), 0);
        assert_int_equal(tg_test_conn_response(&c, 5000, &r), 0);
        if (r.status != 200)
            fail_msg("request %d: %ld %s", i, r.status, r.body);
        expect_connection(&r, "keep-alive");
        tg_test_resp_free(&r);
    }
    free(req);

    /* The default page is 100 decisions, with a cursor to the rest. */
    snprintf(get, sizeof(get),
             "GET /v1/decisions?ticket=NET-KA-1 HTTP/1.1\r\nHost: t\r\n"
             "%s\r\n\r\n",
             auth);
    assert_int_equal(tg_test_conn_send(&c, get, strlen(get)), 0);
    assert_int_equal(tg_test_conn_response(&c, 5000, &r), 0);
    assert_int_equal(r.status, 200);
    d = json_loads(r.body, 0, &err);
    assert_non_null(d);
    assert_int_equal(json_array_size(json_object_get(d, "decisions")), 100);
    assert_false(json_is_null(json_object_get(d, "next")));
    json_decref(d);
    tg_test_resp_free(&r);

    /* 1000 is the largest page; 1001 is refused. */
    snprintf(get, sizeof(get),
             "GET /v1/decisions?ticket=NET-KA-1&limit=1000 HTTP/1.1\r\n"
             "Host: t\r\n%s\r\n\r\n",
             auth);
    assert_int_equal(tg_test_conn_send(&c, get, strlen(get)), 0);
    assert_int_equal(tg_test_conn_response(&c, 5000, &r), 0);
    assert_int_equal(r.status, 200);
    d = json_loads(r.body, 0, &err);
    assert_non_null(d);
    assert_int_equal(json_array_size(json_object_get(d, "decisions")), 101);
    json_decref(d);
    tg_test_resp_free(&r);
    snprintf(get, sizeof(get),
             "GET /v1/decisions?ticket=NET-KA-1&limit=1001 HTTP/1.1\r\n"
             "Host: t\r\n%s\r\n\r\n",
             auth);
    assert_int_equal(tg_test_conn_send(&c, get, strlen(get)), 0);
    assert_int_equal(tg_test_conn_response(&c, 5000, &r), 0);
    assert_int_equal(r.status, 400);
    next = body_member(&r, "message");
    assert_non_null(strstr(next, "1000"));
    free(next);
    /* A 400 about a query keeps the connection: its framing was fine. */
    expect_connection(&r, "keep-alive");
    tg_test_resp_free(&r);

    /* The client may ask to close: the answer says so and it closes. */
    snprintf(get, sizeof(get),
             "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_int_equal(tg_test_conn_send(&c, get, strlen(get)), 0);
    assert_int_equal(tg_test_conn_response(&c, 5000, &r), 0);
    assert_int_equal(r.status, 200);
    expect_connection(&r, "close");
    tg_test_resp_free(&r);
    assert_int_equal(tg_test_conn_closed(&c, 2000), 1);
    tg_test_conn_close(&c);

    /* HTTP/1.0 closes unless it asks for keep-alive. */
    assert_int_equal(tg_test_conn_open(S.port, &c), 0);
    snprintf(get, sizeof(get),
             "GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
             "GET /healthz HTTP/1.0\r\n\r\n");
    assert_int_equal(tg_test_conn_send(&c, get, strlen(get)), 0);
    assert_int_equal(tg_test_conn_response(&c, 5000, &r), 0);
    expect_connection(&r, "keep-alive");
    tg_test_resp_free(&r);
    assert_int_equal(tg_test_conn_response(&c, 5000, &r), 0);
    expect_connection(&r, "close");
    tg_test_resp_free(&r);
    assert_int_equal(tg_test_conn_closed(&c, 2000), 1);
    tg_test_conn_close(&c);
}

/* Requests sent back to back in one write get every answer, in order. */
static void test_pipelining(void **state)
{
    struct tg_conn c;
    struct tg_resp r;
    char *a = check_request("NET-PIPE-A", NULL);
    char *b = check_request("NET-PIPE-B", NULL);
    char *cbody = ticket("NET-PIPE-C");
    char *all, *id;
    size_t cap;
    /* healthz, A, 404, B, 405, C (chunked), readyz */
    static const long want[] = {200, 200, 404, 200, 405, 200, 200};
    static const char *const tickets[] = {NULL, "NET-PIPE-A", NULL,
                                          "NET-PIPE-B", NULL, "NET-PIPE-C",
                                          NULL};
    size_t i;
    (void)state;

    cap = strlen(a) + strlen(b) + strlen(cbody) + strlen(auth) + 1024;
    all = malloc(cap);
    assert_non_null(all);
    snprintf(all, cap,
             "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
             "%s"
             "GET /nowhere HTTP/1.1\r\nHost: t\r\n\r\n"
             "%s"
             "GET /v1/check HTTP/1.1\r\nHost: t\r\n\r\n"
             "POST /v1/check HTTP/1.1\r\nHost: t\r\n%s\r\n%s\r\n"
             "Transfer-Encoding: chunked\r\n\r\n%zx\r\n%s\r\n0\r\n\r\n"
             "GET /readyz HTTP/1.1\r\nHost: t\r\n\r\n",
             a, b, auth, ctype, strlen(cbody), cbody);
    assert_int_equal(tg_test_conn_open(S.port, &c), 0);
    assert_int_equal(tg_test_conn_send(&c, all, strlen(all)), 0);
    for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        assert_int_equal(tg_test_conn_response(&c, 5000, &r), 0);
        if (r.status != want[i])
            fail_msg("answer %zu: %ld, want %ld: %s", i, r.status, want[i],
                     r.body);
        if (tickets[i]) {
            id = body_member(&r, "ticket");
            assert_non_null(id);
            assert_string_equal(id, tickets[i]);
            free(id);
        }
        expect_connection(&r, "keep-alive");
        if (i == 6) {
            id = body_member(&r, "status");
            assert_string_equal(id, "ready");
            free(id);
        }
        tg_test_resp_free(&r);
    }
    /* Nothing more: every answer came once. */
    assert_int_equal(c.n, 0);
    tg_test_conn_close(&c);
    free(all);
    free(a);
    free(b);
    free(cbody);
}

/* An idle kept-alive connection is closed after keep_alive_timeout_ms, not
 * before; a connection that never sends a request, after the request
 * deadline. */
static void test_idle_timeout(void **state)
{
    struct tg_conn c, idle;
    struct tg_resp r;
    static const char get[] = "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";
    int64_t t0;
    (void)state;

    assert_int_equal(tg_test_conn_open(S.port, &idle), 0);
    assert_int_equal(tg_test_conn_open(S.port, &c), 0);
    assert_int_equal(tg_test_conn_send(&c, get, sizeof(get) - 1), 0);
    assert_int_equal(tg_test_conn_response(&c, 5000, &r), 0);
    expect_connection(&r, "keep-alive");
    tg_test_resp_free(&r);
    t0 = now_ms();
    if (!wrapped())
        assert_int_equal(tg_test_conn_closed(&c, KEEP_ALIVE_MS / 2), 0);
    assert_int_equal(tg_test_conn_closed(&c, KEEP_ALIVE_MS + 2500), 1);
    if (!wrapped())
        assert_true(now_ms() - t0 < KEEP_ALIVE_MS + 2500);
    tg_test_conn_close(&c);

    /* The fresh idle one: closed by the request deadline (2 s). */
    assert_int_equal(tg_test_conn_closed(&idle, REQUEST_TIMEOUT_MS + 3000), 1);
    tg_test_conn_close(&idle);
}

/* ---------------------------------------------------------- slow clients */

enum slow_kind { TRICKLE, STALL, SLOW_HEADERS, IDLE };

static const char *const kind_names[] = {"trickled body", "stalled body",
                                         "slow headers", "idle socket"};

/* SLOW_N connections of one kind, driven by one thread with poll(): each
 * one the server closes is opened again until the run ends. */
struct slow {
    enum slow_kind kind;
    int64_t start_ms;
    _Atomic int stop;
    _Atomic int first_cut; /* connections of the first round cut */
    int round[SLOW_N];     /* 0: the first connection of its slot */
    int fd[SLOW_N];
    int64_t opened[SLOW_N], next[SLOW_N];
    size_t sent[SLOW_N];
    int64_t longest; /* the longest a connection stayed open, ms */
    int closed;      /* connections the server closed */
    int failed;      /* a connect that failed */
};

static const char slow_head[] =
    "POST /v1/check HTTP/1.1\r\nHost: t\r\n"
    "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n";

static int slow_connect(struct slow *s, int i)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0)
        return -1;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)S.port);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    s->fd[i] = fd;
    s->opened[i] = now_ms();
    s->sent[i] = 0;
    s->next[i] = s->opened[i];
    if (s->kind == TRICKLE || s->kind == STALL) {
        if (send(fd, slow_head, sizeof(slow_head) - 1, MSG_NOSIGNAL) < 0)
            return -1;
        s->next[i] = s->opened[i] + 700;
    }
    return 0;
}

/* Sends the next byte a slow client of this kind sends, when due. */
static void slow_step(struct slow *s, int i, int64_t now)
{
    static const char line[] = "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: ";
    char ch;

    if (now < s->next[i] || s->kind == STALL || s->kind == IDLE)
        return;
    if (s->kind == TRICKLE) {
        ch = ' '; /* JSON white space: the body stays valid */
        s->next[i] = now + 700;
    } else {
        ch = s->sent[i] < sizeof(line) - 1 ? line[s->sent[i]] : 'a';
        s->next[i] = now + 300;
    }
    if (send(s->fd[i], &ch, 1, MSG_NOSIGNAL) == 1)
        s->sent[i]++;
}

static void *slow_run(void *arg)
{
    struct slow *s = arg;
    struct pollfd p[SLOW_N];
    char buf[4096];
    int i;

    for (i = 0; i < SLOW_N; i++)
        if (slow_connect(s, i) != 0)
            s->failed++;
    while (!atomic_load(&s->stop)) {
        int64_t now;
        for (i = 0; i < SLOW_N; i++) {
            p[i].fd = s->fd[i];
            p[i].events = POLLIN;
            p[i].revents = 0;
        }
        poll(p, SLOW_N, 50);
        now = now_ms();
        for (i = 0; i < SLOW_N; i++) {
            ssize_t n;
            if (p[i].revents & (POLLIN | POLLHUP | POLLERR)) {
                /* An answer (408, 400) then the close, or just the close. */
                n = recv(s->fd[i], buf, sizeof(buf), MSG_DONTWAIT);
                if (n > 0)
                    continue;
                if (n < 0 && errno != ECONNRESET)
                    continue;
                if (now - s->opened[i] > s->longest)
                    s->longest = now - s->opened[i];
                s->closed++;
                if (s->round[i]++ == 0)
                    atomic_fetch_add(&s->first_cut, 1);
                close(s->fd[i]);
                s->fd[i] = -1;
                if (slow_connect(s, i) != 0)
                    s->failed++;
                continue;
            }
            slow_step(s, i, now);
        }
    }
    for (i = 0; i < SLOW_N; i++) {
        if (s->fd[i] < 0)
            continue;
        if (now_ms() - s->opened[i] > s->longest)
            s->longest = now_ms() - s->opened[i];
        close(s->fd[i]);
    }
    return NULL;
}

/* Runs SLOW_N slow clients of kind for SLOW_RUN_MS while a legitimate
 * /v1/check (on a new connection each time) and /healthz must be answered
 * within ANSWER_MS; then every slow connection of the first round must be
 * cut by its deadline (waited for up to 4 deadlines: a loaded machine
 * slows everything down, but a connection nobody cuts stays). */
static void slow_case(enum slow_kind kind)
{
    struct slow s;
    pthread_t th;
    const char *h[] = {ctype, auth, NULL};
    int64_t worst_check = 0, worst_health = 0;
    int rounds = 0, n;

    if (wrapped())
        skip();
    memset(&s, 0, sizeof(s));
    s.kind = kind;
    s.start_ms = now_ms();
    assert_int_equal(pthread_create(&th, NULL, slow_run, &s), 0);
    /* every slow connection is in a worker (and the scrape asking) */
    assert_int_equal(
        tg_test_metric_wait(&S, "ticketgate_http_connections{listener=\"api\"}",
                            SLOW_N + 1, 10000),
        0);
    for (n = 0; now_ms() < s.start_ms + SLOW_RUN_MS; n++) {
        struct tg_resp r;
        char id[64], *body;
        int64_t t0 = now_ms();

        snprintf(id, sizeof(id), "NET-SLOW-%d-%d", (int)kind, n);
        body = ticket(id);
        assert_int_equal(tg_test_http(&S, "POST", "/v1/check", h, body,
                                      strlen(body), 0, &r),
                         0);
        free(body);
        assert_int_equal(r.status, 200);
        tg_test_resp_free(&r);
        if (now_ms() - t0 > worst_check)
            worst_check = now_ms() - t0;
        t0 = now_ms();
        assert_int_equal(
            tg_test_http(&S, "GET", "/healthz", NULL, NULL, 0, 0, &r), 0);
        assert_int_equal(r.status, 200);
        tg_test_resp_free(&r);
        if (now_ms() - t0 > worst_health)
            worst_health = now_ms() - t0;
        rounds++;
        tg_test_sleep_ms(150);
    }
    while (atomic_load(&s.first_cut) < SLOW_N &&
           now_ms() < s.start_ms + 4 * REQUEST_TIMEOUT_MS)
        tg_test_sleep_ms(50);
    atomic_store(&s.stop, 1);
    pthread_join(th, NULL);
    fprintf(stderr,
            "%s x%d: %d rounds, slowest /v1/check %lld ms, /healthz %lld "
            "ms; %d slow connections cut, the longest lived %lld ms\n",
            kind_names[kind], SLOW_N, rounds, (long long)worst_check,
            (long long)worst_health, s.closed, (long long)s.longest);
    assert_int_equal(s.failed, 0);
    assert_true(rounds >= 3);
    if (worst_check > ANSWER_MS || worst_health > ANSWER_MS)
        fail_msg("%s: a legitimate request waited %lld ms", kind_names[kind],
                 (long long)(worst_check > worst_health ? worst_check
                                                        : worst_health));
    /* Every slow connection meets the request deadline (2 s). A trickled
     * body has no silence for CivetWeb's own timeout to notice: only the
     * deadline of the whole body cuts it. */
    if (atomic_load(&s.first_cut) < SLOW_N)
        fail_msg("%s: only %d of %d slow connections were cut",
                 kind_names[kind], atomic_load(&s.first_cut), SLOW_N);
}

static void test_slow_trickled_body(void **state)
{
    (void)state;
    slow_case(TRICKLE);
}

static void test_slow_stalled_body(void **state)
{
    (void)state;
    slow_case(STALL);
}

static void test_slow_headers(void **state)
{
    (void)state;
    slow_case(SLOW_HEADERS);
}

static void test_slow_idle_sockets(void **state)
{
    (void)state;
    slow_case(IDLE);
}

/* A trickled body is answered 408 at its deadline and the connection
 * closed. */
static void test_body_deadline_answer(void **state)
{
    struct tg_conn c;
    struct tg_resp r;
    int64_t t0;
    int i;
    (void)state;

    assert_int_equal(tg_test_conn_open(S.port, &c), 0);
    t0 = now_ms();
    assert_int_equal(tg_test_conn_send(&c, slow_head, sizeof(slow_head) - 1),
                     0);
    /* A byte every 400 ms: never silent long enough for a per-read
     * timeout, so only a deadline for the whole body ends it. */
    for (i = 0; i < 20; i++) {
        struct pollfd p = {c.fd, POLLIN, 0};
        if (poll(&p, 1, 400) > 0)
            break;
        assert_int_equal(tg_test_conn_send(&c, " ", 1), 0);
    }
    assert_int_equal(tg_test_conn_response(&c, 5000, &r), 0);
    assert_int_equal(r.status, 408);
    expect_connection(&r, "close");
    tg_test_resp_free(&r);
    if (!wrapped())
        assert_true(now_ms() - t0 < REQUEST_TIMEOUT_MS + 1000);
    assert_int_equal(tg_test_conn_closed(&c, 3000), 1);
    tg_test_conn_close(&c);
}

/* An answer given before the body was read closes the connection at once:
 * the body is never read, neither by the handler nor after it. */
static void test_answer_before_body_closes(void **state)
{
    static const char *const reqs[] = {
        /* 413: over max_body_bytes (1 MiB); no byte of it is sent. */
        "POST /v1/check HTTP/1.1\r\nHost: t\r\nContent-Type: "
        "application/json\r\nContent-Length: 5000000\r\n\r\n",
        /* 415: checked before the body is read. */
        "POST /v1/check HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\n"
        "Content-Length: 90000\r\n\r\n",
        /* 404 with a body: not read either. */
        "POST /nowhere HTTP/1.1\r\nHost: t\r\nContent-Length: 90000\r\n\r\n",
    };
    static const long want[] = {413, 415, 404};
    size_t i;
    (void)state;

    for (i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
        struct tg_conn c;
        struct tg_resp r;
        int64_t t0 = now_ms();

        assert_int_equal(tg_test_conn_open(S.port, &c), 0);
        assert_int_equal(tg_test_conn_send(&c, reqs[i], strlen(reqs[i])), 0);
        assert_int_equal(tg_test_conn_response(&c, 3000, &r), 0);
        assert_int_equal(r.status, want[i]);
        expect_connection(&r, "close");
        tg_test_resp_free(&r);
        /* Closed long before the request deadline would end a wait for
         * the body. */
        assert_int_equal(tg_test_conn_closed(&c, 1500), 1);
        if (!wrapped())
            assert_true(now_ms() - t0 < 1500);
        tg_test_conn_close(&c);
    }
}

/* -------------------------------------------------------------- framing */

/* A length that could be read two ways: 400, and the connection closed even
 * though a second request follows on it. */
static void test_strict_framing(void **state)
{
    static const struct {
        const char *headers;
        const char *body;
    } cases[] = {
        {"Content-Length: 2\r\nContent-Length: 3\r\n", "{}"},
        {"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n",
         "2\r\n{}\r\n0\r\n\r\n"},
        {"Transfer-Encoding: chunked\r\nContent-Length: 2\r\n",
         "2\r\n{}\r\n0\r\n\r\n"},
        {"Content-Length: 2abc\r\n", "{}"},
        {"Content-Length: +2\r\n", "{}"},
        {"Content-Length: 0x2\r\n", "{}"},
        {"Content-Length: 2, 2\r\n", "{}"},
        {"Content-Length: \r\n", ""},
        {"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
         "2\r\n{}\r\n0\r\n\r\n"},
        {"Transfer-Encoding: identity\r\nContent-Length: 2\r\n", "{}"},
    };
    static const char next[] = "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";
    size_t i;
    (void)state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tg_conn c;
        struct tg_resp r;
        char req[1024];
        char *code;

        /* The request: line, auth, type, the case's framing, body, then a
         * second request the server must not read as one. */
        snprintf(req, sizeof(req),
                 "POST /v1/check HTTP/1.1\r\nHost: t\r\n%s\r\n%s\r\n%s\r\n"
                 "%s%s",
                 auth, ctype, cases[i].headers, cases[i].body, next);
        assert_int_equal(tg_test_conn_open(S.port, &c), 0);
        assert_int_equal(tg_test_conn_send(&c, req, strlen(req)), 0);
        assert_int_equal(tg_test_conn_response(&c, 3000, &r), 0);
        if (r.status != 400)
            fail_msg("case %zu (%s): %ld %s", i, cases[i].headers, r.status,
                     r.body);
        code = body_member(&r, "error");
        assert_string_equal(code, "bad_request");
        free(code);
        expect_connection(&r, "close");
        tg_test_resp_free(&r);
        /* No second answer: the connection ends. */
        if (tg_test_conn_closed(&c, 2000) != 1)
            fail_msg("case %zu: the connection stayed open", i);
        tg_test_conn_close(&c);
    }
}

/* The same request framed once, plainly, is served and keeps the
 * connection; a repeated equal Content-Length is one length. */
static void test_plain_framing_kept(void **state)
{
    struct tg_conn c;
    struct tg_resp r;
    char *body = ticket("NET-FRAME-OK"), req[4096];
    (void)state;

    snprintf(req, sizeof(req),
             "POST /v1/check HTTP/1.1\r\nHost: t\r\n%s\r\n%s\r\n"
             "Content-Length: %zu\r\nContent-Length: %zu\r\n\r\n%s",
             auth, ctype, strlen(body), strlen(body), body);
    free(body);
    assert_int_equal(tg_test_conn_open(S.port, &c), 0);
    assert_int_equal(tg_test_conn_send(&c, req, strlen(req)), 0);
    assert_int_equal(tg_test_conn_response(&c, 3000, &r), 0);
    assert_int_equal(r.status, 200);
    expect_connection(&r, "keep-alive");
    tg_test_resp_free(&r);
    tg_test_conn_close(&c);
}

/* ------------------------------------------------------ small fixes (6) */

/* A ticket id holding NUL is no ticket id: "A%00B" must not read as "A". */
static void test_nul_in_query(void **state)
{
    static const struct {
        const char *path;
        long status;
    } cases[] = {
        {"/v1/decisions?ticket=A%00B", 400},
        {"/v1/decisions?ticket=%00", 400},
        {"/v1/decisions?ticket=NET-KA-1&limit=5%00", 400},
        {"/v1/decisions?ticket=NET-KA-1&before=9%001", 400},
        {"/v1/decisions?ticket=A%01B", 200},
    };
    const char *h[] = {auth, NULL};
    size_t i;
    (void)state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tg_resp r;
        assert_int_equal(
            tg_test_http(&S, "GET", cases[i].path, h, NULL, 0, 0, &r), 0);
        if (r.status != cases[i].status)
            fail_msg("%s: %ld %s", cases[i].path, r.status, r.body);
        tg_test_resp_free(&r);
    }
}

/* The log lines the server wrote after offset (malloc'd), and the new
 * offset. */
static char *log_since(size_t *offset)
{
    size_t len = 0;
    char *all = tg_test_read_file(S.log, &len), *out;

    assert_non_null(all);
    if (*offset > len)
        *offset = len;
    out = strdup(all + *offset);
    *offset = len;
    free(all);
    assert_non_null(out);
    return out;
}

/* The first log line holding every one of the NULL-terminated needles, or
 * NULL (a malloc'd copy). */
static char *log_line_with(const char *text, ...)
{
    const char *p = text;

    while (p && *p) {
        const char *eol = strchr(p, '\n'), *needle;
        size_t n = eol ? (size_t)(eol - p) : strlen(p);
        char *line = strndup(p, n);
        int all = 1;
        va_list ap;

        assert_non_null(line);
        va_start(ap, text);
        while ((needle = va_arg(ap, const char *)) != NULL)
            if (!strstr(line, needle))
                all = 0;
        va_end(ap);
        if (all)
            return line;
        free(line);
        p = eol ? eol + 1 : NULL;
    }
    return NULL;
}

/* CivetWeb's own rejections (a method it does not know, headers over its
 * buffer) get the contract's JSON error and leave a log line. */
static void test_civetweb_rejections_logged(void **state)
{
    static const char bad_method[] =
        "FROB /v1/check HTTP/1.1\r\nHost: t\r\n\r\n";
    struct tg_conn c;
    struct tg_resp r;
    size_t off = 0, big_len = 40000;
    char *big, *log, *line, *code;
    (void)state;

    free(log_since(&off));
    assert_int_equal(tg_test_conn_open(S.port, &c), 0);
    assert_int_equal(tg_test_conn_send(&c, bad_method, sizeof(bad_method) - 1),
                     0);
    assert_int_equal(tg_test_conn_response(&c, 3000, &r), 0);
    assert_int_equal(r.status, 400);
    code = body_member(&r, "error");
    assert_string_equal(code, "bad_request");
    free(code);
    expect_connection(&r, "close");
    tg_test_resp_free(&r);
    assert_int_equal(tg_test_conn_closed(&c, 2000), 1);
    tg_test_conn_close(&c);

    /* Headers over CivetWeb's 16 KB request buffer. */
    big = malloc(big_len + 128);
    assert_non_null(big);
    memcpy(big, "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: ", 40);
    memset(big + 40, 'a', big_len);
    memcpy(big + 40 + big_len, "\r\n\r\n", 5);
    assert_int_equal(tg_test_conn_open(S.port, &c), 0);
    /* The server may answer and close before it has read it all. */
    (void)tg_test_conn_send(&c, big, strlen(big));
    assert_int_equal(tg_test_conn_response(&c, 3000, &r), 0);
    assert_true(r.status == 400 || r.status == 413);
    code = body_member(&r, "error");
    assert_non_null(code);
    free(code);
    tg_test_resp_free(&r);
    tg_test_conn_close(&c);
    free(big);

    /* Logged after the answers: wait for both lines, not a fixed time.
     * Count the rejections' own lines (each carries CivetWeb's note): the
     * access line of the previous test's last request may be written
     * after off was taken, and counting every request line let it stand
     * in for the second rejection. */
    log = tg_test_server_log_wait(&S, &off, "\"note\":\"", 2, 5000);
    assert_non_null(log);
    line = log_line_with(log, "\"event\":\"request\"", "\"method\":\"FROB\"",
                         "\"status\":400", (const char *)NULL);
    if (!line)
        fail_msg("no log line for the unknown method:\n%s", log);
    free(line);
    line = log_line_with(log, "\"event\":\"request\"",
                         "\"remote\":\"127.0.0.1\"", "\"note\":",
                         (const char *)NULL);
    assert_non_null(line);
    free(line);
    /* Two rejections, two lines. */
    line = log_line_with(strstr(log, "FROB") + 4, "\"event\":\"request\"",
                         "\"status\":4", (const char *)NULL);
    if (!line)
        fail_msg("no log line for the oversized headers:\n%s", log);
    free(line);
    free(log);
}

/* A rejection logs this request's path or none, never the previous one's:
 * CivetWeb 1.15 does not reset request_info.local_uri_raw between
 * requests, so after a request line it could not parse it still points
 * into the connection's reused buffer, at the bytes of the request before
 * (another client's, once the thread serves another connection). */
static void test_rejection_logs_no_stale_path(void **state)
{
    static const char bad[] = "G\001T / HTTP/1.1\r\nHost: t\r\n\r\n";
    char first[1024], marker[300];
    struct tg_conn c;
    struct tg_resp r;
    size_t off = 0;
    char *log, *line;
    (void)state;

    /* Longer than the bad request, so its tail is not overwritten. */
    memset(marker, 'Q', sizeof(marker) - 1);
    memcpy(marker, "STALEPATH", 9);
    marker[sizeof(marker) - 1] = '\0';
    snprintf(first, sizeof(first),
             "GET /v1/decisions?ticket=%s HTTP/1.1\r\nHost: t\r\n%s\r\n\r\n",
             marker, auth);
    free(log_since(&off));
    assert_int_equal(tg_test_conn_open(S.port, &c), 0);
    assert_int_equal(tg_test_conn_send(&c, first, strlen(first)), 0);
    assert_int_equal(tg_test_conn_response(&c, 3000, &r), 0);
    assert_int_equal(r.status, 200);
    tg_test_resp_free(&r);
    assert_int_equal(tg_test_conn_send(&c, bad, sizeof(bad) - 1), 0);
    assert_int_equal(tg_test_conn_response(&c, 3000, &r), 0);
    assert_int_equal(r.status, 400);
    tg_test_resp_free(&r);
    tg_test_conn_close(&c);

    tg_test_sleep_ms(100);
    log = log_since(&off);
    line = log_line_with(log, "\"event\":\"request\"", "\"status\":400",
                         (const char *)NULL);
    if (!line)
        fail_msg("no log line for the rejection:\n%s", log);
    if (strstr(line, "STALEPATH") || strstr(line, "QQQQ") ||
        strstr(line, "decisions"))
        fail_msg("the rejection logs the previous request's path: %s", line);
    free(line);
    free(log);
}

/* A 503 (the store locked past busy_timeout_ms) names no decision: the id
 * it formatted before the append failed is in no store. */
static void test_503_names_no_decision(void **state)
{
    const char *h[] = {ctype, auth, NULL};
    char path[512], *body = ticket("NET-LOCK-1"), *log, *line;
    sqlite3 *db = NULL;
    struct tg_resp r;
    size_t off = 0;
    (void)state;

    free(log_since(&off));
    snprintf(path, sizeof(path), "%s/data/ticketgate.db", S.dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(tg_test_http(&S, "POST", "/v1/check", h, body,
                                  strlen(body), 0, &r),
                     0);
    /* Unlock first: a failed assertion must not leave the shared server's
     * store locked for the tests after this one. */
    assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(r.status, 503);
    /* The contract's error, and no decision in the answer either. */
    assert_non_null(strstr(r.body, "\"error\":\"store_unavailable\""));
    assert_null(strstr(r.body, "decision_id"));
    assert_null(strstr(r.body, "\"decision\""));
    {
        char *ra = tg_test_resp_header(&r, "Retry-After");
        assert_non_null(ra);
        free(ra);
    }
    tg_test_resp_free(&r);

    /* Logged after the answer: wait for the line, not a fixed time. */
    log = tg_test_server_log_wait(&S, &off, "\"status\":503", 1, 5000);
    assert_non_null(log);
    line = log_line_with(log, "\"event\":\"request\"", "\"status\":503",
                         "NET-LOCK-1", (const char *)NULL);
    if (!line)
        fail_msg("no request line for the 503:\n%s", log);
    if (strstr(line, "decision_id") || strstr(line, "\"decision\""))
        fail_msg("the 503 names a decision: %s", line);
    free(line);
    /* Nor does any other line: no decision id at all since the lock. */
    if (strstr(log, "\"d-0") || strstr(log, " d-0"))
        fail_msg("a decision id was logged for the 503:\n%s", log);
    free(log);
    free(body);

    /* The store recovers (probed every second). */
    for (int i = 0; i < 100; i++) {
        assert_int_equal(
            tg_test_http(&S, "GET", "/readyz", NULL, NULL, 0, 0, &r), 0);
        if (r.status == 200)
            break;
        tg_test_resp_free(&r);
        tg_test_sleep_ms(50);
    }
    assert_int_equal(r.status, 200);
    tg_test_resp_free(&r);
}

/* ---------------------------------------------------------- admin pool */

/* With server.admin_listen, the probes have threads of their own: a flood
 * of idle connections larger than the API's connections leaves /healthz
 * and /metrics on the admin listener answered at once. */
static void test_admin_listener_own_threads(void **state)
{
    struct tg_server a;
    struct tg_conn flood[24];
    struct tg_resp r;
    char line[128], url[64];
    int admin_port, i;
    int64_t t0;
    (void)state;

    if (wrapped())
        skip();
    assert_int_equal(tg_test_server_prepare(&a), 0);
    snprintf(line, sizeof(line),
             "  threads: 1\n  connections: 16\n"
             "  admin_listen: \"127.0.0.1:0\"");
    assert_int_equal(tg_test_config_replace(&a, "  threads: 16", line), 0);
    assert_int_equal(tg_test_server_start(&a), 0);
    admin_port = a.admin_port;
    assert_true(admin_port > 0);

    for (i = 0; i < 24; i++)
        assert_int_equal(tg_test_conn_open(a.port, &flood[i]), 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", admin_port);
    {
        struct tg_server adm = a;
        snprintf(adm.url, sizeof(adm.url), "%s", url);
        /* every API worker (connections: 16) holds one of the flood */
        assert_int_equal(
            tg_test_metric_wait(
                &adm, "ticketgate_http_connections{listener=\"api\"}", 16,
                10000),
            0);
        t0 = now_ms();
        assert_int_equal(
            tg_test_http(&adm, "GET", "/healthz", NULL, NULL, 0, 0, &r), 0);
        assert_int_equal(r.status, 200);
        tg_test_resp_free(&r);
        assert_int_equal(
            tg_test_http(&adm, "GET", "/metrics", NULL, NULL, 0, 0, &r), 0);
        assert_int_equal(r.status, 200);
        tg_test_resp_free(&r);
        assert_true(now_ms() - t0 < ANSWER_MS);
    }
    for (i = 0; i < 24; i++)
        tg_test_conn_close(&flood[i]);
    assert_int_equal(tg_test_server_stop(&a), 0);
    tg_test_server_cleanup(&a);
}

/* The admin listener itself under idle sockets: connections that never
 * send a request, more than its threads, must not keep /healthz from
 * answering within ANSWER_MS (a liveness probe gives up after 1 s by
 * default in Kubernetes; the admin port is where Prometheus and the
 * probes, and whoever else shares their network, connect). */
static void test_admin_listener_idle_sockets(void **state)
{
    struct tg_server a;
    struct tg_conn idle[12];
    struct tg_resp r;
    char line[128];
    int admin_port, i;
    int64_t t0, took;
    (void)state;

    if (wrapped())
        skip();
    assert_int_equal(tg_test_server_prepare(&a), 0);
    snprintf(line, sizeof(line), "  admin_listen: \"127.0.0.1:0\"");
    assert_int_equal(tg_test_config_replace(&a, "  threads: 16", line), 0);
    assert_int_equal(tg_test_server_start(&a), 0);
    admin_port = a.admin_port;
    assert_true(admin_port > 0);

    for (i = 0; i < 12; i++)
        assert_int_equal(tg_test_conn_open(admin_port, &idle[i]), 0);
    tg_test_sleep_ms(200);
    {
        struct tg_server adm = a;
        snprintf(adm.url, sizeof(adm.url), "http://127.0.0.1:%d", admin_port);
        t0 = now_ms();
        assert_int_equal(
            tg_test_http(&adm, "GET", "/healthz", NULL, NULL, 0, 0, &r), 0);
        took = now_ms() - t0;
        assert_int_equal(r.status, 200);
        tg_test_resp_free(&r);
    }
    for (i = 0; i < 12; i++)
        tg_test_conn_close(&idle[i]);
    assert_int_equal(tg_test_server_stop(&a), 0);
    tg_test_server_cleanup(&a);
    if (took > ANSWER_MS)
        fail_msg("admin /healthz waited %lld ms behind 12 idle sockets",
                 (long long)took);
}

/* SIGTERM ends the server within seconds whatever its clients are doing:
 * an idle socket, a body stalled after its headers, headers half sent, a
 * kept-alive connection between requests, on the API and the admin
 * listener, all with 30 s deadlines. Stopping waits for requests in flight,
 * not for deadlines (a server that did would take 30 s here). */
static void test_stops_promptly_with_open_connections(void **state)
{
    static const char get[] = "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";
    static const char half[] = "GET /healthz HTTP/1.1\r\nX-Slow: a";
    struct tg_server a;
    struct tg_conn c[6];
    struct tg_resp r;
    char line[160];
    int admin_port, i, rc;
    int64_t t0, took;
    (void)state;

    assert_int_equal(tg_test_server_prepare(&a), 0);
    snprintf(line, sizeof(line),
             "  threads: 2\n  keep_alive_timeout_ms: 30000\n"
             "  admin_listen: \"127.0.0.1:0\"");
    assert_int_equal(tg_test_config_replace(&a, "  threads: 16", line), 0);
    assert_int_equal(tg_test_config_replace(&a, "  request_timeout_ms: 10000",
                                            "  request_timeout_ms: 30000"),
                     0);
    assert_int_equal(tg_test_server_start(&a), 0);
    admin_port = a.admin_port;
    assert_true(admin_port > 0);

    for (i = 0; i < 6; i++)
        assert_int_equal(
            tg_test_conn_open(i == 5 ? admin_port : a.port, &c[i]), 0);
    /* c[0] idle; c[1] a stalled body; c[2] half its headers; c[3], c[5]
     * kept alive after an answer; c[4] a stalled body too. */
    assert_int_equal(tg_test_conn_send(&c[1], slow_head, sizeof(slow_head) - 1),
                     0);
    assert_int_equal(tg_test_conn_send(&c[4], slow_head, sizeof(slow_head) - 1),
                     0);
    assert_int_equal(tg_test_conn_send(&c[2], half, sizeof(half) - 1), 0);
    for (i = 3; i < 6; i += 2) {
        assert_int_equal(tg_test_conn_send(&c[i], get, sizeof(get) - 1), 0);
        assert_int_equal(tg_test_conn_response(&c[i], 5000, &r), 0);
        assert_int_equal(r.status, 200);
        expect_connection(&r, "keep-alive");
        tg_test_resp_free(&r);
    }
    tg_test_sleep_ms(300);
    t0 = now_ms();
    rc = tg_test_server_stop(&a);
    took = now_ms() - t0;
    if (rc != 0)
        tg_test_server_dump_log(&a);
    assert_int_equal(rc, 0);
    fprintf(stderr, "stopped with 6 open connections in %lld ms\n",
            (long long)took);
    if (!wrapped() && took > 8000)
        fail_msg("SIGTERM took %lld ms with open connections", (long long)took);
    for (i = 0; i < 6; i++)
        tg_test_conn_close(&c[i]);
    tg_test_server_cleanup(&a);
}

/* After all of the above the server still stops on SIGTERM with exit 0,
 * and its log holds no sanitizer report (under ASan/UBSan builds). */
static void test_stops_cleanly(void **state)
{
    char *log;
    int rc;
    (void)state;

    rc = tg_test_server_stop(&S);
    if (rc != 0)
        tg_test_server_dump_log(&S);
    assert_int_equal(rc, 0);
    log = tg_test_read_file(S.log, NULL);
    assert_non_null(log);
    if (strstr(log, "Sanitizer") || strstr(log, "runtime error"))
        fail_msg("sanitizer report in the server log:\n%s", log);
    free(log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keep_alive_reuse),
        cmocka_unit_test(test_pipelining),
        cmocka_unit_test(test_strict_framing),
        cmocka_unit_test(test_plain_framing_kept),
        cmocka_unit_test(test_answer_before_body_closes),
        cmocka_unit_test(test_nul_in_query),
        cmocka_unit_test(test_civetweb_rejections_logged),
        cmocka_unit_test(test_rejection_logs_no_stale_path),
        cmocka_unit_test(test_503_names_no_decision),
        cmocka_unit_test(test_idle_timeout),
        cmocka_unit_test(test_body_deadline_answer),
        cmocka_unit_test(test_slow_trickled_body),
        cmocka_unit_test(test_slow_stalled_body),
        cmocka_unit_test(test_slow_headers),
        cmocka_unit_test(test_slow_idle_sockets),
        cmocka_unit_test(test_admin_listener_own_threads),
        cmocka_unit_test(test_admin_listener_idle_sockets),
        cmocka_unit_test(test_stops_promptly_with_open_connections),
        cmocka_unit_test(test_stops_cleanly),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
