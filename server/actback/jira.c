/* jira.c - act-back on a Jira issue: comment, transition, label (Jira Cloud
 * REST v3 with Atlassian Document Format, or Data Center REST v2). */
#include "server/actback/deliver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "validators/errors.h"

/* Comment pages read while looking for a marker: 100 a page, so up to
 * 10000 comments; an issue with more is not looked through further. */
#define TG_JIRA_PAGE 100
#define TG_JIRA_MAX_PAGES 100

/* {"type": "text", "text": s} in a paragraph. */
static json_t *paragraph(const char *s, size_t n)
{
    json_t *text = json_stringn(s, n);
    if (!text)
        return NULL;
    return json_pack("{s:s, s:[{s:s, s:o}]}", "type", "paragraph", "content",
                     "type", "text", "text", text);
}

/* Appends the paragraph or list item of one line of text to content; items
 * in a row share the bulletList *list. 0 or TG_ENOMEM. */
static int add_line(json_t *content, json_t **list, const char *s, size_t n)
{
    json_t *p;

    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\r'))
        n--;
    if (n == 0) {
        *list = NULL;
        return 0;
    }
    if (s[0] == '-' && (n == 1 || s[1] == ' ')) {
        json_t *item;
        /* ADF refuses an empty text node: a bare "-" is no item. */
        if (n <= 2)
            return 0;
        p = paragraph(s + 2, n - 2);
        item = p ? json_pack("{s:s, s:[o]}", "type", "listItem", "content", p)
                 : NULL;
        if (!item)
            return TG_ENOMEM;
        if (!*list) {
            *list = json_pack("{s:s, s:[]}", "type", "bulletList", "content");
            if (!*list || json_array_append_new(content, *list) != 0) {
                json_decref(item);
                return TG_ENOMEM;
            }
        }
        return json_array_append_new(json_object_get(*list, "content"), item)
                   ? TG_ENOMEM
                   : 0;
    }
    *list = NULL;
    p = paragraph(s, n);
    return !p || json_array_append_new(content, p) != 0 ? TG_ENOMEM : 0;
}

static json_t *adf_doc(const char *text, const char *marker)
{
    json_t *doc = NULL, *content = json_array(), *list = NULL;
    const char *p = text, *e;

    if (!content)
        return NULL;
    for (;;) {
        e = strchr(p, '\n');
        if (add_line(content, &list, p, e ? (size_t)(e - p) : strlen(p)) != 0)
            goto fail;
        if (!e)
            break;
        p = e + 1;
    }
    if (marker && *marker && !strstr(text, marker) &&
        add_line(content, &list, marker, strlen(marker)) != 0)
        goto fail;
    doc = json_pack("{s:s, s:i, s:o}", "type", "doc", "version", 1, "content",
                    content);
    return doc;
fail:
    json_decref(content);
    return NULL;
}

int tg_actback_jira_comment_body(const char *text, const char *marker,
                                 int api_version, int internal, json_t **out)
{
    json_t *body, *b;

    if (!text)
        text = "";
    if (api_version == 2) {
        if (marker && *marker && !strstr(text, marker)) {
            size_t n = strlen(text) + strlen(marker) + 3;
            char *s = malloc(n);
            if (!s)
                return TG_ENOMEM;
            snprintf(s, n, "%s%s%s", text, *text ? "\n\n" : "", marker);
            b = json_string(s);
            free(s);
        } else {
            b = json_string(text);
        }
    } else {
        b = adf_doc(text, marker);
    }
    if (!b)
        return TG_ENOMEM;
    body = json_pack("{s:o}", "body", b);
    if (!body)
        return TG_ENOMEM;
    /* Jira Service Management: an internal note, not a reply to the
     * customer (the sd.public.comment entity property). */
    if (internal &&
        json_object_set_new(
            body, "properties",
            json_pack("[{s:s, s:{s:b}}]", "key", "sd.public.comment", "value",
                      "internal", 1)) != 0) {
        json_decref(body);
        return TG_ENOMEM;
    }
    *out = body;
    return 0;
}

/* 1 when any string inside v contains marker. */
static int holds(const json_t *v, const char *marker, int depth)
{
    size_t i;
    const char *k;
    json_t *x;

    if (depth > 64)
        return 0;
    if (json_is_string(v))
        return strstr(json_string_value(v), marker) != NULL;
    if (json_is_array(v)) {
        json_array_foreach(v, i, x) if (holds(x, marker, depth + 1)) return 1;
    } else if (json_is_object(v)) {
        json_object_foreach((json_t *)v, k, x) if (holds(x, marker, depth + 1))
            return 1;
    }
    return 0;
}

int tg_actback_jira_has_marker(const json_t *page, const char *marker)
{
    json_t *c, *comments = json_object_get(page, "comments");
    size_t i;

    if (!marker || !*marker)
        return 0;
    json_array_foreach(comments, i, c)
    {
        if (holds(json_object_get(c, "body"), marker, 0))
            return 1;
    }
    return 0;
}

