/*
 * distance.c - see distance.h. The scalar kernels keep four independent sums so the
 * compiler may pipeline (and, at -O3, vectorize) them without reassociating floats.
 */
#include "distance.h"

#include <stdlib.h>
#include <string.h>

static float l2sq_f32_scalar(const float *a, const float *b, size_t n)
{
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float d0 = a[i] - b[i], d1 = a[i + 1] - b[i + 1];
        float d2 = a[i + 2] - b[i + 2], d3 = a[i + 3] - b[i + 3];
        s0 += d0 * d0;
        s1 += d1 * d1;
        s2 += d2 * d2;
        s3 += d3 * d3;
    }
    for (; i < n; i++) {
        float d = a[i] - b[i];
        s0 += d * d;
    }
    return (s0 + s1) + (s2 + s3);
}

static float dot_f32_scalar(const float *a, const float *b, size_t n)
{
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += a[i] * b[i];
        s1 += a[i + 1] * b[i + 1];
        s2 += a[i + 2] * b[i + 2];
        s3 += a[i + 3] * b[i + 3];
    }
    for (; i < n; i++)
        s0 += a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}

static int32_t dot_i8_scalar(const int8_t *a, const int8_t *b, size_t n)
{
    int32_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += (int32_t)a[i] * (int32_t)b[i];
    return s;
}

static const ta_dist_kernels scalar_set = {
    .name = "scalar",
    .l2sq_f32 = l2sq_f32_scalar,
    .dot_f32 = dot_f32_scalar,
    .dot_i8 = dot_i8_scalar,
};

const ta_dist_kernels *ta_dist_kernels_scalar(void)
{
    return &scalar_set;
}

#if defined(__x86_64__) || defined(_M_X64)
static const ta_dist_kernels avx2_set = {
    .name = "avx2",
    .l2sq_f32 = ta_dist_l2sq_f32_avx2,
    .dot_f32 = ta_dist_dot_f32_avx2,
    .dot_i8 = ta_dist_dot_i8_avx2,
    .l2sq_f32_x2 = ta_dist_l2sq_f32_x2_avx2,
    .dot_f32_x2 = ta_dist_dot_f32_x2_avx2,
};
static const ta_dist_kernels avx512_set = {
    .name = "avx512",
    .l2sq_f32 = ta_dist_l2sq_f32_avx512,
    .dot_f32 = ta_dist_dot_f32_avx512,
    .dot_i8 = ta_dist_dot_i8_avx512,
};
static const ta_dist_kernels avx512vnni_set = {
    .name = "avx512vnni",
    .l2sq_f32 = ta_dist_l2sq_f32_avx512,
    .dot_f32 = ta_dist_dot_f32_avx512,
    .dot_i8 = ta_dist_dot_i8_avx512vnni,
};
#endif

const ta_dist_kernels *ta_dist_kernels_avx2(void)
{
#if defined(__x86_64__) || defined(_M_X64)
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return &avx2_set;
#endif
    return NULL;
}

const ta_dist_kernels *ta_dist_kernels_avx512(void)
{
#if defined(TA_SIMDE_AVX512) /* tests/cross/avx512_kernels.sh: emulated, runs anywhere */
    (void)avx512_set;
    return &avx512vnni_set;
#elif defined(__x86_64__) || defined(_M_X64)
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma"))
        return __builtin_cpu_supports("avx512vnni") ? &avx512vnni_set : &avx512_set;
#endif
    return NULL;
}

const ta_dist_kernels *ta_dist_kernels_best(void)
{
    const char *want = getenv("TABAGENT_INDEX_KERNELS");
    if (want && strcmp(want, "scalar") == 0) return &scalar_set;
    const ta_dist_kernels *k = want && strcmp(want, "avx2") == 0 ? NULL : ta_dist_kernels_avx512();
    if (!k) k = ta_dist_kernels_avx2();
    return k ? k : &scalar_set;
}
