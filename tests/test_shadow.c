/* test_shadow.c - policy.shadow: a candidate judges live traffic, after it. */
/* needs: ticketgate */
#define _GNU_SOURCE /* memmem */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "server/cli/cli.h"
#include "server/store/store.h"
#include "tests/support/tg_test.h"
#include "validators/errors.h"

#define CONNS 8
#define PER_CONN 25
#define N (CONNS * PER_CONN)

static json_t *tmpl;
/* The test's server: stopped and removed by the teardown even when an
 * assertion fails half way. */
static struct tg_server S;

/* Request i's ticket: privilege write, lasting 9, 50 or 109 days (i % 3).
 * The live example allows write for 90 days, the candidate for 30: the
 * 50-day tickets are allowed live and denied by the candidate; the 109-day
 * ones are denied by both, for the same reason. */
static char *ticket(int i)
{
    static const int days[3] = {9, 50, 109};
    json_t *t = json_deep_copy(tmpl);
    char when[32], id[32], *text;

    assert_non_null(t);
    tg_test_rfc3339((int64_t)days[i % 3] * 86400, when, sizeof(when));
    json_object_set_new(t, "expires_at", json_string(when));
    tg_test_rfc3339(-3600, when, sizeof(when));
    json_object_set_new(t, "created_at", json_string(when));
    snprintf(id, sizeof(id), "ACC-%d", 5000 + i);
    json_object_set_new(t, "id", json_string(id));
    json_object_set_new(json_object_get(t, "scope"), "privilege",
                        json_string("write"));
    text = json_dumps(t, JSON_COMPACT);
    json_decref(t);
    assert_non_null(text);
    return text;
}

/* The example configuration with policy.shadow naming candidate.yaml,
 * whose text is the example's with `old` replaced by `new_text`. */
static void prepare(struct tg_server *s, const char *old, const char *new_text)
{
    char *text;

    assert_int_equal(tg_test_server_prepare(s), 0);
    text = tg_test_read_file(s->config, NULL);
    assert_non_null(text);
    assert_non_null(strstr(text, old));
    {
        size_t a = (size_t)(strstr(text, old) - text), n = strlen(text);
        char *c = malloc(n + strlen(new_text) + 1);
        assert_non_null(c);
        memcpy(c, text, a);
        memcpy(c + a, new_text, strlen(new_text));
        memcpy(c + a + strlen(new_text), text + a + strlen(old),
               n - a - strlen(old) + 1);
        assert_int_equal(tg_test_write_file(s, "candidate.yaml", c), 0);
        free(c);
    }
    free(text);
    assert_int_equal(tg_test_config_replace(s, "  mode: enforce",
                                            "  mode: enforce\n"
                                            "  shadow: candidate.yaml"),
                     0);
}

/* One connection's share of the load: requests c, c + CONNS, ... on one
 * keep-alive connection; each answer's decision id and verdict go to
 * ids[i] and verdicts[i]. */
struct load {
    const struct tg_server *s;
    const char *auth;
    int c;
    char (*ids)[32];
    char (*verdicts)[16];
    int failures;
};

static void *load_run(void *arg)
{
    struct load *l = arg;
    struct tg_conn conn;

    if (tg_test_conn_open(l->s->port, &conn) != 0) {
        l->failures = PER_CONN;
        return NULL;
    }
    for (int k = 0; k < PER_CONN; k++) {
        int i = l->c + k * CONNS;
        char *body = ticket(i), *req;
        size_t cap = strlen(body) + strlen(l->auth) + 256;
        struct tg_resp r;
        json_t *v;

        req = malloc(cap);
        snprintf(req, cap,
                 "POST /v1/check HTTP/1.1\r\nHost: t\r\n%s\r\nContent-Type: "
                 "application/json\r\nContent-Length: %zu\r\n\r\n%s",
                 l->auth, strlen(body), body);
        memset(&r, 0, sizeof(r));
        if (tg_test_conn_send(&conn, req, strlen(req)) != 0 ||
            tg_test_conn_response(&conn, 10000, &r) != 0 || r.status != 200 ||
            !(v = json_loads(r.body, 0, NULL))) {
            l->failures++;
        } else {
            snprintf(l->ids[i], 32, "%s",
                     json_string_value(json_object_get(v, "decision_id")));
            snprintf(l->verdicts[i], 16, "%s",
                     json_string_value(json_object_get(v, "decision")));
            /* The live answer, whatever the candidate says: a 50-day
             * ticket is not denied for its end date. */
            if (i % 3 == 1 && strstr(r.body, "EXPIRY_TOO_LONG"))
                l->failures++;
            json_decref(v);
        }
        tg_test_resp_free(&r);
        free(req);
        free(body);
    }
    tg_test_conn_close(&conn);
    return NULL;
}

