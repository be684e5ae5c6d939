/*
 * kernels.c - see kernels.h: the scalar set (the reference dot products, one column
 * at a time) and the choice of set for this CPU.
 */
#include "kernels.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#endif
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kernels_impl.h"
#include "quant_internal.h"

/* ---- scalar ---- */

#define SCALAR_GEMM(name, ref)                                                                     \
    static void name(int64_t n, const void *w, const void *a, size_t as, int nc, float *out)       \
    {                                                                                              \
        for (int c = 0; c < nc; c++)                                                               \
            out[c] = ref(n, w, (const uint8_t *)a + (size_t)c * as);                               \
    }

SCALAR_GEMM(gemm_f32, ta_vec_dot_f32_f32)
SCALAR_GEMM(gemm_f16, ta_vec_dot_f16_f16)
SCALAR_GEMM(gemm_f16_f32, ta_vec_dot_f16_f32)
SCALAR_GEMM(gemm_bf16, ta_vec_dot_bf16_f32)
SCALAR_GEMM(gemm_q4_0, ta_vec_dot_q4_0_q8_0)
SCALAR_GEMM(gemm_q4_1, ta_vec_dot_q4_1_q8_0)
SCALAR_GEMM(gemm_q5_0, ta_vec_dot_q5_0_q8_0)
SCALAR_GEMM(gemm_q5_1, ta_vec_dot_q5_1_q8_0)
SCALAR_GEMM(gemm_q8_0, ta_vec_dot_q8_0_q8_0)
SCALAR_GEMM(gemm_q2_K, ta_vec_dot_q2_K_q8_K)
SCALAR_GEMM(gemm_q3_K, ta_vec_dot_q3_K_q8_K)
SCALAR_GEMM(gemm_q4_K, ta_vec_dot_q4_K_q8_K)
SCALAR_GEMM(gemm_q5_K, ta_vec_dot_q5_K_q8_K)
SCALAR_GEMM(gemm_q6_K, ta_vec_dot_q6_K_q8_K)

static void axpy_f16_scalar(int64_t n, float a, const ta_f16 *x, float *y)
{
    for (int64_t i = 0; i < n; i++)
        y[i] += a * ta_f16_to_f32(x[i]);
}

static void wsum_f16_scalar(int64_t n_pos, int64_t hd, const ta_f16 *v, size_t lv, const float *w,
                            size_t lw, int nq, float *out, size_t lo)
{
    for (int i = 0; i < nq; i++) {
        float *o = out + (size_t)i * lo;
        memset(o, 0, (size_t)hd * sizeof(float));
        for (int64_t t = 0; t < n_pos; t++)
            axpy_f16_scalar(hd, w[(size_t)i * lw + (size_t)t], v + (size_t)t * lv, o);
    }
}

static float exp_sum_scalar(int64_t n, float *x, float max)
{
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    return sum;
}

static void silu_mul_scalar(int64_t n, float *g, const float *u)
{
    for (int64_t i = 0; i < n; i++)
        g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

static void quantize_q8_0s_scalar(const float *x, void *dst, int64_t n)
{
    ta_block_q8_0s *b = dst;
    for (int64_t ib = 0; ib < n / TA_QK; ib++) {
        ta_block_q8_0 q;
        ta_quantize_row_q8_0(x + ib * TA_QK, &q, TA_QK);
        int sum = 0;
        for (int i = 0; i < TA_QK; i++)
            sum += q.qs[i];
        b[ib].d = q.d;
        b[ib].sum = (int16_t)sum;
        memcpy(b[ib].qs, q.qs, TA_QK);
    }
}

static const ta_kernels scalar_set = {
    .name = "scalar",
    .gemm =
        {
            [TA_TYPE_F32] = gemm_f32,
            [TA_TYPE_F16] = gemm_f16,
            [TA_TYPE_BF16] = gemm_bf16,
            [TA_TYPE_Q4_0] = gemm_q4_0,
            [TA_TYPE_Q4_1] = gemm_q4_1,
            [TA_TYPE_Q5_0] = gemm_q5_0,
            [TA_TYPE_Q5_1] = gemm_q5_1,
            [TA_TYPE_Q8_0] = gemm_q8_0,
            [TA_TYPE_Q2_K] = gemm_q2_K,
            [TA_TYPE_Q3_K] = gemm_q3_K,
            [TA_TYPE_Q4_K] = gemm_q4_K,
            [TA_TYPE_Q5_K] = gemm_q5_K,
            [TA_TYPE_Q6_K] = gemm_q6_K,
        },
    .quantize =
        {
            [TA_TYPE_F32] = ta_quantize_row_f32,
            [TA_TYPE_F16] = ta_quantize_row_f16,
            [TA_TYPE_BF16] = ta_quantize_row_bf16,
            [TA_TYPE_Q8_0] = ta_quantize_row_q8_0,
            [TA_TYPE_Q8_K] = ta_quantize_row_q8_K,
        },
    .quantize_q8_0s = quantize_q8_0s_scalar,
    .gemm_f16_f32 = gemm_f16_f32,
    .axpy_f16 = axpy_f16_scalar,
    .wsum_f16 = wsum_f16_scalar,
    .exp_sum = exp_sum_scalar,
    .silu_mul = silu_mul_scalar,
};

/* ---- choice ---- */

/* A SIMD set as its file defines it, completed with scalar kernels where it has none. */
static ta_kernels avx2_full, avx512_full, avx512vnni_full, avx512bf16_full, neon_full;
static bool avx2_ok, avx512_ok, avx512vnni_ok, avx512bf16_ok, neon_ok;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static const ta_kernels *best;

static const ta_kernels *find(const char *name);

static void complete(ta_kernels *k)
{
    for (int t = 0; t < TA_TYPE_COUNT; t++) {
        if (!k->gemm[t]) k->gemm[t] = scalar_set.gemm[t];
        if (!k->quantize[t]) k->quantize[t] = scalar_set.quantize[t];
    }
    if (!k->gemm_f16_f32) k->gemm_f16_f32 = scalar_set.gemm_f16_f32;
    if (!k->axpy_f16) k->axpy_f16 = scalar_set.axpy_f16;
    if (!k->quantize_q8_0s) k->quantize_q8_0s = scalar_set.quantize_q8_0s;
    if (!k->wsum_f16) k->wsum_f16 = scalar_set.wsum_f16;
    if (!k->exp_sum) k->exp_sum = scalar_set.exp_sum;
    if (!k->silu_mul) k->silu_mul = scalar_set.silu_mul;
    /* gemm_bb stays NULL where the set has none: BF16 weights then take F32 activations */
}

#if TA_KERNELS_X86 && !defined(TA_SIMDE_AVX512)
/* AVX512_BF16 (CPUID leaf 7, sub-leaf 1, EAX bit 5). GCC 12 and clang 14 know it by
 * name; older compilers reject the name, so they ask CPUID themselves (the OS's
 * AVX-512 state is checked with avx512f). */
static bool cpu_has_avx512bf16(void)
{
#if (defined(__clang__) && __clang_major__ >= 14) || (!defined(__clang__) && __GNUC__ >= 12)
    return __builtin_cpu_supports("avx512bf16");
#else
    unsigned a, b, c, d;
    return __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a & (1u << 5));
#endif
}
#endif

