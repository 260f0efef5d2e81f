/* sections.c - the server, store, sources, gates, directory sections. */
#include "server/config/internal.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <yaml.h>

#include "validators/codes.h"
#include "validators/errors.h"
#include "validators/timeparse.h"

/* ---------------------------------------------------------------- server */

static int parse_tls(struct ld *L, const yaml_node_t *n, struct tg_config *c)
{
    static const char *const keys[] = {"certificate", "client_ca"};
    yaml_node_t *v[COUNT(keys)];

    if (MAP_KEYS(L, n, "server.tls", keys, v) != TG_OK)
        return tg_cfg_status(L);
    if (tg_cfg_get_path(L, v[0], "server.tls.certificate",
                        &c->server.tls_certificate) == TG_OK)
        tg_cfg_check_readable(L, v[0], "server.tls.certificate",
                              c->server.tls_certificate);
    if (tg_cfg_get_path(L, v[1], "server.tls.client_ca",
                        &c->server.tls_client_ca) == TG_OK)
        tg_cfg_check_readable(L, v[1], "server.tls.client_ca",
                              c->server.tls_client_ca);
    if (c->server.tls_client_ca && !c->server.tls_certificate)
        tg_cfg_problem(L, v[1],
                       "server.tls.client_ca needs server.tls.certificate; "
                       "add the server's certificate and key");
    return tg_cfg_status(L);
}

/* 1 when a listen value has a TLS port ("443s", "[::1]:8443s"). */
static int listens_tls(const char *s)
{
    for (const char *p = s; *p; p++)
        if (*p == 's' && (p[1] == ',' || p[1] == '\0') && p > s &&
            p[-1] >= '0' && p[-1] <= '9')
            return 1;
    return 0;
}

int tg_cfg_parse_server(struct ld *L, const yaml_node_t *n, struct tg_config *c)
{
    static const char *const keys[] = {
        "listen",
        "threads",
        "max_body_bytes",
        "request_timeout_ms",
        "tls",
        "admin_listen",
        "log_level",
        "max_token_lifetime_s",
        "keep_alive_timeout_ms",
        "connections",
    };
    enum {
        LISTEN,
        THREADS,
        MAXBODY,
        TIMEOUT,
        TLS,
        ADMIN,
        LOGLEVEL,
        LIFETIME,
        KEEPALIVE,
        CONNS
    };
    static const char *const levels[] = {"debug", "info", "warn", "error"};
    yaml_node_t *v[COUNT(keys)];
    long long body;
    int lvl;

    if (MAP_KEYS(L, n, "server", keys, v) != TG_OK)
        return tg_cfg_status(L);
    tg_cfg_get_str(L, v[LISTEN], "server.listen", F_REQ, &c->server.listen);
    tg_cfg_get_intv(L, v[THREADS], "server.threads", 1, 1024,
                    &c->server.threads);
    if (tg_cfg_get_int(L, v[MAXBODY], "server.max_body_bytes", 1,
                       (long long)1 << 30, &body) == TG_OK)
        c->server.max_body_bytes = (size_t)body;
    tg_cfg_get_intv(L, v[TIMEOUT], "server.request_timeout_ms", 1, 3600000,
                    &c->server.request_timeout_ms);
    /* 0 turns keep-alive off: every answer closes its connection. */
    tg_cfg_get_intv(L, v[KEEPALIVE], "server.keep_alive_timeout_ms", 0, 3600000,
                    &c->server.keep_alive_timeout_ms);
    /* Each open connection holds one CivetWeb thread (100 KB of stack), so
     * this bounds the slow or idle clients served at once. */
    if (tg_cfg_get_intv(L, v[CONNS], "server.connections", 1, 8192,
                        &c->server.connections) == TG_OK &&
        c->server.connections < c->server.threads)
        tg_cfg_problem(L, v[CONNS],
                       "server.connections (%d) is less than "
                       "server.threads (%d); raise it or remove the "
                       "key (default: 8 per thread)",
                       c->server.connections, c->server.threads);
    if (!v[CONNS])
        c->server.connections =
            c->server.threads > 512 ? 4096 : 8 * c->server.threads;
    /* A minute at least (clock skew alone takes that); a year at most. */
    tg_cfg_get_intv(L, v[LIFETIME], "server.max_token_lifetime_s", 60, 31536000,
                    &c->server.max_token_lifetime_s);
    if (v[TLS])
        parse_tls(L, v[TLS], c);
    tg_cfg_get_str(L, v[ADMIN], "server.admin_listen", F_REQ,
                   &c->server.admin_listen);
    if (tg_cfg_get_enum(L, v[LOGLEVEL], "server.log_level", levels,
                        COUNT(levels), &lvl) == TG_OK) {
        char *s = strdup(levels[lvl]);
        if (!s)
            return tg_cfg_nomem(L);
        free(c->server.log_level);
        c->server.log_level = s;
    }
    if (c->server.listen && listens_tls(c->server.listen) &&
        !c->server.tls_certificate)
        tg_cfg_problem(L, v[LISTEN],
                       "server.listen has a TLS port (ending in 's') "
                       "but server.tls.certificate is not set; add it "
                       "or drop the 's'");
    return tg_cfg_status(L);
}

