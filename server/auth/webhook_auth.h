/* webhook_auth.h - webhook signatures: X-Hub-Signature, Standard Webhooks,
 * Atlassian Connect JWT with qsh (contract/ADAPTERS.md). */
#ifndef TG_WEBHOOK_AUTH_H
#define TG_WEBHOOK_AUTH_H

#include <stddef.h>
#include <stdint.h>

/* Standard Webhooks: how far webhook-timestamp may be from now, seconds. */
#define TG_WEBHOOK_SW_TOLERANCE_S 300
/* Connect JWT: clock skew allowed on exp, iat and nbf, seconds. */
#define TG_WEBHOOK_CONNECT_LEEWAY_S 60
/* Connect JWT: longest jti accepted (it is a key of the evidence store). */
#define TG_WEBHOOK_MAX_JTI 256

/*
 * Checks an X-Hub-Signature header value "sha256=<64 hex digits>" (prefix and
 * hex digits case-insensitive) against HMAC-SHA256(key, body), in constant
 * time. header may be NULL (missing). Returns 0 or TG_EAUTH.
 */
int tg_webhook_auth_hub_signature(const void *key, size_t key_len,
                                  const char *header, const char *body,
                                  size_t body_len);

/*
 * Checks Standard Webhooks headers (standardwebhooks.com): webhook-id (id),
 * webhook-timestamp (ts, decimal seconds within TG_WEBHOOK_SW_TOLERANCE_S of
 * now) and webhook-signature (sigs: one or more space-separated "v1,<base64>";
 * any one matching suffices; other versions are ignored). The key is the
 * base64-decoded secret after an optional "whsec_" prefix; the signed message
 * is "id.ts.body". NULL headers count as missing. Returns 0, TG_EAUTH or
 * TG_ENOMEM.
 */
int tg_webhook_auth_standard(const char *secret, const char *id, const char *ts,
                             const char *sigs, const char *body,
                             size_t body_len, int64_t now);

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
