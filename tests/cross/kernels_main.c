/*
 * kernels_main.c - a self-contained checker (no cmocka, no project libraries beyond the
 * engine's quant, repack and kernel files) for a SIMD kernel set against the scalar
 * reference. Built for AArch64 by tests/cross/neon_kernels.sh and run under qemu-aarch64,
 * since the whole project cannot be cross-built here, and for the AVX-512 sets through
 * SIMDe by tests/cross/avx512_kernels.sh; it repeats the checks of
 * tests/unit/test_kernels.c for one set:
 *   - gemm of every weight type, n = 1, 3, 8 blocks (float types also n = 37, BF16 more
 *     odd lengths), rows from quantized random floats and from random bytes with sane
 *     F16 scales, every column count 1..TA_GEMM_MAX_COLS, against vec_dot_ref with
 *     tolerance 1e-5 * sum |x_i y_i| + 1e-6; outputs past nc must stay untouched;
 *   - gemm_bb where the set has it (BF16 weights x BF16 activations): lengths 1..2051
 *     with every tail, strides past the rows, against the float sum of the BF16
 *     products, same tolerance; and, in the AVX-512 build (TA_CROSS_MATMUL), BF16
 *     weights through ta_matmul / ta_matmul_multi with the set chosen by
 *     TABAGENT_KERNELS, so that prompts take BF16 activations where the set has gemm_bb;
 *   - gemm2 / gemv4 where the set has them;
 *   - gemm8 of every packing the set has (rows packed by repack.c, 1..12 columns, the
 *     activation sums for Q4_0/Q5_0), against the reference of the original rows;
 *   - gemm_hh (F16 x F16, every row and column count) and gemm_f16_f32 (odd lengths and
 *     strides) against sums in double;
 *   - the Q8_0, Q8_K, F16, BF16 and Q8_0S activation quantizers byte for byte
 *     (ties at half steps, zeros, tiny values, the largest magnitude twice with both
 *     signs; for BF16 also random bit patterns: NaNs, infinities, subnormals);
 *   - axpy_f16, wsum_f16, exp_sum and silu_mul as the unit test does.
 * Usage: kernels_main [set-name] (default "neon"). Prints a summary; exits 1 on any
 * failure, 2 when the set is not available.
 */
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/f16.h"
#include "engine/kernels.h"
#include "engine/kernels_impl.h"
#include "engine/quant.h"
#include "engine/repack.h"
#if defined(TA_CROSS_MATMUL)
#include "engine/matvec.h"
#endif

static int n_checks, n_fail;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        n_checks++;                                                                                \
        if (!(cond)) {                                                                             \
            if (n_fail++ < 20) {                                                                   \
                printf("FAIL: ");                                                                  \
                printf(__VA_ARGS__);                                                               \
                printf("\n");                                                                      \
            }                                                                                      \
        }                                                                                          \
    } while (0)

typedef struct {
    uint64_t s;
} rng;

static uint64_t rng_next(rng *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 0x2545f4914f6cdd1dull;
}

static float rng_normal(rng *r)
{
    double u1 = ((double)(rng_next(r) >> 11) + 0.5) / 9007199254740992.0;
    double u2 = ((double)(rng_next(r) >> 11) + 0.5) / 9007199254740992.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        printf("out of memory\n");
        exit(1);
    }
    return p;
}

static const uint32_t weight_types[] = {
    TA_TYPE_F32,  TA_TYPE_F16,  TA_TYPE_BF16, TA_TYPE_Q4_0, TA_TYPE_Q4_1,
    TA_TYPE_Q5_0, TA_TYPE_Q5_1, TA_TYPE_Q8_0, TA_TYPE_Q2_K, TA_TYPE_Q3_K,
    TA_TYPE_Q4_K, TA_TYPE_Q5_K, TA_TYPE_Q6_K,
};
#define N_TYPES (sizeof weight_types / sizeof weight_types[0])

static bool is_float_type(uint32_t type)
{
    return type == TA_TYPE_F32 || type == TA_TYPE_F16 || type == TA_TYPE_BF16;
}

/* Random bytes for a quantized row, with every F16 scale field set to a sane value (a
 * random half could be NaN or huge); the quants keep every bit pattern. */
static void random_blocks(rng *r, uint32_t type, void *dst, int64_t n)
{
    size_t bytes = ta_type_row_bytes(type, (uint64_t)n);
    uint8_t *p = dst;
    for (size_t i = 0; i < bytes; i++)
        p[i] = (uint8_t)rng_next(r);
    size_t bb = ta_type_get(type)->block_bytes;
    size_t d_off[2] = {SIZE_MAX, SIZE_MAX};
    switch (type) {
    case TA_TYPE_Q4_0:
    case TA_TYPE_Q5_0:
    case TA_TYPE_Q8_0: d_off[0] = 0; break;
    case TA_TYPE_Q4_1:
    case TA_TYPE_Q5_1:
    case TA_TYPE_Q4_K:
    case TA_TYPE_Q5_K: d_off[0] = 0, d_off[1] = 2; break;
    case TA_TYPE_Q2_K:
        d_off[0] = offsetof(ta_block_q2_K, d), d_off[1] = offsetof(ta_block_q2_K, dmin);
        break;
    case TA_TYPE_Q3_K: d_off[0] = offsetof(ta_block_q3_K, d); break;
    case TA_TYPE_Q6_K: d_off[0] = offsetof(ta_block_q6_K, d); break;
    default: break;
    }
    for (size_t b = 0; b < bytes / bb; b++)
        for (int k = 0; k < 2; k++)
            if (d_off[k] != SIZE_MAX) {
                ta_f16 h = ta_f32_to_f16(0.001f + 0.01f * (float)(rng_next(r) % 100) / 100.0f);
                memcpy(p + b * bb + d_off[k], &h, sizeof h);
            }
}

