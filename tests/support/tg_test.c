/* tg_test.c - integration helpers: the real server, HTTP, tokens, MACs. */
#include "tests/support/tg_test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#ifndef TG_SOURCE_DIR
#error "TG_SOURCE_DIR must be defined by the build"
#endif
#ifndef TG_BINARY
#error "TG_BINARY must be defined by the build"
#endif

/* ---------------------------------------------------------------- misc */

static int slow(void)
{
    const char *w = getenv("TG_TEST_WRAPPER");
    return w && *w;
}

void tg_test_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *tg_test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0;

    if (!f)
        return NULL;
    for (;;) {
        size_t got;
        if (cap - n < 4096) {
            char *nb = realloc(buf, cap * 2 + 4096);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
            cap = cap * 2 + 4096;
        }
        got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

static int write_all(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "tg_test: cannot write %s: %s\n", path,
                strerror(errno));
        return -1;
    }
    if (fwrite(text, 1, len, f) != len) {
        fclose(f);
        return -1;
    }
    return fclose(f) == 0 ? 0 : -1;
}

void tg_test_rfc3339(int64_t offset, char *buf, size_t cap)
{
    time_t t = time(NULL) + (time_t)offset;
    struct tm tm;
    gmtime_r(&t, &tm);
    if (strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0 && cap)
        buf[0] = '\0';
}

/* -------------------------------------------------------------- server */

int tg_test_free_port(void)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

    if (fd < 0)
        return -1;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &alen) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static int run_cmd(char *const argv[])
{
    int st;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        execvp(argv[0], argv);
        _exit(127);
    }
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

int tg_test_server_prepare(struct tg_server *s)
{
    char src[512];
    char *cp[] = {"cp", "-R", src, s->dir, NULL};
    char *rm[] = {"rm", "-rf", src, NULL};

    memset(s, 0, sizeof(*s));
    snprintf(s->dir, sizeof(s->dir), "/tmp/tgtest-XXXXXX");
    if (!mkdtemp(s->dir)) {
        fprintf(stderr, "tg_test: mkdtemp: %s\n", strerror(errno));
        s->dir[0] = '\0';
        return -1;
    }
    snprintf(src, sizeof(src), "%s/example/.", TG_SOURCE_DIR);
    if (run_cmd(cp) != 0) {
        fprintf(stderr, "tg_test: cannot copy %s\n", src);
        return -1;
    }
    snprintf(s->config, sizeof(s->config), "%s/ticketgate.yaml", s->dir);
    snprintf(s->log, sizeof(s->log), "%s/server.log", s->dir);
    /* An empty store: example/data holds the store of a server started by
     * scripts/run.sh, whose records would be counted as the test's. */
    snprintf(src, sizeof(src), "%s/data", s->dir);
    if (run_cmd(rm) != 0 || mkdir(src, 0700) != 0)
        return -1;
    return 0;
}

int tg_test_config_replace(struct tg_server *s, const char *old,
                           const char *new_text)
{
    size_t len, ol = strlen(old), nl = strlen(new_text);
    char *text = tg_test_read_file(s->config, &len), *hit, *out;
    int rc = -1;

    if (!text)
        return -1;
    hit = strstr(text, old);
    if (!hit) {
        fprintf(stderr, "tg_test: '%s' not in %s\n", old, s->config);
        goto out;
    }
    out = malloc(len - ol + nl + 1);
    if (!out)
        goto out;
    memcpy(out, text, (size_t)(hit - text));
    memcpy(out + (hit - text), new_text, nl);
    memcpy(out + (hit - text) + nl, hit + ol, len - (size_t)(hit - text) - ol);
    rc = write_all(s->config, out, len - ol + nl);
    free(out);
out:
    free(text);
    return rc;
}

int tg_test_write_file(struct tg_server *s, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", s->dir, name);
    return write_all(path, text, strlen(text));
}

/* Rewrites the `listen:` line of the server section to 127.0.0.1:0: the
 * kernel picks a free port at bind and the server logs it. */
