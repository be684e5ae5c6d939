/*
 * actions_gen.c - what the chat, completion and native generate actions share: the
 * sampling parameters of a request turned into ta_gen_params, a model held for the
 * duration of a request, and the keep_alive parameter.
 */
#include "actions_gen.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../app/models.h"
#include "../engine/chat_template.h"

void ta_req_gen_free(ta_req_gen *g)
{
    for (uint32_t i = 0; i < g->n_stops; i++)
        free(g->stops[i]);
    free(g->bias);
    memset(g, 0, sizeof *g);
}

static int add_stop(ta_req_gen *g, const json_t *s, ta_error *err)
{
    if (!json_is_string(s)) return ta_error_set(err, TA_EINVAL, "stop: expected strings");
    size_t len = json_string_length(s);
    if (!len) return TA_OK; /* an empty stop string stops nothing */
    if (g->n_stops == TA_GEN_MAX_STOPS)
        return ta_error_set(err, TA_EINVAL, "stop: at most %d strings", TA_GEN_MAX_STOPS);
    if (len > TA_GEN_MAX_STOP_BYTES)
        return ta_error_set(err, TA_EINVAL, "stop: a string has at most %d bytes",
                            TA_GEN_MAX_STOP_BYTES);
    g->stops[g->n_stops] = strdup(json_string_value(s));
    if (!g->stops[g->n_stops]) return ta_error_set(err, TA_ENOMEM, "out of memory");
    g->n_stops++;
    return TA_OK;
}

int ta_req_gen_parse(const json_t *p, uint32_t n_vocab, ta_req_gen *g, ta_error *err)
{
    memset(g, 0, sizeof *g);
    ta_gen_params *gp = &g->params;
    *gp = ta_gen_defaults();
    ta_sampler_params *sp = &gp->sampling;
    /* max_completion_tokens is OpenAI's newer name; n_predict llama.cpp's */
    const char *max_keys[] = {"max_completion_tokens", "max_tokens", "n_predict"};
    for (int i = 0; i < 3; i++) {
        json_t *v = json_object_get(p, max_keys[i]);
        if (json_is_integer(v) && json_integer_value(v) >= 0) {
            gp->max_tokens = (uint32_t)json_integer_value(v);
            break;
        }
    }
    sp->temperature = (float)ta_json_num(p, "temperature", sp->temperature);
    sp->top_p = (float)ta_json_num(p, "top_p", sp->top_p);
    sp->top_k = (int32_t)ta_json_int(p, "top_k", sp->top_k);
    sp->min_p = (float)ta_json_num(p, "min_p", sp->min_p);
    sp->typical_p = (float)ta_json_num(p, "typical_p", sp->typical_p);
    sp->presence_penalty = (float)ta_json_num(p, "presence_penalty", 0);
    sp->frequency_penalty = (float)ta_json_num(p, "frequency_penalty", 0);
    sp->repeat_penalty = (float)ta_json_num(p, "repeat_penalty", 1.0);
    sp->penalty_last_n = (int32_t)ta_json_int(p, "repeat_last_n", sp->penalty_last_n);
    json_t *seed = json_object_get(p, "seed");
    if (json_is_integer(seed)) sp->seed = (uint64_t)json_integer_value(seed);
    json_t *stop = json_object_get(p, "stop");
    g->params.stops = (const char *const *)g->stops;
    if (json_is_string(stop)) {
        if (add_stop(g, stop, err)) return err->code;
    } else if (json_is_array(stop)) {
        size_t i;
        json_t *s;
        json_array_foreach(stop, i, s)
        {
            if (add_stop(g, s, err)) return err->code;
        }
    }
    gp->n_stops = g->n_stops;
    json_t *bias = json_object_get(p, "logit_bias");
    if (json_is_object(bias) && json_object_size(bias)) {
        if (json_object_size(bias) > 1024)
            return ta_error_set(err, TA_EINVAL, "logit_bias: at most 1024 tokens");
        g->bias = calloc(json_object_size(bias), sizeof *g->bias);
        if (!g->bias) return ta_error_set(err, TA_ENOMEM, "out of memory");
        const char *key;
        json_t *v;
        json_object_foreach(bias, key, v)
        {
            char *end;
            long tok = strtol(key, &end, 10);
            if (*end || end == key || tok < 0 || (uint64_t)tok >= n_vocab)
                return ta_error_set(err, TA_EINVAL,
                                    "logit_bias: '%.32s' is not a token id of this model (0..%u)",
                                    key, n_vocab - 1);
            if (!json_is_number(v))
                return ta_error_set(err, TA_EINVAL, "logit_bias.%.32s: expected a number", key);
            double b = json_number_value(v);
            if (b < -100 || b > 100)
                return ta_error_set(err, TA_EINVAL, "logit_bias.%.32s: between -100 and 100", key);
            g->bias[g->n_bias++] = (ta_logit_bias){(int32_t)tok, b <= -100 ? -INFINITY : (float)b};
        }
        sp->bias = g->bias;
        sp->n_bias = g->n_bias;
    }
    json_t *lp = json_object_get(p, "logprobs");
    gp->logprobs = json_is_true(lp) || (json_is_integer(lp) && json_integer_value(lp) > 0);
    long long top =
        ta_json_int(p, "top_logprobs", json_is_integer(lp) ? json_integer_value(lp) : 0);
    if (top < 0 || top > TA_GEN_MAX_TOP_LOGPROBS)
        return ta_error_set(err, TA_EINVAL, "top_logprobs: between 0 and %d",
                            TA_GEN_MAX_TOP_LOGPROBS);
    if (top > 0 && !gp->logprobs)
        return ta_error_set(err, TA_EINVAL, "top_logprobs needs logprobs: true");
    gp->top_logprobs = (uint32_t)top;
    gp->ignore_eos = ta_json_bool(p, "ignore_eos", false);
    return TA_OK;
}

