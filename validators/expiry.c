/* expiry.c - the expiry validator: access that ends, and not too late. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "validators/errors.h"
#include "validators/evaluate.h"
#include "validators/identity.h"
#include "validators/timeparse.h"
#include "validators/words.h"

/* TICKET.md: these words, in any case, mean "no end". */
static int is_no_end(const char *s)
{
    static const char *const words[] = {"never", "permanent", "none", "n/a"};
    size_t len = strlen(s);
    tg_words_trim(&s, &len);
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strlen(words[i]) == len && strncasecmp(words[i], s, len) == 0)
            return 1;
    return 0;
}

#define DAY 86400

/* a / b rounded towards minus infinity (b > 0). */
static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

/* Writes day (days since 1970-01-01) as "YYYY-MM-DD". */
static int format_day(int64_t day, char *buf, size_t cap)
{
    char full[32];
    int n;
    if (day < 0 || day > INT64_MAX / DAY ||
        tg_time_format(day * DAY, full, sizeof(full)) != TG_OK)
        return TG_EINVAL;
    n = snprintf(buf, cap, "%.10s", full);
    return n < 0 || (size_t)n >= cap ? TG_EINVAL : TG_OK;
}

int tg_expiry_days(int64_t now, int64_t allowed, struct tg_expiry_days *out)
{
    char full[32];
    int64_t limit, first, last;
    int n;
    if (allowed < 0 || now > INT64_MAX - allowed)
        return TG_EINVAL;
    limit = now + allowed;
    /* D ends at D*DAY + DAY-1: the first day ending after now, the last
     * ending at or before the limit. */
    first = floor_div(now + 1, DAY);
    last = floor_div(limit - (DAY - 1), DAY);
    if (format_day(first, out->first, sizeof(out->first)) != TG_OK ||
        tg_time_format(limit - limit % 60, full, sizeof(full)) != TG_OK)
        return TG_EINVAL;
    n = snprintf(out->exact, sizeof(out->exact), "%.10s %.5s UTC", full,
                 full + 11);
    if (n < 0 || (size_t)n >= sizeof(out->exact))
        return TG_EINVAL;
    out->fits = last >= first;
    if (!out->fits)
        snprintf(out->last, sizeof(out->last), "%s", out->first);
    else if (format_day(last, out->last, sizeof(out->last)) != TG_OK)
        return TG_EINVAL;
    return TG_OK;
}

int64_t tg_expiry_allowed(const struct tg_ticket *t, const struct tg_policy *p,
                          const struct tg_directory *d,
                          enum tg_expiry_limit *by)
{
    enum tg_privilege priv = tg_privilege_of(t->privilege);
    int64_t allowed = (int64_t)p->max_days[priv] * DAY;
    enum tg_expiry_limit why = TG_LIMIT_PRIVILEGE;

    if (strcmp(tg_beneficiary_type(t, d), "service") == 0 &&
        (int64_t)p->service_max_days * DAY < allowed) {
        allowed = (int64_t)p->service_max_days * DAY;
        why = TG_LIMIT_SERVICE;
    }
    if (t->emergency && (int64_t)p->emergency_max_hours * 3600 < allowed) {
        allowed = (int64_t)p->emergency_max_hours * 3600;
        why = TG_LIMIT_EMERGENCY;
    }
    if (by)
        *by = why;
    return allowed;
}

/* What end a desk agent should set instead of none or a past one: a span
 * of days a date picker can hold, or, when even today's date would end too
 * late, the latest end time. */
static void advise_span(int64_t now, int64_t allowed, char *buf, size_t cap)
{
    struct tg_expiry_days days;
    if (tg_expiry_days(now, allowed, &days) != TG_OK)
        snprintf(buf, cap, "set a date in the future");
    else if (!days.fits)
        snprintf(buf, cap,
                 "no date is that close, so give an end time after now and "
                 "no later than %s",
                 days.exact);
    else if (strcmp(days.first, days.last) == 0)
        snprintf(buf, cap, "set the end date to %s", days.first);
    else
        snprintf(buf, cap, "set an end date from %s to %s", days.first,
                 days.last);
}

/* The same for an end that is too late: the last allowed day. */
static void advise_latest(int64_t now, int64_t allowed, char *buf, size_t cap)
{
    struct tg_expiry_days days;
    if (tg_expiry_days(now, allowed, &days) != TG_OK)
        snprintf(buf, cap, "set an earlier date");
    else if (!days.fits)
        snprintf(buf, cap,
                 "no date is that close, so give an end time no later "
                 "than %s",
                 days.exact);
    else
        snprintf(buf, cap, "set it to %s or an earlier day", days.last);
}

int tg_expiry_check(const struct tg_ticket *t, const struct tg_policy *p,
                    const struct tg_directory *d, int64_t now,
                    struct tg_findings *out)
{
    const char *e = t->expires_at;
    enum tg_privilege priv = tg_privilege_of(t->privilege);
    enum tg_expiry_limit by;
    int64_t at, allowed = tg_expiry_allowed(t, p, d, &by);
    char what[48], limit[32], advice[128];

    if (!tg_ident_present(e) || is_no_end(e)) {
        char said[160];
        const char *args[] = {said, advice};
        said[0] = '\0';
        if (tg_ident_present(e))
            snprintf(said, sizeof(said), " (\"%.120s\")", e);
        advise_span(now, allowed, advice, sizeof(advice));
        return tg_findings_add(out, TG_EXPIRY_MISSING,
                               p->action[TG_EXPIRY_MISSING], NULL, args, 2);
    }
    if (tg_time_parse(e, strlen(e), &at) != TG_OK) {
        const char *args[] = {e};
        return tg_findings_add(out, TG_EXPIRY_INVALID,
                               p->action[TG_EXPIRY_INVALID], NULL, args, 1);
    }
    if (at <= now) {
        const char *args[] = {e, advice};
        advise_span(now, allowed, advice, sizeof(advice));
        return tg_findings_add(out, TG_EXPIRY_PAST, p->action[TG_EXPIRY_PAST],
                               NULL, args, 2);
    }
    if (at - now <= allowed)
        return TG_OK;
    /* Which limit applied is only put into words when it is exceeded. */
    if (by == TG_LIMIT_EMERGENCY) {
        snprintf(what, sizeof(what), "emergency access");
        snprintf(limit, sizeof(limit), "%u hours", p->emergency_max_hours);
    } else {
        snprintf(what, sizeof(what), "%s access%s", tg_privilege_name(priv),
                 by == TG_LIMIT_SERVICE ? " for a service identity" : "");
        snprintf(limit, sizeof(limit), "%u days",
                 by == TG_LIMIT_SERVICE ? p->service_max_days
                                        : p->max_days[priv]);
    }
    advise_latest(now, allowed, advice, sizeof(advice));
    {
        const char *args[] = {e, what, limit, advice};
        return tg_findings_add(out, TG_EXPIRY_TOO_LONG,
                               p->action[TG_EXPIRY_TOO_LONG], NULL, args, 4);
    }
}
