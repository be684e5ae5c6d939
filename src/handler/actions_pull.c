/*
 * actions_pull.c - the model cache over HTTP and native messaging (modelcache/): pull a
 * model from the Hugging Face Hub with progress events (SSE over HTTP, events over
 * native messaging), delete a cached model, and set, check and clear the Hugging Face
 * token. The token itself never leaves the server: replies show where it comes from
 * and its last four characters.
 */
#include <stdlib.h>
#include <string.h>

#include "../app/models.h"
#include "../modelcache/library.h"
#include "../modelcache/pull.h"
#include "router.h"

static const ta_field pull_fields[] = {
    {.name = "model",
     .types = TA_T_STRING,
     .max_len = 2048,
     .description = "org/name[@revision][:QUANT or :path/in/repo.gguf], or a name from the "
                    "default library; none: the library's default chat model."},
    {.name = "parts",
     .types = TA_T_INT,
     .flags = TA_F_MIN | TA_F_MAX,
     .min = 1,
     .max = 64,
     .description = "Parallel ranged connections per file (default: the server's, 8)."},
    {.name = "offline",
     .types = TA_T_BOOL,
     .dflt = "false",
     .description = "Use only what is in the cache."},
    {.name = "stream",
     .types = TA_T_BOOL,
     .dflt = "true",
     .description = "Progress events {status, file, completed, total, bytes_per_s} while it "
                    "runs (SSE over HTTP), then the result; false: only the result."},
    {0}};
static const ta_schema pull_request = {
    .name = "PullModelRequest",
    .description = "Downloads a model into the cache (resuming a partial download).",
    .fields = pull_fields};

typedef struct {
    ta_call *call;
    atomic_bool cancel;
    double last;
} pull_ctx;

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void on_event(void *ud, const ta_pull_event *e)
{
    pull_ctx *c = ud;
    if (ta_call_cancelled(c->call)) atomic_store(&c->cancel, true);
    if (!c->call->stream) return;
    /* downloading events at most 5 a second; every other status always */
    bool dl = !strcmp(e->status, "downloading");
    double t = mono();
    if (dl && e->completed < e->total && t - c->last < 0.2) return;
    if (dl) c->last = t;
    json_t *o = json_pack("{s:s}", "status", e->status);
    if (e->file) json_object_set_new(o, "file", json_string(e->file));
    if (e->total || e->completed) {
        json_object_set_new(o, "completed", json_integer((json_int_t)e->completed));
        json_object_set_new(o, "total", json_integer((json_int_t)e->total));
    }
    if (dl) json_object_set_new(o, "bytes_per_s", json_integer((json_int_t)e->bytes_per_s));
    if (ta_call_event(c->call, "progress", o)) atomic_store(&c->cancel, true);
    json_decref(o);
}

static int do_pull(ta_call *call)
{
    const json_t *p = call->params;
    char spec[2048];
    ta_library_spec(ta_json_str(p, "model", NULL), spec, sizeof spec);
    ta_hub hub;
    ta_app_hub_copy(call->app, &hub);
    pull_ctx ctx = {.call = call};
    atomic_init(&ctx.cancel, false);
    ta_pull_opts o = {.parts = (unsigned)ta_json_int(p, "parts", call->app->download_parts),
                      .offline = call->app->offline || json_is_true(json_object_get(p, "offline")),
                      .cancel = &ctx.cancel,
                      .on_event = on_event,
                      .ud = &ctx};
    ta_pull_result res;
    ta_error err = {0};
    int rc = ta_pull(&call->app->cache, &hub, spec, &o, &res, &err);
    if (rc) return ta_sink_fail(call->sink, &err);
    json_t *paths = json_array();
    for (size_t i = 0; i < res.n; i++)
        json_array_append_new(paths, json_string(res.paths[i]));
    json_t *out =
        json_pack("{s:s,s:s,s:s,s:s,s:s,s:o,s:I,s:I,s:b}", "status", "success", "model", spec,
                  "repo", res.repo, "commit", res.commit, "path", res.n ? res.paths[0] : "",
                  "paths", paths, "fetched_bytes", (json_int_t)res.fetched, "total_bytes",
                  (json_int_t)res.total, "from_cache", res.from_cache);
    ta_pull_result_free(&res);
    return ta_call_reply(call, out);
}

static const ta_field delete_fields[] = {
    {.name = "model", .types = TA_T_STRING, .flags = TA_F_REQUIRED, .min_len = 1, .max_len = 2048},
    {0}};
static const ta_schema delete_request = {
    .name = "DeleteModelRequest",
    .description = "Deletes a cached model (unloading it first if it is loaded).",
    .fields = delete_fields};

