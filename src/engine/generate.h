/*
 * generate.h - one generation on a context: the loop every front end shares (the CLI,
 * HTTP chat and completions, native messaging's generate).
 *
 * A ta_gen owns the token history of its context, so that a follow-up request whose
 * prompt starts with what the context already holds (the next turn of a conversation)
 * evaluates only the new tokens. ta_gen_run then samples until max_tokens, an
 * end-of-generation token, a stop string, a full context or the caller's cancel, and
 * streams text as it becomes final: whole UTF-8 characters only, and never bytes that
 * could still turn out to be the start of a stop string (those are held back until
 * they cannot). Stop strings are not part of the output.
 */
#ifndef TA_ENGINE_GENERATE_H
#define TA_ENGINE_GENERATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/core.h"
#include "../tokenizer/tokenizer.h"
#include "batcher.h"
#include "context.h"
#include "grammar.h"
#include "sampler.h"

#define TA_GEN_MAX_TOP_LOGPROBS 20
#define TA_GEN_MAX_STOPS        16
#define TA_GEN_MAX_STOP_BYTES   256

typedef struct ta_gen_params {
    uint32_t max_tokens; /* 0: until the context is full */
    ta_sampler_params sampling;
    const char *const *stops; /* n_stops non-empty strings, borrowed */
    uint32_t n_stops;         /* <= TA_GEN_MAX_STOPS, each <= TA_GEN_MAX_STOP_BYTES */
    bool logprobs;            /* report each token's log-probability */
    uint32_t top_logprobs;    /* and its n most likely alternatives (<= 20) */
    bool ignore_eos;          /* go on past end-of-generation tokens */
    /* Only text of this grammar (borrowed; NULL: any): a sampled token that would leave
     * it is replaced by a sample from the tokens that keep the text a valid prefix; end
     * of generation comes when the text is complete (and at once when nothing more can
     * follow). Structured output (JSON, a JSON schema) is made this way. */
    const ta_grammar *grammar;
} ta_gen_params;

/* ta_gen_params with the sampler's defaults, max_tokens 0, no stops, no logprobs. */
ta_gen_params ta_gen_defaults(void);

typedef struct ta_gen_logprob {
    int32_t token;
    float logprob; /* natural log of the model's probability (softmax of the raw logits) */
} ta_gen_logprob;

/* What the callback sees after each sampled token. */
typedef struct ta_gen_token {
    int32_t token;
    uint32_t index;   /* 0 for the first generated token */
    const char *text; /* text that became final with this token (may be empty) */
    size_t text_len;
    ta_gen_logprob chosen; /* when params.logprobs */
    ta_gen_logprob top[TA_GEN_MAX_TOP_LOGPROBS];
    uint32_t n_top;
} ta_gen_token;

/* Called once per generated token but an end-of-generation one (the token that
 * completes a stop string included, with the text before the stop), then once more
 * with token -1 for the held-back tail when there is one. The texts of all calls
 * concatenated are the result's text. A nonzero return cancels the generation. */
typedef int (*ta_gen_fn)(void *ud, const ta_gen_token *tok);

typedef enum {
    TA_FINISH_STOP = 0, /* end-of-generation token or a stop string */
    TA_FINISH_LENGTH,   /* max_tokens, or the context is full */
    TA_FINISH_CANCELLED,
} ta_gen_finish;

/* "stop", "length", "cancelled" (OpenAI's finish_reason words). */
const char *ta_gen_finish_name(ta_gen_finish f);

typedef struct ta_gen_result {
    char *text; /* the whole output, NUL-terminated, malloc'd: free with ta_gen_result_free */
    size_t text_len;
    uint32_t n_prompt;    /* prompt tokens */
    uint32_t n_cached;    /* of them, already in the context and not evaluated again */
    uint32_t n_generated; /* tokens sampled, the ending one included */
    ta_gen_finish finish;
    double prompt_s;      /* evaluating the prompt (the uncached part) */
    double first_token_s; /* from the start of ta_gen_run to the first token's text */
    double generate_s;    /* sampling and evaluating the generated tokens */
} ta_gen_result;

void ta_gen_result_free(ta_gen_result *r);

typedef struct ta_gen ta_gen;

/* A generator over ctx and tok (both borrowed, used by one thread at a time). */
ta_gen *ta_gen_new(ta_ctx *ctx, const ta_tokenizer *tok, ta_error *err);
void ta_gen_free(ta_gen *g);

/* Evaluates through b (borrowed; NULL: directly), shared with the other generators of
 * one model: their decoding steps merge into one (batcher.h), and a prompt runs in
 * pieces of at most n_batch tokens so that the others decode between its pieces. */
void ta_gen_set_batcher(ta_gen *g, ta_batcher *b, uint32_t n_batch);

/* Tokens the context holds now (prompt and generated ones of the last run). */
uint32_t ta_gen_n_cached(const ta_gen *g);

/* How many leading tokens of ids the context holds already. */
uint32_t ta_gen_common_prefix(const ta_gen *g, const int32_t *ids, uint32_t n);

/* Forgets the history (the next run evaluates its whole prompt). */
void ta_gen_reset(ta_gen *g);

/* Runs one generation from prompt (n_prompt >= 1 ids). TA_EINVAL, with the numbers,
 * when the prompt does not fit the context with room for one token; a failure leaves
 * the generator usable (its history reset). On success *out is filled (also for a
 * cancelled run, with what was generated so far). */
int ta_gen_run(ta_gen *g, const int32_t *prompt, uint32_t n_prompt, const ta_gen_params *p,
               ta_gen_fn cb, void *ud, ta_gen_result *out, ta_error *err);

#endif
