/* render.c - a report as JSON, as text for a terminal, or as one HTML file. */
#include "server/outcomes/outcomes.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "validators/errors.h"

/* ------------------------------------------------------------- reading */

static json_t *fig(const json_t *rep, const char *path)
{
    /* "a.b": one level of nesting is all the figures have. */
    char head[64];
    const char *dot = strchr(path, '.');
    const json_t *f = json_object_get(rep, "figures");

    if (!dot)
        return json_object_get(f, path);
    snprintf(head, sizeof head, "%.*s", (int)(dot - path), path);
    return json_object_get(json_object_get(f, head), dot + 1);
}

static const json_t *previous(const json_t *rep)
{
    return json_object_get(rep, "previous");
}

static double num(const json_t *v)
{
    return json_is_number(v) ? json_number_value(v) : 0.0;
}

static const char *str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* "3 h 20 min", "2.5 days", "40 s" for seconds v (may be negative). */
static void duration(double v, char *buf, size_t cap)
{
    double a = fabs(v);
    const char *sign = v < 0 ? "-" : "";

    if (a < 120)
        snprintf(buf, cap, "%s%.0f s", sign, a);
    else if (a < 7200)
        snprintf(buf, cap, "%s%.0f min", sign, a / 60);
    else if (a < 2 * 86400)
        snprintf(buf, cap, "%s%.1f h", sign, a / 3600);
    else
        snprintf(buf, cap, "%s%.1f days", sign, a / 86400);
}

/* The headline figures: where each lives, how it reads, which way is
 * worse. */
static const struct headline {
    const char *key, *label;
    enum { COUNT, SHARE, SECONDS } kind;
    int higher_is_worse;
} headlines[] = {
    {"unticketed_grants", "Unticketed grants", COUNT, 1},
    {"wider_grants", "Grants wider than ticket", COUNT, 1},
    {"lingering", "Lingering access", COUNT, 1},
    {"revocation_lag.median_seconds", "Median revocation lag", SECONDS, 1},
    {"breakglass.unreviewed", "Break-glass not reviewed", COUNT, 1},
    {"approvals.rubber_stamp_share", "Rubber-stamp approvals", SHARE, 1},
    {"approvals.top_share", "Top approver's share", SHARE, 1},
    {"copy_forward_rate", "Copy-forward rate", SHARE, 1},
    {"exception_rate", "Exception rate", SHARE, 1},
    {"deny_rate", "Deny rate", SHARE, 0},
};
#define N_HEADLINES (sizeof headlines / sizeof headlines[0])

static void value_text(const struct headline *h, const json_t *v, char *buf,
                       size_t cap)
{
    if (!json_is_number(v))
        snprintf(buf, cap, "-");
    else if (h->kind == SHARE)
        snprintf(buf, cap, "%.1f%%", num(v) * 100);
    else if (h->kind == SECONDS)
        duration(num(v), buf, cap);
    else
        snprintf(buf, cap, "%.0f", num(v));
}

/* The trend against the previous period: "up", "down", "same" or "none". */
static const char *trend(const struct headline *h, const json_t *rep,
                         char *buf, size_t cap)
{
    const json_t *p = previous(rep);
    const json_t *now = fig(rep, h->key), *before;
    double d;

    if (!p) {
        snprintf(buf, cap, "no previous period");
        return "none";
    }
    before = fig(p, h->key);
    if (!json_is_number(now) || !json_is_number(before)) {
        snprintf(buf, cap, "previous: -");
        return "none";
    }
    value_text(h, before, buf, cap);
    d = num(now) - num(before);
    {
        char tmp[64];
        snprintf(tmp, sizeof tmp, "%s", buf);
        snprintf(buf, cap, "previous: %s", tmp);
    }
    if (fabs(d) < 1e-9)
        return "same";
    return d > 0 ? "up" : "down";
}

/* ---------------------------------------------------------------- JSON */

