/* findings.h - the list of findings a validation produces. */
#ifndef TG_FINDINGS_H
#define TG_FINDINGS_H

#include <stddef.h>

#include "validators/codes.h"

struct tg_exception; /* validators/exceptions.h */

struct tg_finding {
    enum tg_code code;
    enum tg_action action; /* never TG_ACTION_OFF: those are not added */
    const char *field;     /* static: the canonical field at fault */
    char *message;         /* heap, owned by the list */
    /* The policy exception that let this finding through as a warning
     * (tg_exceptions_apply), borrowed from the configuration; else NULL. */
    const struct tg_exception *exception;
};

struct tg_findings {
    struct tg_finding *v;
    size_t n, cap;
};

void tg_findings_init(struct tg_findings *f);
/* Frees every message and the array; leaves f initialised and empty. */
void tg_findings_cleanup(struct tg_findings *f);
/*
 * Appends a finding for code with the given action, its message made from the
 * code's template with {1}..{nargs} replaced by args (NULL args print as
 * "(none)"; each is cut at 120 bytes so a huge field cannot make a huge
 * message, and its control characters become spaces so that a message is
 * one line). field NULL means the code's default field. An action of
 * TG_ACTION_OFF appends nothing. Returns 0 or TG_ENOMEM.
 */
int tg_findings_add(struct tg_findings *f, enum tg_code code,
                    enum tg_action action, const char *field,
                    const char *const *args, size_t nargs);
/*
 * Appends a finding whose message is text as it is, not cut: a sentence of
 * the configuration (a forbidden rule's reason), which its author wrote to
 * be read whole and whose length the configuration bounds; control
 * characters (a YAML block's newlines) become spaces. Otherwise as
 * tg_findings_add.
 */
int tg_findings_add_text(struct tg_findings *f, enum tg_code code,
                         enum tg_action action, const char *field,
                         const char *text);

#endif
