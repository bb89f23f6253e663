/* gate: the consistency check of a submission, on the heartbeats (NS:worker:M) of its machines.
 *
 * A verdict depends only on the job's model and its target set, which is its pin or the whole
 * candidate list, so it is decided once per (normalised model, pin) pair, in a jansson object
 * keyed "MODEL\nPIN" ("" for unpinned), however many experiments share it: a sweep of 100,000
 * experiments over two models costs two lookups. The heartbeats are read once, before anything
 * is written; a worker that changes its models between this read and the writes is not seen
 * (the window is the submission's own duration). */
#include "gate.h"

#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "modeltab.h"
#include "xalloc.h"

#define GATE_IDS_SHOWN 20 /* refused experiments named in the message */

struct gate {
    const struct strvec *machines; /* borrowed */
    const char *ns;                /* borrowed: for the key named in the warning */
    json_t **hb;                   /* per machine: the heartbeat (new ref), NULL when no live worker */
    bool *alive;                   /* per machine: the heartbeat key exists */
    char **mixed;                  /* per job: table text (owned) or NULL */
    size_t n;
};

void gate_free(struct gate *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->machines->n; i++)
        json_decref(g->hb[i]);
    for (size_t i = 0; i < g->n; i++)
        free(g->mixed[i]);
    free(g->hb);
    free(g->alive);
    free(g->mixed);
    free(g);
}

const char *gate_mixed(const struct gate *g, size_t i)
{
    return g && i < g->n ? g->mixed[i] : NULL;
}

static int read_heartbeats(struct disp *d, struct gate *g)
{
    const struct strvec *ms = g->machines;
    for (size_t base = 0; base < ms->n; base += DISP_PIPELINE) {
        size_t end = base + DISP_PIPELINE < ms->n ? base + DISP_PIPELINE : ms->n;
        for (size_t i = base; i < end; i++)
            disp_appendv(d, "GET", key_worker(d->ns, ms->v[i]).s, NULL);
        for (size_t i = base; i < end; i++) {
            redisReply *r;
            int rc = disp_reply(d, &r);
            if (rc)
                return rc;
            g->alive[i] = r->type == REDIS_REPLY_STRING;
            json_t *hb = g->alive[i] ? json_loadb(r->str, r->len, 0, NULL) : NULL;
            g->hb[i] = json_is_object(hb) ? hb : NULL;
            if (!g->hb[i])
                json_decref(hb);
            freeReplyObject(r);
        }
    }
    return 0;
}

/* The rows of job j's target machines (a new array). */
static json_t *target_rows(const struct gate *g, const struct gate_in *in, const struct job *j)
{
    const struct strvec *ms = in->machines;
    const char **names = xcalloc(ms->n + 1, sizeof *names);
    json_t **hbs = xcalloc(ms->n + 1, sizeof *hbs);
    size_t k = 0;
    if (j->machine) {
        long at = strvec_find(ms, j->machine);
        if (at >= 0) {
            names[k] = ms->v[at];
            hbs[k++] = g->hb[at];
        }
    } else {
        for (size_t i = 0; i < ms->n; i++) {
            /* model: the strategy never places on a machine whose Ollama lacks the model, unless
             * none of the candidates has it (the submit script's "may run") */
            if (!in->cand[i] || (in->model_strategy && modeltab_has_list(g->hb[i]) && !modeltab_digest(g->hb[i], j->model)))
                continue;
            names[k] = ms->v[i];
            hbs[k++] = g->hb[i];
        }
        if (k == 0)
            for (size_t i = 0; i < ms->n; i++)
                if (in->cand[i]) {
                    names[k] = ms->v[i];
                    hbs[k++] = g->hb[i];
                }
    }
    json_t *rows = modeltab_rows(j->model, names, hbs, k);
    free(names);
    free(hbs);
    return rows;
}

static void list_ids(char *buf, size_t size, const struct gate_in *in, const bool *flag, size_t count)
{
    size_t len = 0, listed = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < in->n && listed < GATE_IDS_SHOWN && len + 200 < size; i++)
        if (flag[i]) {
            len += (size_t)snprintf(buf + len, size - len, "%s%s", listed ? ", " : "", in->jobs[i]->id);
            listed++;
        }
    if (count > listed)
        snprintf(buf + len, size - len, " and %zu more", count - listed);
}