int tg_oc_render_json(const json_t *report, FILE *f)
{
    if (json_dumpf(report, f, JSON_INDENT(2)) != 0 || fputc('\n', f) == EOF)
        return TG_EIO;
    return ferror(f) ? TG_EIO : 0;
}

/* ---------------------------------------------------------------- text */

/* Terminal text: control characters from tickets shown as '?'. */
static void tput(FILE *f, const char *s, int width)
{
    int n = 0;

    for (; *s; s++, n++)
        fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, f);
    for (; n < width; n++)
        fputc(' ', f);
}

static void text_rows(FILE *f, const json_t *rep, const char *list,
                      const char *const *cols, size_t ncols, size_t max)
{
    const json_t *a = json_object_get(rep, list), *row;
    size_t i;

    if (!json_array_size(a)) {
        fputs("  (none)\n", f);
        return;
    }
    json_array_foreach(a, i, row) {
        if (i == max) {
            fprintf(f, "  ... %zu more (--format json lists them)\n",
                    json_array_size(a) - max);
            break;
        }
        fputs(" ", f);
        for (size_t c = 0; c < ncols; c++) {
            const json_t *v = json_object_get(row, cols[c]);
            char buf[64];
            fputc(' ', f);
            if (json_is_string(v)) {
                tput(f, json_string_value(v), 0);
            } else if (json_is_real(v)) {
                snprintf(buf, sizeof buf, "%.1f", json_real_value(v));
                fputs(buf, f);
            } else if (json_is_integer(v)) {
                fprintf(f, "%lld", (long long)json_integer_value(v));
            } else {
                fputc('-', f);
            }
        }
        fputc('\n', f);
    }
}

int tg_oc_render_text(const json_t *rep, FILE *f)
{
    const json_t *per = json_object_get(rep, "period"), *b, *row;
    static const char *const ling[] = {"days_overdue", "identity", "system",
                                       "entitlement", "ticket", "expires_at"};
    static const char *const unt[] = {"time", "identity", "system",
                                      "entitlement", "reason", "ticket"};
    size_t i;
    double maxc = 0;

    fprintf(f, "ticketgate access outcomes %s .. %s (as of %s)\n\n",
            str(per, "since"), str(per, "until"), str(per, "as_of"));
    for (i = 0; i < N_HEADLINES; i++) {
        char v[64], t[96];
        const char *dir = trend(&headlines[i], rep, t, sizeof t);
        value_text(&headlines[i], fig(rep, headlines[i].key), v, sizeof v);
        fprintf(f, "  %-28s %12s   %s%s\n", headlines[i].label, v, t,
                strcmp(dir, "up") == 0     ? " (up)"
                : strcmp(dir, "down") == 0 ? " (down)"
                                           : "");
    }
    b = fig(rep, "revocation_lag.buckets");
    fputs("\nRevocation lag\n", f);
    json_array_foreach(b, i, row) {
        double c = num(json_object_get(row, "count"));
        if (c > maxc)
            maxc = c;
    }
    json_array_foreach(b, i, row) {
        double c = num(json_object_get(row, "count"));
        int w = maxc > 0 ? (int)(c / maxc * 40 + 0.5) : 0;
        fprintf(f, "  %-14s %8.0f ", str(row, "label"), c);
        for (int k = 0; k < w; k++)
            fputc('#', f);
        fputc('\n', f);
    }
    fputs("\nLingering access (oldest first)\n", f);
    text_rows(f, rep, "lingering", ling, 6, 20);
    fputs("\nUnticketed grants\n", f);
    text_rows(f, rep, "unticketed", unt, 6, 20);
    fputs("\nGrants wider than their ticket\n", f);
    text_rows(f, rep, "wider", unt, 6, 20);
    fputs("\nApprovers (approvals, per day, median s, rubber-stamp share, "
          "denied share)\n",
          f);
    {
        static const char *const ap[] = {"approver", "approvals", "per_day",
                                         "median_seconds",
                                         "rubber_stamp_share", "denied_share"};
        text_rows(f, rep, "approvers", ap, 6, 20);
    }
    fputs("\nDenies by reason\n", f);
    json_array_foreach(json_object_get(json_object_get(rep, "denies"), "codes"),
                       i, row) {
        fputs("  ", f);
        tput(f, str(row, "code"), 36);
        fprintf(f, " %lld\n",
                (long long)json_integer_value(json_object_get(row, "count")));
    }
    return ferror(f) ? TG_EIO : 0;
}

