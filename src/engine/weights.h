/*
 * weights.h - finding a model's weight tensors by name and checking their shapes and
 * types, with errors that name the tensor ("blk.3.attn_k.weight: expected shape
 * [64, 32], got [32, 64]"). Shared by the decoder (model.c) and encoder (encoder.c)
 * loaders.
 */
#ifndef TA_ENGINE_WEIGHTS_H
#define TA_ENGINE_WEIGHTS_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/error.h"
#include "../gguf/gguf.h"

/* ne1 for a matrix whose row count is not fixed (embedding tables checked elsewhere). */
#define TA_ANY_ROWS UINT64_MAX

/* Finds tensor `name` into *out and checks it: ne1 == 0 means a vector of ne0 elements
 * (which must be F32, F16 or BF16); otherwise a matrix of ne1 rows of ne0. A missing
 * tensor is an error only when required (then *out is NULL). The type must be one the
 * engine computes with. */
int ta_weight_check(const ta_gguf *g, const char *name, uint64_t ne0, uint64_t ne1, bool required,
                    const ta_gguf_tensor **out, ta_error *err);

#endif
