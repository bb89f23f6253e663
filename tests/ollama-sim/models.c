/* models: the installed-model table. Everything about a model is derived from its name, so two
 * sims started with the same --models agree byte for byte: the digest is a 4-word hash chain of
 * the canonical name (hash.c) unless --models gives one; family, architecture and trained
 * context come from a small table of known name prefixes; parameter size from the tag ("8b");
 * modified_at steps back an hour per position so /api/tags (newest first) keeps --models order.
 *
 * Load state follows Ollama's scheduler closely enough for a client to observe it: a model is
 * loaded by its first call (or a preload), stays while calls use it (refs > 0) and for
 * keep_alive after the last one, and is reloaded, paying --load-ms again, when a call needs
 * other runner options (num_ctx, num_batch, ...: "sig"), as Ollama's needsReload does. */
#include "models.h"

#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gocompat.h"
#include "hash.h"
#include "xalloc.h"

#define MAX_MODELS 64
#define MAX_NAME 256
#define DIGEST_HEX 64
#define DEFAULT_CTX 4096
#define BASE_MTIME 1759320000.0 /* 2025-10-01T12:00:00Z: the newest --models entry */

struct model {
    char *name;                   /* canonical, "qwen3:8b" or "ns/model:tag"; owned */
    char *host, *ns, *base, *tag; /* parsed parts, lower case; owned */
    char digest[DIGEST_HEX + 1];
    const char *family; /* "qwen3"; static or owned in family_buf */
    char family_buf[64];
    int ctx_train;       /* trained context length (model_info <arch>.context_length) */
    double params_b;     /* parameters, in billions */
    char param_size[24]; /* "8B" */
    int64_t size;        /* bytes */
    double modified_at;  /* seconds since the epoch */
    /* load state */
    int loaded;          /* a runner exists (it may still be loading) */
    double ready_at;     /* when the load completes */
    char *sig;           /* runner options it was loaded with; owned */
    int ctx_len;         /* num_ctx it was loaded with */
    int refs;            /* calls in flight */
    double keep_alive_s; /* of the last call; INFINITY means forever */
    double expires_at;   /* unload time once refs == 0 */
};

struct models {
    struct model *v; /* owned array */
    size_t n;
};

static const struct {
    const char *prefix, *family;
    int ctx;
} known[] = {
    {"qwen3", "qwen3", 40960},        {"qwen2.5", "qwen2", 32768},   {"qwen2", "qwen2", 32768},
    {"llama", "llama", 131072},       {"mistral", "llama", 32768},   {"gemma3", "gemma3", 131072},
    {"gemma2", "gemma2", 8192},       {"gpt-oss", "gptoss", 131072}, {"phi", "phi3", 131072},
    {"deepseek-r1", "qwen2", 131072},
};

/* ---- Names ---- */

static int part_ok(const char *s, size_t n, int allow_colon)
{
    if (n == 0 || n > 128 || !isalnum((unsigned char)s[0]))
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(isalnum(c) || c == '_' || c == '.' || c == '-' || (allow_colon && c == ':')))
            return 0;
    }
    return 1;
}

/* Splits [host/][ns/]model[:tag] into lower-cased owned parts with Ollama's defaults. */
static int name_parse(const char *name, char **host, char **ns, char **base, char **tag)
{
    size_t len = strlen(name);
    if (len == 0 || len > MAX_NAME)
        return -1;
    const char *slash = strrchr(name, '/');
    const char *colon = strrchr(name, ':');
    const char *tag_s = "latest";
    size_t tag_n = 6;
    size_t path_n = len;
    if (colon && (!slash || colon > slash)) {
        tag_s = colon + 1;
        tag_n = strlen(tag_s);
        path_n = (size_t)(colon - name);
        if (!part_ok(tag_s, tag_n, 0) || tag_n > 80)
            return -1;
    }
    const char *parts[3];
    size_t plen[3];
    int np = 0;
    const char *p = name, *end = name + path_n;
    for (;;) {
        const char *q = memchr(p, '/', (size_t)(end - p));
        if (np == 3)
            return -1; /* more than host/namespace/model */
        parts[np] = p;
        plen[np] = (size_t)((q ? q : end) - p);
        np++;
        if (!q)
            break;
        p = q + 1;
    }
    const char *h = "registry.ollama.ai", *n = "library";
    size_t hl = strlen(h), nl = strlen(n);
    const char *b = parts[np - 1];
    size_t bl = plen[np - 1];
    if (np == 3) {
        h = parts[0], hl = plen[0];
        n = parts[1], nl = plen[1];
        if (!part_ok(h, hl, 1))
            return -1;
    } else if (np == 2) {
        n = parts[0], nl = plen[0];
    }
    if (!part_ok(n, nl, 0) || !part_ok(b, bl, 0))
        return -1;
    *host = xstrndup(h, hl);
    *ns = xstrndup(n, nl);
    *base = xstrndup(b, bl);
    *tag = xstrndup(tag_s, tag_n);
    char *all[] = {*host, *ns, *base, *tag};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        for (char *c = all[i]; *c; c++)
            *c = (char)tolower((unsigned char)*c);
    return 0;
}

