/*
 * actions_native.c - the TabAgent browser extension's inference actions (its native
 * messaging protocol; over HTTP they are /v1/actions/NAME): generate with
 * generationUpdate / generationComplete / generationError events, stop_generation,
 * get_model_state and generate_embeddings. They share the chat path of actions_chat.c
 * (template, slots, sampling) and only speak the extension's shapes.
 */
#include <stdlib.h>
#include <string.h>

#include "../app/models.h"
#include "../core/log.h"
#include "actions_gen.h"
#include "router.h"

/* ---- generate ---------------------------------------------------------------------- */

static const char *const roles[] = {"system", "developer", "user", "assistant", "tool", NULL};
static const ta_field message_fields[] = {
    {.name = "role", .types = TA_T_STRING, .flags = TA_F_REQUIRED, .one_of = roles},
    {.name = "content", .types = TA_T_STRING | TA_T_ARRAY | TA_T_NULL},
    {0}};
static const ta_schema message_schema = {.name = "GenerateMessage", .fields = message_fields};
static const ta_field message_item = {
    .name = "message", .types = TA_T_OBJECT, .object = &message_schema};

static const ta_field generate_fields[] = {
    {.name = "messages",
     .types = TA_T_ARRAY,
     .flags = TA_F_REQUIRED,
     .min_len = 1,
     .max_len = 4096,
     .items = &message_item},
    {.name = "settings",
     .types = TA_T_OBJECT | TA_T_NULL,
     .description = "temperature, top_k, top_p, max_new_tokens, repetition_penalty, do_sample, "
                    "seed, stop, json_mode, response_format."},
    {.name = "stream", .types = TA_T_BOOL, .dflt = "true"},
    {.name = "model", .types = TA_T_STRING, .max_len = 4096},
    {0}};
static const ta_schema generate_request = {
    .name = "GenerateRequest",
    .description = "The extension's generate: generationUpdate events, then the whole text.",
    .fields = generate_fields};

typedef struct gen_run {
    ta_call *call;
    unsigned epoch;
    uint32_t n;
    double t0;
} gen_run;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static bool stopped(gen_run *r)
{
    return ta_call_cancelled(r->call) || atomic_load(&r->call->app->stop_epoch) != r->epoch;
}

static bool gen_cancelled(void *ud)
{
    return stopped(ud);
}

static int on_token(void *ud, const ta_gen_token *t)
{
    gen_run *r = ud;
    if (stopped(r)) return 1;
    if (t->token >= 0) r->n++;
    if (!r->call->stream || !t->text_len) return 0;
    json_t *s = json_stringn(t->text, t->text_len);
    double dt = now_s() - r->t0;
    json_t *ev = json_pack("{s:o,s:f,s:i}", "token", s ? s : json_string(""), "tps",
                           dt > 0 ? r->n / dt : 0.0, "numTokens", (int)r->n);
    int rc = ta_call_event(r->call, "generationUpdate", ev);
    json_decref(ev);
    return rc ? 1 : 0;
}

/* The extension's settings, in the names the sampling parser reads. */
static json_t *settings_params(const json_t *settings)
{
    json_t *p = json_object();
    if (!json_is_object(settings)) return p;
    static const char *const same[] = {"temperature", "top_k", "top_p", "min_p", "seed", "stop"};
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        json_t *v = json_object_get(settings, same[i]);
        if (v) json_object_set(p, same[i], v);
    }
    json_t *v = json_object_get(settings, "max_new_tokens");
    if (!v) v = json_object_get(settings, "max_tokens");
    if (json_is_integer(v)) json_object_set(p, "max_tokens", v);
    v = json_object_get(settings, "repetition_penalty");
    if (json_is_number(v)) json_object_set(p, "repeat_penalty", v);
    if (json_is_false(json_object_get(settings, "do_sample")))
        json_object_set_new(p, "temperature", json_real(0));
    if (json_is_true(json_object_get(settings, "json_mode"))) /* the original's name */
        json_object_set_new(p, "response_format", json_pack("{s:s}", "type", "json_object"));
    v = json_object_get(settings, "response_format");
    if (json_is_object(v)) json_object_set(p, "response_format", v);
    return p;
}

