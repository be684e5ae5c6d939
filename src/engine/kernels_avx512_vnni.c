/*
 * kernels_avx512_vnni.c - the AVX-512 set again (kernels_avx512.c) with AVX512-VNNI:
 * vpdpbusd for the unsigned x signed byte dot products and vpdpwssd for the int16 ones.
 * Built with -mavx512vnni added (CMakeLists.txt); kernels.c calls in only after CPUID
 * says the CPU has it.
 */
#define TA_AVX512_VNNI 1
#include "kernels_avx512.c"
