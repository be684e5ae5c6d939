/*
 * kernels_neon.c - the "neon" kernel set: AArch64 Advanced SIMD gemm kernels for every
 * weight type (F32, F16, BF16; Q4_0, Q4_1, Q5_0, Q5_1, Q8_0; Q2_K .. Q6_K), the
 * activation quantizers (Q8_0, Q8_K), and the attention, softmax and SwiGLU helpers.
 * The optional entries (gemv4, gemm2, gemm8 for packed weights) stay NULL, so the
 * callers fall back to gemm row by row and unpacked weights.
 *
 * Baseline ARMv8.0 NEON, which every AArch64 CPU has; where the compiler targets the
 * dot-product extension (__ARM_FEATURE_DOTPROD, e.g. -march=armv8.2-a+dotprod) the
 * int8 dot products use SDOT instead of widening multiplies. Both give the same exact
 * integer sums.
 *
 * Structure as in kernels_avx2.c: each gemm kernel is an always-inline body taking the
 * column count, instantiated for 1..4 columns (NEON_GEMM); wider calls go four columns
 * at a time. A weight block is unpacked once into int8 vectors and then used for every
 * column; integer products are summed exactly in int32 lanes and converted to float
 * once per block (32-element types) or super-block (K-quants). The activation
 * quantizers round half to even (FCVTNS) with the scalar code's arithmetic, so their
 * bytes equal the scalar ones exactly (tests/unit/test_kernels.c, tests/cross/).
 */
#include <arm_neon.h>
#include <math.h>
#include <string.h>

#include "kernels_impl.h"
#include "quant_internal.h"

#define TA_INLINE static inline __attribute__((always_inline))

/* F16 -> float by the hardware (FCVT), exact for every half. */
TA_INLINE float h2f(ta_f16 h)
{
    __fp16 v;
    memcpy(&v, &h, sizeof v);
    return (float)v;
}

TA_INLINE float32x4_t load4_f16(const ta_f16 *p)
{
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p)));
}

TA_INLINE float32x4_t load4_f32(const float *p)
{
    return vld1q_f32(p);
}

/* BF16 -> float is a 16-bit shift. */
TA_INLINE float32x4_t load4_bf16(const ta_bf16 *p)
{
    return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16));
}

TA_INLINE float f32_id(float v)
{
    return v;
}

/* acc + the 16 products a[i] * b[i], summed into 4 int32 lanes (exact). */
TA_INLINE int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b)
{
#if defined(__ARM_FEATURE_DOTPROD)
    return vdotq_s32(acc, a, b);
#else
    /* each int16 product fits (|a b| <= 128 * 128), pairs are added in int32 */
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b)));
    return vpadalq_s16(acc, vmull_high_s8(a, b));
#endif
}

/* Column c of the activations, block ib. */
#define Q8_COL(c, ib)  ((const ta_block_q8_0 *)(a + (size_t)(c)*as) + (ib))
#define Q8K_COL(c, ib) ((const ta_block_q8_K *)(a + (size_t)(c)*as) + (ib))

/* A gemm entry from a body taking 1..4 columns. */
#define NEON_GEMM(name, body)                                                                      \
    static void name(int64_t n, const void *w, const void *a, size_t as, int nc, float *out)       \
    {                                                                                              \
        const uint8_t *ap = a;                                                                     \
        for (; nc >= 4; nc -= 4, ap += 4 * as, out += 4)                                           \
            body(n, w, ap, as, 4, out);                                                            \
        switch (nc) {                                                                              \
        case 3: body(n, w, ap, as, 3, out); break;                                                 \
        case 2: body(n, w, ap, as, 2, out); break;                                                 \
        case 1: body(n, w, ap, as, 1, out); break;                                                 \
        default: break;                                                                            \
        }                                                                                          \
    }

/* ---- float weights: F32 and BF16 against F32 activations, F16 against F16 ---- */

TA_INLINE float32x4_t load4_act_f32(const float *p)
{
    return vld1q_f32(p);
}

/* One column: four accumulators hide the FMA latency. A is the activation type, loada
 * its 4-lane load, a2f its scalar conversion. */
#define FLOAT_DOT1(name, T, load4, to_f32, A, loada, a2f)                                          \
    TA_INLINE float name(int64_t n, const T *x, const A *y)                                        \
    {                                                                                              \
        float32x4_t s0 = vdupq_n_f32(0.0f), s1 = s0, s2 = s0, s3 = s0;                             \
        int64_t i = 0;                                                                             \
        for (; i + 16 <= n; i += 16) {                                                             \
            s0 = vfmaq_f32(s0, load4(x + i), loada(y + i));                                        \
            s1 = vfmaq_f32(s1, load4(x + i + 4), loada(y + i + 4));                                \
            s2 = vfmaq_f32(s2, load4(x + i + 8), loada(y + i + 8));                                \
            s3 = vfmaq_f32(s3, load4(x + i + 12), loada(y + i + 12));                              \
        }                                                                                          \
        for (; i + 4 <= n; i += 4)                                                                 \
            s0 = vfmaq_f32(s0, load4(x + i), loada(y + i));                                        \
        float s = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));                     \
        for (; i < n; i++)                                                                         \
            s += to_f32(x[i]) * a2f(y[i]);                                                         \
        return s;                                                                                  \
    }

