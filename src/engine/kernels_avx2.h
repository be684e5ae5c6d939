/*
 * kernels_avx2.h - helpers shared by the AVX2 kernel files (included only by files
 * compiled with -mavx2 -mfma -mf16c).
 *
 * Each gemm kernel is written once as an always-inline body taking the column count,
 * and TA_AVX2_GEMM instantiates it for 1..4 columns, so the per-column loops unroll
 * into registers; wider calls are taken four columns at a time.
 */
#ifndef TA_ENGINE_KERNELS_AVX2_H
#define TA_ENGINE_KERNELS_AVX2_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "kernels_impl.h"
#include "quant_blocks.h"

#define TA_INLINE static inline __attribute__((always_inline))

/* Keeps v in a register: compilers otherwise fold a load used twice into both users,
 * loading it twice, which makes load-bound kernels slower. */
#define TA_IN_REGISTER(v) __asm__("" : "+x"(v))

/* The 8 floats of v added together. */
/* Decoding streams every weight from DRAM once per token. The hardware prefetchers
 * stop at each 4 KiB page and restart at every tile a thread claims, so the kernels
 * that read weights also ask for the bytes TA_PREFETCH_AHEAD ahead of where they read:
 * more misses in flight, a higher share of the memory bandwidth (bench/README). A
 * prefetch past the end of the weights is harmless (it cannot fault). */
#ifndef TA_PREFETCH_AHEAD
#define TA_PREFETCH_AHEAD 2048
#endif

/* Prefetches the cache lines of [p + TA_PREFETCH_AHEAD, + bytes). */
TA_INLINE void ta_prefetch_ahead(const void *p, size_t bytes)
{
#if TA_PREFETCH_AHEAD > 0
    for (size_t o = 0; o < bytes; o += 64)
        _mm_prefetch((const char *)p + TA_PREFETCH_AHEAD + o, _MM_HINT_T0);
#else
    (void)p;
    (void)bytes;
#endif
}

