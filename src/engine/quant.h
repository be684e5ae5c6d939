/*
 * quant.h - tensor element types: convert rows to and from float, and the reference
 * dot products every fast kernel is tested against.
 *
 * Types: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K in
 * the exact GGUF block layouts (quant_blocks.h), plus Q8_K, the activation type of the
 * K-quant dot products.
 *
 * Everything works on rows: n consecutive elements, n a multiple of the type's block
 * size (ta_type_get(type)->block_elems). A matrix-vector product is one vec_dot per
 * weight row against the activations, which are quantized once per row of input to the
 * weight type's vec_dot_type:
 *
 *     weights                          activations (vec_dot_type)
 *     F32, BF16                        F32
 *     F16                              F16   (as ggml; half the bytes in prompt tiles)
 *     Q4_0, Q4_1, Q5_0, Q5_1, Q8_0     Q8_0  (d * q, 32 per block)
 *     Q2_K, Q3_K, Q4_K, Q5_K, Q6_K     Q8_K  (float d, 256 per block, 16-sums)
 *
 * The Q4_1/Q5_1 dots with Q8_0 need sum(q_y) per block for the min term; the reference
 * computes it on the fly (a fast kernel may precompute it, as ggml's Q8_1 does).
 *
 * Two levels of API:
 * - ta_quant_ops_get(type) gives the per-type functions for hot loops. They do no
 *   checks and no allocation: the caller guarantees n is a positive multiple of the
 *   block size and that the buffers are large enough (ta_type_row_bytes).
 * - ta_dequantize_row / ta_quantize_row / ta_vec_dot_ref check the type and n and
 *   return TA_EINVAL instead of touching memory when they are wrong.
 *
 * Quantizers take finite input (a NaN or infinity gives unspecified values, never a
 * memory error). They are deterministic: the same floats give the same bytes.
 */
#ifndef TA_ENGINE_QUANT_H
#define TA_ENGINE_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "../core/error.h"
#include "../gguf/ggml_types.h"
#include "quant_blocks.h"

/* src: n elements of the type -> dst: n floats. */
typedef void (*ta_dequantize_row_fn)(const void *src, float *dst, int64_t n);
/* src: n floats -> dst: n elements of the type (ta_type_row_bytes(type, n) bytes). */
typedef void (*ta_quantize_row_fn)(const float *src, void *dst, int64_t n);
/* sum_i x[i] * y[i] over n elements; x of the weight type, y of its vec_dot_type. */
typedef float (*ta_vec_dot_fn)(int64_t n, const void *x, const void *y);

typedef struct ta_quant_ops {
    ta_type type;
    ta_type vec_dot_type; /* what y of vec_dot_ref must be; == type for Q8_K (no dot) */
    ta_dequantize_row_fn dequantize_row;
    ta_quantize_row_fn quantize_row;
    ta_vec_dot_fn vec_dot_ref; /* NULL for Q8_K, which is only ever an activation */
} ta_quant_ops;

/* The functions of a type, or NULL when the engine cannot compute with it. */
const ta_quant_ops *ta_quant_ops_get(uint32_t type);

/* Checked row conversions: TA_EINVAL for an unsupported type, n <= 0, or n not a
 * multiple of the block size. */
int ta_dequantize_row(uint32_t type, const void *src, float *dst, int64_t n);
int ta_quantize_row(uint32_t type, const float *src, void *dst, int64_t n);

/* Checked reference dot product: x is n elements of type, y n elements of its
 * vec_dot_type. TA_EINVAL as above, or for a type without a dot product. */
int ta_vec_dot_ref(uint32_t type, int64_t n, const void *x, const void *y, float *out);

/* For tests: dequantize both rows (of any supported types) and return their dot product
 * accumulated in double. Allocates; TA_ENOMEM when that fails. */
int ta_vec_dot_dequant_f64(uint32_t tx, const void *x, uint32_t ty, const void *y, int64_t n,
                           double *out);

#endif
