/* cli.h - the sub-commands of contract/CLI.md; main.c dispatches to them. */
#ifndef TG_CLI_H
#define TG_CLI_H

/* Each takes the arguments after the sub-command name (argv[0] is the
 * sub-command) and returns the process exit code: 0 success, 1 negative
 * answer, 2 usage or configuration error. */
int tg_cmd_serve(int argc, char **argv); /* server/serve.c */
int tg_cmd_check(int argc, char **argv); /* server/check.c */
int tg_cmd_lint(int argc, char **argv);  /* server/lint.c */
int tg_cmd_audit(int argc, char **argv); /* server/audit.c */
int tg_cmd_replay(int argc, char **argv); /* server/cli/replay.c */
int tg_cmd_outbox(int argc, char **argv); /* server/cli/outbox.c */
int tg_cmd_report(int argc, char **argv); /* server/cli/report.c */
/* `audit show DECISION_ID` (argv[0] is "show"); cli/auditshow.c */
int tg_cmd_audit_show(int argc, char **argv);
/* `audit migrate --from sqlite:PATH --to postgresql://...` (argv[0] is
 * "migrate"); cli/migrate.c (issue 15) */
int tg_cmd_audit_migrate(int argc, char **argv);

/* Reads option name at argv[*i] as "name VALUE" or "name=VALUE": returns 1
 * when argv[*i] is that option, with *out its value (and *i moved past a
 * separate value), or *missing set when the value is absent; 0 when
 * argv[*i] is another argument. cli/args.c */
int tg_cli_take_opt(int argc, char **argv, int *i, const char *name,
                    const char **out, int *missing);

/* Prints "ticketgate CMD: WHAT[ ARG]; USAGE" on stderr (cmd: "outbox",
 * "audit show", ...) and returns 2, the exit code of a usage error.
 * cli/args.c */
int tg_cli_usage_error(const char *cmd, const char *usage, const char *what,
                       const char *arg);

struct tg_config;
/* Loads the configuration at path into *out: 0, or 2 after printing its
 * first problem on one line (with a pointer to `ticketgate lint` when
 * there are more). cli/args.c */
int tg_cli_load_config(const char *path, struct tg_config **out);

#endif
