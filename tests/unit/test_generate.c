/*
 * test_generate.c - the shared generation loop (src/engine/generate.c) on the real
 * stories260K model: greedy output equal to a plain argmax loop, streamed pieces that
 * add up to the result, stop strings (within a token and across tokens) cut and never
 * streamed, prefix reuse giving the same output as a fresh context, the context limits,
 * max_tokens, cancellation and log-probabilities.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "engine/generate.h"
#include "engine/threadpool.h"

#include <pthread.h>

#define STORIES TA_SOURCE_DIR "/../shared/models/stories260K.gguf"

typedef struct {
    ta_model *m;
    ta_tokenizer *tok;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    ta_error err = {0};
    f->m = ta_model_load(STORIES, &err);
    if (!f->m) {
        fprintf(stderr, "%s: %s\n", STORIES, err.message);
        return -1;
    }
    f->tok = ta_tokenizer_from_gguf(f->m->gguf, &err);
    if (!f->tok) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    ta_tokenizer_free(f->tok);
    ta_model_free(f->m);
    free(f);
    return 0;
}

static ta_tok_ids encode(fixture *f, const char *text)
{
    ta_tok_ids ids = {0};
    ta_error err = {0};
    assert_int_equal(ta_tok_encode(f->tok, text, strlen(text), true, true, &ids, &err), TA_OK);
    return ids;
}

static ta_ctx *new_ctx(fixture *f, uint32_t n_ctx)
{
    ta_ctx_params cp = {.n_ctx = n_ctx};
    ta_error err = {0};
    ta_ctx *c = ta_ctx_new(f->m, &cp, &err);
    assert_non_null(c);
    return c;
}

/* Collects what the callback sees. */
typedef struct {
    char text[4096];
    size_t len;
    int calls, cancel_after, tail_calls;
    bool check_logprobs;
} seen;

static int on_token(void *ud, const ta_gen_token *t)
{
    seen *s = ud;
    assert_true(s->len + t->text_len < sizeof s->text);
    memcpy(s->text + s->len, t->text, t->text_len);
    s->len += t->text_len;
    s->text[s->len] = '\0';
    if (t->token < 0) s->tail_calls++;
    if (s->check_logprobs && t->token >= 0) {
        assert_true(t->chosen.logprob <= 0.0f);
        assert_int_equal(t->n_top, 5);
        for (uint32_t i = 1; i < t->n_top; i++)
            assert_true(t->top[i - 1].logprob >= t->top[i].logprob);
        /* greedy: the chosen token is the most likely one */
        assert_int_equal(t->top[0].token, t->token);
        assert_true(fabsf(t->top[0].logprob - t->chosen.logprob) < 1e-6f);
    }
    return ++s->calls == s->cancel_after;
}

static ta_gen_params greedy(uint32_t max_tokens)
{
    ta_gen_params p = ta_gen_defaults();
    p.sampling.temperature = 0;
    p.max_tokens = max_tokens;
    return p;
}

static void test_greedy_matches_argmax(void **state)
{
    fixture *f = *state;
    ta_tok_ids ids = encode(f, "Once upon a time");
    /* the plain loop */
    ta_ctx *c = new_ctx(f, 128);
    ta_error err = {0};
    assert_int_equal(ta_ctx_eval(c, ids.ids, (uint32_t)ids.len, &err), TA_OK);
    ta_tok_stream *st = ta_tok_stream_new(f->tok, 0);
    char want[4096] = "";
    size_t wl = 0;
    for (int i = 0; i < 40; i++) {
        const float *lg = ta_ctx_logits(c);
        int32_t best = 0;
        for (uint32_t v = 1; v < f->m->hp.n_vocab; v++)
            if (lg[v] > lg[best]) best = (int32_t)v;
        if (ta_tok_is_eog(f->tok, best)) break;
        size_t n = 0;
        const char *p = ta_tok_stream_push(st, best, &n);
        memcpy(want + wl, p, n);
        wl += n;
        assert_int_equal(ta_ctx_eval(c, &best, 1, &err), TA_OK);
    }
    want[wl] = '\0';
    ta_tok_stream_free(st);

    ta_gen *g = ta_gen_new(c, f->tok, &err);
    assert_non_null(g);
    ta_gen_params p = greedy(40);
    p.logprobs = true;
    p.top_logprobs = 5;
    seen s = {.check_logprobs = true};
    ta_gen_result r;
    assert_int_equal(ta_gen_run(g, ids.ids, (uint32_t)ids.len, &p, on_token, &s, &r, &err), TA_OK);
    assert_string_equal(r.text, want);
    assert_string_equal(s.text, want); /* the streamed pieces add up to the result */
    assert_int_equal(r.n_prompt, ids.len);
    assert_int_equal(r.n_cached, 0);
    assert_int_equal(r.n_generated, 40);
    assert_int_equal(r.finish, TA_FINISH_LENGTH);
    assert_string_equal(ta_gen_finish_name(r.finish), "length");
    assert_true(r.first_token_s > 0 && r.generate_s > 0);
    assert_non_null(strstr(r.text, "Lily")); /* a coherent story */
    ta_gen_result_free(&r);
    ta_gen_free(g);
    ta_ctx_free(c);
    ta_tok_ids_free(&ids);
}

