/*
 * context.h - one sequence being evaluated by a model: the KV cache and the scratch
 * buffers of the forward pass. ta_ctx_eval feeds tokens at the next positions and
 * leaves the logits of the last one. A prompt is evaluated n_batch tokens at a time
 * (every weight matrix is read once per batch); decoding is the batch of one. Nothing
 * is allocated per token.
 */
#ifndef TA_ENGINE_CONTEXT_H
#define TA_ENGINE_CONTEXT_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "threadpool.h"

typedef struct ta_ctx ta_ctx;

/* How the KV cache stores keys and values. */
typedef enum {
    TA_KV_F16 = 0, /* the default */
    TA_KV_Q8_0,    /* half the memory; needs a head size that is a multiple of 32 */
    TA_KV_F32,
} ta_kv_type;

typedef struct ta_ctx_params {
    uint32_t n_ctx;     /* 0 = the model's training context */
    ta_pool *pool;      /* borrowed; NULL = single-threaded */
    ta_kv_type kv_type; /* zero-initialized = F16 */
    uint32_t n_batch;   /* tokens evaluated together; 0 = TA_CTX_DEFAULT_BATCH */
} ta_ctx_params;

#define TA_CTX_DEFAULT_BATCH 256

ta_ctx *ta_ctx_new(const ta_model *m, const ta_ctx_params *p, ta_error *err);
void ta_ctx_free(ta_ctx *c);

/* Evaluates tokens at positions n_past, n_past+1, ...; TA_EINVAL with the numbers
 * when they do not fit in the context, or when a token id is out of the vocabulary. */
int ta_ctx_eval(ta_ctx *c, const int32_t *tokens, uint32_t n, ta_error *err);

/* Logits of the last evaluated token (n_vocab floats). */
const float *ta_ctx_logits(const ta_ctx *c);

/* One decoding step of several sequences together: token i is the next token of
 * seqs[i], each at its own position and into its own cache; each gets its logits.
 * The weights are read once for all of them (what makes parallel streams cheap). The
 * step runs in seqs[0]'s buffers and thread pool; every sequence must have the same
 * model, context size and cache type, room for one more token, and appear once;
 * n <= seqs[0]'s batch size. */
int ta_ctx_eval_multi(ta_ctx *const *seqs, const int32_t *tokens, uint32_t n, ta_error *err);
uint32_t ta_ctx_n_past(const ta_ctx *c);
const ta_model *ta_ctx_model(const ta_ctx *c); /* the model it was made for (borrowed) */
uint32_t ta_ctx_n_ctx(const ta_ctx *c);
/* Bytes of the KV cache (keys and values of every layer and position). */
size_t ta_ctx_kv_bytes(const ta_ctx *c);
/* Forgets positions >= n_past (to reuse a shared prefix). */
void ta_ctx_truncate(ta_ctx *c, uint32_t n_past);

#endif
