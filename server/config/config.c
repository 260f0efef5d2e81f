/* config.c - loads ticketgate.yaml and its directory into struct tg_config. */
#include "server/config/config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <yaml.h>

#include "validators/codes.h"
#include "validators/errors.h"
#include "validators/timeparse.h"

/* A configuration is a page or two; a directory exported from an identity
 * provider can be large, but not unbounded. */
#define CONFIG_MAX_BYTES ((size_t)16 << 20)
#define DIRECTORY_MAX_BYTES ((size_t)256 << 20)
#define KEYFILE_MAX_BYTES ((size_t)1 << 20)
/* A value after ${NAME} substitution (the environment is not ours). */
#define VALUE_MAX_BYTES ((size_t)1 << 20)
/* How much of a value a diagnostic quotes, and the buffer that holds it. */
#define SHOW_MAX 60
#define SHOW_CAP (SHOW_MAX + 4)
/* Names of settings in diagnostics ("gates[3].projects") are built from the
 * schema's own key names and indexes, never from input. */
#define NAME_CAP 128
/* A group cycle message names at most this many groups. */
#define CYCLE_SHOW 20

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------ diagnostics */

void tg_diag_init(struct tg_diag *d)
{
    d->msgs = NULL;
    d->n = 0;
    d->cap = 0;
}

void tg_diag_cleanup(struct tg_diag *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++)
        free(d->msgs[i]);
    free(d->msgs);
    tg_diag_init(d);
}

/* line <= 0 means the problem concerns the whole file (it cannot be read):
 * then the message is "file: ..." without a line. */
__attribute__((format(printf, 4, 0)))
static void diag_vadd(struct tg_diag *d, const char *file, int line,
                      const char *fmt, va_list ap)
{
    va_list cp;
    char *body = NULL, *msg = NULL;
    int blen, mlen;

    if (!d)
        return;
    if (!file)
        file = "(configuration)";
    va_copy(cp, ap);
    blen = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (blen < 0)
        goto out;
    body = malloc((size_t)blen + 1);
    if (!body || vsnprintf(body, (size_t)blen + 1, fmt, ap) != blen)
        goto out;
    if (line > 0)
        mlen = snprintf(NULL, 0, "%s:%d: %s", file, line, body);
    else
        mlen = snprintf(NULL, 0, "%s: %s", file, body);
    if (mlen < 0)
        goto out;
    msg = malloc((size_t)mlen + 1);
    if (!msg)
        goto out;
    if ((line > 0 ? snprintf(msg, (size_t)mlen + 1, "%s:%d: %s", file, line,
                             body)
                  : snprintf(msg, (size_t)mlen + 1, "%s: %s", file, body)) !=
        mlen)
        goto out;
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 16;
        char **v = realloc(d->msgs, cap * sizeof(*v));
        if (!v)
            goto out;
        d->msgs = v;
        d->cap = cap;
    }
    d->msgs[d->n++] = msg;
    msg = NULL;
out:
    free(body);
    free(msg);
}

void tg_diag_add(struct tg_diag *d, const char *file, int line,
                 const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_vadd(d, file, line, fmt, ap);
    va_end(ap);
}

/* ----------------------------------------------------------------- loader */

/* Where each diagnostic of this load points, so that they can be listed in
 * file and line order at the end: readers report as they go, section by
 * section, and unknown keys before the values. */
struct dkey {
    unsigned long long key; /* file rank << 32 | line */
    size_t seq;
    char *msg;
};

struct dkeys {
    struct dkey *v;
    size_t n, cap;
    size_t base;  /* diag->n when this load began */
    int broken;   /* a key went missing (no memory): keep the order */
};

/*
 * One file being read. The readers below report every problem they find and
 * go on, so that one load lists them all (lint's promise); their int result
 * is for callers that need the value. An allocation failure sets oom, which
 * fails the whole load at the end.
 */
struct ld {
    struct tg_diag *diag;
    const char *file;   /* as diagnostics name it */
    yaml_document_t *doc;
    const char *basedir; /* relative paths are relative to it */
    int subst;          /* expand ${NAME} from the environment */
    size_t errors;
    int oom;
    struct dkeys *keys;
    unsigned rank; /* 0 the configuration, 1 the directory */
};

static int line_of(const yaml_node_t *n)
{
    if (!n)
        return 0;
    return n->start_mark.line >= (size_t)INT_MAX - 1
               ? INT_MAX
               : (int)n->start_mark.line + 1;
}

__attribute__((format(printf, 3, 0)))
static void problem_v(struct ld *L, int line, const char *fmt, va_list ap)
{
    size_t before = L->diag ? L->diag->n : 0;
    struct dkeys *k = L->keys;

    L->errors++;
    diag_vadd(L->diag, L->file, line, fmt, ap);
    if (!k || !L->diag || L->diag->n == before)
        return;
    if (k->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 32;
        struct dkey *v = realloc(k->v, cap * sizeof(*v));
        if (!v) {
            k->broken = 1;
            return;
        }
        k->v = v;
        k->cap = cap;
    }
    k->v[k->n].key = ((unsigned long long)L->rank << 32) |
                     (unsigned long long)(line > 0 ? line : 0);
    k->v[k->n].seq = k->n;
    k->n++;
}

__attribute__((format(printf, 3, 4)))
static void problem_at(struct ld *L, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    problem_v(L, line, fmt, ap);
    va_end(ap);
}

__attribute__((format(printf, 3, 4)))
static void problem(struct ld *L, const yaml_node_t *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    problem_v(L, line_of(n), fmt, ap);
    va_end(ap);
}

static int dkey_cmp(const void *a, const void *b)
{
    const struct dkey *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Puts this load's diagnostics in file and line order (stable). */
static void sort_diags(struct tg_diag *d, struct dkeys *k)
{
    if (!d || k->broken || k->n != d->n - k->base || k->n < 2)
        return;
    for (size_t i = 0; i < k->n; i++)
        k->v[i].msg = d->msgs[k->base + i];
    qsort(k->v, k->n, sizeof(*k->v), dkey_cmp);
    for (size_t i = 0; i < k->n; i++)
        d->msgs[k->base + i] = k->v[i].msg;
}

static int nomem(struct ld *L)
{
    L->oom = 1;
    return TG_ENOMEM;
}

static int status(const struct ld *L)
{
    return L->oom ? TG_ENOMEM : TG_OK;
}

__attribute__((format(printf, 3, 4)))
static const char *name_of(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    int r;
    va_start(ap, fmt);
    r = vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
    /* A cut name still points the reader at the right place. */
    if (r < 0)
        buf[0] = '\0';
    return buf;
}

/* A printable excerpt of s[0..len) for a diagnostic: control bytes become
 * '?', long values are cut (at a UTF-8 boundary) and end in "...". */
static const char *show(const char *s, size_t len, char *buf, size_t cap)
{
    size_t n = len, i;
    int cut = 0;

    if (cap < 5) {
        if (cap)
            buf[0] = '\0';
        return buf;
    }
    if (n > cap - 4) {
        n = cap - 4;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
        cut = 1;
    }
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    if (cut) {
        memcpy(buf + i, "...", 3);
        i += 3;
    }
    buf[i] = '\0';
    return buf;
}

static const char *show_node(const yaml_node_t *n, char *buf, size_t cap)
{
    if (n->type != YAML_SCALAR_NODE)
        return show("", 0, buf, cap);
    return show((const char *)n->data.scalar.value, n->data.scalar.length,
                buf, cap);
}

static const char *kind_name(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_SEQUENCE_NODE:
        return "a list";
    case YAML_MAPPING_NODE:
        return "a mapping";
    default:
        return "a single value";
    }
}

/* A plain scalar that YAML reads as null: `key:`, `key: ~`, `key: null`. */
static int is_null(const yaml_node_t *n)
{
    const char *v;
    if (n->type != YAML_SCALAR_NODE ||
        n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    v = (const char *)n->data.scalar.value;
    return n->data.scalar.length == 0 || strcmp(v, "~") == 0 ||
           strcmp(v, "null") == 0 || strcmp(v, "Null") == 0 ||
           strcmp(v, "NULL") == 0;
}

static int is_blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
            return 0;
    return 1;
}

static void lower_ascii(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
}

