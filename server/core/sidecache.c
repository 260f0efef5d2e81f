/* sidecache.c - recorded decisions' sides remembered by their text. */
#include "server/core/sidecache.h"

#include <stdlib.h>
#include <string.h>

#include "validators/errors.h"

/* Entries a text may sit in: its side's hash and the next few slots. */
#define PROBES 4

static uint64_t side_hash(const struct tg_change_side *s)
{
    uint64_t h = 1469598103934665603ULL ^ (uint64_t)s->verdict;

    for (size_t i = 0; i < sizeof(s->act); i++)
        h = (h ^ s->act[i]) * 1099511628211ULL;
    return h;
}

static int same_side(const struct tg_change_side *a,
                     const struct tg_change_side *b)
{
    return !tg_change_differs(a, b);
}

void tg_sidecache_init(struct tg_sidecache *c)
{
    memset(c, 0, sizeof(*c));
}

void tg_sidecache_cleanup(struct tg_sidecache *c)
{
    for (size_t i = 0; i < TG_SIDECACHE_SLOTS; i++)
        free(c->e[i].text);
    tg_sidecache_init(c);
}

int tg_sidecache_match(const struct tg_sidecache *c, const char *s, size_t len,
                       const struct tg_change_side *side)
{
    uint64_t h = side_hash(side);

    for (size_t k = 0; k < PROBES; k++) {
        const struct tg_sidecache_entry *e =
            &c->e[(h + k) % TG_SIDECACHE_SLOTS];
        if (e->text && e->hash == h && e->len <= len &&
            memcmp(e->text, s, e->len) == 0 && same_side(&e->side, side))
            return 1;
    }
    return 0;
}

int tg_sidecache_put(struct tg_sidecache *c, const char *s, size_t n,
                     const struct tg_change_side *side)
{
    uint64_t h = side_hash(side);
    struct tg_sidecache_entry *e = NULL;
    char *copy;

    if (n == 0 || n > TG_SIDECACHE_TEXT)
        return TG_OK;
    for (size_t k = 0; k < PROBES; k++) {
        struct tg_sidecache_entry *x = &c->e[(h + k) % TG_SIDECACHE_SLOTS];
        if (x->text && x->hash == h && x->len == n &&
            memcmp(x->text, s, n) == 0 && same_side(&x->side, side))
            return TG_OK; /* already remembered */
        if (!x->text && !e)
            e = x;
    }
    /* All taken: the text replaces the one in its home slot. */
    if (!e)
        e = &c->e[h % TG_SIDECACHE_SLOTS];
    if (!(copy = malloc(n)))
        return TG_ENOMEM;
    memcpy(copy, s, n);
    free(e->text);
    e->hash = h;
    e->text = copy;
    e->len = n;
    e->side = *side;
    return TG_OK;
}
