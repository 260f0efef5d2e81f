/* config.c - loads ticketgate.yaml and its directory into struct tg_config. */
#include "server/config/internal.h"
#include "server/util/digest.h"

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

/* ---------------------------------------------------------------- digest */

static int digest(const char *a, size_t alen, const char *b, size_t blen,
                  char out[72])
{
    const void *part[2] = {a, b};
    const size_t len[2] = {alen, blen};
    unsigned char md[TG_DIGEST_LEN];

    /* Any failure here was always reported as out of memory. */
    if (tg_digest_sha256_parts(part, len, 2, md) != 0)
        return TG_ENOMEM;
    memcpy(out, "sha256:", 7);
    tg_digest_hex(md, sizeof(md), out + 7);
    return TG_OK;
}

/* ------------------------------------------------------------------- load */

static int set_defaults(struct tg_config *c, struct ld *L)
{
    c->server.listen = strdup("127.0.0.1:8080");
    c->server.log_level = strdup("info");
    c->server.threads = 16;
    c->server.max_body_bytes = 1048576;
    c->server.request_timeout_ms = 10000;
    c->server.keep_alive_timeout_ms = 5000;
    /* 8 per thread unless set: 4x the workers in slow clients (issue 10)
     * with room to spare; each is a CivetWeb thread with its own touched
     * stack, so 16 a thread cost 5 MB of resident memory for nothing. */
    c->server.connections = 8 * 16;
    c->server.max_token_lifetime_s = 86400;
    c->store.sync = TG_SYNC_NORMAL;
    c->store.busy_timeout_ms = 2000;
    if (!c->server.listen || !c->server.log_level)
        return tg_cfg_nomem(L);
    return tg_cfg_resolve(L, "./data/ticketgate.db", &c->store.path);
}

static int parse_root(struct ld *L, const yaml_node_t *root,
                      struct tg_config *c, yaml_node_t **dirfile)
{
    static const char *const keys[] = {"server", "store",  "sources",
                                       "gates",  "policy", "directory",
                                       "events"};
    enum { SERVER, STORE, SOURCES, GATES, POLICY, DIRECTORY, EVENTS };
    yaml_node_t *v[COUNT(keys)];

    *dirfile = NULL;
    if (MAP_KEYS(L, root, "the configuration", keys, v) != TG_OK)
        return tg_cfg_status(L);
    if (v[SERVER])
        tg_cfg_parse_server(L, v[SERVER], c);
    if (v[STORE] && !L->oom)
        tg_cfg_parse_store(L, v[STORE], c);
    if (v[SOURCES] && !L->oom)
        tg_cfg_parse_sources(L, v[SOURCES], c);
    if (v[GATES] && !L->oom)
        tg_cfg_parse_gates(L, v[GATES], c);
    tg_cfg_check_actback(L, c); /* config/actback.c: needs the gates */
    if (v[POLICY] && !L->oom)
        tg_cfg_parse_policy(L, v[POLICY], c);
    if (v[DIRECTORY] && !L->oom)
        tg_cfg_parse_directory_section(L, v[DIRECTORY], c, dirfile);
    if (v[EVENTS] && !L->oom)
        tg_cfg_parse_events(L, v[EVENTS], c); /* config/events.c */
    /* The verifiers see only their jwt section. */
    c->generic.jwt.max_lifetime_s = c->server.max_token_lifetime_s;
    c->servicenow.jwt.max_lifetime_s = c->server.max_token_lifetime_s;
    return tg_cfg_status(L);
}

/* A new configuration for path, with its defaults set, in *out (also when
 * this fails part way: tg_config_free() takes it as it is). Returns TG_OK or
 * TG_ENOMEM. */
static int config_new(struct ld *L, const char *path, struct tg_config **out)
{
    struct tg_config *c = calloc(1, sizeof(*c));
    int rc;

    *out = c;
    if (!c)
        return TG_ENOMEM;
    tg_directory_init(&c->directory);
    c->path = strdup(path);
    c->basedir = tg_cfg_dir_of(path);
    if (!c->path || !c->basedir)
        return TG_ENOMEM;
    L->basedir = c->basedir;
    if ((rc = tg_policy_init_defaults(&c->policy)) != TG_OK)
        return rc;
    return set_defaults(c, L);
}

/* Reads the configuration file's bytes, saying what to do when it cannot.
 * Returns TG_OK, TG_EIO, TG_EINVAL (too large) or TG_ENOMEM. */
static int read_config(struct tg_diag *diag, const char *path, char **text,
                       size_t *len)
{
    int err;
    int rc = tg_cfg_read_file(path, CONFIG_MAX_BYTES, text, len, &err);

    if (rc == TG_EIO) {
        tg_diag_add(diag, path, 0,
                    "cannot read the configuration (%s); "
                    "check the path given with -c",
                    strerror(err ? err : EIO));
    } else if (rc == TG_ETOOBIG) {
        tg_diag_add(diag, path, 0,
                    "the configuration is larger than %zu "
                    "bytes; is -c naming the right file?",
                    (size_t)CONFIG_MAX_BYTES);
        rc = TG_EINVAL;
    }
    return rc;
}

/* Parses the configuration's text and the directory it names into c, and
 * sets the policy digest over both files' bytes. *have says whether doc
 * holds a document to delete; the directory's text is left in *dtext. */
