/* exceptions.c - accepted risks: the findings an active policy exception lets through. */
#include "validators/exceptions.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "validators/errors.h"
#include "validators/timeparse.h"

#define DAY 86400

void tg_exceptions_init(struct tg_exceptions *x)
{
    x->v = NULL;
    x->n = 0;
}

void tg_exception_cleanup(struct tg_exception *e)
{
    free(e->id);
    free(e->ticket_ref);
    free(e->owner);
    free(e->reason);
    free(e->match.environment);
    free(e->match.privilege);
    free(e->match.beneficiary_type);
    free(e->match.system);
    free(e->match.reason);
    memset(e, 0, sizeof(*e));
}

void tg_exceptions_cleanup(struct tg_exceptions *x)
{
    for (size_t i = 0; i < x->n; i++)
        tg_exception_cleanup(&x->v[i]);
    free(x->v);
    tg_exceptions_init(x);
}

int tg_exception_active(const struct tg_exception *e, int64_t now)
{
    /* until_end is the day's last second, like a delegation's `until`
     * (REASONS.md: whole UTC days). */
    return !e->owner_inactive && now <= e->until_end;
}

/* The UTC day number of t (floor, also before 1970). */
static int64_t day_of(int64_t t)
{
    return t >= 0 ? t / DAY : -((-t + DAY - 1) / DAY);
}

int64_t tg_exception_days_left(const struct tg_exception *e, int64_t now)
{
    return day_of(e->until_end) - day_of(now);
}

int64_t tg_exceptions_latest_until(int64_t now)
{
    char when[32];
    unsigned y, m, d;
    int64_t day;

    /* tg_time_format gives "YYYY-MM-DDTHH:MM:SSZ" for every time a
     * configuration can be loaded at; outside that range nothing is late. */
    if (tg_time_format(now, when, sizeof(when)) != TG_OK)
        return INT64_MAX;
    y = (unsigned)(when[0] - '0') * 1000 + (unsigned)(when[1] - '0') * 100 +
        (unsigned)(when[2] - '0') * 10 + (unsigned)(when[3] - '0');
    m = (unsigned)(when[5] - '0') * 10 + (unsigned)(when[6] - '0');
    d = (unsigned)(when[8] - '0') * 10 + (unsigned)(when[9] - '0');
    y++;
    if (m == 2 && d == 29 &&
        !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        d = 28;
    day = tg_time_days_from_civil(y, m, d);
    return day * DAY + DAY - 1;
}

/* The finding's message with the exception named at its end, worded for
 * the service desk reading the ITSM's comment. NULL on ENOMEM. */
static char *message_with(const char *msg, const struct tg_exception *e)
{
    static const char fmt[] =
        "%s Allowed anyway under policy exception %s (risk accepted in %s, "
        "owner %s), valid through %s UTC.";
    int n = snprintf(NULL, 0, fmt, msg, e->id, e->ticket_ref, e->owner,
                     e->until);
    char *out;

    if (n < 0)
        return NULL;
    out = malloc((size_t)n + 1);
    if (out && snprintf(out, (size_t)n + 1, fmt, msg, e->id, e->ticket_ref,
                        e->owner, e->until) != n) {
        free(out);
        return NULL;
    }
    return out;
}

/* The first exception of x that lets a finding of code through on t at
 * now, or NULL. */
static const struct tg_exception *covering(const struct tg_exceptions *x,
                                           enum tg_code code,
                                           const struct tg_ticket *t,
                                           const struct tg_directory *d,
                                           int64_t now)
{
    for (size_t i = 0; i < x->n; i++) {
        const struct tg_exception *e = &x->v[i];
        if (e->codes[code] && tg_exception_active(e, now) &&
            tg_rules_match(&e->match, t, d))
            return e;
    }
    return NULL;
}

int tg_exceptions_apply(const struct tg_exceptions *x,
                        const struct tg_ticket *t, const struct tg_directory *d,
                        int64_t now, struct tg_result *r)
{
    struct tg_findings *f = &r->findings;
    int deny = 0, changed = 0;

    if (!x || x->n == 0 || r->verdict == TG_SKIP)
        return TG_OK;
    for (size_t i = 0; i < f->n; i++) {
        struct tg_finding *fi = &f->v[i];
        const struct tg_exception *e;
        char *msg;

        if (fi->action != TG_ACTION_DENY || fi->exception ||
            (unsigned)fi->code >= TG_CODE_COUNT)
            continue;
        if (!(e = covering(x, fi->code, t, d, now)))
            continue;
        if (!(msg = message_with(fi->message, e)))
            return TG_ENOMEM;
        free(fi->message);
        fi->message = msg;
        fi->action = TG_ACTION_WARN;
        fi->exception = e;
        changed = 1;
    }
    if (!changed)
        return TG_OK;
    /* As tg_evaluate: a finding that still denies denies (annotate in dry
     * run); findings left are notes. */
    for (size_t i = 0; i < f->n; i++)
        deny |= f->v[i].action == TG_ACTION_DENY;
    if (deny)
        r->verdict = r->dry_run ? TG_ANNOTATE : TG_DENY;
    else
        r->verdict = f->n ? TG_ANNOTATE : TG_ALLOW;
    return TG_OK;
}