/* ---------------------------------------------------------------- HTML */

/* Every value from a ticket or event goes through here. */
static void esc(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        case '\'':
            fputs("&#39;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

static void cell(FILE *f, const json_t *v)
{
    fputs("<td>", f);
    if (json_is_string(v))
        esc(f, json_string_value(v));
    else if (json_is_real(v))
        fprintf(f, "%.1f", json_real_value(v));
    else if (json_is_integer(v))
        fprintf(f, "%lld", (long long)json_integer_value(v));
    else
        fputs("&ndash;", f);
    fputs("</td>", f);
}

static void row_cells(FILE *f, const json_t *row, const char *const *cols,
                      size_t ncols)
{
    fputs("<tr>", f);
    for (size_t c = 0; c < ncols; c++) {
        const json_t *v = json_object_get(row, cols[c]);
        if (strstr(cols[c], "share") && json_is_number(v)) {
            fprintf(f, "<td>%.1f%%</td>", num(v) * 100);
        } else if (strcmp(cols[c], "median_seconds") == 0 &&
                   json_is_number(v)) {
            char d[32];
            duration(num(v), d, sizeof d);
            fprintf(f, "<td>%s</td>", d);
        } else {
            cell(f, v);
        }
    }
    fputs("</tr>\n", f);
}

static void table_head(FILE *f, const char *id, const char *const *heads,
                       size_t ncols)
{
    if (id[0])
        fprintf(f, "<table id=\"%s\"><thead><tr>", id);
    else
        fputs("<table><thead><tr>", f);
    for (size_t i = 0; i < ncols; i++)
        fprintf(f, "<th>%s</th>", heads[i]);
    fputs("</tr></thead><tbody>\n", f);
}

/* Rows shown before the rest folds into a <details> (no script). */
#define SHOWN_ROWS 15

/* The rows of list rep[list]; total is how many there are in all (the
 * report lists at most --limit of them). */
static void table(FILE *f, const json_t *rep, const char *list,
                  const char *id, const char *const *cols,
                  const char *const *heads, size_t ncols, const char *empty,
                  double total)
{
    const json_t *a = json_object_get(rep, list), *row;
    size_t i, n = json_array_size(a);

    if (!n) {
        fprintf(f, "<p class=\"empty\" id=\"%s\">%s</p>\n", id, empty);
        return;
    }
    table_head(f, id, heads, ncols);
    json_array_foreach(a, i, row) {
        if (i == SHOWN_ROWS) {
            fprintf(f, "</tbody></table>\n<details><summary>%zu more",
                    n - SHOWN_ROWS);
            if (total > (double)n)
                fprintf(f, " (%.0f in all; ticketgate report --limit N "
                           "lists more)", total);
            fputs("</summary>\n", f);
            table_head(f, "", heads, ncols);
        }
        row_cells(f, row, cols, ncols);
    }
    fputs("</tbody></table>\n", f);
    if (n > SHOWN_ROWS)
        fputs("</details>\n", f);
}

static const char *const palette[] = {"#c0392b", "#2980b9", "#8e44ad",
                                      "#d35400", "#16a085", "#7f8c8d",
                                      "#2c3e50", "#b7950b"};
#define N_PALETTE (sizeof palette / sizeof palette[0])

static void lag_chart(FILE *f, const json_t *rep)
{
    const json_t *b = fig(rep, "revocation_lag.buckets"), *row;
    const double W = 640, H = 220, top = 20, bottom = 40, left = 10;
    double maxc = 0, bw;
    size_t i, n = json_array_size(b);

    json_array_foreach(b, i, row) {
        double c = num(json_object_get(row, "count"));
        if (c > maxc)
            maxc = c;
    }
    bw = n ? (W - 2 * left) / (double)n : W;
    fprintf(f,
            "<svg id=\"chart-lag\" data-chart=\"revocation_lag\" "
            "xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %.0f %.0f\" "
            "width=\"%.0f\" height=\"%.0f\" role=\"img\" "
            "aria-label=\"Revocation lag distribution\">\n",
            W, H, W, H);
    json_array_foreach(b, i, row) {
        double c = num(json_object_get(row, "count"));
        double h = maxc > 0 ? c / maxc * (H - top - bottom) : 0;
        double x = left + (double)i * bw + 6, y = H - bottom - h;
        fprintf(f,
                "<rect class=\"bar\" data-value=\"%.0f\" x=\"%.1f\" "
                "y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\">"
                "<title>",
                c, x, y, bw - 12, h, i == 0 ? "#27ae60" : "#c0392b");
        esc(f, str(row, "label"));
        fprintf(f, ": %.0f</title></rect>\n", c);
        fprintf(f,
                "<text x=\"%.1f\" y=\"%.1f\" class=\"count\">%.0f</text>\n",
                x + (bw - 12) / 2, y - 4, c);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" class=\"axis\">",
                x + (bw - 12) / 2, H - bottom + 16);
        esc(f, str(row, "label"));
        fputs("</text>\n", f);
    }
    fprintf(f,
            "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" "
            "stroke=\"#999\"/>\n</svg>\n",
            left, H - bottom, W - left, H - bottom);
}

/* The largest total of a bucket's counts (0 when none). */
static double tallest(const json_t *buckets)
{
    const json_t *row;
    double maxt = 0;
    size_t i;

    json_array_foreach(buckets, i, row) {
        double t = 0;
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)json_object_get(row, "counts"), key, v)
            t += num(v);
        (void)key;
        if (t > maxt)
            maxt = t;
    }
    return maxt;
}

