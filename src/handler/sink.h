/*
 * sink.h - where a handler sends its output, whatever the transport.
 *
 * A handler emits zero or more events, then ends exactly once with a result or an
 * error. Each transport supplies the three operations: HTTP turns events into SSE
 * chunks (or ignores them for a plain reply), native messaging into frames. The
 * transport also answers is_cancelled (client gone, server stopping) so long-running
 * handlers can stop early.
 */
#ifndef TA_HANDLER_SINK_H
#define TA_HANDLER_SINK_H

#include <jansson.h>
#include <stdbool.h>

#include "../core/core.h"

typedef struct ta_sink_ops {
    /* One stream event. payload is borrowed. Returns 0, or TA_ECANCELLED when the
     * receiver is gone (the handler should then stop). */
    int (*event)(void *ctx, const char *type, json_t *payload);
    /* The end: err == NULL means success with result (borrowed, may be NULL). */
    void (*end)(void *ctx, json_t *result, const ta_error *err);
    bool (*is_cancelled)(void *ctx);
} ta_sink_ops;

typedef struct ta_sink {
    const ta_sink_ops *ops;
    void *ctx;
    bool ended; /* set by ta_sink_reply / ta_sink_fail; a second end is ignored */
} ta_sink;

static inline void ta_sink_init(ta_sink *s, const ta_sink_ops *ops, void *ctx)
{
    s->ops = ops;
    s->ctx = ctx;
    s->ended = false;
}

int ta_sink_event(ta_sink *sink, const char *type, json_t *payload);
/* Ends with success; steals result (may be NULL). Returns 0. */
int ta_sink_reply(ta_sink *sink, json_t *result);
/* Ends with an error; returns err->code. */
int ta_sink_fail(ta_sink *sink, const ta_error *err);
bool ta_sink_cancelled(ta_sink *sink);

/* A sink that keeps the last result and error, for in-process callers and tests.
 * Events are appended to `events` as {"type":..., "payload":...}. */
typedef struct ta_collect_sink {
    ta_sink sink;
    json_t *result; /* owned; NULL until ended successfully */
    json_t *events; /* owned array */
    ta_error err;   /* err.code != 0 when ended with an error */
    bool cancel;    /* what is_cancelled answers */
} ta_collect_sink;

void ta_collect_sink_init(ta_collect_sink *c);
void ta_collect_sink_clear(ta_collect_sink *c);

#endif
