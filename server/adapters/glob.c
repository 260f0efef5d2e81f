/* glob.c - case-insensitive glob matching for gates. */
#include "server/adapters/glob.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "validators/errors.h"

static void lower(char *q)
{
    for (; *q; q++)
        if (*q >= 'A' && *q <= 'Z')
            *q = (char)(*q - 'A' + 'a');
}

int tg_glob_ci(const char *pat, const char *s)
{
    char *lp = strdup(pat), *ls = strdup(s);
    int m = TG_ENOMEM;

    if (lp && ls) {
        lower(lp);
        lower(ls);
        m = fnmatch(lp, ls, 0) == 0;
    }
    free(lp);
    free(ls);
    return m;
}
