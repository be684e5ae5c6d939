/*
 * kernels_avx512.c - AVX-512 (F, BW, VL) kernels for the types that matter most: F16
 * (gemm, gemm_hh, gemm_f16_f32) and F32, BF16, Q8_0 and Q4_0 (row by row and packed 8 rows
 * at a time), Q4_K (both) and Q6_K. Everything else is the AVX2 set's (kernels.c starts
 * the set from it), so this file only fills in what it has.
 *
 * Built three times: as is, with -mavx512f -mavx512bw -mavx512vl -mfma -mf16c (set
 * "avx512"); from kernels_avx512_vnni.c with TA_AVX512_VNNI and -mavx512vnni added (set
 * "avx512vnni"), where vpdpbusd / vpdpwssd replace the vpmaddubsw + vpmaddwd + vpaddd
 * chains; and from kernels_avx512_bf16.c with TA_AVX512_BF16 too and -mavx512bf16 (set
 * "avx512bf16"), which adds BF16 x BF16 products by vdpbf16ps for prompts (gemm_bb) and
 * the BF16 activation quantizer. kernels.c calls in only after CPUID says the CPU has
 * the instructions.
 *
 * 512-bit vectors hold two 32-element blocks (row kernels), two columns of a packed
 * group (lanes 0-7 one column's 8 rows, 8-15 the next's), or 64 elements of a K-quant
 * super-block; each half gets its own scale, so the integer sums stay exact until one
 * conversion per block pair (super-block). The same source is built against SIMDe
 * (tests/cross/avx512_kernels.sh) to check it on CPUs without AVX-512
 * (src/core/simd_avx512.h).
 */
#include "../core/simd_avx512.h"
#include "kernels_avx2.h"

#ifndef TA_AVX512_VNNI
#define TA_AVX512_VNNI 0
#endif
#ifndef TA_AVX512_BF16
#define TA_AVX512_BF16 0
#endif
#if TA_AVX512_BF16 && !TA_AVX512_VNNI
#error "the avx512bf16 set is the avx512vnni set plus BF16: define TA_AVX512_VNNI too"
#endif

/* ---- helpers ---- */

/* acc + the sums of 4 products of unsigned bytes u and signed bytes s per int32 lane.
 * Without VNNI the pairs go through int16: 2 * |u| * |s| must stay below 32768. */
TA_INLINE __m512i dot_us(__m512i acc, __m512i u, __m512i s)
{
#if TA_AVX512_VNNI
    return _mm512_dpbusd_epi32(acc, u, s);
#else
    return _mm512_add_epi32(acc,
                            _mm512_madd_epi16(_mm512_maddubs_epi16(u, s), _mm512_set1_epi16(1)));
#endif
}

/* acc + pairwise int16 products p * sc summed into int32 lanes. */
TA_INLINE __m512i dot_ss16(__m512i acc, __m512i p, __m512i sc)
{
#if TA_AVX512_VNNI
    return _mm512_dpwssd_epi32(acc, p, sc);
#else
    return _mm512_add_epi32(acc, _mm512_madd_epi16(p, sc));
#endif
}

/* y with the sign of the weights applied (neg: their sign bits). y is an activation
 * quant (-127..127), so negating never overflows. */
TA_INLINE __m512i sign_by(__m512i y, __mmask64 neg)
{
    return _mm512_mask_sub_epi8(y, neg, _mm512_setzero_si512(), y);
}

/* a in lanes 0-7, b in lanes 8-15. */
TA_INLINE __m512 splat2(float a, float b)
{
    return _mm512_mask_blend_ps(0xff00, _mm512_set1_ps(a), _mm512_set1_ps(b));
}

TA_INLINE __m512i splat2_epi32(int a, int b)
{
    return _mm512_mask_blend_epi32(0xff00, _mm512_set1_epi32(a), _mm512_set1_epi32(b));
}

/* 32 bytes at p0 in the low half, 32 at p1 in the high half. */
TA_INLINE __m512i load2x32(const void *p0, const void *p1)
{
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)p0)),
                              _mm256_loadu_si256((const __m256i *)p1), 1);
}

/* 32 bytes at p in both halves. */
TA_INLINE __m512i bcast32(const void *p)
{
    return _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)p));
}

/* Word l (4 bytes) of each half of y, broadcast over its half. */
TA_INLINE __m512i word2(__m512i y, int l)
{
    return _mm512_permutexvar_epi32(_mm512_setr_epi32(l, l, l, l, l, l, l, l, 8 + l, 8 + l, 8 + l,
                                                      8 + l, 8 + l, 8 + l, 8 + l, 8 + l),
                                    y);
}

TA_INLINE __m256 half_lo(__m512 v)
{
    return _mm512_castps512_ps256(v);
}

TA_INLINE __m256i sum_halves_epi32(__m512i v)
{
    return _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
}

/* The first k of 16 lanes. */
TA_INLINE __mmask16 first16(int64_t k)
{
    return (__mmask16)((1u << k) - 1);
}

/* ---- F32 and BF16 weights, and F16 keys (attention), against F32 activations ---- */

