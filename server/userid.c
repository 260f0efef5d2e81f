/* userid.c - the identity of an ITSM user value (ADAPTERS.md "Identities"). */
#include "userid.h"

#include <string.h>
#include <strings.h>

const char *tg_userid_pick(const struct tg_directory *d, const json_t *v,
                           const char *const *keys, size_t n)
{
    const char *first = NULL;

    if (json_is_string(v))
        return json_string_value(v);
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
    static const char *const service[] = {
        "service", "service account", "service identity", "non-human",
        "nonhuman", "machine", "api key", "token", "workload", "bot"};
    static const char *const human[] = {"human", "person", "user",
                                        "employee"};
    size_t i;

    if (!s)
        return NULL;
    for (i = 0; i < sizeof service / sizeof service[0]; i++)
        if (strcasecmp(s, service[i]) == 0)
            return "service";
    for (i = 0; i < sizeof human / sizeof human[0]; i++)
        if (strcasecmp(s, human[i]) == 0)
            return "human";
    return s;
}