int models_name_valid(const char *name)
{
    char *h, *n, *b, *t;
    if (name_parse(name, &h, &n, &b, &t) != 0)
        return -1;
    free(h), free(n), free(b), free(t);
    return 0;
}

static void model_derive(struct model *m, size_t index)
{
    if (strcmp(m->host, "registry.ollama.ai") == 0 && strcmp(m->ns, "library") == 0)
        m->name = xasprintf("%s:%s", m->base, m->tag);
    else if (strcmp(m->host, "registry.ollama.ai") == 0)
        m->name = xasprintf("%s/%s:%s", m->ns, m->base, m->tag);
    else
        m->name = xasprintf("%s/%s/%s:%s", m->host, m->ns, m->base, m->tag);
    m->family = NULL;
    m->ctx_train = 32768;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (strncmp(m->base, known[i].prefix, strlen(known[i].prefix)) == 0) {
            m->family = known[i].family;
            m->ctx_train = known[i].ctx;
            break;
        }
    }
    if (!m->family) {
        size_t o = 0;
        for (const char *c = m->base; *c && o < sizeof m->family_buf - 1; c++)
            if (isalnum((unsigned char)*c))
                m->family_buf[o++] = *c;
        m->family_buf[o] = '\0';
        m->family = m->family_buf;
    }
    /* "8b", "0.6b", "70b-instruct-q4": the leading number is the size in billions */
    char *end;
    double v = strtod(m->tag, &end);
    if (end != m->tag && (*end == 'b' || *end == 'm') && v > 0 && v < 10000) {
        m->params_b = *end == 'm' ? v / 1000 : v;
        snprintf(m->param_size, sizeof m->param_size, "%g%c", v, toupper((unsigned char)*end));
    } else {
        m->params_b = 8;
        snprintf(m->param_size, sizeof m->param_size, "8B");
    }
    uint64_t h = hash_mix(hash_fnv1a(HASH_SEED, m->name, strlen(m->name)));
    m->size = (int64_t)(m->params_b * 0.62e9) + (int64_t)(h % 100000000ULL);
    m->modified_at = BASE_MTIME - 3600.0 * (double)index;
    m->keep_alive_s = 300;
}

struct models *models_new(const char *spec, char err[ERR_LEN])
{
    struct models *ms = xcalloc(1, sizeof *ms);
    ms->v = xcalloc(MAX_MODELS, sizeof *ms->v);
    char *copy = xstrdup(spec);
    char *save = NULL;
    if (*spec == '\0' || spec[strlen(spec) - 1] == ',' || *spec == ',' || strstr(spec, ",,")) {
        set_err(err, "--models: empty entry in '%s'", spec);
        goto fail;
    }
    for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        if (ms->n == MAX_MODELS) {
            set_err(err, "--models: more than %d models", MAX_MODELS);
            goto fail;
        }
        char *at = strchr(item, '@');
        if (at)
            *at++ = '\0';
        struct model *m = &ms->v[ms->n];
        if (name_parse(item, &m->host, &m->ns, &m->base, &m->tag) != 0) {
            set_err(err, "--models: '%s' is not a valid model name", item);
            goto fail;
        }
        ms->n++;
        model_derive(m, ms->n - 1);
        if (at) {
            size_t dl = strlen(at);
            if (dl == 0 || dl > DIGEST_HEX || strspn(at, "0123456789abcdefABCDEF") != dl) {
                set_err(err, "--models: digest of '%s' must be 1 to %d hex digits", item, DIGEST_HEX);
                goto fail;
            }
            for (size_t i = 0; i <= dl; i++)
                m->digest[i] = (char)tolower((unsigned char)at[i]);
        } else {
            hash_hex(m->name, 4, m->digest);
        }
        for (size_t i = 0; i + 1 < ms->n; i++) {
            if (strcmp(ms->v[i].name, m->name) == 0) {
                set_err(err, "--models: '%s' is listed twice", m->name);
                goto fail;
            }
        }
    }
    free(copy);
    return ms;
fail:
    free(copy);
    models_free(ms);
    return NULL;
}

