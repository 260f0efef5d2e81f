/* dispatch.c - store.h: each call to the backend of store.driver. */

#include "server/store/backend.h"

#include <stdlib.h>
#include <string.h>

#include "server/util/log.h"
#include "validators/errors.h"

/* The handle store.h hands out: exactly one of the two is set. */
struct tg_evidence {
    struct tg_sq *sq;
    struct tg_pg *pg;
};

int tg_store_is_pg_url(const char *path)
{
    return path && (strncmp(path, "postgresql://", 13) == 0 ||
                    strncmp(path, "postgres://", 11) == 0);
}

int tg_evidence_open(const struct tg_config *c, struct tg_evidence **out)
{
    struct tg_evidence *e;
    int rc;

    if (!c || !out)
        return TG_EINVAL;
    if (!(e = calloc(1, sizeof *e)))
        return TG_ENOMEM;
    rc = c->store.driver == TG_STORE_POSTGRESQL ? tg_pg_open(c, &e->pg)
                                                : tg_sq_open(c, &e->sq);
    if (rc) {
        free(e);
        return rc;
    }
    *out = e;
    return 0;
}

void tg_evidence_close(struct tg_evidence *e)
{
    if (!e)
        return;
    if (e && e->pg)
        tg_pg_close(e->pg);
    else
        tg_sq_close(e ? e->sq : NULL);
    free(e);
}

uint64_t tg_evidence_next_seq(struct tg_evidence *e)
{
    return e && e->pg ? tg_pg_next_seq(e->pg)
                      : tg_sq_next_seq(e ? e->sq : NULL);
}

int tg_evidence_append(struct tg_evidence *e,
                       const struct tg_evidence_record *r)
{
    return e && e->pg ? tg_pg_append(e->pg, r)
                      : tg_sq_append(e ? e->sq : NULL, r);
}

int tg_evidence_append_entry(struct tg_evidence *e,
                             const struct tg_evidence_entry *en)
{
    return e && e->pg ? tg_pg_append_entry(e->pg, en)
                      : tg_sq_append_entry(e ? e->sq : NULL, en);
}

int tg_evidence_scan(struct tg_evidence *e, const char *kind, int64_t since,
                     int64_t until, tg_evidence_row_fn fn, void *ctx)
{
    return e && e->pg
               ? tg_pg_scan(e->pg, kind, since, until, fn, ctx)
               : tg_sq_scan(e ? e->sq : NULL, kind, since, until, fn, ctx);
}

int tg_evidence_get_entry(struct tg_evidence *e, const char *kind,
                          const char *key, char **json)
{
    return e && e->pg ? tg_pg_get_entry(e->pg, kind, key, json)
                      : tg_sq_get_entry(e ? e->sq : NULL, kind, key, json);
}

int tg_evidence_find_delivery(struct tg_evidence *e, const char *source,
                              const char *delivery_id,
                              const unsigned char body_sha256[32],
                              char **decision_json)
{
    return e && e->pg
               ? tg_pg_find_delivery(e->pg, source, delivery_id, body_sha256,
                                     decision_json)
               : tg_sq_find_delivery(e ? e->sq : NULL, source, delivery_id,
                                     body_sha256, decision_json);
}

int tg_evidence_find_jti(struct tg_evidence *e, const char *source,
                         const char *jti, const unsigned char body_sha256[32],
                         char **decision_json)
{
    return e && e->pg
               ? tg_pg_find_jti(e->pg, source, jti, body_sha256, decision_json)
               : tg_sq_find_jti(e ? e->sq : NULL, source, jti, body_sha256,
                                decision_json);
}

int tg_evidence_bind_jti(struct tg_evidence *e, const char *source,
                         const char *jti, const unsigned char body_sha256[32],
                         int64_t time)
{
    return e && e->pg ? tg_pg_bind_jti(e->pg, source, jti, body_sha256, time)
                      : tg_sq_bind_jti(e ? e->sq : NULL, source, jti,
                                       body_sha256, time);
}

int tg_evidence_copy_forward_count(struct tg_evidence *e,
                                   const char *justification_norm,
                                   const char *ticket, int64_t since, long *out)
{
    return e && e->pg
               ? tg_pg_copy_forward_count(e->pg, justification_norm, ticket,
                                          since, out)
               : tg_sq_copy_forward_count(e ? e->sq : NULL, justification_norm,
                                          ticket, since, out);
}

int tg_evidence_get(struct tg_evidence *e, const char *decision_id, char **json)
{
    return e && e->pg ? tg_pg_get(e->pg, decision_id, json)
                      : tg_sq_get(e ? e->sq : NULL, decision_id, json);
}

