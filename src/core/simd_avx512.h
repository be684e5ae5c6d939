/*
 * simd_avx512.h - the AVX-512 intrinsics of the files compiled for AVX-512
 * (src/engine/kernels_avx512*.c, src/index/distance_avx512.c).
 *
 * Normally this is <immintrin.h>, and those files are built with -mavx512f -mavx512bw
 * -mavx512vl (CMakeLists.txt). With TA_SIMDE_AVX512 defined (tests/cross/avx512_kernels.sh,
 * built for plain AVX2) the same intrinsic names come from SIMDe's portable
 * implementations instead (<simde/x86/avx512.h> with SIMDE_ENABLE_NATIVE_ALIASES), so the
 * very same kernel source runs, and is checked against the scalar reference, on a CPU
 * without AVX-512. That build must not define __AVX512F__ (the compiler would then use
 * the real instructions); nothing here tests it.
 *
 * Debian 12's SIMDe (0.7.4~rc2) lacks a few intrinsics the kernels use and aliases
 * _mm512_madd_epi16 with the wrong arity; for that build only, they are defined below
 * from Intel's definitions (element by element; the 256-bit F16C and zero-extending
 * conversions are native). Its _mm512_dpbf16_ps (AVX512_BF16) emulates the instruction
 * in plain float arithmetic, and __m512bh is the compiler's own type.
 *
 * Also the horizontal sums of a 512-bit vector, which the engine's and the index's
 * AVX-512 kernels share.
 */
#ifndef TA_CORE_SIMD_AVX512_H
#define TA_CORE_SIMD_AVX512_H

#if defined(TA_SIMDE_AVX512)

#if defined(__AVX512F__)
#error "TA_SIMDE_AVX512 is the emulated build: compile it without -mavx512f"
#endif

#include <stdint.h>

#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/x86/avx512.h>

/* SIMDe 0.7.4's alias takes four arguments. */
#undef _mm512_madd_epi16
#define _mm512_madd_epi16(a, b) simde_mm512_madd_epi16(a, b)

static inline simde__m512 ta_simde_mm512_cvtepi32_ps(simde__m512i a)
{
    int32_t v[16];
    float f[16];
    simde_mm512_storeu_si512(v, a);
    for (int i = 0; i < 16; i++)
        f[i] = (float)v[i]; /* round to nearest even, as vcvtdq2ps */
    return simde_mm512_loadu_ps(f);
}
#define _mm512_cvtepi32_ps(a) ta_simde_mm512_cvtepi32_ps(a)

static inline simde__m512 ta_simde_mm512_cvtph_ps(__m256i h)
{
    float f[16];
    _mm256_storeu_ps(f, _mm256_cvtph_ps(_mm256_castsi256_si128(h)));
    _mm256_storeu_ps(f + 8, _mm256_cvtph_ps(_mm256_extracti128_si256(h, 1)));
    return simde_mm512_loadu_ps(f);
}
#define _mm512_cvtph_ps(h) ta_simde_mm512_cvtph_ps(h)

/* Masked loads read only the selected elements; the others are zero. TA_SIMDE_MASKZ_LOAD makes
 * one: name, mask type, element type, element count, and how the filled array becomes
 * the vector. */
#define TA_SIMDE_MASKZ_LOAD(name, K, T, N, RET, from_array)                                        \
    static inline RET name(K k, const void *p)                                                     \
    {                                                                                              \
        T v[N];                                                                                    \
        for (int i = 0; i < N; i++)                                                                \
            v[i] = (k >> i) & 1 ? ((const T *)p)[i] : (T)0;                                        \
        return from_array(v);                                                                      \
    }
#define TA_SIMDE_LOAD256(v) _mm256_loadu_si256((const __m256i *)(v))

TA_SIMDE_MASKZ_LOAD(ta_simde_mm512_maskz_loadu_ps, simde__mmask16, float, 16, simde__m512,
                    simde_mm512_loadu_ps)
TA_SIMDE_MASKZ_LOAD(ta_simde_mm256_maskz_loadu_epi16, simde__mmask16, int16_t, 16, __m256i,
                    TA_SIMDE_LOAD256)
TA_SIMDE_MASKZ_LOAD(ta_simde_mm256_maskz_loadu_epi8, simde__mmask32, int8_t, 32, __m256i,
                    TA_SIMDE_LOAD256)
TA_SIMDE_MASKZ_LOAD(ta_simde_mm512_maskz_loadu_epi8, simde__mmask64, int8_t, 64, simde__m512i,
                    simde_mm512_loadu_si512)
TA_SIMDE_MASKZ_LOAD(ta_simde_mm512_maskz_loadu_epi16, simde__mmask32, int16_t, 32, simde__m512i,
                    simde_mm512_loadu_si512)
#define _mm512_maskz_loadu_ps(k, p)    ta_simde_mm512_maskz_loadu_ps(k, p)
#define _mm256_maskz_loadu_epi16(k, p) ta_simde_mm256_maskz_loadu_epi16(k, p)
#define _mm256_maskz_loadu_epi8(k, p)  ta_simde_mm256_maskz_loadu_epi8(k, p)
#define _mm512_maskz_loadu_epi8(k, p)  ta_simde_mm512_maskz_loadu_epi8(k, p)
#define _mm512_maskz_loadu_epi16(k, p) ta_simde_mm512_maskz_loadu_epi16(k, p)

/* 16 uint16 zero-extended to int32 (vpmovzxwd): the 256-bit halves are native AVX2. */
static inline simde__m512i ta_simde_mm512_cvtepu16_epi32(__m256i h)
{
    int32_t v[16];
    _mm256_storeu_si256((__m256i *)v, _mm256_cvtepu16_epi32(_mm256_castsi256_si128(h)));
    _mm256_storeu_si256((__m256i *)(v + 8), _mm256_cvtepu16_epi32(_mm256_extracti128_si256(h, 1)));
    return simde_mm512_loadu_si512(v);
}
#define _mm512_cvtepu16_epi32(h) ta_simde_mm512_cvtepu16_epi32(h)

/* 16 int32 truncated to their low 16 bits (vpmovdw). */
static inline __m256i ta_simde_mm512_cvtepi32_epi16(simde__m512i a)
{
    int32_t v[16];
    int16_t r[16];
    simde_mm512_storeu_si512(v, a);
    for (int i = 0; i < 16; i++)
        r[i] = (int16_t)(uint16_t)v[i];
    return _mm256_loadu_si256((const __m256i *)r);
}
#define _mm512_cvtepi32_epi16(a) ta_simde_mm512_cvtepi32_epi16(a)

#else
#include <immintrin.h>
#endif

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
