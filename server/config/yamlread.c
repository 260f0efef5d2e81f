/* yamlread.c - files and YAML into nodes, scalars into values, ${NAME}. */
#include "server/config/internal.h"
#include "server/util/number.h"

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

int tg_cfg_is_null(const yaml_node_t *n)
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

void tg_cfg_free_secret(char *s)
{
    if (s) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

void tg_cfg_free_strs(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

yaml_node_t *tg_cfg_node_at(const struct ld *L, int id)
{
    return yaml_document_get_node(L->doc, id);
}

/* ------------------------------------------------------- the byte buffer */

/* Appends n bytes of s to b unless an earlier append failed (*err set):
 * the first failure sticks, so a message is never built with a hole. */
void tg_cfg_put(struct tg_strbuf *b, int *err, const char *s, size_t n)
{
    if (!*err)
        *err = tg_strbuf_putn(b, s, n);
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
    struct tg_strbuf b = TG_STRBUF_INIT(VALUE_MAX_BYTES);
    size_t i = 0, run = 0;
    int bad = 0;
    /* The first failure sticks: later pieces are not added. */
    int err = tg_strbuf_putn(&b, "", 0);
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
        tg_cfg_put(&b, &err, s + run, i - run);
        {
            char *var = strndup(s + i + 2, j - i - 2);
            const char *v;
            if (!var) {
                tg_strbuf_wipe(&b);
                return tg_cfg_nomem(L);
            }
            v = getenv(var);
            if (!v) {
                tg_cfg_problem(
                    L, n,
                    "%s uses the environment variable %.*s, which is not "
                    "set; export it before starting ticketgate or write "
                    "the value here",
                    name, SHOW_MAX, var);
                bad = 1;
            } else {
                tg_cfg_put(&b, &err, v, strlen(v));
            }
            free(var);
        }
        i = run = j + 1;
    }
    tg_cfg_put(&b, &err, s + run, len - run);
    if (err == TG_ENOMEM) {
        tg_strbuf_wipe(&b);
        return tg_cfg_nomem(L);
    }
    if (err) {
        tg_cfg_problem(L, n,
                       "%s is longer than %zu bytes after ${NAME} "
                       "substitution; shorten the variable's value",
                       name, (size_t)VALUE_MAX_BYTES);
        bad = 1;
    }
    if (bad) {
        tg_strbuf_wipe(&b);
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
        tg_cfg_problem(L, n, "%s contains a NUL character; remove it", name);
        return TG_EINVAL;
    }
    if (L->subst)
        return expand(L, n, name, s, len, out);
    v = strndup(s, len);
    if (!v)
        return tg_cfg_nomem(L);
    *out = v;
    return TG_OK;
}

static void empty_problem(struct ld *L, const yaml_node_t *n, const char *name,
                          unsigned flags)
{
    if (flags & F_SECRET)
        tg_cfg_problem(L, n,
                       "%s is empty; set the secret (or ${NAME} to read it "
                       "from the environment) or remove the key",
                       name);
    else
        tg_cfg_problem(L, n, "%s is empty; give it a value or remove the key",
                       name);
}

/*
 * Reads scalar n into *out (a new string; the old one is freed). Returns
 * TG_OK, TG_ENOTFOUND when n is NULL or null (then *out is untouched and
 * nothing is reported unless flags make it required), TG_EINVAL (reported)
 * or TG_ENOMEM.
 */
int tg_cfg_get_str(struct ld *L, const yaml_node_t *n, const char *name,
                   unsigned flags, char **out)
{
    char *v = NULL;
    int rc;

    if (!n)
        return TG_ENOTFOUND;
    if (n->type != YAML_SCALAR_NODE) {
        tg_cfg_problem(L, n, "%s is %s; write a single value", name,
                       tg_cfg_kind_name(n));
        return TG_EINVAL;
    }
    if (tg_cfg_is_null(n)) {
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
            tg_cfg_free_secret(v);
        else
            free(v);
        return TG_EINVAL;
    }
    if (flags & F_LOWER)
        lower_ascii(v);
    if (flags & F_SECRET)
        tg_cfg_free_secret(*out);
    else
        free(*out);
    *out = v;
    return TG_OK;
}

/* s as tg_number_parse_i64 reads it: an optional '-' and decimal digits,
 * nothing else. Returns TG_OK, TG_EINVAL (not a number) or TG_ETOOBIG (out of
 * range). */
static int parse_ll(const char *s, long long *out)
{
    size_t len = strlen(s);
    int64_t v;

    if (tg_number_parse_i64(s, len, INT64_MIN, INT64_MAX, &v) == TG_OK) {
        *out = v;
        return TG_OK;
    }
    /* Refused: digits alone beyond the range are too large, anything else
     * is not a number (the two messages differ). */
    if (s[0] == '-') {
        s++;
        len--;
    }
    if (len == 0)
        return TG_EINVAL;
    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return TG_EINVAL;
    return TG_ETOOBIG;
}

/* Reads a whole number in [min, max] into *out. Same results as get_str. */
int tg_cfg_get_int(struct ld *L, const yaml_node_t *n, const char *name,
                   long long min, long long max, long long *out)
{
    char *v = NULL;
    char sh[SHOW_CAP];
    long long x = 0;
    int rc;

    if (!n)
        return TG_ENOTFOUND;
    if (n->type != YAML_SCALAR_NODE) {
        tg_cfg_problem(L, n, "%s is %s; write a whole number", name,
                       tg_cfg_kind_name(n));
        return TG_EINVAL;
    }
    if (tg_cfg_is_null(n)) {
        tg_cfg_problem(L, n,
                       "%s has no value; write a whole number or remove the "
                       "key",
                       name);
        return TG_EINVAL;
    }
    if ((rc = scalar_text(L, n, name, &v)) != TG_OK)
        return rc;
    rc = parse_ll(v, &x);
    if (rc == TG_EINVAL) {
        tg_cfg_problem(L, n,
                       "%s is '%s', not a whole number; write digits only",
                       name, tg_cfg_show(v, strlen(v), sh, sizeof(sh)));
    } else if (rc == TG_ETOOBIG || x > max) {
        tg_cfg_problem(L, n,
                       "%s is '%s', too large; write a number of at most %lld",
                       name, tg_cfg_show(v, strlen(v), sh, sizeof(sh)), max);
        rc = TG_EINVAL;
    } else if (x < 0 && min >= 0) {
        tg_cfg_problem(L, n,
                       "%s is negative (%lld); write a number of at least "
                       "%lld",
                       name, x, min);
        rc = TG_EINVAL;
    } else if (x < min) {
        tg_cfg_problem(L, n, "%s is %lld; write a number of at least %lld",
                       name, x, min);
        rc = TG_EINVAL;
    }
    free(v);
    if (rc == TG_OK)
        *out = x;
    return rc;
}

int tg_cfg_get_uint(struct ld *L, const yaml_node_t *n, const char *name,
                    unsigned min, unsigned max, unsigned *out)
{
    long long x;
    int rc = tg_cfg_get_int(L, n, name, min, max, &x);
    if (rc == TG_OK)
        *out = (unsigned)x;
    return rc;
}

int tg_cfg_get_intv(struct ld *L, const yaml_node_t *n, const char *name,
                    int min, int max, int *out)
{
    long long x;
    int rc = tg_cfg_get_int(L, n, name, min, max, &x);
    if (rc == TG_OK)
        *out = (int)x;
    return rc;
}

/* Reads one of names (any case) into *out as its index. */
int tg_cfg_get_enum(struct ld *L, const yaml_node_t *n, const char *name,
                    const char *const *names, size_t count, int *out)
{
    char *v = NULL;
    char sh[SHOW_CAP], hint[160];
    size_t used = 0;
    int rc;

    if ((rc = tg_cfg_get_str(L, n, name, F_REQ, &v)) != TG_OK)
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
                         i == 0           ? ""
                         : i + 1 == count ? " or "
                                          : ", ",
                         names[i]);
        if (r < 0 || (size_t)r >= sizeof(hint) - used)
            break;
        used += (size_t)r;
    }
    tg_cfg_problem(L, n, "%s is '%s'; write %s", name,
                   tg_cfg_show(v, strlen(v), sh, sizeof(sh)), hint);
    free(v);
    return TG_EINVAL;
}