static int parse_all(struct ld *L, struct tg_config *c, const char *text,
                     size_t len, int *have, char **dtext, size_t *dlen)
{
    yaml_node_t *dirfile = NULL;
    int rc;

    if ((rc = tg_cfg_yaml_load(L, text, len, L->doc, have)) != TG_OK)
        return rc;
    if ((rc = parse_root(L, yaml_document_get_root_node(L->doc), c,
                         &dirfile)) != TG_OK)
        return rc;
    if (c->directory_path) {
        if ((rc = tg_cfg_load_directory(L, c, dirfile, dtext, dlen)) != TG_OK)
            return rc;
    } else if ((rc = tg_directory_index(&c->directory, NULL)) != TG_OK) {
        return rc;
    }
    /* An exception's owner must be an individual of this directory. */
    tg_cfg_check_exception_owners(L, c);
    tg_cfg_check_events(L, c); /* mappings name directory systems */
    return digest(text, len, *dtext, *dlen, c->digest);
}

int tg_config_load(const char *path, struct tg_config **out,
                   struct tg_diag *diag)
{
    struct tg_config *c = NULL;
    struct tg_diag local;
    yaml_document_t doc;
    char *text = NULL, *dtext = NULL;
    size_t len = 0, dlen = 0;
    int have = 0, rc;

    tg_diag_init(&local);
    if (!diag)
        diag = &local;
    struct dkeys keys = {.base = diag->n};
    struct ld L = {
        .keys = &keys,
        .diag = diag,
        .file = path,
        .doc = &doc,
        .subst = 1,
    };
    if (!path || !out) {
        rc = TG_EINVAL;
        goto out;
    }
    if ((rc = config_new(&L, path, &c)) != TG_OK)
        goto out;
    if ((rc = read_config(diag, path, &text, &len)) != TG_OK)
        goto out;
    if ((rc = parse_all(&L, c, text, len, &have, &dtext, &dlen)) != TG_OK)
        goto out;
    rc = L.oom ? TG_ENOMEM : L.errors ? TG_EINVAL : TG_OK;
    if (rc == TG_OK) {
        /* the digest's bytes go with it (struct tg_config) */
        c->text = text;
        c->text_len = len;
        c->dir_text = dtext;
        c->dir_text_len = dlen;
        text = dtext = NULL;
        *out = c;
        c = NULL;
    }
out:
    tg_cfg_sort_diags(diag, &keys);
    free(keys.v);
    if (rc == TG_EINVAL && diag->n == 0 && L.errors == 0 && path)
        tg_diag_add(diag, path, 0, "the configuration could not be loaded");
    if (have) {
        tg_cfg_wipe_document(&doc);
        yaml_document_delete(&doc);
    }
    tg_cfg_free_text(text, len);
    tg_cfg_free_text(dtext, dlen);
    tg_config_free(c);
    tg_diag_cleanup(&local);
    if (rc == TG_OK || rc == TG_EIO || rc == TG_ENOMEM)
        return rc;
    return TG_EINVAL;
}

/* ------------------------------------------------------------------- free */

static void jwt_free(struct tg_jwt_conf *j)
{
    if (j->key)
        OPENSSL_cleanse(j->key, j->key_len);
    free(j->key);
    free(j->issuer);
    free(j->audience);
}

static void fields_free(struct tg_field_map *m)
{
    free(m->justification);
    free(m->owner);
    free(m->expires_at);
    free(m->system);
    free(m->environment);
    free(m->entitlement);
    free(m->privilege);
    free(m->beneficiary);
    free(m->beneficiary_type);
    free(m->emergency);
    free(m->approvals);
    free(m->approver);
}

void tg_config_free(struct tg_config *c)
{
    if (!c)
        return;
    free(c->path);
    free(c->basedir);
    tg_cfg_free_text(c->text, c->text_len);
    tg_cfg_free_text(c->dir_text, c->dir_text_len);
    free(c->server.listen);
    free(c->server.tls_certificate);
    free(c->server.tls_client_ca);
    free(c->server.admin_listen);
    free(c->server.log_level);
    free(c->store.path);
    if (c->store.hmac_key)
        OPENSSL_cleanse(c->store.hmac_key, c->store.hmac_key_len);
    free(c->store.hmac_key);
    tg_cfg_free_secret(c->store.url);
    tg_cfg_free_secret(c->jira.hmac_secret);
    tg_cfg_free_secret(c->jira.connect_shared_secret);
    tg_cfg_free_strs(c->jira.access_issue_types, c->jira.n_access_issue_types);
    fields_free(&c->jira.fields);
    jwt_free(&c->servicenow.jwt);
    tg_cfg_free_secret(c->servicenow.standard_webhooks_secret);
    fields_free(&c->servicenow.variables);
    tg_cfg_actback_free(&c->jira.act_back);
    tg_cfg_actback_free(&c->servicenow.act_back);
    jwt_free(&c->generic.jwt);
    for (size_t i = 0; i < c->n_gates; i++) {
        free(c->gates[i].source);
        tg_cfg_free_strs(c->gates[i].projects, c->gates[i].n_projects);
        tg_cfg_free_strs(c->gates[i].to, c->gates[i].n_to);
        tg_cfg_free_strs(c->gates[i].issue_types, c->gates[i].n_issue_types);
    }
    free(c->gates);
    tg_policy_cleanup(&c->policy);
    tg_exceptions_cleanup(&c->exceptions);
    tg_directory_cleanup(&c->directory);
    free(c->directory_path);
    tg_cfg_free_events(&c->events);
    free(c->shadow_path);
    free(c);
}
