/* test_jwtauth.c - Bearer JWT verification: algorithms, signatures, claims. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "validators/errors.h"
#include "server/auth/jwtauth.h"
#include "tests/support/tg_test.h"
#include "server/auth/connect.h"

#define HS_SECRET "unit-test-shared-secret-0123456789abcdef"
#define ISS "https://issuer.example"
#define AUD "ticketgate"
#define LEEWAY 60
#define NO 0x7fffffffL /* claim offset meaning "absent" */

enum conf_kind { C_HS, C_RS, C_ES, C_COUNT };

enum signer {
    S_OK,        /* the configured alg with the right key */
    S_NONE,      /* alg none, empty signature */
    S_NONE_SIG,  /* alg none, a signature segment anyway */
    S_CONFUSE,   /* HS256 with the configured public key PEM as secret */
    S_WRONG_KEY, /* the configured alg with another key */
    S_OTHER_ALG, /* RS256 properly signed, for an HS256 source */
    S_TAMPER,    /* a valid token whose payload was swapped afterwards */
    S_GARBAGE,   /* not a JWT at all */
    S_OVERSIZE,  /* a valid token padded past the length cap */
    S_TWO_PARTS, /* header.payload only */
    S_CRIT,      /* a crit header we do not understand */
};

static struct {
    struct tg_jwt_conf conf[C_COUNT];
    char *rs_priv, *rs_pub, *es_priv, *es_pub;
    char *rs2_priv, *rs2_pub, *es2_priv, *es2_pub;
} g;

static int setup(void **state)
{
    (void)state;
    if (tg_test_keypair("RSA", &g.rs_priv, &g.rs_pub) != 0 ||
        tg_test_keypair("RSA", &g.rs2_priv, &g.rs2_pub) != 0 ||
        tg_test_keypair("EC", &g.es_priv, &g.es_pub) != 0 ||
        tg_test_keypair("EC", &g.es2_priv, &g.es2_pub) != 0)
        return -1;
    for (int i = 0; i < C_COUNT; i++) {
        struct tg_jwt_conf *c = &g.conf[i];
        c->set = 1;
        c->issuer = (char *)ISS;
        c->audience = (char *)AUD;
        c->leeway_s = LEEWAY;
    }
    g.conf[C_HS].alg = TG_JWT_HS256;
    g.conf[C_HS].key = (unsigned char *)HS_SECRET;
    g.conf[C_HS].key_len = strlen(HS_SECRET);
    g.conf[C_RS].alg = TG_JWT_RS256;
    g.conf[C_RS].key = (unsigned char *)g.rs_pub;
    g.conf[C_RS].key_len = strlen(g.rs_pub);
    g.conf[C_ES].alg = TG_JWT_ES256;
    g.conf[C_ES].key = (unsigned char *)g.es_pub;
    g.conf[C_ES].key_len = strlen(g.es_pub);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(g.rs_priv);
    free(g.rs_pub);
    free(g.es_priv);
    free(g.es_pub);
    free(g.rs2_priv);
    free(g.rs2_pub);
    free(g.es2_priv);
    free(g.es2_pub);
    return 0;
}

