/* test_http.c - the HTTP layer's checks of a body before it is parsed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "server/config/config.h"
#include "server/http/http.h"

static void test_too_deep(void **state)
{
    static const struct {
        const char *body;
        int max;
        int want;
    } cases[] = {
        {"{}", 1, 0},
        {"{\"a\":{}}", 1, 1},
        {"{\"a\":{}}", 2, 0},
        {"[[[]]]", 2, 1},
        {"[[[]]]", 3, 0},
        /* Closing brackets give depth back. */
        {"[[]][[]][[]]", 2, 0},
        /* Brackets inside strings do not count. */
        {"{\"a\":\"[[[[{{{{\"}", 1, 0},
        /* An escaped quote does not end a string ... */
        {"{\"a\":\"x\\\"[[[[\"}", 1, 0},
        /* ... but a quote after an escaped backslash does. */
        {"{\"a\":\"x\\\\\",\"b\":[[]]}", 2, 1},
        {"{\"a\":\"x\\\\\\\"[[[\"}", 1, 0},
        {"{\"\\\\\":[1]}", 1, 1},
        /* An unterminated string hides the rest; the parser reports it. */
        {"{\"a\":\"[[[[", 1, 0},
        {"", 1, 0},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int got = tg_http_too_deep(cases[i].body, strlen(cases[i].body),
                                   cases[i].max);
        if (got != cases[i].want)
            fail_msg("case %zu (%s, max %d): got %d", i, cases[i].body,
                     cases[i].max, got);
    }
}

/* Bodies with more opening brackets than the limit, so that the count of
 * brackets alone cannot settle them: the scan must follow the nesting. */
static void test_too_deep_many_brackets(void **state)
{
    char body[512];
    size_t n = 0;

    (void)state;
    /* 40 siblings of depth 2: 81 openings, depth 2. */
    body[n++] = '[';
    for (int i = 0; i < 40; i++) {
        memcpy(body + n, i ? ",[1]" : "[1]", i ? 4 : 3);
        n += i ? 4 : 3;
    }
    body[n++] = ']';
    assert_int_equal(tg_http_too_deep(body, n, 2), 0);
    assert_int_equal(tg_http_too_deep(body, n, 1), 1);
    /* 70 opening brackets inside a string, one object: depth 1. */
    n = 0;
    memcpy(body + n, "{\"a\":\"", 6);
    n += 6;
    memset(body + n, '[', 70);
    n += 70;
    memcpy(body + n, "\"}", 2);
    n += 2;
    assert_int_equal(tg_http_too_deep(body, n, 1), 0);
    assert_int_equal(tg_http_too_deep(body, n, 0), 1);
}

/* The length bounds the scan: bytes past it are not read. */
static void test_too_deep_length(void **state)
{
    const char body[] = "[[[[[[";

    (void)state;
    assert_int_equal(tg_http_too_deep(body, 2, 2), 0);
    assert_int_equal(tg_http_too_deep(body, 3, 2), 1);
}

static void test_json_type(void **state)
{
    static const struct {
        const char *v;
        int want;
    } cases[] = {
        {"application/json", 1},
        {"Application/JSON", 1},
        {"application/json; charset=utf-8", 1},
        {"  application/json  ", 1},
        {"application/jsonx", 0},
        {"text/plain", 0},
        {"", 0},
    };

    (void)state;
    assert_int_equal(tg_http_is_json_type(NULL), 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (tg_http_is_json_type(cases[i].v) != cases[i].want)
            fail_msg("case %zu (%s)", i, cases[i].v);
}

/* The connection settings of server: (issue 10): keep-alive on by default
 * with a 5 s idle timeout, 8 connections per request worker unless set,
 * and never fewer connections than workers. */
static void test_connection_settings(void **state)
{
    static const struct {
        const char *server; /* lines of the server: section */
        int ok;
        int keep_alive_ms, threads, connections;
        const char *diag; /* a word the diagnostic holds when !ok */
    } cases[] = {
        {"", 1, 5000, 16, 128, NULL},
        {"  threads: 4\n", 1, 5000, 4, 32, NULL},
        {"  keep_alive_timeout_ms: 0\n", 1, 0, 16, 128, NULL},
        {"  threads: 4\n  connections: 100\n", 1, 5000, 4, 100, NULL},
        {"  threads: 4\n  connections: 4\n", 1, 5000, 4, 4, NULL},
        {"  connections: 8\n", 0, 0, 0, 0, "server.connections"},
        {"  keep_alive_timeout_ms: -1\n", 0, 0, 0, 0,
         "server.keep_alive_timeout_ms"},
        {"  connections: lots\n", 0, 0, 0, 0, "server.connections"},
    };
    char dir[] = "/tmp/tghttp-XXXXXX", path[64];
    (void)state;

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/t.yaml", dir);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tg_config *c = NULL;
        struct tg_diag d;
        FILE *f = fopen(path, "w");
        int rc;

        assert_non_null(f);
        fprintf(f,
                "server:\n  listen: \"127.0.0.1:1\"\n%s"
                "store:\n  path: %s/s.db\n"
                "sources:\n  generic:\n    jwt:\n      algorithm: HS256\n"
                "      secret: \"fixture-secret-0123456789-abcdefghijkl\"\n"
                "      issuer: \"i\"\n      audience: \"a\"\n",
                cases[i].server, dir);
        fclose(f);
        tg_diag_init(&d);
        rc = tg_config_load(path, &c, &d);
        if (cases[i].ok) {
            if (rc != 0)
                fail_msg("case %zu: %s", i, d.n ? d.msgs[0] : "no message");
            assert_int_equal(c->server.keep_alive_timeout_ms,
                             cases[i].keep_alive_ms);
            assert_int_equal(c->server.threads, cases[i].threads);
            assert_int_equal(c->server.connections, cases[i].connections);
        } else {
            if (rc == 0)
                fail_msg("case %zu loaded", i);
            assert_true(d.n > 0);
            if (!strstr(d.msgs[0], cases[i].diag))
                fail_msg("case %zu: %s", i, d.msgs[0]);
        }
        tg_config_free(c);
        tg_diag_cleanup(&d);
    }
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_too_deep),
        cmocka_unit_test(test_too_deep_many_brackets),
        cmocka_unit_test(test_too_deep_length),
        cmocka_unit_test(test_json_type),
        cmocka_unit_test(test_connection_settings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
