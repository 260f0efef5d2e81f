/* test_config.c - the configuration loader: example, errors, paths, actions. */
/* nftw(3) cleans the scratch directory. */
#define _XOPEN_SOURCE 700
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "server/config/config.h"
#include "validators/directory.h"
#include "validators/errors.h"
#include "tests/support/tg_test.h"

#define EXAMPLE TG_SOURCE_DIR "/example"

/* A scratch directory per run: every case writes its files here. */
static char tmp[256];

static int rm_entry(const char *p, const struct stat *sb, int flag,
                    struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmp, sizeof(tmp), "/tmp/tg-config-XXXXXX");
    return mkdtemp(tmp) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static char *tpath(const char *name)
{
    static char buf[512];
    snprintf(buf, sizeof(buf), "%s/%s", tmp, name);
    return buf;
}

static void write_file(const char *name, const char *text, size_t len)
{
    FILE *f = fopen(tpath(name), "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void write_text(const char *name, const char *text)
{
    write_file(name, text, strlen(text));
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = malloc(1 << 20);
    size_t n;
    assert_non_null(f);
    assert_non_null(buf);
    n = fread(buf, 1, (1 << 20) - 1, f);
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

static void copy_file(const char *from, const char *to)
{
    size_t len;
    char *b = slurp(from, &len);
    write_file(to, b, len);
    free(b);
}

/* 1 when some diagnostic begins "<file>:<line>: " and contains what. */
static int has_diag(const struct tg_diag *d, const char *file, int line,
                    const char *what)
{
    char prefix[600];
    snprintf(prefix, sizeof(prefix), "%s:%d: ", file, line);
    for (size_t i = 0; i < d->n; i++)
        if (strncmp(d->msgs[i], prefix, strlen(prefix)) == 0 &&
            strstr(d->msgs[i], what))
            return 1;
    return 0;
}

static void dump_diag(const struct tg_diag *d)
{
    for (size_t i = 0; i < d->n; i++)
        print_message("  diag: %s\n", d->msgs[i]);
}

static const char MIN_DIR[] =
    "people:\n"
    "  - id: ann@example.com\n"
    "    aliases: [ann]\n"
    "  - id: ben@example.com\n"
    "groups:\n"
    "  - id: approvers\n"
    "    members: [ben@example.com]\n"
    "systems:\n"
    "  - id: wiki\n"
    "    owners: [ann@example.com]\n";

/* Writes cfg as ticketgate.yaml (with a directory.yaml of dir, or MIN_DIR)
 * and loads it. */
static int load(const char *cfg, const char *dir, struct tg_config **c,
                struct tg_diag *d)
{
    write_text("ticketgate.yaml", cfg);
    write_text("directory.yaml", dir ? dir : MIN_DIR);
    *c = NULL;
    tg_diag_init(d);
    return tg_config_load(tpath("ticketgate.yaml"), c, d);
}

/* ------------------------------------------------------------ example */

/* The example configuration's server and store, as written there. */
static void check_example_server(const struct tg_config *c)
{
    assert_string_equal(c->path, EXAMPLE "/ticketgate.yaml");
    assert_string_equal(c->basedir, EXAMPLE);
    assert_string_equal(c->server.listen, "127.0.0.1:8080");
    assert_int_equal(c->server.threads, 16);
    assert_int_equal(c->server.max_body_bytes, 1048576);
    assert_int_equal(c->server.request_timeout_ms, 10000);
    assert_null(c->server.tls_certificate);
    assert_null(c->server.tls_client_ca);
    assert_null(c->server.admin_listen);
    assert_string_equal(c->server.log_level, "info");
    assert_string_equal(c->store.path, EXAMPLE "/data/ticketgate.db");
    assert_int_equal(c->store.sync, TG_SYNC_NORMAL);
    assert_int_equal(c->store.busy_timeout_ms, 2000);
    assert_null(c->store.hmac_key);
}

/* The example configuration's sources.jira, as written there. */
static void check_example_jira(const struct tg_config *c)
{
    assert_true(c->jira.set);
    assert_string_equal(c->jira.hmac_secret, "jira-webhook-secret-for-tests");
    assert_null(c->jira.connect_shared_secret);
    assert_int_equal(c->jira.n_access_issue_types, 1);
    assert_string_equal(c->jira.access_issue_types[0], "Access Request");
    assert_string_equal(c->jira.fields.justification, "customfield_10050");
    assert_string_equal(c->jira.fields.owner, "customfield_10051");
    assert_string_equal(c->jira.fields.beneficiary_type, "customfield_10058");
    assert_string_equal(c->jira.fields.emergency, "customfield_10060");
    assert_string_equal(c->jira.fields.approvals, "customfield_10027");
    assert_string_equal(c->jira.fields.approver, "customfield_10059");
}

/* The example configuration's sources.servicenow, as written there. */
static void check_example_servicenow(const struct tg_config *c)
{
    size_t len;
    char *pem;

    assert_true(c->servicenow.set);
    assert_true(c->servicenow.jwt.set);
    assert_int_equal(c->servicenow.jwt.alg, TG_JWT_RS256);
    pem = slurp(EXAMPLE "/keys/servicenow-public.pem", &len);
    assert_int_equal(c->servicenow.jwt.key_len, len);
    assert_memory_equal(c->servicenow.jwt.key, pem, len);
    free(pem);
    assert_string_equal(c->servicenow.jwt.issuer,
                        "https://acme.service-now.com");
    assert_string_equal(c->servicenow.jwt.audience, "ticketgate");
    assert_int_equal(c->servicenow.jwt.leeway_s, 60);
    /* server.max_token_lifetime_s (default a day) reaches every verifier */
    assert_int_equal(c->server.max_token_lifetime_s, 86400);
    assert_int_equal(c->servicenow.jwt.max_lifetime_s, 86400);
    assert_int_equal(c->generic.jwt.max_lifetime_s, 86400);
    assert_null(c->servicenow.standard_webhooks_secret);
    assert_string_equal(c->servicenow.variables.privilege, "access_level");
    assert_string_equal(c->servicenow.variables.emergency,
                        "emergency_access");
    assert_null(c->servicenow.variables.beneficiary);
    assert_null(c->servicenow.variables.approver);
}

/* The example configuration's sources.generic, as written there. */
static void check_example_generic(const struct tg_config *c)
{
    assert_true(c->generic.set);
    assert_int_equal(c->generic.jwt.alg, TG_JWT_HS256);
    assert_int_equal(c->generic.jwt.key_len,
                     strlen("generic-client-secret-for-tests-0123456789"));
    assert_memory_equal(c->generic.jwt.key,
                        "generic-client-secret-for-tests-0123456789",
                        c->generic.jwt.key_len);
    assert_string_equal(c->generic.jwt.issuer, "ticketgate-client");
}

/* The example configuration's gates, as written there. */
static void check_example_gates(const struct tg_config *c)
{
    assert_int_equal(c->n_gates, 2);
    assert_string_equal(c->gates[0].source, "jira");
    assert_int_equal(c->gates[0].n_projects, 2);
    /* globs are lower-cased at load: matched without case per delivery */
    assert_string_equal(c->gates[0].projects[0], "acc");
    assert_string_equal(c->gates[0].projects[1], "sec");
    assert_int_equal(c->gates[0].n_to, 2);
    assert_string_equal(c->gates[0].to[1], "Ready for fulfilment");
    assert_int_equal(c->gates[0].n_issue_types, 0);
    assert_string_equal(c->gates[1].source, "servicenow");
    /* only the access catalog items: a laptop request is never gated */
    assert_int_equal(c->gates[1].n_projects, 3);
    assert_string_equal(c->gates[1].projects[0], "access");
    assert_string_equal(c->gates[1].projects[1], "database access");
    assert_string_equal(c->gates[1].projects[2], "vault access");
    assert_int_equal(c->gates[1].n_to, 1);
    assert_string_equal(c->gates[1].to[0], "approved");
}

/* The example configuration's policy, as written there. */
static void check_example_policy(const struct tg_config *c)
{
    assert_false(c->policy.dryrun);
    assert_int_equal(c->policy.max_days[TG_PRIV_READ], 180);
    assert_int_equal(c->policy.max_days[TG_PRIV_WRITE], 90);
    assert_int_equal(c->policy.max_days[TG_PRIV_ADMIN], 30);
    assert_int_equal(c->policy.service_max_days, 90);
    assert_int_equal(c->policy.emergency_max_hours, 24);
    assert_int_equal(c->policy.min_words, 6);
    assert_int_equal(c->policy.min_specific_words, 3);
    assert_int_equal(c->policy.copy_max_reuse, 2);
    assert_int_equal(c->policy.copy_window_days, 90);
    assert_true(tg_wordset_has(&c->policy.generic_words, "asap", 4));
    assert_false(tg_wordset_has(&c->policy.generic_words, "ledger", 6));
    assert_true(tg_wordset_has(&c->policy.wildcard_words, "unrestricted",
                               12));
    assert_int_equal(c->policy.action[TG_OWNER_MISSING], TG_ACTION_DENY);
    assert_int_equal(c->policy.action[TG_JUSTIFICATION_GENERIC],
                     TG_ACTION_DENY);
    assert_int_equal(c->policy.action[TG_JUSTIFICATION_COPY_FORWARD],
                     TG_ACTION_WARN);
    assert_int_equal(c->policy.action[TG_AUTHORITY_TIER], TG_ACTION_DENY);
    assert_int_equal(c->policy.action[TG_POLICY_FORBIDDEN], TG_ACTION_DENY);
    assert_int_equal(c->policy.action[TG_BREAKGLASS_REVIEW_REQUIRED],
                     TG_ACTION_WARN);
    assert_int_equal(c->policy.n_routine, 1);
    assert_string_equal(c->policy.routine[0].environment, "dev");
    assert_string_equal(c->policy.routine[0].privilege, "read");
    assert_null(c->policy.routine[0].system);
    assert_int_equal(c->policy.n_forbidden, 1);
    assert_string_equal(c->policy.forbidden[0].environment, "prod");
    assert_string_equal(c->policy.forbidden[0].privilege, "admin");
    assert_string_equal(c->policy.forbidden[0].beneficiary_type, "service");
    assert_non_null(strstr(c->policy.forbidden[0].reason,
                           "Standing admin rights"));
    assert_true(c->policy.forbidden[0].line > 0);
}

/* The example configuration's directory, as written there. */
static void check_example_directory(const struct tg_config *c)
{
    const struct tg_directory *dir;
    struct tg_entity e;

    assert_string_equal(c->directory_path, EXAMPLE "/directory.yaml");
    dir = &c->directory;
    assert_true(dir->strict);
    assert_int_equal(dir->n_generic, 12);
    assert_string_equal(dir->generic[3], "*team*");
    assert_int_equal(dir->n_people, 15);
    assert_int_equal(dir->n_groups, 4);
    assert_int_equal(dir->n_systems, 4);
    assert_int_equal(dir->n_delegations, 2);
    e = tg_directory_resolve(dir, " Bob.Smith ", 11);
    assert_int_equal(e.kind, TG_ENT_PERSON);
    assert_string_equal(dir->people[e.idx].id, "bob@example.com");
    e = tg_directory_resolve(dir, "frank", 5);
    assert_true(dir->people[e.idx].inactive);
    e = tg_directory_resolve(dir, "svc-payments-etl", 16);
    assert_int_equal(dir->people[e.idx].type, TG_TYPE_SERVICE);
    e = tg_directory_resolve(dir, "platform-team", 13);
    assert_int_equal(e.kind, TG_ENT_GROUP);
    assert_int_equal(dir->groups[e.idx].n_members, 2);
    assert_true(tg_directory_is_generic(dir, "IT-Support", 10));
    assert_int_equal(tg_directory_system(dir, "payments-db", 11), 0);
    assert_int_equal(dir->systems[0].n_owners, 1);
    assert_string_equal(dir->people[dir->systems[0].owners[0]].id,
                        "carol@example.com");
    assert_int_equal(dir->systems[0].n_approvers, 1);
    assert_true(dir->systems[0].approvers[0].is_group);
    assert_int_equal(dir->systems[0].approvers[0].max_privilege,
                     TG_PRIV_WRITE);
    assert_false(dir->systems[1].approvers[0].is_group);
    assert_int_equal(dir->systems[1].approvers[0].max_privilege,
                     TG_PRIV_READ);
    /* from is the first second of its day, until the last of its day. */
    assert_string_equal(dir->people[dir->delegations[0].delegator].id,
                        "carol@example.com");
    assert_string_equal(dir->people[dir->delegations[0].delegate].id,
                        "erin@example.com");
    assert_int_equal(dir->delegations[0].from, 1735689600);  /* 2025-01-01 */
    assert_int_equal(dir->delegations[0].until, 4102444799); /* 2099-12-31 */
    assert_int_equal(dir->delegations[1].from, 1704067200);  /* 2024-01-01 */
    assert_int_equal(dir->delegations[1].until, 1738367999); /* 2025-01-31 */
}

static void test_example_loads(void **state)
{
    struct tg_config *c = NULL;
    struct tg_diag d;
    (void)state;

    tg_diag_init(&d);
    assert_int_equal(tg_config_load(EXAMPLE "/ticketgate.yaml", &c, &d), 0);
    dump_diag(&d);
    assert_int_equal(d.n, 0);
    assert_non_null(c);
    check_example_server(c);
    check_example_jira(c);
    check_example_servicenow(c);
    check_example_generic(c);
    check_example_gates(c);
    check_example_policy(c);
    check_example_directory(c);

    tg_config_free(c);
    tg_diag_cleanup(&d);
}

static void test_example_digest(void **state)
{
    struct tg_config *c = NULL;
    struct tg_diag d;
    unsigned char md[32];
    unsigned int mdlen = 0;
    char want[72];
    size_t clen, dlen;
    char *ct = slurp(EXAMPLE "/ticketgate.yaml", &clen);
    char *dt = slurp(EXAMPLE "/directory.yaml", &dlen);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    (void)state;

    assert_int_equal(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), 1);
    EVP_DigestUpdate(ctx, ct, clen);
    EVP_DigestUpdate(ctx, dt, dlen);
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    memcpy(want, "sha256:", 8);
    for (unsigned i = 0; i < mdlen; i++)
        snprintf(want + 7 + 2 * i, 3, "%02x", md[i]);

    tg_diag_init(&d);
    assert_int_equal(tg_config_load(EXAMPLE "/ticketgate.yaml", &c, &d), 0);
    assert_int_equal(strlen(c->digest), 7 + 64);
    assert_string_equal(c->digest, want);
    tg_config_free(c);
    tg_diag_cleanup(&d);
    free(ct);
    free(dt);
}

/* The policy digest is recorded in evidence: a known configuration and
 * directory must keep their known digest, byte for byte (sha256sum of the
 * two files one after the other; with no directory, of the configuration
 * alone). */
static void test_digest_pinned(void **state)
{
    struct tg_config *c;
    struct tg_diag d;
    (void)state;

    assert_int_equal(
        load("directory:\n  file: directory.yaml\n", NULL, &c, &d), 0);
    assert_string_equal(c->digest, "sha256:e01c6fd30ba6c08f86b5bceb5b8563f7"
                                   "ac9ad7c1380931dc3b4cb6076d1a9cfa");
    tg_config_free(c);
    tg_diag_cleanup(&d);
    assert_int_equal(load("{}\n", NULL, &c, &d), 0);
    assert_string_equal(c->digest, "sha256:ca3d163bab055381827226140568f3be"
                                   "f7eaac187cebd76878e0b63e9e442356");
    tg_config_free(c);
    tg_diag_cleanup(&d);
}

/* Leading zeros were always read as decimal (not octal), and "-0" as 0. */
static void test_int_forms(void **state)
{
    struct tg_config *c;
    struct tg_diag d;
    (void)state;

    assert_int_equal(
        load("server:\n  threads: 010\nstore:\n  busy_timeout_ms: -0\n",
             NULL, &c, &d),
        0);
    assert_int_equal(c->server.threads, 10);
    assert_int_equal(c->store.busy_timeout_ms, 0);
    tg_config_free(c);
    tg_diag_cleanup(&d);
}

/* store.driver postgresql takes its URL from the environment (issue 15);
 * sqlite stays the default. */
static void test_store_driver(void **state)
{
    struct tg_config *c;
    struct tg_diag d;
    (void)state;

    assert_int_equal(load("server:\n  threads: 2\n", NULL, &c, &d), 0);
    assert_int_equal(c->store.driver, TG_STORE_SQLITE);
    assert_null(c->store.url);
    tg_config_free(c);
    tg_diag_cleanup(&d);
    assert_int_equal(setenv("TG_TEST_DB_URL", "postgresql:///tg?host=/x", 1),
                     0);
    assert_int_equal(load("store:\n  driver: postgresql\n"
                          "  url: \"${TG_TEST_DB_URL}\"\n",
                          NULL, &c, &d),
                     0);
    assert_int_equal(c->store.driver, TG_STORE_POSTGRESQL);
    assert_string_equal(c->store.url, "postgresql:///tg?host=/x");
    /* the offline commands take store.path: the URL there */
    assert_string_equal(c->store.path, "postgresql:///tg?host=/x");
    tg_config_free(c);
    tg_diag_cleanup(&d);
    unsetenv("TG_TEST_DB_URL");
}

/* Each sub-command loads the configuration afresh; so does a SIGHUP. Two
 * loads must agree, and a freed configuration must not leak (valgrind). */
static void test_example_twice(void **state)
{
    struct tg_config *a = NULL, *b = NULL;
    struct tg_diag d;
    (void)state;
    tg_diag_init(&d);
    assert_int_equal(tg_config_load(EXAMPLE "/ticketgate.yaml", &a, &d), 0);
    assert_int_equal(tg_config_load(EXAMPLE "/ticketgate.yaml", &b, &d), 0);
    assert_string_equal(a->digest, b->digest);
    tg_config_free(a);
    tg_config_free(b);
    tg_config_free(NULL);
    tg_diag_cleanup(&d);
}

/* ----------------------------------------------------------- defaults */

static void test_defaults(void **state)
{
    struct tg_config *c;
    struct tg_diag d;
    char want[512];
    (void)state;

    assert_int_equal(load("{}\n", NULL, &c, &d), 0);
    assert_int_equal(d.n, 0);
    assert_string_equal(c->server.listen, "127.0.0.1:8080");
    assert_int_equal(c->server.threads, 16);
    assert_int_equal(c->server.max_body_bytes, 1048576);
    assert_int_equal(c->server.request_timeout_ms, 10000);
    assert_int_equal(c->server.max_token_lifetime_s, 86400);
    assert_string_equal(c->server.log_level, "info");
    assert_int_equal(c->store.sync, TG_SYNC_NORMAL);
    assert_int_equal(c->store.busy_timeout_ms, 2000);
    snprintf(want, sizeof(want), "%s/data/ticketgate.db", tmp);
    assert_string_equal(c->store.path, want);
    assert_false(c->jira.set);
    assert_false(c->servicenow.set);
    assert_false(c->generic.set);
    assert_int_equal(c->n_gates, 0);
    assert_null(c->directory_path);
    assert_int_equal(c->directory.n_people, 0);
    assert_false(c->directory.strict);
    for (size_t i = 0; i < TG_CODE_COUNT; i++)
        assert_int_equal(c->policy.action[i],
                         tg_code_info((enum tg_code)i)->default_action);
    assert_int_equal(c->policy.max_days[TG_PRIV_ADMIN], 30);
    assert_true(tg_wordset_has(&c->policy.wildcard_words, "all", 3));
    assert_int_equal(strncmp(c->digest, "sha256:", 7), 0);
    tg_config_free(c);
    tg_diag_cleanup(&d);
}

static void test_values_set(void **state)
{
    struct tg_config *c;
    struct tg_diag d;
    (void)state;

    write_text("clients.pem", "not checked beyond being readable\n");
    assert_int_equal(
        load("server:\n"
             "  listen: \"0.0.0.0:8443s\"\n"
             "  threads: 4\n"
             "  max_body_bytes: 2048\n"
             "  request_timeout_ms: 500\n"
             "  max_token_lifetime_s: 600\n"
             "  admin_listen: \"127.0.0.1:9090\"\n"
             "  log_level: DEBUG\n"
             "  tls: { certificate: clients.pem, client_ca: ./clients.pem }\n"
             "store: { sync: full, hmac_key: \"k\", busy_timeout_ms: 0 }\n"
             "sources:\n"
             "  jira: { connect_shared_secret: connect-shared-secret-32-bytes-x,"
             " access_issue_types: [] }\n"
             "  servicenow:\n"
             "    standard_webhooks_secret: "
             "\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\n"
             "gates:\n"
             "  - { source: ServiceNow, issue_types: [x], to: [] }\n"
             "policy:\n"
             "  justification:\n"
             "    min_words: 0\n"
             "    generic_words: [Alpha, beta, alpha]\n"
             "    copy_forward: { max_reuse: 5, window_days: 30 }\n"
             "  scope: { wildcard_words: [] }\n"
             "  expiry:\n"
             "    max_days: { write: 7 }\n"
             "    service_max_days: 14\n"
             "    emergency_max_hours: 4\n"
             "  routine:\n"
             "    - { environment: DEV, privilege: Read, system: Wiki,"
             " beneficiary_type: Service }\n"
             "directory:\n"
             "  file: directory.yaml\n"
             "  strict: no\n"
             "  generic_identities: [\"Admin*\", \"it-[a-z]*\"]\n",
             NULL, &c, &d),
        0);
    dump_diag(&d);
    assert_int_equal(c->server.threads, 4);
    assert_int_equal(c->server.max_body_bytes, 2048);
    assert_int_equal(c->server.request_timeout_ms, 500);
    assert_int_equal(c->server.max_token_lifetime_s, 600);
    assert_string_equal(c->server.admin_listen, "127.0.0.1:9090");
    assert_string_equal(c->server.log_level, "debug");
    assert_string_equal(c->server.tls_certificate, tpath("clients.pem"));
    assert_string_equal(c->server.tls_client_ca, tpath("clients.pem"));
    assert_int_equal(c->store.sync, TG_SYNC_FULL);
    assert_int_equal(c->store.hmac_key_len, 1);
    assert_int_equal(c->store.busy_timeout_ms, 0);
    /* exactly 32 bytes: the shortest HS256 key RFC 7518 allows */
    assert_string_equal(c->jira.connect_shared_secret,
                        "connect-shared-secret-32-bytes-x");
    assert_null(c->jira.hmac_secret);
    assert_int_equal(c->jira.n_access_issue_types, 0);
    assert_false(c->servicenow.jwt.set);
    assert_non_null(c->servicenow.standard_webhooks_secret);
    assert_string_equal(c->gates[0].source, "servicenow");
    assert_int_equal(c->gates[0].n_issue_types, 1);
    assert_int_equal(c->policy.min_words, 0);
    assert_int_equal(c->policy.generic_words.n, 2);
    assert_true(tg_wordset_has(&c->policy.generic_words, "alpha", 5));
    assert_false(tg_wordset_has(&c->policy.generic_words, "asap", 4));
    assert_int_equal(c->policy.wildcard_words.n, 0);
    assert_int_equal(c->policy.copy_max_reuse, 5);
    assert_int_equal(c->policy.copy_window_days, 30);
    assert_int_equal(c->policy.max_days[TG_PRIV_READ], 180);
    assert_int_equal(c->policy.max_days[TG_PRIV_WRITE], 7);
    assert_int_equal(c->policy.service_max_days, 14);
    assert_int_equal(c->policy.emergency_max_hours, 4);
    assert_string_equal(c->policy.routine[0].environment, "dev");
    assert_string_equal(c->policy.routine[0].privilege, "read");
    assert_string_equal(c->policy.routine[0].beneficiary_type, "service");
    assert_string_equal(c->policy.routine[0].system, "Wiki");
    assert_false(c->directory.strict);
    assert_string_equal(c->directory.generic[0], "admin*");
    assert_true(tg_directory_is_generic(&c->directory, "it-desk", 7));
    tg_config_free(c);
    tg_diag_cleanup(&d);
}

/* ------------------------------------------------------------ actions */

static void test_actions(void **state)
{
    static const struct {
        const char *name;
        const char *policy;
        enum tg_code code;
        enum tg_action want;
    } cases[] = {
        {"validator off", "  owner: { action: off }\n", TG_OWNER_UNKNOWN,
         TG_ACTION_OFF},
        {"validator off, all codes", "  owner: { action: off }\n",
         TG_OWNER_INACTIVE, TG_ACTION_OFF},
        {"other validators keep defaults", "  owner: { action: off }\n",
         TG_SCOPE_MISSING, TG_ACTION_DENY},
        {"validator warn", "  authority: { action: warn }\n",
         TG_AUTHORITY_TIER, TG_ACTION_WARN},
        {"justification off spares copy-forward",
         "  justification: { action: off }\n", TG_JUSTIFICATION_COPY_FORWARD,
         TG_ACTION_WARN},
        {"justification off", "  justification: { action: off }\n",
         TG_JUSTIFICATION_GENERIC, TG_ACTION_OFF},
        {"copy_forward action",
         "  justification: { action: off, copy_forward: { action: deny } }\n",
         TG_JUSTIFICATION_COPY_FORWARD, TG_ACTION_DENY},
        {"copy_forward off",
         "  justification: { copy_forward: { action: off } }\n",
         TG_JUSTIFICATION_COPY_FORWARD, TG_ACTION_OFF},
        {"code override beats validator",
         "  owner: { action: warn }\n  actions: { OWNER_UNKNOWN: deny }\n",
         TG_OWNER_UNKNOWN, TG_ACTION_DENY},
        {"override leaves siblings",
         "  owner: { action: warn }\n  actions: { OWNER_UNKNOWN: deny }\n",
         TG_OWNER_MISSING, TG_ACTION_WARN},
        {"override copy-forward",
         "  actions: { JUSTIFICATION_COPY_FORWARD: deny }\n",
         TG_JUSTIFICATION_COPY_FORWARD, TG_ACTION_DENY},
        {"policy codes keep defaults", "  separation: { action: off }\n",
         TG_BREAKGLASS_REVIEW_REQUIRED, TG_ACTION_WARN},
        {"policy codes by override",
         "  actions: { BREAKGLASS_REVIEW_REQUIRED: off, "
         "POLICY_FORBIDDEN: warn }\n",
         TG_POLICY_FORBIDDEN, TG_ACTION_WARN},
        {"action any case", "  scope: { action: Warn }\n", TG_SCOPE_WILDCARD,
         TG_ACTION_WARN},
        {"dryrun keeps actions", "  mode: dryrun\n", TG_SOD_SELF_APPROVAL,
         TG_ACTION_DENY},
    };
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tg_config *c;
        struct tg_diag d;
        char cfg[512];
        snprintf(cfg, sizeof(cfg), "policy:\n%s", cases[i].policy);
        print_message("case: %s\n", cases[i].name);
        assert_int_equal(load(cfg, NULL, &c, &d), 0);
        assert_int_equal(c->policy.action[cases[i].code], cases[i].want);
        tg_config_free(c);
        tg_diag_cleanup(&d);
    }
}

/* -------------------------------------------------------------- errors */

static void test_errors(void **state)
{
    /* file 'c': the configuration, 'd': the directory. */
    static const struct {
        const char *name;
        const char *cfg;
        const char *dir; /* NULL: MIN_DIR */
        char file;
        int line;
        const char *what;
    } cases[] = {
        {"unknown top key", "servr: {}\n", NULL, 'c', 1,
         "unknown key 'servr'"},
        {"unknown nested key", "server:\n  listen: x\n  colour: blue\n",
         NULL, 'c', 3, "unknown key 'colour' in server"},
        {"unknown key deep",
         "sources:\n  jira:\n    hmac_secret: s\n    fields:\n"
         "      ownr: x\n",
         NULL, 'c', 5, "unknown key 'ownr' in sources.jira.fields"},
        {"duplicate key", "server:\n  threads: 1\n  threads: 2\n", NULL, 'c',
         3, "appears twice"},
        {"list for a scalar", "server:\n  listen: [a, b]\n", NULL, 'c', 2,
         "server.listen is a list"},
        {"mapping for a scalar", "store:\n  path: { a: b }\n", NULL, 'c', 2,
         "store.path is a mapping"},
        {"scalar for a mapping", "server: 8080\n", NULL, 'c', 1,
         "server is a single value"},
        {"scalar for a list", "gates: jira\n", NULL, 'c', 1,
         "gates is a single value; write a list"},
        {"not an integer", "server:\n  threads: lots\n", NULL, 'c', 2,
         "not a whole number"},
        {"a fraction", "server:\n  max_body_bytes: 1.5\n", NULL, 'c', 2,
         "not a whole number"},
        /* Digits only, after an optional '-': as before the one parser. */
        {"a plus sign", "server:\n  threads: +5\n", NULL, 'c', 2,
         "server.threads is '+5', not a whole number; write digits only"},
        {"a leading space", "server:\n  threads: ' 5'\n", NULL, 'c', 2,
         "not a whole number"},
        {"a trailing space", "server:\n  threads: '5 '\n", NULL, 'c', 2,
         "not a whole number"},
        {"hexadecimal", "server:\n  threads: 0x10\n", NULL, 'c', 2,
         "not a whole number"},
        {"a lone minus", "server:\n  threads: '-'\n", NULL, 'c', 2,
         "not a whole number"},
        {"huge negative",
         "store:\n  busy_timeout_ms: -99999999999999999999\n", NULL, 'c', 2,
         "too large"},
        {"negative", "store:\n  busy_timeout_ms: -1\n", NULL, 'c', 2,
         "negative"},
        {"zero threads", "server:\n  threads: 0\n", NULL, 'c', 2,
         "at least 1"},
        {"huge", "policy:\n  expiry:\n    max_days: { read: "
                 "99999999999999999999999 }\n",
         NULL, 'c', 3, "too large"},
        {"negative max_days", "policy:\n  expiry:\n    service_max_days: -5\n",
         NULL, 'c', 3, "negative"},
        {"bad mode", "policy:\n  mode: strict\n", NULL, 'c', 2,
         "enforce or dryrun"},
        {"bad action", "policy:\n  owner:\n    action: block\n", NULL, 'c',
         3, "deny, warn or off"},
        {"bad sync", "store:\n  sync: always\n", NULL, 'c', 2,
         "normal or full"},
        /* issue 15: the driver and its URL come together */
        {"postgresql without url", "store:\n  driver: postgresql\n", NULL,
         'c', 2, "store.url is not set"},
        {"url without postgresql", "store:\n  url: postgresql:///tg\n",
         NULL, 'c', 2, "store.driver is not postgresql"},
        {"bad driver", "store:\n  driver: mysql\n", NULL, 'c', 2,
         "sqlite or postgresql"},
        {"bad log level", "server: { log_level: loud }\n", NULL, 'c', 1,
         "debug, info, warn or error"},
        {"bad strict", "directory:\n  strict: maybe\n", NULL, 'c', 2,
         "directory.strict"},
        {"bad gate glob",
         "gates:\n  - source: jira\n    projects: [\"ACC\", \"A[B\"]\n", NULL,
         'c', 3, "unbalanced '['"},
        {"bad gate glob, escape",
         "gates:\n  - source: jira\n    projects:\n      - 'A\\'\n", NULL,
         'c', 4, "lone"},
        {"bad generic identity glob",
         "directory:\n  file: directory.yaml\n"
         "  generic_identities:\n    - ok\n    - \"[x\"\n",
         NULL, 'c', 5, "unbalanced '['"},
        {"bad gate source", "gates:\n  - { source: jirra }\n", NULL, 'c', 2,
         "jira or servicenow"},
        {"gate without source", "gates:\n  - { to: [x] }\n", NULL, 'c', 2,
         "has no source"},
        {"empty hmac_secret", "sources:\n  jira:\n    hmac_secret: \"\"\n",
         NULL, 'c', 3, "sources.jira.hmac_secret is empty"},
        {"null hmac_secret", "sources:\n  jira:\n    hmac_secret:\n", NULL,
         'c', 3, "is empty"},
        {"empty jwt secret",
         "sources:\n  generic:\n    jwt:\n      algorithm: HS256\n"
         "      secret: \"\"\n      issuer: i\n      audience: a\n",
         NULL, 'c', 5, "sources.generic.jwt.secret is empty"},
        {"HS256 secret of 31 bytes",
         "sources:\n  generic:\n    jwt:\n      algorithm: HS256\n"
         "      secret: \"0123456789012345678901234567890\"\n"
         "      issuer: i\n      audience: a\n",
         NULL, 'c', 5,
         "sources.generic.jwt.secret is 31 bytes; HS256 needs at least 32 "
         "(RFC 7518 section 3.2)"},
        {"ServiceNow HS256 secret of 1 byte",
         "sources:\n  servicenow:\n    jwt:\n      algorithm: HS256\n"
         "      secret: s\n      issuer: i\n      audience: a\n",
         NULL, 'c', 5, "sources.servicenow.jwt.secret is 1 bytes"},
        {"Connect secret of 31 bytes",
         "sources:\n  jira:\n"
         "    connect_shared_secret: \"0123456789012345678901234567890\"\n",
         NULL, 'c', 3,
         "sources.jira.connect_shared_secret is 31 bytes; HS256 needs at "
         "least 32"},
        {"token lifetime below a minute",
         "server:\n  max_token_lifetime_s: 59\n", NULL, 'c', 2,
         "max_token_lifetime_s is 59; write a number of at least 60"},
        {"token lifetime above a year",
         "server:\n  max_token_lifetime_s: 31536001\n", NULL, 'c', 2,
         "too large"},
        {"empty hmac_key", "store:\n  hmac_key: ''\n", NULL, 'c', 2,
         "store.hmac_key is empty"},
        {"empty whsec",
         "sources:\n  servicenow:\n    standard_webhooks_secret: \"\"\n",
         NULL, 'c', 3, "is empty"},
        {"bad whsec",
         "sources:\n  servicenow:\n    standard_webhooks_secret: \"whsec_!\"\n",
         NULL, 'c', 3, "base64"},
        {"jira without credential", "sources:\n  jira:\n    fields: {}\n",
         NULL, 'c', 3, "no credential"},
        {"generic without jwt", "sources:\n  generic: {}\n", NULL, 'c', 2,
         "sources.generic.jwt is missing"},
        {"jwt without algorithm",
         "sources:\n  generic:\n    jwt:\n      secret: s\n      issuer: i\n"
         "      audience: a\n",
         NULL, 'c', 4, "algorithm is missing"},
        {"jwt bad algorithm",
         "sources:\n  generic:\n    jwt:\n      algorithm: none\n"
         "      secret: s\n      issuer: i\n      audience: a\n",
         NULL, 'c', 4, "HS256, RS256 or ES256"},
        {"jwt HS256 without secret",
         "sources:\n  generic:\n    jwt:\n      algorithm: HS256\n"
         "      issuer: i\n      audience: a\n",
         NULL, 'c', 4, "secret is missing"},
        {"jwt without issuer",
         "sources:\n  generic:\n    jwt:\n      algorithm: HS256\n"
         "      secret: s\n      audience: a\n",
         NULL, 'c', 4, "issuer is missing"},
        {"jwt without audience",
         "sources:\n  generic:\n    jwt:\n      algorithm: HS256\n"
         "      secret: s\n      issuer: i\n",
         NULL, 'c', 4, "audience is missing"},
        {"jwt RS256 without key file",
         "sources:\n  servicenow:\n    jwt:\n      algorithm: RS256\n"
         "      issuer: i\n      audience: a\n",
         NULL, 'c', 4, "public_key_file is missing"},
        {"jwt RS256 key file absent",
         "sources:\n  servicenow:\n    jwt:\n      algorithm: RS256\n"
         "      public_key_file: keys/none.pem\n      issuer: i\n"
         "      audience: a\n",
         NULL, 'c', 5, "cannot read"},
        {"jwt RS256 key not PEM",
         "sources:\n  servicenow:\n    jwt:\n      algorithm: RS256\n"
         "      public_key_file: directory.yaml\n      issuer: i\n"
         "      audience: a\n",
         NULL, 'c', 5, "no PEM public key"},
        {"jwt ES256 with an RSA key",
         "sources:\n  servicenow:\n    jwt:\n      algorithm: ES256\n"
         "      public_key_file: rsa.pem\n      issuer: i\n"
         "      audience: a\n",
         NULL, 'c', 5, "P-256"},
        {"jwt RS256 with a secret",
         "sources:\n  servicenow:\n    jwt:\n      algorithm: RS256\n"
         "      public_key_file: rsa.pem\n      secret: s\n      issuer: i\n"
         "      audience: a\n",
         NULL, 'c', 6, "secret is for HS256"},
        {"jwt negative leeway",
         "sources:\n  generic:\n    jwt:\n      algorithm: HS256\n"
         "      secret: s\n      issuer: i\n      audience: a\n"
         "      leeway_s: -1\n",
         NULL, 'c', 8, "negative"},
        {"unknown code", "policy:\n  actions:\n    OWNER_UNKOWN: warn\n", NULL,
         'c', 3, "no reason code"},
        {"lower-case code", "policy:\n  actions: { owner_unknown: warn }\n",
         NULL, 'c', 2, "no reason code"},
        {"bad override action",
         "policy:\n  actions: { OWNER_UNKNOWN: maybe }\n", NULL, 'c', 2,
         "deny, warn or off"},
        {"rule privilege",
         "policy:\n  routine:\n    - { environment: dev }\n"
         "    - { privilege: root }\n",
         NULL, 'c', 4, "read, write or admin"},
        {"rule beneficiary_type",
         "policy:\n  routine:\n    - { beneficiary_type: robot }\n", NULL,
         'c', 3, "human, service or shared"},
        {"rule unknown key", "policy:\n  routine:\n    - { env: dev }\n", NULL,
         'c', 3, "unknown key 'env'"},
        {"rule matching everything", "policy:\n  routine:\n    - {}\n", NULL,
         'c', 3, "would match every ticket"},
        {"forbidden without reason",
         "policy:\n  forbidden:\n    - environment: prod\n"
         "      privilege: admin\n",
         NULL, 'c', 3, "has no reason"},
        {"generic word with a space",
         "policy:\n  justification:\n    generic_words: [ok, \"two words\"]\n",
         NULL, 'c', 3, "not one word"},
        {"directory file absent", "directory:\n  file: nowhere.yaml\n", NULL,
         'c', 2, "cannot read"},
        {"strict without file", "directory:\n  strict: true\n", NULL, 'c', 2,
         "directory.file is not set"},
        {"tls file absent", "server:\n  tls:\n    certificate: none.pem\n",
         NULL, 'c', 3, "cannot read"},
        {"TLS port without certificate", "server:\n  listen: \"8443s\"\n",
         NULL, 'c', 2, "TLS port"},
        {"YAML syntax", "server:\n  listen: [a\nstore: {}\n", NULL, 'c', 3,
         "not valid YAML"},
        {"tab indentation", "server:\n\tthreads: 1\n", NULL, 'c', 2,
         "not valid YAML"},
        {"two documents", "server: {}\n---\nstore: {}\n", NULL, 'c', 3,
         "second YAML document"},
        {"empty file", "", NULL, 'c', 1, "empty"},
        {"comment only", "# nothing\n", NULL, 'c', 1, "empty"},
        {"scalar document", "hello\n", NULL, 'c', 1, "single value"},
        {"list document", "- a\n- b\n", NULL, 'c', 1, "is a list"},
        {"NUL in a value", "server:\n  listen: \"a\\0b\"\n", NULL, 'c', 2,
         "NUL"},
        {"undefined alias", "server: *nothing\n", NULL, 'c', 1,
         "not valid YAML"},

        {"system without owner", "directory: { file: directory.yaml }\n",
         "people: [{ id: a }]\nsystems:\n  - id: wiki\n  - id: crm\n"
         "    owners: []\n",
         'd', 3, "system wiki has no owner"},
        {"system with empty owners", "directory: { file: directory.yaml }\n",
         "people: [{ id: a }]\nsystems:\n  - id: crm\n    owners: []\n", 'd',
         4, "system crm has no owner"},
        {"owner is a group", "directory: { file: directory.yaml }\n",
         "people: [{ id: a }]\ngroups: [{ id: g, members: [a] }]\n"
         "systems:\n  - id: crm\n    owners: [g]\n",
         'd', 5, "is a group; name a person"},
        {"unknown owner", "directory: { file: directory.yaml }\n",
         "people: [{ id: a }]\nsystems:\n  - id: crm\n    owners:\n"
         "      - a\n      - zed\n",
         'd', 6, "'zed' is in no people or groups entry"},
        {"group cycle", "directory: { file: directory.yaml }\n",
         "people: [{ id: a }]\ngroups:\n  - id: g1\n    members: [g2]\n"
         "  - id: g2\n    members: [a, g1]\n",
         'd', 6, "groups g1 -> g2 -> g1 form a cycle"},
        {"group in itself", "directory: { file: directory.yaml }\n",
         "groups:\n  - id: g1\n    members: [g1]\n", 'd', 3,
         "g1 -> g1 form a cycle"},
        {"unknown member", "directory: { file: directory.yaml }\n",
         "people: [{ id: a }]\ngroups:\n  - id: g1\n    members:\n"
         "      - a\n      - b\n",
         'd', 6, "member 'b' is in no people or groups entry"},
        {"approver unknown group", "directory: { file: directory.yaml }\n",
         "people: [{ id: a }]\nsystems:\n  - id: crm\n    owners: [a]\n"
         "    approvers:\n      - { group: nobody, max_privilege: read }\n",
         'd', 6, "'nobody' is in no people or groups entry"},
        {"approver bad tier", "directory: { file: directory.yaml }\n",
         "people: [{ id: a }]\nsystems:\n  - id: crm\n    owners: [a]\n"
         "    approvers:\n      - { person: a, max_privilege: root }\n",
         'd', 6, "read, write or admin"},
        {"approver without tier", "directory: { file: directory.yaml }\n",
         "people: [{ id: a }]\nsystems:\n  - id: crm\n    owners: [a]\n"
         "    approvers:\n      - { person: a }\n",
         'd', 6, "no max_privilege"},
        {"approver person and group", "directory: { file: directory.yaml }\n",
         "people: [{ id: a }]\ngroups: [{ id: g, members: [a] }]\n"
         "systems:\n  - id: crm\n    owners: [a]\n"
         "    approvers:\n"
         "      - { person: a, group: g, max_privilege: read }\n",
         'd', 7, "exactly one of person or group"},
        {"person type", "directory: { file: directory.yaml }\n",
         "people:\n  - id: a\n    type: robot\n", 'd', 3,
         "human, shared or service"},
        {"person status", "directory: { file: directory.yaml }\n",
         "people:\n  - id: a\n    status: gone\n", 'd', 3,
         "active or inactive"},
        {"person without id", "directory: { file: directory.yaml }\n",
         "people:\n  - id: a\n  - name: Nobody\n", 'd', 3, "has no id"},
        {"person unknown key", "directory: { file: directory.yaml }\n",
         "people:\n  - id: a\n    mail: a@x\n", 'd', 3, "unknown key 'mail'"},
        {"alias names two people", "directory: { file: directory.yaml }\n",
         "people:\n  - id: a\n    aliases: [x]\n  - id: b\n    aliases:\n"
         "      - y\n      - X\n",
         'd', 7, "'x' names both person a"},
        {"person id twice", "directory: { file: directory.yaml }\n",
         "people:\n  - id: a\n  - id: A\n", 'd', 3, "names both person a"},
        {"group id is a person's", "directory: { file: directory.yaml }\n",
         "people:\n  - id: a\ngroups:\n  - id: a\n", 'd', 4,
         "names both person a"},
        {"system twice", "directory: { file: directory.yaml }\n",
         "people: [{ id: a }]\nsystems:\n  - { id: s, owners: [a] }\n"
         "  - { id: s, owners: [a] }\n",
         'd', 4, "listed twice"},
        {"delegation bad date", "directory: { file: directory.yaml }\n",
         "people: [{ id: a }, { id: b }]\ndelegations:\n"
         "  - { delegator: a, delegate: b, from: 2025-13-01, until: 2026-01-01 "
         "}\n",
         'd', 3, "not a date"},
        {"delegation backwards", "directory: { file: directory.yaml }\n",
         "people: [{ id: a }, { id: b }]\ndelegations:\n"
         "  - { delegator: a, delegate: b, from: 2026-02-01, until: 2026-01-01 "
         "}\n",
         'd', 3, "before it starts"},
        {"delegation to oneself", "directory: { file: directory.yaml }\n",
         "people: [{ id: a }]\ndelegations:\n"
         "  - { delegator: a, delegate: a, from: 2026-01-01, until: 2026-02-01 "
         "}\n",
         'd', 3, "same person"},
        {"delegation missing key", "directory: { file: directory.yaml }\n",
         "people: [{ id: a }, { id: b }]\ndelegations:\n"
         "  - { delegator: a, delegate: b, from: 2026-01-01 }\n",
         'd', 3, "has no until"},
        {"delegate unknown", "directory: { file: directory.yaml }\n",
         "people: [{ id: a }]\ndelegations:\n"
         "  - { delegator: a, delegate: q, from: 2026-01-01, until: 2026-02-01 "
         "}\n",
         'd', 3, "'q' is in no people"},
        {"directory unknown section", "directory: { file: directory.yaml }\n",
         "people: []\nroles: []\n", 'd', 2, "unknown key 'roles'"},
        {"directory people not a list", "directory: { file: directory.yaml }\n",
         "people: { id: a }\n", 'd', 1, "people is a mapping"},
        {"directory empty", "directory: { file: directory.yaml }\n", "", 'd',
         1, "empty"},
        {"directory syntax", "directory: { file: directory.yaml }\n",
         "people:\n  - id: a\n    aliases: [b\n", 'd', 4, "not valid YAML"},
    };
    (void)state;

    copy_file(EXAMPLE "/keys/servicenow-public.pem", "rsa.pem");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tg_config *c;
        struct tg_diag d;
        char file[512];
        int rc;
        print_message("case: %s\n", cases[i].name);
        rc = load(cases[i].cfg, cases[i].dir, &c, &d);
        snprintf(file, sizeof(file), "%s",
                 tpath(cases[i].file == 'c' ? "ticketgate.yaml"
                                            : "directory.yaml"));
        if (!has_diag(&d, file, cases[i].line, cases[i].what)) {
            dump_diag(&d);
            fail_msg("%s: no diagnostic at line %d with \"%s\"",
                     cases[i].name, cases[i].line, cases[i].what);
        }
        assert_int_equal(rc, TG_EINVAL);
        assert_null(c);
        tg_diag_cleanup(&d);
    }
}

