/*
 * hybrid_bench.c - memory search latency over a large memory, as JSON lines: N
 * messages (default 100,000) of about 100 bytes of Zipf-distributed words, each with a
 * 384-dimensional embedding from a Gaussian mixture (1,000 clusters, L2-normalized), one
 * message in ten mentioning one of 100 entities, in chats of 100 messages; the message
 * vector index built the way the server builds it (cosine, M 16, efConstruction 200).
 * Then queries of each kind, timed one by one:
 *   text      two words, full-text (BM25) only
 *   vector    a query vector near a stored one, HNSW only
 *   hybrid    both, fused by reciprocal-rank fusion
 *   chat      hybrid, within one chat
 *   time      hybrid, within a tenth of the time span
 *   entity    vector, only messages that mention an entity
 *   weighted  hybrid, weighted fusion
 * and p50/p99 per kind and over all. Optionally (--weave) a weaver linking pass over
 * every message. Targets (issue 6): p50 under 5 ms and p99 under 50 ms.
 *
 * Usage: hybrid_bench [--messages N] [--dim D] [--queries Q] [--weave]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "index/hnsw.h"
#include "query/hybrid.h"
#include "storage/storage.h"
#include "weaver/weaver.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rng = 0x2545f4914f6cdd1dull;
static uint32_t next(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}
static double gauss(void)
{
    double u = ((double)(next() % 1000000) + 0.5) / 1e6,
           v = ((double)(next() % 1000000) + 0.5) / 1e6;
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

/* A word of a 20,000-word vocabulary, log-uniformly drawn (Zipf-like). */
static int word(char *out, size_t cap)
{
    double u = (double)(next() % 1000000) / 1e6;
    return snprintf(out, cap, "w%u", (unsigned)pow(20000.0, u));
}

static void sentence(char *out, size_t cap)
{
    size_t o = 0;
    while (o < 100 && o + 16 < cap) {
        if (o) out[o++] = ' ';
        o += (size_t)word(out + o, cap - o);
    }
    out[o] = '\0';
}