int tg_evidence_list(struct tg_evidence *e, const char *ticket, int limit,
                     uint64_t before, json_t **out)
{
    return e && e->pg
               ? tg_pg_list(e->pg, ticket, limit, before, out)
               : tg_sq_list(e ? e->sq : NULL, ticket, limit, before, out);
}

int tg_evidence_ready(struct tg_evidence *e)
{
    return e && e->pg ? tg_pg_ready(e->pg) : tg_sq_ready(e ? e->sq : NULL);
}

const char *tg_evidence_failure(struct tg_evidence *e)
{
    return e && e->pg ? tg_pg_failure(e->pg) : tg_sq_failure(e ? e->sq : NULL);
}

int tg_outbox_claim(struct tg_evidence *e, int64_t now_ms, int max,
                    int64_t lease_ms, json_t **out)
{
    return e && e->pg ? tg_pg_outbox_claim(e->pg, now_ms, max, lease_ms, out)
                      : tg_sq_outbox_claim(e ? e->sq : NULL, now_ms, max,
                                           lease_ms, out);
}

int tg_outbox_settle(struct tg_evidence *e, int64_t id, const char *outcome,
                     int64_t next_at_ms, const char *error)
{
    return e && e->pg
               ? tg_pg_outbox_settle(e->pg, id, outcome, next_at_ms, error)
               : tg_sq_outbox_settle(e ? e->sq : NULL, id, outcome, next_at_ms,
                                     error);
}

int tg_outbox_list(struct tg_evidence *e, const char *ticket, json_t **out)
{
    return e && e->pg ? tg_pg_outbox_list(e->pg, ticket, out)
                      : tg_sq_outbox_list(e ? e->sq : NULL, ticket, out);
}

int tg_outbox_stats(struct tg_evidence *e, long *pending,
                    int64_t *oldest_created_ms)
{
    return e && e->pg ? tg_pg_outbox_stats(e->pg, pending, oldest_created_ms)
                      : tg_sq_outbox_stats(e ? e->sq : NULL, pending,
                                           oldest_created_ms);
}

int tg_evidence_scan_file(const char *path, const char *kind, int64_t since,
                          int64_t until, tg_evidence_row_fn fn, void *ctx)
{
    return tg_store_is_pg_url(path)
               ? tg_pg_scan_file(path, kind, since, until, fn, ctx)
               : tg_sq_scan_file(path, kind, since, until, fn, ctx);
}

int tg_evidence_scan_file_facts(const char *path, int64_t since,
                                int64_t until, tg_evidence_row_fn fn,
                                void *ctx)
{
    return tg_store_is_pg_url(path)
               ? tg_pg_scan_file(path, NULL, since, until, fn, ctx)
               : tg_sq_scan_file_facts(path, since, until, fn, ctx);
}

int tg_evidence_get_entry_file(const char *path, const char *kind,
                               const char *key, char **json)
{
    return tg_store_is_pg_url(path)
               ? tg_pg_get_entry_file(path, kind, key, json)
               : tg_sq_get_entry_file(path, kind, key, json);
}

int tg_evidence_verify_file(const char *path, const unsigned char *key,
                            size_t keylen, struct tg_evidence_verdict *out)
{
    return tg_store_is_pg_url(path) ? tg_pg_verify_file(path, key, keylen, out)
                                    : tg_sq_verify_file(path, key, keylen, out);
}

int tg_evidence_export_file(const char *path, int64_t since, FILE *out,
                            const char **why)
{
    return tg_store_is_pg_url(path) ? tg_pg_export_file(path, since, out, why)
                                    : tg_sq_export_file(path, since, out, why);
}

int tg_evidence_archive_file(const char *path, uint64_t before,
                             const char *archive_path, const unsigned char *key,
                             size_t keylen, int busy_timeout_ms,
                             uint64_t *moved)
{
    if (tg_store_is_pg_url(path))
        return tg_pg_archive_file(path, before, archive_path, key, keylen,
                                  busy_timeout_ms, moved);
    return tg_sq_archive_file(path, before, archive_path, key, keylen,
                              busy_timeout_ms, moved);
}

int tg_outbox_list_file(const char *path, const char *ticket, json_t **out)
{
    return tg_store_is_pg_url(path) ? tg_pg_outbox_list_file(path, ticket, out)
                                    : tg_sq_outbox_list_file(path, ticket, out);
}

int tg_outbox_retry_file(const char *path, int64_t id)
{
    return tg_store_is_pg_url(path) ? tg_pg_outbox_retry_file(path, id)
                                    : tg_sq_outbox_retry_file(path, id);
}

int tg_outbox_drop_file(const char *path, int64_t id)
{
    return tg_store_is_pg_url(path) ? tg_pg_outbox_drop_file(path, id)
                                    : tg_sq_outbox_drop_file(path, id);
}
