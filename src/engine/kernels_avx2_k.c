/*
 * kernels_avx2_k.c - AVX2 kernels for the K-quants Q4_K, Q5_K and Q6_K against Q8_K
 * activations (block layouts in quant_blocks.h). Q2_K and Q3_K are in
 * kernels_avx2_more.c.
 *
 * The integer part of a super-block (weights times activations times sub-block scales)
 * is summed exactly in int32 lanes and converted once per super-block; the mins (Q4_K,
 * Q5_K) and the -32 offset (Q6_K) are applied from the activations' 16-element sums
 * (bsums), without touching the activations again.
 */
#include "kernels_avx2.h"

#define Q8K_COL(c, ib) ((const ta_block_q8_K *)(a + (size_t)(c)*as) + (ib))

/* The 8 6-bit scales and the 8 mins of a Q4_K/Q5_K super-block as bytes, four at a
 * time with 32-bit masks: u[0..1] the scales, u[2..3] the mins. */
TA_INLINE void k4_scales(const uint8_t s[TA_K_SCALE_SIZE], uint32_t u[4])
{
    memcpy(u, s, TA_K_SCALE_SIZE);
    uint32_t mins_lo = u[1] & 0x3f3f3f3f;
    u[3] = ((u[2] >> 4) & 0x0f0f0f0f) | (((u[1] >> 6) & 0x03030303) << 4);
    u[1] = (u[2] & 0x0f0f0f0f) | (((u[0] >> 6) & 0x03030303) << 4);
    u[2] = mins_lo;
    u[0] &= 0x3f3f3f3f;
}

/* sum_j m[j] * (bsums[2j] + bsums[2j+1]): the min term of a Q4_K/Q5_K super-block. */
TA_INLINE int k4_min_sum(const __m128i mins16, const int16_t *bsums)
{
    __m128i b = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)bsums),
                               _mm_loadu_si128((const __m128i *)(bsums + 8)));
    __m128i p = _mm_madd_epi16(b, mins16);
    p = _mm_add_epi32(p, _mm_shuffle_epi32(p, 0x4e));
    p = _mm_add_epi32(p, _mm_shuffle_epi32(p, 0xb1));
    return _mm_cvtsi128_si32(p);
}

/* Q4_K and Q5_K share everything but the fifth bit: qh is NULL for Q4_K. */
TA_INLINE void k45_body(int64_t n, const uint8_t *qs, const uint8_t *qh, const uint8_t *scales,
                        const ta_f16 *dd, size_t stride, const uint8_t *a, size_t as, int nc,
                        float *out)
{
    __m256 acc[4];
    float accm[4];
    for (int c = 0; c < nc; c++) {
        acc[c] = _mm256_setzero_ps();
        accm[c] = 0.0f;
    }
    const __m256i lo4 = _mm256_set1_epi8(0x0f), one = _mm256_set1_epi8(1);
    for (int64_t ib = 0; ib < n / TA_QK_K; ib++) {
        const size_t off = (size_t)ib * stride;
        float d = ta_h2f(dd[off / sizeof(ta_f16)]), dmin = ta_h2f(dd[off / sizeof(ta_f16) + 1]);
        uint32_t u[4];
        k4_scales(scales + off, u);
        /* The 16-bit scales in both halves; a shuffle broadcasts the one a step needs. */
        __m256i sc16 =
            _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)u)));
        __m256i hbits =
            qh ? _mm256_loadu_si256((const __m256i *)(qh + off)) : _mm256_setzero_si256();
        __m256i sumi[4];
        for (int c = 0; c < nc; c++)
            sumi[c] = _mm256_setzero_si256();
        for (int j = 0; j < 4; j++) {
            __m256i bits = _mm256_loadu_si256((const __m256i *)(qs + off + 32 * j));
            __m256i lo = _mm256_and_si256(bits, lo4);
            __m256i hi = _mm256_and_si256(_mm256_srli_epi16(bits, 4), lo4);
            if (qh) {
                lo = _mm256_or_si256(
                    lo,
                    _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, 2 * j), one), 4));
                hi = _mm256_or_si256(
                    hi, _mm256_slli_epi16(
                            _mm256_and_si256(_mm256_srli_epi16(hbits, 2 * j + 1), one), 4));
            }
            __m256i s_lo =
                _mm256_shuffle_epi8(sc16, _mm256_set1_epi16((short)(0x0100 + 0x0404 * j)));
            __m256i s_hi =
                _mm256_shuffle_epi8(sc16, _mm256_set1_epi16((short)(0x0302 + 0x0404 * j)));
            for (int c = 0; c < nc; c++) {
                const int8_t *y = Q8K_COL(c, ib)->qs + 64 * j;
                __m256i p_lo = _mm256_madd_epi16(
                    _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)y)), s_lo);
                __m256i p_hi = _mm256_madd_epi16(
                    _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(y + 32))), s_hi);
                sumi[c] = _mm256_add_epi32(sumi[c], _mm256_add_epi32(p_lo, p_hi));
            }
        }
        __m128i mins16 = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)(u + 2)));
        for (int c = 0; c < nc; c++) {
            const ta_block_q8_K *y = Q8K_COL(c, ib);
            acc[c] = _mm256_fmadd_ps(_mm256_set1_ps(d * y->d), _mm256_cvtepi32_ps(sumi[c]), acc[c]);
            accm[c] += dmin * y->d * (float)k4_min_sum(mins16, y->bsums);
        }
    }
    for (int c = 0; c < nc; c++)
        out[c] = ta_hsum_ps(acc[c]) - accm[c];
}

