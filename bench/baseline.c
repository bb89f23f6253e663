/* bench/baseline: the floor a worker's per-call cost is measured against (make bench, part 2).
 *
 * A plain HTTP client of Ollama's /api/chat, nothing else: no Redis, no state machine, no
 * commits. It builds the bodies the worker builds for a job's calls (model,
 * system + user messages, stream, tools, options, keep_alive; the same key order and
 * JSON_REAL_PRECISION(17)), sends it with the worker's headers (X-Turnq-Experiment,
 * X-Turnq-Turn, Accept, Content-Type, no Expect) over C concurrent streams, each stream one
 * reused easy handle and so one keep-alive connection in curl's multi, and decodes every
 * NDJSON line of each reply with jansson, as any real client must, checking that the stream
 * ends with a "done": true chunk. It runs N calls in all, cycling the job's prompts turn by
 * turn per stream. A reply with tool calls is answered the way the worker answers it when no
 * environment runs the tool (the assistant message, then a tool message saying so), and the turn
 * goes on, up to the job's max_actions_per_turn calls, so the bodies grow as the worker's do.
 * It prints one JSON line:
 *
 *   {"concurrency":C,"calls":N,"seconds":S,"calls_per_s":R,"connects":K,"errors":E,"cpu_s":U}
 *
 * K is the number of TCP connections curl opened (CURLINFO_NUM_CONNECTS summed): C when every
 * stream kept its connection. U is this process's user + system CPU time (getrusage). Exit 0 when every call succeeded, 1 otherwise, 2 on bad usage.
 *
 *   baseline --url http://127.0.0.1:PORT --job JOB.json [--concurrency C] [--calls N]
 *            [--experiment-prefix P]
 *
 * JOB.json holds one job object (its "turns" a list of prompts), or a JSON Lines file whose
 * first line is one. */
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

struct stream {
    CURL *easy;
    struct curl_slist *headers;
    char *body;       /* request body of the current call */
    char line[65536]; /* the NDJSON line being received */
    size_t line_len;
    int turn;         /* 1-based, cycles over the job's prompts */
    int done_seen;    /* a "done": true chunk arrived */
    int bad;          /* a line did not parse, or was too long */
    char name[128];   /* X-Turnq-Experiment */
    json_t *msgs;     /* the turn's messages so far (the next call sends them) */
    json_t *calls;    /* the tool calls of the reply being received, or NULL */
    int call;         /* 1-based call of the turn */
};

static const char *g_prefix = "baseline";
static json_t *g_job;
static const char *g_url;
static int g_max_actions = 8; /* the job's max_actions_per_turn */

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void usage(void)
{
    fprintf(stderr, "usage: baseline --url URL --job FILE [--concurrency C] [--calls N] "
                    "[--experiment-prefix P]\n");
    exit(2);
}

/* A turn's first messages: the system message and the turn's prompt. */
static json_t *turn_messages(int turn)
{
    json_t *turns = json_object_get(g_job, "turns");
    size_t n = json_array_size(turns);
    const char *prompt = n ? json_string_value(json_array_get(turns, (size_t)(turn - 1) % n)) : "";
    const char *system = json_string_value(json_object_get(g_job, "system"));
    json_t *messages = json_array();
    if (system)
        json_array_append_new(messages, json_pack("{s:s, s:s}", "role", "system", "content", system));
    json_array_append_new(messages, json_pack("{s:s, s:s}", "role", "user", "content", prompt ? prompt : ""));
    return messages;
}

/* A reply's tool calls go back as the assistant's message and one tool message each, as the
 * worker sends them when no environment runs the tool (the answer it gives the model). */
