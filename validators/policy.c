/* policy.c - policy defaults, word sets and privilege names. */
#include "validators/policy.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "validators/errors.h"
#include "validators/words.h"

static const char *const default_wildcards[] = {
    "all", "any", "every", "everything", "full", "unrestricted",
};

/* REASONS.md: the defaults are those of example/ticketgate.yaml. */
static const char *const default_generic[] = {
    "a", "about", "above", "access", "account", "all", "also", "an", "and",
    "any", "are", "as", "asap", "at", "be", "before", "business", "by", "can",
    "continue", "daily", "day", "discussed", "do", "doing", "duties", "duty",
    "for", "from", "get", "give", "grant", "granted", "have", "help", "i",
    "in", "is", "it", "its", "job", "just", "manager", "me", "my", "need",
    "needed", "needs", "of", "on", "ongoing", "our", "per", "please",
    "previous", "previously", "project", "purpose", "purposes", "reason",
    "reasons", "request", "requested", "requesting", "require", "required",
    "requires", "role", "same", "see", "so", "support", "task", "tasks",
    "team", "that", "the", "this", "ticket", "to", "urgent", "usual", "we",
    "with", "work", "working",
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

int tg_policy_init_defaults(struct tg_policy *p)
{
    memset(p, 0, sizeof(*p));
    for (size_t c = 0; c < TG_CODE_COUNT; c++)
        p->action[c] = tg_code_info((enum tg_code)c)->default_action;
    p->min_words = 6;
    p->min_specific_words = 3;
    p->copy_max_reuse = 2;
    p->copy_window_days = 90;
    p->max_days[TG_PRIV_READ] = 180;
    p->max_days[TG_PRIV_WRITE] = 90;
    p->max_days[TG_PRIV_ADMIN] = 30;
    p->service_max_days = 90;
    p->emergency_max_hours = 24;
    if (tg_wordset_build(&p->generic_words, default_generic,
                         COUNT(default_generic)) != TG_OK)
        return TG_ENOMEM;
    if (tg_wordset_build(&p->wildcard_words, default_wildcards,
                         COUNT(default_wildcards)) != TG_OK) {
        tg_wordset_cleanup(&p->generic_words);
        return TG_ENOMEM;
    }
    return TG_OK;
}

static void rules_free(struct tg_rule *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(r[i].environment);
        free(r[i].privilege);
        free(r[i].beneficiary_type);
        free(r[i].system);
        free(r[i].reason);
    }
    free(r);
}

void tg_policy_cleanup(struct tg_policy *p)
{
    tg_wordset_cleanup(&p->generic_words);
    tg_wordset_cleanup(&p->wildcard_words);
    rules_free(p->routine, p->n_routine);
    rules_free(p->forbidden, p->n_forbidden);
    p->routine = p->forbidden = NULL;
    p->n_routine = p->n_forbidden = 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int tg_wordset_build(struct tg_wordset *ws, const char *const *words, size_t n)
{
    char **v = calloc(n ? n : 1, sizeof(*v));
    size_t k = 0;
    if (!v)
        return TG_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        v[i] = strdup(words[i]);
        if (!v[i]) {
            for (size_t j = 0; j < i; j++)
                free(v[j]);
            free(v);
            return TG_ENOMEM;
        }
        for (char *c = v[i]; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c - 'A' + 'a');
    }
    qsort(v, n, sizeof(*v), cmp_str);
    for (size_t i = 0; i < n; i++) {
        if (k > 0 && strcmp(v[k - 1], v[i]) == 0)
            free(v[i]);
        else
            v[k++] = v[i];
    }
    ws->v = v;
    ws->n = k;
    ws->maxlen = 0;
    for (size_t i = 0; i < k; i++)
        if (strlen(v[i]) > ws->maxlen)
            ws->maxlen = strlen(v[i]);
    return TG_OK;
}

void tg_wordset_cleanup(struct tg_wordset *ws)
{
    for (size_t i = 0; i < ws->n; i++)
        free(ws->v[i]);
    free(ws->v);
    ws->v = NULL;
    ws->n = 0;
    ws->maxlen = 0;
}

int tg_wordset_has(const struct tg_wordset *ws, const char *w, size_t len)
{
    size_t lo = 0, hi = ws->n;
    if (len > ws->maxlen)
        return 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *s = ws->v[mid];
        int c = strncmp(s, w, len);
        if (c == 0)
            c = s[len] == '\0' ? 0 : 1;
        if (c == 0)
            return 1;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

int tg_privilege_parse(const char *s, enum tg_privilege *out)
{
    if (!s)
        return TG_EINVAL;
    if (strcasecmp(s, "read") == 0)
        *out = TG_PRIV_READ;
    else if (strcasecmp(s, "write") == 0)
        *out = TG_PRIV_WRITE;
    else if (strcasecmp(s, "admin") == 0)
        *out = TG_PRIV_ADMIN;
    else
        return TG_EINVAL;
    return TG_OK;
}

enum tg_privilege tg_privilege_of(const char *s)
{
    enum tg_privilege p = TG_PRIV_ADMIN;
    size_t len;
    char buf[8];
    if (!s)
        return TG_PRIV_ADMIN;
    /* Tolerate surrounding white space: " Read " is still read. */
    len = strlen(s);
    tg_words_trim(&s, &len);
    if (len >= sizeof(buf))
        return TG_PRIV_ADMIN;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (tg_privilege_parse(buf, &p) != TG_OK)
        return TG_PRIV_ADMIN;
    return p;
}

const char *tg_privilege_name(enum tg_privilege p)
{
    switch (p) {
    case TG_PRIV_READ:
        return "read";
    case TG_PRIV_WRITE:
        return "write";
    default:
        return "admin";
    }
}
