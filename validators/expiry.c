/* expiry.c - the expiry validator: access that ends, and not too late. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "errors.h"
#include "evaluate.h"
#include "identity.h"
#include "timeparse.h"
#include "words.h"

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

int tg_expiry_check(const struct tg_ticket *t, const struct tg_policy *p,
                    const struct tg_directory *d, int64_t now,
                    struct tg_findings *out)
{
    const char *e = t->expires_at;
    enum tg_privilege priv = tg_privilege_of(t->privilege);
    int64_t at, allowed;
    char what[48], limit[32], latest[32];
    int service, rc;

    if (!tg_ident_present(e) || is_no_end(e)) {
        char said[160];
        const char *args[] = {said};
        said[0] = '\0';
        if (tg_ident_present(e))
            snprintf(said, sizeof(said), " (\"%.120s\")", e);
        return tg_findings_add(out, TG_EXPIRY_MISSING,
                               p->action[TG_EXPIRY_MISSING], NULL, args, 1);
    }
    if (tg_time_parse(e, strlen(e), &at) != TG_OK) {
        const char *args[] = {e};
        return tg_findings_add(out, TG_EXPIRY_INVALID,
                               p->action[TG_EXPIRY_INVALID], NULL, args, 1);
    }
    if (at <= now) {
        const char *args[] = {e};
        return tg_findings_add(out, TG_EXPIRY_PAST, p->action[TG_EXPIRY_PAST],
                               NULL, args, 1);
    }
    /* The allowed duration is the tightest limit that applies; which one
     * it was is only put into words when it is exceeded. */
    enum { BY_PRIVILEGE, BY_SERVICE, BY_EMERGENCY } by = BY_PRIVILEGE;
    allowed = (int64_t)p->max_days[priv] * 86400;
    service = strcmp(tg_beneficiary_type(t, d), "service") == 0;
    if (service && (int64_t)p->service_max_days * 86400 < allowed) {
        allowed = (int64_t)p->service_max_days * 86400;
        by = BY_SERVICE;
    }
    if (t->emergency && (int64_t)p->emergency_max_hours * 3600 < allowed) {
        allowed = (int64_t)p->emergency_max_hours * 3600;
        by = BY_EMERGENCY;
    }
    if (at - now <= allowed)
        return TG_OK;
    if (by == BY_EMERGENCY) {
        snprintf(what, sizeof(what), "emergency access");
        snprintf(limit, sizeof(limit), "%u hours", p->emergency_max_hours);
    } else {
        snprintf(what, sizeof(what), "%s access%s", tg_privilege_name(priv),
                 by == BY_SERVICE ? " for a service identity" : "");
        snprintf(limit, sizeof(limit), "%u days",
                 by == BY_SERVICE ? p->service_max_days : p->max_days[priv]);
    }
    if (tg_time_format(now + allowed, latest, sizeof(latest)) != TG_OK)
        snprintf(latest, sizeof(latest), "%s", "an earlier date");
    {
        const char *args[] = {e, what, limit, latest};
        rc = tg_findings_add(out, TG_EXPIRY_TOO_LONG,
                             p->action[TG_EXPIRY_TOO_LONG], NULL, args, 4);
    }
    return rc;
}
