/* registry.c - the one table of webhook adapters (struct tg_adapter). */
#include "server/adapters/adapter.h"

#include <string.h>

/* Jira bodies carry no delivery id (it is a header or the JWT's jti). */
static int jira_map(const struct tg_config *c, const json_t *body,
                    json_t **canonical, int *gated, char **event_id,
                    char *err, size_t cap)
{
    *event_id = NULL;
    return tg_jira_map(c, body, canonical, gated, err, cap);
}

static const struct tg_adapter adapters[] = {
    {.source = "jira",
     .authenticate = tg_jira_authenticate_ids,
     .map = jira_map,
     .bearer = 0},
    {.source = "servicenow",
     .authenticate = tg_servicenow_authenticate_ids,
     .map = tg_servicenow_map,
     .bearer = 1},
};

const struct tg_adapter *tg_adapter_find(const char *source)
{
    for (size_t i = 0; source && i < sizeof(adapters) / sizeof(adapters[0]);
         i++)
        if (strcmp(adapters[i].source, source) == 0)
            return &adapters[i];
    return NULL;
}
