/* actback.c - sources.jira.act_back and sources.servicenow.act_back. */
#include "server/config/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "validators/errors.h"

/* 1 when the scalar n is written as one ${NAME} and nothing else: a
 * secret of act_back comes from the environment, never from the file. */
static int from_env(const yaml_node_t *n)
{
    const char *s = (const char *)n->data.scalar.value;
    size_t len = n->data.scalar.length;

    if (n->type != YAML_SCALAR_NODE || len < 4 || s[0] != '$' ||
        s[1] != '{' || s[len - 1] != '}')
        return 0;
    for (size_t i = 2; i + 1 < len; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
              s[i] == '_' || (i > 2 && s[i] >= '0' && s[i] <= '9')))
            return 0;
    return 1;
}

/* A secret of act_back (where: its setting's name) into *out, which must
 * be written as ${NAME}. Problems are reported. */
static void get_secret(struct ld *L, const yaml_node_t *n, const char *where,
                       char **out)
{
    if (!n)
        return;
    if (n->type == YAML_SCALAR_NODE && !tg_cfg_is_null(n) && !from_env(n)) {
        tg_cfg_problem(L, n,
                       "%s is written in the file; write ${NAME} and set the "
                       "environment variable NAME to the secret",
                       where);
        return;
    }
    tg_cfg_get_str(L, n, where, F_SECRET, out);
}

/* 1 when host (len bytes) is a loopback name or address: plain http is
 * allowed there (a local stub, a sidecar proxy). */
static int loopback(const char *h, size_t len)
{
    if ((len == 9 && strncasecmp(h, "localhost", 9) == 0) ||
        (len == 5 && memcmp(h, "[::1]", 5) == 0))
        return 1;
    if (len < 7 || strncmp(h, "127.", 4) != 0)
        return 0;
    for (size_t i = 4; i < len; i++)
        if (!(h[i] == '.' || (h[i] >= '0' && h[i] <= '9')))
            return 0;
    return 1;
}

/*
 * Checks url (https://host[:port][/path], http only to a loopback host, no
 * user info, query or fragment) and drops trailing '/'. Returns 0, or 1
 * after reporting the problem.
 */
static int check_url(struct ld *L, const yaml_node_t *n, const char *where,
                     char *url)
{
    char sh[SHOW_CAP];
    const char *host, *end;
    size_t len = strlen(url), hlen;
    int https = strncasecmp(url, "https://", 8) == 0;

    if (!https && strncasecmp(url, "http://", 7) != 0) {
        tg_cfg_problem(L, n,
                       "%s is '%s'; write an https:// URL such as "
                       "https://acme.atlassian.net",
                       where, tg_cfg_show(url, len, sh, sizeof(sh)));
        return 1;
    }
    host = url + (https ? 8 : 7);
    end = host + strcspn(host, "/?#@");
    if (*end == '@' || strpbrk(host, "?#") || strchr(host, ' ')) {
        tg_cfg_problem(L, n,
                       "%s is '%s'; write scheme, host and path only (no "
                       "user:password@, no ?query or #fragment): the "
                       "credentials go in auth",
                       where, tg_cfg_show(url, len, sh, sizeof(sh)));
        return 1;
    }
    /* The host without its port ("[::1]" keeps its brackets). */
    hlen = (size_t)(end - host);
    if (hlen > 0 && host[0] == '[') {
        const char *rb = memchr(host, ']', hlen);
        hlen = rb ? (size_t)(rb - host) + 1 : hlen;
    } else {
        const char *colon = memchr(host, ':', hlen);
        if (colon)
            hlen = (size_t)(colon - host);
    }
    if (hlen == 0) {
        tg_cfg_problem(L, n, "%s is '%s'; it names no host", where,
                       tg_cfg_show(url, len, sh, sizeof(sh)));
        return 1;
    }
    if (!https && !loopback(host, hlen)) {
        tg_cfg_problem(L, n,
                       "%s is '%s'; use https:// (plain http is only for a "
                       "loopback host: the requests carry the bot's "
                       "credentials)",
                       where, tg_cfg_show(url, len, sh, sizeof(sh)));
        return 1;
    }
    while (len > 0 && url[len - 1] == '/')
        url[--len] = '\0';
    return 0;
}

