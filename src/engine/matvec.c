/*
 * matvec.c - see matvec.h: the tiling and threading of matrix products over the kernels
 * of kernels.h.
 */
#include "matvec.h"

#include <string.h>

#include "kernels.h"
#include "quant.h"
#include "repack.h"

/* Tokens per tile (a multiple of the microkernels' 3, 4 and 6 columns): each weight row
 * is read from memory once per tile, so big tiles spare DRAM. Measured against 48 on
 * llama-3.2-1b shapes: F16 +10-25%, Q4_K +20%, the rest even; smaller tiles that keep
 * the activations in L1 or L2 lost more to re-reading the weights than they gained. */
#define TILE_TOKENS 132

size_t ta_matmul_scratch_bytes(size_t n_in, uint32_t n_tok)
{
    /* F32 is the widest activation format (4 bytes an element; Q8_0 and Q8_K are
     * smaller); one spare block so quantizers never write past the end. */
    return ((n_in + TA_QK_K) * sizeof(float) + 64) * (n_tok ? n_tok : 1);
}

size_t ta_matvec_scratch_bytes(size_t n_in)
{
    return ta_matmul_scratch_bytes(n_in, 1);
}

typedef struct mm_job {
    const ta_kernels *k;
    ta_gemm_fn gemm;
    ta_gemv4_fn gemv4;     /* for single tokens, when the set has one */
    ta_gemm8_fn gemm8;     /* packed weights: 8 rows at a time */
    size_t group_bytes;    /* packed: bytes of 8 rows */
    ta_gemm2_fn gemm2;     /* two rows at a time, for float weights */
    ta_gemm_hh_fn gemm_hh; /* F16 weights: 4 rows at a time */
    bool tokens_outer;     /* activations F32, or BF16 for BF16 weights: tokens outer */
    ta_quantize_row_fn quantize;
    const uint8_t *w;
    size_t w_row; /* bytes of a weight row */
    int64_t n_in;
    const float *x; /* for quantizing */
    size_t ldx;
    const uint8_t *act; /* activations, a_row bytes per token */
    size_t a_row;
    float *y;
    size_t ldy;
    int64_t rows, n_tok;
    int64_t row_chunk, tok_chunk, row_chunks, tok_chunks;
} mm_job;

static void quantize_tokens(void *arg, int64_t begin, int64_t end)
{
    mm_job *j = arg;
    for (int64_t t = begin; t < end; t++)
        j->quantize(j->x + (size_t)t * j->ldx, (uint8_t *)j->act + (size_t)t * j->a_row, j->n_in);
}

static void run_tiles(void *arg, int64_t begin, int64_t end)
{
    mm_job *j = arg;
    float out[TA_GEMM_MAX_COLS];
    for (int64_t tile = begin; tile < end; tile++) {
        int64_t r0 = (tile % j->row_chunks) * j->row_chunk;
        int64_t t0 = (tile / j->row_chunks) * j->tok_chunk;
        int64_t r1 = r0 + j->row_chunk < j->rows ? r0 + j->row_chunk : j->rows;
        int64_t t1 = t0 + j->tok_chunk < j->n_tok ? t0 + j->tok_chunk : j->n_tok;
        int64_t r = r0;
        if (j->gemm8) { /* chunks are whole groups of 8 rows */
            float o8[8 * TA_GEMM_MAX_COLS];
            for (; r < r1; r += 8)
                for (int64_t t = t0; t < t1; t += TA_GEMM_MAX_COLS) {
                    int nc = (int)(t1 - t < TA_GEMM_MAX_COLS ? t1 - t : TA_GEMM_MAX_COLS);
                    j->gemm8(j->n_in, j->w + (size_t)(r / 8) * j->group_bytes,
                             j->act + (size_t)t * j->a_row, j->a_row, nc, o8);
                    for (int c = 0; c < nc; c++)
                        memcpy(j->y + (size_t)(t + c) * j->ldy + (size_t)r, o8 + 8 * c,
                               8 * sizeof(float));
                }
            continue;
        }
        if (j->gemm_hh) { /* groups of columns outer: they stay in L1/L2 as rows pass */
            float o4[4 * TA_GEMM_MAX_COLS];
            for (int64_t t = t0; t < t1; t += TA_GEMM_MAX_COLS) {
                int nc = (int)(t1 - t < TA_GEMM_MAX_COLS ? t1 - t : TA_GEMM_MAX_COLS);
                for (r = r0; r < r1; r += 4) {
                    int nr = (int)(r1 - r < 4 ? r1 - r : 4);
                    j->gemm_hh(j->n_in, j->w + (size_t)r * j->w_row, j->w_row, nr,
                               j->act + (size_t)t * j->a_row, j->a_row, nc, o4);
                    for (int c = 0; c < nc; c++)
                        memcpy(j->y + (size_t)(t + c) * j->ldy + (size_t)r, o4 + 4 * c,
                               (size_t)nr * sizeof(float));
                }
            }
            continue;
        }
        if (j->gemv4 && t1 - t0 == 1)
            for (; r + 4 <= r1; r += 4) {
                j->gemv4(j->n_in, j->w + (size_t)r * j->w_row, j->w_row,
                         j->act + (size_t)t0 * j->a_row, out);
                memcpy(j->y + (size_t)t0 * j->ldy + (size_t)r, out, 4 * sizeof(float));
            }
        /* Float activations (4 bytes an element; BF16 ones for BF16 weights, as many bytes
         * as the weights) outweigh the weights: tokens outer, so a group's activations
         * stay in L1 while the rows pass. Quantized ones are small: rows outer, each row
         * unpacked once for the whole tile. */
        int64_t rs = r, tg = j->tokens_outer ? TA_GEMM_MAX_COLS : t1 - t0;
        for (int64_t tb = t0; tb < t1; tb += tg) {
            int64_t te = tb + tg < t1 ? tb + tg : t1;
            r = rs;
            if (j->gemm2 && te - tb > 1) {
                float o2[2 * TA_GEMM_MAX_COLS];
                for (; r + 2 <= r1; r += 2)
                    for (int64_t t = tb; t < te; t += TA_GEMM_MAX_COLS) {
                        int nc = (int)(te - t < TA_GEMM_MAX_COLS ? te - t : TA_GEMM_MAX_COLS);
                        j->gemm2(j->n_in, j->w + (size_t)r * j->w_row, j->w_row,
                                 j->act + (size_t)t * j->a_row, j->a_row, nc, o2);
                        for (int c = 0; c < nc; c++) {
                            j->y[(size_t)(t + c) * j->ldy + (size_t)r] = o2[2 * c];
                            j->y[(size_t)(t + c) * j->ldy + (size_t)r + 1] = o2[2 * c + 1];
                        }
                    }
            }
            for (; r < r1; r++) {
                const uint8_t *wr = j->w + (size_t)r * j->w_row;
                for (int64_t t = tb; t < te; t += TA_GEMM_MAX_COLS) {
                    int nc = (int)(te - t < TA_GEMM_MAX_COLS ? te - t : TA_GEMM_MAX_COLS);
                    j->gemm(j->n_in, wr, j->act + (size_t)t * j->a_row, j->a_row, nc, out);
                    for (int c = 0; c < nc; c++)
                        j->y[(size_t)(t + c) * j->ldy + (size_t)r] = out[c];
                }
            }
        }
    }
}

