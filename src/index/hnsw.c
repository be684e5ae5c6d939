/*
 * hnsw.c - see hnsw.h.
 *
 * Memory layout (one slot per vector, slots numbered 0..n-1, never moved):
 *   vecs     n x vec_stride bytes, 64-byte aligned: the stored vector (float32, cosine
 *            ones normalized; or int8), padded to a cache-line multiple
 *   qnorm    int8 only: per slot {scale, squared norm of the dequantized vector}
 *   walk, walk_qn   float32 + int8 only: the int8 copy searches walk on (walk_stride
 *            bytes per slot) and its {scale, squared norm}, made from the stored floats
 *   links0   n x (1 + 2M) uint32: the level-0 neighbor list, count first; one flat
 *            array, so a search walks it without indirection
 *   upper    per slot, NULL or level x (1 + M) uint32 for levels 1..level
 *   level, dead, ids   per slot; ids map back to the caller's ids
 *   map      caller id -> slot (open addressing, linear probing, backward-shift delete)
 * Slots of removed vectors stay in the graph as tombstones (walked through, never
 * returned) until an add reuses them; a reused slot keeps its level, so every link at
 * level l keeps pointing to a slot that has level l.
 *
 * Searches check out a scratch record from a small pool: the visited set (a uint16 tag
 * per slot compared with an epoch, so nothing is cleared between queries), the two
 * binary heaps (candidates, nearest-first via negated distances; results, a max-heap
 * capped at ef) and the encoded query.
 *
 * Locking: readers (search, count, contains) hold the read side of `rw`. Writers (add,
 * remove) hold `wmu` throughout, which makes them the only code that changes the graph,
 * so they may read it without `rw` while they search and choose neighbors; they collect
 * every changed list in a pending buffer and take the write side of `rw` only to copy
 * those in (and the new vector with its walking copy, counts, map entries, entry point),
 * or to swap in grown arrays. Save holds `wmu`: it sees a still graph while readers go
 * on.
 */
#include "hnsw.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "distance.h"

#define NONE           UINT32_MAX
#define MAX_LEVEL      30         /* levels are bytes; with M >= 2 this is never reached */
#define MAX_NODES      (1u << 30) /* slots; keeps every size computation far from overflow */
#define VEC_ALIGN      64
#define PREFETCH_LINES 6 /* lines of each neighbor vector a search loads ahead */
#define HEADER_SIZE    96
#define HASH_FROM      32 /* the checksum covers the file from here to its end */
#define FORMAT_VER     1
static const char MAGIC[8] = {'T', 'A', 'H', 'N', 'S', 'W', 0, 0};

typedef struct cand {
    float d;
    uint32_t id;
} cand;

/* An encoded vector: the stored form plus, for int8, its scale and squared norm; walk
 * set: an int8 query measured against the walking copy instead of the stored vectors. */
typedef struct qv {
    const void *v;
    float scale, norm2;
    bool walk;
} qv;

typedef struct scratch {
    uint16_t *tags;
    uint32_t tag_cap;
    uint16_t epoch;
    cand *cands, *res;
    uint32_t cand_cap, res_cap;
    void *qbuf; /* vec_stride + walk_stride bytes, aligned: the encoded query, and its
                   int8 form for walking */
    struct scratch *next;
} scratch;

struct ta_hnsw {
    ta_hnsw_params p;
    const ta_dist_kernels *k;
    uint32_t M0;         /* level-0 list capacity: 2 * M */
    double mult;         /* level generation: floor(-ln(U) * mult), mult = 1 / ln(M) */
    size_t vec_bytes;    /* encoded vector size */
    size_t vec_stride;   /* vec_bytes rounded up to VEC_ALIGN */
    size_t link0_stride; /* 1 + M0 words */
    size_t up_stride;    /* 1 + M words per upper level */
    size_t walk_stride;  /* float32 + int8: dim rounded up to VEC_ALIGN; else 0 */

    uint32_t n, cap;
    uint8_t *vecs;
    float *qnorm;
    uint8_t *walk;
    float *walk_qn;
    uint32_t *links0;
    uint32_t **upper;
    uint8_t *level, *dead;
    uint64_t *ids;
    uint32_t entry;
    int max_level;
    size_t n_live;
    uint64_t rng, tag;

    uint64_t *map_keys;
    uint32_t *map_vals; /* NONE: empty */
    uint32_t map_cap, map_n;

    uint32_t *free_slots; /* tombstones an add may reuse */
    uint32_t n_free, free_cap;

    /* Writer state, under wmu. */
    uint32_t *upd; /* pending lists: [slot, level, count, ids...] ... */
    size_t upd_n, upd_cap;
    cand *wres, *wtmp; /* ef_construction + 1, 2 * (M0 + 1) */
    void *wvec;        /* the vector being added, encoded */
    float wscale, wnorm2;
    void *wwalk; /* and its walking copy (float32 + int8) */
    float wwscale, wwnorm2;
    uint32_t pending; /* the slot wvec is for, while an add runs */

    pthread_rwlock_t rw;
    pthread_mutex_t wmu, pool_mu;
    scratch *pool;
};

/* ---- small helpers ---- */

static inline const void *vec_at(const ta_hnsw *h, uint32_t i)
{
    return h->vecs + (size_t)i * h->vec_stride;
}

/* Slot i's record in the walking copy (float32 + int8 only). */
static inline int8_t *walk_at(const ta_hnsw *h, uint32_t i)
{
    return (int8_t *)(h->walk + (size_t)i * h->walk_stride);
}

static inline uint32_t *links_at(const ta_hnsw *h, uint32_t i, int lc)
{
    if (lc == 0) return h->links0 + (size_t)i * h->link0_stride;
    return h->upper[i] + (size_t)(lc - 1) * h->up_stride;
}

static inline uint32_t max_links(const ta_hnsw *h, int lc)
{
    return lc == 0 ? h->M0 : h->p.M;
}

/* Whether the stored vectors are float32 (float32 alone or with a walking copy). */
static inline bool stores_f32(const ta_hnsw *h)
{
    return h->p.storage != TA_VEC_I8;
}

/* The int8 vector b with {scale, squared norm} m, and its bytes per slot: the walking
 * copy for a walking query, else the stored vectors. */
static inline const int8_t *i8_at(const ta_hnsw *h, bool walk, uint32_t j, const float **m)
{
    if (walk) {
        *m = h->walk_qn + 2 * (size_t)j;
        return walk_at(h, j);
    }
    *m = h->qnorm + 2 * (size_t)j;
    return vec_at(h, j);
}

static inline float dist_qn(const ta_hnsw *h, const qv *q, uint32_t j)
{
    uint32_t dim = h->p.dim;
    if (!q->walk && stores_f32(h)) {
        const void *b = vec_at(h, j);
        if (h->p.dist == TA_DIST_L2) return h->k->l2sq_f32(q->v, b, dim);
        float d = h->k->dot_f32(q->v, b, dim);
        return h->p.dist == TA_DIST_IP ? -d : 1.0f - d;
    }
    const float *m;
    const int8_t *b = i8_at(h, q->walk, j, &m);
    float d = (float)h->k->dot_i8(q->v, b, dim) * q->scale * m[0];
    if (h->p.dist == TA_DIST_L2) {
        float l2 = q->norm2 + m[1] - 2.0f * d;
        return l2 > 0 ? l2 : 0;
    }
    return h->p.dist == TA_DIST_IP ? -d : 1.0f - d;
}

/* dist_qn for the nt nodes ids[0..nt) into d[0..nt), float vectors two at a time where
 * the kernel set has pair kernels (the same values as one at a time). */
static inline void dist_qn_many(const ta_hnsw *h, const qv *q, const uint32_t *ids, uint32_t nt,
                                float *d)
{
    uint32_t j = 0;
    if (!q->walk && stores_f32(h)) {
        bool l2 = h->p.dist == TA_DIST_L2;
        ta_dist_f32x2_fn pair = l2 ? h->k->l2sq_f32_x2 : h->k->dot_f32_x2;
        if (pair)
            for (; j + 2 <= nt; j += 2) {
                pair(q->v, vec_at(h, ids[j]), vec_at(h, ids[j + 1]), h->p.dim, d + j);
                if (!l2)
                    for (int v = 0; v < 2; v++)
                        d[j + v] = h->p.dist == TA_DIST_IP ? -d[j + v] : 1.0f - d[j + v];
            }
    }
    for (; j < nt; j++)
        d[j] = dist_qn(h, q, ids[j]);
}

