/* warehouse: an example turnq environment (worker --env-cmd 'bin/warehouse-env ARGS'), a small,
 * stateful, deterministic warehouse the agent manages for a number of days, one day per turn.
 *
 * Protocol (SPEC "The environment"): JSON Lines. One request object per line on stdin, exactly
 * one response object per line on stdout, flushed after every line; diagnostics go to stderr
 * (the worker's log). Every line gets an answer, including lines that are not JSON, too long
 * (over WH_LINE_MAX bytes) or not understood: those get {"error":"..."}. At EOF it exits 0.
 *   start {"turn":FIRST,"params":{...}} -> {"tools":[check_stock, restock, ship_order, get_report]}
 *   turn  {"turn":N}                    -> {"prompt":"Day N: ..."} or {"done":true} when N > days
 *   tool  {"name":..,"arguments":{..}}  -> {"content":{...}} or {"error":"..."}
 *   end                                 -> {}
 *
 * The world. Four items (bolts, gears, belts, motors), each with a unit cost and a sale price.
 * The warehouse starts on day 0 with params.stock units of every item and params.budget dollars.
 * Advancing to day N: yesterday's restocks are delivered, orders not shipped by the end of
 * their due day expire (a penalty of WH_PENALTY dollars each), and params.demand new customer
 * orders arrive, each due two days later. The orders of a day depend only on params.world_seed
 * and the day number. restock pays unit_cost * quantity now and delivers next morning;
 * ship_order takes the units from stock and is paid quantity * price at once.
 *
 * Determinism and resuming. The same params and the same requests give byte-identical answers.
 * A process is started per attempt, and an attempt that resumes at turn FIRST > 1 gets
 * "start" with that FIRST: the world is rebuilt from params by replaying days 1..FIRST-1 with
 * no agent actions (this process never saw the committed turns' tool calls), so every resumed
 * attempt sees the same world, equal to an attempt that let those days pass idle. A turn
 * request for a day already passed rebuilds the same way; a request for a later day (also a
 * tool request carrying a later turn) first advances the world to it.
 *
 * params (all optional; a bad value is logged and replaced by its default):
 *   demand       orders per day, 1..20, or "low" (2), "medium" (4), "high" (6); default 4
 *   stock        starting units of each item, 0..1000; default 20
 *   budget       starting cash in dollars, 0..1000000; default 500
 *   days         days in the run, 0 = no limit (then the job's turns decide); default --days
 *   world_seed   any integer; default 1
 * Arguments of tool calls are untrusted: types and bounds are checked, and an unknown item or
 * order is answered with an error naming the known ones. */
#include <ctype.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "cfg.h"
#include "err.h"
#include "log.h"
#include "xalloc.h"

#define WH_LINE_MAX (1024 * 1024) /* bytes in one request line, newline excluded */
#define WH_MAX_DAY 100000         /* highest turn number accepted */
#define WH_MAX_OPEN 64            /* open orders at once: 3 days x 20 orders/day fit */
#define WH_MAX_DEMAND 20          /* orders per day */
#define WH_DUE_DAYS 2             /* an order placed on day d is due on day d + 2 */
#define WH_PENALTY 10             /* dollars per expired order */
#define WH_CAPACITY 5000          /* units of one item in stock plus on the way */
#define WH_QTY_MAX 1000           /* units in one restock */
#define WH_ECHO_MAX 40            /* bytes of untrusted text echoed in an error */

/* ---- The catalogue ---- */

enum { N_ITEMS = 4 };

struct item_def {
    const char *name;
    int unit_cost; /* dollars paid per unit restocked */
    int price;     /* dollars received per unit shipped */
    int max_order; /* units in one customer order, 1..max_order */
};

static const struct item_def catalogue[N_ITEMS] = {
    {"bolts", 1, 2, 40},
    {"gears", 5, 9, 10},
    {"belts", 8, 14, 6},
    {"motors", 40, 65, 3},
};

#define WH_ITEM_LIST "bolts, gears, belts, motors"

/* ---- The world ---- */

struct params {
    int demand;          /* orders per day, 1..WH_MAX_DEMAND */
    int stock;           /* starting units of each item */
    long long budget;    /* starting cash, dollars */
    int days;            /* last day of the run; 0: no limit */
    uint64_t world_seed; /* the orders of day d derive from (world_seed, d) only */
};

