/* outcomes.h - access outcomes: events linked to tickets, figures over a period. */
#ifndef TG_OUTCOMES_H
#define TG_OUTCOMES_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct tg_evidence;
struct tg_evidence_row;
struct tg_jarena;

/*
 * The model (README "Access outcomes"; the edges are pinned by
 * tests/test_outcomes.c):
 *
 * A ticket is *allowed* when one of its decisions is allow or annotate.
 * Its window is [start, end): start is the latest approver's approval time
 * ("at" of the judged ticket's identities.approvers) of its first allowing
 * decision, or that decision's evaluation time when no approver carries a
 * time; end is expires_at of its latest allowing decision (INT64_MAX when
 * the ticket has no end). Scope and beneficiary come from that latest
 * allowing decision's judged ticket (the beneficiary: identities'
 * resolved id, else as given, else the ticket's text; none: the
 * requester, as TICKET.md says).
 *
 * A grant links to the ticket it names; a grant that names none links to
 * the allowed ticket of the same beneficiary (directory id, else the name
 * as given, case-insensitive), system and entitlement whose window holds
 * the grant's time (start <= t < end), the one with the latest start when
 * several do. A grant is *unticketed* when it links to no allowed ticket,
 * its time is outside the linked ticket's window, or it gives the access
 * to another identity than the named ticket's beneficiary; *wider* when its
 * ticket is allowed but names another system, entitlement or environment
 * (an event without environment is not wider by environment).
 *
 * Access is held per (identity, system, entitlement) and ticket: a grant
 * opens it (a grant under the same ticket again replaces the open one), a
 * revoke closes every open grant of the key. A revoke links to the ticket
 * it names, else to the latest open grant's allowed ticket, else to the
 * allowed ticket of the same key with the latest start at or before it;
 * the tickets of the grants it closes count as revoked (GET
 * /v1/expirations). Revocation lag = revoke time - expires_at of that
 * ticket. Access is *lingering* at time T when its open grant's ticket has
 * expires_at < T and no allowed ticket of the same key has a window
 * holding T; days overdue = (T - expires_at) / 86400.
 *
 * An emergency (break-glass) ticket is *reviewed* when a later decision on
 * it, or a review event naming it (else of its beneficiary, system and
 * entitlement), comes within review_within_hours of its first decision.
 */

/* Verdicts. */
enum { TG_OC_ALLOW, TG_OC_ANNOTATE, TG_OC_DENY, TG_OC_SKIP, TG_OC_OTHER };
/* Decision flags. */
#define TG_OC_EMERGENCY 1u
#define TG_OC_COPY_FORWARD 2u
#define TG_OC_EXCEPTION 4u
#define TG_OC_JUDGED 8u
/* Event types. */
enum { TG_OC_GRANT, TG_OC_REVOKE, TG_OC_REVIEW, TG_OC_UNKNOWN };
/* Deny reason codes kept apart; the rest count as "other". */
#define TG_OC_MAX_CODES 63
#define TG_OC_NONE INT64_MIN

/* One decision as the outcomes need it. Names are ids of the set's
 * interned names (0: none). Times are UTC seconds, TG_OC_NONE when
 * unknown; expires is INT64_MAX for a ticket without end. */
struct tg_oc_decision {
    int64_t time;
    int64_t created;
    int64_t approved; /* latest approver's at, TG_OC_NONE */
    int64_t expires;
    uint64_t deny_codes; /* bit i: codes[i]; bit 63: another code */
    uint32_t ticket, beneficiary, system, entitlement, environment;
    uint32_t approvals; /* first index in the set's approvals */
    uint16_t n_approvals;
    uint8_t verdict, flags;
};

struct tg_oc_approval {
    int64_t at; /* TG_OC_NONE when the judged ticket has no time */
    uint32_t who;
};

struct tg_oc_event {
    int64_t time;
    uint32_t identity, system, entitlement, environment, ticket;
    uint32_t source_id; /* offset of its source_id in the set's pool */
    uint8_t type, mapped;
};

/* Interned strings: id 0 is the empty name. */
struct tg_oc_names;

/* The decisions and events of a store, and what linking made of them. */
struct tg_oc_set {
    struct tg_oc_decision *d;
    size_t nd, capd;
    struct tg_oc_approval *ap;
    size_t nap, capap;
    struct tg_oc_event *ev;
    size_t ne, cape;
    struct tg_oc_names *names;
    char *pool; /* NUL-terminated source ids */
    size_t pool_len, pool_cap;
    char codes[TG_OC_MAX_CODES][48];
    unsigned n_codes;
    size_t unreadable; /* rows skipped: not JSON of the expected shape */
    /* The arena a row's JSON values are cut from while rows are added
     * (load.c), rewound after each row; NULL: values are released. */
    const struct tg_jarena *arena;

    /* Filled by tg_oc_link. Per ticket name id (size: names count):
     * index+1 of its first and latest allowing decision (0: not allowed),
     * window start. Per event: linked ticket (name id, 0 none), why
     * (TG_OC_L_*), and for grants when the access closed (INT64_MAX open)
     * and whether by a revoke. */
    uint32_t *first_allow, *last_allow;
    int64_t *start;
    uint32_t *link;
    uint8_t *why;
    int64_t *closed;
    uint8_t *tflags; /* per ticket: TG_OC_T_* */
    int64_t *first_time, *second_time; /* its first two decisions */
    int64_t *review_at; /* first review event at or after first_time */
    size_t n_tickets_cap;
    /* Allowed tickets by (beneficiary, system, entitlement, start). */
    struct tg_oc_window *win;
    size_t nwin;
};

