/* grid: the expansion of parameter grids (see grid.h, README "Parameter grids").
 *
 * A grid holds the parsed document and, for every grid field, its value list and the text of each
 * value as the file spells it. jansson keeps only the double of a number (0.2 prints back as
 * 0.20000000000000001), so the spellings are read from the input text by a small scanner that
 * walks the top-level object to its "grid" member, the way jansson parsed it (the text is valid
 * JSON by then). A key given twice there is refused: jansson keeps the last one silently, and the
 * scanner would have to guess which one the user meant.
 *
 * Combination k is decoded like a number whose digits are the value indices, the last field the
 * fastest-changing digit, so the first field is outermost and the expansion order is the order
 * a person reads off the file. Combinations are built one at a time (grid_job): the caller
 * validates and stores each, so nothing is built twice. */
#include "grid.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "job.h"
#include "numfmt.h"
#include "place.h"
#include "xalloc.h"

#define LABEL_VALUE_MAX 40 /* bytes of a string or list value in a label */

struct gfield {
    const char *path; /* borrowed from the document's grid object */
    json_t *values;   /* borrowed: the non-empty array */
    size_t n;         /* json_array_size(values) */
    char **lit;       /* owned, n entries: the file's text of each value (numbers as written,
                         strings unquoted, true/false/null); NULL for a list or object */
};

struct grid {
    json_t *doc;         /* one reference owned */
    json_t *base;        /* borrowed from doc */
    const char *tmpl;    /* borrowed from doc; NULL: default ids */
    struct gfield *f;
    size_t nf;
    size_t n;            /* combinations */
};

bool grid_is_grid(const json_t *doc)
{
    return json_is_object(doc) && (json_object_get(doc, "grid") || json_object_get(doc, "base"));
}

size_t grid_size(const struct grid *g) { return g->n; }
size_t grid_nfields(const struct grid *g) { return g->nf; }
const char *grid_field(const struct grid *g, size_t i) { return i < g->nf ? g->f[i].path : NULL; }

void grid_free(struct grid *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->nf; i++) {
        for (size_t k = 0; g->f[i].lit && k < g->f[i].n; k++)
            free(g->f[i].lit[k]);
        free(g->f[i].lit);
    }
    free(g->f);
    json_decref(g->doc);
    free(g);
}

/* Length of s cut to at most max bytes without splitting a UTF-8 sequence. */
static size_t cut_utf8(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n <= max)
        return n;
    while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
        max--;
    return max;
}

/* ---- Paths ---- */

int grid_check_path(const char *path, char err[ERR_LEN])
{
    size_t n = strlen(path);
    if (n == 0 || n > GRID_MAX_PATH) {
        set_err(err, "a grid field name is 1 to %d bytes", GRID_MAX_PATH);
        return -1;
    }
    if (path[0] == '.' || path[n - 1] == '.' || strstr(path, "..")) {
        set_err(err, "empty part in the dotted name (write options.temperature)");
        return -1;
    }
    const char *dot = strchr(path, '.');
    size_t rl = dot ? (size_t)(dot - path) : n;
    char root[GRID_MAX_PATH + 1];
    memcpy(root, path, rl);
    root[rl] = '\0';
    if (!strcmp(root, "id")) {
        set_err(err, "the ids come from the grid file's \"id\" template (or from the values), not from the grid");
        return -1;
    }
    if (!job_field_known(root)) {
        set_err(err, "unknown field '%s': a grid field is a job field (model, system, turns, max_actions_per_turn, "
                     "tools, options, keep_alive, history, params, machine, resume, estimate) or a dotted name "
                     "under options. or params.", root);
        return -1;
    }
    if (dot && strcmp(root, "options") && strcmp(root, "params")) {
        set_err(err, "%s takes no sub-field: only options.NAME and params.NAME go inside an object", root);
        return -1;
    }
    return 0;
}

json_t *grid_get_path(const json_t *obj, const char *path)
{
    const json_t *cur = obj;
    const char *p = path;
    char seg[GRID_MAX_PATH + 1];
    while (cur) {
        const char *dot = strchr(p, '.');
        size_t l = dot ? (size_t)(dot - p) : strlen(p);
        if (l > GRID_MAX_PATH || !json_is_object(cur))
            return NULL;
        memcpy(seg, p, l);
        seg[l] = '\0';
        cur = json_object_get(cur, seg);
        if (!dot)
            return (json_t *)cur;
        p = dot + 1;
    }
    return NULL;
}

