/* jarena.h - bump allocation for the JSON values of one request or ticket. */
#ifndef TG_JARENA_H
#define TG_JARENA_H

#include <stddef.h>

/*
 * Parsing a 3 KB webhook makes some two hundred jansson values, each with
 * its own malloc and free; a quarter of a request's CPU went to the
 * allocator. Between tg_jarena_begin and tg_jarena_end, jansson's
 * allocations on the calling thread are cut from one caller-owned buffer
 * and its frees of them cost nothing; once the buffer is full, allocations
 * fall back to malloc and are freed as usual.
 *
 * The rule that keeps this safe: every JSON value made on the thread
 * between begin and end is released before end, and no text jansson
 * allocates there (json_dumps) is given to free(): use json_dumpb. Values
 * made before begin may be used and released inside; they are freed with
 * free() as always.
 */
struct tg_jarena {
    char *base;
    size_t cap; /* what jansson may have: the buffer less the tail cut */
    size_t used;
    size_t tail; /* bytes cut from the end by tg_jarena_tail */
    size_t spills; /* allocations that did not fit and went to malloc */
    struct tg_jarena *prev; /* the thread's arena before this one */
};

/* Routes jansson's allocations through this module. Call once at start,
 * before threads; outside any arena they are plain malloc and free. */
void tg_jarena_install(void);

/* Makes the cap bytes at buf the calling thread's arena until
 * tg_jarena_end(a). buf must stay valid until then. Arenas nest. */
void tg_jarena_begin(struct tg_jarena *a, void *buf, size_t cap);

/* Ends a, which must be the thread's innermost arena. In the sanitizer
 * build its buffer is poisoned until the next begin. */
void tg_jarena_end(struct tg_jarena *a);

/* 1 when the calling thread allocates JSON values from an arena. */
int tg_jarena_active(void);

/*
 * Asserts that the calling thread is inside no arena: call it before
 * handing control to libjwt. libjwt makes jansson values and text of its
 * own (json_dumps) and frees them with free() or its own allocator; made
 * inside an arena they would be pointers into the arena's buffer given to
 * free(), and a value libjwt keeps would outlive the arena. So no jansson
 * value made by libjwt is ever made or freed inside a request's arena.
 */
void tg_jarena_assert_outside(void);

/* n bytes (16-aligned) cut from the end of a's free space for the
 * caller's own use until tg_jarena_end(a), or NULL when they do not fit.
 * jansson's values keep coming from the front. What a request would hold
 * on its thread's stack (text buffers) lives here instead: a worker's
 * stack stays resident as deep as it was ever used, on every thread. */
void *tg_jarena_tail(struct tg_jarena *a, size_t n);

/* A mark to rewind to: everything cut from a after tg_jarena_mark returns
 * is given back by tg_jarena_rewind(a, mark), once it is all released. */
size_t tg_jarena_mark(const struct tg_jarena *a);
void tg_jarena_rewind(struct tg_jarena *a, size_t mark);

/*
 * 1 when every JSON value made on the calling thread since
 * tg_jarena_begin(a) lives in a's buffer: none went to malloc because it
 * did not fit, and jansson allocates through this module at all
 * (tg_jarena_install; a unit test linking a command may not call it).
 * The one exception to the release rule above: while this holds, values
 * made inside a (and sharing no part with a value made elsewhere) may be
 * dropped with tg_jarena_rewind or tg_jarena_end instead of released one
 * by one: json_decref of a parsed document walks every value of it, which
 * for replay's tickets was a few per cent of a record's CPU.
 */
int tg_jarena_whole(const struct tg_jarena *a);

#endif
