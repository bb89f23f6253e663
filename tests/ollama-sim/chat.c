/* chat: the life of one /api/chat call, a struct call with its ev_timer embedded, moving
 * through the states of enum call_state in the order Ollama's ChatHandler does its work:
 *
 *   validate (400/404/500 at once) --> LOADING (model load: --load-ms when cold or reloading)
 *     --> QUEUED (FIFO, only while --parallel slots are all taken) --> PREFILL (--latency-ms)
 *     --> EVAL (one piece per tick: a token every --token-ms; a tool call after its tokens)
 *     --> done chunk / single object, slot freed, next queued call starts.
 *
 * --evict-every N evicts the model before every N-th counted call (when no other call uses it),
 * so that call pays --load-ms and reports it in load_duration: a reload mid-experiment.
 *
 * A preload (no messages) stops after LOADING with done_reason "load" and never takes a slot;
 * with keep_alive 0 it unloads at once ("unload"), as Ollama's handler does before scheduling.
 *
 * Faults (--fail-every N --fail-mode M) count only valid calls with messages. 503 is answered
 * on arrival (Ollama's full scheduler queue); the others act where the reply would begin, after
 * load, slot and latency: 500 and garbage answer then, reset sends a TCP RST, hang holds slot
 * and connection without a byte, stall sends headers and at most two pieces (stream:false: half
 * the object) and holds, eof sends every piece and ends the body without the done chunk
 * (stream:false: the object with done:false and no metrics, Ollama quirk #10015/#13239).
 * A held call lives until its client disconnects (the slot frees then, as Ollama aborts a
 * request whose client left).
 *
 * The log line is written once per call: when it is answered, when a fault is enacted, or with
 * status 499 when the client left first. Durations in metrics are measured (CLOCK_MONOTONIC),
 * never 0, so a client dividing by eval_duration is safe. */
#include "chat.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "chatreq.h"
#include "gen.h"
#include "gocompat.h"
#include "log.h"
#include "xalloc.h"

#define CT_JSON "application/json; charset=utf-8"
#define CT_NDJSON "application/x-ndjson"
#define BUSY_TEXT "server busy, please try again.  maximum pending requests exceeded"
#define STOPPED_TEXT                                                                                         \
    "model runner has unexpectedly stopped, this may be due to resource limitations or an internal "         \
    "error, check ollama server logs for details"
#define GARBAGE_TEXT "<html><head><title>502 Bad Gateway</title></head><body>ollama-sim garbage fault\n"
#define STALL_PIECES 2

enum call_state {
    CALL_NEW,     /* validated, not yet scheduled */
    CALL_LOADING, /* waiting for the model load (--load-ms) */
    CALL_QUEUED,  /* waiting FIFO for a --parallel slot */
    CALL_PREFILL, /* holding a slot: prompt evaluation (--latency-ms) */
    CALL_EVAL,    /* generating: one piece per timer tick */
    CALL_HELD,    /* hang/stall: holds slot and connection until the client leaves */
};

struct call {
    struct chat *chat;
    struct http_req *req; /* borrowed; NULL once finished or cancelled */
    struct chatreq cr;
    struct model *model; /* borrowed from the registry; NULL until acquired */
    struct gen_plan plan;
    enum call_state state;
    enum sim_fault fault;
    int preload; /* no messages: load only */
    int has_slot;
    int logged;
    ev_timer timer;
    int64_t t0_ns, loaded_ns, prefill_ns, eval_ns; /* CLOCK_MONOTONIC */
    size_t next;                                   /* next piece to emit */
    size_t n_pieces;                               /* tokens, or 1 for a tool call */
    size_t stop_after;                             /* pieces before the end (fewer for stall) */
    struct call *qnext;                            /* slot queue */
    struct call *prev, *next_call;                 /* every live call */
};

struct chat {
    struct ev_loop *loop;
    const struct sim_opts *o;
    struct models *models;
    struct reqlog *log;
    unsigned long counted; /* calls with messages seen, for --fail-every */
    int busy;              /* calls holding a slot */
    struct call *q_head, *q_tail;
    struct call *calls;
};

static void on_call_timer(struct ev_loop *loop, ev_timer *w, int revents);

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ---- Log and replies ---- */

static void call_log(struct call *c, int status)
{
    if (c->logged || !c->req)
        return;
    c->logged = 1;
    struct reqlog_entry e = {
        .ts = ev_now(c->chat->loop),
        .method = c->req->method_name,
        .path = c->req->path,
        .status = status,
        .model = c->cr.model,
        .messages = c->cr.n_messages,
        .experiment = c->req->experiment,
        .turn = c->req->turn,
        .fault = c->fault != FAULT_NONE ? opts_fault_name(c->fault) : NULL,
    };
    reqlog_write(c->chat->log, &e);
}

