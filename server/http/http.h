/* http.h - the CivetWeb server: routes, request order and answers (API.md). */
#ifndef TG_HTTP_H
#define TG_HTTP_H

#include "server/config/cfgref.h"
#include "server/store/store.h"

struct tg_http; /* opaque; one per process */

/*
 * Starts listening on server.listen (and server.admin_listen) of the
 * configuration in cfg, with server.threads workers. The server takes a
 * reference of its own to cfg; the caller keeps its reference. ev is
 * borrowed and must stay open until tg_http_stop() returns. Returns 0 with
 * *out, TG_EINVAL (bad listen or TLS settings, port in use: the reason is
 * logged) or TG_ENOMEM.
 */
int tg_http_start(struct tg_cfgref *cfg, struct tg_evidence *ev,
                  struct tg_http **out);

/*
 * Puts cfg in force for requests that start from now on (the server takes a
 * reference). Requests in flight finish with the configuration they started
 * with. Listener, thread and store settings only change on restart; a
 * difference is logged.
 */
void tg_http_reload(struct tg_http *h, struct tg_cfgref *cfg);

/*
 * Loads the configuration at path and puts it in force with
 * tg_http_reload() (SIGHUP and POST /v1/admin/reload). One reload runs at a
 * time. On failure the configuration in force stays, every problem is
 * logged, and why (cap bytes) gets one sentence for the caller. Returns 0,
 * or the error of tg_config_load().
 */
int tg_http_reload_file(struct tg_http *h, const char *path, char *why,
                        size_t cap);

/*
 * Stops accepting, waits for requests in flight to finish, and frees the
 * server and its configuration references. NULL is a no-op.
 */
void tg_http_stop(struct tg_http *h);

/*
 * The body nests arrays and objects deeper than max (len bytes at p,
 * untrusted; strings are skipped). 1 or 0. Checked before parsing because
 * the JSON parser recurses.
 */
int tg_http_too_deep(const char *p, size_t len, int max);

/* value is a Content-Type of application/json, parameters allowed. */
int tg_http_is_json_type(const char *value);

#endif