static void free_secret(char *s)
{
    if (s) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

static void free_strs(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static yaml_node_t *node_at(const struct ld *L, int id)
{
    return yaml_document_get_node(L->doc, id);
}

/* ------------------------------------------------------- the byte buffer */

/* A growable string with a maximum; past it, or out of memory, it fails. */
struct sbuf {
    char *p;
    size_t len, cap, max;
    int err; /* TG_ENOMEM or TG_ETOOBIG once failed */
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
    if (b->err)
        return;
    if (n > b->max - b->len) {
        b->err = TG_ETOOBIG;
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        char *p;
        while (cap < b->len + n + 1)
            cap *= 2;
        p = realloc(b->p, cap);
        if (!p) {
            b->err = TG_ENOMEM;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_free(struct sbuf *b)
{
    if (b->p)
        OPENSSL_cleanse(b->p, b->cap);
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* ------------------------------------------------------- scalar readers */

static int is_name_start(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static int is_name_char(char c)
{
    return is_name_start(c) || (c >= '0' && c <= '9');
}

/*
 * Replaces every ${NAME} in s[0..len) with the environment's NAME. Text that
 * only looks like it ("${", "${not a name}") is kept as written. An unset
 * variable is a problem naming it. Returns TG_OK and a new string in *out,
 * TG_EINVAL (reported) or TG_ENOMEM.
 */
static int expand(struct ld *L, const yaml_node_t *n, const char *name,
                  const char *s, size_t len, char **out)
{
    struct sbuf b = {NULL, 0, 0, VALUE_MAX_BYTES, 0};
    size_t i = 0, run = 0;
    int bad = 0;

    sb_add(&b, "", 0);
    while (i < len) {
        size_t j = i + 2;
        if (s[i] != '$' || i + 1 >= len || s[i + 1] != '{' || j >= len ||
            !is_name_start(s[j])) {
            i++;
            continue;
        }
        while (j < len && is_name_char(s[j]))
            j++;
        if (j >= len || s[j] != '}') {
            i++;
            continue;
        }
        sb_add(&b, s + run, i - run);
        {
            char *var = strndup(s + i + 2, j - i - 2);
            const char *v;
            if (!var) {
                sb_free(&b);
                return nomem(L);
            }
            v = getenv(var);
            if (!v) {
                problem(L, n,
                        "%s uses the environment variable %.*s, which is not "
                        "set; export it before starting ticketgate or write "
                        "the value here",
                        name, SHOW_MAX, var);
                bad = 1;
            } else {
                sb_add(&b, v, strlen(v));
            }
            free(var);
        }
        i = run = j + 1;
    }
    sb_add(&b, s + run, len - run);
    if (b.err == TG_ENOMEM) {
        sb_free(&b);
        return nomem(L);
    }
    if (b.err) {
        problem(L, n, "%s is longer than %zu bytes after ${NAME} "
                      "substitution; shorten the variable's value",
                name, (size_t)VALUE_MAX_BYTES);
        bad = 1;
    }
    if (bad) {
        sb_free(&b);
        return TG_EINVAL;
    }
    *out = b.p;
    return TG_OK;
}

/* The text of scalar n (${NAME} expanded in the configuration file) as a new
 * string. Returns TG_OK, TG_EINVAL (reported) or TG_ENOMEM. */
static int scalar_text(struct ld *L, const yaml_node_t *n, const char *name,
                       char **out)
{
    const char *s = (const char *)n->data.scalar.value;
    size_t len = n->data.scalar.length;
    char *v;

    /* A "\0" escape would cut the value short for every C consumer. */
    if (memchr(s, '\0', len)) {
        problem(L, n, "%s contains a NUL character; remove it", name);
        return TG_EINVAL;
    }
    if (L->subst)
        return expand(L, n, name, s, len, out);
    v = strndup(s, len);
    if (!v)
        return nomem(L);
    *out = v;
    return TG_OK;
}

enum {
    F_REQ = 1,    /* empty or null is a problem */
    F_SECRET = 2, /* a credential: empty is a problem, and wipe it */
    F_LOWER = 4,  /* store lower case */
    F_GLOB = 8,   /* lists: each item is a glob pattern */
    F_WORD = 16,  /* lists: each item is one word of REASONS.md */
};

static void empty_problem(struct ld *L, const yaml_node_t *n,
                          const char *name, unsigned flags)
{
    if (flags & F_SECRET)
        problem(L, n, "%s is empty; set the secret (or ${NAME} to read it "
                      "from the environment) or remove the key",
                name);
    else
        problem(L, n, "%s is empty; give it a value or remove the key", name);
}

/*
 * Reads scalar n into *out (a new string; the old one is freed). Returns
 * TG_OK, TG_ENOTFOUND when n is NULL or null (then *out is untouched and
 * nothing is reported unless flags make it required), TG_EINVAL (reported)
 * or TG_ENOMEM.
 */
static int get_str(struct ld *L, const yaml_node_t *n, const char *name,
                   unsigned flags, char **out)
{
    char *v = NULL;
    int rc;

    if (!n)
        return TG_ENOTFOUND;
    if (n->type != YAML_SCALAR_NODE) {
        problem(L, n, "%s is %s; write a single value", name, kind_name(n));
        return TG_EINVAL;
    }
    if (is_null(n)) {
        if (flags & (F_REQ | F_SECRET)) {
            empty_problem(L, n, name, flags);
            return TG_EINVAL;
        }
        return TG_ENOTFOUND;
    }
    if ((rc = scalar_text(L, n, name, &v)) != TG_OK)
        return rc;
    if ((flags & (F_REQ | F_SECRET)) && is_blank(v)) {
        empty_problem(L, n, name, flags);
        if (flags & F_SECRET)
            free_secret(v);
        else
            free(v);
        return TG_EINVAL;
    }
    if (flags & F_LOWER)
        lower_ascii(v);
    if (flags & F_SECRET)
        free_secret(*out);
    else
        free(*out);
    *out = v;
    return TG_OK;
}

/* The one integer parser: an optional '-' and decimal digits, nothing else.
 * Returns TG_OK, TG_EINVAL (not a number) or TG_ETOOBIG (out of range). */
static int parse_ll(const char *s, long long *out)
{
    const char *d = s[0] == '-' ? s + 1 : s;
    char *end;
    long long v;

    if (*d < '0' || *d > '9')
        return TG_EINVAL;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (*end != '\0')
        return TG_EINVAL;
    if (errno == ERANGE)
        return TG_ETOOBIG;
    *out = v;
    return TG_OK;
}

/* Reads a whole number in [min, max] into *out. Same results as get_str. */
static int get_int(struct ld *L, const yaml_node_t *n, const char *name,
                   long long min, long long max, long long *out)
{
    char *v = NULL;
    char sh[SHOW_CAP];
    long long x = 0;
    int rc;

    if (!n)
        return TG_ENOTFOUND;
    if (n->type != YAML_SCALAR_NODE) {
        problem(L, n, "%s is %s; write a whole number", name, kind_name(n));
        return TG_EINVAL;
    }
    if (is_null(n)) {
        problem(L, n, "%s has no value; write a whole number or remove the "
                      "key", name);
        return TG_EINVAL;
    }
    if ((rc = scalar_text(L, n, name, &v)) != TG_OK)
        return rc;
    rc = parse_ll(v, &x);
    if (rc == TG_EINVAL) {
        problem(L, n, "%s is '%s', not a whole number; write digits only",
                name, show(v, strlen(v), sh, sizeof(sh)));
    } else if (rc == TG_ETOOBIG || x > max) {
        problem(L, n, "%s is '%s', too large; write a number of at most %lld",
                name, show(v, strlen(v), sh, sizeof(sh)), max);
        rc = TG_EINVAL;
    } else if (x < 0 && min >= 0) {
        problem(L, n, "%s is negative (%lld); write a number of at least "
                      "%lld", name, x, min);
        rc = TG_EINVAL;
    } else if (x < min) {
        problem(L, n, "%s is %lld; write a number of at least %lld", name, x,
                min);
        rc = TG_EINVAL;
    }
    free(v);
    if (rc == TG_OK)
        *out = x;
    return rc;
}

static int get_uint(struct ld *L, const yaml_node_t *n, const char *name,
                    unsigned min, unsigned max, unsigned *out)
{
    long long x;
    int rc = get_int(L, n, name, min, max, &x);
    if (rc == TG_OK)
        *out = (unsigned)x;
    return rc;
}

static int get_intv(struct ld *L, const yaml_node_t *n, const char *name,
                    int min, int max, int *out)
{
    long long x;
    int rc = get_int(L, n, name, min, max, &x);
    if (rc == TG_OK)
        *out = (int)x;
    return rc;
}

/* Reads one of names (any case) into *out as its index. */
static int get_enum(struct ld *L, const yaml_node_t *n, const char *name,
                    const char *const *names, size_t count, int *out)
{
    char *v = NULL;
    char sh[SHOW_CAP], hint[160];
    size_t used = 0;
    int rc;

    if ((rc = get_str(L, n, name, F_REQ, &v)) != TG_OK)
        return rc;
    for (size_t i = 0; i < count; i++) {
        if (strcasecmp(v, names[i]) == 0) {
            *out = (int)i;
            free(v);
            return TG_OK;
        }
    }
    hint[0] = '\0';
    for (size_t i = 0; i < count; i++) {
        int r = snprintf(hint + used, sizeof(hint) - used, "%s%s",
                         i == 0 ? "" : i + 1 == count ? " or " : ", ",
                         names[i]);
        if (r < 0 || (size_t)r >= sizeof(hint) - used)
            break;
        used += (size_t)r;
    }
    problem(L, n, "%s is '%s'; write %s", name,
            show(v, strlen(v), sh, sizeof(sh)), hint);
    free(v);
    return TG_EINVAL;
}

static int get_bool(struct ld *L, const yaml_node_t *n, const char *name,
                    int *out)
{
    static const char *const names[] = {"false", "true", "no", "yes"};
    int i, rc = get_enum(L, n, name, names, COUNT(names), &i);
    if (rc == TG_OK)
        *out = i % 2;
    return rc;
}

static int get_action(struct ld *L, const yaml_node_t *n, const char *name,
                      enum tg_action *out)
{
    char *v = NULL;
    char sh[SHOW_CAP];
    int rc;

    if ((rc = get_str(L, n, name, F_REQ | F_LOWER, &v)) != TG_OK)
        return rc;
    if (tg_action_parse(v, out) != TG_OK) {
        problem(L, n, "%s is '%s'; write deny, warn or off", name,
                show(v, strlen(v), sh, sizeof(sh)));
        rc = TG_EINVAL;
    }
    free(v);
    return rc;
}

/* Why pattern p would not work as fnmatch(3) means it, or NULL when it is a
 * good glob. glibc takes an unclosed '[' literally; we refuse it, since
 * whoever wrote it meant a set. */
static const char *glob_problem(const char *p)
{
    if (!*p)
        return "is empty";
    for (size_t i = 0; p[i]; i++) {
        size_t j;
        if (p[i] == '\\') {
            if (!p[i + 1])
                return "ends in a lone '\\'";
            i++;
            continue;
        }
        if (p[i] != '[')
            continue;
        j = i + 1;
        if (p[j] == '!' || p[j] == '^')
            j++;
        if (p[j] == ']') /* first in a set, ']' stands for itself */
            j++;
        while (p[j] && p[j] != ']') {
            if (p[j] == '\\' && p[j + 1]) {
                j += 2;
            } else if (p[j] == '[' &&
                       (p[j + 1] == ':' || p[j + 1] == '.' ||
                        p[j + 1] == '=')) {
                char k = p[j + 1];
                size_t e = j + 2;
                while (p[e] && !(p[e] == k && p[e + 1] == ']'))
                    e++;
                if (!p[e])
                    return "has an unbalanced '['";
                j = e + 2;
            } else {
                j++;
            }
        }
        if (!p[j])
            return "has an unbalanced '['";
        i = j;
    }
    return NULL;
}

/* A word of REASONS.md is a run of ASCII letters and digits and non-ASCII
 * bytes; a listed "word" with anything else in it could never match. */
static int is_one_word(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (!(c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
              (c >= 'A' && c <= 'Z')))
            return 0;
    }
    return 1;
}

/*
 * Reads list n of single values into a new array (the old one is freed).
 * null is an empty list. Items with problems are reported and left out.
 * Same results as get_str.
 */
static int get_strlist(struct ld *L, const yaml_node_t *n, const char *name,
                       unsigned flags, char ***out, size_t *nout)
{
    char **v;
    size_t cnt = 0, idx = 0;
    char nm[NAME_CAP], sh[SHOW_CAP];
    int bad = 0;

    if (!n)
        return TG_ENOTFOUND;
    if (is_null(n)) {
        free_strs(*out, *nout);
        *out = NULL;
        *nout = 0;
        return TG_OK;
    }
    if (n->type != YAML_SEQUENCE_NODE) {
        problem(L, n, "%s is %s; write a list such as [\"a\", \"b\"]", name,
                kind_name(n));
        return TG_EINVAL;
    }
    v = calloc((size_t)(n->data.sequence.items.top -
                        n->data.sequence.items.start) + 1,
               sizeof(*v));
    if (!v)
        return nomem(L);
    for (yaml_node_item_t *it = n->data.sequence.items.start;
         it < n->data.sequence.items.top; it++, idx++) {
        yaml_node_t *item = node_at(L, *it);
        char *s = NULL;
        const char *why;
        int rc;
        name_of(nm, sizeof(nm), "%s[%zu]", name, idx);
        rc = get_str(L, item, nm, (flags & (F_LOWER | F_SECRET)) | F_REQ, &s);
        if (rc == TG_ENOMEM) {
            free_strs(v, cnt);
            return rc;
        }
        if (rc != TG_OK) {
            bad = 1;
            continue;
        }
        if ((flags & F_GLOB) && (why = glob_problem(s)) != NULL) {
            problem(L, item, "%s: the pattern '%s' %s; close every '[' with "
                             "']' or escape it as '\\['",
                    nm, show(s, strlen(s), sh, sizeof(sh)), why);
            free(s);
            bad = 1;
            continue;
        }
        if ((flags & F_WORD) && !is_one_word(s)) {
            problem(L, item, "%s: '%s' is not one word (letters and digits "
                             "only), so it can never match; split or "
                             "remove it",
                    nm, show(s, strlen(s), sh, sizeof(sh)));
            free(s);
            bad = 1;
            continue;
        }
        v[cnt++] = s;
    }
    free_strs(*out, *nout);
    *out = v;
    *nout = cnt;
    return bad ? TG_EINVAL : TG_OK;
}

/*
 * Looks up the keys of mapping map (named where in diagnostics): vals[i] is
 * the value of keys[i], NULL when absent. Unknown and repeated keys are
 * reported. A NULL or null map reads as empty. Returns TG_OK, or TG_EINVAL
 * when map is not a mapping (reported; vals are all NULL).
 */
static int map_keys(struct ld *L, const yaml_node_t *map, const char *where,
                    const char *const *keys, size_t nk, yaml_node_t **vals)
{
    char sh[SHOW_CAP];

    for (size_t i = 0; i < nk; i++)
        vals[i] = NULL;
    if (!map || is_null(map))
        return TG_OK;
    if (map->type != YAML_MAPPING_NODE) {
        problem(L, map, "%s is %s; write a mapping of keys and values", where,
                kind_name(map));
        return TG_EINVAL;
    }
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
         p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node_at(L, p->key);
        size_t i;
        if (!k || k->type != YAML_SCALAR_NODE) {
            problem(L, k, "%s has a key that is %s; keys are plain names",
                    where, k ? kind_name(k) : "missing");
            continue;
        }
        for (i = 0; i < nk; i++)
            if (k->data.scalar.length == strlen(keys[i]) &&
                memcmp(k->data.scalar.value, keys[i],
                       k->data.scalar.length) == 0)
                break;
        if (i == nk) {
            char hint[400];
            size_t used = 0;
            hint[0] = '\0';
            for (size_t j = 0; j < nk; j++) {
                int r = snprintf(hint + used, sizeof(hint) - used, "%s%s",
                                 j ? ", " : "", keys[j]);
                if (r < 0 || (size_t)r >= sizeof(hint) - used)
                    break;
                used += (size_t)r;
            }
            problem(L, k, "unknown key '%s' in %s; remove it or use one of: "
                          "%s",
                    show_node(k, sh, sizeof(sh)), where, hint);
            continue;
        }
        if (vals[i]) {
            problem(L, k, "key '%s' appears twice in %s; keep one", keys[i],
                    where);
            continue;
        }
        vals[i] = node_at(L, p->value);
    }
    return TG_OK;
}

#define MAP_KEYS(L, map, where, keys, vals)                                    \
    map_keys((L), (map), (where), (keys), COUNT(keys), (vals))

static size_t seq_len(const yaml_node_t *n)
{
    return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
}

/* 1 when n is a list (null counts as an empty one); else reports it. */
static int want_list(struct ld *L, const yaml_node_t *n, const char *name)
{
    if (n->type == YAML_SEQUENCE_NODE)
        return 1;
    if (!is_null(n))
        problem(L, n, "%s is %s; write a list", name, kind_name(n));
    return 0;
}

/* ------------------------------------------------------------------ files */

/* Reads the whole file at path, at most max bytes, NUL-terminated. Returns
 * TG_OK, TG_EIO (errno in *err), TG_ETOOBIG or TG_ENOMEM. */
static int read_file(const char *path, size_t max, char **buf, size_t *len,
                     int *err)
{
    FILE *f = fopen(path, "rb");
    char *p = NULL;
    size_t n = 0, cap = 0;
    int rc = TG_OK;

    *err = 0;
    if (!f) {
        *err = errno;
        return TG_EIO;
    }
    for (;;) {
        size_t got;
        if (cap - n < 4096 + 1) {
            size_t ncap = cap ? cap * 2 : 8192;
            char *q;
            if (ncap > max + 4096 + 1)
                ncap = max + 4096 + 1;
            if (ncap <= cap) {
                rc = TG_ETOOBIG;
                goto out;
            }
            q = realloc(p, ncap);
            if (!q) {
                rc = TG_ENOMEM;
                goto out;
            }
            p = q;
            cap = ncap;
        }
        got = fread(p + n, 1, cap - n - 1, f);
        n += got;
        if (n > max) {
            rc = TG_ETOOBIG;
            goto out;
        }
        if (got == 0) {
            if (ferror(f)) {
                *err = errno ? errno : EIO;
                rc = TG_EIO;
            }
            break;
        }
    }
out:
    fclose(f);
    if (rc != TG_OK) {
        if (p)
            OPENSSL_cleanse(p, cap);
        free(p);
        return rc;
    }
    p[n] = '\0';
    *buf = p;
    *len = n;
    return TG_OK;
}

static void free_text(char *p, size_t len)
{
    if (p)
        OPENSSL_cleanse(p, len);
    free(p);
}

/* The directory part of path: "." when it has none. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

/* p relative to basedir (unless absolute) as a new string. */
static int resolve(struct ld *L, const char *p, char **out)
{
    size_t n;
    char *r;
    int w;
    const char *sep;

    if (p[0] == '/' || strcmp(L->basedir, ".") == 0) {
        r = strdup(p);
        if (!r)
            return nomem(L);
        *out = r;
        return TG_OK;
    }
    while (p[0] == '.' && p[1] == '/')
        p += 2;
    sep = L->basedir[strlen(L->basedir) - 1] == '/' ? "" : "/";
    n = strlen(L->basedir) + strlen(sep) + strlen(p) + 1;
    r = malloc(n);
    if (!r)
        return nomem(L);
    w = snprintf(r, n, "%s%s%s", L->basedir, sep, p);
    if (w < 0 || (size_t)w >= n) {
        free(r);
        return nomem(L);
    }
    *out = r;
    return TG_OK;
}

/* Reads a path setting and resolves it against the configuration's
 * directory. Same results as get_str. */
static int get_path(struct ld *L, const yaml_node_t *n, const char *name,
                    char **out)
{
    char *v = NULL, *r = NULL;
    int rc;

    if ((rc = get_str(L, n, name, F_REQ, &v)) != TG_OK)
        return rc;
    rc = resolve(L, v, &r);
    free(v);
    if (rc != TG_OK)
        return rc;
    free(*out);
    *out = r;
    return TG_OK;
}

/* Reports, at n, a file that cannot be read. */
static void unreadable(struct ld *L, const yaml_node_t *n, const char *name,
                       const char *path, int rc, int err)
{
    if (rc == TG_ETOOBIG)
        problem(L, n, "%s: %s is too large; point it at the right file",
                name, path);
    else
        problem(L, n, "%s: cannot read %s (%s); check the path (relative "
                      "paths are relative to the configuration file)",
                name, path, strerror(err ? err : EIO));
}

/* A file that must exist and be readable now (TLS material), read and
 * dropped so that lint finds a bad path before serve does. */
static void check_readable(struct ld *L, const yaml_node_t *n,
                           const char *name, const char *path)
{
    char *buf = NULL;
    size_t len = 0;
    int err, rc = read_file(path, KEYFILE_MAX_BYTES, &buf, &len, &err);
    if (rc == TG_ENOMEM)
        nomem(L);
    else if (rc != TG_OK)
        unreadable(L, n, name, path, rc, err);
    free_text(buf, len);
}

/* ----------------------------------------------------------- YAML input */

/* Line (1-based) of byte offset off in text: reader errors give offsets. */
static int line_at_offset(const char *text, size_t len, size_t off)
{
    int line = 1;
    for (size_t i = 0; i < off && i < len; i++)
        if (text[i] == '\n' && line < INT_MAX)
            line++;
    return line;
}

static void yaml_problem(struct ld *L, const yaml_parser_t *p,
                         const char *text, size_t len)
{
    int line = p->error == YAML_READER_ERROR
                   ? line_at_offset(text, len, p->problem_offset)
                   : (int)(p->problem_mark.line >= (size_t)INT_MAX - 1
                               ? INT_MAX
                               : p->problem_mark.line + 1);
    problem_at(L, line,
               "not valid YAML: %s%s%s; fix the syntax (quote values that "
               "hold ': ', '#' or start with a special character)",
               p->problem ? p->problem : "syntax error",
               p->context ? " " : "", p->context ? p->context : "");
}

/*
 * The line where flow collections ([ {) nest deeper than FLOW_MAX, or 0.
 * libyaml's scanner costs time quadratic in that depth, so a file of
 * brackets would stall a reload; no real configuration nests more than a
 * few levels. Quoted text and comments are skipped; a bracket inside a plain
 * value counts, which only ever overestimates.
 */
#define FLOW_MAX 64
static int flow_too_deep(const char *s, size_t len)
{
    size_t depth = 0;
    int line = 1;
    char quote = 0;

    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '\n' && line < INT_MAX)
            line++;
        if (quote) {
            if (c == '\\' && quote == '"' && i + 1 < len)
                i++;
            else if (c == quote)
                quote = 0;
            continue;
        }
        if ((c == '"' || c == '\'') &&
            (i == 0 || (s[i - 1] && strchr(" \t\n[{,:-?", s[i - 1])))) {
            quote = c;
        } else if (c == '#' && (i == 0 || s[i - 1] == ' ' ||
                                s[i - 1] == '\t' || s[i - 1] == '\n')) {
            while (i + 1 < len && s[i + 1] != '\n')
                i++;
        } else if (c == '[' || c == '{') {
            if (++depth > FLOW_MAX)
                return line;
        } else if ((c == ']' || c == '}') && depth > 0) {
            depth--;
        }
    }
    return 0;
}

/*
 * Parses text as one YAML document into doc (*have set when doc must be
 * deleted). Returns TG_OK with a root node, TG_EINVAL (reported: syntax,
 * empty, several documents, nesting too deep) or TG_ENOMEM.
 */
static int yaml_load(struct ld *L, const char *text, size_t len,
                     yaml_document_t *doc, int *have)
{
    yaml_parser_t parser;
    yaml_document_t extra;
    int rc = TG_OK, deep;

    *have = 0;
    if ((deep = flow_too_deep(text, len)) != 0) {
        problem_at(L, deep, "lists and mappings nest more than %d levels deep "
                          "here; flatten the structure",
                   FLOW_MAX);
        return TG_EINVAL;
    }
    if (!yaml_parser_initialize(&parser))
        return nomem(L);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, doc)) {
        if (parser.error == YAML_MEMORY_ERROR) {
            rc = nomem(L);
        } else {
            yaml_problem(L, &parser, text, len);
            rc = TG_EINVAL;
        }
        goto out;
    }
    *have = 1;
    if (!yaml_document_get_root_node(doc)) {
        problem_at(L, 1, "the file is empty; write the settings as a "
                         "YAML mapping (see example/)");
        rc = TG_EINVAL;
        goto out;
    }
    /* A second document would be silently ignored: say so instead. */
    if (!yaml_parser_load(&parser, &extra)) {
        yaml_problem(L, &parser, text, len);
        rc = TG_EINVAL;
        goto out;
    }
    if (yaml_document_get_root_node(&extra)) {
        problem(L, yaml_document_get_root_node(&extra),
                "a second YAML document starts here; ticketgate reads one "
                "document per file: remove the '---' and merge them");
        rc = TG_EINVAL;
    }
    yaml_document_delete(&extra);
out:
    yaml_parser_delete(&parser);
    return rc;
}

/* The document holds every secret as text: wipe it before it is freed. */
static void wipe_document(yaml_document_t *doc)
{
    for (yaml_node_t *n = doc->nodes.start; n && n < doc->nodes.top; n++)
        if (n->type == YAML_SCALAR_NODE && n->data.scalar.value)
            OPENSSL_cleanse(n->data.scalar.value, n->data.scalar.length);
}

/* ---------------------------------------------------------------- server */

static int parse_tls(struct ld *L, const yaml_node_t *n, struct tg_config *c)
{
    static const char *const keys[] = {"certificate", "client_ca"};
    yaml_node_t *v[COUNT(keys)];

    if (MAP_KEYS(L, n, "server.tls", keys, v) != TG_OK)
        return status(L);
    if (get_path(L, v[0], "server.tls.certificate",
                 &c->server.tls_certificate) == TG_OK)
        check_readable(L, v[0], "server.tls.certificate",
                       c->server.tls_certificate);
    if (get_path(L, v[1], "server.tls.client_ca", &c->server.tls_client_ca) ==
        TG_OK)
        check_readable(L, v[1], "server.tls.client_ca",
                       c->server.tls_client_ca);
    if (c->server.tls_client_ca && !c->server.tls_certificate)
        problem(L, v[1], "server.tls.client_ca needs server.tls.certificate; "
                         "add the server's certificate and key");
    return status(L);
}

/* 1 when a listen value has a TLS port ("443s", "[::1]:8443s"). */
static int listens_tls(const char *s)
{
    for (const char *p = s; *p; p++)
        if (*p == 's' && (p[1] == ',' || p[1] == '\0') && p > s &&
            p[-1] >= '0' && p[-1] <= '9')
            return 1;
    return 0;
}

static int parse_server(struct ld *L, const yaml_node_t *n,
                        struct tg_config *c)
{
    static const char *const keys[] = {
        "listen", "threads", "max_body_bytes", "request_timeout_ms", "tls",
        "admin_listen", "log_level", "max_token_lifetime_s",
        "keep_alive_timeout_ms", "connections",
    };
    enum { LISTEN, THREADS, MAXBODY, TIMEOUT, TLS, ADMIN, LOGLEVEL, LIFETIME,
           KEEPALIVE, CONNS };
    static const char *const levels[] = {"debug", "info", "warn", "error"};
    yaml_node_t *v[COUNT(keys)];
    long long body;
    int lvl;

    if (MAP_KEYS(L, n, "server", keys, v) != TG_OK)
        return status(L);
    get_str(L, v[LISTEN], "server.listen", F_REQ, &c->server.listen);
    get_intv(L, v[THREADS], "server.threads", 1, 1024, &c->server.threads);
    if (get_int(L, v[MAXBODY], "server.max_body_bytes", 1, (long long)1 << 30,
                &body) == TG_OK)
        c->server.max_body_bytes = (size_t)body;
    get_intv(L, v[TIMEOUT], "server.request_timeout_ms", 1, 3600000,
             &c->server.request_timeout_ms);
    /* 0 turns keep-alive off: every answer closes its connection. */
    get_intv(L, v[KEEPALIVE], "server.keep_alive_timeout_ms", 0, 3600000,
             &c->server.keep_alive_timeout_ms);
    /* Each open connection holds one CivetWeb thread (100 KB of stack), so
     * this bounds the slow or idle clients served at once. */
    if (get_intv(L, v[CONNS], "server.connections", 1, 8192,
                 &c->server.connections) == TG_OK &&
        c->server.connections < c->server.threads)
        problem(L, v[CONNS], "server.connections (%d) is less than "
                             "server.threads (%d); raise it or remove the "
                             "key (default: 16 per thread)",
                c->server.connections, c->server.threads);
    if (!v[CONNS])
        c->server.connections =
            c->server.threads > 512 ? 8192 : 16 * c->server.threads;
    /* A minute at least (clock skew alone takes that); a year at most. */
    get_intv(L, v[LIFETIME], "server.max_token_lifetime_s", 60, 31536000,
             &c->server.max_token_lifetime_s);
    if (v[TLS])
        parse_tls(L, v[TLS], c);
    get_str(L, v[ADMIN], "server.admin_listen", F_REQ,
            &c->server.admin_listen);
    if (get_enum(L, v[LOGLEVEL], "server.log_level", levels, COUNT(levels),
                 &lvl) == TG_OK) {
        char *s = strdup(levels[lvl]);
        if (!s)
            return nomem(L);
        free(c->server.log_level);
        c->server.log_level = s;
    }
    if (c->server.listen && listens_tls(c->server.listen) &&
        !c->server.tls_certificate)
        problem(L, v[LISTEN], "server.listen has a TLS port (ending in 's') "
                              "but server.tls.certificate is not set; add it "
                              "or drop the 's'");
    return status(L);
}

static int parse_store(struct ld *L, const yaml_node_t *n,
                       struct tg_config *c)
{
    static const char *const keys[] = {"path", "sync", "hmac_key",
                                       "busy_timeout_ms"};
    enum { PATH, SYNC, HMAC, BUSY };
    static const char *const syncs[] = {"normal", "full"};
    yaml_node_t *v[COUNT(keys)];
    char *key = NULL;
    int sync;

    if (MAP_KEYS(L, n, "store", keys, v) != TG_OK)
        return status(L);
    get_path(L, v[PATH], "store.path", &c->store.path);
    if (get_enum(L, v[SYNC], "store.sync", syncs, COUNT(syncs), &sync) ==
        TG_OK)
        c->store.sync = sync ? TG_SYNC_FULL : TG_SYNC_NORMAL;
    if (v[HMAC] && get_str(L, v[HMAC], "store.hmac_key", F_SECRET, &key) ==
                       TG_OK) {
        c->store.hmac_key = (unsigned char *)key;
        c->store.hmac_key_len = strlen(key);
    }
    get_intv(L, v[BUSY], "store.busy_timeout_ms", 0, 3600000,
             &c->store.busy_timeout_ms);
    return status(L);
}

/* --------------------------------------------------------------- sources */

/* Reads a PEM public key file into j->key and checks that it suits alg. */
static void read_public_key(struct ld *L, const yaml_node_t *n,
                            const char *name, const char *path,
                            struct tg_jwt_conf *j)
{
    char *pem = NULL;
    size_t len = 0;
    int err, rc = read_file(path, KEYFILE_MAX_BYTES, &pem, &len, &err);
    BIO *bio = NULL;
    EVP_PKEY *pk = NULL;
    int id;

    if (rc == TG_ENOMEM) {
        nomem(L);
        return;
    }
    if (rc != TG_OK) {
        unreadable(L, n, name, path, rc, err);
        return;
    }
    bio = BIO_new_mem_buf(pem, (int)len);
    if (!bio) {
        nomem(L);
        goto out;
    }
    pk = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    if (!pk) {
        ERR_clear_error();
        problem(L, n, "%s: %s holds no PEM public key; export the public key "
                      "(-----BEGIN PUBLIC KEY-----), not a certificate or a "
                      "private key",
                name, path);
        goto out;
    }
    id = EVP_PKEY_base_id(pk);
    if (j->alg == TG_JWT_RS256 && id != EVP_PKEY_RSA) {
        problem(L, n, "%s: %s is not an RSA key, which RS256 needs; use the "
                      "RSA public key or set the algorithm the key is for",
                name, path);
        goto out;
    }
    if (j->alg == TG_JWT_ES256 &&
        (id != EVP_PKEY_EC || EVP_PKEY_bits(pk) != 256)) {
        problem(L, n, "%s: %s is not a P-256 EC key, which ES256 needs; use "
                      "the P-256 public key or set the algorithm the key is "
                      "for",
                name, path);
        goto out;
    }
    j->key = (unsigned char *)pem;
    j->key_len = len;
    pem = NULL;
out:
    EVP_PKEY_free(pk);
    BIO_free(bio);
    free_text(pem, len);
}

/* An HS256 key shorter than the hash's output is refused (RFC 7518
 * section 3.2): a short shared secret can be found by brute force from one
 * captured token. */
static void short_secret(struct ld *L, const yaml_node_t *n, const char *name,
                         size_t len)
{
    if (len < TG_CONFIG_HS256_MIN_SECRET)
        problem(L, n, "%s is %zu bytes; HS256 needs at least %d (RFC 7518 "
                      "section 3.2): use a random secret such as the output "
                      "of `openssl rand -base64 48`",
                name, len, TG_CONFIG_HS256_MIN_SECRET);
}

static int parse_jwt(struct ld *L, const yaml_node_t *n, const char *where,
                     struct tg_jwt_conf *j)
{
    static const char *const keys[] = {"algorithm", "public_key_file",
                                       "secret",    "issuer",
                                       "audience",  "leeway_s"};
    enum { ALG, PUBKEY, SECRET, ISS, AUD, LEEWAY };
    static const char *const algs[] = {"HS256", "RS256", "ES256"};
    yaml_node_t *v[COUNT(keys)];
    char nm[NAME_CAP];
    int alg = -1;

    j->set = 1;
    j->leeway_s = 60;
    if (MAP_KEYS(L, n, where, keys, v) != TG_OK)
        return status(L);
    if (!v[ALG])
        problem(L, n, "%s.algorithm is missing; write HS256, RS256 or ES256",
                where);
    else if (get_enum(L, v[ALG], name_of(nm, sizeof(nm), "%s.algorithm",
                                         where),
                      algs, COUNT(algs), &alg) == TG_OK)
        j->alg = alg == 0 ? TG_JWT_HS256
                 : alg == 1 ? TG_JWT_RS256
                            : TG_JWT_ES256;
    if (j->alg == TG_JWT_HS256) {
        char *secret = NULL;
        if (v[PUBKEY])
            problem(L, v[PUBKEY], "%s.public_key_file is for RS256 and "
                                  "ES256; remove it or change the algorithm",
                    where);
        if (!v[SECRET])
            problem(L, n, "%s.secret is missing; HS256 needs the shared "
                          "secret", where);
        else if (get_str(L, v[SECRET],
                         name_of(nm, sizeof(nm), "%s.secret", where),
                         F_SECRET, &secret) == TG_OK) {
            j->key = (unsigned char *)secret;
            j->key_len = strlen(secret);
            short_secret(L, v[SECRET], nm, j->key_len);
        }
    } else if (j->alg == TG_JWT_RS256 || j->alg == TG_JWT_ES256) {
        char *path = NULL;
        if (v[SECRET])
            problem(L, v[SECRET], "%s.secret is for HS256; %s verifies with "
                                  "public_key_file: remove the secret",
                    where, algs[alg]);
        if (!v[PUBKEY])
            problem(L, n, "%s.public_key_file is missing; %s needs the "
                          "issuer's public key (PEM)", where, algs[alg]);
        else if (get_path(L, v[PUBKEY],
                          name_of(nm, sizeof(nm), "%s.public_key_file",
                                  where),
                          &path) == TG_OK)
            read_public_key(L, v[PUBKEY], nm, path, j);
        free(path);
    }
    if (!v[ISS])
        problem(L, n, "%s.issuer is missing; write the iss claim the tokens "
                      "carry", where);
    else
        get_str(L, v[ISS], name_of(nm, sizeof(nm), "%s.issuer", where), F_REQ,
                &j->issuer);
    if (!v[AUD])
        problem(L, n, "%s.audience is missing; write the aud claim the "
                      "tokens carry (e.g. ticketgate)", where);
    else
        get_str(L, v[AUD], name_of(nm, sizeof(nm), "%s.audience", where),
                F_REQ, &j->audience);
    get_intv(L, v[LEEWAY], name_of(nm, sizeof(nm), "%s.leeway_s", where), 0,
             86400, &j->leeway_s);
    return status(L);
}

static const char *const field_keys[] = {
    "justification", "owner",     "expires_at",       "system",
    "environment",   "entitlement", "privilege",      "beneficiary",
    "beneficiary_type", "emergency", "approvals",     "approver",
};

static int parse_fields(struct ld *L, const yaml_node_t *n, const char *where,
                        struct tg_field_map *m)
{
    char **slot[COUNT(field_keys)] = {
        &m->justification, &m->owner,       &m->expires_at,
        &m->system,        &m->environment, &m->entitlement,
        &m->privilege,     &m->beneficiary, &m->beneficiary_type,
        &m->emergency,     &m->approvals,   &m->approver,
    };
    yaml_node_t *v[COUNT(field_keys)];
    char nm[NAME_CAP];

    if (MAP_KEYS(L, n, where, field_keys, v) != TG_OK)
        return status(L);
    for (size_t i = 0; i < COUNT(field_keys); i++)
        get_str(L, v[i], name_of(nm, sizeof(nm), "%s.%s", where,
                                 field_keys[i]),
                F_REQ, slot[i]);
    return status(L);
}

static int parse_jira(struct ld *L, const yaml_node_t *n, struct tg_config *c)
{
    static const char *const keys[] = {"hmac_secret", "connect_shared_secret",
                                       "access_issue_types", "fields"};
    enum { HMAC, CONNECT, TYPES, FIELDS };
    yaml_node_t *v[COUNT(keys)];
    struct tg_jira_conf *j = &c->jira;

    j->set = 1;
    if (MAP_KEYS(L, n, "sources.jira", keys, v) != TG_OK)
        return status(L);
    get_str(L, v[HMAC], "sources.jira.hmac_secret", F_SECRET, &j->hmac_secret);
    if (get_str(L, v[CONNECT], "sources.jira.connect_shared_secret",
                F_SECRET, &j->connect_shared_secret) == TG_OK)
        short_secret(L, v[CONNECT], "sources.jira.connect_shared_secret",
                     strlen(j->connect_shared_secret));
    if (!v[HMAC] && !v[CONNECT])
        problem(L, n, "sources.jira has no credential; set hmac_secret "
                      "(webhooks) or connect_shared_secret (Connect JWT)");
    get_strlist(L, v[TYPES], "sources.jira.access_issue_types", 0,
                &j->access_issue_types, &j->n_access_issue_types);
    if (v[FIELDS])
        parse_fields(L, v[FIELDS], "sources.jira.fields", &j->fields);
    return status(L);
}

/* Standard Webhooks secrets are "whsec_" and base64 (the prefix optional). */
static int whsec_ok(const char *s)
{
    size_t n, pad = 0;
    if (strncmp(s, "whsec_", 6) == 0)
        s += 6;
    n = strlen(s);
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int b64 = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                  (c >= '0' && c <= '9') || c == '+' || c == '/';
        if (c == '=')
            pad++;
        else if (!b64 || pad)
            return 0;
    }
    return pad <= 2;
}

