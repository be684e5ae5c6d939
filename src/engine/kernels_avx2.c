/*
 * kernels_avx2.c - AVX2/FMA/F16C kernels for the float types and the 8-bit and 4-bit
 * 32-element types, the activation quantizers, and the set's table. The K-quants are
 * in kernels_avx2_k.c, the remaining 32-element types in kernels_avx2_more.c.
 *
 * Built with -mavx2 -mfma -mf16c (CMakeLists.txt); kernels.c calls in only after CPUID
 * says the CPU has them.
 */
#include "kernels_avx2.h"

#include <math.h>

#include "quant_internal.h"

/* ---- F32 weights, and F16 keys (attention), against F32 activations ---- */

/* Loads 8 weights as floats. */
TA_INLINE __m256 load8_f16(const ta_f16 *p)
{
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

TA_INLINE __m256 load8_f32(const float *p)
{
    return _mm256_loadu_ps(p);
}

/* One column: four accumulators keep the FMA units busy (latency 4, two per cycle).
 * T: the weights' element type, TY: the activations' (float, or F16 for F16 weights in
 * decoding, where half the activation bytes leave L1 to the streaming weights). */
#define FLOAT_DOT1(name, T, load8, to_f32, TY, load8y, ty_to_f32)                                  \
    TA_INLINE float name(int64_t n, const T *x, const TY *y)                                       \
    {                                                                                              \
        __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;                                \
        int64_t i = 0;                                                                             \
        for (; i + 32 <= n; i += 32) {                                                             \
            ta_prefetch_ahead(x + i, 32 * sizeof(T));                                              \
            s0 = _mm256_fmadd_ps(load8(x + i), load8y(y + i), s0);                                 \
            s1 = _mm256_fmadd_ps(load8(x + i + 8), load8y(y + i + 8), s1);                         \
            s2 = _mm256_fmadd_ps(load8(x + i + 16), load8y(y + i + 16), s2);                       \
            s3 = _mm256_fmadd_ps(load8(x + i + 24), load8y(y + i + 24), s3);                       \
        }                                                                                          \
        for (; i + 8 <= n; i += 8)                                                                 \
            s0 = _mm256_fmadd_ps(load8(x + i), load8y(y + i), s0);                                 \
        float s = ta_hsum_ps(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));         \
        for (; i < n; i++)                                                                         \
            s += to_f32(x[i]) * ty_to_f32(y[i]);                                                   \
        return s;                                                                                  \
    }

TA_INLINE float f32_id(float v)
{
    return v;
}

FLOAT_DOT1(dot1_f16, ta_f16, load8_f16, ta_h2f, float, load8_f32, f32_id)
FLOAT_DOT1(dot1_f32, float, load8_f32, f32_id, float, load8_f32, f32_id)
FLOAT_DOT1(dot1_hh, ta_f16, load8_f16, ta_h2f, ta_f16, load8_f16, ta_h2f)

/* Several columns: each weight vector is converted once and used nc times; two
 * accumulators per column. */
#define FLOAT_BODY(name, T, load8, to_f32, dot1)                                                   \
    TA_INLINE void name(int64_t n, const void *w, const uint8_t *a, size_t as, int nc, float *out) \
    {                                                                                              \
        const T *x = w;                                                                            \
        if (nc == 1) {                                                                             \
            out[0] = dot1(n, x, (const float *)a);                                                 \
            return;                                                                                \
        }                                                                                          \
        __m256 s0[4], s1[4];                                                                       \
        for (int c = 0; c < nc; c++)                                                               \
            s0[c] = s1[c] = _mm256_setzero_ps();                                                   \
        int64_t i = 0;                                                                             \
        for (; i + 16 <= n; i += 16) {                                                             \
            __m256 w0 = load8(x + i), w1 = load8(x + i + 8);                                       \
            for (int c = 0; c < nc; c++) {                                                         \
                const float *y = (const float *)(a + (size_t)c * as) + i;                          \
                s0[c] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(y), s0[c]);                            \
                s1[c] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(y + 8), s1[c]);                        \
            }                                                                                      \
        }                                                                                          \
        for (int c = 0; c < nc; c++) {                                                             \
            const float *y = (const float *)(a + (size_t)c * as);                                  \
            float s = ta_hsum_ps(_mm256_add_ps(s0[c], s1[c]));                                     \
            for (int64_t j = i; j < n; j++)                                                        \
                s += to_f32(x[j]) * y[j];                                                          \
            out[c] = s;                                                                            \
        }                                                                                          \
    }