int tg_cfg_parse_store(struct ld *L, const yaml_node_t *n, struct tg_config *c)
{
    static const char *const keys[] = {"path", "sync", "hmac_key",
                                       "busy_timeout_ms", "driver", "url"};
    enum { PATH, SYNC, HMAC, BUSY, DRIVER, URL };
    static const char *const syncs[] = {"normal", "full"};
    static const char *const drivers[] = {"sqlite", "postgresql"};
    yaml_node_t *v[COUNT(keys)];
    char *key = NULL;
    int sync, driver;

    if (MAP_KEYS(L, n, "store", keys, v) != TG_OK)
        return tg_cfg_status(L);
    tg_cfg_get_path(L, v[PATH], "store.path", &c->store.path);
    if (tg_cfg_get_enum(L, v[SYNC], "store.sync", syncs, COUNT(syncs), &sync) ==
        TG_OK)
        c->store.sync = sync ? TG_SYNC_FULL : TG_SYNC_NORMAL;
    if (v[HMAC] &&
        tg_cfg_get_str(L, v[HMAC], "store.hmac_key", F_SECRET, &key) == TG_OK) {
        c->store.hmac_key = (unsigned char *)key;
        c->store.hmac_key_len = strlen(key);
    }
    tg_cfg_get_intv(L, v[BUSY], "store.busy_timeout_ms", 0, 3600000,
                    &c->store.busy_timeout_ms);
    if (tg_cfg_get_enum(L, v[DRIVER], "store.driver", drivers,
                        COUNT(drivers), &driver) == TG_OK)
        c->store.driver = driver ? TG_STORE_POSTGRESQL : TG_STORE_SQLITE;
    /* the URL may carry a password: a secret (wiped, "${VAR}" advised) */
    if (v[URL])
        tg_cfg_get_str(L, v[URL], "store.url", F_SECRET, &c->store.url);
    if (c->store.driver == TG_STORE_POSTGRESQL && !v[URL])
        tg_cfg_problem(L, v[DRIVER],
                       "store.driver is postgresql but store.url is not "
                       "set; add url: \"${TG_DATABASE_URL}\" (a libpq URL "
                       "such as postgresql://user@host/db)");
    if (v[URL] && c->store.driver != TG_STORE_POSTGRESQL)
        tg_cfg_problem(L, v[URL],
                       "store.url is set but store.driver is not "
                       "postgresql; add driver: postgresql, or drop url "
                       "(the sqlite driver uses store.path)");
    /* The offline commands (audit, outbox, report) open store.path: with
     * postgresql it is the URL, which store/dispatch.c reads as the
     * database. */
    if (c->store.driver == TG_STORE_POSTGRESQL && c->store.url) {
        char *u = strdup(c->store.url);

        if (!u)
            return tg_cfg_nomem(L);
        free(c->store.path);
        c->store.path = u;
    }
    return tg_cfg_status(L);
}

/* --------------------------------------------------------------- sources */

/* Reads a PEM public key file into j->key and checks that it suits alg. */
static void read_public_key(struct ld *L, const yaml_node_t *n,
                            const char *name, const char *path,
                            struct tg_jwt_conf *j)
{
    char *pem = NULL;
    size_t len = 0;
    int err, rc = tg_cfg_read_file(path, KEYFILE_MAX_BYTES, &pem, &len, &err);
    BIO *bio = NULL;
    EVP_PKEY *pk = NULL;
    int id;