static int parse_servicenow(struct ld *L, const yaml_node_t *n,
                            struct tg_config *c)
{
    static const char *const keys[] = {"jwt", "standard_webhooks_secret",
                                       "variables"};
    enum { JWT, WHSEC, VARS };
    yaml_node_t *v[COUNT(keys)];
    struct tg_servicenow_conf *s = &c->servicenow;

    s->set = 1;
    if (MAP_KEYS(L, n, "sources.servicenow", keys, v) != TG_OK)
        return status(L);
    if (v[JWT])
        parse_jwt(L, v[JWT], "sources.servicenow.jwt", &s->jwt);
    if (get_str(L, v[WHSEC], "sources.servicenow.standard_webhooks_secret",
                F_SECRET, &s->standard_webhooks_secret) == TG_OK &&
        !whsec_ok(s->standard_webhooks_secret))
        problem(L, v[WHSEC], "sources.servicenow.standard_webhooks_secret is "
                             "not \"whsec_\" and base64; copy the secret as "
                             "ServiceNow shows it");
    if (!v[JWT] && !v[WHSEC])
        problem(L, n, "sources.servicenow has no credential; set jwt "
                      "(Bearer tokens) or standard_webhooks_secret");
    if (v[VARS])
        parse_fields(L, v[VARS], "sources.servicenow.variables",
                     &s->variables);
    return status(L);
}

