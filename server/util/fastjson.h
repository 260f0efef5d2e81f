/* fastjson.h - a quick reader of the JSON texts ticketgate wrote itself. */
#ifndef TG_FASTJSON_H
#define TG_FASTJSON_H

#include <jansson.h>
#include <stddef.h>

/*
 * Reads the JSON value at the start of s (n bytes; what follows it is not
 * looked at) into jansson values, as json_loadb(s, n,
 * JSON_DISABLE_EOF_CHECK) would, at a third of its cost: jansson reads a
 * text byte by byte through a callback and a growable buffer, this reads it
 * in place. It is meant for text jansson wrote (the judged tickets of the
 * evidence store, read a million at a time by `replay`), so it takes the
 * common forms only: on anything else (a number with a fraction or an
 * exponent, an integer past int64, \u0000, bytes that are not UTF-8,
 * nesting deeper than 64, any syntax error) it returns NULL, and the
 * caller parses the text with json_loadb, which accepts or refuses it as
 * always. So the values made are always the ones json_loadb makes.
 * Returns a new reference, or NULL.
 */
json_t *tg_fastjson_load(const char *s, size_t n);

#endif
