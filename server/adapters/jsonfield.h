/* jsonfield.h - the adapters' reads and writes of JSON members, and the
 * 422 texts that name a member by its path. */
#ifndef TG_JSONFIELD_H
#define TG_JSONFIELD_H

#include <jansson.h>
#include <stddef.h>

/* The string at member k of o, or NULL (absent, or not a string). */
const char *tg_jsonfield_str(const json_t *o, const char *k);

/* The member of o that configuration names (a Jira custom field id, a
 * ServiceNow variable), or NULL when name is NULL: the field is not mapped. */
const json_t *tg_jsonfield_mapped(const json_t *o, const char *name);

/* s is the word w, in any case; NULL is no word. */
int tg_jsonfield_is_word(const char *s, const char *w);

/* s says yes: true, yes or 1, in any case (ADAPTERS.md's emergency). */
int tg_jsonfield_says_yes(const char *s);

/* Sets member k of o to the string v; v NULL sets nothing. Returns 0 or
 * TG_ENOMEM (also when v is not valid UTF-8). */
int tg_jsonfield_set_str(json_t *o, const char *k, const char *v);

/* Writes "<path> is missing" into err (cap bytes; err may be NULL) and
 * returns TG_EINVAL, the adapters' 422 (ADAPTERS.md: "naming the missing
 * path"). */
int tg_jsonfield_missing(char *err, size_t cap, const char *path);

/* For v found at path and unusable: "is missing" when it is absent, null or
 * an empty string, else "<path> must be <what>". Returns TG_EINVAL. */
int tg_jsonfield_wrong(char *err, size_t cap, const json_t *v, const char *path,
                       const char *what);

/* The non-empty string at member k of o, or NULL with err saying why, by
 * path (tg_jsonfield_wrong). */
const char *tg_jsonfield_need_str(const json_t *o, const char *k,
                                  const char *path, char *err, size_t cap);

#endif
