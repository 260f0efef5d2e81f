/* test_tls.c - TLS and mTLS listeners of the real server, with openssl PKI. */
/* needs: ticketgate */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <openssl/ssl.h>

#include "tests/support/tg_test.h"

/*
 * A CA, a server certificate for 127.0.0.1, a client certificate of that CA
 * and one of another CA, made with the openssl command as an operator would.
 * P-256 keys keep it fast. server.pem holds certificate and key, the form
 * server.tls.certificate takes.
 */
static const char pki_script[] =
    "set -e\n"
    "cd \"$1\"\n"
    "ec='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes'\n"
    "openssl req -x509 $ec -keyout ca.key -out ca.pem -days 2 "
    "-subj /CN=tg-test-ca 2>/dev/null\n"
    "openssl req $ec -keyout server.key -out server.csr -subj /CN=localhost "
    "2>/dev/null\n"
    "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n"
    "extendedKeyUsage=serverAuth\\n' > server.ext\n"
    "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key "
    "-CAcreateserial -out server.crt -days 2 -extfile server.ext "
    "2>/dev/null\n"
    "cat server.crt server.key > server.pem\n"
    "printf 'extendedKeyUsage=clientAuth\\n' > client.ext\n"
    "openssl req $ec -keyout client.key -out client.csr -subj /CN=itsm "
    "2>/dev/null\n"
    "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key "
    "-CAcreateserial -out client.crt -days 2 -extfile client.ext "
    "2>/dev/null\n"
    "openssl req -x509 $ec -keyout rogue-ca.key -out rogue-ca.pem -days 2 "
    "-subj /CN=rogue-ca 2>/dev/null\n"
    "openssl req $ec -keyout rogue.key -out rogue.csr -subj /CN=rogue "
    "2>/dev/null\n"
    "openssl x509 -req -in rogue.csr -CA rogue-ca.pem -CAkey rogue-ca.key "
    "-CAcreateserial -out rogue.crt -days 2 -extfile client.ext "
    "2>/dev/null\n"
    /* An RSA server certificate: the only kind that static RSA key
     * exchange (no forward secrecy) could be negotiated with. */
    "openssl req -newkey rsa:2048 -nodes -keyout rsa-server.key "
    "-out rsa-server.csr -subj /CN=localhost 2>/dev/null\n"
    "openssl x509 -req -in rsa-server.csr -CA ca.pem -CAkey ca.key "
    "-CAcreateserial -out rsa-server.crt -days 2 -extfile server.ext "
    "2>/dev/null\n"
    "cat rsa-server.crt rsa-server.key > rsa-server.pem\n";

struct tls_server {
    struct tg_server s;
    int admin_port;
    int mtls;
};

static int make_pki(const char *dir)
{
    char script[512], cmd[1024];
    int n;
    FILE *f;

    n = snprintf(script, sizeof(script), "%s/pki.sh", dir);
    assert_true(n > 0 && (size_t)n < sizeof(script));
    f = fopen(script, "w");
    assert_non_null(f);
    fputs(pki_script, f);
    assert_int_equal(fclose(f), 0);
    n = snprintf(cmd, sizeof(cmd), "sh '%s' '%s'", script, dir);
    assert_true(n > 0 && (size_t)n < sizeof(cmd));
    return system(cmd) == 0 ? 0 : -1;
}

/* Which client credentials and protocol a request uses. */
enum client_cert { NO_CERT, OUR_CERT, ROGUE_CERT };

struct tls_opts {
    enum client_cert cert;
    long version;   /* CURLOPT_SSLVERSION; 0: libcurl's default */
    int legacy;     /* let the client offer TLS 1.0/1.1 (SECLEVEL=0) */
    int trust_none; /* trust another CA than the server's */
    int plain;      /* http:// to the TLS port */
};

static size_t sink(char *p, size_t sz, size_t n, void *ud)
{
    struct tg_resp *r = ud;
    size_t len = sz * n;
    char *nb = realloc(r->body, r->body_len + len + 1);

    if (!nb)
        return 0;
    memcpy(nb + r->body_len, p, len);
    r->body = nb;
    r->body_len += len;
    r->body[r->body_len] = '\0';
    return len;
}

/*
 * One request to the TLS port of t (or plain HTTP to port when given).
 * Returns the HTTP status, 0 when no exchange happened (handshake refused);
 * the body goes to *body when not NULL (caller frees).
 */