    if (rc == TG_ENOMEM) {
        tg_cfg_nomem(L);
        return;
    }
    if (rc != TG_OK) {
        tg_cfg_unreadable(L, n, name, path, rc, err);
        return;
    }
    bio = BIO_new_mem_buf(pem, (int)len);
    if (!bio) {
        tg_cfg_nomem(L);
        goto out;
    }
    pk = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    if (!pk) {
        ERR_clear_error();
        tg_cfg_problem(L, n,
                       "%s: %s holds no PEM public key; export the public key "
                       "(-----BEGIN PUBLIC KEY-----), not a certificate or a "
                       "private key",
                       name, path);
        goto out;
    }
    id = EVP_PKEY_base_id(pk);
    if (j->alg == TG_JWT_RS256 && id != EVP_PKEY_RSA) {
        tg_cfg_problem(L, n,
                       "%s: %s is not an RSA key, which RS256 needs; use the "
                       "RSA public key or set the algorithm the key is for",
                       name, path);
        goto out;
    }
    if (j->alg == TG_JWT_ES256 &&
        (id != EVP_PKEY_EC || EVP_PKEY_bits(pk) != 256)) {
        tg_cfg_problem(L, n,
                       "%s: %s is not a P-256 EC key, which ES256 needs; use "
                       "the P-256 public key or set the algorithm the key is "
                       "for",
                       name, path);
        goto out;
    }
    j->key = (unsigned char *)pem;
    j->key_len = len;
    pem = NULL;
out:
    EVP_PKEY_free(pk);
    BIO_free(bio);
    tg_cfg_free_text(pem, len);
}

/* An HS256 key shorter than the hash's output is refused (RFC 7518
 * section 3.2): a short shared secret can be found by brute force from one
 * captured token. */
static void short_secret(struct ld *L, const yaml_node_t *n, const char *name,
                         size_t len)
{
    if (len < TG_CONFIG_HS256_MIN_SECRET)
        tg_cfg_problem(L, n,
                       "%s is %zu bytes; HS256 needs at least %d (RFC 7518 "
                       "section 3.2): use a random secret such as the output "
                       "of `openssl rand -base64 48`",
                       name, len, TG_CONFIG_HS256_MIN_SECRET);
}

/* HS256: the shared secret (pubkey, secret: their nodes in the jwt mapping
 * n at where, or NULL). Problems are reported. */
static void jwt_secret(struct ld *L, const yaml_node_t *n,
                       const yaml_node_t *pubkey, const yaml_node_t *secretn,
                       const char *where, struct tg_jwt_conf *j)
{
    char nm[NAME_CAP];
    char *secret = NULL;

    if (pubkey)
        tg_cfg_problem(L, pubkey,
                       "%s.public_key_file is for RS256 and "
                       "ES256; remove it or change the algorithm",
                       where);
    if (!secretn)
        tg_cfg_problem(L, n,
                       "%s.secret is missing; HS256 needs the shared "
                       "secret",
                       where);
    else if (tg_cfg_get_str(L, secretn,
                            tg_cfg_name_of(nm, sizeof(nm), "%s.secret", where),
                            F_SECRET, &secret) == TG_OK) {
        j->key = (unsigned char *)secret;
        j->key_len = strlen(secret);
        short_secret(L, secretn, nm, j->key_len);
    }
}

/* RS256 or ES256 (alg, its name): the issuer's public key file. Same
 * arguments and reports as jwt_secret. */
static void jwt_public_key(struct ld *L, const yaml_node_t *n,
                           const yaml_node_t *pubkey,
                           const yaml_node_t *secretn, const char *where,
                           const char *alg, struct tg_jwt_conf *j)
{
    char nm[NAME_CAP];
    char *path = NULL;

    if (secretn)
        tg_cfg_problem(L, secretn,
                       "%s.secret is for HS256; %s verifies with "
                       "public_key_file: remove the secret",
                       where, alg);
    if (!pubkey)
        tg_cfg_problem(L, n,
                       "%s.public_key_file is missing; %s needs the "
                       "issuer's public key (PEM)",
                       where, alg);
    else if (tg_cfg_get_path(
                 L, pubkey,
                 tg_cfg_name_of(nm, sizeof(nm), "%s.public_key_file", where),
                 &path) == TG_OK)
        read_public_key(L, pubkey, nm, path, j);
    free(path);
}

