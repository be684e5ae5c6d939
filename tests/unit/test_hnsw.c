/*
 * test_hnsw.c - the vector index (src/index/): every SIMD distance kernel against the
 * scalar one; recall@10 against brute force for the three metrics in float32 and int8;
 * updates and removals (never returned, recall kept, slots reused); filtered search by
 * predicate and allow-list; save/load round trips and the refusal of corrupt, truncated
 * and foreign files; searches on two threads while a third adds; bad input.
 */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "index/distance.h"
#include "index/hnsw.h"

typedef struct {
    uint64_t s;
} rng;

static uint64_t rng_next(rng *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 0x2545f4914f6cdd1dull;
}

static double rng_unit(rng *r)
{
    return ((double)(rng_next(r) >> 11) + 0.5) / 9007199254740992.0;
}

static float rng_normal(rng *r)
{
    double u1 = rng_unit(r), u2 = rng_unit(r);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

/* n clustered, L2-normalized vectors of dim d: 50 Gaussian centers, points spread
 * around them (the shape of sentence embeddings, in small). */
static float *make_data(rng *r, size_t n, uint32_t d, float spread)
{
    enum { CLUSTERS = 50 };
    float *c = malloc(sizeof(float) * CLUSTERS * d);
    float *x = malloc(sizeof(float) * n * d);
    assert_non_null(c);
    assert_non_null(x);
    for (size_t i = 0; i < (size_t)CLUSTERS * d; i++)
        c[i] = rng_normal(r);
    for (size_t i = 0; i < n; i++) {
        const float *ci = c + (rng_next(r) % CLUSTERS) * d;
        double ss = 0;
        for (uint32_t j = 0; j < d; j++) {
            float v = ci[j] + spread * rng_normal(r);
            x[i * d + j] = v;
            ss += (double)v * v;
        }
        for (uint32_t j = 0; j < d; j++)
            x[i * d + j] /= (float)sqrt(ss);
    }
    free(c);
    return x;
}

static double metric(ta_dist m, const float *a, const float *b, uint32_t d)
{
    double dot = 0, l2 = 0, na = 0, nb = 0;
    for (uint32_t j = 0; j < d; j++) {
        dot += (double)a[j] * b[j];
        l2 += ((double)a[j] - b[j]) * ((double)a[j] - b[j]);
        na += (double)a[j] * a[j];
        nb += (double)b[j] * b[j];
    }
    if (m == TA_DIST_L2) return l2;
    if (m == TA_DIST_IP) return -dot;
    return 1.0 - dot / sqrt(na * nb);
}

typedef bool (*keep_fn)(uint64_t id, void *ud);

/* Brute-force k nearest ids among x[0..n) (id = index) that keep() accepts. */
static void brute(ta_dist m, const float *x, size_t n, uint32_t d, const float *q, uint32_t k,
                  keep_fn keep, void *ud, uint64_t *out)
{
    double *best = malloc(sizeof(double) * k);
    for (uint32_t i = 0; i < k; i++) {
        best[i] = INFINITY;
        out[i] = UINT64_MAX;
    }
    for (size_t i = 0; i < n; i++) {
        if (keep && !keep(i, ud)) continue;
        double dd = metric(m, x + i * d, q, d);
        if (dd >= best[k - 1]) continue;
        uint32_t j = k - 1;
        while (j > 0 && best[j - 1] > dd) {
            best[j] = best[j - 1];
            out[j] = out[j - 1];
            j--;
        }
        best[j] = dd;
        out[j] = i;
    }
    free(best);
}

static ta_hnsw *build(ta_dist m, ta_vec_storage st, const float *x, size_t n, uint32_t d)
{
    ta_hnsw_params p = {
        .dim = d, .dist = m, .storage = st, .M = 16, .ef_construction = 100, .seed = 42};
    ta_error err = {0};
    ta_hnsw *h = ta_hnsw_new(&p, &err);
    assert_non_null(h);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ta_hnsw_add(h, i, x + i * d, &err), 0);
    assert_int_equal(ta_hnsw_count(h), n);
    return h;
}

