/* log.h - structured log records (one JSON object a line) on stderr. */
#ifndef TG_LOG_H
#define TG_LOG_H

#include <stddef.h>

/*
 * Every record is one JSON object on one line, written with one write(2) so
 * that lines from different threads never mix:
 *
 *   {"time":"2026-11-23T12:00:00.123Z","level":"info","event":"request",
 *    "remote":"10.0.0.7","method":"POST","path":"/v1/check","status":200,
 *    "ticket":"ACC-4410","decision":"deny","codes":["SOD_SELF_APPROVAL"],
 *    "decision_id":"d-...","delivery_id":"...","duration_ms":1.234}
 *
 *   {"time":"...","level":"error","event":"reload_failed","msg":"..."}
 *
 * Strings are escaped as JSON; bytes that are not valid UTF-8 become U+FFFD
 * and every string is cut at TG_LOG_FIELD_MAX bytes, so a request cannot
 * forge or flood records. Callers never pass a secret, a token, a signature
 * or a body: only identifiers (ticket, decision and delivery ids), codes and
 * our own sentences.
 */

enum tg_log_level { TG_LOG_DEBUG, TG_LOG_INFO, TG_LOG_WARN, TG_LOG_ERROR };

#define TG_LOG_FIELD_MAX 256 /* bytes of one string field (msg: 2048) */

/* Sets the threshold from "debug", "info", "warn" or "error" (NULL or
 * anything else: info). Thread-safe. */
void tg_log_set_level(const char *name);
/* 1 when records of level are written. */
int tg_log_enabled(enum tg_log_level level);

/* A record of event (a fixed snake_case name: "start", "reload",
 * "evidence_error", ...) with msg formatted from fmt. */
void tg_log_event(enum tg_log_level level, const char *event, const char *fmt,
                  ...) __attribute__((format(printf, 3, 4)));
/* tg_log_event with event "message". */
void tg_log_write(enum tg_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The access record of one HTTP request. NULL strings and n_codes 0 leave
 * their field out; every pointer is borrowed for the call. */
struct tg_log_request {
    const char *remote; /* the peer's address */
    const char *method;
    const char *path; /* without the query string */
    int status;
    const char *ticket;       /* the ticket id, when one was mapped */
    const char *decision;     /* "allow", "annotate", "deny", "skip" */
    const char *const *codes; /* reason codes of the findings */
    size_t n_codes;
    const char *decision_id;
    const char *delivery_id; /* webhook id, event_id or JWT jti */
    const char *note;        /* e.g. "retry": answered from the record */
    double duration_ms;
};

/* Writes r as event "request" at level (callers use warn for 5xx). */
void tg_log_request(enum tg_log_level level, const struct tg_log_request *r);

/* Copies at most cap-1 bytes of the len bytes at s into out, each byte
 * outside printable ASCII replaced by '?'. Returns out. For text that goes
 * into a message sentence rather than a field of its own. */
char *tg_log_clean(const char *s, size_t len, char *out, size_t cap);

#endif
