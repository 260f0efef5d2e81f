/* connect.c - Atlassian Connect JWT: HS256 signature, claims, qsh. */
#include "server/auth/connect.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "server/auth/codec.h"
#include "server/util/digest.h"
#include "server/util/strbuf.h"
#include "validators/errors.h"

/* Longest Connect JWT or query string looked at: Atlassian's tokens are a few
 * hundred bytes; anything far larger is refused before any work. */
#define MAX_TOKEN 8192
#define MAX_QUERY 8192
#define MAC_LEN TG_DIGEST_LEN

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
            hi = tg_codec_hexval(s[i + 1]);
            lo = tg_codec_hexval(s[i + 2]);
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

/* Parses the qlen bytes of query into ps (*np of them, RFC 3986 encoded),
 * leaving "jwt" out, using dec (qlen + 1 bytes) as scratch; unsorted.
 * Returns 0, TG_EINVAL (malformed escape) or TG_ENOMEM; on failure the
 * parameters already in ps stay counted in *np for the caller to free. */
static int qsh_parse_query(const char *query, size_t qlen, char *dec,
                           struct qparam *ps, size_t *np)
{
    size_t i;
    int rc;

    for (i = 0; i < qlen;) {
        size_t end = i, eq;
        long nl, vl;
        while (end < qlen && query[end] != '&')
            end++;
        if (end > i) {
            for (eq = i; eq < end && query[eq] != '='; eq++)
                ;
            nl = form_decode(query + i, eq - i, dec);
            if (nl < 0)
                return TG_EINVAL;
            /* The token itself is not part of what it signs. */
            if (!(nl == 3 && memcmp(dec, "jwt", 3) == 0)) {
                rc = encode_dup(dec, (size_t)nl, &ps[*np].name);
                if (rc)
                    return rc;
                vl = eq < end ? form_decode(query + eq + 1, end - eq - 1, dec)
                              : 0;
                if (vl < 0) {
                    free(ps[*np].name);
                    return TG_EINVAL;
                }
                rc = encode_dup(dec, (size_t)vl, &ps[*np].value);
                if (rc) {
                    free(ps[*np].name);
                    return rc;
                }
                (*np)++;
            }
        }
        i = end + 1;
    }
    return 0;
}

/* Appends the method in upper case, then '&'. Returns 0 or TG_ENOMEM. */
static int qsh_put_method(struct tg_strbuf *req, const char *method)
{
    size_t i;
    int rc;

    for (i = 0; method[i]; i++) {
        char c = method[i];
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        if ((rc = tg_strbuf_putn(req, &c, 1)))
            return rc;
    }
    return tg_strbuf_putn(req, "&", 1);
}

/* Appends the canonical URI, then '&'. Returns 0 or TG_ENOMEM. */
static int qsh_put_path(struct tg_strbuf *req, const char *path)
{
    /* Canonical URI: starts with '/', no trailing '/' unless alone, '&'
     * escaped so that it cannot forge a separator. */
    size_t i, pl = strlen(path);
    int rc = 0;

    while (pl > 1 && path[pl - 1] == '/')
        pl--;
    if (pl == 0 || path[0] != '/')
        rc = tg_strbuf_putn(req, "/", 1);
    for (i = 0; !rc && i < pl; i++)
        rc = path[i] == '&' ? tg_strbuf_putn(req, "%26", 3)
                            : tg_strbuf_putn(req, path + i, 1);
    if (rc)
        return rc;
    return tg_strbuf_putn(req, "&", 1);
}

/* Appends the np sorted parameters as name=value pairs joined by '&', the
 * values of a repeated name joined by ','. Returns 0 or TG_ENOMEM. */
