/*
 * generate.c - see generate.h: prefix reuse, the sampling loop, stop strings held
 * back until they cannot match, log-probabilities, timings.
 */
#include "generate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct ta_gen {
    ta_ctx *ctx;
    const ta_tokenizer *tok;
    uint32_t n_vocab;
    int32_t *hist; /* the tokens the context holds, in order: hist[i] is at position i */
    uint32_t n_hist, cap;
    ta_batcher *batcher; /* shared with the other generators of one model, or NULL */
    uint32_t piece;      /* prompt tokens per batcher call */
};

ta_gen_params ta_gen_defaults(void)
{
    return (ta_gen_params){.sampling = ta_sampler_defaults()};
}

const char *ta_gen_finish_name(ta_gen_finish f)
{
    switch (f) {
    case TA_FINISH_STOP: return "stop";
    case TA_FINISH_LENGTH: return "length";
    case TA_FINISH_CANCELLED: return "cancelled";
    }
    return "stop";
}

void ta_gen_result_free(ta_gen_result *r)
{
    if (!r) return;
    free(r->text);
    memset(r, 0, sizeof *r);
}

ta_gen *ta_gen_new(ta_ctx *ctx, const ta_tokenizer *tok, ta_error *err)
{
    ta_gen *g = calloc(1, sizeof *g);
    uint32_t n_ctx = ta_ctx_n_ctx(ctx);
    if (g) g->hist = malloc((size_t)n_ctx * sizeof *g->hist);
    if (!g || !g->hist) {
        free(g);
        ta_error_set(err, TA_ENOMEM, "out of memory for a generator");
        return NULL;
    }
    g->ctx = ctx;
    g->tok = tok;
    g->n_vocab = ta_ctx_model(ctx)->hp.n_vocab;
    g->cap = n_ctx;
    ta_ctx_truncate(ctx, 0);
    return g;
}

void ta_gen_free(ta_gen *g)
{
    if (!g) return;
    free(g->hist);
    free(g);
}

void ta_gen_set_batcher(ta_gen *g, ta_batcher *b, uint32_t n_batch)
{
    g->batcher = b;
    g->piece = n_batch ? n_batch : 256;
}

uint32_t ta_gen_n_cached(const ta_gen *g)
{
    return g->n_hist;
}

uint32_t ta_gen_common_prefix(const ta_gen *g, const int32_t *ids, uint32_t n)
{
    uint32_t k = 0;
    while (k < g->n_hist && k < n && g->hist[k] == ids[k])
        k++;
    return k;
}

void ta_gen_reset(ta_gen *g)
{
    g->n_hist = 0;
    ta_ctx_truncate(g->ctx, 0);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Evaluates tokens and records them; on failure the history is reset. */
static int feed(ta_gen *g, const int32_t *ids, uint32_t n, ta_error *err)
{
    while (n) {
        uint32_t step = g->batcher && n > g->piece ? g->piece : n;
        int rc = g->batcher ? ta_batcher_eval(g->batcher, g->ctx, ids, step, err)
                            : ta_ctx_eval(g->ctx, ids, step, err);
        if (rc != TA_OK) {
            ta_gen_reset(g);
            return err ? err->code : TA_EINTERNAL;
        }
        memcpy(g->hist + g->n_hist, ids, (size_t)step * sizeof *ids);
        g->n_hist += step;
        ids += step;
        n -= step;
    }
    return TA_OK;
}

/* The chosen token's log-probability and the n most likely ones, from raw logits. */
static void logprobs(const float *logits, uint32_t n_vocab, int32_t chosen, uint32_t n,
                     ta_gen_token *t)
{
    float max = logits[0];
    for (uint32_t v = 1; v < n_vocab; v++)
        if (logits[v] > max) max = logits[v];
    double sum = 0;
    for (uint32_t v = 0; v < n_vocab; v++)
        sum += exp((double)logits[v] - max);
    float lse = max + (float)log(sum);
    t->chosen = (ta_gen_logprob){chosen, logits[chosen] - lse};
    t->n_top = 0;
    for (uint32_t v = 0; v < n_vocab && n; v++) { /* insertion into a sorted top n */
        float lp = logits[v] - lse;
        if (t->n_top == n && lp <= t->top[n - 1].logprob) continue;
        uint32_t i = t->n_top < n ? t->n_top++ : n - 1;
        while (i > 0 && t->top[i - 1].logprob < lp) {
            t->top[i] = t->top[i - 1];
            i--;
        }
        t->top[i] = (ta_gen_logprob){(int32_t)v, lp};
    }
}

/* A growing text buffer. */
typedef struct {
    char *p;
    size_t len, cap;
} textbuf;

static int text_add(textbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (b->len + n + 1 > cap)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np) return TA_ENOMEM;
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return TA_OK;
}

