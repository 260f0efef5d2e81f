/* report_bench.c - a store of N decisions and N events for timing `ticketgate report`. */

/*
 * Build (from the repository root; a target outside `all`):
 *   cmake --build build-rel --target report_bench ticketgate
 * Run: bench/report_bench.sh [N] (makes the store once, then times the
 * report), or by hand:
 *   build-rel/report_bench STORE N [THREADS]
 * STORE must not exist. Writes N decisions (judged tickets of the real
 * shape and their facts documents, about 2.5 KB a record: 80% allow, 5% annotate, 15% deny with one to
 * three codes, 5% break-glass) spread over the 90 days before 2026-12-01,
 * and N events: grants of allowed tickets (half of them naming their
 * ticket), revokes of most grants around the ticket's end (some early,
 * most within hours, a tail of days and weeks), reviews, a few grants
 * without a ticket and some unmapped events; through the store API
 * (tg_evidence_append, tg_evidence_append_entry) from THREADS threads.
 * The data is a fixed pseudo-random sequence: the same N makes the same
 * store.
 */

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>

#include "server/config/config.h"
#include "server/core/facts.h"
#include "server/store/store.h"
#include "validators/errors.h"
#include "validators/timeparse.h"

#define END 1796083200LL /* 2026-12-01T00:00:00Z */
#define SPAN (90LL * 86400)

static const char *const codes[] = {
    "JUSTIFICATION_GENERIC", "OWNER_MISSING",       "EXPIRY_TOO_LONG",
    "SOD_SELF_APPROVAL",     "SCOPE_WILDCARD",      "AUTHORITY_NONE",
    "JUSTIFICATION_MISSING", "EXPIRY_MISSING"};
#define N_CODES (sizeof codes / sizeof codes[0])

#define DOC_FMT \
        "{\"decision\":\"%s\",\"decision_id\":\"%s\",\"ticket\":\"%s\"," \
        "\"source\":\"jira\",\"transition\":{\"from\":\"Waiting for " \
        "approval\",\"to\":\"Approved\"},\"evaluated_at\":\"%s\",\"policy\":" \
        "\"sha256:5e0c8a1f0b7d4c2e9f6a3b1c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0" \
        "d9e8f\",\"dry_run\":false,\"findings\":[%s],\"message\":\"%s\"}"

#define JUDGED_FMT \
        "{\"ticket\":{\"id\":\"%s\",\"source\":\"jira\",\"kind\":" \
        "\"access_request\",\"project\":\"ACC\",\"transition\":{\"from\":" \
        "\"Waiting for approval\",\"to\":\"Approved\",\"actor\":" \
        "\"approver%u@example.com\"},\"requester\":\"user%u@example.com\"," \
        "\"beneficiary\":\"user%u@example.com\",\"owner\":" \
        "\"owner%u@example.com\",\"approvers\":[\"approver%u@example.com\"]," \
        "\"justification\":\"Quarter-end reconciliation of the settlement " \
        "ledger for batch %ld needs read access to the ledger tables in " \
        "production (FIN-%ld).\",\"scope\":{\"system\":\"system-%u\"," \
        "\"environment\":\"prod\",\"entitlement\":\"role:ent-%u\"," \
        "\"privilege\":\"read\"},\"expires_at\":\"%s\",\"emergency\":%s," \
        "\"created_at\":\"%s\"},\"identities\":{\"requester\":{\"given\":" \
        "\"user%u@example.com\",\"resolved\":\"user%u@example.com\"," \
        "\"name\":\"User %u\"},\"beneficiary\":{\"given\":" \
        "\"user%u@example.com\",\"resolved\":\"user%u@example.com\"," \
        "\"name\":\"User %u\"},\"owner\":{\"given\":\"owner%u@example.com\"," \
        "\"resolved\":\"owner%u@example.com\",\"name\":\"Owner %u\"}," \
        "\"approvers\":[{\"given\":\"approver%u@example.com\",\"resolved\":" \
        "\"approver%u@example.com\",\"name\":\"Approver %u\",\"at\":\"%s\"," \
        "\"authority\":{\"basis\":\"owner\",\"result\":\"holds\",\"system\":" \
        "\"system-%u\",\"requested\":\"read\"}}]}}"

