/* ollama: the two discovery requests, chained: /api/version, then /api/tags. */
#include "ollama.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

struct probe {
    struct http *http;
    char *base;
    ollama_probe_fn *cb;
    void *arg;
    struct ollama_info *info;
};

static void probe_end(struct probe *p, const char *err)
{
    struct ollama_info *info = err ? NULL : p->info;
    if (err)
        ollama_info_free(p->info);
    p->cb(info, err, p->arg);
    free(p->base);
    free(p);
}

static json_t *body_json(struct http_req *req, const char *what, char *err, size_t errsize)
{
    if (http_req_failed(req)) {
        snprintf(err, errsize, "%s: %s", what, http_req_error(req));
        return NULL;
    }
    if (http_req_status(req) != 200) {
        snprintf(err, errsize, "%s: HTTP %ld", what, http_req_status(req));
        return NULL;
    }
    size_t len;
    const char *body = http_req_body(req, &len);
    json_t *j = json_loadb(body, len, 0, NULL);
    if (!json_is_object(j)) {
        json_decref(j);
        snprintf(err, errsize, "%s: the answer is not a JSON object", what);
        return NULL;
    }
    return j;
}

static void on_tags(struct http_req *req, void *arg)
{
    struct probe *p = arg;
    char err[256];
    json_t *j = body_json(req, "/api/tags", err, sizeof err);
    if (!j) {
        probe_end(p, err);
        return;
    }
    json_t *models = json_object_get(j, "models");
    size_t i;
    json_t *m;
    json_array_foreach(models, i, m) {
        const char *name = json_string_value(json_object_get(m, "name"));
        const char *digest = json_string_value(json_object_get(m, "digest"));
        if (name)
            json_array_append_new(p->info->models, json_pack("{s:s, s:s}", "name", name, "digest", digest ? digest : ""));
    }
    json_decref(j);
    probe_end(p, NULL);
}

static void get(struct probe *p, const char *path, http_done_fn *done)
{
    char url[1100];
    snprintf(url, sizeof url, "%s%s", p->base, path);
    struct http_opts o = {.url = url, .connect_timeout_ms = 3000, .total_timeout_s = 10,
                          .max_body = 8u << 20, .on_done = done, .arg = p};
    http_submit(p->http, &o);
}

static void on_version(struct http_req *req, void *arg)
{
    struct probe *p = arg;
    char err[256];
    json_t *j = body_json(req, "/api/version", err, sizeof err);
    if (!j) {
        probe_end(p, err);
        return;
    }
    snprintf(p->info->version, sizeof p->info->version, "%s", json_string_value(json_object_get(j, "version")) ?: "");
    json_decref(j);
    get(p, "/api/tags", on_tags);
}

void ollama_probe(struct http *http, const char *base_url, ollama_probe_fn *cb, void *arg)
{
    struct probe *p = xcalloc(1, sizeof *p);
    p->http = http;
    p->base = xstrdup(base_url);
    size_t n = strlen(p->base);
    while (n && p->base[n - 1] == '/')
        p->base[--n] = '\0';
    p->cb = cb;
    p->arg = arg;
    p->info = xcalloc(1, sizeof *p->info);
    p->info->models = json_array();
    get(p, "/api/version", on_version);
}

void ollama_info_free(struct ollama_info *info)
{
    if (!info)
        return;
    json_decref(info->models);
    free(info);
}

const char *ollama_info_digest(const struct ollama_info *info, const char *model)
{
    if (!info)
        return NULL;
    char full[300];
    snprintf(full, sizeof full, "%s%s", model, strchr(model, ':') ? "" : ":latest");
    size_t i;
    json_t *m;
    json_array_foreach(info->models, i, m) {
        const char *name = json_string_value(json_object_get(m, "name"));
        if (name && (!strcmp(name, model) || !strcmp(name, full)))
            return json_string_value(json_object_get(m, "digest"));
    }
    return NULL;
}