FLOAT_BODY(f16_body, ta_f16, load8_f16, ta_h2f, dot1_f16)
FLOAT_BODY(f32_body, float, load8_f32, f32_id, dot1_f32)
TA_AVX2_GEMM(gemm_f16_f32, f16_body)
TA_AVX2_GEMM(gemm_f32, f32_body)

/* Two rows by up to six columns: 12 accumulators (latency is hidden with room to
 * spare), each step 2 weight vectors and 6 activation vectors for 12 FMAs. */
#define FLOAT_BODY2(name, T, load8, to_f32)                                                        \
    TA_INLINE void name(int64_t n, const T *x0, const T *x1, const uint8_t *a, size_t as, int nc,  \
                        float *out)                                                                \
    {                                                                                              \
        __m256 s0[6], s1[6];                                                                       \
        for (int c = 0; c < nc; c++)                                                               \
            s0[c] = s1[c] = _mm256_setzero_ps();                                                   \
        int64_t i = 0;                                                                             \
        for (; i + 8 <= n; i += 8) {                                                               \
            __m256 w0 = load8(x0 + i), w1 = load8(x1 + i);                                         \
            for (int c = 0; c < nc; c++) {                                                         \
                __m256 y = _mm256_loadu_ps((const float *)(a + (size_t)c * as) + i);               \
                TA_IN_REGISTER(y);                                                                 \
                s0[c] = _mm256_fmadd_ps(w0, y, s0[c]);                                             \
                s1[c] = _mm256_fmadd_ps(w1, y, s1[c]);                                             \
            }                                                                                      \
        }                                                                                          \
        for (int c = 0; c < nc; c++) {                                                             \
            const float *y = (const float *)(a + (size_t)c * as);                                  \
            float r0 = ta_hsum_ps(s0[c]), r1 = ta_hsum_ps(s1[c]);                                  \
            for (int64_t j = i; j < n; j++) {                                                      \
                r0 += to_f32(x0[j]) * y[j];                                                        \
                r1 += to_f32(x1[j]) * y[j];                                                        \
            }                                                                                      \
            out[2 * c] = r0;                                                                       \
            out[2 * c + 1] = r1;                                                                   \
        }                                                                                          \
    }

FLOAT_BODY2(f32_body2, float, load8_f32, f32_id)

#define FLOAT_GEMM2(name, T, body)                                                                 \
    static void name(int64_t n, const void *w, size_t lw, const void *a, size_t as, int nc,        \
                     float *out)                                                                   \
    {                                                                                              \
        const T *x0 = w, *x1 = (const T *)((const uint8_t *)w + lw);                               \
        const uint8_t *ap = a;                                                                     \
        for (; nc >= 6; nc -= 6, ap += 6 * as, out += 12)                                          \
            body(n, x0, x1, ap, as, 6, out);                                                       \
        switch (nc) {                                                                              \
        case 5: body(n, x0, x1, ap, as, 5, out); break;                                            \
        case 4: body(n, x0, x1, ap, as, 4, out); break;                                            \
        case 3: body(n, x0, x1, ap, as, 3, out); break;                                            \
        case 2: body(n, x0, x1, ap, as, 2, out); break;                                            \
        case 1: body(n, x0, x1, ap, as, 1, out); break;                                            \
        default: break;                                                                            \
        }                                                                                          \
    }

FLOAT_GEMM2(gemm2_f32, float, f32_body2)

/* ---- F16 weights against F16 activations ---- */

/* nr rows by nc columns (compile-time constants once inlined), nr * nc <= 12
 * accumulators: each step converts nr weight and nc activation vectors for nr * nc FMAs.
 * With 4 x 3 that is 7 conversions for 12 FMAs, and 12 columns of 2-byte activations
 * (48 KiB at 2048) reread from L1/L2 at half the bytes of F32 ones: 62-74 -> 89-95
 * GFLOPS on a Zen 3 core for llama-3.2-1b's matrices. */
