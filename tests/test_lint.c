/* test_lint.c - `ticketgate lint`: exit codes and the FILE:LINE report. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/cli/cli.h"
#include "tests/support/cmdrun.h"

#define FIX TG_SOURCE_DIR "/tests/fixtures/config"

/* What one in-process run printed. */
struct run {
    int code;
    char out[16384];
    char err[16384];
};

/* Runs tg_cmd_lint with argv (NULL-terminated, argv[0] "lint") through the
 * shared capture and keeps what it printed in r. */
static void run_lint(const char *const *argv, struct run *r)
{
    struct tg_test_run t;
    int argc = 0;
    char *args[16];

    while (argv[argc]) {
        assert_true(argc < 15);
        args[argc] = (char *)argv[argc];
        argc++;
    }
    args[argc] = NULL;
    t = tg_test_capture(tg_cmd_lint, argc, args);
    r->code = t.rc;
    snprintf(r->out, sizeof(r->out), "%s", t.out ? t.out : "");
    snprintf(r->err, sizeof(r->err), "%s", t.err ? t.err : "");
    tg_test_run_free(&t);
}

static void test_usage(void **state)
{
    static const struct {
        const char *name;
        const char *argv[4];
        int code;
        const char *err; /* expected in stderr, or NULL: stderr empty */
    } cases[] = {
        {"no -c", {"lint", NULL}, 2, "-c FILE"},
        {"-c without a file", {"lint", "-c", NULL}, 2, "needs a file"},
        {"unknown option", {"lint", "-x", NULL}, 2, "unexpected argument"},
        {"stray argument", {"lint", "-c", FIX "/minimal.yaml", "more"}, 2,
         "unexpected argument"},
        {"help", {"lint", "--help", NULL}, 0, NULL},
    };
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct run *r = calloc(1, sizeof(*r));
        const char *argv[5] = {0};
        print_message("case: %s\n", cases[i].name);
        memcpy(argv, cases[i].argv, sizeof(cases[i].argv));
        run_lint(argv, r);
        assert_int_equal(r->code, cases[i].code);
        if (cases[i].err)
            assert_non_null(strstr(r->err, cases[i].err));
        else
            assert_string_equal(r->err, "");
        free(r);
    }
}

static void test_ok(void **state)
{
    static const char *const files[] = {
        TG_SOURCE_DIR "/example/ticketgate.yaml",
        FIX "/minimal.yaml",
    };
    (void)state;

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        struct run *r = calloc(1, sizeof(*r));
        const char *argv[] = {"lint", "-c", files[i], NULL};
        run_lint(argv, r);
        if (r->code != 0)
            print_message("%s", r->err);
        assert_int_equal(r->code, 0);
        assert_string_equal(r->err, "");
        /* One line: the file, OK and the policy digest. */
        assert_int_equal(strncmp(r->out, files[i], strlen(files[i])), 0);
        assert_non_null(strstr(r->out, ": OK: "));
        assert_non_null(strstr(r->out, "policy sha256:"));
        assert_non_null(strchr(r->out, '\n'));
        assert_string_equal(strchr(r->out, '\n'), "\n");
        free(r);
    }
}

/* Each line of stderr is "FILE:LINE: what is wrong; what to do". */
static void assert_lines_well_formed(const char *err)
{
    const char *p = err;
    while (*p) {
        const char *nl = strchr(p, '\n');
        const char *colon;
        char *end;
        long line;
        assert_non_null(nl);
        colon = strstr(p, ".yaml:");
        assert_true(colon && colon < nl);
        line = strtol(colon + 6, &end, 10);
        assert_true(line > 0);
        assert_true(end[0] == ':' && end[1] == ' ');
        assert_true(memchr(p, ';', (size_t)(nl - p)) != NULL);
        p = nl + 1;
    }
}

