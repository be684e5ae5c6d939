/*
 * kernels.h - the inner loops of inference, chosen once for this CPU.
 *
 * A kernel set holds, per weight type, a "gemm" microkernel: one weight row against
 * up to TA_GEMM_MAX_COLS activation rows (tokens) at once, so the weight row is
 * unpacked once and used for every token of a tile. Decoding is the case of one
 * column; prompt processing uses full tiles. Activations come in the weight type's
 * vec_dot_type (quant.h): F32 for F32/BF16 weights, F16 for F16, Q8_0 for the
 * 32-element types, Q8_K for the K-quants, made by the set's activation quantizers.
 * One exception: a set with gemm_bb (AVX512_BF16) takes a prompt's activations for BF16
 * weights rounded to BF16.
 *
 * Sets: "scalar" (the quant module's reference dot products, on every CPU) and, on
 * x86-64, "avx2" (AVX2 + FMA + F16C) and "avx512" / "avx512vnni" / "avx512bf16"
 * (AVX-512 F + BW + VL; with VNNI; with VNNI and BF16; what they have no kernel for is
 * the AVX2 set's).
 * ta_kernels_best() picks the widest set this CPU runs, from CPUID, unless
 * TABAGENT_KERNELS names another. Every SIMD kernel is tested against the scalar set
 * (tests/unit/test_kernels.c; the AVX-512 sets also through SIMDe on any x86-64,
 * tests/cross/avx512_kernels.sh); a type a set has no kernel for falls back to the
 * scalar one.
 */
#ifndef TA_ENGINE_KERNELS_H
#define TA_ENGINE_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../gguf/ggml_types.h"
#include "f16.h"
#include "quant.h"

#define TA_GEMM_MAX_COLS 12

/* out[c] = dot(w, column c) for c < nc, 1 <= nc <= TA_GEMM_MAX_COLS; w is n elements of
 * the weight type, column c is n elements of its vec_dot_type at a + c * a_stride. */
typedef void (*ta_gemm_fn)(int64_t n, const void *w, const void *a, size_t a_stride, int nc,
                           float *out);

/* Decoding's shape: out[r] = dot(row r, a) for 4 weight rows at w + r * w_stride and one
 * column a. The four dot products share each activation block and end in one vector. */
typedef void (*ta_gemv4_fn)(int64_t n, const void *w, size_t w_stride, const void *a, float *out);

/* Two weight rows (at w and w + w_stride) against nc <= TA_GEMM_MAX_COLS columns:
 * out[c * 2 + r]. For float weights, whose activations are 4 bytes an element, a 2 x 4
 * register tile halves the activation loads per FMA. */
typedef void (*ta_gemm2_fn)(int64_t n, const void *w, size_t w_stride, const void *a,
                            size_t a_stride, int nc, float *out);

/* F16 weights (against their F16 activations), nr <= 4 rows at w + r * w_stride by
 * nc <= TA_GEMM_MAX_COLS columns: out[c * 4 + r]. A 4 x 3 register tile converts 7
 * vectors for 12 FMAs where one row at a time converts 1 + 12 for 12. */
typedef void (*ta_gemm_hh_fn)(int64_t n, const void *w, size_t w_stride, int nr, const void *a,
                              size_t a_stride, int nc, float *out);

/* Weights repacked at load time (repack.h): 8 rows interleaved so that one 32-bit lane
 * of a vector holds one row. A packed tensor's type is TA_PACKED_TYPE + its pack. */
typedef enum {
    TA_PACK_Q4_0_X8 = 0, /* Q4_0, 8 rows: per block 8 F16 scales, then 4 x 32 bytes of nibbles */
    TA_PACK_Q8_0_X8,     /* Q8_0, 8 rows: per block 8 F16 scales, then 8 x 32 bytes */
    TA_PACK_Q5_0_X8,     /* Q5_0, 8 rows: 8 F16 scales, 8 x 4 bytes of fifth bits, nibbles */
    TA_PACK_Q4_K_X8,     /* Q4_K, 8 rows, per super-block: scales decoded to bytes, nibbles */
    TA_PACK_COUNT
} ta_pack;
#define TA_PACKED_TYPE 1000u

