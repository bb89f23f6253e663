/* job: validation of one experiment as SPEC "The job" describes it, the merge of `defaults`, the
 * canonical text that decides whether two submissions are the same, and the submission formats.
 *
 * Validation is strict and names the field: a sweep that runs for hours should be refused in the
 * first second for a typo, not fail on the GPU box. Unknown fields are refused for that reason. */
#include "job.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grid.h"
#include "ollopts.h"
#include "place.h"
#include "suggest.h"
#include "xalloc.h"

static const char *const known_fields[] = {
    "id", "model", "system", "turns", "max_actions_per_turn", "tools", "options",
    "keep_alive", "history", "params", "machine", "resume", "estimate", NULL,
};

/* ---- Names ---- */

bool job_field_known(const char *name)
{
    for (int i = 0; known_fields[i]; i++)
        if (!strcmp(name, known_fields[i]))
            return true;
    return false;
}

static bool charset_ok(const char *s, size_t max, const char *extra)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return false;
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr(extra, *p))
            return false;
    return true;
}

bool job_id_valid(const char *s) { return charset_ok(s, JOB_ID_MAX, "._:-"); }
bool job_machine_valid(const char *s) { return charset_ok(s, JOB_MACHINE_MAX, "._-"); }

/* Go's time.ParseDuration: [-+]? ( number unit )+ with units ns us µs ms s m h, or "0". */
bool job_duration_valid(const char *s)
{
    const char *p = s;
    if (*p == '-' || *p == '+')
        p++;
    if (!strcmp(p, "0"))
        return true;
    if (*p == '\0')
        return false;
    while (*p) {
        bool digits = false;
        while (isdigit((unsigned char)*p)) {
            p++;
            digits = true;
        }
        if (*p == '.') {
            p++;
            while (isdigit((unsigned char)*p)) {
                p++;
                digits = true;
            }
        }
        if (!digits)
            return false;
        static const char *const units[] = {"ns", "us", "\xc2\xb5s", "\xce\xbcs", "ms", "s", "m", "h", NULL};
        size_t best = 0;
        for (int i = 0; units[i]; i++) {
            size_t ul = strlen(units[i]);
            if (!strncmp(p, units[i], ul) && ul > best)
                best = ul;
        }
        /* "m" must not swallow the "m" of "ms": the longest unit wins above. */
        if (best == 0)
            return false;
        p += best;
    }
    return true;
}

/* ---- One job ---- */

static int fail(char err[ERR_LEN], const char *field, const char *msg)
{
    set_err(err, "%s: %s", field, msg);
    return -1;
}

static int check_tools(json_t *tools, char err[ERR_LEN])
{
    if (!json_is_array(tools))
        return fail(err, "tools", "must be an array of {\"type\":\"function\",\"function\":{...}}");
    if (json_array_size(tools) > JOB_MAX_TOOLS) {
        set_err(err, "tools: at most %d tools", JOB_MAX_TOOLS);
        return -1;
    }
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t) {
        json_t *fn = json_object_get(t, "function");
        const char *type = json_string_value(json_object_get(t, "type"));
        const char *name = json_string_value(json_object_get(fn, "name"));
        if (!json_is_object(t) || !type || strcmp(type, "function") || !json_is_object(fn)) {
            set_err(err, "tools[%zu]: must be {\"type\":\"function\",\"function\":{\"name\":...}}", i);
            return -1;
        }
        if (!name || !*name || strlen(name) > 128) {
            set_err(err, "tools[%zu].function.name: must be a non-empty string of at most 128 bytes", i);
            return -1;
        }
        json_t *params = json_object_get(fn, "parameters");
        if (params && !json_is_object(params)) {
            set_err(err, "tools[%zu].function.parameters: must be a JSON Schema object", i);
            return -1;
        }
        for (size_t k = 0; k < i; k++) {
            const char *other = json_string_value(json_object_get(json_object_get(json_array_get(tools, k), "function"), "name"));
            if (other && !strcmp(other, name)) {
                set_err(err, "tools[%zu].function.name: '%s' is offered twice", i, name);
                return -1;
            }
        }
    }
    return 0;
}

