/* stdwebhooks.c - Standard Webhooks: webhook-id/-timestamp/-signature. */
#include "server/auth/stdwebhooks.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "server/auth/codec.h"
#include "server/util/digest.h"
#include "server/util/number.h"
#include "validators/errors.h"

#define MAC_LEN TG_DIGEST_LEN

/* Parses a decimal number of seconds (digits only, at most 18 of them so it
 * cannot overflow). Returns 0 or TG_EINVAL. */
static int parse_seconds(const char *s, int64_t *out)
{
    size_t n = strlen(s);

    if (n == 0 || n > 18)
        return TG_EINVAL;
    return tg_number_parse_i64(s, n, 0, INT64_MAX, out);
}

int tg_webhook_auth_standard(const char *secret, const char *id, const char *ts,
                             const char *sigs, const char *body,
                             size_t body_len, int64_t now)
{
    unsigned char *key = NULL, *sig = NULL;
    unsigned char want[MAC_LEN];
    size_t key_len = 0, sig_len = 0;
    int64_t t;
    const char *p;
    int rc = TG_EAUTH, matched = 0;

    if (!secret || !id || !*id || !ts || !sigs)
        goto out;
    if (parse_seconds(ts, &t) != 0)
        goto out;
    if (t > now + TG_WEBHOOK_SW_TOLERANCE_S ||
        t < now - TG_WEBHOOK_SW_TOLERANCE_S)
        goto out;
    if (strncmp(secret, "whsec_", 6) == 0)
        secret += 6;
    rc = tg_codec_b64_decode(secret, strlen(secret), 0, &key, &key_len);
    if (rc == TG_ENOMEM)
        goto out;
    if (rc || key_len == 0) {
        rc = TG_EAUTH;
        goto out;
    }
    {
        const void *parts[5] = {id, ".", ts, ".", body};
        size_t lens[5] = {strlen(id), 1, strlen(ts), 1, body_len};
        rc = tg_digest_hmac_sha256(key, key_len, parts, lens, 5, want);
        if (rc)
            goto out;
    }
    /* Several signatures let a sender rotate secrets; versions other than v1
     * are for other schemes (v1a: ed25519) and are skipped, not failed. */
    for (p = sigs; *p;) {
        const char *end;
        while (*p == ' ')
            p++;
        end = p;
        while (*end && *end != ' ')
            end++;
        if (end - p > 3 && strncmp(p, "v1,", 3) == 0) {
            int d = tg_codec_b64_decode(p + 3, (size_t)(end - p - 3), 0, &sig,
                                        &sig_len);
            if (d == TG_ENOMEM) {
                rc = TG_ENOMEM;
                goto out;
            }
            if (d == 0 && sig_len == MAC_LEN &&
                CRYPTO_memcmp(sig, want, MAC_LEN) == 0)
                matched = 1;
            free(sig);
            sig = NULL;
        }
        p = end;
    }
    rc = matched ? 0 : TG_EAUTH;
out:
    if (key) {
        OPENSSL_cleanse(key, key_len);
        free(key);
    }
    OPENSSL_cleanse(want, sizeof want);
    return rc;
}