TA_INLINE void hh_body(int64_t n, const ta_f16 *w, size_t lw, int nr, const ta_f16 *a, size_t la,
                       int nc, float *out)
{
    __m256 s[4][3];
    for (int r = 0; r < nr; r++)
        for (int c = 0; c < nc; c++)
            s[r][c] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 y[3];
        for (int c = 0; c < nc; c++)
            y[c] = load8_f16(a + (size_t)c * la + i);
        for (int r = 0; r < nr; r++) {
            __m256 x = load8_f16(w + (size_t)r * lw + i);
            for (int c = 0; c < nc; c++)
                s[r][c] = _mm256_fmadd_ps(x, y[c], s[r][c]);
        }
    }
    for (int r = 0; r < nr; r++)
        for (int c = 0; c < nc; c++) {
            float v = ta_hsum_ps(s[r][c]);
            for (int64_t j = i; j < n; j++)
                v += ta_h2f(w[(size_t)r * lw + j]) * ta_h2f(a[(size_t)c * la + j]);
            out[c * 4 + r] = v;
        }
}

#define HH_ROWS(NR)                                                                                \
    static void hh_rows##NR(int64_t n, const ta_f16 *w, size_t lw, const uint8_t *a, size_t as,    \
                            int nc, float *out)                                                    \
    {                                                                                              \
        for (; nc >= 3; nc -= 3, a += 3 * as, out += 12)                                           \
            hh_body(n, w, lw, NR, (const ta_f16 *)a, as / 2, 3, out);                              \
        if (nc == 2) hh_body(n, w, lw, NR, (const ta_f16 *)a, as / 2, 2, out);                     \
        if (nc == 1) hh_body(n, w, lw, NR, (const ta_f16 *)a, as / 2, 1, out);                     \
    }

HH_ROWS(1)
HH_ROWS(2)
HH_ROWS(3)
HH_ROWS(4)

TA_HH_GEMMS()

/* ---- Q8_0 and Q4_0 against Q8_0 activations ---- */

#define Q8_COL(c, ib) ((const ta_block_q8_0 *)(a + (size_t)(c)*as) + (ib))

TA_INLINE __m256i load_q8_0(const ta_block_q8_0 *b)
{
    return _mm256_loadu_si256((const __m256i *)b->qs);
}

TA_INLINE __m256i load_q4_0(const ta_block_q4_0 *b)
{
    return _mm256_sub_epi8(ta_unpack_nibbles(b->qs), _mm256_set1_epi8(8));
}

TA_AVX2_Q8_0_BODY(q8_0_body, ta_block_q8_0, load_q8_0)
TA_AVX2_Q8_0_BODY(q4_0_body, ta_block_q4_0, load_q4_0)
TA_AVX2_GEMM(gemm_q8_0, q8_0_body)
TA_AVX2_GEMM(gemm_q4_0, q4_0_body)

TA_AVX2_GEMV4_Q8_0(gemv4_q8_0, ta_block_q8_0, load_q8_0)
TA_AVX2_GEMV4_Q8_0(gemv4_q4_0, ta_block_q4_0, load_q4_0)

/* ---- packed 8-row groups (repack.h) against Q8_0 activations ----
 *
 * Lane r of every vector is row r. Activation words (4 int8) are broadcast to all
 * lanes, so one maddubs multiplies 4 elements of 8 rows; the block's 8 sums come out
 * in one vector, scaled by the 8 rows' scales at once. */

#define TA_AVX2_GEMM8(name, body) TA_AVX2_GEMM_OUT(name, body, 8)

/* sum of the 32 int8 of a Q8_0 block */
TA_INLINE int q8_sum(const int8_t *qs)
{
    __m256i s = _mm256_maddubs_epi16(_mm256_set1_epi8(1), _mm256_loadu_si256((const __m256i *)qs));
    return ta_hsum_epi32(_mm256_madd_epi16(s, _mm256_set1_epi16(1)));
}

/* Q4_0: quants stay unsigned (0..15), so maddubs takes them directly and sums of 8
 * products fit int16 (8 * 2 * 15 * 127 < 32768); the -8 offset is 8 * sum(y). */