static int check_turns(json_t *turns, int *nturns, char err[ERR_LEN])
{
    if (json_is_integer(turns)) {
        json_int_t n = json_integer_value(turns);
        if (n < 1 || n > JOB_MAX_TURNS) {
            set_err(err, "turns: a number of turns must be from 1 to %d", JOB_MAX_TURNS);
            return -1;
        }
        *nturns = (int)n;
        return 0;
    }
    if (!json_is_array(turns) || json_array_size(turns) == 0)
        return fail(err, "turns", "must be a list of at least one prompt, or a number of turns");
    if (json_array_size(turns) > JOB_MAX_TURNS) {
        set_err(err, "turns: at most %d turns", JOB_MAX_TURNS);
        return -1;
    }
    size_t i;
    json_t *t;
    json_array_foreach(turns, i, t) {
        if (!json_is_string(t)) {
            set_err(err, "turns[%zu]: must be a string (the user prompt of turn %zu)", i, i + 1);
            return -1;
        }
    }
    *nturns = (int)json_array_size(turns);
    return 0;
}

static int validate(json_t *obj, struct job *j, char err[ERR_LEN])
{
    if (!json_is_object(obj))
        return fail(err, "job", "must be a JSON object");
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        bool known = false;
        for (int i = 0; known_fields[i]; i++)
            known = known || !strcmp(key, known_fields[i]);
        if (!known) {
            const char *near = suggest_closest(key, (const char *const *)known_fields,
                                               sizeof known_fields / sizeof *known_fields - 1, 2);
            set_err(err, "%.64s: unknown field%s%s%s (known: id, model, system, turns, max_actions_per_turn, tools, "
                         "options, keep_alive, history, params, machine, resume, estimate)",
                    key, near ? "; did you mean " : "", near ? near : "", near ? "?" : "");
            return -1;
        }
    }

    json_t *id = json_object_get(obj, "id");
    if (json_is_integer(id))
        snprintf(j->id, sizeof j->id, "%" JSON_INTEGER_FORMAT, json_integer_value(id));
    else if (json_is_string(id) && strlen(json_string_value(id)) <= JOB_ID_MAX)
        snprintf(j->id, sizeof j->id, "%s", json_string_value(id));
    else if (id == NULL)
        return fail(err, "id", "is required");
    else if (json_is_string(id))
        return fail(err, "id", "is longer than 128 characters");
    else
        return fail(err, "id", "must be a string or an integer");
    if (!job_id_valid(j->id)) {
        set_err(err, "id: '%s' may only hold letters, digits and . _ : - (1 to 128 of them)", j->id);
        return -1;
    }
    j->id_json = id;

    v = json_object_get(obj, "model");
    if (!v)
        return fail(err, "model", "is required");
    if (!json_is_string(v) || !*json_string_value(v) || strlen(json_string_value(v)) > 256)
        return fail(err, "model", "must be a non-empty string such as \"qwen3:8b\"");
    j->model = json_string_value(v);

    if ((v = json_object_get(obj, "system")) && !json_is_string(v))
        return fail(err, "system", "must be a string");
    j->system = json_string_value(v);

    if (!(v = json_object_get(obj, "turns")))
        return fail(err, "turns", "is required");
    if (check_turns(v, &j->nturns, err) < 0)
        return -1;
    j->turn_prompts = json_is_array(v) ? v : NULL;

    j->max_actions = JOB_DEFAULT_ACTIONS;
    if ((v = json_object_get(obj, "max_actions_per_turn"))) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > JOB_MAX_ACTIONS)
            return fail(err, "max_actions_per_turn", "must be an integer from 1 to 64");
        j->max_actions = (int)json_integer_value(v);
    }

    j->history = JOB_HISTORY_RESET;
    if ((v = json_object_get(obj, "history"))) {
        const char *h = json_string_value(v);
        if (h && !strcmp(h, "reset"))
            j->history = JOB_HISTORY_RESET;
        else if (h && !strcmp(h, "carry"))
            j->history = JOB_HISTORY_CARRY;
        else
            return fail(err, "history", "must be \"reset\" or \"carry\"");
    }

    if ((v = json_object_get(obj, "resume"))) {
        const char *r = json_string_value(v);
        if (r && !strcmp(r, "restart"))
            j->resume_restart = true;
        else if (!r || strcmp(r, "continue"))
            return fail(err, "resume", "must be \"continue\" (the default) or \"restart\"");
    }

    if ((v = json_object_get(obj, "tools")) && check_tools(v, err) < 0)
        return -1;
    j->tools = v;

    if ((v = json_object_get(obj, "options")) && !json_is_object(v))
        return fail(err, "options", "must be an object of Ollama options, e.g. {\"temperature\": 0.7}");
    if (v && ollopts_check(v, err) < 0)
        return -1;
    j->options = v;

    if ((v = json_object_get(obj, "keep_alive"))) {
        if (json_is_string(v)) {
            if (!job_duration_valid(json_string_value(v))) {
                set_err(err, "keep_alive: '%s' is not a duration Ollama accepts: use a unit (\"30m\", "
                             "\"1h\") or a number of seconds", json_string_value(v));
                return -1;
            }
        } else if (!json_is_number(v))
            return fail(err, "keep_alive", "must be a duration string such as \"30m\" or a number of seconds");
    }
    j->keep_alive = v;

    if ((v = json_object_get(obj, "params")) && !json_is_object(v))
        return fail(err, "params", "must be an object");
    j->params = v;

    j->estimate = 1.0;
    if ((v = json_object_get(obj, "estimate"))) {
        if (!json_is_number(v) || json_number_value(v) <= 0 || json_number_value(v) > 1e9)
            return fail(err, "estimate", "must be a positive number: the experiment's expected work, in any unit "
                                         "shared by the sweep (e.g. minutes)");
        j->estimate = json_number_value(v);
    }

    if ((v = json_object_get(obj, "machine"))) {
        if (!json_is_string(v) || !job_machine_valid(json_string_value(v)))
            return fail(err, "machine", "must be a machine name: letters, digits and . _ - (1 to 64)");
        j->machine = json_string_value(v);
    }
    return 0;
}

