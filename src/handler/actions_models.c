/*
 * actions_models.c - models (list, get, load, unload), embeddings, tokenize and
 * detokenize: the actions around generation that work on a model.
 */
#include <stdlib.h>
#include <string.h>

#include "../app/models.h"
#include "actions_gen.h"
#include "router.h"

static int fail_err(ta_call *call, const ta_error *err)
{
    return ta_sink_fail(call->sink, err);
}

static ta_models *models_of(ta_call *call, ta_error *err)
{
    ta_models *m = call->app ? call->app->models : NULL;
    if (!m) ta_error_set(err, TA_EUNAVAILABLE, "this server runs no models");
    return m;
}

/* ---- list, get, load, unload ------------------------------------------------------ */

/* The cached GGUF files not known to the orchestrator yet, as list entries (state
 * "cached"): loadable by their id. */
static void add_cached(ta_call *call, json_t *list)
{
    json_t *data = json_object_get(list, "data");
    json_t *cached = ta_cache_list(&call->app->cache, NULL);
    size_t i, j;
    json_t *c, *e;
    json_array_foreach(cached, i, c)
    {
        const char *id = json_string_value(json_object_get(c, "id"));
        const char *path = json_string_value(json_object_get(c, "path"));
        size_t len = id ? strlen(id) : 0;
        if (len < 5 || strcmp(id + len - 5, ".gguf") ||
            !json_is_true(json_object_get(c, "current")))
            continue;
        bool known = false;
        json_array_foreach(data, j, e)
        {
            const char *p = json_string_value(json_object_get(e, "path"));
            known = known || (p && path && !strcmp(p, path)) ||
                    !strcmp(json_string_value(json_object_get(e, "id")), id);
        }
        if (known) continue;
        json_array_append_new(data,
                              json_pack("{s:s,s:s,s:s,s:b,s:s,s:s,s:O,s:s,s:s}", "id", id, "object",
                                        "model", "owned_by", "tabagent", "loaded", 0, "state",
                                        "cached", "path", path, "size", json_object_get(c, "size"),
                                        "repo", json_string_value(json_object_get(c, "repo")),
                                        "source", json_string_value(json_object_get(c, "source"))));
    }
    json_decref(cached);
}

static int do_list(ta_call *call)
{
    ta_error err = {0};
    ta_models *m = models_of(call, &err);
    if (!m) return fail_err(call, &err);
    json_t *list = ta_models_list(m);
    add_cached(call, list);
    return ta_call_reply(call, list);
}

static const ta_field model_fields[] = {
    {.name = "model",
     .types = TA_T_STRING,
     .min_len = 1,
     .max_len = 4096,
     .description = "A model id, or the path of a .gguf file (required, under one of its names)."},
    {.name = "model_path",
     .types = TA_T_STRING,
     .min_len = 1,
     .max_len = 4096,
     .description = "The same (the browser extension's name)."},
    {.name = "modelPath", .types = TA_T_STRING, .min_len = 1, .max_len = 4096},
    {.name = "keep_alive",
     .types = TA_T_NUMBER | TA_T_STRING | TA_T_NULL,
     .description = "Seconds (or \"5m\") to stay loaded when idle; negative: forever."},
    {0}};
static const ta_schema model_request = {.name = "ModelRequest", .fields = model_fields};

/* model, or the extension's model_path / modelPath. */
static const char *model_name(const json_t *p, ta_error *err)
{
    const char *keys[] = {"model", "model_path", "modelPath"};
    for (int i = 0; i < 3; i++) {
        const char *v = ta_json_str(p, keys[i], NULL);
        if (v && v[0]) return v;
    }
    ta_error_set(err, TA_EINVAL, "model: required");
    return NULL;
}

static int do_get(ta_call *call)
{
    ta_error err = {0};
    ta_models *m = models_of(call, &err);
    if (!m) return fail_err(call, &err);
    const char *name = model_name(call->params, &err);
    json_t *e = name ? ta_models_get(m, name, &err) : NULL;
    if (!e && name && err.code == TA_ENOTFOUND) { /* a cached model not used yet */
        json_t *list = json_pack("{s:[]}", "data");
        add_cached(call, list);
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(list, "data"), i, c)
        {
            if (!strcmp(json_string_value(json_object_get(c, "id")), name)) {
                e = json_incref(c);
                break;
            }
        }
        json_decref(list);
    }
    return e ? ta_call_reply(call, e) : fail_err(call, &err);
}

static int do_load(ta_call *call)
{
    ta_error err = {0};
    ta_models *m = models_of(call, &err);
    if (!m) return fail_err(call, &err);
    double ka;
    bool dflt;
    if (ta_req_keep_alive(call->params, &ka, &dflt, &err)) return fail_err(call, &err);
    char id[256];
    const char *name = model_name(call->params, &err);
    if (!name || ta_models_load(m, name, ka, dflt, id, sizeof id, &err))
        return fail_err(call, &err);
    json_t *e = ta_models_get(m, id, &err);
    return e ? ta_call_reply(call, e) : fail_err(call, &err);
}

