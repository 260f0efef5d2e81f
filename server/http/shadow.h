/* shadow.h - the shadow policy: live decisions decided under a candidate too. */
#ifndef TG_SHADOW_H
#define TG_SHADOW_H

#include <jansson.h>
#include <stdint.h>

#include "server/config/config.h"
#include "server/store/store.h"
#include "server/util/metrics.h"
#include "validators/evaluate.h"

/*
 * policy.shadow names a candidate configuration. Every live decision that
 * is recorded is queued here once its answer has been sent, and one thread
 * decides it again under the candidate's policy and directory, at the live
 * decision's own time, through tg_decide (as serve and check decide). A
 * difference (the verdict, or the action of any reason code) is counted
 * (ticketgate_shadow_changes_total{from,to,code}), logged (event
 * "shadow_change") and recorded in the chain beside the decision: an entry
 * of kind "shadow" keyed by the decision id. The queue holds at most
 * TG_SHADOW_QUEUE decisions; past that a decision is dropped and counted
 * (ticketgate_shadow_evaluations_total{result="dropped"}), so the shadow
 * never slows the live answers, whatever the candidate costs.
 *
 * The candidate's sources, gates, server and store sections are not used:
 * the live mapping decides what ticket a request makes, the candidate only
 * how it would be judged. A candidate that does not load is logged and
 * shown on /readyz (which stays 200: the live policy is unaffected).
 */
struct tg_shadow;

#define TG_SHADOW_QUEUE 1024

/* A new shadow with its thread, no candidate yet. m and ev are borrowed
 * and must outlive it. Returns 0 with *out, or TG_ENOMEM. */
int tg_shadow_new(struct tg_metrics *m, struct tg_evidence *ev,
                  struct tg_shadow **out);

/* Stops the thread (the decisions still queued are dropped) and frees s.
 * NULL is a no-op. */
void tg_shadow_free(struct tg_shadow *s);

/*
 * Loads the candidate of live->shadow_path (start and every reload) and
 * puts it in force, or removes the candidate when live names none. A
 * candidate that does not load leaves none in force: the reason is logged
 * (event "shadow_failed") and kept for tg_shadow_status. Thread-safe.
 */
void tg_shadow_configure(struct tg_shadow *s, const struct tg_config *live);

/*
 * Queues the live decision decision_id of ticket (from endpoint source,
 * decided at now as live) for the candidate, with its canonical ticket
 * (copied: the caller keeps it) and the copy-forward count live judged
 * (-1 when live did not count). A no-op without a candidate. Never
 * blocks on the candidate's work: a full queue drops the decision.
 *
 * The candidate judges copy-forward on the count live saw: the store has
 * moved on by the time the shadow thread runs (under load, other tickets
 * with the same justification are recorded meanwhile), and counting it
 * again would report differences no policy change made. Only when live
 * did not count (its copy-forward off) does the shadow count, with the
 * candidate's window.
 */
void tg_shadow_submit(struct tg_shadow *s, const char *decision_id,
                      const char *ticket, const char *source, int64_t now,
                      const json_t *canonical, const struct tg_result *live,
                      long copy_forward_uses);

/*
 * What /readyz says of the shadow: NULL when policy.shadow is not set (or
 * s is NULL), else a new object {"config": path, "policy": digest} for a
 * candidate in force, or {"config": path, "error": why} for one that does
 * not load.
 */
json_t *tg_shadow_status(struct tg_shadow *s);

#endif