struct order {
    char id[32];  /* "O<day>-<k>", k from 1 */
    int item;     /* index into catalogue */
    int qty;      /* units */
    int due_day;  /* last day it may be shipped */
};

struct day_stats {
    int shipped;            /* orders */
    long long revenue;      /* dollars */
    int restocked;          /* units ordered */
    long long spent;        /* dollars */
    int delivered;          /* units arrived in the morning */
    int expired;            /* orders */
    long long penalties;    /* dollars */
};

struct world {
    bool ready;               /* false until start (or a first turn) set it up */
    struct params p;
    int day;                  /* 0 before the first day */
    long long cash;           /* dollars; penalties may take it below zero */
    int stock[N_ITEMS];       /* units on the shelf */
    int incoming[N_ITEMS];    /* units arriving next morning */
    struct order open[WH_MAX_OPEN]; /* open orders, oldest first */
    int n_open;
    struct day_stats today, yesterday, total;
};

static int default_days; /* --days: params.days when it is absent */

/* splitmix64 (Vigna): a tiny, well-mixed generator; the stream of a day is seeded from
 * (world_seed, day), so replaying days reproduces their orders exactly. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static void stats_add(struct world *w, const struct day_stats *d)
{
    struct day_stats *t[2] = {&w->today, &w->total};
    for (int i = 0; i < 2; i++) {
        t[i]->shipped += d->shipped;
        t[i]->revenue += d->revenue;
        t[i]->restocked += d->restocked;
        t[i]->spent += d->spent;
        t[i]->delivered += d->delivered;
        t[i]->expired += d->expired;
        t[i]->penalties += d->penalties;
    }
}

static void world_init(struct world *w, const struct params *p)
{
    memset(w, 0, sizeof *w);
    w->ready = true;
    w->p = *p;
    w->cash = p->budget;
    for (int i = 0; i < N_ITEMS; i++)
        w->stock[i] = p->stock;
}

static void remove_order(struct world *w, int i)
{
    memmove(&w->open[i], &w->open[i + 1], (size_t)(w->n_open - i - 1) * sizeof w->open[0]);
    w->n_open--;
}

static void place_orders(struct world *w)
{
    uint64_t s = w->p.world_seed ^ ((uint64_t)(unsigned)w->day << 32);
    rng_next(&s);
    for (int k = 1; k <= w->p.demand; k++) {
        uint64_t r = rng_next(&s);
        unsigned roll = (unsigned)(r % 10); /* bolts 40%, gears 30%, belts 20%, motors 10% */
        int item = roll < 4 ? 0 : roll < 7 ? 1 : roll < 9 ? 2 : 3;
        if (w->n_open == WH_MAX_OPEN) {
            log_warn("day=%d open orders full, order %d dropped", w->day, k);
            continue;
        }
        struct order *o = &w->open[w->n_open++];
        snprintf(o->id, sizeof o->id, "O%d-%d", w->day, k);
        o->item = item;
        o->qty = 1 + (int)((r >> 8) % (uint64_t)catalogue[item].max_order);
        o->due_day = w->day + WH_DUE_DAYS;
    }
}

/* Moves the world to the morning of the next day: delivery, expiry, new orders. */
static void world_advance(struct world *w)
{
    w->day++;
    w->yesterday = w->today;
    memset(&w->today, 0, sizeof w->today);
    struct day_stats d = {0};
    for (int i = 0; i < N_ITEMS; i++) {
        d.delivered += w->incoming[i];
        w->stock[i] += w->incoming[i];
        w->incoming[i] = 0;
    }
    for (int i = 0; i < w->n_open;) {
        if (w->open[i].due_day < w->day) {
            d.expired++;
            d.penalties += WH_PENALTY;
            remove_order(w, i);
        } else {
            i++;
        }
    }
    w->cash -= d.penalties;
    stats_add(w, &d);
    place_orders(w);
}

/* Brings the world to the morning of `day`: forward by advancing, backward by rebuilding from
 * params and replaying idle days (the actions since are lost, which the log says). */
static void world_goto(struct world *w, int day)
{
    if (day < w->day) {
        log_warn("turn %d is before the current day %d: rebuilding the world from params", day, w->day);
        struct params p = w->p;
        world_init(w, &p);
    }
    while (w->day < day)
        world_advance(w);
}