/* The encoded form of slot i, or of the vector being added when i is that slot. */
static inline qv node_qv(const ta_hnsw *h, uint32_t i)
{
    if (i == h->pending) return (qv){h->wvec, h->wscale, h->wnorm2, false};
    if (stores_f32(h)) return (qv){vec_at(h, i), 0, 0, false};
    return (qv){vec_at(h, i), h->qnorm[2 * (size_t)i], h->qnorm[2 * (size_t)i + 1], false};
}

static inline float dist_nn(const ta_hnsw *h, uint32_t a, uint32_t b)
{
    if (b == h->pending) {
        uint32_t t = a;
        a = b;
        b = t;
    }
    qv q = node_qv(h, a);
    return dist_qn(h, &q, b);
}

/* Quantizes x * mul (dim values, max |x| = amax) to int8 with one symmetric scale. The
 * inverse scale is a double: for a vector of tiny values the float scale is subnormal
 * and its float inverse infinite, which would turn every value into -127. */
static void quantize(const float *x, float mul, float amax, uint32_t dim, int8_t *o, float *scale,
                     float *norm2)
{
    float s = amax * mul / 127.0f;
    double top = (double)amax * mul;
    double inv = top > 0 ? 127.0 / top : 0;
    int64_t q2 = 0;
    for (uint32_t i = 0; i < dim; i++) {
        long q = lrint((double)x[i] * mul * inv);
        if (q > 127) q = 127;
        if (q < -127) q = -127;
        o[i] = (int8_t)q;
        q2 += q * q;
    }
    *scale = s;
    *norm2 = (float)((double)s * s * (double)q2);
}

/* The walking copy of f, a stored float32 vector, into o (walk_stride bytes, the padding
 * zeroed): the same int8 whatever path f came by (added now, or read back from a file). */
static void quantize_walk(const ta_hnsw *h, const float *f, int8_t *o, float *scale, float *norm2)
{
    float amax = 0;
    for (uint32_t i = 0; i < h->p.dim; i++)
        amax = fabsf(f[i]) > amax ? fabsf(f[i]) : amax;
    memset(o + h->p.dim, 0, h->walk_stride - h->p.dim);
    quantize(f, 1.0f, amax, h->p.dim, o, scale, norm2);
}

/* Encodes x (dim floats) for storage or search: checks it is finite, normalizes it
 * for cosine, and quantizes it when i8 (else writes floats). out has vec_stride bytes. */
static int encode(const ta_hnsw *h, const float *x, bool i8, void *out, float *scale, float *norm2,
                  const char *what, ta_error *err)
{
    uint32_t dim = h->p.dim;
    double ss = 0;
    float amax = 0;
    for (uint32_t i = 0; i < dim; i++) {
        if (!isfinite(x[i]))
            return ta_error_set(err, TA_EINVAL, "%s[%u] is not a finite number", what, i);
        ss += (double)x[i] * x[i];
        float a = fabsf(x[i]);
        if (a > amax) amax = a;
    }
    float mul = 1.0f;
    if (h->p.dist == TA_DIST_COSINE) {
        if (ss == 0) return ta_error_set(err, TA_EINVAL, "%s is a zero vector (cosine)", what);
        mul = (float)(1.0 / sqrt(ss));
    }
    if (!isfinite(ss) || !isfinite(ss * mul * mul))
        return ta_error_set(err, TA_EINVAL, "%s is too large", what);
    if (!i8) {
        float *o = out;
        for (uint32_t i = 0; i < dim; i++)
            o[i] = x[i] * mul;
        *scale = *norm2 = 0;
        return 0;
    }
    quantize(x, mul, amax, dim, out, scale, norm2);
    return 0;
}

/* ---- binary heaps on cand.d (max at [0]) ---- */

static inline void heap_push(cand *a, uint32_t *n, cand c)
{
    uint32_t i = (*n)++;
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (a[p].d >= c.d) break;
        a[i] = a[p];
        i = p;
    }
    a[i] = c;
}

static inline cand heap_pop(cand *a, uint32_t *n)
{
    cand top = a[0], last = a[--(*n)];
    uint32_t i = 0, m = *n;
    for (;;) {
        uint32_t l = 2 * i + 1;
        if (l >= m) break;
        uint32_t c = (l + 1 < m && a[l + 1].d > a[l].d) ? l + 1 : l;
        if (a[c].d <= last.d) break;
        a[i] = a[c];
        i = c;
    }
    if (m) a[i] = last;
    return top;
}

static int cand_cmp(const void *x, const void *y)
{
    const cand *a = x, *b = y;
    return (a->d > b->d) - (a->d < b->d);
}

/* ---- the id map ---- */

static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint32_t map_get(const ta_hnsw *h, uint64_t key)
{
    if (!h->map_cap) return NONE;
    uint32_t mask = h->map_cap - 1;
    for (uint32_t i = (uint32_t)mix64(key) & mask;; i = (i + 1) & mask) {
        if (h->map_vals[i] == NONE) return NONE;
        if (h->map_keys[i] == key) return h->map_vals[i];
    }
}

/* Makes room for one more key (load factor <= 1/2). */
static int map_reserve(ta_hnsw *h)
{
    if ((size_t)(h->map_n + 1) * 2 <= h->map_cap) return 0;
    uint32_t cap = h->map_cap ? h->map_cap * 2 : 64;
    while ((size_t)(h->map_n + 1) * 2 > cap)
        cap *= 2;
    uint64_t *keys = malloc((size_t)cap * sizeof *keys);
    uint32_t *vals = malloc((size_t)cap * sizeof *vals);
    if (!keys || !vals) {
        free(keys);
        free(vals);
        return TA_ENOMEM;
    }
    memset(vals, 0xff, (size_t)cap * sizeof *vals);
    for (uint32_t i = 0; i < h->map_cap; i++) {
        if (h->map_vals[i] == NONE) continue;
        uint32_t j = (uint32_t)mix64(h->map_keys[i]) & (cap - 1);
        while (vals[j] != NONE)
            j = (j + 1) & (cap - 1);
        keys[j] = h->map_keys[i];
        vals[j] = h->map_vals[i];
    }
    free(h->map_keys);
    free(h->map_vals);
    h->map_keys = keys;
    h->map_vals = vals;
    h->map_cap = cap;
    return 0;
}

/* Sets key -> val; returns 1 if key was present (its value replaced), 0 if added.
 * Call map_reserve first. */
static int map_put(ta_hnsw *h, uint64_t key, uint32_t val)
{
    uint32_t mask = h->map_cap - 1;
    uint32_t i = (uint32_t)mix64(key) & mask;
    for (; h->map_vals[i] != NONE; i = (i + 1) & mask) {
        if (h->map_keys[i] == key) {
            h->map_vals[i] = val;
            return 1;
        }
    }
    h->map_keys[i] = key;
    h->map_vals[i] = val;
    h->map_n++;
    return 0;
}

static void map_del(ta_hnsw *h, uint64_t key)
{
    if (!h->map_cap) return;
    uint32_t mask = h->map_cap - 1;
    uint32_t i = (uint32_t)mix64(key) & mask;
    for (;; i = (i + 1) & mask) {
        if (h->map_vals[i] == NONE) return;
        if (h->map_keys[i] == key) break;
    }
    /* Backward shift: pull later entries of the probe run into the hole. */
    for (uint32_t j = (i + 1) & mask;; j = (j + 1) & mask) {
        if (h->map_vals[j] == NONE) break;
        uint32_t home = (uint32_t)mix64(h->map_keys[j]) & mask;
        /* j's entry may move to i if i lies cyclically in [home, j). */
        if (((j - home) & mask) >= ((j - i) & mask)) {
            h->map_keys[i] = h->map_keys[j];
            h->map_vals[i] = h->map_vals[j];
            i = j;
        }
    }
    h->map_vals[i] = NONE;
    h->map_n--;
}

/* ---- scratch pool ---- */

static void scratch_free(scratch *s)
{
    if (!s) return;
    free(s->tags);
    free(s->cands);
    free(s->res);
    free(s->qbuf);
    free(s);
}

