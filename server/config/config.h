/* config.h - the configuration file (contract/example/ticketgate.yaml). */
#ifndef TG_CONFIG_H
#define TG_CONFIG_H

#include <stddef.h>

#include "validators/directory.h"
#include "validators/exceptions.h"
#include "validators/policy.h"

/* Problems found while loading, each "FILE:LINE: what is wrong; what to do". */
struct tg_diag {
    char **msgs;
    size_t n, cap;
};
void tg_diag_init(struct tg_diag *d);
void tg_diag_cleanup(struct tg_diag *d);
/* Appends "file:line: <formatted>". Allocation failure is swallowed (the
 * caller still fails the load because n or its own error says so). */
void tg_diag_add(struct tg_diag *d, const char *file, int line,
                 const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The shortest HS256 key accepted, bytes: the hash's output size (RFC 7518
 * section 3.2). Also for sources.jira.connect_shared_secret. */
#define TG_CONFIG_HS256_MIN_SECRET 32

enum tg_jwt_alg { TG_JWT_NONE_SET = 0, TG_JWT_HS256, TG_JWT_RS256,
                  TG_JWT_ES256 };

/* A source's Bearer JWT settings (API.md). */
struct tg_jwt_conf {
    int set;                /* the source has a jwt: section */
    enum tg_jwt_alg alg;
    unsigned char *key;     /* HS256: the secret; RS/ES256: public key PEM */
    size_t key_len;
    char *issuer;
    char *audience;
    int leeway_s;           /* default 60 */
    /* server.max_token_lifetime_s, copied here at load: exp may be at most
     * this far ahead of now. */
    int max_lifetime_s;
};

/* sources.jira.fields / sources.servicenow.variables: NULL = not mapped. */
struct tg_field_map {
    char *justification, *owner, *expires_at, *system, *environment,
        *entitlement, *privilege, *beneficiary, *beneficiary_type, *emergency,
        *approvals, *approver;
};

/* What act-back does for one kind of decision (on_deny, on_annotate). */
struct tg_actback_on {
    int comment;           /* Jira: a comment */
    char *transition_to;   /* Jira: the status to move the issue to, or NULL */
    char *label;           /* Jira: a label to add, or NULL */
    int reject_approval;   /* ServiceNow: the approval's state to rejected */
    int work_note;         /* ServiceNow: a work note on the RITM */
    int line;              /* of the section in the configuration (lint) */
};

/* sources.jira.act_back / sources.servicenow.act_back (issue 12,
 * config/actback.c): ticketgate writes the decision back to the ticket.
 * set 0 (no act_back key): no call, as before. */
struct tg_actback_conf {
    int set;
    char *base_url;     /* Jira base_url / ServiceNow instance_url: scheme,
                           host, optional port and path, no trailing '/' */
    /* Basic (user, secret: Jira email + api_token, ServiceNow user +
     * password) or Bearer (Jira Data Center PAT): exactly one is set.
     * Secrets come from ${NAME}; wiped when freed. */
    char *user;
    char *secret;
    char *bearer;
    int api_version;    /* Jira: 3 (Cloud, ADF bodies) or 2 (Data Center,
                           plain text); default 3. ServiceNow: 0 */
    int comment_internal; /* Jira comment_visibility: internal (1, the
                             default: sd.public.comment internal) or
                             public (0) */
    struct tg_actback_on on_deny;
    struct tg_actback_on on_annotate;
    int dryrun_comments; /* dry-run decisions: one "not enforced" comment
                            (work note on ServiceNow); default 1 */
    int max_attempts;    /* per action, then dead letter; default 10 */
    /* For the sender: */
    int timeout_ms;      /* per request (connect + answer); default 10000 */
    int max_per_host;    /* requests in flight to this host; default 4 */
    int retry_base_ms;   /* first backoff (doubles, jittered); default
                            300000: 10 attempts span about a day */
    int retry_max_ms;    /* backoff ceiling; default 21600000 (6 h) */
};

struct tg_jira_conf {
    int set;
    char *hmac_secret;
    char *connect_shared_secret;
    char **access_issue_types;
    size_t n_access_issue_types;
    struct tg_field_map fields;
    struct tg_actback_conf act_back; /* issue 12 */
};

struct tg_servicenow_conf {
    int set;
    struct tg_jwt_conf jwt;
    char *standard_webhooks_secret; /* "whsec_<base64>" as configured */
    struct tg_field_map variables;
    struct tg_actback_conf act_back; /* issue 12 */
};

struct tg_generic_conf {
    int set;
    struct tg_jwt_conf jwt;
};

/* issue 14: events.mappings, one foreign group, application, policy or
 * permission set to a directory system and entitlement (config/events.c). */
enum tg_event_foreign {
    TG_EVMAP_OKTA_GROUP,
    TG_EVMAP_OKTA_APP,
    TG_EVMAP_AWS_GROUP,
    TG_EVMAP_AWS_POLICY_ARN,
    TG_EVMAP_AWS_PERMISSION_SET,
    TG_EVMAP_SCIM_GROUP,
    TG_EVMAP_COUNT
};

