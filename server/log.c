/* log.c - one-line log records to stderr, filtered by server.log_level. */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static atomic_int threshold = TG_LOG_INFO;

static const char *const names[] = {"debug", "info", "warn", "error"};

void tg_log_set_level(const char *name)
{
    int lvl = TG_LOG_INFO;
    for (int i = 0; name && i < 4; i++)
        if (strcmp(name, names[i]) == 0)
            lvl = i;
    atomic_store(&threshold, lvl);
}

int tg_log_enabled(enum tg_log_level level)
{
    return (int)level >= atomic_load(&threshold);
}

void tg_log_write(enum tg_log_level level, const char *fmt, ...)
{
    char line[2048], stamp[32];
    struct timespec ts;
    struct tm tm;
    va_list ap;
    int n, m;

    if (!tg_log_enabled(level))
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (!gmtime_r(&ts.tv_sec, &tm) ||
        strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        stamp[0] = '\0';
    n = snprintf(line, sizeof(line), "%s %s ", stamp, names[level]);
    if (n < 0 || (size_t)n >= sizeof(line))
        return;
    va_start(ap, fmt);
    m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    if (m < 0)
        return;
    /* A long record is cut, not dropped; keep room for the newline. */
    if ((size_t)m > sizeof(line) - 2 - (size_t)n)
        m = (int)(sizeof(line) - 2 - (size_t)n);
    n += m;
    line[n++] = '\n';
    /* One write(2) per record keeps lines from threads whole. */
    if (write(STDERR_FILENO, line, (size_t)n) < 0)
        return;
}

char *tg_log_clean(const char *s, size_t len, char *out, size_t cap)
{
    size_t i;

    if (cap == 0)
        return out;
    for (i = 0; i < len && i + 1 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        out[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    out[i] = '\0';
    return out;
}