static void reply_json(struct call *c, int status, json_t *obj)
{
    char *s = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    call_log(c, status);
    httpd_reply(c->req, status, CT_JSON, s, strlen(s));
    free(s);
    c->req = NULL;
}

static void reply_error(struct call *c, int status, const char *msg)
{
    reply_json(c, status, json_pack("{s:s}", "error", msg));
}

/* ---- Lifetime and slots ---- */

static void arm(struct call *c, double delay_s)
{
    ev_timer_stop(c->chat->loop, &c->timer);
    ev_timer_set(&c->timer, delay_s > 0 ? delay_s : 0., 0.);
    ev_timer_start(c->chat->loop, &c->timer);
}

static void start_prefill(struct call *c)
{
    c->state = CALL_PREFILL;
    c->prefill_ns = mono_ns();
    arm(c, c->chat->o->latency_ms / 1000.0);
}

static void take_slot(struct call *c)
{
    struct chat *ch = c->chat;
    if (ch->o->parallel == 0 || ch->busy < ch->o->parallel) {
        ch->busy++;
        c->has_slot = 1;
        start_prefill(c);
        return;
    }
    c->state = CALL_QUEUED;
    c->qnext = NULL;
    if (ch->q_tail)
        ch->q_tail->qnext = c;
    else
        ch->q_head = c;
    ch->q_tail = c;
}

static void queue_remove(struct chat *ch, struct call *c)
{
    struct call **pp = &ch->q_head, *prev = NULL;
    while (*pp && *pp != c) {
        prev = *pp;
        pp = &(*pp)->qnext;
    }
    if (!*pp)
        return;
    *pp = c->qnext;
    if (ch->q_tail == c)
        ch->q_tail = prev;
}

/* Releases everything the call holds and frees it; the next queued call gets the slot. */
static void call_end(struct call *c)
{
    struct chat *ch = c->chat;
    ev_timer_stop(ch->loop, &c->timer);
    if (c->state == CALL_QUEUED)
        queue_remove(ch, c);
    if (c->model)
        models_release(c->model, ev_now(ch->loop));
    if (c->prev)
        c->prev->next_call = c->next_call;
    else
        ch->calls = c->next_call;
    if (c->next_call)
        c->next_call->prev = c->prev;
    int had_slot = c->has_slot;
    chatreq_clear(&c->cr);
    gen_plan_clear(&c->plan);
    free(c);
    if (had_slot) {
        ch->busy--;
        while (ch->q_head && (ch->o->parallel == 0 || ch->busy < ch->o->parallel)) {
            struct call *n = ch->q_head;
            ch->q_head = n->qnext;
            if (!ch->q_head)
                ch->q_tail = NULL;
            ch->busy++;
            n->has_slot = 1;
            start_prefill(n); /* timer-driven: nothing runs before we return */
        }
    }
}

static void on_cancel(struct http_req *r)
{
    struct call *c = r->data;
    call_log(c, 499); /* Ollama's "client closed request" */
    c->req = NULL;
    call_end(c);
}

/* ---- Response bodies ---- */

static json_t *message_json(const char *content, const json_t *tool_call)
{
    json_t *m = json_pack("{s:s, s:s}", "role", "assistant", "content", content);
    if (tool_call)
        json_object_set_new(m, "tool_calls", json_pack("[O]", tool_call));
    return m;
}

static json_t *chunk_json(struct call *c, json_t *message)
{
    char ts[GOCOMPAT_TIME_LEN];
    gocompat_now(ts);
    return json_pack("{s:s, s:s, s:o}", "model", c->cr.model, "created_at", ts, "message", message);
}

static void add_metrics(struct call *c, json_t *o)
{
    int64_t now = mono_ns();
#define AT_LEAST_1(x) ((json_int_t)((x) > 0 ? (x) : 1))
    json_object_set_new(o, "done_reason", json_string("stop"));
    json_object_set_new(o, "done", json_true());
    json_object_set_new(o, "total_duration", json_integer(AT_LEAST_1(now - c->t0_ns)));
    json_object_set_new(o, "load_duration", json_integer(AT_LEAST_1(c->loaded_ns - c->t0_ns)));
    json_object_set_new(o, "prompt_eval_count", json_integer(c->plan.prompt_tokens));
    json_object_set_new(o, "prompt_eval_duration", json_integer(AT_LEAST_1(c->eval_ns - c->prefill_ns)));
    json_object_set_new(o, "eval_count", json_integer(c->plan.eval_tokens));
    json_object_set_new(o, "eval_duration", json_integer(AT_LEAST_1(now - c->eval_ns)));
#undef AT_LEAST_1
}

