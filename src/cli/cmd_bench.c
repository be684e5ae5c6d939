/*
 * cmd_bench.c - `tabagent bench -m FILE [-p 512] [-n 128] [-t THREADS] [-r REPEATS]
 * [-b BATCH] [--cache-type f16|q8_0|f32] [--mlock] [--json]`: prompt processing and
 * decoding speed, measured the way llama.cpp's llama-bench measures them, so the two
 * can be compared side by side (bench/compare-llama.sh).
 *
 * Prompt processing evaluates P random tokens from an empty cache; decoding evaluates
 * N random tokens one at a time from an empty cache. Each is warmed up once (a batch,
 * one token), then repeated R times; the result is the median of the repeats in
 * tokens/s. --json prints one object:
 *   {"model", "model_bytes", "kernels", "threads", "batch", "pp_tokens", "tg_tokens",
 *    "pp_tokens_per_s", "tg_tokens_per_s", "pp_samples", "tg_samples", "repeats",
 *    "load_s", "kv_bytes", "rss_bytes", "pool_stalls"}
 * where rss_bytes is the resident memory right after decoding and pool_stalls counts
 * the jobs whose worker threads were held up by other processes (threadpool.h).
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "../engine/context.h"
#include "../engine/kernels.h"
#include "cli.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(const double *v, int n)
{
    double s[64];
    memcpy(s, v, (size_t)n * sizeof(double));
    qsort(s, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/* Resident set size in bytes from /proc/self/status, or 0 where there is none. */
static long long rss_bytes(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    long long kb = 0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6)) {
            kb = atoll(line + 6);
            break;
        }
    fclose(f);
    return kb * 1024;
}

static json_t *samples_json(const double *v, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, json_real(v[i]));
    return a;
}