/* ---- Small helpers: text, JSON numbers, lookups ---- */

/* Copies at most max bytes of src into dst (room for max + 1), cutting only at a UTF-8
 * character boundary, so the result stays valid for json_string(). */
static void clip_utf8(char *dst, const char *src, size_t max)
{
    size_t n = strlen(src);
    if (n > max) {
        n = max;
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* A growing string for prompts. */
struct sbuf {
    char *s;
    size_t len, cap;
};

static void sbuf_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sbuf_printf(struct sbuf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if (b->s && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        b->cap = (b->cap ? b->cap : 256) + (size_t)n + 256;
        b->s = xrealloc(b->s, b->cap);
        b->s[b->len] = '\0';
    }
}

/* Reads an integer (or a real with an integral value) within [min, max]. Returns 0, or -1
 * when v is absent, of another type or out of range. */
static int json_int_in(const json_t *v, long long min, long long max, long long *out)
{
    long long x;
    if (json_is_integer(v)) {
        x = json_integer_value(v);
    } else if (json_is_real(v)) {
        /* Range first: converting a double outside long long's range is undefined. */
        double d = json_real_value(v);
        if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0) || d != (double)(long long)d)
            return -1;
        x = (long long)d;
    } else {
        return -1;
    }
    if (x < min || x > max)
        return -1;
    *out = x;
    return 0;
}

/* Tolerant item lookup: case, surrounding blanks and a missing plural "s" do not matter.
 * Returns the catalogue index or -1. */
static int find_item(const char *name)
{
    char key[32];
    while (isspace((unsigned char)*name))
        name++;
    size_t n = strlen(name);
    while (n > 0 && isspace((unsigned char)name[n - 1]))
        n--;
    if (n == 0 || n >= sizeof key)
        return -1;
    for (size_t i = 0; i < n; i++)
        key[i] = (char)tolower((unsigned char)name[i]);
    key[n] = '\0';
    for (int i = 0; i < N_ITEMS; i++) {
        size_t len = strlen(catalogue[i].name);
        if (!strcmp(key, catalogue[i].name) || (n == len - 1 && !strncmp(key, catalogue[i].name, n)))
            return i;
    }
    return -1;
}

/* Order lookup, ignoring case and surrounding blanks. Returns the index in w->open or -1. */
static int find_order(const struct world *w, const char *id)
{
    while (isspace((unsigned char)*id))
        id++;
    size_t n = strlen(id);
    while (n > 0 && isspace((unsigned char)id[n - 1]))
        n--;
    for (int i = 0; i < w->n_open; i++)
        if (strlen(w->open[i].id) == n && !strncasecmp(w->open[i].id, id, n))
            return i;
    return -1;
}

/* ---- Replies ---- */

/* Returns a new {"error": message} reference. The message is formatted into a bounded buffer
 * and cut at a character boundary, so it is always a valid JSON string. */
static json_t *reply_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static json_t *reply_error(const char *fmt, ...)
{
    char buf[1024], msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    clip_utf8(msg, buf, sizeof msg - 1);
    json_t *s = json_string(msg);
    if (s == NULL) {
        /* Not UTF-8: jansson's parse errors quote the raw bytes near the error. */
        for (char *c = msg; *c; c++)
            if ((unsigned char)*c >= 0x80)
                *c = '?';
        s = json_string(msg);
    }
    return json_pack("{s:o}", "error", s);
}

/* Returns a new {"content": content} reference; steals content. */
static json_t *reply_content(json_t *content)
{
    return json_pack("{s:o}", "content", content);
}

/* ---- Tools ---- */

static json_t *tool_def(const char *name, const char *desc, json_t *props, json_t *required)
{
    return json_pack("{s:s, s:{s:s, s:s, s:{s:s, s:o, s:o}}}", "type", "function", "function", "name", name,
                     "description", desc, "parameters", "type", "object", "properties", props, "required",
                     required);
}

static json_t *item_prop(void)
{
    json_t *names = json_array();
    for (int i = 0; i < N_ITEMS; i++)
        json_array_append_new(names, json_string(catalogue[i].name));
    return json_pack("{s:s, s:s, s:o}", "type", "string", "description", "the item: " WH_ITEM_LIST, "enum",
                     names);
}

