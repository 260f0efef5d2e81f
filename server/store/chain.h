/* chain.h - one link of the hash chain: its preimage, SHA-256 and MAC. */
#ifndef TG_STORE_CHAIN_H
#define TG_STORE_CHAIN_H

/* Both backends hash with these, so a chain is the same bytes whichever
 * store holds it (the serialisation: internal.h, docs/EVIDENCE.md). */

#include <stddef.h>
#include <stdint.h>

#define ZERO_HASH \
    "0000000000000000000000000000000000000000000000000000000000000000"

/* The fields of one link, in preimage order. p == NULL is SQL NULL. v1
 * hashes the first F_N1, v2 the first F_N2, v3 (a decision with a facts
 * document) all F_N. Every filler of a f[F_N] sets every field, F_FACTS
 * NULL where it has none. */
enum { F_SEQ, F_ID, F_TICKET, F_SOURCE, F_DELIVERY, F_BODY, F_POLICY, F_TIME,
       F_DECISION, F_JUST, F_PREV, F_N1, F_KIND = F_N1, F_JUDGED, F_N2,
       F_FACTS = F_N2, F_N };

struct tg_chain_field {
    const char *p;
    size_t n;
};

/* The 32 bytes of 64 lower-case hex digits: 0 or TG_EINVAL. */
int tg_chain_hex32(const char *hex, size_t n, unsigned char out[32]);
/* Decimal ASCII of v into buf (cap >= 21). Returns the length (0: no
 * room). */
size_t tg_chain_int_text(int64_t v, char *buf, size_t cap);
/* hash = SHA-256 of the preimage of f: v1 (v2 == 0) covers f[0..F_N1);
 * v2 (v2 != 0, f[F_FACTS].p NULL) f[0..F_N2) under the v2 tag; v3 (v2 !=
 * 0, f[F_FACTS].p set) every field of f under the v3 tag. 0, TG_ENOMEM or
 * TG_EIO. */
int tg_chain_hash(const struct tg_chain_field f[F_N], int v2,
                  unsigned char out[32]);
/* mac = HMAC-SHA256(key, hash). 0 or TG_EIO. */
int tg_chain_mac(const unsigned char *key, size_t keylen,
                 const unsigned char hash[32], unsigned char out[32]);

#endif
