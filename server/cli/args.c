/* args.c - the commands' one option reader ("--name VALUE" or "--name=VALUE"). */
#include "server/cli/cli.h"

#include <string.h>

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
