/* test_policykeep.c - the real server keeps its policies in the chain (13). */
/* needs: ticketgate */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "server/config/config.h"
#include "server/store/store.h"
#include "tests/support/tg_test.h"
#include "validators/errors.h"

struct kept {
    int n;
    char keys[4][72];
};

static int keep_key(void *ctx, const struct tg_evidence_row *row)
{
    struct kept *k = ctx;

    if (k->n < 4)
        snprintf(k->keys[k->n], sizeof k->keys[k->n], "%s", row->key);
    k->n++;
    return 0;
}

static void digest_of(const char *config, char out[72])
{
    struct tg_config *c = NULL;

    assert_int_equal(tg_config_load(config, &c, NULL), 0);
    snprintf(out, 72, "%s", c->digest);
    tg_config_free(c);
}

/* Start keeps the policy in force; a reload to other files keeps the new
 * one; a reload to the same files keeps nothing twice. Each entry holds the
 * files as they were. */
static void test_start_and_reload(void **state)
{
    struct tg_server s;
    struct kept k;
    char store[400], first[72], second[72], *doc = NULL, *log;
    size_t off = 0;

    (void)state;
    assert_int_equal(tg_test_server_prepare(&s), 0);
    assert_int_equal(tg_test_server_start(&s), 0);
    digest_of(s.config, first); /* as started: listen rewritten to port 0 */
    log = tg_test_server_log_wait(&s, &off, "\"policy_kept\"", 1, 5000);
    assert_non_null(log);
    assert_non_null(strstr(log, first));
    free(log);

    assert_int_equal(tg_test_config_replace(&s, "# Example configuration",
                                            "# Reloaded configuration"), 0);
    digest_of(s.config, second);
    assert_string_not_equal(first, second);
    assert_int_equal(tg_test_server_signal(&s, SIGHUP), 0);
    log = tg_test_server_log_wait(&s, &off, "\"policy_kept\"", 1, 5000);
    assert_non_null(log);
    if (!strstr(log, second))
        tg_test_server_dump_log(&s);
    assert_non_null(strstr(log, second));
    free(log);
    /* the same files again: reloaded, nothing new kept */
    assert_int_equal(tg_test_server_signal(&s, SIGHUP), 0);
    log = tg_test_server_log_wait(&s, &off, "configuration reloaded", 1,
                                  5000);
    assert_non_null(log);
    assert_null(strstr(log, "policy_kept"));
    assert_null(strstr(log, "policy_not_kept"));
    free(log);
    assert_int_equal(tg_test_server_stop(&s), 0);

    snprintf(store, sizeof store, "%s/data/ticketgate.db", s.dir);
    memset(&k, 0, sizeof k);
    assert_int_equal(tg_evidence_scan_file(store, "policy", INT64_MIN,
                                           INT64_MAX, keep_key, &k), 0);
    assert_int_equal(k.n, 2);
    assert_string_equal(k.keys[0], first);
    assert_string_equal(k.keys[1], second);
    assert_int_equal(tg_evidence_get_entry_file(store, "policy", first, &doc),
                     0);
    assert_non_null(strstr(doc, "# Example configuration"));
    free(doc);
    {
        struct tg_evidence_verdict v;

        assert_int_equal(tg_evidence_verify_file(store, NULL, 0, &v), 0);
        assert_int_equal(v.intact, 1);
    }
    tg_test_server_cleanup(&s);
}

/* `check` evaluates offline: it neither creates nor writes a store. */
static void test_check_writes_nothing(void **state)
{
    struct tg_server s;
    char cmd[1400], store[400];
    struct stat st;
    int rc;

    (void)state;
    assert_int_equal(tg_test_server_prepare(&s), 0);
    snprintf(store, sizeof store, "%s/data/ticketgate.db", s.dir);
    assert_int_not_equal(stat(store, &st), 0);
    snprintf(cmd, sizeof cmd,
             TG_BINARY " check -c %s --now 2026-12-01T00:00:00Z "
             TG_SOURCE_DIR "/example/payloads/canonical-ticket.json"
             " >/dev/null 2>&1", s.config);
    rc = system(cmd);
    assert_true(WIFEXITED(rc));
    assert_true(WEXITSTATUS(rc) == 0 || WEXITSTATUS(rc) == 1);
    assert_int_not_equal(stat(store, &st), 0);
    tg_test_server_cleanup(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_start_and_reload),
        cmocka_unit_test(test_check_writes_nothing),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
