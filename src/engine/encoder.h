/*
 * encoder.h - sentence-embedding encoders: the `bert` (BGE, MiniLM, ...) and
 * `nomic-bert` (nomic-embed-text) architectures, in llama.cpp's GGUF layout.
 *
 * An encoder reads a whole sequence at once with bidirectional attention (no mask, no
 * KV cache) and returns one vector per text: the per-token outputs pooled (mean over
 * the tokens, or the first token, [CLS]) and scaled to unit L2 norm, ready for cosine
 * similarity by plain dot products.
 *
 *   x = LayerNorm(tok_embd[id] + token_types[0] + position_embd[pos])   nomic: no
 *                                                                        position_embd
 *   for each layer:
 *       q, k, v = Wq x + bq, Wk x + bk, Wv x + bv        nomic: one fused Wqkv (+bqkv)
 *       nomic: rotate q and k by position (RoPE, NEOX style: halves)
 *       a = softmax(q k^T / sqrt(head_dim)) v per head, over every position
 *       x = LayerNorm(x + Wo a + bo)                      attn_output_norm
 *       bert:  f = Wdown gelu(Wup x + bup) + bdown
 *       nomic: f = Wdown (silu(Wgate x) * Wup x)          (biases where present)
 *       x = LayerNorm(x + f)                              layer_output_norm
 *   e = pool(x); e /= |e|
 *
 * Token types are all 0 ("sentence A"), as in llama.cpp. GELU is the exact erf form
 * that BERT checkpoints were trained with (Hugging Face's "gelu"); llama.cpp uses the
 * tanh approximation, which differs by at most ~1e-3 per activation.
 *
 * Loading validates the file like the decoder loader: every tensor the architecture
 * needs, with the shape its hyperparameters imply, in a type the engine computes
 * with; problems are named, e.g. "blk.1.attn_q.weight: expected shape [384, 384], got
 * [384, 128]". Weights stay in place in the file's memory mapping.
 */
#ifndef TA_ENGINE_ENCODER_H
#define TA_ENGINE_ENCODER_H

#include <stdint.h>

#include "../core/error.h"
#include "../gguf/gguf.h"
#include "threadpool.h"

typedef enum {
    TA_ENC_BERT = 0,   /* learned absolute positions, GELU FFN, separate q/k/v */
    TA_ENC_NOMIC_BERT, /* rotary positions, SwiGLU FFN, fused qkv */
} ta_enc_arch;

/* <arch>.pooling_type values (llama.cpp's enum llama_pooling_type). */
typedef enum {
    TA_POOL_NONE = 0, /* per-token outputs; a single embedding is then their mean */
    TA_POOL_MEAN = 1,
    TA_POOL_CLS = 2,  /* the first token's output ([CLS]) */
    TA_POOL_LAST = 3, /* the last token's output */
} ta_pooling;

typedef struct ta_encoder_hparams {
    ta_enc_arch arch;
    uint32_t n_vocab; /* tokenizer.ggml.tokens count == token_embd rows */
    uint32_t n_ctx;   /* <arch>.context_length: the longest input in tokens */
    uint32_t n_embd;
    uint32_t n_layer;
    uint32_t n_ff;
    uint32_t n_head;
    uint32_t head_dim; /* n_embd / n_head */
    uint32_t n_rot;    /* nomic: rotary dimensions per head (default head_dim) */
    float norm_eps;    /* <arch>.attention.layer_norm_epsilon, default 1e-12 */
    float rope_base;   /* nomic: <arch>.rope.freq_base, default 10000 */
    ta_pooling pooling;
} ta_encoder_hparams;

typedef struct ta_encoder ta_encoder;

/* Opens and validates a GGUF file. NULL with a message naming the problem. */
ta_encoder *ta_encoder_load(const char *path, ta_error *err);
/* The same from an open file; takes ownership of g on success and on failure. */
ta_encoder *ta_encoder_from_gguf(ta_gguf *g, ta_error *err);
void ta_encoder_free(ta_encoder *e);

const ta_encoder_hparams *ta_encoder_hparams_get(const ta_encoder *e);
/* Length of the vectors ta_encoder_embed writes. */
uint32_t ta_encoder_n_embd(const ta_encoder *e);
/* Longest input, in tokens (special tokens included). */
uint32_t ta_encoder_n_ctx(const ta_encoder *e);
/* The file (borrowed; for building the tokenizer from the same metadata). */
const ta_gguf *ta_encoder_gguf(const ta_encoder *e);
/* Overrides the file's pooling (tests, and callers that know better). */
void ta_encoder_set_pooling(ta_encoder *e, ta_pooling pooling);

/* Embeds n token ids (usually [CLS] ... [SEP], as the tokenizer gives them with
 * add_special): out gets n_embd floats of unit L2 norm (all zeros only if the pooled
 * vector is exactly zero). pool may be NULL. Fails with TA_EINVAL when n is 0 or more
 * than n_ctx (the message gives both numbers; nothing is truncated) or an id is outside
 * the vocabulary, TA_ENOMEM when working memory cannot be had. Safe to call from
 * several threads at once with different pools (the encoder is not modified). */
int ta_encoder_embed(const ta_encoder *e, const int32_t *ids, uint32_t n, float *out, ta_pool *pool,
                     ta_error *err);

const char *ta_enc_arch_name(ta_enc_arch arch);

#endif
