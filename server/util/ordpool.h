/* ordpool.h - slots of work done by worker threads, retired in the order queued. */
#ifndef TG_ORDPOOL_H
#define TG_ORDPOOL_H

#include <pthread.h>
#include <stddef.h>

#include "server/util/jarena.h"

/*
 * The shape `check` and `replay` share: the main thread fills slots (a
 * chunk of input each) and queues them; worker threads take them in
 * queue order and do them, each with a JSON arena of its own; the main
 * thread retires them in queue order (prints or adds up what each made),
 * so the output is the one a single thread would make. The caller owns
 * the slots' contents (an array of n_slots of its own, indexed by the
 * slot numbers this module hands out); the pool only says which slot is
 * whose when.
 *
 * Counters only grow: [head, tail) queued and not retired, [queued, tail)
 * not yet taken by a worker; a slot is seq % n_slots.
 */

/* Does the slot (queued as number seq) on a worker thread. arena is the
 * worker's (begin it on abuf, arena_bytes long, and end it before
 * returning); abuf NULL: its buffer could not be had, no arena. */
typedef void (*tg_ordpool_run_fn)(void *ctx, size_t slot, size_t seq,
                                  struct tg_jarena *arena, char *abuf);

struct tg_ordpool {
    pthread_mutex_t mu;
    pthread_cond_t work; /* a slot was queued, or stop */
    pthread_cond_t done; /* a slot was done */
    unsigned char *is_done; /* per slot, under mu */
    size_t n_slots, head, queued, tail;
    int stop;
    pthread_t *tids;
    int started;
    size_t arena_bytes;
    tg_ordpool_run_fn run;
    void *ctx;
};

/* Starts up to n_threads workers over n_slots slots. Returns 0 (at least
 * one worker runs) or TG_ENOMEM; tg_ordpool_stop(p) in either case. */
int tg_ordpool_start(struct tg_ordpool *p, size_t n_slots, int n_threads,
                     size_t arena_bytes, tg_ordpool_run_fn run, void *ctx);

/* Main thread: how many slots are queued and not retired. When it is
 * n_slots, retire the oldest before filling another. */
size_t tg_ordpool_in_flight(const struct tg_ordpool *p);

/* Main thread: the slot to fill next (free: retired or never used). */
size_t tg_ordpool_next(const struct tg_ordpool *p);

/* Main thread: hands the slot tg_ordpool_next named to the workers;
 * returns its number in queue order (0, 1, 2, ...). */
size_t tg_ordpool_queue(struct tg_ordpool *p);

/* Main thread: waits until the oldest slot in flight is done and returns
 * it (tg_ordpool_in_flight(p) > 0); tg_ordpool_pop(p) when retired. */
size_t tg_ordpool_oldest(struct tg_ordpool *p);
void tg_ordpool_pop(struct tg_ordpool *p);

/* Stops the workers (after the slots queued are done) and frees the pool,
 * not the caller's slots. */
void tg_ordpool_stop(struct tg_ordpool *p);

#endif