static scratch *scratch_get(const ta_hnsw *hc)
{
    ta_hnsw *h = (ta_hnsw *)hc; /* the pool is the one mutable part of a const index */
    pthread_mutex_lock(&h->pool_mu);
    scratch *s = h->pool;
    if (s) h->pool = s->next;
    pthread_mutex_unlock(&h->pool_mu);
    if (s) return s;
    s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->qbuf = aligned_alloc(VEC_ALIGN, h->vec_stride + h->walk_stride);
    if (!s->qbuf) {
        free(s);
        return NULL;
    }
    return s;
}

static void scratch_put(const ta_hnsw *hc, scratch *s)
{
    ta_hnsw *h = (ta_hnsw *)hc;
    pthread_mutex_lock(&h->pool_mu);
    s->next = h->pool;
    h->pool = s;
    pthread_mutex_unlock(&h->pool_mu);
}

/* Sizes the scratch for this index and a result list of ef; under rw or wmu. */
static int scratch_fit(const ta_hnsw *h, scratch *s, uint32_t ef)
{
    if (s->tag_cap < h->cap) {
        uint16_t *t = realloc(s->tags, (size_t)h->cap * sizeof *t);
        if (!t) return TA_ENOMEM;
        memset(t + s->tag_cap, 0, (size_t)(h->cap - s->tag_cap) * sizeof *t);
        s->tags = t;
        s->tag_cap = h->cap;
    }
    if (s->res_cap < ef + 1) {
        cand *r = realloc(s->res, (size_t)(ef + 1) * sizeof *r);
        if (!r) return TA_ENOMEM;
        s->res = r;
        s->res_cap = ef + 1;
    }
    uint32_t want = ef + h->M0 + 1;
    if (s->cand_cap < want) {
        cand *c = realloc(s->cands, (size_t)want * sizeof *c);
        if (!c) return TA_ENOMEM;
        s->cands = c;
        s->cand_cap = want;
    }
    return 0;
}

static inline void next_epoch(scratch *s)
{
    if (++s->epoch == 0) {
        memset(s->tags, 0, (size_t)s->tag_cap * sizeof *s->tags);
        s->epoch = 1;
    }
}

/* ---- search ---- */

/* Greedy walk from ep (at distance *d) down to level stop + 1, one best node per level. */
static uint32_t descend(const ta_hnsw *h, const qv *q, uint32_t ep, float *d, int top, int stop)
{
    for (int lc = top; lc > stop; lc--) {
        bool moved = true;
        while (moved) {
            moved = false;
            const uint32_t *l = links_at(h, ep, lc);
            for (uint32_t j = 1; j <= l[0]; j++) {
                float dj = dist_qn(h, q, l[j]);
                if (dj < *d) {
                    *d = dj;
                    ep = l[j];
                    moved = true;
                }
            }
        }
    }
    return ep;
}

/* Starts loading the first lines of slot i's vector, the one q measures against (the
 * hardware prefetcher streams the rest once the distance kernel walks it; loading all
 * of it ahead measured slower).
 *
 * The prefetch helpers are always inlined: GCC counts __builtin_prefetch as no effect,
 * so a call to one of them that it did not inline early is a call to a pure function
 * returning nothing, and it deletes the call (it cost the int8 walk a third of its
 * speed before this was found). */
#define PREFETCH_FN static inline __attribute__((always_inline)) void

PREFETCH_FN prefetch_vec(const ta_hnsw *h, const qv *q, uint32_t i)
{
    const char *v = vec_at(h, i);
    size_t bytes = h->vec_bytes;
    if (q->walk) {
        v = (const char *)walk_at(h, i);
        bytes = h->p.dim;
    }
    for (size_t k = 0; k < PREFETCH_LINES && k * 64 < bytes; k++)
        __builtin_prefetch(v + 64 * k);
}

PREFETCH_FN prefetch_links(const ta_hnsw *h, uint32_t i, int lc)
{
    const char *l = (const char *)links_at(h, i, lc);
    __builtin_prefetch(l);
    __builtin_prefetch(l + 64);
}

/* The ef nearest acceptable nodes at level lc, from ep, into the max-heap s->res;
 * returns their number or a negative code. Acceptable: live, not `self`, and passing
 * the filter; everything else is still walked through.
 *
 * Each expanded node's list is handled in two passes: the first marks its unvisited
 * neighbors and starts loading their vectors, all of them at once, so that the memory
 * fetches overlap; the second computes the distances. */
static int search_layer(const ta_hnsw *h, scratch *s, const qv *q, uint32_t ep, float dep, int lc,
                        uint32_t ef, ta_hnsw_filter filter, void *ud, uint32_t self)
{
    next_epoch(s);
    uint16_t ep_tag = s->epoch, *tags = s->tags;
    cand *res = s->res, *cands = s->cands;
    uint32_t nres = 0, ncand = 0;
    const uint8_t *dead = h->dead;
    uint32_t todo[2 * TA_HNSW_MAX_M];
    float dists[2 * TA_HNSW_MAX_M];

    tags[ep] = ep_tag;
    if (!dead[ep] && ep != self && (!filter || filter(h->ids[ep], ud)))
        heap_push(res, &nres, (cand){dep, ep});
    heap_push(cands, &ncand, (cand){-dep, ep});
    float bound = nres ? res[0].d : INFINITY;

    while (ncand) {
        cand c = cands[0];
        if (-c.d > bound && nres >= ef) break;
        heap_pop(cands, &ncand);
        /* The next node to expand is most often the new top: its list starts loading
         * now, while this node's neighbours are measured, not when it is popped. */
        if (ncand) prefetch_links(h, cands[0].id, lc);
        const uint32_t *l = links_at(h, c.id, lc);
        uint32_t cnt = l[0];
        for (uint32_t j = 1; j <= cnt; j++)
            __builtin_prefetch(tags + l[j]);
        uint32_t nt = 0;
        for (uint32_t j = 1; j <= cnt; j++) {
            uint32_t nb = l[j];
            if (tags[nb] == ep_tag) continue;
            tags[nb] = ep_tag;
            todo[nt++] = nb;
            prefetch_vec(h, q, nb);
        }
        /* Room for every neighbor before the loop, so the loop never grows the heap. */
        if (ncand + nt > s->cand_cap) {
            uint32_t nc = s->cand_cap * 2 > ncand + nt ? s->cand_cap * 2 : ncand + nt;
            cand *g = realloc(s->cands, (size_t)nc * sizeof *g);
            if (!g) return TA_ENOMEM;
            s->cands = cands = g;
            s->cand_cap = nc;
        }
        dist_qn_many(h, q, todo, nt, dists);
        for (uint32_t j = 0; j < nt; j++) {
            uint32_t nb = todo[j];
            float d = dists[j];
            if (nres < ef || d < bound) {
                heap_push(cands, &ncand, (cand){-d, nb});
                if (!dead[nb] && nb != self && (!filter || filter(h->ids[nb], ud))) {
                    heap_push(res, &nres, (cand){d, nb});
                    if (nres > ef) heap_pop(res, &nres);
                }
                if (nres) bound = res[0].d;
            }
        }
        /* and again, for when one of those neighbours became the new top */
        if (ncand) prefetch_links(h, cands[0].id, lc);
    }
    return (int)nres;
}

/* Empties the max-heap s->res into out[0..n), nearest first. */
static void drain_sorted(scratch *s, uint32_t n, cand *out)
{
    uint32_t m = n;
    for (uint32_t i = n; i-- > 0;)
        out[i] = heap_pop(s->res, &m);
}

/* The neighbor heuristic (Malkov & Yashunin, algorithm 4): c[0..n) sorted nearest
 * first by distance to a base; keeps, in place, up to m candidates each nearer to the
 * base than to every one kept before it. Returns how many. */
static uint32_t select_neighbors(const ta_hnsw *h, cand *c, uint32_t n, uint32_t m)
{
    if (n < m) return n;
    uint32_t kept = 0;
    for (uint32_t i = 0; i < n && kept < m; i++) {
        bool good = true;
        for (uint32_t j = 0; j < kept; j++) {
            if (dist_nn(h, c[i].id, c[j].id) < c[i].d) {
                good = false;
                break;
            }
        }
        if (good) c[kept++] = c[i];
    }
    return kept;
}

/* ---- writer: pending lists ---- */