/* The stream:false object: everything generated, then done and metrics (or done:false and no
 * metrics for the eof fault). */
static char *whole_object(struct call *c)
{
    json_t *o = chunk_json(c, message_json(c->plan.text, c->plan.tool ? c->plan.tool_call : NULL));
    if (c->fault == FAULT_EOF)
        json_object_set_new(o, "done", json_false());
    else
        add_metrics(c, o);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

static void stream_line(struct call *c, json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    size_t n = strlen(s);
    s[n] = '\n'; /* one NDJSON line per chunk; written by length */
    httpd_stream_write(c->req, s, n + 1);
    free(s);
}

static void emit_piece(struct call *c, size_t i)
{
    if (!c->cr.stream)
        return; /* stream:false only takes the time */
    if (i == 0)
        httpd_stream_begin(c->req, 200, CT_NDJSON, -1);
    json_t *msg = c->plan.tool ? message_json("", c->plan.tool_call) : message_json(c->plan.tokens[i], NULL);
    json_t *o = chunk_json(c, msg);
    json_object_set_new(o, "done", json_false());
    stream_line(c, o);
}

static void finish(struct call *c)
{
    if (c->cr.stream) {
        if (c->fault != FAULT_EOF) {
            json_t *o = chunk_json(c, message_json("", NULL));
            add_metrics(c, o);
            stream_line(c, o);
        }
        call_log(c, 200);
        httpd_stream_end(c->req);
    } else {
        char *s = whole_object(c);
        call_log(c, 200);
        httpd_reply(c->req, 200, CT_JSON, s, strlen(s));
        free(s);
    }
    c->req = NULL;
    call_end(c);
}

static void hold_stalled(struct call *c)
{
    if (!c->cr.stream) {
        char *s = whole_object(c);
        size_t n = strlen(s);
        httpd_stream_begin(c->req, 200, CT_JSON, (ssize_t)n);
        httpd_stream_write(c->req, s, n / 2);
        free(s);
    }
    call_log(c, 200);
    c->state = CALL_HELD;
}

static double piece_delay_s(const struct call *c)
{
    double per = c->chat->o->token_ms / 1000.0;
    return c->plan.tool ? per * c->plan.eval_tokens : per;
}

/* Emits due pieces: one per tick, or all at once when --token-ms is 0. */
static void eval_step(struct call *c)
{
    for (;;) {
        emit_piece(c, c->next++);
        if (c->next >= c->stop_after) {
            if (c->fault == FAULT_STALL)
                hold_stalled(c);
            else
                finish(c);
            return;
        }
        if (c->chat->o->token_ms > 0) {
            arm(c, piece_delay_s(c));
            return;
        }
    }
}

static void start_eval(struct call *c)
{
    c->eval_ns = mono_ns();
    switch (c->fault) {
    case FAULT_RESET:
        call_log(c, -1);
        httpd_drop(c->req);
        c->req = NULL;
        call_end(c);
        return;
    case FAULT_500:
        reply_error(c, 500, STOPPED_TEXT);
        call_end(c);
        return;
    case FAULT_GARBAGE:
        call_log(c, 200);
        if (c->cr.stream) {
            httpd_stream_begin(c->req, 200, CT_NDJSON, -1);
            httpd_stream_write(c->req, GARBAGE_TEXT, strlen(GARBAGE_TEXT));
            httpd_stream_end(c->req);
        } else {
            httpd_reply(c->req, 200, CT_JSON, GARBAGE_TEXT, strlen(GARBAGE_TEXT));
        }
        c->req = NULL;
        call_end(c);
        return;
    case FAULT_HANG:
        call_log(c, -1);
        c->state = CALL_HELD;
        return;
    default: break;
    }
    gen_plan_make(c->cr.messages, c->cr.tools, c->chat->o->actions, &c->plan);
    c->n_pieces = c->plan.tool ? 1 : c->plan.n_tokens;
    c->stop_after = c->n_pieces;
    if (c->fault == FAULT_STALL && c->stop_after > STALL_PIECES)
        c->stop_after = STALL_PIECES;
    c->state = CALL_EVAL;
    c->next = 0;
    if (c->chat->o->token_ms > 0)
        arm(c, piece_delay_s(c));
    else
        eval_step(c);
}

static void loaded(struct call *c)
{
    c->loaded_ns = mono_ns();
    if (c->preload) {
        json_t *o = chunk_json(c, message_json("", NULL));
        json_object_set_new(o, "done_reason", json_string("load"));
        json_object_set_new(o, "done", json_true());
        reply_json(c, 200, o);
        call_end(c);
        return;
    }
    take_slot(c);
}

static void on_call_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop, (void)revents;
    struct call *c = w->data;
    switch (c->state) {
    case CALL_LOADING: loaded(c); break;
    case CALL_PREFILL: start_eval(c); break;
    case CALL_EVAL: eval_step(c); break;
    default: break;
    }
}