TA_INLINE __m512 load16_f16(const ta_f16 *p)
{
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
}

TA_INLINE __m512 loadm_f16(const ta_f16 *p, __mmask16 m)
{
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
}

TA_INLINE __m512 load16_f32(const float *p)
{
    return _mm512_loadu_ps(p);
}

TA_INLINE __m512 loadm_f32(const float *p, __mmask16 m)
{
    return _mm512_maskz_loadu_ps(m, p);
}

/* bfloat16 is the top half of an IEEE single: the 16-bit words zero-extended to 32 bits
 * and shifted up by 16 are the floats. */
TA_INLINE __m512 bf16_words_to_ps(__m256i h)
{
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

TA_INLINE __m512 load16_bf16(const ta_bf16 *p)
{
    return bf16_words_to_ps(_mm256_loadu_si256((const __m256i *)p));
}

TA_INLINE __m512 loadm_bf16(const ta_bf16 *p, __mmask16 m)
{
    return bf16_words_to_ps(_mm256_maskz_loadu_epi16(m, p));
}

/* One row against one column: four accumulators, one masked step for the last n % 16.
 * T: the weights' element type, TY: the column's (float, or F16 for F16 weights in
 * decoding). pf: ask for the weights TA_PREFETCH_AHEAD bytes ahead (decoding streams them
 * from DRAM). */
#define FLOAT_DOT1(name, T, load16, loadm, TY, load16y, loadmy, pf)                                \
    TA_INLINE float name(int64_t n, const T *x, const TY *y)                                       \
    {                                                                                              \
        __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;                                \
        int64_t i = 0;                                                                             \
        for (; i + 64 <= n; i += 64) {                                                             \
            if (pf) ta_prefetch_ahead(x + i, 64 * sizeof(T));                                      \
            s0 = _mm512_fmadd_ps(load16(x + i), load16y(y + i), s0);                               \
            s1 = _mm512_fmadd_ps(load16(x + i + 16), load16y(y + i + 16), s1);                     \
            s2 = _mm512_fmadd_ps(load16(x + i + 32), load16y(y + i + 32), s2);                     \
            s3 = _mm512_fmadd_ps(load16(x + i + 48), load16y(y + i + 48), s3);                     \
        }                                                                                          \
        for (; i + 16 <= n; i += 16)                                                               \
            s0 = _mm512_fmadd_ps(load16(x + i), load16y(y + i), s0);                               \
        if (i < n) {                                                                               \
            __mmask16 m = first16(n - i);                                                          \
            s1 = _mm512_fmadd_ps(loadm(x + i, m), loadmy(y + i, m), s1);                           \
        }                                                                                          \
        return ta_hsum512_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));         \
    }

FLOAT_DOT1(dot1_f16, ta_f16, load16_f16, loadm_f16, float, load16_f32, loadm_f32, 0)
FLOAT_DOT1(dot1_f32, float, load16_f32, loadm_f32, float, load16_f32, loadm_f32, 0)
FLOAT_DOT1(dot1_bf16, ta_bf16, load16_bf16, loadm_bf16, float, load16_f32, loadm_f32, 1)
FLOAT_DOT1(dot1_hh, ta_f16, load16_f16, loadm_f16, ta_f16, load16_f16, loadm_f16, 1)

/* One row against nc columns: dot1 for one column, else two accumulators per column and
 * one masked step for the last n % 16 elements. pf as for FLOAT_DOT1. */
#define FLOAT_BODY(name, T, load16, loadm, dot1, pf)                                               \
    TA_INLINE void name(int64_t n, const void *w, const uint8_t *a, size_t as, int nc, float *out) \
    {                                                                                              \
        const T *x = w;                                                                            \
        if (nc == 1) {                                                                             \
            out[0] = dot1(n, x, (const float *)a);                                                 \
            return;                                                                                \
        }                                                                                          \
        __m512 s0[4], s1[4];                                                                       \
        for (int c = 0; c < nc; c++)                                                               \
            s0[c] = s1[c] = _mm512_setzero_ps();                                                   \
        int64_t i = 0;                                                                             \
        for (; i + 32 <= n; i += 32) {                                                             \
            if (pf) ta_prefetch_ahead(x + i, 32 * sizeof(T));                                      \
            __m512 w0 = load16(x + i), w1 = load16(x + i + 16);                                    \
            for (int c = 0; c < nc; c++) {                                                         \
                const float *y = (const float *)(a + (size_t)c * as) + i;                          \
                s0[c] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(y), s0[c]);                            \
                s1[c] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(y + 16), s1[c]);                       \
            }                                                                                      \
        }                                                                                          \
        for (; i < n; i += 16) {                                                                   \
            __mmask16 m = first16(n - i < 16 ? n - i : 16);                                        \
            __m512 w0 = loadm(x + i, m);                                                           \
            for (int c = 0; c < nc; c++) {                                                         \
                const float *y = (const float *)(a + (size_t)c * as) + i;                          \
                s0[c] = _mm512_fmadd_ps(w0, _mm512_maskz_loadu_ps(m, y), s0[c]);                   \
            }                                                                                      \
        }                                                                                          \
        for (int c = 0; c < nc; c++)                                                               \
            out[c] = ta_hsum512_ps(_mm512_add_ps(s0[c], s1[c]));                                   \
    }

