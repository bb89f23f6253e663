/* submit: validate every input, place each experiment on a machine, and write them all in ONE
 * Lua script (SPEC "Submitting", README "Placement").
 *
 * Everything that can be checked without Redis is checked first (inputs, --strategy, --machines
 * and its weights), so a bad input changes nothing. The script then decides, atomically, for
 * every experiment: new (write it), unchanged (same canonical spec: write nothing), replace
 * (--force over an ended one) or conflict. One conflict and the script writes nothing at all, so
 * the whole input is accepted or refused as a unit, and two dispatchers submitting the same ids at
 * once cannot both enqueue them: the second one's script runs after the first's and sees
 * "unchanged".
 *
 * Placement. A pin, `hash` and `mod` depend only on the job and its input position, so they are
 * decided here in C (strategy.c) and passed in. `least-loaded` and `model` depend on what is
 * already waiting and running, so the same script decides them, from the loads it reads itself
 * in the same atomic step as the writes: two dispatchers submitting at once cannot both see the
 * same emptiest machine, since the second script sees the first one's jobs. The printed placement
 * is the script's answer, and --dry-run runs the very same script with nothing written.
 *
 * Keys. Every key of the experiments and machines involved is passed in KEYS, built by keys.h.
 * The one exception is the job hashes of the experiments already in the target machines' queues
 * and running lists, which least-loaded and model read to add up their estimates and models: the
 * script builds those names as the job key prefix (ARGV, from keys.h) followed by the id, as the
 * worker's steal script does. Within one submission the ids are scored ms + k/4096 (k the
 * position in the input), so NS:ids lists them in input order rather than in the lexical order
 * Redis uses for equal scores; the offset stays under 2.5 ms for 10000 experiments. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "disp.h"
#include "gate.h"
#include "job.h"
#include "keys.h"
#include "log.h"
#include "place.h"
#include "strategy.h"
#include "timefmt.h"
#include "xalloc.h"

static const char *opt_strategy = "hash";
static bool opt_dry_run, opt_force, opt_allow_mixed;

static const struct cfg_opt submit_opts[] = {
    {"strategy", 0, NULL, CFG_STR, &opt_strategy, 0, 0, "hash|mod|least-loaded|model",
     "placement (default hash); see the description above"},
    {"dry-run", 0, NULL, CFG_BOOL, &opt_dry_run, 0, 0, NULL, "print the placement and what would happen; write nothing"},
    {"force", 0, NULL, CFG_BOOL, &opt_force, 0, 0, NULL,
     "replace experiments whose spec changed, if they have ended (done, failed, cancelled)"},
    {"allow-mixed-digests", 0, NULL, CFG_BOOL, &opt_allow_mixed, 0, 0, NULL,
     "submit even when the live workers of an experiment's machines disagree on its model's digest or lack "
     "it; the job hash records the table (mixed_digests)"},
    {NULL},
};

/* The submit script.
 * KEYS: 1 ids, 2 dead, 3 events; then four per job: job, turns, transcript, result; then three
 *       per machine of the machine table: queue, running, heartbeat.
 * ARGV: 1 force, 2 dry, 3 submitted_at (ISO), 4 events maxlen, 5 strategy (fixed, least-loaded,
 *       model), 6 job key prefix, 7 number of jobs, 8 number of machines; then three per machine:
 *       name, weight, candidate (1: the strategy may choose it; 0: only pinned jobs go there);
 *       then six per job: id, spec, machine (its 1-based index in the table, 0: the script
 *       chooses), score, estimate, model; then one per job: its mixed_digests table ("": none).
 * The table is sorted by name, so "ties go to the smaller name" is "to the smaller index" (Lua
 * compares strings with strcoll, which depends on the server's locale).
 * Returns four values per job: verdict (new|unchanged|replace|conflict), the existing state and
 * machine ("" when none) and the index of the machine it is placed on (0 when it is not placed:
 * unchanged, conflict); then, unless it stopped at a conflict, one value per machine: the
 * outstanding load it read (the sum of estimates queued and running there, before this
 * submission), or "" when the strategy read none.
 *
 * The jobs with a fixed machine (pins; all of them under hash and mod) are counted first; then
 * the others are placed longest first (largest estimate first, ties in input order: with alike
 * estimates that is input order), which balances the sums far better than input order does
 * (longest-processing-time-first list scheduling). The writes, and so each queue, go largest
 * estimate first too (ties in input order: with alike estimates, input order), as the chunked
 * path writes them (write_order).
 * least-loaded: each job goes to the candidate whose (load + estimate) / weight is smallest, ties
 * to the smaller name; the loads grow as jobs are placed.
 * model: among the candidates that may run the job's model (their live heartbeat's
 * ollama.models lists it, or there is no such list), those where the model is already queued,
 * running or placed by this submission and whose load / weight is still below the fair share
 * (all outstanding load of the candidates plus this submission's, over the sum of weights) come
 * first; the least-loaded of them wins; else the least-loaded of those that may run it; else the
 * least-loaded of all. Model names compare with ":latest" added when they carry no tag. */
