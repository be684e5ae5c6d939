/*
 * kernels_avx2_more.c - AVX2 kernels for the less common types: Q4_1, Q5_0, Q5_1 (against
 * Q8_0 activations), Q2_K, Q3_K (against Q8_K) and BF16 (against F32).
 *
 * Same scheme as kernels_avx2.c and kernels_avx2_k.c: each weight block is unpacked once
 * into registers and used for every column; integer sums stay exact in int32 lanes and
 * are converted to float once per block (super-block for the K-quants). Offsets and
 * mins are applied from the activations' sums: for Q4_1/Q5_1 a sum of the Q8_0 block
 * (Q8_0 has no stored sums), for Q2_K/Q3_K the Q8_K bsums.
 */
#include "kernels_avx2.h"

/* ---- BF16 weights against F32 activations ---- */

/* 8 bfloat16 -> 8 floats: the bits are the top half of an IEEE single. */
TA_INLINE __m256 load8_bf16(const ta_bf16 *p)
{
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

/* One column: four accumulators keep the FMA units busy. */
TA_INLINE float dot1_bf16(int64_t n, const ta_bf16 *x, const float *y)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(load8_bf16(x + i), _mm256_loadu_ps(y + i), s0);
        s1 = _mm256_fmadd_ps(load8_bf16(x + i + 8), _mm256_loadu_ps(y + i + 8), s1);
        s2 = _mm256_fmadd_ps(load8_bf16(x + i + 16), _mm256_loadu_ps(y + i + 16), s2);
        s3 = _mm256_fmadd_ps(load8_bf16(x + i + 24), _mm256_loadu_ps(y + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(load8_bf16(x + i), _mm256_loadu_ps(y + i), s0);
    float s = ta_hsum_ps(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; i++)
        s += ta_bf16_to_f32(x[i]) * y[i];
    return s;
}

/* Several columns: each weight vector is converted once and used nc times; two
 * accumulators per column. */
TA_INLINE void bf16_body(int64_t n, const void *w, const uint8_t *a, size_t as, int nc, float *out)
{
    const ta_bf16 *x = w;
    if (nc == 1) {
        out[0] = dot1_bf16(n, x, (const float *)a);
        return;
    }
    __m256 s0[4], s1[4];
    for (int c = 0; c < nc; c++)
        s0[c] = s1[c] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 w0 = load8_bf16(x + i), w1 = load8_bf16(x + i + 8);
        for (int c = 0; c < nc; c++) {
            const float *y = (const float *)(a + (size_t)c * as) + i;
            s0[c] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(y), s0[c]);
            s1[c] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(y + 8), s1[c]);
        }
    }
    for (int c = 0; c < nc; c++) {
        const float *y = (const float *)(a + (size_t)c * as);
        float s = ta_hsum_ps(_mm256_add_ps(s0[c], s1[c]));
        for (int64_t j = i; j < n; j++)
            s += ta_bf16_to_f32(x[j]) * y[j];
        out[c] = s;
    }
}

TA_AVX2_GEMM(gemm_bf16, bf16_body)

/* ---- Q4_1, Q5_0, Q5_1 against Q8_0 activations ---- */

#define Q8_COL(c, ib) ((const ta_block_q8_0 *)(a + (size_t)(c)*as) + (ib))

/* The 32 bits of qh (little-endian) -> 32 bytes in element order, 0xff where the bit
 * is set and 0 where it is clear. */
TA_INLINE __m256i bits_to_bytes(const uint8_t qh[4])
{
    uint32_t h;
    memcpy(&h, qh, sizeof h);
    const __m256i shuf = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
                                           0x0101010101010101, 0x0000000000000000);
    __m256i b = _mm256_shuffle_epi8(_mm256_set1_epi32((int)h), shuf);
    b = _mm256_or_si256(b, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));
    return _mm256_cmpeq_epi8(b, _mm256_set1_epi64x(-1));
}

/* Q4_1 and Q5_1: x = d * q + m with q unsigned (0..15, 0..31), so the products go
 * straight into maddubs (at most 2 * 31 * 127 per pair); the m term needs the sum of
 * the activations, taken with a second maddubs against ones. qh is NULL for Q4_1. */
