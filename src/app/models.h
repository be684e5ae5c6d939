/*
 * models.h - the model orchestrator: which models the server knows, which are loaded,
 * and for how long they stay.
 *
 * A model is known by id: those given at start (--model [ID=]PATH), any GGUF named
 * by its path in a request (its id is then the path), and the cached models a resolver
 * finds (the id is then the name asked for, e.g. org/name:Q4_K_M). A request "uses" a model: it is
 * loaded on first use (through the ML client), kept while requests use it, and
 * unloaded keep_alive seconds after the last one ends (per request, else the server's
 * default; 0 unloads at once, a negative value keeps it forever). Loading respects a
 * memory budget: the estimate (file + KV caches of all slots) must fit, after unloading
 * idle models oldest first; otherwise the load is refused with the numbers. While a
 * model loads, other requests for it get TA_EUNAVAILABLE ("loading, retry").
 */
#ifndef TA_APP_MODELS_H
#define TA_APP_MODELS_H

#include <jansson.h>
#include <stdint.h>

#include "../core/core.h"
#include "../ml/ml.h"

typedef struct ta_models ta_models;

typedef struct ta_models_config {
    double keep_alive_s;    /* default for requests that name none; < 0: forever */
    uint64_t memory_budget; /* bytes for all loaded models; 0: no limit */
    ta_ml_load_params load; /* for every load */
} ta_models_config;

/* ml is borrowed and must outlive the orchestrator. */
ta_models *ta_models_new(ta_ml *ml, const ta_models_config *cfg, ta_error *err);
void ta_models_free(ta_models *o);

/* Finds the local file of a name the orchestrator does not know (a cached model id such
 * as org/name:Q4_K_M): TA_OK with its path; an error that explains; or TA_ENOTFOUND with
 * no message for a name that is not one of its kind. Called with the
 * orchestrator's lock held: it must not call back into it. */
typedef int (*ta_models_resolver)(void *ud, const char *name, char *path, size_t cap,
                                  ta_error *err);
void ta_models_set_resolver(ta_models *o, ta_models_resolver fn, void *ud);

/* Makes id known (not loaded). TA_ECONFLICT when the id exists with another path. */
int ta_models_register(ta_models *o, const char *id, const char *path, ta_error *err);

/* Resolves name (an id, or the path of a .gguf file) and makes sure it is loaded;
 * the request then holds it until ta_models_release. The resolved id goes to id_out
 * (cap bytes). TA_ENOTFOUND for an unknown name, TA_EUNAVAILABLE while another
 * request loads it, TA_ENOMEM-like refusals as TA_EUNAVAILABLE with the numbers. */
int ta_models_acquire(ta_models *o, const char *name, char *id_out, size_t cap, ta_error *err);

/* Ends a use; keep_alive_s < 0 with use_default: the configured default. */
void ta_models_release(ta_models *o, const char *id, double keep_alive_s, bool use_default);

/* Loads (if needed) and pins nothing: for POST /v1/models/load. */
int ta_models_load(ta_models *o, const char *name, double keep_alive_s, bool use_default,
                   char *id_out, size_t cap, ta_error *err);
/* Unloads now (requests in flight finish first). TA_ENOTFOUND when not loaded. */
int ta_models_unload(ta_models *o, const char *name, ta_error *err);

/* The OpenAI model list {"object":"list","data":[...]} with every known model: id,
 * "object":"model", "owned_by":"tabagent", loaded, state, kind, context_length, path. */
json_t *ta_models_list(ta_models *o);
/* One entry of that list, or NULL with TA_ENOTFOUND. */
json_t *ta_models_get(ta_models *o, const char *name, ta_error *err);

/* Unloads the models whose keep-alive has run out (the reaper thread calls this). */
void ta_models_reap(ta_models *o);

ta_ml *ta_models_ml(ta_models *o);

#endif
