/*
 * actions_chat.c - OpenAI's chat completions and completions: the prompt (a chat
 * rendered with the model's template, or a raw prompt), one generation through the ML
 * client, and the answer in OpenAI's shapes, whole or as chat.completion.chunk /
 * text_completion events (SSE over HTTP).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../app/models.h"
#include "../core/log.h"
#include "actions_gen.h"
#include "router.h"

/* ---- schemas ---------------------------------------------------------------------- */

static const char *const roles[] = {"system", "developer", "user", "assistant", "tool", NULL};

static const ta_field message_fields[] = {
    {.name = "role", .types = TA_T_STRING, .flags = TA_F_REQUIRED, .one_of = roles},
    {.name = "content",
     .types = TA_T_STRING | TA_T_ARRAY | TA_T_NULL,
     .description = "Text, or an array of parts ({\"type\":\"text\",\"text\":...})."},
    {.name = "name", .types = TA_T_STRING},
    {.name = "tool_calls", .types = TA_T_ARRAY},
    {.name = "tool_call_id", .types = TA_T_STRING},
    {0}};
static const ta_schema message_schema = {.name = "ChatMessage", .fields = message_fields};
static const ta_field message_item = {
    .name = "message", .types = TA_T_OBJECT, .object = &message_schema};

#define SAMPLING_FIELDS                                                                            \
    {.name = "model",                                                                              \
     .types = TA_T_STRING,                                                                         \
     .max_len = 4096,                                                                              \
     .description = "A model id (GET /v1/models) or the path of a .gguf file; optional when "      \
                    "the server knows one model of the kind."},                                    \
        {.name = "max_tokens", .types = TA_T_INT | TA_T_NULL, .flags = TA_F_MIN, .min = 0},        \
        {.name = "max_completion_tokens",                                                          \
         .types = TA_T_INT | TA_T_NULL,                                                            \
         .flags = TA_F_MIN,                                                                        \
         .min = 0},                                                                                \
        {.name = "temperature",                                                                    \
         .types = TA_T_NUMBER,                                                                     \
         .flags = TA_F_MIN | TA_F_MAX,                                                             \
         .min = 0,                                                                                 \
         .max = 100},                                                                              \
        {.name = "top_p", .types = TA_T_NUMBER, .flags = TA_F_MIN | TA_F_MAX, .min = 0, .max = 1}, \
        {.name = "top_k", .types = TA_T_INT, .flags = TA_F_MIN, .min = 0},                         \
        {.name = "min_p", .types = TA_T_NUMBER, .flags = TA_F_MIN | TA_F_MAX, .min = 0, .max = 1}, \
        {.name = "typical_p",                                                                      \
         .types = TA_T_NUMBER,                                                                     \
         .flags = TA_F_MIN | TA_F_MAX,                                                             \
         .min = 0,                                                                                 \
         .max = 1},                                                                                \
        {.name = "seed", .types = TA_T_INT | TA_T_NULL},                                           \
        {.name = "stop", .types = TA_T_STRING | TA_T_ARRAY | TA_T_NULL, .max_len = 16},            \
        {.name = "presence_penalty",                                                               \
         .types = TA_T_NUMBER,                                                                     \
         .flags = TA_F_MIN | TA_F_MAX,                                                             \
         .min = -2,                                                                                \
         .max = 2},                                                                                \
        {.name = "frequency_penalty",                                                              \
         .types = TA_T_NUMBER,                                                                     \
         .flags = TA_F_MIN | TA_F_MAX,                                                             \
         .min = -2,                                                                                \
         .max = 2},                                                                                \
        {.name = "repeat_penalty",                                                                 \
         .types = TA_T_NUMBER,                                                                     \
         .flags = TA_F_MIN | TA_F_MAX,                                                             \
         .min = 0,                                                                                 \
         .max = 10},                                                                               \
        {.name = "logit_bias", .types = TA_T_OBJECT | TA_T_NULL},                                  \
        {.name = "stream", .types = TA_T_BOOL, .dflt = "false"},                                   \
        {.name = "stream_options", .types = TA_T_OBJECT | TA_T_NULL},                              \
        {.name = "n",                                                                              \
         .types = TA_T_INT,                                                                        \
         .flags = TA_F_MIN | TA_F_MAX,                                                             \
         .min = 1,                                                                                 \
         .max = 1,                                                                                 \
         .description = "Only 1."},                                                                \
        {.name = "keep_alive", .types = TA_T_NUMBER | TA_T_STRING | TA_T_NULL},                    \
        {.name = "ignore_eos", .types = TA_T_BOOL},                                                \
    {                                                                                              \
        .name = "user", .types = TA_T_STRING                                                       \
    }

