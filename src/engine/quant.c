/*
 * quant.c - the per-type dispatch table of the tensor element types, the checked row
 * entry points, and the plain float types F32, F16 and BF16, whose dot products
 * accumulate in float like the SIMD kernels. F32 and BF16 weights take F32 activations;
 * F16 ones take F16 activations (as in ggml): half the bytes in prompt tiles, at a
 * rounding of 2^-11 relative, which is that of the F16 KV cache.
 */
#include "quant.h"

#include <stdlib.h>
#include <string.h>

#include "quant_internal.h"

/* ---- F32 ---- */

void ta_dequantize_row_f32(const void *src, float *dst, int64_t n)
{
    memcpy(dst, src, (size_t)n * sizeof(float));
}

void ta_quantize_row_f32(const float *src, void *dst, int64_t n)
{
    memcpy(dst, src, (size_t)n * sizeof(float));
}

float ta_vec_dot_f32_f32(int64_t n, const void *vx, const void *vy)
{
    const float *x = vx, *y = vy;
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i++)
        sum += x[i] * y[i];
    return sum;
}

/* ---- F16 ---- */

void ta_dequantize_row_f16(const void *src, float *dst, int64_t n)
{
    const ta_f16 *x = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = ta_f16_to_f32(x[i]);
}

void ta_quantize_row_f16(const float *src, void *dst, int64_t n)
{
    ta_f16 *y = dst;
    for (int64_t i = 0; i < n; i++)
        y[i] = ta_f32_to_f16(src[i]);
}

float ta_vec_dot_f16_f32(int64_t n, const void *vx, const void *vy)
{
    const ta_f16 *x = vx;
    const float *y = vy;
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i++)
        sum += ta_f16_to_f32(x[i]) * y[i];
    return sum;
}

float ta_vec_dot_f16_f16(int64_t n, const void *vx, const void *vy)
{
    const ta_f16 *x = vx, *y = vy;
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i++)
        sum += ta_f16_to_f32(x[i]) * ta_f16_to_f32(y[i]);
    return sum;
}

/* ---- BF16 ---- */

void ta_dequantize_row_bf16(const void *src, float *dst, int64_t n)
{
    const ta_bf16 *x = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = ta_bf16_to_f32(x[i]);
}

void ta_quantize_row_bf16(const float *src, void *dst, int64_t n)
{
    ta_bf16 *y = dst;
    for (int64_t i = 0; i < n; i++)
        y[i] = ta_f32_to_bf16(src[i]);
}

float ta_vec_dot_bf16_f32(int64_t n, const void *vx, const void *vy)
{
    const ta_bf16 *x = vx;
    const float *y = vy;
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i++)
        sum += ta_bf16_to_f32(x[i]) * y[i];
    return sum;
}

/* ---- the table ---- */

#define OPS(T, t, VT, dot)                                                                         \
    [TA_TYPE_##T] = {TA_TYPE_##T, TA_TYPE_##VT, ta_dequantize_row_##t, ta_quantize_row_##t, dot}

static const ta_quant_ops ops_table[TA_TYPE_COUNT] = {
    OPS(F32, f32, F32, ta_vec_dot_f32_f32),      OPS(F16, f16, F16, ta_vec_dot_f16_f16),
    OPS(BF16, bf16, F32, ta_vec_dot_bf16_f32),   OPS(Q4_0, q4_0, Q8_0, ta_vec_dot_q4_0_q8_0),
    OPS(Q4_1, q4_1, Q8_0, ta_vec_dot_q4_1_q8_0), OPS(Q5_0, q5_0, Q8_0, ta_vec_dot_q5_0_q8_0),
    OPS(Q5_1, q5_1, Q8_0, ta_vec_dot_q5_1_q8_0), OPS(Q8_0, q8_0, Q8_0, ta_vec_dot_q8_0_q8_0),
    OPS(Q2_K, q2_K, Q8_K, ta_vec_dot_q2_K_q8_K), OPS(Q3_K, q3_K, Q8_K, ta_vec_dot_q3_K_q8_K),
    OPS(Q4_K, q4_K, Q8_K, ta_vec_dot_q4_K_q8_K), OPS(Q5_K, q5_K, Q8_K, ta_vec_dot_q5_K_q8_K),
    OPS(Q6_K, q6_K, Q8_K, ta_vec_dot_q6_K_q8_K), OPS(Q8_K, q8_K, Q8_K, NULL),
};

const ta_quant_ops *ta_quant_ops_get(uint32_t type)
{
    if (type >= TA_TYPE_COUNT || !ops_table[type].dequantize_row) return NULL;
    return &ops_table[type];
}

/* ---- checked entry points ---- */

static const ta_quant_ops *checked_ops(uint32_t type, int64_t n)
{
    const ta_quant_ops *ops = ta_quant_ops_get(type);
    if (!ops || n <= 0 || n % ta_type_get(type)->block_elems) return NULL;
    return ops;
}

int ta_dequantize_row(uint32_t type, const void *src, float *dst, int64_t n)
{
    const ta_quant_ops *ops = checked_ops(type, n);
    if (!ops) return TA_EINVAL;
    ops->dequantize_row(src, dst, n);
    return TA_OK;
}

int ta_quantize_row(uint32_t type, const float *src, void *dst, int64_t n)
{
    const ta_quant_ops *ops = checked_ops(type, n);
    if (!ops) return TA_EINVAL;
    ops->quantize_row(src, dst, n);
    return TA_OK;
}

int ta_vec_dot_ref(uint32_t type, int64_t n, const void *x, const void *y, float *out)
{
    const ta_quant_ops *ops = checked_ops(type, n);
    if (!ops || !ops->vec_dot_ref || n % ta_type_get(ops->vec_dot_type)->block_elems)
        return TA_EINVAL;
    *out = ops->vec_dot_ref(n, x, y);
    return TA_OK;
}

int ta_vec_dot_dequant_f64(uint32_t tx, const void *x, uint32_t ty, const void *y, int64_t n,
                           double *out)
{
    if (!checked_ops(tx, n) || !checked_ops(ty, n) || (uint64_t)n > SIZE_MAX / sizeof(float) / 2)
        return TA_EINVAL;
    float *buf = malloc((size_t)n * 2 * sizeof(float));
    if (!buf) return TA_ENOMEM;
    ta_dequantize_row(tx, x, buf, n);
    ta_dequantize_row(ty, y, buf + n, n);
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)buf[i] * (double)buf[n + i];
    free(buf);
    *out = sum;
    return TA_OK;
}