static int upd_add(ta_hnsw *h, uint32_t slot, int lc, const uint32_t *ids, uint32_t n)
{
    size_t need = h->upd_n + 3 + n;
    if (need > h->upd_cap) {
        size_t cap = h->upd_cap ? h->upd_cap * 2 : 1024;
        while (cap < need)
            cap *= 2;
        uint32_t *u = realloc(h->upd, cap * sizeof *u);
        if (!u) return TA_ENOMEM;
        h->upd = u;
        h->upd_cap = cap;
    }
    uint32_t *u = h->upd + h->upd_n;
    u[0] = slot;
    u[1] = (uint32_t)lc;
    u[2] = n;
    if (n) memcpy(u + 3, ids, n * sizeof *ids);
    h->upd_n = need;
    return 0;
}

/* Under the write lock. */
static void upd_apply(ta_hnsw *h)
{
    for (size_t at = 0; at < h->upd_n;) {
        uint32_t *u = h->upd + at;
        uint32_t *l = links_at(h, u[0], (int)u[1]);
        l[0] = u[2];
        if (u[2]) memcpy(l + 1, u + 3, u[2] * sizeof *u);
        at += 3 + u[2];
    }
    h->upd_n = 0;
}

/* Queues nb's level-lc list re-chosen from `ids` (distances to nb computed here). */
static int upd_rechoose(ta_hnsw *h, uint32_t nb, int lc, const uint32_t *ids, uint32_t n)
{
    cand *t = h->wtmp;
    for (uint32_t i = 0; i < n; i++)
        t[i] = (cand){dist_nn(h, nb, ids[i]), ids[i]};
    qsort(t, n, sizeof *t, cand_cmp);
    uint32_t kept = select_neighbors(h, t, n, max_links(h, lc));
    uint32_t out[2 * TA_HNSW_MAX_M + 2];
    for (uint32_t i = 0; i < kept; i++)
        out[i] = t[i].id;
    return upd_add(h, nb, lc, out, kept);
}

/* ---- growth ---- */

/* Makes room for `need` slots; under wmu. New arrays are filled outside the write lock
 * (only this writer changes them) and swapped in under it. */
static int grow(ta_hnsw *h, uint64_t need)
{
    if (need <= h->cap) return 0;
    if (need > MAX_NODES) return TA_ETOOBIG;
    uint64_t cap = h->cap ? (uint64_t)h->cap * 2 : 64;
    if (cap < need) cap = need;
    if (cap > MAX_NODES) cap = MAX_NODES;
    size_t c = (size_t)cap, n = h->cap;
    uint8_t *vecs = aligned_alloc(VEC_ALIGN, c * h->vec_stride);
    float *qnorm = h->p.storage == TA_VEC_I8 ? malloc(c * 2 * sizeof(float)) : NULL;
    bool has_walk = h->walk_stride > 0;
    uint8_t *walk = has_walk ? aligned_alloc(VEC_ALIGN, c * h->walk_stride) : NULL;
    float *walk_qn = has_walk ? malloc(c * 2 * sizeof(float)) : NULL;
    uint32_t *links0 = calloc(c * h->link0_stride, sizeof(uint32_t)); /* no stale bytes in files */
    uint32_t **upper = calloc(c, sizeof *upper);
    uint8_t *level = calloc(c, 1), *dead = calloc(c, 1);
    uint64_t *ids = calloc(c, sizeof *ids);
    if (!vecs || (h->p.storage == TA_VEC_I8 && !qnorm) || (has_walk && (!walk || !walk_qn)) ||
        !links0 || !upper || !level || !dead || !ids) {
        free(vecs);
        free(qnorm);
        free(walk);
        free(walk_qn);
        free(links0);
        free(upper);
        free(level);
        free(dead);
        free(ids);
        return TA_ENOMEM;
    }
    if (n) {
        memcpy(vecs, h->vecs, n * h->vec_stride);
        if (qnorm) memcpy(qnorm, h->qnorm, n * 2 * sizeof(float));
        if (has_walk) {
            memcpy(walk, h->walk, n * h->walk_stride);
            memcpy(walk_qn, h->walk_qn, n * 2 * sizeof(float));
        }
        memcpy(links0, h->links0, n * h->link0_stride * sizeof(uint32_t));
        memcpy(upper, h->upper, n * sizeof *upper);
        memcpy(level, h->level, n);
        memcpy(dead, h->dead, n);
        memcpy(ids, h->ids, n * sizeof *ids);
    }
    uint8_t *ov = h->vecs, *ol = h->level, *od = h->dead;
    float *oq = h->qnorm, *owq = h->walk_qn;
    uint8_t *ow = h->walk;
    uint32_t *o0 = h->links0, **ou = h->upper;
    uint64_t *oi = h->ids;
    pthread_rwlock_wrlock(&h->rw);
    h->vecs = vecs;
    h->qnorm = qnorm;
    h->walk = walk;
    h->walk_qn = walk_qn;
    h->links0 = links0;
    h->upper = upper;
    h->level = level;
    h->dead = dead;
    h->ids = ids;
    h->cap = (uint32_t)c;
    pthread_rwlock_unlock(&h->rw);
    free(ov);
    free(oq);
    free(ow);
    free(owq);
    free(o0);
    free(ou);
    free(ol);
    free(od);
    free(oi);
    return 0;
}

/* ---- lifecycle ---- */

static int check_params(const ta_hnsw_params *p, ta_error *err)
{
    if (!p) return ta_error_set(err, TA_EINVAL, "hnsw: no parameters");
    if (p->dim == 0 || p->dim > TA_HNSW_MAX_DIM)
        return ta_error_set(err, TA_EINVAL, "hnsw: dim must be 1..%u, not %u", TA_HNSW_MAX_DIM,
                            p->dim);
    if ((unsigned)p->dist > TA_DIST_COSINE)
        return ta_error_set(err, TA_EINVAL, "hnsw: unknown metric %d", (int)p->dist);
    if ((unsigned)p->storage > TA_VEC_F32_I8)
        return ta_error_set(err, TA_EINVAL, "hnsw: unknown storage %d", (int)p->storage);
    if (p->M && (p->M < 2 || p->M > TA_HNSW_MAX_M))
        return ta_error_set(err, TA_EINVAL, "hnsw: M must be 2..%u, not %u", TA_HNSW_MAX_M, p->M);
    if (p->ef_construction > TA_HNSW_MAX_EF || p->ef_search > TA_HNSW_MAX_EF)
        return ta_error_set(err, TA_EINVAL, "hnsw: ef must be at most %u", TA_HNSW_MAX_EF);
    if (p->capacity_hint > MAX_NODES)
        return ta_error_set(err, TA_ETOOBIG, "hnsw: capacity %llu exceeds %u",
                            (unsigned long long)p->capacity_hint, MAX_NODES);
    return 0;
}

ta_hnsw *ta_hnsw_new(const ta_hnsw_params *p, ta_error *err)
{
    if (check_params(p, err)) return NULL;
    ta_hnsw *h = calloc(1, sizeof *h);
    if (!h) {
        ta_error_set(err, TA_ENOMEM, "hnsw: out of memory");
        return NULL;
    }
    h->p = *p;
    if (!h->p.M) h->p.M = 16;
    if (!h->p.ef_construction) h->p.ef_construction = 200;
    if (!h->p.ef_search) h->p.ef_search = 64;
    h->k = ta_dist_kernels_best();
    h->M0 = 2 * h->p.M;
    h->mult = 1.0 / log((double)h->p.M);
    h->vec_bytes = (size_t)h->p.dim * (h->p.storage == TA_VEC_I8 ? 1 : 4);
    h->vec_stride = (h->vec_bytes + VEC_ALIGN - 1) / VEC_ALIGN * VEC_ALIGN;
    if (h->p.storage == TA_VEC_F32_I8)
        h->walk_stride = ((size_t)h->p.dim + VEC_ALIGN - 1) / VEC_ALIGN * VEC_ALIGN;
    h->link0_stride = 1 + h->M0;
    h->up_stride = 1 + h->p.M;
    h->entry = NONE;
    h->max_level = -1;
    h->pending = NONE;
    h->rng = mix64(h->p.seed ^ 0x6a09e667f3bcc909ull);
    /* glibc's default lets a stream of readers starve the writer; prefer the writer,
     * whose hold is short. */
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
#ifdef __GLIBC__
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
#endif
    pthread_rwlock_init(&h->rw, &ra);
    pthread_rwlockattr_destroy(&ra);
    pthread_mutex_init(&h->wmu, NULL);
    pthread_mutex_init(&h->pool_mu, NULL);
    h->wres = malloc(((size_t)h->p.ef_construction + 1) * sizeof *h->wres);
    h->wtmp = malloc(2 * ((size_t)h->M0 + 1) * sizeof *h->wtmp);
    h->wvec = aligned_alloc(VEC_ALIGN, h->vec_stride);
    h->wwalk = h->walk_stride ? aligned_alloc(VEC_ALIGN, h->walk_stride) : NULL;
    if (!h->wres || !h->wtmp || !h->wvec || (h->walk_stride && !h->wwalk) ||
        (h->p.capacity_hint && grow(h, h->p.capacity_hint))) {
        ta_hnsw_free(h);
        ta_error_set(err, TA_ENOMEM, "hnsw: out of memory");
        return NULL;
    }
    return h;
}

