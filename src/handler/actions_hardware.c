/*
 * actions_hardware.c - the machine and what it can run: get_hardware_info (everything
 * detected, probed once per process; refresh=true probes again),
 * check_model_feasibility (will a model fit, where, with how many threads) and
 * get_recommended_models (the default library's models that fit).
 *
 * A model to check is given as a GGUF path, a model id ("model": a file path, a cached
 * model id or a library name; a library model that is not downloaded is judged from its
 * library size and known shape), or a size with an optional shape.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../engine/synth.h"
#include "../hardware/fit.h"
#include "../hardware/providers.h"
#include "../modelcache/library.h"
#include "router.h"

/* ---- get_hardware_info ---------------------------------------------------------------- */

/* A macro, not a shared const: C wants constant initializers in static tables. */
#define REFRESH_FIELD                                                                              \
    {                                                                                              \
        .name = "refresh", .types = TA_T_BOOL, .dflt = "false",                                    \
        .description = "Probe the machine again instead of answering from the first probe."        \
    }

static const ta_field info_fields[] = {REFRESH_FIELD, {0}};
static const ta_schema info_request = {.name = "HardwareInfoRequest", .fields = info_fields};

static const ta_field info_result_fields[] = {
    {.name = "os", .types = TA_T_OBJECT, .description = "name, release, pretty."},
    {.name = "cpu",
     .types = TA_T_OBJECT,
     .description = "arch, vendor, model_name, microarchitecture, family/model/stepping (x86) or "
                    "implementer/part (ARM), physical_cores, logical_threads, sockets, "
                    "numa_nodes, affinity_cpus, cache {l1d,l1i,l2,l3}_bytes, features, "
                    "features_source (cpuid or cpuinfo)."},
    {.name = "memory",
     .types = TA_T_OBJECT,
     .description = "total/available/swap bytes of the host, and effective_total_bytes / "
                    "effective_available_bytes (with the cgroup limit): the numbers used."},
    {.name = "cgroup",
     .types = TA_T_OBJECT | TA_T_NULL,
     .description = "version, path, memory_max_bytes, memory_current_bytes, cpu_quota_us, "
                    "cpu_period_us, cpus; null outside a cgroup."},
    {.name = "effective_cpus", .types = TA_T_INT, .description = "CPUs threads should use."},
    {.name = "gpus",
     .types = TA_T_ARRAY,
     .description = "pci_address, vendor (NVIDIA, AMD, Intel, other), vendor_id, device_id, name "
                    "(PCI ids database), driver, driver_version, drm_card, vram_bytes, "
                    "vram_used_bytes, vram_source, integrated."},
    {.name = "npus",
     .types = TA_T_ARRAY,
     .description = "device (accelN), kind (Intel NPU, AMD XDNA NPU, ...), name, driver, ids."},
    {.name = "runtimes",
     .types = TA_T_OBJECT,
     .description = "cuda, nvml, tensorrt, rocm, migraphx, vulkan, opencl, openvino, onednn, "
                    "...: library (found), devices_ok (null: not probed), devices, version, "
                    "path, note."},
    {.name = "vulkan_devices", .types = TA_T_ARRAY},
    {.name = "providers",
     .types = TA_T_ARRAY,
     .description = "The execution provider catalog: id, ort_name, vendor, devices, platforms, "
                    "usable (on this machine), built (into this build), why_not."},
    {.name = "backend",
     .types = TA_T_OBJECT,
     .description = "chosen (the engine's backend), preference (the order it is chosen in)."},
    {.name = "probe_ms", .types = TA_T_NUMBER, .description = "How long detection took."},
    {0}};
static const ta_schema info_response = {.name = "HardwareInfo", .fields = info_result_fields};

static int do_info(ta_call *call)
{
    ta_hw_info *hw = malloc(sizeof *hw);
    if (!hw) return ta_call_fail(call, TA_ENOMEM, "out of memory");
    ta_hw_cached(hw, ta_json_bool(call->params, "refresh", false));
    json_t *out = ta_hw_info_json(hw);
    free(hw);
    return ta_call_reply(call, out);
}

