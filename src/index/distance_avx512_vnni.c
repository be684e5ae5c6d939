/*
 * distance_avx512_vnni.c - the int8 dot product with AVX512-VNNI (distance.h). Compiled
 * with -mavx512f -mavx512bw -mavx512vl -mavx512vnni; called only after CPUID says the CPU
 * has them.
 *
 * vpdpbusd multiplies unsigned bytes by signed bytes, four products per int32 lane. For
 * int8 x int8, a is made unsigned by flipping its sign bit (a + 128, 0..255):
 * sum (a + 128) b = a.b + 128 sum b, and sum b comes from a second vpdpbusd with bytes of
 * 1. No lane overflows for n < 2^17 (at most 16 * 255 * 128 * n / 64 in a lane) and the
 * correction is taken per lane, so each lane ends with its exact share of a.b.
 */
#include "distance.h"

#include "../core/simd_avx512.h"

int32_t ta_dist_dot_i8_avx512vnni(const int8_t *a, const int8_t *b, size_t n)
{
    const __m512i flip = _mm512_set1_epi8((char)0x80), ones = _mm512_set1_epi8(1);
    __m512i s = _mm512_setzero_si512(), sb = s;
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m512i va = _mm512_loadu_si512(a + i), vb = _mm512_loadu_si512(b + i);
        s = _mm512_dpbusd_epi32(s, _mm512_xor_si512(va, flip), vb);
        sb = _mm512_dpbusd_epi32(sb, ones, vb);
    }
    if (i < n) { /* masked-off bytes of b are 0, so their products are 0 */
        __mmask64 m = (__mmask64)((~0ull) >> (64 - (n - i)));
        __m512i va = _mm512_maskz_loadu_epi8(m, a + i), vb = _mm512_maskz_loadu_epi8(m, b + i);
        s = _mm512_dpbusd_epi32(s, _mm512_xor_si512(va, flip), vb);
        sb = _mm512_dpbusd_epi32(sb, ones, vb);
    }
    return ta_hsum512_epi32(_mm512_sub_epi32(s, _mm512_slli_epi32(sb, 7)));
}