/* A stop string ends the output before it and is never streamed, wherever the token
 * boundaries fall; the longest stop decides how much is held back. */
static void test_stop_strings(void **state)
{
    fixture *f = *state;
    ta_tok_ids ids = encode(f, "Once upon a time");
    ta_ctx *c = new_ctx(f, 128);
    ta_error err = {0};
    ta_gen *g = ta_gen_new(c, f->tok, &err);
    ta_gen_params p = greedy(60);
    ta_gen_result full;
    assert_int_equal(ta_gen_run(g, ids.ids, (uint32_t)ids.len, &p, NULL, NULL, &full, &err), TA_OK);
    /* stops: a whole word, a piece spanning tokens ("girl named Li"), one letter, and one
     * that never occurs (held back text must still come out at the end) */
    const char *cases[][2] = {{"Lily", NULL},
                              {"girl named Li", NULL},
                              {"y", "never appears here"},
                              {"zzzz-not-there", NULL}};
    for (int k = 0; k < 4; k++) {
        const char *stops[2] = {cases[k][0], cases[k][1]};
        p.stops = stops;
        p.n_stops = cases[k][1] ? 2 : 1;
        seen s = {0};
        ta_gen_result r;
        assert_int_equal(ta_gen_run(g, ids.ids, (uint32_t)ids.len, &p, on_token, &s, &r, &err),
                         TA_OK);
        const char *at = strstr(full.text, stops[0]);
        if (at) {
            assert_int_equal(r.text_len, (size_t)(at - full.text));
            assert_memory_equal(r.text, full.text, r.text_len);
            assert_int_equal(r.finish, TA_FINISH_STOP);
        } else {
            assert_string_equal(r.text, full.text);
            assert_int_equal(r.finish, TA_FINISH_LENGTH);
            assert_true(s.tail_calls <= 1);
        }
        assert_string_equal(s.text, r.text);
        ta_gen_result_free(&r);
    }
    ta_gen_result_free(&full);
    ta_gen_free(g);
    ta_ctx_free(c);
    ta_tok_ids_free(&ids);
}

/* A second turn that extends the first reuses the cached prefix and gives what a fresh
 * context gives. */
