/* jfield.h - reading a few members of a JSON text without parsing all of it. */
#ifndef TG_JFIELD_H
#define TG_JFIELD_H

#include <stddef.h>
#include <stdint.h>

/*
 * The report reads two million stored documents and needs a dozen members
 * of each; building a jansson tree of every document costs ten times the
 * rest of the report. These functions walk the text, skip what is not
 * asked for (a long justification is one memchr), and hand out the bytes of
 * the members asked for. Strings without escapes are used in place;
 * escaped ones are decoded by jansson (rare in tickets).
 *
 * Input is the store's own JSON; text that is not JSON makes a function
 * return -1, never read past end.
 */

/* A JSON value's bytes [p, end) as found in the text. */
struct tg_jval {
    const char *p, *end;
};

/* Calls fn for each member of the object v (key bytes without quotes, not
 * unescaped: keys we look for have no escapes). fn returns nonzero to stop.
 * Returns 0, -1 when v is not a well-formed object, or fn's value. */
typedef int (*tg_jfield_fn)(void *ctx, const char *key, size_t klen,
                            struct tg_jval v);
int tg_jfield_each(struct tg_jval obj, tg_jfield_fn fn, void *ctx);

/* Calls fn(ctx, NULL, i, element) for each element of the array v. */
int tg_jfield_items(struct tg_jval arr, tg_jfield_fn fn, void *ctx);

/* The value of member key of object obj into *out: 0, 1 when absent, -1. */
int tg_jfield_get(struct tg_jval obj, const char *key, struct tg_jval *out);

/* The string value v decoded into buf (cap bytes, NUL-terminated, at most
 * cap - 1 bytes kept; longer strings are cut). Returns its length, or -1
 * when v is not a string (null included). */
long tg_jfield_str(struct tg_jval v, char *buf, size_t cap);

/* 1 for true, 0 for false, -1 otherwise. */
int tg_jfield_bool(struct tg_jval v);

/* 1 when v is JSON null (or absent: p == NULL). */
int tg_jfield_is_null(struct tg_jval v);

/* The whole of text [p, p+len) as a value (leading/trailing blanks
 * trimmed), for tg_jfield_each. */
struct tg_jval tg_jfield_doc(const char *p, size_t len);

#endif
