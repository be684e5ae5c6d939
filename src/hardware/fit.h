/*
 * fit.h - memory-fit decisions: will a model run here, where, with how many threads,
 * and which models of a library fit.
 *
 * What a model needs:
 *   weights   the GGUF file's size (the engine maps it; all of it stays resident)
 *   KV cache  n_layers * context * n_kv_heads * (head_dim_k + head_dim_v) * bytes per
 *             element, i.e. 2 * n_layers * ctx * n_kv_heads * head_dim * bytes when the
 *             key and value heads are the same size (f16: 2 bytes; q8_0: 34 bytes per
 *             32 elements; f32: 4); encoders keep no KV cache
 *   overhead  TA_FIT_OVERHEAD_FIXED for the runtime, tokenizer and compute buffers plus
 *             1/TA_FIT_OVERHEAD_DIV of the weights (scratch that grows with the model)
 * It fits when that is at most the effective available memory (cgroup-aware); with
 * TA_FIT_COMFORT of it or less it is "comfortable", else "tight". Where: a GPU when
 * the chosen backend is a GPU one and the GPU's VRAM holds it, else the CPU; the
 * result also says whether the largest GPU would hold it, for builds to come.
 * Threads: the physical cores, capped by the CPUs this process may use.
 */
#ifndef TA_HW_FIT_H
#define TA_HW_FIT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "../core/error.h"
#include "hardware.h"

#define TA_FIT_OVERHEAD_FIXED (64ull << 20)
#define TA_FIT_OVERHEAD_DIV   20
#define TA_FIT_COMFORT        0.8

typedef enum { TA_FIT_KV_F16, TA_FIT_KV_Q8_0, TA_FIT_KV_F32 } ta_fit_kv_type;

/* "f16", "q8_0", "f32" -> *out; false otherwise. */
bool ta_fit_parse_kv_type(const char *s, ta_fit_kv_type *out);
const char *ta_fit_kv_type_name(ta_fit_kv_type t);

typedef struct ta_fit_shape {
    bool known;    /* false: no shape, the KV cache is not counted */
    bool encoder;  /* no KV cache */
    char arch[64]; /* from the GGUF, when read from one */
    uint32_t n_layers;
    uint32_t n_kv_heads;
    uint32_t head_dim_k, head_dim_v;
    uint32_t context_train; /* 0 unknown */
} ta_fit_shape;

/* The KV cache for ctx tokens. */
uint64_t ta_fit_kv_bytes(const ta_fit_shape *s, uint64_t ctx, ta_fit_kv_type t);
uint64_t ta_fit_overhead_bytes(uint64_t weights);

/* Reads a GGUF's shape (block_count, head_count_kv, key/value lengths or
 * embedding_length / head_count, context_length) and the file size. */
int ta_fit_shape_from_gguf(const char *path, ta_fit_shape *shape, uint64_t *file_size,
                           ta_error *err);
/* The shape of a model of the default library, by its name; false when unknown. */
bool ta_fit_library_shape(const char *name, ta_fit_shape *shape);

typedef struct ta_fit_result {
    bool fits;
    const char *where;  /* "gpu", "cpu", "none" */
    const char *rating; /* "comfortable", "tight", "too_big" */
    int threads;
    uint64_t context;
    uint64_t weights_bytes, kv_cache_bytes, overhead_bytes, required_bytes;
    uint64_t available_bytes; /* of the place judged: effective RAM, or VRAM */
    int64_t headroom_bytes;   /* available - required (negative: short by) */
    uint64_t max_context;     /* the largest context that fits (0: none, or shape unknown) */
    int gpu;                  /* index of the largest GPU with known VRAM; -1 none */
    bool gpu_fits;            /* that GPU's VRAM would hold it */
    const char *backend;
    char reason[256];
} ta_fit_result;

/* Decides for weights_bytes of a model of shape at context (0: the trained context,
 * capped at 4096) with a KV cache of kv type. */
void ta_fit_decide(const ta_hw_info *hw, uint64_t weights_bytes, const ta_fit_shape *shape,
                   uint64_t context, ta_fit_kv_type kv, ta_fit_result *out);
json_t *ta_fit_result_json(const ta_hw_info *hw, const ta_fit_result *r);

/* The library's models that fit (library: {"models": [...]} as data/library.json),
 * chat and embedding apart, best first; context 0: each model's trained context capped
 * at 4096. A model's shape comes from its "layers", "kv_heads", "head_dim" members when
 * present, else from ta_fit_library_shape. New reference. */
json_t *ta_fit_recommend(const ta_hw_info *hw, const json_t *library, uint64_t context);

#endif