static const char submit_lua[] =
    "local force, dry, at, maxlen = ARGV[1] == '1', ARGV[2] == '1', ARGV[3], ARGV[4]\n"
    "local strategy, jprefix = ARGV[5], ARGV[6]\n"
    "local n, nm = tonumber(ARGV[7]), tonumber(ARGV[8])\n"
    "local KJ, KM, AM, AJ = 3, 3 + 4 * n, 8, 8 + 3 * nm\n"
    "local ended = {done = true, failed = true, cancelled = true}\n"
    "local out, conflicts, choose_here = {}, 0, false\n"
    "for i = 1, n do\n"
    "  local jk, a, o = KEYS[KJ + (i - 1) * 4 + 1], AJ + (i - 1) * 6, (i - 1) * 4\n"
    "  local cur = redis.call('HMGET', jk, 'spec', 'state', 'machine')\n"
    "  local v\n"
    "  if redis.call('EXISTS', jk) == 0 then v = 'new'\n"
    "  elseif cur[1] == ARGV[a + 2] then v = 'unchanged'\n"
    "  elseif force and cur[2] and ended[cur[2]] then v = 'replace'\n"
    "  else v = 'conflict'; conflicts = conflicts + 1 end\n"
    "  out[o + 1], out[o + 2], out[o + 3], out[o + 4] = v, cur[2] or '', cur[3] or '', 0\n"
    "  if (v == 'new' or v == 'replace') and ARGV[a + 3] == '0' then choose_here = true end\n"
    "end\n"
    "if conflicts > 0 and not dry then return out end\n"
    "local function norm(m) if m:find(':[^/]*$') then return m end return m .. ':latest' end\n"
    "local name, weight, cand, load, has, known = {}, {}, {}, {}, {}, {}\n"
    "for m = 1, nm do\n"
    "  local a = AM + (m - 1) * 3\n"
    "  name[m], weight[m], cand[m] = ARGV[a + 1], tonumber(ARGV[a + 2]), ARGV[a + 3] == '1'\n"
    "  load[m], has[m] = 0, {}\n"
    "end\n"
    "local scanned = choose_here and strategy ~= 'fixed'\n"
    "local want_model = scanned and strategy == 'model'\n"
    "if scanned then\n"
    "  for m = 1, nm do\n"
    "    local k = KM + (m - 1) * 3\n"
    "    if cand[m] then\n"
    "      for _, lk in ipairs({KEYS[k + 1], KEYS[k + 2]}) do\n"
    "        for _, id in ipairs(redis.call('LRANGE', lk, 0, -1)) do\n"
    "          local h = redis.call('HMGET', jprefix .. id, 'estimate', 'model')\n"
    "          local e = tonumber(h[1])\n"
    "          if not e or e <= 0 then e = 1 end\n"
    "          load[m] = load[m] + e\n"
    "          if want_model then\n"
    "            local md = h[2]\n"
    "            if not md then\n" /* a job submitted before the field existed */
    "              local ok, s = pcall(cjson.decode, redis.call('HGET', jprefix .. id, 'spec') or '')\n"
    "              if ok and type(s) == 'table' and type(s.model) == 'string' then md = s.model end\n"
    "            end\n"
    "            if md then has[m][norm(md)] = true end\n"
    "          end\n"
    "        end\n"
    "      end\n"
    "      if want_model then\n"
    "        local ok, hb = pcall(cjson.decode, redis.call('GET', KEYS[k + 3]) or '')\n"
    "        if ok and type(hb) == 'table' and type(hb.ollama) == 'table' and type(hb.ollama.models) == 'table' then\n"
    "          known[m] = {}\n"
    "          for _, mo in ipairs(hb.ollama.models) do\n"
    "            if type(mo) == 'table' and type(mo.name) == 'string' then known[m][norm(mo.name)] = true end\n"
    "          end\n"
    "        end\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "local loads = {}\n"
    "for m = 1, nm do loads[m] = scanned and cand[m] and tostring(load[m]) or '' end\n"
    "local wsum, total = 0, 0\n"
    "for m = 1, nm do if cand[m] then wsum, total = wsum + weight[m], total + load[m] end end\n"
    "for i = 1, n do\n"
    "  local v, a = out[(i - 1) * 4 + 1], AJ + (i - 1) * 6\n"
    "  local f = tonumber(ARGV[a + 3])\n"
    "  if (v == 'new' or v == 'replace') and (f == 0 or cand[f]) then total = total + tonumber(ARGV[a + 5]) end\n"
    "end\n"
    "local share = wsum > 0 and total / wsum or 0\n"
    /* x below y beyond rounding: sums of estimates are not exact */
    "local function less(x, y) return x < y - 1e-9 * math.max(1, math.abs(x), math.abs(y)) end\n"
    "local function better(a, b, e)\n"
    "  if not b then return true end\n"
    "  local la, lb = (load[a] + e) / weight[a], (load[b] + e) / weight[b]\n"
    "  if less(la, lb) then return true elseif less(lb, la) then return false end\n"
    "  return a < b\n"
    "end\n"
    "local function choose(e, md)\n"
    "  local any, can, near\n"
    "  for m = 1, nm do\n"
    "    if cand[m] then\n"
    "      if better(m, any, e) then any = m end\n"
    "      if strategy == 'model' and (not known[m] or known[m][md]) then\n"
    "        if better(m, can, e) then can = m end\n"
    "        if has[m][md] and less(load[m] / weight[m], share) and better(m, near, e) then near = m end\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "  return near or can or any\n"
    "end\n"
    /* First the jobs whose machine is fixed (pins, hash, mod), then the others longest first
     * (ties in input order); the writes below go largest estimate first as well. */
    "local free = {}\n"
    "local function place(i, m)\n"
    "  local a = AJ + (i - 1) * 6\n"
    "  local e, md = tonumber(ARGV[a + 5]), norm(ARGV[a + 6])\n"
    "  if m == 0 then m = choose(e, md) end\n"
    "  load[m] = load[m] + e\n"
    "  has[m][md] = true\n"
    "  out[(i - 1) * 4 + 4] = m\n"
    "end\n"
    "for i = 1, n do\n"
    "  local v, m = out[(i - 1) * 4 + 1], tonumber(ARGV[AJ + (i - 1) * 6 + 3])\n"
    "  if v == 'new' or v == 'replace' then\n"
    "    if m > 0 then place(i, m) else free[#free + 1] = i end\n"
    "  end\n"
    "end\n"
    "local function estimate_of(i) return tonumber(ARGV[AJ + (i - 1) * 6 + 5]) end\n"
    "table.sort(free, function(x, y) local ex, ey = estimate_of(x), estimate_of(y)\n"
    "  if ex ~= ey then return ex > ey end return x < y end)\n"
    "for _, i in ipairs(free) do place(i, 0) end\n"
    "for m = 1, nm do out[#out + 1] = loads[m] end\n"
    "if conflicts > 0 or dry then return out end\n"
    /* The writes, and so each queue, largest estimate first (ties in input order). */
    "local ord = {}\n"
    "for i = 1, n do ord[i] = i end\n"
    "table.sort(ord, function(x, y) local ex, ey = estimate_of(x), estimate_of(y)\n"
    "  if ex ~= ey then return ex > ey end return x < y end)\n"
    "for _, i in ipairs(ord) do\n"
    "  local o = (i - 1) * 4\n"
    "  local v, m = out[o + 1], out[o + 4]\n"
    "  if v == 'new' or v == 'replace' then\n"
    "    local k, a = KJ + (i - 1) * 4, AJ + (i - 1) * 6\n"
    "    local id, spec, score, est, md = ARGV[a + 1], ARGV[a + 2], ARGV[a + 4], ARGV[a + 5], ARGV[a + 6]\n"
    "    if v == 'replace' then\n"
    "      redis.call('DEL', KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], KEYS[k + 4])\n"
    "      redis.call('LREM', KEYS[2], 0, id)\n"
    "    end\n"
    "    redis.call('HSET', KEYS[k + 1], 'spec', spec, 'state', 'queued', 'machine', name[m],\n"
    "               'model', md, 'estimate', est,\n"
    "               'attempts', '0', 'interrupted', '0', 'turn', '0', 'submitted_at', at)\n"
    "    local mx = ARGV[AJ + 6 * n + i]\n"
    "    if mx ~= '' then redis.call('HSET', KEYS[k + 1], 'mixed_digests', mx) end\n"
    "    redis.call('ZADD', KEYS[1], score, id)\n"
    "    redis.call('LPUSH', KEYS[KM + (m - 1) * 3 + 1], id)\n"
    "    redis.call('XADD', KEYS[3], 'MAXLEN', '~', maxlen, '*',\n"
    "               'id', id, 'event', 'queued', 'machine', name[m], 'turn', '0')\n"
    "  end\n"
    "end\n"
    "return out\n";