/* Sets path in obj to value (stolen), creating the objects on the way. grid_new checked that
 * whatever the base holds on the way is an object. */
static void set_path(json_t *obj, const char *path, json_t *value)
{
    json_t *cur = obj;
    const char *p = path;
    char seg[GRID_MAX_PATH + 1];
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t l = dot ? (size_t)(dot - p) : strlen(p);
        memcpy(seg, p, l);
        seg[l] = '\0';
        if (!dot) {
            json_object_set_new(cur, seg, value);
            return;
        }
        json_t *next = json_object_get(cur, seg);
        if (!json_is_object(next)) {
            next = json_object();
            json_object_set_new(cur, seg, next);
        }
        cur = next;
        p = dot + 1;
    }
}

/* ---- The literal scanner ---- */

struct scan {
    const char *s;
    size_t n, i;
};

static void sc_ws(struct scan *c)
{
    while (c->i < c->n && (c->s[c->i] == ' ' || c->s[c->i] == '\t' || c->s[c->i] == '\r' || c->s[c->i] == '\n'))
        c->i++;
}

/* At a '"': moves past the closing quote. */
static void sc_string(struct scan *c)
{
    c->i++;
    while (c->i < c->n && c->s[c->i] != '"')
        c->i += c->s[c->i] == '\\' ? 2 : 1;
    if (c->i < c->n)
        c->i++;
}

/* Skips one value; its text is s[*start, *start + *len). */
static void sc_value(struct scan *c, size_t *start, size_t *len)
{
    sc_ws(c);
    *start = c->i;
    if (c->i >= c->n) {
        *len = 0;
        return;
    }
    char ch = c->s[c->i];
    if (ch == '"') {
        sc_string(c);
    } else if (ch == '{' || ch == '[') {
        int depth = 0;
        do {
            ch = c->s[c->i];
            if (ch == '"') {
                sc_string(c);
                continue;
            }
            if (ch == '{' || ch == '[')
                depth++;
            else if (ch == '}' || ch == ']')
                depth--;
            c->i++;
        } while (depth > 0 && c->i < c->n);
    } else {
        while (c->i < c->n && !strchr(",]} \t\r\n", c->s[c->i]))
            c->i++;
    }
    *len = c->i - *start;
}

static bool sc_expect(struct scan *c, char ch)
{
    sc_ws(c);
    if (c->i < c->n && c->s[c->i] == ch) {
        c->i++;
        return true;
    }
    return false;
}

/* Reads a key (a JSON string) and its ':'. Returns the decoded key (new reference) or NULL. */
static json_t *sc_key(struct scan *c)
{
    sc_ws(c);
    if (c->i >= c->n || c->s[c->i] != '"')
        return NULL;
    size_t start = c->i;
    sc_string(c);
    json_t *k = json_loadb(c->s + start, c->i - start, JSON_DECODE_ANY, NULL);
    if (!json_is_string(k) || !sc_expect(c, ':')) {
        json_decref(k);
        return NULL;
    }
    return k;
}

static struct gfield *field_named(struct grid *g, const char *path)
{
    for (size_t i = 0; i < g->nf; i++)
        if (!strcmp(g->f[i].path, path))
            return &g->f[i];
    return NULL;
}

/* Reads the grid member's arrays: fills every field's lit[] with the values' spellings. First
 * finds the one "grid" member among the top-level ones, then walks its object. */
