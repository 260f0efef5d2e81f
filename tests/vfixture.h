/* vfixture.h - a directory, policy and ticket builder for validator tests. */
#ifndef TG_VFIXTURE_H
#define TG_VFIXTURE_H

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "server/core/canonical.h"
#include "validators/directory.h"
#include "validators/errors.h"
#include "validators/evaluate.h"
#include "validators/policy.h"
#include "validators/timeparse.h"

/* 2026-12-01T00:00:00Z, the corpus's "now". */
#define VF_NOW ((int64_t)1796083200)

static inline char **vf_strs(const char *const *v, size_t n)
{
    char **out = calloc(n ? n : 1, sizeof(*out));
    for (size_t i = 0; i < n; i++)
        out[i] = strdup(v[i]);
    return out;
}

static inline size_t vf_person(struct tg_directory *d, const char *id,
                        const char *name, enum tg_person_type type,
                        int inactive, const char *const *aliases, size_t n)
{
    struct tg_person *p;
    d->people = realloc(d->people, (d->n_people + 1) * sizeof(*d->people));
    p = &d->people[d->n_people];
    memset(p, 0, sizeof(*p));
    p->id = strdup(id);
    p->name = name ? strdup(name) : NULL;
    p->aliases = vf_strs(aliases, n);
    p->n_aliases = n;
    p->type = type;
    p->inactive = inactive;
    return d->n_people++;
}

static inline size_t vf_group(struct tg_directory *d, const char *id,
                       const size_t *members, size_t n)
{
    struct tg_group *g;
    d->groups = realloc(d->groups, (d->n_groups + 1) * sizeof(*d->groups));
    g = &d->groups[d->n_groups];
    g->id = strdup(id);
    g->members = malloc((n ? n : 1) * sizeof(size_t));
    memcpy(g->members, members, n * sizeof(size_t));
    g->n_members = n;
    return d->n_groups++;
}

static inline void vf_system(struct tg_directory *d, const char *id, size_t owner,
                      int is_group, size_t appr, enum tg_privilege max)
{
    struct tg_system *s;
    d->systems = realloc(d->systems, (d->n_systems + 1) * sizeof(*s));
    s = &d->systems[d->n_systems++];
    s->id = strdup(id);
    s->owners = malloc(sizeof(size_t));
    s->owners[0] = owner;
    s->n_owners = 1;
    s->approvers = malloc(sizeof(*s->approvers));
    s->approvers[0].is_group = is_group;
    s->approvers[0].idx = appr;
    s->approvers[0].max_privilege = max;
    s->n_approvers = 1;
}

static inline void vf_delegation(struct tg_directory *d, size_t from_p, size_t to_p,
                          const char *from, const char *until)
{
    struct tg_delegation *dl;
    d->delegations = realloc(d->delegations,
                             (d->n_delegations + 1) * sizeof(*dl));
    dl = &d->delegations[d->n_delegations++];
    dl->delegator = from_p;
    dl->delegate = to_p;
    tg_time_parse_day_start(from, strlen(from), &dl->from);
    tg_time_parse(until, strlen(until), &dl->until);
}

/* The people of contract/example/directory.yaml that the tests use. */
enum { BOB, CAROL, DAVE, ERIN, FRANK, HEIDI, IVAN, JUDY, MALLORY, GRACE,
       OPS, SVC };

