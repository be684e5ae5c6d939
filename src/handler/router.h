/*
 * router.h - the ONE request router every transport shares.
 *
 * An action is a name, a request schema (values/), a response schema and a handler
 * function. A transport decodes bytes into (action name, JSON params) and calls
 * ta_router_dispatch with a sink; the router validates the params (errors name the
 * field), calls the handler, and guarantees the sink is ended exactly once.
 */
#ifndef TA_HANDLER_ROUTER_H
#define TA_HANDLER_ROUTER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "../app/app.h"
#include "../values/values.h"
#include "sink.h"

typedef struct ta_call ta_call;
typedef struct ta_router ta_router;
typedef int (*ta_action_fn)(ta_call *call);

enum {
    TA_ACTION_STREAMS = 1u << 0, /* emits events when the client asks for a stream */
};

typedef struct ta_action {
    const char *name;          /* snake_case, [a-z0-9_]+ */
    const char *summary;       /* one line, for list_actions and OpenAPI */
    const ta_schema *request;  /* NULL: no parameters */
    const ta_schema *response; /* NULL: undocumented result */
    ta_action_fn fn;
    unsigned flags; /* TA_ACTION_* */
} ta_action;

/* One request in flight; lives for the duration of the handler call. */
struct ta_call {
    const ta_action *action;
    json_t *params; /* validated, defaults filled; borrowed */
    ta_sink *sink;
    ta_app *app;
    const ta_router *router; /* the router that dispatched this call */
    const char *transport;   /* "http", "native", "test" */
    bool stream;             /* the client asked for a stream of events */
};

ta_router *ta_router_new(ta_app *app);
void ta_router_free(ta_router *r);

/* Registers a static action (borrowed). TA_ECONFLICT if the name is taken. */
int ta_router_add(ta_router *r, const ta_action *action);
/* Registers n actions of a table, stopping at the first refusal. */
int ta_router_add_all(ta_router *r, const ta_action *actions, size_t n);
/* Registers every action of the core set (ping, health, version, ...). */
int ta_router_add_core_actions(ta_router *r);
/* chat_completions and completions (actions_chat.c). */
int ta_router_add_chat_actions(ta_router *r);
/* list/get/load/unload_model, embeddings, tokenize, detokenize (actions_models.c). */
int ta_router_add_model_actions(ta_router *r);
/* The extension's generate, stop_generation, get_model_state, generate_embeddings. */
int ta_router_add_native_actions(ta_router *r);
/* Chats, messages, memory search, export/import, backup/restore, stats. */
int ta_router_add_memory_actions(ta_router *r);
/* pull_model, delete_model, the Hugging Face token (actions_pull.c). */
int ta_router_add_pull_actions(ta_router *r);
/* get_hardware_info, check_model_feasibility, get_recommended_models (actions_hardware.c). */
int ta_router_add_hardware_actions(ta_router *r);

const ta_action *ta_router_find(const ta_router *r, const char *name);
/* Whether a request that does not say "stream" gets events: a streaming action whose
 * "stream" parameter defaults to true (pull_model). For the transports. */
bool ta_action_streams_by_default(const ta_action *a);
size_t ta_router_count(const ta_router *r);
const ta_action *ta_router_at(const ta_router *r, size_t i);
ta_app *ta_router_app(const ta_router *r);

/* Validates params (NULL means {}; modified in place: defaults are filled) and runs
 * the action. The sink is always ended exactly once, also on unknown actions and
 * validation errors. Returns 0 or the error code the sink was ended with. */
int ta_router_dispatch(ta_router *r, const char *action, json_t *params, ta_sink *sink,
                       const char *transport, bool stream);

/* Helpers for handlers. */
int ta_call_reply(ta_call *call, json_t *result); /* steals result */
int ta_call_fail(ta_call *call, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int ta_call_event(ta_call *call, const char *type, json_t *payload); /* borrows */
/* True when the client went away or the server is shutting down. */
bool ta_call_cancelled(ta_call *call);

#endif
