/* membw.c - STREAM-like main-memory bandwidth: the ceiling for token generation speed.
 *
 * Build (standalone, no CMake target):
 *   cc -O2 -march=native -pthread bench/membw.c -o build/membw
 *
 * Usage: membw [-t THREADS] [-s MIB] [-r REPEATS]
 *   -t THREADS  worker threads (default 1); thread i works on the i-th contiguous slice of every
 *               array and is pinned to the i-th CPU this process may run on (when possible)
 *   -s MIB      size of each of the 3 arrays of doubles in MiB (default 512; keep it far above L3)
 *   -r REPEATS  runs of every kernel; the best (shortest) is reported (default 5)
 *
 * Kernels (as in McCalpin's STREAM, plus one read-only kernel):
 *   copy   c[i] = a[i]              16 B per element (memcpy, as compilers turn such a loop into
 *                                   anyway; for large sizes libc uses non-temporal stores, which
 * skip the write-allocate read, so copy can beat scale by up to 1.5x) scale  b[i] = s * c[i] 16 B
 *   add    c[i] = a[i] + b[i]       24 B
 *   triad  a[i] = b[i] + s * c[i]   24 B
 *   read   sum += a[i]               8 B   (what decoding does: stream the weights, write ~nothing)
 *   read_pf  the same, asking for the line 2 KiB ahead of each line it reads (software
 *            prefetch, as the decoding kernels do): on machines where the hardware
 *            prefetchers keep too few misses in flight this reads faster than `read`, and
 *            the faster of the two is the ceiling a decoder can reach
 * Bytes are counted as STREAM counts them (write-allocate traffic is not counted), GB = 1e9 bytes.
 * The arrays are first touched by the thread that later works on them, and the results are
 * checked at the end (exit 1 if they are wrong).
 *
 * stdout: one JSON line
 *   {"bench":"membw","threads":T,"array_mib":M,"repeats":R,"pinned":true,
 *    "copy_gb_s":..,"scale_gb_s":..,"add_gb_s":..,"triad_gb_s":..,"read_gb_s":..}
 * Everything else goes to stderr.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <float.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { K_COPY, K_SCALE, K_ADD, K_TRIAD, K_READ, K_READ_PF, K_COUNT };

static const char *const kernel_name[K_COUNT] = {"copy",  "scale", "add",
                                                 "triad", "read",  "read_pf"};
static const double kernel_bytes_per_elem[K_COUNT] = {16, 16, 24, 24, 8, 8};

static const double SCALAR = 3.0;

struct shared {
    double *a, *b, *c;
    size_t n;
    int nthreads;
    int repeats;
    pthread_barrier_t start, done;
    double best_s[K_COUNT];
    int *cpus; /* CPUs this process may run on */
    int ncpus;
    bool pin_failed;
    pthread_mutex_t lock;
};

struct worker {
    struct shared *sh;
    int id;
    size_t lo, hi;
    double sum;    /* result of the read kernel, kept so it is not optimised away */
    double sum_pf; /* and of read_pf */
    char pad[64];  /* keep workers' sums on separate cache lines */
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void k_copy(double *restrict c, const double *restrict a, size_t lo, size_t hi)
{
    if (hi > lo) memcpy(c + lo, a + lo, (hi - lo) * sizeof *c);
}

static void k_scale(double *restrict b, const double *restrict c, size_t lo, size_t hi)
{
    for (size_t i = lo; i < hi; i++)
        b[i] = SCALAR * c[i];
}

static void k_add(double *restrict c, const double *restrict a, const double *restrict b, size_t lo,
                  size_t hi)
{
    for (size_t i = lo; i < hi; i++)
        c[i] = a[i] + b[i];
}

static void k_triad(double *restrict a, const double *restrict b, const double *restrict c,
                    size_t lo, size_t hi)
{
    for (size_t i = lo; i < hi; i++)
        a[i] = b[i] + SCALAR * c[i];
}

/* Eight independent accumulators so the sum is bound by loads, not by the latency of one
 * floating-point add chain (no -ffast-math needed). With prefetch, it also asks for the
 * line PF_AHEAD bytes ahead of each line it reads (the decoding kernels' software
 * prefetch); inlined with a constant, so each kernel has its own loop. */
#define PF_AHEAD 2048
static inline __attribute__((always_inline)) double read_sum(const double *restrict a, size_t lo,
                                                             size_t hi, bool prefetch)
{
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
    size_t i = lo;
    for (; i + 8 <= hi; i += 8) {
        if (prefetch) __builtin_prefetch((const char *)(a + i) + PF_AHEAD);
        s0 += a[i];
        s1 += a[i + 1];
        s2 += a[i + 2];
        s3 += a[i + 3];
        s4 += a[i + 4];
        s5 += a[i + 5];
        s6 += a[i + 6];
        s7 += a[i + 7];
    }
    for (; i < hi; i++)
        s0 += a[i];
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7));
}

