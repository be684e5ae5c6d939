/*
 * context.c - the decoder forward pass (llama, qwen2, qwen3, phi3) over a batch of
 * consecutive tokens.
 *
 *   x = embedding[token]                                   for every token of the batch
 *   for each layer:
 *       h = rmsnorm(x) * attn_norm
 *       q, k, v = Wq h (+bq), Wk h (+bk), Wv h (+bv)      phi3: one fused Wqkv
 *       qwen3: q, k = rmsnorm per head * q_norm / k_norm
 *       rotate q and k by position (RoPE)
 *       append k, v to the cache; each query head attends over the cached positions
 *       up to its own (causal) of its key/value head (grouped-query attention)
 *       x += Wo attention
 *       h = rmsnorm(x) * ffn_norm
 *       x += Wdown (silu(Wgate h) * Wup h)                phi3: gate and up fused
 *   logits = Woutput (rmsnorm(x) * output_norm)            for the last token only
 *
 * Activations are [token][feature] rows; every matrix product is one ta_matmul over
 * the whole batch (matvec.c), so a prompt reads each weight once per batch and a
 * decoding step is the batch of one. Attention takes up to TA_GEMM_MAX_COLS queries
 * of a head at once against each cached key, with one row of scores per query (memory
 * linear in the context, never quadratic).
 *
 * The KV cache is F16 by default (Q8_0 or F32 on request), stored per head so each
 * head's slice is whole blocks. The batch buffers live in one lazily mapped arena that
 * is handed back to the OS after a prompt, so decoding keeps only what it touches.
 */
#include "context.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "kernels.h"
#include "matvec.h"
#include "quant.h"

#define QGROUP TA_GEMM_MAX_COLS /* queries of a head attended together */

struct ta_ctx {
    const ta_model *m;
    ta_pool *pool;
    const ta_kernels *k;
    uint32_t n_ctx, n_past, n_batch, threads;
    uint32_t q_dim, kv_dim, qkv_dim; /* qkv rows hold q | k | v */
    uint32_t kv_type;                /* ta_type of the cache elements */
    size_t head_bytes;               /* bytes of one head's key (or value) in the cache */
    const ta_quant_ops *kv_ops;      /* converts cache rows */
    uint8_t *k_cache, *v_cache;      /* [layer][pos][kv head] of head_bytes each */
    /* The batch arena: n_batch rows of each. */
    void *arena;
    size_t arena_bytes;
    float *x, *h, *qkv, *att, *ff, *rope; /* ff rows: gate | up (2 * n_ff) */
    float *scores;                        /* [thread][QGROUP][n_ctx] */
    void *scratch;                        /* matmul activations */
    float *logits, *inv_freq;
    float *multi_logits; /* ta_ctx_eval_multi's rows of logits, made on first use */
};

/* Carves consecutive 64-byte aligned pieces out of a region (or just counts bytes). */
typedef struct carver {
    uint8_t *base;
    size_t used;
} carver;

static void *carve(carver *cv, size_t bytes)
{
    void *p = cv->base ? cv->base + cv->used : NULL;
    cv->used += (bytes + 63) & ~(size_t)63;
    return p;
}

static void layout(ta_ctx *c, carver *cv)
{
    const ta_hparams *hp = &c->m->hp;
    size_t B = c->n_batch, f = sizeof(float);
    size_t widest = hp->n_ff > hp->n_embd ? hp->n_ff : hp->n_embd;
    if (c->q_dim > widest) widest = c->q_dim;
    c->x = carve(cv, B * hp->n_embd * f);
    c->h = carve(cv, B * hp->n_embd * f);
    c->qkv = carve(cv, B * c->qkv_dim * f);
    c->att = carve(cv, B * c->q_dim * f);
    c->ff = carve(cv, B * 2 * (size_t)hp->n_ff * f);
    c->rope = carve(cv, B * hp->n_rot * f);
    c->scores = carve(cv, (size_t)c->threads * QGROUP * c->n_ctx * f);
    c->scratch = carve(cv, ta_matmul_scratch_bytes(widest, c->n_batch));
}

