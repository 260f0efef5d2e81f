/* adapter.h - ITSM payloads to the canonical ticket (contract/ADAPTERS.md). */
#ifndef TG_ADAPTER_H
#define TG_ADAPTER_H

#include <jansson.h>

#include "server/config/config.h"
#include "server/core/request.h"

/*
 * Authenticates a request to POST /v1/webhooks/jira (ADAPTERS.md): with
 * hmac_secret, X-Hub-Signature: sha256=<hex> over the raw body
 * (constant-time); with connect_shared_secret, Authorization: JWT <token>
 * (HS256, qsh checked). Returns 0 or TG_EAUTH. *delivery_id (caller frees)
 * is X-Atlassian-Webhook-Identifier or the Connect JWT's jti, or NULL.
 */
int tg_jira_authenticate(const struct tg_config *c,
                         const struct tg_http_req *r, char **delivery_id);
/* The same, keeping the two apart (API.md: a jti is single-use whatever
 * delivery id a request names): *delivery_id is
 * X-Atlassian-Webhook-Identifier or NULL, *jti the Connect JWT's jti or NULL
 * (both caller frees). */
int tg_jira_authenticate_ids(const struct tg_config *c,
                             const struct tg_http_req *r, char **delivery_id,
                             char **jti);

/*
 * Maps a Jira webhook or validator-call body to the canonical ticket JSON
 * (TICKET.md). *gated is 1 when a gate of c selects it (source jira, project,
 * issue type, target status), else 0 (the answer is then skip; *canonical may
 * still be set for the record). Returns 0; TG_EINVAL with err naming the
 * missing path ("issue.key") for 422; TG_ENOMEM.
 */
int tg_jira_map(const struct tg_config *c, const json_t *body,
                json_t **canonical, int *gated, char *err, size_t cap);

/* Same for POST /v1/webhooks/servicenow: Bearer JWT (sources.servicenow.jwt)
 * or Standard Webhooks headers. *delivery_id is the JWT jti or webhook-id
 * (event_id in the body takes precedence; tg_servicenow_map sets it). */
int tg_servicenow_authenticate(const struct tg_config *c,
                               const struct tg_http_req *r,
                               char **delivery_id);
/* The same, keeping the two apart: *delivery_id is webhook-id or NULL, *jti
 * the Bearer JWT's jti or NULL (both caller frees). */
int tg_servicenow_authenticate_ids(const struct tg_config *c,
                                   const struct tg_http_req *r,
                                   char **delivery_id, char **jti);
int tg_servicenow_map(const struct tg_config *c, const json_t *body,
                      json_t **canonical, int *gated, char **event_id,
                      char *err, size_t cap);

/*
 * A webhook source of ADAPTERS.md: its name (the endpoint's, and the
 * namespace of its delivery ids and jtis), how it authenticates and maps,
 * and whether its 401 names the Bearer scheme. authenticate is as
 * tg_jira_authenticate_ids; map as tg_servicenow_map, which sets
 * *event_id to a delivery id found in the body, or leaves it NULL.
 */
struct tg_adapter {
    const char *source;
    int (*authenticate)(const struct tg_config *c,
                        const struct tg_http_req *r, char **delivery_id,
                        char **jti);
    int (*map)(const struct tg_config *c, const json_t *body,
               json_t **canonical, int *gated, char **event_id, char *err,
               size_t cap);
    int bearer;
};

/* The adapter of source ("jira", "servicenow"), or NULL (registry.c holds
 * the one table). */
const struct tg_adapter *tg_adapter_find(const char *source);

#endif
