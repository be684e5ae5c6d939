/*
 * dump_logits.c - runs the C engine over token sequences and prints the logits after
 * every token as JSON, for the NumPy reference (check_logits.py) to compare.
 *
 *   dump_logits MODEL.gguf THREADS [--kv f16|f32|q8_0] SEQ [SEQ ...]
 *
 * --kv picks the KV cache type (default the engine's, F16).
 * SEQ is "id,id,...[:N]": prompt token ids, then N greedy steps (default 0). Each
 * sequence starts from an empty context. The prompt is fed one token at a time so the
 * logits of every position are seen (the engine evaluates one token at a time anyway,
 * so this is the same arithmetic as a batch). Output on stdout:
 *   {"n_vocab":V,"seqs":[{"ids":[...],"logits":[[V floats], ...]}, ...]}
 * with one row of logits per id: logits[i] are those after feeding ids[i], and for i at
 * or past the end of the prompt, ids[i + 1] is the argmax of logits[i].
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/context.h"
#include "engine/model.h"
#include "engine/threadpool.h"

#define MAX_IDS 1024

static int fail(const char *what, const char *msg)
{
    fprintf(stderr, "dump_logits: %s: %s\n", what, msg);
    return 1;
}

/* "1,2,3:4" -> ids, n, decode steps. */
static int parse_seq(const char *s, int32_t *ids, uint32_t *n, uint32_t *decode)
{
    *n = 0;
    *decode = 0;
    while (*s && *s != ':') {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || *n >= MAX_IDS / 2) return -1;
        ids[(*n)++] = (int32_t)v;
        s = *end == ',' ? end + 1 : end;
    }
    if (*s == ':') {
        long d = strtol(s + 1, NULL, 10);
        if (d < 0 || d > MAX_IDS / 2) return -1;
        *decode = (uint32_t)d;
    }
    return *n ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: dump_logits MODEL.gguf THREADS [--kv f16|f32|q8_0] "
                        "ID,ID,...[:N] ...\n");
        return 2;
    }
    int threads = atoi(argv[2]);
    int first = 3;
    ta_kv_type kv = TA_KV_F16;
    if (!strcmp(argv[3], "--kv") && argc > 5) {
        if (!strcmp(argv[4], "f32"))
            kv = TA_KV_F32;
        else if (!strcmp(argv[4], "q8_0"))
            kv = TA_KV_Q8_0;
        else if (strcmp(argv[4], "f16"))
            return fail("--kv", argv[4]);
        first = 5;
    }
    ta_error err = {0};
    ta_model *m = ta_model_load(argv[1], &err);
    if (!m) return fail(argv[1], err.message);
    ta_pool *pool = threads > 1 ? ta_pool_new(threads) : NULL;
    ta_ctx_params cp = {.n_ctx = MAX_IDS, .pool = pool, .kv_type = kv};
    ta_ctx *c = ta_ctx_new(m, &cp, &err);
    if (!c) return fail("context", err.message);
    uint32_t V = m->hp.n_vocab;

    printf("{\"n_vocab\":%u,\"seqs\":[", V);
    for (int a = first; a < argc; a++) {
        int32_t ids[MAX_IDS];
        uint32_t n_prompt, n_decode;
        if (parse_seq(argv[a], ids, &n_prompt, &n_decode)) return fail("bad sequence", argv[a]);
        uint32_t n_ids = n_prompt;
        ta_ctx_truncate(c, 0);
        printf("%s{\"logits\":[", a > first ? "," : "");
        for (uint32_t i = 0; i < n_ids; i++) {
            if (ta_ctx_eval(c, &ids[i], 1, &err)) return fail("eval", err.message);
            const float *lg = ta_ctx_logits(c);
            printf("%s[", i ? "," : "");
            for (uint32_t v = 0; v < V; v++)
                printf("%s%.9g", v ? "," : "", lg[v]);
            printf("]");
            if (i + 1 == n_ids && n_ids < n_prompt + n_decode) {
                uint32_t best = 0;
                for (uint32_t v = 1; v < V; v++)
                    if (lg[v] > lg[best]) best = v;
                ids[n_ids++] = (int32_t)best;
            }
        }
        printf("],\"ids\":[");
        for (uint32_t i = 0; i < n_ids; i++)
            printf("%s%d", i ? "," : "", ids[i]);
        printf("]}");
    }
    printf("]}\n");
    ta_ctx_free(c);
    ta_pool_free(pool);
    ta_model_free(m);
    return 0;
}
