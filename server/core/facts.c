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

/* dst[k] = [part(e, arg) for each e of src[k]] when src has k (a value
 * that is not an array: as it is). 0 or -1 (ENOMEM). */
static int put_each(json_t *dst, const json_t *src, const char *k,
                    json_t *(*part)(const json_t *e, const void *arg),
                    const void *arg)
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
        if (json_array_append_new(a, part(e, arg)))
            return -1;
    return 0;
}

/* A finding: its members named in keys (pick). */
static json_t *finding_part(const json_t *e, const void *keys)
{
    return pick(e, keys);
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
           put_each(r, doc, "findings", finding_part, finding) ||
           take(r, doc, "exception") || take(r, doc, "exceptions");
}

/* The report keeps a name's first TG_OC_TEXT_CAP - 1 = 255 bytes, cut back
 * to a whole UTF-8 character (outcomes/internal.h, set.c keep): of a
 * longer name it reads at least the first 252. */
#define NAME_READ_ALWAYS 252
#define NAME_READ_WHOLE 255

/* 1 when v is a string the report surely interns as a name: a character
 * other than a blank (space, tab) among the bytes it always reads
 * (intern_folded trims blanks, and an empty name is no one). Saying 0 of
 * a name is safe: the ticket's own name is then kept, unread. */
static int names(const json_t *v)
{
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);

    if (n > NAME_READ_WHOLE)
        n = NAME_READ_ALWAYS;
    for (size_t i = 0; s && i < n; i++)
        if (s[i] != ' ' && s[i] != '\t')
            return 1;
    return 0;
}

/* 1 when "resolved" of the identity v is absent or null: only then does
 * the report read its "given" (outcomes/set.c identity()). */
static int unresolved(const json_t *v)
{
    const json_t *r = json_object_get(v, "resolved");

    return !r || json_is_null(r);
}

/* 1 when the identity v names someone for the report: its "resolved", or
 * its "given" when unresolved, is a name. The report then never reads the
 * ticket's own requester or beneficiary for it (read_judged). */
static int identity_names(const json_t *v)
{
    if (!json_is_object(v))
        return 0;
    return names(json_object_get(v, unresolved(v) ? "given" : "resolved"));
}

/* judged "ticket": what the report reads of the canonical ticket. The
 * ticket's requester and beneficiary are the report's last resort, read
 * only when the identities name no one for them (ids: judged
 * "identities"); the identities nearly always do, and the two strings were
 * a sixth of the facts' bytes, parsed for every decision of a report. */
static json_t *ticket_part(const json_t *t, const json_t *ids)
{
    static const char *const id[] = {"id", NULL};
    static const char *const scope[] = {"system", "entitlement",
                                        "environment", NULL};
    json_t *o;
    const json_t *b = json_object_get(t, "beneficiary");
    int requester = !identity_names(json_object_get(ids, "requester"));
    int beneficiary = !identity_names(json_object_get(ids, "beneficiary"));

    if (!json_is_object(t))
        return json_incref((json_t *)t);
    if (!(o = json_object()))
        return NULL;
    if ((requester && take(o, t, "requester")) ||
        /* an object {id, type}: the report reads its id */
        (beneficiary && (json_is_object(b)
                             ? put_pick(o, t, "beneficiary", id)
                             : take(o, t, "beneficiary"))) ||
        put_pick(o, t, "scope", scope) || take(o, t, "created_at") ||
        take(o, t, "expires_at") || take(o, t, "emergency")) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* One identity of judged "identities" (an object, else as it is): its
 * "resolved", its "given" only when it is unresolved (the one case in
 * which the report reads it), and with_at its "at". */
static json_t *who_part(const json_t *v, int with_at)
{
    static const char *const keys[2][2][4] = {
        /* without "at": resolved; unresolved */
        {{"resolved", NULL}, {"given", "resolved", NULL}},
        /* with "at" */
        {{"resolved", "at", NULL}, {"given", "resolved", "at", NULL}}};

    return pick(v, keys[with_at != 0][unresolved(v)]);
}

/* dst[k] = who_part(src[k]) when src has k. 0 or -1 (ENOMEM). */
static int put_who(json_t *dst, const json_t *src, const char *k)
{
    const json_t *v = json_object_get(src, k);

    return v ? json_object_set_new_nocheck(dst, k, who_part(v, 0)) : 0;
}

/* An approver: who_part with its "at". */
static json_t *approver_part(const json_t *e, const void *unused)
{
    (void)unused;
    return who_part(e, 1);
}

/* judged "identities": who asked, who receives, who approved when. */
static json_t *identities_part(const json_t *ids)
{
    json_t *o;

    if (!json_is_object(ids))
        return json_incref((json_t *)ids);
    if (!(o = json_object()))
        return NULL;
    if (put_who(o, ids, "requester") || put_who(o, ids, "beneficiary") ||
        put_each(o, ids, "approvers", approver_part, NULL)) {
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
        json_object_set_new_nocheck(
            o, "ticket", ticket_part(v, json_object_get(judged, "identities"))))
        goto fail;
    if ((v = json_object_get(judged, "identities")) &&
        json_object_set_new_nocheck(o, "identities", identities_part(v)))
        goto fail;
    return o;
fail:
    json_decref(o);
    return NULL;
}
