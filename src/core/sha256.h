/*
 * sha256.h - SHA-256 digests (OpenSSL's libcrypto underneath): content hashes of
 * stored pages, and later the checks of downloaded model files against their LFS ids.
 */
#ifndef TA_CORE_SHA256_H
#define TA_CORE_SHA256_H

#include <stddef.h>

#define TA_SHA256_HEX_LEN 64

/* n bytes as 2n lower-case hex digits and a NUL in out[2n + 1]. */
void ta_hex(const unsigned char *in, size_t n, char *out);

/* The digest of len bytes as 64 lower-case hex digits and a NUL in out[65]; 0 on
 * success, -1 when the library fails. */
int ta_sha256_hex(const void *data, size_t len, char out[TA_SHA256_HEX_LEN + 1]);

#endif
