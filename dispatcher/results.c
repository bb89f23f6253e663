/* results: what the experiments produced, on stdout.
 *
 * Default (no --format): JSON Lines, one line per experiment, in submission order (NS:ids) or in
 * the order the ids are named. An ended experiment is its result JSON (NS:result:ID) on one
 * line; one that has not ended, or ended without a result, is {"id":ID,"state":STATE} (with
 * "error" when its hash has one). The id keeps the JSON type the spec gave it. Named ids are all
 * checked before anything is printed, so a typo prints nothing and exits 2.
 *
 * --format jsonl: the same order, one record per line with one shape for all: the result JSON as
 * stored when there is one, else {"id", "status" (the state, or "missing"), "machine", "model",
 * "attempts", "params", "error"}, so a JSON Lines reader gets one status column.
 * --format csv: a flat table for analysis (README "Results for analysis"): fixed columns, then
 * param.KEY columns, sorted by name, for every params key of any experiment and every grid
 * field of the --sweep file. The columns need every experiment's spec first, so the CSV reads the
 * specs in a first pass (pipelined HGETs) and the records in a second; memory stays one chunk.
 * --sweep FILE: the experiments are the file's (expanded like submit does, in its order), those
 * never submitted as status "missing". When some of the file's specs differ from what was
 * submitted under their ids (the file was edited; submit refused it), the rows still show what
 * ran, and one warning line on stderr says how many differ and names the first few.
 * --transcript ID: one experiment's conversation (transcript.c). */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "csv.h"
#include "disp.h"
#include "grid.h"
#include "job.h"
#include "keys.h"
#include "numfmt.h"
#include "transcript.h"
#include "xalloc.h"

static const char *opt_format, *opt_sweep, *opt_transcript;
static bool opt_full;

static const struct cfg_opt results_opts[] = {
    {"format", 0, NULL, CFG_STR, &opt_format, 0, 0, "jsonl|csv",
     "jsonl: one record per experiment, one shape; csv: a flat table with param.KEY columns"},
    {"sweep", 0, NULL, CFG_STR, &opt_sweep, 0, 0, "FILE",
     "the experiments of this input (any submit format, a grid file expanded), in its order; "
     "those never submitted are listed as missing"},
    {"transcript", 0, NULL, CFG_STR, &opt_transcript, 0, 0, "ID", "print one experiment's conversation, turn by turn"},
    {"full", 0, NULL, CFG_BOOL, &opt_full, 0, 0, NULL, "with --transcript: do not cut long contents"},
    {NULL},
};

enum format { FMT_DEFAULT, FMT_JSONL, FMT_CSV };

/* One experiment to report: its id, and its job from the --sweep file (NULL without). */
struct entry {
    const char *id;         /* borrowed from the id vector or the sweep's job */
    const struct job *job;  /* borrowed from the sweep list, or NULL */
};

/* ---- Which experiments ---- */

/* Collects the named ids (each checked to exist: in NS:ids or with a job hash), or all of NS:ids
 * in score order. */
static int collect_ids(struct disp *d, const char **args, int nargs, struct strvec *ids)
{
    int rc;
    if (nargs == 0)
        return disp_all_ids(d, ids);
    for (int i = 0; i < nargs; i++) {
        if (!job_id_valid(args[i])) {
            disp_errf("results: '%s' is not an experiment id: use 1 to %d of A-Z a-z 0-9 . _ : -", args[i], JOB_ID_MAX);
            return EXIT_USAGE;
        }
        if (strvec_find(ids, args[i]) < 0)
            strvec_push(ids, args[i]);
    }
    for (size_t i = 0; i < ids->n; i++) {
        disp_appendv(d, "ZSCORE", key_ids(d->ns).s, ids->v[i], NULL);
        disp_appendv(d, "EXISTS", key_job(d->ns, ids->v[i]).s, NULL);
    }
    char unknown[1024] = "";
    size_t nunknown = 0, len = 0;
    for (size_t i = 0; i < ids->n; i++) {
        redisReply *score, *exists;
        if ((rc = disp_reply(d, &score)))
            return rc;
        if ((rc = disp_reply(d, &exists))) {
            freeReplyObject(score);
            return rc;
        }
        bool known = score->type == REDIS_REPLY_STRING || (exists->type == REDIS_REPLY_INTEGER && exists->integer);
        freeReplyObject(score);
        freeReplyObject(exists);
        if (known)
            continue;
        if (nunknown++ < 10 && len < sizeof unknown - 200)
            len += (size_t)snprintf(unknown + len, sizeof unknown - len, "%s%s", nunknown > 1 ? ", " : "", ids->v[i]);
    }
    if (nunknown) {
        disp_errf("results: unknown experiment id%s %s%s (not in %s); nothing printed", nunknown > 1 ? "s" : "",
                  unknown, nunknown > 10 ? ", ..." : "", key_ids(d->ns).s);
        return EXIT_USAGE;
    }
    return 0;
}

