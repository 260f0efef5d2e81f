/* fieldtext.h - the one reader of a field value's text, for both adapters. */
#ifndef TG_FIELDTEXT_H
#define TG_FIELDTEXT_H

#include <jansson.h>

#include "server/config/config.h"
#include "server/util/strbuf.h"

/* Upper bound of any one text value built (joined lists, ADF). */
#define TG_FIELDTEXT_MAX (4u << 20)

/* How one adapter reads the values that differ between ITSMs: objects. */
struct tg_fieldtext {
    /* Appends the text of the JSON object v to b, setting *present when
     * anything (even "") was given. Returns 0, TG_ENOMEM or TG_ETOOBIG. */
    int (*object)(const struct tg_fieldtext *how, const json_t *v,
                  struct tg_strbuf *b, int *present);
    const struct tg_directory *dir; /* for identities; may be NULL */
};

/*
 * Appends the text of a field value (ADAPTERS.md "Field values"): a string
 * as it is; a number its decimal form; a list its elements' texts joined
 * with ", "; an object what how->object makes of it. null and booleans give
 * nothing. *present is set when anything (even "") was given. Returns 0,
 * TG_EINVAL, TG_ENOMEM or TG_ETOOBIG.
 */
int tg_fieldtext_append(const struct tg_fieldtext *how, const json_t *v,
                        struct tg_strbuf *b, int *present);

/* The text of v as a new string (caller frees) into *out, or NULL when v
 * gives none. Returns as tg_fieldtext_append. */
int tg_fieldtext_dup(const struct tg_fieldtext *how, const json_t *v,
                     char **out);

/* Sets member k of o to the text of v, when there is one. Returns as
 * tg_fieldtext_append. */
int tg_fieldtext_set(const struct tg_fieldtext *how, json_t *o, const char *k,
                     const json_t *v);

#endif
