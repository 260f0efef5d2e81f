/* cfgref.c - a loaded configuration shared by reference count. */
#include "server/config/cfgref.h"

#include <stdatomic.h>
#include <stdlib.h>

struct tg_cfgref {
    atomic_long refs;
    struct tg_config *cfg;
};

struct tg_cfgref *tg_cfgref_new(struct tg_config *c)
{
    struct tg_cfgref *r = malloc(sizeof(*r));
    if (!r) {
        tg_config_free(c);
        return NULL;
    }
    atomic_init(&r->refs, 1);
    r->cfg = c;
    return r;
}

struct tg_cfgref *tg_cfgref_get(struct tg_cfgref *r)
{
    atomic_fetch_add(&r->refs, 1);
    return r;
}

void tg_cfgref_put(struct tg_cfgref *r)
{
    if (!r)
        return;
    /* The thread that drops the count to zero is the only one left. */
    if (atomic_fetch_sub(&r->refs, 1) == 1) {
        tg_config_free(r->cfg);
        free(r);
    }
}

const struct tg_config *tg_cfgref_config(const struct tg_cfgref *r)
{
    return r->cfg;
}
