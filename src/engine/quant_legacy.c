/*
 * quant_legacy.c - the 32-element block types Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0:
 * dequantize, quantize, and reference dot products against Q8_0 activations.
 *
 * Each type has one "unpack" function that turns a block into its 32 integer levels in
 * element order; dequantization and the dot product are both written on top of it, so
 * the bit layout is decoded in exactly one place per type (see quant_blocks.h for the
 * layouts). Dot products sum integer products per block (exact), then scale in float,
 * as the SIMD kernels do.
 *
 * Quantizers: Q8_0 uses the plain absmax scale (d = max|x| / 127); it is also the
 * activation quantizer, so it must be cheap, and with 255 levels a search gains little.
 * The 4- and 5-bit types search their scale (and min) with quant_fit.c, weighted toward
 * large values, then re-round every element against the scale exactly as stored in F16.
 */
#include "quant_internal.h"

#include <string.h>

/* ---- unpacking: block -> levels in element order ---- */

/* 4-bit nibbles: element i < 16 is the low nibble of qs[i], element i + 16 the high. */
static void unpack_nibbles(const uint8_t qs[TA_QK / 2], uint8_t q[TA_QK])
{
    for (int i = 0; i < TA_QK / 2; i++) {
        q[i] = qs[i] & 0x0f;
        q[i + TA_QK / 2] = qs[i] >> 4;
    }
}

static void pack_nibbles(const uint8_t q[TA_QK], uint8_t qs[TA_QK / 2])
{
    for (int i = 0; i < TA_QK / 2; i++)
        qs[i] = (uint8_t)(q[i] | q[i + TA_QK / 2] << 4);
}

/* 5-bit: nibbles as above, bit 4 of element i is bit i of qh (little-endian uint32). */
static void unpack_5bit(const uint8_t qh[4], const uint8_t qs[TA_QK / 2], uint8_t q[TA_QK])
{
    uint32_t h =
        (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
    unpack_nibbles(qs, q);
    for (int i = 0; i < TA_QK; i++)
        q[i] |= (uint8_t)(((h >> i) & 1u) << 4);
}

static void pack_5bit(const uint8_t q[TA_QK], uint8_t qh[4], uint8_t qs[TA_QK / 2])
{
    uint8_t lo[TA_QK];
    uint32_t h = 0;
    for (int i = 0; i < TA_QK; i++) {
        lo[i] = q[i] & 0x0f;
        h |= (uint32_t)(q[i] >> 4) << i;
    }
    pack_nibbles(lo, qs);
    for (int k = 0; k < 4; k++)
        qh[k] = (uint8_t)(h >> (8 * k));
}

/* ---- Q4_0: x = d * (q - 8) ---- */

void ta_dequantize_row_q4_0(const void *src, float *dst, int64_t n)
{
    const ta_block_q4_0 *b = src;
    for (int64_t ib = 0; ib < n / TA_QK; ib++, dst += TA_QK) {
        uint8_t q[TA_QK];
        unpack_nibbles(b[ib].qs, q);
        float d = ta_f16_to_f32(b[ib].d);
        for (int i = 0; i < TA_QK; i++)
            dst[i] = d * (float)(q[i] - 8);
    }
}

/* Symmetric formats (Q4_0, Q5_0): fit s on lmin..lmax, store d = s in F16, re-round
 * against the stored d. Returns the stored d and writes levels offset to be >= 0. */
static ta_f16 quantize_symmetric_block(const float *x, int lmin, int lmax, uint8_t q[TA_QK])
{
    float w[TA_QK];
    int8_t L[TA_QK];
    ta_fit_weights(TA_QK, x, w);
    ta_f16 dh = ta_f16_scale(ta_fit_symmetric(TA_QK, x, w, lmin, lmax, L));
    float d = ta_f16_to_f32(dh);
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int i = 0; i < TA_QK; i++)
        q[i] = (uint8_t)(ta_clamp_int(ta_nearest_int(x[i] * id), lmin, lmax) - lmin);
    return dh;
}

void ta_quantize_row_q4_0(const float *src, void *dst, int64_t n)
{
    ta_block_q4_0 *b = dst;
    for (int64_t ib = 0; ib < n / TA_QK; ib++, src += TA_QK) {
        uint8_t q[TA_QK];
        b[ib].d = quantize_symmetric_block(src, -8, 7, q);
        pack_nibbles(q, b[ib].qs);
    }
}