/* The value of the metric line that starts with name (with its labels),
 * or -1 when the exposition has none. */
static long long metric(const char *text, const char *name)
{
    const char *p = text;
    size_t n = strlen(name);

    while ((p = strstr(p, name))) {
        if ((p == text || p[-1] == '\n') && p[n] == ' ')
            return strtoll(p + n + 1, NULL, 10);
        p += n;
    }
    return -1;
}

static char *get(const struct tg_server *s, const char *path, long *status)
{
    struct tg_resp r;
    char *body;

    assert_int_equal(tg_test_http(s, "GET", path, NULL, NULL, 0, 0, &r), 0);
    *status = r.status;
    body = strdup(r.body ? r.body : "");
    tg_test_resp_free(&r);
    return body;
}

/* The sum of ticketgate_shadow_changes_total over from and to, for code
 * (NULL: every code). */
static long long changes(const char *text, const char *code)
{
    static const char name[] = "ticketgate_shadow_changes_total{";
    long long sum = 0;
    char want[80];

    snprintf(want, sizeof(want), "code=\"%s\"}", code ? code : "");
    for (const char *p = text; (p = strstr(p, name)); p++) {
        const char *end = strchr(p, ' ');
        if ((p != text && p[-1] != '\n') || !end)
            continue;
        if (code && !memmem(p, (size_t)(end - p), want, strlen(want)))
            continue;
        sum += strtoll(end + 1, NULL, 10);
    }
    return sum;
}

#define EVALUATED "ticketgate_shadow_evaluations_total{result=\"evaluated\"}"
#define DROPPED "ticketgate_shadow_evaluations_total{result=\"dropped\"}"
#define CHANGES                                                                \
    "ticketgate_shadow_changes_total{from=\"allow\",to=\"deny\","              \
    "code=\"EXPIRY_TOO_LONG\"}"

/* 200 requests on 8 connections: every answer is the live policy's, and
 * the candidate's differences are counted, logged and recorded. */