struct job *job_from_json(json_t *obj, char err[ERR_LEN])
{
    struct job *j = xcalloc(1, sizeof *j);
    if (validate(obj, j, err) < 0) {
        free(j);
        return NULL;
    }
    j->spec = json_incref(obj);
    j->canon = job_canonical(j);
    size_t len = strlen(j->canon);
    if (len > JOB_MAX_BYTES) {
        set_err(err, "job: %zu bytes of JSON, more than the limit of %d", len, JOB_MAX_BYTES);
        job_free(j);
        return NULL;
    }
    return j;
}

struct job *job_from_text(const char *text, size_t len, char err[ERR_LEN])
{
    json_error_t jerr;
    json_t *obj = json_loadb(text, len, 0, &jerr);
    if (!obj) {
        set_err(err, "spec:%d:%d: %s", jerr.line, jerr.column, jerr.text);
        return NULL;
    }
    struct job *j = job_from_json(obj, err);
    json_decref(obj);
    return j;
}

void job_free(struct job *j)
{
    if (!j)
        return;
    json_decref(j->spec);
    free(j->canon);
    json_decref(j->grid);
    free(j->grid_label);
    free(j);
}

char *job_canonical(const struct job *j)
{
    /* 17 significant digits: a double survives the round trip, so the same number always prints
     * the same way. */
    return json_dumps(j->spec, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
}

const char *job_canonical_text(const struct job *j)
{
    return j->canon;
}

json_t *job_merge(json_t *defaults, json_t *exp)
{
    json_t *out = json_deep_copy(defaults);
    const char *key;
    json_t *v;
    json_object_foreach(exp, key, v) {
        json_t *base = json_object_get(out, key);
        if ((!strcmp(key, "options") || !strcmp(key, "params")) && json_is_object(base) && json_is_object(v)) {
            json_t *merged = json_deep_copy(base);
            json_object_update(merged, v);
            json_object_set_new(out, key, merged);
        } else {
            json_object_set_new(out, key, json_deep_copy(v));
        }
    }
    return out;
}

/* ---- The id index: open addressing over ids, positions into the list ---- */

struct job_index {
    size_t cap;   /* a power of two */
    size_t *slot; /* position + 1, 0 for empty */
};

static size_t index_find(const struct job_list *l, const char *id, bool *found)
{
    struct job_index *ix = l->index;
    size_t mask = ix->cap - 1;
    size_t h = (size_t)place_hash64(id, strlen(id)) & mask;
    while (ix->slot[h]) {
        if (!strcmp(l->v[ix->slot[h] - 1]->id, id)) {
            *found = true;
            return h;
        }
        h = (h + 1) & mask;
    }
    *found = false;
    return h;
}

static void index_rebuild(struct job_list *l, size_t cap)
{
    struct job_index *ix = l->index;
    if (!ix)
        ix = l->index = xcalloc(1, sizeof *ix);
    free(ix->slot);
    ix->cap = cap;
    ix->slot = xcalloc(cap, sizeof *ix->slot);
    for (size_t i = 0; i < l->n; i++) {
        bool found;
        size_t h = index_find(l, l->v[i]->id, &found);
        ix->slot[h] = i + 1;
    }
}

/* Adds j to the list unless the same job is there. Returns 1 added, 0 identical duplicate
 * (j freed), -1 same id with another spec (j untouched). */
static int list_add(struct job_list *l, struct job *j)
{
    if (!l->index || (l->n + 1) * 2 > l->index->cap)
        index_rebuild(l, l->index ? l->index->cap * 2 : 64);
    bool found;
    size_t h = index_find(l, j->id, &found);
    if (found) {
        if (strcmp(job_canonical_text(l->v[l->index->slot[h] - 1]), job_canonical_text(j)))
            return -1;
        job_free(j);
        return 0;
    }
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = xreallocarray(l->v, l->cap, sizeof *l->v);
    }
    l->v[l->n++] = j;
    l->index->slot[h] = l->n;
    return 1;
}