static void test_problems(void **state)
{
    static const struct {
        const char *file;
        int line;
        const char *what;
    } want[] = {
        {"bad.yaml", 3, "server.threads"},
        {"bad.yaml", 4, "unknown key 'colour'"},
        {"bad.yaml", 6, "store.sync"},
        {"bad.yaml", 9, "hmac_secret is empty"},
        {"bad.yaml", 13, "jwt.secret is empty"},
        {"bad.yaml", 18, "unbalanced '['"},
        {"bad.yaml", 20, "policy.mode"},
        {"bad.yaml", 21, "OWNER_UNKOWN"},
        {"bad.yaml", 23, "read, write or admin"},
        {"bad.yaml", 27, "unbalanced '['"},
        {"bad-directory.yaml", 5, "robot"},
        {"bad-directory.yaml", 10, "g-one -> g-two -> g-one"},
        {"bad-directory.yaml", 12, "nobody@example.com"},
        {"bad-directory.yaml", 15, "system wiki has no owner"},
    };
    const char *argv[] = {"lint", "-c", FIX "/bad.yaml", NULL};
    struct run *r = calloc(1, sizeof(*r));
    size_t lines = 0;
    (void)state;

    run_lint(argv, r);
    assert_int_equal(r->code, 2);
    assert_string_equal(r->out, "");
    assert_lines_well_formed(r->err);
    for (const char *p = r->err; (p = strchr(p, '\n')) != NULL; p++)
        lines++;
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        char prefix[512];
        const char *p;
        int found = 0;
        snprintf(prefix, sizeof(prefix), "%s/%s:%d: ", FIX, want[i].file,
                 want[i].line);
        for (p = r->err; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : p) {
            const char *nl = strchr(p, '\n');
            const char *hit = strstr(p, want[i].what);
            if (strncmp(p, prefix, strlen(prefix)) == 0 && hit && hit < nl) {
                found = 1;
                break;
            }
        }
        if (!found) {
            print_message("%s", r->err);
            fail_msg("no \"%s\" at %s", want[i].what, prefix);
        }
    }
    assert_int_equal(lines, sizeof(want) / sizeof(want[0]));
    free(r);
}

static void test_missing_file(void **state)
{
    const char *argv[] = {"lint", "-c", FIX "/no-such.yaml", NULL};
    struct run *r = calloc(1, sizeof(*r));
    (void)state;
    run_lint(argv, r);
    assert_int_equal(r->code, 2);
    assert_non_null(strstr(r->err, "no-such.yaml: cannot read"));
    assert_string_equal(r->out, "");
    free(r);
}

/* HS256 keys under 32 bytes (RFC 7518 section 3.2) and a token lifetime
 * below a minute are each reported at their line (issue 10 item 5). */
static void test_weak_secrets(void **state)
{
    static const struct {
        int line;
        const char *what;
    } want[] = {
        {4, "server.max_token_lifetime_s is 10; write a number of at least 60"},
        {7, "sources.jira.connect_shared_secret is 31 bytes; HS256 needs at "
            "least 32 (RFC 7518 section 3.2)"},
        {11, "sources.generic.jwt.secret is 12 bytes; HS256 needs at least 32"},
    };
    const char *argv[] = {"lint", "-c", FIX "/weak-secrets.yaml", NULL};
    struct run *r = calloc(1, sizeof(*r));
    size_t lines = 0;
    (void)state;

    assert_non_null(r);
    run_lint(argv, r);
    assert_int_equal(r->code, 2);
    assert_string_equal(r->out, "");
    assert_lines_well_formed(r->err);
    for (const char *p = r->err; (p = strchr(p, '\n')) != NULL; p++)
        lines++;
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        char line[512];
        snprintf(line, sizeof(line), "%s/weak-secrets.yaml:%d: %s", FIX,
                 want[i].line, want[i].what);
        if (!strstr(r->err, line)) {
            print_message("%s", r->err);
            fail_msg("no \"%s\"", line);
        }
    }
    /* The secret itself is never printed. */
    assert_null(strstr(r->err, "short-secret"));
    assert_int_equal(lines, sizeof(want) / sizeof(want[0]));
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage),
        cmocka_unit_test(test_ok),
        cmocka_unit_test(test_problems),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_weak_secrets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
