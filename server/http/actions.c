/* actions.c - GET /v1/actions?ticket=KEY: a ticket's act-back actions. */
#include "server/http/internal.h"

#include <civetweb.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "server/store/store.h"
#include "validators/errors.h"

/*
 * Each act-back action queued for the ticket (oldest first, at most 1000)
 * with its state, attempts and last error: {"actions": [...]} as store.h
 * describes one. The decision reads' authentication (sources.generic
 * Bearer JWT); 400 without a ticket; a ticket with none answers an empty
 * list (the reads cannot tell a ticket never seen from one never acted on).
 */
void tg_http_on_actions(struct rq *q)
{
    char ticket[512], *jti = NULL;
    json_t *out = NULL;
    int rc;

    tg_http_work_begin(q);
    if (tg_http_auth_generic(q, &jti) != 0)
        goto out;
    if (tg_http_query_ticket(q, "/v1/actions", ticket, sizeof(ticket)))
        goto out;
    rc = tg_outbox_list(q->h->ev, ticket, &out);
    if (rc != 0) {
        tg_http_send_store_failure(q, rc);
        goto out;
    }
    tg_http_send_doc(q, 200, out);
out:
    json_decref(out);
    free(jti);
}
