/*
 * sampler.h - picks the next token from logits.
 *
 * The chain, in llama.cpp's order: logit bias, repetition / presence / frequency
 * penalties over the last penalty_last_n tokens, then (unless temperature <= 0, which
 * is greedy) top-k, typical-p, top-p, min-p, temperature, and a draw from the softmax
 * with a seeded generator (the same seed gives the same tokens).
 */
#ifndef TA_ENGINE_SAMPLER_H
#define TA_ENGINE_SAMPLER_H

#include <stdint.h>

typedef struct ta_logit_bias {
    int32_t token;
    float bias; /* added to the logit; -INFINITY bans the token */
} ta_logit_bias;

typedef struct ta_sampler_params {
    float temperature;       /* <= 0: greedy */
    int32_t top_k;           /* <= 0: off */
    float top_p;             /* >= 1: off */
    float min_p;             /* <= 0: off */
    float typical_p;         /* >= 1: off */
    float repeat_penalty;    /* 1: off; > 1 discourages repeats (divides positive logits) */
    float presence_penalty;  /* 0: off; subtracted once per token present in the window */
    float frequency_penalty; /* 0: off; subtracted per occurrence in the window */
    int32_t penalty_last_n;  /* window; 0 = off, -1 = the whole history */
    uint64_t seed;
    const ta_logit_bias *bias;
    uint32_t n_bias;
} ta_sampler_params;

/* Defaults: temperature 0.8, top_k 40, top_p 0.95, min_p 0.05, penalties off, window 64. */
ta_sampler_params ta_sampler_defaults(void);

typedef struct ta_sampler ta_sampler;

ta_sampler *ta_sampler_new(const ta_sampler_params *p, uint32_t n_vocab);
void ta_sampler_free(ta_sampler *s);

/* Chooses a token from logits (n_vocab floats, not modified). */
int32_t ta_sampler_sample(ta_sampler *s, const float *logits);
/* Records a token (prompt or generated) in the penalty history. */
void ta_sampler_accept(ta_sampler *s, int32_t token);

#endif