static const ta_field chat_fields[] = {
    {.name = "messages",
     .types = TA_T_ARRAY,
     .flags = TA_F_REQUIRED,
     .min_len = 1,
     .max_len = 4096,
     .items = &message_item},
    SAMPLING_FIELDS,
    {.name = "logprobs", .types = TA_T_BOOL | TA_T_NULL},
    {.name = "top_logprobs",
     .types = TA_T_INT | TA_T_NULL,
     .flags = TA_F_MIN | TA_F_MAX,
     .min = 0,
     .max = 20},
    {.name = "tools", .types = TA_T_ARRAY | TA_T_NULL},
    {.name = "tool_choice", .types = TA_T_STRING | TA_T_OBJECT | TA_T_NULL},
    {.name = "response_format",
     .types = TA_T_OBJECT | TA_T_NULL,
     .description = "{\"type\":\"json_object\"} or {\"type\":\"json_schema\",\"json_schema\":"
                    "{\"schema\":{...}}}: the output parses and matches, by grammar-constrained "
                    "sampling."},
    {.name = "grammar",
     .types = TA_T_STRING,
     .max_len = 1u << 20,
     .description = "GBNF the output must match (llama.cpp's)."},
    {.name = "json_schema", .types = TA_T_OBJECT, .description = "A JSON Schema (llama.cpp's)."},
    {.name = "chat_template_kwargs",
     .types = TA_T_OBJECT | TA_T_NULL,
     .description = "Extra template variables, e.g. {\"enable_thinking\": false}."},
    {0}};
static const ta_schema chat_request = {
    .name = "ChatCompletionRequest",
    .description = "OpenAI chat completion: the messages rendered with the model's chat "
                   "template, then generated from.",
    .fields = chat_fields};

static const ta_field completion_fields[] = {
    {.name = "prompt",
     .types = TA_T_STRING | TA_T_ARRAY,
     .flags = TA_F_REQUIRED,
     .description = "Text, an array of texts (one choice each), or an array of token ids."},
    SAMPLING_FIELDS,
    {.name = "logprobs",
     .types = TA_T_INT | TA_T_NULL,
     .flags = TA_F_MIN | TA_F_MAX,
     .min = 0,
     .max = 20},
    {.name = "echo", .types = TA_T_BOOL},
    {.name = "response_format", .types = TA_T_OBJECT | TA_T_NULL},
    {.name = "grammar", .types = TA_T_STRING, .max_len = 1u << 20},
    {.name = "json_schema", .types = TA_T_OBJECT},
    {0}};
static const ta_schema completion_request = {.name = "CompletionRequest",
                                             .description = "OpenAI (legacy) text completion.",
                                             .fields = completion_fields};

/* ---- one generation, streamed or collected ---------------------------------------- */

typedef struct run {
    ta_call *call;
    bool chat;
    const char *model; /* the id, as answered */
    char id[48];
    long long created;
    ta_ml *ml;
    uint32_t choice;
    unsigned epoch; /* app->stop_epoch at the start: stop_generation ends this run */
    bool role_sent;
    json_t *logprobs; /* array of OpenAI logprob entries (chat) */
    json_t *tokens;   /* completions' logprobs: tokens and token_logprobs */
    json_t *token_lps, *top_lps;
} run;

/* A token's text as valid UTF-8 (broken bytes become U+FFFD) and its raw bytes. */
static json_t *token_json(run *r, int32_t tok, float logprob, json_t **bytes_out)
{
    ta_error err;
    char *text = ta_ml_detokenize(r->ml, r->model, &tok, 1, true, &err);
    const char *t = text ? text : "";
    size_t n = strlen(t);
    json_t *bytes = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(bytes, json_integer((unsigned char)t[i]));
    json_t *s = json_stringn(t, n);
    if (!s) { /* not valid UTF-8 on its own */
        char *fixed = malloc(n * 3 + 1);
        size_t o = 0;
        for (size_t i = 0; fixed && i < n; i++) {
            if ((unsigned char)t[i] < 0x80) {
                fixed[o++] = t[i];
            } else {
                memcpy(fixed + o, "\xef\xbf\xbd", 3);
                o += 3;
            }
        }
        s = fixed ? json_stringn(fixed, o) : json_string("");
        free(fixed);
    }
    free(text);
    *bytes_out = bytes;
    return json_pack("{s:o,s:f}", "token", s, "logprob", (double)logprob);
}

