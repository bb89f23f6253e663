#ifndef COMMON_JOB_H
#define COMMON_JOB_H
/* The job model: one experiment as submitted (SPEC "The job"), its validation, the merge of
 * `defaults`, the canonical form that decides "same spec", and the submission input formats. */
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "err.h"

/* ---- Limits (each violation is a clear validation error) ---- */
#define JOB_ID_MAX 128            /* id: [A-Za-z0-9._:-]{1,128} */
#define JOB_MACHINE_MAX 64        /* machine name: [A-Za-z0-9._-]{1,64} */
#define JOB_MAX_BYTES (1 << 20)   /* a job's canonical JSON, 1 MiB */
#define JOB_MAX_TURNS 10000
#define JOB_MAX_TOOLS 128
#define JOB_MAX_ACTIONS 64        /* max_actions_per_turn is 1..64 */
#define JOB_DEFAULT_ACTIONS 8

enum job_history {
    JOB_HISTORY_RESET, /* each turn starts anew: system message + that turn's prompt (the seed) */
    JOB_HISTORY_CARRY, /* turns continue one conversation */
};

/* A validated job. Every json_t and string is borrowed from `spec`, which the job owns. */
struct job {
    json_t *spec;             /* the job object (one reference owned) */
    char id[JOB_ID_MAX + 1];  /* the id as text: "42" for the integer 42 */
    json_t *id_json;          /* the id with its JSON type (borrowed) */
    const char *model;
    const char *system;       /* NULL when absent */
    json_t *turn_prompts;     /* array of strings, or NULL when `turns` is an integer */
    int nturns;               /* number of turns, >= 1 */
    int max_actions;          /* budget of /api/chat calls per turn, 1..64 */
    enum job_history history;
    json_t *tools;            /* array (possibly empty), or NULL when absent */
    json_t *options;          /* object or NULL */
    json_t *keep_alive;       /* number or string, or NULL */
    json_t *params;           /* object or NULL */
    const char *machine;      /* pinned machine or NULL */
    bool resume_restart;      /* "resume": "restart": a resumed attempt starts again at turn 1 */
    double estimate;          /* expected work, for least-loaded placement; 1 when absent */
    char *canon;              /* the canonical text (job_canonical), made once: owned */
    /* A combination of a grid file (grid.h); both NULL for any other job. Not part of the spec. */
    json_t *grid;             /* {field: value} the grid set, in grid order (one reference owned) */
    char *grid_label;         /* "options.temperature=0.2 params.variant=1" (owned) */
};

/* ---- One job ---- */

/* Validates `obj` as one job. Returns a new job that holds its own reference to `obj` (the
 * caller keeps its reference), or NULL with the reason in err, naming the field:
 * "max_actions_per_turn: must be an integer from 1 to 64". Unknown fields are refused, so a
 * misspelt field is caught rather than ignored. */
struct job *job_from_json(json_t *obj, char err[ERR_LEN]);

/* Parses and validates a job stored as JSON text (e.g. the `spec` field in Redis). */
struct job *job_from_text(const char *text, size_t len, char err[ERR_LEN]);

void job_free(struct job *j); /* job_free(NULL) is a no-op */

/* Returns the canonical text of the spec (compact, keys sorted), caller frees. Two jobs have the
 * same spec exactly when these strings are equal. */
char *job_canonical(const struct job *j);
/* The same text, kept in the job (made once by job_from_json): borrowed. */
const char *job_canonical_text(const struct job *j);

/* Returns a new reference: `exp` merged over `defaults`. Top-level keys of exp replace those of
 * defaults, except `options` and `params`, which are merged key by key. Neither input changes. */
json_t *job_merge(json_t *defaults, json_t *exp);

/* ---- Names ---- */
bool job_field_known(const char *name); /* a top-level job field: id, model, ..., estimate */
bool job_id_valid(const char *s);
bool job_machine_valid(const char *s);

/* true when s is a duration Go's time.ParseDuration accepts ("30m", "1h30m", "0", "-1m"),
 * which is what Ollama requires of a string keep_alive ("300" and "-1" are refused). */
bool job_duration_valid(const char *s);

/* ---- Submission input ---- */

/* A growing list of validated jobs, in input order. */
struct job_list {
    struct job **v;
    size_t n, cap;
    struct job_index *index; /* private: id -> position, for duplicate checks in O(1) */
};

/* Parses one input (its text and a name for messages, such as a file name or "-") in any of the
 * formats SPEC accepts: one job object, a JSON array of jobs, JSON Lines,
 * {"defaults": {...}, "experiments": [...]}, or a grid file {"base", "grid", "id"} (grid.h;
 * its combinations in expansion order, each job's `grid` and `grid_label` set; errors
 * "SOURCE: grid combination K (id X: FIELD=VALUE ...): reason"). Appends its jobs to `list`. An identical job repeated
 * (same id, same spec) is added once; the same id with another spec, also across inputs added to
 * the same list, is an error. On error returns -1, leaves `list` as it was, and writes err as
 * "SOURCE: experiment K (id X): reason" (JSON Lines: "SOURCE:LINE: experiment K (id X): reason")
 * or "SOURCE:LINE:COL: reason" for unparseable JSON. */
int job_list_add_input(struct job_list *list, const char *text, size_t len, const char *source,
                       char err[ERR_LEN]);

void job_list_clear(struct job_list *list); /* frees every job and the array */

#endif