static const struct jcase {
    const char *name;
    enum conf_kind conf;
    enum signer signer;
    const char *iss;    /* NULL: absent */
    const char *aud;    /* JSON text; NULL: absent */
    long exp, iat, nbf; /* seconds from now; NO: absent */
    const char *jti;    /* JSON text; NULL: absent */
    int want;
    const char *want_jti;
} cases[] = {
    {"hs256 valid", C_HS, S_OK, ISS, "\"" AUD "\"", 600, 0, NO, "\"d-1\"", 0,
     "d-1"},
    {"rs256 valid", C_RS, S_OK, ISS, "\"" AUD "\"", 600, 0, NO, NULL, 0, NULL},
    {"es256 valid", C_ES, S_OK, ISS, "\"" AUD "\"", 600, 0, 0, "\"e-9\"", 0,
     "e-9"},
    {"no iat is fine", C_HS, S_OK, ISS, "\"" AUD "\"", 600, NO, NO, NULL, 0,
     NULL},
    {"aud array containing ours", C_HS, S_OK, ISS, "[\"other\",\"" AUD "\"]",
     600, 0, NO, NULL, 0, NULL},
    {"aud array without ours", C_HS, S_OK, ISS, "[\"other\",\"x\"]", 600, 0, NO,
     NULL, TG_EAUTH, NULL},
    {"aud empty array", C_HS, S_OK, ISS, "[]", 600, 0, NO, NULL, TG_EAUTH,
     NULL},
    {"alg none", C_HS, S_NONE, ISS, "\"" AUD "\"", 600, 0, NO, NULL, TG_EAUTH,
     NULL},
    {"alg none with a signature", C_RS, S_NONE_SIG, ISS, "\"" AUD "\"", 600, 0,
     NO, NULL, TG_EAUTH, NULL},
    {"alg confusion rs256 key as hs256 secret", C_RS, S_CONFUSE, ISS,
     "\"" AUD "\"", 600, 0, NO, NULL, TG_EAUTH, NULL},
    {"alg confusion es256 key as hs256 secret", C_ES, S_CONFUSE, ISS,
     "\"" AUD "\"", 600, 0, NO, NULL, TG_EAUTH, NULL},
    {"rs256 token for an hs256 source", C_HS, S_OTHER_ALG, ISS, "\"" AUD "\"",
     600, 0, NO, NULL, TG_EAUTH, NULL},
    {"hs256 wrong secret", C_HS, S_WRONG_KEY, ISS, "\"" AUD "\"", 600, 0, NO,
     NULL, TG_EAUTH, NULL},
    {"rs256 wrong key", C_RS, S_WRONG_KEY, ISS, "\"" AUD "\"", 600, 0, NO, NULL,
     TG_EAUTH, NULL},
    {"es256 wrong key", C_ES, S_WRONG_KEY, ISS, "\"" AUD "\"", 600, 0, NO, NULL,
     TG_EAUTH, NULL},
    {"payload swapped after signing", C_HS, S_TAMPER, ISS, "\"" AUD "\"", 600,
     0, NO, NULL, TG_EAUTH, NULL},
    {"wrong iss", C_HS, S_OK, "https://evil.example", "\"" AUD "\"", 600, 0, NO,
     NULL, TG_EAUTH, NULL},
    {"missing iss", C_HS, S_OK, NULL, "\"" AUD "\"", 600, 0, NO, NULL, TG_EAUTH,
     NULL},
    {"wrong aud", C_HS, S_OK, ISS, "\"someone-else\"", 600, 0, NO, NULL,
     TG_EAUTH, NULL},
    {"missing aud", C_HS, S_OK, ISS, NULL, 600, 0, NO, NULL, TG_EAUTH, NULL},
    {"aud a number", C_HS, S_OK, ISS, "42", 600, 0, NO, NULL, TG_EAUTH, NULL},
    {"expired", C_HS, S_OK, ISS, "\"" AUD "\"", -3600, -7200, NO, NULL,
     TG_EAUTH, NULL},
    {"exp just inside the leeway", C_HS, S_OK, ISS, "\"" AUD "\"", -LEEWAY + 1,
     -600, NO, NULL, 0, NULL},
    {"exp exactly at the leeway", C_HS, S_OK, ISS, "\"" AUD "\"", -LEEWAY, -600,
     NO, NULL, TG_EAUTH, NULL},
    {"missing exp", C_HS, S_OK, ISS, "\"" AUD "\"", NO, 0, NO, NULL, TG_EAUTH,
     NULL},
    {"iat at the leeway", C_HS, S_OK, ISS, "\"" AUD "\"", 600, LEEWAY, NO, NULL,
     0, NULL},
    {"iat in the future beyond leeway", C_HS, S_OK, ISS, "\"" AUD "\"", 600,
     LEEWAY + 1, NO, NULL, TG_EAUTH, NULL},
    {"nbf in the future beyond leeway", C_HS, S_OK, ISS, "\"" AUD "\"", 600, 0,
     LEEWAY + 60, NULL, TG_EAUTH, NULL},
    {"jti a number", C_HS, S_OK, ISS, "\"" AUD "\"", 600, 0, NO, "7", TG_EAUTH,
     NULL},
    {"jti empty", C_HS, S_OK, ISS, "\"" AUD "\"", 600, 0, NO, "\"\"", TG_EAUTH,
     NULL},
    {"garbage", C_HS, S_GARBAGE, ISS, "\"" AUD "\"", 600, 0, NO, NULL, TG_EAUTH,
     NULL},
    {"oversize", C_HS, S_OVERSIZE, ISS, "\"" AUD "\"", 600, 0, NO, NULL,
     TG_EAUTH, NULL},
    {"two segments", C_HS, S_TWO_PARTS, ISS, "\"" AUD "\"", 600, 0, NO, NULL,
     TG_EAUTH, NULL},
    {"crit header", C_HS, S_CRIT, ISS, "\"" AUD "\"", 600, 0, NO, NULL,
     TG_EAUTH, NULL},
};

