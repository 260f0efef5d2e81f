/* tg_test.h - integration helpers: the real server, HTTP, tokens, MACs. */
#ifndef TG_TEST_H
#define TG_TEST_H

/*
 * Linked into every test. A typical integration test:
 *
 *   struct tg_server s;
 *   struct tg_resp r;
 *   const char *h[] = { "Content-Type: application/json", auth, NULL };
 *
 *   assert_int_equal(tg_test_server_prepare(&s), 0); // copy of example/
 *   tg_test_config_replace(&s, "mode: enforce", "mode: dryrun"); // maybe
 *   assert_int_equal(tg_test_server_start(&s), 0);   // waits for /healthz
 *   tg_test_http(&s, "POST", "/v1/check", h, body, strlen(body), 0, &r);
 *   assert_int_equal(r.status, 200);
 *   tg_test_resp_free(&r);
 *   assert_int_equal(tg_test_server_stop(&s), 0);    // SIGTERM: exit code
 *   tg_test_server_cleanup(&s);                      // removes the copy
 *
 * Every function returns 0 on success and -1 on failure (after printing why
 * to stderr) unless it says otherwise. Strings returned are malloc'd.
 *
 * TG_TEST_WRAPPER (environment), e.g. "valgrind --leak-check=full
 * --error-exitcode=99", is put in front of the server's command line; the
 * start and stop timeouts grow to suit it. TG_TEST_KEEP=1 keeps the
 * temporary directories (config, store, server.log) for a post-mortem.
 */

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "validators/directory.h"

/* The example configuration's credentials (contract/example). */
#define TG_TEST_GENERIC_SECRET "generic-client-secret-for-tests-0123456789"
#define TG_TEST_GENERIC_ISS "ticketgate-client"
#define TG_TEST_AUD "ticketgate"
#define TG_TEST_JIRA_SECRET "jira-webhook-secret-for-tests"
#define TG_TEST_SN_ISS "https://acme.service-now.com"

struct tg_server {
    pid_t pid; /* 0 when not running */
    int port;       /* the API port the server logged (it binds port 0) */
    int admin_port; /* server.admin_listen's port it logged, or 0 */
    long log_from;  /* size of server.log when this run was spawned */
    char dir[256];    /* the temporary directory (a copy of example/) */
    char config[320]; /* dir/ticketgate.yaml */
    char log[320];    /* dir/server.log: the server's stdout and stderr */
    char url[64];     /* "http://127.0.0.1:<port>" */
};

/* Copies TG_SOURCE_DIR/example into a new temporary directory and
 * creates dir/data for the store. At start the config's server.listen is
 * rewritten to "127.0.0.1:0": the kernel picks the port and the test reads
 * it from the server's "listen" log line, so no two tests can race for a
 * port under `ctest -j`. Write admin_listen as "127.0.0.1:0" too and read
 * s->admin_port. */
int tg_test_server_prepare(struct tg_server *s);
/* A loopback TCP port that was free a moment ago: racy under ctest -j
 * (another process may bind it first). Only for what cannot bind port 0;
 * nothing in the suite should need it. */
int tg_test_free_port(void);
/* Replaces the first occurrence of old in the copied configuration with
 * new (before start, or before a SIGHUP). */
int tg_test_config_replace(struct tg_server *s, const char *old,
                           const char *new_text);
/* Writes text as file name (relative to s->dir). */
int tg_test_write_file(struct tg_server *s, const char *name, const char *text);
/* Runs `ticketgate serve -c dir/ticketgate.yaml` (listen rewritten to port
 * 0), reads the bound ports from its log (s->port, s->admin_port, s->url)
 * and waits until GET /healthz answers 200. A server whose log_level hides
 * the info "listen" line is found by its only listening socket instead. */
int tg_test_server_start(struct tg_server *s);
/* The parts of tg_test_server_start for a test that probes health itself
 * (TLS): spawns the server with the config as it is (listen not
 * rewritten), then waits up to timeout_ms for the "listen" log lines of
 * this run and fills s->port (the first API port, TLS or not),
 * s->admin_port and s->url. */
int tg_test_server_spawn(struct tg_server *s);
int tg_test_server_log_ports(struct tg_server *s, int timeout_ms);
/* Sends SIGTERM and waits. Returns the exit code (0 expected), or -1 when
 * it did not exit in time (it is then killed) or died from a signal. */
int tg_test_server_stop(struct tg_server *s);
/* Sends a signal (SIGHUP for a reload) without waiting. */
int tg_test_server_signal(struct tg_server *s, int sig);
/* The server's log from byte *offset on, once it holds needle times
 * times (at least once) or after
 * timeout_ms (whatever is there then; the caller's check then fails with
 * it): for log lines written after the answer, without a fixed sleep.
 * Advances *offset to the end read. malloc'd; NULL only when the log
 * cannot be read. */
char *tg_test_server_log_wait(const struct tg_server *s, size_t *offset,
                              const char *needle, int times, int timeout_ms);
/* Prints the server's log to stderr (call it when a test fails). */
void tg_test_server_dump_log(const struct tg_server *s);
/* Kills the server if still running and removes the temporary directory. */
void tg_test_server_cleanup(struct tg_server *s);
/* A group's teardown: stops the server (tg_test_server_stop) unless the
 * test stopped it already, prints its log when it did not exit cleanly,
 * and cleans up. 0, or -1 when the exit was not clean (a sanitizer report
 * in the server then fails the group). */
