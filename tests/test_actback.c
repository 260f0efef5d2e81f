/* test_actback.c - act-back's requests, retry schedule and Retry-After
 * (server/actback: jira.c, servicenow.c, backoff.c, client.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/actback/deliver.h"
#include "validators/errors.h"

/* The compact text of a body built by the module. */
static char *dumped(json_t *j)
{
    char *s = tg_actback_dump(j);
    assert_non_null(s);
    json_decref(j);
    return s;
}

static void test_jira_comment_v3(void **state)
{
    static const struct {
        const char *text, *marker;
        int internal;
        const char *want;
    } cases[] = {
        /* The decision's message: a heading line, one item a reason. */
        {"Access governance blocked this transition:\n- The approver is the "
         "requester.\n- No expiry.",
         "[ticketgate d-1]", 1,
         "{\"body\":{\"type\":\"doc\",\"version\":1,\"content\":["
         "{\"type\":\"paragraph\",\"content\":[{\"type\":\"text\",\"text\":"
         "\"Access governance blocked this transition:\"}]},"
         "{\"type\":\"bulletList\",\"content\":["
         "{\"type\":\"listItem\",\"content\":[{\"type\":\"paragraph\","
         "\"content\":[{\"type\":\"text\",\"text\":\"The approver is the "
         "requester.\"}]}]},"
         "{\"type\":\"listItem\",\"content\":[{\"type\":\"paragraph\","
         "\"content\":[{\"type\":\"text\",\"text\":\"No expiry.\"}]}]}]},"
         "{\"type\":\"paragraph\",\"content\":[{\"type\":\"text\",\"text\":"
         "\"[ticketgate d-1]\"}]}]},"
         "\"properties\":[{\"key\":\"sd.public.comment\",\"value\":"
         "{\"internal\":true}}]}"},
        /* Public, the marker already in the text, blank lines and empty
         * items dropped (ADF has no empty text node), a list that a
         * paragraph interrupts becomes two lists. */
        {"Note\n\n- a\n- \ntext [ticketgate d-2]\n- b", "[ticketgate d-2]", 0,
         "{\"body\":{\"type\":\"doc\",\"version\":1,\"content\":["
         "{\"type\":\"paragraph\",\"content\":[{\"type\":\"text\",\"text\":"
         "\"Note\"}]},"
         "{\"type\":\"bulletList\",\"content\":[{\"type\":\"listItem\","
         "\"content\":[{\"type\":\"paragraph\",\"content\":[{\"type\":"
         "\"text\",\"text\":\"a\"}]}]}]},"
         "{\"type\":\"paragraph\",\"content\":[{\"type\":\"text\",\"text\":"
         "\"text [ticketgate d-2]\"}]},"
         "{\"type\":\"bulletList\",\"content\":[{\"type\":\"listItem\","
         "\"content\":[{\"type\":\"paragraph\",\"content\":[{\"type\":"
         "\"text\",\"text\":\"b\"}]}]}]}]}}"},
    };
    size_t i;
    (void)state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *b = NULL;
        char *s;
        assert_int_equal(tg_actback_jira_comment_body(cases[i].text,
                                                      cases[i].marker, 3,
                                                      cases[i].internal, &b),
                         0);
        s = dumped(b);
        assert_string_equal(s, cases[i].want);
        free(s);
    }
}

static void test_jira_comment_v2(void **state)
{
    json_t *b = NULL;
    char *s;
    (void)state;

    assert_int_equal(tg_actback_jira_comment_body("Blocked:\n- r1", "[tg d]",
                                                  2, 1, &b),
                     0);
    s = dumped(b);
    assert_string_equal(s, "{\"body\":\"Blocked:\\n- r1\\n\\n[tg d]\","
                           "\"properties\":[{\"key\":\"sd.public.comment\","
                           "\"value\":{\"internal\":true}}]}");
    free(s);
    assert_int_equal(tg_actback_jira_comment_body("x [tg d]", "[tg d]", 2, 0,
                                                  &b),
                     0);
    s = dumped(b);
    assert_string_equal(s, "{\"body\":\"x [tg d]\"}");
    free(s);
}