FLOAT_DOT1(dot1_f16, ta_f16, load4_f16, h2f, ta_f16, load4_f16, h2f)
FLOAT_DOT1(dot1_f16_f32, ta_f16, load4_f16, h2f, float, load4_act_f32, f32_id)
FLOAT_DOT1(dot1_f32, float, load4_f32, f32_id, float, load4_act_f32, f32_id)
FLOAT_DOT1(dot1_bf16, ta_bf16, load4_bf16, ta_bf16_to_f32, float, load4_act_f32, f32_id)

/* Several columns: each 8 weights are converted once and used nc times. */
#define FLOAT_BODY(name, T, load4, to_f32, dot1, A, loada, a2f)                                    \
    TA_INLINE void name(int64_t n, const void *w, const uint8_t *a, size_t as, int nc, float *out) \
    {                                                                                              \
        const T *x = w;                                                                            \
        if (nc == 1) {                                                                             \
            out[0] = dot1(n, x, (const A *)a);                                                     \
            return;                                                                                \
        }                                                                                          \
        float32x4_t s0[4], s1[4];                                                                  \
        for (int c = 0; c < nc; c++)                                                               \
            s0[c] = s1[c] = vdupq_n_f32(0.0f);                                                     \
        int64_t i = 0;                                                                             \
        for (; i + 8 <= n; i += 8) {                                                               \
            float32x4_t w0 = load4(x + i), w1 = load4(x + i + 4);                                  \
            for (int c = 0; c < nc; c++) {                                                         \
                const A *y = (const A *)(a + (size_t)c * as) + i;                                  \
                s0[c] = vfmaq_f32(s0[c], w0, loada(y));                                            \
                s1[c] = vfmaq_f32(s1[c], w1, loada(y + 4));                                        \
            }                                                                                      \
        }                                                                                          \
        for (int c = 0; c < nc; c++) {                                                             \
            const A *y = (const A *)(a + (size_t)c * as);                                          \
            float s = vaddvq_f32(vaddq_f32(s0[c], s1[c]));                                         \
            for (int64_t j = i; j < n; j++)                                                        \
                s += to_f32(x[j]) * a2f(y[j]);                                                     \
            out[c] = s;                                                                            \
        }                                                                                          \
    }

FLOAT_BODY(f16_body, ta_f16, load4_f16, h2f, dot1_f16, ta_f16, load4_f16, h2f)
FLOAT_BODY(f16_f32_body, ta_f16, load4_f16, h2f, dot1_f16_f32, float, load4_act_f32, f32_id)
FLOAT_BODY(f32_body, float, load4_f32, f32_id, dot1_f32, float, load4_act_f32, f32_id)
FLOAT_BODY(bf16_body, ta_bf16, load4_bf16, ta_bf16_to_f32, dot1_bf16, float, load4_act_f32, f32_id)
NEON_GEMM(gemm_f16, f16_body)
NEON_GEMM(gemm_f16_f32, f16_f32_body)
NEON_GEMM(gemm_f32, f32_body)
NEON_GEMM(gemm_bf16, bf16_body)

/* ---- the 32-element types against Q8_0 activations ----
 *
 * Each type's unpack turns a block into its 32 levels as two int8 vectors (elements
 * 0..15 and 16..31): signed for Q4_0/Q5_0/Q8_0 (the -8 or -16 offset applied), unsigned
 * levels for Q4_1/Q5_1, whose min term m * dy * sum(qy) is added per block. */

TA_INLINE void unpack_nibbles(const uint8_t *qs, uint8x16_t *lo, uint8x16_t *hi)
{
    uint8x16_t v = vld1q_u8(qs);
    *lo = vandq_u8(v, vdupq_n_u8(0x0f));
    *hi = vshrq_n_u8(v, 4);
}

/* 0x10 in byte i where bit i of the 32-bit little-endian qh is set: elements 0..15 in
 * *lo, 16..31 in *hi. */
TA_INLINE void unpack_fifth_bits(const uint8_t qh[4], uint8x16_t *lo, uint8x16_t *hi)
{
    static const uint8_t bit[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x16_t mask = vld1q_u8(bit), b4 = vdupq_n_u8(0x10);
    *lo = vandq_u8(vtstq_u8(vcombine_u8(vdup_n_u8(qh[0]), vdup_n_u8(qh[1])), mask), b4);
    *hi = vandq_u8(vtstq_u8(vcombine_u8(vdup_n_u8(qh[2]), vdup_n_u8(qh[3])), mask), b4);
}

TA_INLINE void unpack_q4_0(const ta_block_q4_0 *b, int8x16_t *q0, int8x16_t *q1)
{
    uint8x16_t lo, hi;
    unpack_nibbles(b->qs, &lo, &hi);
    *q0 = vsubq_s8(vreinterpretq_s8_u8(lo), vdupq_n_s8(8));
    *q1 = vsubq_s8(vreinterpretq_s8_u8(hi), vdupq_n_s8(8));
}

TA_INLINE void unpack_q4_1(const ta_block_q4_1 *b, int8x16_t *q0, int8x16_t *q1)
{
    uint8x16_t lo, hi;
    unpack_nibbles(b->qs, &lo, &hi);
    *q0 = vreinterpretq_s8_u8(lo);
    *q1 = vreinterpretq_s8_u8(hi);
}

TA_INLINE void unpack_q5_0(const ta_block_q5_0 *b, int8x16_t *q0, int8x16_t *q1)
{
    uint8x16_t lo, hi, h0, h1;
    unpack_nibbles(b->qs, &lo, &hi);
    unpack_fifth_bits(b->qh, &h0, &h1);
    *q0 = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(lo, h0)), vdupq_n_s8(16));
    *q1 = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(hi, h1)), vdupq_n_s8(16));
}