/* The earliest stop string in text[from, len), cutting len before it. */
static bool cut_stop(const ta_gen_params *p, textbuf *b, size_t from)
{
    size_t best = SIZE_MAX;
    for (uint32_t i = 0; i < p->n_stops; i++) {
        size_t sl = strlen(p->stops[i]);
        for (size_t at = from; at + sl <= b->len && at < best; at++)
            if (!memcmp(b->p + at, p->stops[i], sl)) {
                best = at;
                break;
            }
    }
    if (best == SIZE_MAX) return false;
    b->len = best;
    b->p[best] = '\0';
    return true;
}

/* How far text may be released: all but the bytes that could begin a stop string
 * (the last max_stop - 1), backed up to a UTF-8 character boundary. */
static size_t safe_end(const textbuf *b, size_t emitted, size_t max_stop)
{
    size_t hold = max_stop ? max_stop - 1 : 0;
    if (b->len <= emitted + hold) return emitted;
    size_t end = b->len - hold;
    while (end > emitted && ((unsigned char)b->p[end] & 0xc0) == 0x80)
        end--;
    return end;
}

/* Whether token t may come next under the grammar: an end-of-generation token when the
 * text is complete, any other token when its bytes keep the text a valid prefix (a
 * token without bytes, such as a control token, never: it could repeat forever). */
static bool grammar_allows(const ta_gen *g, const ta_grammar_state *gs, int32_t t)
{
    if (ta_tok_is_eog(g->tok, t)) return ta_grammar_state_complete(gs);
    size_t len = 0;
    const char *piece = ta_tok_piece(g->tok, t, false, &len);
    return len && ta_grammar_state_accepts(gs, piece, len);
}

/* The sampled token t, or, when the grammar does not allow it, a sample from the
 * tokens it allows (all others masked out). -1 when it allows none. */
static int32_t grammar_pick(ta_gen *g, ta_sampler *s, const ta_grammar_state *gs,
                            const float *logits, float *masked, int32_t t)
{
    if (grammar_allows(g, gs, t)) return t;
    bool any = false;
    for (uint32_t v = 0; v < g->n_vocab; v++) {
        bool ok = grammar_allows(g, gs, (int32_t)v);
        masked[v] = ok ? logits[v] : -INFINITY;
        any |= ok;
    }
    return any ? ta_sampler_sample(s, masked) : -1;
}

static int check_params(const ta_gen_params *p, uint32_t n_prompt, ta_error *err)
{
    if (!n_prompt) return ta_error_set(err, TA_EINVAL, "the prompt is empty");
    if (p->n_stops > TA_GEN_MAX_STOPS)
        return ta_error_set(err, TA_EINVAL, "at most %d stop strings, got %u", TA_GEN_MAX_STOPS,
                            p->n_stops);
    for (uint32_t i = 0; i < p->n_stops; i++) {
        size_t sl = p->stops[i] ? strlen(p->stops[i]) : 0;
        if (sl == 0 || sl > TA_GEN_MAX_STOP_BYTES)
            return ta_error_set(err, TA_EINVAL, "stop string %u must have 1 to %d bytes", i,
                                TA_GEN_MAX_STOP_BYTES);
    }
    if (p->top_logprobs > TA_GEN_MAX_TOP_LOGPROBS)
        return ta_error_set(err, TA_EINVAL, "top_logprobs is at most %d, got %u",
                            TA_GEN_MAX_TOP_LOGPROBS, p->top_logprobs);
    return TA_OK;
}