/* Appends ,"name":<now+off> when off is not NO. */
static void add_time(char *buf, size_t cap, const char *name, long off,
                     int64_t now)
{
    size_t n = strlen(buf);
    if (off != NO)
        snprintf(buf + n, cap - n, ",\"%s\":%lld", name,
                 (long long)(now + off));
}

static char *claims_of(const struct jcase *c, int64_t now)
{
    char *b = calloc(1, 2048);
    size_t n;
    assert_non_null(b);
    snprintf(b, 2048, "{\"sub\":\"client\"");
    n = strlen(b);
    if (c->iss)
        snprintf(b + n, 2048 - n, ",\"iss\":\"%s\"", c->iss);
    n = strlen(b);
    if (c->aud)
        snprintf(b + n, 2048 - n, ",\"aud\":%s", c->aud);
    add_time(b, 2048, "exp", c->exp, now);
    add_time(b, 2048, "iat", c->iat, now);
    add_time(b, 2048, "nbf", c->nbf, now);
    n = strlen(b);
    if (c->jti)
        snprintf(b + n, 2048 - n, ",\"jti\":%s", c->jti);
    n = strlen(b);
    snprintf(b + n, 2048 - n, "}");
    return b;
}

static const char *alg_of(enum conf_kind k)
{
    return k == C_HS ? "HS256" : k == C_RS ? "RS256" : "ES256";
}

static char *priv_of(enum conf_kind k, int wrong, size_t *len)
{
    const char *p;
    if (k == C_HS) {
        p = wrong ? "not-the-secret-0123456789abcdef" : HS_SECRET;
    } else if (k == C_RS) {
        p = wrong ? g.rs2_priv : g.rs_priv;
    } else {
        p = wrong ? g.es2_priv : g.es_priv;
    }
    *len = strlen(p);
    return (char *)p;
}

