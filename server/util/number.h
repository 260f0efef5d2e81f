/* number.h - the one checked parser of decimal integers. */
#ifndef TG_NUMBER_H
#define TG_NUMBER_H

#include <stddef.h>
#include <stdint.h>

/*
 * Parses the len bytes at p as a decimal integer in [min, max]: an optional
 * '-' (only when min < 0), then one or more ASCII digits and nothing else
 * (no '+', no white space, no "0x", no trailing text: what a person or a
 * header wrote is taken whole or refused). Returns 0 with *out set, or
 * TG_EINVAL (not such a number, or out of range; *out untouched).
 */
int tg_number_parse_i64(const char *p, size_t len, int64_t min, int64_t max,
                        int64_t *out);
/* The same for unsigned values in [0, max]. */
int tg_number_parse_u64(const char *p, size_t len, uint64_t max,
                        uint64_t *out);

#endif