int ta_cli_bench(int argc, char **argv)
{
    const char *path = NULL;
    long n_prompt = 512, n_gen = 128, threads = 0, repeats = 5, batch = 0;
    bool as_json = false, lock = false;
    ta_kv_type kv_type = TA_KV_F16;
    static const struct option opts[] = {{"model", required_argument, NULL, 'm'},
                                         {"n-prompt", required_argument, NULL, 'p'},
                                         {"n-gen", required_argument, NULL, 'n'},
                                         {"threads", required_argument, NULL, 't'},
                                         {"repetitions", required_argument, NULL, 'r'},
                                         {"batch-size", required_argument, NULL, 'b'},
                                         {"cache-type", required_argument, NULL, 'K'},
                                         {"mlock", no_argument, NULL, 'L'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0, 0, 0, 0}};
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "m:p:n:t:r:b:h", opts, NULL)) != -1) {
        bool ok = true;
        switch (c) {
        case 'm': path = optarg; break;
        case 'p': ok = ta_cli_parse_long("bench", "-p", optarg, 0, 1 << 20, &n_prompt); break;
        case 'n': ok = ta_cli_parse_long("bench", "-n", optarg, 0, 1 << 20, &n_gen); break;
        case 't': ok = ta_cli_parse_long("bench", "-t", optarg, 1, 256, &threads); break;
        case 'r': ok = ta_cli_parse_long("bench", "-r", optarg, 1, 64, &repeats); break;
        case 'b': ok = ta_cli_parse_long("bench", "-b", optarg, 1, 1 << 16, &batch); break;
        case 'K': ok = ta_cli_parse_cache_type("bench", optarg, &kv_type); break;
        case 'L': lock = true; break;
        case 'j': as_json = true; break;
        case 'h':
            printf("usage: tabagent bench -m FILE [-p 512] [-n 128] [-t THREADS] [-r REPEATS] "
                   "[-b BATCH] [--cache-type f16|q8_0|f32] [--mlock] [--json]\n");
            return 0;
        default: return ta_cli_usage_error("bench", "unknown option '%s'", argv[optind - 1]);
        }
        if (!ok) return 2;
    }
    if (!path) return ta_cli_usage_error("bench", "-m FILE is required");
    if (optind < argc) return ta_cli_usage_error("bench", "unexpected argument '%s'", argv[optind]);
    if (!n_prompt && !n_gen) return ta_cli_usage_error("bench", "-p and -n are both 0");

    ta_error err;
    double t0 = now_s();
    ta_model *m = ta_model_load(path, &err);
    double load_s = now_s() - t0;
    if (!m) return ta_cli_fail("bench", "%s", err.message);
    if (lock && ta_model_lock(m, &err) != TA_OK) {
        ta_model_free(m);
        return ta_cli_fail("bench", "%s", err.message);
    }
    ta_gguf_prefetch(m->gguf);
    ta_pool *pool = ta_pool_new((int)threads);
    uint32_t n_ctx = (uint32_t)(n_prompt > n_gen ? n_prompt : n_gen);
    ta_ctx_params cp = {
        .n_ctx = n_ctx, .pool = pool, .kv_type = kv_type, .n_batch = (uint32_t)batch};
    ta_ctx *ctx = pool ? ta_ctx_new(m, &cp, &err) : NULL;
    if (!ctx) {
        ta_pool_free(pool);
        ta_model_free(m);
        return ta_cli_fail("bench", "%s", pool ? err.message : "out of memory");
    }
    if (ta_ctx_n_ctx(ctx) < n_ctx) {
        int rc = ta_cli_fail("bench", "%u tokens do not fit in this model's context of %u", n_ctx,
                             ta_ctx_n_ctx(ctx));
        ta_ctx_free(ctx);
        ta_pool_free(pool);
        ta_model_free(m);
        return rc;
    }
    int32_t *toks = malloc((size_t)n_ctx * sizeof *toks);
    uint64_t s = 0x9e3779b97f4a7c15ull;
    for (uint32_t i = 0; i < n_ctx && toks; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        toks[i] = (int32_t)((s >> 33) % m->hp.n_vocab);
    }
    double pp[64], tg[64];
    int rc = toks ? 0 : 1;
    /* Warm-up: the first pass faults the weights in and wakes the threads. */
    if (!rc && n_prompt) {
        uint32_t w = (uint32_t)(batch ? batch : TA_CTX_DEFAULT_BATCH);
        rc = ta_ctx_eval(ctx, toks, w < n_prompt ? w : (uint32_t)n_prompt, &err);
    }
    ta_ctx_truncate(ctx, 0);
    if (!rc && n_gen) rc = ta_ctx_eval(ctx, toks, 1, &err);
    for (long r = 0; !rc && n_prompt && r < repeats; r++) {
        ta_ctx_truncate(ctx, 0);
        double t = now_s();
        rc = ta_ctx_eval(ctx, toks, (uint32_t)n_prompt, &err);
        pp[r] = (double)n_prompt / (now_s() - t);
    }
    long long rss = 0;
    for (long r = 0; !rc && n_gen && r < repeats; r++) {
        ta_ctx_truncate(ctx, 0);
        double t = now_s();
        for (long i = 0; !rc && i < n_gen; i++)
            rc = ta_ctx_eval(ctx, &toks[i], 1, &err);
        tg[r] = (double)n_gen / (now_s() - t);
        rss = rss_bytes();
    }
    if (rc) {
        ta_cli_fail("bench", "%s", toks ? err.message : "out of memory");
    } else {
        double pp_med = n_prompt ? median(pp, (int)repeats) : 0;
        double tg_med = n_gen ? median(tg, (int)repeats) : 0;
        const char *kernels = ta_kernels_best()->name;
        if (as_json) {
            json_t *o = json_pack(
                "{s:s, s:I, s:s, s:i, s:i, s:I, s:I, s:f, s:f, s:o, s:o, s:I, s:f, s:I, s:I, s:I}",
                "model", path, "model_bytes", (json_int_t)ta_gguf_file_size(m->gguf), "kernels",
                kernels, "threads", ta_pool_threads(pool), "batch",
                (int)(batch ? batch : TA_CTX_DEFAULT_BATCH), "pp_tokens", (json_int_t)n_prompt,
                "tg_tokens", (json_int_t)n_gen, "pp_tokens_per_s", pp_med, "tg_tokens_per_s",
                tg_med, "pp_samples", samples_json(pp, n_prompt ? (int)repeats : 0), "tg_samples",
                samples_json(tg, n_gen ? (int)repeats : 0), "repeats", (json_int_t)repeats,
                "load_s", load_s, "kv_bytes", (json_int_t)ta_ctx_kv_bytes(ctx), "rss_bytes",
                (json_int_t)rss, "pool_stalls", (json_int_t)ta_pool_stalls(pool));
            char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
            if (text) puts(text);
            free(text);
            json_decref(o);
        } else {
            printf("model %s (%.1f MiB), %d threads, %s kernels, load %.3f s\n", path,
                   (double)ta_gguf_file_size(m->gguf) / 1048576.0, ta_pool_threads(pool), kernels,
                   load_s);
            if (n_prompt) printf("pp%-6ld %10.2f tokens/s\n", n_prompt, pp_med);
            if (n_gen) printf("tg%-6ld %10.2f tokens/s\n", n_gen, tg_med);
        }
    }
    free(toks);
    ta_ctx_free(ctx);
    ta_pool_free(pool);
    ta_model_free(m);
    return rc ? 1 : 0;
}