/* ---- The default format ---- */

/* The id with its JSON type, from the spec when it parses; else the id as a string. New ref. */
static json_t *typed_id(const char *id, const redisReply *spec)
{
    if (spec && spec->type == REDIS_REPLY_STRING) {
        json_t *s = json_loadb(spec->str, spec->len, 0, NULL);
        json_t *v = json_object_get(s, "id");
        if (json_is_integer(v)) {
            json_t *out = json_incref(v);
            json_decref(s);
            return out;
        }
        json_decref(s);
    }
    return json_string(id);
}

static void print_json(json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(17));
    if (s)
        puts(s);
    free(s);
}

/* Prints valid JSON text on one line: the whitespace outside strings is dropped, everything else
 * kept byte for byte. Re-serialising with jansson instead would print 0.7 as 0.69999999999999996. */
static void print_compact(const char *s, size_t n)
{
    bool in_str = false, esc = false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (in_str) {
            if (esc)
                esc = false;
            else if (ch == '\\')
                esc = true;
            else if (ch == '"')
                in_str = false;
        } else if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') {
            continue;
        } else if (ch == '"') {
            in_str = true;
        }
        putchar(ch);
    }
    putchar('\n');
}

/* ---- One experiment as read from Redis ---- */

/* HMGET fields, in this order. */
static const char *const hash_fields[] = {"state", "spec", "error", "machine", "attempts", NULL};
enum { H_STATE, H_SPEC, H_ERROR, H_MACHINE, H_ATTEMPTS, H_N };

struct exp {
    const struct entry *e;
    const char *hv[H_N];     /* hash values, borrowed from the reply; NULL when absent */
    size_t hlen[H_N];
    redisReply *res;         /* GET result reply (borrowed) */
    json_t *result;          /* parsed result of an ended experiment, or NULL (owned) */
    json_t *spec;            /* parsed spec: the hash's, else the sweep job's (owned) */
};

static void exp_load(struct exp *x, const struct entry *e, redisReply *hm, redisReply *res)
{
    memset(x, 0, sizeof *x);
    x->e = e;
    x->res = res;
    for (int i = 0; i < H_N; i++) {
        redisReply *r = hm->type == REDIS_REPLY_ARRAY && hm->elements == H_N ? hm->element[i] : NULL;
        if (r && r->type == REDIS_REPLY_STRING) {
            x->hv[i] = r->str;
            x->hlen[i] = r->len;
        }
    }
    if (disp_state_ended(x->hv[H_STATE]) && res && res->type == REDIS_REPLY_STRING)
        x->result = json_loadb(res->str, res->len, 0, NULL);
    if (x->hv[H_SPEC])
        x->spec = json_loadb(x->hv[H_SPEC], x->hlen[H_SPEC], 0, NULL);
    if (!x->spec && e->job)
        x->spec = json_incref(e->job->spec);
}

static void exp_clear(struct exp *x)
{
    json_decref(x->result);
    json_decref(x->spec);
}

/* "missing" when never submitted (no job hash, and named by the sweep). */
static const char *exp_status(const struct exp *x)
{
    const char *s = json_string_value(json_object_get(x->result, "status"));
    if (s)
        return s;
    if (x->hv[H_STATE])
        return x->hv[H_STATE];
    return x->e->job ? "missing" : "unknown";
}