/* ---- check_model_feasibility --------------------------------------------------------- */

static const char *const kv_types[] = {"f16", "q8_0", "f32", NULL};

static const ta_field feas_fields[] = {
    {.name = "path",
     .types = TA_T_STRING,
     .min_len = 1,
     .max_len = 4096,
     .description = "A GGUF file: its size and shape are read from it."},
    {.name = "model",
     .types = TA_T_STRING,
     .min_len = 1,
     .max_len = 4096,
     .description = "A file path, a cached model id (org/name[:QUANT]) or a library name."},
    {.name = "size_bytes",
     .types = TA_T_INT,
     .flags = TA_F_MIN,
     .min = 1,
     .description = "The weights' size, when there is no file to read."},
    {.name = "context",
     .types = TA_T_INT,
     .flags = TA_F_MIN | TA_F_MAX,
     .min = 1,
     .max = 16777216,
     .description = "Context length to budget the KV cache for; default: the model's trained "
                    "context, at most 4096."},
    {.name = "layers", .types = TA_T_INT, .flags = TA_F_MIN | TA_F_MAX, .min = 1, .max = 100000},
    {.name = "kv_heads", .types = TA_T_INT, .flags = TA_F_MIN | TA_F_MAX, .min = 1, .max = 100000},
    {.name = "head_dim", .types = TA_T_INT, .flags = TA_F_MIN | TA_F_MAX, .min = 1, .max = 100000},
    {.name = "shape",
     .types = TA_T_STRING | TA_T_OBJECT,
     .description = "With size_bytes: a shape name (tabagent synth --list-shapes, e.g. "
                    "\"llama-3.2-1b\") or {layers, kv_heads, head_dim}."},
    {.name = "kv_type",
     .types = TA_T_STRING,
     .one_of = kv_types,
     .dflt = "\"f16\"",
     .description = "The KV cache's element type."},
    REFRESH_FIELD,
    {0}};
static const ta_schema feas_request = {.name = "FeasibilityRequest",
                                       .description = "One of path, model or size_bytes.",
                                       .fields = feas_fields};

static const ta_field feas_result_fields[] = {
    {.name = "fits", .types = TA_T_BOOL},
    {.name = "where", .types = TA_T_STRING, .description = "gpu, cpu or none."},
    {.name = "rating", .types = TA_T_STRING, .description = "comfortable, tight or too_big."},
    {.name = "threads", .types = TA_T_INT, .description = "Threads to run it with."},
    {.name = "context", .types = TA_T_INT},
    {.name = "breakdown",
     .types = TA_T_OBJECT,
     .description = "weights_bytes, kv_cache_bytes, overhead_bytes."},
    {.name = "required_bytes", .types = TA_T_INT},
    {.name = "available_bytes", .types = TA_T_INT},
    {.name = "headroom_bytes", .types = TA_T_INT},
    {.name = "max_context", .types = TA_T_INT, .description = "The largest context that fits."},
    {.name = "gpu", .types = TA_T_OBJECT | TA_T_NULL},
    {.name = "model", .types = TA_T_OBJECT, .description = "What was judged, and its shape."},
    {.name = "notes", .types = TA_T_ARRAY},
    {.name = "reason", .types = TA_T_STRING},
    {0}};
static const ta_schema feas_response = {.name = "Feasibility", .fields = feas_result_fields};

static bool positive_u32(const json_t *o, const char *key, uint32_t *out)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 100000)
        return false;
    *out = (uint32_t)json_integer_value(v);
    return true;
}