TA_INLINE void unpack_q5_1(const ta_block_q5_1 *b, int8x16_t *q0, int8x16_t *q1)
{
    uint8x16_t lo, hi, h0, h1;
    unpack_nibbles(b->qs, &lo, &hi);
    unpack_fifth_bits(b->qh, &h0, &h1);
    *q0 = vreinterpretq_s8_u8(vorrq_u8(lo, h0));
    *q1 = vreinterpretq_s8_u8(vorrq_u8(hi, h1));
}

TA_INLINE void unpack_q8_0(const ta_block_q8_0 *b, int8x16_t *q0, int8x16_t *q1)
{
    *q0 = vld1q_s8(b->qs);
    *q1 = vld1q_s8(b->qs + 16);
}

/* The min of a block, for the types that have one. */
TA_INLINE float min_none(const void *b)
{
    (void)b;
    return 0.0f;
}

TA_INLINE float min_q4_1(const ta_block_q4_1 *b)
{
    return h2f(b->m);
}

TA_INLINE float min_q5_1(const ta_block_q5_1 *b)
{
    return h2f(b->m);
}

/* sum (d q + m) (dy qy) = d dy sum(q qy) + m dy sum(qy); with_min is a constant. */
#define LEGACY_BODY(name, T, unpack, with_min, min_of)                                             \
    TA_INLINE void name(int64_t n, const void *w, const uint8_t *a, size_t as, int nc, float *out) \
    {                                                                                              \
        const T *x = w;                                                                            \
        float32x4_t acc[4];                                                                        \
        float accm[4];                                                                             \
        for (int c = 0; c < nc; c++) {                                                             \
            acc[c] = vdupq_n_f32(0.0f);                                                            \
            accm[c] = 0.0f;                                                                        \
        }                                                                                          \
        for (int64_t ib = 0; ib < n / TA_QK; ib++) {                                               \
            int8x16_t q0, q1;                                                                      \
            unpack(&x[ib], &q0, &q1);                                                              \
            float dx = h2f(x[ib].d);                                                               \
            for (int c = 0; c < nc; c++) {                                                         \
                const ta_block_q8_0 *y = Q8_COL(c, ib);                                            \
                int8x16_t y0 = vld1q_s8(y->qs), y1 = vld1q_s8(y->qs + 16);                         \
                int32x4_t s = dot16(dot16(vdupq_n_s32(0), q0, y0), q1, y1);                        \
                float dy = h2f(y->d);                                                              \
                acc[c] = vfmaq_n_f32(acc[c], vcvtq_f32_s32(s), dx * dy);                           \
                if (with_min) {                                                                    \
                    int ysum = vaddlvq_s8(y0) + vaddlvq_s8(y1);                                    \
                    accm[c] += min_of(&x[ib]) * dy * (float)ysum;                                  \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
        for (int c = 0; c < nc; c++)                                                               \
            out[c] = vaddvq_f32(acc[c]) + accm[c];                                                 \
    }

LEGACY_BODY(q4_0_body, ta_block_q4_0, unpack_q4_0, 0, min_none)
LEGACY_BODY(q4_1_body, ta_block_q4_1, unpack_q4_1, 1, min_q4_1)
LEGACY_BODY(q5_0_body, ta_block_q5_0, unpack_q5_0, 0, min_none)
LEGACY_BODY(q5_1_body, ta_block_q5_1, unpack_q5_1, 1, min_q5_1)
LEGACY_BODY(q8_0_body, ta_block_q8_0, unpack_q8_0, 0, min_none)
NEON_GEMM(gemm_q4_0, q4_0_body)
NEON_GEMM(gemm_q4_1, q4_1_body)
NEON_GEMM(gemm_q5_0, q5_0_body)
NEON_GEMM(gemm_q5_1, q5_1_body)
NEON_GEMM(gemm_q8_0, q8_0_body)

/* ---- K-quants against Q8_K activations ---- */

/* The 6-bit scales and mins of a Q4_K/Q5_K super-block (layout in quant_blocks.h). */
TA_INLINE void k4_scales(const uint8_t s[TA_K_SCALE_SIZE], uint8_t sc[8], uint8_t m[8])
{
    for (int j = 0; j < 4; j++) {
        sc[j] = s[j] & 63;
        m[j] = s[j + 4] & 63;
        sc[j + 4] = (uint8_t)((s[j + 8] & 15) | (s[j] >> 6) << 4);
        m[j + 4] = (uint8_t)((s[j + 8] >> 4) | (s[j + 4] >> 6) << 4);
    }
}

/* Q4_K and Q5_K share everything but the fifth bit: qh is NULL for Q4_K. The block of
 * super-block ib starts at base + ib * stride; the fields are at the given offsets. */
TA_INLINE void k45_body(int64_t n, const uint8_t *base, size_t stride, size_t qh_off, size_t qs_off,
                        bool has_qh, const uint8_t *a, size_t as, int nc, float *out)
{
    float32x4_t acc[4];
    float accm[4];
    for (int c = 0; c < nc; c++) {
        acc[c] = vdupq_n_f32(0.0f);
        accm[c] = 0.0f;
    }
    const uint8x16_t m4 = vdupq_n_u8(0x0f), one = vdupq_n_u8(1);
    for (int64_t ib = 0; ib < n / TA_QK_K; ib++) {
        const uint8_t *blk = base + (size_t)ib * stride;
        const ta_f16 *dd = (const ta_f16 *)blk; /* d, dmin lead both layouts */
        float d = h2f(dd[0]), dmin = h2f(dd[1]);
        uint8_t sc[8], mn[8];
        k4_scales(blk + 4, sc, mn);
        const uint8_t *qs = blk + qs_off;
        uint8x16_t h0 = vdupq_n_u8(0), h1 = h0;
        if (has_qh) {
            h0 = vld1q_u8(blk + qh_off);
            h1 = vld1q_u8(blk + qh_off + 16);
        }
        int32x4_t sumi[4];
        for (int c = 0; c < nc; c++)
            sumi[c] = vdupq_n_s32(0);
        for (int j = 0; j < 4; j++) { /* 64 elements: sub-blocks 2j (low nibbles), 2j+1 */
            uint8x16_t b0 = vld1q_u8(qs + 32 * j), b1 = vld1q_u8(qs + 32 * j + 16);
            uint8x16_t l0 = vandq_u8(b0, m4), l1 = vandq_u8(b1, m4);
            uint8x16_t u0 = vshrq_n_u8(b0, 4), u1 = vshrq_n_u8(b1, 4);
            if (has_qh) { /* bit 2j of qh[l] for the low half, bit 2j+1 for the high */
                l0 = vorrq_u8(l0, vshlq_n_u8(vandq_u8(h0, one), 4));
                l1 = vorrq_u8(l1, vshlq_n_u8(vandq_u8(h1, one), 4));
                u0 = vorrq_u8(u0, vshlq_n_u8(vandq_u8(vshrq_n_u8(h0, 1), one), 4));
                u1 = vorrq_u8(u1, vshlq_n_u8(vandq_u8(vshrq_n_u8(h1, 1), one), 4));
                h0 = vshrq_n_u8(h0, 2);
                h1 = vshrq_n_u8(h1, 2);
            }
            int8x16_t q0 = vreinterpretq_s8_u8(l0), q1 = vreinterpretq_s8_u8(l1);
            int8x16_t q2 = vreinterpretq_s8_u8(u0), q3 = vreinterpretq_s8_u8(u1);
            for (int c = 0; c < nc; c++) {
                const int8_t *y = Q8K_COL(c, ib)->qs + 64 * j;
                int32x4_t pl = dot16(dot16(vdupq_n_s32(0), q0, vld1q_s8(y)), q1, vld1q_s8(y + 16));
                int32x4_t ph =
                    dot16(dot16(vdupq_n_s32(0), q2, vld1q_s8(y + 32)), q3, vld1q_s8(y + 48));
                sumi[c] = vmlaq_n_s32(sumi[c], pl, sc[2 * j]);
                sumi[c] = vmlaq_n_s32(sumi[c], ph, sc[2 * j + 1]);
            }
        }
        /* The min term: sum_j m[j] * (bsums[2j] + bsums[2j+1]). */
        int16x8_t m16 = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(mn)));
        for (int c = 0; c < nc; c++) {
            const ta_block_q8_K *y = Q8K_COL(c, ib);
            int16x8_t bs = vpaddq_s16(vld1q_s16(y->bsums), vld1q_s16(y->bsums + 8));
            int32x4_t mp = vmull_s16(vget_low_s16(bs), vget_low_s16(m16));
            mp = vmlal_high_s16(mp, bs, m16);
            acc[c] = vfmaq_n_f32(acc[c], vcvtq_f32_s32(sumi[c]), d * y->d);
            accm[c] += dmin * y->d * (float)vaddvq_s32(mp);
        }
    }
    for (int c = 0; c < nc; c++)
        out[c] = vaddvq_f32(acc[c]) - accm[c];
}

TA_INLINE void q4_K_body(int64_t n, const void *w, const uint8_t *a, size_t as, int nc, float *out)
{
    k45_body(n, w, sizeof(ta_block_q4_K), 0, offsetof(ta_block_q4_K, qs), false, a, as, nc, out);
}

TA_INLINE void q5_K_body(int64_t n, const void *w, const uint8_t *a, size_t as, int nc, float *out)
{
    k45_body(n, w, sizeof(ta_block_q5_K), offsetof(ta_block_q5_K, qh), offsetof(ta_block_q5_K, qs),
             true, a, as, nc, out);
}

NEON_GEMM(gemm_q4_K, q4_K_body)
NEON_GEMM(gemm_q5_K, q5_K_body)

/* Q6_K: levels 0..63 times the signed sub-block scales; the -32 offset is applied at
 * the end as 32 * sum_j scales[j] * bsums[j]. */
TA_INLINE void q6_K_body(int64_t n, const void *w, const uint8_t *a, size_t as, int nc, float *out)
{
    const ta_block_q6_K *x = w;
    float32x4_t acc[4];
    for (int c = 0; c < nc; c++)
        acc[c] = vdupq_n_f32(0.0f);
    const uint8x16_t m4 = vdupq_n_u8(0x0f), three = vdupq_n_u8(3);
    for (int64_t ib = 0; ib < n / TA_QK_K; ib++) {
        const ta_block_q6_K *b = &x[ib];
        int32x4_t sumi[4];
        for (int c = 0; c < nc; c++)
            sumi[c] = vdupq_n_s32(0);
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = b->ql + 64 * h;
            uint8x16_t qh0 = vld1q_u8(b->qh + 32 * h), qh1 = vld1q_u8(b->qh + 32 * h + 16);
            for (int k = 0; k < 4; k++) { /* elements 128h + 32k + l, l < 32 */
                uint8x16_t l0 = vld1q_u8(ql + 32 * (k & 1)), l1 = vld1q_u8(ql + 32 * (k & 1) + 16);
                if (k < 2) {
                    l0 = vandq_u8(l0, m4);
                    l1 = vandq_u8(l1, m4);
                } else {
                    l0 = vshrq_n_u8(l0, 4);
                    l1 = vshrq_n_u8(l1, 4);
                }
                int8x16_t q0 =
                    vreinterpretq_s8_u8(vorrq_u8(l0, vshlq_n_u8(vandq_u8(qh0, three), 4)));
                int8x16_t q1 =
                    vreinterpretq_s8_u8(vorrq_u8(l1, vshlq_n_u8(vandq_u8(qh1, three), 4)));
                qh0 = vshrq_n_u8(qh0, 2);
                qh1 = vshrq_n_u8(qh1, 2);
                int s = 8 * h + 2 * k; /* sub-blocks of 16: s for l < 16, s + 1 above */
                for (int c = 0; c < nc; c++) {
                    const int8_t *y = Q8K_COL(c, ib)->qs + 128 * h + 32 * k;
                    int32x4_t p0 = dot16(vdupq_n_s32(0), q0, vld1q_s8(y));
                    int32x4_t p1 = dot16(vdupq_n_s32(0), q1, vld1q_s8(y + 16));
                    sumi[c] = vmlaq_n_s32(sumi[c], p0, b->scales[s]);
                    sumi[c] = vmlaq_n_s32(sumi[c], p1, b->scales[s + 1]);
                }
            }
        }
        int8x16_t sc8 = vld1q_s8(b->scales);
        int16x8_t sc_lo = vmovl_s8(vget_low_s8(sc8)), sc_hi = vmovl_high_s8(sc8);
        float d = h2f(b->d);
        for (int c = 0; c < nc; c++) {
            const ta_block_q8_K *y = Q8K_COL(c, ib);
            int16x8_t bs_lo = vld1q_s16(y->bsums), bs_hi = vld1q_s16(y->bsums + 8);
            int32x4_t off = vmull_s16(vget_low_s16(sc_lo), vget_low_s16(bs_lo));
            off = vmlal_high_s16(off, sc_lo, bs_lo);
            off = vmlal_s16(off, vget_low_s16(sc_hi), vget_low_s16(bs_hi));
            off = vmlal_high_s16(off, sc_hi, bs_hi);
            int32x4_t t = vsubq_s32(sumi[c], vshlq_n_s32(off, 5));
            acc[c] = vfmaq_n_f32(acc[c], vcvtq_f32_s32(t), d * y->d);
        }
    }
    for (int c = 0; c < nc; c++)
        out[c] = vaddvq_f32(acc[c]);
}