static inline void vf_directory(struct tg_directory *d)
{
    static const char *const bob[] = {"bob", "bob.smith",
                                      "5b10a2844c20165700ede21g"};
    static const char *const carol[] = {"carol", "carol.diaz"};
    static const char *const dave[] = {"dave", "5b109f2e9729b51b54dc274d"};
    static const char *const erin[] = {"erin"};
    static const char *const frank[] = {"frank"};
    static const char *const heidi[] = {"heidi"};
    static const char *const ivan[] = {"ivan"};
    static const char *const judy[] = {"judy"};
    static const char *const mallory[] = {"mallory"};
    static const char *const grace[] = {"grace"};
    static const char *const generic[] = {"admin", "*team*", "it-*",
                                          "helpdesk"};
    size_t m;
    tg_directory_init(d);
    vf_person(d, "bob@example.com", "Bob Smith", TG_TYPE_HUMAN, 0, bob, 3);
    vf_person(d, "carol@example.com", "Carol Diaz", TG_TYPE_HUMAN, 0, carol, 2);
    vf_person(d, "dave@example.com", "Dave Okafor", TG_TYPE_HUMAN, 0, dave, 2);
    vf_person(d, "erin@example.com", "Erin Yu", TG_TYPE_HUMAN, 0, erin, 1);
    vf_person(d, "frank@example.com", "Frank Muller", TG_TYPE_HUMAN, 1, frank,
              1);
    vf_person(d, "heidi@example.com", NULL, TG_TYPE_HUMAN, 0, heidi, 1);
    vf_person(d, "ivan@example.com", NULL, TG_TYPE_HUMAN, 0, ivan, 1);
    vf_person(d, "judy@example.com", NULL, TG_TYPE_HUMAN, 0, judy, 1);
    vf_person(d, "mallory@example.com", NULL, TG_TYPE_HUMAN, 0, mallory, 1);
    vf_person(d, "grace@example.com", NULL, TG_TYPE_HUMAN, 0, grace, 1);
    vf_person(d, "ops-shared@example.com", NULL, TG_TYPE_SHARED, 0, NULL, 0);
    vf_person(d, "svc-payments-etl", NULL, TG_TYPE_SERVICE, 0, NULL, 0);
    m = DAVE;
    vf_group(d, "payments-approvers", &m, 1); /* group 0 */
    m = JUDY;
    vf_group(d, "security-leads", &m, 1);     /* group 1 */
    vf_system(d, "payments-db", CAROL, 1, 0, TG_PRIV_WRITE);
    vf_system(d, "hr-portal", GRACE, 0, HEIDI, TG_PRIV_READ);
    vf_system(d, "vault", JUDY, 1, 1, TG_PRIV_ADMIN);
    vf_delegation(d, CAROL, ERIN, "2025-01-01", "2099-12-31");
    vf_delegation(d, CAROL, IVAN, "2024-01-01", "2025-01-31");
    /* Delegation ending on the corpus "now" day: its last day is whole. */
    vf_delegation(d, GRACE, MALLORY, "2026-11-01", "2026-12-01");
    d->generic = vf_strs(generic, 4);
    d->n_generic = 4;
    d->strict = 1;
    tg_directory_index(d, NULL);
}

static inline void vf_policy(struct tg_policy *p)
{
    struct tg_rule *r;
    tg_policy_init_defaults(p);
    p->routine = r = calloc(1, sizeof(*r));
    r->environment = strdup("dev");
    r->privilege = strdup("read");
    p->n_routine = 1;
    p->forbidden = r = calloc(1, sizeof(*r));
    r->environment = strdup("prod");
    r->privilege = strdup("admin");
    r->beneficiary_type = strdup("service");
    r->reason = strdup("No standing admin for services.");
    p->n_forbidden = 1;
}

/* A valid ticket (allow at VF_NOW) with the JSON patch applied on top:
 * keys of patch replace the base's, and null removes them. */
static inline int vf_ticket(struct tg_ticket *t, const char *patch)
{
    static const char *base =
        "{\"id\":\"ACC-1\",\"requester\":\"bob@example.com\","
        "\"owner\":\"carol@example.com\",\"approver\":\"dave@example.com\","
        "\"justification\":\"Nightly settlement ETL PAY-2291 must read the "
        "ledger table to reconcile card batches.\","
        "\"scope\":{\"system\":\"payments-db\",\"environment\":\"prod\","
        "\"entitlement\":\"role:ledger_reader\",\"privilege\":\"read\"},"
        "\"expires_at\":\"2027-01-30T00:00:00Z\"}";
    json_t *b = json_loads(base, 0, NULL);
    json_t *p = json_loads(patch ? patch : "{}", 0, NULL);
    const char *k;
    json_t *v;
    char err[128];
    int rc;
    if (!b || !p)
        return TG_EINVAL;
    json_object_foreach(p, k, v) {
        if (json_is_null(v))
            json_object_del(b, k);
        else if (strcmp(k, "scope") == 0)
            json_object_update(json_object_get(b, "scope"), v);
        else
            json_object_set(b, k, v);
    }
    /* scope members set to null are removed too */
    {
        json_t *sc = json_object_get(b, "scope");
        void *tmp;
        json_object_foreach_safe(sc, tmp, k, v) {
            if (json_is_null(v))
                json_object_del(sc, k);
        }
    }
    tg_ticket_init(t);
    rc = tg_canonical_from_json(b, t, err, sizeof(err));
    json_decref(b);
    json_decref(p);
    return rc;
}