/* The activations of the packed Q4_0 and Q5_0 kernels: Q8_0 with the sum of its quants,
 * which their unsigned products need (the -8 / -16 offset times the sum), taken once
 * per token instead of once per 8-row group. 36 bytes. */
typedef struct {
    ta_f16 d;
    int16_t sum;
    int8_t qs[TA_QK];
} ta_block_q8_0s;

static inline bool ta_pack_wants_sums(int pack)
{
    return pack == TA_PACK_Q4_0_X8 || pack == TA_PACK_Q5_0_X8;
}

/* out[c * 8 + r] = dot(packed row r, column c) for the 8 rows of one packed group and
 * c < nc <= TA_GEMM_MAX_COLS; columns in the activation format of the original type,
 * or ta_block_q8_0s where ta_pack_wants_sums. */
typedef void (*ta_gemm8_fn)(int64_t n, const void *w8, const void *a, size_t a_stride, int nc,
                            float *out);

typedef struct ta_kernels {
    const char *name;
    ta_gemm_fn gemm[TA_TYPE_COUNT];   /* never NULL for a type quant.h computes */
    ta_gemv4_fn gemv4[TA_TYPE_COUNT]; /* NULL: four calls of gemm with one column */
    ta_gemm2_fn gemm2[TA_TYPE_COUNT]; /* NULL: gemm row by row */
    ta_gemm8_fn gemm8[TA_PACK_COUNT]; /* NULL: that packing is not used */
    ta_gemm_hh_fn gemm_hh;            /* NULL: gemm[TA_TYPE_F16] row by row */
    /* An F16 row against F32 columns: attention's keys against queries. */
    ta_gemm_fn gemm_f16_f32;
    /* BF16 weights against BF16 activations (made by quantize[TA_TYPE_BF16]), for prompts
     * on CPUs that multiply bfloat16 pairs themselves (vdpbf16ps); NULL in the other
     * sets, whose BF16 weights always take F32 activations. */
    ta_gemm_fn gemm_bb;
    /* Activation quantizers: Q8_0, Q8_K, F16 and BF16 (rounded to nearest even). */
    ta_quantize_row_fn quantize[TA_TYPE_COUNT];
    ta_quantize_row_fn quantize_q8_0s; /* to ta_block_q8_0s */
    /* y[i] += a * x[i] for n halves x. */
    void (*axpy_f16)(int64_t n, float a, const ta_f16 *x, float *y);
    /* Attention's weighted sum of F16 values for nq <= TA_GEMM_MAX_COLS queries:
     * out[i * lo + d] = sum_{t < n_pos} w[i * lw + t] * v[t * lv + d], d < hd. */
    void (*wsum_f16)(int64_t n_pos, int64_t hd, const ta_f16 *v, size_t lv, const float *w,
                     size_t lw, int nq, float *out, size_t lo);
    /* x[i] = exp(x[i] - max) for i < n; returns their sum (softmax). */
    float (*exp_sum)(int64_t n, float *x, float max);
    /* g[i] = silu(g[i]) * u[i] (SwiGLU). */
    void (*silu_mul)(int64_t n, float *g, const float *u);
} ta_kernels;

/* The fastest set this CPU runs (or the one TABAGENT_KERNELS names, when it runs here). */
const ta_kernels *ta_kernels_best(void);

/* A set by name ("scalar", "avx2", "avx512", "avx512vnni", "avx512bf16", "neon"), or NULL
 * when it is unknown or this CPU lacks it. */
const ta_kernels *ta_kernels_by_name(const char *name);

/* Names of the sets compiled in, NULL-terminated (some may not run on this CPU). */
const char *const *ta_kernels_names(void);

#endif