static json_t *logprob_entry(run *r, const ta_gen_token *t)
{
    json_t *bytes;
    json_t *e = token_json(r, t->chosen.token, t->chosen.logprob, &bytes);
    json_object_set_new(e, "bytes", bytes);
    json_t *top = json_array();
    for (uint32_t i = 0; i < t->n_top; i++) {
        json_t *tb, *te = token_json(r, t->top[i].token, t->top[i].logprob, &tb);
        json_object_set_new(te, "bytes", tb);
        json_array_append_new(top, te);
    }
    json_object_set_new(e, "top_logprobs", top);
    return e;
}

static json_t *chunk(run *r, json_t *choice)
{
    return json_pack("{s:s,s:s,s:I,s:s,s:s,s:[o]}", "id", r->id, "object",
                     r->chat ? "chat.completion.chunk" : "text_completion", "created",
                     (json_int_t)r->created, "model", r->model, "system_fingerprint", "tabagent",
                     "choices", choice);
}

static int on_token(void *ud, const ta_gen_token *t)
{
    run *r = ud;
    if (ta_call_cancelled(r->call) || atomic_load(&r->call->app->stop_epoch) != r->epoch) return 1;
    json_t *lp =
        t->token >= 0 && r->call->params && (r->logprobs || r->tokens) ? logprob_entry(r, t) : NULL;
    if (!r->call->stream) {
        if (lp && r->chat) json_array_append(r->logprobs, lp);
        if (lp && !r->chat) {
            json_array_append(r->tokens, json_object_get(lp, "token"));
            json_array_append(r->token_lps, json_object_get(lp, "logprob"));
            json_t *top = json_object();
            size_t i;
            json_t *e;
            json_array_foreach(json_object_get(lp, "top_logprobs"), i, e) json_object_set(
                top, json_string_value(json_object_get(e, "token")), json_object_get(e, "logprob"));
            json_array_append_new(r->top_lps, top);
        }
        json_decref(lp);
        return 0;
    }
    if (!t->text_len && !lp) return 0;
    json_t *text = json_stringn(t->text, t->text_len);
    if (!text) text = json_string("");
    json_t *choice;
    if (r->chat) {
        json_t *delta = json_pack("{s:o}", "content", text);
        if (!r->role_sent) json_object_set_new(delta, "role", json_string("assistant"));
        r->role_sent = true;
        choice = json_pack("{s:i,s:o,s:n,s:n}", "index", (int)r->choice, "delta", delta, "logprobs",
                           "finish_reason");
        if (lp) json_object_set_new(choice, "logprobs", json_pack("{s:[O]}", "content", lp));
    } else {
        choice = json_pack("{s:o,s:i,s:n,s:n}", "text", text, "index", (int)r->choice, "logprobs",
                           "finish_reason");
    }
    json_decref(lp);
    json_t *c = chunk(r, choice);
    int rc = ta_call_event(r->call, r->chat ? "chat.completion.chunk" : "text_completion", c);
    json_decref(c);
    return rc ? 1 : 0;
}

static json_t *timings(const ta_gen_result *g)
{
    double pms = g->prompt_s * 1e3, gms = g->generate_s * 1e3;
    uint32_t evaluated = g->n_prompt - g->n_cached;
    return json_pack("{s:i,s:i,s:f,s:f,s:i,s:f,s:f,s:f}", "prompt_n", (int)evaluated, "cache_n",
                     (int)g->n_cached, "prompt_ms", pms, "prompt_per_second",
                     pms > 0 ? evaluated / (pms / 1e3) : 0.0, "predicted_n", (int)g->n_generated,
                     "predicted_ms", gms, "predicted_per_second",
                     gms > 0 ? g->n_generated / (gms / 1e3) : 0.0, "time_to_first_token_ms",
                     g->first_token_s * 1e3);
}

static json_t *usage(uint32_t prompt, uint32_t completion, uint32_t cached)
{
    return json_pack("{s:i,s:i,s:i,s:{s:i}}", "prompt_tokens", (int)prompt, "completion_tokens",
                     (int)completion, "total_tokens", (int)(prompt + completion),
                     "prompt_tokens_details", "cached_tokens", (int)cached);
}