TA_INLINE void affine_body(int64_t n, const ta_f16 *dm, const uint8_t *qh, const uint8_t *qs,
                           size_t stride, const uint8_t *a, size_t as, int nc, float *out)
{
    __m256 acc[4];
    for (int c = 0; c < nc; c++)
        acc[c] = _mm256_setzero_ps();
    const __m256i ones = _mm256_set1_epi8(1), bit4 = _mm256_set1_epi8(0x10);
    for (int64_t ib = 0; ib < n / TA_QK; ib++) {
        const size_t off = (size_t)ib * stride;
        const ta_f16 *bd = (const ta_f16 *)((const uint8_t *)dm + off);
        __m256i q = ta_unpack_nibbles(qs + off);
        if (qh) q = _mm256_or_si256(q, _mm256_and_si256(bits_to_bytes(qh + off), bit4));
        float dx = ta_h2f(bd[0]), mx = ta_h2f(bd[1]);
        for (int c = 0; c < nc; c++) {
            const ta_block_q8_0 *y = Q8_COL(c, ib);
            __m256i yv = _mm256_loadu_si256((const __m256i *)y->qs);
            float dy = ta_h2f(y->d);
            __m256i s = ta_dot_u8(q, yv), ys = ta_dot_u8(ones, yv);
            /* both terms first, so the accumulator's chain is one add per block */
            __m256 t =
                _mm256_fmadd_ps(_mm256_set1_ps(mx * dy), _mm256_cvtepi32_ps(ys),
                                _mm256_mul_ps(_mm256_set1_ps(dx * dy), _mm256_cvtepi32_ps(s)));
            acc[c] = _mm256_add_ps(acc[c], t);
        }
    }
    for (int c = 0; c < nc; c++)
        out[c] = ta_hsum_ps(acc[c]);
}

TA_INLINE void q4_1_body(int64_t n, const void *w, const uint8_t *a, size_t as, int nc, float *out)
{
    const ta_block_q4_1 *x = w;
    affine_body(n, &x->d, NULL, x->qs, sizeof *x, a, as, nc, out);
}

TA_INLINE void q5_1_body(int64_t n, const void *w, const uint8_t *a, size_t as, int nc, float *out)
{
    const ta_block_q5_1 *x = w;
    affine_body(n, &x->d, x->qh, x->qs, sizeof *x, a, as, nc, out);
}

/* Q5_0: q - 16 in -16..15 is the nibble with 0xf0 or-ed in where the fifth bit is
 * clear; then as Q4_0. */
TA_INLINE __m256i load_q5_0(const ta_block_q5_0 *b)
{
    __m256i hi = _mm256_andnot_si256(bits_to_bytes(b->qh), _mm256_set1_epi8((char)0xf0));
    return _mm256_or_si256(ta_unpack_nibbles(b->qs), hi);
}

TA_AVX2_Q8_0_BODY(q5_0_body, ta_block_q5_0, load_q5_0)

TA_AVX2_GEMM(gemm_q4_1, q4_1_body)
TA_AVX2_GEMM(gemm_q5_0, q5_0_body)
TA_AVX2_GEMM(gemm_q5_1, q5_1_body)

/* ---- Q2_K and Q3_K against Q8_K activations ---- */

#define Q8K_COL(c, ib) ((const ta_block_q8_K *)(a + (size_t)(c)*as) + (ib))

/* Both pack their low 2 bits in 128-element halves: in half h, the 32 elements
 * 128h + 32k + l (l = 0..31) are bits 2k of the 32 bytes at 32h, so one load gives four
 * 32-element vectors, each two sub-blocks of 16 (scales s = 8h + 2k and s + 1: the low
 * and high 128-bit lane). maddubs of q (0..7) and the activations stays under
 * 2 * 7 * 127 per pair; madd by the lane's sub-block scale sums into int32. */

/* Q2_K: x = d * sc * q - dmin * m; the mins come from the bsums. */
TA_INLINE void q2_K_body(int64_t n, const void *w, const uint8_t *a, size_t as, int nc, float *out)
{
    const ta_block_q2_K *x = w;
    __m256 acc[4], accm[4];
    for (int c = 0; c < nc; c++)
        acc[c] = accm[c] = _mm256_setzero_ps();
    const __m256i three = _mm256_set1_epi8(3);
    for (int64_t ib = 0; ib < n / TA_QK_K; ib++) {
        const ta_block_q2_K *b = &x[ib];
        float d = ta_h2f(b->d), dmin = ta_h2f(b->dmin);
        __m256i sumi[4];
        for (int c = 0; c < nc; c++)
            sumi[c] = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            __m256i bits = _mm256_loadu_si256((const __m256i *)(b->qs + 32 * h));
            for (int k = 0; k < 4; k++) {
                __m256i q = _mm256_and_si256(_mm256_srli_epi16(bits, 2 * k), three);
                int s = 8 * h + 2 * k;
                __m256i scv = _mm256_set_m128i(_mm_set1_epi16(b->scales[s + 1] & 15),
                                               _mm_set1_epi16(b->scales[s] & 15));
                for (int c = 0; c < nc; c++) {
                    const int8_t *y = Q8K_COL(c, ib)->qs + 128 * h + 32 * k;
                    __m256i p = _mm256_madd_epi16(
                        _mm256_maddubs_epi16(q, _mm256_loadu_si256((const __m256i *)y)), scv);
                    sumi[c] = _mm256_add_epi32(sumi[c], p);
                }
            }
        }
        /* sum_j m[j] * bsums[j], in 8 int32 lanes. */
        __m128i sc8 = _mm_loadu_si128((const __m128i *)b->scales);
        __m256i mins16 =
            _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sc8, 4), _mm_set1_epi8(0x0f)));
        for (int c = 0; c < nc; c++) {
            const ta_block_q8_K *y = Q8K_COL(c, ib);
            __m256i ms = _mm256_madd_epi16(mins16, _mm256_loadu_si256((const __m256i *)y->bsums));
            acc[c] = _mm256_fmadd_ps(_mm256_set1_ps(d * y->d), _mm256_cvtepi32_ps(sumi[c]), acc[c]);
            accm[c] = _mm256_fmadd_ps(_mm256_set1_ps(dmin * y->d), _mm256_cvtepi32_ps(ms), accm[c]);
        }
    }
    for (int c = 0; c < nc; c++)
        out[c] = ta_hsum_ps(_mm256_sub_ps(acc[c], accm[c]));
}

