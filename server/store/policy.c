/* policy.c - the rules that judged: the "policy" chain entry (issue 13). */

#include "server/store/internal.h"

#include <openssl/evp.h>

/*
 * The document of a policy entry (docs/EVIDENCE.md, "The policies"):
 *
 *   {"digest": "sha256:...", "config_path": "...", "config": "<text>",
 *    "directory_path": "..." | null, "directory": "<text>" | null}
 *
 * config and directory are the exact bytes the policy digest covers, in its
 * order: digest = "sha256:" hex(SHA-256(config || directory)). A file that
 * is not UTF-8 (JSON strings cannot hold it) is kept as "config_base64" /
 * "directory_base64" instead.
 */

/* Sets o[name] (or o[name "_base64"]) to the n bytes at p; p NULL: null.
 * Returns 0 or -1 (out of memory). */
static int put_text(json_t *o, const char *name, const char *p, size_t n)
{
    char key[32];
    unsigned char *b64;
    json_t *v;
    int len, rc;

    if (!p)
        return json_object_set_new(o, name, json_null());
    if ((v = json_stringn(p, n)))
        return json_object_set_new(o, name, v);
    /* not UTF-8: base64 keeps every byte */
    if (n > (size_t)INT32_MAX / 4 * 3 - 3 ||
        snprintf(key, sizeof key, "%s_base64", name) >= (int)sizeof key)
        return -1;
    if (!(b64 = malloc(n / 3 * 4 + 8)))
        return -1;
    len = EVP_EncodeBlock(b64, (const unsigned char *)p, (int)n);
    rc = len < 0 ? -1
                 : json_object_set_new(o, key,
                                       json_stringn((const char *)b64,
                                                    (size_t)len));
    free(b64);
    return rc;
}

/* The policy document of c in *out (caller frees) and its length. Returns
 * 0, TG_EINVAL (c holds no text: not loaded by tg_config_load) or
 * TG_ENOMEM. */
static int policy_doc(const struct tg_config *c, char **out, size_t *len)
{
    json_t *o = json_object();
    int bad;

    if (!o)
        return TG_ENOMEM;
    if (!c->text) {
        json_decref(o);
        return TG_EINVAL;
    }
    bad = json_object_set_new(o, "digest", json_string(c->digest)) ||
          json_object_set_new(o, "config_path",
                              c->path ? json_string(c->path) : json_null()) ||
          put_text(o, "config", c->text, c->text_len) ||
          json_object_set_new(o, "directory_path",
                              c->directory_path
                                  ? json_string(c->directory_path)
                                  : json_null()) ||
          put_text(o, "directory", c->dir_text, c->dir_text_len);
    *out = bad ? NULL : json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!*out)
        return TG_ENOMEM;
    *len = strlen(*out);
    return 0;
}

/* 1 when the m bytes at k occur in the n bytes at p. */
static int holds(const char *p, size_t n, const unsigned char *k, size_t m)
{
    if (!p || m == 0 || m > n)
        return 0;
    for (size_t i = 0; i + m <= n; i++)
        if (memcmp(p + i, k, m) == 0)
            return 1;
    return 0;
}

int tg_evidence_keep_policy(struct tg_evidence *e, const struct tg_config *c,
                            int64_t now)
{
    struct tg_evidence_entry en = {.kind = "policy", .time = now};
    char *doc = NULL;
    size_t len = 0;
    int rc;

    if (!e || !c)
        return TG_EINVAL;
    /* The store would hold the key that signs its own links: whoever reads
     * the store (an auditor, an export) could forge every MAC. */
    if (c->store.hmac_key_len &&
        (holds(c->text, c->text_len, c->store.hmac_key,
               c->store.hmac_key_len) ||
         holds(c->dir_text, c->dir_text_len, c->store.hmac_key,
               c->store.hmac_key_len))) {
        tg_log_event(TG_LOG_ERROR, "policy_not_kept",
                     "policy %s: its files are not kept in the evidence "
                     "store: store.hmac_key is written in them literally, "
                     "and the store would then hold the key that signs it; "
                     "write it as \"${NAME}\" and set NAME in the "
                     "environment",
                     c->digest);
        return TG_EINVAL;
    }
    if ((rc = policy_doc(c, &doc, &len))) {
        tg_log_event(TG_LOG_ERROR, "policy_not_kept",
                     "policy %s: its files are not kept in the evidence "
                     "store: %s",
                     c->digest,
                     rc == TG_ENOMEM ? "out of memory"
                                     : "the configuration's text is gone");
        return rc;
    }
    en.key = c->digest;
    en.json = doc;
    en.len = len;
    rc = tg_evidence_append_entry(e, &en);
    /* the policy files may hold secrets written in literally: wipe */
    OPENSSL_cleanse(doc, len);
    free(doc);
    if (rc == 0)
        tg_log_event(TG_LOG_INFO, "policy_kept",
                     "policy %s: its configuration and directory files are "
                     "kept in the evidence store",
                     c->digest);
    else if (rc != TG_ECONFLICT) /* TG_ECONFLICT: kept before */
        tg_log_event(TG_LOG_ERROR, "policy_not_kept",
                     "policy %s: its files could not be kept in the "
                     "evidence store (the write failed); `ticketgate audit "
                     "policy` cannot show them until a reload or restart "
                     "keeps them",
                     c->digest);
    return rc == TG_ECONFLICT ? 0 : rc;
}