/* Returns a new reference: the tool list of the start answer, in Ollama's format. */
static json_t *tools_json(void)
{
    json_t *t = json_array();
    json_array_append_new(
        t, tool_def("check_stock",
                    "Stock on the shelf, units arriving tomorrow, unit cost, sale price and units in open "
                    "orders of one item.",
                    json_pack("{s:o}", "item", item_prop()), json_pack("[s]", "item")));
    json_array_append_new(
        t, tool_def("restock",
                    "Buy units of an item from the supplier: paid now at unit cost, delivered tomorrow "
                    "morning.",
                    json_pack("{s:o, s:{s:s, s:s, s:i, s:i}}", "item", item_prop(), "quantity", "type", "integer",
                              "description", "units to buy, 1 to 1000", "minimum", 1, "maximum", WH_QTY_MAX),
                    json_pack("[s, s]", "item", "quantity")));
    json_array_append_new(
        t, tool_def("ship_order",
                    "Ship one open customer order from stock; its value (quantity x price) is paid at once.",
                    json_pack("{s:{s:s, s:s}}", "order_id", "type", "string", "description",
                              "the order id, e.g. O1-2"),
                    json_pack("[s]", "order_id")));
    json_array_append_new(t, tool_def("get_report",
                                      "Today's report: cash, stock, deliveries, open orders and totals so far.",
                                      json_object(), json_array()));
    return t;
}

/* Reads the required item argument. Returns the index, or -1 with *err a new error reply. */
static int arg_item(const json_t *args, json_t **err)
{
    const json_t *v = json_object_get(args, "item");
    if (v == NULL) {
        *err = reply_error("missing required argument 'item' (one of " WH_ITEM_LIST ")");
        return -1;
    }
    if (!json_is_string(v)) {
        *err = reply_error("argument 'item' must be a string, one of " WH_ITEM_LIST);
        return -1;
    }
    int i = find_item(json_string_value(v));
    if (i < 0) {
        char echo[WH_ECHO_MAX + 1];
        clip_utf8(echo, json_string_value(v), WH_ECHO_MAX);
        *err = reply_error("unknown item '%s'; known items: " WH_ITEM_LIST, echo);
    }
    return i;
}

static int open_units(const struct world *w, int item)
{
    int n = 0;
    for (int i = 0; i < w->n_open; i++)
        if (w->open[i].item == item)
            n += w->open[i].qty;
    return n;
}

static json_t *tool_check_stock(struct world *w, const json_t *args)
{
    json_t *err = NULL;
    int i = arg_item(args, &err);
    if (i < 0)
        return err;
    return reply_content(json_pack("{s:s, s:i, s:i, s:i, s:i, s:i}", "item", catalogue[i].name, "stock",
                                   w->stock[i], "incoming", w->incoming[i], "unit_cost", catalogue[i].unit_cost,
                                   "price", catalogue[i].price, "open_order_units", open_units(w, i)));
}

static json_t *tool_restock(struct world *w, const json_t *args)
{
    json_t *err = NULL;
    int i = arg_item(args, &err);
    if (i < 0)
        return err;
    long long q;
    if (json_object_get(args, "quantity") == NULL)
        return reply_error("missing required argument 'quantity' (an integer from 1 to %d)", WH_QTY_MAX);
    if (json_int_in(json_object_get(args, "quantity"), 1, WH_QTY_MAX, &q) < 0)
        return reply_error("argument 'quantity' must be an integer from 1 to %d", WH_QTY_MAX);
    long long cost = q * catalogue[i].unit_cost;
    if (cost > w->cash)
        return reply_error("not enough cash: %lld %s cost $%lld, cash is $%lld", q, catalogue[i].name, cost,
                           w->cash);
    if (w->stock[i] + w->incoming[i] + q > WH_CAPACITY)
        return reply_error("no room: %s has %d in stock and %d arriving; capacity is %d units", catalogue[i].name,
                           w->stock[i], w->incoming[i], WH_CAPACITY);
    w->incoming[i] += (int)q;
    w->cash -= cost;
    stats_add(w, &(struct day_stats){.restocked = (int)q, .spent = cost});
    return reply_content(json_pack("{s:s, s:I, s:I, s:I, s:i}", "item", catalogue[i].name, "quantity",
                                   (json_int_t)q, "cost", (json_int_t)cost, "cash", (json_int_t)w->cash,
                                   "arrives_day", w->day + 1));
}