static json_t *exp_typed_id(const struct exp *x)
{
    json_t *v = json_object_get(x->spec, "id");
    if (json_is_integer(v) || json_is_string(v))
        return json_incref(v);
    return json_string(x->e->id);
}

/* ---- JSON Lines ---- */

static void print_default(const struct exp *x, const redisReply *spec_reply)
{
    if (x->result) {
        print_compact(x->res->str, x->res->len);
        return;
    }
    json_t *line = json_object();
    json_object_set_new(line, "id", x->hv[H_SPEC] ? typed_id(x->e->id, spec_reply) : exp_typed_id(x));
    json_object_set_new(line, "state", json_string(x->hv[H_STATE] ? x->hv[H_STATE] : x->e->job ? "missing" : "unknown"));
    if (x->hv[H_ERROR] && x->hlen[H_ERROR])
        json_object_set_new(line, "error", json_stringn(x->hv[H_ERROR], x->hlen[H_ERROR]));
    print_json(line);
    json_decref(line);
}

static void print_jsonl(const struct exp *x)
{
    if (x->result) {
        print_compact(x->res->str, x->res->len);
        return;
    }
    json_t *line = json_object();
    json_object_set_new(line, "id", exp_typed_id(x));
    json_object_set_new(line, "status", json_string(exp_status(x)));
    json_object_set_new(line, "machine", x->hv[H_MACHINE] ? json_stringn(x->hv[H_MACHINE], x->hlen[H_MACHINE]) : json_null());
    json_t *model = json_object_get(x->spec, "model");
    json_object_set_new(line, "model", json_is_string(model) ? json_incref(model) : json_null());
    json_object_set_new(line, "attempts", x->hv[H_ATTEMPTS] ? json_integer(atoll(x->hv[H_ATTEMPTS])) : json_null());
    json_t *params = json_object_get(x->spec, "params");
    json_object_set_new(line, "params", json_is_object(params) ? json_incref(params) : json_object());
    json_object_set_new(line, "error", x->hv[H_ERROR] && x->hlen[H_ERROR] ? json_stringn(x->hv[H_ERROR], x->hlen[H_ERROR])
                                                                        : json_null());
    print_json(line);
    json_decref(line);
}

/* ---- CSV ---- */

static const char *const fixed_cols[] = {"id", "status", "machine", "model", "model_digest", "attempts", "turns",
                                         "calls", "actions", "prompt_tokens", "eval_tokens", "duration_ms", "error",
                                         NULL};

/* A param.* column: a params key, or a grid field's dotted path into the spec. */
struct col {
    char *name;  /* "param.variant", "param.options.temperature" (owned) */
    char *key;   /* the params key, or the dotted path (owned) */
    bool path;
};

struct cols {
    struct col *v;
    size_t n, cap;
};

static void cols_add(struct cols *c, const char *name, const char *key, bool path)
{
    for (size_t i = 0; i < c->n; i++)
        if (!strcmp(c->v[i].name, name))
            return; /* params.variant (a grid field) and the params key variant: one column */
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 16;
        c->v = xreallocarray(c->v, c->cap, sizeof *c->v);
    }
    c->v[c->n++] = (struct col){xstrdup(name), xstrdup(key), path};
}

static void cols_add_params(struct cols *c, const json_t *spec)
{
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(spec, "params"), k, v) {
        char *name = xasprintf("param.%s", k);
        cols_add(c, name, k, false);
        free(name);
    }
}

static int cmp_col(const void *a, const void *b)
{
    return strcmp(((const struct col *)a)->name, ((const struct col *)b)->name);
}

static void cols_free(struct cols *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->v[i].name);
        free(c->v[i].key);
    }
    free(c->v);
}

/* A JSON value as a cell: strings as they are, numbers in their shortest form, objects and lists
 * as normalised JSON, null and absent as an empty cell. */