static void init(void)
{
    best = &scalar_set;
#if TA_KERNELS_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        ta_kernels_avx2_fill(&avx2_full);
        complete(&avx2_full);
        avx2_ok = true;
        best = &avx2_full;
    }
    /* AVX-512 sets: the AVX2 set with the kernels the AVX-512 files have. TA_SIMDE_AVX512
     * is the emulated build of tests/cross/avx512_kernels.sh, which runs anywhere. */
#if defined(TA_SIMDE_AVX512)
    const bool has512 = avx2_ok, has_vnni = avx2_ok, has_bf16 = avx2_ok;
#else
    const bool has512 = avx2_ok && __builtin_cpu_supports("avx512f") &&
                        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
    const bool has_vnni = has512 && __builtin_cpu_supports("avx512vnni");
    const bool has_bf16 = has_vnni && cpu_has_avx512bf16();
#endif
    if (has512) {
        ta_kernels_avx2_fill(&avx512_full);
        ta_kernels_avx512_fill(&avx512_full);
        complete(&avx512_full);
        avx512_ok = true;
        best = &avx512_full;
    }
    if (has_vnni) {
        ta_kernels_avx2_fill(&avx512vnni_full);
        ta_kernels_avx512vnni_fill(&avx512vnni_full);
        complete(&avx512vnni_full);
        avx512vnni_ok = true;
        best = &avx512vnni_full;
    }
    if (has_bf16) { /* the VNNI set plus BF16 */
        ta_kernels_avx2_fill(&avx512bf16_full);
        ta_kernels_avx512bf16_fill(&avx512bf16_full);
        complete(&avx512bf16_full);
        avx512bf16_ok = true;
        best = &avx512bf16_full;
    }
#endif
#if TA_KERNELS_NEON
    ta_kernels_neon_fill(&neon_full);
    complete(&neon_full);
    neon_ok = true;
    best = &neon_full;
#endif
    const char *want = getenv("TABAGENT_KERNELS");
    if (want && *want) {
        /* find, not ta_kernels_by_name: that would wait for the pthread_once this
         * runs under, forever */
        const ta_kernels *k = find(want);
        if (k) best = k;
    }
}

/* The set called name, once init has run. */
static const ta_kernels *find(const char *name)
{
    if (!strcmp(name, "scalar")) return &scalar_set;
    if (!strcmp(name, "avx2") && avx2_ok) return &avx2_full;
    if (!strcmp(name, "avx512") && avx512_ok) return &avx512_full;
    if (!strcmp(name, "avx512vnni") && avx512vnni_ok) return &avx512vnni_full;
    if (!strcmp(name, "avx512bf16") && avx512bf16_ok) return &avx512bf16_full;
    if (!strcmp(name, "neon") && neon_ok) return &neon_full;
    return NULL;
}

const ta_kernels *ta_kernels_by_name(const char *name)
{
    pthread_once(&init_once, init);
    return find(name);
}

const ta_kernels *ta_kernels_best(void)
{
    pthread_once(&init_once, init);
    return best;
}

const char *const *ta_kernels_names(void)
{
    static const char *const names[] = {
        "scalar",
#if TA_KERNELS_X86
        "avx2",
        "avx512",
        "avx512vnni",
        "avx512bf16",
#endif
#if TA_KERNELS_NEON
        "neon",
#endif
        NULL
    };
    return names;
}
