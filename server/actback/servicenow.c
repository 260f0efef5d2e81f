/* servicenow.c - act-back on a ServiceNow request: reject the approval,
 * add a work note (Table API, PATCH). */
#include "server/actback/deliver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

int tg_actback_sn_check_rejected(const char *body, size_t len, char *why,
                                 size_t cap)
{
    json_t *doc = body && len ? json_loadb(body, len, 0, NULL) : NULL;
    const json_t *st = json_object_get(json_object_get(doc, "result"), "state");
    const char *v = json_string_value(st);
    int bad = 0;

    /* The Table API answers 200 with the record as stored; a field the
     * account may not write (a field ACL) is left as it was, silently. */
    if (v && strcasecmp(v, "rejected") != 0) {
        bad = 1;
        snprintf(why, cap,
                 "PATCH approval: HTTP 200 but the approval's state is "
                 "\"%.40s\", not rejected (the account may not write "
                 "sysapproval_approver.state: a field ACL, or a business rule "
                 "kept it)",
                 v);
    }
    json_decref(doc);
    return bad;
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

/* Whether the RITM's work notes already hold marker: 1 yes, 0 no, -1 could
 * not tell (res set). The journal is read as its display value, every
 * entry's text in one string (read access to the RITM is enough; the
 * sys_journal_field table usually is not readable). */
static int note_posted(struct tg_actback_http *h,
                       const struct tg_actback_target *t, const char *sys_id,
                       const char *marker, struct tg_actback_result *res)
{
    struct tg_actback_resp r;
    char path[160];
    json_t *doc = NULL;
    const char *notes;
    int rc, found = -1;

    snprintf(path, sizeof(path),
             "/api/now/table/sc_req_item/%s?sysparm_fields=work_notes"
             "&sysparm_display_value=true",
             sys_id);
    rc = tg_actback_http_do(h, t, "GET", path, NULL, &r);
    if (rc != 0 || r.status < 200 || r.status > 299) {
        tg_actback_fail(res, "GET work notes", rc, &r);
        goto out;
    }
    doc = r.body ? json_loadb(r.body, r.len, 0, NULL) : NULL;
    notes = json_string_value(
        json_object_get(json_object_get(doc, "result"), "work_notes"));
    if (!notes) {
        res->outcome = TG_ACTBACK_RETRY;
        res->retry_after_ms = -1;
        snprintf(res->error, sizeof(res->error),
                 "GET work notes: HTTP %ld without result.work_notes",
                 r.status);
        goto out;
    }
    found = strstr(notes, marker) != NULL;
out:
    json_decref(doc);
    tg_actback_resp_cleanup(&r);
    return found;
}

void tg_actback_sn_deliver(struct tg_actback_http *h,
                           const struct tg_actback_target *t,
                           const char *action, const json_t *params,
                           int retried, struct tg_actback_result *res)
{
    const char *marker = json_string_value(json_object_get(params, "marker"));
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
    /* A work note is a journal entry: one that may have landed before
     * (a timeout, a 5xx) is not added twice. */
    if (retried && key[0] == 'r' && marker && *marker) {
        int seen = note_posted(h, t, sys_id, marker, res);
        if (seen < 0)
            return;
        if (seen) {
            res->outcome = TG_ACTBACK_SKIPPED;
            snprintf(res->error, sizeof(res->error),
                     "the work note %.100s is already on the item", marker);
            return;
        }
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
    if (rc == 0 && r.status >= 200 && r.status <= 299) {
        res->outcome = TG_ACTBACK_DELIVERED;
        /* Retrying would not help: the account's rights need a fix. */
        if (key[0] == 'a' &&
            tg_actback_sn_check_rejected(r.body, r.len, res->error,
                                         sizeof(res->error)))
            res->outcome = TG_ACTBACK_DEAD;
    } else
        tg_actback_fail(res, step, rc, &r);
    tg_actback_resp_cleanup(&r);
out:
    free(doc);
    json_decref(body);
}
