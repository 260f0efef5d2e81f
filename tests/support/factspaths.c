/* factspaths.c - the paths a facts document holds, and walkers that check a facts document against them. */
#include "tests/support/factspaths.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

const char *const TG_FACTS_DECISION_PATHS[] = {
    "decision", "findings[].code", "findings[].action",
    "findings[].exception", "exception", "exceptions", NULL};
const char *const TG_FACTS_JUDGED_PATHS[] = {
    "ticket.requester", "ticket.beneficiary", "ticket.beneficiary.id",
    "ticket.scope.system", "ticket.scope.entitlement",
    "ticket.scope.environment", "ticket.created_at", "ticket.expires_at",
    "ticket.emergency", "identities.requester.given",
    "identities.requester.resolved", "identities.beneficiary.given",
    "identities.beneficiary.resolved", "identities.approvers[].given",
    "identities.approvers[].resolved", "identities.approvers[].at", NULL};

/* 1 when the identity v names someone (tg_facts_judged_view). */
static int view_names(const json_t *v)
{
    const json_t *r = json_object_get(v, "resolved");
    const char *s;
    size_t n;

    if (!r || json_is_null(r))
        r = json_object_get(v, "given");
    if (!json_is_string(r))
        return 0;
    s = json_string_value(r);
    n = json_string_length(r);
    /* the report reads a name's first 255 bytes, at least 252 of a longer
     * one (a whole UTF-8 character) */
    return strspn(s, " \t") < (n > 255 ? 252 : n);
}

/* v without "given" when its "resolved" is set (v itself otherwise). */
static json_t *view_identity(const json_t *v)
{
    const json_t *r = json_object_get(v, "resolved");
    json_t *c;

    if (!json_is_object(v) || !r || json_is_null(r))
        return json_incref((json_t *)v);
    c = json_copy((json_t *)v);
    assert_non_null(c);
    json_object_del(c, "given");
    return c;
}

json_t *tg_facts_judged_view(const json_t *judged)
{
    json_t *view, *ids, *t, *a;
    const json_t *src_ids = json_object_get(judged, "identities");
    const json_t *src_t = json_object_get(judged, "ticket");
    const json_t *e;
    size_t i;

    if (!json_is_object(judged))
        return json_incref((json_t *)judged);
    view = json_copy((json_t *)judged);
    assert_non_null(view);
    if (json_is_object(src_t) && json_is_object(src_ids)) {
        t = json_copy((json_t *)src_t);
        assert_non_null(t);
        if (view_names(json_object_get(src_ids, "requester")))
            json_object_del(t, "requester");
        if (view_names(json_object_get(src_ids, "beneficiary")))
            json_object_del(t, "beneficiary");
        assert_int_equal(json_object_set_new(view, "ticket", t), 0);
    }
    if (json_is_object(src_ids)) {
        ids = json_copy((json_t *)src_ids);
        assert_non_null(ids);
        if (json_object_get(src_ids, "requester"))
            json_object_set_new(ids, "requester",
                                view_identity(json_object_get(src_ids,
                                                              "requester")));
        if (json_object_get(src_ids, "beneficiary"))
            json_object_set_new(ids, "beneficiary",
                                view_identity(json_object_get(src_ids,
                                                              "beneficiary")));
        if (json_is_array(json_object_get(src_ids, "approvers"))) {
            a = json_array();
            assert_non_null(a);
            json_array_foreach(json_object_get(src_ids, "approvers"), i, e)
                json_array_append_new(a, view_identity(e));
            json_object_set_new(ids, "approvers", a);
        }
        assert_int_equal(json_object_set_new(view, "identities", ids), 0);
    }
    return view;
}

void tg_facts_same_at(const json_t *src, const json_t *facts, const char *p,
                      const char *whole, tg_facts_leaf_fn leaf)
{
    char seg[64];
    size_t n = strcspn(p, ".[");

    if (!*p) {
        leaf(src, facts, whole);
        return;
    }
    if (p[0] == '[') { /* "[]": every element */
        const char *rest = p[2] == '.' ? p + 3 : p + 2;
        size_t i;
        const json_t *e;

        if (!json_is_array(src)) { /* carried as it is */
            leaf(src, facts, whole);
            return;
        }
        if (!json_is_array(facts) ||
            json_array_size(src) != json_array_size(facts))
            fail_msg("facts differ from the record at %s", whole);
        json_array_foreach(src, i, e)
            tg_facts_same_at(e, json_array_get(facts, i), rest, whole, leaf);
        return;
    }
    assert_true(n < sizeof seg);
    memcpy(seg, p, n);
    seg[n] = '\0';
    p += n + (p[n] == '.');
    src = json_object_get(src, seg);
    facts = json_object_get(facts, seg);
    if (!src) {
        if (facts)
            fail_msg("facts hold %s, which the record has not", whole);
        return;
    }
    if (!facts)
        fail_msg("facts miss %s", whole);
    tg_facts_same_at(src, facts, p, whole, leaf);
}

/* 1 when prefix is one of paths or leads to one. */
static int on_path(const char *prefix, const char *const paths[])
{
    size_t n = strlen(prefix);

    for (size_t i = 0; paths[i]; i++)
        if (!strncmp(paths[i], prefix, n) &&
            (!paths[i][n] || paths[i][n] == '.' || paths[i][n] == '['))
            return 1;
    return 0;
}

void tg_facts_only_paths(const json_t *v, char *prefix, size_t len)
{
    const char *k;
    json_t *m;
    size_t i;

    for (size_t j = 0; TG_FACTS_DECISION_PATHS[j]; j++)
        if (!strcmp(prefix, TG_FACTS_DECISION_PATHS[j]))
            return;
    if (json_is_array(v)) {
        snprintf(prefix + len, 256 - len, "[]");
        json_array_foreach(v, i, m)
            tg_facts_only_paths(m, prefix, len + 2);
        prefix[len] = '\0';
        return;
    }
    json_object_foreach((json_t *)v, k, m) {
        snprintf(prefix + len, 256 - len, "%s%s", len ? "." : "", k);
        if (!on_path(prefix, TG_FACTS_DECISION_PATHS) &&
            !on_path(prefix, TG_FACTS_JUDGED_PATHS))
            fail_msg("facts hold %s, which no reader reads", prefix);
        tg_facts_only_paths(m, prefix, strlen(prefix));
        prefix[len] = '\0';
    }
}
