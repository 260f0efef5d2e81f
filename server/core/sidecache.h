/* sidecache.h - recorded decisions' sides remembered by their text. */
#ifndef TG_SIDECACHE_H
#define TG_SIDECACHE_H

#include <stddef.h>
#include <stdint.h>

#include "server/core/change.h"

/*
 * Replay compares every recorded decision with the candidate's, and most do
 * not change. A store holds few distinct recorded sides (a verdict and its
 * findings' codes and actions: the facts document's "recorded" value), each
 * written in the same bytes, so parsing that value again for every record
 * was about a tenth of replay's CPU. The cache remembers texts jansson has
 * read and what they read as; a record whose text begins with a remembered
 * one whose side is the candidate's is unchanged, without a parse.
 *
 * That is sound because a remembered text is a whole JSON object, exactly
 * the bytes jansson consumed (JSON_DISABLE_EOF_CHECK stops at its closing
 * brace, reading nothing after it): any text that begins with those bytes
 * parses to the same value. Bounded: TG_SIDECACHE_SLOTS entries of at most
 * TG_SIDECACHE_TEXT bytes; a new text may replace an old one. Not shared
 * between threads: each replay chunk slot has its own.
 */
#define TG_SIDECACHE_SLOTS 256
#define TG_SIDECACHE_TEXT 1024

struct tg_sidecache_entry {
    uint64_t hash; /* of side */
    char *text;    /* NULL: empty */
    size_t len;
    struct tg_change_side side;
};

struct tg_sidecache {
    struct tg_sidecache_entry e[TG_SIDECACHE_SLOTS];
};

/* An empty cache (a zeroed struct is one too). */
void tg_sidecache_init(struct tg_sidecache *c);
/* Frees every remembered text; leaves c initialised and empty. */
void tg_sidecache_cleanup(struct tg_sidecache *c);

/* 1 when the len bytes at s begin with a remembered text that read as
 * *side, else 0. */
int tg_sidecache_match(const struct tg_sidecache *c, const char *s, size_t len,
                       const struct tg_change_side *side);

/*
 * Remembers the n bytes at s, which jansson read (consuming exactly them)
 * as a JSON object whose side is *side; a text remembered already is kept
 * once. An empty text, or one over TG_SIDECACHE_TEXT bytes, is not
 * remembered, and that returns 0 too. Returns 0 or TG_ENOMEM (c
 * unchanged).
 */
int tg_sidecache_put(struct tg_sidecache *c, const char *s, size_t n,
                     const struct tg_change_side *side);

#endif
