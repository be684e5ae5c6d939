/*
 * memory_index.c - the app's vector index of message embeddings (see app.h): built from
 * the embeddings table at start and after a restore, kept current as messages are
 * added and chats deleted. Cosine distance, float32 vectors, the HNSW defaults.
 */
#include <stdlib.h>

#include "../index/hnsw.h"
#include "../storage/storage.h"
#include "app.h"

static ta_hnsw *make(uint32_t dim)
{
    ta_hnsw_params p = {.dim = dim, .dist = TA_DIST_COSINE, .storage = TA_VEC_F32, .seed = 1};
    return ta_hnsw_new(&p, NULL);
}

bool ta_app_index_add(ta_app *app, int64_t message_id, const float *vec, uint32_t dim)
{
    if (!app->msg_index) app->msg_index = make(dim);
    if (!app->msg_index) return false;
    ta_hnsw_params p;
    ta_hnsw_get_params(app->msg_index, &p);
    return p.dim == dim && ta_hnsw_add(app->msg_index, (uint64_t)message_id, vec, NULL) == TA_OK;
}

void ta_app_index_remove(ta_app *app, int64_t message_id)
{
    if (app->msg_index) ta_hnsw_remove(app->msg_index, (uint64_t)message_id, NULL);
}

typedef struct {
    ta_app *app;
    size_t indexed, skipped;
} rebuild;

static int add_one(void *ud, int64_t id, const char *model, const float *vec, uint32_t dim)
{
    (void)model;
    rebuild *r = ud;
    if (ta_app_index_add(r->app, id, vec, dim))
        r->indexed++;
    else
        r->skipped++;
    return 0;
}

int ta_app_index_rebuild(ta_app *app, size_t *indexed, size_t *skipped, ta_error *err)
{
    ta_hnsw_free(app->msg_index);
    app->msg_index = NULL;
    if (!app->store) return TA_OK;
    rebuild r = {app, 0, 0};
    int rc = ta_store_message_embeddings(app->store, add_one, &r, err);
    if (indexed) *indexed = r.indexed;
    if (skipped) *skipped = r.skipped;
    return rc;
}