ta_ctx *ta_ctx_new(const ta_model *m, const ta_ctx_params *p, ta_error *err)
{
    const ta_hparams *hp = &m->hp;
    ta_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        ta_error_set(err, TA_ENOMEM, "out of memory");
        return NULL;
    }
    c->m = m;
    c->pool = p ? p->pool : NULL;
    c->k = ta_kernels_best();
    c->threads = c->pool ? (uint32_t)ta_pool_threads(c->pool) : 1;
    c->n_ctx = p && p->n_ctx ? p->n_ctx : hp->n_ctx_train;
    if (c->n_ctx > hp->n_ctx_train) c->n_ctx = hp->n_ctx_train;
    c->n_batch = p && p->n_batch ? p->n_batch : TA_CTX_DEFAULT_BATCH;
    if (c->n_batch > c->n_ctx) c->n_batch = c->n_ctx;
    c->q_dim = hp->n_head * hp->head_dim;
    c->kv_dim = hp->n_head_kv * hp->head_dim;
    c->qkv_dim = c->q_dim + 2 * c->kv_dim;
    ta_kv_type kt = p ? p->kv_type : TA_KV_F16;
    c->kv_type = kt == TA_KV_Q8_0 ? TA_TYPE_Q8_0 : kt == TA_KV_F32 ? TA_TYPE_F32 : TA_TYPE_F16;
    c->head_bytes = ta_type_row_bytes(c->kv_type, hp->head_dim);
    c->kv_ops = ta_quant_ops_get(c->kv_type);
    if (!c->head_bytes) {
        ta_error_set(
            err, TA_EINVAL,
            "a %s KV cache needs a head size that is a multiple of %u (this model's is %u)",
            ta_type_get(c->kv_type)->name, ta_type_get(c->kv_type)->block_elems, hp->head_dim);
        free(c);
        return NULL;
    }
    size_t cache = (size_t)hp->n_layer * c->n_ctx * hp->n_head_kv * c->head_bytes;
    carver count = {NULL, 0};
    layout(c, &count);
    c->arena_bytes = count.used;
    c->arena =
        mmap(NULL, c->arena_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (c->arena == MAP_FAILED) c->arena = NULL;
    c->k_cache = calloc(cache ? cache : 1, 1);
    c->v_cache = calloc(cache ? cache : 1, 1);
    c->logits = calloc(hp->n_vocab, sizeof(float));
    c->inv_freq = calloc(hp->n_rot / 2 + 1, sizeof(float));
    if (!c->arena || !c->k_cache || !c->v_cache || !c->logits || !c->inv_freq) {
        ta_ctx_free(c);
        ta_error_set(err, TA_ENOMEM, "out of memory for a context of %u tokens", p ? p->n_ctx : 0);
        return NULL;
    }
    carver cv = {c->arena, 0};
    layout(c, &cv);
    for (uint32_t i = 0; i < hp->n_rot / 2; i++) {
        float f = powf(hp->rope_base, -2.0f * (float)i / (float)hp->n_rot);
        if (m->rope_freqs) f /= ((const float *)m->rope_freqs->data)[i];
        c->inv_freq[i] = f;
    }
    return c;
}

void ta_ctx_free(ta_ctx *c)
{
    if (!c) return;
    if (c->arena) munmap(c->arena, c->arena_bytes);
    free(c->k_cache);
    free(c->v_cache);
    free(c->logits);
    free(c->inv_freq);
    free(c->multi_logits);
    free(c);
}

const float *ta_ctx_logits(const ta_ctx *c)
{
    return c->logits;
}

const ta_model *ta_ctx_model(const ta_ctx *c)
{
    return c->m;
}

uint32_t ta_ctx_n_past(const ta_ctx *c)
{
    return c->n_past;
}

uint32_t ta_ctx_n_ctx(const ta_ctx *c)
{
    return c->n_ctx;
}

