/* stdwebhooks.h - Standard Webhooks signatures (contract/ADAPTERS.md). */
#ifndef TG_STDWEBHOOKS_H
#define TG_STDWEBHOOKS_H

#include <stddef.h>
#include <stdint.h>

/* Standard Webhooks: how far webhook-timestamp may be from now, seconds. */
#define TG_WEBHOOK_SW_TOLERANCE_S 300

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

#endif
