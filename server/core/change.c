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

/* ---- the scan of tg_change_from_text: a cursor over one JSON text */

struct cur {
    const char *p, *end;
};

static void ws(struct cur *c)
{
    while (c->p < c->end &&
           (*c->p == ' ' || *c->p == '\n' || *c->p == '\r' || *c->p == '\t'))
        c->p++;
}

/* At '"': the string's bytes (between the quotes) in *s, *n; *esc when it
 * holds an escape. Leaves c after the closing quote. */
static int string(struct cur *c, const char **s, size_t *n, int *esc)
{
    const char *q;

    if (c->p >= c->end || *c->p != '"')
        return -1;
    *esc = 0;
    /* The next quote that no backslash escapes. */
    for (q = c->p + 1;; q++) {
        const char *b;
        if (!(q = memchr(q, '"', (size_t)(c->end - q))))
            return -1;
        for (b = q; b > c->p + 1 && b[-1] == '\\'; b--)
            ;
        if ((q - b) % 2 == 0)
            break;
    }
    *s = c->p + 1;
    *n = (size_t)(q - *s);
    *esc = memchr(*s, '\\', *n) != NULL;
    c->p = q + 1;
    return 0;
}

/* Skips one value of any kind. Strings are skipped whole, so a bracket
 * inside one is no bracket. */
static int skip(struct cur *c)
{
    size_t depth = 0;
    const char *s;
    size_t n;
    int esc;

    ws(c);
    do {
        if (c->p >= c->end)
            return -1;
        if (*c->p == '"') {
            if (string(c, &s, &n, &esc))
                return -1;
            continue;
        }
        if (*c->p == '{' || *c->p == '[')
            depth++;
        else if (*c->p == '}' || *c->p == ']') {
            if (depth == 0)
                return -1;
            depth--;
        } else if (depth == 0) {
            /* A number or a literal: up to the next delimiter. */
            while (c->p < c->end && *c->p != ',' && *c->p != '}' &&
                   *c->p != ']' && *c->p != ' ' && *c->p != '\n' &&
                   *c->p != '\r' && *c->p != '\t')
                c->p++;
            return 0;
        }
        c->p++;
    } while (depth > 0);
    return 0;
}

static int is(const char *s, size_t n, const char *lit)
{
    return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

/* The string value at c, unescaped, into buf (cap bytes, NUL-ended). */
static int word(struct cur *c, char *buf, size_t cap)
{
    const char *s;
    size_t n;
    int esc;

    ws(c);
    if (string(c, &s, &n, &esc) || esc || n >= cap)
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return 0;
}

/* Calls fn for each key of the object at c, with c at its value; fn
 * consumes the value. */
static int members(struct cur *c, int (*fn)(void *, struct cur *,
                                             const char *, size_t),
                   void *ctx)
{
    const char *k;
    size_t kn;
    int esc;

    ws(c);
    if (c->p >= c->end || *c->p != '{')
        return -1;
    c->p++;
    ws(c);
    if (c->p < c->end && *c->p == '}') {
        c->p++;
        return 0;
    }
    for (;;) {
        ws(c);
        if (string(c, &k, &kn, &esc))
            return -1;
        ws(c);
        if (c->p >= c->end || *c->p != ':')
            return -1;
        c->p++;
        if (fn(ctx, c, k, esc ? 0 : kn))
            return -1;
        ws(c);
        if (c->p < c->end && *c->p == ',') {
            c->p++;
            continue;
        }
        if (c->p < c->end && *c->p == '}') {
            c->p++;
            return 0;
        }
        return -1;
    }
}

struct finding_scan {
    char code[64], action[16];
};

static int finding_member(void *ctx, struct cur *c, const char *k, size_t n)
{
    struct finding_scan *f = ctx;

    if (is(k, n, "code"))
        return word(c, f->code, sizeof(f->code));
    if (is(k, n, "action"))
        return word(c, f->action, sizeof(f->action));
    return skip(c);
}

static int findings(struct cur *c, struct tg_change_side *s)
{
    ws(c);
    if (c->p >= c->end || *c->p != '[')
        return -1;
    c->p++;
    ws(c);
    if (c->p < c->end && *c->p == ']') {
        c->p++;
        return 0;
    }
    for (;;) {
        struct finding_scan f = {{0}, {0}};
        enum tg_code code;
        enum tg_action act;

        if (members(c, finding_member, &f) ||
            tg_code_parse(f.code, &code) != TG_OK ||
            tg_action_parse(f.action, &act) != TG_OK)
            return -1;
        note(s, code, act);
        ws(c);
        if (c->p < c->end && *c->p == ',') {
            c->p++;
            ws(c);
            continue;
        }
        if (c->p < c->end && *c->p == ']') {
            c->p++;
            return 0;
        }
        return -1;
    }
}

struct doc_scan {
    struct tg_change_side *s;
    int has_verdict;
};

static int doc_member(void *ctx, struct cur *c, const char *k, size_t n)
{
    struct doc_scan *d = ctx;
    char v[16];

    if (is(k, n, "decision")) {
        if (word(c, v, sizeof(v)) ||
            tg_change_verdict_parse(v, &d->s->verdict) != TG_OK)
            return -1;
        d->has_verdict = 1;
        return 0;
    }
    if (is(k, n, "findings"))
        return findings(c, d->s);
    return skip(c);
}

int tg_change_from_text(const char *s, size_t n, struct tg_change_side *out)
{
    struct cur c = {s, s + n};
    struct doc_scan d = {out, 0};

    memset(out, 0, sizeof(*out));
    if (members(&c, doc_member, &d) || !d.has_verdict)
        return TG_EINVAL;
    ws(&c);
    return c.p == c.end ? TG_OK : TG_EINVAL;
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
