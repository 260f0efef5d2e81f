/* strbuf.c - a growable string with a maximum, for text built from input. */
#include "server/util/strbuf.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "validators/errors.h"

int tg_strbuf_putn(struct tg_strbuf *b, const char *s, size_t n)
{
    if (n > b->max - b->n)
        return TG_ETOOBIG;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        char *np;
        while (cap < b->n + n + 1)
            cap *= 2;
        np = realloc(b->p, cap);
        if (!np)
            return TG_ENOMEM;
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
    return 0;
}

int tg_strbuf_puts(struct tg_strbuf *b, const char *s)
{
    return tg_strbuf_putn(b, s, strlen(s));
}

void tg_strbuf_cleanup(struct tg_strbuf *b)
{
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

void tg_strbuf_wipe(struct tg_strbuf *b)
{
    if (b->p)
        OPENSSL_cleanse(b->p, b->cap);
    tg_strbuf_cleanup(b);
}

int tg_strbuf_reserve(char **buf, size_t *cap, size_t need, size_t max)
{
    size_t c = *cap ? *cap : 4096;
    char *nb;

    if (need <= *cap)
        return TG_OK;
    while (c < need) {
        if (c > max / 2)
            return TG_ENOMEM;
        c *= 2;
    }
    if (!(nb = realloc(*buf, c)))
        return TG_ENOMEM;
    *buf = nb;
    *cap = c;
    return TG_OK;
}