static int scan_literals(struct grid *g, const char *text, size_t len, char err[ERR_LEN])
{
    struct scan c = {text, len, 0};
    size_t grid_at = 0, ngrid = 0, start, l;
    size_t *pos = NULL, npos = 0, cap = 0;
    if (!sc_expect(&c, '{') || sc_expect(&c, '}'))
        goto bad;
    for (;;) {
        json_t *key = sc_key(&c);
        if (!key)
            goto bad;
        bool is_grid = !strcmp(json_string_value(key), "grid");
        json_decref(key);
        sc_ws(&c);
        if (is_grid) {
            grid_at = c.i;
            ngrid++;
        }
        sc_value(&c, &start, &l);
        if (l == 0)
            goto bad;
        if (sc_expect(&c, '}'))
            break;
        if (!sc_expect(&c, ','))
            goto bad;
    }
    if (ngrid != 1) {
        set_err(err, "grid: is given %zu times at the top of the file", ngrid);
        return -1;
    }
    c.i = grid_at;
    if (!sc_expect(&c, '{') || sc_expect(&c, '}'))
        goto bad;
    for (;;) {
        json_t *fk = sc_key(&c);
        if (!fk)
            goto bad;
        struct gfield *f = field_named(g, json_string_value(fk));
        if (!f || f->lit) {
            set_err(err, "grid.%s: is given twice", json_string_value(fk));
            json_decref(fk);
            free(pos);
            return -1;
        }
        json_decref(fk);
        if (!sc_expect(&c, '['))
            goto bad;
        npos = 0;
        if (!sc_expect(&c, ']')) {
            for (;;) {
                sc_value(&c, &start, &l);
                if (l == 0)
                    goto bad;
                if (npos + 2 > cap) {
                    cap = cap ? cap * 2 : 64;
                    pos = xreallocarray(pos, cap, sizeof *pos);
                }
                pos[npos++] = start;
                pos[npos++] = l;
                if (sc_expect(&c, ']'))
                    break;
                if (!sc_expect(&c, ','))
                    goto bad;
            }
        }
        if (npos / 2 != f->n)
            goto bad;
        f->lit = xcalloc(f->n + 1, sizeof *f->lit);
        for (size_t k = 0; k < f->n; k++) {
            json_t *v = json_array_get(f->values, k);
            if (json_is_number(v))
                f->lit[k] = xstrndup(text + pos[2 * k], pos[2 * k + 1]);
            else if (json_is_string(v))
                f->lit[k] = xstrdup(json_string_value(v));
            else if (json_is_true(v) || json_is_false(v) || json_is_null(v))
                f->lit[k] = xstrdup(json_is_true(v) ? "true" : json_is_false(v) ? "false" : "null");
        }
        if (sc_expect(&c, '}'))
            break;
        if (!sc_expect(&c, ','))
            goto bad;
    }
    free(pos);
    for (size_t i = 0; i < g->nf; i++)
        if (!g->f[i].lit)
            goto bad;
    return 0;
bad:
    free(pos);
    /* Not reachable for text jansson parsed into doc; a guard, not a diagnosis. */
    set_err(err, "grid: could not read the values' text near byte %zu", c.i);
    return -1;
}

/* ---- Checks ---- */

struct textidx {
    char *text;
    size_t i;
};

static int cmp_textidx(const void *a, const void *b)
{
    const struct textidx *x = a, *y = b;
    int c = strcmp(x->text, y->text);
    return c ? c : (x->i > y->i) - (x->i < y->i);
}

/* Refuses a value listed twice in one field (two combinations would be the same experiment). */
static int check_distinct(const struct gfield *f, char err[ERR_LEN])
{
    struct textidx *t = xcalloc(f->n + 1, sizeof *t);
    int rc = 0;
    for (size_t i = 0; i < f->n; i++) {
        t[i].text = numfmt_dumps(json_array_get(f->values, i));
        t[i].i = i;
    }
    qsort(t, f->n, sizeof *t, cmp_textidx);
    for (size_t i = 1; i < f->n && rc == 0; i++) {
        if (!strcmp(t[i - 1].text, t[i].text)) {
            set_err(err, "grid.%s: the value %.60s is listed twice (positions %zu and %zu)", f->path, t[i].text,
                    t[i - 1].i + 1, t[i].i + 1);
            rc = -1;
        }
    }
    for (size_t i = 0; i < f->n; i++)
        free(t[i].text);
    free(t);
    return rc;
}

/* The objects a field's path walks through in the base must be objects (or absent). */
static int check_base_path(const json_t *base, const char *path, char err[ERR_LEN])
{
    const json_t *cur = base;
    const char *p = path;
    char seg[GRID_MAX_PATH + 1];
    for (;;) {
        const char *dot = strchr(p, '.');
        if (!dot)
            return 0;
        size_t l = (size_t)(dot - p);
        memcpy(seg, p, l);
        seg[l] = '\0';
        cur = json_object_get(cur, seg);
        if (!cur)
            return 0;
        if (!json_is_object(cur)) {
            set_err(err, "grid.%s: base.%.*s is not an object, so nothing can be set inside it", path,
                    (int)(dot - path), path);
            return -1;
        }
        p = dot + 1;
    }
}

