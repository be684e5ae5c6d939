/*
 * cmd_generate.c - `tabagent generate -m FILE -p PROMPT -n N [--temp T] [--seed S]
 * [--top-k K] [--top-p P] [--min-p P] [--repeat-penalty R] [--ctx-size C]
 * [--threads T] [--cache-type f16|q8_0|f32] [--stop S]... [--json]`: continues a prompt.
 *
 * Plain output streams the generated text to stdout as it is produced (whole UTF-8
 * characters only); --json prints {"prompt_ids":[...],"ids":[...],"text":"..."} at the
 * end. --temp 0 is greedy. Generation stops after N tokens, at an end-of-generation
 * token, or where a --stop string appears (neither is printed; output that might be the
 * start of a stop string is held back until it is known not to be).
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../engine/context.h"
#include "../engine/generate.h"
#include "../tokenizer/tokenizer.h"
#include "cli.h"

/* Streams each piece of final text to stdout as it comes. */
/* Records each generated token id (for --json). */
static int collect_id(void *ud, const ta_gen_token *t)
{
    ta_tok_ids *ids = ud;
    if (t->token < 0) return 0;
    if (ids->len == ids->cap) {
        size_t cap = ids->cap ? ids->cap * 2 : 64;
        int32_t *n = realloc(ids->ids, cap * sizeof *n);
        if (!n) return 1;
        ids->ids = n;
        ids->cap = cap;
    }
    ids->ids[ids->len++] = t->token;
    return 0;
}

static int print_piece(void *ud, const ta_gen_token *t)
{
    (void)ud;
    if (t->text_len) {
        fwrite(t->text, 1, t->text_len, stdout);
        fflush(stdout);
    }
    return 0;
}

