#ifndef SIM_SCHEMA_H
#define SIM_SCHEMA_H
/* schema: deterministic tool-call arguments from a tool's JSON Schema ("parameters"). */
#include <jansson.h>

/* Builds an arguments object for parameters (the tool's function.parameters, borrowed; may be
 * NULL or not an object, giving {}): every required property with a value of its declared
 * type. k (the call's number in its turn, from 0) varies strings and numbers between calls.
 * Returns a new reference (always an object). */
json_t *schema_arguments(const json_t *parameters, int k);

#endif