/* Checks the template's syntax and that each {placeholder} is a grid field with scalar values. */
static int check_template(struct grid *g, char err[ERR_LEN])
{
    const char *t = g->tmpl;
    for (const char *p = t; *p; p++) {
        if (*p == '}') {
            set_err(err, "id: '}' at byte %zu of the template '%s' has no '{'", (size_t)(p - t) + 1, t);
            return -1;
        }
        if (*p != '{')
            continue;
        const char *end = strchr(p + 1, '}');
        if (!end) {
            set_err(err, "id: the '{' at byte %zu of the template '%s' is not closed", (size_t)(p - t) + 1, t);
            return -1;
        }
        char name[GRID_MAX_PATH + 1];
        size_t l = (size_t)(end - p - 1);
        if (l == 0 || l > GRID_MAX_PATH) {
            set_err(err, "id: '{%.*s}' in the template '%s' names no grid field", (int)(l > 60 ? 60 : l), p + 1, t);
            return -1;
        }
        memcpy(name, p + 1, l);
        name[l] = '\0';
        const struct gfield *f = field_named(g, name);
        if (!f) {
            set_err(err, "id: {%s} in the template '%s' is not a grid field (a template names grid fields only)",
                    name, t);
            return -1;
        }
        for (size_t k = 0; k < f->n; k++) {
            json_t *v = json_array_get(f->values, k);
            if (json_is_array(v) || json_is_object(v)) {
                set_err(err, "id: {%s} in the template '%s': value %zu is a list or an object; only strings, numbers "
                             "and booleans can go into an id", name, t, k + 1);
                return -1;
            }
        }
        p = end;
    }
    return 0;
}

