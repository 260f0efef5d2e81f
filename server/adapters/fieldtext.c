/* fieldtext.c - the one reader of a field value's text, for both adapters:
 * strings, numbers and lists alike, objects as each adapter reads them. */
#include "server/adapters/fieldtext.h"

#include <stdio.h>
#include <stdlib.h>

#include "server/adapters/jsonfield.h"
#include "validators/errors.h"

/* Appends the decimal form of a JSON number. */
static int number_text(const json_t *v, struct tg_strbuf *b, int *present)
{
    char num[64];
    int n;

    if (json_is_integer(v))
        n = snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT,
                     json_integer_value(v));
    else
        n = snprintf(num, sizeof num, "%.15g", json_real_value(v));
    if (n < 0 || (size_t)n >= sizeof num)
        return TG_EINVAL;
    *present = 1;
    return tg_strbuf_putn(b, num, (size_t)n);
}

/* Appends the texts of a list's elements joined with ", ", those that give
 * nothing or "" left out. */
static int list_text(const struct tg_fieldtext *how, const json_t *v,
                     struct tg_strbuf *b, int *present)
{
    const json_t *e;
    size_t i;
    int rc = 0;

    json_array_foreach(v, i, e)
    {
        struct tg_strbuf one = TG_STRBUF_INIT(TG_FIELDTEXT_MAX);
        int p = 0;
        rc = tg_fieldtext_append(how, e, &one, &p);
        if (!rc && p && one.n) {
            if (*present)
                rc = tg_strbuf_putn(b, ", ", 2);
            if (!rc)
                rc = tg_strbuf_putn(b, one.p, one.n);
            *present = 1;
        }
        free(one.p);
        if (rc)
            return rc;
    }
    return 0;
}

int tg_fieldtext_append(const struct tg_fieldtext *how, const json_t *v,
                        struct tg_strbuf *b, int *present)
{
    if (!v)
        return 0;
    switch (json_typeof(v)) {
    case JSON_STRING:
        *present = 1;
        return tg_strbuf_putn(b, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
    case JSON_REAL:
        return number_text(v, b, present);
    case JSON_ARRAY:
        return list_text(how, v, b, present);
    case JSON_OBJECT:
        return how->object(how, v, b, present);
    default:
        return 0;
    }
}

int tg_fieldtext_dup(const struct tg_fieldtext *how, const json_t *v,
                     char **out)
{
    struct tg_strbuf b = TG_STRBUF_INIT(TG_FIELDTEXT_MAX);
    int present = 0, rc = tg_fieldtext_append(how, v, &b, &present);

    if (!rc && present && !b.p)
        rc = tg_strbuf_putn(&b, "", 0);
    if (rc || !present) {
        free(b.p);
        *out = NULL;
        return rc;
    }
    *out = b.p;
    return 0;
}

int tg_fieldtext_set(const struct tg_fieldtext *how, json_t *o, const char *k,
                     const json_t *v)
{
    char *s = NULL;
    int rc = tg_fieldtext_dup(how, v, &s);

    if (!rc)
        rc = tg_jsonfield_set_str(o, k, s);
    free(s);
    return rc;
}
