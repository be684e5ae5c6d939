/*
 * app.h - the application object: what every handler may reach.
 *
 * For now it holds the resolved configuration and process-wide state (start time,
 * the shutdown flag). Later issues add the orchestrator, storage, model cache and
 * hardware services here; transports never see inside it.
 */
#ifndef TA_APP_H
#define TA_APP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "../core/core.h"

typedef struct ta_models ta_models;
typedef struct ta_store ta_store;
typedef struct ta_hnsw ta_hnsw;

typedef struct ta_app {
    char data_dir[4096];
    char db_path[4096];
    char model_cache_path[4096];
    struct timespec started;    /* CLOCK_MONOTONIC at start */
    atomic_bool shutting_down;  /* set once on SIGINT/SIGTERM: handlers should wrap up */
    ta_models *models;          /* the model orchestrator (app/models.h); NULL: no models */
    atomic_uint stop_epoch;     /* stop_generation bumps it: generations started before end */
    ta_store *store;            /* the memory database (storage/storage.h); NULL: not open */
    pthread_mutex_t store_lock; /* one connection, used by one handler at a time */
    ta_hnsw *msg_index;         /* message embeddings (cosine); NULL until the first one */
} ta_app;

/* Fills paths from the given overrides (NULL = default) and creates the directories. */
int ta_app_init(ta_app *app, const char *db_path, const char *model_cache_path, ta_error *err);

/* The vector index of message embeddings (memory_index.c); call with store_lock held.
 * Rebuilds it from the stored embeddings (those of the first dimension seen; others
 * are counted in *skipped). */
int ta_app_index_rebuild(ta_app *app, size_t *indexed, size_t *skipped, ta_error *err);
/* Adds a message's embedding (making the index on the first one); false when its size
 * is not the index's. */
bool ta_app_index_add(ta_app *app, int64_t message_id, const float *vec, uint32_t dim);
void ta_app_index_remove(ta_app *app, int64_t message_id);

/* Seconds since ta_app_init. */
double ta_app_uptime(const ta_app *app);

#endif
