/*
 * fuzz_hnsw_load.c - libFuzzer target for the vector index loader (src/index/hnsw.c):
 * arbitrary bytes as an index file. Byte 0 chooses whether the checksum is rewritten to
 * match first (odd) or left as given (even), so most inputs get past the checksum into
 * the structural checks. Whatever loads must search, take a write and save without
 * trouble.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "index/hnsw.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    bool reseal = data[0] & 1;
    data++;
    size--;
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    if (reseal) ta_hnsw_image_reseal(buf, size);
    ta_error err;
    ta_hnsw *h = ta_hnsw_load_mem(buf, size, &err);
    free(buf);
    if (!h) {
        if (err.code == 0 || !err.message[0]) abort(); /* a refusal always says why */
        return 0;
    }
    ta_hnsw_params p;
    ta_hnsw_get_params(h, &p);
    if (p.dim <= 4096) {
        float *q = calloc(p.dim, sizeof *q);
        ta_hnsw_hit hits[8];
        uint32_t n = 0;
        if (q) {
            q[0] = 1.0f;
            if (ta_hnsw_search(h, q, 8, 16, NULL, NULL, hits, &n, &err) != 0) abort();
            if (n > 8 || n > ta_hnsw_count(h)) abort();
            size_t before = ta_hnsw_count(h);
            bool had = ta_hnsw_contains(h, 0x5eed);
            if (ta_hnsw_add(h, 0x5eed, q, &err) != 0) abort();
            if (ta_hnsw_count(h) != before + !had) abort();
            /* A hostile graph may leave the new node unreachable: only the form of the
             * answer is checked, not that it is found. */
            if (ta_hnsw_search(h, q, 8, 16, NULL, NULL, hits, &n, &err) != 0) abort();
            for (uint32_t i = 1; i < n; i++)
                if (!(hits[i].distance >= hits[i - 1].distance)) abort();
            if (ta_hnsw_remove(h, 0x5eed, &err) != 0) abort();
            free(q);
        }
    }
    ta_hnsw_free(h);
    return 0;
}