static void test_servicenow_bodies(void **state)
{
    char *s;
    (void)state;

    s = dumped(tg_actback_sn_reject_body("Blocked:\n- r1\n[tg d]"));
    assert_string_equal(
        s, "{\"state\":\"rejected\",\"comments\":\"Blocked:\\n- r1\\n[tg d]\"}");
    free(s);
    s = dumped(tg_actback_sn_work_note_body("note"));
    assert_string_equal(s, "{\"work_notes\":\"note\"}");
    free(s);
}

/* ServiceNow answers a PATCH of a field the account may not write with
 * 200 and the record unchanged: the rejection must not count as done. */
static void test_servicenow_rejected_check(void **state)
{
    char why[300];
    static const char ok[] = "{\"result\":{\"sys_id\":\"x\",\"state\":"
                             "\"rejected\",\"comments\":\"\"}}";
    static const char kept[] = "{\"result\":{\"state\":\"approved\"}}";
    static const char none[] = "{\"result\":{\"sys_id\":\"x\"}}";
    (void)state;

    assert_int_equal(tg_actback_sn_check_rejected(ok, strlen(ok), why,
                                                  sizeof why),
                     0);
    why[0] = '\0';
    assert_int_equal(tg_actback_sn_check_rejected(kept, strlen(kept), why,
                                                  sizeof why),
                     1);
    assert_non_null(strstr(why, "\"approved\", not rejected"));
    assert_non_null(strstr(why, "sysapproval_approver.state"));
    /* No state in the answer (sysparm_fields, X-no-response-body), an
     * answer that is not JSON, none at all: nothing to contradict it. */
    assert_int_equal(tg_actback_sn_check_rejected(none, strlen(none), why,
                                                  sizeof why),
                     0);
    assert_int_equal(tg_actback_sn_check_rejected("<html>", 6, why,
                                                  sizeof why),
                     0);
    assert_int_equal(tg_actback_sn_check_rejected(NULL, 0, why, sizeof why),
                     0);
}

static void test_jira_pick_and_marker(void **state)
{
    json_t *tr = json_loads(
        "{\"transitions\":[{\"id\":\"11\",\"name\":\"Approve\",\"to\":"
        "{\"name\":\"Approved\"}},{\"id\":\"21\",\"name\":\"Send back\","
        "\"to\":{\"name\":\"Waiting for approval\"}},{\"id\":7}]}",
        0, NULL);
    json_t *page = json_loads(
        "{\"startAt\":0,\"total\":2,\"comments\":["
        "{\"id\":\"1\",\"body\":{\"type\":\"doc\",\"content\":[{\"type\":"
        "\"paragraph\",\"content\":[{\"type\":\"text\",\"text\":\"x "
        "[ticketgate d-9] y\"}]}]}},"
        "{\"id\":\"2\",\"body\":\"plain [ticketgate d-8]\"}]}",
        0, NULL);
    (void)state;

    assert_non_null(tr);
    assert_non_null(page);
    assert_string_equal(tg_actback_jira_pick_transition(tr,
                                                        "waiting FOR approval"),
                        "21");
    assert_null(tg_actback_jira_pick_transition(tr, "Send back"));
    assert_null(tg_actback_jira_pick_transition(tr, "Done"));
    assert_int_equal(tg_actback_jira_has_marker(page, "[ticketgate d-9]"), 1);
    assert_int_equal(tg_actback_jira_has_marker(page, "[ticketgate d-8]"), 1);
    assert_int_equal(tg_actback_jira_has_marker(page, "[ticketgate d-7]"), 0);
    assert_int_equal(tg_actback_jira_has_marker(page, ""), 0);
    json_decref(tr);
    json_decref(page);
}

