/* check_phases.c - where `ticketgate check` spends its time per ticket. */

/*
 * Times each step check takes for every canonical ticket, in the same
 * order and with the same JSON arena: jansson's parse of the ticket text,
 * the canonical mapping, the validators, building the decision document,
 * jansson's printing of it, and releasing it all. It prints microseconds
 * per ticket for each, the rate they add up to, and the rate of jansson's
 * two steps alone: the ceiling, per core, for any check that reads and
 * writes JSON with jansson on this machine. check runs this loop on every
 * core (one worker thread per CPU, see server/cli/check.c), so its end-to-end
 * rate is about the "all" rate here times the cores.
 *
 * Build and run from the repository root (a target outside `all`):
 *   cmake --build build-rel --target check_phases
 *   taskset -c 0 build-rel/check_phases example/ticketgate.yaml \
 *      ../shared/corpus/canonical.jsonl [ROUNDS]
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/core/canonical.h"
#include "server/config/config.h"
#include "server/core/decision.h"
#include "validators/evaluate.h"
#include "server/util/jarena.h"

enum { PARSE, MAP, EVALUATE, BUILD, PRINT, RELEASE, N_PHASES };
static const char *const names[N_PHASES] = {"parse", "map", "evaluate",
                                            "build", "print", "release"};

static double now_s(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    struct tg_config *cfg = NULL;
    struct tg_diag diag;
    struct tg_context ctx = {1796083200, -1}; /* 2026-12-01T00:00:00Z */
    struct tg_jarena arena;
    char **text = NULL, line[65536], err[256], *out, *abuf;
    size_t *len = NULL, n = 0, cap = 0, rounds, count = 0, bytes_in = 0;
    double t[N_PHASES] = {0}, total = 0;
    FILE *f;

    if (argc < 3) {
        fprintf(stderr, "usage: check_phases CONFIG TICKETS.jsonl [ROUNDS]\n");
        return 2;
    }
    rounds = argc > 3 ? strtoul(argv[3], NULL, 10) : 300;
    tg_jarena_install();
    tg_diag_init(&diag);
    if (tg_config_load(argv[1], &cfg, &diag) != 0) {
        fprintf(stderr, "cannot load %s\n", argv[1]);
        return 2;
    }
    if (!(f = fopen(argv[2], "r")))
        return 2;
    /* Each ticket as the compact text check would read from a file. */
    while (fgets(line, sizeof(line), f)) {
        json_t *v = json_loads(line, 0, NULL);
        json_t *tk = json_object_get(v, "ticket") ? json_object_get(v, "ticket")
                                                  : v;
        if (tk) {
            if (n == cap) {
                cap = cap ? cap * 2 : 256;
                text = realloc(text, cap * sizeof(*text));
                len = realloc(len, cap * sizeof(*len));
            }
            text[n] = json_dumps(tk, JSON_COMPACT);
            len[n] = strlen(text[n]);
            n++;
        }
        json_decref(v);
    }
    fclose(f);
    out = malloc(1 << 20);
    abuf = malloc(1 << 20);
    if (!out || !abuf || n == 0)
        return 2;

    for (size_t r = 0; r < rounds; r++) {
        for (size_t i = 0; i < n; i++) {
            struct tg_ticket tk;
            struct tg_result res;
            json_t *v, *doc;
            double a, b, c, d, e, g, h;

            tg_jarena_begin(&arena, abuf, 1 << 20);
            a = now_s();
            v = json_loadb(text[i], len[i], JSON_DISABLE_EOF_CHECK, NULL);
            b = now_s();
            tg_ticket_init(&tk);
            tg_canonical_from_json(v, &tk, err, sizeof(err));
            c = now_s();
            tg_result_init(&res);
            tg_evaluate(&tk, &cfg->policy, &cfg->directory, &ctx, &res);
            d = now_s();
            doc = tg_decision_build(&tk, NULL, &res, "d-000000000001-abcdef",
                                    ctx.now, cfg->digest);
            e = now_s();
            if (json_dumpb(doc, out, 1 << 20, JSON_COMPACT) == 0)
                return 1;
            g = now_s();
            json_decref(doc);
            tg_result_cleanup(&res);
            tg_ticket_cleanup(&tk);
            json_decref(v);
            tg_jarena_end(&arena);
            h = now_s();
            t[PARSE] += b - a;
            t[MAP] += c - b;
            t[EVALUATE] += d - c;
            t[BUILD] += e - d;
            t[PRINT] += g - e;
            t[RELEASE] += h - g;
            bytes_in += len[i];
            count++;
        }
    }
    printf("%zu tickets (%zu distinct, %.0f bytes each on average)\n", count,
           n, (double)bytes_in / (double)count);
    for (int p = 0; p < N_PHASES; p++) {
        printf("  %-8s %6.2f us\n", names[p], t[p] / (double)count * 1e6);
        total += t[p];
    }
    printf("  %-8s %6.2f us = %.0f tickets/s on one core\n", "all",
           total / (double)count * 1e6, (double)count / total);
    printf("jansson alone (parse + print): %.2f us = %.0f tickets/s\n",
           (t[PARSE] + t[PRINT]) / (double)count * 1e6,
           (double)count / (t[PARSE] + t[PRINT]));
    for (size_t i = 0; i < n; i++)
        free(text[i]);
    free(text);
    free(len);
    free(out);
    free(abuf);
    tg_config_free(cfg);
    tg_diag_cleanup(&diag);
    return 0;
}