/* sum |x_i y_i| of a weight row and an activation row, which bounds rounding error. */
static double magnitude(const ta_quant_ops *ops, const ta_quant_ops *aops, const void *w,
                        const void *a, int64_t n)
{
    float *xd = xmalloc((size_t)n * 2 * sizeof(float));
    ops->dequantize_row(w, xd, n);
    aops->dequantize_row(a, xd + n, n);
    double mag = 0;
    for (int64_t e = 0; e < n; e++)
        mag += fabs((double)xd[e] * xd[n + e]);
    free(xd);
    return mag;
}

/* One weight type: ROWS rows x COLS columns of gemm results against the reference. */
static void check_type(const ta_kernels *k, uint32_t type, int64_t n, bool raw, rng *r)
{
    const ta_quant_ops *ops = ta_quant_ops_get(type);
    const ta_quant_ops *aops = ta_quant_ops_get(ops->vec_dot_type);
    const char *tn = ta_type_get(type)->name;
    enum { ROWS = 3, COLS = TA_GEMM_MAX_COLS };
    size_t w_row = ta_type_row_bytes(type, (uint64_t)n);
    size_t a_row = ta_type_row_bytes(ops->vec_dot_type, (uint64_t)n);
    uint8_t *w = xmalloc(w_row * 4), *a = xmalloc(a_row * COLS);
    float *f = xmalloc((size_t)n * sizeof(float));
    for (int i = 0; i < ROWS; i++) {
        if (raw && !is_float_type(type)) {
            random_blocks(r, type, w + i * w_row, n);
        } else {
            for (int64_t e = 0; e < n; e++)
                f[e] = rng_normal(r) * (raw ? 3.0f : 1.0f);
            ops->quantize_row(f, w + i * w_row, n);
        }
    }
    memcpy(w + 3 * w_row, w, w_row); /* a fourth row for gemv4: row 0 again */
    for (int c = 0; c < COLS; c++) {
        for (int64_t e = 0; e < n; e++)
            f[e] = rng_normal(r) * (c == 0 && raw ? 100.0f : 1.0f);
        if (c == 1 && raw) /* a column of extremes: every quant at +-127 */
            for (int64_t e = 0; e < n; e++)
                f[e] = e % 3 ? 5.0f : -5.0f;
        aops->quantize_row(f, a + c * a_row, n);
    }
    float ref[4][COLS];
    double tol[4][COLS];
    for (int i = 0; i < 4; i++)
        for (int c = 0; c < COLS; c++) {
            ref[i][c] = ops->vec_dot_ref(n, w + i * w_row, a + c * a_row);
            tol[i][c] = 1e-5 * magnitude(ops, aops, w + i * w_row, a + c * a_row, n) + 1e-6;
        }
    for (int i = 0; i < ROWS; i++)
        for (int nc = 1; nc <= COLS; nc++) {
            float out[COLS + 1];
            for (int c = 0; c <= COLS; c++)
                out[c] = -12345.0f;
            k->gemm[type](n, w + i * w_row, a, a_row, nc, out);
            for (int c = 0; c < nc; c++)
                CHECK(fabs((double)out[c] - ref[i][c]) <= tol[i][c],
                      "%s %s gemm n=%lld raw=%d row %d nc=%d col %d: got %.9g, reference %.9g",
                      k->name, tn, (long long)n, raw, i, nc, c, (double)out[c], (double)ref[i][c]);
            for (int c = nc; c <= COLS; c++)
                CHECK(out[c] == -12345.0f, "%s %s gemm nc=%d wrote out[%d]", k->name, tn, nc, c);
        }
    if (k->gemm2[type])
        for (int nc = 1; nc <= COLS; nc++) {
            float out2[2 * COLS];
            k->gemm2[type](n, w, w_row, a, a_row, nc, out2);
            for (int c = 0; c < nc; c++)
                for (int i = 0; i < 2; i++)
                    CHECK(fabs((double)out2[2 * c + i] - ref[i][c]) <= tol[i][c],
                          "%s %s gemm2 n=%lld nc=%d col %d row %d: got %.9g, reference %.9g",
                          k->name, tn, (long long)n, nc, c, i, (double)out2[2 * c + i],
                          (double)ref[i][c]);
        }
    if (k->gemv4[type]) {
        float out4[4];
        k->gemv4[type](n, w, w_row, a + a_row, out4);
        for (int i = 0; i < 4; i++)
            CHECK(fabs((double)out4[i] - ref[i][1]) <= tol[i][1],
                  "%s %s gemv4 n=%lld raw=%d row %d: got %.9g, reference %.9g", k->name, tn,
                  (long long)n, raw, i, (double)out4[i], (double)ref[i][1]);
    }
    free(w);
    free(a);
    free(f);
}