/* Fills a job for one matrix: kernels, activation format (not yet converted), tiles.
 * want_tiles: how many tiles the whole parallel pass should have. */
static void plan(mm_job *j, const ta_kernels *k, const ta_gguf_tensor *w, const float *x,
                 size_t ldx, float *y, size_t ldy, uint32_t n_tok, void *scratch,
                 int64_t want_tiles)
{
    bool packed = w->type >= TA_PACKED_TYPE;
    uint32_t type = packed ? ta_packed_base_type(w->type) : w->type;
    const ta_quant_ops *ops = ta_quant_ops_get(type);
    *j = (mm_job){.k = k,
                  .gemm = k->gemm[type],
                  .gemv4 = k->gemv4[type],
                  .gemm2 = k->gemm2[type],
                  .gemm8 = packed ? k->gemm8[w->type - TA_PACKED_TYPE] : NULL,
                  .group_bytes =
                      packed ? ta_packed_group_bytes((int)(w->type - TA_PACKED_TYPE), w->ne[0]) : 0,
                  .w = w->data,
                  .w_row = ta_type_row_bytes(type, w->ne[0]),
                  .n_in = (int64_t)w->ne[0],
                  .x = x,
                  .ldx = ldx,
                  .y = y,
                  .ldy = ldy,
                  .rows = (int64_t)(w->n_elems / w->ne[0]),
                  .n_tok = n_tok};
    if (type == TA_TYPE_BF16 && n_tok > 1 && k->gemm_bb) {
        /* a prompt on a CPU with bfloat16 products (AVX512_BF16): activations rounded to
         * BF16, twice the multiply-adds an instruction; decoding, bound by reading the
         * weights, keeps F32 activations */
        j->gemm = k->gemm_bb;
        j->gemm2 = NULL; /* those take F32 activations */
        j->gemv4 = NULL;
        j->quantize = k->quantize[TA_TYPE_BF16];
        j->act = scratch;
        j->a_row = ta_type_row_bytes(TA_TYPE_BF16, w->ne[0]);
        j->tokens_outer = true;
    } else if (ops->vec_dot_type == TA_TYPE_F32) {
        j->act = (const uint8_t *)x; /* used as they are */
        j->tokens_outer = true;
        j->a_row = ldx * sizeof(float);
    } else {
        /* F16 weights: tiles of 4 rows for prompts; decoding takes one row after another
         * (the weights stream in order; 4 rows at once decoded qwen2-0.5b 25% slower),
         * against F16 activations, whose half-size vector stays in L1 */
        if (type == TA_TYPE_F16 && n_tok > 1) j->gemm_hh = k->gemm_hh;
        j->quantize = k->quantize[ops->vec_dot_type];
        j->act = scratch;
        j->a_row = ta_type_row_bytes(ops->vec_dot_type, w->ne[0]);
        if (packed && ta_pack_wants_sums((int)(w->type - TA_PACKED_TYPE))) {
            j->quantize = k->quantize_q8_0s;
            j->a_row = (size_t)(w->ne[0] / TA_QK) * sizeof(ta_block_q8_0s);
        }
    }
    j->tok_chunk = n_tok < TILE_TOKENS ? n_tok : TILE_TOKENS;
    j->tok_chunks = (n_tok + j->tok_chunk - 1) / j->tok_chunk;
    int64_t row_chunks =
        j->tok_chunks >= want_tiles ? 1 : (want_tiles + j->tok_chunks - 1) / j->tok_chunks;
    j->row_chunk = (j->rows + row_chunks - 1) / row_chunks;
    if (j->row_chunk < 4) j->row_chunk = 4;
    if (n_tok > 1 && j->row_chunk > 64) j->row_chunk = 64;
    if (packed) j->row_chunk = (j->row_chunk + 7) & ~(int64_t)7;
    j->row_chunks = (j->rows + j->row_chunk - 1) / j->row_chunk;
}

