/* jprint.c - the compact text of a jansson value, byte for byte jansson's. */
#include "server/util/jprint.h"

#include <stdint.h>
#include <string.h>

/* Deeper than this, jansson prints (it also finds a value that contains
 * itself, which only a cycle makes this deep). Our documents are 4 deep. */
#define DEPTH_MAX 64

enum { OK = 0, BAD = -1, DEEP = 1 };

struct out {
    char *buf;
    size_t cap;
    size_t n; /* the length so far, written or not */
};

static void put(struct out *o, const char *s, size_t n)
{
    if (o->n < o->cap)
        memcpy(o->buf + o->n, s, o->cap - o->n < n ? o->cap - o->n : n);
    o->n += n;
}

/* The length of the valid UTF-8 sequence of two to four bytes at s, or 0:
 * jansson's rules (no overlong form, no surrogate, nothing past
 * U+10FFFF). */
static size_t utf8_seq(const unsigned char *s, size_t left)
{
    uint32_t cp;
    size_t n;

    if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        n = 2;
        cp = s[0] & 0x1Fu;
    } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        n = 3;
        cp = s[0] & 0x0Fu;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        n = 4;
        cp = s[0] & 0x07u;
    } else {
        return 0;
    }
    if (left < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0u) != 0x80u)
            return 0;
        cp = cp << 6 | (s[i] & 0x3Fu);
    }
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) ||
        (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000))
        return 0;
    return n;
}

/* The escape jansson writes for c (a control character, '"' or '\\'). */
static void escape(struct out *o, unsigned char c)
{
    static const char hex[] = "0123456789ABCDEF";
    char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};

    switch (c) {
    case '\\':
        put(o, "\\\\", 2);
        break;
    case '"':
        put(o, "\\\"", 2);
        break;
    case '\b':
        put(o, "\\b", 2);
        break;
    case '\f':
        put(o, "\\f", 2);
        break;
    case '\n':
        put(o, "\\n", 2);
        break;
    case '\r':
        put(o, "\\r", 2);
        break;
    case '\t':
        put(o, "\\t", 2);
        break;
    default:
        put(o, u, sizeof(u));
    }
}

/* The quoted string (s, len): runs that need no escape are copied at
 * once. Returns OK or BAD (not valid UTF-8). */
static int string(struct out *o, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    const unsigned char *run = p;

    put(o, "\"", 1);
    while (p < end) {
        size_t n;

        if (*p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\') {
            p++;
            continue;
        }
        if (*p >= 0x80) {
            if (!(n = utf8_seq(p, (size_t)(end - p))))
                return BAD;
            p += n;
            continue;
        }
        put(o, (const char *)run, (size_t)(p - run));
        escape(o, *p++);
        run = p;
    }
    put(o, (const char *)run, (size_t)(p - run));
    put(o, "\"", 1);
    return OK;
}

static void integer(struct out *o, json_int_t v)
{
    char d[24];
    size_t i = sizeof(d);
    /* the magnitude as unsigned: -INT64_MIN does not fit the signed type */
    unsigned long long u = v < 0 ? 0ull - (unsigned long long)v
                                 : (unsigned long long)v;

    do {
        d[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        d[--i] = '-';
    put(o, d + i, sizeof(d) - i);
}

/* A real as jansson prints it (its precision and its ".0"): rare in our
 * documents, so jansson itself formats it. */
static int real(struct out *o, const json_t *v)
{
    char d[64];
    size_t n = json_dumpb(v, d, sizeof(d), JSON_COMPACT | JSON_ENCODE_ANY);

    if (n == 0 || n > sizeof(d))
        return BAD;
    put(o, d, n);
    return OK;
}

static int value(struct out *o, const json_t *v, int depth);

static int object(struct out *o, const json_t *v, int depth)
{
    void *first = json_object_iter((json_t *)v);
    int rc = OK;

    put(o, "{", 1);
    /* json_object_iter walks the members in insertion order, as
     * json_dumpb does without JSON_SORT_KEYS */
    for (void *it = first; it && rc == OK;
         it = json_object_iter_next((json_t *)v, it)) {
        if (it != first)
            put(o, ",", 1);
        rc = string(o, json_object_iter_key(it), json_object_iter_key_len(it));
        if (rc == OK) {
            put(o, ":", 1);
            rc = value(o, json_object_iter_value(it), depth + 1);
        }
    }
    put(o, "}", 1);
    return rc;
}

static int array(struct out *o, const json_t *v, int depth)
{
    size_t n = json_array_size(v);
    int rc = OK;

    put(o, "[", 1);
    for (size_t i = 0; i < n && rc == OK; i++) {
        if (i > 0)
            put(o, ",", 1);
        rc = value(o, json_array_get(v, i), depth + 1);
    }
    put(o, "]", 1);
    return rc;
}

static int value(struct out *o, const json_t *v, int depth)
{
    if (depth > DEPTH_MAX)
        return DEEP;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return object(o, v, depth);
    case JSON_ARRAY:
        return array(o, v, depth);
    case JSON_STRING:
        return string(o, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        integer(o, json_integer_value(v));
        return OK;
    case JSON_REAL:
        return real(o, v);
    case JSON_TRUE:
        put(o, "true", 4);
        return OK;
    case JSON_FALSE:
        put(o, "false", 5);
        return OK;
    case JSON_NULL:
        put(o, "null", 4);
        return OK;
    }
    return BAD;
}

size_t tg_jprint(const json_t *v, char *buf, size_t cap)
{
    struct out o = {.buf = buf, .cap = cap, .n = 0};
    int rc;

    if (!v || (!json_is_object(v) && !json_is_array(v)))
        return 0;
    rc = value(&o, v, 0);
    if (rc == DEEP)
        return json_dumpb(v, buf, cap, JSON_COMPACT);
    return rc == OK ? o.n : 0;
}