static int do_generate(ta_call *call)
{
    ta_error err = {0};
    const json_t *p = call->params;
    gen_run r = {.call = call, .epoch = atomic_load(&call->app->stop_epoch), .t0 = now_s()};
    json_t *sp = settings_params(json_object_get(p, "settings"));
    json_object_set(sp, "messages", json_object_get(p, "messages"));
    if (json_object_get(p, "model")) json_object_set(sp, "model", json_object_get(p, "model"));
    if (!json_object_get(sp, "max_tokens"))
        json_object_set_new(sp, "max_tokens", json_integer(512));
    if (!json_object_get(sp, "temperature")) json_object_set_new(sp, "temperature", json_real(0.7));
    char id[256];
    ta_req_gen g = {0};
    ta_tok_ids ids = {0};
    char *prompt = NULL;
    ta_gen_result res = {0};
    ta_grammar *grammar = NULL;
    int rc = ta_req_model_acquire(call, sp, id, sizeof id, &err);
    if (rc) goto fail;
    ta_ml *ml = ta_models_ml(call->app->models);
    ta_ml_info info;
    rc = ta_ml_info_get(ml, id, &info, &err);
    if (!rc && info.kind != TA_ML_CHAT)
        rc = ta_error_set(&err, TA_EINVAL, "model '%.200s' cannot generate", id);
    if (!rc) rc = ta_req_gen_parse(sp, info.n_vocab, &g, &err);
    if (!rc) rc = ta_req_grammar(sp, &grammar, &err);
    g.params.grammar = grammar;
    if (!rc) rc = ta_req_chat_prompt(ml, id, sp, &prompt, &ids, &err);
    ta_ml_sink sink = {.on_token = on_token, .cancelled = gen_cancelled, .ud = &r};
    if (!rc) rc = ta_ml_generate(ml, id, ids.ids, (uint32_t)ids.len, &g.params, &sink, &res, &err);
    ta_req_model_release(call, sp, id);
    if (rc) goto fail;
    double total = now_s() - r.t0;
    json_t *stats =
        json_pack("{s:f,s:f,s:i,s:i,s:f}", "time_to_first_token", res.first_token_s * 1e3,
                  "tokens_per_second", res.generate_s > 0 ? res.n_generated / res.generate_s : 0.0,
                  "input_tokens", (int)res.n_prompt, "output_tokens", (int)res.n_generated,
                  "total_time", total * 1e3);
    json_t *text = json_stringn(res.text, res.text_len);
    if (!text) text = json_string("");
    ta_log_info("generate %s: %u prompt tokens, %u generated, %s", id, res.n_prompt,
                res.n_generated, ta_gen_finish_name(res.finish));
    if (call->stream) {
        json_t *done = json_pack("{s:O,s:O,s:s}", "text", text, "stats", stats, "finish_reason",
                                 ta_gen_finish_name(res.finish));
        ta_call_event(call, "generationComplete", done);
        json_decref(done);
    }
    ta_call_reply(call, json_pack("{s:o,s:o,s:s}", "text", text, "stats", stats, "finish_reason",
                                  ta_gen_finish_name(res.finish)));
    goto out;
fail:
    if (call->stream) {
        json_t *e = json_pack("{s:s,s:s}", "message", err.message, "code", ta_strerror(err.code));
        ta_call_event(call, "generationError", e);
        json_decref(e);
    }
    ta_sink_fail(call->sink, &err);
out:
    ta_grammar_free(grammar);
    ta_gen_result_free(&res);
    free(prompt);
    ta_tok_ids_free(&ids);
    ta_req_gen_free(&g);
    json_decref(sp);
    return rc;
}

/* ---- stop_generation, get_model_state, generate_embeddings -------------------------- */

static int do_stop(ta_call *call)
{
    if (!call->app) return ta_call_fail(call, TA_EUNAVAILABLE, "this server runs no models");
    unsigned e = atomic_fetch_add(&call->app->stop_epoch, 1) + 1;
    return ta_call_reply(call, json_pack("{s:b,s:i}", "stopped", 1, "epoch", (int)e));
}