int ta_req_keep_alive(const json_t *p, double *seconds, bool *use_default, ta_error *err)
{
    json_t *v = json_object_get(p, "keep_alive");
    *use_default = true;
    *seconds = 0;
    if (!v || json_is_null(v)) return TA_OK;
    *use_default = false;
    if (json_is_number(v)) {
        *seconds = json_number_value(v);
        return TA_OK;
    }
    if (json_is_string(v)) { /* Ollama's "5m", "30s", "1h", "-1" */
        const char *s = json_string_value(v);
        char *end;
        double x = strtod(s, &end);
        if (end != s) {
            if (!*end || !strcmp(end, "s")) {
                *seconds = x;
                return TA_OK;
            }
            if (!strcmp(end, "m")) {
                *seconds = x * 60;
                return TA_OK;
            }
            if (!strcmp(end, "h")) {
                *seconds = x * 3600;
                return TA_OK;
            }
        }
    }
    return ta_error_set(err, TA_EINVAL,
                        "keep_alive: seconds, or a duration like \"30s\", \"5m\", \"1h\" "
                        "(negative: forever)");
}

int ta_req_model_acquire(ta_call *call, const json_t *p, char *id, size_t cap, ta_error *err)
{
    ta_models *models = call->app ? call->app->models : NULL;
    if (!models) return ta_error_set(err, TA_EUNAVAILABLE, "this server runs no models");
    double ka; /* checked now: ta_req_model_release reads it after the request */
    bool dflt;
    if (ta_req_keep_alive(p, &ka, &dflt, err)) return err->code;
    const char *name = ta_json_str(p, "model", NULL);
    if (!name || !name[0]) {
        /* no name: the only known model of the kind, as single-model servers do */
        json_t *list = ta_models_list(models), *data = json_object_get(list, "data");
        const char *want = !strcmp(call->action->name, "embeddings") ? "embedding" : "chat";
        const char *only = NULL;
        int count = 0;
        size_t i;
        json_t *m;
        json_array_foreach(data, i, m)
        {
            const char *kind = ta_json_str(m, "kind", "");
            if (!strcmp(kind, want)) {
                only = ta_json_str(m, "id", NULL);
                count++;
            }
        }
        int rc = TA_OK;
        if (count == 1)
            snprintf(id, cap, "%s", only);
        else
            rc = ta_error_set(err, TA_EINVAL, "model: required (%d %s models are known)", count,
                              want);
        json_decref(list);
        if (rc) return rc;
        name = id;
    }
    char name_copy[4096];
    snprintf(name_copy, sizeof name_copy, "%s", name);
    return ta_models_acquire(models, name_copy, id, cap, err);
}

