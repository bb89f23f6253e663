#ifndef SIM_ROUTER_H
#define SIM_ROUTER_H
/* router: Ollama's route table and middleware for the sim: the loopback Host check (403),
 * 404/405 as gin answers them, and the small endpoints (/, /api/version, /api/tags, /api/ps,
 * /api/show); /api/chat goes to chat.c. Every request gets one request-log line. */
#include <ev.h>

#include "chat.h"
#include "httpd.h"
#include "models.h"
#include "reqlog.h"

struct router;

/* A router for the given parts (all borrowed; they must outlive it); num_ctx is --num-ctx (0:
 * none), what /api/show reports as the Modelfile's. Returns a new router. */
struct router *router_new(struct ev_loop *loop, const char *version, int num_ctx, struct models *ms,
                          struct chat *chat, struct reqlog *log);
void router_free(struct router *rt); /* NULL is a no-op */

/* The httpd callbacks (ud is the router). */
int router_on_headers(void *ud, struct http_req *r);
void router_on_request(void *ud, struct http_req *r);
void router_on_reject(void *ud, struct http_req *r, int status);

#endif
