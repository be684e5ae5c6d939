/*
 * sha256.c - see sha256.h.
 */
#include "sha256.h"

#include <openssl/evp.h>

int ta_sha256_hex(const void *data, size_t len, char out[TA_SHA256_HEX_LEN + 1])
{
    unsigned char md[32];
    unsigned int n = 0;
    if (!EVP_Digest(data, len, md, &n, EVP_sha256(), NULL) || n != sizeof md) return -1;
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
    return 0;
}
