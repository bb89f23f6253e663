/* httpd: the sim's HTTP/1.1 server.
 *
 * Each accepted socket is a struct httpd_conn (httpd_conn.h) with its watchers embedded (a read
 * and a write ev_io, a 0 s "defer" timer and a "linger" timer), an input and an output buffer
 * and one http_parser. The connection is a small state machine (enum httpd_conn_state):
 *
 *   READING --request complete--> HANDLING --finished, keep-alive--> READING
 *      |                              | finished, close
 *      +--early reply / reject--> FLUSHING --output written--> DRAINING --EOF/2 s--> DEAD
 *   any state --I/O error, EOF while handling, reset--> DEAD --next loop turn--> freed
 *
 * Pipelining: the parser is paused in on_message_complete, so bytes of a following request stay
 * in the input buffer until the current response is finished; that keeps responses in order
 * and gives the handler one request per connection at a time. While a request is with the
 * handler the socket is still read (up to HTTPD_IN_MAX) so a client that goes away is noticed
 * at once and its request cancelled, as Go's server cancels the request context.
 *
 * Nothing is freed from inside a handler's call: failures move the connection to DEAD and arm
 * the 0 s defer timer, whose callback (outside any handler's stack) calls on_cancel for an
 * unfinished request and frees the connection. Closing after a response shuts the write side
 * down and drains input for a moment first, so the client reads the whole response rather than
 * a reset (the "lingering close" every HTTP server needs).
 *
 * Request parsing (the http-parser callbacks) lives in httpd_parse.c; both files share
 * httpd_conn.h. Limits (httpd_conn.h): URL 8 KiB, 100 header lines of at most 256 + 8 KiB,
 * http-parser's 80 KiB header block, 64 MiB body, 1 MiB of pipelined input, 64 MiB of unsent
 * output, 4096 connections. */
#include "httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "gocompat.h"
#include "httpd_conn.h"
#include "log.h"
#include "xalloc.h"

static void conn_parse(struct httpd_conn *c);
static void conn_flush(struct httpd_conn *c);
static void conn_fail(struct httpd_conn *c);

/* ---- Status texts ---- */

static const char *reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Request Entity Too Large";
    case 414: return "Request URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 499: return "Client Closed Request";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return status < 300 ? "OK" : status < 500 ? "Bad Request" : "Internal Server Error";
    }
}

/* ---- Output ---- */

static void out_append(struct httpd_conn *c, const void *p, size_t n)
{
    if (c->state == CONN_DEAD)
        return;
    buf_append(&c->out, p, n);
    if (buf_avail(&c->out) > HTTPD_OUT_MAX) {
        log_warn("connection fd=%d: client is not reading; dropping it", c->fd);
        conn_fail(c);
    }
}

void httpd_conn_send(struct httpd_conn *c, const void *p, size_t n)
{
    out_append(c, p, n);
    conn_flush(c);
}

/* Writes the status line and headers. length: < 0 chunked/close-delimited, else Content-Length;
 * no_length leaves both out (1xx, 204). */
static void start_response(struct httpd_conn *c, int status, const char *ctype, ssize_t length, int no_length)
{
    char date[GOCOMPAT_TIME_LEN];
    gocompat_http_date(time(NULL), date);
    struct buf *o = &c->out;
    buf_printf(o, "HTTP/1.1 %d %s\r\n", status, reason(status));
    buf_append(o, buf_head(&c->extra), buf_avail(&c->extra));
    if (length < 0 && !no_length && c->req.http_minor == 0)
        c->keep_alive = 0; /* HTTP/1.0 has no chunking: the end of the body is the close */
    if (!c->keep_alive)
        buf_puts(o, "Connection: close\r\n");
    else if (c->req.http_minor == 0)
        buf_puts(o, "Connection: keep-alive\r\n");
    if (!no_length) {
        if (length >= 0)
            buf_printf(o, "Content-Length: %zd\r\n", length);
        else if (c->req.http_minor >= 1)
            buf_puts(o, "Transfer-Encoding: chunked\r\n");
    }
    if (ctype)
        buf_printf(o, "Content-Type: %s\r\n", ctype);
    buf_printf(o, "Date: %s\r\n\r\n", date);
    c->resp_started = 1;
    c->resp_chunked = length < 0 && !no_length && c->req.http_minor >= 1;
    if (buf_avail(o) > HTTPD_OUT_MAX)
        conn_fail(c);
}