TA_INLINE void q4_0x8_body(int64_t n, const void *w, const uint8_t *a, size_t as, int nc,
                           float *out)
{
    const uint8_t *p = w;
    const __m256i m4 = _mm256_set1_epi8(0x0f), ones = _mm256_set1_epi16(1);
    __m256 acc[4];
    for (int c = 0; c < nc; c++)
        acc[c] = _mm256_setzero_ps();
    for (int64_t ib = 0; ib < n / TA_QK; ib++, p += 144) {
        ta_prefetch_ahead(p, 144);
        __m256 dx = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
        __m256i lo[4], hi[4];
        for (int l = 0; l < 4; l++) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(p + 16 + 32 * l));
            lo[l] = _mm256_and_si256(v, m4);
            hi[l] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
        }
        for (int c = 0; c < nc; c++) {
            const ta_block_q8_0s *y = (const ta_block_q8_0s *)(a + (size_t)c * as) + ib;
            int32_t yw[8];
            memcpy(yw, y->qs, sizeof yw);
            __m256i s16 = _mm256_setzero_si256();
            for (int l = 0; l < 4; l++) {
                s16 = _mm256_add_epi16(s16, _mm256_maddubs_epi16(lo[l], _mm256_set1_epi32(yw[l])));
                s16 = _mm256_add_epi16(s16,
                                       _mm256_maddubs_epi16(hi[l], _mm256_set1_epi32(yw[4 + l])));
            }
            __m256i s32 =
                _mm256_sub_epi32(_mm256_madd_epi16(s16, ones), _mm256_set1_epi32(8 * y->sum));
            acc[c] = _mm256_fmadd_ps(_mm256_mul_ps(dx, _mm256_set1_ps(ta_h2f(y->d))),
                                     _mm256_cvtepi32_ps(s32), acc[c]);
        }
    }
    for (int c = 0; c < nc; c++)
        _mm256_storeu_ps(out + 8 * c, acc[c]);
}

/* Q8_0: signed quants, so the sign trick per word; each product pair nearly fills
 * int16, so every word's sums go to int32 at once. */
TA_INLINE void q8_0x8_body(int64_t n, const void *w, const uint8_t *a, size_t as, int nc,
                           float *out)
{
    const uint8_t *p = w;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[4];
    for (int c = 0; c < nc; c++)
        acc[c] = _mm256_setzero_ps();
    for (int64_t ib = 0; ib < n / TA_QK; ib++, p += 272) {
        ta_prefetch_ahead(p, 272);
        __m256 dx = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
        for (int c = 0; c < nc; c++) {
            const ta_block_q8_0 *y = Q8_COL(c, ib);
            int32_t yw[8];
            memcpy(yw, y->qs, sizeof yw);
            __m256i s32 = _mm256_setzero_si256();
            for (int l = 0; l < 8; l++) {
                __m256i q = _mm256_loadu_si256((const __m256i *)(p + 16 + 32 * l));
                __m256i pr = _mm256_maddubs_epi16(_mm256_sign_epi8(q, q),
                                                  _mm256_sign_epi8(_mm256_set1_epi32(yw[l]), q));
                s32 = _mm256_add_epi32(s32, _mm256_madd_epi16(pr, ones));
            }
            acc[c] = _mm256_fmadd_ps(_mm256_mul_ps(dx, _mm256_set1_ps(ta_h2f(y->d))),
                                     _mm256_cvtepi32_ps(s32), acc[c]);
        }
    }
    for (int c = 0; c < nc; c++)
        _mm256_storeu_ps(out + 8 * c, acc[c]);
}

/* Q5_0: as Q4_0 with each lane's 32 fifth bits spread to bit 4 of the bytes of its
 * chunks (a shuffle copies the qh byte holding a chunk's 4 bits to the chunk's 4 bytes,
 * and a per-byte bit test picks them). q in 0..31: 4 chunks of products still fit int16
 * (4 * 2 * 31 * 127 < 32768); the -16 offset is 16 * sum(y). */
