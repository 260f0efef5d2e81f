/* jsonfield.c - the adapters' reads and writes of JSON members, and the
 * 422 texts that name a member by its path. */
#include "server/adapters/jsonfield.h"

#include <stdio.h>
#include <strings.h>

#include "validators/errors.h"

const char *tg_jsonfield_str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

const json_t *tg_jsonfield_mapped(const json_t *o, const char *name)
{
    return name ? json_object_get(o, name) : NULL;
}

int tg_jsonfield_is_word(const char *s, const char *w)
{
    return s && strcasecmp(s, w) == 0;
}

int tg_jsonfield_says_yes(const char *s)
{
    return tg_jsonfield_is_word(s, "true") || tg_jsonfield_is_word(s, "yes") ||
           tg_jsonfield_is_word(s, "1");
}

int tg_jsonfield_set_str(json_t *o, const char *k, const char *v)
{
    if (!v)
        return 0;
    return json_object_set_new(o, k, json_string(v)) ? TG_ENOMEM : 0;
}

int tg_jsonfield_missing(char *err, size_t cap, const char *path)
{
    if (err && cap)
        snprintf(err, cap, "%s is missing", path);
    return TG_EINVAL;
}

int tg_jsonfield_wrong(char *err, size_t cap, const json_t *v, const char *path,
                       const char *what)
{
    if (!v || json_is_null(v) ||
        (json_is_string(v) && json_string_length(v) == 0))
        return tg_jsonfield_missing(err, cap, path);
    if (err && cap)
        snprintf(err, cap, "%s must be %s", path, what);
    return TG_EINVAL;
}

const char *tg_jsonfield_need_str(const json_t *o, const char *k,
                                  const char *path, char *err, size_t cap)
{
    const json_t *v = json_object_get(o, k);

    if (json_is_string(v) && json_string_length(v) > 0)
        return json_string_value(v);
    tg_jsonfield_wrong(err, cap, v, path, "a string");
    return NULL;
}
