/* schema: example values from JSON Schema, the way a model fills in a tool call. Rules, in
 * order: "const" → it; "enum" → its first value; anyOf/oneOf/allOf → the first subschema;
 * "$ref" (#/$defs/X, #/definitions/X) → the referenced schema; then by "type" (a list of types
 * means its first that is not "null"; no type means object when there are properties, array
 * when there are items, else string):
 *   string  "<name>-<k+1>", padded or cut to minLength/maxLength
 *   integer k+1, number k+1.5, both clamped into minimum/maximum (exclusive bounds step in)
 *   boolean true; null null
 *   array   one element of the items schema (minItems elements when that is more)
 *   object  every property named in "required", recursively; {} when none
 * Recursion stops at depth 12 (a null), so cyclic $refs terminate. */
#include "schema.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "xalloc.h"

#define MAX_DEPTH 12

struct ctx {
    const json_t *root; /* for $ref */
    int k;
};

static json_t *example(const struct ctx *cx, const json_t *s, const char *name, int depth);

static const json_t *resolve_ref(const struct ctx *cx, const char *ref)
{
    static const char *prefixes[] = {"#/$defs/", "#/definitions/"};
    for (size_t i = 0; i < 2; i++) {
        size_t n = strlen(prefixes[i]);
        if (strncmp(ref, prefixes[i], n) == 0) {
            const json_t *defs = json_object_get(cx->root, i == 0 ? "$defs" : "definitions");
            return json_object_get(defs, ref + n);
        }
    }
    if (strcmp(ref, "#") == 0)
        return cx->root;
    return NULL;
}

static const char *schema_type(const json_t *s)
{
    const json_t *t = json_object_get(s, "type");
    if (json_is_string(t))
        return json_string_value(t);
    if (json_is_array(t)) {
        size_t i;
        const json_t *v;
        json_array_foreach (t, i, v)
            if (json_is_string(v) && strcmp(json_string_value(v), "null") != 0)
                return json_string_value(v);
        if (json_array_size(t) > 0 && json_is_string(json_array_get(t, 0)))
            return json_string_value(json_array_get(t, 0));
    }
    if (json_object_get(s, "properties"))
        return "object";
    if (json_object_get(s, "items"))
        return "array";
    return "string";
}

/* A number from the schema, or fallback. */
static double num(const json_t *s, const char *key, double fallback)
{
    const json_t *v = json_object_get(s, key);
    return json_is_number(v) ? json_number_value(v) : fallback;
}

static double clamp_number(const json_t *s, double v, double step)
{
    const json_t *xmin = json_object_get(s, "exclusiveMinimum"),
                 *xmax = json_object_get(s, "exclusiveMaximum");
    double lo = num(s, "minimum", -INFINITY), hi = num(s, "maximum", INFINITY);
    if (json_is_number(xmin) && json_number_value(xmin) + step > lo)
        lo = json_number_value(xmin) + step;
    if (json_is_number(xmax) && json_number_value(xmax) - step < hi)
        hi = json_number_value(xmax) - step;
    if (v > hi)
        v = hi;
    if (v < lo)
        v = lo;
    return v;
}

static json_t *example_string(const json_t *s, const char *name, int k)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s-%d", name && *name ? name : "value", k + 1);
    double maxl = num(s, "maxLength", -1), minl = num(s, "minLength", 0);
    size_t len = strlen(buf);
    if (minl > (double)len) {
        size_t want = minl < (double)sizeof buf - 1 ? (size_t)minl : sizeof buf - 1;
        memset(buf + len, 'x', want - len);
        buf[want] = '\0';
        len = want;
    }
    if (maxl >= 0 && (double)len > maxl)
        buf[(size_t)maxl] = '\0';
    json_t *j = json_string(buf);
    return j ? j : json_string("value"); /* a cut that split a UTF-8 name */
}

static json_t *example_object(const struct ctx *cx, const json_t *s, int depth)
{
    json_t *o = json_object();
    const json_t *props = json_object_get(s, "properties");
    const json_t *req = json_object_get(s, "required");
    size_t i;
    const json_t *r;
    json_array_foreach (req, i, r) {
        if (!json_is_string(r))
            continue;
        const char *pname = json_string_value(r);
        const json_t *ps = json_object_get(props, pname);
        json_object_set_new(o, pname, example(cx, ps, pname, depth + 1));
    }
    return o;
}

static json_t *example(const struct ctx *cx, const json_t *s, const char *name, int depth)
{
    if (depth > MAX_DEPTH)
        return json_null();
    if (!json_is_object(s))
        return example_string(NULL, name, cx->k); /* a property without a schema */
    const json_t *v;
    if ((v = json_object_get(s, "const")))
        return json_deep_copy(v);
    if ((v = json_object_get(s, "enum")) && json_is_array(v) && json_array_size(v) > 0)
        return json_deep_copy(json_array_get(v, 0));
    static const char *combiners[] = {"anyOf", "oneOf", "allOf"};
    for (size_t i = 0; i < 3; i++) {
        v = json_object_get(s, combiners[i]);
        if (json_is_array(v) && json_array_size(v) > 0 && !json_object_get(s, "type")) {
            /* prefer an alternative that is not {"type":"null"} */
            size_t j;
            const json_t *alt;
            json_array_foreach (v, j, alt)
                if (!json_is_object(alt) || strcmp(schema_type(alt), "null") != 0)
                    return example(cx, alt, name, depth + 1);
            return example(cx, json_array_get(v, 0), name, depth + 1);
        }
    }
    if ((v = json_object_get(s, "$ref")) && json_is_string(v)) {
        const json_t *target = resolve_ref(cx, json_string_value(v));
        if (target)
            return example(cx, target, name, depth + 1);
    }
    const char *t = schema_type(s);
    if (strcmp(t, "integer") == 0)
        return json_integer((json_int_t)clamp_number(s, cx->k + 1, 1));
    if (strcmp(t, "number") == 0)
        return json_real(clamp_number(s, cx->k + 1.5, 0.5));
    if (strcmp(t, "boolean") == 0)
        return json_true();
    if (strcmp(t, "null") == 0)
        return json_null();
    if (strcmp(t, "array") == 0) {
        json_t *a = json_array();
        double minitems = num(s, "minItems", 1);
        size_t n = minitems > 1 ? (minitems < 16 ? (size_t)minitems : 16) : 1;
        if (num(s, "maxItems", 1) < 1)
            n = 0;
        const json_t *items = json_object_get(s, "items");
        for (size_t i = 0; i < n; i++)
            json_array_append_new(a, example(cx, items, name, depth + 1));
        return a;
    }
    if (strcmp(t, "object") == 0)
        return example_object(cx, s, depth);
    return example_string(s, name, cx->k);
}

json_t *schema_arguments(const json_t *parameters, int k)
{
    struct ctx cx = {.root = parameters, .k = k};
    if (!json_is_object(parameters))
        return json_object();
    json_t *args = example_object(&cx, parameters, 0);
    return args;
}
