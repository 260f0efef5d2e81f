/* evidence_bench.c - evidence store throughput and bytes per record. */

/*
 * Build (from the repository root; a target outside `all`):
 *   cmake --build build-rel --target evidence_bench
 * Run: build-rel/evidence_bench DIR [RECORDS] [THREADS] [normal|full]
 * Prints records/s, mean latency and bytes per record of the file.
 */

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "server/config/config.h"
#include "validators/errors.h"
#include "server/store/store.h"

/* A deny with four findings: about the 1.2 KB a real decision weighs. */
static const char DOC_FMT[] =
    "{\"decision\":\"deny\",\"decision_id\":\"%s\",\"ticket\":\"%s\","
    "\"source\":\"jira\",\"transition\":{\"from\":\"Waiting for approval\","
    "\"to\":\"Approved\"},\"evaluated_at\":\"2026-11-22T10:00:00Z\","
    "\"policy\":\"sha256:5e0c8a1f0b7d4c2e9f6a3b1c8d7e6f5a4b3c2d1e0f9a8b7c6d5"
    "e4f3a2b1c0d9e8f\",\"dry_run\":false,\"findings\":["
    "{\"code\":\"SOD_SELF_APPROVAL\",\"validator\":\"separation\","
    "\"action\":\"deny\",\"field\":\"approver\",\"message\":\"The approver "
    "(bob@example.com) is also the requester; a second person must "
    "approve.\"},"
    "{\"code\":\"EXPIRY_TOO_LONG\",\"validator\":\"expiry\",\"action\":"
    "\"deny\",\"field\":\"expires_at\",\"message\":\"Write access may last "
    "at most 90 days; set expires_at on or before 2027-02-20.\"},"
    "{\"code\":\"JUSTIFICATION_GENERIC\",\"validator\":\"justification\","
    "\"action\":\"deny\",\"field\":\"justification\",\"message\":\"The "
    "justification does not say why this access is needed.\"},"
    "{\"code\":\"OWNER_MISSING\",\"validator\":\"owner\",\"action\":"
    "\"deny\",\"field\":\"owner\",\"message\":\"No owner.\"}],"
    "\"message\":\"Access governance blocked this transition:\\n- The "
    "approver (bob@example.com) is also the requester; a second person must "
    "approve.\\n- Write access may last at most 90 days; set expires_at on "
    "or before 2027-02-20.\\n- The justification does not say why this "
    "access is needed.\"}";

struct run {
    struct tg_evidence *e;
    atomic_long next;
    long total;
    atomic_long failures;
    atomic_llong latency_ns;
};

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *worker(void *arg)
{
    struct run *r = arg;
    char id[48], ticket[32], delivery[48], just[96], doc[2048];

    for (;;) {
        long i = atomic_fetch_add(&r->next, 1);
        struct tg_evidence_record rec;
        unsigned int len = 0;
        int64_t t0;
        int n;

        if (i >= r->total)
            break;
        memset(&rec, 0, sizeof rec);
        snprintf(id, sizeof id, "d-%012ld-6f1c2a", i + 1);
        snprintf(ticket, sizeof ticket, "ACC-%ld", i / 3);
        snprintf(delivery, sizeof delivery,
                 "7f2c1e34-9a1b-4c8d-8e2f-%012ld", i);
        snprintf(just, sizeof just,
                 "quarter end close needs write access to ledger batch %ld",
                 i % 500);
        n = snprintf(doc, sizeof doc, DOC_FMT, id, ticket);
        if (n < 0 || (size_t)n >= sizeof doc)
            abort();
        rec.decision_id = id;
        rec.ticket = ticket;
        rec.source = "jira";
        rec.delivery_id = delivery;
        EVP_Digest(doc, (size_t)n, rec.body_sha256, &len, EVP_sha256(),
                   NULL);
        rec.policy_digest = "sha256:5e0c8a1f0b7d4c2e9f6a3b1c8d7e6f5a4b3c2d1"
                            "e0f9a8b7c6d5e4f3a2b1c0d9e8f";
        rec.time = 1795000000 + i;
        rec.decision_json = doc;
        rec.decision_len = (size_t)n;
        rec.justification_norm = just;
        t0 = now_ns();
        if (tg_evidence_append(r->e, &rec) != 0)
            atomic_fetch_add(&r->failures, 1);
        atomic_fetch_add(&r->latency_ns, now_ns() - t0);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    struct tg_config c;
    struct run r;
    char path[512];
    pthread_t th[256];
    long threads = argc > 3 ? strtol(argv[3], NULL, 10) : 16;
    struct stat st;
    int64_t t0, t1;
    int doclen;

    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR [RECORDS] [THREADS] [normal|full]\n",
                argv[0]);
        return 2;
    }
    {
        char doc[2048];

        doclen = snprintf(doc, sizeof doc, DOC_FMT, "d-000000000001-6f1c2a",
                          "ACC-1");
    }
    if (threads < 1 || threads > 256)
        threads = 16;
    memset(&c, 0, sizeof c);
    memset(&r, 0, sizeof r);
    snprintf(path, sizeof path, "%s/bench-%ld.db", argv[1], (long)getpid());
    c.store.path = path;
    c.store.sync = argc > 4 && !strcmp(argv[4], "full") ? TG_SYNC_FULL
                                                        : TG_SYNC_NORMAL;
    c.store.busy_timeout_ms = 2000;
    r.total = argc > 2 ? strtol(argv[2], NULL, 10) : 100000;
    if (tg_evidence_open(&c, &r.e)) {
        fprintf(stderr, "%s: cannot open\n", path);
        return 1;
    }
    t0 = now_ns();
    for (long t = 0; t < threads; t++)
        pthread_create(&th[t], NULL, worker, &r);
    for (long t = 0; t < threads; t++)
        pthread_join(th[t], NULL);
    t1 = now_ns();
    tg_evidence_close(r.e); /* checkpoints the WAL into the file */
    if (stat(path, &st))
        return 1;
    printf("%ld records, %ld threads, sync %s: %.0f records/s, "
           "mean latency %.2f ms, failures %ld, file %lld bytes = %.0f "
           "bytes/record (decision %d bytes)\n",
           r.total, threads, c.store.sync == TG_SYNC_FULL ? "full" : "normal",
           (double)r.total / ((double)(t1 - t0) / 1e9),
           (double)atomic_load(&r.latency_ns) / (double)r.total / 1e6,
           (long)atomic_load(&r.failures), (long long)st.st_size,
           (double)st.st_size / (double)r.total,
           doclen);
    unlink(path);
    return 0;
}