static void cell(struct buf *b, const json_t *v, int first)
{
    char num[NUMFMT_LEN];
    if (!v || json_is_null(v)) {
        csv_field(b, "", 0, first);
    } else if (json_is_string(v)) {
        csv_field(b, json_string_value(v), json_string_length(v), first);
    } else if (json_is_integer(v)) {
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        csv_field(b, num, strlen(num), first);
    } else if (json_is_real(v)) {
        numfmt_real(json_real_value(v), num);
        csv_field(b, num, strlen(num), first);
    } else if (json_is_boolean(v)) {
        csv_field(b, json_is_true(v) ? "true" : "false", json_is_true(v) ? 4 : 5, first);
    } else {
        char *t = numfmt_dumps(v);
        csv_field(b, t, strlen(t), first);
        free(t);
    }
}

static void cell_str(struct buf *b, const char *s, size_t n)
{
    csv_field(b, s ? s : "", s ? n : 0, 0);
}

static void print_csv_row(const struct exp *x, const struct cols *c, struct buf *b)
{
    const json_t *r = x->result, *totals = json_object_get(r, "totals");
    buf_reset(b);
    csv_field(b, x->e->id, strlen(x->e->id), 1);
    const char *st = exp_status(x);
    cell_str(b, st, strlen(st));
    if (json_is_string(json_object_get(r, "machine")))
        cell(b, json_object_get(r, "machine"), 0);
    else
        cell_str(b, x->hv[H_MACHINE], x->hlen[H_MACHINE]);
    cell(b, r ? json_object_get(r, "model") : json_object_get(x->spec, "model"), 0);
    cell(b, json_object_get(r, "model_digest"), 0);
    if (json_is_integer(json_object_get(r, "attempts")))
        cell(b, json_object_get(r, "attempts"), 0);
    else
        cell_str(b, x->hv[H_ATTEMPTS], x->hlen[H_ATTEMPTS]);
    cell(b, json_object_get(totals, "turns"), 0);
    cell(b, json_object_get(totals, "calls"), 0);
    cell(b, json_object_get(totals, "actions"), 0);
    cell(b, json_object_get(totals, "prompt_tokens"), 0);
    cell(b, json_object_get(totals, "eval_tokens"), 0);
    cell(b, json_object_get(r, "duration_ms"), 0);
    if (json_is_string(json_object_get(r, "error")))
        cell(b, json_object_get(r, "error"), 0);
    else
        cell_str(b, x->hv[H_ERROR], x->hlen[H_ERROR]);
    json_t *params = json_object_get(x->spec, "params");
    for (size_t i = 0; i < c->n; i++)
        cell(b, c->v[i].path ? grid_get_path(x->spec, c->v[i].key) : json_object_get(params, c->v[i].key), 0);
    csv_end(b);
    fwrite(buf_head(b), 1, buf_avail(b), stdout);
}

/* First pass of the CSV: the param.* columns, from every spec (Redis's, else the sweep's) and
 * the sweep's grid fields. */
static void cols_add_grid(struct cols *c, const json_t *grid)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)grid, k, v) {
            bool in_params = !strncmp(k, "params.", 7);
            char *name = xasprintf("param.%s", in_params ? k + 7 : k);
            /* params.NAME is the params key NAME; a deeper or other field is a path */
            if (in_params && !strchr(k + 7, '.'))
                cols_add(c, name, k + 7, false);
            else
                cols_add(c, name, k, true);
            free(name);
    }
}