static void list_truncate(struct job_list *l, size_t n)
{
    if (l->n == n)
        return;
    while (l->n > n)
        job_free(l->v[--l->n]);
    index_rebuild(l, l->index->cap);
}

void job_list_clear(struct job_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        job_free(l->v[i]);
    free(l->v);
    if (l->index)
        free(l->index->slot);
    free(l->index);
    memset(l, 0, sizeof *l);
}

/* ---- Submission input ---- */

/* Validates and adds one experiment; `where` prefixes messages ("f.json: experiment 3"). */
static int add_one(struct job_list *l, json_t *obj, const char *where, char err[ERR_LEN])
{
    char why[ERR_LEN];
    struct job *j = job_from_json(obj, why);
    if (!j) {
        json_t *id = json_object_get(obj, "id");
        if (json_is_string(id) && strlen(json_string_value(id)) <= JOB_ID_MAX)
            set_err(err, "%s (id %s): %s", where, json_string_value(id), why);
        else if (json_is_integer(id))
            set_err(err, "%s (id %" JSON_INTEGER_FORMAT "): %s", where, json_integer_value(id), why);
        else
            set_err(err, "%s: %s", where, why);
        return -1;
    }
    if (list_add(l, j) < 0) {
        set_err(err, "%s (id %s): id %s is given twice with different specs", where, j->id, j->id);
        job_free(j);
        return -1;
    }
    return 0;
}