NEON_GEMM(gemm_q6_K, q6_K_body)

/* Q2_K and Q3_K: 2-bit fields in 128-element halves (element 128h + 32k + l at bit 2k
 * of byte 32h + l), sub-blocks of 16 with 4-bit (Q2_K) or 6-bit signed (Q3_K) scales. */

/* The 16 signed scales of a Q3_K super-block (layout in quant_blocks.h). */
TA_INLINE void q3k_scales(const uint8_t s[12], int sc[16])
{
    for (int j = 0; j < 16; j++) {
        int lo = j < 8 ? s[j] & 15 : s[j - 8] >> 4;
        int hi = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
        sc[j] = (lo | hi << 4) - 32;
    }
}

/* sum (d sc q - dmin m) (dy qy) = dy (d sum sc (q qy) - dmin sum m bsums). */
TA_INLINE void q2_K_body(int64_t n, const void *w, const uint8_t *a, size_t as, int nc, float *out)
{
    const ta_block_q2_K *x = w;
    float32x4_t acc[4];
    float accm[4];
    for (int c = 0; c < nc; c++) {
        acc[c] = vdupq_n_f32(0.0f);
        accm[c] = 0.0f;
    }
    const uint8x16_t three = vdupq_n_u8(3);
    for (int64_t ib = 0; ib < n / TA_QK_K; ib++) {
        const ta_block_q2_K *b = &x[ib];
        int32x4_t sumi[4];
        for (int c = 0; c < nc; c++)
            sumi[c] = vdupq_n_s32(0);
        for (int h = 0; h < 2; h++) {
            uint8x16_t b0 = vld1q_u8(b->qs + 32 * h), b1 = vld1q_u8(b->qs + 32 * h + 16);
            for (int k = 0; k < 4; k++) {
                int8x16_t q0 = vreinterpretq_s8_u8(vandq_u8(b0, three));
                int8x16_t q1 = vreinterpretq_s8_u8(vandq_u8(b1, three));
                b0 = vshrq_n_u8(b0, 2);
                b1 = vshrq_n_u8(b1, 2);
                int s = 8 * h + 2 * k;
                for (int c = 0; c < nc; c++) {
                    const int8_t *y = Q8K_COL(c, ib)->qs + 128 * h + 32 * k;
                    int32x4_t p0 = dot16(vdupq_n_s32(0), q0, vld1q_s8(y));
                    int32x4_t p1 = dot16(vdupq_n_s32(0), q1, vld1q_s8(y + 16));
                    sumi[c] = vmlaq_n_s32(sumi[c], p0, b->scales[s] & 15);
                    sumi[c] = vmlaq_n_s32(sumi[c], p1, b->scales[s + 1] & 15);
                }
            }
        }
        uint8x16_t sc8 = vld1q_u8(b->scales);
        int16x8_t m_lo = vreinterpretq_s16_u16(vmovl_u8(vshr_n_u8(vget_low_u8(sc8), 4)));
        int16x8_t m_hi = vreinterpretq_s16_u16(vmovl_u8(vshr_n_u8(vget_high_u8(sc8), 4)));
        float d = h2f(b->d), dmin = h2f(b->dmin);
        for (int c = 0; c < nc; c++) {
            const ta_block_q8_K *y = Q8K_COL(c, ib);
            int16x8_t bs_lo = vld1q_s16(y->bsums), bs_hi = vld1q_s16(y->bsums + 8);
            int32x4_t mp = vmull_s16(vget_low_s16(m_lo), vget_low_s16(bs_lo));
            mp = vmlal_high_s16(mp, m_lo, bs_lo);
            mp = vmlal_s16(mp, vget_low_s16(m_hi), vget_low_s16(bs_hi));
            mp = vmlal_high_s16(mp, m_hi, bs_hi);
            acc[c] = vfmaq_n_f32(acc[c], vcvtq_f32_s32(sumi[c]), d * y->d);
            accm[c] += dmin * y->d * (float)vaddvq_s32(mp);
        }
    }
    for (int c = 0; c < nc; c++)
        out[c] = vaddvq_f32(acc[c]) - accm[c];
}