/* The shape given with size_bytes: a named one, an object, or the top-level fields. */
static int shape_from_params(ta_call *call, ta_fit_shape *s)
{
    memset(s, 0, sizeof *s);
    const json_t *p = call->params, *shape = json_object_get(p, "shape");
    if (json_is_string(shape)) {
        const char *name = json_string_value(shape);
        const ta_synth_shape *ss = ta_synth_shape_find_kind(name, false);
        if (!ss) ss = ta_synth_shape_find_kind(name, true);
        if (!ss)
            return ta_call_fail(call, TA_EINVAL,
                                "shape: unknown shape '%s' (see tabagent synth --list-shapes)",
                                name);
        s->known = true;
        s->encoder = ss->encoder;
        s->n_layers = ss->n_layer;
        s->n_kv_heads = ss->n_head_kv;
        s->head_dim_k = s->head_dim_v = ss->head_dim ? ss->head_dim : ss->n_embd / ss->n_head;
        s->context_train = ss->n_ctx;
        return TA_OK;
    }
    const json_t *src = json_is_object(shape) ? shape : p;
    const char *prefix = json_is_object(shape) ? "shape." : "";
    bool any = json_object_get(src, "layers") || json_object_get(src, "kv_heads") ||
               json_object_get(src, "head_dim");
    if (!any) return TA_OK; /* no shape: the KV cache is not counted (a note says so) */
    static const char *const keys[] = {"layers", "kv_heads", "head_dim"};
    uint32_t v[3];
    for (int i = 0; i < 3; i++)
        if (!positive_u32(src, keys[i], &v[i]))
            return ta_call_fail(call, TA_EINVAL,
                                "%s%s: expected an integer from 1 to 100000 (layers, kv_heads "
                                "and head_dim go together)",
                                prefix, keys[i]);
    s->known = true;
    s->n_layers = v[0];
    s->n_kv_heads = v[1];
    s->head_dim_k = s->head_dim_v = v[2];
    return TA_OK;
}

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static json_t *shape_json(const ta_fit_shape *s)
{
    if (!s->known) return json_null();
    return json_pack("{s:o,s:i,s:i,s:i,s:i,s:b,s:o}", "arch",
                     s->arch[0] ? json_string(s->arch) : json_null(), "layers", (int)s->n_layers,
                     "kv_heads", (int)s->n_kv_heads, "head_dim_k", (int)s->head_dim_k, "head_dim_v",
                     (int)s->head_dim_v, "encoder", s->encoder, "context_train",
                     s->context_train ? json_integer(s->context_train) : json_null());
}

static int do_feasibility(ta_call *call)
{
    const json_t *p = call->params;
    const char *path = ta_json_str(p, "path", NULL);
    const char *model = ta_json_str(p, "model", NULL);
    json_int_t size = json_integer_value(json_object_get(p, "size_bytes"));
    int given = (path != NULL) + (model != NULL) + (size > 0);
    if (given != 1)
        return ta_call_fail(call, TA_EINVAL,
                            "give exactly one of path, model or size_bytes (got %d)", given);
    ta_fit_kv_type kv = TA_FIT_KV_F16;
    ta_fit_parse_kv_type(ta_json_str(p, "kv_type", "f16"), &kv);

    ta_fit_shape shape;
    memset(&shape, 0, sizeof shape);
    uint64_t weights = (uint64_t)size;
    const char *source = "size_bytes";
    char resolved[4096] = "";
    if (model) {
        ta_error err = {0};
        if (is_file(model)) {
            path = model;
        } else if (call->app && ta_app_resolve_cached(call->app, model, resolved, sizeof resolved,
                                                      &err) == TA_OK) {
            path = resolved;
            source = "cache";
        } else if (ta_library_find(model)) {
            const json_t *e = ta_library_find(model);
            weights = (uint64_t)json_integer_value(json_object_get(e, "size_bytes"));
            ta_fit_library_shape(model, &shape);
            source = "library";
        } else if (err.code && err.message[0]) {
            return ta_sink_fail(call->sink, &err); /* "not downloaded; pull it first" */
        } else {
            return ta_call_fail(call, TA_ENOTFOUND,
                                "model '%s' is neither a file, a cached model nor a library model",
                                model);
        }
    }
    if (path) {
        if (!is_file(path)) return ta_call_fail(call, TA_ENOTFOUND, "path: no such file: %s", path);
        ta_error err = {0};
        if (ta_fit_shape_from_gguf(path, &shape, &weights, &err) != TA_OK) {
            if (err.code != TA_EINVAL) err.code = TA_EINVAL;
            return ta_sink_fail(call->sink, &err);
        }
        if (!resolved[0]) source = "path";
    } else if (!strcmp(source, "size_bytes")) {
        int rc = shape_from_params(call, &shape);
        if (rc) return rc;
    }
    if (weights == 0)
        return ta_call_fail(call, TA_EINVAL, "model '%s' has no size in the library", model);

    ta_hw_info *hw = malloc(sizeof *hw);
    if (!hw) return ta_call_fail(call, TA_ENOMEM, "out of memory");
    ta_hw_cached(hw, ta_json_bool(p, "refresh", false));
    uint64_t context = (uint64_t)ta_json_int(p, "context", 0);
    ta_fit_result r;
    ta_fit_decide(hw, weights, &shape, context, kv, &r);
    json_t *out = ta_fit_result_json(hw, &r);
    free(hw);

    json_t *notes = json_array();
    if (!shape.known)
        json_array_append_new(notes, json_string("no model shape: the KV cache is not counted "
                                                 "(give layers, kv_heads and head_dim, or a "
                                                 "shape)"));
    if (shape.context_train && r.context > shape.context_train)
        json_array_append_new(notes, json_string("the context is longer than the model was "
                                                 "trained for"));
    if (shape.encoder) json_array_append_new(notes, json_string("an encoder: no KV cache"));
    json_object_set_new(out, "notes", notes);
    json_object_set_new(out, "model",
                        json_pack("{s:s,s:o,s:o,s:I,s:o,s:s}", "source", source, "name",
                                  model ? json_string(model) : json_null(), "path",
                                  path ? json_string(path) : json_null(), "size_bytes",
                                  (json_int_t)weights, "shape", shape_json(&shape), "kv_type",
                                  ta_fit_kv_type_name(kv)));
    return ta_call_reply(call, out);
}