TA_INLINE void q4_K_body(int64_t n, const void *w, const uint8_t *a, size_t as, int nc, float *out)
{
    const ta_block_q4_K *x = w;
    k45_body(n, x->qs, NULL, x->scales, &x->d, sizeof *x, a, as, nc, out);
}

TA_INLINE void q5_K_body(int64_t n, const void *w, const uint8_t *a, size_t as, int nc, float *out)
{
    const ta_block_q5_K *x = w;
    k45_body(n, x->qs, x->qh, x->scales, &x->d, sizeof *x, a, as, nc, out);
}

TA_AVX2_GEMM(gemm_q4_K, q4_K_body)
TA_AVX2_GEMM(gemm_q5_K, q5_K_body)

/* ---- Q6_K ---- */

TA_INLINE void q6_K_body(int64_t n, const void *w, const uint8_t *a, size_t as, int nc, float *out)
{
    const ta_block_q6_K *x = w;
    __m256 acc[4];
    for (int c = 0; c < nc; c++)
        acc[c] = _mm256_setzero_ps();
    const __m256i lo4 = _mm256_set1_epi8(0x0f), three = _mm256_set1_epi8(3);
    for (int64_t ib = 0; ib < n / TA_QK_K; ib++) {
        const ta_block_q6_K *b = &x[ib];
        ta_prefetch_ahead(b, sizeof *b);
        float d = ta_h2f(b->d);
        __m256i sumi[4];
        for (int c = 0; c < nc; c++)
            sumi[c] = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            __m256i ql0 = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h));
            __m256i ql1 = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h + 32));
            __m256i qh = _mm256_loadu_si256((const __m256i *)(b->qh + 32 * h));
            for (int k = 0; k < 4; k++) {
                __m256i lowb = k & 1 ? ql1 : ql0;
                if (k >= 2) lowb = _mm256_srli_epi16(lowb, 4);
                __m256i top = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * k), three);
                __m256i q = _mm256_or_si256(_mm256_and_si256(lowb, lo4), _mm256_slli_epi16(top, 4));
                int s = 8 * h + 2 * k; /* sub-blocks of 16: s for l < 16, s + 1 above */
                __m256i scv = _mm256_set_m128i(_mm_set1_epi16(b->scales[s + 1]),
                                               _mm_set1_epi16(b->scales[s]));
                for (int c = 0; c < nc; c++) {
                    const int8_t *y = Q8K_COL(c, ib)->qs + 128 * h + 32 * k;
                    __m256i p = _mm256_madd_epi16(
                        _mm256_maddubs_epi16(q, _mm256_loadu_si256((const __m256i *)y)), scv);
                    sumi[c] = _mm256_add_epi32(sumi[c], p);
                }
            }
        }
        /* The -32 offset: 32 * sum_j scales[j] * bsums[j]. */
        __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)b->scales));
        for (int c = 0; c < nc; c++) {
            const ta_block_q8_K *y = Q8K_COL(c, ib);
            __m256i off = _mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)y->bsums));
            __m256i t = _mm256_sub_epi32(sumi[c], _mm256_slli_epi32(off, 5));
            acc[c] = _mm256_fmadd_ps(_mm256_set1_ps(d * y->d), _mm256_cvtepi32_ps(t), acc[c]);
        }
    }
    for (int c = 0; c < nc; c++)
        out[c] = ta_hsum_ps(acc[c]);
}

TA_AVX2_GEMM(gemm_q6_K, q6_K_body)

/* ---- Q4_K packed 8 rows at a time (repack.c) ----
 *
 * Lane r is row r. Per sub-block pair c and word L, one load holds 4 elements of each
 * row (low nibbles: sub-block 2c, high: 2c + 1); a broadcast activation word times it
 * by maddubs, 8 words summed in int16 (8 * 2 * 15 * 127 < 32768), then one madd by the
 * lanes' scales. The mins come from the activations' sums, 2 sub-blocks per madd. Two
 * columns at a time keep the int16 sums in registers. */
