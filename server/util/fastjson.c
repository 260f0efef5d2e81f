/* fastjson.c - a quick reader of the JSON texts ticketgate wrote itself. */
#include "server/util/fastjson.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64
/* Strings up to this long are decoded on the stack. */
#define STACK_STR 1024

struct rd {
    const char *p, *end;
};

static void ws(struct rd *r)
{
    while (r->p < r->end &&
           (*r->p == ' ' || *r->p == '\n' || *r->p == '\r' || *r->p == '\t'))
        r->p++;
}

/* 1 when the n bytes at s are UTF-8 as RFC 3629 has it (what jansson
 * checks): no overlong forms, no surrogates, nothing past U+10FFFF. */
static int utf8_ok(const unsigned char *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        unsigned c = s[i];
        size_t k;
        uint32_t cp;
        uint64_t w;

        /* ASCII eight bytes at a time: most of a ticket is. */
        if (n - i >= 8) {
            memcpy(&w, s + i, 8);
            if (!(w & 0x8080808080808080ULL)) {
                i += 8;
                continue;
            }
        }
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            k = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            k = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            k = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (n - i <= k)
            return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + j] & 0x3f);
        }
        if ((k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) ||
            (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
            return 0;
        i += k + 1;
    }
    return 1;
}

static int hex4(const char *p, uint32_t *out)
{
    uint32_t v = 0;

    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (uint32_t)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/*
 * The string at r->p ('"'), decoded into buf (cap bytes; an escape never
 * makes more bytes than it takes) or, without escapes, left in place:
 * *out points to its bytes and *len is their count; *out is NUL-terminated
 * only when decoded (*nul). Returns 0 or -1 (fall back).
 */
static int string(struct rd *r, char *buf, size_t cap, const char **out,
                  size_t *len)
{
    const char *s = ++r->p, *q = s;
    size_t o = 0;

    while (q < r->end && *q != '"' && *q != '\\') {
        if ((unsigned char)*q < 0x20)
            return -1;
        q++;
    }
    if (q >= r->end)
        return -1;
    if (*q == '"') {
        if (!utf8_ok((const unsigned char *)s, (size_t)(q - s)))
            return -1;
        *out = s;
        *len = (size_t)(q - s);
        r->p = q + 1;
        return 0;
    }
    /* Escapes: decode the whole string into buf. */
    for (q = s; q < r->end && *q != '"'; q++) {
        if (o + 4 >= cap)
            return -1;
        if ((unsigned char)*q < 0x20)
            return -1;
        if (*q != '\\') {
            buf[o++] = *q;
            continue;
        }
        if (++q >= r->end)
            return -1;
        switch (*q) {
        case '"': buf[o++] = '"'; break;
        case '\\': buf[o++] = '\\'; break;
        case '/': buf[o++] = '/'; break;
        case 'b': buf[o++] = '\b'; break;
        case 'f': buf[o++] = '\f'; break;
        case 'n': buf[o++] = '\n'; break;
        case 'r': buf[o++] = '\r'; break;
        case 't': buf[o++] = '\t'; break;
        case 'u': {
            uint32_t cp, lo;
            if (r->end - q < 5 || hex4(q + 1, &cp))
                return -1;
            q += 4;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (r->end - q < 7 || q[1] != '\\' || q[2] != 'u' ||
                    hex4(q + 3, &lo) || lo < 0xdc00 || lo > 0xdfff)
                    return -1;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                q += 6;
            } else if ((cp >= 0xdc00 && cp <= 0xdfff) || cp == 0) {
                return -1; /* a lone low surrogate; \u0000: jansson's call */
            }
            o += put_utf8(buf + o, cp);
            break;
        }
        default:
            return -1;
        }
    }
    if (q >= r->end || !utf8_ok((const unsigned char *)buf, o))
        return -1;
    buf[o] = '\0';
    *out = buf;
    *len = o;
    r->p = q + 1;
    return 0;
}

static json_t *value(struct rd *r, int depth);