static int set_listen(struct tg_server *s)
{
    size_t len;
    char *text = tg_test_read_file(s->config, &len), *line, *eol, *out;
    char repl[64];
    int rc = -1, n;

    if (!text)
        return -1;
    line = strstr(text, "\n  listen:");
    if (!line) {
        fprintf(stderr, "tg_test: no server.listen in %s\n", s->config);
        goto out;
    }
    line++;
    eol = strchr(line, '\n');
    if (!eol)
        eol = text + len;
    n = snprintf(repl, sizeof(repl), "  listen: \"127.0.0.1:0\"");
    out = malloc(len + (size_t)n + 1);
    if (!out)
        goto out;
    memcpy(out, text, (size_t)(line - text));
    memcpy(out + (line - text), repl, (size_t)n);
    memcpy(out + (line - text) + n, eol, len - (size_t)(eol - text));
    rc = write_all(s->config, out,
                   (size_t)(line - text) + (size_t)n + len -
                       (size_t)(eol - text));
    free(out);
out:
    free(text);
    return rc;
}

static pid_t spawn(const struct tg_server *s)
{
    char *argv[64], *wrap = NULL, *p;
    const char *w = getenv("TG_TEST_WRAPPER");
    size_t n = 0;
    pid_t pid;

    if (w && *w) {
        wrap = strdup(w);
        if (!wrap)
            return -1;
        /* Split on spaces in place: each word becomes one argument. */
        for (p = wrap; *p && n < 56;) {
            while (*p == ' ')
                *p++ = '\0';
            if (!*p)
                break;
            argv[n++] = p;
            while (*p && *p != ' ')
                p++;
        }
    }
    argv[n++] = (char *)TG_BINARY;
    argv[n++] = (char *)"serve";
    argv[n++] = (char *)"-c";
    argv[n++] = (char *)s->config;
    argv[n] = NULL;

    pid = fork();
    if (pid == 0) {
        int fd = open(s->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    free(wrap);
    return pid;
}

/* Reads the "listen" lines of s->log written since s->log_from into
 * s->port (the first API port) and s->admin_port. Returns 1 once the
 * "start" line, logged after every listener, is there; 0 before. */
static int log_ports(struct tg_server *s)
{
    static const char key[] = "listening on port ";
    size_t len;
    char *text = tg_test_read_file(s->log, &len), *p;
    int done = 0;

    if (!text)
        return 0;
    if ((size_t)s->log_from > len ||
        !strstr(text + s->log_from, "\"event\":\"start\""))
        goto out;
    done = 1;
    for (p = strstr(text + s->log_from, key); p; p = strstr(p, key)) {
        char *end;
        long port;
        p += sizeof(key) - 1;
        port = strtol(p, &end, 10);
        if (end == p || port <= 0 || port > 65535)
            continue;
        if (strncmp(end, " (admin)", 8) == 0) {
            if (!s->admin_port)
                s->admin_port = (int)port;
        } else if (!s->port) {
            s->port = (int)port;
        }
    }
out:
    free(text);
    return done;
}

/* The port of pid's only listening TCP socket (from /proc), 0 when it has
 * none or several: for a server whose log_level hides the "listen" line. */
static int proc_listen_port(pid_t pid)
{
    char path[64], line[512];
    unsigned long inodes[64];
    size_t n_in = 0, i;
    int port = 0, found = 0, fd;
    FILE *f;

    for (fd = 0; fd < 256 && n_in < 64; fd++) {
        char link[64];
        ssize_t k;
        snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, fd);
        k = readlink(path, link, sizeof(link) - 1);
        if (k <= 0)
            continue;
        link[k] = '\0';
        if (strncmp(link, "socket:[", 8) == 0)
            inodes[n_in++] = strtoul(link + 8, NULL, 10);
    }
    snprintf(path, sizeof(path), "/proc/%d/net/tcp", (int)pid);
    f = fopen(path, "r");
    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f)) {
        /* sl local_address rem_address st tx:rx tr:when retr uid timeout
         * inode: fields 1, 3 and 9 (0-based) matter. */
        char *field[10], *q = line;
        size_t nf = 0;
        while (nf < 10) {
            while (*q == ' ')
                q++;
            if (!*q || *q == '\n')
                break;
            field[nf++] = q;
            while (*q && *q != ' ' && *q != '\n')
                q++;
        }
        if (nf < 10 || strncmp(field[3], "0A ", 3) != 0)
            continue;
        for (i = 0; i < n_in; i++) {
            char *colon = strchr(field[1], ':');
            if (inodes[i] != strtoul(field[9], NULL, 10) || !colon)
                continue;
            port = (int)strtol(colon + 1, NULL, 16);
            found++;
        }
    }
    fclose(f);
    return found == 1 ? port : 0;
}