/* The chunked path, when C has placed every experiment (pins, hash, mod): every submission but
 * those least-loaded and model place. One script over a large input would block Redis while it
 * runs (about 1.5 s per 100,000 experiments), and every worker with it; a Lua script also costs
 * several times what the same commands cost sent plainly. So this path sends plain pipelined
 * commands in chunks, under the submission lock (below), and Redis serves the workers between
 * them:
 *   1. check: HMGET spec, state, machine of every job hash, pipelined (read only), so that one
 *      conflict refuses the whole input with nothing written;
 *   2. write, per chunk of SUBMIT_TX_CHUNK, an optimistic transaction: WATCH the chunk's new and
 *      replaced experiments' job hashes, read them again, and, when each still has its verdict,
 *      MULTI, their writes, EXEC (tried again when a watched key was touched in between). The
 *      lock keeps other submissions out, so what can change a hash here is another command
 *      (retry, cancel) on an ended experiment being replaced: then the submission stops at that
 *      chunk and says exactly what it wrote, exit 1.
 * The chunk's ids go into NS:ids and the queues with one variadic ZADD and one LPUSH per machine.
 * The chunks take the experiments largest estimate first (write_order; input order when the
 * estimates are alike); NS:ids scores them by input position all the same. */
#define SUBMIT_CHUNK 1000   /* experiments per pipelined read batch */
#define SUBMIT_TX_CHUNK 100 /* experiments per transaction: WATCH costs O(n^2) in the keys watched */
#define SUBMIT_TX_TRIES 10  /* a chunk whose keys others keep touching: give up after this */

/* V_UNWRITTEN: new or replaced, but not written: another client changed one of its chunk's job
 * hashes while this submission wrote (see the chunked path). */
enum verdict { V_NEW, V_UNCHANGED, V_REPLACE, V_CONFLICT, V_UNWRITTEN, V_COUNT };

/* The machines a submission may use: the candidates (the machine list, which the strategy
 * chooses from, with their weights) and the machines only pins name. Sorted by name. */
struct mtable {
    struct strvec names;
    double *weight;
    bool *cand;
};

struct placed {
    const struct job *job; /* borrowed from the job list */
    int fixed;             /* 1-based table index decided in C (pin, hash, mod); 0: the script chooses */
    const char *machine;   /* borrowed from the table: where it goes; NULL when not placed */
    const char *spec;      /* canonical text, borrowed from the job */
    enum verdict verdict;
    char *state;           /* existing state, owned ("" when new) */
    char *cur_machine;     /* existing machine, owned ("" when new) */
    char score[32];        /* its NS:ids score (chunked path) */
    const char *mixed;     /* the gate's table (JSON) when --allow-mixed-digests let it through; NULL: none */
};

static enum strategy g_strategy;

/* ---- Inputs ---- */

static int read_inputs(const char **args, int nargs, struct job_list *list)
{
    char err[ERR_LEN];
    bool stdin_used = false;
    for (int i = 0; i < nargs; i++) {
        bool is_stdin = !strcmp(args[i], "-");
        if (is_stdin && stdin_used) {
            disp_errf("submit: '-' (stdin) is given twice");
            return EXIT_USAGE;
        }
        stdin_used = stdin_used || is_stdin;
        size_t len;
        char *text = disp_read_all(args[i], &len);
        if (!text) {
            disp_errf("%s: %s", is_stdin ? "stdin" : args[i], strerror(errno));
            return EXIT_USAGE;
        }
        int rc = job_list_add_input(list, text, len, is_stdin ? "stdin" : args[i], err);
        free(text);
        if (rc < 0) {
            disp_errf("%s", err);
            return EXIT_USAGE;
        }
    }
    return 0;
}

/* ---- Placement ---- */

static void mtable_free(struct mtable *t)
{
    strvec_free(&t->names);
    free(t->weight);
    free(t->cand);
    memset(t, 0, sizeof *t);
}

/* 1-based index of name in the table, 0 when absent. */
static int mtable_find(const struct mtable *t, const char *name)
{
    return (int)strvec_find(&t->names, name) + 1;
}

/* Builds the machine table from the machine list (candidates, with their weights) and the pins,
 * and decides in C what C can decide: pins, hash and mod. */
static int place_all(struct disp *d, const struct job_list *list, struct placed *p, struct strvec *machines,
                     struct mtable *t)
{
    bool need_list = false;
    for (size_t i = 0; i < list->n; i++)
        need_list = need_list || !list->v[i]->machine;
    if (need_list || d->machines_given) {
        int rc = disp_machines(d, machines);
        if (rc)
            return rc;
    }
    if (need_list && machines->n == 0) {
        disp_errf("no machines: pass --machines or start a worker first");
        return EXIT_USAGE;
    }
    /* The machine list's weights, in its order (for hash and mod). */
    double *w = xcalloc(machines->n + 1, sizeof *w);
    for (size_t i = 0; i < machines->n; i++)
        w[i] = disp_weight(d, machines->v[i]);

    for (size_t i = 0; i < machines->n; i++)
        strvec_push(&t->names, machines->v[i]);
    for (size_t i = 0; i < list->n; i++)
        if (list->v[i]->machine && strvec_find(&t->names, list->v[i]->machine) < 0)
            strvec_push(&t->names, list->v[i]->machine);
    strvec_sort(&t->names);
    t->weight = xcalloc(t->names.n + 1, sizeof *t->weight);
    t->cand = xcalloc(t->names.n + 1, sizeof *t->cand);
    for (size_t i = 0; i < t->names.n; i++) {
        long k = strvec_find(machines, t->names.v[i]);
        t->cand[i] = k >= 0;
        t->weight[i] = k >= 0 ? w[k] : 1.0;
    }

    for (size_t i = 0; i < list->n; i++) {
        const struct job *j = list->v[i];
        p[i].job = j;
        p[i].spec = job_canonical_text(j);
        const char *m = NULL;
        if (j->machine)
            m = j->machine;
        else if (g_strategy == STRATEGY_HASH)
            m = machines->v[place_hash_weighted(j->id, (const char *const *)machines->v, w, machines->n)];
        else if (g_strategy == STRATEGY_MOD)
            m = machines->v[place_mod_weighted(i + 1, w, machines->n)];
        p[i].fixed = m ? mtable_find(t, m) : 0;
        log_debug("place id=%s machine=%s", j->id, m ? m : "(chosen by the submit script)");
    }
    free(w);
    return 0;
}

/* ---- The script ---- */

