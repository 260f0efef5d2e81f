/* args.c - what the commands share: the option reader ("--name VALUE" or
 * "--name=VALUE"), the usage error and the configuration's loading. */
#include "server/cli/cli.h"

#include <stdio.h>
#include <string.h>

#include "server/config/config.h"

int tg_cli_take_opt(int argc, char **argv, int *i, const char *name,
                    const char **out, int *missing)
{
    const char *a = argv[*i];
    size_t n = strlen(name);

    if (strncmp(a, name, n) != 0)
        return 0;
    if (a[n] == '=') {
        *out = a + n + 1;
        return 1;
    }
    if (a[n] != '\0')
        return 0;
    if (*i + 1 >= argc) {
        *missing = 1;
        return 1;
    }
    *out = argv[++*i];
    return 1;
}

int tg_cli_usage_error(const char *cmd, const char *usage, const char *what,
                       const char *arg)
{
    fprintf(stderr, "ticketgate %s: %s%s%s; %s\n", cmd, what, arg ? " " : "",
            arg ? arg : "", usage);
    return 2;
}

int tg_cli_load_config(const char *path, struct tg_config **out)
{
    struct tg_diag d;
    int rc;

    tg_diag_init(&d);
    rc = tg_config_load(path, out, &d);
    if (rc) {
        if (d.n > 0)
            fprintf(stderr, "%s%s\n", d.msgs[0],
                    d.n > 1 ? " (and more: run `ticketgate lint -c FILE`)"
                            : "");
        else
            fprintf(stderr, "%s: the configuration could not be loaded; "
                    "run `ticketgate lint -c %s`\n", path, path);
    }
    tg_diag_cleanup(&d);
    return rc ? 2 : 0;
}