static void test_classify(void **state)
{
    static const struct {
        long status;
        enum tg_actback_outcome want;
    } cases[] = {
        {200, TG_ACTBACK_DELIVERED}, {201, TG_ACTBACK_DELIVERED},
        {204, TG_ACTBACK_DELIVERED}, {0, TG_ACTBACK_RETRY},
        {408, TG_ACTBACK_RETRY},     {409, TG_ACTBACK_RETRY},
        {429, TG_ACTBACK_RETRY},     {500, TG_ACTBACK_RETRY},
        {503, TG_ACTBACK_RETRY},     {599, TG_ACTBACK_RETRY},
        {400, TG_ACTBACK_DEAD},      {401, TG_ACTBACK_DEAD},
        {403, TG_ACTBACK_DEAD},      {404, TG_ACTBACK_DEAD},
        {410, TG_ACTBACK_DEAD},      {422, TG_ACTBACK_DEAD},
        {301, TG_ACTBACK_DEAD},      {100, TG_ACTBACK_DEAD},
    };
    size_t i;
    (void)state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(tg_actback_classify(cases[i].status), cases[i].want);
}

static void test_fail_keeps_retry_after_of_429_503(void **state)
{
    struct tg_actback_result res;
    struct tg_actback_resp r = {.status = 429, .retry_after_ms = 1000};
    (void)state;

    tg_actback_fail(&res, "POST comment", 0, &r);
    assert_int_equal(res.outcome, TG_ACTBACK_RETRY);
    assert_int_equal(res.retry_after_ms, 1000);
    assert_string_equal(res.error, "POST comment: HTTP 429");
    r.status = 500; /* Retry-After is honoured on 429 and 503 only */
    tg_actback_fail(&res, "POST comment", 0, &r);
    assert_int_equal(res.retry_after_ms, -1);
    r.status = 401;
    r.body = (char *)"{\"errorMessages\":[\"no\"]}\n";
    r.len = strlen(r.body);
    tg_actback_fail(&res, "PUT label", 0, &r);
    assert_int_equal(res.outcome, TG_ACTBACK_DEAD);
    assert_string_equal(res.error,
                        "PUT label: HTTP 401: {\"errorMessages\":[\"no\"]} ");
    r.status = 0;
    r.body = NULL;
    r.len = 0;
    snprintf(r.error, sizeof(r.error), "Couldn't connect to server");
    tg_actback_fail(&res, "GET transitions", TG_EIO, &r);
    assert_int_equal(res.outcome, TG_ACTBACK_RETRY);
    assert_string_equal(res.error,
                        "GET transitions: Couldn't connect to server");
}

static void test_backoff(void **state)
{
    /* The defaults: 5 min doubling, 6 h ceiling. */
    static const int64_t want[] = {300000,   600000,   1200000,
                                   2400000,  4800000,  9600000,
                                   19200000, 21600000, 21600000};
    const int64_t base = 300000, cap = 21600000;
    int64_t sum = 0;
    size_t i;
    (void)state;

    for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        assert_int_equal(tg_actback_backoff_window_ms((int)i + 1, base, cap),
                         want[i]);
        sum += want[i];
        /* Full jitter: anywhere from 0 to the whole window. */
        assert_int_equal(tg_actback_backoff_ms((int)i + 1, base, cap, 0), 0);
        assert_int_equal(tg_actback_backoff_ms((int)i + 1, base, cap,
                                               (uint64_t)want[i]),
                         want[i]);
        assert_true(tg_actback_backoff_ms((int)i + 1, base, cap, UINT64_MAX) <=
                    want[i]);
    }
    /* Ten attempts: nine waits of at most 22.6 h together. */
    assert_int_equal(sum, 81300000);
    /* No overflow far out, tiny bases and caps. */
    assert_int_equal(tg_actback_backoff_window_ms(1000, base, cap), cap);
    assert_int_equal(tg_actback_backoff_window_ms(3, 0, cap), 4);
    assert_int_equal(tg_actback_backoff_window_ms(3, 200, 500), 500);
    assert_int_equal(tg_actback_backoff_window_ms(1, 200, 100), 100);
}