/* Mean recall@k of nq queries q against brute force over x[0..n). */
static double recall(const ta_hnsw *h, ta_dist m, const float *x, size_t n, uint32_t d,
                     const float *q, size_t nq, uint32_t k, uint32_t ef, keep_fn keep, void *ud)
{
    uint64_t truth[64];
    ta_hnsw_hit hits[64];
    size_t found = 0, want = 0;
    for (size_t i = 0; i < nq; i++) {
        brute(m, x, n, d, q + i * d, k, keep, ud, truth);
        uint32_t nh = 0;
        ta_error err = {0};
        assert_int_equal(ta_hnsw_search(h, q + i * d, k, ef, keep, ud, hits, &nh, &err), 0);
        for (uint32_t j = 0; j < nh; j++) {
            if (keep) assert_true(keep(hits[j].id, ud));
            if (j) assert_true(hits[j].distance >= hits[j - 1].distance);
        }
        for (uint32_t a = 0; a < k; a++) {
            if (truth[a] == UINT64_MAX) continue;
            want++;
            for (uint32_t b = 0; b < nh; b++)
                found += hits[b].id == truth[a];
        }
    }
    return want ? (double)found / (double)want : 1.0;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc(*len + 1);
    assert_int_equal(fread(b, 1, *len, f), *len);
    fclose(f);
    return b;
}

static void spit(const char *path, const void *b, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, len, f), len);
    fclose(f);
}

/* ---- distances ---- */

static void test_distance_kernels(void **state)
{
    (void)state;
    const ta_dist_kernels *ref = ta_dist_kernels_scalar();
    /* The AVX-512 set takes the VNNI int8 product where the CPU has it; the AVX512-BW one
     * is checked on its own too. */
    const ta_dist_kernels *k512 = ta_dist_kernels_avx512(), *bw = NULL;
#if defined(__x86_64__) || defined(_M_X64)
    static ta_dist_kernels bw_set;
    bw_set = (ta_dist_kernels){.name = "avx512 (bw)",
                               .l2sq_f32 = ta_dist_l2sq_f32_avx512,
                               .dot_f32 = ta_dist_dot_f32_avx512,
                               .dot_i8 = ta_dist_dot_i8_avx512};
    if (k512) bw = &bw_set;
#endif
    const ta_dist_kernels *sets[] = {ta_dist_kernels_avx2(), k512, bw, ta_dist_kernels_best()};
    static const char *const set_names[] = {"avx2", "avx512", "avx512", "best"};
    rng r = {0x1234567};
    float *a = malloc(sizeof(float) * 515), *b = malloc(sizeof(float) * 515);
    int8_t *qa = malloc(515), *qb = malloc(515);
    for (size_t si = 0; si < sizeof sets / sizeof *sets; si++) {
        const ta_dist_kernels *k = sets[si];
        if (!k) {
            fprintf(stderr, "  (no %s on this CPU: skipped)\n", set_names[si]);
            continue;
        }
        for (uint32_t n = 1; n <= 515; n++) {
            double mag = 0;
            for (uint32_t i = 0; i < n; i++) {
                a[i] = rng_normal(&r);
                b[i] = rng_normal(&r);
                mag += fabs((double)a[i] * b[i]) + (double)a[i] * a[i] + (double)b[i] * b[i];
            }
            double tol = 1e-5 * mag + 1e-6;
            assert_true(fabs(k->l2sq_f32(a, b, n) - ref->l2sq_f32(a, b, n)) <= tol);
            assert_true(fabs(k->dot_f32(a, b, n) - ref->dot_f32(a, b, n)) <= tol);
            /* Pair kernels: the single kernel's values bit for bit, either order. */
            if (k->l2sq_f32_x2) {
                float two[2];
                k->l2sq_f32_x2(a, b, a, n, two);
                assert_true(two[0] == k->l2sq_f32(a, b, n) && two[1] == k->l2sq_f32(a, a, n));
                k->l2sq_f32_x2(b, a, b, n, two);
                assert_true(two[0] == k->l2sq_f32(b, a, n) && two[1] == 0.0f);
            }
            if (k->dot_f32_x2) {
                float two[2];
                k->dot_f32_x2(a, b, a, n, two);
                assert_true(two[0] == k->dot_f32(a, b, n) && two[1] == k->dot_f32(a, a, n));
            }
            for (uint32_t i = 0; i < n; i++) {
                qa[i] = (int8_t)rng_next(&r);
                qb[i] = (int8_t)rng_next(&r);
            }
            assert_int_equal(k->dot_i8(qa, qb, n), ref->dot_i8(qa, qb, n));
            /* Extremes: every product at its largest, both signs. */
            memset(qa, 0x80, n); /* -128 */
            memset(qb, 0x80, n);
            assert_int_equal(k->dot_i8(qa, qb, n), (int32_t)n * 16384);
            memset(qb, 127, n);
            assert_int_equal(k->dot_i8(qa, qb, n), -(int32_t)n * 16256);
            assert_int_equal(ref->dot_i8(qa, qb, n), -(int32_t)n * 16256);
        }
    }
    free(a);
    free(b);
    free(qa);
    free(qb);
}