/* on_deny / on_annotate of Jira (deny: transition_to allowed). */
static void parse_on_jira(struct ld *L, const yaml_node_t *n,
                          const char *where, int deny, struct tg_actback_on *o)
{
    static const char *const keys[] = {"comment", "transition_to", "label"};
    static const char *const keys_a[] = {"comment", "label"};
    yaml_node_t *v[COUNT(keys)] = {NULL, NULL, NULL};
    char nm[NAME_CAP];

    /* A transition on annotate would move every ticket with a warning:
     * annotate lets the transition stand. */
    if (deny ? MAP_KEYS(L, n, where, keys, v) != TG_OK
             : tg_cfg_map_keys(L, n, where, keys_a, COUNT(keys_a), v) !=
                   TG_OK)
        return;
    if (!deny) {
        v[2] = v[1];
        v[1] = NULL;
    }
    o->comment = 0;
    o->line = tg_cfg_line_of(n);
    tg_cfg_get_bool(L, v[0], tg_cfg_name_of(nm, sizeof(nm), "%s.comment", where),
                    &o->comment);
    tg_cfg_get_str(L, v[1],
                   tg_cfg_name_of(nm, sizeof(nm), "%s.transition_to", where),
                   F_REQ, &o->transition_to);
    tg_cfg_get_str(L, v[2], tg_cfg_name_of(nm, sizeof(nm), "%s.label", where),
                   F_REQ, &o->label);
    if (o->label && strpbrk(o->label, " \t"))
        tg_cfg_problem(L, v[2],
                       "%s.label holds a space; Jira labels are one word "
                       "(write access-governance-denied)",
                       where);
}

/* on_deny / on_annotate of ServiceNow (deny: reject_approval allowed). */
static void parse_on_sn(struct ld *L, const yaml_node_t *n, const char *where,
                        int deny, struct tg_actback_on *o)
{
    static const char *const keys[] = {"work_note", "reject_approval"};
    yaml_node_t *v[COUNT(keys)] = {NULL, NULL};
    char nm[NAME_CAP];

    if (tg_cfg_map_keys(L, n, where, keys, deny ? 2 : 1, v) != TG_OK)
        return;
    o->work_note = 0;
    o->line = tg_cfg_line_of(n);
    tg_cfg_get_bool(L, v[0],
                    tg_cfg_name_of(nm, sizeof(nm), "%s.work_note", where),
                    &o->work_note);
    tg_cfg_get_bool(L, v[1],
                    tg_cfg_name_of(nm, sizeof(nm), "%s.reject_approval", where),
                    &o->reject_approval);
}

/* auth of Jira: {email, api_token} (Cloud) or {bearer} (Data Center). */
static void parse_auth_jira(struct ld *L, const yaml_node_t *n,
                            const char *where, struct tg_actback_conf *a)
{
    static const char *const keys[] = {"email", "api_token", "bearer"};
    yaml_node_t *v[COUNT(keys)];
    char nm[NAME_CAP];

    if (MAP_KEYS(L, n, where, keys, v) != TG_OK)
        return;
    tg_cfg_get_str(L, v[0], tg_cfg_name_of(nm, sizeof(nm), "%s.email", where),
                   F_REQ, &a->user);
    get_secret(L, v[1], tg_cfg_name_of(nm, sizeof(nm), "%s.api_token", where),
               &a->secret);
    get_secret(L, v[2], tg_cfg_name_of(nm, sizeof(nm), "%s.bearer", where),
               &a->bearer);
    if (v[2] && (v[0] || v[1]))
        tg_cfg_problem(L, n,
                       "%s has both bearer and email/api_token; keep one "
                       "(Cloud: email and api_token; Data Center: bearer)",
                       where);
    else if (!v[2] && (!v[0] || !v[1]))
        tg_cfg_problem(L, n,
                       "%s needs email and api_token (Jira Cloud) or bearer "
                       "(a Data Center personal access token)",
                       where);
}

/* auth of ServiceNow: {user, password} (basic). */
static void parse_auth_sn(struct ld *L, const yaml_node_t *n,
                          const char *where, struct tg_actback_conf *a)
{
    static const char *const keys[] = {"user", "password"};
    yaml_node_t *v[COUNT(keys)];
    char nm[NAME_CAP];

    if (MAP_KEYS(L, n, where, keys, v) != TG_OK)
        return;
    tg_cfg_get_str(L, v[0], tg_cfg_name_of(nm, sizeof(nm), "%s.user", where),
                   F_REQ, &a->user);
    get_secret(L, v[1], tg_cfg_name_of(nm, sizeof(nm), "%s.password", where),
               &a->secret);
    if (!v[0] || !v[1])
        tg_cfg_problem(L, n, "%s needs user and password", where);
}

/* The defaults of an act_back section that is present. */
static void set_defaults(struct tg_actback_conf *a, int servicenow)
{
    a->set = 1;
    a->api_version = servicenow ? 0 : 3;
    a->comment_internal = 1;
    a->dryrun_comments = 1;
    a->max_attempts = 10;
    a->timeout_ms = 10000;
    a->max_per_host = 4;
    a->retry_base_ms = 300000;
    a->retry_max_ms = 21600000;
    /* Without on_deny / on_annotate, the reasons are written as a comment
     * (a work note): configuring act_back is asking for them to be seen. */
    if (servicenow) {
        a->on_deny.work_note = 1;
        a->on_annotate.work_note = 1;
    } else {
        a->on_deny.comment = 1;
        a->on_annotate.comment = 1;
    }
}

