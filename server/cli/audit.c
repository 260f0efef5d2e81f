/* audit.c - `ticketgate audit`: verify, export, archive the evidence store. */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/cli/cli.h"
#include "server/config/config.h"
#include "validators/errors.h"
#include "server/store/store.h"
#include "server/util/number.h"
#include "validators/timeparse.h"

#define AUDIT_USAGE                                                        \
    "usage: ticketgate audit verify -c FILE | "                            \
    "ticketgate audit export -c FILE [--since RFC3339] | "                 \
    "ticketgate audit archive -c FILE --before SEQ --to PATH"

struct audit_args {
    const char *action;
    const char *config;
    const char *since;
    const char *before;
    const char *to;
};

static int usage_error(const char *what, const char *arg)
{
    fprintf(stderr, "ticketgate audit: %s%s%s; %s\n", what, arg ? " " : "",
            arg ? arg : "", AUDIT_USAGE);
    return 2;
}

/* Takes "--name VALUE" or "--name=VALUE" at argv[*i]; 1 when it matched. */
static int take_opt(int argc, char **argv, int *i, const char *name,
                    const char **out, int *missing)
{
    const char *a = argv[*i];
    size_t n = strlen(name);

    if (strncmp(a, name, n) != 0)
        return 0;
    if (a[n] == '=') {
        *out = a + n + 1;
        return 1;
    }
    if (a[n] != '\0')
        return 0;
    if (*i + 1 >= argc) {
        *missing = 1;
        return 1;
    }
    *out = argv[++*i];
    return 1;
}

static int parse_args(int argc, char **argv, struct audit_args *a)
{
    memset(a, 0, sizeof *a);
    if (argc < 2)
        return usage_error("missing the action", NULL);
    a->action = argv[1];
    if (strcmp(a->action, "verify") && strcmp(a->action, "export") &&
        strcmp(a->action, "archive"))
        return usage_error("unknown action", a->action);
    for (int i = 2; i < argc; i++) {
        int missing = 0;

        if (take_opt(argc, argv, &i, "-c", &a->config, &missing) ||
            take_opt(argc, argv, &i, "--config", &a->config, &missing) ||
            take_opt(argc, argv, &i, "--since", &a->since, &missing) ||
            take_opt(argc, argv, &i, "--before", &a->before, &missing) ||
            take_opt(argc, argv, &i, "--to", &a->to, &missing)) {
            if (missing)
                return usage_error("a value is missing after", argv[i]);
            continue;
        }
        return usage_error("unknown argument", argv[i]);
    }
    if (!a->config)
        return usage_error("-c FILE is required", NULL);
    if (a->since && strcmp(a->action, "export"))
        return usage_error("--since applies to export only", NULL);
    if ((a->before || a->to) && strcmp(a->action, "archive"))
        return usage_error("--before and --to apply to archive only", NULL);
    if (!strcmp(a->action, "archive") && (!a->before || !a->to))
        return usage_error("archive needs --before SEQ and --to PATH", NULL);
    return 0;
}

/* Loads the configuration; on failure prints its first problem on one line
 * and returns 2. */
static int load_config(const char *path, struct tg_config **out)
{
    struct tg_diag d;
    int rc;

    tg_diag_init(&d);
    rc = tg_config_load(path, out, &d);
    if (rc) {
        if (d.n > 0)
            fprintf(stderr, "%s%s\n", d.msgs[0],
                    d.n > 1 ? " (and more: run `ticketgate lint -c FILE`)"
                            : "");
        else
            fprintf(stderr, "%s: the configuration could not be loaded; "
                    "run `ticketgate lint -c %s`\n", path, path);
    }
    tg_diag_cleanup(&d);
    return rc ? 2 : 0;
}

/* Copies s for the terminal: a decision id comes from the store file and
 * may hold control characters. */
