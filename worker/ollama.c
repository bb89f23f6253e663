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

/* ---- Box health ---- */

struct ollama_health {
    struct http_req *req;
    ollama_health_fn *cb;
    void *arg;
};

static void on_health(struct http_req *req, void *arg)
{
    struct ollama_health *hc = arg;
    char err[300] = "";
    json_t *j = NULL;
    if (http_req_failed(req))
        snprintf(err, sizeof err, "%s", http_req_error(req));
    else {
        size_t len;
        const char *body = http_req_body(req, &len);
        j = json_loadb(body, len, 0, NULL);
        if (http_req_status(req) != 200)
            snprintf(err, sizeof err, "HTTP %ld%s%s", http_req_status(req), json_is_string(json_object_get(j, "error")) ? ": " : "",
                     json_string_value(json_object_get(j, "error")) ?: "");
        else if (!json_is_true(json_object_get(j, "done")))
            snprintf(err, sizeof err, "the answer is not a finished chat reply");
    }
    json_decref(j);
    ollama_health_fn *cb = hc->cb;
    void *cb_arg = hc->arg;
    free(hc);
    cb(err[0] == '\0', err, cb_arg);
}

struct ollama_health *ollama_health_start(struct http *http, const char *base_url, const char *model,
                                          json_t *options, json_t *keep_alive, double timeout_s,
                                          ollama_health_fn *cb, void *arg)
{
    struct ollama_health *hc = xcalloc(1, sizeof *hc);
    hc->cb = cb;
    hc->arg = arg;
    json_t *opts = options ? json_deep_copy(options) : json_object();
    json_object_set_new(opts, "num_predict", json_integer(1));
    json_t *body = json_pack("{s:s, s:[{s:s, s:s}], s:b, s:o}", "model", model, "messages", "role", "user",
                             "content", "ping", "stream", 0, "options", opts);
    if (keep_alive)
        json_object_set(body, "keep_alive", keep_alive);
    char *text = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(body);
    char url[1100];
    snprintf(url, sizeof url, "%s/api/chat", base_url);
    const char *headers[] = {"X-Turnq-Health: 1", NULL};
    struct http_opts o = {.url = url, .method = "POST", .body = text, .body_len = strlen(text), .headers = headers,
                          .connect_timeout_ms = 5000, .total_timeout_s = timeout_s, .max_body = 1u << 20,
                          .on_done = on_health, .arg = hc};
    hc->req = http_submit(http, &o);
    free(text);
    return hc;
}

void ollama_health_cancel(struct ollama_health *hc)
{
    if (!hc)
        return;
    http_cancel(hc->req);
    free(hc);
}
