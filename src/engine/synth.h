/*
 * synth.h - random-weight models in realistic shapes, written as GGUF files.
 *
 * Tests and benchmarks need models that no hub has to supply: the engine's numbers are
 * checked against an independent reference (tests/reference/) on tiny ones, and its
 * speed is measured on ones shaped exactly like Llama-3.2-1B or Qwen2-0.5B. A model is
 * a shape (dimensions, vocabulary size, rope base, tied embeddings) plus an architecture
 * (which tensors exist: qkv biases for qwen2, q/k norms for qwen3, fused qkv and
 * gate/up for phi3) plus a weight type, quantized by the project's own quantizers.
 *
 * Weights are deterministic in the seed: each row of each tensor has its own random
 * stream, derived from (seed, tensor name, row), so the bytes do not depend on the
 * number of threads. Matrices are N(0, 1/n_in) (about N(0, 0.02^2) at n_in = 2048),
 * which keeps every activation of order 1 at any width; norm weights are 1 + N(0, 0.1^2)
 * and biases N(0, 0.1^2). Vectors (norms, biases, rope factors) are always F32, as
 * llama.cpp stores them.
 *
 * Types whose block does not divide a tensor's rows (a K-quant, 256 per block, on a
 * 896-wide Qwen2-0.5B matrix) fall back per tensor as llama.cpp does: Q2_K and Q3_K to
 * Q4_0 (llama.cpp uses IQ4_NL, which this engine does not compute with), Q4_K to Q5_0,
 * Q5_K to Q5_1, Q6_K to Q8_0, and anything that still does not fit to F16.
 *
 * TA_SYNTH_Q4_K_M is llama.cpp's "Q4_K_M" mixture: Q4_K everywhere except
 *   - output.weight (and token_embd.weight when the embeddings are tied, because it is
 *     then the output matrix too): Q6_K;
 *   - attn_v.weight and ffn_down.weight of the layers where llama.cpp's use_more_bits(i, n)
 *     holds (the first and last eighth of the layers, and every third one between):
 *     Q6_K;
 *   - the fused attn_qkv.weight of phi3: Q5_K.
 *
 * Without a vocabulary file the tokenizer is a synthetic SentencePiece-style ("llama")
 * vocabulary of the shape's size: <unk>, <s>, </s>, the 256 byte tokens <0x00>..<0xFF>
 * (so any text can be encoded by byte fallback), the word-start mark U+2581, then
 * distinct lowercase letter pieces with and without it. With one,
 * every tokenizer.* key is copied from it and its token count sets the vocabulary size.
 *
 * Encoders (bert, nomic-bert; encoder.h) are written with the tensors and metadata
 * encoder.c loads: learned position embeddings, q/k/v/output/FFN biases and a GELU FFN
 * for bert; a fused qkv, rotary positions and a SwiGLU FFN without biases for
 * nomic-bert; every LayerNorm weight 1 + N(0, 0.1^2) and bias N(0, 0.1^2); embeddings
 * (token, type, position) N(0, 1/n_embd), with two token types. The synthetic vocabulary
 * of an encoder is WordPiece in llama.cpp's GGUF form ("bert"): [PAD] [UNK] [CLS] [SEP]
 * [MASK], then every printable ASCII character word-initial ("\u2581c") and as a
 * continuation ("c"), then longer letter pieces of both kinds; any ASCII text encodes.
 * Q4_K_M treats attn_v / ffn_down as for decoders (attn_qkv: Q5_K); there is no output
 * matrix.
 *
 * Memory: one tensor at a time is generated and quantized, but the GGUF writer keeps
 * its own copy of every tensor until the file is written, so writing a model needs
 * about the file's size in RAM (plus the largest tensor once more).
 */
#ifndef TA_ENGINE_SYNTH_H
#define TA_ENGINE_SYNTH_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/error.h"
#include "../gguf/ggml_types.h"
#include "encoder.h"
#include "model.h"

/* A "type" of ta_synth_params that is not a single tensor type: the Q4_K_M mixture. */
#define TA_SYNTH_Q4_K_M 1000

typedef struct ta_synth_shape {
    const char *name;
    const char *about; /* which model it imitates */
    uint32_t n_vocab;  /* without a vocabulary file */
    uint32_t n_ctx;
    uint32_t n_embd;
    uint32_t n_layer;
    uint32_t n_head;
    uint32_t n_head_kv;
    uint32_t head_dim; /* 0 = n_embd / n_head */
    uint32_t n_ff;
    float rope_base;
    float norm_eps;
    bool tied;          /* output.weight is token_embd.weight */
    bool llama3_rope;   /* llama arch: a rope_freqs.weight with Llama 3's scaling (factor 32) */
    bool encoder;       /* a shape for the bert / nomic-bert encoders (see below) */
    ta_pooling pooling; /* encoders: <arch>.pooling_type */
} ta_synth_shape;

size_t ta_synth_shape_count(void);
const ta_synth_shape *ta_synth_shape_at(size_t i);
/* The decoder shape named name, or NULL. */
const ta_synth_shape *ta_synth_shape_find(const char *name);
/* The decoder (encoder false) or encoder shape named name, or NULL: both kinds have a
 * `tiny`. */
const ta_synth_shape *ta_synth_shape_find_kind(const char *name, bool encoder);

/* "F16", "q4_k", "Q4_K_M" ... -> a ta_type the quantizers support, or TA_SYNTH_Q4_K_M;
 * -1 when it is neither. */
int ta_synth_parse_type(const char *name);
/* The name of a value of ta_synth_parse_type. */
const char *ta_synth_type_name(int type);

typedef struct ta_synth_params {
    ta_arch arch; /* a decoder, unless encoder is set */
    bool encoder; /* an embedding encoder of enc_arch (shape must be an encoder one) */
    ta_enc_arch enc_arch;
    const ta_synth_shape *shape;
    int type;               /* from ta_synth_parse_type */
    const char *vocab_path; /* a GGUF with tokenizer.* keys, or NULL for a synthetic one */
    uint64_t seed;
    int threads; /* <= 0: the number of physical cores */
} ta_synth_params;

typedef struct ta_synth_report {
    uint32_t n_vocab;
    uint64_t n_params;
    uint64_t n_tensors;
    uint64_t data_bytes;                  /* tensor bytes in the file */
    uint32_t type_tensors[TA_TYPE_COUNT]; /* tensors per stored type */
    uint32_t n_fallback;                  /* tensors stored in another type than asked */
} ta_synth_report;

/* Generates the model and writes it to path (atomically). report may be NULL. */
int ta_synth_write(const ta_synth_params *p, const char *path, ta_synth_report *report,
                   ta_error *err);

#endif