static int parse_jwt(struct ld *L, const yaml_node_t *n, const char *where,
                     struct tg_jwt_conf *j)
{
    static const char *const keys[] = {"algorithm", "public_key_file",
                                       "secret",    "issuer",
                                       "audience",  "leeway_s"};
    enum { ALG, PUBKEY, SECRET, ISS, AUD, LEEWAY };
    static const char *const algs[] = {"HS256", "RS256", "ES256"};
    yaml_node_t *v[COUNT(keys)];
    char nm[NAME_CAP];
    int alg = -1;

    j->set = 1;
    j->leeway_s = 60;
    if (MAP_KEYS(L, n, where, keys, v) != TG_OK)
        return tg_cfg_status(L);
    if (!v[ALG])
        tg_cfg_problem(L, n,
                       "%s.algorithm is missing; write HS256, RS256 or ES256",
                       where);
    else if (tg_cfg_get_enum(
                 L, v[ALG],
                 tg_cfg_name_of(nm, sizeof(nm), "%s.algorithm", where), algs,
                 COUNT(algs), &alg) == TG_OK)
        j->alg = alg == 0   ? TG_JWT_HS256
                 : alg == 1 ? TG_JWT_RS256
                            : TG_JWT_ES256;
    if (j->alg == TG_JWT_HS256)
        jwt_secret(L, n, v[PUBKEY], v[SECRET], where, j);
    else if (j->alg == TG_JWT_RS256 || j->alg == TG_JWT_ES256)
        jwt_public_key(L, n, v[PUBKEY], v[SECRET], where, algs[alg], j);
    if (!v[ISS])
        tg_cfg_problem(L, n,
                       "%s.issuer is missing; write the iss claim the tokens "
                       "carry",
                       where);
    else
        tg_cfg_get_str(L, v[ISS],
                       tg_cfg_name_of(nm, sizeof(nm), "%s.issuer", where),
                       F_REQ, &j->issuer);
    if (!v[AUD])
        tg_cfg_problem(L, n,
                       "%s.audience is missing; write the aud claim the "
                       "tokens carry (e.g. ticketgate)",
                       where);
    else
        tg_cfg_get_str(L, v[AUD],
                       tg_cfg_name_of(nm, sizeof(nm), "%s.audience", where),
                       F_REQ, &j->audience);
    tg_cfg_get_intv(L, v[LEEWAY],
                    tg_cfg_name_of(nm, sizeof(nm), "%s.leeway_s", where), 0,
                    86400, &j->leeway_s);
    return tg_cfg_status(L);
}

static const char *const field_keys[] = {
    "justification",    "owner",       "expires_at", "system",
    "environment",      "entitlement", "privilege",  "beneficiary",
    "beneficiary_type", "emergency",   "approvals",  "approver",
};

static int parse_fields(struct ld *L, const yaml_node_t *n, const char *where,
                        struct tg_field_map *m)
{
    char **slot[COUNT(field_keys)] = {
        &m->justification,    &m->owner,       &m->expires_at, &m->system,
        &m->environment,      &m->entitlement, &m->privilege,  &m->beneficiary,
        &m->beneficiary_type, &m->emergency,   &m->approvals,  &m->approver,
    };
    yaml_node_t *v[COUNT(field_keys)];
    char nm[NAME_CAP];

    if (MAP_KEYS(L, n, where, field_keys, v) != TG_OK)
        return tg_cfg_status(L);
    for (size_t i = 0; i < COUNT(field_keys); i++)
        tg_cfg_get_str(
            L, v[i],
            tg_cfg_name_of(nm, sizeof(nm), "%s.%s", where, field_keys[i]),
            F_REQ, slot[i]);
    return tg_cfg_status(L);
}

