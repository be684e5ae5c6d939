/*
 * threadpool.c - see threadpool.h.
 *
 * One job at a time: the caller publishes (fn, arg, n, grain) and bumps a generation
 * counter; every thread (the caller too) claims chunks of `grain` indices from `next`
 * until none are left, and each worker decrements `pending` when it runs out. Workers
 * wait for the next generation by spinning for up to 2 ms, then sleeping on `wake`.
 *
 * Contention: when another process shares a core with a worker, the OS runs that worker
 * in time slices of milliseconds, and a job whose last chunk it holds waits for it; a
 * decoding step makes hundreds of jobs, so a spinning barrier collapses (llama.cpp's
 * 2 threads fell to 0.6x its 1 thread here, bench/contention.sh). The caller notices such a stall:
 * its own share done, it waited far longer than a chunk takes. Three stalls close together
 * (sporadic ones are hiccups) make it run jobs alone ("solo") for a window, during which the
 * workers sleep and the OS can move the caller to the free core; the window doubles while stalls
 * recur (up to 0.2 s) and resets after a quiet second.
 */
#include "threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "../hardware/hardware.h"

#define SPIN_ITERS     20000       /* the caller's wait before sleeping */
#define WORKER_SPIN_NS 2000000LL   /* a worker's wait for the next job before sleeping */
#define STALL_FLOOR_NS 500000LL    /* a wait this much beyond 8 chunks is a stall */
#define STALL_BURST_NS 30000000LL  /* three stalls within 30 ms: contention, not hiccups */
#define SOLO_MIN_NS    10000000LL  /* the first solo window, 10 ms */
#define SOLO_MAX_NS    200000000LL /* the longest, 0.2 s */
#define SOLO_RESET_NS  1000000000LL

struct ta_pool {
    int threads;
    pthread_t *tids;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_cond_t done;
    atomic_uint generation;
    atomic_int pending;
    atomic_bool stop;
    ta_pool_fn fn;
    void *arg;
    int64_t n, grain;
    atomic_llong next; /* the first index not yet claimed */
    /* contention (caller side only) */
    int64_t solo_until, solo_window, last_stall, prev_stall;
    uint64_t stalls;
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static _Thread_local int thread_index;

int ta_pool_thread_index(void)
{
    return thread_index;
}

typedef struct worker_arg {
    ta_pool *pool;
    int index;
} worker_arg;

/* Claims and runs chunks until none are left; returns how many it ran. */
static int64_t run_share(ta_pool *p)
{
    for (int64_t done = 0;; done++) {
        int64_t begin = atomic_fetch_add_explicit(&p->next, p->grain, memory_order_relaxed);
        if (begin >= p->n) return done;
        p->fn(p->arg, begin, begin + p->grain < p->n ? begin + p->grain : p->n);
    }
}

static void *worker(void *arg)
{
    worker_arg *wa = arg;
    ta_pool *p = wa->pool;
    thread_index = wa->index;
    free(wa);
    unsigned seen = 0;
    for (;;) {
        unsigned gen;
        int spins = 0;
        int64_t spin_end = 0;
        /* Spin for WORKER_SPIN_NS before sleeping: decoding's jobs come tens of
         * microseconds apart, and waking a sleeping thread costs up to a millisecond on
         * a virtual machine (an idle vCPU must be woken by the host). */
        while ((gen = atomic_load_explicit(&p->generation, memory_order_acquire)) == seen &&
               !atomic_load(&p->stop)) {
            if ((++spins & 255) == 0) {
                int64_t t = now_ns();
                if (!spin_end)
                    spin_end = t + WORKER_SPIN_NS;
                else if (t > spin_end)
                    break;
            }
        }
        if (gen == seen && !atomic_load(&p->stop)) {
            pthread_mutex_lock(&p->lock);
            while ((gen = atomic_load(&p->generation)) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->wake, &p->lock);
            pthread_mutex_unlock(&p->lock);
        }
        if (atomic_load(&p->stop)) return NULL;
        seen = gen;
        run_share(p);
        if (atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&p->lock);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->lock);
        }
    }
}

