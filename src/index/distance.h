/*
 * distance.h - the distance kernels of the vector index (hnsw.c), chosen once per CPU.
 *
 * Three primitives cover the three metrics and both storages: the squared L2 distance
 * and the dot product of two float32 vectors, and the exact dot product of two int8
 * vectors (an int32). The index turns them into its metric (hnsw.h says how): int8
 * vectors carry a scale and a squared norm, so L2 on them is |a|^2 + |b|^2 - 2 a.b and
 * needs only the int8 dot product.
 *
 * Sets: "scalar" (plain C, on every CPU) and, on x86-64, "avx2" (AVX2 + FMA, in
 * distance_avx2.c) and "avx512" / "avx512vnni" (AVX-512 F + BW + VL, the int8 dot product
 * with VNNI where the CPU has it: distance_avx512*.c); each file is compiled for its
 * instructions and only called after CPUID says the CPU has them.
 * ta_dist_kernels_best() picks the widest set this CPU runs unless
 * TABAGENT_INDEX_KERNELS asks for "scalar" (the reference) or "avx2". Every SIMD kernel is tested
 * against the scalar one (tests/unit/test_hnsw.c; the AVX-512 ones also through SIMDe on
 * any x86-64, tests/cross/avx512_kernels.sh).
 */
#ifndef TA_INDEX_DISTANCE_H
#define TA_INDEX_DISTANCE_H

#include <stddef.h>
#include <stdint.h>

/* n >= 1 elements; no alignment is required. */
typedef float (*ta_dist_f32_fn)(const float *a, const float *b, size_t n);
/* Exact for n < 2^17 (|a[i] * b[i]| <= 2^14, so the sum fits an int32). */
typedef int32_t (*ta_dist_i8_fn)(const int8_t *a, const int8_t *b, size_t n);
/* One query against two vectors: out[j] is bit for bit what the set's single kernel
 * gives for (a, bj) (same order of additions), with a's loads shared by both. */
typedef void (*ta_dist_f32x2_fn)(const float *a, const float *b0, const float *b1, size_t n,
                                 float out[2]);

typedef struct ta_dist_kernels {
    const char *name;
    ta_dist_f32_fn l2sq_f32; /* sum (a[i] - b[i])^2 */
    ta_dist_f32_fn dot_f32;  /* sum a[i] * b[i] */
    ta_dist_i8_fn dot_i8;    /* sum a[i] * b[i], exact */
    /* Optional (NULL: call the single kernel twice). */
    ta_dist_f32x2_fn l2sq_f32_x2;
    ta_dist_f32x2_fn dot_f32_x2;
} ta_dist_kernels;

/* The reference set, on every CPU. */
const ta_dist_kernels *ta_dist_kernels_scalar(void);

/* The AVX2 + FMA set, or NULL where it was not built or this CPU lacks it. */
const ta_dist_kernels *ta_dist_kernels_avx2(void);

/* The AVX-512 set (with VNNI where the CPU has it), or NULL where it was not built or
 * this CPU lacks AVX-512 F, BW and VL. */
const ta_dist_kernels *ta_dist_kernels_avx512(void);

/* The widest set this CPU runs (TABAGENT_INDEX_KERNELS=scalar forces the reference,
 * =avx2 the AVX2 set where the CPU has it). */
const ta_dist_kernels *ta_dist_kernels_best(void);

#if defined(__x86_64__) || defined(_M_X64)
/* distance_avx2.c; call only where ta_dist_kernels_avx2() is not NULL. */
float ta_dist_l2sq_f32_avx2(const float *a, const float *b, size_t n);
float ta_dist_dot_f32_avx2(const float *a, const float *b, size_t n);
int32_t ta_dist_dot_i8_avx2(const int8_t *a, const int8_t *b, size_t n);
void ta_dist_l2sq_f32_x2_avx2(const float *a, const float *b0, const float *b1, size_t n,
                              float out[2]);
void ta_dist_dot_f32_x2_avx2(const float *a, const float *b0, const float *b1, size_t n,
                             float out[2]);
/* distance_avx512*.c; call only where ta_dist_kernels_avx512() is not NULL (and, for the
 * VNNI one, only where its name is "avx512vnni"). */
float ta_dist_l2sq_f32_avx512(const float *a, const float *b, size_t n);
float ta_dist_dot_f32_avx512(const float *a, const float *b, size_t n);
int32_t ta_dist_dot_i8_avx512(const int8_t *a, const int8_t *b, size_t n);
int32_t ta_dist_dot_i8_avx512vnni(const int8_t *a, const int8_t *b, size_t n);
#endif

#endif