/* Per ticket flags. */
#define TG_OC_T_REVOKED 1u /* a revoke event links to it */
#define TG_OC_T_GRANTED 2u /* a grant event links to it */
#define TG_OC_T_REVIEWED 4u /* a review event links to it */

struct tg_oc_window {
    uint32_t beneficiary, system, entitlement, ticket;
    int64_t start, end;
};

/* Why a grant is unticketed, or wider. */
enum {
    TG_OC_L_OK,          /* linked within its ticket's window */
    TG_OC_L_NO_TICKET,   /* no allowed ticket matches */
    TG_OC_L_NOT_ALLOWED, /* the named ticket has no allowing decision */
    TG_OC_L_OUTSIDE,     /* outside its ticket's window */
    TG_OC_L_WIDER,       /* linked, but another system/entitlement/env */
    TG_OC_L_UNMAPPED,    /* the event names no system or entitlement */
    TG_OC_L_IDENTITY,    /* its named ticket is for another beneficiary */
};

/* A new, empty set (caller frees with tg_oc_set_free). NULL on ENOMEM. */
struct tg_oc_set *tg_oc_set_new(void);
void tg_oc_set_free(struct tg_oc_set *s);
/* The text of name id (never NULL). */
const char *tg_oc_name(const struct tg_oc_set *s, uint32_t id);
/* The id of text (0 when it was never interned). */
uint32_t tg_oc_name_find(const struct tg_oc_set *s, const char *text);

/* Adds one stored row: a decision ("decision", with its judged ticket) or
 * an event entry ("event"); other kinds are ignored. Reads only the
 * members it needs. Returns 0 (a row of the wrong shape is counted in
 * unreadable and skipped) or TG_ENOMEM. */
int tg_oc_add_row(struct tg_oc_set *s, const struct tg_evidence_row *row);

/* Loads every decision and event of the store file at path (its own
 * read-only connection; one scan in seq order, parsed on a second thread
 * while it reads), then links.
 * Returns 0, TG_EIO or TG_ENOMEM. */
int tg_oc_load_file(const char *path, struct tg_oc_set **out);
/* The same from a live store, in the calling thread. */
int tg_oc_load(struct tg_evidence *e, struct tg_oc_set **out);

/* Links events to tickets (the model above). Call after the last add;
 * calling again relinks. 0 or TG_ENOMEM. */
int tg_oc_link(struct tg_oc_set *s);

/* policy.approvals.rubber_stamp_seconds and
 * policy.breakglass.review_within_hours when not configured. */
#define TG_OC_RUBBER_STAMP_DEFAULT 60
#define TG_OC_REVIEW_HOURS_DEFAULT 24

/* What to compute. */
struct tg_oc_opts {
    int64_t since, until, now; /* [since, until); lingering at min(until, now) */
    int64_t rubber_stamp_seconds;   /* default 60 */
    int64_t review_within_seconds;  /* break-glass review, default 24 h */
    size_t list_max;                /* rows per list, default 200 */
};

/* Buckets of the revocation lag distribution: revoked before expiry (lag
 * < 0; le_seconds 0), then up to 1 h, 1 day, 7 days, 30 days (le_seconds,
 * inclusive), and over 30 days (le_seconds null). */
#define TG_OC_LAG_BOUNDS 0, 3600, 86400, 7 * 86400, 30 * 86400
#define TG_OC_N_LAG 6

/* The figures of one period, as a JSON object (new reference), with
 * "previous" the same figures over the period of the same length before
 * it when previous is nonzero. Shape: README "Access outcomes" and
 * schemas in tests. NULL on ENOMEM. */
json_t *tg_oc_report(const struct tg_oc_set *s, const struct tg_oc_opts *o,
                     int previous);

/* The work list of GET /v1/expirations: allowed tickets whose expires_at
 * is before due_before and to which no revoke event links, oldest first,
 * at most max (0: all), as {"due_before", "count", "expirations": [...]}.
 * NULL on ENOMEM. */
json_t *tg_oc_expirations(const struct tg_oc_set *s, int64_t due_before,
                          int64_t now, size_t max);

/* Totals for the metrics at time now: accesses lingering, grants without
 * an allowing ticket, and the revocation lags (every revoke linked to a
 * ticket with an end) counted into the n bounds given plus +Inf, their sum
 * in *lag_sum. */
void tg_oc_totals(const struct tg_oc_set *s, int64_t now, long *lingering,
                  long *unticketed, const double *bounds, size_t n,
                  uint64_t *lag_counts, double *lag_sum);

/* Renders a report of tg_oc_report to f. 0, or TG_EIO when writing failed. */
int tg_oc_render_json(const json_t *report, FILE *f);
int tg_oc_render_text(const json_t *report, FILE *f);
int tg_oc_render_html(const json_t *report, FILE *f);

#endif
