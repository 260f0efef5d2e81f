/* jfield.c - a skipping JSON walker: members by name, values as byte ranges. */
#include "server/outcomes/jfield.h"

#include <jansson.h>
#include <string.h>

static const char *ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

/* p at the opening quote; returns the byte after the closing one. */
static const char *skip_string(const char *p, const char *end)
{
    p++;
    for (;;) {
        const char *q = memchr(p, '"', (size_t)(end - p));
        const char *b;

        if (!q)
            return NULL;
        /* An odd run of backslashes before it escapes the quote. */
        for (b = q; b > p && b[-1] == '\\'; b--)
            ;
        if (((q - b) & 1) == 0)
            return q + 1;
        p = q + 1;
    }
}

/* Skips one value at p; returns the byte after it or NULL. Nesting is
 * tracked with a counter: brackets inside strings are skipped with them. */
static const char *skip_value(const char *p, const char *end)
{
    int depth = 0;

    p = ws(p, end);
    if (p >= end)
        return NULL;
    do {
        if (p >= end)
            return NULL;
        switch (*p) {
        case '"':
            p = skip_string(p, end);
            if (!p)
                return NULL;
            break;
        case '{':
        case '[':
            if (++depth > 256)
                return NULL;
            p++;
            break;
        case '}':
        case ']':
            if (depth == 0)
                return NULL;
            depth--;
            p++;
            break;
        default:
            if (depth == 0) {
                /* A number, true, false or null: up to a delimiter. */
                const char *s = p;
                while (p < end && *p != ',' && *p != '}' && *p != ']' &&
                       *p != ' ' && *p != '\n' && *p != '\r' && *p != '\t')
                    p++;
                return p > s ? p : NULL;
            }
            p++;
        }
    } while (depth > 0);
    return p;
}

struct tg_jval tg_jfield_doc(const char *p, size_t len)
{
    const char *end = p + len;
    struct tg_jval v;

    p = ws(p, end);
    while (end > p && (end[-1] == ' ' || end[-1] == '\n' || end[-1] == '\r' ||
                       end[-1] == '\t'))
        end--;
    v.p = p;
    v.end = end;
    return v;
}

/* Keeps the first n bytes of s in buf, cut back to a whole UTF-8
 * character when s does not fit. */
static size_t keep(char *buf, size_t cap, const char *s, size_t n)
{
    if (n >= cap) {
        n = cap - 1;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    return n;
}

static int walk(struct tg_jval v, int object, tg_jfield_fn fn, void *ctx)
{
    const char *p = v.p, *end = v.end;
    size_t i = 0;

    if (!p || p >= end || *p != (object ? '{' : '['))
        return -1;
    p = ws(p + 1, end);
    if (p < end && *p == (object ? '}' : ']'))
        return 0;
    for (;;) {
        const char *key = NULL;
        size_t klen = i;
        struct tg_jval m;
        int rc;

        if (object) {
            const char *k;
            if (p >= end || *p != '"')
                return -1;
            k = skip_string(p, end);
            if (!k)
                return -1;
            key = p + 1;
            klen = (size_t)(k - 1 - key);
            p = ws(k, end);
            if (p >= end || *p != ':')
                return -1;
            p++;
        }
        m.p = ws(p, end);
        m.end = skip_value(m.p, end);
        if (!m.end)
            return -1;
        rc = fn(ctx, key, klen, m);
        if (rc)
            return rc;
        i++;
        p = ws(m.end, end);
        if (p >= end)
            return -1;
        if (*p == ',') {
            p = ws(p + 1, end);
            continue;
        }
        return *p == (object ? '}' : ']') ? 0 : -1;
    }
}

int tg_jfield_each(struct tg_jval obj, tg_jfield_fn fn, void *ctx)
{
    return walk(obj, 1, fn, ctx);
}

int tg_jfield_items(struct tg_jval arr, tg_jfield_fn fn, void *ctx)
{
    return walk(arr, 0, fn, ctx);
}

struct get_ctx {
    const char *key;
    size_t klen;
    struct tg_jval *out;
};

static int get_one(void *ctx, const char *key, size_t klen, struct tg_jval v)
{
    struct get_ctx *g = ctx;

    if (klen == g->klen && memcmp(key, g->key, klen) == 0) {
        *g->out = v;
        return 2;
    }
    return 0;
}

int tg_jfield_get(struct tg_jval obj, const char *key, struct tg_jval *out)
{
    struct get_ctx g = {.key = key, .klen = strlen(key), .out = out};
    int rc = tg_jfield_each(obj, get_one, &g);

    if (rc == 2)
        return 0;
    return rc == 0 ? 1 : -1;
}

long tg_jfield_str(struct tg_jval v, char *buf, size_t cap)
{
    size_t n;
    json_t *s;
    long out;

    if (!v.p || v.end - v.p < 2 || *v.p != '"' || v.end[-1] != '"' || !cap)
        return -1;
    n = (size_t)(v.end - v.p - 2);
    if (!memchr(v.p + 1, '\\', n)) {
        return (long)keep(buf, cap, v.p + 1, n);
    }
    s = json_loadb(v.p, (size_t)(v.end - v.p), JSON_DECODE_ANY, NULL);
    if (!json_is_string(s)) {
        json_decref(s);
        return -1;
    }
    keep(buf, cap, json_string_value(s), json_string_length(s));
    /* A NUL inside ("\u0000") cuts the text there, as C would read it. */
    out = (long)strlen(buf);
    json_decref(s);
    return out;
}

int tg_jfield_bool(struct tg_jval v)
{
    size_t n = v.p ? (size_t)(v.end - v.p) : 0;

    if (n == 4 && memcmp(v.p, "true", 4) == 0)
        return 1;
    if (n == 5 && memcmp(v.p, "false", 5) == 0)
        return 0;
    return -1;
}

int tg_jfield_is_null(struct tg_jval v)
{
    return !v.p || (v.end - v.p == 4 && memcmp(v.p, "null", 4) == 0);
}
