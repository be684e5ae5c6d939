/*
 * distance_avx512.c - the AVX-512 distance kernels (distance.h). Compiled with
 * -mavx512f -mavx512bw -mavx512vl -mfma on x86-64 only; called only after CPUID says the
 * CPU has them. The int8 dot product with AVX512-VNNI is in distance_avx512_vnni.c.
 *
 * Float kernels keep four 16-lane accumulators (64 floats a step), then 16-lane steps,
 * then one masked load for the last n % 16 elements (masked-off lanes read nothing and
 * are zero, which adds nothing). The int8 dot product widens 32 bytes at a time to int16
 * and multiplies pairs into int32 lanes with vpmaddwd, exact as in distance_avx2.c; its
 * tail is one masked 32-byte load.
 *
 * The same source is built against SIMDe (tests/cross/avx512_kernels.sh) to be checked on
 * CPUs without AVX-512; src/core/simd_avx512.h says how.
 */
#include "distance.h"

#include "../core/simd_avx512.h"

float ta_dist_l2sq_f32_avx512(const float *a, const float *b, size_t n)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
        __m512 d1 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16));
        __m512 d2 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32));
        __m512 d3 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48));
        s0 = _mm512_fmadd_ps(d0, d0, s0);
        s1 = _mm512_fmadd_ps(d1, d1, s1);
        s2 = _mm512_fmadd_ps(d2, d2, s2);
        s3 = _mm512_fmadd_ps(d3, d3, s3);
    }
    for (; i + 16 <= n; i += 16) {
        __m512 d = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
        s0 = _mm512_fmadd_ps(d, d, s0);
    }
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        __m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i));
        s1 = _mm512_fmadd_ps(d, d, s1);
    }
    return ta_hsum512_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

float ta_dist_dot_f32_avx512(const float *a, const float *b, size_t n)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
        s2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32), s2);
        s3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48), s3);
    }
    for (; i + 16 <= n; i += 16)
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s1);
    }
    return ta_hsum512_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

/* 32 int8 -> 32 int16, and their pairwise products summed into 16 int32. */
static inline __m512i madd32_i8(__m256i a, __m256i b)
{
    return _mm512_madd_epi16(_mm512_cvtepi8_epi16(a), _mm512_cvtepi8_epi16(b));
}

int32_t ta_dist_dot_i8_avx512(const int8_t *a, const int8_t *b, size_t n)
{
    __m512i s0 = _mm512_setzero_si512(), s1 = s0;
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        s0 = _mm512_add_epi32(s0, madd32_i8(_mm256_loadu_si256((const __m256i *)(a + i)),
                                            _mm256_loadu_si256((const __m256i *)(b + i))));
        s1 = _mm512_add_epi32(s1, madd32_i8(_mm256_loadu_si256((const __m256i *)(a + i + 32)),
                                            _mm256_loadu_si256((const __m256i *)(b + i + 32))));
    }
    if (i + 32 <= n) {
        s0 = _mm512_add_epi32(s0, madd32_i8(_mm256_loadu_si256((const __m256i *)(a + i)),
                                            _mm256_loadu_si256((const __m256i *)(b + i))));
        i += 32;
    }
    if (i < n) {
        __mmask32 m = (__mmask32)((1u << (n - i)) - 1);
        s1 = _mm512_add_epi32(
            s1, madd32_i8(_mm256_maskz_loadu_epi8(m, a + i), _mm256_maskz_loadu_epi8(m, b + i)));
    }
    return ta_hsum512_epi32(_mm512_add_epi32(s0, s1));
}
