/* http: libcurl's multi-socket interface driven by libev, after curl's evhiperfifo.c but with
 * floating-point timeouts, checked allocations and curl_multi_strerror (CONVENTIONS Part 3).
 *
 * One CURLM per engine, one ev_timer for curl's timeout, one ev_io per socket (struct http_sock,
 * attached with curl_multi_assign). Each request owns its easy handle, header list, body copy,
 * error buffer and response buffer, and is freed in one place after curl_multi_remove_handle.
 * Completed transfers are reaped after every curl_multi_socket_action, never inside a curl
 * callback. Our own per-request timer enforces the first-byte and idle timeouts. */
#include "http.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "xalloc.h"

#define HTTP_DEFAULT_MAX_BODY (16u << 20)

struct http {
    struct ev_loop *loop;
    CURLM *multi;
    ev_timer timer;         /* curl's CURLMOPT_TIMERFUNCTION deadline */
    ev_timer reap_soon;     /* after http_submit started a transfer: reap from the loop */
    bool in_action;         /* inside curl_multi_socket_action (and so maybe a curl callback) */
    struct http_req *reqs;  /* every live request, for http_free */
    int running;            /* transfers curl reports running */
};

struct http_sock {
    ev_io io;
    curl_socket_t fd;
    struct http *h;
};

struct http_req {
    struct http *h;
    CURL *easy;
    struct curl_slist *headers;
    char *body;                    /* request body copy */
    char errbuf[CURL_ERROR_SIZE];
    char error[CURL_ERROR_SIZE + 64];
    struct buf resp;               /* buffered response */
    size_t max_body;
    long status;
    bool got_bytes;
    bool aborted_by_data;          /* on_data returned -1 */
    bool too_big;
    bool added;                    /* handle is in the multi */
    ev_timer deadline;             /* first-byte / idle timeout, or the early-failure delivery */
    double first_byte_s, idle_s;
    ev_tstamp started;
    double elapsed_s;
    http_data_fn *on_data;
    http_done_fn *on_done;
    void *arg;
    struct http_req *prev, *next;
};

/* ---- Request bookkeeping ---- */

static void req_free(struct http_req *r)
{
    struct http *h = r->h;
    ev_timer_stop(h->loop, &r->deadline);
    if (r->added)
        curl_multi_remove_handle(h->multi, r->easy);
    if (r->easy)
        curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->headers);
    free(r->body);
    buf_free(&r->resp);
    if (r->prev)
        r->prev->next = r->next;
    else
        h->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    free(r);
}

static void req_finish(struct http_req *r)
{
    r->elapsed_s = ev_now(r->h->loop) - r->started;
    if (r->added) {
        curl_multi_remove_handle(r->h->multi, r->easy);
        r->added = false;
    }
    ev_timer_stop(r->h->loop, &r->deadline);
    if (r->on_done)
        r->on_done(r, r->arg);
    req_free(r);
}

/* ---- curl callbacks ---- */

/* CURLOPT_WRITEFUNCTION */
static size_t http_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct http_req *r = userdata;
    size_t n = size * nmemb;
    if (!r->got_bytes) {
        r->got_bytes = true;
        if (r->idle_s > 0) {
            r->deadline.repeat = r->idle_s;
            ev_timer_again(r->h->loop, &r->deadline);
        } else
            ev_timer_stop(r->h->loop, &r->deadline);
    } else if (r->idle_s > 0)
        ev_timer_again(r->h->loop, &r->deadline);
    if (r->on_data) {
        if (r->on_data(r, ptr, n, r->arg) < 0) {
            r->aborted_by_data = true;
            return 0;
        }
        return n;
    }
    if (r->resp.len + n > r->max_body) {
        r->too_big = true;
        return 0;
    }
    buf_append(&r->resp, ptr, n);
    return n;
}