/* ---- get_recommended_models ---------------------------------------------------------- */

static const ta_field rec_fields[] = {
    {.name = "context",
     .types = TA_T_INT,
     .flags = TA_F_MIN | TA_F_MAX,
     .min = 1,
     .max = 16777216,
     .description = "Context to budget for; default: each model's trained context, at most "
                    "4096."},
    REFRESH_FIELD,
    {0}};
static const ta_schema rec_request = {.name = "RecommendationsRequest", .fields = rec_fields};

static const ta_field rec_result_fields[] = {
    {.name = "chat",
     .types = TA_T_ARRAY,
     .description = "Chat models that fit, best first (comfortable before tight, then larger)."},
    {.name = "embedding", .types = TA_T_ARRAY, .description = "Embedding models that fit."},
    {.name = "too_big", .types = TA_T_ARRAY, .description = "Library models that do not fit."},
    {.name = "best", .types = TA_T_OBJECT, .description = "The first chat and embedding model."},
    {.name = "effective_available_bytes", .types = TA_T_INT},
    {0}};
static const ta_schema rec_response = {.name = "Recommendations", .fields = rec_result_fields};

static int do_recommend(ta_call *call)
{
    ta_hw_info *hw = malloc(sizeof *hw);
    if (!hw) return ta_call_fail(call, TA_ENOMEM, "out of memory");
    ta_hw_cached(hw, ta_json_bool(call->params, "refresh", false));
    json_t *out =
        ta_fit_recommend(hw, ta_library(), (uint64_t)ta_json_int(call->params, "context", 0));
    free(hw);
    if (!out) return ta_call_fail(call, TA_EINTERNAL, "could not rank the library");
    return ta_call_reply(call, out);
}

static const ta_action hardware_actions[] = {
    {"get_hardware_info",
     "CPU, memory (with cgroup limits), GPUs, NPUs, runtimes and execution providers.",
     &info_request, &info_response, do_info, 0},
    {"check_model_feasibility",
     "Will a model fit (weights + KV cache + overhead), where, and with how many threads.",
     &feas_request, &feas_response, do_feasibility, 0},
    {"get_recommended_models", "The default library's models that fit this machine, best first.",
     &rec_request, &rec_response, do_recommend, 0},
};

int ta_router_add_hardware_actions(ta_router *r)
{
    return ta_router_add_all(r, hardware_actions,
                             sizeof hardware_actions / sizeof hardware_actions[0]);
}
