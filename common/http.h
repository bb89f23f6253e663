#ifndef COMMON_HTTP_H
#define COMMON_HTTP_H
/* http: HTTP requests on the libev loop through one libcurl multi handle (CONVENTIONS rule 8).
 * Connections are kept alive and reused across requests to the same host. A request may stream
 * its body to a data callback (Ollama's NDJSON) or have it buffered up to a limit. Timeouts fit
 * LLMs: a connect timeout, an optional wait for the first byte (a cold model load can take
 * minutes), an optional idle timeout once bytes flow, and an optional total timeout (never set on
 * an Ollama chat call: a turn may run for many minutes). Redirects are never followed and only
 * http/https are spoken, so nothing in a response can send the worker elsewhere. */
#include <ev.h>
#include <stdbool.h>
#include <stddef.h>

struct http;
struct http_req;

/* Called with each piece of the response body as it arrives (borrowed). Return 0 to go on, -1 to
 * abort the transfer (on_done then reports an error). Must not cancel or free the request. */
typedef int http_data_fn(struct http_req *req, const char *buf, size_t len, void *arg);

/* Called exactly once when the request ends, unless it was cancelled. The request (and its body
 * and error text) is valid during the call only, and freed after it returns. */
typedef void http_done_fn(struct http_req *req, void *arg);

struct http_opts {
    const char *url;
    const char *method;            /* "GET" (default when body is NULL) or "POST" */
    const char *body;              /* copied; may be NULL */
    size_t body_len;
    const char *const *headers;    /* NULL-terminated "Name: value" lines, copied; may be NULL */
    long connect_timeout_ms;       /* 0: 10 s */
    double first_byte_timeout_s;   /* 0: none; until the first body byte arrives */
    double idle_timeout_s;         /* 0: none; longest silence once the body flows */
    double total_timeout_s;        /* 0: none */
    size_t max_body;               /* buffered body limit when on_data is NULL (0: 16 MiB) */
    http_data_fn *on_data;         /* NULL: buffer the body */
    http_done_fn *on_done;
    void *arg;
};

/* Returns a new engine on loop. Free it before the loop is destroyed. */
struct http *http_new(struct ev_loop *loop);

/* Cancels every outstanding request (their on_done is not called) and frees the engine.
 * http_free(NULL) is a no-op. */
void http_free(struct http *h);

/* Starts a request. Returns a handle that stays valid until on_done returns or http_cancel is
 * called. on_done is never called before http_submit returns, even for an immediate failure. */
struct http_req *http_submit(struct http *h, const struct http_opts *o);

/* Starts the requests submitted since the loop last ran, now, rather than from the zero-delay
 * timer curl asks for (a loop iteration later): they are on the wire before the caller goes on.
 * Their on_data may be called from here (so store the handles first); on_done never is. */
void http_start_now(struct http *h);

/* Aborts the request; on_done is not called; the handle is freed. Not from its own callbacks. */
void http_cancel(struct http_req *req);

/* ---- Results (valid inside on_done) ---- */

/* The transport error ("Connection refused", "no response within 600 s"), "" on success (whatever
 * the HTTP status). */
const char *http_req_error(const struct http_req *req);
bool http_req_failed(const struct http_req *req);
long http_req_status(const struct http_req *req);      /* 0 when no response was received */
bool http_req_got_bytes(const struct http_req *req);   /* any body byte arrived */
/* The buffered body (only without on_data), NUL-terminated, borrowed; *len may be NULL. */
const char *http_req_body(const struct http_req *req, size_t *len);
double http_req_elapsed_s(const struct http_req *req); /* from submit to done */

#endif
