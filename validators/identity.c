/* identity.c - classification and comparison of identities. */
#include "validators/identity.h"

#include "validators/ticket.h"
#include "validators/words.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* A label fits one message argument (findings.c cuts arguments at 120
 * bytes; a label cut there would lose its closing bracket). */
#define LABEL_BYTES 120
/* An id that is not opaque (an e-mail, a user name) is kept up to this. */
#define ID_KEEP 60
/* Opaque ids: at least this long; shown as this many characters. */
#define OPAQUE_MIN 20
#define OPAQUE_SHOW 6
/* A "557058:" or "qm:" prefix is kept before the shown characters when it
 * is at most this long: alone it tells no two people apart. */
#define PREFIX_MAX 12
#define ELLIPSIS "\xe2\x80\xa6"

int tg_ident_present(const char *s)
{
    if (!s)
        return 0;
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r' &&
            *s != '\f' && *s != '\v')
            return 1;
    return 0;
}

struct tg_ident tg_ident_classify(const struct tg_directory *d, const char *s)
{
    struct tg_ident id = {s, {TG_ENT_NONE, 0}, TG_ID_ABSENT};
    if (!tg_ident_present(s))
        return id;
    id.ent = tg_directory_resolve(d, s, strlen(s));
    if (id.ent.kind == TG_ENT_GROUP)
        id.cls = TG_ID_NOT_INDIVIDUAL;
    else if (id.ent.kind == TG_ENT_PERSON)
        id.cls = d->people[id.ent.idx].type == TG_TYPE_HUMAN
                     ? TG_ID_PERSON
                     : TG_ID_NOT_INDIVIDUAL;
    else if (tg_directory_is_generic(d, s, strlen(s)))
        id.cls = TG_ID_NOT_INDIVIDUAL;
    else
        id.cls = TG_ID_UNKNOWN;
    return id;
}

int tg_ident_same(const struct tg_directory *d, const char *a, const char *b)
{
    struct tg_entity ea, eb;
    const char *ta, *tb;
    size_t na, nb;
    if (!tg_ident_present(a) || !tg_ident_present(b))
        return 0;
    ea = tg_directory_resolve(d, a, strlen(a));
    eb = tg_directory_resolve(d, b, strlen(b));
    if (ea.kind != TG_ENT_NONE || eb.kind != TG_ENT_NONE)
        return ea.kind == eb.kind && ea.idx == eb.idx;
    ta = a;
    na = strlen(a);
    tb = b;
    nb = strlen(b);
    tg_words_trim(&ta, &na);
    tg_words_trim(&tb, &nb);
    return na == nb && strncasecmp(ta, tb, na) == 0;
}

int tg_ident_repeats(const struct tg_directory *d, char *const *v, size_t i)
{
    if (!tg_ident_present(v[i]))
        return 0;
    for (size_t j = 0; j < i; j++)
        if (tg_ident_present(v[j]) && tg_ident_same(d, v[j], v[i]))
            return 1;
    return 0;
}

const char *tg_ident_type_word(const char *s)
{
    static const struct {
        const char *word, *type;
    } words[] = {
        {"service", "service"},   {"service account", "service"},
        {"service identity", "service"}, {"non-human", "service"},
        {"nonhuman", "service"},  {"machine", "service"},
        {"api key", "service"},   {"token", "service"},
        {"workload", "service"},  {"bot", "service"},
        {"shared", "shared"},     {"shared account", "shared"},
        {"human", "human"},       {"person", "human"},
        {"user", "human"},        {"employee", "human"},
    };
    size_t len, i;

    if (!tg_ident_present(s))
        return NULL;
    len = strlen(s);
    tg_words_trim(&s, &len);
    for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strlen(words[i].word) == len &&
            strncasecmp(words[i].word, s, len) == 0)
            return words[i].type;
    return NULL;
}

/* The bytes of s[0..len) that fit in max, backed off to a UTF-8 character
 * boundary (s[max] is readable when len > max). */
static size_t utf8_fit(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
        max--;
    return max;
}

/* A Jira accountId ("5b10a2844c20165700ede21g", "557058:f58131cb-b67d-...")
 * or a ServiceNow sys_id: long, one token, digit-rich. A user name or an
 * e-mail is not: it has a '.', an '@' or few digits, and is shown whole. */
static int is_opaque(const char *s, size_t len)
{
    size_t digits = 0;
    if (len < OPAQUE_MIN)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c >= '0' && c <= '9')
            digits++;
        else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                   c == ':' || c == '-' || c == '_'))
            return 0;
    }
    return digits * 4 >= len;
}