void ta_hnsw_free(ta_hnsw *h)
{
    if (!h) return;
    for (uint32_t i = 0; i < h->n; i++)
        free(h->upper[i]);
    free(h->vecs);
    free(h->qnorm);
    free(h->walk);
    free(h->walk_qn);
    free(h->links0);
    free(h->upper);
    free(h->level);
    free(h->dead);
    free(h->ids);
    free(h->map_keys);
    free(h->map_vals);
    free(h->free_slots);
    free(h->upd);
    free(h->wres);
    free(h->wtmp);
    free(h->wvec);
    free(h->wwalk);
    while (h->pool) {
        scratch *s = h->pool;
        h->pool = s->next;
        scratch_free(s);
    }
    pthread_rwlock_destroy(&h->rw);
    pthread_mutex_destroy(&h->wmu);
    pthread_mutex_destroy(&h->pool_mu);
    free(h);
}

void ta_hnsw_get_params(const ta_hnsw *h, ta_hnsw_params *out)
{
    *out = h->p;
}

/* ---- writers ---- */

static int random_level(ta_hnsw *h)
{
    h->rng = mix64(h->rng + 0x9e3779b97f4a7c15ull);
    double u = ((double)(h->rng >> 11) + 0.5) / 9007199254740992.0;
    double l = -log(u) * h->mult;
    return l >= MAX_LEVEL ? MAX_LEVEL : (int)l;
}

/* Tombstones slot (whose id is already unmapped by the caller's plan) and repairs the
 * lists of its live neighbors that link back to it. Under wmu; takes rw to publish. */
static int remove_slot(ta_hnsw *h, scratch *s, uint32_t slot)
{
    uint32_t ids[4 * TA_HNSW_MAX_M + 4];
    int rc = 0;
    for (int lc = 0; lc <= h->level[slot] && !rc; lc++) {
        const uint32_t *dl = links_at(h, slot, lc);
        for (uint32_t j = 1; j <= dl[0] && !rc; j++) {
            uint32_t nb = dl[j];
            if (nb == slot || h->dead[nb]) continue;
            const uint32_t *nl = links_at(h, nb, lc);
            bool links_back = false;
            for (uint32_t i = 1; i <= nl[0]; i++)
                links_back |= nl[i] == slot;
            if (!links_back) continue;
            /* Candidates: nb's neighbors and the removed node's, once each. */
            next_epoch(s);
            s->tags[slot] = s->tags[nb] = s->epoch;
            uint32_t n = 0;
            for (uint32_t i = 1; i <= nl[0]; i++)
                if (s->tags[nl[i]] != s->epoch) s->tags[ids[n++] = nl[i]] = s->epoch;
            for (uint32_t i = 1; i <= dl[0]; i++)
                if (s->tags[dl[i]] != s->epoch) s->tags[ids[n++] = dl[i]] = s->epoch;
            rc = upd_rechoose(h, nb, lc, ids, n);
        }
    }
    if (rc) {
        h->upd_n = 0;
        return rc;
    }
    /* A removed entry point hands over to the live node on the highest level, so that
     * searches and inserts always start from a live node while there is one (a dead
     * entry with no links would leave every new node unreachable). */
    uint32_t entry = h->entry;
    if (slot == entry) {
        int best = -1;
        for (uint32_t i = 0; i < h->n; i++) {
            if (i != slot && !h->dead[i] && h->level[i] > best) {
                best = h->level[i];
                entry = i;
            }
        }
    }
    pthread_rwlock_wrlock(&h->rw);
    upd_apply(h);
    h->dead[slot] = 1;
    h->n_live--;
    map_del(h, h->ids[slot]);
    if (entry != h->entry) {
        h->entry = entry;
        h->max_level = h->level[entry];
    }
    pthread_rwlock_unlock(&h->rw);
    if (slot != h->entry) h->free_slots[h->n_free++] = slot; /* room: see ensure_free_room */
    return 0;
}

static int ensure_free_room(ta_hnsw *h)
{
    if (h->n_free < h->free_cap) return 0;
    uint32_t cap = h->free_cap ? h->free_cap * 2 : 64;
    uint32_t *f = realloc(h->free_slots, (size_t)cap * sizeof *f);
    if (!f) return TA_ENOMEM;
    h->free_slots = f;
    h->free_cap = cap;
    return 0;
}

/* Links the vector in h->wvec as id into slot (new, or a reused tombstone) at `level`.
 * Under wmu; takes rw to publish. */
static int insert_slot(ta_hnsw *h, scratch *s, uint64_t id, uint32_t slot, int level, bool reuse)
{
    int rc = 0;
    uint32_t old_entry = NONE;
    qv q = {h->wvec, h->wscale, h->wnorm2, false};
    h->pending = slot;
    h->upd_n = 0;
    if (!reuse) {
        /* A slot past n: no reader reaches it until n grows, so set it up directly. */
        h->level[slot] = (uint8_t)level;
        h->dead[slot] = 0;
        h->links0[(size_t)slot * h->link0_stride] = 0;
        h->upper[slot] = NULL;
        if (level > 0) {
            h->upper[slot] = calloc((size_t)level * h->up_stride, sizeof(uint32_t));
            if (!h->upper[slot]) rc = TA_ENOMEM;
        }
    }
    /* Nothing live (never was, or all removed): this node starts the graph afresh. Its
     * old lists, if it is a reused slot, are emptied; the tombstones go unwalked. */
    bool fresh = h->n_live == 0;
    for (int lc = 0; fresh && reuse && lc <= level && !rc; lc++)
        rc = upd_add(h, slot, lc, NULL, 0);
    if (!rc && !fresh) {
        uint32_t ep = h->entry;
        float dep = dist_qn(h, &q, ep);
        ep = descend(h, &q, ep, &dep, h->max_level, level);
        uint32_t sel[TA_HNSW_MAX_M + 1], tmp[2 * TA_HNSW_MAX_M + 2];
        for (int lc = level < h->max_level ? level : h->max_level; lc >= 0 && !rc; lc--) {
            int nres = search_layer(h, s, &q, ep, dep, lc, h->p.ef_construction, NULL, NULL, slot);
            if (nres < 0) {
                rc = nres;
                break;
            }
            if (nres == 0) continue; /* only tombstones here: keep the entry point */
            cand *w = h->wres;
            drain_sorted(s, (uint32_t)nres, w);
            ep = w[0].id;
            dep = w[0].d;
            uint32_t m = select_neighbors(h, w, (uint32_t)nres, h->p.M);
            for (uint32_t i = 0; i < m; i++)
                sel[i] = w[i].id;
            rc = upd_add(h, slot, lc, sel, m);
            /* Each chosen neighbor links back, re-choosing when its list is full. */
            uint32_t mmax = max_links(h, lc);
            for (uint32_t i = 0; i < m && !rc; i++) {
                const uint32_t *nl = links_at(h, sel[i], lc);
                uint32_t cnt = nl[0];
                bool has = false;
                for (uint32_t j = 1; j <= cnt; j++)
                    has |= nl[j] == slot;
                if (has) continue; /* a stale link to a reused slot already there */
                memcpy(tmp, nl + 1, cnt * sizeof *tmp);
                tmp[cnt] = slot;
                if (cnt < mmax)
                    rc = upd_add(h, sel[i], lc, tmp, cnt + 1);
                else
                    rc = upd_rechoose(h, sel[i], lc, tmp, cnt + 1);
            }
        }
    }
    if (!rc) {
        pthread_rwlock_wrlock(&h->rw);
        rc = map_reserve(h);
        if (!rc) {
            memcpy(h->vecs + (size_t)slot * h->vec_stride, h->wvec, h->vec_stride);
            if (h->qnorm) {
                h->qnorm[2 * (size_t)slot] = h->wscale;
                h->qnorm[2 * (size_t)slot + 1] = h->wnorm2;
            }
            if (h->walk) {
                memcpy(walk_at(h, slot), h->wwalk, h->walk_stride);
                h->walk_qn[2 * (size_t)slot] = h->wwscale;
                h->walk_qn[2 * (size_t)slot + 1] = h->wwnorm2;
            }
            upd_apply(h);
            h->ids[slot] = id;
            h->dead[slot] = 0;
            if (!reuse) h->n++;
            if (fresh || level > h->max_level) {
                old_entry = h->entry;
                h->max_level = level;
                h->entry = slot;
            }
            h->n_live++;
            map_put(h, id, slot);
        }
        pthread_rwlock_unlock(&h->rw);
    }
    /* A dead entry point that stops being one becomes reusable (the caller made room). */
    if (!rc && old_entry != NONE && old_entry != slot && h->dead[old_entry])
        h->free_slots[h->n_free++] = old_entry;
    if (rc) {
        h->upd_n = 0;
        if (!reuse) {
            free(h->upper[slot]);
            h->upper[slot] = NULL;
        }
    }
    h->pending = NONE;
    return rc;
}