static void check_gemm(const ta_kernels *k, const ta_kernels *native)
{
    rng r = {0x1234567};
    char done[256] = "";
    for (size_t t = 0; t < N_TYPES; t++) {
        uint32_t type = weight_types[t];
        int64_t blk = ta_type_get(ta_quant_ops_get(type)->vec_dot_type)->block_elems;
        if (ta_type_get(type)->block_elems > blk) blk = ta_type_get(type)->block_elems;
        if (blk < 32) blk = 32;
        int64_t sizes[] = {blk, 3 * blk, 8 * blk};
        for (int s = 0; s < 3; s++) {
            check_type(k, type, sizes[s], false, &r);
            check_type(k, type, sizes[s], true, &r);
        }
        if (is_float_type(type)) check_type(k, type, 37, false, &r); /* any length */
        if (type == TA_TYPE_BF16) { /* every tail of the 16- and 64-element steps */
            int64_t odd[] = {1, 15, 17, 63, 65, 129};
            for (int s = 0; s < 6; s++)
                check_type(k, type, odd[s], s % 2, &r);
        }
        size_t len = strlen(done);
        snprintf(done + len, sizeof done - len, " %s%s", ta_type_get(type)->name,
                 native->gemm[type] ? "" : "(fallback)");
    }
    printf("gemm:%s\n", done);
}

/* The activation quantizers give the scalar bytes exactly. */
static void check_quantizers(const ta_kernels *k)
{
    rng r = {99};
    const ta_kernels *ref = ta_kernels_by_name("scalar");
    enum { N = 1024 };
    static float x[N];
    static uint8_t qa[N * 2], qb[N * 2];
    uint32_t types[] = {TA_TYPE_Q8_0, TA_TYPE_Q8_K, TA_TYPE_F16, TA_TYPE_BF16};
    int rounds = 0;
    for (int round = 0; round < 64; round++) {
        for (int i = 0; i < N; i++)
            x[i] = rng_normal(&r) * (round % 5 == 0 ? 1e-3f : 2.0f);
        if (round % 4 == 1) /* ties of the rounding: multiples of half a step */
            for (int i = 0; i < N; i++)
                x[i] = (float)((int)(rng_next(&r) % 255) - 127) * 0.5f;
        if (round % 4 == 2) { /* the largest magnitude twice, with both signs */
            x[5] = -7.0f;
            x[77] = 7.0f;
            x[300] = 9.0f;
            x[301] = -9.0f;
        }
        if (round == 3) memset(x, 0, sizeof x);
        if (round == 7) /* exact half steps: with max 127 the scales are exactly +-1 */
            for (int i = 0; i < N; i++)
                x[i] = i % 32 == 0 ? (i % 64 ? -127.0f : 127.0f)
                                   : (float)((int)(rng_next(&r) % 254) - 127) + 0.5f;
        if (round == 11) /* tiny blocks (below the 1e-30 cut), -0.0, a block of zeros */
            for (int i = 0; i < N; i++)
                x[i] = i < 256 ? 1e-31f * (float)(i % 7) : i < 512 ? -0.0f : x[i];
        if (round == 13) /* subnormals and +-max of each block at its last element */
            for (int i = 0; i < N; i++)
                x[i] = i % 32 == 31 ? (i % 64 == 31 ? 1e-20f : -1e-20f) : 1e-40f * (float)(i % 5);
        if (round == 15) /* large values, near the F16 limit of the Q8_0 scale */
            for (int i = 0; i < N; i++)
                x[i] = rng_normal(&r) * 3e6f;
        if (round == 17) { /* what only F16 sees: overflow, subnormals, NaN, ties */
            x[0] = 65520.0f, x[1] = -1e9f, x[2] = 65519.0f, x[3] = 1e-7f, x[4] = -3e-8f;
            x[5] = NAN, x[6] = INFINITY, x[7] = 1.0f + 1.0f / 2048.0f, x[8] = 2.98e-8f;
        }
        bool odd_bits = round >= 60; /* BF16 only: bit patterns of every kind */
        if (odd_bits)
            for (int i = 0; i < N; i++) {
                uint32_t b = (uint32_t)rng_next(&r);
                if (round == 61) /* ties and near-ties of the rounding, odd and even kept bits */
                    b = (b & 0xffff0000u) | (0x7fffu + (uint32_t)(i % 3));
                if (round == 62) /* NaNs with payloads only in the low half, infinities */
                    b = (b & 0x80000000u) | 0x7f800000u | (i % 4 ? (b & 0xffffu) : 0);
                if (round == 63) /* subnormals and the largest finite values */
                    b = (b & 0x8000ffffu) | (i % 2 ? 0 : 0x7f7f0000u);
                memcpy(&x[i], &b, sizeof b);
            }
        size_t sb = (size_t)(N / 32) * sizeof(ta_block_q8_0s);
        memset(qa, 0xaa, sizeof qa);
        memset(qb, 0x55, sizeof qb);
        if (round != 17 && !odd_bits) {
            ref->quantize_q8_0s(x, qa, N);
            k->quantize_q8_0s(x, qb, N);
            CHECK(!memcmp(qa, qb, sb), "%s Q8_0S quantizer differs from scalar (round %d)", k->name,
                  round);
        }
        for (int t = 0; t < 4; t++) {
            if (round == 17 && types[t] != TA_TYPE_F16 && types[t] != TA_TYPE_BF16) continue;
            if (odd_bits && types[t] != TA_TYPE_BF16) continue;
            size_t bytes = ta_type_row_bytes(types[t], N);
            memset(qa, 0xaa, sizeof qa);
            memset(qb, 0x55, sizeof qb);
            ref->quantize[types[t]](x, qa, N);
            k->quantize[types[t]](x, qb, N);
            size_t at = 0;
            while (at < bytes && qa[at] == qb[at])
                at++;
            CHECK(at == bytes, "%s %s quantizer differs from scalar (round %d, byte %zu)", k->name,
                  ta_type_get(types[t])->name, round, at);
            /* short rows: one block */
            size_t one = ta_type_row_bytes(types[t], ta_type_get(types[t])->block_elems);
            memset(qa, 0xaa, sizeof qa);
            memset(qb, 0x55, sizeof qb);
            ref->quantize[types[t]](x, qa, ta_type_get(types[t])->block_elems);
            k->quantize[types[t]](x, qb, ta_type_get(types[t])->block_elems);
            CHECK(!memcmp(qa, qb, one), "%s %s one-block quantizer differs (round %d)", k->name,
                  ta_type_get(types[t])->name, round);
            if (types[t] == TA_TYPE_BF16) /* rows of any length: vector steps and a tail */
                for (int64_t m = 2; m < 70; m += 5) {
                    memset(qa, 0xaa, sizeof qa);
                    memset(qb, 0x55, sizeof qb);
                    ref->quantize[types[t]](x + 3, qa, m);
                    k->quantize[types[t]](x + 3, qb, m);
                    CHECK(!memcmp(qa, qb, (size_t)m * 2),
                          "%s BF16 quantizer of %lld floats differs (round %d)", k->name,
                          (long long)m, round);
                }
        }
        rounds++;
    }
    printf("quantizers: Q8_0 Q8_K F16 BF16 Q8_0S, %d rounds of %d floats, byte for "
           "byte\n",
           rounds, N);
}

