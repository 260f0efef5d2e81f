/* diag.c - configuration problems as FILE:LINE, what to do, in order. */
#include "server/config/internal.h"

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
__attribute__((format(printf, 4, 0))) static void
diag_vadd(struct tg_diag *d, const char *file, int line, const char *fmt,
          va_list ap)
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
    if ((line > 0
             ? snprintf(msg, (size_t)mlen + 1, "%s:%d: %s", file, line, body)
             : snprintf(msg, (size_t)mlen + 1, "%s: %s", file, body)) != mlen)
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

void tg_diag_add(struct tg_diag *d, const char *file, int line, const char *fmt,
                 ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_vadd(d, file, line, fmt, ap);
    va_end(ap);
}

int tg_cfg_line_of(const yaml_node_t *n)
{
    if (!n)
        return 0;
    return n->start_mark.line >= (size_t)INT_MAX - 1
               ? INT_MAX
               : (int)n->start_mark.line + 1;
}

__attribute__((format(printf, 3, 0))) static void
problem_v(struct ld *L, int line, const char *fmt, va_list ap)
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

__attribute__((format(printf, 3, 4))) void
tg_cfg_problem_at(struct ld *L, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    problem_v(L, line, fmt, ap);
    va_end(ap);
}

__attribute__((format(printf, 3, 4))) void
tg_cfg_problem(struct ld *L, const yaml_node_t *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    problem_v(L, tg_cfg_line_of(n), fmt, ap);
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
void tg_cfg_sort_diags(struct tg_diag *d, struct dkeys *k)
{
    if (!d || k->broken || k->n != d->n - k->base || k->n < 2)
        return;
    for (size_t i = 0; i < k->n; i++)
        k->v[i].msg = d->msgs[k->base + i];
    qsort(k->v, k->n, sizeof(*k->v), dkey_cmp);
    for (size_t i = 0; i < k->n; i++)
        d->msgs[k->base + i] = k->v[i].msg;
}

int tg_cfg_nomem(struct ld *L)
{
    L->oom = 1;
    return TG_ENOMEM;
}

int tg_cfg_status(const struct ld *L)
{
    return L->oom ? TG_ENOMEM : TG_OK;
}

__attribute__((format(printf, 3, 4))) const char *
tg_cfg_name_of(char *buf, size_t cap, const char *fmt, ...)
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
const char *tg_cfg_show(const char *s, size_t len, char *buf, size_t cap)
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

const char *tg_cfg_show_node(const yaml_node_t *n, char *buf, size_t cap)
{
    if (n->type != YAML_SCALAR_NODE)
        return tg_cfg_show("", 0, buf, cap);
    return tg_cfg_show((const char *)n->data.scalar.value,
                       n->data.scalar.length, buf, cap);
}

const char *tg_cfg_kind_name(const yaml_node_t *n)
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
