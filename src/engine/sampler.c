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
    uint8_t *mark;    /* scratch: tokens already offered to the top-k heap */
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
    s->mark = calloc(n_vocab, 1);
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
    if (!s->c || !s->counts || !s->mark || !s->hist || (p->n_bias && !s->bias)) {
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
    free(s->mark);
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

/* Restores the min-heap order of h[0..k) (by logit) below position j. */
static void sift_down(cand *h, uint32_t k, uint32_t j)
{
    for (;;) {
        uint32_t l = 2 * j + 1, m = j;
        if (l < k && h[l].logit < h[m].logit) m = l;
        if (l + 1 < k && h[l + 1].logit < h[m].logit) m = l + 1;
        if (m == j) return;
        cand t = h[j];
        h[j] = h[m];
        h[m] = t;
        j = m;
    }
}

/* Offers x to a min-heap h of the best k candidates so far (*len of them). */
static void heap_offer(cand *h, uint32_t *len, uint32_t k, cand x)
{
    if (*len < k) {
        uint32_t j = (*len)++;
        while (j && h[(j - 1) / 2].logit > x.logit) { /* sift up */
            h[j] = h[(j - 1) / 2];
            j = (j - 1) / 2;
        }
        h[j] = x;
    } else if (x.logit > h[0].logit) {
        h[0] = x;
        sift_down(h, k, 0);
    }
}

/* A logit after the repetition penalties for a token seen k times in the window. */
static float penalize(const ta_sampler_params *p, float l, uint32_t k)
{
    if (!k) return l;
    if (p->repeat_penalty != 1.0f && p->repeat_penalty > 0)
        l = l > 0 ? l / p->repeat_penalty : l * p->repeat_penalty;
    return l - ((float)k * p->frequency_penalty + p->presence_penalty);
}

/* The logit of token i after the request's bias and (when on) the penalties. */
static float adjusted(const ta_sampler *s, uint32_t i, float l, bool penalties)
{
    const ta_sampler_params *p = &s->p;
    for (uint32_t b = 0; b < p->n_bias; b++)
        if (p->bias[b].token == (int32_t)i) l += p->bias[b].bias;
    return penalties ? penalize(p, l, s->counts[i]) : l;
}

/* Puts the k candidates with the largest adjusted logits in s->c[0..k), in no order, in
 * one pass over the logits and without copying the vocabulary: the few tokens whose
 * logits the bias or the penalties change are offered first with their adjusted
 * values (and marked), then every other token whose raw logit beats the heap's
 * smallest. Against a 152k-token vocabulary this costs a fraction of filling, adjusting
 * and selecting a full candidate array. Returns how many (k, or fewer for a tiny
 * vocabulary). */
static uint32_t gather_top_k(ta_sampler *s, const float *logits, uint32_t k, bool penalties)
{
    const ta_sampler_params *p = &s->p;
    uint32_t n = s->n_vocab, len = 0;
    cand *h = s->c;
    for (uint32_t pass = 0; pass < 2; pass++) { /* offer the changed tokens, once each */
        uint32_t m = pass ? p->n_bias : (penalties ? s->hist_len : 0);
        for (uint32_t j = 0; j < m; j++) {
            int32_t t = pass ? p->bias[j].token : s->hist[j];
            if (t < 0 || (uint32_t)t >= n || s->mark[t]) continue;
            s->mark[t] = 1;
            heap_offer(h, &len, k, (cand){t, adjusted(s, (uint32_t)t, logits[t], penalties), 0});
        }
    }
    for (uint32_t i = 0; i < n; i++) {
        float x = logits[i];
        if (len == k && !(x > h[0].logit)) continue;
        if (s->mark[i]) continue;
        heap_offer(h, &len, k, (cand){(int32_t)i, x, 0});
    }
    for (uint32_t pass = 0; pass < 2; pass++) { /* clear the marks */
        uint32_t m = pass ? p->n_bias : (penalties ? s->hist_len : 0);
        for (uint32_t j = 0; j < m; j++) {
            int32_t t = pass ? p->bias[j].token : s->hist[j];
            if (t >= 0 && (uint32_t)t < n) s->mark[t] = 0;
        }
    }
    return len;
}

/* The index of the largest of x[0..n) (the first of equals; 0 when none compares):
 * a maximum over 16 independent lanes, which the compiler turns into vector code, then
 * a search for its first occurrence. */
static uint32_t argmax(const float *x, uint32_t n)
{
    enum { W = 16 };
    float lane[W];
    for (int j = 0; j < W; j++)
        lane[j] = -INFINITY;
    uint32_t i = 0;
    for (; i + W <= n; i += W)
        for (int j = 0; j < W; j++)
            lane[j] = x[i + j] > lane[j] ? x[i + j] : lane[j];
    float mx = -INFINITY;
    for (int j = 0; j < W; j++)
        mx = lane[j] > mx ? lane[j] : mx;
    for (; i < n; i++)
        mx = x[i] > mx ? x[i] : mx;
    for (i = 0; i < n; i++)
        if (x[i] == mx) return i;
    return 0;
}

/* The rest of the chain over the candidates c[0..n) (adjusted logits, any order):
 * typical-p, top-p, min-p, temperature, and the draw. */
static int32_t draw(ta_sampler *s, uint32_t n)
{
    const ta_sampler_params *p = &s->p;
    cand *c = s->c;
    if (!n) return 0;
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

int32_t ta_sampler_sample(ta_sampler *s, const float *logits)
{
    const ta_sampler_params *p = &s->p;
    uint32_t n = s->n_vocab;
    cand *c = s->c;
    bool penalties = s->hist_len && ((p->repeat_penalty != 1.0f && p->repeat_penalty > 0) ||
                                     p->frequency_penalty != 0 || p->presence_penalty != 0);
    if (p->temperature <= 0 && !p->n_bias && !penalties) /* plain greedy */
        return (int32_t)argmax(logits, n);
    if (p->temperature <= 0) /* greedy over the adjusted logits */
        return gather_top_k(s, logits, 1, penalties) ? c[0].id : 0;
    if (p->top_k > 0 && (uint32_t)p->top_k < n)
        return draw(s, gather_top_k(s, logits, (uint32_t)p->top_k, penalties));
    for (uint32_t i = 0; i < n; i++) /* every token a candidate (top-k off) */
        c[i] = (cand){(int32_t)i, logits[i], 0};
    for (uint32_t b = 0; b < p->n_bias; b++)
        if (p->bias[b].token >= 0 && (uint32_t)p->bias[b].token < n)
            c[p->bias[b].token].logit += p->bias[b].bias;
    if (penalties)
        for (uint32_t i = 0; i < n; i++)
            c[i].logit = penalize(p, c[i].logit, s->counts[i]);
    return draw(s, n);
}