/* gemm_hh (F16 weights and activations; every row and column count, strides past the
 * rows) and gemm_f16_f32 (one F16 row against F32 columns) against sums in double. */
static void check_f16(const ta_kernels *k)
{
    rng r = {4242};
    enum { ROWS = 4, COLS = TA_GEMM_MAX_COLS };
    int64_t sizes[] = {8, 37, 256, 2051};
    int hh = 0;
    for (int s = 0; k->gemm_hh && s < 4; s++) {
        int64_t n = sizes[s];
        size_t lw = (size_t)n * 2 + 6, la = (size_t)n * 2 + 10;
        ta_f16 *w = xmalloc(lw * ROWS), *a = xmalloc(la * COLS);
        for (int i = 0; i < ROWS; i++)
            for (int64_t e = 0; e < n; e++)
                w[i * lw / 2 + e] = ta_f32_to_f16(rng_normal(&r));
        for (int c = 0; c < COLS; c++)
            for (int64_t e = 0; e < n; e++)
                a[c * la / 2 + e] = ta_f32_to_f16(rng_normal(&r) * (c == 5 ? 300.0f : 1.0f));
        for (int nr = 1; nr <= ROWS; nr++)
            for (int nc = 1; nc <= COLS; nc++) {
                float out[4 * COLS];
                k->gemm_hh(n, w, lw, nr, a, la, nc, out);
                for (int c = 0; c < nc; c++)
                    for (int i = 0; i < nr; i++) {
                        double ref = 0, mag = 0;
                        for (int64_t e = 0; e < n; e++) {
                            double p = (double)ta_f16_to_f32(w[i * lw / 2 + e]) *
                                       ta_f16_to_f32(a[c * la / 2 + e]);
                            ref += p;
                            mag += fabs(p);
                        }
                        CHECK(fabs(out[c * 4 + i] - ref) <= 1e-6 * mag + 1e-6,
                              "%s gemm_hh n=%lld nr=%d nc=%d row %d col %d: got %.9g, want %.9g",
                              k->name, (long long)n, nr, nc, i, c, (double)out[c * 4 + i], ref);
                    }
            }
        hh++;
        free(w);
        free(a);
    }
    int64_t hds[] = {64, 80, 7, 128, 37};
    for (int h = 0; h < 5; h++) {
        int64_t hd = hds[h];
        size_t lq = (size_t)hd + 5;
        ta_f16 key[128];
        static float q[TA_GEMM_MAX_COLS * 133];
        float dots[TA_GEMM_MAX_COLS + 1];
        for (int64_t d = 0; d < hd; d++)
            key[d] = ta_f32_to_f16(rng_normal(&r));
        for (size_t i = 0; i < TA_GEMM_MAX_COLS * lq; i++)
            q[i] = rng_normal(&r);
        for (int nq = 1; nq <= TA_GEMM_MAX_COLS; nq++) {
            dots[nq] = -12345.0f;
            k->gemm_f16_f32(hd, key, q, lq * sizeof(float), nq, dots);
            for (int i = 0; i < nq; i++) {
                double want = 0;
                for (int64_t d = 0; d < hd; d++)
                    want += (double)ta_f16_to_f32(key[d]) * q[(size_t)i * lq + (size_t)d];
                CHECK(fabs(dots[i] - want) <= 1e-5 * (1 + fabs(want)),
                      "%s gemm_f16_f32 hd=%lld nq=%d col %d: %g, want %g", k->name, (long long)hd,
                      nq, i, (double)dots[i], want);
            }
            CHECK(dots[nq] == -12345.0f, "%s gemm_f16_f32 nq=%d wrote past its columns", k->name,
                  nq);
        }
    }
    printf("f16: gemm_hh%s gemm_f16_f32\n", hh ? "" : "(none)");
}

