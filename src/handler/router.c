/*
 * router.c - the action table and dispatch.
 *
 * The table is a small sorted array of borrowed pointers: lookups are a binary search,
 * registration happens once at start-up, and dispatch never takes a lock.
 */
#include "router.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

struct ta_router {
    ta_app *app;
    const ta_action **actions; /* sorted by name */
    size_t count, cap;
};

ta_router *ta_router_new(ta_app *app)
{
    ta_router *r = calloc(1, sizeof *r);
    if (r) r->app = app;
    return r;
}

void ta_router_free(ta_router *r)
{
    if (!r) return;
    free(r->actions);
    free(r);
}

static bool valid_name(const char *s)
{
    if (!s || !*s) return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_')) return false;
    return true;
}

int ta_router_add(ta_router *r, const ta_action *a)
{
    if (!valid_name(a->name) || !a->fn) return TA_EINVAL;
    if (ta_router_find(r, a->name)) return TA_ECONFLICT;
    if (r->count == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 32;
        const ta_action **n = realloc(r->actions, cap * sizeof *n);
        if (!n) return TA_ENOMEM;
        r->actions = n;
        r->cap = cap;
    }
    size_t i = r->count;
    while (i > 0 && strcmp(r->actions[i - 1]->name, a->name) > 0) {
        r->actions[i] = r->actions[i - 1];
        i--;
    }
    r->actions[i] = a;
    r->count++;
    return TA_OK;
}

bool ta_action_streams_by_default(const ta_action *a)
{
    if (!a || !(a->flags & TA_ACTION_STREAMS) || !a->request) return false;
    for (const ta_field *f = a->request->fields; f && f->name; f++)
        if (!strcmp(f->name, "stream")) return f->dflt && !strcmp(f->dflt, "true");
    return false;
}

int ta_router_add_all(ta_router *r, const ta_action *actions, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int rc = ta_router_add(r, &actions[i]);
        if (rc) return rc;
    }
    return TA_OK;
}

const ta_action *ta_router_find(const ta_router *r, const char *name)
{
    if (!name) return NULL;
    size_t lo = 0, hi = r->count;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(r->actions[mid]->name, name);
        if (c == 0) return r->actions[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

size_t ta_router_count(const ta_router *r)
{
    return r->count;
}

const ta_action *ta_router_at(const ta_router *r, size_t i)
{
    return i < r->count ? r->actions[i] : NULL;
}

ta_app *ta_router_app(const ta_router *r)
{
    return r->app;
}

int ta_router_dispatch(ta_router *r, const char *name, json_t *params, ta_sink *sink,
                       const char *transport, bool stream)
{
    ta_error err;
    ta_error_clear(&err);
    const ta_action *a = ta_router_find(r, name);
    if (!a) {
        ta_error_set(&err, TA_ENOTFOUND, "unknown action '%.64s' (list_actions names them all)",
                     name ? name : "");
        return ta_sink_fail(sink, &err);
    }
    json_t *owned = NULL;
    if (!params || json_is_null(params)) params = owned = json_object();
    if (!json_is_object(params)) {
        ta_error_set(&err, TA_EINVAL, "request: expected an object of parameters, got %s",
                     ta_json_type_name(params));
        return ta_sink_fail(sink, &err);
    }
    if (a->request && ta_values_validate(a->request, params, &err) != TA_OK) {
        json_decref(owned);
        return ta_sink_fail(sink, &err);
    }
    ta_call call = {.action = a,
                    .params = params,
                    .sink = sink,
                    .app = r->app,
                    .router = r,
                    .transport = transport ? transport : "unknown",
                    .stream = stream && (a->flags & TA_ACTION_STREAMS)};
    int rc = a->fn(&call);
    if (!sink->ended) {
        /* A handler that returns without ending the sink is a bug; the client still
         * gets an answer. */
        ta_error_set(&err, rc ? rc : TA_EINTERNAL, "action '%s' produced no reply", a->name);
        ta_sink_fail(sink, &err);
        rc = err.code;
    }
    json_decref(owned);
    return rc;
}

int ta_call_reply(ta_call *call, json_t *result)
{
    return ta_sink_reply(call->sink, result);
}

int ta_call_fail(ta_call *call, int code, const char *fmt, ...)
{
    ta_error err;
    va_list ap;
    va_start(ap, fmt);
    ta_error_vset(&err, code, fmt, ap);
    va_end(ap);
    return ta_sink_fail(call->sink, &err);
}

int ta_call_event(ta_call *call, const char *type, json_t *payload)
{
    return ta_sink_event(call->sink, type, payload);
}

bool ta_call_cancelled(ta_call *call)
{
    if (call->app && atomic_load(&call->app->shutting_down)) return true;
    return ta_sink_cancelled(call->sink);
}
