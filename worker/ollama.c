/* ollama: the discovery requests, chained on one struct ollama_probe: /api/version, /api/tags,
 * /api/ps, then /api/show for each model whose digest has no settings in the cache yet (a few
 * per probe).
 * The cache (digest -> settings) is copied from the previous probe's info at the start, so a
 * model is shown once per digest however often the worker probes (every heartbeat), and a new
 * digest (the model was pulled again) is shown again. Version and tags are required; ps and show
 * are best effort: an old Ollama without them, or one failing, leaves them out. */
#include "ollama.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "xalloc.h"

struct ollama_probe {
    struct http *http;
    char *base;
    ollama_probe_fn *cb;
    void *arg;
    struct ollama_info *info;
    json_t *to_show;  /* array of [name, digest] still to ask /api/show about */
    size_t show_next;
    struct http_req *req; /* the request in flight (NULL inside its on_done) */
};

static void probe_end(struct ollama_probe *p, const char *err)
{
    struct ollama_info *info = err ? NULL : p->info;
    if (err)
        ollama_info_free(p->info);
    json_decref(p->to_show);
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

static void get(struct ollama_probe *p, const char *path, http_done_fn *done)
{
    char url[1100];
    snprintf(url, sizeof url, "%s%s", p->base, path);
    struct http_opts o = {.url = url, .connect_timeout_ms = 3000, .total_timeout_s = 10,
                          .max_body = 8u << 20, .on_done = done, .arg = p};
    p->req = http_submit(p->http, &o);
}

/* ---- /api/show settings ---- */

json_t *ollama_parse_parameters(const char *text)
{
    json_t *out = json_object();
    const char *line = text ? text : "";
    while (*line) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        const char *k = line, *kend = line;
        while (kend < line + len && !isspace((unsigned char)*kend))
            kend++;
        const char *v = kend;
        while (v < line + len && isspace((unsigned char)*v))
            v++;
        const char *vend = line + len;
        while (vend > v && isspace((unsigned char)vend[-1]))
            vend--;
        if (vend - v >= 2 && *v == '"' && vend[-1] == '"')
            v++, vend--;
        size_t klen = (size_t)(kend - k), vlen = (size_t)(vend - v);
        if (klen > 0 && klen < 64) {
            char key[64], val[OLLAMA_MAX_PARAM_LEN + 1];
            memcpy(key, k, klen);
            key[klen] = '\0';
            if (vlen > OLLAMA_MAX_PARAM_LEN)
                vlen = OLLAMA_MAX_PARAM_LEN;
            memcpy(val, v, vlen);
            val[vlen] = '\0';
            char *num_end;
            errno = 0;
            double d = strtod(val, &num_end);
            json_t *jv;
            /* only plain decimal numbers: strtod also takes "inf", "nan" and hex */
            if (vlen && *num_end == '\0' && errno == 0 && strspn(val, "+-0123456789.eE") == vlen)
                jv = strpbrk(val, ".eE") ? json_real(d) : json_integer((json_int_t)strtoll(val, NULL, 10));
            else
                jv = json_string(val);
            json_t *cur = json_object_get(out, key);
            if (!cur && json_object_size(out) < OLLAMA_MAX_PARAMS) {
                json_object_set_new(out, key, jv);
            } else if (cur && json_is_array(cur) && json_array_size(cur) < OLLAMA_MAX_PARAMS) {
                json_array_append_new(cur, jv);
            } else if (cur && !json_is_array(cur)) {
                json_object_set_new(out, key, json_pack("[O,o]", cur, jv));
            } else {
                json_decref(jv);
            }
        }
        line = end ? end + 1 : line + len;
    }
    return out;
}

long long ollama_show_context_length(json_t *show)
{
    json_t *mi = json_object_get(show, "model_info");
    const char *arch = json_string_value(json_object_get(mi, "general.architecture"));
    if (arch) {
        char key[128];
        snprintf(key, sizeof key, "%s.context_length", arch);
        json_t *v = json_object_get(mi, key);
        if (json_is_integer(v))
            return (long long)json_integer_value(v);
    }
    const char *k;
    json_t *v;
    json_object_foreach(mi, k, v) {
        size_t n = strlen(k);
        if (n > 15 && !strcmp(k + n - 15, ".context_length") && json_is_integer(v))
            return (long long)json_integer_value(v);
    }
    return -1;
}

/* Puts each model's cached settings on its entry and drops the cache entries of digests that
 * are gone, so the cache stays as small as the model list. */
static void merge_shows(struct ollama_info *info)
{
    json_t *keep = json_object();
    size_t i;
    json_t *m;
    json_array_foreach(info->models, i, m) {
        const char *digest = json_string_value(json_object_get(m, "digest"));
        json_t *set = digest ? json_object_get(info->shows, digest) : NULL;
        if (!set)
            continue;
        json_object_update(m, set);
        json_object_set(keep, digest, set);
    }
    json_decref(info->shows);
    info->shows = keep;
}

static void show_next(struct ollama_probe *p);

