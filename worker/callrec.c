/* callrec: the per-turn list of call settings and loads. The settings are kept per call (an
 * array of {"options", "keep_alive"}) and folded into one pair at the end when all are equal
 * (json_equal: equal as JSON values), which is the normal case. */
#include "callrec.h"

#include <stdlib.h>

#include "xalloc.h"

struct callrec {
    json_t *settings;    /* array: per call {"options": {...}, "keep_alive": ... | null} */
    json_t *reloads;     /* array: {"call": K, "load_duration_ms": N} */
    long long load_ns;   /* sum of the calls' load_duration */
};

struct callrec *callrec_new(void)
{
    struct callrec *c = xcalloc(1, sizeof *c);
    c->settings = json_array();
    c->reloads = json_array();
    return c;
}

void callrec_free(struct callrec *c)
{
    if (!c)
        return;
    json_decref(c->settings);
    json_decref(c->reloads);
    free(c);
}

void callrec_reset(struct callrec *c)
{
    json_array_clear(c->settings);
    json_array_clear(c->reloads);
    c->load_ns = 0;
}

void callrec_add(struct callrec *c, json_t *options, json_t *keep_alive, long long load_ns, bool first_of_attempt)
{
    json_array_append_new(c->settings, json_pack("{s:o, s:o}", "options", options ? json_deep_copy(options) : json_object(),
                                                 "keep_alive", keep_alive ? json_deep_copy(keep_alive) : json_null()));
    if (load_ns > 0)
        c->load_ns += load_ns;
    if (!first_of_attempt && load_ns > (long long)CALLREC_RELOAD_MS * 1000000)
        json_array_append_new(c->reloads, json_pack("{s:I, s:I}", "call", (json_int_t)json_array_size(c->settings),
                                                    "load_duration_ms", (json_int_t)(load_ns / 1000000)));
}

int callrec_reloads(const struct callrec *c)
{
    return (int)json_array_size(c->reloads);
}

void callrec_annotate(const struct callrec *c, json_t *record)
{
    json_t *first = json_array_get(c->settings, 0);
    bool same = true;
    size_t i;
    json_t *s;
    json_array_foreach(c->settings, i, s)
        same = same && json_equal(s, first);
    if (same && first) {
        json_object_set(record, "options", json_object_get(first, "options"));
        json_object_set(record, "keep_alive", json_object_get(first, "keep_alive"));
    } else if (first) {
        json_object_set_new(record, "call_settings", json_deep_copy(c->settings));
    }
    json_object_set_new(record, "load_duration_ms", json_integer((json_int_t)(c->load_ns / 1000000)));
    json_object_set_new(record, "reload", json_boolean(json_array_size(c->reloads) > 0));
    if (json_array_size(c->reloads))
        json_object_set_new(record, "reload_calls", json_deep_copy(c->reloads));
}
