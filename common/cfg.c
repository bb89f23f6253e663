/* cfg: a table-driven parser for flags and TURNQ_* variables, a miniature of redis's
 * static_configs[]. The environment is applied first so that flags override it. */
#include "cfg.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "suggest.h"

static int set_value(const struct cfg_opt *o, const char *val, const char *what, char err[ERR_LEN])
{
    char *end;
    switch (o->type) {
    case CFG_STR:
        *(const char **)o->ptr = val;
        return 0;
    case CFG_INT: {
        errno = 0;
        long v = strtol(val, &end, 10);
        if (errno || end == val || *end || v < o->min || v > o->max) {
            set_err(err, "%s: must be an integer from %.0f to %.0f, not '%s'", what, o->min, o->max, val);
            return -1;
        }
        *(long *)o->ptr = v;
        return 0;
    }
    case CFG_DOUBLE: {
        errno = 0;
        double v = strtod(val, &end);
        if (errno || end == val || *end || !isfinite(v) || v < o->min || v > o->max) {
            set_err(err, "%s: must be a number from %g to %g, not '%s'", what, o->min, o->max, val);
            return -1;
        }
        *(double *)o->ptr = v;
        return 0;
    }
    case CFG_BOOL:
        if (!strcasecmp(val, "1") || !strcasecmp(val, "true") || !strcasecmp(val, "yes") || !strcasecmp(val, "on"))
            *(bool *)o->ptr = true;
        else if (!strcasecmp(val, "0") || !strcasecmp(val, "false") || !strcasecmp(val, "no") ||
                 !strcasecmp(val, "off") || !*val)
            *(bool *)o->ptr = false;
        else {
            set_err(err, "%s: must be true or false, not '%s'", what, val);
            return -1;
        }
        return 0;
    case CFG_COUNT: {
        errno = 0;
        long v = strtol(val, &end, 10);
        if (errno || end == val || *end || v < 0 || v > 100) {
            set_err(err, "%s: must be a count from 0 to 100, not '%s'", what, val);
            return -1;
        }
        *(int *)o->ptr = (int)v;
        return 0;
    }
    case CFG_LIST: {
        struct cfg_list *l = o->ptr;
        if (l->n >= (int)(sizeof l->v / sizeof l->v[0])) {
            set_err(err, "%s: given too many times (at most %d)", what, (int)(sizeof l->v / sizeof l->v[0]));
            return -1;
        }
        l->v[l->n++] = val;
        return 0;
    }
    }
    return -1;
}

static const struct cfg_opt *find_long(const struct cfg_opt *opts, const char *name, size_t len)
{
    for (const struct cfg_opt *o = opts; o->name; o++)
        if (strlen(o->name) == len && !strncmp(o->name, name, len))
            return o;
    return NULL;
}

static const struct cfg_opt *find_short(const struct cfg_opt *opts, char c)
{
    for (const struct cfg_opt *o = opts; o->name; o++)
        if (o->short_name && o->short_name == c)
            return o;
    return NULL;
}

#define CFG_SUGGEST_MAX 2

/* The long flag closest to name[0..len) within CFG_SUGGEST_MAX edits (the first in the table on
 * a tie), or NULL. */
static const struct cfg_opt *closest_long(const struct cfg_opt *opts, const char *name, size_t len)
{
    const struct cfg_opt *best = NULL;
    int best_d = CFG_SUGGEST_MAX + 1;
    char want[65];
    if (len >= sizeof want)
        return NULL;
    memcpy(want, name, len);
    want[len] = '\0';
    for (const struct cfg_opt *o = opts; o->name; o++) {
        int dist = suggest_distance(o->name, want, CFG_SUGGEST_MAX);
        if (dist < best_d) {
            best_d = dist;
            best = o;
        }
    }
    return best;
}

static bool takes_value(const struct cfg_opt *o)
{
    return o->type != CFG_BOOL && o->type != CFG_COUNT;
}

