/*
 * matvec.c - see matvec.h. Plain C over the quant module's reference dot products: the
 * SIMD kernels of the speed issue replace them, and are tested against them.
 */
#include "matvec.h"

#include <string.h>

#include "quant.h"

size_t ta_matvec_scratch_bytes(size_t n_in)
{
    /* The widest activation format is F32 (4 bytes per element); Q8_0 and Q8_K are
     * smaller. Rounded up to a block so quantizers never write past the end. */
    return (n_in + TA_QK_K) * sizeof(float);
}

typedef struct mv_job {
    const ta_gguf_tensor *w;
    ta_vec_dot_fn dot;
    const void *act; /* x in the weight type's activation format */
    float *y;
    size_t row_bytes;
} mv_job;

static void mv_rows(void *arg, int64_t begin, int64_t end)
{
    mv_job *j = arg;
    int64_t n = (int64_t)j->w->ne[0];
    const uint8_t *base = j->w->data;
    for (int64_t r = begin; r < end; r++)
        j->y[r] = j->dot(n, base + (size_t)r * j->row_bytes, j->act);
}

void ta_matvec(ta_pool *pool, const ta_gguf_tensor *w, const float *x, float *y, void *scratch)
{
    const ta_quant_ops *ops = ta_quant_ops_get(w->type);
    int64_t n = (int64_t)w->ne[0];
    const void *act = x;
    if (ops->vec_dot_type != TA_TYPE_F32) {
        /* Quantize the activations once; every row's dot product reuses them. */
        ta_quant_ops_get(ops->vec_dot_type)->quantize_row(x, scratch, n);
        act = scratch;
    }
    mv_job j = {w, ops->vec_dot_ref, act, y, ta_type_row_bytes(w->type, w->ne[0])};
    int64_t rows = (int64_t)(w->n_elems / w->ne[0]);
    if (pool)
        ta_pool_for(pool, rows, mv_rows, &j);
    else
        mv_rows(&j, 0, rows);
}

void ta_row_get(float *out, const ta_gguf_tensor *t, uint64_t r)
{
    uint64_t n = t->ne[0];
    const uint8_t *row = (const uint8_t *)t->data + r * ta_type_row_bytes(t->type, n);
    ta_quant_ops_get(t->type)->dequantize_row(row, out, (int64_t)n);
}

/* Vector weights (norms, biases) are small; they are converted in slices. */
#define SLICE 256

void ta_row_mul(float *out, const float *x, float scale, const ta_gguf_tensor *w, uint32_t n)
{
    if (w->type == TA_TYPE_F32) {
        const float *wf = w->data;
        for (uint32_t i = 0; i < n; i++)
            out[i] = x[i] * scale * wf[i];
        return;
    }
    float tmp[SLICE];
    ta_dequantize_row_fn deq = ta_quant_ops_get(w->type)->dequantize_row;
    size_t elem = ta_type_row_bytes(w->type, 1);
    for (uint32_t i = 0; i < n; i += SLICE) {
        uint32_t m = n - i < SLICE ? n - i : SLICE;
        deq((const uint8_t *)w->data + i * elem, tmp, m);
        for (uint32_t k = 0; k < m; k++)
            out[i + k] = x[i + k] * scale * tmp[k];
    }
}

void ta_row_add(float *x, const ta_gguf_tensor *b, uint32_t n)
{
    float tmp[SLICE];
    ta_dequantize_row_fn deq = ta_quant_ops_get(b->type)->dequantize_row;
    size_t elem = ta_type_row_bytes(b->type, 1);
    for (uint32_t i = 0; i < n; i += SLICE) {
        uint32_t m = n - i < SLICE ? n - i : SLICE;
        deq((const uint8_t *)b->data + i * elem, tmp, m);
        for (uint32_t k = 0; k < m; k++)
            x[i + k] += tmp[k];
    }
}
