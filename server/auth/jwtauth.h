/* jwtauth.h - Bearer JWT verification with libjwt (API.md, RFC 7519). */
#ifndef TG_JWTAUTH_H
#define TG_JWTAUTH_H

#include <stddef.h>
#include <stdint.h>

#include "server/config/config.h"

/*
 * Verifies the compact JWT (len bytes at token, untrusted) against jc: the
 * header's alg must be exactly jc->alg (so "none" and algorithm confusion,
 * such as HS256 signed with an RS256 public key, are refused), the
 * signature must verify, header and claims must each be a JSON object with
 * no member named twice, iss and aud must equal jc->issuer / jc->audience
 * (aud may be an array containing it), exp must be present and in the future
 * (RFC 7519 4.1.4, with jc->leeway_s) but not further ahead than
 * jc->max_lifetime_s + leeway (when that is > 0), and iat and nbf, when
 * present, not later than now + leeway. On success returns 0 and, when jti_out is not NULL, *jti_out
 * is the token's jti (caller frees) or NULL. Returns TG_EAUTH or TG_ENOMEM.
 */
int tg_jwtauth_verify(const struct tg_jwt_conf *jc, const char *token,
                      size_t len, int64_t now, char **jti_out);

/*
 * Takes "Bearer <token>" (scheme case-insensitive) from an Authorization
 * header value. Returns 0 with *tok and *len pointing into value, or TG_EAUTH.
 */
int tg_jwtauth_bearer(const char *value, const char **tok, size_t *len);

#endif
