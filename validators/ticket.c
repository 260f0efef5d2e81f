/* ticket.c - lifetime of the canonical ticket struct. */
#include "validators/ticket.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "validators/errors.h"

void tg_ticket_init(struct tg_ticket *t)
{
    memset(t, 0, sizeof(*t));
}

/* Frees s unless it lies in t's block (released with the block). */
static void release(const struct tg_ticket *t, char *s)
{
    if (t->pool && s >= t->pool && s < t->pool + t->pool_cap)
        return;
    free(s);
}

void tg_ticket_cleanup(struct tg_ticket *t)
{
    char **strs[] = {&t->id, &t->source, &t->kind, &t->project, &t->from,
                     &t->to, &t->actor, &t->requester, &t->beneficiary,
                     &t->beneficiary_type, &t->owner, &t->justification,
                     &t->system, &t->environment, &t->entitlement,
                     &t->privilege, &t->expires_at, &t->created_at,
                     &t->assigned_approver};
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        release(t, *strs[i]);
    for (size_t i = 0; i < t->n_approvers; i++)
        release(t, t->approvers[i]);
    free(t->approvers);
    for (size_t i = 0; i < t->n_names; i++) {
        release(t, t->names[i].id);
        release(t, t->names[i].name);
    }
    free(t->names);
    free(t->pool);
    tg_ticket_init(t);
}

int tg_ticket_reserve(struct tg_ticket *t, size_t cap)
{
    if (t->pool || cap == 0)
        return TG_OK;
    if (!(t->pool = malloc(cap)))
        return TG_ENOMEM;
    t->pool_cap = cap;
    t->pool_used = 0;
    return TG_OK;
}

char *tg_ticket_strdup(struct tg_ticket *t, const char *s)
{
    size_t n = strlen(s) + 1;
    char *p;

    if (!t->pool || n > t->pool_cap - t->pool_used)
        return strdup(s);
    p = t->pool + t->pool_used;
    memcpy(p, s, n);
    t->pool_used += n;
    return p;
}

int tg_ticket_add_approver(struct tg_ticket *t, const char *s)
{
    char *copy = tg_ticket_strdup(t, s);
    char **v;
    if (!copy)
        return TG_ENOMEM;
    v = realloc(t->approvers, (t->n_approvers + 1) * sizeof(*v));
    if (!v) {
        release(t, copy);
        return TG_ENOMEM;
    }
    v[t->n_approvers++] = copy;
    t->approvers = v;
    return TG_OK;
}

int tg_ticket_is_access_request(const struct tg_ticket *t)
{
    return t->kind == NULL || strcmp(t->kind, "access_request") == 0;
}

/* The span of s without surrounding ASCII white space. */
static void trim(const char *s, const char **p, size_t *n)
{
    size_t len = strlen(s);
    while (len && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')) {
        s++;
        len--;
    }
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' ||
                   s[len - 1] == '\n' || s[len - 1] == '\r'))
        len--;
    *p = s;
    *n = len;
}

const char *tg_ticket_name_of(const struct tg_ticket *t, const char *id)
{
    const char *p, *q;
    size_t n, m;
    if (!id)
        return NULL;
    trim(id, &p, &n);
    for (size_t i = 0; i < t->n_names; i++) {
        trim(t->names[i].id, &q, &m);
        if (m == n && strncasecmp(p, q, n) == 0)
            return t->names[i].name;
    }
    return NULL;
}

int tg_ticket_add_name(struct tg_ticket *t, const char *id, const char *name)
{
    struct tg_ticket_name *v;
    char *a, *b;
    if (!id || !name || !*id || !*name || tg_ticket_name_of(t, id))
        return TG_OK;
    v = realloc(t->names, (t->n_names + 1) * sizeof(*v));
    if (!v)
        return TG_ENOMEM;
    t->names = v;
    a = tg_ticket_strdup(t, id);
    b = tg_ticket_strdup(t, name);
    if (!a || !b) {
        if (a)
            release(t, a);
        if (b)
            release(t, b);
        return TG_ENOMEM;
    }
    v[t->n_names].id = a;
    v[t->n_names].name = b;
    t->n_names++;
    return TG_OK;
}
