/* outcomes.c - policy.breakglass and policy.approvals: settings of the outcomes report. */
#include "server/config/internal.h"

#include "validators/errors.h"

int tg_cfg_parse_breakglass(struct ld *L, const yaml_node_t *n,
                            struct tg_config *c)
{
    static const char *const keys[] = {"review_within_hours"};
    yaml_node_t *v[COUNT(keys)];

    if (MAP_KEYS(L, n, "policy.breakglass", keys, v) != TG_OK)
        return tg_cfg_status(L);
    tg_cfg_get_uint(L, v[0], "policy.breakglass.review_within_hours", 1, 8760,
                    &c->outcomes.review_within_hours);
    return tg_cfg_status(L);
}

int tg_cfg_parse_approvals(struct ld *L, const yaml_node_t *n,
                           struct tg_config *c)
{
    static const char *const keys[] = {"rubber_stamp_seconds"};
    yaml_node_t *v[COUNT(keys)];

    if (MAP_KEYS(L, n, "policy.approvals", keys, v) != TG_OK)
        return tg_cfg_status(L);
    tg_cfg_get_uint(L, v[0], "policy.approvals.rubber_stamp_seconds", 1,
                    86400, &c->outcomes.rubber_stamp_seconds);
    return tg_cfg_status(L);
}
