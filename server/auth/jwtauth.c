/* jwtauth.c - Bearer JWT verification: alg pinning, signature, claims. */
#include "server/auth/jwtauth.h"

#include <jansson.h>
#include <jwt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "server/auth/codec.h"
#include "validators/errors.h"

/* No ITSM sends a token anywhere near this; a cap keeps a hostile header from
 * costing more than a bounded copy and decode. */
#define TG_JWT_MAX_LEN 8192
/* A JOSE header is a handful of short members. */
#define TG_JWT_MAX_HEADER_B64 1024
/* The jti becomes a delivery id in the evidence store. */
#define TG_JWT_MAX_JTI 256

static const char *alg_name(enum tg_jwt_alg a)
{
    switch (a) {
    case TG_JWT_HS256:
        return "HS256";
    case TG_JWT_RS256:
        return "RS256";
    case TG_JWT_ES256:
        return "ES256";
    case TG_JWT_NONE_SET:
        break;
    }
    return NULL;
}

static jwt_alg_t alg_libjwt(enum tg_jwt_alg a)
{
    switch (a) {
    case TG_JWT_HS256:
        return JWT_ALG_HS256;
    case TG_JWT_RS256:
        return JWT_ALG_RS256;
    case TG_JWT_ES256:
        return JWT_ALG_ES256;
    case TG_JWT_NONE_SET:
        break;
    }
    return JWT_ALG_INVAL;
}

static int is_b64url(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/*
 * Decodes the base64url segment s[0..len) (no padding, RFC 7515 section 2)
 * into a new NUL-terminated buffer. Returns 0, TG_EAUTH for malformed
 * input, or TG_ENOMEM.
 */
static int b64url_decode(const char *s, size_t len, unsigned char **out,
                         size_t *out_len)
{
    size_t i;
    int rc;

    if (len == 0)
        return TG_EAUTH;
    /* Padding is no part of a JWS segment: '=' is refused here. */
    for (i = 0; i < len; i++)
        if (!is_b64url((unsigned char)s[i]))
            return TG_EAUTH;
    rc = tg_codec_b64_decode(s, len, 1, out, out_len);
    return rc == TG_ENOMEM ? TG_ENOMEM : rc ? TG_EAUTH : 0;
}

/*
 * Decodes a base64url segment as one JSON object, refusing a member named
 * twice: jansson (and libjwt with it) would keep one of them silently, so a
 * token {"aud":"other","aud":"ticketgate"} would mean what the reader
 * chooses. Returns 0 with *out (new reference), TG_EAUTH or TG_ENOMEM.
 */
static int segment_object(const char *seg, size_t len, json_t **out)
{
    unsigned char *raw = NULL;
    size_t raw_len = 0;
    json_error_t jerr;
    json_t *j;
    int rc = b64url_decode(seg, len, &raw, &raw_len);

    if (rc != 0)
        return rc;
    j = json_loadb((const char *)raw, raw_len, JSON_REJECT_DUPLICATES, &jerr);
    free(raw);
    if (!json_is_object(j)) {
        json_decref(j);
        return TG_EAUTH;
    }
    *out = j;
    return 0;
}

/*
 * Reads the JOSE header segment and refuses any alg but the configured one
 * before a key is ever used (RFC 8725 section 3.1): this is what stops
 * "none" and HS256 signed with an RSA public key taken as a secret. A crit
 * header names extensions we do not implement, so it is refused too
 * (RFC 7515 section 4.1.11).
 */
static int check_header(const char *seg, size_t len, const char *want)
{
    json_t *hdr = NULL;
    const char *alg;
    int rc;

    if (len > TG_JWT_MAX_HEADER_B64)
        return TG_EAUTH;
    rc = segment_object(seg, len, &hdr);
    if (rc != 0)
        goto out;
    rc = TG_EAUTH;
    alg = json_string_value(json_object_get(hdr, "alg"));
    if (!alg || strcmp(alg, want) != 0)
        goto out;
    if (json_object_get(hdr, "crit"))
        goto out;
    rc = 0;
out:
    json_decref(hdr);
    return rc;
}

/* A NumericDate (RFC 7519 section 2): an integer, or a finite real that we
 * truncate. Returns 0 and *out, or TG_EAUTH. */
static int numeric_date(const json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return 0;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        /* Out-of-range doubles make the cast undefined. */
        if (!(d > -9.0e15 && d < 9.0e15))
            return TG_EAUTH;
        *out = (int64_t)d;
        return 0;
    }
    return TG_EAUTH;
}

/* aud is a string or an array of strings (RFC 7519 section 4.1.3). */
static int audience_ok(const json_t *aud, const char *want)
{
    size_t i;
    json_t *v;

    if (json_is_string(aud))
        return strcmp(json_string_value(aud), want) == 0;
    if (!json_is_array(aud))
        return 0;
    json_array_foreach(aud, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), want) == 0)
            return 1;
    }
    return 0;
}

/* The registered claims of API.md: iss, aud, exp required (and not further
 * ahead than jc->max_lifetime_s, when set); iat and nbf checked when present;
 * jti returned when present. */
