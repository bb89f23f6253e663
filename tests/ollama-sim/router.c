/* router: what Ollama's gin engine does before and around its handlers, for the routes the sim
 * serves. Middleware order as in server/routes.go GenerateRoutes: the allowed-hosts check runs
 * for every request, known or not (a listener on loopback only accepts a Host that is empty,
 * localhost, a loopback/private/unspecified IP, this machine's name, or *.localhost, *.local,
 * *.internal, with or without a port; else 403 with an empty body); an allowed OPTIONS gets 204;
 * then gin's router: unknown path 404 "404 page not found", known path with another method 405
 * "405 method not allowed" with an Allow header (HandleMethodNotAllowed is on in Ollama).
 *
 * When the client sent Expect: 100-continue the same decision is made from the headers alone
 * (router_on_headers), so a request that will be refused is refused before its body is sent.
 * "[::1]" without a port is accepted too (Go would 403 it: SplitHostPort fails on it). */
#include "router.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <http_parser.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "gocompat.h"
#include "xalloc.h"

#define CT_TEXT "text/plain; charset=utf-8"
#define CT_JSON "application/json; charset=utf-8"

struct router {
    struct ev_loop *loop;
    const char *version;
    int num_ctx; /* --num-ctx: the Modelfile's PARAMETER num_ctx, 0 when none */
    struct models *models;
    struct chat *chat;
    struct reqlog *log;
    char hostname[256]; /* this machine's name, lower case ("" when unknown) */
};

enum route_id { R_ROOT, R_VERSION, R_TAGS, R_PS, R_SHOW, R_CHAT };

static const struct route {
    const char *path;
    unsigned methods; /* bit (1 << enum http_method) */
    const char *allow;
} routes[] = {
    [R_ROOT] = {"/", 1u << HTTP_GET | 1u << HTTP_HEAD, "GET, HEAD"},
    [R_VERSION] = {"/api/version", 1u << HTTP_GET | 1u << HTTP_HEAD, "GET, HEAD"},
    [R_TAGS] = {"/api/tags", 1u << HTTP_GET | 1u << HTTP_HEAD, "GET, HEAD"},
    [R_PS] = {"/api/ps", 1u << HTTP_GET, "GET"},
    [R_SHOW] = {"/api/show", 1u << HTTP_POST, "POST"},
    [R_CHAT] = {"/api/chat", 1u << HTTP_POST, "POST"},
};

