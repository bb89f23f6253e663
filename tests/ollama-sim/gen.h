#ifndef SIM_GEN_H
#define SIM_GEN_H
/* gen: what the simulated model answers to a conversation (SPEC "bin/ollama-sim": a tool call
 * while the turn has made fewer than --actions calls and tools are offered, else a final text).
 * Pure: the same messages, tools and --actions always give the same plan. */
#include <jansson.h>
#include <stddef.h>

struct gen_plan {
    int tool;          /* 1: one tool call; 0: a final text */
    json_t *tool_call; /* {"id","function":{"index":0,"name","arguments"}}; owned, or NULL */
    char *text;        /* the final text ("" for a tool call); owned */
    char **tokens;     /* text split into word-ish tokens, each with its leading blank; owned */
    size_t n_tokens;
    int prompt_tokens; /* prompt_eval_count: (characters of the conversation)/4 + 4/message + 10 */
    int eval_tokens;   /* eval_count: tokens generated */
};

/* Plans the reply to messages (a non-empty array, borrowed) offering tools (array or NULL,
 * borrowed). k, the call's number in the turn, is the count of assistant messages after the
 * last user message; the k-th call uses tool k mod T with schema-built arguments. */
void gen_plan_make(const json_t *messages, const json_t *tools, int actions, struct gen_plan *p);
void gen_plan_clear(struct gen_plan *p);

/* The tool call id for a request: "call_" + 8 of [a-z0-9], from a hash of the messages and k.
 * out holds at least 14 bytes. */
void gen_call_id(const json_t *messages, int k, char out[14]);

#endif
