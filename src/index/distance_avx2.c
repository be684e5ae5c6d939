/*
 * distance_avx2.c - the AVX2 + FMA distance kernels (distance.h). Compiled with -mavx2
 * -mfma on x86-64 only; called only after CPUID says the CPU has both.
 *
 * Float kernels keep four 8-lane accumulators (32 floats a step) so four FMAs are in
 * flight, then one 8-lane step, then a scalar tail. The int8 dot product widens 16
 * bytes at a time to int16 and multiplies pairs into int32 lanes with vpmaddwd, which
 * is exact: a pair sums to at most 2 * 128 * 128.
 */
#include "distance.h"

#include <immintrin.h>

static inline float hsum256(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline int32_t hsum256_epi32(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

float ta_dist_l2sq_f32_avx2(const float *a, const float *b, size_t n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
        __m256 d2 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16));
        __m256 d3 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24));
        s0 = _mm256_fmadd_ps(d0, d0, s0);
        s1 = _mm256_fmadd_ps(d1, d1, s1);
        s2 = _mm256_fmadd_ps(d2, d2, s2);
        s3 = _mm256_fmadd_ps(d3, d3, s3);
    }
    for (; i + 8 <= n; i += 8) {
        __m256 d = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        s0 = _mm256_fmadd_ps(d, d, s0);
    }
    float s = hsum256(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; i++) {
        float d = a[i] - b[i];
        s += d * d;
    }
    return s;
}

float ta_dist_dot_f32_avx2(const float *a, const float *b, size_t n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float s = hsum256(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* The pair kernels: each vector's sums in exactly the single kernel's order (four
 * accumulators over 32-float steps, one 8-float step into the first, the same horizontal
 * sum and scalar tail), so a pair gives the single kernel's results bit for bit; the
 * query's loads serve both vectors, a quarter fewer loads a distance. */
#define PAIR_KERNEL(name, TERM, TAIL)                                                              \
    void name(const float *a, const float *b0, const float *b1, size_t n, float out[2])            \
    {                                                                                              \
        __m256 s[2][4];                                                                            \
        for (int v = 0; v < 2; v++)                                                                \
            for (int k = 0; k < 4; k++)                                                            \
                s[v][k] = _mm256_setzero_ps();                                                     \
        size_t i = 0;                                                                              \
        for (; i + 32 <= n; i += 32)                                                               \
            for (int k = 0; k < 4; k++) {                                                          \
                __m256 q = _mm256_loadu_ps(a + i + 8 * k);                                         \
                s[0][k] = TERM(q, _mm256_loadu_ps(b0 + i + 8 * k), s[0][k]);                       \
                s[1][k] = TERM(q, _mm256_loadu_ps(b1 + i + 8 * k), s[1][k]);                       \
            }                                                                                      \
        for (; i + 8 <= n; i += 8) {                                                               \
            __m256 q = _mm256_loadu_ps(a + i);                                                     \
            s[0][0] = TERM(q, _mm256_loadu_ps(b0 + i), s[0][0]);                                   \
            s[1][0] = TERM(q, _mm256_loadu_ps(b1 + i), s[1][0]);                                   \
        }                                                                                          \
        for (int v = 0; v < 2; v++) {                                                              \
            const float *b = v ? b1 : b0;                                                          \
            float r = hsum256(                                                                     \
                _mm256_add_ps(_mm256_add_ps(s[v][0], s[v][1]), _mm256_add_ps(s[v][2], s[v][3])));  \
            for (size_t j = i; j < n; j++)                                                         \
                r += TAIL(a[j], b[j]);                                                             \
            out[v] = r;                                                                            \
        }                                                                                          \
    }

static inline __m256 l2_term(__m256 q, __m256 b, __m256 acc)
{
    __m256 d = _mm256_sub_ps(q, b);
    return _mm256_fmadd_ps(d, d, acc);
}

static inline float l2_tail(float x, float y)
{
    float d = x - y;
    return d * d;
}

static inline float dot_tail(float x, float y)
{
    return x * y;
}

PAIR_KERNEL(ta_dist_l2sq_f32_x2_avx2, l2_term, l2_tail)
PAIR_KERNEL(ta_dist_dot_f32_x2_avx2, _mm256_fmadd_ps, dot_tail)

int32_t ta_dist_dot_i8_avx2(const int8_t *a, const int8_t *b, size_t n)
{
    __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256i a0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(a + i)));
        __m256i b0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(b + i)));
        __m256i a1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(a + i + 16)));
        __m256i b1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(b + i + 16)));
        s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(a0, b0));
        s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(a1, b1));
    }
    for (; i + 16 <= n; i += 16) {
        __m256i a0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(a + i)));
        __m256i b0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(b + i)));
        s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(a0, b0));
    }
    int32_t s = hsum256_epi32(_mm256_add_epi32(s0, s1));
    for (; i < n; i++)
        s += (int32_t)a[i] * (int32_t)b[i];
    return s;
}