int cfg_parse(const struct cfg_opt *opts, int argc, char **argv, int first, const char **pos,
              int max_pos, int *npos, char err[ERR_LEN])
{
    *npos = 0;
    for (const struct cfg_opt *o = opts; o->name; o++) {
        if (!o->env)
            continue;
        const char *v = getenv(o->env);
        if (v == NULL || (*v == '\0' && o->type != CFG_STR))
            continue;
        if (o->type == CFG_LIST) {
            /* A list variable holds one value (TURNQ_MCP='prog args'), replacing the default. */
            ((struct cfg_list *)o->ptr)->n = 0;
            if (set_value(o, v, o->env, err) < 0)
                return -1;
            continue;
        }
        if (set_value(o, v, o->env, err) < 0)
            return -1;
    }
    /* Flags replace what the environment gave a list, rather than appending to it. */
    bool list_from_flags[64] = {0};

    bool flags_done = false;
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (flags_done || a[0] != '-' || a[1] == '\0') {
            if (*npos >= max_pos) {
                set_err(err, "unexpected argument '%s'", a);
                return -1;
            }
            pos[(*npos)++] = a;
            continue;
        }
        if (!strcmp(a, "--")) {
            flags_done = true;
            continue;
        }
        const struct cfg_opt *o;
        const char *val = NULL;
        char what[80];
        if (a[1] == '-') {
            const char *name = a + 2, *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            o = find_long(opts, name, len);
            snprintf(what, sizeof what, "--%.*s", (int)len, name);
            if (!o) {
                /* The caller adds where the help is ("see worker --help"): it knows the program. */
                const struct cfg_opt *near = closest_long(opts, name, len);
                if (near)
                    set_err(err, "unknown flag '%s'; did you mean --%s?", what, near->name);
                else
                    set_err(err, "unknown flag '%s'", what);
                return -1;
            }
            if (eq) {
                if (!takes_value(o)) {
                    set_err(err, "%s takes no value", what);
                    return -1;
                }
                val = eq + 1;
            }
        } else {
            /* Short flags may be grouped when they take no value: -vv. */
            o = find_short(opts, a[1]);
            snprintf(what, sizeof what, "-%c", a[1]);
            if (!o) {
                set_err(err, "unknown flag '%s'", a);
                return -1;
            }
            if (!takes_value(o)) {
                for (const char *c = a + 1; *c; c++) {
                    const struct cfg_opt *g = find_short(opts, *c);
                    if (!g || takes_value(g)) {
                        set_err(err, "unknown flag '-%c' in '%s'", *c, a);
                        return -1;
                    }
                    if (g->type == CFG_COUNT)
                        (*(int *)g->ptr)++;
                    else
                        *(bool *)g->ptr = true;
                }
                continue;
            }
            if (a[2])
                val = a + 2;
        }
        if (!takes_value(o)) {
            if (o->type == CFG_COUNT)
                (*(int *)o->ptr)++;
            else
                *(bool *)o->ptr = true;
            continue;
        }
        if (val == NULL) {
            if (i + 1 >= argc) {
                set_err(err, "%s needs a value (%s)", what, o->metavar ? o->metavar : "VALUE");
                return -1;
            }
            val = argv[++i];
        }
        if (o->type == CFG_LIST) {
            size_t idx = (size_t)(o - opts);
            if (idx < 64 && !list_from_flags[idx]) {
                ((struct cfg_list *)o->ptr)->n = 0;
                list_from_flags[idx] = true;
            }
        }
        if (set_value(o, val, what, err) < 0)
            return -1;
    }
    return 0;
}

void cfg_print_options(FILE *f, const struct cfg_opt *opts)
{
    for (const struct cfg_opt *o = opts; o->name; o++) {
        char flag[96];
        if (o->short_name)
            snprintf(flag, sizeof flag, "-%c, --%s%s%s", o->short_name, o->name, o->metavar ? " " : "",
                     o->metavar ? o->metavar : "");
        else
            snprintf(flag, sizeof flag, "    --%s%s%s", o->name, o->metavar ? " " : "", o->metavar ? o->metavar : "");
        fprintf(f, "  %-30s %s", flag, o->help ? o->help : "");
        if (o->env)
            fprintf(f, " [env %s]", o->env);
        fputc('\n', f);
    }
}

int cfg_split_list(char *s, const char **items, int max, char err[ERR_LEN])
{
    int n = 0;
    char *save = NULL;
    if (*s == '\0') {
        set_err(err, "empty list");
        return -1;
    }
    size_t len = strlen(s);
    if (s[0] == ',' || s[len - 1] == ',' || strstr(s, ",,")) {
        set_err(err, "empty item in list '%s'", s);
        return -1;
    }
    for (char *t = strtok_r(s, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (n >= max) {
            set_err(err, "too many items (at most %d)", max);
            return -1;
        }
        items[n++] = t;
    }
    return n;
}
