/* canonical.h - the canonical ticket (TICKET.md) from and to JSON. */
#ifndef TG_CANONICAL_H
#define TG_CANONICAL_H

#include <jansson.h>

#include "validators/ticket.h"

/*
 * Maps a canonical ticket JSON object to t (initialised by the caller).
 * Unknown keys are ignored. On failure (no id, wrong types) returns TG_EINVAL
 * and writes a sentence naming the field at fault into err (cap bytes); t is
 * then cleaned up. Returns 0, TG_EINVAL or TG_ENOMEM.
 */
int tg_canonical_from_json(const json_t *obj, struct tg_ticket *t,
                           char *err, size_t cap);

/* The canonical JSON object of t (new reference), or NULL on ENOMEM. */
json_t *tg_canonical_to_json(const struct tg_ticket *t);

#endif