static void set_url(struct tg_server *s)
{
    snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%d", s->port);
}

int tg_test_server_spawn(struct tg_server *s)
{
    struct stat st;

    s->log_from = stat(s->log, &st) == 0 ? (long)st.st_size : 0;
    s->port = 0;
    s->admin_port = 0;
    s->url[0] = '\0';
    s->pid = spawn(s);
    if (s->pid < 0) {
        s->pid = 0;
        return -1;
    }
    return 0;
}

/* 1 when the process has exited (s->pid is then 0). */
static int exited(struct tg_server *s)
{
    int st;
    if (s->pid > 0 && waitpid(s->pid, &st, WNOHANG) == s->pid)
        s->pid = 0;
    return s->pid == 0;
}

int tg_test_server_log_ports(struct tg_server *s, int timeout_ms)
{
    int64_t t0 = mono_ms();

    if (slow() && timeout_ms < 180000)
        timeout_ms = 180000;
    while (mono_ms() - t0 < timeout_ms) {
        if (log_ports(s) && s->port > 0) {
            set_url(s);
            return 0;
        }
        if (exited(s))
            break;
        tg_test_sleep_ms(20);
    }
    fprintf(stderr, "tg_test: no \"listen\" port in the server's log\n");
    tg_test_server_dump_log(s);
    return -1;
}

/* 1 when GET /healthz on s answers 200. */
static int healthy(const struct tg_server *s)
{
    struct tg_resp r;
    int ok = tg_test_http(s, "GET", "/healthz", NULL, NULL, 0, 0, &r) == 0 &&
             r.status == 200;
    tg_test_resp_free(&r);
    return ok;
}

int tg_test_server_start(struct tg_server *s)
{
    int64_t t0 = mono_ms(), limit = slow() ? 180000 : 15000, quiet = 0;
    int st;

    if (set_listen(s) != 0 || tg_test_server_spawn(s) != 0)
        return -1;
    while (mono_ms() - t0 < limit) {
        if (exited(s)) {
            fprintf(stderr, "tg_test: the server exited while starting\n");
            tg_test_server_dump_log(s);
            return -1;
        }
        if (log_ports(s) && s->port > 0) {
            set_url(s);
            if (healthy(s))
                return 0;
        } else if (!s->port) {
            /* No "start" line yet: either it is coming, or log_level hides
             * it. Trust /proc only after a second of silence from a server
             * already answering on its one listening socket. */
            int p = proc_listen_port(s->pid);
            struct tg_server probe = *s;
            probe.port = p;
            set_url(&probe);
            if (p > 0 && healthy(&probe)) {
                if (!quiet)
                    quiet = mono_ms();
                else if (mono_ms() - quiet > 1000) {
                    s->port = p;
                    set_url(s);
                    return 0;
                }
            }
        }
        tg_test_sleep_ms(50);
    }
    fprintf(stderr, "tg_test: server did not become healthy\n");
    tg_test_server_dump_log(s);
    if (s->pid > 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, &st, 0);
        s->pid = 0;
    }
    return -1;
}

int tg_test_server_signal(struct tg_server *s, int sig)
{
    return s->pid > 0 && kill(s->pid, sig) == 0 ? 0 : -1;
}

int tg_test_server_stop(struct tg_server *s)
{
    int64_t t0 = mono_ms(), limit = slow() ? 180000 : 20000;
    int st;

    if (s->pid <= 0)
        return -1;
    kill(s->pid, SIGTERM);
    while (mono_ms() - t0 < limit) {
        pid_t r = waitpid(s->pid, &st, WNOHANG);
        if (r == s->pid) {
            s->pid = 0;
            if (WIFEXITED(st))
                return WEXITSTATUS(st);
            fprintf(stderr, "tg_test: server died of signal %d\n",
                    WIFSIGNALED(st) ? WTERMSIG(st) : -1);
            return -1;
        }
        tg_test_sleep_ms(20);
    }
    fprintf(stderr, "tg_test: server did not stop on SIGTERM\n");
    kill(s->pid, SIGKILL);
    waitpid(s->pid, &st, 0);
    s->pid = 0;
    return -1;
}