/* ---- recall ---- */

#define RN 5000
#define RQ 200
#define RD 64

typedef struct {
    float *x, *q;
} dataset;

static int ds_setup(void **state)
{
    dataset *ds = malloc(sizeof *ds);
    rng r = {0xfeedbeef};
    /* One draw for base and queries, so the queries come from the same clusters. */
    float *all = make_data(&r, RN + RQ, RD, 0.5f);
    ds->x = all;
    ds->q = all + (size_t)RN * RD;
    *state = ds;
    return 0;
}

static int ds_teardown(void **state)
{
    dataset *ds = *state;
    free(ds->x);
    free(ds);
    return 0;
}

static const char *storage_name(ta_vec_storage st)
{
    return st == TA_VEC_F32 ? "f32" : st == TA_VEC_I8 ? "i8" : "f32+i8";
}

/* Every hit's distance is the float32 metric of its vector, up to rounding (indexes
 * that keep float32 vectors return exact distances, walking copy or not). */
static void check_exact_distances(const ta_hnsw *h, ta_dist m, const float *x, const float *q,
                                  size_t nq)
{
    for (size_t i = 0; i < nq; i++) {
        ta_hnsw_hit hits[10];
        uint32_t nh = 0;
        ta_error err = {0};
        assert_int_equal(ta_hnsw_search(h, q + i * RD, 10, 32, NULL, NULL, hits, &nh, &err), 0);
        assert_int_equal(nh, 10);
        for (uint32_t j = 0; j < nh; j++) {
            double want = metric(m, x + hits[j].id * RD, q + i * RD, RD);
            assert_true(fabs(hits[j].distance - want) <= 1e-5 * (1 + fabs(want)));
        }
    }
}

static void check_recall(dataset *ds, ta_vec_storage st, double floor)
{
    static const ta_dist ms[] = {TA_DIST_L2, TA_DIST_COSINE, TA_DIST_IP};
    static const char *names[] = {"l2", "cosine", "ip"};
    for (int i = 0; i < 3; i++) {
        ta_hnsw *h = build(ms[i], st, ds->x, RN, RD);
        double rc = recall(h, ms[i], ds->x, RN, RD, ds->q, RQ, 10, 64, NULL, NULL);
        double lo = recall(h, ms[i], ds->x, RN, RD, ds->q, RQ, 10, 10, NULL, NULL);
        fprintf(stderr, "  %s %s recall@10 ef=64: %.3f (ef=10: %.3f)\n", storage_name(st), names[i],
                rc, lo);
        assert_true(rc >= floor);
        if (st != TA_VEC_I8) check_exact_distances(h, ms[i], ds->x, ds->q, RQ);
        ta_hnsw_free(h);
    }
}

static void test_recall_f32(void **state)
{
    check_recall(*state, TA_VEC_F32, 0.95);
}

static void test_recall_i8(void **state)
{
    check_recall(*state, TA_VEC_I8, 0.90);
}

static void test_recall_f32_i8(void **state)
{
    check_recall(*state, TA_VEC_F32_I8, 0.95);
}

/* float32 + int8 builds on the float32 vectors: the same inserts give the same graph as
 * float32 alone, byte for byte in the saved file past the storage field and checksum;
 * and walking the int8 copy finds nearly what walking the floats does. */