/* The request is done from the handler's side: go on to the next one or close. */
static void finish_request(struct httpd_conn *c)
{
    c->req_open = 0;
    if (c->state == CONN_DEAD)
        return;
    if (!c->keep_alive) {
        c->state = CONN_FLUSHING;
        conn_flush(c);
        return;
    }
    c->state = CONN_READING;
    ev_io_start(c->srv->loop, &c->rio);
    conn_flush(c);
    if (!c->in_parse && c->state == CONN_READING && buf_avail(&c->in) > 0)
        ev_timer_start(c->srv->loop, &c->defer); /* parse what was pipelined, outside this stack */
}

void httpd_add_header(struct http_req *r, const char *name, const char *value)
{
    struct httpd_conn *c = CONN_OF(r);
    if (!c->resp_started)
        buf_printf(&c->extra, "%s: %s\r\n", name, value);
}

void httpd_reply(struct http_req *r, int status, const char *ctype, const void *body, size_t len)
{
    struct httpd_conn *c = CONN_OF(r);
    if (c->resp_started || c->state == CONN_FLUSHING || c->state == CONN_DRAINING)
        return; /* a second answer to one request is a bug in the caller; ignore it */
    int early = c->state == CONN_READING; /* from on_headers: the body will not be read */
    if (early)
        c->keep_alive = 0;
    if (c->state != CONN_DEAD) {
        int no_length = status == 204 || status < 200;
        start_response(c, status, ctype, no_length ? 0 : (ssize_t)len, no_length);
        if (!c->resp_head && !no_length)
            out_append(c, body, len);
    }
    if (early) {
        if (c->state != CONN_DEAD) {
            c->state = CONN_FLUSHING;
            conn_flush(c);
        }
        return;
    }
    finish_request(c);
}

void httpd_stream_begin(struct http_req *r, int status, const char *ctype, ssize_t length)
{
    struct httpd_conn *c = CONN_OF(r);
    if (c->resp_started || c->state == CONN_DEAD)
        return;
    start_response(c, status, ctype, length, 0);
    conn_flush(c);
}

void httpd_stream_write(struct http_req *r, const void *data, size_t len)
{
    struct httpd_conn *c = CONN_OF(r);
    if (!c->resp_started || c->state == CONN_DEAD || len == 0 || c->resp_head)
        return;
    if (c->resp_chunked) {
        char hdr[24];
        int n = snprintf(hdr, sizeof hdr, "%zx\r\n", len);
        out_append(c, hdr, (size_t)n);
        out_append(c, data, len);
        out_append(c, "\r\n", 2);
    } else {
        out_append(c, data, len);
    }
    conn_flush(c);
}

void httpd_stream_end(struct http_req *r)
{
    struct httpd_conn *c = CONN_OF(r);
    if (c->resp_started && c->resp_chunked && !c->resp_head)
        out_append(c, "0\r\n\r\n", 5);
    finish_request(c);
}

void httpd_drop(struct http_req *r)
{
    struct httpd_conn *c = CONN_OF(r);
    c->req_open = 0;
    if (c->state == CONN_DEAD)
        return;
    /* SO_LINGER 0: close() sends RST, the client sees "connection reset by peer" */
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    buf_reset(&c->out);
    conn_fail(c);
}