char *tg_test_server_log_wait(const struct tg_server *s, size_t *offset,
                              const char *needle, int times, int timeout_ms)
{
    int64_t t0 = mono_ms();

    for (;;) {
        size_t len = 0;
        char *all = tg_test_read_file(s->log, &len), *out;
        int found, late = mono_ms() - t0 >= timeout_ms;

        if (!all)
            return NULL;
        if (*offset > len)
            *offset = len;
        {
            const char *p = all + *offset;
            found = 0;
            while ((p = strstr(p, needle)) != NULL) {
                found++;
                p += strlen(needle);
            }
            found = found >= (times > 0 ? times : 1);
        }
        if (found || late) {
            out = strdup(all + *offset);
            *offset = len;
            free(all);
            return out;
        }
        free(all);
        tg_test_sleep_ms(20);
    }
}

void tg_test_server_dump_log(const struct tg_server *s)
{
    char *text = tg_test_read_file(s->log, NULL);
    fprintf(stderr, "---- server log %s ----\n%s---- end ----\n", s->log,
            text ? text : "(none)\n");
    free(text);
}

void tg_test_server_cleanup(struct tg_server *s)
{
    if (s->pid > 0) {
        int st;
        kill(s->pid, SIGKILL);
        waitpid(s->pid, &st, 0);
        s->pid = 0;
    }
    if (s->dir[0] && !getenv("TG_TEST_KEEP")) {
        char *rm[] = {"rm", "-rf", s->dir, NULL};
        run_cmd(rm);
    }
    s->dir[0] = '\0';
}

int tg_test_server_finish(struct tg_server *s)
{
    /* a test that stopped the server itself leaves only the cleanup */
    int rc = s->pid > 0 ? tg_test_server_stop(s) : 0;

    if (rc != 0)
        tg_test_server_dump_log(s);
    tg_test_server_cleanup(s);
    return rc == 0 ? 0 : -1;
}

/* ---------------------------------------------------------------- HTTP */

struct buf {
    char *p;
    size_t n;
};

static int buf_add(struct buf *b, const void *d, size_t len)
{
    char *np = realloc(b->p, b->n + len + 1);
    if (!np)
        return -1;
    b->p = np;
    memcpy(b->p + b->n, d, len);
    b->n += len;
    b->p[b->n] = '\0';
    return 0;
}

static size_t on_body(char *d, size_t sz, size_t nm, void *ud)
{
    return buf_add(ud, d, sz * nm) == 0 ? sz * nm : 0;
}

static size_t on_header(char *d, size_t sz, size_t nm, void *ud)
{
    struct buf *b = ud;
    /* Keep only the final response's headers (not 100 Continue). */
    if (sz * nm >= 5 && memcmp(d, "HTTP/", 5) == 0)
        b->n = 0;
    return buf_add(b, d, sz * nm) == 0 ? sz * nm : 0;
}

struct upload {
    const char *p;
    size_t left;
};

static size_t on_read(char *d, size_t sz, size_t nm, void *ud)
{
    struct upload *u = ud;
    size_t n = sz * nm;
    /* Small pieces, so that the body really travels as many chunks. */
    if (n > 16384)
        n = 16384;
    if (n > u->left)
        n = u->left;
    memcpy(d, u->p, n);
    u->p += n;
    u->left -= n;
    return n;
}