/* RS256 and ES256 read the key file; the key must suit the algorithm. */
static void test_jwt_keys(void **state)
{
    static const struct {
        const char *alg;
        const char *file;
        int ok;
    } cases[] = {
        {"ES256", "ec.pem", 1},
        {"RS256", "ec.pem", 0},
        {"ES256", "rsa.pem", 0},
        {"RS256", "rsa.pem", 1},
        {"RS256", "ec-private.pem", 0},
    };
    char *priv = NULL, *pub = NULL;
    (void)state;

    assert_int_equal(tg_test_keypair("EC", &priv, &pub), 0);
    write_text("ec.pem", pub);
    write_text("ec-private.pem", priv);
    copy_file(EXAMPLE "/keys/servicenow-public.pem", "rsa.pem");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tg_config *c;
        struct tg_diag d;
        char cfg[512];
        int rc;
        snprintf(cfg, sizeof(cfg),
                 "sources:\n  servicenow:\n    jwt:\n"
                 "      algorithm: %s\n      public_key_file: %s\n"
                 "      issuer: i\n      audience: a\n",
                 cases[i].alg, cases[i].file);
        print_message("case: %s with %s\n", cases[i].alg, cases[i].file);
        rc = load(cfg, NULL, &c, &d);
        if (!cases[i].ok) {
            assert_int_equal(rc, TG_EINVAL);
            assert_true(has_diag(&d, tpath("ticketgate.yaml"), 5, "key"));
            tg_diag_cleanup(&d);
            continue;
        }
        dump_diag(&d);
        assert_int_equal(rc, 0);
        assert_int_equal(c->servicenow.jwt.alg, strcmp(cases[i].alg, "ES256")
                                                    ? TG_JWT_RS256
                                                    : TG_JWT_ES256);
        assert_true(c->servicenow.jwt.key_len > 0);
        if (strcmp(cases[i].file, "ec.pem") == 0)
            assert_memory_equal(c->servicenow.jwt.key, pub, strlen(pub));
        assert_int_equal(c->servicenow.jwt.leeway_s, 60);
        tg_config_free(c);
        tg_diag_cleanup(&d);
    }
    free(priv);
    free(pub);
}

