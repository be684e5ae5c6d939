/*
 * recommend.c - which models of a library fit this machine (fit.h), and the shapes of
 * the default library's models, which data/library.json does not carry: the numbers
 * the KV cache depends on, from each model's published configuration.
 *
 * Ranking: models that fit comfortably come before tight ones; within each, the larger
 * model first (more parameters answer better, and it still fits with headroom).
 */
#include <stdlib.h>
#include <string.h>

#include "fit.h"
#include "providers.h"

static const struct {
    const char *name;
    uint32_t layers, kv_heads, head_dim, context;
    bool encoder;
} known[] = {
    {"qwen2.5-0.5b-instruct", 24, 2, 64, 32768, false},
    {"qwen2.5-1.5b-instruct", 28, 2, 128, 32768, false},
    {"qwen3-0.6b", 28, 8, 128, 40960, false},
    {"llama-3.2-1b-instruct", 16, 8, 64, 131072, false},
    {"llama-3.2-3b-instruct", 28, 8, 128, 131072, false},
    {"smollm2-360m-instruct", 32, 5, 64, 8192, false},
    {"phi-3.5-mini-instruct", 32, 32, 96, 131072, false},
    {"nomic-embed-text-v1.5", 12, 12, 64, 2048, true},
    {"all-minilm-l6-v2", 6, 12, 32, 512, true},
};

bool ta_fit_library_shape(const char *name, ta_fit_shape *s)
{
    memset(s, 0, sizeof *s);
    for (size_t i = 0; name && i < sizeof known / sizeof known[0]; i++) {
        if (strcmp(known[i].name, name)) continue;
        s->known = true;
        s->encoder = known[i].encoder;
        s->n_layers = known[i].layers;
        s->n_kv_heads = known[i].kv_heads;
        s->head_dim_k = s->head_dim_v = known[i].head_dim;
        s->context_train = known[i].context;
        return true;
    }
    return false;
}

typedef struct entry {
    json_t *json;
    int rank; /* 0 comfortable, 1 tight, 2 too big */
    uint64_t size;
} entry;

static int by_rank(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    if (x->rank != y->rank) return x->rank - y->rank;
    if (x->size != y->size) return x->size > y->size ? -1 : 1;
    return 0;
}

static uint32_t member_u32(const json_t *m, const char *key)
{
    json_int_t v = json_integer_value(json_object_get(m, key));
    return v > 0 && v <= UINT32_MAX ? (uint32_t)v : 0;
}

json_t *ta_fit_recommend(const ta_hw_info *hw, const json_t *library, uint64_t context)
{
    const json_t *models = json_object_get(library, "models");
    size_t n = json_array_size(models);
    entry *chat = calloc(n + 1, sizeof *chat), *embed = calloc(n + 1, sizeof *embed);
    size_t nchat = 0, nembed = 0;
    json_t *too_big = json_array();
    for (size_t i = 0; chat && embed && i < n; i++) {
        const json_t *m = json_array_get(models, i);
        const char *name = json_string_value(json_object_get(m, "name"));
        const char *kind = json_string_value(json_object_get(m, "kind"));
        json_int_t size = json_integer_value(json_object_get(m, "size_bytes"));
        if (!name || !kind || size <= 0) continue;
        bool is_embed = !strcmp(kind, "embedding");
        ta_fit_shape shape;
        bool have_shape = ta_fit_library_shape(name, &shape);
        if (member_u32(m, "layers") && member_u32(m, "kv_heads") && member_u32(m, "head_dim")) {
            shape.known = have_shape = true;
            shape.n_layers = member_u32(m, "layers");
            shape.n_kv_heads = member_u32(m, "kv_heads");
            shape.head_dim_k = shape.head_dim_v = member_u32(m, "head_dim");
            shape.encoder = is_embed;
        }
        if (member_u32(m, "context")) shape.context_train = member_u32(m, "context");
        if (!have_shape) shape.encoder = is_embed;
        uint64_t ctx = context;
        if (ctx && shape.context_train && ctx > shape.context_train) ctx = shape.context_train;
        ta_fit_result r;
        ta_fit_decide(hw, (uint64_t)size, &shape, ctx, TA_FIT_KV_F16, &r);
        json_t *o = json_pack(
            "{s:s,s:s,s:O?,s:O?,s:O?,s:I,s:O?,s:I,s:I,s:I,s:s,s:s,s:i,s:I,s:b}", "name", name,
            "kind", kind, "repo", json_object_get(m, "repo"), "file", json_object_get(m, "file"),
            "quant", json_object_get(m, "quant"), "size_bytes", size, "params",
            json_object_get(m, "params"), "context", (json_int_t)r.context, "required_bytes",
            (json_int_t)r.required_bytes, "headroom_bytes", (json_int_t)r.headroom_bytes, "rating",
            r.rating, "where", r.where, "threads", r.threads, "max_context",
            (json_int_t)r.max_context, "shape_known", have_shape);
        if (!o) continue;
        if (!r.fits) {
            json_array_append_new(too_big, o);
            continue;
        }
        entry e = {o, !strcmp(r.rating, "comfortable") ? 0 : 1, (uint64_t)size};
        if (is_embed)
            embed[nembed++] = e;
        else
            chat[nchat++] = e;
    }
    qsort(chat, nchat, sizeof *chat, by_rank);
    qsort(embed, nembed, sizeof *embed, by_rank);
    json_t *c = json_array(), *e = json_array();
    for (size_t i = 0; i < nchat; i++)
        json_array_append_new(c, chat[i].json);
    for (size_t i = 0; i < nembed; i++)
        json_array_append_new(e, embed[i].json);
    json_t *best = json_pack(
        "{s:o,s:o}", "chat", nchat ? json_copy(json_object_get(chat[0].json, "name")) : json_null(),
        "embedding", nembed ? json_copy(json_object_get(embed[0].json, "name")) : json_null());
    free(chat);
    free(embed);
    return json_pack("{s:o,s:o,s:o,s:o,s:I,s:o,s:s}", "chat", c, "embedding", e, "too_big", too_big,
                     "best", best, "effective_available_bytes",
                     (json_int_t)hw->memory.effective_available_bytes, "context",
                     context ? json_integer((json_int_t)context) : json_null(), "backend",
                     ta_hw_choose_backend(hw));
}