/* Q3_K: levels (low 2 bits | hmask bit << 2) - 4, in -4..3. */
TA_INLINE void q3_K_body(int64_t n, const void *w, const uint8_t *a, size_t as, int nc, float *out)
{
    const ta_block_q3_K *x = w;
    float32x4_t acc[4];
    for (int c = 0; c < nc; c++)
        acc[c] = vdupq_n_f32(0.0f);
    const uint8x16_t three = vdupq_n_u8(3), four = vdupq_n_u8(4);
    for (int64_t ib = 0; ib < n / TA_QK_K; ib++) {
        const ta_block_q3_K *b = &x[ib];
        int sc[16];
        q3k_scales(b->scales, sc);
        uint8x16_t hm0 = vld1q_u8(b->hmask), hm1 = vld1q_u8(b->hmask + 16);
        int32x4_t sumi[4];
        for (int c = 0; c < nc; c++)
            sumi[c] = vdupq_n_s32(0);
        for (int h = 0; h < 2; h++) {
            uint8x16_t b0 = vld1q_u8(b->qs + 32 * h), b1 = vld1q_u8(b->qs + 32 * h + 16);
            for (int k = 0; k < 4; k++) {
                /* bit 2 of the level: bit 4h + k of hmask[l] */
                uint8x16_t bit = vdupq_n_u8((uint8_t)(1u << (4 * h + k)));
                uint8x16_t u0 = vorrq_u8(vandq_u8(b0, three), vandq_u8(vtstq_u8(hm0, bit), four));
                uint8x16_t u1 = vorrq_u8(vandq_u8(b1, three), vandq_u8(vtstq_u8(hm1, bit), four));
                int8x16_t q0 = vsubq_s8(vreinterpretq_s8_u8(u0), vdupq_n_s8(4));
                int8x16_t q1 = vsubq_s8(vreinterpretq_s8_u8(u1), vdupq_n_s8(4));
                b0 = vshrq_n_u8(b0, 2);
                b1 = vshrq_n_u8(b1, 2);
                int s = 8 * h + 2 * k;
                for (int c = 0; c < nc; c++) {
                    const int8_t *y = Q8K_COL(c, ib)->qs + 128 * h + 32 * k;
                    int32x4_t p0 = dot16(vdupq_n_s32(0), q0, vld1q_s8(y));
                    int32x4_t p1 = dot16(vdupq_n_s32(0), q1, vld1q_s8(y + 16));
                    sumi[c] = vmlaq_n_s32(sumi[c], p0, sc[s]);
                    sumi[c] = vmlaq_n_s32(sumi[c], p1, sc[s + 1]);
                }
            }
        }
        float d = h2f(b->d);
        for (int c = 0; c < nc; c++)
            acc[c] = vfmaq_n_f32(acc[c], vcvtq_f32_s32(sumi[c]), d * Q8K_COL(c, ib)->d);
    }
    for (int c = 0; c < nc; c++)
        out[c] = vaddvq_f32(acc[c]);
}

