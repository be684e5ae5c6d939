/*
 * quant_internal.h - what the quant*.c files share and the rest of the project does
 * not call directly: the per-type row functions (reached through ta_quant_ops_get in
 * quant.h) and the scale-search helpers the quantizers are built on.
 *
 * The per-type functions trust their caller: n is a positive multiple of the type's
 * block size and the buffers hold n elements. The checked entry points are in quant.h.
 */
#ifndef TA_ENGINE_QUANT_INTERNAL_H
#define TA_ENGINE_QUANT_INTERNAL_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "quant_blocks.h"

/* Nearest integer, ties to even, as SIMD conversions do; |x| is first limited to 2^22
 * (NaN becomes -2^22), so the result is always a safe int that callers then clamp.
 * lrintf would do, but it is a library call unless errno is disabled, and this sits in
 * the innermost loops of the quantizers. The trick: adding 1.5 * 2^23 leaves no room
 * for fraction bits, so the float addition itself rounds (to nearest even), and the
 * integer can be read from the low mantissa bits, offset by 2^22. */
static inline int ta_nearest_int(float x)
{
    if (!(x > -4194303.0f)) x = -4194303.0f; /* also catches NaN */
    if (x > 4194303.0f) x = 4194303.0f;
    float f = x + 12582912.0f;
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return (int)(u & 0x7fffffu) - 0x400000;
}

static inline int ta_clamp_int(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* A scale as stored F16, saturated to the largest finite half so that absurdly large
 * inputs degrade to clipping instead of infinities and NaNs. */
static inline ta_f16 ta_f16_scale(float s)
{
    if (s > 65504.0f) s = 65504.0f;
    if (s < -65504.0f) s = -65504.0f;
    return ta_f32_to_f16(s);
}

/* ---- scale search (quant_fit.c) ----
 *
 * Both helpers fit n values x with weights w by a uniform grid and return the grid's
 * scale; they minimize the weighted squared error sum_i w_i (x_i - xhat_i)^2 over a
 * handful of candidate scales (see quant_fit.c for the math). n <= 32. */

/* x ~= s * L[i], L[i] in lmin..lmax (lmin < 0 < lmax). Returns s (may be negative, or
 * 0 when every x is 0, then L is all 0). */
float ta_fit_symmetric(int n, const float *x, const float *w, int lmin, int lmax, int8_t *L);

/* x ~= s * L[i] + b, L[i] in 0..lmax, s >= 0. With b_nonpos, b is kept <= 0 (the
 * K-quants store -b as an unsigned "min"). Returns s and writes b. */
float ta_fit_affine(int n, const float *x, const float *w, int lmax, bool b_nonpos, uint8_t *L,
                    float *b);

/* Weights for the fits: w_i = rms(x) + |x_i|. Large weights dominate a dot product, so
 * their error counts more; the rms term keeps small values from being ignored. */
void ta_fit_weights(int n, const float *x, float *w);

/* ---- plain types (quant.c) ---- */
void ta_dequantize_row_f32(const void *src, float *dst, int64_t n);
void ta_quantize_row_f32(const float *src, void *dst, int64_t n);
float ta_vec_dot_f32_f32(int64_t n, const void *x, const void *y);
void ta_dequantize_row_f16(const void *src, float *dst, int64_t n);
void ta_quantize_row_f16(const float *src, void *dst, int64_t n);
float ta_vec_dot_f16_f16(int64_t n, const void *x, const void *y);
float ta_vec_dot_f16_f32(int64_t n, const void *x, const void *y); /* attention's keys */
void ta_dequantize_row_bf16(const void *src, float *dst, int64_t n);
void ta_quantize_row_bf16(const float *src, void *dst, int64_t n);
float ta_vec_dot_bf16_f32(int64_t n, const void *x, const void *y);

/* ---- 32-element types (quant_legacy.c); all dot with Q8_0 activations ---- */
void ta_dequantize_row_q4_0(const void *src, float *dst, int64_t n);
void ta_quantize_row_q4_0(const float *src, void *dst, int64_t n);
float ta_vec_dot_q4_0_q8_0(int64_t n, const void *x, const void *y);
void ta_dequantize_row_q4_1(const void *src, float *dst, int64_t n);
void ta_quantize_row_q4_1(const float *src, void *dst, int64_t n);
float ta_vec_dot_q4_1_q8_0(int64_t n, const void *x, const void *y);
void ta_dequantize_row_q5_0(const void *src, float *dst, int64_t n);
void ta_quantize_row_q5_0(const float *src, void *dst, int64_t n);
float ta_vec_dot_q5_0_q8_0(int64_t n, const void *x, const void *y);
void ta_dequantize_row_q5_1(const void *src, float *dst, int64_t n);
void ta_quantize_row_q5_1(const float *src, void *dst, int64_t n);
float ta_vec_dot_q5_1_q8_0(int64_t n, const void *x, const void *y);
void ta_dequantize_row_q8_0(const void *src, float *dst, int64_t n);
void ta_quantize_row_q8_0(const float *src, void *dst, int64_t n);
float ta_vec_dot_q8_0_q8_0(int64_t n, const void *x, const void *y);

/* ---- K-quants (quant_k.c); all dot with Q8_K activations ---- */

/* The 12-byte 6-bit (scale, min) pairs of Q4_K and Q5_K, to and from 8 of each. */
void ta_k4_get_scales(const uint8_t s[TA_K_SCALE_SIZE], uint8_t sc[8], uint8_t m[8]);
void ta_k4_set_scales(uint8_t s[TA_K_SCALE_SIZE], const uint8_t sc[8], const uint8_t m[8]);
void ta_dequantize_row_q2_K(const void *src, float *dst, int64_t n);
void ta_quantize_row_q2_K(const float *src, void *dst, int64_t n);
float ta_vec_dot_q2_K_q8_K(int64_t n, const void *x, const void *y);
void ta_dequantize_row_q3_K(const void *src, float *dst, int64_t n);
void ta_quantize_row_q3_K(const float *src, void *dst, int64_t n);
float ta_vec_dot_q3_K_q8_K(int64_t n, const void *x, const void *y);
void ta_dequantize_row_q4_K(const void *src, float *dst, int64_t n);
void ta_quantize_row_q4_K(const float *src, void *dst, int64_t n);
float ta_vec_dot_q4_K_q8_K(int64_t n, const void *x, const void *y);
void ta_dequantize_row_q5_K(const void *src, float *dst, int64_t n);
void ta_quantize_row_q5_K(const float *src, void *dst, int64_t n);
float ta_vec_dot_q5_K_q8_K(int64_t n, const void *x, const void *y);
void ta_dequantize_row_q6_K(const void *src, float *dst, int64_t n);
void ta_quantize_row_q6_K(const float *src, void *dst, int64_t n);
float ta_vec_dot_q6_K_q8_K(int64_t n, const void *x, const void *y);
void ta_dequantize_row_q8_K(const void *src, float *dst, int64_t n);
void ta_quantize_row_q8_K(const float *src, void *dst, int64_t n);

#endif