static int parse_jira(struct ld *L, const yaml_node_t *n, struct tg_config *c)
{
    static const char *const keys[] = {"hmac_secret", "connect_shared_secret",
                                       "access_issue_types", "fields",
                                       "act_back"};
    enum { HMAC, CONNECT, TYPES, FIELDS, ACTBACK };
    yaml_node_t *v[COUNT(keys)];
    struct tg_jira_conf *j = &c->jira;

    j->set = 1;
    if (MAP_KEYS(L, n, "sources.jira", keys, v) != TG_OK)
        return tg_cfg_status(L);
    tg_cfg_get_str(L, v[HMAC], "sources.jira.hmac_secret", F_SECRET,
                   &j->hmac_secret);
    if (tg_cfg_get_str(L, v[CONNECT], "sources.jira.connect_shared_secret",
                       F_SECRET, &j->connect_shared_secret) == TG_OK)
        short_secret(L, v[CONNECT], "sources.jira.connect_shared_secret",
                     strlen(j->connect_shared_secret));
    if (!v[HMAC] && !v[CONNECT])
        tg_cfg_problem(L, n,
                       "sources.jira has no credential; set hmac_secret "
                       "(webhooks) or connect_shared_secret (Connect JWT)");
    tg_cfg_get_strlist(L, v[TYPES], "sources.jira.access_issue_types", 0,
                       &j->access_issue_types, &j->n_access_issue_types);
    if (v[FIELDS])
        parse_fields(L, v[FIELDS], "sources.jira.fields", &j->fields);
    if (v[ACTBACK]) /* config/actback.c */
        tg_cfg_parse_actback(L, v[ACTBACK], 0, &j->act_back);
    return tg_cfg_status(L);
}

/* Standard Webhooks secrets are "whsec_" and base64 (the prefix optional). */
static int whsec_ok(const char *s)
{
    size_t n, pad = 0;
    if (strncmp(s, "whsec_", 6) == 0)
        s += 6;
    n = strlen(s);
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int b64 = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                  (c >= '0' && c <= '9') || c == '+' || c == '/';
        if (c == '=')
            pad++;
        else if (!b64 || pad)
            return 0;
    }
    return pad <= 2;
}

static int parse_servicenow(struct ld *L, const yaml_node_t *n,
                            struct tg_config *c)
{
    static const char *const keys[] = {"jwt", "standard_webhooks_secret",
                                       "variables", "act_back"};
    enum { JWT, WHSEC, VARS, ACTBACK };
    yaml_node_t *v[COUNT(keys)];
    struct tg_servicenow_conf *s = &c->servicenow;

    s->set = 1;
    if (MAP_KEYS(L, n, "sources.servicenow", keys, v) != TG_OK)
        return tg_cfg_status(L);
    if (v[JWT])
        parse_jwt(L, v[JWT], "sources.servicenow.jwt", &s->jwt);
    if (tg_cfg_get_str(L, v[WHSEC],
                       "sources.servicenow.standard_webhooks_secret", F_SECRET,
                       &s->standard_webhooks_secret) == TG_OK &&
        !whsec_ok(s->standard_webhooks_secret))
        tg_cfg_problem(L, v[WHSEC],
                       "sources.servicenow.standard_webhooks_secret is "
                       "not \"whsec_\" and base64; copy the secret as "
                       "ServiceNow shows it");
    if (!v[JWT] && !v[WHSEC])
        tg_cfg_problem(L, n,
                       "sources.servicenow has no credential; set jwt "
                       "(Bearer tokens) or standard_webhooks_secret");
    if (v[VARS])
        parse_fields(L, v[VARS], "sources.servicenow.variables", &s->variables);
    if (v[ACTBACK]) /* config/actback.c */
        tg_cfg_parse_actback(L, v[ACTBACK], 1, &s->act_back);
    return tg_cfg_status(L);
}

static int parse_generic(struct ld *L, const yaml_node_t *n,
                         struct tg_config *c)
{
    static const char *const keys[] = {"jwt"};
    yaml_node_t *v[COUNT(keys)];

    c->generic.set = 1;
    if (MAP_KEYS(L, n, "sources.generic", keys, v) != TG_OK)
        return tg_cfg_status(L);
    if (!v[0])
        tg_cfg_problem(L, n,
                       "sources.generic.jwt is missing; /v1/check needs the "
                       "Bearer JWT settings (algorithm, secret or "
                       "public_key_file, issuer, audience)");
    else
        parse_jwt(L, v[0], "sources.generic.jwt", &c->generic.jwt);
    return tg_cfg_status(L);
}

int tg_cfg_parse_sources(struct ld *L, const yaml_node_t *n,
                         struct tg_config *c)
{
    static const char *const keys[] = {"jira", "servicenow", "generic",
                                       "events"};
    yaml_node_t *v[COUNT(keys)];

