/*
 * encoder.c - loading, validation and the forward pass of the bert / nomic-bert
 * embedding encoders (see encoder.h for the math).
 *
 * The whole sequence is processed layer by layer: activations are [n tokens][n_embd]
 * row-major. Matrix products go through ta_matvec one token at a time (it splits the
 * rows across the pool); attention is split across the pool by query token. Working
 * memory is allocated per call, so one loaded encoder serves concurrent callers.
 */
#include "encoder.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "matvec.h"
#include "quant.h"
#include "weights.h"

typedef struct enc_layer {
    const ta_gguf_tensor *wq, *wk, *wv, *wqkv, *wo;
    const ta_gguf_tensor *bq, *bk, *bv, *bqkv, *bo;
    const ta_gguf_tensor *attn_norm, *attn_norm_b; /* attn_output_norm */
    const ta_gguf_tensor *w_gate, *w_up, *w_down;
    const ta_gguf_tensor *b_gate, *b_up, *b_down;
    const ta_gguf_tensor *out_norm, *out_norm_b; /* layer_output_norm */
} enc_layer;

struct ta_encoder {
    ta_gguf *gguf; /* owned */
    ta_encoder_hparams hp;
    const ta_gguf_tensor *tok_embd, *type_embd, *pos_embd;
    const ta_gguf_tensor *embd_norm, *embd_norm_b;
    enc_layer *layers;
};

const char *ta_enc_arch_name(ta_enc_arch arch)
{
    return arch == TA_ENC_NOMIC_BERT ? "nomic-bert" : "bert";
}

/* ---------------------------------------------------------------- loading */

static bool key_u32(const ta_gguf *g, const char *arch, const char *suffix, uint32_t *out)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    return ta_gguf_get_u32(g, key, out);
}

static void key_f32(const ta_gguf *g, const char *arch, const char *suffix, float *out)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    ta_gguf_get_f32(g, key, out);
}

static int read_hparams(const ta_gguf *g, ta_encoder_hparams *hp, ta_error *err)
{
    memset(hp, 0, sizeof *hp);
    ta_gguf_str s;
    if (!ta_gguf_get_str(g, "general.architecture", &s))
        return ta_error_set(err, TA_EINVAL, "missing metadata key general.architecture");
    const char *a;
    if (s.len == 4 && !memcmp(s.ptr, "bert", 4)) {
        hp->arch = TA_ENC_BERT;
        a = "bert";
    } else if (s.len == 10 && !memcmp(s.ptr, "nomic-bert", 10)) {
        hp->arch = TA_ENC_NOMIC_BERT;
        a = "nomic-bert";
    } else {
        int n = s.len > 64 ? 64 : (int)s.len;
        return ta_error_set(err, TA_EINVAL,
                            "architecture '%.*s' is not an embedding encoder (supported: bert, "
                            "nomic-bert)",
                            n, s.ptr);
    }
    static const char *const required[] = {"embedding_length", "block_count", "feed_forward_length",
                                           "attention.head_count", "context_length"};
    uint32_t *dst[] = {&hp->n_embd, &hp->n_layer, &hp->n_ff, &hp->n_head, &hp->n_ctx};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        if (!key_u32(g, a, required[i], dst[i]))
            return ta_error_set(err, TA_EINVAL, "missing metadata key %s.%s", a, required[i]);
    if (hp->n_embd == 0 || hp->n_layer == 0 || hp->n_ff == 0 || hp->n_head == 0 || hp->n_ctx == 0 ||
        hp->n_embd > (1u << 16) || hp->n_ff > (1u << 18) || hp->n_layer > 256 ||
        hp->n_ctx > (1u << 20))
        return ta_error_set(err, TA_EINVAL,
                            "implausible hyperparameters: n_embd %u, n_layer %u, n_head %u, "
                            "n_ff %u, context_length %u",
                            hp->n_embd, hp->n_layer, hp->n_head, hp->n_ff, hp->n_ctx);
    if (hp->n_embd % hp->n_head)
        return ta_error_set(err, TA_EINVAL,
                            "%s.embedding_length %u is not a multiple of attention.head_count %u",
                            a, hp->n_embd, hp->n_head);
    hp->head_dim = hp->n_embd / hp->n_head;
    if (hp->arch == TA_ENC_NOMIC_BERT) {
        hp->n_rot = hp->head_dim;
        key_u32(g, a, "rope.dimension_count", &hp->n_rot);
        if (hp->n_rot == 0 || hp->n_rot > hp->head_dim || hp->n_rot % 2)
            return ta_error_set(err, TA_EINVAL,
                                "%s.rope.dimension_count %u does not fit head size %u", a,
                                hp->n_rot, hp->head_dim);
        hp->rope_base = 10000.0f;
        key_f32(g, a, "rope.freq_base", &hp->rope_base);
        if (!(hp->rope_base > 0))
            return ta_error_set(err, TA_EINVAL, "%s.rope.freq_base %g is not positive", a,
                                (double)hp->rope_base);
    }
    hp->norm_eps = 1e-12f;
    key_f32(g, a, "attention.layer_norm_epsilon", &hp->norm_eps);
    if (!(hp->norm_eps >= 0) || hp->norm_eps > 1)
        return ta_error_set(err, TA_EINVAL, "%s.attention.layer_norm_epsilon %g is out of range", a,
                            (double)hp->norm_eps);
    uint32_t pooling = TA_POOL_MEAN;
    key_u32(g, a, "pooling_type", &pooling);
    if (pooling > TA_POOL_LAST)
        return ta_error_set(err, TA_EINVAL,
                            "%s.pooling_type %u is not supported (0 none, 1 mean, 2 cls, 3 last)",
                            a, pooling);
    hp->pooling = (ta_pooling)pooling;

    uint64_t count = 0;
    ta_gguf_vtype et;
    if (!ta_gguf_get_array(g, "tokenizer.ggml.tokens", &et, &count) || et != TA_GGUF_STRING)
        return ta_error_set(err, TA_EINVAL, "missing tokenizer.ggml.tokens (the vocabulary)");
    if (count == 0 || count > (1u << 24))
        return ta_error_set(err, TA_EINVAL, "vocabulary of %llu tokens", (unsigned long long)count);
    hp->n_vocab = (uint32_t)count;
    return TA_OK;
}

