/* internal.h - what the outcome modules share: interned names, linking state. */
#ifndef TG_OUTCOMES_INTERNAL_H
#define TG_OUTCOMES_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "server/outcomes/outcomes.h"

/* Longest identity, system, entitlement or source id kept (longer ones are
 * cut at a character boundary). */
#define TG_OC_TEXT_CAP 256

struct tg_oc_names *tg_oc_names_new(void);
void tg_oc_names_free(struct tg_oc_names *t);
uint32_t tg_oc_names_count(const struct tg_oc_names *t);
const char *tg_oc_names_text(const struct tg_oc_names *t, uint32_t id);
/* 1 and *id when the n bytes at s are interned, else 0. */
int tg_oc_names_lookup(const struct tg_oc_names *t, const char *s, size_t n,
                       uint32_t *id);
/* The id of the n bytes at s, interning them if new (n == 0: id 0).
 * 0 or TG_ENOMEM. */
int tg_oc_names_intern(struct tg_oc_names *t, const char *s, size_t n,
                       uint32_t *id);

/* tg_oc_load_file with batches of batch_bytes (the tests make them
 * small, so that rows cross many batches and both parsers). */
int tg_oc_load_file_batched(const char *path, size_t batch_bytes,
                            struct tg_oc_set **out);

/* The source id of event e. */
const char *tg_oc_source_id(const struct tg_oc_set *s,
                            const struct tg_oc_event *e);
/* The allowed ticket of key (beneficiary b, system sy, entitlement en)
 * with the latest window start at or before t, and (need_end) whose end is
 * after t; 0 when none. */
uint32_t tg_oc_find_window(const struct tg_oc_set *s, uint32_t b, uint32_t sy,
                           uint32_t en, int64_t t, int need_end);
/* Frees what tg_oc_link made. */
void tg_oc_link_free(struct tg_oc_set *s);

/* 1 when ticket name id t has an allowing decision. */
static inline int tg_oc_allowed(const struct tg_oc_set *s, uint32_t t)
{
    return t < s->n_tickets_cap && s->last_allow[t] != 0;
}

#endif
