/*
 * app.c - see app.h.
 */
#include "app.h"

#include "../modelcache/library.h"

#include <stdio.h>
#include <string.h>

static int pick(char *out, size_t cap, const char *override,
                int (*dflt)(char *, size_t, ta_error *), ta_error *err)
{
    if (override && override[0]) {
        if (strlen(override) >= cap) return ta_error_set(err, TA_EINVAL, "path too long");
        strcpy(out, override);
        return TA_OK;
    }
    return dflt(out, cap, err);
}

int ta_app_init(ta_app *app, const char *db_path, const char *model_cache_path, ta_error *err)
{
    memset(app, 0, sizeof *app);
    clock_gettime(CLOCK_MONOTONIC, &app->started);
    atomic_init(&app->shutting_down, false);
    int rc = ta_paths_data_dir(app->data_dir, sizeof app->data_dir, err);
    if (rc) return rc;
    rc = pick(app->db_path, sizeof app->db_path, db_path, ta_paths_db_dir, err);
    if (rc) return rc;
    rc = pick(app->model_cache_path, sizeof app->model_cache_path, model_cache_path,
              ta_paths_models_dir, err);
    if (rc) return rc;
    rc = ta_paths_mkdirs(app->db_path, 0700, err);
    if (rc) return rc;
    rc = ta_paths_mkdirs(app->model_cache_path, 0700, err);
    if (rc) return rc;
    ta_cache_init(&app->cache, app->model_cache_path);
    char token[4200];
    snprintf(token, sizeof token, "%s/hf_token", app->data_dir);
    ta_hub_init(&app->hub, token);
    pthread_mutex_init(&app->hub_lock, NULL);
    app->download_parts = 8;
    return TA_OK;
}

void ta_app_hub_copy(ta_app *app, ta_hub *out)
{
    pthread_mutex_lock(&app->hub_lock);
    *out = app->hub;
    pthread_mutex_unlock(&app->hub_lock);
}

double ta_app_uptime(const ta_app *app)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - app->started.tv_sec) +
           (double)(now.tv_nsec - app->started.tv_nsec) / 1e9;
}

int ta_app_resolve_cached(void *ud, const char *name, char *path, size_t cap, ta_error *err)
{
    ta_app *app = ud;
    char spec[2048];
    ta_library_spec(name, spec, sizeof spec); /* a library name stands for its repo:file */
    if (!ta_spec_like(spec)) { /* not a cached-model id: the caller says what it is not */
        if (err) *err = (ta_error){.code = TA_ENOTFOUND};
        return TA_ENOTFOUND;
    }
    ta_model_spec sp;
    int rc = ta_spec_parse(spec, &sp, err);
    if (rc) return rc;
    char **paths = NULL;
    size_t n = 0;
    rc = ta_cache_find(&app->cache, &sp, &paths, &n, NULL, 0, err);
    if (rc == TA_ENOTFOUND)
        return ta_error_set(err, TA_ENOTFOUND,
                            "model '%s' is not downloaded; pull it first (POST /v1/models/pull "
                            "or tabagent pull %s)",
                            name, name);
    if (!rc) snprintf(path, cap, "%s", paths[0]);
    ta_cache_free_paths(paths, n);
    return rc;
}
