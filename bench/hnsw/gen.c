/*
 * gen.c - the vector index benchmark's data: a Gaussian mixture (CLUSTERS centers,
 * points = center + SPREAD * noise), each vector L2-normalized, from a fixed seed, so
 * every run and every library compared sees the same vectors. Writes, in the common
 * .fvecs/.ivecs layout (per vector: int32 dim, then the values):
 *   base.fvecs   N vectors
 *   query.fvecs  NQ vectors from the same mixture
 *   gt.ivecs     for each query, the 10 nearest base rows by L2 (brute force, double)
 *
 * usage: gen OUTDIR [N=100000] [DIM=384] [NQ=1000] [CLUSTERS=1000] [SEED=20240601]
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define K      10
#define SPREAD 1.0 /* noise as large as the center: neighbors cross clusters */

static uint64_t next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545f4914f6cdd1dull;
}

static double normal(uint64_t *s)
{
    double u1 = ((double)(next(s) >> 11) + 0.5) / 9007199254740992.0;
    double u2 = ((double)(next(s) >> 11) + 0.5) / 9007199254740992.0;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static int write_vecs(const char *dir, const char *name, const void *v, size_t n, int dim)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return perror(path), -1;
    for (size_t i = 0; i < n; i++) {
        fwrite(&dim, 4, 1, f);
        fwrite((const char *)v + i * (size_t)dim * 4, 4, (size_t)dim, f);
    }
    return fclose(f);
}

typedef struct {
    const float *x, *q;
    size_t n, nq, dim, from, to;
    int32_t *gt;
} job;

static void *truth(void *p)
{
    job *j = p;
    for (size_t qi = j->from; qi < j->to; qi++) {
        double best[K];
        int32_t id[K];
        for (int i = 0; i < K; i++)
            best[i] = INFINITY, id[i] = -1;
        const float *q = j->q + qi * j->dim;
        for (size_t i = 0; i < j->n; i++) {
            const float *x = j->x + i * j->dim;
            float d = 0;
            for (size_t t = 0; t < j->dim; t++)
                d += (x[t] - q[t]) * (x[t] - q[t]);
            if (d >= best[K - 1]) continue;
            int at = K - 1;
            while (at > 0 && best[at - 1] > d)
                best[at] = best[at - 1], id[at] = id[at - 1], at--;
            best[at] = d;
            id[at] = (int32_t)i;
        }
        memcpy(j->gt + qi * K, id, sizeof id);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: gen OUTDIR [N] [DIM] [NQ] [CLUSTERS] [SEED]\n");
        return 2;
    }
    size_t n = argc > 2 ? strtoull(argv[2], 0, 10) : 100000;
    size_t dim = argc > 3 ? strtoull(argv[3], 0, 10) : 384;
    size_t nq = argc > 4 ? strtoull(argv[4], 0, 10) : 1000;
    size_t nc = argc > 5 ? strtoull(argv[5], 0, 10) : 1000;
    uint64_t s = argc > 6 ? strtoull(argv[6], 0, 10) : 20240601;
    if (!n || !dim || !nc) return 2;
    float *c = malloc(nc * dim * 4), *x = malloc((n + nq) * dim * 4);
    int32_t *gt = malloc(nq * K * 4);
    if (!c || !x || !gt) return 1;
    for (size_t i = 0; i < nc * dim; i++)
        c[i] = (float)normal(&s);
    for (size_t i = 0; i < n + nq; i++) {
        const float *ci = c + (next(&s) % nc) * dim;
        double ss = 0;
        for (size_t t = 0; t < dim; t++) {
            float v = (float)(ci[t] + SPREAD * normal(&s));
            x[i * dim + t] = v;
            ss += (double)v * v;
        }
        for (size_t t = 0; t < dim; t++)
            x[i * dim + t] = (float)(x[i * dim + t] / sqrt(ss));
    }
    enum { T = 2 };
    pthread_t th[T];
    job jobs[T];
    for (int t = 0; t < T; t++) {
        jobs[t] = (job){x, x + n * dim, n, nq, dim, nq * t / T, nq * (t + 1) / T, gt};
        pthread_create(&th[t], NULL, truth, &jobs[t]);
    }
    for (int t = 0; t < T; t++)
        pthread_join(th[t], NULL);
    if (write_vecs(argv[1], "base.fvecs", x, n, (int)dim) ||
        write_vecs(argv[1], "query.fvecs", x + n * dim, nq, (int)dim) ||
        write_vecs(argv[1], "gt.ivecs", gt, nq, K))
        return 1;
    fprintf(stderr, "wrote %zu base, %zu queries (dim %zu) to %s\n", n, nq, dim, argv[1]);
    free(c);
    free(x);
    free(gt);
    return 0;
}