/* The chart's legend: one colour and count per reason code. */
static void denies_legend(FILE *f, const json_t *codes)
{
    const json_t *c;
    size_t k;

    fputs("<ul class=\"legend\">", f);
    json_array_foreach(codes, k, c) {
        fprintf(f, "<li><span style=\"background:%s\"></span>",
                palette[k % N_PALETTE]);
        esc(f, str(c, "code"));
        fprintf(f, " (%lld)</li>",
                (long long)json_integer_value(json_object_get(c, "count")));
    }
    fputs("</ul>\n", f);
}

/* The stacked bar chart of denies by reason code per bucket, and its
 * legend. */
static void denies_chart(FILE *f, const json_t *rep)
{
    const json_t *d = json_object_get(rep, "denies");
    const json_t *codes = json_object_get(d, "codes"),
                 *buckets = json_object_get(d, "buckets"), *row, *c;
    const double W = 760, H = 260, top = 18, bottom = 44, left = 40;
    size_t nb = json_array_size(buckets), nc = json_array_size(codes), i, k;
    double maxt = 0, bw;

    maxt = tallest(buckets);
    bw = nb ? (W - 2 * left) / (double)nb : W;
    fprintf(f,
            "<svg id=\"chart-denies\" data-chart=\"denies\" "
            "xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %.0f %.0f\" "
            "width=\"%.0f\" height=\"%.0f\" role=\"img\" "
            "aria-label=\"Denies by reason over time\">\n",
            W, H, W, H);
    json_array_foreach(buckets, i, row) {
        const json_t *counts = json_object_get(row, "counts");
        double y = H - bottom, x = left + (double)i * bw;
        json_array_foreach(codes, k, c) {
            double v = num(json_object_get(counts, str(c, "code")));
            double h = maxt > 0 ? v / maxt * (H - top - bottom) : 0;
            if (v <= 0)
                continue;
            y -= h;
            fprintf(f,
                    "<rect class=\"bar\" data-value=\"%.0f\" x=\"%.1f\" "
                    "y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                    "fill=\"%s\"><title>",
                    v, x + 1, y, bw > 3 ? bw - 2 : bw, h,
                    palette[k % N_PALETTE]);
            esc(f, str(row, "start"));
            fputs(" ", f);
            esc(f, str(c, "code"));
            fprintf(f, ": %.0f</title></rect>\n", v);
        }
    }
    /* Up to six dates under the bars, and the tallest bar's height. */
    for (i = 0; nb && i < 6; i++) {
        size_t at = nb == 1 ? 0 : i * (nb - 1) / 5;
        char lab[32];
        snprintf(lab, sizeof lab, "%s",
                 str(json_array_get(buckets, at), "start"));
        /* A day or more per bar: the date says it. */
        if (json_integer_value(json_object_get(d, "bucket_seconds")) >= 86400)
            lab[10 < sizeof lab ? 10 : 0] = '\0';
        fprintf(f, "<text x=\"%.1f\" y=\"%.0f\" class=\"axis\">",
                left + ((double)at + 0.5) * bw, H - bottom + 16);
        esc(f, lab);
        fputs("</text>\n", f);
        if (nb < 6 && at == nb - 1)
            break;
    }
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" class=\"axis-left\">%.0f "
               "per %s at most</text>\n",
            left, top - 2, maxt,
            json_integer_value(json_object_get(d, "bucket_seconds")) >= 604800
                ? "bar"
            : json_integer_value(json_object_get(d, "bucket_seconds")) >= 86400
                ? "day"
                : "hour");
    fprintf(f,
            "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" "
            "stroke=\"#999\"/>\n</svg>\n",
            left, H - bottom, W - left, H - bottom);
    denies_legend(f, codes);
    (void)nc;
}