int ta_gen_run(ta_gen *g, const int32_t *prompt, uint32_t n_prompt, const ta_gen_params *p,
               ta_gen_fn cb, void *ud, ta_gen_result *out, ta_error *err)
{
    memset(out, 0, sizeof *out);
    int rc = check_params(p, n_prompt, err);
    if (rc) return rc;
    uint32_t n_ctx = ta_ctx_n_ctx(g->ctx);
    if (n_prompt >= n_ctx)
        return ta_error_set(err, TA_EINVAL,
                            "the prompt has %u tokens but the context holds %u (%u at most, to "
                            "leave room for one generated token)",
                            n_prompt, n_ctx, n_ctx - 1);
    for (uint32_t i = 0; i < n_prompt; i++)
        if (prompt[i] < 0 || (uint32_t)prompt[i] >= g->n_vocab)
            return ta_error_set(err, TA_EINVAL,
                                "prompt token %u is %d, outside the vocabulary "
                                "(0..%u)",
                                i, prompt[i], g->n_vocab - 1);

    double t0 = now_s();
    /* Reuse the longest common prefix, but evaluate at least the last prompt token:
     * its logits are where sampling starts. */
    uint32_t keep = ta_gen_common_prefix(g, prompt, n_prompt);
    if (keep == n_prompt) keep--;
    g->n_hist = keep;
    ta_ctx_truncate(g->ctx, keep);
    rc = feed(g, prompt + keep, n_prompt - keep, err);
    if (rc) return rc;
    out->n_prompt = n_prompt;
    out->n_cached = keep;
    double t1 = now_s();
    out->prompt_s = t1 - t0;

    ta_sampler *s = ta_sampler_new(&p->sampling, g->n_vocab);
    ta_tok_stream *stream = ta_tok_stream_new(g->tok, 0);
    textbuf text = {0};
    bool joined = false; /* counted among the batcher's decoding sequences */
    ta_grammar_state *gs = NULL;
    float *masked = NULL;
    if (p->grammar) {
        gs = ta_grammar_state_new(p->grammar, err);
        masked = malloc((size_t)g->n_vocab * sizeof *masked);
        if (!gs || !masked) {
            rc = gs ? ta_error_set(err, TA_ENOMEM, "out of memory for the grammar") : err->code;
            goto done;
        }
    }
    if (!s || !stream || text_add(&text, "", 0)) {
        rc = ta_error_set(err, TA_ENOMEM, "out of memory for generation");
        goto done;
    }
    for (uint32_t i = 0; i < n_prompt; i++)
        ta_sampler_accept(s, prompt[i]);
    size_t max_stop = 0, emitted = 0;
    for (uint32_t i = 0; i < p->n_stops; i++)
        if (strlen(p->stops[i]) > max_stop) max_stop = strlen(p->stops[i]);

    ta_gen_finish finish = TA_FINISH_LENGTH;
    bool stopped = false;
    if (g->batcher) {
        ta_batcher_join(g->batcher);
        joined = true;
    }
    ta_gen_token ev;
    for (uint32_t i = 0; !p->max_tokens || i < p->max_tokens; i++) {
        const float *logits = ta_ctx_logits(g->ctx);
        int32_t t = ta_sampler_sample(s, logits);
        if (gs) {
            t = grammar_pick(g, s, gs, logits, masked, t);
            if (t < 0) { /* cannot happen with a grammar that can end; stop cleanly */
                finish = TA_FINISH_STOP;
                break;
            }
        }
        out->n_generated++;
        if ((!p->ignore_eos || gs) && ta_tok_is_eog(g->tok, t)) {
            finish = TA_FINISH_STOP;
            break;
        }
        memset(&ev, 0, sizeof ev);
        ev.token = t;
        ev.index = i;
        if (p->logprobs) logprobs(logits, g->n_vocab, t, p->top_logprobs, &ev);
        ta_sampler_accept(s, t);
        bool grammar_done = false;
        if (gs) {
            size_t glen = 0;
            const char *gp = ta_tok_piece(g->tok, t, false, &glen);
            if (ta_grammar_state_advance(gs, gp, glen, err)) {
                rc = err ? err->code : TA_EINTERNAL;
                goto done;
            }
            grammar_done = !ta_grammar_state_can_continue(gs);
        }
        size_t plen = 0;
        const char *piece = ta_tok_stream_push(stream, t, &plen);
        if (!piece || text_add(&text, piece, plen)) {
            rc = ta_error_set(err, TA_ENOMEM, "out of memory for the generated text");
            goto done;
        }
        size_t end;
        if (p->n_stops && cut_stop(p, &text, emitted)) {
            stopped = true;
            finish = TA_FINISH_STOP;
            end = text.len;
        } else {
            end = safe_end(&text, emitted, max_stop);
        }
        ev.text = text.p + emitted;
        ev.text_len = end - emitted;
        emitted = end;
        if (!out->first_token_s) out->first_token_s = now_s() - t0;
        if (cb && cb(ud, &ev)) {
            finish = TA_FINISH_CANCELLED;
            break;
        }
        if (stopped) break;
        if (grammar_done) { /* the text is complete and nothing may follow */
            finish = TA_FINISH_STOP;
            break;
        }
        if (p->max_tokens && i + 1 == p->max_tokens) break;
        if (g->n_hist >= n_ctx) break; /* the context is full: "length" */
        rc = feed(g, &t, 1, err);
        if (rc) goto done;
    }
    if (!stopped && finish != TA_FINISH_CANCELLED) {
        /* an unfinished character becomes U+FFFD; then the held-back tail */
        size_t flen = 0;
        const char *rest = ta_tok_stream_flush(stream, &flen);
        if (rest && flen && text_add(&text, rest, flen)) {
            rc = ta_error_set(err, TA_ENOMEM, "out of memory for the generated text");
            goto done;
        }
        if (p->n_stops && cut_stop(p, &text, emitted)) finish = TA_FINISH_STOP;
        if (text.len > emitted && cb) {
            memset(&ev, 0, sizeof ev);
            ev.token = -1;
            ev.index = out->n_generated;
            ev.text = text.p + emitted;
            ev.text_len = text.len - emitted;
            if (cb(ud, &ev)) finish = TA_FINISH_CANCELLED;
        }
    }
    out->finish = finish;
    out->generate_s = now_s() - t1;
    out->text = text.p;
    out->text_len = text.len;
    text.p = NULL;
done:
    if (joined) ta_batcher_leave(g->batcher);
    ta_grammar_state_free(gs);
    free(masked);
    free(text.p);
    ta_tok_stream_free(stream);
    ta_sampler_free(s);
    return rc;
}