static char *make_token(const struct jcase *c, int64_t now)
{
    char *claims = claims_of(c, now), *tok = NULL, *other, *dot;
    const struct tg_jwt_conf *conf = &g.conf[c->conf];
    size_t klen;
    char *key;

    switch (c->signer) {
    case S_OK:
    case S_OVERSIZE:
    case S_TWO_PARTS:
        key = priv_of(c->conf, 0, &klen);
        tok = tg_test_jwt(alg_of(c->conf), key, klen, claims);
        break;
    case S_WRONG_KEY:
        key = priv_of(c->conf, 1, &klen);
        tok = tg_test_jwt(alg_of(c->conf), key, klen, claims);
        break;
    case S_NONE:
        tok = tg_test_jwt_raw("{\"alg\":\"none\",\"typ\":\"JWT\"}", claims, "");
        break;
    case S_NONE_SIG:
        tok = tg_test_jwt_raw("{\"alg\":\"none\"}", claims, "c2lnbmF0dXJl");
        break;
    case S_CONFUSE:
        tok = tg_test_jwt("HS256", conf->key, conf->key_len, claims);
        break;
    case S_OTHER_ALG:
        tok = tg_test_jwt("RS256", g.rs_priv, strlen(g.rs_priv), claims);
        break;
    case S_TAMPER:
        key = priv_of(c->conf, 0, &klen);
        tok = tg_test_jwt(alg_of(c->conf), key, klen, claims);
        other = tg_test_jwt_raw("{}",
                                "{\"iss\":\"" ISS "\",\"aud\":\"" AUD
                                "\",\"exp\":9999999999,\"sub\":\"admin\"}",
                                "");
        assert_non_null(tok);
        assert_non_null(other);
        {
            /* header(tok) . payload(other) . signature(tok) */
            char *h_end = strchr(tok, '.'), *s_start = strrchr(tok, '.');
            char *p_start = strchr(other, '.') + 1;
            char *p_end = strrchr(other, '.');
            size_t hl = (size_t)(h_end - tok), pl = (size_t)(p_end - p_start);
            char *t = malloc(hl + pl + strlen(s_start) + 2);
            assert_non_null(t);
            memcpy(t, tok, hl + 1);
            memcpy(t + hl + 1, p_start, pl);
            memcpy(t + hl + 1 + pl, s_start, strlen(s_start) + 1);
            free(tok);
            tok = t;
        }
        free(other);
        break;
    case S_GARBAGE:
        tok = strdup("this is not a token at all");
        break;
    case S_CRIT:
        key = priv_of(c->conf, 0, &klen);
        {
            /* Sign by hand: tg_test_jwt fixes the header. */
            char *raw = tg_test_jwt_raw(
                "{\"alg\":\"HS256\",\"crit\":[\"exp2\"],\"exp2\":1}", claims,
                "AAAA");
            tok = raw;
        }
        break;
    }
    assert_non_null(tok);
    if (c->signer == S_OVERSIZE) {
        size_t n = strlen(tok);
        char *big = malloc(n + 9000);
        assert_non_null(big);
        memcpy(big, tok, n);
        /* Pad the signature segment with base64url characters. */
        memset(big + n, 'A', 8999);
        big[n + 8999] = '\0';
        free(tok);
        tok = big;
    }
    if (c->signer == S_TWO_PARTS) {
        dot = strrchr(tok, '.');
        *dot = '\0';
    }
    free(claims);
    return tok;
}

static void test_verify_table(void **state)
{
    int64_t now = (int64_t)time(NULL);
    size_t i;
    (void)state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct jcase *c = &cases[i];
        char *tok = make_token(c, now), *jti = (char *)"untouched";
        int rc =
            tg_jwtauth_verify(&g.conf[c->conf], tok, strlen(tok), now, &jti);
        if (rc != c->want)
            fail_msg("case '%s': rc %d, want %d", c->name, rc, c->want);
        if (rc == 0) {
            if (c->want_jti)
                assert_string_equal(jti, c->want_jti);
            else
                assert_null(jti);
            free(jti);
        }
        /* Without jti_out the answer is the same. */
        assert_int_equal(
            tg_jwtauth_verify(&g.conf[c->conf], tok, strlen(tok), now, NULL),
            c->want);
        free(tok);
    }
}

/* A token is taken as (ptr, len): bytes past len are never read. */
static void test_verify_uses_len(void **state)
{
    int64_t now = (int64_t)time(NULL);
    char *tok = make_token(&cases[0], now), *buf;
    size_t n = strlen(tok);
    (void)state;

    buf = malloc(n + 8);
    assert_non_null(buf);
    memcpy(buf, tok, n);
    memcpy(buf + n, "garbage", 8);
    assert_int_equal(tg_jwtauth_verify(&g.conf[C_HS], buf, n, now, NULL), 0);
    /* One byte short breaks the signature. */
    assert_int_equal(tg_jwtauth_verify(&g.conf[C_HS], buf, n - 1, now, NULL),
                     TG_EAUTH);
    /* An embedded NUL is not a base64url character. */
    buf[5] = '\0';
    assert_int_equal(tg_jwtauth_verify(&g.conf[C_HS], buf, n, now, NULL),
                     TG_EAUTH);
    free(buf);
    free(tok);
}