size_t ta_ctx_kv_bytes(const ta_ctx *c)
{
    return 2 * (size_t)c->m->hp.n_layer * c->n_ctx * c->m->hp.n_head_kv * c->head_bytes;
}

void ta_ctx_truncate(ta_ctx *c, uint32_t n_past)
{
    if (n_past < c->n_past) c->n_past = n_past;
}

/* out = x / rms(x) * w, where w is a norm weight (F32 or F16 vector). */
static void rmsnorm(float *out, const float *x, const ta_gguf_tensor *w, uint32_t n, float eps)
{
    double ss = 0;
    for (uint32_t i = 0; i < n; i++)
        ss += (double)x[i] * x[i];
    float scale = 1.0f / sqrtf((float)(ss / n) + eps);
    ta_row_mul(out, x, scale, w, n);
}

/* Rotates n_heads heads of vec by the angles of one position: cs holds n_rot / 2
 * cosines, then n_rot / 2 sines. */
static void rope(float *vec, uint32_t n_heads, uint32_t head_dim, uint32_t n_rot, ta_rope_mode mode,
                 const float *cs)
{
    const float *sn = cs + n_rot / 2;
    for (uint32_t h = 0; h < n_heads; h++) {
        float *v = vec + (size_t)h * head_dim;
        for (uint32_t i = 0; i < n_rot / 2; i++) {
            uint32_t a = mode == TA_ROPE_NORM ? 2 * i : i;
            uint32_t b = mode == TA_ROPE_NORM ? 2 * i + 1 : i + n_rot / 2;
            float x0 = v[a], x1 = v[b];
            v[a] = x0 * cs[i] - x1 * sn[i];
            v[b] = x0 * sn[i] + x1 * cs[i];
        }
    }
}

typedef struct attn_job {
    ta_ctx *c;                      /* owns the batch buffers (qkv, att, scores) */
    ta_ctx *const *seq;             /* NULL: c's own tokens from p0; else row i is seq[i]'s */
    uint32_t layer, p0, nb, groups; /* batch of nb tokens */
} attn_job;

/* Where head h of position t of layer l sits in a cache. */
static uint8_t *cache_at(const ta_ctx *c, uint8_t *cache, uint32_t l, uint32_t t, uint32_t h)
{
    size_t heads = c->m->hp.n_head_kv;
    return cache + (((size_t)l * c->n_ctx + t) * heads + h) * c->head_bytes;
}

/* Softmax of query row sc over positions [0, n], zeros after it up to n_pos; returns
 * 1 / sum for the caller to scale by. */
static float softmax_row(const ta_kernels *k, float *sc, uint32_t n, uint32_t n_pos)
{
    float mx = -INFINITY;
    for (uint32_t t = 0; t <= n; t++)
        if (sc[t] > mx) mx = sc[t];
    float sum = k->exp_sum(n + 1, sc, mx);
    for (uint32_t t = n + 1; t < n_pos; t++)
        sc[t] = 0.0f;
    return 1.0f / sum;
}

/* Attention for work items [begin, end): item = group * n_head + head, a group being
 * up to QGROUP consecutive queries of the batch. F16 caches go through the kernels;
 * the others dequantize a row at a time. */