static json_t *open_ids_error(const struct world *w, const char *what, const char *id)
{
    char echo[WH_ECHO_MAX + 1], list[512] = "";
    size_t len = 0;
    clip_utf8(echo, id, WH_ECHO_MAX);
    for (int i = 0; i < w->n_open && len + 40 < sizeof list; i++)
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", w->open[i].id);
    if (w->n_open == 0)
        snprintf(list, sizeof list, "none");
    else if (len + 40 >= sizeof list)
        snprintf(list + len, sizeof list - len, ", ...");
    return reply_error("%s '%s'; open orders: %s", what, echo, list);
}

static json_t *tool_ship_order(struct world *w, const json_t *args)
{
    const json_t *v = json_object_get(args, "order_id");
    if (!json_is_string(v))
        return reply_error("argument 'order_id' must be a string, the id of an open order (see get_report)");
    int k = find_order(w, json_string_value(v));
    if (k < 0)
        return open_ids_error(w, "no open order", json_string_value(v));
    struct order o = w->open[k];
    const struct item_def *it = &catalogue[o.item];
    if (w->stock[o.item] < o.qty)
        return reply_error("not enough %s to ship %s: it needs %d, %d in stock, %d arriving tomorrow", it->name,
                           o.id, o.qty, w->stock[o.item], w->incoming[o.item]);
    long long value = (long long)o.qty * it->price;
    w->stock[o.item] -= o.qty;
    w->cash += value;
    remove_order(w, k);
    stats_add(w, &(struct day_stats){.shipped = 1, .revenue = value});
    return reply_content(json_pack("{s:s, s:s, s:i, s:I, s:I, s:i}", "shipped", o.id, "item", it->name, "quantity",
                                   o.qty, "revenue", (json_int_t)value, "cash", (json_int_t)w->cash, "stock_left",
                                   w->stock[o.item]));
}

static json_t *stats_json(const struct day_stats *d)
{
    return json_pack("{s:i, s:I, s:i, s:I, s:i, s:i, s:I}", "shipped", d->shipped, "revenue",
                     (json_int_t)d->revenue, "restocked_units", d->restocked, "spent", (json_int_t)d->spent,
                     "delivered_units", d->delivered, "expired", d->expired, "penalties",
                     (json_int_t)d->penalties);
}

static json_t *tool_get_report(struct world *w, const json_t *args)
{
    (void)args;
    json_t *stock = json_object(), *incoming = json_object(), *orders = json_array();
    for (int i = 0; i < N_ITEMS; i++) {
        json_object_set_new(stock, catalogue[i].name, json_integer(w->stock[i]));
        json_object_set_new(incoming, catalogue[i].name, json_integer(w->incoming[i]));
    }
    for (int i = 0; i < w->n_open; i++) {
        const struct order *o = &w->open[i];
        json_array_append_new(orders, json_pack("{s:s, s:s, s:i, s:i, s:i}", "id", o->id, "item",
                                                catalogue[o->item].name, "quantity", o->qty, "due_day", o->due_day,
                                                "value", o->qty * catalogue[o->item].price));
    }
    return reply_content(json_pack("{s:i, s:i, s:I, s:o, s:o, s:o, s:o, s:o}", "day", w->day, "days", w->p.days,
                                   "cash", (json_int_t)w->cash, "stock", stock, "incoming", incoming,
                                   "open_orders", orders, "today", stats_json(&w->today), "totals",
                                   stats_json(&w->total)));
}

struct tool {
    const char *name;
    json_t *(*run)(struct world *w, const json_t *args); /* returns a new reply reference */
};

static const struct tool tools[] = {
    {"check_stock", tool_check_stock},
    {"restock", tool_restock},
    {"ship_order", tool_ship_order},
    {"get_report", tool_get_report},
};

/* ---- The daily prompt ---- */

