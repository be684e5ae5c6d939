/*
 * maintenance.c - the memory's background thread:
 *   - every second, indexes the full-text backlog (messages written in batches are
 *     indexed later: storage.c, ta_store_fts_sync) a few thousand rows at a time on a
 *     connection of its own, so that searches rarely find anything left to index;
 *   - saves the vector index of message embeddings when it has changes not yet on
 *     disk, at most every interval, and once more when the server stops, so that a
 *     restart loads it instead of rebuilding it. A crash loses nothing: the saved index
 *     is only a cache of the embeddings table, and the next start adds what was written
 *     after the last save (memory_index.c).
 */
#include <stdlib.h>

#include "../core/log.h"
#include "../storage/storage.h"
#include "app.h"

struct ta_maintenance {
    pthread_t tid;
    pthread_mutex_t mu;
    pthread_cond_t wake;
    bool stop;
    unsigned interval_s;
    ta_store *fts; /* its own connection for the full-text backlog (NULL: none) */
};

#define FTS_STEP 2000 /* rows a step: the write lock is held about 20 ms */

static void index_fts_backlog(ta_maintenance *m)
{
    if (!m->fts) return;
    for (;;) {
        pthread_mutex_lock(&m->mu);
        bool stop = m->stop;
        pthread_mutex_unlock(&m->mu);
        if (stop) return;
        ta_error err = {0};
        int n = ta_store_fts_sync(m->fts, FTS_STEP, &err);
        if (n < 0) ta_log_warn("memory full-text index: %s", err.message);
        if (n <= 0) return;
    }
}

static void save_if_changed(ta_app *app)
{
    if (!atomic_load(&app->index_unsaved)) return;
    pthread_mutex_lock(&app->store_lock);
    ta_error err = {0};
    if (app->store && ta_app_index_save(app, &err))
        ta_log_warn("memory vector index: not saved: %s", err.message);
    pthread_mutex_unlock(&app->store_lock);
}

static void *maintenance_main(void *arg)
{
    ta_app *app = arg;
    ta_maintenance *m = app->maintenance;
    struct timespec last_save;
    clock_gettime(CLOCK_MONOTONIC, &last_save);
    pthread_mutex_lock(&m->mu);
    while (!m->stop) {
        struct timespec ts, now;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&m->wake, &m->mu, &ts);
        if (m->stop) break;
        pthread_mutex_unlock(&m->mu);
        index_fts_backlog(m);
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - last_save.tv_sec >= (time_t)m->interval_s) {
            save_if_changed(app);
            last_save = now;
        }
        pthread_mutex_lock(&m->mu);
    }
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

int ta_app_maintenance_start(ta_app *app, unsigned interval_s, ta_error *err)
{
    ta_maintenance *m = calloc(1, sizeof *m);
    if (!m) return ta_error_set(err, TA_ENOMEM, "out of memory");
    m->interval_s = interval_s ? interval_s : 1;
    ta_error ferr = {0};
    m->fts = ta_store_open(app->db_path, &ferr);
    if (!m->fts) ta_log_warn("memory full-text indexing in the background: %s", ferr.message);
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->wake, NULL);
    app->maintenance = m;
    if (pthread_create(&m->tid, NULL, maintenance_main, app)) {
        pthread_cond_destroy(&m->wake);
        pthread_mutex_destroy(&m->mu);
        ta_store_close(m->fts);
        free(m);
        app->maintenance = NULL;
        return ta_error_set(err, TA_EIO, "cannot start the memory maintenance thread");
    }
    return TA_OK;
}

void ta_app_maintenance_stop(ta_app *app)
{
    ta_maintenance *m = app->maintenance;
    if (m) {
        pthread_mutex_lock(&m->mu);
        m->stop = true;
        pthread_cond_signal(&m->wake);
        pthread_mutex_unlock(&m->mu);
        pthread_join(m->tid, NULL);
        ta_store_close(m->fts);
        pthread_cond_destroy(&m->wake);
        pthread_mutex_destroy(&m->mu);
        free(m);
        app->maintenance = NULL;
    }
    save_if_changed(app);
}
