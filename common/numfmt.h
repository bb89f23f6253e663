#ifndef COMMON_NUMFMT_H
#define COMMON_NUMFMT_H
/* numfmt: numbers and JSON values written the way people write them, for ids, CSV cells and
 * hashes. jansson prints a real with a fixed precision: %.17g gives 0.20000000000000001 for 0.2,
 * and JSON_REAL_PRECISION(15) gives 0.2 but also 0.3 for 0.30000000000000004 (another number).
 * numfmt writes the SHORTEST text that reads back as the same double, laid out as Python's
 * repr() does: fixed notation for exponents -4..15 (0.2, 0.001, 100.0, 1e+16 past that), "1e-05"
 * below, and ".0" on a real with no fraction, so a real never looks like an integer. */
#include <jansson.h>

#define NUMFMT_LEN 40 /* room for any double: 17 digits, sign, point, exponent */

/* Writes the shortest round-trip text of x into buf and returns buf. Not finite: "nan", "inf",
 * "-inf" (JSON has none; jansson refuses them). */
char *numfmt_real(double x, char buf[NUMFMT_LEN]);

/* Returns the normalised JSON text of v, caller frees: compact, object keys sorted (by bytes),
 * reals as numfmt_real, strings escaped as jansson does. Two equal JSON values (json_equal)
 * give the same text; 1 and 1.0 differ, as they do for jansson. */
char *numfmt_dumps(const json_t *v);

/* The keys of object o in byte order (the order numfmt_dumps writes them), in a new array of
 * json_object_size(o) + 1 entries, NULL-terminated; the keys are borrowed from o. Caller frees
 * the array. */
const char **numfmt_sorted_keys(const json_t *o);

#endif
