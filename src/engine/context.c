/*
 * context.c - the decoder forward pass (llama, qwen2, qwen3, phi3), one token at a time.
 *
 *   x = embedding[token]
 *   for each layer:
 *       h = rmsnorm(x) * attn_norm
 *       q, k, v = Wq h (+bq), Wk h (+bk), Wv h (+bv)      phi3: one fused Wqkv
 *       qwen3: q, k = rmsnorm per head * q_norm / k_norm
 *       rotate q and k by position (RoPE)
 *       append k, v to the cache; each query head attends over all cached positions
 *       of its key/value head (grouped-query attention)
 *       x += Wo attention
 *       h = rmsnorm(x) * ffn_norm
 *       x += Wdown (silu(Wgate h) * Wup h)                phi3: gate and up fused
 *   logits = Woutput (rmsnorm(x) * output_norm)
 *
 * The KV cache is F16 by default (Q8_0 or F32 on request), stored per head so each
 * head's slice is whole blocks. Matrix-vector products go through ta_matvec (matvec.c), which
 * knows every weight type and splits rows across the thread pool.
 */
#include "context.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "matvec.h"
#include "quant.h"

struct ta_ctx {
    const ta_model *m;
    ta_pool *pool;
    uint32_t n_ctx, n_past;
    uint32_t kv_dim;            /* n_head_kv * head_dim */
    uint32_t kv_type;           /* ta_type of the cache elements */
    size_t head_bytes;          /* bytes of one head's key (or value) in the cache */
    const ta_quant_ops *kv_ops; /* converts cache rows */
    uint8_t *k_cache, *v_cache; /* [layer][pos][kv head] of head_bytes each */
    float *x, *h, *q, *k, *v, *qkv, *att_out, *scores, *ff_a, *ff_b, *logits;
    float *inv_freq; /* n_rot / 2 rotation frequencies */
    void *scratch;   /* matvec activation scratch */
};

static void *xcalloc(size_t n, size_t size, bool *ok)
{
    void *p = calloc(n ? n : 1, size);
    if (!p) *ok = false;
    return p;
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
    c->n_ctx = p && p->n_ctx ? p->n_ctx : hp->n_ctx_train;
    if (c->n_ctx > hp->n_ctx_train) c->n_ctx = hp->n_ctx_train;
    c->kv_dim = hp->n_head_kv * hp->head_dim;
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
    size_t q_dim = (size_t)hp->n_head * hp->head_dim;
    size_t cache = (size_t)hp->n_layer * c->n_ctx * hp->n_head_kv * c->head_bytes;
    bool ok = true;
    c->k_cache = xcalloc(cache, 1, &ok);
    c->v_cache = xcalloc(cache, 1, &ok);
    c->x = xcalloc(hp->n_embd, sizeof(float), &ok);
    c->h = xcalloc(hp->n_embd > q_dim ? hp->n_embd : q_dim, sizeof(float), &ok);
    c->q = xcalloc(q_dim, sizeof(float), &ok);
    c->k = xcalloc(c->kv_dim, sizeof(float), &ok);
    c->v = xcalloc(c->kv_dim, sizeof(float), &ok);
    c->qkv = xcalloc(q_dim + 2 * (size_t)c->kv_dim, sizeof(float), &ok);
    c->att_out = xcalloc(q_dim, sizeof(float), &ok);
    c->scores = xcalloc((size_t)hp->n_head * c->n_ctx, sizeof(float), &ok);
    c->ff_a = xcalloc(2 * (size_t)hp->n_ff, sizeof(float), &ok);
    c->ff_b = xcalloc(hp->n_ff, sizeof(float), &ok);
    c->logits = xcalloc(hp->n_vocab, sizeof(float), &ok);
    c->inv_freq = xcalloc(hp->n_rot / 2, sizeof(float), &ok);
    size_t widest = hp->n_ff > hp->n_embd ? hp->n_ff : hp->n_embd;
    if (q_dim > widest) widest = q_dim;
    c->scratch = xcalloc(ta_matvec_scratch_bytes(widest), 1, &ok);
    if (!ok) {
        ta_ctx_free(c);
        ta_error_set(err, TA_ENOMEM, "out of memory for a context of %u tokens", p ? p->n_ctx : 0);
        return NULL;
    }
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
    free(c->k_cache);
    free(c->v_cache);
    free(c->x);
    free(c->h);
    free(c->q);
    free(c->k);
    free(c->v);
    free(c->qkv);
    free(c->att_out);
    free(c->scores);
    free(c->ff_a);
    free(c->ff_b);
    free(c->logits);
    free(c->inv_freq);
    free(c->scratch);
    free(c);
}

