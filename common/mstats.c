/* mstats: the metric set of turnq (see mstats.h for the Redis fields), and its rendering.
 *
 * Bucket bounds: a turn is several calls plus tools, from a fraction of a second on ollama-sim to
 * many minutes for a big model; a call from tens of milliseconds to a cold model load. Changing a
 * bound later leaves the old field counted in no bucket but still in the sum, so keep them. */
#include "mstats.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prom.h"

static const double turn_bounds[] = {0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600};
static const double call_bounds[] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600};

static const struct {
    const char *prefix;  /* hash field prefix */
    const double *bounds;
    size_t n;
} hists[MSTATS_H_N] = {
    [MSTATS_H_TURN] = {"turn_seconds", turn_bounds, sizeof turn_bounds / sizeof *turn_bounds},
    [MSTATS_H_CALL] = {"call_seconds", call_bounds, sizeof call_bounds / sizeof *call_bounds},
};

static const char *const outcome_names[MSTATS_OUTCOMES] = {"done", "failed", "cancelled"};
static const char *const stop_names[MSTATS_STOPS] = {"answer", "max_actions"};
static const char *const outcome_fields[MSTATS_OUTCOMES] = {"experiments:done", "experiments:failed",
                                                            "experiments:cancelled"};
static const char *const stop_fields[MSTATS_STOPS] = {"turns:answer", "turns:max_actions"};

_Static_assert(sizeof turn_bounds / sizeof *turn_bounds <= MSTATS_BUCKETS_MAX, "too many buckets");
_Static_assert(sizeof call_bounds / sizeof *call_bounds <= MSTATS_BUCKETS_MAX, "too many buckets");

/* ---- Buckets and fields ---- */

const double *mstats_bounds(enum mstats_hist h, size_t *n)
{
    *n = hists[h].n;
    return hists[h].bounds;
}

void mstats_bucket_field(enum mstats_hist h, double seconds, char out[64])
{
    for (size_t i = 0; i < hists[h].n; i++)
        if (seconds <= hists[h].bounds[i]) {
            snprintf(out, 64, "%s:le:%g", hists[h].prefix, hists[h].bounds[i]);
            return;
        }
    snprintf(out, 64, "%s:le:+Inf", hists[h].prefix);
}

const char *mstats_sum_field(enum mstats_hist h)
{
    return h == MSTATS_H_TURN ? "turn_seconds:sum" : "call_seconds:sum";
}

const char *mstats_outcome_field(const char *status)
{
    for (int i = 0; i < MSTATS_OUTCOMES; i++)
        if (status && !strcmp(status, outcome_names[i]))
            return outcome_fields[i];
    return NULL;
}

int mstats_stop_index(const char *stop)
{
    for (int i = 0; i < MSTATS_STOPS; i++)
        if (stop && !strcmp(stop, stop_names[i]))
            return i;
    return -1;
}

const char *mstats_stop_field_at(int i)
{
    return stop_fields[i];
}

const char *mstats_stop_field(const char *stop)
{
    int i = mstats_stop_index(stop);
    return i < 0 ? NULL : stop_fields[i];
}

/* ---- Reading ---- */

void mstats_init(struct mstats_machine *m, const char *machine)
{
    memset(m, 0, sizeof *m);
    m->machine = machine;
    m->queue_depth = m->running_depth = -1;
}

static bool parse_u64(const char *s, uint64_t *out)
{
    char *end;
    if (!s || !*s || *s == '-')
        return false;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end)
        return false;
    *out = v;
    return true;
}

static bool parse_double(const char *s, double *out)
{
    char *end;
    if (!s || !*s)
        return false;
    double v = strtod(s, &end);
    if (*end || !isfinite(v))
        return false;
    *out = v;
    return true;
}

/* A histogram field "PREFIX:le:B" or "PREFIX:sum". */
static bool set_hist_field(struct mstats_machine *m, const char *field, const char *value)
{
    for (int h = 0; h < MSTATS_H_N; h++) {
        size_t pl = strlen(hists[h].prefix);
        if (strncmp(field, hists[h].prefix, pl) || field[pl] != ':')
            continue;
        const char *rest = field + pl + 1;
        if (!strcmp(rest, "sum"))
            return parse_double(value, &m->histo[h].sum);
        if (strncmp(rest, "le:", 3))
            return false;
        rest += 3;
        if (!strcmp(rest, "+Inf"))
            return parse_u64(value, &m->histo[h].counts[hists[h].n]);
        for (size_t i = 0; i < hists[h].n; i++) {
            char b[32];
            snprintf(b, sizeof b, "%g", hists[h].bounds[i]);
            if (!strcmp(rest, b))
                return parse_u64(value, &m->histo[h].counts[i]);
        }
        return false;
    }
    return false;
}

