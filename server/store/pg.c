/* pg.c - the PostgreSQL store (placeholder until it lands). */

#include "server/store/backend.h"

#include "validators/errors.h"

int tg_pg_open(const struct tg_config *c, struct tg_pg **out)
{
    (void)c;
    (void)out;
    return TG_EIO;
}

void tg_pg_close(struct tg_pg *e)
{
    (void)e;
}

uint64_t tg_pg_next_seq(struct tg_pg *e)
{
    (void)e;
    return 0;
}

int tg_pg_append(struct tg_pg *e, const struct tg_evidence_record *r)
{
    (void)e;
    (void)r;
    return TG_EIO;
}

int tg_pg_append_entry(struct tg_pg *e, const struct tg_evidence_entry *en)
{
    (void)e;
    (void)en;
    return TG_EIO;
}

int tg_pg_scan(struct tg_pg *e, const char *kind, int64_t since, int64_t until,
               tg_evidence_row_fn fn, void *ctx)
{
    (void)e;
    (void)kind;
    (void)since;
    (void)until;
    (void)fn;
    (void)ctx;
    return TG_EIO;
}

int tg_pg_get_entry(struct tg_pg *e, const char *kind, const char *key,
                    char **json)
{
    (void)e;
    (void)kind;
    (void)key;
    (void)json;
    return TG_EIO;
}

int tg_pg_find_delivery(struct tg_pg *e, const char *source,
                        const char *delivery_id,
                        const unsigned char body_sha256[32],
                        char **decision_json)
{
    (void)e;
    (void)source;
    (void)delivery_id;
    (void)body_sha256;
    (void)decision_json;
    return TG_EIO;
}

int tg_pg_find_jti(struct tg_pg *e, const char *source, const char *jti,
                   const unsigned char body_sha256[32], char **decision_json)
{
    (void)e;
    (void)source;
    (void)jti;
    (void)body_sha256;
    (void)decision_json;
    return TG_EIO;
}

int tg_pg_bind_jti(struct tg_pg *e, const char *source, const char *jti,
                   const unsigned char body_sha256[32], int64_t time)
{
    (void)e;
    (void)source;
    (void)jti;
    (void)body_sha256;
    (void)time;
    return TG_EIO;
}

int tg_pg_copy_forward_count(struct tg_pg *e, const char *justification_norm,
                             const char *ticket, int64_t since, long *out)
{
    (void)e;
    (void)justification_norm;
    (void)ticket;
    (void)since;
    (void)out;
    return TG_EIO;
}

int tg_pg_get(struct tg_pg *e, const char *decision_id, char **json)
{
    (void)e;
    (void)decision_id;
    (void)json;
    return TG_EIO;
}

int tg_pg_list(struct tg_pg *e, const char *ticket, int limit, uint64_t before,
               json_t **out)
{
    (void)e;
    (void)ticket;
    (void)limit;
    (void)before;
    (void)out;
    return TG_EIO;
}

int tg_pg_ready(struct tg_pg *e)
{
    (void)e;
    return TG_EIO;
}

const char *tg_pg_failure(struct tg_pg *e)
{
    (void)e;
    return "not built";
}

int tg_pg_outbox_claim(struct tg_pg *e, int64_t now_ms, int max,
                       int64_t lease_ms, json_t **out)
{
    (void)e;
    (void)now_ms;
    (void)max;
    (void)lease_ms;
    (void)out;
    return TG_EIO;
}

int tg_pg_outbox_settle(struct tg_pg *e, int64_t id, const char *outcome,
                        int64_t next_at_ms, const char *error)
{
    (void)e;
    (void)id;
    (void)outcome;
    (void)next_at_ms;
    (void)error;
    return TG_EIO;
}

int tg_pg_outbox_list(struct tg_pg *e, const char *ticket, json_t **out)
{
    (void)e;
    (void)ticket;
    (void)out;
    return TG_EIO;
}

int tg_pg_outbox_stats(struct tg_pg *e, long *pending,
                       int64_t *oldest_created_ms)
{
    (void)e;
    (void)pending;
    (void)oldest_created_ms;
    return TG_EIO;
}

int tg_pg_scan_file(const char *url, const char *kind, int64_t since,
                    int64_t until, tg_evidence_row_fn fn, void *ctx)
{
    (void)url;
    (void)kind;
    (void)since;
    (void)until;
    (void)fn;
    (void)ctx;
    return TG_EIO;
}

int tg_pg_get_entry_file(const char *url, const char *kind, const char *key,
                         char **json)
{
    (void)url;
    (void)kind;
    (void)key;
    (void)json;
    return TG_EIO;
}

int tg_pg_verify_file(const char *url, const unsigned char *key, size_t keylen,
                      struct tg_evidence_verdict *out)
{
    (void)url;
    (void)key;
    (void)keylen;
    (void)out;
    return TG_EIO;
}

int tg_pg_export_file(const char *url, int64_t since, FILE *out,
                      const char **why)
{
    (void)url;
    (void)since;
    (void)out;
    (void)why;
    return TG_EIO;
}

int tg_pg_outbox_list_file(const char *url, const char *ticket, json_t **out)
{
    (void)url;
    (void)ticket;
    (void)out;
    return TG_EIO;
}

int tg_pg_outbox_retry_file(const char *url, int64_t id)
{
    (void)url;
    (void)id;
    return TG_EIO;
}

int tg_pg_outbox_drop_file(const char *url, int64_t id)
{
    (void)url;
    (void)id;
    return TG_EIO;
}
