/*
 * test_quant.c - tensor element types (src/engine/quant*.c, f16.h): F16/BF16
 * conversion, the GGUF block layouts (hand-built blocks with known bytes), quantizer
 * error against the bound of each format, reference dot products against a
 * dequantize-then-double dot, and the checked entry points.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/f16.h"
#include "engine/quant.h"

/* ---- helpers ---- */

typedef struct {
    uint64_t s;
} rng;

static uint64_t rng_next(rng *r)
{
    /* xorshift64* */
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 0x2545f4914f6cdd1dull;
}

static double rng_unit(rng *r) /* (0, 1) */
{
    return ((double)(rng_next(r) >> 11) + 0.5) / 9007199254740992.0;
}

static float rng_gauss(rng *r)
{
    double u1 = rng_unit(r), u2 = rng_unit(r);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

static void fill_gauss(rng *r, float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = rng_gauss(r);
}

static float f32_of(uint32_t bits)
{
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static uint32_t bits_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    assert_non_null(p);
    return p;
}

static const ta_type all_types[] = {
    TA_TYPE_F32,  TA_TYPE_F16,  TA_TYPE_BF16, TA_TYPE_Q4_0, TA_TYPE_Q4_1,
    TA_TYPE_Q5_0, TA_TYPE_Q5_1, TA_TYPE_Q8_0, TA_TYPE_Q2_K, TA_TYPE_Q3_K,
    TA_TYPE_Q4_K, TA_TYPE_Q5_K, TA_TYPE_Q6_K, TA_TYPE_Q8_K,
};
#define N_TYPES (sizeof all_types / sizeof all_types[0])

/* ---- layouts and the table ---- */

static void test_block_sizes_and_table(void **state)
{
    (void)state;
    static const struct {
        ta_type type;
        size_t size, elems;
    } blocks[] = {
        {TA_TYPE_F32, sizeof(float), 1},
        {TA_TYPE_F16, sizeof(ta_f16), 1},
        {TA_TYPE_BF16, sizeof(ta_bf16), 1},
        {TA_TYPE_Q4_0, sizeof(ta_block_q4_0), 32},
        {TA_TYPE_Q4_1, sizeof(ta_block_q4_1), 32},
        {TA_TYPE_Q5_0, sizeof(ta_block_q5_0), 32},
        {TA_TYPE_Q5_1, sizeof(ta_block_q5_1), 32},
        {TA_TYPE_Q8_0, sizeof(ta_block_q8_0), 32},
        {TA_TYPE_Q2_K, sizeof(ta_block_q2_K), 256},
        {TA_TYPE_Q3_K, sizeof(ta_block_q3_K), 256},
        {TA_TYPE_Q4_K, sizeof(ta_block_q4_K), 256},
        {TA_TYPE_Q5_K, sizeof(ta_block_q5_K), 256},
        {TA_TYPE_Q6_K, sizeof(ta_block_q6_K), 256},
        {TA_TYPE_Q8_K, sizeof(ta_block_q8_K), 256},
    };
    for (size_t i = 0; i < sizeof blocks / sizeof blocks[0]; i++) {
        const ta_type_traits *t = ta_type_get(blocks[i].type);
        assert_int_equal(t->block_bytes, blocks[i].size);
        assert_int_equal(t->block_elems, blocks[i].elems);
        const ta_quant_ops *ops = ta_quant_ops_get(blocks[i].type);
        assert_non_null(ops);
        assert_int_equal(ops->type, blocks[i].type);
        assert_non_null(ops->dequantize_row);
        assert_non_null(ops->quantize_row);
    }
    /* Field offsets that the layouts depend on. */
    assert_int_equal(offsetof(ta_block_q5_0, qs), 6);
    assert_int_equal(offsetof(ta_block_q2_K, d), 80);
    assert_int_equal(offsetof(ta_block_q3_K, scales), 96);
    assert_int_equal(offsetof(ta_block_q3_K, d), 108);
    assert_int_equal(offsetof(ta_block_q4_K, qs), 16);
    assert_int_equal(offsetof(ta_block_q5_K, qh), 16);
    assert_int_equal(offsetof(ta_block_q5_K, qs), 48);
    assert_int_equal(offsetof(ta_block_q6_K, scales), 192);
    assert_int_equal(offsetof(ta_block_q6_K, d), 208);
    assert_int_equal(offsetof(ta_block_q8_K, bsums), 260);

    /* Activation types. */
    assert_int_equal(ta_quant_ops_get(TA_TYPE_F16)->vec_dot_type, TA_TYPE_F16);
    assert_int_equal(ta_quant_ops_get(TA_TYPE_BF16)->vec_dot_type, TA_TYPE_F32);
    assert_int_equal(ta_quant_ops_get(TA_TYPE_Q4_1)->vec_dot_type, TA_TYPE_Q8_0);
    assert_int_equal(ta_quant_ops_get(TA_TYPE_Q8_0)->vec_dot_type, TA_TYPE_Q8_0);
    assert_int_equal(ta_quant_ops_get(TA_TYPE_Q4_K)->vec_dot_type, TA_TYPE_Q8_K);
    assert_int_equal(ta_quant_ops_get(TA_TYPE_Q6_K)->vec_dot_type, TA_TYPE_Q8_K);
    assert_null(ta_quant_ops_get(TA_TYPE_Q8_K)->vec_dot_ref);

    /* Types without kernels. */
    assert_null(ta_quant_ops_get(TA_TYPE_Q8_1));
    assert_null(ta_quant_ops_get(TA_TYPE_IQ2_XXS));
    assert_null(ta_quant_ops_get(TA_TYPE_I32));
    assert_null(ta_quant_ops_get(4));
    assert_null(ta_quant_ops_get(TA_TYPE_COUNT));
    assert_null(ta_quant_ops_get(UINT32_MAX));
}

/* ---- F16 / BF16 ---- */

static void test_f16_edge_cases(void **state)
{
    (void)state;
    /* float -> F16 */
    assert_int_equal(ta_f32_to_f16(0.0f), 0x0000);
    assert_int_equal(ta_f32_to_f16(-0.0f), 0x8000);
    assert_int_equal(ta_f32_to_f16(1.0f), 0x3c00);
    assert_int_equal(ta_f32_to_f16(-2.0f), 0xc000);
    assert_int_equal(ta_f32_to_f16(0.5f), 0x3800);
    assert_int_equal(ta_f32_to_f16(65504.0f), 0x7bff);   /* largest half */
    assert_int_equal(ta_f32_to_f16(65519.996f), 0x7bff); /* just below the tie */
    assert_int_equal(ta_f32_to_f16(65520.0f), 0x7c00);   /* tie rounds to even = inf */
    assert_int_equal(ta_f32_to_f16(1e10f), 0x7c00);      /* overflow */
    assert_int_equal(ta_f32_to_f16(-1e10f), 0xfc00);
    assert_int_equal(ta_f32_to_f16(INFINITY), 0x7c00);
    assert_int_equal(ta_f32_to_f16(-INFINITY), 0xfc00);
    assert_int_equal(ta_f32_to_f16(0x1p-14f), 0x0400);        /* smallest normal */
    assert_int_equal(ta_f32_to_f16(0x1p-24f), 0x0001);        /* smallest subnormal */
    assert_int_equal(ta_f32_to_f16(0x3ffp-24f), 0x03ff);      /* largest subnormal */
    assert_int_equal(ta_f32_to_f16(0x1p-25f), 0x0000);        /* tie between 0 and 1: even */
    assert_int_equal(ta_f32_to_f16(0x1.000002p-25f), 0x0001); /* just above the tie */
    assert_int_equal(ta_f32_to_f16(0x3p-25f), 0x0002);        /* tie between 1 and 2: even */
    assert_int_equal(ta_f32_to_f16(0x5p-25f), 0x0002);        /* tie between 2 and 3: even */
    assert_int_equal(ta_f32_to_f16(0x1p-26f), 0x0000);        /* underflow */
    assert_int_equal(ta_f32_to_f16(-0x1p-26f), 0x8000);       /* keeps the sign */
    assert_int_equal(ta_f32_to_f16(0x7ffp-25f), 0x0400);      /* 1023.5 units: ties up to normal */
    assert_int_equal(ta_f32_to_f16(1.0f + 0x1p-11f), 0x3c00); /* tie: even */
    assert_int_equal(ta_f32_to_f16(1.0f + 0x3p-11f), 0x3c02); /* tie: even (up) */
    assert_int_equal(ta_f32_to_f16(1.0f + 0x1p-12f), 0x3c00);
    assert_int_equal(ta_f32_to_f16(2047.5f), 0x6800); /* carry into the exponent */
    uint16_t nan = ta_f32_to_f16(NAN);
    assert_int_equal(nan & 0x7c00, 0x7c00);
    assert_true((nan & 0x03ff) != 0);
    /* A signalling NaN whose payload lies only in the low bits must stay NaN. */
    uint16_t snan = ta_f32_to_f16(f32_of(0x7f800001u));
    assert_int_equal(snan & 0x7c00, 0x7c00);
    assert_true((snan & 0x03ff) != 0);

    /* F16 -> float */
    assert_true(ta_f16_to_f32(0x3c00) == 1.0f);
    assert_true(ta_f16_to_f32(0x3555) == 0.333251953125f);
    assert_true(ta_f16_to_f32(0x0001) == 0x1p-24f);
    assert_true(ta_f16_to_f32(0x03ff) == 0x3ffp-24f);
    assert_true(ta_f16_to_f32(0x0400) == 0x1p-14f);
    assert_true(ta_f16_to_f32(0x7bff) == 65504.0f);
    assert_int_equal(bits_of(ta_f16_to_f32(0x8000)), 0x80000000u);
    assert_true(isinf(ta_f16_to_f32(0x7c00)) && ta_f16_to_f32(0x7c00) > 0);
    assert_true(isinf(ta_f16_to_f32(0xfc00)) && ta_f16_to_f32(0xfc00) < 0);
    assert_true(isnan(ta_f16_to_f32(0x7e00)));
    assert_true(isnan(ta_f16_to_f32(0x7c01)));

    /* Every half survives a round trip (NaNs stay NaN). */
    for (uint32_t h = 0; h < 0x10000; h++) {
        float f = ta_f16_to_f32((ta_f16)h);
        if (isnan(f)) {
            assert_true(isnan(ta_f16_to_f32(ta_f32_to_f16(f))));
            continue;
        }
        assert_int_equal(ta_f32_to_f16(f), h);
    }

    /* Rounding is to the nearest half, checked on a spread of float patterns against
     * the decoded neighbours (independent of how the conversion is written). */
    for (uint64_t u = 0; u < 0x47800000ull; u += 997) {
        float f = f32_of((uint32_t)u);
        ta_f16 h = ta_f32_to_f16(f);
        if (h == 0x7c00) { /* overflow only from the tie at 65520 on */
            assert_true(f >= 65520.0f);
            continue;
        }
        double err = fabs((double)ta_f16_to_f32(h) - f);
        if (h > 0) assert_true(err <= fabs((double)ta_f16_to_f32((ta_f16)(h - 1)) - f));
        if (h < 0x7bff) assert_true(err <= fabs((double)ta_f16_to_f32((ta_f16)(h + 1)) - f));
    }
}

static void test_bf16_edge_cases(void **state)
{
    (void)state;
    assert_int_equal(ta_f32_to_bf16(1.0f), 0x3f80);
    assert_int_equal(ta_f32_to_bf16(-2.0f), 0xc000);
    assert_int_equal(ta_f32_to_bf16(0.0f), 0x0000);
    assert_int_equal(ta_f32_to_bf16(-0.0f), 0x8000);
    assert_int_equal(ta_f32_to_bf16(f32_of(0x3f808000u)), 0x3f80); /* tie: even (down) */
    assert_int_equal(ta_f32_to_bf16(f32_of(0x3f818000u)), 0x3f82); /* tie: even (up) */
    assert_int_equal(ta_f32_to_bf16(f32_of(0x3f808001u)), 0x3f81); /* above the tie */
    assert_int_equal(ta_f32_to_bf16(f32_of(0x3f807fffu)), 0x3f80);
    assert_int_equal(ta_f32_to_bf16(INFINITY), 0x7f80);
    assert_int_equal(ta_f32_to_bf16(-INFINITY), 0xff80);
    assert_int_equal(ta_f32_to_bf16(f32_of(0x7f7fffffu)), 0x7f80); /* FLT_MAX rounds to inf */
    assert_int_equal(ta_f32_to_bf16(f32_of(0x00008000u)), 0x0000); /* subnormal tie: even */
    assert_int_equal(ta_f32_to_bf16(f32_of(0x00018000u)), 0x0002); /* subnormals are kept */
    assert_int_equal(ta_f32_to_bf16(f32_of(0x80010000u)), 0x8001);
    /* NaN stays NaN (quiet), even when rounding would carry into the exponent. */
    assert_int_equal(ta_f32_to_bf16(f32_of(0x7f800001u)), 0x7fc0);
    assert_int_equal(ta_f32_to_bf16(f32_of(0x7fffffffu)), 0x7fff);
    assert_int_equal(ta_f32_to_bf16(f32_of(0xff800001u)), 0xffc0);

    assert_true(ta_bf16_to_f32(0x3f80) == 1.0f);
    assert_true(ta_bf16_to_f32(0x4049) == 3.140625f);
    assert_true(isinf(ta_bf16_to_f32(0x7f80)));
    assert_true(isnan(ta_bf16_to_f32(0x7fc0)));
    assert_int_equal(bits_of(ta_bf16_to_f32(0x0001)), 0x00010000u);
    for (uint32_t h = 0; h < 0x10000; h++) {
        float f = ta_bf16_to_f32((ta_bf16)h);
        if (!isnan(f)) assert_int_equal(ta_f32_to_bf16(f), h);
    }
}

/* ---- known answers: hand-built blocks from raw bytes ---- */

static void dequant_raw(ta_type type, const uint8_t *raw, size_t len, float *out, int64_t n)
{
    assert_int_equal(len, ta_type_row_bytes(type, (uint64_t)n));
    assert_int_equal(ta_dequantize_row(type, raw, out, n), TA_OK);
}

static void test_known_answer_q4_0(void **state)
{
    (void)state;
    /* d = 0.5 (F16 0x3800, little-endian), qs[i] = i | (15 - i) << 4. */
    uint8_t raw[18] = {0x00, 0x38};
    for (int i = 0; i < 16; i++)
        raw[2 + i] = (uint8_t)(i | (15 - i) << 4);
    static const float expect[32] = {
        -4.0f, -3.5f, -3.0f, -2.5f, -2.0f, -1.5f, -1.0f, -0.5f, /* low nibbles 0..7 */
        0.0f,  0.5f,  1.0f,  1.5f,  2.0f,  2.5f,  3.0f,  3.5f,  /* 8..15 */
        3.5f,  3.0f,  2.5f,  2.0f,  1.5f,  1.0f,  0.5f,  0.0f,  /* high nibbles 15..8 */
        -0.5f, -1.0f, -1.5f, -2.0f, -2.5f, -3.0f, -3.5f, -4.0f, /* 7..0 */
    };
    float out[32];
    dequant_raw(TA_TYPE_Q4_0, raw, sizeof raw, out, 32);
    assert_memory_equal(out, expect, sizeof expect);
}

static void test_known_answer_q5_0(void **state)
{
    (void)state;
    /* d = 1.0; qh = bits 0, 16 and 31 set; qs[3] = 0xf5, other nibbles 0. */
    uint8_t raw[22] = {0x00, 0x3c, 0x01, 0x00, 0x01, 0x80};
    raw[6 + 3] = 0xf5;
    float out[32];
    dequant_raw(TA_TYPE_Q5_0, raw, sizeof raw, out, 32);
    assert_true(out[0] == 0.0f);   /* 0 | 16 - 16 */
    assert_true(out[1] == -16.0f); /* 0 - 16 */
    assert_true(out[3] == -11.0f); /* 5 - 16 */
    assert_true(out[16] == 0.0f);  /* high nibble of qs[0], bit 16 */
    assert_true(out[19] == -1.0f); /* 15 - 16 */
    assert_true(out[30] == -16.0f);
    assert_true(out[31] == 0.0f); /* bit 31 */
}

static void test_known_answer_q8_0(void **state)
{
    (void)state;
    /* d = 0.25 (0x3400); qs[i] = 8i - 128 for i < 31, qs[31] = 127. */
    uint8_t raw[34] = {0x00, 0x34};
    for (int i = 0; i < 31; i++)
        raw[2 + i] = (uint8_t)(int8_t)(8 * i - 128);
    raw[2 + 31] = 127;
    float out[32];
    dequant_raw(TA_TYPE_Q8_0, raw, sizeof raw, out, 32);
    assert_true(out[0] == -32.0f);
    assert_true(out[16] == 0.0f);
    assert_true(out[30] == 28.0f);
    assert_true(out[31] == 31.75f);
    for (int i = 0; i < 31; i++)
        assert_true(out[i] == (float)(2 * i - 32));
}

static void test_known_answer_q4_K(void **state)
{
    (void)state;
    /* d = 1.0 (0x3c00), dmin = 0.5 (0x3800). Sub-block scales and mins, chosen so
     * that the 6-bit values above 15 exercise the packed high bits:
     *   sc = {1, 2, 3, 4, 17, 33, 63, 5},  m = {0, 1, 2, 3, 16, 40, 63, 7}
     * bytes 0..3:  sc[j] | (sc[j+4] >> 4) << 6  = 0x41 0x82 0xc3 0x04
     * bytes 4..7:  m[j]  | (m[j+4] >> 4) << 6   = 0x40 0x81 0xc2 0x03
     * bytes 8..11: (sc[j+4] & 15) | (m[j+4] & 15) << 4 = 0x01 0x81 0xff 0x75
     * qs[i] = i, so qs[32c + l] has low nibble l & 15 (element 64c + l) and high
     * nibble 2c + l / 16 (element 64c + 32 + l). */
    static const uint8_t sc[8] = {1, 2, 3, 4, 17, 33, 63, 5};
    static const uint8_t mn[8] = {0, 1, 2, 3, 16, 40, 63, 7};
    uint8_t raw[144] = {0x00, 0x3c, 0x00, 0x38, 0x41, 0x82, 0xc3, 0x04,
                        0x40, 0x81, 0xc2, 0x03, 0x01, 0x81, 0xff, 0x75};
    for (int i = 0; i < 128; i++)
        raw[16 + i] = (uint8_t)i;
    float out[256];
    dequant_raw(TA_TYPE_Q4_K, raw, sizeof raw, out, 256);
    /* x = d * sc * q - dmin * m, by hand: */
    assert_true(out[0] == 0.0f);     /* q 0, sub-block 0 */
    assert_true(out[1] == 1.0f);     /* q 1, sc 1, m 0 */
    assert_true(out[32] == -0.5f);   /* high nibble of qs[0] = 0, sub-block 1: -0.5 * 1 */
    assert_true(out[128] == -8.0f);  /* q 0, sub-block 4: -0.5 * 16 */
    assert_true(out[130] == 26.0f);  /* q 2: 17 * 2 - 8 */
    assert_true(out[170] == 112.0f); /* high nibble of qs[74] = 4, sub-block 5: 33*4 - 20 */
    assert_true(out[200] == 472.5f); /* q 8, sub-block 6: 63 * 8 - 31.5 */
    assert_true(out[255] == 31.5f);  /* high nibble of qs[127] = 7, sub-block 7: 35 - 3.5 */
    for (int e = 0; e < 256; e++) {
        int c = e / 64, l = e % 32, j = e / 32;
        int q = (e % 64) < 32 ? l & 15 : 2 * c + l / 16;
        assert_true(out[e] == 1.0f * (float)(sc[j] * q) - 0.5f * (float)mn[j]);
    }
}

static void test_known_answer_q3_K(void **state)
{
    (void)state;
    /* Layout: hmask[32] qs[64] scales[12] d. d = 0.5. Stored 6-bit scales u[j] =
     * 4j + 2, i.e. scale values u - 32 = 4j - 30. Low nibbles: bytes 0..7 hold
     * u[j] & 15 | (u[j + 8] & 15) << 4 = 0x22 0x66 0xaa 0xee 0x22 0x66 0xaa 0xee;
     * top bits u >> 4 = 0,0,0,0,1,1,1,1,2,2,2,2,3,3,3,3 go to bytes 8..11 at bit
     * 2 * (j / 4): 0 | 1 << 2 | 2 << 4 | 3 << 6 = 0xe4 each.
     * hmask[l] = 0xf0: elements 128..255 have bit 2 set. qs[i] = 0x1b: the 2-bit
     * field at bit 2k holds 3 - k. So q = (3 - k | 4h) - 4 for e = 128h + 32k + l. */
    uint8_t raw[110];
    memset(raw, 0xf0, 32);
    memset(raw + 32, 0x1b, 64);
    static const uint8_t scales[12] = {0x22, 0x66, 0xaa, 0xee, 0x22, 0x66,
                                       0xaa, 0xee, 0xe4, 0xe4, 0xe4, 0xe4};
    memcpy(raw + 96, scales, 12);
    raw[108] = 0x00;
    raw[109] = 0x38;
    float out[256];
    dequant_raw(TA_TYPE_Q3_K, raw, sizeof raw, out, 256);
    assert_true(out[0] == 15.0f);   /* q 3 - 4 = -1, scale -30 */
    assert_true(out[40] == 22.0f);  /* k 1: q -2, sub-block 2: scale -22 */
    assert_true(out[100] == 12.0f); /* k 3: q -4, sub-block 6: scale -6 */
    assert_true(out[130] == 3.0f);  /* h 1, k 0: q 7 - 4 = 3, sub-block 8: scale 2 */
    assert_true(out[200] == 9.0f);  /* h 1, k 2: q 1, sub-block 12: scale 18 */
    assert_true(out[255] == 0.0f);  /* h 1, k 3: q 0 */
    for (int e = 0; e < 256; e++) {
        int h = e / 128, k = (e % 128) / 32;
        int q = ((3 - k) | 4 * h) - 4;
        assert_true(out[e] == 0.5f * (float)((4 * (e / 16) - 30) * q));
    }
}

static void test_known_answer_q6_K(void **state)
{
    (void)state;
    /* Layout: ql[128] qh[64] scales[16] d. d = 0.25 (0x3400), scales[j] = j - 8,
     * ql[i] = 37 i mod 256, qh[i] = 91 i mod 256. Element e = 128h + 32k + l takes
     * its low 4 bits from ql[64h + 32(k & 1) + l] (nibble k / 2) and its top 2 bits
     * from qh[32h + l] >> 2k; q = that - 32, x = d * scales[e / 16] * q. */
    uint8_t raw[210];
    for (int i = 0; i < 128; i++)
        raw[i] = (uint8_t)(37 * i);
    for (int i = 0; i < 64; i++)
        raw[128 + i] = (uint8_t)(91 * i);
    for (int j = 0; j < 16; j++)
        raw[192 + j] = (uint8_t)(int8_t)(j - 8);
    raw[208] = 0x00;
    raw[209] = 0x34;
    float out[256];
    dequant_raw(TA_TYPE_Q6_K, raw, sizeof raw, out, 256);
    /* By hand: */
    assert_true(out[0] == 64.0f);     /* ql[0]=0, qh[0]=0: q -32, scale -8 */
    assert_true(out[77] == 2.0f);     /* ql[13]=0xe1 hi 14, qh[13]=0x9f bits 4-5 = 1: q -2, sc -4 */
    assert_true(out[160] == -16.0f);  /* ql[96]=0xe0 lo 0, qh[32]=0x60 bits 2-3 = 0: q -32, sc 2 */
    assert_true(out[255] == -19.25f); /* ql[127]=0x5b hi 5, qh[63]=0x65 bits 6-7 = 1: -11, sc 7 */
    for (int e = 0; e < 256; e++) {
        int h = e / 128, k = (e % 128) / 32, l = e % 32;
        int ql = (uint8_t)(37 * (64 * h + 32 * (k & 1) + l));
        int qh = (uint8_t)(91 * (32 * h + l));
        int q = (((ql >> (4 * (k / 2))) & 15) | ((qh >> (2 * k)) & 3) << 4) - 32;
        assert_true(out[e] == 0.25f * (float)((e / 16 - 8) * q));
    }
}

static void test_known_answer_q2_K_q5_K(void **state)
{
    (void)state;
    /* Q2_K: scales[16] qs[64] d dmin. scales[j] = (j & 15) | (15 - j) << 4,
     * qs[i] = 0xe4 (fields 0, 1, 2, 3 at bits 0, 2, 4, 6: q = k), d = 1, dmin = 0.25.
     * x = d * (j & 15) * k - dmin * (15 - j) with j = e / 16, k = (e % 128) / 32. */
    uint8_t raw2[84];
    for (int j = 0; j < 16; j++)
        raw2[j] = (uint8_t)(j | (15 - j) << 4);
    memset(raw2 + 16, 0xe4, 64);
    raw2[80] = 0x00;
    raw2[81] = 0x3c;
    raw2[82] = 0x00;
    raw2[83] = 0x34;
    float out[256];
    dequant_raw(TA_TYPE_Q2_K, raw2, sizeof raw2, out, 256);
    assert_true(out[0] == -3.75f);  /* k 0, j 0: 0 - 0.25 * 15 */
    assert_true(out[40] == -1.25f); /* k 1, j 2: 2 * 1 - 0.25 * 13 */
    assert_true(out[255] == 45.0f); /* k 3, j 15: 15 * 3 - 0 */
    for (int e = 0; e < 256; e++) {
        int j = e / 16, k = (e % 128) / 32;
        assert_true(out[e] == (float)(j * k) - 0.25f * (float)(15 - j));
    }

    /* Q5_K: d dmin scales[12] qh[32] qs[128]. All 8 (scale, min) = (1, 0) (bytes 0..3 =
     * 1, 4..7 = 0, 8..11 = 0x01), qs = 0, qh[l] = 1 << (l % 8): element e has bit 4
     * set when e / 32 == (e % 32) % 8, so x = 16 there and 0 elsewhere. */
    uint8_t raw5[176] = {0x00, 0x3c, 0x00, 0x3c, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1};
    for (int l = 0; l < 32; l++)
        raw5[16 + l] = (uint8_t)(1u << (l % 8));
    dequant_raw(TA_TYPE_Q5_K, raw5, sizeof raw5, out, 256);
    for (int e = 0; e < 256; e++)
        assert_true(out[e] == ((e / 32 == (e % 32) % 8) ? 16.0f : 0.0f));
}

/* ---- quantize -> dequantize error ---- */

/*
 * Bounds on the relative RMS error (RMS of x - xhat over RMS of x) for Gaussian data.
 *
 * Where they come from: a uniform grid with step D has rounding error D / sqrt(12)
 * (RMS). The step a block can afford follows from its bits: symmetric formats map the
 * block's largest magnitude to the end of the range, D = max|x| / half (half = 8 for
 * 4 bits, 16 for 5, 127 for 8, ...); formats with a min spread max - min over 2^bits - 1
 * steps. naive_estimate() computes exactly that for the data at hand; for N(0,1) data it
 * comes out as (block sizes 32 / 16 / 256):
 *     Q8_0 0.55%  Q5_0 4.3%  Q5_1 3.9%  Q4_0 8.7%  Q4_1 8.0%
 *     Q6_K 1.9%   Q5_K 3.9%  Q4_K 8.0%  Q3_K 15%   Q2_K 34%   Q8_K 0.68%
 * A good quantizer lands at or below the naive grid (it searches the scale, trading a
 * little clipping for a finer step); it cannot beat it by a large factor, because the
 * number of levels is fixed. So each type must satisfy
 *     measured <= bound (absolute, below)   and   0.6 * naive <= measured <= 1.03 * naive.
 * The measured values (seed below) are given for reference; bounds have ~5% headroom.
 * F16/BF16 are floats with 11/8 significant bits: relative rounding error per element
 * is at most 2^-11 / 2^-8, its RMS about 0.4 of that.
 */
typedef struct {
    ta_type type;
    int group;       /* elements sharing one grid (sub-block) */
    int levels;      /* symmetric: half-range in steps; affine: steps */
    int symmetric;   /* 1: D = max|x| / levels; 0: D = (max - min) / levels */
    double bound;    /* relative RMS error, upper bound */
    double measured; /* what this quantizer gives on the test data (for humans) */
} error_spec;

static const error_spec error_specs[] = {
    {TA_TYPE_Q8_0, 32, 127, 1, 0.0057, 0.00537},  {TA_TYPE_Q5_0, 32, 16, 1, 0.0425, 0.04059},
    {TA_TYPE_Q5_1, 32, 31, 0, 0.0355, 0.03391},   {TA_TYPE_Q4_0, 32, 8, 1, 0.0860, 0.08192},
    {TA_TYPE_Q4_1, 32, 15, 0, 0.0740, 0.07029},   {TA_TYPE_Q6_K, 16, 32, 1, 0.0182, 0.01735},
    {TA_TYPE_Q5_K, 32, 31, 0, 0.0366, 0.03498},   {TA_TYPE_Q4_K, 32, 15, 0, 0.0745, 0.07087},
    {TA_TYPE_Q3_K, 16, 4, 1, 0.1525, 0.14567},    {TA_TYPE_Q2_K, 16, 3, 0, 0.2830, 0.26918},
    {TA_TYPE_Q8_K, 256, 127, 1, 0.0074, 0.00702},
};

static double naive_estimate(const error_spec *s, const float *x, int64_t n)
{
    double sum_d2 = 0.0, sum_x2 = 0.0;
    for (int64_t b = 0; b < n / s->group; b++) {
        const float *xb = x + b * s->group;
        float lo = xb[0], hi = xb[0], amax = 0.0f;
        for (int i = 0; i < s->group; i++) {
            lo = fminf(lo, xb[i]);
            hi = fmaxf(hi, xb[i]);
            amax = fmaxf(amax, fabsf(xb[i]));
            sum_x2 += (double)xb[i] * xb[i];
        }
        double d = s->symmetric ? amax / s->levels : (hi - fminf(lo, 0.0f)) / s->levels;
        sum_d2 += d * d * s->group;
    }
    return sqrt(sum_d2 / 12.0 / sum_x2);
}

static double roundtrip_error(ta_type type, const float *x, int64_t n, float *y)
{
    void *q = xmalloc(ta_type_row_bytes(type, (uint64_t)n));
    assert_int_equal(ta_quantize_row(type, x, q, n), TA_OK);
    assert_int_equal(ta_dequantize_row(type, q, y, n), TA_OK);
    free(q);
    double e = 0.0, s = 0.0;
    for (int64_t i = 0; i < n; i++) {
        assert_true(isfinite(y[i]));
        e += ((double)y[i] - x[i]) * ((double)y[i] - x[i]);
        s += (double)x[i] * x[i];
    }
    return sqrt(e / s);
}

#define ROWS    32
#define ROW_LEN 4096

static void test_quantize_error_bounds(void **state)
{
    (void)state;
    const int64_t n = (int64_t)ROWS * ROW_LEN;
    float *x = xmalloc((size_t)n * sizeof *x), *y = xmalloc((size_t)n * sizeof *y);
    rng r = {0x5eed1234abcdull};
    fill_gauss(&r, x, n);

    print_message("type   measured   naive grid   bound\n");
    for (size_t i = 0; i < sizeof error_specs / sizeof error_specs[0]; i++) {
        const error_spec *s = &error_specs[i];
        /* Row by row, as the engine quantizes. */
        double e2 = 0.0;
        for (int row = 0; row < ROWS; row++) {
            double e = roundtrip_error(s->type, x + row * ROW_LEN, ROW_LEN, y);
            e2 += e * e;
        }
        double err = sqrt(e2 / ROWS);
        double naive = naive_estimate(s, x, n);
        print_message("%-5s  %7.3f%%   %7.3f%%    %6.2f%%\n", ta_type_get(s->type)->name, 100 * err,
                      100 * naive, 100 * s->bound);
        assert_true(err <= s->bound);
        assert_true(err <= 1.03 * naive);
        assert_true(err >= 0.6 * naive);
        assert_true(fabs(err - s->measured) <= 0.1 * s->measured); /* table stays honest */
    }

    /* More bits, less error: the order of the formats holds. */
    double e[6];
    const ta_type order[6] = {TA_TYPE_Q2_K, TA_TYPE_Q3_K, TA_TYPE_Q4_K,
                              TA_TYPE_Q5_K, TA_TYPE_Q6_K, TA_TYPE_Q8_0};
    for (int i = 0; i < 6; i++)
        e[i] = roundtrip_error(order[i], x, ROW_LEN, y);
    for (int i = 1; i < 6; i++)
        assert_true(e[i] < e[i - 1]);

    /* Plain floats. */
    double ef32 = roundtrip_error(TA_TYPE_F32, x, n, y);
    assert_true(ef32 == 0.0);
    double ef16 = roundtrip_error(TA_TYPE_F16, x, n, y);
    for (int64_t i = 0; i < n; i++) /* half an ulp, or half a subnormal step */
        assert_true(fabsf(y[i] - x[i]) <= fmaxf(0x1p-11f * fabsf(x[i]), 0x1p-25f));
    double ebf16 = roundtrip_error(TA_TYPE_BF16, x, n, y);
    for (int64_t i = 0; i < n; i++)
        assert_true(fabsf(y[i] - x[i]) <= 0x1p-8f * fabsf(x[i]));
    print_message("F16    %7.4f%%\nBF16   %7.4f%%\n", 100 * ef16, 100 * ebf16);
    assert_true(ef16 < 0.5 * 0x1p-11 && ef16 > 0.2 * 0x1p-11);
    assert_true(ebf16 < 0.5 * 0x1p-8 && ebf16 > 0.2 * 0x1p-8);
    free(x);
    free(y);
}

/* Data that is not centred, has outliers, or is constant. */
static void test_quantize_special_rows(void **state)
{
    (void)state;
    const int64_t n = 512;
    float x[512], y[512];
    for (size_t t = 0; t < N_TYPES; t++) {
        ta_type type = all_types[t];
        void *q = xmalloc(ta_type_row_bytes(type, (uint64_t)n));

        /* All zero: exactly zero back. */
        memset(x, 0, sizeof x);
        assert_int_equal(ta_quantize_row(type, x, q, n), TA_OK);
        assert_int_equal(ta_dequantize_row(type, q, y, n), TA_OK);
        for (int i = 0; i < n; i++)
            assert_true(y[i] == 0.0f);

        /* Offset data (all positive): formats with a min keep the error small. */
        rng r = {77 + t};
        for (int i = 0; i < n; i++)
            x[i] = 3.0f + 0.5f * rng_gauss(&r);
        double e = roundtrip_error(type, x, n, y);
        if (type == TA_TYPE_Q4_1 || type == TA_TYPE_Q5_1 || type == TA_TYPE_Q4_K ||
            type == TA_TYPE_Q5_K)
            assert_true(e < 0.03);
        else
            assert_true(e < 0.2);

        /* One huge outlier per block does not produce NaN/inf or break the block. */
        for (int i = 0; i < n; i++)
            x[i] = rng_gauss(&r);
        for (int i = 0; i < n; i += 32)
            x[i + 5] = 3000.0f;
        roundtrip_error(type, x, n, y);
        for (int i = 0; i < n; i += 32)
            assert_true(fabsf(y[i + 5] - 3000.0f) < 3000.0f * 0.2f);

        /* Tiny values (subnormal scales) and huge ones stay finite. */
        for (int i = 0; i < n; i++)
            x[i] = 1e-38f * rng_gauss(&r);
        roundtrip_error(type, x, n, y);
        for (int i = 0; i < n; i++)
            x[i] = 1e6f * rng_gauss(&r);
        if (type != TA_TYPE_F16) roundtrip_error(type, x, n, y); /* F16 overflows to inf */

        /* Non-finite input: unspecified values, but no crash or sanitizer report. */
        x[3] = NAN;
        x[100] = INFINITY;
        assert_int_equal(ta_quantize_row(type, x, q, n), TA_OK);
        free(q);
    }

    /* A constant block is exact for the formats with an F16 min. */
    for (int i = 0; i < 64; i++)
        x[i] = 1.5f;
    roundtrip_error(TA_TYPE_Q4_1, x, 64, y);
    for (int i = 0; i < 64; i++)
        assert_true(y[i] == 1.5f);
    roundtrip_error(TA_TYPE_Q5_1, x, 64, y);
    for (int i = 0; i < 64; i++)
        assert_true(y[i] == 1.5f);

    /* Values on a grid the format can represent come back exactly. */
    for (int i = 0; i < 32; i++)
        x[i] = 0.25f * (float)(i - 16);
    roundtrip_error(TA_TYPE_Q5_0, x, 32, y);
    assert_memory_equal(x, y, 32 * sizeof(float));
    for (int i = 0; i < 32; i++)
        x[i] = (float)((i * 5) % 255 - 127);
    roundtrip_error(TA_TYPE_Q8_0, x, 32, y);
    assert_memory_equal(x, y, 32 * sizeof(float));
}

static void test_activation_quantizers(void **state)
{
    (void)state;
    rng r = {99};
    float x[1024];
    fill_gauss(&r, x, 1024);

    /* Q8_0: the largest magnitude maps to +-127, d = max|x| / 127 (as F16). */
    ta_block_q8_0 q8[32];
    assert_int_equal(ta_quantize_row(TA_TYPE_Q8_0, x, q8, 1024), TA_OK);
    for (int b = 0; b < 32; b++) {
        float amax = 0.0f;
        int qmax = 0;
        for (int i = 0; i < 32; i++) {
            amax = fmaxf(amax, fabsf(x[32 * b + i]));
            qmax = abs(q8[b].qs[i]) > qmax ? abs(q8[b].qs[i]) : qmax;
        }
        assert_int_equal(qmax, 127);
        assert_int_equal(q8[b].d, ta_f32_to_f16(amax / 127.0f));
    }

    /* Q8_K: float d; bsums are the sums of each 16 quants; -127 <= q <= 127. */
    ta_block_q8_K qk[4];
    assert_int_equal(ta_quantize_row(TA_TYPE_Q8_K, x, qk, 1024), TA_OK);
    for (int b = 0; b < 4; b++) {
        float amax = 0.0f;
        for (int i = 0; i < 256; i++)
            amax = fmaxf(amax, fabsf(x[256 * b + i]));
        assert_true(fabsf(fabsf(qk[b].d) - amax / 127.0f) <= 1e-6f * amax);
        for (int j = 0; j < 16; j++) {
            int sum = 0;
            for (int i = 0; i < 16; i++) {
                assert_true(qk[b].qs[16 * j + i] >= -127);
                sum += qk[b].qs[16 * j + i];
            }
            assert_int_equal(qk[b].bsums[j], sum);
        }
        for (int i = 0; i < 256; i++)
            assert_true(fabsf(qk[b].d * qk[b].qs[i] - x[256 * b + i]) <= 0.5001f * fabsf(qk[b].d));
    }
}

/* ---- dot products ---- */

static void test_vec_dot_matches_dequantized(void **state)
{
    (void)state;
    const int64_t n = 4096;
    float *w = xmalloc(n * sizeof *w), *a = xmalloc(n * sizeof *a);
    float *wd = xmalloc(n * sizeof *wd), *ad = xmalloc(n * sizeof *ad);
    rng r = {4242};
    for (size_t t = 0; t < N_TYPES; t++) {
        ta_type type = all_types[t];
        const ta_quant_ops *ops = ta_quant_ops_get(type);
        if (!ops->vec_dot_ref) continue;
        void *qw = xmalloc(ta_type_row_bytes(type, n));
        void *qa = xmalloc(ta_type_row_bytes(ops->vec_dot_type, n));
        for (int trial = 0; trial < 4; trial++) {
            fill_gauss(&r, w, n);
            fill_gauss(&r, a, n);
            if (trial == 1) /* offset weights: the min terms matter */
                for (int64_t i = 0; i < n; i++)
                    w[i] += 2.0f;
            if (trial == 2) /* activations of very different scale per block */
                for (int64_t i = 0; i < n; i++)
                    a[i] *= (float)(1 + (i / 256) * 10);
            assert_int_equal(ta_quantize_row(type, w, qw, n), TA_OK);
            assert_int_equal(ta_quantize_row(ops->vec_dot_type, a, qa, n), TA_OK);

            float dot;
            double ref;
            assert_int_equal(ta_vec_dot_ref(type, n, qw, qa, &dot), TA_OK);
            assert_int_equal(ta_vec_dot_dequant_f64(type, qw, ops->vec_dot_type, qa, n, &ref),
                             TA_OK);
            /* Tolerance: float rounding relative to the sum of |products|. */
            ta_dequantize_row(type, qw, wd, n);
            ta_dequantize_row(ops->vec_dot_type, qa, ad, n);
            double mag = 0.0, exact = 0.0;
            for (int64_t i = 0; i < n; i++) {
                mag += fabs((double)wd[i] * ad[i]);
                exact += (double)w[i] * a[i];
            }
            assert_true(fabs(dot - ref) <= 2e-6 * mag);
            /* And the quantized dot is near the true one (quantization noise only). */
            assert_true(fabs(dot - exact) <= 0.1 * mag);

            /* The row dot is the sum of its block dots (rows are independent blocks). */
            int64_t be = ta_type_get(type)->block_elems;
            if (be < 32) be = 32;
            double parts = 0.0;
            size_t bx = ta_type_row_bytes(type, be), by = ta_type_row_bytes(ops->vec_dot_type, be);
            for (int64_t k = 0; k < n / be; k++)
                parts += ops->vec_dot_ref(be, (const char *)qw + k * bx, (const char *)qa + k * by);
            assert_true(fabs(parts - ref) <= 2e-6 * mag);
        }
        free(qw);
        free(qa);
    }
    free(w);
    free(a);
    free(wd);
    free(ad);
}

/* ---- rows of several blocks, bad sizes ---- */

static void test_multi_block_rows(void **state)
{
    (void)state;
    /* Quantizing a row equals quantizing each block on its own, and dequantizing
     * the whole row gives the blocks' values in order. */
    const int64_t n = 7 * 256;
    float x[7 * 256], y[7 * 256], yb[256];
    rng r = {31337};
    fill_gauss(&r, x, n);
    for (size_t t = 0; t < N_TYPES; t++) {
        ta_type type = all_types[t];
        int64_t be = ta_type_get(type)->block_elems;
        if (be == 1) be = 64;
        size_t bb = ta_type_row_bytes(type, (uint64_t)be);
        uint8_t *row = xmalloc(ta_type_row_bytes(type, n)), *one = xmalloc(bb);
        assert_int_equal(ta_quantize_row(type, x, row, n), TA_OK);
        assert_int_equal(ta_dequantize_row(type, row, y, n), TA_OK);
        for (int64_t k = 0; k < n / be; k++) {
            assert_int_equal(ta_quantize_row(type, x + k * be, one, be), TA_OK);
            assert_memory_equal(one, row + k * bb, bb);
            assert_int_equal(ta_dequantize_row(type, one, yb, be), TA_OK);
            assert_memory_equal(yb, y + k * be, (size_t)be * sizeof(float));
        }
        /* Deterministic. */
        uint8_t *again = xmalloc(ta_type_row_bytes(type, n));
        ta_quantize_row(type, x, again, n);
        assert_memory_equal(again, row, ta_type_row_bytes(type, n));
        free(again);
        free(row);
        free(one);
    }
}

static void test_bad_sizes_rejected(void **state)
{
    (void)state;
    float x[600], y[600];
    uint8_t q[4096];
    for (int i = 0; i < 600; i++)
        x[i] = (float)i;
    for (size_t t = 0; t < N_TYPES; t++) {
        ta_type type = all_types[t];
        int64_t be = ta_type_get(type)->block_elems;
        const int64_t bad[] = {0,
                               -1,
                               -(int64_t)be,
                               be == 1 ? 0 : be + 1,
                               be == 1 ? -5 : be / 2,
                               be == 1 ? INT64_MIN : 3 * be - 1};
        for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
            memset(q, 0xab, sizeof q);
            for (int i = 0; i < 600; i++)
                y[i] = -7.0f;
            assert_int_equal(ta_quantize_row(type, x, q, bad[k]), TA_EINVAL);
            assert_int_equal(ta_dequantize_row(type, q, y, bad[k]), TA_EINVAL);
            float dot = 123.0f;
            assert_int_equal(ta_vec_dot_ref(type, bad[k], q, q, &dot), TA_EINVAL);
            double d64;
            assert_int_equal(ta_vec_dot_dequant_f64(type, q, type, q, bad[k], &d64), TA_EINVAL);
            /* Nothing was written. */
            assert_true(dot == 123.0f);
            for (int i = 0; i < 600; i++)
                assert_true(y[i] == -7.0f);
            for (size_t i = 0; i < sizeof q; i++)
                assert_int_equal(q[i], 0xab);
        }
    }
    /* Q4_K rows must be whole super-blocks even though 128 is a multiple of 32. */
    assert_int_equal(ta_dequantize_row(TA_TYPE_Q4_K, q, y, 128), TA_EINVAL);
    /* Unsupported types and Q8_K's missing dot product. */
    assert_int_equal(ta_dequantize_row(TA_TYPE_Q8_1, q, y, 32), TA_EINVAL);
    assert_int_equal(ta_quantize_row(TA_TYPE_IQ4_NL, x, q, 32), TA_EINVAL);
    assert_int_equal(ta_dequantize_row(12345, q, y, 32), TA_EINVAL);
    float dot;
    assert_int_equal(ta_vec_dot_ref(TA_TYPE_Q8_K, 256, q, q, &dot), TA_EINVAL);
    double d64;
    assert_int_equal(ta_vec_dot_dequant_f64(TA_TYPE_Q4_0, q, TA_TYPE_Q4_K, q, 32, &d64), TA_EINVAL);
    /* A multiple of the block size is fine. */
    ta_quantize_row(TA_TYPE_Q4_0, x, q, 64);
    assert_int_equal(ta_dequantize_row(TA_TYPE_Q4_0, q, y, 64), TA_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_block_sizes_and_table),
        cmocka_unit_test(test_f16_edge_cases),
        cmocka_unit_test(test_bf16_edge_cases),
        cmocka_unit_test(test_known_answer_q4_0),
        cmocka_unit_test(test_known_answer_q5_0),
        cmocka_unit_test(test_known_answer_q8_0),
        cmocka_unit_test(test_known_answer_q4_K),
        cmocka_unit_test(test_known_answer_q3_K),
        cmocka_unit_test(test_known_answer_q6_K),
        cmocka_unit_test(test_known_answer_q2_K_q5_K),
        cmocka_unit_test(test_quantize_error_bounds),
        cmocka_unit_test(test_quantize_special_rows),
        cmocka_unit_test(test_activation_quantizers),
        cmocka_unit_test(test_vec_dot_matches_dequantized),
        cmocka_unit_test(test_multi_block_rows),
        cmocka_unit_test(test_bad_sizes_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