static void test_f32_i8_same_graph(void **state)
{
    dataset *ds = *state;
    char dir[] = "/tmp/ta_hnsw_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char pa[128], pb[128];
    snprintf(pa, sizeof pa, "%s/a.hnsw", dir);
    snprintf(pb, sizeof pb, "%s/b.hnsw", dir);
    ta_error err = {0};
    ta_hnsw *a = build(TA_DIST_COSINE, TA_VEC_F32, ds->x, 2000, RD);
    ta_hnsw *b = build(TA_DIST_COSINE, TA_VEC_F32_I8, ds->x, 2000, RD);
    for (uint64_t id = 0; id < 2000; id += 9) { /* removals repair the same way too */
        assert_int_equal(ta_hnsw_remove(a, id, &err), 0);
        assert_int_equal(ta_hnsw_remove(b, id, &err), 0);
    }
    assert_int_equal(ta_hnsw_save(a, pa, &err), 0);
    assert_int_equal(ta_hnsw_save(b, pb, &err), 0);
    size_t la, lb;
    char *ia = slurp(pa, &la), *ib = slurp(pb, &lb);
    assert_int_equal(la, lb);
    uint32_t sa, sb;
    memcpy(&sa, ia + 40, 4);
    memcpy(&sb, ib + 40, 4);
    assert_int_equal(sa, TA_VEC_F32);
    assert_int_equal(sb, TA_VEC_F32_I8);
    assert_memory_equal(ia + 24, ib + 24, 16);
    assert_memory_equal(ia + 44, ib + 44, la - 44);
    double ra = recall(a, TA_DIST_COSINE, ds->x, 2000, RD, ds->q, RQ, 10, 16, NULL, NULL);
    double rb = recall(b, TA_DIST_COSINE, ds->x, 2000, RD, ds->q, RQ, 10, 16, NULL, NULL);
    fprintf(stderr, "  recall@10 ef=16 over one graph: f32 walk %.3f, int8 walk %.3f\n", ra, rb);
    assert_true(rb >= ra - 0.02);
    free(ia);
    free(ib);
    ta_hnsw_free(a);
    ta_hnsw_free(b);
    unlink(pa);
    unlink(pb);
    rmdir(dir);
}

/* Vectors of tiny values (a scale of max |x| / 127 that is subnormal) quantize to their
 * values, not to -127 everywhere as an infinite inverse scale made them. */
static void test_tiny_vectors(void **state)
{
    (void)state;
    static const ta_vec_storage sts[] = {TA_VEC_I8, TA_VEC_F32_I8};
    for (int si = 0; si < 2; si++) {
        ta_hnsw_params p = {.dim = 4, .dist = TA_DIST_IP, .storage = sts[si]};
        ta_error err = {0};
        ta_hnsw *h = ta_hnsw_new(&p, &err);
        assert_non_null(h);
        float a[4] = {1e-38f, 0, 0, 0}, b[4] = {-1e-38f, 0, 0, 0}, q[4] = {1, 0, 0, 0};
        assert_int_equal(ta_hnsw_add(h, 1, a, &err), 0);
        assert_int_equal(ta_hnsw_add(h, 2, b, &err), 0);
        ta_hnsw_hit hits[2];
        uint32_t nh = 0;
        assert_int_equal(ta_hnsw_search(h, q, 2, 0, NULL, NULL, hits, &nh, &err), 0);
        assert_int_equal(nh, 2);
        assert_int_equal(hits[0].id, 1);
        assert_true(hits[0].distance < 0 && hits[1].distance > 0);
        assert_true(fabsf(hits[0].distance + 1e-38f) < 1e-40f);
        ta_hnsw_free(h);
    }
}

/* ---- updates and removals ---- */

static bool not_removed(uint64_t id, void *ud)
{
    (void)ud;
    return id % 5 != 0;
}

