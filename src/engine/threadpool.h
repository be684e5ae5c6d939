/*
 * threadpool.h - a fixed pool of worker threads for data-parallel loops.
 *
 * ta_pool_for(pool, n, fn, arg) runs fn over [0, n) cut into chunks that the threads
 * claim one at a time from a shared counter, and returns when all are done. The
 * caller's thread works too. Claiming (instead of one fixed share per thread) keeps
 * every core busy when one thread is slowed, e.g. by another process on its core. Workers spin
 * briefly on a new job and then sleep on a condition variable, so a decode loop that calls the pool
 * hundreds of times per token does not pay a wake-up each time, and an idle server does not burn
 * CPU.
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

/* Runs fn over [0, n) in parallel, in chunks of about n / (4 * threads); blocks until
 * done. Not reentrant. */
void ta_pool_for(ta_pool *p, int64_t n, ta_pool_fn fn, void *arg);

/* The same with chunks of `grain` indices (the last may be shorter). */
void ta_pool_for_grain(ta_pool *p, int64_t n, int64_t grain, ta_pool_fn fn, void *arg);

/* Jobs so far whose workers stalled (were descheduled by the OS for far longer than a
 * chunk takes); each opens a window in which jobs run on the caller alone. */
uint64_t ta_pool_stalls(const ta_pool *p);

/* Which thread of its pool the calling thread is: 0 for the thread that called
 * ta_pool_for (and for threads outside any pool), 1 .. threads-1 for the workers. Lets
 * a loop body use per-thread scratch. */
int ta_pool_thread_index(void);

/* Physical cores of this machine (>= 1). */
int ta_physical_cores(void);

#endif
