/*
 * kernels_impl.h - what the SIMD kernel files give kernels.c: a function per set that
 * fills in the kernels it has (the rest stay NULL and fall back to scalar).
 */
#ifndef TA_ENGINE_KERNELS_IMPL_H
#define TA_ENGINE_KERNELS_IMPL_H

#include "kernels.h"

#if defined(__x86_64__) || defined(_M_X64)
#define TA_KERNELS_X86 1
/* kernels_avx2*.c, compiled with -mavx2 -mfma -mf16c; call only when CPUID has them. */
void ta_kernels_avx2_fill(ta_kernels *k);
void ta_kernels_avx2_fill_k(ta_kernels *k);
void ta_kernels_avx2_fill_more(ta_kernels *k);
/* kernels_avx512*.c, compiled with -mavx512f -mavx512bw -mavx512vl -mfma -mf16c (and
 * -mavx512vnni, and -mavx512bf16); call only when CPUID has them. They fill in only the
 * kernels they have, over a set already filled by ta_kernels_avx2_fill, and set its name. */
void ta_kernels_avx512_fill(ta_kernels *k);
void ta_kernels_avx512vnni_fill(ta_kernels *k);
void ta_kernels_avx512bf16_fill(ta_kernels *k);
#else
#define TA_KERNELS_X86 0
#endif

#if defined(__aarch64__)
#define TA_KERNELS_NEON 1
/* kernels_neon*.c: Advanced SIMD, which every AArch64 CPU has. */
void ta_kernels_neon_fill(ta_kernels *k);
#else
#define TA_KERNELS_NEON 0
#endif

#endif