static void update_remove(dataset *ds, ta_vec_storage st)
{
    const size_t n = 2000;
    ta_error err = {0};
    ta_hnsw *h = build(TA_DIST_L2, st, ds->x, n, RD);
    float *x = malloc(sizeof(float) * n * RD);
    memcpy(x, ds->x, sizeof(float) * n * RD);

    /* Re-adding an id replaces its vector. */
    const float *nv = ds->q; /* a vector not in the index */
    assert_int_equal(ta_hnsw_add(h, 7, nv, &err), 0);
    memcpy(x + 7 * RD, nv, sizeof(float) * RD);
    assert_int_equal(ta_hnsw_count(h), n);
    ta_hnsw_hit hits[10];
    uint32_t nh = 0;
    assert_int_equal(ta_hnsw_search(h, nv, 10, 64, NULL, NULL, hits, &nh, &err), 0);
    assert_int_equal(nh, 10);
    assert_int_equal(hits[0].id, 7);
    assert_true(hits[0].distance < 1e-5f);
    for (uint32_t j = 1; j < nh; j++)
        assert_int_not_equal(hits[j].id, 7);

    /* Remove 20%: never returned, recall kept. */
    for (uint64_t id = 0; id < n; id += 5)
        assert_int_equal(ta_hnsw_remove(h, id, &err), 0);
    assert_int_equal(ta_hnsw_count(h), n - n / 5);
    assert_false(ta_hnsw_contains(h, 5));
    assert_true(ta_hnsw_contains(h, 6));
    assert_int_equal(ta_hnsw_remove(h, 5, &err), TA_ENOTFOUND);
    assert_int_equal(ta_hnsw_remove(h, 999999, &err), TA_ENOTFOUND);
    double rc = recall(h, TA_DIST_L2, x, n, RD, ds->q + RD, 100, 10, 64, not_removed, NULL);
    fprintf(stderr, "  recall@10 after removing 20%%: %.3f\n", rc);
    assert_true(rc >= 0.9);
    /* And without the test's own filter: no removed id ever comes back. */
    for (int i = 0; i < 100; i++) {
        assert_int_equal(
            ta_hnsw_search(h, ds->q + (size_t)i * RD, 10, 32, NULL, NULL, hits, &nh, &err), 0);
        assert_int_equal(nh, 10);
        for (uint32_t j = 0; j < nh; j++)
            assert_int_not_equal(hits[j].id % 5, 0);
    }

    /* New ids reuse the tombstones; everything is found again. */
    for (uint64_t id = 0; id < n; id += 5)
        assert_int_equal(ta_hnsw_add(h, id, x + id * RD, &err), 0);
    assert_int_equal(ta_hnsw_count(h), n);
    rc = recall(h, TA_DIST_L2, x, n, RD, ds->q + RD, 100, 10, 64, NULL, NULL);
    fprintf(stderr, "  recall@10 after adding them back: %.3f\n", rc);
    assert_true(rc >= 0.9);

    /* Remove everything: searches find nothing; the index still takes new vectors. */
    for (uint64_t id = 0; id < n; id++)
        assert_int_equal(ta_hnsw_remove(h, id, &err), 0);
    assert_int_equal(ta_hnsw_count(h), 0);
    assert_int_equal(ta_hnsw_search(h, nv, 10, 64, NULL, NULL, hits, &nh, &err), 0);
    assert_int_equal(nh, 0);
    assert_int_equal(ta_hnsw_add(h, 123, nv, &err), 0);
    assert_int_equal(ta_hnsw_search(h, nv, 10, 64, NULL, NULL, hits, &nh, &err), 0);
    assert_int_equal(nh, 1);
    assert_int_equal(hits[0].id, 123);
    free(x);
    ta_hnsw_free(h);
}

static void test_update_remove(void **state)
{
    update_remove(*state, TA_VEC_F32);
}

static void test_update_remove_f32_i8(void **state)
{
    update_remove(*state, TA_VEC_F32_I8);
}

/* ---- filtered search ---- */

static bool even(uint64_t id, void *ud)
{
    (void)ud;
    return id % 2 == 0;
}

static void filter(dataset *ds, ta_vec_storage st)
{
    ta_hnsw *h = build(TA_DIST_COSINE, st, ds->x, RN, RD);
    double rc = recall(h, TA_DIST_COSINE, ds->x, RN, RD, ds->q, 100, 10, 64, even, NULL);
    fprintf(stderr, "  recall@10 even ids only: %.3f\n", rc);
    assert_true(rc >= 0.9);

    /* An allow-list of a tenth of the ids. */
    rng r = {99};
    uint64_t *ids = malloc(sizeof(uint64_t) * RN);
    size_t n = 0;
    for (uint64_t i = 0; i < RN; i++)
        if (rng_next(&r) % 10 == 0) ids[n++] = i;
    ta_hnsw_allow allow = {ids, n};
    rc =
        recall(h, TA_DIST_COSINE, ds->x, RN, RD, ds->q, 100, 10, 128, ta_hnsw_filter_allow, &allow);
    fprintf(stderr, "  recall@10 allow-list of %zu ids: %.3f\n", n, rc);
    assert_true(rc >= 0.9);

    /* An empty allow-list gives nothing, and says so without error. */
    ta_hnsw_allow none = {ids, 0};
    ta_hnsw_hit hits[10];
    uint32_t nh = 5;
    ta_error err = {0};
    assert_int_equal(ta_hnsw_search(h, ds->q, 10, 10, ta_hnsw_filter_allow, &none, hits, &nh, &err),
                     0);
    assert_int_equal(nh, 0);
    free(ids);
    ta_hnsw_free(h);
}

static void test_filter(void **state)
{
    filter(*state, TA_VEC_F32);
}

static void test_filter_f32_i8(void **state)
{
    filter(*state, TA_VEC_F32_I8);
}

/* ---- persistence ---- */