static void test_differences_counted_under_load(void **state)
{
    static char ids[N][32], verdicts[N][16];
    struct load l[CONNS];
    pthread_t th[CONNS];
    char *tok = tg_test_generic_token(NULL), *auth, *m = NULL, *log, *json;
    char store[400];
    long status;
    size_t off = 0;
    int want = 0;

    (void)state;
    assert_non_null(tok);
    auth = tg_test_bearer_header(tok);
    prepare(&S, "write: 90", "write: 30");
    assert_int_equal(tg_test_server_start(&S), 0);
    for (int c = 0; c < CONNS; c++) {
        l[c] = (struct load){.s = &S, .auth = auth, .c = c, .ids = ids,
                             .verdicts = verdicts};
        assert_int_equal(pthread_create(&th[c], NULL, load_run, &l[c]), 0);
    }
    for (int c = 0; c < CONNS; c++) {
        pthread_join(th[c], NULL);
        assert_int_equal(l[c].failures, 0);
    }
    /* Every ticket carries the example's justification: copy-forward
     * warns on some (annotate), in whatever order the requests came. */
    for (int i = 0; i < N; i++) {
        if (i % 3 == 2)
            assert_string_equal(verdicts[i], "deny");
        else if (strcmp(verdicts[i], "allow") != 0)
            assert_string_equal(verdicts[i], "annotate");
        want += i % 3 == 1;
    }
    /* The shadow thread works after the answers: wait for it. */
    for (int tries = 0; tries < 600; tries++) { /* 30 s: sanitizers */
        free(m);
        m = get(&S, "/metrics", &status);
        assert_int_equal(status, 200);
        if (metric(m, EVALUATED) + metric(m, DROPPED) >= N)
            break;
        usleep(50 * 1000);
    }
    assert_int_equal(metric(m, DROPPED), 0);
    assert_int_equal(metric(m, EVALUATED), N);
    /* Exactly the 50-day tickets, whether live allowed or annotated them;
     * no other difference: the 109-day tickets are denied for the same
     * code by both, and copy-forward is judged on the count live saw,
     * not on the store as it stands once the shadow thread gets there. */
    assert_int_equal(changes(m, "EXPIRY_TOO_LONG"), want);
    assert_int_equal(changes(m, NULL), want);
    assert_int_equal(changes(m, "JUSTIFICATION_COPY_FORWARD"), 0);
    free(m);
    log = tg_test_server_log_wait(&S, &off, "\"shadow_change\"", want, 15000);
    assert_non_null(log);
    {
        int seen = 0;
        for (const char *p = log; (p = strstr(p, "\"shadow_change\"")); p++)
            seen++;
        assert_int_equal(seen, want);
    }
    /* Each 50-day ticket's line names what live answered it: allow, or
     * annotate when copy-forward had already counted enough of the
     * others (under load every 50-day request can come after them, so no
     * "allow" line need exist at all). */
    for (int i = 1; i < N; i += 3) {
        char head[96], want_text[64];
        const char *line, *eol;

        snprintf(head, sizeof(head), "decision %s of ticket ", ids[i]);
        snprintf(want_text, sizeof(want_text),
                 ": %s under the live policy, deny under", verdicts[i]);
        line = strstr(log, head);
        assert_non_null(line);
        eol = strchr(line, '\n');
        assert_non_null(memmem(line, eol ? (size_t)(eol - line) : strlen(line),
                               want_text, strlen(want_text)));
    }
    free(log);
    assert_int_equal(tg_test_server_stop(&S), 0);

    /* Recorded in the chain beside the decision, keyed by its id. */
    snprintf(store, sizeof(store), "%s/data/ticketgate.db", S.dir);
    assert_int_equal(
        tg_evidence_get_entry_file(store, "shadow", ids[1], &json), 0);
    {
        json_t *e = json_loads(json, 0, NULL);
        assert_non_null(e);
        /* "from" is what live answered ids[1]: allow, or annotate when
         * enough of the concurrent requests before it carried the same
         * justification (copy-forward), whichever order the load had. */
        assert_string_equal(json_string_value(json_object_get(e, "from")),
                            verdicts[1]);
        assert_string_equal(json_string_value(json_object_get(e, "to")),
                            "deny");
        assert_string_equal(
            json_string_value(json_object_get(e, "decision_id")), ids[1]);
        assert_string_equal(
            json_string_value(json_object_get(
                json_object_get(e, "decision"), "decision")),
            "deny");
        json_decref(e);
    }
    free(json);
    assert_int_equal(
        tg_evidence_get_entry_file(store, "shadow", ids[0], &json),
        TG_ENOTFOUND);
    assert_int_equal(
        tg_evidence_get_entry_file(store, "shadow", ids[2], &json),
        TG_ENOTFOUND);
    tg_test_server_cleanup(&S);
    free(auth);
    free(tok);
}

/* A candidate that does not load: the live policy answers as always,
 * /readyz stays 200 and says why, the log says why; a reload with the
 * candidate fixed puts it in force. */
