/* check.c - `ticketgate check`: evaluates canonical tickets offline. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../validators/errors.h"
#include "../validators/evaluate.h"
#include "../validators/timeparse.h"
#include "canonical.h"
#include "cli.h"
#include "config.h"
#include "decision.h"
#include "jarena.h"

/* One check run: the configuration in force and where output goes. */
struct run {
    const struct tg_config *cfg;
    int64_t now;
    uint64_t seq;   /* decision ids count up from 1 in input order */
    int any_deny;
    int any_error;
    FILE *out;
    char *buf; /* serialisation buffer, reused across tickets */
    size_t cap;
    struct tg_jarena arena; /* the JSON values of the input being read */
    char *arena_buf;
};

/* The parsed input and one ticket's decision at a time: a ticket and its
 * decision take a few KB; a large array spills over to malloc. */
#define CHECK_ARENA (1024 * 1024)

static void usage(void)
{
    fputs("usage: ticketgate check -c FILE [--now RFC3339] [FILE...|-]\n",
          stderr);
}

/* Reads all of f; *len excludes the NUL added for convenience. */
static char *slurp(FILE *f, size_t *len)
{
    size_t cap = 65536, n = 0, r;
    char *buf = malloc(cap), *nb;
    if (!buf)
        return NULL;
    while ((r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (cap - n - 1 == 0) {
            if (cap > ((size_t)1 << 34) / 2)
                goto fail; /* 16 GiB is past any sane ticket folder */
            nb = realloc(buf, cap * 2);
            if (!nb)
                goto fail;
            buf = nb;
            cap *= 2;
        }
    }
    if (ferror(f))
        goto fail;
    buf[n] = '\0';
    *len = n;
    return buf;
fail:
    free(buf);
    return NULL;
}

/* The 3 id bytes of a decision: FNV-1a of the ticket id and its position,
 * so a re-run of the same folder gives the same ids (check has no store to
 * number them) at no cost beside the evaluation. */
static void id_bytes(const char *id, uint64_t seq, unsigned char out[3])
{
    uint64_t h = 1469598103934665603ULL ^ seq;
    for (const char *p = id; *p; p++) {
        h ^= (unsigned char)*p;
        h *= 1099511628211ULL;
    }
    out[0] = (unsigned char)(h >> 16);
    out[1] = (unsigned char)(h >> 8);
    out[2] = (unsigned char)h;
}

/* Appends doc and a newline to out through r->buf, one fwrite per line
 * (jansson's json_dumpf writes token by token). */
static int emit(struct run *r, const json_t *doc)
{
    size_t n = json_dumpb(doc, r->buf, r->cap, JSON_COMPACT);
    if (n == 0)
        return TG_ENOMEM;
    if (n + 1 > r->cap) {
        char *nb = realloc(r->buf, n + 1024);
        if (!nb)
            return TG_ENOMEM;
        r->buf = nb;
        r->cap = n + 1024;
        n = json_dumpb(doc, r->buf, r->cap, JSON_COMPACT);
    }
    r->buf[n] = '\n';
    return fwrite(r->buf, 1, n + 1, r->out) == n + 1 ? TG_OK : TG_EIO;
}

static void print_error(struct run *r, const char *code, const char *msg)
{
    json_t *e = json_pack("{s:s,s:s}", "error", code, "message", msg);
    if (e) {
        emit(r, e);
        json_decref(e);
    }
    r->any_error = 1;
}

/* Evaluates one ticket value and prints its decision line. */
static int check_one(struct run *r, const char *file, const json_t *v)
{
    struct tg_ticket t;
    struct tg_result res;
    struct tg_context ctx = {r->now, -1};
    char err[256], id[32];
    unsigned char rnd[3];
    json_t *doc = NULL;
    int rc;

    tg_ticket_init(&t);
    tg_result_init(&res);
    r->seq++;
    rc = tg_canonical_from_json(v, &t, err, sizeof(err));
    if (rc == TG_EINVAL) {
        fprintf(stderr, "%s: ticket %llu: %s\n", file,
                (unsigned long long)r->seq, err);
        print_error(r, "unmappable", err);
        rc = TG_OK;
        goto out;
    }
    if (rc != TG_OK)
        goto out;
    if ((rc = tg_evaluate(&t, &r->cfg->policy, &r->cfg->directory, &ctx,
                          &res)) != TG_OK)
        goto out;
    id_bytes(t.id, r->seq, rnd);
    tg_decision_id_format(id, sizeof(id), r->seq, rnd);
    doc = tg_decision_build(&t, NULL, &res, id, r->now, r->cfg->digest);
    if (!doc) {
        rc = TG_ENOMEM;
        goto out;
    }
    rc = emit(r, doc);
    r->any_deny |= res.verdict == TG_DENY;
out:
    json_decref(doc);
    tg_result_cleanup(&res);
    tg_ticket_cleanup(&t);
    return rc;
}

/* An input holds one object, an array of them, or JSON Lines (any run of
 * whitespace-separated values): values are read one after another. */
static int check_input(struct run *r, const char *file, const char *buf,
                       size_t len)
{
    size_t off = 0;
    while (off < len) {
        json_error_t jerr;
        json_t *v;
        size_t i, mark;
        json_t *el;
        int rc = TG_OK;
        while (off < len && (buf[off] == ' ' || buf[off] == '\n' ||
                             buf[off] == '\r' || buf[off] == '\t'))
            off++;
        if (off >= len)
            break;
        tg_jarena_begin(&r->arena, r->arena_buf, CHECK_ARENA);
        v = json_loadb(buf + off, len - off, JSON_DISABLE_EOF_CHECK, &jerr);
        if (!v) {
            tg_jarena_end(&r->arena);
            fprintf(stderr, "%s: invalid JSON near byte %zu: %s\n", file,
                    off + (size_t)jerr.position, jerr.text);
            return TG_EINVAL;
        }
        off += (size_t)jerr.position;
        /* Each ticket's decision is released before the next one, so its
         * space is reused. */
        mark = tg_jarena_mark(&r->arena);
        if (json_is_array(v)) {
            json_array_foreach(v, i, el) {
                rc = check_one(r, file, el);
                tg_jarena_rewind(&r->arena, mark);
                if (rc != TG_OK)
                    break;
            }
        } else {
            rc = check_one(r, file, v);
        }
        json_decref(v);
        tg_jarena_end(&r->arena);
        if (rc != TG_OK)
            return rc;
    }
    return TG_OK;
}

static int check_file(struct run *r, const char *path)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    const char *name = f == stdin ? "<stdin>" : path;
    char *buf;
    size_t len;
    int rc;
    if (!f) {
        fprintf(stderr, "%s: cannot open: %s\n", path, strerror(errno));
        return TG_EIO;
    }
    buf = slurp(f, &len);
    if (f != stdin)
        fclose(f);
    if (!buf) {
        fprintf(stderr, "%s: cannot read\n", name);
        return TG_EIO;
    }
    rc = check_input(r, name, buf, len);
    free(buf);
    return rc;
}

