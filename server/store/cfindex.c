/* cfindex.c - the copy-forward index: just_use in memory. */

#include "server/store/cfindex.h"

#include "server/util/digest.h"
#include "validators/errors.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------ the copy-forward index */

/* The digest of s that the index keys on (see struct tg_cf_index). */
int tg_cf_digest(const char *s, unsigned char out[TG_CF_DIGEST])
{
    unsigned char full[TG_DIGEST_LEN];

    if (tg_digest_sha256_of(s, strlen(s), full) != 0)
        return TG_EIO;
    memcpy(out, full, TG_CF_DIGEST);
    return 0;
}

int64_t tg_cf_clock(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The index holds every record up to seq, and no other was appended
 * before at_ms (tg_cf_clock: taken before the COMMIT that let other
 * writers go on was sent; the caller holds mu, or is the only thread). */
void tg_cf_synced(struct tg_cf_index *x, int64_t seq, int64_t at_ms)
{
    x->seq = seq;
    x->synced_ms = at_ms;
}

/* The index holds every record up to seq only, and not those after it
 * that another process appended since: it is stale (the database counts)
 * until a tg_cf_synced. */
void tg_cf_behind(struct tg_cf_index *x, int64_t seq)
{
    x->seq = seq;
    x->synced_ms = INT64_MIN / 2;
}

static uint32_t cf_hash(const unsigned char d[TG_CF_DIGEST])
{
    uint32_t h;

    memcpy(&h, d, sizeof h); /* a digest is uniform already */
    return h;
}

/* The slot of jd's drop counter (struct tg_cf_index's drops): the top
 * bits of cf_hash, apart from the bucket's low ones, so that the
 * justifications of one slot spread over the buckets (the unit test
 * builds such; it is exported for it). */
_Static_assert(TG_CF_DROP_BITS + 15 <= 32 && TG_CF_BUCKETS <= (1u << 15),
               "drop slot bits overlap the bucket bits");
uint32_t tg_cf_drop_slot(const unsigned char jd[TG_CF_DIGEST])
{
    return cf_hash(jd) >> (32 - TG_CF_DROP_BITS);
}

int tg_cf_init(struct tg_cf_index *x)
{
    memset(x, 0, sizeof *x);
    if (pthread_mutex_init(&x->mu, NULL))
        return TG_ENOMEM;
    x->bucket = calloc(TG_CF_BUCKETS, sizeof *x->bucket);
    if (!x->bucket) {
        pthread_mutex_destroy(&x->mu);
        return TG_ENOMEM;
    }
    x->rng = 0x9e3779b97f4a7c15ULL ^ (uint64_t)tg_cf_clock();
    x->horizon = INT64_MIN;
    return 0;
}

void tg_cf_cleanup(struct tg_cf_index *x)
{
    if (!x->bucket)
        return;
    for (uint32_t i = 0; i < x->n; i++)
        if (x->g[i].cap > 1)
            free(x->g[i].more);
    free(x->g);
    free(x->bucket);
    free(x->gone);
    pthread_mutex_destroy(&x->mu);
    memset(x, 0, sizeof *x);
}

/* Bit k (< TG_CF_GONE_K) of d in the gone filter: 24 bits of the digest each,
 * from bytes 4..15 (the bucket hash uses 0..3), masked to the filter. */
static uint32_t cf_gone_bit(const unsigned char d[TG_CF_DIGEST], int k)
{
    const unsigned char *b = d + 4 + 3 * k;

    return ((uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16) &
           (TG_CF_GONE_BITS - 1);
}

static int cf_is_gone(const struct tg_cf_index *x,
                      const unsigned char d[TG_CF_DIGEST])
{
    if (!x->gone)
        return 0;
    for (int k = 0; k < TG_CF_GONE_K; k++) {
        uint32_t b = cf_gone_bit(d, k);

        if (!(x->gone[b >> 3] & (1u << (b & 7))))
            return 0;
    }
    return 1;
}

static struct tg_cf_group *cf_find(struct tg_cf_index *x,
                                   const unsigned char jd[TG_CF_DIGEST])
{
    uint32_t i = x->bucket[cf_hash(jd) & (TG_CF_BUCKETS - 1)];

    while (i) {
        struct tg_cf_group *g = &x->g[i - 1];

        if (memcmp(g->jd, jd, TG_CF_DIGEST) == 0)
            return g;
        i = g->next;
    }
    return NULL;
}

/* The link (bucket head or a group's next) that points at group index i. */
static uint32_t *cf_link_to(struct tg_cf_index *x, uint32_t i)
{
    uint32_t *l = &x->bucket[cf_hash(x->g[i].jd) & (TG_CF_BUCKETS - 1)];

    while (*l != i + 1)
        l = &x->g[*l - 1].next;
    return l;
}

/* Drops group i and remembers its justification as gone, unless it held
 * no use (tg_cf_reload): nothing of it is lost, and the filter stays
 * emptier. Returns 0, or TG_ENOMEM when the filter cannot be allocated
 * (the index is then invalid). */
static int cf_drop(struct tg_cf_index *x, uint32_t i)
{
    struct tg_cf_group *g = &x->g[i];
    uint32_t last = x->n - 1;

    if (g->n > 0 && !x->gone && !(x->gone = calloc(TG_CF_GONE_BITS / 8, 1))) {
        x->valid = 0;
        return TG_ENOMEM;
    }
    for (int k = 0; k < TG_CF_GONE_K && g->n > 0; k++) {
        uint32_t b = cf_gone_bit(g->jd, k);

        x->gone[b >> 3] |= (unsigned char)(1u << (b & 7));
    }
    /* an empty group's drop loses no use a reload could miss */
    if (g->n > 0)
        x->drops[tg_cf_drop_slot(g->jd)]++;
    *cf_link_to(x, i) = g->next;
    if (g->cap > 1) {
        free(g->more);
        x->n_more -= g->cap;
    }
    if (i != last) {
        /* the last group moves into the hole; its link follows it */
        *cf_link_to(x, last) = i + 1;
        x->g[i] = x->g[last];
    }
    x->n--;
    return 0;
}

/* Drops the least recently used of a few sampled groups other than keep
 * (an approximation of LRU that needs no list to maintain). */
static int cf_evict(struct tg_cf_index *x, const struct tg_cf_group *keep)
{
    uint32_t victim = UINT32_MAX;

    for (int s = 0; s < 5; s++) {
        uint32_t i;

        x->rng ^= x->rng << 13;
        x->rng ^= x->rng >> 7;
        x->rng ^= x->rng << 17;
        i = (uint32_t)(x->rng % x->n);
        if (&x->g[i] == keep)
            continue;
        if (victim == UINT32_MAX || x->g[i].newest < x->g[victim].newest)
            victim = i;
    }
    if (victim == UINT32_MAX)
        return 0; /* only keep sampled: nothing dropped this time */
    return cf_drop(x, victim);
}

static struct tg_cf_use *cf_uses(struct tg_cf_group *g)
{
    return g->cap > 1 ? g->more : &g->one;
}

/* Adds the group of jd with its first use (td, t), or with none when td
 * is NULL (t is then its place in the eviction order). Returns 0 or
 * TG_ENOMEM. */
static int cf_new_group(struct tg_cf_index *x,
                        const unsigned char jd[TG_CF_DIGEST],
                        const unsigned char td[TG_CF_DIGEST], int64_t t)
{
    struct tg_cf_group *g;

    while (x->n >= TG_CF_GROUPS_MAX)
        if (cf_evict(x, NULL))
            return TG_ENOMEM;
    if (x->n == x->cap) {
        uint32_t ncap = x->cap ? x->cap * 2 : 1024;
        struct tg_cf_group *ng;

        if (ncap > TG_CF_GROUPS_MAX)
            ncap = TG_CF_GROUPS_MAX;
        if (!(ng = realloc(x->g, ncap * sizeof *ng))) {
            x->valid = 0;
            return TG_ENOMEM;
        }
        x->g = ng;
        x->cap = ncap;
    }
    g = &x->g[x->n];
    memset(g, 0, sizeof *g);
    memcpy(g->jd, jd, TG_CF_DIGEST);
    g->newest = t;
    g->n = td ? 1 : 0;
    g->cap = 1;
    g->complete = !cf_is_gone(x, jd);
    if (td) {
        memcpy(g->one.td, td, TG_CF_DIGEST);
        g->one.last = t;
    }
    g->next = x->bucket[cf_hash(jd) & (TG_CF_BUCKETS - 1)];
    x->bucket[cf_hash(jd) & (TG_CF_BUCKETS - 1)] = ++x->n;
    return 0;
}

/* Gives the full group *gi (of jd) room for more uses, evicting others if
 * the slots run out (which may move it: *gi is its index after). When no
 * room can be made the group is dropped and *dropped set. Returns 0 or
 * TG_ENOMEM. */
static int cf_grow(struct tg_cf_index *x, uint32_t *gi_io,
                   const unsigned char jd[TG_CF_DIGEST], int *dropped)
{
    uint32_t gi = *gi_io;
    struct tg_cf_group *g = &x->g[gi];
    uint32_t ncap = g->cap < 4 ? 4 : g->cap * 2;
    struct tg_cf_use *nu;

    if (ncap > TG_CF_GROUP_MAX)
        ncap = TG_CF_GROUP_MAX;
    while (x->n_more + ncap > TG_CF_USES_MAX && x->n > 1) {
        /* eviction may move groups: find ours again by index */
        uint32_t before = x->n;

        if (cf_evict(x, &x->g[gi]))
            return TG_ENOMEM;
        if (x->n < before && gi >= x->n)
            gi = (uint32_t)(cf_find(x, jd) - x->g);
    }
    *gi_io = gi;
    g = &x->g[gi];
    if (x->n_more + ncap > TG_CF_USES_MAX ||
        !(nu = malloc(ncap * sizeof *nu))) {
        /* no room for this one group: forget it rather than lie */
        *dropped = 1;
        return cf_drop(x, gi);
    }
    memcpy(nu, cf_uses(g), g->n * sizeof *nu);
    if (g->cap > 1) {
        free(g->more);
        x->n_more -= g->cap;
    }
    g->more = nu;
    g->cap = ncap;
    x->n_more += ncap;
    return 0;
}

/*
 * Records that ticket td used justification jd at time t, as the upsert
 * into just_use does (last = max). Returns 0 or TG_ENOMEM (the index is then
 * invalid: counts go to SQLite).
 */
int tg_cf_add(struct tg_cf_index *x, const unsigned char jd[TG_CF_DIGEST],
              const unsigned char td[TG_CF_DIGEST], int64_t t)
{
    struct tg_cf_group *g = cf_find(x, jd);
    struct tg_cf_use *u;

    if (!x->valid)
        return 0;
    if (!g)
        return cf_new_group(x, jd, td, t);
    if (t > g->newest)
        g->newest = t;
    u = cf_uses(g);
    for (uint32_t i = 0; i < g->n; i++) {
        if (memcmp(u[i].td, td, TG_CF_DIGEST) == 0) {
            if (t > u[i].last)
                u[i].last = t;
            return 0;
        }
    }
    if (g->n == TG_CF_GROUP_MAX) {
        /* full: td replaces the oldest use if it is later (struct tg_cf_index)
         */
        uint32_t min = 0;

        for (uint32_t i = 1; i < g->n; i++)
            if (u[i].last < u[min].last)
                min = i;
        if (t > u[min].last) {
            memcpy(u[min].td, td, TG_CF_DIGEST);
            u[min].last = t;
        }
        return 0;
    }
    if (g->n == g->cap) {
        uint32_t gi = (uint32_t)(g - x->g);
        int dropped = 0, rc;

        if ((rc = cf_grow(x, &gi, jd, &dropped)) || dropped)
            return rc;
        g = &x->g[gi];
        u = g->more;
    }
    memcpy(u[g->n].td, td, TG_CF_DIGEST);
    u[g->n].last = t;
    g->n++;
    return 0;
}

/*
 * The count of tickets other than ticket that used the normalised
 * justification just at or after since, at most TG_CF_COPY_LIMIT, from the
 * index; jd is set to just's digest. Returns 1 with *out, or 0 when the
 * index cannot tell (stale, invalid, or the justification may have been
 * dropped): the caller asks the database, and with *reload set may hand the
 * uses it reads to tg_cf_reload with jd and *drops (the drops of jd's
 * slot so far).
 */
int tg_cf_count(struct tg_cf_index *x, const char *just, const char *ticket,
                int64_t since, long *out, unsigned char jd[TG_CF_DIGEST],
                int *reload, uint32_t *drops)
{
    unsigned char td[TG_CF_DIGEST];
    struct tg_cf_group *g;
    int64_t now = tg_cf_clock();
    long n = 0;
    int ok = 0;

    *reload = 0;
    *drops = 0;
    if (tg_cf_digest(just, jd) || tg_cf_digest(ticket, td))
        return 0;
    pthread_mutex_lock(&x->mu);
    *drops = x->drops[tg_cf_drop_slot(jd)];
    if (!x->valid || now - x->synced_ms > TG_CF_FRESH_MS)
        goto out;
    g = cf_find(x, jd);
    /* a window the index may miss uses of: dropped ones, or (before the
     * horizon) the load's left-outs, unless the group was reloaded whole */
    if ((g ? !g->complete : cf_is_gone(x, jd)) ||
        (x->horizon != INT64_MIN && since <= x->horizon && !(g && g->whole))) {
        *reload = 1;
        goto out;
    }
    ok = 1;
    if (!g)
        goto out;
    {
        const struct tg_cf_use *u = cf_uses(g);

        for (uint32_t i = 0; i < g->n && n < TG_CF_COPY_LIMIT; i++)
            if (u[i].last >= since && memcmp(u[i].td, td, TG_CF_DIGEST) != 0)
                n++;
    }
out:
    pthread_mutex_unlock(&x->mu);
    if (ok)
        *out = n;
    return ok;
}

/*
 * Merges the latest uses of jd read from just_use (at most TG_CF_GROUP_MAX,
 * newest first) into its group and marks it complete and whole (before
 * the horizon too). Commits after that read added their uses to the group
 * themselves, and adding a use twice changes nothing, so the group then
 * holds every use; unless a group of jd's slot (tg_cf_drop_slot) was
 * dropped since tg_cf_count gave drops (it could have been this one, with
 * a use the read missed), and then it stays as it was: incomplete. A drop
 * in another slot cannot have lost a use of jd; one count for the whole
 * index threw most reloads away in a full one, where each new group drops
 * another. The merge's own adds may drop other groups to make room (in a
 * full index, the first add of a justification not held always does): no
 * reason to leave this one incomplete; this one dropped meanwhile is, and
 * then it is not marked.
 *
 * No use read (n == 0): a justification never recorded. An empty group
 * says so, whole, unless a commit since made one; without it a window
 * reaching before the horizon went on reading the store until the group
 * a record made was reloaded, each count of a new justification and the
 * next after it (README, "What is open", of 1b9b4b6). since, the count's
 * window start, places it early in the eviction order: dropping it loses
 * nothing (cf_drop). In a full index it takes another group's place,
 * as any new one does, and the record that follows the count (every
 * decision is recorded) adds its use to it, taking no second place: a
 * justification new to the index costs one place either way. Only a
 * count with no record after it (a request that fails before its
 * record) leaves an empty group, the first dropped of those sampled.
 */
void tg_cf_reload(struct tg_cf_index *x, const unsigned char jd[TG_CF_DIGEST],
                  const struct tg_cf_use *u, size_t n, uint32_t drops,
                  int64_t since)
{
    struct tg_cf_group *g;
    size_t i = 0;

    pthread_mutex_lock(&x->mu);
    if (!x->valid || x->drops[tg_cf_drop_slot(jd)] != drops)
        goto out;
    for (; i < n && x->valid; i++)
        if (tg_cf_add(x, jd, u[i].td, u[i].last) || !cf_find(x, jd))
            break;
    if (n == 0 && x->valid && !cf_find(x, jd) &&
        cf_new_group(x, jd, NULL, since))
        goto out;
    if (i == n && x->valid && (g = cf_find(x, jd)))
        g->complete = g->whole = 1;
out:
    pthread_mutex_unlock(&x->mu);
}

/* Adds one row (justification, ticket, time) read from the store: 0, or
 * TG_EIO / TG_ENOMEM (the index is then invalid). */
int tg_cf_add_text(struct tg_cf_index *x, const char *just, const char *ticket,
                   int64_t t)
{
    unsigned char jd[TG_CF_DIGEST], td[TG_CF_DIGEST];

    if (!just || !ticket || tg_cf_digest(just, jd) ||
        tg_cf_digest(ticket, td)) {
        x->valid = 0;
        return TG_EIO;
    }
    return tg_cf_add(x, jd, td, t);
}

/* ------------------------------------------------ the horizon of a load */

/*
 * Pushes the time v of a just_use row into t, which keeps the
 * TG_CF_LOAD_ROWS + 1 latest pushed (a min-heap: the earliest of them on
 * top). Returns 0 or TG_ENOMEM. Its array grows by doubling: a small store
 * costs a small one.
 */
int tg_cf_top_push(struct tg_cf_top *t, int64_t v)
{
    const size_t max = (size_t)TG_CF_LOAD_ROWS + 1;
    size_t i;

    if (t->n == max) {
        if (v <= t->h[0])
            return 0;
        /* the earliest kept gives way: sift v down from the top */
        for (i = 0;;) {
            size_t c = 2 * i + 1;

            if (c >= t->n)
                break;
            if (c + 1 < t->n && t->h[c + 1] < t->h[c])
                c++;
            if (t->h[c] >= v)
                break;
            t->h[i] = t->h[c];
            i = c;
        }
        t->h[i] = v;
        return 0;
    }
    if (t->n == t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 1024;
        int64_t *nh;

        if (ncap > max)
            ncap = max;
        if (!(nh = realloc(t->h, ncap * sizeof *nh)))
            return TG_ENOMEM;
        t->h = nh;
        t->cap = ncap;
    }
    for (i = t->n++; i > 0 && t->h[(i - 1) / 2] > v; i = (i - 1) / 2)
        t->h[i] = t->h[(i - 1) / 2];
    t->h[i] = v;
    return 0;
}

/* The horizon of the rows pushed: the latest time among those a load of
 * the TG_CF_LOAD_ROWS latest leaves out (the one more kept is the latest
 * of them), or INT64_MIN when there were no more rows than that. */
int64_t tg_cf_top_horizon(const struct tg_cf_top *t)
{
    return t->n > TG_CF_LOAD_ROWS ? t->h[0] : INT64_MIN;
}

void tg_cf_top_free(struct tg_cf_top *t)
{
    free(t->h);
    memset(t, 0, sizeof *t);
}