const char *tg_actback_jira_pick_transition(const json_t *doc, const char *to)
{
    json_t *t, *list = json_object_get(doc, "transitions");
    size_t i;

    json_array_foreach(list, i, t)
    {
        const char *name =
            json_string_value(json_object_get(json_object_get(t, "to"),
                                              "name"));
        const char *id = json_string_value(json_object_get(t, "id"));
        if (name && id && strcasecmp(name, to) == 0)
            return id;
    }
    return NULL;
}

/* ------------------------------------------------------------ delivery */

struct call {
    struct tg_actback_http *h;
    const struct tg_actback_target *t;
    struct tg_actback_result *res;
    char issue[160]; /* "/rest/api/N/issue/<escaped key>" */
};

/* One request; returns the parsed answer (NULL for an empty one) in *doc
 * when the status is 2xx, else sets c->res and returns -1. */
static int exchange(struct call *c, const char *step, const char *method,
                    const char *path, const json_t *body, json_t **doc)
{
    struct tg_actback_resp r;
    char *text = NULL;
    int rc;

    if (doc)
        *doc = NULL;
    if (body && !(text = tg_actback_dump(body))) {
        c->res->outcome = TG_ACTBACK_RETRY;
        snprintf(c->res->error, sizeof(c->res->error), "%s: out of memory",
                 step);
        return -1;
    }
    rc = tg_actback_http_do(c->h, c->t, method, path, text, &r);
    free(text);
    if (rc != 0 || r.status < 200 || r.status > 299) {
        tg_actback_fail(c->res, step, rc, &r);
        tg_actback_resp_cleanup(&r);
        return -1;
    }
    if (doc && r.body && r.len > 0) {
        json_error_t err;
        *doc = json_loadb(r.body, r.len, 0, &err);
        if (!*doc) {
            /* A 2xx that is not JSON: a proxy or the wrong base_url. */
            c->res->outcome = TG_ACTBACK_RETRY;
            c->res->retry_after_ms = -1;
            snprintf(c->res->error, sizeof(c->res->error),
                     "%s: HTTP %ld with an answer that is not JSON", step,
                     r.status);
            tg_actback_resp_cleanup(&r);
            return -1;
        }
    }
    tg_actback_resp_cleanup(&r);
    return 0;
}

static const char *pstr(const json_t *params, const char *key)
{
    return json_string_value(json_object_get(params, key));
}

/* Whether a comment carrying marker is already on the issue: 1 yes, 0 no,
 * -1 could not tell (c->res set). */
static int marker_posted(struct call *c, const char *marker)
{
    int64_t start = 0;
    int page;
    char path[256];

    for (page = 0; page < TG_JIRA_MAX_PAGES; page++) {
        json_t *doc, *list;
        size_t n;
        int64_t total;
        int found;

        snprintf(path, sizeof(path), "%s/comment?startAt=%lld&maxResults=%d",
                 c->issue, (long long)start, TG_JIRA_PAGE);
        if (exchange(c, "GET comments", "GET", path, NULL, &doc) != 0)
            return -1;
        found = tg_actback_jira_has_marker(doc, marker);
        list = json_object_get(doc, "comments");
        n = json_array_size(list);
        total = json_integer_value(json_object_get(doc, "total"));
        json_decref(doc);
        if (found)
            return 1;
        start += (int64_t)n;
        if (n == 0 || start >= total)
            return 0;
    }
    return 0;
}

static void do_comment(struct call *c, const json_t *params, int retried)
{
    const char *text = pstr(params, "text"), *marker = pstr(params, "marker");
    const char *vis = pstr(params, "visibility");
    int internal = vis ? strcmp(vis, "internal") == 0 : c->t->internal;
    char path[200];
    json_t *body = NULL;
    int seen;

    /* At most one comment per decision: an earlier attempt that timed out
     * or got a 5xx may have been stored; its marker says so. */
    if (retried && marker && *marker) {
        seen = marker_posted(c, marker);
        if (seen < 0)
            return;
        if (seen) {
            c->res->outcome = TG_ACTBACK_SKIPPED;
            snprintf(c->res->error, sizeof(c->res->error),
                     "the comment %s is already on the issue", marker);
            return;
        }
    }
    if (tg_actback_jira_comment_body(text, marker, c->t->api_version, internal,
                                     &body) != 0) {
        c->res->outcome = TG_ACTBACK_RETRY;
        snprintf(c->res->error, sizeof(c->res->error), "out of memory");
        return;
    }
    snprintf(path, sizeof(path), "%s/comment", c->issue);
    if (exchange(c, "POST comment", "POST", path, body, NULL) == 0)
        c->res->outcome = TG_ACTBACK_DELIVERED;
    json_decref(body);
}