/* Every problem is reported, not only the first. */
static void test_errors_all_reported(void **state)
{
    struct tg_config *c;
    struct tg_diag d;
    const char *f;
    (void)state;

    assert_int_equal(load("server:\n"
                          "  threads: x\n"
                          "  colour: red\n"
                          "policy:\n"
                          "  mode: both\n"
                          "directory:\n"
                          "  file: directory.yaml\n",
                          "people:\n  - id: a\n    type: robot\n"
                          "systems:\n  - id: s\n",
                          &c, &d),
                     TG_EINVAL);
    f = tpath("ticketgate.yaml");
    assert_true(has_diag(&d, f, 2, "threads"));
    assert_true(has_diag(&d, f, 3, "colour"));
    assert_true(has_diag(&d, f, 5, "policy.mode"));
    f = tpath("directory.yaml");
    assert_true(has_diag(&d, f, 3, "robot"));
    assert_true(has_diag(&d, f, 5, "no owner"));
    assert_int_equal(d.n, 5);
    /* Each is "what is wrong; what to do". */
    for (size_t i = 0; i < d.n; i++)
        assert_non_null(strstr(d.msgs[i], "; "));
    tg_diag_cleanup(&d);
}

/* --------------------------------------------------- ${NAME} and paths */

static void test_env(void **state)
{
    struct tg_config *c;
    struct tg_diag d;
    const char *cfg = "sources:\n"
                      "  generic:\n"
                      "    jwt:\n"
                      "      algorithm: HS256\n"
                      "      secret: ${TG_CFGTEST_SECRET}\n"
                      "      issuer: \"https://${TG_CFGTEST_HOST}/oauth\"\n"
                      "      audience: \"${TG_CFGTEST_AUD}\"\n"
                      "server:\n"
                      "  threads: ${TG_CFGTEST_THREADS}\n"
                      "  listen: \"${not a name} $${x\"\n";
    (void)state;

    setenv("TG_CFGTEST_SECRET", "s3cret-s3cret-s3cret-s3cret-s3cret", 1);
    setenv("TG_CFGTEST_HOST", "idp.example", 1);
    setenv("TG_CFGTEST_THREADS", "3", 1);
    unsetenv("TG_CFGTEST_AUD");
    assert_int_equal(load(cfg, NULL, &c, &d), TG_EINVAL);
    assert_true(has_diag(&d, tpath("ticketgate.yaml"), 7, "TG_CFGTEST_AUD"));
    assert_true(has_diag(&d, tpath("ticketgate.yaml"), 7, "not set"));
    assert_int_equal(d.n, 1);
    tg_diag_cleanup(&d);

    setenv("TG_CFGTEST_AUD", "ticketgate", 1);
    assert_int_equal(load(cfg, NULL, &c, &d), 0);
    assert_int_equal(c->generic.jwt.key_len, 34);
    assert_memory_equal(c->generic.jwt.key,
                        "s3cret-s3cret-s3cret-s3cret-s3cret", 34);
    assert_string_equal(c->generic.jwt.issuer, "https://idp.example/oauth");
    assert_string_equal(c->generic.jwt.audience, "ticketgate");
    assert_int_equal(c->server.threads, 3);
    /* Only a whole ${NAME} is a reference. */
    assert_string_equal(c->server.listen, "${not a name} $${x");
    tg_config_free(c);
    tg_diag_cleanup(&d);

    /* A variable set but empty leaves the secret empty: a problem. */
    setenv("TG_CFGTEST_SECRET", "", 1);
    assert_int_equal(load(cfg, NULL, &c, &d), TG_EINVAL);
    assert_true(has_diag(&d, tpath("ticketgate.yaml"), 5, "is empty"));
    tg_diag_cleanup(&d);
    unsetenv("TG_CFGTEST_SECRET");
    unsetenv("TG_CFGTEST_HOST");
    unsetenv("TG_CFGTEST_AUD");
    unsetenv("TG_CFGTEST_THREADS");
}