float ta_vec_dot_q4_0_q8_0(int64_t n, const void *vx, const void *vy)
{
    const ta_block_q4_0 *x = vx;
    const ta_block_q8_0 *y = vy;
    float sum = 0.0f;
    for (int64_t ib = 0; ib < n / TA_QK; ib++) {
        uint8_t q[TA_QK];
        unpack_nibbles(x[ib].qs, q);
        int32_t isum = 0;
        for (int i = 0; i < TA_QK; i++)
            isum += (q[i] - 8) * y[ib].qs[i];
        sum += ta_f16_to_f32(x[ib].d) * ta_f16_to_f32(y[ib].d) * (float)isum;
    }
    return sum;
}

/* ---- Q4_1: x = d * q + m ---- */

void ta_dequantize_row_q4_1(const void *src, float *dst, int64_t n)
{
    const ta_block_q4_1 *b = src;
    for (int64_t ib = 0; ib < n / TA_QK; ib++, dst += TA_QK) {
        uint8_t q[TA_QK];
        unpack_nibbles(b[ib].qs, q);
        float d = ta_f16_to_f32(b[ib].d), m = ta_f16_to_f32(b[ib].m);
        for (int i = 0; i < TA_QK; i++)
            dst[i] = d * (float)q[i] + m;
    }
}

/* Formats with a min (Q4_1, Q5_1): fit (s, b) on 0..lmax with b free, store both in
 * F16, re-round against the stored values. */
static void quantize_affine_block(const float *x, int lmax, ta_f16 *dh, ta_f16 *mh,
                                  uint8_t q[TA_QK])
{
    float w[TA_QK], b;
    uint8_t L[TA_QK];
    ta_fit_weights(TA_QK, x, w);
    float s = ta_fit_affine(TA_QK, x, w, lmax, false, L, &b);
    *dh = ta_f16_scale(s);
    *mh = ta_f16_scale(b);
    float d = ta_f16_to_f32(*dh), m = ta_f16_to_f32(*mh);
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int i = 0; i < TA_QK; i++)
        q[i] = (uint8_t)ta_clamp_int(ta_nearest_int((x[i] - m) * id), 0, lmax);
}

void ta_quantize_row_q4_1(const float *src, void *dst, int64_t n)
{
    ta_block_q4_1 *b = dst;
    for (int64_t ib = 0; ib < n / TA_QK; ib++, src += TA_QK) {
        uint8_t q[TA_QK];
        quantize_affine_block(src, 15, &b[ib].d, &b[ib].m, q);
        pack_nibbles(q, b[ib].qs);
    }
}

/* sum (d q + m) * (dy qy) = d dy sum(q qy) + m dy sum(qy) */
float ta_vec_dot_q4_1_q8_0(int64_t n, const void *vx, const void *vy)
{
    const ta_block_q4_1 *x = vx;
    const ta_block_q8_0 *y = vy;
    float sum = 0.0f;
    for (int64_t ib = 0; ib < n / TA_QK; ib++) {
        uint8_t q[TA_QK];
        unpack_nibbles(x[ib].qs, q);
        int32_t isum = 0, ysum = 0;
        for (int i = 0; i < TA_QK; i++) {
            isum += q[i] * y[ib].qs[i];
            ysum += y[ib].qs[i];
        }
        float dy = ta_f16_to_f32(y[ib].d);
        sum +=
            ta_f16_to_f32(x[ib].d) * dy * (float)isum + ta_f16_to_f32(x[ib].m) * dy * (float)ysum;
    }
    return sum;
}

/* ---- Q5_0: x = d * (q - 16) ---- */

void ta_dequantize_row_q5_0(const void *src, float *dst, int64_t n)
{
    const ta_block_q5_0 *b = src;
    for (int64_t ib = 0; ib < n / TA_QK; ib++, dst += TA_QK) {
        uint8_t q[TA_QK];
        unpack_5bit(b[ib].qh, b[ib].qs, q);
        float d = ta_f16_to_f32(b[ib].d);
        for (int i = 0; i < TA_QK; i++)
            dst[i] = d * (float)(q[i] - 16);
    }
}

void ta_quantize_row_q5_0(const float *src, void *dst, int64_t n)
{
    ta_block_q5_0 *b = dst;
    for (int64_t ib = 0; ib < n / TA_QK; ib++, src += TA_QK) {
        uint8_t q[TA_QK];
        b[ib].d = quantize_symmetric_block(src, -16, 15, q);
        pack_5bit(q, b[ib].qh, b[ib].qs);
    }
}