static void add_tool_round(json_t *msgs, json_t *calls)
{
    json_array_append_new(msgs, json_pack("{s:s, s:s, s:O}", "role", "assistant", "content", "", "tool_calls", calls));
    size_t i;
    json_t *c;
    json_array_foreach(calls, i, c) {
        json_t *fn = json_object_get(c, "function");
        const char *name = json_string_value(json_object_get(fn, "name"));
        char content[256];
        snprintf(content, sizeof content, "tool '%s' cannot run: no environment is configured on this worker",
                 name ? name : "?");
        const char *id = json_string_value(json_object_get(c, "id"));
        json_array_append_new(msgs, json_pack("{s:s, s:s, s:s, s:s}", "role", "tool", "tool_name", name ? name : "",
                                              "tool_call_id", id ? id : "", "content", content));
    }
}

/* The body of the stream's next call, as worker/run.c do_call builds it. Caller frees. */
static char *make_body(const struct stream *s)
{
    json_t *body = json_pack("{s:s, s:O, s:b}", "model", json_string_value(json_object_get(g_job, "model")),
                             "messages", s->msgs, "stream", 1);
    json_t *tools = json_object_get(g_job, "tools");
    if (json_array_size(tools))
        json_object_set(body, "tools", tools);
    json_t *options = json_object_get(g_job, "options");
    if (options)
        json_object_set(body, "options", options);
    json_t *keep_alive = json_object_get(g_job, "keep_alive");
    if (keep_alive)
        json_object_set(body, "keep_alive", keep_alive);
    char *text = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(body);
    return text;
}

static void feed_line(struct stream *s)
{
    json_error_t jerr;
    json_t *chunk = json_loadb(s->line, s->line_len, 0, &jerr);
    if (!chunk) {
        s->bad = 1;
        return;
    }
    if (json_is_true(json_object_get(chunk, "done")))
        s->done_seen = 1;
    json_t *calls = json_object_get(json_object_get(chunk, "message"), "tool_calls");
    if (json_array_size(calls)) {
        json_decref(s->calls);
        s->calls = json_incref(calls);
    }
    json_decref(chunk);
}

/* CURLOPT_WRITEFUNCTION */
static size_t on_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct stream *s = userdata;
    size_t n = size * nmemb;
    for (size_t i = 0; i < n; i++) {
        if (ptr[i] == '\n') {
            if (s->line_len)
                feed_line(s);
            s->line_len = 0;
        } else if (s->line_len < sizeof s->line) {
            s->line[s->line_len++] = ptr[i];
        } else {
            s->bad = 1;
        }
    }
    return n;
}

static void stream_start(CURLM *multi, struct stream *s)
{
    char h_turn[64];
    free(s->body);
    s->body = make_body(s);
    curl_slist_free_all(s->headers);
    s->headers = NULL;
    char h_exp[200];
    snprintf(h_exp, sizeof h_exp, "X-Turnq-Experiment: %s", s->name);
    snprintf(h_turn, sizeof h_turn, "X-Turnq-Turn: %d", s->turn);
    s->headers = curl_slist_append(s->headers, "Expect:");
    s->headers = curl_slist_append(s->headers, h_exp);
    s->headers = curl_slist_append(s->headers, h_turn);
    s->headers = curl_slist_append(s->headers, "Accept: application/x-ndjson");
    s->headers = curl_slist_append(s->headers, "Content-Type: application/json");
    curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, s->headers);
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, s->body);
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(s->body));
    s->line_len = 0;
    s->done_seen = 0;
    s->bad = 0;
    json_decref(s->calls);
    s->calls = NULL;
    curl_multi_add_handle(multi, s->easy);
}

static json_t *load_job(const char *path)
{
    json_error_t jerr;
    json_t *j = json_load_file(path, JSON_DISABLE_EOF_CHECK, &jerr);
    if (!j) {
        fprintf(stderr, "baseline: %s:%d:%d: %s\n", path, jerr.line, jerr.column, jerr.text);
        exit(2);
    }
    if (!json_is_object(j) || !json_is_string(json_object_get(j, "model")) ||
        !json_is_array(json_object_get(j, "turns"))) {
        fprintf(stderr, "baseline: %s: not a job object with model and a list of turns\n", path);
        exit(2);
    }
    return j;
}