static void test_relative_paths(void **state)
{
    struct tg_config *c = NULL;
    struct tg_diag d;
    char want[600], cwd[512];
    (void)state;

    assert_int_equal(mkdir(tpath("conf"), 0700), 0);
    assert_int_equal(mkdir(tpath("conf/keys"), 0700), 0);
    copy_file(EXAMPLE "/keys/servicenow-public.pem", "conf/keys/pub.pem");
    write_text("dir.yaml", MIN_DIR);
    write_text("conf/ticketgate.yaml",
               "store:\n  path: db/evidence.db\n"
               "sources:\n  servicenow:\n    jwt:\n      algorithm: RS256\n"
               "      public_key_file: keys/pub.pem\n      issuer: i\n"
               "      audience: a\n"
               "directory:\n  file: ../dir.yaml\n");
    tg_diag_init(&d);
    assert_int_equal(tg_config_load(tpath("conf/ticketgate.yaml"), &c, &d),
                     0);
    snprintf(want, sizeof(want), "%s/conf", tmp);
    assert_string_equal(c->basedir, want);
    snprintf(want, sizeof(want), "%s/conf/db/evidence.db", tmp);
    assert_string_equal(c->store.path, want);
    snprintf(want, sizeof(want), "%s/conf/../dir.yaml", tmp);
    assert_string_equal(c->directory_path, want);
    assert_int_equal(c->directory.n_people, 2);
    assert_true(c->servicenow.jwt.key_len > 0);
    tg_config_free(c);

    /* Absolute paths stay as written. */
    snprintf(want, sizeof(want),
             "store:\n  path: %s/abs.db\ndirectory:\n  file: %s/dir.yaml\n",
             tmp, tmp);
    write_text("conf/abs.yaml", want);
    assert_int_equal(tg_config_load(tpath("conf/abs.yaml"), &c, &d), 0);
    snprintf(want, sizeof(want), "%s/abs.db", tmp);
    assert_string_equal(c->store.path, want);
    tg_config_free(c);

    /* A configuration named without a directory: paths as written. */
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(tpath("conf")), 0);
    assert_int_equal(tg_config_load("ticketgate.yaml", &c, &d), 0);
    assert_int_equal(chdir(cwd), 0);
    assert_string_equal(c->basedir, ".");
    assert_string_equal(c->store.path, "db/evidence.db");
    assert_string_equal(c->directory_path, "../dir.yaml");
    tg_config_free(c);
    assert_int_equal(d.n, 0);
    tg_diag_cleanup(&d);
}