static void on_show(struct http_req *req, void *arg)
{
    struct ollama_probe *p = arg;
    p->req = NULL; /* freed once this returns */
    char err[256];
    json_t *pair = json_array_get(p->to_show, p->show_next - 1);
    json_t *j = body_json(req, "/api/show", err, sizeof err);
    if (j) {
        long long ctx = ollama_show_context_length(j);
        json_t *set = json_pack("{s:o, s:o}", "context_length", ctx >= 0 ? json_integer(ctx) : json_null(),
                                "parameters", ollama_parse_parameters(json_string_value(json_object_get(j, "parameters"))));
        json_object_set_new(p->info->shows, json_string_value(json_array_get(pair, 1)), set);
        json_decref(j);
    }
    /* A failed show is asked again at the next probe; it never fails this one. */
    show_next(p);
}

static void show_next(struct ollama_probe *p)
{
    if (p->show_next >= json_array_size(p->to_show)) {
        merge_shows(p->info);
        probe_end(p, NULL);
        return;
    }
    json_t *pair = json_array_get(p->to_show, p->show_next++);
    json_t *body = json_pack("{s:O}", "model", json_array_get(pair, 0));
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    char url[1100];
    snprintf(url, sizeof url, "%s/api/show", p->base);
    struct http_opts o = {.url = url, .method = "POST", .body = text, .body_len = strlen(text),
                          .connect_timeout_ms = 3000, .total_timeout_s = 10, .max_body = 8u << 20,
                          .on_done = on_show, .arg = p};
    p->req = http_submit(p->http, &o);
    free(text);
}

/* ---- /api/ps, /api/tags, /api/version ---- */

static void on_ps(struct http_req *req, void *arg)
{
    struct ollama_probe *p = arg;
    p->req = NULL; /* freed once this returns */
    char err[256];
    json_t *j = body_json(req, "/api/ps", err, sizeof err);
    json_t *models = json_object_get(j, "models");
    if (json_is_array(models)) {
        static const char *const keep[] = {"name", "digest", "context_length", "size", "size_vram", "expires_at"};
        p->info->ps = json_array();
        size_t i;
        json_t *m;
        json_array_foreach(models, i, m) {
            if (i == OLLAMA_MAX_MODELS)
                break;
            json_t *e = json_object();
            for (size_t k = 0; k < sizeof keep / sizeof keep[0]; k++) {
                json_t *v = json_object_get(m, keep[k]);
                if (v && (json_is_string(v) || json_is_integer(v)))
                    json_object_set(e, keep[k], v);
            }
            json_array_append_new(p->info->ps, e);
        }
    }
    json_decref(j);
    /* The models to show: those whose digest the cache lacks, a few per probe. */
    p->to_show = json_array();
    size_t i;
    json_t *m;
    json_array_foreach(p->info->models, i, m) {
        const char *digest = json_string_value(json_object_get(m, "digest"));
        if (i == OLLAMA_MAX_SHOWN || json_array_size(p->to_show) == OLLAMA_SHOWS_PER_PROBE)
            break;
        if (digest && *digest && !json_object_get(p->info->shows, digest))
            json_array_append_new(p->to_show, json_pack("[O,s]", json_object_get(m, "name"), digest));
    }
    show_next(p);
}

static void on_tags(struct http_req *req, void *arg)
{
    struct ollama_probe *p = arg;
    p->req = NULL; /* freed once this returns */
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
        if (name && json_array_size(p->info->models) < OLLAMA_MAX_MODELS)
            json_array_append_new(p->info->models, json_pack("{s:s, s:s}", "name", name, "digest", digest ? digest : ""));
    }
    json_decref(j);
    get(p, "/api/ps", on_ps);
}

static void on_version(struct http_req *req, void *arg)
{
    struct ollama_probe *p = arg;
    p->req = NULL; /* freed once this returns */
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

struct ollama_probe *ollama_probe(struct http *http, const char *base_url, const struct ollama_info *prev,
                                  ollama_probe_fn *cb, void *arg)
{
    struct ollama_probe *p = xcalloc(1, sizeof *p);
    p->http = http;
    p->base = xstrdup(base_url);
    size_t n = strlen(p->base);
    while (n && p->base[n - 1] == '/')
        p->base[--n] = '\0';
    p->cb = cb;
    p->arg = arg;
    p->info = xcalloc(1, sizeof *p->info);
    p->info->models = json_array();
    p->info->shows = prev && prev->shows ? json_deep_copy(prev->shows) : json_object();
    get(p, "/api/version", on_version);
    return p;
}

void ollama_probe_cancel(struct ollama_probe *p)
{
    if (!p)
        return;
    if (p->req)
        http_cancel(p->req);
    ollama_info_free(p->info);
    json_decref(p->to_show);
    free(p->base);
    free(p);
}

void ollama_info_free(struct ollama_info *info)
{
    if (!info)
        return;
    json_decref(info->models);
    json_decref(info->ps);
    json_decref(info->shows);
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
        /* Ollama finds a model whatever the case of its name ("Qwen3:8B" is qwen3:8b). */
        if (name && (!strcasecmp(name, model) || !strcasecmp(name, full)))
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
