/* justification.c - the justification validator: specific enough to review. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "validators/errors.h"
#include "validators/evaluate.h"
#include "validators/identity.h"
#include "validators/words.h"

struct word {
    const char *p;
    size_t len;
};

/* 1 when the word (any case) is in ws; ws holds lower-case words. */
static int in_set(const struct tg_wordset *ws, const char *w, size_t len)
{
    char buf[128];
    if (len > ws->maxlen || len >= sizeof(buf))
        return 0;
    tg_words_lower(w, len, buf);
    return tg_wordset_has(ws, buf, len);
}

/* Counts words and, up to `want`, distinct specific words (3+ characters,
 * not generic). Stops counting specific words at want: the rule only asks
 * whether there are enough, and this bounds the work on hostile input. */
static int count_words(const char *s, size_t len, const struct tg_policy *p,
                       size_t *n_words, size_t *n_specific)
{
    size_t pos = 0, start, wlen, want = p->min_specific_words;
    struct word *seen = NULL;
    size_t n_seen = 0;

    if (want > 0) {
        seen = malloc(want * sizeof(*seen));
        if (!seen)
            return TG_ENOMEM;
    }
    *n_words = 0;
    while (tg_words_next(s, len, &pos, &start, &wlen)) {
        const char *w = s + start;
        int dup = 0;
        (*n_words)++;
        if (n_seen >= want || tg_words_chars(w, wlen) < 3 ||
            in_set(&p->generic_words, w, wlen))
            continue;
        for (size_t i = 0; i < n_seen && !dup; i++)
            dup = seen[i].len == wlen && strncasecmp(seen[i].p, w, wlen) == 0;
        if (!dup)
            seen[n_seen++] = (struct word){w, wlen};
    }
    *n_specific = n_seen;
    free(seen);
    return TG_OK;
}

int tg_justification_check(const struct tg_ticket *t, const struct tg_policy *p,
                           long copy_forward_uses, struct tg_findings *out)
{
    const char *j = t->justification;
    size_t n_words, n_specific;
    char nbuf[24], mbuf[24];
    int rc;

    if (!tg_ident_present(j)) {
        const char *args[] = {NULL};
        return tg_findings_add(out, TG_JUSTIFICATION_MISSING,
                               p->action[TG_JUSTIFICATION_MISSING], NULL,
                               args, 0);
    }
    if ((rc = count_words(j, strlen(j), p, &n_words, &n_specific)) != TG_OK)
        return rc;
    if (n_words < p->min_words) {
        const char *args[] = {j, nbuf, mbuf};
        snprintf(nbuf, sizeof(nbuf), "%zu", n_words);
        snprintf(mbuf, sizeof(mbuf), "%u", p->min_words);
        rc = tg_findings_add(out, TG_JUSTIFICATION_TOO_SHORT,
                             p->action[TG_JUSTIFICATION_TOO_SHORT], NULL,
                             args, 3);
    } else if (n_specific < p->min_specific_words) {
        const char *args[] = {j};
        rc = tg_findings_add(out, TG_JUSTIFICATION_GENERIC,
                             p->action[TG_JUSTIFICATION_GENERIC], NULL, args,
                             1);
    }
    if (rc == TG_OK && copy_forward_uses >= 0 &&
        (unsigned long)copy_forward_uses >= p->copy_max_reuse) {
        const char *args[] = {j, nbuf};
        snprintf(nbuf, sizeof(nbuf), "%ld", copy_forward_uses);
        rc = tg_findings_add(out, TG_JUSTIFICATION_COPY_FORWARD,
                             p->action[TG_JUSTIFICATION_COPY_FORWARD], NULL,
                             args, 2);
    }
    return rc;
}
