/* owner.c - the owner validator: someone accountable, by name. */
#include "validators/errors.h"
#include "validators/evaluate.h"
#include "validators/identity.h"

int tg_owner_check(const struct tg_ticket *t, const struct tg_policy *p,
                   const struct tg_directory *d, struct tg_findings *out)
{
    struct tg_ident o = tg_ident_classify(d, t->owner);
    char label[TG_IDENT_LABEL_MAX];
    const char *args[1];
    enum tg_code code;

    switch (o.cls) {
    case TG_ID_ABSENT:
        code = TG_OWNER_MISSING;
        break;
    case TG_ID_NOT_INDIVIDUAL:
        code = TG_OWNER_NOT_INDIVIDUAL;
        break;
    case TG_ID_UNKNOWN:
        if (!d->strict)
            return TG_OK;
        code = TG_OWNER_UNKNOWN;
        break;
    default:
        if (!d->people[o.ent.idx].inactive)
            return TG_OK;
        code = TG_OWNER_INACTIVE;
        break;
    }
    args[0] = tg_ident_label(t, d, t->owner, label, sizeof(label));
    return tg_findings_add(out, code, p->action[code], NULL, args, 1);
}
