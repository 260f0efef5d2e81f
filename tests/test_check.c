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

/* Reads a whole file written by a test command (malloc'd). */
static char *slurp_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    size_t cap = 1 << 16, n = 0, r;
    char *buf = malloc(cap);
    assert_non_null(f);
    while ((r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (n + 1 >= cap)
            buf = realloc(buf, cap *= 2);
    }
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* The good ticket with id ACC-<n>. */
static void good_with_id(char *buf, size_t cap, int n)
{
    char id[32];
    const char *rest = strchr(good, ',');
    snprintf(id, sizeof(id), "ACC-%d", n);
    snprintf(buf, cap, "{\"id\":\"%s\"%s", id, rest);
}

/*
 * Inputs that make the parallel path cut and hand back: several files of
 * JSON Lines larger than a chunk (256 KB), with unmappable tickets, arrays
 * on a line, blank lines, a pretty-printed array over several chunks in
 * the middle of a file (a chunk ends inside it), invalid JSON in a later
 * chunk of a file, a file that does not exist, an empty one, one line
 * longer than a chunk and small documents.
 * Returns the argument list for check.
 */
static void write_mixed(char *args, size_t cap)
{
    char path[128], t[1024];
    FILE *f;
    int n = 0;

    snprintf(path, sizeof(path), "%s/m1.jsonl", tmpdir);
    assert_non_null(f = fopen(path, "w"));
    for (int i = 0; i < 2000; i++) {
        good_with_id(t, sizeof(t), n++);
        if (i % 97 == 5)
            fprintf(f, "{\"id\":%d}\n", i);         /* unmappable */
        else if (i % 101 == 7)
            fprintf(f, "[%s, {\"id\":\"K-%d\",\"kind\":\"x\"}]\n", t, i);
        else if (i % 89 == 3)
            fprintf(f, "\n  %s  \n\n", t);
        else
            fprintf(f, "%s\n", t);
    }
    /* A pretty-printed array of 800 tickets: longer than a chunk. */
    fputs("[\n", f);
    for (int i = 0; i < 800; i++) {
        good_with_id(t, sizeof(t), n++);
        for (char *q = t; *q; q++) {
            fputc(*q, f);
            if (*q == ',' && q[-1] == '"')
                fputs("\n    ", f);
        }
        fputs(i < 799 ? ",\n" : "\n]\n", f);
    }
    for (int i = 0; i < 300; i++) {
        good_with_id(t, sizeof(t), n++);
        fprintf(f, "%s\n", i % 50 == 1 ? "{\"owner\":\"x\"}" : t);
    }
    fclose(f);

    snprintf(path, sizeof(path), "%s/m2.jsonl", tmpdir);
    assert_non_null(f = fopen(path, "w"));
    for (int i = 0; i < 1800; i++) {
        good_with_id(t, sizeof(t), n++);
        fprintf(f, "%s\n", t);
    }
    fputs("{\"id\": \"BROKEN\",\n", f); /* invalid JSON, chunk 3 or so */
    for (int i = 0; i < 100; i++) {
        good_with_id(t, sizeof(t), n++);
        fprintf(f, "%s\n", t);
    }
    fclose(f);
    /* One line longer than a chunk, without a line end at the end. */
    snprintf(path, sizeof(path), "%s/m5.json", tmpdir);
    assert_non_null(f = fopen(path, "w"));
    fputc('[', f);
    for (int i = 0; i < 1000; i++) {
        good_with_id(t, sizeof(t), n++);
        fprintf(f, "%s%s", i ? "," : "", i == 500 ? "{\"id\":true}" : t);
    }
    fputc(']', f);
    fclose(f);
    put("m3.json", good);
    put("m4.json", "[{\"id\":\"ACC-X\",\"kind\":\"incident\"}, {\"id\":7}]");
    put("empty.json", "");
    snprintf(args, cap, "%s/m1.jsonl %s/m3.json %s/missing.json %s/m2.jsonl "
             "%s/empty.json %s/m5.json %s/m4.json %s/m1.jsonl",
             tmpdir, tmpdir, tmpdir, tmpdir, tmpdir, tmpdir, tmpdir, tmpdir);
}

/* Each worker count gives the one-thread run's stdout, stderr and exit
 * code byte for byte, and decisions come in input order. */
static void test_check_parallel_same_as_one_thread(void **state)
{
    static const char *const counts[] = {"2", "3", "8"};
    char args[1024], cmd[2048], errpath[128], *o1, *e1;
    int c1, decisions = 0;
    (void)state;
    write_mixed(args, sizeof(args));
    snprintf(errpath, sizeof(errpath), "%s/err1.txt", tmpdir);
    snprintf(cmd, sizeof(cmd),
             "TG_CHECK_THREADS=1 " TG_BINARY " check -c " CFG " " NOW
             " %s 2>%s", args, errpath);
    c1 = run(cmd, &o1);
    e1 = slurp_file(errpath);
    assert_int_equal(c1, 2);
    /* The reference itself: unmappable lines, the missing file, the
     * invalid JSON of m2 and decisions numbered in input order. */
    assert_non_null(strstr(e1, "missing.json: cannot open"));
    assert_non_null(strstr(e1, "m2.jsonl: invalid JSON near byte"));
    assert_non_null(strstr(e1, "m1.jsonl: ticket 6: "));
    assert_non_null(strstr(e1, "m5.json: ticket "));
    assert_true(count_lines(o1) > 9000);
    for (const char *p = o1; *p; p = strchr(p, '\n') + 1) {
        json_t *v = json_loadb(p, (size_t)(strchr(p, '\n') - p), 0, NULL);
        const char *id = json_string_value(json_object_get(v, "decision_id"));
        assert_non_null(v);
        if (id) {
            char want[32];
            snprintf(want, sizeof(want), "d-%012d-", decisions + 1);
            assert_memory_equal(id, want, 15);
        }
        decisions++;
        json_decref(v);
    }
    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        char *o, *e;
        snprintf(cmd, sizeof(cmd),
                 "TG_CHECK_THREADS=%s " TG_BINARY " check -c " CFG " " NOW
                 " %s 2>%s", counts[i], args, errpath);
        assert_int_equal(run(cmd, &o), c1);
        e = slurp_file(errpath);
        if (strcmp(o, o1) != 0 || strcmp(e, e1) != 0)
            fail_msg("%s threads: output differs from one thread's",
                     counts[i]);
        free(o);
        free(e);
    }
    /* Without the variable: one worker per CPU, the same again. */
    snprintf(cmd, sizeof(cmd),
             TG_BINARY " check -c " CFG " " NOW " %s 2>/dev/null", args);
    {
        char *o;
        assert_int_equal(run(cmd, &o), c1);
        assert_string_equal(o, o1);
        free(o);
    }
    free(o1);
    free(e1);
}

static void test_check_threads_variable(void **state)
{
    static const char *const bad[] = {"0", "x", "257", "-1", "99999999999"};
    char cmd[512], *out;
    (void)state;
    put("one.json", good);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(cmd, sizeof(cmd),
                 "TG_CHECK_THREADS=%s " TG_BINARY " check -c " CFG " " NOW
                 " %s/one.json 2>/dev/null", bad[i], tmpdir);
        if (run(cmd, &out) != 2 || out[0] != '\0')
            fail_msg("TG_CHECK_THREADS=%s was taken", bad[i]);
        free(out);
    }
    snprintf(cmd, sizeof(cmd),
             "TG_CHECK_THREADS=2 " TG_BINARY " check -c " CFG " " NOW
             " %s/one.json", tmpdir);
    assert_int_equal(run(cmd, &out), 0);
    assert_int_equal(count_lines(out), 1);
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
        cmocka_unit_test(test_check_parallel_same_as_one_thread),
        cmocka_unit_test(test_check_threads_variable),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