NEON_GEMM(gemm_q2_K, q2_K_body)
NEON_GEMM(gemm_q3_K, q3_K_body)

/* ---- activation quantizers (byte-identical to quant_legacy.c / quant_k.c) ---- */

/* 16 floats -> 16 int8, rounded to nearest even and clamped to -127..127 (the
 * narrowing saturates to -128..127; the max lifts -128). */
TA_INLINE int8x16_t round_pack16(float32x4_t v0, float32x4_t v1, float32x4_t v2, float32x4_t v3)
{
    int16x8_t h0 = vcombine_s16(vqmovn_s32(vcvtnq_s32_f32(v0)), vqmovn_s32(vcvtnq_s32_f32(v1)));
    int16x8_t h1 = vcombine_s16(vqmovn_s32(vcvtnq_s32_f32(v2)), vqmovn_s32(vcvtnq_s32_f32(v3)));
    return vmaxq_s8(vcombine_s8(vqmovn_s16(h0), vqmovn_s16(h1)), vdupq_n_s8(-127));
}

/* 16 floats at x times s, rounded and packed. */
TA_INLINE int8x16_t scale_pack16(const float *x, float32x4_t s)
{
    return round_pack16(vmulq_f32(vld1q_f32(x), s), vmulq_f32(vld1q_f32(x + 4), s),
                        vmulq_f32(vld1q_f32(x + 8), s), vmulq_f32(vld1q_f32(x + 12), s));
}

