/* deadlines.c - server.threads work slots and the body deadline watchdog. */
#include "server/http/internal.h"
#include "server/util/thread.h"

#include <civetweb.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "validators/errors.h"

double tg_http_mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int64_t tg_http_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------- work and deadlines */

/* Takes one of the server.threads request slots (once per request). */
void tg_http_work_begin(struct rq *q)
{
    int rc;

    if (q->working || !q->h->work_init)
        return;
    while ((rc = sem_wait(&q->h->work)) != 0 && errno == EINTR)
        ;
    q->working = rc == 0;
}

void tg_http_work_end(struct rq *q)
{
    if (!q->working)
        return;
    sem_post(&q->h->work);
    q->working = 0;
}

/* The reader of this worker thread, given out on first use. */
static _Thread_local struct reader *thread_reader;

static struct reader *reader_of(struct tg_http *h)
{
    if (!thread_reader && h->readers) {
        size_t i = atomic_fetch_add(&h->next_reader, 1);
        if (i < h->n_readers)
            thread_reader = &h->readers[i];
    }
    return thread_reader;
}

void tg_http_reader_arm(struct tg_http *h, const struct mg_request_info *ri,
                        int64_t deadline_ms)
{
    struct reader *r = reader_of(h);
    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    snprintf(r->remote, sizeof(r->remote), "%s", ri->remote_addr);
    r->remote_port = ri->remote_port;
    r->local_port = ri->server_port;
    r->cut = 0;
    atomic_store(&r->deadline_ms, deadline_ms);
    pthread_mutex_unlock(&r->lock);
}

/* After this returns the watchdog leaves this connection alone. */
void tg_http_reader_disarm(struct tg_http *h)
{
    struct reader *r = reader_of(h);
    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    atomic_store(&r->deadline_ms, 0);
    pthread_mutex_unlock(&r->lock);
}

static int port_of(const struct sockaddr_storage *a)
{
    if (a->ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)a)->sin_port);
    if (a->ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)a)->sin6_port);
    return -1;
}

/*
 * Shuts r's connection down for reading: the worker's poll() inside
 * mg_read wakes, its recv() sees the end of the stream, mg_read returns
 * what it has, and read_body sees the deadline passed (the answer, 408,
 * can still be written). The socket is found among the process's open
 * files by its peer address and port and its local port: a TCP connection
 * is unique by these, and it stays open while r is armed (r->lock is held).
 * Returns 1 when it was found.
 */
static int cut_reader(const struct reader *r)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int found = 0;

    if (!d)
        return 0;
    while (!found && (e = readdir(d)) != NULL) {
        struct sockaddr_storage peer, local;
        socklen_t pl = sizeof(peer), ll = sizeof(local);
        char host[INET6_ADDRSTRLEN];
        const void *addr;
        char *end;
        long fd = strtol(e->d_name, &end, 10);

        if (*end || end == e->d_name || fd < 0 || fd > INT32_MAX ||
            fd == dirfd(d))
            continue;
        if (getpeername((int)fd, (struct sockaddr *)&peer, &pl) != 0 ||
            port_of(&peer) != r->remote_port ||
            getsockname((int)fd, (struct sockaddr *)&local, &ll) != 0 ||
            port_of(&local) != r->local_port)
            continue;
        addr = peer.ss_family == AF_INET
                   ? (const void *)&((struct sockaddr_in *)&peer)->sin_addr
                   : (const void *)&((struct sockaddr_in6 *)&peer)->sin6_addr;
        if (!inet_ntop(peer.ss_family, addr, host, sizeof(host)) ||
            strcmp(host, r->remote) != 0)
            continue;
        found = shutdown((int)fd, SHUT_RD) == 0;
    }
    closedir(d);
    return found;
}

