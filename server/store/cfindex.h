/* cfindex.h - the copy-forward index: just_use in memory, for both stores
 * (not for outside use). */
#ifndef TG_STORE_CFINDEX_H
#define TG_STORE_CFINDEX_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Copy-forward counts stop here: the rule needs "at least max_reuse", and a
 * bound keeps the per-request cost constant. */
#define TG_CF_COPY_LIMIT 1000

/* The copy-forward index (struct tg_cf_index): digest bytes kept; groups
 * (justifications) held, a power of two; ticket slots beyond each group's
 * first; tickets per group; the gone filter (512 KiB, 4 probes: under 0.3%
 * false "gone" up to 250,000 dropped justifications, and a false "gone"
 * only sends that count to the database; 2 MiB of it stayed resident after
 * a soak, issue 10's memory bound); how recent the last commit must be for
 * the index to answer. At most about 2.4 MB of groups (72 bytes each),
 * 3.1 MB of slots and the filter: with 65,536 groups the full index alone
 * held 4.6 MB after a 60 s soak of distinct justifications and took the
 * server past its 32 MB; a justification dropped from it is counted by
 * the database (one indexed read), which the gone filter makes rare. */
#define TG_CF_DIGEST 16
#define TG_CF_GROUPS_MAX 32768u
#define TG_CF_BUCKETS TG_CF_GROUPS_MAX
#define TG_CF_USES_MAX 131072u
#define TG_CF_GROUP_MAX (TG_CF_COPY_LIMIT + 1)
#define TG_CF_GONE_BITS (1u << 22)
#define TG_CF_GONE_K 4
#define TG_CF_FRESH_MS 50
/* The load at open reads at most this many just_use rows, the latest
 * (tg_cf_top); the time of the latest row left out is the index's
 * horizon (struct tg_cf_index). The index holds at most 163,840 uses, and
 * a load of every row dropped the rest into the gone filter, which after
 * a million answered "gone" for one justification in seven; now it starts
 * with at most about 230,000 (0.15% false "gone"). */
#define TG_CF_LOAD_ROWS 262144
/* Drops are counted by slot of a justification's digest (tg_cf_drop_slot),
 * a power of two: a reload is thrown away only when a group of its own
 * slot was dropped while it read (tg_cf_reload). With one counter for the
 * index, a full one (after a start on a busy store) threw most away: each
 * new group drops one. 16 KiB. */
#define TG_CF_DROP_BITS 12
#define TG_CF_DROP_SLOTS (1u << TG_CF_DROP_BITS)

/*
 * The copy-forward index: just_use in memory, so that counting (once per
 * gated request) reads nothing from the database. One group per
 * justification (by digest) holding its tickets (by digest) with their
 * latest use, exactly as just_use has them, except:
 *
 * - A group keeps at most TG_CF_COPY_LIMIT + 1 tickets, the latest ones. That
 *   changes no answer: counts stop at TG_CF_COPY_LIMIT, and a ticket dropped
 * for a later one can only matter when all TG_CF_COPY_LIMIT + 1 kept are in the
 *   window too (so the count is TG_CF_COPY_LIMIT anyway).
 * - Memory is bounded: at most TG_CF_GROUPS_MAX groups and TG_CF_USES_MAX
 * ticket slots beyond each group's first. Past that, the group least recently
 *   used of a few sampled is dropped and its digest set in the `gone` Bloom
 *   filter; a justification that may be gone is counted by the database
 *   instead (so is any justification when the filter says so by mistake,
 *   which only costs the read). That read also reloads its uses
 *   from just_use (tg_cf_reload), so that the next ones need no read
 *   again; a justification with none gets an empty group.
 *   A justification absent from the index and not gone was never
 *   recorded: its count is 0 without a read.
 * - It is exact for this process's records at once (updated after each
 *   commit, before the appenders are answered) and for other processes
 *   writing the same chain from the next commit on (each transaction reads
 *   the records appended since the last: SQLite's writer.c, PostgreSQL's
 *   pg.c, which does it under the chain's lock). The index is used only
 *   while a commit happened within TG_CF_FRESH_MS: an idle server counts by
 *   the database, so another process's records are seen at most
 *   TG_CF_FRESH_MS late.
 *
 * - A store with more than TG_CF_LOAD_ROWS uses is loaded from its latest
 *   ones only: `horizon` is the time of the latest use left out, and any
 *   use at or before it may be missing from the index. A count whose
 *   window starts at or before the horizon is the database's, unless its
 *   group was reloaded whole (tg_cf_reload); windows after it are the
 *   index's as above.
 *
 * Digests are the first 16 bytes of SHA-256: a collision is as unlikely as
 * one in the chain itself.
 */