int ta_physical_cores(void)
{
    ta_hw_basic hw;
    ta_hw_basic_probe(&hw, NULL);
    return hw.physical_cores > 0 ? hw.physical_cores : 1;
}

ta_pool *ta_pool_new(int threads)
{
    if (threads <= 0) threads = ta_physical_cores();
    if (threads > 256) threads = 256;
    ta_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->threads = threads;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    p->tids = calloc((size_t)threads, sizeof *p->tids);
    for (int i = 1; i < threads; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        wa->pool = p;
        wa->index = i;
        if (pthread_create(&p->tids[i], NULL, worker, wa) != 0) {
            /* Fewer threads than asked: shrink rather than fail. */
            free(wa);
            p->threads = i;
            break;
        }
    }
    return p;
}

int ta_pool_threads(const ta_pool *p)
{
    return p->threads;
}

void ta_pool_for(ta_pool *p, int64_t n, ta_pool_fn fn, void *arg)
{
    int64_t grain = n / (4 * (int64_t)p->threads);
    ta_pool_for_grain(p, n, grain, fn, arg);
}

void ta_pool_for_grain(ta_pool *p, int64_t n, int64_t grain, ta_pool_fn fn, void *arg)
{
    if (grain < 1) grain = 1;
    int64_t t0 = p->solo_window ? now_ns() : 0;
    if (p->threads == 1 || n <= grain || (p->solo_window && t0 < p->solo_until)) {
        if (n > 0) fn(arg, 0, n);
        return;
    }
    if (!t0) t0 = now_ns();
    p->fn = fn;
    p->arg = arg;
    p->n = n;
    p->grain = grain;
    atomic_store_explicit(&p->next, 0, memory_order_relaxed);
    atomic_store(&p->pending, p->threads - 1);
    pthread_mutex_lock(&p->lock);
    atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    int64_t mine = run_share(p);
    int64_t t_mine = now_ns();
    int spins = 0;
    while (atomic_load_explicit(&p->pending, memory_order_acquire) > 0 && spins < SPIN_ITERS) {
        spins++;
        if ((spins & 1023) == 0) sched_yield();
    }
    if (atomic_load(&p->pending) > 0) {
        pthread_mutex_lock(&p->lock);
        while (atomic_load(&p->pending) > 0)
            pthread_cond_wait(&p->done, &p->lock);
        pthread_mutex_unlock(&p->lock);
    }
    int64_t t1 = now_ns(), per_chunk = mine ? (t_mine - t0) / mine : t_mine - t0;
    if (t1 - t_mine > 8 * per_chunk + STALL_FLOOR_NS) {
        p->stalls++;
        /* Sporadic stalls are hiccups: a virtual machine's host takes a vCPU away for a
         * millisecond or a few, several times a second here, and going solo after them
         * only halves the speed once it is back (F16 decoding lost ~10% that way). Another
         * process on a worker's core stalls job after job, hundreds of times a second:
         * three stalls within STALL_BURST_NS are that. */
        if (p->prev_stall && t1 - p->prev_stall < STALL_BURST_NS) {
            p->solo_window = p->solo_window ? p->solo_window * 2 : SOLO_MIN_NS;
            if (p->solo_window > SOLO_MAX_NS) p->solo_window = SOLO_MAX_NS;
            p->solo_until = t1 + p->solo_window;
        }
        p->prev_stall = p->last_stall;
        p->last_stall = t1;
    } else if (p->solo_window && t1 - p->last_stall > SOLO_RESET_NS) {
        p->solo_window = 0;
    }
}

uint64_t ta_pool_stalls(const ta_pool *p)
{
    return p->stalls;
}

void ta_pool_free(ta_pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->lock);
    atomic_store(&p->stop, true);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    for (int i = 1; i < p->threads; i++)
        pthread_join(p->tids[i], NULL);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    free(p->tids);
    free(p);
}
