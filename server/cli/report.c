/* report.c - `ticketgate report`: access outcomes over a period, as HTML, JSON or text. */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/cli/cli.h"
#include "server/config/config.h"
#include "server/outcomes/outcomes.h"
#include "server/util/number.h"
#include "validators/errors.h"
#include "validators/timeparse.h"

#define REPORT_USAGE                                                           \
    "usage: ticketgate report -c FILE [--since T] [--until T] [--now T] "      \
    "--format html|json|text [-o FILE] [--limit N]"

/* The period when --since is not given. */
#define DEFAULT_DAYS 30
/* Rows per list (lingering, unticketed, approvers, ...) by default and at
 * most. */
#define DEFAULT_LIMIT 200
#define MAX_LIMIT 1000000

struct report_args {
    const char *config, *since, *until, *now, *format, *out, *limit;
};

static int usage_error(const char *what, const char *arg)
{
    return tg_cli_usage_error("report", REPORT_USAGE, what, arg);
}


static int parse_args(int argc, char **argv, struct report_args *a)
{
    memset(a, 0, sizeof *a);
    for (int i = 1; i < argc; i++) {
        int missing = 0;

        if (tg_cli_take_opt(argc, argv, &i, "-c", &a->config, &missing) ||
            tg_cli_take_opt(argc, argv, &i, "--config", &a->config, &missing) ||
            tg_cli_take_opt(argc, argv, &i, "--since", &a->since, &missing) ||
            tg_cli_take_opt(argc, argv, &i, "--until", &a->until, &missing) ||
            tg_cli_take_opt(argc, argv, &i, "--now", &a->now, &missing) ||
            tg_cli_take_opt(argc, argv, &i, "--format", &a->format, &missing) ||
            tg_cli_take_opt(argc, argv, &i, "-o", &a->out, &missing) ||
            tg_cli_take_opt(argc, argv, &i, "--limit", &a->limit, &missing) ||
            tg_cli_take_opt(argc, argv, &i, "--output", &a->out, &missing)) {
            if (missing)
                return usage_error("a value is missing after", argv[i]);
            continue;
        }
        return usage_error("unknown argument", argv[i]);
    }
    if (!a->config)
        return usage_error("-c FILE is required", NULL);
    if (!a->format)
        return usage_error("--format is required", NULL);
    if (strcmp(a->format, "html") && strcmp(a->format, "json") &&
        strcmp(a->format, "text"))
        return usage_error("--format must be html, json or text, not",
                           a->format);
    return 0;
}

/* Parses option name's value t into *out; prints the problem and returns
 * 2 when it is not a time of TICKET.md's forms. */
static int parse_time(const char *name, const char *t, int64_t *out)
{
    if (tg_time_parse_day_start(t, strlen(t), out) == 0)
        return 0;
    fprintf(stderr,
            "ticketgate report: %s %s is not a time; write RFC 3339 "
            "(2026-11-01T00:00:00Z) or a date (2026-11-01); %s\n",
            name, t, REPORT_USAGE);
    return 2;
}

/* The options of the period named by a; 0 or 2 (printed). */
static int period(const struct report_args *a, const struct tg_config *c,
                  struct tg_oc_opts *o)
{
    struct timespec ts;
    int rc;

    clock_gettime(CLOCK_REALTIME, &ts);
    *o = (struct tg_oc_opts){
        .now = (int64_t)ts.tv_sec,
        .rubber_stamp_seconds = c->outcomes.rubber_stamp_seconds
                                    ? c->outcomes.rubber_stamp_seconds
                                    : TG_OC_RUBBER_STAMP_DEFAULT,
        .review_within_seconds =
            (int64_t)(c->outcomes.review_within_hours
                          ? c->outcomes.review_within_hours
                          : TG_OC_REVIEW_HOURS_DEFAULT) *
            3600,
        .list_max = DEFAULT_LIMIT,
    };
    if (a->limit) {
        uint64_t n;
        if (tg_number_parse_u64(a->limit, strlen(a->limit), MAX_LIMIT, &n) ||
            n == 0)
            return usage_error("--limit must be a whole number from 1 to "
                               "1000000, not",
                               a->limit);
        o->list_max = (size_t)n;
    }
    if (a->now && (rc = parse_time("--now", a->now, &o->now)) != 0)
        return rc;
    /* By default the period ends with the current second, which it holds
     * (an event of this second counts). */
    o->until = o->now + 1;
    if (a->until && (rc = parse_time("--until", a->until, &o->until)) != 0)
        return rc;
    o->since = o->until - (int64_t)DEFAULT_DAYS * 86400;
    if (a->since && (rc = parse_time("--since", a->since, &o->since)) != 0)
        return rc;
    if (o->since >= o->until)
        return usage_error("--since must be before --until", NULL);
    return 0;
}

int tg_cmd_report(int argc, char **argv)
{
    struct report_args a;
    struct tg_config *c = NULL;
    struct tg_oc_set *s = NULL;
    struct tg_oc_opts o;
    json_t *rep = NULL;
    FILE *f = stdout;
    int rc;

    if ((rc = parse_args(argc, argv, &a)) != 0)
        return rc;
    if ((rc = tg_cli_load_config(a.config, &c)) != 0)
        return rc;
    if ((rc = period(&a, c, &o)) != 0)
        goto out;
    rc = tg_oc_load_file(c->store.path, &s);
    if (rc) {
        fprintf(stderr,
                "%s: %s; check store.path in %s (run `ticketgate audit verify "
                "-c %s`)\n",
                c->store.path,
                rc == TG_ENOMEM ? "out of memory"
                                : "the evidence store could not be read",
                c->path, c->path);
        rc = 2;
        goto out;
    }
    rep = tg_oc_report(s, &o, 1);
    if (!rep) {
        fprintf(stderr, "ticketgate report: out of memory\n");
        rc = 2;
        goto out;
    }
    if (a.out && !(f = fopen(a.out, "w"))) {
        fprintf(stderr, "%s: cannot be written; choose a writable path for -o\n",
                a.out);
        f = stdout;
        rc = 2;
        goto out;
    }
    rc = strcmp(a.format, "html") == 0   ? tg_oc_render_html(rep, f)
         : strcmp(a.format, "json") == 0 ? tg_oc_render_json(rep, f)
                                         : tg_oc_render_text(rep, f);
    if (f != stdout && fclose(f) != 0)
        rc = TG_EIO;
    else if (f == stdout && fflush(f) != 0)
        rc = TG_EIO;
    f = stdout;
    if (rc) {
        fprintf(stderr, "%s: writing the report failed; check the disk\n",
                a.out ? a.out : "standard output");
        rc = 2;
    }
out:
    json_decref(rep);
    tg_oc_set_free(s);
    tg_config_free(c);
    return rc;
}
