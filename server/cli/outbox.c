/* outbox.c - `ticketgate outbox list|retry|drop`: the act-back outbox. */

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/cli/cli.h"
#include "server/config/config.h"
#include "server/store/store.h"
#include "server/util/number.h"
#include "validators/errors.h"

#define OUTBOX_USAGE                                                       \
    "usage: ticketgate outbox list -c FILE [--ticket KEY] [--json] | "     \
    "ticketgate outbox retry ID -c FILE | "                                \
    "ticketgate outbox drop ID -c FILE"

static int usage_error(const char *what, const char *arg)
{
    return tg_cli_usage_error("outbox", OUTBOX_USAGE, what, arg);
}

struct outbox_args {
    const char *action, *config, *ticket, *id;
    int json;
};

static int parse_args(int argc, char **argv, struct outbox_args *a)
{
    memset(a, 0, sizeof *a);
    if (argc < 2)
        return usage_error("missing the action", NULL);
    a->action = argv[1];
    if (strcmp(a->action, "list") && strcmp(a->action, "retry") &&
        strcmp(a->action, "drop"))
        return usage_error("unknown action", a->action);
    for (int i = 2; i < argc; i++) {
        const char *s = argv[i];

        if (!strcmp(s, "-c") || !strcmp(s, "--config") ||
            !strcmp(s, "--ticket")) {
            if (i + 1 >= argc)
                return usage_error("a value is missing after", s);
            if (!strcmp(s, "--ticket"))
                a->ticket = argv[++i];
            else
                a->config = argv[++i];
        } else if (!strcmp(s, "--json")) {
            a->json = 1;
        } else if (s[0] != '-' && !a->id && strcmp(a->action, "list")) {
            a->id = s;
        } else {
            return usage_error("unknown argument", s);
        }
    }
    if (!a->config)
        return usage_error("-c FILE is required", NULL);
    if (strcmp(a->action, "list") && !a->id)
        return usage_error("the action's ID is missing (see outbox list)",
                           NULL);
    if (strcmp(a->action, "list") && (a->ticket || a->json))
        return usage_error("--ticket and --json apply to list only", NULL);
    return 0;
}

/* Copies s for the terminal (it comes from the store, and from the ITSM
 * for last_error): control characters become '?'. */
static void printable(const char *s, char *buf, size_t cap)
{
    size_t i = 0;

    for (; s && s[i] && i + 1 < cap; i++)
        buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
    buf[i] = '\0';
}

static const char *str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "-";
}

static int list(const struct tg_config *c, const struct outbox_args *a)
{
    json_t *out = NULL, *v;
    size_t i;
    int rc = tg_outbox_list_file(c->store.path, a->ticket, &out);

    if (rc) {
        fprintf(stderr, "ticketgate outbox: cannot read the store %s (%s)\n",
                c->store.path, rc == TG_ENOMEM ? "out of memory" : "I/O");
        return 2;
    }
    if (!a->json)
        printf("%-8s %-9s %-8s %-10s %-15s %-16s %-22s %s\n", "ID", "STATE",
               "ATTEMPTS", "SYSTEM", "ACTION", "TICKET", "DECISION",
               "LAST ERROR");
    json_array_foreach(json_object_get(out, "actions"), i, v) {
        char ticket[64], dec[64], err[200];

        if (a->json) {
            char *line = json_dumps(v, JSON_COMPACT);

            if (!line) {
                json_decref(out);
                return 2;
            }
            puts(line);
            free(line);
            continue;
        }
        printable(str(v, "ticket"), ticket, sizeof ticket);
        printable(str(v, "decision_id"), dec, sizeof dec);
        printable(str(v, "last_error"), err, sizeof err);
        printf("%-8" PRId64 " %-9s %-8" PRId64 " %-10s %-15s %-16s %-22s %s\n",
               (int64_t)json_integer_value(json_object_get(v, "id")),
               str(v, "state"),
               (int64_t)json_integer_value(json_object_get(v, "attempts")),
               str(v, "system"), str(v, "action"), ticket, dec, err);
    }
    json_decref(out);
    return fflush(stdout) == 0 ? 0 : 2;
}

/* retry or drop: 0 done, 1 no such action or not in a state for it, 2 the
 * store failed. */
static int change(const struct tg_config *c, const struct outbox_args *a)
{
    int retry = strcmp(a->action, "retry") == 0;
    uint64_t id;
    int rc;

    if (tg_number_parse_u64(a->id, strlen(a->id), INT64_MAX, &id) != 0 ||
        id == 0)
        return usage_error("ID is not an action id (digits)", a->id);
    rc = retry ? tg_outbox_retry_file(c->store.path, (int64_t)id)
               : tg_outbox_drop_file(c->store.path, (int64_t)id);
    switch (rc) {
    case 0:
        printf("action %" PRIu64 " %s\n", id,
               retry ? "is due now (attempts start over)"
                     : "is dropped (it will not be sent)");
        return fflush(stdout) == 0 ? 0 : 2;
    case TG_ENOTFOUND:
        fprintf(stderr, "ticketgate outbox: no action %" PRIu64
                        " in %s; see outbox list\n",
                id, c->store.path);
        return 1;
    case TG_EINVAL:
        fprintf(stderr,
                "ticketgate outbox: action %" PRIu64 " cannot be %s: %s\n",
                id, retry ? "retried" : "dropped",
                retry ? "it was delivered, or is being sent now"
                      : "it was delivered, or is dropped already");
        return 1;
    case TG_EBUSY:
        fprintf(stderr, "ticketgate outbox: the store %s stayed locked; try "
                        "again\n",
                c->store.path);
        return 2;
    default:
        fprintf(stderr, "ticketgate outbox: cannot write the store %s\n",
                c->store.path);
        return 2;
    }
}

/*
 * `ticketgate outbox list|retry ID|drop ID -c FILE`: the act-back actions
 * in the store that the configuration names, read and changed on their own
 * connection (safe against a running server). list prints one line per
 * action (oldest first; --json: one JSON object a line). retry makes a
 * dead, dropped or waiting action due now with its attempts back to 0;
 * drop keeps one from being sent. Exit 0, 1 (no such action, or not in a
 * state for it), 2 (usage, configuration, store).
 */
int tg_cmd_outbox(int argc, char **argv)
{
    struct outbox_args a;
    struct tg_config *c = NULL;
    int code;

    if ((code = parse_args(argc, argv, &a)))
        return code;
    if ((code = tg_cli_load_config(a.config, &c)))
        return code;
    code = strcmp(a.action, "list") == 0 ? list(c, &a) : change(c, &a);
    tg_config_free(c);
    return code;
}