int tg_cfg_get_bool(struct ld *L, const yaml_node_t *n, const char *name,
                    int *out)
{
    static const char *const names[] = {"false", "true", "no", "yes"};
    int i, rc = tg_cfg_get_enum(L, n, name, names, COUNT(names), &i);
    if (rc == TG_OK)
        *out = i % 2;
    return rc;
}

int tg_cfg_get_action(struct ld *L, const yaml_node_t *n, const char *name,
                      enum tg_action *out)
{
    char *v = NULL;
    char sh[SHOW_CAP];
    int rc;

    if ((rc = tg_cfg_get_str(L, n, name, F_REQ | F_LOWER, &v)) != TG_OK)
        return rc;
    if (tg_action_parse(v, out) != TG_OK) {
        tg_cfg_problem(L, n, "%s is '%s'; write deny, warn or off", name,
                       tg_cfg_show(v, strlen(v), sh, sizeof(sh)));
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
            } else if (p[j] == '[' && (p[j + 1] == ':' || p[j + 1] == '.' ||
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
int tg_cfg_get_strlist(struct ld *L, const yaml_node_t *n, const char *name,
                       unsigned flags, char ***out, size_t *nout)
{
    char **v;
    size_t cnt = 0, idx = 0;
    char nm[NAME_CAP], sh[SHOW_CAP];
    int bad = 0;

    if (!n)
        return TG_ENOTFOUND;
    if (tg_cfg_is_null(n)) {
        tg_cfg_free_strs(*out, *nout);
        *out = NULL;
        *nout = 0;
        return TG_OK;
    }
    if (n->type != YAML_SEQUENCE_NODE) {
        tg_cfg_problem(L, n, "%s is %s; write a list such as [\"a\", \"b\"]",
                       name, tg_cfg_kind_name(n));
        return TG_EINVAL;
    }
    v = calloc(
        (size_t)(n->data.sequence.items.top - n->data.sequence.items.start) + 1,
        sizeof(*v));
    if (!v)
        return tg_cfg_nomem(L);
    for (yaml_node_item_t *it = n->data.sequence.items.start;
         it < n->data.sequence.items.top; it++, idx++) {
        yaml_node_t *item = tg_cfg_node_at(L, *it);
        char *s = NULL;
        const char *why;
        int rc;
        tg_cfg_name_of(nm, sizeof(nm), "%s[%zu]", name, idx);
        rc = tg_cfg_get_str(L, item, nm, (flags & (F_LOWER | F_SECRET)) | F_REQ,
                            &s);
        if (rc == TG_ENOMEM) {
            tg_cfg_free_strs(v, cnt);
            return rc;
        }
        if (rc != TG_OK) {
            bad = 1;
            continue;
        }
        if ((flags & F_GLOB) && (why = glob_problem(s)) != NULL) {
            tg_cfg_problem(L, item,
                           "%s: the pattern '%s' %s; close every '[' with "
                           "']' or escape it as '\\['",
                           nm, tg_cfg_show(s, strlen(s), sh, sizeof(sh)), why);
            free(s);
            bad = 1;
            continue;
        }
        if ((flags & F_WORD) && !is_one_word(s)) {
            tg_cfg_problem(L, item,
                           "%s: '%s' is not one word (letters and digits "
                           "only), so it can never match; split or "
                           "remove it",
                           nm, tg_cfg_show(s, strlen(s), sh, sizeof(sh)));
            free(s);
            bad = 1;
            continue;
        }
        v[cnt++] = s;
    }
    tg_cfg_free_strs(*out, *nout);
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
int tg_cfg_map_keys(struct ld *L, const yaml_node_t *map, const char *where,
                    const char *const *keys, size_t nk, yaml_node_t **vals)
{
    char sh[SHOW_CAP];

    for (size_t i = 0; i < nk; i++)
        vals[i] = NULL;
    if (!map || tg_cfg_is_null(map))
        return TG_OK;
    if (map->type != YAML_MAPPING_NODE) {
        tg_cfg_problem(L, map, "%s is %s; write a mapping of keys and values",
                       where, tg_cfg_kind_name(map));
        return TG_EINVAL;
    }
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
         p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = tg_cfg_node_at(L, p->key);
        size_t i;
        if (!k || k->type != YAML_SCALAR_NODE) {
            tg_cfg_problem(L, k,
                           "%s has a key that is %s; keys are plain names",
                           where, k ? tg_cfg_kind_name(k) : "missing");
            continue;
        }
        for (i = 0; i < nk; i++)
            if (k->data.scalar.length == strlen(keys[i]) &&
                memcmp(k->data.scalar.value, keys[i], k->data.scalar.length) ==
                    0)
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
            tg_cfg_problem(L, k,
                           "unknown key '%s' in %s; remove it or use one of: "
                           "%s",
                           tg_cfg_show_node(k, sh, sizeof(sh)), where, hint);
            continue;
        }
        if (vals[i]) {
            tg_cfg_problem(L, k, "key '%s' appears twice in %s; keep one",
                           keys[i], where);
            continue;
        }
        vals[i] = tg_cfg_node_at(L, p->value);
    }
    return TG_OK;
}

size_t tg_cfg_seq_len(const yaml_node_t *n)
{
    return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
}

/* 1 when n is a list (null counts as an empty one); else reports it. */
int tg_cfg_want_list(struct ld *L, const yaml_node_t *n, const char *name)
{
    if (n->type == YAML_SEQUENCE_NODE)
        return 1;
    if (!tg_cfg_is_null(n))
        tg_cfg_problem(L, n, "%s is %s; write a list", name,
                       tg_cfg_kind_name(n));
    return 0;
}

/* ------------------------------------------------------------------ files */

/* Reads the whole file at path, at most max bytes, NUL-terminated. Returns
 * TG_OK, TG_EIO (errno in *err), TG_ETOOBIG or TG_ENOMEM. */
int tg_cfg_read_file(const char *path, size_t max, char **buf, size_t *len,
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

void tg_cfg_free_text(char *p, size_t len)
{
    if (p)
        OPENSSL_cleanse(p, len);
    free(p);
}

/* The directory part of path: "." when it has none. */
char *tg_cfg_dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

/* p relative to basedir (unless absolute) as a new string. */
int tg_cfg_resolve(struct ld *L, const char *p, char **out)
{
    size_t n;
    char *r;
    int w;
    const char *sep;

    if (p[0] == '/' || strcmp(L->basedir, ".") == 0) {
        r = strdup(p);
        if (!r)
            return tg_cfg_nomem(L);
        *out = r;
        return TG_OK;
    }
    while (p[0] == '.' && p[1] == '/')
        p += 2;
    sep = L->basedir[strlen(L->basedir) - 1] == '/' ? "" : "/";
    n = strlen(L->basedir) + strlen(sep) + strlen(p) + 1;
    r = malloc(n);
    if (!r)
        return tg_cfg_nomem(L);
    w = snprintf(r, n, "%s%s%s", L->basedir, sep, p);
    if (w < 0 || (size_t)w >= n) {
        free(r);
        return tg_cfg_nomem(L);
    }
    *out = r;
    return TG_OK;
}

/* Reads a path setting and resolves it against the configuration's
 * directory. Same results as get_str. */
int tg_cfg_get_path(struct ld *L, const yaml_node_t *n, const char *name,
                    char **out)
{
    char *v = NULL, *r = NULL;
    int rc;

    if ((rc = tg_cfg_get_str(L, n, name, F_REQ, &v)) != TG_OK)
        return rc;
    rc = tg_cfg_resolve(L, v, &r);
    free(v);
    if (rc != TG_OK)
        return rc;
    free(*out);
    *out = r;
    return TG_OK;
}

/* Reports, at n, a file that cannot be read. */
void tg_cfg_unreadable(struct ld *L, const yaml_node_t *n, const char *name,
                       const char *path, int rc, int err)
{
    if (rc == TG_ETOOBIG)
        tg_cfg_problem(L, n, "%s: %s is too large; point it at the right file",
                       name, path);
    else
        tg_cfg_problem(L, n,
                       "%s: cannot read %s (%s); check the path (relative "
                       "paths are relative to the configuration file)",
                       name, path, strerror(err ? err : EIO));
}

/* A file that must exist and be readable now (TLS material), read and
 * dropped so that lint finds a bad path before serve does. */
void tg_cfg_check_readable(struct ld *L, const yaml_node_t *n, const char *name,
                           const char *path)
{
    char *buf = NULL;
    size_t len = 0;
    int err, rc = tg_cfg_read_file(path, KEYFILE_MAX_BYTES, &buf, &len, &err);
    if (rc == TG_ENOMEM)
        tg_cfg_nomem(L);
    else if (rc != TG_OK)
        tg_cfg_unreadable(L, n, name, path, rc, err);
    tg_cfg_free_text(buf, len);
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

static void yaml_problem(struct ld *L, const yaml_parser_t *p, const char *text,
                         size_t len)
{
    int line = p->error == YAML_READER_ERROR
                   ? line_at_offset(text, len, p->problem_offset)
                   : (int)(p->problem_mark.line >= (size_t)INT_MAX - 1
                               ? INT_MAX
                               : p->problem_mark.line + 1);
    tg_cfg_problem_at(
        L, line,
        "not valid YAML: %s%s%s; fix the syntax (quote values that "
        "hold ': ', '#' or start with a special character)",
        p->problem ? p->problem : "syntax error", p->context ? " " : "",
        p->context ? p->context : "");
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
        } else if (c == '#' && (i == 0 || s[i - 1] == ' ' || s[i - 1] == '\t' ||
                                s[i - 1] == '\n')) {
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
int tg_cfg_yaml_load(struct ld *L, const char *text, size_t len,
                     yaml_document_t *doc, int *have)
{
    yaml_parser_t parser;
    yaml_document_t extra;
    int rc = TG_OK, deep;

    *have = 0;
    if ((deep = flow_too_deep(text, len)) != 0) {
        tg_cfg_problem_at(L, deep,
                          "lists and mappings nest more than %d levels deep "
                          "here; flatten the structure",
                          FLOW_MAX);
        return TG_EINVAL;
    }
    if (!yaml_parser_initialize(&parser))
        return tg_cfg_nomem(L);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, doc)) {
        if (parser.error == YAML_MEMORY_ERROR) {
            rc = tg_cfg_nomem(L);
        } else {
            yaml_problem(L, &parser, text, len);
            rc = TG_EINVAL;
        }
        goto out;
    }
    *have = 1;
    if (!yaml_document_get_root_node(doc)) {
        tg_cfg_problem_at(L, 1,
                          "the file is empty; write the settings as a "
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
        tg_cfg_problem(
            L, yaml_document_get_root_node(&extra),
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
void tg_cfg_wipe_document(yaml_document_t *doc)
{
    for (yaml_node_t *n = doc->nodes.start; n && n < doc->nodes.top; n++)
        if (n->type == YAML_SCALAR_NODE && n->data.scalar.value)
            OPENSSL_cleanse(n->data.scalar.value, n->data.scalar.length);
}