static long tls_request(const struct tls_server *t, int port,
                        const char *method, const char *path,
                        const struct tls_opts *o, const char *const *hdrs,
                        const char *data, char **body)
{
    char url[256], ca[320], crt[320], key[320], err[CURL_ERROR_SIZE] = "";
    struct curl_slist *list = NULL;
    struct tg_resp r = {0};
    long status = 0;
    CURL *c = curl_easy_init();
    CURLcode rc;
    size_t i;

    assert_non_null(c);
    snprintf(url, sizeof(url), "%s://127.0.0.1:%d%s",
             o && !o->plain && port == t->s.port ? "https" : "http", port,
             path);
    snprintf(ca, sizeof(ca), "%s/%s", t->s.dir,
             o && o->trust_none ? "rogue-ca.pem" : "ca.pem");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CAINFO, ca);
    curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (data) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, data);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(data));
    }
    for (i = 0; hdrs && hdrs[i]; i++)
        list = curl_slist_append(list, hdrs[i]);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
    if (o && o->cert != NO_CERT) {
        const char *who = o->cert == OUR_CERT ? "client" : "rogue";
        snprintf(crt, sizeof(crt), "%s/%s.crt", t->s.dir, who);
        snprintf(key, sizeof(key), "%s/%s.key", t->s.dir, who);
        curl_easy_setopt(c, CURLOPT_SSLCERT, crt);
        curl_easy_setopt(c, CURLOPT_SSLKEY, key);
    }
    if (o && o->version)
        curl_easy_setopt(c, CURLOPT_SSLVERSION, o->version);
    /* Without this OpenSSL 3's client would not even offer TLS 1.1, and
     * the test would prove nothing about the server. */
    if (o && o->legacy)
        curl_easy_setopt(c, CURLOPT_SSL_CIPHER_LIST, "DEFAULT@SECLEVEL=0");
    rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    else if (getenv("TG_TEST_VERBOSE"))
        fprintf(stderr, "%s: curl %d %s\n", url, rc, err);
    curl_slist_free_all(list);
    curl_easy_cleanup(c);
    if (body)
        *body = r.body;
    else
        free(r.body);
    return status;
}

static int start_tls_cert(struct tls_server *t, int mtls, const char *cert);

/* Starts ticketgate on a TLS port (and a plain admin port) itself: the
 * helper of tg_test.h waits for plain HTTP. */
static int start_tls(struct tls_server *t, int mtls)
{
    return start_tls_cert(t, mtls, "server.pem");
}

/* The same with server.tls.certificate set to cert (a file of the PKI). */
static int start_tls_cert(struct tls_server *t, int mtls, const char *cert)
{
    char repl[512];
    struct tls_opts o = {mtls ? OUR_CERT : NO_CERT, 0, 0, 0, 0};
    int i;

    memset(t, 0, sizeof(*t));
    t->mtls = mtls;
    if (tg_test_server_prepare(&t->s) != 0 || make_pki(t->s.dir) != 0)
        return -1;
    snprintf(repl, sizeof(repl),
             "listen: \"127.0.0.1:0s\"\n"
             "  admin_listen: \"127.0.0.1:0\"\n"
             "  tls:\n"
             "    certificate: %s\n"
             "%s",
             cert, mtls ? "    client_ca: ca.pem\n" : "");
    if (tg_test_config_replace(&t->s, "listen: \"127.0.0.1:8080\"", repl) != 0)
        return -1;
    /* Both ports are the kernel's choice, read from the server's log. */
    if (tg_test_server_spawn(&t->s) != 0 ||
        tg_test_server_log_ports(&t->s, 15000) != 0)
        return -1;
    t->admin_port = t->s.admin_port;
    for (i = 0; i < 300; i++) {
        int st;
        if (waitpid(t->s.pid, &st, WNOHANG) == t->s.pid) {
            t->s.pid = 0;
            break;
        }
        if (tls_request(t, t->s.port, "GET", "/healthz", &o, NULL, NULL,
                        NULL) == 200)
            return 0;
        tg_test_sleep_ms(50);
    }
    fprintf(stderr, "test_tls: the TLS server did not come up\n");
    tg_test_server_dump_log(&t->s);
    return -1;
}