static int bind_tensors(ta_encoder *e, ta_error *err)
{
    const ta_gguf *g = e->gguf;
    const ta_encoder_hparams *hp = &e->hp;
    bool nomic = hp->arch == TA_ENC_NOMIC_BERT;
    uint64_t E = hp->n_embd, F = hp->n_ff, V = hp->n_vocab;
    int rc;
    if ((rc = ta_weight_check(g, "token_embd.weight", E, V, true, &e->tok_embd, err))) {
        const ta_gguf_tensor *t = e->tok_embd;
        if (t && t->ne[0] == E && t->n_dims == 2 && t->ne[1] != V)
            return ta_error_set(err, TA_EINVAL,
                                "vocabulary size mismatch: the tokenizer has %llu tokens but "
                                "token_embd.weight has %llu rows",
                                (unsigned long long)V, (unsigned long long)t->ne[1]);
        return rc;
    }
    /* Token types: any count of types ("sentence A", "sentence B", ...); only type 0 is
     * used. llama.cpp loads it for both architectures; absent is allowed. */
    if ((rc = ta_weight_check(g, "token_types.weight", E, TA_ANY_ROWS, false, &e->type_embd, err)))
        return rc;
    if (!nomic &&
        (rc = ta_weight_check(g, "position_embd.weight", E, hp->n_ctx, true, &e->pos_embd, err)))
        return rc;
    if ((rc = ta_weight_check(g, "token_embd_norm.weight", E, 0, true, &e->embd_norm, err)) ||
        (rc = ta_weight_check(g, "token_embd_norm.bias", E, 0, true, &e->embd_norm_b, err)))
        return rc;

    e->layers = calloc(hp->n_layer, sizeof *e->layers);
    if (!e->layers) return ta_error_set(err, TA_ENOMEM, "out of memory");
    for (uint32_t i = 0; i < hp->n_layer; i++) {
        enc_layer *L = &e->layers[i];
        char n[96];
#define T(field, suffix, ne0, ne1, req)                                                            \
    do {                                                                                           \
        snprintf(n, sizeof n, "blk.%u." suffix, i);                                                \
        if ((rc = ta_weight_check(g, n, ne0, ne1, req, &L->field, err))) return rc;                \
    } while (0)
        if (nomic) {
            T(wqkv, "attn_qkv.weight", E, 3 * E, true);
            T(bqkv, "attn_qkv.bias", 3 * E, 0, false);
        } else {
            T(wq, "attn_q.weight", E, E, true);
            T(bq, "attn_q.bias", E, 0, true);
            T(wk, "attn_k.weight", E, E, true);
            T(bk, "attn_k.bias", E, 0, true);
            T(wv, "attn_v.weight", E, E, true);
            T(bv, "attn_v.bias", E, 0, true);
        }
        T(wo, "attn_output.weight", E, E, true);
        T(bo, "attn_output.bias", E, 0, !nomic);
        T(attn_norm, "attn_output_norm.weight", E, 0, true);
        T(attn_norm_b, "attn_output_norm.bias", E, 0, true);
        if (nomic) {
            T(w_gate, "ffn_gate.weight", E, F, true);
            T(b_gate, "ffn_gate.bias", F, 0, false);
        }
        T(w_up, "ffn_up.weight", E, F, true);
        T(b_up, "ffn_up.bias", F, 0, !nomic);
        T(w_down, "ffn_down.weight", F, E, true);
        T(b_down, "ffn_down.bias", E, 0, !nomic);
        T(out_norm, "layer_output_norm.weight", E, 0, true);
        T(out_norm_b, "layer_output_norm.bias", E, 0, true);
#undef T
    }
    return TA_OK;
}

