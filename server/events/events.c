/* events.c - which form a body is, and one event document built and mapped. */
#include "server/events/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "validators/directory.h"
#include "validators/errors.h"
#include "validators/timeparse.h"

static const char *const form_names[] = {"canonical", "okta", "cloudtrail",
                                         "scim"};

const char *tg_events_form_name(enum tg_event_form f)
{
    return (unsigned)f < sizeof(form_names) / sizeof(form_names[0])
               ? form_names[f]
               : "?";
}

#define SCIM_PATCHOP "urn:ietf:params:scim:api:messages:2.0:PatchOp"

/* An EventBridge event that carries a CloudTrail record as its detail:
 * detail-type "AWS API Call via CloudTrail" (and the other "... via
 * CloudTrail" types, which are no access change and come out ignored). */
static int cloudtrail_via_eventbridge(const json_t *body)
{
    static const char tail[] = " via CloudTrail";
    const char *dt = tg_ev_str(body, "detail-type");
    size_t n = dt ? strlen(dt) : 0;

    return n > sizeof(tail) - 1 &&
           strcmp(dt + n - (sizeof(tail) - 1), tail) == 0 &&
           json_is_object(json_object_get(body, "detail"));
}

enum tg_event_form tg_events_detect(const json_t *body)
{
    const json_t *data = json_object_get(body, "data"), *schemas;
    const char *et = tg_ev_str(body, "eventType");
    size_t i;

    if (json_is_array(json_object_get(body, "Records")))
        return TG_EVFORM_CLOUDTRAIL;
    if (cloudtrail_via_eventbridge(body))
        return TG_EVFORM_CLOUDTRAIL;
    if (et && strcmp(et, "com.okta.event_hook") == 0 && json_is_object(data))
        return TG_EVFORM_OKTA;
    schemas = json_object_get(body, "schemas");
    for (i = 0; i < json_array_size(schemas); i++) {
        const char *s = json_string_value(json_array_get(schemas, i));
        if (s && strcmp(s, SCIM_PATCHOP) == 0)
            return TG_EVFORM_SCIM;
    }
    return TG_EVFORM_CANONICAL;
}

int tg_events_parse(const struct tg_events_in *in, enum tg_event_form form,
                    struct tg_events_out *out)
{
    int rc;

    out->ignored = 0;
    out->events = json_array();
    if (!out->events)
        return TG_ENOMEM;
    switch (form) {
    case TG_EVFORM_OKTA:
        rc = tg_events_okta(in, out);
        break;
    case TG_EVFORM_CLOUDTRAIL:
        rc = tg_events_cloudtrail(in, out);
        break;
    case TG_EVFORM_SCIM:
        rc = tg_events_scim(in, out);
        break;
    default:
        rc = tg_events_canonical(in, out);
        break;
    }
    if (rc != 0) {
        json_decref(out->events);
        out->events = NULL;
    }
    return rc;
}

/* ------------------------------------------------------------- helpers */

int tg_ev_fail(struct tg_events_out *out, const char *fmt, ...)
{
    va_list ap;

    if (out->err && out->cap) {
        va_start(ap, fmt);
        if (vsnprintf(out->err, out->cap, fmt, ap) < 0)
            out->err[0] = '\0';
        va_end(ap);
    }
    return TG_EINVAL;
}

const char *tg_ev_str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s && s[0] ? s : NULL;
}

int tg_ev_time(const char *s, int64_t *out)
{
    char buf[64];
    size_t n, i, k = 0;

    if (!s)
        return TG_EINVAL;
    n = strlen(s);
    /* "YYYY-MM-DD" alone would read as the last second of the day. */
    if (n <= 10 || n >= sizeof(buf))
        return TG_EINVAL;
    /* A fraction is cut off: tg_time_parse rounds it up (right for an
     * expiry), but an event happened in the second it names. */
    for (i = 0; i < n; i++) {
        if (i >= 19 && (s[i] == '.' || s[i] == ',')) {
            while (i + 1 < n && s[i + 1] >= '0' && s[i + 1] <= '9')
                i++;
            continue;
        }
        buf[k++] = s[i];
    }
    return tg_time_parse(buf, k, out) == 0 ? 0 : TG_EINVAL;
}

int tg_ev_key(char *buf, size_t cap, const char *prefix, const char *id)
{
    int n;

    if (!id || !id[0])
        return TG_EINVAL;
    n = snprintf(buf, cap, "%s:%s", prefix, id);
    if (n < 0 || (size_t)n >= cap || (size_t)n > TG_EVENTS_MAX_ID)
        return TG_EINVAL;
    return 0;
}

const struct tg_event_mapping *
tg_ev_find_mapping(const struct tg_config *c, enum tg_event_foreign kind,
                   const char *id, const char *name, const char *account)
{
    const struct tg_event_mapping *best = NULL;
    int best_score = 0;

    for (size_t i = 0; i < c->events.n_mappings; i++) {
        const struct tg_event_mapping *m = &c->events.mappings[i];
        int (*cmp)(const char *, const char *) =
            kind == TG_EVMAP_AWS_GROUP ? strcasecmp : strcmp;
        int score;

        if (m->kind != kind || !m->foreign)
            continue;
        if (id && cmp(m->foreign, id) == 0)
            score = 4;
        else if (name && cmp(m->foreign, name) == 0)
            score = 2;
        else
            continue;
        if (m->account) {
            if (!account || strcmp(m->account, account) != 0)
                continue;
            score++;
        }
        if (score > best_score) {
            best = m;
            best_score = score;
        }
    }
    return best;
}