/*
 * CivetWeb 1.15 gives a whole deadline to the request headers
 * (request_timeout_ms counts from when the worker starts waiting), but a
 * body read (mg_read) only times out after request_timeout_ms of silence:
 * one byte every few seconds holds the thread for hours. Every tick this
 * thread cuts the connections whose body is past its deadline
 * (cut_reader), so a body is in by its deadline or not at all. (Waking the
 * worker with a signal instead made CivetWeb read poll()'s revents after
 * EINTR, uninitialised.)
 */
static void *watchdog_run(void *arg)
{
    struct tg_http *h = arg;

    tg_thread_name("tg-watchdog");
    pthread_mutex_lock(&h->wd_lock);
    while (!h->wd_stop) {
        struct timespec ts;
        int64_t now = tg_http_mono_ms();
        size_t i, n = atomic_load(&h->next_reader);

        if (n > h->n_readers)
            n = h->n_readers;
        for (i = 0; i < n; i++) {
            struct reader *r = &h->readers[i];
            int64_t d = atomic_load(&r->deadline_ms);
            if (d == 0 || now < d)
                continue;
            pthread_mutex_lock(&r->lock);
            d = atomic_load(&r->deadline_ms);
            if (d != 0 && now >= d && !r->cut)
                r->cut = cut_reader(r);
            pthread_mutex_unlock(&r->lock);
        }
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += TG_WATCHDOG_TICK_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&h->wd_cond, &h->wd_lock, &ts);
    }
    pthread_mutex_unlock(&h->wd_lock);
    return NULL;
}

/* Stops the watchdog and frees what tg_http_deadlines_start made; safe on a
 * partial start. Called once no worker runs. */
void tg_http_deadlines_stop(struct tg_http *h)
{
    size_t i;

    if (h->watchdog_on) {
        pthread_mutex_lock(&h->wd_lock);
        h->wd_stop = 1;
        pthread_cond_signal(&h->wd_cond);
        pthread_mutex_unlock(&h->wd_lock);
        pthread_join(h->watchdog, NULL);
        pthread_cond_destroy(&h->wd_cond);
        pthread_mutex_destroy(&h->wd_lock);
        h->watchdog_on = 0;
    }
    for (i = 0; h->readers && i < h->n_readers; i++)
        pthread_mutex_destroy(&h->readers[i].lock);
    free(h->readers);
    h->readers = NULL;
    if (h->work_init)
        sem_destroy(&h->work);
    h->work_init = 0;
}

/* The worker slots, one reader per CivetWeb thread of both servers and the
 * watchdog thread. 0 or TG_ENOMEM. */
int tg_http_deadlines_start(struct tg_http *h, const struct tg_config *c)
{
    size_t i;

    h->body_timeout_ms =
        c->server.request_timeout_ms > 0 ? c->server.request_timeout_ms : 10000;
    h->keep_alive = c->server.keep_alive_timeout_ms > 0;
    if (sem_init(&h->work, 0,
                 (unsigned)(c->server.threads > 0 ? c->server.threads : 16)) !=
        0)
        return TG_ENOMEM;
    h->work_init = 1;
    h->n_readers =
        (size_t)(c->server.connections > 0 ? c->server.connections : 256) +
        TG_ADMIN_THREADS;
    h->readers = calloc(h->n_readers, sizeof(*h->readers));
    if (!h->readers)
        goto fail;
    for (i = 0; i < h->n_readers; i++) {
        if (pthread_mutex_init(&h->readers[i].lock, NULL) != 0) {
            h->n_readers = i;
            goto fail;
        }
    }
    if (pthread_mutex_init(&h->wd_lock, NULL) != 0)
        goto fail;
    if (pthread_cond_init(&h->wd_cond, NULL) != 0) {
        pthread_mutex_destroy(&h->wd_lock);
        goto fail;
    }
    if (pthread_create(&h->watchdog, NULL, watchdog_run, h) != 0) {
        pthread_cond_destroy(&h->wd_cond);
        pthread_mutex_destroy(&h->wd_lock);
        goto fail;
    }
    h->watchdog_on = 1;
    return 0;
fail:
    tg_http_deadlines_stop(h);
    return TG_ENOMEM;
}