static int run_script(struct disp *d, struct placed *p, size_t n, const struct mtable *t)
{
    struct rargs a = {0};
    char at[TIMEFMT_ISO_LEN];
    int64_t now = timefmt_now_ms();
    timefmt_iso(now, at);
    size_t nm = t->names.n;

    rargs_add(&a, "EVAL");
    rargs_add(&a, submit_lua);
    rargs_addf(&a, "%zu", 3 + 4 * n + 3 * nm);
    rargs_addc(&a, key_ids(d->ns).s);
    rargs_addc(&a, key_dead(d->ns).s);
    rargs_addc(&a, key_events(d->ns).s);
    for (size_t i = 0; i < n; i++) {
        const char *id = p[i].job->id;
        rargs_addc(&a, key_job(d->ns, id).s);
        rargs_addc(&a, key_turns(d->ns, id).s);
        rargs_addc(&a, key_transcript(d->ns, id).s);
        rargs_addc(&a, key_result(d->ns, id).s);
    }
    for (size_t m = 0; m < nm; m++) {
        rargs_addc(&a, key_queue(d->ns, t->names.v[m]).s);
        rargs_addc(&a, key_running(d->ns, t->names.v[m]).s);
        rargs_addc(&a, key_worker(d->ns, t->names.v[m]).s);
    }
    rargs_add(&a, opt_force ? "1" : "0");
    rargs_add(&a, opt_dry_run ? "1" : "0");
    rargs_add(&a, at);
    rargs_addf(&a, "%d", KEYS_EVENTS_MAXLEN);
    rargs_add(&a, g_strategy == STRATEGY_LEAST_LOADED ? "least-loaded" : g_strategy == STRATEGY_MODEL ? "model" : "fixed");
    rargs_addc(&a, key_job(d->ns, "").s);
    rargs_addf(&a, "%zu", n);
    rargs_addf(&a, "%zu", nm);
    for (size_t m = 0; m < nm; m++) {
        rargs_add(&a, t->names.v[m]);
        rargs_addf(&a, "%.17g", t->weight[m]);
        rargs_add(&a, t->cand[m] ? "1" : "0");
    }
    for (size_t i = 0; i < n; i++) {
        rargs_add(&a, p[i].job->id);
        rargs_add(&a, p[i].spec);
        rargs_addf(&a, "%d", p[i].fixed);
        rargs_addf(&a, "%.17g", (double)now + (double)i / 4096.0);
        rargs_addf(&a, "%.15g", p[i].job->estimate);
        rargs_add(&a, p[i].job->model);
    }
    for (size_t i = 0; i < n; i++)
        rargs_add(&a, p[i].mixed ? p[i].mixed : "");

    redisReply *r;
    int rc = disp_command(d, &a, &r);
    rargs_free(&a);
    if (rc)
        return rc;
    if (r->type != REDIS_REPLY_ARRAY || (r->elements != 4 * n && r->elements != 4 * n + nm)) {
        disp_errf("submit: unexpected reply from the submit script (type %d, %zu elements)", r->type,
                  r->type == REDIS_REPLY_ARRAY ? r->elements : 0);
        freeReplyObject(r);
        return EXIT_RUNTIME;
    }
    for (size_t i = 0; i < n; i++) {
        redisReply **e = r->element + 4 * i;
        const char *v = e[0]->type == REDIS_REPLY_STRING ? e[0]->str : "";
        p[i].verdict = !strcmp(v, "new") ? V_NEW : !strcmp(v, "unchanged") ? V_UNCHANGED
                     : !strcmp(v, "replace") ? V_REPLACE : V_CONFLICT;
        p[i].state = xstrdup(e[1]->type == REDIS_REPLY_STRING ? e[1]->str : "");
        p[i].cur_machine = xstrdup(e[2]->type == REDIS_REPLY_STRING ? e[2]->str : "");
        long long m = e[3]->type == REDIS_REPLY_INTEGER ? e[3]->integer : 0;
        if (m < 0 || (size_t)m > nm || ((p[i].verdict == V_NEW || p[i].verdict == V_REPLACE) &&
                                        m == 0 && r->elements == 4 * n + nm)) {
            disp_errf("submit: the submit script placed %s on no known machine (%lld)", p[i].job->id, m);
            freeReplyObject(r);
            return EXIT_RUNTIME;
        }
        p[i].machine = m > 0 ? t->names.v[m - 1] : NULL;
        if (p[i].machine)
            log_debug("placed id=%s machine=%s", p[i].job->id, p[i].machine);
    }
    for (size_t m = 0; r->elements == 4 * n + nm && m < nm; m++) {
        redisReply *e = r->element[4 * n + m];
        if (e->type == REDIS_REPLY_STRING && e->len)
            log_debug("machine %s: weight %g, outstanding load before this submission %s (estimates queued and "
                      "running)",
                      t->names.v[m], t->weight[m], e->str);
    }
    freeReplyObject(r);
    return 0;
}

/* The chunked path (chunk_lua): every experiment's machine is decided (p[i].fixed > 0). */
static bool all_fixed(const struct placed *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!p[i].fixed)
            return false;
    return true;
}

/* The verdict for one job hash, from its HMGET spec state machine reply: one command, so one
 * atomic read (a hash is written whole by one HSET, and every hash turnq writes has a state). */
static enum verdict decide(const redisReply *hm, const char *spec)
{
    const redisReply *sp = hm->element[0], *st = hm->element[1], *m = hm->element[2];
    if (sp->type == REDIS_REPLY_NIL && st->type == REDIS_REPLY_NIL && m->type == REDIS_REPLY_NIL)
        return V_NEW;
    if (sp->type == REDIS_REPLY_STRING && !strcmp(sp->str, spec))
        return V_UNCHANGED;
    if (opt_force && st->type == REDIS_REPLY_STRING && disp_state_ended(st->str))
        return V_REPLACE;
    return V_CONFLICT;
}

static bool hm_ok(const redisReply *hm)
{
    return hm && hm->type == REDIS_REPLY_ARRAY && hm->elements == 3;
}

static int bad_reply(const char *what)
{
    disp_errf("submit: unexpected reply from Redis to %s", what);
    return EXIT_RUNTIME;
}

/* Appends HMGET spec state machine for p[0..n), skipping those `only` says no to (NULL: all). */
static void append_reads(struct disp *d, const struct placed *p, size_t n, const bool *only)
{
    for (size_t i = 0; i < n; i++)
        if (!only || only[i])
            disp_appendv(d, "HMGET", key_job(d->ns, p[i].job->id).s, "spec", "state", "machine", NULL);
}

/* Reads the replies of append_reads into verdicts; with `first`, also the state and machine. */
static int read_verdicts(struct disp *d, struct placed *p, size_t n, const bool *only, bool first,
                         enum verdict *out)
{
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (only && !only[i])
            continue;
        redisReply *hm = NULL;
        if ((rc = disp_reply(d, &hm)) || (!hm_ok(hm) && (rc = bad_reply("HMGET")))) {
            freeReplyObject(hm);
            return rc; /* the submission ends here, with the replies still due left unread */
        }
        out[i] = decide(hm, p[i].spec);
        if (first) {
            p[i].state = xstrdup(hm->element[1]->type == REDIS_REPLY_STRING ? hm->element[1]->str : "");
            p[i].cur_machine = xstrdup(hm->element[2]->type == REDIS_REPLY_STRING ? hm->element[2]->str : "");
        }
        freeReplyObject(hm);
    }
    return 0;
}

