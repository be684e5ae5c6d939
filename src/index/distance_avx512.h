/*
 * distance_avx512.h - horizontal sums shared by distance_avx512.c and
 * distance_avx512_vnni.c (included only by files compiled for AVX-512, after
 * src/core/simd_avx512.h).
 */
#ifndef TA_INDEX_DISTANCE_AVX512_H
#define TA_INDEX_DISTANCE_AVX512_H

#include <stdint.h>

/* The 16 floats of v added together. */
static inline float ta_hsum512_ps(__m512 v)
{
    __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v),
                             _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* The 16 int32 of v added together (wrapping, as the lanes do). */
static inline int32_t ta_hsum512_epi32(__m512i v)
{
    __m256i h = _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

#endif
