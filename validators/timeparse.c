/* timeparse.c - parses the expiry formats of TICKET.md; formats RFC 3339. */
#include "validators/timeparse.h"

#include <string.h>

#include "validators/errors.h"

/* Howard Hinnant's days_from_civil: exact for the proleptic Gregorian
 * calendar, no libc time zone state involved. */
int64_t tg_time_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t yy = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yy + (*m <= 2);
}

static int is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(int64_t y, unsigned m)
{
    static const unsigned dim[] = {31, 28, 31, 30, 31, 30,
                                   31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* Reads exactly n digits at *p. */
static int digits(const char **p, const char *end, unsigned n, unsigned *out)
{
    unsigned v = 0;
    if ((size_t)(end - *p) < n)
        return -1;
    for (unsigned i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (unsigned)(c - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* day_end: a plain date means its last second (1) or its first (0). */
static int parse(const char *s, size_t len, int day_end, int64_t *out)
{
    const char *p = s, *end = s + len;
    unsigned y, mo, d, h = 0, mi = 0, sec = 0;
    int64_t offset = 0, t;
    int zone_needed, round_up = 0;

    while (p < end && is_space(*p))
        p++;
    while (end > p && is_space(end[-1]))
        end--;
    if (digits(&p, end, 4, &y) || p >= end || *p++ != '-' ||
        digits(&p, end, 2, &mo) || p >= end || *p++ != '-' ||
        digits(&p, end, 2, &d))
        return TG_EINVAL;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
        return TG_EINVAL;
    if (p == end) {
        t = tg_time_days_from_civil(y, mo, d) * 86400;
        *out = day_end ? t + 86399 : t;
        return TG_OK;
    }
    /* RFC 3339 separates with T (or t) and always gives seconds and an
     * offset: a time without a zone could be any of 26 hours, and
     * TICKET.md's formats do not include one. ServiceNow's yyyy-MM-dd
     * HH:mm:ss, separated by a space (as RFC 3339 section 5.6's note
     * allows), is UTC when it has no offset. */
    if (*p != 'T' && *p != 't' && *p != ' ')
        return TG_EINVAL;
    zone_needed = *p != ' ';
    p++;
    if (digits(&p, end, 2, &h) || p >= end || *p++ != ':' ||
        digits(&p, end, 2, &mi) || p >= end || *p++ != ':' ||
        digits(&p, end, 2, &sec))
        return TG_EINVAL;
    /* A fraction rounds up: with whole seconds on the other side of every
     * comparison ("at or before now", "over the limit"), the next whole
     * second compares exactly as the instant itself. */
    if (p < end && (*p == '.' || *p == ',')) {
        p++;
        if (p >= end || *p < '0' || *p > '9')
            return TG_EINVAL;
        while (p < end && *p >= '0' && *p <= '9')
            round_up |= *p++ != '0';
    }
    if (h > 23 || mi > 59 || sec > 60)
        return TG_EINVAL;
    if (sec == 60)
        sec = 59; /* a leap second ends with the minute it belongs to */
    if (p == end && zone_needed)
        return TG_EINVAL;
    if (p < end) {
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int sign = *p == '-' ? -1 : 1;
            unsigned oh, om;
            p++;
            if (digits(&p, end, 2, &oh))
                return TG_EINVAL;
            if (p < end && *p == ':')
                p++;
            /* Jira writes +0200, RFC 3339 +02:00. */
            if (digits(&p, end, 2, &om))
                return TG_EINVAL;
            if (oh > 23 || om > 59)
                return TG_EINVAL;
            offset = sign * (int64_t)(oh * 3600 + om * 60);
        } else {
            return TG_EINVAL;
        }
    }
    if (p != end)
        return TG_EINVAL;
    t = tg_time_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec +
        round_up;
    *out = t - offset;
    return TG_OK;
}

int tg_time_parse(const char *s, size_t len, int64_t *out)
{
    return parse(s, len, 1, out);
}

int tg_time_parse_day_start(const char *s, size_t len, int64_t *out)
{
    return parse(s, len, 0, out);
}

/* Writes v as exactly n decimal digits ending at p + n (v < 10^n). */
static void put_digits(char *p, unsigned v, unsigned n)
{
    while (n-- > 0) {
        p[n] = (char)('0' + v % 10);
        v /= 10;
    }
}

/* Digit by digit rather than snprintf: check and replay format the
 * evaluation time of every ticket, and snprintf's format parsing cost more
 * than the rest of the decision's numbers together. */
int tg_time_format(int64_t t, char *buf, size_t cap)
{
    int64_t days, y;
    unsigned m, d, rem;
    if (t < 0 || t > 253402300799LL) /* 0000..9999 */
        return TG_EINVAL;
    if (cap < sizeof("YYYY-MM-DDTHH:MM:SSZ"))
        return TG_EINVAL;
    days = t / 86400;
    rem = (unsigned)(t % 86400);
    civil_from_days(days, &y, &m, &d);
    memcpy(buf, "0000-00-00T00:00:00Z", sizeof("YYYY-MM-DDTHH:MM:SSZ"));
    put_digits(buf, (unsigned)y, 4);
    put_digits(buf + 5, m, 2);
    put_digits(buf + 8, d, 2);
    put_digits(buf + 11, rem / 3600, 2);
    put_digits(buf + 14, rem / 60 % 60, 2);
    put_digits(buf + 17, rem % 60, 2);
    return TG_OK;
}
