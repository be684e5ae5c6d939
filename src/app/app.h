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
#include "../modelcache/cache.h"
#include "../modelcache/hub.h"

typedef struct ta_models ta_models;
typedef struct ta_store ta_store;
typedef struct ta_hnsw ta_hnsw;
typedef struct ta_maintenance ta_maintenance;

typedef struct ta_app {
    char data_dir[4096];
    char db_path[4096];
    char model_cache_path[4096];
    struct timespec started;     /* CLOCK_MONOTONIC at start */
    atomic_bool shutting_down;   /* set once on SIGINT/SIGTERM: handlers should wrap up */
    ta_models *models;           /* the model orchestrator (app/models.h); NULL: no models */
    atomic_uint stop_epoch;      /* stop_generation bumps it: generations started before end */
    ta_store *store;             /* the memory database (storage/storage.h); NULL: not open */
    pthread_mutex_t store_lock;  /* one connection, used by one handler at a time */
    ta_hnsw *msg_index;          /* message embeddings (cosine); NULL until the first one */
    int64_t index_max_id;        /* msg_index holds the embeddings up to this id ... */
    int64_t index_changes;       /* ... as of this change count (memory_index.c) */
    atomic_ulong index_unsaved;  /* changes to msg_index since it was last saved */
    ta_cache cache;              /* the model cache (modelcache/cache.h) */
    ta_hub hub;                  /* the Hugging Face Hub client; its token may change ... */
    pthread_mutex_t hub_lock;    /* ... under this lock: copy it under the lock to use it */
    bool offline;                /* --offline: models from the cache only */
    unsigned download_parts;     /* parallel ranged parts per downloaded file */
    ta_maintenance *maintenance; /* the background thread (maintenance.c) */
} ta_app;

/* Fills paths from the given overrides (NULL = default) and creates the directories. */
int ta_app_init(ta_app *app, const char *db_path, const char *model_cache_path, ta_error *err);

/* The vector index of message embeddings (memory_index.c); call all of these with
 * store_lock held. It holds the float32 message embeddings of the first size seen.
 *
 * At start: loads <db-path>/memory.hnsw when it matches the database (catching it up
 * with later writes), else rebuilds it from the database and saves it. */
int ta_app_index_open(ta_app *app, ta_error *err);
/* Rebuilds it from the stored embeddings (others of another size are counted in
 * *skipped); after a restore. */
int ta_app_index_rebuild(ta_app *app, size_t *indexed, size_t *skipped, ta_error *err);
/* After a write has committed: adds the embeddings written since the last sync (or
 * rebuilds when the table changed in another way). */
int ta_app_index_sync(ta_app *app, ta_error *err);
bool ta_app_index_has(const ta_app *app, int64_t message_id);
/* After messages were deleted (with their embeddings): takes them out. */
int ta_app_index_remove_messages(ta_app *app, const int64_t *ids, size_t n, ta_error *err);
/* Writes it to <db-path>/memory.hnsw with the tag that dates it (removes the file
 * when the index is empty). */
int ta_app_index_save(ta_app *app, ta_error *err);

/* The maintenance thread (maintenance.c): saves the vector index when it has unsaved
 * changes (every interval_s seconds at most, and at stop). */
int ta_app_maintenance_start(ta_app *app, unsigned interval_s, ta_error *err);
void ta_app_maintenance_stop(ta_app *app);

/* The Hub client and cache (ta_app_init sets them up; token file <data dir>/hf_token). */
void ta_app_hub_copy(ta_app *app, ta_hub *out);
/* The orchestrator's resolver (models.h) for cached models: ud is the app; name is a
 * spec (org/name[@rev][:QUANT|:FILE]) or a library name. */
int ta_app_resolve_cached(void *ud, const char *name, char *path, size_t cap, ta_error *err);

/* Seconds since ta_app_init. */
double ta_app_uptime(const ta_app *app);

#endif
