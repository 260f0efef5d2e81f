/* cmdrun.c - runs a ticketgate sub-command with its output captured. */
#include "tests/support/cmdrun.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

/* All of f as a string (f is closed). */
static char *slurp(FILE *f)
{
    long n;
    char *s;

    fflush(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    s = calloc(1, (size_t)n + 1);
    if (s && n > 0 && fread(s, 1, (size_t)n, f) != (size_t)n)
        s[0] = '\0';
    fclose(f);
    return s;
}

struct tg_test_run tg_test_capture(int (*cmd)(int, char **), int argc,
                                   char **argv)
{
    int so, se;
    FILE *fo = tmpfile(), *fe = tmpfile();
    struct tg_test_run r;

    assert_non_null(fo);
    assert_non_null(fe);
    fflush(stdout);
    fflush(stderr);
    so = dup(1);
    se = dup(2);
    dup2(fileno(fo), 1);
    dup2(fileno(fe), 2);
    r.rc = cmd(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(so, 1);
    dup2(se, 2);
    close(so);
    close(se);
    r.out = slurp(fo);
    r.err = slurp(fe);
    return r;
}

struct tg_test_run tg_test_run_cmd(int (*cmd)(int, char **), const char *name,
                                   const char *const *args)
{
    char *argv[16];
    int argc = 0;

    argv[argc++] = (char *)name;
    for (; args[argc - 1] && argc < 15; argc++)
        argv[argc] = (char *)args[argc - 1];
    argv[argc] = NULL;
    return tg_test_capture(cmd, argc, argv);
}

void tg_test_run_free(struct tg_test_run *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}