TA_INLINE void q5_0x8_body(int64_t n, const void *w, const uint8_t *a, size_t as, int nc,
                           float *out)
{
    const uint8_t *p = w;
    const __m256i m4 = _mm256_set1_epi8(0x0f), ones = _mm256_set1_epi16(1);
    const __m256i bit4 = _mm256_set1_epi8(0x10);
    __m256 acc[4];
    for (int c = 0; c < nc; c++)
        acc[c] = _mm256_setzero_ps();
    for (int64_t ib = 0; ib < n / TA_QK; ib++, p += 176) {
        __m256 dx = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
        __m256i h = _mm256_loadu_si256((const __m256i *)(p + 16));
        __m256i lo[4], hi[4];
        for (int l = 0; l < 4; l++) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(p + 48 + 32 * l));
            /* elements 4l..4l+3 have their fifth bits in qh byte l / 2, nibble l % 2;
             * elements 16+4l.. in byte 2 + l / 2 */
            int b = l / 2;
            __m256i sel_lo = _mm256_setr_epi32(
                0x01010101 * b, 0x01010101 * (4 + b), 0x01010101 * (8 + b), 0x01010101 * (12 + b),
                0x01010101 * b, 0x01010101 * (4 + b), 0x01010101 * (8 + b), 0x01010101 * (12 + b));
            __m256i sel_hi = _mm256_add_epi8(sel_lo, _mm256_set1_epi8(2));
            __m256i bm = _mm256_set1_epi32((int)(0x08040201u << (4 * (l % 2))));
            __m256i hl = _mm256_and_si256(_mm256_shuffle_epi8(h, sel_lo), bm);
            __m256i hh = _mm256_and_si256(_mm256_shuffle_epi8(h, sel_hi), bm);
            lo[l] = _mm256_or_si256(_mm256_and_si256(v, m4),
                                    _mm256_and_si256(_mm256_cmpeq_epi8(hl, bm), bit4));
            hi[l] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v, 4), m4),
                                    _mm256_and_si256(_mm256_cmpeq_epi8(hh, bm), bit4));
        }
        for (int c = 0; c < nc; c++) {
            const ta_block_q8_0s *y = (const ta_block_q8_0s *)(a + (size_t)c * as) + ib;
            int32_t yw[8];
            memcpy(yw, y->qs, sizeof yw);
            __m256i s_lo = _mm256_setzero_si256(), s_hi = _mm256_setzero_si256();
            for (int l = 0; l < 4; l++) {
                s_lo =
                    _mm256_add_epi16(s_lo, _mm256_maddubs_epi16(lo[l], _mm256_set1_epi32(yw[l])));
                s_hi = _mm256_add_epi16(s_hi,
                                        _mm256_maddubs_epi16(hi[l], _mm256_set1_epi32(yw[4 + l])));
            }
            __m256i s32 =
                _mm256_add_epi32(_mm256_madd_epi16(s_lo, ones), _mm256_madd_epi16(s_hi, ones));
            s32 = _mm256_sub_epi32(s32, _mm256_set1_epi32(16 * y->sum));
            acc[c] = _mm256_fmadd_ps(_mm256_mul_ps(dx, _mm256_set1_ps(ta_h2f(y->d))),
                                     _mm256_cvtepi32_ps(s32), acc[c]);
        }
    }
    for (int c = 0; c < nc; c++)
        _mm256_storeu_ps(out + 8 * c, acc[c]);
}

TA_AVX2_GEMM8(gemm8_q4_0, q4_0x8_body)
TA_AVX2_GEMM8(gemm8_q5_0, q5_0x8_body)
TA_AVX2_GEMM8(gemm8_q8_0, q8_0x8_body)

/* ---- activation quantizers (byte for byte the scalar ones) ---- */

#define ROUND_NEAREST (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC) /* ties to even */

/* Rounds 32 floats (already scaled) to nearest-even int8, in element order. */
TA_INLINE __m256i round_pack32(__m256 v0, __m256 v1, __m256 v2, __m256 v3)
{
    __m256i i0 = _mm256_cvtps_epi32(_mm256_round_ps(v0, ROUND_NEAREST));
    __m256i i1 = _mm256_cvtps_epi32(_mm256_round_ps(v1, ROUND_NEAREST));
    __m256i i2 = _mm256_cvtps_epi32(_mm256_round_ps(v2, ROUND_NEAREST));
    __m256i i3 = _mm256_cvtps_epi32(_mm256_round_ps(v3, ROUND_NEAREST));
    /* packs work within 128-bit lanes; the permute puts the dwords back in order. */
    __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
    return _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

TA_INLINE __m256 abs_ps(__m256 v)
{
    return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v);
}