/* A grid combination's fields (grid.h) go into its job hash as `grid`, for `results --format
 * csv` to make their columns without the grid file. Not part of the spec. */
static void append_grid(struct disp *d, const struct job *j)
{
    if (!j->grid)
        return;
    char *text = json_dumps(j->grid, JSON_COMPACT | JSON_REAL_PRECISION(17));
    disp_appendv(d, "HSET", key_job(d->ns, j->id).s, "grid", text, NULL);
    free(text);
}

/* Appends the writes of the new and replaced experiments among p[0..n) (verdicts v). */
static void append_writes(struct disp *d, const struct placed *p, size_t n, const enum verdict *v,
                          const struct mtable *t, const char *at, struct rargs *a)
{
    char maxlen[16];
    snprintf(maxlen, sizeof maxlen, "%d", KEYS_EVENTS_MAXLEN);
    for (size_t i = 0; i < n; i++) {
        if (v[i] != V_NEW && v[i] != V_REPLACE)
            continue;
        const char *id = p[i].job->id, *name = t->names.v[p[i].fixed - 1];
        struct key jk = key_job(d->ns, id);
        if (v[i] == V_REPLACE) {
            disp_appendv(d, "DEL", jk.s, key_turns(d->ns, id).s, key_transcript(d->ns, id).s,
                         key_result(d->ns, id).s, NULL);
            disp_appendv(d, "LREM", key_dead(d->ns).s, "0", id, NULL);
        }
        char est[32];
        double e = p[i].job->estimate;
        if (e == (double)(long long)e)
            snprintf(est, sizeof est, "%lld", (long long)e); /* the usual case, 1, without %g */
        else
            snprintf(est, sizeof est, "%.15g", e);
        disp_appendv(d, "HSET", jk.s, "spec", p[i].spec, "state", "queued", "machine", name, "model",
                     p[i].job->model, "estimate", est, "attempts", "0", "interrupted", "0", "turn", "0",
                     "submitted_at", at, NULL);
        if (p[i].mixed)
            disp_appendv(d, "HSET", jk.s, "mixed_digests", p[i].mixed, NULL);
        disp_appendv(d, "XADD", key_events(d->ns).s, "MAXLEN", "~", maxlen, "*", "id", id, "event", "queued",
                     "machine", name, "turn", "0", NULL);
        append_grid(d, p[i].job);
    }
    rargs_reset(a);
    rargs_add(a, "ZADD");
    rargs_addc(a, key_ids(d->ns).s);
    for (size_t i = 0; i < n; i++)
        if (v[i] == V_NEW || v[i] == V_REPLACE) {
            rargs_add(a, p[i].score);
            rargs_add(a, p[i].job->id);
        }
    if (a->n > 2)
        disp_append(d, a);
    for (size_t m = 0; m < t->names.n; m++) {
        rargs_reset(a);
        rargs_add(a, "LPUSH");
        rargs_addc(a, key_queue(d->ns, t->names.v[m]).s);
        for (size_t i = 0; i < n; i++)
            if ((v[i] == V_NEW || v[i] == V_REPLACE) && (size_t)p[i].fixed == m + 1)
                rargs_add(a, p[i].job->id);
        if (a->n > 2)
            disp_append(d, a);
    }
}

/* Writes one chunk's new and replaced experiments in an optimistic transaction (see above):
 * WATCH their job hashes, read them again, and write only if every one still has the verdict the
 * check gave it. Returns 0 with *changed false when written; with *changed true when another
 * client changed one of them since the check (nothing of the chunk written); or an exit code.
 * EXEC finds a watched key touched in between: the chunk is read and decided again. */
static int write_chunk(struct disp *d, struct placed *p, size_t n, const struct mtable *t, const char *at,
                       bool *changed)
{
    bool *mine = xcalloc(n, sizeof *mine);
    enum verdict *v = xcalloc(n, sizeof *v);
    struct rargs a = {0};
    size_t writes = 0;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        writes += mine[i] = p[i].verdict == V_NEW || p[i].verdict == V_REPLACE;
        v[i] = p[i].verdict; /* read again below for the ones this chunk writes */
    }
    *changed = false;
    for (int tries = 0; writes;) {
        if (++tries > SUBMIT_TX_TRIES) {
            disp_errf("submit: other clients kept writing the job hashes of %s ... while this submission tried "
                      "to; gave up after %d tries",
                      p[0].job->id, SUBMIT_TX_TRIES);
            rc = EXIT_RUNTIME;
            break;
        }
        rargs_reset(&a);
        rargs_add(&a, "WATCH");
        for (size_t i = 0; i < n; i++)
            if (mine[i])
                rargs_addc(&a, key_job(d->ns, p[i].job->id).s);
        disp_append(d, &a);
        append_reads(d, p, n, mine);
        redisReply *r;
        if ((rc = disp_reply(d, &r)))
            break;
        freeReplyObject(r);
        if ((rc = read_verdicts(d, p, n, mine, false, v)))
            break;
        for (size_t i = 0; i < n; i++)
            *changed = *changed || (mine[i] && v[i] != p[i].verdict);
        if (*changed) {
            disp_appendv(d, "UNWATCH", NULL);
            if (!(rc = disp_reply(d, &r)))
                freeReplyObject(r);
            break;
        }
        disp_appendv(d, "MULTI", NULL);
        append_writes(d, p, n, v, t, at, &a);
        disp_appendv(d, "EXEC", NULL);
        /* OK, QUEUED per command, then EXEC's array (nil: a watched key was touched: try again). */
        bool aborted = false;
        while (!rc) {
            if ((rc = disp_reply(d, &r)))
                break;
            bool last = r->type == REDIS_REPLY_ARRAY || r->type == REDIS_REPLY_NIL;
            aborted = r->type == REDIS_REPLY_NIL;
            for (size_t e = 0; r->type == REDIS_REPLY_ARRAY && e < r->elements; e++)
                if (r->element[e]->type == REDIS_REPLY_ERROR) {
                    disp_errf("Redis refused a write of the submission: %s", r->element[e]->str);
                    rc = EXIT_RUNTIME;
                    break;
                }
            freeReplyObject(r);
            if (last)
                break;
        }
        if (rc || !aborted)
            break;
    }
    rargs_free(&a);
    free(v);
    free(mine);
    return rc;
}

/* After the submit script (least-loaded, model): the grid fields of what it wrote, pipelined. Not
 * in the script itself, whose arguments are already large; a dispatcher killed in between leaves
 * only these columns out of `results --format csv` (the grid file's --sweep still has them). */