static int check_claims(const struct tg_jwt_conf *jc, const json_t *claims,
                        int64_t now, char **jti_out)
{
    const json_t *v;
    const char *s;
    int64_t t, lee = jc->leeway_s > 0 ? jc->leeway_s : 0;

    if (!json_is_object(claims))
        return TG_EAUTH;
    s = json_string_value(json_object_get(claims, "iss"));
    if (!s || strcmp(s, jc->issuer) != 0)
        return TG_EAUTH;
    if (!audience_ok(json_object_get(claims, "aud"), jc->audience))
        return TG_EAUTH;

    /* now is the wall clock: far from the int64 edges, so now +- leeway
     * (an int) cannot overflow. */
    v = json_object_get(claims, "exp");
    if (!v || numeric_date(v, &t) != 0 || t <= now - lee)
        return TG_EAUTH;
    /* A token valid for a year is a password: whoever copies it from a log
     * keeps access long after the client rotated its secret. t is below
     * 9e15 (numeric_date), so the sum cannot overflow. */
    if (jc->max_lifetime_s > 0 && t > now + jc->max_lifetime_s + lee)
        return TG_EAUTH;
    v = json_object_get(claims, "iat");
    if (v && (numeric_date(v, &t) != 0 || t > now + lee))
        return TG_EAUTH;
    v = json_object_get(claims, "nbf");
    if (v && (numeric_date(v, &t) != 0 || t > now + lee))
        return TG_EAUTH;

    v = json_object_get(claims, "jti");
    if (v && (!json_is_string(v) || json_string_length(v) == 0 ||
              json_string_length(v) > TG_JWT_MAX_JTI ||
              strlen(json_string_value(v)) != json_string_length(v)))
        return TG_EAUTH;
    if (jti_out) {
        *jti_out = NULL;
        if (v) {
            *jti_out = strdup(json_string_value(v));
            if (!*jti_out)
                return TG_ENOMEM;
        }
    }
    return 0;
}

int tg_jwtauth_verify(const struct tg_jwt_conf *jc, const char *token,
                      size_t len, int64_t now, char **jti_out)
{
    const char *want, *dot1, *dot2;
    char *tok = NULL;
    jwt_t *jwt = NULL;
    json_t *claims = NULL;
    char *jti = NULL;
    size_t i;
    int rc = TG_EAUTH;

    if (!jc || !jc->set || !token)
        goto out;
    want = alg_name(jc->alg);
    /* Without a key libjwt skips the signature check altogether; without
     * iss/aud there is nothing to bind the token to: fail closed. */
    if (!want || !jc->key || jc->key_len == 0 || jc->key_len > INT_MAX ||
        !jc->issuer || !jc->audience)
        goto out;
    if (len == 0 || len > TG_JWT_MAX_LEN)
        goto out;

    /* Compact serialisation: exactly three base64url segments. */
    dot1 = memchr(token, '.', len);
    if (!dot1)
        goto out;
    dot2 = memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token));
    if (!dot2 || dot2 == dot1 + 1 || dot2 + 1 == token + len)
        goto out;
    for (i = 0; i < len; i++) {
        const char *p = token + i;
        if (p != dot1 && p != dot2 && !is_b64url((unsigned char)*p))
            goto out;
    }

    rc = check_header(token, (size_t)(dot1 - token), want);
    if (rc != 0)
        goto out;

    tok = malloc(len + 1);
    if (!tok) {
        rc = TG_ENOMEM;
        goto out;
    }
    memcpy(tok, token, len);
    tok[len] = '\0';
    rc = TG_EAUTH;
    if (jwt_decode(&jwt, tok, jc->key, (int)jc->key_len) != 0 || !jwt)
        goto out;
    /* libjwt verified with the alg the token named; we checked that name
     * above, and check libjwt's reading of it too. */
    if (jwt_get_alg(jwt) != alg_libjwt(jc->alg))
        goto out;

    /* The claims as signed, read by us: libjwt's copy has lost any
     * duplicate member (segment_object). */
    rc = segment_object(dot1 + 1, (size_t)(dot2 - dot1 - 1), &claims);
    if (rc != 0)
        goto out;
    rc = check_claims(jc, claims, now, jti_out ? &jti : NULL);
    if (rc != 0)
        goto out;
    if (jti_out)
        *jti_out = jti;
    jti = NULL;
out:
    free(jti);
    json_decref(claims);
    if (jwt)
        jwt_free(jwt);
    if (tok) {
        OPENSSL_cleanse(tok, len);
        free(tok);
    }
    return rc;
}

int tg_jwtauth_bearer(const char *value, const char **tok, size_t *len)
{
    static const char scheme[] = "bearer";
    const char *p, *end;
    size_t i;

    if (!value)
        return TG_EAUTH;
    p = value;
    while (*p == ' ' || *p == '\t')
        p++;
    for (i = 0; i < sizeof(scheme) - 1; i++) {
        char c = p[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != scheme[i])
            return TG_EAUTH;
    }
    p += i;
    if (*p != ' ' && *p != '\t')
        return TG_EAUTH;
    while (*p == ' ' || *p == '\t')
        p++;
    end = p + strlen(p);
    while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    if (end == p)
        return TG_EAUTH;
    /* A token68 (RFC 7235 section 2.1) has no white space inside. */
    if (memchr(p, ' ', (size_t)(end - p)) || memchr(p, '\t', (size_t)(end - p)))
        return TG_EAUTH;
    *tok = p;
    *len = (size_t)(end - p);
    return 0;
}