static void same_results(const ta_hnsw *a, const ta_hnsw *b, const float *q, size_t nq)
{
    for (size_t i = 0; i < nq; i++) {
        ta_hnsw_hit ha[10], hb[10];
        uint32_t na = 0, nb = 0;
        ta_error err = {0};
        assert_int_equal(ta_hnsw_search(a, q + i * RD, 10, 50, NULL, NULL, ha, &na, &err), 0);
        assert_int_equal(ta_hnsw_search(b, q + i * RD, 10, 50, NULL, NULL, hb, &nb, &err), 0);
        assert_int_equal(na, nb);
        for (uint32_t j = 0; j < na; j++) {
            assert_int_equal(ha[j].id, hb[j].id);
            assert_true(ha[j].distance == hb[j].distance);
        }
    }
}

static void test_persistence(void **state)
{
    dataset *ds = *state;
    char dir[] = "/tmp/ta_hnsw_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128], bad[160];
    snprintf(path, sizeof path, "%s/index.hnsw", dir);
    snprintf(bad, sizeof bad, "%s/bad.hnsw", dir);
    ta_error err = {0};

    /* int8 last: the corruption checks below read its layout. */
    static const ta_vec_storage sts[] = {TA_VEC_F32, TA_VEC_F32_I8, TA_VEC_I8};
    for (int si = 0; si < 3; si++) {
        ta_vec_storage st = sts[si];
        ta_hnsw *h = build(TA_DIST_L2, st, ds->x, 1000, RD);
        for (uint64_t id = 0; id < 1000; id += 7)
            assert_int_equal(ta_hnsw_remove(h, id, &err), 0);
        ta_hnsw_set_tag(h, 0xabcdef);
        assert_int_equal(ta_hnsw_save(h, path, &err), 0);
        ta_hnsw *g = ta_hnsw_load(path, &err);
        assert_non_null(g);
        assert_int_equal(ta_hnsw_count(g), ta_hnsw_count(h));
        assert_int_equal(ta_hnsw_tag(g), 0xabcdef);
        ta_hnsw_params pg;
        ta_hnsw_get_params(g, &pg);
        assert_int_equal(pg.storage, st);
        assert_int_equal(pg.dim, RD);
        same_results(h, g, ds->q, 50);
        /* The loaded index goes on taking writes exactly like the original. */
        for (uint64_t id = 1000; id < 1100; id++) {
            assert_int_equal(ta_hnsw_add(h, id, ds->x + id * RD, &err), 0);
            assert_int_equal(ta_hnsw_add(g, id, ds->x + id * RD, &err), 0);
        }
        same_results(h, g, ds->q, 50);
        ta_hnsw_free(g);
        ta_hnsw_free(h);
    }

    size_t len;
    char *img = slurp(path, &len);
    /* One byte flipped anywhere in the body: the checksum refuses it. */
    for (size_t at = 96; at < len; at += len / 17) {
        img[at] ^= 0x10;
        spit(bad, img, len);
        img[at] ^= 0x10;
        assert_null(ta_hnsw_load(bad, &err));
        assert_int_equal(err.code, TA_EINVAL);
        assert_non_null(strstr(err.message, "checksum"));
    }
    /* Truncated, anywhere. */
    size_t cuts[] = {0, 10, 95, 96, 200, len / 2, len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        spit(bad, img, cuts[i]);
        assert_null(ta_hnsw_load(bad, &err));
        assert_int_equal(err.code, TA_EINVAL);
    }
    /* Another magic. */
    char foreign[128] = "GGUF not an index";
    spit(bad, foreign, sizeof foreign);
    assert_null(ta_hnsw_load(bad, &err));
    assert_non_null(strstr(err.message, "magic"));
    /* A checksum that verifies over bad structure: the level of slot 0 above the top,
     * then a neighbor id out of range (the first level-0 link of slot 0). */
    char *c = malloc(len);
    memcpy(c, img, len);
    uint32_t n;
    memcpy(&n, img + 80, 4);
    c[96 + (size_t)n * 8] = 100;
    ta_hnsw_image_reseal(c, len);
    assert_null(ta_hnsw_load_mem(c, len, &err));
    assert_non_null(strstr(err.message, "level"));
    memcpy(c, img, len);
    size_t links0 = 96 + (size_t)n * (8 + 2 + RD) + (size_t)n * 8; /* int8: + scales */
    uint32_t cnt, huge = 0x7fffffff;
    memcpy(&cnt, c + links0, 4);
    assert_true(cnt > 0 && cnt <= 32);
    memcpy(c + links0 + 4, &huge, 4);
    ta_hnsw_image_reseal(c, len);
    assert_null(ta_hnsw_load_mem(c, len, &err));
    assert_non_null(strstr(err.message, "neighbor"));
    free(c);
    free(img);
    /* Missing file. */
    assert_null(ta_hnsw_load("/nonexistent/dir/x.hnsw", &err));
    assert_int_equal(err.code, TA_ENOTFOUND);

    /* An empty index round-trips. */
    ta_hnsw_params p = {.dim = 3};
    ta_hnsw *e = ta_hnsw_new(&p, &err);
    assert_int_equal(ta_hnsw_save(e, path, &err), 0);
    ta_hnsw *e2 = ta_hnsw_load(path, &err);
    assert_non_null(e2);
    assert_int_equal(ta_hnsw_count(e2), 0);
    float v[3] = {1, 2, 3};
    assert_int_equal(ta_hnsw_add(e2, 1, v, &err), 0);
    ta_hnsw_free(e);
    ta_hnsw_free(e2);
    unlink(path);
    unlink(bad);
    rmdir(dir);
}

