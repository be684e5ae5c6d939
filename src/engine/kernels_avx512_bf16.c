/*
 * kernels_avx512_bf16.c - the AVX-512 VNNI set again (kernels_avx512.c,
 * kernels_avx512_vnni.c) with AVX512_BF16: vdpbf16ps for BF16 weights against BF16
 * activations in prompts (gemm_bb) and the BF16 activation quantizer. Built with
 * -mavx512vnni -mavx512bf16 added (CMakeLists.txt); kernels.c calls in only after CPUID
 * says the CPU has both.
 */
#define TA_AVX512_VNNI 1
#define TA_AVX512_BF16 1
#include "kernels_avx512.c"