int tg_test_http(const struct tg_server *s, const char *method,
                 const char *path, const char *const *headers, const char *body,
                 size_t body_len, int flags, struct tg_resp *out)
{
    static int inited;
    CURL *c;
    struct curl_slist *hl = NULL;
    struct buf hb = {0}, bb = {0};
    struct upload up = {body, body_len};
    char url[1024];
    CURLcode cc;
    long status = 0;
    size_t i;

    memset(out, 0, sizeof(*out));
    if (!inited) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        inited = 1;
    }
    c = curl_easy_init();
    if (!c)
        return -1;
    snprintf(url, sizeof(url), "%s%s", s->url, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, slow() ? 300L : 30L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &bb);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &hb);
    /* No 100-continue round trip: send the body at once, as ITSMs do. */
    hl = curl_slist_append(hl, "Expect:");
    for (i = 0; headers && headers[i]; i++)
        hl = curl_slist_append(hl, headers[i]);
    if (flags & TG_HTTP_CHUNKED) {
        hl = curl_slist_append(hl, "Transfer-Encoding: chunked");
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, &up);
    } else if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    if (strcmp(method, "GET") == 0 && !body && !(flags & TG_HTTP_CHUNKED))
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    else if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);

    cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    curl_slist_free_all(hl);
    out->status = status;
    out->headers = hb.p ? hb.p : strdup("");
    out->headers_len = hb.n;
    out->body = bb.p ? bb.p : strdup("");
    out->body_len = bb.n;
    /* A server may answer (413) before the whole body went out; the answer
     * still counts. */
    if (status == 0) {
        if (cc != CURLE_OK && !(s->url[0] && strstr(path, "/healthz")))
            fprintf(stderr, "tg_test: %s %s: %s\n", method, path,
                    curl_easy_strerror(cc));
        return -1;
    }
    return 0;
}

char *tg_test_resp_header(const struct tg_resp *r, const char *name)
{
    size_t nl = strlen(name);
    const char *p = r->headers;

    while (p && *p) {
        const char *eol = strstr(p, "\r\n");
        if (!eol)
            eol = p + strlen(p);
        if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0 &&
            p[nl] == ':') {
            const char *v = p + nl + 1, *e = eol;
            while (v < e && (*v == ' ' || *v == '\t'))
                v++;
            while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
                e--;
            return strndup(v, (size_t)(e - v));
        }
        p = *eol ? eol + 2 : eol;
    }
    return NULL;
}

void tg_test_resp_free(struct tg_resp *r)
{
    free(r->headers);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

int tg_test_raw(const struct tg_server *s, const char *req, size_t len,
                int timeout_ms, char **out, size_t *out_len)
{
    struct sockaddr_in a;
    struct buf b = {0};
    int fd, rc = -1;
    size_t off = 0;
    int64_t t0 = mono_ms();

    *out = NULL;
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)s->port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
        goto out;
    while (off < len) {
        ssize_t n = send(fd, req + off, len - off, MSG_NOSIGNAL);
        if (n <= 0)
            break; /* the server may answer and close before all is sent */
        off += (size_t)n;
    }
    for (;;) {
        struct pollfd pf = {fd, POLLIN, 0};
        char chunk[4096];
        int64_t left = timeout_ms - (mono_ms() - t0);
        ssize_t n;
        if (left <= 0 || poll(&pf, 1, (int)left) <= 0)
            break;
        n = recv(fd, chunk, sizeof(chunk), 0);
        if (n <= 0)
            break;
        if (buf_add(&b, chunk, (size_t)n) != 0)
            goto out;
    }
    rc = 0;
out:
    close(fd);
    if (rc == 0) {
        *out = b.p ? b.p : strdup("");
        if (out_len)
            *out_len = b.n;
    } else {
        free(b.p);
    }
    return rc;
}

/* ----------------------------------------------------- raw connections */

int tg_test_conn_open(int port, struct tg_conn *c)
{
    struct sockaddr_in a;
    struct timeval tv = {5, 0};

    memset(c, 0, sizeof(*c));
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0)
        return -1;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(c->fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        fprintf(stderr, "tg_test: connect to %d: %s\n", port, strerror(errno));
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    return 0;
}

