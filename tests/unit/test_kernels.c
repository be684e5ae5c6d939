/*
 * test_kernels.c - every kernel set this CPU runs (src/engine/kernels*.c) against the
 * scalar reference: gemm microkernels for every weight type and 1..8 columns, on
 * quantized real-looking rows and on random bytes (every bit pattern of the quants,
 * extreme values included); BF16 x BF16 products (gemm_bb, where a set has them); the
 * activation quantizers byte for byte; the attention helper; and ta_matmul's tiling and
 * threading against plain per-row dot products.
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
#include "engine/kernels.h"
#include "engine/matvec.h"
#include "engine/quant.h"
#include "engine/repack.h"
#include "engine/threadpool.h"

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

static const uint32_t weight_types[] = {
    TA_TYPE_F32,  TA_TYPE_F16,  TA_TYPE_BF16, TA_TYPE_Q4_0, TA_TYPE_Q4_1,
    TA_TYPE_Q5_0, TA_TYPE_Q5_1, TA_TYPE_Q8_0, TA_TYPE_Q2_K, TA_TYPE_Q3_K,
    TA_TYPE_Q4_K, TA_TYPE_Q5_K, TA_TYPE_Q6_K,
};
#define N_TYPES (sizeof weight_types / sizeof weight_types[0])

/* Random bytes for a quantized row, with every F16 scale field set to a sane value (a
 * random half could be NaN or huge); the quants themselves keep every bit pattern. */