FLOAT_BODY(f16_body, ta_f16, load16_f16, loadm_f16, dot1_f16, 0)
FLOAT_BODY(f32_body, float, load16_f32, loadm_f32, dot1_f32, 0)
FLOAT_BODY(bf16_body, ta_bf16, load16_bf16, loadm_bf16, dot1_bf16, 1)
TA_AVX2_GEMM(gemm_f16_f32, f16_body)
TA_AVX2_GEMM(gemm_f32, f32_body)
TA_AVX2_GEMM(gemm_bf16, bf16_body)

/* ---- F16 weights against F16 activations ---- */

/* nr <= 4 rows by nc <= 4 columns, 16 accumulators: each step converts nr + nc vectors
 * for nr * nc FMAs. */
TA_INLINE void hh_body(int64_t n, const ta_f16 *w, size_t lw, int nr, const ta_f16 *a, size_t la,
                       int nc, float *out)
{
    __m512 s[4][4];
    for (int r = 0; r < nr; r++)
        for (int c = 0; c < nc; c++)
            s[r][c] = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 y[4];
        for (int c = 0; c < nc; c++)
            y[c] = load16_f16(a + (size_t)c * la + i);
        for (int r = 0; r < nr; r++) {
            __m512 x = load16_f16(w + (size_t)r * lw + i);
            for (int c = 0; c < nc; c++)
                s[r][c] = _mm512_fmadd_ps(x, y[c], s[r][c]);
        }
    }
    if (i < n) {
        __mmask16 m = first16(n - i);
        __m512 y[4];
        for (int c = 0; c < nc; c++)
            y[c] = loadm_f16(a + (size_t)c * la + i, m);
        for (int r = 0; r < nr; r++) {
            __m512 x = loadm_f16(w + (size_t)r * lw + i, m);
            for (int c = 0; c < nc; c++)
                s[r][c] = _mm512_fmadd_ps(x, y[c], s[r][c]);
        }
    }
    for (int r = 0; r < nr; r++)
        for (int c = 0; c < nc; c++)
            out[c * 4 + r] = ta_hsum512_ps(s[r][c]);
}

#define HH_ROWS(NR)                                                                                \
    static void hh_rows##NR(int64_t n, const ta_f16 *w, size_t lw, const uint8_t *a, size_t as,    \
                            int nc, float *out)                                                    \
    {                                                                                              \
        for (; nc >= 4; nc -= 4, a += 4 * as, out += 16)                                           \
            hh_body(n, w, lw, NR, (const ta_f16 *)a, as / 2, 4, out);                              \
        switch (nc) {                                                                              \
        case 3: hh_body(n, w, lw, NR, (const ta_f16 *)a, as / 2, 3, out); break;                   \
        case 2: hh_body(n, w, lw, NR, (const ta_f16 *)a, as / 2, 2, out); break;                   \
        case 1: hh_body(n, w, lw, NR, (const ta_f16 *)a, as / 2, 1, out); break;                   \
        default: break;                                                                            \
        }                                                                                          \
    }

HH_ROWS(1)
HH_ROWS(2)
HH_ROWS(3)
HH_ROWS(4)

TA_HH_GEMMS()

/* ---- Q8_0 and Q4_0 against Q8_0 activations, two blocks a vector ---- */

TA_INLINE __m512i load2_q8_0(const ta_block_q8_0 *b0, const ta_block_q8_0 *b1)
{
    return load2x32(b0->qs, b1->qs);
}

/* Two Q4_0 blocks as 64 int8 in element order: each block's 16 bytes go to two 128-bit
 * lanes, the second of which takes the high nibbles. */
TA_INLINE __m512i load2_q4_0(const ta_block_q4_0 *b0, const ta_block_q4_0 *b1)
{
    __m512i t = _mm512_inserti64x4(
        _mm512_castsi256_si512(
            _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)b0->qs))),
        _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)b1->qs)), 1);
    t = _mm512_mask_blend_epi64(0xcc, t, _mm512_srli_epi16(t, 4));
    return _mm512_sub_epi8(_mm512_and_si512(t, _mm512_set1_epi8(0x0f)), _mm512_set1_epi8(8));
}

/* Blocks ib and ib + 1 of the row in the two halves, |q| against the activations with
 * q's signs; an odd last block is loaded twice and its copy scaled by 0. */
