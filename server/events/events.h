/* events.h - grant, revoke and review events in four forms (issue 14). */
#ifndef TG_EVENTS_H
#define TG_EVENTS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "server/config/config.h"

/* The forms POST /v1/events takes (README "Events"). */
enum tg_event_form {
    TG_EVFORM_CANONICAL,  /* schemas/event.schema.json, one or {"events"} */
    TG_EVFORM_OKTA,       /* an Okta event hook delivery */
    TG_EVFORM_CLOUDTRAIL, /* {"Records": [...]} */
    TG_EVFORM_SCIM,       /* a SCIM 2.0 PatchOp on a group's members */
};

/* "canonical", "okta", "cloudtrail", "scim". */
const char *tg_events_form_name(enum tg_event_form f);

/* A source_id is a chain key: at most this many bytes. */
#define TG_EVENTS_MAX_ID 256

/* One request's input. Every pointer is borrowed for the call. */
struct tg_events_in {
    const struct tg_config *cfg; /* events.mappings and the directory */
    const json_t *body;          /* the parsed body, a JSON object */
    /* SHA-256 of the raw body, hex (64 digits): each event's raw_ref is
     * "sha256:<hex>#<index>", the delivery it came in and its place. */
    const char *body_hex;
    int64_t now; /* UTC seconds: SCIM events' time */
    /* SCIM only: the group of the request path, and the request's own
     * idempotency key (Idempotency-Key header or the JWT jti) or NULL. */
    const char *scim_group;
    const char *scim_key;
};

/* What one request yields. */
struct tg_events_out {
    json_t *events; /* array of event documents (Interface 4 of PLAN.md) */
    size_t ignored; /* records that are no access change (other event
                       types, failed calls, other SCIM attributes) */
    char *err;      /* TG_EINVAL: the sentence for the 422 answer */
    size_t cap;
};

/*
 * The form of a body sent to POST /v1/events: an object with "Records"
 * (CloudTrail), an EventBridge event whose detail-type ends in " via
 * CloudTrail" (CloudTrail, its detail the one record), one with
 * "data"."events" and eventType
 * "com.okta.event_hook" (Okta), one with the SCIM PatchOp schema (SCIM,
 * which needs its group: see tg_events_parse), else canonical.
 */
enum tg_event_form tg_events_detect(const json_t *body);

/*
 * Turns the body of in into event documents, each the canonical event of
 * schemas/event.schema.json with "form", "mapped" (false with
 * "unmapped_reason" when no mapping, directory person or system could be
 * found: such an event is kept, never dropped), "identity_given" and
 * "raw_ref". out->events is set (a new array, caller releases) on 0.
 * Returns 0; TG_EINVAL when the body is not a well-formed delivery of that
 * form (out->err names the field; nothing is kept); TG_ENOMEM.
 */
int tg_events_parse(const struct tg_events_in *in, enum tg_event_form form,
                    struct tg_events_out *out);

/* The parsers of each form, same contract (tg_events_parse calls them). */
int tg_events_canonical(const struct tg_events_in *in,
                        struct tg_events_out *out);
int tg_events_okta(const struct tg_events_in *in, struct tg_events_out *out);
int tg_events_cloudtrail(const struct tg_events_in *in,
                         struct tg_events_out *out);
int tg_events_scim(const struct tg_events_in *in, struct tg_events_out *out);

/*
 * The Okta event hook's one-time verification (GET with
 * X-Okta-Verification-Challenge): *out is {"verification": challenge} as
 * text (caller frees). challenge is len bytes, untrusted. Returns 0,
 * TG_EINVAL (empty, too long or not printable ASCII) or TG_ENOMEM.
 */
int tg_events_okta_challenge(const char *challenge, size_t len, char **out);

#endif
