/*
 * matvec.h - matrix-vector products and row access for weights of any GGUF type.
 *
 * A weight matrix is a GGUF tensor with ne = [n_in, n_out]: n_out rows of n_in
 * elements, row r starting at r * row_bytes. ta_matmul computes Y[t][r] = dot(row r,
 * X[t]) for every row and every token t; ta_matvec is the one-token case (decoding).
 * The activations are converted once per call to the weight type's activation format
 * (kernels.h), then the work is cut into tiles of weight rows x tokens that the pool's
 * threads claim one at a time: each weight row is unpacked once per tile and used for
 * up to TA_GEMM_MAX_COLS tokens at once, and the tokens of a tile stay in cache while
 * its rows stream past. Threads that finish early take more tiles, so a thread slowed
 * by another process on its core does not hold the others up for long.
 */
#ifndef TA_ENGINE_MATVEC_H
#define TA_ENGINE_MATVEC_H

#include <stddef.h>
#include <stdint.h>

#include "../gguf/gguf.h"
#include "threadpool.h"

/* Bytes of scratch ta_matmul needs for n_tok tokens of up to n_in elements (aligned). */
size_t ta_matmul_scratch_bytes(size_t n_in, uint32_t n_tok);

/* Y = W X for n_tok tokens: token t reads n_in floats at x + t * ldx and writes n_out
 * floats at y + t * ldy. pool may be NULL; scratch from ta_matmul_scratch_bytes. */
void ta_matmul(ta_pool *pool, const ta_gguf_tensor *w, const float *x, size_t ldx, float *y,
               size_t ldy, uint32_t n_tok, void *scratch);

/* Several matrices with the same input (q, k, v; gate, up) in one parallel pass: the
 * activations are converted once and the threads share out the tiles of all, so a
 * decoding step synchronizes fewer times. Matrices whose activation formats differ fall
 * back to one ta_matmul each. n_w <= TA_MATMUL_MAX_MULTI. */
#define TA_MATMUL_MAX_MULTI 4
void ta_matmul_multi(ta_pool *pool, int n_w, const ta_gguf_tensor *const *w, float *const *y,
                     const size_t *ldy, const float *x, size_t ldx, uint32_t n_tok, void *scratch);

/* The one-token case. */
size_t ta_matvec_scratch_bytes(size_t n_in);
void ta_matvec(ta_pool *pool, const ta_gguf_tensor *w, const float *x, float *y, void *scratch);

/* out = row r of t as floats (t->ne[0] of them). */
void ta_row_get(float *out, const ta_gguf_tensor *t, uint64_t r);
/* out[i] = x[i] * scale * w[i] for a vector weight w (a norm). out may be x. */
void ta_row_mul(float *out, const float *x, float scale, const ta_gguf_tensor *w, uint32_t n);
/* x[i] += b[i] for a vector weight b (a bias). */
void ta_row_add(float *x, const ta_gguf_tensor *b, uint32_t n);

#endif