int ta_hnsw_add(ta_hnsw *h, uint64_t id, const float *vec, ta_error *err)
{
    if (!h || !vec) return ta_error_set(err, TA_EINVAL, "hnsw add: no index or vector");
    pthread_mutex_lock(&h->wmu);
    int rc = encode(h, vec, !stores_f32(h), h->wvec, &h->wscale, &h->wnorm2, "vector", err);
    if (rc) goto out;
    if (h->wwalk) quantize_walk(h, h->wvec, h->wwalk, &h->wwscale, &h->wwnorm2);
    /* Room first, so nothing below fails for memory after the graph changed. */
    if ((rc = ensure_free_room(h)) || (rc = grow(h, (uint64_t)h->n + 1))) {
        ta_error_set(err, rc, rc == TA_ETOOBIG ? "hnsw: index is full" : "hnsw: out of memory");
        goto out;
    }
    scratch *s = scratch_get(h);
    if (!s || scratch_fit(h, s, h->p.ef_construction)) {
        if (s) scratch_put(h, s);
        rc = ta_error_set(err, TA_ENOMEM, "hnsw: out of memory");
        goto out;
    }
    uint32_t old = map_get(h, id);
    if (old != NONE && (rc = remove_slot(h, s, old))) {
        scratch_put(h, s);
        ta_error_set(err, rc, "hnsw: out of memory");
        goto out;
    }
    uint32_t slot = NONE;
    int level = 0;
    if (h->n_free) {
        slot = h->free_slots[--h->n_free];
        level = h->level[slot];
    } else {
        slot = h->n;
        level = random_level(h);
    }
    rc = insert_slot(h, s, id, slot, level, slot < h->n);
    if (rc) {
        if (slot < h->n) h->free_slots[h->n_free++] = slot;
        ta_error_set(err, rc, "hnsw: out of memory");
    }
    scratch_put(h, s);
out:
    pthread_mutex_unlock(&h->wmu);
    return rc;
}

int ta_hnsw_remove(ta_hnsw *h, uint64_t id, ta_error *err)
{
    if (!h) return ta_error_set(err, TA_EINVAL, "hnsw remove: no index");
    pthread_mutex_lock(&h->wmu);
    int rc = 0;
    uint32_t slot = map_get(h, id);
    if (slot == NONE) {
        rc =
            ta_error_set(err, TA_ENOTFOUND, "hnsw: no vector with id %llu", (unsigned long long)id);
        goto out;
    }
    scratch *s = scratch_get(h);
    if (!s || ensure_free_room(h) || scratch_fit(h, s, h->p.ef_construction)) {
        if (s) scratch_put(h, s);
        rc = ta_error_set(err, TA_ENOMEM, "hnsw: out of memory");
        goto out;
    }
    rc = remove_slot(h, s, slot);
    scratch_put(h, s);
    if (rc) ta_error_set(err, rc, "hnsw: out of memory");
out:
    pthread_mutex_unlock(&h->wmu);
    return rc;
}

/* ---- readers ---- */

bool ta_hnsw_contains(const ta_hnsw *h, uint64_t id)
{
    ta_hnsw *w = (ta_hnsw *)h;
    pthread_rwlock_rdlock(&w->rw);
    bool r = map_get(h, id) != NONE;
    pthread_rwlock_unlock(&w->rw);
    return r;
}

size_t ta_hnsw_count(const ta_hnsw *h)
{
    ta_hnsw *w = (ta_hnsw *)h;
    pthread_rwlock_rdlock(&w->rw);
    size_t n = h->n_live;
    pthread_rwlock_unlock(&w->rw);
    return n;
}

uint64_t ta_hnsw_tag(const ta_hnsw *h)
{
    ta_hnsw *w = (ta_hnsw *)h;
    pthread_rwlock_rdlock(&w->rw);
    uint64_t t = h->tag;
    pthread_rwlock_unlock(&w->rw);
    return t;
}

void ta_hnsw_set_tag(ta_hnsw *h, uint64_t tag)
{
    pthread_mutex_lock(&h->wmu);
    pthread_rwlock_wrlock(&h->rw);
    h->tag = tag;
    pthread_rwlock_unlock(&h->rw);
    pthread_mutex_unlock(&h->wmu);
}

bool ta_hnsw_filter_allow(uint64_t id, void *ud)
{
    const ta_hnsw_allow *a = ud;
    size_t lo = 0, hi = a->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a->ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < a->n && a->ids[lo] == id;
}

/* Replaces the walking distances of the n candidates c[] by the stored (float32) ones
 * to q and sorts them nearest first. */
static void rerank(const ta_hnsw *h, const qv *q, cand *c, uint32_t n)
{
    enum { AHEAD = 4 };
    for (uint32_t i = 0; i < n && i < AHEAD; i++)
        prefetch_vec(h, q, c[i].id);
    for (uint32_t i = 0; i < n; i++) {
        if (i + AHEAD < n) prefetch_vec(h, q, c[i + AHEAD].id);
        c[i].d = dist_qn(h, q, c[i].id);
    }
    qsort(c, n, sizeof *c, cand_cmp);
}

int ta_hnsw_search(const ta_hnsw *h, const float *query, uint32_t k, uint32_t ef,
                   ta_hnsw_filter filter, void *ud, ta_hnsw_hit *out, uint32_t *n_out,
                   ta_error *err)
{
    if (n_out) *n_out = 0;
    if (!h || !query || !out || !n_out)
        return ta_error_set(err, TA_EINVAL, "hnsw search: missing index, query or output");
    if (k == 0) return ta_error_set(err, TA_EINVAL, "hnsw search: k must be at least 1");
    if (ef == 0) ef = k > h->p.ef_search ? k : h->p.ef_search;
    if (ef < k)
        return ta_error_set(err, TA_EINVAL, "hnsw search: ef (%u) must be at least k (%u)", ef, k);
    if (ef > TA_HNSW_MAX_EF)
        return ta_error_set(err, TA_EINVAL, "hnsw search: ef (%u) exceeds %u", ef, TA_HNSW_MAX_EF);
    scratch *s = scratch_get(h);
    if (!s) return ta_error_set(err, TA_ENOMEM, "hnsw search: out of memory");
    qv q = {s->qbuf, 0, 0, false};
    int rc = encode(h, query, !stores_f32(h), s->qbuf, &q.scale, &q.norm2, "query", err);
    if (rc) {
        scratch_put(h, s);
        return rc;
    }
    qv qw = q; /* what the walk measures with: the int8 form where there is a copy */
    if (h->walk_stride) {
        qw = (qv){(uint8_t *)s->qbuf + h->vec_stride, 0, 0, true};
        quantize_walk(h, q.v, (int8_t *)qw.v, &qw.scale, &qw.norm2);
    }
    ta_hnsw *w = (ta_hnsw *)h;
    pthread_rwlock_rdlock(&w->rw);
    if (h->entry != NONE) {
        rc = scratch_fit(h, s, ef);
        if (!rc) {
            uint32_t ep = h->entry;
            float dep = dist_qn(h, &qw, ep);
            ep = descend(h, &qw, ep, &dep, h->max_level, 0);
            rc = search_layer(h, s, &qw, ep, dep, 0, ef, filter, ud, NONE);
        }
        if (rc >= 0) {
            uint32_t nres = (uint32_t)rc;
            if (qw.walk) {
                rerank(h, &q, s->res, nres);
                if (nres > k) nres = k;
                for (uint32_t i = 0; i < nres; i++)
                    out[i] = (ta_hnsw_hit){h->ids[s->res[i].id], s->res[i].d};
                *n_out = nres;
            } else {
                while (nres > k)
                    heap_pop(s->res, &nres);
                for (uint32_t i = nres; i-- > 0;) {
                    cand c = heap_pop(s->res, &nres);
                    out[i] = (ta_hnsw_hit){h->ids[c.id], c.d};
                    (*n_out)++;
                }
            }
            rc = 0;
        } else {
            ta_error_set(err, rc, "hnsw search: out of memory");
        }
    }
    pthread_rwlock_unlock(&w->rw);
    scratch_put(h, s);
    return rc;
}