/* ------------------------------------------------------ hostile input */

static void test_missing_file(void **state)
{
    struct tg_config *c = NULL;
    struct tg_diag d;
    (void)state;
    tg_diag_init(&d);
    assert_int_equal(tg_config_load(tpath("no-such.yaml"), &c, &d), TG_EIO);
    assert_null(c);
    assert_int_equal(d.n, 1);
    assert_non_null(strstr(d.msgs[0], "no-such.yaml"));
    assert_non_null(strstr(d.msgs[0], "cannot read"));
    tg_diag_cleanup(&d);
    /* A directory is not a file either. */
    assert_int_equal(tg_config_load(tmp, &c, &d), TG_EIO);
    tg_diag_cleanup(&d);
    /* diag may be NULL. */
    assert_int_equal(tg_config_load(tpath("no-such.yaml"), &c, NULL), TG_EIO);
}

static void expect_fails(const char *text, size_t len)
{
    struct tg_config *c = NULL;
    struct tg_diag d;
    int rc;
    write_file("junk.yaml", text, len);
    tg_diag_init(&d);
    rc = tg_config_load(tpath("junk.yaml"), &c, &d);
    assert_int_equal(rc, TG_EINVAL);
    assert_null(c);
    assert_true(d.n >= 1);
    tg_diag_cleanup(&d);
}