static int parse_generic(struct ld *L, const yaml_node_t *n,
                         struct tg_config *c)
{
    static const char *const keys[] = {"jwt"};
    yaml_node_t *v[COUNT(keys)];

    c->generic.set = 1;
    if (MAP_KEYS(L, n, "sources.generic", keys, v) != TG_OK)
        return status(L);
    if (!v[0])
        problem(L, n, "sources.generic.jwt is missing; /v1/check needs the "
                      "Bearer JWT settings (algorithm, secret or "
                      "public_key_file, issuer, audience)");
    else
        parse_jwt(L, v[0], "sources.generic.jwt", &c->generic.jwt);
    return status(L);
}

static int parse_sources(struct ld *L, const yaml_node_t *n,
                         struct tg_config *c)
{
    static const char *const keys[] = {"jira", "servicenow", "generic"};
    yaml_node_t *v[COUNT(keys)];

    if (MAP_KEYS(L, n, "sources", keys, v) != TG_OK)
        return status(L);
    if (v[0])
        parse_jira(L, v[0], c);
    if (v[1])
        parse_servicenow(L, v[1], c);
    if (v[2])
        parse_generic(L, v[2], c);
    return status(L);
}

/* ----------------------------------------------------------------- gates */

static int parse_gates(struct ld *L, const yaml_node_t *n,
                       struct tg_config *c)
{
    static const char *const keys[] = {"source", "projects", "to",
                                       "issue_types"};
    enum { SOURCE, PROJECTS, TO, TYPES };
    static const char *const sources[] = {"jira", "servicenow"};
    size_t idx = 0;
    char nm[NAME_CAP], where[NAME_CAP];