static void test_prefix_reuse(void **state)
{
    fixture *f = *state;
    ta_error err = {0};
    ta_tok_ids a = encode(f, "Once upon a time, there was a little dog.");
    ta_tok_ids b = encode(f, "Once upon a time, there was a little dog. The dog liked to run");
    ta_ctx *c1 = new_ctx(f, 128), *c2 = new_ctx(f, 128);
    ta_gen *g1 = ta_gen_new(c1, f->tok, &err), *g2 = ta_gen_new(c2, f->tok, &err);
    ta_gen_params p = greedy(20);
    ta_gen_result r1, r2, fresh;
    assert_int_equal(ta_gen_run(g1, a.ids, (uint32_t)a.len, &p, NULL, NULL, &r1, &err), TA_OK);
    assert_int_equal(ta_gen_run(g1, b.ids, (uint32_t)b.len, &p, NULL, NULL, &r2, &err), TA_OK);
    uint32_t common = 0;
    while (common < a.len && a.ids[common] == b.ids[common])
        common++;
    assert_true(common > 5);
    /* at least the common prompt; more when the first reply began as b goes on */
    assert_true(r2.n_cached >= common && r2.n_cached < b.len);
    assert_int_equal(ta_gen_run(g2, b.ids, (uint32_t)b.len, &p, NULL, NULL, &fresh, &err), TA_OK);
    assert_int_equal(fresh.n_cached, 0);
    assert_string_equal(r2.text, fresh.text);
    /* the same prompt again: all but the last token reused */
    ta_gen_result r3;
    assert_int_equal(ta_gen_run(g1, b.ids, (uint32_t)b.len, &p, NULL, NULL, &r3, &err), TA_OK);
    assert_int_equal(r3.n_cached, b.len - 1);
    assert_string_equal(r3.text, fresh.text);
    ta_gen_result_free(&r1);
    ta_gen_result_free(&r2);
    ta_gen_result_free(&r3);
    ta_gen_result_free(&fresh);
    ta_gen_free(g1);
    ta_gen_free(g2);
    ta_ctx_free(c1);
    ta_ctx_free(c2);
    ta_tok_ids_free(&a);
    ta_tok_ids_free(&b);
}

/* Limits: a prompt that leaves no room is refused with the numbers; a context that
 * fills up ends with "length"; cancellation; bad parameters. */
static void test_limits_and_cancel(void **state)
{
    fixture *f = *state;
    ta_error err = {0};
    ta_tok_ids ids = encode(f, "Once upon a time, there was a little girl");
    ta_ctx *c = new_ctx(f, (uint32_t)ids.len);
    ta_gen *g = ta_gen_new(c, f->tok, &err);
    ta_gen_params p = greedy(10);
    ta_gen_result r;
    assert_int_equal(ta_gen_run(g, ids.ids, (uint32_t)ids.len, &p, NULL, NULL, &r, &err),
                     TA_EINVAL);
    char want[128];
    snprintf(want, sizeof want, "the prompt has %zu tokens but the context holds %zu", ids.len,
             ids.len);
    assert_non_null(strstr(err.message, want));
    ta_gen_free(g);
    ta_ctx_free(c);

    c = new_ctx(f, (uint32_t)ids.len + 6);
    g = ta_gen_new(c, f->tok, &err);
    p = greedy(0); /* until the context is full */
    assert_int_equal(ta_gen_run(g, ids.ids, (uint32_t)ids.len, &p, NULL, NULL, &r, &err), TA_OK);
    assert_int_equal(r.finish, TA_FINISH_LENGTH);
    assert_int_equal(ta_gen_n_cached(g), ids.len + 6);
    assert_int_equal(r.n_generated, 7); /* 6 evaluated, the last one only sampled */
    ta_gen_result_free(&r);

    seen s = {.cancel_after = 3};
    p = greedy(10);
    assert_int_equal(ta_gen_run(g, ids.ids, (uint32_t)ids.len, &p, on_token, &s, &r, &err), TA_OK);
    assert_int_equal(r.finish, TA_FINISH_CANCELLED);
    assert_int_equal(s.calls, 3);
    assert_int_equal(r.n_generated, 3);
    ta_gen_result_free(&r);

    const char *empty[] = {""};
    p.stops = empty;
    p.n_stops = 1;
    assert_int_equal(ta_gen_run(g, ids.ids, (uint32_t)ids.len, &p, NULL, NULL, &r, &err),
                     TA_EINVAL);
    p.n_stops = 0;
    p.top_logprobs = 21;
    assert_int_equal(ta_gen_run(g, ids.ids, (uint32_t)ids.len, &p, NULL, NULL, &r, &err),
                     TA_EINVAL);
    p.top_logprobs = 0;
    int32_t bad[2] = {1, (int32_t)f->m->hp.n_vocab};
    assert_int_equal(ta_gen_run(g, bad, 2, &p, NULL, NULL, &r, &err), TA_EINVAL);
    assert_int_equal(ta_gen_run(g, bad, 0, &p, NULL, NULL, &r, &err), TA_EINVAL);
    /* still usable after the errors */
    assert_int_equal(ta_gen_run(g, ids.ids, (uint32_t)ids.len, &p, NULL, NULL, &r, &err), TA_OK);
    assert_int_equal(r.n_generated, 7); /* 10 asked: 6 fit, and one more is sampled */
    ta_gen_result_free(&r);
    ta_gen_free(g);
    ta_ctx_free(c);
    ta_tok_ids_free(&ids);
}