int ta_cli_generate(int argc, char **argv)
{
    const char *path = NULL, *prompt = NULL;
    long n_predict = 128, threads = 0, top_k = 40, ctx_size = 0;
    long long seed = 0x7ab0a6e4;
    float temp = 0.8f, top_p = 0.95f, min_p = 0.05f, repeat_penalty = 1.0f;
    bool as_json = false;
    ta_kv_type kv_type = TA_KV_F16;
    enum { MAX_STOPS = 16 };
    const char *stops[MAX_STOPS];
    int n_stops = 0;
    size_t max_stop = 0;
    static const struct option opts[] = {{"model", required_argument, NULL, 'm'},
                                         {"prompt", required_argument, NULL, 'p'},
                                         {"n-predict", required_argument, NULL, 'n'},
                                         {"temp", required_argument, NULL, 'T'},
                                         {"seed", required_argument, NULL, 'S'},
                                         {"top-k", required_argument, NULL, 'k'},
                                         {"top-p", required_argument, NULL, 'P'},
                                         {"min-p", required_argument, NULL, 'M'},
                                         {"repeat-penalty", required_argument, NULL, 'R'},
                                         {"ctx-size", required_argument, NULL, 'c'},
                                         {"threads", required_argument, NULL, 't'},
                                         {"cache-type", required_argument, NULL, 'K'},
                                         {"stop", required_argument, NULL, 'X'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0, 0, 0, 0}};
    optind = 1;
    opterr = 0;
    int c;
    long v;
    while ((c = getopt_long(argc, argv, "m:p:n:t:c:h", opts, NULL)) != -1) {
        bool ok = true;
        switch (c) {
        case 'm': path = optarg; break;
        case 'p': prompt = optarg; break;
        case 'n': ok = ta_cli_parse_long("generate", "-n", optarg, 0, 1 << 20, &n_predict); break;
        case 'T': ok = ta_cli_parse_float("generate", "--temp", optarg, &temp); break;
        case 'S':
            ok = ta_cli_parse_long("generate", "--seed", optarg, 0, 0x7fffffffL, &v);
            seed = v;
            break;
        case 'k': ok = ta_cli_parse_long("generate", "--top-k", optarg, 0, 1 << 24, &top_k); break;
        case 'P': ok = ta_cli_parse_float("generate", "--top-p", optarg, &top_p); break;
        case 'M': ok = ta_cli_parse_float("generate", "--min-p", optarg, &min_p); break;
        case 'R':
            ok = ta_cli_parse_float("generate", "--repeat-penalty", optarg, &repeat_penalty);
            break;
        case 'c':
            ok = ta_cli_parse_long("generate", "--ctx-size", optarg, 1, 1 << 24, &ctx_size);
            break;
        case 't': ok = ta_cli_parse_long("generate", "--threads", optarg, 1, 256, &threads); break;
        case 'K': ok = ta_cli_parse_cache_type("generate", optarg, &kv_type); break;
        case 'X':
            if (n_stops == MAX_STOPS || !*optarg)
                return ta_cli_usage_error("generate", "--stop takes 1 to %d non-empty strings",
                                          MAX_STOPS);
            stops[n_stops++] = optarg;
            if (strlen(optarg) > max_stop) max_stop = strlen(optarg);
            break;
        case 'j': as_json = true; break;
        case 'h':
            printf("usage: tabagent generate -m FILE -p PROMPT -n N [--temp T] [--seed S] "
                   "[--top-k K] [--top-p P] [--min-p P] [--repeat-penalty R] [--ctx-size C] "
                   "[--threads T] [--cache-type f16|q8_0|f32] [--stop S]... [--json]\n");
            return 0;
        default: return ta_cli_usage_error("generate", "unknown option '%s'", argv[optind - 1]);
        }
        if (!ok) return 2;
    }
    if (!path) return ta_cli_usage_error("generate", "-m FILE is required");
    if (!prompt) return ta_cli_usage_error("generate", "-p PROMPT is required");

    ta_error err;
    ta_model *m = ta_model_load(path, &err);
    if (!m) return ta_cli_fail("generate", "%s", err.message);
    ta_tokenizer *tok = ta_tokenizer_from_gguf(m->gguf, &err);
    if (!tok) {
        ta_model_free(m);
        return ta_cli_fail("generate", "%s: %s", path, err.message);
    }
    ta_tok_ids pids = {0};
    if (ta_tok_encode(tok, prompt, strlen(prompt), true, true, &pids, &err) != TA_OK) {
        ta_tokenizer_free(tok);
        ta_model_free(m);
        return ta_cli_fail("generate", "%s", err.message);
    }
    uint64_t need = pids.len + (uint64_t)n_predict;
    uint32_t n_ctx = ctx_size ? (uint32_t)ctx_size : m->hp.n_ctx_train;
    if (!ctx_size && need < n_ctx) n_ctx = (uint32_t)need; /* only what this run needs */
    if (n_ctx > m->hp.n_ctx_train) n_ctx = m->hp.n_ctx_train;
    int rc = 0;
    ta_pool *pool = ta_pool_new((int)threads);
    ta_ctx_params cp = {.n_ctx = n_ctx ? n_ctx : 1, .pool = pool, .kv_type = kv_type};
    ta_ctx *ctx = ta_ctx_new(m, &cp, &err);
    if (!ctx) {
        rc = ta_cli_fail("generate", "%s", err.message);
        goto out;
    }
    ta_gen *gen = ta_gen_new(ctx, tok, &err);
    if (!gen) {
        rc = ta_cli_fail("generate", "%s", err.message);
        goto out;
    }
    ta_gen_params gp = ta_gen_defaults();
    gp.max_tokens = (uint32_t)n_predict;
    gp.sampling.temperature = temp;
    gp.sampling.top_k = (int32_t)top_k;
    gp.sampling.top_p = top_p;
    gp.sampling.min_p = min_p;
    gp.sampling.repeat_penalty = repeat_penalty;
    gp.sampling.seed = (uint64_t)seed;
    gp.stops = stops;
    gp.n_stops = (uint32_t)n_stops;
    ta_gen_result res;
    ta_tok_ids out_ids = {0};
    if (n_predict == 0) { /* nothing to generate: the prompt alone */
        memset(&res, 0, sizeof res);
    } else if (ta_gen_run(gen, pids.ids, (uint32_t)pids.len, &gp,
                          as_json ? collect_id : print_piece, as_json ? &out_ids : NULL, &res,
                          &err) != TA_OK) {
        rc = ta_cli_fail("generate", "%s", err.message);
        ta_gen_free(gen);
        goto out;
    }
    if (as_json) {
        json_t *pj = json_array(), *oj = json_array();
        for (size_t i = 0; i < pids.len; i++)
            json_array_append_new(pj, json_integer(pids.ids[i]));
        for (size_t i = 0; i < out_ids.len; i++)
            json_array_append_new(oj, json_integer(out_ids.ids[i]));
        json_t *o = json_pack("{s:o,s:o,s:s%}", "prompt_ids", pj, "ids", oj, "text",
                              res.text ? res.text : "", res.text_len);
        char *js = o ? json_dumps(o, JSON_COMPACT) : NULL;
        if (js) puts(js);
        free(js);
        json_decref(o);
    } else {
        putchar('\n');
    }
    ta_tok_ids_free(&out_ids);
    ta_gen_result_free(&res);
    ta_gen_free(gen);
out:
    ta_ctx_free(ctx);
    ta_pool_free(pool);
    ta_tok_ids_free(&pids);
    ta_tokenizer_free(tok);
    ta_model_free(m);
    return rc;
}
