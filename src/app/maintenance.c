/*
 * maintenance.c - the memory's background thread: saves the vector index of message
 * embeddings when it has changes not yet on disk, at most every interval, and once
 * more when the server stops, so that a restart loads it instead of rebuilding it.
 * A crash loses nothing: the saved index is only a cache of the embeddings table, and
 * the next start adds what was written after the last save (memory_index.c).
 */
#include <stdlib.h>

#include "../core/log.h"
#include "app.h"

struct ta_maintenance {
    pthread_t tid;
    pthread_mutex_t mu;
    pthread_cond_t wake;
    bool stop;
    unsigned interval_s;
};

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
    pthread_mutex_lock(&m->mu);
    while (!m->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += m->interval_s;
        pthread_cond_timedwait(&m->wake, &m->mu, &ts);
        if (m->stop) break;
        pthread_mutex_unlock(&m->mu);
        save_if_changed(app);
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
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->wake, NULL);
    app->maintenance = m;
    if (pthread_create(&m->tid, NULL, maintenance_main, app)) {
        pthread_cond_destroy(&m->wake);
        pthread_mutex_destroy(&m->mu);
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
        pthread_cond_destroy(&m->wake);
        pthread_mutex_destroy(&m->mu);
        free(m);
        app->maintenance = NULL;
    }
    save_if_changed(app);
}
