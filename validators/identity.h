/* identity.h - how validators classify and compare identities (TICKET.md). */
#ifndef TG_IDENTITY_H
#define TG_IDENTITY_H

#include <stddef.h>

#include "validators/directory.h"

struct tg_ticket;

enum tg_ident_class {
    TG_ID_ABSENT,         /* NULL, empty or blank */
    TG_ID_PERSON,         /* a human in the directory */
    TG_ID_NOT_INDIVIDUAL, /* group, shared/service account, generic name */
    TG_ID_UNKNOWN,        /* in no entry, not generic */
};

struct tg_ident {
    const char *raw;
    struct tg_entity ent;
    enum tg_ident_class cls;
};

/* Resolves and classifies s (REASONS.md "not individual"). */
struct tg_ident tg_ident_classify(const struct tg_directory *d, const char *s);
/* 1 when s holds something other than white space. */
int tg_ident_present(const char *s);
/* 1 when a and b are the same identity after alias resolution; two names in
 * no entry are the same when equal ignoring case and surrounding space. */
int tg_ident_same(const struct tg_directory *d, const char *a, const char *b);
/* 1 when v[i] names the same identity as an earlier entry of v (TICKET.md:
 * one human under two names is still one human), so that a list of
 * approvers gives each person's findings once. */
int tg_ident_repeats(const struct tg_directory *d, char *const *v, size_t i);
/* The beneficiary type a word names, ignoring case and surrounding space:
 * "service" for the non-human identities of TICKET.md (service, service
 * account, API key, token, workload, machine, bot, ...), "shared", "human"
 * (human, person, user, employee), or NULL for any other word. */
const char *tg_ident_type_word(const char *s);
/* "human", "service" or "shared": the beneficiary's type (REASONS.md): the
 * type t gives when it is a known word, else what the directory says of the
 * beneficiary (the requester when none is named), else "human". */
const char *tg_beneficiary_type(const struct tg_ticket *t,
                                const struct tg_directory *d);

/* Room for any label tg_ident_label writes, NUL included: a message
 * argument keeps 120 bytes, so a label never needs the generic cut. */
#define TG_IDENT_LABEL_MAX 121
/*
 * How a message names identity s, so that a desk agent knows who is meant:
 * "Dave Okafor (5b109f…)" when the payload gave t a display name for s, or
 * else the directory resolves s to a person whose name differs from s;
 * otherwise s itself, unchanged (NULL stays NULL). The label is written to
 * buf (cap bytes; TG_IDENT_LABEL_MAX always suffices, a smaller cap gives
 * s) and is at most 120 bytes of valid UTF-8 when the inputs are: an opaque
 * id (a Jira accountId, a ServiceNow sys_id: 20 or more letters, digits,
 * ':' '-' '_', a quarter of them digits) is shortened to six characters and
 * "…" after any "557058:"-style prefix; any other id is kept up to 60 bytes;
 * the name takes the rest. Control characters and runs of white space in
 * the name become one space. Returns buf or s; t may be NULL.
 */
const char *tg_ident_label(const struct tg_ticket *t,
                           const struct tg_directory *d, const char *s,
                           char *buf, size_t cap);

#endif