void models_free(struct models *ms)
{
    if (!ms)
        return;
    for (size_t i = 0; i < ms->n; i++) {
        struct model *m = &ms->v[i];
        free(m->name), free(m->host), free(m->ns), free(m->base), free(m->tag), free(m->sig);
    }
    free(ms->v);
    free(ms);
}

struct model *models_find(struct models *ms, const char *name)
{
    char *h, *n, *b, *t;
    if (name_parse(name, &h, &n, &b, &t) != 0)
        return NULL;
    struct model *found = NULL;
    for (size_t i = 0; i < ms->n && !found; i++) {
        struct model *m = &ms->v[i];
        if (!strcmp(m->host, h) && !strcmp(m->ns, n) && !strcmp(m->base, b) && !strcmp(m->tag, t))
            found = m;
    }
    free(h), free(n), free(b), free(t);
    return found;
}

const char *models_name(const struct model *m)
{
    return m->name;
}
const char *models_digest(const struct model *m)
{
    return m->digest;
}
size_t models_count(const struct models *ms)
{
    return ms->n;
}
struct model *models_at(struct models *ms, size_t i)
{
    return i < ms->n ? &ms->v[i] : NULL;
}

/* ---- Load state ---- */

static int model_resident(const struct model *m, double now)
{
    return m->loaded && (m->refs > 0 || now < m->expires_at);
}

double models_acquire(struct model *m, const char *sig, int ctx, double keep_alive_s, double now,
                      double load_s)
{
    if (!model_resident(m, now) || !m->sig || strcmp(m->sig, sig) != 0) {
        m->loaded = 1;
        m->ready_at = now + load_s;
        free(m->sig);
        m->sig = xstrdup(sig);
        m->ctx_len = ctx;
    }
    m->refs++;
    m->keep_alive_s = keep_alive_s;
    m->expires_at = now + keep_alive_s;
    return m->ready_at > now ? m->ready_at : now;
}

void models_release(struct model *m, double now)
{
    if (m->refs > 0)
        m->refs--;
    m->expires_at = now + m->keep_alive_s;
}

void models_unload(struct model *m, double now)
{
    m->expires_at = now;
    m->keep_alive_s = 0;
    if (m->refs == 0)
        m->loaded = 0;
}

void models_evict(struct model *m, double now)
{
    (void)now;
    if (m->refs == 0)
        m->loaded = 0;
}

/* ---- JSON ---- */

static json_t *details_json(const struct model *m, int with_ctx)
{
    json_t *d = json_pack("{s:s, s:s, s:s, s:[s], s:s, s:s}", "parent_model", "", "format", "gguf", "family",
                          m->family, "families", m->family, "parameter_size", m->param_size,
                          "quantization_level", "Q4_K_M");
    if (with_ctx)
        json_object_set_new(d, "context_length", json_integer(m->ctx_train));
    return d;
}

json_t *models_tags_json(struct models *ms)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < ms->n; i++) {
        struct model *m = &ms->v[i];
        char mt[GOCOMPAT_TIME_LEN];
        gocompat_rfc3339nano_d(m->modified_at, mt);
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:I, s:s, s:o}", "name", m->name, "model",
                                             m->name, "modified_at", mt, "size", (json_int_t)m->size,
                                             "digest", m->digest, "details", details_json(m, 1)));
    }
    return json_pack("{s:o}", "models", arr);
}

static int by_expiry_desc(const void *a, const void *b)
{
    const struct model *x = *(struct model *const *)a, *y = *(struct model *const *)b;
    return (x->expires_at < y->expires_at) - (x->expires_at > y->expires_at);
}

json_t *models_ps_json(struct models *ms, double now)
{
    struct model *live[MAX_MODELS];
    size_t n = 0;
    for (size_t i = 0; i < ms->n; i++) {
        struct model *m = &ms->v[i];
        if (m->loaded && !model_resident(m, now))
            m->loaded = 0; /* keep_alive ran out */
        if (model_resident(m, now) && m->ready_at <= now)
            live[n++] = m;
    }
    qsort(live, n, sizeof live[0], by_expiry_desc);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        struct model *m = live[i];
        /* while in use the expiry is "now + keep_alive" after the call; forever is Go's
         * time.Now().Add(math.MaxInt64) */
        double exp = m->refs > 0 ? now + m->keep_alive_s : m->expires_at;
        if (isinf(exp) || exp > now + 9223372036.0)
            exp = now + 9223372036.0;
        char et[GOCOMPAT_TIME_LEN];
        gocompat_rfc3339nano_d(exp, et);
        json_array_append_new(arr, json_pack("{s:s, s:s, s:I, s:s, s:o, s:s, s:I, s:i}", "name", m->name,
                                             "model", m->name, "size", (json_int_t)m->size, "digest",
                                             m->digest, "details", details_json(m, 0), "expires_at", et,
                                             "size_vram", (json_int_t)m->size, "context_length",
                                             m->ctx_len > 0 ? m->ctx_len : DEFAULT_CTX));
    }
    return json_pack("{s:o}", "models", arr);
}

