/* main.c - the ticketgate command line: dispatch to the sub-commands. */
#include <stdio.h>
#include <string.h>

#include "server/cli/cli.h"
#include "server/util/jarena.h"

static const struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} commands[] = {
    {"serve", tg_cmd_serve,
     "usage: ticketgate serve -c FILE\n"
     "Runs the server until SIGTERM or SIGINT (requests in flight finish,\n"
     "evidence is flushed). SIGHUP reloads the configuration and directory;\n"
     "a configuration that does not load leaves the old one in force.\n"},
    {"check", tg_cmd_check,
     "usage: ticketgate check -c FILE [--now RFC3339] [FILE...|-]\n"
     "Evaluates canonical tickets offline, without a server or evidence\n"
     "store. Each input holds one JSON object, a JSON array, or JSON Lines.\n"
     "Prints one decision document per ticket as JSON Lines, in input\n"
     "order. Exit 1 if any decision is deny.\n"},
    {"lint", tg_cmd_lint,
     "usage: ticketgate lint -c FILE\n"
     "Loads the configuration and directory and reports every problem\n"
     "(unknown keys, bad globs, a system without owner, a group that loops,\n"
     "a secret left empty). Exit 2 if there is any.\n"},
    {"audit", tg_cmd_audit,
     "usage: ticketgate audit verify -c FILE\n"
     "       ticketgate audit export -c FILE [--since RFC3339]\n"
     "       ticketgate audit archive -c FILE --before SEQ --to PATH\n"
     "       ticketgate audit show DECISION_ID -c FILE [--format text|json]\n"
     "show prints one decision for a person: who asked, why, who approved\n"
     "under which authority, until when, the findings, the policy digest,\n"
     "its seq and whether the chain verifies up to it (exit 1 if not, or if\n"
     "there is no such decision).\n"
     "verify re-computes the evidence chain: exit 1 and the first broken\n"
     "record if a record was altered, removed or reordered. export prints\n"
     "the evidence records as JSON Lines. archive moves the records before\n"
     "SEQ to a new store at PATH and keeps the chain verifiable from an\n"
     "anchor (docs/EVIDENCE.md).\n"},
    {"replay", tg_cmd_replay,
     "usage: ticketgate replay -c CANDIDATE.yaml --store PATH [--since T]\n"
     "                         [--until T] [--format text|json]\n"
     "Decides every recorded decision's judged ticket again under the\n"
     "candidate configuration, at the decision's own evaluation time, and\n"
     "prints how many decisions would change, from what to what, by reason\n"
     "code, and each changed decision with its recorded and candidate\n"
     "findings. T is RFC 3339 (since inclusive, until exclusive). Exit 0.\n"},
    {"outbox", tg_cmd_outbox,
     "usage: ticketgate outbox list -c FILE [--ticket KEY] [--json]\n"
     "       ticketgate outbox retry ID -c FILE\n"
     "       ticketgate outbox drop ID -c FILE\n"
     "The act-back actions (comments, transitions, labels, approval\n"
     "rejections, work notes) waiting for or done with delivery to Jira and\n"
     "ServiceNow. list shows each with its state, attempts and last error;\n"
     "retry makes a dead or dropped action due now (attempts start over);\n"
     "drop keeps one from being sent. Safe while the server runs. Exit 1\n"
     "when there is no such action or it is not in a state for it.\n"},
    {"report", tg_cmd_report,
     "usage: ticketgate report -c FILE [--since T] [--until T] [--now T]\n"
     "                         --format html|json|text [-o FILE] [--limit N]\n"
     "Access outcomes over [since, until) from the evidence store's\n"
     "decisions and grant/revoke events: unticketed and wider grants,\n"
     "lingering access, revocation lag, break-glass reviews, approver\n"
     "signals, copy-forward and exception rates, denies by reason; each\n"
     "against the previous period of the same length. T is RFC 3339 or a\n"
     "date; until defaults to now, since to 30 days before until. html is\n"
     "one self-contained file; lists hold at most --limit rows (200).\n"
     "Safe while the server runs. Exit 0.\n"},
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
    fputs("usage: ticketgate COMMAND [ARGS]\n"
          "\n"
          "commands:\n"
          "  serve -c FILE                       run the server\n"
          "  check -c FILE [--now T] [FILE...|-] evaluate tickets offline\n"
          "  lint -c FILE                        check a configuration\n"
          "  audit verify|export|archive -c FILE verify, export or archive evidence\n"
          "  audit show DECISION_ID -c FILE      one decision in words (--format json)\n"
          "  replay -c FILE --store PATH         recorded decisions under a candidate\n"
          "  outbox list|retry ID|drop ID -c FILE the act-back outbox\n"
          "  report -c FILE --format html|json|text access outcomes of a period\n"
          "  help [COMMAND]                      this text, or a command's\n"
          "  --version                           the version\n"
          "\n"
          "Exit codes: 0 success, 1 negative answer (a denial, a broken\n"
          "chain), 2 usage or configuration error.\n",
          f);
}

static const struct command *find(const char *name)
{
    size_t i;
    for (i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static int help(int argc, char **argv)
{
    const struct command *c;

    /* Before any JSON value exists and before threads start. */
    tg_jarena_install();
    if (argc < 2) {
        usage(stdout);
        return 0;
    }
    c = find(argv[1]);
    if (!c) {
        if (strcmp(argv[1], "help") == 0) {
            usage(stdout);
            return 0;
        }
        fprintf(stderr, "ticketgate: no command '%s'; run 'ticketgate help'\n",
                argv[1]);
        return 2;
    }
    fputs(c->help, stdout);
    return 0;
}

int main(int argc, char **argv)
{
    const struct command *c;

    /* Before any JSON value exists and before threads start. */
    tg_jarena_install();
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
        printf("ticketgate %s\n", TG_VERSION);
        return 0;
    }
    if (strcmp(argv[1], "help") == 0)
        return help(argc - 1, argv + 1);
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    c = find(argv[1]);
    if (!c) {
        fprintf(stderr, "ticketgate: no command '%s'; run 'ticketgate help'\n",
                argv[1]);
        return 2;
    }
    /* `ticketgate COMMAND --help` works for every command alike. */
    if (argc == 3 &&
        (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) {
        fputs(c->help, stdout);
        return 0;
    }
    return c->run(argc - 1, argv + 1);
}