/* The 16 6-bit scales of a Q3_K super-block, minus 32, in sub-block order. */
TA_INLINE __m128i q3k_scales(const uint8_t s[12])
{
    uint32_t aux[3], u[4];
    memcpy(aux, s, sizeof aux);
    const uint32_t m2 = 0x03030303u, m4 = 0x0f0f0f0fu;
    u[0] = (aux[0] & m4) | ((aux[2] & m2) << 4);
    u[1] = (aux[1] & m4) | (((aux[2] >> 2) & m2) << 4);
    u[2] = ((aux[0] >> 4) & m4) | (((aux[2] >> 4) & m2) << 4);
    u[3] = ((aux[1] >> 4) & m4) | (((aux[2] >> 6) & m2) << 4);
    return _mm_sub_epi8(_mm_loadu_si128((const __m128i *)u), _mm_set1_epi8(32));
}

/* Q3_K: x = d * sc * (q - 4) with q = low 2 bits | hmask bit << 2 in 0..7; the -4 is
 * applied as 4 * sum_j sc[j] * bsums[j], as Q6_K's -32. */
TA_INLINE void q3_K_body(int64_t n, const void *w, const uint8_t *a, size_t as, int nc, float *out)
{
    const ta_block_q3_K *x = w;
    __m256 acc[4];
    for (int c = 0; c < nc; c++)
        acc[c] = _mm256_setzero_ps();
    const __m256i three = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
    for (int64_t ib = 0; ib < n / TA_QK_K; ib++) {
        const ta_block_q3_K *b = &x[ib];
        float d = ta_h2f(b->d);
        __m128i sc8 = q3k_scales(b->scales);
        int8_t sc[16];
        _mm_storeu_si128((__m128i *)sc, sc8);
        __m256i hmask = _mm256_loadu_si256((const __m256i *)b->hmask);
        __m256i sumi[4];
        for (int c = 0; c < nc; c++)
            sumi[c] = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            __m256i bits = _mm256_loadu_si256((const __m256i *)(b->qs + 32 * h));
            for (int k = 0; k < 4; k++) {
                __m256i lo = _mm256_and_si256(_mm256_srli_epi16(bits, 2 * k), three);
                __m256i hi = _mm256_and_si256(_mm256_srli_epi16(hmask, 4 * h + k), one);
                __m256i q = _mm256_or_si256(lo, _mm256_slli_epi16(hi, 2));
                int s = 8 * h + 2 * k;
                __m256i scv = _mm256_set_m128i(_mm_set1_epi16(sc[s + 1]), _mm_set1_epi16(sc[s]));
                for (int c = 0; c < nc; c++) {
                    const int8_t *y = Q8K_COL(c, ib)->qs + 128 * h + 32 * k;
                    __m256i p = _mm256_madd_epi16(
                        _mm256_maddubs_epi16(q, _mm256_loadu_si256((const __m256i *)y)), scv);
                    sumi[c] = _mm256_add_epi32(sumi[c], p);
                }
            }
        }
        __m256i sc16 = _mm256_cvtepi8_epi16(sc8);
        for (int c = 0; c < nc; c++) {
            const ta_block_q8_K *y = Q8K_COL(c, ib);
            __m256i off = _mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)y->bsums));
            __m256i t = _mm256_sub_epi32(sumi[c], _mm256_slli_epi32(off, 2));
            acc[c] = _mm256_fmadd_ps(_mm256_set1_ps(d * y->d), _mm256_cvtepi32_ps(t), acc[c]);
        }
    }
    for (int c = 0; c < nc; c++)
        out[c] = ta_hsum_ps(acc[c]);
}

TA_AVX2_GEMM(gemm_q2_K, q2_K_body)
TA_AVX2_GEMM(gemm_q3_K, q3_K_body)

void ta_kernels_avx2_fill_more(ta_kernels *k)
{
    k->gemm[TA_TYPE_BF16] = gemm_bf16;
    k->gemm[TA_TYPE_Q4_1] = gemm_q4_1;
    k->gemm[TA_TYPE_Q5_0] = gemm_q5_0;
    k->gemm[TA_TYPE_Q5_1] = gemm_q5_1;
    k->gemm[TA_TYPE_Q2_K] = gemm_q2_K;
    k->gemm[TA_TYPE_Q3_K] = gemm_q3_K;
}