static void attend(void *arg, int64_t begin, int64_t end)
{
    attn_job *j = arg;
    ta_ctx *c = j->c;
    const ta_kernels *k = c->k;
    const ta_hparams *hp = &c->m->hp;
    uint32_t hd = hp->head_dim, group = hp->n_head / hp->n_head_kv;
    float scale = 1.0f / sqrtf((float)hd);
    float *scores = c->scores + (size_t)ta_pool_thread_index() * QGROUP * c->n_ctx;
    size_t kv_stride = (size_t)hp->n_head_kv * hd; /* F16 elements between positions */
    for (int64_t item = begin; item < end; item++) {
        uint32_t h = (uint32_t)(item % hp->n_head), g = (uint32_t)(item / hp->n_head);
        uint32_t kvh = h / group;
        /* one sequence: groups of QGROUP consecutive queries; several: a row each */
        const ta_ctx *kv = j->seq ? j->seq[g] : c; /* whose cache */
        uint32_t i0 = j->seq ? g : g * QGROUP;
        int nq = j->seq ? 1 : (int)(j->nb - i0 < QGROUP ? j->nb - i0 : QGROUP);
        uint32_t pos0 = j->seq ? kv->n_past : j->p0 + i0; /* position of the first query */
        uint32_t n_pos = pos0 + (uint32_t)nq;             /* positions the last query sees */
        const float *q = c->qkv + (size_t)i0 * c->qkv_dim + (size_t)h * hd;
        float *out = c->att + (size_t)i0 * c->q_dim + (size_t)h * hd;
        if (kv->kv_type == TA_TYPE_F16) {
            float dots[QGROUP];
            for (uint32_t t = 0; t < n_pos; t++) {
                k->gemm_f16_f32(hd, cache_at(kv, kv->k_cache, j->layer, t, kvh), q,
                                c->qkv_dim * sizeof(float), nq, dots);
                for (int i = 0; i < nq; i++)
                    scores[(size_t)i * c->n_ctx + t] = dots[i] * scale;
            }
            float inv[QGROUP];
            for (int i = 0; i < nq; i++)
                inv[i] = softmax_row(k, scores + (size_t)i * c->n_ctx, pos0 + (uint32_t)i, n_pos);
            k->wsum_f16(n_pos, hd, (const ta_f16 *)cache_at(kv, kv->v_cache, j->layer, 0, kvh),
                        kv_stride, scores, c->n_ctx, nq, out, c->q_dim);
            for (int i = 0; i < nq; i++)
                for (uint32_t d = 0; d < hd; d++)
                    out[(size_t)i * c->q_dim + d] *= inv[i];
            continue;
        }
        float row[1024]; /* one head's key or value, dequantized (head_dim <= 1024) */
        for (int i = 0; i < nq; i++) {
            const float *qi = q + (size_t)i * c->qkv_dim;
            float *sc = scores + (size_t)i * c->n_ctx, *oi = out + (size_t)i * c->q_dim;
            uint32_t last = pos0 + (uint32_t)i;
            for (uint32_t t = 0; t <= last; t++) {
                kv->kv_ops->dequantize_row(cache_at(kv, kv->k_cache, j->layer, t, kvh), row, hd);
                float s = 0;
                for (uint32_t d = 0; d < hd; d++)
                    s += qi[d] * row[d];
                sc[t] = s * scale;
            }
            float inv = softmax_row(k, sc, last, last + 1);
            memset(oi, 0, hd * sizeof(float));
            for (uint32_t t = 0; t <= last; t++) {
                kv->kv_ops->dequantize_row(cache_at(kv, kv->v_cache, j->layer, t, kvh), row, hd);
                float w = sc[t] * inv;
                for (uint32_t d = 0; d < hd; d++)
                    oi[d] += w * row[d];
            }
        }
    }
}

static void add_bias(float *x, const ta_gguf_tensor *b, uint32_t n)
{
    if (b) ta_row_add(x, b, n);
}

/* One batch of nb tokens through the model, in c's buffers and pool. seq NULL: c's own
 * tokens at positions n_past .. n_past + nb - 1, logits of the last one. Else row i is
 * the next token of sequence seq[i] (each at its own n_past, into its own cache), and
 * every sequence gets its logits. */
