/* log.h - one-line log records to stderr, filtered by server.log_level. */
#ifndef TG_LOG_H
#define TG_LOG_H

#include <stddef.h>

enum tg_log_level { TG_LOG_DEBUG, TG_LOG_INFO, TG_LOG_WARN, TG_LOG_ERROR };

/* Sets the threshold from "debug", "info", "warn" or "error" (NULL or
 * anything else: info). Thread-safe. */
void tg_log_set_level(const char *name);
/* 1 when records of level are written. */
int tg_log_enabled(enum tg_log_level level);
/* Writes "<RFC 3339 time> <level> <message>\n" to stderr in one write.
 * Callers never pass secrets, and untrusted text only through
 * tg_log_clean(). */
void tg_log_write(enum tg_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Copies at most cap-1 bytes of the len bytes at s into out, each byte
 * outside printable ASCII replaced by '?', so that a request cannot forge
 * log lines. Returns out. */
char *tg_log_clean(const char *s, size_t len, char *out, size_t cap);

#endif
