/* hubsig.h - X-Hub-Signature: HMAC-SHA256 of the body (contract/ADAPTERS.md).
 */
#ifndef TG_HUBSIG_H
#define TG_HUBSIG_H

#include <stddef.h>

/*
 * Checks an X-Hub-Signature header value "sha256=<64 hex digits>" (prefix and
 * hex digits case-insensitive) against HMAC-SHA256(key, body), in constant
 * time. header may be NULL (missing). Returns 0 or TG_EAUTH.
 */
int tg_webhook_auth_hub_signature(const void *key, size_t key_len,
                                  const char *header, const char *body,
                                  size_t body_len);

#endif
