/* facts.c - the facts document: what replay and the report read of a record. */
#include "server/core/facts.h"

#include <stddef.h>

/* dst[k] = src[k] (the same value, one more reference) when src has k.
 * Returns 0, or -1 on ENOMEM. Keys are our own ASCII literals. */
static int take(json_t *dst, const json_t *src, const char *k)
{
    json_t *v = json_object_get(src, k);

    return v ? json_object_set_nocheck(dst, k, v) : 0;
}

/* A new object of src's members named in keys (NULL-terminated), or, when
 * src is not an object, src itself (one more reference): a reader then
 * meets the same value it would in the source. NULL on ENOMEM. */
static json_t *pick(const json_t *src, const char *const keys[])
{
    json_t *o;

    if (!json_is_object(src))
        return json_incref((json_t *)src);
    if (!(o = json_object()))
        return NULL;
    for (size_t i = 0; keys[i]; i++)
        if (take(o, src, keys[i])) {
            json_decref(o);
            return NULL;
        }
    return o;
}

/* dst[k] = pick(src[k], keys) when src has k. 0 or -1 (ENOMEM). */
static int put_pick(json_t *dst, const json_t *src, const char *k,
                    const char *const keys[])
{
    const json_t *v = json_object_get(src, k);

    return v ? json_object_set_new_nocheck(dst, k, pick(v, keys)) : 0;
}

/* dst[k] = [pick(e, keys) for each e of src[k]] when src has k (a value
 * that is not an array: as it is). 0 or -1 (ENOMEM). */
static int put_each(json_t *dst, const json_t *src, const char *k,
                    const char *const keys[])
{
    const json_t *v = json_object_get(src, k), *e;
    json_t *a;
    size_t i;

    if (!v)
        return 0;
    if (!json_is_array(v))
        return json_object_set_nocheck(dst, k, (json_t *)v);
    if (!(a = json_array()) || json_object_set_new_nocheck(dst, k, a))
        return -1;
    json_array_foreach(v, i, e)
        if (json_array_append_new(a, pick(e, keys)))
            return -1;
    return 0;
}

/* o["recorded"]: the decision document's members at their own paths,
 * "decision" first. It is facts' first member, so that replay, which reads
 * nothing else of facts, parses only it: after the fixed start
 * `{"recorded":`, jansson with JSON_DISABLE_EOF_CHECK (cli/replay.c). */
static int decision_part(json_t *o, const json_t *doc)
{
    static const char *const finding[] = {"code", "action", "exception",
                                          NULL};
    json_t *r = json_object();

    if (!r || json_object_set_new_nocheck(o, "recorded", r))
        return -1;
    return take(r, doc, "decision") ||
           put_each(r, doc, "findings", finding) ||
           take(r, doc, "exception") || take(r, doc, "exceptions");
}

/* judged "ticket": what the report reads of the canonical ticket. */
static json_t *ticket_part(const json_t *t)
{
    static const char *const id[] = {"id", NULL};
    static const char *const scope[] = {"system", "entitlement",
                                        "environment", NULL};
    json_t *o;
    const json_t *b = json_object_get(t, "beneficiary");

    if (!json_is_object(t))
        return json_incref((json_t *)t);
    if (!(o = json_object()))
        return NULL;
    if (take(o, t, "requester") ||
        /* an object {id, type}: the report reads its id */
        (json_is_object(b) ? put_pick(o, t, "beneficiary", id)
                           : take(o, t, "beneficiary")) ||
        put_pick(o, t, "scope", scope) || take(o, t, "created_at") ||
        take(o, t, "expires_at") || take(o, t, "emergency")) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* judged "identities": who asked, who receives, who approved when. */
static json_t *identities_part(const json_t *ids)
{
    static const char *const who[] = {"given", "resolved", NULL};
    static const char *const approver[] = {"given", "resolved", "at", NULL};
    json_t *o;

    if (!json_is_object(ids))
        return json_incref((json_t *)ids);
    if (!(o = json_object()))
        return NULL;
    if (put_pick(o, ids, "requester", who) ||
        put_pick(o, ids, "beneficiary", who) ||
        put_each(o, ids, "approvers", approver)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *tg_facts_build(const json_t *decision, const json_t *judged)
{
    json_t *o, *v;

    if (!json_is_object(decision) || !(o = json_object()))
        return NULL;
    if (decision_part(o, decision))
        goto fail;
    if ((v = json_object_get(judged, "ticket")) &&
        json_object_set_new_nocheck(o, "ticket", ticket_part(v)))
        goto fail;
    if ((v = json_object_get(judged, "identities")) &&
        json_object_set_new_nocheck(o, "identities", identities_part(v)))
        goto fail;
    return o;
fail:
    json_decref(o);
    return NULL;
}
