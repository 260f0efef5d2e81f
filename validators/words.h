/* words.h - the word rule of REASONS.md, shared by justification and scope. */
#ifndef TG_WORDS_H
#define TG_WORDS_H

#include <stddef.h>

/* A word is a run of ASCII letters and digits and non-ASCII bytes ("every
 * non-ASCII character counts as a letter"). Finds the next word at or after
 * *pos in s[0..len); returns 1 with its start and length, 0 at the end. */
int tg_words_next(const char *s, size_t len, size_t *pos, size_t *start,
                  size_t *wlen);
/* The number of characters (UTF-8 code points) in w. */
size_t tg_words_chars(const char *w, size_t len);
/* Narrows s[0..len) to drop surrounding ASCII white space (identities,
 * rule values and no-end words all ignore it). */
void tg_words_trim(const char **s, size_t *len);
/* Lower-cases ASCII of w into out (cap >= len + 1). */
void tg_words_lower(const char *w, size_t len, char *out);

#endif