#define Q8_0_BODY(name, block_t, load2)                                                            \
    TA_INLINE void name(int64_t n, const void *w, const uint8_t *a, size_t as, int nc, float *out) \
    {                                                                                              \
        const block_t *x = w;                                                                      \
        const int64_t nb = n / TA_QK;                                                              \
        __m512 acc[4];                                                                             \
        for (int c = 0; c < nc; c++)                                                               \
            acc[c] = _mm512_setzero_ps();                                                          \
        for (int64_t ib = 0; ib < nb; ib += 2) {                                                   \
            const int64_t ib1 = ib + 1 < nb ? ib + 1 : ib;                                         \
            __m512i q = load2(&x[ib], &x[ib1]);                                                    \
            __m512i aq = _mm512_abs_epi8(q);                                                       \
            __mmask64 neg = _mm512_movepi8_mask(q);                                                \
            float d0 = ta_h2f(x[ib].d), d1 = ib1 != ib ? ta_h2f(x[ib1].d) : 0.0f;                  \
            for (int c = 0; c < nc; c++) {                                                         \
                const ta_block_q8_0 *y = (const ta_block_q8_0 *)(a + (size_t)c * as);              \
                __m512i s = dot_us(_mm512_setzero_si512(), aq,                                     \
                                   sign_by(load2x32(y[ib].qs, y[ib1].qs), neg));                   \
                acc[c] = _mm512_fmadd_ps(splat2(d0 * ta_h2f(y[ib].d), d1 * ta_h2f(y[ib1].d)),      \
                                         _mm512_cvtepi32_ps(s), acc[c]);                           \
            }                                                                                      \
        }                                                                                          \
        for (int c = 0; c < nc; c++)                                                               \
            out[c] = ta_hsum512_ps(acc[c]);                                                        \
    }

Q8_0_BODY(q8_0_body, ta_block_q8_0, load2_q8_0)
Q8_0_BODY(q4_0_body, ta_block_q4_0, load2_q4_0)
TA_AVX2_GEMM(gemm_q8_0, q8_0_body)
TA_AVX2_GEMM(gemm_q4_0, q4_0_body)

/* ---- packed 8-row groups (repack.h), two columns a vector ----
 *
 * A group's 32-byte chunk (4 elements of each of the 8 rows) is broadcast to both halves;
 * the two columns' 32 activation bytes sit in the two halves, and word2 broadcasts the
 * matching activation word over each half. Lane r of half h is then row r against column
 * 2j + h, and a pair's 16 results are contiguous in out (out[c * 8 + r]). An odd last
 * column is computed twice and stored once. */

#define TA_AVX512_GEMM8(name, body) TA_AVX2_GEMM_OUT(name, body, 8)

/* The columns of pair j: c0 and c1 (c1 = c0 when nc is odd and j is the last pair). */
#define PAIR_COLS(j, nc, c0, c1)                                                                   \
    const int c0 = 2 * (j), c1 = 2 * (j) + 1 < (nc) ? 2 * (j) + 1 : 2 * (j)

TA_INLINE void store_pair(float *out, int j, int nc, __m512 v)
{
    if (2 * j + 1 < nc)
        _mm512_storeu_ps(out + 16 * j, v);
    else
        _mm256_storeu_ps(out + 16 * j, half_lo(v));
}

/* Q4_0: quants stay unsigned (0..15); the -8 offset is 8 * sum(y). Without VNNI, 8 words
 * of products sum in int16 (8 * 2 * 15 * 127 < 32768). */
TA_INLINE void q4_0x8_body(int64_t n, const void *w, const uint8_t *a, size_t as, int nc,
                           float *out)
{
    const uint8_t *p = w;
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    const int np = (nc + 1) / 2;
    __m512 acc[2];
    for (int j = 0; j < np; j++)
        acc[j] = _mm512_setzero_ps();
    for (int64_t ib = 0; ib < n / TA_QK; ib++, p += 144) {
        ta_prefetch_ahead(p, 144);
        __m512 dx =
            _mm512_cvtph_ps(_mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)p)));
        __m512i lo[4], hi[4];
        for (int l = 0; l < 4; l++) {
            __m512i v = bcast32(p + 16 + 32 * l);
            lo[l] = _mm512_and_si512(v, m4);
            hi[l] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
        }
        for (int j = 0; j < np; j++) {
            PAIR_COLS(j, nc, c0, c1);
            const ta_block_q8_0s *y0 = (const ta_block_q8_0s *)(a + (size_t)c0 * as) + ib;
            const ta_block_q8_0s *y1 = (const ta_block_q8_0s *)(a + (size_t)c1 * as) + ib;
            __m512i y = load2x32(y0->qs, y1->qs);
#if TA_AVX512_VNNI
            __m512i s = _mm512_setzero_si512();
            for (int l = 0; l < 4; l++) {
                s = _mm512_dpbusd_epi32(s, lo[l], word2(y, l));
                s = _mm512_dpbusd_epi32(s, hi[l], word2(y, 4 + l));
            }
#else
            __m512i s16 = _mm512_setzero_si512();
            for (int l = 0; l < 4; l++) {
                s16 = _mm512_add_epi16(s16, _mm512_maddubs_epi16(lo[l], word2(y, l)));
                s16 = _mm512_add_epi16(s16, _mm512_maddubs_epi16(hi[l], word2(y, 4 + l)));
            }
            __m512i s = _mm512_madd_epi16(s16, _mm512_set1_epi16(1));
#endif
            s = _mm512_sub_epi32(s, splat2_epi32(8 * y0->sum, 8 * y1->sum));
            acc[j] = _mm512_fmadd_ps(_mm512_mul_ps(dx, splat2(ta_h2f(y0->d), ta_h2f(y1->d))),
                                     _mm512_cvtepi32_ps(s), acc[j]);
        }
    }
    for (int j = 0; j < np; j++)
        store_pair(out, j, nc, acc[j]);
}