static bool run_cancelled(void *ud)
{
    return ta_call_cancelled(((run *)ud)->call);
}

static int generate_one(run *r, const ta_req_gen *g, const int32_t *ids, uint32_t n,
                        ta_gen_result *res, ta_error *err)
{
    ta_ml_sink sink = {.on_token = on_token, .cancelled = run_cancelled, .ud = r};
    return ta_ml_generate(r->ml, r->model, ids, n, &g->params, &sink, res, err);
}

static void new_id(run *r, const char *prefix)
{
    static const char hex[] = "0123456789abcdef";
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x =
        (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)r;
    size_t n = strlen(prefix);
    memcpy(r->id, prefix, n);
    for (int i = 0; i < 24; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        r->id[n + (size_t)i] = hex[x & 15];
    }
    r->id[n + 24] = '\0';
    r->created = (long long)ts.tv_sec;
}

/* One line per generation in the server log: what it cost and how it ended. */
static void log_run(const char *what, const char *id, const ta_gen_result *g)
{
    ta_log_info("%s %s: %u prompt tokens (%u cached), %u generated, %s, %.1f ms to first "
                "token, %.1f tokens/s",
                what, id, g->n_prompt, g->n_cached, g->n_generated, ta_gen_finish_name(g->finish),
                g->first_token_s * 1e3, g->generate_s > 0 ? g->n_generated / g->generate_s : 0.0);
}

static int fail_err(ta_call *call, const ta_error *err)
{
    return ta_sink_fail(call->sink, err);
}

static int do_chat(ta_call *call)
{
    const json_t *p = call->params;
    ta_error err = {0};
    ta_grammar *grammar = NULL;
    char id[256];
    if (ta_req_model_acquire(call, p, id, sizeof id, &err)) return fail_err(call, &err);
    ta_ml *ml = ta_models_ml(call->app->models);
    run r = {.call = call,
             .chat = true,
             .model = id,
             .ml = ml,
             .epoch = atomic_load(&call->app->stop_epoch)};
    new_id(&r, "chatcmpl-");
    ta_req_gen g = {0};
    ta_tok_ids ids = {0};
    char *prompt = NULL;
    ta_gen_result res = {0};
    ta_ml_info info;
    int rc = ta_ml_info_get(ml, id, &info, &err);
    if (!rc && info.kind != TA_ML_CHAT)
        rc = ta_error_set(&err, TA_EINVAL,
                          "model '%.200s' is an embedding model; use "
                          "/v1/embeddings",
                          id);
    if (!rc) rc = ta_req_gen_parse(p, info.n_vocab, &g, &err);
    if (!rc) rc = ta_req_grammar(p, &grammar, &err);
    g.params.grammar = grammar;
    if (!rc) rc = ta_req_chat_prompt(ml, id, p, &prompt, &ids, &err);
    if (!rc && g.params.logprobs) r.logprobs = json_array();
    if (!rc) rc = generate_one(&r, &g, ids.ids, (uint32_t)ids.len, &res, &err);
    if (!rc) log_run("chat", id, &res);
    if (rc) {
        fail_err(call, &err);
        goto out;
    }
    const char *finish = res.finish == TA_FINISH_LENGTH ? "length" : "stop";
    uint32_t completion = res.n_generated;
    json_t *u = usage(res.n_prompt, completion, res.n_cached);
    if (call->stream) {
        json_t *choice = json_pack("{s:i,s:{},s:n,s:s}", "index", 0, "delta", "logprobs",
                                   "finish_reason", finish);
        json_t *c = chunk(&r, choice);
        json_object_set_new(c, "timings", timings(&res));
        ta_call_event(call, "chat.completion.chunk", c);
        json_decref(c);
        if (ta_json_bool(json_object_get(p, "stream_options"), "include_usage", false)) {
            c = json_pack("{s:s,s:s,s:I,s:s,s:s,s:[],s:O}", "id", r.id, "object",
                          "chat.completion.chunk", "created", (json_int_t)r.created, "model", id,
                          "system_fingerprint", "tabagent", "choices", "usage", u);
            ta_call_event(call, "chat.completion.chunk", c);
            json_decref(c);
        }
        json_decref(u);
        ta_call_reply(call, NULL);
    } else {
        json_t *msg =
            json_pack("{s:s,s:s%}", "role", "assistant", "content", res.text, res.text_len);
        if (!msg) msg = json_pack("{s:s,s:s}", "role", "assistant", "content", "");
        json_t *choice = json_pack("{s:i,s:o,s:n,s:s}", "index", 0, "message", msg, "logprobs",
                                   "finish_reason", finish);
        if (r.logprobs)
            json_object_set_new(choice, "logprobs", json_pack("{s:O}", "content", r.logprobs));
        json_t *out = json_pack("{s:s,s:s,s:I,s:s,s:s,s:[o],s:o}", "id", r.id, "object",
                                "chat.completion", "created", (json_int_t)r.created, "model", id,
                                "system_fingerprint", "tabagent", "choices", choice, "usage", u);
        json_object_set_new(out, "timings", timings(&res));
        ta_call_reply(call, out);
    }
out:
    ta_grammar_free(grammar);
    ta_gen_result_free(&res);
    json_decref(r.logprobs);
    free(prompt);
    ta_tok_ids_free(&ids);
    ta_req_gen_free(&g);
    ta_req_model_release(call, p, id);
    return rc;
}