static void printable(const char *s, char *buf, size_t cap)
{
    size_t i = 0;

    for (; s[i] && i + 1 < cap; i++)
        buf[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    buf[i] = '\0';
}

static int cmd_verify(const struct tg_config *c)
{
    struct tg_evidence_verdict v;
    char id[sizeof v.broken_id];
    int rc = tg_evidence_verify_file(c->store.path, c->store.hmac_key,
                                     c->store.hmac_key_len, &v);

    if (rc) {
        fprintf(stderr, "%s: %s; check store.path in %s\n", c->store.path,
                rc == TG_EIO ? v.reason : "out of memory", c->path);
        return 2;
    }
    if (!v.intact) {
        printable(v.broken_id, id, sizeof id);
        fprintf(stderr,
                "%s: evidence chain broken at seq %llu (decision %s): %s; "
                "keep this file as it is, restore the store from a backup "
                "and investigate\n",
                c->store.path, (unsigned long long)v.broken_seq, id,
                v.reason);
        return 1;
    }
    printf("ok: %llu records intact", (unsigned long long)v.count);
    if (v.anchor_seq)
        printf(" after checkpoint seq %llu",
               (unsigned long long)v.anchor_seq);
    printf(", head seq %llu sha256 %s%s\n", (unsigned long long)v.head_seq,
           v.head_hash, c->store.hmac_key_len ? ", MACs verified" : "");
    return fflush(stdout) == 0 ? 0 : 2;
}

static int cmd_export(const struct tg_config *c, const char *since_s)
{
    const char *why = NULL;
    int64_t since = INT64_MIN;
    int rc;

    /* a plain date means its first second here: "since that day" */
    if (since_s &&
        tg_time_parse_day_start(since_s, strlen(since_s), &since)) {
        fprintf(stderr, "ticketgate audit export: --since '%s' is not an "
                "RFC 3339 date-time; write it as 2026-11-01T00:00:00Z\n",
                since_s);
        return 2;
    }
    rc = tg_evidence_export_file(c->store.path, since, stdout, &why);
    if (rc) {
        fprintf(stderr, "%s: %s; check store.path in %s\n", c->store.path,
                why ? why : "out of memory", c->path);
        return 2;
    }
    return 0;
}

static int cmd_archive(const struct tg_config *c, const char *before_s,
                       const char *to)
{
    uint64_t before = 0, moved = 0;
    int rc;

    /* a record seq: decimal digits only, no sign, at most INT64_MAX */
    if (!before_s ||
        tg_number_parse_u64(before_s, strlen(before_s), INT64_MAX, &before))
        return usage_error("--before takes a record seq, not", before_s);
    rc = tg_evidence_archive_file(c->store.path, before, to,
                                  c->store.hmac_key, c->store.hmac_key_len,
                                  c->store.busy_timeout_ms, &moved);
    switch (rc) {
    case 0:
        if (moved)
            printf("archived %llu records older than seq %llu to %s\n",
                   (unsigned long long)moved, (unsigned long long)before,
                   to);
        else
            printf("nothing to archive: no record older than seq %llu\n",
                   (unsigned long long)before);
        return 0;
    case TG_ECONFLICT:
        fprintf(stderr, "%s: the evidence chain does not verify, nothing "
                "was archived; run `ticketgate audit verify -c %s`\n",
                c->store.path, c->path);
        return 1;
    case TG_EINVAL:
        fprintf(stderr, "%s: already exists; archive to a new file\n", to);
        return 2;
    case TG_EBUSY:
        fprintf(stderr, "%s: the store stayed locked; retry, or archive "
                "fewer records at a time\n", c->store.path);
        return 2;
    default:
        fprintf(stderr, "%s: archiving to %s failed, nothing was moved; "
                "check that both paths are writable\n", c->store.path, to);
        return 2;
    }
}

int tg_cmd_audit(int argc, char **argv)
{
    struct audit_args a;
    struct tg_config *c = NULL;
    int rc;

    if (argc >= 2 && !strcmp(argv[1], "show")) /* cli/auditshow.c */
        return tg_cmd_audit_show(argc - 1, argv + 1);
    if ((rc = parse_args(argc, argv, &a)))
        return rc;
    if ((rc = load_config(a.config, &c)))
        return rc;
    if (!c->store.path) {
        fprintf(stderr, "%s: store.path is not set; set it to the evidence "
                "store file\n", a.config);
        rc = 2;
        goto out;
    }
    if (!strcmp(a.action, "verify"))
        rc = cmd_verify(c);
    else if (!strcmp(a.action, "export"))
        rc = cmd_export(c, a.since);
    else
        rc = cmd_archive(c, a.before, a.to);
out:
    tg_config_free(c);
    return rc;
}
