/*
 * fit.c - will a model fit, where, with how many threads (fit.h for the arithmetic),
 * and a model's shape from its GGUF metadata.
 */
#include <stdio.h>
#include <string.h>

#include "../gguf/gguf.h"
#include "fit.h"
#include "providers.h"

#define DEFAULT_CONTEXT 4096

bool ta_fit_parse_kv_type(const char *s, ta_fit_kv_type *out)
{
    if (!s) return false;
    if (!strcmp(s, "f16"))
        *out = TA_FIT_KV_F16;
    else if (!strcmp(s, "q8_0"))
        *out = TA_FIT_KV_Q8_0;
    else if (!strcmp(s, "f32"))
        *out = TA_FIT_KV_F32;
    else
        return false;
    return true;
}

const char *ta_fit_kv_type_name(ta_fit_kv_type t)
{
    return t == TA_FIT_KV_Q8_0 ? "q8_0" : t == TA_FIT_KV_F32 ? "f32" : "f16";
}

/* Bytes of one cached row of n elements. */
static uint64_t row_bytes(uint64_t n, ta_fit_kv_type t)
{
    switch (t) {
    case TA_FIT_KV_Q8_0: return (n + 31) / 32 * 34;
    case TA_FIT_KV_F32: return n * 4;
    default: return n * 2;
    }
}

uint64_t ta_fit_kv_bytes(const ta_fit_shape *s, uint64_t ctx, ta_fit_kv_type t)
{
    if (!s || !s->known || s->encoder) return 0;
    uint64_t per_token = row_bytes((uint64_t)s->n_kv_heads * s->head_dim_k, t) +
                         row_bytes((uint64_t)s->n_kv_heads * s->head_dim_v, t);
    return (uint64_t)s->n_layers * ctx * per_token;
}

uint64_t ta_fit_overhead_bytes(uint64_t weights)
{
    return TA_FIT_OVERHEAD_FIXED + weights / TA_FIT_OVERHEAD_DIV;
}

static bool get_u32_any(const ta_gguf *g, const char *key, uint32_t *out)
{
    if (ta_gguf_get_u32(g, key, out)) return true;
    /* Some architectures give a per-layer array (e.g. head_count_kv): take the largest. */
    ta_gguf_vtype et;
    uint64_t n;
    if (!ta_gguf_get_array(g, key, &et, &n) || n == 0) return false;
    int64_t best = 0, v;
    for (uint64_t i = 0; i < n; i++)
        if (ta_gguf_array_i64(g, key, i, &v) && v > best) best = v;
    if (best <= 0 || best > UINT32_MAX) return false;
    *out = (uint32_t)best;
    return true;
}

int ta_fit_shape_from_gguf(const char *path, ta_fit_shape *shape, uint64_t *file_size,
                           ta_error *err)
{
    memset(shape, 0, sizeof *shape);
    ta_gguf *g = ta_gguf_open(path, err);
    if (!g) return err ? err->code : TA_EINVAL;
    *file_size = ta_gguf_file_size(g);
    ta_gguf_str arch;
    if (!ta_gguf_get_str(g, "general.architecture", &arch) || arch.len == 0 || arch.len >= 64) {
        ta_gguf_close(g);
        return ta_error_set(err, TA_EINVAL, "%s: no general.architecture", path);
    }
    snprintf(shape->arch, sizeof shape->arch, "%.*s", (int)arch.len, arch.ptr);
    char key[160];
#define KEY(suffix) (snprintf(key, sizeof key, "%s." suffix, shape->arch), key)
    uint32_t heads = 0, embd = 0;
    bool ok = get_u32_any(g, KEY("block_count"), &shape->n_layers) && shape->n_layers > 0;
    get_u32_any(g, KEY("attention.head_count"), &heads);
    get_u32_any(g, KEY("embedding_length"), &embd);
    if (!get_u32_any(g, KEY("attention.head_count_kv"), &shape->n_kv_heads))
        shape->n_kv_heads = heads;
    if (!get_u32_any(g, KEY("attention.key_length"), &shape->head_dim_k))
        shape->head_dim_k = heads ? embd / heads : 0;
    if (!get_u32_any(g, KEY("attention.value_length"), &shape->head_dim_v))
        shape->head_dim_v = shape->head_dim_k;
    get_u32_any(g, KEY("context_length"), &shape->context_train);
    shape->encoder = strstr(shape->arch, "bert") != NULL ||
                     ta_gguf_find(g, KEY("pooling_type")) >= 0 || !strcmp(shape->arch, "t5encoder");
#undef KEY
    ta_gguf_close(g);
    if (!ok || (!shape->encoder && (!shape->n_kv_heads || !shape->head_dim_k)))
        return ta_error_set(err, TA_EINVAL,
                            "%s: the %s metadata lacks the layer or attention head counts", path,
                            shape->arch);
    shape->known = true;
    return TA_OK;
}

static int threads_for(const ta_hw_info *hw)
{
    int n = hw->cpu.physical_cores > 0 ? hw->cpu.physical_cores : hw->cpu.logical_threads;
    if (hw->effective_cpus > 0 && (n <= 0 || hw->effective_cpus < n)) n = hw->effective_cpus;
    return n > 0 ? n : 1;
}

static const char *rating(uint64_t required, uint64_t available)
{
    if (required > available) return "too_big";
    return (double)required <= TA_FIT_COMFORT * (double)available ? "comfortable" : "tight";
}