/* Returns a new string, caller frees: the morning briefing of w->day, derived from state only. */
static char *day_prompt(const struct world *w)
{
    struct sbuf b = {0};
    if (w->p.days > 0)
        sbuf_printf(&b, "Day %d of %d. ", w->day, w->p.days);
    else
        sbuf_printf(&b, "Day %d. ", w->day);
    sbuf_printf(&b, "Cash: $%lld. Stock (units on the shelf): ", w->cash);
    for (int i = 0; i < N_ITEMS; i++)
        sbuf_printf(&b, "%s%s %d", i ? ", " : "", catalogue[i].name, w->stock[i]);
    sbuf_printf(&b, ".\n");
    if (w->day <= 1) {
        sbuf_printf(&b, "The warehouse opens today.\n");
    } else {
        const struct day_stats *y = &w->yesterday;
        sbuf_printf(&b, "Yesterday you shipped %d order%s for $%lld and spent $%lld restocking %d units.\n",
                    y->shipped, y->shipped == 1 ? "" : "s", y->revenue, y->spent, y->restocked);
        sbuf_printf(&b, "Overnight %d units were delivered and %d order%s expired unshipped (penalty $%lld).\n",
                    w->today.delivered, w->today.expired, w->today.expired == 1 ? "" : "s", w->today.penalties);
    }
    sbuf_printf(&b, "Open orders (%d):", w->n_open);
    for (int i = 0; i < w->n_open; i++) {
        const struct order *o = &w->open[i];
        sbuf_printf(&b, "%s %s: %d %s, due day %d, worth $%d", i ? ";" : "", o->id, o->qty,
                    catalogue[o->item].name, o->due_day, o->qty * catalogue[o->item].price);
    }
    sbuf_printf(&b, "%s\nUnit cost / sale price: ", w->n_open ? "." : " none.");
    for (int i = 0; i < N_ITEMS; i++)
        sbuf_printf(&b, "%s%s $%d / $%d", i ? ", " : "", catalogue[i].name, catalogue[i].unit_cost,
                    catalogue[i].price);
    sbuf_printf(&b, ". Restocks arrive tomorrow morning; an order unshipped after its due day costs $%d.\n"
                    "Ship what you can, restock what runs low, then summarise your day in one short paragraph.",
                WH_PENALTY);
    return b.s;
}

/* ---- Params ---- */

static void param_int(const json_t *params, const char *key, long long min, long long max, long long *out)
{
    const json_t *v = json_object_get(params, key);
    if (v != NULL && json_int_in(v, min, max, out) < 0)
        log_warn("params.%s: must be an integer from %lld to %lld; using %lld", key, min, max, *out);
}

/* Reads params (an object, or anything else meaning none) over the defaults. */
static struct params params_from_json(const json_t *params)
{
    long long demand = 4, stock = 20, budget = 500, days = default_days, seed = 1;
    if (params != NULL && !json_is_object(params) && !json_is_null(params))
        log_warn("params is not an object; using the defaults");
    const json_t *d = json_object_get(params, "demand");
    static const struct {
        const char *name;
        int n;
    } levels[] = {{"low", 2}, {"medium", 4}, {"high", 6}};
    if (json_is_string(d)) {
        size_t i;
        for (i = 0; i < sizeof levels / sizeof levels[0]; i++)
            if (!strcasecmp(json_string_value(d), levels[i].name))
                break;
        if (i < sizeof levels / sizeof levels[0])
            demand = levels[i].n;
        else
            log_warn("params.demand: must be low, medium, high or 1..%d; using %lld", WH_MAX_DEMAND, demand);
    } else {
        param_int(params, "demand", 1, WH_MAX_DEMAND, &demand);
    }
    param_int(params, "stock", 0, WH_QTY_MAX, &stock);
    param_int(params, "budget", 0, 1000000, &budget);
    param_int(params, "days", 0, WH_MAX_DAY, &days);
    param_int(params, "world_seed", INT64_MIN, INT64_MAX, &seed);
    return (struct params){.demand = (int)demand, .stock = (int)stock, .budget = budget, .days = (int)days,
                           .world_seed = (uint64_t)seed};
}

/* ---- Requests ---- */

/* The experiment id for log lines: a string or an integer, clipped. */
static void experiment_name(const json_t *req, char out[WH_ECHO_MAX + 1])
{
    const json_t *e = json_object_get(req, "experiment");
    if (json_is_string(e))
        clip_utf8(out, json_string_value(e), WH_ECHO_MAX);
    else if (json_is_integer(e))
        snprintf(out, WH_ECHO_MAX + 1, "%" JSON_INTEGER_FORMAT, json_integer_value(e));
    else
        snprintf(out, WH_ECHO_MAX + 1, "-");
}