static double k_read(const double *restrict a, size_t lo, size_t hi)
{
    return read_sum(a, lo, hi, false);
}

static double k_read_pf(const double *restrict a, size_t lo, size_t hi)
{
    return read_sum(a, lo, hi, true);
}

static void pin(struct worker *w)
{
    struct shared *sh = w->sh;
    if (sh->ncpus <= 0) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(sh->cpus[w->id % sh->ncpus], &set);
    if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0) {
        pthread_mutex_lock(&sh->lock);
        sh->pin_failed = true;
        pthread_mutex_unlock(&sh->lock);
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct shared *sh = w->sh;
    pin(w);

    /* First touch by the thread that uses the slice (pages land on its NUMA node). */
    for (size_t i = w->lo; i < w->hi; i++) {
        sh->a[i] = 1.0;
        sh->b[i] = 2.0;
        sh->c[i] = 0.0;
    }
    for (size_t i = w->lo; i < w->hi; i++)
        sh->a[i] *= 2.0;

    for (int r = 0; r < sh->repeats; r++) {
        for (int k = 0; k < K_COUNT; k++) {
            double t0 = 0;
            pthread_barrier_wait(&sh->start);
            if (w->id == 0) t0 = now_s();
            switch (k) {
            case K_COPY: k_copy(sh->c, sh->a, w->lo, w->hi); break;
            case K_SCALE: k_scale(sh->b, sh->c, w->lo, w->hi); break;
            case K_ADD: k_add(sh->c, sh->a, sh->b, w->lo, w->hi); break;
            case K_TRIAD: k_triad(sh->a, sh->b, sh->c, w->lo, w->hi); break;
            case K_READ: w->sum = k_read(sh->a, w->lo, w->hi); break;
            case K_READ_PF: w->sum_pf = k_read_pf(sh->a, w->lo, w->hi); break;
            default: break;
            }
            pthread_barrier_wait(&sh->done);
            if (w->id == 0) {
                double t = now_s() - t0;
                if (t < sh->best_s[k]) sh->best_s[k] = t;
            }
        }
    }
    return NULL;
}

static double absd(double x)
{
    return x < 0 ? -x : x;
}

static long parse_pos(const char *opt, const char *s, long max)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 1 || v > max) {
        fprintf(stderr, "membw: %s needs a number from 1 to %ld, got '%s'\n", opt, max, s);
        exit(2);
    }
    return v;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: membw [-t THREADS] [-s MIB_PER_ARRAY] [-r REPEATS]\n"
               "  defaults: -t 1 -s 512 -r 5; prints one JSON line (GB/s, GB = 1e9 bytes)\n");
}

/* Expected values after `repeats` rounds of copy, scale, add, triad (STREAM's check). */
static bool check(const struct shared *sh)
{
    double ea = 2.0, eb = 2.0, ec = 0.0;
    for (int r = 0; r < sh->repeats; r++) {
        ec = ea;
        eb = SCALAR * ec;
        ec = ea + eb;
        ea = eb + SCALAR * ec;
    }
    size_t step = sh->n / 4096 + 1;
    for (size_t j = 0; j < sh->n; j += step) {
        if (absd(sh->a[j] - ea) > 1e-9 * absd(ea) || absd(sh->b[j] - eb) > 1e-9 * absd(eb) ||
            absd(sh->c[j] - ec) > 1e-9 * absd(ec)) {
            fprintf(stderr, "membw: wrong result at %zu: a=%g b=%g c=%g, expected %g %g %g\n", j,
                    sh->a[j], sh->b[j], sh->c[j], ea, eb, ec);
            return false;
        }
    }
    size_t last = sh->n - 1;
    return sh->a[last] == sh->a[0] && sh->b[last] == sh->b[0] && sh->c[last] == sh->c[0];
}

