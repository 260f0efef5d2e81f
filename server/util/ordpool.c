/* ordpool.c - slots of work done by worker threads, retired in the order queued. */
#include "server/util/ordpool.h"

#include <stdlib.h>
#include <string.h>

#include "validators/errors.h"

static void *worker(void *arg)
{
    struct tg_ordpool *p = arg;
    struct tg_jarena arena;
    char *abuf = p->arena_bytes ? malloc(p->arena_bytes) : NULL;

    pthread_mutex_lock(&p->mu);
    for (;;) {
        size_t seq;
        while (p->queued == p->tail && !p->stop)
            pthread_cond_wait(&p->work, &p->mu);
        if (p->queued == p->tail)
            break;
        seq = p->queued++;
        pthread_mutex_unlock(&p->mu);
        p->run(p->ctx, seq % p->n_slots, seq, &arena, abuf);
        pthread_mutex_lock(&p->mu);
        p->is_done[seq % p->n_slots] = 1;
        pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    free(abuf);
    return NULL;
}

int tg_ordpool_start(struct tg_ordpool *p, size_t n_slots, int n_threads,
                     size_t arena_bytes, tg_ordpool_run_fn run, void *ctx)
{
    memset(p, 0, sizeof(*p));
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->done, NULL);
    p->n_slots = n_slots;
    p->arena_bytes = arena_bytes;
    p->run = run;
    p->ctx = ctx;
    if (n_slots == 0 || n_threads < 1 ||
        !(p->is_done = malloc(n_slots)) ||
        !(p->tids = calloc((size_t)n_threads, sizeof(*p->tids))))
        return TG_ENOMEM;
    memset(p->is_done, 1, n_slots);
    for (; p->started < n_threads; p->started++)
        if (pthread_create(&p->tids[p->started], NULL, worker, p) != 0)
            break;
    return p->started > 0 ? TG_OK : TG_ENOMEM;
}

size_t tg_ordpool_in_flight(const struct tg_ordpool *p)
{
    return p->tail - p->head;
}

size_t tg_ordpool_next(const struct tg_ordpool *p)
{
    return p->tail % p->n_slots;
}

size_t tg_ordpool_queue(struct tg_ordpool *p)
{
    size_t seq;

    pthread_mutex_lock(&p->mu);
    seq = p->tail++;
    p->is_done[seq % p->n_slots] = 0;
    pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->mu);
    return seq;
}

size_t tg_ordpool_oldest(struct tg_ordpool *p)
{
    size_t slot = p->head % p->n_slots;

    pthread_mutex_lock(&p->mu);
    while (!p->is_done[slot])
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
    return slot;
}

void tg_ordpool_pop(struct tg_ordpool *p)
{
    p->head++;
}

void tg_ordpool_stop(struct tg_ordpool *p)
{
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->started; i++)
        pthread_join(p->tids[i], NULL);
    free(p->tids);
    free(p->is_done);
    pthread_cond_destroy(&p->done);
    pthread_cond_destroy(&p->work);
    pthread_mutex_destroy(&p->mu);
    p->tids = NULL;
    p->is_done = NULL;
    p->started = 0;
}
