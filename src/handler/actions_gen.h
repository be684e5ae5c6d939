/*
 * actions_gen.h - request parsing shared by the generating actions (chat completions,
 * completions, native generate): sampling parameters, stops, logit bias, logprobs,
 * keep_alive, and the model a request holds while it runs.
 */
#ifndef TA_HANDLER_ACTIONS_GEN_H
#define TA_HANDLER_ACTIONS_GEN_H

#include <jansson.h>

#include "../engine/generate.h"
#include "../ml/ml.h"
#include "router.h"

typedef struct ta_req_gen {
    ta_gen_params params; /* points into the arrays below */
    char *stops[TA_GEN_MAX_STOPS];
    uint32_t n_stops;
    ta_logit_bias *bias;
    uint32_t n_bias;
} ta_req_gen;

/* The grammar a request asks for, or *out NULL: "response_format" (OpenAI's
 * {"type":"json_object"} or {"type":"json_schema","json_schema":{"schema":{...}}};
 * "text" is none), "json_schema" (a schema, llama.cpp's name) or "grammar" (GBNF text).
 * TA_EINVAL naming the field when it does not compile. */
int ta_req_grammar(const json_t *p, ta_grammar **out, ta_error *err);

/* Reads max_tokens (max_completion_tokens, n_predict), temperature, top_p, top_k, min_p,
 * typical_p, penalties, seed, stop, logit_bias ({"id": bias}, -100 bans), logprobs and
 * top_logprobs, ignore_eos from validated params. n_vocab bounds the logit_bias ids. */
int ta_req_gen_parse(const json_t *p, uint32_t n_vocab, ta_req_gen *g, ta_error *err);
void ta_req_gen_free(ta_req_gen *g);

/* keep_alive: seconds (a number) or "30s" / "5m" / "1h"; negative keeps the model
 * loaded; absent or null: the server's default (*use_default). */
int ta_req_keep_alive(const json_t *p, double *seconds, bool *use_default, ta_error *err);

/* Checks params.keep_alive, resolves params.model (absent: the only known model of the
 * action's kind) and holds it loaded until ta_req_model_release; the id goes to id. */
int ta_req_model_acquire(ta_call *call, const json_t *p, char *id, size_t cap, ta_error *err);
void ta_req_model_release(ta_call *call, const json_t *p, const char *id);

/* The prompt of a chat: params.messages (with tools and chat_template_kwargs) rendered
 * with the model's template, or the built-in one of its family, then tokenized (special
 * tokens parsed; BOS added only when the model wants one and the template did not
 * write it). *text is malloc'd. */
int ta_req_chat_prompt(ta_ml *ml, const char *id, const json_t *p, char **text, ta_tok_ids *ids,
                       ta_error *err);
/* A raw prompt tokenized as a completion takes it (chat: as a rendered chat). */
int ta_req_tokenize_prompt(ta_ml *ml, const char *id, const char *text, bool chat, ta_tok_ids *ids,
                           ta_error *err);

#endif