static void reap(struct http *h)
{
    CURLMsg *msg;
    int left;
    /* curl_multi_info_read: "the data the returned pointer points to does not survive calling
     * curl_multi_cleanup, curl_multi_remove_handle or curl_easy_cleanup" - copy out first. */
    while ((msg = curl_multi_info_read(h->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *easy = msg->easy_handle;
        CURLcode res = msg->data.result;
        struct http_req *r = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&r);
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &r->status);
        if (res != CURLE_OK) {
            if (r->aborted_by_data)
                snprintf(r->error, sizeof r->error, "response rejected by the reader");
            else if (r->too_big)
                snprintf(r->error, sizeof r->error, "response body over %zu bytes", r->max_body);
            else
                snprintf(r->error, sizeof r->error, "%s", r->errbuf[0] ? r->errbuf : curl_easy_strerror(res));
        }
        req_finish(r);
    }
}

static void on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct http_req *r = w->data;
    if (!r->error[0]) {
        if (!r->added)
            ; /* an early failure being delivered: error already set */
        else if (r->got_bytes)
            snprintf(r->error, sizeof r->error, "stream idle for %.0f s", r->idle_s);
        else
            snprintf(r->error, sizeof r->error, "no response within %.0f s", r->first_byte_s);
    }
    req_finish(r);
}

static void socket_action(struct http *h, curl_socket_t fd, int action)
{
    h->in_action = true;
    CURLMcode rc = curl_multi_socket_action(h->multi, fd, action, &h->running);
    h->in_action = false;
    if (rc != CURLM_OK)
        log_warn("http: curl_multi_socket_action: %s", curl_multi_strerror(rc));
}

static void on_sock_event(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    struct http_sock *s = w->data;
    struct http *h = s->h;
    socket_action(h, s->fd, (revents & EV_READ ? CURL_CSELECT_IN : 0) | (revents & EV_WRITE ? CURL_CSELECT_OUT : 0));
    reap(h);
}

static void on_curl_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct http *h = w->data;
    socket_action(h, CURL_SOCKET_TIMEOUT, 0);
    reap(h);
}

static void on_reap_soon(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    reap(w->data);
}

/* CURLMOPT_TIMERFUNCTION */
static int http_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    struct http *h = userp;
    ev_timer_stop(h->loop, &h->timer);
    if (timeout_ms >= 0) {
        /* 0 means "as soon as possible": a zero-delay timer rather than a re-entrant
         * curl_multi_socket_action from inside this callback. */
        ev_timer_set(&h->timer, timeout_ms / 1000.0, 0.);
        ev_timer_start(h->loop, &h->timer);
    }
    return 0;
}

/* CURLMOPT_SOCKETFUNCTION */
static int http_sock_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void)easy;
    struct http *h = userp;
    struct http_sock *s = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            ev_io_stop(h->loop, &s->io);
            free(s);
        }
        return 0;
    }
    if (!s) {
        s = xcalloc(1, sizeof *s);
        s->fd = fd;
        s->h = h;
        ev_init(&s->io, on_sock_event);
        s->io.data = s;
        curl_multi_assign(h->multi, fd, s);
    }
    int events = (what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0);
    ev_io_stop(h->loop, &s->io);
    ev_io_set(&s->io, fd, events); /* always re-set: ev.pod's rule for fds */
    ev_io_start(h->loop, &s->io);
    return 0;
}

/* ---- API ---- */

struct http *http_new(struct ev_loop *loop)
{
    static bool curl_ready;
    if (!curl_ready) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        curl_ready = true;
    }
    struct http *h = xcalloc(1, sizeof *h);
    h->loop = loop;
    h->multi = curl_multi_init();
    if (!h->multi) {
        log_error("http: curl_multi_init failed");
        abort();
    }
    ev_init(&h->timer, on_curl_timer);
    h->timer.data = h;
    ev_timer_init(&h->reap_soon, on_reap_soon, 0., 0.);
    h->reap_soon.data = h;
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, http_sock_cb);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, http_timer_cb);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
    /* Enough idle connections for every slot to keep its own to Ollama. */
    curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, 256L);
    return h;
}