/* Q8_0: signed quants, so |q| against the activations with q's signs. */
TA_INLINE void q8_0x8_body(int64_t n, const void *w, const uint8_t *a, size_t as, int nc,
                           float *out)
{
    const uint8_t *p = w;
    const int np = (nc + 1) / 2;
    __m512 acc[2];
    for (int j = 0; j < np; j++)
        acc[j] = _mm512_setzero_ps();
    for (int64_t ib = 0; ib < n / TA_QK; ib++, p += 272) {
        ta_prefetch_ahead(p, 272);
        __m512 dx =
            _mm512_cvtph_ps(_mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)p)));
        __m512i aq[8];
        __mmask64 neg[8];
        for (int l = 0; l < 8; l++) {
            __m512i q = bcast32(p + 16 + 32 * l);
            aq[l] = _mm512_abs_epi8(q);
            neg[l] = _mm512_movepi8_mask(q);
        }
        for (int j = 0; j < np; j++) {
            PAIR_COLS(j, nc, c0, c1);
            const ta_block_q8_0 *y0 = (const ta_block_q8_0 *)(a + (size_t)c0 * as) + ib;
            const ta_block_q8_0 *y1 = (const ta_block_q8_0 *)(a + (size_t)c1 * as) + ib;
            __m512i y = load2x32(y0->qs, y1->qs);
            __m512i s = _mm512_setzero_si512();
            for (int l = 0; l < 8; l++)
                s = dot_us(s, aq[l], sign_by(word2(y, l), neg[l]));
            acc[j] = _mm512_fmadd_ps(_mm512_mul_ps(dx, splat2(ta_h2f(y0->d), ta_h2f(y1->d))),
                                     _mm512_cvtepi32_ps(s), acc[j]);
        }
    }
    for (int j = 0; j < np; j++)
        store_pair(out, j, nc, acc[j]);
}

/* Q4_K (repack.c's layout, 1184 bytes a super-block: 8 d, 8 dmin, per sub-block pair
 * the 8 rows' scales as bytes, per pair of sub-blocks the mins, then the nibbles).
 * Per sub-block pair cp, 8 words: low nibbles are sub-block 2cp, high 2cp + 1; their sums
 * (int16 without VNNI, as kernels_avx2_k.c; int32 with) times the rows' scales. */
TA_INLINE void q4_Kx8_body(int64_t n, const void *w, const uint8_t *a, size_t as, int nc,
                           float *out)
{
    const uint8_t *p = w;
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    const int np = (nc + 1) / 2;
    __m512 acc[2], accm[2];
    for (int j = 0; j < np; j++)
        acc[j] = accm[j] = _mm512_setzero_ps();
    for (int64_t ib = 0; ib < n / TA_QK_K; ib++, p += 1184) {
        ta_prefetch_ahead(p, 1184);
        __m512 d =
            _mm512_cvtph_ps(_mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)p)));
        __m512 dmin = _mm512_cvtph_ps(
            _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(p + 16))));
        const ta_block_q8_K *y0[2], *y1[2];
        __m512i sumi[2], msum[2];
        for (int j = 0; j < np; j++) {
            PAIR_COLS(j, nc, c0, c1);
            y0[j] = (const ta_block_q8_K *)(a + (size_t)c0 * as) + ib;
            y1[j] = (const ta_block_q8_K *)(a + (size_t)c1 * as) + ib;
            sumi[j] = msum[j] = _mm512_setzero_si512();
            /* sums of the 8 sub-blocks of 32, as 4 words of two int16 each */
            int32_t s0[4], s1[4];
            _mm_storeu_si128((__m128i *)s0,
                             _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)y0[j]->bsums),
                                            _mm_loadu_si128((const __m128i *)(y0[j]->bsums + 8))));
            _mm_storeu_si128((__m128i *)s1,
                             _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)y1[j]->bsums),
                                            _mm_loadu_si128((const __m128i *)(y1[j]->bsums + 8))));
            for (int q = 0; q < 4; q++) {
                __m512i mv = _mm512_broadcast_i64x4(
                    _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(p + 96 + 16 * q))));
                msum[j] = dot_ss16(msum[j], mv, splat2_epi32(s0[q], s1[q]));
            }
        }
        for (int cp = 0; cp < 4; cp++) {
            __m512i v0 = _mm512_broadcast_i64x4(
                _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(p + 32 + 16 * cp))));
            __m512i v1 = _mm512_broadcast_i64x4(
                _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(p + 40 + 16 * cp))));
#if !TA_AVX512_VNNI
            __m512i sc_lo = _mm512_or_si512(v0, _mm512_slli_epi32(v0, 16));
            __m512i sc_hi = _mm512_or_si512(v1, _mm512_slli_epi32(v1, 16));