/* The prompts of a completion request: texts, or one list of token ids. */
static int completion_prompts(ta_ml *ml, const char *id, const json_t *prompt, ta_tok_ids **out,
                              size_t *n, ta_error *err)
{
    *out = NULL;
    *n = 0;
    size_t count = json_is_string(prompt) ? 1 : json_array_size(prompt);
    bool ids_given = json_is_array(prompt) && count && json_is_integer(json_array_get(prompt, 0));
    if (ids_given) count = 1;
    if (!count) return ta_error_set(err, TA_EINVAL, "prompt: empty");
    if (count > 16) return ta_error_set(err, TA_EINVAL, "prompt: at most 16 prompts");
    ta_tok_ids *v = calloc(count, sizeof *v);
    if (!v) return ta_error_set(err, TA_ENOMEM, "out of memory");
    *out = v;
    *n = count;
    if (ids_given) {
        size_t len = json_array_size(prompt);
        v[0].ids = malloc(len * sizeof *v[0].ids);
        if (!v[0].ids) return ta_error_set(err, TA_ENOMEM, "out of memory");
        v[0].cap = len;
        for (size_t i = 0; i < len; i++) {
            json_t *t = json_array_get(prompt, i);
            if (!json_is_integer(t) || json_integer_value(t) < 0 ||
                json_integer_value(t) > INT32_MAX)
                return ta_error_set(err, TA_EINVAL, "prompt[%zu]: expected a token id", i);
            v[0].ids[v[0].len++] = (int32_t)json_integer_value(t);
        }
        return TA_OK;
    }
    for (size_t i = 0; i < count; i++) {
        const json_t *s = json_is_string(prompt) ? prompt : json_array_get(prompt, i);
        if (!json_is_string(s))
            return ta_error_set(err, TA_EINVAL, "prompt[%zu]: expected a string", i);
        int rc = ta_req_tokenize_prompt(ml, id, json_string_value(s), false, &v[i], err);
        if (rc) return rc;
    }
    return TA_OK;
}