    if (!want_list(L, n, "gates"))
        return status(L);
    c->gates = calloc(seq_len(n) + 1, sizeof(*c->gates));
    if (!c->gates)
        return nomem(L);
    for (yaml_node_item_t *it = n->data.sequence.items.start;
         it < n->data.sequence.items.top; it++, idx++) {
        yaml_node_t *item = node_at(L, *it);
        struct tg_gate *g = &c->gates[c->n_gates++];
        yaml_node_t *v[COUNT(keys)];
        int src;

        name_of(where, sizeof(where), "gates[%zu]", idx);
        if (!item || MAP_KEYS(L, item, where, keys, v) != TG_OK)
            continue;
        if (!v[SOURCE])
            problem(L, item, "%s has no source; write source: jira or "
                             "source: servicenow", where);
        else if (get_enum(L, v[SOURCE],
                          name_of(nm, sizeof(nm), "%s.source", where),
                          sources, COUNT(sources), &src) == TG_OK &&
                 !(g->source = strdup(sources[src])))
            return nomem(L);
        get_strlist(L, v[PROJECTS],
                    name_of(nm, sizeof(nm), "%s.projects", where), F_GLOB,
                    &g->projects, &g->n_projects);
        get_strlist(L, v[TO], name_of(nm, sizeof(nm), "%s.to", where), 0,
                    &g->to, &g->n_to);
        get_strlist(L, v[TYPES],
                    name_of(nm, sizeof(nm), "%s.issue_types", where), 0,
                    &g->issue_types, &g->n_issue_types);
        if (L->oom)
            break;
    }
    return status(L);
}

/* ---------------------------------------------------------------- policy */

/* What the policy section says about actions, resolved once it is read. */
struct actions {
    int vset[TG_V_COUNT];
    enum tg_action vact[TG_V_COUNT];
    int cfset;
    enum tg_action cfact;
    int ovset[TG_CODE_COUNT];
    enum tg_action ov[TG_CODE_COUNT];
};

/* REASONS.md: a validator's action applies to each of its codes, except
 * copy-forward (its own action, default warn) and the policy validator's
 * codes (no section of their own); policy.actions names codes directly. */
static void resolve_actions(const struct actions *a, struct tg_policy *p)
{
    for (size_t c = 0; c < TG_CODE_COUNT; c++) {
        const struct tg_code_info *ci = tg_code_info((enum tg_code)c);
        p->action[c] = ci->default_action;
        if (c == TG_JUSTIFICATION_COPY_FORWARD)
            p->action[c] = a->cfset ? a->cfact : TG_ACTION_WARN;
        else if (ci->validator != TG_V_POLICY && a->vset[ci->validator])
            p->action[c] = a->vact[ci->validator];
        if (a->ovset[c])
            p->action[c] = a->ov[c];
    }
}

static void validator_action(struct ld *L, yaml_node_t *n, const char *where,
                             enum tg_validator v, struct actions *a)
{
    char nm[NAME_CAP];
    if (get_action(L, n, name_of(nm, sizeof(nm), "%s.action", where),
                   &a->vact[v]) == TG_OK)
        a->vset[v] = 1;
}

/* Replaces ws with the words of list n. */
static int parse_words(struct ld *L, const yaml_node_t *n, const char *name,
                       struct tg_wordset *ws)
{
    char **words = NULL;
    size_t nw = 0;
    struct tg_wordset tmp;
    int rc = get_strlist(L, n, name, F_WORD, &words, &nw);

    if (rc == TG_OK) {
        if (tg_wordset_build(&tmp, (const char *const *)words, nw) != TG_OK) {
            rc = nomem(L);
        } else {
            tg_wordset_cleanup(ws);
            *ws = tmp;
        }
    }
    free_strs(words, nw);
    return rc;
}

static int parse_simple(struct ld *L, const yaml_node_t *n, const char *where,
                        enum tg_validator v, struct actions *a)
{
    static const char *const keys[] = {"action"};
    yaml_node_t *vals[COUNT(keys)];
    if (MAP_KEYS(L, n, where, keys, vals) == TG_OK && vals[0])
        validator_action(L, vals[0], where, v, a);
    return status(L);
}

static int parse_copy_forward(struct ld *L, const yaml_node_t *n,
                              struct tg_policy *p, struct actions *a)
{
    static const char *const keys[] = {"action", "max_reuse", "window_days"};
    yaml_node_t *v[COUNT(keys)];
    const char *where = "policy.justification.copy_forward";

    if (MAP_KEYS(L, n, where, keys, v) != TG_OK)
        return status(L);
    if (v[0] && get_action(L, v[0], "policy.justification.copy_forward.action",
                           &a->cfact) == TG_OK)
        a->cfset = 1;
    get_uint(L, v[1], "policy.justification.copy_forward.max_reuse", 1,
             1000000, &p->copy_max_reuse);
    get_uint(L, v[2], "policy.justification.copy_forward.window_days", 1,
             36500, &p->copy_window_days);
    return status(L);
}

static int parse_justification(struct ld *L, const yaml_node_t *n,
                               struct tg_policy *p, struct actions *a)
{
    static const char *const keys[] = {"action", "min_words",
                                       "min_specific_words", "generic_words",
                                       "copy_forward"};
    enum { ACTION, MINW, MINSPEC, GENERIC, COPY };
    yaml_node_t *v[COUNT(keys)];

    if (MAP_KEYS(L, n, "policy.justification", keys, v) != TG_OK)
        return status(L);
    if (v[ACTION])
        validator_action(L, v[ACTION], "policy.justification",
                         TG_V_JUSTIFICATION, a);
    get_uint(L, v[MINW], "policy.justification.min_words", 0, 10000,
             &p->min_words);
    get_uint(L, v[MINSPEC], "policy.justification.min_specific_words", 0,
             10000, &p->min_specific_words);
    if (v[GENERIC])
        parse_words(L, v[GENERIC], "policy.justification.generic_words",
                    &p->generic_words);
    if (v[COPY])
        parse_copy_forward(L, v[COPY], p, a);
    return status(L);
}

static int parse_scope(struct ld *L, const yaml_node_t *n,
                       struct tg_policy *p, struct actions *a)
{
    static const char *const keys[] = {"action", "wildcard_words"};
    yaml_node_t *v[COUNT(keys)];

    if (MAP_KEYS(L, n, "policy.scope", keys, v) != TG_OK)
        return status(L);
    if (v[0])
        validator_action(L, v[0], "policy.scope", TG_V_SCOPE, a);
    if (v[1])
        parse_words(L, v[1], "policy.scope.wildcard_words",
                    &p->wildcard_words);
    return status(L);
}

static int parse_expiry(struct ld *L, const yaml_node_t *n,
                        struct tg_policy *p, struct actions *a)
{
    static const char *const keys[] = {"action", "max_days",
                                       "service_max_days",
                                       "emergency_max_hours"};
    enum { ACTION, MAXDAYS, SERVICE, EMERGENCY };
    static const char *const tiers[] = {"read", "write", "admin"};
    yaml_node_t *v[COUNT(keys)], *t[COUNT(tiers)];
    char nm[NAME_CAP];

    if (MAP_KEYS(L, n, "policy.expiry", keys, v) != TG_OK)
        return status(L);
    if (v[ACTION])
        validator_action(L, v[ACTION], "policy.expiry", TG_V_EXPIRY, a);
    if (v[MAXDAYS] &&
        MAP_KEYS(L, v[MAXDAYS], "policy.expiry.max_days", tiers, t) == TG_OK)
        for (size_t i = 0; i < COUNT(tiers); i++)
            get_uint(L, t[i],
                     name_of(nm, sizeof(nm), "policy.expiry.max_days.%s",
                             tiers[i]),
                     1, 36500, &p->max_days[i]);
    get_uint(L, v[SERVICE], "policy.expiry.service_max_days", 1, 36500,
             &p->service_max_days);
    get_uint(L, v[EMERGENCY], "policy.expiry.emergency_max_hours", 1, 8760,
             &p->emergency_max_hours);
    return status(L);
}

static int parse_overrides(struct ld *L, const yaml_node_t *n,
                           struct actions *a)
{
    char nm[NAME_CAP], sh[SHOW_CAP];

    if (is_null(n))
        return status(L);
    if (n->type != YAML_MAPPING_NODE) {
        problem(L, n, "policy.actions is %s; write a mapping such as "
                      "{ OWNER_UNKNOWN: warn }", kind_name(n));
        return status(L);
    }
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
         p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node_at(L, p->key), *v = node_at(L, p->value);
        char *code = NULL;
        enum tg_code c;
        enum tg_action act;
        if (!k || get_str(L, k, "a key of policy.actions", F_REQ, &code) !=
                      TG_OK)
            continue;
        if (tg_code_parse(code, &c) != TG_OK) {
            problem(L, k, "policy.actions names '%s', which is no reason "
                          "code; use a code of REASONS.md in upper case, "
                          "such as OWNER_UNKNOWN",
                    show(code, strlen(code), sh, sizeof(sh)));
        } else if (a->ovset[c]) {
            problem(L, k, "policy.actions names %s twice; keep one", code);
        } else if (get_action(L, v, name_of(nm, sizeof(nm),
                                            "policy.actions.%s", code),
                              &act) == TG_OK) {
            a->ov[c] = act;
            a->ovset[c] = 1;
        }
        free(code);
    }
    return status(L);
}

static int parse_rules(struct ld *L, const yaml_node_t *n, const char *where,
                       int forbidden, struct tg_rule **out, size_t *nout)
{
    static const char *const keys[] = {"environment", "privilege",
                                       "beneficiary_type", "system",
                                       "reason"};
    enum { ENV, PRIV, BTYPE, SYSTEM, REASON };
    static const char *const btypes[] = {"human", "service", "shared"};
    size_t idx = 0;
    char nm[NAME_CAP], rw[NAME_CAP], sh[SHOW_CAP];

    if (!want_list(L, n, where))
        return status(L);
    *out = calloc(seq_len(n) + 1, sizeof(**out));
    if (!*out)
        return nomem(L);
    for (yaml_node_item_t *it = n->data.sequence.items.start;
         it < n->data.sequence.items.top && !L->oom; it++, idx++) {
        yaml_node_t *item = node_at(L, *it);
        struct tg_rule *r = &(*out)[(*nout)++];
        yaml_node_t *v[COUNT(keys)];
        char *priv = NULL;
        int bt;

        r->line = line_of(item);
        name_of(rw, sizeof(rw), "%s[%zu]", where, idx);
        if (!item || MAP_KEYS(L, item, rw, keys, v) != TG_OK)
            continue;
        get_str(L, v[ENV], name_of(nm, sizeof(nm), "%s.environment", rw),
                F_REQ | F_LOWER, &r->environment);
        if (get_str(L, v[PRIV], name_of(nm, sizeof(nm), "%s.privilege", rw),
                    F_REQ, &priv) == TG_OK) {
            enum tg_privilege pv;
            if (tg_privilege_parse(priv, &pv) != TG_OK)
                problem(L, v[PRIV], "%s is '%s'; write read, write or admin",
                        nm, show(priv, strlen(priv), sh, sizeof(sh)));
            else if (!(r->privilege = strdup(tg_privilege_name(pv))))
                nomem(L);
            free(priv);
        }
        if (get_enum(L, v[BTYPE],
                     name_of(nm, sizeof(nm), "%s.beneficiary_type", rw),
                     btypes, COUNT(btypes), &bt) == TG_OK &&
            !(r->beneficiary_type = strdup(btypes[bt])))
            nomem(L);
        get_str(L, v[SYSTEM], name_of(nm, sizeof(nm), "%s.system", rw), F_REQ,
                &r->system);
        get_str(L, v[REASON], name_of(nm, sizeof(nm), "%s.reason", rw), F_REQ,
                &r->reason);
        if (!v[ENV] && !v[PRIV] && !v[BTYPE] && !v[SYSTEM])
            problem(L, item, "%s names none of environment, privilege, "
                             "beneficiary_type, system, so it would match "
                             "every ticket; add the keys it is about",
                    rw);
        if (forbidden && !v[REASON])
            problem(L, item, "%s has no reason; write the sentence the "
                             "service desk will see when it denies",
                    rw);
    }
    return status(L);
}

static int parse_policy(struct ld *L, const yaml_node_t *n,
                        struct tg_config *c)
{
    static const char *const keys[] = {
        "mode",       "owner",     "justification", "scope",   "expiry",
        "separation", "authority", "actions",       "routine", "forbidden",
    };
    enum { MODE, OWNER, JUST, SCOPE, EXPIRY, SEP, AUTH, ACTIONS, ROUTINE,
           FORBIDDEN };
    static const char *const modes[] = {"enforce", "dryrun"};
    yaml_node_t *v[COUNT(keys)];
    struct tg_policy *p = &c->policy;
    struct actions a;
    int mode;

    memset(&a, 0, sizeof(a));
    if (MAP_KEYS(L, n, "policy", keys, v) != TG_OK)
        return status(L);
    if (get_enum(L, v[MODE], "policy.mode", modes, COUNT(modes), &mode) ==
        TG_OK)
        p->dryrun = mode == 1;
    if (v[OWNER])
        parse_simple(L, v[OWNER], "policy.owner", TG_V_OWNER, &a);
    if (v[JUST])
        parse_justification(L, v[JUST], p, &a);
    if (v[SCOPE])
        parse_scope(L, v[SCOPE], p, &a);
    if (v[EXPIRY])
        parse_expiry(L, v[EXPIRY], p, &a);
    if (v[SEP])
        parse_simple(L, v[SEP], "policy.separation", TG_V_SEPARATION, &a);
    if (v[AUTH])
        parse_simple(L, v[AUTH], "policy.authority", TG_V_AUTHORITY, &a);
    if (v[ACTIONS])
        parse_overrides(L, v[ACTIONS], &a);
    if (v[ROUTINE])
        parse_rules(L, v[ROUTINE], "policy.routine", 0, &p->routine,
                    &p->n_routine);
    if (v[FORBIDDEN])
        parse_rules(L, v[FORBIDDEN], "policy.forbidden", 1, &p->forbidden,
                    &p->n_forbidden);
    resolve_actions(&a, p);
    return status(L);
}

