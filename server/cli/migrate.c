/* migrate.c - `ticketgate audit migrate`: an SQLite store into PostgreSQL. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/cli/cli.h"
#include "server/config/config.h"
#include "server/store/store.h"
#include "validators/errors.h"

#define MIGRATE_USAGE                                                          \
    "usage: ticketgate audit migrate --from sqlite:PATH "                      \
    "--to postgresql://USER@HOST/DB [-c FILE] (-c: its store.hmac_key "        \
    "checks the MACs on both sides)"

static int usage_error(const char *what, const char *arg)
{
    return tg_cli_usage_error("audit migrate", MIGRATE_USAGE, what, arg);
}

/* The URL without its password, for the terminal: "postgresql://u:pw@h"
 * shows as "postgresql://u:***@h". */
static void shown_url(const char *url, char *buf, size_t cap)
{
    const char *at = strchr(url, '@'), *scheme = strstr(url, "://");
    const char *colon = scheme ? strchr(scheme + 3, ':') : NULL;
    int n;

    if (at && colon && colon < at)
        n = snprintf(buf, cap, "%.*s:***%s", (int)(colon - url), url, at);
    else
        n = snprintf(buf, cap, "%s", url);
    if (n < 0)
        buf[0] = '\0';
}

int tg_cmd_audit_migrate(int argc, char **argv)
{
    const char *from = NULL, *to = NULL, *config = NULL, *why = NULL;
    struct tg_evidence_migration m;
    struct tg_config *c = NULL;
    struct tg_diag d;
    char shown[512];
    int rc, keyed;

    for (int i = 1; i < argc; i++) {
        int missing = 0;

        if (tg_cli_take_opt(argc, argv, &i, "--from", &from, &missing) ||
            tg_cli_take_opt(argc, argv, &i, "--to", &to, &missing) ||
            tg_cli_take_opt(argc, argv, &i, "-c", &config, &missing) ||
            tg_cli_take_opt(argc, argv, &i, "--config", &config, &missing)) {
            if (missing)
                return usage_error("a value is missing after", argv[i]);
            continue;
        }
        return usage_error("unknown argument", argv[i]);
    }
    if (!from || !to)
        return usage_error("--from and --to are required", NULL);
    if (strncmp(from, "sqlite:", 7) == 0)
        from += 7;
    /* "postgresql:" + "//host/db" is the URL itself */
    if (strncmp(to, "postgresql://", 13) != 0 &&
        strncmp(to, "postgres://", 11) != 0)
        return usage_error("--to takes a postgresql:// URL, not", to);
    if (!from[0])
        return usage_error("--from names no file", NULL);
    if (config) {
        tg_diag_init(&d);
        rc = tg_config_load(config, &c, &d);
        if (rc)
            fprintf(stderr, "%s\n",
                    d.n ? d.msgs[0] : "the configuration could not be loaded");
        tg_diag_cleanup(&d);
        if (rc)
            return 2;
    }
    shown_url(to, shown, sizeof shown);
    rc = tg_evidence_migrate(from, to, c ? c->store.hmac_key : NULL,
                             c ? c->store.hmac_key_len : 0, &m, &why);
    keyed = c && c->store.hmac_key_len > 0;
    tg_config_free(c);
    if (rc == TG_ECONFLICT && !m.source.intact) {
        fprintf(stderr,
                "%s: evidence chain broken at seq %llu: %s; nothing was "
                "copied (run `ticketgate audit verify --store %s`)\n",
                from, (unsigned long long)m.source.broken_seq, m.source.reason,
                from);
        return 1;
    }
    if (rc) {
        fprintf(stderr, "ticketgate audit migrate: %s to %s: %s\n", from, shown,
                why               ? why
                : rc == TG_ENOMEM ? "out of memory"
                                  : "it failed");
        return rc == TG_ECONFLICT ? 1 : 2;
    }
    printf("ok: %llu records copied from %s to %s (%llu used jti, %llu "
           "act-back actions, %llu checkpoints and copy-forward uses); the "
           "copy verifies: %llu records, head seq %llu sha256 %s%s\n",
           (unsigned long long)m.records, from, shown,
           (unsigned long long)m.jti, (unsigned long long)m.actions,
           (unsigned long long)m.other, (unsigned long long)m.target.count,
           (unsigned long long)m.target.head_seq, m.target.head_hash,
           keyed ? ", MACs verified" : "");
    return fflush(stdout) == 0 ? 0 : 2;
}