TA_INLINE float ta_hsum_ps(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* The 8 int32 of v added together. */
TA_INLINE int ta_hsum_epi32(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

TA_INLINE float ta_h2f(ta_f16 h)
{
    return _cvtsh_ss(h);
}

/* 16 bytes of nibbles -> 32 bytes 0..15: low nibbles first, then high nibbles. */
TA_INLINE __m256i ta_unpack_nibbles(const uint8_t *qs)
{
    __m128i t = _mm_loadu_si128((const __m128i *)qs);
    __m256i b = _mm256_set_m128i(_mm_srli_epi16(t, 4), t);
    return _mm256_and_si256(b, _mm256_set1_epi8(0x0f));
}

/* Pairwise int8 products of x (-128..127 after taking |x|) and y (-127..127), summed
 * into 8 int32: ax = |x| precomputed once per weight block, shared across columns. */
TA_INLINE __m256i ta_dot_i8(__m256i ax, __m256i x, __m256i y)
{
    __m256i p = _mm256_maddubs_epi16(ax, _mm256_sign_epi8(y, x));
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

/* Unsigned 0..127 weights u against int8 y: 8 int32 sums of 4 products each. */
TA_INLINE __m256i ta_dot_u8(__m256i u, __m256i y)
{
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, y), _mm256_set1_epi16(1));
}

/* The sums of the 8 int32 lanes of a, b, c and d, as 4 int32 in that order. */
TA_INLINE __m128i ta_reduce4_epi32(__m256i a, __m256i b, __m256i c, __m256i d)
{
    __m256i abcd = _mm256_hadd_epi32(_mm256_hadd_epi32(a, b), _mm256_hadd_epi32(c, d));
    return _mm_add_epi32(_mm256_castsi256_si128(abcd), _mm256_extracti128_si256(abcd, 1));
}

/* The same for float lanes. */
TA_INLINE __m128 ta_reduce4_ps(__m256 a, __m256 b, __m256 c, __m256 d)
{
    __m256 abcd = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
    return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

/* Four F16 scales, one per row, as floats. */
TA_INLINE __m128 ta_h2f4(const ta_f16 *p, size_t stride_bytes)
{
    const uint8_t *b = (const uint8_t *)p;
    __m128i h =
        _mm_setr_epi16((short)*(const ta_f16 *)b, (short)*(const ta_f16 *)(b + stride_bytes),
                       (short)*(const ta_f16 *)(b + 2 * stride_bytes),
                       (short)*(const ta_f16 *)(b + 3 * stride_bytes), 0, 0, 0, 0);
    return _mm_cvtph_ps(h);
}

/* Four rows, one column: each row's block sum stays an int32 vector until the four are
 * reduced together, then one conversion and one FMA serve all four rows. */
#define TA_AVX2_GEMV4_Q8_0(name, block_t, load_q)                                                  \
    static void name(int64_t n, const void *w, size_t lw, const void *a, float *out)               \
    {                                                                                              \
        const block_t *x[4];                                                                       \
        for (int r = 0; r < 4; r++)                                                                \
            x[r] = (const block_t *)((const uint8_t *)w + (size_t)r * lw);                         \
        const ta_block_q8_0 *y = a;                                                                \
        __m128 acc = _mm_setzero_ps();                                                             \
        for (int64_t ib = 0; ib < n / TA_QK; ib++) {                                               \
            __m256i yq = _mm256_loadu_si256((const __m256i *)y[ib].qs);                            \
            __m256i s[4];                                                                          \
            for (int r = 0; r < 4; r++) {                                                          \
                __m256i q = load_q(&x[r][ib]);                                                     \
                s[r] = ta_dot_i8(_mm256_sign_epi8(q, q), q, yq);                                   \
            }                                                                                      \
            __m128 d = _mm_mul_ps(ta_h2f4(&x[0][ib].d, lw), _mm_set1_ps(ta_h2f(y[ib].d)));         \
            acc = _mm_fmadd_ps(d, _mm_cvtepi32_ps(ta_reduce4_epi32(s[0], s[1], s[2], s[3])), acc); \
        }                                                                                          \
        _mm_storeu_ps(out, acc);                                                                   \
    }

/* The gemm body of a 32-element type whose blocks load_q turns into 32 signed int8
 * (|q| <= 128), against Q8_0 columns: the sign trick, one float conversion per block. */
#define TA_AVX2_Q8_0_BODY(name, block_t, load_q)                                                   \
    TA_INLINE void name(int64_t n, const void *w, const uint8_t *a, size_t as, int nc, float *out) \
    {                                                                                              \
        const block_t *x = w;                                                                      \
        __m256 acc[4];                                                                             \
        for (int c = 0; c < nc; c++)                                                               \
            acc[c] = _mm256_setzero_ps();                                                          \
        for (int64_t ib = 0; ib < n / TA_QK; ib++) {                                               \
            __m256i q = load_q(&x[ib]);                                                            \
            __m256i aq = _mm256_sign_epi8(q, q);                                                   \
            float dx = ta_h2f(x[ib].d);                                                            \
            for (int c = 0; c < nc; c++) {                                                         \
                const ta_block_q8_0 *y = (const ta_block_q8_0 *)(a + (size_t)c * as) + ib;         \
                __m256i s = ta_dot_i8(aq, q, _mm256_loadu_si256((const __m256i *)y->qs));          \
                acc[c] = _mm256_fmadd_ps(_mm256_set1_ps(dx * ta_h2f(y->d)), _mm256_cvtepi32_ps(s), \
                                         acc[c]);                                                  \
            }                                                                                      \
        }                                                                                          \
        for (int c = 0; c < nc; c++)                                                               \
            out[c] = ta_hsum_ps(acc[c]);                                                           \
    }

/* A gemm from a body of up to 4 columns, whose results take out_per_col floats per
 * column (1 for a row, 8 for a packed group of rows). */
#define TA_AVX2_GEMM_OUT(name, body, out_per_col)                                                  \
    static void name(int64_t n, const void *w, const void *a, size_t as, int nc, float *out)       \
    {                                                                                              \
        const uint8_t *ap = a;                                                                     \
        for (; nc >= 4; nc -= 4, ap += 4 * as, out += 4 * (out_per_col))                           \
            body(n, w, ap, as, 4, out);                                                            \
        switch (nc) {                                                                              \
        case 3: body(n, w, ap, as, 3, out); break;                                                 \
        case 2: body(n, w, ap, as, 2, out); break;                                                 \
        case 1: body(n, w, ap, as, 1, out); break;                                                 \
        default: break;                                                                            \
        }                                                                                          \
    }

#define TA_AVX2_GEMM(name, body) TA_AVX2_GEMM_OUT(name, body, 1)

/* gemm_hh and gemm_f16 of a kernel file, over its F16 row tiles hh_rows1..hh_rows4 (each
 * computing 1-4 weight rows against up to 4 columns, 4 outputs a column) and its dot1_hh
 * (one F16 row against one F16 column, for decoding). */
#define TA_HH_GEMMS()                                                                              \
    static void gemm_hh(int64_t n, const void *w, size_t w_stride, int nr, const void *a,          \
                        size_t a_stride, int nc, float *out)                                       \
    {                                                                                              \
        static void (*const rows[4])(int64_t, const ta_f16 *, size_t, const uint8_t *, size_t,     \
                                     int, float *) = {hh_rows1, hh_rows2, hh_rows3, hh_rows4};     \
        rows[nr - 1](n, w, w_stride / 2, a, a_stride, nc, out);                                    \
    }                                                                                              \
                                                                                                   \
    /* One row: one column (decoding) by the file's dot1_hh, more by the 1-row tile. */            \
    static void gemm_f16(int64_t n, const void *w, const void *a, size_t as, int nc, float *out)   \
    {                                                                                              \
        if (nc == 1) {                                                                             \
            out[0] = dot1_hh(n, w, a);                                                             \
            return;                                                                                \
        }                                                                                          \
        float o[4 * TA_GEMM_MAX_COLS];                                                             \
        hh_rows1(n, w, 0, a, as, nc, o);                                                           \
        for (int c = 0; c < nc; c++)                                                               \
            out[c] = o[4 * c];                                                                     \
    }

#endif