/* The person the candidates of s name: the first naming a person wins.
 * Returns its directory id, or NULL with *why (a static sentence part)
 * and *who (the candidate it concerns). */
static const char *resolve(const struct tg_directory *d,
                           const struct tg_ev_spec *s, const char **who,
                           int *group)
{
    *who = s->n_ids ? s->ids[0] : NULL;
    *group = 0;
    for (size_t i = 0; i < s->n_ids; i++) {
        struct tg_entity e;
        if (!s->ids[i] || !s->ids[i][0])
            continue;
        e = tg_directory_resolve(d, s->ids[i], strlen(s->ids[i]));
        if (e.kind == TG_ENT_PERSON)
            return d->people[e.idx].id;
        if (e.kind == TG_ENT_GROUP && !*group) {
            *group = 1;
            *who = s->ids[i];
        }
    }
    return NULL;
}

static int set_str(json_t *o, const char *key, const char *v)
{
    if (!v)
        return 0;
    return json_object_set_new(o, key, json_string(v)) == 0 ? 0 : TG_ENOMEM;
}

/* The reason an event of s does not map, written into buf, or NULL. The
 * first missing piece is named: a mapping, then the identity, then the
 * system. */
static const char *why_unmapped(const struct tg_events_in *in,
                                const struct tg_ev_spec *s,
                                const struct tg_event_mapping *m,
                                const char *person, const char *who, int group,
                                const char *system, char *buf, size_t cap)
{
    const struct tg_config *c = in->cfg;
    int n = 0;

    if (s->unmapped)
        return s->unmapped;
    if (s->has_foreign && !m)
        n = snprintf(buf, cap,
                     "no events.mappings entry has %s '%s'%s%s%s; map it to "
                     "a system and entitlement",
                     tg_config_event_kind_name(s->kind),
                     s->foreign_id ? s->foreign_id : s->foreign_name,
                     s->account ? " (account " : "",
                     s->account ? s->account : "", s->account ? ")" : "");
    else if (!person && group)
        n = snprintf(buf, cap,
                     "the identity '%s' is a group of the directory, not a "
                     "person",
                     who);
    else if (!person)
        n = snprintf(buf, cap,
                     "the identity '%s' is in no directory entry; add it to "
                     "the person's aliases",
                     who ? who : "");
    else if (system && c->directory_path &&
             tg_directory_system(&c->directory, system, strlen(system)) < 0)
        n = snprintf(buf, cap, "the system '%s' is not in the directory",
                     system);
    else
        return NULL;
    return n > 0 ? buf : "the event could not be mapped";
}

int tg_ev_add(const struct tg_events_in *in, struct tg_events_out *out,
              const struct tg_ev_spec *s)
{
    const struct tg_event_mapping *m = NULL;
    const char *person, *who, *system, *entitlement, *environment, *why;
    char tbuf[32], why_buf[512], ref[96];
    json_t *doc = NULL, *foreign = NULL;
    int group, rc = TG_ENOMEM;

    if (s->has_foreign)
        m = tg_ev_find_mapping(in->cfg, s->kind, s->foreign_id, s->foreign_name,
                               s->account);
    system = m ? m->system : s->system;
    entitlement = m ? m->entitlement : s->entitlement;
    environment = m ? m->environment : s->environment;
    person = resolve(&in->cfg->directory, s, &who, &group);
    why = why_unmapped(in, s, m, person, who, group, system, why_buf,
                       sizeof(why_buf));
    if (tg_time_format(s->time, tbuf, sizeof(tbuf)) != 0)
        return tg_ev_fail(out, "an event time is out of range");
    snprintf(ref, sizeof(ref), "sha256:%s#%zu",
             in->body_hex ? in->body_hex : "", s->index);

    doc = json_object();
    if (!doc)
        goto out;
    if (set_str(doc, "type", s->type) || set_str(doc, "time", tbuf) ||
        set_str(doc, "identity",
                person                  ? person
                : s->n_ids && s->ids[0] ? s->ids[0]
                                        : "") ||
        set_str(doc, "identity_given", s->n_ids ? s->ids[0] : NULL) ||
        set_str(doc, "system", system) ||
        set_str(doc, "entitlement", entitlement) ||
        set_str(doc, "environment", environment) ||
        set_str(doc, "ticket", s->ticket) ||
        set_str(doc, "source_id", s->source_id) ||
        set_str(doc, "form", tg_events_form_name(s->form)) ||
        json_object_set_new(doc, "mapped", json_boolean(!why)) != 0 ||
        set_str(doc, "unmapped_reason", why) ||
        set_str(doc, "source_event", s->source_event) ||
        set_str(doc, "actor", s->actor) || set_str(doc, "note", s->note) ||
        set_str(doc, "cause", s->cause))
        goto out;
    if (s->has_foreign) {
        foreign = json_object();
        if (!foreign ||
            set_str(foreign, "kind", tg_config_event_kind_name(s->kind)) ||
            set_str(foreign, "id", s->foreign_id) ||
            set_str(foreign, "name", s->foreign_name) ||
            set_str(foreign, "account", s->account) ||
            json_object_set(doc, "foreign", foreign) != 0)
            goto out;
    }
    if (set_str(doc, "raw_ref", ref) || json_array_append(out->events, doc))
        goto out;
    rc = 0;
out:
    json_decref(foreign);
    json_decref(doc);
    return rc;
}