int tg_test_conn_send(struct tg_conn *c, const void *p, size_t len)
{
    const char *q = p;

    while (c->fd >= 0 && len > 0) {
        ssize_t w = send(c->fd, q, len, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        q += w;
        len -= (size_t)w;
    }
    return c->fd >= 0 ? 0 : -1;
}

/* Reads what arrives within the time left until deadline (ms, monotonic)
 * into c->buf. 1 read, 0 end of stream, -1 timeout or error. */
static int conn_fill(struct tg_conn *c, int64_t deadline)
{
    struct pollfd p = {c->fd, POLLIN, 0};
    int64_t left = deadline - mono_ms();
    ssize_t r;
    int pr;

    if (left <= 0)
        return -1;
    pr = poll(&p, 1, (int)left);
    if (pr < 0 && errno == EINTR)
        return 1; /* nothing read; the caller looks again */
    if (pr <= 0)
        return -1;
    if (c->cap - c->n < 4096 + 1) {
        size_t ncap = c->cap * 2 + 8192;
        char *nb = realloc(c->buf, ncap);
        if (!nb)
            return -1;
        c->buf = nb;
        c->cap = ncap;
    }
    r = recv(c->fd, c->buf + c->n, c->cap - c->n - 1, 0);
    if (r < 0 && errno == EINTR)
        return 1;
    if (r < 0 && errno == ECONNRESET)
        return 0;
    if (r < 0)
        return -1;
    if (r == 0)
        return 0;
    c->n += (size_t)r;
    c->buf[c->n] = '\0';
    return 1;
}

static const char *find_bytes(const char *h, size_t hl, const char *n,
                              size_t nl)
{
    size_t i;
    for (i = 0; i + nl <= hl; i++)
        if (memcmp(h + i, n, nl) == 0)
            return h + i;
    return NULL;
}

int tg_test_conn_response(struct tg_conn *c, int timeout_ms,
                          struct tg_resp *out)
{
    int64_t deadline = mono_ms() + timeout_ms;
    const char *end;
    size_t head, total;
    char *cl;
    long long blen;

    memset(out, 0, sizeof(*out));
    if (c->fd < 0)
        return -1;
    while (!(end = c->buf ? find_bytes(c->buf, c->n, "\r\n\r\n", 4) : NULL))
        if (conn_fill(c, deadline) <= 0)
            return -1;
    head = (size_t)(end - c->buf) + 4;
    out->headers = strndup(c->buf, head);
    out->headers_len = head;
    if (!out->headers || head < 12 || memcmp(c->buf, "HTTP/1.", 7) != 0)
        goto bad;
    out->status = strtol(c->buf + 9, NULL, 10);
    cl = tg_test_resp_header(out, "Content-Length");
    blen = cl ? strtoll(cl, NULL, 10) : 0;
    free(cl);
    if (blen < 0)
        goto bad;
    total = head + (size_t)blen;
    while (c->n < total)
        if (conn_fill(c, deadline) <= 0)
            goto bad;
    out->body = strndup(c->buf + head, (size_t)blen);
    if (!out->body)
        goto bad;
    out->body_len = (size_t)blen;
    memmove(c->buf, c->buf + total, c->n - total);
    c->n -= total;
    return 0;
bad:
    tg_test_resp_free(out);
    return -1;
}

int tg_test_conn_closed(struct tg_conn *c, int timeout_ms)
{
    int64_t deadline = mono_ms() + timeout_ms;

    if (c->fd < 0)
        return 1;
    for (;;) {
        int r = conn_fill(c, deadline);
        if (r == 0)
            return 1;
        if (r < 0)
            return mono_ms() >= deadline ? 0 : -1;
        c->n = 0; /* dropped */
    }
}

void tg_test_conn_close(struct tg_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->buf);
    c->buf = NULL;
    c->n = c->cap = 0;
}

/* -------------------------------------------------------------- tokens */

char *tg_test_b64url(const void *data, size_t len)
{
    size_t cap = 4 * ((len + 2) / 3) + 1, i, n;
    char *out = malloc(cap);
    int w;

    if (!out)
        return NULL;
    w = EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    n = (size_t)w;
    for (i = 0; i < n; i++) {
        if (out[i] == '+')
            out[i] = '-';
        else if (out[i] == '/')
            out[i] = '_';
    }
    while (n > 0 && out[n - 1] == '=')
        n--;
    out[n] = '\0';
    return out;
}