static const char css[] =
    "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;"
    "margin:0;color:#1d2733;background:#f5f6f8}"
    "header{background:#1d2733;color:#fff;padding:18px 28px}"
    "header h1{margin:0 0 4px;font-size:22px}header p{margin:0;opacity:.8}"
    "main{padding:18px 28px;max-width:1200px}"
    "section{background:#fff;border-radius:8px;padding:14px 18px;"
    "margin:0 0 18px;box-shadow:0 1px 2px rgba(0,0,0,.08)}"
    "h2{font-size:16px;margin:0 0 10px}"
    ".cards{display:grid;grid-template-columns:repeat(auto-fill,"
    "minmax(200px,1fr));gap:12px;background:none;box-shadow:none;padding:0}"
    ".card{background:#fff;border-radius:8px;padding:12px 14px;"
    "box-shadow:0 1px 2px rgba(0,0,0,.08)}"
    ".card .label{font-size:12px;color:#5b6776;text-transform:uppercase;"
    "letter-spacing:.03em}.card .value{font-size:26px;font-weight:600}"
    ".card .trend{font-size:12px;color:#5b6776}"
    ".worse .trend b{color:#c0392b}.better .trend b{color:#27ae60}"
    "table{border-collapse:collapse;width:100%;font-size:13px}"
    "th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #e3e6ea}"
    "th{color:#5b6776;font-weight:600}"
    "svg text{font-size:11px;fill:#5b6776}svg text.count{text-anchor:middle;"
    "fill:#1d2733}svg text.axis{text-anchor:middle}"
    "svg text.axis-left{text-anchor:start}"
    ".legend{list-style:none;padding:0;margin:8px 0 0;display:flex;"
    "flex-wrap:wrap;gap:6px 16px;font-size:12px}"
    ".legend span{display:inline-block;width:10px;height:10px;"
    "margin-right:5px;border-radius:2px}.empty{color:#5b6776}"
    "summary{cursor:pointer;color:#2980b9;margin:8px 0}"
    "footer{padding:0 28px 24px;color:#5b6776;font-size:12px}";