static void expect_fails_str(const char *text)
{
    expect_fails(text, strlen(text));
}

static void test_hostile(void **state)
{
    char *buf = malloc(1 << 20);
    size_t n = 0;
    uint32_t x = 12345;
    (void)state;
    assert_non_null(buf);

    /* Binary junk, with NULs. */
    for (size_t i = 0; i < 4096; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (char)(x >> 16);
    }
    expect_fails(buf, 4096);
    /* Deep flow nesting. */
    n = 0;
    memcpy(buf, "a: ", 3);
    n = 3;
    for (int i = 0; i < 200000; i++)
        buf[n++] = '[';
    for (int i = 0; i < 200000; i++)
        buf[n++] = ']';
    expect_fails(buf, n);
    /* Deep block nesting. */
    n = 0;
    for (int i = 0; i < 100000; i++) {
        buf[n++] = '-';
        buf[n++] = ' ';
    }
    buf[n++] = 'x';
    expect_fails(buf, n);
    /* Anchors that refer to themselves. */
    expect_fails_str("a: &x [*x]\nserver: *x\n");
    /* A value for every key, of the wrong kind. */
    expect_fails_str("server: []\nstore: []\nsources: []\ngates: {}\n"
                     "policy: []\ndirectory: []\n");
    expect_fails_str("\xef\xbb\xbfserver: {threads: \xff}\n");
    free(buf);
}

