/* gates.h - the one gate matcher: does a configured gate select a delivery. */
#ifndef TG_GATES_H
#define TG_GATES_H

#include <stddef.h>

#include "server/config/config.h"

/* What a delivery offers the gates, as its adapter read it. */
struct tg_gate_subject {
    const char *source;            /* "jira", "servicenow" */
    const char *const *projects;   /* every name the project goes by */
    size_t n_projects;             /* 0: no project, no project glob matches */
    const char *to;                /* the target status */
    const char *issue_type;        /* NULL: gates' issue_types do not apply */
};

/*
 * Sets *gated to 1 when a gate of c selects the subject, else 0: the gate's
 * source is the subject's (case-insensitive); it names no projects or one of
 * its project globs matches one of the subject's project names (fnmatch(3),
 * ASCII case ignored); it names no `to` or one equal to the subject's
 * (case-insensitive); and, when the subject has an issue type, the gate
 * names no issue_types or one equal to it (case-insensitive). Returns 0 or
 * TG_ENOMEM (so that a lack of memory is never taken for "no gate", which
 * would be a skip).
 */
int tg_gates_match(const struct tg_config *c, const struct tg_gate_subject *s,
                   int *gated);

/* 1 when s (not NULL) equals one of the n names of v, ignoring ASCII case
 * (gate "to" lists, issue types). */
int tg_gates_in_list(char *const *v, size_t n, const char *s);

#endif