/* A source without a usable key or binding fails closed. */
static void test_verify_misconfigured(void **state)
{
    int64_t now = (int64_t)time(NULL);
    char *tok = make_token(&cases[0], now);
    struct tg_jwt_conf c = g.conf[C_HS];
    (void)state;

    c.key = NULL;
    c.key_len = 0;
    assert_int_equal(tg_jwtauth_verify(&c, tok, strlen(tok), now, NULL),
                     TG_EAUTH);
    c = g.conf[C_HS];
    c.set = 0;
    assert_int_equal(tg_jwtauth_verify(&c, tok, strlen(tok), now, NULL),
                     TG_EAUTH);
    c = g.conf[C_HS];
    c.alg = TG_JWT_NONE_SET;
    assert_int_equal(tg_jwtauth_verify(&c, tok, strlen(tok), now, NULL),
                     TG_EAUTH);
    c = g.conf[C_HS];
    c.audience = NULL;
    assert_int_equal(tg_jwtauth_verify(&c, tok, strlen(tok), now, NULL),
                     TG_EAUTH);
    assert_int_equal(tg_jwtauth_verify(NULL, tok, strlen(tok), now, NULL),
                     TG_EAUTH);
    assert_int_equal(tg_jwtauth_verify(&g.conf[C_HS], NULL, 0, now, NULL),
                     TG_EAUTH);
    free(tok);
}

/* The contract's example key pair signs what the example config checks. */
static void test_verify_example_servicenow_key(void **state)
{
    int64_t now = (int64_t)time(NULL);
    char *priv = tg_test_read_file(
        TG_SOURCE_DIR "/example/keys/servicenow-private-TEST-ONLY.pem", NULL);
    char *pub = tg_test_read_file(
        TG_SOURCE_DIR "/example/keys/servicenow-public.pem", NULL);
    struct tg_jwt_conf c = g.conf[C_RS];
    char claims[256], *tok;
    (void)state;

    assert_non_null(priv);
    assert_non_null(pub);
    c.key = (unsigned char *)pub;
    c.key_len = strlen(pub);
    snprintf(claims, sizeof(claims),
             "{\"iss\":\"" ISS "\",\"aud\":[\"" AUD "\"],\"exp\":%lld}",
             (long long)now + 60);
    tok = tg_test_jwt("RS256", priv, strlen(priv), claims);
    assert_non_null(tok);
    assert_int_equal(tg_jwtauth_verify(&c, tok, strlen(tok), now, NULL), 0);
    free(tok);
    free(priv);
    free(pub);
}

static void test_bearer(void **state)
{
    static const struct {
        const char *value;
        int want;
        const char *tok;
    } bc[] = {
        {"Bearer abc.def.ghi", 0, "abc.def.ghi"},
        {"bearer abc", 0, "abc"},
        {"BEARER   abc  ", 0, "abc"},
        {"  Bearer\tabc", 0, "abc"},
        {"Bearer", TG_EAUTH, NULL},
        {"Bearer ", TG_EAUTH, NULL},
        {"Bearerabc", TG_EAUTH, NULL},
        {"Basic dXNlcjpwYXNz", TG_EAUTH, NULL},
        {"JWT abc", TG_EAUTH, NULL},
        {"Bearer abc def", TG_EAUTH, NULL},
        {"", TG_EAUTH, NULL},
        {NULL, TG_EAUTH, NULL},
    };
    size_t i;
    (void)state;

    for (i = 0; i < sizeof(bc) / sizeof(bc[0]); i++) {
        const char *tok = NULL;
        size_t len = 0;
        int rc = tg_jwtauth_bearer(bc[i].value, &tok, &len);
        if (rc != bc[i].want)
            fail_msg("bearer case %zu ('%s'): rc %d", i,
                     bc[i].value ? bc[i].value : "(null)", rc);
        if (rc == 0) {
            assert_int_equal(len, strlen(bc[i].tok));
            assert_memory_equal(tok, bc[i].tok, len);
        }
    }
}