/* ------------------------------------------------------ directory section */

static int parse_directory_section(struct ld *L, const yaml_node_t *n,
                                   struct tg_config *c,
                                   yaml_node_t **file_node)
{
    static const char *const keys[] = {"file", "strict",
                                       "generic_identities"};
    yaml_node_t *v[COUNT(keys)];
    struct tg_directory *d = &c->directory;

    *file_node = NULL;
    if (MAP_KEYS(L, n, "directory", keys, v) != TG_OK)
        return status(L);
    if (get_path(L, v[0], "directory.file", &c->directory_path) == TG_OK)
        *file_node = v[0];
    get_bool(L, v[1], "directory.strict", &d->strict);
    get_strlist(L, v[2], "directory.generic_identities", F_GLOB | F_LOWER,
                &d->generic, &d->n_generic);
    if (d->strict && !v[0])
        problem(L, n, "directory.strict is true but directory.file is not "
                      "set, so every identity would be unknown; name the "
                      "directory file or set strict: false");
    return status(L);
}

/* ------------------------------------------------------- directory file */

/* Where each entry of the directory stands, for messages after indexing. */
struct dsrc {
    int *person_line;
    yaml_node_t **person_aliases;
    int *group_line;
    yaml_node_t **group_members;
    int *system_line;
    yaml_node_t **system_owners;
    yaml_node_t **system_approvers;
};

static void dsrc_free(struct dsrc *s)
{
    free(s->person_line);
    free(s->person_aliases);
    free(s->group_line);
    free(s->group_members);
    free(s->system_line);
    free(s->system_owners);
    free(s->system_approvers);
}

static int parse_people(struct ld *L, const yaml_node_t *n,
                        struct tg_directory *d, struct dsrc *s)
{
    static const char *const keys[] = {"id", "name", "aliases", "type",
                                       "status"};
    enum { ID, NAME, ALIASES, TYPE, STATUS };
    static const char *const types[] = {"human", "shared", "service"};
    static const char *const states[] = {"active", "inactive"};
    size_t idx = 0;
    char nm[NAME_CAP], where[NAME_CAP];

    if (!want_list(L, n, "people"))
        return status(L);
    d->people = calloc(seq_len(n) + 1, sizeof(*d->people));
    s->person_line = calloc(seq_len(n) + 1, sizeof(*s->person_line));
    s->person_aliases = calloc(seq_len(n) + 1, sizeof(*s->person_aliases));
    if (!d->people || !s->person_line || !s->person_aliases)
        return nomem(L);
    for (yaml_node_item_t *it = n->data.sequence.items.start;
         it < n->data.sequence.items.top && !L->oom; it++, idx++) {
        yaml_node_t *item = node_at(L, *it);
        yaml_node_t *v[COUNT(keys)];
        struct tg_person *p = &d->people[d->n_people];
        int t;

        name_of(where, sizeof(where), "people[%zu]", idx);
        if (!item || MAP_KEYS(L, item, where, keys, v) != TG_OK)
            continue;
        if (!v[ID]) {
            problem(L, item, "%s has no id; give every person a unique id "
                             "(e.g. the e-mail address)", where);
            continue;
        }
        if (get_str(L, v[ID], name_of(nm, sizeof(nm), "%s.id", where), F_REQ,
                    &p->id) != TG_OK)
            continue;
        /* Only now is the entry counted, so cleanup sees whole entries. */
        s->person_line[d->n_people] = line_of(item);
        s->person_aliases[d->n_people++] = v[ALIASES];
        get_str(L, v[NAME], name_of(nm, sizeof(nm), "%s.name", where), 0,
                &p->name);
        get_strlist(L, v[ALIASES],
                    name_of(nm, sizeof(nm), "%s.aliases", where), 0,
                    &p->aliases, &p->n_aliases);
        if (get_enum(L, v[TYPE], name_of(nm, sizeof(nm), "%s.type", where),
                     types, COUNT(types), &t) == TG_OK)
            p->type = t == 0 ? TG_TYPE_HUMAN
                      : t == 1 ? TG_TYPE_SHARED
                               : TG_TYPE_SERVICE;
        if (get_enum(L, v[STATUS], name_of(nm, sizeof(nm), "%s.status", where),
                     states, COUNT(states), &t) == TG_OK)
            p->inactive = t == 1;
    }
    return status(L);
}

static int parse_group_ids(struct ld *L, const yaml_node_t *n,
                           struct tg_directory *d, struct dsrc *s)
{
    static const char *const keys[] = {"id", "members"};
    size_t idx = 0, cnt;
    char nm[NAME_CAP], where[NAME_CAP];

    if (!want_list(L, n, "groups"))
        return status(L);
    cnt = seq_len(n) + 1;
    d->groups = calloc(cnt, sizeof(*d->groups));
    s->group_line = calloc(cnt, sizeof(*s->group_line));
    s->group_members = calloc(cnt, sizeof(*s->group_members));
    if (!d->groups || !s->group_line || !s->group_members)
        return nomem(L);
    for (yaml_node_item_t *it = n->data.sequence.items.start;
         it < n->data.sequence.items.top && !L->oom; it++, idx++) {
        yaml_node_t *item = node_at(L, *it);
        yaml_node_t *v[COUNT(keys)];
        struct tg_group *g = &d->groups[d->n_groups];

        name_of(where, sizeof(where), "groups[%zu]", idx);
        if (!item || MAP_KEYS(L, item, where, keys, v) != TG_OK)
            continue;
        if (!v[0]) {
            problem(L, item, "%s has no id; give every group a unique id",
                    where);
            continue;
        }
        if (get_str(L, v[0], name_of(nm, sizeof(nm), "%s.id", where), F_REQ,
                    &g->id) != TG_OK)
            continue;
        s->group_line[d->n_groups] = line_of(item);
        s->group_members[d->n_groups] = v[1];
        d->n_groups++;
    }
    return status(L);
}

static int parse_system_ids(struct ld *L, const yaml_node_t *n,
                            struct tg_directory *d, struct dsrc *s)
{
    static const char *const keys[] = {"id", "owners", "approvers"};
    size_t idx = 0, cnt;
    char nm[NAME_CAP], where[NAME_CAP];

    if (!want_list(L, n, "systems"))
        return status(L);
    cnt = seq_len(n) + 1;
    d->systems = calloc(cnt, sizeof(*d->systems));
    s->system_line = calloc(cnt, sizeof(*s->system_line));
    s->system_owners = calloc(cnt, sizeof(*s->system_owners));
    s->system_approvers = calloc(cnt, sizeof(*s->system_approvers));
    if (!d->systems || !s->system_line || !s->system_owners ||
        !s->system_approvers)
        return nomem(L);
    for (yaml_node_item_t *it = n->data.sequence.items.start;
         it < n->data.sequence.items.top && !L->oom; it++, idx++) {
        yaml_node_t *item = node_at(L, *it);
        yaml_node_t *v[COUNT(keys)];
        struct tg_system *sy = &d->systems[d->n_systems];

        name_of(where, sizeof(where), "systems[%zu]", idx);
        if (!item || MAP_KEYS(L, item, where, keys, v) != TG_OK)
            continue;
        if (!v[0]) {
            problem(L, item, "%s has no id; give every system a unique id",
                    where);
            continue;
        }
        if (get_str(L, v[0], name_of(nm, sizeof(nm), "%s.id", where), F_REQ,
                    &sy->id) != TG_OK)
            continue;
        s->system_line[d->n_systems] = line_of(item);
        s->system_owners[d->n_systems] = v[1];
        s->system_approvers[d->n_systems] = v[2];
        d->n_systems++;
    }
    return status(L);
}

/* One normalised name and the entry it names, to find names given twice. */
struct dname {
    char *key;
    int line;
    int kind; /* 0 person, 1 group, 2 system */
    size_t idx;
};

static int dname_cmp(const void *a, const void *b)
{
    const struct dname *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    if (c)
        return c;
    return x->line < y->line ? -1 : x->line > y->line;
}

static int dname_add(struct ld *L, struct dname *v, size_t *n, const char *s,
                     int line, int kind, size_t idx)
{
    size_t len = strlen(s);
    char *k = malloc(len + 1);
    if (!k)
        return nomem(L);
    if (tg_ident_normalise(s, len, k, len + 1) < 0) {
        free(k);
        return nomem(L);
    }
    v[*n].key = k;
    v[*n].line = line;
    v[*n].kind = kind;
    v[*n].idx = idx;
    (*n)++;
    return TG_OK;
}

static const char *entry_id(const struct tg_directory *d,
                            const struct dname *e)
{
    return e->kind == 0   ? d->people[e->idx].id
           : e->kind == 1 ? d->groups[e->idx].id
                          : d->systems[e->idx].id;
}

static const char *const kind_names[] = {"person", "group", "system"};

/* The line of alias a in list n (an alias names its own line in messages),
 * else fallback. */
static int alias_line(const struct ld *L, const yaml_node_t *n, const char *a,
                      int fallback)
{
    if (!n || n->type != YAML_SEQUENCE_NODE)
        return fallback;
    for (yaml_node_item_t *it = n->data.sequence.items.start;
         it < n->data.sequence.items.top; it++) {
        const yaml_node_t *x = node_at(L, *it);
        if (x && x->type == YAML_SCALAR_NODE &&
            x->data.scalar.length == strlen(a) &&
            memcmp(x->data.scalar.value, a, x->data.scalar.length) == 0)
            return line_of(x);
    }
    return fallback;
}

/*
 * An id or alias that names two entries makes identities ambiguous: the
 * index would silently keep the first. Display names may repeat (people
 * share names); the index puts them last.
 */
static int check_names(struct ld *L, const struct tg_directory *d,
                       const struct dsrc *s)
{
    size_t cap = d->n_groups + d->n_systems + 1, n = 0;
    struct dname *v;
    char sh[SHOW_CAP];
    int rc = TG_OK;

    for (size_t i = 0; i < d->n_people; i++)
        cap += 1 + d->people[i].n_aliases;
    v = calloc(cap, sizeof(*v));
    if (!v)
        return nomem(L);
    for (size_t i = 0; i < d->n_people && rc == TG_OK; i++) {
        const struct tg_person *p = &d->people[i];
        rc = dname_add(L, v, &n, p->id, s->person_line[i], 0, i);
        for (size_t j = 0; j < p->n_aliases && rc == TG_OK; j++)
            rc = dname_add(L, v, &n, p->aliases[j],
                           alias_line(L, s->person_aliases[i], p->aliases[j],
                                      s->person_line[i]),
                           0, i);
    }
    for (size_t i = 0; i < d->n_groups && rc == TG_OK; i++)
        rc = dname_add(L, v, &n, d->groups[i].id, s->group_line[i], 1, i);
    if (rc != TG_OK)
        goto out;
    qsort(v, n, sizeof(*v), dname_cmp);
    for (size_t i = 1; i < n; i++) {
        const struct dname *a = &v[i - 1], *b = &v[i];
        if (strcmp(a->key, b->key) != 0 ||
            (a->kind == b->kind && a->idx == b->idx))
            continue;
        problem_at(L, b->line,
                   "'%s' names both %s %s (line %d) and %s %s; an id or "
                   "alias must name one entry: remove or rename one",
                   show(b->key, strlen(b->key), sh, sizeof(sh)),
                   kind_names[a->kind], entry_id(d, a), a->line,
                   kind_names[b->kind], entry_id(d, b));
    }
    /* Systems have their own index. */
    for (size_t i = 0; i < n; i++)
        free(v[i].key);
    n = 0;
    for (size_t i = 0; i < d->n_systems && rc == TG_OK; i++)
        rc = dname_add(L, v, &n, d->systems[i].id, s->system_line[i], 2, i);
    if (rc != TG_OK)
        goto out;
    qsort(v, n, sizeof(*v), dname_cmp);
    for (size_t i = 1; i < n; i++)
        if (strcmp(v[i - 1].key, v[i].key) == 0)
            problem_at(L, v[i].line,
                       "system %s is listed twice (first at line %d); merge "
                       "the two entries",
                       d->systems[v[i].idx].id, v[i - 1].line);
out:
    for (size_t i = 0; i < n; i++)
        free(v[i].key);
    free(v);
    return status(L);
}

/*
 * Resolves scalar n to a directory entry of kind want. Reports a value that
 * names nothing, or the wrong kind of entry. Returns TG_OK and *idx, or
 * TG_EINVAL / TG_ENOMEM.
 */
static int ref(struct ld *L, const struct tg_directory *d,
               const yaml_node_t *n, const char *name,
               enum tg_entity_kind want, size_t *idx)
{
    char *v = NULL;
    char sh[SHOW_CAP];
    struct tg_entity e;
    int rc;

