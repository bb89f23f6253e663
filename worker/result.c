/* result: turn records and the result object, in SPEC's field order. */
#include "result.h"

#include <string.h>

#include "xalloc.h"

json_t *result_turn_record(int turn, const char *stop, int calls, const char *reply, json_t *actions,
                           long long prompt_tokens, long long eval_tokens, long long ms, const char *machine)
{
    json_t *rec = json_object();
    json_object_set_new(rec, "turn", json_integer(turn));
    json_object_set_new(rec, "stop", json_string(stop));
    json_object_set_new(rec, "calls", json_integer(calls));
    json_object_set_new(rec, "reply", json_string(reply ? reply : ""));
    json_object_set_new(rec, "actions", json_deep_copy(actions));
    json_object_set_new(rec, "prompt_tokens", json_integer(prompt_tokens));
    json_object_set_new(rec, "eval_tokens", json_integer(eval_tokens));
    json_object_set_new(rec, "ms", json_integer(ms));
    json_object_set_new(rec, "machine", json_string(machine));
    return rec;
}

static json_t *str_or_null(const char *s)
{
    return s && *s ? json_string(s) : json_null();
}

json_t *result_build(const struct result_in *in)
{
    json_t *res = json_object();
    const struct job *j = in->job;
    json_object_set(res, "id", j->id_json);
    json_object_set_new(res, "status", json_string(in->status));
    json_object_set_new(res, "machine", json_string(in->machine));
    json_t *machines = json_array();
    if (in->machines && *in->machines) {
        char *copy = xstrdup(in->machines), *save = NULL;
        for (char *m = strtok_r(copy, ",", &save); m; m = strtok_r(NULL, ",", &save))
            json_array_append_new(machines, json_string(m));
        free(copy);
    }
    json_object_set_new(res, "machines", machines);
    json_object_set_new(res, "placed", json_string(in->placed ? in->placed : in->machine));
    json_object_set_new(res, "model", json_string(j->model));
    json_object_set_new(res, "model_digest", str_or_null(in->model_digest));
    json_object_set_new(res, "ollama_version", str_or_null(in->ollama_version));
    json_object_set_new(res, "attempts", json_integer(in->attempts));
    json_object_set_new(res, "started_at", str_or_null(in->started_at));
    json_object_set_new(res, "finished_at", str_or_null(in->finished_at));
    json_object_set_new(res, "duration_ms", json_integer(in->duration_ms > 0 ? in->duration_ms : 0));
    json_object_set_new(res, "params", j->params ? json_deep_copy(j->params) : json_object());

    long long calls = 0, actions = 0, pt = 0, et = 0, reloads = 0;
    size_t i;
    json_t *t;
    json_array_foreach(in->turns, i, t) {
        calls += json_integer_value(json_object_get(t, "calls"));
        actions += (long long)json_array_size(json_object_get(t, "actions"));
        pt += json_integer_value(json_object_get(t, "prompt_tokens"));
        et += json_integer_value(json_object_get(t, "eval_tokens"));
        reloads += (long long)json_array_size(json_object_get(t, "reload_calls"));
    }
    json_object_set(res, "turns", in->turns); /* shared: the result is dumped and dropped */
    json_object_set_new(res, "totals", json_pack("{s:I, s:I, s:I, s:I, s:I}", "turns", (json_int_t)json_array_size(in->turns),
                                                 "calls", (json_int_t)calls, "actions", (json_int_t)actions,
                                                 "prompt_tokens", (json_int_t)pt, "eval_tokens", (json_int_t)et));
    json_object_set_new(res, "reloads", json_integer((json_int_t)reloads));
    json_t *seen = in->mixed_digests ? json_loads(in->mixed_digests, 0, NULL) : NULL;
    json_object_set_new(res, "mixed_digests", json_boolean(in->mixed_digests != NULL));
    if (in->mixed_digests)
        json_object_set_new(res, "digests_seen", seen ? seen : json_string(in->mixed_digests));
    json_object_set_new(res, "error", str_or_null(in->error));
    return res;
}