/* A HS256 token with exactly this header and these claims, signed by hand
 * (tg_test_jwt writes its own header). */
static char *hs256_raw(const char *secret, const char *header,
                       const char *claims)
{
    char *h = tg_test_b64url(header, strlen(header));
    char *c = tg_test_b64url(claims, strlen(claims));
    char *input, hex[65], *sig, *tok;
    unsigned char mac[32];
    size_t n;

    assert_non_null(h);
    assert_non_null(c);
    n = strlen(h) + strlen(c) + 2;
    input = malloc(n);
    assert_non_null(input);
    snprintf(input, n, "%s.%s", h, c);
    tg_test_hmac_sha256_hex(secret, strlen(secret), input, strlen(input), hex);
    for (size_t i = 0; i < 32; i++) {
        unsigned v = 0;
        for (int k = 0; k < 2; k++) {
            char d = hex[2 * i + (size_t)k];
            v = v * 16 + (unsigned)(d <= '9' ? d - '0' : d - 'a' + 10);
        }
        mac[i] = (unsigned char)v;
    }
    sig = tg_test_b64url(mac, sizeof mac);
    assert_non_null(sig);
    n += strlen(sig) + 1;
    tok = malloc(n);
    assert_non_null(tok);
    snprintf(tok, n, "%s.%s", input, sig);
    free(h);
    free(c);
    free(input);
    free(sig);
    return tok;
}

/* Copies tmpl into out with $Q replaced by qsh, $T by t and $E by e (the
 * tables below hold templates, not printf formats). */
static void fill(const char *tmpl, char *out, size_t cap, const char *qsh,
                 long long t, long long e)
{
    size_t n = 0;

    for (const char *p = tmpl; *p; p++) {
        char num[32];
        const char *put = NULL;
        int w;

        if (p[0] == '$' && p[1] == 'Q')
            put = qsh;
        if (p[0] == '$' && (p[1] == 'T' || p[1] == 'E')) {
            w = snprintf(num, sizeof num, "%lld", p[1] == 'T' ? t : e);
            assert_true(w > 0 && (size_t)w < sizeof num);
            put = num;
        }
        if (put) {
            size_t l = strlen(put);
            assert_true(n + l < cap);
            memcpy(out + n, put, l);
            n += l;
            p++;
        } else {
            assert_true(n + 1 < cap);
            out[n++] = *p;
        }
    }
    out[n] = '\0';
}

/* A member named twice in the claims or the header is refused, whichever
 * copy would be read (issue 10 item 5): jansson keeps one silently. The
 * same tokens without the duplicate verify, so the refusal is the
 * duplicate's. */
static void test_duplicate_members(void **state)
{
    static const struct {
        const char *name;
        const char *header;
        const char *claims; /* $E: exp */
        int want;
    } dc[] = {
        {"control", "{\"alg\":\"HS256\",\"typ\":\"JWT\"}",
         "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"exp\":$E}", 0},
        {"aud twice, ours last", "{\"alg\":\"HS256\"}",
         "{\"iss\":\"" ISS "\",\"aud\":\"other\",\"aud\":\"" AUD
         "\",\"exp\":$E}",
         TG_EAUTH},
        {"aud twice, ours first", "{\"alg\":\"HS256\"}",
         "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"aud\":\"other\","
         "\"exp\":$E}",
         TG_EAUTH},
        {"exp twice", "{\"alg\":\"HS256\"}",
         "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"exp\":$E,"
         "\"exp\":1}",
         TG_EAUTH},
        {"jti twice", "{\"alg\":\"HS256\"}",
         "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"exp\":$E,"
         "\"jti\":\"a\",\"jti\":\"b\"}",
         TG_EAUTH},
        {"alg twice in the header", "{\"alg\":\"HS256\",\"alg\":\"HS256\"}",
         "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"exp\":$E}",
         TG_EAUTH},
        {"claims not an object", "{\"alg\":\"HS256\"}", "[$E]", TG_EAUTH},
    };
    int64_t now = (int64_t)time(NULL);
    (void)state;

    for (size_t i = 0; i < sizeof(dc) / sizeof(dc[0]); i++) {
        char claims[512], *tok;
        int rc;

        fill(dc[i].claims, claims, sizeof(claims), "", 0,
             (long long)now + 600);
        tok = hs256_raw(HS_SECRET, dc[i].header, claims);
        rc = tg_jwtauth_verify(&g.conf[C_HS], tok, strlen(tok), now, NULL);
        if (rc != dc[i].want)
            fail_msg("%s: rc %d, want %d", dc[i].name, rc, dc[i].want);
        free(tok);
    }
}