static int write_grids(struct disp *d, const struct placed *p, size_t n)
{
    size_t sent = 0;
    for (size_t i = 0; i < n; i++)
        if ((p[i].verdict == V_NEW || p[i].verdict == V_REPLACE) && p[i].job->grid) {
            append_grid(d, p[i].job);
            sent++;
        }
    int rc = 0;
    for (size_t i = 0; i < sent && !rc; i++) {
        redisReply *r;
        if (!(rc = disp_reply(d, &r)))
            freeReplyObject(r);
    }
    return rc;
}

/* ---- The submission lock ----
 * Submissions to one namespace take turns: NS:submitting holds the holder's token ("HOST:PID
 * TIME") with a TTL, taken before the check and kept until the last write. So a submission's
 * check stays true while it writes, two submissions of the same ids never interleave (one is
 * written whole, the other then finds it: unchanged, or refused whole with nothing written), and
 * the transactions above only ever meet other commands (cancel, retry). A dispatcher killed
 * mid-write leaves its lock to expire; resubmitting its input adds what is missing. */
#define SUBMIT_LOCK_TTL_MS 30000
#define SUBMIT_LOCK_RENEW_S 5.0
#define SUBMIT_LOCK_WAIT_S 120.0

static char lock_token[160];
static double lock_renewed;

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int lock_take(struct disp *d)
{
    char host[64] = "?", at[TIMEFMT_ISO_LEN], ttl[16];
    gethostname(host, sizeof host - 1);
    timefmt_iso(timefmt_now_ms(), at);
    snprintf(lock_token, sizeof lock_token, "%s:%d %s", host, (int)getpid(), at);
    snprintf(ttl, sizeof ttl, "%d", SUBMIT_LOCK_TTL_MS);
    struct key k = key_submit_lock(d->ns);
    double start = mono_now();
    bool said = false;
    for (;;) {
        redisReply *r;
        int rc = disp_call(d, &r, "SET", k.s, lock_token, "NX", "PX", ttl, NULL);
        if (rc)
            return rc;
        bool got = r->type == REDIS_REPLY_STATUS;
        freeReplyObject(r);
        if (got) {
            lock_renewed = mono_now();
            return 0;
        }
        if ((rc = disp_call(d, &r, "GET", k.s, NULL)))
            return rc;
        char holder[160];
        snprintf(holder, sizeof holder, "%s", r->type == REDIS_REPLY_STRING ? r->str : "?");
        freeReplyObject(r);
        if (mono_now() - start > SUBMIT_LOCK_WAIT_S) {
            disp_errf("submit: another submission has been writing for %.0f s (%s holds %s); nothing written. If "
                      "no dispatcher is running, the key expires within %d s",
                      SUBMIT_LOCK_WAIT_S, holder, k.s, SUBMIT_LOCK_TTL_MS / 1000);
            return EXIT_RUNTIME;
        }
        if (!said)
            disp_warnf("waiting for another submission to finish (%s holds %s)", holder, k.s);
        said = true;
        struct timespec nap = {0, 50 * 1000 * 1000}; /* a short poll: submissions take seconds */
        nanosleep(&nap, NULL);
    }
}

static const char lock_renew_lua[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end\n"
    "return 0\n";
static const char lock_release_lua[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end\n"
    "return 0\n";

/* Every SUBMIT_LOCK_RENEW_S while writing: keep the lock, or stop when it was lost (this process
 * was stopped for longer than its TTL, and another submission may be writing now). */
static int lock_renew(struct disp *d)
{
    if (mono_now() - lock_renewed < SUBMIT_LOCK_RENEW_S)
        return 0;
    char ttl[16];
    snprintf(ttl, sizeof ttl, "%d", SUBMIT_LOCK_TTL_MS);
    redisReply *r;
    int rc = disp_call(d, &r, "EVAL", lock_renew_lua, "1", key_submit_lock(d->ns).s, lock_token, ttl, NULL);
    if (rc)
        return rc;
    bool ours = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    freeReplyObject(r);
    if (!ours) {
        disp_errf("submit: lost the submission lock %s (this dispatcher was held up for over %d s); stopped "
                  "writing",
                  key_submit_lock(d->ns).s, SUBMIT_LOCK_TTL_MS / 1000);
        return EXIT_RUNTIME;
    }
    lock_renewed = mono_now();
    return 0;
}

static void lock_release(struct disp *d)
{
    redisReply *r;
    if (lock_token[0] && !disp_call(d, &r, "EVAL", lock_release_lua, "1", key_submit_lock(d->ns).s, lock_token, NULL))
        freeReplyObject(r);
    lock_token[0] = '\0';
}

/* The order a submission's experiments are written in, and so each queue receives them: largest
 * estimate first, ties in input order (the submit script does the same). A machine then runs its
 * longest work first and what waits at the back of its queue, where a --steal worker takes from,
 * is short: longest-first list scheduling. Returns the permutation, or NULL when every estimate is
 * the same (input order, the usual case: no estimates). */
struct order_key {
    double estimate;
    size_t i;
};

static int by_estimate(const void *a, const void *b)
{
    const struct order_key *x = a, *y = b;
    if (x->estimate != y->estimate)
        return x->estimate > y->estimate ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

static size_t *write_order(const struct placed *p, size_t n)
{
    bool uniform = true;
    for (size_t i = 1; i < n && uniform; i++)
        uniform = p[i].job->estimate == p[0].job->estimate;
    if (uniform)
        return NULL;
    struct order_key *k = xcalloc(n, sizeof *k);
    for (size_t i = 0; i < n; i++)
        k[i] = (struct order_key){p[i].job->estimate, i};
    qsort(k, n, sizeof *k, by_estimate);
    size_t *ord = xcalloc(n, sizeof *ord);
    for (size_t i = 0; i < n; i++)
        ord[i] = k[i].i;
    free(k);
    return ord;
}

static int run_chunked(struct disp *d, struct placed *p, size_t n, const struct mtable *t)
{
    char at[TIMEFMT_ISO_LEN];
    int64_t now = timefmt_now_ms();
    timefmt_iso(now, at);
    /* now + i/4096, exactly: at today's milliseconds a double's step is 1/4096, and
     * i/4096 = (i / 4096) + (i % 4096) * 0.000244140625 has 12 decimal places. Integers only:
     * formatting a double for each of 100,000 experiments costs more than it should. */
    for (size_t i = 0; i < n; i++)
        snprintf(p[i].score, sizeof p[i].score, "%lld.%012lld", (long long)(now + (int64_t)(i / 4096)),
                 (long long)(i % 4096) * 244140625LL);
    /* 1. check */
    enum verdict *v = xcalloc(n + 1, sizeof *v);
    size_t conflicts = 0, writes = 0;
    int rc = 0;
    for (size_t from = 0; from < n && !rc; from += SUBMIT_CHUNK) {
        size_t k = n - from < SUBMIT_CHUNK ? n - from : SUBMIT_CHUNK;
        append_reads(d, p + from, k, NULL);
        rc = read_verdicts(d, p + from, k, NULL, true, v + from);
    }
    for (size_t i = 0; !rc && i < n; i++) {
        p[i].verdict = v[i];
        p[i].machine = v[i] == V_NEW || v[i] == V_REPLACE ? t->names.v[p[i].fixed - 1] : NULL;
        conflicts += v[i] == V_CONFLICT;
        writes += v[i] == V_NEW || v[i] == V_REPLACE;
    }
    free(v);
    if (rc || conflicts || opt_dry_run || writes == 0)
        return rc;
    /* 2. write, chunk by chunk, renewing the submission lock as it goes, largest estimate first
     * (write_order): w[k] is p[ord[k]], shallow copies the chunks only read. */
    size_t *ord = write_order(p, n);
    struct placed *w = p;
    if (ord) {
        w = xcalloc(n, sizeof *w);
        for (size_t k = 0; k < n; k++)
            w[k] = p[ord[k]];
    }
    bool changed = false;
    size_t from = 0;
    for (; from < n; from += SUBMIT_TX_CHUNK) {
        if ((rc = lock_renew(d)))
            break;
        rc = write_chunk(d, w + from, n - from < SUBMIT_TX_CHUNK ? n - from : SUBMIT_TX_CHUNK, t, at, &changed);
        if (rc || changed)
            break;
    }
    if (changed || rc) {
        /* What was not written, from the chunk that stopped it on: reported, exit non-zero. */
        for (size_t k = from; k < n; k++) {
            struct placed *q = ord ? &p[ord[k]] : &p[k];
            if (q->verdict == V_NEW || q->verdict == V_REPLACE)
                q->verdict = V_UNWRITTEN;
        }
    }
    if (ord)
        free(w);
    free(ord);
    return rc;
}

/* ---- Output ---- */

static void print_conflicts(const struct placed *p, size_t n, size_t nconf)
{
    char list[2048] = "";
    size_t len = 0, listed = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i].verdict != V_CONFLICT || listed == 20 || len > sizeof list - 200)
            continue;
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%s (state %s)", listed ? ", " : "",
                                p[i].job->id, p[i].state[0] ? p[i].state : "unknown");
        listed++;
    }
    if (nconf > listed)
        snprintf(list + len, sizeof list - len, " and %zu more", nconf - listed);
    disp_errf("submit refused, nothing written: %zu experiment%s already submitted with a different spec: %s; %s",
              nconf, nconf > 1 ? "s" : "", list,
              opt_force ? "--force replaces only experiments that have ended (done, failed, cancelled)"
                        : "--force replaces those that have ended (done, failed, cancelled)");
}

