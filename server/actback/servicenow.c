/* servicenow.c - act-back on a ServiceNow request: reject the approval,
 * add a work note (Table API, PATCH). */
#include "server/actback/deliver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "validators/errors.h"

json_t *tg_actback_sn_reject_body(const char *text)
{
    return json_pack("{s:s, s:s}", "state", "rejected", "comments",
                     text ? text : "");
}

json_t *tg_actback_sn_work_note_body(const char *text)
{
    return json_pack("{s:s}", "work_notes", text ? text : "");
}

/* A sys_id is 32 hexadecimal digits. */
static int is_sys_id(const char *s)
{
    size_t i;
    if (!s || strlen(s) != 32)
        return 0;
    for (i = 0; i < 32; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
              (s[i] >= 'A' && s[i] <= 'F')))
            return 0;
    return 1;
}

void tg_actback_sn_deliver(struct tg_actback_http *h,
                           const struct tg_actback_target *t,
                           const char *action, const json_t *params,
                           struct tg_actback_result *res)
{
    const char *table, *key, *step, *sys_id;
    const char *text = json_string_value(json_object_get(params, "text"));
    json_t *body = NULL;
    struct tg_actback_resp r;
    char path[128], *doc = NULL;
    int rc;

    res->outcome = TG_ACTBACK_DEAD;
    res->retry_after_ms = -1;
    res->stopped = 0;
    res->error[0] = '\0';
    if (strcmp(action, "reject_approval") == 0) {
        table = "sysapproval_approver";
        key = "approval_sys_id";
        step = "PATCH approval";
    } else if (strcmp(action, "work_note") == 0) {
        table = "sc_req_item";
        key = "ritm_sys_id";
        step = "PATCH work note";
    } else {
        snprintf(res->error, sizeof(res->error),
                 "unknown ServiceNow action \"%.40s\"", action);
        return;
    }
    sys_id = json_string_value(json_object_get(params, key));
    if (!is_sys_id(sys_id)) {
        snprintf(res->error, sizeof(res->error),
                 "%s is not a ServiceNow sys_id (32 hexadecimal digits)", key);
        return;
    }
    snprintf(path, sizeof(path), "/api/now/table/%s/%s", table, sys_id);
    body = key[0] == 'a' ? tg_actback_sn_reject_body(text)
                         : tg_actback_sn_work_note_body(text);
    doc = body ? tg_actback_dump(body) : NULL;
    if (!doc) {
        res->outcome = TG_ACTBACK_RETRY;
        snprintf(res->error, sizeof(res->error), "out of memory");
        goto out;
    }
    rc = tg_actback_http_do(h, t, "PATCH", path, doc, &r);
    if (rc == 0 && r.status >= 200 && r.status <= 299)
        res->outcome = TG_ACTBACK_DELIVERED;
    else
        tg_actback_fail(res, step, rc, &r);
    tg_actback_resp_cleanup(&r);
out:
    free(doc);
    json_decref(body);
}