static int do_unload(ta_call *call)
{
    ta_error err = {0};
    ta_models *m = models_of(call, &err);
    if (!m) return fail_err(call, &err);
    const char *name = model_name(call->params, &err);
    if (!name || ta_models_unload(m, name, &err)) return fail_err(call, &err);
    return ta_call_reply(call, json_pack("{s:s,s:b}", "id", name, "unloaded", 1));
}

/* ---- embeddings --------------------------------------------------------------------- */

static const char *const formats[] = {"float", "base64", NULL};
static const ta_field embed_fields[] = {
    {.name = "input",
     .types = TA_T_STRING | TA_T_ARRAY,
     .flags = TA_F_REQUIRED,
     .max_len = 2048,
     .description = "A text or an array of texts."},
    {.name = "model", .types = TA_T_STRING, .max_len = 4096},
    {.name = "encoding_format", .types = TA_T_STRING, .dflt = "\"float\"", .one_of = formats},
    {.name = "dimensions", .types = TA_T_INT | TA_T_NULL, .flags = TA_F_MIN, .min = 1},
    {.name = "keep_alive", .types = TA_T_NUMBER | TA_T_STRING | TA_T_NULL},
    {.name = "user", .types = TA_T_STRING},
    {0}};
static const ta_schema embed_request = {
    .name = "EmbeddingRequest", .description = "OpenAI embeddings.", .fields = embed_fields};

static json_t *base64_floats(const float *v, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *b = (const unsigned char *)v; /* little-endian float32, as OpenAI */
    size_t len = n * sizeof(float), o = 0;
    char *out = malloc((len + 2) / 3 * 4 + 1);
    if (!out) return NULL;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t x = (uint32_t)b[i] << 16 | (i + 1 < len ? (uint32_t)b[i + 1] << 8 : 0) |
                     (i + 2 < len ? b[i + 2] : 0);
        out[o++] = tab[x >> 18 & 63];
        out[o++] = tab[x >> 12 & 63];
        out[o++] = i + 1 < len ? tab[x >> 6 & 63] : '=';
        out[o++] = i + 2 < len ? tab[x & 63] : '=';
    }
    json_t *s = json_stringn(out, o);
    free(out);
    return s;
}

static int do_embeddings(ta_call *call)
{
    const json_t *p = call->params;
    ta_error err = {0};
    const json_t *input = json_object_get(p, "input");
    size_t n = json_is_string(input) ? 1 : json_array_size(input);
    if (!n) return ta_call_fail(call, TA_EINVAL, "input: empty");
    for (size_t i = 0; json_is_array(input) && i < n; i++)
        if (!json_is_string(json_array_get(input, i)))
            return ta_call_fail(call, TA_EINVAL, "input[%zu]: expected a string", i);
    char id[256];
    if (ta_req_model_acquire(call, p, id, sizeof id, &err)) return fail_err(call, &err);
    ta_ml *ml = ta_models_ml(call->app->models);
    ta_ml_info info;
    int rc = ta_ml_info_get(ml, id, &info, &err);
    if (!rc && info.kind != TA_ML_EMBED)
        rc = ta_error_set(&err, TA_EINVAL, "model '%.200s' is not an embedding model", id);
    long long dims = ta_json_int(p, "dimensions", 0);
    if (!rc && dims && (uint64_t)dims != info.n_embd)
        rc = ta_error_set(&err, TA_EINVAL, "dimensions: this model gives %u", info.n_embd);
    bool b64 = !strcmp(ta_json_str(p, "encoding_format", "float"), "base64");
    float *vec = rc ? NULL : malloc(info.n_embd * sizeof *vec);
    if (!rc && !vec) rc = ta_error_set(&err, TA_ENOMEM, "out of memory");
    json_t *data = json_array();
    uint32_t total = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        const json_t *s = json_is_string(input) ? input : json_array_get(input, i);
        uint32_t nt = 0;
        rc = ta_ml_embed(ml, id, json_string_value(s), json_string_length(s), vec, info.n_embd, &nt,
                         &err);
        if (rc) {
            if (n > 1) ta_error_prefix(&err, "input[%zu]: ", i);
            break;
        }
        total += nt;
        json_t *e;
        if (b64) {
            e = base64_floats(vec, info.n_embd);
        } else {
            e = json_array();
            for (uint32_t d = 0; d < info.n_embd; d++)
                json_array_append_new(e, json_real(vec[d]));
        }
        json_array_append_new(data, json_pack("{s:s,s:i,s:o}", "object", "embedding", "index",
                                              (int)i, "embedding", e));
    }
    free(vec);
    if (rc) {
        json_decref(data);
        fail_err(call, &err);
    } else {
        ta_call_reply(call, json_pack("{s:s,s:o,s:s,s:{s:i,s:i}}", "object", "list", "data", data,
                                      "model", id, "usage", "prompt_tokens", (int)total,
                                      "total_tokens", (int)total));
    }
    ta_req_model_release(call, p, id);
    return rc;
}

/* ---- tokenize, detokenize ----------------------------------------------------------- */