const float *ta_ctx_logits(const ta_ctx *c)
{
    return c->logits;
}

uint32_t ta_ctx_n_past(const ta_ctx *c)
{
    return c->n_past;
}

uint32_t ta_ctx_n_ctx(const ta_ctx *c)
{
    return c->n_ctx;
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

static void rope(float *vec, uint32_t n_heads, uint32_t head_dim, uint32_t n_rot, ta_rope_mode mode,
                 const float *inv_freq, float pos)
{
    for (uint32_t h = 0; h < n_heads; h++) {
        float *v = vec + (size_t)h * head_dim;
        for (uint32_t i = 0; i < n_rot / 2; i++) {
            float theta = pos * inv_freq[i];
            float cs = cosf(theta), sn = sinf(theta);
            uint32_t a = mode == TA_ROPE_NORM ? 2 * i : i;
            uint32_t b = mode == TA_ROPE_NORM ? 2 * i + 1 : i + n_rot / 2;
            float x0 = v[a], x1 = v[b];
            v[a] = x0 * cs - x1 * sn;
            v[b] = x0 * sn + x1 * cs;
        }
    }
}

typedef struct attn_job {
    ta_ctx *c;
    uint32_t layer, pos;
} attn_job;

/* Where head h of position t of layer l sits in a cache. */
static uint8_t *cache_at(const ta_ctx *c, uint8_t *cache, uint32_t l, uint32_t t, uint32_t h)
{
    size_t heads = c->m->hp.n_head_kv;
    return cache + (((size_t)l * c->n_ctx + t) * heads + h) * c->head_bytes;
}

/* Attention for query heads [begin, end). */
static void attend(void *arg, int64_t begin, int64_t end)
{
    attn_job *j = arg;
    ta_ctx *c = j->c;
    const ta_hparams *hp = &c->m->hp;
    uint32_t hd = hp->head_dim, group = hp->n_head / hp->n_head_kv;
    float scale = 1.0f / sqrtf((float)hd);
    float row[1024]; /* one head's key or value, dequantized (head_dim <= 1024) */
    for (int64_t h = begin; h < end; h++) {
        const float *q = c->q + (size_t)h * hd;
        float *sc = c->scores + (size_t)h * c->n_ctx;
        uint32_t kvh = (uint32_t)h / group;
        float mx = -INFINITY;
        for (uint32_t t = 0; t <= j->pos; t++) {
            c->kv_ops->dequantize_row(cache_at(c, c->k_cache, j->layer, t, kvh), row, hd);
            float s = 0;
            for (uint32_t i = 0; i < hd; i++)
                s += q[i] * row[i];
            sc[t] = s * scale;
            if (sc[t] > mx) mx = sc[t];
        }
        float sum = 0;
        for (uint32_t t = 0; t <= j->pos; t++) {
            sc[t] = expf(sc[t] - mx);
            sum += sc[t];
        }
        float *out = c->att_out + (size_t)h * hd;
        memset(out, 0, hd * sizeof(float));
        for (uint32_t t = 0; t <= j->pos; t++) {
            c->kv_ops->dequantize_row(cache_at(c, c->v_cache, j->layer, t, kvh), row, hd);
            float w = sc[t] / sum;
            for (uint32_t i = 0; i < hd; i++)
                out[i] += w * row[i];
        }
    }
}

static void add_bias(float *x, const ta_gguf_tensor *b, uint32_t n)
{
    if (b) ta_row_add(x, b, n);
}

static void eval_one(ta_ctx *c, int32_t token)
{
    const ta_model *m = c->m;
    const ta_hparams *hp = &m->hp;
    uint32_t E = hp->n_embd, hd = hp->head_dim, F = hp->n_ff;
    uint32_t q_dim = hp->n_head * hd, kv = c->kv_dim, pos = c->n_past;
    float fpos = (float)pos / hp->rope_scale;

    ta_row_get(c->x, m->tok_embd, (uint64_t)token);
    for (uint32_t l = 0; l < hp->n_layer; l++) {
        const ta_layer *L = &m->layers[l];
        rmsnorm(c->h, c->x, L->attn_norm, E, hp->norm_eps);
        if (L->wqkv) {
            ta_matvec(c->pool, L->wqkv, c->h, c->qkv, c->scratch);
            memcpy(c->q, c->qkv, q_dim * sizeof(float));
            memcpy(c->k, c->qkv + q_dim, kv * sizeof(float));
            memcpy(c->v, c->qkv + q_dim + kv, kv * sizeof(float));
        } else {
            ta_matvec(c->pool, L->wq, c->h, c->q, c->scratch);
            ta_matvec(c->pool, L->wk, c->h, c->k, c->scratch);
            ta_matvec(c->pool, L->wv, c->h, c->v, c->scratch);
        }
        add_bias(c->q, L->bq, q_dim);
        add_bias(c->k, L->bk, kv);
        add_bias(c->v, L->bv, kv);
        if (L->q_norm) {
            for (uint32_t h = 0; h < hp->n_head; h++)
                rmsnorm(c->q + (size_t)h * hd, c->q + (size_t)h * hd, L->q_norm, hd, hp->norm_eps);
            for (uint32_t h = 0; h < hp->n_head_kv; h++)
                rmsnorm(c->k + (size_t)h * hd, c->k + (size_t)h * hd, L->k_norm, hd, hp->norm_eps);
        }
        rope(c->q, hp->n_head, hd, hp->n_rot, hp->rope_mode, c->inv_freq, fpos);
        rope(c->k, hp->n_head_kv, hd, hp->n_rot, hp->rope_mode, c->inv_freq, fpos);
        for (uint32_t h = 0; h < hp->n_head_kv; h++) {
            c->kv_ops->quantize_row(c->k + (size_t)h * hd, cache_at(c, c->k_cache, l, pos, h), hd);
            c->kv_ops->quantize_row(c->v + (size_t)h * hd, cache_at(c, c->v_cache, l, pos, h), hd);
        }
        attn_job job = {c, l, pos};
        if (c->pool)
            ta_pool_for(c->pool, hp->n_head, attend, &job);
        else
            attend(&job, 0, hp->n_head);
        ta_matvec(c->pool, L->wo, c->att_out, c->h, c->scratch);
        for (uint32_t i = 0; i < E; i++)
            c->x[i] += c->h[i];

        rmsnorm(c->h, c->x, L->ffn_norm, E, hp->norm_eps);
        float *gate = c->ff_a, *up;
        if (L->w_gate) {
            ta_matvec(c->pool, L->w_gate, c->h, gate, c->scratch);
            up = c->ff_b;
            ta_matvec(c->pool, L->w_up, c->h, up, c->scratch);
        } else {
            ta_matvec(c->pool, L->w_up, c->h, c->ff_a, c->scratch); /* [gate | up] */
            up = c->ff_a + F;
        }
        for (uint32_t i = 0; i < F; i++) {
            float g = gate[i];
            gate[i] = g / (1.0f + expf(-g)) * up[i];
        }
        ta_matvec(c->pool, L->w_down, gate, c->h, c->scratch);
        for (uint32_t i = 0; i < E; i++)
            c->x[i] += c->h[i];
    }
    rmsnorm(c->h, c->x, m->out_norm, E, hp->norm_eps);
    ta_matvec(c->pool, m->output, c->h, c->logits, c->scratch);
    c->n_past++;
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
    for (uint32_t i = 0; i < n; i++)
        eval_one(c, tokens[i]);
    return TA_OK;
}