/* Reads request field "turn": 0 and *turn set, 1 when absent, -1 when present but invalid. */
static int req_turn(const json_t *req, int *turn)
{
    const json_t *v = json_object_get(req, "turn");
    long long t;
    if (v == NULL)
        return 1;
    if (json_int_in(v, 1, WH_MAX_DAY, &t) < 0)
        return -1;
    *turn = (int)t;
    return 0;
}

static json_t *on_start(struct world *w, const json_t *req)
{
    int first = 1;
    if (req_turn(req, &first) < 0)
        return reply_error("start: 'turn' must be an integer from 1 to %d", WH_MAX_DAY);
    struct params p = params_from_json(json_object_get(req, "params"));
    world_init(w, &p);
    world_goto(w, first - 1);
    char exp[WH_ECHO_MAX + 1];
    experiment_name(req, exp);
    log_info("experiment=%s start turn=%d demand=%d stock=%d budget=%lld days=%d world_seed=%llu", exp, first,
             p.demand, p.stock, p.budget, p.days, (unsigned long long)p.world_seed);
    return json_pack("{s:o}", "tools", tools_json());
}

static json_t *on_turn(struct world *w, const json_t *req)
{
    int n = 0;
    if (req_turn(req, &n) != 0)
        return reply_error("turn: 'turn' must be an integer from 1 to %d", WH_MAX_DAY);
    if (!w->ready) {
        struct params p = params_from_json(json_object_get(req, "params"));
        world_init(w, &p);
    }
    if (w->p.days > 0 && n > w->p.days)
        return json_pack("{s:b}", "done", 1);
    world_goto(w, n);
    char *prompt = day_prompt(w);
    json_t *r = json_pack("{s:s}", "prompt", prompt);
    free(prompt);
    return r;
}

static json_t *on_tool(struct world *w, const json_t *req)
{
    const json_t *name = json_object_get(req, "name");
    const json_t *args = json_object_get(req, "arguments");
    int turn = 0;
    if (!json_is_string(name))
        return reply_error("tool: 'name' must be a string");
    if (args != NULL && !json_is_null(args) && !json_is_object(args))
        return reply_error("arguments must be a JSON object");
    if (!w->ready) {
        struct params p = params_from_json(NULL);
        world_init(w, &p);
    }
    if (req_turn(req, &turn) == 0 && turn > w->day && (w->p.days == 0 || turn <= w->p.days))
        world_goto(w, turn);
    json_t *empty = json_object();
    if (!json_is_object(args))
        args = empty;
    json_t *r = NULL;
    for (size_t i = 0; i < sizeof tools / sizeof tools[0]; i++)
        if (!strcmp(json_string_value(name), tools[i].name))
            r = tools[i].run(w, args);
    if (r == NULL) {
        char echo[WH_ECHO_MAX + 1];
        clip_utf8(echo, json_string_value(name), WH_ECHO_MAX);
        r = reply_error("unknown tool '%s'; this warehouse offers check_stock, restock, ship_order, get_report",
                        echo);
    }
    json_decref(empty);
    return r;
}

static json_t *on_end(const struct world *w, const json_t *req)
{
    char exp[WH_ECHO_MAX + 1];
    experiment_name(req, exp);
    log_info("experiment=%s end day=%d cash=%lld shipped=%d revenue=%lld spent=%lld expired=%d", exp, w->day,
             w->cash, w->total.shipped, w->total.revenue, w->total.spent, w->total.expired);
    return json_object();
}

/* Answers one request line. Returns a new reference, never NULL. */
static json_t *handle_line(struct world *w, const char *line, size_t len)
{
    json_error_t jerr;
    json_t *req = json_loadb(line, len, 0, &jerr);
    if (req == NULL)
        return reply_error("request is not JSON: %d:%d: %s", jerr.line, jerr.column, jerr.text);
    json_t *r;
    const json_t *ev = json_object_get(req, "event");
    log_debug("event=%s bytes=%zu", json_is_string(ev) ? json_string_value(ev) : "?", len);
    if (!json_is_object(req))
        r = reply_error("request must be a JSON object");
    else if (!json_is_string(ev))
        r = reply_error("request has no 'event' string (start, turn, tool or end)");
    else if (!strcmp(json_string_value(ev), "start"))
        r = on_start(w, req);
    else if (!strcmp(json_string_value(ev), "turn"))
        r = on_turn(w, req);
    else if (!strcmp(json_string_value(ev), "tool"))
        r = on_tool(w, req);
    else if (!strcmp(json_string_value(ev), "end"))
        r = on_end(w, req);
    else {
        char echo[WH_ECHO_MAX + 1];
        clip_utf8(echo, json_string_value(ev), WH_ECHO_MAX);
        r = reply_error("unknown event '%s' (start, turn, tool or end)", echo);
    }
    json_decref(req);
    return r ? r : reply_error("internal error building the answer");
}