static void test_candidate_that_does_not_load(void **state)
{
    char *body, *text, *fixed;
    long status;
    size_t off = 0;
    json_t *v;

    (void)state;
    prepare(&S, "  mode: enforce", "  mode: enforce\n  no_such_key: 1");
    assert_int_equal(tg_test_server_start(&S), 0);
    body = get(&S, "/readyz", &status);
    assert_int_equal(status, 200);
    v = json_loads(body, 0, NULL);
    assert_non_null(v);
    assert_string_equal(json_string_value(json_object_get(v, "status")),
                        "ready");
    assert_non_null(strstr(
        json_string_value(json_object_get(json_object_get(v, "shadow"),
                                          "error")),
        "no_such_key"));
    assert_non_null(strstr(
        json_string_value(json_object_get(json_object_get(v, "shadow"),
                                          "config")),
        "candidate.yaml"));
    json_decref(v);
    free(body);
    text = tg_test_server_log_wait(&S, &off, "\"shadow_failed\"", 1, 15000);
    assert_non_null(strstr(text, "\"shadow_failed\""));
    assert_non_null(strstr(text, "live policy is unaffected"));
    free(text);

    /* Fixed, then SIGHUP: the candidate is in force. */
    text = tg_test_read_file(S.config, NULL);
    assert_non_null(text);
    fixed = strdup(text);
    {
        char *w = strstr(fixed, "write: 90");
        assert_non_null(w);
        memcpy(w, "write: 30", 9);
    }
    assert_int_equal(tg_test_write_file(&S, "candidate.yaml", fixed), 0);
    free(fixed);
    free(text);
    assert_int_equal(tg_test_server_signal(&S, SIGHUP), 0);
    text = tg_test_server_log_wait(&S, &off, "shadow policy sha256:", 1,
                                   15000);
    assert_non_null(strstr(text, "shadow policy sha256:"));
    free(text);
    body = get(&S, "/readyz", &status);
    assert_int_equal(status, 200);
    v = json_loads(body, 0, NULL);
    assert_non_null(v);
    assert_null(json_object_get(json_object_get(v, "shadow"), "error"));
    assert_non_null(strstr(
        json_string_value(json_object_get(json_object_get(v, "shadow"),
                                          "policy")),
        "sha256:"));
    json_decref(v);
    free(body);
    assert_int_equal(tg_test_server_stop(&S), 0);
    tg_test_server_cleanup(&S);
}

/* Runs tg_cmd_lint -c config with stderr captured into *err. */
static int lint(const char *config, char **err)
{
    char *argv[] = {(char *)"lint", (char *)"-c", (char *)config, NULL};
    FILE *fe = tmpfile(), *fo = tmpfile();
    int se, so, rc;
    long n;

    assert_non_null(fe);
    assert_non_null(fo);
    fflush(stderr);
    fflush(stdout);
    se = dup(2);
    so = dup(1);
    dup2(fileno(fe), 2);
    dup2(fileno(fo), 1);
    rc = tg_cmd_lint(3, argv);
    fflush(stderr);
    fflush(stdout);
    dup2(se, 2);
    dup2(so, 1);
    close(se);
    close(so);
    fseek(fe, 0, SEEK_END);
    n = ftell(fe);
    fseek(fe, 0, SEEK_SET);
    *err = calloc(1, (size_t)n + 1);
    assert_non_null(*err);
    if (n > 0)
        assert_int_equal(fread(*err, 1, (size_t)n, fe), (size_t)n);
    fclose(fe);
    fclose(fo);
    return rc;
}

/* lint loads the candidate too, and names its problems. */
static void test_lint_names_the_candidate_problems(void **state)
{
    char *err;

    (void)state;
    prepare(&S, "  mode: enforce", "  mode: enforce\n  no_such_key: 1");
    assert_int_equal(lint(S.config, &err), 2);
    assert_non_null(strstr(err, "policy.shadow: "));
    assert_non_null(strstr(err, "no_such_key"));
    free(err);
    tg_test_server_cleanup(&S);

    prepare(&S, "write: 90", "write: 30");
    assert_int_equal(lint(S.config, &err), 0);
    assert_null(strstr(err, "policy.shadow"));
    free(err);
    tg_test_server_cleanup(&S);
}

static int setup(void **state)
{
    json_error_t err;

    (void)state;
    tmpl = json_load_file(TG_SOURCE_DIR "/example/payloads/canonical-ticket.json",
                          0, &err);
    return tmpl ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    json_decref(tmpl);
    return 0;
}

static int server_cleanup(void **state)
{
    (void)state;
    tg_test_server_cleanup(&S);
    memset(&S, 0, sizeof(S));
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_differences_counted_under_load,
                                  server_cleanup),
        cmocka_unit_test_teardown(test_candidate_that_does_not_load,
                                  server_cleanup),
        cmocka_unit_test_teardown(test_lint_names_the_candidate_problems,
                                  server_cleanup),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