typedef struct {
    ta_gen *g;
    ta_tok_ids ids;
    ta_gen_result r;
    int rc;
    pthread_barrier_t *start; /* all three begin together, so their steps can merge */
} job;

static void *run_job(void *arg)
{
    job *j = arg;
    pthread_barrier_wait(j->start);
    ta_gen_params p = greedy(48);
    ta_error err;
    j->rc = ta_gen_run(j->g, j->ids.ids, (uint32_t)j->ids.len, &p, NULL, NULL, &j->r, &err);
    return NULL;
}

/* Three generations at once through one batcher (contexts sharing a pool): each gives
 * what it gives alone. */
static void test_batched_generations(void **state)
{
    fixture *f = *state;
    enum { N = 3 };
    const char *prompts[N] = {"Once upon a time", "The little dog", "Lily and Tom went to the"};
    ta_pool *pool = ta_pool_new(2);
    ta_error err = {0};
    ta_batcher *b = ta_batcher_new(N, &err);
    assert_non_null(b);
    ta_ctx *ctx[N];
    job jobs[N];
    char *want[N];
    for (int i = 0; i < N; i++) {
        ta_ctx_params cp = {.n_ctx = 128, .pool = pool};
        ctx[i] = ta_ctx_new(f->m, &cp, &err);
        assert_non_null(ctx[i]);
        jobs[i].g = ta_gen_new(ctx[i], f->tok, &err);
        jobs[i].ids = encode(f, prompts[i]);
        /* alone first */
        ta_gen_params p = greedy(48);
        ta_gen_result r;
        assert_int_equal(ta_gen_run(jobs[i].g, jobs[i].ids.ids, (uint32_t)jobs[i].ids.len, &p, NULL,
                                    NULL, &r, &err),
                         TA_OK);
        want[i] = r.text;
        ta_gen_reset(jobs[i].g);
        ta_gen_set_batcher(jobs[i].g, b, 0);
    }
    pthread_t th[N];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, N);
    for (int i = 0; i < N; i++) {
        jobs[i].start = &start;
        assert_int_equal(pthread_create(&th[i], NULL, run_job, &jobs[i]), 0);
    }
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start);
    uint64_t steps, rows;
    ta_batcher_stats(b, &steps, &rows);
    for (int i = 0; i < N; i++) {
        assert_int_equal(jobs[i].rc, TA_OK);
        assert_string_equal(jobs[i].r.text, want[i]);
        ta_gen_result_free(&jobs[i].r);
        free(want[i]);
        ta_gen_free(jobs[i].g);
        ta_ctx_free(ctx[i]);
        ta_tok_ids_free(&jobs[i].ids);
    }
    assert_int_equal(rows, 3 * 47); /* the last token of each is only sampled */
    (void)steps; /* whether they overlapped depends on scheduling; see the next test */
    ta_batcher_free(b);
    ta_pool_free(pool);
}

/* A grammar decides the output: a two-word choice, and JSON for a schema at several
 * seeds, whatever the story model would rather say. Generation ends as soon as nothing
 * more may follow. */
