/* modeltab: rows of machine, model, digest and version, compared and printed. Rows are jansson
 * objects so that one table serves the text output, status --json and the job hash field
 * mixed_digests (the table as JSON) alike. */
#include "modeltab.h"

#include <string.h>
#include <strings.h>

#include "disp.h"

void modeltab_norm(const char *model, char *out, size_t n)
{
    const char *slash = strrchr(model, '/');
    const char *colon = strrchr(slash ? slash : model, ':');
    snprintf(out, n, "%s%s", model, colon ? "" : ":latest");
}

bool modeltab_has_list(json_t *hb)
{
    return json_is_array(json_object_get(json_object_get(hb, "ollama"), "models"));
}

const char *modeltab_digest(json_t *hb, const char *model)
{
    char want[MODELTAB_NAME_MAX], have[MODELTAB_NAME_MAX];
    modeltab_norm(model, want, sizeof want);
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(json_object_get(hb, "ollama"), "models"), i, m) {
        const char *name = json_string_value(json_object_get(m, "name"));
        if (!name)
            continue;
        modeltab_norm(name, have, sizeof have);
        /* Ollama finds a model whatever the case of its name ("Qwen3:8B" is qwen3:8b). */
        if (!strcasecmp(have, want))
            return json_string_value(json_object_get(m, "digest"));
    }
    return NULL;
}

const char *modeltab_version(json_t *hb)
{
    return json_string_value(json_object_get(json_object_get(hb, "ollama"), "version"));
}

json_t *modeltab_rows(const char *model, const char *const *machines, json_t *const *hbs, size_t n)
{
    char norm[MODELTAB_NAME_MAX];
    modeltab_norm(model, norm, sizeof norm);
    json_t *rows = json_array();
    for (size_t i = 0; i < n; i++) {
        if (!modeltab_has_list(hbs[i]))
            continue;
        const char *digest = modeltab_digest(hbs[i], norm);
        const char *version = modeltab_version(hbs[i]);
        json_array_append_new(rows, json_pack("{s:s, s:s, s:o, s:o}", "machine", machines[i], "model", norm, "digest",
                                              digest ? json_string(digest) : json_null(), "version",
                                              version ? json_string(version) : json_null()));
    }
    return rows;
}

static bool differ(json_t *rows, const char *key, bool null_differs)
{
    const char *first = NULL;
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r) {
        const char *v = json_string_value(json_object_get(r, key));
        if (!v) {
            if (null_differs)
                return true;
            continue;
        }
        if (!first)
            first = v;
        else if (strcmp(first, v))
            return true;
    }
    return false;
}

bool modeltab_disagree(json_t *rows)
{
    return differ(rows, "digest", true);
}

bool modeltab_versions_differ(json_t *rows)
{
    return differ(rows, "version", false);
}

static int row_cmp(json_t *a, json_t *b)
{
    int c = strcmp(json_string_value(json_object_get(a, "model")), json_string_value(json_object_get(b, "model")));
    return c ? c : strcmp(json_string_value(json_object_get(a, "machine")), json_string_value(json_object_get(b, "machine")));
}

void modeltab_merge(json_t *into, json_t *rows)
{
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r) {
        size_t at = 0, n = json_array_size(into);
        int c = 1;
        while (at < n && (c = row_cmp(json_array_get(into, at), r)) < 0)
            at++;
        if (at < n && c == 0)
            continue; /* that machine and model are in already */
        json_array_insert(into, at, r);
    }
}

void modeltab_short(const char *digest, char out[MODELTAB_SHORT + 1])
{
    if (!strncmp(digest, "sha256:", 7))
        digest += 7;
    snprintf(out, MODELTAB_SHORT + 1, "%s", digest);
}

/* The four cells of a row as printed: the digest shortened into sh, and every cell on one line
 * (disp_one_line: the names and version come from the machines' heartbeats). */
static void cells_raw(json_t *r, char sh[MODELTAB_SHORT + 1], const char *v[4]);
static void cells(json_t *r, char sh[MODELTAB_SHORT + 1], const char *v[4])
{
    static char buf[4][128];
    cells_raw(r, sh, v);
    for (int k = 0; k < 4; k++)
        v[k] = disp_one_line(v[k], buf[k], sizeof buf[k]);
}

static void cells_raw(json_t *r, char sh[MODELTAB_SHORT + 1], const char *v[4])
{
    const char *dg = json_string_value(json_object_get(r, "digest"));
    const char *ver = json_string_value(json_object_get(r, "version"));
    if (dg)
        modeltab_short(dg, sh);
    v[0] = json_string_value(json_object_get(r, "machine"));
    v[1] = json_string_value(json_object_get(r, "model"));
    v[2] = dg ? sh : "(missing)";
    v[3] = ver ? ver : "?";
    for (int k = 0; k < 2; k++)
        if (!v[k])
            v[k] = "?";
}

void modeltab_print(FILE *f, json_t *rows, const char *indent)
{
    static const char *const head[4] = {"MACHINE", "MODEL", "DIGEST", "VERSION"};
    int w[4];
    for (int k = 0; k < 4; k++)
        w[k] = (int)strlen(head[k]);
    size_t i;
    json_t *r;
    char sh[MODELTAB_SHORT + 1];
    const char *v[4];
    json_array_foreach(rows, i, r) {
        cells(r, sh, v);
        for (int k = 0; k < 4; k++)
            if ((int)strlen(v[k]) > w[k])
                w[k] = (int)strlen(v[k]);
    }
    fprintf(f, "%s%-*s  %-*s  %-*s  %s\n", indent, w[0], head[0], w[1], head[1], w[2], head[2], head[3]);
    json_array_foreach(rows, i, r) {
        cells(r, sh, v);
        fprintf(f, "%s%-*s  %-*s  %-*s  %s\n", indent, w[0], v[0], w[1], v[1], w[2], v[2], v[3]);
    }
}