/* Packed weights (repack.h): every packing the set has a kernel for, rows of random
 * bytes with sane scales, against the reference dot products of the original rows. */
static void check_packed(const ta_kernels *k)
{
    rng r = {31};
    uint32_t types[TA_PACK_COUNT] = {[TA_PACK_Q4_0_X8] = TA_TYPE_Q4_0,
                                     [TA_PACK_Q8_0_X8] = TA_TYPE_Q8_0,
                                     [TA_PACK_Q5_0_X8] = TA_TYPE_Q5_0,
                                     [TA_PACK_Q4_K_X8] = TA_TYPE_Q4_K};
    char done[128] = "";
    for (int pack = 0; pack < TA_PACK_COUNT; pack++) {
        if (!k->gemm8[pack]) continue;
        uint32_t type = types[pack];
        const ta_quant_ops *ops = ta_quant_ops_get(type);
        uint32_t at = ops->vec_dot_type;
        int64_t sizes[] = {256, 768, 512};
        for (int si = 0; si < 3; si++) {
            int64_t n = sizes[si], rows = 16;
            size_t w_row = ta_type_row_bytes(type, (uint64_t)n);
            size_t a_row = ta_type_row_bytes(at, (uint64_t)n);
            size_t gb = ta_packed_group_bytes(pack, (uint64_t)n);
            uint8_t *w = xmalloc(w_row * (size_t)rows), *packed = xmalloc(gb * 2);
            uint8_t *a = xmalloc(a_row * TA_GEMM_MAX_COLS);
            for (int64_t i = 0; i < rows; i++)
                random_blocks(&r, type, w + (size_t)i * w_row, n);
            float *f = xmalloc((size_t)n * sizeof(float));
            for (int c = 0; c < TA_GEMM_MAX_COLS; c++) {
                for (int64_t e = 0; e < n; e++)
                    f[e] = rng_normal(&r) * (c == 1 ? 50.0f : 1.0f);
                if (c == 2) /* every quant at +-127 */
                    for (int64_t e = 0; e < n; e++)
                        f[e] = e % 3 ? 5.0f : -5.0f;
                ta_quant_ops_get(at)->quantize_row(f, a + c * a_row, n);
            }
            free(f);
            ta_gguf_tensor t = {.name = "w",
                                .type = type,
                                .n_dims = 2,
                                .ne = {(uint64_t)n, (uint64_t)rows, 1, 1},
                                .n_elems = (uint64_t)(n * rows),
                                .size = w_row * (size_t)rows,
                                .data = w};
            ta_gguf_tensor pt;
            ta_repack(&t, pack, packed, &pt);
            uint8_t *ak = a; /* Q4_0/Q5_0 take the activations with their sums */
            size_t ak_row = a_row;
            if (ta_pack_wants_sums(pack)) {
                ak_row = (size_t)(n / 32) * sizeof(ta_block_q8_0s);
                ak = xmalloc(ak_row * TA_GEMM_MAX_COLS);
                for (int c = 0; c < TA_GEMM_MAX_COLS; c++)
                    for (int64_t b = 0; b < n / 32; b++) {
                        const ta_block_q8_0 *src = (const ta_block_q8_0 *)(a + c * a_row) + b;
                        ta_block_q8_0s *d = (ta_block_q8_0s *)(ak + c * ak_row) + b;
                        int sum = 0;
                        for (int i = 0; i < 32; i++)
                            sum += src->qs[i];
                        d->d = src->d;
                        d->sum = (int16_t)sum;
                        memcpy(d->qs, src->qs, 32);
                    }
            }
            for (int g = 0; g < 2; g++)
                for (int nc = 1; nc <= TA_GEMM_MAX_COLS; nc++) {
                    float out[8 * TA_GEMM_MAX_COLS + 8];
                    for (int i = 0; i < 8 * TA_GEMM_MAX_COLS + 8; i++)
                        out[i] = -12345.0f;
                    k->gemm8[pack](n, packed + (size_t)g * gb, ak, ak_row, nc, out);
                    for (int c = 0; c < nc; c++)
                        for (int i = 0; i < 8; i++) {
                            const uint8_t *row = w + (size_t)(g * 8 + i) * w_row;
                            float ref = ops->vec_dot_ref(n, row, a + c * a_row);
                            double tol =
                                1e-5 * magnitude(ops, ta_quant_ops_get(at), row, a + c * a_row, n) +
                                1e-6;
                            CHECK(fabs((double)out[c * 8 + i] - ref) <= tol,
                                  "%s packed %s n=%lld group %d nc=%d col %d row %d: got %.9g, "
                                  "reference %.9g",
                                  k->name, ta_type_get(type)->name, (long long)n, g, nc, c, i,
                                  (double)out[c * 8 + i], (double)ref);
                        }
                    for (int i = 8 * nc; i < 8 * TA_GEMM_MAX_COLS + 8; i++)
                        CHECK(out[i] == -12345.0f, "%s packed %s nc=%d wrote out[%d]", k->name,
                              ta_type_get(type)->name, nc, i);
                }
            if (ak != a) free(ak);
            free(w);
            free(packed);
            free(a);
        }
        size_t len = strlen(done);
        snprintf(done + len, sizeof done - len, " %s", ta_type_get(type)->name);
    }
    printf("packed (gemm8):%s\n", *done ? done : " none");
}

