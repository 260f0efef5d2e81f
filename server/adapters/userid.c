/* userid.c - the identity of an ITSM user value (ADAPTERS.md "Identities"). */
#include "server/adapters/userid.h"

#include <string.h>
#include <strings.h>

#include "validators/errors.h"
#include "validators/identity.h"

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

const char *tg_userid_display(const json_t *v, const char *const *keys,
                              size_t n)
{
    if (!json_is_object(v))
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(json_object_get(v, keys[i]));
        if (tg_ident_present(s))
            return s;
    }
    return NULL;
}

int tg_userid_note(json_t *names, const char *id, const char *name)
{
    /* A name that is the id itself adds nothing to a message. */
    if (!tg_ident_present(id) || !tg_ident_present(name) ||
        strcasecmp(id, name) == 0 || json_object_get(names, id))
        return 0;
    return json_object_set_new(names, id, json_string(name)) ? TG_ENOMEM : 0;
}

const char *tg_userid_type_word(const char *s)
{
    char buf[64];
    const char *w = tg_ident_type_word(s);
    size_t i, n;

    if (w || !s)
        return w ? w : s;
    /* A choice's stored value spells the words of its label with '_' or
     * '-' ("service_account" for "Service account"), and the value is what
     * decides (ADAPTERS.md). The known words are short. */
    n = strlen(s);
    if (n >= sizeof buf)
        return s;
    for (i = 0; i <= n; i++)
        buf[i] = s[i] == '_' || s[i] == '-' ? ' ' : s[i];
    w = tg_ident_type_word(buf);
    return w ? w : s;
}
