/* digest.c - SHA-256 and HMAC-SHA256, with the algorithms fetched once. */
#include "server/util/digest.h"

#include <pthread.h>

#include <openssl/core_names.h>
#include <openssl/params.h>

#include "validators/errors.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256;
/* An HMAC context with its digest set and no key: each MAC starts as a
 * copy of it, so the digest is not looked up by name per call. */
static EVP_MAC_CTX *hmac_template;

static void fetch(void)
{
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    OSSL_PARAM params[2];

    sha256 = EVP_MD_fetch(NULL, "SHA2-256", NULL);
    if (!mac)
        return;
    hmac_template = EVP_MAC_CTX_new(mac);
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                 (char *)"SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();
    if (hmac_template && !EVP_MAC_CTX_set_params(hmac_template, params)) {
        EVP_MAC_CTX_free(hmac_template);
        hmac_template = NULL;
    }
    /* The context holds its own reference to the algorithm. */
    EVP_MAC_free(mac);
}

const EVP_MD *tg_digest_sha256(void)
{
    pthread_once(&once, fetch);
    return sha256 ? sha256 : EVP_sha256();
}

int tg_digest_sha256_of(const void *p, size_t n,
                        unsigned char out[TG_DIGEST_LEN])
{
    unsigned int len = 0;

    if (EVP_Digest(p, n, out, &len, tg_digest_sha256(), NULL) != 1 ||
        len != TG_DIGEST_LEN)
        return TG_EIO;
    return 0;
}

int tg_digest_sha256_parts(const void *const *p, const size_t *len, size_t n,
                           unsigned char out[TG_DIGEST_LEN])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int outl = 0;
    int rc = TG_EIO;

    if (!ctx)
        return TG_ENOMEM;
    if (EVP_DigestInit_ex(ctx, tg_digest_sha256(), NULL) != 1)
        goto out;
    for (size_t i = 0; i < n; i++)
        if (len[i] && EVP_DigestUpdate(ctx, p[i], len[i]) != 1)
            goto out;
    if (EVP_DigestFinal_ex(ctx, out, &outl) != 1 || outl != TG_DIGEST_LEN)
        goto out;
    rc = 0;
out:
    EVP_MD_CTX_free(ctx);
    return rc;
}

int tg_digest_hmac_sha256(const void *key, size_t key_len,
                          const void *const *p, const size_t *len, size_t n,
                          unsigned char out[TG_DIGEST_LEN])
{
    /* EVP_MAC_init takes a NULL key as "keep the old one". */
    static const unsigned char empty[1] = {0};
    EVP_MAC_CTX *ctx = NULL;
    size_t outl = 0;
    int rc = TG_ENOMEM;

    pthread_once(&once, fetch);
    if (!hmac_template || !(ctx = EVP_MAC_CTX_dup(hmac_template)))
        goto out;
    rc = TG_EIO;
    if (!EVP_MAC_init(ctx, key_len ? key : empty, key_len, NULL))
        goto out;
    for (size_t i = 0; i < n; i++)
        if (len[i] && !EVP_MAC_update(ctx, p[i], len[i]))
            goto out;
    if (!EVP_MAC_final(ctx, out, &outl, TG_DIGEST_LEN) ||
        outl != TG_DIGEST_LEN)
        goto out;
    rc = 0;
out:
    EVP_MAC_CTX_free(ctx);
    return rc;
}

void tg_digest_hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}
