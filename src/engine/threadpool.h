/*
 * threadpool.h - a fixed pool of worker threads for data-parallel loops.
 *
 * ta_pool_for(pool, n, fn, arg) runs fn(arg, i) for i in [0, n) split into one
 * contiguous range per thread, and returns when all are done. The caller's thread
 * takes a share too. Workers spin briefly on a new job and then sleep on a condition
 * variable, so a decode loop that calls the pool hundreds of times per token does not
 * pay a wake-up each time, and an idle server does not burn CPU.
 */
#ifndef TA_ENGINE_THREADPOOL_H
#define TA_ENGINE_THREADPOOL_H

#include <stdint.h>

typedef struct ta_pool ta_pool;

/* fn processes indices [begin, end). */
typedef void (*ta_pool_fn)(void *arg, int64_t begin, int64_t end);

/* threads <= 0: the number of physical cores. */
ta_pool *ta_pool_new(int threads);
void ta_pool_free(ta_pool *p);
int ta_pool_threads(const ta_pool *p);

/* Runs fn over [0, n) in parallel; blocks until done. Not reentrant. */
void ta_pool_for(ta_pool *p, int64_t n, ta_pool_fn fn, void *arg);

/* Physical cores of this machine (>= 1). */
int ta_physical_cores(void);

#endif
