/* internal.h - what the files of server/config/ share while loading. */
#ifndef TG_CONFIG_INTERNAL_H
#define TG_CONFIG_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>

#include <yaml.h>

#include "server/config/config.h"
#include "server/util/strbuf.h"

/* A configuration is a page or two; a directory exported from an identity
 * provider can be large, but not unbounded. */
#define CONFIG_MAX_BYTES ((size_t)16 << 20)
#define DIRECTORY_MAX_BYTES ((size_t)256 << 20)
#define KEYFILE_MAX_BYTES ((size_t)1 << 20)
/* A value after ${NAME} substitution (the environment is not ours). */
#define VALUE_MAX_BYTES ((size_t)1 << 20)
/* How much of a value a diagnostic quotes, and the buffer that holds it. */
#define SHOW_MAX 60
#define SHOW_CAP (SHOW_MAX + 4)
/* Names of settings in diagnostics ("gates[3].projects") are built from the
 * schema's own key names and indexes, never from input. */
#define NAME_CAP 128
/* A group cycle message names at most this many groups. */
#define CYCLE_SHOW 20

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ----------------------------------------------------------------- loader */

/* Where each diagnostic of this load points, so that they can be listed in
 * file and line order at the end: readers report as they go, section by
 * section, and unknown keys before the values. */
struct dkey {
    unsigned long long key; /* file rank << 32 | line */
    size_t seq;
    char *msg;
};

struct dkeys {
    struct dkey *v;
    size_t n, cap;
    size_t base; /* diag->n when this load began */
    int broken;  /* a key went missing (no memory): keep the order */
};

/*
 * One file being read. The readers below report every problem they find and
 * go on, so that one load lists them all (lint's promise); their int result
 * is for callers that need the value. An allocation failure sets oom, which
 * fails the whole load at the end.
 */
struct ld {
    struct tg_diag *diag;
    const char *file; /* as diagnostics name it */
    yaml_document_t *doc;
    const char *basedir; /* relative paths are relative to it */
    int subst;           /* expand ${NAME} from the environment */
    size_t errors;
    int oom;
    struct dkeys *keys;
    unsigned rank; /* 0 the configuration, 1 the directory */
};

enum {
    F_REQ = 1,    /* empty or null is a problem */
    F_SECRET = 2, /* a credential: empty is a problem, and wipe it */
    F_LOWER = 4,  /* store lower case */
    F_GLOB = 8,   /* lists: each item is a glob pattern */
    F_WORD = 16,  /* lists: each item is one word of REASONS.md */
};

#define MAP_KEYS(L, map, where, keys, vals)                                    \
    tg_cfg_map_keys((L), (map), (where), (keys), COUNT(keys), (vals))

/* diag.c */
int tg_cfg_line_of(const yaml_node_t *n);

__attribute__((format(printf, 3, 4))) void
tg_cfg_problem_at(struct ld *L, int line, const char *fmt, ...);

__attribute__((format(printf, 3, 4))) void
tg_cfg_problem(struct ld *L, const yaml_node_t *n, const char *fmt, ...);

void tg_cfg_sort_diags(struct tg_diag *d, struct dkeys *k);

int tg_cfg_nomem(struct ld *L);

int tg_cfg_status(const struct ld *L);

__attribute__((format(printf, 3, 4))) const char *
tg_cfg_name_of(char *buf, size_t cap, const char *fmt, ...);

const char *tg_cfg_show(const char *s, size_t len, char *buf, size_t cap);

const char *tg_cfg_show_node(const yaml_node_t *n, char *buf, size_t cap);

const char *tg_cfg_kind_name(const yaml_node_t *n);

/* yamlread.c */
int tg_cfg_is_null(const yaml_node_t *n);

void tg_cfg_free_secret(char *s);

void tg_cfg_free_strs(char **v, size_t n);

yaml_node_t *tg_cfg_node_at(const struct ld *L, int id);

void tg_cfg_put(struct tg_strbuf *b, int *err, const char *s, size_t n);

int tg_cfg_get_str(struct ld *L, const yaml_node_t *n, const char *name,
                   unsigned flags, char **out);

int tg_cfg_get_int(struct ld *L, const yaml_node_t *n, const char *name,
                   long long min, long long max, long long *out);

int tg_cfg_get_uint(struct ld *L, const yaml_node_t *n, const char *name,
                    unsigned min, unsigned max, unsigned *out);

