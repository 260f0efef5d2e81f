/* findings.c - the list of findings, and message templating. */
#include "validators/findings.h"

#include <stdlib.h>
#include <string.h>

#include "validators/errors.h"

/* An argument longer than this is cut with "...": a justification of a
 * megabyte must not make a message of a megabyte. */
#define ARG_MAX 120

void tg_findings_init(struct tg_findings *f)
{
    f->v = NULL;
    f->n = f->cap = 0;
}

void tg_findings_cleanup(struct tg_findings *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->v[i].message);
    free(f->v);
    tg_findings_init(f);
}

/* Length of arg as it will be printed: cut at ARG_MAX bytes, backing off to
 * a UTF-8 character boundary so the message stays valid UTF-8. */
static size_t arg_len(const char *a, int *cut)
{
    size_t n = strlen(a);
    *cut = 0;
    if (n <= ARG_MAX)
        return n;
    n = ARG_MAX;
    while (n > 0 && ((unsigned char)a[n] & 0xC0) == 0x80)
        n--;
    *cut = 1;
    return n;
}

/* Copies n bytes of src to dst with every control character (a newline
 * in a justification, a tab in an id) as a space: a finding's message is
 * one line (schemas/decision.schema.json), the top-level message lists the
 * findings one per line, and ITSMs render that list. */
static void one_line(char *dst, const char *src, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)src[i];
        dst[i] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
    }
}

static char *render(const char *tpl, const char *const *args, size_t nargs)
{
    size_t need = 1;
    char *msg, *w;
    for (const char *p = tpl; *p; p++) {
        if (p[0] == '{' && p[1] >= '1' && p[1] <= '9' && p[2] == '}') {
            size_t k = (size_t)(p[1] - '1');
            const char *a = (k < nargs && args[k]) ? args[k] : "(none)";
            int cut;
            need += arg_len(a, &cut) + (cut ? 3 : 0);
            p += 2;
        } else {
            need++;
        }
    }
    msg = malloc(need);
    if (!msg)
        return NULL;
    w = msg;
    for (const char *p = tpl; *p; p++) {
        if (p[0] == '{' && p[1] >= '1' && p[1] <= '9' && p[2] == '}') {
            size_t k = (size_t)(p[1] - '1');
            const char *a = (k < nargs && args[k]) ? args[k] : "(none)";
            int cut;
            size_t n = arg_len(a, &cut);
            one_line(w, a, n);
            w += n;
            if (cut) {
                memcpy(w, "...", 3);
                w += 3;
            }
            p += 2;
        } else {
            *w++ = *p;
        }
    }
    *w = '\0';
    return msg;
}

/* Appends a finding that takes msg (the caller's allocation), or frees it
 * on ENOMEM. */
static int append(struct tg_findings *f, enum tg_code code,
                  enum tg_action action, const char *field, char *msg)
{
    if (!msg)
        return TG_ENOMEM;
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 8;
        struct tg_finding *v = realloc(f->v, cap * sizeof(*v));
        if (!v) {
            free(msg);
            return TG_ENOMEM;
        }
        f->v = v;
        f->cap = cap;
    }
    f->v[f->n].code = code;
    f->v[f->n].action = action;
    f->v[f->n].field = field ? field : tg_code_info(code)->field;
    f->v[f->n].message = msg;
    f->v[f->n].exception = NULL;
    f->n++;
    return TG_OK;
}

int tg_findings_add(struct tg_findings *f, enum tg_code code,
                    enum tg_action action, const char *field,
                    const char *const *args, size_t nargs)
{
    if (action == TG_ACTION_OFF)
        return TG_OK;
    return append(f, code, action, field,
                  render(tg_code_info(code)->message, args, nargs));
}

int tg_findings_add_text(struct tg_findings *f, enum tg_code code,
                         enum tg_action action, const char *field,
                         const char *text)
{
    char *msg;
    if (action == TG_ACTION_OFF)
        return TG_OK;
    msg = strdup(text);
    if (msg)
        one_line(msg, text, strlen(text));
    return append(f, code, action, field, msg);
}
