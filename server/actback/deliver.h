/* deliver.h - one act-back delivery: the HTTP exchange, the vendors'
 * requests (jira.c, servicenow.c) and the retry schedule (backoff.c). */
#ifndef TG_ACTBACK_DELIVER_H
#define TG_ACTBACK_DELIVER_H

#include <jansson.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* One ITSM's act-back settings, copied out of the configuration at start
 * (the sender outlives a reload's configuration). */
struct tg_actback_target {
    char system[16];   /* "jira" | "servicenow" */
    char *base_url;    /* without a trailing '/' */
    char *host;        /* scheme://host[:port]: the per-host cap's key */
    int api_version;   /* jira: 3 (Cloud, ADF) or 2 (Data Center, text) */
    char *user;        /* Basic: email (Jira Cloud) or user (ServiceNow) */
    char *secret;      /* Basic: api_token or password */
    char *bearer;      /* or Bearer: a Data Center personal access token */
    int internal;      /* jira comment_visibility: internal (default) */
};

/* The longest answer body read (comment pages are the largest). */
#define TG_ACTBACK_MAX_BODY (8 * 1024 * 1024)

/* One HTTP client: a curl easy handle kept across requests (connection
 * reuse), with the stop flag its transfers watch. */
struct tg_actback_http;

/* A new client whose transfers give up after timeout_ms and abort within
 * about a second of *stop turning nonzero. NULL on ENOMEM. */
struct tg_actback_http *tg_actback_http_new(long timeout_ms,
                                            const atomic_int *stop);
void tg_actback_http_free(struct tg_actback_http *h);
/* Every request of h from now on must end by deadline_ms (CLOCK_MONOTONIC
 * milliseconds; 0: no deadline): its timeout is cut to what is left, and
 * past it a request fails at once without being sent. An attempt so stays
 * within the lease of its action. */
void tg_actback_http_deadline(struct tg_actback_http *h, int64_t deadline_ms);
/* CLOCK_MONOTONIC now, milliseconds. */
int64_t tg_actback_mono_ms(void);

/* What one request brought back. */
struct tg_actback_resp {
    long status;            /* HTTP status; 0 when none came (transport) */
    char *body;             /* NUL-terminated answer body, or NULL */
    size_t len;
    int64_t retry_after_ms; /* from Retry-After; -1 when absent/invalid */
    int maybe_sent;         /* no answer, but the request may have landed
                               (a timeout or a cut after sending) */
    int stopped;            /* aborted because the sender is stopping */
    char error[200];        /* transport error, when status is 0 */
};
void tg_actback_resp_cleanup(struct tg_actback_resp *r);

/* Sends method base_url+path (path already escaped) with the target's
 * credentials, Accept: application/json and, with body (JSON text),
 * Content-Type: application/json. Fills *r (cleaned up by the caller,
 * also on failure). Returns 0 when an HTTP answer came (any status),
 * TG_EIO when none did (r->error says why), TG_ENOMEM. */
int tg_actback_http_do(struct tg_actback_http *h,
                       const struct tg_actback_target *t, const char *method,
                       const char *path, const char *body,
                       struct tg_actback_resp *r);

/* The outcome of one delivery attempt. */
enum tg_actback_outcome {
    TG_ACTBACK_DELIVERED,
    TG_ACTBACK_SKIPPED, /* nothing to do (marker found, status moved on) */
    TG_ACTBACK_RETRY,
    TG_ACTBACK_DEAD,
};

struct tg_actback_result {
    enum tg_actback_outcome outcome;
    int64_t retry_after_ms; /* RETRY: the server's Retry-After, or -1 */
    int stopped;            /* RETRY because the sender is stopping */
    char error[300];        /* why (RETRY, DEAD) or what (SKIPPED) */
};

/* What an HTTP status means for an attempt: 2xx delivered; 408, 409, 429
 * and 5xx retried; any other 4xx (and 1xx, 3xx: a redirect means base_url
 * is wrong) dead at once. status 0 (no answer) is a retry. */
enum tg_actback_outcome tg_actback_classify(long status);

/* Sets res from a failed exchange (rc of tg_actback_http_do, r) of step
 * (e.g. "POST comment"): outcome by tg_actback_classify, the error text
 * naming the status and the start of the answer. */
void tg_actback_fail(struct tg_actback_result *res, const char *step, int rc,
                     const struct tg_actback_resp *r);

/* --- the retry schedule (backoff.c) --- */

/* The delay before the next attempt after attempt number `attempt`
 * (1-based) failed: full jitter, uniform in [0, window] where window =
 * min(cap_ms, base_ms * 2^(attempt-1)); rnd is a uniform 64-bit random
 * number. Never negative. */
int64_t tg_actback_backoff_ms(int attempt, int64_t base_ms, int64_t cap_ms,
                              uint64_t rnd);
/* The window tg_actback_backoff_ms draws from. */
int64_t tg_actback_backoff_window_ms(int attempt, int64_t base_ms,
                                     int64_t cap_ms);

/* What an attempt comes to, once its result res is known: attempt is its
 * number (1-based) of at most max_attempts. A retry whose attempt reached
 * max_attempts becomes dead (its error prefixed "gave up after N
 * attempts: "). Returns the delay before the next attempt of a retry: 0
 * for one cut by a stop (due at once), the server's Retry-After when it
 * gave one, else tg_actback_backoff_ms(attempt, base_ms, cap_ms, rnd); 0
 * for any other outcome. */
int64_t tg_actback_schedule(struct tg_actback_result *res, int attempt,
                            int max_attempts, int64_t base_ms, int64_t cap_ms,
                            uint64_t rnd);

/* The longest Retry-After honoured, ms (a day); longer is cut to it. */
#define TG_ACTBACK_RETRY_AFTER_MAX_MS (24LL * 3600 * 1000)

/* Parses a Retry-After value (RFC 9110 section 10.2.3): delay-seconds (1*DIGIT)
 * or an HTTP-date (IMF-fixdate, or the obsolete RFC 850 and asctime forms),
 * white space around it ignored. now_s is UTC seconds. Returns 0 with *ms
 * (0 for a date in the past, at most TG_ACTBACK_RETRY_AFTER_MAX_MS), or
 * TG_EINVAL. */
int tg_actback_retry_after_parse(const char *v, size_t len, int64_t now_s,
                                 int64_t *ms);

/* --- Jira (jira.c) --- */

/* The body of POST /rest/api/{3|2}/issue/{key}/comment: api_version 3 an
 * Atlassian Document Format document (one paragraph a line of text, lines
 * "- ..." as one bulletList, the marker as a last paragraph unless text
 * holds it), 2 the plain text; internal adds properties
 * [{"key": "sd.public.comment", "value": {"internal": true}}]. 0 with *out
 * (new reference), TG_ENOMEM. */
int tg_actback_jira_comment_body(const char *text, const char *marker,
                                 int api_version, int internal, json_t **out);
/* 1 when a page of GET .../comment ({"comments": [...]}) holds a comment
 * whose text contains marker (any string of its body, ADF or plain). */
int tg_actback_jira_has_marker(const json_t *page, const char *marker);
/* The id of the transition in a GET .../transitions answer whose to.name
 * equals to, case-insensitively, or NULL. Borrowed from doc. */
const char *tg_actback_jira_pick_transition(const json_t *doc, const char *to);
/* Delivers one Jira action (comment, transition, label) for target t.
 * retried: an earlier attempt of this action may have landed. */
void tg_actback_jira_deliver(struct tg_actback_http *h,
                             const struct tg_actback_target *t,
                             const char *action, const char *ticket,
                             const json_t *params, int retried,
                             struct tg_actback_result *res);

/* --- ServiceNow (servicenow.c) --- */

/* {"state": "rejected", "comments": text}. NULL on ENOMEM. */
json_t *tg_actback_sn_reject_body(const char *text);
/* {"work_notes": text}. NULL on ENOMEM. */
json_t *tg_actback_sn_work_note_body(const char *text);
/* Whether the 2xx answer (body, len) of the approval's PATCH shows a state
 * other than rejected: ServiceNow answers 200 and leaves a field the
 * account may not write as it was. 1 with why (the dead letter's reason)
 * filled; 0 when the answer shows rejected or no state at all. */
int tg_actback_sn_check_rejected(const char *body, size_t len, char *why,
                                 size_t cap);
/* Delivers one ServiceNow action (reject_approval, work_note). retried:
 * an earlier attempt may have landed; a work note whose marker is already
 * in the item's work notes is then not added again. */
void tg_actback_sn_deliver(struct tg_actback_http *h,
                           const struct tg_actback_target *t,
                           const char *action, const json_t *params,
                           int retried, struct tg_actback_result *res);

/* The text of a request body (compact, keys in insertion order), caller
 * frees; NULL on ENOMEM. */
char *tg_actback_dump(const json_t *body);

#endif
