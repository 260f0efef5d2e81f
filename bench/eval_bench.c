/* eval_bench.c - validator throughput: tickets evaluated per second on one
 * core, JSON parsing and printing left out (bench/check_bench.sh measures
 * the whole `check` command).
 *
 * Build and run from the repository root (a target outside `all`):
 *   cmake --build build-rel --target eval_bench
 *   taskset -c 0 build-rel/eval_bench example/ticketgate.yaml ../shared/corpus/canonical.jsonl
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/core/canonical.h"
#include "server/config/config.h"
#include "validators/evaluate.h"

int main(int argc, char **argv)
{
    struct tg_config *cfg = NULL;
    struct tg_diag diag;
    struct tg_ticket *tickets = NULL;
    size_t n = 0, cap = 0, rounds = 20000, evaluated = 0, findings = 0;
    struct tg_context ctx = {1796083200, -1}; /* 2026-12-01T00:00:00Z */
    struct timespec a, b;
    char line[65536], err[256];
    FILE *f;
    double s;

    if (argc < 3) {
        fprintf(stderr, "usage: eval_bench CONFIG TICKETS.jsonl\n");
        return 2;
    }
    tg_diag_init(&diag);
    if (tg_config_load(argv[1], &cfg, &diag) != 0) {
        fprintf(stderr, "cannot load %s\n", argv[1]);
        return 2;
    }
    f = fopen(argv[2], "r");
    if (!f)
        return 2;
    while (fgets(line, sizeof(line), f)) {
        json_t *v = json_loads(line, 0, NULL);
        json_t *t = json_object_get(v, "ticket") ? json_object_get(v, "ticket")
                                                 : v;
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            tickets = realloc(tickets, cap * sizeof(*tickets));
        }
        tg_ticket_init(&tickets[n]);
        if (t && tg_canonical_from_json(t, &tickets[n], err, sizeof(err)) == 0)
            n++;
        json_decref(v);
    }
    fclose(f);
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (size_t r = 0; r < rounds; r++) {
        for (size_t i = 0; i < n; i++) {
            struct tg_result res;
            tg_result_init(&res);
            tg_evaluate(&tickets[i], &cfg->policy, &cfg->directory, &ctx,
                        &res);
            findings += res.findings.n;
            evaluated++;
            tg_result_cleanup(&res);
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    printf("evaluate: %zu tickets in %.2f s = %.0f tickets/s on one core "
           "(%zu findings)\n", evaluated, s, (double)evaluated / s, findings);
    for (size_t i = 0; i < n; i++)
        tg_ticket_cleanup(&tickets[i]);
    free(tickets);
    tg_config_free(cfg);
    tg_diag_cleanup(&diag);
    return 0;
}
