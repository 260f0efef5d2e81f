/* identity.c - classification and comparison of identities. */
#include "identity.h"

#include "words.h"

#include <string.h>
#include <strings.h>

int tg_ident_present(const char *s)
{
    if (!s)
        return 0;
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r' &&
            *s != '\f' && *s != '\v')
            return 1;
    return 0;
}

struct tg_ident tg_ident_classify(const struct tg_directory *d, const char *s)
{
    struct tg_ident id = {s, {TG_ENT_NONE, 0}, TG_ID_ABSENT};
    if (!tg_ident_present(s))
        return id;
    id.ent = tg_directory_resolve(d, s, strlen(s));
    if (id.ent.kind == TG_ENT_GROUP)
        id.cls = TG_ID_NOT_INDIVIDUAL;
    else if (id.ent.kind == TG_ENT_PERSON)
        id.cls = d->people[id.ent.idx].type == TG_TYPE_HUMAN
                     ? TG_ID_PERSON
                     : TG_ID_NOT_INDIVIDUAL;
    else if (tg_directory_is_generic(d, s, strlen(s)))
        id.cls = TG_ID_NOT_INDIVIDUAL;
    else
        id.cls = TG_ID_UNKNOWN;
    return id;
}

int tg_ident_same(const struct tg_directory *d, const char *a, const char *b)
{
    struct tg_entity ea, eb;
    const char *ta, *tb;
    size_t na, nb;
    if (!tg_ident_present(a) || !tg_ident_present(b))
        return 0;
    ea = tg_directory_resolve(d, a, strlen(a));
    eb = tg_directory_resolve(d, b, strlen(b));
    if (ea.kind != TG_ENT_NONE || eb.kind != TG_ENT_NONE)
        return ea.kind == eb.kind && ea.idx == eb.idx;
    ta = a;
    na = strlen(a);
    tb = b;
    nb = strlen(b);
    tg_words_trim(&ta, &na);
    tg_words_trim(&tb, &nb);
    return na == nb && strncasecmp(ta, tb, na) == 0;
}

int tg_ident_repeats(const struct tg_directory *d, char *const *v, size_t i)
{
    if (!tg_ident_present(v[i]))
        return 0;
    for (size_t j = 0; j < i; j++)
        if (tg_ident_present(v[j]) && tg_ident_same(d, v[j], v[i]))
            return 1;
    return 0;
}

const char *tg_ident_type_word(const char *s)
{
    static const struct {
        const char *word, *type;
    } words[] = {
        {"service", "service"},   {"service account", "service"},
        {"service identity", "service"}, {"non-human", "service"},
        {"nonhuman", "service"},  {"machine", "service"},
        {"api key", "service"},   {"token", "service"},
        {"workload", "service"},  {"bot", "service"},
        {"shared", "shared"},     {"shared account", "shared"},
        {"human", "human"},       {"person", "human"},
        {"user", "human"},        {"employee", "human"},
    };
    size_t len, i;

    if (!tg_ident_present(s))
        return NULL;
    len = strlen(s);
    tg_words_trim(&s, &len);
    for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strlen(words[i].word) == len &&
            strncasecmp(words[i].word, s, len) == 0)
            return words[i].type;
    return NULL;
}
