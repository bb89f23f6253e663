/* prom: the Prometheus text format 0.0.4 written into a struct buf.
 *
 * The rules that matter here, from the format's documentation: UTF-8 with \n line ends and a
 * final \n; "# HELP" escapes \ and newline, label values also "; "# TYPE" comes before the
 * family's first sample; a histogram's buckets are cumulative, increasing in le, and include
 * le="+Inf" equal to _count. Counts live non-cumulatively in Redis (one HINCRBY per observation,
 * see mstats.h), so prom_histogram does the running sum. */
#include "prom.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool name_ok(const char *s)
{
    if (!s || !*s || !(s[0] == '_' || s[0] == ':' || (s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
        return false;
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:") == strlen(s);
}

void prom_escape_label(struct buf *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\')
            buf_puts(out, "\\\\");
        else if (*s == '"')
            buf_puts(out, "\\\"");
        else if (*s == '\n')
            buf_puts(out, "\\n");
        else
            buf_append(out, s, 1);
    }
}

void prom_escape_help(struct buf *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\')
            buf_puts(out, "\\\\");
        else if (*s == '\n')
            buf_puts(out, "\\n");
        else
            buf_append(out, s, 1);
    }
}

void prom_value(struct buf *out, double v)
{
    if (isnan(v))
        buf_puts(out, "NaN");
    else if (isinf(v))
        buf_puts(out, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 9007199254740992.0) /* 2^53: exact as an integer */
        buf_printf(out, "%.0f", v);
    else {
        /* The shortest of 15 or 17 digits that reads back as v: 0.365, not 0.36499999999999999. */
        char s[40];
        snprintf(s, sizeof s, "%.15g", v);
        if (strtod(s, NULL) != v)
            snprintf(s, sizeof s, "%.17g", v);
        buf_puts(out, s);
    }
}

void prom_family(struct buf *out, const char *name, const char *type, const char *help)
{
    assert(name_ok(name));
    buf_printf(out, "# HELP %s ", name);
    prom_escape_help(out, help);
    buf_printf(out, "\n# TYPE %s %s\n", name, type);
}

/* Appends {k="v",...} (nothing when there are no labels), with `extra` ("le", value) last. */
static void labels_out(struct buf *out, const char *const *labels, const char *extra_name, const char *extra_val)
{
    bool any = false;
    for (size_t i = 0; labels && labels[i]; i += 2) {
        assert(name_ok(labels[i]) && strchr(labels[i], ':') == NULL);
        if (!labels[i + 1])
            continue;
        buf_puts(out, any ? "," : "{");
        buf_printf(out, "%s=\"", labels[i]);
        prom_escape_label(out, labels[i + 1]);
        buf_puts(out, "\"");
        any = true;
    }
    if (extra_name) {
        buf_printf(out, "%s%s=\"", any ? "," : "{", extra_name);
        prom_escape_label(out, extra_val);
        buf_puts(out, "\"");
        any = true;
    }
    if (any)
        buf_puts(out, "}");
}

void prom_sample(struct buf *out, const char *name, const char *const *labels, double value)
{
    assert(name_ok(name));
    buf_puts(out, name);
    labels_out(out, labels, NULL, NULL);
    buf_puts(out, " ");
    prom_value(out, value);
    buf_puts(out, "\n");
}

void prom_histogram(struct buf *out, const char *name, const char *const *labels, const double *bounds,
                    const uint64_t *counts, size_t n, double sum)
{
    assert(name_ok(name));
    uint64_t cum = 0;
    for (size_t i = 0; i <= n; i++) {
        assert(i == n || (isfinite(bounds[i]) && (i == 0 || bounds[i] > bounds[i - 1])));
        cum += counts[i];
        char le[32];
        if (i < n)
            snprintf(le, sizeof le, "%g", bounds[i]);
        else
            snprintf(le, sizeof le, "+Inf");
        buf_printf(out, "%s_bucket", name);
        labels_out(out, labels, "le", le);
        buf_printf(out, " %llu\n", (unsigned long long)cum);
    }
    buf_printf(out, "%s_sum", name);
    labels_out(out, labels, NULL, NULL);
    buf_puts(out, " ");
    prom_value(out, sum);
    buf_printf(out, "\n%s_count", name);
    labels_out(out, labels, NULL, NULL);
    buf_printf(out, " %llu\n", (unsigned long long)cum);
}

int prom_write_file(const char *path, const char *text, size_t len, char err[ERR_LEN])
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp) {
        set_err(err, "%s: path too long", path);
        return -1;
    }
    FILE *f = fopen(tmp, "w");
    if (!f) {
        set_err(err, "%s: %s", tmp, strerror(errno));
        return -1;
    }
    bool ok = fwrite(text, 1, len, f) == len;
    int saved = errno;
    if (fclose(f) != 0 && ok) {
        ok = false;
        saved = errno;
    }
    if (!ok) {
        set_err(err, "%s: %s", tmp, strerror(saved));
        unlink(tmp);
        return -1;
    }
    /* No fsync: a crash may leave an empty or old file, which the next write replaces; the
     * collector's node_textfile_mtime_seconds tells a stale file anyway. */
    if (rename(tmp, path) < 0) {
        set_err(err, "%s: rename from %s: %s", path, tmp, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}