/* Every prefix of the example, and the example with one byte changed to a
 * YAML metacharacter, must load or fail cleanly (valgrind checks the rest). */
static void test_mutations(void **state)
{
    static const char meta[] = ":[{-\"'#&*!|>\n ";
    size_t len, dlen;
    char *text, *dtext, *m;
    (void)state;

    text = slurp(EXAMPLE "/ticketgate.yaml", &len);
    dtext = slurp(EXAMPLE "/directory.yaml", &dlen);
    (void)mkdir(tpath("keys"), 0700);
    copy_file(EXAMPLE "/keys/servicenow-public.pem",
              "keys/servicenow-public.pem");
    m = malloc(len > dlen ? len : dlen);
    assert_non_null(m);
    for (size_t step = 0; step < 2; step++) {
        const char *src = step ? dtext : text;
        size_t slen = step ? dlen : len;
        for (size_t i = 0; i < slen; i += 37) {
            struct tg_config *c = NULL;
            struct tg_diag d;
            int rc;
            memcpy(m, src, slen);
            m[i] = meta[(i / 37) % (sizeof(meta) - 1)];
            if (step) {
                write_text("ticketgate.yaml", text);
                write_file("directory.yaml", m, slen);
            } else {
                write_file("ticketgate.yaml", m, slen);
                write_text("directory.yaml", dtext);
            }
            tg_diag_init(&d);
            rc = tg_config_load(tpath("ticketgate.yaml"), &c, &d);
            assert_true(rc == 0 || rc == TG_EINVAL);
            assert_true(rc == 0 ? d.n == 0 && c != NULL
                                : d.n > 0 && c == NULL);
            tg_config_free(c);
            tg_diag_cleanup(&d);
            /* Cut here. */
            if (step == 0) {
                write_file("ticketgate.yaml", src, i);
                c = NULL;
                tg_diag_init(&d);
                rc = tg_config_load(tpath("ticketgate.yaml"), &c, &d);
                assert_true(rc == 0 || rc == TG_EINVAL);
                tg_config_free(c);
                tg_diag_cleanup(&d);
            }
        }
    }
    free(m);
    free(text);
    free(dtext);
}