static char *join3(const char *a, const char *b, const char *c)
{
    size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
    char *o = malloc(la + lb + lc + 3);
    if (!o)
        return NULL;
    memcpy(o, a, la);
    o[la] = '.';
    memcpy(o + la + 1, b, lb);
    o[la + 1 + lb] = '.';
    memcpy(o + la + lb + 2, c, lc);
    o[la + lb + lc + 2] = '\0';
    return o;
}

char *tg_test_jwt_raw(const char *header_json, const char *claims_json,
                      const char *sig_b64)
{
    char *h = tg_test_b64url(header_json, strlen(header_json));
    char *p = tg_test_b64url(claims_json, strlen(claims_json));
    char *t = h && p ? join3(h, p, sig_b64) : NULL;
    free(h);
    free(p);
    return t;
}

/* Signs input with an asymmetric key; ES256 signatures are turned from DER
 * into the R||S form of RFC 7518 section 3.4. */
static int sign_pkey(const char *alg, const void *key, size_t key_len,
                     const char *input, unsigned char **sig, size_t *sig_len)
{
    BIO *bio = BIO_new_mem_buf(key, (int)key_len);
    EVP_PKEY *pk = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char *der = NULL;
    size_t der_len = 0;
    int rc = -1;

    if (!pk || !md ||
        EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pk) != 1 ||
        EVP_DigestSign(md, NULL, &der_len, (const unsigned char *)input,
                       strlen(input)) != 1)
        goto out;
    der = malloc(der_len);
    if (!der || EVP_DigestSign(md, der, &der_len, (const unsigned char *)input,
                               strlen(input)) != 1)
        goto out;
    if (strcmp(alg, "ES256") == 0) {
        const unsigned char *q = der;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &q, (long)der_len);
        const BIGNUM *r, *s;
        if (!es)
            goto out;
        ECDSA_SIG_get0(es, &r, &s);
        *sig = calloc(1, 64);
        if (!*sig) {
            ECDSA_SIG_free(es);
            goto out;
        }
        BN_bn2binpad(r, *sig, 32);
        BN_bn2binpad(s, *sig + 32, 32);
        *sig_len = 64;
        ECDSA_SIG_free(es);
    } else {
        *sig = der;
        *sig_len = der_len;
        der = NULL;
    }
    rc = 0;
out:
    free(der);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pk);
    BIO_free(bio);
    return rc;
}

char *tg_test_jwt(const char *alg, const void *key, size_t key_len,
                  const char *claims_json)
{
    char header[64], *unsigned_tok, *input = NULL, *sig_b64 = NULL, *tok = NULL;
    unsigned char *sig = NULL, mac[32];
    unsigned int mac_len = 0;
    size_t sig_len = 0;

    snprintf(header, sizeof(header), "{\"alg\":\"%s\",\"typ\":\"JWT\"}", alg);
    unsigned_tok = tg_test_jwt_raw(header, claims_json, "");
    if (!unsigned_tok)
        return NULL;
    /* "h.p." less the final dot is the JWS signing input. */
    input = strndup(unsigned_tok, strlen(unsigned_tok) - 1);
    if (!input)
        goto out;
    if (strcmp(alg, "HS256") == 0) {
        if (!HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)input,
                  strlen(input), mac, &mac_len))
            goto out;
        sig_b64 = tg_test_b64url(mac, mac_len);
    } else {
        if (sign_pkey(alg, key, key_len, input, &sig, &sig_len) != 0)
            goto out;
        sig_b64 = tg_test_b64url(sig, sig_len);
    }
    if (!sig_b64)
        goto out;
    tok = malloc(strlen(input) + strlen(sig_b64) + 2);
    if (tok) {
        memcpy(tok, input, strlen(input));
        tok[strlen(input)] = '.';
        memcpy(tok + strlen(input) + 1, sig_b64, strlen(sig_b64) + 1);
    }
out:
    free(unsigned_tok);
    free(input);
    free(sig);
    free(sig_b64);
    return tok;
}

char *tg_test_hs256_token(const char *iss, const char *secret,
                          const char *jti)
{
    char claims[512];
    long now = (long)time(NULL);

    if (jti)
        snprintf(claims, sizeof(claims),
                 "{\"iss\":\"%s\",\"aud\":\"%s\",\"iat\":%ld,\"exp\":%ld,"
                 "\"jti\":\"%s\"}",
                 iss, TG_TEST_AUD, now, now + 3600, jti);
    else
        snprintf(claims, sizeof(claims),
                 "{\"iss\":\"%s\",\"aud\":\"%s\",\"iat\":%ld,\"exp\":%ld}",
                 iss, TG_TEST_AUD, now, now + 3600);
    return tg_test_jwt("HS256", secret, strlen(secret), claims);
}

