/*
 * app.c - see app.h.
 */
#include "app.h"

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
    return ta_paths_mkdirs(app->model_cache_path, 0700, err);
}

double ta_app_uptime(const ta_app *app)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - app->started.tv_sec) +
           (double)(now.tv_nsec - app->started.tv_nsec) / 1e9;
}
