/*
 * ggml_types.h - the tensor element types of the GGUF format, with the numbers GGUF
 * files use and each type's block layout (elements per block, bytes per block).
 *
 * This is the one table both the GGUF reader (to size and validate tensors) and the
 * engine (to pick kernels) use. Types the project does not compute with are still
 * known by name and size, so a file using them gets a clear "unsupported type" error
 * instead of "corrupt file".
 */
#ifndef TA_GGUF_GGML_TYPES_H
#define TA_GGUF_GGML_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    TA_TYPE_F32 = 0,
    TA_TYPE_F16 = 1,
    TA_TYPE_Q4_0 = 2,
    TA_TYPE_Q4_1 = 3,
    /* 4 and 5 were Q4_2 and Q4_3, removed from the format */
    TA_TYPE_Q5_0 = 6,
    TA_TYPE_Q5_1 = 7,
    TA_TYPE_Q8_0 = 8,
    TA_TYPE_Q8_1 = 9,
    TA_TYPE_Q2_K = 10,
    TA_TYPE_Q3_K = 11,
    TA_TYPE_Q4_K = 12,
    TA_TYPE_Q5_K = 13,
    TA_TYPE_Q6_K = 14,
    TA_TYPE_Q8_K = 15,
    TA_TYPE_IQ2_XXS = 16,
    TA_TYPE_IQ2_XS = 17,
    TA_TYPE_IQ3_XXS = 18,
    TA_TYPE_IQ1_S = 19,
    TA_TYPE_IQ4_NL = 20,
    TA_TYPE_IQ3_S = 21,
    TA_TYPE_IQ2_S = 22,
    TA_TYPE_IQ4_XS = 23,
    TA_TYPE_I8 = 24,
    TA_TYPE_I16 = 25,
    TA_TYPE_I32 = 26,
    TA_TYPE_I64 = 27,
    TA_TYPE_F64 = 28,
    TA_TYPE_IQ1_M = 29,
    TA_TYPE_BF16 = 30,
    TA_TYPE_TQ1_0 = 34,
    TA_TYPE_TQ2_0 = 35,
    TA_TYPE_COUNT = 40, /* upper bound for tables indexed by type */
} ta_type;

#define TA_QK_K 256 /* super-block size of the K-quants */

typedef struct ta_type_traits {
    const char *name;     /* "Q4_K" */
    uint32_t block_elems; /* elements per block (1 for plain types) */
    uint32_t block_bytes; /* bytes per block; 0 = unknown type */
    bool supported;       /* the engine can compute with it */
} ta_type_traits;

/* Traits of a type; name NULL and block_bytes 0 for numbers no type has. */
const ta_type_traits *ta_type_get(uint32_t type);

/* Bytes for n elements of type, or 0 when n is not a whole number of blocks or the
 * type is unknown. Overflow-safe: returns 0 when the size does not fit in size_t. */
size_t ta_type_row_bytes(uint32_t type, uint64_t n);

/* Parses "Q4_K", "q8_0", "F16" ...; returns -1 when unknown. */
int ta_type_parse(const char *name);

#endif
