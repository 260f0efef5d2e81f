/* digest.h - SHA-256 and HMAC-SHA256, with the algorithms fetched once. */
#ifndef TG_DIGEST_H
#define TG_DIGEST_H

#include <stddef.h>

#include <openssl/evp.h>

#define TG_DIGEST_LEN 32

/* SHA-256 from the default provider, fetched on first use and kept for the
 * life of the process: OpenSSL 3 looks EVP_sha256() up again on every use
 * (a lock and a hash-table probe per digest). Never NULL. */
const EVP_MD *tg_digest_sha256(void);

/* SHA-256 of the n bytes at p into out. Returns 0 or TG_EIO. */
int tg_digest_sha256_of(const void *p, size_t n,
                        unsigned char out[TG_DIGEST_LEN]);

/* SHA-256 of the concatenation of the n parts p[i] of len[i] bytes (an
 * empty part adds nothing), without copying them together. Returns 0,
 * TG_ENOMEM or TG_EIO. */
int tg_digest_sha256_parts(const void *const *p, const size_t *len, size_t n,
                           unsigned char out[TG_DIGEST_LEN]);

/*
 * HMAC-SHA256 (RFC 2104) under the key_len bytes of key (an empty key is a
 * key) over the concatenation of the n parts p[i] of len[i] bytes, so that
 * callers never copy "id.timestamp.body" together. Returns 0, TG_ENOMEM or
 * TG_EIO.
 */
int tg_digest_hmac_sha256(const void *key, size_t key_len,
                          const void *const *p, const size_t *len, size_t n,
                          unsigned char out[TG_DIGEST_LEN]);

/* Writes the n bytes at in as 2n lower-case hex digits and a NUL to out
 * (2n + 1 bytes). The one hex encoder of the product. */
void tg_digest_hex(const unsigned char *in, size_t n, char *out);

#endif