/* max |x[i]| over n (a multiple of 16) floats */
TA_INLINE float absmax(const float *x, int n)
{
    float32x4_t m = vdupq_n_f32(0.0f);
    for (int i = 0; i < n; i += 4)
        m = vmaxq_f32(m, vabsq_f32(vld1q_f32(x + i)));
    return vmaxvq_f32(m);
}

static void quantize_q8_0(const float *x, void *dst, int64_t n)
{
    ta_block_q8_0 *b = dst;
    for (int64_t ib = 0; ib < n / TA_QK; ib++, x += TA_QK) {
        float amax = absmax(x, TA_QK);
        float d = amax / 127.0f;
        float id = amax >= 1e-30f ? 1.0f / d : 0.0f;
        b[ib].d = ta_f16_scale(d);
        float32x4_t s = vdupq_n_f32(id);
        vst1q_s8(b[ib].qs, scale_pack16(x, s));
        vst1q_s8(b[ib].qs + 16, scale_pack16(x + 16, s));
    }
}

static void quantize_q8_K(const float *x, void *dst, int64_t n)
{
    ta_block_q8_K *b = dst;
    for (int64_t ib = 0; ib < n / TA_QK_K; ib++, x += TA_QK_K) {
        float amax = absmax(x, TA_QK_K);
        if (amax < 1e-30f) {
            memset(&b[ib], 0, sizeof b[ib]);
            continue;
        }
        float xmax = 0.0f; /* the first element of largest magnitude, as the scalar code */
        for (int i = 0; i < TA_QK_K; i++)
            if (fabsf(x[i]) == amax) {
                xmax = x[i];
                break;
            }
        float iscale = -127.0f / xmax;
        float32x4_t s = vdupq_n_f32(iscale);
        for (int i = 0; i < TA_QK_K; i += 16) {
            int8x16_t q = scale_pack16(x + i, s);
            vst1q_s8(b[ib].qs + i, q);
            b[ib].bsums[i / 16] = vaddlvq_s8(q);
        }
        b[ib].d = 1.0f / iscale;
    }
}

/* ---- attention ---- */

static void axpy_f16(int64_t n, float a, const ta_f16 *x, float *y)
{
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), load4_f16(x + i), a));
    for (; i < n; i++)
        y[i] += a * h2f(x[i]);
}

/* Attention's weighted sums: for 16 dimensions at a time, each value row is converted
 * once and added into up to four queries' accumulators. */
TA_INLINE void wsum_group(int64_t n_pos, int64_t hd, const ta_f16 *v, size_t lv, const float *w,
                          size_t lw, int nq, float *out, size_t lo)
{
    int64_t d = 0;
    for (; d + 16 <= hd; d += 16) {
        float32x4_t acc[4][4];
        for (int i = 0; i < nq; i++)
            for (int k = 0; k < 4; k++)
                acc[i][k] = vdupq_n_f32(0.0f);
        for (int64_t t = 0; t < n_pos; t++) {
            const ta_f16 *vr = v + (size_t)t * lv + d;
            float32x4_t vv[4];
            for (int k = 0; k < 4; k++)
                vv[k] = load4_f16(vr + 4 * k);
            for (int i = 0; i < nq; i++) {
                float wt = w[(size_t)i * lw + (size_t)t];
                for (int k = 0; k < 4; k++)
                    acc[i][k] = vfmaq_n_f32(acc[i][k], vv[k], wt);
            }
        }
        for (int i = 0; i < nq; i++)
            for (int k = 0; k < 4; k++)
                vst1q_f32(out + (size_t)i * lo + d + 4 * k, acc[i][k]);
    }
    for (; d < hd; d++) /* head sizes that are not a multiple of 16 */
        for (int i = 0; i < nq; i++) {
            float s = 0.0f;
            for (int64_t t = 0; t < n_pos; t++)
                s += w[(size_t)i * lw + (size_t)t] * h2f(v[(size_t)t * lv + d]);
            out[(size_t)i * lo + d] = s;
        }
}