static int do_model_state(ta_call *call)
{
    ta_models *m = call->app ? call->app->models : NULL;
    json_t *list = m ? ta_models_list(m) : NULL, *ready = NULL;
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(list, "data"), i, e)
    {
        if (json_is_true(json_object_get(e, "loaded")) &&
            !strcmp(ta_json_str(e, "kind", ""), "chat")) {
            ready = e;
            break;
        }
    }
    json_t *out = json_pack("{s:b,s:s}", "isReady", ready != NULL, "backend", "tabagent-cpu");
    if (ready) {
        json_object_set(out, "modelPath", json_object_get(ready, "path"));
        json_object_set(out, "model", json_object_get(ready, "id"));
    }
    json_object_set_new(out, "models",
                        list ? json_incref(json_object_get(list, "data")) : json_array());
    json_decref(list);
    return ta_call_reply(call, out);
}

static const ta_field embed_fields[] = {
    {.name = "texts", .types = TA_T_ARRAY | TA_T_STRING, .max_len = 2048},
    {.name = "input", .types = TA_T_ARRAY | TA_T_STRING, .max_len = 2048},
    {.name = "model", .types = TA_T_STRING, .max_len = 4096},
    {0}};
static const ta_schema embed_request = {.name = "GenerateEmbeddingsRequest",
                                        .fields = embed_fields};

static int do_embed(ta_call *call)
{
    ta_error err = {0};
    const json_t *p = call->params;
    const json_t *in = json_object_get(p, "texts");
    if (!in) in = json_object_get(p, "input");
    size_t n = json_is_string(in) ? 1 : json_array_size(in);
    if (!n) return ta_call_fail(call, TA_EINVAL, "texts: one or more strings required");
    char id[256];
    if (ta_req_model_acquire(call, p, id, sizeof id, &err)) return ta_sink_fail(call->sink, &err);
    ta_ml *ml = ta_models_ml(call->app->models);
    ta_ml_info info;
    int rc = ta_ml_info_get(ml, id, &info, &err);
    float *v = rc ? NULL : malloc(info.n_embd * sizeof *v);
    if (!rc && !v) rc = ta_error_set(&err, TA_ENOMEM, "out of memory");
    json_t *all = json_array();
    for (size_t i = 0; !rc && i < n; i++) {
        const json_t *s = json_is_string(in) ? in : json_array_get(in, i);
        if (!json_is_string(s)) {
            rc = ta_error_set(&err, TA_EINVAL, "texts[%zu]: expected a string", i);
            break;
        }
        rc = ta_ml_embed(ml, id, json_string_value(s), json_string_length(s), v, info.n_embd, NULL,
                         &err);
        json_t *e = json_array();
        for (uint32_t d = 0; !rc && d < info.n_embd; d++)
            json_array_append_new(e, json_real(v[d]));
        json_array_append_new(all, e);
    }
    free(v);
    ta_req_model_release(call, p, id);
    if (rc) {
        json_decref(all);
        return ta_sink_fail(call->sink, &err);
    }
    return ta_call_reply(call, json_pack("{s:o,s:s,s:i}", "embeddings", all, "model", id,
                                         "dimensions", (int)info.n_embd));
}

static const ta_action native_actions[] = {
    {.name = "generate",
     .summary = "The extension's generate: generationUpdate {token, tps, numTokens} events, "
                "then generationComplete and {text, stats}.",
     .request = &generate_request,
     .fn = do_generate,
     .flags = TA_ACTION_STREAMS},
    {.name = "stop_generation", .summary = "Stops the generations in flight.", .fn = do_stop},
    {.name = "get_model_state",
     .summary = "{isReady, backend, modelPath}: whether a chat model is loaded.",
     .fn = do_model_state},
    {.name = "generate_embeddings",
     .summary = "Embeddings of texts: {embeddings: [[...]]}.",
     .request = &embed_request,
     .fn = do_embed},
};

int ta_router_add_native_actions(ta_router *r)
{
    return ta_router_add_all(r, native_actions, sizeof native_actions / sizeof native_actions[0]);
}