/* Copies src[0..len) to dst (cap bytes, no NUL) as one line: each run of
 * white space and control characters becomes one space, none at either
 * end. Returns the bytes written; *more is set when src had more. */
static size_t one_line(const char *src, size_t len, char *dst, size_t cap,
                       int *more)
{
    size_t n = 0;
    int space = 0;
    *more = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)src[i];
        if (c <= 0x20 || c == 0x7f) {
            space = n > 0;
            continue;
        }
        if (n + (size_t)space >= cap) {
            *more = 1;
            break;
        }
        if (space)
            dst[n++] = ' ';
        space = 0;
        dst[n++] = (char)c;
    }
    return n;
}

/* The id as a label shows it, into out (at least ID_KEEP + 4 bytes):
 * returns its length. */
static size_t id_part(const char *s, size_t len, char *out)
{
    size_t n, show;
    int more;
    if (is_opaque(s, len)) {
        const char *colon = NULL;
        for (size_t i = 0; i < len && i <= PREFIX_MAX; i++)
            if (s[i] == ':')
                colon = s + i;
        show = (colon ? (size_t)(colon - s) + 1 : 0) + OPAQUE_SHOW;
        if (show < len) {
            memcpy(out, s, show);
            memcpy(out + show, ELLIPSIS, sizeof(ELLIPSIS) - 1);
            return show + sizeof(ELLIPSIS) - 1;
        }
    }
    n = one_line(s, len, out, ID_KEEP + 1, &more);
    if (n > ID_KEEP || more) {
        n = utf8_fit(out, n, ID_KEEP);
        memcpy(out + n, "...", 3);
        n += 3;
    }
    return n;
}

/* The name to show for s (trimmed to len), cleaned into out (LABEL_BYTES +
 * 1 bytes): its length, or 0 when name is absent, blank or s itself. *more
 * is set when the name was longer than out. */
static size_t name_part(const char *name, const char *s, size_t len,
                        char *out, int *more)
{
    size_t n;
    if (!name)
        return 0;
    n = one_line(name, strlen(name), out, LABEL_BYTES + 1, more);
    if (!*more && n == len && strncasecmp(out, s, len) == 0)
        return 0;
    return n;
}

const char *tg_ident_label(const struct tg_ticket *t,
                           const struct tg_directory *d, const char *s,
                           char *buf, size_t cap)
{
    char name[LABEL_BYTES + 1], id[ID_KEEP + 4];
    const char *p = s;
    size_t len, nlen = 0, ilen, room;
    int more = 0, w;

    if (!tg_ident_present(s) || !buf || cap < TG_IDENT_LABEL_MAX)
        return s;
    len = strlen(s);
    tg_words_trim(&p, &len);
    if (t)
        nlen = name_part(tg_ticket_name_of(t, s), p, len, name, &more);
    if (nlen == 0 && d) {
        struct tg_entity e = tg_directory_resolve(d, s, strlen(s));
        if (e.kind == TG_ENT_PERSON)
            nlen = name_part(d->people[e.idx].name, p, len, name, &more);
    }
    if (nlen == 0)
        return s;
    ilen = id_part(p, len, id);
    room = LABEL_BYTES - ilen - 3; /* " (" and ")" */
    if (nlen > room || more) {
        nlen = utf8_fit(name, nlen, room - 3);
        while (nlen > 0 && name[nlen - 1] == ' ')
            nlen--;
        memcpy(name + nlen, "...", 3);
        nlen += 3;
    }
    w = snprintf(buf, cap, "%.*s (%.*s)", (int)nlen, name, (int)ilen, id);
    if (w < 0 || (size_t)w >= cap)
        return s;
    return buf;
}

const char *tg_beneficiary_type(const struct tg_ticket *t,
                                const struct tg_directory *d)
{
    const char *who, *given = tg_ident_type_word(t->beneficiary_type);
    struct tg_entity e;

    /* A type word we do not know ("automation") is no type: the directory
     * decides, as when none is given, rather than a silent human that
     * would skip the service limits. */
    if (given)
        return given;
    who = tg_ident_present(t->beneficiary) ? t->beneficiary : t->requester;
    if (!who)
        return "human";
    e = tg_directory_resolve(d, who, strlen(who));
    if (e.kind == TG_ENT_PERSON) {
        if (d->people[e.idx].type == TG_TYPE_SERVICE)
            return "service";
        if (d->people[e.idx].type == TG_TYPE_SHARED)
            return "shared";
    }
    return "human";
}