/* ---- concurrency ---- */

typedef struct {
    ta_hnsw *h;
    const float *q, *x; /* x: the vectors, to check distances when exact (not NULL) */
    volatile int *stop;
    long searches;
    int bad;
} reader_arg;

static void *reader(void *p)
{
    reader_arg *a = p;
    ta_hnsw_hit hits[10];
    for (size_t i = 0; !*a->stop; i = (i + 1) % RQ) {
        uint32_t nh = 0;
        ta_error err = {0};
        if (ta_hnsw_search(a->h, a->q + i * RD, 10, 32, NULL, NULL, hits, &nh, &err)) a->bad++;
        for (uint32_t j = 0; j < nh; j++) {
            if (hits[j].id >= 5000) {
                a->bad++;
                continue;
            }
            if (j && hits[j].distance < hits[j - 1].distance) a->bad++;
            /* A vector re-added under its id is the same vector: the distance of any hit
             * is its float32 one, whichever copy the walk saw. */
            double want = a->x ? metric(TA_DIST_L2, a->x + hits[j].id * RD, a->q + i * RD, RD) : 0;
            if (a->x && fabs(hits[j].distance - want) > 1e-5 * (1 + fabs(want))) a->bad++;
        }
        a->searches++;
    }
    return NULL;
}

static void concurrent(dataset *ds, ta_vec_storage st)
{
    ta_hnsw *h = build(TA_DIST_L2, st, ds->x, 3000, RD);
    volatile int stop = 0;
    const float *x = st == TA_VEC_I8 ? NULL : ds->x;
    reader_arg ra[2] = {{h, ds->q, x, &stop, 0, 0}, {h, ds->q, x, &stop, 0, 0}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, reader, &ra[i]), 0);
    ta_error err = {0};
    for (uint64_t id = 3000; id < 5000; id++) {
        assert_int_equal(ta_hnsw_add(h, id, ds->x + id * RD, &err), 0);
        if (id % 50 == 0) assert_int_equal(ta_hnsw_remove(h, id - 3000, &err), 0);
        if (id % 50 == 0)
            assert_int_equal(ta_hnsw_add(h, id - 3000, ds->x + (id - 3000) * RD, &err), 0);
    }
    stop = 1;
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    fprintf(stderr, "  readers: %ld + %ld searches during 2000 adds\n", ra[0].searches,
            ra[1].searches);
    assert_int_equal(ra[0].bad + ra[1].bad, 0);
    assert_int_equal(ta_hnsw_count(h), 5000);
    double rc = recall(h, TA_DIST_L2, ds->x, 5000, RD, ds->q, 100, 10, 64, NULL, NULL);
    fprintf(stderr, "  recall@10 after concurrent build: %.3f\n", rc);
    assert_true(rc >= 0.95);
    ta_hnsw_free(h);
}

static void test_concurrent(void **state)
{
    concurrent(*state, TA_VEC_F32);
}

/* The walking copy is published with the vector it shadows. */
static void test_concurrent_f32_i8(void **state)
{
    concurrent(*state, TA_VEC_F32_I8);
}

/* ---- bad input ---- */

