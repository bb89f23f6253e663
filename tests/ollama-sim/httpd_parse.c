/* httpd_parse: the http-parser (2.9) callbacks of httpd, which turn the bytes of one request
 * into the struct http_req a handler sees: the URL path (percent-decoded, query and fragment
 * dropped, absolute-form targets reduced to their path), the four headers the sim reads (Host,
 * Expect, X-Turnq-Experiment, X-Turnq-Turn; the rest are counted and dropped) and the body,
 * de-chunked by the parser. Limits stop the parser with the status to answer (414, 431, 413),
 * Go's own Host rules with 400. on_headers_complete is where the handler may refuse a request
 * before its body (Expect: 100-continue) and where "100 Continue" is sent; on_message_complete
 * pauses the parser so a pipelined request waits for the current response. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "httpd_conn.h"
#include "xalloc.h"

void httpd_req_reset(struct httpd_conn *c)
{
    buf_reset(&c->url), buf_reset(&c->body), buf_reset(&c->field), buf_reset(&c->value);
    buf_reset(&c->extra);
    free(c->path), free(c->host), free(c->experiment), free(c->turn);
    c->path = c->host = c->experiment = c->turn = NULL;
    c->nheaders = c->nhost = c->in_value = c->msg_done = 0;
    c->reject_status = 0;
    c->reject_text = NULL;
    c->resp_started = c->resp_chunked = c->resp_head = 0;
    memset(&c->req, 0, sizeof c->req);
    c->req.body = "";
}

/* Stops the parser with an error: -1, because 1 from on_headers_complete would mean "no body". */
static int stop_parse(struct httpd_conn *c, int status, const char *text)
{
    c->reject_status = status;
    c->reject_text = text;
    return -1;
}

static int on_message_begin(http_parser *p)
{
    httpd_req_reset(p->data);
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    struct httpd_conn *c = p->data;
    if (buf_avail(&c->url) + len > HTTPD_MAX_URL)
        return stop_parse(c, 414, NULL);
    buf_append(&c->url, at, len);
    return 0;
}

static void header_commit(struct httpd_conn *c)
{
    const char *f = buf_head(&c->field), *v = buf_head(&c->value);
    char **slot = NULL;
    if (strcasecmp(f, "host") == 0) {
        c->nhost++;
        slot = &c->host;
    } else if (strcasecmp(f, "x-turnq-experiment") == 0) {
        slot = &c->experiment;
    } else if (strcasecmp(f, "x-turnq-turn") == 0) {
        slot = &c->turn;
    } else if (strcasecmp(f, "expect") == 0) {
        if (strcasecmp(v, "100-continue") == 0)
            c->req.expect_continue = 1;
    }
    if (slot && !*slot)
        *slot = xstrdup(v);
    buf_reset(&c->field);
    buf_reset(&c->value);
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct httpd_conn *c = p->data;
    if (c->in_value) {
        header_commit(c);
        c->in_value = 0;
    }
    if (buf_avail(&c->field) == 0 && ++c->nheaders > HTTPD_MAX_HEADERS)
        return stop_parse(c, 431, NULL);
    if (buf_avail(&c->field) + len > HTTPD_MAX_FIELD)
        return stop_parse(c, 431, NULL);
    buf_append(&c->field, at, len);
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    struct httpd_conn *c = p->data;
    c->in_value = 1;
    if (buf_avail(&c->value) + len > HTTPD_MAX_VALUE)
        return stop_parse(c, 431, NULL);
    buf_append(&c->value, at, len);
    return 0;
}

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* The path of the request target, percent-decoded as Go's URL.Path is; NULL when invalid. */
static char *target_path(const char *url, size_t len)
{
    const char *p = url;
    size_t n = len;
    if (len > 0 && url[0] != '/' && strcmp(url, "*") != 0) {
        struct http_parser_url u;
        http_parser_url_init(&u);
        if (http_parser_parse_url(url, len, 0, &u) != 0)
            return NULL;
        if (u.field_set & (1 << UF_PATH)) {
            p = url + u.field_data[UF_PATH].off;
            n = u.field_data[UF_PATH].len;
        } else {
            p = "/";
            n = 1;
        }
    }
    size_t end = strcspn(p, "?#");
    if (end < n)
        n = end;
    char *out = xmalloc(n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '%') {
            if (i + 2 >= n) {
                free(out);
                return NULL;
            }
            int a = hexval((unsigned char)p[i + 1]), b = hexval((unsigned char)p[i + 2]);
            if (a < 0 || b < 0) {
                free(out);
                return NULL;
            }
            out[o++] = (char)(a * 16 + b);
            i += 2;
        } else {
            out[o++] = p[i];
        }
    }
    out[o] = '\0';
    return out;
}

static int on_headers_complete(http_parser *p)
{
    struct httpd_conn *c = p->data;
    struct httpd *s = c->srv;
    if (c->in_value)
        header_commit(c);
    c->in_value = 0;
    c->req.method = p->method;
    c->req.method_name = http_method_str((enum http_method)p->method);
    c->req.http_minor = p->http_major > 1 ? 1 : p->http_minor;
    c->keep_alive = http_should_keep_alive(p);
    c->resp_head = p->method == HTTP_HEAD;
    c->path = target_path(buf_head(&c->url), buf_avail(&c->url));
    c->req.path = c->path;
    c->req.host = c->host;
    c->req.experiment = c->experiment;
    c->req.turn = c->turn;
    if (!c->path)
        return stop_parse(c, 400, NULL);
    /* Go's net/http rules, checked before any handler runs */
    if (c->nhost > 1)
        return stop_parse(c, 400, "too many Host headers");
    if (c->nhost == 0 && p->http_major == 1 && p->http_minor >= 1)
        return stop_parse(c, 400, "missing required Host header");
    int has_body = (p->flags & F_CHUNKED) || ((p->flags & F_CONTENTLENGTH) && p->content_length > 0);
    if ((p->flags & F_CONTENTLENGTH) && p->content_length > HTTPD_MAX_BODY)
        return stop_parse(c, 413, NULL);
    if (!has_body)
        c->req.expect_continue = 0;
    if (s->h.on_headers && s->h.on_headers(s->h.ud, &c->req) != 0) {
        http_parser_pause(p, 1); /* answered already: stop here, never read the body */
        return 0;
    }
    if (c->req.expect_continue) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        httpd_conn_send(c, cont, sizeof cont - 1);
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct httpd_conn *c = p->data;
    if (buf_avail(&c->body) + len > HTTPD_MAX_BODY)
        return stop_parse(c, 413, NULL);
    buf_append(&c->body, at, len);
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct httpd_conn *c = p->data;
    c->msg_done = 1;
    http_parser_pause(p, 1); /* the next pipelined request waits for this response */
    return 0;
}

const http_parser_settings httpd_parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};