/* Writes the document head, the title and the period header line. */
static void html_head(FILE *f, const json_t *rep)
{
    const json_t *per = json_object_get(rep, "period");
    const json_t *st = json_object_get(rep, "store");

    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
          "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src "
          "'none'; style-src 'unsafe-inline'\">\n"
          "<meta name=\"viewport\" content=\"width=device-width\">\n<title>"
          "ticketgate access outcomes ",
          f);
    esc(f, str(per, "since"));
    fputs(" to ", f);
    esc(f, str(per, "until"));
    fprintf(f, "</title>\n<style>%s</style></head><body>\n", css);
    fputs("<header><h1>Access outcomes</h1><p>", f);
    esc(f, str(per, "since"));
    fputs(" &ndash; ", f);
    esc(f, str(per, "until"));
    fputs(" &middot; as of ", f);
    esc(f, str(per, "as_of"));
    fprintf(f,
            " &middot; trend against the previous period of the same length "
            "&middot; store: %lld decisions, %lld events</p></header>\n<main>\n",
            (long long)json_integer_value(json_object_get(st, "decisions")),
            (long long)json_integer_value(json_object_get(st, "events")));
}

/* Writes the headline cards, each with its trend against the last period. */
static void html_headlines(FILE *f, const json_t *rep)
{
    size_t i;

    fputs("<section class=\"cards\" id=\"headline\">\n", f);
    for (i = 0; i < N_HEADLINES; i++) {
        const struct headline *h = &headlines[i];
        char v[64], t[96];
        const char *dir = trend(h, rep, t, sizeof t);
        const char *cls = strcmp(dir, "up") == 0
                              ? (h->higher_is_worse ? "worse" : "")
                          : strcmp(dir, "down") == 0
                              ? (h->higher_is_worse ? "better" : "")
                              : "";
        value_text(h, fig(rep, h->key), v, sizeof v);
        fprintf(f,
                "<div class=\"card %s\" data-figure=\"%s\"><div "
                "class=\"label\">%s</div><div class=\"value\">",
                cls, h->key, h->label);
        esc(f, v);
        fprintf(f, "</div><div class=\"trend\"><b>%s</b> ",
                strcmp(dir, "up") == 0     ? "&#9650;"
                : strcmp(dir, "down") == 0 ? "&#9660;"
                : strcmp(dir, "same") == 0 ? "="
                                           : "");
        esc(f, t);
        fputs("</div></div>\n", f);
    }
    fputs("</section>\n", f);
}

/* Writes the revocation lag section: its figures and its chart. */
static void html_lag(FILE *f, const json_t *rep)
{
    const json_t *lag = fig(rep, "revocation_lag");
    char a[32], b[32], c[32];

    duration(num(json_object_get(lag, "median_seconds")), a, sizeof a);
    duration(num(json_object_get(lag, "p90_seconds")), b, sizeof b);
    duration(num(json_object_get(lag, "max_seconds")), c, sizeof c);
    fprintf(f,
            "<section><h2>Revocation lag (revoke time minus the ticket's "
            "expires_at)</h2><p>%lld revokes &middot; median %s &middot; "
            "90th percentile %s &middot; longest %s</p>\n",
            (long long)json_integer_value(json_object_get(lag, "count")), a, b,
            c);
    lag_chart(f, rep);
    fputs("</section>\n", f);
}

/* Writes the section of list (its table's id too) titled title and
 * counted by figure. */