/* Converts the activations once (in parallel for a prompt). */
static void convert(ta_pool *pool, mm_job *j)
{
    if (!j->quantize) return;
    if (pool && j->n_tok > 1)
        ta_pool_for(pool, j->n_tok, quantize_tokens, j);
    else
        quantize_tokens(j, 0, j->n_tok);
}

/* Enough tiles for the threads to share out evenly as they go, but not so many that
 * claiming them costs: about 8 per thread. */
static int64_t want_tiles(const ta_pool *pool)
{
    return (pool ? ta_pool_threads(pool) : 1) * 8;
}

void ta_matmul(ta_pool *pool, const ta_gguf_tensor *w, const float *x, size_t ldx, float *y,
               size_t ldy, uint32_t n_tok, void *scratch)
{
    if (!n_tok) return;
    mm_job j;
    plan(&j, ta_kernels_best(), w, x, ldx, y, ldy, n_tok, scratch, want_tiles(pool));
    convert(pool, &j);
    int64_t tiles = j.row_chunks * j.tok_chunks;
    if (pool)
        ta_pool_for_grain(pool, tiles, 1, run_tiles, &j);
    else
        run_tiles(&j, 0, tiles);
}

typedef struct multi_job {
    mm_job *jobs;
    int n;
    int64_t first[TA_MATMUL_MAX_MULTI + 1]; /* job i has tiles [first[i], first[i+1]) */
} multi_job;

static void run_multi(void *arg, int64_t begin, int64_t end)
{
    multi_job *m = arg;
    for (int64_t t = begin; t < end; t++) {
        int i = 0;
        while (t >= m->first[i + 1])
            i++;
        run_tiles(&m->jobs[i], t - m->first[i], t - m->first[i] + 1);
    }
}

void ta_matmul_multi(ta_pool *pool, int n_w, const ta_gguf_tensor *const *w, float *const *y,
                     const size_t *ldy, const float *x, size_t ldx, uint32_t n_tok, void *scratch)
{
    if (!n_tok || n_w <= 0) return;
    const ta_kernels *k = ta_kernels_best();
    mm_job jobs[TA_MATMUL_MAX_MULTI];
    bool shared = n_w <= TA_MATMUL_MAX_MULTI;
    uint64_t total_rows = 0;
    for (int i = 0; i < n_w && shared; i++)
        total_rows += w[i]->n_elems / w[i]->ne[0];
    for (int i = 0; i < n_w && shared; i++) {
        /* each matrix gets its share of the pass's tiles */
        int64_t share = (int64_t)((double)want_tiles(pool) * (double)(w[i]->n_elems / w[i]->ne[0]) /
                                  (double)total_rows) +
                        1;
        plan(&jobs[i], k, w[i], x, ldx, y[i], ldy[i], n_tok, scratch, share);
        shared = jobs[i].n_in == jobs[0].n_in && jobs[i].quantize == jobs[0].quantize &&
                 jobs[i].a_row == jobs[0].a_row;
    }
    if (!shared) { /* different activation formats: one pass each */
        for (int i = 0; i < n_w; i++)
            ta_matmul(pool, w[i], x, ldx, y[i], ldy[i], n_tok, scratch);
        return;
    }
    convert(pool, &jobs[0]);
    multi_job m = {jobs, n_w, {0}};
    for (int i = 0; i < n_w; i++)
        m.first[i + 1] = m.first[i] + jobs[i].row_chunks * jobs[i].tok_chunks;
    if (pool)
        ta_pool_for_grain(pool, m.first[n_w], 1, run_multi, &m);
    else
        run_multi(&m, 0, m.first[n_w]);
}

void ta_matvec(ta_pool *pool, const ta_gguf_tensor *w, const float *x, float *y, void *scratch)
{
    ta_matmul(pool, w, x, w->ne[0], y, w->n_elems / w->ne[0], 1, scratch);
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
