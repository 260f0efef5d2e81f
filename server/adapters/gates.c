/* gates.c - the one gate matcher (Jira and ServiceNow), with its
 * case-insensitive glob over patterns lower-cased at load. */
#include "server/adapters/gates.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "validators/errors.h"

static void lower(char *q)
{
    for (; *q; q++)
        if (*q >= 'A' && *q <= 'Z')
            *q = (char)(*q - 'A' + 'a');
}

int tg_gates_in_list(char *const *v, size_t n, const char *s)
{
    size_t i;

    for (i = 0; s && i < n; i++)
        if (strcasecmp(v[i], s) == 0)
            return 1;
    return 0;
}

/* 1 when one of gt's project globs matches one of the subject's names, or
 * gt names none; 0; TG_ENOMEM. The globs were lower-cased at load, so each
 * name is lowered once here and fnmatch(3) compares without the GNU-only
 * FNM_CASEFOLD. */
static int project_matches(const struct tg_gate *gt,
                           const struct tg_gate_subject *s)
{
    size_t i, k;
    int pm = gt->n_projects == 0;

    for (k = 0; !pm && k < s->n_projects; k++) {
        char *name = strdup(s->projects[k]);
        if (!name)
            return TG_ENOMEM;
        lower(name);
        for (i = 0; !pm && i < gt->n_projects; i++)
            pm = fnmatch(gt->projects[i], name, 0) == 0;
        free(name);
    }
    return pm;
}

int tg_gates_match(const struct tg_config *c, const struct tg_gate_subject *s,
                   int *gated)
{
    size_t g;

    *gated = 0;
    for (g = 0; g < c->n_gates; g++) {
        const struct tg_gate *gt = &c->gates[g];
        int pm;
        if (!gt->source || strcasecmp(gt->source, s->source) != 0)
            continue;
        pm = project_matches(gt, s);
        if (pm < 0)
            return pm;
        if (!pm)
            continue;
        if (gt->n_to && !tg_gates_in_list(gt->to, gt->n_to, s->to))
            continue;
        if (s->issue_type && gt->n_issue_types &&
            !tg_gates_in_list(gt->issue_types, gt->n_issue_types, s->issue_type))
            continue;
        *gated = 1;
        return 0;
    }
    return 0;
}