json_t *models_show_json(const struct model *m, int num_ctx)
{
    static const char tmpl[] =
        "{{- if .Messages }}\n{{- if or .System .Tools }}<|im_start|>system\n{{- if .System }}\n{{ .System "
        "}}\n"
        "{{- end }}\n{{- if .Tools }}\n\n# Tools\n\nYou may call one or more functions to assist with the "
        "user "
        "query.\n\n<tools>\n{{- range .Tools }}\n{\"type\": \"function\", \"function\": {{ .Function }}}\n"
        "{{- end }}\n</tools>\n{{- end }}<|im_end|>\n{{ end }}\n{{- range $i, $_ := .Messages }}\n"
        "<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}<|im_start|>assistant\n{{ end }}";
    /* `ollama show --parameters` layout: the name padded to 30, sorted by name */
    static const char params_tail[] = "repeat_penalty                 1\n"
                                 "stop                           \"<|im_start|>\"\n"
                                 "stop                           \"<|im_end|>\"\n"
                                 "temperature                    0.6\n"
                                 "top_k                          20\n"
                                 "top_p                          0.95";
    char *params = num_ctx > 0 ? xasprintf("num_ctx                        %d\n%s", num_ctx, params_tail)
                               : xstrdup(params_tail);
    char ctx_line[64] = "";
    if (num_ctx > 0)
        snprintf(ctx_line, sizeof ctx_line, "PARAMETER num_ctx %d\n", num_ctx);
    char *modelfile = xasprintf("# Modelfile generated by \"ollama show\"\n"
                                "# To build a new Modelfile based on this, replace FROM with:\n"
                                "# FROM %s\n\nFROM /var/lib/ollama-sim/blobs/sha256-%s\n"
                                "TEMPLATE \"\"\"%s\"\"\"\n%sPARAMETER repeat_penalty 1\n"
                                "PARAMETER stop <|im_start|>\nPARAMETER stop <|im_end|>\n"
                                "PARAMETER temperature 0.6\nPARAMETER top_k 20\nPARAMETER top_p 0.95\n",
                                m->name, m->digest, tmpl, ctx_line);
    /* model_info is a Go map: encoding/json writes its keys sorted */
    json_t *info = json_object();
    char key[128];
    snprintf(key, sizeof key, "%s.block_count", m->family);
    json_object_set_new(info, key, json_integer(36));
    snprintf(key, sizeof key, "%s.context_length", m->family);
    json_object_set_new(info, key, json_integer(m->ctx_train));
    snprintf(key, sizeof key, "%s.embedding_length", m->family);
    json_object_set_new(info, key, json_integer(4096));
    json_object_set_new(info, "general.architecture", json_string(m->family));
    json_object_set_new(info, "general.basename", json_string(m->base));
    json_object_set_new(info, "general.file_type", json_integer(15));
    json_object_set_new(info, "general.parameter_count", json_integer((json_int_t)(m->params_b * 1e9)));
    json_object_set_new(info, "general.quantization_version", json_integer(2));
    /* sort: the family-prefixed keys may sort after "general." */
    const char *keys[16];
    size_t nk = 0;
    const char *k;
    json_t *v;
    json_object_foreach (info, k, v)
        keys[nk++] = k;
    for (size_t i = 1; i < nk; i++)
        for (size_t j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0; j--) {
            const char *t = keys[j];
            keys[j] = keys[j - 1];
            keys[j - 1] = t;
        }
    json_t *sorted = json_object();
    for (size_t i = 0; i < nk; i++)
        json_object_set(sorted, keys[i], json_object_get(info, keys[i]));
    json_decref(info);
    char mt[GOCOMPAT_TIME_LEN];
    gocompat_rfc3339nano_d(m->modified_at, mt);
    json_t *show = json_pack("{s:s, s:s, s:s, s:o, s:o, s:[s,s], s:s}", "modelfile", modelfile, "parameters",
                             params, "template", tmpl, "details", details_json(m, 0), "model_info", sorted,
                             "capabilities", "completion", "tools", "modified_at", mt);
    free(modelfile);
    free(params);
    return show;
}
