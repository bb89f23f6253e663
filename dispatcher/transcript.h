#ifndef DISPATCHER_TRANSCRIPT_H
#define DISPATCHER_TRANSCRIPT_H
/* transcript: `dispatcher results --transcript ID`, one experiment's conversation for a person. */
#include <stdbool.h>
#include <stdio.h>

#include "disp.h"

#define TRANSCRIPT_CUT 2000 /* bytes of one content shown unless `full` */

/* Prints the experiment's conversation to out: a header (state, machine, model, turns), the
 * system prompt, then per committed turn a line with its stop reason, calls, actions, tokens and
 * time, and each message: the user prompt, the assistant's text and tool calls with their
 * arguments, the tool results; contents over TRANSCRIPT_CUT bytes cut with a note unless `full`.
 * Ends with the final answer of an experiment that is done. d must be connected. Returns 0, or
 * EXIT_USAGE when the id was never submitted (nothing printed), or another exit code after
 * printing. */
int transcript_print(struct disp *d, const char *id, bool full, FILE *out);

#endif