/* An integer (no fraction, no exponent, within int64), or NULL. */
static json_t *number(struct rd *r)
{
    const char *q = r->p;
    int neg = 0;
    uint64_t v = 0;

    if (*q == '-') {
        neg = 1;
        q++;
    }
    if (q >= r->end || *q < '0' || *q > '9' || (*q == '0' && q + 1 < r->end &&
                                                 q[1] >= '0' && q[1] <= '9'))
        return NULL;
    for (; q < r->end && *q >= '0' && *q <= '9'; q++) {
        if (v > (UINT64_MAX - 9) / 10)
            return NULL;
        v = v * 10 + (uint64_t)(*q - '0');
    }
    if (q < r->end && (*q == '.' || *q == 'e' || *q == 'E'))
        return NULL;
    if (v > (uint64_t)INT64_MAX + (neg ? 1u : 0u))
        return NULL;
    r->p = q;
    return json_integer(neg ? (json_int_t)(0 - v) : (json_int_t)v);
}

static json_t *object(struct rd *r, int depth)
{
    json_t *o = json_object();
    char kbuf[STACK_STR];

    r->p++;
    ws(r);
    if (r->p < r->end && *r->p == '}') {
        r->p++;
        return o;
    }
    while (o) {
        const char *k;
        size_t kn;
        json_t *v;
        char *key;

        ws(r);
        if (r->p >= r->end || *r->p != '"' ||
            string(r, kbuf, sizeof(kbuf), &k, &kn))
            goto fail;
        /* jansson keys are C strings; copy an in-place key to end it. */
        if (k != kbuf) {
            if (kn >= sizeof(kbuf))
                goto fail;
            memcpy(kbuf, k, kn);
            kbuf[kn] = '\0';
        }
        key = kbuf;
        if (strlen(key) != kn) /* a NUL inside the key */
            goto fail;
        ws(r);
        if (r->p >= r->end || *r->p != ':')
            goto fail;
        r->p++;
        if (!(v = value(r, depth + 1)) ||
            json_object_set_new_nocheck(o, key, v) != 0)
            goto fail;
        ws(r);
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            continue;
        }
        if (r->p < r->end && *r->p == '}') {
            r->p++;
            return o;
        }
        goto fail;
    }
fail:
    json_decref(o);
    return NULL;
}

static json_t *array(struct rd *r, int depth)
{
    json_t *a = json_array();

    r->p++;
    ws(r);
    if (r->p < r->end && *r->p == ']') {
        r->p++;
        return a;
    }
    while (a) {
        json_t *v = value(r, depth + 1);
        if (!v || json_array_append_new(a, v) != 0)
            break;
        ws(r);
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            continue;
        }
        if (r->p < r->end && *r->p == ']') {
            r->p++;
            return a;
        }
        break;
    }
    json_decref(a);
    return NULL;
}

static int literal(struct rd *r, const char *lit)
{
    size_t n = strlen(lit);

    if ((size_t)(r->end - r->p) < n || memcmp(r->p, lit, n) != 0)
        return -1;
    r->p += n;
    return 0;
}

static json_t *value(struct rd *r, int depth)
{
    ws(r);
    if (r->p >= r->end || depth > MAX_DEPTH)
        return NULL;
    switch (*r->p) {
    case '{':
        return object(r, depth);
    case '[':
        return array(r, depth);
    case '"': {
        char buf[STACK_STR];
        const char *s;
        size_t n;
        if (string(r, buf, sizeof(buf), &s, &n))
            return NULL;
        return json_stringn_nocheck(s, n);
    }
    case 't':
        return literal(r, "true") ? NULL : json_true();
    case 'f':
        return literal(r, "false") ? NULL : json_false();
    case 'n':
        return literal(r, "null") ? NULL : json_null();
    default:
        return number(r);
    }
}

json_t *tg_fastjson_load(const char *s, size_t n)
{
    struct rd r = {s, s + n};

    if (!s)
        return NULL;
    return value(&r, 1);
}