struct tg_cf_use {
    unsigned char td[TG_CF_DIGEST];
    int64_t last;
};

struct tg_cf_group {
    unsigned char jd[TG_CF_DIGEST];
    int64_t newest;  /* latest use of any ticket: the eviction order */
    uint32_t next;   /* bucket chain: index + 1, 0 ends it */
    /* cap 1: the one use is `one`, else `more`; n 0: the store had no
     * use of it when a count asked (tg_cf_reload) */
    uint32_t n, cap;
    /* Holds every use of the justification after the horizon. Not when
     * it was created for one that had been dropped before (its older uses
     * are only in just_use) until a count reloads them (tg_cf_reload). */
    unsigned char complete;
    /* Holds every use, before the horizon too: reloaded from just_use. */
    unsigned char whole;
    struct tg_cf_use one;
    struct tg_cf_use *more;
};

struct tg_cf_index {
    pthread_mutex_t mu; /* held for a count or an update, both short */
    /* 0: an allocation failed; the database counts. Atomic: the writer
     * reads it outside mu before a commit (tg_cf_reload may clear it
     * meanwhile). */
    atomic_int valid;
    struct tg_cf_group *g;
    uint32_t n, cap;     /* groups used and allocated */
    uint32_t *bucket;    /* TG_CF_BUCKETS heads: group index + 1 */
    size_t n_more;       /* cf_use slots in every group's `more` */
    unsigned char *gone; /* TG_CF_GONE_BITS bits, allocated on first drop */
    /* groups with uses dropped so far, by tg_cf_drop_slot of their
     * digest (32 bits: a reload is fooled only by exactly 2^32 drops in
     * its slot while it reads) */
    uint32_t drops[TG_CF_DROP_SLOTS];
    int64_t seq;         /* records up to this seq are in the index */
    int64_t horizon;     /* uses at or before it may be missing; INT64_MIN:
                            none (the load read every use) */
    int64_t synced_ms;   /* monotonic ms of the last commit (or load) */
    uint64_t rng;        /* eviction sampling */
};

/* One use read from the store: its digests and time. */
struct tg_cf_row {
    unsigned char jd[TG_CF_DIGEST], td[TG_CF_DIGEST];
    int64_t t;
};

/* The TG_CF_LOAD_ROWS + 1 latest times of a stream (a min-heap), to find
 * the horizon of a load without sorting just_use. */
struct tg_cf_top {
    int64_t *h;
    size_t n, cap;
};

/* ---- cfindex.c (each contract is at its definition) */
int tg_cf_digest(const char *s, unsigned char out[TG_CF_DIGEST]);
int tg_cf_init(struct tg_cf_index *x);
void tg_cf_cleanup(struct tg_cf_index *x);
int tg_cf_add(struct tg_cf_index *x, const unsigned char jd[TG_CF_DIGEST],
              const unsigned char td[TG_CF_DIGEST], int64_t t);
int tg_cf_add_text(struct tg_cf_index *x, const char *just, const char *ticket,
                   int64_t t);
/* Monotonic milliseconds, the clock of synced_ms. */
int64_t tg_cf_clock(void);
void tg_cf_synced(struct tg_cf_index *x, int64_t seq, int64_t at_ms);
void tg_cf_behind(struct tg_cf_index *x, int64_t seq);
uint32_t tg_cf_drop_slot(const unsigned char jd[TG_CF_DIGEST]);
int tg_cf_count(struct tg_cf_index *x, const char *just, const char *ticket,
                int64_t since, long *out, unsigned char jd[TG_CF_DIGEST],
                int *reload, uint32_t *drops);
void tg_cf_reload(struct tg_cf_index *x, const unsigned char jd[TG_CF_DIGEST],
                  const struct tg_cf_use *u, size_t n, uint32_t drops,
                  int64_t since);
int tg_cf_top_push(struct tg_cf_top *t, int64_t v);
int64_t tg_cf_top_horizon(const struct tg_cf_top *t);
void tg_cf_top_free(struct tg_cf_top *t);

#endif
