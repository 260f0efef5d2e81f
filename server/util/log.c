/* log.c - structured log records (one JSON object a line) on stderr. */
#include "server/util/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES 8192
#define MSG_MAX 2048

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

/* A line being built. Fields that do not fit are dropped whole, and room
 * for the closing "}\n" is always kept, so a record stays valid JSON. */
struct line {
    char p[LINE_MAX_BYTES];
    size_t n;
};

#define RESERVE 2 /* "}\n" */

static int put(struct line *l, const char *s, size_t len)
{
    if (len > sizeof(l->p) - RESERVE - l->n)
        return -1;
    memcpy(l->p + l->n, s, len);
    l->n += len;
    return 0;
}

static int putf(struct line *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int putf(struct line *l, const char *fmt, ...)
{
    va_list ap;
    size_t room = sizeof(l->p) - RESERVE - l->n;
    int w;

    va_start(ap, fmt);
    w = vsnprintf(l->p + l->n, room + 1, fmt, ap);
    va_end(ap);
    if (w < 0 || (size_t)w > room)
        return -1;
    l->n += (size_t)w;
    return 0;
}

/* Length of the valid UTF-8 sequence at s (at most len bytes), or 0 when
 * it is not one (RFC 3629: no overlongs, no surrogates, <= U+10FFFF). */
static size_t utf8_len(const unsigned char *s, size_t len)
{
    size_t need, i;
    uint32_t cp;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        need = 2;
        cp = s[0] & 0x1f;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        need = 3;
        cp = s[0] & 0x0f;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        need = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (len < need)
        return 0;
    for (i = 1; i < need; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((need == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (need == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return need;
}

/* Appends s (len bytes, at most max of them) as a JSON string. */
static int put_str(struct line *l, const char *s, size_t len, size_t max)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, start = l->n;

    if (len > max)
        len = max;
    if (put(l, "\"", 1) != 0)
        goto full;
    while (i < len) {
        unsigned char c = u[i];
        size_t k;
        char esc[6];

        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            if (put(l, esc, 2) != 0)
                goto full;
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            esc[0] = '\\';
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            if (put(l, esc, 6) != 0)
                goto full;
            i++;
        } else if ((k = utf8_len(u + i, len - i)) > 0) {
            if (put(l, s + i, k) != 0)
                goto full;
            i += k;
        } else {
            /* A stray byte, or a sequence the cut at max split. */
            if (put(l, "\xef\xbf\xbd", 3) != 0)
                goto full;
            i++;
        }
    }
    if (put(l, "\"", 1) != 0)
        goto full;
    return 0;
full:
    l->n = start;
    return -1;
}

/* ,"key":"value" — or nothing when value is NULL or does not fit. */
static void field_str(struct line *l, const char *key, const char *v,
                      size_t max)
{
    size_t start = l->n;

    if (!v)
        return;
    if (putf(l, ",\"%s\":", key) != 0 || put_str(l, v, strlen(v), max) != 0)
        l->n = start;
}

/* {"time":"...","level":"...","event":"..." */
static int begin(struct line *l, enum tg_log_level level, const char *event)
{
    struct timespec ts;
    struct tm tm;
    char stamp[32];

    l->n = 0;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (!gmtime_r(&ts.tv_sec, &tm) ||
        strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
        stamp[0] = '\0';
    if (putf(l, "{\"time\":\"%s.%03ldZ\",\"level\":\"%s\",\"event\":", stamp,
             ts.tv_nsec / 1000000L, names[level]) != 0)
        return -1;
    return put_str(l, event, strlen(event), TG_LOG_FIELD_MAX);
}

static void finish(struct line *l)
{
    /* RESERVE guarantees the room. */
    l->p[l->n++] = '}';
    l->p[l->n++] = '\n';
    /* One write(2) per record keeps lines from threads whole. */
    if (write(STDERR_FILENO, l->p, l->n) < 0)
        return;
}

static void vevent(enum tg_log_level level, const char *event, const char *fmt,
                   va_list ap) __attribute__((format(printf, 3, 0)));

static void vevent(enum tg_log_level level, const char *event, const char *fmt,
                   va_list ap)
{
    struct line l;
    char msg[MSG_MAX];
    int m;

    if (!tg_log_enabled(level))
        return;
    m = vsnprintf(msg, sizeof(msg), fmt, ap);
    if (m < 0)
        return;
    if (begin(&l, level, event) != 0)
        return;
    /* A long message is cut (vsnprintf did), not dropped. */
    field_str(&l, "msg", msg, sizeof(msg));
    finish(&l);
}

void tg_log_event(enum tg_log_level level, const char *event, const char *fmt,
                  ...)
{
    va_list ap;

    va_start(ap, fmt);
    vevent(level, event, fmt, ap);
    va_end(ap);
}

void tg_log_write(enum tg_log_level level, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vevent(level, "message", fmt, ap);
    va_end(ap);
}

static void request_line(enum tg_log_level level,
                         const struct tg_log_request *r)
    __attribute__((noinline));

/* The level is checked before the 8 KB line is on the stack: a worker
 * thread's stack stays resident as deep as it ever went, and every
 * request passes here (issue 10's RSS). */
void tg_log_request(enum tg_log_level level, const struct tg_log_request *r)
{
    if (tg_log_enabled(level))
        request_line(level, r);
}

static void request_line(enum tg_log_level level,
                         const struct tg_log_request *r)
{
    struct line l;
    size_t i, start;

    if (begin(&l, level, "request") != 0)
        return;
    field_str(&l, "remote", r->remote, 64);
    field_str(&l, "method", r->method, 16);
    field_str(&l, "path", r->path, TG_LOG_FIELD_MAX);
    (void)putf(&l, ",\"status\":%d", r->status);
    field_str(&l, "ticket", r->ticket, TG_LOG_FIELD_MAX);
    field_str(&l, "decision", r->decision, 16);
    if (r->n_codes > 0) {
        start = l.n;
        if (put(&l, ",\"codes\":[", 10) != 0)
            goto codes_done;
        for (i = 0; i < r->n_codes; i++)
            if ((i && put(&l, ",", 1) != 0) ||
                put_str(&l, r->codes[i], strlen(r->codes[i]), 64) != 0) {
                l.n = start;
                goto codes_done;
            }
        if (put(&l, "]", 1) != 0)
            l.n = start;
    }
codes_done:
    field_str(&l, "decision_id", r->decision_id, 64);
    field_str(&l, "delivery_id", r->delivery_id, TG_LOG_FIELD_MAX);
    field_str(&l, "note", r->note, 32);
    /* A negative duration (clock step) is logged as 0. */
    (void)putf(&l, ",\"duration_ms\":%.3f",
               r->duration_ms > 0 ? r->duration_ms : 0.0);
    finish(&l);
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
