/* justnorm.h - the normalised justification compared for copy-forward. */
#ifndef TG_JUSTNORM_H
#define TG_JUSTNORM_H

#include <stddef.h>

/*
 * The justification s (len bytes, untrusted) as REASONS.md compares it for
 * JUSTIFICATION_COPY_FORWARD: lower-cased, every run of non-alphanumeric
 * characters collapsed to one space, trimmed. Words follow the word rule of
 * validators/words.h (non-ASCII bytes count as letters). On success *out is
 * a new string the caller frees ("" when s has no word). Returns 0 or
 * TG_ENOMEM.
 */
int tg_justnorm_make(const char *s, size_t len, char **out);

#endif
