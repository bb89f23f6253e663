#ifndef SIM_HTTPD_CONN_H
#define SIM_HTTPD_CONN_H
/* httpd_conn: httpd's private parts, shared by httpd.c (connections, I/O, responses) and
 * httpd_parse.c (the http-parser callbacks). Nothing outside httpd*.c includes this. */
#include <ev.h>
#include <http_parser.h>

#include "buf.h"
#include "httpd.h"

#define HTTPD_MAX_URL 8192
#define HTTPD_MAX_FIELD 256
#define HTTPD_MAX_VALUE 8192
#define HTTPD_MAX_HEADERS 100
#define HTTPD_MAX_BODY (64u * 1024 * 1024)
#define HTTPD_IN_MAX (1u * 1024 * 1024)
#define HTTPD_OUT_MAX (64u * 1024 * 1024)
#define HTTPD_MAX_CONNS 4096
#define HTTPD_LINGER_S 2.0
#define HTTPD_READ_CHUNK 65536

enum httpd_conn_state {
    CONN_READING,  /* parsing the next request; none is with the handler */
    CONN_HANDLING, /* a complete request is with the handler */
    CONN_FLUSHING, /* the last response is queued; close once it is written */
    CONN_DRAINING, /* write side shut down; discarding input until EOF or HTTPD_LINGER_S */
    CONN_DEAD,     /* finished with; freed by the defer timer */
};

struct httpd_conn {
    struct http_req req; /* first: a struct http_req * is a struct httpd_conn * */
    struct httpd *srv;
    int fd;
    ev_io rio, wio;
    ev_timer defer;  /* 0 s: resume parsing, or free a DEAD connection */
    ev_timer linger; /* bounds DRAINING */
    http_parser parser;
    enum httpd_conn_state state;
    struct buf in, out;
    /* the request being parsed */
    struct buf url, body, field, value, extra;
    char *path, *host, *experiment, *turn; /* owned */
    int nheaders, nhost;
    int in_value;      /* the last header callback was a value */
    int reject_status; /* why a callback stopped the parser: 413, 414, 431 or 400 */
    const char *reject_text;
    int msg_done;   /* on_message_complete ran */
    int keep_alive; /* the connection stays open after this response */
    int in_parse;   /* conn_parse is on the stack */
    /* the response */
    int req_open;     /* a dispatched request is not finished */
    int resp_started; /* status line written */
    int resp_chunked; /* body framed as chunks */
    int resp_head;    /* HEAD: headers only */
    struct httpd_conn *prev, *next;
};

struct httpd {
    struct ev_loop *loop;
    int fd;
    int port;
    ev_io accept_io;
    struct httpd_handler h;
    struct httpd_conn *conns; /* list of live connections */
    int nconns;
};

#define CONN_OF(r) ((struct httpd_conn *)(void *)(r))

/* ---- httpd_parse.c ---- */
/* The callbacks that fill c->req from the bytes of one request; they stop the parser (an error
 * with c->reject_status set) on a limit, and pause it at the end of each message. */
extern const http_parser_settings httpd_parser_settings;
/* Clears the request state of c for the next message. */
void httpd_req_reset(struct httpd_conn *c);

/* ---- httpd.c ---- */
/* Queues n bytes on c and tries to send them now. */
void httpd_conn_send(struct httpd_conn *c, const void *p, size_t n);

#endif