static void print_lines(const struct placed *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *m = p[i].cur_machine && p[i].cur_machine[0] ? p[i].cur_machine
                        : p[i].machine                             ? p[i].machine
                                                                   : "?";
        switch (p[i].verdict) {
        case V_NEW:
            printf("%s -> %s %s", p[i].job->id, p[i].machine, opt_dry_run ? "would be queued" : "queued");
            break;
        case V_REPLACE:
            printf("%s -> %s %s", p[i].job->id, p[i].machine, opt_dry_run ? "would be replaced" : "replaced");
            break;
        case V_UNCHANGED:
            printf("%s -> %s unchanged (already submitted, state %s)", p[i].job->id, m, p[i].state);
            break;
        case V_CONFLICT:
            printf("%s -> %s conflict (already submitted with a different spec, state %s)", p[i].job->id, m,
                   p[i].state[0] ? p[i].state : "unknown");
            break;
        case V_UNWRITTEN:
            printf("%s -> %s not written", p[i].job->id, p[i].machine);
            break;
        case V_COUNT:
            break;
        }
        /* A dry run of a grid file lists its expansion: what each combination sets. */
        if (opt_dry_run && p[i].job->grid_label)
            printf(" with %s", p[i].job->grid_label);
        printf("\n");
    }
}

/* "per machine: gpu1: 6, gpu2: 6": where the input's experiments are (new and replaced ones where
 * they go, the others where they were), machines by name; with the sums of their estimates
 * ("gpu1: 6 (estimate 67)") when the input gives any, since the work, not the count, is what
 * the placement balanced. */
static void print_per_machine(const struct placed *p, size_t n, const struct mtable *t)
{
    size_t *count = xcalloc(t->names.n + 1, sizeof *count), shown = 0;
    double *work = xcalloc(t->names.n + 1, sizeof *work);
    bool estimates = false;
    for (size_t i = 0; i < n; i++) {
        const char *m = p[i].verdict == V_NEW || p[i].verdict == V_REPLACE ? p[i].machine : p[i].cur_machine;
        int k = m && m[0] ? mtable_find(t, m) : 0;
        estimates = estimates || p[i].job->estimate != 1.0;
        if (k > 0) {
            count[k - 1]++;
            work[k - 1] += p[i].job->estimate;
        }
    }
    for (size_t k = 0; k < t->names.n; k++) {
        if (!count[k])
            continue;
        printf("%s%s: %zu", shown++ ? ", " : "per machine: ", t->names.v[k], count[k]);
        if (estimates)
            printf(" (estimate %g)", work[k]);
    }
    if (shown)
        printf("\n");
    free(work);
    free(count);
}

/* ---- Subcommand ---- */

