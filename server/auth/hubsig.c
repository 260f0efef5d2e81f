/* hubsig.c - X-Hub-Signature: HMAC-SHA256 of the body, hex, constant time. */
#include "server/auth/hubsig.h"

#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "server/auth/codec.h"
#include "server/util/digest.h"
#include "validators/errors.h"

#define MAC_LEN TG_DIGEST_LEN

int tg_webhook_auth_hub_signature(const void *key, size_t key_len,
                                  const char *header, const char *body,
                                  size_t body_len)
{
    unsigned char want[MAC_LEN], got[MAC_LEN];
    const void *parts[1] = {body};
    size_t lens[1] = {body_len};
    size_t i;
    int rc = TG_EAUTH;

    if (!header || strncasecmp(header, "sha256=", 7) != 0)
        goto out;
    header += 7;
    if (strlen(header) != 2 * MAC_LEN)
        goto out;
    for (i = 0; i < MAC_LEN; i++) {
        int hi = tg_codec_hexval(header[2 * i]),
            lo = tg_codec_hexval(header[2 * i + 1]);
        if (hi < 0 || lo < 0)
            goto out;
        got[i] = (unsigned char)(hi << 4 | lo);
    }
    rc = tg_digest_hmac_sha256(key, key_len, parts, lens, 1, want);
    if (rc)
        goto out;
    rc = CRYPTO_memcmp(want, got, MAC_LEN) == 0 ? 0 : TG_EAUTH;
out:
    OPENSSL_cleanse(want, sizeof want);
    return rc;
}
