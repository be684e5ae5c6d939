/*
 * sha256.c - see sha256.h.
 */
#include "sha256.h"

#include <openssl/evp.h>

void ta_hex(const unsigned char *in, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 15];
    }
    out[2 * n] = '\0';
}

int ta_sha256_hex(const void *data, size_t len, char out[TA_SHA256_HEX_LEN + 1])
{
    unsigned char md[32];
    unsigned int n = 0;
    if (!EVP_Digest(data, len, md, &n, EVP_sha256(), NULL) || n != sizeof md) return -1;
    ta_hex(md, sizeof md, out);
    return 0;
}