/* The float sum of the BF16 products of two rows (the reference of gemm_bb), and the
 * sum of their magnitudes, which bounds the rounding error. */
static float dot_bb(int64_t n, const ta_bf16 *x, const ta_bf16 *y, double *mag)
{
    float sum = 0.0f;
    *mag = 0;
    for (int64_t e = 0; e < n; e++) {
        float p = ta_bf16_to_f32(x[e]) * ta_bf16_to_f32(y[e]);
        sum += p;
        *mag += fabs((double)p);
    }
    return sum;
}

/* gemm_bb (BF16 weights against BF16 activations, the prompt kernel of AVX512_BF16):
 * every tail of its 32- and 64-element steps, strides past the rows, every column count,
 * activations rounded by the scalar BF16 quantizer. */
static void check_bb(const ta_kernels *k)
{
    if (!k->gemm_bb) {
        printf("bf16 x bf16: none\n");
        return;
    }
    rng r = {2718};
    enum { ROWS = 3, COLS = TA_GEMM_MAX_COLS };
    int64_t sizes[] = {1, 7, 31, 32, 33, 37, 63, 64, 65, 96, 127, 256, 2051};
    enum { N_SIZES = sizeof sizes / sizeof sizes[0] };
    const ta_quant_ops *bf = ta_quant_ops_get(TA_TYPE_BF16);
    for (int s = 0; s < N_SIZES; s++) {
        int64_t n = sizes[s];
        size_t lw = (size_t)n + 3, la = (size_t)n + 5; /* elements */
        ta_bf16 *w = xmalloc(lw * ROWS * sizeof(ta_bf16)),
                *a = xmalloc(la * COLS * sizeof(ta_bf16));
        float *f = xmalloc((size_t)n * sizeof(float));
        for (int i = 0; i < ROWS; i++) {
            for (int64_t e = 0; e < n; e++)
                f[e] = rng_normal(&r) * (i == 2 ? 100.0f : 1.0f);
            bf->quantize_row(f, w + (size_t)i * lw, n);
        }
        for (int c = 0; c < COLS; c++) {
            for (int64_t e = 0; e < n; e++)
                f[e] = c == 1 ? (e % 3 ? 5.0f : -5.0f) : rng_normal(&r) * (c == 5 ? 300.0f : 1.0f);
            bf->quantize_row(f, a + (size_t)c * la, n);
        }
        for (int i = 0; i < ROWS; i++)
            for (int nc = 1; nc <= COLS; nc++) {
                float out[COLS + 1];
                for (int c = 0; c <= COLS; c++)
                    out[c] = -12345.0f;
                k->gemm_bb(n, w + (size_t)i * lw, a, la * sizeof(ta_bf16), nc, out);
                for (int c = 0; c < nc; c++) {
                    double mag;
                    float ref = dot_bb(n, w + (size_t)i * lw, a + (size_t)c * la, &mag);
                    CHECK(fabs((double)out[c] - ref) <= 1e-5 * mag + 1e-6,
                          "%s gemm_bb n=%lld row %d nc=%d col %d: got %.9g, reference %.9g",
                          k->name, (long long)n, i, nc, c, (double)out[c], (double)ref);
                }
                for (int c = nc; c <= COLS; c++)
                    CHECK(out[c] == -12345.0f, "%s gemm_bb nc=%d wrote out[%d]", k->name, nc, c);
            }
        free(w);
        free(a);
        free(f);
    }
    printf("bf16 x bf16: gemm_bb, %d lengths 1..2051\n", N_SIZES);
}

#if defined(TA_CROSS_MATMUL)
/* matvec.c's pool, for a checker that calls it with none. */
int ta_pool_threads(const ta_pool *p)
{
    (void)p;
    return 1;
}

void ta_pool_for(ta_pool *p, int64_t n, ta_pool_fn fn, void *arg)
{
    (void)p;
    fn(arg, 0, n);
}

void ta_pool_for_grain(ta_pool *p, int64_t n, int64_t grain, ta_pool_fn fn, void *arg)
{
    (void)p;
    (void)grain;
    fn(arg, 0, n);
}

/* BF16 weights through ta_matmul with this set as the best (TABAGENT_KERNELS): decoding
 * against the F32 activations; prompts against the BF16-rounded activations where the
 * set has gemm_bb (the F32 ones otherwise). The tolerance is tighter than the rounding
 * of the activations to BF16, so the reference must be the right one. Then two BF16
 * matrices in one ta_matmul_multi pass against a ta_matmul each. */
