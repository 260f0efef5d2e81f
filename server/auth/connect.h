/* connect.h - Atlassian Connect JWT with qsh (contract/ADAPTERS.md). */
#ifndef TG_CONNECT_H
#define TG_CONNECT_H

#include <stddef.h>
#include <stdint.h>

/* Connect JWT: clock skew allowed on exp, iat and nbf, seconds. */
#define TG_WEBHOOK_CONNECT_LEEWAY_S 60
/* Connect JWT: longest jti accepted (it is a key of the evidence store). */
#define TG_WEBHOOK_MAX_JTI 256

/*
 * Writes into out (65 bytes: 64 lower-case hex digits and NUL) the Atlassian
 * Connect query string hash: SHA-256 of METHOD "&" canonical-path "&"
 * canonical-query, where the query (raw, without '?', may be NULL) is
 * decoded, stripped of "jwt", its names and values re-encoded per RFC 3986,
 * sorted by name, repeated values sorted and joined with ','. Returns 0,
 * TG_EINVAL (malformed percent-escape) or TG_ENOMEM.
 */
int tg_webhook_auth_qsh(const char *method, const char *path, const char *query,
                        char out[65]);

/*
 * Verifies an Atlassian Connect JWT (tok_len bytes at token, untrusted):
 * header alg exactly HS256, header and claims JSON objects with no member
 * named twice, HMAC-SHA256 with secret compared in constant time, iss a
 * non-empty string, exp present and not past and, when max_lifetime_s > 0,
 * not further ahead than max_lifetime_s (all with
 * TG_WEBHOOK_CONNECT_LEEWAY_S), iat and nbf when present not in the future,
 * jti when present a string of 1 to TG_WEBHOOK_MAX_JTI bytes, and qsh equal
 * to tg_webhook_auth_qsh(method, path, query). On success *jti_out (when not
 * NULL) is the token's jti (caller frees) or NULL. Returns 0, TG_EAUTH or
 * TG_ENOMEM.
 */
int tg_webhook_auth_connect(const char *secret, const char *token,
                            size_t tok_len, const char *method,
                            const char *path, const char *query, int64_t now,
                            int64_t max_lifetime_s, char **jti_out);

#endif
