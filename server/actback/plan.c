/* plan.c - decision + act_back configuration -> the outbox's actions. */
#include "server/actback/plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "validators/errors.h"

int tg_actback_marker(const char *decision_id, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "ticketgate decision %s",
                     decision_id ? decision_id : "");

    return n < 0 || (size_t)n >= cap ? TG_EINVAL : 0;
}

/* Appends {"system", "action", "params": params} to out, taking params.
 * 0 or TG_ENOMEM. */
static int add(json_t *out, const char *system, const char *action,
               json_t *params)
{
    json_t *a;

    if (!params)
        return TG_ENOMEM;
    a = json_pack("{s:s, s:s, s:o}", "system", system, "action", action,
                  "params", params);
    return !a || json_array_append_new(out, a) ? TG_ENOMEM : 0;
}

/* The text of a comment or note: the decision's message (lead line and
 * "- reason" lines; a dry run's lead says it was not enforced), then the
 * marker with the decision id. A new string or NULL. */
static char *note_text(const json_t *decision, const char *marker, int dry)
{
    const char *msg = json_string_value(json_object_get(decision, "message"));
    const char *lead = "";
    size_t n;
    char *s;

    if (!msg || !*msg)
        msg = dry ? "Access governance would act on this transition (dry "
                    "run, not enforced)."
                  : "Access governance acted on this transition.";
    else if (dry && !strstr(msg, "not enforced"))
        /* A dry run whose findings only warn: still say nothing was
         * enforced, so no one reads the note as a block. */
        lead = "Dry run, not enforced. ";
    n = strlen(lead) + strlen(msg) + 2 + strlen(marker) + 1;
    if (!(s = malloc(n)))
        return NULL;
    snprintf(s, n, "%s%s\n\n%s", lead, msg, marker);
    return s;
}

/* Marks the action just added to out as a dry run's ("dry_run": true in
 * its params: the sender says it was not enforced). 0 or TG_ENOMEM. */
static int mark_dry_run(json_t *out)
{
    json_t *last = json_array_get(out, json_array_size(out) - 1);

    return json_object_set_new(json_object_get(last, "params"), "dry_run",
                               json_true())
               ? TG_ENOMEM
               : 0;
}

static int plan_jira(const struct tg_actback_conf *a,
                     const struct tg_actback_on *on, const json_t *decision,
                     const char *marker, int dry, json_t *out)
{
    const char *vis = a->comment_internal ? "internal" : "public";
    char *text = NULL;
    int rc = 0;

    if (dry || on->comment) {
        if (!(text = note_text(decision, marker, dry)))
            return TG_ENOMEM;
        rc = add(out, "jira", "comment",
                 json_pack("{s:s, s:s, s:s}", "text", text, "marker", marker,
                           "visibility", vis));
        if (!rc && dry)
            rc = mark_dry_run(out);
        free(text);
        if (rc || dry)
            return rc;
    }
    if (on->transition_to) {
        /* The status the gated transition went to: the sender moves the
         * issue back only while it is still there. */
        const char *from = json_string_value(
            json_object_get(json_object_get(decision, "transition"), "to"));

        rc = add(out, "jira", "transition",
                 from ? json_pack("{s:s, s:s}", "to", on->transition_to,
                                  "from_status", from)
                      : json_pack("{s:s, s:n}", "to", on->transition_to,
                                  "from_status"));
        if (rc)
            return rc;
    }
    if (on->label)
        rc = add(out, "jira", "label", json_pack("{s:s}", "label", on->label));
    return rc;
}

/* A non-empty string at payload.obj.sys_id, or NULL. */
static const char *sys_id(const json_t *payload, const char *obj)
{
    const char *s = json_string_value(
        json_object_get(json_object_get(payload, obj), "sys_id"));

    return s && *s ? s : NULL;
}

static int plan_servicenow(const struct tg_actback_on *on,
                           const json_t *decision, const json_t *payload,
                           const char *marker, int dry, json_t *out)
{
    const char *approval = sys_id(payload, "approval");
    const char *ritm = sys_id(payload, "ritm");
    char *text = note_text(decision, marker, dry);
    int rc = 0;

    if (!text)
        return TG_ENOMEM;
    /* The rejection first: the approver's record is what stops the
     * request; the note explains it. */
    if (!dry && on->reject_approval && approval)
        rc = add(out, "servicenow", "reject_approval",
                 json_pack("{s:s, s:s}", "approval_sys_id", approval, "text",
                           text));
    if (!rc && (dry || on->work_note) && ritm) {
        rc = add(out, "servicenow", "work_note",
                 json_pack("{s:s, s:s, s:s}", "ritm_sys_id", ritm, "text",
                           text, "marker", marker));
        if (!rc && dry)
            rc = mark_dry_run(out);
    }
    free(text);
    return rc;
}

int tg_actback_plan(const struct tg_config *c, const char *source,
                    const json_t *decision, const json_t *payload,
                    json_t **out)
{
    const struct tg_actback_conf *a = NULL;
    const struct tg_actback_on *on;
    const char *verdict, *id;
    char marker[128];
    json_t *v = json_array();
    int servicenow = 0, dry, rc = 0;

    if (!v)
        return TG_ENOMEM;
    if (c && source && strcmp(source, "jira") == 0)
        a = &c->jira.act_back;
    else if (c && source && strcmp(source, "servicenow") == 0) {
        a = &c->servicenow.act_back;
        servicenow = 1;
    }
    verdict = json_string_value(json_object_get(decision, "decision"));
    id = json_string_value(json_object_get(decision, "decision_id"));
    if (!a || !a->set || !verdict || !id ||
        tg_actback_marker(id, marker, sizeof marker))
        goto done;
    dry = json_is_true(json_object_get(decision, "dry_run"));
    if (strcmp(verdict, "deny") == 0)
        on = &a->on_deny;
    else if (strcmp(verdict, "annotate") == 0)
        on = &a->on_annotate;
    else
        goto done; /* allow, skip: the ticket goes on as it is */
    /* A dry run enforces nothing: at most the note that says so. */
    if (dry && !a->dryrun_comments)
        goto done;
    rc = servicenow ? plan_servicenow(on, decision, payload, marker, dry, v)
                    : plan_jira(a, on, decision, marker, dry, v);
done:
    if (rc) {
        json_decref(v);
        return rc;
    }
    *out = v;
    return 0;
}