/* ---- Entry ---- */

void chat_handle(struct chat *ch, struct http_req *r)
{
    /* ev_now is the time the loop woke; after a busy iteration it lags, and every delay of
     * this call (load, latency) is a timer relative to it: refresh it so none comes early */
    ev_now_update(ch->loop);
    struct call *c = xcalloc(1, sizeof *c);
    c->chat = ch;
    c->req = r;
    c->t0_ns = mono_ns();
    c->state = CALL_NEW;
    ev_timer_init(&c->timer, on_call_timer, 0., 0.);
    c->timer.data = c;
    c->next_call = ch->calls;
    if (ch->calls)
        ch->calls->prev = c;
    ch->calls = c;

    char err[ERR_LEN];
    int status = chatreq_parse(r->body, r->body_len, &c->cr, err);
    if (status) {
        reply_error(c, status, err);
        call_end(c);
        return;
    }
    if (!c->cr.model || !*c->cr.model) {
        reply_error(c, 400, "model is required");
        call_end(c);
        return;
    }
    if (models_name_valid(c->cr.model) != 0) {
        reply_error(c, 400, "invalid model name");
        call_end(c);
        return;
    }
    struct model *m = models_find(ch->models, c->cr.model);
    if (!m) {
        snprintf(err, sizeof err, "model '%s' not found", c->cr.model);
        reply_error(c, 404, err);
        call_end(c);
        return;
    }
    c->preload = c->cr.n_messages <= 0;
    double now = ev_now(ch->loop);
    if (c->preload && c->cr.has_keep_alive && c->cr.keep_alive_s == 0) {
        models_unload(m, now);
        json_t *o = chunk_json(c, message_json("", NULL));
        json_object_set_new(o, "done_reason", json_string("unload"));
        json_object_set_new(o, "done", json_true());
        reply_json(c, 200, o);
        call_end(c);
        return;
    }
    if (c->cr.think) {
        char q[160];
        gocompat_quote(c->cr.model, q, sizeof q);
        snprintf(err, sizeof err, "%s does not support thinking", q);
        reply_error(c, 400, err);
        call_end(c);
        return;
    }
    if ((status = chatreq_check_options(&c->cr, ch->o->num_ctx ? ch->o->num_ctx : ch->o->context_length, err))) {
        reply_error(c, status, err);
        call_end(c);
        return;
    }
    if (!c->preload) {
        ch->counted++;
        if (ch->o->fail_every > 0 && ch->counted % (unsigned long)ch->o->fail_every == 0)
            c->fault = ch->o->fail_mode;
        if (c->fault == FAULT_503) {
            reply_error(c, 503, BUSY_TEXT);
            call_end(c);
            return;
        }
        /* --evict-every: the model was pushed out since the last call (another model needed
         * the memory, as Ollama's scheduler does), so this call loads it again. */
        if (ch->o->evict_every > 0 && ch->counted % (unsigned long)ch->o->evict_every == 0)
            models_evict(m, now);
    }
    double ready =
        models_acquire(m, c->cr.runner_sig, c->cr.num_ctx, c->cr.keep_alive_s, now, ch->o->load_ms / 1000.0);
    c->model = m;
    r->on_cancel = on_cancel;
    r->data = c;
    c->state = CALL_LOADING;
    arm(c, ready - now);
}

struct chat *chat_new(struct ev_loop *loop, const struct sim_opts *o, struct models *ms, struct reqlog *log)
{
    struct chat *ch = xcalloc(1, sizeof *ch);
    ch->loop = loop;
    ch->o = o;
    ch->models = ms;
    ch->log = log;
    return ch;
}

void chat_free(struct chat *ch)
{
    if (!ch)
        return;
    while (ch->calls) {
        struct call *c = ch->calls;
        if (c->req) {
            c->req->on_cancel = NULL;
            c->req = NULL;
        }
        c->has_slot = 0; /* nothing is started while tearing down */
        call_end(c);
    }
    free(ch);
}
