/* batch.h - what both group-commit writers check before queueing an item. */
#ifndef TG_STORE_BATCH_H
#define TG_STORE_BATCH_H

#include <stddef.h>

#include "server/store/store.h"

/* 1 when the n bytes at p, outer whitespace aside, are braced like a JSON
 * object; the documents come from json_dumpb, so a full parse would only
 * repeat jansson's work on every request. */
int tg_store_looks_like_object(const char *p, size_t n);

/* 1 when r names every field a decision row needs and its decision is an
 * object; optional judged/facts documents, when given, are not empty.
 * Actions are each backend's own check (its outbox). */
int tg_store_record_valid(const struct tg_evidence_record *r);

/* Validates en (kind 1..32 bytes of [a-z_] other than "decision", a
 * non-empty key, a non-empty object document under INT32_MAX bytes) and
 * makes its row id "<kind>:<key>" (*id, malloc'd, the caller frees) and the
 * SHA-256 of its document. Returns 0, TG_EINVAL, TG_ENOMEM or TG_EIO; on
 * error *id is NULL. */
int tg_store_entry_prepare(const struct tg_evidence_entry *en, char **id,
                           unsigned char sha[32]);

#endif