void ta_req_model_release(ta_call *call, const json_t *p, const char *id)
{
    double ka = 0;
    bool dflt = true;
    ta_error err;
    if (ta_req_keep_alive(p, &ka, &dflt, &err)) dflt = true;
    ta_models_release(call->app->models, id, ka, dflt);
}

/* Renders the chat with the model's template (or the built-in one for its family). */
static int render_chat(ta_ml *ml, const char *id, const json_t *p, char **prompt, ta_error *err)
{
    char *tmpl = ta_ml_chat_template(ml, id, err);
    ta_ml_info info;
    if (ta_ml_info_get(ml, id, &info, err)) {
        free(tmpl);
        return err->code;
    }
    char bos[256], eos[256];
    ta_ml_special_texts(ml, id, bos, eos, sizeof bos, err);
    const json_t *tools = json_object_get(p, "tools");
    if (json_is_array(tools) && !json_array_size(tools)) tools = NULL;
    int rc = ta_chat_template_apply(tmpl, tmpl ? NULL : ta_chat_template_guess(NULL, info.arch),
                                    json_object_get(p, "messages"),
                                    json_is_array(tools) ? tools : NULL, true, bos, eos,
                                    json_object_get(p, "chat_template_kwargs"), prompt, err);
    free(tmpl);
    return rc;
}

/* Tokenizes a rendered chat: special tokens are parsed; BOS is added only when the
 * model wants one and the template did not write it. */
int ta_req_tokenize_prompt(ta_ml *ml, const char *id, const char *text, bool chat, ta_tok_ids *ids,
                           ta_error *err)
{
    bool add_special = true;
    if (chat) {
        char bos[256], eos[256];
        ta_ml_special_texts(ml, id, bos, eos, sizeof bos, err);
        if (bos[0] && !strncmp(text, bos, strlen(bos))) add_special = false;
    }
    return ta_ml_tokenize(ml, id, text, strlen(text), add_special, chat, ids, err);
}

int ta_req_chat_prompt(ta_ml *ml, const char *id, const json_t *p, char **text, ta_tok_ids *ids,
                       ta_error *err)
{
    int rc = render_chat(ml, id, p, text, err);
    if (!rc) rc = ta_req_tokenize_prompt(ml, id, *text, true, ids, err);
    return rc;
}

int ta_req_grammar(const json_t *p, ta_grammar **out, ta_error *err)
{
    *out = NULL;
    const json_t *rf = json_object_get(p, "response_format");
    const char *type = json_is_object(rf) ? ta_json_str(rf, "type", "text") : "text";
    const char *field = NULL;
    if (!strcmp(type, "json_object")) {
        field = "response_format";
        /* llama.cpp also takes a schema here */
        *out = ta_grammar_from_json_schema(json_object_get(rf, "schema"), err);
    } else if (!strcmp(type, "json_schema")) {
        field = "response_format.json_schema.schema";
        const json_t *schema = json_object_get(json_object_get(rf, "json_schema"), "schema");
        if (!json_is_object(schema))
            return ta_error_set(err, TA_EINVAL, "%s: required, a JSON Schema object", field);
        *out = ta_grammar_from_json_schema(schema, err);
    } else if (strcmp(type, "text")) {
        return ta_error_set(err, TA_EINVAL,
                            "response_format.type: expected text, json_object or json_schema, "
                            "got '%.40s'",
                            type);
    } else if (json_is_object(json_object_get(p, "json_schema"))) {
        field = "json_schema";
        *out = ta_grammar_from_json_schema(json_object_get(p, "json_schema"), err);
    } else if (json_is_string(json_object_get(p, "grammar"))) {
        field = "grammar";
        *out = ta_grammar_parse(ta_json_str(p, "grammar", ""), NULL, err);
    } else {
        return TA_OK;
    }
    if (*out) return TA_OK;
    ta_error_prefix(err, "%s: ", field);
    return err->code ? err->code : TA_EINVAL;
}