float ta_vec_dot_q5_0_q8_0(int64_t n, const void *vx, const void *vy)
{
    const ta_block_q5_0 *x = vx;
    const ta_block_q8_0 *y = vy;
    float sum = 0.0f;
    for (int64_t ib = 0; ib < n / TA_QK; ib++) {
        uint8_t q[TA_QK];
        unpack_5bit(x[ib].qh, x[ib].qs, q);
        int32_t isum = 0;
        for (int i = 0; i < TA_QK; i++)
            isum += (q[i] - 16) * y[ib].qs[i];
        sum += ta_f16_to_f32(x[ib].d) * ta_f16_to_f32(y[ib].d) * (float)isum;
    }
    return sum;
}

/* ---- Q5_1: x = d * q + m ---- */

void ta_dequantize_row_q5_1(const void *src, float *dst, int64_t n)
{
    const ta_block_q5_1 *b = src;
    for (int64_t ib = 0; ib < n / TA_QK; ib++, dst += TA_QK) {
        uint8_t q[TA_QK];
        unpack_5bit(b[ib].qh, b[ib].qs, q);
        float d = ta_f16_to_f32(b[ib].d), m = ta_f16_to_f32(b[ib].m);
        for (int i = 0; i < TA_QK; i++)
            dst[i] = d * (float)q[i] + m;
    }
}

void ta_quantize_row_q5_1(const float *src, void *dst, int64_t n)
{
    ta_block_q5_1 *b = dst;
    for (int64_t ib = 0; ib < n / TA_QK; ib++, src += TA_QK) {
        uint8_t q[TA_QK];
        quantize_affine_block(src, 31, &b[ib].d, &b[ib].m, q);
        pack_5bit(q, b[ib].qh, b[ib].qs);
    }
}

float ta_vec_dot_q5_1_q8_0(int64_t n, const void *vx, const void *vy)
{
    const ta_block_q5_1 *x = vx;
    const ta_block_q8_0 *y = vy;
    float sum = 0.0f;
    for (int64_t ib = 0; ib < n / TA_QK; ib++) {
        uint8_t q[TA_QK];
        unpack_5bit(x[ib].qh, x[ib].qs, q);
        int32_t isum = 0, ysum = 0;
        for (int i = 0; i < TA_QK; i++) {
            isum += q[i] * y[ib].qs[i];
            ysum += y[ib].qs[i];
        }
        float dy = ta_f16_to_f32(y[ib].d);
        sum +=
            ta_f16_to_f32(x[ib].d) * dy * (float)isum + ta_f16_to_f32(x[ib].m) * dy * (float)ysum;
    }
    return sum;
}

/* ---- Q8_0: x = d * q ---- */

void ta_dequantize_row_q8_0(const void *src, float *dst, int64_t n)
{
    const ta_block_q8_0 *b = src;
    for (int64_t ib = 0; ib < n / TA_QK; ib++, dst += TA_QK) {
        float d = ta_f16_to_f32(b[ib].d);
        for (int i = 0; i < TA_QK; i++)
            dst[i] = d * (float)b[ib].qs[i];
    }
}

/* d = max|x| / 127 and q = round(x / d) with the unrounded d, so |q| <= 127 always
 * (the F16 rounding of the stored d then scales the whole block by under 0.05%). This
 * is the same arithmetic as ggml's Q8_0, so both produce the same bytes (up to ties in
 * the rounding of q, which ggml's scalar code breaks away from zero). */
void ta_quantize_row_q8_0(const float *src, void *dst, int64_t n)
{
    ta_block_q8_0 *b = dst;
    for (int64_t ib = 0; ib < n / TA_QK; ib++, src += TA_QK) {
        float amax = 0.0f;
        for (int i = 0; i < TA_QK; i++)
            amax = fmaxf(amax, fabsf(src[i]));
        float d = amax / 127.0f;
        float id = amax >= 1e-30f ? 1.0f / d : 0.0f; /* no overflow to inf for tiny d */
        b[ib].d = ta_f16_scale(d);
        for (int i = 0; i < TA_QK; i++)
            b[ib].qs[i] = (int8_t)ta_clamp_int(ta_nearest_int(src[i] * id), -127, 127);
    }
}

float ta_vec_dot_q8_0_q8_0(int64_t n, const void *vx, const void *vy)
{
    const ta_block_q8_0 *x = vx;
    const ta_block_q8_0 *y = vy;
    float sum = 0.0f;
    for (int64_t ib = 0; ib < n / TA_QK; ib++) {
        int32_t isum = 0;
        for (int i = 0; i < TA_QK; i++)
            isum += x[ib].qs[i] * y[ib].qs[i];
        sum += ta_f16_to_f32(x[ib].d) * ta_f16_to_f32(y[ib].d) * (float)isum;
    }
    return sum;
}