static int do_delete(ta_call *call)
{
    const char *name = ta_json_str(call->params, "model", "");
    char spec[2048];
    ta_library_spec(name, spec, sizeof spec);
    ta_model_spec sp;
    ta_error err = {0};
    if (ta_spec_parse(spec, &sp, &err)) return ta_sink_fail(call->sink, &err);
    if (call->app->models) ta_models_unload(call->app->models, name, NULL); /* if loaded */
    uint64_t bytes = 0;
    size_t files = 0;
    if (ta_cache_remove(&call->app->cache, &sp, &bytes, &files, &err))
        return ta_sink_fail(call->sink, &err);
    return ta_call_reply(call, json_pack("{s:s,s:b,s:I,s:I}", "model", name, "deleted", 1, "files",
                                         (json_int_t)files, "bytes_freed", (json_int_t)bytes));
}

/* ---- the Hugging Face token ------------------------------------------------------------ */

static json_t *token_state(const ta_hub *h)
{
    size_t n = strlen(h->token);
    char hint[16] = "";
    if (n >= 8) snprintf(hint, sizeof hint, "...%s", h->token + n - 4);
    return json_pack("{s:b,s:s,s:s,s:s}", "set", n > 0, "source", h->token_source, "hint", hint,
                     "endpoint", h->endpoint);
}

static const ta_field token_get_fields[] = {
    {.name = "check",
     .types = TA_T_BOOL,
     .dflt = "false",
     .description = "Ask the Hub whose token it is (valid, user)."},
    {0}};
static const ta_schema token_get_request = {.name = "HfTokenStatusRequest",
                                            .fields = token_get_fields};

static int do_token_get(ta_call *call)
{
    ta_hub hub;
    ta_app_hub_copy(call->app, &hub);
    json_t *o = token_state(&hub);
    if (json_is_true(json_object_get(call->params, "check")) && hub.token[0]) {
        char user[256] = "";
        ta_error err = {0};
        int rc = ta_hub_whoami(&hub, user, sizeof user, &err);
        json_object_set_new(o, "valid", json_boolean(rc == TA_OK));
        if (!rc) json_object_set_new(o, "user", json_string(user));
        if (rc) json_object_set_new(o, "error", json_string(err.message));
    }
    return ta_call_reply(call, o);
}

static const ta_field token_set_fields[] = {
    {.name = "token", .types = TA_T_STRING, .flags = TA_F_REQUIRED, .min_len = 1, .max_len = 1000},
    {.name = "check",
     .types = TA_T_BOOL,
     .dflt = "false",
     .description = "Store it only if the Hub accepts it."},
    {0}};
static const ta_schema token_set_request = {
    .name = "HfTokenRequest",
    .description = "Stores a Hugging Face token (0600, in the data directory) for gated and "
                   "private models. HF_TOKEN in the server's environment still comes first.",
    .fields = token_set_fields};

static int do_token_set(ta_call *call)
{
    const char *token = ta_json_str(call->params, "token", "");
    ta_error err = {0};
    if (json_is_true(json_object_get(call->params, "check"))) {
        ta_hub probe;
        ta_app_hub_copy(call->app, &probe);
        snprintf(probe.token, sizeof probe.token, "%s", token);
        char user[256];
        if (ta_hub_whoami(&probe, user, sizeof user, &err)) return ta_sink_fail(call->sink, &err);
    }
    pthread_mutex_lock(&call->app->hub_lock);
    int rc = ta_hub_set_token(&call->app->hub, token, &err);
    json_t *o = rc ? NULL : token_state(&call->app->hub);
    pthread_mutex_unlock(&call->app->hub_lock);
    return rc ? ta_sink_fail(call->sink, &err) : ta_call_reply(call, o);
}

static int do_token_clear(ta_call *call)
{
    ta_error err = {0};
    pthread_mutex_lock(&call->app->hub_lock);
    int rc = ta_hub_set_token(&call->app->hub, NULL, &err);
    json_t *o = rc ? NULL : token_state(&call->app->hub);
    pthread_mutex_unlock(&call->app->hub_lock);
    return rc ? ta_sink_fail(call->sink, &err) : ta_call_reply(call, o);
}

static const ta_action pull_actions[] = {
    {.name = "pull_model",
     .summary = "Downloads a model from the Hugging Face Hub, with progress events.",
     .request = &pull_request,
     .fn = do_pull,
     .flags = TA_ACTION_STREAMS},
    {.name = "delete_model",
     .summary = "Deletes a cached model.",
     .request = &delete_request,
     .fn = do_delete},
    {.name = "get_hf_token",
     .summary = "Whether a Hugging Face token is set, and from where.",
     .request = &token_get_request,
     .fn = do_token_get},
    {.name = "set_hf_token",
     .summary = "Stores the Hugging Face token.",
     .request = &token_set_request,
     .fn = do_token_set},
    {.name = "clear_hf_token",
     .summary = "Forgets the stored Hugging Face token.",
     .fn = do_token_clear},
};

int ta_router_add_pull_actions(ta_router *r)
{
    return ta_router_add_all(r, pull_actions, sizeof pull_actions / sizeof pull_actions[0]);
}