static void random_blocks(rng *r, uint32_t type, void *dst, int64_t n)
{
    size_t bytes = ta_type_row_bytes(type, (uint64_t)n);
    uint8_t *p = dst;
    for (size_t i = 0; i < bytes; i++)
        p[i] = (uint8_t)rng_next(r);
    const ta_type_traits *ti = ta_type_get(type);
    size_t bb = ti->block_bytes;
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

/* One weight type, one kernel set: rows x cols of gemm results against the reference. */
static void check_type(const ta_kernels *k, uint32_t type, int64_t n, bool raw, rng *r)
{
    const ta_quant_ops *ops = ta_quant_ops_get(type);
    const ta_quant_ops *aops = ta_quant_ops_get(ops->vec_dot_type);
    enum { ROWS = 3, COLS = TA_GEMM_MAX_COLS };
    size_t w_row = ta_type_row_bytes(type, (uint64_t)n);
    size_t a_row = ta_type_row_bytes(ops->vec_dot_type, (uint64_t)n);
    uint8_t *w = malloc(w_row * ROWS), *a = malloc(a_row * COLS);
    float *f = malloc((size_t)n * sizeof(float));
    assert_non_null(w);
    assert_non_null(a);
    assert_non_null(f);
    for (int i = 0; i < ROWS; i++) {
        if (raw && type != TA_TYPE_F32 && type != TA_TYPE_F16 && type != TA_TYPE_BF16) {
            random_blocks(r, type, w + i * w_row, n);
        } else {
            for (int64_t e = 0; e < n; e++)
                f[e] = rng_normal(r) * (raw ? 3.0f : 1.0f);
            ops->quantize_row(f, w + i * w_row, n);
        }
    }
    for (int c = 0; c < COLS; c++) {
        for (int64_t e = 0; e < n; e++)
            f[e] = rng_normal(r) * (c == 0 && raw ? 100.0f : 1.0f);
        if (c == 1 && raw) /* a column of extremes: every quant at +-127 */
            for (int64_t e = 0; e < n; e++)
                f[e] = e % 3 ? 5.0f : -5.0f;
        aops->quantize_row(f, a + c * a_row, n);
    }
    if (k->gemm2[type]) /* rows 0 and 1 together */
        for (int nc = 1; nc <= COLS; nc++) {
            float out2[2 * COLS];
            k->gemm2[type](n, w, w_row, a, a_row, nc, out2);
            for (int c = 0; c < nc; c++)
                for (int i = 0; i < 2; i++) {
                    float ref = ops->vec_dot_ref(n, w + i * w_row, a + c * a_row);
                    if (fabsf(out2[2 * c + i] - ref) >
                        1e-4f * (1.0f + fabsf(ref)) + 1e-5f * (float)n)
                        fail_msg("%s %s gemm2 n=%lld nc=%d col %d row %d: got %.9g, reference %.9g",
                                 k->name, ta_type_get(type)->name, (long long)n, nc, c, i,
                                 (double)out2[2 * c + i], (double)ref);
                }
        }
    if (k->gemv4[type]) { /* rows 0..2 and row 0 again as the fourth */
        uint8_t *w4 = malloc(w_row * 4);
        memcpy(w4, w, w_row * 3);
        memcpy(w4 + 3 * w_row, w, w_row);
        float out4[4];
        k->gemv4[type](n, w4, w_row, a + a_row, out4);
        for (int i = 0; i < 4; i++) {
            float ref = ops->vec_dot_ref(n, w4 + i * w_row, a + a_row);
            if (fabsf(out4[i] - ref) > 1e-4f * (1.0f + fabsf(ref)) + 1e-5f * (float)n)
                fail_msg("%s %s gemv4 n=%lld raw=%d row %d: got %.9g, reference %.9g", k->name,
                         ta_type_get(type)->name, (long long)n, raw, i, (double)out4[i],
                         (double)ref);
        }
        free(w4);
    }
    for (int i = 0; i < ROWS; i++) {
        for (int nc = 1; nc <= COLS; nc++) {
            float out[COLS];
            k->gemm[type](n, w + i * w_row, a, a_row, nc, out);
            for (int c = 0; c < nc; c++) {
                float ref = ops->vec_dot_ref(n, w + i * w_row, a + c * a_row);
                double mag = 0; /* sum |x_i y_i|, which bounds the rounding error */
                float *xd = malloc((size_t)n * 2 * sizeof(float));
                ops->dequantize_row(w + i * w_row, xd, n);
                aops->dequantize_row(a + c * a_row, xd + n, n);
                for (int64_t e = 0; e < n; e++)
                    mag += fabs((double)xd[e] * xd[n + e]);
                free(xd);
                double tol = 1e-5 * mag + 1e-6;
                if (fabs((double)out[c] - ref) > tol)
                    fail_msg("%s %s n=%lld raw=%d row %d nc=%d col %d: got %.9g, reference %.9g",
                             k->name, ta_type_get(type)->name, (long long)n, raw, i, nc, c,
                             (double)out[c], (double)ref);
            }
        }
    }
    free(w);
    free(a);
    free(f);
}

static void test_gemm_all_types(void **state)
{
    (void)state;
    rng r = {0x1234567};
    for (const char *const *name = ta_kernels_names(); *name; name++) {
        const ta_kernels *k = ta_kernels_by_name(*name);
        if (!k) {
            print_message("kernel set %s: not on this CPU, skipped\n", *name);
            continue;
        }
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
            if (blk == 32 && (type == TA_TYPE_F32 || type == TA_TYPE_F16 || type == TA_TYPE_BF16)) {
                /* float rows of any length: past the 32-element steps, past an 8-element step */
                check_type(k, type, 37, false, &r);
                check_type(k, type, 45, false, &r);
            }
        }
    }
}

/* The float sum of the BF16 products of two rows, and of their magnitudes. */
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

/* gemm_bb (BF16 weights against BF16 activations) of the sets that have it (AVX512_BF16
 * CPUs): every tail of its 32- and 64-element steps, strides past the rows, every column
 * count, against the float sum of the BF16 products. */