ta_encoder *ta_encoder_from_gguf(ta_gguf *g, ta_error *err)
{
    ta_encoder *e = calloc(1, sizeof *e);
    if (!e) {
        ta_gguf_close(g);
        ta_error_set(err, TA_ENOMEM, "out of memory");
        return NULL;
    }
    e->gguf = g;
    if (read_hparams(g, &e->hp, err) != TA_OK || bind_tensors(e, err) != TA_OK) {
        ta_encoder_free(e);
        return NULL;
    }
    return e;
}

ta_encoder *ta_encoder_load(const char *path, ta_error *err)
{
    ta_gguf *g = ta_gguf_open(path, err);
    if (!g) return NULL;
    return ta_encoder_from_gguf(g, err);
}

void ta_encoder_free(ta_encoder *e)
{
    if (!e) return;
    ta_gguf_close(e->gguf);
    free(e->layers);
    free(e);
}

const ta_encoder_hparams *ta_encoder_hparams_get(const ta_encoder *e)
{
    return &e->hp;
}

uint32_t ta_encoder_n_embd(const ta_encoder *e)
{
    return e->hp.n_embd;
}

uint32_t ta_encoder_n_ctx(const ta_encoder *e)
{
    return e->hp.n_ctx;
}

const ta_gguf *ta_encoder_gguf(const ta_encoder *e)
{
    return e->gguf;
}

void ta_encoder_set_pooling(ta_encoder *e, ta_pooling pooling)
{
    e->hp.pooling = pooling;
}

/* ---------------------------------------------------------------- forward */

/* x = LayerNorm(x) * w + b, in place; statistics in double for stability. */
static void layernorm(float *x, const ta_gguf_tensor *w, const ta_gguf_tensor *b, uint32_t n,
                      float eps)
{
    double mean = 0, var = 0;
    for (uint32_t i = 0; i < n; i++)
        mean += x[i];
    mean /= n;
    for (uint32_t i = 0; i < n; i++) {
        double d = x[i] - mean;
        var += d * d;
    }
    var /= n;
    for (uint32_t i = 0; i < n; i++)
        x[i] = (float)(x[i] - mean);
    ta_row_mul(x, x, (float)(1.0 / sqrt(var + eps)), w, n);
    ta_row_add(x, b, n);
}

/* Rotates each head's first n_rot dimensions by pos (NEOX: pairs (i, i + n_rot/2)). */
static void rope_neox(float *v, uint32_t n_head, uint32_t hd, uint32_t n_rot, const float *inv_freq,
                      float pos)
{
    for (uint32_t h = 0; h < n_head; h++) {
        float *x = v + (size_t)h * hd;
        for (uint32_t i = 0; i < n_rot / 2; i++) {
            float th = pos * inv_freq[i];
            float cs = cosf(th), sn = sinf(th);
            float x0 = x[i], x1 = x[i + n_rot / 2];
            x[i] = x0 * cs - x1 * sn;
            x[i + n_rot / 2] = x0 * sn + x1 * cs;
        }
    }
}

typedef struct attn_job {
    const ta_encoder_hparams *hp;
    const float *q, *k, *v; /* [n][n_embd] each */
    float *out;             /* [n][n_embd] */
    uint32_t n;
    bool oom;
} attn_job;

