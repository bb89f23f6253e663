/* transcript: one experiment's conversation, read back from NS:transcript:ID (one JSON array
 * per committed turn: the messages that turn added, as the worker sent and received them) and
 * NS:turns:ID (the turn records: stop reason, calls, tokens, time, machine), printed for a
 * person to read. Role labels start each message; a message's further lines are indented, so the
 * labels stay in the left margin. Long contents (tool output, pasted documents) are cut at
 * TRANSCRIPT_CUT bytes, on a UTF-8 boundary, with a note saying how much was left out. */
#include "transcript.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "job.h"
#include "keys.h"
#include "numfmt.h"

/* Writes "LABEL: TEXT": each further line of TEXT indented by four spaces; cut unless full. */
static void text_block(FILE *out, const char *label, const char *s, size_t n, bool full)
{
    size_t show = n;
    if (!full && n > TRANSCRIPT_CUT) {
        show = TRANSCRIPT_CUT;
        while (show > 0 && ((unsigned char)s[show] & 0xC0) == 0x80)
            show--;
    }
    fprintf(out, "%s: ", label);
    for (size_t i = 0; i < show; i++) {
        if (s[i] == '\r' && i + 1 < show && s[i + 1] == '\n')
            continue;
        fputc(s[i], out);
        if (s[i] == '\n')
            fputs("    ", out);
    }
    fputc('\n', out);
    if (show < n)
        fprintf(out, "    [... %zu more bytes cut; --full prints everything]\n", n - show);
}

static void json_block(FILE *out, const char *label, const json_t *v, bool full)
{
    char *t = numfmt_dumps(v);
    text_block(out, label, t, strlen(t), full);
    free(t);
}

static const char *str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static void print_message(FILE *out, const json_t *m, bool full)
{
    const char *role = str(m, "role");
    char label[256];
    if (!strcmp(role, "assistant")) {
        if (*str(m, "thinking"))
            text_block(out, "assistant (thinking)", str(m, "thinking"), strlen(str(m, "thinking")), full);
        json_t *calls = json_object_get(m, "tool_calls");
        if (*str(m, "content") || !json_array_size(calls))
            text_block(out, "assistant", str(m, "content"), strlen(str(m, "content")), full);
        size_t i;
        json_t *c;
        json_array_foreach(calls, i, c) {
            json_t *fn = json_object_get(c, "function");
            if (*str(c, "id"))
                snprintf(label, sizeof label, "assistant calls %.100s (call id %.60s)", str(fn, "name"), str(c, "id"));
            else
                snprintf(label, sizeof label, "assistant calls %.100s", str(fn, "name"));
            json_t *args = json_object_get(fn, "arguments");
            if (json_is_string(args))
                text_block(out, label, json_string_value(args), json_string_length(args), full);
            else
                json_block(out, label, args ? args : json_null(), full);
        }
    } else if (!strcmp(role, "tool")) {
        if (*str(m, "tool_call_id"))
            snprintf(label, sizeof label, "tool %.100s (call id %.60s)", str(m, "tool_name"), str(m, "tool_call_id"));
        else
            snprintf(label, sizeof label, "tool %.100s", str(m, "tool_name"));
        text_block(out, label, str(m, "content"), strlen(str(m, "content")), full);
    } else {
        snprintf(label, sizeof label, "%.60s", *role ? role : "(no role)");
        json_t *content = json_object_get(m, "content");
        if (json_is_string(content))
            text_block(out, label, json_string_value(content), json_string_length(content), full);
        else
            json_block(out, label, content ? content : json_null(), full);
    }
}

static void print_turn_line(FILE *out, int turn, const json_t *rec)
{
    if (!rec) {
        fprintf(out, "\n-- turn %d (no turn record)\n", turn);
        return;
    }
    long long calls = json_integer_value(json_object_get(rec, "calls"));
    size_t actions = json_array_size(json_object_get(rec, "actions"));
    fprintf(out, "\n-- turn %d (%s): %lld call%s, %zu action%s, %lld prompt + %lld eval tokens, %.1f s", turn,
            *str(rec, "stop") ? str(rec, "stop") : "?", calls, calls == 1 ? "" : "s", actions, actions == 1 ? "" : "s",
            (long long)json_integer_value(json_object_get(rec, "prompt_tokens")),
            (long long)json_integer_value(json_object_get(rec, "eval_tokens")),
            (double)json_integer_value(json_object_get(rec, "ms")) / 1000.0);
    if (*str(rec, "machine"))
        fprintf(out, ", on %s", str(rec, "machine"));
    fputc('\n', out);
}