static void stop_tls(struct tls_server *t)
{
    int rc = tg_test_server_stop(&t->s);
    if (rc != 0)
        tg_test_server_dump_log(&t->s);
    assert_int_equal(rc, 0);
    tg_test_server_cleanup(&t->s);
}

/* The example ticket, with its dates moved around the live clock. */
static char *ticket_body(void)
{
    char path[512], exp[32], created[32], *text, *p;

    snprintf(path, sizeof(path), "%s/example/payloads/canonical-ticket.json",
             TG_SOURCE_DIR);
    text = tg_test_read_file(path, NULL);
    assert_non_null(text);
    tg_test_rfc3339(2 * 86400, exp, sizeof(exp));
    tg_test_rfc3339(-3600, created, sizeof(created));
    /* Same length (RFC 3339, seconds, Z): replace in place. */
    p = strstr(text, "2026-12-04T00:00:00Z");
    assert_non_null(p);
    memcpy(p, exp, strlen(exp));
    p = strstr(text, "2026-11-30T00:00:00Z");
    assert_non_null(p);
    memcpy(p, created, strlen(created));
    return text;
}

static const struct {
    const char *name;
    struct tls_opts o;
    int tls_ok;  /* answered 200 by a TLS server without client_ca */
    int mtls_ok; /* answered 200 by one with client_ca */
} cases[] = {
    {"default handshake, no client certificate", {NO_CERT, 0, 0, 0, 0}, 1, 0},
    {"client certificate of the configured CA", {OUR_CERT, 0, 0, 0, 0}, 1, 1},
    {"client certificate of another CA", {ROGUE_CERT, 0, 0, 0, 0}, 1, 0},
    {"TLS 1.2 exactly",
     {OUR_CERT, CURL_SSLVERSION_TLSv1_2 | CURL_SSLVERSION_MAX_TLSv1_2, 0, 0, 0},
     1,
     1},
    {"TLS 1.3", {OUR_CERT, CURL_SSLVERSION_TLSv1_3, 0, 0, 0}, 1, 1},
    {"TLS 1.1 is refused by the server",
     {OUR_CERT, CURL_SSLVERSION_TLSv1_1 | CURL_SSLVERSION_MAX_TLSv1_1, 1, 0, 0},
     0,
     0},
    {"TLS 1.0 is refused by the server",
     {OUR_CERT, CURL_SSLVERSION_TLSv1_0 | CURL_SSLVERSION_MAX_TLSv1_0, 1, 0, 0},
     0,
     0},
    {"server certificate not trusted by the client",
     {OUR_CERT, 0, 0, 1, 0},
     0,
     0},
    {"plain HTTP to the TLS port", {OUR_CERT, 0, 0, 0, 1}, 0, 0},
};

static void run_cases(struct tls_server *t)
{
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        long st = tls_request(t, t->s.port, "GET", "/healthz", &cases[i].o,
                              NULL, NULL, NULL);
        int want = t->mtls ? cases[i].mtls_ok : cases[i].tls_ok;
        if ((st == 200) != want) {
            tg_test_server_dump_log(&t->s);
            fail_msg("%s (%s): status %ld, want %s", cases[i].name,
                     t->mtls ? "mTLS" : "TLS", st,
                     want ? "200" : "no exchange");
        }
    }
}

/* The API over TLS: a real decision, authenticated by JWT as well. */
static void check_api(struct tls_server *t)
{
    struct tls_opts o = {t->mtls ? OUR_CERT : NO_CERT, 0, 0, 0, 0};
    char *tok = tg_test_generic_token(NULL), *auth, *ticket, *body = NULL;
    const char *hdrs[3];
    long st;

    assert_non_null(tok);
    auth = tg_test_bearer_header(tok);
    ticket = ticket_body();
    hdrs[0] = "Content-Type: application/json";
    hdrs[1] = auth;
    hdrs[2] = NULL;
    st =
        tls_request(t, t->s.port, "POST", "/v1/check", &o, hdrs, ticket, &body);
    if (st != 200 || !body || !strstr(body, "\"decision\":\"allow\"")) {
        tg_test_server_dump_log(&t->s);
        fail_msg("POST /v1/check over TLS: %ld %s", st, body ? body : "");
    }
    free(body);

    /* The admin listener stays plain HTTP and serves only its routes. */
    st = tls_request(t, t->admin_port, "GET", "/metrics", NULL, NULL, NULL,
                     &body);
    assert_int_equal(st, 200);
    assert_non_null(strstr(body, "ticketgate_"));
    free(body);
    assert_int_equal(
        tls_request(t, t->admin_port, "GET", "/readyz", NULL, NULL, NULL, NULL),
        200);
    assert_int_equal(tls_request(t, t->admin_port, "POST", "/v1/check", NULL,
                                 hdrs, ticket, NULL),
                     404);
    free(ticket);
    free(auth);
    free(tok);
}

