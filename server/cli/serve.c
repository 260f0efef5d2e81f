/* serve.c - `ticketgate serve`: load, listen, reload on SIGHUP, stop cleanly.
 */
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "validators/errors.h"
#include "server/config/cfgref.h"
#include "server/cli/cli.h"
#include "server/config/config.h"
#include "server/store/store.h"
#include "server/http/http.h"
#include "server/util/clock.h"
#include "server/util/log.h"

static const char usage[] =
    "usage: ticketgate serve -c FILE\n"
    "Runs the server until SIGTERM or SIGINT; SIGHUP reloads FILE and the\n"
    "directory it names (a configuration that does not load leaves the old\n"
    "one in force).\n";

static void print_diag(const struct tg_diag *d, enum tg_log_level level)
{
    size_t i;
    for (i = 0; i < d->n; i++)
        tg_log_event(level, "config_problem", "%s", d->msgs[i]);
}

/* Every signal we act on is blocked in every thread and taken here, in the
 * main thread, with sigwait: no handler runs in the middle of a request. */
static int wait_for_stop(struct tg_http *h, const sigset_t *set,
                         const char *path)
{
    int sig;

    for (;;) {
        if (sigwait(set, &sig) != 0)
            return -1;
        if (sig == SIGHUP) {
            char why[512];
            tg_log_event(TG_LOG_INFO, "signal", "SIGHUP: reloading %s", path);
            /* A failure is logged and counted; the old one stays. */
            (void)tg_http_reload_file(h, path, why, sizeof(why));
            continue;
        }
        tg_log_event(TG_LOG_INFO, "signal",
                     "%s: finishing requests in flight and "
                     "stopping",
                     sig == SIGINT ? "SIGINT" : "SIGTERM");
        return 0;
    }
}

/*
 * glibc gives threads up to 8 malloc arenas a core, and each keeps what
 * its threads freed: with a worker thread a connection, a 64-connection
 * soak left 16 arenas holding 11 MB. One a core holds the same work in
 * 4 MB (README: Benchmarks). MALLOC_ARENA_MAX, when set, is the
 * operator's choice and stays.
 */
static void limit_malloc_arenas(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);

    if (getenv("MALLOC_ARENA_MAX"))
        return;
    mallopt(M_ARENA_MAX, n < 1 ? 1 : n > 64 ? 64 : (int)n);
}

/* The configuration path of argv in *path. Returns -1 to go on, else the
 * exit code (0 after --help; 2 after printing what is wrong). */
static int parse_args(int argc, char **argv, const char **path)
{
    *path = NULL;
    for (int i = 1; i < argc; i++) {
        if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) &&
            i + 1 < argc) {
            *path = argv[++i];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            *path = argv[i] + 9;
        } else if (strcmp(argv[i], "-h") == 0 ||
                   strcmp(argv[i], "--help") == 0) {
            fputs(usage, stdout);
            return 0;
        } else {
            fprintf(stderr, "ticketgate serve: unexpected argument '%s'\n%s",
                    argv[i], usage);
            return 2;
        }
    }
    if (!*path || !**path) {
        fprintf(stderr, "ticketgate serve: -c FILE is required\n%s", usage);
        return 2;
    }
    return -1;
}

/* Blocks the signals wait_for_stop takes (into *set), before any thread
 * exists, so that CivetWeb's workers inherit the mask; a client that hangs
 * up must not kill the process. Returns 0 or -1. */
static int block_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
    if (pthread_sigmask(SIG_BLOCK, set, NULL) != 0)
        return -1;
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

/* Loads the configuration at path, logging every problem. NULL when it
 * does not load. */
static struct tg_config *load_config(const char *path)
{
    struct tg_config *cfg = NULL;
    struct tg_diag d;
    int rc;

    tg_diag_init(&d);
    rc = tg_config_load(path, &cfg, &d);
    print_diag(&d, TG_LOG_ERROR);
    /* The diagnostics name file, line and remedy; say more only when
     * there were none. */
    if (rc != 0 && d.n == 0)
        tg_log_event(TG_LOG_ERROR, "startup_error",
                     "%s: the configuration does not load; "
                     "run 'ticketgate lint -c %s'",
                     path, path);
    tg_diag_cleanup(&d);
    return rc == 0 ? cfg : NULL;
}

int tg_cmd_serve(int argc, char **argv)
{
    const char *path;
    struct tg_config *cfg = NULL;
    struct tg_cfgref *ref = NULL;
    struct tg_evidence *ev = NULL;
    struct tg_http *h = NULL;
    sigset_t set;
    int rc, code = parse_args(argc, argv, &path);

    if (code >= 0)
        return code;
    code = 2;
    if (tg_clock_init_from_env() != 0) {
        fprintf(stderr, "ticketgate serve: TG_CLOCK_OFFSET_S must be a "
                        "whole number of seconds (at most 100 years)\n");
        return 2;
    }
    limit_malloc_arenas();
    if (block_signals(&set) != 0) {
        fprintf(stderr, "ticketgate serve: cannot block signals\n");
        return 2;
    }
    if (!(cfg = load_config(path)))
        goto out;
    tg_log_set_level(cfg->server.log_level);
    if (tg_clock_offset_s() != 0)
        tg_log_event(TG_LOG_WARN, "clock_offset",
                     "TG_CLOCK_OFFSET_S: the server's clock runs %lld s "
                     "from the system's (decision and outbox times follow "
                     "it); meant for tests",
                     (long long)tg_clock_offset_s());
    ref = tg_cfgref_new(cfg); /* takes cfg, frees it when it fails */
    if (!ref) {
        tg_log_event(TG_LOG_ERROR, "startup_error", "out of memory");
        goto out;
    }

    rc = tg_evidence_open(cfg, &ev);
    if (rc != 0) {
        tg_log_event(TG_LOG_ERROR, "startup_error",
                     "%s: cannot open the evidence store (%d); "
                     "check that its directory exists and is "
                     "writable",
                     cfg->store.path ? cfg->store.path : "store.path", rc);
        goto out;
    }
    rc = tg_http_start(ref, ev, &h);
    if (rc != 0)
        goto out;
    tg_log_event(TG_LOG_INFO, "start", "ticketgate %s serving; policy %s",
                 TG_VERSION, cfg->digest);

    if (wait_for_stop(h, &set, path) != 0)
        goto out;
    code = 0;
out:
    /* Order matters: the server's workers use the store, and the store
     * was opened with the first configuration, held by ref. */
    tg_http_stop(h);
    tg_evidence_close(ev);
    tg_cfgref_put(ref);
    if (code == 0)
        tg_log_event(TG_LOG_INFO, "stop", "stopped");
    return code;
}