int tg_test_server_finish(struct tg_server *s);

/* One HTTP response. headers holds the raw header block of the final
 * response ("HTTP/1.1 200 OK\r\nName: value\r\n..."). */
struct tg_resp {
    long status; /* 0: no response (connection error) */
    char *headers;
    size_t headers_len;
    char *body; /* NUL-terminated */
    size_t body_len;
};

enum {
    TG_HTTP_CHUNKED = 1, /* send the body with Transfer-Encoding: chunked */
};

/* Sends method path (with query) to s with the given NULL-terminated
 * "Name: value" header lines and body (may be NULL). Fills *out; returns 0
 * even for error statuses, -1 only when no HTTP exchange happened. */
int tg_test_http(const struct tg_server *s, const char *method,
                 const char *path, const char *const *headers, const char *body,
                 size_t body_len, int flags, struct tg_resp *out);
/* Writes raw bytes to the server's port and reads until it closes (at most
 * timeout_ms); *out is the whole reply, NUL-terminated. */
int tg_test_raw(const struct tg_server *s, const char *req, size_t len,
                int timeout_ms, char **out, size_t *out_len);
/* The value of header name in r (case-insensitive), malloc'd, or NULL. */
char *tg_test_resp_header(const struct tg_resp *r, const char *name);
void tg_test_resp_free(struct tg_resp *r);

/* The value of one sample of s's /metrics (series with its labels, as
 * rendered), or -1 when absent or /metrics did not answer 200. */
double tg_test_metric(const struct tg_server *s, const char *series);
/* Sleeps ms milliseconds, resumed across signals: for a poll's step
 * between reads of what is awaited, never as the wait itself. */
void tg_test_sleep_ms(long ms);

/* Polls s's /metrics until series reaches at_least (at most timeout_ms).
 * Returns 0 when it did, -1 when not: a test waits on what the server
 * says it holds (connections taken, requests in a handler), not on a sleep
 * that is long enough on a quiet machine. */
int tg_test_metric_wait(const struct tg_server *s, const char *series,
                        double at_least, int timeout_ms);

/* ---- raw connections: keep-alive, pipelining, slow clients ---- */

/* One TCP connection to a server, with the bytes read but not yet parsed
 * (the start of a pipelined answer). */
struct tg_conn {
    int fd; /* -1 when closed */
    char *buf;
    size_t n, cap;
};

/* Connects to 127.0.0.1:port (blocking; writes give up after 5 s). */
int tg_test_conn_open(int port, struct tg_conn *c);
/* Writes all len bytes. */
int tg_test_conn_send(struct tg_conn *c, const void *p, size_t len);
/* Reads one answer (status line, headers, a Content-Length body) within
 * timeout_ms into *out (headers as in tg_resp; body NUL-terminated). Bytes
 * after it stay for the next call. -1 on timeout, close or junk. */
int tg_test_conn_response(struct tg_conn *c, int timeout_ms,
                          struct tg_resp *out);
/* 1 when the server closes the connection (EOF or reset) within
 * timeout_ms, reading and dropping whatever comes first; 0 when it is
 * still open then; -1 on another error. */
int tg_test_conn_closed(struct tg_conn *c, int timeout_ms);
/* Closes the socket (if open) and frees the buffer. */
void tg_test_conn_close(struct tg_conn *c);

/* base64url without padding (RFC 7515 section 2). */
char *tg_test_b64url(const void *data, size_t len);
/* A signed compact JWT: alg "HS256" (key = secret), "RS256" or "ES256"
 * (key = private key PEM), claims a JSON object text. */
char *tg_test_jwt(const char *alg, const void *key, size_t key_len,
                  const char *claims_json);
/* A compact JWT with the given header and claims and signature segment
 * sig_b64 (may be ""): for tokens no library would sign (alg none). */
char *tg_test_jwt_raw(const char *header_json, const char *claims_json,
                      const char *sig_b64);
/* A HS256 token of issuer iss signed with secret, for audience
 * TG_TEST_AUD, valid for an hour from now, with jti when not NULL. */
char *tg_test_hs256_token(const char *iss, const char *secret,
                          const char *jti);
/* The same for sources.generic of the example configuration. */
char *tg_test_generic_token(const char *jti);
/* "Authorization: Bearer <token>" (malloc'd). */
char *tg_test_bearer_header(const char *token);

/* Lower-case hex HMAC-SHA256 of data under key into hex (65 bytes). */
void tg_test_hmac_sha256_hex(const void *key, size_t key_len, const void *data,
                             size_t len, char hex[65]);
/* A fresh key pair as PEM: kind "EC" (P-256) or "RSA" (2048 bits). */
int tg_test_keypair(const char *kind, char **priv_pem, char **pub_pem);
/* The whole file at path; *len may be NULL. NULL on failure. */
char *tg_test_read_file(const char *path, size_t *len);
/* RFC 3339 UTC of now + offset seconds into buf (cap >= 21). */
void tg_test_rfc3339(int64_t offset, char *buf, size_t cap);

/* ---- directories built by hand (the adapters' unit tests) ---- */

/* A heap copy of the n strings of v (freed with tg_test_freev). */
char **tg_test_strv(const char *const *v, size_t n);
void tg_test_freev(char **v, size_t n);
/* Appends a person with id, display name and n aliases to d. */
void tg_test_person(struct tg_directory *d, const char *id, const char *name,
                    const char *const *aliases, size_t n);

#endif