static void check_matmul_bf16(const ta_kernels *k)
{
    rng r = {1618};
    const ta_quant_ops *bf = ta_quant_ops_get(TA_TYPE_BF16);
    const int64_t n_in = 300, n_out = 37; /* 300 = 4 * 64 + 32 + 12: every step, a tail */
    const size_t ldx = (size_t)n_in + 7, ldy = (size_t)n_out + 2;
    uint32_t toks[] = {1, 2, 13, 40};
    ta_bf16 *wd = xmalloc((size_t)(n_in * n_out) * 2 * sizeof(ta_bf16));
    float *f = xmalloc((size_t)n_in * sizeof(float));
    for (int64_t i = 0; i < 2 * n_out; i++) {
        for (int64_t e = 0; e < n_in; e++)
            f[e] = rng_normal(&r);
        bf->quantize_row(f, wd + i * n_in, n_in);
    }
    ta_gguf_tensor w[2];
    for (int m = 0; m < 2; m++)
        w[m] = (ta_gguf_tensor){.name = "w",
                                .type = TA_TYPE_BF16,
                                .n_dims = 2,
                                .ne = {(uint64_t)n_in, (uint64_t)n_out, 1, 1},
                                .n_elems = (uint64_t)(n_in * n_out),
                                .size = (size_t)(n_in * n_out) * sizeof(ta_bf16),
                                .data = wd + (size_t)m * (size_t)(n_in * n_out)};
    int bb_used = 0;
    for (int ti = 0; ti < 4; ti++) {
        uint32_t nt = toks[ti];
        float *x = xmalloc(nt * ldx * sizeof(float));
        float *y = xmalloc(nt * ldy * sizeof(float)), *y2[2];
        for (size_t i = 0; i < nt * ldx; i++)
            x[i] = rng_normal(&r);
        void *scratch = xmalloc(ta_matmul_scratch_bytes((size_t)n_in, nt));
        ta_matmul(NULL, &w[0], x, ldx, y, ldy, nt, scratch);
        bool bb = k->gemm_bb && nt > 1;
        bb_used += bb;
        ta_bf16 *xb = xmalloc((size_t)n_in * sizeof(ta_bf16));
        for (uint32_t t = 0; t < nt; t++) {
            bf->quantize_row(x + t * ldx, xb, n_in);
            for (int64_t row = 0; row < n_out; row++) {
                const ta_bf16 *wr = wd + row * n_in;
                double mag;
                float ref =
                    bb ? dot_bb(n_in, wr, xb, &mag) : bf->vec_dot_ref(n_in, wr, x + t * ldx);
                if (!bb) dot_bb(n_in, wr, xb, &mag);
                CHECK(fabs((double)y[t * ldy + row] - ref) <= 1e-5 * mag + 1e-6,
                      "%s matmul BF16 tokens=%u t=%u row=%lld (%s activations): got %.9g, "
                      "reference %.9g",
                      k->name, nt, t, (long long)row, bb ? "BF16" : "F32", (double)y[t * ldy + row],
                      (double)ref);
            }
        }
        const ta_gguf_tensor *wp[2] = {&w[0], &w[1]};
        size_t lds[2] = {ldy, ldy};
        for (int m = 0; m < 2; m++)
            y2[m] = xmalloc(nt * ldy * sizeof(float));
        ta_matmul_multi(NULL, 2, wp, y2, lds, x, ldx, nt, scratch);
        for (int m = 0; m < 2; m++) {
            ta_matmul(NULL, &w[m], x, ldx, y, ldy, nt, scratch);
            for (uint32_t t = 0; t < nt; t++)
                for (int64_t row = 0; row < n_out; row++)
                    CHECK(y2[m][t * ldy + row] == y[t * ldy + row],
                          "%s matmul_multi BF16 tokens=%u matrix %d t=%u row=%lld: %.9g vs %.9g",
                          k->name, nt, m, t, (long long)row, (double)y2[m][t * ldy + row],
                          (double)y[t * ldy + row]);
            free(y2[m]);
        }
        free(xb);
        free(scratch);
        free(x);
        free(y);
    }
    free(wd);
    free(f);
    printf("matmul BF16: tokens 1, 2, 13, 40 (%s), matmul_multi\n",
           bb_used ? "prompts with BF16 activations" : "F32 activations");
}
#endif

