/* load.c - the decisions and events of a store read into a set, a thread per kind. */
#include "server/outcomes/internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "server/store/store.h"
#include "validators/errors.h"

struct part {
    const char *path;
    struct tg_evidence *e;
    const char *kind;
    struct tg_oc_set *s;
    int rc;
};

static int on_row(void *ctx, const struct tg_evidence_row *row)
{
    struct part *p = ctx;
    int rc = tg_oc_add_row(p->s, row);

    /* A positive value stops the scan and comes back from it. */
    return rc ? 1 : 0;
}

static void *scan_part(void *arg)
{
    struct part *p = arg;
    int rc;

    rc = p->path ? tg_evidence_scan_file(p->path, p->kind, INT64_MIN,
                                         INT64_MAX, on_row, p)
                 : tg_evidence_scan(p->e, p->kind, INT64_MIN, INT64_MAX,
                                    on_row, p);
    p->rc = rc == 1 ? TG_ENOMEM : rc;
    return NULL;
}

/* Moves the events of b into a: b's names re-interned in a (a few
 * thousand distinct names for a million events), its pool taken over. */
static int merge(struct tg_oc_set *a, struct tg_oc_set *b)
{
    uint32_t n = tg_oc_names_count(b->names), *map;
    size_t i;
    int rc = 0;

    map = malloc((size_t)n * sizeof *map);
    if (!map)
        return TG_ENOMEM;
    for (uint32_t id = 0; id < n && !rc; id++) {
        const char *t = tg_oc_names_text(b->names, id);
        rc = tg_oc_names_intern(a->names, t, strlen(t), &map[id]);
    }
    if (rc)
        goto out;
    for (i = 0; i < b->ne; i++) {
        struct tg_oc_event *e = &b->ev[i];
        e->identity = map[e->identity];
        e->system = map[e->system];
        e->entitlement = map[e->entitlement];
        e->environment = map[e->environment];
        e->ticket = map[e->ticket];
    }
    free(a->ev);
    free(a->pool);
    a->ev = b->ev;
    a->ne = b->ne;
    a->cape = b->cape;
    a->pool = b->pool;
    a->pool_len = b->pool_len;
    a->pool_cap = b->pool_cap;
    a->unreadable += b->unreadable;
    b->ev = NULL;
    b->pool = NULL;
    b->ne = b->cape = b->pool_len = b->pool_cap = 0;
out:
    free(map);
    return rc;
}

int tg_oc_load_file(const char *path, struct tg_oc_set **out)
{
    struct part d = {.path = path, .kind = "decision"};
    struct part v = {.path = path, .kind = "event"};
    pthread_t th;
    int threaded, rc;

    d.s = tg_oc_set_new();
    v.s = tg_oc_set_new();
    if (!d.s || !v.s) {
        rc = TG_ENOMEM;
        goto out;
    }
    /* Events on a second thread with its own connection and names; the
     * decisions, the larger half, on this one. */
    threaded = pthread_create(&th, NULL, scan_part, &v) == 0;
    scan_part(&d);
    if (threaded)
        pthread_join(th, NULL);
    else
        scan_part(&v);
    rc = d.rc ? d.rc : v.rc;
    if (!rc)
        rc = merge(d.s, v.s);
    if (!rc)
        rc = tg_oc_link(d.s);
    if (!rc) {
        *out = d.s;
        d.s = NULL;
    }
out:
    tg_oc_set_free(d.s);
    tg_oc_set_free(v.s);
    return rc;
}

int tg_oc_load(struct tg_evidence *e, struct tg_oc_set **out)
{
    struct part p = {.e = e, .kind = NULL};
    int rc;

    p.s = tg_oc_set_new();
    if (!p.s)
        return TG_ENOMEM;
    scan_part(&p);
    rc = p.rc;
    if (!rc)
        rc = tg_oc_link(p.s);
    if (rc) {
        tg_oc_set_free(p.s);
        return rc;
    }
    *out = p.s;
    return 0;
}
