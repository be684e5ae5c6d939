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
 *
 * Q4_K x 8, per super-block of 256 elements (1184 bytes):
 *     0    d[r], 16 dmin[r]                     F16
 *     32   sc[8 j + r]                          the 6-bit scale of sub-block j of row r
 *     96   m[16 p + 2 r + i]                    the min of sub-block 2p + i of row r
 *     160  qs[32 (8 c + L) + 4 r + k] = row r's qs[32 c + 4 L + k]   c, L: 0..3, 0..7
 * so the low nibbles of load (c, L) are elements 64c + 4L.. of sub-block 2c, the high
 * nibbles elements 64c + 32 + 4L.. of sub-block 2c + 1.
 */
#include "repack.h"

#include <string.h>

#include "quant_internal.h"

static const struct {
    uint32_t type;
    size_t src_block, high_bytes, quant_bytes; /* block size in the file, then what
                                                * follows its F16 scale: fifth bits, quants */
} packs[TA_PACK_COUNT] = {
    [TA_PACK_Q4_0_X8] = {TA_TYPE_Q4_0, sizeof(ta_block_q4_0), 0, TA_QK / 2},
    [TA_PACK_Q8_0_X8] = {TA_TYPE_Q8_0, sizeof(ta_block_q8_0), 0, TA_QK},
    [TA_PACK_Q5_0_X8] = {TA_TYPE_Q5_0, sizeof(ta_block_q5_0), 4, TA_QK / 2},
    [TA_PACK_Q4_K_X8] = {TA_TYPE_Q4_K, sizeof(ta_block_q4_K), 0, 0},
};

#define Q4K_X8_BYTES 1184

size_t ta_packed_group_bytes(int pack, uint64_t n_in)
{
    if (pack == TA_PACK_Q4_K_X8) return (size_t)(n_in / TA_QK_K) * Q4K_X8_BYTES;
    return (size_t)(n_in / TA_QK) * packs[pack].src_block * 8;
}

static void repack_q4_k(const ta_gguf_tensor *t, uint8_t *dst, uint64_t g_begin, uint64_t g_end)
{
    uint64_t nb = t->ne[0] / TA_QK_K;
    size_t row_bytes = nb * sizeof(ta_block_q4_K);
    uint8_t *o = dst + g_begin * nb * Q4K_X8_BYTES;
    for (uint64_t g = g_begin; g < g_end; g++)
        for (uint64_t b = 0; b < nb; b++, o += Q4K_X8_BYTES) {
            for (int r = 0; r < 8; r++) {
                const ta_block_q4_K *x =
                    (const ta_block_q4_K *)((const uint8_t *)t->data +
                                            (g * 8 + (uint64_t)r) * row_bytes) +
                    b;
                uint8_t sc[8], m[8];
                ta_k4_get_scales(x->scales, sc, m);
                memcpy(o + 2 * r, &x->d, 2);
                memcpy(o + 16 + 2 * r, &x->dmin, 2);
                for (int j = 0; j < 8; j++) {
                    o[32 + 8 * j + r] = sc[j];
                    o[96 + 16 * (j / 2) + 2 * r + j % 2] = m[j];
                }
                for (int c = 0; c < 4; c++)
                    for (int l = 0; l < 8; l++)
                        memcpy(o + 160 + 32 * (8 * c + l) + 4 * r, x->qs + 32 * c + 4 * l, 4);
            }
        }
}

static void unpack_q4_k(const ta_gguf_tensor *packed, uint64_t g, uint8_t *dst)
{
    uint64_t nb = packed->ne[0] / TA_QK_K;
    const uint8_t *in = (const uint8_t *)packed->data + g * nb * Q4K_X8_BYTES;
    for (uint64_t b = 0; b < nb; b++, in += Q4K_X8_BYTES)
        for (int r = 0; r < 8; r++) {
            ta_block_q4_K *x = (ta_block_q4_K *)(dst + (size_t)r * nb * sizeof *x) + b;
            uint8_t sc[8], m[8];
            memcpy(&x->d, in + 2 * r, 2);
            memcpy(&x->dmin, in + 16 + 2 * r, 2);
            for (int j = 0; j < 8; j++) {
                sc[j] = in[32 + 8 * j + r];
                m[j] = in[96 + 16 * (j / 2) + 2 * r + j % 2];
            }
            ta_k4_set_scales(x->scales, sc, m);
            for (int c = 0; c < 4; c++)
                for (int l = 0; l < 8; l++)
                    memcpy(x->qs + 32 * c + 4 * l, in + 160 + 32 * (8 * c + l) + 4 * r, 4);
        }
}

int ta_repack_choice(const ta_kernels *k, const ta_gguf_tensor *t)
{
    uint32_t be = ta_type_get(t->type)->block_elems;
    if (t->n_dims != 2 || t->ne[1] % 8 || !be || t->ne[0] % be) return -1;
    for (int p = 0; p < TA_PACK_COUNT; p++)
        if (packs[p].type == t->type && k->gemm8[p]) return p;
    return -1;
}

/* Every block of a Q4_0/Q8_0 row starts with its F16 scale, then the quants. */
void ta_repack_groups(const ta_gguf_tensor *t, int pack, void *dst, uint64_t g_begin,
                      uint64_t g_end)
{
    if (pack == TA_PACK_Q4_K_X8) {
        repack_q4_k(t, dst, g_begin, g_end);
        return;
    }
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
    out->size = ta_packed_group_bytes(pack, t->ne[0]) * (size_t)(t->ne[1] / 8);
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
    if (pack == TA_PACK_Q4_K_X8) {
        unpack_q4_k(packed, g, dst);
        return;
    }
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
