/* fuzz_payload.c - libFuzzer harness: any body through both adapters, the
 * canonical mapping, the validators and the decision document. */

/*
 * Every input is parsed as the server parses a POST body (duplicate keys
 * refused, inside a request's JSON arena), then mapped as a Jira body, as
 * a ServiceNow body and as a canonical ticket; each ticket that maps is
 * evaluated and its decision built and printed. ASan and UBSan watch; LSan
 * reports a leak at the end of a run. Not part of ctest (it needs clang).
 * From the repository root:
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 \
 *     -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -I. \
 *     tests/fuzz/fuzz_payload.c server/adapters/[a-z]*.c server/auth/[a-z]*.c \
 *     server/core/[a-z]*.c server/config/[a-z]*.c server/util/[a-z]*.c validators/[a-z]*.c \
 *     $(pkg-config --cflags --libs jansson yaml-0.1 libjwt) -lcrypto \
 *     -lpthread -o fuzz_payload
 *   mkdir -p fuzz-corpus && cp tests/fixtures/jira/[a-z]*.json \
 *     tests/fixtures/servicenow/[a-z]*.json example/payloads/[a-z]*.json \
 *     fuzz-corpus/
 *   TG_FUZZ_CONFIG=example/ticketgate.yaml ./fuzz_payload \
 *     -max_total_time=240 -max_len=8192 fuzz-corpus
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "server/adapters/adapter.h"
#include "server/core/canonical.h"
#include "server/config/config.h"
#include "server/core/decision.h"
#include "validators/evaluate.h"
#include "server/util/jarena.h"

static struct tg_config *cfg;
static char arena_buf[64 * 1024];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *path = getenv("TG_FUZZ_CONFIG");
    struct tg_diag diag;

    (void)argc;
    (void)argv;
    tg_jarena_install();
    tg_diag_init(&diag);
    if (!path || tg_config_load(path, &cfg, &diag) != 0) {
        fprintf(stderr, "set TG_FUZZ_CONFIG to a configuration that loads\n");
        exit(2);
    }
    tg_diag_cleanup(&diag);
    return 0;
}

/* Maps canon to a ticket, evaluates it and prints its decision. */
static void decide(const json_t *canon)
{
    struct tg_ticket t;
    struct tg_result r;
    struct tg_context ctx = {.now = 1796083200, /* 2026-12-01T00:00:00Z */
                             .copy_forward_uses = 0};
    char err[512], text[8192];
    json_t *doc;

    tg_ticket_init(&t);
    tg_result_init(&r);
    if (tg_canonical_from_json(canon, &t, err, sizeof(err)) == 0 &&
        tg_evaluate(&t, &cfg->policy, &cfg->directory, &ctx, &r) == 0) {
        doc = tg_decision_build(&t, "jira", &r, "d-000000000001-abcdef",
                                ctx.now, cfg->digest);
        if (doc)
            json_dumpb(doc, text, sizeof(text), JSON_COMPACT);
        json_decref(doc);
    }
    tg_result_cleanup(&r);
    tg_ticket_cleanup(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tg_jarena arena;
    json_t *body, *canon = NULL;
    char err[512], *event_id = NULL;
    int gated = 0;

    tg_jarena_begin(&arena, arena_buf, sizeof(arena_buf));
    body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (body && json_is_object(body)) {
        if (tg_jira_map(cfg, body, &canon, &gated, err, sizeof(err)) == 0 &&
            canon)
            decide(canon);
        json_decref(canon);
        canon = NULL;
        if (tg_servicenow_map(cfg, body, &canon, &gated, &event_id, err,
                              sizeof(err)) == 0 &&
            canon)
            decide(canon);
        json_decref(canon);
        free(event_id);
        decide(body);
    }
    json_decref(body);
    tg_jarena_end(&arena);
    return 0;
}
