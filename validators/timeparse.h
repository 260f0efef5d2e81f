/* timeparse.h - the date formats of TICKET.md, and RFC 3339 output. */
#ifndef TG_TIMEPARSE_H
#define TG_TIMEPARSE_H

#include <stddef.h>
#include <stdint.h>

/*
 * Parses len bytes at s as one of: RFC 3339 date-time (offsets allowed, also
 * Jira's "+0200" and fractional seconds), a plain date YYYY-MM-DD (the last
 * second of that day UTC), or ServiceNow's "YYYY-MM-DD HH:MM:SS" (UTC).
 * Surrounding white space is ignored. Returns 0 and *out (UTC seconds) or
 * TG_EINVAL.
 */
int tg_time_parse(const char *s, size_t len, int64_t *out);
/* Like tg_time_parse, but a plain date means its first second (for `from`). */
int tg_time_parse_day_start(const char *s, size_t len, int64_t *out);
/* Days since 1970-01-01 of a proleptic Gregorian date. */
int64_t tg_time_days_from_civil(int64_t y, unsigned m, unsigned d);
/* Writes t as "YYYY-MM-DDTHH:MM:SSZ" into buf (at least 21 bytes). Returns 0
 * or TG_EINVAL when t is out of range. */
int tg_time_format(int64_t t, char *buf, size_t cap);

#endif
