/* show.h - one decision record read whole from a store file (audit show). */
#ifndef TG_STORE_SHOW_H
#define TG_STORE_SHOW_H

#include <stddef.h>
#include <stdint.h>

/* One decision record as stored; every string is owned (NUL-terminated)
 * and NULL when the column is NULL. */
struct tg_evidence_shown {
    uint64_t seq;
    char *decision_id, *ticket, *source, *delivery_id, *policy;
    int64_t time;              /* evaluated_at, UTC seconds */
    char *decision;            /* the decision document as sent */
    size_t decision_len;
    char *judged;              /* the judged ticket; NULL on old records */
    size_t judged_len;
    char *facts;               /* the facts document; NULL before v3 */
    size_t facts_len;
    char *hash;                /* the record's link hash, hex */
    int has_mac;               /* 1 when the link carries a MAC */
};

/*
 * Reads the decision record decision_id from the store file at path (own
 * read-only connection; the file may belong to a running server; a store
 * of schema version 1, not yet opened by a newer server, reads with no
 * judged ticket). Chain entries that are not decisions are not found.
 * Returns 0 with *out filled (free with tg_evidence_shown_free),
 * TG_ENOTFOUND, TG_EIO (not a readable store) or TG_ENOMEM.
 */
int tg_evidence_show_file(const char *path, const char *decision_id,
                          struct tg_evidence_shown *out);

/* Frees what tg_evidence_show_file put in s and zeroes it. */
void tg_evidence_shown_free(struct tg_evidence_shown *s);

#endif
