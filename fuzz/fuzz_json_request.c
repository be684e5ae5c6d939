/*
 * fuzz_json_request.c - libFuzzer target for the JSON request path shared by HTTP and
 * native messaging: parse bytes as a request body, then validate it against every
 * registered action's schema (and dispatch the cheap actions), as the router does;
 * a valid chat request also goes through the sampling-parameter parser.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "handler/actions_gen.h"
#include "handler/router.h"

static ta_router *router;
static ta_app app;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!router) {
        router = ta_router_new(&app);
        ta_router_add_core_actions(router);
        ta_router_add_chat_actions(router);
        ta_router_add_model_actions(router);
        ta_router_add_native_actions(router);
    }
    ta_error err;
    json_t *body = ta_json_parse((const char *)data, size, &err);
    if (!body) return 0;
    for (size_t i = 0; i < ta_router_count(router); i++) {
        const ta_action *a = ta_router_at(router, i);
        json_t *copy = json_deep_copy(body);
        if (a->request && json_is_object(copy) &&
            ta_values_validate(a->request, copy, &err) == TA_OK &&
            !strcmp(a->name, "chat_completions")) {
            /* what a valid chat request turns into: sampling parameters, keep_alive */
            ta_req_gen g;
            ta_req_gen_parse(copy, 512, &g, &err);
            ta_req_gen_free(&g);
            double ka;
            bool dflt;
            ta_req_keep_alive(copy, &ka, &dflt, &err);
        }
        json_decref(copy);
    }
    /* Dispatch the actions that answer without touching the machine or sleeping. */
    static const char *const cheap[] = {"version", "list_actions"};
    for (size_t i = 0; i < 2; i++) {
        ta_collect_sink c;
        ta_collect_sink_init(&c);
        json_t *copy = json_deep_copy(body);
        ta_router_dispatch(router, cheap[i], copy, &c.sink, "fuzz", false);
        if (!c.sink.ended) abort();
        json_decref(copy);
        ta_collect_sink_clear(&c);
    }
    json_decref(body);
    return 0;
}