/* exp at most server.max_token_lifetime_s (+ leeway) ahead (issue 10 item
 * 5); 0 means no bound. */
static void test_max_lifetime(void **state)
{
    static const struct {
        int max;
        long exp; /* seconds from now */
        int want;
    } lc[] = {
        {86400, 600, 0},
        {86400, 86400, 0},
        {86400, 86400 + LEEWAY, 0},
        {86400, 86400 + LEEWAY + 1, TG_EAUTH},
        {86400, 365L * 86400, TG_EAUTH},
        {600, 601 + LEEWAY, TG_EAUTH},
        {0, 365L * 86400, 0},
    };
    int64_t now = (int64_t)time(NULL);
    (void)state;

    for (size_t i = 0; i < sizeof(lc) / sizeof(lc[0]); i++) {
        struct tg_jwt_conf c = g.conf[C_HS];
        char claims[256], *tok;
        int rc;

        c.max_lifetime_s = lc[i].max;
        snprintf(claims, sizeof(claims),
                 "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"exp\":%lld}",
                 (long long)(now + lc[i].exp));
        tok = tg_test_jwt("HS256", HS_SECRET, strlen(HS_SECRET), claims);
        assert_non_null(tok);
        rc = tg_jwtauth_verify(&c, tok, strlen(tok), now, NULL);
        if (rc != lc[i].want)
            fail_msg("case %zu (max %d, exp +%ld): rc %d, want %d", i,
                     lc[i].max, lc[i].exp, rc, lc[i].want);
        free(tok);
    }
}

/* Atlassian Connect JWTs (server/auth/connect.c does its own HS256): nbf,
 * the lifetime bound, duplicate members and the jti's shape (issues 9 item
 * 7 and 10 item 5). */
