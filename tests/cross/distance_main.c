/*
 * distance_main.c - a self-contained checker for the vector index's AVX-512 distance
 * kernels (src/index/distance_avx512*.c) against the scalar ones, as
 * tests/unit/test_hnsw.c does for the sets this CPU runs. Built through SIMDe by
 * tests/cross/avx512_kernels.sh, so it runs on CPUs without AVX-512:
 *   - l2sq_f32 and dot_f32 for n = 1..515 (every tail length) within
 *     1e-5 * sum (|a b| + a^2 + b^2) + 1e-6;
 *   - dot_i8 (AVX512-BW and AVX512-VNNI) exactly, random bytes and every product at its
 *     largest with both signs, n = 1..515 and long rows up to 2^17 - 1.
 * Exits 1 on any failure.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index/distance.h"

static int n_checks, n_fail;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        n_checks++;                                                                                \
        if (!(cond) && n_fail++ < 20) {                                                            \
            printf("FAIL: ");                                                                      \
            printf(__VA_ARGS__);                                                                   \
            printf("\n");                                                                          \
        }                                                                                          \
    } while (0)

static uint64_t rng_state = 0x1234567;

static uint64_t rng_next(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

static float rng_normal(void)
{
    double u1 = ((double)(rng_next() >> 11) + 0.5) / 9007199254740992.0;
    double u2 = ((double)(rng_next() >> 11) + 0.5) / 9007199254740992.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

static void check_set(const ta_dist_kernels *k)
{
    const ta_dist_kernels *ref = ta_dist_kernels_scalar();
    enum { LONG = (1 << 17) - 1 };
    float *a = malloc(sizeof(float) * 515), *b = malloc(sizeof(float) * 515);
    int8_t *qa = malloc(LONG), *qb = malloc(LONG);
    if (!a || !b || !qa || !qb) exit(1);
    for (uint32_t n = 1; n <= 515; n++) {
        double mag = 0;
        for (uint32_t i = 0; i < n; i++) {
            a[i] = rng_normal();
            b[i] = rng_normal();
            mag += fabs((double)a[i] * b[i]) + (double)a[i] * a[i] + (double)b[i] * b[i];
        }
        double tol = 1e-5 * mag + 1e-6;
        float got = k->l2sq_f32(a, b, n), want = ref->l2sq_f32(a, b, n);
        CHECK(fabs(got - want) <= tol, "%s l2sq_f32 n=%u: %.9g, want %.9g", k->name, n, (double)got,
              (double)want);
        got = k->dot_f32(a, b, n), want = ref->dot_f32(a, b, n);
        CHECK(fabs(got - want) <= tol, "%s dot_f32 n=%u: %.9g, want %.9g", k->name, n, (double)got,
              (double)want);
        for (uint32_t i = 0; i < n; i++) {
            qa[i] = (int8_t)rng_next();
            qb[i] = (int8_t)rng_next();
        }
        int32_t gi = k->dot_i8(qa, qb, n), wi = ref->dot_i8(qa, qb, n);
        CHECK(gi == wi, "%s dot_i8 n=%u: %d, want %d", k->name, n, gi, wi);
        memset(qa, 0x80, n); /* -128 */
        memset(qb, 0x80, n);
        gi = k->dot_i8(qa, qb, n);
        CHECK(gi == (int32_t)n * 16384, "%s dot_i8 n=%u of -128 * -128: %d", k->name, n, gi);
        memset(qb, 127, n);
        gi = k->dot_i8(qa, qb, n);
        CHECK(gi == -(int32_t)n * 16256, "%s dot_i8 n=%u of -128 * 127: %d", k->name, n, gi);
    }
    uint32_t longs[] = {4096, 65535, 100003, LONG};
    for (int l = 0; l < 4; l++) {
        uint32_t n = longs[l];
        memset(qa, 0x80, n);
        memset(qb, 0x80, n);
        int32_t gi = k->dot_i8(qa, qb, n);
        CHECK(gi == (int32_t)n * 16384, "%s dot_i8 n=%u of -128 * -128: %d", k->name, n, gi);
        memset(qa, 127, n);
        gi = k->dot_i8(qa, qb, n);
        CHECK(gi == -(int32_t)n * 16256, "%s dot_i8 n=%u of 127 * -128: %d", k->name, n, gi);
        for (uint32_t i = 0; i < n; i++) {
            qa[i] = (int8_t)rng_next();
            qb[i] = (int8_t)rng_next();
        }
        int32_t wi = ref->dot_i8(qa, qb, n);
        gi = k->dot_i8(qa, qb, n);
        CHECK(gi == wi, "%s dot_i8 n=%u: %d, want %d", k->name, n, gi, wi);
    }
    free(a);
    free(b);
    free(qa);
    free(qb);
    printf("distance set %s: l2sq_f32 dot_f32 dot_i8\n", k->name);
}

int main(void)
{
    const ta_dist_kernels avx512 = {.name = "avx512",
                                    .l2sq_f32 = ta_dist_l2sq_f32_avx512,
                                    .dot_f32 = ta_dist_dot_f32_avx512,
                                    .dot_i8 = ta_dist_dot_i8_avx512};
    const ta_dist_kernels vnni = {.name = "avx512vnni",
                                  .l2sq_f32 = ta_dist_l2sq_f32_avx512,
                                  .dot_f32 = ta_dist_dot_f32_avx512,
                                  .dot_i8 = ta_dist_dot_i8_avx512vnni};
    const ta_dist_kernels *chosen = ta_dist_kernels_avx512();
    printf("ta_dist_kernels_avx512(): %s; best: %s\n", chosen ? chosen->name : "none",
           ta_dist_kernels_best()->name);
    CHECK(chosen != NULL, "ta_dist_kernels_avx512() is NULL in the emulated build");
    check_set(&avx512);
    check_set(&vnni);
    if (chosen) check_set(chosen);
    printf("%s: %d checks, %d failed\n", n_fail ? "FAILED" : "OK", n_checks, n_fail);
    return n_fail ? 1 : 0;
}
