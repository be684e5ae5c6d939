/*
 * quant_blocks.h - the on-disk block layouts of the quantized GGUF tensor types.
 *
 * A quantized row is an array of blocks; each block encodes a fixed number of
 * consecutive elements (32, or a "super-block" of 256 for the K-quants) with a few
 * scales and packed small integers. These structs are byte-for-byte the layouts that
 * llama.cpp writes into GGUF files, so tensors are used in place from the mapping.
 * Multi-byte fields are little-endian (the project builds only for little-endian
 * hosts); F16 scales are raw IEEE half bit patterns (see f16.h). No struct has padding
 * (every field is a byte array or a 16-bit value at an even offset, and only Q8_K,
 * which never lives in a file, has a float); the static_asserts at the bottom check the
 * sizes against the type table in gguf/ggml_types.c.
 *
 * Element order inside a block is the subtle part of each format, so every struct
 * says where element i of its block lives. "lo(b)" is b & 15, "hi(b)" is b >> 4.
 */
#ifndef TA_ENGINE_QUANT_BLOCKS_H
#define TA_ENGINE_QUANT_BLOCKS_H

#include <assert.h>
#include <stdint.h>

#include "../gguf/ggml_types.h"
#include "f16.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "GGUF tensor data is little-endian; big-endian hosts are not supported"
#endif

/* Elements per block of the 32-element types; the K-quant super-block size TA_QK_K
 * (256) comes from ggml_types.h. */
#define TA_QK 32

/* Q4_0: x = d * (q - 8), q in 0..15.
 * Element i < 16 is lo(qs[i]); element i >= 16 is hi(qs[i - 16]). 18 bytes. */
typedef struct {
    ta_f16 d;
    uint8_t qs[TA_QK / 2];
} ta_block_q4_0;

/* Q4_1: x = d * q + m, q in 0..15; nibble order as Q4_0. 20 bytes. */
typedef struct {
    ta_f16 d;
    ta_f16 m;
    uint8_t qs[TA_QK / 2];
} ta_block_q4_1;

/* Q5_0: x = d * (q - 16), q in 0..31. The low 4 bits are nibbles as in Q4_0; the
 * fifth bit of element i is bit i of qh read as a little-endian uint32. 22 bytes. */
typedef struct {
    ta_f16 d;
    uint8_t qh[4];
    uint8_t qs[TA_QK / 2];
} ta_block_q5_0;

/* Q5_1: x = d * q + m, q in 0..31; bits as Q5_0. 24 bytes. */
typedef struct {
    ta_f16 d;
    ta_f16 m;
    uint8_t qh[4];
    uint8_t qs[TA_QK / 2];
} ta_block_q5_1;

/* Q8_0: x = d * q, q in -128..127 (the quantizers use -127..127), in order. 34 bytes.
 * Also the activation type the 32-element weight types are multiplied with. */
typedef struct {
    ta_f16 d;
    int8_t qs[TA_QK];
} ta_block_q8_0;

/*
 * K-quants: a super-block of 256 elements split into sub-blocks of 16 or 32, each
 * with its own small integer scale (and min), which are themselves quantized against
 * one or two F16 super-block scales.
 *
 * Several of them pack 2-bit fields "in 128-element halves": within half h (elements
 * 128h .. 128h+127), element 128h + 32k + l (k = 0..3, l = 0..31) keeps its 2 bits in
 * byte [32h + l] of the 64-byte array, at bit position 2k.
 */

/* Q2_K: 16 sub-blocks of 16. x = d * sc * q - dmin * m, q in 0..3, where
 * scales[j] = sc | m << 4 (4 bits each) for sub-block j (elements 16j .. 16j+15).
 * q is packed in 128-element halves (above). 84 bytes. */
typedef struct {
    uint8_t scales[TA_QK_K / 16];
    uint8_t qs[TA_QK_K / 4];
    ta_f16 d;
    ta_f16 dmin;
} ta_block_q2_K;

