/* audit.c - `ticketgate audit`: verify, export, archive the evidence store,
 * and print a policy's files. */

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
    "ticketgate audit archive -c FILE --before SEQ --to PATH | "           \
    "ticketgate audit policy sha256:DIGEST -c FILE "                       \
    "[--file config|directory] [--format text|json] "                      \
    "| ticketgate audit migrate --from sqlite:PATH --to postgresql://... "  \
    "(--store PATH instead of, or beside, -c FILE)"

struct audit_args {
    const char *action;
    const char *config;
    const char *store;  /* --store: this file rather than store.path */
    const char *since;
    const char *before;
    const char *to;
    const char *digest; /* policy: the digest asked for */
    const char *file;   /* policy: print only this file's bytes */
    const char *format; /* policy: text (default) or json */
};

/* The shared one-line usage error, for this command. */
static int usage_error(const char *what, const char *arg)
{
    return tg_cli_usage_error("audit", AUDIT_USAGE, what, arg);
}


static int parse_args(int argc, char **argv, struct audit_args *a)
{
    memset(a, 0, sizeof *a);
    if (argc < 2)
        return usage_error("missing the action", NULL);
    a->action = argv[1];
    if (strcmp(a->action, "verify") && strcmp(a->action, "export") &&
        strcmp(a->action, "archive") && strcmp(a->action, "policy"))
        return usage_error("unknown action", a->action);
    for (int i = 2; i < argc; i++) {
        int missing = 0;

        if (tg_cli_take_opt(argc, argv, &i, "-c", &a->config, &missing) ||
            tg_cli_take_opt(argc, argv, &i, "--config", &a->config, &missing) ||
            tg_cli_take_opt(argc, argv, &i, "--store", &a->store, &missing) ||
            tg_cli_take_opt(argc, argv, &i, "--since", &a->since, &missing) ||
            tg_cli_take_opt(argc, argv, &i, "--before", &a->before, &missing) ||
            tg_cli_take_opt(argc, argv, &i, "--to", &a->to, &missing) ||
            tg_cli_take_opt(argc, argv, &i, "--file", &a->file, &missing) ||
            tg_cli_take_opt(argc, argv, &i, "--format", &a->format, &missing)) {
            if (missing)
                return usage_error("a value is missing after", argv[i]);
            continue;
        }
        if (!strcmp(a->action, "policy") && !a->digest &&
            argv[i][0] != '-') {
            a->digest = argv[i];
            continue;
        }
        return usage_error("unknown argument", argv[i]);
    }
    if (!a->config && !a->store)
        return usage_error("-c FILE (or --store PATH) is required", NULL);
    if (!strcmp(a->action, "policy") && !a->digest)
        return usage_error("policy needs the digest (sha256:...) to print",
                           NULL);
    if ((a->file || a->format) && strcmp(a->action, "policy"))
        return usage_error("--file and --format apply to policy only", NULL);
    if (a->file && strcmp(a->file, "config") && strcmp(a->file, "directory"))
        return usage_error("--file takes config or directory, not", a->file);
    if (a->format && strcmp(a->format, "text") && strcmp(a->format, "json"))
        return usage_error("--format takes text or json, not", a->format);
    if (a->since && strcmp(a->action, "export"))
        return usage_error("--since applies to export only", NULL);
    if ((a->before || a->to) && strcmp(a->action, "archive"))
        return usage_error("--before and --to apply to archive only", NULL);
    if (!strcmp(a->action, "archive") && (!a->before || !a->to))
        return usage_error("archive needs --before SEQ and --to PATH", NULL);
    return 0;
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

/* Where the store path came from, for the hints of error messages. */
static const char *hint(const struct tg_config *c, char *buf, size_t cap)
{
    if (c->path &&
        snprintf(buf, cap, "check store.path in %s", c->path) < (int)cap)
        return buf;
    return "check the --store path";
}

static int cmd_verify(const struct tg_config *c)
{
    char h[512];
    struct tg_evidence_verdict v;
    char id[sizeof v.broken_id];
    int rc = tg_evidence_verify_file(c->store.path, c->store.hmac_key,
                                     c->store.hmac_key_len, &v);

    if (rc) {
        fprintf(stderr, "%s: %s; %s\n", c->store.path,
                rc == TG_EIO ? v.reason : "out of memory",
                hint(c, h, sizeof h));
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
    if (v.entries)
        printf(" (%llu decisions, %llu other entries: policies, events, "
               "act-back attempts, shadow outcomes)",
               (unsigned long long)(v.count - v.entries),
               (unsigned long long)v.entries);
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
    char h[512];
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
        fprintf(stderr, "%s: %s; %s\n", c->store.path,
                why ? why : "out of memory", hint(c, h, sizeof h));
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
                "was archived; run `ticketgate audit verify`\n",
                c->store.path);
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

/* 1 when s is "sha256:" and 64 lower-case hex digits (a policy digest). */
static int digest_valid(const char *s)
{
    if (strncmp(s, "sha256:", 7) != 0 || strlen(s) != 71)
        return 0;
    for (const char *p = s + 7; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return 0;
    return 1;
}

/* Writes one file of a policy: a header line naming it, its bytes as
 * stored, and a newline when they do not end with one (text view). */
static void print_file(const char *what, const char *path, const char *p,
                       size_t n)
{
    char shown[512];

    printable(path ? path : "(path not recorded)", shown, sizeof shown);
    printf("# ---- %s: %s (%zu bytes, as stored)\n", what, shown, n);
    fwrite(p, 1, n, stdout);
    if (n == 0 || p[n - 1] != '\n')
        putchar('\n');
}

/* `audit policy DIGEST`: the configuration and directory files that
 * produced every decision naming DIGEST, from the store's "policy" entry,
 * after checking that they hash to it. */
static int cmd_policy(const struct tg_config *c, const struct audit_args *a)
{
    struct tg_policy_files f;
    char *json = NULL;
    char h[512];
    int rc;

    if (!digest_valid(a->digest))
        return usage_error("a policy digest is sha256: and 64 lower-case "
                           "hex digits, not", a->digest);
    rc = tg_evidence_get_entry_file(c->store.path, "policy", a->digest,
                                    &json);
    if (rc == TG_ENOTFOUND) {
        fprintf(stderr, "%s: no policy %s in this store: no server kept it "
                "while writing this file (it started with ticketgate "
                "before issue 13, or the policy was never in force here), "
                "or it was archived (try --store ARCHIVE)\n",
                c->store.path, a->digest);
        return 1;
    }
    if (rc) {
        fprintf(stderr, "%s: %s; %s\n", c->store.path,
                rc == TG_ENOMEM ? "out of memory"
                                : "cannot be read as a ticketgate store",
                hint(c, h, sizeof h));
        return 2;
    }
    rc = tg_evidence_policy_files(json, strlen(json), &f);
    if (rc) {
        free(json);
        if (rc == TG_ENOMEM) {
            fprintf(stderr, "out of memory\n");
            return 2;
        }
        fprintf(stderr, "%s: the entry of policy %s is not a policy "
                "document (altered?); run `ticketgate audit verify`\n",
                c->store.path, a->digest);
        return 1;
    }
    if (strcmp(f.digest, a->digest) != 0) {
        fprintf(stderr, "%s: the files kept for policy %s hash to %s: they "
                "were altered; run `ticketgate audit verify`\n",
                c->store.path, a->digest, f.digest);
        rc = 1;
    } else if (a->format && !strcmp(a->format, "json")) {
        printf("%s\n", json);
    } else if (a->file && !strcmp(a->file, "config")) {
        fwrite(f.config, 1, f.config_len, stdout);
    } else if (a->file) {
        if (f.directory)
            fwrite(f.directory, 1, f.directory_len, stdout);
        else {
            fprintf(stderr, "policy %s has no directory file\n", a->digest);
            rc = 1;
        }
    } else {
        printf("# policy %s: the files below hash to it (sha256 of the "
               "configuration's bytes, then the directory's)\n",
               a->digest);
        print_file("configuration", f.config_path, f.config, f.config_len);
        if (f.directory)
            print_file("directory", f.directory_path, f.directory,
                       f.directory_len);
        else
            printf("# ---- directory: none\n");
    }
    tg_evidence_policy_files_free(&f);
    free(json);
    if (fflush(stdout) != 0)
        return 2;
    return rc;
}

int tg_cmd_audit(int argc, char **argv)
{
    struct audit_args a;
    struct tg_config *c = NULL;
    struct tg_config bare;
    int rc;

    if (argc >= 2 && !strcmp(argv[1], "show")) /* cli/auditshow.c */
        return tg_cmd_audit_show(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "migrate")) /* cli/migrate.c */
        return tg_cmd_audit_migrate(argc - 1, argv + 1);
    if ((rc = parse_args(argc, argv, &a)))
        return rc;
    /* --store alone: years later the configuration may be gone; no key
     * then, so verify checks the hashes but not the MACs */
    memset(&bare, 0, sizeof bare);
    bare.store.path = (char *)a.store;
    bare.store.busy_timeout_ms = 2000;
    if (a.config && (rc = tg_cli_load_config(a.config, &c)))
        return rc;
    if (c && a.store) {
        free(c->store.path);
        if (!(c->store.path = strdup(a.store))) {
            rc = 2;
            goto out;
        }
    }
    if (c && !c->store.path) {
        fprintf(stderr, "%s: store.path is not set; set it to the evidence "
                "store file\n", a.config);
        rc = 2;
        goto out;
    }
    {
        const struct tg_config *t = c ? c : &bare;

        if (!strcmp(a.action, "verify"))
            rc = cmd_verify(t);
        else if (!strcmp(a.action, "export"))
            rc = cmd_export(t, a.since);
        else if (!strcmp(a.action, "policy"))
            rc = cmd_policy(t, &a);
        else
            rc = cmd_archive(t, a.before, a.to);
    }
out:
    tg_config_free(c);
    return rc;
}