static int submit_run(struct disp *d, const char **args, int nargs)
{
    if (strategy_parse(opt_strategy, &g_strategy) < 0) {
        disp_errf("--strategy: must be hash or mod (by id and position), least-loaded or model (by load), not '%s'",
                  opt_strategy);
        return EXIT_USAGE;
    }
    if (g_strategy == STRATEGY_MOD && d->weights_given && !weights_whole(d->weights, d->machines_arg.n)) {
        disp_errf("--strategy mod: the --machines weights must be whole numbers (each machine is repeated that "
                  "many times in the cycle)");
        return EXIT_USAGE;
    }
    if (nargs == 0) {
        disp_errf("submit: no input: name FILE... or - for stdin (see submit --help)");
        return EXIT_USAGE;
    }
    struct job_list list = {0};
    struct strvec machines = {0};
    struct mtable tab = {0};
    struct placed *p = NULL;
    struct gate *gate = NULL;
    int rc = read_inputs(args, nargs, &list);
    if (rc)
        goto out;
    p = xcalloc(list.n + 1, sizeof *p);
    if ((rc = place_all(d, &list, p, &machines, &tab)))
        goto out;
    if ((rc = disp_connect(d)))
        goto out;
    struct gate_in gin = {.jobs = list.v, .n = list.n, .machines = &tab.names, .cand = tab.cand,
                          .model_strategy = g_strategy == STRATEGY_MODEL, .allow_mixed = opt_allow_mixed};
    if ((rc = gate_run(d, &gin, &gate)))
        goto out;
    if (!opt_dry_run && (rc = lock_take(d)))
        goto out;
    for (size_t i = 0; i < list.n; i++)
        p[i].mixed = gate_mixed(gate, i);
    bool chunked = all_fixed(p, list.n); /* else least-loaded or model places some: the script */
    rc = chunked ? run_chunked(d, p, list.n, &tab) : run_script(d, p, list.n, &tab);
    bool unwritten = false;
    for (size_t i = 0; i < list.n; i++)
        unwritten = unwritten || p[i].verdict == V_UNWRITTEN;
    if (rc && !unwritten)
        goto out;
    if (!chunked && !opt_dry_run && (rc = write_grids(d, p, list.n)))
        goto out;

    size_t count[V_COUNT] = {0};
    for (size_t i = 0; i < list.n; i++)
        count[p[i].verdict]++;
    if (count[V_UNWRITTEN]) {
        /* Stopped part way (another client changed a job hash meanwhile, or Redis failed): say
         * exactly what was written. */
        print_lines(p, list.n);
        printf("%zu experiment%s: %zu queued, %zu replaced, %zu unchanged, %zu not written\n", list.n,
               list.n == 1 ? "" : "s", count[V_NEW], count[V_REPLACE], count[V_UNCHANGED], count[V_UNWRITTEN]);
        fflush(stdout);
        if (!rc)
            disp_errf("submit stopped part way: another client changed the job hash of an experiment of this input "
                      "while it was written; %zu experiment%s written (listed above), %zu not: submit the same "
                      "input again to add them",
                      count[V_NEW] + count[V_REPLACE], count[V_NEW] + count[V_REPLACE] == 1 ? "" : "s",
                      count[V_UNWRITTEN]);
        rc = rc ? rc : EXIT_RUNTIME;
        goto out;
    }
    if (count[V_CONFLICT] && !opt_dry_run) {
        print_conflicts(p, list.n, count[V_CONFLICT]);
        rc = EXIT_USAGE;
        goto out;
    }
    gate_warn(gate);
    print_lines(p, list.n);
    print_per_machine(p, list.n, &tab);
    if (list.n && count[V_UNCHANGED] == list.n)
        printf("nothing new: all %zu experiment%s already submitted with the same spec\n", list.n,
               list.n == 1 ? " was" : "s were");
    printf("%s%zu experiment%s: %zu %s, %zu unchanged", opt_dry_run ? "dry run, nothing written: " : "", list.n,
           list.n == 1 ? "" : "s", count[V_NEW], opt_dry_run ? "would be queued" : "queued", count[V_UNCHANGED]);
    if (count[V_REPLACE])
        printf(", %zu %s", count[V_REPLACE], opt_dry_run ? "would be replaced" : "replaced");
    if (count[V_CONFLICT])
        printf(", %zu conflicting", count[V_CONFLICT]);
    printf("\n");
    if (count[V_CONFLICT]) {
        fflush(stdout);
        print_conflicts(p, list.n, count[V_CONFLICT]);
        rc = EXIT_USAGE;
    }
out:
    lock_release(d);
    for (size_t i = 0; p && i < list.n; i++) {
        free(p[i].state);
        free(p[i].cur_machine);
    }
    free(p);
    gate_free(gate);
    strvec_free(&machines);
    mtable_free(&tab);
    job_list_clear(&list);
    return rc;
}

const struct disp_cmd submit_cmd = {
    .name = "submit",
    .synopsis = "submit [--strategy hash|mod|least-loaded|model] [--dry-run] [--force] [--allow-mixed-digests] FILE...|-",
    .summary = "validate experiments and put each on its machine's queue",
    .description =
        "Reads every input (a file, or - for stdin): one job object, a JSON array of jobs, JSON Lines,\n"
        "{\"defaults\": {...}, \"experiments\": [...]}, or a grid file {\"base\": {...}, \"grid\":\n"
        "{\"options.temperature\": [0.2, 0.7], ...}, \"id\": \"T{options.temperature}\"}, which expands to\n"
        "the cartesian product, the first grid field outermost (README \"Parameter grids\").\n"
        "The whole input is validated first; one bad\n"
        "job refuses all of it (exit 2, nothing written). Each experiment goes to its \"machine\" pin,\n"
        "else to the machine --strategy picks from --machines (default: the set NS:machines), whole:\n"
        "all of an experiment runs on that one machine.\n"
        "\n"
        "Strategies (README \"Placement\" has the exact formulas):\n"
        "  hash          rendezvous hash of the id (default): the same id, the same machine\n"
        "  mod           the k-th experiment of the input on machine (k-1) mod N of the list as given\n"
        "  least-loaded  longest \"estimate\" first, each to the machine with the least outstanding\n"
        "                work (the sum of the estimates of what is queued and running there, 1 per\n"
        "                experiment without one) per weight, counting what this submission placed\n"
        "                so far; decided in the same atomic script as the writes\n"
        "  model         keep each machine on few models: prefer a machine where the experiment's\n"
        "                model is already queued or running and which is below its fair share of\n"
        "                the work; never a machine whose worker reports an Ollama without the model\n"
        "                (unless none has it); then least-loaded\n"
        "Weights: --machines gpu1=2,gpu2=1 (positive numbers, default 1; also in TURNQ_MACHINES):\n"
        "hash gives each machine a share w/sum(w) of the ids, mod repeats a machine w times in its\n"
        "cycle (whole numbers), least-loaded and model divide a machine's load by w.\n"
        "Whatever the strategy, each machine's queue gets its experiments largest \"estimate\" first\n"
        "(ties, and experiments without estimates, in input order), so a machine runs its longest\n"
        "work first and a worker --steal finds the short ones left at the back.\n"
        "\n"
        "The consistency gate: an experiment whose machines (its pin, else the list it is placed over;\n"
        "under model, those whose Ollama has the model) have live workers that report different digests\n"
        "for its model, or lack it, refuses the input (exit 2, nothing written) with the table machine x\n"
        "model x digest x version; --allow-mixed-digests submits it anyway and records the table in its\n"
        "job hash (mixed_digests) and result. Machines without a live worker are named in a warning.\n"
        "\n"
        "An id already submitted with the same spec is left unchanged; with a different spec the\n"
        "input is refused unless --force, which replaces only experiments that have ended.\n"
        "Prints one line per experiment (\"A1 -> gpu1 queued\"), the count per machine\n"
        "(\"per machine: gpu1: 6, gpu2: 6\", with the sums of the estimates when there are any) and a\n"
        "summary; --dry-run prints the placement the same\n"
        "script would make now (and what each grid combination sets), and writes nothing.\n",
    .opts = submit_opts,
    .run = submit_run,
};
