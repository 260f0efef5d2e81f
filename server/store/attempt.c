/* attempt.c - what both store backends record of one act-back attempt. */
#include "server/store/attempt.h"

#include <string.h>

void tg_outbox_bound_error(const char *error, char out[TG_OUTBOX_ERROR_MAX + 1])
{
    size_t n = strlen(error);

    if (n > TG_OUTBOX_ERROR_MAX) {
        n = TG_OUTBOX_ERROR_MAX;
        while (n > 0 && ((unsigned char)error[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(out, error, n);
    out[n] = '\0';
}

char *tg_outbox_attempt_doc(const json_t *row, int64_t id, int64_t tries,
                            const char *outcome, const char *error,
                            int64_t next_at)
{
    json_t *d = json_pack(
        "{s:I, s:O, s:O, s:O, s:O, s:O, s:I, s:s, s:s?}", "action_id",
        (json_int_t)id, "decision_id", json_object_get(row, "decision_id"),
        "ticket", json_object_get(row, "ticket"), "system",
        json_object_get(row, "system"), "action",
        json_object_get(row, "action"), "params",
        json_object_get(row, "params"), "attempt", (json_int_t)tries,
        "outcome", outcome, "error", error);
    char *s = NULL;

    if (d && strcmp(outcome, "retry") == 0 &&
        json_object_set_new(d, "next_at", json_integer(next_at)))
        goto out;
    if (d)
        s = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
out:
    json_decref(d);
    return s;
}