static void counted(FILE *f, const json_t *rep, const char *title,
                    const char *figure, const char *list,
                    const char *const *cols, const char *const *heads,
                    size_t ncols, const char *empty)
{
    fprintf(f, "<section><h2>%s (%lld)</h2>\n", title,
            (long long)json_integer_value(fig(rep, figure)));
    table(f, rep, list, list, cols, heads, ncols, empty,
          num(fig(rep, figure)));
    fputs("</section>\n", f);
}

/* Writes the five listing sections (lingering, unticketed, wider,
 * break-glass, approvers), each a counted table. */
static void html_listings(FILE *f, const json_t *rep)
{
    static const char *const lc[] = {"days_overdue", "identity", "system",
                                     "entitlement", "ticket", "expires_at",
                                     "granted_at"};
    static const char *const lh[] = {"Days overdue", "Identity", "System",
                                     "Entitlement", "Ticket", "Expired",
                                     "Granted"};
    static const char *const uc[] = {"time", "identity", "system",
                                     "entitlement", "environment", "ticket",
                                     "reason", "source_id"};
    static const char *const uh[] = {"Time", "Identity", "System",
                                     "Entitlement", "Environment", "Ticket",
                                     "Reason", "Event"};
    static const char *const ac[] = {"approver", "approvals", "per_day",
                                     "share", "median_seconds",
                                     "rubber_stamp_share", "denied_share"};
    static const char *const ah[] = {"Approver", "Approvals", "Per day",
                                     "Share", "Median time to approve",
                                     "Under rubber-stamp time",
                                     "Denied by ticketgate"};
    static const char *const bc[] = {"ticket", "beneficiary", "system",
                                     "entitlement", "decided_at",
                                     "review_due"};
    static const char *const bh[] = {"Ticket", "Beneficiary", "System",
                                     "Entitlement", "Decided", "Review due"};

    counted(f, rep, "Lingering access, oldest first", "lingering", "lingering",
            lc, lh, 7, "No access is held past its ticket's end.");
    counted(f, rep, "Unticketed grants", "unticketed_grants", "unticketed",
            uc, uh, 8, "Every grant in the period had an allowing ticket.");
    counted(f, rep, "Grants wider than their ticket", "wider_grants", "wider",
            uc, uh, 8, "No grant went beyond its ticket's scope.");
    fprintf(f,
            "<section><h2>Break-glass tickets without review (%lld of "
            "%lld)</h2>\n",
            (long long)json_integer_value(fig(rep, "breakglass.unreviewed")),
            (long long)json_integer_value(fig(rep, "breakglass.tickets")));
    table(f, rep, "breakglass_unreviewed", "breakglass", bc, bh, 6,
          "Every break-glass ticket was reviewed in time.",
          num(fig(rep, "breakglass.unreviewed")));
    fputs("</section>\n", f);
    fprintf(f, "<section><h2>Approvers</h2><p>%lld approvals by %lld "
               "approvers; rubber-stamp time under %lld s</p>\n",
            (long long)json_integer_value(fig(rep, "approvals.count")),
            (long long)json_integer_value(fig(rep, "approvals.approvers")),
            (long long)json_integer_value(json_object_get(
                json_object_get(rep, "settings"), "rubber_stamp_seconds")));
    table(f, rep, "approvers", "approvers", ac, ah, 7,
          "No approvals in the period.",
          num(fig(rep, "approvals.approvers")));
    fputs("</section>\n", f);
}

int tg_oc_render_html(const json_t *rep, FILE *f)
{
    html_head(f, rep);
    html_headlines(f, rep);
    html_lag(f, rep);
    html_listings(f, rep);
    fputs("<section><h2>Denies by reason over time</h2>\n", f);
    denies_chart(f, rep);
    fputs("</section>\n</main>\n<footer>Made by <code>ticketgate "
          "report</code> from the evidence store; figures as defined in the "
          "README (Access outcomes).</footer>\n</body></html>\n",
          f);
    return ferror(f) ? TG_EIO : 0;
}
