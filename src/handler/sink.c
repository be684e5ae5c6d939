/*
 * sink.c - the ta_sink helpers and the collecting sink.
 */
#include "sink.h"

int ta_sink_event(ta_sink *sink, const char *type, json_t *payload)
{
    if (sink->ended) return TA_EINTERNAL;
    if (!sink->ops->event) return TA_OK;
    return sink->ops->event(sink->ctx, type, payload);
}

int ta_sink_reply(ta_sink *sink, json_t *result)
{
    if (!sink->ended) {
        sink->ended = true;
        sink->ops->end(sink->ctx, result, NULL);
    }
    json_decref(result);
    return TA_OK;
}

int ta_sink_fail(ta_sink *sink, const ta_error *err)
{
    if (!sink->ended) {
        sink->ended = true;
        sink->ops->end(sink->ctx, NULL, err);
    }
    return err->code ? err->code : TA_EINTERNAL;
}

bool ta_sink_cancelled(ta_sink *sink)
{
    return sink->ops->is_cancelled && sink->ops->is_cancelled(sink->ctx);
}

static int collect_event(void *ctx, const char *type, json_t *payload)
{
    ta_collect_sink *c = ctx;
    json_array_append_new(c->events, json_pack("{s:s,s:O?}", "type", type, "payload", payload));
    return c->cancel ? TA_ECANCELLED : TA_OK;
}

static void collect_end(void *ctx, json_t *result, const ta_error *err)
{
    ta_collect_sink *c = ctx;
    if (err) {
        c->err = *err;
        if (!c->err.code) c->err.code = TA_EINTERNAL;
    } else {
        c->result = result ? json_incref(result) : json_null();
    }
}

static bool collect_cancelled(void *ctx)
{
    return ((ta_collect_sink *)ctx)->cancel;
}

static const ta_sink_ops collect_ops = {collect_event, collect_end, collect_cancelled};

void ta_collect_sink_init(ta_collect_sink *c)
{
    ta_sink_init(&c->sink, &collect_ops, c);
    c->result = NULL;
    c->events = json_array();
    ta_error_clear(&c->err);
    c->cancel = false;
}

void ta_collect_sink_clear(ta_collect_sink *c)
{
    json_decref(c->result);
    json_decref(c->events);
    c->result = NULL;
    c->events = NULL;
}