static int csv_columns(struct disp *d, const struct entry *es, size_t n, struct cols *c)
{
    int rc = 0;
    for (size_t i = 0; i < n; i++)
        cols_add_grid(c, es[i].job ? es[i].job->grid : NULL);
    /* Each spec's params, and the grid fields submit recorded in the job hash (`grid`), so that a
     * grid's columns come out without --sweep too. */
    for (size_t base = 0; base < n; base += DISP_PIPELINE) {
        size_t end = base + DISP_PIPELINE < n ? base + DISP_PIPELINE : n;
        for (size_t i = base; i < end; i++)
            disp_appendv(d, "HMGET", key_job(d->ns, es[i].id).s, "spec", "grid", NULL);
        for (size_t i = base; i < end; i++) {
            redisReply *r;
            if ((rc = disp_reply(d, &r)))
                return rc;
            redisReply *sp = r->type == REDIS_REPLY_ARRAY && r->elements == 2 ? r->element[0] : NULL;
            redisReply *gr = r->type == REDIS_REPLY_ARRAY && r->elements == 2 ? r->element[1] : NULL;
            json_t *spec = sp && sp->type == REDIS_REPLY_STRING ? json_loadb(sp->str, sp->len, 0, NULL) : NULL;
            if (!spec && es[i].job)
                spec = json_incref(es[i].job->spec);
            cols_add_params(c, spec);
            json_decref(spec);
            json_t *grid = gr && gr->type == REDIS_REPLY_STRING ? json_loadb(gr->str, gr->len, 0, NULL) : NULL;
            if (json_is_object(grid))
                cols_add_grid(c, grid);
            json_decref(grid);
            freeReplyObject(r);
        }
    }
    qsort(c->v, c->n, sizeof *c->v, cmp_col);
    return 0;
}

/* ---- Subcommand ---- */

static int report(struct disp *d, enum format fmt, const struct entry *es, size_t n)
{
    struct cols c = {0};
    struct buf b = {0};
    struct disp_idlist changed = {0};
    int rc = 0;
    if (fmt == FMT_CSV) {
        if ((rc = csv_columns(d, es, n, &c)))
            goto out;
        for (int i = 0; fixed_cols[i]; i++)
            csv_field(&b, fixed_cols[i], strlen(fixed_cols[i]), i == 0);
        for (size_t i = 0; i < c.n; i++)
            csv_field(&b, c.v[i].name, strlen(c.v[i].name), 0);
        csv_end(&b);
        fwrite(buf_head(&b), 1, buf_avail(&b), stdout);
    }
    for (size_t base = 0; base < n; base += DISP_PIPELINE) {
        size_t end = base + DISP_PIPELINE < n ? base + DISP_PIPELINE : n;
        for (size_t i = base; i < end; i++) {
            struct rargs a = {0};
            rargs_add(&a, "HMGET");
            rargs_addc(&a, key_job(d->ns, es[i].id).s);
            for (int f = 0; hash_fields[f]; f++)
                rargs_add(&a, hash_fields[f]);
            disp_append(d, &a);
            rargs_free(&a);
            disp_appendv(d, "GET", key_result(d->ns, es[i].id).s, NULL);
        }
        for (size_t i = base; i < end; i++) {
            redisReply *hm, *res;
            if ((rc = disp_reply(d, &hm)))
                goto out;
            if ((rc = disp_reply(d, &res))) {
                freeReplyObject(hm);
                goto out;
            }
            struct exp x;
            exp_load(&x, &es[i], hm, res);
            if (es[i].job)
                disp_spec_check(&changed, es[i].job, x.hv[H_SPEC], x.hlen[H_SPEC]);
            if (fmt == FMT_CSV)
                print_csv_row(&x, &c, &b);
            else if (fmt == FMT_JSONL)
                print_jsonl(&x);
            else
                print_default(&x, hm->type == REDIS_REPLY_ARRAY && hm->elements == H_N ? hm->element[H_SPEC] : NULL);
            exp_clear(&x);
            freeReplyObject(hm);
            freeReplyObject(res);
        }
    }
    /* After the rows, which stay as they were: the rows are what ran under those ids. */
    disp_spec_warn(&changed, "results", opt_sweep);
out:
    cols_free(&c);
    buf_free(&b);
    return rc;
}