/* ---- persistence ---- */

/* The checksum: a 64-bit hash with xxHash64's round structure and primes (four lanes of
 * multiply-rotate over 32-byte stripes, then the tail and an avalanche). */
#define P1 0x9E3779B185EBCA87ull
#define P2 0xC2B2AE3D27D4EB4Full
#define P3 0x165667B19E3779F9ull
#define P4 0x85EBCA77C2B2AE63ull
#define P5 0x27D4EB2F165667C5ull

typedef struct hasher {
    uint64_t v[4], total;
} hasher;

static inline uint64_t rotl64(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

static inline uint64_t rd64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint64_t hround(uint64_t acc, uint64_t in)
{
    return rotl64(acc + in * P2, 31) * P1;
}

static void hash_init(hasher *s)
{
    s->v[0] = P1 + P2;
    s->v[1] = P2;
    s->v[2] = 0;
    s->v[3] = 0 - P1;
    s->total = 0;
}

/* n a multiple of 32. */
static void hash_stripes(hasher *s, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i + 32 <= n; i += 32)
        for (int l = 0; l < 4; l++)
            s->v[l] = hround(s->v[l], rd64(p + i + 8 * l));
    s->total += n;
}

static uint64_t hash_final(hasher *s, const uint8_t *p, size_t n)
{
    size_t full = n / 32 * 32;
    hash_stripes(s, p, full);
    p += full;
    n -= full;
    uint64_t h =
        rotl64(s->v[0], 1) + rotl64(s->v[1], 7) + rotl64(s->v[2], 12) + rotl64(s->v[3], 18);
    for (int l = 0; l < 4; l++)
        h = (h ^ hround(0, s->v[l])) * P1 + P4;
    h += s->total + n;
    for (; n >= 8; n -= 8, p += 8)
        h = rotl64(h ^ hround(0, rd64(p)), 27) * P1 + P4;
    for (; n > 0; n--, p++)
        h = rotl64(h ^ (*p * P5), 11) * P1;
    h ^= h >> 33;
    h *= P2;
    h ^= h >> 29;
    h *= P3;
    return h ^ (h >> 32);
}

void ta_hnsw_image_reseal(void *buf, size_t len)
{
    if (!buf || len < HEADER_SIZE) return;
    hasher s;
    hash_init(&s);
    uint64_t sum = hash_final(&s, (const uint8_t *)buf + HASH_FROM, len - HASH_FROM);
    memcpy((uint8_t *)buf + 16, &sum, 8);
}

/* A buffered file writer that hashes everything from HASH_FROM on. Every flush but the
 * last is a multiple of 32 bytes past HASH_FROM (the buffer is). */
#define WBUF (1u << 20)
typedef struct fwriter {
    int fd, err;
    uint8_t *buf;
    size_t len, off; /* bytes buffered; file offset of buf[0] */
    hasher hs;
} fwriter;

static void fw_flush(fwriter *w, bool last)
{
    if (w->err) return;
    size_t from = w->off == 0 ? HASH_FROM : 0;
    if (!last) hash_stripes(&w->hs, w->buf + from, w->len - from);
    for (size_t done = 0; done < w->len;) {
        ssize_t k = write(w->fd, w->buf + done, w->len - done);
        if (k < 0) {
            if (errno == EINTR) continue;
            w->err = errno;
            return;
        }
        done += (size_t)k;
    }
    w->off += w->len;
    if (!last) w->len = 0;
}

static void fw_put(fwriter *w, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n && !w->err) {
        size_t room = WBUF - w->len, k = n < room ? n : room;
        memcpy(w->buf + w->len, b, k);
        w->len += k;
        b += k;
        n -= k;
        if (w->len == WBUF) fw_flush(w, false);
    }
}

static void put32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

static int write_image(const ta_hnsw *h, fwriter *w)
{
    uint8_t hd[HEADER_SIZE] = {0};
    memcpy(hd, MAGIC, 8);
    put32(hd + 8, FORMAT_VER);
    put32(hd + 12, HEADER_SIZE);
    /* 16: checksum, written last; 24: reserved */
    put32(hd + 32, h->p.dim);
    put32(hd + 36, (uint32_t)h->p.dist);
    put32(hd + 40, (uint32_t)h->p.storage);
    put32(hd + 44, h->p.M);
    put32(hd + 48, h->p.ef_construction);
    put32(hd + 52, h->p.ef_search);
    put64(hd + 56, h->p.seed);
    put64(hd + 64, h->rng);
    put64(hd + 72, h->tag);
    put32(hd + 80, h->n);
    put32(hd + 84, h->entry);
    put32(hd + 88, (uint32_t)h->max_level);
    put32(hd + 92, (uint32_t)h->n_live);
    fw_put(w, hd, sizeof hd);
    fw_put(w, h->ids, (size_t)h->n * 8);
    fw_put(w, h->level, h->n);
    fw_put(w, h->dead, h->n);
    for (uint32_t i = 0; i < h->n; i++)
        fw_put(w, vec_at(h, i), h->vec_bytes);
    if (h->qnorm) fw_put(w, h->qnorm, (size_t)h->n * 8);
    fw_put(w, h->links0, (size_t)h->n * h->link0_stride * 4);
    for (uint32_t i = 0; i < h->n; i++)
        if (h->level[i]) fw_put(w, h->upper[i], (size_t)h->level[i] * h->up_stride * 4);
    size_t from = w->off == 0 ? HASH_FROM : 0;
    uint64_t sum = hash_final(&w->hs, w->buf + from, w->len - from);
    fw_flush(w, true);
    if (!w->err && pwrite(w->fd, &sum, 8, 16) != 8) w->err = errno ? errno : EIO;
    return w->err;
}

int ta_hnsw_save(const ta_hnsw *h, const char *path, ta_error *err)
{
    if (!h || !path) return ta_error_set(err, TA_EINVAL, "hnsw save: no index or path");
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
    return ta_error_set(err, TA_EINTERNAL, "hnsw save: big-endian hosts are not supported");
#endif
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    uint8_t *buf = malloc(WBUF);
    if (!tmp || !buf) {
        free(tmp);
        free(buf);
        return ta_error_set(err, TA_ENOMEM, "hnsw save: out of memory");
    }
    snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        free(buf);
        return ta_error_set(err, TA_EIO, "hnsw save: cannot create a file beside %s: %s", path,
                            strerror(e));
    }
    ta_hnsw *mh = (ta_hnsw *)h;
    pthread_mutex_lock(&mh->wmu); /* a still graph; readers go on */
    fwriter w = {.fd = fd, .buf = buf};
    hash_init(&w.hs);
    int e = write_image(h, &w);
    pthread_mutex_unlock(&mh->wmu);
    if (!e && fsync(fd) < 0) e = errno;
    if (close(fd) < 0 && !e) e = errno;
    if (!e && rename(tmp, path) < 0) e = errno;
    free(buf);
    if (e) {
        unlink(tmp);
        free(tmp);
        return ta_error_set(err, TA_EIO, "hnsw save: writing %s: %s", path, strerror(e));
    }
    free(tmp);
    /* Make the rename itself durable. */
    char *dir = strdup(path);
    if (dir) {
        char *slash = strrchr(dir, '/');
        const char *d = ".";
        if (slash == dir)
            d = "/";
        else if (slash)
            *slash = '\0', d = dir;
        int dfd = open(d, O_RDONLY | O_DIRECTORY);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
        free(dir);
    }
    return 0;
}

