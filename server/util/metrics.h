/* metrics.h - the server's counters and histograms, rendered for Prometheus. */
#ifndef TG_METRICS_H
#define TG_METRICS_H

#include <stddef.h>

#include "validators/codes.h"
#include "validators/evaluate.h"

/*
 * One set of metrics per server. Every recording function is thread-safe and
 * lock-free (C11 atomics); only the policy digest takes a mutex, because a
 * string cannot be swapped atomically with its readers. Label values come
 * from fixed tables: a caller's string that is not in a table is counted
 * under "other", so a client cannot grow the set of series.
 */
struct tg_metrics;

/* At most this many route labels (tg_metrics_new). */
#define TG_METRICS_ROUTES_MAX 64

/* Upper bounds (seconds) of the latency histograms' buckets, +Inf implied:
 * from half a millisecond, where /v1/check lives, to the 10 s request
 * timeout. */
#define TG_METRICS_BUCKETS                                                     \
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, \
        5.0, 10.0

/* A new, zeroed set whose ticketgate_http_requests_total counts the n
 * route labels given (the router's own table, so a new route is counted
 * without a second list to keep; anything else counts as "other"). The
 * labels are borrowed for the set's life: static strings. n is at most
 * TG_METRICS_ROUTES_MAX. The caller frees the set with tg_metrics_free().
 * Returns 0 with *out, TG_EINVAL or TG_ENOMEM. */
int tg_metrics_new(const char *const *routes, size_t n,
                   struct tg_metrics **out);
/* NULL is a no-op. */
void tg_metrics_free(struct tg_metrics *m);

/* A decision given: source "jira" | "servicenow" | "generic" (else
 * "other"); verdict as evaluated. */
void tg_metrics_decision(struct tg_metrics *m, const char *source,
                         enum tg_verdict verdict);
/* One finding of code in a decision given. */
void tg_metrics_finding(struct tg_metrics *m, enum tg_code code);
/* A retried delivery answered with the decision already recorded. */
void tg_metrics_retry(struct tg_metrics *m);
/* One HTTP exchange: route is one of the labels given to tg_metrics_new
 * (else "other"),
 * status 100..599 (else "other"), seconds from the start of the handler. */
void tg_metrics_http_request(struct tg_metrics *m, const char *route,
                             int status, double seconds);
/* One evidence append that took seconds; ok 0 counts a failure too. */
void tg_metrics_evidence_write(struct tg_metrics *m, double seconds, int ok);
/* A configuration reload that succeeded (ok 1) or failed (ok 0). */
void tg_metrics_config_reload(struct tg_metrics *m, int ok);
/* The digest ("sha256:...") of the configuration in force. Returns 0 or
 * TG_EINVAL when it does not fit (the previous one is kept). */
int tg_metrics_set_policy(struct tg_metrics *m, const char *digest);
/* The findings of a decision given that a policy exception let through:
 * one use of each one's exception id (ticketgate_exception_uses_total). */
void tg_metrics_exception_uses(struct tg_metrics *m, const struct tg_result *r);
/* One act-back attempt (issue 12): system "jira" | "servicenow", action
 * "comment" | "transition" | "label" | "reject_approval" | "work_note",
 * outcome "delivered" | "skipped" | "retry" | "dead" (anything else counts
 * as "other"): ticketgate_actions_total. */
void tg_metrics_action(struct tg_metrics *m, const char *system,
                       const char *action, const char *outcome);
/* Upper bounds (seconds) of ticketgate_revocation_lag_seconds (issue 14):
 * revoked by the ticket's end, within an hour, a day, a week, 30 days. */
#define TG_METRICS_LAG_BUCKETS 0, 3600, 86400, 604800, 2592000
#define TG_METRICS_LAG_N 5
/* The access outcomes of the whole store (issue 14; server/http/
 * expirations.c computes them): accesses lingering now, grants without an
 * allowing ticket, revocation lags counted per bucket (TG_METRICS_LAG_N + 1
 * counts, the last +Inf, not cumulative) and their sum in seconds. */
void tg_metrics_set_outcomes(struct tg_metrics *m, long lingering,
                             unsigned long long unticketed,
                             const unsigned long long *lag_counts,
                             long long lag_sum);
/* 1 when a refresh of the outcome metrics is due at now_ms and this caller
 * now holds it (no other thread refreshes): it computes them and calls
 * tg_metrics_outcomes_done with when the next one is due. Else 0. */
int tg_metrics_outcomes_claim(struct tg_metrics *m, int64_t now_ms);
void tg_metrics_outcomes_done(struct tg_metrics *m, int64_t next_ms);
/* The act-back outbox as read at a scrape (issue 12): actions not yet
 * settled for good (ticketgate_outbox_pending) and how long the oldest of
 * them has waited, ms (ticketgate_outbox_oldest_seconds; 0 when none). */
void tg_metrics_set_outbox(struct tg_metrics *m, long pending,
                           long long oldest_ms);
/* A connection a listener's worker took up (delta 1) or closed (-1);
 * admin 1 for the admin listener (ticketgate_http_connections). */
void tg_metrics_connection(struct tg_metrics *m, int admin, int delta);
/* A request entered (1) or left (-1) its handler
 * (ticketgate_http_requests_in_progress). */
void tg_metrics_in_progress(struct tg_metrics *m, int delta);
/* Whether the evidence store takes writes (the ticketgate_ready gauge). */
void tg_metrics_set_ready(struct tg_metrics *m, int ready);
/* Shadow policy (issue 13): a live decision the candidate decided from
 * verdict `from` to `to`, one call per reason code whose finding differs
 * (code -1: none did, the verdict alone changed). */
void tg_metrics_shadow_change(struct tg_metrics *m, enum tg_verdict from,
                              enum tg_verdict to, int code);
/* A live decision evaluated under the candidate (ok 1), or dropped
 * because the shadow queue was full or the candidate failed on it (ok 0). */
void tg_metrics_shadow_evaluated(struct tg_metrics *m, int ok);

/*
 * Renders every metric in the Prometheus text exposition format 0.0.4
 * (Content-Type "text/plain; version=0.0.4"), label values escaped. Returns
 * 0 with *out (NUL-terminated, caller frees) and *len, or TG_ENOMEM.
 */
int tg_metrics_render(struct tg_metrics *m, char **out, size_t *len);

/* Writes v escaped as a label value (backslash, double quote and newline,
 * per the exposition format) into out. Returns the length written, or -1 if
 * it does not fit in cap (including the NUL). */
int tg_metrics_escape_label(const char *v, char *out, size_t cap);

#endif