static void test_gemm_bb(void **state)
{
    (void)state;
    rng r = {2718};
    enum { ROWS = 3, COLS = TA_GEMM_MAX_COLS };
    int64_t sizes[] = {1, 7, 31, 32, 33, 37, 63, 64, 65, 96, 127, 256, 2051};
    const ta_quant_ops *bf = ta_quant_ops_get(TA_TYPE_BF16);
    for (const char *const *name = ta_kernels_names(); *name; name++) {
        const ta_kernels *k = ta_kernels_by_name(*name);
        if (!k || !k->gemm_bb) {
            if (!k && !strcmp(*name, "avx512bf16"))
                print_message("kernel set %s: not on this CPU, skipped\n", *name);
            continue;
        }
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            int64_t n = sizes[s];
            size_t lw = (size_t)n + 3, la = (size_t)n + 5; /* elements */
            ta_bf16 *w = malloc(lw * ROWS * sizeof(ta_bf16));
            ta_bf16 *a = malloc(la * COLS * sizeof(ta_bf16));
            float *f = malloc((size_t)n * sizeof(float));
            assert_non_null(w);
            assert_non_null(a);
            assert_non_null(f);
            for (int i = 0; i < ROWS; i++) {
                for (int64_t e = 0; e < n; e++)
                    f[e] = rng_normal(&r) * (i == 2 ? 100.0f : 1.0f);
                bf->quantize_row(f, w + (size_t)i * lw, n);
            }
            for (int c = 0; c < COLS; c++) {
                for (int64_t e = 0; e < n; e++)
                    f[e] = rng_normal(&r) * (c == 5 ? 300.0f : 1.0f);
                k->quantize[TA_TYPE_BF16](f, a + (size_t)c * la, n);
            }
            for (int i = 0; i < ROWS; i++)
                for (int nc = 1; nc <= COLS; nc++) {
                    float out[COLS + 1];
                    out[nc] = -12345.0f;
                    k->gemm_bb(n, w + (size_t)i * lw, a, la * sizeof(ta_bf16), nc, out);
                    for (int c = 0; c < nc; c++) {
                        double mag;
                        float ref = dot_bb(n, w + (size_t)i * lw, a + (size_t)c * la, &mag);
                        if (fabs((double)out[c] - ref) > 1e-5 * mag + 1e-6)
                            fail_msg("%s gemm_bb n=%lld row %d nc=%d col %d: got %.9g, "
                                     "reference %.9g",
                                     k->name, (long long)n, i, nc, c, (double)out[c], (double)ref);
                    }
                    if (out[nc] != -12345.0f)
                        fail_msg("%s gemm_bb nc=%d wrote past its columns", k->name, nc);
                }
            free(w);
            free(a);
            free(f);
        }
    }
}

/* gemm_hh (F16 weights and activations), every row and column count, against sums in
 * double of the same halves. */
static void test_gemm_hh(void **state)
{
    (void)state;
    rng r = {4242};
    enum { ROWS = 4, COLS = TA_GEMM_MAX_COLS };
    int64_t sizes[] = {8, 37, 256, 2051};
    for (const char *const *name = ta_kernels_names(); *name; name++) {
        const ta_kernels *k = ta_kernels_by_name(*name);
        if (!k || !k->gemm_hh) continue;
        for (int s = 0; s < 4; s++) {
            int64_t n = sizes[s];
            size_t lw = (size_t)n * 2 + 6, la = (size_t)n * 2 + 10; /* strides past the rows */
            ta_f16 *w = malloc(lw * ROWS), *a = malloc(la * COLS);
            assert_non_null(w);
            assert_non_null(a);
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
                            if (fabs(out[c * 4 + i] - ref) > 1e-6 * mag + 1e-6)
                                fail_msg("%s gemm_hh n=%lld nr=%d nc=%d row %d col %d: got %.9g, "
                                         "reference %.9g",
                                         k->name, (long long)n, nr, nc, i, c,
                                         (double)out[c * 4 + i], ref);
                        }
                }
            free(w);
            free(a);
        }
    }
}