static void test_retry_after(void **state)
{
    /* 2026-12-04T08:00:00Z */
    const int64_t now = 1796371200;
    static const struct {
        const char *v;
        int rc;
        int64_t ms;
    } cases[] = {
        {"1", 0, 1000},
        {" 120 ", 0, 120000},
        {"0", 0, 0},
        {"86400", 0, 86400000},
        {"86401", 0, TG_ACTBACK_RETRY_AFTER_MAX_MS},
        {"99999999999999999999999", 0, TG_ACTBACK_RETRY_AFTER_MAX_MS},
        {"Fri, 04 Dec 2026 08:00:30 GMT", 0, 30000},
        {"Friday, 04-Dec-26 08:01:00 GMT", 0, 60000},  /* RFC 850 */
        {"Fri Dec  4 08:00:05 2026", 0, 5000},         /* asctime */
        {"Thu, 03 Dec 2026 08:00:00 GMT", 0, 0},       /* past */
        {"Sat, 04 Dec 2027 08:00:00 GMT", 0, TG_ACTBACK_RETRY_AFTER_MAX_MS},
        {"", TG_EINVAL, 0},
        {"-1", TG_EINVAL, 0},
        {"1.5", TG_EINVAL, 0},
        {"+3", TG_EINVAL, 0},
        {"soon", TG_EINVAL, 0},
        {"12abc", TG_EINVAL, 0},
    };
    size_t i;
    (void)state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t ms = -7;
        int rc = tg_actback_retry_after_parse(cases[i].v, strlen(cases[i].v),
                                              now, &ms);
        if (rc != cases[i].rc)
            fail_msg("%s: rc %d, want %d", cases[i].v, rc, cases[i].rc);
        if (rc == 0 && ms != cases[i].ms)
            fail_msg("%s: %lld ms, want %lld", cases[i].v, (long long)ms,
                     (long long)cases[i].ms);
        if (rc != 0)
            assert_int_equal(ms, -7);
    }
}

static void test_schedule(void **state)
{
    struct tg_actback_result r;
    (void)state;

    /* A retry before the last attempt: the drawn backoff. */
    memset(&r, 0, sizeof(r));
    r.outcome = TG_ACTBACK_RETRY;
    r.retry_after_ms = -1;
    snprintf(r.error, sizeof(r.error), "POST comment: HTTP 500");
    assert_int_equal(tg_actback_schedule(&r, 3, 10, 1000, 60000, 3999), 3999);
    assert_int_equal(r.outcome, TG_ACTBACK_RETRY);
    /* The server's Retry-After wins over the backoff. */
    r.retry_after_ms = 1000;
    assert_int_equal(tg_actback_schedule(&r, 3, 10, 1000, 60000, 3999), 1000);
    /* The last attempt: dead, the reason kept. */
    assert_int_equal(tg_actback_schedule(&r, 10, 10, 1000, 60000, 5), 0);
    assert_int_equal(r.outcome, TG_ACTBACK_DEAD);
    assert_string_equal(r.error,
                        "gave up after 10 attempts: POST comment: HTTP 500");
    /* Cut by a stop: due at once, never dead for it. */
    memset(&r, 0, sizeof(r));
    r.outcome = TG_ACTBACK_RETRY;
    r.retry_after_ms = 5000;
    r.stopped = 1;
    assert_int_equal(tg_actback_schedule(&r, 10, 10, 1000, 60000, 5), 0);
    assert_int_equal(r.outcome, TG_ACTBACK_RETRY);
    /* Delivered and dead stay as they are. */
    r.outcome = TG_ACTBACK_DELIVERED;
    r.stopped = 0;
    assert_int_equal(tg_actback_schedule(&r, 10, 10, 1000, 60000, 5), 0);
    assert_int_equal(r.outcome, TG_ACTBACK_DELIVERED);
}

/* A one-answer HTTP server on a loopback port: answers its one request
 * with 200 and a body of body_len bytes. */
struct one_answer {
    int fd; /* listening */
    int port;
    size_t body_len;
    pthread_t thread;
};

