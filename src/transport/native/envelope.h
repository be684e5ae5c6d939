/*
 * envelope.h - the JSON envelopes of native messaging, decoded into (action, params)
 * for the router and encoded back into replies and stream events.
 *
 * Two dialects, answered in kind:
 *   action:  {"action":"ping","messageId":"m1", ...params}
 *            -> {"messageId":"m1","status":"success", ...result fields}
 *            -> {"messageId":"m1","status":"error","message":"...","code":"..."}
 *            events {"type":"...","messageId":"m1","payload":{...}}
 *   route:   {"route":"ping","request_id":"r1","payload":{...}}   (the older host)
 *            -> {"request_id":"r1","success":true,"data":{...}}
 *            -> {"request_id":"r1","success":false,"error":{"code":"...","message":"..."}}
 *            events {"type":"...","request_id":"r1","payload":{...}}
 */
#ifndef TA_NATIVE_ENVELOPE_H
#define TA_NATIVE_ENVELOPE_H

#include <jansson.h>
#include <stdbool.h>

#include "../../core/core.h"

#define TA_ENVELOPE_ID_MAX     256 /* bytes of a messageId / request_id */
#define TA_ENVELOPE_ACTION_MAX 64

typedef enum {
    TA_ENVELOPE_UNKNOWN = 0, /* could not tell (not JSON, not an object) */
    TA_ENVELOPE_ACTION,
    TA_ENVELOPE_ROUTE,
} ta_envelope_style;

typedef struct ta_envelope {
    ta_envelope_style style;
    json_t *id; /* the messageId / request_id exactly as sent (owned), or NULL */
    char action[TA_ENVELOPE_ACTION_MAX + 1];
    json_t *params; /* owned object; never NULL after a successful decode */
    bool stream;    /* the request asked for stream events ("stream": true) */
} ta_envelope;

/* Decodes one frame. On failure returns TA_EINVAL with err set; env->style and env->id
 * are still filled when they could be read, so the error reply can be addressed.
 * Always call ta_envelope_clear afterwards. */
int ta_envelope_decode(const char *buf, size_t len, ta_envelope *env, ta_error *err);
void ta_envelope_clear(ta_envelope *env);

/* The reply for env: result (borrowed, object or other JSON, may be NULL) on success,
 * or err. New reference. */
json_t *ta_envelope_reply(const ta_envelope *env, json_t *result, const ta_error *err);

/* A stream event addressed to env's request. New reference. */
json_t *ta_envelope_event(const ta_envelope *env, const char *type, json_t *payload);

/* The key that carries the id in this dialect ("messageId" or "request_id"). */
const char *ta_envelope_id_key(const ta_envelope *env);

#endif