char *tg_test_generic_token(const char *jti)
{
    return tg_test_hs256_token(TG_TEST_GENERIC_ISS, TG_TEST_GENERIC_SECRET,
                               jti);
}

char *tg_test_bearer_header(const char *token)
{
    size_t n = strlen(token) + sizeof("Authorization: Bearer ");
    char *h = malloc(n);
    if (h)
        snprintf(h, n, "Authorization: Bearer %s", token);
    return h;
}

void tg_test_hmac_sha256_hex(const void *key, size_t key_len, const void *data,
                             size_t len, char hex[65])
{
    unsigned char mac[32];
    unsigned int n = 0, i;

    hex[0] = '\0';
    if (!HMAC(EVP_sha256(), key, (int)key_len, data, len, mac, &n))
        return;
    for (i = 0; i < n && i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", mac[i]);
}

static char *bio_text(BIO *b)
{
    char *p = NULL;
    long n = BIO_get_mem_data(b, &p);
    return n > 0 ? strndup(p, (size_t)n) : NULL;
}

int tg_test_keypair(const char *kind, char **priv_pem, char **pub_pem)
{
    EVP_PKEY *pk = NULL;
    BIO *a = BIO_new(BIO_s_mem()), *b = BIO_new(BIO_s_mem());
    int rc = -1;

    *priv_pem = *pub_pem = NULL;
    if (strcmp(kind, "EC") == 0)
        pk = EVP_EC_gen("P-256");
    else if (strcmp(kind, "RSA") == 0)
        pk = EVP_RSA_gen(2048);
    if (!pk || !a || !b ||
        PEM_write_bio_PrivateKey(a, pk, NULL, NULL, 0, NULL, NULL) != 1 ||
        PEM_write_bio_PUBKEY(b, pk) != 1)
        goto out;
    *priv_pem = bio_text(a);
    *pub_pem = bio_text(b);
    if (*priv_pem && *pub_pem)
        rc = 0;
out:
    EVP_PKEY_free(pk);
    BIO_free(a);
    BIO_free(b);
    return rc;
}

/* -------------------------------------------------- directories by hand */

char **tg_test_strv(const char *const *v, size_t n)
{
    char **out = calloc(n ? n : 1, sizeof *out);
    for (size_t i = 0; out && i < n; i++)
        out[i] = strdup(v[i]);
    return out;
}

void tg_test_freev(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

void tg_test_person(struct tg_directory *d, const char *id, const char *name,
                    const char *const *aliases, size_t n)
{
    struct tg_person *p;
    d->people = realloc(d->people, (d->n_people + 1) * sizeof *d->people);
    p = &d->people[d->n_people++];
    memset(p, 0, sizeof *p);
    p->id = strdup(id);
    p->name = strdup(name);
    p->aliases = tg_test_strv(aliases, n);
    p->n_aliases = n;
}

double tg_test_metric(const struct tg_server *s, const char *series)
{
    struct tg_resp r;
    double v = -1;
    const char *p;
    size_t n = strlen(series);

    if (tg_test_http(s, "GET", "/metrics", NULL, NULL, 0, 0, &r) != 0)
        return -1;
    for (p = r.status == 200 ? r.body : NULL; p && (p = strstr(p, series));
         p += n)
        if ((p == r.body || p[-1] == '\n') && p[n] == ' ') {
            v = strtod(p + n + 1, NULL);
            break;
        }
    tg_test_resp_free(&r);
    return v;
}

int tg_test_metric_wait(const struct tg_server *s, const char *series,
                        double at_least, int timeout_ms)
{
    int64_t end = mono_ms() + timeout_ms;

    do {
        if (tg_test_metric(s, series) >= at_least)
            return 0;
        tg_test_sleep_ms(20);
    } while (mono_ms() < end);
    return -1;
}