/* The activation quantizers of every set give the scalar bytes exactly. */
static void test_quantizers_match_scalar(void **state)
{
    (void)state;
    rng r = {99};
    const ta_kernels *ref = ta_kernels_by_name("scalar");
    enum { N = 1024 };
    float x[N];
    uint8_t a[N * 2], b[N * 2];
    for (const char *const *name = ta_kernels_names(); *name; name++) {
        const ta_kernels *k = ta_kernels_by_name(*name);
        if (!k) continue;
        for (int round = 0; round < 40; round++) {
            for (int i = 0; i < N; i++)
                x[i] = rng_normal(&r) * (round % 5 == 0 ? 1e-3f : 2.0f);
            if (round % 4 == 1) /* ties of the rounding: multiples of half a step */
                for (int i = 0; i < N; i++)
                    x[i] = (float)((int)(rng_next(&r) % 255) - 127) * 0.5f;
            if (round % 4 == 2) { /* the largest magnitude twice, with both signs */
                x[5] = -7.0f;
                x[77] = 7.0f;
            }
            if (round == 3) memset(x, 0, sizeof x);
            if (round == 7) { /* what only F16 sees: overflow, subnormals, NaN, ties */
                x[0] = 65520.0f, x[1] = -1e9f, x[2] = 65519.0f, x[3] = 1e-7f, x[4] = -3e-8f;
                x[5] = NAN, x[6] = INFINITY, x[7] = 1.0f + 1.0f / 2048.0f, x[8] = 2.98e-8f;
            }
            uint32_t types[] = {TA_TYPE_Q8_0, TA_TYPE_Q8_K, TA_TYPE_F16, TA_TYPE_BF16};
            for (int t = 0; t < 4; t++) {
                if (!k->quantize[types[t]]) continue;
                if (round == 7 && types[t] != TA_TYPE_F16 && types[t] != TA_TYPE_BF16) continue;
                size_t bytes = ta_type_row_bytes(types[t], N);
                memset(a, 0xaa, sizeof a);
                memset(b, 0xaa, sizeof b);
                ref->quantize[types[t]](x, a, N);
                k->quantize[types[t]](x, b, N);
                if (memcmp(a, b, bytes))
                    fail_msg("%s %s quantizer differs from scalar (round %d)", k->name,
                             ta_type_get(types[t])->name, round);
            }
        }
    }
}

static void test_axpy_f16(void **state)
{
    (void)state;
    rng r = {5};
    for (const char *const *name = ta_kernels_names(); *name; name++) {
        const ta_kernels *k = ta_kernels_by_name(*name);
        if (!k) continue;
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
                assert_true(fabsf(y[i] - want[i]) <= 1e-6f * (1 + fabsf(want[i])));
        }
    }
}

static void test_attention_helpers(void **state)
{
    (void)state;
    rng r = {11};
    const ta_kernels *ref = ta_kernels_by_name("scalar");
    for (const char *const *name = ta_kernels_names(); *name; name++) {
        const ta_kernels *k = ta_kernels_by_name(*name);
        if (!k) continue;
        /* weighted sums: head sizes 64, 80 (not a multiple of 16), 7 */
        int64_t hds[] = {64, 80, 7};
        for (int h = 0; h < 3; h++) {
            int64_t hd = hds[h], n_pos = 45;
            size_t lv = (size_t)hd * 3, lw = 50, lo = (size_t)hd + 4;
            ta_f16 *v = malloc(n_pos * lv * sizeof(ta_f16));
            float w[8 * 50], got[8 * 90], want[8 * 90];
            for (size_t i = 0; i < n_pos * lv; i++)
                v[i] = ta_f32_to_f16(rng_normal(&r));
            for (int i = 0; i < 8 * 50; i++)
                w[i] = (float)(rng_next(&r) % 1000) / 1000.0f;
            for (int nq = 1; nq <= 8; nq++) {
                k->wsum_f16(n_pos, hd, v, lv, w, lw, nq, got, lo);
                ref->wsum_f16(n_pos, hd, v, lv, w, lw, nq, want, lo);
                for (int i = 0; i < nq; i++)
                    for (int64_t d = 0; d < hd; d++)
                        assert_true(fabsf(got[i * lo + d] - want[i * lo + d]) <=
                                    1e-5f * (1 + fabsf(want[i * lo + d])));
            }
            free(v);
        }
        /* key rows (F16) against F32 queries, with odd head sizes and strides */
        for (int h = 0; h < 3; h++) {
            int64_t hd = hds[h];
            size_t lq = (size_t)hd + 5;
            ta_f16 key[80];
            float q[TA_GEMM_MAX_COLS * 85], dots[TA_GEMM_MAX_COLS];
            for (int64_t d = 0; d < hd; d++)
                key[d] = ta_f32_to_f16(rng_normal(&r));
            for (size_t i = 0; i < TA_GEMM_MAX_COLS * lq; i++)
                q[i] = rng_normal(&r);
            for (int nq = 1; nq <= TA_GEMM_MAX_COLS; nq++) {
                k->gemm_f16_f32(hd, key, q, lq * sizeof(float), nq, dots);
                for (int i = 0; i < nq; i++) {
                    double want = 0;
                    for (int64_t d = 0; d < hd; d++)
                        want += (double)ta_f16_to_f32(key[d]) * q[(size_t)i * lq + (size_t)d];
                    if (fabs(dots[i] - want) > 1e-5 * (1 + fabs(want)))
                        fail_msg("%s gemm_f16_f32 hd=%lld nq=%d col %d: %g, want %g", k->name,
                                 (long long)hd, nq, i, (double)dots[i], want);
                }
            }
        }
        /* exp and SwiGLU over the whole useful range, against libm */
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
            if (fabs(e[i] - want) > 2e-6 * want + 1e-37)
                fail_msg("%s exp(%g) = %g, want %g", k->name, (double)x[i] + 1.5, (double)e[i],
                         want);
        }
        assert_true(fabs(sum - want_sum) <= 1e-5 * want_sum);
        memcpy(e, g, sizeof g);
        k->silu_mul(N, e, u);
        for (int i = 0; i < N; i++) {
            double want = (double)g[i] / (1.0 + exp(-(double)g[i])) * u[i];
            if (fabs(e[i] - want) > 3e-6 * fabs(want) + 1e-30)
                fail_msg("%s silu(%g) * %g = %g, want %g", k->name, (double)g[i], (double)u[i],
                         (double)e[i], want);
        }
    }
}