/* ---- I/O ---- */

/* Reads one line (its newline and a trailing CR dropped) into buf of cap bytes, NUL-terminated.
 * Returns 0 at EOF before any byte, 1 for a line, 2 for a line longer than cap - 1 bytes (read
 * to its end and discarded). */
static int read_line(FILE *in, char *buf, size_t cap, size_t *len)
{
    size_t n = 0;
    bool any = false, too_long = false;
    int c;
    while ((c = getc(in)) != EOF) {
        any = true;
        if (c == '\n')
            break;
        if (n + 1 < cap)
            buf[n++] = (char)c;
        else
            too_long = true;
    }
    if (!any)
        return 0;
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    buf[n] = '\0';
    *len = n;
    return too_long ? 2 : 1;
}

/* Writes reply as one line and flushes it; steals reply. Returns 0, or -1 when stdout fails. */
static int write_reply(json_t *reply)
{
    char *s = json_dumps(reply, JSON_COMPACT);
    json_decref(reply);
    int rc = fprintf(stdout, "%s\n", s ? s : "{\"error\":\"internal error\"}") < 0 || fflush(stdout) != 0 ? -1 : 0;
    free(s);
    return rc;
}

static void usage(int status)
{
    FILE *f = status ? stderr : stdout;
    fprintf(f,
            "usage: warehouse-env [--days N] [-v]\n"
            "An example turnq environment (worker --env-cmd): a deterministic warehouse the agent runs\n"
            "for a number of days. Speaks JSON Lines on stdin/stdout (SPEC \"The environment\").\n"
            "params: demand (1..20 or low/medium/high, default 4), stock (0..1000, default 20),\n"
            "        budget (0..1000000, default 500), days (0 = no limit), world_seed (default 1).\n"
            "options:\n"
            "  --days N            days in a run when params.days is absent; 0 = no limit (default 0)\n"
            "  -v, --verbose       log every request to stderr\n"
            "  -h, --help          this text\n");
    exit(status);
}

int main(int argc, char **argv)
{
    long days = 0;
    bool help = false;
    int verbose = 0;
    const struct cfg_opt opts[] = {
        {"days", 0, NULL, CFG_INT, &days, 0, WH_MAX_DAY, "N", "days in a run when params.days is absent"},
        {"verbose", 'v', NULL, CFG_COUNT, &verbose, 0, 0, NULL, "log every request"},
        {"help", 'h', NULL, CFG_BOOL, &help, 0, 0, NULL, "this text"},
        {NULL},
    };
    char err[ERR_LEN];
    int npos = 0;
    log_init("warehouse-env");
    if (cfg_parse(opts, argc, argv, 1, NULL, 0, &npos, err) < 0) {
        fprintf(stderr, "warehouse-env: %s\n", err);
        usage(EXIT_USAGE);
    }
    if (help)
        usage(EXIT_OK);
    if (verbose)
        log_level = LOG_DEBUG;
    default_days = (int)days;
    /* A worker that goes away closes our stdout: fail the write and exit, do not die of SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);

    static struct world world;
    char *line = xmalloc(WH_LINE_MAX + 1);
    size_t len = 0;
    int rc = EXIT_OK, got;
    while ((got = read_line(stdin, line, WH_LINE_MAX + 1, &len)) != 0) {
        json_t *reply;
        if (got == 2)
            reply = reply_error("request line longer than %d bytes", WH_LINE_MAX);
        else
            reply = handle_line(&world, line, len);
        if (write_reply(reply) < 0) {
            log_errno("writing a reply to stdout");
            rc = EXIT_RUNTIME;
            break;
        }
    }
    free(line);
    return rc;
}
