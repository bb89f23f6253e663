/* results: JSON Lines on stdout, one line per experiment, in submission order (NS:ids) or in the
 * order the ids are named. An ended experiment is its result JSON (NS:result:ID) on one line; one
 * that has not ended, or ended without a result (cancelled while queued), is
 * {"id":ID,"state":STATE} (with "error" when its hash has one). The id keeps the JSON type the
 * spec gave it. Named ids are all checked before anything is printed, so a typo prints nothing
 * and exits 2. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "disp.h"
#include "job.h"
#include "keys.h"
#include "xalloc.h"

/* Collects the ids to print: the named ones (each checked to exist: in NS:ids or with a job
 * hash), or all of NS:ids in score order. */
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

/* The id with its JSON type, from the spec when it parses; else the id as a string. New ref. */
static json_t *typed_id(const char *id, const redisReply *spec)
{
    if (spec->type == REDIS_REPLY_STRING) {
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

/* Prints one experiment's line from its HMGET state spec error and GET result replies. */
static void print_one(const char *id, redisReply *hm, redisReply *res)
{
    redisReply *state = hm->type == REDIS_REPLY_ARRAY && hm->elements == 3 ? hm->element[0] : NULL;
    redisReply *spec = state ? hm->element[1] : NULL, *error = state ? hm->element[2] : NULL;
    const char *st = state && state->type == REDIS_REPLY_STRING ? state->str : NULL;

    if (disp_state_ended(st) && res->type == REDIS_REPLY_STRING) {
        json_t *v = json_loadb(res->str, res->len, 0, NULL);
        if (v) {
            json_decref(v);
            print_compact(res->str, res->len);
            return;
        }
    }
    json_t *line = json_object();
    json_object_set_new(line, "id", spec ? typed_id(id, spec) : json_string(id));
    json_object_set_new(line, "state", json_string(st ? st : "unknown"));
    if (error && error->type == REDIS_REPLY_STRING && error->len)
        json_object_set_new(line, "error", json_stringn(error->str, error->len));
    print_json(line);
    json_decref(line);
}

static int results_run(struct disp *d, const char **args, int nargs)
{
    struct strvec ids = {0};
    int rc = disp_connect(d);
    if (rc || (rc = collect_ids(d, args, nargs, &ids)))
        goto out;
    for (size_t base = 0; base < ids.n; base += DISP_PIPELINE) {
        size_t end = base + DISP_PIPELINE < ids.n ? base + DISP_PIPELINE : ids.n;
        for (size_t i = base; i < end; i++) {
            disp_appendv(d, "HMGET", key_job(d->ns, ids.v[i]).s, "state", "spec", "error", NULL);
            disp_appendv(d, "GET", key_result(d->ns, ids.v[i]).s, NULL);
        }
        for (size_t i = base; i < end; i++) {
            redisReply *hm, *res;
            if ((rc = disp_reply(d, &hm)))
                goto out;
            if ((rc = disp_reply(d, &res))) {
                freeReplyObject(hm);
                goto out;
            }
            print_one(ids.v[i], hm, res);
            freeReplyObject(hm);
            freeReplyObject(res);
        }
    }
out:
    strvec_free(&ids);
    return rc;
}

const struct disp_cmd results_cmd = {
    .name = "results",
    .synopsis = "results [ID...]",
    .summary = "print results as JSON Lines (every submitted experiment, or the ids named)",
    .description =
        "Prints one JSON line per experiment, in submission order (or in the order named): an ended\n"
        "experiment's result JSON, or {\"id\":ID,\"state\":STATE} for one that has not ended (or ended\n"
        "without a result). An id that was never submitted is an error (exit 2, nothing printed).\n",
    .opts = NULL,
    .run = results_run,
};