/* Q3_K: 16 sub-blocks of 16. x = d * (s - 32) * (q - 4), s a 6-bit scale, q in 0..7.
 * Low 2 bits of q are packed in 128-element halves (above); bit 2 of element e is
 * bit e / 32 of hmask[e % 32].
 * The 16 scales s[j] (12 bytes): lo(scales[j]) = s[j] & 15 and hi(scales[j]) =
 * s[j + 8] & 15 for j < 8; the top 2 bits of s[j] are at bit 2 * (j / 4) of
 * scales[8 + j % 4]. 110 bytes. */
typedef struct {
    uint8_t hmask[TA_QK_K / 8];
    uint8_t qs[TA_QK_K / 4];
    uint8_t scales[12];
    ta_f16 d;
} ta_block_q3_K;

/* The 12-byte field of Q4_K and Q5_K: 8 pairs of 6-bit (scale, min) for the 8
 * sub-blocks of 32. For j < 4: scale = scales[j] & 63, min = scales[j + 4] & 63.
 * For j >= 4: scale = lo(scales[j + 4]) | (scales[j - 4] >> 6) << 4,
 *             min   = hi(scales[j + 4]) | (scales[j] >> 6) << 4. */
#define TA_K_SCALE_SIZE 12

/* Q4_K: 8 sub-blocks of 32. x = d * sc * q - dmin * m, q in 0..15. Elements come in
 * 64-element chunks c = 0..3: element 64c + l is lo(qs[32c + l]) and element
 * 64c + 32 + l is hi(qs[32c + l]) (l = 0..31). 144 bytes. */
typedef struct {
    ta_f16 d;
    ta_f16 dmin;
    uint8_t scales[TA_K_SCALE_SIZE];
    uint8_t qs[TA_QK_K / 2];
} ta_block_q4_K;

/* Q5_K: as Q4_K with q in 0..31; bit 4 of element e is bit e / 32 of qh[e % 32].
 * 176 bytes. */
typedef struct {
    ta_f16 d;
    ta_f16 dmin;
    uint8_t scales[TA_K_SCALE_SIZE];
    uint8_t qh[TA_QK_K / 8];
    uint8_t qs[TA_QK_K / 2];
} ta_block_q5_K;

/* Q6_K: 16 sub-blocks of 16. x = d * scales[j] * (q - 32), q in 0..63, scales signed.
 * In half h, element 128h + 32k + l has its low 4 bits in ql[64h + 32(k & 1) + l]
 * (low nibble for k < 2, high nibble for k >= 2) and its top 2 bits at bit 2k of
 * qh[32h + l]. 210 bytes. */
typedef struct {
    uint8_t ql[TA_QK_K / 2];
    uint8_t qh[TA_QK_K / 4];
    int8_t scales[TA_QK_K / 16];
    ta_f16 d;
} ta_block_q6_K;

/* Q8_K: the activation type of the K-quant dot products; never stored in files.
 * x = d * q with a float d; bsums[j] = the sum of qs[16j .. 16j+15], which lets a dot
 * product apply the sub-block mins without touching the activations again. 292 bytes. */
typedef struct {
    float d;
    int8_t qs[TA_QK_K];
    int16_t bsums[TA_QK_K / 16];
} ta_block_q8_K;

/* The sizes must be those of the type table (gguf/ggml_types.c). */
static_assert(sizeof(ta_block_q4_0) == 18, "Q4_0 block size");
static_assert(sizeof(ta_block_q4_1) == 20, "Q4_1 block size");
static_assert(sizeof(ta_block_q5_0) == 22, "Q5_0 block size");
static_assert(sizeof(ta_block_q5_1) == 24, "Q5_1 block size");
static_assert(sizeof(ta_block_q8_0) == 34, "Q8_0 block size");
static_assert(sizeof(ta_block_q2_K) == 84, "Q2_K block size");
static_assert(sizeof(ta_block_q3_K) == 110, "Q3_K block size");
static_assert(sizeof(ta_block_q4_K) == 144, "Q4_K block size");
static_assert(sizeof(ta_block_q5_K) == 176, "Q5_K block size");
static_assert(sizeof(ta_block_q6_K) == 210, "Q6_K block size");
static_assert(sizeof(ta_block_q8_K) == 292, "Q8_K block size");

#endif