TA_INLINE float hmax_ps(__m256 v)
{
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

static void quantize_q8_0(const float *x, void *dst, int64_t n)
{
    ta_block_q8_0 *b = dst;
    for (int64_t ib = 0; ib < n / TA_QK; ib++, x += TA_QK) {
        __m256 v0 = _mm256_loadu_ps(x), v1 = _mm256_loadu_ps(x + 8);
        __m256 v2 = _mm256_loadu_ps(x + 16), v3 = _mm256_loadu_ps(x + 24);
        __m256 m = _mm256_max_ps(_mm256_max_ps(abs_ps(v0), abs_ps(v1)),
                                 _mm256_max_ps(abs_ps(v2), abs_ps(v3)));
        float amax = hmax_ps(m);
        float d = amax / 127.0f;
        float id = amax >= 1e-30f ? 1.0f / d : 0.0f;
        b[ib].d = ta_f16_scale(d);
        __m256 s = _mm256_set1_ps(id);
        __m256i q = round_pack32(_mm256_mul_ps(v0, s), _mm256_mul_ps(v1, s), _mm256_mul_ps(v2, s),
                                 _mm256_mul_ps(v3, s));
        _mm256_storeu_si256((__m256i *)b[ib].qs, q);
    }
}

/* Round to nearest even, as ta_f32_to_f16 (NaNs quieted with their top payload bits). */
static void quantize_f16(const float *x, void *dst, int64_t n)
{
    ta_f16 *y = dst;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++)
        y[i] = ta_f32_to_f16(x[i]);
}

static void quantize_q8_0s(const float *x, void *dst, int64_t n)
{
    ta_block_q8_0s *b = dst;
    for (int64_t ib = 0; ib < n / TA_QK; ib++) {
        ta_block_q8_0 q;
        quantize_q8_0(x + ib * TA_QK, &q, TA_QK);
        b[ib].d = q.d;
        b[ib].sum = (int16_t)q8_sum(q.qs);
        memcpy(b[ib].qs, q.qs, TA_QK);
    }
}

static void quantize_q8_K(const float *x, void *dst, int64_t n)
{
    ta_block_q8_K *b = dst;
    for (int64_t ib = 0; ib < n / TA_QK_K; ib++, x += TA_QK_K) {
        __m256 m = _mm256_setzero_ps();
        for (int i = 0; i < TA_QK_K; i += 8)
            m = _mm256_max_ps(m, abs_ps(_mm256_loadu_ps(x + i)));
        float amax = hmax_ps(m);
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
        __m256 s = _mm256_set1_ps(iscale);
        for (int i = 0; i < TA_QK_K; i += 32) {
            __m256i q = round_pack32(_mm256_mul_ps(_mm256_loadu_ps(x + i), s),
                                     _mm256_mul_ps(_mm256_loadu_ps(x + i + 8), s),
                                     _mm256_mul_ps(_mm256_loadu_ps(x + i + 16), s),
                                     _mm256_mul_ps(_mm256_loadu_ps(x + i + 24), s));
            _mm256_storeu_si256((__m256i *)(b[ib].qs + i), q);
        }
        for (int j = 0; j < TA_QK_K / 16; j++) {
            __m256i w = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(b[ib].qs + 16 * j)));
            b[ib].bsums[j] = (int16_t)ta_hsum_epi32(_mm256_madd_epi16(w, _mm256_set1_epi16(1)));
        }
        b[ib].d = 1.0f / iscale;
    }
}

/* ---- attention ---- */

static void axpy_f16(int64_t n, float a, const ta_f16 *x, float *y)
{
    __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, load8_f16(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++)
        y[i] += a * ta_h2f(x[i]);
}

/* Attention's weighted sums: for 16 (or 8) dimensions at a time, each value row is
 * converted once and added into up to four queries' accumulators. */
