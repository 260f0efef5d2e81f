/* strbuf.h - a growable string with a maximum, for text built from input. */
#ifndef TG_STRBUF_H
#define TG_STRBUF_H

#include <stddef.h>

/* p is NUL-terminated once anything was put (NULL before); the caller frees
 * it with free() or tg_strbuf_cleanup(). */
struct tg_strbuf {
    char *p;
    size_t n, cap;
    size_t max; /* the longest text it may hold, in bytes */
};

#define TG_STRBUF_INIT(maxbytes)                                               \
    {.p = NULL, .n = 0, .cap = 0, .max = (maxbytes)}

/* Appends n bytes of s. Returns 0, TG_ETOOBIG past max (b unchanged), or
 * TG_ENOMEM. */
int tg_strbuf_putn(struct tg_strbuf *b, const char *s, size_t n);
/* Appends the string s. Same returns. */
int tg_strbuf_puts(struct tg_strbuf *b, const char *s);
/* Grows the raw buffer *buf of *cap bytes to hold at least need bytes:
 * from 4 KB, doubling, never past max (TG_ENOMEM then, *buf unchanged).
 * For the commands' chunked buffers, which keep their own lengths.
 * Returns 0 or TG_ENOMEM. */
int tg_strbuf_reserve(char **buf, size_t *cap, size_t need, size_t max);
/* Frees the text and empties b (max stays). */
void tg_strbuf_cleanup(struct tg_strbuf *b);
/* The same, overwriting the whole allocation first: for text that may hold
 * a credential (a value after ${NAME} substitution). */
void tg_strbuf_wipe(struct tg_strbuf *b);

#endif
