/* exceptions.h - accepted risks: policy.exceptions, and the findings they let through. */
#ifndef TG_EXCEPTIONS_H
#define TG_EXCEPTIONS_H

#include <stddef.h>
#include <stdint.h>

#include "validators/codes.h"
#include "validators/directory.h"
#include "validators/evaluate.h"
#include "validators/policy.h"
#include "validators/ticket.h"

/* The longest id and ticket_ref accepted: they are printed in every
 * message and metric label the exception touches. */
#define TG_EXCEPTION_ID_MAX 64
#define TG_EXCEPTION_REF_MAX 128
/* lint names an exception whose last day is at most this many days away. */
#define TG_EXCEPTION_SOON_DAYS 14

/*
 * One entry of policy.exceptions: findings of the listed codes on tickets
 * the match rule selects are let through as warnings until the end of the
 * `until` day (UTC). Strings are heap-owned by the entry.
 */
struct tg_exception {
    char *id;         /* "EXC-12": [A-Za-z0-9._:-], 1..TG_EXCEPTION_ID_MAX */
    char *ticket_ref; /* where the risk was accepted: "SEC-881" */
    char *owner;      /* as written: an individual of the directory */
    char *reason;
    unsigned char codes[TG_CODE_COUNT]; /* 1: the code is covered */
    struct tg_rule match; /* same keys and matching as policy.routine */
    char until[11];       /* "YYYY-MM-DD" */
    int64_t until_end;    /* the last second it covers: until 23:59:59 UTC */
    int owner_inactive;   /* the owner's directory status is inactive: the
                           * exception is not applied (set at load) */
    int line;             /* where it stands in the configuration */
};

struct tg_exceptions {
    struct tg_exception *v;
    size_t n;
};

void tg_exceptions_init(struct tg_exceptions *x);
/* Frees every entry and the array; leaves x empty. */
void tg_exceptions_cleanup(struct tg_exceptions *x);
/* Frees what one entry owns (for a loader discarding a half-read one). */
void tg_exception_cleanup(struct tg_exception *e);

/* 1 when e applies at now (UTC seconds): now is on or before the last
 * second of its until day and its owner is active. */
int tg_exception_active(const struct tg_exception *e, int64_t now);

/*
 * Lets r's denying findings through where an exception covers them: for
 * each finding of action deny, the first exception of x (in configuration
 * order) that is active at now, names the finding's code and whose match
 * rule matches t (REASONS.md "policy": every key it names equals the
 * ticket's value) changes the finding's action to warn, is recorded in its
 * `exception` (borrowed from x: valid while x is) and is named at the end of
 * its message. A finding already a warning is left alone: no exception was
 * needed for it. Then r's verdict is reached again as tg_evaluate reaches it
 * (deny when a finding still denies, annotate in dry run; annotate when
 * there are findings; allow). A skip is left alone. Pure. Returns 0 or
 * TG_ENOMEM (r is then unchanged but for findings already let through,
 * each whole).
 */
int tg_exceptions_apply(const struct tg_exceptions *x,
                        const struct tg_ticket *t, const struct tg_directory *d,
                        int64_t now, struct tg_result *r);

/* Days from now's UTC day to e's until day: 0 on the last day it applies,
 * negative once it has ended. */
int64_t tg_exception_days_left(const struct tg_exception *e, int64_t now);

/* The last until day an exception may name when it is loaded at now: the
 * same date one calendar year after now's UTC day (29 February goes to 28
 * February), as UTC seconds of that day's last second. */
int64_t tg_exceptions_latest_until(int64_t now);

#endif
