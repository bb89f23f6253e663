#ifndef COMMON_GRID_H
#define COMMON_GRID_H
/* grid: parameter grids, one more submission input format (README "Parameter grids"):
 *
 *     {"base": {...job...},
 *      "grid": {"options.temperature": [0.2, 0.7], "params.variant": [1, 2, 3]},
 *      "id": "T{options.temperature}-V{params.variant}"}
 *
 * expands to the cartesian product of the grid's value lists, the FIRST grid field outermost
 * (it changes slowest), the last innermost, in the order the file lists them. Each combination is
 * the base with those dotted fields set. Its id comes from the "id" template, each {field}
 * replaced by that combination's value as the file writes it (0.2, 1e-3, 1.0 stay so; strings
 * without quotes), or, without a template, from a slug of the values and a hash (grid_new). */
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "err.h"

/* ---- Limits (each violation is a clear error) ---- */
#define GRID_MAX_COMBINATIONS 100000
#define GRID_MAX_FIELDS 32
#define GRID_MAX_PATH 256              /* bytes of one dotted field name */
#define GRID_MAX_TEMPLATE 1024         /* bytes of the id template */
#define GRID_MAX_BYTES (64u << 20)     /* the expanded jobs' JSON: base and values, every combination */
#define GRID_HASH_HEX 8                /* hex digits of the hash in a default id */
#define GRID_SLUG_VALUE_MAX 32         /* bytes of one value in a default id's slug */

struct grid;

/* true when doc is a grid file: an object with a "grid" or a "base" member (no job has either). */
bool grid_is_grid(const json_t *doc);

/* Checks a grid file and prepares its expansion. `doc` is the parsed document, `text`/`len` the
 * very text it was parsed from (the numbers' literal spellings are read from it). Checks: only
 * base, grid and id at the top; base an object without "id"; grid a non-empty object of at most
 * GRID_MAX_FIELDS fields, each a settable path (grid_check_path) holding a non-empty array of
 * distinct values; no field inside another; at most GRID_MAX_COMBINATIONS combinations and
 * GRID_MAX_BYTES of expanded JSON; the template's {fields} are grid fields with scalar values.
 * Returns a new grid (it holds its own reference to doc) or NULL with the reason in err, naming
 * the field ("grid.options.temp: ..."). The jobs themselves are validated by the caller. */
struct grid *grid_new(json_t *doc, const char *text, size_t len, char err[ERR_LEN]);

size_t grid_size(const struct grid *g);   /* number of combinations, >= 1 */
size_t grid_nfields(const struct grid *g);
const char *grid_field(const struct grid *g, size_t i); /* i-th field in file order (borrowed) */

/* Builds combination k (0-based, k < grid_size). Returns a new reference: the base with the
 * combination's fields set and its "id". When set is not NULL, *set receives a new reference to
 * {field: value} in grid order; when label is not NULL, *label a new string (caller frees) like
 * "options.temperature=0.2 params.variant=1" (numbers as the file writes them, strings quoted
 * and cut at 40 bytes). NULL with err when the id is not a valid job id (naming the template and
 * the combination). */
json_t *grid_job(const struct grid *g, size_t k, json_t **set, char **label, char err[ERR_LEN]);

void grid_free(struct grid *g); /* grid_free(NULL) is a no-op */

/* ---- Paths ---- */

/* 0 when path names a field a grid may set: a job field other than id (model, system, turns,
 * ...), or options.NAME[.NAME...] / params.NAME[...] inside those objects. -1 with the reason. */
int grid_check_path(const char *path, char err[ERR_LEN]);

/* The value at a dotted path in obj (borrowed), or NULL when some part is absent. */
json_t *grid_get_path(const json_t *obj, const char *path);

/* ---- Default ids ---- */

/* The id of a combination without a template (new string, caller frees), from `set`
 * ({field: value}): slug "-" hash. The slug joins, over the fields sorted by name, "LAST-VALUE"
 * with "_" (LAST the field's last dotted part, VALUE its normalised text: numfmt's shortest form,
 * a string's text, true/false/null, or for a list or object the first 6 hex digits of its hash),
 * every character outside [A-Za-z0-9._:-] replaced by "_", a value cut at GRID_SLUG_VALUE_MAX
 * bytes, the slug at 128 - 1 - GRID_HASH_HEX. The hash is the top 32 bits of place_hash64 over
 * "FIELD=NORMALISED_JSON\n" for each field in name order, in hex. So the id depends only on the
 * values, not on how the file spells them or in which order it lists the fields. */
char *grid_default_id(const json_t *set);

#endif
