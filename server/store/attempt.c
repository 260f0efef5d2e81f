/* attempt.c - what both store backends share of the outbox: the actions
 * they accept and the record of one act-back attempt. */
#include "server/store/attempt.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/util/clock.h"
#include "server/util/digest.h"
#include "validators/errors.h"

static const char *const SYSTEMS[] = {"jira", "servicenow"};
static const char *const ACTIONS[] = {"comment", "transition", "label",
                                      "reject_approval", "work_note"};

static int one_of(const char *s, const char *const *v, size_t n)
{
    for (size_t i = 0; s && i < n; i++)
        if (strcmp(s, v[i]) == 0)
            return 1;
    return 0;
}

int tg_outbox_action_ok(const json_t *a)
{
    return json_is_object(a) &&
           one_of(json_string_value(json_object_get(a, "system")), SYSTEMS,
                  2) &&
           one_of(json_string_value(json_object_get(a, "action")), ACTIONS,
                  5) &&
           json_is_object(json_object_get(a, "params"));
}

int tg_outbox_actions_valid(const char *actions_json)
{
    json_t *v = json_loads(actions_json, 0, NULL), *a;
    size_t i;
    int ok = json_is_array(v);

    json_array_foreach(v, i, a) ok = ok && tg_outbox_action_ok(a);
    json_decref(v);
    return ok;
}

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

int tg_outbox_outcome_ok(const char *outcome)
{
    return outcome && (strcmp(outcome, "delivered") == 0 ||
                       strcmp(outcome, "retry") == 0 ||
                       strcmp(outcome, "dead") == 0);
}

int tg_outbox_settle_prepare(struct tg_outbox_settle *st, const json_t *row,
                             int64_t id, const char *outcome,
                             int64_t next_at_ms, const char *error,
                             int64_t now)
{
    size_t klen;

    memset(st, 0, sizeof *st);
    st->id = id;
    st->next_at = next_at_ms;
    st->outcome = outcome;
    if (error) {
        tg_outbox_bound_error(error, st->err);
        st->error = st->err;
    }
    st->tries = json_integer_value(json_object_get(row, "try"));
    st->now = now;
    if (!(st->doc = tg_outbox_attempt_doc(row, st->id, st->tries, st->outcome,
                                          st->error, st->next_at)))
        return TG_ENOMEM;
    if (snprintf(st->key, sizeof st->key, "%" PRId64 ":%" PRId64, id,
                 st->tries) >= (int)sizeof st->key)
        return TG_ENOMEM;
    st->en.kind = "action";
    st->en.key = st->key;
    st->en.ticket = json_string_value(json_object_get(row, "ticket"));
    st->en.source = json_string_value(json_object_get(row, "system"));
    st->en.time = st->now / 1000;
    st->en.json = st->doc;
    st->en.len = strlen(st->doc);
    klen = strlen(st->key);
    if (!(st->en_id = malloc(sizeof "action:" + klen)))
        return TG_ENOMEM;
    memcpy(st->en_id, "action:", 7);
    memcpy(st->en_id + 7, st->key, klen + 1);
    if (tg_digest_sha256_of(st->doc, st->en.len, st->en_sha))
        return TG_EIO;
    return 0;
}

void tg_outbox_settle_clear(struct tg_outbox_settle *st)
{
    free(st->en_id);
    free(st->doc);
    st->en_id = NULL;
    st->doc = NULL;
}

int tg_outbox_settle_run(void *be, int64_t id, const char *outcome,
                         int64_t next_at_ms, const char *error,
                         int (*read_row)(void *be, int64_t id, json_t **row),
                         int (*enqueue)(void *be, struct tg_outbox_settle *st))
{
    struct tg_outbox_settle st;
    json_t *row = NULL;
    int rc;

    if (!tg_outbox_outcome_ok(outcome))
        return TG_EINVAL;
    if ((rc = read_row(be, id, &row)))
        return rc;
    rc = tg_outbox_settle_prepare(&st, row, id, outcome, next_at_ms, error,
                                  tg_clock_wall_ms());
    if (rc == 0)
        rc = enqueue(be, &st);
    if (rc == TG_ECONFLICT)
        rc = 0;
    tg_outbox_settle_clear(&st);
    json_decref(row);
    return rc;
}
