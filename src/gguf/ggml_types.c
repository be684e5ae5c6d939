/*
 * ggml_types.c - the block layouts of the GGUF tensor types (see ggml_types.h). The
 * sizes are those of the on-disk formats; the engine's quant module documents each
 * layout field by field.
 */
#include "ggml_types.h"

#include <strings.h>

static const ta_type_traits traits[TA_TYPE_COUNT] = {
    [TA_TYPE_F32] = {"F32", 1, 4, true},
    [TA_TYPE_F16] = {"F16", 1, 2, true},
    [TA_TYPE_BF16] = {"BF16", 1, 2, true},
    [TA_TYPE_Q4_0] = {"Q4_0", 32, 2 + 16, true},
    [TA_TYPE_Q4_1] = {"Q4_1", 32, 2 + 2 + 16, true},
    [TA_TYPE_Q5_0] = {"Q5_0", 32, 2 + 4 + 16, true},
    [TA_TYPE_Q5_1] = {"Q5_1", 32, 2 + 2 + 4 + 16, true},
    [TA_TYPE_Q8_0] = {"Q8_0", 32, 2 + 32, true},
    [TA_TYPE_Q8_1] = {"Q8_1", 32, 2 + 2 + 32, false},
    [TA_TYPE_Q2_K] = {"Q2_K", TA_QK_K, TA_QK_K / 16 + TA_QK_K / 4 + 2 + 2, true},
    [TA_TYPE_Q3_K] = {"Q3_K", TA_QK_K, TA_QK_K / 8 + TA_QK_K / 4 + 12 + 2, true},
    [TA_TYPE_Q4_K] = {"Q4_K", TA_QK_K, 2 + 2 + 12 + TA_QK_K / 2, true},
    [TA_TYPE_Q5_K] = {"Q5_K", TA_QK_K, 2 + 2 + 12 + TA_QK_K / 8 + TA_QK_K / 2, true},
    [TA_TYPE_Q6_K] = {"Q6_K", TA_QK_K, TA_QK_K / 2 + TA_QK_K / 4 + TA_QK_K / 16 + 2, true},
    [TA_TYPE_Q8_K] = {"Q8_K", TA_QK_K, 4 + TA_QK_K + TA_QK_K / 16 * 2, false},
    [TA_TYPE_IQ2_XXS] = {"IQ2_XXS", TA_QK_K, 2 + TA_QK_K / 8 * 2, false},
    [TA_TYPE_IQ2_XS] = {"IQ2_XS", TA_QK_K, 2 + TA_QK_K / 8 * 2 + TA_QK_K / 32, false},
    [TA_TYPE_IQ3_XXS] = {"IQ3_XXS", TA_QK_K, 2 + TA_QK_K / 4 + TA_QK_K / 8, false},
    [TA_TYPE_IQ1_S] = {"IQ1_S", TA_QK_K, 2 + TA_QK_K / 8 + TA_QK_K / 16, false},
    [TA_TYPE_IQ4_NL] = {"IQ4_NL", 32, 2 + 16, false},
    [TA_TYPE_IQ3_S] = {"IQ3_S", TA_QK_K,
                       2 + TA_QK_K / 4 + TA_QK_K / 32 + TA_QK_K / 8 + TA_QK_K / 64, false},
    [TA_TYPE_IQ2_S] = {"IQ2_S", TA_QK_K, 2 + TA_QK_K / 4 + TA_QK_K / 16, false},
    [TA_TYPE_IQ4_XS] = {"IQ4_XS", TA_QK_K, 2 + 2 + TA_QK_K / 64 + TA_QK_K / 2, false},
    [TA_TYPE_I8] = {"I8", 1, 1, false},
    [TA_TYPE_I16] = {"I16", 1, 2, false},
    [TA_TYPE_I32] = {"I32", 1, 4, false},
    [TA_TYPE_I64] = {"I64", 1, 8, false},
    [TA_TYPE_F64] = {"F64", 1, 8, false},
    [TA_TYPE_IQ1_M] = {"IQ1_M", TA_QK_K, TA_QK_K / 8 + TA_QK_K / 16 + TA_QK_K / 32, false},
    [TA_TYPE_TQ1_0] = {"TQ1_0", TA_QK_K, (TA_QK_K - 4 * TA_QK_K / 64) / 5 + TA_QK_K / 64 + 2,
                       false},
    [TA_TYPE_TQ2_0] = {"TQ2_0", TA_QK_K, 2 + TA_QK_K / 4, false},
};

static const ta_type_traits unknown = {NULL, 1, 0, false};

const ta_type_traits *ta_type_get(uint32_t type)
{
    if (type >= TA_TYPE_COUNT || !traits[type].name) return &unknown;
    return &traits[type];
}

size_t ta_type_row_bytes(uint32_t type, uint64_t n)
{
    const ta_type_traits *t = ta_type_get(type);
    if (!t->block_bytes || n % t->block_elems) return 0;
    uint64_t blocks = n / t->block_elems;
    if (blocks > SIZE_MAX / t->block_bytes) return 0;
    return (size_t)(blocks * t->block_bytes);
}

int ta_type_parse(const char *name)
{
    for (int i = 0; i < TA_TYPE_COUNT; i++)
        if (traits[i].name && !strcasecmp(traits[i].name, name)) return i;
    return -1;
}