static void test_connect_claims(void **state)
{
#define CS "connect-shared-secret-0123456789abcdef"
    static const struct {
        const char *name;
        const char *header;
        const char *claims; /* $Q qsh, $T now (or later), $E exp */
        long max;
        int want;
    } cc[] = {
        {"valid", "{\"alg\":\"HS256\"}",
         "{\"iss\":\"jira:1\",\"qsh\":\"$Q\",\"iat\":$T,\"exp\":$E,"
         "\"jti\":\"c-1\"}",
         86400, 0},
        {"nbf now", "{\"alg\":\"HS256\"}",
         "{\"iss\":\"jira:1\",\"qsh\":\"$Q\",\"nbf\":$T,\"exp\":$E}",
         86400, 0},
        {"nbf in the future beyond leeway", "{\"alg\":\"HS256\"}",
         "{\"iss\":\"jira:1\",\"qsh\":\"$Q\",\"nbf\":$T,\"exp\":$E}",
         86400, TG_EAUTH},
        {"nbf not a number", "{\"alg\":\"HS256\"}",
         "{\"iss\":\"jira:1\",\"qsh\":\"$Q\",\"nbf\":\"$T\","
         "\"exp\":$E}",
         86400, TG_EAUTH},
        {"exp beyond the lifetime", "{\"alg\":\"HS256\"}",
         "{\"iss\":\"jira:1\",\"qsh\":\"$Q\",\"iat\":$T,"
         "\"exp\":$E}",
         100, TG_EAUTH},
        {"qsh twice", "{\"alg\":\"HS256\"}",
         "{\"iss\":\"jira:1\",\"qsh\":\"$Q\",\"qsh\":\"x\",\"iat\":$T,"
         "\"exp\":$E}",
         86400, TG_EAUTH},
        {"alg twice", "{\"alg\":\"none\",\"alg\":\"HS256\"}",
         "{\"iss\":\"jira:1\",\"qsh\":\"$Q\",\"iat\":$T,\"exp\":$E}",
         86400, TG_EAUTH},
        {"jti a number", "{\"alg\":\"HS256\"}",
         "{\"iss\":\"jira:1\",\"qsh\":\"$Q\",\"iat\":$T,\"exp\":$E,"
         "\"jti\":7}",
         86400, TG_EAUTH},
        {"jti empty", "{\"alg\":\"HS256\"}",
         "{\"iss\":\"jira:1\",\"qsh\":\"$Q\",\"iat\":$T,\"exp\":$E,"
         "\"jti\":\"\"}",
         86400, TG_EAUTH},
        /* Integers at the int64 edges: no sum on them may overflow (the
         * UBSan build aborts on one), and none is a usable date. */
        {"exp the largest int64", "{\"alg\":\"HS256\"}",
         "{\"iss\":\"jira:1\",\"qsh\":\"$Q\",\"iat\":$T,"
         "\"exp\":9223372036854775807}",
         86400, TG_EAUTH},
        {"exp the largest int64, no lifetime bound", "{\"alg\":\"HS256\"}",
         "{\"iss\":\"jira:1\",\"qsh\":\"$Q\",\"iat\":$T,"
         "\"exp\":9223372036854775807}",
         0, TG_EAUTH},
        {"exp the smallest int64", "{\"alg\":\"HS256\"}",
         "{\"iss\":\"jira:1\",\"qsh\":\"$Q\",\"iat\":$T,"
         "\"exp\":-9223372036854775808}",
         86400, TG_EAUTH},
        {"iat the smallest int64", "{\"alg\":\"HS256\"}",
         "{\"iss\":\"jira:1\",\"qsh\":\"$Q\","
         "\"iat\":-9223372036854775808,\"exp\":$E}",
         86400, TG_EAUTH},
    };
    int64_t now = (int64_t)time(NULL);
    char qsh[65];
    (void)state;

    assert_int_equal(
        tg_webhook_auth_qsh("POST", "/v1/webhooks/jira", NULL, qsh), 0);
    for (size_t i = 0; i < sizeof(cc) / sizeof(cc[0]); i++) {
        char claims[512], *tok, *jti = NULL;
        /* the second number: now, or for the future nbf 10 minutes on */
        long long t2 = (long long)now;
        long long exp = (long long)now + 180;
        int rc;

        if (strstr(cc[i].name, "future"))
            t2 = (long long)now + 600;
        if (strstr(cc[i].name, "lifetime"))
            exp = (long long)now + 3600;
        fill(cc[i].claims, claims, sizeof(claims), qsh, t2, exp);
        tok = hs256_raw(CS, cc[i].header, claims);
        rc = tg_webhook_auth_connect(CS, tok, strlen(tok), "POST",
                                     "/v1/webhooks/jira", NULL, now,
                                     cc[i].max, &jti);
        if (rc != cc[i].want)
            fail_msg("connect %s: rc %d, want %d", cc[i].name, rc,
                     cc[i].want);
        if (rc == 0 && strstr(claims, "\"jti\""))
            assert_string_equal(jti, "c-1");
        free(jti);
        free(tok);
    }
#undef CS
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verify_table),
        cmocka_unit_test(test_verify_uses_len),
        cmocka_unit_test(test_verify_misconfigured),
        cmocka_unit_test(test_verify_example_servicenow_key),
        cmocka_unit_test(test_bearer),
        cmocka_unit_test(test_duplicate_members),
        cmocka_unit_test(test_max_lifetime),
        cmocka_unit_test(test_connect_claims),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