void mstats_set_field(struct mstats_machine *m, const char *field, const char *value)
{
    for (int i = 0; i < MSTATS_OUTCOMES; i++)
        if (!strcmp(field, outcome_fields[i])) {
            parse_u64(value, &m->experiments[i]);
            return;
        }
    for (int i = 0; i < MSTATS_STOPS; i++)
        if (!strcmp(field, stop_fields[i])) {
            parse_u64(value, &m->turns[i]);
            return;
        }
    if (!strcmp(field, "requeues"))
        parse_u64(value, &m->requeues);
    else if (!strcmp(field, "calls:ok"))
        parse_u64(value, &m->calls_ok);
    else if (!strcmp(field, "calls:error"))
        parse_u64(value, &m->calls_error);
    else if (!strcmp(field, "prompt_tokens"))
        parse_u64(value, &m->prompt_tokens);
    else if (!strcmp(field, "eval_tokens"))
        parse_u64(value, &m->eval_tokens);
    else if (!strcmp(field, "eval_seconds"))
        parse_double(value, &m->eval_seconds);
    else
        set_hist_field(m, field, value);
}

void mstats_set_heartbeat(struct mstats_machine *m, json_t *hb)
{
    m->up = json_is_object(hb);
    if (!m->up)
        return;
    m->slots = json_integer_value(json_object_get(hb, "slots"));
    m->busy = json_integer_value(json_object_get(hb, "busy"));
    m->breaker_open = json_is_true(json_object_get(hb, "breaker_open"));
    m->version = json_string_value(json_object_get(hb, "version"));
    json_t *ol = json_object_get(hb, "ollama");
    m->ollama_up = json_is_object(ol);
    m->ollama_version = json_string_value(json_object_get(ol, "version"));
    json_t *models = json_object_get(ol, "models");
    m->models = json_is_array(models) ? models : NULL;
}

/* ---- Writing ---- */

#define L(m) ((const char *const[]){"machine", (m)->machine, NULL})

static void simple_family(struct buf *out, const struct mstats_machine *ms, size_t n, const char *name,
                         const char *type, const char *help, double (*get)(const struct mstats_machine *), bool up_only)
{
    prom_family(out, name, type, help);
    for (size_t i = 0; i < n; i++)
        if (!up_only || ms[i].up)
            prom_sample(out, name, L(&ms[i]), get(&ms[i]));
}

static double g_queue(const struct mstats_machine *m) { return (double)m->queue_depth; }
static double g_running(const struct mstats_machine *m) { return (double)m->running_depth; }
static double g_up(const struct mstats_machine *m) { return m->up; }
static double g_slots(const struct mstats_machine *m) { return (double)m->slots; }
static double g_busy(const struct mstats_machine *m) { return (double)m->busy; }
static double g_ollama_up(const struct mstats_machine *m) { return m->ollama_up; }
static double g_breaker(const struct mstats_machine *m) { return m->breaker_open; }
static double g_requeues(const struct mstats_machine *m) { return (double)m->requeues; }
static double g_prompt(const struct mstats_machine *m) { return (double)m->prompt_tokens; }
static double g_eval(const struct mstats_machine *m) { return (double)m->eval_tokens; }
static double g_eval_s(const struct mstats_machine *m) { return m->eval_seconds; }

