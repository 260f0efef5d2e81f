/* lint.c - `ticketgate lint -c FILE`: every problem of a configuration. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "server/cli/cli.h"
#include "server/config/config.h"
#include "validators/errors.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: ticketgate lint -c FILE\n"
               "Loads the configuration and the directory it names and "
               "prints every problem as FILE:LINE: what; what to do.\n"
               "Exit 0 when there is none, 2 otherwise.\n");
}

/*
 * CLI.md: prints each problem on its own line to stderr and exits 2 when
 * there is any (or the arguments are wrong); else prints one summary line to
 * stdout and exits 0.
 */
/* Loads the candidate of policy.shadow and prints its problems, each
 * after "policy.shadow: ". Returns 0 when it loads. */
static int lint_shadow(const char *path)
{
    struct tg_config *c = NULL;
    struct tg_diag d;
    int rc;

    tg_diag_init(&d);
    rc = tg_config_load(path, &c, &d);
    for (size_t i = 0; rc != TG_OK && i < d.n; i++)
        fprintf(stderr, "policy.shadow: %s\n", d.msgs[i]);
    if (rc != TG_OK && d.n == 0)
        fprintf(stderr, "policy.shadow: %s does not load\n", path);
    tg_config_free(c);
    tg_diag_cleanup(&d);
    return rc;
}

int tg_cmd_lint(int argc, char **argv)
{
    const char *path = NULL;
    struct tg_config *cfg = NULL;
    struct tg_diag diag;
    int rc, code = 2;

    tg_diag_init(&diag);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "lint: %s needs a file; write -c "
                                "ticketgate.yaml\n", argv[i]);
                usage(stderr);
                goto out;
            }
            path = argv[++i];
        } else if (strcmp(argv[i], "-h") == 0 ||
                   strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            code = 0;
            goto out;
        } else {
            fprintf(stderr, "lint: unexpected argument %s; the only option "
                            "is -c FILE\n", argv[i]);
            usage(stderr);
            goto out;
        }
    }
    if (!path) {
        fprintf(stderr, "lint: no configuration given; write -c FILE\n");
        usage(stderr);
        goto out;
    }
    rc = tg_config_load(path, &cfg, &diag);
    for (size_t i = 0; i < diag.n; i++)
        fprintf(stderr, "%s\n", diag.msgs[i]);
    if (rc != TG_OK) {
        if (diag.n == 0)
            fprintf(stderr, "%s: cannot load the configuration (%s); try "
                            "again, or check memory limits\n", path,
                    rc == TG_ENOMEM ? "out of memory" : "unknown error");
        goto out;
    }
    /* Notes are no problems: exceptions about to end, ended, or whose
     * owner left are named, and the configuration still passes. */
    tg_diag_cleanup(&diag);
    tg_diag_init(&diag);
    tg_config_exception_notes(cfg, (int64_t)time(NULL), &diag);
    for (size_t i = 0; i < diag.n; i++)
        fprintf(stderr, "%s\n", diag.msgs[i]);
    /* policy.shadow: the server would run without its candidate. */
    if (cfg->shadow_path && lint_shadow(cfg->shadow_path) != 0)
        goto out;
    printf("%s: OK: %zu gate%s, %zu people, %zu group%s, %zu system%s, "
           "%zu delegation%s; policy %s%s%s\n",
           path, cfg->n_gates, cfg->n_gates == 1 ? "" : "s",
           cfg->directory.n_people, cfg->directory.n_groups,
           cfg->directory.n_groups == 1 ? "" : "s", cfg->directory.n_systems,
           cfg->directory.n_systems == 1 ? "" : "s",
           cfg->directory.n_delegations,
           cfg->directory.n_delegations == 1 ? "" : "s", cfg->digest,
           cfg->policy.dryrun ? " (dryrun)" : "",
           /* where decisions are written back (issue 12) */
           cfg->jira.act_back.set && cfg->servicenow.act_back.set
               ? "; act-back to jira and servicenow"
           : cfg->jira.act_back.set       ? "; act-back to jira"
           : cfg->servicenow.act_back.set ? "; act-back to servicenow"
                                          : "");
    code = fflush(stdout) == 0 ? 0 : 2;
out:
    tg_config_free(cfg);
    tg_diag_cleanup(&diag);
    return code;
}
