/* batch.c - the checks both group-commit writers (SQLite, PostgreSQL) make before queueing. */

#include "server/store/batch.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/util/digest.h"
#include "validators/errors.h"

#define KIND_DECISION "decision"
#define KIND_MAX 32

static int is_space(char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

int tg_store_looks_like_object(const char *p, size_t n)
{
    if (!p)
        return 0;
    while (n > 0 && is_space(*p)) {
        p++;
        n--;
    }
    while (n > 0 && is_space(p[n - 1]))
        n--;
    return n >= 2 && p[0] == '{' && p[n - 1] == '}';
}

int tg_store_record_valid(const struct tg_evidence_record *r)
{
    return r && r->decision_id && r->ticket && r->source &&
           r->policy_digest && r->decision_json && r->decision_len > 0 &&
           (!r->judged_json || r->judged_len > 0) &&
           (!r->facts_json || r->facts_len > 0) &&
           tg_store_looks_like_object(r->decision_json, r->decision_len);
}

/* 1 when kind names an entry kind: 1..KIND_MAX bytes of [a-z_], not the
 * decisions' own. */
static int entry_kind_valid(const char *kind)
{
    size_t n = kind ? strlen(kind) : 0;

    if (n == 0 || n > KIND_MAX || strcmp(kind, KIND_DECISION) == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((kind[i] >= 'a' && kind[i] <= 'z') || kind[i] == '_'))
            return 0;
    return 1;
}

int tg_store_entry_prepare(const struct tg_evidence_entry *en, char **id,
                           unsigned char sha[32])
{
    size_t kn, keyn;
    char *s;

    if (!id)
        return TG_EINVAL;
    *id = NULL;
    if (!en || !entry_kind_valid(en->kind) || !en->key || !en->key[0] ||
        !en->json || en->len == 0 || en->len > INT32_MAX ||
        !tg_store_looks_like_object(en->json, en->len))
        return TG_EINVAL;
    kn = strlen(en->kind);
    keyn = strlen(en->key);
    if (keyn > INT32_MAX - KIND_MAX - 2)
        return TG_EINVAL;
    if (!(s = malloc(kn + 1 + keyn + 1)))
        return TG_ENOMEM;
    memcpy(s, en->kind, kn);
    s[kn] = ':';
    memcpy(s + kn + 1, en->key, keyn + 1);
    if (tg_digest_sha256_of(en->json, en->len, sha)) {
        free(s);
        return TG_EIO;
    }
    *id = s;
    return 0;
}
