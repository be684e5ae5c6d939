/*
 * batcher.h - the sequences (slots) of one model share its thread pool, and their
 * decoding steps are merged.
 *
 * Each slot's generation runs on its own thread. When a slot wants one token
 * evaluated it offers it here; the first slot to find the model idle leads a step: it
 * waits briefly until every decoding slot has offered its token (or 5 ms pass), then
 * evaluates them all at once with ta_ctx_eval_multi, reading the weights once for all
 * of them; the others sleep until their token is done. A prompt (several tokens) runs
 * alone between steps. So N parallel streams cost little more than one, where taking
 * turns would divide one stream's speed among them.
 */
#ifndef TA_ENGINE_BATCHER_H
#define TA_ENGINE_BATCHER_H

#include <stdint.h>

#include "../core/core.h"
#include "context.h"

typedef struct ta_batcher ta_batcher;

/* max_batch: the most sequences in one step (at most the contexts' batch size). */
ta_batcher *ta_batcher_new(uint32_t max_batch, ta_error *err);
void ta_batcher_free(ta_batcher *b);

/* Evaluates n tokens on ctx: one token joins the next merged step, more run alone.
 * Every ctx given to one batcher must have the same model, pool, context size and
 * cache type (ta_ctx_eval_multi's rule), and be used by one thread at a time. */
int ta_batcher_eval(ta_batcher *b, ta_ctx *ctx, const int32_t *tokens, uint32_t n, ta_error *err);

/* A sequence enters / leaves its decoding loop: a step's leader waits for the tokens
 * of the sequences that are decoding, and no others. */
void ta_batcher_join(ta_batcher *b);
void ta_batcher_leave(ta_batcher *b);

/* Steps run and sequences evaluated in them so far (for tests and stats). */
void ta_batcher_stats(ta_batcher *b, uint64_t *steps, uint64_t *rows);

#endif
