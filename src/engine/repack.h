/*
 * repack.h - weights rearranged at load time for the kernels that want them so.
 *
 * A Q4_0, Q5_0 or Q8_0 matrix whose row count is a multiple of 8 can be stored as groups of
 * 8 rows interleaved block by block: the 8 rows' F16 scales side by side, then their
 * quants 4 bytes per row at a time (kernels.h, ta_pack). One 32-byte load then holds 4
 * consecutive elements of each of the 8 rows, one row per 32-bit lane, and a dot
 * product against a broadcast activation word computes 8 rows at once with no
 * horizontal sums; llama.cpp does the same for Q4_0. The 32-element types keep their
 * bytes, so the packed copy has the file's size; Q4_K's 6-bit scales are stored
 * decoded (2.8% more); the original pages are released from this
 * process once copied (they stay in the page cache). Repacking is skipped when the
 * kernel set has no kernel for the packing, or TABAGENT_REPACK=0.
 */
#ifndef TA_ENGINE_REPACK_H
#define TA_ENGINE_REPACK_H

#include <stdbool.h>
#include <stddef.h>

#include "../core/error.h"
#include "../gguf/gguf.h"
#include "kernels.h"

/* The packing a weight of this type and shape would get from this kernel set, or -1. */
int ta_repack_choice(const ta_kernels *k, const ta_gguf_tensor *t);

/* Writes the packed copy of t (a packing from ta_repack_choice) to dst, which holds
 * ta_packed_group_bytes * rows / 8 bytes, and sets *out to describe it (type TA_PACKED_TYPE + pack,
 * data dst). */
void ta_repack(const ta_gguf_tensor *t, int pack, void *dst, ta_gguf_tensor *out);

/* Packs only the groups of 8 rows [g_begin, g_end) (for splitting the work). */
void ta_repack_groups(const ta_gguf_tensor *t, int pack, void *dst, uint64_t g_begin,
                      uint64_t g_end);

/* Bytes of one packed group of 8 rows of n_in elements. */
size_t ta_packed_group_bytes(int pack, uint64_t n_in);

/* The file type a packed tensor's rows have (Q4_0, Q5_0, Q8_0, Q4_K). */
uint32_t ta_packed_base_type(uint32_t packed_type);

/* The rows of a packed group as plain rows of the original type (for tests): rows
 * 8g .. 8g+7 to dst, 8 * row_bytes bytes. */
void ta_unpack_group(const ta_gguf_tensor *packed, uint64_t g, void *dst);

#endif
