#ifndef SIM_HTTPD_H
#define SIM_HTTPD_H
/* httpd: an HTTP/1.1 server on libev and http-parser with keep-alive, in-order pipelining,
 * chunked request bodies, Expect: 100-continue, HTTP/1.0, streamed (chunked) responses and the
 * abrupt endings the sim's faults need. One request per connection is with the handler at a
 * time; pipelined requests wait, parsed later, so responses always go out in order. */
#include <ev.h>
#include <stddef.h>
#include <sys/types.h>

#include "err.h"

struct httpd;

struct http_req {
    /* Filled by httpd; read-only for handlers. Strings are NUL-terminated and stay valid until
     * the request is finished or cancelled. */
    int method;              /* enum http_method */
    const char *method_name; /* "GET" */
    const char *path;        /* percent-decoded URL path, without query or fragment */
    const char *host;        /* Host header, or NULL */
    const char *experiment;  /* X-Turnq-Experiment, or NULL */
    const char *turn;        /* X-Turnq-Turn, or NULL */
    const char *body;        /* the body, de-chunked; "" when there is none */
    size_t body_len;
    int http_minor;      /* 0: HTTP/1.0, 1: HTTP/1.1 */
    int expect_continue; /* the client sent Expect: 100-continue */
    double t_arrival;    /* ev_now when the request was complete */
    /* Set by a handler that keeps the request past on_request. */
    void (*on_cancel)(struct http_req *r); /* the connection died first; r is invalid after it */
    void *data;                            /* the handler's */
};

struct httpd_handler {
    /* The headers are in (body not yet read). Return 0 to go on: the body is read (after
     * "100 Continue" when the client asked) and on_request follows. Return -1 after answering
     * with httpd_reply: the body is not read and the connection closes after the reply. */
    int (*on_headers)(void *ud, struct http_req *r);
    /* A complete request. The handler finishes it, now or from a later callback, with exactly
     * one of httpd_reply, httpd_stream_end or httpd_drop; it may also leave it open until
     * on_cancel (the sim's hang and stall). */
    void (*on_request)(void *ud, struct http_req *r);
    /* httpd answered a request itself (400 malformed, 413, 414, 431); r->method_name and
     * r->path may be NULL. May be NULL. */
    void (*on_reject)(void *ud, struct http_req *r, int status);
    void *ud;
};

/* ---- Server ---- */
/* Listens on 127.0.0.1:port (0: a free port) and serves on loop. h is copied. Returns a new
 * server (free with httpd_free) or NULL with the reason in err. */
struct httpd *httpd_new(struct ev_loop *loop, int port, const struct httpd_handler *h, char err[ERR_LEN]);
/* The port actually bound. */
int httpd_port(const struct httpd *s);
/* Closes the listener and every connection; unfinished requests get on_cancel first.
 * NULL is a no-op. */
void httpd_free(struct httpd *s);

/* ---- Responses (never call back synchronously) ---- */
/* Adds a header line to the response not yet started (e.g. "Allow"). */
void httpd_add_header(struct http_req *r, const char *name, const char *value);
/* A complete response; finishes r. ctype may be NULL (no Content-Type). A HEAD request gets
 * the headers only. */
void httpd_reply(struct http_req *r, int status, const char *ctype, const void *body, size_t len);
/* Starts a response whose body follows in pieces: length < 0 means chunked (close-delimited
 * for HTTP/1.0), else a Content-Length. r stays open. */
void httpd_stream_begin(struct http_req *r, int status, const char *ctype, ssize_t length);
/* One piece of the body (one chunk when chunked). */
void httpd_stream_write(struct http_req *r, const void *data, size_t len);
/* Ends the body cleanly (the terminal chunk); finishes r. */
void httpd_stream_end(struct http_req *r);
/* Resets the connection (TCP RST) with whatever was sent so far; finishes r. */
void httpd_drop(struct http_req *r);

#endif
