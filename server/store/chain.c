/* chain.c - the hash chain: serialisation of a link, its SHA-256 and MAC. */

#include "server/store/chain.h"

#include <inttypes.h>
#include <stdio.h>

#include <openssl/evp.h>

#include "server/util/digest.h"
#include "validators/errors.h"

static const char PREIMAGE_TAG[] = "ticketgate-evidence-v1\n";
static const char PREIMAGE_TAG_V2[] = "ticketgate-evidence-v2\n";
/* issue 13/14: a decision that carries its facts document (docs/EVIDENCE.md) */
static const char PREIMAGE_TAG_V3[] = "ticketgate-evidence-v3\n";
_Static_assert(sizeof PREIMAGE_TAG == sizeof PREIMAGE_TAG_V2 &&
                   sizeof PREIMAGE_TAG == sizeof PREIMAGE_TAG_V3,
               "tg_chain_hash hashes every tag with one length");

int tg_chain_hex32(const char *hex, size_t n, unsigned char out[32])
{
    if (n != 64)
        return TG_EINVAL;
    for (size_t i = 0; i < 32; i++) {
        int v = 0;
        for (int k = 0; k < 2; k++) {
            char c = hex[2 * i + (size_t)k];
            v <<= 4;
            if (c >= '0' && c <= '9')
                v |= c - '0';
            else if (c >= 'a' && c <= 'f')
                v |= c - 'a' + 10;
            else
                return TG_EINVAL;
        }
        out[i] = (unsigned char)v;
    }
    return 0;
}

/* Decimal ASCII of v into buf (cap >= 21). Returns the length. */
size_t tg_chain_int_text(int64_t v, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%" PRId64, v);

    return (n < 0 || (size_t)n >= cap) ? 0 : (size_t)n;
}

/* F(v) of one field into ctx (internal.h): "-\n" for NULL, else
 * "<len>:<bytes>\n". 0 or TG_EIO. */
static int field_update(EVP_MD_CTX *ctx, const struct tg_chain_field *f)
{
    char pre[24];
    int n;

    if (!f->p)
        return EVP_DigestUpdate(ctx, "-\n", 2) == 1 ? 0 : TG_EIO;
    n = snprintf(pre, sizeof pre, "%zu:", f->n);
    if (n < 0 || (size_t)n >= sizeof pre)
        return TG_EIO;
    if (EVP_DigestUpdate(ctx, pre, (size_t)n) != 1 ||
        EVP_DigestUpdate(ctx, f->p, f->n) != 1 ||
        EVP_DigestUpdate(ctx, "\n", 1) != 1)
        return TG_EIO;
    return 0;
}

/* hash = SHA-256 of the preimage of f (internal.h): v1 (v2 == 0) covers
 * f[0..F_N1); v2 f[0..F_N2); v3 (v2 and a facts document) every field. */
int tg_chain_hash(const struct tg_chain_field f[F_N], int v2, unsigned char out[32])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int v3 = v2 && f[F_FACTS].p != NULL;
    const char *tag = v3   ? PREIMAGE_TAG_V3
                      : v2 ? PREIMAGE_TAG_V2
                           : PREIMAGE_TAG;
    int nf = v3 ? F_N : v2 ? F_N2 : F_N1;
    unsigned int len = 0;
    int rc = TG_EIO;

    if (!ctx)
        return TG_ENOMEM;
    /* the three tags have one length */
    if (EVP_DigestInit_ex(ctx, tg_digest_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(ctx, tag, sizeof PREIMAGE_TAG - 1) != 1)
        goto out;
    for (int i = 0; i < nf; i++)
        if (field_update(ctx, &f[i]))
            goto out;
    if (EVP_DigestFinal_ex(ctx, out, &len) != 1 || len != 32)
        goto out;
    rc = 0;
out:
    EVP_MD_CTX_free(ctx);
    return rc;
}

int tg_chain_mac(const unsigned char *key, size_t keylen,
             const unsigned char hash[32], unsigned char out[32])
{
    const void *parts[1] = {hash};
    const size_t lens[1] = {32};

    return tg_digest_hmac_sha256(key, keylen, parts, lens, 1, out);
}

