/* webhook_auth.c - webhook signatures: X-Hub-Signature, Standard Webhooks,
 * Atlassian Connect JWT with qsh. */
#include "server/auth/webhook_auth.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "validators/errors.h"
#include "server/util/digest.h"
#include "server/util/strbuf.h"

/* Longest Connect JWT or query string looked at: Atlassian's tokens are a few
 * hundred bytes; anything far larger is refused before any work. */
#define MAX_TOKEN 8192
#define MAX_QUERY 8192
#define MAC_LEN TG_DIGEST_LEN

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int b64val(char c, int url)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (url ? '-' : '+'))
        return 62;
    if (c == (url ? '_' : '/'))
        return 63;
    return -1;
}

/* Decodes base64 (url: the URL-safe alphabet), trailing '=' optional. *out is
 * NUL-terminated for JSON parsing; caller frees. Returns 0, TG_EINVAL or
 * TG_ENOMEM. */
static int b64_decode(const char *s, size_t len, int url, unsigned char **out,
                      size_t *out_len)
{
    unsigned char *buf;
    unsigned acc = 0;
    size_t i, n = 0;
    int bits = 0;

    while (len && s[len - 1] == '=')
        len--;
    if (len % 4 == 1)
        return TG_EINVAL;
    buf = malloc(len / 4 * 3 + 3);
    if (!buf)
        return TG_ENOMEM;
    for (i = 0; i < len; i++) {
        int v = b64val(s[i], url);
        if (v < 0) {
            free(buf);
            return TG_EINVAL;
        }
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[n++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    buf[n] = '\0';
    *out = buf;
    *out_len = n;
    return 0;
}

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
        int hi = hexval(header[2 * i]), lo = hexval(header[2 * i + 1]);
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

/* Parses a decimal number of seconds (digits only, at most 18 of them so it
 * cannot overflow). Returns 0 or TG_EINVAL. */
static int parse_seconds(const char *s, int64_t *out)
{
    int64_t v = 0;
    size_t i, n = strlen(s);

    if (n == 0 || n > 18)
        return TG_EINVAL;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return TG_EINVAL;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
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
    rc = b64_decode(secret, strlen(secret), 0, &key, &key_len);
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
            int d = b64_decode(p + 3, (size_t)(end - p - 3), 0, &sig, &sig_len);
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

/* ---- Atlassian Connect qsh ---- */

/* A growable string with a hard maximum. */
/* Appends s (n bytes) encoded as RFC 3986 (unreserved characters as they are,
 * everything else %XX upper case), which is what Atlassian's canonical
 * request uses: space is %20, '*' is %2A, '~' stays. */
static int sb_put_encoded(struct tg_strbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t i;
    int rc;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
            c == '~') {
            rc = tg_strbuf_putn(b, (const char *)&c, 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            rc = tg_strbuf_putn(b, e, 3);
        }
        if (rc)
            return rc;
    }
    return 0;
}

/* Form-decodes n bytes at s ('+' is a space) into out (capacity at
 * least n). Returns the decoded length or -1 on a malformed escape. */
static long form_decode(const char *s, size_t n, char *out)
{
    size_t i, o = 0;

    for (i = 0; i < n; i++) {
        if (s[i] == '+') {
            out[o++] = ' ';
        } else if (s[i] == '%') {
            int hi, lo;
            if (i + 2 >= n)
                return -1;
            hi = hexval(s[i + 1]);
            lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            out[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    return (long)o;
}

struct qparam {
    char *name, *value; /* both RFC 3986 encoded */
};

static int qparam_cmp(const void *a, const void *b)
{
    const struct qparam *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->value, y->value);
}

/* Encodes n bytes at s into a new string; returns 0, TG_EINVAL, TG_ENOMEM. */
static int encode_dup(const char *s, size_t n, char **out)
{
    struct tg_strbuf b = TG_STRBUF_INIT(3 * MAX_QUERY);
    int rc = tg_strbuf_putn(&b, "", 0);

    if (!rc)
        rc = sb_put_encoded(&b, s, n);
    if (rc) {
        free(b.p);
        return rc;
    }
    *out = b.p;
    return 0;
}

int tg_webhook_auth_qsh(const char *method, const char *path, const char *query,
                        char out[65])
{
    struct qparam *ps = NULL;
    size_t np = 0, i, qlen = query ? strlen(query) : 0;
    struct tg_strbuf req = TG_STRBUF_INIT(8 * MAX_QUERY);
    char *dec = NULL;
    unsigned char md[TG_DIGEST_LEN];
    int rc;

    if (qlen > MAX_QUERY || strlen(method) > 16 || strlen(path) > MAX_QUERY)
        return TG_EINVAL;
    rc = TG_ENOMEM;
    dec = malloc(qlen + 1);
    /* Each parameter needs at least one byte and one '&'. */
    ps = calloc(qlen / 2 + 2, sizeof *ps);
    if (!dec || !ps)
        goto out;

    for (i = 0; i < qlen;) {
        size_t end = i, eq;
        long nl, vl;
        while (end < qlen && query[end] != '&')
            end++;
        if (end > i) {
            for (eq = i; eq < end && query[eq] != '='; eq++)
                ;
            rc = TG_EINVAL;
            nl = form_decode(query + i, eq - i, dec);
            if (nl < 0)
                goto out;
            /* The token itself is not part of what it signs. */
            if (!(nl == 3 && memcmp(dec, "jwt", 3) == 0)) {
                rc = encode_dup(dec, (size_t)nl, &ps[np].name);
                if (rc)
                    goto out;
                vl = eq < end ? form_decode(query + eq + 1, end - eq - 1, dec)
                              : 0;
                rc = TG_EINVAL;
                if (vl < 0) {
                    free(ps[np].name);
                    goto out;
                }
                rc = encode_dup(dec, (size_t)vl, &ps[np].value);
                if (rc) {
                    free(ps[np].name);
                    goto out;
                }
                np++;
            }
        }
        i = end + 1;
    }
    qsort(ps, np, sizeof *ps, qparam_cmp);

    for (i = 0; method[i]; i++) {
        char c = method[i];
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        if ((rc = tg_strbuf_putn(&req, &c, 1)))
            goto out;
    }
    if ((rc = tg_strbuf_putn(&req, "&", 1)))
        goto out;
    {
        /* Canonical URI: starts with '/', no trailing '/' unless alone, '&'
         * escaped so that it cannot forge a separator. */
        size_t pl = strlen(path);
        while (pl > 1 && path[pl - 1] == '/')
            pl--;
        if (pl == 0 || path[0] != '/')
            rc = tg_strbuf_putn(&req, "/", 1);
        for (i = 0; !rc && i < pl; i++)
            rc = path[i] == '&' ? tg_strbuf_putn(&req, "%26", 3)
                                : tg_strbuf_putn(&req, path + i, 1);
        if (rc)
            goto out;
    }
    if ((rc = tg_strbuf_putn(&req, "&", 1)))
        goto out;
    for (i = 0; i < np; i++) {
        int same = i > 0 && strcmp(ps[i].name, ps[i - 1].name) == 0;
        if (same) {
            rc = tg_strbuf_putn(&req, ",", 1);
        } else {
            if (i > 0 && (rc = tg_strbuf_putn(&req, "&", 1)))
                goto out;
            if ((rc = tg_strbuf_putn(&req, ps[i].name, strlen(ps[i].name))))
                goto out;
            rc = tg_strbuf_putn(&req, "=", 1);
        }
        if (!rc)
            rc = tg_strbuf_putn(&req, ps[i].value, strlen(ps[i].value));
        if (rc)
            goto out;
    }

    rc = TG_ENOMEM;
    if (tg_digest_sha256_of(req.p, req.n, md) != 0)
        goto out;
    for (i = 0; i < 32; i++) {
        static const char hex[] = "0123456789abcdef";
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
    rc = 0;
out:
    for (i = 0; i < np; i++) {
        free(ps[i].name);
        free(ps[i].value);
    }
    free(ps);
    free(dec);
    free(req.p);
    return rc;
}

/* Decodes one base64url JWT segment into a JSON object (new reference).
 * Returns 0, TG_EAUTH or TG_ENOMEM. */
static int segment_json(const char *s, size_t n, json_t **out)
{
    unsigned char *raw = NULL;
    size_t rl = 0;
    json_t *j;
    int rc = b64_decode(s, n, 1, &raw, &rl);

    if (rc)
        return rc == TG_ENOMEM ? TG_ENOMEM : TG_EAUTH;
    j = json_loadb((const char *)raw, rl, JSON_REJECT_DUPLICATES, NULL);
    free(raw);
    if (!json_is_object(j)) {
        json_decref(j);
        return TG_EAUTH;
    }
    *out = j;
    return 0;
}

/* Reads an integer NumericDate claim; real numbers are truncated, as RFC 7519
 * allows non-integer values. Returns 1 when present, numeric and within
 * +-9e15 seconds (no real date lies further; the callers add the leeway and
 * the lifetime to it, which must not overflow), else 0. */
static int numeric_claim(const json_t *claims, const char *name, int64_t *out)
{
    const json_t *v = json_object_get(claims, name);
    double d;

    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i <= -9000000000000000LL || i >= 9000000000000000LL)
            return 0;
        *out = (int64_t)i;
        return 1;
    }
    if (!json_is_real(v))
        return 0;
    d = json_real_value(v);
    if (!(d > -9.0e15 && d < 9.0e15))
        return 0;
    *out = (int64_t)d;
    return 1;
}

int tg_webhook_auth_connect(const char *secret, const char *token,
                            size_t tok_len, const char *method,
                            const char *path, const char *query, int64_t now,
                            int64_t max_lifetime_s, char **jti_out)
{
    const char *d1, *d2;
    json_t *hdr = NULL, *claims = NULL;
    unsigned char *sig = NULL;
    size_t sig_len = 0;
    unsigned char want[MAC_LEN];
    char qsh[65];
    const char *alg, *iss, *got_qsh, *jti;
    const json_t *jv;
    int64_t exp, iat, nbf;
    char *jti_copy = NULL;
    int rc = TG_EAUTH;

    if (!secret || !token || tok_len == 0 || tok_len > MAX_TOKEN)
        goto out;
    if (memchr(token, '\0', tok_len))
        goto out;
    d1 = memchr(token, '.', tok_len);
    if (!d1)
        goto out;
    d2 = memchr(d1 + 1, '.', tok_len - (size_t)(d1 + 1 - token));
    if (!d2 || memchr(d2 + 1, '.', tok_len - (size_t)(d2 + 1 - token)))
        goto out;

    if ((rc = segment_json(token, (size_t)(d1 - token), &hdr)))
        goto fail;
    rc = TG_EAUTH;
    /* Pinning the algorithm refuses "none" and any key confusion. */
    alg = json_string_value(json_object_get(hdr, "alg"));
    if (!alg || strcmp(alg, "HS256") != 0)
        goto out;

    /* Our own HMAC check, because libjwt 1.10 compares signatures with
     * strcmp, which is not constant-time. */
    rc = b64_decode(d2 + 1, tok_len - (size_t)(d2 + 1 - token), 1, &sig,
                    &sig_len);
    if (rc)
        goto fail;
    {
        const void *parts[1] = {token};
        size_t lens[1] = {(size_t)(d2 - token)};
        rc = tg_digest_hmac_sha256(secret, strlen(secret), parts, lens, 1, want);
        if (rc)
            goto out;
    }
    rc = TG_EAUTH;
    if (sig_len != MAC_LEN || CRYPTO_memcmp(sig, want, MAC_LEN) != 0)
        goto out;

    if ((rc = segment_json(d1 + 1, (size_t)(d2 - d1 - 1), &claims)))
        goto fail;
    rc = TG_EAUTH;
    iss = json_string_value(json_object_get(claims, "iss"));
    if (!iss || !*iss)
        goto out;
    if (!numeric_claim(claims, "exp", &exp) ||
        now > exp + TG_WEBHOOK_CONNECT_LEEWAY_S)
        goto out;
    /* exp lies within +-9e15 (numeric_claim): no sum here overflows. */
    if (max_lifetime_s > 0 &&
        exp > now + max_lifetime_s + TG_WEBHOOK_CONNECT_LEEWAY_S)
        goto out;
    if (json_object_get(claims, "iat") &&
        (!numeric_claim(claims, "iat", &iat) ||
         iat > now + TG_WEBHOOK_CONNECT_LEEWAY_S))
        goto out;
    /* RFC 7519 section 4.1.5: not to be accepted before nbf. */
    if (json_object_get(claims, "nbf") &&
        (!numeric_claim(claims, "nbf", &nbf) ||
         nbf > now + TG_WEBHOOK_CONNECT_LEEWAY_S))
        goto out;
    got_qsh = json_string_value(json_object_get(claims, "qsh"));
    if (!got_qsh)
        goto out;
    rc = tg_webhook_auth_qsh(method, path, query, qsh);
    if (rc)
        goto fail;
    rc = TG_EAUTH;
    if (strcmp(got_qsh, qsh) != 0)
        goto out;
    /* The jti is kept in the evidence store as a single-use key: a bounded
     * string without NUL, or the token is refused. */
    jv = json_object_get(claims, "jti");
    if (jv && (!json_is_string(jv) || json_string_length(jv) == 0 ||
               json_string_length(jv) > TG_WEBHOOK_MAX_JTI ||
               strlen(json_string_value(jv)) != json_string_length(jv)))
        goto out;
    jti = json_string_value(jv);
    if (jti_out && jti) {
        jti_copy = strdup(jti);
        if (!jti_copy) {
            rc = TG_ENOMEM;
            goto out;
        }
    }
    if (jti_out)
        *jti_out = jti_copy;
    rc = 0;
    goto out;
fail:
    if (rc != TG_ENOMEM)
        rc = TG_EAUTH;
out:
    json_decref(hdr);
    json_decref(claims);
    free(sig);
    OPENSSL_cleanse(want, sizeof want);
    return rc;
}
