/*
 * sampler.c - see sampler.h.
 */
#include "sampler.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct cand {
    int32_t id;
    float logit;
    float p;
} cand;

struct ta_sampler {
    ta_sampler_params p;
    ta_logit_bias *bias;
    uint32_t n_vocab;
    cand *c;
    int32_t *hist; /* ring of recent tokens */
    uint32_t hist_cap, hist_len, hist_pos;
    uint32_t *counts; /* occurrences in the window, by token */
    uint64_t rng[4];
};

ta_sampler_params ta_sampler_defaults(void)
{
    ta_sampler_params p = {0};
    p.temperature = 0.8f;
    p.top_k = 40;
    p.top_p = 0.95f;
    p.min_p = 0.05f;
    p.typical_p = 1.0f;
    p.repeat_penalty = 1.0f;
    p.penalty_last_n = 64;
    p.seed = 0x7ab0a6e4ull;
    return p;
}

/* splitmix64 seeds xoshiro256**: small, fast, and the same stream on every machine. */
static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t next_u64(uint64_t *s)
{
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

static double uniform(uint64_t *s)
{
    return (double)(next_u64(s) >> 11) * (1.0 / 9007199254740992.0);
}

ta_sampler *ta_sampler_new(const ta_sampler_params *p, uint32_t n_vocab)
{
    ta_sampler *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->p = *p;
    s->n_vocab = n_vocab;
    s->c = malloc((size_t)n_vocab * sizeof *s->c);
    s->counts = calloc(n_vocab, sizeof *s->counts);
    s->hist_cap = p->penalty_last_n < 0 ? 1u << 20 : (uint32_t)p->penalty_last_n;
    s->hist = malloc((s->hist_cap ? s->hist_cap : 1) * sizeof *s->hist);
    if (p->n_bias) {
        s->bias = malloc(p->n_bias * sizeof *s->bias);
        if (s->bias) memcpy(s->bias, p->bias, p->n_bias * sizeof *s->bias);
    }
    s->p.bias = s->bias;
    uint64_t seed = p->seed;
    for (int i = 0; i < 4; i++)
        s->rng[i] = splitmix(&seed);
    if (!s->c || !s->counts || !s->hist || (p->n_bias && !s->bias)) {
        ta_sampler_free(s);
        return NULL;
    }
    return s;
}

void ta_sampler_free(ta_sampler *s)
{
    if (!s) return;
    free(s->c);
    free(s->counts);
    free(s->hist);
    free(s->bias);
    free(s);
}

void ta_sampler_accept(ta_sampler *s, int32_t token)
{
    if (!s->hist_cap || token < 0 || (uint32_t)token >= s->n_vocab) return;
    if (s->hist_len == s->hist_cap) {
        int32_t old = s->hist[s->hist_pos];
        s->counts[old]--;
    } else {
        s->hist_len++;
    }
    s->hist[s->hist_pos] = token;
    s->counts[token]++;
    s->hist_pos = (s->hist_pos + 1) % s->hist_cap;
}

static int by_logit_desc(const void *a, const void *b)
{
    float x = ((const cand *)a)->logit, y = ((const cand *)b)->logit;
    if (x > y) return -1;
    if (x < y) return 1;
    return ((const cand *)a)->id - ((const cand *)b)->id; /* deterministic ties */
}

/* p = softmax(logit) over c[0..n). */
static void softmax(cand *c, uint32_t n)
{
    float mx = -INFINITY;
    for (uint32_t i = 0; i < n; i++)
        if (c[i].logit > mx) mx = c[i].logit;
    double sum = 0;
    for (uint32_t i = 0; i < n; i++) {
        c[i].p = isinf(mx) ? 1.0f : expf(c[i].logit - mx);
        sum += c[i].p;
    }
    for (uint32_t i = 0; i < n; i++)
        c[i].p = (float)(c[i].p / sum);
}

/* Moves the k largest logits of c[0..n) to c[0..k), in no order: a min-heap of the
 * best k so far, O(n log k) where sorting all would be O(n log n) (152k-token
 * vocabularies: a full sort per token costs more than a decoding step of a small
 * model). */
static void select_top_k(cand *c, uint32_t n, uint32_t k)
{
    for (uint32_t i = k / 2; i-- > 0;) { /* heapify c[0..k) as a min-heap */
        uint32_t j = i;
        for (;;) {
            uint32_t l = 2 * j + 1, m = j;
            if (l < k && c[l].logit < c[m].logit) m = l;
            if (l + 1 < k && c[l + 1].logit < c[m].logit) m = l + 1;
            if (m == j) break;
            cand t = c[j];
            c[j] = c[m];
            c[m] = t;
            j = m;
        }
    }
    for (uint32_t i = k; i < n; i++) {
        if (c[i].logit <= c[0].logit) continue;
        c[0] = c[i];
        uint32_t j = 0;
        for (;;) {
            uint32_t l = 2 * j + 1, m = j;
            if (l < k && c[l].logit < c[m].logit) m = l;
            if (l + 1 < k && c[l + 1].logit < c[m].logit) m = l + 1;
            if (m == j) break;
            cand t = c[j];
            c[j] = c[m];
            c[m] = t;
            j = m;
        }
    }
}

int32_t ta_sampler_sample(ta_sampler *s, const float *logits)
{
    const ta_sampler_params *p = &s->p;
    uint32_t n = s->n_vocab;
    cand *c = s->c;
    bool penalties = s->hist_len && ((p->repeat_penalty != 1.0f && p->repeat_penalty > 0) ||
                                     p->frequency_penalty != 0 || p->presence_penalty != 0);
    if (p->temperature <= 0 && !p->n_bias && !penalties) { /* plain greedy */
        uint32_t best = 0;
        for (uint32_t i = 1; i < n; i++)
            if (logits[i] > logits[best]) best = i;
        return (int32_t)best;
    }
    for (uint32_t i = 0; i < n; i++)
        c[i] = (cand){(int32_t)i, logits[i], 0};
    for (uint32_t b = 0; b < p->n_bias; b++)
        if (p->bias[b].token >= 0 && (uint32_t)p->bias[b].token < n)
            c[p->bias[b].token].logit += p->bias[b].bias;
    if (penalties) {
        for (uint32_t i = 0; i < n; i++) {
            uint32_t k = s->counts[i];
            if (!k) continue;
            if (p->repeat_penalty != 1.0f && p->repeat_penalty > 0)
                c[i].logit = c[i].logit > 0 ? c[i].logit / p->repeat_penalty
                                            : c[i].logit * p->repeat_penalty;
            c[i].logit -= (float)k * p->frequency_penalty + p->presence_penalty;
        }
    }
    if (p->temperature <= 0) {
        uint32_t best = 0;
        for (uint32_t i = 1; i < n; i++)
            if (c[i].logit > c[best].logit) best = i;
        return c[best].id;
    }
    if (p->top_k > 0 && (uint32_t)p->top_k < n) {
        n = (uint32_t)p->top_k;
        select_top_k(c, s->n_vocab, n);
    }
    qsort(c, n, sizeof *c, by_logit_desc);
    softmax(c, n);
    if (p->typical_p > 0 && p->typical_p < 1.0f) {
        /* Locally typical sampling: rank tokens by how far their surprise -log p lies
         * from the entropy, keep the closest ones up to mass typical_p. */
        double ent = 0;
        for (uint32_t i = 0; i < n; i++)
            if (c[i].p > 0) ent -= c[i].p * log(c[i].p);
        cand *by_dist = malloc(n * sizeof *by_dist);
        if (by_dist) {
            for (uint32_t i = 0; i < n; i++) {
                by_dist[i] = c[i];
                /* Sort key in .logit (descending = closest first); the real logit is
                 * restored from c below, by position. */
                by_dist[i].logit = -(float)fabs(-log(c[i].p > 0 ? c[i].p : 1e-30) - ent);
                by_dist[i].id = (int32_t)i;
            }
            qsort(by_dist, n, sizeof *by_dist, by_logit_desc);
            double cum = 0;
            uint32_t keep = 0;
            while (keep < n) {
                cum += by_dist[keep].p;
                keep++;
                if (cum >= p->typical_p) break;
            }
            for (uint32_t i = 0; i < keep; i++)
                by_dist[i] = c[by_dist[i].id];
            memcpy(c, by_dist, keep * sizeof *c);
            free(by_dist);
            n = keep;
            qsort(c, n, sizeof *c, by_logit_desc);
            softmax(c, n);
        }
    }
    if (p->top_p > 0 && p->top_p < 1.0f) {
        double cum = 0;
        uint32_t keep = 0;
        while (keep < n) {
            cum += c[keep].p;
            keep++;
            if (cum >= p->top_p) break;
        }
        n = keep;
    }
    if (p->min_p > 0) {
        float floor_p = c[0].p * p->min_p;
        uint32_t keep = 1;
        while (keep < n && c[keep].p >= floor_p)
            keep++;
        n = keep;
    }
    for (uint32_t i = 0; i < n; i++)
        c[i].logit /= p->temperature;
    softmax(c, n);
    double r = uniform(s->rng), cum = 0;
    for (uint32_t i = 0; i < n; i++) {
        cum += c[i].p;
        if (r < cum) return c[i].id;
    }
    return c[n - 1].id;
}
