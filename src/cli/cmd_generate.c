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
#include "../engine/sampler.h"
#include "../tokenizer/tokenizer.h"
#include "cli.h"

/* Appends bytes to a growing buffer; nonzero when memory runs out. */
static int append(char **buf, size_t *len, size_t *cap, const char *p, size_t n)
{
    if (!*buf) return 1;
    while (*len + n + 1 > *cap) {
        char *nb = realloc(*buf, *cap * 2);
        if (!nb) return 1;
        *buf = nb;
        *cap *= 2;
    }
    memcpy(*buf + *len, p, n);
    *len += n;
    return 0;
}

/* If a stop string occurs in text, cuts text before the earliest one. */
static bool find_stop(const char *text, size_t len, const char *const *stops, int n, size_t *cut)
{
    size_t best = len;
    for (int i = 0; i < n; i++) {
        size_t sl = strlen(stops[i]);
        for (size_t at = 0; at + sl <= len && at < best; at++)
            if (!memcmp(text + at, stops[i], sl)) {
                best = at;
                break;
            }
    }
    if (best == len) return false;
    *cut = best;
    return true;
}

/* Prints what can no longer turn into a stop string: all but the last max_stop - 1
 * bytes, backed up to a UTF-8 character boundary. */
static void emit_safe(const char *text, size_t len, size_t *emitted, size_t max_stop)
{
    size_t hold = max_stop ? max_stop - 1 : 0;
    if (len <= *emitted + hold) return;
    size_t end = len - hold;
    while (end > *emitted && ((unsigned char)text[end] & 0xc0) == 0x80)
        end--;
    fwrite(text + *emitted, 1, end - *emitted, stdout);
    fflush(stdout);
    *emitted = end;
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
    if (pids.len > ta_ctx_n_ctx(ctx)) {
        rc = ta_cli_fail("generate", "the prompt has %zu tokens but the context holds %u", pids.len,
                         ta_ctx_n_ctx(ctx));
        goto out;
    }
    if (ta_ctx_eval(ctx, pids.ids, (uint32_t)pids.len, &err) != TA_OK) {
        rc = ta_cli_fail("generate", "%s", err.message);
        goto out;
    }
    ta_sampler_params sp = ta_sampler_defaults();
    sp.temperature = temp;
    sp.top_k = (int32_t)top_k;
    sp.top_p = top_p;
    sp.min_p = min_p;
    sp.repeat_penalty = repeat_penalty;
    sp.seed = (uint64_t)seed;
    ta_sampler *s = ta_sampler_new(&sp, m->hp.n_vocab);
    for (size_t i = 0; i < pids.len; i++)
        ta_sampler_accept(s, pids.ids[i]);
    ta_tok_stream *stream = ta_tok_stream_new(tok, 0);
    ta_tok_ids out_ids = {0};
    size_t text_len = 0, text_cap = 1024, emitted = 0;
    char *text = malloc(text_cap);
    bool stopped = false;
    for (long i = 0; i < n_predict && s && stream && text; i++) {
        int32_t t = ta_sampler_sample(s, ta_ctx_logits(ctx));
        if (ta_tok_is_eog(tok, t)) break;
        ta_sampler_accept(s, t);
        if (out_ids.len == out_ids.cap) {
            size_t cap = out_ids.cap ? out_ids.cap * 2 : 64;
            int32_t *n = realloc(out_ids.ids, cap * sizeof *n);
            if (!n) break;
            out_ids.ids = n;
            out_ids.cap = cap;
        }
        out_ids.ids[out_ids.len++] = t;
        size_t plen = 0;
        const char *piece = ta_tok_stream_push(stream, t, &plen);
        if (piece && plen && append(&text, &text_len, &text_cap, piece, plen)) break;
        if (find_stop(text, text_len, stops, n_stops, &text_len)) {
            stopped = true;
            break;
        }
        if (!as_json) emit_safe(text, text_len, &emitted, max_stop);
        if (i + 1 < n_predict && ta_ctx_eval(ctx, &t, 1, &err) != TA_OK) {
            rc = ta_cli_fail("generate", "%s", err.message);
            break;
        }
    }
    size_t flen = 0;
    const char *rest = stream && !stopped ? ta_tok_stream_flush(stream, &flen) : NULL;
    if (rest && flen && !append(&text, &text_len, &text_cap, rest, flen))
        find_stop(text, text_len, stops, n_stops, &text_len);
    if (!as_json && text && text_len > emitted)
        fwrite(text + emitted, 1, text_len - emitted, stdout);
    if (as_json && rc == 0) {
        json_t *pj = json_array(), *oj = json_array();
        for (size_t i = 0; i < pids.len; i++)
            json_array_append_new(pj, json_integer(pids.ids[i]));
        for (size_t i = 0; i < out_ids.len; i++)
            json_array_append_new(oj, json_integer(out_ids.ids[i]));
        json_t *o = json_pack("{s:o,s:o,s:s%}", "prompt_ids", pj, "ids", oj, "text",
                              text ? text : "", text ? text_len : 0);
        char *js = o ? json_dumps(o, JSON_COMPACT) : NULL;
        if (js) puts(js);
        free(js);
        json_decref(o);
    } else if (!as_json) {
        putchar('\n');
    }
    free(text);
    ta_tok_ids_free(&out_ids);
    ta_tok_stream_free(stream);
    ta_sampler_free(s);
out:
    ta_ctx_free(ctx);
    ta_pool_free(pool);
    ta_tok_ids_free(&pids);
    ta_tokenizer_free(tok);
    ta_model_free(m);
    return rc;
}