int tg_cfg_get_intv(struct ld *L, const yaml_node_t *n, const char *name,
                    int min, int max, int *out);

int tg_cfg_get_enum(struct ld *L, const yaml_node_t *n, const char *name,
                    const char *const *names, size_t count, int *out);

int tg_cfg_get_bool(struct ld *L, const yaml_node_t *n, const char *name,
                    int *out);

int tg_cfg_get_action(struct ld *L, const yaml_node_t *n, const char *name,
                      enum tg_action *out);

int tg_cfg_get_strlist(struct ld *L, const yaml_node_t *n, const char *name,
                       unsigned flags, char ***out, size_t *nout);

size_t tg_cfg_seq_len(const yaml_node_t *n);

int tg_cfg_want_list(struct ld *L, const yaml_node_t *n, const char *name);

int tg_cfg_read_file(const char *path, size_t max, char **buf, size_t *len,
                     int *err);

void tg_cfg_free_text(char *p, size_t len);

char *tg_cfg_dir_of(const char *path);

int tg_cfg_resolve(struct ld *L, const char *p, char **out);

int tg_cfg_get_path(struct ld *L, const yaml_node_t *n, const char *name,
                    char **out);

void tg_cfg_unreadable(struct ld *L, const yaml_node_t *n, const char *name,
                       const char *path, int rc, int err);

void tg_cfg_check_readable(struct ld *L, const yaml_node_t *n, const char *name,
                           const char *path);

int tg_cfg_yaml_load(struct ld *L, const char *text, size_t len,
                     yaml_document_t *doc, int *have);

void tg_cfg_wipe_document(yaml_document_t *doc);

int tg_cfg_map_keys(struct ld *L, const yaml_node_t *map, const char *where,
                    const char *const *keys, size_t nk, yaml_node_t **vals);

/* sections.c */
int tg_cfg_parse_server(struct ld *L, const yaml_node_t *n,
                        struct tg_config *c);

int tg_cfg_parse_store(struct ld *L, const yaml_node_t *n, struct tg_config *c);

int tg_cfg_parse_sources(struct ld *L, const yaml_node_t *n,
                         struct tg_config *c);

int tg_cfg_parse_gates(struct ld *L, const yaml_node_t *n, struct tg_config *c);

int tg_cfg_parse_directory_section(struct ld *L, const yaml_node_t *n,
                                   struct tg_config *c,
                                   yaml_node_t **file_node);

/* sections.c: a source's jwt section (sources.events uses it too) */
int tg_cfg_parse_jwt(struct ld *L, const yaml_node_t *n, const char *where,
                     struct tg_jwt_conf *j);

/* events.c (issue 14): sources.events, the events section, the mappings'
 * systems checked against the directory once it is loaded, and freeing. */
int tg_cfg_parse_events_source(struct ld *L, const yaml_node_t *n,
                               struct tg_config *c);
int tg_cfg_parse_events(struct ld *L, const yaml_node_t *n,
                        struct tg_config *c);
void tg_cfg_check_events(struct ld *L, struct tg_config *c);
void tg_cfg_free_events(struct tg_events_conf *e);

/* actback.c (issue 12): sources.<jira|servicenow>.act_back into a; the
 * checks that need the gates, after they are read; free. */
int tg_cfg_parse_actback(struct ld *L, const yaml_node_t *n, int servicenow,
                         struct tg_actback_conf *a);
void tg_cfg_check_actback(struct ld *L, const struct tg_config *c);
void tg_cfg_actback_free(struct tg_actback_conf *a);

/* policy.c */
int tg_cfg_parse_policy(struct ld *L, const yaml_node_t *n,
                        struct tg_config *c);

/* outcomes.c (issue 14): policy.breakglass and policy.approvals. */
int tg_cfg_parse_breakglass(struct ld *L, const yaml_node_t *n,
                            struct tg_config *c);
int tg_cfg_parse_approvals(struct ld *L, const yaml_node_t *n,
                           struct tg_config *c);

/* exceptions.c: policy.exceptions read at now (the one-year limit of
 * until), and their owners checked once the directory is loaded. */
int tg_cfg_parse_exceptions(struct ld *L, const yaml_node_t *n,
                            struct tg_config *c, int64_t now);

int tg_cfg_check_exception_owners(struct ld *L, struct tg_config *c);

/* directory.c */
int tg_cfg_load_directory(struct ld *C, struct tg_config *c,
                          const yaml_node_t *file_node, char **text,
                          size_t *len);

#endif