#endif
            __m512i ylo[2], yhi[2], s_lo[2], s_hi[2];
            for (int j = 0; j < np; j++) {
                ylo[j] = load2x32(y0[j]->qs + 64 * cp, y1[j]->qs + 64 * cp);
                yhi[j] = load2x32(y0[j]->qs + 64 * cp + 32, y1[j]->qs + 64 * cp + 32);
                s_lo[j] = s_hi[j] = _mm512_setzero_si512();
            }
            for (int l = 0; l < 8; l++) {
                __m512i v = bcast32(p + 160 + 32 * (8 * cp + l));
                __m512i lo = _mm512_and_si512(v, m4);
                __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
                for (int j = 0; j < np; j++) {
#if TA_AVX512_VNNI
                    s_lo[j] = _mm512_dpbusd_epi32(s_lo[j], lo, word2(ylo[j], l));
                    s_hi[j] = _mm512_dpbusd_epi32(s_hi[j], hi, word2(yhi[j], l));
#else
                    s_lo[j] = _mm512_add_epi16(s_lo[j], _mm512_maddubs_epi16(lo, word2(ylo[j], l)));
                    s_hi[j] = _mm512_add_epi16(s_hi[j], _mm512_maddubs_epi16(hi, word2(yhi[j], l)));
#endif
                }
            }
            for (int j = 0; j < np; j++) {
#if TA_AVX512_VNNI
                sumi[j] =
                    _mm512_add_epi32(sumi[j], _mm512_add_epi32(_mm512_mullo_epi32(s_lo[j], v0),
                                                               _mm512_mullo_epi32(s_hi[j], v1)));
#else
                sumi[j] =
                    _mm512_add_epi32(sumi[j], _mm512_add_epi32(_mm512_madd_epi16(s_lo[j], sc_lo),
                                                               _mm512_madd_epi16(s_hi[j], sc_hi)));
#endif
            }
        }
        for (int j = 0; j < np; j++) {
            __m512 dy = splat2(y0[j]->d, y1[j]->d);
            acc[j] = _mm512_fmadd_ps(_mm512_mul_ps(d, dy), _mm512_cvtepi32_ps(sumi[j]), acc[j]);
            accm[j] =
                _mm512_fmadd_ps(_mm512_mul_ps(dmin, dy), _mm512_cvtepi32_ps(msum[j]), accm[j]);
        }
    }
    for (int j = 0; j < np; j++)
        store_pair(out, j, nc, _mm512_sub_ps(acc[j], accm[j]));
}

TA_AVX512_GEMM8(gemm8_q4_0, q4_0x8_body)
TA_AVX512_GEMM8(gemm8_q8_0, q8_0x8_body)
TA_AVX512_GEMM8(gemm8_q4_K, q4_Kx8_body)

/* ---- K-quants against Q8_K activations, 64 elements a vector ---- */

#define Q8K_COL(c, ib) ((const ta_block_q8_K *)(a + (size_t)(c)*as) + (ib))

/* The 8 6-bit scales and 8 mins of a Q4_K super-block as bytes: sc[0..7], m[0..7]. */
TA_INLINE void q4k_scales(const uint8_t s[TA_K_SCALE_SIZE], uint8_t sc[8], uint8_t m[8])
{
    for (int j = 0; j < 4; j++) {
        sc[j] = s[j] & 63;
        m[j] = s[j + 4] & 63;
        sc[j + 4] = (uint8_t)((s[j + 8] & 0x0f) | ((s[j] >> 6) << 4));
        m[j + 4] = (uint8_t)((s[j + 8] >> 4) | ((s[j + 4] >> 6) << 4));
    }
}

/* Q4_K: per 64 elements (sub-blocks 2j and 2j + 1), the 32 bytes of nibbles broadcast,
 * the high half shifted to its high nibbles: element order, one activation load. The mins
 * come from the activations' bsums. */
TA_INLINE void q4_K_body(int64_t n, const void *w, const uint8_t *a, size_t as, int nc, float *out)
{
    const ta_block_q4_K *x = w;
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    __m512 acc[4];
    float accm[4];
    for (int c = 0; c < nc; c++) {
        acc[c] = _mm512_setzero_ps();
        accm[c] = 0.0f;
    }
    for (int64_t ib = 0; ib < n / TA_QK_K; ib++) {
        const ta_block_q4_K *b = &x[ib];
        float d = ta_h2f(b->d), dmin = ta_h2f(b->dmin);
        uint8_t sc[8], mn[8];
        q4k_scales(b->scales, sc, mn);
        __m512i sumi[4];
        for (int c = 0; c < nc; c++)
            sumi[c] = _mm512_setzero_si512();
        for (int j = 0; j < 4; j++) {
            __m512i v = bcast32(b->qs + 32 * j);
            __m512i q =
                _mm512_and_si512(_mm512_mask_blend_epi64(0xf0, v, _mm512_srli_epi16(v, 4)), m4);
            __m512i scv = _mm512_mask_blend_epi32(0xff00, _mm512_set1_epi16(sc[2 * j]),
                                                  _mm512_set1_epi16(sc[2 * j + 1]));
            for (int c = 0; c < nc; c++) {
                __m512i y = _mm512_loadu_si512(Q8K_COL(c, ib)->qs + 64 * j);
                sumi[c] = dot_ss16(sumi[c], _mm512_maddubs_epi16(q, y), scv);
            }
        }
        __m128i mins16 = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)mn));
        for (int c = 0; c < nc; c++) {
            const ta_block_q8_K *y = Q8K_COL(c, ib);
            acc[c] = _mm512_fmadd_ps(_mm512_set1_ps(d * y->d), _mm512_cvtepi32_ps(sumi[c]), acc[c]);
            /* sum_j m[j] * (bsums[2j] + bsums[2j + 1]) */
            __m128i bs = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)y->bsums),
                                        _mm_loadu_si128((const __m128i *)(y->bsums + 8)));
            __m128i pm = _mm_madd_epi16(bs, mins16);
            pm = _mm_add_epi32(pm, _mm_shuffle_epi32(pm, 0x4e));
            pm = _mm_add_epi32(pm, _mm_shuffle_epi32(pm, 0xb1));
            accm[c] += dmin * y->d * (float)_mm_cvtsi128_si32(pm);
        }
    }
    for (int c = 0; c < nc; c++)
        out[c] = ta_hsum512_ps(acc[c]) - accm[c];
}