/* Sorted, comma-separated codes of f: "AUTHORITY_NONE,SOD_SELF_APPROVAL". */
static inline void vf_codes(const struct tg_findings *f, char *out, size_t cap)
{
    const char *names[64];
    size_t n = 0, off = 0;
    for (size_t i = 0; i < f->n && n < 64; i++)
        names[n++] = tg_code_info(f->v[i].code)->name;
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            const char *x = names[j];
            names[j] = names[j - 1];
            names[j - 1] = x;
        }
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(names[i]);
        if (off + len + 2 > cap)
            break;
        if (i)
            out[off++] = ',';
        memcpy(out + off, names[i], len + 1);
        off += len;
    }
}

#endif

#ifndef TG_VFIXTURE_RUNNER
#define TG_VFIXTURE_RUNNER
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <cmocka.h>

/* One table row: a patch on the valid ticket and the codes it must give. */
struct vf_case {
    const char *name;
    const char *patch;
    const char *want; /* sorted, comma-separated; "" for none */
};

typedef int (*vf_check_fn)(const struct tg_ticket *t,
                           const struct tg_policy *p,
                           const struct tg_directory *d, int64_t now,
                           struct tg_findings *out);

static inline void vf_run(const struct vf_case *cases, size_t n, vf_check_fn fn,
                   const struct tg_policy *custom)
{
    struct tg_directory d;
    struct tg_policy p;
    vf_directory(&d);
    vf_policy(&p);
    for (size_t i = 0; i < n; i++) {
        struct tg_ticket t;
        struct tg_findings f;
        char got[512];
        tg_findings_init(&f);
        if (vf_ticket(&t, cases[i].patch) != TG_OK)
            fail_msg("case %s: the patch does not make a ticket",
                     cases[i].name);
        assert_int_equal(fn(&t, custom ? custom : &p, &d, VF_NOW, &f), TG_OK);
        vf_codes(&f, got, sizeof(got));
        if (strcmp(got, cases[i].want) != 0)
            fail_msg("case %s: want [%s] got [%s]", cases[i].name,
                     cases[i].want, got);
        for (size_t k = 0; k < f.n; k++)
            assert_non_null(strstr(f.v[k].message, " ")); /* a sentence */
        tg_findings_cleanup(&f);
        tg_ticket_cleanup(&t);
    }
    tg_policy_cleanup(&p);
    tg_directory_cleanup(&d);
}

/* One table row for message text: a patch on the valid ticket, the display
 * names its payload gave (a JSON object, id -> name, or NULL), the clock
 * (0: VF_NOW), and the first finding's code and whole message (code NULL:
 * no finding at all). custom replaces the default policy when not NULL. */
struct vf_msg_case {
    const char *name;
    const char *patch;
    const char *names;
    int64_t now;
    const char *code;
    const char *want;
};

static inline void vf_run_messages(const struct vf_msg_case *cases, size_t n,
                                   vf_check_fn fn,
                                   const struct tg_policy *custom)
{
    struct tg_directory d;
    struct tg_policy p;
    vf_directory(&d);
    vf_policy(&p);
    for (size_t i = 0; i < n; i++) {
        const struct vf_msg_case *c = &cases[i];
        struct tg_ticket t;
        struct tg_findings f;
        tg_findings_init(&f);
        if (vf_ticket(&t, c->patch) != TG_OK)
            fail_msg("case %s: the patch does not make a ticket", c->name);
        if (c->names) {
            json_t *o = json_loads(c->names, 0, NULL);
            const char *k;
            json_t *v;
            if (!json_is_object(o))
                fail_msg("case %s: names is not a JSON object", c->name);
            json_object_foreach(o, k, v)
                assert_int_equal(
                    tg_ticket_add_name(&t, k, json_string_value(v)), TG_OK);
            json_decref(o);
        }
        assert_int_equal(fn(&t, custom ? custom : &p, &d,
                            c->now ? c->now : VF_NOW, &f),
                         TG_OK);
        if (!c->code) {
            if (f.n)
                fail_msg("case %s: want no finding, got %s: %s", c->name,
                         tg_code_info(f.v[0].code)->name, f.v[0].message);
        } else if (f.n == 0) {
            fail_msg("case %s: want %s, got no finding", c->name, c->code);
        } else if (strcmp(tg_code_info(f.v[0].code)->name, c->code) != 0 ||
                   strcmp(f.v[0].message, c->want) != 0) {
            fail_msg("case %s:\n want %s: %s\n got  %s: %s", c->name,
                     c->code, c->want, tg_code_info(f.v[0].code)->name,
                     f.v[0].message);
        }
        tg_findings_cleanup(&f);
        tg_ticket_cleanup(&t);
    }
    tg_policy_cleanup(&p);
    tg_directory_cleanup(&d);
}
#endif
