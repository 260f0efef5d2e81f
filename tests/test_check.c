/* test_check.c - `ticketgate check` as a platform team runs it. */
/* needs: ticketgate */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#define CFG TG_SOURCE_DIR "/example/ticketgate.yaml"
#define NOW "--now 2026-12-01T00:00:00Z"

static char tmpdir[64];

/* Runs a shell command line; returns its exit code and stdout (malloc'd). */
static int run(const char *cmd, char **out)
{
    FILE *p = popen(cmd, "r");
    size_t cap = 1 << 16, n = 0, r;
    char *buf = malloc(cap);
    int status;
    assert_non_null(p);
    while ((r = fread(buf + n, 1, cap - n - 1, p)) > 0) {
        n += r;
        if (n + 1 >= cap)
            buf = realloc(buf, cap *= 2);
    }
    buf[n] = '\0';
    status = pclose(p);
    *out = buf;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void put(const char *name, const char *text)
{
    char path[128];
    FILE *f;
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* The value of key in line k (0-based) of JSON Lines out. */
static char *field_of_line(const char *out, int k, const char *key)
{
    const char *p = out;
    json_t *v;
    char *res = NULL;
    for (int i = 0; i < k; i++)
        p = strchr(p, '\n') + 1;
    v = json_loadb(p, (size_t)(strchr(p, '\n') - p), 0, NULL);
    assert_non_null(v);
    if (json_is_string(json_object_get(v, key)))
        res = strdup(json_string_value(json_object_get(v, key)));
    json_decref(v);
    return res;
}

static const char *good =
    "{\"id\":\"ACC-1\",\"requester\":\"bob@example.com\",\"owner\":"
    "\"carol@example.com\",\"approver\":\"dave@example.com\","
    "\"justification\":\"Nightly settlement ETL PAY-2291 must read the "
    "ledger table to reconcile card batches.\",\"scope\":{\"system\":"
    "\"payments-db\",\"environment\":\"prod\",\"entitlement\":"
    "\"role:ledger_reader\",\"privilege\":\"read\"},\"expires_at\":"
    "\"2027-01-30\"}";

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/tg-check-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_check_object_allow(void **state)
{
    char cmd[512], *out, *d;
    (void)state;
    put("one.json", good);
    snprintf(cmd, sizeof(cmd), TG_BINARY " check -c " CFG " " NOW " %s/one.json",
             tmpdir);
    assert_int_equal(run(cmd, &out), 0);
    assert_int_equal(count_lines(out), 1);
    d = field_of_line(out, 0, "decision");
    assert_string_equal(d, "allow");
    free(d);
    free(out);
}

static void test_check_array_order_and_deny(void **state)
{
    char cmd[512], buf[2048], *out, *v;
    (void)state;
    snprintf(buf, sizeof(buf),
             "[%s, {\"id\":\"ACC-2\",\"owner\":null}, {\"id\":\"ACC-3\","
             "\"kind\":\"incident\"}]",
             good);
    put("arr.json", buf);
    snprintf(cmd, sizeof(cmd), TG_BINARY " check -c " CFG " " NOW " %s/arr.json",
             tmpdir);
    assert_int_equal(run(cmd, &out), 1);
    assert_int_equal(count_lines(out), 3);
    v = field_of_line(out, 1, "ticket");
    assert_string_equal(v, "ACC-2");
    free(v);
    v = field_of_line(out, 1, "decision");
    assert_string_equal(v, "deny");
    free(v);
    v = field_of_line(out, 2, "decision");
    assert_string_equal(v, "skip");
    free(v);
    free(out);
}

static void test_check_jsonl_stdin_and_files(void **state)
{
    char cmd[768], buf[2048], *out, *a, *b;
    (void)state;
    snprintf(buf, sizeof(buf), "%s\n{\"id\":\"ACC-9\",\"kind\":\"x\"}\n\n",
             good);
    put("lines.jsonl", buf);
    snprintf(cmd, sizeof(cmd),
             "cat %s/lines.jsonl | " TG_BINARY " check -c " CFG " " NOW
             " - %s/lines.jsonl",
             tmpdir, tmpdir);
    assert_int_equal(run(cmd, &out), 0);
    assert_int_equal(count_lines(out), 4);
    a = field_of_line(out, 1, "ticket");
    assert_string_equal(a, "ACC-9");
    free(a);
    /* decision ids count up in input order */
    a = field_of_line(out, 0, "decision_id");
    b = field_of_line(out, 2, "decision_id");
    assert_memory_equal(a, "d-000000000001-", 15);
    assert_memory_equal(b, "d-000000000003-", 15);
    free(a);
    free(b);
    free(out);
}

static void test_check_deterministic(void **state)
{
    char cmd[512], *o1, *o2;
    (void)state;
    put("one.json", good);
    snprintf(cmd, sizeof(cmd), TG_BINARY " check -c " CFG " " NOW " %s/one.json",
             tmpdir);
    assert_int_equal(run(cmd, &o1), 0);
    assert_int_equal(run(cmd, &o2), 0);
    assert_string_equal(o1, o2);
    free(o1);
    free(o2);
}

static void test_check_errors(void **state)
{
    static const struct {
        const char *input; /* written to bad.json; NULL: no file */
        const char *args;
        int code;
        int lines;
    } rows[] = {
        {"{\"owner\":\"x\"}", NOW, 2, 1},        /* no id: error line */
        {"[{\"id\":5}, {\"id\":\"OK-1\",\"kind\":\"x\"}]", NOW, 2, 2},
        {"{\"id\":", NOW, 2, 0},                 /* invalid JSON */
        {"{\"id\":\"A\"}", "--now yesterday", 2, 0},
        {"{\"id\":\"A\"}", NOW " --bogus", 2, 0},
        {NULL, NOW, 2, 0},                       /* missing file */
    };
    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char cmd[512], *out;
        int code;
        char path[96];
        snprintf(path, sizeof(path), "%s/bad%zu.json", tmpdir, i);
        if (rows[i].input) {
            char name[32];
            snprintf(name, sizeof(name), "bad%zu.json", i);
            put(name, rows[i].input);
        }
        snprintf(cmd, sizeof(cmd), TG_BINARY " check -c " CFG " %s %s 2>/dev/null",
                 rows[i].args, path);
        code = run(cmd, &out);
        if (code != rows[i].code || count_lines(out) != rows[i].lines)
            fail_msg("row %zu: want exit %d with %d lines, got %d with %d: %s",
                     i, rows[i].code, rows[i].lines, code, count_lines(out),
                     out);
        free(out);
    }
}

static void test_check_usage(void **state)
{
    char *out;
    (void)state;
    assert_int_equal(run(TG_BINARY " check 2>/dev/null", &out), 2);
    free(out);
    assert_int_equal(
        run(TG_BINARY " check -c /nonexistent/x.yaml 2>/dev/null </dev/null",
            &out),
        2);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_object_allow),
        cmocka_unit_test(test_check_array_order_and_deny),
        cmocka_unit_test(test_check_jsonl_stdin_and_files),
        cmocka_unit_test(test_check_deterministic),
        cmocka_unit_test(test_check_errors),
        cmocka_unit_test(test_check_usage),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