static void test_grammar_constrained(void **state)
{
    fixture *f = *state;
    ta_error err = {0};
    ta_tok_ids ids = encode(f, "Once upon a time");
    ta_ctx *c = new_ctx(f, 512);
    ta_gen *g = ta_gen_new(c, f->tok, &err);
    ta_grammar *yn = ta_grammar_parse("root ::= \"yes\" | \"no\"", NULL, &err);
    assert_non_null(yn);
    ta_gen_params p = greedy(50);
    p.grammar = yn;
    ta_gen_result r;
    assert_int_equal(ta_gen_run(g, ids.ids, (uint32_t)ids.len, &p, NULL, NULL, &r, &err), TA_OK);
    assert_true(!strcmp(r.text, "yes") || !strcmp(r.text, "no"));
    assert_int_equal(r.finish, TA_FINISH_STOP);
    ta_gen_result_free(&r);
    ta_grammar_free(yn);

    json_error_t jerr;
    json_t *schema = json_loads("{\"type\":\"object\",\"properties\":{\"name\":{\"type\":"
                                "\"string\",\"maxLength\":12},\"n\":{\"type\":\"integer\"},"
                                "\"ok\":{\"type\":\"boolean\"}},\"required\":[\"name\",\"n\","
                                "\"ok\"]}",
                                0, &jerr);
    assert_non_null(schema);
    ta_grammar *js = ta_grammar_from_json_schema(schema, &err);
    assert_non_null(js);
    for (uint64_t seed = 1; seed <= 5; seed++) {
        p = ta_gen_defaults();
        p.max_tokens = 400;
        p.sampling.temperature = 1.0f;
        p.sampling.seed = seed;
        p.grammar = js;
        assert_int_equal(ta_gen_run(g, ids.ids, (uint32_t)ids.len, &p, NULL, NULL, &r, &err),
                         TA_OK);
        assert_int_equal(r.finish, TA_FINISH_STOP);
        json_t *v = json_loads(r.text, 0, &jerr);
        if (!v) fail_msg("seed %llu: not JSON: %s", (unsigned long long)seed, r.text);
        assert_true(json_is_string(json_object_get(v, "name")));
        assert_true(json_is_integer(json_object_get(v, "n")));
        assert_true(json_is_boolean(json_object_get(v, "ok")));
        assert_int_equal(json_object_size(v), 3);
        json_decref(v);
        ta_gen_result_free(&r);
    }
    ta_grammar_free(js);
    json_decref(schema);
    ta_gen_free(g);
    ta_ctx_free(c);
    ta_tok_ids_free(&ids);
}

typedef struct {
    ta_batcher *b;
    ta_ctx *ctx;
    int32_t tok;
    int rc;
} stepper;

static void *run_steps(void *arg)
{
    stepper *st = arg;
    ta_error err;
    for (int i = 0; i < 20 && !st->rc; i++)
        st->rc = ta_batcher_eval(st->b, st->ctx, &st->tok, 1, &err);
    return NULL;
}

/* Three decoding sequences offering their tokens at once go through in merged steps:
 * with all three counted as decoding, a step's leader waits for the others' tokens. */
static void test_batcher_merges_steps(void **state)
{
    fixture *f = *state;
    enum { N = 3 };
    ta_pool *pool = ta_pool_new(2);
    ta_error err = {0};
    ta_batcher *b = ta_batcher_new(N, &err);
    stepper st[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        ta_ctx_params cp = {.n_ctx = 64, .pool = pool};
        st[i] = (stepper){.b = b, .ctx = ta_ctx_new(f->m, &cp, &err), .tok = 1 + i};
        assert_non_null(st[i].ctx);
        ta_batcher_join(b);
    }
    for (int i = 0; i < N; i++)
        assert_int_equal(pthread_create(&th[i], NULL, run_steps, &st[i]), 0);
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(st[i].rc, TA_OK);
        assert_int_equal(ta_ctx_n_past(st[i].ctx), 20);
    }
    for (int i = 0; i < N; i++) {
        ta_batcher_leave(b);
        ta_ctx_free(st[i].ctx);
    }
    uint64_t steps, rows;
    ta_batcher_stats(b, &steps, &rows);
    assert_int_equal(rows, 3 * 20);
    assert_true(steps < rows);
    ta_batcher_free(b);
    ta_pool_free(pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy_matches_argmax), cmocka_unit_test(test_stop_strings),
        cmocka_unit_test(test_prefix_reuse),          cmocka_unit_test(test_limits_and_cancel),
        cmocka_unit_test(test_batched_generations),   cmocka_unit_test(test_batcher_merges_steps),
        cmocka_unit_test(test_grammar_constrained),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