static void wsum_f16(int64_t n_pos, int64_t hd, const ta_f16 *v, size_t lv, const float *w,
                     size_t lw, int nq, float *out, size_t lo)
{
    for (; nq >= 4; nq -= 4, w += 4 * lw, out += 4 * lo)
        wsum_group(n_pos, hd, v, lv, w, lw, 4, out, lo);
    switch (nq) {
    case 3: wsum_group(n_pos, hd, v, lv, w, lw, 3, out, lo); break;
    case 2: wsum_group(n_pos, hd, v, lv, w, lw, 2, out, lo); break;
    case 1: wsum_group(n_pos, hd, v, lv, w, lw, 1, out, lo); break;
    default: break;
    }
}

/* ---- exp, softmax and SwiGLU ---- */

/* exp(x) to about 1 ulp, as in kernels_avx2.c: x = k ln2 + r with |r| <= ln2 / 2 (ln2
 * in two parts, so r is exact), a degree-7 polynomial for exp(r) (Cephes' coefficients)
 * and 2^k built in the exponent bits. Inputs are clamped to [-87.3, 88], where 2^k
 * stays normal. */
TA_INLINE float32x4_t exp_ps(float32x4_t x)
{
    x = vminq_f32(x, vdupq_n_f32(88.0f));
    x = vmaxq_f32(x, vdupq_n_f32(-87.3f));
    float32x4_t k = vrndnq_f32(vmulq_f32(x, vdupq_n_f32(1.44269504088896341f)));
    float32x4_t r = vfmsq_f32(x, k, vdupq_n_f32(0.693359375f));
    r = vfmsq_f32(r, k, vdupq_n_f32(-2.12194440e-4f));
    float32x4_t p = vdupq_n_f32(1.9875691500e-4f);
    p = vfmaq_f32(vdupq_n_f32(1.3981999507e-3f), p, r);
    p = vfmaq_f32(vdupq_n_f32(8.3334519073e-3f), p, r);
    p = vfmaq_f32(vdupq_n_f32(4.1665795894e-2f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.6666665459e-1f), p, r);
    p = vfmaq_f32(vdupq_n_f32(5.0000001201e-1f), p, r);
    p = vfmaq_f32(vaddq_f32(r, vdupq_n_f32(1.0f)), p, vmulq_f32(r, r));
    int32x4_t e = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(k), vdupq_n_s32(127)), 23);
    return vmulq_f32(p, vreinterpretq_f32_s32(e));
}

static float exp_sum(int64_t n, float *x, float max)
{
    float32x4_t m = vdupq_n_f32(max), s = vdupq_n_f32(0.0f);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t e = exp_ps(vsubq_f32(vld1q_f32(x + i), m));
        vst1q_f32(x + i, e);
        s = vaddq_f32(s, e);
    }
    float sum = vaddvq_f32(s);
    for (; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    return sum;
}

static void silu_mul(int64_t n, float *g, const float *u)
{
    const float32x4_t one = vdupq_n_f32(1.0f);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t x = vld1q_f32(g + i);
        float32x4_t y = vdivq_f32(x, vaddq_f32(one, exp_ps(vnegq_f32(x))));
        vst1q_f32(g + i, vmulq_f32(y, vld1q_f32(u + i)));
    }
    for (; i < n; i++)
        g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

void ta_kernels_neon_fill(ta_kernels *k)
{
    memset(k, 0, sizeof *k);
    k->name = "neon";
    k->gemm[TA_TYPE_F32] = gemm_f32;
    k->gemm[TA_TYPE_F16] = gemm_f16;
    k->gemm[TA_TYPE_BF16] = gemm_bf16;
    k->gemm_f16_f32 = gemm_f16_f32;
    k->gemm[TA_TYPE_Q4_0] = gemm_q4_0;
    k->gemm[TA_TYPE_Q4_1] = gemm_q4_1;
    k->gemm[TA_TYPE_Q5_0] = gemm_q5_0;
    k->gemm[TA_TYPE_Q5_1] = gemm_q5_1;
    k->gemm[TA_TYPE_Q8_0] = gemm_q8_0;
    k->gemm[TA_TYPE_Q2_K] = gemm_q2_K;
    k->gemm[TA_TYPE_Q3_K] = gemm_q3_K;
    k->gemm[TA_TYPE_Q4_K] = gemm_q4_K;
    k->gemm[TA_TYPE_Q5_K] = gemm_q5_K;
    k->gemm[TA_TYPE_Q6_K] = gemm_q6_K;
    k->quantize[TA_TYPE_Q8_0] = quantize_q8_0;
    k->quantize[TA_TYPE_Q8_K] = quantize_q8_K;
    k->axpy_f16 = axpy_f16;
    k->wsum_f16 = wsum_f16;
    k->exp_sum = exp_sum;
    k->silu_mul = silu_mul;
}
