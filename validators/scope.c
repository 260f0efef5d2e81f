/* scope.c - the scope validator: exactly what is granted, where. */
#include <string.h>

#include "validators/errors.h"
#include "validators/evaluate.h"
#include "validators/identity.h"
#include "validators/words.h"

/* 1 when v contains '*' or one of its words is a wildcard word. */
static int is_wildcard(const struct tg_policy *p, const char *v)
{
    size_t len = strlen(v), pos = 0, start, wlen;
    char buf[64];
    if (memchr(v, '*', len))
        return 1;
    while (tg_words_next(v, len, &pos, &start, &wlen)) {
        if (wlen > p->wildcard_words.maxlen || wlen >= sizeof(buf))
            continue;
        tg_words_lower(v + start, wlen, buf);
        if (tg_wordset_has(&p->wildcard_words, buf, wlen))
            return 1;
    }
    return 0;
}

int tg_scope_check(const struct tg_ticket *t, const struct tg_policy *p,
                   const struct tg_directory *d, struct tg_findings *out)
{
    static const struct {
        const char *name, *field;
        size_t off;
    } parts[] = {
        {"system", "scope.system", offsetof(struct tg_ticket, system)},
        {"environment", "scope.environment",
         offsetof(struct tg_ticket, environment)},
        {"entitlement", "scope.entitlement",
         offsetof(struct tg_ticket, entitlement)},
    };
    int rc = TG_OK;

    for (size_t i = 0; i < 3 && rc == TG_OK; i++) {
        const char *v = *(char *const *)((const char *)t + parts[i].off);
        const char *args[] = {parts[i].name, v};
        if (!tg_ident_present(v)) {
            enum tg_code c = i == 1 ? TG_SCOPE_ENVIRONMENT_MISSING
                                    : TG_SCOPE_MISSING;
            rc = tg_findings_add(out, c, p->action[c], parts[i].field, args,
                                 1);
        } else if (is_wildcard(p, v)) {
            rc = tg_findings_add(out, TG_SCOPE_WILDCARD,
                                 p->action[TG_SCOPE_WILDCARD], parts[i].field,
                                 args, 2);
        }
    }
    if (rc == TG_OK && d->strict && tg_ident_present(t->system) &&
        tg_directory_system(d, t->system, strlen(t->system)) < 0) {
        const char *args[] = {t->system};
        rc = tg_findings_add(out, TG_SCOPE_UNKNOWN_SYSTEM,
                             p->action[TG_SCOPE_UNKNOWN_SYSTEM], NULL, args,
                             1);
    }
    return rc;
}