/* Attention of query tokens [begin, end) over all n tokens, every head. */
static void attend(void *arg, int64_t begin, int64_t end)
{
    attn_job *j = arg;
    uint32_t E = j->hp->n_embd, hd = j->hp->head_dim, n = j->n;
    float scale = 1.0f / sqrtf((float)hd);
    float *sc = malloc((size_t)n * sizeof *sc);
    if (!sc) {
        j->oom = true; /* a benign race: every writer stores true */
        return;
    }
    for (int64_t t = begin; t < end; t++) {
        for (uint32_t h = 0; h < j->hp->n_head; h++) {
            const float *q = j->q + (size_t)t * E + (size_t)h * hd;
            float mx = -INFINITY;
            for (uint32_t s = 0; s < n; s++) {
                const float *k = j->k + (size_t)s * E + (size_t)h * hd;
                float d = 0;
                for (uint32_t i = 0; i < hd; i++)
                    d += q[i] * k[i];
                sc[s] = d * scale;
                if (sc[s] > mx) mx = sc[s];
            }
            float sum = 0;
            for (uint32_t s = 0; s < n; s++) {
                sc[s] = expf(sc[s] - mx);
                sum += sc[s];
            }
            float *o = j->out + (size_t)t * E + (size_t)h * hd;
            memset(o, 0, hd * sizeof *o);
            for (uint32_t s = 0; s < n; s++) {
                const float *v = j->v + (size_t)s * E + (size_t)h * hd;
                float w = sc[s] / sum;
                for (uint32_t i = 0; i < hd; i++)
                    o[i] += w * v[i];
            }
        }
    }
    free(sc);
}

static float gelu(float x)
{
    return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
}

static float silu(float x)
{
    return x / (1.0f + expf(-x));
}

/* y = W x (+ b when b is not NULL). */
static void linear(ta_pool *pool, const ta_gguf_tensor *w, const ta_gguf_tensor *b, const float *x,
                   float *y, void *scratch)
{
    ta_matvec(pool, w, x, y, scratch);
    if (b) ta_row_add(y, b, (uint32_t)(w->n_elems / w->ne[0]));
}

