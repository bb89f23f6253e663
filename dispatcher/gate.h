#ifndef DISPATCHER_GATE_H
#define DISPATCHER_GATE_H
/* gate: submit's consistency gate (README "The consistency gate"). Before anything is written,
 * each experiment's model is looked up in the heartbeats of the live workers of its target
 * machines: its pin, else every machine of the list it is placed over (under --strategy model,
 * those of them whose Ollama has the model, as the strategy only places there, or all when none
 * has it). When those machines report different digests for it, or one lacks it, the input is
 * refused (exit 2) with the table machine x model x digest x version, unless allow_mixed: then
 * the experiment passes and carries the table (gate_mixed) into its job hash. */
#include <stdbool.h>
#include <stddef.h>

#include "disp.h"
#include "job.h"

struct gate;

struct gate_in {
    struct job *const *jobs;       /* the input, in order */
    size_t n;
    const struct strvec *machines; /* every machine a job may go to: the list and the pins */
    const bool *cand;              /* parallel to machines: on the list the strategy places over */
    bool model_strategy;           /* --strategy model: only machines whose Ollama has the model */
    bool allow_mixed;              /* --allow-mixed-digests */
};

/* Reads the heartbeat of every machine (one pipelined GET each) and checks every job. Returns 0
 * with *out (free with gate_free): the input passes, or allow_mixed let it pass (a warning with
 * the table printed); EXIT_USAGE after printing the refusal and the table (*out NULL); or the
 * exit code of a Redis failure. Writes nothing. */
int gate_run(struct disp *d, const struct gate_in *in, struct gate **out);

/* The table (JSON text) of job i's machines when they disagree and allow_mixed let it through,
 * or NULL; borrowed from g. */
const char *gate_mixed(const struct gate *g, size_t i);

/* One warning line naming the machines without a live worker (a sweep may be submitted before
 * its boxes boot), and one naming live workers whose Ollama does not answer (their models could
 * not be checked). */
void gate_warn(const struct gate *g);

void gate_free(struct gate *g); /* NULL is a no-op */

#endif
