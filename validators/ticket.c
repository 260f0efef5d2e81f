/* ticket.c - lifetime of the canonical ticket struct. */
#include "ticket.h"

#include <stdlib.h>
#include <string.h>

#include "errors.h"

void tg_ticket_init(struct tg_ticket *t)
{
    memset(t, 0, sizeof(*t));
}

void tg_ticket_cleanup(struct tg_ticket *t)
{
    char **strs[] = {&t->id, &t->source, &t->kind, &t->project, &t->from,
                     &t->to, &t->actor, &t->requester, &t->beneficiary,
                     &t->beneficiary_type, &t->owner, &t->justification,
                     &t->system, &t->environment, &t->entitlement,
                     &t->privilege, &t->expires_at, &t->created_at};
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        free(*strs[i]);
    for (size_t i = 0; i < t->n_approvers; i++)
        free(t->approvers[i]);
    free(t->approvers);
    tg_ticket_init(t);
}

int tg_ticket_add_approver(struct tg_ticket *t, const char *s)
{
    char *copy = strdup(s);
    char **v;
    if (!copy)
        return TG_ENOMEM;
    v = realloc(t->approvers, (t->n_approvers + 1) * sizeof(*v));
    if (!v) {
        free(copy);
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