static void test_bad_input(void **state)
{
    (void)state;
    ta_error err = {0};
    ta_hnsw_params p = {.dim = 0};
    assert_null(ta_hnsw_new(&p, &err));
    assert_int_equal(err.code, TA_EINVAL);
    assert_non_null(strstr(err.message, "dim"));
    p = (ta_hnsw_params){.dim = 4, .M = 1};
    assert_null(ta_hnsw_new(&p, &err));
    assert_non_null(strstr(err.message, "M"));
    p = (ta_hnsw_params){.dim = 4, .dist = (ta_dist)7};
    assert_null(ta_hnsw_new(&p, &err));
    p = (ta_hnsw_params){.dim = 4, .storage = (ta_vec_storage)3};
    assert_null(ta_hnsw_new(&p, &err));
    assert_non_null(strstr(err.message, "storage"));
    assert_null(ta_hnsw_new(NULL, &err));

    p = (ta_hnsw_params){.dim = 4, .dist = TA_DIST_COSINE};
    ta_hnsw *h = ta_hnsw_new(&p, &err);
    assert_non_null(h);
    float v[4] = {1, 0, 0, 0}, nanv[4] = {1, NAN, 0, 0}, infv[4] = {INFINITY, 0, 0, 0};
    float zero[4] = {0};
    assert_int_equal(ta_hnsw_add(h, 1, nanv, &err), TA_EINVAL);
    assert_non_null(strstr(err.message, "vector[1]"));
    assert_int_equal(ta_hnsw_add(h, 1, infv, &err), TA_EINVAL);
    assert_int_equal(ta_hnsw_add(h, 1, zero, &err), TA_EINVAL);
    assert_non_null(strstr(err.message, "zero"));
    assert_int_equal(ta_hnsw_add(h, 1, NULL, &err), TA_EINVAL);
    assert_int_equal(ta_hnsw_count(h), 0);

    ta_hnsw_hit hits[4];
    uint32_t nh = 9;
    /* Empty index: no results, no error. */
    assert_int_equal(ta_hnsw_search(h, v, 4, 0, NULL, NULL, hits, &nh, &err), 0);
    assert_int_equal(nh, 0);
    assert_int_equal(ta_hnsw_add(h, 1, v, &err), 0);
    assert_int_equal(ta_hnsw_search(h, v, 0, 10, NULL, NULL, hits, &nh, &err), TA_EINVAL);
    assert_non_null(strstr(err.message, "k"));
    assert_int_equal(ta_hnsw_search(h, v, 4, 2, NULL, NULL, hits, &nh, &err), TA_EINVAL);
    assert_non_null(strstr(err.message, "ef"));
    assert_int_equal(ta_hnsw_search(h, nanv, 4, 0, NULL, NULL, hits, &nh, &err), TA_EINVAL);
    assert_non_null(strstr(err.message, "query"));
    assert_int_equal(ta_hnsw_search(h, v, 4, 0, NULL, NULL, NULL, &nh, &err), TA_EINVAL);
    assert_int_equal(ta_hnsw_search(h, v, 4, 0, NULL, NULL, hits, &nh, &err), 0);
    assert_int_equal(nh, 1);
    assert_int_equal(hits[0].id, 1);
    assert_true(fabsf(hits[0].distance) < 1e-6f);
    /* The only vector removed, then another added: the new one is found (the removed
     * entry point must not strand it). */
    assert_int_equal(ta_hnsw_remove(h, 1, &err), 0);
    float v2[4] = {0, 1, 0, 0};
    assert_int_equal(ta_hnsw_add(h, 2, v2, &err), 0);
    assert_int_equal(ta_hnsw_add(h, 3, v, &err), 0);
    assert_int_equal(ta_hnsw_search(h, v, 4, 0, NULL, NULL, hits, &nh, &err), 0);
    assert_int_equal(nh, 2);
    assert_int_equal(hits[0].id, 3);
    assert_int_equal(hits[1].id, 2);
    ta_hnsw_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_distance_kernels),
        cmocka_unit_test(test_recall_f32),
        cmocka_unit_test(test_recall_i8),
        cmocka_unit_test(test_recall_f32_i8),
        cmocka_unit_test(test_f32_i8_same_graph),
        cmocka_unit_test(test_update_remove),
        cmocka_unit_test(test_update_remove_f32_i8),
        cmocka_unit_test(test_filter),
        cmocka_unit_test(test_filter_f32_i8),
        cmocka_unit_test(test_tiny_vectors),
        cmocka_unit_test(test_persistence),
        cmocka_unit_test(test_concurrent),
        cmocka_unit_test(test_concurrent_f32_i8),
        cmocka_unit_test(test_bad_input),
    };
    if (getenv("TEST_FILTER")) cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests(tests, ds_setup, ds_teardown);
}