int gate_run(struct disp *d, const struct gate_in *in, struct gate **out)
{
    *out = NULL;
    struct gate *g = xcalloc(1, sizeof *g);
    g->machines = in->machines;
    g->ns = d->ns;
    g->hb = xcalloc(in->machines->n + 1, sizeof *g->hb);
    g->alive = xcalloc(in->machines->n + 1, sizeof *g->alive);
    g->mixed = xcalloc(in->n + 1, sizeof *g->mixed);
    g->n = in->n;
    int rc = read_heartbeats(d, g);
    if (rc) {
        gate_free(g);
        return rc;
    }
    json_t *verdicts = json_object();  /* "MODEL\nPIN" -> rows (disagreeing) or null (agreeing) */
    json_t *bad = json_array();        /* the union of the disagreeing rows */
    json_t *versions = json_array();   /* rows of agreeing machines that run different versions */
    bool *refused = xcalloc(in->n + 1, sizeof *refused), *vflag = xcalloc(in->n + 1, sizeof *vflag);
    size_t nbad = 0, nver = 0;
    for (size_t i = 0; i < in->n; i++) {
        const struct job *j = in->jobs[i];
        char norm[MODELTAB_NAME_MAX], key[MODELTAB_NAME_MAX + JOB_MACHINE_MAX + 2];
        modeltab_norm(j->model, norm, sizeof norm);
        snprintf(key, sizeof key, "%s\n%s", norm, j->machine ? j->machine : "");
        json_t *v = json_object_get(verdicts, key);
        if (!v) {
            json_t *rows = target_rows(g, in, j);
            if (modeltab_disagree(rows)) {
                modeltab_merge(bad, rows);
                v = rows;
            } else {
                if (modeltab_versions_differ(rows))
                    modeltab_merge(versions, rows);
                v = json_string(modeltab_versions_differ(rows) ? "versions" : "");
                json_decref(rows);
            }
            json_object_set_new(verdicts, key, v);
        }
        if (json_is_array(v)) {
            refused[i] = true;
            nbad++;
            if (in->allow_mixed)
                g->mixed[i] = json_dumps(v, JSON_COMPACT);
        } else if (*json_string_value(v)) {
            vflag[i] = true;
            nver++;
        }
    }
    char ids[2048];
    if (nbad && !in->allow_mixed) {
        list_ids(ids, sizeof ids, in, refused, nbad);
        disp_errf("submit refused, nothing written: the live workers of the machines of %zu experiment%s disagree on "
                  "%s model (different digests, or the model is missing): %s",
                  nbad, nbad == 1 ? "" : "s", nbad == 1 ? "its" : "their", ids);
        modeltab_print(stderr, bad, "  ");
        disp_errf("pull the same build of the model on every machine, or submit with --allow-mixed-digests (each "
                  "such experiment then records this table, and its result says \"mixed_digests\": true)");
        rc = EXIT_USAGE;
    } else if (nbad) {
        list_ids(ids, sizeof ids, in, refused, nbad);
        disp_warnf("--allow-mixed-digests: %zu experiment%s go%s to machines that disagree on %s model; recorded in "
                   "%s job hash (mixed_digests) and result: %s",
                   nbad, nbad == 1 ? "" : "s", nbad == 1 ? "es" : "", nbad == 1 ? "its" : "their",
                   nbad == 1 ? "its" : "their", ids);
        modeltab_print(stderr, bad, "  ");
    }
    if (!rc && nver) {
        list_ids(ids, sizeof ids, in, vflag, nver);
        disp_warnf("the machines of %zu experiment%s agree on the model but run different Ollama versions: %s", nver,
                   nver == 1 ? "" : "s", ids);
        modeltab_print(stderr, versions, "  ");
    }
    json_decref(verdicts);
    json_decref(bad);
    json_decref(versions);
    free(refused);
    free(vflag);
    if (rc) {
        gate_free(g);
        return rc;
    }
    *out = g;
    return 0;
}

/* The machines without a live worker (want_dead), or the live ones whose heartbeat says their
 * Ollama does not answer, as "a, b and N more" in list; returns how many. */
static size_t machine_list(const struct gate *g, bool want_dead, char *list, size_t size)
{
    size_t count = 0, listed = 0, len = 0;
    list[0] = '\0';
    for (size_t i = 0; i < g->machines->n; i++) {
        /* a worker says "ollama": null while its Ollama does not answer */
        bool hit = want_dead ? !g->alive[i] : json_is_null(json_object_get(g->hb[i], "ollama"));
        if (!hit)
            continue;
        count++;
        if (listed == 20 || len + 100 > size)
            continue;
        len += (size_t)snprintf(list + len, size - len, "%s%s", listed ? ", " : "", g->machines->v[i]);
        listed++;
    }
    if (count > listed)
        snprintf(list + len, size - len, " and %zu more", count - listed);
    return count;
}

void gate_warn(const struct gate *g)
{
    if (!g)
        return;
    char list[1024];
    size_t n = machine_list(g, true, list, sizeof list);
    if (n)
        disp_warnf("no live worker for %s (no %s heartbeat): %s experiments wait in the queue until a worker starts",
                   list, key_worker(g->ns, "MACHINE").s, n > 1 ? "their" : "its");
    n = machine_list(g, false, list, sizeof list);
    if (n)
        disp_warnf("the worker%s of %s report%s no answer from %s Ollama: %s models could not be checked",
                   n > 1 ? "s" : "", list, n > 1 ? "" : "s", n > 1 ? "their" : "its", n > 1 ? "their" : "its");
}