static void *answer_once(void *arg)
{
    struct one_answer *a = arg;
    char buf[4096], head[128];
    char *body = malloc(a->body_len ? a->body_len : 1);
    int c = accept(a->fd, NULL, NULL);
    size_t off = 0;
    int n;

    if (c < 0 || !body)
        goto out;
    memset(body, 'x', a->body_len);
    /* The request's head (no body: a GET). */
    while (off < sizeof buf - 1 &&
           (n = (int)read(c, buf + off, sizeof buf - 1 - off)) > 0) {
        off += (size_t)n;
        buf[off] = '\0';
        if (strstr(buf, "\r\n\r\n"))
            break;
    }
    n = snprintf(head, sizeof head,
                 "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n"
                 "Connection: close\r\n\r\n",
                 a->body_len);
    if (write(c, head, (size_t)n) != n)
        goto out;
    for (off = 0; off < a->body_len;) {
        ssize_t w = write(c, body + off, a->body_len - off);
        if (w <= 0)
            break; /* the client gave up: over its limit */
        off += (size_t)w;
    }
out:
    if (c >= 0)
        close(c);
    free(body);
    return NULL;
}

static void one_answer_start(struct one_answer *a, size_t body_len)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;

    a->body_len = body_len;
    a->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(a->fd >= 0);
    assert_int_equal(bind(a->fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(a->fd, 1), 0);
    assert_int_equal(getsockname(a->fd, (struct sockaddr *)&sa, &sl), 0);
    a->port = ntohs(sa.sin_port);
    assert_int_equal(pthread_create(&a->thread, NULL, answer_once, a), 0);
}

/* One GET of the answer of a, its outcome in *r (caller cleans up). */
static int get_from(struct one_answer *a, struct tg_actback_resp *r)
{
    char url[64];
    struct tg_actback_target t;
    struct tg_actback_http *h = tg_actback_http_new(10000, NULL);
    int rc;

    assert_non_null(h);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", a->port);
    memset(&t, 0, sizeof t);
    snprintf(t.system, sizeof t.system, "jira");
    t.base_url = url;
    rc = tg_actback_http_do(h, &t, "GET", "/rest/api/3/myself", NULL, r);
    tg_actback_http_free(h);
    pthread_join(a->thread, NULL);
    close(a->fd);
    return rc;
}

/* An answer body is read whole up to TG_ACTBACK_MAX_BODY; one byte more
 * and the exchange fails, saying so, rather than grow without bound. */
static void test_http_body_limit(void **state)
{
    struct one_answer a;
    struct tg_actback_resp r;

    (void)state;
    one_answer_start(&a, 11);
    assert_int_equal(get_from(&a, &r), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, 11);
    assert_string_equal(r.body, "xxxxxxxxxxx");
    tg_actback_resp_cleanup(&r);

    one_answer_start(&a, TG_ACTBACK_MAX_BODY);
    assert_int_equal(get_from(&a, &r), 0);
    assert_int_equal(r.len, TG_ACTBACK_MAX_BODY);
    assert_int_equal(r.body[TG_ACTBACK_MAX_BODY], '\0');
    assert_int_equal(r.body[TG_ACTBACK_MAX_BODY - 1], 'x');
    tg_actback_resp_cleanup(&r);

    one_answer_start(&a, TG_ACTBACK_MAX_BODY + 1);
    assert_int_equal(get_from(&a, &r), TG_EIO);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.error, "answer over the size limit");
    assert_true(r.len <= TG_ACTBACK_MAX_BODY);
    tg_actback_resp_cleanup(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jira_comment_v3),
        cmocka_unit_test(test_jira_comment_v2),
        cmocka_unit_test(test_servicenow_bodies),
        cmocka_unit_test(test_servicenow_rejected_check),
        cmocka_unit_test(test_jira_pick_and_marker),
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_fail_keeps_retry_after_of_429_503),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_schedule),
        cmocka_unit_test(test_http_body_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
