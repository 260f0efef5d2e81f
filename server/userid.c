/* userid.c - the identity of an ITSM user value (ADAPTERS.md "Identities"). */
#include "userid.h"

#include <string.h>

#include "../validators/identity.h"

const char *tg_userid_pick(const struct tg_directory *d, const json_t *v,
                           const char *const *keys, size_t n)
{
    const char *first = NULL;

    /* An empty string (an Automation smart value that was empty) names no
     * one, so that the mapping's fallback applies. */
    if (json_is_string(v))
        return tg_ident_present(json_string_value(v)) ? json_string_value(v)
                                                      : NULL;
    if (!json_is_object(v))
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(json_object_get(v, keys[i]));
        if (!s || !*s)
            continue;
        if (!first)
            first = s;
        if (d && tg_directory_resolve(d, s, strlen(s)).kind != TG_ENT_NONE)
            return s;
    }
    return first;
}

const char *tg_userid_type_word(const char *s)
{
    const char *w = tg_ident_type_word(s);

    return w ? w : s;
}
