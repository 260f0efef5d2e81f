/* test_crash.c - kill -9 in a burst of requests loses no acknowledged
 * decision, and the chain still verifies (issue: evidence durability). */
/* needs: ticketgate */
#include <jansson.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "tests/support/tg_test.h"

#define THREADS 8
#define MAX_IDS 20000

static struct tg_server S;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static char *acked[MAX_IDS];
static int n_acked;
static volatile int stop_sending;

static char *ticket(int thread, int n)
{
    char exp[32], *s;
    json_t *t;
    tg_test_rfc3339(5 * 86400, exp, sizeof(exp));
    t = json_pack("{s:s+,s:s,s:s,s:s,s:s,s:{s:s,s:s,s:s,s:s},s:s}", "id",
                  "CRASH-", thread == 0 ? "A" : "B", "requester",
                  "bob@example.com", "owner", "carol@example.com", "approver",
                  "dave@example.com", "justification",
                  "Nightly settlement ETL PAY-2291 must read the ledger "
                  "table to reconcile card batches.",
                  "scope", "system", "payments-db", "environment", "prod",
                  "entitlement", "role:ledger_reader", "privilege", "read",
                  "expires_at", exp);
    json_object_set_new(t, "n", json_integer(n));
    s = json_dumps(t, JSON_COMPACT);
    json_decref(t);
    return s;
}

static void *sender(void *arg)
{
    int id = (int)(intptr_t)arg;
    char *tok = tg_test_generic_token(NULL);
    char *auth = tg_test_bearer_header(tok);
    const char *hdrs[] = {"Content-Type: application/json", auth, NULL};
    for (int n = 0; !stop_sending; n++) {
        struct tg_resp r;
        char *body = ticket(id, n);
        int rc = tg_test_http(&S, "POST", "/v1/check", hdrs, body,
                              strlen(body), 0, &r);
        long status = r.status;
        free(body);
        if (rc == 0 && r.status == 200) {
            json_t *d = json_loads(r.body, 0, NULL);
            const char *did =
                json_string_value(json_object_get(d, "decision_id"));
            pthread_mutex_lock(&mu);
            if (did && n_acked < MAX_IDS)
                acked[n_acked++] = strdup(did);
            pthread_mutex_unlock(&mu);
            json_decref(d);
        }
        tg_test_resp_free(&r);
        if (rc != 0 || status == 0)
            break; /* the server is gone */
    }
    free(auth);
    free(tok);
    return NULL;
}

static int verify_chain(void)
{
    char cmd[1024];
    int st;
    snprintf(cmd, sizeof(cmd), "%s audit verify -c %s >/dev/null 2>&1",
             TG_BINARY, S.config);
    st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_kill9_mid_burst(void **state)
{
    pthread_t th[THREADS];
    struct tg_resp r;
    int missing = 0;
    (void)state;

    assert_int_equal(tg_test_server_prepare(&S), 0);
    /* sync: normal is the default: WAL survives the death of the process. */
    assert_int_equal(tg_test_server_start(&S), 0);
    /* One request first: the HTTP client's global set-up is not
     * thread-safe. */
    assert_int_equal(tg_test_http(&S, "GET", "/healthz", NULL, NULL, 0, 0,
                                  &r), 0);
    tg_test_resp_free(&r);
    for (int i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, sender, (void *)(intptr_t)i);
    for (int waited = 0; waited < 1500; waited++) {
        int n;
        usleep(20000);
        pthread_mutex_lock(&mu);
        n = n_acked;
        pthread_mutex_unlock(&mu);
        if (n >= 300)
            break;
    }
    if (n_acked < 300) {
        stop_sending = 1;
        tg_test_server_dump_log(&S);
        fail_msg("only %d decisions acknowledged in 30 s", n_acked);
    }
    /* Mid-burst: requests are in flight on every thread. */
    assert_int_equal(tg_test_server_signal(&S, SIGKILL), 0);
    waitpid(S.pid, NULL, 0);
    S.pid = 0;
    stop_sending = 1;
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);

    assert_int_equal(tg_test_server_start(&S), 0);
    for (int i = 0; i < n_acked; i++) {
        char path[128];
        snprintf(path, sizeof(path), "/v1/decisions/%s", acked[i]);
        {
            char *tok = tg_test_generic_token(NULL);
            char *auth = tg_test_bearer_header(tok);
            const char *hdrs[] = {auth, NULL};
            assert_int_equal(
                tg_test_http(&S, "GET", path, hdrs, NULL, 0, 0, &r), 0);
            if (r.status != 200) {
                fprintf(stderr, "acknowledged %s not found: %ld\n", acked[i],
                        r.status);
                missing++;
            }
            tg_test_resp_free(&r);
            free(auth);
            free(tok);
        }
    }
    assert_int_equal(missing, 0);
    assert_int_equal(tg_test_server_stop(&S), 0);
    assert_int_equal(verify_chain(), 0);
    for (int i = 0; i < n_acked; i++)
        free(acked[i]);
    tg_test_server_cleanup(&S);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill9_mid_burst),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