int main(int argc, char **argv)
{
    long nthreads = 1, mib = 512, repeats = 5;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            usage(stderr);
            return 2;
        }
        if (!strcmp(o, "-t"))
            nthreads = parse_pos(o, argv[++i], 1024);
        else if (!strcmp(o, "-s"))
            mib = parse_pos(o, argv[++i], 1L << 20);
        else if (!strcmp(o, "-r"))
            repeats = parse_pos(o, argv[++i], 100000);
        else {
            fprintf(stderr, "membw: unknown option %s\n", o);
            usage(stderr);
            return 2;
        }
    }

    static struct shared sh;
    sh.n = (size_t)mib * 1024 * 1024 / sizeof(double);
    sh.nthreads = (int)nthreads;
    sh.repeats = (int)repeats;
    for (int k = 0; k < K_COUNT; k++)
        sh.best_s[k] = DBL_MAX;
    pthread_mutex_init(&sh.lock, NULL);

    size_t bytes = sh.n * sizeof(double);
    void *pa = NULL, *pb = NULL, *pc = NULL;
    if (posix_memalign(&pa, 4096, bytes) || posix_memalign(&pb, 4096, bytes) ||
        posix_memalign(&pc, 4096, bytes)) {
        fprintf(stderr, "membw: cannot allocate 3 x %ld MiB\n", mib);
        return 1;
    }
    sh.a = pa;
    sh.b = pb;
    sh.c = pc;

    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    if (sched_getaffinity(0, sizeof allowed, &allowed) == 0) {
        sh.cpus = calloc(CPU_SETSIZE, sizeof *sh.cpus);
        if (sh.cpus)
            for (int c = 0; c < CPU_SETSIZE; c++)
                if (CPU_ISSET(c, &allowed)) sh.cpus[sh.ncpus++] = c;
    }
    if (sh.ncpus == 0) sh.pin_failed = true;
    if (nthreads > sh.ncpus && sh.ncpus > 0)
        fprintf(stderr, "membw: %ld threads on %d CPUs: some threads share a CPU\n", nthreads,
                sh.ncpus);

    struct worker *w = calloc((size_t)nthreads, sizeof *w);
    pthread_t *tid = calloc((size_t)nthreads, sizeof *tid);
    if (!w || !tid) {
        fprintf(stderr, "membw: out of memory\n");
        return 1;
    }
    if (pthread_barrier_init(&sh.start, NULL, (unsigned)nthreads) ||
        pthread_barrier_init(&sh.done, NULL, (unsigned)nthreads)) {
        fprintf(stderr, "membw: pthread_barrier_init failed\n");
        return 1;
    }
    /* Contiguous slices, boundaries on 64-byte lines (8 doubles). */
    size_t lines = (sh.n + 7) / 8;
    for (long t = 0; t < nthreads; t++) {
        w[t].sh = &sh;
        w[t].id = (int)t;
        size_t lo = lines * (size_t)t / (size_t)nthreads * 8;
        size_t hi = lines * (size_t)(t + 1) / (size_t)nthreads * 8;
        w[t].lo = lo < sh.n ? lo : sh.n;
        w[t].hi = hi < sh.n ? hi : sh.n;
    }
    for (long t = 1; t < nthreads; t++) {
        int e = pthread_create(&tid[t], NULL, worker_main, &w[t]);
        if (e) {
            fprintf(stderr, "membw: pthread_create: %s\n", strerror(e));
            return 1;
        }
    }
    worker_main(&w[0]);
    for (long t = 1; t < nthreads; t++)
        pthread_join(tid[t], NULL);

    double sum = 0, sum_pf = 0;
    for (long t = 0; t < nthreads; t++) {
        sum += w[t].sum;
        sum_pf += w[t].sum_pf;
    }
    bool ok = check(&sh);
    double expect_sum = sh.a[0] * (double)sh.n;
    if (absd(sum - expect_sum) > 1e-6 * absd(expect_sum)) {
        fprintf(stderr, "membw: read kernel sum %g, expected %g\n", sum, expect_sum);
        ok = false;
    }
    if (absd(sum_pf - expect_sum) > 1e-6 * absd(expect_sum)) {
        fprintf(stderr, "membw: read_pf kernel sum %g, expected %g\n", sum_pf, expect_sum);
        ok = false;
    }

    printf("{\"bench\":\"membw\",\"threads\":%ld,\"array_mib\":%ld,\"arrays\":3,\"repeats\":%ld,"
           "\"pinned\":%s",
           nthreads, mib, repeats, sh.pin_failed ? "false" : "true");
    for (int k = 0; k < K_COUNT; k++)
        printf(",\"%s_gb_s\":%.2f", kernel_name[k],
               kernel_bytes_per_elem[k] * (double)sh.n / sh.best_s[k] / 1e9);
    printf("}\n");
    fflush(stdout);

    free(w);
    free(tid);
    free(sh.cpus);
    free(pa);
    free(pb);
    free(pc);
    return ok ? 0 : 1;
}