int tg_cmd_check(int argc, char **argv)
{
    const char *cfgpath = NULL, *now_s = NULL;
    const char **inputs = calloc((size_t)argc + 1, sizeof(*inputs));
    size_t n_inputs = 0;
    struct tg_config *cfg = NULL;
    struct tg_diag diag;
    struct run r;
    int rc, code = 2;

    memset(&r, 0, sizeof(r));
    tg_diag_init(&diag);
    if (!inputs)
        goto out;
    for (int i = 1; i < argc; i++) {
        if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0)
            && i + 1 < argc)
            cfgpath = argv[++i];
        else if (strcmp(argv[i], "--now") == 0 && i + 1 < argc)
            now_s = argv[++i];
        else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "check: unknown option %s\n", argv[i]);
            usage();
            goto out;
        } else
            inputs[n_inputs++] = argv[i];
    }
    if (!cfgpath) {
        usage();
        goto out;
    }
    r.out = stdout;
    if (!(r.arena_buf = malloc(CHECK_ARENA)))
        goto out;
    if (now_s) {
        if (tg_time_parse(now_s, strlen(now_s), &r.now) != TG_OK) {
            fprintf(stderr, "check: --now %s is not an RFC 3339 time; write "
                            "it as 2026-12-01T00:00:00Z\n", now_s);
            goto out;
        }
    } else {
        r.now = (int64_t)time(NULL);
    }
    rc = tg_config_load(cfgpath, &cfg, &diag);
    if (rc != TG_OK) {
        for (size_t i = 0; i < diag.n; i++)
            fprintf(stderr, "%s\n", diag.msgs[i]);
        if (diag.n == 0)
            fprintf(stderr, "%s: cannot load the configuration\n", cfgpath);
        goto out;
    }
    r.cfg = cfg;
    if (n_inputs == 0)
        inputs[n_inputs++] = "-";
    for (size_t i = 0; i < n_inputs; i++) {
        if ((rc = check_file(&r, inputs[i])) != TG_OK) {
            r.any_error = 1;
            if (rc == TG_ENOMEM)
                break;
        }
    }
    if (fflush(stdout) != 0)
        r.any_error = 1;
    code = r.any_error ? 2 : r.any_deny ? 1 : 0;
out:
    free(r.buf);
    free(r.arena_buf);
    tg_config_free(cfg);
    tg_diag_cleanup(&diag);
    free(inputs);
    return code;
}