void mstats_render(struct buf *out, const struct mstats_machine *ms, size_t n)
{
    prom_family(out, "turnq_queue_depth", "gauge", "Experiments waiting in the machine's queue.");
    for (size_t i = 0; i < n; i++)
        if (ms[i].queue_depth >= 0)
            prom_sample(out, "turnq_queue_depth", L(&ms[i]), g_queue(&ms[i]));
    prom_family(out, "turnq_running_depth", "gauge",
                "Experiments in the machine's running list (claimed by its worker).");
    for (size_t i = 0; i < n; i++)
        if (ms[i].running_depth >= 0)
            prom_sample(out, "turnq_running_depth", L(&ms[i]), g_running(&ms[i]));

    prom_family(out, "turnq_experiments_total", "counter", "Experiments that ended on the machine, by outcome.");
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < MSTATS_OUTCOMES; k++)
            prom_sample(out, "turnq_experiments_total",
                        (const char *const[]){"machine", ms[i].machine, "outcome", outcome_names[k], NULL},
                        (double)ms[i].experiments[k]);
    simple_family(out, ms, n, "turnq_requeues_total", "counter",
                 "Attempts put back first in the queue (an error, a stop, a sick box).", g_requeues, false);

    prom_family(out, "turnq_turns_total", "counter", "Turns committed on the machine, by how they stopped.");
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < MSTATS_STOPS; k++)
            prom_sample(out, "turnq_turns_total",
                        (const char *const[]){"machine", ms[i].machine, "stop", stop_names[k], NULL},
                        (double)ms[i].turns[k]);
    prom_family(out, "turnq_turn_duration_seconds", "histogram", "Wall time of one committed turn.");
    for (size_t i = 0; i < n; i++)
        prom_histogram(out, "turnq_turn_duration_seconds", L(&ms[i]), turn_bounds, ms[i].histo[MSTATS_H_TURN].counts,
                       hists[MSTATS_H_TURN].n, ms[i].histo[MSTATS_H_TURN].sum);

    prom_family(out, "turnq_chat_requests_total", "counter", "/api/chat calls made, by outcome.");
    for (size_t i = 0; i < n; i++) {
        prom_sample(out, "turnq_chat_requests_total",
                    (const char *const[]){"machine", ms[i].machine, "outcome", "ok", NULL}, (double)ms[i].calls_ok);
        prom_sample(out, "turnq_chat_requests_total",
                    (const char *const[]){"machine", ms[i].machine, "outcome", "error", NULL},
                    (double)ms[i].calls_error);
    }
    prom_family(out, "turnq_chat_request_duration_seconds", "histogram", "Wall time of one /api/chat call.");
    for (size_t i = 0; i < n; i++)
        prom_histogram(out, "turnq_chat_request_duration_seconds", L(&ms[i]), call_bounds,
                       ms[i].histo[MSTATS_H_CALL].counts, hists[MSTATS_H_CALL].n, ms[i].histo[MSTATS_H_CALL].sum);
    simple_family(out, ms, n, "turnq_prompt_tokens_total", "counter", "Prompt tokens Ollama evaluated in successful calls.",
                 g_prompt, false);
    simple_family(out, ms, n, "turnq_eval_tokens_total", "counter", "Tokens Ollama generated in successful calls.",
                 g_eval, false);
    simple_family(out, ms, n, "turnq_eval_duration_seconds_total", "counter",
                 "Ollama's eval_duration summed over successful calls (generation time).", g_eval_s, false);

    simple_family(out, ms, n, "turnq_worker_up", "gauge", "1 while the machine's worker heartbeat is live.", g_up, false);
    simple_family(out, ms, n, "turnq_worker_slots", "gauge", "Configured concurrent experiments (live workers).",
                 g_slots, true);
    simple_family(out, ms, n, "turnq_worker_busy_slots", "gauge", "Experiments running now (live workers).", g_busy,
                 true);
    simple_family(out, ms, n, "turnq_ollama_up", "gauge", "1 while the worker's Ollama answers (live workers).",
                 g_ollama_up, true);
    simple_family(out, ms, n, "turnq_worker_breaker_open", "gauge",
                 "1 while the worker claims nothing because its Ollama fails chat calls.", g_breaker, true);

    prom_family(out, "turnq_build_info", "gauge", "Versions in use on the machine (live workers); always 1.");
    for (size_t i = 0; i < n; i++)
        if (ms[i].up)
            prom_sample(out, "turnq_build_info",
                        (const char *const[]){"machine", ms[i].machine, "version", ms[i].version, "ollama_version",
                                              ms[i].ollama_version, NULL},
                        1);
    prom_family(out, "turnq_model_info", "gauge", "Models the machine's Ollama has, with their digests; always 1.");
    for (size_t i = 0; i < n; i++) {
        size_t k;
        json_t *mo;
        if (!ms[i].up)
            continue;
        json_array_foreach(ms[i].models, k, mo) {
            const char *name = json_string_value(json_object_get(mo, "name"));
            if (name)
                prom_sample(out, "turnq_model_info",
                            (const char *const[]){"machine", ms[i].machine, "model", name, "digest",
                                                  json_string_value(json_object_get(mo, "digest")), NULL},
                            1);
        }
    }
}
