/*
 * model.h - a transformer model as stored in a GGUF file: its hyperparameters, read
 * from the "<arch>.*" metadata keys, and references to its weight tensors, which stay
 * in place in the file's memory mapping.
 *
 * Loading checks that the file is a model this engine can run: every tensor the
 * architecture needs is present with the shape its hyperparameters imply, in a type
 * the engine computes with, and the vocabulary matches the embedding table. Each
 * problem is reported by name, e.g. "blk.3.attn_k.weight: expected shape [64, 32],
 * got [64, 64]".
 */
#ifndef TA_ENGINE_MODEL_H
#define TA_ENGINE_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/error.h"
#include "../gguf/gguf.h"

typedef enum {
    TA_ARCH_LLAMA = 0, /* Llama 2/3, Mistral, TinyLlama, SmolLM */
    TA_ARCH_QWEN2,     /* q/k/v biases */
    TA_ARCH_QWEN3,     /* per-head q/k RMSNorm */
    TA_ARCH_PHI3,      /* fused qkv and gate/up */
    TA_ARCH_COUNT,
} ta_arch;

typedef enum {
    TA_ROPE_NORM = 0, /* rotate adjacent pairs (x[2i], x[2i+1]) */
    TA_ROPE_NEOX,     /* rotate halves (x[i], x[i + n_rot/2]) */
} ta_rope_mode;

typedef struct ta_hparams {
    ta_arch arch;
    char arch_name[32];
    uint32_t n_vocab;
    uint32_t n_ctx_train;
    uint32_t n_embd;
    uint32_t n_layer;
    uint32_t n_ff;
    uint32_t n_head;
    uint32_t n_head_kv;
    uint32_t head_dim; /* n_embd / n_head unless the file says otherwise */
    uint32_t n_rot;    /* rotary dimensions per head */
    float norm_eps;
    float rope_base;
    float rope_scale; /* linear position scaling: pos / rope_scale (1 = none) */
    ta_rope_mode rope_mode;
} ta_hparams;

typedef struct ta_layer {
    const ta_gguf_tensor *attn_norm;
    const ta_gguf_tensor *wq, *wk, *wv, *wqkv, *wo;
    const ta_gguf_tensor *bq, *bk, *bv;
    const ta_gguf_tensor *q_norm, *k_norm;
    const ta_gguf_tensor *ffn_norm;
    const ta_gguf_tensor *w_gate, *w_up, *w_down; /* phi3: w_up holds gate and up */
} ta_layer;

typedef struct ta_model {
    ta_gguf *gguf; /* owned */
    ta_hparams hp;
    const ta_gguf_tensor *tok_embd;
    const ta_gguf_tensor *out_norm;
    const ta_gguf_tensor *output;     /* token_embd.weight when the embeddings are tied */
    const ta_gguf_tensor *rope_freqs; /* optional per-dimension frequency factors (Llama 3) */
    ta_layer *layers;
    /* Weights repacked for the kernels (repack.h); the pointers above lead here. */
    ta_gguf_tensor *packed;
    size_t n_packed;
    void *packed_mem; /* anonymous memory, or the mapped pack cache file */
    size_t packed_bytes;
    bool packed_from_cache;
} ta_model;

/* Opens and validates; takes ownership of g on success and on failure. */
ta_model *ta_model_from_gguf(ta_gguf *g, ta_error *err);
ta_model *ta_model_load(const char *path, ta_error *err);
void ta_model_free(ta_model *m);

/* Locks the model's weights in RAM (the file mapping and any repacked copy), so they are
 * never paged out; TA_EIO with the reason (often RLIMIT_MEMLOCK) when the OS refuses. */
int ta_model_lock(ta_model *m, ta_error *err);

/* Total number of weight elements (parameters). */
uint64_t ta_model_param_count(const ta_model *m);

const char *ta_arch_name(ta_arch arch);

#endif