static void test_tls(void **state)
{
    struct tls_server t;

    (void)state;
    assert_int_equal(start_tls(&t, 0), 0);
    run_cases(&t);
    check_api(&t);
    stop_tls(&t);
}

static void test_mtls(void **state)
{
    struct tls_server t;

    (void)state;
    assert_int_equal(start_tls(&t, 1), 0);
    run_cases(&t);
    check_api(&t);
    stop_tls(&t);
}

/* A certificate that is not one refuses to start, with exit code 2 and a
 * log line, instead of serving plain text on a port meant for TLS. */
static void test_bad_certificate(void **state)
{
    struct tg_server s;
    char *logtext;

    (void)state;
    assert_int_equal(tg_test_server_prepare(&s), 0);
    assert_int_equal(tg_test_write_file(&s, "server.pem",
                                        "-----BEGIN CERTIFICATE-----\n"
                                        "bm90IGEgY2VydGlmaWNhdGU=\n"
                                        "-----END CERTIFICATE-----\n"),
                     0);
    assert_int_equal(tg_test_config_replace(&s, "listen: \"127.0.0.1:8080\"",
                                            "listen: \"127.0.0.1:8080s\"\n"
                                            "  tls:\n"
                                            "    certificate: server.pem\n"),
                     0);
    /* start rewrites listen without the "s"; TLS still applies to it. */
    assert_int_not_equal(tg_test_server_start(&s), 0);
    logtext = tg_test_read_file(s.log, NULL);
    assert_non_null(logtext);
    assert_non_null(strstr(logtext, "error"));
    free(logtext);
    tg_test_server_cleanup(&s);
}

/* What handshake_with saw: the suite, read while the connection is open
 * (ticketgate may close it after the answer, and libcurl's TLS state with
 * it). */
struct hs_seen {
    CURL *c;
    char suite[64];
};

static size_t hs_sink(char *p, size_t sz, size_t n, void *ud)
{
    struct hs_seen *h = ud;
    struct curl_tlssessioninfo *ti = NULL;

    (void)p;
    if (!h->suite[0] &&
        curl_easy_getinfo(h->c, CURLINFO_TLS_SSL_PTR, &ti) == CURLE_OK && ti &&
        ti->backend == CURLSSLBACKEND_OPENSSL && ti->internals) {
        const char *got = SSL_get_cipher_name((const SSL *)ti->internals);
        snprintf(h->suite, sizeof(h->suite), "%s", got ? got : "?");
    }
    return sz * n;
}

/*
 * One handshake and GET /healthz with the client offering only the TLS 1.2
 * suite `suite` (OpenSSL name), or with tls13 set only TLS 1.3 and its
 * suite `suite`. Returns 1 when answered 200 with exactly that suite
 * negotiated, 0 when the handshake was refused.
 */
static int handshake_with(const struct tls_server *t, const char *suite,
                          int tls13)
{
    char url[128], ca[320], list[256];
    struct hs_seen seen = {NULL, ""};
    long status = 0;
    CURLcode rc;
    int ok = 0;
    CURL *c = curl_easy_init();

    assert_non_null(c);
    seen.c = c;
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/healthz", t->s.port);
    snprintf(ca, sizeof(ca), "%s/ca.pem", t->s.dir);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CAINFO, ca);
    curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, hs_sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &seen);
    if (tls13) {
        curl_easy_setopt(c, CURLOPT_SSLVERSION,
                         CURL_SSLVERSION_TLSv1_3 | CURL_SSLVERSION_MAX_TLSv1_3);
        curl_easy_setopt(c, CURLOPT_TLS13_CIPHERS, suite);
    } else {
        curl_easy_setopt(c, CURLOPT_SSLVERSION,
                         CURL_SSLVERSION_TLSv1_2 | CURL_SSLVERSION_MAX_TLSv1_2);
        /* SECLEVEL=0: the client must really offer what the server is to
         * refuse, whatever the system's OpenSSL policy. */
        snprintf(list, sizeof(list), "%s:@SECLEVEL=0", suite);
        curl_easy_setopt(c, CURLOPT_SSL_CIPHER_LIST, list);
    }
    rc = curl_easy_perform(c);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        ok = status == 200 && strcmp(seen.suite, suite) == 0;
        if (!ok)
            fprintf(stderr, "%s: status %ld, suite %s\n", suite, status,
                    seen.suite);
    } else if (getenv("TG_TEST_VERBOSE")) {
        fprintf(stderr, "%s: curl %d %s\n", suite, rc,
                curl_easy_strerror(rc));
    }
    curl_easy_cleanup(c);
    return ok;
}