static const ta_field tokenize_fields[] = {
    {.name = "content",
     .types = TA_T_STRING,
     .max_len = 16u << 20,
     .description = "The text (llama.cpp's name; \"text\" also works)."},
    {.name = "text", .types = TA_T_STRING, .max_len = 16u << 20},
    {.name = "model", .types = TA_T_STRING, .max_len = 4096},
    {.name = "add_special",
     .types = TA_T_BOOL,
     .dflt = "false",
     .description = "Add BOS/EOS as the model does for a prompt."},
    {.name = "parse_special",
     .types = TA_T_BOOL,
     .dflt = "true",
     .description = "Text like <|im_start|> becomes its special token."},
    {.name = "with_pieces", .types = TA_T_BOOL, .dflt = "false"},
    {0}};
static const ta_schema tokenize_request = {.name = "TokenizeRequest", .fields = tokenize_fields};

static int do_tokenize(ta_call *call)
{
    const json_t *p = call->params;
    ta_error err = {0};
    const char *text = ta_json_str(p, "content", NULL);
    if (!text) text = ta_json_str(p, "text", NULL);
    if (!text) return ta_call_fail(call, TA_EINVAL, "content: required");
    char id[256];
    if (ta_req_model_acquire(call, p, id, sizeof id, &err)) return fail_err(call, &err);
    ta_ml *ml = ta_models_ml(call->app->models);
    ta_tok_ids ids = {0};
    int rc = ta_ml_tokenize(ml, id, text, strlen(text), ta_json_bool(p, "add_special", false),
                            ta_json_bool(p, "parse_special", true), &ids, &err);
    if (rc) {
        fail_err(call, &err);
    } else {
        bool pieces = ta_json_bool(p, "with_pieces", false);
        json_t *toks = json_array();
        for (size_t i = 0; i < ids.len; i++) {
            if (!pieces) {
                json_array_append_new(toks, json_integer(ids.ids[i]));
                continue;
            }
            char *piece = ta_ml_detokenize(ml, id, &ids.ids[i], 1, true, &err);
            json_t *ps = piece ? json_string(piece) : NULL;
            json_array_append_new(toks, json_pack("{s:i,s:o}", "id", ids.ids[i], "piece",
                                                  ps ? ps : json_string("\xef\xbf\xbd")));
            free(piece);
        }
        ta_call_reply(call, json_pack("{s:o}", "tokens", toks));
    }
    ta_tok_ids_free(&ids);
    ta_req_model_release(call, p, id);
    return rc;
}

static const ta_field token_item = {.name = "token", .types = TA_T_INT};
static const ta_field detokenize_fields[] = {
    {.name = "tokens",
     .types = TA_T_ARRAY,
     .flags = TA_F_REQUIRED,
     .max_len = 1u << 20,
     .items = &token_item},
    {.name = "model", .types = TA_T_STRING, .max_len = 4096},
    {0}};
static const ta_schema detokenize_request = {.name = "DetokenizeRequest",
                                             .fields = detokenize_fields};

static int do_detokenize(ta_call *call)
{
    const json_t *p = call->params;
    ta_error err = {0};
    const json_t *toks = json_object_get(p, "tokens");
    size_t n = json_array_size(toks);
    int32_t *ids = malloc((n ? n : 1) * sizeof *ids);
    if (!ids) return ta_call_fail(call, TA_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_int_t v = json_integer_value(json_array_get(toks, i));
        if (v < 0 || v > INT32_MAX) {
            free(ids);
            return ta_call_fail(call, TA_EINVAL, "tokens[%zu]: not a token id", i);
        }
        ids[i] = (int32_t)v;
    }
    char id[256];
    if (ta_req_model_acquire(call, p, id, sizeof id, &err)) {
        free(ids);
        return fail_err(call, &err);
    }
    char *text = ta_ml_detokenize(ta_models_ml(call->app->models), id, ids, n, false, &err);
    int rc = TA_OK;
    if (!text) {
        rc = err.code;
        fail_err(call, &err);
    } else {
        json_t *s = json_string(text);
        ta_call_reply(call, json_pack("{s:o}", "content", s ? s : json_string("")));
    }
    free(text);
    free(ids);
    ta_req_model_release(call, p, id);
    return rc;
}

static const ta_action model_actions[] = {
    {.name = "list_models", .summary = "Known models: loaded, loading, available.", .fn = do_list},
    {.name = "get_model", .summary = "One model.", .request = &model_request, .fn = do_get},
    {.name = "load_model",
     .summary = "Load a model (by id or .gguf path).",
     .request = &model_request,
     .fn = do_load},
    {.name = "unload_model",
     .summary = "Unload a model.",
     .request = &model_request,
     .fn = do_unload},
    {.name = "embeddings",
     .summary = "OpenAI embeddings.",
     .request = &embed_request,
     .fn = do_embeddings},
    {.name = "tokenize",
     .summary = "Text to token ids.",
     .request = &tokenize_request,
     .fn = do_tokenize},
    {.name = "detokenize",
     .summary = "Token ids to text.",
     .request = &detokenize_request,
     .fn = do_detokenize},
};

int ta_router_add_model_actions(ta_router *r)
{
    return ta_router_add_all(r, model_actions, sizeof model_actions / sizeof model_actions[0]);
}
