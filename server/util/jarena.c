/* jarena.c - bump allocation for the JSON values of one request or ticket. */
#include "server/util/jarena.h"

#include <assert.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

/* In the sanitizer build an arena's free bytes are poisoned: a value used
 * after tg_jarena_rewind or tg_jarena_end, or written past its size, is an
 * AddressSanitizer report instead of silent reuse. */
#if defined(__SANITIZE_ADDRESS__)
#define TG_JARENA_POISON 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TG_JARENA_POISON 1
#endif
#endif
#ifdef TG_JARENA_POISON
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* jansson's values hold pointers, doubles and 64-bit integers. */
#define ALIGN 16

/* The calling thread's innermost arena, NULL outside any. */
static _Thread_local struct tg_jarena *current;

/* Set once by tg_jarena_install, before threads start. */
static int installed;

static void *arena_malloc(size_t n)
{
    struct tg_jarena *a = current;
    size_t need;

    if (a && n <= a->cap) {
        need = (n + (ALIGN - 1)) & ~(size_t)(ALIGN - 1);
        if (need <= a->cap - a->used) {
            void *p = a->base + a->used;
            a->used += need;
            UNPOISON(p, n);
            return p;
        }
    }
    if (a)
        a->spills++;
    return malloc(n);
}

/* A pointer into any arena of this thread is given back by rewind or end;
 * everything else came from malloc. */
static void arena_free(void *p)
{
    uintptr_t u = (uintptr_t)p;

    for (struct tg_jarena *a = current; a; a = a->prev)
        if (u >= (uintptr_t)a->base && u < (uintptr_t)a->base + a->cap)
            return;
    free(p);
}

void tg_jarena_install(void)
{
    installed = 1;
    json_set_alloc_funcs(arena_malloc, arena_free);
}

void tg_jarena_begin(struct tg_jarena *a, void *buf, size_t cap)
{
    /* Align the start so that every cut is aligned. */
    uintptr_t b = (uintptr_t)buf;
    size_t skip = (size_t)((ALIGN - b % ALIGN) % ALIGN);

    a->base = buf;
    a->cap = cap;
    a->tail = 0;
    a->spills = 0;
    a->used = skip <= cap ? skip : cap;
    a->prev = current;
    current = a;
    POISON(a->base, a->cap);
}

void tg_jarena_end(struct tg_jarena *a)
{
    if (current == a)
        current = a->prev;
    POISON(a->base, a->cap + a->tail);
}

void *tg_jarena_tail(struct tg_jarena *a, size_t n)
{
    size_t need = (n + (ALIGN - 1)) & ~(size_t)(ALIGN - 1);
    /* where the cut ends: an aligned address at or below the free end */
    size_t mis = (size_t)(((uintptr_t)a->base + a->cap) % ALIGN);
    size_t end = a->cap >= mis ? a->cap - mis : 0;

    if (need < n || end < a->used || need > end - a->used)
        return NULL;
    a->tail += a->cap - (end - need);
    a->cap = end - need;
    UNPOISON(a->base + a->cap, n);
    return a->base + a->cap;
}

int tg_jarena_active(void)
{
    return current != NULL;
}

void tg_jarena_assert_outside(void)
{
    assert(current == NULL &&
           "libjwt's jansson values are made and freed outside any arena");
}

size_t tg_jarena_mark(const struct tg_jarena *a)
{
    return a->used;
}

int tg_jarena_whole(const struct tg_jarena *a)
{
    return installed && a->spills == 0;
}

void tg_jarena_rewind(struct tg_jarena *a, size_t mark)
{
    if (mark <= a->used) {
        POISON(a->base + mark, a->used - mark);
        a->used = mark;
    }
}
