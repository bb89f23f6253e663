#ifndef COMMON_SHA1_H
#define COMMON_SHA1_H
/* sha1: the SHA-1 digest of a buffer, as 40 lowercase hex digits, for naming Lua scripts the
 * way Redis does (EVALSHA). Not for anything that needs a secure hash. */
#include <stddef.h>

#define SHA1_HEX_LEN 40

void sha1_hex(const void *data, size_t len, char out[SHA1_HEX_LEN + 1]);

#endif
