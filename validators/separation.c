/* separation.c - the separation validator: requester is not approver. */
#include <string.h>
#include <strings.h>

#include "validators/errors.h"
#include "validators/evaluate.h"
#include "validators/identity.h"

int tg_separation_check(const struct tg_ticket *t, const struct tg_policy *p,
                        const struct tg_directory *d, struct tg_findings *out)
{
    /* REASONS.md: an absent beneficiary is the requester. */
    const char *beneficiary =
        tg_ident_present(t->beneficiary) ? t->beneficiary : t->requester;
    int human = strcmp(tg_beneficiary_type(t, d), "human") == 0;
    int bene_is_requester = tg_ident_same(d, beneficiary, t->requester);
    size_t present = 0;
    int rc = TG_OK;

    for (size_t i = 0; i < t->n_approvers && rc == TG_OK; i++) {
        const char *a = t->approvers[i];
        char label[TG_IDENT_LABEL_MAX];
        const char *args[1];
        struct tg_ident id = tg_ident_classify(d, a);
        enum tg_code code;
        if (id.cls == TG_ID_ABSENT || tg_ident_repeats(d, t->approvers, i))
            continue;
        present++;
        if (id.cls == TG_ID_NOT_INDIVIDUAL)
            code = TG_APPROVER_NOT_INDIVIDUAL;
        else if (tg_ident_same(d, a, t->requester))
            code = TG_SOD_SELF_APPROVAL;
        else if (human && !bene_is_requester &&
                 tg_ident_same(d, a, beneficiary))
            code = TG_SOD_BENEFICIARY_APPROVAL;
        else
            continue;
        args[0] = tg_ident_label(t, d, a, label, sizeof(label));
        rc = tg_findings_add(out, code, p->action[code], NULL, args, 1);
    }
    if (rc == TG_OK && present == 0)
        rc = tg_findings_add(out, TG_APPROVER_MISSING,
                             p->action[TG_APPROVER_MISSING], NULL, NULL, 0);
    return rc;
}