static const char *hv(const redisReply *hm, size_t i)
{
    return hm->type == REDIS_REPLY_ARRAY && i < hm->elements && hm->element[i]->type == REDIS_REPLY_STRING
               ? hm->element[i]->str
               : NULL;
}

int transcript_print(struct disp *d, const char *id, bool full, FILE *out)
{
    disp_appendv(d, "HMGET", key_job(d->ns, id).s, "state", "spec", "machine", "error", "attempts", NULL);
    disp_appendv(d, "LRANGE", key_transcript(d->ns, id).s, "0", "-1", NULL);
    disp_appendv(d, "LRANGE", key_turns(d->ns, id).s, "0", "-1", NULL);
    redisReply *hm = NULL, *tr = NULL, *tu = NULL;
    int rc = disp_reply(d, &hm);
    int rc2 = disp_reply(d, &tr);
    int rc3 = disp_reply(d, &tu);
    rc = rc ? rc : rc2 ? rc2 : rc3;
    if (rc)
        goto out;
    const char *state = hv(hm, 0), *spec_text = hv(hm, 1), *machine = hv(hm, 2), *error = hv(hm, 3),
               *attempts = hv(hm, 4);
    size_t ntr = tr->type == REDIS_REPLY_ARRAY ? tr->elements : 0, ntu = tu->type == REDIS_REPLY_ARRAY ? tu->elements : 0;
    if (!state && !spec_text && ntr == 0) {
        disp_errf("results --transcript: unknown experiment id %s (no %s); nothing printed", id, key_job(d->ns, id).s);
        rc = EXIT_USAGE;
        goto out;
    }
    char err[ERR_LEN];
    struct job *job = spec_text ? job_from_text(spec_text, strlen(spec_text), err) : NULL;

    fprintf(out, "experiment %s: %s", id, state ? state : "unknown state");
    if (machine)
        fprintf(out, " on %s", machine);
    fprintf(out, " (");
    if (job)
        fprintf(out, "model %s, %zu of %d turn%s committed", job->model, ntu, job->nturns, job->nturns == 1 ? "" : "s");
    else
        fprintf(out, "%zu turn%s committed", ntu, ntu == 1 ? "" : "s");
    if (attempts)
        fprintf(out, ", %s attempt%s", attempts, !strcmp(attempts, "1") ? "" : "s");
    fprintf(out, ")\n");
    if (error && *error)
        text_block(out, "error", error, strlen(error), full);
    if (job && job->system && job->history == JOB_HISTORY_RESET)
        text_block(out, "system (sent at the start of every turn)", job->system, strlen(job->system), full);

    const char *last_reply = NULL;
    size_t nturns = ntr > ntu ? ntr : ntu;
    json_t *last_rec = NULL;
    for (size_t i = 0; i < nturns; i++) {
        json_t *rec = i < ntu ? json_loadb(tu->element[i]->str, tu->element[i]->len, 0, NULL) : NULL;
        int turn = json_is_integer(json_object_get(rec, "turn")) ? (int)json_integer_value(json_object_get(rec, "turn"))
                                                                 : (int)i + 1;
        print_turn_line(out, turn, rec);
        json_t *msgs = i < ntr ? json_loadb(tr->element[i]->str, tr->element[i]->len, 0, NULL) : NULL;
        if (!json_is_array(msgs))
            fprintf(out, "(%s)\n", i < ntr ? "the transcript entry of this turn does not parse" : "no transcript entry");
        size_t k;
        json_t *m;
        json_array_foreach(msgs, k, m)
            print_message(out, m, full);
        json_decref(msgs);
        json_decref(last_rec);
        last_rec = rec;
    }
    if (nturns == 0)
        fprintf(out, "\n(no committed turns yet)\n");
    last_reply = str(last_rec, "reply");
    if (state && !strcmp(state, "done") && *last_reply) {
        char label[64];
        snprintf(label, sizeof label, "\n== final answer (turn %d)",
                 (int)json_integer_value(json_object_get(last_rec, "turn")));
        text_block(out, label, last_reply, strlen(last_reply), full);
    } else if (state && strcmp(state, "done")) {
        fprintf(out, "\n== %s%s\n", state,
                !strcmp(state, "running") || !strcmp(state, "queued") ? ": not ended yet" : ", no final answer");
    }
    json_decref(last_rec);
    job_free(job);
out:
    if (hm)
        freeReplyObject(hm);
    if (tr)
        freeReplyObject(tr);
    if (tu)
        freeReplyObject(tu);
    return rc;
}
