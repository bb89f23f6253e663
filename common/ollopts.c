/* ollopts: one table of Ollama's options and their types. */
#include "ollopts.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "suggest.h"

enum opt_type { T_INT, T_NUM, T_BOOL, T_STRS };

static const struct {
    const char *name;
    enum opt_type type;
} opts[] = {
    /* sampling, per request */
    {"num_keep", T_INT}, {"seed", T_INT}, {"num_predict", T_INT}, {"top_k", T_INT},
    {"top_p", T_NUM}, {"min_p", T_NUM}, {"typical_p", T_NUM}, {"repeat_last_n", T_INT},
    {"temperature", T_NUM}, {"repeat_penalty", T_NUM}, {"presence_penalty", T_NUM},
    {"frequency_penalty", T_NUM}, {"stop", T_STRS},
    /* load time: changing one reloads the model */
    {"num_ctx", T_INT}, {"num_batch", T_INT}, {"num_gpu", T_INT}, {"main_gpu", T_INT},
    {"use_mmap", T_BOOL}, {"num_thread", T_INT}, {"draft_num_predict", T_INT},
    /* accepted by older servers (removed or deprecated since) */
    {"mirostat", T_INT}, {"mirostat_tau", T_NUM}, {"mirostat_eta", T_NUM}, {"tfs_z", T_NUM},
    {"penalize_newline", T_BOOL}, {"numa", T_BOOL}, {"low_vram", T_BOOL}, {"f16_kv", T_BOOL},
    {"logits_all", T_BOOL}, {"vocab_only", T_BOOL}, {"use_mlock", T_BOOL}, {"num_gqa", T_INT},
    {"rope_frequency_base", T_NUM}, {"rope_frequency_scale", T_NUM},
};
#define NOPTS (sizeof opts / sizeof *opts)

static bool type_ok(enum opt_type t, json_t *v)
{
    switch (t) {
    case T_INT:
        return json_is_integer(v) || (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) &&
                                      fabs(json_real_value(v)) < 9.2e18);
    case T_NUM:
        return json_is_number(v);
    case T_BOOL:
        return json_is_boolean(v);
    case T_STRS: {
        if (!json_is_array(v))
            return false;
        size_t i;
        json_t *s;
        json_array_foreach(v, i, s) if (!json_is_string(s)) return false;
        return true;
    }
    }
    return false;
}

static const char *const type_words[] = {"an integer", "a number", "true or false", "an array of strings"};

int ollopts_check(json_t *options, char err[ERR_LEN])
{
    const char *names[NOPTS];
    for (size_t i = 0; i < NOPTS; i++)
        names[i] = opts[i].name;
    const char *key;
    json_t *v;
    json_object_foreach(options, key, v) {
        size_t i = 0;
        while (i < NOPTS && strcmp(key, opts[i].name))
            i++;
        if (i == NOPTS) {
            const char *near = suggest_closest(key, names, NOPTS, 2);
            set_err(err, "options.%.64s: not an option Ollama knows%s%s%s (Ollama would ignore it and use its "
                         "default); see https://github.com/ollama/ollama/blob/main/docs/modelfile.md",
                    key, near ? " (did you mean " : "", near ? near : "", near ? "?)" : "");
            return -1;
        }
        if (!type_ok(opts[i].type, v)) {
            set_err(err, "options.%s: must be %s (Ollama answers 500 to a value of another type)", key,
                    type_words[opts[i].type]);
            return -1;
        }
    }
    return 0;
}
