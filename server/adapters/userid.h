/* userid.h - the identity of an ITSM user value (ADAPTERS.md "Identities"). */
#ifndef TG_USERID_H
#define TG_USERID_H

#include <jansson.h>
#include <stddef.h>

#include "validators/directory.h"

/*
 * A string value is an identity as it is. An object is matched against the
 * directory by each of its members keys[0..n) in turn: the first non-empty
 * one that resolves wins, else the first non-empty one present (so an
 * unknown user is reported as unknown, never dropped). Anything else, or an
 * object with none of the keys, is NULL. The result is borrowed from v.
 */
const char *tg_userid_pick(const struct tg_directory *d, const json_t *v,
                           const char *const *keys, size_t n);

/* The display name user value v carries: the first non-empty string among
 * its members keys[0..n) (Jira "displayName"; ServiceNow "name",
 * "display_value"). NULL for a string, or when none is given. Borrowed. */
const char *tg_userid_display(const json_t *v, const char *const *keys,
                              size_t n);

/*
 * Records name as the display name of identity id in the object names
 * (names[id] = name; the canonical ticket's "names"), so that messages can
 * name a person as a desk agent knows them. Nothing is recorded when id or
 * name is NULL or empty, when name is id itself (ignoring case), or when id
 * already has a name (the first wins). Returns 0 or TG_ENOMEM.
 */
int tg_userid_note(json_t *names, const char *id, const char *name);

/* Maps a beneficiary type as ITSM forms spell it ("Service account",
 * "workload", "Person", ...), or as a choice stores it ("service_account",
 * "api-key"), to "service", "shared" or "human" (tg_ident_type_word); any
 * other word is returned as it is. NULL stays NULL. */
const char *tg_userid_type_word(const char *s);

#endif