static void check_helpers(const ta_kernels *k)
{
    rng r = {5};
    const ta_kernels *ref = ta_kernels_by_name("scalar");
    for (int n = 1; n < 70; n += 7) {
        ta_f16 x[80];
        float y[80], want[80];
        for (int i = 0; i < n; i++) {
            x[i] = ta_f32_to_f16(rng_normal(&r));
            y[i] = want[i] = rng_normal(&r);
            want[i] += 0.75f * ta_f16_to_f32(x[i]);
        }
        k->axpy_f16(n, 0.75f, x, y);
        for (int i = 0; i < n; i++)
            CHECK(fabsf(y[i] - want[i]) <= 1e-6f * (1 + fabsf(want[i])), "%s axpy_f16 n=%d i=%d",
                  k->name, n, i);
    }
    int64_t hds[] = {64, 80, 7};
    for (int h = 0; h < 3; h++) {
        int64_t hd = hds[h], n_pos = 45;
        size_t lv = (size_t)hd * 3, lw = 50, lo = (size_t)hd + 4;
        ta_f16 *v = xmalloc((size_t)n_pos * lv * sizeof(ta_f16));
        static float w[TA_GEMM_MAX_COLS * 50], got[TA_GEMM_MAX_COLS * 90],
            want[TA_GEMM_MAX_COLS * 90];
        for (size_t i = 0; i < (size_t)n_pos * lv; i++)
            v[i] = ta_f32_to_f16(rng_normal(&r));
        for (int i = 0; i < TA_GEMM_MAX_COLS * 50; i++)
            w[i] = (float)(rng_next(&r) % 1000) / 1000.0f;
        for (int nq = 1; nq <= TA_GEMM_MAX_COLS; nq++) {
            k->wsum_f16(n_pos, hd, v, lv, w, lw, nq, got, lo);
            ref->wsum_f16(n_pos, hd, v, lv, w, lw, nq, want, lo);
            for (int i = 0; i < nq; i++)
                for (int64_t d = 0; d < hd; d++)
                    CHECK(fabsf(got[i * lo + d] - want[i * lo + d]) <=
                              1e-5f * (1 + fabsf(want[i * lo + d])),
                          "%s wsum_f16 hd=%lld nq=%d q=%d d=%lld: %g vs %g", k->name, (long long)hd,
                          nq, i, (long long)d, (double)got[i * lo + d], (double)want[i * lo + d]);
        }
        free(v);
    }
    enum { N = 2003 };
    static float x[N], e[N], g[N], u[N];
    for (int i = 0; i < N; i++) {
        x[i] = -100.0f + 100.0f * (float)i / N; /* softmax inputs are <= 0 */
        g[i] = -30.0f + 60.0f * (float)i / N;
        u[i] = rng_normal(&r);
    }
    memcpy(e, x, sizeof x);
    float sum = k->exp_sum(N, e, -1.5f);
    double want_sum = 0;
    for (int i = 0; i < N; i++) {
        double want = exp((double)x[i] + 1.5);
        want_sum += want;
        CHECK(fabs(e[i] - want) <= 2e-6 * want + 1e-37, "%s exp(%g) = %g, want %g", k->name,
              (double)x[i] + 1.5, (double)e[i], want);
    }
    CHECK(fabs(sum - want_sum) <= 1e-5 * want_sum, "%s exp_sum %g, want %g", k->name, (double)sum,
          want_sum);
    memcpy(e, g, sizeof g);
    k->silu_mul(N, e, u);
    for (int i = 0; i < N; i++) {
        double want = (double)g[i] / (1.0 + exp(-(double)g[i])) * u[i];
        CHECK(fabs(e[i] - want) <= 3e-6 * fabs(want) + 1e-30, "%s silu(%g) * %g = %g, want %g",
              k->name, (double)g[i], (double)u[i], (double)e[i], want);
    }
    printf("helpers: axpy_f16 wsum_f16 exp_sum silu_mul\n");
}

int main(int argc, char **argv)
{
    const char *name = argc > 1 ? argv[1] : "neon";
#if defined(TA_CROSS_MATMUL)
    setenv("TABAGENT_KERNELS", name, 1); /* ta_matmul's set: the one under test */
#endif
    const ta_kernels *k = ta_kernels_by_name(name);
    if (!k) {
        printf("kernel set %s: not available on this CPU/build\n", name);
        return 2;
    }
    /* What the set's file itself fills in (the rest falls back to scalar). */
    ta_kernels native;
    memset(&native, 0, sizeof native);
#if TA_KERNELS_NEON
    if (!strcmp(name, "neon")) ta_kernels_neon_fill(&native);
#endif
#if TA_KERNELS_X86
    if (!strcmp(name, "avx2")) ta_kernels_avx2_fill(&native);
#if defined(TA_SIMDE_AVX512)
    if (!strcmp(name, "avx512")) ta_kernels_avx512_fill(&native);
    if (!strcmp(name, "avx512vnni")) ta_kernels_avx512vnni_fill(&native);
    if (!strcmp(name, "avx512bf16")) ta_kernels_avx512bf16_fill(&native);
#endif
#endif
    if (!strcmp(name, "scalar")) native = *k;
    printf("kernel set %s (best here: %s)%s\n", k->name, ta_kernels_best()->name,
#if defined(__ARM_FEATURE_DOTPROD)
           ", dotprod"
#else
           ""
#endif
    );
    printf(
        "native: quantize%s%s%s, helpers%s%s%s%s, f16%s%s, bf16%s, packed%s%s%s%s\n",
        native.quantize[TA_TYPE_Q8_0] ? " Q8_0" : "", native.quantize[TA_TYPE_Q8_K] ? " Q8_K" : "",
        native.quantize[TA_TYPE_BF16] ? " BF16" : "", native.axpy_f16 ? " axpy_f16" : "",
        native.wsum_f16 ? " wsum_f16" : "", native.exp_sum ? " exp_sum" : "",
        native.silu_mul ? " silu_mul" : "", native.gemm_hh ? " gemm_hh" : "",
        native.gemm_f16_f32 ? " gemm_f16_f32" : "", native.gemm_bb ? " gemm_bb" : "",
        native.gemm8[TA_PACK_Q4_0_X8] ? " Q4_0" : "", native.gemm8[TA_PACK_Q8_0_X8] ? " Q8_0" : "",
        native.gemm8[TA_PACK_Q5_0_X8] ? " Q5_0" : "", native.gemm8[TA_PACK_Q4_K_X8] ? " Q4_K" : "");
    check_gemm(k, &native);
    check_packed(k);
    check_f16(k);
    check_bb(k);
#if defined(TA_CROSS_MATMUL)
    check_matmul_bf16(k);
#endif
    check_quantizers(k);
    check_helpers(k);
    printf("%s: %d checks, %d failed\n", n_fail ? "FAILED" : "OK", n_checks, n_fail);
    return n_fail ? 1 : 0;
}