struct grid *grid_new(json_t *doc, const char *text, size_t len, char err[ERR_LEN])
{
    struct grid *g = xcalloc(1, sizeof *g);
    g->doc = json_incref(doc);
    const char *key;
    json_t *v;
    json_object_foreach(doc, key, v) {
        if (strcmp(key, "base") && strcmp(key, "grid") && strcmp(key, "id")) {
            set_err(err, "%s: unknown top-level field of a grid file (it holds base, grid and id)", key);
            goto fail;
        }
    }
    g->base = json_object_get(doc, "base");
    if (!g->base) {
        set_err(err, "base: is required in a grid file: the job every combination starts from");
        goto fail;
    }
    if (!json_is_object(g->base)) {
        set_err(err, "base: must be a job object");
        goto fail;
    }
    json_object_foreach(g->base, key, v) {
        if (!strcmp(key, "id")) {
            set_err(err, "base.id: the ids come from the \"id\" template (or from the values when there is none)");
            goto fail;
        }
        if (!job_field_known(key)) {
            set_err(err, "base.%s: unknown field", key);
            goto fail;
        }
    }
    json_t *grid = json_object_get(doc, "grid");
    if (!grid) {
        set_err(err, "grid: is required in a grid file: {\"field\": [values], ...}");
        goto fail;
    }
    if (!json_is_object(grid) || json_object_size(grid) == 0) {
        set_err(err, "grid: must be a non-empty object of {\"field\": [values], ...}");
        goto fail;
    }
    if (json_object_size(grid) > GRID_MAX_FIELDS) {
        set_err(err, "grid: %zu fields, more than the limit of %d", json_object_size(grid), GRID_MAX_FIELDS);
        goto fail;
    }
    g->f = xcalloc(json_object_size(grid) + 1, sizeof *g->f);
    uint64_t n = 1;
    bool over = false;
    json_object_foreach(grid, key, v) {
        char why[ERR_LEN];
        if (grid_check_path(key, why) < 0) {
            set_err(err, "grid.%s: %s", key, why);
            goto fail;
        }
        if (!json_is_array(v) || json_array_size(v) == 0) {
            set_err(err, "grid.%s: must be a non-empty array of the values to try", key);
            goto fail;
        }
        struct gfield *f = &g->f[g->nf++];
        f->path = key;
        f->values = v;
        f->n = json_array_size(v);
        if (f->n > GRID_MAX_COMBINATIONS || n * f->n > GRID_MAX_COMBINATIONS)
            over = true;
        else
            n *= f->n;
        if (check_distinct(f, err) < 0 || check_base_path(g->base, key, err) < 0)
            goto fail;
    }
    for (size_t i = 0; i < g->nf; i++) {
        for (size_t j = 0; j < g->nf; j++) {
            size_t l = strlen(g->f[i].path);
            if (i != j && !strncmp(g->f[j].path, g->f[i].path, l) && g->f[j].path[l] == '.') {
                set_err(err, "grid: %s and %s are both set, but one is inside the other", g->f[i].path, g->f[j].path);
                goto fail;
            }
        }
    }
    if (over) {
        char sizes[128] = "";
        size_t sl = 0;
        for (size_t i = 0; i < g->nf && sl < sizeof sizes - 24; i++)
            sl += (size_t)snprintf(sizes + sl, sizeof sizes - sl, "%s%zu", i ? " x " : "", g->f[i].n);
        set_err(err, "grid: %s combinations is more than the limit of %d", sizes, GRID_MAX_COMBINATIONS);
        goto fail;
    }
    g->n = (size_t)n;
    /* The expanded input's size, exactly enough: every combination holds the base and one value
     * of each field, and each value of field f is in n / n_f combinations. Bounded before any
     * combination is made, so a small file cannot expand into gigabytes. */
    char *base_text = json_dumps(g->base, JSON_COMPACT);
    size_t base_len = base_text ? strlen(base_text) : 0;
    free(base_text);
    uint64_t total = (uint64_t)base_len * g->n;
    for (size_t i = 0; i < g->nf; i++) {
        uint64_t sum = 0;
        size_t k;
        json_t *val;
        json_array_foreach(g->f[i].values, k, val) {
            char *t = json_dumps(val, JSON_COMPACT | JSON_ENCODE_ANY);
            sum += t ? strlen(t) + strlen(g->f[i].path) : 0;
            free(t);
        }
        total += sum * (g->n / g->f[i].n);
    }
    if (total > GRID_MAX_BYTES) {
        set_err(err, "grid: %zu combinations make %" PRIu64 " MiB of jobs (the base and each combination's values), "
                     "more than the limit of %u MiB",
                g->n, total >> 20, GRID_MAX_BYTES >> 20);
        goto fail;
    }
    json_t *tmpl = json_object_get(doc, "id");
    if (tmpl) {
        if (!json_is_string(tmpl) || !*json_string_value(tmpl) || strlen(json_string_value(tmpl)) > GRID_MAX_TEMPLATE) {
            set_err(err, "id: must be a template string such as \"T{options.temperature}-V{params.variant}\" (1 to "
                         "%d bytes)", GRID_MAX_TEMPLATE);
            goto fail;
        }
        g->tmpl = json_string_value(tmpl);
    }
    if (scan_literals(g, text, len, err) < 0)
        goto fail;
    if (g->tmpl && check_template(g, err) < 0)
        goto fail;
    return g;
fail:
    grid_free(g);
    return NULL;
}

/* ---- Combinations ---- */

static void label_value(struct buf *b, const struct gfield *f, size_t k)
{
    json_t *v = json_array_get(f->values, k);
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t cut = cut_utf8(s, LABEL_VALUE_MAX);
        json_t *part = json_stringn(s, cut);
        char *t = json_dumps(part, JSON_ENCODE_ANY | JSON_COMPACT);
        buf_puts(b, t ? t : "\"\"");
        if (cut < strlen(s))
            buf_puts(b, "...");
        free(t);
        json_decref(part);
    } else if (f->lit[k]) {
        buf_puts(b, f->lit[k]);
    } else {
        char *t = numfmt_dumps(v);
        size_t cut = cut_utf8(t, LABEL_VALUE_MAX);
        buf_append(b, t, cut);
        if (cut < strlen(t))
            buf_puts(b, "...");
        free(t);
    }
}

static char *render_template(const struct grid *g, const size_t *idx)
{
    struct buf b = {0};
    for (const char *p = g->tmpl; *p; p++) {
        const char *end = *p == '{' ? strchr(p + 1, '}') : NULL;
        if (!end) {
            buf_append(&b, p, 1);
            continue;
        }
        for (size_t i = 0; i < g->nf; i++) {
            if (strlen(g->f[i].path) == (size_t)(end - p - 1) && !strncmp(g->f[i].path, p + 1, (size_t)(end - p - 1))) {
                buf_puts(&b, g->f[i].lit[idx[i]]);
                break;
            }
        }
        p = end;
    }
    char *out = xstrdup(buf_head(&b));
    buf_free(&b);
    return out;
}