struct tg_event_mapping {
    enum tg_event_foreign kind;
    char *foreign;     /* the id (or name) as configured */
    char *account;     /* AWS kinds: only this account id; NULL: any */
    char *system, *entitlement;
    char *environment; /* or NULL */
    int line;          /* in the configuration, for lint and messages */
};

/* The mapping key of k ("okta_group", ...). */
const char *tg_config_event_kind_name(enum tg_event_foreign k);

/* sources.events (POST /v1/events) and events.mappings. */
struct tg_events_conf {
    int set;                 /* sources.events is configured */
    struct tg_jwt_conf jwt;  /* as sources.generic.jwt */
    char *hmac_secret;       /* X-Hub-Signature, as sources.jira */
    struct tg_event_mapping *mappings;
    size_t n_mappings;
};

struct tg_gate {
    char *source;   /* "jira", "servicenow", ... */
    char **projects; /* globs, lower-cased at load; n 0 = every project */
    size_t n_projects;
    char **to;      /* status names; n_to 0 = every status */
    size_t n_to;
    char **issue_types; /* optional: n 0 = access_issue_types decide */
    size_t n_issue_types;
};

enum tg_sync { TG_SYNC_NORMAL, TG_SYNC_FULL };
/* store.driver (issue 15): the embedded file, or a PostgreSQL server. */
enum tg_store_driver { TG_STORE_SQLITE, TG_STORE_POSTGRESQL };

struct tg_config {
    char *path;     /* the configuration file as given */
    char *basedir;  /* its directory: relative paths are relative to it */
    char digest[72]; /* "sha256:<hex>" of configuration + directory bytes */
    /* The bytes the digest covers, in its order (config.c): the
     * configuration file's text and the directory file's (NULL, 0 when the
     * configuration names none). Kept for the evidence store's "policy"
     * entry (issue 13, tg_evidence_keep_policy). */
    char *text;
    size_t text_len;
    char *dir_text;
    size_t dir_text_len;

    struct {
        char *listen;          /* default "127.0.0.1:8080" */
        int threads;           /* default 16 */
        size_t max_body_bytes; /* default 1 MiB */
        int request_timeout_ms; /* default 10000 */
        int keep_alive_timeout_ms; /* default 5000; 0: no keep-alive */
        int connections;       /* default 16 * threads */
        int max_token_lifetime_s; /* default 86400: JWT exp ahead of now */
        char *tls_certificate; /* resolved path, or NULL */
        char *tls_client_ca;   /* resolved path, or NULL */
        char *admin_listen;    /* metrics/health/admin listener, or NULL */
        char *log_level;       /* "debug" "info" "warn" "error"; default info */
    } server;

    struct {
        char *path;            /* resolved path of the SQLite file */
        enum tg_sync sync;     /* default normal */
        unsigned char *hmac_key; /* optional link-signing key */
        size_t hmac_key_len;
        int busy_timeout_ms;   /* default 2000 */
        enum tg_store_driver driver; /* default sqlite */
        char *url;             /* postgresql: libpq URL (secret), or NULL */
    } store;

    struct tg_jira_conf jira;
    struct tg_servicenow_conf servicenow;
    struct tg_generic_conf generic;
    struct tg_events_conf events; /* issue 14 */

    struct tg_gate *gates;
    size_t n_gates;

    struct tg_policy policy;
    /* policy.exceptions (config/exceptions.c), applied by tg_decide. */
    struct tg_exceptions exceptions;
    /* policy.breakglass.review_within_hours and
     * policy.approvals.rubber_stamp_seconds (config/outcomes.c), read by the
     * outcomes report (issue 14); 0: not set, the report's default. */
    struct {
        unsigned review_within_hours;
        unsigned rubber_stamp_seconds;
    } outcomes;
    struct tg_directory directory;
    char *directory_path; /* resolved */
    /* policy.shadow resolved, or NULL: a candidate configuration the server
     * evaluates every live request under as well (server/http/shadow.c). */
    char *shadow_path;
};

/*
 * Loads the configuration at path and the directory it names. Every problem
 * found (unknown keys, wrong types, bad globs, a system without owner, a group
 * cycle, an empty secret, ...) is appended to diag with file and line; the
 * load fails (TG_EINVAL) if there is any. ${NAME} values come from the
 * environment. On success *out is a new configuration the caller frees with
 * tg_config_free(). Returns 0, TG_EINVAL, TG_EIO or TG_ENOMEM.
 */
int tg_config_load(const char *path, struct tg_config **out,
                   struct tg_diag *diag);
void tg_config_free(struct tg_config *c);

/*
 * Appends to notes one "FILE:LINE: note: ..." line for each exception of c
 * that lint should name at now (UTC seconds) without refusing it: one
 * whose last day is at most TG_EXCEPTION_SOON_DAYS days away, one that has
 * ended, one whose owner is inactive. Returns how many it appended.
 */
size_t tg_config_exception_notes(const struct tg_config *c, int64_t now,
                                 struct tg_diag *notes);
/* The same notes as warnings in the server's log (event "exception"), for
 * a configuration the server starts with or reloads. */
void tg_config_log_exception_notes(const struct tg_config *c, int64_t now);

#endif
