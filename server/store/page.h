/* page.h - one page of a ticket's decisions, the same for both backends. */
#ifndef TG_STORE_PAGE_H
#define TG_STORE_PAGE_H

#include <stdint.h>

#include <jansson.h>

/* The page size a caller asked for, 0 or less meaning the default (100),
 * at most 1000. */
int tg_store_page_limit(int limit);

/* The exclusive upper seq bound of a page: before, or INT64_MAX when 0 (the
 * first page) or beyond the range of a row's seq. */
int64_t tg_store_page_before(uint64_t before);

/* *out = {"decisions": arr, "next": next}. Takes both references, even on
 * failure; either NULL (a failed allocation) fails. Returns 0 or
 * TG_ENOMEM. */
int tg_store_page(json_t *arr, json_t *next, json_t **out);

#endif