void http_free(struct http *h)
{
    if (!h)
        return;
    while (h->reqs)
        req_free(h->reqs);
    /* curl may call the socket callback during cleanup; the loop must still exist. */
    curl_multi_cleanup(h->multi);
    ev_timer_stop(h->loop, &h->timer);
    ev_timer_stop(h->loop, &h->reap_soon);
    free(h);
}

static void fail_early(struct http_req *r, const char *why)
{
    snprintf(r->error, sizeof r->error, "%s", why);
    ev_timer_set(&r->deadline, 0., 0.);
    ev_timer_start(r->h->loop, &r->deadline);
}

struct http_req *http_submit(struct http *h, const struct http_opts *o)
{
    struct http_req *r = xcalloc(1, sizeof *r);
    r->h = h;
    r->on_data = o->on_data;
    r->on_done = o->on_done;
    r->arg = o->arg;
    r->max_body = o->max_body ? o->max_body : HTTP_DEFAULT_MAX_BODY;
    r->first_byte_s = o->first_byte_timeout_s;
    r->idle_s = o->idle_timeout_s;
    r->started = ev_now(h->loop);
    ev_init(&r->deadline, on_deadline);
    r->deadline.data = r;
    r->next = h->reqs;
    if (h->reqs)
        h->reqs->prev = r;
    h->reqs = r;

    r->easy = curl_easy_init();
    if (!r->easy) {
        fail_early(r, "curl_easy_init failed");
        return r;
    }
    CURL *e = r->easy;
    curl_easy_setopt(e, CURLOPT_URL, o->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms ? o->connect_timeout_ms : 10000L);
    if (o->total_timeout_s > 0)
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(o->total_timeout_s * 1000));
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, http_write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    /* No "Expect: 100-continue" (SPEC "A turn"): it costs a round trip per call. */
    r->headers = curl_slist_append(r->headers, "Expect:");
    for (const char *const *hp = o->headers; hp && *hp; hp++)
        r->headers = curl_slist_append(r->headers, *hp);
    if (o->body) {
        r->body = xmalloc(o->body_len + 1);
        memcpy(r->body, o->body, o->body_len);
        r->body[o->body_len] = '\0';
        r->headers = curl_slist_append(r->headers, "Content-Type: application/json");
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->body_len);
    }
    if (o->method && strcmp(o->method, "POST") && strcmp(o->method, "GET"))
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, o->method);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);

    if (r->first_byte_s > 0) {
        ev_timer_set(&r->deadline, r->first_byte_s, 0.);
        ev_timer_start(h->loop, &r->deadline);
    }
    CURLMcode mc = curl_multi_add_handle(h->multi, e);
    if (mc != CURLM_OK) {
        fail_early(r, curl_multi_strerror(mc));
        return r;
    }
    r->added = true;
    return r;
}

void http_start_now(struct http *h)
{
    /* Not from inside curl, which must not be re-entered: there the zero-delay timer does it. */
    if (h->in_action)
        return;
    socket_action(h, CURL_SOCKET_TIMEOUT, 0);
    ev_timer_start(h->loop, &h->reap_soon); /* what this completed, on_done from the loop */
}

void http_cancel(struct http_req *r)
{
    if (r)
        req_free(r);
}

const char *http_req_error(const struct http_req *r) { return r->error; }
bool http_req_failed(const struct http_req *r) { return r->error[0] != '\0'; }
long http_req_status(const struct http_req *r) { return r->status; }
bool http_req_got_bytes(const struct http_req *r) { return r->got_bytes; }
double http_req_elapsed_s(const struct http_req *r) { return r->elapsed_s; }

const char *http_req_body(const struct http_req *r, size_t *len)
{
    if (len)
        *len = buf_avail(&r->resp);
    return buf_head(&r->resp);
}