/* The bytes of doc[name] (a string) or doc[name "_base64"] decoded, in
 * *p (caller frees; NULL for null or absent) and *n. Returns 0, TG_EINVAL
 * (neither is a string) or TG_ENOMEM. */
static int get_text(json_t *doc, const char *name, char **p, size_t *n)
{
    char key[32];
    json_t *v = json_object_get(doc, name);
    const char *s;
    size_t sl;
    unsigned char *out;
    int len;

    *p = NULL;
    *n = 0;
    if (json_is_string(v)) {
        sl = json_string_length(v);
        if (!(*p = malloc(sl + 1)))
            return TG_ENOMEM;
        memcpy(*p, json_string_value(v), sl);
        (*p)[sl] = '\0';
        *n = sl;
        return 0;
    }
    if (snprintf(key, sizeof key, "%s_base64", name) >= (int)sizeof key)
        return TG_EINVAL;
    v = json_object_get(doc, key);
    if (!v || json_is_null(v))
        return json_is_null(json_object_get(doc, name)) ||
                       !json_object_get(doc, name)
                   ? 0
                   : TG_EINVAL;
    if (!json_is_string(v))
        return TG_EINVAL;
    s = json_string_value(v);
    sl = json_string_length(v);
    if (sl % 4 || sl > INT32_MAX)
        return TG_EINVAL;
    if (!(out = malloc(sl / 4 * 3 + 1)))
        return TG_ENOMEM;
    len = EVP_DecodeBlock(out, (const unsigned char *)s, (int)sl);
    if (len < 0) {
        free(out);
        return TG_EINVAL;
    }
    /* DecodeBlock counts the padding's zero bytes: take them off */
    if (sl >= 1 && s[sl - 1] == '=')
        len--;
    if (sl >= 2 && s[sl - 2] == '=')
        len--;
    out[len] = '\0';
    *p = (char *)out;
    *n = (size_t)len;
    return 0;
}

void tg_evidence_policy_files_free(struct tg_policy_files *f)
{
    if (!f)
        return;
    if (f->config)
        OPENSSL_cleanse(f->config, f->config_len);
    if (f->directory)
        OPENSSL_cleanse(f->directory, f->directory_len);
    free(f->config);
    free(f->directory);
    free(f->config_path);
    free(f->directory_path);
    memset(f, 0, sizeof *f);
}

/* A copy of doc[name] when it is a string, else NULL. */
static char *dup_str(json_t *doc, const char *name)
{
    const char *s = json_string_value(json_object_get(doc, name));

    return s ? strdup(s) : NULL;
}

int tg_evidence_policy_files(const char *json, size_t len,
                             struct tg_policy_files *out)
{
    json_t *doc;
    const void *parts[2];
    size_t lens[2];
    unsigned char md[32];
    int rc;

    memset(out, 0, sizeof *out);
    if (!json || !(doc = json_loadb(json, len, 0, NULL)))
        return TG_EINVAL;
    if (!json_is_object(doc)) {
        json_decref(doc);
        return TG_EINVAL;
    }
    rc = get_text(doc, "config", &out->config, &out->config_len);
    if (!rc)
        rc = get_text(doc, "directory", &out->directory,
                      &out->directory_len);
    if (!rc && !out->config)
        rc = TG_EINVAL;
    out->config_path = dup_str(doc, "config_path");
    out->directory_path = dup_str(doc, "directory_path");
    json_decref(doc);
    if (rc) {
        tg_evidence_policy_files_free(out);
        return rc;
    }
    /* the digest again, as config.c computes it */
    parts[0] = out->config;
    lens[0] = out->config_len;
    parts[1] = out->directory;
    lens[1] = out->directory_len;
    if (tg_digest_sha256_parts(parts, lens, 2, md)) {
        tg_evidence_policy_files_free(out);
        return TG_ENOMEM;
    }
    memcpy(out->digest, "sha256:", 7);
    tg_digest_hex(md, 32, out->digest + 7);
    return 0;
}
