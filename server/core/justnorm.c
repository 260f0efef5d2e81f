/* justnorm.c - the normalised justification compared for copy-forward. */
#include "server/core/justnorm.h"

#include <stdlib.h>

#include "validators/errors.h"
#include "validators/words.h"

int tg_justnorm_make(const char *s, size_t len, char **out)
{
    size_t pos = 0, start, wlen, n = 0;
    char *buf;

    /* Words and single spaces never outgrow the input. */
    buf = malloc(len + 1);
    if (!buf)
        return TG_ENOMEM;
    while (tg_words_next(s, len, &pos, &start, &wlen)) {
        if (n > 0)
            buf[n++] = ' ';
        tg_words_lower(s + start, wlen, buf + n);
        n += wlen;
    }
    buf[n] = '\0';
    *out = buf;
    return 0;
}
