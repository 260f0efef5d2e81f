/* change.c - whether a decision would change under another policy, and how. */
#include "server/core/change.h"

#include <string.h>

#include "validators/errors.h"

static void note(struct tg_change_side *s, enum tg_code c, enum tg_action a)
{
    unsigned char v = (unsigned char)(1 + a);

    if ((unsigned)c < TG_CODE_COUNT && s->act[c] < v)
        s->act[c] = v;
}

void tg_change_from_result(const struct tg_result *r, struct tg_change_side *s)
{
    memset(s, 0, sizeof(*s));
    s->verdict = r->verdict;
    for (size_t i = 0; i < r->findings.n; i++)
        note(s, r->findings.v[i].code, r->findings.v[i].action);
}

int tg_change_verdict_parse(const char *name, enum tg_verdict *out)
{
    static const enum tg_verdict all[] = {TG_ALLOW, TG_ANNOTATE, TG_DENY,
                                          TG_SKIP};

    for (size_t i = 0; name && i < sizeof(all) / sizeof(all[0]); i++)
        if (strcmp(tg_verdict_name(all[i]), name) == 0) {
            *out = all[i];
            return TG_OK;
        }
    return TG_EINVAL;
}

int tg_change_from_doc(const json_t *doc, struct tg_change_side *s)
{
    const json_t *findings, *f;
    size_t i;

    memset(s, 0, sizeof(*s));
    if (tg_change_verdict_parse(
            json_string_value(json_object_get(doc, "decision")),
            &s->verdict) != TG_OK)
        return TG_EINVAL;
    findings = json_object_get(doc, "findings");
    if (findings && !json_is_array(findings))
        return TG_EINVAL;
    json_array_foreach(findings, i, f) {
        const char *code = json_string_value(json_object_get(f, "code"));
        const char *act = json_string_value(json_object_get(f, "action"));
        enum tg_code c;
        enum tg_action a;

        if (!code || !act || tg_code_parse(code, &c) != TG_OK ||
            tg_action_parse(act, &a) != TG_OK)
            return TG_EINVAL;
        note(s, c, a);
    }
    return TG_OK;
}

int tg_change_differs(const struct tg_change_side *a,
                      const struct tg_change_side *b)
{
    return a->verdict != b->verdict ||
           memcmp(a->act, b->act, sizeof(a->act)) != 0;
}

size_t tg_change_codes(const struct tg_change_side *a,
                       const struct tg_change_side *b, enum tg_code *codes)
{
    size_t n = 0;

    for (size_t c = 0; c < TG_CODE_COUNT; c++)
        if (a->act[c] != b->act[c])
            codes[n++] = (enum tg_code)c;
    return n;
}

const char *tg_change_action_name(const struct tg_change_side *s,
                                  enum tg_code c)
{
    if ((unsigned)c >= TG_CODE_COUNT || s->act[c] == 0)
        return "off";
    return tg_action_name((enum tg_action)(s->act[c] - 1));
}