static const struct {
    const char *cert; /* server.pem (P-256) or rsa-server.pem */
    const char *suite;
    int tls13;
    int ok;
} suites[] = {
    {"server.pem", "ECDHE-ECDSA-AES128-GCM-SHA256", 0, 1},
    {"server.pem", "ECDHE-ECDSA-AES256-GCM-SHA384", 0, 1},
    {"server.pem", "ECDHE-ECDSA-CHACHA20-POLY1305", 0, 1},
    {"server.pem", "TLS_AES_128_GCM_SHA256", 1, 1},
    {"server.pem", "TLS_AES_256_GCM_SHA384", 1, 1},
    {"server.pem", "TLS_CHACHA20_POLY1305_SHA256", 1, 1},
    /* forward secret but CBC */
    {"server.pem", "ECDHE-ECDSA-AES128-SHA256", 0, 0},
    {"server.pem", "ECDHE-ECDSA-AES256-SHA384", 0, 0},
    {"server.pem", "ECDHE-ECDSA-AES128-SHA", 0, 0},
    {"rsa-server.pem", "ECDHE-RSA-AES128-GCM-SHA256", 0, 1},
    {"rsa-server.pem", "ECDHE-RSA-AES256-GCM-SHA384", 0, 1},
    {"rsa-server.pem", "ECDHE-RSA-CHACHA20-POLY1305", 0, 1},
    {"rsa-server.pem", "TLS_AES_128_GCM_SHA256", 1, 1},
    /* static RSA key exchange: no forward secrecy, AEAD or not */
    {"rsa-server.pem", "AES128-GCM-SHA256", 0, 0},
    {"rsa-server.pem", "AES256-GCM-SHA384", 0, 0},
    {"rsa-server.pem", "AES128-SHA256", 0, 0},
    /* CBC */
    {"rsa-server.pem", "ECDHE-RSA-AES128-SHA256", 0, 0},
    {"rsa-server.pem", "ECDHE-RSA-AES256-SHA", 0, 0},
    /* finite-field DHE: not in the offer either */
    {"rsa-server.pem", "DHE-RSA-AES128-GCM-SHA256", 0, 0},
};

/* Issue 10 item 5: TLS 1.2 offers only ECDHE with AES-GCM or
 * ChaCha20-Poly1305, and TLS 1.3 works; real handshakes with each suite
 * offered alone, against a P-256 and an RSA certificate. */
static void test_cipher_suites(void **state)
{
    static const char *const certs[] = {"server.pem", "rsa-server.pem"};
    (void)state;

    for (size_t k = 0; k < sizeof(certs) / sizeof(certs[0]); k++) {
        struct tls_server t;

        assert_int_equal(start_tls_cert(&t, 0, certs[k]), 0);
        for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++) {
            int got;

            if (strcmp(suites[i].cert, certs[k]) != 0)
                continue;
            got = handshake_with(&t, suites[i].suite, suites[i].tls13);
            if (got != suites[i].ok) {
                tg_test_server_dump_log(&t.s);
                fail_msg("%s with %s: %s, want %s", suites[i].suite,
                         certs[k], got ? "accepted" : "refused",
                         suites[i].ok ? "accepted" : "refused");
            }
        }
        stop_tls(&t);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls),
        cmocka_unit_test(test_mtls),
        cmocka_unit_test(test_bad_certificate),
        cmocka_unit_test(test_cipher_suites),
    };
    int rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
