/* page.c - the page of GET /v1/decisions: its bounds and its document, for reads.c and pgread.c. */

#include "server/store/page.h"

#include "validators/errors.h"

#define LIST_DEFAULT 100
#define LIST_MAX 1000

int tg_store_page_limit(int limit)
{
    if (limit <= 0)
        return LIST_DEFAULT;
    return limit > LIST_MAX ? LIST_MAX : limit;
}

int64_t tg_store_page_before(uint64_t before)
{
    return (before == 0 || before > INT64_MAX) ? INT64_MAX : (int64_t)before;
}

int tg_store_page(json_t *arr, json_t *next, json_t **out)
{
    json_t *res = arr && next ? json_object() : NULL;
    int bad;

    if (!res) {
        json_decref(arr);
        json_decref(next);
        return TG_ENOMEM;
    }
    /* set_new takes the reference even when it fails */
    bad = json_object_set_new(res, "decisions", arr);
    bad = json_object_set_new(res, "next", next) || bad;
    if (bad) {
        json_decref(res);
        return TG_ENOMEM;
    }
    *out = res;
    return 0;
}