/* httpd's own answer to a request it will not hand over; always closes the connection. */
static void conn_reject(struct httpd_conn *c, int status, const char *text)
{
    char body[128];
    int n =
        snprintf(body, sizeof body, "%d %s%s%s", status, reason(status), text ? ": " : "", text ? text : "");
    c->keep_alive = 0;
    buf_reset(&c->extra);
    if (c->srv->h.on_reject)
        c->srv->h.on_reject(c->srv->h.ud, &c->req, status);
    start_response(c, status, "text/plain; charset=utf-8", n, 0);
    out_append(c, body, (size_t)n);
    if (c->state != CONN_DEAD) {
        c->state = CONN_FLUSHING;
        conn_flush(c);
    }
}

/* ---- Connection lifetime ---- */

static void conn_destroy(struct httpd_conn *c)
{
    struct httpd *s = c->srv;
    if (c->req_open && c->req.on_cancel) {
        c->req_open = 0;
        c->req.on_cancel(&c->req);
    }
    ev_io_stop(s->loop, &c->rio);
    ev_io_stop(s->loop, &c->wio);
    ev_timer_stop(s->loop, &c->defer);
    ev_timer_stop(s->loop, &c->linger);
    close(c->fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->nconns--;
    struct buf *bufs[] = {&c->in, &c->out, &c->url, &c->body, &c->field, &c->value, &c->extra};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        buf_free(bufs[i]);
    free(c->path), free(c->host), free(c->experiment), free(c->turn);
    free(c);
}

/* Marks the connection finished; it is freed on the next loop turn (never under a handler). */
static void conn_fail(struct httpd_conn *c)
{
    if (c->state == CONN_DEAD)
        return;
    c->state = CONN_DEAD;
    ev_io_stop(c->srv->loop, &c->rio);
    ev_io_stop(c->srv->loop, &c->wio);
    ev_timer_stop(c->srv->loop, &c->linger);
    ev_timer_set(&c->defer, 0., 0.);
    ev_timer_start(c->srv->loop, &c->defer);
}

static void start_drain(struct httpd_conn *c)
{
    c->state = CONN_DRAINING;
    shutdown(c->fd, SHUT_WR);
    ev_io_start(c->srv->loop, &c->rio);
    ev_timer_set(&c->linger, HTTPD_LINGER_S, 0.);
    ev_timer_start(c->srv->loop, &c->linger);
}

static void conn_flush(struct httpd_conn *c)
{
    if (c->state == CONN_DEAD || c->state == CONN_DRAINING)
        return;
    while (buf_avail(&c->out) > 0) {
        ssize_t n = send(c->fd, buf_head(&c->out), buf_avail(&c->out), MSG_NOSIGNAL);
        if (n > 0) {
            buf_consume(&c->out, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            ev_io_start(c->srv->loop, &c->wio);
            return;
        }
        log_debug("connection fd=%d: send: %s", c->fd, strerror(errno));
        conn_fail(c);
        return;
    }
    ev_io_stop(c->srv->loop, &c->wio);
    if (c->state == CONN_FLUSHING)
        start_drain(c);
}

static void on_conn_write(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop, (void)revents;
    conn_flush(w->data);
}

static void on_conn_defer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop, (void)revents;
    struct httpd_conn *c = w->data;
    if (c->state == CONN_DEAD)
        conn_destroy(c);
    else if (c->state == CONN_READING)
        conn_parse(c);
}

static void on_conn_linger(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop, (void)revents;
    conn_fail(w->data);
}

static void on_conn_read(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop, (void)revents;
    struct httpd_conn *c = w->data;
    char tmp[HTTPD_READ_CHUNK];
    ssize_t n = recv(c->fd, tmp, sizeof tmp, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        /* EOF or error: the client is gone; an unfinished request is cancelled */
        conn_fail(c);
        return;
    }
    switch (c->state) {
    case CONN_READING:
        buf_append(&c->in, tmp, (size_t)n);
        conn_parse(c);
        break;
    case CONN_HANDLING:
        buf_append(&c->in, tmp, (size_t)n);
        if (buf_avail(&c->in) > HTTPD_IN_MAX)
            ev_io_stop(c->srv->loop, &c->rio); /* resumes when the request is finished */
        break;
    default: /* FLUSHING, DRAINING: nothing more is parsed */ break;
    }
}

static void dispatch(struct httpd_conn *c)
{
    c->msg_done = 0;
    c->state = CONN_HANDLING;
    c->req_open = 1;
    c->req.body = buf_head(&c->body);
    c->req.body_len = buf_avail(&c->body);
    c->req.t_arrival = ev_now(c->srv->loop);
    c->srv->h.on_request(c->srv->h.ud, &c->req);
}

static void conn_parse(struct httpd_conn *c)
{
    c->in_parse = 1;
    while (c->state == CONN_READING && buf_avail(&c->in) > 0) {
        size_t n =
            http_parser_execute(&c->parser, &httpd_parser_settings, buf_head(&c->in), buf_avail(&c->in));
        buf_consume(&c->in, n);
        enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
        if (e == HPE_PAUSED) {
            http_parser_pause(&c->parser, 0);
            if (c->msg_done)
                dispatch(c); /* may finish synchronously; the loop then goes on */
            continue;        /* else answered in on_headers: the state is no longer READING */
        }
        if (e != HPE_OK) {
            int status = c->reject_status;
            if (!status)
                status = e == HPE_HEADER_OVERFLOW ? 431 : 400;
            log_debug("connection fd=%d: bad request: %s", c->fd, http_errno_description(e));
            conn_reject(c, status, c->reject_text);
            break;
        }
    }
    if (c->state != CONN_DEAD)
        buf_compact(&c->in);
    c->in_parse = 0;
}

/* ---- Listener ---- */

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    struct httpd *s = w->data;
    for (;;) {
        int fd = accept(s->fd, NULL, NULL);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
                log_errno("accept");
            return;
        }
        if (s->nconns >= HTTPD_MAX_CONNS) {
            log_warn("too many connections (%d); refusing one", s->nconns);
            close(fd);
            continue;
        }
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* stream chunks go out at once */
        struct httpd_conn *c = xcalloc(1, sizeof *c);
        c->srv = s;
        c->fd = fd;
        c->state = CONN_READING;
        httpd_req_reset(c);
        http_parser_init(&c->parser, HTTP_REQUEST);
        c->parser.data = c;
        ev_io_init(&c->rio, on_conn_read, fd, EV_READ);
        ev_io_init(&c->wio, on_conn_write, fd, EV_WRITE);
        ev_timer_init(&c->defer, on_conn_defer, 0., 0.);
        ev_timer_init(&c->linger, on_conn_linger, HTTPD_LINGER_S, 0.);
        c->rio.data = c->wio.data = c->defer.data = c->linger.data = c;
        c->next = s->conns;
        if (s->conns)
            s->conns->prev = c;
        s->conns = c;
        s->nconns++;
        ev_io_start(loop, &c->rio);
    }
}

struct httpd *httpd_new(struct ev_loop *loop, int port, const struct httpd_handler *h, char err[ERR_LEN])
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        set_err(err, "socket: %s", strerror(errno));
        return NULL;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        set_err(err, "bind 127.0.0.1:%d: %s", port, strerror(errno));
        close(fd);
        return NULL;
    }
    if (listen(fd, 511) != 0) {
        set_err(err, "listen: %s", strerror(errno));
        close(fd);
        return NULL;
    }
    socklen_t sl = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    struct httpd *s = xcalloc(1, sizeof *s);
    s->loop = loop;
    s->fd = fd;
    s->port = ntohs(sa.sin_port);
    s->h = *h;
    ev_io_init(&s->accept_io, on_accept, fd, EV_READ);
    s->accept_io.data = s;
    ev_io_start(loop, &s->accept_io);
    return s;
}

int httpd_port(const struct httpd *s)
{
    return s->port;
}

void httpd_free(struct httpd *s)
{
    if (!s)
        return;
    ev_io_stop(s->loop, &s->accept_io);
    close(s->fd);
    while (s->conns)
        conn_destroy(s->conns);
    free(s);
}