struct job {
    struct tg_evidence *e;
    long n, per;
    atomic_long next;
    atomic_long failed;
};

/* splitmix64: a fixed sequence per (row, salt). */
static uint64_t rnd(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static double unit(uint64_t x)
{
    return (double)(rnd(x) >> 11) / 9007199254740992.0;
}

static void fmt(int64_t t, char *buf)
{
    if (tg_time_format(t, buf, 32) != 0)
        snprintf(buf, 32, "1970-01-01T00:00:00Z");
}

/* Ticket i: its times and people, the same for decisions and events. */
struct tk {
    int64_t created, approved, evaluated, expires;
    unsigned user, sys, ent, approver;
    int verdict; /* 0 allow, 1 annotate, 2 deny */
    int emergency;
};

static void ticket_of(long i, struct tk *t)
{
    double u = unit((uint64_t)i * 16 + 1);
    /* approval seconds: a fifth in under a minute, most in hours */
    double a = u < 0.2 ? 5 + unit((uint64_t)i * 16 + 2) * 50
                       : exp(4 + unit((uint64_t)i * 16 + 3) * 7);

    t->created = END - SPAN + (int64_t)(unit((uint64_t)i * 16 + 4) * SPAN);
    t->approved = t->created + (int64_t)a;
    t->evaluated = t->approved + 1;
    t->expires = t->evaluated + 86400 * (7 + (int64_t)(rnd((uint64_t)i * 16 + 5) % 60));
    t->user = (unsigned)(rnd((uint64_t)i * 16 + 6) % 5000);
    t->sys = (unsigned)(rnd((uint64_t)i * 16 + 7) % 40);
    t->ent = t->sys * 5 + (unsigned)(rnd((uint64_t)i * 16 + 8) % 5);
    /* a few approvers carry most approvals */
    t->approver = (unsigned)(300 * pow(unit((uint64_t)i * 16 + 9), 3));
    u = unit((uint64_t)i * 16 + 10);
    t->verdict = u < 0.80 ? 0 : u < 0.85 ? 1 : 2;
    t->emergency = unit((uint64_t)i * 16 + 11) < 0.05;
}

/* The facts document of doc and judged as the server records it (a new
 * malloc'd text), or NULL. */
static char *facts_of(const char *doc, const char *judged)
{
    json_t *d = json_loads(doc, 0, NULL), *j = json_loads(judged, 0, NULL);
    json_t *f = d && j ? tg_facts_build(d, j) : NULL;
    char *text = f ? json_dumps(f, JSON_COMPACT) : NULL;

    json_decref(f);
    json_decref(j);
    json_decref(d);
    return text;
}

static int decision(struct tg_evidence *e, long i)
{
    struct tk t;
    char id[48], tid[32], c[32], ap[32], ev[32], ex[32], findings[600];
    static const char *const verdicts[] = {"allow", "annotate", "deny"};
    char doc[2048], judged[3072], *facts;
    struct tg_evidence_record r;
    int n;

    ticket_of(i, &t);
    snprintf(id, sizeof id, "d-%012ld-bench", i + 1);
    snprintf(tid, sizeof tid, "ACC-%ld", i + 1);
    fmt(t.created, c);
    fmt(t.approved, ap);
    fmt(t.evaluated, ev);
    fmt(t.expires, ex);
    findings[0] = '\0';
    if (t.verdict == 1)
        snprintf(findings, sizeof findings,
                 "{\"code\":\"JUSTIFICATION_COPY_FORWARD\",\"validator\":"
                 "\"justification\",\"action\":\"warn\",\"field\":"
                 "\"justification\",\"message\":\"This justification was "
                 "used on 3 other tickets in 90 days.\"}");
    if (t.verdict == 2) {
        size_t k = 1 + rnd((uint64_t)i * 16 + 12) % 3, off = 0;
        for (size_t j = 0; j < k; j++) {
            const char *code = codes[rnd((uint64_t)i * 16 + 13 + j) % N_CODES];
            int w = snprintf(findings + off, sizeof findings - off,
                             "%s{\"code\":\"%s\",\"validator\":\"policy\","
                             "\"action\":\"deny\",\"field\":\"scope\","
                             "\"message\":\"Denied by %s.\"}",
                             j ? "," : "", code, code);
            if (w < 0 || (size_t)w >= sizeof findings - off)
                break;
            off += (size_t)w;
        }
    }
    n = snprintf(doc, sizeof doc, DOC_FMT, verdicts[t.verdict], id, tid, ev,
                 findings, t.verdict == 2 ? "Access governance blocked this "
                                            "transition."
                                          : "");
    if (n < 0 || (size_t)n >= sizeof doc)
        return -1;
    n = snprintf(judged, sizeof judged, JUDGED_FMT, tid, t.approver, t.user,
                 t.user, t.sys, t.approver, i, i, t.sys, t.ent, ex,
                 t.emergency ? "true" : "false", c, t.user, t.user, t.user,
                 t.user, t.user, t.user, t.sys, t.sys, t.sys, t.approver,
                 t.approver, t.approver, ap, t.sys);
    if (n < 0 || (size_t)n >= sizeof judged)
        return -1;
    memset(&r, 0, sizeof r);
    r.decision_id = id;
    r.ticket = tid;
    r.source = "jira";
    memcpy(r.body_sha256, id, 20);
    r.policy_digest = "sha256:5e0c8a1f";
    r.time = t.evaluated;
    r.decision_json = doc;
    r.decision_len = strlen(doc);
    r.judged_json = judged;
    r.judged_len = strlen(judged);
    if (!(facts = facts_of(doc, judged)))
        return -1;
    r.facts_json = facts;
    r.facts_len = strlen(facts);
    n = tg_evidence_append(e, &r);
    free(facts);
    return n;
}

static int entry(struct tg_evidence *e, const char *type, const char *sid,
                 int64_t time, unsigned user, unsigned sys, unsigned ent,
                 const char *ticket, int unmapped)
{
    char buf[800], w[32], tk[64] = "";
    struct tg_evidence_entry en;
    int n;

    fmt(time, w);
    if (ticket)
        snprintf(tk, sizeof tk, ",\"ticket\":\"%s\"", ticket);
    if (unmapped)
        n = snprintf(buf, sizeof buf,
                     "{\"type\":\"%s\",\"time\":\"%s\",\"identity\":"
                     "\"user%u@example.com\",\"source_id\":\"%s\",\"form\":"
                     "\"okta\",\"mapped\":false,\"unmapped_reason\":\"no "
                     "mapping for okta group 00g%u\"}",
                     type, w, user, sid, sys);
    else
        n = snprintf(buf, sizeof buf,
                     "{\"type\":\"%s\",\"time\":\"%s\",\"identity\":"
                     "\"user%u@example.com\",\"identity_given\":"
                     "\"user%u@example.com\",\"system\":\"system-%u\","
                     "\"entitlement\":\"role:ent-%u\",\"environment\":"
                     "\"prod\"%s,\"source_id\":\"%s\",\"form\":\"canonical\","
                     "\"mapped\":true,\"raw_ref\":\"sha256:0f3c#0\"}",
                     type, w, user, user, sys, ent, tk, sid);
    if (n < 0 || (size_t)n >= sizeof buf)
        return -1;
    memset(&en, 0, sizeof en);
    en.kind = "event";
    en.key = sid;
    en.ticket = ticket;
    en.source = unmapped ? "okta" : "canonical";
    en.time = time;
    en.json = buf;
    en.len = (size_t)n;
    return tg_evidence_append_entry(e, &en);
}

/* Event j: events 2i and 2i + 1 belong to ticket i (so the N events
 * cover the first N / 2 tickets, spread over the whole span): its grant
 * and revoke, or a review of a break-glass ticket, with a few grants
 * without a ticket and unmapped events among them. */
static int event(struct tg_evidence *e, long j, long n)
{
    long i = (j / 2) % n;
    struct tk t;
    char sid[48], tid[32];
    double u = unit((uint64_t)j * 16 + 14);

    ticket_of(i, &t);
    snprintf(sid, sizeof sid, "prov-%ld", j + 1);
    snprintf(tid, sizeof tid, "ACC-%ld", i + 1);
    if (u < 0.02) /* a grant with no ticket behind it */
        return entry(e, "grant", sid, t.evaluated + 600, 5000 + (unsigned)(j % 997),
                     t.sys, t.ent, NULL, 0);
    if (u < 0.03)
        return entry(e, "grant", sid, t.evaluated, t.user, t.sys, t.ent, NULL,
                     1);
    if (t.verdict == 2 || (t.emergency && j % 2)) {
        /* a denied ticket's slot: a review of a break-glass one, else a
         * grant of another user's access (linked by window or not) */
        if (t.emergency)
            return entry(e, "review", sid,
                         t.evaluated + (int64_t)(unit((uint64_t)j) * 40 * 3600),
                         t.user, t.sys, t.ent, tid, 0);
        return entry(e, "grant", sid, t.evaluated + 60, t.user, t.sys, t.ent,
                     NULL, 0);
    }
    if (j % 2 == 0)
        return entry(e, "grant", sid, t.evaluated + 30 + (int64_t)(u * 3600),
                     t.user, t.sys, t.ent, (j / 2) % 2 ? tid : NULL, 0);
    {
        /* revoke: a tenth early, most within a day, a tail of weeks; a
         * tenth never (lingering) */
        double v = unit((uint64_t)j * 16 + 15);
        int64_t lag = v < 0.1   ? -(int64_t)(v * 864000)
                      : v < 0.7 ? (int64_t)(v * 30000)
                      : v < 0.9 ? (int64_t)(v * 700000)
                                : -1;
        /* never revoked (lingering), or not yet: the slot holds a
         * review of the ticket instead, so that there are N events */
        if (lag == -1 || t.expires + lag > END)
            return entry(e, "review", sid, t.evaluated + 3600, t.user, t.sys,
                         t.ent, tid, 0);
        return entry(e, "revoke", sid, t.expires + lag, t.user, t.sys, t.ent,
                     NULL, 0);
    }
}

static void *worker(void *arg)
{
    struct job *jb = arg;
    long k;

    while ((k = atomic_fetch_add(&jb->next, 1)) < 2 * jb->n) {
        int rc = k < jb->n ? decision(jb->e, k) : event(jb->e, k - jb->n, jb->n);
        if (rc != 0)
            atomic_fetch_add(&jb->failed, 1);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    struct tg_config c;
    struct job jb = {0};
    struct stat st;
    struct timespec t0, t1;
    long threads = argc > 3 ? strtol(argv[3], NULL, 10) : 16;
    pthread_t th[256];

    if (argc < 3) {
        fprintf(stderr, "usage: report_bench STORE N [THREADS]\n");
        return 2;
    }
    if (stat(argv[1], &st) == 0) {
        fprintf(stderr, "%s exists; remove it or pick another path\n",
                argv[1]);
        return 2;
    }
    jb.n = strtol(argv[2], NULL, 10);
    if (jb.n < 1 || threads < 1 || threads > 256) {
        fprintf(stderr, "N must be at least 1, THREADS 1..256\n");
        return 2;
    }
    memset(&c, 0, sizeof c);
    c.store.path = argv[1];
    c.store.sync = TG_SYNC_NORMAL;
    c.store.busy_timeout_ms = 10000;
    if (tg_evidence_open(&c, &jb.e) != 0) {
        fprintf(stderr, "%s: cannot create the store\n", argv[1]);
        return 2;
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long t = 0; t < threads; t++)
        pthread_create(&th[t], NULL, worker, &jb);
    for (long t = 0; t < threads; t++)
        pthread_join(th[t], NULL);
    tg_evidence_close(jb.e);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("%s: %ld decisions and %ld events written in %.1f s "
           "(%ld failed)\n",
           argv[1], jb.n, jb.n,
           (double)(t1.tv_sec - t0.tv_sec) +
               (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
           (long)atomic_load(&jb.failed));
    return atomic_load(&jb.failed) ? 1 : 0;
}
