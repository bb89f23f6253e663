/* ndjson: split a byte stream into lines. Complete lines inside one feed are handed out straight
 * from the caller's buffer; only a line that spans feeds is copied into the growable buffer. */
#include "ndjson.h"

#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

struct ndjson {
    char *buf;        /* the incomplete last line */
    size_t len, cap;
    size_t max_line;  /* bytes */
    ndjson_line_fn *fn;
    void *arg;
    int stopped;      /* 1 after an error: further input is refused */
    int overflow;     /* 1 when stopped on a too-long line */
};

struct ndjson *ndjson_new(size_t max_line, ndjson_line_fn *fn, void *arg)
{
    struct ndjson *nd = xcalloc(1, sizeof *nd);
    nd->max_line = max_line;
    nd->fn = fn;
    nd->arg = arg;
    return nd;
}

void ndjson_free(struct ndjson *nd)
{
    if (!nd)
        return;
    free(nd->buf);
    free(nd);
}

static int emit(struct ndjson *nd, const char *line, size_t len)
{
    if (len && line[len - 1] == '\r')
        len--;
    if (len == 0)
        return 0;
    if (nd->fn(nd->arg, line, len) < 0) {
        nd->stopped = 1;
        return -1;
    }
    return 0;
}

static int append(struct ndjson *nd, const char *p, size_t n)
{
    if (nd->len + n > nd->max_line) {
        nd->stopped = nd->overflow = 1;
        return -1;
    }
    if (nd->len + n > nd->cap) {
        size_t cap = nd->cap ? nd->cap : 4096;
        while (cap < nd->len + n)
            cap *= 2;
        nd->buf = xrealloc(nd->buf, cap);
        nd->cap = cap;
    }
    memcpy(nd->buf + nd->len, p, n);
    nd->len += n;
    return 0;
}

int ndjson_feed(struct ndjson *nd, const char *buf, size_t len)
{
    if (nd->stopped)
        return -1;
    while (len) {
        const char *nl = memchr(buf, '\n', len);
        if (!nl)
            return append(nd, buf, len);
        size_t n = (size_t)(nl - buf);
        if (nd->len) {
            if (append(nd, buf, n) < 0)
                return -1;
            size_t total = nd->len;
            nd->len = 0;
            if (emit(nd, nd->buf, total) < 0)
                return -1;
        } else {
            if (n > nd->max_line) {
                nd->stopped = nd->overflow = 1;
                return -1;
            }
            if (emit(nd, buf, n) < 0)
                return -1;
        }
        buf = nl + 1;
        len -= n + 1;
    }
    return 0;
}

size_t ndjson_pending(const struct ndjson *nd) { return nd->len; }
int ndjson_overflowed(const struct ndjson *nd) { return nd->overflow; }