static int add_array(struct job_list *l, json_t *arr, json_t *defaults, const char *source, char err[ERR_LEN])
{
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e) {
        char where[ERR_LEN];
        snprintf(where, sizeof where, "%s: experiment %zu", source, i + 1);
        if (!json_is_object(e)) {
            set_err(err, "%s: must be a JSON object", where);
            return -1;
        }
        json_t *job = defaults ? job_merge(defaults, e) : json_incref(e);
        int rc = add_one(l, job, where, err);
        json_decref(job);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* Expands a grid file (grid.h) and adds its combinations in expansion order. */
static int add_grid(struct job_list *l, json_t *doc, const char *text, size_t len, const char *source,
                    char err[ERR_LEN])
{
    char why[ERR_LEN];
    size_t before = l->n;
    struct grid *g = grid_new(doc, text, len, why);
    if (!g) {
        set_err(err, "%s: %s", source, why);
        return -1;
    }
    int rc = 0;
    for (size_t k = 0; k < grid_size(g) && rc == 0; k++) {
        json_t *set = NULL;
        char *label = NULL;
        json_t *obj = grid_job(g, k, &set, &label, why);
        if (!obj) {
            set_err(err, "%s: %s", source, why);
            rc = -1;
            break;
        }
        struct job *j = job_from_json(obj, why);
        json_decref(obj);
        if (!j) {
            set_err(err, "%s: grid combination %zu (%s): %s", source, k + 1, label, why);
            json_decref(set);
            free(label);
            rc = -1;
            break;
        }
        j->grid = set;
        j->grid_label = label;
        if (!l->index || (l->n + 1) * 2 > l->index->cap)
            index_rebuild(l, l->index ? l->index->cap * 2 : 64);
        bool found;
        size_t h = index_find(l, j->id, &found);
        const struct job *other = found ? l->v[l->index->slot[h] - 1] : NULL;
        if (other && (size_t)(l->index->slot[h] - 1) >= before) {
            /* Two combinations of this grid share an id: the template leaves a field out. */
            const char *tmpl = json_string_value(json_object_get(doc, "id"));
            set_err(err, "%s: combinations (%s) and (%s) both get the id %s: %s", source, other->grid_label, label, j->id,
                    tmpl ? "the id template must tell every combination apart (name each grid field in it)"
                         : "give the grid file an \"id\" template");
            job_free(j);
            rc = -1;
        } else if (list_add(l, j) < 0) {
            set_err(err, "%s: grid combination %zu (id %s: %s): id %s is given twice with different specs", source,
                    k + 1, j->id, label, j->id);
            job_free(j);
            rc = -1;
        }
    }
    grid_free(g);
    return rc;
}

static int add_document(struct job_list *l, json_t *doc, const char *text, size_t len, const char *source,
                        char err[ERR_LEN])
{
    if (grid_is_grid(doc))
        return add_grid(l, doc, text, len, source, err);
    if (json_is_array(doc)) {
        if (json_array_size(doc) == 0) {
            set_err(err, "%s: the array holds no experiments", source);
            return -1;
        }
        return add_array(l, doc, NULL, source, err);
    }
    if (!json_is_object(doc)) {
        set_err(err, "%s: expected a job object, an array of jobs, JSON Lines or {\"defaults\", \"experiments\"}",
                source);
        return -1;
    }
    json_t *exps = json_object_get(doc, "experiments");
    if (!exps && !json_object_get(doc, "defaults")) {
        char where[ERR_LEN];
        snprintf(where, sizeof where, "%s: experiment 1", source);
        return add_one(l, doc, where, err);
    }
    const char *key;
    json_t *v;
    json_object_foreach(doc, key, v) {
        if (strcmp(key, "defaults") && strcmp(key, "experiments")) {
            set_err(err, "%s: %s: unknown top-level field beside \"defaults\" and \"experiments\"", source, key);
            return -1;
        }
    }
    json_t *defaults = json_object_get(doc, "defaults");
    if (defaults && !json_is_object(defaults)) {
        set_err(err, "%s: defaults: must be an object", source);
        return -1;
    }
    /* A typo in the defaults is the defaults' fault, not the first experiment's. */
    json_object_foreach(defaults, key, v) {
        bool known = false;
        for (int i = 0; known_fields[i]; i++)
            known = known || !strcmp(key, known_fields[i]);
        if (!known || !strcmp(key, "id")) {
            set_err(err, "%s: defaults: %s: %s", source, key,
                    known ? "each experiment needs its own id" : "unknown field");
            return -1;
        }
    }
    if (!json_is_array(exps) || json_array_size(exps) == 0) {
        set_err(err, "%s: experiments: must be a non-empty array", source);
        return -1;
    }
    json_t *empty = json_object();
    int rc = add_array(l, exps, defaults ? defaults : empty, source, err);
    json_decref(empty);
    return rc;
}

static int add_json_lines(struct job_list *l, const char *text, size_t len, const char *source, char err[ERR_LEN])
{
    size_t pos = 0, k = 0;
    int line = 0;
    while (pos < len) {
        const char *start = text + pos;
        const char *nl = memchr(start, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - start) : len - pos;
        pos += n + (nl ? 1 : 0);
        line++;
        size_t lead = 0;
        while (lead < n && isspace((unsigned char)start[lead]))
            lead++;
        if (lead == n)
            continue;
        json_error_t jerr;
        json_t *obj = json_loadb(start, n, JSON_REJECT_DUPLICATES, &jerr);
        if (!obj) {
            set_err(err, "%s:%d:%d: %s", source, line, jerr.column, jerr.text);
            return -1;
        }
        char where[ERR_LEN];
        snprintf(where, sizeof where, "%s:%d: experiment %zu", source, line, ++k);
        int rc = json_is_object(obj) && !grid_is_grid(obj) ? add_one(l, obj, where, err) : -1;
        if (!json_is_object(obj))
            set_err(err, "%s: each line must be a job object", where);
        else if (grid_is_grid(obj))
            set_err(err, "%s: a grid file ({\"base\", \"grid\", \"id\"}) holds one JSON document, not JSON Lines",
                    where);
        json_decref(obj);
        if (rc < 0)
            return -1;
    }
    if (k == 0) {
        set_err(err, "%s: no experiments in the input", source);
        return -1;
    }
    return 0;
}

int job_list_add_input(struct job_list *l, const char *text, size_t len, const char *source, char err[ERR_LEN])
{
    size_t before = l->n;
    json_error_t jerr;
    int rc;
    /* Read one value and see whether anything but white space follows it: if so, the input is
     * JSON Lines (more than one value). */
    json_t *doc = json_loadb(text, len, JSON_DISABLE_EOF_CHECK | JSON_REJECT_DUPLICATES, &jerr);
    size_t rest = doc ? (size_t)jerr.position : 0;
    while (doc && rest < len && isspace((unsigned char)text[rest]))
        rest++;
    if (doc && rest == len) {
        rc = add_document(l, doc, text, len, source, err);
    } else if (doc) {
        rc = add_json_lines(l, text, len, source, err);
    } else {
        size_t i = 0;
        while (i < len && isspace((unsigned char)text[i]))
            i++;
        if (i == len)
            set_err(err, "%s: the input is empty", source);
        else
            set_err(err, "%s:%d:%d: %s", source, jerr.line, jerr.column, jerr.text);
        rc = -1;
    }
    json_decref(doc);
    if (rc < 0 && l->index)
        list_truncate(l, before);
    return rc;
}