int main(int argc, char **argv)
{
    long concurrency = 1, calls = 1000;
    const char *job_path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc)
            usage();
        if (!strcmp(a, "--url"))
            g_url = argv[++i];
        else if (!strcmp(a, "--job"))
            job_path = argv[++i];
        else if (!strcmp(a, "--concurrency"))
            concurrency = strtol(argv[++i], NULL, 10);
        else if (!strcmp(a, "--calls"))
            calls = strtol(argv[++i], NULL, 10);
        else if (!strcmp(a, "--experiment-prefix"))
            g_prefix = argv[++i];
        else
            usage();
    }
    if (!g_url || !job_path || concurrency < 1 || concurrency > 1024 || calls < 1)
        usage();
    g_job = load_job(job_path);
    json_t *ma = json_object_get(g_job, "max_actions_per_turn");
    if (json_is_integer(ma))
        g_max_actions = (int)json_integer_value(ma);

    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURLM *multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, concurrency + 4);
    char url[1100];
    snprintf(url, sizeof url, "%s/api/chat", g_url);
    struct stream *streams = calloc((size_t)concurrency, sizeof *streams);
    if (!streams)
        abort();

    long started = 0, finished = 0, errors = 0, connects = 0;
    double t0 = mono_s();
    for (long i = 0; i < concurrency && started < calls; i++) {
        struct stream *s = &streams[i];
        s->easy = curl_easy_init();
        s->turn = 1;
        s->call = 1;
        s->msgs = turn_messages(1);
        snprintf(s->name, sizeof s->name, "%s-%ld", g_prefix, i + 1);
        curl_easy_setopt(s->easy, CURLOPT_URL, url);
        curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s);
        curl_easy_setopt(s->easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(s->easy, CURLOPT_TCP_NODELAY, 1L);
        curl_easy_setopt(s->easy, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
        curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, on_write);
        curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, s);
        stream_start(multi, s);
        started++;
    }
    int running = 1;
    while (finished < started) {
        curl_multi_perform(multi, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(multi, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            CURL *easy = msg->easy_handle;
            CURLcode res = msg->data.result;
            struct stream *s = NULL;
            long status = 0, nconn = 0;
            curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&s);
            curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
            curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &nconn);
            connects += nconn;
            if (s->line_len)
                feed_line(s); /* a last line without "\n" */
            if (res != CURLE_OK || status != 200 || !s->done_seen || s->bad) {
                if (errors < 5)
                    fprintf(stderr, "baseline: call failed: %s, HTTP %ld%s\n", curl_easy_strerror(res), status,
                            s->done_seen ? "" : ", no done chunk");
                errors++;
            }
            finished++;
            curl_multi_remove_handle(multi, easy);
            if (started < calls) {
                /* A reply with tool calls, within the turn's budget: the turn goes on. */
                if (s->calls && s->call < g_max_actions) {
                    add_tool_round(s->msgs, s->calls);
                    s->call++;
                } else {
                    s->turn++;
                    s->call = 1;
                    json_decref(s->msgs);
                    s->msgs = turn_messages(s->turn);
                }
                stream_start(multi, s);
                started++;
            }
        }
        if (finished < started)
            curl_multi_poll(multi, NULL, 0, 1000, NULL);
    }
    double secs = mono_s() - t0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu_s = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
                   ru.ru_stime.tv_usec / 1e6;
    printf("{\"concurrency\":%ld,\"calls\":%ld,\"seconds\":%.6f,\"calls_per_s\":%.1f,\"connects\":%ld,"
           "\"errors\":%ld,\"cpu_s\":%.3f}\n",
           concurrency, finished, secs, secs > 0 ? finished / secs : 0.0, connects, errors, cpu_s);

    for (long i = 0; i < concurrency; i++) {
        if (streams[i].easy)
            curl_easy_cleanup(streams[i].easy);
        curl_slist_free_all(streams[i].headers);
        free(streams[i].body);
        json_decref(streams[i].msgs);
        json_decref(streams[i].calls);
    }
    free(streams);
    curl_multi_cleanup(multi);
    curl_global_cleanup();
    json_decref(g_job);
    return errors ? 1 : 0;
}
