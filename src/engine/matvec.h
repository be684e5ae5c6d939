/*
 * matvec.h - matrix-vector products and row access for weights of any GGUF type.
 *
 * A weight matrix is a GGUF tensor with ne = [n_in, n_out]: n_out rows of n_in
 * elements, row r starting at r * row_bytes. ta_matvec computes y[r] = dot(row r, x)
 * for every row, split across the pool's threads. Quantized weights are multiplied
 * against the activations quantized once per call to the weight type's activation
 * format, through the quant module's reference dot products.
 */
#ifndef TA_ENGINE_MATVEC_H
#define TA_ENGINE_MATVEC_H

#include <stddef.h>
#include <stdint.h>

#include "../gguf/gguf.h"
#include "threadpool.h"

/* Bytes of scratch a matvec needs for activations of up to n_in elements. */
size_t ta_matvec_scratch_bytes(size_t n_in);

/* y = W x; pool may be NULL; scratch from ta_matvec_scratch_bytes. */
void ta_matvec(ta_pool *pool, const ta_gguf_tensor *w, const float *x, float *y, void *scratch);

/* out = row r of t as floats (t->ne[0] of them). */
void ta_row_get(float *out, const ta_gguf_tensor *t, uint64_t r);
/* out[i] = x[i] * scale * w[i] for a vector weight w (a norm). out may be x. */
void ta_row_mul(float *out, const float *x, float scale, const ta_gguf_tensor *w, uint32_t n);
/* x[i] += b[i] for a vector weight b (a bias). */
void ta_row_add(float *x, const ta_gguf_tensor *b, uint32_t n);

#endif