    if ((rc = get_str(L, n, name, F_REQ, &v)) != TG_OK)
        return rc == TG_ENOTFOUND ? TG_EINVAL : rc;
    e = tg_directory_resolve(d, v, strlen(v));
    show(v, strlen(v), sh, sizeof(sh));
    free(v);
    if (e.kind == TG_ENT_NONE) {
        problem(L, n, "%s '%s' is in no people or groups entry; add it to "
                      "the directory or fix the name",
                name, sh);
        return TG_EINVAL;
    }
    if (e.kind != want) {
        problem(L, n, "%s '%s' is a %s; name a %s", name, sh,
                e.kind == TG_ENT_GROUP ? "group" : "person",
                want == TG_ENT_GROUP ? "group" : "person");
        return TG_EINVAL;
    }
    *idx = e.idx;
    return TG_OK;
}

/* Direct membership of each group, before flattening. */
struct gdirect {
    size_t *people, np;
    size_t *groups, ng;
    int *group_line; /* where each sub-group membership is written */
};

static int read_members(struct ld *L, const struct tg_directory *d,
                        const struct dsrc *s, struct gdirect *gd)
{
    char nm[NAME_CAP];

    for (size_t g = 0; g < d->n_groups && !L->oom; g++) {
        const yaml_node_t *m = s->group_members[g];
        size_t cnt, idx = 0;
        name_of(nm, sizeof(nm), "members of group %s", d->groups[g].id);
        if (!m || !want_list(L, m, nm))
            continue;
        cnt = seq_len(m) + 1;
        gd[g].people = calloc(cnt, sizeof(size_t));
        gd[g].groups = calloc(cnt, sizeof(size_t));
        gd[g].group_line = calloc(cnt, sizeof(int));
        if (!gd[g].people || !gd[g].groups || !gd[g].group_line)
            return nomem(L);
        for (yaml_node_item_t *it = m->data.sequence.items.start;
             it < m->data.sequence.items.top; it++, idx++) {
            yaml_node_t *item = node_at(L, *it);
            char *v = NULL;
            char sh[SHOW_CAP];
            struct tg_entity e;
            int rc;
            name_of(nm, sizeof(nm), "groups.%s.members[%zu]",
                    d->groups[g].id, idx);
            if ((rc = get_str(L, item, nm, F_REQ, &v)) != TG_OK) {
                if (rc == TG_ENOMEM)
                    return rc;
                continue;
            }
            e = tg_directory_resolve(d, v, strlen(v));
            if (e.kind == TG_ENT_PERSON)
                gd[g].people[gd[g].np++] = e.idx;
            else if (e.kind == TG_ENT_GROUP) {
                gd[g].group_line[gd[g].ng] = line_of(item);
                gd[g].groups[gd[g].ng++] = e.idx;
            } else
                problem(L, item, "group %s: member '%s' is in no people or "
                                 "groups entry; add it or fix the name",
                        d->groups[g].id, show(v, strlen(v), sh, sizeof(sh)));
            free(v);
        }
    }
    return status(L);
}

/* Reports the cycle stack[k..top) -> stack[k] at line. */
static void cycle_problem(struct ld *L, const struct tg_directory *d,
                          const size_t *stack, size_t k, size_t top, int line)
{
    struct sbuf b = {NULL, 0, 0, 4096, 0};
    size_t shown = 0;

    for (size_t i = k; i < top; i++) {
        const char *id = d->groups[stack[i]].id;
        if (shown++ == CYCLE_SHOW) {
            sb_add(&b, "... -> ", 7);
            break;
        }
        sb_add(&b, id, strlen(id));
        sb_add(&b, " -> ", 4);
    }
    sb_add(&b, d->groups[stack[k]].id, strlen(d->groups[stack[k]].id));
    if (b.err == TG_ENOMEM) {
        nomem(L);
    } else {
        problem_at(L, line, "groups %s form a cycle; remove one of these "
                            "memberships",
                   b.p ? b.p : "");
    }
    sb_free(&b);
}

/*
 * Flattens nested groups into person indexes: a depth-first walk (with an
 * explicit stack, so a long chain of groups cannot exhaust the C stack) that
 * reports each cycle it closes and skips that membership.
 */
static int flatten_groups(struct ld *L, struct tg_directory *d,
                          struct gdirect *gd)
{
    enum { WHITE, GRAY, BLACK };
    size_t ng = d->n_groups, np = d->n_people;
    unsigned char *color = calloc(ng + 1, 1);
    size_t *stack = calloc(ng + 1, sizeof(size_t));
    size_t *next = calloc(ng + 1, sizeof(size_t));
    size_t *seen = malloc((np + 1) * sizeof(size_t));
    int rc = TG_OK;

    if (!color || !stack || !next || !seen) {
        rc = nomem(L);
        goto out;
    }
    for (size_t i = 0; i < np; i++)
        seen[i] = SIZE_MAX;
    for (size_t root = 0; root < ng; root++) {
        size_t sp = 0;
        if (color[root] != WHITE)
            continue;
        color[root] = GRAY;
        stack[sp] = root;
        next[sp++] = 0;
        while (sp > 0) {
            size_t g = stack[sp - 1], cap, n = 0;
            size_t *m;
            if (next[sp - 1] < gd[g].ng) {
                size_t j = next[sp - 1]++, c = gd[g].groups[j];
                if (color[c] == GRAY) {
                    size_t k = 0;
                    while (stack[k] != c)
                        k++;
                    cycle_problem(L, d, stack, k, sp, gd[g].group_line[j]);
                    /* Not followed: the walk must end. */
                    gd[g].groups[j] = SIZE_MAX;
                } else if (color[c] == WHITE) {
                    color[c] = GRAY;
                    stack[sp] = c;
                    next[sp++] = 0;
                }
                continue;
            }
            /* Every sub-group of g is done: g's people are its own plus
             * theirs, each once. */
            cap = gd[g].np;
            for (size_t j = 0; j < gd[g].ng; j++)
                if (gd[g].groups[j] != SIZE_MAX)
                    cap += d->groups[gd[g].groups[j]].n_members;
            m = malloc((cap + 1) * sizeof(size_t));
            if (!m) {
                rc = nomem(L);
                goto out;
            }
            for (size_t j = 0; j < gd[g].np; j++) {
                size_t p = gd[g].people[j];
                if (seen[p] != g) {
                    seen[p] = g;
                    m[n++] = p;
                }
            }
            for (size_t j = 0; j < gd[g].ng; j++) {
                const struct tg_group *sub;
                if (gd[g].groups[j] == SIZE_MAX)
                    continue;
                sub = &d->groups[gd[g].groups[j]];
                for (size_t q = 0; q < sub->n_members; q++) {
                    size_t p = sub->members[q];
                    if (seen[p] != g) {
                        seen[p] = g;
                        m[n++] = p;
                    }
                }
            }
            free(d->groups[g].members);
            d->groups[g].members = m;
            d->groups[g].n_members = n;
            color[g] = BLACK;
            sp--;
        }
    }
out:
    free(color);
    free(stack);
    free(next);
    free(seen);
    return rc;
}

static int parse_groups_members(struct ld *L, struct tg_directory *d,
                                const struct dsrc *s)
{
    struct gdirect *gd = calloc(d->n_groups + 1, sizeof(*gd));

    if (!gd)
        return nomem(L);
    if (read_members(L, d, s, gd) == TG_OK)
        flatten_groups(L, d, gd);
    for (size_t g = 0; g < d->n_groups; g++) {
        free(gd[g].people);
        free(gd[g].groups);
        free(gd[g].group_line);
    }
    free(gd);
    return status(L);
}

static int parse_approvers(struct ld *L, struct tg_directory *d,
                           struct tg_system *sy, const yaml_node_t *n)
{
    static const char *const keys[] = {"person", "group", "max_privilege"};
    enum { PERSON, GROUP, MAXPRIV };
    size_t idx = 0;
    char nm[NAME_CAP], where[NAME_CAP], sh[SHOW_CAP];

    name_of(where, sizeof(where), "approvers of system %s", sy->id);
    if (!want_list(L, n, where))
        return status(L);
    sy->approvers = calloc(seq_len(n) + 1, sizeof(*sy->approvers));
    if (!sy->approvers)
        return nomem(L);
    for (yaml_node_item_t *it = n->data.sequence.items.start;
         it < n->data.sequence.items.top && !L->oom; it++, idx++) {
        yaml_node_t *item = node_at(L, *it);
        yaml_node_t *v[COUNT(keys)];
        struct tg_sys_approver a;
        char *priv = NULL;
        int ok = 1;

        name_of(where, sizeof(where), "systems.%s.approvers[%zu]", sy->id,
                idx);
        if (!item || MAP_KEYS(L, item, where, keys, v) != TG_OK)
            continue;
        memset(&a, 0, sizeof(a));
        if ((v[PERSON] != NULL) == (v[GROUP] != NULL)) {
            problem(L, item, "%s must name exactly one of person or group; "
                             "write one approver per entry", where);
            ok = 0;
        } else if (v[PERSON]) {
            ok = ref(L, d, v[PERSON],
                     name_of(nm, sizeof(nm), "%s.person", where),
                     TG_ENT_PERSON, &a.idx) == TG_OK;
        } else {
            a.is_group = 1;
            ok = ref(L, d, v[GROUP],
                     name_of(nm, sizeof(nm), "%s.group", where), TG_ENT_GROUP,
                     &a.idx) == TG_OK;
        }
        if (!v[MAXPRIV]) {
            problem(L, item, "%s has no max_privilege; write read, write or "
                             "admin", where);
            ok = 0;
        } else if (get_str(L, v[MAXPRIV],
                           name_of(nm, sizeof(nm), "%s.max_privilege", where),
                           F_REQ, &priv) == TG_OK) {
            if (tg_privilege_parse(priv, &a.max_privilege) != TG_OK) {
                problem(L, v[MAXPRIV], "%s is '%s'; write read, write or "
                                       "admin",
                        nm, show(priv, strlen(priv), sh, sizeof(sh)));
                ok = 0;
            }
            free(priv);
        } else {
            ok = 0;
        }
        if (ok)
            sy->approvers[sy->n_approvers++] = a;
    }
    return status(L);
}

static int parse_systems_refs(struct ld *L, struct tg_directory *d,
                              const struct dsrc *s)
{
    char nm[NAME_CAP];

    for (size_t i = 0; i < d->n_systems && !L->oom; i++) {
        struct tg_system *sy = &d->systems[i];
        const yaml_node_t *o = s->system_owners[i];
        size_t idx = 0;

        if (o && want_list(L, o, name_of(nm, sizeof(nm),
                                         "owners of system %s", sy->id))) {
            sy->owners = calloc(seq_len(o) + 1, sizeof(size_t));
            if (!sy->owners)
                return nomem(L);
            for (yaml_node_item_t *it = o->data.sequence.items.start;
                 it < o->data.sequence.items.top; it++, idx++) {
                size_t p;
                if (ref(L, d, node_at(L, *it),
                        name_of(nm, sizeof(nm), "systems.%s.owners[%zu]",
                                sy->id, idx),
                        TG_ENT_PERSON, &p) == TG_OK)
                    sy->owners[sy->n_owners++] = p;
            }
            if (idx == 0)
                problem(L, o, "system %s has no owner; name at least one "
                              "person under owners", sy->id);
        } else if (!o || is_null(o)) {
            problem_at(L, s->system_line[i], "system %s has no owner; name "
                                             "at least one person under "
                                             "owners",
                       sy->id);
        }
        if (s->system_approvers[i])
            parse_approvers(L, d, sy, s->system_approvers[i]);
    }
    return status(L);
}

static int get_date(struct ld *L, const yaml_node_t *n, const char *name,
                    int day_start, int64_t *out)
{
    char *v = NULL;
    char sh[SHOW_CAP];
    int rc;

    if ((rc = get_str(L, n, name, F_REQ, &v)) != TG_OK)
        return rc;
    rc = day_start ? tg_time_parse_day_start(v, strlen(v), out)
                   : tg_time_parse(v, strlen(v), out);
    if (rc != TG_OK) {
        problem(L, n, "%s is '%s', not a date; write YYYY-MM-DD", name,
                show(v, strlen(v), sh, sizeof(sh)));
        rc = TG_EINVAL;
    }
    free(v);
    return rc;
}

static int parse_delegations(struct ld *L, const yaml_node_t *n,
                             struct tg_directory *d)
{
    static const char *const keys[] = {"delegator", "delegate", "from",
                                       "until"};
    enum { DELEGATOR, DELEGATE, FROM, UNTIL };
    size_t idx = 0;
    char nm[NAME_CAP], where[NAME_CAP];