/* Packed weights: the layout round-trips, and every set's packed kernels give the
 * reference dot products of the original rows. */
static void test_packed(void **state)
{
    (void)state;
    rng r = {31};
    uint32_t types[TA_PACK_COUNT] = {[TA_PACK_Q4_0_X8] = TA_TYPE_Q4_0,
                                     [TA_PACK_Q8_0_X8] = TA_TYPE_Q8_0,
                                     [TA_PACK_Q5_0_X8] = TA_TYPE_Q5_0,
                                     [TA_PACK_Q4_K_X8] = TA_TYPE_Q4_K};
    for (const char *const *name = ta_kernels_names(); *name; name++) {
        const ta_kernels *k = ta_kernels_by_name(*name);
        if (!k) continue;
        for (int ti = 0; ti < TA_PACK_COUNT; ti++) {
            uint32_t type = types[ti];
            const ta_quant_ops *ops = ta_quant_ops_get(type);
            int64_t n = 512, rows = 16;
            uint32_t at = ops->vec_dot_type;
            size_t w_row = ta_type_row_bytes(type, n), a_row = ta_type_row_bytes(at, n);
            uint8_t *w = malloc(w_row * rows), *packed = malloc(ta_packed_group_bytes(ti, n) * 2);
            uint8_t *back = malloc(w_row * 8), *a = malloc(a_row * TA_GEMM_MAX_COLS);
            for (int64_t i = 0; i < rows; i++)
                random_blocks(&r, type, w + i * w_row, n);
            for (int c = 0; c < TA_GEMM_MAX_COLS; c++) {
                float f[512];
                for (int e = 0; e < n; e++)
                    f[e] = rng_normal(&r) * (c == 1 ? 50.0f : 1.0f);
                ta_quantize_row(at, f, a + c * a_row, n);
            }
            ta_gguf_tensor t = {.name = "w",
                                .type = type,
                                .n_dims = 2,
                                .ne = {n, rows, 1, 1},
                                .n_elems = (uint64_t)(n * rows),
                                .size = w_row * rows,
                                .data = w};
            int pack = ta_repack_choice(k, &t);
            if (!k->gemm8[ti]) {
                assert_int_equal(pack, -1);
            } else {
                assert_int_equal(pack, ti);
                ta_gguf_tensor pt;
                ta_repack(&t, pack, packed, &pt);
                assert_int_equal(ta_packed_base_type(pt.type), type);
                if (k == ta_kernels_best()) { /* ta_matmul's packed path, threaded */
                    ta_pool *pool = ta_pool_new(2);
                    static float x[37 * 512], y[37 * 16];
                    uint8_t *act = malloc(a_row),
                            *scratch = malloc(ta_matmul_scratch_bytes(512, 37));
                    for (int i = 0; i < 37 * 512; i++)
                        x[i] = rng_normal(&r);
                    for (uint32_t nt = 1; nt <= 37; nt += 12) {
                        ta_matmul(pool, &pt, x, 512, y, 16, nt, scratch);
                        for (uint32_t tk = 0; tk < nt; tk++) {
                            ta_quantize_row(at, x + tk * 512, act, n);
                            for (int i = 0; i < rows; i++) {
                                float ref = ops->vec_dot_ref(n, w + i * w_row, act);
                                assert_true(fabsf(y[tk * 16 + i] - ref) <=
                                            1e-4f * (1 + fabsf(ref)));
                            }
                        }
                    }
                    free(act);
                    free(scratch);
                    ta_pool_free(pool);
                }
                /* The kernels that want activation sums get the same quants as Q8_0S. */
                uint8_t *ak = a;
                size_t ak_row = a_row;
                if (ta_pack_wants_sums(pack)) {
                    ak_row = (size_t)(n / 32) * sizeof(ta_block_q8_0s);
                    ak = malloc(ak_row * TA_GEMM_MAX_COLS);
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
                for (uint64_t g = 0; g < 2; g++) {
                    ta_unpack_group(&pt, g, back);
                    assert_memory_equal(back, w + g * 8 * w_row, 8 * w_row);
                    for (int nc = 1; nc <= TA_GEMM_MAX_COLS; nc++) {
                        float out[8 * TA_GEMM_MAX_COLS];
                        k->gemm8[pack](n, packed + g * ta_packed_group_bytes(pack, n), ak, ak_row,
                                       nc, out);
                        for (int c = 0; c < nc; c++)
                            for (int i = 0; i < 8; i++) {
                                float ref =
                                    ops->vec_dot_ref(n, w + (g * 8 + i) * w_row, a + c * a_row);
                                float got = out[c * 8 + i];
                                if (fabsf(got - ref) > 1e-4f * (1 + fabsf(ref)))
                                    fail_msg("%s packed %s nc=%d col %d row %d: %g vs %g", k->name,
                                             ta_type_get(type)->name, nc, c, i, (double)got,
                                             (double)ref);
                            }
                    }
                }
                if (ak != a) free(ak);
            }
            /* Shapes that do not pack: rows not a multiple of 8, a vector. */
            t.ne[1] = 12;
            assert_int_equal(ta_repack_choice(k, &t), -1);
            free(w);
            free(packed);
            free(back);
            free(a);
        }
    }
}

/* ta_matmul over tiles and threads equals one reference dot per (row, token). */
static void test_matmul_tiling(void **state)
{
    (void)state;
    rng r = {77};
    uint32_t types[] = {TA_TYPE_Q4_0, TA_TYPE_Q4_K, TA_TYPE_F16, TA_TYPE_Q6_K};
    uint32_t toks[] = {1, 3, 37, 70};
    ta_pool *pool = ta_pool_new(2);
    assert_non_null(pool);
    for (size_t ti = 0; ti < 4; ti++) {
        uint32_t type = types[ti];
        const ta_quant_ops *ops = ta_quant_ops_get(type);
        int64_t n_in = 512, n_out = 133;
        size_t w_row = ta_type_row_bytes(type, n_in);
        uint8_t *wd = malloc(w_row * n_out);
        float *f = malloc(n_in * sizeof(float));
        for (int64_t i = 0; i < n_out; i++) {
            for (int64_t e = 0; e < n_in; e++)
                f[e] = rng_normal(&r);
            ops->quantize_row(f, wd + i * w_row, n_in);
        }
        ta_gguf_tensor w = {.name = "w",
                            .type = type,
                            .n_dims = 2,
                            .ne = {n_in, n_out, 1, 1},
                            .n_elems = (uint64_t)(n_in * n_out),
                            .data = wd};
        for (size_t k = 0; k < 4; k++) {
            uint32_t nt = toks[k];
            size_t ldx = n_in + 3, ldy = n_out + 5;
            float *x = malloc(nt * ldx * sizeof(float)), *y = calloc(nt * ldy, sizeof(float));
            for (size_t i = 0; i < nt * ldx; i++)
                x[i] = rng_normal(&r);
            void *scratch = malloc(ta_matmul_scratch_bytes(n_in, nt));
            for (int with_pool = 0; with_pool < 2; with_pool++) {
                ta_matmul(with_pool ? pool : NULL, &w, x, ldx, y, ldy, nt, scratch);
                uint8_t *act = malloc(ta_matmul_scratch_bytes(n_in, 1));
                for (uint32_t t = 0; t < nt; t++) {
                    const void *a = x + t * ldx;
                    if (ops->vec_dot_type != TA_TYPE_F32) {
                        ta_quantize_row(ops->vec_dot_type, x + t * ldx, act, n_in);
                        a = act;
                    }
                    for (int64_t row = 0; row < n_out; row++) {
                        float ref = ops->vec_dot_ref(n_in, wd + row * w_row, a);
                        float got = y[t * ldy + row];
                        if (fabsf(got - ref) > 1e-3f * (1 + fabsf(ref)))
                            fail_msg("%s tokens=%u pool=%d t=%u row=%lld: %g vs %g",
                                     ta_type_get(type)->name, nt, with_pool, t, (long long)row,
                                     (double)got, (double)ref);
                    }
                }
                free(act);
            }
            free(scratch);
            free(x);
            free(y);
        }
        free(wd);
        free(f);
    }
    ta_pool_free(pool);
}

/* BF16 weights through ta_matmul with the best set: decoding against the F32
 * activations; prompts against the activations rounded to BF16 where the set has
 * gemm_bb (AVX512_BF16), the F32 ones elsewhere. */
static void test_matmul_bf16(void **state)
{
    (void)state;
    rng r = {1618};
    const ta_kernels *k = ta_kernels_best();
    const ta_quant_ops *bf = ta_quant_ops_get(TA_TYPE_BF16);
    const int64_t n_in = 300, n_out = 37; /* 300: every step of the kernels and a tail */
    const size_t ldx = (size_t)n_in + 7, ldy = (size_t)n_out + 2;
    ta_pool *pool = ta_pool_new(2);
    assert_non_null(pool);
    ta_bf16 *wd = malloc((size_t)(n_in * n_out) * sizeof(ta_bf16));
    ta_bf16 *xb = malloc((size_t)n_in * sizeof(ta_bf16));
    float *f = malloc((size_t)n_in * sizeof(float));
    assert_non_null(wd);
    assert_non_null(xb);
    assert_non_null(f);
    for (int64_t i = 0; i < n_out; i++) {
        for (int64_t e = 0; e < n_in; e++)
            f[e] = rng_normal(&r);
        bf->quantize_row(f, wd + i * n_in, n_in);
    }
    ta_gguf_tensor w = {.name = "w",
                        .type = TA_TYPE_BF16,
                        .n_dims = 2,
                        .ne = {(uint64_t)n_in, (uint64_t)n_out, 1, 1},
                        .n_elems = (uint64_t)(n_in * n_out),
                        .data = wd};
    uint32_t toks[] = {1, 2, 13, 40};
    for (size_t ti = 0; ti < 4; ti++) {
        uint32_t nt = toks[ti];
        bool bb = k->gemm_bb && nt > 1;
        float *x = malloc(nt * ldx * sizeof(float)), *y = calloc(nt * ldy, sizeof(float));
        void *scratch = malloc(ta_matmul_scratch_bytes((size_t)n_in, nt));
        assert_non_null(x);
        assert_non_null(y);
        assert_non_null(scratch);
        for (size_t i = 0; i < nt * ldx; i++)
            x[i] = rng_normal(&r);
        for (int with_pool = 0; with_pool < 2; with_pool++) {
            ta_matmul(with_pool ? pool : NULL, &w, x, ldx, y, ldy, nt, scratch);
            for (uint32_t t = 0; t < nt; t++) {
                bf->quantize_row(x + t * ldx, xb, n_in);
                for (int64_t row = 0; row < n_out; row++) {
                    double mag;
                    float ref_bb = dot_bb(n_in, wd + row * n_in, xb, &mag);
                    float ref = bb ? ref_bb : bf->vec_dot_ref(n_in, wd + row * n_in, x + t * ldx);
                    float got = y[t * ldy + row];
                    if (fabs((double)got - ref) > 1e-5 * mag + 1e-6)
                        fail_msg("%s BF16 tokens=%u pool=%d t=%u row=%lld (%s activations): %.9g "
                                 "vs %.9g",
                                 k->name, nt, with_pool, t, (long long)row, bb ? "BF16" : "F32",
                                 (double)got, (double)ref);
                }
            }
        }
        free(x);
        free(y);
        free(scratch);
    }
    free(wd);
    free(xb);
    free(f);
    ta_pool_free(pool);
}

/* ta_matmul_multi gives what one ta_matmul per matrix gives, for matrices sharing an
 * activation format (one pass) and for mixed ones (a pass each). */
static void test_matmul_multi(void **state)
{
    (void)state;
    rng r = {91};
    ta_pool *pool = ta_pool_new(2);
    uint32_t sets[2][3] = {{TA_TYPE_Q4_0, TA_TYPE_Q8_0, TA_TYPE_Q5_0},
                           {TA_TYPE_Q4_K, TA_TYPE_Q8_0, TA_TYPE_F16}};
    int64_t n_in = 256, rows[3] = {40, 24, 72};
    for (int set = 0; set < 2; set++) {
        ta_gguf_tensor w[3];
        uint8_t *wd[3];
        float *ys[3], *want[3];
        size_t ld[3];
        for (int i = 0; i < 3; i++) {
            const ta_quant_ops *ops = ta_quant_ops_get(sets[set][i]);
            size_t w_row = ta_type_row_bytes(sets[set][i], n_in);
            wd[i] = malloc(w_row * rows[i]);
            float f[256];
            for (int64_t rr = 0; rr < rows[i]; rr++) {
                for (int e = 0; e < n_in; e++)
                    f[e] = rng_normal(&r);
                ops->quantize_row(f, wd[i] + rr * w_row, n_in);
            }
            w[i] = (ta_gguf_tensor){.name = "w",
                                    .type = sets[set][i],
                                    .n_dims = 2,
                                    .ne = {n_in, rows[i], 1, 1},
                                    .n_elems = (uint64_t)(n_in * rows[i]),
                                    .data = wd[i]};
            ld[i] = rows[i] + 3;
        }
        for (uint32_t nt = 1; nt <= 20; nt += 19) {
            float *x = malloc(nt * n_in * sizeof(float));
            for (size_t i = 0; i < nt * (size_t)n_in; i++)
                x[i] = rng_normal(&r);
            void *scratch = malloc(ta_matmul_scratch_bytes(n_in, nt));
            const ta_gguf_tensor *wp[3] = {&w[0], &w[1], &w[2]};
            for (int i = 0; i < 3; i++) {
                ys[i] = calloc(nt * ld[i], sizeof(float));
                want[i] = calloc(nt * ld[i], sizeof(float));
                ta_matmul(pool, &w[i], x, n_in, want[i], ld[i], nt, scratch);
            }
            ta_matmul_multi(pool, 3, wp, ys, ld, x, n_in, nt, scratch);
            for (int i = 0; i < 3; i++) {
                for (uint32_t t = 0; t < nt; t++)
                    for (int64_t rr = 0; rr < rows[i]; rr++) {
                        float g = ys[i][t * ld[i] + rr], e = want[i][t * ld[i] + rr];
                        if (fabsf(g - e) > 1e-4f * (1 + fabsf(e)))
                            fail_msg("multi set %d matrix %d tokens %u row %lld: %g vs %g", set, i,
                                     nt, (long long)rr, (double)g, (double)e);
                    }
                free(ys[i]);
                free(want[i]);
            }
            free(x);
            free(scratch);
        }
        for (int i = 0; i < 3; i++)
            free(wd[i]);
    }
    ta_pool_free(pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemm_all_types),    cmocka_unit_test(test_quantizers_match_scalar),
        cmocka_unit_test(test_axpy_f16),          cmocka_unit_test(test_packed),
        cmocka_unit_test(test_attention_helpers), cmocka_unit_test(test_matmul_tiling),
        cmocka_unit_test(test_matmul_multi),      cmocka_unit_test(test_gemm_hh),
        cmocka_unit_test(test_gemm_bb),           cmocka_unit_test(test_matmul_bf16),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
