/*
 * batcher.c - see batcher.h. A leader/follower scheme under one mutex: offers wait in
 * a FIFO list; whoever finds the model idle takes the list (up to max_batch), runs the
 * step without the lock, then marks the offers done and wakes everyone.
 */
#include "batcher.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#define GATHER_NS 5000000L /* how long a leader waits for the other sequences' tokens */

typedef struct offer {
    ta_ctx *ctx;
    int32_t token;
    int rc;
    ta_error err;
    bool done;
    struct offer *next;
} offer;

struct ta_batcher {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    offer *head, **tail;
    uint32_t n_pending, decoding, max_batch;
    bool busy; /* a step or a prompt is running */
    uint64_t steps, rows;
};

ta_batcher *ta_batcher_new(uint32_t max_batch, ta_error *err)
{
    ta_batcher *b = calloc(1, sizeof *b);
    if (!b) {
        ta_error_set(err, TA_ENOMEM, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, NULL);
    b->tail = &b->head;
    b->max_batch = max_batch ? max_batch : 1;
    return b;
}

void ta_batcher_free(ta_batcher *b)
{
    if (!b) return;
    pthread_cond_destroy(&b->cv);
    pthread_mutex_destroy(&b->mu);
    free(b);
}

void ta_batcher_join(ta_batcher *b)
{
    pthread_mutex_lock(&b->mu);
    b->decoding++;
    pthread_mutex_unlock(&b->mu);
}

void ta_batcher_leave(ta_batcher *b)
{
    pthread_mutex_lock(&b->mu);
    b->decoding--;
    pthread_cond_broadcast(&b->cv); /* a leader may be waiting for this one's token */
    pthread_mutex_unlock(&b->mu);
}

void ta_batcher_stats(ta_batcher *b, uint64_t *steps, uint64_t *rows)
{
    pthread_mutex_lock(&b->mu);
    *steps = b->steps;
    *rows = b->rows;
    pthread_mutex_unlock(&b->mu);
}

/* Runs a prompt alone, between steps. */
static int eval_alone(ta_batcher *b, ta_ctx *ctx, const int32_t *tokens, uint32_t n, ta_error *err)
{
    pthread_mutex_lock(&b->mu);
    while (b->busy)
        pthread_cond_wait(&b->cv, &b->mu);
    b->busy = true;
    pthread_mutex_unlock(&b->mu);
    int rc = ta_ctx_eval(ctx, tokens, n, err);
    pthread_mutex_lock(&b->mu);
    b->busy = false;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
    return rc;
}

/* The leader's step, entered and left with the lock held. */
static void lead(ta_batcher *b)
{
    b->busy = true;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += GATHER_NS;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    while (b->n_pending < b->decoding && b->n_pending < b->max_batch)
        if (pthread_cond_timedwait(&b->cv, &b->mu, &until)) break;
    enum { MAX = 64 };
    ta_ctx *ctxs[MAX];
    int32_t toks[MAX];
    offer *taken[MAX];
    uint32_t n = 0;
    while (b->head && n < b->max_batch && n < MAX) {
        offer *o = b->head;
        b->head = o->next;
        if (!b->head) b->tail = &b->head;
        b->n_pending--;
        ctxs[n] = o->ctx;
        toks[n] = o->token;
        taken[n++] = o;
    }
    pthread_mutex_unlock(&b->mu);
    ta_error err = {0};
    int rc = ta_ctx_eval_multi(ctxs, toks, n, &err);
    pthread_mutex_lock(&b->mu);
    for (uint32_t i = 0; i < n; i++) {
        taken[i]->rc = rc;
        if (rc) taken[i]->err = err;
        taken[i]->done = true;
    }
    b->steps++;
    b->rows += n;
    b->busy = false;
    pthread_cond_broadcast(&b->cv);
}

int ta_batcher_eval(ta_batcher *b, ta_ctx *ctx, const int32_t *tokens, uint32_t n, ta_error *err)
{
    if (n != 1) return eval_alone(b, ctx, tokens, n, err);
    offer o = {.ctx = ctx, .token = tokens[0]};
    pthread_mutex_lock(&b->mu);
    *b->tail = &o;
    b->tail = &o.next;
    b->n_pending++;
    pthread_cond_broadcast(&b->cv); /* a gathering leader counts the offers */
    while (!o.done) {
        if (!b->busy)
            lead(b);
        else
            pthread_cond_wait(&b->cv, &b->mu);
    }
    pthread_mutex_unlock(&b->mu);
    if (o.rc && err) *err = o.err;
    return o.rc;
}