static int results_run(struct disp *d, const char **args, int nargs)
{
    enum format fmt = FMT_DEFAULT;
    if (opt_transcript) {
        if (nargs || opt_format || opt_sweep) {
            disp_errf("results --transcript ID prints one experiment: give no other ids, --format or --sweep");
            return EXIT_USAGE;
        }
        if (!job_id_valid(opt_transcript)) {
            disp_errf("--transcript: '%s' is not an experiment id: use 1 to %d of A-Z a-z 0-9 . _ : -", opt_transcript,
                      JOB_ID_MAX);
            return EXIT_USAGE;
        }
        int rc = disp_connect(d);
        return rc ? rc : transcript_print(d, opt_transcript, opt_full, stdout);
    }
    if (opt_full) {
        disp_errf("--full goes with --transcript ID");
        return EXIT_USAGE;
    }
    if (opt_format && !strcmp(opt_format, "jsonl"))
        fmt = FMT_JSONL;
    else if (opt_format && !strcmp(opt_format, "csv"))
        fmt = FMT_CSV;
    else if (opt_format) {
        disp_errf("--format: must be jsonl or csv, not '%s'", opt_format);
        return EXIT_USAGE;
    }
    if (opt_sweep && nargs) {
        disp_errf("results: name ids or give --sweep FILE, not both");
        return EXIT_USAGE;
    }

    struct job_list sweep = {0};
    struct strvec ids = {0};
    struct entry *es = NULL;
    size_t n = 0;
    int rc = 0;
    if (opt_sweep && (rc = disp_read_sweep("results", opt_sweep, &sweep)))
        goto out;
    if ((rc = disp_connect(d)))
        goto out;
    if (opt_sweep) {
        n = sweep.n;
        es = xcalloc(n + 1, sizeof *es);
        for (size_t i = 0; i < n; i++)
            es[i] = (struct entry){sweep.v[i]->id, sweep.v[i]};
    } else {
        if ((rc = collect_ids(d, args, nargs, &ids)))
            goto out;
        n = ids.n;
        es = xcalloc(n + 1, sizeof *es);
        for (size_t i = 0; i < n; i++)
            es[i] = (struct entry){ids.v[i], NULL};
    }
    rc = report(d, fmt, es, n);
    /* A reader that stopped early (| head) is not our failure. */
    if (fflush(stdout) != 0 && errno != EPIPE && rc == 0) {
        disp_errf("results: writing the output: %s", strerror(errno));
        rc = EXIT_RUNTIME;
    }
out:
    free(es);
    strvec_free(&ids);
    job_list_clear(&sweep);
    return rc;
}

const struct disp_cmd results_cmd = {
    .name = "results",
    .synopsis = "results [--format jsonl|csv] [--sweep FILE] [ID...] | results --transcript ID [--full]",
    .summary = "print results (JSON Lines or CSV) or one experiment's transcript",
    .description =
        "Prints one line per experiment, in submission order (or in the order named, or the order of\n"
        "the --sweep file). Without --format: an ended experiment's result JSON, or\n"
        "{\"id\":ID,\"state\":STATE} for one that has not ended (or ended without a result).\n"
        "--format jsonl: the result JSON, or {\"id\",\"status\",\"machine\",\"model\",\"attempts\",\"params\",\n"
        "\"error\"} for the others, so every line has a status.\n"
        "--format csv: RFC 4180, CRLF line ends, a header, one row per experiment with the columns\n"
        "id,status,machine,model,model_digest,attempts,turns,calls,actions,prompt_tokens,eval_tokens,\n"
        "duration_ms,error, then param.KEY for every params key and every grid field (recorded at\n"
        "submit, or from the --sweep file), sorted by name (param.options.temperature for a field\n"
        "outside params). Empty cell:\n"
        "no value. Numbers in their shortest form (0.2). Failed, queued and running rows included.\n"
        "--sweep FILE: the experiments of that input (a grid file is expanded as submit does); those\n"
        "never submitted have status missing. When the file's spec of an id differs from the one\n"
        "submitted under it (the file was edited since), the row shows what ran, and one warning\n"
        "line on stderr counts such ids and names the first few.\n"
        "--transcript ID: the conversation, turn by turn: the prompts, the model's replies and tool\n"
        "calls with their arguments, the tool results; long contents cut unless --full.\n"
        "An id that was never submitted is an error (exit 2, nothing printed).\n",
    .opts = results_opts,
    .run = results_run,
};