/* Q6_K: per 128-element half h, the 64 low-bit bytes and 32 high-bit bytes make two
 * vectors of 64 elements in element order (the high-bit bytes, shifted by 2 in the upper
 * half, give both halves their bits); each 128-bit lane is one 16-element sub-block, so a
 * madd by the lane's scale sums it. The -32 offset is 32 * sum_j sc[j] * bsums[j]. */
TA_INLINE void q6_K_body(int64_t n, const void *w, const uint8_t *a, size_t as, int nc, float *out)
{
    const ta_block_q6_K *x = w;
    const __m512i lo4 = _mm512_set1_epi8(0x0f), three = _mm512_set1_epi8(3);
    /* int16 lane e of a 512-bit vector belongs to 128-bit lane e / 8 */
    const __m512i lane = _mm512_setr_epi32(
        0, 0, 0, 0, 0x00010001, 0x00010001, 0x00010001, 0x00010001, 0x00020002, 0x00020002,
        0x00020002, 0x00020002, 0x00030003, 0x00030003, 0x00030003, 0x00030003);
    __m256 acc[4];
    for (int c = 0; c < nc; c++)
        acc[c] = _mm256_setzero_ps();
    for (int64_t ib = 0; ib < n / TA_QK_K; ib++) {
        const ta_block_q6_K *b = &x[ib];
        ta_prefetch_ahead(b, sizeof *b);
        float d = ta_h2f(b->d);
        __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)b->scales));
        __m512i sc512 = _mm512_castsi256_si512(sc16);
        __m512i sumi[4];
        for (int c = 0; c < nc; c++)
            sumi[c] = _mm512_setzero_si512();
        for (int h = 0; h < 2; h++) {
            __m512i ql = _mm512_loadu_si512(b->ql + 64 * h);
            __m512i qh = bcast32(b->qh + 32 * h);
            qh = _mm512_mask_blend_epi64(0xf0, qh, _mm512_srli_epi16(qh, 2));
            __m512i v[2];
            v[0] = _mm512_or_si512(_mm512_and_si512(ql, lo4),
                                   _mm512_slli_epi16(_mm512_and_si512(qh, three), 4));
            v[1] = _mm512_or_si512(
                _mm512_and_si512(_mm512_srli_epi16(ql, 4), lo4),
                _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(qh, 4), three), 4));
            for (int k = 0; k < 2; k++) {
                __m512i scv = _mm512_permutexvar_epi16(
                    _mm512_add_epi16(lane, _mm512_set1_epi16((short)(8 * h + 4 * k))), sc512);
                for (int c = 0; c < nc; c++) {
                    __m512i y = _mm512_loadu_si512(Q8K_COL(c, ib)->qs + 128 * h + 64 * k);
                    sumi[c] = dot_ss16(sumi[c], _mm512_maddubs_epi16(v[k], y), scv);
                }
            }
        }
        for (int c = 0; c < nc; c++) {
            const ta_block_q8_K *y = Q8K_COL(c, ib);
            __m256i off = _mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)y->bsums));
            __m256i t = _mm256_sub_epi32(sum_halves_epi32(sumi[c]), _mm256_slli_epi32(off, 5));
            acc[c] = _mm256_fmadd_ps(_mm256_set1_ps(d * y->d), _mm256_cvtepi32_ps(t), acc[c]);
        }
    }
    for (int c = 0; c < nc; c++)
        out[c] = ta_hsum_ps(acc[c]);
}

TA_AVX2_GEMM(gemm_q4_K, q4_K_body)
TA_AVX2_GEMM(gemm_q6_K, q6_K_body)

#if TA_AVX512_BF16
/* ---- BF16 weights against BF16 activations (AVX512_BF16), for prompts ----
 *
 * vdpbf16ps multiplies 32 bfloat16 pairs and adds each two neighbouring products into
 * one of 16 float lanes: 32 multiply-adds an instruction where the F32 kernel does 16,
 * and half the activation bytes. The activations are the floats rounded to BF16
 * (quantize_bf16), 8 significant bits, as llama.cpp does for BF16 weights. */

