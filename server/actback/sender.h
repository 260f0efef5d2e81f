/* sender.h - the act-back sender: delivers the outbox's actions to Jira and
 * ServiceNow (PLAN.md Interface 3). */
#ifndef TG_SENDER_H
#define TG_SENDER_H

#include "server/config/config.h"
#include "server/store/store.h"

struct tg_sender;
struct tg_metrics;

/*
 * Starts the sender of a server: one thread that claims due actions from
 * e's outbox and a few worker threads (libcurl) that deliver them, at most
 * act_back.max_per_host requests in flight to one host and one action of a
 * ticket at a time, then settle each attempt (delivered, retry with
 * full-jitter backoff or the server's Retry-After, dead). The act_back
 * settings of c are copied: they apply until the server restarts. Returns
 * NULL when neither source has act_back (nothing to send) or on ENOMEM
 * (logged); stop it with tg_sender_stop(). e must outlive the sender.
 */
struct tg_sender *tg_sender_start(const struct tg_config *c,
                                  struct tg_evidence *e);
/* The same, counting each attempt's outcome in m's
 * ticketgate_actions_total (m outlives the sender; NULL: none). */
struct tg_sender *tg_sender_start_metrics(const struct tg_config *c,
                                          struct tg_evidence *e,
                                          struct tg_metrics *m);
/* 1 when the delivery settings of act_back (where, as whom, how long,
 * how often) differ between configurations a and b: the running sender
 * keeps a's until restart (the planning settings, on_deny, on_annotate
 * and dryrun_comments, apply at once: the planner reads the configuration
 * of each request). */
int tg_sender_settings_differ(const struct tg_config *a,
                              const struct tg_config *b);
/* New actions were queued: look now rather than at the next poll. Never
 * blocks; NULL is a no-op. */
void tg_sender_wake(struct tg_sender *s);
/* Stops promptly: transfers in flight are cut (within about a second) and
 * their attempt settled as a retry due at once, so the next start sends
 * it again. Frees s; NULL is a no-op. */
void tg_sender_stop(struct tg_sender *s);

#endif
