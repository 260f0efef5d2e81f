/* number.c - the one checked parser of decimal integers. */
#include "server/util/number.h"

#include "validators/errors.h"

int tg_number_parse_u64(const char *p, size_t len, uint64_t max,
                        uint64_t *out)
{
    uint64_t v = 0;

    if (!p || len == 0)
        return TG_EINVAL;
    for (size_t i = 0; i < len; i++) {
        unsigned d = (unsigned char)p[i] - '0';
        if (d > 9)
            return TG_EINVAL;
        /* Check before multiplying: v * 10 + d must stay within max. */
        if (v > (max - d) / 10)
            return TG_EINVAL;
        v = v * 10 + d;
    }
    *out = v;
    return TG_OK;
}

int tg_number_parse_i64(const char *p, size_t len, int64_t min, int64_t max,
                        int64_t *out)
{
    uint64_t mag;

    if (!p || len == 0 || min > max)
        return TG_EINVAL;
    if (p[0] == '-') {
        /* |INT64_MIN| does not fit an int64_t: bound the magnitude as
         * unsigned, then negate within range. */
        uint64_t lim = min < 0 ? (uint64_t)(-(min + 1)) + 1 : 0;
        if (min >= 0 || tg_number_parse_u64(p + 1, len - 1, lim, &mag) != 0)
            return TG_EINVAL;
        if (mag == 0) {
            if (0 > max)
                return TG_EINVAL;
            *out = 0;
            return TG_OK;
        }
        int64_t v = -(int64_t)(mag - 1) - 1;
        if (v > max)
            return TG_EINVAL;
        *out = v;
        return TG_OK;
    }
    if (max < 0 || tg_number_parse_u64(p, len, (uint64_t)max, &mag) != 0)
        return TG_EINVAL;
    if ((int64_t)mag < min)
        return TG_EINVAL;
    *out = (int64_t)mag;
    return TG_OK;
}