void ta_fit_decide(const ta_hw_info *hw, uint64_t weights, const ta_fit_shape *shape,
                   uint64_t context, ta_fit_kv_type kv, ta_fit_result *out)
{
    memset(out, 0, sizeof *out);
    if (!context) {
        context = shape && shape->context_train ? shape->context_train : DEFAULT_CONTEXT;
        if (context > DEFAULT_CONTEXT) context = DEFAULT_CONTEXT;
    }
    out->context = context;
    out->weights_bytes = weights;
    out->kv_cache_bytes = ta_fit_kv_bytes(shape, context, kv);
    out->overhead_bytes = ta_fit_overhead_bytes(weights);
    out->required_bytes = out->weights_bytes + out->kv_cache_bytes + out->overhead_bytes;
    out->threads = threads_for(hw);
    out->backend = ta_hw_choose_backend(hw);

    /* The largest GPU whose memory is known and its own. */
    out->gpu = -1;
    for (int i = 0; i < hw->n_gpus; i++)
        if (hw->gpus[i].vram_total_bytes && !hw->gpus[i].integrated &&
            (out->gpu < 0 || hw->gpus[i].vram_total_bytes > hw->gpus[out->gpu].vram_total_bytes))
            out->gpu = i;
    uint64_t vram = out->gpu >= 0 ? hw->gpus[out->gpu].vram_total_bytes : 0;
    out->gpu_fits = vram && out->required_bytes <= vram;

    uint64_t ram = hw->memory.effective_available_bytes;
    bool gpu_backend = strcmp(out->backend, "cpu") != 0;
    if (gpu_backend && out->gpu_fits) {
        out->where = "gpu";
        out->available_bytes = vram;
    } else {
        out->where = out->required_bytes <= ram ? "cpu" : "none";
        out->available_bytes = ram;
    }
    out->fits = strcmp(out->where, "none") != 0;
    out->rating = rating(out->required_bytes, out->available_bytes);
    out->headroom_bytes = (int64_t)out->available_bytes - (int64_t)out->required_bytes;

    uint64_t per_token = ta_fit_kv_bytes(shape, 1, kv);
    uint64_t fixed = out->weights_bytes + out->overhead_bytes;
    if (shape && shape->known && per_token && out->available_bytes > fixed) {
        out->max_context = (out->available_bytes - fixed) / per_token;
        if (shape->context_train && out->max_context > shape->context_train)
            out->max_context = shape->context_train;
    } else if (shape && shape->known && !per_token && out->available_bytes >= fixed) {
        out->max_context = shape->context_train; /* encoders: no KV cache to bound it */
    }

    if (!ram && !out->fits)
        snprintf(out->reason, sizeof out->reason, "the available memory is unknown");
    else if (!out->fits)
        snprintf(out->reason, sizeof out->reason,
                 "needs %.2f GiB (weights %.2f + KV cache %.2f + overhead %.2f) but %.2f GiB is "
                 "available",
                 out->required_bytes / 1073741824.0, out->weights_bytes / 1073741824.0,
                 out->kv_cache_bytes / 1073741824.0, out->overhead_bytes / 1073741824.0,
                 out->available_bytes / 1073741824.0);
    else if (!strcmp(out->where, "gpu"))
        snprintf(out->reason, sizeof out->reason, "fits in the VRAM of %s",
                 hw->gpus[out->gpu].name[0] ? hw->gpus[out->gpu].name : "the GPU");
    else
        snprintf(out->reason, sizeof out->reason, "fits in memory (%s)%s", out->rating,
                 out->gpu_fits ? "; it would also fit the GPU, which this CPU-only build does "
                                 "not use"
                               : "");
}

json_t *ta_fit_result_json(const ta_hw_info *hw, const ta_fit_result *r)
{
    json_t *gpu = json_null();
    if (r->gpu >= 0) {
        const ta_hw_gpu *g = &hw->gpus[r->gpu];
        gpu = json_pack("{s:i,s:s,s:s,s:I,s:b,s:b}", "index", r->gpu, "name",
                        g->name[0] ? g->name : g->vendor, "pci_address", g->pci_address,
                        "vram_bytes", (json_int_t)g->vram_total_bytes, "fits", r->gpu_fits,
                        "used_by_this_build", strcmp(r->backend, "cpu") != 0);
    }
    return json_pack(
        "{s:b,s:s,s:s,s:i,s:I,s:{s:I,s:I,s:I},s:I,s:I,s:I,s:I,s:o,s:s,s:o,s:s}", "fits", r->fits,
        "where", r->where, "rating", r->rating, "threads", r->threads, "context",
        (json_int_t)r->context, "breakdown", "weights_bytes", (json_int_t)r->weights_bytes,
        "kv_cache_bytes", (json_int_t)r->kv_cache_bytes, "overhead_bytes",
        (json_int_t)r->overhead_bytes, "required_bytes", (json_int_t)r->required_bytes,
        "available_bytes", (json_int_t)r->available_bytes, "headroom_bytes",
        (json_int_t)r->headroom_bytes, "max_context", (json_int_t)r->max_context, "gpu", gpu,
        "backend", r->backend, "memory",
        json_pack("{s:I,s:I,s:o}", "effective_available_bytes",
                  (json_int_t)hw->memory.effective_available_bytes, "effective_total_bytes",
                  (json_int_t)hw->memory.effective_total_bytes, "cgroup_limit_bytes",
                  hw->cgroup.memory_max_bytes
                      ? json_integer((json_int_t)hw->cgroup.memory_max_bytes)
                      : json_null()),
        "reason", r->reason);
}