    if (MAP_KEYS(L, n, "sources", keys, v) != TG_OK)
        return tg_cfg_status(L);
    if (v[0])
        parse_jira(L, v[0], c);
    if (v[1])
        parse_servicenow(L, v[1], c);
    if (v[2])
        parse_generic(L, v[2], c);
    if (v[3])
        tg_cfg_parse_events_source(L, v[3], c); /* config/events.c */
    return tg_cfg_status(L);
}

int tg_cfg_parse_jwt(struct ld *L, const yaml_node_t *n, const char *where,
                     struct tg_jwt_conf *j)
{
    return parse_jwt(L, n, where, j);
}

/* ----------------------------------------------------------------- gates */

int tg_cfg_parse_gates(struct ld *L, const yaml_node_t *n, struct tg_config *c)
{
    static const char *const keys[] = {"source", "projects", "to",
                                       "issue_types"};
    enum { SOURCE, PROJECTS, TO, TYPES };
    static const char *const sources[] = {"jira", "servicenow"};
    size_t idx = 0;
    char nm[NAME_CAP], where[NAME_CAP];

    if (!tg_cfg_want_list(L, n, "gates"))
        return tg_cfg_status(L);
    c->gates = calloc(tg_cfg_seq_len(n) + 1, sizeof(*c->gates));
    if (!c->gates)
        return tg_cfg_nomem(L);
    for (yaml_node_item_t *it = n->data.sequence.items.start;
         it < n->data.sequence.items.top; it++, idx++) {
        yaml_node_t *item = tg_cfg_node_at(L, *it);
        struct tg_gate *g = &c->gates[c->n_gates++];
        yaml_node_t *v[COUNT(keys)];
        int src;

        tg_cfg_name_of(where, sizeof(where), "gates[%zu]", idx);
        if (!item || MAP_KEYS(L, item, where, keys, v) != TG_OK)
            continue;
        if (!v[SOURCE])
            tg_cfg_problem(L, item,
                           "%s has no source; write source: jira or "
                           "source: servicenow",
                           where);
        else if (tg_cfg_get_enum(
                     L, v[SOURCE],
                     tg_cfg_name_of(nm, sizeof(nm), "%s.source", where),
                     sources, COUNT(sources), &src) == TG_OK &&
                 !(g->source = strdup(sources[src])))
            return tg_cfg_nomem(L);
        tg_cfg_get_strlist(L, v[PROJECTS],
                           tg_cfg_name_of(nm, sizeof(nm), "%s.projects", where),
                           F_GLOB | F_LOWER, &g->projects, &g->n_projects);
        tg_cfg_get_strlist(L, v[TO],
                           tg_cfg_name_of(nm, sizeof(nm), "%s.to", where), 0,
                           &g->to, &g->n_to);
        tg_cfg_get_strlist(
            L, v[TYPES],
            tg_cfg_name_of(nm, sizeof(nm), "%s.issue_types", where), 0,
            &g->issue_types, &g->n_issue_types);
        if (L->oom)
            break;
    }
    return tg_cfg_status(L);
}

/* ------------------------------------------------------ directory section */

int tg_cfg_parse_directory_section(struct ld *L, const yaml_node_t *n,
                                   struct tg_config *c, yaml_node_t **file_node)
{
    static const char *const keys[] = {"file", "strict", "generic_identities"};
    yaml_node_t *v[COUNT(keys)];
    struct tg_directory *d = &c->directory;

    *file_node = NULL;
    if (MAP_KEYS(L, n, "directory", keys, v) != TG_OK)
        return tg_cfg_status(L);
    if (tg_cfg_get_path(L, v[0], "directory.file", &c->directory_path) == TG_OK)
        *file_node = v[0];
    tg_cfg_get_bool(L, v[1], "directory.strict", &d->strict);
    tg_cfg_get_strlist(L, v[2], "directory.generic_identities",
                       F_GLOB | F_LOWER, &d->generic, &d->n_generic);
    if (d->strict && !v[0])
        tg_cfg_problem(L, n,
                       "directory.strict is true but directory.file is not "
                       "set, so every identity would be unknown; name the "
                       "directory file or set strict: false");
    return tg_cfg_status(L);
}