    if (!want_list(L, n, "delegations"))
        return status(L);
    d->delegations = calloc(seq_len(n) + 1, sizeof(*d->delegations));
    if (!d->delegations)
        return nomem(L);
    for (yaml_node_item_t *it = n->data.sequence.items.start;
         it < n->data.sequence.items.top && !L->oom; it++, idx++) {
        yaml_node_t *item = node_at(L, *it);
        yaml_node_t *v[COUNT(keys)];
        struct tg_delegation g;
        int ok = 1;

        name_of(where, sizeof(where), "delegations[%zu]", idx);
        if (!item || MAP_KEYS(L, item, where, keys, v) != TG_OK)
            continue;
        memset(&g, 0, sizeof(g));
        for (size_t k = 0; k < COUNT(keys); k++) {
            if (!v[k]) {
                problem(L, item, "%s has no %s; a delegation names delegator, "
                                 "delegate, from and until", where, keys[k]);
                ok = 0;
            }
        }
        if (!ok)
            continue;
        ok &= ref(L, d, v[DELEGATOR],
                  name_of(nm, sizeof(nm), "%s.delegator", where),
                  TG_ENT_PERSON, &g.delegator) == TG_OK;
        ok &= ref(L, d, v[DELEGATE],
                  name_of(nm, sizeof(nm), "%s.delegate", where),
                  TG_ENT_PERSON, &g.delegate) == TG_OK;
        ok &= get_date(L, v[FROM], name_of(nm, sizeof(nm), "%s.from", where),
                       1, &g.from) == TG_OK;
        ok &= get_date(L, v[UNTIL],
                       name_of(nm, sizeof(nm), "%s.until", where), 0,
                       &g.until) == TG_OK;
        if (!ok)
            continue;
        if (g.delegator == g.delegate) {
            problem(L, item, "%s delegates from %s to the same person; name "
                             "another delegate", where,
                    d->people[g.delegator].id);
            continue;
        }
        if (g.until < g.from) {
            problem(L, item, "%s ends (until) before it starts (from); fix "
                             "the dates", where);
            continue;
        }
        d->delegations[d->n_delegations++] = g;
    }
    return status(L);
}

/* Fills d (whose generic and strict the configuration already set) from the
 * directory document of D. */
static int parse_directory(struct ld *D, const yaml_node_t *root,
                           struct tg_directory *d)
{
    static const char *const keys[] = {"people", "groups", "systems",
                                       "delegations"};
    enum { PEOPLE, GROUPS, SYSTEMS, DELEGATIONS };
    yaml_node_t *v[COUNT(keys)];
    struct dsrc s;

    memset(&s, 0, sizeof(s));
    if (MAP_KEYS(D, root, "the directory", keys, v) != TG_OK)
        return status(D);
    if (v[PEOPLE])
        parse_people(D, v[PEOPLE], d, &s);
    if (v[GROUPS] && !D->oom)
        parse_group_ids(D, v[GROUPS], d, &s);
    if (v[SYSTEMS] && !D->oom)
        parse_system_ids(D, v[SYSTEMS], d, &s);
    if (!D->oom)
        check_names(D, d, &s);
    if (!D->oom && tg_directory_index(d, NULL) != TG_OK)
        nomem(D);
    if (!D->oom)
        parse_groups_members(D, d, &s);
    if (!D->oom)
        parse_systems_refs(D, d, &s);
    if (v[DELEGATIONS] && !D->oom)
        parse_delegations(D, v[DELEGATIONS], d);
    dsrc_free(&s);
    return status(D);
}

/* Reads and parses the directory file; its bytes (for the digest) go to
 * *text. Problems are reported in the directory file, or, when it cannot be
 * read, at directory.file of the configuration (C). */
static int load_directory(struct ld *C, struct tg_config *c,
                          const yaml_node_t *file_node, char **text,
                          size_t *len)
{
    struct ld D;
    yaml_document_t doc;
    int have = 0, err, rc;

    rc = read_file(c->directory_path, DIRECTORY_MAX_BYTES, text, len, &err);
    if (rc == TG_ENOMEM)
        return nomem(C);
    if (rc != TG_OK) {
        unreadable(C, file_node, "directory.file", c->directory_path, rc,
                   err);
        return TG_OK;
    }
    memset(&D, 0, sizeof(D));
    D.diag = C->diag;
    D.file = c->directory_path;
    D.doc = &doc;
    D.basedir = C->basedir;
    D.subst = 0;
    D.keys = C->keys;
    D.rank = 1;
    if (yaml_load(&D, *text, *len, &doc, &have) == TG_OK)
        parse_directory(&D, yaml_document_get_root_node(&doc),
                        &c->directory);
    else if (!D.oom && D.errors == 0)
        problem_at(&D, 1, "the directory could not be read as YAML");
    /* Even a broken directory gets its index, so that the structure is
     * consistent for whoever frees it. */
    if (!D.oom && !c->directory.names.slots &&
        tg_directory_index(&c->directory, NULL) != TG_OK)
        nomem(&D);
    if (have)
        yaml_document_delete(&doc);
    C->errors += D.errors;
    if (D.oom)
        return nomem(C);
    return TG_OK;
}

/* ---------------------------------------------------------------- digest */

static int digest(const char *a, size_t alen, const char *b, size_t blen,
                  char out[72])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int rc = TG_ENOMEM;

    if (!ctx)
        return TG_ENOMEM;
    if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(ctx, a, alen) != 1 ||
        (blen && EVP_DigestUpdate(ctx, b, blen) != 1) ||
        EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != 32)
        goto out;
    memcpy(out, "sha256:", 7);
    for (unsigned i = 0; i < mdlen; i++) {
        out[7 + 2 * i] = hex[md[i] >> 4];
        out[7 + 2 * i + 1] = hex[md[i] & 15];
    }
    out[7 + 2 * mdlen] = '\0';
    rc = TG_OK;
out:
    EVP_MD_CTX_free(ctx);
    return rc;
}

/* ------------------------------------------------------------------- load */

static int set_defaults(struct tg_config *c, struct ld *L)
{
    c->server.listen = strdup("127.0.0.1:8080");
    c->server.log_level = strdup("info");
    c->server.threads = 16;
    c->server.max_body_bytes = 1048576;
    c->server.request_timeout_ms = 10000;
    c->server.keep_alive_timeout_ms = 5000;
    c->server.connections = 16 * 16; /* 16 per thread unless set */
    c->server.max_token_lifetime_s = 86400;
    c->store.sync = TG_SYNC_NORMAL;
    c->store.busy_timeout_ms = 2000;
    if (!c->server.listen || !c->server.log_level)
        return nomem(L);
    return resolve(L, "./data/ticketgate.db", &c->store.path);
}

static int parse_root(struct ld *L, const yaml_node_t *root,
                      struct tg_config *c, yaml_node_t **dirfile)
{
    static const char *const keys[] = {"server", "store",  "sources",
                                       "gates",  "policy", "directory"};
    enum { SERVER, STORE, SOURCES, GATES, POLICY, DIRECTORY };
    yaml_node_t *v[COUNT(keys)];

    *dirfile = NULL;
    if (MAP_KEYS(L, root, "the configuration", keys, v) != TG_OK)
        return status(L);
    if (v[SERVER])
        parse_server(L, v[SERVER], c);
    if (v[STORE] && !L->oom)
        parse_store(L, v[STORE], c);
    if (v[SOURCES] && !L->oom)
        parse_sources(L, v[SOURCES], c);
    if (v[GATES] && !L->oom)
        parse_gates(L, v[GATES], c);
    if (v[POLICY] && !L->oom)
        parse_policy(L, v[POLICY], c);
    if (v[DIRECTORY] && !L->oom)
        parse_directory_section(L, v[DIRECTORY], c, dirfile);
    /* The verifiers see only their jwt section. */
    c->generic.jwt.max_lifetime_s = c->server.max_token_lifetime_s;
    c->servicenow.jwt.max_lifetime_s = c->server.max_token_lifetime_s;
    return status(L);
}

int tg_config_load(const char *path, struct tg_config **out,
                   struct tg_diag *diag)
{
    struct tg_config *c = NULL;
    struct tg_diag local;
    struct ld L;
    struct dkeys keys;
    yaml_document_t doc;
    yaml_node_t *dirfile = NULL;
    char *text = NULL, *dtext = NULL;
    size_t len = 0, dlen = 0;
    int have = 0, err, rc;

    tg_diag_init(&local);
    if (!diag)
        diag = &local;
    memset(&L, 0, sizeof(L));
    memset(&keys, 0, sizeof(keys));
    keys.base = diag->n;
    L.keys = &keys;
    L.diag = diag;
    L.file = path;
    L.doc = &doc;
    L.subst = 1;
    if (!path || !out) {
        rc = TG_EINVAL;
        goto out;
    }
    c = calloc(1, sizeof(*c));
    if (!c) {
        rc = TG_ENOMEM;
        goto out;
    }
    tg_directory_init(&c->directory);
    c->path = strdup(path);
    c->basedir = dir_of(path);
    if (!c->path || !c->basedir) {
        rc = TG_ENOMEM;
        goto out;
    }
    L.basedir = c->basedir;
    if ((rc = tg_policy_init_defaults(&c->policy)) != TG_OK)
        goto out;
    if ((rc = set_defaults(c, &L)) != TG_OK)
        goto out;

    rc = read_file(path, CONFIG_MAX_BYTES, &text, &len, &err);
    if (rc == TG_EIO) {
        tg_diag_add(diag, path, 0, "cannot read the configuration (%s); "
                                   "check the path given with -c",
                    strerror(err ? err : EIO));
        goto out;
    }
    if (rc == TG_ETOOBIG) {
        tg_diag_add(diag, path, 0, "the configuration is larger than %zu "
                                   "bytes; is -c naming the right file?",
                    (size_t)CONFIG_MAX_BYTES);
        rc = TG_EINVAL;
        goto out;
    }
    if (rc != TG_OK)
        goto out;

    if ((rc = yaml_load(&L, text, len, &doc, &have)) != TG_OK)
        goto out;
    if ((rc = parse_root(&L, yaml_document_get_root_node(&doc), c,
                         &dirfile)) != TG_OK)
        goto out;
    if (c->directory_path) {
        if ((rc = load_directory(&L, c, dirfile, &dtext, &dlen)) != TG_OK)
            goto out;
    } else if ((rc = tg_directory_index(&c->directory, NULL)) != TG_OK) {
        goto out;
    }
    if ((rc = digest(text, len, dtext, dlen, c->digest)) != TG_OK)
        goto out;
    rc = L.oom ? TG_ENOMEM : L.errors ? TG_EINVAL : TG_OK;
    if (rc == TG_OK) {
        *out = c;
        c = NULL;
    }
out:
    sort_diags(diag, &keys);
    free(keys.v);
    if (rc == TG_EINVAL && diag->n == 0 && L.errors == 0 && path)
        tg_diag_add(diag, path, 0, "the configuration could not be loaded");
    if (have) {
        wipe_document(&doc);
        yaml_document_delete(&doc);
    }
    free_text(text, len);
    free_text(dtext, dlen);
    tg_config_free(c);
    tg_diag_cleanup(&local);
    if (rc == TG_OK || rc == TG_EIO || rc == TG_ENOMEM)
        return rc;
    return TG_EINVAL;
}

/* ------------------------------------------------------------------- free */

static void jwt_free(struct tg_jwt_conf *j)
{
    if (j->key)
        OPENSSL_cleanse(j->key, j->key_len);
    free(j->key);
    free(j->issuer);
    free(j->audience);
}

static void fields_free(struct tg_field_map *m)
{
    free(m->justification);
    free(m->owner);
    free(m->expires_at);
    free(m->system);
    free(m->environment);
    free(m->entitlement);
    free(m->privilege);
    free(m->beneficiary);
    free(m->beneficiary_type);
    free(m->emergency);
    free(m->approvals);
    free(m->approver);
}

void tg_config_free(struct tg_config *c)
{
    if (!c)
        return;
    free(c->path);
    free(c->basedir);
    free(c->server.listen);
    free(c->server.tls_certificate);
    free(c->server.tls_client_ca);
    free(c->server.admin_listen);
    free(c->server.log_level);
    free(c->store.path);
    if (c->store.hmac_key)
        OPENSSL_cleanse(c->store.hmac_key, c->store.hmac_key_len);
    free(c->store.hmac_key);
    free_secret(c->jira.hmac_secret);
    free_secret(c->jira.connect_shared_secret);
    free_strs(c->jira.access_issue_types, c->jira.n_access_issue_types);
    fields_free(&c->jira.fields);
    jwt_free(&c->servicenow.jwt);
    free_secret(c->servicenow.standard_webhooks_secret);
    fields_free(&c->servicenow.variables);
    jwt_free(&c->generic.jwt);
    for (size_t i = 0; i < c->n_gates; i++) {
        free(c->gates[i].source);
        free_strs(c->gates[i].projects, c->gates[i].n_projects);
        free_strs(c->gates[i].to, c->gates[i].n_to);
        free_strs(c->gates[i].issue_types, c->gates[i].n_issue_types);
    }
    free(c->gates);
    tg_policy_cleanup(&c->policy);
    tg_directory_cleanup(&c->directory);
    free(c->directory_path);
    free(c);
}