/* on_deny / on_annotate (each NULL when absent: the default stays). */
static void parse_actions(struct ld *L, yaml_node_t *deny,
                          yaml_node_t *annotate, int servicenow,
                          struct tg_actback_conf *a)
{
    if (deny) {
        memset(&a->on_deny, 0, sizeof a->on_deny);
        if (servicenow)
            parse_on_sn(L, deny, "sources.servicenow.act_back.on_deny", 1,
                        &a->on_deny);
        else
            parse_on_jira(L, deny, "sources.jira.act_back.on_deny", 1,
                          &a->on_deny);
    }
    if (annotate) {
        memset(&a->on_annotate, 0, sizeof a->on_annotate);
        if (servicenow)
            parse_on_sn(L, annotate,
                        "sources.servicenow.act_back.on_annotate", 0,
                        &a->on_annotate);
        else
            parse_on_jira(L, annotate, "sources.jira.act_back.on_annotate",
                          0, &a->on_annotate);
    }
}

/* The keys of an act_back section (both systems'), and their places. */
static const char *const actback_keys[] = {
    "base_url",      "instance_url",    "auth",
    "on_deny",       "on_annotate",     "comment_visibility",
    "api_version",   "dryrun_comments", "max_attempts",
    "timeout_ms",    "max_per_host",    "retry_base_ms",
    "retry_max_ms",
};
enum { BASE, INSTANCE, AUTH, DENY, ANNOTATE, VISIBILITY, API, DRYRUN,
       ATTEMPTS, TIMEOUT, PERHOST, RBASE, RMAX };

/* The other system's keys are unknown here, as MAP_KEYS says of any. */
static void other_system_keys(struct ld *L, yaml_node_t *const *v,
                              const char *where, int servicenow)
{
    for (int k = 0; k < (int)COUNT(actback_keys); k++) {
        int other = servicenow ? (k == BASE || k == VISIBILITY || k == API)
                               : k == INSTANCE;
        if (v[k] && other)
            tg_cfg_problem(L, v[k], "%s.%s is a setting of %s act_back; "
                                    "remove it",
                           where, actback_keys[k],
                           servicenow ? "Jira's" : "ServiceNow's");
    }
}

/* The address (base_url or instance_url, node url) and auth of act_back
 * section n into a. */
static void parse_where_and_who(struct ld *L, const yaml_node_t *n,
                                yaml_node_t *url, yaml_node_t *auth,
                                const char *where, int servicenow,
                                struct tg_actback_conf *a)
{
    const char *url_key = servicenow ? "instance_url" : "base_url";
    char nm[NAME_CAP];

    if (!url)
        tg_cfg_problem(L, n, "%s.%s is missing; write the %s address (%s)",
                       where, url_key, servicenow ? "instance's" : "site's",
                       servicenow ? "https://acme.service-now.com"
                                  : "https://acme.atlassian.net");
    else if (tg_cfg_get_str(L, url,
                            tg_cfg_name_of(nm, sizeof(nm), "%s.%s", where,
                                           url_key),
                            F_REQ, &a->base_url) == TG_OK)
        check_url(L, url, nm, a->base_url);
    if (!auth)
        tg_cfg_problem(L, n, "%s.auth is missing; write the bot account's "
                             "credentials (secrets as ${NAME})",
                       where);
    else if (servicenow)
        parse_auth_sn(L, auth, "sources.servicenow.act_back.auth", a);
    else
        parse_auth_jira(L, auth, "sources.jira.act_back.auth", a);
}

/* Jira's comment_visibility and api_version into a. */
static void parse_jira_only(struct ld *L, yaml_node_t *const *v,
                            struct tg_actback_conf *a)
{
    static const char *const visibilities[] = {"internal", "public"};
    int vis;

    if (tg_cfg_get_enum(L, v[VISIBILITY],
                        "sources.jira.act_back.comment_visibility",
                        visibilities, COUNT(visibilities), &vis) == TG_OK)
        a->comment_internal = vis == 0;
    if (tg_cfg_get_intv(L, v[API], "sources.jira.act_back.api_version", 2, 3,
                        &a->api_version) == TG_EINVAL)
        a->api_version = 3;
}

/* How act_back delivers (dry-run comments, attempts, timeout, per-host
 * cap, retry schedule) into a. */
