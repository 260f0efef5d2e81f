/* cmdrun.h - runs a ticketgate sub-command in the test's own process with
 * its stdout and stderr captured. */
#ifndef TG_TEST_CMDRUN_H
#define TG_TEST_CMDRUN_H

/* What one run of a command printed, and its exit code. */
struct tg_test_run {
    int rc;
    char *out, *err; /* what it wrote on stdout, stderr (caller frees) */
};

/* Runs cmd(argc, argv) (a tg_cmd_* of server/cli/cli.h) with stdout and
 * stderr redirected into temporary files, and returns what they held.
 * Fails the test when no temporary file can be made. */
struct tg_test_run tg_test_capture(int (*cmd)(int, char **), int argc,
                                   char **argv);

/* The same with argv {name, args..., NULL}: args is NULL-terminated, at
 * most 14 of them. */
struct tg_test_run tg_test_run_cmd(int (*cmd)(int, char **), const char *name,
                                   const char *const *args);

/* Frees what r holds (r itself is the caller's). */
void tg_test_run_free(struct tg_test_run *r);

#endif
