#ifndef SIM_CHAT_H
#define SIM_CHAT_H
/* chat: POST /api/chat, from validation to the last byte: model loading (--load-ms), the
 * --parallel slots, prompt latency, token pacing, streamed or single-object replies, preloads,
 * injected faults and the request log line. */
#include <ev.h>

#include "httpd.h"
#include "models.h"
#include "opts.h"
#include "reqlog.h"

struct chat;

/* A new chat engine on loop; o, ms and log are borrowed and must outlive it. */
struct chat *chat_new(struct ev_loop *loop, const struct sim_opts *o, struct models *ms, struct reqlog *log);
/* Ends every call still in progress (without answering it). NULL is a no-op. Free the httpd
 * first so the connections' requests are cancelled through on_cancel. */
void chat_free(struct chat *c);

/* Takes over a complete POST /api/chat request: r is finished later (never before this
 * returns for a call that waits) or cancelled through its on_cancel. */
void chat_handle(struct chat *c, struct http_req *r);

#endif