struct router *router_new(struct ev_loop *loop, const char *version, int num_ctx, struct models *ms,
                          struct chat *chat, struct reqlog *log)
{
    struct router *rt = xcalloc(1, sizeof *rt);
    rt->loop = loop;
    rt->version = version;
    rt->num_ctx = num_ctx;
    rt->models = ms;
    rt->chat = chat;
    rt->log = log;
    if (gethostname(rt->hostname, sizeof rt->hostname - 1) != 0)
        rt->hostname[0] = '\0';
    for (char *p = rt->hostname; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return rt;
}

void router_free(struct router *rt)
{
    free(rt);
}

/* ---- Host check (allowedHostsMiddleware) ---- */

static int ip_allowed(const char *host)
{
    unsigned char a[16];
    if (inet_pton(AF_INET, host, a) == 1) {
        return a[0] == 127 || a[0] == 10 || (a[0] == 172 && (a[1] & 0xf0) == 16) ||
               (a[0] == 192 && a[1] == 168) || (a[0] | a[1] | a[2] | a[3]) == 0;
    }
    if (inet_pton(AF_INET6, host, a) == 1) {
        static const unsigned char loop6[16] = {[15] = 1}, zero6[16] = {0};
        if (memcmp(a, loop6, 16) == 0 || memcmp(a, zero6, 16) == 0 || (a[0] & 0xfe) == 0xfc)
            return 1;
        /* ::ffff:a.b.c.d: netip unmaps it for IsLoopback/IsPrivate */
        static const unsigned char mapped[12] = {[10] = 0xff, [11] = 0xff};
        if (memcmp(a, mapped, 12) == 0) {
            char v4[INET_ADDRSTRLEN];
            inet_ntop(AF_INET, a + 12, v4, sizeof v4);
            return ip_allowed(v4);
        }
    }
    return 0;
}

static int has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

static int host_allowed(const struct router *rt, const char *hdr)
{
    if (!hdr || !*hdr)
        return 1;
    char host[512];
    snprintf(host, sizeof host, "%s", hdr);
    /* net.SplitHostPort: "[v6]:port", "name:port"; otherwise the whole value */
    if (host[0] == '[') {
        char *close = strchr(host, ']');
        if (close &&
            (close[1] == '\0' || (close[1] == ':' && strspn(close + 2, "0123456789") == strlen(close + 2)))) {
            *close = '\0';
            memmove(host, host + 1, strlen(host + 1) + 1);
        }
    } else {
        char *colon = strchr(host, ':');
        if (colon && !strchr(colon + 1, ':'))
            *colon = '\0';
    }
    for (char *p = host; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    if (ip_allowed(host))
        return 1;
    if (!*host || !strcmp(host, "localhost") || (rt->hostname[0] && !strcmp(host, rt->hostname)))
        return 1;
    return has_suffix(host, ".localhost") || has_suffix(host, ".local") || has_suffix(host, ".internal");
}

/* ---- Replies ---- */

static void log_line(struct router *rt, struct http_req *r, int status, const char *model)
{
    struct reqlog_entry e = {
        .ts = ev_now(rt->loop),
        .method = r->method_name,
        .path = r->path,
        .status = status,
        .model = model,
        .messages = -1,
        .experiment = r->experiment,
        .turn = r->turn,
    };
    reqlog_write(rt->log, &e);
}

static void reply_text(struct router *rt, struct http_req *r, int status, const char *text)
{
    log_line(rt, r, status, NULL);
    httpd_reply(r, status, text ? CT_TEXT : NULL, text ? text : "", text ? strlen(text) : 0);
}

static void reply_json(struct router *rt, struct http_req *r, int status, json_t *o, const char *model)
{
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    log_line(rt, r, status, model);
    httpd_reply(r, status, CT_JSON, s, strlen(s));
    free(s);
}

/* Decides what the headers alone say: 0 with *route set, or a status answered already. */
static int route_decide(struct router *rt, struct http_req *r, const struct route **route)
{
    if (!host_allowed(rt, r->host)) {
        reply_text(rt, r, 403, NULL);
        return 403;
    }
    if (r->method == HTTP_OPTIONS) {
        reply_text(rt, r, 204, NULL);
        return 204;
    }
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (strcmp(r->path, routes[i].path) != 0)
            continue;
        if (!(routes[i].methods & (1u << r->method))) {
            httpd_add_header(r, "Allow", routes[i].allow);
            reply_text(rt, r, 405, "405 method not allowed");
            return 405;
        }
        *route = &routes[i];
        return 0;
    }
    reply_text(rt, r, 404, "404 page not found");
    return 404;
}

int router_on_headers(void *ud, struct http_req *r)
{
    const struct route *route;
    if (!r->expect_continue)
        return 0; /* decide once the body is in; the connection stays usable */
    return route_decide(ud, r, &route) ? -1 : 0;
}

static void show(struct router *rt, struct http_req *r)
{
    size_t blank = strspn(r->body, " \t\r\n");
    if (blank == r->body_len) {
        json_t *e = json_pack("{s:s}", "error", "missing request body");
        reply_json(rt, r, 400, e, NULL);
        return;
    }
    json_error_t je;
    json_t *req = json_loadb(r->body, r->body_len, JSON_DISABLE_EOF_CHECK | JSON_DECODE_ANY, &je);
    if (!req || !json_is_object(req)) {
        static const char *kinds[] = {"object", "array", "string", "number", "number", "bool", "bool", "null"};
        char msg[ERR_LEN];
        if (req)
            snprintf(msg, sizeof msg, "json: cannot unmarshal %s into Go value of type api.ShowRequest",
                     kinds[json_typeof(req)]);
        else
            snprintf(msg, sizeof msg, "unexpected EOF");
        json_decref(req);
        reply_json(rt, r, 400, json_pack("{s:s}", "error", msg), NULL);
        return;
    }
    const json_t *jm = json_object_get(req, "model");
    if (!json_is_string(jm) || !*json_string_value(jm))
        jm = json_object_get(req, "name");
    const char *name = json_string_value(jm);
    if (!name || !*name) {
        reply_json(rt, r, 400, json_pack("{s:s}", "error", "model is required"), NULL);
        json_decref(req);
        return;
    }
    struct model *m = models_find(rt->models, name);
    if (!m) {
        char msg[ERR_LEN];
        snprintf(msg, sizeof msg, "model '%s' not found", name);
        reply_json(rt, r, 404, json_pack("{s:s}", "error", msg), name);
    } else {
        reply_json(rt, r, 200, models_show_json(m, rt->num_ctx), name);
    }
    json_decref(req);
}

void router_on_request(void *ud, struct http_req *r)
{
    struct router *rt = ud;
    const struct route *route = NULL;
    if (route_decide(rt, r, &route) != 0)
        return;
    switch ((enum route_id)(route - routes)) {
    case R_ROOT: reply_text(rt, r, 200, "Ollama is running"); break;
    case R_VERSION: reply_json(rt, r, 200, json_pack("{s:s}", "version", rt->version), NULL); break;
    case R_TAGS: reply_json(rt, r, 200, models_tags_json(rt->models), NULL); break;
    case R_PS: reply_json(rt, r, 200, models_ps_json(rt->models, ev_now(rt->loop)), NULL); break;
    case R_SHOW: show(rt, r); break;
    case R_CHAT: chat_handle(rt->chat, r); break;
    }
}

void router_on_reject(void *ud, struct http_req *r, int status)
{
    struct router *rt = ud;
    if (r->method_name && r->path)
        log_line(rt, r, status, NULL);
}
