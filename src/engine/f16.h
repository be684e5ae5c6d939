/*
 * f16.h - IEEE 754 half precision (F16) and bfloat16 (BF16) <-> float conversion.
 *
 * Both formats travel as raw uint16_t bit patterns, exactly as GGUF stores them
 * (little-endian on disk, and this project only builds for little-endian hosts).
 *
 * float -> F16 rounds to nearest, ties to even, like the F16C instruction VCVTPS2PH with
 * imm8 = 0: values at or beyond 65520 become infinity, tiny values become subnormals or
 * (signed) zero, NaN stays NaN (quiet, with as much of its payload as fits).
 * F16 -> float is exact for every pattern (subnormals included).
 *
 * float -> BF16 keeps the top 16 bits of the float, rounded to nearest even; NaN is
 * forced quiet so rounding can never turn it into infinity. Subnormals are kept (not
 * flushed), which makes the result identical to Google's and ggml's conversion.
 * BF16 -> float is a shift.
 *
 * Scalar and branchy on purpose: these are the definitions that SIMD conversions are
 * tested against. Hot loops use hardware conversions where the CPU has them.
 */
#ifndef TA_ENGINE_F16_H
#define TA_ENGINE_F16_H

#include <stdint.h>
#include <string.h>

typedef uint16_t ta_f16;  /* IEEE binary16 bit pattern */
typedef uint16_t ta_bf16; /* bfloat16 bit pattern */

static inline uint32_t ta_f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float ta_f32_from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline float ta_f16_to_f32(ta_f16 h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;

    if (exp == 0x1f) /* infinity or NaN: keep the payload in the top mantissa bits */
        return ta_f32_from_bits(sign | 0x7f800000u | (mant << 13));
    if (exp == 0) {
        /* zero or subnormal: mant * 2^-24, exact in float */
        float v = (float)mant * 0x1p-24f;
        return ta_f32_from_bits(sign | ta_f32_bits(v));
    }
    /* normal: rebias the exponent from 15 to 127 */
    return ta_f32_from_bits(sign | ((exp + 112u) << 23) | (mant << 13));
}

static inline ta_f16 ta_f32_to_f16(float f)
{
    uint32_t x = ta_f32_bits(f);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t ax = x & 0x7fffffffu;

    if (ax > 0x7f800000u) /* NaN: quiet bit set, top payload bits kept */
        return (ta_f16)(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));
    if (ax >= 0x477ff000u) /* >= 65520 (halfway above the largest half, 65504): inf */
        return (ta_f16)(sign | 0x7c00u);
    if (ax >= 0x38800000u) {
        /* Normal half (|f| >= 2^-14). Rebias the exponent (127 -> 15) in place, then
         * round the 23-bit mantissa to 10 bits: add just under half an ulp, plus one
         * when the kept part is odd (ties to even). A carry out of the mantissa bumps
         * the exponent, which is exactly right. */
        uint32_t r = ax - (112u << 23);
        r += 0xfffu + ((r >> 13) & 1u);
        return (ta_f16)(sign | (r >> 13));
    }
    if (ax <= 0x33000000u) /* <= 2^-25: half of the smallest subnormal ties to 0 */
        return (ta_f16)sign;

    /* Subnormal half: the result counts units of 2^-24. With the implicit bit,
     * |f| = m * 2^(e-150), so the count is m >> (126 - e), rounded to nearest even. */
    uint32_t e = ax >> 23; /* 102..112 here */
    uint32_t m = (ax & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126u - e; /* 14..24 */
    uint32_t q = m >> shift;
    uint32_t rem = m & ((1u << shift) - 1u);
    uint32_t half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (q & 1u))) q++; /* may carry into the normal range */
    return (ta_f16)(sign | q);
}

static inline float ta_bf16_to_f32(ta_bf16 h)
{
    return ta_f32_from_bits((uint32_t)h << 16);
}

static inline ta_bf16 ta_f32_to_bf16(float f)
{
    uint32_t x = ta_f32_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (ta_bf16)((x >> 16) | 0x40u); /* quiet NaN */
    return (ta_bf16)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

#endif
