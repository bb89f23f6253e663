/* reqlog: JSON Lines request log. Lines are built with jansson in a fixed key order (jansson
 * keeps insertion order) and written with one fwrite + fflush each, so a reader never sees a
 * partial line between requests. Header values may hold any bytes; invalid UTF-8 is replaced
 * by '?' so every line stays valid JSON. */
#include "reqlog.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "xalloc.h"

struct reqlog {
    FILE *f; /* NULL: logging disabled */
};

struct reqlog *reqlog_open(const char *path, char err[ERR_LEN])
{
    struct reqlog *l = xcalloc(1, sizeof *l);
    if (path) {
        l->f = fopen(path, "a");
        if (!l->f) {
            set_err(err, "--log %s: %s", path, strerror(errno));
            free(l);
            return NULL;
        }
    }
    return l;
}

void reqlog_free(struct reqlog *l)
{
    if (!l)
        return;
    if (l->f)
        fclose(l->f);
    free(l);
}

/* A JSON string for arbitrary bytes: valid UTF-8 as is, anything else with '?' for bad bytes. */
static json_t *str_or_null(const char *s)
{
    if (!s)
        return json_null();
    json_t *j = json_string(s);
    if (j)
        return j;
    char *copy = xstrdup(s);
    for (unsigned char *p = (unsigned char *)copy; *p; p++)
        if (*p >= 0x80)
            *p = '?';
    j = json_string(copy);
    free(copy);
    return j ? j : json_null();
}

/* X-Turnq-Turn as an integer: optional surrounding blanks, decimal digits, an optional sign. */
static json_t *turn_json(const char *s)
{
    if (!s)
        return json_null();
    while (*s == ' ' || *s == '\t')
        s++;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || errno == ERANGE)
        return json_null();
    while (*end == ' ' || *end == '\t')
        end++;
    return *end ? json_null() : json_integer(v);
}

void reqlog_write(struct reqlog *l, const struct reqlog_entry *e)
{
    if (!l || !l->f)
        return;
    json_t *o = json_object();
    json_object_set_new(o, "ts", json_integer((json_int_t)llround(e->ts * 1000.0)));
    json_object_set_new(o, "method", str_or_null(e->method));
    json_object_set_new(o, "path", str_or_null(e->path));
    json_object_set_new(o, "status", e->status >= 0 ? json_integer(e->status) : json_null());
    json_object_set_new(o, "model", str_or_null(e->model));
    json_object_set_new(o, "messages", e->messages >= 0 ? json_integer(e->messages) : json_null());
    json_object_set_new(o, "experiment", str_or_null(e->experiment));
    json_object_set_new(o, "turn", turn_json(e->turn));
    json_object_set_new(o, "fault", str_or_null(e->fault));
    char *line = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!line)
        return;
    size_t n = strlen(line);
    line[n] = '\n'; /* replaces the NUL; written by length */
    if (fwrite(line, 1, n + 1, l->f) != n + 1 || fflush(l->f) != 0)
        log_errno("request log write failed");
    free(line);
}