static void eval_rows(ta_ctx *c, ta_ctx *const *seq, const int32_t *tokens, uint32_t nb)
{
    const ta_model *m = c->m;
    const ta_hparams *hp = &m->hp;
    const ta_kernels *k = c->k;
    uint32_t E = hp->n_embd, hd = hp->head_dim, F = hp->n_ff, R = hp->n_rot;
    uint32_t Q = c->q_dim, KV = c->kv_dim, QKV = c->qkv_dim, p0 = c->n_past;
    ta_pool *pool = c->pool;

    for (uint32_t i = 0; i < nb; i++) {
        ta_row_get(c->x + (size_t)i * E, m->tok_embd, (uint64_t)tokens[i]);
        uint32_t at = seq ? seq[i]->n_past : p0 + i;
        float pos = (float)at / hp->rope_scale, *cs = c->rope + (size_t)i * R;
        for (uint32_t r = 0; r < R / 2; r++) {
            float theta = pos * c->inv_freq[r];
            cs[r] = cosf(theta);
            cs[R / 2 + r] = sinf(theta);
        }
    }
    for (uint32_t l = 0; l < hp->n_layer; l++) {
        const ta_layer *L = &m->layers[l];
        for (uint32_t i = 0; i < nb; i++)
            rmsnorm(c->h + (size_t)i * E, c->x + (size_t)i * E, L->attn_norm, E, hp->norm_eps);
        if (L->wqkv) {
            ta_matmul(pool, L->wqkv, c->h, E, c->qkv, QKV, nb, c->scratch);
        } else {
            const ta_gguf_tensor *w[3] = {L->wq, L->wk, L->wv};
            float *y[3] = {c->qkv, c->qkv + Q, c->qkv + Q + KV};
            size_t ld[3] = {QKV, QKV, QKV};
            ta_matmul_multi(pool, 3, w, y, ld, c->h, E, nb, c->scratch);
        }
        for (uint32_t i = 0; i < nb; i++) {
            float *q = c->qkv + (size_t)i * QKV, *kk = q + Q, *v = kk + KV;
            add_bias(q, L->bq, Q);
            add_bias(kk, L->bk, KV);
            add_bias(v, L->bv, KV);
            if (L->q_norm) {
                for (uint32_t h = 0; h < hp->n_head; h++)
                    rmsnorm(q + (size_t)h * hd, q + (size_t)h * hd, L->q_norm, hd, hp->norm_eps);
                for (uint32_t h = 0; h < hp->n_head_kv; h++)
                    rmsnorm(kk + (size_t)h * hd, kk + (size_t)h * hd, L->k_norm, hd, hp->norm_eps);
            }
            const float *cs = c->rope + (size_t)i * R;
            rope(q, hp->n_head, hd, R, hp->rope_mode, cs);
            rope(kk, hp->n_head_kv, hd, R, hp->rope_mode, cs);
            ta_ctx *kv = seq ? seq[i] : c;
            uint32_t at = seq ? kv->n_past : p0 + i;
            for (uint32_t h = 0; h < hp->n_head_kv; h++) {
                kv->kv_ops->quantize_row(kk + (size_t)h * hd, cache_at(kv, kv->k_cache, l, at, h),
                                         hd);
                kv->kv_ops->quantize_row(v + (size_t)h * hd, cache_at(kv, kv->v_cache, l, at, h),
                                         hd);
            }
        }
        attn_job job = {c, seq, l, p0, nb, seq ? nb : (nb + QGROUP - 1) / QGROUP};
        int64_t items = (int64_t)job.groups * hp->n_head;
        if (pool)
            ta_pool_for_grain(pool, items, 1, attend, &job);
        else
            attend(&job, 0, items);
        ta_matmul(pool, L->wo, c->att, Q, c->h, E, nb, c->scratch);
        for (size_t i = 0; i < (size_t)nb * E; i++)
            c->x[i] += c->h[i];

        for (uint32_t i = 0; i < nb; i++)
            rmsnorm(c->h + (size_t)i * E, c->x + (size_t)i * E, L->ffn_norm, E, hp->norm_eps);
        if (L->w_gate) {
            const ta_gguf_tensor *w[2] = {L->w_gate, L->w_up};
            float *y[2] = {c->ff, c->ff + F};
            size_t ld[2] = {2 * (size_t)F, 2 * (size_t)F};
            ta_matmul_multi(pool, 2, w, y, ld, c->h, E, nb, c->scratch);
        } else {
            ta_matmul(pool, L->w_up, c->h, E, c->ff, 2 * (size_t)F, nb, c->scratch); /* [gate|up] */
        }
        for (uint32_t i = 0; i < nb; i++)
            k->silu_mul(F, c->ff + (size_t)i * 2 * F, c->ff + (size_t)i * 2 * F + F);
        ta_matmul(pool, L->w_down, c->ff, 2 * (size_t)F, c->h, E, nb, c->scratch);
        for (size_t i = 0; i < (size_t)nb * E; i++)
            c->x[i] += c->h[i];
    }
    if (seq) { /* every row's logits, in one pass over the output matrix */
        for (uint32_t i = 0; i < nb; i++)
            rmsnorm(c->h + (size_t)i * E, c->x + (size_t)i * E, m->out_norm, E, hp->norm_eps);
        ta_matmul(pool, m->output, c->h, E, c->multi_logits, hp->n_vocab, nb, c->scratch);
        for (uint32_t i = 0; i < nb; i++) {
            memcpy(seq[i]->logits, c->multi_logits + (size_t)i * hp->n_vocab,
                   hp->n_vocab * sizeof(float));
            seq[i]->n_past++;
        }
        return;
    }
    const float *last = c->x + (size_t)(nb - 1) * E;
    rmsnorm(c->h, last, m->out_norm, E, hp->norm_eps);
    ta_matvec(pool, m->output, c->h, c->logits, c->scratch);
    c->n_past += nb;
}