/* The first k of 32 lanes, k <= 32. */
TA_INLINE __mmask32 first32(int64_t k)
{
    return (__mmask32)((1ull << k) - 1);
}

TA_INLINE __m512bh load32_bh(const ta_bf16 *p)
{
    return (__m512bh)_mm512_loadu_si512(p);
}

TA_INLINE __m512bh loadm_bh(const ta_bf16 *p, __mmask32 m)
{
    return (__m512bh)_mm512_maskz_loadu_epi16(m, p);
}

/* One row against nc <= 4 columns: 64 elements a step in two accumulators per column,
 * then up to two masked steps of 32 for the rest (zeros add nothing). */
TA_INLINE void bb_body(int64_t n, const void *w, const uint8_t *a, size_t as, int nc, float *out)
{
    const ta_bf16 *x = w;
    __m512 s0[4], s1[4];
    for (int c = 0; c < nc; c++)
        s0[c] = s1[c] = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        ta_prefetch_ahead(x + i, 128);
        __m512bh w0 = load32_bh(x + i), w1 = load32_bh(x + i + 32);
        for (int c = 0; c < nc; c++) {
            const ta_bf16 *y = (const ta_bf16 *)(a + (size_t)c * as) + i;
            s0[c] = _mm512_dpbf16_ps(s0[c], w0, load32_bh(y));
            s1[c] = _mm512_dpbf16_ps(s1[c], w1, load32_bh(y + 32));
        }
    }
    for (; i < n; i += 32) {
        __mmask32 m = first32(n - i < 32 ? n - i : 32);
        __m512bh w0 = loadm_bh(x + i, m);
        for (int c = 0; c < nc; c++) {
            const ta_bf16 *y = (const ta_bf16 *)(a + (size_t)c * as) + i;
            s0[c] = _mm512_dpbf16_ps(s0[c], w0, loadm_bh(y, m));
        }
    }
    for (int c = 0; c < nc; c++)
        out[c] = ta_hsum512_ps(_mm512_add_ps(s0[c], s1[c]));
}

TA_AVX2_GEMM(gemm_bb, bb_body)

/* Floats to BF16, exactly as ta_f32_to_bf16: the bits plus 0x7fff plus the lowest kept
 * bit, shifted down (round to nearest, ties to even); a NaN keeps its top half with the
 * quiet bit set. (vcvtneps2bf16 would flush subnormals to zero.) */
static void quantize_bf16(const float *x, void *dst, int64_t n)
{
    ta_bf16 *y = dst;
    const __m512i one = _mm512_set1_epi32(1), half = _mm512_set1_epi32(0x7fff);
    const __m512i abs = _mm512_set1_epi32(0x7fffffff), inf = _mm512_set1_epi32(0x7f800000);
    const __m512i quiet = _mm512_set1_epi32(0x40);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512i v = _mm512_castps_si512(_mm512_loadu_ps(x + i));
        __m512i top = _mm512_srli_epi32(v, 16);
        __m512i r = _mm512_srli_epi32(
            _mm512_add_epi32(_mm512_add_epi32(v, half), _mm512_and_si512(top, one)), 16);
        __mmask16 nan = _mm512_cmpgt_epi32_mask(_mm512_and_si512(v, abs), inf);
        r = _mm512_mask_or_epi32(r, nan, top, quiet);
        _mm256_storeu_si256((__m256i *)(y + i), _mm512_cvtepi32_epi16(r));
    }
    for (; i < n; i++)
        y[i] = ta_f32_to_bf16(x[i]);
}
#endif

#if TA_AVX512_BF16
void ta_kernels_avx512bf16_fill(ta_kernels *k)
#elif TA_AVX512_VNNI
void ta_kernels_avx512vnni_fill(ta_kernels *k)
#else
void ta_kernels_avx512_fill(ta_kernels *k)
#endif
{
    k->name = TA_AVX512_BF16 ? "avx512bf16" : TA_AVX512_VNNI ? "avx512vnni" : "avx512";
    k->gemm[TA_TYPE_F32] = gemm_f32;
    k->gemm[TA_TYPE_BF16] = gemm_bf16;
    k->gemm[TA_TYPE_F16] = gemm_f16;
    k->gemm_hh = gemm_hh;
    k->gemm_f16_f32 = gemm_f16_f32;
    k->gemm[TA_TYPE_Q8_0] = gemm_q8_0;
    k->gemm[TA_TYPE_Q4_0] = gemm_q4_0;
    k->gemm8[TA_PACK_Q4_0_X8] = gemm8_q4_0;
    k->gemm8[TA_PACK_Q8_0_X8] = gemm8_q8_0;
    k->gemm8[TA_PACK_Q4_K_X8] = gemm8_q4_K;
    k->gemm[TA_TYPE_Q4_K] = gemm_q4_K;
    k->gemm[TA_TYPE_Q6_K] = gemm_q6_K;
#if TA_AVX512_BF16
    k->gemm_bb = gemm_bb;
    k->quantize[TA_TYPE_BF16] = quantize_bf16;
#endif
}