static void do_transition(struct call *c, const json_t *params)
{
    const char *to = pstr(params, "to"), *from = pstr(params, "from_status");
    const char *status, *id;
    json_t *doc = NULL, *body = NULL;
    char path[220];

    if (!to || !*to) {
        c->res->outcome = TG_ACTBACK_DEAD;
        snprintf(c->res->error, sizeof(c->res->error),
                 "the action names no target status");
        return;
    }
    /* The issue must still be where the gate saw it: someone may have
     * moved it on (or back) since, and that move wins. */
    snprintf(path, sizeof(path), "%s?fields=status", c->issue);
    if (exchange(c, "GET issue status", "GET", path, NULL, &doc) != 0)
        return;
    status = json_string_value(json_object_get(
        json_object_get(json_object_get(doc, "fields"), "status"), "name"));
    if (!status) {
        c->res->outcome = TG_ACTBACK_RETRY;
        snprintf(c->res->error, sizeof(c->res->error),
                 "GET issue status: no fields.status.name in the answer");
        goto out;
    }
    if (strcasecmp(status, to) == 0 || (from && *from &&
                                        strcasecmp(status, from) != 0)) {
        c->res->outcome = TG_ACTBACK_SKIPPED;
        snprintf(c->res->error, sizeof(c->res->error),
                 "skipped: the issue is in status \"%.80s\", not \"%.80s\"",
                 status, from && *from ? from : "(any other)");
        goto out;
    }
    json_decref(doc);
    doc = NULL;
    snprintf(path, sizeof(path), "%s/transitions", c->issue);
    if (exchange(c, "GET transitions", "GET", path, NULL, &doc) != 0)
        return;
    id = tg_actback_jira_pick_transition(doc, to);
    if (!id) {
        c->res->outcome = TG_ACTBACK_DEAD;
        snprintf(c->res->error, sizeof(c->res->error),
                 "no transition to \"%.80s\" is available from status "
                 "\"%.80s\" (the workflow, or the account's Transition "
                 "issues permission)",
                 to, status);
        goto out;
    }
    body = json_pack("{s:{s:s}}", "transition", "id", id);
    if (!body) {
        c->res->outcome = TG_ACTBACK_RETRY;
        snprintf(c->res->error, sizeof(c->res->error), "out of memory");
        goto out;
    }
    if (exchange(c, "POST transition", "POST", path, body, NULL) == 0)
        c->res->outcome = TG_ACTBACK_DELIVERED;
out:
    json_decref(body);
    json_decref(doc);
}

static void do_label(struct call *c, const json_t *params)
{
    const char *label = pstr(params, "label");
    json_t *body;

    /* Jira labels hold no spaces. */
    if (!label || !*label || strpbrk(label, " \t\r\n")) {
        c->res->outcome = TG_ACTBACK_DEAD;
        snprintf(c->res->error, sizeof(c->res->error),
                 "the label is empty or holds white space");
        return;
    }
    body = json_pack("{s:{s:[{s:s}]}}", "update", "labels", "add", label);
    if (!body) {
        c->res->outcome = TG_ACTBACK_RETRY;
        snprintf(c->res->error, sizeof(c->res->error), "out of memory");
        return;
    }
    if (exchange(c, "PUT label", "PUT", c->issue, body, NULL) == 0)
        c->res->outcome = TG_ACTBACK_DELIVERED;
    json_decref(body);
}

void tg_actback_jira_deliver(struct tg_actback_http *h,
                             const struct tg_actback_target *t,
                             const char *action, const char *ticket,
                             const json_t *params, int retried,
                             struct tg_actback_result *res)
{
    struct call c = {.h = h, .t = t, .res = res};
    const char *p;
    int w;

    res->outcome = TG_ACTBACK_DEAD;
    res->retry_after_ms = -1;
    res->stopped = 0;
    res->error[0] = '\0';
    /* An issue key is PROJECT-123; anything else would change the path. */
    for (p = ticket; p && *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
              (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
            break;
    if (!ticket || !*ticket || *p || strlen(ticket) > 100) {
        snprintf(res->error, sizeof(res->error),
                 "the ticket id is not a Jira issue key");
        return;
    }
    w = snprintf(c.issue, sizeof(c.issue), "/rest/api/%d/issue/%s",
                 t->api_version == 2 ? 2 : 3, ticket);
    if (w < 0 || (size_t)w >= sizeof(c.issue))
        return;
    if (strcmp(action, "comment") == 0)
        do_comment(&c, params, retried);
    else if (strcmp(action, "transition") == 0)
        do_transition(&c, params);
    else if (strcmp(action, "label") == 0)
        do_label(&c, params);
    else
        snprintf(res->error, sizeof(res->error),
                 "unknown Jira action \"%.40s\"", action);
}