int ta_ctx_eval(ta_ctx *c, const int32_t *tokens, uint32_t n, ta_error *err)
{
    if ((uint64_t)c->n_past + n > c->n_ctx)
        return ta_error_set(err, TA_EINVAL,
                            "%u tokens do not fit: %u of the context's %u positions are used", n,
                            c->n_past, c->n_ctx);
    for (uint32_t i = 0; i < n; i++)
        if (tokens[i] < 0 || (uint32_t)tokens[i] >= c->m->hp.n_vocab)
            return ta_error_set(err, TA_EINVAL, "token id %d is outside the vocabulary (%u)",
                                tokens[i], c->m->hp.n_vocab);
    for (uint32_t i = 0; i < n; i += c->n_batch)
        eval_rows(c, NULL, tokens + i, n - i < c->n_batch ? n - i : c->n_batch);
    /* A prompt touched the whole arena; decoding needs only its first rows. */
    if (n > 1) madvise(c->arena, c->arena_bytes, MADV_DONTNEED);
    return TA_OK;
}

int ta_ctx_eval_multi(ta_ctx *const *seqs, const int32_t *tokens, uint32_t n, ta_error *err)
{
    if (!n) return TA_OK;
    ta_ctx *c = seqs[0];
    if (n > c->n_batch)
        return ta_error_set(err, TA_EINVAL, "%u sequences in one step; the batch holds %u", n,
                            c->n_batch);
    for (uint32_t i = 0; i < n; i++) {
        const ta_ctx *s = seqs[i];
        if (s->m != c->m || s->n_ctx != c->n_ctx || s->kv_type != c->kv_type)
            return ta_error_set(err, TA_EINVAL,
                                "sequences of one step need the same model, context size and "
                                "cache type");
        if (s->n_past >= s->n_ctx)
            return ta_error_set(err, TA_EINVAL, "sequence %u is full (%u positions)", i, s->n_ctx);
        for (uint32_t j = 0; j < i; j++)
            if (seqs[j] == s)
                return ta_error_set(err, TA_EINVAL, "a sequence appears twice in one step");
        if (tokens[i] < 0 || (uint32_t)tokens[i] >= c->m->hp.n_vocab)
            return ta_error_set(err, TA_EINVAL, "token id %d is outside the vocabulary (%u)",
                                tokens[i], c->m->hp.n_vocab);
    }
    if (n == 1) return ta_ctx_eval(c, tokens, 1, err);
    if (!c->multi_logits) {
        c->multi_logits = malloc((size_t)c->n_batch * c->m->hp.n_vocab * sizeof(float));
        if (!c->multi_logits) return ta_error_set(err, TA_ENOMEM, "out of memory for logits");
    }
    eval_rows(c, seqs, tokens, n);
    return TA_OK;
}