static void normalize(float *v, uint32_t d)
{
    double s = 0;
    for (uint32_t i = 0; i < d; i++)
        s += (double)v[i] * v[i];
    float k = s > 0 ? (float)(1.0 / sqrt(s)) : 1.0f;
    for (uint32_t i = 0; i < d; i++)
        v[i] *= k;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *kind, double *ms, long n)
{
    if (n <= 0) return;
    qsort(ms, (size_t)n, sizeof *ms, cmp_double);
    double sum = 0;
    for (long i = 0; i < n; i++)
        sum += ms[i];
    long p99 = (long)ceil(0.99 * (double)n) - 1;
    printf("{\"bench\":\"hybrid_query\",\"kind\":\"%s\",\"queries\":%ld,\"p50_ms\":%.3f,"
           "\"p99_ms\":%.3f,\"mean_ms\":%.3f,\"max_ms\":%.3f}\n",
           kind, n, ms[n / 2], ms[p99 < 0 ? 0 : p99], sum / (double)n, ms[n - 1]);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    long n = 100000, queries = 200;
    uint32_t dim = 384;
    int weave = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--messages") && i + 1 < argc)
            n = atol(argv[++i]);
        else if (!strcmp(argv[i], "--dim") && i + 1 < argc)
            dim = (uint32_t)atol(argv[++i]);
        else if (!strcmp(argv[i], "--queries") && i + 1 < argc)
            queries = atol(argv[++i]);
        else if (!strcmp(argv[i], "--weave"))
            weave = 1;
        else {
            fprintf(stderr,
                    "usage: hybrid_bench [--messages N] [--dim D] [--queries Q] [--weave]\n");
            return 2;
        }
    }
    char dir[] = "/tmp/ta-hybrid-bench-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    ta_error err = {0};
    ta_store *s = ta_store_open(dir, &err);
    if (!s) {
        fprintf(stderr, "hybrid_bench: %s\n", err.message);
        return 1;
    }
    /* the data */
    enum { CLUSTERS = 1000, CHAT = 100, BATCH = 1000, ENTITIES = 100 };
    float *centers = malloc((size_t)CLUSTERS * dim * sizeof *centers);
    float *vecs = malloc((size_t)n * dim * sizeof *vecs);
    char(*text)[160] = malloc((size_t)BATCH * sizeof *text);
    int64_t *ids = malloc((size_t)n * sizeof *ids);
    if (!centers || !vecs || !text || !ids) return 1;
    for (size_t i = 0; i < (size_t)CLUSTERS * dim; i++)
        centers[i] = (float)gauss();
    for (long i = 0; i < n; i++) {
        const float *c = centers + (size_t)(next() % CLUSTERS) * dim;
        float *v = vecs + (size_t)i * dim;
        for (uint32_t j = 0; j < dim; j++)
            v[j] = c[j] + 0.35f * (float)gauss();
        normalize(v, dim);
    }
    int64_t chat = 0;
    const int64_t t0_ms = 1700000000000LL;
    char ent_names[ENTITIES][16];
    for (int e = 0; e < ENTITIES; e++)
        snprintf(ent_names[e], sizeof ent_names[e], "entity%d", e);
    double t0 = now_s();
    ta_message_in m[BATCH];
    const char *ent_ptr[BATCH];
    for (long i = 0; i < n; i += BATCH) {
        long k = n - i < BATCH ? n - i : BATCH;
        for (long j = 0; j < k; j++) {
            long g = i + j;
            if (g % CHAT == 0 && ta_store_chat_create(s, "bench", "", &chat, &err)) return 1;
            sentence(text[j], sizeof text[j]);
            ent_ptr[j] = ent_names[next() % ENTITIES];
            m[j] = (ta_message_in){.chat_id = chat,
                                   .role = g % 2 ? "assistant" : "user",
                                   .content = text[j],
                                   .timestamp_ms = t0_ms + g * 1000,
                                   .token_count = 25,
                                   .embedding = vecs + (size_t)g * dim,
                                   .embedding_dim = dim,
                                   .embedding_model = "bench",
                                   .entities = g % 10 == 0 ? &ent_ptr[j] : NULL,
                                   .n_entities = g % 10 == 0};
        }
        if (ta_store_messages_add(s, m, (size_t)k, ids + i, &err)) {
            fprintf(stderr, "hybrid_bench: %s\n", err.message);
            return 1;
        }
    }
    double t_write = now_s() - t0;
    t0 = now_s();
    ta_hnsw_params hp = {.dim = dim,
                         .dist = TA_DIST_COSINE,
                         .storage = TA_VEC_F32_I8, /* as the server's (memory_index.c) */
                         .seed = 1,
                         .capacity_hint = (uint64_t)n};
    ta_hnsw *idx = ta_hnsw_new(&hp, &err);
    for (long i = 0; idx && i < n; i++)
        ta_hnsw_add(idx, (uint64_t)ids[i], vecs + (size_t)i * dim, NULL);
    double t_index = now_s() - t0;
    /* the server indexes the full-text backlog in the background (maintenance.c) */
    t0 = now_s();
    while (ta_store_fts_sync(s, 5000, &err) > 0) {
    }
    double t_fts = now_s() - t0;
    printf("{\"bench\":\"hybrid_setup\",\"messages\":%ld,\"dim\":%u,\"write_s\":%.2f,"
           "\"index_build_s\":%.2f,\"fts_index_s\":%.2f}\n",
           n, dim, t_write, t_index, t_fts);
    fflush(stdout);

    static const char *const kinds[] = {"text", "vector", "hybrid",  "chat",
                                        "time", "entity", "weighted"};
    enum { KINDS = sizeof kinds / sizeof kinds[0] };
    double *ms = malloc((size_t)queries * KINDS * sizeof *ms),
           *all = malloc((size_t)queries * KINDS * sizeof *all);
    float *q = malloc(dim * sizeof *q);
    if (!ms || !all || !q) return 1;
    long n_all = 0;
    long empty = 0;
    for (int k = 0; k < KINDS; k++) {
        double *km = ms + (size_t)k * queries;
        for (long i = 0; i < queries; i++) {
            char words[40];
            int o = word(words, sizeof words);
            words[o++] = ' ';
            word(words + o, sizeof words - (size_t)o);
            long src = (long)(next() % (uint32_t)n);
            for (uint32_t j = 0; j < dim; j++)
                q[j] = vecs[(size_t)src * dim + j] + 0.1f * (float)gauss();
            normalize(q, dim);
            ta_hybrid_params p = {.limit = 10, .w_text = 0.5, .w_vector = 0.5};
            if (k != 1) p.text = words;
            if (k != 0) p.vector = q, p.dim = dim;
            if (k == 3) p.chat_id = 1 + (int64_t)(next() % (uint32_t)(n / CHAT));
            if (k == 4) {
                p.since_ms = t0_ms + (int64_t)(next() % (uint32_t)n) * 900;
                p.until_ms = p.since_ms + n * 100;
            }
            if (k == 5) p.text = NULL, p.entity = ent_names[next() % ENTITIES];
            if (k == 6) p.weighted = true;
            double t = now_s();
            json_t *r = ta_hybrid_search(s, idx, &p, &err);
            km[i] = (now_s() - t) * 1e3;
            if (!r) {
                fprintf(stderr, "hybrid_bench: %s\n", err.message);
                return 1;
            }
            if (!json_array_size(json_object_get(r, "data"))) empty++;
            json_decref(r);
            all[n_all++] = km[i];
        }
    }
    for (int k = 0; k < KINDS; k++)
        report(kinds[k], ms + (size_t)k * queries, queries);
    report("all", all, n_all);
    printf("{\"bench\":\"hybrid_query\",\"kind\":\"empty_results\",\"queries\":%ld}\n", empty);
    if (weave) {
        ta_weave_opts o = {.links = true};
        t0 = now_s();
        json_t *rep = ta_weaver_run(s, idx, &o, &err);
        double t = now_s() - t0;
        if (!rep) {
            fprintf(stderr, "hybrid_bench: %s\n", err.message);
            return 1;
        }
        printf("{\"bench\":\"weave_links\",\"messages\":%lld,\"links\":%lld,\"seconds\":%.2f,"
               "\"messages_per_s\":%.0f}\n",
               (long long)json_integer_value(json_object_get(rep, "messages_linked")),
               (long long)json_integer_value(json_object_get(rep, "links")), t,
               (double)json_integer_value(json_object_get(rep, "messages_linked")) / t);
        json_decref(rep);
    }
    ta_hnsw_free(idx);
    ta_store_close(s);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd)) return 1;
    free(centers), free(vecs), free(text), free(ids), free(ms), free(all), free(q);
    return 0;
}