TA_INLINE void q4_Kx8_body(int64_t n, const void *w, const uint8_t *a, size_t as, int nc,
                           float *out)
{
    const uint8_t *p = w;
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    __m256 acc[2], accm[2];
    for (int c = 0; c < nc; c++)
        acc[c] = accm[c] = _mm256_setzero_ps();
    for (int64_t ib = 0; ib < n / TA_QK_K; ib++, p += 1184) {
        ta_prefetch_ahead(p, 1184);
        __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
        __m256 dmin = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 16)));
        const ta_block_q8_K *y[2];
        __m256i sumi[2], msum[2];
        for (int c = 0; c < nc; c++) {
            y[c] = Q8K_COL(c, ib);
            sumi[c] = _mm256_setzero_si256();
            /* sums of the 8 sub-blocks of 32, as 4 int32 words of two int16 each */
            int32_t S[4];
            _mm_storeu_si128((__m128i *)S,
                             _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)y[c]->bsums),
                                            _mm_loadu_si128((const __m128i *)(y[c]->bsums + 8))));
            msum[c] = _mm256_setzero_si256();
            for (int q = 0; q < 4; q++) {
                __m256i mv =
                    _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(p + 96 + 16 * q)));
                msum[c] = _mm256_add_epi32(msum[c], _mm256_madd_epi16(mv, _mm256_set1_epi32(S[q])));
            }
        }
        for (int cp = 0; cp < 4; cp++) {
            __m256i v0 = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(p + 32 + 16 * cp)));
            __m256i v1 = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(p + 40 + 16 * cp)));
            __m256i sc_lo = _mm256_or_si256(v0, _mm256_slli_epi32(v0, 16));
            __m256i sc_hi = _mm256_or_si256(v1, _mm256_slli_epi32(v1, 16));
            __m256i s_lo[2], s_hi[2];
            for (int c = 0; c < nc; c++)
                s_lo[c] = s_hi[c] = _mm256_setzero_si256();
            for (int l = 0; l < 8; l++) {
                __m256i v = _mm256_loadu_si256((const __m256i *)(p + 160 + 32 * (8 * cp + l)));
                __m256i lo = _mm256_and_si256(v, m4);
                __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
                for (int c = 0; c < nc; c++) {
                    int32_t wl, wh;
                    memcpy(&wl, y[c]->qs + 64 * cp + 4 * l, 4);
                    memcpy(&wh, y[c]->qs + 64 * cp + 32 + 4 * l, 4);
                    s_lo[c] =
                        _mm256_add_epi16(s_lo[c], _mm256_maddubs_epi16(lo, _mm256_set1_epi32(wl)));
                    s_hi[c] =
                        _mm256_add_epi16(s_hi[c], _mm256_maddubs_epi16(hi, _mm256_set1_epi32(wh)));
                }
            }
            for (int c = 0; c < nc; c++)
                sumi[c] =
                    _mm256_add_epi32(sumi[c], _mm256_add_epi32(_mm256_madd_epi16(s_lo[c], sc_lo),
                                                               _mm256_madd_epi16(s_hi[c], sc_hi)));
        }
        for (int c = 0; c < nc; c++) {
            __m256 dy = _mm256_set1_ps(y[c]->d);
            acc[c] = _mm256_fmadd_ps(_mm256_mul_ps(d, dy), _mm256_cvtepi32_ps(sumi[c]), acc[c]);
            accm[c] =
                _mm256_fmadd_ps(_mm256_mul_ps(dmin, dy), _mm256_cvtepi32_ps(msum[c]), accm[c]);
        }
    }
    for (int c = 0; c < nc; c++)
        _mm256_storeu_ps(out + 8 * c, _mm256_sub_ps(acc[c], accm[c]));
}

static void gemm8_q4_K(int64_t n, const void *w, const void *a, size_t as, int nc, float *out)
{
    const uint8_t *ap = a;
    for (; nc >= 2; nc -= 2, ap += 2 * as, out += 16)
        q4_Kx8_body(n, w, ap, as, 2, out);
    if (nc) q4_Kx8_body(n, w, ap, as, 1, out);
}

void ta_kernels_avx2_fill_k(ta_kernels *k)
{
    k->gemm8[TA_PACK_Q4_K_X8] = gemm8_q4_K;
    k->gemm[TA_TYPE_Q4_K] = gemm_q4_K;
    k->gemm[TA_TYPE_Q5_K] = gemm_q5_K;
    k->gemm[TA_TYPE_Q6_K] = gemm_q6_K;
}