TA_INLINE void wsum_group(int64_t n_pos, int64_t hd, const ta_f16 *v, size_t lv, const float *w,
                          size_t lw, int nq, float *out, size_t lo)
{
    int64_t d = 0;
    for (; d + 16 <= hd; d += 16) {
        __m256 a0[4], a1[4];
        for (int i = 0; i < nq; i++)
            a0[i] = a1[i] = _mm256_setzero_ps();
        for (int64_t t = 0; t < n_pos; t++) {
            const ta_f16 *vr = v + (size_t)t * lv + d;
            __m256 v0 = load8_f16(vr), v1 = load8_f16(vr + 8);
            for (int i = 0; i < nq; i++) {
                __m256 wt = _mm256_broadcast_ss(w + (size_t)i * lw + (size_t)t);
                a0[i] = _mm256_fmadd_ps(wt, v0, a0[i]);
                a1[i] = _mm256_fmadd_ps(wt, v1, a1[i]);
            }
        }
        for (int i = 0; i < nq; i++) {
            _mm256_storeu_ps(out + (size_t)i * lo + d, a0[i]);
            _mm256_storeu_ps(out + (size_t)i * lo + d + 8, a1[i]);
        }
    }
    for (; d < hd; d++) /* head sizes that are not a multiple of 16 */
        for (int i = 0; i < nq; i++) {
            float s = 0.0f;
            for (int64_t t = 0; t < n_pos; t++)
                s += w[(size_t)i * lw + (size_t)t] * ta_h2f(v[(size_t)t * lv + d]);
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

/* exp(x) to about 1 ulp: x = k ln2 + r with |r| <= ln2 / 2 (ln2 in two parts, so r is
 * exact), a degree-7 polynomial for exp(r) (Cephes' coefficients) and 2^k built in
 * the exponent bits. Inputs are clamped to [-87.3, 88], where 2^k stays normal. */
TA_INLINE __m256 exp_ps(__m256 x)
{
    x = _mm256_min_ps(x, _mm256_set1_ps(88.0f));
    x = _mm256_max_ps(x, _mm256_set1_ps(-87.3f));
    __m256 k =
        _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)), ROUND_NEAREST);
    __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(k, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i e =
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

static float exp_sum(int64_t n, float *x, float max)
{
    __m256 m = _mm256_set1_ps(max), s = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 e = exp_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), m));
        _mm256_storeu_ps(x + i, e);
        s = _mm256_add_ps(s, e);
    }
    float sum = ta_hsum_ps(s);
    for (; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    return sum;
}

static void silu_mul(int64_t n, float *g, const float *u)
{
    const __m256 one = _mm256_set1_ps(1.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 x = _mm256_loadu_ps(g + i);
        __m256 e = exp_ps(_mm256_sub_ps(_mm256_setzero_ps(), x));
        __m256 y = _mm256_div_ps(x, _mm256_add_ps(one, e));
        _mm256_storeu_ps(g + i, _mm256_mul_ps(y, _mm256_loadu_ps(u + i)));
    }
    for (; i < n; i++)
        g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

void ta_kernels_avx2_fill(ta_kernels *k)
{
    memset(k, 0, sizeof *k);
    k->name = "avx2";
    k->gemm[TA_TYPE_F32] = gemm_f32;
    k->gemm[TA_TYPE_F16] = gemm_f16;
    k->gemm2[TA_TYPE_F32] = gemm2_f32;
    k->gemm_hh = gemm_hh;
    k->gemm_f16_f32 = gemm_f16_f32;
    k->quantize[TA_TYPE_F16] = quantize_f16;
    k->gemm[TA_TYPE_Q8_0] = gemm_q8_0;
    k->gemm[TA_TYPE_Q4_0] = gemm_q4_0;
    k->gemv4[TA_TYPE_Q8_0] = gemv4_q8_0;
    k->gemv4[TA_TYPE_Q4_0] = gemv4_q4_0;
    k->gemm8[TA_PACK_Q4_0_X8] = gemm8_q4_0;
    k->gemm8[TA_PACK_Q8_0_X8] = gemm8_q8_0;
    k->gemm8[TA_PACK_Q5_0_X8] = gemm8_q5_0;
    k->quantize[TA_TYPE_Q8_0] = quantize_q8_0;
    k->quantize[TA_TYPE_Q8_K] = quantize_q8_K;
    k->quantize_q8_0s = quantize_q8_0s;
    k->axpy_f16 = axpy_f16;
    k->wsum_f16 = wsum_f16;
    k->exp_sum = exp_sum;
    k->silu_mul = silu_mul;
    ta_kernels_avx2_fill_k(k);
    ta_kernels_avx2_fill_more(k);
}