static int do_completion(ta_call *call)
{
    const json_t *p = call->params;
    ta_error err = {0};
    char id[256];
    if (ta_req_model_acquire(call, p, id, sizeof id, &err)) return fail_err(call, &err);
    ta_ml *ml = ta_models_ml(call->app->models);
    run r = {.call = call,
             .chat = false,
             .model = id,
             .ml = ml,
             .epoch = atomic_load(&call->app->stop_epoch)};
    new_id(&r, "cmpl-");
    ta_req_gen g = {0};
    ta_tok_ids *prompts = NULL;
    size_t n_prompts = 0;
    json_t *choices = json_array();
    uint32_t n_prompt = 0, n_gen = 0, n_cached = 0;
    ta_ml_info info;
    int rc = ta_ml_info_get(ml, id, &info, &err);
    if (!rc && info.kind != TA_ML_CHAT)
        rc = ta_error_set(&err, TA_EINVAL, "model '%.200s' is an embedding model", id);
    if (!rc) rc = ta_req_gen_parse(p, info.n_vocab, &g, &err);
    ta_grammar *grammar = NULL;
    if (!rc) rc = ta_req_grammar(p, &grammar, &err);
    g.params.grammar = grammar;
    if (!rc)
        rc = completion_prompts(ml, id, json_object_get(p, "prompt"), &prompts, &n_prompts, &err);
    bool echo = ta_json_bool(p, "echo", false);
    ta_gen_result last = {0};
    for (size_t i = 0; !rc && i < n_prompts; i++) {
        r.choice = (uint32_t)i;
        if (g.params.logprobs && !call->stream) {
            r.tokens = json_array();
            r.token_lps = json_array();
            r.top_lps = json_array();
        }
        ta_gen_result res;
        rc = generate_one(&r, &g, prompts[i].ids, (uint32_t)prompts[i].len, &res, &err);
        if (rc) break;
        log_run("completion", id, &res);
        n_prompt += res.n_prompt;
        n_gen += res.n_generated;
        n_cached += res.n_cached;
        const char *finish = res.finish == TA_FINISH_LENGTH ? "length" : "stop";
        if (call->stream) {
            json_t *c = chunk(&r, json_pack("{s:s,s:i,s:n,s:s}", "text", "", "index", (int)i,
                                            "logprobs", "finish_reason", finish));
            json_object_set_new(c, "timings", timings(&res));
            ta_call_event(call, "text_completion", c);
            json_decref(c);
        } else {
            char *text = res.text;
            char *echoed = NULL;
            if (echo) {
                char *pt = ta_ml_detokenize(ml, id, prompts[i].ids, prompts[i].len, false, &err);
                size_t pl = pt ? strlen(pt) : 0;
                echoed = pt ? malloc(pl + res.text_len + 1) : NULL;
                if (echoed) {
                    memcpy(echoed, pt, pl);
                    memcpy(echoed + pl, res.text, res.text_len + 1);
                    text = echoed;
                }
                free(pt);
            }
            json_t *t = json_string(text);
            json_t *choice = json_pack("{s:o,s:i,s:n,s:s}", "text", t ? t : json_string(""),
                                       "index", (int)i, "logprobs", "finish_reason", finish);
            if (r.tokens)
                json_object_set_new(choice, "logprobs",
                                    json_pack("{s:o,s:o,s:o}", "tokens", r.tokens, "token_logprobs",
                                              r.token_lps, "top_logprobs", r.top_lps));
            r.tokens = r.token_lps = r.top_lps = NULL;
            json_array_append_new(choices, choice);
            free(echoed);
        }
        ta_gen_result_free(&last);
        last = res;
    }
    if (rc) {
        json_decref(r.tokens);
        json_decref(r.token_lps);
        json_decref(r.top_lps);
        fail_err(call, &err);
    } else if (call->stream) {
        if (ta_json_bool(json_object_get(p, "stream_options"), "include_usage", false)) {
            json_t *c = json_pack("{s:s,s:s,s:I,s:s,s:[],s:o}", "id", r.id, "object",
                                  "text_completion", "created", (json_int_t)r.created, "model", id,
                                  "choices", "usage", usage(n_prompt, n_gen, n_cached));
            ta_call_event(call, "text_completion", c);
            json_decref(c);
        }
        ta_call_reply(call, NULL);
    } else {
        json_t *out =
            json_pack("{s:s,s:s,s:I,s:s,s:s,s:O,s:o}", "id", r.id, "object", "text_completion",
                      "created", (json_int_t)r.created, "model", id, "system_fingerprint",
                      "tabagent", "choices", choices, "usage", usage(n_prompt, n_gen, n_cached));
        json_object_set_new(out, "timings", timings(&last));
        ta_call_reply(call, out);
    }
    ta_grammar_free(grammar);
    ta_gen_result_free(&last);
    json_decref(choices);
    for (size_t i = 0; i < n_prompts; i++)
        ta_tok_ids_free(&prompts[i]);
    free(prompts);
    ta_req_gen_free(&g);
    ta_req_model_release(call, p, id);
    return rc;
}

static const ta_action chat_actions[] = {
    {.name = "chat_completions",
     .summary = "OpenAI chat completion (stream: chat.completion.chunk events).",
     .request = &chat_request,
     .fn = do_chat,
     .flags = TA_ACTION_STREAMS},
    {.name = "completions",
     .summary = "OpenAI text completion (stream: text_completion events).",
     .request = &completion_request,
     .fn = do_completion,
     .flags = TA_ACTION_STREAMS},
};

int ta_router_add_chat_actions(ta_router *r)
{
    return ta_router_add_all(r, chat_actions, sizeof chat_actions / sizeof chat_actions[0]);
}