/* Nested groups flatten to people, each once. */
static void test_groups_flatten(void **state)
{
    struct tg_config *c;
    struct tg_diag d;
    struct tg_entity e;
    (void)state;

    assert_int_equal(
        load("directory: { file: directory.yaml }\n",
             "people: [{ id: a }, { id: b }, { id: c }]\n"
             "groups:\n"
             "  - { id: top, members: [mid, a, low] }\n"
             "  - { id: mid, members: [low, b, a] }\n"
             "  - { id: low, members: [c] }\n"
             "  - { id: empty, members: [] }\n"
             "  - { id: none }\n",
             &c, &d),
        0);
    e = tg_directory_resolve(&c->directory, "top", 3);
    assert_int_equal(e.kind, TG_ENT_GROUP);
    assert_int_equal(c->directory.groups[e.idx].n_members, 3);
    for (size_t p = 0; p < 3; p++)
        assert_true(tg_directory_in_group(&c->directory, e.idx, p));
    e = tg_directory_resolve(&c->directory, "mid", 3);
    assert_int_equal(c->directory.groups[e.idx].n_members, 3);
    e = tg_directory_resolve(&c->directory, "low", 3);
    assert_int_equal(c->directory.groups[e.idx].n_members, 1);
    e = tg_directory_resolve(&c->directory, "empty", 5);
    assert_int_equal(c->directory.groups[e.idx].n_members, 0);
    tg_config_free(c);
    tg_diag_cleanup(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_loads),
        cmocka_unit_test(test_example_digest),
        cmocka_unit_test(test_digest_pinned),
        cmocka_unit_test(test_int_forms),
        cmocka_unit_test(test_store_driver),
        cmocka_unit_test(test_example_twice),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_values_set),
        cmocka_unit_test(test_actions),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_jwt_keys),
        cmocka_unit_test(test_errors_all_reported),
        cmocka_unit_test(test_env),
        cmocka_unit_test(test_relative_paths),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_mutations),
        cmocka_unit_test(test_groups_flatten),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