static uint32_t get32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

#define BAD(...)                                                                                   \
    do {                                                                                           \
        ta_error_set(err, TA_EINVAL, "hnsw load: " __VA_ARGS__);                                   \
        goto fail;                                                                                 \
    } while (0)

ta_hnsw *ta_hnsw_load_mem(const void *data, size_t len, ta_error *err)
{
    const uint8_t *b = data;
    ta_hnsw *h = NULL;
    if (!b || len < HEADER_SIZE) BAD("file too short for a header (%zu bytes)", len);
    if (memcmp(b, MAGIC, 8) != 0) BAD("not an index file (bad magic)");
    if (get32(b + 8) != FORMAT_VER) BAD("unsupported format version %u", get32(b + 8));
    if (get32(b + 12) != HEADER_SIZE) BAD("bad header size %u", get32(b + 12));
    hasher hs;
    hash_init(&hs);
    if (hash_final(&hs, b + HASH_FROM, len - HASH_FROM) != get64(b + 16))
        BAD("checksum mismatch: the file is corrupt or truncated");

    ta_hnsw_params p = {
        .dim = get32(b + 32),
        .dist = (ta_dist)get32(b + 36),
        .storage = (ta_vec_storage)get32(b + 40),
        .M = get32(b + 44),
        .ef_construction = get32(b + 48),
        .ef_search = get32(b + 52),
        .seed = get64(b + 56),
    };
    uint32_t n = get32(b + 80), entry = get32(b + 84), max_level = get32(b + 88);
    uint32_t n_live = get32(b + 92);
    if (get32(b + 36) > TA_DIST_COSINE || get32(b + 40) > TA_VEC_F32_I8 || p.M < 2 ||
        p.ef_construction == 0 || p.ef_search == 0)
        BAD("bad parameters in header");
    ta_error perr = {0};
    if (check_params(&p, &perr)) BAD("%s", perr.message);
    if (n > MAX_NODES || n_live > n) BAD("bad counts (%u slots, %u live)", n, n_live);
    if (n == 0 ? (entry != NONE || max_level != UINT32_MAX) : (entry >= n || max_level > MAX_LEVEL))
        BAD("bad entry point %u or top level %d", entry, (int)max_level);

    h = ta_hnsw_new(&p, err);
    if (!h) return NULL;
    size_t body = len - HEADER_SIZE;
    size_t fixed = (size_t)n * (8 + 2 + h->vec_bytes + h->link0_stride * 4) +
                   (p.storage == TA_VEC_I8 ? (size_t)n * 8 : 0);
    if (fixed > body) BAD("file too short for %u vectors", n);
    if (grow(h, n ? n : 1)) { /* never NULL arrays, even for an empty index */
        ta_error_set(err, TA_ENOMEM, "hnsw load: out of memory");
        goto fail;
    }
    const uint8_t *at = b + HEADER_SIZE;
    memcpy(h->ids, at, (size_t)n * 8);
    at += (size_t)n * 8;
    memcpy(h->level, at, n);
    at += n;
    memcpy(h->dead, at, n);
    at += n;
    size_t upper_bytes = 0, live = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (h->level[i] > MAX_LEVEL) BAD("slot %u: level %u too high", i, h->level[i]);
        if (h->dead[i] > 1) BAD("slot %u: bad tombstone flag", i);
        upper_bytes += (size_t)h->level[i] * h->up_stride * 4;
        live += !h->dead[i];
    }
    if (live != n_live) BAD("live count %u does not match the tombstones", n_live);
    if (n && h->level[entry] != max_level) BAD("entry point is not on the top level");
    if (n_live && h->dead[entry]) BAD("entry point is removed while live vectors remain");
    if (fixed + upper_bytes != body)
        BAD("body is %zu bytes, expected %zu", body, fixed + upper_bytes);
    h->n = n; /* from here ta_hnsw_free frees the upper lists */
    for (uint32_t i = 0; i < n; i++, at += h->vec_bytes) {
        memcpy(h->vecs + (size_t)i * h->vec_stride, at, h->vec_bytes);
        if (stores_f32(h)) {
            const float *f = (const float *)(h->vecs + (size_t)i * h->vec_stride);
            for (uint32_t j = 0; j < p.dim; j++)
                if (!isfinite(f[j])) BAD("slot %u: vector is not finite", i);
        } else {
            const int8_t *q = (const int8_t *)(h->vecs + (size_t)i * h->vec_stride);
            for (uint32_t j = 0; j < p.dim; j++)
                if (q[j] == -128) BAD("slot %u: int8 value out of range", i);
        }
    }
    for (uint32_t i = 0; h->walk && i < n; i++) {
        quantize_walk(h, (const float *)vec_at(h, i), walk_at(h, i), &h->walk_qn[2 * (size_t)i],
                      &h->walk_qn[2 * (size_t)i + 1]);
    }
    if (p.storage == TA_VEC_I8) {
        memcpy(h->qnorm, at, (size_t)n * 8);
        at += (size_t)n * 8;
        for (uint32_t i = 0; i < 2 * n; i++)
            if (!isfinite(h->qnorm[i]) || h->qnorm[i] < 0) BAD("slot %u: bad scale", i / 2);
    }
    memcpy(h->links0, at, (size_t)n * h->link0_stride * 4);
    at += (size_t)n * h->link0_stride * 4;
    for (uint32_t i = 0; i < n; i++) {
        if (!h->level[i]) continue;
        size_t words = (size_t)h->level[i] * h->up_stride;
        h->upper[i] = malloc(words * 4);
        if (!h->upper[i]) {
            ta_error_set(err, TA_ENOMEM, "hnsw load: out of memory");
            goto fail;
        }
        memcpy(h->upper[i], at, words * 4);
        at += words * 4;
    }
    for (uint32_t i = 0; i < n; i++) {
        for (int lc = 0; lc <= h->level[i]; lc++) {
            const uint32_t *l = links_at(h, i, lc);
            if (l[0] > max_links(h, lc)) BAD("slot %u level %d: %u links", i, lc, l[0]);
            for (uint32_t j = 1; j <= l[0]; j++)
                if (l[j] >= n || h->level[l[j]] < lc)
                    BAD("slot %u level %d: bad neighbor %u", i, lc, l[j]);
        }
    }
    for (uint32_t i = 0; i < n; i++) {
        if (h->dead[i]) {
            if (i == entry) continue;
            if (ensure_free_room(h)) {
                ta_error_set(err, TA_ENOMEM, "hnsw load: out of memory");
                goto fail;
            }
            h->free_slots[h->n_free++] = i;
            continue;
        }
        if (map_reserve(h)) {
            ta_error_set(err, TA_ENOMEM, "hnsw load: out of memory");
            goto fail;
        }
        if (map_put(h, h->ids[i], i)) BAD("id %llu appears twice", (unsigned long long)h->ids[i]);
    }
    h->entry = entry;
    h->max_level = n ? (int)max_level : -1;
    h->n_live = n_live;
    h->rng = get64(b + 64);
    h->tag = get64(b + 72);
    return h;
fail:
    ta_hnsw_free(h);
    return NULL;
}

ta_hnsw *ta_hnsw_load(const char *path, ta_error *err)
{
    if (!path) {
        ta_error_set(err, TA_EINVAL, "hnsw load: no path");
        return NULL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        ta_error_set(err, e == ENOENT ? TA_ENOTFOUND : TA_EIO, "hnsw load: %s: %s", path,
                     strerror(e));
        return NULL;
    }
    struct stat st;
    uint8_t *buf = NULL;
    ta_hnsw *h = NULL;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        ta_error_set(err, TA_EIO, "hnsw load: %s: not a readable file", path);
        goto out;
    }
    size_t len = (size_t)st.st_size;
    buf = malloc(len ? len : 1);
    if (!buf) {
        ta_error_set(err, TA_ENOMEM, "hnsw load: %s: out of memory (%zu bytes)", path, len);
        goto out;
    }
    for (size_t done = 0; done < len;) {
        ssize_t k = read(fd, buf + done, len - done);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            ta_error_set(err, TA_EIO, "hnsw load: %s: read failed", path);
            goto out;
        }
        done += (size_t)k;
    }
    h = ta_hnsw_load_mem(buf, len, err);
    if (!h) ta_error_prefix(err, "%s", path);
out:
    free(buf);
    close(fd);
    return h;
}