static void parse_delivery(struct ld *L, yaml_node_t *const *v,
                           const char *where, struct tg_actback_conf *a)
{
    char nm[NAME_CAP];

    tg_cfg_get_bool(L, v[DRYRUN],
                    tg_cfg_name_of(nm, sizeof(nm), "%s.dryrun_comments", where),
                    &a->dryrun_comments);
    tg_cfg_get_intv(L, v[ATTEMPTS],
                    tg_cfg_name_of(nm, sizeof(nm), "%s.max_attempts", where), 1,
                    100, &a->max_attempts);
    tg_cfg_get_intv(L, v[TIMEOUT],
                    tg_cfg_name_of(nm, sizeof(nm), "%s.timeout_ms", where), 100,
                    600000, &a->timeout_ms);
    tg_cfg_get_intv(L, v[PERHOST],
                    tg_cfg_name_of(nm, sizeof(nm), "%s.max_per_host", where), 1,
                    64, &a->max_per_host);
    tg_cfg_get_intv(L, v[RBASE],
                    tg_cfg_name_of(nm, sizeof(nm), "%s.retry_base_ms", where),
                    10, 86400000, &a->retry_base_ms);
    tg_cfg_get_intv(L, v[RMAX],
                    tg_cfg_name_of(nm, sizeof(nm), "%s.retry_max_ms", where),
                    10, 604800000, &a->retry_max_ms);
    if (a->retry_max_ms < a->retry_base_ms)
        tg_cfg_problem(L, v[RMAX] ? v[RMAX] : v[RBASE],
                       "%s.retry_max_ms (%d) is below retry_base_ms (%d); "
                       "raise it or remove the key",
                       where, a->retry_max_ms, a->retry_base_ms);
}

int tg_cfg_parse_actback(struct ld *L, const yaml_node_t *n, int servicenow,
                         struct tg_actback_conf *a)
{
    const char *where = servicenow ? "sources.servicenow.act_back"
                                   : "sources.jira.act_back";
    yaml_node_t *v[COUNT(actback_keys)];

    set_defaults(a, servicenow);
    if (MAP_KEYS(L, n, where, actback_keys, v) != TG_OK)
        return tg_cfg_status(L);
    other_system_keys(L, v, where, servicenow);
    parse_where_and_who(L, n, v[servicenow ? INSTANCE : BASE], v[AUTH], where,
                        servicenow, a);
    parse_actions(L, v[DENY], v[ANNOTATE], servicenow, a);
    if (!servicenow)
        parse_jira_only(L, v, a);
    parse_delivery(L, v, where, a);
    return tg_cfg_status(L);
}

/* 1 when a gate of source lists status (any case) among its targets, or
 * lists none (every status). */
static int gated_status(const struct tg_config *c, const char *source,
                        const char *status)
{
    for (size_t i = 0; i < c->n_gates; i++) {
        const struct tg_gate *g = &c->gates[i];

        if (!g->source || strcmp(g->source, source) != 0)
            continue;
        if (g->n_to == 0)
            return 1;
        for (size_t k = 0; k < g->n_to; k++)
            if (strcasecmp(g->to[k], status) == 0)
                return 1;
    }
    return 0;
}

void tg_cfg_check_actback(struct ld *L, const struct tg_config *c)
{
    const struct tg_actback_conf *j = &c->jira.act_back;
    const struct tg_actback_conf *s = &c->servicenow.act_back;

    /* Moving a denied issue into a status a gate watches would call
     * ticketgate again, deny again, and move it again: the transition
     * back must leave the gates. */
    if (j->set && j->on_deny.transition_to &&
        gated_status(c, "jira", j->on_deny.transition_to))
        tg_cfg_problem_at(L, j->on_deny.line,
                          "sources.jira.act_back.on_deny.transition_to is "
                          "'%s', a status a jira gate watches: a denied "
                          "issue would be moved back into the gate; name "
                          "the status it came from (e.g. Waiting for "
                          "approval)",
                          j->on_deny.transition_to);
    if (s->set && s->on_deny.reject_approval &&
        gated_status(c, "servicenow", "rejected"))
        tg_cfg_problem_at(L, s->on_deny.line,
                          "sources.servicenow.act_back.on_deny."
                          "reject_approval sets approvals to rejected, a "
                          "state a servicenow gate watches: the rejection "
                          "would be judged again; drop rejected from the "
                          "gate's to or reject_approval");
}

void tg_cfg_actback_free(struct tg_actback_conf *a)
{
    free(a->base_url);
    free(a->user);
    tg_cfg_free_secret(a->secret);
    tg_cfg_free_secret(a->bearer);
    free(a->on_deny.transition_to);
    free(a->on_deny.label);
    free(a->on_annotate.transition_to);
    free(a->on_annotate.label);
    memset(a, 0, sizeof *a);
}