json_t *grid_job(const struct grid *g, size_t k, json_t **set_out, char **label_out, char err[ERR_LEN])
{
    size_t idx[GRID_MAX_FIELDS];
    size_t rest = k;
    for (size_t i = g->nf; i-- > 0;) {
        idx[i] = rest % g->f[i].n;
        rest /= g->f[i].n;
    }
    json_t *job = json_deep_copy(g->base);
    json_t *set = json_object();
    struct buf label = {0};
    for (size_t i = 0; i < g->nf; i++) {
        json_t *v = json_array_get(g->f[i].values, idx[i]);
        set_path(job, g->f[i].path, json_deep_copy(v));
        json_object_set_new(set, g->f[i].path, json_deep_copy(v));
        buf_printf(&label, "%s%s=", i ? " " : "", g->f[i].path);
        label_value(&label, &g->f[i], idx[i]);
    }
    char *id = g->tmpl ? render_template(g, idx) : grid_default_id(set);
    if (!job_id_valid(id)) {
        set_err(err, "id template '%s' gives '%.140s' for combination %zu (%s): an id holds only letters, digits and "
                     ". _ : - (1 to %d of them)", g->tmpl ? g->tmpl : "(default)", id, k + 1, buf_head(&label),
                JOB_ID_MAX);
        free(id);
        json_decref(job);
        json_decref(set);
        buf_free(&label);
        return NULL;
    }
    json_object_set_new(job, "id", json_string(id));
    free(id);
    if (set_out)
        *set_out = set;
    else
        json_decref(set);
    if (label_out)
        *label_out = xstrdup(buf_head(&label));
    buf_free(&label);
    return job;
}

/* ---- Default ids ---- */

/* Appends s[0, n) with every run of bytes outside the id charset as one "_", dropped at either
 * end ("Be terse, please!" gives "Be_terse_please"). */
static void slug_append(struct buf *b, const char *s, size_t n)
{
    bool pending = false, any = false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch != '\0' && (isalnum(ch) || strchr("._:-", ch))) {
            if (pending && any)
                buf_puts(b, "_");
            buf_append(b, &s[i], 1);
            pending = false;
            any = true;
        } else {
            pending = true;
        }
    }
}

char *grid_default_id(const json_t *set)
{
    size_t n = json_object_size(set);
    const char **keys = numfmt_sorted_keys(set);
    json_t *v;

    struct buf slug = {0}, hashin = {0};
    char num[NUMFMT_LEN];
    for (size_t i = 0; i < n; i++) {
        v = json_object_get(set, keys[i]);
        char *canon = numfmt_dumps(v);
        buf_printf(&hashin, "%s=%s\n", keys[i], canon);

        const char *last = strrchr(keys[i], '.');
        last = last ? last + 1 : keys[i];
        if (i)
            buf_puts(&slug, "_");
        slug_append(&slug, last, strlen(last));
        buf_puts(&slug, "-");
        const char *text;
        char hex[16];
        if (json_is_string(v))
            text = json_string_value(v);
        else if (json_is_integer(v))
            text = (snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v)), num);
        else if (json_is_real(v))
            text = numfmt_real(json_real_value(v), num);
        else if (json_is_array(v) || json_is_object(v))
            text = (snprintf(hex, sizeof hex, "%06" PRIx64, place_hash64(canon, strlen(canon)) >> 40), hex);
        else
            text = json_is_true(v) ? "true" : json_is_false(v) ? "false" : "null";
        slug_append(&slug, text, cut_utf8(text, GRID_SLUG_VALUE_MAX));
        free(canon);
    }
    size_t max = JOB_ID_MAX - 1 - GRID_HASH_HEX;
    size_t sl = slug.len < max ? slug.len : max;
    uint64_t h = place_hash64(buf_head(&hashin), hashin.len);
    char *id = xmalloc(sl + 1 + GRID_HASH_HEX + 1);
    memcpy(id, buf_head(&slug), sl);
    snprintf(id + sl, 1 + GRID_HASH_HEX + 1, "-%08" PRIx64, h >> 32);
    buf_free(&slug);
    buf_free(&hashin);
    free(keys);
    return id;
}
