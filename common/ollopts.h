#ifndef COMMON_OLLOPTS_H
#define COMMON_OLLOPTS_H
/* ollopts: the names and types of Ollama's request options (ollama-api.md "Options", from
 * api/types.go Options and Runner, current and recently removed ones). Ollama ignores an option
 * it does not know, only logging "invalid option provided", so a misspelt "temprature" would run
 * a whole sweep at the default temperature; and it answers 500 to one of the wrong type. Both
 * are caught at submission instead. */
#include <jansson.h>

#include "err.h"

/* Checks every key of `options` (an object): a known option name with a value of its type
 * (integer options: integers, or reals with no fraction; number options: numbers; boolean
 * options: true/false; "stop": an array of strings). Returns 0, or -1 with err naming the option,
 * what is wrong and, for an unknown name, the closest known one. */
int ollopts_check(json_t *options, char err[ERR_LEN]);

#endif
