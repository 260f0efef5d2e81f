/* backend.h - the two store backends behind store.h (dispatch.c picks). */
#ifndef TG_STORE_BACKEND_H
#define TG_STORE_BACKEND_H

/*
 * store.h is the only way into storage; dispatch.c implements it by handing
 * each call to the backend the store was opened with (store.driver), or,
 * for the offline forms, the one the path names: "postgresql://..." or
 * "postgres://..." (a libpq URL) is PostgreSQL, anything else an SQLite
 * file. Each function below has the contract of its tg_evidence_* /
 * tg_outbox_* namesake in store.h.
 */

#include "server/store/store.h"

struct tg_sq; /* the SQLite store (sqlite.c, writer.c, reads.c, ...) */
struct tg_pg; /* the PostgreSQL store (pg*.c) */

/* 1 when path is a PostgreSQL URL rather than a file. */
int tg_store_is_pg_url(const char *path);

/* ---- SQLite */
int tg_sq_open(const struct tg_config *c, struct tg_sq **out);
void tg_sq_close(struct tg_sq *e);
uint64_t tg_sq_next_seq(struct tg_sq *e);
int tg_sq_append(struct tg_sq *e, const struct tg_evidence_record *r);
int tg_sq_append_entry(struct tg_sq *e, const struct tg_evidence_entry *en);
int tg_sq_scan(struct tg_sq *e, const char *kind, int64_t since, int64_t until,
               tg_evidence_row_fn fn, void *ctx);
int tg_sq_get_entry(struct tg_sq *e, const char *kind, const char *key,
                    char **json);
int tg_sq_find_delivery(struct tg_sq *e, const char *source,
                        const char *delivery_id,
                        const unsigned char body_sha256[32],
                        char **decision_json);
int tg_sq_find_jti(struct tg_sq *e, const char *source, const char *jti,
                   const unsigned char body_sha256[32], char **decision_json);
int tg_sq_bind_jti(struct tg_sq *e, const char *source, const char *jti,
                   const unsigned char body_sha256[32], int64_t time);
int tg_sq_copy_forward_count(struct tg_sq *e, const char *justification_norm,
                             const char *ticket, int64_t since, long *out);
int tg_sq_get(struct tg_sq *e, const char *decision_id, char **json);
int tg_sq_list(struct tg_sq *e, const char *ticket, int limit, uint64_t before,
               json_t **out);
int tg_sq_ready(struct tg_sq *e);
const char *tg_sq_failure(struct tg_sq *e);
int tg_sq_outbox_claim(struct tg_sq *e, int64_t now_ms, int max,
                       int64_t lease_ms, json_t **out);
int tg_sq_outbox_settle(struct tg_sq *e, int64_t id, const char *outcome,
                        int64_t next_at_ms, const char *error);
int tg_sq_outbox_list(struct tg_sq *e, const char *ticket, json_t **out);
int tg_sq_outbox_stats(struct tg_sq *e, long *pending,
                       int64_t *oldest_created_ms);
int tg_sq_scan_file(const char *path, const char *kind, int64_t since,
                    int64_t until, tg_evidence_row_fn fn, void *ctx);
int tg_sq_scan_file_facts(const char *path, int64_t since, int64_t until,
                          tg_evidence_row_fn fn, void *ctx);
int tg_sq_get_entry_file(const char *path, const char *kind, const char *key,
                         char **json);
int tg_sq_verify_file(const char *path, const unsigned char *key, size_t keylen,
                      struct tg_evidence_verdict *out);
int tg_sq_export_file(const char *path, int64_t since, FILE *out,
                      const char **why);
int tg_sq_archive_file(const char *path, uint64_t before,
                       const char *archive_path, const unsigned char *key,
                       size_t keylen, int busy_timeout_ms, uint64_t *moved);
int tg_sq_outbox_list_file(const char *path, const char *ticket, json_t **out);
int tg_sq_outbox_retry_file(const char *path, int64_t id);
int tg_sq_outbox_drop_file(const char *path, int64_t id);

/* ---- PostgreSQL (the offline forms take the URL as path) */
int tg_pg_open(const struct tg_config *c, struct tg_pg **out);
void tg_pg_close(struct tg_pg *e);
uint64_t tg_pg_next_seq(struct tg_pg *e);
int tg_pg_append(struct tg_pg *e, const struct tg_evidence_record *r);
int tg_pg_append_entry(struct tg_pg *e, const struct tg_evidence_entry *en);
int tg_pg_scan(struct tg_pg *e, const char *kind, int64_t since, int64_t until,
               tg_evidence_row_fn fn, void *ctx);
int tg_pg_get_entry(struct tg_pg *e, const char *kind, const char *key,
                    char **json);
int tg_pg_find_delivery(struct tg_pg *e, const char *source,
                        const char *delivery_id,
                        const unsigned char body_sha256[32],
                        char **decision_json);
int tg_pg_find_jti(struct tg_pg *e, const char *source, const char *jti,
                   const unsigned char body_sha256[32], char **decision_json);
int tg_pg_bind_jti(struct tg_pg *e, const char *source, const char *jti,
                   const unsigned char body_sha256[32], int64_t time);
int tg_pg_copy_forward_count(struct tg_pg *e, const char *justification_norm,
                             const char *ticket, int64_t since, long *out);
int tg_pg_get(struct tg_pg *e, const char *decision_id, char **json);
int tg_pg_list(struct tg_pg *e, const char *ticket, int limit, uint64_t before,
               json_t **out);
int tg_pg_ready(struct tg_pg *e);
const char *tg_pg_failure(struct tg_pg *e);
int tg_pg_outbox_claim(struct tg_pg *e, int64_t now_ms, int max,
                       int64_t lease_ms, json_t **out);
int tg_pg_outbox_settle(struct tg_pg *e, int64_t id, const char *outcome,
                        int64_t next_at_ms, const char *error);
int tg_pg_outbox_list(struct tg_pg *e, const char *ticket, json_t **out);
int tg_pg_outbox_stats(struct tg_pg *e, long *pending,
                       int64_t *oldest_created_ms);
int tg_pg_scan_file(const char *url, const char *kind, int64_t since,
                    int64_t until, tg_evidence_row_fn fn, void *ctx);
int tg_pg_get_entry_file(const char *url, const char *kind, const char *key,
                         char **json);
int tg_pg_verify_file(const char *url, const unsigned char *key, size_t keylen,
                      struct tg_evidence_verdict *out);
int tg_pg_export_file(const char *url, int64_t since, FILE *out,
                      const char **why);
int tg_pg_archive_file(const char *url, uint64_t before,
                       const char *archive_path, const unsigned char *key,
                       size_t keylen, int busy_ms, uint64_t *moved);
int tg_pg_outbox_list_file(const char *url, const char *ticket, json_t **out);
int tg_pg_outbox_retry_file(const char *url, int64_t id);
int tg_pg_outbox_drop_file(const char *url, int64_t id);
/* tg_evidence_show_file (show.h) on the database at url */
struct tg_evidence_shown;
int tg_pg_show_file(const char *url, const char *decision_id,
                    struct tg_evidence_shown *out);

#endif
