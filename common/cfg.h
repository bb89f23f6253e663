#ifndef COMMON_CFG_H
#define COMMON_CFG_H
/* Configuration: built-in defaults (the caller's designated initialiser), then TURNQ_*
 * environment variables, then command-line flags (CONVENTIONS rule 11). Each binary describes
 * its options in one table; parsing is strict: numbers are checked for range and trailing
 * garbage, unknown flags are refused. Flags may come before or after positional arguments
 * ("dispatcher submit --machines a,b f.json"); "--" ends the flags. */
#include <stdbool.h>
#include <stdio.h>

#include "err.h"

enum cfg_type {
    CFG_STR,    /* const char **ptr; borrowed from argv or environ (process lifetime) */
    CFG_INT,    /* long *ptr, within [min, max] */
    CFG_DOUBLE, /* double *ptr, within [min, max] */
    CFG_BOOL,   /* bool *ptr; a flag takes no value; env accepts 1/0/true/false/yes/no */
    CFG_COUNT,  /* int *ptr; each occurrence adds one (-v -v) */
    CFG_LIST,   /* struct cfg_list *ptr; repeatable, each occurrence appended */
};

struct cfg_list {
    const char *v[32]; /* borrowed */
    int n;
};

struct cfg_opt {
    const char *name;    /* long flag without "--", e.g. "redis" */
    char short_name;     /* e.g. 'v', or 0 */
    const char *env;     /* e.g. "TURNQ_REDIS", or NULL */
    enum cfg_type type;
    void *ptr;
    double min, max;     /* bounds for CFG_INT / CFG_DOUBLE */
    const char *metavar; /* e.g. "URL"; NULL for CFG_BOOL / CFG_COUNT */
    const char *help;    /* one line; the default is printed by the caller's usage text */
};
/* A table ends with an entry whose name is NULL. */

/* Applies the environment, then argv[first..argc), to the options. Positional arguments are
 * collected, in order, into pos[0..*npos) (borrowed from argv; room for max_pos). Returns 0, or -1
 * with err naming the flag or variable: "--slots: must be an integer from 1 to 1024, not 'x'".
 * An unknown long flag names the closest known one within two edits: "unknown flag '--slot';
 * did you mean --slots?". err never says where the help is: the caller adds that, once. */
int cfg_parse(const struct cfg_opt *opts, int argc, char **argv, int first, const char **pos,
              int max_pos, int *npos, char err[ERR_LEN]);

/* Prints "  -s, --name METAVAR   help [env ENV_NAME]" for every option. */
void cfg_print_options(FILE *f, const struct cfg_opt *opts);

/* Splits a comma-separated list in place into at most max items (empty items are an error).
 * Returns the count, or -1 with err. `s` is modified; items point into it. */
int cfg_split_list(char *s, const char **items, int max, char err[ERR_LEN]);

#endif