static int qsh_put_query(struct tg_strbuf *req, const struct qparam *ps,
                         size_t np)
{
    size_t i;
    int rc;

    for (i = 0; i < np; i++) {
        int same = i > 0 && strcmp(ps[i].name, ps[i - 1].name) == 0;
        if (same) {
            rc = tg_strbuf_putn(req, ",", 1);
        } else {
            if (i > 0 && (rc = tg_strbuf_putn(req, "&", 1)))
                return rc;
            if ((rc = tg_strbuf_putn(req, ps[i].name, strlen(ps[i].name))))
                return rc;
            rc = tg_strbuf_putn(req, "=", 1);
        }
        if (!rc)
            rc = tg_strbuf_putn(req, ps[i].value, strlen(ps[i].value));
        if (rc)
            return rc;
    }
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

    if ((rc = qsh_parse_query(query, qlen, dec, ps, &np)))
        goto out;
    qsort(ps, np, sizeof *ps, qparam_cmp);
    if ((rc = qsh_put_method(&req, method)) ||
        (rc = qsh_put_path(&req, path)) || (rc = qsh_put_query(&req, ps, np)))
        goto out;

    rc = TG_ENOMEM;
    if (tg_digest_sha256_of(req.p, req.n, md) != 0)
        goto out;
    /* Lower-case hex, as Atlassian's qsh claim is written. */
    tg_digest_hex(md, sizeof md, out);
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
    int rc = tg_codec_b64_decode(s, n, 1, &raw, &rl);

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

/* Finds the two dots of a compact JWT (tok_len bytes, no NUL, exactly two
 * dots). Returns 0 or TG_EAUTH. */
static int connect_split(const char *token, size_t tok_len, const char **d1,
                         const char **d2)
{
    if (memchr(token, '\0', tok_len))
        return TG_EAUTH;
    *d1 = memchr(token, '.', tok_len);
    if (!*d1)
        return TG_EAUTH;
    *d2 = memchr(*d1 + 1, '.', tok_len - (size_t)(*d1 + 1 - token));
    if (!*d2 || memchr(*d2 + 1, '.', tok_len - (size_t)(*d2 + 1 - token)))
        return TG_EAUTH;
    return 0;
}

/* Checks the header (alg HS256) and the HMAC-SHA256 signature of the token
 * split at d1 and d2. Returns 0, TG_EAUTH or TG_ENOMEM. */
static int connect_check_signature(const char *secret, const char *token,
                                   size_t tok_len, const char *d1,
                                   const char *d2)
{
    json_t *hdr = NULL;
    unsigned char *sig = NULL;
    size_t sig_len = 0;
    unsigned char want[MAC_LEN];
    const char *alg;
    int rc;

    if ((rc = segment_json(token, (size_t)(d1 - token), &hdr)))
        goto fail;
    rc = TG_EAUTH;
    /* Pinning the algorithm refuses "none" and any key confusion. */
    alg = json_string_value(json_object_get(hdr, "alg"));
    if (!alg || strcmp(alg, "HS256") != 0)
        goto out;

    /* Our own HMAC check, because libjwt 1.10 compares signatures with
     * strcmp, which is not constant-time. */
    rc = tg_codec_b64_decode(d2 + 1, tok_len - (size_t)(d2 + 1 - token), 1,
                             &sig, &sig_len);
    if (rc)
        goto fail;
    {
        const void *parts[1] = {token};
        size_t lens[1] = {(size_t)(d2 - token)};
        rc =
            tg_digest_hmac_sha256(secret, strlen(secret), parts, lens, 1, want);
        if (rc)
            goto out;
    }
    rc = TG_EAUTH;
    if (sig_len != MAC_LEN || CRYPTO_memcmp(sig, want, MAC_LEN) != 0)
        goto out;
    rc = 0;
    goto out;
fail:
    if (rc != TG_ENOMEM)
        rc = TG_EAUTH;
out:
    json_decref(hdr);
    free(sig);
    OPENSSL_cleanse(want, sizeof want);
    return rc;
}

/* Checks iss, exp (and the lifetime), iat and nbf against now. Returns 0 or
 * TG_EAUTH. */
static int connect_check_times(const json_t *claims, int64_t now,
                               int64_t max_lifetime_s)
{
    const char *iss;
    int64_t exp, iat, nbf;

    iss = json_string_value(json_object_get(claims, "iss"));
    if (!iss || !*iss)
        return TG_EAUTH;
    if (!numeric_claim(claims, "exp", &exp) ||
        now > exp + TG_WEBHOOK_CONNECT_LEEWAY_S)
        return TG_EAUTH;
    /* exp lies within +-9e15 (numeric_claim): no sum here overflows. */
    if (max_lifetime_s > 0 &&
        exp > now + max_lifetime_s + TG_WEBHOOK_CONNECT_LEEWAY_S)
        return TG_EAUTH;
    if (json_object_get(claims, "iat") &&
        (!numeric_claim(claims, "iat", &iat) ||
         iat > now + TG_WEBHOOK_CONNECT_LEEWAY_S))
        return TG_EAUTH;
    /* RFC 7519 section 4.1.5: not to be accepted before nbf. */
    if (json_object_get(claims, "nbf") &&
        (!numeric_claim(claims, "nbf", &nbf) ||
         nbf > now + TG_WEBHOOK_CONNECT_LEEWAY_S))
        return TG_EAUTH;
    return 0;
}

/* Checks the qsh claim against the request. Returns 0, TG_EAUTH or
 * TG_ENOMEM. */
static int connect_check_qsh(const json_t *claims, const char *method,
                             const char *path, const char *query)
{
    const char *got_qsh;
    char qsh[65];
    int rc;

    got_qsh = json_string_value(json_object_get(claims, "qsh"));
    if (!got_qsh)
        return TG_EAUTH;
    rc = tg_webhook_auth_qsh(method, path, query, qsh);
    if (rc)
        return rc == TG_ENOMEM ? TG_ENOMEM : TG_EAUTH;
    return strcmp(got_qsh, qsh) == 0 ? 0 : TG_EAUTH;
}

/* Checks the jti claim and, when jti_out is not NULL, sets *jti_out to a copy
 * of it (or NULL when absent). Returns 0, TG_EAUTH or TG_ENOMEM. */
static int connect_take_jti(const json_t *claims, char **jti_out)
{
    const json_t *jv;
    const char *jti;
    char *jti_copy = NULL;

    /* The jti is kept in the evidence store as a single-use key: a bounded
     * string without NUL, or the token is refused. */
    jv = json_object_get(claims, "jti");
    if (jv && (!json_is_string(jv) || json_string_length(jv) == 0 ||
               json_string_length(jv) > TG_WEBHOOK_MAX_JTI ||
               strlen(json_string_value(jv)) != json_string_length(jv)))
        return TG_EAUTH;
    jti = json_string_value(jv);
    if (jti_out && jti) {
        jti_copy = strdup(jti);
        if (!jti_copy)
            return TG_ENOMEM;
    }
    if (jti_out)
        *jti_out = jti_copy;
    return 0;
}

int tg_webhook_auth_connect(const char *secret, const char *token,
                            size_t tok_len, const char *method,
                            const char *path, const char *query, int64_t now,
                            int64_t max_lifetime_s, char **jti_out)
{
    const char *d1, *d2;
    json_t *claims = NULL;
    int rc = TG_EAUTH;

    if (!secret || !token || tok_len == 0 || tok_len > MAX_TOKEN)
        return TG_EAUTH;
    if ((rc = connect_split(token, tok_len, &d1, &d2)) ||
        (rc = connect_check_signature(secret, token, tok_len, d1, d2)))
        return rc;
    if ((rc = segment_json(d1 + 1, (size_t)(d2 - d1 - 1), &claims)))
        return rc == TG_ENOMEM ? TG_ENOMEM : TG_EAUTH;
    if (!(rc = connect_check_times(claims, now, max_lifetime_s)) &&
        !(rc = connect_check_qsh(claims, method, path, query)))
        rc = connect_take_jti(claims, jti_out);
    json_decref(claims);
    return rc;
}
