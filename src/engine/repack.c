/*
 * repack.c - see repack.h.
 *
 * Q4_0 x 8, for each group of 8 rows and each block index b (144 bytes):
 *     d[r]            r = 0..7, the F16 scale of row r's block b
 *     qs[32 L + 4 r + k]  = row r's qs[4 L + k]     L = 0..3, k = 0..3
 * A row's qs byte i holds element i (low nibble) and element i + 16 (high nibble), so
 * the low nibbles of 32-byte load L are elements 4L..4L+3 of every row, the high
 * nibbles elements 16+4L..16+4L+3.
 *
 * Q8_0 x 8 (272 bytes): d[r], then qs[32 L + 4 r + k] = row r's qs[4 L + k], L = 0..7.
 *
 * Q5_0 x 8 (176 bytes): d[r], then qh[4 r + k] = row r's qh[k] (its 32 fifth bits, one
 * 32-bit lane per row), then the nibbles as Q4_0 x 8.
 */
#include "repack.h"

#include <string.h>

#include "quant_blocks.h"

static const struct {
    uint32_t type;
    size_t src_block, high_bytes, quant_bytes; /* block size in the file, then what
                                                * follows its F16 scale: fifth bits, quants */
} packs[TA_PACK_COUNT] = {
    [TA_PACK_Q4_0_X8] = {TA_TYPE_Q4_0, sizeof(ta_block_q4_0), 0, TA_QK / 2},
    [TA_PACK_Q8_0_X8] = {TA_TYPE_Q8_0, sizeof(ta_block_q8_0), 0, TA_QK},
    [TA_PACK_Q5_0_X8] = {TA_TYPE_Q5_0, sizeof(ta_block_q5_0), 4, TA_QK / 2},
};

int ta_repack_choice(const ta_kernels *k, const ta_gguf_tensor *t)
{
    if (t->n_dims != 2 || t->ne[1] % 8 || t->ne[0] % TA_QK) return -1;
    for (int p = 0; p < TA_PACK_COUNT; p++)
        if (packs[p].type == t->type && k->gemm8[p]) return p;
    return -1;
}

/* Every block of a Q4_0/Q8_0 row starts with its F16 scale, then the quants. */
void ta_repack_groups(const ta_gguf_tensor *t, int pack, void *dst, uint64_t g_begin,
                      uint64_t g_end)
{
    size_t bb = packs[pack].src_block, hb = packs[pack].high_bytes, qb = packs[pack].quant_bytes;
    uint64_t nb = t->ne[0] / TA_QK;
    size_t row_bytes = nb * bb;
    const uint8_t *src = t->data;
    uint8_t *o = (uint8_t *)dst + g_begin * 8 * row_bytes;
    for (uint64_t g = g_begin; g < g_end; g++)
        for (uint64_t b = 0; b < nb; b++) {
            const uint8_t *blk[8];
            for (int r = 0; r < 8; r++) {
                blk[r] = src + (g * 8 + (uint64_t)r) * row_bytes + b * bb;
                memcpy(o + 2 * r, blk[r], 2);
            }
            o += 16;
            for (int r = 0; r < 8 && hb; r++, o += 4)
                memcpy(o, blk[r] + 2, 4);
            for (size_t l = 0; l < qb / 4; l++)
                for (int r = 0; r < 8; r++, o += 4)
                    memcpy(o, blk[r] + 2 + hb + 4 * l, 4);
        }
}

void ta_repack(const ta_gguf_tensor *t, int pack, void *dst, ta_gguf_tensor *out)
{
    ta_repack_groups(t, pack, dst, 0, t->ne[1] / 8);
    *out = *t;
    out->type = TA_PACKED_TYPE + (uint32_t)pack;
    out->data = dst;
}

uint32_t ta_packed_base_type(uint32_t packed_type)
{
    return packs[packed_type - TA_PACKED_TYPE].type;
}

void ta_unpack_group(const ta_gguf_tensor *packed, uint64_t g, void *dst)
{
    int pack = (int)(packed->type - TA_PACKED_TYPE);
    size_t bb = packs[pack].src_block, hb = packs[pack].high_bytes, qb = packs[pack].quant_bytes;
    uint64_t nb = packed->ne[0] / TA_QK;
    size_t row_bytes = nb * bb;
    const uint8_t *in = (const uint8_t *)packed->data + g * 8 * row_bytes;
    uint8_t *d = dst;
    for (uint64_t b = 0; b < nb; b++) {
        for (int r = 0; r < 8; r++)
            memcpy(d + (size_t)r * row_bytes + b * bb, in + 2 * r, 2);
        in += 16;
        for (int r = 0; r < 8 && hb; r++, in += 4)
            memcpy(d + (size_t)r * row_bytes + b * bb + 2, in, 4);
        for (size_t l = 0; l < qb / 4; l++)
            for (int r = 0; r < 8; r++, in += 4)
                memcpy(d + (size_t)r * row_bytes + b * bb + 2 + hb + 4 * l, in, 4);
    }
}