int ta_encoder_embed(const ta_encoder *e, const int32_t *ids, uint32_t n, float *out, ta_pool *pool,
                     ta_error *err)
{
    const ta_encoder_hparams *hp = &e->hp;
    uint32_t E = hp->n_embd, F = hp->n_ff;
    if (n == 0) return ta_error_set(err, TA_EINVAL, "nothing to embed: the input has no tokens");
    if (n > hp->n_ctx)
        return ta_error_set(err, TA_EINVAL,
                            "the input is %u tokens; this model reads at most %u (its context "
                            "length)",
                            n, hp->n_ctx);
    for (uint32_t i = 0; i < n; i++)
        if (ids[i] < 0 || (uint32_t)ids[i] >= hp->n_vocab)
            return ta_error_set(err, TA_EINVAL, "token id %d is outside the vocabulary (%u)",
                                ids[i], hp->n_vocab);

    size_t nE = (size_t)n * E;
    size_t widest = F > E ? F : E;
    float *x = malloc(nE * sizeof *x);
    float *q = malloc(nE * sizeof *q);
    float *k = malloc(nE * sizeof *k);
    float *v = malloc(nE * sizeof *v);
    float *att = malloc(nE * sizeof *att);
    float *tmp = malloc(3 * (size_t)E * sizeof *tmp);
    float *ff_a = malloc((size_t)F * sizeof *ff_a);
    float *ff_b = malloc((size_t)F * sizeof *ff_b);
    float *inv_freq = malloc((hp->n_rot / 2 + 1) * sizeof *inv_freq);
    void *scratch = malloc(ta_matvec_scratch_bytes(widest));
    int rc = TA_OK;
    if (!x || !q || !k || !v || !att || !tmp || !ff_a || !ff_b || !inv_freq || !scratch) {
        rc = ta_error_set(err, TA_ENOMEM, "out of memory embedding %u tokens", n);
        goto done;
    }
    for (uint32_t i = 0; i < hp->n_rot / 2; i++)
        inv_freq[i] = powf(hp->rope_base, -2.0f * (float)i / (float)hp->n_rot);

    /* Input embeddings: token + type 0 + position, then LayerNorm. */
    for (uint32_t t = 0; t < n; t++) {
        float *xt = x + (size_t)t * E;
        ta_row_get(xt, e->tok_embd, (uint64_t)ids[t]);
        if (e->type_embd) {
            ta_row_get(tmp, e->type_embd, 0);
            for (uint32_t i = 0; i < E; i++)
                xt[i] += tmp[i];
        }
        if (e->pos_embd) {
            ta_row_get(tmp, e->pos_embd, t);
            for (uint32_t i = 0; i < E; i++)
                xt[i] += tmp[i];
        }
        layernorm(xt, e->embd_norm, e->embd_norm_b, E, hp->norm_eps);
    }

    for (uint32_t l = 0; l < hp->n_layer; l++) {
        const enc_layer *L = &e->layers[l];
        for (uint32_t t = 0; t < n; t++) {
            const float *xt = x + (size_t)t * E;
            float *qt = q + (size_t)t * E, *kt = k + (size_t)t * E, *vt = v + (size_t)t * E;
            if (L->wqkv) {
                linear(pool, L->wqkv, L->bqkv, xt, tmp, scratch);
                memcpy(qt, tmp, E * sizeof *qt);
                memcpy(kt, tmp + E, E * sizeof *kt);
                memcpy(vt, tmp + 2 * (size_t)E, E * sizeof *vt);
                rope_neox(qt, hp->n_head, hp->head_dim, hp->n_rot, inv_freq, (float)t);
                rope_neox(kt, hp->n_head, hp->head_dim, hp->n_rot, inv_freq, (float)t);
            } else {
                linear(pool, L->wq, L->bq, xt, qt, scratch);
                linear(pool, L->wk, L->bk, xt, kt, scratch);
                linear(pool, L->wv, L->bv, xt, vt, scratch);
            }
        }
        attn_job job = {hp, q, k, v, att, n, false};
        if (pool)
            ta_pool_for(pool, n, attend, &job);
        else
            attend(&job, 0, n);
        if (job.oom) {
            rc = ta_error_set(err, TA_ENOMEM, "out of memory in attention over %u tokens", n);
            goto done;
        }
        for (uint32_t t = 0; t < n; t++) {
            float *xt = x + (size_t)t * E;
            /* Attention output, residual, post-norm. */
            linear(pool, L->wo, L->bo, att + (size_t)t * E, tmp, scratch);
            for (uint32_t i = 0; i < E; i++)
                xt[i] += tmp[i];
            layernorm(xt, L->attn_norm, L->attn_norm_b, E, hp->norm_eps);
            /* Feed-forward, residual, post-norm. */
            linear(pool, L->w_up, L->b_up, xt, ff_a, scratch);
            if (L->w_gate) {
                linear(pool, L->w_gate, L->b_gate, xt, ff_b, scratch);
                for (uint32_t i = 0; i < F; i++)
                    ff_a[i] *= silu(ff_b[i]);
            } else {
                for (uint32_t i = 0; i < F; i++)
                    ff_a[i] = gelu(ff_a[i]);
            }
            linear(pool, L->w_down, L->b_down, ff_a, tmp, scratch);
            for (uint32_t i = 0; i < E; i++)
                xt[i] += tmp[i];
            layernorm(xt, L->out_norm, L->out_norm_b, E, hp->norm_eps);
        }
    }

    /* Pooling, then L2 normalization (in double). */
    double *sum = malloc(E * sizeof *sum);
    if (!sum) {
        rc = ta_error_set(err, TA_ENOMEM, "out of memory");
        goto done;
    }
    uint32_t first = 0, count = n;
    if (hp->pooling == TA_POOL_CLS) count = 1;
    if (hp->pooling == TA_POOL_LAST) first = n - 1, count = 1;
    for (uint32_t i = 0; i < E; i++)
        sum[i] = 0;
    for (uint32_t t = first; t < first + count; t++)
        for (uint32_t i = 0; i < E; i++)
            sum[i] += x[(size_t)t * E + i];
    double norm = 0;
    for (uint32_t i = 0; i < E; i++) {
        sum[i] /= count;
        norm += sum[i] * sum[i];
    }
    norm = sqrt(norm);
    for (uint32_t i = 0; i < E; i++)
        out[i] = norm > 0 ? (float)(sum[i] / norm) : 0.0f;
    free(sum);

done:
    free(x);
    free(q);
    free(k);
    free(v);
    free(att);
    free(tmp);
    free(ff_a);
    free(ff_b);
    free(inv_freq);
    free(scratch);
    return rc;
}
